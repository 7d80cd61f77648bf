"""Unconstrained parameters <-> (mean, Cholesky factor, covariance).

The covariance ``cov = chol @ chol.T`` is kept valid by optimising an unconstrained vector
that holds the lower triangle of ``chol`` row by row, with the *log* of the diagonal in place
of the diagonal itself.

Why ``exp`` for the diagonal, not ``softplus``:

* ``log det(cov) = 2 * sum(raw_diagonal)`` exactly: the log-determinant in the likelihood is
  linear in the parameters, with no ``log(softplus(.))`` round trip that loses precision
  for small scales.
* It is scale-equivariant: multiplying the data by ``c`` shifts the raw diagonal by ``log c``
  and changes nothing else, so the optimisation problem has the same shape at every scale.
  With ``softplus`` the gradient vanishes as a scale approaches zero (``softplus'(r) -> 0`` as
  ``r -> -inf``), which makes small variances (ill-conditioned covariances) slow to reach.
* Overflow of ``exp`` is no concern because the driver standardises the data first, so the
  raw diagonal stays near zero.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer

from ._types import ArrayLike

__all__ = [
    "MvnParams",
    "chol_from_raw",
    "raw_from_chol",
    "num_tril",
    "dim_from_num_tril",
]


def num_tril(d: int) -> int:
    """Number of entries of a ``(d, d)`` lower triangle: ``d * (d + 1) // 2``."""
    return d * (d + 1) // 2


def dim_from_num_tril(m: int) -> int:
    """Inverse of :func:`num_tril`; raises ``ValueError`` if ``m`` is not triangular."""
    d = int(round((np.sqrt(8 * m + 1) - 1) / 2))
    if num_tril(d) != m:
        raise ValueError(f"{m} is not a triangular number d*(d+1)/2")
    return d


def chol_from_raw(raw: ArrayLike) -> ArrayLike:
    """Map the unconstrained vector to a Cholesky factor.

    Args:
        raw: ``(d*(d+1)/2,)`` lower triangle, row-major, log-diagonal.

    Returns:
        ``(d, d)`` lower-triangular matrix with a strictly positive diagonal.
    """
    d = dim_from_num_tril(raw.shape[-1])
    rows, cols = np.tril_indices(d)
    on_diag = rows == cols
    if isinstance(raw, np.ndarray):  # host arrays (any leading axes): numpy, no dispatches
        chol = np.zeros((*raw.shape[:-1], d, d), raw.dtype)
        with np.errstate(over="ignore", invalid="ignore"):  # inf/nan as jnp gives them
            chol[..., rows, cols] = np.where(on_diag, np.exp(np.where(on_diag, raw, 0.0)), raw)
        return chol
    values = jnp.where(on_diag, jnp.exp(jnp.where(on_diag, raw, 0.0)), raw)
    return jnp.zeros((d, d), raw.dtype).at[rows, cols].set(values)


def raw_from_chol(chol: ArrayLike) -> ArrayLike:
    """Inverse of :func:`chol_from_raw`: ``(d, d)`` -> ``(d*(d+1)/2,)``."""
    d = chol.shape[-1]
    rows, cols = np.tril_indices(d)
    on_diag = rows == cols
    if isinstance(chol, np.ndarray):  # host arrays (any leading axes): numpy, no dispatches
        values = chol[..., rows, cols]
        with np.errstate(divide="ignore", invalid="ignore"):  # -inf/nan as jnp gives them
            return np.where(on_diag, np.log(np.where(on_diag, values, 1.0)), values)
    values = chol[rows, cols]
    return jnp.where(on_diag, jnp.log(jnp.where(on_diag, values, 1.0)), values)


class MvnParams(NamedTuple):
    """Unconstrained parameters of a Gaussian: a pytree that optax optimises.

    Attributes:
        mean: ``(d,)`` mean vector (already unconstrained).
        chol_raw: ``(d*(d+1)/2,)`` lower triangle of the Cholesky factor, row-major, with the
            log of the diagonal. Every real vector is a valid parameter.

    The univariate Gaussian is the case ``d = 1``: ``mean`` is ``(1,)`` and
    ``chol_raw = [log(std)]``.
    """

    mean: ArrayLike
    chol_raw: ArrayLike

    @property
    def chol(self) -> jax.Array:
        """``(d, d)`` Cholesky factor of the covariance."""
        return chol_from_raw(self.chol_raw)

    @property
    def cov(self) -> jax.Array:
        """``(d, d)`` covariance matrix ``chol @ chol.T``."""
        chol = self.chol
        return chol @ chol.T

    @classmethod
    def from_mean_chol(cls, mean, chol) -> MvnParams:
        """Build from a ``(d,)`` mean and a ``(d, d)`` lower Cholesky factor (positive diagonal)."""
        mean = jnp.atleast_1d(jnp.asarray(mean))
        chol = jnp.asarray(chol, dtype=mean.dtype)
        if chol.ndim == 0:
            chol = chol.reshape(1, 1)
        return cls(mean, raw_from_chol(chol))

    @classmethod
    def from_mean_cov(cls, mean, cov) -> MvnParams:
        """Build from a ``(d,)`` mean and a ``(d, d)`` covariance (scalars: a variance).

        Raises:
            ValueError: if the shapes disagree or ``cov`` is not symmetric positive definite
                (checked eagerly when the inputs are concrete).
        """
        mean = jnp.atleast_1d(jnp.asarray(mean))
        if not jnp.issubdtype(mean.dtype, jnp.floating):
            mean = mean.astype(jnp.result_type(float))
        cov = jnp.asarray(cov, dtype=mean.dtype)
        if cov.ndim == 0:
            cov = cov.reshape(1, 1)
        d = mean.shape[0]
        if mean.ndim != 1 or cov.shape != (d, d):
            raise ValueError(
                f"mean must have shape (d,) and cov (d, d); got {mean.shape} and {cov.shape}"
            )
        chol = jnp.linalg.cholesky(0.5 * (cov + cov.T))
        if not isinstance(chol, Tracer) and not bool(jnp.all(jnp.isfinite(chol))):
            raise ValueError("cov is not symmetric positive definite (Cholesky failed)")
        return cls(mean, raw_from_chol(chol))
