"""Sufficient statistics of data sharded over devices (and processes): ``jax.shard_map`` + ``psum``.

Each device reduces its own rows to centred statistics ``(count_k, mean_k, scatter_k)``; the
shards are merged with the parallel-variance formula (Chan et al.) written as three ``psum``:

.. math::

    N = \\sum_k n_k,\\quad \\bar x = \\tfrac1N \\sum_k n_k \\bar x_k,\\quad
    S = \\sum_k \\left[S_k + n_k (\\bar x_k - \\bar x)(\\bar x_k - \\bar x)^\\top\\right],

which is exact and stable (only differences of means enter; no ``sum x x^T`` is formed;
all shards are first shifted by one common row, so a large offset costs no precision). A
shard may be all padding (zero weights, ``n_k = 0``). The result is replicated on every device,
so every process of a multi-process run reads the same statistics and solves the same small
problem. Nothing here distributes data: the user's ``jax.Array`` already is.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from .stats import SuffStats, suff_stats

__all__ = ["row_axes", "is_global", "suff_stats_any", "check_weights_global", "as_auto"]


@jax.jit
def _suff_stats_jit(x, weights=None):
    # shifted by the first row (an exact pivot), as the sharded and streamed paths are: the
    # two passes then see the spread, not the offset (float32 at 1e6 keeps ~1e-7)
    pivot = x[0]
    stats = suff_stats(x - pivot[None, :], weights)
    return stats._replace(mean=stats.mean + pivot)


def is_global(a) -> bool:
    """``a`` is a ``jax.Array`` spanning devices of other processes (not all addressable here)."""
    return isinstance(a, jax.Array) and not a.is_fully_addressable


def row_axes(x) -> tuple[str, ...] | None:
    """Mesh axis names that shard axis 0 of ``x`` (a ``jax.Array`` with a ``NamedSharding``).

    ``None`` when ``x`` is not split along its rows over more than one device (then plain
    ``jit`` is used; XLA still partitions any other sharding correctly).
    """
    if not isinstance(x, jax.Array):
        return None
    sharding = x.sharding
    if not isinstance(sharding, NamedSharding) or len(sharding.spec) == 0:
        return None
    first = sharding.spec[0]
    if first is None:
        return None
    axes = tuple(first) if isinstance(first, tuple) else (first,)
    if int(np.prod([sharding.mesh.shape[a] for a in axes])) < 2:
        return None
    return axes


@functools.cache
def _sharded_stats_fn(mesh, axes: tuple[str, ...], weighted: bool):
    def body(x, w=None):
        # shift every shard by the same pivot (the first row of the first shard, an exact
        # psum) so the merge works with numbers of the size of the spread, not the offset
        first = jax.lax.axis_index(axes) == 0
        pivot = jax.lax.psum(jnp.where(first, x[0], jnp.zeros_like(x[0])), axes)
        count, mean, scatter = suff_stats(x - pivot[None, :], w)  # per shard
        total = jax.lax.psum(count, axes)
        gmean = jax.lax.psum(count * mean, axes) / total
        delta = mean - gmean
        scatter = jax.lax.psum(scatter + count * (delta[:, None] * delta[None, :]), axes)
        return SuffStats(total, gmean + pivot, scatter)

    in_specs = (P(axes, None), P(axes)) if weighted else (P(axes, None),)
    return jax.jit(jax.shard_map(body, mesh=mesh, in_specs=in_specs, out_specs=P()))


def suff_stats_any(x: jax.Array, weights: jax.Array | None = None) -> SuffStats:
    """:func:`suff_stats` of ``(n, d)`` data, reduced across devices when ``x`` is row-sharded.

    Args:
        x: ``(n, d)`` ``jax.Array``, possibly sharded along axis 0 over a mesh (any number of
            processes); the per-device row count must be equal (pad with zero weights: see
            :func:`mle_jax.sharding.shard_rows`).
        weights: optional ``(n,)`` weights, sharded like the rows of ``x`` (resharded if not).

    Returns:
        Replicated :class:`SuffStats`.
    """
    axes = row_axes(x)
    if axes is None:
        return _suff_stats_jit(x, weights)
    fn = _sharded_stats_fn(x.sharding.mesh, axes, weights is not None)  # pyright: ignore[reportAttributeAccessIssue] (a NamedSharding: see row_axes)
    return fn(x) if weights is None else fn(x, weights)


def as_auto(a):
    """``a`` laid out the same way on a mesh whose axes are ``Auto`` (no data moves).

    Meshes from ``jax.make_mesh`` have ``Explicit`` axes by default, under which JAX refuses
    to trace a reduction over the sharded sample axis inside ``jax.grad`` without an
    ``out_sharding`` (the raw-data objective); with ``Auto`` axes XLA inserts the all-reduce.
    """
    if not isinstance(a, jax.Array) or not isinstance(a.sharding, NamedSharding):
        return a
    mesh = a.sharding.mesh
    auto = jax.sharding.AxisType.Auto
    if all(t == auto for t in mesh.axis_types):
        return a
    devices = np.asarray(mesh.devices)
    mesh = jax.sharding.Mesh(devices, mesh.axis_names, axis_types=(auto,) * devices.ndim)
    return jax.device_put(a, NamedSharding(mesh, a.sharding.spec))


@jax.jit
def _weight_summary(w):
    w = w.astype(jnp.result_type(float))
    finite = jnp.isfinite(w)
    return (
        jnp.sum(~finite),
        jnp.sum(finite & (w < 0)),
        jnp.sum(jnp.where(finite & (w > 0), w, 0)),
    )


def check_weights_global(weights, n: int) -> float:
    """:func:`mle_jax._validate.check_weights` for a multi-process array (no host gather).

    Returns:
        The sum of the weights (the sample count).
    """
    if weights.shape != (n,):
        raise ValueError(f"weights must have shape ({n},) to match x, got {weights.shape}")
    if np.dtype(weights.dtype).kind not in "fiub":
        raise TypeError(f"weights must be real numbers, got dtype {weights.dtype}")
    bad, neg, total = (np.asarray(a) for a in _weight_summary(weights))
    if bad:
        raise ValueError(f"weights contain {int(bad)} non-finite value(s)")
    if neg:
        raise ValueError(f"weights must be non-negative; {int(neg)} are negative")
    if not total > 0:
        raise ValueError("weights are all zero: there is no data to fit")
    return float(total)
