"""The likelihood math against independent oracles: jax.scipy, scipy, and its own second form."""

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from jax.scipy.stats import multivariate_normal as jmvn

import mle_jax as mj
from mle_jax._bijections import chol_from_raw, raw_from_chol

from .helpers import random_gaussian


@pytest.fixture(params=[1, 2, 5])
def problem(request):
    rng = np.random.default_rng(request.param)
    d = request.param
    x = random_gaussian(rng, d, 50)
    mean = rng.normal(size=d)
    a = rng.normal(size=(d, d))
    cov = a @ a.T + np.eye(d)
    return x, mean, cov


def test_raw_equals_stats_equals_jax_scipy_equals_scipy(problem):
    x, mean, cov = problem
    chol = np.linalg.cholesky(cov)
    raw = mj.likelihood.mvn_nll(jnp.asarray(mean), jnp.asarray(chol), jnp.asarray(x))
    s = mj.stats.suff_stats(jnp.asarray(x))
    stats = mj.likelihood.mvn_nll_stats(
        jnp.asarray(mean), jnp.asarray(chol), s.count, s.mean, s.scatter
    )
    with jax.numpy_rank_promotion("allow"):  # jax.scipy broadcasts implicitly
        ref_jax = -jnp.sum(jmvn.logpdf(x, mean, cov))
    ref_scipy = -scipy.stats.multivariate_normal(mean, cov).logpdf(x).sum()
    for value in (raw, stats, ref_jax):
        np.testing.assert_allclose(float(value), ref_scipy, rtol=1e-12)


def test_logpdf_per_point_and_single_point(problem):
    x, mean, cov = problem
    chol = jnp.asarray(np.linalg.cholesky(cov))
    expected = scipy.stats.multivariate_normal(mean, cov).logpdf(x)
    np.testing.assert_allclose(
        mj.likelihood.mvn_logpdf(jnp.asarray(x), jnp.asarray(mean), chol), expected, rtol=1e-12
    )
    np.testing.assert_allclose(
        mj.likelihood.mvn_logpdf(jnp.asarray(x[0]), jnp.asarray(mean), chol),
        expected[0],
        rtol=1e-12,
    )


def test_weighted_nll_equals_replicated_rows():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 3))
    w = rng.integers(0, 4, size=20)
    rep = np.repeat(x, w, axis=0)
    params = mj.MvnParams.from_mean_cov(np.ones(3), np.eye(3) * 2 + 0.3)
    np.testing.assert_allclose(
        mj.nll(params, x, weights=jnp.asarray(w, float)), mj.nll(params, rep), rtol=1e-12
    )
    s = mj.stats.suff_stats(jnp.asarray(x), jnp.asarray(w, float))
    stats = mj.likelihood.mvn_nll_stats(params.mean, params.chol, s.count, s.mean, s.scatter)
    np.testing.assert_allclose(stats, mj.nll(params, rep), rtol=1e-12)


def test_univariate_nll_matches_scipy_norm():
    rng = np.random.default_rng(3)
    x = rng.normal(5.0, 2.0, size=40)
    params = mj.MvnParams.from_mean_cov(4.0, 9.0)
    np.testing.assert_allclose(
        float(mj.nll(params, x)), -scipy.stats.norm(4.0, 3.0).logpdf(x).sum(), rtol=1e-12
    )
    np.testing.assert_allclose(
        mj.likelihood.normal_logpdf(jnp.asarray(x), 4.0, 3.0),
        scipy.stats.norm(4.0, 3.0).logpdf(x),
        rtol=1e-12,
    )


def test_nll_gradient_matches_finite_differences():
    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.normal(size=(30, 3)))
    p = mj.MvnParams(jnp.asarray(rng.normal(size=3)), jnp.asarray(rng.normal(size=6) * 0.3))
    g = jax.jit(jax.grad(mj.nll))(p, x)
    flat, unravel = jax.flatten_util.ravel_pytree(p)
    nll = jax.jit(mj.nll)  # 18 evaluations: one compile, not eager op by op
    f = lambda v: float(nll(unravel(v), x))  # noqa: E731
    h = 1e-6
    fd = np.array(
        [(f(flat.at[i].add(h)) - f(flat.at[i].add(-h))) / (2 * h) for i in range(flat.size)]
    )
    np.testing.assert_allclose(jax.flatten_util.ravel_pytree(g)[0], fd, rtol=1e-6, atol=1e-6)


