"""Statistics of incomplete data (NaN) per missingness pattern: what FIML needs of the data.

A row whose observed coordinates are ``o`` contributes to the observed-data likelihood
through ``o`` only, so rows that share a pattern share their sufficient statistics: per
pattern ``p``, the count ``n_p``, the mean ``xbar_p`` and the centred scatter ``S_p`` of the
observed entries (:class:`PatternStats`). The likelihood itself is :mod:`mle_jax._fiml`.

Statistics are computed on the host (numpy, float64 sums) and are mergeable: the same
pattern in two chunks is combined by Chan et al.'s parallel update. Also here: padding to
shared sizes, the identification check and the pairwise-available start.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._fiml import _fiml_total, fiml_nll
from ._types import ArrayLike
from ._validate import constant_columns, constant_message

__all__ = [
    "PatternStats",
    "check_identified",
    "check_spread",
    "merge_pattern_stats",
    "missing_fraction",
    "pad_patterns",
    "padded_size",
    "pattern_stats",
    "start",
]

# elements (float64) per row chunk on the host: 1 MiB, as in _stats_np
_CHUNK_ELEMENTS = 1 << 17
# elements per block of row outer products (the many-small-patterns path): 16 MiB
_OUTER_ELEMENTS = 1 << 21


class PatternStats(NamedTuple):
    """Sufficient statistics of data with missing values, one entry per missingness pattern.

    Attributes:
        mask: ``(P, d)`` float, 1 where the pattern observes the coordinate, 0 where missing.
        count: ``(P,)`` number of rows with the pattern (sum of their weights).
        mean: ``(P, d)`` mean of the observed entries of those rows; 0 at missing coordinates.
        scatter: ``(P, d, d)`` centred scatter of the observed entries; rows and columns of
            missing coordinates are 0.

    Leading batch axes, if any, come before ``P``. A pattern with ``count == 0`` and an
    all-zero mask contributes nothing anywhere (usable as padding). The interface it shares
    with complete-data :class:`~mle_jax.stats.SuffStats` is documented there.
    """

    mask: ArrayLike
    count: ArrayLike
    mean: ArrayLike
    scatter: ArrayLike

    incomplete = True  # some rows miss some coordinates

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The leading batch axes (``()`` for one data set)."""
        return tuple(np.shape(self.count)[:-1])

    def total_count(self) -> ArrayLike:
        """``batch_shape`` number of rows (sum of the weights)."""
        return self.count.sum(-1)

    def observed_counts(self) -> np.ndarray:
        """``(*batch_shape, d)`` rows observing each column (host arrays)."""
        return np.einsum("...p,...pj->...j", np.asarray(self.count, np.float64), self.mask)

    def as_patterns(self) -> PatternStats:
        return self

    def nll(self, mean, chol):
        """``()`` total observed-data (FIML) NLL at ``mean (d,)`` and ``chol (d, d)``."""
        return fiml_nll(mean, chol, self)

    def nll_cov(self, mean, cov):
        """``()`` total observed-data (FIML) NLL at ``mean (d,)`` and ``cov (d, d)``."""
        return _fiml_total(mean, cov, self.mask, self.count, self.mean, self.scatter)


def _pattern_keys(observed: np.ndarray) -> np.ndarray:
    """``(n, d)`` bool -> ``(n,)`` sortable keys, equal iff the rows are equal."""
    packed = np.packbits(observed, axis=1)
    nbytes = packed.shape[1]
    if nbytes <= 8:  # one uint64 per row: np.unique sorts integers fast
        padded = np.zeros((packed.shape[0], 8), np.uint8)
        padded[:, :nbytes] = packed
        return padded.view(">u8")[:, 0]
    return np.ascontiguousarray(packed).view(np.dtype((np.void, nbytes)))[:, 0]


def _empty(d: int) -> PatternStats:
    return PatternStats(np.zeros((0, d)), np.zeros(0), np.zeros((0, d)), np.zeros((0, d, d)))


