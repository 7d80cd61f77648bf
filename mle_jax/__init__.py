"""mle_jax: maximum-likelihood (and MAP) fits of Gaussians with JAX autodiff and optax.

The everyday names live here; the rest in submodules: :mod:`mle_jax.inference` (standard
errors, intervals, profiles, model choice), :mod:`mle_jax.missing` (incomplete data, EM),
:mod:`mle_jax.priors`, :mod:`mle_jax.stats` (sufficient statistics), :mod:`mle_jax.likelihood`
(densities, likelihoods and the grid search of the likelihood story), :mod:`mle_jax.data`,
:mod:`mle_jax.sharding` and :mod:`mle_jax.plotting` (needs matplotlib). Modules whose names
start with ``_`` are private.
"""

from . import constraints as constraints
from . import data as data
from . import inference as inference
from . import likelihood as likelihood
from . import missing as missing
from . import priors as priors
from . import sharding as sharding
from . import stats as stats
from ._batch import pad_batch as pad_batch
from ._bijections import MvnParams as MvnParams
from ._builtin_models import AR1 as AR1
from ._builtin_models import Banded as Banded
from ._builtin_models import CompoundSymmetry as CompoundSymmetry
from ._builtin_models import FactorAnalysis as FactorAnalysis
from ._builtin_models import Toeplitz as Toeplitz
from ._builtin_models import rotate as rotate
from ._cache import enable_compilation_cache as enable_compilation_cache
from ._fit import fit as fit
from ._fit import fit_many as fit_many
from ._fit_model import BoundaryWarning as BoundaryWarning
from ._model import Gaussian as Gaussian
from ._models import Model as Model
from ._models import Structured as Structured
from ._nll import nll as nll
from ._oracles import closed_form as closed_form
from ._result import FitResult as FitResult
from ._sem import SEM as SEM
from ._solve import default_optimizer as default_optimizer
from ._types import ConvergenceWarning as ConvergenceWarning
from ._types import Estimate as Estimate
from ._types import Status as Status
from .data import load_dataset as load_dataset
from .inference import standard_errors as standard_errors
from .inference import summary as summary

__version__ = "0.2.0"

__all__ = [
    "AR1",
    "Banded",
    "CompoundSymmetry",
    "FactorAnalysis",
    "Toeplitz",
    "rotate",
    "BoundaryWarning",
    "Model",
    "SEM",
    "Structured",
    "ConvergenceWarning",
    "Estimate",
    "FitResult",
    "Gaussian",
    "MvnParams",
    "Status",
    "closed_form",
    "default_optimizer",
    "enable_compilation_cache",
    "fit",
    "fit_many",
    "load_dataset",
    "nll",
    "pad_batch",
    "standard_errors",
    "summary",
]
