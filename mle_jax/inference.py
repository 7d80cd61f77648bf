"""Statistical inference on a fit: standard errors, confidence intervals, model choice, summary.

Everything is exact autodiff of the same objective the fit minimised (the NLL, plus the
prior's ``-log p`` for a MAP fit, plus any ridge penalty), evaluated on the per-column
standardised problem of :func:`mle_jax._prepare.prepare` and mapped back to the user's units:

* the observed information is ``jax.hessian`` of the total NLL in the model's unconstrained
  parameters ``u`` (log-diagonal Cholesky, log standard deviations, ...); its inverse is the
  covariance of ``u``, and the delta method with the exact Jacobian ``J = d theta / d u``
  (``jax.jacfwd``) gives ``Cov(theta) = J H^{-1} J^T`` for ``theta = (mean, the d(d+1)/2
  distinct covariance entries, the standard deviations)``. At a stationary point this is the
  inverse Hessian in ``theta`` itself, whatever the parameterisation. For a MAP fit it is the
  Laplace approximation of the posterior covariance.
* Wald intervals: ``theta +- z_{(1+level)/2} SE``.
* Profile-likelihood intervals: ``{v : 2 (min_{theta_i = v} NLL - NLL_min) <= chi2_1(level)}``;
  each inner minimisation is a fit of the constrained model (the same jitted loop).

Fixed parts of a model (a fixed mean, a fixed covariance, the zeros of a diagonal one) are
not estimated: their standard errors are exactly 0 and :func:`summary` leaves them out.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.scipy.stats import norm

from . import _models
from ._fit import _solve_jit, default_optimizer, default_tol
from ._prepare import prepare
from ._types import Estimate, Status

__all__ = [
    "Intervals",
    "StandardErrors",
    "Summary",
    "aic",
    "bic",
    "loglik",
    "num_params",
    "profile_interval",
    "profile_nll",
    "standard_errors",
    "summary",
    "wald_intervals",
]


class StandardErrors(NamedTuple):
    """Standard errors of a fit (user units), from the inverse observed information.

    Attributes:
        mean: ``(d,)`` (``()`` univariate) standard errors of the mean.
        cov: ``(d, d)`` symmetric standard errors of every covariance element (``()``: of
            the variance).
        std: ``(d,)`` (``()``) standard errors of the standard deviations.
        vcov: ``(p, p)`` covariance matrix of the estimates ``theta = (mean, cov[i, j] for
            i >= j row-major)``, ``p = d + d(d+1)/2``; rows of fixed parts are zero.
        names: the ``p`` names of ``theta`` (``mean[0]``, ``cov[1,0]``, ...; ``mean``,
            ``var`` for univariate data).
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


# ----------------------------------------------------------------------------- setup


def _options(result) -> _models.FitOptions:
    opts = getattr(result, "options", None)
    return _models.FitOptions() if opts is None else opts


def _setup(result, x, weights):
    """The per-column standardised model problem of ``result`` and its free parameters."""
    if np.ndim(result.nll) != 0:
        raise ValueError("inference needs a single fit, not a batch of fits")
    opts = _options(result)
    prep = prepare(x, weights=weights, ridge=opts.ridge, options=opts)
    count = float(prep.stats.count)
    if not math.isclose(count, float(result.count), rel_tol=1e-9):
        raise ValueError(
            f"x (and weights) give {count:g} samples but the fit had {float(result.count):g}: "
            "pass the data and weights the fit was made with"
        )
    spec = prep.problem.model
    d = prep.shift.shape[0]
    mean = np.reshape(np.asarray(result.mean, np.float64), (d,))
    cov = np.reshape(np.asarray(result.cov, np.float64), (d, d))
    if mean.shape != (d,):
        raise ValueError(f"the fit has dimension {mean.shape} but x has {d} column(s)")
    inv = 1.0 / prep.scale
    free = _models.free_from_mean_cov(
        spec,
        jnp.asarray((mean - prep.shift) * inv, prep.dtype),
        jnp.asarray(cov * np.outer(inv, inv), prep.dtype),
    )
    return prep, spec, free


