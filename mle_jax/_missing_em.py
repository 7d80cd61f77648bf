"""Oracles for the missing-data MLE: EM on pattern statistics and the monotone closed form.

Both are independent of the gradient fit of :func:`mle_jax._missing.fiml_nll`: EM only uses
the Gaussian conditional distribution (regression of missing on observed coordinates), and the
monotone closed form only least squares.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

from ._fiml import masked_cov
from ._patterns import PatternStats
from ._types import HIGHEST

__all__ = ["EMResult", "em", "em_step", "em_tol", "monotone_mle"]


def em_tol(dtype) -> float:
    """EM's default bound on the remaining error: 1e-12 (float64), 1e-5 (float32)."""
    return 1e-12 if np.dtype(dtype) == np.float64 else 1e-5


class EMResult(NamedTuple):
    """What :func:`em` returns (unpacks as ``mean, cov, num_iter, converged``).

    Attributes:
        mean: ``(d,)``.
        cov: ``(d, d)`` (divisor N).
        num_iter: ``()`` int, EM steps taken.
        converged: ``()`` bool, the stopping criterion was met before ``max_iter``.
    """

    mean: jax.Array
    cov: jax.Array
    num_iter: jax.Array
    converged: jax.Array


def _expected_stats(mean, cov, mask, count, xbar, scatter):
    """E-step for one pattern: expected complete-data ``(mean, scatter)`` of its rows.

    With ``K = M Sigma_p^{-1} M`` (``Sigma_oo^{-1}`` embedded, zero elsewhere) the regression
    of all coordinates on the observed ones is ``A = Sigma K`` (``Sigma_.o Sigma_oo^{-1}``).
    Row ``i`` is completed as ``xhat_i = M x_i + (I - M)(mu + A (x_i - mu))``, an affine map
    ``G x_i + c`` with ``G = M + (I - M) A``, so the completed rows have mean ``G xbar + c`` and
    scatter ``G S G^T``; the conditional covariance ``(I-M)(Sigma - A Sigma)(I-M)`` adds
    ``n_p`` times itself.
    """
    m = mask.astype(cov.dtype)
    chol = jnp.linalg.cholesky(masked_cov(cov, m))
    linv_m = solve_triangular(chol, jnp.diag(m), lower=True)  # L_p^{-1} M
    k = jnp.matmul(linv_m.T, linv_m, precision=HIGHEST)
    a = jnp.matmul(cov, k, precision=HIGHEST)
    miss = 1 - m
    g = jnp.diag(m) + miss[:, None] * a
    xhat = m * xbar + miss * (mean + jnp.matmul(a, m * (xbar - mean), precision=HIGHEST))
    cond = miss[:, None] * (cov - jnp.matmul(a, cov, precision=HIGHEST)) * miss[None, :]
    cond = 0.5 * (cond + cond.T)
    s_hat = jnp.matmul(jnp.matmul(g, scatter, precision=HIGHEST), g.T, precision=HIGHEST)
    return xhat, s_hat + count * cond


def em_step(mean: jax.Array, cov: jax.Array, ps: PatternStats) -> tuple[jax.Array, jax.Array]:
    """One EM step: ``(d,)``, ``(d, d)`` -> updated ``(mean, cov)`` (covariance divisor N)."""
    count = jnp.asarray(ps.count, cov.dtype)
    xhat, s_hat = jax.vmap(_expected_stats, in_axes=(None, None, 0, 0, 0, 0))(
        mean, cov, jnp.asarray(ps.mask), count,
        jnp.asarray(ps.mean, cov.dtype), jnp.asarray(ps.scatter, cov.dtype),
    )  # fmt: skip
    total = jnp.sum(count)
    new_mean = jnp.matmul(count, xhat, precision=HIGHEST) / total
    dev = xhat - new_mean[None, :]
    new_cov = jnp.sum(s_hat, 0) + jnp.matmul(dev.T, count[:, None] * dev, precision=HIGHEST)
    new_cov = new_cov / total
    return new_mean, 0.5 * (new_cov + new_cov.T)


def _change(mean, cov, new_mean, new_cov) -> jax.Array:
    """Scale-free step size: mean change in std units, covariance change in correlation units."""
    std = jnp.sqrt(jnp.diagonal(new_cov))
    dm = jnp.max(jnp.abs(new_mean - mean) / std)
    dc = jnp.max(jnp.abs(new_cov - cov) / (std[:, None] * std[None, :]))
    return jnp.maximum(dm, dc)