def test_jit_equals_eager_and_vmap_equals_loop(problem):
    x, mean, cov = problem
    params = mj.MvnParams.from_mean_cov(mean, cov)
    eager = mj.nll(params, x)
    np.testing.assert_allclose(jax.jit(mj.nll)(params, x), eager, rtol=1e-13)
    xs = jnp.stack([jnp.asarray(x), jnp.asarray(x) + 1.0])
    batched = jax.vmap(mj.nll, in_axes=(None, 0))(params, xs)
    np.testing.assert_allclose(batched, [eager, mj.nll(params, xs[1])], rtol=1e-13)


# --- parameterisation -------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 2, 4])
def test_bijection_round_trip(d):
    rng = np.random.default_rng(d)
    raw = jnp.asarray(rng.normal(size=d * (d + 1) // 2))
    chol = chol_from_raw(raw)
    assert np.all(np.asarray(jnp.diagonal(chol)) > 0)
    np.testing.assert_array_equal(np.triu(np.asarray(chol), 1), 0)
    np.testing.assert_allclose(raw_from_chol(chol), raw, rtol=1e-14, atol=1e-15)
    a = rng.normal(size=(d, d))
    cov = a @ a.T + np.eye(d)
    mean = rng.normal(size=d)
    p = mj.MvnParams.from_mean_cov(mean, cov)
    np.testing.assert_allclose(p.cov, cov, rtol=1e-12)
    np.testing.assert_allclose(p.mean, mean)
    # log det(cov) = 2 * sum of the raw diagonal: the property that motivated exp
    rows, cols = np.tril_indices(d)
    np.testing.assert_allclose(
        2 * np.sum(np.asarray(p.chol_raw)[rows == cols]), np.linalg.slogdet(cov)[1], rtol=1e-12
    )


def test_every_raw_vector_is_a_valid_covariance():
    rng = np.random.default_rng(0)
    for _ in range(20):
        raw = jnp.asarray(rng.normal(size=10) * 3)
        cov = np.asarray(mj.MvnParams(jnp.zeros(4), raw).cov)
        np.testing.assert_allclose(cov, cov.T)
        assert np.all(np.linalg.eigvalsh(cov) > 0)


def test_from_mean_cov_rejects_bad_input():
    with pytest.raises(ValueError, match="positive definite"):
        mj.MvnParams.from_mean_cov(np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="shape"):
        mj.MvnParams.from_mean_cov(np.zeros(2), np.eye(3))


# --- the seed's story ---------------------------------------------------------------------


def test_likelihood_of_one_point_matches_the_seed():
    assert round(float(mj.likelihood.normal_pdf(32.0, 28.0, 2.0)), 3) == 0.027
    assert round(float(mj.likelihood.normal_pdf(32.0, 30.0, 2.0)), 3) == 0.121
    np.testing.assert_allclose(
        mj.likelihood.normal_pdf(32.0, 30.0, 2.0), scipy.stats.norm(30, 2).pdf(32), rtol=1e-14
    )


def test_likelihood_is_product_and_log_likelihood_is_sum():
    x = np.array([32.0, 29.5, 31.0, 27.0])
    dens = scipy.stats.norm(30, 2).pdf(x)
    np.testing.assert_allclose(mj.likelihood.likelihood(x, 30.0, 2.0), np.prod(dens), rtol=1e-13)
    np.testing.assert_allclose(
        mj.likelihood.log_likelihood(x, 30.0, 2.0), np.sum(np.log(dens)), rtol=1e-13
    )


def test_likelihood_grid_argmax_lands_on_closed_form():
    rng = np.random.default_rng(7)
    x = rng.normal(30.0, 2.0, size=200)
    cf = mj.closed_form(x)
    means = np.linspace(25, 35, 401)
    stds = np.linspace(1.0, 4.0, 301)
    grid = mj.likelihood.likelihood_grid(x, means, stds)
    assert grid.log_lik.shape == (401, 301)
    assert abs(float(grid.best_mean) - float(cf.mean)) <= (means[1] - means[0])
    assert abs(float(grid.best_std) - float(cf.std)) <= (stds[1] - stds[0])
    curve = mj.likelihood.likelihood_grid(x, means)  # default std: the MLE
    assert abs(float(curve.best_mean) - float(cf.mean)) <= (means[1] - means[0])
    np.testing.assert_allclose(
        grid.log_lik[0, 0], mj.likelihood.log_likelihood(x, means[0], stds[0]), rtol=1e-13
    )
