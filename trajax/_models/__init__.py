from ._chains import MarkovChain as MarkovChain
from ._chains import TwoStateChain as TwoStateChain
from ._linear import DependentRegression as DependentRegression
from ._linear import LinearSystem as LinearSystem
from ._mixture import MarkovChainMixture as MarkovChainMixture
