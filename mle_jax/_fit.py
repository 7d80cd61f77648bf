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

from . import _models, _progress, _shard, _stream, _validate
from ._bijections import MvnParams, chol_from_raw, raw_from_chol
from ._nll import _chol_inverse, mvn_nll, mvn_nll_stats
from ._stats import SuffStats, suff_stats
from ._stats_np import suff_stats_np
from ._types import HIGHEST, Estimate, Status

__all__ = ["FitResult", "fit", "default_optimizer", "prepare", "Problem"]


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


class Problem(NamedTuple):
    """A standardised problem: what the jitted loop sees (a pytree of arrays).

    Attributes:
        stats: :class:`SuffStats` of the standardised data.
        x: ``(n, d)`` standardised data for ``form="raw"``; else ``None``.
        weights: ``(n,)`` frequency weights for ``form="raw"``, or ``None``.
        ridge: ``(d, d)`` ridge matrix in standardised units, ``ridge * A^{-1} A^{-T}`` for the
            standardising transform ``A`` (see :class:`Prepared`).
        model: ``None`` (the default full Gaussian: nothing extra is traced) or a
            ``_models.ModelSpec``: covariance structure, fixed mean/covariance, prior.
    """

    stats: SuffStats
    x: jax.Array | None
    weights: jax.Array | None
    ridge: jax.Array
    model: Any = None


def objective(params: MvnParams, problem: Problem) -> jax.Array:
    """Mean NLL per sample (plus the ridge penalty) of the standardised problem: ``()``.

    With ``problem.model`` set, ``params`` are that model's ``_models.FreeParams`` and the
    prior's ``-log p / count`` is added (see :mod:`mle_jax._models`).
    """
    if problem.model is not None:
        return _models.objective(params, problem)
    chol = params.chol
    if problem.x is None:
        s = problem.stats
        total = mvn_nll_stats(params.mean, chol, s.count, s.mean, s.scatter)
    else:
        total = mvn_nll(params.mean, chol, problem.x, problem.weights)
    # ridge: + count/2 tr(Sigma^{-1} R), whose exact minimiser adds R to Sigma
    linv = _chol_inverse(chol)
    penalty = 0.5 * jnp.sum(jnp.matmul(linv, problem.ridge, precision=HIGHEST) * linv)
    return total / problem.stats.count + penalty


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
_suff_stats_jit = jax.jit(suff_stats)
_finish_jit = jax.jit(finish)


class Prepared(NamedTuple):
    """Host-side record of a validated, standardised problem (see :func:`prepare`).

    The optimiser sees ``x_std = A^{-1} (x - shift)`` for a lower-triangular ``A``
    (``transform``). Leading batch axes, if any, come first in every field.

    Attributes:
        problem: the standardised :class:`Problem` (device arrays, compute dtype).
        shift: ``(d,)`` float64, the column means.
        scale: ``(d,)`` float64, the diagonal of ``A``: ``sum(log(scale)) = log|det A|``, the
            constant that maps standardised NLLs back to the user's units.
        stats: :class:`SuffStats` of the data in user units (host float64).
        univariate: the data were 1-D.
        dtype: the compute dtype.
        transform: ``(d, d)`` float64 ``A``: the Cholesky factor of the sample covariance
            (plus ridge) when whitening (the default for a full covariance), else
            ``diag(column std)``.
    """

    problem: Problem
    shift: np.ndarray
    scale: np.ndarray
    stats: SuffStats
    univariate: bool
    dtype: Any
    transform: np.ndarray | None = None


