"""fit_many: a batch of fits equals a loop of single fits and the closed form per member."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

import mle_jax as mj
from mle_jax import _batch as batch_mod

from .helpers import random_gaussian

ROOT = Path(__file__).resolve().parents[1]


def _closed_forms(xs, w=None):
    """Vectorised numpy closed forms (the oracle): (B, d) means, (B, d, d) covariances."""
    w = np.ones(xs.shape[:2]) if w is None else np.asarray(w, np.float64)
    n = w.sum(1)
    mean = np.einsum("bn,bnd->bd", w, xs) / n[:, None]
    xc = xs - mean[:, None, :]
    cov = np.einsum("bn,bni,bnj->bij", w, xc, xc) / n[:, None, None]
    return mean, cov


def _mixed_batch(rng, batch=5, n=60, d=3):
    """Members on very different scales: a 1e8 offset, cond 1e6, tiny units."""
    xs = np.stack([random_gaussian(rng, d, n) for _ in range(batch)])
    xs[1] = random_gaussian(rng, d, n, offset=1e8)
    xs[2] = random_gaussian(rng, d, n, cond=1e6)
    xs[3] = xs[3] * 1e-6
    return xs


def _assert_close_to(res_k, ref, rtol):
    cov = np.atleast_2d(np.asarray(ref[1]))
    std = np.sqrt(np.max(np.diagonal(cov)))
    # a mean near 1e8 is only known to its last bit: allow a few ulps of |mean|
    room = rtol * std + 4 * np.finfo(np.float64).eps * np.abs(ref[0])
    assert np.all(np.abs(np.asarray(res_k[0]) - ref[0]) <= room)
    assert np.max(np.abs(np.atleast_2d(res_k[1]) - cov)) / np.max(np.abs(cov)) < rtol


def _assert_covs_close(actual, desired, rtol):
    """Scale-relative: each member's error over its largest covariance entry."""
    actual, desired = np.asarray(actual), np.asarray(desired)
    err = np.abs(actual - desired).reshape(len(desired), -1).max(1)
    assert np.all(err <= rtol * np.abs(desired).reshape(len(desired), -1).max(1)), err


def test_equals_loop_of_single_fits_and_closed_form():
    rng = np.random.default_rng(0)
    xs = _mixed_batch(rng)
    res = mj.fit_many(xs)
    assert res.mean.shape == (5, 3) and res.cov.shape == (5, 3, 3) and res.status.shape == (5,)
    assert res.num_steps.shape == (5,) and res.grad_norm.shape == (5,) and res.nll.shape == (5,)
    assert bool(res.converged.all()), res.message
    cf_mean, cf_cov = _closed_forms(xs)
    for k in range(xs.shape[0]):
        one = mj.fit(xs[k])
        _assert_close_to((res.mean[k], res.cov[k]), (np.asarray(one.mean), one.cov), 1e-8)
        _assert_close_to((res.mean[k], res.cov[k]), (cf_mean[k], cf_cov[k]), 1e-8)
        np.testing.assert_allclose(res.nll[k], one.nll, rtol=1e-10)
        assert float(res.grad_norm[k]) <= 1e-9
    # the NLL reported is the data's total NLL at the estimate
    k = 2
    direct = mj.nll(mj.MvnParams.from_mean_cov(res.mean[k], res.cov[k]), xs[k])
    np.testing.assert_allclose(res.nll[k], direct, rtol=1e-10)


def test_univariate_batch():
    rng = np.random.default_rng(1)
    xs = rng.normal(3.0, 2.0, size=(4, 40)) + np.arange(4)[:, None] * 1e6
    res = mj.fit_many(xs)
    assert res.mean.shape == (4,) and res.cov.shape == (4,) and res.std.shape == (4,)
    np.testing.assert_allclose(res.mean, xs.mean(1), rtol=1e-12)
    np.testing.assert_allclose(res.cov, xs.var(1), rtol=1e-8)
    np.testing.assert_allclose(res.std, xs.std(1), rtol=1e-8)
    np.testing.assert_allclose(res.cov[3], mj.fit(xs[3]).cov, rtol=1e-8)


