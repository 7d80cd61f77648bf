"""Inference by name for every model, against R (lavaan, lme4) and against the formulas:
expected information = J^T (S^-1 (x) S^-1) J / 2 (+ the mean part), observed information =
finite differences of the NLL, the delta method, likelihood-ratio tests."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mle_jax as mj
from mle_jax.constraints import positive

DATA = Path(__file__).parent / "data"
REFS = json.loads((DATA / "model_references.json").read_text())
ITEMS = [f"x{i}" for i in range(1, 10)]
_ROWS, _COLS = np.tril_indices(3)


def _cfa_cov(p):
    """lavaan's 'visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9':
    first loadings fixed to 1, a free factor covariance, free residual variances."""
    lam = jnp.zeros((9, 3)).at[jnp.array([0, 3, 6]), jnp.array([0, 1, 2])].set(1.0)
    lam = lam.at[jnp.array([1, 2, 4, 5, 7, 8]), jnp.array([0, 0, 1, 1, 2, 2])].set(p["load"])
    phi = jnp.zeros((3, 3)).at[_ROWS, _COLS].set(p["phi"])
    phi = phi + jnp.tril(phi, -1).T
    return lam @ phi @ lam.T + jnp.diag(p["theta"])


_cfa_cov_jit = jax.jit(_cfa_cov)  # the finite-difference oracles call it ~2000 times


CFA = mj.Structured(
    cov=_cfa_cov,
    init={"load": np.ones(6), "phi": np.array([1.0, 0, 1, 0, 0, 1]), "theta": np.ones(9)},
    constraints={"theta": positive},
    name="Holzinger-Swineford CFA",
)


def _lavaan_rows(ref):
    """lavaan's free parameters in our order (loadings, phi's lower triangle, thetas)."""
    pe = ref["parameter_estimates"]
    rows = list(zip(pe["lhs"], pe["op"], pe["rhs"], strict=True))
    f = ["visual", "textual", "speed"]
    load = [(f[j // 3], "=~", ITEMS[j]) for j in (1, 2, 4, 5, 7, 8)]
    phi = [(f[i], "~~", f[j]) if (f[i], "~~", f[j]) in rows else (f[j], "~~", f[i])
           for i, j in zip(_ROWS, _COLS, strict=True)]  # fmt: skip
    theta = [(x, "~~", x) for x in ITEMS]
    index = [rows.index(r) for r in load + phi + theta]
    return {k: np.asarray(pe[k], np.float64)[index] for k in ("est", "se")}, index


@pytest.fixture(scope="module")
def hs():
    x, cols = mj.load_dataset("holzinger_swineford")
    return x[:, [cols.index(c) for c in ITEMS]]


@pytest.fixture(scope="module")
def hs_fit(hs):
    return mj.fit(hs, CFA, columns=ITEMS)


def test_cfa_matches_lavaan_complete(hs_fit):
    ref = REFS["lavaan_hs_cfa"]
    want, index = _lavaan_rows(ref)
    res = hs_fit
    assert bool(res.converged)
    np.testing.assert_allclose(-float(res.nll), ref["loglik"], rtol=1e-11)
    tab = mj.inference.parameter_table(res)  # lavaan's default for complete data: expected
    assert tab.attrs["information"] == "expected"
    p = len(index)
    np.testing.assert_allclose(tab["estimate"][:p], want["est"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(tab["se"][:p], want["se"], rtol=1e-5)
    obs = mj.inference.parameter_table(res, "observed")
    se_obs = np.asarray(ref["observed_information"]["se"], np.float64)[index]
    np.testing.assert_allclose(obs["se"][:p], se_obs, rtol=1e-5)
    lr = mj.inference.lr_test(res)  # lavaan's model chi-square against the saturated fit
    fm = ref["fit_measures"]
    assert lr.df == fm["df"]
    np.testing.assert_allclose(lr.chisq, fm["chisq"], rtol=1e-8)
    np.testing.assert_allclose(lr.pvalue, fm["pvalue"], rtol=1e-6)
    np.testing.assert_allclose(res.cov, ref["implied_cov"], rtol=1e-6, atol=1e-8)


def test_cfa_matches_lavaan_with_missing_data():
    ref = REFS["lavaan_hs_cfa_missing"]
    x = np.genfromtxt(DATA / "hs_missing.csv", delimiter=",", skip_header=1)
    res = mj.fit(x, CFA, missing="fiml", columns=ITEMS)
    assert bool(res.converged)
    # lavaan's nlminb stops at a relative objective change of 1e-10: its log-likelihood is
    # ours to 1e-11 but not above it, and its estimates are within ~sqrt of that of ours
    np.testing.assert_allclose(-float(res.nll), ref["loglik"], rtol=1e-11)
    assert -float(res.nll) >= ref["loglik"] - 1e-9
    want, index = _lavaan_rows(ref)
    tab = mj.inference.parameter_table(res)  # lavaan's default for FIML: observed
    assert tab.attrs["information"] == "observed"
    np.testing.assert_allclose(tab["estimate"][: len(index)], want["est"], rtol=1e-5)
    np.testing.assert_allclose(tab["se"][: len(index)], want["se"], rtol=1e-4)
    np.testing.assert_allclose(res.mean, ref["implied_mean"], rtol=1e-6)
    lr = mj.inference.lr_test(res)  # against the saturated FIML fit
    np.testing.assert_allclose(-lr.loglik_general, -ref["unrestricted_loglik"], rtol=1e-10)
    np.testing.assert_allclose(lr.chisq, ref["fit_measures"]["chisq"], rtol=1e-7)


def test_wide_form_mixed_model_matches_lme4():
    """Reaction ~ Days + (Days | Subject), ML: in wide form a multivariate normal with mean
    X beta and covariance X G X^T + sigma^2 I (X = [1, day]); lme4's fixed effects, G,
    sigma^2, log-likelihood and the fixed effects' standard errors."""
    ref = REFS["lme4_sleepstudy"]
    y = np.asarray(ref["wide"]["data"], np.float64)
    days = jnp.arange(10.0)
    design = jnp.stack([jnp.ones(10), days], axis=1)
    mixed = mj.Structured(
        mean=lambda p: design @ p["beta"],
        cov=lambda p: design @ p["G"] @ p["G"].T @ design.T + p["sigma2"] * jnp.eye(10),
        init={"beta": np.array([250.0, 10.0]), "G": 10.0 * np.eye(2), "sigma2": 500.0},
        constraints={"G": mj.constraints.cholesky, "sigma2": positive},
        name="random intercept and slope",
    )
    res = mj.fit(y, mixed)
    assert bool(res.converged)
    # lme4's optimiser stops earlier than ours: the same log-likelihood to 1e-10 (ours not
    # lower), the variance parameters to ~1e-5
    np.testing.assert_allclose(-float(res.nll), ref["loglik"], rtol=1e-10)
    assert -float(res.nll) >= ref["loglik"] - 1e-9
    np.testing.assert_allclose(res.params["beta"], list(ref["fixef"].values()), rtol=1e-6)
    g = np.asarray(res.params["G"])
    np.testing.assert_allclose(g @ g.T, ref["G"], rtol=1e-4)
    np.testing.assert_allclose(float(res.params["sigma2"]), ref["sigma2"], rtol=2e-5)
    tab = mj.inference.parameter_table(res, "expected")
    se = tab.set_index("name")["se"]
    np.testing.assert_allclose(
        se[["beta[0]", "beta[1]"]], list(ref["fixef_se"].values()), rtol=1e-4
    )
    # G's entries by the delta method
    cov_g = mj.inference.delta(res, lambda p: p["G"] @ p["G"].T)
    np.testing.assert_allclose(cov_g.estimate, ref["G"], rtol=1e-4)
    assert cov_g.se.shape == (2, 2) and np.all(cov_g.se > 0)


