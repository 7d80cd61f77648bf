"""diagnostics: numpy statistics of the figures, against scipy.stats and by simulation."""

import sys

import numpy as np
import pytest
from scipy import stats

from mle_jax import diagnostics as dg


def test_no_matplotlib_or_scipy_import():
    import subprocess

    code = (
        "import sys, mle_jax.diagnostics; "
        "print('matplotlib' in sys.modules, 'scipy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_chi2_ppf_matches_scipy():
    p = np.array([0.0, 1e-6, 0.01, 0.3, 0.5, 0.9, 0.999999])
    for df in (1, 2, 3, 7.5, 40):
        np.testing.assert_allclose(
            dg.chi2_ppf(p, df), stats.chi2.ppf(p, df), rtol=1e-10, atol=1e-12
        )
    with pytest.raises(ValueError):
        dg.chi2_ppf(1.0, 2)


def test_beta_ppf_matches_scipy():
    p = np.array([1e-6, 0.01, 0.5, 0.99])
    np.testing.assert_allclose(dg.beta_ppf(p, 3.0, 5.5), stats.beta.ppf(p, 3.0, 5.5), atol=1e-12)


def test_mahalanobis_matches_scipy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(15, 3))
    m = x.mean(0)
    c = np.cov(x.T) + np.eye(3)
    vi = np.linalg.inv(c)
    from scipy.spatial import distance

    expect = np.array([distance.mahalanobis(r, m, vi) ** 2 for r in x])
    np.testing.assert_allclose(dg.mahalanobis_sq(x, m, c), expect, rtol=1e-10)
    # univariate: scalar mean and variance
    np.testing.assert_allclose(dg.mahalanobis_sq([1.0, 3.0], 1.0, 4.0), [0.0, 1.0])


def test_densities_and_score():
    x = np.array([1.0, 2.5, 4.0])
    np.testing.assert_allclose(dg.normal_pdf(x, 2.0, 1.5), stats.norm.pdf(x, 2.0, 1.5), rtol=1e-13)
    np.testing.assert_allclose(
        dg.normal_logpdf(x, 2.0, 1.5), stats.norm.logpdf(x, 2.0, 1.5), rtol=1e-13
    )
    mus = np.array([0.0, x.mean(), 3.0])
    h = 1e-6  # the derivative of the log-likelihood, by central differences
    ll = lambda m: stats.norm.logpdf(x, m, 1.5).sum()  # noqa: E731
    fd = [(ll(m + h) - ll(m - h)) / (2 * h) for m in mus]
    np.testing.assert_allclose(dg.score_mean(x, mus, 1.5), fd, rtol=1e-6, atol=1e-8)
    assert dg.score_mean(x, x.mean(), 1.5) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("n, d", [(40, 1), (150, 3)])
def test_simultaneous_band_covers_gaussian_data_95_percent(n, d):
    band = dg.qq_band(n, d, num_sim=1000)
    pointwise = dg.qq_band(n, d, simultaneous=False)
    assert np.all(band.lower <= pointwise.lower) and np.all(band.upper >= pointwise.upper)
    covered = covered_pw = 0
    trials = 800
    for seed in range(4):  # new data sets, independent of the band's own simulation
        z = np.random.default_rng(100 + seed).normal(size=(trials // 4, n, d))
        dist = dg._sorted_distances_mle(z)
        covered += np.all((dist >= band.lower) & (dist <= band.upper), axis=1).sum()
        covered_pw += np.all((dist >= pointwise.lower) & (dist <= pointwise.upper), axis=1).sum()
    # 95% +- 4 standard errors of 800 trials (0.77%) plus the band's own Monte Carlo error
    assert 0.92 < covered / trials < 0.98, covered / trials
    assert covered_pw / trials < 0.85  # a pointwise band misses some point of most sets


def test_qq_points_and_band_with_true_parameters():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 2))
    theo, dist = dg.qq_points(x, np.zeros(2), np.eye(2))
    np.testing.assert_allclose(theo, stats.chi2.ppf((np.arange(60) + 0.5) / 60, 2), rtol=1e-9)
    np.testing.assert_allclose(dist, np.sort((x**2).sum(1)))
    b = dg.qq_band(60, 2, estimated=False, simultaneous=False, level=0.9)
    i = np.arange(1, 61)
    np.testing.assert_allclose(
        b.lower, stats.chi2.ppf(stats.beta.ppf(0.05, i, 61 - i), 2), rtol=1e-8
    )
    with pytest.raises(ValueError, match="n > d"):
        dg.qq_band(3, 2)
