"""Priors on ``(mean, cov)`` for MAP fits: ``fit(x, prior=...)``.

A prior is any pure JAX function ``log_density(mean, cov) -> ()`` (for univariate data
``mean`` and ``cov``, the variance, are scalars). Two built-ins are callables of that kind
whose hyper-parameters are checked when they are built:

* :class:`NormalInverseWishart` -- conjugate; its posterior mode has a closed form
  (:meth:`NormalInverseWishart.posterior_mode`), the oracle of the MAP fit;
* :class:`LKJHalfNormal` -- an LKJ prior on the correlation matrix and half-normal priors on
  the standard deviations (the mean is left flat).

Which mode a MAP fit finds (the parameterisation convention)
-------------------------------------------------------------
``fit`` minimises ``NLL(mean, cov) - log_prior(mean, cov)`` over its unconstrained
parameters *without* adding the log-Jacobian of the map from those parameters to
``(mean, cov)``. The unconstrained map is a bijection, so the minimiser is the mode of the
posterior density **in the coordinates the prior density is written in**, like Stan's
``optimizing`` with ``jacobian=false`` (the default of its optimiser). For
:class:`NormalInverseWishart` and for a user function of ``(mean, cov)`` that is the mode of
the density with respect to Lebesgue measure on ``(mean, the d(d+1)/2 distinct entries of
cov)``. :class:`LKJHalfNormal` is a density of ``(std, corr)`` (Lebesgue measure on the ``d``
standard deviations and the ``d(d-1)/2`` correlations), as in the Stan program
``corr_matrix[d] R; vector<lower=0>[d] s; R ~ lkj_corr(eta); s ~ normal(0, tau);``, so its MAP
is the mode in ``(std, corr)`` coordinates; no Jacobian to ``cov`` is added.

The data are standardised inside ``fit`` (each column shifted and scaled). The prior is
evaluated in the user's units at the back-transformed point; that affine map has a constant
Jacobian, which does not move the mode, so the MAP is the same in either units.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer
from jax.scipy.special import gammaln, multigammaln

from ._nll import LOG2PI, _chol_inverse

__all__ = ["NormalInverseWishart", "LKJHalfNormal", "lkj_log_normalizer"]


def _as_mean_cov(mean, cov):
    """``(mean, cov)`` -> ``(d,)``, ``(d, d)`` (scalars are the univariate case)."""
    mean = jnp.atleast_1d(jnp.asarray(mean))
    cov = jnp.asarray(cov)
    if cov.ndim == 0:
        cov = cov.reshape(1, 1)
    return mean, cov


def _is_concrete(*arrays) -> bool:
    return not any(isinstance(a, Tracer) for a in arrays)


def _check_spd(m: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{what} must be finite")
    if not np.allclose(m, m.T, rtol=1e-10, atol=1e-12 * max(1.0, float(np.abs(m).max()))):
        raise ValueError(f"{what} must be symmetric")
    try:
        np.linalg.cholesky(m)
    except np.linalg.LinAlgError:
        raise ValueError(
            f"{what} must be positive definite (its Cholesky factorisation failed)"
        ) from None


@jax.tree_util.register_pytree_node_class
class NormalInverseWishart:
    """Normal-Inverse-Wishart prior: ``cov ~ IW(psi, dof)``, ``mean | cov ~ N(loc, cov / kappa)``.

    .. math::

        \\log p(\\mu, \\Sigma) = \\log \\mathcal N(\\mu \\mid \\mu_0, \\Sigma/\\kappa)
          + \\tfrac{\\nu}{2}\\log|\\Psi| - \\tfrac{\\nu d}{2}\\log 2 - \\log\\Gamma_d(\\nu/2)
          - \\tfrac{\\nu + d + 1}{2}\\log|\\Sigma| - \\tfrac12\\operatorname{tr}(\\Psi\\Sigma^{-1})

    (``IW`` as in ``scipy.stats.invwishart(df=dof, scale=psi)``; for ``d = 1`` it is the
    inverse-gamma with shape ``dof/2`` and scale ``psi/2``). Conjugate: with ``n`` samples
    (the sum of the weights), mean ``xbar`` and scatter ``S``, the posterior is NIW with
    ``kappa_n = kappa + n``, ``dof_n = dof + n``,
    ``loc_n = (kappa loc + n xbar) / kappa_n``,
    ``psi_n = psi + S + kappa n / kappa_n (xbar - loc)(xbar - loc)^T``, and the mode of the
    joint density of ``(mean, cov)`` (Lebesgue measure on ``mean`` and the distinct entries of
    ``cov``) is ``mean = loc_n``, ``cov = psi_n / (dof_n + d + 2)``.

    Args:
        loc: ``(d,)`` prior mean (a scalar for univariate data).
        kappa: ``> 0`` prior sample size of the mean.
        dof: degrees of freedom, ``> d - 1``.
        psi: ``(d, d)`` symmetric positive-definite scale matrix (a scalar ``> 0`` for
            univariate data).

    Raises:
        ValueError: invalid hyper-parameters (each named in the message).

    Examples:
        >>> import jax.numpy as jnp
        >>> prior = NormalInverseWishart(loc=0.0, kappa=1.0, dof=3.0, psi=2.0)
        >>> round(float(prior(0.5, 1.5)), 4)
        -2.7646
    """

    def __init__(self, loc, kappa, dof, psi):
        loc = jnp.atleast_1d(jnp.asarray(loc, dtype=jnp.result_type(float)))
        psi = jnp.asarray(psi, dtype=loc.dtype)
        if psi.ndim == 0:
            psi = psi.reshape(1, 1)
        kappa = jnp.asarray(kappa, dtype=loc.dtype)
        dof = jnp.asarray(dof, dtype=loc.dtype)
        if _is_concrete(loc, psi, kappa, dof):
            d = loc.shape[0]
            if loc.ndim != 1:
                raise ValueError(f"NormalInverseWishart: loc must be (d,), got shape {loc.shape}")
            if psi.shape != (d, d):
                raise ValueError(
                    f"NormalInverseWishart: psi must have shape ({d}, {d}) to match loc, "
                    f"got {psi.shape}"
                )
            if not np.all(np.isfinite(np.asarray(loc))):
                raise ValueError("NormalInverseWishart: loc must be finite")
            if kappa.ndim != 0 or not np.isfinite(float(kappa)) or float(kappa) <= 0:
                raise ValueError(
                    f"NormalInverseWishart: kappa must be a finite number > 0, got {kappa}"
                )
            if dof.ndim != 0 or not np.isfinite(float(dof)) or float(dof) <= d - 1:
                raise ValueError(
                    f"NormalInverseWishart: dof must be a finite number > d - 1 = {d - 1}, "
                    f"got {dof}"
                )
            _check_spd(np.asarray(psi, np.float64), "NormalInverseWishart: psi")
        self.loc, self.kappa, self.dof, self.psi = loc, kappa, dof, psi

    @property
    def dim(self) -> int:
        """Dimension ``d`` of the Gaussian this prior is for."""
        return self.loc.shape[0]

    def tree_flatten(self):
        return (self.loc, self.kappa, self.dof, self.psi), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.loc, obj.kappa, obj.dof, obj.psi = children
        return obj

    def __repr__(self) -> str:
        return (
            f"NormalInverseWishart(loc={np.asarray(self.loc)}, kappa={float(self.kappa)}, "
            f"dof={float(self.dof)}, psi={np.asarray(self.psi).tolist()})"
        )

    def __call__(self, mean, cov) -> jax.Array:
        """Log-density at ``(mean, cov)``: pure JAX, jit/grad-able. ``()``."""
        mean, cov = _as_mean_cov(mean, cov)
        d = self.loc.shape[0]
        chol = jnp.linalg.cholesky(cov)
        linv = _chol_inverse(chol)
        logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol)))
        r = linv @ (mean - self.loc)
        log_normal = 0.5 * (d * jnp.log(self.kappa) - d * LOG2PI - logdet - self.kappa * (r @ r))
        psi_logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(jnp.linalg.cholesky(self.psi))))
        trace = jnp.sum((linv @ self.psi) * linv)
        log_iw = (
            0.5 * self.dof * psi_logdet
            - 0.5 * self.dof * d * jnp.log(2.0)
            - multigammaln(0.5 * self.dof, d)
            - 0.5 * (self.dof + d + 1) * logdet
            - 0.5 * trace
        )
        return log_normal + log_iw

    def posterior(self, count, xbar, scatter) -> NormalInverseWishart:
        """The conjugate posterior given data statistics (``count`` may be a sum of weights)."""
        loc, kappa = self.loc, self.kappa
        xbar, scatter = _as_mean_cov(xbar, scatter)
        kappa_n = kappa + count
        delta = xbar - loc
        psi_n = self.psi + scatter + (kappa * count / kappa_n) * jnp.outer(delta, delta)
        post = object.__new__(NormalInverseWishart)
        post.loc = (kappa * loc + count * xbar) / kappa_n
        post.kappa, post.dof, post.psi = kappa_n, self.dof + count, psi_n
        return post

    def mode(self):
        """Mode of the joint density of ``(mean, cov)``: ``(loc, psi / (dof + d + 2))``."""
        d = self.loc.shape[0]
        return self.loc, self.psi / (self.dof + d + 2)

    def posterior_mode(self, count, xbar, scatter):
        """Closed-form MAP: the mode of :meth:`posterior` (see the class docstring).

        Returns:
            ``(mean (d,), cov (d, d))``.
        """
        return self.posterior(count, xbar, scatter).mode()


def lkj_log_normalizer(concentration, d: int) -> jax.Array:
    """Log normalising constant of the LKJ density ``det(R)^(eta - 1)`` over ``d x d``
    correlation matrices (Lewandowski, Kurowicka and Joe 2009), w.r.t. Lebesgue measure on
    the ``d(d-1)/2`` off-diagonal entries.

    .. math::

        \\log c_d(\\eta) = \\sum_{k=1}^{d-1}\\Big[\\tfrac k2 \\log\\pi
          + \\log\\Gamma\\big(\\eta + \\tfrac{d-1-k}2\\big)
          - \\log\\Gamma\\big(\\eta + \\tfrac{d-1}2\\big)\\Big]

    Examples:
        >>> import numpy as np
        >>> bool(np.isclose(float(lkj_log_normalizer(1.0, 3)), np.log(np.pi**2 / 2)))
        True
    """
    eta = jnp.asarray(concentration)
    total = jnp.zeros_like(eta, dtype=jnp.result_type(eta, float))
    for k in range(1, d):
        total = total + 0.5 * k * np.log(np.pi)
        total = total + gammaln(eta + 0.5 * (d - 1 - k)) - gammaln(eta + 0.5 * (d - 1))
    return total


@jax.tree_util.register_pytree_node_class
class LKJHalfNormal:
    """LKJ prior on the correlation matrix and half-normal priors on the standard deviations.

    With ``cov = diag(s) R diag(s)``:

    .. math::

        \\log p = (\\eta - 1)\\log\\det R - \\log c_d(\\eta)
          + \\sum_i \\Big[\\tfrac12\\log\\tfrac{2}{\\pi} - \\log\\tau_i
          - \\frac{s_i^2}{2\\tau_i^2}\\Big],

    a density of ``(s, R)`` (see the module docstring for what that means for the mode). The
    mean gets a flat (improper) prior. ``eta = 1`` is uniform over correlation matrices;
    ``eta > 1`` shrinks towards independence. For univariate data only the half-normal on the
    standard deviation remains, and the MAP variance has the closed form
    ``s^2 = tau^2 (sqrt(n^2 + 4 S / tau^2) - n) / 2`` (``S`` the scatter).

    Args:
        concentration: LKJ ``eta > 0``.
        scale: half-normal scale(s) ``tau > 0`` of the standard deviations: a scalar (every
            column) or ``(d,)``.

    Raises:
        ValueError: ``concentration`` or ``scale`` not finite and positive.
    """

    def __init__(self, concentration=1.0, scale=1.0):
        eta = jnp.asarray(concentration, dtype=jnp.result_type(float))
        tau = jnp.asarray(scale, dtype=eta.dtype)
        if _is_concrete(eta, tau):
            if eta.ndim != 0 or not np.isfinite(float(eta)) or float(eta) <= 0:
                raise ValueError(
                    f"LKJHalfNormal: concentration must be a finite number > 0, got {eta}"
                )
            if tau.ndim > 1:
                raise ValueError(
                    f"LKJHalfNormal: scale must be a scalar or (d,), got shape {tau.shape}"
                )
            t = np.asarray(tau)
            if not np.all(np.isfinite(t)) or np.any(t <= 0):
                raise ValueError(f"LKJHalfNormal: scale must be finite and > 0, got {t}")
        self.concentration, self.scale = eta, tau

    @property
    def dim(self) -> int | None:
        """``d`` when ``scale`` is a vector, else ``None`` (any dimension)."""
        return self.scale.shape[0] if self.scale.ndim == 1 else None

    def tree_flatten(self):
        return (self.concentration, self.scale), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.concentration, obj.scale = children
        return obj

    def __repr__(self) -> str:
        eta, tau = float(self.concentration), np.asarray(self.scale)
        return f"LKJHalfNormal(concentration={eta}, scale={tau})"

    def __call__(self, mean, cov) -> jax.Array:
        """Log-density at ``(mean, cov)`` (``mean`` is ignored: flat). ``()``."""
        _, cov = _as_mean_cov(mean, cov)
        d = cov.shape[-1]
        tau = jnp.broadcast_to(self.scale, (d,))
        var = jnp.diagonal(cov)
        log_s = 0.5 * jnp.log(var)
        chol = jnp.linalg.cholesky(cov)
        logdet_r = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol))) - 2.0 * jnp.sum(log_s)
        eta = self.concentration
        log_lkj = (eta - 1.0) * logdet_r - lkj_log_normalizer(eta, d)
        log_hn = jnp.sum(0.5 * jnp.log(2.0 / jnp.pi) - jnp.log(tau) - 0.5 * var / tau**2)
        return log_lkj + log_hn
