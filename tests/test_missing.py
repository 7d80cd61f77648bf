"""Missing data through the pipeline: fit(missing=...) against EM, closed forms and references.

The math of the pattern statistics, the FIML NLL and EM is tested in test_missing_math.py;
here every entry point that takes ``missing=`` is checked against an oracle: EM (an
independent algorithm), the monotone closed form, the per-column closed form of a diagonal
model, complete-data fits, finite differences and the R references of
``tests/data/missing_references.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest

import mle_jax as mj
from mle_jax.missing import fiml_nll, monotone_mle, pattern_stats

from .helpers import fd_hessian

REFS = json.loads((Path(__file__).parent / "data" / "missing_references.json").read_text())
SETS = {"apple": "mvnmle_apple", "missvals": "mvnmle_missvals", "mdata": "norm_mdata"}
SETS["airquality"] = "airquality"


def scale_rel(a_mean, a_cov, b_mean, b_cov):
    """Largest error in standard deviations (mean) and correlation units (cov)."""
    sd = np.sqrt(np.diagonal(np.asarray(b_cov)))
    e_mean = np.max(np.abs(np.asarray(a_mean) - b_mean) / sd)
    e_cov = np.max(np.abs(np.asarray(a_cov) - b_cov) / np.outer(sd, sd))
    return max(e_mean, e_cov)


def mcar(rng, n=300, d=4, share=0.2):
    a = rng.normal(size=(d, d))
    x = rng.normal(size=(n, d)) @ (a + d * np.eye(d)).T + rng.normal(size=d) * 5
    x[rng.random(x.shape) < share] = np.nan
    x[np.isnan(x).all(axis=1), 0] = 1.0  # no empty rows
    return x


@pytest.fixture(scope="module")
def fits():
    out = {}
    for name in SETS:
        x, cols = mj.load_dataset(name)
        out[name] = (x, mj.fit(x, missing="fiml", columns=cols), mj.missing.em(x, columns=cols))
    return out


@pytest.mark.parametrize("name", list(SETS))
def test_fiml_equals_em_and_the_references(fits, name):
    x, res, em = fits[name]
    assert bool(res.converged) and bool(em.converged), (res.message, em.message)
    assert scale_rel(res.mean, res.cov, em.mean, em.cov) < 1e-8
    np.testing.assert_allclose(res.nll, em.nll, rtol=1e-12)
    ref = REFS["datasets"][SETS[name]]
    best = ref["tools"][ref["best"]]
    # the references' -2 log-likelihood (2*pi included) to 1e-10; estimates to the tools'
    # own accuracy (lavaan and mlest stop ~1e-6 to 1e-5 from the optimum on flat problems)
    np.testing.assert_allclose(2 * float(res.nll), best["m2ll_recomputed"], rtol=1e-10)
    assert scale_rel(res.mean, res.cov, np.array(best["mean"]), np.array(best["cov"])) < 2e-5


@pytest.mark.parametrize("name", ["missvals", "airquality"])
def test_float32_input_fits_in_float32_to_its_accuracy(fits, name):
    """float32 FIML against the float64 fit: 2.7e-6 (missvals, nearly collinear and flat) to
    3.6e-6 scale-relative on the four data sets (python -m benchmarks.missing_datasets)."""
    x, res, _ = fits[name]
    r32 = mj.fit(x.astype(np.float32), missing="fiml")
    assert r32.mean.dtype == np.float32 and bool(r32.converged), r32.message
    assert scale_rel(r32.mean, r32.cov, np.asarray(res.mean), np.asarray(res.cov)) < 2e-5


@pytest.mark.parametrize("name", ["apple", "missvals"])
def test_monotone_patterns_have_a_closed_form(fits, name):
    x, res, _ = fits[name]
    mean, cov = monotone_mle(x)
    assert scale_rel(res.mean, res.cov, mean, cov) < 1e-8


def test_apple_size_mean_uses_all_rows_dropping_rows_biases_it(fits):
    x, res, _ = fits["apple"]
    np.testing.assert_allclose(res.mean[0], np.mean(x[:, 0]), rtol=1e-9)  # always observed
    with pytest.warns(UserWarning, match="dropped 6 of 18 rows"):
        drop = mj.fit(x, missing="drop")
    complete = x[~np.isnan(x).any(axis=1)]
    np.testing.assert_allclose(drop.mean, complete.mean(0), rtol=1e-10)
    assert abs(float(drop.mean[0]) - 14.72) > 4.0  # 19.0 from 12 complete rows vs 14.72


def test_complete_data_give_the_complete_fit():
    x = np.random.default_rng(0).normal(size=(80, 3))
    a, b = mj.fit(x), mj.fit(x, missing="fiml")
    np.testing.assert_array_equal(a.cov, b.cov)
    assert isinstance(b.stats, mj.stats.SuffStats)


def test_raise_is_the_default_and_names_the_options():
    x = mcar(np.random.default_rng(1), n=30)
    with pytest.raises(ValueError, match="missing='fiml'.*missing='drop'.*biases"):
        mj.fit(x)


def test_rows_without_an_observed_entry_are_dropped_with_a_warning():
    x = mcar(np.random.default_rng(2), n=60, d=3)  # d = 3: the FIML loop of the tests below
    both = np.vstack([x, np.full((2, 3), np.nan)])
    with pytest.warns(UserWarning, match="dropped 2 of 62 rows that have no observed entry"):
        res = mj.fit(both, missing="fiml")
    np.testing.assert_allclose(res.cov, mj.fit(x, missing="fiml").cov, rtol=1e-8)


def test_identification_errors_name_the_columns():
    x = np.random.default_rng(3).normal(size=(40, 3))
    x[:20, 1] = np.nan
    x[20:, 2] = np.nan  # columns 1 and 2 never observed together
    with pytest.raises(ValueError, match=r"column 1 \('b'\) and column 2 \('c'\).*never observed"):
        mj.fit(x, missing="fiml", columns=["a", "b", "c"])
    y = x.copy()
    y[:, 0] = np.nan
    with pytest.raises(ValueError, match="column 0 is never observed"):
        mj.fit(y, missing="fiml")
    assert bool(mj.fit(x, mj.Gaussian(ridge=0.1), missing="fiml").converged)  # regularised


def test_weights_are_replication():
    rng = np.random.default_rng(4)
    x = mcar(rng, n=80, d=3)
    w = rng.integers(0, 3, size=len(x))
    w[np.isnan(x).all(axis=1)] = 0
    a = mj.fit(x, weights=w, missing="fiml")
    b = mj.fit(np.repeat(x, w, axis=0), missing="fiml")
    assert scale_rel(a.mean, a.cov, np.asarray(b.mean), np.asarray(b.cov)) < 1e-8


def test_diagonal_model_is_per_column_observed_moments():
    x = mcar(np.random.default_rng(5))
    res = mj.fit(x, mj.Gaussian("diag"), missing="fiml")
    mean, var = np.nanmean(x, axis=0), np.nanvar(x, axis=0)
    np.testing.assert_allclose(res.mean, mean, rtol=1e-9)
    np.testing.assert_allclose(np.diagonal(res.cov), var, rtol=1e-8)


def test_fixed_mean_and_prior_with_missing_data_are_stationary():
    x = mcar(np.random.default_rng(6), d=3)
    fixed = mj.fit(x, mj.Gaussian(fix_mean=np.zeros(3)), missing="fiml")
    assert bool(fixed.converged)
    np.testing.assert_array_equal(fixed.mean, 0.0)
    prior = mj.priors.NormalInverseWishart(np.zeros(3), 1.0, 6.0, np.eye(3))
    post = mj.fit(x, mj.Gaussian(prior=prior), missing="fiml")
    assert bool(post.converged)
    # the prior pulls the covariance towards psi / (dof + d + 2): smaller than the MLE's
    mle = mj.fit(x, missing="fiml")
    assert np.trace(np.asarray(post.cov)) < np.trace(np.asarray(mle.cov))


def test_standard_errors_are_the_observed_information_of_the_observed_data(fits):
    x, res, _ = fits["apple"]
    ps, _ = pattern_stats(x)
    d = 2
    rows, cols = np.tril_indices(d)

    jit_nll = jax.jit(fiml_nll)  # 100 evaluations: one compile, not eager op by op

    def nll(theta):
        mean = theta[:d]
        cov = np.zeros((d, d))
        cov[rows, cols] = theta[d:]
        cov[cols, rows] = theta[d:]
        return float(jit_nll(mean, np.linalg.cholesky(cov), ps))

    cov = np.asarray(res.cov)
    theta0 = np.concatenate([np.asarray(res.mean), cov[rows, cols]])
    hess = fd_hessian(nll, theta0, 1e-4 * np.maximum(np.abs(theta0), 1.0))
    se = mj.standard_errors(res)
    want = np.linalg.inv(hess)
    np.testing.assert_allclose(se.vcov, want, rtol=1e-5, atol=1e-7 * np.abs(want).max())
    # more uncertainty than if the 6 missing worm counts had been seen
    full = mj.standard_errors(mj.fit(np.nan_to_num(x, nan=49.3)))
    assert float(se.mean[1]) > float(full.mean[1])


def test_summary_reports_patterns_and_share_missing(fits, capsys):
    _, res, _ = fits["airquality"]
    out = mj.summary(res)
    assert "4 missingness patterns" in out.text and "Ozone 24.2%" in out.text
    lo, hi = mj.inference.profile_interval(res, "var[Ozone]")
    assert lo < float(res.cov[0, 0]) < hi


def test_fit_many_and_streams_equal_single_fits():
    rng = np.random.default_rng(7)
    xs = np.stack([mcar(rng, n=120, d=3) for _ in range(3)])
    many = mj.fit_many(xs, missing="fiml")
    assert bool(many.converged.all())
    for k in range(3):
        one = mj.fit(xs[k], missing="fiml")
        assert (
            scale_rel(many.mean[k], many.cov[k], np.asarray(one.mean), np.asarray(one.cov)) < 1e-8
        )
    se = mj.standard_errors(many)  # one call for the batch
    np.testing.assert_allclose(se.mean[1], mj.standard_errors(mj.fit(xs[1], missing="fiml")).mean)
    stream = mj.fit(iter(np.array_split(xs[0], 4)), missing="fiml")
    one = mj.fit(xs[0], missing="fiml")
    assert scale_rel(stream.mean, stream.cov, np.asarray(one.mean), np.asarray(one.cov)) < 1e-8
    with pytest.warns(UserWarning, match=r"dropped 168 of 360 rows .*: 57 in xs\[0\]"):
        drop = mj.fit_many(xs, missing="drop")
    complete = xs[0][~np.isnan(xs[0]).any(axis=1)]
    np.testing.assert_allclose(drop.mean[0], complete.mean(0), rtol=1e-9)


def test_fiml_is_jit_and_grad_friendly_on_device_input():
    x = mcar(np.random.default_rng(8), n=50, d=3)
    a = mj.fit(jax.numpy.asarray(x), missing="fiml")
    b = mj.fit(x, missing="fiml")
    np.testing.assert_allclose(a.cov, b.cov, rtol=1e-10)
