"""One matrix: every entry point x every model equals its oracle (float64).

Entry points: a numpy array, a ``jax.Array``, a ``jax.Array`` sharded over 8 CPU devices
(``conftest.py``), a memory map, an iterator of chunks, ``fit_many`` (member 1 of 3) and
``form="raw"``. Models: full, diagonal and spherical covariances, a fixed mean, a fixed
covariance, a conjugate prior (MAP). Each oracle is a closed form computed in numpy.
Statistics-based entry points share one compiled loop per model.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import mle_jax as mj

N, D = 64, 3
FIX_MEAN = np.array([1.0, -1.0, 9.0])
FIX_COV = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]])
PRIOR = mj.priors.NormalInverseWishart(np.zeros(D), 2.0, D + 4.0, np.eye(D))
MODELS = {
    "full": mj.Gaussian(),
    "diag": mj.Gaussian("diag"),
    "spherical": mj.Gaussian("spherical"),
    "fix_mean": mj.Gaussian(fix_mean=FIX_MEAN),
    "fix_cov": mj.Gaussian(fix_cov=FIX_COV),
    "prior": mj.Gaussian(prior=PRIOR),
}
ENTRIES = ("numpy", "jax", "sharded", "memmap", "iterator", "fit_many", "raw")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    a = np.array([[1.0, 0.0, 0.0], [0.6, 1.2, 0.0], [-0.3, 0.4, 0.7]])
    return rng.normal(size=(N, D)) @ a.T + np.array([2.0, -1.0, 10.0])


@pytest.fixture(scope="module")
def memmap(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("mm") / "x.npy"
    np.save(path, data)
    return path


def oracle(name, x):
    n = len(x)
    m = x.mean(0)
    s = (x - m).T @ (x - m)
    if name == "full":
        return m, s / n
    if name == "diag":
        return m, np.diag(np.diag(s) / n)
    if name == "spherical":
        return m, np.mean(np.diag(s)) / n * np.eye(D)
    if name == "fix_mean":
        r = x - FIX_MEAN
        return FIX_MEAN, r.T @ r / n
    if name == "fix_cov":
        return m, FIX_COV
    mode = PRIOR.posterior_mode(n, m, s)
    return np.asarray(mode[0]), np.asarray(mode[1])


def run(entry, model, x, memmap_path):
    if entry == "numpy":
        return mj.fit(x, model)
    if entry == "jax":
        return mj.fit(jnp.asarray(x), model)
    if entry == "sharded":
        if jax.device_count() < 8:
            pytest.skip("needs 8 devices (conftest.py sets jax_num_cpu_devices)")
        mesh = jax.make_mesh((8,), ("data",))
        return mj.fit(jax.device_put(x, NamedSharding(mesh, P("data", None))), model)
    if entry == "memmap":
        return mj.fit(np.load(memmap_path, mmap_mode="r"), model)
    if entry == "iterator":
        return mj.fit(iter(np.array_split(x, 5)), model)
    if entry == "fit_many":
        rng = np.random.default_rng(3)
        xs = np.stack([x[rng.permutation(N)] * 1.5 - 2.0, x, x[::-1] + 1.0])
        return mj.fit_many(xs, model)[1]
    return mj.fit(x, model, form="raw")


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("name", list(MODELS))
def test_entry_point_and_model_equal_their_oracle(data, memmap, entry, name):
    res = run(entry, MODELS[name], data, memmap)
    assert bool(res.converged), res.message
    mean, cov = oracle(name, data)
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(res.mean, mean, rtol=0, atol=1e-8 * sd.max())
    np.testing.assert_allclose(res.cov, cov, rtol=0, atol=1e-8 * np.abs(cov).max())
    assert res.model == MODELS[name]
