"""Analytic answers, used as test oracles and as fast paths.

The Gaussian MLE has a closed form where the gradient of the NLL is zero: the sample mean and
the *biased* sample covariance (divisor ``n``, not ``n - 1``).
"""

from __future__ import annotations

import jax.numpy as jnp

from ._statistics import collect
from ._types import Estimate
from .stats import SuffStats

__all__ = ["ClosedForm", "closed_form", "closed_form_from_stats"]


ClosedForm = Estimate  # the closed form is an Estimate: mean, cov (divisor n), std


def closed_form_from_stats(stats: SuffStats, ridge: float = 0.0) -> ClosedForm:
    """MLE from sufficient statistics: ``mean``, ``scatter / count + ridge * I``."""
    d = stats.mean.shape[-1]
    cov = stats.scatter / stats.count + ridge * jnp.eye(d, dtype=stats.scatter.dtype)
    return ClosedForm(stats.mean, cov, jnp.sqrt(jnp.diagonal(cov)))


def closed_form(x, weights=None, ridge: float = 0.0) -> ClosedForm:
    """Closed-form Gaussian MLE of data, computed stably (centred two-pass).

    Takes every input :func:`~mle_jax.fit` takes (numpy, ``jax.Array``, sharded, memory map,
    iterator of chunks, DataFrame) through the same statistics and the same checks.

    Args:
        x: ``(n, d)`` data, or ``(n,)`` for the univariate case.
        weights: optional ``(n,)`` frequency weights.
        ridge: adds ``ridge * I`` to the covariance: the exact minimiser of the NLL plus
            ``ridge * n / 2 * tr(Sigma^{-1})``, which is what ``Gaussian(ridge=...)`` fits.

    Returns:
        :class:`ClosedForm` with ``mean``, ``cov`` (divisor ``n``) and ``std``; scalars for
        univariate data.

    Raises:
        TypeError, ValueError: bad input, as for :func:`~mle_jax.fit` (NaN/inf, empty data).

    Examples:
        >>> import numpy as np
        >>> cf = closed_form(np.array([1.0, 2.0, 3.0, 6.0]))
        >>> float(cf.mean), float(cf.cov)
        (3.0, 3.5)
    """
    data = collect(x, weights)
    if not data.stats.count > 0:
        raise ValueError("x has no samples (the weights sum to 0)")
    stats = SuffStats(*(jnp.asarray(a, data.dtype) for a in data.stats))
    cf = closed_form_from_stats(stats, ridge)
    if data.univariate:
        return ClosedForm(cf.mean[0], cf.cov[0, 0], cf.std[0])
    return cf
