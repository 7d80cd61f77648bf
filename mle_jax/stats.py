"""Sufficient statistics of Gaussian data, computed stably and mergeable across chunks."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._nll import mvn_nll_stats
from ._patterns import PatternStats
from ._types import HIGHEST, ArrayLike

__all__ = ["SuffStats", "from_moments", "merge_stats", "suff_stats"]


class SuffStats(NamedTuple):
    """Sufficient statistics of (weighted) Gaussian data.

    Attributes:
        count: ``()`` number of samples (sum of the weights).
        mean: ``(d,)`` sample mean.
        scatter: ``(d, d)`` centred scatter ``sum_i w_i (x_i - mean)(x_i - mean)^T``.

    Leading batch axes, if any, come first. With :class:`~mle_jax.missing.PatternStats` (the
    statistics of incomplete data) it shares one interface, so no caller asks which it holds:
    ``incomplete``, ``batch_shape``, :meth:`total_count`, :meth:`observed_counts`,
    :meth:`as_patterns`, :meth:`nll` and :meth:`nll_cov`.
    """

    count: ArrayLike
    mean: ArrayLike
    scatter: ArrayLike

    incomplete = False  # every coordinate of every row observed

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The leading batch axes (``()`` for one data set)."""
        return tuple(np.shape(self.count))

    def total_count(self) -> ArrayLike:
        """``batch_shape`` number of rows (sum of the weights)."""
        return self.count

    def observed_counts(self) -> np.ndarray:
        """``(*batch_shape, d)`` rows observing each column (host arrays): the count."""
        count = np.asarray(self.count, np.float64)
        return np.broadcast_to(count[..., None], np.shape(self.mean))

    def as_patterns(self) -> PatternStats:
        """The same data (unbatched) as one pattern that observes every coordinate."""
        d = np.shape(self.mean)[-1]
        return PatternStats(np.ones((1, d)), self.count[None], self.mean[None], self.scatter[None])

    def nll(self, mean: jax.Array, chol: jax.Array) -> jax.Array:
        """``()`` total NLL at ``mean (d,)`` and lower Cholesky factor ``chol (d, d)``."""
        return mvn_nll_stats(mean, chol, self.count, self.mean, self.scatter)

    def nll_cov(self, mean: jax.Array, cov: jax.Array) -> jax.Array:
        """``()`` total NLL at ``mean (d,)`` and covariance ``cov (d, d)``."""
        return self.nll(mean, jnp.linalg.cholesky(cov))


def suff_stats(x: jax.Array, weights: jax.Array | None = None) -> SuffStats:
    """Two-pass (centred) sufficient statistics of ``(n, d)`` data.

    The second pass centres at the first pass's mean, so data with a large offset keep full
    precision (a one-pass ``sum(x x^T) - n m m^T`` would cancel catastrophically).
    """
    if weights is None:
        count = jnp.asarray(x.shape[0], x.dtype)
        mean = jnp.mean(x, axis=0)
        xc = x - mean[None, :]
        return SuffStats(count, mean, jnp.matmul(xc.T, xc, precision=HIGHEST))
    weights = weights.astype(x.dtype)
    count = jnp.sum(weights)
    # a shard whose weights are all zero (padding) gives count 0, mean 0, scatter 0
    mean = jnp.matmul(weights, x, precision=HIGHEST) / jnp.where(count > 0, count, 1)
    xc = x - mean[None, :]
    return SuffStats(count, mean, jnp.matmul(xc.T, weights[:, None] * xc, precision=HIGHEST))


def merge_stats(a: SuffStats, b: SuffStats) -> SuffStats:
    """Combine the statistics of two disjoint data sets (Chan et al.'s parallel update).

    Exact in exact arithmetic and stable in floating point: only differences of means enter.
    An empty side (``count == 0``) returns the other unchanged.
    """
    count = a.count + b.count
    safe = jnp.where(count > 0, count, 1)
    delta = b.mean - a.mean
    frac_b = b.count / safe
    mean = a.mean + delta * frac_b
    scatter = a.scatter + b.scatter + jnp.outer(delta, delta) * (a.count * frac_b)
    return SuffStats(count, mean, scatter)


def from_moments(mean, cov, n) -> SuffStats:
    """Summary statistics as data: a sample's mean ``(d,)``, covariance ``(d, d)`` *with
    divisor n* (the MLE's; multiply an unbiased covariance by ``(n - 1) / n``) and size ``n``.

    The result is accepted wherever data are (``mj.fit(mj.stats.from_moments(m, S, n),
    model)``): a Gaussian likelihood depends on complete data only through these, so the fit,
    its standard errors and its likelihood-ratio tests equal those from the rows.

    Raises:
        ValueError: shapes that do not match, non-finite values, ``n <= 0``, a covariance
            that is not symmetric positive semi-definite.

    Examples:
        >>> import numpy as np, mle_jax as mj
        >>> st = mj.stats.from_moments(np.zeros(2), np.eye(2), 100)
        >>> float(st.count), st.scatter.tolist()
        (100.0, [[100.0, 0.0], [0.0, 100.0]])
    """
    import numpy as np

    mean = np.array(mean, np.float64)
    cov = np.array(cov, np.float64)
    if mean.ndim != 1 or cov.shape != (mean.shape[0], mean.shape[0]):
        raise ValueError(
            f"from_moments needs mean (d,) and cov (d, d); got {mean.shape} and {cov.shape}"
        )
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(cov))):
        raise ValueError("from_moments: mean and cov must be finite")
    n = float(n)
    if not (np.isfinite(n) and n > 0):
        raise ValueError(f"from_moments: n must be a finite number > 0, got {n}")
    if not np.allclose(cov, cov.T, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(cov).max())):
        raise ValueError("from_moments: cov must be symmetric")
    if np.linalg.eigvalsh(cov)[0] < -1e-10 * max(1.0, np.abs(cov).max()):
        raise ValueError("from_moments: cov is not positive semi-definite")
    return SuffStats(np.asarray(n), mean, n * 0.5 * (cov + cov.T))
