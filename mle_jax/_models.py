"""Model options of a fit: covariance structure, fixed mean or covariance, a prior, a profile.

A :class:`ModelSpec` travels inside the standardised ``Problem`` (its ``model`` field) and
is a pytree whose *static* part (structure, which parts are fixed, the prior function, the
profiled parameter kind) is part of the jit cache key, while its arrays (the
standardisation, fixed values, prior hyper-parameters, profiled value) are traced. When
``Problem.model is None`` none of this is traced: the default full fit is untouched.

The optimiser sees :class:`FreeParams`:

* ``covariance="full"``: ``scale_raw`` is the log-diagonal Cholesky vector of
  :class:`~mle_jax.MvnParams` (``d(d+1)/2``);
* ``"diag"``: ``scale_raw`` is the ``(d,)`` vector of log standard deviations;
* ``"spherical"``: ``scale_raw`` is ``(1,)``: the log of the common standard deviation;
* a fixed mean or covariance contributes a zero-size array.

Spherical fits standardise every column by one common scale (the root mean variance), since
per-column scales would not keep a spherical covariance spherical.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _validate
from ._bijections import MvnParams, chol_from_raw, num_tril, raw_from_chol
from ._nll import mean_nll
from ._priors import LKJHalfNormal, NormalInverseWishart

__all__ = ["COVARIANCES", "FitOptions", "FreeParams", "ModelSpec"]

COVARIANCES = ("full", "diag", "spherical")


class FreeParams(NamedTuple):
    """What the optimiser moves under a :class:`ModelSpec` (standardised units)."""

    mean: jax.Array
    scale_raw: jax.Array


class FitOptions:
    """The model options of a fit in the user's units, kept on ``FitResult.options``.

    A pytree with no leaves, so ``jax.tree.map`` over a result passes it through untouched.

    Attributes:
        covariance: ``"full"``, ``"diag"`` or ``"spherical"``.
        fix_mean: the fixed mean (host float64, user units) or ``None``.
        fix_cov: the fixed covariance or ``None``.
        prior: the prior callable or ``None``.
        ridge: the ridge of the fit.
    """

    def __init__(self, covariance="full", fix_mean=None, fix_cov=None, prior=None, ridge=0.0):
        self.covariance = covariance
        self.fix_mean = fix_mean
        self.fix_cov = fix_cov
        self.prior = prior
        self.ridge = float(ridge)

    @property
    def is_default(self) -> bool:
        return (
            self.covariance == "full"
            and self.fix_mean is None
            and self.fix_cov is None
            and self.prior is None
        )

    def __repr__(self) -> str:
        parts = [f"covariance={self.covariance!r}"]
        if self.fix_mean is not None:
            parts.append(f"fix_mean={np.asarray(self.fix_mean).tolist()}")
        if self.fix_cov is not None:
            parts.append(f"fix_cov={np.asarray(self.fix_cov).tolist()}")
        if self.prior is not None:
            parts.append(f"prior={self.prior!r}")
        if self.ridge:
            parts.append(f"ridge={self.ridge}")
        return "FitOptions(" + ", ".join(parts) + ")"


jax.tree_util.register_pytree_node(FitOptions, lambda o: ((), o), lambda aux, _: aux)


@jax.tree_util.register_pytree_node_class
class ModelSpec:
    """Static description plus traced arrays of a model (see the module docstring).

    Static: ``covariance``, ``fix_mean``/``fix_cov`` (bools), ``univariate``, ``prior_fn``
    (a user callable, hashed by identity, or ``None``), ``profile`` (``True`` when one
    scalar parameter is held fixed for a profile likelihood). Traced: ``shift``/``scale``
    ``(d,)`` (standardisation), ``mean0`` ``(d,)`` and ``chol0`` ``(d, d)`` (fixed values,
    standardised), ``prior_data`` (a built-in prior, a pytree), ``profile_kind`` (0: a mean,
    1: a variance), ``profile_index`` and ``profile_value`` (standardised): one compiled loop
    serves every profiled parameter.
    """

    _STATIC = ("covariance", "fix_mean", "fix_cov", "univariate", "prior_fn", "profile")
    _ARRAYS = (
        "shift",
        "scale",
        "mean0",
        "chol0",
        "prior_data",
        "profile_kind",
        "profile_index",
        "profile_value",
    )

    def __init__(self, **kw):
        for name in self._STATIC + self._ARRAYS:
            setattr(self, name, kw.get(name))

    def replace(self, **kw) -> ModelSpec:
        new = {n: getattr(self, n) for n in self._STATIC + self._ARRAYS}
        new.update(kw)
        return ModelSpec(**new)

    def tree_flatten(self):
        return (
            tuple(getattr(self, n) for n in self._ARRAYS),
            tuple(getattr(self, n) for n in self._STATIC),
        )

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(
            **dict(zip(cls._STATIC, aux, strict=False)),
            **dict(zip(cls._ARRAYS, children, strict=False)),
        )

    @property
    def has_prior(self) -> bool:
        return self.prior_fn is not None or self.prior_data is not None

    def num_scale(self, d: int) -> int:
        if self.fix_cov:
            return 0
        return {"full": num_tril(d), "diag": d, "spherical": 1}[self.covariance]


# ----------------------------------------------------------------------------- pure maps


def mean_chol(model: ModelSpec, free: FreeParams):
    """Free parameters -> standardised ``(mean (d,), chol (d, d))`` (pure, jit-able)."""
    mean = model.mean0 if model.fix_mean else free.mean
    d = mean.shape[-1]
    if model.fix_cov:
        chol = model.chol0
    elif model.covariance == "full":
        chol = chol_from_raw(free.scale_raw)
    elif model.covariance == "diag":
        chol = jnp.diag(jnp.exp(free.scale_raw))
    else:
        chol = jnp.exp(free.scale_raw[0]) * jnp.eye(d, dtype=free.scale_raw.dtype)
    if model.profile:  # one scalar held at profile_value: kind 0 a mean, 1 a variance
        i, value = model.profile_index, model.profile_value
        is_var = model.profile_kind == 1
        if not model.fix_mean:
            mean = jnp.where(is_var, mean, mean.at[i].set(value))
        if not model.fix_cov:
            root = jnp.sqrt(jnp.where(is_var, value, 1.0))  # no NaN in the unused branch
            if model.covariance == "full":
                row = chol[i]
                held = chol.at[i].set(row * (root / jnp.sqrt(jnp.sum(row * row))))
            elif model.covariance == "diag":
                held = chol.at[i, i].set(root)
            else:
                held = root * jnp.eye(d, dtype=chol.dtype)
            chol = jnp.where(is_var, held, chol)
    return mean, chol


def to_mvn(model: ModelSpec, free: FreeParams) -> MvnParams:
    """Free parameters -> full standardised :class:`MvnParams`."""
    mean, chol = mean_chol(model, free)
    return MvnParams(mean, raw_from_chol(chol))


def user_mean_cov(model: ModelSpec, mean, chol):
    """Standardised ``(mean, chol)`` -> user-unit ``(mean, cov)`` (scalars if univariate)."""
    mean_u = model.shift + model.scale * mean
    cov = chol @ chol.T
    cov_u = cov * (model.scale[:, None] * model.scale[None, :])
    if model.univariate:
        return mean_u[0], cov_u[0, 0]
    return mean_u, cov_u


def log_prior(model: ModelSpec, mean, chol) -> jax.Array:
    """The prior's log-density at the user-unit point of a standardised ``(mean, chol)``."""
    prior = model.prior_data if model.prior_data is not None else model.prior_fn
    return prior(*user_mean_cov(model, mean, chol))


