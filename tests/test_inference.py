"""Inference: standard errors, Wald and profile-likelihood intervals, model choice, summary.

Oracles: the closed-form standard errors of the Gaussian MLE, finite differences of the NLL,
closed-form profile likelihoods and a brute-force profile (scipy's BFGS for the inner
minimisation), scipy's normal quantiles and densities.
"""

import jax
import numpy as np
import pytest
import scipy.optimize
import scipy.stats

import mle_jax as mj
from mle_jax import inference

from .helpers import fd_hessian

N = 150
# one fixed mean and one fixed covariance for the module: a model's values are compiled into its
# loop, so every test that fixes a parameter reuses one loop
FIX_MEAN = np.array([2.0, -1.0, 10.0])
FIX_COV = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]])


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    a = np.array([[1.0, 0.0, 0.0], [0.6, 1.2, 0.0], [-0.3, 0.4, 0.7]])
    return rng.normal(size=(N, 3)) @ a.T + np.array([2.0, -1.0, 10.0])


@pytest.fixture(scope="module")
def full(data):
    return mj.fit(data)


def mle(x):
    n = len(x)
    m = x.mean(0)
    return n, m, (x - m).T @ (x - m) / n if x.ndim == 2 else np.mean((x - m) ** 2)


def nll_stats(mean, cov, n, xbar, s):
    """Total NLL from the MLE moments, numpy (an independent implementation)."""
    d = len(xbar)
    r = xbar - mean
    quad = np.trace(np.linalg.solve(cov, n * s + n * np.outer(r, r)))
    return 0.5 * (n * (d * np.log(2 * np.pi) + np.linalg.slogdet(cov)[1]) + quad)


def chol_from(p, d):
    chol = np.zeros((d, d))
    chol[np.tril_indices(d)] = p
    chol[np.diag_indices(d)] = np.exp(np.diag(chol))
    return chol


# ----------------------------------------------------------------------------- standard errors


def test_standard_errors_closed_form(data, full):
    n, m, s = mle(data)
    se = mj.standard_errors(full)
    np.testing.assert_allclose(se.mean, np.sqrt(np.diag(s) / n), rtol=1e-7)
    v = np.diag(s)
    np.testing.assert_allclose(se.cov, np.sqrt((np.outer(v, v) + s**2) / n), rtol=1e-7)
    np.testing.assert_allclose(se.std, np.sqrt(v / (2 * n)), rtol=1e-7)
    assert se.cov.shape == (3, 3) and len(se.names) == 3 + 6 and se.vcov.shape == (9, 9)
    assert se.names[:4] == ("mean[0]", "mean[1]", "mean[2]", "var[0]")


def test_standard_errors_univariate(data):
    x = data[:, 1]
    res = mj.fit(x)
    n, m, var = mle(x)
    se = mj.standard_errors(res)
    sd = np.sqrt(var)
    np.testing.assert_allclose(
        [se.mean, se.cov, se.std],
        [sd / np.sqrt(n), var * np.sqrt(2 / n), sd / np.sqrt(2 * n)],
        rtol=1e-7,
    )
    assert se.names == ("mean", "var")


def test_vcov_is_the_inverse_finite_difference_hessian(data, full):
    """Central differences of the NLL in theta = (mean, lower triangle of cov)."""
    n, m, s = mle(data)
    d = 3
    rows, cols = np.tril_indices(d)
    theta0 = np.concatenate([np.asarray(full.mean), np.asarray(full.cov)[rows, cols]])

    def f(theta):
        cov = np.zeros((d, d))
        cov[rows, cols] = theta[d:]
        cov[cols, rows] = theta[d:]
        return nll_stats(theta[:d], cov, n, m, s)

    hess = fd_hessian(f, theta0, 1e-4 * np.maximum(np.abs(theta0), 0.1))
    se = mj.standard_errors(full)
    want = np.linalg.inv(hess)
    np.testing.assert_allclose(se.vcov, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())


