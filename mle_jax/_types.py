"""Small result types shared across modules."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

__all__ = ["HIGHEST", "ArrayLike", "ConvergenceWarning", "Estimate", "Status"]

# a jax.Array, or a numpy array where the host holds it (float64 statistics, results)
ArrayLike = Any

# full float32 accuracy on GPUs, whose default float32 matmul is TF32 (docs/design-notes.md)
HIGHEST = jax.lax.Precision.HIGHEST


class ConvergenceWarning(UserWarning):
    """A fit stopped before it converged, or inference ran on such a fit."""


class Estimate(NamedTuple):
    """Mean, covariance and standard deviations of a Gaussian.

    Attributes:
        mean: ``(d,)`` (``()`` for univariate data).
        cov: ``(d, d)`` covariance (``()``: the variance).
        std: ``(d,)`` square roots of the diagonal of ``cov`` (``()``: the standard deviation).

    Any leading axes (a batch of fits, the steps of an optimisation path) come first.
    """

    mean: ArrayLike
    cov: ArrayLike
    std: ArrayLike


class Status:
    """Why a fit stopped (the ``status`` field of a ``FitResult``)."""

    RUNNING = -1
    CONVERGED = 0
    MAX_STEPS = 1
    NONFINITE = 2
    INVALID = 3  # fit_many(on_invalid='skip'): a member's data could not be fitted

    MESSAGES = {
        CONVERGED: "converged: gradient norm below tol",
        MAX_STEPS: "stopped at max_steps before the gradient norm reached tol",
        NONFINITE: "stopped: the loss or gradient became non-finite "
        "(returned the best finite point)",
        INVALID: "not fitted: invalid data (too few samples, constant or dependent columns, "
        "NaN/inf, zero weights); fit_many(..., on_invalid='raise') says which and why",
    }

    NAMES = {
        CONVERGED: "converged",
        MAX_STEPS: "max_steps",
        NONFINITE: "nonfinite",
        INVALID: "invalid",
    }

    @classmethod
    def name(cls, code) -> str:
        """Short name of a status code: ``converged``, ``max_steps`` or ``nonfinite``."""
        return cls.NAMES.get(int(code), f"unknown({int(code)})")

    @classmethod
    def message(cls, code) -> str:
        return cls.MESSAGES.get(int(code), f"unknown status {int(code)}")
