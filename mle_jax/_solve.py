"""The optimisation loop: any optax transformation, the whole loop in one ``lax.while_loop``.

:func:`solve` is pure and unbatched (``jax.vmap`` lifts it for ``fit_many``). It takes the
objective as an argument (as optimistix's ``minimise(fn, solver, y0, args)`` does): an
:class:`Objective` whose ``value(params, args)`` it minimises, whose ``stationarity`` it
asks for the invariant convergence measure, and whose ``finish`` maps the returned point out.
It keeps the best point visited, with a :class:`~mle_jax.Status` per fit. Nothing here knows
what a model is.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import optax

from . import _progress
from ._objective import GAUSSIAN
from ._types import Status

__all__ = ["Objective", "default_optimizer", "default_tol", "finish", "solve", "solve_jit"]


@functools.cache
def default_optimizer() -> optax.GradientTransformationExtraArgs:
    """The default optimiser: ``optax.lbfgs`` with a zoom line search (strong Wolfe).

    Created once, so that repeated fits hit the same compiled loop.
    """
    return optax.lbfgs(
        memory_size=10,
        linesearch=optax.scale_by_zoom_linesearch(
            max_linesearch_steps=30, initial_guess_strategy="one"
        ),
    )


def default_tol(dtype) -> float:
    """Gradient-norm tolerance on the standardised mean NLL: 1e-9 (float64), 1e-5 (float32)."""
    return 1e-9 if jnp.dtype(dtype) == jnp.float64 else 1e-5


class Objective(Protocol):
    """What :func:`solve` minimises; instances are static (hashable) jit arguments.

    * ``value(params, args) -> ()``: the objective (a mean NLL per sample, plus penalties);
    * ``stationarity(params, grad, args) -> ()``: a convergence measure that no change of
      units or of parameters can make small away from a stationary point; the loop stops
      when it is ``<= tol`` (``inf``: not yet);
    * ``finish(params, args) -> (out, nll)``: the returned point as the result reads it, and
      the total data NLL there.
    """

    def value(self, params: Any, args: Any) -> jax.Array: ...

    def stationarity(self, params: Any, grad: Any, args: Any) -> jax.Array: ...

    def finish(self, params: Any, args: Any) -> tuple[Any, jax.Array]: ...


class _State(NamedTuple):
    params: Any
    opt_state: Any
    step: jax.Array
    loss: jax.Array
    grad: Any
    grad_norm: jax.Array
    best: Any
    best_loss: jax.Array
    best_grad_norm: jax.Array
    history: jax.Array
    path: Any
    status: jax.Array


def _finite_tree(tree) -> jax.Array:
    return jnp.all(jnp.asarray([jnp.all(jnp.isfinite(a)) for a in jax.tree.leaves(tree)]))


def _status(loss, grad_norm, step, tol, max_steps, natural, params_ok: Any = True):
    """CONVERGED needs a finite point and the objective's stationarity measure <= tol."""
    ok = natural <= tol
    return jnp.where(
        ~(jnp.isfinite(loss) & jnp.isfinite(grad_norm) & params_ok),
        Status.NONFINITE,
        jnp.where(
            ok,
            Status.CONVERGED,
            jnp.where(step >= max_steps, Status.MAX_STEPS, Status.RUNNING),
        ),
    )


def _stored_value_and_grad(opt_state):
    """The value and gradient a line search stored in the state at the new iterate, if any."""
    try:
        value = optax.tree.get(opt_state, "value")
        grad = optax.tree.get(opt_state, "grad")
    except (KeyError, ValueError):
        return None
    if value is None or grad is None:
        return None
    return value, grad