def test_standard_errors_of_model_options(data):
    n, m, s = mle(data)
    v = np.diag(s)
    # diagonal: independent variances, structural zeros have SE 0
    se = mj.standard_errors(mj.fit(data, mj.Gaussian(covariance="diag")))
    np.testing.assert_allclose(np.diag(se.cov), v * np.sqrt(2 / n), rtol=1e-7)
    np.testing.assert_array_equal(np.asarray(se.cov) * (1 - np.eye(3)), 0.0)
    np.testing.assert_allclose(se.mean, np.sqrt(v / n), rtol=1e-7)
    # spherical: one variance from n * d squares
    res = mj.fit(data, mj.Gaussian(covariance="spherical"))
    se = mj.standard_errors(res)
    np.testing.assert_allclose(
        np.diag(se.cov), float(res.cov[0, 0]) * np.sqrt(2 / (n * 3)), rtol=1e-7
    )
    # fixed mean: mean SE 0, covariance SEs of the scatter about the fixed mean
    mu = FIX_MEAN
    res = mj.fit(data, mj.Gaussian(fix_mean=mu))
    sm = (data - mu).T @ (data - mu) / n
    se = mj.standard_errors(res)
    np.testing.assert_array_equal(se.mean, 0.0)
    vm = np.diag(sm)
    np.testing.assert_allclose(se.cov, np.sqrt((np.outer(vm, vm) + sm**2) / n), rtol=1e-7)
    # fixed covariance: SE(mean_i) = sqrt(C_ii / n), nothing else estimated
    c = FIX_COV
    se = mj.standard_errors(mj.fit(data, mj.Gaussian(fix_cov=c)))
    np.testing.assert_allclose(se.mean, np.sqrt(np.diag(c) / n), rtol=1e-9)
    np.testing.assert_array_equal(se.cov, 0.0)


def fiml_nll_rows(mean, cov, x):
    """Total observed-data NLL, scipy densities of each pattern's observed entries."""
    obs = ~np.isnan(x)
    total = 0.0
    for pattern in {tuple(o) for o in obs}:
        o = np.array(pattern)
        rows = x[np.all(obs == o, axis=1)][:, o]
        total -= scipy.stats.multivariate_normal(mean[o], cov[np.ix_(o, o)]).logpdf(rows).sum()
    return total


@pytest.mark.parametrize("missing", ["raise", "fiml"])
def test_ridge_standard_errors_are_the_inverse_hessian_of_the_penalised_nll(data, missing):
    """A ridge adds n lam / 2 tr(Sigma^{-1}): central differences of NLL + penalty in
    (mean, vech cov), complete data and FIML (15% of entries missing)."""
    x = data[:60].copy()
    if missing == "fiml":
        x[np.random.default_rng(3).random(x.shape) < 0.15] = np.nan
        x[np.isnan(x).all(axis=1), 0] = 1.0
    lam, n, d = 0.5, len(x), 3
    res = mj.fit(x, mj.Gaussian(ridge=lam), missing=missing, tol=1e-10)
    assert bool(res.converged)
    rows, cols = np.tril_indices(d)

    def f(theta):
        cov = np.zeros((d, d))
        cov[rows, cols] = theta[d:]
        cov[cols, rows] = theta[d:]
        return fiml_nll_rows(theta[:d], cov, x) + 0.5 * n * lam * np.trace(np.linalg.inv(cov))

    theta0 = np.concatenate([np.asarray(res.mean), np.asarray(res.cov)[rows, cols]])
    hess = fd_hessian(f, theta0, 1e-4 * np.maximum(np.abs(theta0), 0.1))
    want = np.linalg.inv(hess)
    got = mj.standard_errors(res).vcov
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())


def test_weights_replication_and_deletion_in_standard_errors(data, full):
    w = np.random.default_rng(2).integers(0, 4, size=N)
    w[:5] = 0
    rep = np.repeat(data, w, axis=0)
    a = mj.standard_errors(mj.fit(data, weights=w))
    b = mj.standard_errors(mj.fit(rep))
    for ea, eb in zip(a[:3], b[:3], strict=True):
        np.testing.assert_allclose(ea, eb, rtol=1e-7)
    keep = w > 0
    a = mj.standard_errors(mj.fit(data, weights=keep * 1.0))
    b = mj.standard_errors(mj.fit(data[keep]))
    np.testing.assert_allclose(a.cov, b.cov, rtol=1e-7)
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-7)


