"""Gaussian log-densities and negative log-likelihoods as pure, unbatched JAX functions.

Two exact forms of the multivariate NLL:

* on raw data ``x`` of shape ``(n, d)`` (optionally weighted), and
* on sufficient statistics ``(count, mean, scatter)``,

.. math::

    \\mathrm{NLL} = \\tfrac{n}{2}\\left(d \\log 2\\pi + \\log|\\Sigma|\\right)
      + \\tfrac12 \\operatorname{tr}\\!\\left(\\Sigma^{-1}
        \\left[S + n(\\bar x - \\mu)(\\bar x - \\mu)^\\top\\right]\\right),

with ``S = sum_i (x_i - xbar)(x_i - xbar)^T``. Both use the Cholesky factor ``L`` of the
covariance: ``log|Sigma| = 2 sum log diag L`` and quadratic forms through ``L^{-1}``
(one ``d x d`` triangular solve per evaluation, then a matrix product with the data: faster
than a triangular solve against every row, ``docs/design-notes.md``). Never ``inv`` or
``det`` of the covariance.

Nothing here is jitted or batched: ``jax.jit``/``jax.vmap``/``jax.grad`` add that.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

from ._bijections import MvnParams
from ._types import HIGHEST

__all__ = [
    "LOG2PI",
    "mvn_logpdf",
    "mvn_nll",
    "mvn_nll_stats",
    "normal_logpdf",
    "normal_pdf",
    "nll",
]

LOG2PI = float(np.log(2.0 * np.pi))


def _chol_inverse(chol: jax.Array) -> jax.Array:
    """``(d, d)`` lower factor -> ``(d, d)`` ``L^{-1}`` by one triangular solve."""
    eye = jnp.eye(chol.shape[-1], dtype=chol.dtype)
    return solve_triangular(chol, eye, lower=True)


def mvn_logpdf(x: jax.Array, mean: jax.Array, chol: jax.Array) -> jax.Array:
    """Log-density of each row of ``x`` under ``N(mean, chol @ chol.T)``.

    Args:
        x: ``(n, d)`` points (or ``(d,)`` for one point).
        mean: ``(d,)``.
        chol: ``(d, d)`` lower Cholesky factor with positive diagonal.

    Returns:
        ``(n,)`` log-densities (``()`` for one point).
    """
    d = mean.shape[-1]
    r = x - jnp.reshape(mean, (1,) * (x.ndim - 1) + mean.shape)
    z = jnp.matmul(r, _chol_inverse(chol).T, precision=HIGHEST)
    half_logdet = jnp.sum(jnp.log(jnp.diagonal(chol)))
    return -0.5 * jnp.sum(z * z, axis=-1) - half_logdet - 0.5 * d * LOG2PI


def mvn_nll(
    mean: jax.Array, chol: jax.Array, x: jax.Array, weights: jax.Array | None = None
) -> jax.Array:
    """Total negative log-likelihood of the rows of ``x``.

    Args:
        mean: ``(d,)``.
        chol: ``(d, d)`` lower Cholesky factor with positive diagonal.
        x: ``(n, d)`` data.
        weights: optional ``(n,)`` non-negative frequency weights (row ``i`` counts
            ``weights[i]`` times).

    Returns:
        ``()`` the sum over rows of ``-log N(x_i | mean, chol chol^T)``, 2*pi term included.
    """
    logp = mvn_logpdf(x, mean, chol)
    if weights is None:
        return -jnp.sum(logp)
    return -jnp.sum(weights * logp)


def mvn_nll_stats(
    mean: jax.Array,
    chol: jax.Array,
    count: jax.Array,
    xbar: jax.Array,
    scatter: jax.Array,
) -> jax.Array:
    """Total NLL from sufficient statistics; equal to :func:`mvn_nll` on the same data.

    Args:
        mean: ``(d,)``.
        chol: ``(d, d)`` lower Cholesky factor with positive diagonal.
        count: ``()`` number of samples (sum of weights).
        xbar: ``(d,)`` sample mean.
        scatter: ``(d, d)`` centred scatter ``sum_i (x_i - xbar)(x_i - xbar)^T``.

    Returns:
        ``()`` total negative log-likelihood.
    """
    d = mean.shape[-1]
    linv = _chol_inverse(chol)
    r = jnp.matmul(linv, xbar - mean, precision=HIGHEST)
    # tr(Sigma^{-1} S) = tr(L^{-1} S L^{-T}) = sum_ij (L^{-1} S)_ij (L^{-1})_ij
    trace = jnp.sum(jnp.matmul(linv, scatter, precision=HIGHEST) * linv)
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol)))
    return 0.5 * (count * (d * LOG2PI + logdet + jnp.sum(r * r)) + trace)


def mean_nll(mean, chol, stats, x=None, weights=None) -> jax.Array:
    """NLL per sample: the data's part of the objective every fit minimises.

    Args:
        mean: ``(d,)``.
        chol: ``(d, d)`` lower Cholesky factor with positive diagonal.
        stats: ``(count, mean, scatter)`` sufficient statistics of the data.
        x: optional ``(n, d)`` data: evaluate on every row (the raw form) instead of ``stats``.
        weights: optional ``(n,)`` frequency weights of ``x``.

    Returns:
        ``()`` total NLL / count.
    """
    count, xbar, scatter = stats
    if x is None:
        total = mvn_nll_stats(mean, chol, count, xbar, scatter)
    else:
        total = mvn_nll(mean, chol, x, weights)
    return total / count


def ridge_penalty(chol: jax.Array, ridge: jax.Array) -> jax.Array:
    """``tr(Sigma^{-1} R) / 2`` for ``Sigma = chol chol^T``: ``()``."""
    linv = _chol_inverse(chol)
    return 0.5 * jnp.sum(jnp.matmul(linv, ridge, precision=HIGHEST) * linv)


def normal_logpdf(x: jax.Array, mean: jax.Array, std: jax.Array) -> jax.Array:
    """Elementwise log-density of the univariate ``N(mean, std**2)`` (broadcasts)."""
    z = (x - mean) / std
    return -0.5 * z * z - jnp.log(std) - 0.5 * LOG2PI


def normal_pdf(x, mean, std) -> jax.Array:
    """Density of ``x`` under ``N(mean, std**2)``: the likelihood of one point.

    Examples:
        >>> round(float(normal_pdf(32.0, 28.0, 2.0)), 3)
        0.027
        >>> round(float(normal_pdf(32.0, 30.0, 2.0)), 3)
        0.121
    """
    return jnp.exp(normal_logpdf(jnp.asarray(x, float), mean, std))


def nll(params: MvnParams, x: jax.Array, weights: jax.Array | None = None) -> jax.Array:
    """Total negative log-likelihood of data under unconstrained parameters.

    Pure and differentiable: ``jax.grad(nll)(params, x)`` is the gradient the fit follows.

    Args:
        params: :class:`MvnParams` with ``mean`` ``(d,)``.
        x: ``(n, d)`` data, or ``(n,)`` for the univariate case (``d = 1``).
        weights: optional ``(n,)`` frequency weights.

    Returns:
        ``()`` total NLL, summed over samples, 2*pi constant included.
    """
    x = jnp.asarray(x)
    if x.ndim == 1:
        x = x[:, None]
    return mvn_nll(params.mean, params.chol, x, weights)
