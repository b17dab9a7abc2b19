"""trajax: simulate many trajectories, fit maximum-likelihood estimates, check rates against
the Fisher information (see README.md)."""

from . import noise as noise
from ._burnin import burn_in as burn_in
from ._devices import use_cpu_devices as use_cpu_devices
from ._fisher import cramer_rao as cramer_rao
from ._fisher import fisher_information as fisher_information
from ._fit import fit as fit
from ._fit import fit_streaming as fit_streaming
from ._hellinger import hellinger as hellinger
from ._inference import covariance as covariance
from ._likelihood import log_likelihood as log_likelihood
from ._likelihood import ravel as ravel
from ._likelihood import score as score
from ._local_hellinger import local_hellinger as local_hellinger
from ._merge import merge_shards as merge_shards
from ._model import AbstractModel as AbstractModel
from ._models import DependentRegression as DependentRegression
from ._models import LinearAttention as LinearAttention
from ._models import LinearSystem as LinearSystem
from ._models import MarkovChain as MarkovChain
from ._models import MarkovChainMixture as MarkovChainMixture
from ._models import MixedLinearRegression as MixedLinearRegression
from ._models import SinusoidalGLM as SinusoidalGLM
from ._models import TwoStateChain as TwoStateChain
from ._progress import AbstractProgress as AbstractProgress
from ._progress import Callback as Callback
from ._progress import NoProgress as NoProgress
from ._progress import TextProgress as TextProgress
from ._results import RESULTS as RESULTS
from ._results import FitResult as FitResult
from ._runners import AbstractRunner as AbstractRunner
from ._runners import CellOutcome as CellOutcome
from ._runners import NestedWindows as NestedWindows
from ._runners import PerCell as PerCell
from ._runners import choose_runner as choose_runner
from ._simulate import simulate as simulate
from ._spec import SweepSpec as SweepSpec
from ._summary import parameter_names as parameter_names
from ._sweep import sweep as sweep
from ._sweep_result import SweepResult as SweepResult
from ._timing import Timing as Timing

__version__ = "0.1.0"
