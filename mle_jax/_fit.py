"""The drivers: :func:`fit` and :func:`fit_many`, one pipeline.

``data -> statistics (_statistics.collect) -> standardised problem (_problem.prepare) ->
solve (_solve.solve, vmapped for a batch) -> result (_problem.result)``. A batch of fits
takes the same road with a leading axis on every array.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _progress, _validate
from ._batch import default_block, member_errors, pattern_errors, solve_many
from ._fit_checks import check_collected, check_model_data, check_options, check_ridge
from ._fit_model import fit_model, fit_model_many
from ._fit_recovery import first_leg, restart_far, restart_far_many, two_legs
from ._model import Gaussian
from ._models import Model
from ._objective import check_prior
from ._patterns import PatternStats
from ._problem import prepare, result, start
from ._result import FitResult
from ._solve import default_optimizer, default_tol, finish_jit, solve_jit
from ._statistics import collect
from ._types import ConvergenceWarning, Status
from .stats import SuffStats

__all__ = ["fit", "fit_many"]

_ON_INVALID = ("raise", "skip")


def _model_options(data, init, tol, optimizer, max_steps, precondition) -> dict:
    """The options of a Model fit, defaults filled in (shared by fit and fit_many)."""
    return dict(
        init=init,
        tol=np.asarray(default_tol(data.dtype) if tol is None else tol, data.dtype),
        optimizer=optimizer,  # None: Fisher scoring (mle_jax/_scoring.py)
        max_steps=int(max_steps),
        precondition=precondition,
    )


def _prepare_many(xs, model: Model, missing: str):
    """A model's view of ``B`` data sets (:meth:`~mle_jax.Model.prepare_data`), for a model
    that reads its variables by name (:class:`~mle_jax.SEM`: ``xs`` a list of DataFrames):
    the model is bound once, to the members' rows together (every member the same groups
    and mean structure), and the prepared rows are split back into members.

    Returns ``(xs (B, n, d'), missing, model)``; other models' ``xs`` unchanged."""
    if type(model).prepare_data is Model.prepare_data:
        return xs, missing, model
    members = [xs] if hasattr(xs, "columns") else list(xs)
    if not members or not all(hasattr(m, "columns") and hasattr(m, "iloc") for m in members):
        raise TypeError(
            f"{type(model).__name__} reads its variables by name: pass xs as a list of pandas "
            "DataFrames (one per data set, the same columns and number of rows)"
        )
    import pandas as pd

    sizes = [len(m) for m in members]
    if len(set(sizes)) > 1:
        raise ValueError(
            f"xs: the data sets have {sorted(set(sizes))} rows; fit_many needs equal sizes "
            "(fit unequal ones one by one with fit)"
        )
    frame = pd.concat(members, ignore_index=True)
    x, _, prepared, model = model.prepare_data(frame, None, missing)
    if len(x) != sum(sizes):
        raise ValueError(
            f"missing={missing!r} dropped rows of a multigroup model; fit_many needs the "
            "rows kept: pass missing='fiml'"
        )
    return np.reshape(np.asarray(x), (len(members), sizes[0], -1)), prepared, model


def _warn_unconverged(res: FitResult, batched: bool = False) -> FitResult:
    """Warn (``ConvergenceWarning``) when a fit, or members of a batch, did not converge."""
    status = np.asarray(res.status)
    bad = (status != Status.CONVERGED) & (status != Status.INVALID)
    if not bad.any():
        return res
    if batched:
        codes = sorted({Status.name(c) for c in status[bad]})
        text = (
            f"{int(bad.sum())} of {status.size} fits did not converge ({', '.join(codes)}; "
            f"members {np.flatnonzero(bad)[:10].tolist()}); see res.status and res.grad_norm"
        )
    else:
        text = (
            f"the fit did not converge: {Status.message(status)} (step {int(res.num_steps)}, "
            f"gradient norm {float(res.grad_norm):.2e}); raise max_steps, loosen tol or "
            "pass another optimizer or init"
        )
    _validate.warn(text, ConvergenceWarning)
    return res


def fit(
    x,
    model: Gaussian | Model | None = None,
    *,
    optimizer: optax.GradientTransformation | None = None,
    init=None,
    max_steps: int = 1000,
    tol: float | None = None,
    weights=None,
    missing: str = "raise",
    form: str = "stats",
    precondition: str = "whiten",
    trace: bool = False,
    columns=None,
    progress: bool | int = False,
    starts: int = 1,
) -> FitResult:
    """Fit a Gaussian to data by minimising the negative log-likelihood with optax.

    The NLL (plus the model's ridge penalty and minus its log prior) is minimised over an
    unconstrained Cholesky parameterisation (see :class:`~mle_jax.MvnParams`), so every
    iterate is a valid covariance. The result equals the closed form
    (:func:`~mle_jax.closed_form`) to the optimiser's tolerance.

    Args:
        x: ``(n, d)`` data, or ``(n,)`` for a univariate Gaussian: numpy, JAX (possibly
            sharded along its rows, see :mod:`mle_jax.sharding`) or a pandas DataFrame; or,
            for data bigger than memory, a memory map or an iterator of chunks (arrays,
            DataFrames or ``(x_chunk, w_chunk)`` pairs), read in one pass. Computation follows
            its dtype (float64 needs ``jax_enable_x64``).
        model: the :class:`~mle_jax.Gaussian` to fit (covariance structure, fixed mean or
            covariance, prior, ridge); default ``Gaussian()``, a full covariance. Or any
            :class:`~mle_jax.Model` (:class:`~mle_jax.Structured` user functions,
            :class:`~mle_jax.FactorAnalysis`, the patterned covariances): its ``params`` are
            fitted on the same statistics (every entry point, FIML, weights), ``init`` is
            then a parameter pytree, and ``tol`` bounds the Newton decrement
            ``sqrt(g^T F^{-1} g)`` per row with the Fisher information ``F`` at the point
            (invariant to the parameterisation and the units).
        optimizer: any optax ``GradientTransformation``; default
            :func:`~mle_jax.default_optimizer` (L-BFGS) for a ``Gaussian``, and for a
            :class:`~mle_jax.Model` projected Fisher scoring / Newton steps with
            backtracking (a few steps; ``docs/design-notes.md``, "Fisher scoring"). Reuse
            the same object to reuse the compiled loop.
        init: start in the user's units (``MvnParams``, a ``(mean, cov)`` pair or an object
            with ``.mean``/``.cov``); default: the column means and variances (no
            correlation; for a full covariance its spread is kept within 4x of the data's).
            For 1-D data that is the MLE, so the fit stops at step 0; pass
            ``init`` to watch a descent.
        max_steps: the most optimiser steps, at most ``10**7`` (a static, compiled-in size).
        tol: a finite number > 0: bound on the gradient norm of the mean NLL per sample in
            the optimiser's (standardised) parameters *and* on its natural norm
            ``sqrt(||L^T g_mean||^2 + ||L^T g_L||^2)`` (``L`` the iterate's Cholesky factor),
            which is invariant to the units of the data and of the iterate, so a saturated
            loss far away (a start at 1e10) cannot pass for a stationary point; default 1e-9
            in float64, 1e-5 in float32. ``converged`` also needs finite estimates; a fit
            that does not converge warns with :class:`~mle_jax.ConvergenceWarning`
            (``docs/reliability.md``).
        weights: optional ``(n,)`` non-negative frequency weights.
        missing: what NaN entries mean: ``"raise"`` (default) refuses them; ``"drop"`` fits
            the complete rows only (complete-case analysis: biased unless values are missing
            completely at random) and warns how many it dropped; ``"fiml"`` fits the
            observed-data likelihood (full-information maximum likelihood: each row contributes
            the density of its observed entries), the estimate that is consistent under
            missing-at-random. Rows with no observed entry are dropped with a warning.
        form: ``"stats"`` (default) evaluates the exact NLL through sufficient statistics,
            ``O(d^3)`` a step after one pass over the data; ``"raw"`` evaluates it on every
            data point at every step (teaching, and the template for non-Gaussian losses).
        precondition: the coordinates the optimiser walks in: ``"whiten"`` (default; centred
            and whitened by the sample covariance, for a full covariance), ``"scale"``
            (centred, each column divided by its standard deviation) or ``"none"`` (the
            user's own mean and log-Cholesky: a learning rate means what it says on the NLL
            you see, and ``tol`` is then in your units).
        trace: record the iterates in ``result.path``.
        columns: optional column names (messages and :func:`~mle_jax.summary`).
        progress: a tqdm progress bar (needs ``mle_jax[progress]``): ``True``, or ``k`` to
            update it every ``k`` steps (the loop then runs in chunks of ``k`` steps).
        starts: for a :class:`~mle_jax.Model`, run this many starts (the default start and
            seeded draws around it) in one batched call and keep the converged one with the
            lowest NLL: for non-convex models (factor analysis).

    Returns:
        A :class:`~mle_jax.FitResult`, which also carries the model, the standardiser and the
        data's statistics, so that :mod:`mle_jax.inference` needs no data.

    Raises:
        TypeError, ValueError: bad input, named (shape, dtype, NaN/inf with where, too few
            samples, constant or dependent columns, bad options).

    Examples:
        >>> import numpy as np, mle_jax as mj
        >>> x = np.random.default_rng(0).normal(3.0, 2.0, size=500)
        >>> res = mj.fit(x)
        >>> bool(res.converged), bool(abs(res.mean - x.mean()) < 1e-4)
        (True, True)
    """
    _validate.check_not_traced("fit", x=x, weights=weights, init=init)
    model = check_options(
        model,
        max_steps,
        form,
        precondition,
        missing,
        tol=tol,
        optimizer=optimizer,
        columns=columns,
    )
    if not isinstance(starts, (int, np.integer)) or isinstance(starts, bool) or starts < 1:
        raise ValueError(f"starts must be a positive integer, got {starts!r}")
    if starts > 1 and not isinstance(model, Model):
        raise ValueError("starts= is for a Model (a Gaussian's NLL has one minimum)")
    if isinstance(model, Model):
        x, columns, missing, model = model.prepare_data(x, columns, missing)
    data = collect(x, weights, raw=form == "raw", columns=columns, missing=missing)
    check_collected(data, columns)
    if isinstance(model, Model):
        if progress:
            raise ValueError("progress= is not available for a Model fit yet")
        check_model_data(data.stats, data.columns)
        common = _model_options(data, init, tol, optimizer, max_steps, precondition)
        return _warn_unconverged(
            fit_model(data, model, trace=bool(trace), starts=int(starts), **common)
        )
    check_ridge(model, data)
    model.check_data(data.stats, data.columns)
    prep = prepare(data, model, precondition)
    init_std = start(init, prep)
    check_prior(prep.problem.spec, init_std)
    dtype = data.dtype
    tol = default_tol(dtype) if tol is None else float(tol)
    solver = functools.partial(
        solve_jit,
        optimizer=default_optimizer() if optimizer is None else optimizer,
        max_steps=int(max_steps),
        record_path=bool(trace),
    )
    tol_arr = np.asarray(tol, dtype)
    k = _progress.every(progress, max_steps)
    steps = 0
    if not k and two_legs(data, precondition, tol):  # float32 FIML: re-whitened once
        prep, init_std, steps = first_leg(solver, data, model, precondition, prep, init_std)
    run = functools.partial(solver, prep.problem, init_std, tol_arr)
    if not k:
        state, final_nll = run()
        res = result(prep, state._replace(step=state.step + steps), final_nll)
        if init is not None and not bool(res.converged):
            rerun = lambda: solver(prep.problem, start(None, prep), tol_arr)  # noqa: E731
            res = restart_far(res, init, prep, rerun)
        return _warn_unconverged(res)
    count, offset = float(data.stats.total_count()), float(prep.nll_offset)
    with _progress.ProgressBar(max_steps, lambda v: v * count + offset) as bar:
        raw = _progress.run_chunks(run, k, bar, adaptive=progress is True)
        state, final_nll = finish_jit(raw, prep.problem)
        bar.finish(
            int(state.step),
            Status.name(state.status),
            float(state.best_loss),
            float(state.best_grad_norm),
        )
    return _warn_unconverged(result(prep, state, final_nll))


def fit_many(
    xs,
    model: Gaussian | Model | None = None,
    *,
    weights=None,
    optimizer: optax.GradientTransformation | None = None,
    init=None,
    max_steps: int = 1000,
    tol: float | None = None,
    missing: str = "raise",
    form: str = "stats",
    precondition: str = "whiten",
    on_invalid: str = "raise",
    batch_size: int | None | str = "auto",
) -> FitResult:
    """Fit a Gaussian to each of ``B`` data sets in one compiled, batched optimisation.

    Member ``k`` gets the answer of ``mj.fit(xs[k], model, weights=weights[k], ...)`` (to the
    optimiser's tolerance): each is checked and standardised on its own, and no member's
    values enter another's computation.

    Args:
        xs: ``(B, n, d)`` data sets (``(B, n)``: univariate), or a list of equal-shape arrays.
            For unequal lengths: ``xs, weights = pad_batch(list_of_arrays)``. For a model
            that reads its variables by name (:class:`~mle_jax.SEM`): a list of pandas
            DataFrames with the same number of rows.
        model: the :class:`~mle_jax.Gaussian` every member is fitted with.
        weights: optional ``(B, n)`` non-negative frequency weights or boolean mask.
        optimizer, max_steps, tol, missing, form, precondition: as in :func:`fit`, shared by
            all (``missing="drop"`` gives incomplete rows weight 0; ``"fiml"`` pads each
            member's patterns to one number with empty ones).
        init: ``None`` (as :func:`fit`), one start for all members, or one per member
            (``MvnParams`` with a leading ``B`` axis, or ``(means (B, d), covs (B, d, d))``).
        on_invalid: members that :func:`fit` would reject: ``"raise"`` (default) raises one
            ``ValueError`` naming each and why; ``"skip"`` fits the others and gives these
            ``status == Status.INVALID`` and NaN estimates.
        batch_size: ``None`` vmaps all members together; ``k`` runs blocks of ``k`` vmapped
            members one after another (``1`` is sequential); ``"auto"`` (default): 16 on a
            CPU for ``form="stats"``, 1 for ``"raw"``, ``None`` on a GPU
            (``docs/design-notes.md``).

    Returns:
        A :class:`~mle_jax.FitResult` whose arrays have a leading ``(B,)`` axis
        (``res[k]`` is member ``k``); ``path`` is ``None``.

    Examples:
        >>> import numpy as np, mle_jax as mj
        >>> xs = np.random.default_rng(0).normal(size=(5, 60, 3))
        >>> res = mj.fit_many(xs)
        >>> res.mean.shape, res.cov.shape, bool(res.converged.all())
        ((5, 3), (5, 3, 3), True)
        >>> bool(np.allclose(res.mean, xs.mean(axis=1), atol=1e-8))
        True
    """
    _validate.check_not_traced("fit_many", xs=xs, weights=weights, init=init)
    model = check_options(
        model, max_steps, form, precondition, missing, tol=tol, optimizer=optimizer
    )
    if on_invalid not in _ON_INVALID:
        raise ValueError(f"on_invalid must be one of {_ON_INVALID}, got {on_invalid!r}")
    if batch_size == "auto":
        batch_size = default_block(form)
    elif batch_size is not None and (
        not isinstance(batch_size, (int, np.integer)) or batch_size < 1
    ):
        raise ValueError(
            f"batch_size must be None, 'auto' or a positive integer, got {batch_size!r}"
        )
    if isinstance(model, Model):
        xs, missing, model = _prepare_many(xs, model, missing)
    data = collect(xs, weights, raw=form == "raw", batched=True, missing=missing)
    check_collected(data, name="xs")
    stats = data.stats
    batch = stats.count.shape[0]
    if isinstance(model, Model):
        for k in range(batch):
            check_model_data(type(stats)(*(a[k] for a in stats)), None, f"xs[{k}]")
        common = _model_options(data, init, tol, optimizer, max_steps, precondition)
        size = None if batch_size is None else int(batch_size)
        res = fit_model_many(data, model, batch_size=size, **common)
        return _warn_unconverged(res, batched=True)
    check_ridge(model, data, "xs", needed=False)
    if stats.incomplete:
        errors = pattern_errors(stats, model)
    else:
        errors = member_errors(xs, weights, stats, model)
    if errors and on_invalid == "raise":
        shown = "\n".join(f"  {errors[k]}" for k in sorted(errors)[:10])
        more = f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else ""
        raise ValueError(
            f"{len(errors)} of {batch} data sets cannot be fitted (pass on_invalid='skip' to "
            f"fit the others and mark these Status.INVALID, or a ridge to regularise):\n"
            f"{shown}{more}"
        )
    bad = np.zeros(batch, bool)
    bad[list(errors)] = True
    if bad.any() and stats.incomplete:  # a stand-in: one complete pattern
        d = stats.mean.shape[-1]
        ps = PatternStats(*(np.array(a, np.float64) for a in stats))
        ps.mask[bad], ps.count[bad], ps.mean[bad], ps.scatter[bad] = 0.0, 0.0, 0.0, 0.0
        ps.mask[bad, 0], ps.count[bad, 0], ps.scatter[bad, 0] = 1.0, d + 2.0, (d + 2.0) * np.eye(d)
        data = data._replace(stats=ps)
    elif bad.any():  # stand-ins that converge at step 0 and cannot touch the others
        d = stats.mean.shape[-1]
        cnt = np.where(bad, np.maximum(np.nan_to_num(stats.count), d + 2.0), stats.count)
        scatter = np.where(bad[:, None, None], cnt[:, None, None] * np.eye(d), stats.scatter)
        data = data._replace(stats=SuffStats(cnt, np.where(bad[:, None], 0.0, stats.mean), scatter))
        if data.x is not None:
            keep = jnp.asarray(~bad)
            data = data._replace(
                x=jnp.where(keep[:, None, None], jnp.nan_to_num(data.x), 0.0),
                weights=jnp.where(keep[:, None], data.weights, 0.0),
            )
    prep = prepare(data, model, precondition)
    init_std = start(init, prep)
    first = jax.tree.map(lambda a: a[0], (prep.problem.spec, init_std))
    check_prior(*first)
    solver = functools.partial(
        solve_many,
        optimizer=default_optimizer() if optimizer is None else optimizer,
        max_steps=int(max_steps),
        batch_size=None if batch_size is None else int(batch_size),
    )
    tol = default_tol(data.dtype) if tol is None else float(tol)
    steps = 0
    if two_legs(data, precondition, tol):  # as fit: float32 FIML, re-whitened once
        prep, init_std, steps = first_leg(solver, data, model, precondition, prep, init_std)
    state, final_nll = solver(prep.problem, init_std, np.asarray(tol, data.dtype))
    state = state._replace(step=state.step + steps)
    if init is not None:
        rerun = lambda: solver(prep.problem, start(None, prep), np.asarray(tol, data.dtype))  # noqa: E731
        state, final_nll = restart_far_many(state, final_nll, init, prep, rerun, ~bad)
    res = result(prep, state, final_nll)
    if not bad.any():
        return _warn_unconverged(res, batched=True)
    keep = ~bad

    def blank(a):
        if not jnp.issubdtype(a.dtype, jnp.floating):
            return a
        return jnp.where(np.reshape(keep, (batch,) + (1,) * (a.ndim - 1)), a, jnp.nan)

    return _warn_unconverged(
        res.replace(
            mean=blank(res.mean),
            cov=blank(res.cov),
            std=blank(res.std),
            params=jax.tree.map(blank, res.params),
            nll=blank(res.nll),
            grad_norm=blank(res.grad_norm),
            loss_history=blank(res.loss_history),
            count=jnp.asarray(
                np.where(bad, np.nan_to_num(stats.total_count()), res.count), data.dtype
            ),
            converged=res.converged & keep,
            status=jnp.where(keep, res.status, Status.INVALID),
            num_steps=jnp.where(keep, res.num_steps, 0),
            stats=stats,
        ),
        batched=True,
    )
