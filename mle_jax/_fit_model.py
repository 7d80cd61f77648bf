"""The driver of a :class:`~mle_jax.Model` fit, on the one pipeline.

``statistics (_statistics.collect) -> model args (prepare) -> solve (_solve.solve with the
model's objective) -> result``. The statistics are whatever ``collect`` gave (complete, by
missingness pattern, weighted, streamed, sharded, summary statistics), so every model gets
every entry point; a batch of fits (``fit_many``) carries a leading axis on every array.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from . import _validate
from ._batch import map_blocks
from ._model_objective import AT_BOUND, ModelArgs, ModelObjective, fisher
from ._models import Layout, Model
from ._patterns import pad_patterns
from ._result import FitResult
from ._scoring import score, score_queue
from ._solve import finish_jit, solve, solve_jit
from ._standardise import Affine
from ._statistics import Data, moments
from ._types import Status

__all__ = ["fit_model", "fit_model_many", "model_args"]

_fisher = jax.jit(fisher, static_argnums=0)


def _scale_of(cov: np.ndarray) -> np.ndarray:
    var = np.diagonal(cov, axis1=-2, axis2=-1)
    ok = np.isfinite(var) & (var > 1e-300)
    return np.where(ok, np.sqrt(np.where(ok, var, 1.0)), 1.0)


def model_args(
    stats, shift, scale, fixed, u0, dtype, limits=None, precond=None, size=None
) -> ModelArgs:
    """Host :class:`ModelArgs` of unbatched statistics (complete or by pattern; pattern
    statistics padded to ``size`` patterns, default the bucket of their number, so that
    pattern counts in one bucket share one compiled loop; complete data of a batch too)."""
    affine = Affine.from_factor(shift, scale)
    if stats.incomplete or size is not None:
        std = affine.patterns_to_std(pad_patterns(stats.as_patterns(), size))
    else:  # complete data: their own (simpler, faster to compile) NLL
        std = affine.stats_to_std(stats)
    p = np.shape(u0)[0]
    eye = np.eye(p)
    cast = lambda a: np.asarray(a, dtype)  # noqa: E731
    return ModelArgs(
        stats=jax.tree.map(cast, std),
        affine=jax.tree.map(cast, affine),
        u0=cast(u0),
        precond=cast(eye if precond is None else precond),
        precond_inv=cast(eye if precond is None else np.linalg.inv(precond)),
        fixed=tuple(cast(a) for a in fixed),
        lo=cast(np.full(p, -np.inf) if limits is None else limits[0]),
        hi=cast(np.full(p, np.inf) if limits is None else limits[1]),
        count=cast(stats.total_count()),
        gate=cast(np.inf),
    )


def _check_params(model: Model, params, layout_ref: Layout, what: str):
    """The start's structure against the model's (for a user's ``init``)."""
    layout = Layout.of(model, params, layout_ref.free_mean)
    if (layout.treedef, layout.shapes) != (layout_ref.treedef, layout_ref.shapes):
        raise ValueError(
            f"{what} must have the structure and shapes of the model's parameters "
            f"({layout_ref.treedef}, shapes {layout_ref.shapes}); got {layout.treedef}, "
            f"shapes {layout.shapes}"
        )


@functools.partial(jax.jit, static_argnums=0)
def _start_info(obj: ModelObjective, params0, mean0, args: ModelArgs):
    """The start's free coordinates, moments and information."""
    u0 = obj.layout.flatten(params0, mean0)
    mean, cov = obj.moments(u0, args)
    return u0, mean, cov, fisher(obj, u0, args)


def _check_shapes(mean: tuple, cov: tuple, d: int, name: str) -> None:
    if mean != (d,) or cov != (d, d):
        raise ValueError(
            f"the model gives a mean of shape {mean} and a covariance of shape {cov} for "
            f"{name} with d = {d} columns; expected ({d},) and ({d}, {d})"
        )


def _prepare_one(obj: ModelObjective, stats, params0, names, name: str, size):
    """One member's host preparation: the standardiser, the start in free coordinates, its
    checks, and the information there (the preconditioner and the identification check)."""
    d = np.shape(stats.mean)[-1]
    mean0, cov0 = moments(stats)
    shift, scale = np.asarray(mean0, np.float64), _scale_of(cov0)
    fixed = obj.layout.fixed_values(params0)
    args = model_args(stats, shift, scale, fixed, np.zeros(obj.layout.size), np.float64, size=size)
    try:
        u0, mean, cov, info = _host_tree(_start_info(obj, params0, mean0, args))
    except Exception as err:  # a model whose functions do not fit the data: say how
        shapes = jax.eval_shape(obj.moments, args.u0, args)
        _check_shapes(shapes[0].shape, shapes[1].shape, d, name)
        raise ValueError(
            f"evaluating the model at the start of {name} failed with {type(err).__name__}: {err}"
        ) from err
    _check_shapes(mean.shape, cov.shape, d, name)
    if not np.all(np.isfinite(u0)):
        bad = [names[i] for i in np.flatnonzero(~np.isfinite(u0))[:5]]
        raise ValueError(
            f"the start of {name} is outside the constraints at {bad} (a variance <= 0, a "
            "correlation outside (-1, 1), ...); pass an init= inside them"
        )
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(cov))):
        raise ValueError(f"the model's mean or covariance is not finite at the start of {name}")
    if np.any(np.linalg.eigvalsh(0.5 * (cov + cov.T)) <= 0):
        raise ValueError(
            f"the model's covariance is not positive definite at the start of {name}; pass "
            "an init= at which it is"
        )
    with np.errstate(all="ignore"):
        limits = obj.layout.limits(params0, AT_BOUND)
    return (stats, shift, scale, fixed, u0, limits), info


