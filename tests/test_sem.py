"""Structural equation models (mj.SEM): lavaan's syntax, its parameter table, its fit
measures, multigroup models and the bootstrap, checked against lavaan 0.6-14
(tests/data/sem_references.json, written by benchmarks/r/sem_references.R) and against
oracles of their own (nested fits, scalings, resampling)."""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mle_jax as mj
from mle_jax._patterns import pattern_stats
from mle_jax._sem_syntax import parse, partable
from mle_jax.inference._bootstrap import _weights, replicate_stats

pd = pytest.importorskip("pandas")

ROOT = pathlib.Path(__file__).resolve().parents[1]
REFS = json.loads((ROOT / "tests/data/sem_references.json").read_text())["cases"]
HS = "visual =~ x1 + x2 + x3\n textual =~ x4 + x5 + x6\n speed =~ x7 + x8 + x9"


@functools.cache
def frame(name: str):
    paths = {
        "hs": "mle_jax/data/holzinger_swineford.csv",
        "hs_missing": "tests/data/hs_missing.csv",
        "poldem": "mle_jax/data/political_democracy.csv",
    }
    return pd.read_csv(ROOT / paths[name])


def _model(case: dict) -> mj.SEM:
    o = case["options"]
    return mj.SEM(
        case["syntax"],
        group=o.get("group"),
        group_equal=tuple(o.get("group.equal") or ()),
        std_lv=bool(o.get("std.lv")),
        meanstructure=True if o.get("meanstructure") is True else None,
    )


@functools.cache
def fitted(name: str):
    """One fit per reference case per module (compiled once)."""
    case = REFS[name]
    data = frame({"hs_cfa_fiml": "hs_missing", "poldem": "poldem"}.get(name, "hs"))
    missing = "fiml" if case["options"].get("missing") == "ml" else "raise"
    return mj.fit(data, _model(case), missing=missing)


def _rows(table) -> dict:
    keys = zip(table["lhs"], table["op"], table["rhs"], table["group"], strict=True)
    return {k: i for i, k in enumerate(keys)}


# ----------------------------------------------------------------------------- the syntax


def test_parse_reads_comments_semicolons_and_continuations():
    text = "# a comment\nf =~ x1 + 0.5*x2 +\n  a*x3 ! another\n y ~ f; y ~ 1\n y ~~ c(1, NA)*y"
    stmts = parse(text)
    assert [(s.lhs, s.op) for s in stmts] == [("f", "=~"), ("y", "~"), ("y", "~"), ("y", "~~")]
    terms = stmts[0].terms
    assert [t.var for t in terms] == ["x1", "x2", "x3"]
    assert terms[1].fixed == (0.5,) and terms[2].label == ("a",)
    assert stmts[2].terms[0].var == "1"
    assert stmts[3].terms[0].fixed == (1.0, None)


@pytest.mark.parametrize(
    "syntax, needle",
    [
        ("f =~ x1 + x2\n a := 2*b", "':=' is not supported"),
        ("f =~ x1 + + x2", "an empty term"),
        ("f =~ x1 + x2 +", "an empty term"),
        ("f =~ x1 + 2a*x2", "cannot read the modifier"),
        ("f =~ x1 + 1", "'1' is not an indicator"),
        ("f x1 x2", "no operator"),
        ("# nothing", "no statements"),
        ("f + g =~ x1", "is not one variable name"),
    ],
)
def test_syntax_errors_quote_the_line(syntax, needle):
    with pytest.raises(ValueError, match="model syntax") as err:
        mj.SEM(syntax)
    assert needle in str(err.value)


def test_partable_has_lavaans_defaults():
    rows = partable(parse(HS))
    ref = [r for r in REFS["hs_cfa_meanstructure"]["parameters"] if r["op"] != "=="]
    mine = {(r.lhs, r.op, r.rhs): r for r in rows}
    assert len(rows) == len(ref)
    for r in ref:
        row = mine[(r["lhs"], r["op"], r["rhs"])]
        assert bool(row.free) == r["free"], r
        if not r["free"]:
            assert row.value == pytest.approx(r["est"])
    std = {(r.lhs, r.op, r.rhs): r for r in partable(parse(HS), std_lv=True)}
    assert std[("visual", "=~", "x1")].free and not std[("visual", "~~", "visual")].free


