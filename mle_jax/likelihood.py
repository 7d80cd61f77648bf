"""The likelihood story as API: densities of points, their product, and a brute-force grid.

A grid search is how one would find the maximum without calculus: evaluate the
log-likelihood at every candidate and take the largest. ``vmap`` does the whole grid at once.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer

from . import _nll
from ._nll import mvn_logpdf, mvn_nll, mvn_nll_stats

__all__ = [
    "GridResult",
    "likelihood",
    "likelihood_grid",
    "log_likelihood",
    "mvn_logpdf",
    "mvn_nll",
    "mvn_nll_stats",
    "normal_logpdf",
    "normal_pdf",
]


def _concrete(a) -> bool:
    return not isinstance(a, Tracer)


def _check_std(std, name: str = "std") -> None:
    """A concrete standard deviation must be finite and > 0 (under jit: not checked)."""
    if _concrete(std):
        s = np.asarray(std)
        if not (np.all(np.isfinite(s)) and np.all(s > 0)):
            raise ValueError(f"{name} must be finite and > 0, got {s if s.size < 6 else s.min()}")


def _check_x(x, name: str = "x") -> None:
    if _concrete(x) and not np.all(np.isfinite(np.asarray(x))):
        raise ValueError(f"{name} contains NaN or inf; drop or impute those values first")


def normal_logpdf(x, mean, std) -> jax.Array:
    """Elementwise log-density of the univariate ``N(mean, std**2)`` (broadcasts).

    Raises:
        ValueError: a concrete ``std`` that is not finite and > 0.
    """
    _check_std(std)
    return _nll.normal_logpdf(x, mean, std)


def normal_pdf(x, mean, std) -> jax.Array:
    """Density of ``x`` under ``N(mean, std**2)``: the likelihood of one point.

    Raises:
        ValueError: a concrete ``std`` that is not finite and > 0.

    Examples:
        >>> round(float(normal_pdf(32.0, 28.0, 2.0)), 3)
        0.027
    """
    _check_std(std)
    return _nll.normal_pdf(x, mean, std)


def likelihood(x, mean, std) -> jax.Array:
    """Likelihood of data under ``N(mean, std**2)``: the product of the points' densities.

    Underflows to 0 for a few hundred points; that is why one works with
    :func:`log_likelihood`, the sum of the log-densities.

    Args:
        x: ``(n,)`` data (or a scalar: one point).
        mean, std: scalars.

    Returns:
        ``()`` the product of the ``n`` densities.
    """
    _check_std(std)
    return jnp.prod(jnp.exp(_nll.normal_logpdf(jnp.asarray(x, float), mean, std)))


def log_likelihood(x, mean, std) -> jax.Array:
    """Log-likelihood of ``(n,)`` data under ``N(mean, std**2)``: ``()``, the log-density sum."""
    _check_std(std)
    return jnp.sum(_nll.normal_logpdf(jnp.asarray(x, float), mean, std))


class GridResult(NamedTuple):
    """Log-likelihood over a grid and where it peaks.

    Attributes:
        means: ``(m,)`` candidate means.
        stds: ``(k,)`` candidate standard deviations.
        log_lik: ``(m, k)`` log-likelihood at each (mean, std).
        best_mean: ``()`` the grid mean with the largest log-likelihood.
        best_std: ``()`` the grid std with the largest log-likelihood.
    """

    means: jax.Array
    stds: jax.Array
    log_lik: jax.Array
    best_mean: jax.Array
    best_std: jax.Array


def likelihood_grid(x, means, stds=None) -> GridResult:
    """Brute force: the log-likelihood of univariate data at every (mean, std) of a grid.

    Args:
        x: ``(n,)`` data.
        means: ``(m,)`` candidate means.
        stds: ``(k,)`` candidate standard deviations; default: the one value
            ``x.std()`` (the MLE of the std), giving a curve over the mean.

    Returns:
        :class:`GridResult`; its argmax lands on the closed form within the grid spacing.
    """
    x = jnp.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"likelihood_grid takes univariate data (n,), got shape {x.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    if x.shape[0] == 0:
        raise ValueError("likelihood_grid: x is empty")
    _check_x(x)
    _check_x(means, "means")
    means = jnp.atleast_1d(jnp.asarray(means, x.dtype))
    stds = jnp.std(x)[None] if stds is None else jnp.atleast_1d(jnp.asarray(stds, x.dtype))
    _check_std(stds, "stds")
    one = lambda m, s: jnp.sum(_nll.normal_logpdf(x, m, s))  # noqa: E731
    grid = jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None))(means, stds)
    i, j = jnp.unravel_index(jnp.argmax(grid), grid.shape)
    return GridResult(means, stds, grid, means[i], stds[j])
