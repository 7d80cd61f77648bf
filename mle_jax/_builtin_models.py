"""Built-in models on the :class:`~mle_jax.Model` interface: exploratory factor analysis and
patterned covariances. Each is a few lines of ``start``/``constraints``/``cov``: the test
of the interface. All have a free (saturated) mean.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from . import constraints as C
from ._models import Layout, Model

__all__ = ["AR1", "Banded", "CompoundSymmetry", "FactorAnalysis", "Toeplitz", "rotate"]


# ------------------------------------------------------------------------- factor analysis


@dataclasses.dataclass(frozen=True)
class _LowerTrapezoid(C.Constraint):
    """A ``(d, k)`` matrix with zeros above its diagonal (``L[i, j] = 0`` for ``j > i``):
    the ``k (k - 1) / 2`` zeros fix the rotation of factor loadings."""

    def _index(self, shape):
        d, k = shape
        rows, cols = np.nonzero(np.tril(np.ones((d, k), bool)))
        return rows, cols

    def size(self, shape):
        return len(self._index(shape)[0])

    def forward(self, u, shape):
        rows, cols = self._index(shape)
        return jnp.zeros(shape, jnp.result_type(u)).at[rows, cols].set(u)

    def inverse(self, value):
        value = jnp.asarray(value)
        rows, cols = self._index(value.shape)
        return value[rows, cols]

    def natural(self, value):
        return self.inverse(value)

    def labels(self, shape):
        rows, cols = self._index(shape)
        return [f"[{i},{j}]" for i, j in zip(rows, cols, strict=True)]


@dataclasses.dataclass(frozen=True)
class FactorAnalysis(Model):
    """Exploratory maximum-likelihood factor analysis with ``k`` factors:
    ``Sigma = L L^T + diag(psi)``, in the data's units.

    ``res.params["loadings"]`` ``(d, k)`` and ``res.params["uniquenesses"]`` ``(d,)`` (> 0).
    The loadings are fitted with zeros above the diagonal, which fixes their rotation (and so
    identifies the model); :func:`rotate` gives the varimax or promax solution, which has
    the same covariance and likelihood. A uniqueness driven to 0 (a Heywood case) is reported
    on the boundary (``res.boundary``) with a warning. R's ``factanal`` works on the
    correlation matrix: its uniquenesses are ours divided by the variances.

    Args:
        k: number of factors, ``1 <= k`` with ``((d - k)^2 - (d + k)) / 2 >= 0`` degrees of
            freedom.

    Examples:
        >>> import mle_jax as mj
        >>> mj.FactorAnalysis(2)
        FactorAnalysis(k=2)
    """

    k: int = 1
    free_mean = True

    def __post_init__(self):
        if not isinstance(self.k, (int, np.integer)) or isinstance(self.k, bool) or self.k < 1:
            raise ValueError(f"k (the number of factors) must be a positive integer, got {self.k}")

    def check(self, d, columns):
        dof = ((d - self.k) ** 2 - (d + self.k)) / 2
        if self.k >= d or dof < 0:
            raise ValueError(
                f"{self.k} factors for {d} variables leave {dof:g} degrees of freedom; the "
                "model is not identified: use fewer factors"
            )

    def start(self, mean, cov):
        # factanal's start for the uniquenesses, then principal axes of S - Psi in the
        # correlation metric, rotated to the lower-trapezoid form
        d, k = cov.shape[0], self.k
        std = np.sqrt(np.diag(cov))
        corr = cov / std[:, None] / std[None, :]
        psi = (1 - 0.5 * k / d) / np.diag(np.linalg.inv(corr))
        vals, vecs = np.linalg.eigh(corr - np.diag(psi))
        vals, vecs = vals[::-1][:k], vecs[:, ::-1][:, :k]
        load = vecs * np.sqrt(np.maximum(vals, 0.05))
        q, r = np.linalg.qr(load[:k].T)  # rotate so that load @ q is lower trapezoid
        load = load @ q * np.sign(np.diag(r))[None, :]
        load[np.triu_indices(k, 1)] = 0.0
        return {"loadings": load * std[:, None], "uniquenesses": psi * std**2}

    def constraints(self):
        return {"loadings": _LowerTrapezoid(), "uniquenesses": C.positive}

    def cov(self, params):
        load = params["loadings"]
        return load @ load.T + jnp.diag(params["uniquenesses"])

    def names(self, layout: Layout, columns):
        rows, cols = np.nonzero(np.tril(np.ones((len(columns), self.k), bool)))
        load = [f"loadings[{columns[i]},f{j + 1}]" for i, j in zip(rows, cols, strict=True)]
        uniq = [f"uniquenesses[{c}]" for c in columns]
        return load + uniq + [f"mean[{c}]" for c in columns]  # jax sorts dict keys

    def describe(self):
        return f"factor analysis, {self.k} factor(s)"


def rotate(loadings, method: str = "varimax", *, normalize: bool = True, power: int = 4, eps=1e-10):
    """Rotate factor loadings (host numpy), as R's ``varimax``/``promax``.

    Args:
        loadings: ``(d, k)``.
        method: ``"varimax"`` (orthogonal) or ``"promax"`` (oblique, from the varimax
            solution).
        normalize: Kaiser normalisation (rows scaled to unit length while rotating).
        power: the promax power.
        eps: stop when the varimax criterion grows by less than this factor (R's default is
            ``1e-5``, which leaves the rotation ~3e-3 rad from the optimum: pass it to
            reproduce R from the same loadings).

    Returns:
        ``(rotated (d, k), rotation (k, k))`` with ``rotated = loadings @ rotation``; for
        promax the factor correlation is ``inv(rotation.T @ rotation)``.
    """
    a = np.asarray(loadings, np.float64)
    if method not in ("varimax", "promax"):
        raise ValueError(f"method must be 'varimax' or 'promax', got {method!r}")
    d, k = a.shape
    if k < 2:
        return a.copy(), np.eye(k)
    scale = np.sqrt(np.sum(a**2, axis=1, keepdims=True)) if normalize else np.ones((d, 1))
    x = a / scale
    rot = np.eye(k)
    last = 0.0
    for _ in range(1000):  # R's varimax: the SVD iteration
        z = x @ rot
        b = x.T @ (z**3 - z @ np.diag(np.sum(z**2, axis=0)) / d)
        u, s, vt = np.linalg.svd(b)
        rot = u @ vt
        if s.sum() < last * (1 + eps):
            break
        last = s.sum()
    varimax = (x @ rot) * scale
    if method == "varimax":
        return varimax, rot
    q = varimax * np.abs(varimax) ** (power - 1)
    u = np.linalg.lstsq(varimax, q, rcond=None)[0]
    u = u * np.sqrt(np.diag(np.linalg.inv(u.T @ u)))[None, :]
    return varimax @ u, rot @ u


# -------------------------------------------------------------------- patterned covariances


def _mean_var(cov) -> float:
    return float(np.mean(np.diag(cov)))


def _lag(d: int) -> np.ndarray:
    idx = np.arange(d)
    return np.abs(idx[:, None] - idx[None, :])


@dataclasses.dataclass(frozen=True)
class _Patterned(Model):
    """A covariance pattern of repeated measures; the dimension comes from the data."""

    d: int | None = dataclasses.field(default=None, kw_only=True)
    free_mean = True

    def bind(self, d):
        if self.d is not None and self.d != d:
            raise ValueError(f"{self!r} is for d = {self.d} columns but the data have {d}")
        return dataclasses.replace(self, d=d)

    def start(self, mean, cov):
        return {"var": _mean_var(cov), "rho": 0.0}


@dataclasses.dataclass(frozen=True)
class AR1(_Patterned):
    """First-order autoregressive covariance ``Sigma_ij = var * rho^|i - j|`` (``var > 0``,
    ``-1 < rho < 1``): equally spaced repeated measures whose correlation decays with lag.

    Examples:
        >>> import numpy as np, mle_jax as mj
        >>> lag = np.abs(np.subtract.outer(np.arange(4), np.arange(4)))
        >>> x = np.random.default_rng(0).multivariate_normal(np.zeros(4), 2 * 0.6**lag, 4000)
        >>> res = mj.fit(x, mj.AR1())
        >>> round(float(res.params["rho"]), 1), round(float(res.params["var"]), 1)
        (0.6, 2.0)
    """

    def constraints(self):
        return {"var": C.positive, "rho": C.bounded(-1.0, 1.0)}

    def cov(self, params):
        assert self.d is not None
        rho = params["rho"]
        # rho^0, rho^1, ... by products: defined (with its derivative) for rho <= 0 too
        powers = jnp.cumprod(jnp.concatenate([jnp.ones(1), jnp.full(self.d - 1, rho)]))
        return params["var"] * powers[jnp.asarray(_lag(self.d))]

    def describe(self):
        return "AR(1) covariance"


@dataclasses.dataclass(frozen=True)
class CompoundSymmetry(_Patterned):
    """Compound symmetry (exchangeable): ``Sigma = var * ((1 - rho) I + rho 11^T)`` with
    ``-1/(d-1) < rho < 1`` (a random-intercept model written as a covariance)."""

    def constraints(self):
        assert self.d is not None
        return {"var": C.positive, "rho": C.bounded(-1.0 / max(self.d - 1, 1), 1.0)}

    def cov(self, params):
        assert self.d is not None
        eye = jnp.eye(self.d)
        return params["var"] * ((1.0 - params["rho"]) * eye + params["rho"])

    def describe(self):
        return "compound symmetry"


def _acf_from_pacf(pacf):
    """Autocorrelations ``(d,)`` (lag 0 first) from partial autocorrelations ``(d - 1,)`` in
    ``(-1, 1)``: the Durbin-Levinson recursion; every such ``pacf`` gives a positive-definite
    Toeplitz matrix and every one is reached."""
    m = pacf.shape[0]
    phi = jnp.zeros((m,), pacf.dtype)
    acf = [jnp.ones((), pacf.dtype)]
    var = jnp.ones((), pacf.dtype)
    for j in range(m):
        a = pacf[j]
        prev = phi[:j]
        r_next = a * var + jnp.dot(prev, jnp.stack(acf[1 : j + 1][::-1])) if j else a * var
        acf.append(r_next)
        phi = phi.at[:j].set(prev - a * prev[::-1]).at[j].set(a)
        var = var * (1 - a * a)
    return jnp.stack(acf)


@dataclasses.dataclass(frozen=True)
class Toeplitz(_Patterned):
    """A stationary (Toeplitz) covariance ``Sigma_ij = var * acf[|i - j|]``, parameterised by
    the variance and the ``d - 1`` partial autocorrelations in ``(-1, 1)`` (so every value
    is positive definite); ``res.cov`` holds the autocovariances."""

    def start(self, mean, cov):
        return {"var": _mean_var(cov), "pacf": np.zeros(cov.shape[0] - 1)}

    def constraints(self):
        return {"var": C.positive, "pacf": C.bounded(-1.0, 1.0)}

    def cov(self, params):
        assert self.d is not None
        acf = _acf_from_pacf(params["pacf"])
        return params["var"] * acf[jnp.asarray(_lag(self.d))]

    def describe(self):
        return "Toeplitz covariance"


@dataclasses.dataclass(frozen=True)
class Banded(_Patterned):
    """A banded covariance: ``Sigma_ij = 0`` for ``|i - j| > bandwidth``, free within the
    band. Parameterised by its Cholesky factor, which is banded too (with a positive
    diagonal, so every value is positive definite): ``params["chol"]`` ``(d, bandwidth+1)``
    holds row ``i``'s entries ``L[i, i - bandwidth .. i]``; ``res.cov`` the covariance."""

    bandwidth: int = 1

    def __post_init__(self):
        b = self.bandwidth
        if not isinstance(b, (int, np.integer)) or isinstance(b, bool) or b < 0:
            raise ValueError(f"bandwidth must be an integer >= 0, got {b!r}")

    def start(self, mean, cov):
        d, b = cov.shape[0], self.bandwidth
        band = np.zeros((d, b + 1))
        band[:, b] = np.sqrt(np.diag(cov))
        return {"chol": band}

    def constraints(self):
        return {"chol": _BandFactor()}

    def cov(self, params):
        assert self.d is not None
        d, b = self.d, self.bandwidth
        rows = np.repeat(np.arange(d), b + 1)
        cols = rows - b + np.tile(np.arange(b + 1), d)
        ok = cols >= 0
        chol = jnp.zeros((d, d), params["chol"].dtype)
        chol = chol.at[rows[ok], cols[ok]].set(params["chol"].reshape(-1)[ok])
        return chol @ chol.T

    def describe(self):
        return f"banded covariance (bandwidth {self.bandwidth})"