def test_map_standard_errors_are_the_laplace_approximation(data):
    """Univariate NIW: the inverse Hessian of the negative log posterior in (mean, var)."""
    x = data[:, 0]
    prior = mj.priors.NormalInverseWishart(loc=1.0, kappa=3.0, dof=4.0, psi=2.0)
    res = mj.fit(x, mj.Gaussian(prior=prior))
    n, m, var = mle(x)

    def f(t):
        mean, v = t
        nll = 0.5 * n * np.log(2 * np.pi * v) + 0.5 * np.sum((x - mean) ** 2) / v
        lp = scipy.stats.norm(1.0, np.sqrt(v / 3.0)).logpdf(mean)
        return nll - lp - scipy.stats.invgamma(2.0, scale=1.0).logpdf(v)

    t0 = np.array([float(res.mean), float(res.cov)])
    h = 1e-4 * np.abs(t0)
    hess = np.zeros((2, 2))
    for i in range(2):
        for j in range(2):
            ei, ej = np.eye(2)[i] * h[i], np.eye(2)[j] * h[j]
            hess[i, j] = (f(t0 + ei + ej) - f(t0 + ei - ej) - f(t0 - ei + ej) + f(t0 - ei - ej)) / (
                4 * h[i] * h[j]
            )
    se = mj.standard_errors(res)
    want = np.linalg.inv(hess)
    np.testing.assert_allclose(se.vcov, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())


def test_param_covariance_is_compiled_once_per_model(data, full):
    """The jitted core: a second fit of the same model and shape reuses the compiled Hessian."""
    mj.standard_errors(full)
    size = inference._errors._param_covariance._cache_size()
    other = data[::2] * 2.0 + 1.0
    se = mj.standard_errors(mj.fit(other))
    assert inference._errors._param_covariance._cache_size() == size
    n, m, s = mle(other)
    np.testing.assert_allclose(se.mean, np.sqrt(np.diag(s) / n), rtol=1e-7)


# ----------------------------------------------------------------------------- intervals


@pytest.mark.parametrize("level", [0.8, 0.99])
def test_wald_intervals_at_any_level(data, full, level):
    se = mj.standard_errors(full)
    ci = mj.inference.wald_intervals(full, level=level)
    z = scipy.stats.norm.ppf(0.5 + level / 2)
    np.testing.assert_allclose(ci.lower.mean, full.mean - z * se.mean, rtol=1e-12)
    np.testing.assert_allclose(ci.upper.cov, full.cov + z * se.cov, rtol=1e-12)
    np.testing.assert_allclose(ci.upper.std, full.std + z * se.std, rtol=1e-12)


def brute_profile(data, kind, i, value):
    """min over every other parameter (scipy BFGS, numpy NLL) with mean[i] or var[i] held."""
    n, m, s = mle(data)
    d = data.shape[1]

    def unpack(p):
        mean = np.insert(p[: d - 1], i, value) if kind == "mean" else p[:d]
        chol = chol_from(p[d - 1 :] if kind == "mean" else p[d:], d)
        cov = chol @ chol.T
        if kind == "var":
            scale = np.ones(d)
            scale[i] = np.sqrt(value / cov[i, i])
            cov = cov * np.outer(scale, scale)
        return mean, cov

    chol0 = np.asarray(mj.MvnParams.from_mean_cov(m, s).chol_raw)
    p0 = np.concatenate([np.delete(m, i) if kind == "mean" else m, chol0])
    opt = scipy.optimize.minimize(
        lambda p: nll_stats(*unpack(p), n, m, s), p0, method="BFGS", options={"gtol": 1e-9}
    )
    return opt.fun


def test_profile_of_a_mean_closed_form_and_brute_force(data, full):
    n, m, s = mle(data)
    i = 1
    # closed form: min over the rest = n/2 log(1 + (xbar_i - v)^2 / S_ii) + NLL_min
    values = m[i] + np.array([-0.2, 0.05, 0.3])
    prof = mj.inference.profile_nll(full, f"mean[{i}]", values)
    closed = float(full.nll) + 0.5 * n * np.log1p((m[i] - values) ** 2 / s[i, i])
    np.testing.assert_allclose(prof, closed, rtol=1e-10)
    brute = [brute_profile(data, "mean", i, v) for v in values[:2]]
    np.testing.assert_allclose(prof[:2], brute, rtol=1e-9)
    lo, hi = mj.inference.profile_interval(full, f"mean[{i}]", level=0.9)
    q = scipy.stats.chi2.ppf(0.9, 1)
    half = np.sqrt(s[i, i] * np.expm1(q / n))
    np.testing.assert_allclose([lo, hi], [m[i] - half, m[i] + half], rtol=1e-9)


