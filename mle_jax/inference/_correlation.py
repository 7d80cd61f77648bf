"""The correlation matrix of a fit with standard errors by the delta method."""

from __future__ import annotations

import math

import numpy as np

from ._errors import standard_errors
from ._table import Delta, _check, delta

__all__ = ["correlation"]


def correlation(result, information: str | None = None) -> Delta:
    """The fitted correlation matrix with standard errors by the delta method.

    ``r_ij = s_ij / sqrt(s_ii s_jj)``; its Jacobian in the covariance's distinct entries
    ``J`` carries their covariance ``V`` (:func:`~mle_jax.standard_errors` for a
    :class:`~mle_jax.Gaussian`, :func:`delta` of the model's covariance for a
    :class:`~mle_jax.Model`): ``Cov(vec r) = J V J^T``. Under normality, for a bivariate
    saturated fit, ``se(r) = (1 - r^2) / sqrt(n)``.

    Args:
        result: one fit (``res[k]`` for a member of ``fit_many``).
        information: for a model fit, ``"observed"`` or ``"expected"`` (default lavaan's);
            a Gaussian fit uses the observed information.

    Returns:
        :class:`Delta` with ``estimate`` and ``se`` ``(d, d)`` (``se`` 0 on the diagonal)
        and ``vcov`` ``(d*d, d*d)`` over ``vec r`` (row-major).

    Examples:
        >>> import numpy as np, mle_jax as mj
        >>> x = np.random.default_rng(0).multivariate_normal([0, 0], [[1, .5], [.5, 1]], 400)
        >>> res = mj.fit(x)
        >>> c = mj.inference.correlation(res)
        >>> r = c.estimate[1, 0]
        >>> bool(np.isclose(c.se[1, 0], (1 - r**2) / np.sqrt(400), rtol=1e-6))
        True
    """
    if result.univariate:
        raise ValueError("a univariate fit has no correlations")
    d = int(np.shape(result.stats.mean)[-1])
    rows, cols = np.tril_indices(d)
    cov = np.reshape(np.asarray(result.cov, np.float64), (d, d))
    if result.layout is None:
        _check(result, "observed")  # one fit
        if information not in (None, "observed"):
            raise ValueError("a Gaussian fit's correlations use the observed information")
        vcov = np.asarray(standard_errors(result).vcov, np.float64)[d:, d:]
    else:
        model = result.model
        vcov = delta(result, lambda p: model.cov(p)[rows, cols], information).vcov
    jac = corr_jacobian(cov)
    out = jac @ vcov @ jac.T
    std = np.sqrt(np.diagonal(cov))
    estimate = cov / np.outer(std, std)
    np.fill_diagonal(estimate, 1.0)
    se = np.sqrt(np.clip(np.diagonal(out), 0.0, None)).reshape(d, d)
    return Delta(estimate, se, out)


def corr_jacobian(cov: np.ndarray) -> np.ndarray:
    """``(d*d, m)`` Jacobian of ``vec corr`` in ``vech cov`` (row-major lower triangle,
    ``m = d(d+1)/2``): ``dr_ij/ds_ij = 1/sqrt(s_ii s_jj)``, ``dr_ij/ds_ii = -r_ij / (2 s_ii)``;
    the diagonal (1) has none."""
    d = cov.shape[0]
    rows, cols = np.tril_indices(d)
    pos = {(int(i), int(j)): k for k, (i, j) in enumerate(zip(rows, cols, strict=True))}
    jac = np.zeros((d * d, len(rows)))
    for i in range(d):
        for j in range(d):
            if i == j:
                continue
            s = math.sqrt(cov[i, i] * cov[j, j])
            r = cov[i, j] / s
            jac[i * d + j, pos[(max(i, j), min(i, j))]] = 1.0 / s
            jac[i * d + j, pos[(i, i)]] = -0.5 * r / cov[i, i]
            jac[i * d + j, pos[(j, j)]] = -0.5 * r / cov[j, j]
    return jac