@dataclasses.dataclass(frozen=True)
class _BandFactor(C.Constraint):
    """Rows of a banded lower factor: ``(d, b + 1)``, the last column (the diagonal)
    positive, the entries left of column 0 fixed at 0."""

    def _free(self, shape):
        d, w = shape
        b = w - 1
        rows, cols = np.nonzero(np.ones(shape, bool))
        keep = cols - b + rows >= 0
        return rows[keep], cols[keep], cols[keep] == b

    def size(self, shape):
        return len(self._free(shape)[0])

    def forward(self, u, shape):
        rows, cols, diag = self._free(shape)
        vals = jnp.where(jnp.asarray(diag), jnp.exp(u), u)
        return jnp.zeros(shape, jnp.result_type(u)).at[rows, cols].set(vals)

    def inverse(self, value):
        value = jnp.asarray(value)
        rows, cols, diag = self._free(value.shape)
        vals = value[rows, cols]
        return jnp.where(jnp.asarray(diag), jnp.log(jnp.abs(vals)), vals)

    def natural(self, value):
        rows, cols, _ = self._free(jnp.shape(value))
        return jnp.asarray(value)[rows, cols]

    def limits(self, value, fraction):
        value = np.asarray(value, np.float64)
        rows, cols, diag = self._free(value.shape)
        with np.errstate(divide="ignore"):
            lo = np.where(diag, np.log(fraction * np.abs(value[rows, cols])), -np.inf)
        return lo, np.full(len(rows), np.inf)

    def labels(self, shape):
        rows, cols, _ = self._free(shape)
        b = shape[1] - 1
        return [f"[{i},{i - b + j}]" for i, j in zip(rows, cols, strict=True)]
