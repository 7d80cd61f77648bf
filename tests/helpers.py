"""Shared test data generators and comparison helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "mle_jax" / "data"


def random_gaussian(rng, d, n, *, offset=0.0, cond=None):
    """Draw ``(n, d)`` data from a random Gaussian (``(n,)`` when ``d == 0``-style univariate)."""
    dd = max(d, 1)
    a = rng.normal(size=(dd, dd))
    q, _ = np.linalg.qr(a)
    if cond is None:
        eig = rng.uniform(0.5, 2.0, size=dd)
    else:
        eig = np.logspace(0, -np.log10(cond), dd)
    cov = (q * eig) @ q.T
    mean = offset + rng.normal(size=dd) * 3
    x = rng.multivariate_normal(mean, cov, size=n)
    return x


def rel_err(fit, cf):
    """Scale-relative errors of a fit against the closed form: (mean, cov).

    Mean error in units of the largest standard deviation; covariance error relative to the
    largest covariance entry.
    """
    cov = np.atleast_2d(np.asarray(cf.cov))
    std = np.sqrt(np.max(np.diagonal(cov)))
    e_mean = np.max(np.abs(np.asarray(fit.mean) - np.asarray(cf.mean))) / std
    e_cov = np.max(np.abs(np.atleast_2d(np.asarray(fit.cov)) - cov)) / np.max(np.abs(cov))
    return e_mean, e_cov


def load_csv(name):
    """Numeric columns of a shipped CSV as ``(n, d)`` float64 and the column names."""
    path = DATA / name
    with open(path) as f:
        header = f.readline().strip().split(",")
    raw = np.genfromtxt(path, delimiter=",", skip_header=1, dtype=str)
    keep = [j for j in range(raw.shape[1]) if _is_float(raw[0, j])]
    return raw[:, keep].astype(np.float64), [header[j] for j in keep]


def _is_float(s):
    try:
        float(s)
    except ValueError:
        return False
    return True


def prepared(x, model=None, *, batched=False, precondition="whiten"):
    """The standardised problem ``fit`` would solve (internal API, for loop-level tests)."""
    from mle_jax import Gaussian
    from mle_jax._problem import prepare
    from mle_jax._statistics import collect

    return prepare(collect(x, batched=batched), model or Gaussian(), precondition)


def fd_hessian(f, theta0, h):
    """Central finite-difference Hessian of a scalar ``f`` at ``theta0`` with steps ``h``."""
    p = len(theta0)
    hess = np.zeros((p, p))
    for i in range(p):
        for j in range(p):
            ei, ej = np.eye(p)[i] * h[i], np.eye(p)[j] * h[j]
            plus = f(theta0 + ei + ej) + f(theta0 - ei - ej)
            minus = f(theta0 + ei - ej) + f(theta0 - ei + ej)
            hess[i, j] = (plus - minus) / (4 * h[i] * h[j])
    return hess
