"""The fitted distribution: samples, densities of new rows, conditionals, imputation,
correlations with delta-method errors, printing and save/load.

Oracles: scipy densities, the Schur complement and least squares, moments of samples against
their standard errors, finite differences for the delta method, the classical
``se(r) = (1 - r^2) / sqrt(n)``. One fit per model for the module."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mle_jax as mj
from mle_jax._distribution import param_draws

COV = np.array([[1.0, 0.5, 0.2], [0.5, 2.0, 0.3], [0.2, 0.3, 1.5]])
MEAN = np.array([0.0, 1.0, 2.0])
N = 200


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(0).multivariate_normal(MEAN, COV, size=N)


@pytest.fixture(scope="module")
def gauss(data):
    return mj.fit(data, columns=("a", "b", "c"), tol=1e-10)


@pytest.fixture(scope="module")
def fa_data():
    rng = np.random.default_rng(1)
    loadings, unique = np.array([0.9, 0.8, 0.7, 0.6]), np.array([0.5, 0.6, 0.7, 0.8])
    return rng.normal(size=(N, 1)) * loadings + rng.normal(size=(N, 4)) * np.sqrt(unique) + 1.0


@pytest.fixture(scope="module")
def fa(fa_data):
    return mj.fit(fa_data, mj.FactorAnalysis(1))


@pytest.fixture(scope="module")
def many(data, gauss):
    """A batch of two fits, as fit_many lays it out (batch axis first on every leaf): the
    second member is a fit of other data of the same shape (the same compiled loop)."""
    other = mj.fit(data * 2.0 + 1.0, columns=("a", "b", "c"), tol=1e-10)
    return jax.tree.map(lambda a, b: np.stack([np.asarray(a), np.asarray(b)]), gauss, other)


@pytest.fixture(scope="module")
def uni(gauss):
    """A univariate result (the first column's marginal): these methods read only ``mean``,
    ``cov``, ``univariate`` and ``stats.mean``'s shape, so no univariate fit is compiled."""
    st = gauss.stats
    stats1 = type(st)(st.count, np.asarray(st.mean)[:1], np.asarray(st.scatter)[:1, :1])
    mean, cov = gauss.mean[0], gauss.cov[0, 0]
    return gauss.replace(
        mean=mean, cov=cov, std=jnp.sqrt(cov), stats=stats1, univariate=True, columns=("a",)
    )


def holes(data):
    x = data[:12].copy()
    x[0, 1] = np.nan
    x[1, [0, 2]] = np.nan
    x[2, :] = np.nan
    return x


def scipy_logpdf(mean, cov, x):
    out = []
    for row in x:
        o = ~np.isnan(row)
        if not o.any():
            out.append(0.0)
            continue
        out.append(stats.multivariate_normal(mean[o], cov[np.ix_(o, o)]).logpdf(row[o]))
    return np.array(out)


def moments(res):
    return np.asarray(res.mean, np.float64), np.asarray(res.cov, np.float64)


# ------------------------------------------------------------------------------ logpdf


def test_logpdf_is_scipy_on_the_observed_entries(data, gauss, fa, fa_data):
    for res, x in ((gauss, holes(data)), (fa, holes(fa_data))):
        mean, cov = moments(res)
        np.testing.assert_allclose(res.logpdf(x), scipy_logpdf(mean, cov, x), rtol=1e-10)
        np.testing.assert_allclose(res.logpdf(x[3]), scipy_logpdf(mean, cov, x[3:4])[0])
    x = holes(data)
    frame = pd.DataFrame(x[:, ::-1], columns=["c", "b", "a"])  # by name
    np.testing.assert_allclose(gauss.logpdf(frame), gauss.logpdf(x), rtol=1e-12)
    np.testing.assert_array_equal(x, holes(data))  # not mutated


def test_logpdf_batched_and_univariate(data, many, uni):
    out = many.logpdf(data[:5])
    assert out.shape == (2, 5)
    for k in range(2):
        mean, cov = moments(many[k])
        np.testing.assert_allclose(out[k], scipy_logpdf(mean, cov, data[:5]), rtol=1e-10)
    v = np.array([0.3, np.nan, -1.0])
    want = stats.norm(float(uni.mean), float(uni.std)).logpdf(v)
    np.testing.assert_allclose(uni.logpdf(v), np.where(np.isnan(v), 0.0, want), rtol=1e-10)
    filled = mj.missing.impute(uni, v)  # univariate: the mean
    assert filled.shape == (3,) and filled[0] == v[0] and filled[1] == float(uni.mean)
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        many.logpdf(np.zeros((2, 4)))


# ------------------------------------------------------------------------------ sample


def test_sample_moments_within_their_standard_errors(gauss):
    n = 20_000
    x = np.asarray(gauss.sample(jax.random.key(0), n), np.float64)
    assert x.shape == (n, 3)
    mean, cov = moments(gauss)
    se_mean = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(x.mean(0) - mean) < 5 * se_mean)
    s = np.cov(x.T, bias=True)
    se_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
    assert np.all(np.abs(s - cov) < 5 * se_cov)
    again = np.asarray(gauss.sample(jax.random.key(0), n))
    np.testing.assert_array_equal(x, again)