def test_group_equal_ties_rows_and_frees_latent_means():
    rows = partable(parse(HS), 2, group_equal=("loadings", "intercepts"))
    by = {(r.lhs, r.op, r.rhs, r.group): r for r in rows}
    assert by[("visual", "=~", "x2", 1)].free == by[("visual", "=~", "x2", 2)].free
    assert by[("x1", "~1", "", 1)].free == by[("x1", "~1", "", 2)].free
    assert by[("x1", "~~", "x1", 1)].free != by[("x1", "~~", "x1", 2)].free
    assert not by[("visual", "~1", "", 1)].free and by[("visual", "~1", "", 2)].free
    labelled = partable(parse("f =~ x1 + a*x2 + a*x3"))
    assert len({r.free for r in labelled if r.label == "a"}) == 1


def test_model_errors_are_named():
    with pytest.raises(ValueError, match="unknown variable 'x10' in line"):
        mj.fit(frame("hs"), mj.SEM("f =~ x1 + x2 + x10"))
    with pytest.raises(ValueError, match="'f' has no scale"):
        mj.fit(frame("hs"), mj.SEM("f =~ NA*x1 + x2 + x3"))
    with pytest.raises(TypeError, match="reads its variables by name"):
        mj.fit(frame("hs")[["x1", "x2", "x3"]].to_numpy(), mj.SEM("f =~ x1 + x2 + x3"))
    with pytest.raises(ValueError, match="group='town' is not a column"):
        mj.fit(frame("hs"), mj.SEM(HS, group="town"))
    with pytest.raises(ValueError, match="group_equal has"):
        mj.SEM(HS, group="school", group_equal=("loading",))
    with pytest.raises(ValueError, match="not identified"):  # two indicators, alone
        mj.fit(frame("hs"), mj.SEM("f =~ x1 + x2"))


# ------------------------------------------------------------------------ against lavaan

CASES = sorted(REFS)


