"""Standard errors and Wald intervals from the observed information, read off a result.

The observed information is ``jax.hessian`` of the total objective the fit minimised (NLL,
plus ridge penalty, minus log prior) in the model's unconstrained parameters ``u``; its
inverse is the covariance of ``u``, and the delta method with the exact Jacobian
``J = d theta / d u`` (``jax.jacfwd``) gives ``Cov(theta) = J H^{-1} J^T`` for
``theta = (mean, the d(d+1)/2 distinct covariance entries, the standard deviations)``. At a
stationary point this is the inverse Hessian in ``theta`` whatever the parameterisation; for
a MAP fit it is the Laplace approximation of the posterior covariance. The objective is
rebuilt from ``result.stats``: no data are needed, and a batch of fits is one ``vmap``.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.scipy.stats import norm

from .._batch import default_block, map_blocks
from .._objective import count, free_from_mean_cov, mean_chol, objective
from .._problem import Prepared, prepare
from .._statistics import Data
from .._types import ConvergenceWarning, Estimate

__all__ = ["Intervals", "StandardErrors", "standard_errors", "wald_intervals"]


class StandardErrors(NamedTuple):
    """Standard errors of a fit (user units), from the inverse observed information.

    Leading batch axes (a :func:`~mle_jax.fit_many` result) come first in every array.

    Attributes:
        mean: ``(d,)`` (``()`` univariate) standard errors of the mean.
        cov: ``(d, d)`` symmetric standard errors of every covariance element (``()``: of
            the variance).
        std: ``(d,)`` (``()``) standard errors of the standard deviations.
        vcov: ``(p, p)`` covariance matrix of ``theta = (mean, cov[i, j] for i >= j
            row-major)``, ``p = d + d(d+1)/2``; rows of fixed parts are zero.
        names: the ``p`` names of ``theta`` (``mean[a]``, ``var[a]``, ``cov[b,a]``, ...).
        unconstrained_vcov: ``(q, q)`` inverse Hessian in the model's free unconstrained
            parameters (standardised units).
    """

    mean: jax.Array
    cov: jax.Array
    std: jax.Array
    vcov: jax.Array
    names: tuple
    unconstrained_vcov: jax.Array


class Intervals(NamedTuple):
    """Confidence intervals: ``lower`` and ``upper`` :class:`~mle_jax.Estimate` s (mean, cov,
    std, same shapes as the fit) and the ``level``."""

    lower: Estimate
    upper: Estimate
    level: float


def setup(result) -> tuple[Prepared, Any]:
    """The fit's objective, rebuilt from ``result.stats`` with a per-column standardiser (so
    that a profiled parameter is one coordinate), and the fit's point in its parameters."""
    dtype = np.dtype(jnp.asarray(result.mean).dtype)
    data = Data(result.stats, result.univariate, dtype, columns=result.columns)
    prep = prepare(data, result.model, "scale")
    d = result.stats.mean.shape[-1]
    batch = tuple(np.shape(result.nll))
    mean = np.reshape(np.asarray(result.mean, np.float64), (*batch, d))
    cov = np.reshape(np.asarray(result.cov, np.float64), (*batch, d, d))
    mean_std = prep.affine.to_std(mean, np.eye(d))[0]
    cov_std = prep.affine.cov_to_std(cov)
    fn = _free_many if batch else _free
    free = fn(prep.problem.spec, np.asarray(mean_std, dtype), np.asarray(cov_std, dtype))
    return prep, free


_free = jax.jit(free_from_mean_cov)
_free_many = jax.jit(jax.vmap(free_from_mean_cov))


def theta(spec, free):
    """Free parameters -> ``(mean (d,), tril(cov) (d(d+1)/2,), std (d,))`` in user units."""
    mean, chol = mean_chol(spec, free)
    mean_u, chol_u = spec.affine.from_std(mean, chol)
    cov_u = chol_u @ chol_u.T
    rows, cols = np.tril_indices(mean.shape[0])
    return jnp.concatenate([mean_u, cov_u[rows, cols], jnp.sqrt(jnp.diagonal(cov_u))])


