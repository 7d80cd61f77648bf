"""One statistics dispatch: whatever the data are, one pass to host float64 statistics.

=====================================  ======================================================
input                                  how its :class:`~mle_jax.stats.SuffStats` are computed
=====================================  ======================================================
numpy ``(n, d)``/``(n,)``, DataFrame   on the host, in cache-sized chunks, never copied
                                       (:mod:`mle_jax._stats_np`)
``jax.Array`` (possibly row-sharded)   on its devices; per-shard statistics merged with
                                       ``psum`` (:mod:`mle_jax._shard`)
memory map, iterator of chunks         one streamed pass of merged chunks (:mod:`._stream`)
``(B, n, d)`` batch (``fit_many``)     ``vmap`` of the device statistics
=====================================  ======================================================

``fit``, ``fit_many`` and ``closed_form`` all call :func:`collect`. Validation reads what it
needs off the statistics (finiteness from the sums): no extra pass over the data.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _shard, _stream, _validate
from ._stats_np import suff_stats_np
from .stats import SuffStats, suff_stats

__all__ = ["Data", "collect", "float_dtype"]


class Data(NamedTuple):
    """Data reduced to what a fit needs.

    Attributes:
        stats: host float64 :class:`SuffStats` in the user's units (leading ``(B,)`` axis for
            a batch).
        univariate: the data were 1-D (``(n,)``, or ``(B, n)`` for a batch).
        dtype: the compute dtype.
        x: ``(..., n, d)`` device data, kept for ``form="raw"`` only; else ``None``.
        weights: ``(..., n)`` device weights of ``x``, or ``None``.
        columns: column names (from a DataFrame or the caller), or ``None``.
    """

    stats: SuffStats
    univariate: bool
    dtype: Any
    x: Any = None
    weights: Any = None
    columns: tuple | None = None


def float_dtype(dtype) -> np.dtype:
    """The compute dtype of data of ``dtype``: floats keep theirs, integers get JAX's default."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        dtype = np.dtype(jnp.result_type(float))
    return np.dtype(jax.dtypes.canonicalize_dtype(dtype))


def _host(stats) -> SuffStats:
    return SuffStats(*(np.asarray(a, np.float64) for a in stats))


def collect(x, weights=None, *, raw: bool = False, batched: bool = False, columns=None) -> Data:
    """Validate ``x`` and reduce it to :class:`Data` (see the module docstring).

    Raises:
        TypeError: not an array, non-numeric or complex data.
        ValueError: wrong shape, empty, bad weights, NaN/inf (with where), overflow.
    """
    if hasattr(x, "columns") and hasattr(x, "to_numpy"):  # a DataFrame; columns= renames
        columns = [str(c) for c in x.columns] if columns is None else columns
        x = x.to_numpy()
    columns = None if columns is None else tuple(str(c) for c in columns)
    if batched:
        return _collect_batch(x, weights, raw=raw, columns=columns)
    if _stream.is_stream(x):
        if raw:
            raise ValueError(
                "form='raw' needs the data in memory; fit streamed data (a memory map or an "
                "iterator of chunks) with form='stats'"
            )
        stats, univariate, dtype = _stream.stream_stats(x, weights, columns=columns)
        return Data(_host(stats), univariate, dtype, columns=columns)
    x, univariate = _validate.as_data(x)
    dtype = float_dtype(x.dtype)
    n = x.shape[0]
    if weights is not None and _shard.is_global(weights):  # multi-process: no host gather
        _shard.check_weights_global(weights, n)
    elif weights is not None:
        _validate.check_weights(weights, n)
    xj = wj = None
    if isinstance(x, np.ndarray) and not raw:  # host chunks; x is never copied
        stats = SuffStats(*suff_stats_np(x[:, None] if univariate else x, weights))
    else:
        xj = _shard.as_auto(jnp.asarray(x, dtype))  # a sharded jax.Array stays in place
        xj = xj[:, None] if univariate else xj
        wj = None if weights is None else _shard.as_auto(jnp.asarray(weights, dtype))
        stats = _host(_shard.suff_stats_any(xj, wj))  # psum across devices if row-sharded
    if not (np.all(np.isfinite(stats.mean)) and np.all(np.isfinite(stats.scatter))):
        if _shard.is_global(x):
            raise ValueError(f"x contains NaN/inf (or its statistics overflow in {dtype})")
        if not np.all(np.isfinite(np.asarray(x))):
            _validate.raise_nonfinite(x)
        raise ValueError(
            f"the statistics of x overflow in {dtype}; rescale the data or use float64"
        )
    return Data(stats, univariate, dtype, xj if raw else None, wj if raw else None, columns)


@jax.jit
def _batch_stats(x, w):
    def one(xk, wk):  # shifted by the first row, as on the other paths (_shard, _stream)
        pivot = xk[0]
        stats = suff_stats(xk - pivot[None, :], wk)
        return stats._replace(mean=stats.mean + pivot)

    return jax.vmap(one)(x, w)


def _collect_batch(xs, weights, *, raw: bool, columns) -> Data:
    xs, univariate = _as_batch(xs)
    dtype = float_dtype(xs.dtype)
    batch, n = xs.shape[:2]
    if weights is not None:
        weights = _check_batch_weights(weights, (batch, n))
    xj = jnp.asarray(xs, dtype)
    xj = xj[..., None] if univariate else xj
    wj = jnp.ones((batch, n), dtype) if weights is None else jnp.asarray(weights, dtype)
    stats = _host(_batch_stats(xj, wj))
    return Data(stats, univariate, dtype, xj if raw else None, wj if raw else None, columns)


def _as_batch(xs):
    if isinstance(xs, (list, tuple)):
        xs = np.asarray(xs) if len({np.shape(a) for a in xs}) == 1 else None
    if xs is None or not hasattr(xs, "dtype") or not hasattr(xs, "shape"):
        raise TypeError("xs must be a (B, n, d) or (B, n) array (pad_batch stacks ragged data)")
    xs = _validate.check_dtype(xs, "xs")  # masked, object, float16, longdouble
    dtype = np.dtype(xs.dtype)
    if xs.ndim not in (2, 3):
        raise ValueError(
            f"xs must be (B, n, d) for multivariate or (B, n) for univariate data sets, got "
            f"shape {tuple(xs.shape)}"
        )
    if 0 in xs.shape:
        raise ValueError(f"xs is empty (shape {tuple(xs.shape)})")
    if dtype == np.float64 and not _validate.x64_enabled():
        _validate.as_data(np.zeros((1, 1), np.float64), name="xs")  # the same warning as fit
    return xs, xs.ndim == 2


def _check_batch_weights(weights, shape):
    w = np.asarray(weights)
    if w.dtype.kind not in "fiub":
        raise TypeError(f"weights must be real numbers or a boolean mask, got dtype {w.dtype}")
    if w.shape != shape:
        raise ValueError(f"weights must have shape {shape} to match xs, got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"weights contain {int((~np.isfinite(w)).sum())} non-finite value(s)")
    if np.any(w < 0):
        raise ValueError(f"weights must be non-negative; {int((w < 0).sum())} are negative")
    return w