@pytest.mark.parametrize("name", CASES)
def test_fit_measures_match_lavaan(name):
    res = fitted(name)
    assert bool(res.converged)
    ref = REFS[name]["fit_measures"]
    fm = mj.inference.fit_measures(res)
    assert fm["logl"] == pytest.approx(ref["logl"], abs=1e-6)
    assert fm["npar"] == ref["npar"] and fm["df"] == ref["df"]
    assert fm["ntotal"] == ref["ntotal"]
    for key in ("chisq", "baseline.chisq", "unrestricted.logl", "aic", "bic", "bic2"):
        assert fm[key] == pytest.approx(ref[key], abs=1e-5, rel=1e-9), key
    for key in ("pvalue", "cfi", "tli", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper"):
        assert fm[key] == pytest.approx(ref[key], abs=1e-5), key
    for key in ("rmsea.pvalue", "srmr", "baseline.df"):
        assert fm[key] == pytest.approx(ref[key], abs=1e-5), key


@pytest.mark.parametrize("name", CASES)
def test_parameter_table_matches_lavaan(name):
    res = fitted(name)
    case = REFS[name]
    kind = case["options"]["information_default"]
    table = mj.inference.parameter_table(res)
    assert table.attrs["information"] == kind
    ref = {(r["lhs"], r["op"], r["rhs"], r["group"]): r for r in case["parameters"]}
    ref = {k: r for k, r in ref.items() if r["op"] != "=="}
    mine = _rows(table)
    assert set(mine) == set(ref)
    for key, r in ref.items():
        i = mine[key]
        assert table["estimate"][i] == pytest.approx(r["est"], abs=1e-4 * max(1, abs(r["est"])))
        assert table["std_all"][i] == pytest.approx(r["std_all"], abs=1e-4)
        se = r[f"se_{kind}"]
        if se is None:  # a fixed row
            assert table["se"][i] == 0.0 and np.isnan(table["z"][i])
        else:
            assert table["se"][i] == pytest.approx(se, rel=1e-3), key


@pytest.mark.parametrize("name, kind", [("hs_cfa", "observed"), ("hs_cfa_fiml", "expected")])
def test_the_other_information_matches_lavaan(name, kind):
    table = mj.inference.parameter_table(fitted(name), information=kind)
    assert table.attrs["information"] == kind
    mine = _rows(table)
    for r in REFS[name]["parameters"]:
        if r["free"]:
            i = mine[(r["lhs"], r["op"], r["rhs"], r["group"])]
            assert table["se"][i] == pytest.approx(r[f"se_{kind}"], rel=1e-3)


# ------------------------------------------------------------------------------- oracles


def test_marker_and_std_lv_scalings_are_the_same_model():
    marker, std = fitted("hs_cfa"), fitted("hs_cfa_std_lv")
    assert float(marker.nll) == pytest.approx(float(std.nll), abs=1e-7)
    a, b = mj.inference.parameter_table(marker), mj.inference.parameter_table(std)
    ia, ib = _rows(a), _rows(b)
    for f, x in (("visual", "x2"), ("textual", "x6"), ("speed", "x9")):
        psi = a["estimate"][ia[(f, "~~", f, 1)]]
        lam = a["estimate"][ia[(f, "=~", x, 1)]]
        assert b["estimate"][ib[(f, "=~", x, 1)]] == pytest.approx(lam * np.sqrt(psi), rel=1e-5)
        assert b["std_all"][ib[(f, "=~", x, 1)]] == pytest.approx(a["std_all"][ia[(f, "=~", x, 1)]])


def test_configural_multigroup_is_the_sum_of_the_group_fits():
    hs = frame("hs")
    parts = [mj.fit(hs[hs.school == s], mj.SEM(HS)) for s in ("Pasteur", "Grant-White")]
    both = fitted("hs_multigroup_free")
    assert float(both.nll) == pytest.approx(sum(float(r.nll) for r in parts), abs=1e-6)
    fm = mj.inference.fit_measures(both)
    chisq = [mj.inference.fit_measures(r)["chisq"] for r in parts]
    assert fm["chisq"] == pytest.approx(sum(chisq), abs=1e-5)


def test_a_just_identified_model_is_the_saturated_fit():
    res = mj.fit(frame("hs"), mj.SEM("f =~ x1 + x2 + x3"))
    fm = mj.inference.fit_measures(res)
    assert fm["df"] == 0 and fm["chisq"] == pytest.approx(0.0, abs=1e-7)
    x = frame("hs")[["x1", "x2", "x3"]].to_numpy()
    cov = np.cov(x.T, bias=True)
    np.testing.assert_allclose(np.asarray(res.cov), cov, atol=1e-7)


# ----------------------------------------------------------------------------- bootstrap


def test_replicate_statistics_are_those_of_the_resampled_rows():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)) + 5.0
    x[rng.random(x.shape) < 0.2] = np.nan
    x = x[~np.isnan(x).all(axis=1)]
    idx = rng.integers(0, len(x), size=len(x))
    w = np.bincount(idx, minlength=len(x))[None].astype(float)
    ps = replicate_stats(x, w)
    ref, _ = pattern_stats(x[idx])
    order = {tuple(m): k for k, m in enumerate(ref.mask)}
    for k in np.flatnonzero(ps.count[0] > 0):
        j = order[tuple(ps.mask[0, k])]
        assert ps.count[0, k] == ref.count[j]
        np.testing.assert_allclose(ps.mean[0, k], ref.mean[j], atol=1e-12)
        np.testing.assert_allclose(ps.scatter[0, k], ref.scatter[j], atol=1e-10)
    assert ps.count[0].sum() == len(x)
    full = np.nan_to_num(x, nan=1.0)
    st = replicate_stats(full, w)
    sub = full[idx]
    np.testing.assert_allclose(st.mean[0], sub.mean(0), atol=1e-12)
    np.testing.assert_allclose(st.scatter[0], (sub - sub.mean(0)).T @ (sub - sub.mean(0)))


@functools.cache
def booted():
    """48 bootstrap refits of the HS CFA (one batched program, shared by two tests)."""
    return mj.inference.bootstrap(fitted("hs_cfa"), frame("hs"), n=48, seed=1)