def _nll_theta(res, theta):
    """An independent NLL of complete data in the CFA's natural parameters (numpy)."""
    x = np.asarray(res.stats.mean)
    n = float(res.stats.count)
    s = np.asarray(res.stats.scatter) / n
    p = {"load": theta[:6], "phi": theta[6:12], "theta": theta[12:21]}
    mean = theta[21:]
    cov = np.asarray(_cfa_cov_jit(jax.tree.map(jnp.asarray, p)))
    sign, logdet = np.linalg.slogdet(cov)
    r = x - mean
    quad = np.trace(np.linalg.solve(cov, s + np.outer(r, r)))
    return 0.5 * n * (9 * np.log(2 * np.pi) + logdet + quad)


def test_information_matrices_equal_their_formulas(hs_fit):
    """Observed = central finite differences of the NLL in the natural parameters;
    expected = n (J_m^T S^-1 J_m + J^T (S^-1 (x) S^-1) J / 2), J by finite differences."""
    res = hs_fit
    theta = np.asarray(mj.inference.parameter_table(res)["estimate"], np.float64)
    obs = mj.inference.information(res, "observed")
    h = 1e-4 * np.maximum(1.0, np.abs(theta))
    p = theta.size
    fd = np.zeros((p, p))
    for i in range(p):
        for j in range(i, p):
            e_i, e_j = np.eye(p)[i] * h[i], np.eye(p)[j] * h[j]
            f = [
                _nll_theta(res, theta + a * e_i + b * e_j)
                for a, b in ((1, 1), (1, -1), (-1, 1), (-1, -1))
            ]
            fd[i, j] = fd[j, i] = (f[0] - f[1] - f[2] + f[3]) / (4 * h[i] * h[j])
    np.testing.assert_allclose(obs, fd, rtol=2e-4, atol=2e-4 * np.abs(fd).max())
    n = float(res.count)
    sigma = np.asarray(res.cov)
    prec = np.linalg.inv(sigma)

    def moments(t):
        q = {"load": t[:6], "phi": t[6:12], "theta": t[12:21]}
        return np.asarray(_cfa_cov_jit(jax.tree.map(jnp.asarray, q))).ravel(), t[21:]

    step = lambda i: h[i] * np.eye(p)[i]  # noqa: E731
    jac_c = np.stack(
        [
            (moments(theta + step(i))[0] - moments(theta - step(i))[0]) / (2 * h[i])
            for i in range(p)
        ],
        axis=1,
    )
    jac_m = np.concatenate([np.zeros((9, 21)), np.eye(9)], axis=1)
    want = n * (jac_m.T @ prec @ jac_m + 0.5 * jac_c.T @ np.kron(prec, prec) @ jac_c)
    exp = mj.inference.information(res, "expected")
    np.testing.assert_allclose(exp, want, rtol=1e-6, atol=1e-8 * np.abs(want).max())