def objective(free: FreeParams, problem) -> jax.Array:
    """Mean NLL per sample (+ ridge penalty, - log prior / count) of a standardised problem."""
    model = problem.model
    mean, chol = mean_chol(model, free)
    p = problem
    value = mean_nll(mean, chol, p.stats, p.x, p.weights, p.ridge)
    if model.has_prior:
        value = value - log_prior(model, mean, chol) / p.stats.count
    return value


def free_from_mean_cov(model: ModelSpec, mean, cov) -> FreeParams:
    """Standardised ``(mean (d,), cov (d, d))`` -> :class:`FreeParams` of ``model``."""
    mean = jnp.asarray(mean)
    cov = jnp.asarray(cov)
    dtype = mean.dtype
    free_mean = jnp.zeros((0,), dtype) if model.fix_mean else mean
    if model.fix_cov:
        raw = jnp.zeros((0,), dtype)
    elif model.covariance == "full":
        raw = raw_from_chol(jnp.linalg.cholesky(cov))
    elif model.covariance == "diag":
        raw = 0.5 * jnp.log(jnp.diagonal(cov))
    else:
        raw = 0.5 * jnp.log(jnp.mean(jnp.diagonal(cov)))[None]
    return FreeParams(free_mean, raw.astype(dtype))


# ----------------------------------------------------------------------------- host side


