"""Profile likelihood: the objective minimised over everything but one scalar parameter.

``{v : 2 (min_{theta_i = v} NLL - NLL_min) <= chi2_1(level)}`` is the profile interval; each
inner minimisation is a fit of the constrained model with the same jitted loop, rebuilt from
``result.stats`` (no data needed).
"""

from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp
import numpy as np

from .. import _validate
from .._fit_model import _hold, _nll, _solve_bounded
from .._objective import objective
from .._solve import default_optimizer, default_tol, solve_jit
from .._types import ConvergenceWarning, Status
from ._errors import _param_covariance, setup, theta, warn_unconverged, z_value
from ._table import _cov_u, _info_u, _model_parts, _natural

__all__ = ["profile_interval", "profile_nll"]


def _parse_param(param, d: int, univariate: bool, columns=None):
    """``"mean"``/``"var"``/``"std"`` (1-D), ``"mean[i]"``, ``"var[i]"``, ``"cov[i,i]"``,
    ``"std[i]"`` with ``i`` an index or a column name (the names :func:`summary` prints), or
    a tuple ``("mean", i)`` -> ``(kind, index)``."""
    labels = list(columns) if columns is not None else []

    def index(token):
        token = str(token).strip()
        if token in labels:
            return labels.index(token)
        try:
            return int(token)
        except ValueError:
            raise ValueError(
                f"cannot parse parameter {param!r}: {token!r} is neither a column name "
                f"({', '.join(labels) or 'none known'}) nor an index"
            ) from None

    if isinstance(param, tuple):
        kind, idx = str(param[0]), tuple(index(t) for t in param[1:])
    else:
        text = str(param).strip()
        if text == "var (common)":
            text = "var[0]"
        if "[" in text:
            if not text.endswith("]"):
                raise ValueError(f"cannot parse parameter {param!r}")
            kind, inner = text[:-1].split("[", 1)
            idx = tuple(index(t) for t in inner.split(","))
        else:
            kind, idx = text, ()
    kind = kind.strip()
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

    def __init__(self, result, param, optimizer, max_steps, tol):
        if np.ndim(result.nll) != 0:
            raise ValueError("profiles are of one fit; pick a member of the batch: res[k]")
        warn_unconverged(result, "a profile")
        prep, free = setup(result)
        spec = prep.problem.spec
        d = result.stats.mean.shape[-1]
        kind, idx = _parse_param(param, d, result.univariate, result.columns)
        if kind == "mean" and spec.fix_mean:
            raise ValueError("the mean is fixed (fix_mean) in this fit: it has no profile")
        if kind in ("var", "std") and spec.fix_cov:
            raise ValueError("the covariance is fixed (fix_cov) in this fit: it has no profile")
        self.kind, self.idx = kind, idx
        self.prep, self.spec, self.free = prep, spec, free
        self.dtype = prep.data.dtype
        self.count = float(result.stats.total_count())
        self.const = float(prep.nll_offset)
        self.shift = prep.affine.shift
        self.scale = prep.affine.factor.diagonal()
        self.optimizer = default_optimizer() if optimizer is None else optimizer
        self.max_steps = int(max_steps)
        self.tol = jnp.asarray(default_tol(self.dtype) if tol is None else float(tol), self.dtype)
        self.minimum = float(self.count * objective(free, prep.problem)) + self.const
        th = np.asarray(theta(spec, free), np.float64)  # (mean, tril(cov), std)
        std_hat = th[d + d * (d + 1) // 2 + idx]
        self.estimate = {"mean": th[idx], "var": std_hat**2, "std": std_hat}[kind]
        self.unconverged = 0

    def __call__(self, value: float) -> float:
        """Minimum of the total objective with the parameter held at ``value`` (user units)."""
        i, scale = self.idx, self.scale[self.idx]
        if self.kind == "mean":
            v_std, kind = (value - self.shift[i]) / scale, "mean"
        else:
            var = value**2 if self.kind == "std" else value
            if not var > 0:
                return math.inf
            v_std, kind = var / scale**2, "var"
        spec = dataclasses.replace(
            self.spec,
            profile=True,
            profile_kind=jnp.asarray(0 if kind == "mean" else 1),
            profile_index=jnp.asarray(i),
            profile_value=jnp.asarray(v_std, self.dtype),
        )
        problem = self.prep.problem._replace(spec=spec)
        state, _ = solve_jit(
            problem, self.free, self.tol, optimizer=self.optimizer, max_steps=self.max_steps
        )
        if int(state.status) != Status.CONVERGED:
            self.unconverged += 1
        return float(state.best_loss) * self.count + self.const


def profile_nll(
    result, param, values, *, optimizer=None, max_steps: int = 1000, tol=None
) -> np.ndarray:
    """The profile objective of one scalar parameter at given values.

    ``min over all other free parameters`` of the total NLL (minus the log prior of a MAP
    fit, plus any ridge penalty) with ``param`` held at each value, in the user's units (so
    ``profile_nll(res, p, [estimate]) == res.nll`` for an MLE). Each minimisation runs the
    fit's jitted loop on the constrained model, compiled once per parameter kind.

    Args:
        result: one :class:`~mle_jax.FitResult`.
        param: ``"mean"``, ``"var"`` or ``"std"`` for univariate data; ``"mean[i]"``,
            ``"var[i]"`` (= ``"cov[i,i]"``) or ``"std[i]"`` with ``i`` an index or a column
            name (every name :func:`~mle_jax.summary` prints); or a tuple ``("mean", i)``.
        values: the values to hold it at (user units).
        optimizer, max_steps, tol: of the inner fits (default: the fit defaults).

    Returns:
        ``(len(values),)`` float64 array.
    """
    prof = _Profiler(result, param, optimizer, max_steps, tol)
    out = np.array([prof(float(v)) for v in np.atleast_1d(np.asarray(values, np.float64))])
    if prof.unconverged:
        _validate.warn(
            f"{prof.unconverged} inner profile fit(s) stopped before converging",
            ConvergenceWarning,
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
    param,
    *,
    level: float = 0.95,
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
        result, param, optimizer, max_steps, tol: as for :func:`profile_nll`.
        level: coverage in ``(0, 1)``.
        xtol: tolerance on each end, relative to the Wald standard error.

    Returns:
        ``(lower, upper)`` floats in the user's units (an end is ``-inf``/``inf``, or 0 for a
        variance, where the profile never crosses the threshold).

    Raises:
        ValueError: the fit did not converge (an interval is built around the MLE), or
            ``param`` is not a parameter of the fit.
    """
    _refuse_unconverged(result)
    if result.layout is not None:  # a Model fit: parameters by their names
        return model_profile_interval(
            result, param, level=level, optimizer=optimizer, max_steps=max_steps, tol=tol
        )
    z = z_value(level)
    prof = _Profiler(result, param, optimizer, max_steps, tol)
    target = prof.minimum + 0.5 * z * z
    est = prof.estimate
    log_scale = prof.kind in ("var", "std")
    # the Wald standard error sets the step of the search
    var = _param_covariance(prof.prep.problem, prof.free)[1]
    d = prof.prep.affine.shift.shape[-1]
    diag_idx = d + prof.idx * (prof.idx + 1) // 2 + prof.idx
    pos = {"mean": prof.idx, "var": diag_idx, "std": d + d * (d + 1) // 2 + prof.idx}[prof.kind]
    se = float(np.sqrt(max(float(var[pos]), 0.0)))
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
        _validate.warn(
            f"{prof.unconverged} inner profile fit(s) stopped before converging",
            ConvergenceWarning,
        )
    return ends[0], ends[1]


def _refuse_unconverged(result) -> None:
    """A profile interval is the set around the MLE where the likelihood ratio stays below
    chi2_1: around a point that is not the MLE it has no meaning (and its search runs off)."""
    if np.ndim(result.converged) == 0 and not bool(result.converged):
        raise ValueError(
            "profile_interval needs a fit that converged: this one stopped with status "
            f"{Status.name(result.status)} after {int(result.num_steps)} steps (gradient norm "
            f"{float(result.grad_norm):.2e}), so its point is not the maximum-likelihood "
            "estimate and an interval around it has no meaning. Refit until res.converged is "
            "True (raise max_steps, loosen tol, or pass another init or optimizer)"
        )


def model_profile_interval(
    result, name: str, *, level: float = 0.95, optimizer=None, max_steps: int = 1000, tol=None
) -> tuple[float, float]:
    """Profile-likelihood interval of one named parameter of a :class:`~mle_jax.Model` fit
    (see :func:`~mle_jax.inference.profile_interval`): the other parameters are refitted with
    this one held, and the ends are where twice the NLL rises by ``chi2_1(level)``."""
    _refuse_unconverged(result)
    names = list(result.names)
    if name not in names:
        raise ValueError(f"unknown parameter {name!r}; the fit's parameters are {names}")
    i = names.index(name)
    at_bound = np.asarray(result.at_bound)
    if at_bound[i]:
        raise ValueError(f"{name} is at its bound: a profile interval around it is one-sided")
    obj, args, u_hat = _model_parts(result)
    est, jac = (np.asarray(a, np.float64) for a in _natural(obj, u_hat, args))
    row = np.abs(jac[i])
    if row[i] == 0 or np.count_nonzero(row > 1e-12 * row.max()) != 1:
        raise ValueError(
            f"{name} depends on several free coordinates (a correlation matrix's entry): use "
            "its Wald interval (parameter_table) or delta()"
        )
    info = np.asarray(_info_u(obj, "observed", u_hat, args), np.float64)
    var = _cov_u(info, ~at_bound)[i, i]
    step = float(np.sqrt(var)) if np.isfinite(var) and var > 0 else 0.1
    z = z_value(level)
    target = float(_nll(obj, u_hat, args)) + 0.5 * z * z
    dtype = np.asarray(args.u0).dtype
    tol = np.asarray(default_tol(dtype) if tol is None else tol, dtype)
    args = args._replace(gate=tol)
    common = dict(
        objective=obj,
        optimizer=default_optimizer() if optimizer is None else optimizer,
        max_steps=int(max_steps),
    )
    u_hat = np.asarray(u_hat, np.float64)
    held = at_bound.copy()
    held[i] = True
    unconverged = []

    def h(t: float) -> float:
        u = u_hat.copy()
        u[i] = t
        state, nll, _ = _solve_bounded(obj, _hold(obj, args, u, held), tol, common)
        if int(np.asarray(state.status)) != Status.CONVERGED:
            unconverged.append(t)
        return float(nll) - target

    def value(t: float) -> float:
        u = u_hat.copy()
        u[i] = t
        return float(np.asarray(obj.layout.natural(jnp.asarray(u), args.fixed))[i])

    ends = []
    h_hat = h(u_hat[i])
    for sign in (-1.0, 1.0):
        inside, h_in, end = u_hat[i], h_hat, None
        for k in range(40):
            t = u_hat[i] + sign * step * 2.0**k * 0.5
            ht = h(t)
            if ht > 0:
                end = value(_root(h, inside, t, h_in, ht, 1e-9 * step))
                break
            inside, h_in = t, ht
        ends.append(value(inside) if end is None else end)
    if unconverged:
        warn_unconverged(result.replace(converged=np.asarray(False)), "a profile interval")
    return min(ends), max(ends)