def test_gaussian_tables_expected_equals_observed_at_complete_data():
    x = np.random.default_rng(0).normal(size=(150, 3)) @ np.diag([1.0, 2.0, 3.0])
    res = mj.fit(x)
    obs = mj.inference.parameter_table(res, "observed")
    exp = mj.inference.parameter_table(res, "expected")
    assert list(obs["name"])[:4] == ["mean[0]", "mean[1]", "mean[2]", "var[0]"]
    np.testing.assert_allclose(exp["se"], obs["se"], rtol=1e-8)
    n, s = 150, np.cov(x.T, bias=True)
    np.testing.assert_allclose(obs["se"][:3], np.sqrt(np.diag(s) / n), rtol=1e-8)
    diag = mj.fit(x, mj.Gaussian("diag"))
    assert list(mj.inference.parameter_table(diag)["name"]) == [
        "mean[0]", "mean[1]", "mean[2]", "var[0]", "var[1]", "var[2]"
    ]  # fmt: skip


def test_nested_likelihood_ratio_tests():
    lag = np.abs(np.subtract.outer(np.arange(4), np.arange(4)))
    x = np.random.default_rng(1).multivariate_normal(np.zeros(4), 0.7**lag, size=400)
    ar1, toe = mj.fit(x, mj.AR1()), mj.fit(x, mj.Toeplitz())
    lr = mj.inference.lr_test(ar1, toe)
    assert lr.df == 2 and lr.chisq >= 0
    np.testing.assert_allclose(lr.chisq, 2 * (float(ar1.nll) - float(toe.nll)), rtol=1e-12)
    with pytest.raises(ValueError, match="more general fit second"):
        mj.inference.lr_test(toe, ar1)
    sat = mj.inference.lr_test(toe)
    assert sat.df == 10 - 4


def test_summary_of_a_model_fit_prints_its_table_and_test(hs_fit, capsys):
    out = mj.summary(hs_fit)
    text = capsys.readouterr().out
    assert out.names[0] == "load[0]" and "Holzinger-Swineford CFA" in text
    assert "chi-square 85.3055 on 24 df" in text and "expected information" in text
    with pytest.raises(ValueError, match="Wald"):
        mj.summary(hs_fit, interval="profile")
