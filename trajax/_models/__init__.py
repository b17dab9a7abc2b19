from ._attention import LinearAttention as LinearAttention
from ._chains import MarkovChain as MarkovChain
from ._chains import TwoStateChain as TwoStateChain
from ._glm import SinusoidalGLM as SinusoidalGLM
from ._linear import DependentRegression as DependentRegression
from ._linear import LinearSystem as LinearSystem
from ._mixture import MarkovChainMixture as MarkovChainMixture
from ._mlr import MixedLinearRegression as MixedLinearRegression
