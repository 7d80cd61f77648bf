"""Statistical inference on a fit, read off the result: no data needed.

* :func:`standard_errors`, :func:`wald_intervals`: from the observed information
  (autodiff Hessian and the delta method); batched over a :func:`~mle_jax.fit_many` result.
* :func:`profile_nll`, :func:`profile_interval`: profile likelihood of one scalar parameter.
* :func:`parameter_table`, :func:`information`, :func:`delta`, :func:`lr_test`: inference by
  name for every model (observed or expected information), derived quantities, and
  likelihood-ratio tests (against the saturated fit by default).
* :func:`correlation`: the correlation matrix with delta-method standard errors.
* :func:`bootstrap`: nonparametric bootstrap of a model fit as one batched refit.
* :func:`fit_measures`: lavaan's fit measures (chi-square, CFI, TLI, RMSEA, SRMR, ...).
* :func:`loglik`, :func:`aic`, :func:`bic`, :func:`num_params`, :func:`summary`: model choice
  and a statsmodels-like table.
"""

from ._bootstrap import Bootstrap as Bootstrap
from ._bootstrap import bootstrap as bootstrap
from ._correlation import correlation as correlation
from ._errors import Intervals as Intervals
from ._errors import StandardErrors as StandardErrors
from ._errors import standard_errors as standard_errors
from ._errors import wald_intervals as wald_intervals
from ._measures import fit_measures as fit_measures
from ._profile import profile_interval as profile_interval
from ._profile import profile_nll as profile_nll
from ._summary import Summary as Summary
from ._summary import aic as aic
from ._summary import bic as bic
from ._summary import loglik as loglik
from ._summary import summary as summary
from ._table import INFORMATION as INFORMATION
from ._table import Delta as Delta
from ._table import LRTest as LRTest
from ._table import ParameterTable as ParameterTable
from ._table import delta as delta
from ._table import information as information
from ._table import lr_test as lr_test
from ._table import num_params as num_params
from ._table import parameter_table as parameter_table
from ._table import saturated as saturated

__all__ = [
    "INFORMATION",
    "Bootstrap",
    "bootstrap",
    "correlation",
    "Delta",
    "LRTest",
    "ParameterTable",
    "delta",
    "fit_measures",
    "information",
    "lr_test",
    "parameter_table",
    "saturated",
    "Intervals",
    "StandardErrors",
    "Summary",
    "aic",
    "bic",
    "loglik",
    "num_params",
    "profile_interval",
    "profile_nll",
    "standard_errors",
    "summary",
    "wald_intervals",
]
