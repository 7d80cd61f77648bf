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

Missing values (NaN) are an error by default (``missing="raise"``). ``missing="drop"`` keeps
the complete rows; ``missing="fiml"`` reduces the data to per-pattern statistics
(:class:`~mle_jax._patterns.PatternStats`, on the host, merged chunk by chunk for streams), the
statistics of the observed-data likelihood. Data without NaN give the complete statistics
whatever ``missing`` says.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _patterns, _shard, _stream, _validate
from ._patterns import PatternStats, merge_pattern_stats, pad_patterns, pattern_stats
from ._stats_np import suff_stats_np
from .stats import SuffStats, suff_stats

__all__ = [
    "MISSING",
    "Data",
    "collect",
    "float_dtype",
    "moments",
]

MISSING = ("raise", "drop", "fiml")


class Data(NamedTuple):
    """Data reduced to what a fit needs.

    Attributes:
        stats: host float64 :class:`SuffStats` in the user's units (leading ``(B,)`` axis for
            a batch), or :class:`~mle_jax._patterns.PatternStats` for ``missing="fiml"``.
        univariate: the data were 1-D (``(n,)``, or ``(B, n)`` for a batch).
        dtype: the compute dtype.
        x: ``(..., n, d)`` device data, kept for ``form="raw"`` only; else ``None``.
        weights: ``(..., n)`` device weights of ``x``, or ``None``.
        columns: column names (from a DataFrame or the caller), or ``None``.
    """

    stats: Any  # SuffStats, or PatternStats of incomplete data
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


def _check_values(stats, values, name: str = "x", columns=None) -> None:
    """Float32 values whose spread their rounding swamps: a clear error
    (:func:`mle_jax._validate.check_precision`); ``values`` is the dtype they come in."""
    if np.dtype(values) == np.float32:
        with np.errstate(all="ignore"):  # empty or non-finite members: checked elsewhere
            mean, cov = moments(stats)
            var = np.diagonal(cov, axis1=-2, axis2=-1)
        _validate.check_precision(mean, var, values, name, columns)


def _host(stats) -> SuffStats:
    return SuffStats(*(np.asarray(a, np.float64) for a in stats))


def collect(
    x,
    weights=None,
    *,
    raw: bool = False,
    batched: bool = False,
    columns=None,
    missing: str = "raise",
) -> Data:
    """Validate ``x`` and reduce it to :class:`Data` (see the module docstring).

    Raises:
        TypeError: not an array, non-numeric or complex data.
        ValueError: wrong shape, empty, bad weights, NaN/inf (with where), overflow.
    """
    if _validate.is_pandas(x) and not batched:  # a DataFrame (or Series); columns= renames
        x, names = _validate.from_pandas(x)
        columns = names if columns is None else columns
    elif hasattr(x, "columns") and hasattr(x, "to_numpy"):  # another DataFrame library
        columns = [str(c) for c in x.columns] if columns is None else columns
        x = x.to_numpy()
    elif columns is None and not batched and _stream.is_stream(x):
        x, columns = _stream.peek_columns(x)  # pd.read_csv(..., chunksize=): the header
    columns = None if columns is None else tuple(str(c) for c in columns)
    if isinstance(x, PatternStats) and not batched:  # a fit's own statistics (inference)
        return Data(PatternStats(*(np.asarray(a, np.float64) for a in x)), False,
                    float_dtype(np.float64), columns=columns)  # fmt: skip
    if isinstance(x, SuffStats) and not batched:  # summary statistics (stats.from_moments)
        if weights is not None or raw:
            raise ValueError("summary statistics take no weights= and need form='stats'")
        stats = _host(x)
        return Data(stats, False, float_dtype(np.float64), columns=columns)
    if missing != "raise" and raw:
        raise ValueError(
            f"missing={missing!r} works on statistics; use form='stats' (the default), not 'raw'"
        )
    if batched:
        return _collect_batch(x, weights, raw=raw, columns=columns, missing=missing)
    if missing != "raise":
        holes = _with_holes(x, weights, columns, missing)
        if holes is not None:
            return holes
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
        values = x.dtype  # float64 values stay float64 here, whatever JAX's x64 mode
    else:
        values = dtype  # on the device: the values are held in the compute dtype
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
    _check_values(stats, values, "x", columns)
    return Data(stats, univariate, dtype, xj if raw else None, wj if raw else None, columns)


