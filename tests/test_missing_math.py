"""Missing-data math: pattern statistics, FIML NLL, EM and the monotone closed form."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import mle_jax.data as mj_data
from mle_jax._fiml import fiml_nll
from mle_jax._missing_em import em, monotone_mle
from mle_jax._nll import LOG2PI, mvn_nll_stats
from mle_jax._patterns import (
    PatternStats,
    check_identified,
    merge_pattern_stats,
    missing_fraction,
    pattern_stats,
    start,
)
from mle_jax.stats import suff_stats

DATA = Path(mj_data.__file__).parent
_em = jax.jit(em, static_argnames=("max_iter",))
_nll = jax.jit(fiml_nll)


def load(name):
    x, columns = mj_data.read_csv(DATA / f"{name}.csv")
    return x, columns


def random_cov(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + np.eye(d) * 0.5


def random_missing(rng, n, d, frac=0.3, offset=0.0):
    mean = rng.normal(size=d) * 3 + offset
    x = rng.multivariate_normal(mean, random_cov(rng, d), size=n)
    x[rng.random((n, d)) < frac] = np.nan
    return x


def rows_reference(mean, cov, x, weights=None):
    """Slow per-row FIML NLL: scipy density of each row's observed entries."""
    total = 0.0
    w = np.ones(len(x)) if weights is None else weights
    for row, wi in zip(x, w, strict=True):
        o = ~np.isnan(row)
        if o.any():
            total -= wi * scipy.stats.multivariate_normal.logpdf(row[o], mean[o], cov[np.ix_(o, o)])
    return total


def assert_stats_close(a: PatternStats, b: PatternStats, rtol=1e-10, atol=1e-10):
    for fa, fb in zip(a, b, strict=True):
        assert_allclose(np.asarray(fa), np.asarray(fb), rtol=rtol, atol=atol)


def scale_rel(mean, cov, ref_mean, ref_cov):
    std = np.sqrt(np.diagonal(ref_cov))
    e_mean = np.max(np.abs(mean - ref_mean) / std)
    e_cov = np.max(np.abs(cov - ref_cov) / np.outer(std, std))
    return max(e_mean, e_cov)


def fit_em(ps):
    mean0, cov0 = start(ps)
    res = _em(ps, mean0, cov0)
    assert bool(res.converged)
    return np.asarray(res.mean), np.asarray(res.cov), int(res.num_iter)


def observed_loglik(ps, mean, cov):
    """(log-likelihood with the 2*pi constant, -2 log-likelihood without it)."""
    nll = float(_nll(jnp.asarray(mean), jnp.linalg.cholesky(jnp.asarray(cov)), ps))
    num_obs = float(np.sum(np.asarray(ps.count) * np.asarray(ps.mask).sum(1)))
    return -nll, 2 * nll - num_obs * LOG2PI


# -------------------------------------------------------------------------- pattern statistics


@pytest.mark.parametrize("d", [4, 70])  # keys: one uint64 per row, or bytes (d > 64)
def test_pattern_stats_per_pattern_reference(d):
    rng = np.random.default_rng(0)
    x = random_missing(rng, 200, d, offset=1e6)
    x[3] = np.nan  # an all-missing row is dropped and reported
    x_copy = x.copy()
    ps, dropped = pattern_stats(x)
    assert_array_equal(x, x_copy)  # not mutated
    obs = ~np.isnan(x)
    assert dropped == np.sum(~obs.any(1)) >= 1
    assert np.sum(ps.count) == 200 - dropped
    for mask, count, mean, scatter in zip(*ps, strict=True):
        rows = np.all(obs == (mask > 0), axis=1)
        sub = x[rows][:, mask > 0]
        assert count == rows.sum()
        ref_mean = np.zeros(d)
        ref_mean[mask > 0] = sub.mean(0)
        ref_scatter = np.zeros((d, d))
        ref_scatter[np.ix_(mask > 0, mask > 0)] = (sub - sub.mean(0)).T @ (sub - sub.mean(0))
        assert_allclose(mean, ref_mean, rtol=1e-14)
        assert_allclose(scatter, ref_scatter, rtol=1e-9, atol=1e-9 * np.abs(ref_scatter).max())