def test_bootstrap_standard_errors_match_lavaans_within_monte_carlo_error():
    res = fitted("hs_cfa")
    boot = booted()
    assert (boot.status == mj.Status.CONVERGED).all()
    assert boot.estimates.shape == (48, len(boot.names))
    ref = REFS["hs_cfa"]["bootstrap"]
    index = {n: i for i, n in enumerate(boot.names)}
    ratios = [boot.se[index[n]] / s for n, s in zip(ref["names"], ref["se"], strict=True)]
    # 48 replicates: the relative Monte Carlo error of an SE is about 1/sqrt(96) = 10%
    assert 0.8 < np.median(ratios) < 1.2 and min(ratios) > 0.5 and max(ratios) < 2.0
    table = mj.inference.parameter_table(res, bootstrap=boot)
    assert table.attrs["information"] == "bootstrap"
    np.testing.assert_allclose(table["se"], boot.se)
    again = mj.inference.bootstrap(res, frame("hs"), n=48, seed=1)
    np.testing.assert_allclose(again.estimates, boot.estimates)
    with pytest.raises(ValueError, match="rows"):
        mj.inference.bootstrap(res, frame("hs").iloc[:100], n=48)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        repr(boot)


def test_fit_many_fits_a_list_of_data_frames_each_with_its_status():
    """A Monte Carlo study: fit_many with an SEM reads each DataFrame by name. The members
    are the bootstrap's 48 replicates written out as rows, so they must give its estimates
    (and the batched program is the bootstrap's: same model, same statistics' shapes)."""
    hs = frame("hs")
    counts = _weights(np.zeros(len(hs), int), 48, 1).astype(int)
    xs = [hs.iloc[np.repeat(np.arange(len(hs)), c)].reset_index(drop=True) for c in counts]
    with warnings.catch_warnings():  # a replicate at a bound (a Heywood case) is expected
        warnings.simplefilter("ignore", mj.BoundaryWarning)
        res = mj.fit_many(xs, mj.SEM(HS))
    assert np.shape(res.status) == (48,)
    assert (np.asarray(res.status) == mj.Status.CONVERGED).all()
    boot = booted()
    np.testing.assert_array_equal(np.asarray(res.at_bound).any(axis=-1), ~boot.admissible)
    for k in (0, 47):
        table = mj.inference.parameter_table(res[k])
        assert tuple(table["name"]) == boot.names
        np.testing.assert_allclose(table["estimate"], boot.estimates[k], atol=1e-4)
    with pytest.raises(TypeError, match="list of pandas DataFrames"):
        mj.fit_many(np.zeros((2, 10, 9)), mj.SEM(HS))
    with pytest.raises(ValueError, match="equal sizes"):
        mj.fit_many([hs, hs.iloc[:100]], mj.SEM(HS))


def test_summary_prints_lavaans_sections():
    res = fitted("hs_multigroup")
    out = mj.summary(res, print_table=False)
    text = out.text
    for needle in ("Model Test User Model:", "Comparative Fit Index (CFI)", "RMSEA", "SRMR",
                   "Latent Variables:", "Covariances:", "Intercepts:", "Variances:",
                   "Group 1 [Pasteur]:", "Group 2 [Grant-White]:", "Std.all"):  # fmt: skip
        assert needle in text, needle
    ref = REFS["hs_multigroup"]["fit_measures"]
    assert f"{ref['chisq']:.3f}" in text and f"{ref['cfi']:.3f}" in text
    assert out.num_params == ref["npar"] and out.aic == pytest.approx(ref["aic"], abs=1e-5)


# ------------------------------------------------------- the analytic derivatives (Newton)


def _bound(name: str, meanstructure=None):
    """The model of a reference case bound to its data (its groups)."""
    model = _model(REFS[name])
    if meanstructure is not None:
        model = dataclasses.replace(model, meanstructure=meanstructure)
    data = frame("poldem" if name == "poldem" else "hs")
    return model.prepare_data(data, None, "raise")[3]


