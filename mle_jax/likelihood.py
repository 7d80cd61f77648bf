"""The likelihood story as API: densities of points, their product, and a brute-force grid.

A grid search is how one would find the maximum without calculus: evaluate the
log-likelihood at every candidate and take the largest. ``vmap`` does the whole grid at once.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ._nll import mvn_logpdf, mvn_nll, mvn_nll_stats, normal_logpdf, normal_pdf

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
    return jnp.prod(jnp.exp(normal_logpdf(jnp.asarray(x, float), mean, std)))


def log_likelihood(x, mean, std) -> jax.Array:
    """Log-likelihood of ``(n,)`` data under ``N(mean, std**2)``: ``()``, the log-density sum."""
    return jnp.sum(normal_logpdf(jnp.asarray(x, float), mean, std))


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
    means = jnp.atleast_1d(jnp.asarray(means, x.dtype))
    stds = jnp.std(x)[None] if stds is None else jnp.atleast_1d(jnp.asarray(stds, x.dtype))
    if bool(jnp.any(stds <= 0)):
        raise ValueError("stds must be positive")
    one = lambda m, s: jnp.sum(normal_logpdf(x, m, s))  # noqa: E731
    grid = jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None))(means, stds)
    i, j = jnp.unravel_index(jnp.argmax(grid), grid.shape)
    return GridResult(means, stds, grid, means[i], stds[j])
