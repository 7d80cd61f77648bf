"""Analytic answers, used as test oracles and as fast paths.

The Gaussian MLE has a closed form where the gradient of the NLL is zero: the sample mean and
the *biased* sample covariance (divisor ``n``, not ``n - 1``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._stats import SuffStats, suff_stats
from ._stats_np import suff_stats_np
from ._types import Estimate

__all__ = ["ClosedForm", "closed_form", "closed_form_from_stats"]


ClosedForm = Estimate  # the closed form is an Estimate: mean, cov (divisor n), std


def closed_form_from_stats(stats: SuffStats, ridge: float = 0.0) -> ClosedForm:
    """MLE from sufficient statistics: ``mean``, ``scatter / count + ridge * I``."""
    d = stats.mean.shape[-1]
    cov = stats.scatter / stats.count + ridge * jnp.eye(d, dtype=stats.scatter.dtype)
    return ClosedForm(stats.mean, cov, jnp.sqrt(jnp.diagonal(cov)))


def closed_form(x, weights=None, ridge: float = 0.0) -> ClosedForm:
    """Closed-form Gaussian MLE of data, computed stably (centred two-pass).

    Args:
        x: ``(n, d)`` data, or ``(n,)`` for the univariate case.
        weights: optional ``(n,)`` frequency weights.
        ridge: adds ``ridge * I`` to the covariance: the exact minimiser of the NLL plus
            ``ridge * n / 2 * tr(Sigma^{-1})``, which is what ``fit(..., ridge=...)`` minimises.

    Returns:
        :class:`ClosedForm` with ``mean``, ``cov`` (divisor ``n``) and ``std``; scalars for
        univariate data.

    Examples:
        >>> import numpy as np
        >>> cf = closed_form(np.array([1.0, 2.0, 3.0, 6.0]))
        >>> float(cf.mean), float(cf.cov)
        (3.0, 3.5)
    """
    if isinstance(x, np.ndarray) and x.dtype.kind in "fiu" and x.ndim in (1, 2) and x.size:
        # host data: chunked two-pass statistics without copying x to the device (_stats_np)
        dtype = x.dtype if x.dtype.kind == "f" else jnp.result_type(float)
        dtype = jax.dtypes.canonicalize_dtype(dtype)
        w = None if weights is None else np.asarray(weights)
        stats = suff_stats_np(x[:, None] if x.ndim == 1 else x, w)
        cf = closed_form_from_stats(SuffStats(*(jnp.asarray(a, dtype) for a in stats)), ridge)
        if x.ndim == 1:
            return ClosedForm(cf.mean[0], cf.cov[0, 0], cf.std[0])
        return cf
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    univariate = x.ndim == 1
    if univariate:
        x = x[:, None]
    w = None if weights is None else jnp.asarray(weights)
    cf = closed_form_from_stats(suff_stats(x, w), ridge)
    if univariate:
        return ClosedForm(cf.mean[0], cf.cov[0, 0], cf.std[0])
    return cf