def _theta(spec, free):
    """Free parameters -> ``(mean (d,), tril(cov) (d(d+1)/2,), std (d,))`` in user units."""
    mean, chol = _models.mean_chol(spec, free)
    mean_u = spec.shift + spec.scale * mean
    cov = chol @ chol.T
    cov_u = cov * (spec.scale[:, None] * spec.scale[None, :])
    rows, cols = np.tril_indices(mean.shape[0])
    return jnp.concatenate([mean_u, cov_u[rows, cols], jnp.sqrt(jnp.diagonal(cov_u))])


def param_covariance(problem, free):
    """Pure, jit-able core: ``(Cov(theta), H^{-1})`` at ``free`` for a model ``problem``.

    ``theta`` is :func:`_theta`; ``H`` the Hessian of ``count * objective`` (the total NLL
    minus the log prior plus any ridge penalty) in the flattened free parameters.
    """
    flat, unravel = ravel_pytree(free)
    count = problem.stats.count
    total = lambda u: count * _models.objective(unravel(u), problem)
    hess = jax.hessian(total)(flat)
    chol = jnp.linalg.cholesky(hess)
    eye = jnp.eye(flat.shape[0], dtype=flat.dtype)
    vu = jax.scipy.linalg.cho_solve((chol, True), eye)
    jac = jax.jacfwd(lambda u: _theta(problem.model, unravel(u)))(flat)
    return jac @ vu @ jac.T, vu


_param_covariance_jit = jax.jit(param_covariance)


def _names(d: int, univariate: bool, columns=None):
    if univariate:
        return ("mean", "var"), ("std",)
    lab = [str(c) for c in columns] if columns is not None else [str(i) for i in range(d)]
    rows, cols = np.tril_indices(d)
    means = [f"mean[{lab[i]}]" for i in range(d)]
    covs = [
        f"var[{lab[i]}]" if i == j else f"cov[{lab[i]},{lab[j]}]"
        for i, j in zip(rows, cols, strict=True)
    ]
    return tuple(means + covs), tuple(f"std[{lab[i]}]" for i in range(d))


# ----------------------------------------------------------------------------- standard errors


def standard_errors(result, x, *, weights=None) -> StandardErrors:
    """Standard errors of a fit from the inverse observed Fisher information.

    The Hessian of the total NLL (with the prior and ridge of the fit, if any) with respect to
    the model's unconstrained parameters, inverted and mapped to ``(mean, cov, std)`` with
    the delta method (see the module docstring). For complete data at the MLE this equals
    the closed forms ``SE(mean_i) = sqrt(S_ii / n)``,
    ``SE(cov_ij) = sqrt((S_ii S_jj + S_ij^2) / n)`` and, univariate,
    ``SE(std) = std / sqrt(2 n)`` (``S`` the MLE covariance, ``n`` the sum of the weights).

    Args:
        result: a :class:`~mle_jax.FitResult` of :func:`~mle_jax.fit` (its model options are
            read from ``result.options``).
        x: the data the fit was made with.
        weights: the fit's frequency weights, if any.

    Returns:
        :class:`StandardErrors`; NaN where the Hessian is not positive definite (not a
        minimum).

    Examples:
        >>> import numpy as np, mle_jax as mj
        >>> x = np.random.default_rng(0).normal(1.0, 2.0, size=400)
        >>> res = mj.fit(x)
        >>> se = mj.standard_errors(res, x)
        >>> bool(np.isclose(se.std, res.std / np.sqrt(2 * 400)))
        True
    """
    prep, spec, free = _setup(result, x, weights)
    d = prep.shift.shape[0]
    vtheta, vu = _param_covariance_jit(prep.problem, free)
    vtheta = np.asarray(vtheta, np.float64)
    se = np.sqrt(np.maximum(np.diagonal(vtheta), 0.0))
    se = np.where(np.isfinite(np.diagonal(vtheta)), se, np.nan)
    m = d * (d + 1) // 2
    se_mean, se_tril, se_std = se[:d], se[d : d + m], se[d + m :]
    se_cov = np.zeros((d, d))
    rows, cols = np.tril_indices(d)
    se_cov[rows, cols] = se_tril
    se_cov[cols, rows] = se_tril
    names, _ = _names(d, prep.univariate)
    p = d + m
    dtype = prep.dtype
    if prep.univariate:
        se_mean, se_cov, se_std = se_mean[0], se_cov[0, 0], se_std[0]
    return StandardErrors(
        mean=jnp.asarray(se_mean, dtype),
        cov=jnp.asarray(se_cov, dtype),
        std=jnp.asarray(se_std, dtype),
        vcov=jnp.asarray(vtheta[:p, :p], dtype),
        names=names,
        unconstrained_vcov=vu,
    )


