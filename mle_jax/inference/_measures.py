"""lavaan's fit measures (``fitMeasures``) of any model fit: the model read as a distance to
the saturated (unrestricted, h1) model and to the baseline (independence) model.

Conventions (lavaan's, ``estimator = "ML"``, ``likelihood = "normal"``):

* ``chisq = 2 (logl_h1 - logl)``, the likelihood-ratio statistic (normal likelihood, divisor
  ``N``, not Wishart's ``N - 1``); h1 is the saturated Gaussian: the sample moments for
  complete data, the FIML (EM) estimate for incomplete data, per group.
* the baseline is the independence model: every variable its own mean and variance (for
  incomplete data each from its observed values, the independence model's FIML estimate).
* ``rmsea = sqrt(G) sqrt(max(chisq - df, 0) / (df N))`` with ``N`` (lavaan; semopy uses
  ``N - 1``) and ``G`` groups; its 90% interval inverts the noncentral chi-square CDF.
* ``srmr`` (Bentler's): the root mean square of the residual correlations (and of the
  standardised mean residuals when means are modelled), averaged over groups by size.
* ``npar`` counts free parameters; a saturated mean (a model without a mean structure on
  complete data) is not counted, as lavaan does not count it, so ``aic``/``bic`` match.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .._fiml import fiml_newton
from .._patterns import PatternStats, pad_patterns
from .._solve import default_tol
from .._types import Status
from ._errors import warn_unconverged

__all__ = ["fit_measures"]

_LOG2PI = math.log(2.0 * math.pi)


def _block_stats(stats, block):
    """``(count, mean, cov, complete)`` of one column block (a group), or its pattern
    statistics when incomplete."""
    if not stats.incomplete:
        n = float(stats.count)
        return n, np.asarray(stats.mean), np.asarray(stats.scatter) / n, None
    idx = np.asarray(block)
    mask = np.asarray(stats.mask)[:, idx] > 0
    count = np.asarray(stats.count)
    live = mask.any(axis=1) & (count > 0)
    sub = PatternStats(
        mask=np.asarray(stats.mask)[live][:, idx],
        count=count[live],
        mean=np.asarray(stats.mean)[live][:, idx],
        scatter=np.asarray(stats.scatter)[live][:, idx][:, :, idx],
    )
    if sub.mask.all():  # complete within the block: one full pattern
        n = float(sub.count.sum())
        return n, sub.mean[0], sub.scatter[0] / n, None
    return float(sub.count.sum()), None, None, sub


def _gaussian_logl(n: float, cov: np.ndarray) -> float:
    """The saturated log-likelihood of complete data at the sample moments."""
    p = cov.shape[0]
    sign, logdet = np.linalg.slogdet(cov)
    return -0.5 * n * (p * _LOG2PI + logdet + p) if sign > 0 else -np.inf


def _independence_logl(sub: PatternStats) -> float:
    """The independence model's log-likelihood: each column from its observed values."""
    n = sub.count[:, None] * (sub.mask > 0)
    nj = n.sum(0)
    mean = (n * sub.mean).sum(0) / nj
    scatter = np.einsum("pjj->pj", sub.scatter) + n * (sub.mean - mean) ** 2
    var = scatter.sum(0) / nj
    return float(np.sum(-0.5 * nj * (_LOG2PI + np.log(var) + 1.0)))


def _h1(count, mean, cov, sub, start):
    """``(logl, mean, cov)`` of the saturated model of one block; incomplete data: the FIML
    estimate by Newton's method (:func:`~mle_jax._fiml.fiml_newton`) started at ``start``,
    the model's fitted ``(mean, cov)`` of the block (near the saturated estimate for a model
    that fits: 3-5 steps), or by the gradient fit from there where Newton cannot go."""
    if sub is None:
        return _gaussian_logl(count, cov), mean, cov
    from .._fit import fit

    tol = _tight_tol()  # None: float32, whose default tolerance the Newton fit takes too
    newton_tol = default_tol(jnp.float32) if tol is None else tol
    newton = fiml_newton(pad_patterns(sub), *start, tol=newton_tol)
    if newton is not None and newton[3]:
        mean, cov, nll, _ = newton
        return -float(nll), np.asarray(mean, np.float64), np.asarray(cov, np.float64)
    res = fit(sub, tol=tol, init=start)  # far from the start: the global fit
    if int(np.asarray(res.status)) != Status.CONVERGED:
        warn_unconverged(res, "the saturated (h1) model")
    return -float(res.nll), np.asarray(res.mean, np.float64), np.asarray(res.cov, np.float64)


def _srmr(s_mean, s_cov, m_mean, m_cov, means: bool) -> float:
    """Bentler's SRMR: residuals scaled by the sample standard deviations."""
    s_sd = np.sqrt(np.diagonal(s_cov))
    resid = (s_cov - m_cov) / np.outer(s_sd, s_sd)
    rows, cols = np.tril_indices(s_cov.shape[0])
    squares = list(resid[rows, cols] ** 2)
    if means:
        squares += list(((s_mean - m_mean) / s_sd) ** 2)
    return math.sqrt(float(np.mean(squares)))


def _chi2_sf(x: float, df: float) -> float:
    from scipy.stats import chi2

    return float(chi2.sf(x, df)) if df > 0 else float("nan")


