"""The chunked host statistics (mle_jax._stats_np) against exact and independent oracles."""

from fractions import Fraction

import numpy as np
import pytest

import mle_jax as mj
from mle_jax import _stats_np
from mle_jax._stats_np import suff_stats_np


def _exact_mean(x, w=None):
    """Column means in exact rational arithmetic, rounded once."""
    n, d = x.shape
    w = np.ones(n) if w is None else w
    tw = sum(Fraction(float(v)) for v in w)

    def col(j):
        return sum(Fraction(float(a)) * Fraction(float(b)) for a, b in zip(x[:, j], w, strict=True))

    return np.array([float(col(j) / tw) for j in range(d)])


def _ref_scatter(x, w=None):
    """Two-pass scatter in float64 centred at the exact mean."""
    xc = x.astype(np.float64) - _exact_mean(x, w)[None, :]
    wx = xc if w is None else xc * w[:, None]
    return xc.T @ wx


@pytest.fixture(params=[7, 64, 1 << 17], ids=["tiny-chunks", "chunks", "one-chunk"])
def chunk(request, monkeypatch):
    """Run each test with several chunk sizes, so boundaries and remainders are exercised."""
    monkeypatch.setattr(_stats_np, "_CHUNK_ELEMENTS", request.param)
    return request.param


@pytest.mark.parametrize("offset", [0.0, 1e8])
def test_matches_exact_mean_and_centred_scatter(chunk, offset):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(301, 3)) @ np.array([[2.0, 0, 0], [0.5, 1, 0], [-1, 0.3, 0.2]]) + offset
    count, mean, scatter = suff_stats_np(x)
    assert count == 301.0 and mean.dtype == scatter.dtype == np.float64
    np.testing.assert_allclose(mean, _exact_mean(x), rtol=1e-15, atol=0)
    ref = _ref_scatter(x)
    np.testing.assert_allclose(scatter, ref, rtol=0, atol=1e-12 * np.abs(ref).max())


def test_weights_equal_repeated_rows(chunk):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 2)) + 1e6
    w = rng.integers(0, 4, size=50)
    count, mean, scatter = suff_stats_np(x, w)
    c2, m2, s2 = suff_stats_np(np.repeat(x, w, axis=0))
    assert count == c2 == w.sum()
    np.testing.assert_allclose(mean, m2, rtol=1e-15)
    np.testing.assert_allclose(scatter, s2, rtol=1e-10, atol=1e-10 * np.abs(s2).max())


def test_float32_chunks_and_integers(chunk):
    rng = np.random.default_rng(2)
    x32 = rng.normal(size=(400, 4)).astype(np.float32) * 3 + 5
    _, mean, scatter = suff_stats_np(x32)
    x64 = x32.astype(np.float64)
    np.testing.assert_allclose(mean, _exact_mean(x64), rtol=1e-6)
    np.testing.assert_allclose(scatter, _ref_scatter(x64), rtol=1e-5, atol=1e-4)
    xi = rng.integers(-5, 5, size=(100, 2))
    _, mean, scatter = suff_stats_np(xi)
    np.testing.assert_allclose(mean, xi.mean(0), rtol=1e-15)
    np.testing.assert_allclose(scatter, _ref_scatter(xi), rtol=1e-13)


def test_input_not_mutated_and_nan_propagates():
    x = np.random.default_rng(3).normal(size=(20, 2))
    before = x.copy()
    suff_stats_np(x)
    np.testing.assert_array_equal(x, before)
    x[4, 1] = np.nan
    _, mean, scatter = suff_stats_np(x)
    assert not np.isfinite(mean[1]) and not np.all(np.isfinite(scatter))


def test_fit_and_closed_form_take_the_host_path_and_agree_with_device_path():
    """numpy input (host statistics) and jax input (device statistics) give the same fit."""
    import jax.numpy as jnp

    rng = np.random.default_rng(4)
    x = rng.normal(size=(500, 3)) + 1e4
    a, b = mj.fit(x), mj.fit(jnp.asarray(x))
    np.testing.assert_allclose(a.cov, b.cov, rtol=1e-8)
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-12)
    cf, cf_dev = mj.closed_form(x), mj.closed_form(jnp.asarray(x))
    np.testing.assert_allclose(cf.cov, cf_dev.cov, rtol=1e-10)
    np.testing.assert_allclose(cf.mean, cf_dev.mean, rtol=1e-14)


def test_bijections_numpy_path_equals_jax_path_with_batch_axes():
    """chol_from_raw/raw_from_chol on numpy arrays (the host fast path) match the jnp path."""
    import jax.numpy as jnp

    from mle_jax._bijections import chol_from_raw, raw_from_chol

    raw = np.random.default_rng(6).normal(size=(3, 2, 10))
    chol = chol_from_raw(raw)
    assert isinstance(chol, np.ndarray) and chol.shape == (3, 2, 4, 4)
    for i in range(3):
        for j in range(2):
            jax_chol = chol_from_raw(jnp.asarray(raw[i, j]))
            np.testing.assert_allclose(chol[i, j], jax_chol, rtol=1e-15)
            np.testing.assert_allclose(raw_from_chol(chol[i, j]), raw[i, j], rtol=1e-14, atol=1e-15)
    # invalid factors give -inf/nan like the jnp path, without numpy warnings
    np.testing.assert_array_equal(raw_from_chol(np.zeros((2, 2))), [-np.inf, 0.0, -np.inf])


def test_non_contiguous_input_gives_the_same_statistics(chunk):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(202, 3)) + 1e6
    for view in (np.asfortranarray(x), x[::2], x[:, ::-1]):
        want = suff_stats_np(np.ascontiguousarray(view))
        got = suff_stats_np(view)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-15)
        np.testing.assert_allclose(got[2], want[2], rtol=1e-12, atol=1e-12 * np.abs(want[2]).max())
