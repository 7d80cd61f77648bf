"""One pass over data bigger than memory: chunked, mergeable sufficient statistics.

:func:`mle_jax.fit` takes, besides an array,

* a memory-mapped array (``np.load(path, mmap_mode="r")`` or ``np.memmap``), read in blocks
  of rows, and
* an iterator of chunks (a generator, ``pandas.read_csv(..., chunksize=...)``, ...), each an
  ``(m, d)`` (or ``(m,)``) array or DataFrame, or an ``(x_chunk, w_chunk)`` pair with weights.

Each chunk is reduced on the host to centred statistics in float64 (the corrected two passes
of :mod:`mle_jax._stats_np`, over the chunk, which is in memory, from the user's own values:
float64 data are never rounded to float32 first, whatever JAX's x64 mode) and folded into the
running total with Chan's parallel-variance update in float64, so one pass suffices and the
memory held is one chunk, whatever ``n`` is: the same statistics, to rounding, as
``fit`` of the whole array. For a read-only memory map, the pages of a block are released
(``madvise(MADV_DONTNEED)``) once it is reduced, so that the resident set does not grow
to the file size (the kernel's page cache keeps them; nothing is lost).
"""

from __future__ import annotations

import collections.abc
import itertools
import mmap
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import _validate
from ._stats_np import suff_stats_np
from .stats import SuffStats

__all__ = ["is_stream", "stream_stats", "DEFAULT_CHUNK_BYTES"]

DEFAULT_CHUNK_BYTES = 1 << 24  # 16 MiB of rows per block of a memory map
ROW_LIKE = 32  # 1-D chunks never longer than this look like rows of a 2-D array


def is_stream(x) -> bool:
    """``x`` is read in chunks: a ``np.memmap`` or an iterable that is not an array or list."""
    if isinstance(x, np.memmap):
        return True
    if hasattr(x, "shape") or isinstance(x, (list, tuple, str, bytes, collections.abc.Mapping)):
        return False
    return isinstance(x, collections.abc.Iterable)


def _merge(a: SuffStats, b: SuffStats) -> SuffStats:
    """Chan's parallel update of two host float64 statistics (:func:`mle_jax.merge_stats`)."""
    count = a.count + b.count
    delta = b.mean - a.mean
    frac_b = b.count / count if count > 0 else 0.0
    scatter = a.scatter + b.scatter + np.outer(delta, delta) * (a.count * frac_b)
    return SuffStats(count, a.mean + delta * frac_b, scatter)