def _as_float64(a, what: str) -> np.ndarray:
    try:
        arr = np.array(a, np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be an array of real numbers") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be finite (it contains NaN or inf)")
    return arr


def _check_fix_cov(c: np.ndarray) -> None:
    if c.ndim == 0:
        if c <= 0:
            raise ValueError(f"fix_cov (a variance) must be > 0, got {float(c)}")
        return
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"fix_cov must be a square (d, d) matrix, got shape {c.shape}")
    if not np.allclose(c, c.T, rtol=1e-10, atol=1e-12 * max(1.0, float(np.abs(c).max()))):
        raise ValueError("fix_cov must be symmetric")
    try:
        np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        raise ValueError(
            "fix_cov is not positive definite (its Cholesky factorisation failed)"
        ) from None


def make_options(
    covariance="full", fix_mean=None, fix_cov=None, prior=None, ridge=0.0
) -> FitOptions:
    """Check the model options that do not depend on the data; return a :class:`FitOptions`.

    Raises:
        ValueError: unknown ``covariance``; non-finite ``fix_mean``; ``fix_cov`` not square,
            not symmetric or not positive definite.
        TypeError: ``prior`` not callable.
    """
    if covariance not in COVARIANCES:
        raise ValueError(f"covariance must be one of {COVARIANCES}, got {covariance!r}")
    m = None if fix_mean is None else _as_float64(fix_mean, "fix_mean")
    c = None
    if fix_cov is not None:
        c = _as_float64(fix_cov, "fix_cov")
        _check_fix_cov(c)
    if prior is not None and not callable(prior):
        raise TypeError(
            f"prior must be a callable log_density(mean, cov), got {type(prior).__name__}"
        )
    return FitOptions(covariance, m, c, prior, ridge)


def checks_for(options: FitOptions) -> str:
    """Which data checks a model needs: ``"full"`` (those of the default fit), ``"diag"``,
    ``"spherical"`` or ``"none"`` (a fixed covariance or a prior: any data with a sample)."""
    if options.fix_cov is not None or options.prior is not None:
        return "none"
    return options.covariance


def check_data(checks: str, stats, ridge: float, columns=None, name: str = "x") -> None:
    """The data checks a model needs (see :func:`checks_for`)."""
    count = float(stats.count)
    d = stats.mean.shape[-1]
    if checks == "full":
        _validate.check_enough_samples(count, d, ridge)
        _validate.check_scatter(stats.mean, stats.scatter, stats.count, ridge, columns)
        return
    if count <= 0:
        raise ValueError(f"{name} has no samples")
    if checks == "none" or ridge > 0:
        return
    if count < 2:
        raise ValueError(f"{name} has {count:g} sample(s); a variance needs at least 2")
    const = _validate.constant_columns(stats.mean, stats.scatter, count)
    label = _validate.column_label(columns)
    if checks == "diag" and np.any(const):
        j = int(np.flatnonzero(const)[0])
        raise ValueError(
            f"{name} column {label(j)} is constant (variance 0): a diagonal covariance "
            "needs every column to vary; drop it, or pass ridge=... or a prior"
        )
    if checks == "spherical" and np.all(const):
        raise ValueError(f"{name} is constant (every variance is 0); pass ridge=... or a prior")


