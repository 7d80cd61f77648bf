"""x64 off (JAX's default): the entry-point x model matrix in float32.

The root conftest turns x64 on for the session; every test here switches it off inside
``jax.enable_x64(False)`` (a context, so the rest of the session is untouched). The rule
checked (``docs/reliability.md``, "float32"): statistics come from the user's own values in
the widest precision the path has (float64 on the host for numpy data, streams, memory maps
and ``fit_many``), never after a silent cast; float32 values that cannot hold the data's
spread (an offset far above it) are refused with the way to enable x64; FIML converges on
every shipped incomplete data set. Data sit at an offset of 3e7, where float32's spacing
(2) is twice the spread: a path that rounds before it reduces is off by ~40% in a variance.
"""

import contextlib
import json
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mle_jax as mj
from mle_jax.sharding import shard_rows

OFFSET = 3e7
REFS = json.loads((Path(__file__).parent / "data" / "missing_references.json").read_text())
INCOMPLETE = {
    "apple": "mvnmle_apple",
    "missvals": "mvnmle_missvals",
    "mdata": "norm_mdata",
    "airquality": "airquality",
}


@contextlib.contextmanager
def x64_off():
    with jax.enable_x64(False), warnings.catch_warnings():
        # float64 data computed in float32: what this module is about
        warnings.filterwarnings("ignore", ".* is float64 but JAX's x64 mode is off", UserWarning)
        yield


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    lam = np.array([[1.0], [0.8], [0.6]])
    x = rng.normal(size=(250, 1)) @ lam.T + rng.normal(size=(250, 3)) * 0.5
    mean = x.mean(0)
    cov = (x - mean).T @ (x - mean) / len(x)
    return x + OFFSET, mean + OFFSET, cov


def close(res, mean, cov, tol=1e-4):
    """Converged, the mean to float32's spacing at the offset (the result is a float32
    number) plus the solve, the covariance to ``tol`` in correlation units."""
    assert bool(np.all(res.converged)), res.message
    sd = np.sqrt(np.diagonal(cov))
    m = np.asarray(res.mean, np.float64)
    c = np.asarray(res.cov, np.float64)
    spacing = np.spacing(np.abs(mean).astype(np.float32)).astype(np.float64)
    assert np.all(np.abs(m - mean) <= spacing + tol * sd), (m - mean, spacing)
    assert np.max(np.abs(c - cov) / np.outer(sd, sd)) < tol, c - cov


def test_float64_data_reduced_in_float64_on_every_host_path(data, tmp_path):
    """numpy, iterator, memory map, fit_many: the statistics of float64 data are float64
    (before: an iterator gave variances ~40% too large, fit_many 0.3-1 sd off, both
    converged=True)."""
    x, mean, cov = data
    np.save(tmp_path / "x.npy", x)
    with x64_off():
        for source in (x, iter(np.array_split(x, 3)), np.load(tmp_path / "x.npy", mmap_mode="r")):
            res = mj.fit(source)
            assert res.cov.dtype == np.float32
            close(res, mean, cov)
        res = mj.fit_many(np.stack([x, x[::-1]]))
        for k in range(2):
            close(res[k], mean, cov)
        for source in (x, iter(np.array_split(x, 3))):  # one factor for 3 columns: saturated
            close(mj.fit(source, mj.FactorAnalysis(1)), mean, cov)


def test_float32_values_that_cannot_hold_the_spread_are_refused(data):
    """float32 arrays (a jax.Array, a sharded one, float32 chunks) at an offset where
    rounding swamps the spread: a ValueError that says so and how to enable x64 (before:
    "constant column", or a variance 20-40% off with converged=True)."""
    x, _, _ = data
    match = r"cannot be represented in float32.*jax_enable_x64"
    with x64_off():
        with pytest.raises(ValueError, match=match):
            mj.fit(jnp.asarray(x))
        with pytest.raises(ValueError, match=match):
            mj.fit_many(jnp.asarray(np.stack([x, x])))
        with pytest.raises(ValueError, match=match):
            mj.fit(iter(np.array_split(x.astype(np.float32), 2)))
        with pytest.raises(ValueError, match=match):
            shard_rows(x)  # refused before the cast
        with pytest.raises(ValueError, match=match):
            mj.fit(x + 1e8, form="raw")  # the raw form holds float32 values on the device