def _float_dtype(x):
    dtype = jnp.dtype(x.dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.dtype(jnp.result_type(float))
    return jnp.dtype(jax.dtypes.canonicalize_dtype(dtype))


def prepare(
    x, *, weights=None, ridge: float = 0.0, form: str = "stats", columns=None, options=None
) -> Prepared:
    """Validate ``x`` and build the standardised :class:`Problem` for :func:`solve`.

    ``options`` (a ``_models.FitOptions``) switches to the model path: the checks that model
    needs and a per-column standardisation, with a ``_models.ModelSpec`` in ``problem.model``.

    Raises:
        TypeError: non-numeric or complex data.
        ValueError: wrong shape, empty, too few samples, NaN/inf (with where), constant or
            linearly dependent columns (with their names and the remedy).
    """
    if form not in ("stats", "raw"):
        raise ValueError(f"form must be 'stats' or 'raw', got {form!r}")
    ridge = float(ridge)
    if not np.isfinite(ridge) or ridge < 0:
        raise ValueError(f"ridge must be a finite number >= 0, got {ridge}")
    if columns is None and hasattr(x, "columns") and hasattr(x, "to_numpy"):
        columns = [str(c) for c in x.columns]
        x = x.to_numpy()
    if _stream.is_stream(x):  # a memory map or an iterator of chunks: one pass, merged stats
        if form == "raw":
            raise ValueError(
                "form='raw' needs the data in memory; fit streamed data (a memory map or an "
                "iterator of chunks) with form='stats'"
            )
        stats, univariate, dtype = _stream.stream_stats(x, weights, columns=columns)
        if options is not None:
            return _models.prepare(
                stats, options, univariate=univariate, dtype=dtype, columns=columns
            )
        _validate.check_enough_samples(float(stats.count), stats.mean.shape[-1], ridge)
        _validate.check_scatter(stats.mean, stats.scatter, stats.count, ridge, columns)
        return prepare_stats(stats, ridge=ridge, univariate=univariate, dtype=dtype)
    x, univariate = _validate.as_data(x)
    dtype = _float_dtype(x)
    n = x.shape[0]
    d = 1 if univariate else x.shape[1]
    if weights is not None and _shard.is_global(weights):  # multi-process: no host gather
        count = _shard.check_weights_global(weights, n)
    elif weights is not None:
        _validate.check_weights(weights, n)
        count = float(np.sum(np.asarray(weights, np.float64)))
    else:
        count = float(n)
    if options is None or _models.checks_for(options) == "full":
        _validate.check_enough_samples(count, d, ridge)

    raw = form == "raw"
    if isinstance(x, np.ndarray) and not raw:
        # host data: chunked statistics on the host, x is never copied (see _stats_np)
        stats = SuffStats(*suff_stats_np(x[:, None] if univariate else x, weights))
        xj = wj = None
    else:
        xj = _shard.as_auto(jnp.asarray(x, dtype))  # a sharded jax.Array stays in place
        if univariate:
            xj = xj[:, None]
        wj = None if weights is None else _shard.as_auto(jnp.asarray(weights, dtype))
        stats_dev = _shard.suff_stats_any(xj, wj)  # psum across devices if row-sharded
        stats = SuffStats(*(np.asarray(a, np.float64) for a in stats_dev))
    if not (np.all(np.isfinite(stats.mean)) and np.all(np.isfinite(stats.scatter))):
        if _shard.is_global(x):
            raise ValueError(f"x contains NaN/inf (or its statistics overflow in {dtype})")
        if not np.all(np.isfinite(np.asarray(x))):
            _validate.raise_nonfinite(x)
        raise ValueError(
            f"the statistics of x overflow in {dtype}; rescale the data or use float64"
        )
    if options is not None:  # model options: their own checks and standardisation
        return _models.prepare(
            stats,
            options,
            univariate=univariate,
            dtype=dtype,
            x=xj if raw else None,
            weights=wj if raw else None,
            columns=columns,
        )
    _validate.check_scatter(stats.mean, stats.scatter, stats.count, ridge, columns)
    return prepare_stats(
        stats,
        ridge=ridge,
        univariate=univariate,
        dtype=dtype,
        x=xj if raw else None,
        weights=wj if raw else None,
    )


def prepare_stats(
    stats: SuffStats,
    *,
    ridge: float = 0.0,
    univariate: bool = False,
    dtype=None,
    x=None,
    weights=None,
    whiten: bool = True,
) -> Prepared:
    """The standardised :class:`Prepared` problem from validated host float64 statistics.

    The second half of :func:`prepare` (no validation here), shared by streamed, sharded and
    batched fits. Any leading batch axes of ``stats`` (and ``x``: ``(..., n, d)``) are kept:
    each member is standardised on its own.

    ``whiten=True`` maps the data through the Cholesky factor ``A`` of its covariance (plus
    ridge): the Gaussian family is closed under affine maps, so this is an exact
    reparameterisation, and it makes the Hessian of the NLL at the optimum the same for
    every data set, however ill-conditioned (cond 1e8 fits like cond 1). The optimiser
    still walks the exact NLL from the (standardised) start. Models that are not closed
    under a full affine map (diagonal or spherical covariances) use ``whiten=False``:
    per-column centring and scaling.
    """
    dtype = jnp.dtype(jax.dtypes.canonicalize_dtype(dtype or jnp.result_type(float)))
    count = np.asarray(stats.count, np.float64)
    d = stats.mean.shape[-1]
    cov = np.asarray(stats.scatter, np.float64) / count[..., None, None] + ridge * np.eye(d)
    shift = np.asarray(stats.mean, np.float64)
    if whiten:
        transform = np.linalg.cholesky(cov)
    else:
        transform = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))[..., None] * np.eye(d)
    scale = np.diagonal(transform, axis1=-2, axis2=-1).copy()
    inv = np.linalg.inv(transform)  # lower-triangular d x d, once per problem
    inv_t = np.swapaxes(inv, -1, -2)
    std_stats = SuffStats(
        jnp.asarray(count, dtype),
        jnp.zeros(shift.shape, dtype),  # A^{-1} (mean - shift) with shift = mean
        jnp.asarray(inv @ np.asarray(stats.scatter, np.float64) @ inv_t, dtype),
    )
    xs = ws = None
    if x is not None:
        xs = jnp.matmul(
            x - jnp.asarray(shift, dtype)[..., None, :],
            jnp.asarray(inv_t, dtype),
            precision=HIGHEST,
        )
        ws = weights
    problem = Problem(std_stats, xs, ws, jnp.asarray(ridge * (inv @ inv_t), dtype))
    return Prepared(problem, shift, scale, stats, univariate, dtype, transform)