def _z(level: float) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return float(norm.ppf(0.5 + 0.5 * level))


def wald_intervals(result, x, *, level: float = 0.95, weights=None, se=None) -> Intervals:
    """Wald confidence intervals ``estimate +- z SE`` for the mean, every covariance element
    and the standard deviations, at any ``level`` (``z`` from ``jax.scipy.stats.norm.ppf``).

    Args:
        result, x, weights: as for :func:`standard_errors`.
        level: coverage in ``(0, 1)``.
        se: precomputed :class:`StandardErrors` (else computed).

    Returns:
        :class:`Intervals`. A variance's Wald interval may reach below 0: use
        :func:`profile_interval` for an interval that respects the parameter space.
    """
    z = _z(level)
    se = standard_errors(result, x, weights=weights) if se is None else se
    est = (result.mean, result.cov, result.std)
    errs = (se.mean, se.cov, se.std)
    lower = Estimate(*(e - z * s for e, s in zip(est, errs, strict=True)))
    upper = Estimate(*(e + z * s for e, s in zip(est, errs, strict=True)))
    return Intervals(lower, upper, float(level))


# ----------------------------------------------------------------------------- profiles


def _parse_param(param, d: int, univariate: bool):
    """``"mean"``/``"var"``/``"std"`` (1-D), ``"mean[i]"``, ``"var[i]"``, ``"cov[i,i]"``,
    ``"std[i]"`` or a tuple ``("mean", i)`` -> ``(kind, index)``."""
    if isinstance(param, tuple):
        kind, idx = param[0], param[1:]
    else:
        text = str(param).replace(" ", "")
        if "[" in text:
            if not text.endswith("]"):
                raise ValueError(f"cannot parse parameter {param!r}")
            kind, inner = text[:-1].split("[", 1)
            try:
                idx = tuple(int(t) for t in inner.split(","))
            except ValueError:
                raise ValueError(
                    f"cannot parse parameter {param!r}: indices must be integers"
                ) from None
        else:
            kind, idx = text, ()
    if kind == "cov":
        if len(idx) != 2 or idx[0] != idx[1]:
            raise ValueError(
                f"profile intervals are for means, variances and standard deviations; "
                f"{param!r} is an off-diagonal covariance (use wald_intervals)"
            )
        kind, idx = "var", idx[:1]
    if kind not in ("mean", "var", "std"):
        raise ValueError(f"parameter kind must be 'mean', 'var', 'cov' or 'std', got {kind!r}")
    if len(idx) == 0 and d == 1:
        idx = (0,)
    if len(idx) != 1 or not 0 <= int(idx[0]) < d:
        raise ValueError(f"parameter {param!r} needs one index in [0, {d}) for d = {d}")
    return kind, int(idx[0])