def _with_holes(x, weights, columns, missing: str) -> Data | None:
    """``missing="drop"``/``"fiml"``: statistics of data with NaN on the host; ``None`` when
    the data (not a stream) have no NaN, which then take the complete-data road."""
    if _stream.is_stream(x):
        return _stream_holes(x, weights, columns, missing)
    if _shard.is_global(x):
        raise ValueError(
            f"missing={missing!r} needs the rows on this host; a multi-process array is not "
            "supported yet: compute the pattern statistics per process (mle_jax.missing)"
        )
    x, univariate = _validate.as_data(x)
    host = np.asarray(x)
    if not np.isnan(host).any():
        return None
    if np.isinf(host).any():
        _validate.raise_nonfinite(host)
    dtype = float_dtype(host.dtype)
    xs = host[:, None] if univariate else host
    if weights is not None:
        _validate.check_weights(weights, xs.shape[0])
    stats = _reduce_holes(xs, weights, missing)
    _check_values(stats, host.dtype, "x", columns)
    return Data(stats, univariate, dtype, columns=columns)


def _reduce_holes(xs, weights, missing: str):
    """Statistics of an ``(n, d)`` host block with NaN."""
    rows = np.isnan(xs).any(axis=1)
    if missing == "drop":
        keep = ~rows
        if not keep.any():
            raise ValueError("every row of x has a missing value: missing='drop' keeps none")
        w = None if weights is None else np.asarray(weights)[keep]
        _warn_dropped(int(rows.sum()), len(xs), "have a missing value (missing='drop')")
        return SuffStats(*suff_stats_np(np.ascontiguousarray(xs[keep]), w))
    ps, empty = pattern_stats(xs, weights)
    if empty:
        _warn_dropped(empty, len(xs), "have no observed entry")
    return ps


def _warn_dropped(k: int, n: int, why: str) -> None:
    _validate.warn(f"dropped {k} of {n} rows that {why}")


def _stream_holes(x, weights, columns, missing: str) -> Data:
    """A memory map or an iterator of chunks with NaN: pattern statistics merged chunk by
    chunk (``"drop"``: of the complete rows, one pattern)."""
    if weights is not None and not isinstance(x, np.memmap):
        raise ValueError("yield (x_chunk, w_chunk) pairs instead of passing weights=")
    total, d, univariate, dtype, values = None, None, None, None, None
    rows = dropped = empty = 0
    for i, (chunk, w) in enumerate(_stream.chunks(x, weights)):
        chunk, uni = _validate.as_data(chunk, name=f"chunk {i}")
        block = np.asarray(chunk, np.float64)
        block = block[:, None] if uni else block
        if d is None:
            values = np.asarray(chunk).dtype
            d, univariate, dtype = block.shape[1], uni, float_dtype(values)
        elif block.shape[1] != d:
            raise ValueError(f"chunk {i} has {block.shape[1]} column(s); the first had {d}")
        if np.isinf(block).any():
            _validate.raise_nonfinite(block, name=f"chunk {i}")
        rows += len(block)
        if missing == "drop":
            keep = ~np.isnan(block).any(axis=1)
            dropped += int((~keep).sum())
            block, w = block[keep], None if w is None else np.asarray(w)[keep]
        if len(block) == 0:
            continue
        ps, none = pattern_stats(block, w)
        empty += none
        total = ps if total is None else merge_pattern_stats(total, ps)
    if dropped:  # as for an array (_reduce_holes)
        _warn_dropped(dropped, rows, "have a missing value (missing='drop')")
    if empty:
        _warn_dropped(empty, rows, "have no observed entry")
    if total is None or not np.sum(total.count) > 0:
        raise ValueError("x has no rows to fit (after dropping rows with missing values)")
    _check_values(total, values, "x", columns)
    if missing == "drop" or np.all(total.mask > 0):
        full = np.all(total.mask > 0, axis=1)
        stats = SuffStats(total.count[full][0], total.mean[full][0], total.scatter[full][0])
        return Data(stats, bool(univariate), dtype, columns=columns)
    return Data(total, bool(univariate), dtype, columns=columns)


def moments(stats):
    """Rough ``(mean, cov)`` of host statistics: the sample moments of complete data, the
    pairwise-available moments of pattern statistics (:func:`mle_jax._patterns.start`); any
    leading batch axes."""
    if stats.incomplete:
        if not stats.batch_shape:
            return _patterns.start(stats)
        pairs = [moments(PatternStats(*(a[k] for a in stats))) for k in range(len(stats.count))]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
    count = np.asarray(stats.count, np.float64)
    return np.asarray(stats.mean), np.asarray(stats.scatter) / count[..., None, None]


@jax.jit
def _batch_stats(x, w):
    def one(xk, wk):  # shifted by the first row, as on the other paths (_shard, _stream)
        pivot = xk[0]
        stats = suff_stats(xk - pivot[None, :], wk)
        return stats._replace(mean=stats.mean + pivot)

    return jax.vmap(one)(x, w)


