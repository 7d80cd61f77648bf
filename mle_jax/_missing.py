"""Gaussian likelihood with missing values (NaN): statistics per missingness pattern and FIML.

Full-information maximum likelihood uses every observed entry: a row whose observed
coordinates are ``o`` contributes the marginal density ``N(x_o | mu_o, Sigma_oo)``. Rows that
share a pattern share ``o``, so the likelihood needs only, per pattern ``p``, the count
``n_p``, the mean ``xbar_p`` and the centred scatter ``S_p`` of the observed entries:

.. math::

    \\mathrm{NLL} = \\tfrac12 \\sum_p \\Big[n_p\\big(d_o \\log 2\\pi + \\log|\\Sigma_{oo}|\\big)
      + \\operatorname{tr}\\!\\big(\\Sigma_{oo}^{-1}
        [S_p + n_p(\\bar x_p - \\mu_o)(\\bar x_p - \\mu_o)^\\top]\\big)\\Big].

Fixed shapes ("the masked trick"): with ``M = diag(mask_p)`` the ``d x d`` matrix
``Sigma_p = M Sigma M + (I - M)`` equals ``Sigma_oo`` on the observed coordinates and the
identity on the missing ones, with no coupling between the two. Its Cholesky factor is
therefore ``chol(Sigma_oo)`` interleaved with identity rows and columns, so
``log|Sigma_p| = log|Sigma_oo|`` and ``L_p^{-1} r`` for a residual ``r`` that is zero at the
missing coordinates equals ``L_oo^{-1} r_o`` padded with zeros. Every pattern is thus the same
``d x d`` computation: ``vmap`` over patterns, one batched Cholesky and one batched
triangular solve, no per-pattern shapes or branches (jit, vmap and grad compose).

Statistics are computed on the host (numpy, float64 sums) and are mergeable: the same
pattern in two chunks is combined by Chan et al.'s parallel update.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

from ._nll import LOG2PI
from ._types import HIGHEST, ArrayLike

__all__ = [
    "PatternStats",
    "pattern_stats",
    "merge_pattern_stats",
    "fiml_nll",
    "fiml_information",
    "masked_cov",
    "as_patterns",
    "pad_patterns",
    "padded_size",
    "check_identified",
    "start",
    "missing_fraction",
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
    all-zero mask contributes nothing anywhere (usable as padding).
    """

    mask: ArrayLike
    count: ArrayLike
    mean: ArrayLike
    scatter: ArrayLike


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


def as_patterns(stats) -> PatternStats:
    """Complete-data :class:`~mle_jax.stats.SuffStats` (unbatched, numpy or traced) as one
    pattern that observes every coordinate; :class:`PatternStats` as they are."""
    if isinstance(stats, PatternStats):
        return stats
    d = stats.mean.shape[-1]
    return PatternStats(np.ones((1, d)), stats.count[None], stats.mean[None], stats.scatter[None])


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


def masked_cov(cov: jax.Array, mask: jax.Array) -> jax.Array:
    """``(d, d)``, ``(d,)`` -> ``M cov M + (I - M)``: ``Sigma_oo`` padded with identity."""
    m = mask.astype(cov.dtype)
    return cov * m[:, None] * m[None, :] + jnp.diag(1 - m)


def fiml_nll(mean: jax.Array, chol: jax.Array, ps: PatternStats) -> jax.Array:
    """Total observed-data (FIML) negative log-likelihood from pattern statistics.

    Pure and fixed-shape: differentiable (to any order, forward and reverse), jit- and
    vmap-able (``vmap`` over ``mean``, ``chol`` and ``ps`` adds batch axes). Equal to the sum
    over rows of ``-log N(x_o | mean_o, Sigma_oo)``, 2*pi term included. Its first
    derivatives are analytic (:func:`_fiml_value_and_grads`), so a gradient costs a few
    batched matrix products more than the value instead of the reverse pass of a batched
    Cholesky and triangular solve (``docs/design-notes.md``, "FIML gradient").

    Args:
        mean: ``(d,)``.
        chol: ``(d, d)`` lower Cholesky factor of the covariance, positive diagonal.
        ps: :class:`PatternStats` with ``P`` patterns.

    Returns:
        ``()`` total NLL.
    """
    cov = jnp.matmul(chol, chol.T, precision=HIGHEST)
    dtype = cov.dtype
    return _fiml_total(
        mean, cov, jnp.asarray(ps.mask, dtype), jnp.asarray(ps.count, dtype),
        jnp.asarray(ps.mean, dtype), jnp.asarray(ps.scatter, dtype),
    )  # fmt: skip


