"""Validation and standardisation: data -> the standardised :class:`Problem` the loop sees.

:func:`prepare` validates the input and computes its sufficient statistics in one stable pass
(on the host for numpy input, on the devices for a ``jax.Array``, merged chunk by chunk for
streams); :func:`prepare_stats` centres and whitens them in float64 on the host. The maps
between user units and standardised units (:func:`standardise_params`, :func:`to_user_units`)
live here too, next to the transform they invert.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _models, _shard, _stream, _validate
from ._bijections import MvnParams, chol_from_raw, raw_from_chol
from ._stats import SuffStats
from ._stats_np import suff_stats_np
from ._types import HIGHEST

__all__ = [
    "Prepared",
    "Problem",
    "as_init",
    "prepare",
    "prepare_stats",
    "standardise_params",
    "to_user_units",
]


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
    scale=None,
) -> Prepared:
    """The standardised :class:`Prepared` problem from validated host float64 statistics.

    The second half of :func:`prepare` (no validation here), shared by streamed, sharded and
    batched fits. Any leading batch axes of ``stats`` (and ``x``: ``(..., n, d)``) are kept:
    each member is standardised on its own.

    By default (``scale=None``) the data are whitened: mapped through the Cholesky factor
    ``A`` of their covariance (plus ridge). The Gaussian family is closed under affine maps,
    so this is an exact reparameterisation, and it makes the Hessian of the NLL at the
    optimum the same for every data set, however ill-conditioned (cond 1e8 fits like cond 1).
    The optimiser still walks the exact NLL from the (standardised) start. Models that are
    not closed under a full affine map (diagonal or spherical covariances) pass a ``(d,)``
    ``scale`` instead: ``A = diag(scale)``, centring and scaling per column.
    """
    dtype = jnp.dtype(jax.dtypes.canonicalize_dtype(dtype or jnp.result_type(float)))
    count = np.asarray(stats.count, np.float64)
    d = stats.mean.shape[-1]
    cov = np.asarray(stats.scatter, np.float64) / count[..., None, None] + ridge * np.eye(d)
    shift = np.asarray(stats.mean, np.float64)
    if scale is None:
        transform = np.linalg.cholesky(cov)
    else:
        transform = np.asarray(scale, np.float64)[..., None] * np.eye(d)
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
