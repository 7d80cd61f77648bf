"""The one map between the user's units and the optimiser's: an affine standardiser.

The optimiser sees ``z = A^{-1} (x - shift)`` for a lower-triangular ``A``. The Gaussian
family is closed under affine maps, so a Gaussian ``N(mu, L L^T)`` of ``x`` is
``N(A^{-1}(mu - shift), (A^{-1} L)(A^{-1} L)^T)`` of ``z``, and the NLLs differ by a constant:

.. math::

    \\mathrm{NLL}_x(\\mu, \\Sigma) = \\mathrm{NLL}_z(\\mu_z, \\Sigma_z) + N \\log|\\det A|.

Every conversion of data, statistics, parameters or NLLs between the two goes through
:class:`Affine`; nothing else in mle_jax converts units. The methods are written with
matrix products only, so they run on numpy arrays (host, float64, any leading batch axes)
and on JAX arrays inside ``jit`` alike.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._patterns import PatternStats
from .stats import SuffStats

__all__ = ["Affine"]


def _swap(a):
    return a.swapaxes(-1, -2)


def _matvec(m, v):
    return (m @ v[..., None])[..., 0]


class Affine(NamedTuple):
    """``x = shift + A z``: an affine map with a lower-triangular ``A`` (a pytree).

    Attributes:
        shift: ``(..., d)``.
        factor: ``(..., d, d)`` lower-triangular ``A`` with a positive diagonal.
        inverse: ``(..., d, d)`` ``A^{-1}``, computed once by :meth:`from_factor`.
    """

    shift: np.ndarray
    factor: np.ndarray
    inverse: np.ndarray

    @classmethod
    def from_factor(cls, shift, factor) -> Affine:
        """Build from a ``(..., d)`` shift and a ``(..., d, d)`` (or ``(..., d)`` diagonal)
        lower-triangular factor; host float64."""
        shift = np.asarray(shift, np.float64)
        factor = np.asarray(factor, np.float64)
        if factor.ndim == shift.ndim:  # the diagonal of A
            factor = factor[..., None] * np.eye(shift.shape[-1])
        return cls(shift, factor, np.linalg.inv(factor))

    @classmethod
    def identity(cls, d: int, batch: tuple = ()) -> Affine:
        """The map that changes nothing (``precondition="none"``)."""
        eye = np.broadcast_to(np.eye(d), (*batch, d, d)).copy()
        return cls(np.zeros((*batch, d)), eye, eye.copy())

    def nll_offset(self, counts):
        """``sum_j counts_j log A_jj``: what the map adds to a total NLL, for ``(..., d)``
        observed values per column (every column ``n`` times for complete data:
        ``n log|det A|``)."""
        diag = self.factor.diagonal(axis1=-2, axis2=-1)
        return np.sum(counts * np.log(diag), axis=-1)

    # -- parameters -------------------------------------------------------------------------
    def to_std(self, mean, chol):
        """User-unit ``(mean (..., d), chol (..., d, d))`` -> standardised."""
        return _matvec(self.inverse, mean - self.shift), self.inverse @ chol

    def from_std(self, mean, chol):
        """Standardised ``(mean, chol)`` -> user-unit ``(mean, chol)`` (``chol`` stays lower
        triangular: a product of lower-triangular factors)."""
        return self.shift + _matvec(self.factor, mean), self.factor @ chol

    def mean_to_std(self, mean):
        """User-unit mean ``(..., d)`` -> standardised ``A^{-1} (mean - shift)``."""
        return _matvec(self.inverse, mean - self.shift)

    def cov_to_std(self, cov):
        """User-unit covariance ``(..., d, d)`` -> standardised ``A^{-1} cov A^{-T}``."""
        return self.inverse @ cov @ _swap(self.inverse)

    # -- data and statistics ----------------------------------------------------------------
    def stats_to_std(self, stats: SuffStats) -> SuffStats:
        """Sufficient statistics of ``x`` -> those of ``A^{-1}(x - shift)`` (exact)."""
        return SuffStats(stats.count, self.mean_to_std(stats.mean), self.cov_to_std(stats.scatter))

    def patterns_to_std(self, ps: PatternStats) -> PatternStats:
        """Pattern statistics of ``x`` -> those of ``A^{-1}(x - shift)``, for a *diagonal*
        ``A`` only (an observed sub-vector of a mixing map would need the missing entries);
        host numpy, any leading batch axes."""
        inv = np.diagonal(self.inverse, axis1=-2, axis2=-1)[..., None, :]
        mask = np.asarray(ps.mask)
        mean = (ps.mean - self.shift[..., None, :]) * inv * mask
        scatter = ps.scatter * inv[..., :, None] * inv[..., None, :]
        return PatternStats(mask, ps.count, mean, scatter)