def layout_names(model: Model, layout: Layout, columns) -> list[str]:
    names = list(model.names(layout, columns))
    if len(names) != layout.size:
        raise ValueError(f"the model names {len(names)} parameters but has {layout.size}")
    return names


def _identified(info: np.ndarray, names: list[str], what: str) -> np.ndarray:
    """``P`` from the start's Fisher information, or an error naming the parameters that the
    data cannot tell apart (a near-null direction of the information)."""
    p = info.shape[0]
    if p == 0:
        return np.zeros((0, 0))
    diag = np.diagonal(info)
    if not np.all(np.isfinite(info)):
        raise ValueError(f"the model's information is not finite at the start{what}")
    s = np.sqrt(np.where(diag > 0, diag, 1.0))
    corr = info / s[:, None] / s[None, :]
    vals, vecs = np.linalg.eigh(0.5 * (corr + corr.T))
    if np.any(diag <= 1e-300) or vals[0] < 1e-10 * max(vals[-1], 1e-300):
        if np.any(diag <= 1e-300):
            involved = [names[i] for i in np.flatnonzero(diag <= 1e-300)]
            why = "the likelihood does not depend on"
        else:
            vec = np.abs(vecs[:, 0])
            involved = [names[i] for i in np.flatnonzero(vec > 0.1 * vec.max())]
            why = "the data cannot tell apart a change of"
        raise ValueError(
            f"the model is not identified{what}: {why} {', '.join(involved[:10])}; fix one "
            "of them (a constraints.fixed leaf, or a scale: a loading fixed to 1 or a "
            "variance fixed to 1) or drop it"
        )
    chol = np.linalg.cholesky(0.5 * (info + info.T))
    return np.linalg.inv(chol).T  # P = L^{-T}: P^T F P = I


def prepare(model: Model, data: Data, init=None, *, precondition: str = "whiten"):
    """``(objective, args (host, batch axes first for a batch), names)``."""
    stats, dtype = data.stats, data.dtype
    batched = bool(stats.batch_shape)
    if batched:
        members = [type(stats)(*(a[k] for a in stats)) for k in range(len(stats.count))]
    else:
        members = [stats]
    d = np.shape(stats.mean)[-1]
    columns = data.columns or tuple(str(j) for j in range(d))
    model = model.bind(d)
    model.check(d, columns)
    inits = _member_inits(init, len(members))
    ref = model.start(*moments(members[0]))
    layout = Layout.of(model, ref, d)
    names = layout_names(model, layout, columns)
    starts, checked = [], {}
    for k, (st, start) in enumerate(zip(members, inits, strict=True)):
        if start is None:
            starts.append(ref if k == 0 else model.start(*moments(st)))
            continue
        if id(start) not in checked:  # a start shared by the members is checked once
            _check_params(model, start, layout, "init")
            checked[id(start)] = jax.tree.map(lambda a: np.asarray(a, np.float64), start)
        starts.append(checked[id(start)])
    obj = ModelObjective(model, layout)
    if batched:
        # one number of patterns for every member of a batch; complete data keep their own
        # (simpler, faster) NLL
        size = None
        if stats.incomplete:
            size = max(len(st.as_patterns().count) for st in members)
        args = _prepare_many(obj, members, starts, names, size, precondition)
        if args is not None:
            return obj, jax.tree.map(lambda a: np.asarray(a, dtype), args), names
    out, size = [], size if batched else None
    for k, (st, params0) in enumerate(zip(members, starts, strict=True)):
        what = f"xs[{k}]" if batched else "x"
        parts, info = _prepare_one(obj, st, params0, names, what, size)
        precond = None if precondition == "none" else _identified(info, names, f" for {what}")
        st, shift, scale, fixed, u0, limits = parts
        out.append(model_args(st, shift, scale, fixed, u0, dtype, limits, precond, size))
    args = jax.tree.map(lambda *a: np.stack(a), *out) if batched else out[0]
    return obj, args, names


