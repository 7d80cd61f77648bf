"""The one standardiser: round trips, and its NLL offset against jax.jacobian of the map.

(Statistics through the map are checked by every fit of tests/test_matrix.py.)"""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mle_jax._standardise import Affine
from mle_jax.likelihood import mvn_nll


def random_affine(seed, d):
    rng = np.random.default_rng(seed)
    factor = np.tril(rng.normal(size=(d, d)))
    factor[np.diag_indices(d)] = np.exp(rng.normal(size=d) * 2)
    # offsets up to 1e3: the reference below, (x - shift) in float64, loses digits beyond that
    return Affine.from_factor(rng.normal(size=d) * 10.0 ** rng.integers(-3, 4), factor), rng


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 5))
def test_round_trip_of_parameters_covariances_and_statistics(seed, d):
    affine, rng = random_affine(seed, d)
    mean = rng.normal(size=d)
    chol = np.tril(rng.normal(size=(d, d))) + 3 * np.eye(d)
    back = affine.from_std(*affine.to_std(mean, chol))
    # rounding grows with the condition number of A
    eps = 1e-14 * np.linalg.cond(affine.factor)
    scale = np.abs(affine.shift).max() + np.abs(mean).max()
    np.testing.assert_allclose(back[0], mean, rtol=0, atol=eps * scale)
    np.testing.assert_allclose(back[1], chol, rtol=0, atol=eps * np.abs(chol).max())
    cov = chol @ chol.T
    z = affine.cov_to_std(cov)
    back_cov = affine.factor @ z @ affine.factor.T
    np.testing.assert_allclose(back_cov, cov, rtol=0, atol=eps**2 * 1e14 * np.abs(cov).max())


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
