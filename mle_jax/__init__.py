"""mle_jax: maximum-likelihood (and MAP) fits of Gaussians with JAX autodiff and optax.

Everything public is re-exported here; modules whose names start with ``_`` are private.
"""

from . import sharding as sharding
from ._bijections import MvnParams as MvnParams
from ._cache import enable_compilation_cache as enable_compilation_cache
from ._fit import FitResult as FitResult
from ._fit import default_optimizer as default_optimizer
from ._fit import fit as fit
from ._grid import GridResult as GridResult
from ._grid import likelihood as likelihood
from ._grid import likelihood_grid as likelihood_grid
from ._grid import log_likelihood as log_likelihood
from ._nll import mvn_logpdf as mvn_logpdf
from ._nll import mvn_nll as mvn_nll
from ._nll import mvn_nll_stats as mvn_nll_stats
from ._nll import nll as nll
from ._nll import normal_logpdf as normal_logpdf
from ._nll import normal_pdf as normal_pdf
from ._oracles import closed_form as closed_form
from ._priors import LKJHalfNormal as LKJHalfNormal
from ._priors import NormalInverseWishart as NormalInverseWishart
from ._stats import SuffStats as SuffStats
from ._stats import merge_stats as merge_stats
from ._stats import suff_stats as suff_stats
from ._types import Estimate as Estimate
from ._types import Status as Status
from .batch import fit_many as fit_many
from .batch import pad_batch as pad_batch
from .data import Dataset as Dataset
from .data import load_dataset as load_dataset
from .inference import Intervals as Intervals
from .inference import StandardErrors as StandardErrors
from .inference import Summary as Summary
from .inference import aic as aic
from .inference import bic as bic
from .inference import loglik as loglik
from .inference import num_params as num_params
from .inference import profile_interval as profile_interval
from .inference import profile_nll as profile_nll
from .inference import standard_errors as standard_errors
from .inference import summary as summary
from .inference import wald_intervals as wald_intervals

__version__ = "0.1.0"

__all__ = [
    "Dataset",
    "Estimate",
    "FitResult",
    "GridResult",
    "Intervals",
    "LKJHalfNormal",
    "MvnParams",
    "NormalInverseWishart",
    "StandardErrors",
    "Status",
    "SuffStats",
    "Summary",
    "aic",
    "bic",
    "closed_form",
    "enable_compilation_cache",
    "default_optimizer",
    "fit",
    "fit_many",
    "likelihood",
    "likelihood_grid",
    "load_dataset",
    "log_likelihood",
    "loglik",
    "merge_stats",
    "mvn_logpdf",
    "mvn_nll",
    "mvn_nll_stats",
    "nll",
    "normal_logpdf",
    "normal_pdf",
    "num_params",
    "pad_batch",
    "profile_interval",
    "profile_nll",
    "sharding",
    "standard_errors",
    "suff_stats",
    "summary",
    "wald_intervals",
]