@functools.partial(jax.jit, static_argnums=0)
def _start_info_many(obj: ModelObjective, params0, mean0, args: ModelArgs):
    return jax.vmap(functools.partial(_start_info, obj))(params0, mean0, args)


def _prepare_many(obj: ModelObjective, members, starts, names, size, precondition):
    """:func:`_prepare_one` and the preconditioner of every member of a batch at once: one
    compiled call for the starts' information, the checks vectorised. ``None`` when a
    member fails a check (the caller then prepares member by member, for the message)."""
    d = np.shape(members[0].mean)[-1]
    p = obj.layout.size
    base, means, limits = [], [], {}
    for st, params0 in zip(members, starts, strict=True):
        mean0, cov0 = moments(st)
        shift, scale = np.asarray(mean0, np.float64), _scale_of(cov0)
        fixed = obj.layout.fixed_values(params0)
        base.append(model_args(st, shift, scale, fixed, np.zeros(p), np.float64, size=size))
        means.append(mean0)
        if id(params0) not in limits:
            with np.errstate(all="ignore"):
                limits[id(params0)] = obj.layout.limits(params0, AT_BOUND)
    args = jax.tree.map(lambda *a: np.stack(a), *base)
    params0 = jax.tree.map(lambda *a: np.stack(a), *starts)
    try:
        u0, mean, cov, info = _host_tree(_start_info_many(obj, params0, np.stack(means), args))
    except Exception:
        return None
    if mean.shape[1:] != (d,) or cov.shape[1:] != (d, d):
        return None
    with np.errstate(all="ignore"):
        ok = np.isfinite(u0).all(-1) & np.isfinite(mean).all(-1) & np.isfinite(cov).all((-2, -1))
        ok &= np.all(np.linalg.eigvalsh(0.5 * (cov + np.swapaxes(cov, -1, -2))) > 0, axis=-1)
    if not ok.all():
        return None
    lo = np.stack([limits[id(s)][0] for s in starts])
    hi = np.stack([limits[id(s)][1] for s in starts])
    eye = np.broadcast_to(np.eye(p), info.shape)
    precond = precond_inv = eye
    if precondition != "none" and p:
        diag = np.diagonal(info, axis1=-2, axis2=-1)
        if not (np.isfinite(info).all() and np.all(diag > 1e-300)):
            return None
        s = np.sqrt(diag)
        corr = info / s[:, :, None] / s[:, None, :]
        vals = np.linalg.eigvalsh(0.5 * (corr + np.swapaxes(corr, -1, -2)))
        if np.any(vals[:, 0] < 1e-10 * np.maximum(vals[:, -1], 1e-300)):
            return None
        chol = np.linalg.cholesky(0.5 * (info + np.swapaxes(info, -1, -2)))
        precond_inv = np.swapaxes(chol, -1, -2)  # P = L^{-T}, P^{-1} = L^T
        precond = np.linalg.inv(precond_inv)
    return args._replace(u0=u0, lo=lo, hi=hi, precond=precond, precond_inv=precond_inv)


def _member_inits(init, batch: int) -> list:
    """One start per member: ``None``, one shared pytree, or a pytree with a leading axis."""
    if init is None or batch == 1:
        return [init] * batch
    leaves = jax.tree.leaves(init)
    if leaves and all(np.ndim(a) >= 1 and np.shape(a)[0] == batch for a in leaves):
        return [jax.tree.map(lambda a, k=k: np.asarray(a)[k], init) for k in range(batch)]
    return [init] * batch


