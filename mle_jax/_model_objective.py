"""The objective of any :class:`~mle_jax.Model`: pure math over its free coordinates.

The optimiser walks ``v``; the model's free coordinates are ``u = u0 + P v`` with ``P`` the
inverse Cholesky factor of the expected (Fisher) information at the start, so that the
problem is whitened there for every model and every choice of units. The NLL is evaluated
on the complete or pattern statistics standardised per column by a diagonal
:class:`~mle_jax._standardise.Affine`, and on the model's moments mapped by the same map.

Convergence (:meth:`ModelObjective.stationarity`) is the Newton decrement with the Fisher
information at the current point, ``sqrt(g_u^T F(u)^{-1} g_u)``: invariant to any smooth
change of the parameters and to the units of the data, so no start or parameterisation can
make a far point look converged.

Bounds (a variance of 0) lie at infinite free coordinates. Each coordinate is clipped to
``[lo, hi]``, where its parameter is within ``AT_BOUND`` of its start's distance from the
bound (:meth:`~mle_jax.constraints.Constraint.limits`): a parameter that reaches the limit
is held there (the objective is flat beyond it), reported at its bound (a Heywood case), and
left out of the decrement: there the gradient points into the bound, a Karush-Kuhn-Tucker
point.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.linalg import cho_solve

from ._fiml import _fiml_total, masked_cov
from ._models import Layout, Model
from ._nll import LOG2PI, mvn_nll_stats
from ._patterns import PatternStats, as_patterns
from ._standardise import Affine
from ._types import HIGHEST, ArrayLike
from .stats import SuffStats

__all__ = ["AT_BOUND", "ModelArgs", "ModelObjective"]

#: a free scalar is at its bound when its distance to it is this fraction of the start's
AT_BOUND = 1e-6


class ModelArgs(NamedTuple):
    """The traced data of a model fit (any leading batch axes for ``fit_many``).

    Attributes:
        stats: statistics of the standardised data: :class:`~mle_jax.stats.SuffStats` of
            complete data or :class:`PatternStats` (``P`` patterns) of incomplete data.
        affine: the per-column (diagonal) :class:`~mle_jax._standardise.Affine` standardiser.
        u0: ``(p,)`` the start's free coordinates.
        precond: ``(p, p)`` ``P``: ``u = u0 + P v``.
        precond_inv: ``(p, p)`` ``P^{-1}`` (gradients map back by its transpose).
        fixed: the values of the model's fixed leaves.
        lo, hi: ``(p,)`` the limits of ``u`` (``AT_BOUND`` of the start's distance to a
            bound; infinite where there is none).
        count: ``()`` rows (sum of weights).
        gate: ``()`` the decrement is evaluated only where the whitened gradient norm is
            below this (the fit's ``tol``; restarts re-whiten at the current point).
    """

    stats: SuffStats | PatternStats
    affine: Affine
    u0: ArrayLike
    precond: ArrayLike
    precond_inv: ArrayLike
    fixed: tuple
    lo: ArrayLike
    hi: ArrayLike
    count: ArrayLike
    gate: ArrayLike = float("inf")


@dataclasses.dataclass(frozen=True)
class ModelObjective:
    """The :class:`~mle_jax._solve.Objective` of a model: static, hashable."""

    model: Model
    layout: Layout

    # -- maps -------------------------------------------------------------------------------
    def free(self, v, args: ModelArgs):
        """``v -> u``, clipped to its limits."""
        u = args.u0 + jnp.matmul(args.precond, v, precision=HIGHEST)
        return jnp.clip(u, args.lo, args.hi)

    def moments(self, u, args: ModelArgs):
        """``u ->`` the model's ``(mean (d,), cov (d, d))`` in the user's units."""
        params, mean = self.layout.unflatten(u, args.fixed)
        cov = self.model.cov(params)
        if mean is None:
            mean = self.model.mean(params)
        return jnp.asarray(mean, u.dtype), jnp.asarray(cov, u.dtype)

    def std_moments(self, u, args: ModelArgs):
        """``u ->`` the model's moments in the standardised units of ``args.stats``."""
        mean, cov = self.moments(u, args)
        return args.affine.mean_to_std(mean), args.affine.cov_to_std(0.5 * (cov + cov.T))

    # -- the objective ----------------------------------------------------------------------
    def nll(self, u, args: ModelArgs) -> jax.Array:
        """``()`` the total NLL of the standardised statistics at ``u``."""
        mean, cov = self.std_moments(u, args)
        st = args.stats
        if isinstance(st, SuffStats):  # complete data (a static choice: the pytree's type)
            return mvn_nll_stats(mean, jnp.linalg.cholesky(cov), st.count, st.mean, st.scatter)
        return _fiml_total(mean, cov, st.mask, st.count, st.mean, st.scatter)

    def nll_smooth(self, u, args: ModelArgs) -> jax.Array:
        """:meth:`nll` of complete data by :func:`nll_stats_smooth` (a cheap Hessian)."""
        mean, cov = self.std_moments(u, args)
        st = args.stats
        return nll_stats_smooth(mean, cov, st.count, st.mean, st.scatter)

    def value(self, v, args: ModelArgs) -> jax.Array:
        return self.nll(self.free(v, args), args) / args.count

    def stationarity(self, v, grad, args: ModelArgs) -> jax.Array:
        """The Newton decrement with the Fisher information at ``u``, over the free scalars
        not at a bound; evaluated only once the whitened gradient norm is below ``args.gate``
        (``inf`` before: it costs a Jacobian of the model)."""
        u = self.free(v, args)
        g_u = jnp.matmul(args.precond_inv.T, grad, precision=HIGHEST)

        def decrement():
            info = fisher(self, u, args)
            keep = ((u > args.lo) & (u < args.hi)).astype(u.dtype)
            info = info * keep[:, None] * keep[None, :] + jnp.diag(1.0 - keep)
            g = g_u * keep
            chol = jnp.linalg.cholesky(info)
            value = jnp.sqrt(jnp.dot(g, cho_solve((chol, True), g)))
            return jnp.where(jnp.isfinite(value), value, jnp.inf)

        # the whitened gradient norm is the decrement in the start's metric: only where it
        # is within the tolerance is the one in the point's metric worth its Jacobian (at
        # d = 50, k = 5: 159 ms against 0.15 ms for the NLL and its gradient)
        small = jnp.sqrt(jnp.sum(grad * grad)) <= args.gate
        return jax.lax.cond(small, decrement, lambda: jnp.asarray(jnp.inf, u.dtype))

    def finish(self, v, args: ModelArgs):
        u = self.free(v, args)
        return u, self.nll(u, args)


def jacobians(obj: ModelObjective, u, args: ModelArgs):
    """``J_mean (d, p)`` and ``J_cov (p, d, d)`` of the standardised moments at ``u``."""
    j_mean, j_cov = jax.jacfwd(obj.std_moments)(u, args)
    return j_mean, jnp.moveaxis(j_cov, -1, 0)


@jax.custom_jvp
def spd_inverse(a: jax.Array) -> jax.Array:
    """``(d, d) -> (d, d)`` the inverse of a symmetric positive definite matrix (one
    Cholesky), whose derivative ``-A^{-1} dA A^{-1}`` is two matrix products: under
    ``jacfwd``/``vmap`` no batched triangular solves, which XLA's CPU runtime runs one small
    call at a time (``docs/design-notes.md``, "Fisher scoring")."""
    chol = jnp.linalg.cholesky(a)
    eye = jnp.eye(a.shape[-1], dtype=a.dtype)
    return cho_solve((chol, True), eye)


@spd_inverse.defjvp
def _spd_inverse_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    inv = spd_inverse(a)
    mm = lambda x, y: jnp.matmul(x, y, precision=HIGHEST)  # noqa: E731
    return inv, -mm(mm(inv, da), inv)


@jax.custom_jvp
def general_inverse(a: jax.Array) -> jax.Array:
    """``(d, d) -> (d, d)`` the inverse of a square matrix (LU), with the derivative
    ``-A^{-1} dA A^{-1}`` as two matrix products (see :func:`spd_inverse`)."""
    return jnp.linalg.inv(a)


@general_inverse.defjvp
def _general_inverse_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    inv = general_inverse(a)
    mm = lambda x, y: jnp.matmul(x, y, precision=HIGHEST)  # noqa: E731
    return inv, -mm(mm(inv, da), inv)


@jax.custom_jvp
def spd_logdet(a: jax.Array) -> jax.Array:
    """``(d, d) -> ()`` ``log det A`` of a symmetric positive definite matrix, with the
    derivative ``tr(A^{-1} dA)`` (see :func:`spd_inverse`)."""
    return 2.0 * jnp.sum(jnp.log(jnp.diagonal(jnp.linalg.cholesky(a))))


@spd_logdet.defjvp
def _spd_logdet_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    return spd_logdet(a), jnp.sum(spd_inverse(a) * da.T)


def nll_stats_smooth(mean, cov, count, xbar, scatter) -> jax.Array:
    """``()`` the total NLL of complete statistics (equal to
    :func:`~mle_jax._nll.mvn_nll_stats`) written with :func:`spd_inverse` and
    :func:`spd_logdet`: its Hessian is matrix products (Newton steps of Fisher scoring)."""
    d = mean.shape[-1]
    w = spd_inverse(cov)
    r = xbar - mean
    quad = jnp.dot(r, jnp.matmul(w, r, precision=HIGHEST), precision=HIGHEST)
    return 0.5 * (count * (d * LOG2PI + spd_logdet(cov) + quad) + jnp.sum(w * scatter))


def _fisher_block(cov, j_mean, j_cov, mask=None):
    """Per-row Fisher information of one pattern (``mask``: observed columns; ``None``:
    all): ``J_m^T W J_m + tr(W J_a W J_b) / 2`` with ``W`` the observed block's precision
    (matrix products only: see :func:`spd_inverse`)."""
    d = cov.shape[-1]
    if mask is not None:
        cov = masked_cov(cov, mask)
        j_mean = j_mean * mask[:, None]
        j_cov = j_cov * mask[None, :, None] * mask[None, None, :]
    w = spd_inverse(cov)
    if mask is not None:  # the unobserved block of masked_cov is the identity: drop it
        w = w * mask[:, None] * mask[None, :]
    p = j_cov.shape[0]
    mm = lambda x, y: jnp.matmul(x, y, precision=HIGHEST)  # noqa: E731
    wj = jnp.einsum("ik,akj->aij", w, j_cov, precision=HIGHEST)  # (p, d, d): W J_a
    # tr(W J_a W J_b) = sum_ij (W J_a)_ij (W J_b)_ji
    flat_a = wj.reshape(p, d * d)
    flat_b = jnp.swapaxes(wj, -1, -2).reshape(p, d * d)
    return mm(j_mean.T, mm(w, j_mean)) + 0.5 * mm(flat_a, flat_b.T)


def fisher(obj: ModelObjective, u, args: ModelArgs) -> jax.Array:
    """``(p, p)`` the complete-data Fisher information per row in ``u``: the metric of the
    preconditioner and of the convergence measure (positive definite iff the model is
    locally identified)."""
    j_mean, j_cov = jacobians(obj, u, args)
    _, cov = obj.std_moments(u, args)
    return _fisher_block(cov, j_mean, j_cov)


def expected_information(obj: ModelObjective, u, args: ModelArgs) -> jax.Array:
    """``(p, p)`` the total expected information of the data in ``u``: the sum over
    missingness patterns of their rows times the Fisher information of the observed block
    (for complete data ``n`` times :func:`fisher`)."""
    j_mean, j_cov = jacobians(obj, u, args)
    _, cov = obj.std_moments(u, args)
    st = as_patterns(args.stats)
    per = jax.vmap(_fisher_block, in_axes=(None, None, None, 0))(cov, j_mean, j_cov, st.mask)
    return jnp.einsum("p,pij->ij", st.count, per, precision=HIGHEST)


def observed_information(obj: ModelObjective, u, args: ModelArgs) -> jax.Array:
    """``(p, p)`` the Hessian of the total observed-data NLL in ``u`` (autodiff)."""
    return jax.hessian(obj.nll)(u, args)
