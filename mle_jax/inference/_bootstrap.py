"""The nonparametric bootstrap of a model fit as one batched refit.

Replicate ``b`` draws ``n`` rows with replacement (within each group for a multigroup
model, as lavaan resamples), which is the same as giving every row a multinomial frequency
weight. The replicates' statistics are weighted sums over the rows, per missingness pattern
for incomplete data (FIML refits), computed for all replicates at once, and the refits run
as one :func:`~mle_jax.fit_many`-style batch started at the estimate.
"""

from __future__ import annotations

import functools
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate
from .._batch import default_block
from .._fit import _model_options
from .._fit_model import fit_model_many
from .._patterns import PatternStats
from .._statistics import Data, float_dtype
from .._types import Status
from ..stats import SuffStats

__all__ = ["Bootstrap", "bootstrap"]


class Bootstrap(NamedTuple):
    """Bootstrap replicates of a fit's reported values (the rows of its parameter table).

    Attributes:
        names: ``(r,)`` the rows' names.
        estimates: ``(B, r)`` each replicate's values (NaN for a refit that did not
            converge).
        status: ``(B,)`` each refit's :class:`~mle_jax.Status`.
        admissible: ``(B,)`` converged with no parameter at a bound (no Heywood case).
        se: ``(r,)`` the standard deviation over the converged replicates.
        ci_lower, ci_upper: ``(r,)`` percentile intervals at ``level``.
        level: the intervals' coverage.
    """

    names: tuple
    estimates: np.ndarray
    status: np.ndarray
    admissible: np.ndarray
    se: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    level: float

    @property
    def n_inadmissible(self) -> int:
        """Converged refits with a parameter at its bound (lavaan keeps them silently)."""
        return int(np.sum((self.status == Status.CONVERGED) & ~self.admissible))

    def __repr__(self) -> str:
        ok = int(np.sum(self.status == Status.CONVERGED))
        return (
            f"Bootstrap({len(self.status)} replicates: {ok} converged, {self.n_inadmissible} "
            f"inadmissible (a parameter at its bound); {len(self.names)} values)"
        )