def _starts(p: int, starts: int, dtype) -> np.ndarray:
    """``(starts, p)`` starting points in the optimiser's (whitened) coordinates: the
    default start and ``starts - 1`` draws around it (seeded: a fit is reproducible)."""
    rng = np.random.default_rng(0)
    v = rng.normal(scale=0.5, size=(starts, p))
    v[0] = 0.0
    return v.astype(dtype)


def fit_model(
    data: Data,
    model: Model,
    *,
    init,
    tol,
    optimizer,
    max_steps: int,
    trace: bool,
    starts: int,
    precondition: str,
) -> FitResult:
    """One model fit (see :func:`mle_jax.fit`)."""
    obj, args, names = prepare(model, data, init, precondition=precondition)
    args = args._replace(gate=np.asarray(tol, args.gate.dtype))
    p = obj.layout.size
    if optimizer is None:  # the default: Fisher scoring (_scoring.py)
        if starts == 1:
            state, final_nll = _score(obj, args, tol, max_steps=max_steps, record_path=trace)
        else:
            v0 = _starts(p, starts, np.float64)
            u0 = np.asarray(args.u0, np.float64) + v0 @ np.asarray(args.precond, np.float64).T
            state, final_nll = _score_starts(
                obj, args, u0.astype(data.dtype), tol, max_steps=max_steps
            )
            best = _best_start(np.asarray(state.status), np.asarray(final_nll))
            state, final_nll = jax.tree.map(lambda a: a[best], (state, final_nll))
        return result(obj, args, data, names, state, final_nll, trace=trace)
    common = dict(objective=obj, optimizer=optimizer, max_steps=max_steps)
    if starts == 1 and trace:
        v0 = np.zeros(p, data.dtype)
        state, final_nll = solve_jit(args, v0, tol, record_path=True, **common)
    elif starts == 1:
        state, final_nll, args = _solve_bounded(obj, args, tol, common)
    else:
        v0 = _starts(p, starts, data.dtype)
        state, final_nll = _solve_starts(args, v0, tol, **common)
        best = _best_start(np.asarray(state.status), np.asarray(final_nll))
        state, final_nll = jax.tree.map(lambda a: a[best], (state, final_nll))
    return result(obj, args, data, names, state, final_nll, trace=trace)


_CHUNK = 50  # steps before the driver looks for parameters held at a bound


def _solve_bounded(obj: ModelObjective, args: ModelArgs, tol, common: dict):
    """:func:`solve` in chunks of ``_CHUNK`` steps, one compiled program. A fit that needs
    more restarts from its best point, re-whitened by the information there (L-BFGS's
    memory is dropped: a fresh quasi-Newton start in the current metric), and with any
    parameter that has reached its bound (a Heywood case) held there: a coordinate held at a
    clip leaves an oblique flat direction in the whitened coordinates along which L-BFGS
    crawls (500-1000 steps instead of ~200 on a double Heywood case). Returns the finished
    ``(state, nll)`` and the final args."""
    max_steps = common["max_steps"]
    v0 = np.zeros(obj.layout.size, np.asarray(args.u0).dtype)
    done, history = 0, []
    while True:
        left = max_steps - done
        state, _ = solve_jit(args, v0, tol, stop=min(_CHUNK, left), **common)
        steps = int(state.step)
        if int(state.status) != Status.RUNNING or steps >= left:
            break
        history.append(np.asarray(state.history)[: steps + (not history)])
        done += steps
        u = np.asarray(args.u0) + np.asarray(args.precond) @ np.asarray(state.best)
        u, held = _heading_to_bounds(obj, args, np.clip(u, args.lo, args.hi))
        args = _hold(obj, args, u, held)
    if int(state.status) == Status.RUNNING:  # the budget is spent
        state = state._replace(status=jnp.asarray(Status.MAX_STEPS, state.status.dtype))
    state, nll = finish_jit(state, args, obj)
    if history:  # one history and one step count over the restarts
        steps = int(state.step)
        whole = np.concatenate([*history, np.asarray(state.history)[1 : steps + 1]])
        full = np.full(np.shape(state.history), np.nan, whole.dtype)
        full[: whole.size] = whole
        state = state._replace(step=np.asarray(done + steps), history=full)
    return state, nll, args


_NEAR = 4 * np.log(10.0)  # a coordinate within 1e-4 of its limit's distance is tried there


