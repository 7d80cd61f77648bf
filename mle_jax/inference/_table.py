"""Inference by name for every model: the parameter table, the information matrices, the
delta method, and likelihood-ratio tests (between nested fits and against the saturated one).

For a :class:`~mle_jax.Model` fit the information is taken in the free coordinates ``u``
and mapped to the reported (natural) values by the delta method; at a stationary point
this is the inverse information in the natural parameters, whatever the parameterisation.

* ``"observed"``: the Hessian of the observed-data NLL (autodiff);
* ``"expected"``: ``sum_p n_p (J_m^T P_p J_m + tr(P_p J_a P_p J_b) / 2)`` over missingness
  patterns (``P_p`` the precision of the observed block, ``J`` the Jacobian of the mean and
  covariance); for complete data ``n (J_m^T S^-1 J_m + J^T (S^-1 (x) S^-1) J / 2)``.

lavaan's defaults: expected for complete data, observed for incomplete data (FIML).
Parameters at a bound (``res.boundary``) get no standard error (NaN): the others are
computed with them held fixed.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._fit_model import model_args
from .._model_objective import (
    ModelArgs,
    ModelObjective,
    expected_information,
    observed_information,
)
from .._types import Status
from ._errors import names as gaussian_names
from ._errors import setup, standard_errors, warn_unconverged, z_value

__all__ = ["INFORMATION", "LRTest", "ParameterTable", "delta", "information", "lr_test"]
__all__ += ["num_params", "parameter_table", "table_rows"]

INFORMATION = ("observed", "expected")


class ParameterTable(NamedTuple):
    """The rows of :func:`parameter_table` (when pandas is not installed; else a DataFrame
    with these columns and ``attrs["information"]``)."""

    name: tuple
    estimate: np.ndarray
    se: np.ndarray
    z: np.ndarray
    p: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    information: str
    extra: dict | None = None  # a model's own columns (lavaan's lhs, op, rhs, std_all, ...)

    def __str__(self) -> str:
        head = f"{'':<28}{'estimate':>12}{'se':>11}{'z':>9}{'p':>9}{'ci_lower':>12}{'ci_upper':>12}"
        lines = [head]
        for i, n in enumerate(self.name):
            cells = (self.estimate[i], self.se[i], self.z[i], self.p[i])
            lines.append(
                f"{n:<28}{cells[0]:>12.4f}{cells[1]:>11.4f}{cells[2]:>9.3f}{cells[3]:>9.3f}"
                f"{self.ci_lower[i]:>12.4f}{self.ci_upper[i]:>12.4f}"
            )
        return "\n".join(lines) + f"\n(standard errors from the {self.information} information)"

    def __repr__(self) -> str:
        return str(self)


def _default_information(result) -> str:
    if result.layout is not None:
        incomplete = result.model.is_incomplete(result.stats)
    else:
        incomplete = result.stats.incomplete
    return "observed" if incomplete else "expected"


def _check(result, information):
    if information is None:
        information = _default_information(result)
    if information not in INFORMATION:
        raise ValueError(f"information must be one of {INFORMATION}, got {information!r}")
    if result.batch_shape:
        raise ValueError(
            "inference by name takes one fit: pass res[k] for member k of a fit_many result"
        )
    return information


# ------------------------------------------------------------------------------ models


def _model_parts(result) -> tuple[ModelObjective, ModelArgs, jax.Array]:
    """The fit's objective and args rebuilt from the result (float64, no preconditioner)."""
    shift = np.asarray(result.standardiser.shift, np.float64)
    scale = np.diagonal(np.asarray(result.standardiser.factor, np.float64)).copy()
    fixed = result.layout.fixed_values(result.params)
    u = np.asarray(result.free, np.float64)
    args = model_args(result.stats, shift, scale, fixed, u, np.float64)
    return ModelObjective(result.model, result.layout), args, jnp.asarray(u)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _info_u(obj: ModelObjective, kind: str, u, args):
    fn = observed_information if kind == "observed" else expected_information
    return fn(obj, u, args)


@functools.partial(jax.jit, static_argnums=0)
def _natural(obj: ModelObjective, u, args):
    fn = lambda v: obj.layout.natural(v, args.fixed)  # noqa: E731
    return fn(u), jax.jacfwd(fn)(u)


