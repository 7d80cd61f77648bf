"""Between the data and the loop: the standardised problem, the start, and the way back.

``prepare`` turns :class:`~mle_jax._statistics.Data` and a :class:`~mle_jax.Gaussian` into
the :class:`~mle_jax._model.Problem` the loop sees; ``start`` gives the optimiser's starting
point; ``result`` maps a finished loop back to a :class:`~mle_jax.FitResult`. Every unit
conversion goes through the problem's :class:`~mle_jax._standardise.Affine`. Any leading batch
axes (``fit_many``) are carried through.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._bijections import MvnParams, chol_from_raw, raw_from_chol
from ._fiml import whiten_patterns
from ._missing_em import em
from ._model import Gaussian
from ._objective import FreeParams, Problem
from ._patterns import PatternStats, pad_patterns
from ._result import FitResult
from ._standardise import Affine
from ._statistics import Data, moments
from ._types import HIGHEST, Estimate, Status
from .stats import SuffStats

__all__ = ["Prepared", "best_point", "far_start", "prepare", "result", "start"]


class Prepared(NamedTuple):
    """A standardised problem and how it was made (host side).

    Attributes:
        problem: what the loop sees.
        affine: the map from the optimiser's coordinates to the user's (all parameters).
        data: the data's statistics in user units.
        model: the model.
        nll_offset: ``(...)`` float64: add to a total NLL in the problem's units to get the
            user's (``sum_j observed_j log A_jj`` of the map of the data).
    """

    problem: Problem
    affine: Affine
    data: Data
    model: Gaussian
    nll_offset: np.ndarray


def prepare(data: Data, model: Gaussian, precondition: str = "whiten", around=None) -> Prepared:
    """The standardised :class:`Problem` of checked data under ``model``.

    Complete statistics are mapped by the whole standardiser ``A``. Pattern statistics of
    incomplete data can only be mapped column by column (an observed sub-vector of ``A^{-1} x``
    would need the missing entries), so they are scaled by ``D = diag(row norms of A)`` and
    the rest, ``D^{-1} A``, preconditions the parameters instead (``Problem.precond``).
    ``around``: ``(mean, cov)`` in user units (host float64, batch axes first) to build
    the standardiser from instead of the data's moments (a restart, :func:`best_point`).
    """
    stats, dtype = data.stats, data.dtype
    d = stats.mean.shape[-1]
    model.check_dim(d, data.univariate)
    mean0, cov0 = moments(stats)
    if around is not None:
        mean0, cov0 = around
    elif stats.incomplete and precondition == "whiten":
        mean0, cov0 = _em_moments(stats, mean0, cov0)
    affine = model.standardiser(mean0, cov0, precondition)
    cast = lambda a: np.asarray(a, dtype)  # noqa: E731  (host arrays: jit transfers them)
    precond = None
    data_map = affine
    if stats.incomplete:
        scale = np.sqrt(np.sum(affine.factor**2, axis=-1))  # D, the row norms of A
        data_map = Affine.from_factor(affine.shift, scale)
        factor = affine.factor / scale[..., :, None]  # D^{-1} A, lower triangular
        if not np.array_equal(factor, np.broadcast_to(np.eye(d), factor.shape)):
            zero = np.zeros_like(affine.shift)
            precond = jax.tree.map(cast, Affine(zero, factor, np.linalg.inv(factor)))
        padded = pad_patterns(data_map.patterns_to_std(stats))
        std_stats = jax.tree.map(cast, padded)
        # each pattern whitened on the host in float64 by the preconditioner's covariance:
        # the loop's numbers are near 1 however ill-conditioned the data (float32 keeps its
        # digits); the NLL's constant goes to the offset
        white, constant = whiten_patterns(padded, None if precond is None else factor)
        white = jax.tree.map(cast, white)
    else:
        std_stats = SuffStats(*(cast(a) for a in affine.stats_to_std(stats)))
        white, constant = None, 0.0
    x = None
    if data.x is not None:  # form="raw": the data themselves, on their devices
        inv_t = cast(np.swapaxes(affine.inverse, -1, -2))
        x = jnp.matmul(data.x - cast(affine.shift)[..., None, :], inv_t, precision=HIGHEST)
    ridge = None
    if model.ridge:
        inv = data_map.inverse
        ridge = cast(model.ridge * inv @ np.swapaxes(inv, -1, -2))
    spec = model.spec(affine, univariate=data.univariate, dtype=dtype)
    batch = stats.batch_shape
    if spec.prior_data is not None and batch:  # one prior for every member
        prior = jax.tree.map(lambda a: jnp.broadcast_to(a, (*batch, *a.shape)), spec.prior_data)
        spec = dataclasses.replace(spec, prior_data=prior)
    problem = Problem(std_stats, x, data.weights, ridge, spec, precond, white)
    offset = data_map.nll_offset(stats.observed_counts()) + constant
    return Prepared(problem, affine, data, model, offset)


# at most 20 EM steps, fewer once EM's own error estimate is below 1e-3 (a whitening needs a
# few digits): docs/design-notes.md, "Missing data: start and preconditioner"
_EM_STEPS, _EM_TOL = 20, 1e-3
_em_jit = jax.jit(em, static_argnames=("max_iter",))


def _em_moments(ps: PatternStats, mean0, cov0):
    """A few EM steps from the pairwise moments: the preconditioner of incomplete data."""
    lift = jax.vmap if np.ndim(ps.count) > 1 else (lambda f: f)
    ps = pad_patterns(ps)
    one = lambda p, m, c: _em_jit(p, m, c, max_iter=_EM_STEPS, tol=_EM_TOL)[:2]  # noqa: E731
    mean, cov = lift(one)(ps, mean0, cov0)
    mean, cov = np.asarray(mean, np.float64), np.asarray(cov, np.float64)
    ok = np.all(np.isfinite(cov)) and np.all(np.linalg.eigvalsh(cov) > 0)
    return (mean, cov) if ok else (mean0, cov0)


def as_init(init, d: int) -> MvnParams:
    """A user's starting point: :class:`MvnParams`, anything with ``.mean``/``.cov`` (a fit, a
    closed form) or a ``(mean, cov)`` pair, in the user's units; any leading batch axes."""
    if isinstance(init, MvnParams):
        params = MvnParams(np.asarray(init.mean, np.float64), np.asarray(init.chol_raw, np.float64))
    else:
        if hasattr(init, "mean") and hasattr(init, "cov"):
            mean, cov = init.mean, init.cov
        elif isinstance(init, tuple) and len(init) == 2:
            mean, cov = init
        else:
            raise TypeError(
                "init must be MvnParams, an object with .mean and .cov, or a (mean, cov) pair"
            )
        mean, cov = np.asarray(mean, np.float64), np.asarray(cov, np.float64)
        if d == 1 and cov.ndim == mean.ndim:  # univariate: mean(s) and variance(s)
            mean, cov = mean[..., None], cov[..., None, None]
        if cov.shape != (*mean.shape, d) or mean.shape[-1:] != (d,):
            raise ValueError(
                f"init must be a mean of shape ({d},) and a covariance of shape ({d}, {d}); got "
                f"{mean.shape} and {cov.shape}"
            )
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(cov))):
            raise ValueError("init contains NaN or inf")
        try:
            chol = np.linalg.cholesky(0.5 * (cov + np.swapaxes(cov, -1, -2)))
        except np.linalg.LinAlgError:
            raise ValueError(_not_spd(cov)) from None
        params = MvnParams(mean, raw_from_chol(chol))
    if params.mean.shape[-1:] != (d,) or params.chol_raw.shape[-1:] != (d * (d + 1) // 2,):
        raise ValueError(f"init has mean shape {params.mean.shape}, expected ({d},)")
    return params


def _not_spd(cov) -> str:
    """Which (batched) init covariance is not symmetric positive definite."""
    flat = cov.reshape(-1, *cov.shape[-2:])
    bad = [k for k, c in enumerate(flat) if not np.all(np.linalg.eigvalsh(0.5 * (c + c.T)) > 0)]
    where = f" (members {bad[:10]})" if cov.ndim > 2 and bad else ""
    return f"init's covariance is not symmetric positive definite{where}"


START_RANGE = 4.0  # the default start's covariance is within this factor of the data's


def _bounded_start(cov: np.ndarray, ridge: float, chol_diag: np.ndarray) -> np.ndarray:
    """The independent start's covariance ``D``, with its eigenvalues relative to the
    sample covariance ``C`` (those of ``C^{-1/2} D C^{-1/2}``) clipped to
    ``[1/START_RANGE, START_RANGE]``.

    For strongly correlated or ill-conditioned data ``D`` is up to ``1/(1 - R^2)`` times too
    wide along some directions (1e8 at a condition number of 1e12), a start from which the
    optimiser crawls in log-Cholesky coordinates. Clipped, it keeps the direction of the
    independent start and a real distance from the answer (a factor up to ``START_RANGE``
    wherever the independent start is that far), but no further. Singular ``C`` (a prior
    or ridge-free fixed parts): the independent start, unchanged.
    """
    d = cov.shape[-1]
    with np.errstate(all="ignore"):
        try:
            lc = np.linalg.cholesky(cov + ridge * np.eye(d))
            m = np.linalg.solve(lc, chol_diag)  # C^{-1/2} D^{1/2} (one square root of it)
            w, v = np.linalg.eigh(m @ np.swapaxes(m, -1, -2))
            w = np.clip(w, 1 / START_RANGE, START_RANGE)
            inner = (v * w[..., None, :]) @ np.swapaxes(v, -1, -2)
            chol = np.linalg.cholesky(lc @ inner @ np.swapaxes(lc, -1, -2))
        except np.linalg.LinAlgError:
            return chol_diag
    return chol if np.all(np.isfinite(chol)) else chol_diag


def start(init, prep: Prepared) -> FreeParams:
    """The optimiser's starting point (standardised :class:`FreeParams`, batch axes first).

    Default: the moment-matched *independent* Gaussian (column means and variances, plus
    ridge), a cheap start that is not the answer for correlated data; for a full covariance
    its spread is bounded to within ``START_RANGE`` of the data's (:func:`_bounded_start`).
    """
    stats, affine = prep.data.stats, prep.affine
    batch = stats.batch_shape
    d = stats.mean.shape[-1]
    if init is None:
        mean, cov = moments(stats)
        var = cov.diagonal(axis1=-2, axis2=-1)
        chol = np.sqrt(var + prep.model.ridge)[..., None] * np.eye(d)
        if prep.model.covariance == "full" and d > 1:
            chol = _bounded_start(cov, prep.model.ridge, chol)
    else:
        params = as_init(init, d)
        mean, chol = params.mean, chol_from_raw(params.chol_raw)
        if batch and mean.shape[:-1] != batch:
            if mean.ndim > 1:
                raise ValueError(
                    f"init has mean shape {mean.shape}; expected {(*batch, d)} (one per member) "
                    f"or ({d},) (shared)"
                )
            mean = np.broadcast_to(mean, (*batch, d))
            chol = np.broadcast_to(chol, (*batch, d, d))
    mean_std, chol_std = affine.to_std(mean, chol)
    free = _free_params(prep.problem.spec, mean_std, chol_std)
    return FreeParams(*(np.asarray(a, prep.data.dtype) for a in free))


# a user's start this far from the data is "far": a fit from it that does not converge is
# restarted from the default start (fit, fit_many; docs/reliability.md, "Far starts")
FAR_MEAN = 10.0  # standard deviations of the data
FAR_COV = 1e4  # ratio of the start's variance to the data's, along any direction


def far_start(init, prep: Prepared) -> tuple[np.ndarray, str]:
    """Is the user's start far from the data? ``(far, how)``: ``far`` a bool per member
    (``()`` for one fit), ``how`` the words for the first far member.

    Far: the start's mean is more than ``FAR_MEAN`` of the data's standard deviations from
    their mean, or its covariance is more than ``FAR_COV`` times wider or narrower than the
    data's along some direction (eigenvalues of ``C^{-1/2} S0 C^{-1/2}``, ``C`` the data's
    covariance plus the ridge; its diagonal where ``C`` is singular). Fixed parts of the model
    are not compared.
    """
    stats, model = prep.data.stats, prep.model
    d = stats.mean.shape[-1]
    params = as_init(init, d)
    xbar, cov = moments(stats)
    cov = np.asarray(cov, np.float64) + model.ridge * np.eye(d)
    mean0 = np.broadcast_to(params.mean, xbar.shape)
    chol0 = np.broadcast_to(chol_from_raw(params.chol_raw), cov.shape)
    with np.errstate(all="ignore"):
        sd = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
        sd = np.where(sd > 0, sd, 1.0)
        z = np.max(np.abs(mean0 - xbar) / sd, axis=-1)
        try:
            lc = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            lc = sd[..., None] * np.eye(d)
        m = np.linalg.solve(lc, chol0)
        w = np.linalg.eigvalsh(m @ np.swapaxes(m, -1, -2))
    lo, hi = w[..., 0], w[..., -1]
    far_mean = (z > FAR_MEAN) & (model.fix_mean is None)
    far_cov = ((hi > FAR_COV) | ~(lo >= 1 / FAR_COV)) & (model.fix_cov is None)
    far = far_mean | far_cov
    how = ""
    if np.any(far):
        k = np.unravel_index(np.argmax(far), np.shape(far)) if np.ndim(far) else ()
        parts = []
        if far_mean[k]:
            parts.append(f"its mean is {float(z[k]):.1e} standard deviations from the data's")
        if far_cov[k]:
            parts.append(
                f"its covariance is {float(hi[k]):.1e} to {float(lo[k]):.1e} times the "
                "data's along some directions"
            )
        how = " and ".join(parts)
    return np.asarray(far), how


def _free_params(spec, mean, chol) -> FreeParams:
    """Standardised ``(mean (..., d), chol (..., d, d))`` -> host :class:`FreeParams` of
    ``spec`` (fixed parts dropped; any leading batch axes). On the host: a first fit compiles
    nothing but its loop. A factor that is not finite with a positive diagonal (a constant
    column) starts at the identity."""
    batch, d = mean.shape[:-1], mean.shape[-1]
    diag = np.diagonal(chol, axis1=-2, axis2=-1)
    ok = np.all(np.isfinite(chol), axis=(-2, -1)) & np.all(diag > 0, axis=-1)
    chol = np.where(ok[..., None, None], chol, np.eye(d))
    none = np.zeros((*batch, 0))
    if spec.fix_cov:
        raw = none
    elif spec.covariance == "full":
        raw = raw_from_chol(np.tril(chol))  # lower with a positive diagonal: its own factor
    else:
        var = np.sum(chol**2, axis=-1)  # the diagonal of chol chol^T
        raw = 0.5 * np.log(var if spec.covariance == "diag" else np.mean(var, -1, keepdims=True))
    return FreeParams(none if spec.fix_mean else mean, raw)


def _estimate(mean, cov, dtype, univariate) -> Estimate:
    """Host ``Estimate`` of ``dtype`` (``result`` puts it on the device)."""
    std = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    if univariate:
        mean, cov, std = mean[..., 0], cov[..., 0, 0], std[..., 0]
    return Estimate(*(np.asarray(a, dtype) for a in (mean, cov, std)))


def best_point(prep: Prepared, state) -> tuple[np.ndarray, np.ndarray]:
    """The loop's best point in user units, host float64: ``(mean (..., d), chol (..., d, d))``."""
    best = state.best
    return prep.affine.from_std(
        np.asarray(best.mean, np.float64), chol_from_raw(np.asarray(best.chol_raw, np.float64))
    )


def result(prep: Prepared, state, final_nll) -> FitResult:
    """Map a finished loop state (see :func:`mle_jax._solve.solve`) back to user units."""
    affine, data = prep.affine, prep.data
    dtype = data.dtype
    count = np.asarray(data.stats.total_count(), np.float64)
    offset = prep.nll_offset
    mean, chol = best_point(prep, state)  # host numpy from here: no per-op dispatches
    model = prep.model
    if model.fix_mean is not None:  # exactly what was fixed, not its round trip
        mean = np.broadcast_to(model.fix_mean.reshape(-1), mean.shape)
    cov = chol @ np.swapaxes(chol, -1, -2)
    if model.fix_cov is not None:
        cov = np.broadcast_to(model.fix_cov.reshape(cov.shape[-2:]), cov.shape)
    history = np.asarray(state.history, np.float64) * count[..., None] + offset[..., None]
    path = None
    if state.path is not None:
        steps = int(state.step) + 1
        p_mean = np.asarray(state.path.mean, np.float64)[:steps]
        p_chol = chol_from_raw(np.asarray(state.path.chol_raw, np.float64))[:steps]
        pm, pc = affine.from_std(p_mean, p_chol)
        path = _estimate(pm, pc @ np.swapaxes(pc, -1, -2), dtype, data.univariate)
    est = _estimate(mean, cov, dtype, data.univariate)
    cast = lambda a: np.asarray(a, dtype)  # noqa: E731
    fields = dict(  # one transfer of every field (a device_put each costs ~0.1 ms)
        mean=est.mean,
        cov=est.cov,
        std=est.std,
        params=MvnParams(cast(mean), cast(raw_from_chol(chol))),
        nll=cast(np.asarray(final_nll, np.float64) + offset),
        converged=np.asarray(state.status) == Status.CONVERGED,
        loss_history=cast(history),
        count=cast(count),
        path=path,
    )
    return FitResult(
        **jax.device_put(fields),
        status=state.status,
        num_steps=state.step,
        grad_norm=state.best_grad_norm,
        stats=data.stats,
        standardiser=affine,
        model=prep.model,
        univariate=data.univariate,
        columns=data.columns,
    )