def _fiml_parts(mean, cov, mask, count, xbar):
    """Per pattern: ``K_p = Sigma_p^{-1}`` ``(P, d, d)`` (identity on the missing block),
    ``log|Sigma_oo|`` ``(P,)``, the residual ``r_p`` and ``K_p r_p`` ``(P, d)``."""
    d = mean.shape[-1]
    m = mask
    sigma = jax.vmap(masked_cov, in_axes=(None, 0))(cov, m)
    chol = jnp.linalg.cholesky(sigma)
    eye = jnp.broadcast_to(jnp.eye(d, dtype=cov.dtype), sigma.shape)
    linv = solve_triangular(chol, eye, lower=True)
    k = jnp.matmul(jnp.swapaxes(linv, -1, -2), linv, precision=HIGHEST)
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    r = m * (xbar - mean[None])
    kr = jnp.einsum("pij,pj->pi", k, r, precision=HIGHEST)
    return k, logdet, r, kr


def _fiml_per_pattern(mask, count, scatter, k, logdet, r, kr):
    """``(P,)`` the NLL of each pattern's rows."""
    trace = jnp.sum(k * scatter, axis=(-2, -1))
    quad = jnp.sum(r * kr, axis=-1)
    return 0.5 * (count * (jnp.sum(mask, -1) * LOG2PI + logdet + quad) + trace)


@jax.custom_jvp
def _fiml_total(mean, cov, mask, count, xbar, scatter):
    """``()`` the FIML NLL of ``(P, ...)`` pattern statistics (see :func:`fiml_nll`)."""
    k, logdet, r, kr = _fiml_parts(mean, cov, mask, count, xbar)
    return jnp.sum(_fiml_per_pattern(mask, count, scatter, k, logdet, r, kr))


def _fiml_value_and_grads(mean, cov, mask, count, xbar, scatter):
    """The NLL and its derivatives in ``mean, cov, count, xbar, scatter`` (``mask``: none).

    With ``P_p = M_p K_p M_p`` the precision of the observed block and
    ``W_p = S_p + n_p r_p r_p^T``: ``d/dmean = -sum_p n_p K_p r_p``,
    ``d/dSigma = (sum_p n_p P_p - P_p W_p P_p) / 2``, ``d/dxbar_p = n_p K_p r_p``,
    ``d/dS_p = K_p / 2`` and ``d/dn_p`` the pattern's NLL per row without its trace.
    """
    k, logdet, r, kr = _fiml_parts(mean, cov, mask, count, xbar)
    per = _fiml_per_pattern(mask, count, scatter, k, logdet, r, kr)
    prec = k * mask[:, :, None] * mask[:, None, :]
    psp = jnp.matmul(jnp.matmul(prec, scatter, precision=HIGHEST), prec, precision=HIGHEST)
    nkr = count[:, None] * kr
    g_cov = 0.5 * (
        jnp.einsum("p,pij->ij", count, prec, precision=HIGHEST)
        - jnp.sum(psp, axis=0)
        - jnp.matmul(nkr.T, kr, precision=HIGHEST)
    )
    g_count = 0.5 * (jnp.sum(mask, -1) * LOG2PI + logdet + jnp.sum(r * kr, axis=-1))
    grads = (-jnp.sum(nkr, axis=0), g_cov, g_count, nkr, 0.5 * k)
    return jnp.sum(per), grads


@_fiml_total.defjvp
def _fiml_total_jvp(primals, tangents):
    value, grads = _fiml_value_and_grads(*primals)
    mean_t, cov_t, _, count_t, xbar_t, scatter_t = tangents
    terms = zip(grads, (mean_t, cov_t, count_t, xbar_t, scatter_t), strict=True)
    return value, jnp.sum(jnp.stack([jnp.sum(g * t) for g, t in terms]))