def _cov_u(info: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``(p, p)`` inverse information over the kept coordinates (zeros elsewhere); NaN when
    it is not positive definite (not a minimum)."""
    p = info.shape[0]
    out = np.zeros((p, p))
    idx = np.flatnonzero(keep)
    sub = 0.5 * (info[np.ix_(idx, idx)] + info[np.ix_(idx, idx)].T)
    try:
        chol = np.linalg.cholesky(sub)
    except np.linalg.LinAlgError:
        out[np.ix_(idx, idx)] = np.nan
        return out
    inv = np.linalg.inv(chol)
    out[np.ix_(idx, idx)] = inv.T @ inv
    return out


def information(result, kind: str | None = None) -> np.ndarray:
    """The information matrix of a fit, ``(p, p)`` over the names of
    :func:`parameter_table` (the natural parameters), in the user's units.

    Args:
        result: one fit of a :class:`~mle_jax.Model` or a :class:`~mle_jax.Gaussian`.
        kind: ``"observed"`` or ``"expected"``; default lavaan's (expected for complete
            data, observed for FIML).
    """
    cov = _vcov(result, _check(result, kind))[2]
    keep = np.isfinite(np.diagonal(cov)) & (np.diagonal(cov) > 0)
    info = np.full_like(cov, np.nan)
    info[np.ix_(keep, keep)] = np.linalg.inv(cov[np.ix_(keep, keep)])
    return info


def _vcov(result, kind: str):
    """``(names, estimates (p,), Cov (p, p))`` of a fit's reported parameters."""
    if result.layout is None:
        return _gaussian_vcov(result, kind)
    obj, args, u = _model_parts(result)
    info = np.asarray(_info_u(obj, kind, u, args), np.float64)
    keep = ~np.asarray(result.at_bound)
    cov_u = _cov_u(info, keep)
    est, jac = (np.asarray(a, np.float64) for a in _natural(obj, u, args))
    cov = jac @ cov_u @ jac.T
    cov[~keep, :] = np.nan
    cov[:, ~keep] = np.nan
    return tuple(result.names), est, cov


# ---------------------------------------------------------------------------- Gaussian


def _gaussian_expected(result) -> np.ndarray:
    """Expected information of a Gaussian fit in ``phi = (mean, vech cov)``, restricted to
    its free coordinates and inverted (``Cov(phi)``; zero rows for fixed parts)."""
    from .._model_objective import _fisher_block

    prep, _ = setup(result)
    d = result.stats.mean.shape[-1]
    cov = np.reshape(np.asarray(result.cov, np.float64), (d, d))
    rows, cols = np.tril_indices(d)
    m = len(rows)
    j_mean = np.concatenate([np.eye(d), np.zeros((d, m))], axis=1)
    j_cov = np.zeros((d + m, d, d))
    j_cov[d + np.arange(m), rows, cols] = 1.0
    j_cov[d + np.arange(m), cols, rows] = 1.0
    ps = result.stats.as_patterns()  # complete data: one pattern observing everything
    per = jax.vmap(_fisher_block, in_axes=(None, None, None, 0))(
        cov, j_mean, j_cov, jnp.asarray(ps.mask, jnp.float64)
    )
    info = np.einsum("p,pij->ij", np.asarray(ps.count, np.float64), np.asarray(per))
    index, combine = prep.problem.spec.free_coordinates(d)
    sub = info[np.ix_(index, index)]
    if combine is not None:
        sub = combine.T @ sub @ combine
    vsub = np.linalg.inv(sub)
    if combine is not None:
        vsub = combine @ vsub @ combine.T
    out = np.zeros_like(info)
    out[np.ix_(index, index)] = vsub
    return out


def _gaussian_vcov(result, kind: str):
    d = result.stats.mean.shape[-1]
    rows, cols = np.tril_indices(d)
    mean = np.reshape(np.asarray(result.mean, np.float64), (d,))
    cov = np.reshape(np.asarray(result.cov, np.float64), (d, d))
    est = np.concatenate([mean, cov[rows, cols]])
    if kind == "observed":
        vcov = np.asarray(standard_errors(result).vcov, np.float64)
    else:
        vcov = _gaussian_expected(result)
    names = gaussian_names(d, result.univariate, result.columns)[0]
    keep = np.diagonal(vcov) > 0  # fixed parts have none
    idx = np.flatnonzero(keep)
    return tuple(names[i] for i in idx), est[idx], vcov[np.ix_(idx, idx)]


# ------------------------------------------------------------------------------- tables


def _normal_sf2(z: np.ndarray) -> np.ndarray:
    """Two-sided normal p-value ``2 (1 - Phi(|z|))``."""
    return np.array([math.erfc(abs(v) / math.sqrt(2.0)) if np.isfinite(v) else np.nan for v in z])