def test_pattern_stats_weights_equal_repetition_and_many_patterns():
    rng = np.random.default_rng(1)
    x = random_missing(rng, 300, 12, frac=0.4)  # most rows have their own pattern
    reps = rng.integers(0, 4, size=len(x))
    ps_w, _ = pattern_stats(x, weights=reps.astype(float))
    ps_r, _ = pattern_stats(np.repeat(x, reps, axis=0))
    assert len(ps_r.count) > 100
    assert_stats_close(ps_w, ps_r)


def test_pattern_stats_bad_input():
    with pytest.raises(ValueError, match="inf"):
        pattern_stats(np.array([[1.0, np.inf], [2.0, 3.0]]))
    with pytest.raises(ValueError, match="weights"):
        pattern_stats(np.ones((3, 2)), weights=np.array([1.0, -1.0, 1.0]))
    ps, dropped = pattern_stats(np.full((3, 2), np.nan))
    assert ps.count.shape == (0,) and dropped == 3


def test_missing_fraction():
    x = np.array([[1.0, np.nan], [2.0, 3.0], [np.nan, 4.0], [5.0, 6.0]])
    share, num = missing_fraction(pattern_stats(x)[0])
    assert_allclose(share, [0.25, 0.25])
    assert num == 3


@st.composite
def chunks(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    d = draw(st.integers(1, 4))
    sizes = draw(st.lists(st.integers(1, 15), min_size=3, max_size=3))
    rng = np.random.default_rng(seed)
    return [random_missing(rng, n, d, frac=0.35, offset=100.0) for n in sizes]


@settings(max_examples=30, deadline=None)
@given(chunks())
def test_merge_associative_and_equals_concatenation(parts):
    a, b, c = (pattern_stats(p)[0] for p in parts)
    left = merge_pattern_stats(merge_pattern_stats(a, b), c)
    right = merge_pattern_stats(a, merge_pattern_stats(b, c))
    whole = pattern_stats(np.concatenate(parts))[0]
    for got in (left, right):
        assert_array_equal(got.mask, whole.mask)
        assert_stats_close(got, whole, rtol=1e-9, atol=1e-8)


# -------------------------------------------------------------------------- FIML NLL


@pytest.mark.parametrize("d", [1, 2, 3, 5])
@pytest.mark.parametrize("weighted", [False, True])
def test_fiml_nll_equals_row_reference(d, weighted):
    rng = np.random.default_rng(10 + d)
    x = random_missing(rng, 40, d, frac=0.3)
    w = rng.uniform(0.2, 3.0, size=len(x)) if weighted else None
    ps, _ = pattern_stats(x, weights=w)
    mean, cov = rng.normal(size=d), random_cov(rng, d)
    got = _nll(jnp.asarray(mean), jnp.linalg.cholesky(jnp.asarray(cov)), ps)
    assert_allclose(float(got), rows_reference(mean, cov, x, w), rtol=1e-11)


def test_fiml_nll_complete_data_equals_mvn_nll_stats():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(50, 3)) + 5.0
    ps, _ = pattern_stats(x)
    assert ps.count.shape == (1,)
    mean, chol = jnp.asarray([5.0, 4.0, 6.0]), jnp.linalg.cholesky(jnp.asarray(random_cov(rng, 3)))
    count, xbar, scatter = suff_stats(jnp.asarray(x))
    assert_allclose(
        float(_nll(mean, chol, ps)), float(mvn_nll_stats(mean, chol, count, xbar, scatter)),
        rtol=1e-12,
    )  # fmt: skip


