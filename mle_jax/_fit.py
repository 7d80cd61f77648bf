"""The fit driver: any optax transformation, the whole loop in one ``jax.jit``.

Pipeline of :func:`fit`:

1. eager validation of the input (``_validate``);
2. sufficient statistics in one stable (centred) pass: on the host for numpy input, on the
   devices for a ``jax.Array`` (``psum`` across shards), merged chunk by chunk for streams;
   finiteness, constant and collinear columns are read off them, so validation costs no
   extra pass over the data;
3. the problem is standardised on the host in float64 (:func:`prepare_stats`): centred at
   the sample mean and whitened by the Cholesky factor of the sample covariance (per-column
   scaling for structured models), an exact ``O(d^3)`` map of the statistics (or of the data
   for ``form="raw"``), so offsets like 1e8 and condition numbers like 1e8 cost no precision;
4. :func:`solve` runs the optimiser in a ``lax.while_loop`` on the mean NLL per sample;
5. the best point visited is mapped back to the user's units in float64 (:func:`_result`).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _models, _progress
from ._bijections import MvnParams, chol_from_raw, raw_from_chol
from ._nll import mean_nll, mvn_nll_stats
from ._prepare import (
    Prepared,
    Problem,
    as_init,
    prepare,
    standardise_params,
    to_user_units,
)
from ._types import Estimate, Status

__all__ = ["FitResult", "fit", "default_optimizer", "default_tol", "objective", "solve"]


class FitResult(NamedTuple):
    """What :func:`fit` returns. All arrays are in the user's units.

    Attributes:
        mean: ``(d,)`` fitted mean (``()`` for univariate data).
        cov: ``(d, d)`` fitted covariance (``()``: the variance).
        std: ``(d,)`` square roots of the diagonal of ``cov`` (``()``: the std).
        params: :class:`MvnParams`, the unconstrained parameters in the user's units.
        nll: ``()`` total negative log-likelihood of the data at the solution (summed over
            samples, 2*pi constant included; weighted if weights were given; without the
            ridge penalty).
        converged: ``()`` bool, the gradient norm reached ``tol``.
        status: ``()`` int, a :class:`Status` code (see :attr:`message`).
        num_steps: ``()`` int, optimiser steps taken.
        grad_norm: ``()`` gradient norm at the returned point, of the mean NLL per sample with
            respect to the unconstrained parameters of the *standardised* problem (the
            quantity ``tol`` is compared with; it is scale-free).
        loss_history: ``(max_steps + 1,)`` objective (total NLL plus any penalty, user units)
            at the start and after each step; NaN after the last step.
        count: ``()`` number of samples (sum of the weights).
        path: an :class:`Estimate` with a leading ``(num_steps + 1,)`` axis of the iterates,
            when ``trace=True``; else ``None``.
        options: the model options of the fit (covariance structure, fixed values, prior,
            ridge), a leafless pytree that :mod:`mle_jax.inference` reads; ``None`` when not
            set by :func:`fit` (then the default full model).
    """

    mean: jax.Array
    cov: jax.Array
    std: jax.Array
    params: MvnParams
    nll: jax.Array
    converged: jax.Array
    status: jax.Array
    num_steps: jax.Array
    grad_norm: jax.Array
    loss_history: jax.Array
    count: jax.Array
    path: Estimate | None = None
    options: Any = None

    @property
    def message(self):
        """Why the fit stopped, in words (a list of them for a batch of fits)."""
        status = np.asarray(self.status)
        if status.ndim == 0:
            return Status.message(status)
        return [Status.message(s) for s in status.ravel()]


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


def objective(params: MvnParams, problem: Problem) -> jax.Array:
    """Mean NLL per sample (plus the ridge penalty) of the standardised problem: ``()``.

    With ``problem.model`` set, ``params`` are that model's ``_models.FreeParams`` and the
    prior's ``-log p / count`` is added (see :mod:`mle_jax._models`).
    """
    if problem.model is not None:
        return _models.objective(params, problem)
    p = problem
    return mean_nll(params.mean, params.chol, p.stats, p.x, p.weights, p.ridge)


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


def _status(loss, grad_norm, step, tol, max_steps):
    return jnp.where(
        ~(jnp.isfinite(loss) & jnp.isfinite(grad_norm)),
        Status.NONFINITE,
        jnp.where(
            grad_norm <= tol,
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
    problem: Problem,
    init: MvnParams,
    tol: jax.Array,
    *,
    optimizer: optax.GradientTransformation,
    max_steps: int,
    record_path: bool = False,
    progress: int = 0,
    resume: _State | None = None,
    stop: jax.Array | None = None,
):
    """Minimise :func:`objective` from ``init``: pure, unbatched, jit/vmap-able.

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
    fun = functools.partial(objective, problem=problem)
    value_and_grad = jax.value_and_grad(fun)
    loss0, grad0 = value_and_grad(init)
    gn0 = optax.tree.norm(grad0)
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
        status=_status(loss0, gn0, 0, tol, max_steps),
    )
    if resume is not None:
        # + a zero computed in the loop's prologue: the loop then starts from fresh buffers.
        # From the argument buffers themselves (or + 0 * tol) XLA CPU (jax 0.10) ran every
        # step ~25% slower (measured); this costs one objective evaluation per chunk.
        zero = (0 * loss0).astype
        state = jax.tree.map(lambda a: a + zero(a.dtype), resume)

    def body(s: _State) -> _State:
        updates, opt_state = opt.update(
            s.grad, s.opt_state, s.params, value=s.loss, grad=s.grad, value_fn=fun
        )
        params = optax.apply_updates(s.params, updates)
        stored = _stored_value_and_grad(opt_state)
        if stored is None:
            loss, grad = value_and_grad(params)
        else:
            loss, grad = jax.lax.cond(
                jnp.isfinite(stored[0]),
                lambda p: stored,
                value_and_grad,
                params,
            )
        gn = optax.tree.norm(grad)
        step = s.step + 1
        status = _status(loss, gn, step, tol, max_steps)
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
        # XLA CPU (jax 0.10) ran this loop ~25% slower per step when it returned the state
        # alone or twice, and at full speed when it also returned this NLL (measured)
        return state, finish(state, problem)[1]
    state = _progress.while_loop(running, body, state, every=progress)
    return finish(state, problem)


