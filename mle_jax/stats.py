"""Sufficient statistics of Gaussian data, computed stably and mergeable across chunks."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ._types import HIGHEST, ArrayLike

__all__ = ["SuffStats", "suff_stats", "merge_stats"]


class SuffStats(NamedTuple):
    """Sufficient statistics of (weighted) Gaussian data.

    Attributes:
        count: ``()`` number of samples (sum of the weights).
        mean: ``(d,)`` sample mean.
        scatter: ``(d, d)`` centred scatter ``sum_i w_i (x_i - mean)(x_i - mean)^T``.
    """

    count: ArrayLike
    mean: ArrayLike
    scatter: ArrayLike


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