@pytest.mark.parametrize(
    "name, meanstructure",
    [("hs_cfa", None), ("poldem", True), ("hs_cfa_fixed", None), ("hs_multigroup", None)],
)
def test_analytic_moment_derivatives_match_autodiff(name, meanstructure):
    model = _bound(name, meanstructure)
    spec = model._spec
    rng = np.random.default_rng(0)
    d = len(model.observed) * spec.groups
    theta = jnp.asarray(rng.uniform(0.3, 1.0, spec.q))
    g_cov = rng.normal(size=(d, d))
    g_cov, g_mean = jnp.asarray(g_cov + g_cov.T), jnp.asarray(rng.normal(size=d))

    def moments(th):
        a, s, m = model._matrices(th)
        b = jnp.linalg.inv(jnp.broadcast_to(jnp.eye(a.shape[-1]), a.shape) - a)
        cov = (b @ s @ jnp.swapaxes(b, -1, -2))[:, : len(model.observed), : len(model.observed)]
        mean = jnp.einsum("gij,gj->gi", b, m)[:, : len(model.observed)]
        return jnp.ravel(mean), jax.scipy.linalg.block_diag(*cov)

    def contracted(th):
        mean, cov = moments(th)
        return jnp.sum(g_mean * mean) + jnp.sum(g_cov * cov)

    # jitted: one compile each instead of an eager dispatch of every operation
    j_mean, j_cov, curv = jax.jit(model.moment_derivatives)(theta, g_mean, g_cov)
    want_mean, want_cov = jax.jit(jax.jacfwd(moments))(theta)
    np.testing.assert_allclose(j_mean, want_mean, atol=1e-10)
    np.testing.assert_allclose(j_cov, jnp.moveaxis(want_cov, -1, 0), atol=1e-10)
    np.testing.assert_allclose(curv, jax.jit(jax.hessian(contracted))(theta), atol=1e-10)
    assert np.abs(curv).max() > 1.0  # a test with teeth: nonzero second derivatives


@pytest.mark.parametrize("name, meanstructure", [("hs_cfa", None), ("poldem", True), ("efa", None)])
def test_complete_newton_matches_autodiff(name, meanstructure, monkeypatch):
    """The Newton pieces of complete data (analytic for an SEM, autodiff for another
    model) against the Hessian of the NLL and the Fisher information of forward-mode
    Jacobians; ``fisher`` (analytic Jacobians for an SEM) too."""
    from mle_jax import _fit_model
    from mle_jax._model_objective import _fisher_block, complete_newton, fisher

    seen = []
    prepare = _fit_model.prepare

    def capture(*a, **k):
        seen.append(prepare(*a, **k))
        return seen[-1]

    monkeypatch.setattr(_fit_model, "prepare", capture)
    if name == "efa":
        mj.fit(frame("hs").iloc[:, -9:].to_numpy(), mj.FactorAnalysis(2))
    else:
        mj.fit(frame("poldem" if name == "poldem" else "hs"), _bound(name, meanstructure))
    obj, args, _ = seen[-1]
    assert not args.stats.incomplete
    u = jnp.asarray(args.u0) + 0.05 * jnp.asarray(
        np.random.default_rng(1).normal(size=np.shape(args.u0))
    )
    fun = lambda v: obj.nll_smooth(v, args) / args.count  # noqa: E731
    f, g, hess, info = jax.jit(lambda v: complete_newton(obj, v, args))(u)

    @jax.jit  # the oracles in one compiled program, not an eager dispatch of every operation
    def oracles(v):
        j_mean, j_cov = jax.jacfwd(obj.std_moments)(v, args)
        block = _fisher_block(obj.std_moments(v, args)[1], j_mean, jnp.moveaxis(j_cov, -1, 0))
        return fun(v), jax.grad(fun)(v), jax.hessian(fun)(v), block, fisher(obj, v, args)

    want_f, want_g, want_hess, want, info_fisher = oracles(u)
    np.testing.assert_allclose(f, want_f, rtol=1e-12)
    np.testing.assert_allclose(g, want_g, atol=1e-10)
    np.testing.assert_allclose(hess, want_hess, atol=1e-10)
    np.testing.assert_allclose(info, want, atol=1e-10)
    np.testing.assert_allclose(info_fisher, want, atol=1e-10)
