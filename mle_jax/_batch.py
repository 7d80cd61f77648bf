"""Pieces of :func:`mle_jax.fit_many`: padding ragged data sets, screening members, and the
batched solve (one ``vmap``, or blocks of vmapped members mapped one after another)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from . import _validate
from ._model import Gaussian
from ._patterns import PatternStats
from ._solve import solve
from .stats import SuffStats

__all__ = [
    "default_block",
    "map_blocks",
    "member_errors",
    "pad_batch",
    "pattern_errors",
    "solve_many",
]


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


def member_errors(xs, weights, stats: SuffStats, model: Gaussian) -> dict:
    """``{k: message}`` for the members that :func:`fit` would reject.

    A vectorised screen (loose thresholds) picks the suspects; the exact checks then run on
    those only and give the messages.
    """
    count, mean, scatter = stats
    d = mean.shape[-1]
    finite = np.isfinite(count) & np.isfinite(mean).all(-1) & np.isfinite(scatter).all((-2, -1))
    with np.errstate(all="ignore"):
        std = np.sqrt(np.maximum(scatter.diagonal(axis1=-2, axis2=-1) / count[:, None], 0))
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
            model.check_data(SuffStats(count[k], mean[k], scatter[k]), name=name)
        except ValueError as err:
            errors[int(k)] = str(err)
    return errors


def pattern_errors(stats: PatternStats, model: Gaussian) -> dict:
    """``{k: message}`` for members of incomplete data that :func:`fit` would reject."""
    errors = {}
    for k in range(stats.count.shape[0]):
        try:
            model.check_data(PatternStats(*(a[k] for a in stats)), name=f"xs[{k}]")
        except ValueError as err:
            errors[k] = str(err)
    return errors


def map_blocks(fn, args, size: int | None):
    """``jax.vmap(fn)(*args)`` over the leading axis, run as ``lax.map`` over blocks of
    ``size`` members (``None``: one vmap of all).

    Blocks bound the work XLA's CPU runtime runs at once; a whole-batch vmap of a Hessian
    with batched LAPACK calls (1000 members) deadlocked jaxlib 0.10.2's CPU runtime
    (``docs/design-notes.md``, "CPU runtime deadlock"). Whole blocks (member 0 repeated):
    ``lax.map`` would compile a second body for a remainder, and its ``batch_size=`` cannot
    reshape zero-size leaves.
    """
    if size is None:
        return jax.vmap(fn)(*args)
    batch = jax.tree.leaves(args)[0].shape[0]
    size = min(size, batch)
    pad = -batch % size
    blocks = (batch + pad) // size
    if pad:
        args = jax.tree.map(lambda a: jnp.concatenate([a, jnp.repeat(a[:1], pad, axis=0)]), args)
    args = jax.tree.map(lambda a: a.reshape((blocks, size, *a.shape[1:])), args)
    out = jax.lax.map(lambda a: jax.vmap(fn)(*a), args)
    return jax.tree.map(lambda a: a.reshape((blocks * size, *a.shape[2:]))[:batch], out)


def default_block(form: str = "stats") -> int | None:
    """Members vmapped together by default: 16 on a CPU (1 for ``form="raw"``), all on an
    accelerator (``docs/design-notes.md``)."""
    if jax.default_backend() != "cpu":
        return None
    return 16 if form == "stats" else 1


@functools.partial(jax.jit, static_argnames=("optimizer", "max_steps", "batch_size"))
def solve_many(problem, init, tol, *, optimizer, max_steps: int, batch_size: int | None):
    def one(p, i):
        return solve(p, i, tol, optimizer=optimizer, max_steps=max_steps)

    return map_blocks(one, (problem, init), batch_size)