def param_covariance(problem, free):
    """Pure, unbatched: ``(Cov(theta), H^{-1})`` at ``free`` (see the module docstring)."""
    flat, unravel = ravel_pytree(free)
    n = count(problem)
    grad = jax.grad(lambda u: n * objective(unravel(u), problem))
    q = flat.shape[0]
    # Hessian-vector products in blocks: memory ~ block * (size of one gradient's work),
    # which for pattern statistics is (patterns, d, d) per direction
    work = int(np.prod(np.shape(problem.stats.scatter)))
    block = max(1, min(q, _HVP_ELEMENTS // max(work, 1)))
    hvp = lambda v: jax.jvp(grad, (flat,), (v,))[1]  # noqa: E731
    hess = jax.lax.map(hvp, jnp.eye(q, dtype=flat.dtype), batch_size=block)
    eye = jnp.eye(flat.shape[0], dtype=flat.dtype)
    vu = jax.scipy.linalg.cho_solve((jnp.linalg.cholesky(hess), True), eye)
    jac = jax.jacfwd(lambda u: theta(problem.spec, unravel(u)))(flat)
    return jac @ vu @ jac.T, vu


_HVP_ELEMENTS = 1 << 24  # elements of the statistics' size worked on at once (~128 MiB)
_param_covariance = jax.jit(param_covariance)
_param_covariance_many = jax.jit(
    lambda problem, free: map_blocks(param_covariance, (problem, free), default_block())
)


def names(d: int, univariate: bool, columns=None):
    """Names of ``theta``'s mean and covariance entries, and of the standard deviations."""
    if univariate:
        return ("mean", "var"), ("std",)
    lab = list(columns) if columns is not None else [str(i) for i in range(d)]
    rows, cols = np.tril_indices(d)
    means = [f"mean[{lab[i]}]" for i in range(d)]
    covs = [
        f"var[{lab[i]}]" if i == j else f"cov[{lab[i]},{lab[j]}]"
        for i, j in zip(rows, cols, strict=True)
    ]
    return tuple(means + covs), tuple(f"std[{lab[i]}]" for i in range(d))


def warn_unconverged(result, what: str) -> None:
    """A :class:`~mle_jax.ConvergenceWarning` when inference runs on unconverged fits."""
    converged = np.asarray(result.converged)
    if not converged.all():
        which = "the fit" if converged.ndim == 0 else f"{int((~converged).sum())} fit(s)"
        warnings.warn(
            f"{what} of {which} that did not converge: the point is not a stationary point, "
            "so the numbers describe the wrong place; refit with more max_steps",
            ConvergenceWarning,
            stacklevel=3,
        )


def standard_errors(result) -> StandardErrors:
    """Standard errors of a fit (or of every fit of a ``fit_many`` result, in one call).

    For complete data at the MLE these equal the closed forms ``SE(mean_i) = sqrt(S_ii / n)``,
    ``SE(cov_ij) = sqrt((S_ii S_jj + S_ij^2) / n)`` and, univariate,
    ``SE(std) = std / sqrt(2 n)`` (``S`` the MLE covariance, ``n`` the sum of the weights).

    Args:
        result: a :class:`~mle_jax.FitResult` of :func:`~mle_jax.fit` or
            :func:`~mle_jax.fit_many` (its model and statistics are read from it).

    Returns:
        :class:`StandardErrors`, leading batch axes first; NaN where the Hessian is not
        positive definite (not a minimum).

    Examples:
        >>> import numpy as np, mle_jax as mj
        >>> x = np.random.default_rng(0).normal(1.0, 2.0, size=400)
        >>> se = mj.standard_errors(mj.fit(x))
        >>> bool(np.isclose(se.std, x.std() / np.sqrt(2 * 400)))
        True
    """
    warn_unconverged(result, "standard errors")
    prep, free = setup(result)
    batch = tuple(np.shape(result.nll))
    fn = _param_covariance_many if batch else _param_covariance
    vtheta, vu = fn(prep.problem, free)
    vtheta = np.asarray(vtheta, np.float64)
    diag = vtheta.diagonal(axis1=-2, axis2=-1)
    se = np.where(np.isfinite(diag), np.sqrt(np.maximum(diag, 0.0)), np.nan)
    d = result.stats.mean.shape[-1]
    m = d * (d + 1) // 2
    se_mean, se_tril, se_std = se[..., :d], se[..., d : d + m], se[..., d + m :]
    rows, cols = np.tril_indices(d)
    se_cov = np.zeros((*batch, d, d))
    se_cov[..., rows, cols] = se_tril
    se_cov[..., cols, rows] = se_tril
    if result.univariate:
        se_mean, se_cov, se_std = se_mean[..., 0], se_cov[..., 0, 0], se_std[..., 0]
    dtype = prep.data.dtype
    p = d + m
    fields = (se_mean, se_cov, se_std, vtheta[..., :p, :p])  # one transfer, no compiled copies
    mean, cov, std, vcov = jax.device_put(tuple(np.asarray(a, dtype) for a in fields))
    return StandardErrors(
        mean=mean,
        cov=cov,
        std=std,
        vcov=vcov,
        names=names(d, result.univariate, result.columns)[0],
        unconstrained_vcov=vu,
    )


def z_value(level: float) -> float:
    """``z_{(1 + level) / 2}`` of the standard normal."""
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return float(norm.ppf(0.5 + 0.5 * level))


def wald_intervals(result, *, level: float = 0.95, se: StandardErrors | None = None) -> Intervals:
    """Wald confidence intervals ``estimate +- z SE`` for the mean, every covariance element
    and the standard deviations (batched like the result).

    Args:
        result: as for :func:`standard_errors`.
        level: coverage in ``(0, 1)``.
        se: precomputed :class:`StandardErrors` (else computed).

    Returns:
        :class:`Intervals`. A variance's Wald interval may reach below 0:
        :func:`~mle_jax.inference.profile_interval` respects the parameter space.
    """
    z = z_value(level)
    se = standard_errors(result) if se is None else se
    est = (result.mean, result.cov, result.std)
    errs = (se.mean, se.cov, se.std)
    lower = Estimate(*(e - z * s for e, s in zip(est, errs, strict=True)))
    upper = Estimate(*(e + z * s for e, s in zip(est, errs, strict=True)))
    return Intervals(lower, upper, float(level))
