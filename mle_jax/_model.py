"""The public model: which Gaussian is fitted (:class:`Gaussian`), the checks its data need,
and the coordinates the optimiser walks in (its standardiser)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from . import _validate
from ._bijections import num_tril
from ._objective import Spec, free_coordinates
from ._patterns import check_identified, check_spread
from ._standardise import Affine
from .priors import LKJHalfNormal, NormalInverseWishart

__all__ = ["COVARIANCES", "PRECONDITIONS", "Gaussian"]

COVARIANCES = ("full", "diag", "spherical")
PRECONDITIONS = ("whiten", "scale", "none")


def _frozen_array(a, what: str) -> np.ndarray:
    try:
        arr = np.array(a, np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be an array of real numbers") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be finite (it contains NaN or inf)")
    arr.setflags(write=False)
    return arr


def _array_key(a):
    return None if a is None else (a.shape, a.tobytes())


@dataclasses.dataclass(frozen=True, eq=False)
class Gaussian:
    """A Gaussian model to fit: frozen, validated on construction, hashable.

    Args:
        covariance: ``"full"`` (default), ``"diag"`` (independent columns) or
            ``"spherical"`` (one common variance).
        fix_mean: a known mean (``(d,)``; a scalar for 1-D data): only the covariance is fitted.
        fix_cov: a known symmetric positive-definite covariance: only the mean is fitted.
        prior: a log-density ``prior(mean, cov) -> ()`` (pure JAX) for a MAP fit, e.g.
            :class:`~mle_jax.priors.NormalInverseWishart`; the mode is taken in the
            coordinates the prior is written in, without a Jacobian (see
            :mod:`mle_jax.priors`).
        ridge: ``lam >= 0`` adds ``n * lam / 2 * tr(Sigma^{-1})`` to the NLL, whose exact
            minimiser is ``S/n + lam * I``; lets singular data fit.

    Raises:
        ValueError: unknown ``covariance``; non-finite fixed values; ``fix_cov`` not square,
            symmetric and positive definite; a negative or non-finite ``ridge``.
        TypeError: ``prior`` not callable.

    Examples:
        >>> import mle_jax as mj
        >>> mj.Gaussian(covariance="diag") == mj.Gaussian("diag")
        True
    """

    covariance: str = "full"
    fix_mean: Any = None
    fix_cov: Any = None
    prior: Callable | None = None
    ridge: float = 0.0

    def __post_init__(self):
        if self.covariance not in COVARIANCES:
            raise ValueError(f"covariance must be one of {COVARIANCES}, got {self.covariance!r}")
        if self.fix_mean is not None:
            object.__setattr__(self, "fix_mean", _frozen_array(self.fix_mean, "fix_mean"))
        if self.fix_cov is not None:
            c = _frozen_array(self.fix_cov, "fix_cov")
            _check_spd(c)
            object.__setattr__(self, "fix_cov", c)
        if self.prior is not None and not callable(self.prior):
            raise TypeError(
                f"prior must be a callable log_density(mean, cov), got {type(self.prior).__name__}"
            )
        try:
            ridge = float(self.ridge)
        except (TypeError, ValueError):
            raise TypeError(f"ridge must be a number >= 0, got {self.ridge!r}") from None
        if not (np.isfinite(ridge) and ridge >= 0):
            raise ValueError(f"ridge must be a finite number >= 0, got {self.ridge!r}")
        object.__setattr__(self, "ridge", ridge)

    def _key(self):
        fm, fc = _array_key(self.fix_mean), _array_key(self.fix_cov)
        return (self.covariance, fm, fc, self.prior, self.ridge)

    def __hash__(self) -> int:
        return hash(self._key())

    def __eq__(self, other) -> bool:
        return isinstance(other, Gaussian) and self._key() == other._key()

    def __repr__(self) -> str:
        parts = [f"covariance={self.covariance!r}"]
        if self.fix_mean is not None:
            parts.append(f"fix_mean={self.fix_mean.tolist()}")
        if self.fix_cov is not None:
            parts.append(f"fix_cov={self.fix_cov.tolist()}")
        if self.prior is not None:
            parts.append(f"prior={self.prior!r}")
        if self.ridge:
            parts.append(f"ridge={self.ridge}")
        return "Gaussian(" + ", ".join(parts) + ")"

    # -- what the model is ------------------------------------------------------------------
    def num_params(self, d: int) -> int:
        """Number of estimated parameters: free mean plus free covariance entries."""
        k_mean = 0 if self.fix_mean is not None else d
        if self.fix_cov is not None:
            return k_mean
        return k_mean + {"full": num_tril(d), "diag": d, "spherical": 1}[self.covariance]

    def free_coordinates(self, d: int):
        """The estimated entries of ``(mean, vech cov)`` and how they are tied
        (:func:`mle_jax._objective.free_coordinates`)."""
        return free_coordinates(
            self.covariance, self.fix_mean is not None, self.fix_cov is not None, d
        )

    def describe(self, d: int) -> str:
        """The model in words, as :func:`mle_jax.summary` prints it."""
        if self.fix_cov is not None:
            text = "fixed covariance"
        elif d == 1:
            text = "univariate"
        else:
            text = f"{self.covariance} covariance"
        return text + (", fixed mean" if self.fix_mean is not None else "")

    # -- the data it needs ------------------------------------------------------------------
    def check_data(self, stats, columns=None, name: str = "x") -> None:
        """The checks this model needs of host statistics (count, constant/dependent columns;
        for pattern statistics of incomplete data, that every variance and covariance is
        identified by the observed entries)."""
        if stats.incomplete:
            count = float(np.sum(stats.count))
            if count <= 0:
                raise ValueError(f"{name} has no rows with an observed entry")
            if self.ridge == 0 and self.prior is None:
                check_identified(stats, columns, name)
                if self.fix_cov is None:
                    check_spread(stats, columns, name)
            return
        count, d, ridge = float(stats.count), stats.mean.shape[-1], self.ridge
        if self.fix_cov is None and self.prior is None and self.covariance == "full":
            _validate.check_enough_samples(count, d, ridge, name=name)
            _validate.check_scatter(stats.mean, stats.scatter, stats.count, ridge, columns, name)
            return
        if count <= 0:
            raise ValueError(f"{name} has no samples")
        if self.fix_cov is not None or self.prior is not None or ridge > 0:
            return
        if count < 2:
            raise ValueError(f"{name} has {count:g} sample(s); a variance needs at least 2")
        const = _validate.constant_columns(stats.mean, stats.scatter, count)
        label = _validate.column_label(columns)
        if self.covariance == "diag" and np.any(const):
            j = int(np.flatnonzero(const)[0])
            raise ValueError(
                _validate.constant_message(
                    f"{name} column {label(j)}",
                    stats.mean,
                    j,
                    "a diagonal covariance needs every column to vary; drop it, or pass "
                    "ridge=... or a prior",
                )
            )
        if self.covariance == "spherical" and np.all(const):
            raise ValueError(f"{name} is constant (every variance is 0); pass ridge=... or a prior")

    def check_dim(self, d: int, univariate: bool) -> None:
        """The fixed values and a built-in prior must match the data's dimension."""
        want_mean, want_cov = ((), ()) if univariate else ((d,), (d, d))
        ok_mean = ((), (1,)) if univariate else ((d,),)
        if self.fix_mean is not None and self.fix_mean.shape not in ok_mean:
            raise ValueError(
                f"fix_mean must have shape {want_mean} to match x, got {self.fix_mean.shape}"
            )
        ok_cov = ((), (1,), (1, 1)) if univariate else ((d, d),)
        if self.fix_cov is not None and self.fix_cov.shape not in ok_cov:
            raise ValueError(
                f"fix_cov must have shape {want_cov} to match x, got {self.fix_cov.shape}"
            )
        dim = getattr(self.prior, "dim", None)
        if dim is not None and int(dim) != d:
            raise ValueError(f"the prior is for d = {int(dim)} but x has d = {d} column(s)")

    # -- how it is solved -------------------------------------------------------------------
    def standardiser(self, mean, cov, precondition: str = "whiten") -> Affine:
        """The :class:`Affine` map from the optimiser's coordinates to the user's, built from
        rough moments ``mean (..., d)``, ``cov (..., d, d)`` of the data (host float64).

        ``"whiten"`` (default): centre at the mean and whiten with the Cholesky factor of the
        covariance (plus ridge), which makes the Hessian at the optimum the same for every
        data set; only for a full covariance, which is closed under affine maps.
        ``"scale"`` (and diag/spherical models, whatever is asked): centre and divide each
        column by its standard deviation (one common scale for a spherical covariance).
        ``"none"``: the user's own coordinates.
        """
        mean = np.asarray(mean, np.float64)
        d = mean.shape[-1]
        if precondition == "none":
            return Affine.identity(d, mean.shape[:-1])
        cov = np.asarray(cov, np.float64) + self.ridge * np.eye(d)
        if precondition == "whiten" and self.covariance == "full":
            with np.errstate(all="ignore"):
                try:
                    return Affine.from_factor(mean, np.linalg.cholesky(cov))
                except np.linalg.LinAlgError:
                    pass  # singular (allowed with a prior or a fixed covariance): scale
        var = cov.diagonal(axis1=-2, axis2=-1)
        if self.covariance == "spherical" and self.fix_cov is None:
            var = np.broadcast_to(var.mean(-1, keepdims=True), var.shape)
        ok = var > 1e-300
        return Affine.from_factor(mean, np.where(ok, np.sqrt(np.where(ok, var, 1.0)), 1.0))

    def spec(self, affine: Affine, *, univariate: bool, dtype) -> Spec:
        """Lower the model to its traced :class:`Spec` for data standardised by ``affine``."""
        d = affine.shift.shape[-1]
        cast = lambda a: np.asarray(a, dtype)  # noqa: E731  (host arrays: jit transfers them)
        mean0 = chol0 = None
        if self.fix_mean is not None:
            m = np.broadcast_to(self.fix_mean.reshape(d), affine.shift.shape)
            mean0 = cast(affine.to_std(m, np.eye(d))[0])
        if self.fix_cov is not None:
            chol0 = cast(np.linalg.cholesky(affine.cov_to_std(self.fix_cov.reshape(d, d))))
        builtin = isinstance(self.prior, (NormalInverseWishart, LKJHalfNormal))
        return Spec(
            covariance="full" if d == 1 else self.covariance,  # one model in 1-D: one compile
            fix_mean=self.fix_mean is not None,
            fix_cov=self.fix_cov is not None,
            univariate=univariate,
            prior_fn=None if (self.prior is None or builtin) else self.prior,
            profile=False,
            affine=jax.tree.map(cast, affine),
            mean0=mean0,
            chol0=chol0,
            prior_data=jax.tree.map(cast, self.prior) if builtin else None,
        )


def _check_spd(c: np.ndarray) -> None:
    if c.ndim == 0:
        if c <= 0:
            raise ValueError(f"fix_cov (a variance) must be > 0, got {float(c)}")
        return
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"fix_cov must be a square (d, d) matrix, got shape {c.shape}")
    if not np.allclose(c, c.T, rtol=1e-10, atol=1e-12 * max(1.0, float(np.abs(c).max()))):
        raise ValueError("fix_cov must be symmetric")
    if np.any(~np.isfinite(np.linalg.eigvalsh(c))) or np.linalg.eigvalsh(c)[0] <= 0:
        raise ValueError("fix_cov is not positive definite (an eigenvalue is <= 0)")
