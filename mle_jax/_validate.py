"""Eager checks at the public boundary: clear errors before anything is traced.

The expensive checks are arranged to cost no extra pass over a large array: finiteness is
read off the column sums that the statistics compute anyway, and only when a sum is not
finite is the array searched to say where.
"""

from __future__ import annotations

import os
import sys
import warnings

import jax
import numpy as np
from jax.core import Tracer

__all__ = [
    "as_data",
    "check_weights",
    "raise_nonfinite",
    "check_enough_samples",
    "check_scatter",
    "column_label",
    "constant_columns",
    "x64_enabled",
    "MAX_STEPS_LIMIT",
    "check_tol",
    "check_max_steps",
    "check_optimizer",
    "check_columns",
    "check_dtype",
    "check_representable",
    "check_not_traced",
    "from_pandas",
    "is_pandas",
    "warn",
    "check_precision",
    "X64_HINT",
]

X64_HINT = 'enable x64 (jax.config.update("jax_enable_x64", True), or JAX_ENABLE_X64=1)'
# float32 rounding of values near the offset may add at most (1/4)^2 / 12 ~ 0.5% to a variance
_ROUNDING_LIMIT = 0.25


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` attributed to the first frame outside ``mle_jax``: the caller's line,
    whichever entry point (``fit``, ``fit_many``, ``missing.em``, inference) and however deep
    inside the library the warning is raised (Python 3.12's ``skip_file_prefixes``, by hand)."""
    frame, level = sys._getframe(1), 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def check_not_traced(where: str, **values) -> None:
    """Refuse traced arguments: a driver (``fit``, ``fit_many``, ``missing.em``) reads its data
    on the host and runs its own compiled loop, so it cannot run under ``jax.jit``/``vmap``/
    ``grad``; say so, and name the pure functions that can."""
    for name, value in values.items():
        leaves = jax.tree.leaves(value) if name == "init" else [value]
        if any(isinstance(a, Tracer) for a in leaves):
            raise TypeError(
                f"{where} was called with a traced {name} (inside jax.jit, jax.vmap, jax.grad "
                f"or another JAX transformation). {where} is a driver: it checks and reduces the "
                "data on the host and runs its own compiled loop, so call it outside the "
                "transformation (mj.fit_many fits a batch of data sets in one compiled call). "
                "To jit, vmap or differentiate a likelihood yourself, use the pure functions: "
                "mj.nll(params, x), mj.stats.suff_stats(x), mj.missing.fiml_nll, "
                "mj.likelihood.log_likelihood(x, mean, std)"
            )


# the loop keeps a (max_steps + 1,) loss history (and path) buffer of static size
MAX_STEPS_LIMIT = 10**7


def check_tol(tol) -> float | None:
    """``tol``: ``None`` (the dtype's default) or a finite number > 0."""
    if tol is None:
        return None
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.integer, np.floating)):
        if not (hasattr(tol, "shape") and np.shape(tol) == () and np.isrealobj(tol)):
            raise TypeError(f"tol must be a number > 0 (or None for the default), got {tol!r}")
    value = float(tol)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(
            f"tol must be a finite number > 0 (or None for the default), got {tol!r}: "
            "tol=inf or tol<=0 would report convergence at any point or never"
        )
    return value


def check_max_steps(max_steps) -> int:
    """``max_steps``: an integer in ``[1, MAX_STEPS_LIMIT]``."""
    if not isinstance(max_steps, (int, np.integer)) or isinstance(max_steps, bool):
        raise TypeError(f"max_steps must be a positive integer, got {max_steps!r}")
    if max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    if max_steps > MAX_STEPS_LIMIT:
        raise ValueError(
            f"max_steps must be at most {MAX_STEPS_LIMIT:.0e}, got {max_steps!r}: the compiled "
            "loop keeps a loss history of max_steps + 1 entries (a static buffer)"
        )
    return int(max_steps)


def check_optimizer(optimizer) -> None:
    """``optimizer``: ``None`` or an optax ``GradientTransformation`` (``init``/``update``)."""
    if optimizer is None:
        return
    if isinstance(optimizer, str):
        raise TypeError(
            f"optimizer must be an optax GradientTransformation, got the string {optimizer!r}; "
            "pass an optax transformation, e.g. optax.adam(1e-2)"
        )
    if not (
        callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None))
    ):
        raise TypeError(
            "optimizer must be an optax GradientTransformation (with init and update), got "
            f"{type(optimizer).__name__}; pass an optax transformation, e.g. optax.adam(1e-2)"
        )


def check_columns(columns, d: int | None = None) -> tuple | None:
    """``columns``: ``None`` or a sequence of ``d`` names (strings or numbers)."""
    if columns is None:
        return None
    if isinstance(columns, (str, bytes)) or not hasattr(columns, "__iter__"):
        raise TypeError(f"columns must be a list of column names, got {type(columns).__name__}")
    names = tuple(str(c) for c in columns)
    if d is not None and len(names) != d:
        raise ValueError(f"columns has {len(names)} name(s) but x has {d} column(s)")
    return names


def check_dtype(x, name: str = "x"):
    """Reject or convert dtypes the pipeline cannot compute in; return the (maybe cast) array.

    Masked arrays: error (fill them, or use NaN with ``missing=``). float16: upcast to float32
    (JAX's linear algebra has no float16, and its range overflows in the scatter). Extended
    precision (``longdouble``): downcast to float64 with a warning. Object, complex, bool:
    ``TypeError``.
    """
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(
            f"{name} is a numpy masked array; fill it (x.filled(...)) or, for missing values, "
            "pass a plain array with NaN where the values are missing"
        )
    dtype = np.dtype(x.dtype)
    if dtype.kind not in "fiu":
        raise TypeError(
            f"{name} must hold real numbers, got dtype {dtype}"
            + (" (complex data are not supported)" if dtype.kind == "c" else "")
        )
    if dtype.kind == "f" and dtype.itemsize < 4:
        return np.asarray(x, np.float32) if isinstance(x, np.ndarray) else x.astype(np.float32)
    if dtype.kind == "f" and dtype.itemsize > 8:
        warn(f"{name} has dtype {dtype}, which JAX does not support; it is computed in float64")
        return np.asarray(x, np.float64)
    return x


def is_pandas(x) -> bool:
    """``x`` is a pandas DataFrame or Series (pandas is not imported to find out)."""
    return type(x).__module__.split(".")[0] == "pandas" and hasattr(x, "to_numpy")


def from_pandas(x, name: str = "x"):
    """A pandas DataFrame or Series as a numpy array, and its column names (``None`` for a
    Series).

    Nullable columns (``Float64``, ``Int64``, ...; what ``df.convert_dtypes()`` gives) become
    floats with ``pd.NA`` as NaN, which ``missing=`` then handles as usual. A column that is
    not numeric (text, categorical, boolean, dates) is named in a ``TypeError`` with the fix.
    Plain numpy-backed numeric frames are converted as before (``df.to_numpy()``).
    """
    import pandas as pd

    frame = x.to_frame() if isinstance(x, pd.Series) else x
    dtypes = list(frame.dtypes.items())
    bad = [
        (c, dt)
        for c, dt in dtypes
        if not pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt)
    ]
    if bad:
        listed = ", ".join(f"{c!r} ({dt})" for c, dt in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise TypeError(
            f"{name} has {len(bad)} column(s) that are not numbers: {listed}{more}. mle_jax "
            "fits numeric columns: select them with df.select_dtypes('number'), or encode a "
            "categorical or text column as numbers first"
        )
    columns = None if isinstance(x, pd.Series) else [str(c) for c in frame.columns]
    if all(isinstance(dt, np.dtype) for _, dt in dtypes):
        return x.to_numpy(), columns
    kinds = [np.dtype(getattr(dt, "numpy_dtype", np.float64)) for _, dt in dtypes]
    dtype = np.result_type(*kinds, np.float32)  # floats: room for NaN where pd.NA was
    return x.to_numpy(dtype=dtype, na_value=np.nan), columns


def check_representable(stats, dtype, name: str = "x") -> None:
    """The data's mean and spread must be finite, non-zero numbers in the compute dtype."""
    info = np.finfo(np.dtype(dtype))
    mean = np.asarray(stats.mean, np.float64)
    count = np.asarray(stats.count, np.float64)
    var = np.diagonal(np.asarray(stats.scatter, np.float64), axis1=-2, axis2=-1) / np.maximum(
        count[..., None], 1e-300
    )
    big = max(float(np.max(np.abs(mean), initial=0.0)), float(np.sqrt(np.max(var, initial=0.0))))
    # the covariance (a square) must be representable too
    if big > np.sqrt(float(info.max)) / 4:
        raise ValueError(
            f"{name} has values of magnitude {big:.1e}, whose covariance overflows "
            f"{np.dtype(dtype)} (max {float(info.max):.1e}); rescale the data"
            + (" or enable x64 and use float64" if np.dtype(dtype) != np.float64 else "")
        )
    spread = np.sqrt(var[var > 0])
    small = float(np.min(spread, initial=np.inf))
    if small < 4 * np.sqrt(float(info.tiny)):
        raise ValueError(
            f"{name} has a column with standard deviation {small:.1e}, whose variance "
            f"underflows {np.dtype(dtype)} (smallest normal {float(info.tiny):.1e}); rescale "
            "the data" + (" or enable x64 and use float64" if np.dtype(dtype) != np.float64 else "")
        )


def check_precision(mean, var, dtype, name: str = "x", columns=None) -> None:
    """Refuse data whose values are held in float32 and whose spread the rounding swamps.

    ``mean`` and ``var`` ``(..., d)`` (any leading batch axes) are float64 moments of the
    values as held in ``dtype``. Where ``dtype`` is float32 and a column's float32 spacing at
    its offset exceeds a quarter of its standard deviation, rounding to float32 has changed
    its variance by more than ~0.5% (a uniform rounding error adds ``spacing^2 / 12``): say
    so, and how to keep the float64 values. A column that is exactly constant below ``2^24``
    is left to the constant-column check; float64 values have their own rule
    (:func:`check_scatter`).
    """
    if np.dtype(dtype) != np.float32:
        return
    mean = np.asarray(mean, np.float64)
    std = np.sqrt(np.maximum(np.asarray(var, np.float64), 0.0))
    spacing = np.spacing(np.abs(mean).astype(np.float32)).astype(np.float64)
    bad = (spacing > _ROUNDING_LIMIT * std) & ((std > 0) | (np.abs(mean) >= 2.0**24))
    if not bad.any():
        return
    j = tuple(int(i) for i in np.argwhere(bad)[0])
    member = "".join(f"[{i}]" for i in j[:-1])
    fix = "pass the float64 data" if x64_enabled() else f"{X64_HINT} and pass the float64 data"
    raise ValueError(
        f"{name}{member} column {column_label(columns)(j[-1])} cannot be represented in "
        f"float32: its values lie near {mean[j]:.7g}, where float32's spacing is "
        f"{spacing[j]:.2g}, against a standard deviation of {std[j]:.2g}, so rounding to "
        f"float32 swamps the spread (JAX computes in float32 unless x64 is enabled). To fit "
        f"it, {fix}, or subtract the offset first (x - x.mean(0)) and add it back to the mean"
    )


def x64_enabled() -> bool:
    return bool(jax.config.read("jax_enable_x64"))


def as_data(x, name: str = "x"):
    """Check ``x`` is a non-empty 1-D or 2-D real array; return ``(array, univariate)``.

    The array is not copied (and never mutated). Integers are accepted and later computed in
    the default float dtype. ``jax.Array`` inputs stay on their devices.
    """
    if isinstance(x, (list, tuple)):
        try:
            x = np.asarray(x)
        except ValueError:
            raise ValueError(f"{name} is a ragged list; pass an (n, d) array") from None
    if not hasattr(x, "dtype") or not hasattr(x, "shape"):
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    x = check_dtype(x, name)
    dtype = np.dtype(x.dtype)
    if x.ndim not in (1, 2):
        raise ValueError(
            f"{name} must be 1-D (n,) for a univariate or 2-D (n, d) for a multivariate "
            f"Gaussian, got shape {tuple(x.shape)}"
        )
    if x.shape[0] == 0 or (x.ndim == 2 and x.shape[1] == 0):
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)})")
    if dtype == np.float64 and not x64_enabled():
        warn(
            f"{name} is float64 but JAX's x64 mode is off, so it will be computed in float32; "
            "enable it with jax.config.update('jax_enable_x64', True) or JAX_ENABLE_X64=1"
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
    _check_weight_range(np.asarray(w, np.float64))
    return weights


def _check_weight_range(w: np.ndarray) -> None:
    """One weight so large that the others vanish beside it in float64 sums: the data would
    look like a single row (and be called constant); name the row instead."""
    i = int(np.argmax(w))
    rest = float(np.sum(np.delete(w, i)))
    eps = float(np.finfo(np.float64).eps)
    if 0 < rest <= eps * w[i]:
        others = int(np.count_nonzero(w > 0)) - 1
        raise ValueError(
            f"weights: row {i} has weight {w[i]:.1e}, and the other {others} row(s) with a "
            f"positive weight {rest:.1e} together, below float64's precision next to it "
            f"(ratio {rest / w[i]:.1e} < eps = {eps:.1e}): in the weighted sums they vanish, "
            "so the data would be that one row. Weights are frequency weights (how often each "
            "row counts); check them (a weight this large is usually a bug), or cap them so "
            "that the largest is at most ~1e12 times the others"
        )


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
    # a spread of a few ulps of the offset is rounding; a few hundred ulps is data
    return std <= 8 * eps * np.maximum(np.abs(mean), np.finfo(np.float64).tiny)


def constant_message(where: str, mean, j: int, remedy: str) -> str:
    """The message for a column whose variance is 0 in float64: constant, or so small that
    its squares underflow (values below ~1e-154 have a variance below the smallest normal;
    below ~1e-162 it rounds to 0) -- then say so, and how to rescale."""
    m = abs(float(np.asarray(mean, np.float64).reshape(-1)[j]))
    tiny = float(np.finfo(np.float64).tiny)
    if 0 < m < 4 * np.sqrt(tiny):
        power = -int(np.floor(np.log10(m)))
        return (
            f"{where} has variance 0 in float64, but its values are tiny (mean {m:.1e}): "
            f"their squares underflow float64 (smallest normal {tiny:.1e}), so the data may "
            f"vary below what float64 can square. Rescale it, e.g. x * 1e{power} (and scale "
            f"the answer back: mean / 1e{power}, cov / 1e{2 * power}); if it is constant, "
            f"{remedy}"
        )
    return f"{where} is constant (variance 0); {remedy}"


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
        if std[j] > 0:
            raise ValueError(
                f"{name} {what} {label(j)}: the data's spread (std {std[j]:.2e}) is below the "
                f"precision of its offset ({float(np.asarray(mean).reshape(-1)[j]):.6e}); "
                f"subtract the offset first, or {remedy}"
            )
        raise ValueError(constant_message(f"{name} {what} {label(j)}", mean, int(j), remedy))
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