def solve(
    problem: Any,
    init: Any,
    tol: jax.Array,
    *,
    objective: Objective = GAUSSIAN,
    optimizer: optax.GradientTransformation,
    max_steps: int,
    record_path: bool = False,
    progress: int = 0,
    resume: _State | None = None,
    stop: jax.Array | None = None,
):
    """Minimise ``objective.value(params, problem)`` from ``init``: pure, unbatched,
    jit/vmap-able (``objective`` is static; default: the :class:`~mle_jax.Gaussian`'s).

    ``progress=k > 0`` (static) sends ``(step, loss, grad_norm)`` to the host every ``k``
    steps (:func:`mle_jax._progress.while_loop`); ``0`` traces no callback at all.

    ``stop`` (a step number) runs one chunk of a host-driven loop: the loop pauses at that
    step and ``(raw_state, nll)`` is returned; pass ``raw_state`` back as ``resume`` to go
    on, and to :func:`finish` at the end (how :func:`fit` drives its progress bar).

    Returns:
        ``(state, final_nll)``: the final loop state (``best`` is the returned point) and the
        total data NLL of the standardised problem there.
    """
    opt = optax.with_extra_args_support(optimizer)
    fun = functools.partial(objective.value, args=problem)
    value_and_grad = jax.value_and_grad(fun)
    loss0, grad0 = value_and_grad(init)
    gn0 = optax.tree.norm(grad0)
    nat0 = objective.stationarity(init, grad0, problem)
    history = jnp.full((max_steps + 1,), jnp.nan, loss0.dtype).at[0].set(loss0)
    path = None
    if record_path:
        path = jax.tree.map(
            lambda a: jnp.zeros((max_steps + 1, *a.shape), a.dtype).at[0].set(a), init
        )
    state = _State(
        params=init,
        opt_state=opt.init(init),
        step=jnp.asarray(0),
        loss=loss0,
        grad=grad0,
        grad_norm=gn0,
        best=init,
        best_loss=jnp.where(jnp.isfinite(loss0), loss0, jnp.inf),
        best_grad_norm=gn0,
        history=history,
        path=path,
        status=_status(loss0, gn0, 0, tol, max_steps, nat0, _finite_tree(init)),
    )
    if resume is not None:
        # fresh buffers for the loop: see docs/design-notes.md, "Loop prologue"
        zero = (0 * loss0).astype
        state = jax.tree.map(lambda a: a + zero(a.dtype), resume)

    def body(s: _State) -> _State:
        updates, opt_state = opt.update(
            s.grad, s.opt_state, s.params, value=s.loss, grad=s.grad, value_fn=fun
        )
        params = optax.apply_updates(s.params, updates)
        # a line search stores the value and gradient at the point it accepted: no second
        # evaluation (nor, unlike optax.value_and_grad_from_state, a traced fallback for a
        # state that has none yet: the first update already gets loss0 and grad0)
        stored = _stored_value_and_grad(opt_state)
        loss, grad = value_and_grad(params) if stored is None else stored
        gn = optax.tree.norm(grad)
        step = s.step + 1
        nat = objective.stationarity(params, grad, problem)
        status = _status(loss, gn, step, tol, max_steps, nat, _finite_tree(params))
        # keep the best finite point; a point that meets the tolerance is taken as it is
        take = (jnp.isfinite(loss) & (loss <= s.best_loss)) | (status == Status.CONVERGED)
        pick = lambda new, old: jax.tree.map(lambda a, b: jnp.where(take, a, b), new, old)  # noqa: E731
        new_path = None
        if record_path:
            new_path = jax.tree.map(lambda h, a: h.at[step].set(a), s.path, params)
        return _State(
            params=params,
            opt_state=opt_state,
            step=step,
            loss=loss,
            grad=grad,
            grad_norm=gn,
            best=pick(params, s.best),
            best_loss=pick(loss, s.best_loss),
            best_grad_norm=pick(gn, s.best_grad_norm),
            history=s.history.at[step].set(loss),
            path=new_path,
            status=status,
        )

    running = lambda s: s.status == Status.RUNNING  # noqa: E731
    if stop is not None:
        state = jax.lax.while_loop(lambda s: running(s) & (s.step < stop), body, state)
        # the NLL is returned too: see docs/design-notes.md, "Loop prologue"
        return state, finish(state, problem, objective)[1]
    state = _progress.while_loop(running, body, state, every=progress)
    return finish(state, problem, objective)


def finish(state: _State, problem: Any, objective: Objective = GAUSSIAN):
    """A finished loop state -> ``(state, final_nll)`` as :func:`solve` returns them."""
    out = lambda p: objective.finish(p, problem)[0]  # noqa: E731
    best, nll = objective.finish(state.best, problem)
    state = state._replace(
        params=out(state.params),
        best=best,
        path=None if state.path is None else jax.vmap(out)(state.path),
    )
    return state, nll


solve_jit = jax.jit(
    solve, static_argnames=("objective", "optimizer", "max_steps", "record_path", "progress")
)
finish_jit = jax.jit(finish, static_argnames=("objective",))
