"""The checks of :func:`~mle_jax.fit` and :func:`~mle_jax.fit_many` that need more than one
argument: the options together, the collected statistics, the ridge against the data, what
every model needs of its data. Each raises a clear ``ValueError``/``TypeError`` naming the
argument and the fix, before anything is compiled."""

from __future__ import annotations

import dataclasses

import numpy as np

from . import _validate
from ._model import PRECONDITIONS, Gaussian
from ._models import Model
from ._statistics import MISSING, moments

__all__ = ["check_collected", "check_model_data", "check_options", "check_ridge"]


def check_options(
    model, max_steps, form, precondition, missing="raise", *, tol=None, optimizer=None, columns=None
) -> Gaussian | Model:
    """Check every option at the boundary (``_validate``): a clear error naming it."""
    _validate.check_tol(tol)
    _validate.check_optimizer(optimizer)
    _validate.check_columns(columns)
    if model is None:
        model = Gaussian()
    elif not isinstance(model, (Gaussian, Model)):
        raise TypeError(
            f"model must be a mle_jax.Gaussian (e.g. mj.Gaussian(covariance='diag')) or a "
            f"mle_jax.Model (e.g. mj.FactorAnalysis(2), mj.Structured(...)), got "
            f"{type(model).__name__}"
        )
    if isinstance(model, Model) and form != "stats":
        raise ValueError("a Model is fitted from statistics: use form='stats' (the default)")
    _validate.check_max_steps(max_steps)
    if form not in ("stats", "raw"):
        raise ValueError(f"form must be 'stats' or 'raw', got {form!r}")
    if precondition not in PRECONDITIONS:
        raise ValueError(f"precondition must be one of {PRECONDITIONS}, got {precondition!r}")
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {MISSING}, got {missing!r}")
    return model


def check_collected(data, columns=None, name: str = "x") -> None:
    """Checks that need the data's statistics: column names, the dtype's range."""
    _validate.check_columns(columns, data.stats.mean.shape[-1])
    _validate.check_representable(data.stats, data.dtype, name)


def check_ridge(model: Gaussian, data, name: str = "x", *, needed: bool = True) -> None:
    """A ridge must be a number of the compute dtype that changes the covariance: not past
    its largest variance (overflow: an inf covariance), not below its smallest normal
    (underflow: nothing added), and, where the data need it (constant or dependent columns),
    not below the dtype's precision of the data's largest variance (the covariance would stay
    numerically singular)."""
    ridge = model.ridge
    if not ridge:
        return
    dtype = np.dtype(data.dtype)
    info = np.finfo(dtype)
    x64 = "" if dtype == np.float64 else "; or enable x64 (jax_enable_x64) for float64"
    if ridge > float(info.max) / 16:
        raise ValueError(
            f"ridge={ridge:g} overflows {dtype} (largest {float(info.max):.1e}): the "
            f"covariance S/n + ridge*I and its square root cannot be represented; use a ridge "
            f"below {float(info.max) / 16:.1e} (a ridge far above the data's variances fits "
            f"nothing but the ridge){x64}"
        )
    if ridge < 16 * float(info.tiny):
        raise ValueError(
            f"ridge={ridge:g} underflows {dtype} (smallest normal {float(info.tiny):.1e}): it "
            f"would add nothing to the covariance (a variance of 0 stays 0); use a ridge of "
            f"at least {16 * float(info.tiny):.1e}, for example 1e-6 times the data's largest "
            f"variance{x64}"
        )
    if not needed:
        return
    try:
        dataclasses.replace(model, ridge=0.0).check_data(data.stats, data.columns, name)
    except ValueError as err:  # the data need the ridge: it must be large enough to count
        var = np.diagonal(np.atleast_2d(moments(data.stats)[1]), axis1=-2, axis2=-1)
        floor = 16 * float(info.eps) * float(np.max(var, initial=0.0))
        if ridge < floor:
            why = str(err).split(";")[0]
            raise ValueError(
                f"ridge={ridge:g} is too small to regularise {name} in {dtype}, which needs it "
                f"({why}): a ridge below {dtype}'s precision of the data's largest variance "
                f"({float(np.max(var)):.1e}) leaves the covariance numerically singular. Use "
                f"ridge >= {floor:.1e}, for example 1e-6 times the largest variance "
                f"({1e-6 * float(np.max(var)):.1e}){x64}"
            ) from None


def check_model_data(stats, columns, name: str = "x") -> None:
    """What every model needs of its data: rows, and every column observed (a model's own
    identification is checked on its information, before the loop)."""
    count = float(np.sum(stats.count))
    if count < 2:
        raise ValueError(f"{name} has {count:g} row(s); a model fit needs at least 2")
    label = _validate.column_label(columns)
    for j in np.flatnonzero(stats.observed_counts() <= 0):
        raise ValueError(f"{name} column {label(int(j))} is never observed (all NaN); drop it")