def em(
    ps: PatternStats,
    mean0: jax.Array,
    cov0: jax.Array,
    *,
    max_iter: int = 200_000,
    tol: float = 1e-12,
) -> EMResult:
    """Expectation-maximisation for the Gaussian MLE with missing values, on pattern stats.

    Pure and fixed-shape (``lax.while_loop``; jit/vmap-able). EM converges linearly with a
    rate ``rho`` (the largest fraction of missing information), so a step of size ``delta``
    leaves an error of about ``delta * rho / (1 - rho)``. The loop therefore stops when that
    estimate, with ``rho`` estimated as the ratio of the last two step sizes (capped at
    ``1 - 1e-6``), is below ``tol``; on flat problems (rho near 1) this takes many more
    steps than a plain ``delta < tol`` rule, which would stop far from the fixed point.

    Args:
        ps: :class:`PatternStats` (identified; see ``check_identified``).
        mean0: ``(d,)`` start.
        cov0: ``(d, d)`` positive definite start (e.g. ``_patterns.start``).
        max_iter: most EM steps.
        tol: bound on the estimated remaining error, scale-free (std and correlation units).

    Returns:
        :class:`EMResult` ``(mean, cov, num_iter, converged)``.
    """
    cov0 = jnp.asarray(cov0)
    mean0 = jnp.asarray(mean0, cov0.dtype)
    bound = jnp.asarray(tol, cov0.dtype)
    inf = jnp.asarray(jnp.inf, cov0.dtype)

    def cond(state):
        _, _, it, _, err = state
        return (it < max_iter) & (err > bound)

    def body(state):
        mean, cov, it, prev, _ = state
        new_mean, new_cov = em_step(mean, cov, ps)
        delta = _change(mean, cov, new_mean, new_cov)
        rho = jnp.clip(delta / jnp.where(prev > 0, prev, 1.0), 0.0, 1.0 - 1e-6)
        err = jnp.where(jnp.isfinite(prev), delta * rho / (1.0 - rho) + delta, inf)
        err = jnp.where(jnp.isfinite(delta), err, -inf)  # non-finite: stop (not converged)
        return new_mean, new_cov, it + 1, delta, err

    state = (mean0, cov0, jnp.asarray(0), inf, inf)
    mean, cov, it, _, err = jax.lax.while_loop(cond, body, state)
    converged = (err <= bound) & (err >= 0) & jnp.all(jnp.isfinite(cov))
    return EMResult(mean, cov, it, converged)


def monotone_mle(x) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form MLE for a monotone missingness pattern (factored likelihood; host numpy).

    The pattern is monotone when the columns can be ordered so that each row observes a
    prefix of them. Then the likelihood factors (Anderson 1957; Little & Rubin, ch. 7):
    the always-observed block gets its complete-data MLE from all rows, and each later
    block is regressed (least squares with intercept, residual covariance divisor = its row
    count) on all earlier columns over the rows that observe it; the regressions are then
    composed into the joint mean and covariance. Rows with no observed entry are ignored.

    Args:
        x: ``(n, d)`` data, NaN for missing.

    Returns:
        ``(mean, cov)``: ``(d,)`` and ``(d, d)`` float64, in the original column order.

    Raises:
        ValueError: the pattern is not monotone, or a block has too few rows.
    """
    x = np.asarray(x, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    obs = ~np.isnan(x)
    keep = obs.any(axis=1)
    x, obs = x[keep], obs[keep]
    n, d = x.shape
    perm = np.argsort(-obs.sum(0), kind="stable")
    obs_p, x_p = obs[:, perm], x[:, perm]
    lengths = obs_p.sum(1)
    if not np.all(obs_p == (np.arange(d)[None, :] < lengths[:, None])):
        bad = int(np.flatnonzero(np.any(obs_p != (np.arange(d) < lengths[:, None]), 1))[0])
        raise ValueError(
            f"the missingness pattern is not monotone (row {bad} among the rows with an "
            "observed entry breaks it); use EM or the FIML fit instead"
        )
    cuts = np.unique(lengths)
    k0 = int(cuts[0])
    if k0 == 0:
        raise ValueError("some column is never observed")
    first = x_p[:, :k0]
    mean = first.mean(0)
    cov = (first - mean).T @ (first - mean) / n
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        rows = lengths >= hi
        m = int(rows.sum())
        if m <= lo:
            raise ValueError(f"only {m} rows observe columns {perm[lo:hi].tolist()}: too few")
        z = x_p[rows, :lo]
        y = x_p[rows, lo:hi]
        zc, yc = z - z.mean(0), y - y.mean(0)
        beta = np.linalg.lstsq(zc, yc, rcond=None)[0]  # (lo, hi-lo)
        alpha = y.mean(0) - z.mean(0) @ beta
        res = yc - zc @ beta
        resid_cov = res.T @ res / m
        new_mean = alpha + mean @ beta
        cross = cov @ beta  # Cov(z, y)
        cov = np.block([[cov, cross], [cross.T, resid_cov + beta.T @ cov @ beta]])
        mean = np.concatenate([mean, new_mean])
    inv = np.argsort(perm)
    return mean[inv], cov[np.ix_(inv, inv)]