def test_ragged_data_with_padding_and_weights():
    rng = np.random.default_rng(2)
    # five members of d = 3: the statistics-form loops of the test above (B = 5, and d = 3 alone)
    sets = [random_gaussian(rng, 3, n) for n in (30, 55, 41, 26, 47)]
    freq = [rng.integers(1, 4, size=len(s)).astype(float) for s in sets]
    xs, w = mj.pad_batch(sets, freq)
    assert xs.shape == (5, 55, 3) and w[0, 30:].sum() == 0
    cf_mean, cf_cov = _closed_forms(xs, w)
    for form in ("stats", "raw"):
        res = mj.fit_many(xs, weights=w, form=form)
        for k, s in enumerate(sets):
            one = mj.fit(s, weights=freq[k])
            _assert_close_to((res.mean[k], res.cov[k]), (np.asarray(one.mean), one.cov), 1e-8)
            _assert_close_to((res.mean[k], res.cov[k]), (cf_mean[k], cf_cov[k]), 1e-8)
            np.testing.assert_allclose(res.count[k], freq[k].sum())
    # a boolean mask is a weight of 0/1
    mask = w > 0
    res = mj.fit_many(xs, weights=mask)
    _assert_covs_close(res.cov[:1], np.cov(sets[0].T, bias=True)[None], 1e-8)


@pytest.mark.parametrize("batch_size", [None, 1])
def test_vmap_and_lax_map_agree(batch_size):
    rng = np.random.default_rng(3)
    xs = _mixed_batch(rng)
    ref = mj.fit_many(xs, batch_size=None)
    res = mj.fit_many(xs, batch_size=batch_size)
    _assert_covs_close(res.cov, ref.cov, 1e-9)
    np.testing.assert_allclose(res.mean, ref.mean, rtol=1e-12)


def test_invalid_member_is_named_or_skipped():
    rng = np.random.default_rng(4)
    xs = _mixed_batch(rng)
    good = xs.copy()
    xs[2][:, 1] = 7.0  # a constant column
    xs[4][3, 0] = np.nan
    before = xs.copy()
    with pytest.raises(ValueError, match=r"2 of 5 data sets") as err:
        mj.fit_many(xs)
    assert "xs[2] column 1 is constant" in str(err.value)
    assert "xs[4] contains 1 non-finite" in str(err.value)
    res = mj.fit_many(xs, on_invalid="skip")
    np.testing.assert_array_equal(xs[~np.isnan(xs)], before[~np.isnan(before)])  # not mutated
    assert res.status.tolist() == [0, 0, 3, 0, 3]
    assert res.message[2].startswith("not fitted") and not bool(res.converged[2])
    assert np.isnan(res.cov[2]).all() and np.isnan(res.nll[4]) and int(res.num_steps[4]) == 0
    # the others are what they are without the bad members (to rounding: XLA may vectorise
    # a batch differently, never mixing members)
    keep = [0, 1, 3]
    ref = mj.fit_many(good)
    _assert_covs_close(np.asarray(res.cov)[keep], np.asarray(ref.cov)[keep], 1e-9)
    np.testing.assert_allclose(np.asarray(res.mean)[keep], np.asarray(ref.mean)[keep], rtol=1e-12)
    # all-zero weights and too few samples are invalid too
    w = np.ones(xs.shape[:2])
    w[1] = 0
    w[3, 3:] = 0
    with pytest.raises(ValueError, match=r"xs\[1\] are all zero") as err:
        mj.fit_many(good, weights=w)
    assert "xs[3] has 3 samples for d = 3" in str(err.value)
    # ridge regularises a degenerate member, as in fit
    res = mj.fit_many(np.where(np.isnan(xs), 0.0, xs), mj.Gaussian(ridge=0.1))
    _assert_covs_close(res.cov[2:3], mj.fit(xs[2], mj.Gaussian(ridge=0.1)).cov[None], 1e-8)


def test_badly_conditioned_member_does_not_spoil_the_others():
    rng = np.random.default_rng(5)
    xs = _mixed_batch(rng)
    mixed = xs.copy()
    mixed[0] = random_gaussian(rng, 3, 60, cond=1e9)  # valid but nearly singular
    res = mj.fit_many(mixed)
    alone = mj.fit_many(xs)
    _assert_covs_close(res.cov[1:], alone.cov[1:], 1e-9)
    np.testing.assert_array_equal(res.status, np.zeros(5))
    _assert_covs_close(res.cov[:1], _closed_forms(mixed[:1])[1], 1e-6)