def finish(state: _State, problem: Problem):
    """A finished loop state -> ``(state, final_nll)`` as :func:`solve` returns them."""
    if problem.model is not None:  # model parameters -> full standardised MvnParams
        full = functools.partial(_models.to_mvn, problem.model)
        state = state._replace(
            params=full(state.params),
            best=full(state.best),
            path=None if state.path is None else jax.vmap(full)(state.path),
        )
    st = problem.stats
    final_nll = mvn_nll_stats(state.best.mean, state.best.chol, st.count, st.mean, st.scatter)
    return state, final_nll


_solve_jit = jax.jit(solve, static_argnames=("optimizer", "max_steps", "record_path", "progress"))
_finish_jit = jax.jit(finish)


def fit(
    x,
    *,
    optimizer: optax.GradientTransformation | None = None,
    init=None,
    max_steps: int = 1000,
    tol: float | None = None,
    weights=None,
    ridge: float = 0.0,
    form: str = "stats",
    trace: bool = False,
    columns=None,
    progress: bool | int = False,
    covariance: str = "full",
    fix_mean=None,
    fix_cov=None,
    prior=None,
) -> FitResult:
    """Fit a Gaussian to data by minimising the negative log-likelihood with optax.

    The NLL is minimised over an unconstrained Cholesky parameterisation (see
    :class:`MvnParams`), so every iterate is a valid covariance. The result equals the
    closed form (:func:`closed_form`) to the optimiser's tolerance.

    Args:
        x: ``(n, d)`` data, or ``(n,)`` for a univariate Gaussian. numpy, JAX (possibly
            sharded) or a pandas DataFrame. Computation follows its dtype (float64 needs
            ``jax_enable_x64``); integers are computed in the default float dtype.
            Data bigger than memory: a memory map (``np.load(path, mmap_mode="r")``) or an
            iterator of chunks (arrays, DataFrames or ``(x_chunk, w_chunk)`` pairs) is read
            in one pass of merged statistics (``form="stats"`` only). A ``jax.Array``
            sharded along its rows (see :mod:`mle_jax.sharding`) is reduced per device and
            merged with ``psum``. See ``docs/scaling.md``.
        optimizer: any optax ``GradientTransformation``; default :func:`default_optimizer`
            (L-BFGS). Reuse the same object to reuse the compiled loop.
        init: starting point in the user's units (``MvnParams``, a ``(mean, cov)`` pair or an
            object with ``.mean``/``.cov``); default: the moment-matched *independent*
            Gaussian (the column means and variances, no correlation). For 1-D data that is
            already the MLE, so the fit stops at step 0; pass ``init`` to watch a descent.
        max_steps: the most optimiser steps (a static, compiled-in size).
        tol: gradient-norm tolerance on the standardised mean NLL; default 1e-9 in float64,
            1e-5 in float32.
        weights: optional ``(n,)`` non-negative frequency weights.
        ridge: ``lam >= 0`` adds ``n * lam / 2 * tr(Sigma^{-1})`` to the NLL, whose exact
            minimiser is ``S + lam * I``; lets singular data (n <= d, constant columns) fit.
        form: ``"stats"`` (default) evaluates the exact NLL through sufficient statistics,
            ``O(d^3)`` a step after one pass over the data; ``"raw"`` evaluates it on every
            data point at every step (teaching, and the template for non-Gaussian losses).
        trace: record the iterates in ``result.path`` (costs nothing when off).
        columns: optional column names for error messages.
        progress: show a tqdm progress bar (needs ``mle_jax[progress]``). An integer ``k``
            runs the compiled loop in chunks of ``k`` steps and updates the bar between them;
            ``True`` starts at ~1% of ``max_steps`` (at most 50) and doubles the chunk while
            chunks take under 0.1 s. Off (the default) runs the loop in one piece, as before.
            Cost: one dispatch and sync per chunk (``benchmarks/progress_overhead.py``).
        covariance: ``"full"`` (default), ``"diag"`` (independent columns) or
            ``"spherical"`` (one common variance).
        fix_mean: a known mean (``(d,)``; a scalar for 1-D data): only the covariance is fitted.
        fix_cov: a known symmetric positive-definite covariance: only the mean is fitted.
        prior: a log-density ``prior(mean, cov) -> ()`` (pure JAX) for a MAP fit, e.g.
            :class:`NormalInverseWishart` or :class:`LKJHalfNormal`. The mode is taken in the
            coordinates the prior is written in, without a Jacobian (see
            :mod:`mle_jax._priors`). ``result.nll`` stays the data NLL.

    Returns:
        A :class:`FitResult`.

    Raises:
        TypeError, ValueError: bad input (see :func:`prepare`).

    Examples:
        >>> import numpy as np, mle_jax as mj
        >>> x = np.random.default_rng(0).normal(3.0, 2.0, size=500)
        >>> res = mj.fit(x)
        >>> bool(res.converged), bool(abs(res.mean - x.mean()) < 1e-4)
        (True, True)
    """
    if not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    options = _models.make_options(covariance, fix_mean, fix_cov, prior, ridge)
    prep = prepare(
        x,
        weights=weights,
        ridge=ridge,
        form=form,
        columns=columns,
        options=None if options.is_default else options,
    )
    dtype = prep.dtype
    d = prep.shift.shape[0]
    if init is None:
        # the moment-matched independent Gaussian: column means, diagonal of variances
        var = np.diagonal(prep.stats.scatter) / prep.stats.count + float(ridge)
        init_std = standardise_params(
            MvnParams(prep.shift, raw_from_chol(np.diag(np.sqrt(var)))), prep.shift, prep.transform
        )
    else:
        init_std = standardise_params(as_init(init, d), prep.shift, prep.transform)
    init_std = jax.tree.map(lambda a: jnp.asarray(a, dtype), init_std)
    if prep.problem.model is not None:  # the model's free parameters
        init_std = _models.init_free(prep.problem.model, init_std)
    tol = default_tol(dtype) if tol is None else float(tol)
    optimizer = default_optimizer() if optimizer is None else optimizer
    k = _progress.every(progress, max_steps)
    run = functools.partial(
        _solve_jit,
        prep.problem,
        init_std,
        jnp.asarray(tol, dtype),
        optimizer=optimizer,
        max_steps=int(max_steps),
        record_path=bool(trace),
    )
    if not k:
        state, final_nll = run()
        return _result(prep, state, final_nll)._replace(options=options)
    # the loop runs in chunks of k steps and the bar is updated on the host between them:
    # a callback inside the loop body (solve(progress=k)) measured 30-40% slower per step
    count, log_scale = prep.stats.count, float(np.sum(np.log(prep.scale)))
    with _progress.ProgressBar(max_steps, lambda v: v * count + count * log_scale) as bar:
        raw = _progress.run_chunks(run, k, bar, adaptive=progress is True)
        state, final_nll = _finish_jit(raw, prep.problem)
        bar.finish(int(state.step), Status.name(state.status))
    return _result(prep, state, final_nll)._replace(options=options)