def _collect_batch(xs, weights, *, raw: bool, columns, missing: str) -> Data:
    xs, univariate = _as_batch(xs)
    dtype = float_dtype(xs.dtype)
    batch, n = xs.shape[:2]
    if weights is not None:
        weights = _check_batch_weights(weights, (batch, n))
    if missing != "raise":
        host = np.asarray(xs)
        holes = np.isnan(host)
        if holes.any():
            host = host[..., None] if univariate else host
            rows = holes if univariate else holes.any(axis=-1)
            if missing == "drop":  # incomplete rows get weight 0
                w = np.ones((batch, n)) if weights is None else np.asarray(weights, np.float64)
                _warn_dropped_members(rows & (w > 0), "have a missing value (missing='drop')")
                xs, weights = np.where(np.isnan(host), 0.0, host), np.where(rows, 0.0, w)
                xs = xs[..., 0] if univariate else xs
            else:
                stats = _batch_patterns(host, weights)
                _check_values(stats, xs.dtype, "xs", columns)
                return Data(stats, univariate, dtype, columns=columns)
    if isinstance(xs, np.ndarray) and not raw:  # host float64, from the user's own values
        stats = _batch_stats_np(xs[..., None] if univariate else xs, weights)
        _check_values(stats, xs.dtype, "xs", columns)
        return Data(stats, univariate, dtype, columns=columns)
    xj = jnp.asarray(xs, dtype)
    xj = xj[..., None] if univariate else xj
    wj = jnp.ones((batch, n), dtype) if weights is None else jnp.asarray(weights, dtype)
    stats = _host(_batch_stats(xj, wj))
    _check_values(stats, dtype, "xs", columns)
    return Data(stats, univariate, dtype, xj if raw else None, wj if raw else None, columns)


_BATCH_ELEMENTS = 1 << 20  # float64 elements of data per block of members (8 MiB)


def _batch_stats_np(xs: np.ndarray, weights) -> SuffStats:
    """``(B, n, d)`` host data -> float64 :class:`SuffStats` with a leading ``(B,)`` axis.

    Members are reduced in blocks (one float64 copy of a block at a time), each shifted by
    its first row and then centred at its mean (two passes, as ``suff_stats_np``): the
    statistics of float64 data are exact whatever JAX's x64 mode.
    """
    batch, n, d = xs.shape
    w = None if weights is None else np.asarray(weights, np.float64)
    count = np.full(batch, float(n)) if w is None else w.sum(axis=1)
    mean, scatter = np.zeros((batch, d)), np.zeros((batch, d, d))
    step = max(1, _BATCH_ELEMENTS // max(1, n * d))
    for lo in range(0, batch, step):
        block = np.asarray(xs[lo : lo + step], np.float64)
        pivot = block[:, :1, :]
        block = block - pivot
        wb = np.ones(block.shape[:2]) if w is None else w[lo : lo + step]
        safe = np.where(count[lo : lo + step] > 0, count[lo : lo + step], 1.0)
        m = np.einsum("bn,bnd->bd", wb, block) / safe[:, None]
        block -= m[:, None, :]
        scatter[lo : lo + step] = np.matmul(np.swapaxes(block * wb[..., None], 1, 2), block)
        mean[lo : lo + step] = m + pivot[:, 0, :]
    return SuffStats(count, mean, scatter)


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


def _warn_dropped_members(dropped: np.ndarray, why: str) -> None:
    """One warning for the rows of a batch ``(B, n)`` that are dropped, naming the members."""
    per = dropped.sum(axis=-1)
    if per.any():
        members = np.flatnonzero(per)
        _validate.warn(
            f"dropped {int(per.sum())} of {dropped.size} rows that {why}: "
            + ", ".join(f"{int(per[k])} in xs[{k}]" for k in members[:10])
            + (f" and {members.size - 10} more members" if members.size > 10 else "")
        )


def _batch_patterns(xs, weights) -> PatternStats:
    """Pattern statistics of each member, padded to one number of patterns (zero counts)."""
    members = []
    for k, x in enumerate(xs):
        try:
            members.append(pattern_stats(x, None if weights is None else weights[k])[0])
        except ValueError as err:
            raise ValueError(f"xs[{k}]: {err}") from None
    live = np.ones(xs.shape[:2], bool) if weights is None else np.asarray(weights) > 0
    _warn_dropped_members(np.isnan(xs).all(axis=-1) & live, "have no observed entry")
    size = max(len(p.count) for p in members)
    padded = [pad_patterns(p, size) for p in members]
    return PatternStats(*(np.stack(parts) for parts in zip(*padded, strict=True)))