def _rmsea_ci(chisq: float, df: float, n: float, groups: int, level: float = 0.90):
    """lavaan's interval: the noncentrality ``lambda`` at which ``P(X <= chisq)`` is
    ``(1 + level) / 2`` (lower) and ``(1 - level) / 2`` (upper), as an RMSEA."""
    from scipy.optimize import brentq
    from scipy.stats import ncx2

    if df <= 0:
        return float("nan"), float("nan")

    def root(target):
        f = lambda lam: ncx2.cdf(chisq, df, lam) - target  # noqa: E731
        if f(0.0) < 0:  # already below the target at no noncentrality
            return 0.0
        hi = max(chisq, 1.0)
        while f(hi) > 0:
            hi *= 2.0
        return float(brentq(f, 0.0, hi, xtol=1e-12))  # type: ignore[arg-type]

    lo = root((1.0 + level) / 2.0)
    up = root((1.0 - level) / 2.0)
    scale = math.sqrt(groups) / math.sqrt(n * df)
    return math.sqrt(lo) * scale, math.sqrt(up) * scale


def fit_measures(result) -> dict:
    """lavaan's ``fitMeasures(fit)`` of a fit, under lavaan's names (see the module
    docstring for the conventions).

    Args:
        result: one fit of a :class:`~mle_jax.Model` (an :class:`~mle_jax.SEM`, a factor
            model, any model).

    Returns:
        A dict: ``npar``, ``ntotal``, ``logl``, ``unrestricted.logl``, ``baseline.logl``,
        ``aic``, ``bic``, ``bic2``, ``chisq``, ``df``, ``pvalue``, ``baseline.chisq``,
        ``baseline.df``, ``baseline.pvalue``, ``cfi``, ``tli``, ``rmsea``,
        ``rmsea.ci.lower``, ``rmsea.ci.upper``, ``rmsea.pvalue``, ``srmr``.
    """
    if result.layout is None:
        raise TypeError("fit_measures takes a Model fit (mj.SEM, mj.FactorAnalysis, ...)")
    if result.batch_shape:
        raise ValueError("fit_measures takes one fit: pass res[k] for a fit_many member")
    warn_unconverged(result, "fit measures")
    model, stats, layout = result.model, result.stats, result.layout
    d = np.shape(stats.mean)[-1]
    blocks = model.blocks() or (tuple(range(d)),)
    incomplete = model.is_incomplete(stats)
    means = not (layout.free_mean and not incomplete)
    npar = layout.size - (0 if means else layout.free_mean)
    m_mean = np.asarray(result.mean, np.float64)
    m_cov = np.asarray(result.cov, np.float64)
    n_total = float(result.count)
    h1 = base = 0.0
    moments = base_par = 0
    srmr = 0.0
    for block in blocks:
        idx = np.asarray(block)
        p = len(idx)
        count, mean, cov, sub = _block_stats(stats, idx)
        start = (m_mean[idx], m_cov[np.ix_(idx, idx)])
        logl_h1, s_mean, s_cov = _h1(count, mean, cov, sub, start)
        h1 += logl_h1
        if sub is None:
            var = np.diagonal(np.asarray(cov))
            base += float(np.sum(-0.5 * count * (_LOG2PI + np.log(var) + 1.0)))
        else:
            base += _independence_logl(sub)
        moments += p * (p + 1) // 2 + (p if means else 0)
        base_par += p + (p if means else 0)
        srmr += count / n_total * _srmr(s_mean, s_cov, m_mean[idx], m_cov[np.ix_(idx, idx)], means)
    logl = -float(result.nll)
    groups = len(blocks)
    df = moments - npar
    chisq = max(0.0, 2.0 * (h1 - logl))
    b_df = moments - base_par
    b_chisq = max(0.0, 2.0 * (h1 - base))
    t1 = max(chisq - df, 0.0)
    t2 = max(chisq - df, b_chisq - b_df, 0.0)
    cfi = 1.0 - t1 / t2 if t2 > 0 else 1.0
    tli = (b_chisq / b_df - chisq / df) / (b_chisq / b_df - 1.0) if df > 0 and b_df > 0 else 1.0
    rmsea = math.sqrt(groups) * math.sqrt(t1 / (df * n_total)) if df > 0 else 0.0
    lower, upper = _rmsea_ci(chisq, df, n_total, groups)
    if df > 0:
        from scipy.stats import ncx2

        close = 1.0 - float(ncx2.cdf(chisq, df, n_total * df * 0.05**2 / groups))
    else:
        close = float("nan")
    return {
        "npar": npar,
        "ntotal": n_total,
        "logl": logl,
        "unrestricted.logl": h1,
        "baseline.logl": base,
        "aic": -2.0 * logl + 2.0 * npar,
        "bic": -2.0 * logl + npar * math.log(n_total),
        "bic2": -2.0 * logl + npar * math.log((n_total + 2.0) / 24.0),
        "chisq": chisq,
        "df": df,
        "pvalue": _chi2_sf(chisq, df),
        "baseline.chisq": b_chisq,
        "baseline.df": b_df,
        "baseline.pvalue": _chi2_sf(b_chisq, b_df),
        "cfi": cfi,
        "tli": tli,
        "rmsea": rmsea,
        "rmsea.ci.lower": lower,
        "rmsea.ci.upper": upper,
        "rmsea.pvalue": close,
        "srmr": srmr,
    }


def _tight_tol() -> float | None:
    """The saturated fit's tolerance: 1e-10 in float64; float32's default (1e-5) without x64,
    where statistics are computed in float32 and 1e-10 is out of reach."""
    return 1e-10 if jax.config.read("jax_enable_x64") else None
