"""The fitted Gaussian as a distribution: samples, densities of new rows (NaN entries
marginalised), conditionals, imputation and the correlation matrix.

Pure JAX per row or per fit at the bottom (``_row_*``: unbatched, ``vmap`` adds rows and fits);
the drivers read ``res.mean`` and ``res.cov`` (user units), which every model fills, so every
model (``Gaussian``, ``Structured``, ``FactorAnalysis``, ``SEM``, ...) gets these for free.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import cho_solve, solve_triangular

from ._fiml import masked_cov
from ._nll import LOG2PI
from ._types import HIGHEST

__all__ = ["Conditional", "conditional", "corr", "impute", "logpdf", "param_draws", "sample"]


# ------------------------------------------------------------------------------ pure math


def _row_logpdf(mean, cov, row):
    """``(d,), (d, d), (d,) -> ()``: ``log N(row_o | mean_o, cov_oo)`` over the observed
    (non-NaN) entries ``o`` of ``row`` (0 for a row with none)."""
    obs = ~jnp.isnan(row)
    m = obs.astype(cov.dtype)
    r = jnp.where(obs, row - mean, 0.0)
    chol = jnp.linalg.cholesky(masked_cov(cov, m))  # Sigma_oo padded with identity
    z = solve_triangular(chol, r, lower=True)
    half_logdet = jnp.sum(jnp.log(jnp.diagonal(chol)))  # the padding adds log 1 = 0
    return -0.5 * jnp.sum(z * z) - half_logdet - 0.5 * jnp.sum(m) * LOG2PI


def _row_impute(mean, cov, row, noise):
    """``(d,), (d, d), (d,), (d,) -> (d,)``: the NaN entries of ``row`` replaced by their
    conditional mean given the observed ones, plus ``L noise`` on them (``L L^T`` the
    conditional covariance; pass zeros for the conditional mean alone)."""
    obs = ~jnp.isnan(row)
    m = obs.astype(cov.dtype)
    r = jnp.where(obs, row - mean, 0.0)
    factor = (jnp.linalg.cholesky(masked_cov(cov, m)), True)
    w = cho_solve(factor, r)  # Sigma_oo^-1 r_o, 0 on the missing entries
    cmean = mean + jnp.matmul(cov, w, precision=HIGHEST)
    cross = cov * m[None, :]  # Sigma_{., o}
    ccov = cov - jnp.matmul(cross, cho_solve(factor, cross.T), precision=HIGHEST)
    miss = 1.0 - m
    ccov = 0.5 * (ccov + ccov.T) * miss[:, None] * miss[None, :] + jnp.diag(m)
    draw = jnp.matmul(jnp.linalg.cholesky(ccov), noise, precision=HIGHEST) * miss
    return jnp.where(obs, row, cmean + draw)


_logpdf_rows = jax.jit(jax.vmap(_row_logpdf, (None, None, 0)))
_logpdf_fits = jax.jit(jax.vmap(jax.vmap(_row_logpdf, (None, None, 0)), (0, 0, None)))
_impute_rows = jax.jit(jax.vmap(_row_impute, (None, None, 0, 0)))
_impute_draws = jax.jit(jax.vmap(jax.vmap(_row_impute, (None, None, 0, 0)), (0, 0, None, 0)))


# ------------------------------------------------------------------------------ helpers


def _moments(res):
    """``(mean (*B, d), cov (*B, d, d))`` of a fit as JAX arrays (univariate: ``d = 1``)."""
    mean, cov = jnp.asarray(res.mean), jnp.asarray(res.cov)
    if res.univariate:
        mean, cov = mean[..., None], cov[..., None, None]
    return mean, cov


def _dim(res) -> int:
    return int(np.shape(res.stats.mean)[-1])


def _labels(res) -> tuple:
    return tuple(res.columns) if res.columns is not None else tuple(range(_dim(res)))


def _check_key(key, what: str = "key"):
    if key is None:
        raise TypeError(f"{what} is required: a JAX random key, e.g. jax.random.key(0)")
    arr = jnp.asarray(key) if not isinstance(key, jax.Array) else key
    if jnp.issubdtype(arr.dtype, jax.dtypes.prng_key) and arr.shape == ():
        return arr
    if arr.dtype == jnp.uint32 and arr.shape == (2,):
        return arr
    raise TypeError(
        f"{what} must be one JAX random key (jax.random.key(0) or jax.random.PRNGKey(0)), "
        f"got {type(key).__name__} of shape {np.shape(key)}"
    )


def _rows(res, x, what: str = "x"):
    """``x`` as host ``(n, d)`` float (NaN for missing), whether it was one row, and the
    pandas frame it came from (or ``None``) with the columns used."""
    d = _dim(res)
    frame, used = None, None
    if hasattr(x, "columns") and hasattr(x, "to_numpy"):  # a pandas DataFrame
        frame = x
        names = [str(c) for c in x.columns]
        if res.columns is not None and all(str(c) in names for c in res.columns):
            used = [x.columns[names.index(str(c))] for c in res.columns]
        elif len(names) == d:
            used = list(x.columns)
        else:
            want = list(res.columns) if res.columns is not None else f"{d} columns"
            raise ValueError(
                f"{what} has columns {names[:10]}; the fit needs {want}: select them, "
                f"e.g. {what}[{list(res.columns or ())[:3]!r}]"
            )
        try:
            arr = x[used].to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            raise TypeError(
                f"{what} must hold numbers in the fit's columns {[str(c) for c in used]}"
            ) from None
    else:
        try:
            arr = np.array(x, dtype=np.float64)  # a copy: the input is never touched
        except (TypeError, ValueError):
            raise TypeError(f"{what} must be an array of real numbers (NaN for missing)") from None
    single = False
    if res.univariate:
        if arr.ndim > 1:
            raise ValueError(f"{what} of a univariate fit must be a number or 1-D, got {arr.shape}")
        single = arr.ndim == 0
        arr = arr.reshape(-1, 1)
    else:
        if arr.ndim == 1:
            single, arr = True, arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != d:
            raise ValueError(
                f"{what} must have shape (n, {d}) or ({d},) (the fit's d = {d}), got {arr.shape}"
            )
    if np.isinf(arr).any():
        raise ValueError(f"{what} contains inf; mark missing entries with NaN")
    return arr, single, frame, used


# ------------------------------------------------------------------------------ drivers


def sample(res, key, n: int) -> jax.Array:
    """``n`` draws from the fitted Gaussian: ``(*batch, n, d)`` (``(*batch, n)`` univariate)."""
    key = _check_key(key)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be an int >= 0 (the number of draws), got {n!r}")
    mean, cov = _moments(res)
    x = _sample(key, mean, cov, int(n))
    return x[..., 0] if res.univariate else x


@functools.partial(jax.jit, static_argnums=3)
def _sample(key, mean, cov, n: int):
    """``(*B, d), (*B, d, d) -> (*B, n, d)``: ``mean + L eps``."""
    chol = jnp.linalg.cholesky(cov)
    eps = jax.random.normal(key, (*mean.shape[:-1], n, mean.shape[-1]), mean.dtype)
    return mean[..., None, :] + jnp.einsum("...ij,...nj->...ni", chol, eps, precision=HIGHEST)


def logpdf(res, x) -> jax.Array:
    """Log-density of rows under the fit, NaN entries marginalised out: ``(*batch, n)``
    (``(*batch,)`` for one row)."""
    arr, single, _, _ = _rows(res, x)
    mean, cov = _moments(res)
    rows = jnp.asarray(arr, mean.dtype)
    if mean.ndim == 1:
        out = _logpdf_rows(mean, cov, rows)
    else:
        batch = mean.shape[:-1]
        d = mean.shape[-1]
        flat = _logpdf_fits(mean.reshape(-1, d), cov.reshape(-1, d, d), rows)
        out = flat.reshape(*batch, rows.shape[0])
    return out[..., 0] if single else out


class Conditional(NamedTuple):
    """The distribution of some columns ``u`` given values of the others ``k``:
    ``x_u | x_k ~ N(mean, cov)`` with ``mean = intercept + coef @ x_k`` (leading batch axes
    for a batch of fits).

    Attributes:
        mean: ``(*batch, u)`` conditional mean at the given values.
        cov: ``(*batch, u, u)`` conditional covariance ``S_uu - S_uk S_kk^-1 S_ku``.
        coef: ``(*batch, u, k)`` regression coefficients ``S_uk S_kk^-1`` of ``x_u`` on ``x_k``.
        intercept: ``(*batch, u)`` ``mean_u - coef @ mean_k``.
        columns: the ``u`` columns (names when the fit has them, else indices).
        given: the ``k`` given columns, in the order of ``coef``'s last axis.
    """

    mean: jax.Array
    cov: jax.Array
    coef: jax.Array
    intercept: jax.Array
    columns: tuple
    given: tuple


def _given(res, given) -> tuple[np.ndarray, np.ndarray]:
    """``(known indices (k,), their values (k,))`` from a mapping or a ``(d,)`` array."""
    d, labels = _dim(res), _labels(res)
    if isinstance(given, Mapping):
        index, values = [], []
        for key, value in given.items():
            if isinstance(key, int | np.integer) and not isinstance(key, bool):
                if not -d <= int(key) < d:
                    raise ValueError(f"given names column {key}, but the fit has d = {d}")
                j = int(key) % d
            elif res.columns is not None and str(key) in map(str, res.columns):
                j = [str(c) for c in res.columns].index(str(key))
            else:
                raise ValueError(
                    f"given names column {key!r}, which the fit does not have (columns: "
                    f"{list(labels)}); use a name or an index 0..{d - 1}"
                )
            if j in index:
                raise ValueError(f"given names column {labels[j]!r} twice")
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise TypeError(f"given[{key!r}] must be a number, got {value!r}") from None
            index.append(j)
            values.append(v)
        order = np.argsort(index)
        return np.asarray(index, int)[order], np.asarray(values, np.float64)[order]
    try:
        arr = np.array(given, np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            "given must be a dict {column: value} or a (d,) array with NaN for the unknown columns"
        ) from None
    if arr.shape != (d,):
        raise ValueError(
            f"given as an array must have shape ({d},) (NaN = unknown), got {arr.shape}"
        )
    index = np.flatnonzero(~np.isnan(arr))
    return index, arr[index]


def conditional(res, given) -> Conditional:
    """The conditional Gaussian of the other columns given values of some (Schur complement)."""
    if res.univariate:
        raise ValueError("a univariate fit has no other column to condition on")
    known, values = _given(res, given)
    d, labels = _dim(res), _labels(res)
    if known.size == 0 or known.size == d:
        raise ValueError(
            f"given must fix at least one and at most {d - 1} of the {d} columns, got {known.size}"
        )
    if not np.isfinite(values).all():
        raise ValueError("given values must be finite (NaN marks an unknown column in an array)")
    free = np.setdiff1d(np.arange(d), known)
    mean, cov = _moments(res)
    xk = jnp.asarray(values, mean.dtype)
    cmean, ccov, coef, intercept = _schur(mean, cov, xk, tuple(known), tuple(free))
    names = tuple(labels[j] for j in free), tuple(labels[j] for j in known)
    return Conditional(cmean, ccov, coef, intercept, *names)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _schur(mean, cov, xk, known: tuple, free: tuple):
    """``(*B, d), (*B, d, d), (k,)`` -> the conditional mean, covariance, coefficients and
    intercept of the ``free`` columns given the ``known`` ones at ``xk``."""
    k, u = np.asarray(known), np.asarray(free)
    s_kk = cov[..., k[:, None], k[None, :]]
    s_ku = cov[..., k[:, None], u[None, :]]
    s_uu = cov[..., u[:, None], u[None, :]]
    factor = (jnp.linalg.cholesky(s_kk), True)
    coef = jnp.swapaxes(cho_solve(factor, s_ku), -1, -2)  # (..., u, k)
    intercept = mean[..., u] - jnp.einsum("...uk,...k->...u", coef, mean[..., k])
    cmean = intercept + jnp.einsum("...uk,k->...u", coef, xk)
    ccov = s_uu - jnp.matmul(coef, s_ku, precision=HIGHEST)
    return cmean, 0.5 * (ccov + jnp.swapaxes(ccov, -1, -2)), coef, intercept


def corr(res) -> jax.Array:
    """``(*batch, d, d)`` the fitted correlation matrix (``()`` 1.0 univariate)."""
    mean, cov = _moments(res)
    std = jnp.sqrt(jnp.diagonal(cov, axis1=-2, axis2=-1))
    out = cov / (std[..., :, None] * std[..., None, :])
    d = cov.shape[-1]
    out = jnp.where(jnp.eye(d, dtype=bool), jnp.ones((), out.dtype), out)
    return out[..., 0, 0] if res.univariate else out


# ------------------------------------------------------------------ parameter uncertainty


def _root(v: np.ndarray) -> np.ndarray:
    """A square root ``R`` of a symmetric positive semi-definite ``v``: ``R R^T = v``."""
    w, q = np.linalg.eigh(0.5 * (v + v.T))
    return q * np.sqrt(np.clip(w, 0.0, None))


def param_draws(res, key, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``m`` draws of ``(mean (m, d), cov (m, d, d))`` from the asymptotic normal of the fit's
    estimates (host float64): for a :class:`~mle_jax.Model` in its free coordinates (the
    inverse information of :mod:`mle_jax.inference`, lavaan's default kind) mapped through the
    model; for a :class:`~mle_jax.Gaussian` in ``(mean, vech cov)`` (the inverse observed
    information of :func:`~mle_jax.standard_errors`), redrawing the rare covariance that is
    not positive definite."""
    if res.layout is not None:
        return _model_draws(res, key, m)
    from .inference import standard_errors

    d = _dim(res)
    rows, cols = np.tril_indices(d)
    mean = np.reshape(np.asarray(res.mean, np.float64), (d,))
    cov = np.reshape(np.asarray(res.cov, np.float64), (d, d))
    phi = np.concatenate([mean, cov[rows, cols]])
    vcov = np.asarray(standard_errors(res).vcov, np.float64)
    if not np.isfinite(vcov).all():
        raise ValueError("the fit has no finite parameter covariance (not at a minimum)")
    root = _root(vcov)
    means, covs = np.empty((m, d)), np.empty((m, d, d))
    todo = np.arange(m)
    for _ in range(50):  # a non-PD draw is rare: redraw those
        key, sub = jax.random.split(key)
        eps = np.asarray(jax.random.normal(sub, (todo.size, phi.size)), np.float64)
        draw = phi + eps @ root.T
        c = np.zeros((todo.size, d, d))
        c[:, rows, cols] = draw[:, d:]
        c[:, cols, rows] = draw[:, d:]
        ok = np.array([_is_pd(ci) for ci in c], bool)
        means[todo[ok]], covs[todo[ok]] = draw[ok, :d], c[ok]
        todo = todo[~ok]
        if todo.size == 0:
            return means, covs
    raise ValueError(
        "the fit's parameter uncertainty is too large to draw positive-definite covariances "
        "(too few rows for d); impute with draws=None (conditional means) or fit a "
        "structured model"
    )