def test_profile_of_a_variance_and_a_std(data, full):
    n, m, s = mle(data)
    i = 2
    s2 = s[i, i]
    q = scipy.stats.chi2.ppf(0.95, 1)
    # closed form: the profile of cov[i, i] is the marginal one, n/2 (log(v/s) + s/v - 1)
    g = lambda v: 0.5 * n * (np.log(v / s2) + s2 / v - 1) - q / 2
    want = [scipy.optimize.brentq(g, s2 / 10, s2), scipy.optimize.brentq(g, s2, 10 * s2)]
    lo, hi = mj.inference.profile_interval(full, f"cov[{i},{i}]")
    np.testing.assert_allclose([lo, hi], want, rtol=1e-8)
    # brute force at the ends: the profile there is the threshold
    for end in (lo, hi):
        np.testing.assert_allclose(
            brute_profile(data, "var", i, end), float(full.nll) + q / 2, rtol=1e-9
        )
    # invariance: the interval of the std is the square root
    np.testing.assert_allclose(
        mj.inference.profile_interval(full, ("std", i)), np.sqrt(want), rtol=1e-8
    )


def test_profile_univariate(data):
    x = data[:, 0]
    res = mj.fit(x)
    n, m, var = mle(x)
    q = scipy.stats.chi2.ppf(0.95, 1)
    half = np.sqrt(var * np.expm1(q / n))
    np.testing.assert_allclose(
        mj.inference.profile_interval(res, "mean"), [m - half, m + half], rtol=1e-9
    )
    g = lambda v: 0.5 * n * (np.log(v / var) + var / v - 1) - q / 2
    want = np.array(
        [scipy.optimize.brentq(g, var / 10, var), scipy.optimize.brentq(g, var, 10 * var)]
    )
    np.testing.assert_allclose(mj.inference.profile_interval(res, "var"), want, rtol=1e-8)
    np.testing.assert_allclose(mj.inference.profile_interval(res, "std"), np.sqrt(want), rtol=1e-8)
    # the profile at the estimate is the minimum
    np.testing.assert_allclose(
        mj.inference.profile_nll(res, "std", [float(res.std)]), res.nll, rtol=1e-12
    )


# ----------------------------------------------------------------------------- model choice


def test_loglik_aic_bic_num_params(data, full):
    n, m, s = mle(data)
    ll = scipy.stats.multivariate_normal(m, s).logpdf(data).sum()
    np.testing.assert_allclose(mj.inference.loglik(full), ll, rtol=1e-10)
    assert mj.inference.num_params(full) == 9
    np.testing.assert_allclose(mj.inference.aic(full), 2 * 9 - 2 * ll, rtol=1e-10)
    np.testing.assert_allclose(mj.inference.bic(full), 9 * np.log(N) - 2 * ll, rtol=1e-10)
    np.testing.assert_allclose(jax.jit(mj.inference.loglik)(full), ll, rtol=1e-10)
    assert mj.inference.num_params(mj.fit(data, mj.Gaussian(covariance="diag"))) == 6
    assert mj.inference.num_params(mj.fit(data, mj.Gaussian(covariance="spherical"))) == 4
    assert mj.inference.num_params(mj.fit(data, mj.Gaussian(fix_mean=FIX_MEAN))) == 6
    assert mj.inference.num_params(mj.fit(data, mj.Gaussian(fix_cov=FIX_COV))) == 3
    assert mj.inference.num_params(mj.fit(data[:, 0])) == 2


# ----------------------------------------------------------------------------- summary