def _heading_to_bounds(obj: ModelObjective, args: ModelArgs, u: np.ndarray):
    """``(u, held)``: coordinates at their limit, and those near it (a parameter within 1e-2
    of its start's distance to a bound) moved onto it where that does not raise the NLL."""
    lo, hi = np.asarray(args.lo, np.float64), np.asarray(args.hi, np.float64)
    near_lo, near_hi = u < lo + _NEAR, u > hi - _NEAR
    if (near_lo | near_hi).any() and not ((u <= lo) | (u >= hi))[near_lo | near_hi].all():
        moved = np.where(near_lo, lo, np.where(near_hi, hi, u))
        now, then = (float(_nll(obj, a, args)) for a in (u, moved))
        if then <= now + 1e-12 * abs(now):
            u = moved
    return u, (u <= lo) | (u >= hi)


@functools.partial(jax.jit, static_argnums=0)
def _nll(obj: ModelObjective, u, args: ModelArgs):
    return obj.nll(u, args)


def _hold(obj: ModelObjective, args: ModelArgs, u: np.ndarray, held: np.ndarray) -> ModelArgs:
    """Args that start at ``u`` with the ``held`` coordinates fixed there, preconditioned by
    the information of the others at ``u``."""
    dtype = np.asarray(args.u0).dtype
    lo = np.where(held, u, args.lo)
    hi = np.where(held, u, args.hi)
    info = np.asarray(_fisher(obj, u, args), np.float64)
    keep = (~held).astype(np.float64)
    info = info * keep[:, None] * keep[None, :] + np.diag(1.0 - keep)
    try:
        precond = np.linalg.inv(np.linalg.cholesky(0.5 * (info + info.T))).T
    except np.linalg.LinAlgError:
        precond = np.asarray(args.precond, np.float64)
    cast = lambda a: np.asarray(a, dtype)  # noqa: E731
    return args._replace(
        u0=cast(u), lo=cast(lo), hi=cast(hi), precond=cast(precond),
        precond_inv=cast(np.linalg.inv(precond)),
    )  # fmt: skip


def _best_start(status: np.ndarray, nll: np.ndarray) -> int:
    """The converged start with the lowest NLL (any start if none converged)."""
    ok = (status == Status.CONVERGED) & np.isfinite(nll)
    pool = np.where(ok if ok.any() else np.isfinite(nll), nll, np.inf)
    return int(np.argmin(pool))


def _solve_starts_impl(args, v0, tol, *, objective, optimizer, max_steps):
    def one(v):
        return solve(args, v, tol, objective=objective, optimizer=optimizer, max_steps=max_steps)

    return jax.vmap(one)(v0)


_solve_starts = jax.jit(_solve_starts_impl, static_argnames=("objective", "optimizer", "max_steps"))


_score = jax.jit(score, static_argnums=0, static_argnames=("max_steps", "history", "record_path"))


@functools.partial(jax.jit, static_argnums=0, static_argnames=("max_steps",))
def _score_starts(obj: ModelObjective, args: ModelArgs, u0, tol, *, max_steps: int):
    return jax.vmap(lambda u: score(obj, args._replace(u0=u), tol, max_steps=max_steps))(u0)


@functools.partial(
    jax.jit, static_argnums=0, static_argnames=("max_steps", "batch_size", "history")
)
def _score_many(obj: ModelObjective, args: ModelArgs, tol, *, max_steps, batch_size, history):
    return score_queue(obj, args, tol, max_steps=max_steps, slots=batch_size, history=history)


def fit_model_many(
    data: Data,
    model: Model,
    *,
    init,
    tol,
    optimizer,
    max_steps: int,
    batch_size,
    precondition,
    history: bool = True,
) -> FitResult:
    """A batch of model fits (see :func:`mle_jax.fit_many`); ``history=False`` carries no
    loss history through a scoring loop (the result's holds the first and last loss)."""
    obj, args, names = prepare(model, data, init, precondition=precondition)
    batch = np.shape(args.count)[0]
    if optimizer is None:  # the default: Fisher scoring (_scoring.py)
        state, final_nll = _score_many(
            obj, args, tol, max_steps=max_steps, batch_size=batch_size, history=history
        )
        return result(obj, args, data, names, state, final_nll, trace=False)
    args = args._replace(gate=np.full(batch, tol, args.gate.dtype))
    v0 = np.zeros((batch, obj.layout.size), data.dtype)
    state, final_nll = _solve_many(
        args, v0, tol, objective=obj, optimizer=optimizer, max_steps=max_steps,
        batch_size=batch_size,
    )  # fmt: skip
    return result(obj, args, data, names, state, final_nll, trace=False)