def prepare(
    stats, options: FitOptions, *, univariate: bool, dtype, x=None, weights=None, columns=None
):
    """The model path of ``_prepare.prepare``: checks, per-column scaling, :class:`ModelSpec`.

    Args:
        stats: host float64 :class:`SuffStats` of the data in user units.
        options: checked :class:`FitOptions`.
        univariate: the data were 1-D.
        dtype: compute dtype.
        x, weights: ``(n, d)`` data and ``(n,)`` weights on the device for ``form="raw"``.

    Returns:
        ``_prepare.Prepared`` whose ``problem.model`` is the :class:`ModelSpec` and whose
        ``transform`` is diagonal (columns centred at their means and divided by their
        standard deviations, or by one common scale for a spherical covariance).
    """
    from ._prepare import prepare_stats  # _prepare imports this module

    ridge = float(options.ridge)
    d = stats.mean.shape[-1]
    check_data(checks_for(options), stats, ridge, columns)
    m = c = None
    if options.fix_mean is not None:
        m = options.fix_mean
        if m.shape != ((d,) if not univariate else ()) and not (univariate and m.shape == (1,)):
            raise ValueError(
                f"fix_mean must have shape {() if univariate else (d,)} to match x, got {m.shape}"
            )
        m = m.reshape(d)
    if options.fix_cov is not None:
        c = options.fix_cov
        want = () if univariate else (d, d)
        if c.shape != want and not (univariate and c.shape in ((1,), (1, 1))):
            raise ValueError(f"fix_cov must have shape {want} to match x, got {c.shape}")
        c = c.reshape(d, d)
    prior = options.prior
    if prior is not None:
        dim = getattr(prior, "dim", None)
        if dim is not None and int(dim) != d:
            raise ValueError(f"the prior is for d = {int(dim)} but x has d = {d} column(s)")

    count = float(stats.count)
    shift = np.asarray(stats.mean, np.float64)
    var = np.diagonal(np.asarray(stats.scatter, np.float64)) / count + ridge
    if options.covariance == "spherical" and c is None:
        var = np.full(d, np.mean(var))
    positive = var > 1e-300
    scale = np.where(positive, np.sqrt(np.where(positive, var, 1.0)), 1.0)
    inv = 1.0 / scale
    builtin = isinstance(prior, (NormalInverseWishart, LKJHalfNormal))
    spec = ModelSpec(
        covariance="full" if d == 1 else options.covariance,  # one model in 1-D: one compile
        fix_mean=m is not None,
        fix_cov=c is not None,
        univariate=univariate,
        prior_fn=None if (prior is None or builtin) else prior,
        profile=None,
        shift=jnp.asarray(shift, dtype),
        scale=jnp.asarray(scale, dtype),
        mean0=None if m is None else jnp.asarray((m - shift) * inv, dtype),
        chol0=None if c is None else jnp.asarray(np.linalg.cholesky(c * np.outer(inv, inv)), dtype),
        prior_data=jax.tree.map(lambda a: jnp.asarray(a, dtype), prior) if builtin else None,
        profile_kind=None,
        profile_index=None,
        profile_value=None,
    )
    prep = prepare_stats(
        stats, ridge=ridge, univariate=univariate, dtype=dtype, x=x, weights=weights, scale=scale
    )
    return prep._replace(problem=prep.problem._replace(model=spec))


def check_prior_value(spec: ModelSpec, free: FreeParams) -> None:
    """Evaluate the prior once at the starting point: a scalar, finite log-density."""
    if not spec.has_prior:
        return
    mean, chol = mean_chol(spec, free)
    try:
        value = jnp.asarray(log_prior(spec, mean, chol))
    except Exception as err:  # a user function may fail in any way: say so
        raise ValueError(f"evaluating the prior failed with {type(err).__name__}: {err}") from err
    if value.shape != ():
        raise ValueError(f"the prior must return a scalar log-density, got shape {value.shape}")
    if not bool(jnp.isfinite(value)):
        raise ValueError(
            "the prior's log-density is not finite at the starting point; pass an init= "
            "inside its support"
        )


def init_free(spec: ModelSpec, init_std: MvnParams) -> FreeParams:
    """Standardised full starting parameters -> :class:`FreeParams` of ``spec`` (the fixed
    parts are dropped); checks the prior there."""
    chol = chol_from_raw(init_std.chol_raw)
    diag = jnp.diagonal(chol)
    if not bool(jnp.all(jnp.isfinite(chol)) & jnp.all(diag > 0)):
        # e.g. the default start for a constant column (allowed with a prior or fix_cov)
        chol = jnp.eye(chol.shape[0], dtype=chol.dtype)
    free = free_from_mean_cov(spec, init_std.mean, chol @ chol.T)
    check_prior_value(spec, free)
    return free