class _Profiler:
    """Evaluates the profile objective (total, user units) of one scalar parameter."""

    def __init__(self, result, x, param, weights, optimizer, max_steps, tol):
        prep, spec, free = _setup(result, x, weights)
        d = prep.shift.shape[0]
        kind, idx = _parse_param(param, d, prep.univariate)
        if kind == "mean" and spec.fix_mean:
            raise ValueError("the mean is fixed (fix_mean) in this fit: it has no profile")
        if kind in ("var", "std") and spec.fix_cov:
            raise ValueError("the covariance is fixed (fix_cov) in this fit: it has no profile")
        self.kind, self.idx = kind, idx
        self.prep, self.spec, self.free = prep, spec, free
        self.dtype = prep.dtype
        self.count = float(prep.stats.count)
        self.const = self.count * float(np.sum(np.log(prep.scale)))
        self.optimizer = default_optimizer() if optimizer is None else optimizer
        self.max_steps = int(max_steps)
        self.tol = jnp.asarray(default_tol(self.dtype) if tol is None else float(tol), self.dtype)
        self.minimum = float(self.count * _models.objective(free, prep.problem)) + self.const
        theta = np.asarray(_theta(spec, free), np.float64)  # (mean, tril(cov), std)
        std_hat = theta[d + d * (d + 1) // 2 + idx]
        self.estimate = {"mean": theta[idx], "var": std_hat**2, "std": std_hat}[kind]
        self.unconverged = 0

    def __call__(self, value: float) -> float:
        """Minimum of the total objective with the parameter held at ``value`` (user units)."""
        i, scale = self.idx, self.prep.scale[self.idx]
        if self.kind == "mean":
            v_std, kind = (value - self.prep.shift[i]) / scale, "mean"
        else:
            var = value**2 if self.kind == "std" else value
            if not var > 0:
                return math.inf
            v_std, kind = var / scale**2, "var"
        spec = self.spec.replace(
            profile=True,
            profile_kind=jnp.asarray(0 if kind == "mean" else 1),
            profile_index=jnp.asarray(i),
            profile_value=jnp.asarray(v_std, self.dtype),
        )
        problem = self.prep.problem._replace(model=spec)
        state, _ = _solve_jit(
            problem, self.free, self.tol, optimizer=self.optimizer, max_steps=self.max_steps
        )
        if int(state.status) != Status.CONVERGED:
            self.unconverged += 1
        return float(state.best_loss) * self.count + self.const


def profile_nll(
    result, x, param, values, *, weights=None, optimizer=None, max_steps: int = 1000, tol=None
) -> np.ndarray:
    """The profile objective of one scalar parameter at given values.

    ``min over all other free parameters`` of the total NLL (minus the log prior of a MAP
    fit, plus any ridge penalty) with ``param`` held at each value, in the user's units (so
    ``profile_nll(res, x, p, [estimate]) == res.nll`` for an MLE). Each minimisation runs the
    fit's jitted loop on the constrained model, compiled once per parameter kind.

    Args:
        result, x, weights: as for :func:`standard_errors`.
        param: ``"mean"``, ``"var"`` or ``"std"`` for univariate data; ``"mean[i]"``,
            ``"var[i]"`` (= ``"cov[i,i]"``) or ``"std[i]"``; or a tuple ``("mean", i)``.
        values: the values to hold it at (user units).
        optimizer, max_steps, tol: of the inner fits (default: the fit defaults).

    Returns:
        ``(len(values),)`` float64 array.
    """
    prof = _Profiler(result, x, param, weights, optimizer, max_steps, tol)
    out = np.array([prof(float(v)) for v in np.atleast_1d(np.asarray(values, np.float64))])
    if prof.unconverged:
        warnings.warn(
            f"{prof.unconverged} inner profile fit(s) stopped before converging",
            RuntimeWarning,
            stacklevel=2,
        )
    return out


def _root(h, inside: float, outside: float, h_in: float, h_out: float, xtol: float) -> float:
    """Root of ``h`` between ``inside`` (``h < 0``) and ``outside`` (``h > 0``): Illinois."""
    a, b, fa, fb = inside, outside, h_in, h_out
    side = 0
    for _ in range(200):
        c = (a * fb - b * fa) / (fb - fa)
        if not (min(a, b) < c < max(a, b)):
            c = 0.5 * (a + b)
        fc = h(c)
        if abs(fc) == 0 or abs(b - a) < xtol:
            return c
        if fc > 0:
            b, fb = c, fc
            if side == -1:
                fa *= 0.5
            side = -1
        else:
            a, fa = c, fc
            if side == 1:
                fb *= 0.5
            side = 1
        if abs(b - a) < xtol:
            break
    return (a * fb - b * fa) / (fb - fa)


def profile_interval(
    result,
    x,
    param,
    *,
    level: float = 0.95,
    weights=None,
    optimizer=None,
    max_steps: int = 1000,
    tol=None,
    xtol: float = 1e-9,
):
    """Profile-likelihood confidence interval of one scalar parameter.

    The set ``{v : 2 (profile_nll(v) - NLL_min) <= chi2_1(level)}``, with
    ``chi2_1(level) = z_{(1+level)/2}^2``. Its ends are found by stepping out from the
    estimate in steps of the Wald standard error (on the log scale for variances and
    standard deviations) and then by a safeguarded secant (Illinois) search on the profile.
    Invariant under reparameterisation: the interval of ``std[i]`` is the square root of that
    of ``var[i]``.

    Args:
        result, x, weights, param, optimizer, max_steps, tol: as for :func:`profile_nll`.
        level: coverage in ``(0, 1)``.
        xtol: tolerance on each end, relative to the Wald standard error.

    Returns:
        ``(lower, upper)`` floats in the user's units (an end is ``-inf``/``inf``, or 0 for a
        variance, where the profile never crosses the threshold).
    """
    z = _z(level)
    prof = _Profiler(result, x, param, weights, optimizer, max_steps, tol)
    target = prof.minimum + 0.5 * z * z
    est = prof.estimate
    log_scale = prof.kind in ("var", "std")
    # the Wald standard error sets the step of the search
    vtheta, _ = _param_covariance_jit(prof.prep.problem, prof.free)
    d = prof.prep.shift.shape[0]
    diag_idx = d + prof.idx * (prof.idx + 1) // 2 + prof.idx
    pos = {"mean": prof.idx, "var": diag_idx, "std": d + d * (d + 1) // 2 + prof.idx}[prof.kind]
    se = float(np.sqrt(max(float(vtheta[pos, pos]), 0.0)))
    if log_scale:
        t_hat = math.log(est)
        step = se / est if np.isfinite(se) and se > 0 else 0.1
        to_value = math.exp
    else:
        t_hat = est
        step = se if np.isfinite(se) and se > 0 else 0.1 * max(abs(est), 1.0)
        to_value = lambda t: t
    h = lambda t: prof(to_value(t)) - target
    h_hat = prof.minimum - target
    ends = []
    for sign in (-1.0, 1.0):
        inside, h_in = t_hat, h_hat
        end = None
        for k in range(60):
            t = t_hat + sign * step * 2.0**k * 0.5
            ht = h(t)
            if ht > 0:
                end = to_value(_root(h, inside, t, h_in, ht, xtol * step))
                break
            inside, h_in = t, ht
        if end is None:
            end = (0.0 if log_scale else -math.inf) if sign < 0 else math.inf
        ends.append(end)
    if prof.unconverged:
        warnings.warn(
            f"{prof.unconverged} inner profile fit(s) stopped before converging",
            RuntimeWarning,
            stacklevel=2,
        )
    return ends[0], ends[1]


# ----------------------------------------------------------------------------- model choice


def num_params(result) -> int:
    """Number of estimated parameters of a fit's model.

    ``d`` for a free mean plus ``d(d+1)/2`` (full), ``d`` (diag) or ``1`` (spherical) for a
    free covariance; fixed parts count 0.
    """
    opts = _options(result)
    # the mean has one axis more than the NLL for multivariate fits (batched or not)
    multivariate = np.ndim(result.mean) > np.ndim(result.nll)
    d = int(np.shape(result.mean)[-1]) if multivariate else 1
    k_mean = 0 if opts.fix_mean is not None else d
    if opts.fix_cov is not None:
        k_cov = 0
    else:
        k_cov = {"full": d * (d + 1) // 2, "diag": d, "spherical": 1}[opts.covariance]
    return k_mean + k_cov


def loglik(result) -> jax.Array:
    """Log-likelihood of the data at the fit: ``-result.nll`` (2*pi constant included; for a
    MAP fit the data log-likelihood, without the prior)."""
    return -jnp.asarray(result.nll)


def aic(result) -> jax.Array:
    """Akaike information criterion ``2 k - 2 log L`` (``k`` = :func:`num_params`)."""
    return 2.0 * num_params(result) - 2.0 * loglik(result)


def bic(result) -> jax.Array:
    """Bayesian information criterion ``k log n - 2 log L`` (``n`` = sum of the weights)."""
    return num_params(result) * jnp.log(jnp.asarray(result.count)) - 2.0 * loglik(result)


# ----------------------------------------------------------------------------- summary


class Summary(NamedTuple):
    """What :func:`summary` returns: the table as data and as text.

    Attributes:
        names: the estimated parameters' names.
        estimate, se, z, pvalue, lower, upper: ``(p,)`` float64 arrays (``z = estimate /
            se`` and its two-sided normal p-value, as statsmodels prints them).
        interval: ``"wald"`` or ``"profile"`` (off-diagonal covariances are always Wald).
        level: the interval coverage.
        loglik, aic, bic: model-choice numbers; ``num_params``; ``count`` the sample size.
        text: the printed table.
    """

    names: tuple
    estimate: np.ndarray
    se: np.ndarray
    z: np.ndarray
    pvalue: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    interval: str
    level: float
    loglik: float
    aic: float
    bic: float
    num_params: int
    count: float
    text: str

    def rows(self) -> list:
        """The table as a list of dicts, one per parameter."""
        keys = ("name", "estimate", "se", "z", "pvalue", "lower", "upper")
        cols = (self.names, self.estimate, self.se, self.z, self.pvalue, self.lower, self.upper)
        return [dict(zip(keys, vals, strict=True)) for vals in zip(*cols, strict=True)]

    def __str__(self) -> str:
        return self.text


def summary(
    result,
    x,
    *,
    weights=None,
    level: float = 0.95,
    interval: str = "wald",
    columns=None,
    print_table: bool = True,
) -> Summary:
    """A statsmodels-like table of a fit: estimate, standard error, z, p-value, interval.

    Rows are the estimated parameters: the means (unless fixed) and the free covariance
    elements (all of the lower triangle for ``"full"``, the variances for ``"diag"``, one
    common variance for ``"spherical"``; none for a fixed covariance).

    Args:
        result, x, weights: as for :func:`standard_errors`.
        level: interval coverage.
        interval: ``"wald"`` or ``"profile"`` (profile intervals for means and variances,
            Wald for covariances).
        columns: column names (default: from a DataFrame ``x``, else ``0..d-1``).
        print_table: print the table.

    Returns:
        :class:`Summary`.
    """
    if interval not in ("wald", "profile"):
        raise ValueError(f"interval must be 'wald' or 'profile', got {interval!r}")
    if columns is None and hasattr(x, "columns") and hasattr(x, "to_numpy"):
        columns = [str(c) for c in x.columns]
        x = x.to_numpy()
    z_crit = _z(level)
    se = standard_errors(result, x, weights=weights)
    opts = _options(result)
    univariate = np.ndim(result.mean) == 0
    d = 1 if univariate else int(np.shape(result.mean)[0])
    if columns is not None and len(columns) != d:
        raise ValueError(f"columns has {len(columns)} names for d = {d}")
    names, _ = _names(d, univariate, columns)
    mean = np.reshape(np.asarray(result.mean, np.float64), (d,))
    cov = np.reshape(np.asarray(result.cov, np.float64), (d, d))
    se_mean = np.reshape(np.asarray(se.mean, np.float64), (d,))
    se_cov = np.reshape(np.asarray(se.cov, np.float64), (d, d))
    rows, cols = np.tril_indices(d)
    keep = []
    if opts.fix_mean is None:
        keep += [(names[i], mean[i], se_mean[i], ("mean", i)) for i in range(d)]
    if opts.fix_cov is None:
        for k, (i, j) in enumerate(zip(rows, cols, strict=True)):
            if opts.covariance == "diag" and i != j:
                continue
            if opts.covariance == "spherical" and (i != j or i > 0):
                continue
            name = names[d + k]
            if opts.covariance == "spherical" and d > 1:
                name = "var (common)"
            keep.append((name, cov[i, j], se_cov[i, j], ("var", i) if i == j else None))
    p = len(keep)
    est = np.array([r[1] for r in keep], np.float64)
    ses = np.array([r[2] for r in keep], np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / ses
    pvalue = np.asarray(2.0 * norm.cdf(-jnp.abs(jnp.asarray(z))), np.float64).reshape(p)
    lower, upper = est - z_crit * ses, est + z_crit * ses
    if interval == "profile":
        for r, row in enumerate(keep):
            if row[3] is not None:
                kind, i = row[3]
                lower[r], upper[r] = profile_interval(
                    result, x, (kind, i), level=level, weights=weights
                )
    ll = float(loglik(result))
    k = num_params(result)
    count = float(result.count)
    a, b = float(aic(result)), float(bic(result))
    text = _format(
        names=[r[0] for r in keep],
        est=est,
        se=ses,
        z=z,
        pvalue=pvalue,
        lower=lower,
        upper=upper,
        level=level,
        interval=interval,
        opts=opts,
        ll=ll,
        aic=a,
        bic=b,
        k=k,
        count=count,
        converged=bool(result.converged),
    )
    if print_table:
        print(text)
    return Summary(
        names=tuple(r[0] for r in keep),
        estimate=est,
        se=ses,
        z=z,
        pvalue=pvalue,
        lower=lower,
        upper=upper,
        interval=interval,
        level=float(level),
        loglik=ll,
        aic=a,
        bic=b,
        num_params=k,
        count=count,
        text=text,
    )


def _format(
    *,
    names,
    est,
    se,
    z,
    pvalue,
    lower,
    upper,
    level,
    interval,
    opts,
    ll,
    aic,
    bic,
    k,
    count,
    converged,
) -> str:
    width = max([len(n) for n in names] + [12])
    lo_head, hi_head = f"[{(1 - level) / 2:.3g}", f"{(1 + level) / 2:.3g}]"
    header = (
        f"{'':<{width}} {'coef':>11} {'std err':>10} {'z':>9} {'P>|z|':>7} "
        f"{lo_head:>11} {hi_head:>11}"
    )
    line_width = len(header)
    model = f"{opts.covariance} covariance"
    if opts.fix_mean is not None:
        model += ", fixed mean"
    if opts.fix_cov is not None:
        model = "fixed covariance"
    method = "maximum likelihood" if opts.prior is None else "MAP (posterior mode)"
    if opts.ridge:
        method += f", ridge {opts.ridge:g}"

    def pair(lk, lv, rk, rv):
        half = line_width // 2
        left = f"{lk:<18}{lv:>{half - 20}}"
        right = f"{rk:<18}{rv:>{line_width - half - 18}}"
        return f"{left}  {right}"

    out = [
        "Gaussian fit results".center(line_width),
        "=" * line_width,
        pair("Model:", model, "No. observations:", f"{count:g}"),
        pair("Method:", method, "Log-likelihood:", f"{ll:.4f}"),
        pair("Parameters:", str(k), "AIC:", f"{aic:.4f}"),
        pair("Converged:", str(converged), "BIC:", f"{bic:.4f}"),
        "=" * line_width,
        header,
        "-" * line_width,
    ]
    for r in range(len(names)):
        out.append(
            f"{names[r]:<{width}} {est[r]:>11.4f} {se[r]:>10.4f} {z[r]:>9.3f} "
            f"{pvalue[r]:>7.3f} {lower[r]:>11.4f} {upper[r]:>11.4f}"
        )
    out.append("=" * line_width)
    kind = "profile-likelihood" if interval == "profile" else "Wald"
    note = f"{level:.0%} {kind} intervals"
    if interval == "profile":
        note += " (Wald for covariances)"
    out.append(note + "; SEs from the inverse observed information (autodiff Hessian).")
    return "\n".join(out)