def parameter_table(result, information: str | None = None, *, level: float = 0.95, bootstrap=None):
    """Estimates, standard errors, z, p-values and Wald intervals of every free parameter,
    by name.

    Args:
        result: one fit (``fit``; ``res[k]`` for a member of ``fit_many``) of any model.
        information: ``"observed"`` (the autodiff Hessian of the observed-data NLL) or
            ``"expected"`` (the Fisher information); default lavaan's: expected for complete
            data, observed for incomplete data (FIML).
        level: the coverage of the Wald intervals ``estimate +- z se``.
        bootstrap: a :class:`~mle_jax.inference.Bootstrap` of this fit: its standard
            errors and percentile intervals replace the information's
            (``attrs["information"]`` is then ``"bootstrap"``).

    Returns:
        A pandas DataFrame (when pandas is installed; ``attrs["information"]`` says which)
        with columns ``name, estimate, se, z, p, ci_lower, ci_upper``, else a
        :class:`ParameterTable`. Parameters at a bound (``res.boundary``) have NaN errors.

    Examples:
        >>> import numpy as np, mle_jax as mj
        >>> x = np.random.default_rng(0).normal(size=(200, 2))
        >>> tab = mj.inference.parameter_table(mj.fit(x, mj.CompoundSymmetry()))
        >>> list(tab["name"])
        ['rho', 'var', 'mean[0]', 'mean[1]']
    """
    table = table_rows(result, information, level=level, bootstrap=bootstrap)
    try:
        import pandas as pd
    except ImportError:
        return table
    extra = table.extra or {}
    static = {k: v for k, v in extra.items() if not isinstance(v, np.ndarray)}
    derived = {k: v for k, v in extra.items() if isinstance(v, np.ndarray)}
    cells = {f: getattr(table, f) for f in ParameterTable._fields[1:-2]}
    frame = pd.DataFrame({"name": table.name, **static, **cells, **derived})
    frame.attrs["information"] = table.information
    return frame


def table_rows(
    result, information: str | None = None, *, level: float = 0.95, bootstrap=None
) -> ParameterTable:
    """:func:`parameter_table` as a :class:`ParameterTable` (whether or not pandas is there)."""
    kind = _check(result, information)
    warn_unconverged(result, "a parameter table")
    report = None if result.layout is None else result.model.report()
    if report is None:
        names, est, cov = _vcov(result, kind)
        extra = None
    else:
        names, est, cov, extra = _report_vcov(result, kind, report)
    var = np.diagonal(cov)
    se = np.where(np.isfinite(var) & (var >= 0), np.sqrt(np.abs(var)), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, est / se, np.nan)  # a fixed row (se 0) has no z
    q = z_value(level)
    lower, upper = est - q * se, est + q * se
    if bootstrap is not None:
        if tuple(bootstrap.names) != tuple(names):
            raise ValueError("bootstrap= is not a bootstrap of this fit (its rows differ)")
        se, lower, upper, kind = bootstrap.se, bootstrap.ci_lower, bootstrap.ci_upper, "bootstrap"
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se > 0, est / se, np.nan)
    return ParameterTable(tuple(names), est, se, z, _normal_sf2(z), lower, upper, kind, extra)


def _report_vcov(result, kind: str, report):
    """A model's own rows (:meth:`~mle_jax.Model.report`): estimates, their covariance by
    the delta method (NaN for rows that depend on a parameter at a bound) and the columns."""
    obj, args, u = _model_parts(result)
    info = np.asarray(_info_u(obj, kind, u, args), np.float64)
    at = np.asarray(result.at_bound)
    cov_u = _cov_u(info, ~at)
    est, jac, derived = _host(_report_values(obj, u, args))
    cov = jac @ cov_u @ jac.T
    touched = (np.abs(jac[:, at]) > 0).any(axis=1)
    cov[touched, :] = np.nan
    cov[:, touched] = np.nan
    return tuple(report.names), est, cov, {**report.columns, **derived}


def _host(tree):
    return jax.tree.map(lambda a: np.array(a, np.float64), tree)


@functools.partial(jax.jit, static_argnums=0)
def _report_values(obj: ModelObjective, u, args: ModelArgs):
    """A model's rows at ``u``: values, their Jacobian in ``u`` and the derived columns."""
    report = obj.model.report()
    assert report is not None
    fn = lambda v: report.values(obj.layout.unflatten(v, args.fixed)[0])  # noqa: E731
    params = obj.layout.unflatten(u, args.fixed)[0]
    derived = {key: f(params) for key, f in report.derived.items()}
    return fn(u), jax.jacfwd(fn)(u), derived