def _solve_many_impl(args, v0, tol, *, objective, optimizer, max_steps, batch_size):
    def one(a, v):
        return solve(a, v, tol, objective=objective, optimizer=optimizer, max_steps=max_steps)

    return map_blocks(one, (args, v0), batch_size)


_solve_many = jax.jit(
    _solve_many_impl, static_argnames=("objective", "optimizer", "max_steps", "batch_size")
)


def _host_tree(tree):
    return jax.tree.map(lambda a: np.asarray(a, np.float64), tree)


def _outputs_one(obj: ModelObjective, u, args: ModelArgs):
    """``u ->`` (params, (mean, cov)) in the user's units."""
    return obj.layout.unflatten(u, args.fixed)[0], obj.moments(u, args)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _outputs(obj: ModelObjective, batched: bool, u, args: ModelArgs):
    fn = functools.partial(_outputs_one, obj)
    return (jax.vmap(fn) if batched else fn)(u, args)


@functools.partial(jax.jit, static_argnums=0)
def _path(obj: ModelObjective, path, args: ModelArgs):
    return jax.vmap(lambda u: obj.layout.unflatten(u, args.fixed)[0])(path)


def result(obj: ModelObjective, args, data: Data, names, state, final_nll, *, trace) -> FitResult:
    """Map a finished loop back to the user's units (any leading batch axes)."""
    dtype = data.dtype
    u = np.asarray(state.best, np.float64)
    args64 = _host_tree(args)
    params, (mean, cov) = _host_tree(_outputs(obj, u.ndim > 1, u, args64))
    at_bound = (u <= args64.lo) | (u >= args64.hi)
    count = np.asarray(data.stats.total_count(), np.float64)
    offset = args64.affine.nll_offset(data.stats.observed_counts())
    history = np.asarray(state.history, np.float64) * count[..., None] + offset[..., None]
    path = None
    if trace:
        steps = int(state.step) + 1
        path = _host_tree(_path(obj, np.asarray(state.path, np.float64)[:steps], args64))
    std = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    status = np.asarray(state.status)
    converged = status == Status.CONVERGED
    cast = lambda a: np.asarray(a, dtype)  # noqa: E731
    fields = dict(
        mean=cast(mean),
        cov=cast(cov),
        std=cast(std),
        params=jax.tree.map(cast, params),
        nll=cast(np.asarray(final_nll, np.float64) + offset),
        converged=converged,
        loss_history=cast(history),
        count=cast(count),
        path=None if path is None else jax.tree.map(cast, path),
        free=cast(u),
        at_bound=at_bound,
    )
    res = FitResult(
        **jax.device_put(fields),
        status=state.status,
        num_steps=state.step,
        grad_norm=state.best_grad_norm,
        stats=data.stats,
        standardiser=args64.affine,
        model=obj.model,
        univariate=False,
        columns=data.columns,
        layout=obj.layout,
        names=tuple(names),
    )
    _warn_boundary(res)
    return res


def _warn_boundary(res: FitResult) -> None:
    """A Heywood/boundary warning naming the parameters at their bound."""
    at = np.asarray(res.at_bound)
    ok = np.asarray(res.converged)
    if not (at & ok[..., None]).any():
        return
    names = res.names or ()
    if at.ndim == 1:
        which = [names[i] for i in np.flatnonzero(at)]
        text = (
            f"boundary (Heywood) solution: {', '.join(which)} at its bound (a variance or "
            "uniqueness of 0, a correlation of +-1); the estimate is a boundary optimum, its "
            "standard error is not reported and likelihood-ratio tests against it are not "
            "chi-square; see res.boundary"
        )
    else:
        members = np.flatnonzero((at & ok[:, None]).any(-1))
        text = (
            f"boundary (Heywood) solutions in {members.size} of {at.shape[0]} fits (members "
            f"{members[:10].tolist()}); see res.boundary"
        )
    _validate.warn(text, BoundaryWarning)


class BoundaryWarning(UserWarning):
    """A fit ended with a parameter at its bound (a Heywood case): see ``res.boundary``."""
