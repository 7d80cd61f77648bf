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


# ----------------------------------------------------------------- incomplete rows


def _mar(rng, n, mean, cov):
    """Gaussian rows; column 0 missing more often when the last column is high, column 1
    when it is low (missing at random: on an always-observed column), a few rows empty."""
    x = rng.multivariate_normal(mean, cov, size=n)
    z = (x[:, -1] - mean[-1]) / np.sqrt(cov[-1, -1])
    p = 1.0 / (1.0 + np.exp(-2.0 * z))
    x[rng.random(n) < 0.6 * p, 0] = np.nan
    x[rng.random(n) < 0.4 * (1 - p), 1] = np.nan
    return x


MEAN3 = np.array([1.0, -2.0, 10.0])
COV3 = np.array([[2.0, 1.2, 1.0], [1.2, 1.0, 0.6], [1.0, 0.6, 1.5]])


def test_row_distances_against_scipy():
    x = _mar(np.random.default_rng(5), 40, MEAN3, COV3)
    x[3] = np.nan  # nothing observed
    x[4, 2] = np.nan
    r = dg.row_distances(x, MEAN3, COV3)
    obs = ~np.isnan(x)
    for i in range(len(x)):
        o = np.flatnonzero(obs[i])
        assert r.df[i] == o.size
        if o.size == 0:
            assert np.isnan([r.dist[i], r.prob[i], r.pvalue[i], r.equivalent[i]]).all()
            continue
        res = x[i, o] - MEAN3[o]
        expect = res @ np.linalg.solve(COV3[np.ix_(o, o)], res)
        np.testing.assert_allclose(r.dist[i], expect, rtol=1e-12)
    some = r.df > 0
    np.testing.assert_allclose(r.prob[some], stats.chi2.cdf(r.dist, r.df)[some], rtol=1e-12)
    np.testing.assert_allclose(r.pvalue[some], stats.chi2.sf(r.dist, r.df)[some], rtol=1e-12)
    ref = stats.chi2.ppf(stats.chi2.cdf(r.dist[some], r.df[some]), 3)
    np.testing.assert_allclose(r.equivalent[some], ref, rtol=1e-9)
    complete = r.df == 3  # the same float as the distance: nothing mapped
    assert np.array_equal(r.equivalent[complete], r.dist[complete])
    np.testing.assert_array_equal(r.dist[complete], dg.mahalanobis_sq(x[complete], MEAN3, COV3))
    # an outlier keeps its upper-tail precision (1 - prob would be 0)
    far = dg.row_distances([[30.0, np.nan]], [0.0, 0.0], np.eye(2))
    np.testing.assert_allclose(far.pvalue, stats.chi2.sf(900.0, 1), rtol=1e-10)
    np.testing.assert_allclose(far.equivalent, stats.chi2.isf(far.pvalue, 2), rtol=1e-10)


def test_mar_probabilities_uniform_under_the_true_model():
    """Known parameters: each row's probability is uniform (exactly under MCAR; under this
    MAR mechanism the selection tilt is ~0.002 in Kolmogorov distance), pooled over
    patterns with 1, 2 and 3 observed columns; a wrong covariance is rejected. Referring
    every row to chi-square(d) (as if complete) shifts the incomplete ones far down."""
    x = _mar(np.random.default_rng(6), 3000, MEAN3, COV3)
    r = dg.row_distances(x, MEAN3, COV3)
    assert set(np.unique(r.df)) == {1, 2, 3} and np.mean(r.df < 3) > 0.3
    assert stats.kstest(r.prob, "uniform").pvalue > 0.01
    wrong = dg.row_distances(x, MEAN3, np.diag(np.diag(COV3)))  # correlations left out
    assert stats.kstest(wrong.prob, "uniform").pvalue < 1e-6
    as_if_complete = stats.chi2.cdf(r.dist, 3)
    assert stats.kstest(as_if_complete, "uniform").pvalue < 1e-30


def test_qq_data_complete_is_the_complete_data_path():
    """Complete data: the sorted distances, chi-square(d) quantiles and qq_band of n rows,
    unchanged; with NaN rows, those rows' points move and the complete ones do not."""
    rng = np.random.default_rng(7)
    x = rng.multivariate_normal(MEAN3, COV3, size=50)
    q = dg.qq_data(x, MEAN3, COV3)
    assert np.array_equal(q.distance, np.sort(dg.mahalanobis_sq(x, MEAN3, COV3)))
    np.testing.assert_allclose(q.theoretical, stats.chi2.ppf((np.arange(50) + 0.5) / 50, 3))
    band = dg.qq_band(50, 3)
    assert q.band is not None and np.array_equal(q.band.lower, band.lower)
    assert np.array_equal(q.outside, (q.distance < band.lower) | (q.distance > band.upper))
    assert (q.d, q.n_incomplete, q.n_empty) == (3, 0, 0)
    np.testing.assert_array_equal(dg.mahalanobis_sq(x[q.rows], MEAN3, COV3), q.distance)
    theo, dist = dg.qq_points(x, MEAN3, COV3)
    assert np.array_equal(theo, q.theoretical) and np.array_equal(dist, q.distance)
    x[:5, 0] = np.nan
    x[5] = np.nan
    q = dg.qq_data(x, MEAN3, COV3, band="pointwise")
    assert (q.distance.size, q.n_incomplete, q.n_empty) == (49, 5, 1)
    assert q.band is not None and not q.band.simultaneous
    r = dg.row_distances(x, MEAN3, COV3)
    np.testing.assert_array_equal(q.distance, r.equivalent[q.rows])
    assert 5 not in q.rows and np.all(np.diff(q.distance) >= 0)
    one_d = dg.qq_data([1.0, np.nan, -0.5, 2.0, 0.1], 0.0, 1.0, band=False)
    assert one_d.band is None and one_d.rows.tolist() == [4, 2, 0, 3]
    np.testing.assert_allclose(one_d.distance, [0.01, 0.25, 1.0, 4.0])
