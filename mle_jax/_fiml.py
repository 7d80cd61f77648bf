"""Full-information maximum likelihood: the Gaussian NLL of incomplete data from pattern
statistics (:mod:`mle_jax._patterns`), and its closed-form information.

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
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import cho_solve, solve_triangular

from ._nll import LOG2PI
from ._types import HIGHEST

if TYPE_CHECKING:
    from ._patterns import PatternStats

__all__ = [
    "PatternWhitening",
    "fiml_information",
    "fiml_newton",
    "fiml_nll",
    "fiml_nll_whitened",
    "masked_cov",
    "whiten_patterns",
]


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


def _vech_unpack(phi, d):
    """``phi = (mean, vech cov)`` ``(d + d(d+1)/2,)`` -> ``(mean (d,), cov (d, d))``."""
    rows, cols = np.tril_indices(d)
    low = jnp.zeros((d, d), phi.dtype).at[rows, cols].set(phi[d:])
    return phi[:d], low + jnp.tril(low, -1).T


def _vech_value_and_grad(phi, ps: PatternStats):
    """``(nll, gradient)`` of the FIML NLL in ``phi = (mean, vech cov)``."""
    d = ps.mask.shape[-1]
    rows, cols = np.tril_indices(d)
    twice = np.where(rows == cols, 1.0, 2.0)  # an off-diagonal moves cov[i, j] and [j, i]
    f, (g_mean, g_cov, *_) = _fiml_value_and_grads(*_vech_unpack(phi, d), *ps)
    return f, jnp.concatenate([g_mean, g_cov[rows, cols] * twice])


_vech_value_and_grad_jit = jax.jit(_vech_value_and_grad)


@jax.jit
def _newton_step(phi, f, g, ps: PatternStats):
    """One Newton step of the FIML NLL in ``phi = (mean, vech cov)`` with the closed-form
    Hessian ``H`` (:func:`fiml_information`), Armijo-backtracked (a trial whose covariance
    is not positive definite has a NaN loss and is halved).

    Returns:
        ``(phi, nll, grad, decrement, next_decrement)``: the new point, its NLL and
        gradient, the Newton decrement ``sqrt(g^T H^{-1} g)`` at the old point (NaN where
        ``H`` is not positive definite: the caller falls back to another solver) and at the
        new point with the old point's ``H``.
    """
    chol = jnp.linalg.cholesky(fiml_information(*_vech_unpack(phi, ps.mask.shape[-1]), ps))
    step = -cho_solve((chol, True), g)
    slope = jnp.dot(g, step, precision=HIGHEST)
    slack = 8 * jnp.finfo(f.dtype).eps * jnp.abs(f)

    def trial(t):
        return t, phi + t * step, *_vech_value_and_grad(phi + t * step, ps)

    def rejected(c):
        t, _, f_t, _ = c
        ok = jnp.isfinite(f_t) & (f_t <= f + 1e-4 * t * slope + slack)
        return ~ok & (t > 2.0**-30)

    _, new, f_new, g_new = jax.lax.while_loop(
        rejected, lambda c: trial(0.5 * c[0]), trial(jnp.asarray(1.0, phi.dtype))
    )
    after = jnp.dot(g_new, cho_solve((chol, True), g_new), precision=HIGHEST)
    return new, f_new, g_new, jnp.sqrt(-slope), jnp.sqrt(after)


def fiml_newton(ps: PatternStats, mean, cov, tol: float, max_steps: int = 30):
    """The saturated FIML estimate by Newton's method from a start near it (a fitted
    model's moments): quadratic convergence with the closed-form Hessian, a few steps of
    ``O(P d^4)`` each, where a first-order fit or EM take tens (lavaan's h1 model).

    Args:
        ps: :class:`PatternStats` (``P`` patterns, no batch axes).
        mean, cov: ``(d,)``, ``(d, d)`` the start (positive definite).
        tol: bound on the Newton decrement per row, ``sqrt(g^T H^{-1} g / n)``, at the
            returned point with the Hessian of the last step (scale-free: invariant under
            an affine change of the variables).
        max_steps: the most steps.

    Returns:
        ``(mean, cov, nll, converged)``, or ``None`` where the Hessian is not positive
        definite at an iterate (a start far from the estimate): use a global solver.
    """
    d = np.shape(ps.mask)[-1]
    rows, cols = np.tril_indices(d)
    cov = np.asarray(cov, np.float64)
    phi = jnp.asarray(np.concatenate([np.asarray(mean, np.float64), cov[rows, cols]]))
    ps = type(ps)(*(jnp.asarray(a, phi.dtype) for a in ps))  # on the device once
    root_n = np.sqrt(float(np.sum(ps.count)))
    f, g = _vech_value_and_grad_jit(phi, ps)
    converged = False
    for _ in range(max_steps):
        phi, f, g, dec, after = _newton_step(phi, f, g, ps)
        if not np.isfinite(float(dec)):
            return None
        converged = float(after) / root_n <= tol
        if converged:
            break
    return *_vech_unpack(phi, d), f, converged


# ------------------------------------------------------------ whitened per pattern (fit)


class PatternWhitening(NamedTuple):
    """Pattern statistics whitened per pattern on the host, for the fit's objective.

    With ``F`` the map from the optimiser's coordinates to those of the (column-scaled)
    statistics and ``Sigma0 = F F^T`` the preconditioner's covariance, pattern ``p``'s
    observed block is whitened by ``W_p = M_p chol(Sigma0_p)^{-1}`` (``Sigma0_p`` is
    ``Sigma0_oo`` padded with identity; ``W_p`` is zero on the missing rows). Its rows then
    see the mean ``H_p mu`` and covariance ``H_p C H_p^T`` (``H_p = W_p F``, orthonormal
    rows) of an optimiser-coordinate ``(mu, C)``: numbers near 1 wherever the fit is near the
    preconditioner, however ill-conditioned the data, so float32 keeps its digits. The
    whitened NLL differs from the NLL of the statistics by ``sum_p n_p log|chol(Sigma0_p)|``
    (a constant: :func:`whiten_patterns` returns it).

    Attributes:
        h: ``(..., P, d, d)`` ``H_p``.
        mean: ``(..., P, d)`` ``W_p xbar_p``.
        scatter: ``(..., P, d, d)`` ``W_p S_p W_p^T``.
    """

    h: Any
    mean: Any
    scatter: Any


def whiten_patterns(ps: PatternStats, factor) -> tuple[PatternWhitening, np.ndarray]:
    """Host float64 :class:`PatternWhitening` of ``ps`` for the map ``factor`` ``F``.

    Args:
        ps: pattern statistics ``(..., P, ...)`` (host).
        factor: ``(..., d, d)`` ``F`` (lower triangular), or ``None`` for the identity.

    Returns:
        ``(whitening, constant)``: the whitened statistics and ``(...)`` the NLL constant
        ``sum_p n_p log|chol(Sigma0_p)|`` (float64).
    """
    mask = np.asarray(ps.mask, np.float64)
    d = mask.shape[-1]
    f = np.eye(d) if factor is None else np.asarray(factor, np.float64)
    f = f[..., None, :, :]  # one per member, shared by its patterns
    sigma0 = f @ np.swapaxes(f, -1, -2)
    masked = sigma0 * mask[..., :, None] * mask[..., None, :] + (1.0 - mask)[..., None] * np.eye(d)
    chol = np.linalg.cholesky(masked)
    w = mask[..., :, None] * np.linalg.inv(chol)  # zero rows where missing
    logdet = np.sum(np.log(np.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    constant = np.sum(np.asarray(ps.count, np.float64) * logdet, axis=-1)
    wt = np.swapaxes(w, -1, -2)
    white = PatternWhitening(
        w @ f,
        (w @ np.asarray(ps.mean, np.float64)[..., None])[..., 0],
        w @ np.asarray(ps.scatter, np.float64) @ wt,
    )
    return white, constant


def fiml_nll_whitened(mean, chol, mask, count, white: PatternWhitening) -> jax.Array:
    """The FIML NLL of :func:`fiml_nll` from whitened statistics, less their constant.

    Args:
        mean: ``(d,)`` optimiser-coordinate mean.
        chol: ``(d, d)`` optimiser-coordinate Cholesky factor.
        mask, count: ``(P, d)``, ``(P,)`` of the pattern statistics.
        white: :class:`PatternWhitening` of them.

    Returns:
        ``()`` total NLL minus the constant of :func:`whiten_patterns`.
    """
    cov = jnp.matmul(chol, chol.T, precision=HIGHEST)
    dtype = cov.dtype
    return _fiml_total_h(
        mean, cov, jnp.asarray(white.h, dtype), jnp.asarray(mask, dtype),
        jnp.asarray(count, dtype), jnp.asarray(white.mean, dtype),
        jnp.asarray(white.scatter, dtype),
    )  # fmt: skip


def _fiml_parts_h(mean, cov, h, mask, xbar):
    """:func:`_fiml_parts` where pattern ``p`` sees ``(H_p mean, H_p cov H_p^T)``."""
    d = mean.shape[-1]
    hc = jnp.matmul(h, cov, precision=HIGHEST)
    sigma = jnp.matmul(hc, jnp.swapaxes(h, -1, -2), precision=HIGHEST)
    sigma = 0.5 * (sigma + jnp.swapaxes(sigma, -1, -2)) + jax.vmap(jnp.diag)(1 - mask)
    chol = jnp.linalg.cholesky(sigma)
    eye = jnp.broadcast_to(jnp.eye(d, dtype=cov.dtype), sigma.shape)
    linv = solve_triangular(chol, eye, lower=True)
    k = jnp.matmul(jnp.swapaxes(linv, -1, -2), linv, precision=HIGHEST)
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    r = mask * (xbar - jnp.einsum("pij,j->pi", h, mean, precision=HIGHEST))
    kr = jnp.einsum("pij,pj->pi", k, r, precision=HIGHEST)
    return k, logdet, r, kr, hc


@jax.custom_jvp
def _fiml_total_h(mean, cov, h, mask, count, xbar, scatter):
    k, logdet, r, kr, _ = _fiml_parts_h(mean, cov, h, mask, xbar)
    return jnp.sum(_fiml_per_pattern(mask, count, scatter, k, logdet, r, kr))


@_fiml_total_h.defjvp
def _fiml_total_h_jvp(primals, tangents):
    """As :func:`_fiml_total_jvp`, chained through ``H_p``: with ``G_p`` the derivative in
    pattern ``p``'s covariance and ``g_p`` in its mean, ``d/dcov = sum_p H_p^T G_p H_p``,
    ``d/dmean = sum_p H_p^T g_p`` and ``d/dH_p = 2 G_p H_p cov + g_p mean^T``."""
    mean, cov, h, mask, count, xbar, scatter = primals
    k, logdet, r, kr, hc = _fiml_parts_h(mean, cov, h, mask, xbar)
    value = jnp.sum(_fiml_per_pattern(mask, count, scatter, k, logdet, r, kr))
    prec = k * mask[:, :, None] * mask[:, None, :]
    psp = jnp.matmul(jnp.matmul(prec, scatter, precision=HIGHEST), prec, precision=HIGHEST)
    nkr = count[:, None] * kr
    g_sigma = 0.5 * (
        count[:, None, None] * prec - psp - nkr[:, :, None] * kr[:, None, :]
    )  # (P, d, d)
    g_mu = -nkr  # (P, d), in the pattern's coordinates
    ht = jnp.swapaxes(h, -1, -2)
    g_cov = jnp.sum(jnp.matmul(jnp.matmul(ht, g_sigma, precision=HIGHEST), h), axis=0)
    g_mean = jnp.einsum("pji,pj->i", h, g_mu, precision=HIGHEST)
    g_h = 2.0 * jnp.matmul(g_sigma, hc, precision=HIGHEST) + g_mu[:, :, None] * mean[None, None]
    g_count = 0.5 * (jnp.sum(mask, -1) * LOG2PI + logdet + jnp.sum(r * kr, axis=-1))
    mean_t, cov_t, h_t, _, count_t, xbar_t, scatter_t = tangents
    grads = (g_mean, g_cov, g_h, g_count, nkr, 0.5 * k)
    terms = zip(grads, (mean_t, cov_t, h_t, count_t, xbar_t, scatter_t), strict=True)
    return value, jnp.sum(jnp.stack([jnp.sum(g * t) for g, t in terms]))