def _is_pd(c: np.ndarray) -> bool:
    try:
        np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        return False
    return True


def _model_draws(res, key, m: int):
    from .inference._table import _cov_u, _default_information, _info_u, _model_parts

    obj, args, u = _model_parts(res)
    info = np.asarray(_info_u(obj, _default_information(res), u, args), np.float64)
    cov_u = _cov_u(info, ~np.asarray(res.at_bound))
    if not np.isfinite(cov_u).all():
        raise ValueError("the fit has no finite parameter covariance (not at a minimum)")
    eps = np.asarray(jax.random.normal(key, (m, u.shape[0])), np.float64)
    draws = np.asarray(u, np.float64) + eps @ _root(cov_u).T
    mean, cov = jax.vmap(lambda v: obj.moments(v, args))(jnp.asarray(draws, u.dtype))
    return np.asarray(mean, np.float64), np.asarray(cov, np.float64)


# ------------------------------------------------------------------------------ impute


def impute(res, x, *, draws: int | None = None, key=None) -> Any:
    """See :func:`mle_jax.missing.impute`."""
    if res.batch_shape:
        raise ValueError("impute takes one fit: pass res[k] for member k of a fit_many result")
    arr, single, frame, used = _rows(res, x)
    mean, cov = _moments(res)
    dtype = mean.dtype
    rows = jnp.asarray(arr, dtype)
    if draws is None:
        if key is not None:
            raise ValueError("key= is for multiple imputation: pass draws=m with it")
        zeros = jnp.zeros_like(rows)
        out = np.asarray(_impute_rows(mean, cov, rows, zeros), np.float64)[None]
    else:
        if isinstance(draws, bool) or not isinstance(draws, int | np.integer) or draws < 1:
            raise ValueError(
                f"draws must be an int >= 1 (the number of imputations), got {draws!r}"
            )
        key = _check_key(key, "key (needed with draws=)")
        k_par, k_noise = jax.random.split(key)
        means, covs = param_draws(res, k_par, int(draws))
        noise = jax.random.normal(k_noise, (int(draws), *rows.shape), dtype)
        out = _impute_draws(jnp.asarray(means, dtype), jnp.asarray(covs, dtype), rows, noise)
        out = np.asarray(out, np.float64)
    out = np.where(np.isnan(arr)[None], out, arr[None])  # observed entries exactly as given
    if frame is None:  # numpy in: the input's float dtype out (float64 for integers)
        kind = np.asarray(x).dtype
        out = out.astype(kind if np.issubdtype(kind, np.floating) else np.float64)
    results = [_restore(res, o, single, frame, used) for o in out]
    if draws is None:
        return results[0]
    return results if frame is not None else np.stack(results)


def _restore(res, out: np.ndarray, single: bool, frame, used):
    """One imputed ``(n, d)`` array back in the caller's shape and type."""
    if frame is not None:
        copy = frame.copy()
        for j, c in enumerate(used):
            copy[c] = out[:, j]  # a whole new (float64) column: the frame's own is untouched
        return copy
    if res.univariate:
        out = out[:, 0]
        return out[0] if single else out
    return out[0] if single else out
