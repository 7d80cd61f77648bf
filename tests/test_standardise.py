"""The one standardiser: round trips, and its NLL offset against jax.jacobian of the map."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mle_jax._standardise import Affine
from mle_jax.likelihood import mvn_nll
from mle_jax.stats import SuffStats, suff_stats


def random_affine(seed, d):
    rng = np.random.default_rng(seed)
    factor = np.tril(rng.normal(size=(d, d)))
    factor[np.diag_indices(d)] = np.exp(rng.normal(size=d) * 2)
    return Affine.from_factor(rng.normal(size=d) * 10.0 ** rng.integers(-3, 8), factor), rng


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 5))
def test_round_trip_of_parameters_covariances_and_statistics(seed, d):
    affine, rng = random_affine(seed, d)
    mean = rng.normal(size=d)
    chol = np.tril(rng.normal(size=(d, d))) + 3 * np.eye(d)
    back = affine.from_std(*affine.to_std(mean, chol))
    np.testing.assert_allclose(back[0], mean, rtol=1e-9, atol=1e-9 * np.abs(affine.shift).max())
    np.testing.assert_allclose(back[1], chol, rtol=1e-9, atol=1e-12)
    cov = chol @ chol.T
    z = affine.cov_to_std(cov)
    np.testing.assert_allclose(affine.factor @ z @ affine.factor.T, cov, rtol=1e-9)
    # statistics of the mapped data = mapped statistics
    x = affine.shift + rng.normal(size=(40, d)) @ affine.factor.T
    want = suff_stats(jnp.asarray((x - affine.shift) @ affine.inverse.T))
    got = affine.stats_to_std(SuffStats(*(np.asarray(a) for a in suff_stats(jnp.asarray(x)))))
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-8)


def test_nll_offset_is_the_log_jacobian_of_the_map():
    affine, rng = random_affine(1, 4)
    forward = lambda z: jnp.asarray(affine.shift) + jnp.asarray(affine.factor) @ z  # noqa: E731
    log_jac = np.linalg.slogdet(np.asarray(jax.jacobian(forward)(jnp.zeros(4))))[1]
    np.testing.assert_allclose(affine.nll_offset(np.ones(4)), log_jac, rtol=1e-12)
    # and it is what maps a standardised NLL to the user's, n times for n rows
    x = affine.shift + rng.normal(size=(30, 4)) @ affine.factor.T
    mean, chol = x.mean(0), np.linalg.cholesky(np.cov(x.T, bias=True))
    mean_z, chol_z = affine.to_std(mean, chol)
    z = (x - affine.shift) @ affine.inverse.T
    total = float(mvn_nll(jnp.asarray(mean_z), jnp.asarray(chol_z), jnp.asarray(z)))
    total += float(affine.nll_offset(np.full(4, 30.0)))
    np.testing.assert_allclose(total, float(mvn_nll(mean, chol, jnp.asarray(x))), rtol=1e-10)
