"""Statistical inference on a fit, read off the result: no data needed.

* :func:`standard_errors`, :func:`wald_intervals`: from the observed information
  (autodiff Hessian and the delta method); batched over a :func:`~mle_jax.fit_many` result.
* :func:`profile_nll`, :func:`profile_interval`: profile likelihood of one scalar parameter.
* :func:`loglik`, :func:`aic`, :func:`bic`, :func:`num_params`, :func:`summary`: model choice
  and a statsmodels-like table.
"""

from ._errors import Intervals as Intervals
from ._errors import StandardErrors as StandardErrors
from ._errors import standard_errors as standard_errors
from ._errors import wald_intervals as wald_intervals
from ._profile import profile_interval as profile_interval
from ._profile import profile_nll as profile_nll
from ._summary import Summary as Summary
from ._summary import aic as aic
from ._summary import bic as bic
from ._summary import loglik as loglik
from ._summary import num_params as num_params
from ._summary import summary as summary

__all__ = [
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