def _release(block: np.ndarray, mm) -> None:
    """Drop the resident pages under ``block`` (a view into the read-only mapping ``mm``)."""
    if mm is None or not hasattr(mm, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return
    try:
        base = np.frombuffer(mm, np.uint8).ctypes.data
        start = block.ctypes.data - base
        end = start + block.nbytes
        start -= start % mmap.PAGESIZE
        mm.madvise(mmap.MADV_DONTNEED, start, end - start)
    except (OSError, ValueError, TypeError, BufferError):  # an optimisation only
        pass


class _Accumulator:
    def __init__(self, name: str, columns):
        self.name, self.columns = name, columns
        self.total: SuffStats | None = None
        self.seen = False
        self.d: int | None = None
        self.univariate: bool | None = None
        self.dtype = None
        self.pivot = None  # the first row: chunks are reduced as x - pivot (see result)
        self.values = None  # the dtype the values come in (float32 values: check_precision)

    def add(self, x, w, where: str) -> None:
        x, univariate = _validate.as_data(x, name=where)
        if x.ndim == 1:
            x = x[:, None]
        d = x.shape[1]
        if self.d is None:
            self.d, self.univariate = d, univariate
            kind = self.values = np.dtype(x.dtype)
            dt = kind if kind.kind == "f" else np.dtype(jnp.result_type(float))
            self.dtype = jnp.dtype(jax.dtypes.canonicalize_dtype(dt))
        elif d != self.d or univariate != self.univariate:
            raise ValueError(
                f"{where} has {d} column(s) ({'1-D' if univariate else '2-D'}); the first chunk "
                f"had {self.d} ({'1-D' if self.univariate else '2-D'}): all chunks need the same"
            )
        if w is not None:
            w = np.asarray(w)
            if w.shape != (x.shape[0],):
                raise ValueError(
                    f"weights of {where} must have shape ({x.shape[0]},), got {w.shape}"
                )
            if w.dtype.kind not in "fiub" or not np.all(np.isfinite(w)) or np.any(w < 0):
                raise ValueError(f"weights of {where} must be finite, non-negative real numbers")
            if not np.any(w > 0):
                self.seen = True
                return  # adds nothing
        host = np.asarray(x)
        if self.pivot is None:
            self.pivot = np.asarray(host[0], np.float64)
        # float64 statistics of x - pivot (exact for float32 or float64 values): numbers of
        # the size of the spread, so merging many chunks loses nothing to the offset
        stats = SuffStats(*suff_stats_np(np.asarray(host, np.float64) - self.pivot, w))
        if not (np.all(np.isfinite(stats.mean)) and np.all(np.isfinite(stats.scatter))):
            if not np.all(np.isfinite(host)):
                _validate.raise_nonfinite(host, name=where)
            raise ValueError(f"the statistics of {where} overflow; rescale the data")
        self.total = stats if self.total is None else _merge(self.total, stats)

    def check_rows(self, longest: int, chunks: int) -> None:
        """A stream of short 1-D chunks is a generator of rows, not univariate data."""
        if self.univariate and chunks > 1 and longest <= ROW_LIKE:
            raise ValueError(
                f"every chunk of the stream is 1-D with at most {longest} value(s): chunks must "
                "be 2-D (rows, columns) blocks; a 1-D chunk is read as univariate data only "
                f"when chunks are 1-D and some have more than {ROW_LIKE} values. To stream "
                "rows, yield np.stack(rows) blocks; for short univariate chunks, yield (m, 1)"
            )

    def result(self) -> tuple[SuffStats, bool, object]:
        if self.total is None and self.seen:
            raise ValueError("weights are all zero: there is no data to fit")
        if self.total is None:
            raise ValueError(f"{self.name} yielded no chunks: there is no data to fit")
        stats = SuffStats(*(np.asarray(a, np.float64) for a in self.total))
        stats = stats._replace(mean=stats.mean + self.pivot)
        if not stats.count > 0:
            raise ValueError("weights are all zero: there is no data to fit")
        var = np.diagonal(stats.scatter) / stats.count
        _validate.check_precision(stats.mean, var, self.values, "x", self.columns)
        return stats, bool(self.univariate), self.dtype


def chunks(x, weights=None, *, chunk_bytes: int | None = None):
    """Iterate a memory map (blocks of rows, pages released after use) or an iterator of
    chunks as ``(chunk, weights_or_None)`` pairs (arrays, DataFrames read as arrays)."""
    if isinstance(x, np.memmap):
        chunk_bytes = DEFAULT_CHUNK_BYTES if chunk_bytes is None else int(chunk_bytes)
        x, _ = _validate.as_data(x)
        n = x.shape[0]
        w_all = None
        if weights is not None:
            w_all = np.asarray(weights) if not isinstance(weights, np.memmap) else weights
            if w_all.shape != (n,):
                raise ValueError(f"weights must have shape ({n},) to match x, got {w_all.shape}")
        width = 1 if x.ndim == 1 else x.shape[1]
        rows = max(256, 1 << max(0, (chunk_bytes // (width * x.itemsize)).bit_length() - 1))
        mm = getattr(x, "_mmap", None) if getattr(x, "mode", None) == "r" else None
        for start in range(0, n, rows):
            block = x[start : start + rows]
            yield block, None if w_all is None else w_all[start : start + rows]
            _release(block, mm)
        return
    if weights is not None:
        raise ValueError(
            "weights= cannot be combined with an iterator of chunks; yield (x_chunk, w_chunk) "
            "pairs instead"
        )
    for i, item in enumerate(x):
        chunk: Any = item
        w = None
        if isinstance(item, tuple) and len(item) == 2:
            chunk, w = item
        if _validate.is_pandas(chunk):  # nullable columns, text columns named
            chunk = _validate.from_pandas(chunk, name=f"chunk {i}")[0]
        elif hasattr(chunk, "to_numpy") and not hasattr(chunk, "dtype"):
            chunk = chunk.to_numpy()
        if isinstance(chunk, list):
            chunk = np.asarray(chunk)
        yield chunk, w


def peek_columns(x):
    """``(iterator, names)``: the column names of an iterator's first chunk when it is a
    DataFrame (``pd.read_csv(..., chunksize=...)``), else ``None``; the iterator still yields
    every chunk."""
    if isinstance(x, np.memmap):
        return x, None
    it = iter(x)
    try:
        first = next(it)
    except StopIteration:
        return iter(()), None
    chunk: Any = first[0] if isinstance(first, tuple) and len(first) == 2 else first
    names = None
    if hasattr(chunk, "columns") and hasattr(chunk, "to_numpy") and np.ndim(chunk) == 2:
        names = [str(c) for c in chunk.columns]
    return itertools.chain([first], it), names


def stream_stats(x, weights=None, *, chunk_bytes: int | None = None, columns=None):
    """One pass of mergeable statistics over a memory map or an iterator of chunks.

    Args:
        x: a ``np.memmap`` ``(n, d)``/``(n,)`` or an iterable of chunks (arrays, DataFrames or
            ``(x_chunk, w_chunk)`` pairs).
        weights: ``(n,)`` weights for a memory map (may be a memory map too); for an iterator,
            yield ``(x_chunk, w_chunk)`` pairs instead.
        chunk_bytes: block size for a memory map; default ``DEFAULT_CHUNK_BYTES`` (16 MiB).
        columns: optional column names (messages).

    Returns:
        ``(stats, univariate, dtype)``: host float64 :class:`SuffStats` of all the data.
    """
    memmap = isinstance(x, np.memmap)
    acc = _Accumulator("x" if memmap else "the iterator", columns)
    start, longest, i = 0, 0, -1
    for i, (chunk, w) in enumerate(chunks(x, weights, chunk_bytes=chunk_bytes)):
        chunk: Any
        if i == 64 and not memmap:  # a generator of rows: say so before a long, useless pass
            acc.check_rows(longest, i)
        m = chunk.shape[0] if hasattr(chunk, "shape") and len(chunk.shape) else 0
        if memmap:
            acc.add(chunk, w, f"x rows {start}:{start + m}")
            start += m
        else:
            acc.add(chunk, w, f"chunk {i}")
            longest = max(longest, m)
    if not memmap:
        acc.check_rows(longest, i + 1 if acc.d is not None else 0)
    return acc.result()