def _result(prep: Prepared, state: _State, final_nll) -> FitResult:
    """Map a finished loop state back to user units (leading batch axes: see fit_many)."""
    dtype, shift, scale = prep.dtype, prep.shift, prep.transform
    count = np.asarray(prep.stats.count, np.float64)
    log_scale = np.sum(np.log(prep.scale), axis=-1)
    best = state.best
    # host numpy bijections (any batch axes of fit_many): no per-op device dispatches
    chol_std = chol_from_raw(np.asarray(best.chol_raw, np.float64))
    mean, chol, cov = to_user_units(best.mean, chol_std, shift, scale)
    params = MvnParams(jnp.asarray(mean, dtype), jnp.asarray(raw_from_chol(chol), dtype))
    history = np.asarray(state.history, np.float64) * count[..., None]
    history = history + (count * log_scale)[..., None]
    path = None
    if state.path is not None:
        steps = int(state.step)
        p_mean = np.asarray(state.path.mean)[: steps + 1]
        p_chol = np.asarray(jax.vmap(lambda r: MvnParams(None, r).chol)(state.path.chol_raw))
        pm, _, pc = to_user_units(p_mean, p_chol[: steps + 1], shift, scale)
        path = _estimate(pm, pc, dtype, prep.univariate)
    est = _estimate(mean, cov, dtype, prep.univariate)
    return FitResult(
        mean=est.mean,
        cov=est.cov,
        std=est.std,
        params=params,
        nll=jnp.asarray(np.asarray(final_nll, np.float64) + count * log_scale, dtype),
        converged=state.status == Status.CONVERGED,
        status=state.status,
        num_steps=state.step,
        grad_norm=state.best_grad_norm,
        loss_history=jnp.asarray(history, dtype),
        count=jnp.asarray(count, dtype),
        path=path,
    )


def _estimate(mean, cov, dtype, univariate) -> Estimate:
    std = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    if univariate:
        mean, cov, std = mean[..., 0], cov[..., 0, 0], std[..., 0]
    return Estimate(*(jnp.asarray(a, dtype) for a in (mean, cov, std)))