class Delta(NamedTuple):
    """The delta method's ``estimate`` and standard error ``se`` (the shape of ``fn``'s
    output) and their covariance ``vcov``."""

    estimate: np.ndarray
    se: np.ndarray
    vcov: np.ndarray


def delta(result, fn: Callable[[Any], Any], information: str | None = None) -> Delta:
    """Standard errors of a derived quantity ``fn(params)`` of a model fit by the delta
    method: ``Var f = J Cov(u) J^T`` with ``J`` the Jacobian of ``f`` in the free coordinates.

    Example: the covariance matrix of a factor model, ``delta(res, lambda p: p["loadings"] @
    p["loadings"].T + jnp.diag(p["uniquenesses"]))``.
    """
    kind = _check(result, information)
    if result.layout is None:
        raise TypeError("delta takes a Model fit (for a Gaussian use standard_errors)")
    obj, args, u = _model_parts(result)
    info = np.asarray(_info_u(obj, kind, u, args), np.float64)
    keep = ~np.asarray(result.at_bound)
    cov_u = _cov_u(info, keep)
    g = lambda v: jnp.ravel(fn(obj.layout.unflatten(v, args.fixed)[0]))  # noqa: E731
    value = np.asarray(g(u), np.float64)
    jac = np.asarray(jax.jacfwd(g)(u), np.float64)
    vcov = jac @ cov_u @ jac.T
    shape = np.shape(fn(result.params))
    se = np.sqrt(np.clip(np.diagonal(vcov), 0, None))
    return Delta(value.reshape(shape), se.reshape(shape), vcov)


# --------------------------------------------------------------------- likelihood ratios


def num_params(result) -> int:
    """Number of estimated parameters of a fit's model.

    ``d`` for a free mean plus ``d(d+1)/2`` (full), ``d`` (diag) or ``1`` (spherical) for a
    free covariance; fixed parts count 0. For a :class:`~mle_jax.Model`, its free scalars.
    """
    if result.layout is not None:
        return int(result.layout.size)
    return result.model.num_params(result.stats.mean.shape[-1])


class LRTest(NamedTuple):
    """A likelihood-ratio test: ``chisq = 2 (nll_restricted - nll_general)`` on ``df``
    degrees of freedom, its ``pvalue``, and the two log-likelihoods."""

    chisq: float
    df: int
    pvalue: float
    loglik_restricted: float
    loglik_general: float


def saturated(result):
    """The saturated (unrestricted) Gaussian fit to a fit's own statistics (the h1 model:
    the sample moments for complete data, the FIML estimate for incomplete data, started
    at the fit's own moments)."""
    from .._fit import fit

    start = (np.asarray(result.mean, np.float64), np.asarray(result.cov, np.float64))
    return fit(result.stats, columns=result.columns, tol=_tight_tol(), init=start)


def lr_test(restricted, general=None) -> LRTest:
    """Likelihood-ratio test of a model against a more general one fitted to the same data
    (default: the saturated Gaussian, which gives lavaan's model chi-square).

    Raises:
        ValueError: the fits are not on the same data, or the general model is not more
            general (fewer parameters).
    """
    for r in (restricted, general):
        if r is not None and r.batch_shape:
            raise ValueError("lr_test takes single fits: pass res[k] for a fit_many member")
    if general is None:
        general = saturated(restricted)
    if not np.isclose(float(restricted.count), float(general.count)):
        raise ValueError("the two fits are not on the same data (their counts differ)")
    df = num_params(general) - num_params(restricted)
    if df <= 0:
        raise ValueError(
            f"the general model has {num_params(general)} parameters and the restricted one "
            f"{num_params(restricted)}: pass the more general fit second"
        )
    for r in (restricted, general):
        if int(np.asarray(r.status)) != Status.CONVERGED:
            warn_unconverged(r, "a likelihood-ratio test")
    chisq = max(0.0, 2.0 * (float(restricted.nll) - float(general.nll)))
    pvalue = float(jax.scipy.special.gammaincc(df / 2.0, chisq / 2.0))
    return LRTest(chisq, df, pvalue, -float(restricted.nll), -float(general.nll))


def _tight_tol() -> float | None:
    """The saturated fit's tolerance: 1e-10 in float64; float32's default (1e-5) without x64,
    where statistics are computed in float32 and 1e-10 is out of reach."""
    return 1e-10 if jax.config.read("jax_enable_x64") else None