def _weights(groups: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """``(B, n)`` multinomial frequency weights, resampling within each group."""
    rng = np.random.default_rng(seed)
    w = np.zeros((n_boot, groups.size))
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        counts = rng.multinomial(rows.size, np.full(rows.size, 1.0 / rows.size), size=n_boot)
        w[:, rows] = counts
    return w


def replicate_stats(x: np.ndarray, w: np.ndarray):
    """Statistics of ``B`` weightings ``w (B, n)`` of the rows of ``x (n, d)``: batched
    :class:`~mle_jax.stats.SuffStats` for complete data, else :class:`PatternStats` over the
    patterns of ``x`` (a pattern no replicate row falls in has count 0)."""
    observed = ~np.isnan(x)
    if observed.all():
        return _weighted(x, w)
    keys, inverse = np.unique(observed, axis=0, return_inverse=True)
    inverse = np.ravel(inverse)
    parts = [_weighted(np.where(observed, x, 0.0)[inverse == p], w[:, inverse == p])
             for p in range(len(keys))]  # fmt: skip
    mask = np.broadcast_to(keys.astype(np.float64), (w.shape[0], *keys.shape))
    count, mean, scatter = (np.stack([getattr(s, f) for s in parts], axis=1)
                            for f in ("count", "mean", "scatter"))  # fmt: skip
    mean = mean * mask
    scatter = scatter * mask[..., :, None] * mask[..., None, :]
    return PatternStats(mask=np.array(mask), count=count, mean=mean, scatter=scatter)


def _weighted(x: np.ndarray, w: np.ndarray) -> SuffStats:
    centre = x.mean(axis=0)
    xc = x - centre
    count = w.sum(axis=1)
    safe = np.where(count > 0, count, 1.0)
    shift = (w @ xc) / safe[:, None]
    scatter = np.einsum("bn,ni,nj->bij", w, xc, xc, optimize=True)
    scatter -= count[:, None, None] * shift[:, :, None] * shift[:, None, :]
    return SuffStats(count, centre + shift, scatter)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _values(layout, model, free, fixed):
    report = model.report()

    def one(u):
        params = layout.unflatten(u, fixed)[0]
        return report.values(params) if report else layout.natural(u, fixed)

    return jax.vmap(one)(free)


def bootstrap(
    result,
    x,
    n: int = 1000,
    *,
    seed: int = 0,
    columns=None,
    level: float = 0.95,
    batch_size: int | None | str = "auto",
) -> Bootstrap:
    """Nonparametric bootstrap of a model fit: ``n`` refits to resampled rows, one batched
    call (FIML refits for incomplete data).

    Args:
        result: one fit of a :class:`~mle_jax.Model`.
        x: the data the fit was made from (as passed to :func:`~mle_jax.fit`).
        n: the number of replicates.
        seed: the seed of the resampling (a bootstrap is reproducible).
        columns: as passed to :func:`~mle_jax.fit`.
        level: the coverage of the percentile intervals.
        batch_size: as in :func:`~mle_jax.fit_many`.

    Returns:
        :class:`Bootstrap`: per-replicate values, status and admissibility, standard errors
        and percentile intervals; pass it to
        :func:`~mle_jax.inference.parameter_table` (``bootstrap=``) for a table with them.

    Inadmissible refits (converged at a bound: a Heywood case) are counted and kept in the
    standard errors, as lavaan keeps them; ``estimates[admissible]`` leaves them out.
    """
    if result.layout is None:
        raise TypeError("bootstrap takes a Model fit (mj.SEM, mj.FactorAnalysis, ...)")
    if result.batch_shape:
        raise ValueError("bootstrap takes one fit: pass res[k] for a fit_many member")
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (the number of replicates), got {n!r}")
    model = result.model
    incomplete = model.is_incomplete(result.stats)
    x, columns, missing, model = model.prepare_data(x, columns, "fiml" if incomplete else "raise")
    if hasattr(x, "to_numpy"):
        x = x.to_numpy()
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or x.shape[1] != np.shape(result.stats.mean)[-1]:
        raise ValueError(
            f"x must be the data the fit was made from ({np.shape(result.stats.mean)[-1]} "
            f"columns after the model's selection); got shape {x.shape}"
        )
    keep = ~np.isnan(x).all(axis=1)
    x = x[keep]
    if missing == "fiml" and not incomplete and np.isnan(x).any() and model.blocks() is None:
        raise ValueError("x holds NaN but the fit was on complete data: pass the same data")
    blocks = model.blocks() or (tuple(range(x.shape[1])),)
    groups = np.zeros(x.shape[0], int)
    for g, block in enumerate(blocks):
        groups[~np.isnan(x[:, list(block)]).all(axis=1)] = g
    count = float(np.asarray(result.count))
    if not np.isclose(x.shape[0], count):
        raise ValueError(
            f"x has {x.shape[0]} rows but the fit was on {count:g}: pass the same data"
        )
    w = _weights(groups, int(n), seed)
    dtype = float_dtype(np.asarray(result.mean).dtype)
    data = Data(replicate_stats(x, w), False, dtype, columns=columns)
    options = _model_options(data, result.params, None, None, 1000, "whiten")
    size = default_block("stats") if batch_size == "auto" else batch_size
    with warnings.catch_warnings():  # replicates' warnings are summarised in the result
        warnings.simplefilter("ignore")
        refits = fit_model_many(data, model, batch_size=size, history=False, **options)
    status = np.asarray(refits.status)
    ok = status == Status.CONVERGED
    fixed = tuple(jnp.asarray(a) for a in result.layout.fixed_values(result.params))
    report = model.report()
    free = jnp.asarray(refits.free)
    values = np.array(_values(result.layout, model, free, fixed), np.float64)
    values[~ok] = np.nan
    names = report.names if report else tuple(result.names)
    admissible = ok & ~np.asarray(refits.at_bound).any(axis=-1)
    good = values[ok]
    se = good.std(axis=0, ddof=1) if len(good) > 1 else np.full(values.shape[1], np.nan)
    tail = 50.0 * (1.0 - level)
    nan = np.full(values.shape[1], np.nan)
    lower = np.percentile(good, tail, axis=0) if len(good) else nan
    upper = np.percentile(good, 100.0 - tail, axis=0) if len(good) else nan
    if not ok.all():
        _validate.warn(
            f"{int((~ok).sum())} of {n} bootstrap refits did not converge; they are left out"
        )
    return Bootstrap(names, values, status, admissible, se, lower, upper, float(level))