def test_complete_and_pattern_statistics_share_one_interface():
    """What callers read off statistics, without asking their type, agrees on complete data
    taken either way (one pattern that observes everything)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 3)) + 2.0
    full, (ps, _) = suff_stats(jnp.asarray(x)), pattern_stats(x)
    assert (full.incomplete, ps.incomplete) == (False, True)
    assert full.batch_shape == ps.batch_shape == ()
    assert full.as_patterns().count.shape == (1,) and ps.as_patterns() is ps
    assert_allclose(float(full.total_count()), float(ps.total_count()))
    assert_allclose(full.observed_counts(), ps.observed_counts())
    cov = jnp.asarray(random_cov(rng, 3))
    mean, chol = jnp.asarray([2.0, 1.0, 3.0]), jnp.linalg.cholesky(cov)
    values = [s.nll(mean, chol) for s in (full, ps)] + [s.nll_cov(mean, cov) for s in (full, ps)]
    assert_allclose(values, values[0], rtol=1e-12)
    batch = jax.tree.map(lambda a: jnp.stack([a, a]), ps)
    assert batch.batch_shape == (2,) and batch.total_count().shape == (2,)


def test_fiml_nll_jit_vmap_and_padding():
    rng = np.random.default_rng(3)
    pss = [pattern_stats(random_missing(rng, 30, 3, frac=0.3))[0] for _ in range(2)]
    p = max(len(s.count) for s in pss)

    def pad(s):  # zero-count, all-missing patterns contribute nothing
        k = p - len(s.count)
        return PatternStats(*(np.concatenate([f, np.zeros((k, *f.shape[1:]))]) for f in s))

    batch = PatternStats(*(np.stack(f) for f in zip(*map(pad, pss), strict=True)))
    mean = jnp.asarray(rng.normal(size=(2, 3)))
    chol = jnp.linalg.cholesky(jnp.asarray(np.stack([random_cov(rng, 3) for _ in range(2)])))
    got = jax.jit(jax.vmap(fiml_nll))(mean, chol, batch)
    want = [float(fiml_nll(mean[i], chol[i], pss[i])) for i in range(2)]
    assert_allclose(np.asarray(got), want, rtol=1e-12)


def test_grad_matches_finite_differences():
    rng = np.random.default_rng(4)
    ps, _ = pattern_stats(random_missing(rng, 60, 3, frac=0.3))
    mean0 = jnp.asarray(rng.normal(size=3))
    chol0 = jnp.linalg.cholesky(jnp.asarray(random_cov(rng, 3)))
    gm, gc = jax.jit(jax.grad(fiml_nll, argnums=(0, 1)))(mean0, chol0, ps)
    eps = 1e-6
    for j in range(3):
        e = jnp.zeros(3).at[j].set(eps)
        fd = (_nll(mean0 + e, chol0, ps) - _nll(mean0 - e, chol0, ps)) / (2 * eps)
        assert_allclose(float(gm[j]), float(fd), rtol=1e-6, atol=1e-6)
    for j, k in zip(*np.tril_indices(3), strict=True):
        e = jnp.zeros((3, 3)).at[j, k].set(eps)
        fd = (_nll(mean0, chol0 + e, ps) - _nll(mean0, chol0 - e, ps)) / (2 * eps)
        assert_allclose(float(gc[j, k]), float(fd), rtol=1e-6, atol=1e-6)


def _autodiff_nll(mean, cov, mask, count, xbar, scatter):
    """The FIML NLL written plainly (per pattern, autodiff only): the reference of the
    analytic derivatives of ``fiml_nll``."""

    def one(m, n, xb, s):
        d = mean.shape[-1]
        chol = jnp.linalg.cholesky(cov * m[:, None] * m[None, :] + jnp.diag(1 - m))
        linv = jax.scipy.linalg.solve_triangular(chol, jnp.eye(d), lower=True)
        z = linv @ (m * (xb - mean))
        logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol)))
        return 0.5 * (
            n * (jnp.sum(m) * np.log(2 * np.pi) + logdet + z @ z) + jnp.sum(linv @ s * linv)
        )

    return jnp.sum(jax.vmap(one)(mask, count, xbar, scatter))


def test_analytic_derivatives_equal_autodiff_and_differentiate_again():
    """First derivatives in every argument (mean, cov and the statistics) against plain
    autodiff; the Hessian in (mean, cov), forward-over-reverse as a user's jax.hessian takes it,
    against central differences of the analytic gradient."""
    from mle_jax._fiml import _fiml_total

    rng = np.random.default_rng(11)
    ps, _ = pattern_stats(random_missing(rng, 50, 3, frac=0.3), rng.uniform(0.5, 2, 50))
    args = (jnp.asarray(rng.normal(size=3)), jnp.asarray(random_cov(rng, 3)), *map(jnp.asarray, ps))
    diff = (0, 1, 3, 4, 5)  # not the mask
    assert_allclose(float(_fiml_total(*args)), float(_autodiff_nll(*args)), rtol=1e-12)
    got = jax.jit(jax.grad(_fiml_total, argnums=diff))(*args)
    want = jax.jit(jax.grad(_autodiff_nll, argnums=diff))(*args)
    for g, w in zip(got, want, strict=True):
        assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-9, atol=1e-9)
    flat = jnp.concatenate([args[0], args[1].ravel()])

    def grad_flat(u):
        g = jax.grad(_fiml_total, argnums=(0, 1))(u[:3], u[3:].reshape(3, 3), *args[2:])
        return jnp.concatenate([g[0], g[1].ravel()])

    hess = jax.jit(jax.jacfwd(grad_flat))(flat)
    g = jax.jit(grad_flat)
    eps = 1e-5
    fd = np.stack([(g(flat + eps * e) - g(flat - eps * e)) / (2 * eps) for e in np.eye(12)])
    assert_allclose(np.asarray(hess), fd.T, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("d", [1, 4])
def test_information_is_the_autodiff_hessian_in_mean_and_vech(d):
    """fiml_information against jax.hessian of the plain autodiff NLL (no custom rule) in
    (mean, vech cov), away from the MLE, with weights and with empty padding patterns."""
    from mle_jax._fiml import fiml_information
    from mle_jax._patterns import pad_patterns

    rng = np.random.default_rng(d)
    x = random_missing(rng, 40, d, frac=0.3)
    ps, _ = pattern_stats(x, rng.uniform(0.5, 2, len(x)))
    ps = pad_patterns(ps, len(ps.count) + 3)
    mean, cov = jnp.asarray(rng.normal(size=d)), jnp.asarray(random_cov(rng, d))
    rows, cols = np.tril_indices(d)

    def nll(phi):
        c = jnp.zeros((d, d)).at[rows, cols].set(phi[d:])
        return _autodiff_nll(phi[:d], c + jnp.tril(c, -1).T, *map(jnp.asarray, ps))

    want = jax.jit(jax.hessian(nll))(jnp.concatenate([mean, cov[rows, cols]]))
    got = jax.jit(fiml_information)(mean, cov, ps)
    assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", ["mvnmle_apple", "norm_mdata", "airquality"])
def test_newton_saturated_fit_equals_em(name):
    """``fiml_newton`` (the h1 model of the fit measures) from a start near the estimate
    reaches EM's fixed point; from a far start (where the Hessian need not be positive
    definite) the h1 fit falls back to the gradient fit and gives the same answer."""
    from mle_jax._fiml import fiml_newton
    from mle_jax._patterns import pad_patterns
    from mle_jax.inference._measures import _h1

    x, _ = load(name)
    ps, _ = pattern_stats(x)
    mean, cov, _ = fit_em(ps)
    sd = np.sqrt(np.diag(cov))
    want = -float(_nll(jnp.asarray(mean), jnp.linalg.cholesky(jnp.asarray(cov)), ps))
    near = (mean + 0.01 * sd, cov * (1.0 + 0.01 * np.eye(len(mean))))
    got = fiml_newton(pad_patterns(ps), *near, tol=1e-10)
    assert got is not None and got[3]
    assert_allclose(np.asarray(got[0]) / sd, mean / sd, atol=1e-8)
    assert_allclose(np.asarray(got[1]) / np.outer(sd, sd), cov / np.outer(sd, sd), atol=1e-8)
    assert_allclose(-float(got[2]), want, rtol=1e-12)
    far = (np.zeros_like(mean), np.diag(9.0 * sd**2))
    logl, _, c = _h1(float(np.sum(ps.count)), None, None, ps, far)
    assert_allclose(logl, want, rtol=1e-10)
    assert_allclose(c / np.outer(sd, sd), cov / np.outer(sd, sd), atol=1e-6)


def test_padding_patterns_changes_nothing_and_buckets_are_tight():
    from mle_jax._patterns import pad_patterns, padded_size

    sizes = [padded_size(p) for p in range(1, 20_000)]
    assert sizes[:8] == [8] * 8 and all(s % 8 == 0 for s in sizes)
    assert all(a <= b for a, b in zip(sizes, sizes[1:], strict=False))  # monotone: buckets
    ratio = np.array(sizes) / np.arange(1, 20_000)
    assert ratio[63:].max() < 1.25 and ratio[511:].max() < 1.21 and len(set(sizes)) < 60
    rng = np.random.default_rng(12)
    ps, _ = pattern_stats(random_missing(rng, 40, 3, frac=0.3))
    padded = pad_patterns(ps, padded_size(len(ps.count)) + 8)
    mean, chol = (
        jnp.asarray(rng.normal(size=3)),
        jnp.linalg.cholesky(jnp.asarray(random_cov(rng, 3))),
    )
    vg = jax.jit(jax.value_and_grad(fiml_nll, argnums=(0, 1)))
    got, want = jax.tree.leaves(vg(mean, chol, padded)), jax.tree.leaves(vg(mean, chol, ps))
    for a, b in zip(got, want, strict=True):
        assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-13, atol=1e-13)


@jax.jit
def _grad_mean_cov(mean, cov, ps):
    def f(m, c):
        return fiml_nll(m, jnp.linalg.cholesky(0.5 * (c + c.T)), ps)

    return jax.grad(f, argnums=(0, 1))(mean, cov)


def scaled_grad(ps, mean, cov):
    """Gradient of the NLL per sample w.r.t. (mean, cov) in whitened units (affine-invariant).

    With ``cov = L L^T``: ``L^T g_mean`` and ``L^T G_cov L``. Correlation units are not used:
    on near-collinear data (missvals: smallest correlation eigenvalue 5e-5) they magnify the
    gradient of an exact optimum by ~1e4.
    """
    gm, gc = _grad_mean_cov(jnp.asarray(mean), jnp.asarray(cov), ps)
    chol = np.linalg.cholesky(cov)
    n = float(np.sum(ps.count))
    return max(np.max(np.abs(chol.T @ gm)), np.max(np.abs(chol.T @ np.asarray(gc) @ chol))) / n


@pytest.mark.parametrize("name", ["mvnmle_apple", "mvnmle_missvals", "norm_mdata", "airquality"])
def test_grad_zero_at_em(name):
    x, columns = load(name)
    ps, _ = pattern_stats(x)
    check_identified(ps, columns)
    mean, cov, _ = fit_em(ps)
    assert scaled_grad(ps, mean, cov) < 1e-8


# -------------------------------------------------------------------------- EM vs closed forms


@pytest.mark.parametrize("name", ["mvnmle_apple", "mvnmle_missvals"])
def test_em_equals_monotone_closed_form_on_data(name):
    x, _ = load(name)
    ref_mean, ref_cov = monotone_mle(x)
    mean, cov, _ = fit_em(pattern_stats(x)[0])
    assert scale_rel(mean, cov, ref_mean, ref_cov) < 1e-8


def test_em_equals_monotone_closed_form_simulated():
    rng = np.random.default_rng(5)
    d, n = 5, 120
    x = random_missing(rng, n, d, frac=0.0, offset=50.0)
    cols = rng.permutation(d)  # monotone after a column shuffle
    for i, keep in enumerate(rng.integers(1, d + 1, size=n)):
        x[i, cols[keep:]] = np.nan
    x[0] = np.nan  # all-missing rows are ignored by both
    ref_mean, ref_cov = monotone_mle(x)
    mean, cov, _ = fit_em(pattern_stats(x)[0])
    assert scale_rel(mean, cov, ref_mean, ref_cov) < 1e-8


def test_em_complete_data_is_closed_form():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(40, 3))
    mean, cov, _ = fit_em(pattern_stats(x)[0])
    assert_allclose(mean, x.mean(0), rtol=1e-12)
    assert_allclose(cov, np.cov(x.T, bias=True), rtol=1e-10)


def test_em_at_its_fixed_point_converges():
    # started at the exact answer: steps of size 0 must read as converged (no 0/0)
    x = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 3.0], [1.0, 1.0]])
    ps, _ = pattern_stats(x)
    mean, cov = x.mean(0), np.cov(x.T, bias=True)
    res = _em(ps, mean, cov)
    assert bool(res.converged) and int(res.num_iter) <= 3


def test_monotone_mle_rejects_non_monotone():
    x, _ = load("norm_mdata")
    with pytest.raises(ValueError, match="not monotone"):
        monotone_mle(x)


def test_published_mvnmle_apple():
    # R mvnmle::mlest(apple) (Little & Rubin 1987, Table 6.1 example); nlm-rounded values
    x, _ = load("mvnmle_apple")
    mean, cov, _ = fit_em(pattern_stats(x)[0])
    assert_allclose(mean, [14.722, 49.333], atol=1e-3)
    assert_allclose(cov, [[89.534, -90.696], [-90.696, 114.694]], atol=2e-3)


def test_published_mvnmle_missvals():
    # R mvnmle::mlest(missvals, iterlim=400) run by benchmarks/r/references.R: muhat and
    # value = 173.957, -2 log-likelihood without the 2*pi constant (missing_references.json)
    x, _ = load("mvnmle_missvals")
    ps, _ = pattern_stats(x)
    mean, cov = monotone_mle(x)
    assert_allclose(mean, [6.655, 49.965, 11.769, 27.047, 95.423], atol=1e-3)
    _, m2ll = observed_loglik(ps, mean, cov)
    assert_allclose(m2ll, 173.95664756979778, rtol=1e-9)


# -------------------------------------------------------------------------- identification, start


def test_check_identified_names_columns():
    x = np.array([[1.0, np.nan, 2.0], [np.nan, 3.0, 1.0], [2.0, np.nan, 0.0]])
    with pytest.raises(ValueError, match=r"column 0 \('a'\) and column 1 \('b'\)"):
        check_identified(pattern_stats(x)[0], ["a", "b", "c"])
    x[:, 2] = np.nan
    with pytest.raises(ValueError, match=r"column 2 is never observed"):
        check_identified(pattern_stats(x)[0])


def test_start_is_pairwise_and_spd():
    rng = np.random.default_rng(7)
    x = random_missing(rng, 80, 4, frac=0.3)
    mean, cov = start(pattern_stats(x)[0])
    assert_allclose(mean, np.nanmean(x, 0), rtol=1e-12)
    both = ~np.isnan(x[:, 0]) & ~np.isnan(x[:, 1])
    pair = x[both][:, :2]
    assert_allclose(cov[0, 1], np.cov(pair.T, bias=True)[0, 1], rtol=1e-6)
    assert np.all(np.linalg.eigvalsh(cov) > 0)
    # pairwise moments that are not positive semi-definite are projected
    y = np.array([[0, 0, np.nan], [1, 1, np.nan], [0, np.nan, 1], [1, np.nan, 0],
                  [np.nan, 0, 0], [np.nan, 1, 1]], float)  # fmt: skip
    _, cov = start(pattern_stats(y)[0])
    assert np.all(np.linalg.eigvalsh(cov) > 0)
