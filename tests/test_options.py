"""Model options of ``fit``: covariance structures, fixed parameters, weights, MAP priors.

Every option is checked against its closed form in float64. Shapes are kept to ``d = 3`` and
``d = 1`` so that each option compiles its loop once.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.stats

import mle_jax as mj
from mle_jax import _objective

from .helpers import prepared

RTOL = 1e-7
# a fixed mean's values are compiled into its loop: one value for the module, one loop
FIX_MEAN = np.array([1.5, -0.5, 9.0])


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(42)
    a = np.array([[1.0, 0.0, 0.0], [0.6, 1.2, 0.0], [-0.3, 0.4, 0.7]])
    x = rng.normal(size=(120, 3)) @ a.T + np.array([2.0, -1.0, 10.0])
    return x


def moments(x, w=None):
    w = np.ones(len(x)) if w is None else np.asarray(w, float)
    n = w.sum()
    m = w @ x / n
    xc = x - m
    return n, m, (xc * w[:, None]).T @ xc if x.ndim == 2 else np.sum(w * xc * xc)


def assert_converged(res):
    assert bool(res.converged), res.message


# ----------------------------------------------------------------------------- structures


def test_diag_is_per_column_variance(data):
    res = mj.fit(data, mj.Gaussian(covariance="diag"))
    assert_converged(res)
    n, m, s = moments(data)
    np.testing.assert_allclose(res.mean, m, rtol=RTOL)
    np.testing.assert_allclose(res.cov, np.diag(np.diag(s) / n), rtol=RTOL, atol=1e-12)
    assert res.model.covariance == "diag"


def test_spherical_is_mean_of_variances(data):
    res = mj.fit(data, mj.Gaussian(covariance="spherical"))
    assert_converged(res)
    n, m, s = moments(data)
    np.testing.assert_allclose(res.mean, m, rtol=RTOL)
    np.testing.assert_allclose(res.cov, np.eye(3) * np.trace(s) / (3 * n), rtol=RTOL, atol=1e-12)
    # the NLL is the data's NLL at that point
    want = -scipy.stats.multivariate_normal(m, np.asarray(res.cov)).logpdf(data).sum()
    np.testing.assert_allclose(res.nll, want, rtol=1e-10)


def test_diag_allows_collinear_columns(data):
    x = np.column_stack([data[:, :2], 2.0 * data[:, 0] + 1.0])  # a full covariance is singular
    with pytest.raises(ValueError, match="perfectly correlated"):
        mj.fit(x)
    res = mj.fit(x, mj.Gaussian(covariance="diag"))
    np.testing.assert_allclose(res.cov, np.diag(x.var(0)), rtol=RTOL)


# ----------------------------------------------------------------------------- fixed parameters


def test_fix_mean_is_scatter_about_the_fixed_mean(data):
    mu = FIX_MEAN
    res = mj.fit(data, mj.Gaussian(fix_mean=mu))
    assert_converged(res)
    np.testing.assert_allclose(res.mean, mu, rtol=1e-15)  # to rounding of the standardisation
    r = data - mu
    np.testing.assert_allclose(res.cov, r.T @ r / len(data), rtol=RTOL)


def test_fix_cov_fits_the_mean_only(data):
    cov = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]])
    res = mj.fit(data, mj.Gaussian(fix_cov=cov))
    assert_converged(res)
    np.testing.assert_allclose(res.mean, data.mean(0), rtol=1e-10)
    np.testing.assert_allclose(res.cov, cov, rtol=1e-12)


def test_univariate_fixed_and_structures(data):
    x = data[:, 2]
    res = mj.fit(x, mj.Gaussian(fix_mean=10.0))
    assert res.mean.shape == () and float(res.mean) == 10.0
    np.testing.assert_allclose(res.cov, np.mean((x - 10.0) ** 2), rtol=RTOL)
    res = mj.fit(x, mj.Gaussian(fix_cov=4.0))
    np.testing.assert_allclose([res.mean, res.cov], [x.mean(), 4.0], rtol=1e-10)
    # every structure is the same model in 1-D
    for cov in ("diag", "spherical"):
        np.testing.assert_allclose(mj.fit(x, mj.Gaussian(covariance=cov)).cov, x.var(), rtol=RTOL)


# ----------------------------------------------------------------------------- weights


def test_integer_weights_are_replication_zero_is_deletion(data):
    w = np.random.default_rng(1).integers(0, 4, size=len(data))
    w[:3] = 0  # some rows deleted
    rep = np.repeat(data, w, axis=0)
    for model in (mj.Gaussian(), mj.Gaussian("diag"), mj.Gaussian(fix_mean=FIX_MEAN)):
        a, b = mj.fit(data, model, weights=w), mj.fit(rep, model)
        np.testing.assert_allclose(a.mean, b.mean, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(a.cov, b.cov, rtol=1e-7)
        np.testing.assert_allclose(a.nll, b.nll, rtol=1e-10)
        np.testing.assert_allclose(a.count, b.count)


def test_raw_form_and_trace_with_a_model(data):
    a = mj.fit(data, mj.Gaussian(covariance="diag"), form="raw", trace=True)
    b = mj.fit(data, mj.Gaussian(covariance="diag"))
    np.testing.assert_allclose(a.cov, b.cov, rtol=1e-9)
    steps = int(a.num_steps)
    assert a.path.cov.shape == (steps + 1, 3, 3)
    off = np.asarray(a.path.cov) * (1 - np.eye(3))[None]
    np.testing.assert_array_equal(off, 0.0)  # every iterate is diagonal


# ----------------------------------------------------------------------------- priors


def niw_logpdf_scipy(prior, mean, cov):
    loc, psi = np.asarray(prior.loc, np.float64), np.asarray(prior.psi, np.float64)
    kappa, dof = float(prior.kappa), float(prior.dof)
    return scipy.stats.multivariate_normal(loc, cov / kappa).logpdf(mean) + scipy.stats.invwishart(
        df=dof, scale=psi
    ).logpdf(cov)


def test_niw_log_density_matches_scipy():
    prior = mj.priors.NormalInverseWishart(
        loc=[1.0, 0.0, -1.0], kappa=2.0, dof=6.0, psi=np.diag([1.0, 2.0, 3.0])
    )
    mean = np.array([0.5, 0.1, -0.7])
    cov = np.array([[1.0, 0.2, 0.1], [0.2, 0.8, 0.0], [0.1, 0.0, 1.5]])
    np.testing.assert_allclose(prior(mean, cov), niw_logpdf_scipy(prior, mean, cov), rtol=1e-12)
    np.testing.assert_allclose(jax.jit(prior.__call__)(mean, cov), prior(mean, cov), rtol=1e-13)
    # d = 1: normal-inverse-gamma (IW(psi, dof) = InvGamma(dof / 2, psi / 2))
    p1 = mj.priors.NormalInverseWishart(loc=0.0, kappa=1.0, dof=3.0, psi=2.0)
    want = scipy.stats.norm(0.0, np.sqrt(1.5)).logpdf(0.5) + scipy.stats.invgamma(
        1.5, scale=1.0
    ).logpdf(1.5)
    np.testing.assert_allclose(p1(0.5, 1.5), want, rtol=1e-12)


def test_niw_map_is_the_conjugate_posterior_mode(data):
    prior = mj.priors.NormalInverseWishart(
        loc=[0.0, 0.0, 8.0], kappa=5.0, dof=7.0, psi=2.0 * np.eye(3)
    )
    w = np.random.default_rng(3).integers(0, 3, size=len(data)).astype(float)
    res = mj.fit(data, mj.Gaussian(prior=prior), weights=w)
    assert_converged(res)
    n, m, s = moments(data, w)
    # oracle, written out: kappa_n = kappa + n, loc_n = (kappa loc + n xbar) / kappa_n,
    # psi_n = psi + S + kappa n / kappa_n (xbar - loc)(xbar - loc)^T,
    # cov = psi_n / (dof + n + d + 2)
    loc = np.array([0.0, 0.0, 8.0])
    kn = 5.0 + n
    delta = m - loc
    psi_n = 2.0 * np.eye(3) + s + 5.0 * n / kn * np.outer(delta, delta)
    np.testing.assert_allclose(res.mean, (5.0 * loc + n * m) / kn, rtol=RTOL)
    np.testing.assert_allclose(res.cov, psi_n / (7.0 + n + 3 + 2), rtol=RTOL)
    mode = prior.posterior_mode(n, m, s)
    np.testing.assert_allclose(mode[1], psi_n / (7.0 + n + 3 + 2), rtol=1e-12)
    # the data NLL is reported, not the posterior
    np.testing.assert_allclose(res.nll, float(mj.nll(res.params, data, w)), rtol=1e-10)


def test_niw_map_univariate_and_with_fewer_samples_than_dimensions(data):
    x = data[:, 0]
    prior = mj.priors.NormalInverseWishart(loc=1.0, kappa=2.0, dof=3.0, psi=0.5)
    res = mj.fit(x, mj.Gaussian(prior=prior))
    n, m, s = moments(x)
    mean, cov = prior.posterior_mode(n, m, s)
    np.testing.assert_allclose([res.mean, res.cov], [mean[0], cov[0, 0]], rtol=RTOL)
    # n = 2 < d = 3: no MLE, but the MAP exists
    prior3 = mj.priors.NormalInverseWishart(loc=np.zeros(3), kappa=1.0, dof=4.0, psi=np.eye(3))
    with pytest.raises(ValueError, match="n > d"):
        mj.fit(data[:2])
    res = mj.fit(data[:2], mj.Gaussian(prior=prior3))
    n, m, s = moments(data[:2])
    mean, cov = prior3.posterior_mode(n, m, s)
    np.testing.assert_allclose(res.mean, mean, rtol=RTOL)
    np.testing.assert_allclose(res.cov, cov, rtol=RTOL)
    # a constant column: no MLE, a MAP
    xc = data.copy()
    xc[:, 1] = 5.0
    res = mj.fit(xc, mj.Gaussian(prior=prior3))
    n, m, s = moments(xc)
    mean, cov = prior3.posterior_mode(n, m, s)
    np.testing.assert_allclose(res.mean, mean, rtol=RTOL)
    np.testing.assert_allclose(res.cov, cov, rtol=RTOL)


def test_lkj_normalizer_and_density():
    # d = 2: r has density (1 - r^2)^(eta - 1) / c, i.e. (r + 1) / 2 ~ Beta(eta, eta)
    for eta in (0.7, 1.0, 3.0):
        prior = mj.priors.LKJHalfNormal(concentration=eta, scale=[1.0, 2.0])
        s = np.array([0.8, 1.7])
        r = 0.35
        cov = np.outer(s, s) * np.array([[1.0, r], [r, 1.0]])
        want = scipy.stats.beta(eta, eta).logpdf((r + 1) / 2) - np.log(2.0)
        want += scipy.stats.halfnorm(scale=1.0).logpdf(s[0]) + scipy.stats.halfnorm(
            scale=2.0
        ).logpdf(s[1])
        np.testing.assert_allclose(prior(np.zeros(2), cov), want, rtol=1e-12)
        jitted = jax.jit(lambda p, m, c: p(m, c))(prior, np.zeros(2), cov)  # a pytree, traced
        np.testing.assert_allclose(jitted, want, rtol=1e-12)
    # d = 3, eta = 1: the volume of 3 x 3 correlation matrices is pi^2 / 2
    np.testing.assert_allclose(
        mj.priors.lkj_log_normalizer(1.0, 3), np.log(np.pi**2 / 2), rtol=1e-14
    )
    # d = 4, eta = 1: 32 pi^2 / 27 (Lewandowski et al. 2009); d = 1: nothing to normalise
    np.testing.assert_allclose(
        mj.priors.lkj_log_normalizer(1.0, 4), np.log(32 * np.pi**2 / 27), rtol=1e-14
    )
    np.testing.assert_allclose(mj.priors.lkj_log_normalizer(2.0, 1), 0.0)
    # d = 3, eta = 2.5: Monte Carlo over the cube of correlations (det R > 0 is the support)
    r = np.random.default_rng(0).uniform(-1, 1, size=(400_000, 3))
    det = 1 - np.sum(r**2, axis=1) + 2 * np.prod(r, axis=1)
    mc = 8 * np.mean(np.where(det > 0, np.abs(det) ** 1.5, 0.0))
    np.testing.assert_allclose(mj.priors.lkj_log_normalizer(2.5, 3), np.log(mc), atol=0.01)


def test_lkj_half_normal_univariate_map_closed_form(data):
    x = data[:, 1]
    tau = 0.5
    res = mj.fit(x, mj.Gaussian(prior=mj.priors.LKJHalfNormal(2.0, tau)))
    n, m, s = moments(x)
    var = tau**2 * (np.sqrt(n**2 + 4 * s / tau**2) - n) / 2
    np.testing.assert_allclose([res.mean, res.cov], [m, var], rtol=RTOL)


def test_lkj_half_normal_map_matches_brute_force(data):
    prior = mj.priors.LKJHalfNormal(concentration=3.0, scale=[0.5, 1.0, 0.3])
    res = mj.fit(data, mj.Gaussian(prior=prior))
    assert_converged(res)
    n, m, s = moments(data)
    log_c = float(mj.priors.lkj_log_normalizer(3.0, 3))

    def neg_post(p):  # p = (mean, log-diagonal Cholesky), NLL from the moments, in numpy
        chol = np.zeros((3, 3))
        chol[np.tril_indices(3)] = p[3:]
        chol[np.diag_indices(3)] = np.exp(np.diag(chol))
        cov = chol @ chol.T
        r = m - p[:3]
        quad = np.trace(np.linalg.solve(cov, s + n * np.outer(r, r)))
        nll = 0.5 * (n * (3 * np.log(2 * np.pi) + np.linalg.slogdet(cov)[1]) + quad)
        sd = np.sqrt(np.diag(cov))
        corr = cov / np.outer(sd, sd)
        log_prior = (3.0 - 1.0) * np.linalg.slogdet(corr)[1] - log_c
        tau = np.array([0.5, 1.0, 0.3])
        log_prior += np.sum(0.5 * np.log(2 / np.pi) - np.log(tau) - 0.5 * (sd / tau) ** 2)
        return nll - log_prior

    p0 = np.concatenate([m, np.asarray(mj.MvnParams.from_mean_cov(m, s / n).chol_raw)])
    opt = scipy.optimize.minimize(neg_post, p0, method="BFGS", options={"gtol": 1e-8})
    chol = np.zeros((3, 3))
    chol[np.tril_indices(3)] = opt.x[3:]
    chol[np.diag_indices(3)] = np.exp(np.diag(chol))
    np.testing.assert_allclose(res.cov, chol @ chol.T, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(res.mean, m, rtol=1e-9)  # the mean is flat
    assert (
        neg_post(np.concatenate([np.asarray(res.mean), np.asarray(res.params.chol_raw)]))
        <= opt.fun + 1e-8
    )
    # with eta = 1 and very wide scales the prior is flat: the MAP is the MLE (same compiled loop)
    flat = mj.fit(data, mj.Gaussian(prior=mj.priors.LKJHalfNormal(1.0, [1e6, 1e6, 1e6])))
    np.testing.assert_allclose(flat.cov, s / n, rtol=1e-6)


def test_user_prior_inverse_gamma_on_the_variance(data):
    x = data[:, 0]
    a, b = 3.0, 2.0
    res = mj.fit(x, mj.Gaussian(prior=lambda mean, var: -(a + 1) * jnp.log(var) - b / var))
    n, m, s = moments(x)
    np.testing.assert_allclose([res.mean, res.cov], [m, (s + 2 * b) / (n + 2 * a + 2)], rtol=RTOL)
    assert res.model.prior is not None


def test_default_fit_traces_no_prior_or_profile(data):
    spec = prepared(data).problem.spec
    assert not spec.has_prior and not spec.profile and not spec.fix_mean
    res = mj.fit(data)
    assert res.model == mj.Gaussian()
    # a FitResult maps with jax.tree: the model is a static field
    doubled = jax.tree.map(lambda a: a * 2, res)
    assert doubled.model is res.model
    np.testing.assert_allclose(doubled.mean, 2 * res.mean)


def test_objective_jits_and_equals_eager(data):
    prior = mj.priors.NormalInverseWishart(np.zeros(3), 1.0, 5.0, np.eye(3))
    prep = prepared(data, mj.Gaussian("diag", prior=prior))
    free = _objective.FreeParams(jnp.asarray([0.1, -0.2, 0.3]), jnp.asarray([0.0, 0.1, -0.1]))
    eager = _objective.objective(free, prep.problem)
    np.testing.assert_allclose(jax.jit(_objective.objective)(free, prep.problem), eager, rtol=1e-13)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "weights, match",
    [
        (lambda n: -np.ones(n), "negative"),
        (lambda n: np.r_[np.nan, np.ones(n - 1)], "non-finite"),
        (lambda n: np.r_[np.inf, np.ones(n - 1)], "non-finite"),
        (lambda n: np.ones(n - 1), r"shape \(120,\)"),
        (lambda n: np.zeros(n), "all zero"),
    ],
)
def test_bad_weights(data, weights, match):
    with pytest.raises(ValueError, match=match):
        mj.fit(data, mj.Gaussian(covariance="diag"), weights=weights(len(data)))
    with pytest.raises(ValueError, match=match):
        mj.fit(data, weights=weights(len(data)))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: mj.priors.NormalInverseWishart(np.zeros(2), 0.0, 3.0, np.eye(2)), "kappa must be"),
        (lambda: mj.priors.NormalInverseWishart(np.zeros(2), 1.0, 0.5, np.eye(2)), "dof must be"),
        (
            lambda: mj.priors.NormalInverseWishart(np.zeros(2), 1.0, 3.0, -np.eye(2)),
            "psi must be positive",
        ),
        (
            lambda: mj.priors.NormalInverseWishart(np.zeros(2), 1.0, 3.0, [[1, 0.5], [0, 1]]),
            "psi must be symmetric",
        ),
        (
            lambda: mj.priors.NormalInverseWishart(np.zeros(2), 1.0, 3.0, np.eye(3)),
            "psi must have shape",
        ),
        (
            lambda: mj.priors.NormalInverseWishart([np.nan, 0], 1.0, 3.0, np.eye(2)),
            "loc must be finite",
        ),
        (lambda: mj.priors.LKJHalfNormal(0.0, 1.0), "concentration must be"),
        (lambda: mj.priors.LKJHalfNormal(1.0, [1.0, -1.0]), "scale must be finite and > 0"),
        (lambda: mj.priors.LKJHalfNormal(np.inf, 1.0), "concentration must be"),
    ],
)
def test_bad_prior_hyperparameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_model_options(data):
    with pytest.raises(ValueError, match="covariance must be one of"):
        mj.fit(data, mj.Gaussian(covariance="banana"))
    with pytest.raises(ValueError, match="fix_cov must be symmetric"):
        mj.fit(data, mj.Gaussian(fix_cov=np.array([[1.0, 0.5, 0], [0, 1, 0], [0, 0, 1]])))
    with pytest.raises(ValueError, match="fix_cov is not positive definite"):
        mj.fit(data, mj.Gaussian(fix_cov=np.diag([1.0, -1.0, 1.0])))
    with pytest.raises(ValueError, match=r"fix_cov must have shape \(3, 3\)"):
        mj.fit(data, mj.Gaussian(fix_cov=np.eye(2)))
    with pytest.raises(ValueError, match="fix_cov .* must be > 0"):
        mj.fit(data[:, 0], mj.Gaussian(fix_cov=0.0))
    with pytest.raises(ValueError, match="fix_mean must be finite"):
        mj.fit(data, mj.Gaussian(fix_mean=[0.0, np.nan, 0.0]))
    with pytest.raises(ValueError, match=r"fix_mean must have shape \(3,\)"):
        mj.fit(data, mj.Gaussian(fix_mean=[0.0, 1.0]))
    with pytest.raises(TypeError, match="prior must be a callable"):
        mj.fit(data, mj.Gaussian(prior=3.0))
    with pytest.raises(ValueError, match="the prior is for d = 2"):
        mj.fit(
            data,
            mj.Gaussian(prior=mj.priors.NormalInverseWishart(np.zeros(2), 1.0, 3.0, np.eye(2))),
        )
    with pytest.raises(ValueError, match="must return a scalar"):
        mj.fit(data[:, 0], mj.Gaussian(prior=lambda m, v: jnp.stack([m, v])))
    with pytest.raises(ValueError, match="not finite at the starting point"):
        mj.fit(data[:, 0], mj.Gaussian(prior=lambda m, v: jnp.log(m - 1e6)))
    with pytest.raises(ValueError, match="constant"):
        mj.fit(np.column_stack([data[:, 0], np.ones(len(data))]), mj.Gaussian(covariance="diag"))