def test_sample_shapes_and_bad_input(many, uni):
    assert many.sample(jax.random.key(1), 4).shape == (2, 4, 3)
    assert uni.sample(jax.random.key(1), 4).shape == (4,)
    with pytest.raises(TypeError, match="random key"):
        many.sample(0, 4)
    with pytest.raises(ValueError, match="n must be an int"):
        many.sample(jax.random.key(1), -1)


# ------------------------------------------------------------------------- conditional


def schur(mean, cov, known, values):
    u = np.setdiff1d(np.arange(len(mean)), known)
    coef = cov[np.ix_(u, known)] @ np.linalg.inv(cov[np.ix_(known, known)])
    m = mean[u] + coef @ (values - mean[known])
    c = cov[np.ix_(u, u)] - coef @ cov[np.ix_(known, u)]
    return m, c, coef


def test_conditional_is_the_schur_complement(gauss, fa, many):
    for res in (gauss, fa):
        mean, cov = moments(res)
        c = res.conditional({0: 1.0, 2: -0.5})
        m, s, coef = schur(mean, cov, np.array([0, 2]), np.array([1.0, -0.5]))
        np.testing.assert_allclose(c.mean, m, rtol=1e-10)
        np.testing.assert_allclose(c.cov, s, rtol=1e-10)
        np.testing.assert_allclose(c.coef, coef, rtol=1e-10)
        np.testing.assert_allclose(c.intercept + c.coef @ np.array([1.0, -0.5]), c.mean)
    by_name = gauss.conditional({"c": -0.5, "a": 1.0})
    by_array = gauss.conditional(np.array([1.0, np.nan, -0.5]))
    for a, b in zip(by_name[:4], by_array[:4], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert by_name.columns == ("b",) and by_name.given == ("a", "c")
    batched = many.conditional({1: 0.0})
    assert batched.mean.shape == (2, 2) and batched.coef.shape == (2, 2, 1)
    for k in range(2):
        np.testing.assert_allclose(batched.cov[k], many[k].conditional({1: 0.0}).cov)


def test_conditional_coefficients_are_least_squares(data, gauss):
    """The saturated MLE's regression of b on (a, c) is the OLS fit to the data."""
    design = np.column_stack([np.ones(N), data[:, [0, 2]]])
    beta = np.linalg.lstsq(design, data[:, 1], rcond=None)[0]
    c = gauss.conditional({"a": 0.0, "c": 0.0})
    np.testing.assert_allclose(c.intercept[0], beta[0], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(c.coef[0], beta[1:], rtol=1e-6)


def test_conditional_bad_input(gauss):
    with pytest.raises(ValueError, match="does not have"):
        gauss.conditional({"z": 1.0})
    with pytest.raises(ValueError, match="at most 2"):
        gauss.conditional({0: 1.0, 1: 1.0, 2: 1.0})
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        gauss.conditional(np.zeros(2))


# ------------------------------------------------------------------------------ impute


def test_impute_conditional_means(data, gauss):
    x = holes(data)
    out = mj.missing.impute(gauss, x)
    np.testing.assert_array_equal(x, holes(data))  # not mutated
    observed = ~np.isnan(x)
    np.testing.assert_array_equal(out[observed], x[observed])
    mean, cov = moments(gauss)
    for i in range(3):
        o = observed[i]
        if o.any():
            m = schur(mean, cov, np.flatnonzero(o), x[i, o])[0]
        else:
            m = mean
        np.testing.assert_allclose(out[i, ~o], m, rtol=1e-10)
    assert not np.isnan(out).any()
    out32 = mj.missing.impute(gauss, x.astype(np.float32))  # the input's dtype comes back
    assert out32.dtype == np.float32 and (out32[observed] == x.astype(np.float32)[observed]).all()


def test_impute_pandas_in_pandas_out(data, gauss):
    x = holes(data)
    frame = pd.DataFrame(x, columns=["a", "b", "c"], index=np.arange(12) * 10)
    frame["label"] = "row"
    out = mj.missing.impute(gauss, frame)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["a", "b", "c", "label"]
    assert (out.index == frame.index).all() and frame["b"].isna().sum() == 2  # untouched
    np.testing.assert_allclose(out[["a", "b", "c"]].to_numpy(), mj.missing.impute(gauss, x))
    many = mj.missing.impute(gauss, frame, draws=2, key=jax.random.key(0))
    assert len(many) == 2 and all(isinstance(f, pd.DataFrame) for f in many)


def test_multiple_imputation_draws(data, gauss):
    x = holes(data)  # the shapes of the DataFrame test's draws: one compiled program
    out = mj.missing.impute(gauss, x, draws=2, key=jax.random.key(0))
    assert out.shape == (2, 12, 3)
    observed = ~np.isnan(x)
    assert (out[:, observed] == x[observed]).all() and not np.isnan(out).any()
    assert not np.allclose(out[0], out[1])
    np.testing.assert_array_equal(out, mj.missing.impute(gauss, x, draws=2, key=jax.random.key(0)))
    # one missing entry many times: mean = the conditional mean, variance = the conditional
    # variance plus the (small, O(1/n)) parameter part (a model's parameter draws: the next
    # test; the conditional step is the same for every model)
    m = 4000
    row = holes(data)[:1]
    draws = mj.missing.impute(gauss, row, draws=m, key=jax.random.key(1))[:, 0, 1]
    mean, cov = moments(gauss)
    o = np.flatnonzero(~np.isnan(row[0]))
    cm, cv, _ = schur(mean, cov, o, row[0, o])
    assert abs(draws.mean() - cm[0]) < 5 * draws.std() / np.sqrt(m)
    ratio = draws.var() / cv[0, 0]
    assert 0.9 < ratio < 1.25, ratio
    with pytest.raises(TypeError, match="key"):
        mj.missing.impute(gauss, x, draws=2)
    with pytest.raises(ValueError, match="draws must be"):
        mj.missing.impute(gauss, x, draws=0, key=jax.random.key(0))


def test_parameter_draws_follow_the_standard_errors(gauss, fa):
    m = 4000
    means, covs = param_draws(gauss, jax.random.key(2), m)
    se = mj.standard_errors(gauss)
    tol = 5 * np.sqrt(2.0 / m)  # the relative SE of a sample variance
    np.testing.assert_allclose(means.std(0) / np.asarray(se.mean), 1.0, atol=tol)
    np.testing.assert_allclose(covs.std(0) / np.asarray(se.cov), 1.0, atol=tol)
    means, _ = param_draws(fa, jax.random.key(2), m)
    tab = mj.inference.parameter_table(fa)
    se_mean = tab.set_index("name").loc[[f"mean[{j}]" for j in range(4)], "se"].to_numpy()
    np.testing.assert_allclose(means.std(0) / se_mean, 1.0, atol=tol)


# --------------------------------------------------------------------------- correlation


def test_corr_and_its_delta_standard_errors(gauss, fa):
    mean, cov = moments(gauss)
    std = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(gauss.corr, cov / np.outer(std, std), rtol=1e-12)
    # each correlation of a saturated fit: the classical (1 - r^2) / sqrt(n)
    c = mj.inference.correlation(gauss)
    off = ~np.eye(3, dtype=bool)
    np.testing.assert_allclose(c.se[off], (1 - c.estimate[off] ** 2) / np.sqrt(N), rtol=1e-6)
    # d = 3: finite differences of corr in vech(cov), carried by the covariance of vech(cov)
    rows, cols = np.tril_indices(3)
    vech = cov[rows, cols]

    def corr_of(v):
        s = np.zeros((3, 3))
        s[rows, cols] = v
        s[cols, rows] = v
        sd = np.sqrt(np.diag(s))
        return (s / np.outer(sd, sd)).ravel()

    h = 1e-6
    jac = np.stack(
        [(corr_of(vech + h * e) - corr_of(vech - h * e)) / (2 * h) for e in np.eye(6)], axis=1
    )
    vcov = np.asarray(mj.standard_errors(gauss).vcov)[3:, 3:]
    want = np.sqrt(np.diag(jac @ vcov @ jac.T)).reshape(3, 3)
    got = mj.inference.correlation(gauss)
    np.testing.assert_allclose(got.se, want, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(got.estimate, gauss.corr, rtol=1e-12)
    # a model: the analytic chain against autodiff through the model's covariance
    model = fa.model

    def corr_fn(p):
        s = model.cov(p)
        sd = jnp.sqrt(jnp.diagonal(s))
        return s / jnp.outer(sd, sd)

    auto = mj.inference.delta(fa, corr_fn)
    got = mj.inference.correlation(fa)
    np.testing.assert_allclose(got.se, auto.se, rtol=1e-8, atol=1e-12)


# ----------------------------------------------------------------------------- printing


def test_short_repr_and_notebook_views(gauss, fa, many):
    text = repr(gauss)
    assert len(text) < 400 and "nll=" in text and "converged" in text and "n=200" in text
    assert "mean[a]" in text and "cov[b,a]" in text
    assert "loadings" in repr(fa) and len(repr(fa)) < 600
    assert "2 fits" in repr(many) and len(repr(many)) < 300
    assert "| mean[a] |" in gauss._repr_markdown_()
    assert "<table>" in fa._repr_html_() and "uniquenesses" in fa._repr_html_()


def test_summary_frame_and_display(gauss, capsys):
    out = mj.summary(gauss)  # not under IPython: printed once
    assert capsys.readouterr().out.strip() == out.text.strip()
    assert repr(out) == out.text and "<pre>" in out._repr_html_()
    frame = out.to_frame()
    table = mj.inference.parameter_table(gauss, "observed")
    assert list(frame.columns) == list(table.columns)
    np.testing.assert_allclose(frame["se"], table["se"], rtol=1e-8)
    assert frame.attrs["num_params"] == 9


def test_summary_under_ipython_is_shown_by_its_display(gauss, capsys, monkeypatch):
    """In Jupyter the returned Summary displays the table: printing too showed it twice."""
    import sys
    import types

    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: object()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", fake)
    out = mj.summary(gauss)
    assert capsys.readouterr().out == ""
    assert repr(out) == out.text and "Gaussian fit results" in out.text
    mj.summary(gauss, print_table=True)
    assert "Gaussian fit results" in capsys.readouterr().out


# ------------------------------------------------------------------------------- saving


def assert_same(a, b):
    for f in ("mean", "cov", "std", "nll", "converged", "status", "num_steps", "count", "free"):
        va, vb = getattr(a, f), getattr(b, f)
        if va is None:
            assert vb is None
            continue
        np.testing.assert_array_equal(np.asarray(va), np.asarray(vb))
    leaves = (jax.tree.leaves((r.params, r.stats, r.standardiser)) for r in (a, b))
    for la, lb in zip(*leaves, strict=True):
        np.testing.assert_array_equal(np.asarray(la), np.asarray(lb))
    static = ("columns", "names", "univariate", "model")
    assert all(getattr(a, f) == getattr(b, f) for f in static)
    assert a.layout == b.layout


def test_save_load_round_trip(tmp_path, gauss, fa, many):
    back = mj.FitResult.load(gauss.save(tmp_path / "gauss"))
    assert_same(gauss, back)
    assert_same(many, mj.FitResult.load(many.save(tmp_path / "many")))
    np.testing.assert_allclose(mj.standard_errors(back).cov, mj.standard_errors(gauss).cov)
    path = fa.save(tmp_path / "fa.npz")
    assert path.endswith("fa.npz")
    back = mj.FitResult.load(path)
    assert_same(fa, back)
    a, b = mj.inference.parameter_table(fa), mj.inference.parameter_table(back)
    np.testing.assert_allclose(a["se"], b["se"], rtol=1e-12)


def test_load_errors(tmp_path, gauss, data):
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    with pytest.raises(ValueError, match="not a saved FitResult"):
        mj.FitResult.load(bad)
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="no mle_jax metadata"):
        mj.FitResult.load(tmp_path / "other.npz")
    path = gauss.save(tmp_path / "g.npz")
    with np.load(path) as f:
        arrays = dict(f)
    meta = json.loads(str(arrays["__meta__"]))
    meta["format_version"] = 99
    arrays["__meta__"] = np.asarray(json.dumps(meta))
    np.savez(tmp_path / "newer.npz", **arrays)
    with pytest.raises(ValueError, match="upgrade mle_jax"):
        mj.FitResult.load(tmp_path / "newer.npz")
    with pytest.raises(ValueError, match="model is a FactorAnalysis"):
        mj.FitResult.load(path, model=mj.FactorAnalysis(1))


def test_a_model_with_functions_is_passed_back(tmp_path, fa):
    """A model the file cannot rebuild (a Structured model, a prior: functions) is passed
    to load; here the file of a built-in with its fields removed stands for one."""
    path = fa.save(tmp_path / "fa")
    with np.load(path) as f:
        arrays = dict(f)
    meta = json.loads(str(arrays["__meta__"]))
    del meta["model"]["fields"]
    arrays["__meta__"] = np.asarray(json.dumps(meta))
    np.savez(tmp_path / "fn.npz", **arrays)
    with pytest.raises(ValueError, match="cannot be rebuilt") as err:
        mj.FitResult.load(tmp_path / "fn.npz")
    assert "model=" in str(err.value)
    assert_same(fa, mj.FitResult.load(tmp_path / "fn.npz", model=mj.FactorAnalysis(1)))


def test_structured_model_is_not_rebuilt():
    from mle_jax._result_io import _model_meta

    model = mj.Structured(cov=lambda p: p["var"] * jnp.eye(2), init={"var": 1.0})
    assert "fields" not in _model_meta(model)
    assert "fields" in _model_meta(mj.Gaussian("diag", fix_mean=[0.0, 1.0]))
    assert "fields" not in _model_meta(mj.Gaussian(prior=lambda m, c: 0.0))
