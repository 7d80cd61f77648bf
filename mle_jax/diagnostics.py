"""Numbers behind the figures: normal densities, chi-square quantiles, Mahalanobis distances
(of complete rows and of the observed part of incomplete ones) and an honest (simultaneous)
band for the Q-Q plot. numpy only, no matplotlib, no scipy.

The special functions (regularised incomplete gamma and beta) come from ``jax.scipy.special``
and are evaluated on the CPU in float64 inside a local ``jax.enable_x64`` context: results
do not depend on the global ``jax_enable_x64`` setting, which this module never changes.

Examples:
    >>> import numpy as np
    >>> round(float(chi2_ppf(0.95, 2)), 6)  # -2 log(0.05)
    5.991465
    >>> band = qq_band(200, 3)
    >>> bool(np.all(band.lower < band.upper))
    True
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np

__all__ = [
    "QQBand",
    "QQData",
    "RowDistances",
    "beta_ppf",
    "chi2_ppf",
    "mahalanobis_sq",
    "normal_logpdf",
    "normal_pdf",
    "qq_band",
    "qq_data",
    "qq_points",
    "row_distances",
    "score_mean",
]

_LOG_2PI = math.log(2.0 * math.pi)


def _np(a):
    return np.asarray(a, dtype=np.float64)


def _special():
    """``(gammainc, betainc, context)``: float64 special functions on the CPU.

    Arguments broadcast together and are padded to a power-of-two length, so that a few
    compiled shapes serve every call (each new shape costs a compilation of ~1 s).
    """
    import contextlib

    import jax

    stack = contextlib.ExitStack()
    stack.enter_context(jax.enable_x64(True))
    stack.enter_context(jax.default_device(jax.devices("cpu")[0]))
    return _padded("gammainc"), _padded("betainc"), stack


def _gammaincc():
    """The regularised upper incomplete gamma function (float64, CPU), for upper tails that
    ``1 - gammainc`` would round to 0; call inside the context of :func:`_special`."""
    return _padded("gammaincc")


@functools.cache
def _jitted(name):
    import jax
    import jax.scipy.special as jss

    return jax.jit(getattr(jss, name))


def _padded(name):
    def call(*args):
        args = np.broadcast_arrays(*(_np(a) for a in args))
        shape, size = args[0].shape, args[0].size
        bucket = max(256, 1 << max(0, size - 1).bit_length())
        flat = [np.pad(a.ravel(), (0, bucket - size), constant_values=0.5) for a in args]
        return np.asarray(_jitted(name)(*flat))[:size].reshape(shape)

    return call


# ------------------------------------------------------------------------- densities


def normal_pdf(x, mean, std) -> np.ndarray:
    """Density of ``N(mean, std**2)`` at ``x`` (numpy, broadcasting)."""
    x, mean, std = _np(x), _np(mean), _np(std)
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2.0 * math.pi))


def normal_logpdf(x, mean, std) -> np.ndarray:
    """Log-density of ``N(mean, std**2)`` at ``x`` (numpy, broadcasting)."""
    x, mean, std = _np(x), _np(mean), _np(std)
    return -0.5 * ((x - mean) / std) ** 2 - np.log(std) - 0.5 * _LOG_2PI


def score_mean(x, means, std) -> np.ndarray:
    """The derivative of the log-likelihood with respect to the mean, at each candidate mean.

    .. math::
        \\frac{\\partial}{\\partial\\mu} \\sum_i \\log p(x_i \\mid \\mu, \\sigma)
        = \\sum_i \\frac{x_i - \\mu}{\\sigma^2} = \\frac{n(\\bar x - \\mu)}{\\sigma^2},

    a straight line in ``mu`` that crosses zero at the sample mean: the MLE.

    Args:
        x: ``(n,)`` data.
        means: ``(m,)`` candidate means (or a scalar).
        std: the fixed ``sigma > 0``.

    Returns:
        ``(m,)`` (or ``()``) the derivative at each mean.

    Examples:
        >>> float(score_mean([1.0, 2.0, 6.0], 3.0, 1.0))
        0.0
    """
    x = _np(x).ravel()
    means = _np(means)
    return (np.sum(x) - x.size * means) / float(std) ** 2


# ------------------------------------------------------------------------- quantiles


def _bisect(cdf, p, lo, hi, iters=100):
    """Vectorised bisection for ``cdf(q) = p`` on the bracket ``[lo, hi]`` (arrays)."""
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        below = cdf(mid) < p
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        if np.all(hi - lo <= 4e-16 * np.maximum(np.abs(hi), 1e-300)):
            break
    return 0.5 * (lo + hi)


def chi2_ppf(p, df) -> np.ndarray:
    """Quantiles of the chi-square distribution, without scipy.

    Bisection (to float64 rounding) on the regularised lower incomplete gamma function
    ``P(df/2, q/2) = p`` from ``jax.scipy.special.gammainc``, in float64 whatever the
    global JAX setting.

    Args:
        p: probabilities in ``[0, 1)`` (any shape).
        df: degrees of freedom ``> 0``.

    Returns:
        ``q`` with ``P(chi2_df <= q) = p``, float64, the shape of ``p``.

    Raises:
        ValueError: ``p`` outside ``[0, 1)`` or ``df <= 0``.

    Examples:
        >>> round(float(chi2_ppf(0.5, 1)), 6)
        0.454936
    """
    p = _np(p)
    if np.any((p < 0) | (p >= 1)) or not df > 0:
        raise ValueError("chi2_ppf needs 0 <= p < 1 and df > 0")
    a = 0.5 * float(df)
    gammainc, _, ctx = _special()
    with ctx:
        cdf = lambda q: np.asarray(gammainc(a, 0.5 * q))  # noqa: E731
        lo = np.zeros_like(p)
        hi = np.full_like(p, max(10.0, 2.0 * float(df)))
        for _ in range(60):  # grow the bracket until P(a, hi/2) >= p
            small = cdf(hi) < p
            if not small.any():
                break
            hi = np.where(small, 2.0 * hi, hi)
        return _bisect(cdf, p, lo, hi)


def beta_ppf(p, a, b) -> np.ndarray:
    """Quantiles of ``Beta(a, b)`` (broadcasting), by bisection on ``betainc``, float64.

    Examples:
        >>> round(float(beta_ppf(0.5, 2.0, 2.0)), 12)
        0.5
    """
    p, a, b = np.broadcast_arrays(_np(p), _np(a), _np(b))
    if np.any((p < 0) | (p > 1)) or np.any(a <= 0) or np.any(b <= 0):
        raise ValueError("beta_ppf needs 0 <= p <= 1 and a, b > 0")
    _, betainc, ctx = _special()
    with ctx:
        cdf = lambda u: np.asarray(betainc(a, b, u))  # noqa: E731
        return _bisect(cdf, p, np.zeros_like(p), np.ones_like(p), iters=60)


# ------------------------------------------------------------------------- distances


def mahalanobis_sq(x, mean, cov) -> np.ndarray:
    """Squared Mahalanobis distances ``(x_i - mean)^T cov^{-1} (x_i - mean)`` of rows ``(n,)``.

    Through the Cholesky factor of ``cov`` (one triangular system), never its inverse.
    Univariate ``x`` ``(n,)`` with scalar ``mean``/``cov`` (the variance) works too.

    Examples:
        >>> mahalanobis_sq([[1.0, 0.0], [0.0, 2.0]], [0.0, 0.0], [[1.0, 0.0], [0.0, 4.0]])
        array([1., 1.])
    """
    x = _np(x)
    if x.ndim == 1:
        x = x[:, None]
    mean = np.atleast_1d(_np(mean))
    cov = np.atleast_2d(_np(cov))
    chol = np.linalg.cholesky(cov)
    z = np.linalg.solve(chol, (x - mean[None, :]).T)
    return np.sum(z * z, axis=0)


def _sorted_distances_mle(z):
    """Sorted squared distances of each data set ``(m, n, d)`` to its own MLE: ``(m, n)``."""
    n = z.shape[1]
    r = z - z.mean(axis=1, keepdims=True)
    cov = np.einsum("mni,mnj->mij", r, r) / n
    chol = np.linalg.cholesky(cov)
    w = np.linalg.solve(chol, np.swapaxes(r, 1, 2))  # (m, d, n)
    return np.sort(np.sum(w * w, axis=1), axis=1)


# ------------------------------------------------------------------------- Q-Q band


class QQBand(NamedTuple):
    """Bounds for the sorted squared Mahalanobis distances of Gaussian data.

    Attributes:
        lower, upper: ``(n,)`` bounds for the ``i``-th smallest distance.
        level: the probability that Gaussian data lie inside the band: at *all* ``n``
            points together when ``simultaneous``, at each point separately otherwise.
        simultaneous: which of the two.
        pointwise_level: the per-point probability each bound pair holds (for a
            simultaneous band, the calibrated value, much closer to 1 than ``level``).
    """

    lower: np.ndarray
    upper: np.ndarray
    level: float
    simultaneous: bool
    pointwise_level: float


def qq_points(x, mean, cov):
    """``(theoretical, sorted)``: chi-square(d) quantiles at ``(i - 1/2)/n`` and the sorted
    squared Mahalanobis distances of the rows of ``x`` to ``(mean, cov)``.

    If the rows are Gaussian with that mean and covariance the pairs lie near the diagonal.
    Rows with NaN enter by their observed part (:func:`row_distances`, the ``equivalent``
    distance); rows with nothing observed are left out, as in :func:`qq_data`.
    """
    q = qq_data(x, mean, cov, band=False)
    return q.theoretical, q.distance


# ------------------------------------------------------------------------- incomplete rows


class RowDistances(NamedTuple):
    """Each row's squared Mahalanobis distance over its observed columns, and its probability.

    Attributes:
        dist: ``(n,)`` ``(x_O - m_O)^T C_OO^{-1} (x_O - m_O)`` over the row's observed
            columns ``O`` (NaN for a row with none).
        df: ``(n,)`` ints: the number ``k`` of observed columns (0: nothing observed).
        prob: ``(n,)`` ``P(chi2_k <= dist)``: uniform on ``(0, 1)`` when the row's observed
            part is drawn from the ``N(m_O, C_OO)`` marginal (NaN where ``k = 0``).
        pvalue: ``(n,)`` ``P(chi2_k > dist) = 1 - prob``, from the upper incomplete gamma
            function, so that it keeps its precision for outliers (``1e-30`` is not 0).
        equivalent: ``(n,)`` the chi-square(``d``) quantile of ``prob``: the distance of a
            complete row with the same probability. It is ``dist`` itself (the same float)
            for complete rows; where ``pvalue`` underflows to 0 (``dist`` beyond ~1400) it
            is ``dist``, a lower bound.
    """

    dist: np.ndarray
    df: np.ndarray
    prob: np.ndarray
    pvalue: np.ndarray
    equivalent: np.ndarray


def row_distances(x, mean, cov) -> RowDistances:
    """Squared Mahalanobis distances of the observed part of each row, referred to chi-square.

    A row with observed columns ``O`` (``k = |O|`` of them; NaN marks the others) is a draw
    of ``x_O ~ N(m_O, C_OO)`` under the fitted Gaussian (the marginal of a Gaussian is the
    sub-vector and sub-matrix), so its distance

    .. math::
        D_i = (x_{O} - m_{O})^\\top C_{OO}^{-1} (x_{O} - m_{O}) \\sim \\chi^2_{k_i}

    with *its own* degrees of freedom, and ``u_i = F_{chi2(k_i)}(D_i)`` is uniform on
    ``(0, 1)`` whatever ``k_i``: probabilities, unlike distances, can be pooled over rows
    with different numbers of observed columns. (Treating an incomplete row as if it had
    ``d`` columns, or dropping its NaN terms and comparing with chi-square(``d``), puts it
    low and shifts every quantile.) ``equivalent`` maps ``u_i`` back to the chi-square(``d``)
    scale so that one Q-Q plot shows every row and keeps the tails readable.

    Exact for known parameters and rows missing completely at random. Two approximations
    otherwise: with a fitted mean and covariance the distances are slightly smaller than
    chi-square (for complete data exactly ``(n - 1) Beta(d/2, (n - d - 1)/2)``, which
    :func:`qq_band` uses); and under missing at random the rows of a pattern are selected
    on their observed values, so their observed part is not quite the marginal (the
    pooled probabilities stay close to uniform: Kolmogorov distance 0.001 to 0.005 with
    about 60% of the rows incomplete, missingness a logistic function of an observed
    column with slope 1 to 4, in a simulation with known parameters, ``d = 3``).

    Args:
        x: ``(n, d)`` data (or ``(n,)``), NaN where missing.
        mean: ``(d,)`` mean (a scalar in 1-D).
        cov: ``(d, d)`` symmetric positive-definite covariance (the variance in 1-D).

    Returns:
        :class:`RowDistances`, float64.

    Examples:
        >>> import numpy as np
        >>> r = row_distances([[1.0, np.nan], [1.0, 1.0]], [0.0, 0.0], np.eye(2))
        >>> r.dist.tolist(), r.df.tolist()
        ([1.0, 2.0], [1, 2])
        >>> round(float(r.equivalent[0]), 6) == round(float(chi2_ppf(r.prob[0], 2)), 6)
        True
    """
    x = _np(x)
    if x.ndim == 1:
        x = x[:, None]
    n, d = x.shape
    mean = np.atleast_1d(_np(mean)).reshape(d)
    cov = np.atleast_2d(_np(cov)).reshape(d, d)
    observed = ~np.isnan(x)
    df = observed.sum(axis=1)
    dist = np.full(n, np.nan)
    patterns, which = np.unique(observed, axis=0, return_inverse=True)
    for p, pattern in enumerate(patterns):
        cols = np.flatnonzero(pattern)
        if cols.size == 0:
            continue
        rows = np.flatnonzero(which.ravel() == p)
        if cols.size == d:  # the complete rows: the same arithmetic as mahalanobis_sq(x)
            dist[rows] = mahalanobis_sq(x[rows], mean, cov)
        else:
            dist[rows] = mahalanobis_sq(x[np.ix_(rows, cols)], mean[cols], cov[np.ix_(cols, cols)])
    some = df > 0
    prob, pvalue = np.full(n, np.nan), np.full(n, np.nan)
    equivalent = dist.copy()
    gammainc, _, ctx = _special()
    with ctx:
        if some.any():
            a, half = 0.5 * df[some], 0.5 * dist[some]
            prob[some] = gammainc(a, half)
            pvalue[some] = _gammaincc()(a, half)
        part = some & (df < d)
        lower = part & (prob <= 0.5)
        upper = part & (prob > 0.5) & (pvalue > 0)
        if lower.any():
            equivalent[lower] = chi2_ppf(prob[lower], d)
        if upper.any():
            equivalent[upper] = _chi2_isf(pvalue[upper], d)
    return RowDistances(dist, df.astype(np.int64), prob, pvalue, equivalent)


def _chi2_isf(s, df):
    """``q`` with ``P(chi2_df > q) = s`` by bisection on the upper incomplete gamma function
    (inside the context of :func:`_special`); accurate where ``s`` is tiny."""
    sf_fn, a = _gammaincc(), 0.5 * float(df)
    sf = lambda q: np.asarray(sf_fn(a, 0.5 * q))  # noqa: E731
    hi = np.full_like(s, max(10.0, 2.0 * float(df)))
    for _ in range(80):  # grow the bracket until P(chi2 > hi) <= s
        small = sf(hi) > s
        if not small.any():
            break
        hi = np.where(small, 2.0 * hi, hi)
    return _bisect(lambda q: -sf(q), -s, np.zeros_like(s), hi)


class QQData(NamedTuple):
    """The numbers :func:`mle_jax.plotting.qq_plot` draws.

    Attributes:
        theoretical: ``(m,)`` chi-square(``d``) quantiles at ``(i - 1/2)/m``.
        distance: ``(m,)`` the sorted squared distances: ``RowDistances.equivalent``, which
            for a complete row is its squared Mahalanobis distance.
        rows: ``(m,)`` the row of ``x`` behind each sorted point.
        band: the :class:`QQBand` for ``m`` rows in ``d`` dimensions, or ``None``.
        outside: ``(m,)`` bools: the point lies outside the band (all False without one).
        d: the dimension.
        n_incomplete: rows drawn with some (not all) columns observed.
        n_empty: rows left out because nothing in them is observed.
    """

    theoretical: np.ndarray
    distance: np.ndarray
    rows: np.ndarray
    band: QQBand | None
    outside: np.ndarray
    d: int
    n_incomplete: int
    n_empty: int


def qq_data(
    x, mean, cov, *, band: bool | str = True, level: float = 0.95, estimated: bool = True
) -> QQData:
    """Points and band of the Q-Q plot of squared Mahalanobis distances, NaN rows included.

    Each row is referred to chi-square with its own number of observed columns and placed
    on the common chi-square(``d``) scale by its probability (:func:`row_distances`): a
    Q-Q plot of the per-row probabilities against the uniform law, drawn with both axes
    mapped by the chi-square(``d``) quantile function so that the tails stay readable.
    Monotone maps of both axes change neither which points are outside the band nor the
    verdict. For complete data nothing is mapped: the points are the sorted distances and
    the band is :func:`qq_band` of ``n`` rows, exactly as before.

    With incomplete rows the band is :func:`qq_band` for the ``m`` rows drawn, which assumes
    the complete-data law of distances to a fitted Gaussian; for a FIML fit it is an
    approximation of the same order as the difference between that law and chi-square
    (``O(d/n)``), and the approximations of :func:`row_distances` apply. Measured: with
    ``d = 4``, a third of the rows incomplete (missing at random) and FIML fits, the 95%
    simultaneous band held every point of 97% of 300 simulated data sets at ``n = 150``
    and of 93% of 400 at ``n = 60``.

    Args:
        x: ``(n, d)`` or ``(n,)`` data, NaN where missing.
        mean, cov: the fitted Gaussian (for example a ``FitResult``'s ``.mean``, ``.cov``).
        band: ``True`` for the simultaneous band, ``"pointwise"`` for the per-point one,
            ``False`` for none.
        level: the band's probability.
        estimated: the band for distances to a mean and covariance fitted to these rows
            (default) or to the true ones (:func:`qq_band`).

    Returns:
        :class:`QQData`.

    Raises:
        ValueError: fewer than ``d + 2`` rows with an observed entry (with a band).
    """
    x = _np(x)
    d = 1 if x.ndim == 1 else x.shape[1]
    r = row_distances(x, mean, cov)
    keep = np.flatnonzero(r.df > 0)
    order = keep[np.argsort(r.equivalent[keep], kind="stable")]
    m = order.size
    theo = chi2_ppf((np.arange(1, m + 1) - 0.5) / m, d)
    dist = r.equivalent[order]
    qb = None
    outside = np.zeros(m, dtype=bool)
    if band:
        qb = qq_band(m, d, level=level, simultaneous=band != "pointwise", estimated=estimated)
        outside = (dist < qb.lower) | (dist > qb.upper)
    n_incomplete = int(np.sum((r.df > 0) & (r.df < d)))
    return QQData(theo, dist, order, qb, outside, d, n_incomplete, int(np.sum(r.df == 0)))


def qq_band(
    n: int,
    d: int,
    *,
    level: float = 0.95,
    simultaneous: bool = True,
    estimated: bool = True,
    num_sim: int = 1000,
    seed: int = 0,
) -> QQBand:
    """A band for the sorted squared Mahalanobis distances of ``n`` Gaussian rows in ``d``-D.

    Each distance has a known distribution ``F``: chi-square(d) when the mean and
    covariance are the true ones; when they are the MLE of the same data (``estimated``,
    the usual case) exactly ``(n - 1) B`` with ``B ~ Beta(d/2, (n - d - 1)/2)``
    (Gnanadesikan & Kettenring 1972), which is bounded and lighter-tailed than chi-square
    for small ``n``. The ``i``-th smallest of ``n`` is bounded pointwise by
    ``F^{-1}(Beta_i^{-1}(g))`` and ``F^{-1}(Beta_i^{-1}(1 - g))`` with
    ``Beta_i = Beta(i, n - i + 1)``, the law of the ``i``-th uniform order statistic.

    A *pointwise* band (``g = (1 - level)/2``) holds each point with probability
    ``level`` but, with ``n`` correlated points, misses some point of most Gaussian data
    sets (often a whole tail at once), which reads as a misfit that is not there. The
    *simultaneous* band (default) narrows ``g`` until a fraction ``level`` of simulated
    Gaussian data sets lie inside at every point (the "tail-sensitive" band of
    Aldor-Noiman et al. 2013, here for Mahalanobis distances). The simulation draws
    ``num_sim`` sets of ``n`` standard normal rows with a fixed ``seed`` (and fits each
    when ``estimated``); Mahalanobis distances to the MLE are affine invariant, so this is
    the law for any Gaussian.

    Args:
        n: number of rows (``n > d + 1`` when ``estimated``).
        d: dimension.
        level: coverage probability of the band.
        simultaneous: calibrate for all points together (default) or per point.
        estimated: the distances are to the MLE of the same data (default) rather than to
            the true parameters.
        num_sim: simulated data sets for the calibration (Monte Carlo error of the coverage
            about ``sqrt(level (1 - level) / num_sim)``).
        seed: the simulation's seed; the band is a deterministic function of its arguments.

    Returns:
        :class:`QQBand`.

    Raises:
        ValueError: bad ``n``, ``d`` or ``level``.
    """
    n, d = int(n), int(d)
    if d < 1 or n < 2 or (estimated and n <= d + 1):
        raise ValueError(
            f"qq_band needs d >= 1 and n > d + 1 (distances to a fitted Gaussian), got n={n}, d={d}"
        )
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return _qq_band_cached(
        n, d, float(level), bool(simultaneous), bool(estimated), int(num_sim), int(seed)
    )


@functools.lru_cache(maxsize=32)
def _qq_band_cached(n, d, level, simultaneous, estimated, num_sim, seed):
    gammainc, betainc, ctx = _special()
    i = np.arange(1, n + 1, dtype=np.float64)
    with ctx:
        if estimated:
            a_f, b_f = 0.5 * d, 0.5 * (n - d - 1)
            cdf = lambda q: np.asarray(betainc(a_f, b_f, np.clip(q / (n - 1), 0, 1)))  # noqa: E731

            def ppf_estimated(u):
                return (n - 1) * beta_ppf(u, a_f, b_f)

            ppf = ppf_estimated
        else:
            cdf = lambda q: np.asarray(gammainc(0.5 * d, 0.5 * q))  # noqa: E731

            def ppf_known(u):
                return chi2_ppf(np.minimum(u, np.nextafter(1.0, 0.0)), d)

            ppf = ppf_known

        if simultaneous:
            g = _calibrate(n, d, cdf, betainc, level, estimated, num_sim, seed)
        else:
            g = 0.5 * (1.0 - level)
        u_lo = beta_ppf(g, i, n - i + 1)
        u_hi = 1.0 - beta_ppf(g, n - i + 1, i)
        lower, upper = ppf(u_lo), ppf(u_hi)
    lower.setflags(write=False)
    upper.setflags(write=False)
    return QQBand(lower, upper, level, simultaneous, 1.0 - 2.0 * g)


def _calibrate(n, d, cdf, betainc, level, estimated, num_sim, seed, k=12):
    """The per-side tail probability ``g`` at which a fraction ``level`` of simulated Gaussian
    data sets lie inside the pointwise band at every point.

    For each simulated set the smallest tail probability over its ``n`` sorted points is
    needed. The exact ``Beta(i, n - i + 1)`` tail probabilities are computed only at the
    ``k`` most extreme points of each side (standardised by the simulated quartiles), and
    always at the ``k`` first and last points (where the Beta laws are most skewed): the
    minimum is among them, and the cost stays ``O(num_sim k)`` special-function calls
    instead of ``O(num_sim n)``.
    """
    rng = np.random.default_rng(seed)
    i = np.arange(1, n + 1, dtype=np.float64)
    chunk = max(1, min(num_sim, 1_000_000 // (n * d)))
    dist = np.empty((num_sim, n))
    for s in range(0, num_sim, chunk):
        z = rng.standard_normal((min(chunk, num_sim - s), n, d))
        dist[s : s + z.shape[0]] = (
            _sorted_distances_mle(z) if estimated else np.sort(np.sum(z * z, axis=2), axis=1)
        )
    # rank the points of each set by a cheap standardisation (median and quartiles over the
    # simulated sets, per side); the exact tail probabilities only at the candidates
    q1, med, q3 = np.quantile(dist, [0.25, 0.5, 0.75], axis=0)
    zs = np.where(dist < med, (dist - med) / (med - q1), (dist - med) / (q3 - med))
    k = min(k, n)
    low = np.argpartition(zs, k - 1, axis=1)[:, :k]
    high = np.argpartition(-zs, k - 1, axis=1)[:, :k]
    edges = np.broadcast_to(np.r_[np.arange(k), np.arange(n - k, n)], (num_sim, 2 * k))
    idx = np.concatenate([low, high, edges], axis=1)
    u, ii = cdf(np.take_along_axis(dist, idx, axis=1)), i[idx]
    # P(U_(i) <= u) and P(U_(i) >= u) = I_{1-u}(n - i + 1, i)
    lo_p = betainc(ii, n - ii + 1, u)
    hi_p = betainc(n - ii + 1, ii, 1.0 - u)
    extreme = np.minimum(lo_p, hi_p).min(axis=1)
    return float(np.quantile(extreme, 1.0 - level))
