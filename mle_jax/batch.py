"""Many independent fits at once: ``fit_many`` (simulation studies, per-group fits, bootstrap).

The unbatched driver :func:`mle_jax._fit.solve` is lifted over a leading batch axis by
``jax.vmap`` (all members advance together; a batched ``while_loop`` runs until its slowest
member stops, and a member that has stopped is frozen by a select, so it cannot be changed by
the others) or by ``jax.lax.map`` over blocks of ``batch_size`` vmapped members (each block
stops when its own slowest member stops). Measured on 2 CPU cores, 1000 fits of (200, 3)
(``python benchmarks/scale.py modes``; ``docs/scaling.md``): when all members are alike one
``vmap`` and blocks of 16-128 tie (0.21-0.24 s on statistics) and a sequential loop is 1.7x
slower; when 2% of the members are nearly singular (~340 steps against ~12) one ``vmap`` is
9x slower (2.6 s) than blocks of 16 (0.28 s). On raw data every step costs ``O(n d^2)`` per
member, so dragging finished members along costs more: sequential (``batch_size=1``) was best
or near best (0.51 s alike, 0.65 s mixed, against 1.2 s and 39 s for one ``vmap``). Hence
``batch_size="auto"``: 16 for ``form="stats"``, 1 for ``form="raw"``. On an H100 (B = 100,
``docs/benchmarks.md``) one ``vmap`` was fastest in all four cases (28 ms alike and 121 ms mixed
on statistics, against 91/211 ms for blocks of 16 and 650/729 ms sequential): a GPU step of
the whole batch costs about what a step of one member costs, so ``"auto"`` is ``None`` there.

Every member is validated and standardised on its own (its own mean and covariance), so a
member with a huge offset or strongly correlated columns is as well conditioned as any other
and does not slow the others down by much.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _validate
from ._bijections import MvnParams, raw_from_chol
from ._fit import FitResult, _result, default_optimizer, default_tol, solve
from ._prepare import as_init, prepare_stats, standardise_params
from ._stats import SuffStats, suff_stats
from ._types import Status

__all__ = ["fit_many", "pad_batch"]

_ON_INVALID = ("raise", "skip")
_AUTO = "auto"


def pad_batch(xs, weights=None):
    """Stack data sets of unequal length into ``(B, n_max, d)`` plus a ``(B, n_max)`` mask.

    Args:
        xs: a sequence of ``(n_k, d)`` (or ``(n_k,)``) arrays.
        weights: optional sequence of ``(n_k,)`` weights.

    Returns:
        ``(x, w)``: the data padded with zeros, and weights (1 or the given ones; 0 on padding).

    Examples:
        >>> x, w = pad_batch([np.ones((2, 3)), np.zeros((4, 3))])
        >>> x.shape, w.tolist()
        ((2, 4, 3), [[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    """
    arrays = [np.asarray(a) for a in xs]
    if not arrays:
        raise ValueError("xs is empty: there is nothing to fit")
    shapes = {a.shape[1:] for a in arrays}
    if len(shapes) != 1 or any(a.ndim not in (1, 2) for a in arrays):
        raise ValueError(
            "all data sets must be (n_k,) or all (n_k, d) with the same d; got shapes "
            + ", ".join(str(a.shape) for a in arrays[:5])
        )
    if weights is not None and len(weights) != len(arrays):
        raise ValueError(f"got {len(weights)} weight arrays for {len(arrays)} data sets")
    n = max(a.shape[0] for a in arrays)
    dtype = np.result_type(*arrays, np.float32)
    x = np.zeros((len(arrays), n, *arrays[0].shape[1:]), dtype)
    w = np.zeros((len(arrays), n))
    for k, a in enumerate(arrays):
        x[k, : a.shape[0]] = a
        w[k, : a.shape[0]] = 1.0 if weights is None else np.asarray(weights[k], np.float64)
    return x, w


def _as_batch(xs):
    if isinstance(xs, (list, tuple)):
        xs = np.asarray(xs) if len({np.shape(a) for a in xs}) == 1 else None
    if xs is None or not hasattr(xs, "dtype") or not hasattr(xs, "shape"):
        raise TypeError("xs must be a (B, n, d) or (B, n) array (pad_batch stacks ragged data)")
    dtype = np.dtype(xs.dtype)
    if dtype.kind not in "fiu":
        raise TypeError(f"xs must hold real numbers, got dtype {dtype}")
    if xs.ndim not in (2, 3):
        raise ValueError(
            f"xs must be (B, n, d) for multivariate or (B, n) for univariate data sets, got "
            f"shape {tuple(xs.shape)}"
        )
    if 0 in xs.shape:
        raise ValueError(f"xs is empty (shape {tuple(xs.shape)})")
    if dtype == np.float64 and not _validate.x64_enabled():
        _validate.as_data(np.zeros((1, 1), np.float64), name="xs")  # the same warning as fit
    return xs, xs.ndim == 2


def _check_batch_weights(weights, shape):
    w = np.asarray(weights)
    if w.dtype.kind not in "fiub":
        raise TypeError(f"weights must be real numbers or a boolean mask, got dtype {w.dtype}")
    if w.shape != shape:
        raise ValueError(f"weights must have shape {shape} to match xs, got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"weights contain {int((~np.isfinite(w)).sum())} non-finite value(s)")
    if np.any(w < 0):
        raise ValueError(f"weights must be non-negative; {int((w < 0).sum())} are negative")
    return w


@jax.jit
def _batch_stats(x, w):
    return jax.vmap(suff_stats)(x, w)


@jax.jit
def _batch_stats_unweighted(x):
    return jax.vmap(suff_stats)(x)


def _member_errors(xs, weights, stats: SuffStats, ridge: float, univariate: bool) -> dict:
    """``{k: message}`` for the members that :func:`mle_jax.fit` would reject.

    A vectorised screen (loose thresholds) picks the suspects; the exact checks of
    :mod:`mle_jax._validate` then run on those only and give the messages.
    """
    count, mean, scatter = stats
    d = mean.shape[-1]
    finite = np.isfinite(count) & np.isfinite(mean).all(-1) & np.isfinite(scatter).all((-2, -1))
    with np.errstate(all="ignore"):
        var = np.diagonal(scatter, axis1=-2, axis2=-1) / count[:, None]
        std = np.sqrt(np.maximum(var, 0))
        corr = scatter / (std[:, :, None] * std[:, None, :]) / count[:, None, None]
        corr = np.where(np.isfinite(corr), corr, 0.0)
        eig = np.linalg.eigvalsh(corr)[:, 0] if d > 1 else np.ones(len(count))
        suspect = (
            ~finite
            | (count <= d + 1)
            | np.any(std <= 1e-8 * np.maximum(np.abs(mean), 1e-300), axis=-1)
            | (eig <= 1e-6)
        )
    errors = {}
    for k in np.flatnonzero(suspect):
        name = f"xs[{k}]"
        try:
            if weights is not None and not np.any(np.asarray(weights[k]) > 0):
                raise ValueError(f"weights of {name} are all zero: there is no data to fit")
            if not finite[k]:
                xk = np.asarray(xs[k])
                if not np.all(np.isfinite(xk)):
                    _validate.raise_nonfinite(xk, name=name)
                raise ValueError(f"the statistics of {name} overflow; rescale or use float64")
            _validate.check_enough_samples(float(count[k]), d, ridge, name=name)
            _validate.check_scatter(mean[k], scatter[k], count[k], ridge, None, name=name)
        except ValueError as err:
            errors[int(k)] = str(err)
    return errors


@functools.partial(jax.jit, static_argnames=("optimizer", "max_steps", "batch_size"))
def _solve_many(problem, init, tol, *, optimizer, max_steps: int, batch_size: int | None):
    def one(p, i):
        return solve(p, i, tol, optimizer=optimizer, max_steps=max_steps)

    if batch_size is None:
        return jax.vmap(one)(problem, init)
    # pad to whole blocks (repeating member 0) so that only one copy of the loop is compiled
    # (lax.map would compile a second, vmapped one for the remainder)
    batch = init.mean.shape[0]
    size = min(batch_size, batch)
    pad = -batch % size
    args = (problem, init)
    if pad:
        args = jax.tree.map(lambda a: jnp.concatenate([a, jnp.repeat(a[:1], pad, axis=0)]), args)
    out = jax.lax.map(lambda a: one(*a), args, batch_size=size)
    return jax.tree.map(lambda a: a[:batch], out) if pad else out


def _batch_init(init, prep, batch: int, d: int, ridge: float) -> MvnParams:
    """Standardised starting points ``(B, ...)``; the default matches :func:`mle_jax.fit`."""
    if init is None:
        # the moment-matched independent Gaussian: column means, diagonal of variances
        var = np.diagonal(prep.stats.scatter, axis1=-2, axis2=-1) / prep.stats.count[:, None]
        chol = np.sqrt(var + ridge)[..., None] * np.eye(d)
        params = MvnParams(prep.shift, np.asarray(jax.vmap(raw_from_chol)(jnp.asarray(chol))))
    elif isinstance(init, MvnParams) and np.ndim(init.mean) == 2:
        params = init
    elif isinstance(init, tuple) and len(init) == 2 and np.ndim(init[0]) == 2:
        mean, cov = (np.asarray(a, np.float64) for a in init)
        chol = np.linalg.cholesky(cov)
        params = MvnParams(mean, np.asarray(jax.vmap(raw_from_chol)(jnp.asarray(chol))))
    else:  # one starting point for every member
        one = as_init(init, d)
        params = jax.tree.map(lambda a: np.broadcast_to(np.asarray(a), (batch, *a.shape)), one)
    if params.mean.shape != (batch, d) or params.chol_raw.shape != (batch, d * (d + 1) // 2):
        raise ValueError(
            f"init has mean shape {np.shape(params.mean)}; expected ({batch}, {d}) (one per "
            f"member) or ({d},) (shared)"
        )
    return standardise_params(params, prep.shift, prep.transform)


def fit_many(
    xs,
    *,
    weights=None,
    optimizer: optax.GradientTransformation | None = None,
    init=None,
    max_steps: int = 1000,
    tol: float | None = None,
    ridge: float = 0.0,
    form: str = "stats",
    on_invalid: str = "raise",
    batch_size: int | None | str = _AUTO,
) -> FitResult:
    """Fit a Gaussian to each of ``B`` data sets in one compiled, batched optimisation.

    Member ``k`` gets the same answer as ``mj.fit(xs[k], weights=weights[k], ...)`` (to the
    optimiser's tolerance): each is validated and standardised on its own, and no member's
    values enter another's computation.

    Args:
        xs: ``(B, n, d)`` data sets (``(B, n)``: univariate), or a list of equal-shape arrays.
            For unequal lengths, pad: ``xs, weights = pad_batch(list_of_arrays)``.
        weights: optional ``(B, n)`` non-negative frequency weights or boolean mask (padding
            rows get 0).
        optimizer: any optax transformation; default :func:`mle_jax.default_optimizer`.
        init: ``None`` (as :func:`mle_jax.fit`), one starting point for all members
            (``MvnParams``, ``(mean, cov)``, a fit), or one per member (``MvnParams`` with a
            leading ``B`` axis, or ``(means (B, d), covs (B, d, d))``), in user units.
        max_steps, tol, ridge, form: as in :func:`mle_jax.fit` (shared by all members).
        on_invalid: what to do with members that :func:`mle_jax.fit` would reject (too few
            samples, constant or collinear columns, NaN/inf, zero weights): ``"raise"`` (the
            default) raises one ``ValueError`` naming every such member and why; ``"skip"``
            fits the others and gives these ``status == Status.INVALID`` and NaN estimates.
        batch_size: ``None`` vmaps all members together; an integer ``k`` runs blocks of ``k``
            vmapped members one after another (``jax.lax.map``; ``1`` is sequential);
            ``"auto"`` (default): on CPU 16 for ``form="stats"``, 1 for ``"raw"``; on a GPU
            ``None`` (measured, see the module docstring).

    Returns:
        A :class:`FitResult` whose fields have a leading ``(B,)`` axis: ``mean (B, d)``,
        ``cov (B, d, d)``, ``status``/``converged``/``num_steps``/``grad_norm`` per member
        (``result.message`` is a list). ``path`` is ``None``.

    Raises:
        TypeError, ValueError: bad input; with ``on_invalid="raise"``, invalid members.

    Examples:
        >>> import numpy as np, mle_jax as mj
        >>> xs = np.random.default_rng(0).normal(size=(5, 60, 3))
        >>> res = mj.fit_many(xs)
        >>> res.mean.shape, res.cov.shape, bool(res.converged.all())
        ((5, 3), (5, 3, 3), True)
        >>> bool(np.allclose(res.mean, xs.mean(axis=1), atol=1e-8))
        True
    """
    if not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    if form not in ("stats", "raw"):
        raise ValueError(f"form must be 'stats' or 'raw', got {form!r}")
    if on_invalid not in _ON_INVALID:
        raise ValueError(f"on_invalid must be one of {_ON_INVALID}, got {on_invalid!r}")
    ridge = float(ridge)
    if not np.isfinite(ridge) or ridge < 0:
        raise ValueError(f"ridge must be a finite number >= 0, got {ridge}")
    if batch_size == _AUTO:  # measured: see the module docstring
        on_cpu = jax.default_backend() == "cpu"
        batch_size = (16 if form == "stats" else 1) if on_cpu else None
    elif batch_size is not None and (
        not isinstance(batch_size, (int, np.integer)) or batch_size < 1
    ):
        raise ValueError(
            f"batch_size must be None, 'auto' or a positive integer, got {batch_size!r}"
        )

    xs, univariate = _as_batch(xs)
    kind = np.dtype(xs.dtype)
    dtype = jnp.dtype(jax.dtypes.canonicalize_dtype(kind if kind.kind == "f" else float))
    batch, n = xs.shape[:2]
    d = 1 if univariate else xs.shape[2]
    if weights is not None:
        weights = _check_batch_weights(weights, (batch, n))
    xj = jnp.asarray(xs, dtype)
    if univariate:
        xj = xj[..., None]
    wj = None if weights is None else jnp.asarray(weights, dtype)
    stats_dev = _batch_stats_unweighted(xj) if wj is None else _batch_stats(xj, wj)
    stats = SuffStats(*(np.asarray(a, np.float64) for a in stats_dev))

    errors = _member_errors(xs, weights, stats, ridge, univariate)
    if errors and on_invalid == "raise":
        shown = "\n".join(f"  {errors[k]}" for k in sorted(errors)[:10])
        more = f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else ""
        raise ValueError(
            f"{len(errors)} of {batch} data sets cannot be fitted (pass on_invalid='skip' to "
            f"fit the others and mark these Status.INVALID, or ridge=... to regularise):\n"
            f"{shown}{more}"
        )
    bad = np.zeros(batch, bool)
    bad[list(errors)] = True
    if bad.any():  # stand-ins that converge at step 0 and cannot touch the others
        eye = np.broadcast_to(np.eye(d), (int(bad.sum()), d, d))
        cnt = np.where(bad, np.maximum(np.nan_to_num(stats.count), d + 2.0), stats.count)
        stats = SuffStats(
            cnt,
            np.where(bad[:, None], 0.0, stats.mean),
            np.where(bad[:, None, None], 0.0, stats.scatter),
        )
        stats.scatter[bad] = eye * cnt[bad][:, None, None]
        if form == "raw":
            keep = jnp.asarray(~bad)
            xj = jnp.where(keep[:, None, None], jnp.nan_to_num(xj), 0.0)
            wj = jnp.ones(xj.shape[:2], dtype) if wj is None else wj
            wj = jnp.where(keep[:, None], wj, 0.0)

    raw = form == "raw"
    prep = prepare_stats(
        stats,
        ridge=ridge,
        univariate=univariate,
        dtype=dtype,
        x=xj if raw else None,
        weights=wj if raw else None,
    )
    init_std = _batch_init(init, prep, batch, d, ridge)
    init_std = jax.tree.map(lambda a: jnp.asarray(a, dtype), init_std)
    tol = default_tol(dtype) if tol is None else float(tol)
    optimizer = default_optimizer() if optimizer is None else optimizer
    state, final_nll = _solve_many(
        prep.problem,
        init_std,
        jnp.asarray(tol, dtype),
        optimizer=optimizer,
        max_steps=int(max_steps),
        batch_size=None if batch_size is None else int(batch_size),
    )
    res = _result(prep, state, final_nll)
    if not bad.any():
        return res
    keep = jnp.asarray(~bad)

    def blank(a):
        if not jnp.issubdtype(a.dtype, jnp.floating):
            return a
        mask = jnp.reshape(keep, (batch,) + (1,) * (a.ndim - 1))
        return jnp.where(mask, a, jnp.nan)

    return res._replace(
        mean=blank(res.mean),
        cov=blank(res.cov),
        std=blank(res.std),
        params=jax.tree.map(blank, res.params),
        nll=blank(res.nll),
        grad_norm=blank(res.grad_norm),
        loss_history=blank(res.loss_history),
        count=jnp.asarray(np.where(bad, np.asarray(stats_dev.count, np.float64), res.count), dtype),
        converged=res.converged & keep,
        status=jnp.where(keep, res.status, Status.INVALID),
        num_steps=jnp.where(keep, res.num_steps, 0),
    )