def fiml_information(mean: jax.Array, cov: jax.Array, ps: PatternStats) -> jax.Array:
    """The observed information (Hessian) of the FIML NLL in closed form.

    The coordinates are ``phi = (mean, vech(cov))``, ``vech`` the lower triangle row-major
    (``np.tril_indices``); an off-diagonal coordinate moves ``cov[i, j]`` and ``cov[j, i]``
    together. With ``P_p`` the precision of pattern ``p``'s observed block padded with zeros,
    ``v_p = P_p r_p``, ``W_p = S_p + n_p r_p r_p^T`` and ``R_p = P_p W_p P_p - n_p P_p / 2``,
    the second derivatives of the total NLL are

    * ``d2/dmean2 = sum_p n_p P_p``;
    * ``d2/dmean dSigma[A] = sum_p n_p P_p A v_p``;
    * ``d2/dSigma[A] dSigma[B] = sum_p (tr(A P_p B R_p) + tr(A R_p B P_p)) / 2``,

    read off at the unit directions of ``vech`` (docs/design-notes.md, "Standard errors").
    For complete data (one pattern observing everything) at the MLE, ``R = n P / 2`` and
    these are the textbook ``n Sigma^{-1}`` and ``n/2 (Sigma^{-1} (x) Sigma^{-1})``. Costs
    ``O(P d^4)`` flops in one matrix product and gathers (no Hessian-vector products), memory
    about ``2 d^4`` floats (1.6 GB at d = 100 in float64; the information itself is
    ``d^4 / 4``).

    Args:
        mean: ``(d,)``.
        cov: ``(d, d)`` symmetric positive definite.
        ps: :class:`PatternStats` with ``P`` patterns (no batch axes: ``vmap`` for those).

    Returns:
        ``(p, p)``, ``p = d + d(d+1)/2``.
    """
    dtype = cov.dtype
    mask, count, xbar, scatter = (jnp.asarray(a, dtype) for a in ps)
    d = mean.shape[-1]
    k, _, _, v = _fiml_parts(mean, cov, mask, count, xbar)  # v = K r = P r: r is 0 off o
    prec = k * mask[:, :, None] * mask[:, None, :]
    mm = lambda a, b: jnp.matmul(a, b, precision=HIGHEST)  # noqa: E731
    nv = count[:, None] * v
    q = mm(mm(prec, scatter), prec) + nv[:, :, None] * v[:, None, :]
    rr = q - 0.5 * count[:, None, None] * prec
    rows, cols = np.tril_indices(d)
    half = np.where(rows == cols, 0.5, 1.0)  # a diagonal direction counts once, not twice

    h_mm = jnp.einsum("p,pij->ij", count, prec, precision=HIGHEST)
    y2 = jnp.einsum("pk,pml->mkl", nv, prec, precision=HIGHEST)  # (d, d, d)
    h_ms = (y2[:, rows, cols] + y2[:, cols, rows]) * half[None, :]
    # g[j, i, k, l] = sum_p P[j, k] R[i, l], one (d^2 x P) (P x d^2) product; for the a-th
    # pair (i_a, j_a): y[a, k, l] = sum_p P[j_a, k] R[i_a, l] + R[j_a, k] P[i_a, l], and the
    # covariance block is half_a half_b (y[a, k_b, l_b] + y[a, l_b, k_b])
    g = jnp.einsum("pjk,pil->jikl", prec, rr, precision=HIGHEST).reshape(d * d, d, d)
    y = g[cols * d + rows] + jnp.swapaxes(g[rows * d + cols], 1, 2)
    h_ss = (y[:, rows, cols] + y[:, cols, rows]) * half[:, None] * half[None, :]
    return jnp.block([[h_mm, h_ms], [h_ms.T, h_ss]])


def _label(j: int, columns) -> str:
    return f"column {j}" if columns is None else f"column {j} ({columns[j]!r})"


def check_identified(ps: PatternStats, columns=None) -> None:
    """Raise if the covariance is not identified by the observed entries.

    Every column must be observed in some row, and every pair of columns observed together
    in some row: otherwise the likelihood does not depend on that variance or covariance.

    Args:
        ps: :class:`PatternStats`.
        columns: optional ``d`` column names for the message.

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
            raise ValueError(f"{_label(j, columns)} is never observed (all NaN); drop it")
    for j in range(d):
        for k in range(j + 1, d):
            if together[j, k] == 0:
                raise ValueError(
                    f"{_label(j, columns)} and {_label(k, columns)} are never observed in the "
                    f"same row, so their covariance is not identified; {fix}"
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
