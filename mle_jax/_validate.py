"""Eager checks at the public boundary: clear errors before anything is traced.

The expensive checks are arranged to cost no extra pass over a large array: finiteness is
read off the column sums that the statistics compute anyway, and only when a sum is not
finite is the array searched to say where.
"""

from __future__ import annotations

import warnings

import jax
import numpy as np

__all__ = [
    "as_data",
    "check_weights",
    "raise_nonfinite",
    "check_enough_samples",
    "check_scatter",
    "column_label",
    "constant_columns",
    "x64_enabled",
]


def x64_enabled() -> bool:
    return bool(jax.config.read("jax_enable_x64"))


def as_data(x, name: str = "x"):
    """Check ``x`` is a non-empty 1-D or 2-D real array; return ``(array, univariate)``.

    The array is not copied (and never mutated). Integers are accepted and later computed in
    the default float dtype. ``jax.Array`` inputs stay on their devices.
    """
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)
    if not hasattr(x, "dtype") or not hasattr(x, "shape"):
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    dtype = np.dtype(x.dtype)
    if dtype.kind not in "fiu":
        raise TypeError(
            f"{name} must hold real numbers, got dtype {dtype}"
            + (" (complex data are not supported)" if dtype.kind == "c" else "")
        )
    if x.ndim not in (1, 2):
        raise ValueError(
            f"{name} must be 1-D (n,) for a univariate or 2-D (n, d) for a multivariate "
            f"Gaussian, got shape {tuple(x.shape)}"
        )
    if x.shape[0] == 0 or (x.ndim == 2 and x.shape[1] == 0):
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)})")
    if dtype == np.float64 and not x64_enabled():
        warnings.warn(
            f"{name} is float64 but JAX's x64 mode is off, so it will be computed in float32; "
            "enable it with jax.config.update('jax_enable_x64', True) or JAX_ENABLE_X64=1",
            UserWarning,
            stacklevel=3,
        )
    return x, x.ndim == 1


def raise_nonfinite(x, name: str = "x") -> None:
    """Raise a ``ValueError`` that says how many entries of ``x`` are NaN/inf and where."""
    x = np.asarray(x)
    bad = ~np.isfinite(x)
    nan, inf = int(np.isnan(x).sum()), int(np.isinf(x).sum())
    where = np.argwhere(bad)[:5]
    if x.ndim == 1:
        places = ", ".join(f"[{int(i)}]" for (i,) in where)
    else:
        places = ", ".join(f"[{int(i)}, {int(j)}]" for i, j in where)
    raise ValueError(
        f"{name} contains {nan + inf} non-finite value(s) ({nan} NaN, {inf} inf), first at "
        f"{places}; "
        + (
            "NaN marks a missing entry: pass missing='fiml' to fit the observed-data "
            "likelihood, or missing='drop' for the complete rows only (which biases the "
            "estimate unless values are missing completely at random)"
            if inf == 0
            else "inf is not a number mle_jax can fit: fix or remove those entries"
        )
    )


def check_weights(weights, n: int):
    """Check frequency weights: ``(n,)``, finite, non-negative, not all zero."""
    w = np.asarray(weights)
    if w.dtype.kind not in "fiub":
        raise TypeError(f"weights must be real numbers, got dtype {w.dtype}")
    if w.shape != (n,):
        raise ValueError(f"weights must have shape ({n},) to match x, got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"weights contain {int((~np.isfinite(w)).sum())} non-finite value(s)")
    if np.any(w < 0):
        raise ValueError(f"weights must be non-negative; {int((w < 0).sum())} are negative")
    if not np.any(w > 0):
        raise ValueError("weights are all zero: there is no data to fit")
    return weights


def check_enough_samples(count: float, d: int, ridge: float, name: str = "x") -> None:
    """A full covariance needs more samples than dimensions (unless regularised)."""
    if ridge > 0:
        if count < 1:
            raise ValueError(f"{name} has no samples")
        return
    if d == 1 and count < 2:
        raise ValueError(f"{name} has {count:g} sample(s); a variance needs at least 2")
    if d > 1 and count <= d:
        raise ValueError(
            f"{name} has {count:g} samples for d = {d}: a full covariance needs n > d; "
            "collect more data or pass ridge=... to regularise"
        )


def column_label(columns=None):
    """``j -> 'name'`` when column names are known, else ``j -> 'j'``: for messages."""
    return (lambda j: repr(columns[j])) if columns is not None else (lambda j: str(j))


def constant_columns(mean, scatter, count) -> np.ndarray:
    """``(d,)`` bool: columns whose spread is at the rounding level of their magnitude."""
    mean = np.asarray(mean, np.float64)
    std = np.sqrt(np.maximum(np.diagonal(np.asarray(scatter, np.float64)) / count, 0.0))
    eps = np.finfo(np.float64).eps
    return std <= 1e3 * eps * np.maximum(np.abs(mean), np.finfo(np.float64).tiny)


def check_scatter(mean, scatter, count, ridge: float, columns=None, name: str = "x") -> None:
    """Name constant, duplicated or linearly dependent columns (unless ``ridge > 0``).

    Args:
        mean: ``(d,)`` sample mean (host array).
        scatter: ``(d, d)`` centred scatter (host array).
        count: number of samples.
        ridge: the regularisation the user asked for; ``> 0`` skips these checks.
        columns: optional column names for the messages.
    """
    if ridge > 0:
        return
    scatter = np.asarray(scatter, np.float64)
    d = scatter.shape[0]
    label = column_label(columns)
    remedy = "drop it, or pass ridge=... to regularise"
    std = np.sqrt(np.maximum(np.diagonal(scatter) / count, 0.0))
    for j in np.flatnonzero(constant_columns(mean, scatter, count)):
        what = "column" if d > 1 else "data"
        raise ValueError(f"{name} {what} {label(j)} is constant (variance 0); {remedy}")
    if d == 1:
        return
    corr = scatter / np.outer(std, std) / count
    tol = 1e4 * np.finfo(np.float64).eps
    for i in range(d):
        for j in range(i + 1, d):
            if abs(corr[i, j]) >= 1 - tol:
                raise ValueError(
                    f"{name} columns {label(i)} and {label(j)} are perfectly correlated "
                    f"(duplicates up to scale and shift); drop one of them, or pass ridge=... "
                    "to regularise"
                )
    eig = np.linalg.eigvalsh(corr)
    if eig[0] <= d * tol:
        raise ValueError(
            f"{name} columns are linearly dependent (smallest eigenvalue of the correlation "
            f"matrix {eig[0]:.2e}): the covariance is singular; drop a dependent column, or "
            "pass ridge=... to regularise"
        )