def test_summary_on_iris(capsys):
    x, columns = mj.load_dataset("iris")
    res = mj.fit(x, columns=columns)
    out = mj.summary(res)
    printed = capsys.readouterr().out
    assert "Gaussian fit results" in printed and "mean[Sepal.Length]" in printed
    assert printed.strip() == out.text.strip()
    n, m, s = mle(x)
    assert len(out.names) == 4 + 10 and out.num_params == 14 and out.count == 150
    np.testing.assert_allclose(out.estimate[:4], m, rtol=1e-9)
    np.testing.assert_allclose(out.se[:4], np.sqrt(np.diag(s) / n), rtol=1e-7)
    rows, cols = np.tril_indices(4)
    v = np.diag(s)
    np.testing.assert_allclose(
        out.se[4:], np.sqrt((v[rows] * v[cols] + s[rows, cols] ** 2) / n), rtol=1e-7
    )
    # z and P>|z| test "parameter = 0": not for variances (0 is the boundary)
    is_var = np.array([name.startswith("var") for name in out.names])
    assert np.isnan(out.z[is_var]).all() and np.isnan(out.pvalue[is_var]).all()
    np.testing.assert_allclose(out.z[~is_var], (out.estimate / out.se)[~is_var], rtol=1e-12)
    np.testing.assert_allclose(
        out.pvalue[~is_var], 2 * scipy.stats.norm.sf(np.abs(out.z[~is_var])), rtol=1e-9, atol=1e-300
    )
    # every printed name is accepted back by profile_interval
    lo, hi = mj.inference.profile_interval(res, out.names[6])
    assert out.names[6] == "var[Sepal.Width]" and lo < out.estimate[6] < hi
    z = scipy.stats.norm.ppf(0.975)
    np.testing.assert_allclose(out.lower, out.estimate - z * out.se, rtol=1e-12)
    np.testing.assert_allclose(
        out.loglik, scipy.stats.multivariate_normal(m, s).logpdf(x).sum(), rtol=1e-10
    )
    assert out.rows()[0]["name"] == "mean[Sepal.Length]"


def test_summary_shows_only_estimated_parameters(data):
    diag = mj.summary(mj.fit(data, mj.Gaussian(covariance="diag")), print_table=False)
    assert diag.names == ("mean[0]", "mean[1]", "mean[2]", "var[0]", "var[1]", "var[2]")
    assert diag.num_params == 6 and "diag covariance" in diag.text
    fixed = mj.summary(mj.fit(data, mj.Gaussian(fix_mean=FIX_MEAN)), print_table=False)
    assert len(fixed.names) == 6 and fixed.names[0] == "var[0]"
    sph = mj.fit(data, mj.Gaussian(covariance="spherical"))
    out = mj.summary(sph, print_table=False)
    assert out.names == ("mean[0]", "mean[1]", "mean[2]", "var (common)")
    np.testing.assert_allclose(out.estimate[3], np.asarray(sph.cov)[0, 0])
    np.testing.assert_allclose(out.se[3], np.asarray(mj.standard_errors(sph).cov)[0, 0])


def test_summary_with_profile_intervals(data):
    x = data[:, 2]
    res = mj.fit(x)
    out = mj.summary(res, interval="profile", level=0.9, print_table=False)
    assert out.names == ("mean", "var")
    np.testing.assert_allclose(
        [out.lower[0], out.upper[0]], mj.inference.profile_interval(res, "mean", level=0.9)
    )
    np.testing.assert_allclose(
        [out.lower[1], out.upper[1]], mj.inference.profile_interval(res, "var", level=0.9)
    )
    assert "90% profile-likelihood intervals" in out.text


# ----------------------------------------------------------------------------- bad input


def test_inference_bad_input(data, full):
    with pytest.raises(ValueError, match="neither a column name"):
        mj.inference.profile_interval(full, "var[banana]")
    with pytest.raises(ValueError, match="pick a member of the batch"):
        mj.summary(mj.fit_many(np.stack([data, data + 1])))
    with pytest.raises(ValueError, match="level must be in"):
        mj.inference.wald_intervals(full, level=1.5)
    with pytest.raises(ValueError, match="off-diagonal covariance"):
        mj.inference.profile_interval(full, "cov[1,0]")
    with pytest.raises(ValueError, match="parameter kind"):
        mj.inference.profile_nll(full, "corr[1]", [0.0])
    with pytest.raises(ValueError, match="one index in"):
        mj.inference.profile_nll(full, "mean[3]", [0.0])
    with pytest.raises(ValueError, match="interval must be"):
        mj.summary(full, interval="bootstrap")
    fixed = mj.fit(data, mj.Gaussian(fix_mean=FIX_MEAN))
    with pytest.raises(ValueError, match="the mean is fixed"):
        mj.inference.profile_interval(fixed, "mean[0]")