def test_init_shared_or_per_member_and_errors():
    rng = np.random.default_rng(6)
    xs = _mixed_batch(rng)
    cf_mean, cf_cov = _closed_forms(xs)
    res = mj.fit_many(xs, init=(cf_mean, cf_cov))  # start at the answer
    assert bool(res.converged.all()) and int(res.num_steps.max()) <= 2
    _assert_covs_close(res.cov, cf_cov, 1e-8)
    plain = rng.normal(size=xs.shape) * [1.0, 2.0, 3.0]
    res = mj.fit_many(plain, init=(np.zeros(3), np.eye(3)))  # one start for all
    assert bool(res.converged.all())
    _assert_covs_close(res.cov, _closed_forms(plain)[1], 1e-8)
    with pytest.raises(ValueError, match="init has mean shape"):
        mj.fit_many(xs, init=(cf_mean[:2], cf_cov[:2]))
    with pytest.raises(ValueError, match=r"\(B, n, d\)"):
        mj.fit_many(xs[0, 0])
    with pytest.raises(TypeError, match="real numbers"):
        mj.fit_many(xs.astype(complex))
    with pytest.raises(ValueError, match="weights must have shape"):
        mj.fit_many(xs, weights=np.ones(3))
    with pytest.raises(ValueError, match="on_invalid"):
        mj.fit_many(xs, on_invalid="ignore")
    with pytest.raises(ValueError, match="batch_size"):
        mj.fit_many(xs, batch_size=0)


def test_no_recompilation_on_second_call():
    xs = _mixed_batch(np.random.default_rng(7))
    mj.fit_many(xs)
    size = batch_mod.solve_many._cache_size()
    mj.fit_many(xs + 1.0)
    assert batch_mod.solve_many._cache_size() == size


_HAZARD = textwrap.dedent(
    """
    import os, time
    import jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np, mle_jax as mj
    print("cpus", len(os.sched_getaffinity(0)), flush=True)
    xs = np.random.default_rng(0).normal(size=(1000, 200, 3)) * [1.0, 2.0, 3.0] + 5.0
    for form in ("stats", "raw"):
        t = time.perf_counter()
        res = mj.fit_many(xs, form=form, batch_size=None)  # one vmap: the reported hazard
        assert bool(res.converged.all()), form
        m = xs.mean(1)
        assert np.abs(np.asarray(res.mean) - m).max() < 1e-8, form
        print(form, "%.1fs" % (time.perf_counter() - t), flush=True)
    # batched standard errors of the same fits, called repeatedly: a whole-batch vmap of
    # the Hessian hung on the 5th-8th call (docs/design-notes.md, "CPU runtime deadlock")
    for _ in range(100):
        se = np.asarray(mj.standard_errors(res).mean)
    assert np.all(np.isfinite(se))
    print("se", flush=True)
    """
)


def test_batch_of_1000_finishes_on_all_cores_under_a_hard_timeout():
    """A jitted vmap of an L-BFGS while_loop was seen to hang on 2-core CPUs for B >= 200.

    Run B = 1000 fits of (200, 3) (stats and raw forms, one vmap each) and 100 calls of
    their batched standard errors in a fresh process that may use every core, and fail
    (instead of hanging the suite) after 300 s.
    """
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("XLA_FLAGS", None)
    try:
        out = subprocess.run(
            [sys.executable, "-c", _HAZARD], env=env, capture_output=True, text=True, timeout=300
        )
    except subprocess.TimeoutExpired as err:  # pragma: no cover - the hazard itself
        pytest.fail(f"fit_many(B=1000) did not finish in 300 s (hang?): {err.stdout}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "stats" in out.stdout and "raw" in out.stdout and "se" in out.stdout
    assert int(out.stdout.split()[1]) == len(os.sched_getaffinity(0))


def test_jax_array_input_stays_float32():
    xs = np.random.default_rng(8).normal(size=(3, 50, 2)).astype(np.float32)
    res = mj.fit_many(jax.numpy.asarray(xs))
    assert res.cov.dtype == np.float32 and bool(res.converged.all())
    _assert_covs_close(res.cov, _closed_forms(xs.astype(np.float64))[1], 1e-4)


_GPU = [d for d in jax.devices() if d.platform == "gpu"]


@pytest.mark.skipif(not _GPU, reason="needs a GPU (pip install -e '.[cuda12]')")
def test_fit_many_on_the_gpu_equals_the_cpu():
    xs = _mixed_batch(np.random.default_rng(9))
    res = mj.fit_many(xs)  # the default device: the GPU
    assert {d.platform for d in res.status.devices()} == {"gpu"}  # the loop ran there
    with jax.default_device(jax.devices("cpu")[0]):
        ref = mj.fit_many(xs)
    _assert_covs_close(res.cov, ref.cov, 1e-9)
    _assert_covs_close(res.cov, _closed_forms(xs)[1], 1e-8)