def test_sharded_and_device_arrays_where_float32_holds_the_data(data):
    """At an offset of 1e3 float32 holds the data: shard_rows warns that it stores float32,
    and the fit of the sharded or plain jax.Array is as accurate as float32 is."""
    x, mean, cov = data
    x, mean = x - OFFSET + 1e3, mean - OFFSET + 1e3
    with x64_off():
        with pytest.warns(UserWarning, match="shard_rows stores it as float32"):
            xs, ws = shard_rows(x)
        close(mj.fit(xs, weights=ws), mean, cov)
        close(mj.fit(jnp.asarray(x)), mean, cov)


@pytest.fixture(scope="module")
def fiml():
    with x64_off():
        return {name: mj.fit(mj.load_dataset(name)[0], missing="fiml") for name in INCOMPLETE}


@pytest.mark.parametrize("name", list(INCOMPLETE))
def test_fiml_converges_on_every_shipped_incomplete_data_set(fiml, name):
    """float32 FIML against the references (R's mvnmle, lavaan, OpenMx: accurate to ~2e-5):
    converged, within 3e-5 in standard deviations and correlation units (measured: 1e-6 to
    6e-6 from the float64 fit). Before: missvals stopped at max_steps, gradient 0.36."""
    res = fiml[name]
    ref = REFS["datasets"][INCOMPLETE[name]]
    best = ref["tools"][ref["best"]]
    assert res.mean.dtype == np.float32
    close(res, np.array(best["mean"]), np.array(best["cov"]), tol=3e-5)


def test_fiml_stream_fit_many_and_em_in_float32(fiml):
    """The same float32 FIML through a stream, fit_many, and EM (EM's default tol follows the
    dtype: before, 1e-12 in float32 ran all 100,000 steps)."""
    x = mj.load_dataset("missvals")[0]
    ref = fiml["missvals"]
    mean, cov = np.asarray(ref.mean, np.float64), np.asarray(ref.cov, np.float64)
    with x64_off():
        close(mj.fit(iter(np.array_split(x, 2)), missing="fiml"), mean, cov, tol=3e-5)
        many = mj.fit_many(np.stack([x, x[::-1]]), missing="fiml")
        for k in range(2):
            close(many[k], mean, cov, tol=3e-5)
        em = mj.missing.em(x)
        assert bool(em.converged) and int(em.num_steps) < 1000, int(em.num_steps)
        close(em, mean, cov, 1e-4)


def test_sem_fiml_fit_measures_in_float32():
    """An SEM fit by FIML and its fit measures in float32 (the saturated model by Newton's
    method with the float32 tolerance) against lavaan's float64 references
    (``tests/data/sem_references.json``, HS CFA with missing values): measured 9e-5 in the
    log-likelihood (3e-8 relative), 6e-4 in chi-square, 1e-6 in CFI and RMSEA."""
    pd = pytest.importorskip("pandas")
    root = Path(__file__).resolve().parents[1]
    case = json.loads((root / "tests/data/sem_references.json").read_text())["cases"]
    ref = case["hs_cfa_fiml"]["fit_measures"]
    df = pd.read_csv(root / "tests/data/hs_missing.csv")
    with x64_off(), warnings.catch_warnings():
        warnings.simplefilter("error")  # no unconverged saturated fit
        warnings.filterwarnings("ignore", ".* is float64 but JAX's x64 mode is off", UserWarning)
        res = mj.fit(df, mj.SEM(case["hs_cfa_fiml"]["syntax"]), missing="fiml")
        fm = mj.inference.fit_measures(res)
    assert bool(res.converged) and np.asarray(res.cov).dtype == np.float32
    assert fm["logl"] == pytest.approx(ref["logl"], rel=1e-6)
    assert fm["unrestricted.logl"] == pytest.approx(ref["unrestricted.logl"], rel=1e-6)
    assert fm["chisq"] == pytest.approx(ref["chisq"], abs=5e-3)
    for key in ("cfi", "tli", "rmsea", "srmr"):
        assert fm[key] == pytest.approx(ref[key], abs=2e-5), key