def _segment_scatter(r, starts, ids, scatter) -> None:
    """Add ``sum r_i r_i^T`` over each contiguous segment of ``r`` to ``scatter[ids]``."""
    n, d = r.shape
    if len(starts) * 32 <= n:  # few long segments: one BLAS product per segment
        ends = np.append(starts[1:], n)
        for k, a, b in zip(ids, starts, ends, strict=True):
            scatter[k] += r[a:b].T @ r[a:b]
        return
    step = max(1, _OUTER_ELEMENTS // (d * d))  # many short segments: outer products
    seg = np.searchsorted(starts, np.arange(n), side="right") - 1
    for a in range(0, n, step):
        rr = r[a : a + step]
        g = seg[a : a + step]
        local = np.flatnonzero(np.diff(g)) + 1
        local = np.insert(local, 0, 0)
        outer = np.einsum("ni,nj->nij", rr, rr)
        np.add.at(scatter, ids[g[local]], np.add.reduceat(outer, local, axis=0))


def pattern_stats(x, weights=None) -> tuple[PatternStats, int]:
    """Group the rows of ``x`` by missingness pattern and take centred statistics of each.

    Rows are sorted by pattern (a key from ``np.packbits`` of the observed mask) and read in
    chunks of about 1 MiB, so no temporary the size of ``x`` is made. Pass 1 sums each
    pattern's observed entries (``np.add.reduceat`` over the sorted segments), pass 2 centres
    them at the pattern mean and accumulates the scatter (one BLAS product per segment when
    patterns are few, batched outer products when most rows have their own pattern) and the
    rounding residual, which corrects mean and scatter (corrected two-pass, Chan-Golub-LeVeque).
    All sums are float64.

    Args:
        x: ``(n, d)`` data (``(n,)``: one column); NaN marks a missing entry. Not mutated.
        weights: optional ``(n,)`` non-negative frequency weights.

    Returns:
        ``(stats, dropped)``: :class:`PatternStats` (float64 numpy, patterns in a canonical
        order; only patterns with positive total weight) and the number of rows dropped
        because none of their entries is observed.

    Raises:
        ValueError: ``x`` not 1-D/2-D, contains inf, or bad ``weights``.
    """
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"x must be (n, d) with NaN for missing values; got shape {x.shape}")
    if x.dtype.kind not in "fiub":
        raise ValueError(f"x must be numeric; got dtype {x.dtype}")
    n, d = x.shape
    w = None
    if weights is not None:
        w = np.asarray(weights, np.float64)
        if w.shape != (n,):
            raise ValueError(f"weights must have shape ({n},) to match x; got {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("weights must be finite and non-negative")
    rows = max(1, _CHUNK_ELEMENTS // max(d, 1))

    keys = np.empty(n, dtype=_pattern_keys(np.ones((1, d), bool)).dtype)
    any_obs = np.empty(n, bool)
    for a in range(0, n, rows):
        obs = ~np.isnan(x[a : a + rows])
        keys[a : a + rows] = _pattern_keys(obs)
        any_obs[a : a + rows] = obs.any(axis=1)
    dropped = int(n - np.count_nonzero(any_obs))
    keep = np.flatnonzero(any_obs) if dropped else None
    if keep is not None:
        keys = keys[keep]
    if keys.size == 0:
        return _empty(d), dropped
    order = np.argsort(keys, kind="stable")  # one sort: rows grouped, patterns in key order
    sorted_keys = keys[order]
    new = np.empty(len(order), bool)
    new[0] = True
    new[1:] = sorted_keys[1:] != sorted_keys[:-1]
    group = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    num = len(first)
    order_rows = order if keep is None else keep[order]
    mask = (~np.isnan(x[order_rows[first]])).astype(np.float64)
    wsorted = None if w is None else w[order_rows]
    count = (
        np.bincount(group, minlength=num).astype(np.float64)
        if w is None
        else np.bincount(group, weights=wsorted, minlength=num)
    )

    def chunks():
        for a in range(0, len(order_rows), rows):
            xc = x[order_rows[a : a + rows]].astype(np.float64, copy=False)
            g = group[a : a + rows]
            starts = np.insert(np.flatnonzero(np.diff(g)) + 1, 0, 0)
            wc = None if wsorted is None else wsorted[a : a + rows, None]
            yield xc, g, starts, wc

    sums = np.zeros((num, d))
    for xc, g, starts, wc in chunks():
        x0 = np.where(np.isnan(xc), 0.0, xc)
        sums[g[starts]] += np.add.reduceat(x0 if wc is None else x0 * wc, starts, axis=0)
    if not np.all(np.isfinite(sums)):
        raise ValueError("x contains inf (or overflows float64); NaN is the only missing marker")
    safe = np.where(count > 0, count, 1.0)
    mean = sums / safe[:, None]

    scatter = np.zeros((num, d, d))
    resid = np.zeros((num, d))
    for xc, g, starts, wc in chunks():
        r = np.where(np.isnan(xc), 0.0, xc - mean[g])
        rw = r if wc is None else r * np.sqrt(wc)
        resid[g[starts]] += np.add.reduceat(r if wc is None else r * wc, starts, axis=0)
        _segment_scatter(rw, starts, g[starts], scatter)
    corr = resid / safe[:, None]
    mean = (mean + corr) * mask
    scatter -= count[:, None, None] * corr[:, :, None] * corr[:, None, :]
    live = count > 0
    return PatternStats(mask[live], count[live], mean[live], scatter[live]), dropped


def merge_pattern_stats(a: PatternStats, b: PatternStats) -> PatternStats:
    """Statistics of the union of two disjoint data sets (host numpy).

    Patterns present in only one side are kept; a pattern in both is combined with the
    parallel update (two-pass over the parts: the merged mean first, then the parts' mean
    deviations from it), which is associative up to rounding. Patterns come out in the same
    canonical order as :func:`pattern_stats` gives.
    """
    mask = np.concatenate([np.asarray(a.mask), np.asarray(b.mask)]) > 0
    count = np.concatenate([np.asarray(a.count), np.asarray(b.count)]).astype(np.float64)
    mean = np.concatenate([np.asarray(a.mean), np.asarray(b.mean)]).astype(np.float64)
    scatter = np.concatenate([np.asarray(a.scatter), np.asarray(b.scatter)]).astype(np.float64)
    d = mask.shape[1]
    if mask.shape[0] == 0:
        return _empty(d)
    _, first, group = np.unique(_pattern_keys(mask), return_index=True, return_inverse=True)
    group = group.reshape(-1)
    num = len(first)
    total = np.bincount(group, weights=count, minlength=num)
    safe = np.where(total > 0, total, 1.0)
    pivot = mean[first]  # centre at one member's mean so only differences are summed
    merged = np.zeros((num, d))
    np.add.at(merged, group, count[:, None] * (mean - pivot[group]))
    merged = pivot + merged / safe[:, None]
    dev = (mean - merged[group]) * mask
    out = np.zeros((num, d, d))
    np.add.at(out, group, scatter + count[:, None, None] * dev[:, :, None] * dev[:, None, :])
    live = total > 0
    m = mask[first].astype(np.float64)
    return PatternStats(m[live], total[live], (merged * m)[live], out[live])


def padded_size(patterns: int) -> int:
    """The number of patterns a fit compiles for: at least 8, then the next of a geometric
    grid of ratio ``2**(1/4)`` rounded up to a multiple of 8 (empty padding: under 25% of the
    patterns above 64 of them, 21% above 512).

    Data sets whose pattern counts fall in one bucket share one compiled loop: a loop over
    resamples or groups of incomplete data compiles once or twice, not once per data set.
    """
    if patterns <= 8:
        return 8
    size = math.ceil(2 ** (math.ceil(4 * math.log2(patterns)) / 4))
    return -(-size // 8) * 8


def pad_patterns(ps: PatternStats, size: int | None = None) -> PatternStats:
    """``ps`` with empty patterns (all missing, zero count: they add nothing to the NLL, its
    derivatives or an EM step) appended along the pattern axis up to ``size`` (default
    :func:`padded_size` of the number of patterns)."""
    axis = np.ndim(ps.count) - 1
    if size is None:
        size = padded_size(np.shape(ps.count)[axis])
    extra = size - np.shape(ps.count)[axis]
    if extra <= 0:
        return ps

    def pad(a):
        a = np.asarray(a)
        width = [(0, 0)] * a.ndim
        width[axis] = (0, extra)
        return np.pad(a, width)

    return PatternStats(*(pad(a) for a in ps))


def _label(j: int, columns) -> str:
    return f"column {j}" if columns is None else f"column {j} ({columns[j]!r})"


def check_identified(ps: PatternStats, columns=None, name: str = "x") -> None:
    """Raise if the covariance is not identified by the observed entries.

    Every column must be observed in some row, and every pair of columns observed together
    in some row: otherwise the likelihood does not depend on that variance or covariance.

    Args:
        ps: :class:`PatternStats`.
        columns: optional ``d`` column names for the message.
        name: what the data are called in the message (``xs[k]`` for a member of a batch).

    Raises:
        ValueError: naming the column never observed or the pair never observed together.
    """
    mask = np.asarray(ps.mask) > 0
    d = mask.shape[-1]
    live = mask[np.asarray(ps.count) > 0]
    together = live.T.astype(np.int64) @ live.astype(np.int64)
    fix = "drop one of them, or pass a ridge or a prior that identifies it"
    for j in range(d):
        if together[j, j] == 0:
            raise ValueError(f"{name} {_label(j, columns)} is never observed (all NaN); drop it")
    for j in range(d):
        for k in range(j + 1, d):
            if together[j, k] == 0:
                raise ValueError(
                    f"{name} {_label(j, columns)} and {_label(k, columns)} are never observed in "
                    f"the same row, so their covariance is not identified; {fix}"
                )


def check_spread(ps: PatternStats, columns=None, name: str = "x") -> None:
    """Every column needs two observed rows and a spread: pooled over the patterns that
    observe it (count, mean and scatter merged as in Chan's update), a constant column gets
    the message a complete-data fit gives instead of a loop that cannot converge."""
    mask = np.asarray(ps.mask, np.float64)
    count = np.asarray(ps.count, np.float64)[:, None] * mask  # (P, d) rows observing j
    seen = count.sum(0)
    mean = np.asarray(ps.mean, np.float64)
    with np.errstate(all="ignore"):
        pooled = np.where(seen > 0, (count * mean).sum(0) / np.where(seen > 0, seen, 1), 0.0)
        within = np.diagonal(np.asarray(ps.scatter, np.float64), axis1=-2, axis2=-1) * mask
        scatter = (within + count * (mean - pooled) ** 2).sum(0)
    for j in np.flatnonzero((seen > 0) & (seen < 2)):
        raise ValueError(
            f"{name} {_label(int(j), columns)} is observed in {seen[j]:g} row(s); a variance "
            "needs at least 2: drop it, or pass a ridge or a prior"
        )
    const = constant_columns(pooled, np.diag(scatter), np.where(seen > 0, seen, 1.0))
    for j in np.flatnonzero(const & (seen > 0)):
        raise ValueError(
            constant_message(
                f"{name} {_label(int(j), columns)}",
                pooled,
                int(j),
                "drop it, or pass a ridge or a prior",
            )
        )


def start(ps: PatternStats, floor: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """A starting point from pairwise-available moments (host numpy).

    The mean of each column is the mean of its observed entries; each covariance entry is
    the covariance of the rows where both columns are observed (centred at those rows' own
    means). Under MCAR each entry is consistent, every observed entry is used (listwise
    deletion may leave no complete row), and it costs one pass over the pattern statistics,
    so it is close to the MLE and cheap. The pairwise matrix need not be positive definite,
    so it is projected: in correlation units, eigenvalues are clipped at ``floor`` times the
    largest one.

    Args:
        ps: :class:`PatternStats` of identified data (see :func:`check_identified`).
        floor: relative eigenvalue floor of the correlation matrix.

    Returns:
        ``(mean, cov)``: ``(d,)`` and a symmetric positive definite ``(d, d)``.
    """
    m = (np.asarray(ps.mask) > 0).astype(np.float64)
    n = np.asarray(ps.count, np.float64)
    xbar, s = np.asarray(ps.mean, np.float64), np.asarray(ps.scatter, np.float64)
    nm = n[:, None] * m
    mean = np.sum(nm * xbar, 0) / np.sum(nm, 0)
    pair_n = np.einsum("pj,pk->jk", nm, m)
    safe = np.where(pair_n > 0, pair_n, 1.0)
    # a[j, k]: mean of column j over the rows that observe both j and k
    a = np.einsum("pj,pk->jk", nm * xbar, m) / safe
    dev = m[:, :, None] * (xbar[:, :, None] - a[None])  # (P, j, k): xbar_pj - a[j, k]
    cross = np.einsum("p,pjk,pkj->jk", n, dev, dev)
    cov = (np.sum(s, 0) + cross) / safe
    cov = 0.5 * (cov + cov.T)
    var = np.diagonal(cov)
    std = np.sqrt(np.where(var > 0, var, 1.0))
    vals, vecs = np.linalg.eigh(cov / std[:, None] / std[None, :])
    vals = np.maximum(vals, floor * max(vals[-1], 1.0))
    corr = (vecs * vals) @ vecs.T
    return mean, 0.5 * (corr + corr.T) * std[:, None] * std[None, :]


def missing_fraction(ps: PatternStats) -> tuple[np.ndarray, int]:
    """Per-column share of missing entries and the number of patterns (for summaries).

    Shares are over the rows kept by :func:`pattern_stats` (weighted by the counts); rows
    with no observed entry were dropped there and are not counted.

    Returns:
        ``((d,) share missing in [0, 1], number of patterns with positive count)``.
    """
    m = np.asarray(ps.mask) > 0
    n = np.asarray(ps.count, np.float64)
    total = np.sum(n)
    share = 1.0 - (n @ m) / (total if total > 0 else 1.0)
    return share, int(np.count_nonzero(n > 0))
