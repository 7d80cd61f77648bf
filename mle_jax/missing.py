"""Missing data: the statistics of incomplete data and EM, the second algorithm for FIML.

``mj.fit(x, missing="fiml")`` fits the observed-data likelihood by gradient descent (the
main road). This module holds what that road is built from and its independent check:

* :func:`pattern_stats` / :func:`merge_pattern_stats`: the sufficient statistics of data with
  NaN, one entry per missingness pattern, mergeable across chunks and devices;
* :func:`fiml_nll`: the observed-data NLL as a pure JAX function of them;
* :func:`em`: expectation-maximisation on the same statistics, returning a
  :class:`~mle_jax.FitResult` (so :mod:`mle_jax.inference` works on it too): the oracle the
  gradient fit is tested against;
* :func:`monotone_mle`: the closed form for monotone patterns (factored likelihood);
* :func:`impute`: the missing entries filled in from a fit (conditional means, or multiple
  imputations with the fit's parameter uncertainty).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _distribution, _validate
from ._bijections import MvnParams, raw_from_chol
from ._fiml import fiml_nll
from ._missing_em import em as _em
from ._missing_em import em_tol, monotone_mle
from ._model import Gaussian
from ._objective import count, free_from_mean_cov, objective
from ._patterns import (
    PatternStats,
    merge_pattern_stats,
    missing_fraction,
    pattern_stats,
    start,
)
from ._problem import prepare, result
from ._result import FitResult
from ._statistics import collect
from ._types import Status

__all__ = [
    "PatternStats",
    "em",
    "fiml_nll",
    "impute",
    "merge_pattern_stats",
    "missing_fraction",
    "monotone_mle",
    "pattern_stats",
]


class _Outcome(NamedTuple):  # what _problem.result reads of a finished loop
    best: Any
    history: Any
    path: Any
    step: Any
    status: Any
    best_grad_norm: Any


_em_jit = jax.jit(_em, static_argnames=("max_iter",))


@jax.jit
def _em_outcome(problem, out):
    """What :func:`~mle_jax._problem.result` reads of an EM result, as one program (eager
    operations would each compile on their own). Apart from the EM loop, and its NLL and
    gradient as one ``value_and_grad``: independent batched LAPACK calls in one program can
    deadlock jaxlib 0.10.2's CPU runtime (``docs/design-notes.md``, "CPU runtime deadlock")."""
    chol = jnp.linalg.cholesky(out.cov)
    free = free_from_mean_cov(problem.spec, out.mean, out.cov)
    value, grad = jax.value_and_grad(objective)(free, problem)
    status = jnp.where(out.converged, Status.CONVERGED, Status.MAX_STEPS)
    history = jnp.full((1,), jnp.nan, out.cov.dtype)
    best = MvnParams(out.mean, raw_from_chol(chol))
    outcome = _Outcome(best, history, None, out.num_iter, status, optax.tree.norm(grad))
    return outcome, value * count(problem)


def em(
    x, *, weights=None, max_iter: int = 100_000, tol: float | None = None, columns=None
) -> FitResult:
    """Maximum-likelihood fit of a Gaussian to data with NaN by expectation-maximisation.

    Each step replaces the missing entries' contribution to the statistics by its expectation
    given the observed entries and the current estimate (per pattern, fixed shapes), then
    takes the complete-data MLE. It increases the observed-data likelihood at every step and
    converges linearly, slowly where much information is missing; it stops when the remaining
    error (estimated from the ratio of the last two steps) is below ``tol`` in standard
    deviation and correlation units.

    Args:
        x: ``(n, d)`` data with NaN for missing entries (or a memory map, an iterator of
            chunks: anything :func:`mle_jax.fit` takes with ``missing="fiml"``).
        weights: optional ``(n,)`` frequency weights.
        max_iter: the most EM steps.
        tol: the bound on the estimated remaining error; default by the compute dtype:
            ``1e-12`` in float64, ``1e-5`` in float32 (whose steps stop changing the
            estimate near ``1e-7``: a float64 tolerance would run all ``max_iter`` steps).
        columns: optional column names.

    Returns:
        A :class:`~mle_jax.FitResult` of the full Gaussian (``num_steps`` = EM steps;
        ``grad_norm`` is the gradient norm of the observed-data NLL there, in the
        coordinates a ``fit`` would use; ``loss_history`` is empty).

    Examples:
        >>> import numpy as np, mle_jax as mj
        >>> x, _ = mj.load_dataset("apple")
        >>> res = mj.missing.em(x)
        >>> [round(float(v), 3) for v in res.mean]
        [14.722, 49.333]
    """
    _validate.check_not_traced("missing.em", x=x, weights=weights)
    model = Gaussian()
    data = collect(x, weights, columns=columns, missing="fiml")
    data = data._replace(stats=data.stats.as_patterns())  # no NaN: one complete pattern
    model.check_data(data.stats, data.columns)
    prep = prepare(data, model, "scale")  # columns centred and scaled: EM works there
    ps = prep.problem.stats
    mean0, cov0 = (np.asarray(a, data.dtype) for a in start(jax.tree.map(np.asarray, ps)))
    _validate.check_tol(tol)
    bound = np.asarray(em_tol(data.dtype) if tol is None else tol, data.dtype)
    out = _em_jit(ps, mean0, cov0, max_iter=int(max_iter), tol=bound)
    return result(prep, *_em_outcome(prep.problem, out))


def impute(result: FitResult, x, *, draws: int | None = None, key=None):
    """The missing (NaN) entries of ``x`` filled in from a fit; ``x`` is never modified.

    Without ``draws``: each NaN becomes its conditional mean given the row's observed
    entries, ``mean_m + S_mo S_oo^-1 (x_o - mean_o)`` (a row with none gets the mean). With
    ``draws=m`` (multiple imputation, to be analysed with Rubin's rules): for each of the
    ``m`` imputations, parameters ``(mean, cov)`` are drawn from the asymptotic normal of the
    fit's estimates (the inverse information of :mod:`mle_jax.inference`; for a
    :class:`~mle_jax.Model` in its free coordinates), then every row's missing entries from
    their conditional Gaussian under those parameters.

    Args:
        result: one fit (any model; ``res[k]`` for a member of ``fit_many``), typically
            ``mj.fit(x, missing="fiml")``.
        x: ``(n, d)`` (or ``(d,)``; 1-D for a univariate fit) with NaN for missing entries,
            or a pandas DataFrame holding the fit's columns (other columns are kept as they are).
        draws: the number of imputations ``m``, or ``None`` (conditional means).
        key: a JAX random key, required with ``draws``.

    Returns:
        Without ``draws``: an array of ``x``'s shape and float dtype (float64 for integer
        input), or a DataFrame copy (the fit's columns as float64). With ``draws``: a
        ``(m, *x.shape)`` array, or a list of ``m`` DataFrames for a DataFrame.

    Examples:
        >>> import numpy as np, mle_jax as mj
        >>> res = mj.fit(np.array([[1.0, 2.0], [2.0, 2.5], [3.0, 4.5], [4.0, 5.0]]))
        >>> filled = mj.missing.impute(res, np.array([[2.5, np.nan]]))
        >>> round(float(filled[0, 1]), 3)  # the regression of column 1 on column 0 at 2.5
        3.5
    """
    return _distribution.impute(result, x, draws=draws, key=key)
