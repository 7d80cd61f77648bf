"""Standard errors and Wald intervals from the observed information, read off a result.

The observed information is the Hessian of the total objective the fit minimised (NLL, plus
ridge penalty, minus log prior) in the model's free natural parameters: the mean and the
distinct covariance entries the model estimates. Its inverse, mapped to user units, is
``Cov(theta)`` for ``theta = (mean, the d(d+1)/2 distinct covariance entries, the standard
deviations)`` (delta method for the last). At a stationary point this equals the inverse
Hessian in any parameterisation carried over by the delta method (the fit's unconstrained
Cholesky one included); for a MAP fit it is the Laplace approximation of the posterior
covariance. The data's part is closed-form (:func:`~mle_jax._fiml.fiml_information`), so
a fit of incomplete data costs no more than a complete one of the same ``d``. The objective
is rebuilt from ``result.stats``: no data are needed, and a batch of fits is one ``vmap``.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate
from .._batch import default_block, map_blocks
from .._fiml import fiml_information
from .._objective import count, free_from_mean_cov, mean_chol, penalty
from .._problem import Prepared, prepare
from .._statistics import Data
from .._types import HIGHEST, ConvergenceWarning, Estimate

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
    """

    mean: jax.Array
    cov: jax.Array
    std: jax.Array
    vcov: jax.Array
    names: tuple


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
    """Pure, unbatched: ``Cov(mean, vech cov)`` ``(p, p)`` in user units at ``free``, and the
    ``(p + d,)`` variances of ``theta`` (those and the standard deviations') (module docstring).

    Every model is a linear restriction ``phi = phi_hat + A psi`` of ``phi = (mean, vech
    cov)`` (:func:`~mle_jax._objective.free_coordinates`), and at a stationary point the
    inverse Hessian in ``psi`` is that in the optimiser's parameters mapped by the delta
    method, whatever their parameterisation. So the data's Hessian is closed-form in ``phi``
    (:func:`~mle_jax._fiml.fiml_information`; complete data are one pattern), restricted
    by ``A^T H A``; a ridge or prior adds its Hessian in ``psi`` (autodiff: no data in it).
    ``theta`` is ``phi`` in user units (the standardiser of :func:`setup` is diagonal) and
    the standard deviations. No Hessian-vector products through the data, no Jacobian
    products: at ``d = 100`` the cost is the ``5150 x 5150`` inverse.
    """
    spec = problem.spec
    # setup's problems are scaled per column (no parameter preconditioner): the optimiser's
    # units are those of the statistics
    mean, chol = mean_chol(spec, free)
    d = mean.shape[-1]
    rows, cols = np.tril_indices(d)
    cov = jnp.matmul(chol, chol.T, precision=HIGHEST)
    info = fiml_information(mean, cov, problem.stats.as_patterns())
    index, combine = spec.free_coordinates(d)
    full = len(index) == info.shape[0]
    hess = info if full else info[index[:, None], index[None, :]]
    if combine is not None:
        hess = combine.T @ hess @ combine
    q = hess.shape[0]
    if problem.ridge is not None or spec.has_prior:
        phi = jnp.concatenate([mean, cov[rows, cols]])
        n = count(problem)

        def pen(step):  # n * penalty at phi_hat + A step
            move = step if combine is None else combine @ step
            at = phi.at[index].add(move)
            c = jnp.zeros((d, d), at.dtype).at[rows, cols].set(at[d:])
            c = c + jnp.tril(c, -1).T
            ch = chol if spec.fix_cov else jnp.linalg.cholesky(c)
            return n * penalty(at[:d], ch, problem)

        zero = jnp.zeros(q, phi.dtype)
        hvp = lambda v: jax.jvp(jax.grad(pen), (zero,), (v,))[1]  # noqa: E731
        basis = jnp.eye(q, dtype=phi.dtype)
        hess = hess + jax.lax.map(hvp, basis, batch_size=max(1, min(q, _ELEMENTS // (d * d))))
    eye = jnp.eye(q, dtype=hess.dtype)
    vpsi = jax.scipy.linalg.cho_solve((jnp.linalg.cholesky(hess), True), eye)
    if combine is not None:
        vpsi = combine @ vpsi @ combine.T
    p = info.shape[0]
    vphi = vpsi if full else jnp.zeros((p, p), vpsi.dtype).at[index[:, None], index].set(vpsi)
    # theta = (shift + f mean, f_i f_j cov_ij, sqrt(f_i^2 cov_ii)): f = the standardiser
    f = jnp.diagonal(spec.affine.factor).astype(vphi.dtype)
    t = jnp.concatenate([f, f[rows] * f[cols]])
    vphi = vphi * t[:, None] * t[None, :]
    var_u = jnp.diagonal(vphi)[d + np.flatnonzero(rows == cols)]  # Var of the variances
    var_std = var_u * 0.25 / (f * f * jnp.diagonal(cov))  # delta: d std / d var = 1 / (2 std)
    return vphi, jnp.concatenate([jnp.diagonal(vphi), var_std])


_ELEMENTS = 1 << 22  # Hessian-vector products of a penalty at once, times d^2: ~32 MiB
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
        _validate.warn(
            f"{what} of {which} that did not converge: the point is not a stationary point, "
            "so the numbers describe the wrong place; refit with more max_steps",
            ConvergenceWarning,
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
    vcov, var = fn(prep.problem, free)
    var = np.asarray(var, np.float64)
    se = np.where(np.isfinite(var), np.sqrt(np.maximum(var, 0.0)), np.nan)
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
    fields = (se_mean, se_cov, se_std)  # one transfer, no compiled copies
    mean, cov, std = jax.device_put(tuple(np.asarray(a, dtype) for a in fields))
    return StandardErrors(
        mean=mean,
        cov=cov,
        std=std,
        vcov=vcov,
        names=names(d, result.univariate, result.columns)[0],
    )


def z_value(level: float) -> float:
    """``z_{(1 + level) / 2}`` of the standard normal."""
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    # host arithmetic: an eager jax.scipy call here compiled ~20 scalar programs (~0.4 s)
    # on the first table of a process
    return NormalDist().inv_cdf(0.5 + 0.5 * level)


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