def _as_matrix(scale):
    scale = np.asarray(scale, np.float64)
    return scale[..., None] * np.eye(scale.shape[-1]) if scale.ndim == 1 else scale


def standardise_params(params: MvnParams, shift, scale) -> MvnParams:
    """User-unit parameters -> standardised ones (host, float64).

    ``scale`` is the transform ``A`` ``(d, d)`` (or a ``(d,)`` diagonal of it).
    """
    inv = np.linalg.inv(_as_matrix(scale))
    mean = np.einsum("...ij,...j->...i", inv, np.asarray(params.mean, np.float64) - shift)
    # numpy (host) arrays: the bijections run in numpy over any batch axes (fit_many)
    chol = inv @ chol_from_raw(np.asarray(params.chol_raw, np.float64))
    return MvnParams(mean, raw_from_chol(chol))


def as_init(init, d: int) -> MvnParams:
    """Accept ``MvnParams``, anything with ``.mean``/``.cov`` (a fit, a closed form) or a
    ``(mean, cov)`` pair as a starting point in the user's units."""
    if isinstance(init, MvnParams):
        params = init
    elif hasattr(init, "mean") and hasattr(init, "cov"):
        params = MvnParams.from_mean_cov(init.mean, init.cov)
    elif isinstance(init, tuple) and len(init) == 2:
        params = MvnParams.from_mean_cov(*init)
    else:
        raise TypeError("init must be MvnParams, an object with .mean and .cov, or (mean, cov)")
    if params.mean.shape != (d,) or params.chol_raw.shape != (d * (d + 1) // 2,):
        raise ValueError(f"init has mean shape {params.mean.shape}, expected ({d},)")
    return params


def to_user_units(mean, chol, shift, scale):
    """Standardised ``(.., d)`` mean and ``(.., d, d)`` factor -> user-unit mean, factor, cov.

    ``scale`` is the transform ``A`` ``(d, d)`` (or a ``(d,)`` diagonal of it).
    """
    a = _as_matrix(scale)
    mean = shift + np.einsum("...ij,...j->...i", a, np.asarray(mean, np.float64))
    chol = a @ np.asarray(chol, np.float64)
    cov = chol @ np.swapaxes(chol, -1, -2)
    return mean, chol, cov


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
