"""Benchmarks of the open models (factor analysis, a CFA, patterned covariances) against peers.

Usage (from the repository root; R with lavaan for the R peers, see benchmarks/r/README.md)::

    python -m benchmarks.models                   # full run (~15-25 min on 2 busy cores)
    python -m benchmarks.models --write-docs      # also write docs/benchmarks-models.md and
                                                  # benchmarks/models_results.json
    python -m benchmarks.models --quick           # every case on tiny sizes, no R (seconds)
    python -m benchmarks.models --cases efa hs    # a subset (efa, fiml, fiml-full, hs, batched)

Cases (each peer on the same data in the same run; ratios are peer time / mle_jax time):

* ``efa``: exploratory factor analysis of complete data, n = 1e5, d = 50, k = 5, simulated from
  a known factor model: ``mj.fit(x, mj.FactorAnalysis(5))`` on the rows against scikit-learn
  ``FactorAnalysis(n_components=5)`` (its defaults: randomized SVD, ``tol=1e-2``; and
  ``tol=1e-8``) and R's ``factanal(covmat=list(cov=S, n.obs=n), factors=5,
  rotation="none")`` on the divisor-n covariance (timed inside R around the call; the R
  process's wall time, start-up and reading included, is reported too).
* ``fiml``: the same kind of model with 20 % of the entries missing at random (MAR: column 0
  always observed; every other entry missing with probability ``expit(a + z0)``, ``z0`` the
  standardised column 0, ``a`` set for a 20 % share), by FIML: ``mj.fit(x, FactorAnalysis(k),
  missing="fiml")`` against lavaan ``missing = "ml"`` (the same model in lavaan syntax, see
  benchmarks/r/models_peer.R) at n = 1e4, d = 20, k = 3, where lavaan answers; ``fiml-full``:
  mle_jax alone at the issue's size n = 1e5, d = 50, k = 5 (lavaan is tried under the budget
  with ``--lavaan-full``).
* ``hs``: the three-factor Holzinger-Swineford CFA (d = 9, n = 301) written with
  ``mj.Structured``, fit plus ``mj.inference.parameter_table`` (expected information, lavaan's
  default), warm; peer: lavaan ``cfa()`` + ``parameterEstimates()`` timed inside R.
* ``batched``: 1000 AR(1) fits of (200, 4): ``mj.fit_many(xs, mj.AR1())`` against a Python loop
  of ``mj.fit(x, mj.AR1())`` timed on the first 50 fits and scaled to 1000.

Accuracy: every tool's answer is turned into its model covariance (and mean), and one numpy
formula computes the Gaussian log-likelihood with the 2*pi constant on the same data (complete:
the divisor-n covariance and the sample mean; missing: the observed-data likelihood of
:func:`benchmarks.missing_peers.observed_loglik`). The table reports the largest relative gap
to the best answer, ``(ll_best - ll) / |ll_best|``; the issue's target is 1e-6.

Timing: warm = the median of repeated calls after one untimed call that compiles
(:func:`benchmarks.run.time_call`; a call over 2 s is timed once); the first call (compilation
included) is reported apart. BLAS threads are limited to 1 (``--threads``), as in
:mod:`benchmarks.run`. Nothing here is imported by the package or its tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import missing_peers as mp
from benchmarks import run as br

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks-models.md"
RESULTS = ROOT / "benchmarks" / "models_results.json"
R_SCRIPT = ROOT / "benchmarks" / "r" / "models_peer.R"
REFS = ROOT / "tests" / "data" / "model_references.json"
LOG2PI = float(np.log(2 * np.pi))
R_BUDGET = 300.0  # seconds one R process may run
LL_TARGET = 1e-6  # relative log-likelihood agreement

FULL = {
    "efa": dict(n=100_000, d=50, k=5),
    "fiml": dict(n=10_000, d=20, k=3),
    "fiml-full": dict(n=100_000, d=50, k=5),
    "batched": dict(batch=1000, n=200, d=4, loop=50),
}
QUICK = {
    "efa": dict(n=2_000, d=8, k=2),
    "fiml": dict(n=500, d=6, k=1),
    "fiml-full": dict(n=500, d=6, k=1),  # as "fiml": one compiled loop for both
    "batched": dict(batch=20, n=100, d=4, loop=5),
}
CASES = ("efa", "fiml", "fiml-full", "hs", "batched")


# ------------------------------------------------------------------------------------ data


def factor_population(d, k, seed=0):
    """A k-factor covariance in the data's units: loadings, uniquenesses, mean, column SDs.

    Standardised loadings N(0, 1) times a per-variable scale uniform in [0.3, 1], uniquenesses
    uniform in [0.2, 1], column SDs uniform in [0.5, 5], means N(0, 3^2).
    """
    rng = np.random.default_rng(seed + 1000 * d + k)
    load = rng.normal(size=(d, k)) * rng.uniform(0.3, 1.0, (d, 1))
    psi = rng.uniform(0.2, 1.0, d)
    sd = rng.uniform(0.5, 5.0, d)
    mean = rng.normal(0.0, 3.0, d)
    return {"loadings": load * sd[:, None], "uniquenesses": psi * sd**2, "mean": mean}


def make_factor_data(n, d, k, seed=0):
    """(n, d) float64 rows of the factor model :func:`factor_population` (d, k)."""
    pop = factor_population(d, k)
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((n, k))
    e = rng.standard_normal((n, d)) * np.sqrt(pop["uniquenesses"])
    return f @ pop["loadings"].T + e + pop["mean"], pop


def make_mar(x, share=0.2, seed=1, slope=1.0):
    """A copy of ``x`` with NaN: column 0 always observed, every other entry missing with
    probability ``expit(a + slope * z0)`` (``z0`` the standardised column 0; missing at random,
    since it depends on observed values only), ``a`` found by bisection so that the expected
    share of missing entries over the whole array is ``share``. A row keeps column 0, so no row
    is empty; patterns are (nearly) all distinct for large d."""
    n, d = x.shape
    z0 = (x[:, 0] - x[:, 0].mean()) / x[:, 0].std()
    want = share * d / (d - 1)  # the rate in columns 1..d-1
    lo, hi = -30.0, 30.0
    for _ in range(100):
        a = (lo + hi) / 2
        p = 1 / (1 + np.exp(-(a + slope * z0)))
        lo, hi = (a, hi) if p.mean() < want else (lo, a)
    rng = np.random.default_rng(seed)
    mask = rng.random((n, d)) < p[:, None]
    mask[:, 0] = False
    out = x.copy()
    out[mask] = np.nan
    return out


def hs_data():
    import mle_jax as mj

    ds = mj.load_dataset("holzinger_swineford")
    cols = [f"x{i}" for i in range(1, 10)]
    return ds.data[:, [ds.columns.index(c) for c in cols]], cols


def ar1_data(batch, n, d, seed=0, rho=0.6, var=2.0):
    """``batch`` data sets (n, d) of a stationary AR(1) covariance ``var * rho^|i-j|``."""
    lag = np.abs(np.arange(d)[:, None] - np.arange(d)[None, :])
    chol = np.linalg.cholesky(var * rho**lag)
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, n, d)) @ chol.T + np.linspace(-1.0, 1.0, d)


# ------------------------------------------------------------------------------ likelihood


def moments(x):
    m = x.mean(axis=0)
    xc = x - m
    return m, xc.T @ xc / x.shape[0]


def loglik_complete(cov, mean_s, cov_s, n):
    """Gaussian log-likelihood (2*pi included) of n rows with sample mean ``mean_s`` and
    divisor-n covariance ``cov_s`` under a free (saturated) mean and covariance ``cov``."""
    d = cov.shape[0]
    chol = np.linalg.cholesky(cov)
    logdet = 2.0 * np.log(np.diag(chol)).sum()
    w = np.linalg.solve(chol, np.linalg.solve(chol, cov_s).T)
    return float(-0.5 * n * (d * LOG2PI + logdet + np.trace(w)))


def fa_cov(loadings, uniq):
    loadings = np.asarray(loadings, np.float64)
    return loadings @ loadings.T + np.diag(np.asarray(uniq, np.float64))


def gaps(lls):
    """{name: (ll_best - ll) / |ll_best|} for a dict of log-likelihoods (None is skipped)."""
    have = {k: v for k, v in lls.items() if v is not None and np.isfinite(v)}
    if not have:
        return {}
    best = max(have.values())
    return {k: (best - v) / abs(best) for k, v in have.items()}


# -------------------------------------------------------------------------------- R peers


def r_version():
    exe = shutil.which("Rscript")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [
                exe,
                "--vanilla",
                "-e",
                'cat(R.version.string, "; lavaan ", '
                'as.character(packageVersion("lavaan")), sep = "")',
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def run_r(tool, inputs, *, repeats=1, budget=R_BUDGET) -> dict[str, Any]:
    """Run benchmarks/r/models_peer.R; ``inputs`` is (path-or-array, a3, a4, a5).

    Returns a dict of the answer file's fields (numbers as arrays) plus ``wall_s`` (the R
    process, start-up and reading included), ``status`` ("ok", "budget", "error", "skipped")
    and ``log`` (the tail of R's output)."""
    exe = shutil.which("Rscript")
    if exe is None:
        return {"status": "skipped", "log": "Rscript not found"}
    data, a3, a4, a5 = inputs
    with tempfile.TemporaryDirectory(prefix="mle_jax_models_") as tmp:
        out = Path(tmp) / "out.txt"
        if isinstance(data, np.ndarray):
            path = Path(tmp) / "data.bin"
            np.ascontiguousarray(data, dtype="<f8").tofile(path)
        else:
            path = data
        cmd = [exe, "--vanilla", str(R_SCRIPT), tool, str(path), str(a3), str(a4), str(a5)]
        cmd += [str(out), str(int(repeats))]
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, text=True
        )
        try:
            log, _ = proc.communicate(timeout=budget)
            status = "ok" if proc.returncode == 0 else "error"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            log, _ = proc.communicate()
            status = "budget"
        wall = time.perf_counter() - t0
        res: dict[str, Any] = {"status": status, "wall_s": wall, "log": (log or "")[-400:]}
        if out.exists():
            for line in out.read_text().splitlines():
                key, _, rest = line.partition(" ")
                if key == "version":
                    res[key] = rest.strip()
                else:
                    res[key] = np.array([float(v) for v in rest.split()]) if rest else None
        elif status == "ok":
            res["status"] = "error"
    return res


def r_seconds(res):
    """The R fit time: the median of the repeats after the first when there are several."""
    s = res.get("seconds")
    if s is None or len(s) == 0:
        return None
    return float(np.median(s[1:] if len(s) > 1 else s))


# ---------------------------------------------------------------------------------- cases


def _timed_once(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def case_efa(spec, *, quick, use_r, log, budget):
    """Case 1: EFA of complete data against scikit-learn and factanal."""
    import mle_jax as mj

    n, d, k = spec["n"], spec["d"], spec["k"]
    x, _ = make_factor_data(n, d, k)
    m, cov_s = moments(x)
    model = mj.FactorAnalysis(k)
    fit = lambda x: mj.fit(x, model)  # noqa: E731
    warm, reps, first, res = br.time_call(fit, x, warm_up=True, budget=0.5 if quick else 3.0)
    sig = fa_cov(res.params["loadings"], res.params["uniquenesses"])
    lls = {"mle_jax": loglik_complete(sig, m, cov_s, n)}
    rows: dict[str, dict[str, Any]] = {
        "mle_jax": dict(
            seconds=warm,
            first_s=first,
            repeats=reps,
            converged=bool(res.converged),
            steps=int(res.num_steps),
            nll_reported=float(res.nll),
        )
    }
    log(
        f"  mle_jax FactorAnalysis({k}): warm {br.fmt_time(warm)} (first {br.fmt_time(first)}), "
        f"steps {int(res.num_steps)}, converged {bool(res.converged)}"
    )
    try:
        from sklearn.decomposition import FactorAnalysis as SkFA
    except ImportError:
        SkFA = None
    if SkFA is not None:
        for tol in (1e-2,) if quick else (1e-2, 1e-8):
            name = "sklearn" if tol == 1e-2 else "sklearn tol=1e-8"
            sec, fa = _timed_once(
                lambda tol=tol: SkFA(n_components=k, tol=tol, max_iter=10_000).fit(x)
            )
            s = fa_cov(fa.components_.T, fa.noise_variance_)
            lls[name] = loglik_complete(s, m, cov_s, n)
            rows[name] = dict(seconds=sec, iters=int(fa.n_iter_), tol=tol)
            log(f"  {name}: {br.fmt_time(sec)}, {fa.n_iter_} iterations")
    if use_r:
        r = run_r("factanal", (cov_s, d, n, k), repeats=1 if quick else 3, budget=budget)
        row = dict(
            status=r["status"],
            wall_s=r.get("wall_s"),
            seconds=r_seconds(r),
            seconds_all=_list(r.get("seconds")),
            version=r.get("version"),
        )
        if r.get("uniquenesses") is not None:
            sd = np.sqrt(np.diag(cov_s))
            lam = r["loadings"].reshape(d, k)
            s = fa_cov(lam, r["uniquenesses"]) * np.outer(sd, sd)
            lls["factanal"] = loglik_complete(s, m, cov_s, n)
            row["converged"] = bool(r["converged"][0])
        else:
            row["log"] = r.get("log")
        rows["factanal"] = row
        log(f"  factanal: {row['status']} {row['seconds']} s (R process {row['wall_s']:.1f} s)")
    g = gaps(lls)
    for name, row in rows.items():
        row["loglik"], row["gap"] = lls.get(name), g.get(name)
    return {"case": "efa", "n": n, "d": d, "k": k, "rows": rows}


def case_fiml(spec, *, quick, use_r, log, budget, name="fiml"):
    """Case 2: the factor model by FIML with 20 % MAR entries, against lavaan."""
    import mle_jax as mj

    n, d, k = spec["n"], spec["d"], spec["k"]
    x, _ = make_factor_data(n, d, k)
    x = make_mar(x)
    groups = mp.patterns(x)
    model = mj.FactorAnalysis(k)
    fit = lambda x: mj.fit(x, model, missing="fiml")  # noqa: E731
    warm, reps, first, res = br.time_call(fit, x, warm_up=True, budget=0.5 if quick else 3.0)
    sig = fa_cov(res.params["loadings"], res.params["uniquenesses"])
    lls = {"mle_jax": mp.observed_loglik(x, np.asarray(res.mean, np.float64), sig, groups)}
    rows: dict[str, dict[str, Any]] = {
        "mle_jax": dict(
            seconds=warm,
            first_s=first,
            repeats=reps,
            converged=bool(res.converged),
            steps=int(res.num_steps),
            nll_reported=float(res.nll),
        )
    }
    log(
        f"  mle_jax FactorAnalysis({k}) fiml: warm {br.fmt_time(warm)} "
        f"(first {br.fmt_time(first)}), steps {int(res.num_steps)}, "
        f"converged {bool(res.converged)}, {len(groups)} patterns"
    )
    if use_r:
        r = run_r("lavaan_fiml", (x, n, d, k), repeats=1, budget=budget)
        row = dict(
            status=r["status"],
            wall_s=r.get("wall_s"),
            seconds=r_seconds(r),
            version=r.get("version"),
        )
        if r.get("cov") is not None:
            lls["lavaan"] = mp.observed_loglik(x, r["mean"], r["cov"].reshape(d, d), groups)
            row["converged"] = bool(r["converged"][0])
            row["iters"] = int(r["iterations"][0])
            row["loglik_reported"] = float(r["loglik"][0])
        else:
            row["log"] = r.get("log")
        rows["lavaan"] = row
        log(f"  lavaan: {row['status']} {row['seconds']} s (R process {row['wall_s']:.1f} s)")
    g = gaps(lls)
    for key, row in rows.items():
        row["loglik"], row["gap"] = lls.get(key), g.get(key)
    return {
        "case": name,
        "n": n,
        "d": d,
        "k": k,
        "missing": float(np.isnan(x).mean()),
        "patterns": len(groups),
        "rows": rows,
    }


def _hs_lambda(p):
    import jax.numpy as jnp

    one = jnp.ones((1,), p["load"].dtype)
    col = lambda a, b: jnp.concatenate([one, p["load"][a:b]])  # noqa: E731
    z = jnp.zeros((3,), p["load"].dtype)
    return jnp.stack(
        [
            jnp.concatenate([col(0, 2), z, z]),
            jnp.concatenate([z, col(2, 4), z]),
            jnp.concatenate([z, z, col(4, 6)]),
        ],
        axis=1,
    )


def _hs_cov(p):
    import jax.numpy as jnp

    lam = _hs_lambda(p)
    phi = p["phi"] @ p["phi"].T
    return lam @ phi @ lam.T + jnp.diag(p["theta"])


def _hs_init(mean, cov):
    var = np.diag(cov)
    return {
        "load": np.ones(6),
        "phi": np.diag(np.sqrt(0.5 * var[[0, 3, 6]])),
        "theta": 0.5 * var,
    }


def hs_model():
    """The three-factor Holzinger-Swineford CFA with marker loadings 1 (lavaan's default)."""
    import mle_jax as mj

    c = mj.constraints
    return mj.Structured(
        cov=_hs_cov,
        init=_hs_init,
        constraints={"phi": c.cholesky, "theta": c.positive},
        name="HS three-factor CFA",
    )


def _hs_lavaan_se(table):
    """lavaan's SEs of the 6 free loadings and the 9 residual variances, in our order."""
    key = list(zip(table["lhs"], table["op"], table["rhs"], strict=True))
    se = dict(zip(key, table["se"], strict=True))
    load = [
        ("visual", "x2"),
        ("visual", "x3"),
        ("textual", "x5"),
        ("textual", "x6"),
        ("speed", "x8"),
        ("speed", "x9"),
    ]
    out = [se[(f, "=~", v)] for f, v in load]
    out += [se[(f"x{i}", "~~", f"x{i}")] for i in range(1, 10)]
    return np.array(out)


def case_hs(*, quick, use_r, log, budget):
    """Case 3: the HS CFA, fit + parameter table, warm."""
    import mle_jax as mj

    x, cols = hs_data()
    n = x.shape[0]
    m, cov_s = moments(x)
    model = hs_model()
    table_fn = getattr(mj.inference, "parameter_table", None)

    def fit_se(x):
        res = mj.fit(x, model, columns=cols)
        tab = table_fn(res, information="expected") if table_fn is not None else None
        return res, tab

    warm, reps, first, (res, tab) = br.time_call(
        fit_se, x, warm_up=True, budget=0.5 if quick else 2.0, max_repeats=21, min_repeats=7
    )
    t_fit = br.time_call(
        lambda x: mj.fit(x, model, columns=cols),
        x,
        warm_up=False,
        budget=0.5 if quick else 1.0,
        max_repeats=21,
        min_repeats=7,
    )[0]
    sig = np.asarray(model.cov(res.params), np.float64)
    lls = {"mle_jax": loglik_complete(sig, m, cov_s, n)}
    rows: dict[str, dict[str, Any]] = {
        "mle_jax": dict(
            seconds=warm,
            fit_only_s=t_fit,
            first_s=first,
            repeats=reps,
            converged=bool(res.converged),
            steps=int(res.num_steps),
            nll_reported=float(res.nll),
            with_se=table_fn is not None,
        )
    }
    se_ours = None
    if tab is not None:
        names = list(tab["name"])
        idx = [i for i, s in enumerate(names) if s.startswith(("load", "theta"))]
        se_ours = np.asarray(tab["se"], np.float64)[idx]
    ref = json.loads(REFS.read_text())["lavaan_hs_cfa"] if REFS.exists() else None
    if ref is not None:
        lls["lavaan (reference file)"] = float(ref["loglik"])
        if se_ours is not None:
            rows["mle_jax"]["se_rel_err_vs_reference"] = float(
                np.max(np.abs(se_ours / _hs_lavaan_se(ref["parameter_estimates"]) - 1))
            )
    log(
        f"  mle_jax HS CFA fit + parameter_table: warm {br.fmt_time(warm)} (fit alone "
        f"{br.fmt_time(t_fit)}; first {br.fmt_time(first)}), steps {int(res.num_steps)}"
    )
    if use_r:
        with tempfile.TemporaryDirectory(prefix="mle_jax_hs_") as tmp:
            path = Path(tmp) / "hs.csv"
            np.savetxt(path, x, delimiter=",", header=",".join(cols), comments="", fmt="%.17g")
            r = run_r("lavaan_hs", (path, "-", "-", "-"), repeats=3 if quick else 21, budget=budget)
        row = dict(
            status=r["status"],
            wall_s=r.get("wall_s"),
            seconds=r_seconds(r),
            version=r.get("version"),
        )
        if r.get("loglik") is not None:
            lls["lavaan"] = float(r["loglik"][0])
            row["converged"] = bool(r["converged"][0])
        rows["lavaan"] = row
        log(f"  lavaan cfa + parameterEstimates: {row['status']} {row['seconds']} s")
    g = gaps(lls)
    for key in lls:
        rows.setdefault(key, {})
        rows[key]["loglik"], rows[key]["gap"] = lls[key], g.get(key)
    return {"case": "hs", "n": n, "d": 9, "rows": rows}


def case_batched(spec, *, quick, log):
    """Case 4: fit_many of 1000 AR(1) fits against a loop of single fits."""
    import mle_jax as mj

    batch, n, d, loop = spec["batch"], spec["n"], spec["d"], spec["loop"]
    xs = ar1_data(batch, n, d)
    model = mj.AR1()
    many = lambda xs: mj.fit_many(xs, model)  # noqa: E731
    warm, reps, first, res = br.time_call(many, xs, warm_up=True, budget=0.5 if quick else 3.0)

    def loop_fits(xs):
        return [mj.fit(x, model) for x in xs]

    t_loop, _, t_loop_first, singles = br.time_call(
        loop_fits,
        xs[:loop],
        warm_up=True,
        budget=0.5 if quick else 3.0,
        max_repeats=3,
        min_repeats=1,
    )
    scaled = t_loop * batch / loop
    err = 0.0
    for i, s in enumerate(singles):
        for key in ("rho", "var"):
            err = max(err, abs(float(np.asarray(res.params[key])[i]) - float(s.params[key])))
    conv = np.asarray(res.converged)
    rows: dict[str, dict[str, Any]] = {
        "mle_jax": dict(
            seconds=warm,
            first_s=first,
            repeats=reps,
            converged=int(conv.sum()),
            steps=int(np.max(np.asarray(res.num_steps))),
        ),
        "loop of mj.fit": dict(
            seconds=scaled,
            measured_s=t_loop,
            loop=loop,
            converged=int(sum(bool(s.converged) for s in singles)),
        ),
    }
    log(
        f"  fit_many({batch}): warm {br.fmt_time(warm)} (first {br.fmt_time(first)}), "
        f"{int(conv.sum())}/{batch} converged; loop of {loop} fits {br.fmt_time(t_loop)} "
        f"-> {br.fmt_time(scaled)} for {batch}; max |param diff| {err:.1e}"
    )
    return {
        "case": "batched",
        "batch": batch,
        "n": n,
        "d": d,
        "loop": loop,
        "max_param_diff": err,
        "rows": rows,
    }


def _list(a):
    return None if a is None else [float(v) for v in np.ravel(a)]


# ------------------------------------------------------------------------------ reporting


def _t(s):
    return "-" if s is None else br.fmt_time(s)


def _gap(g):
    return "-" if g is None else ("best" if g == 0 else f"{g:.1e}")


def table_rows(results):
    """The summary rows: case, mle_jax, peer, ratio, accuracy, target, met."""
    out = []
    for r in results:
        rows = r["rows"]
        mj_row = rows["mle_jax"]
        ours = mj_row["seconds"]
        acc_mj = _gap(mj_row.get("gap"))
        if r["case"] == "efa":
            label = f"EFA complete, n={r['n']:.0e} d={r['d']} k={r['k']}"
            for peer in ("sklearn", "sklearn tol=1e-8", "factanal"):
                if peer not in rows:
                    continue
                p = rows[peer]
                ok_acc = all(
                    v.get("gap") is not None and v["gap"] <= LL_TARGET for v in (mj_row, p)
                )
                sec = p.get("seconds")
                extra = f" (R process {p['wall_s']:.1f} s)" if peer == "factanal" else ""
                extra += f", {p['iters']} it" if "iters" in p else ""
                out.append(
                    dict(
                        case=label,
                        ours=f"{_t(ours)} (first {_t(mj_row['first_s'])})",
                        peer=f"{peer}: {_t(sec)}{extra}"
                        if p.get("status", "ok") == "ok"
                        else f"{peer}: {p['status']}",
                        ratio=None if sec is None else sec / ours,
                        accuracy=f"gap mle_jax {acc_mj}, {peer} {_gap(p.get('gap'))}",
                        target=f"same loglik to {LL_TARGET:g} rel.",
                        met=ok_acc,
                    )
                )
                label = ""
        elif r["case"] in ("fiml", "fiml-full"):
            label = (
                f"EFA FIML, 20% MAR, n={r['n']:.0e} d={r['d']} k={r['k']} "
                f"({r['patterns']} patterns)"
            )
            p = rows.get("lavaan")
            if p is None:
                out.append(
                    dict(
                        case=label,
                        ours=f"{_t(ours)} (first {_t(mj_row['first_s'])})",
                        peer="lavaan: not run",
                        ratio=None,
                        accuracy=f"converged {mj_row['converged']}",
                        target=">= 50x lavaan",
                        met=None,
                    )
                )
                continue
            sec = p.get("seconds")
            budget = p["status"] == "budget"
            if budget:
                ratio = p["wall_s"] / ours
                peer = f"lavaan: no answer, stopped after {p['wall_s']:.0f} s (the R budget)"
                ratio_s = f"> {ratio:.1f}x"
            else:
                peer = f"lavaan: {_t(sec)}" + (f", {p['iters']} it" if "iters" in p else "")
                ratio = None if sec is None else sec / ours
                ratio_s = None
            ok_acc = p.get("gap") is not None and max(p["gap"], mj_row["gap"]) <= LL_TARGET
            out.append(
                dict(
                    case=label,
                    ours=f"{_t(ours)} (first {_t(mj_row['first_s'])})",
                    peer=peer,
                    ratio=ratio,
                    ratio_s=ratio_s,
                    accuracy=f"gap mle_jax {acc_mj}, lavaan {_gap(p.get('gap'))}",
                    target=f">= 50x lavaan, loglik to {LL_TARGET:g}",
                    # a budget stop bounds the ratio from below: met if the bound reaches 50x,
                    # undetermined (None) otherwise
                    met=(True if ratio is not None and ratio >= 50 else None)
                    if budget
                    else bool(ratio is not None and ratio >= 50 and ok_acc),
                )
            )
        elif r["case"] == "hs":
            p = rows.get("lavaan")
            what = (
                "fit + parameter_table" if mj_row["with_se"] else "fit alone (no parameter_table)"
            )
            se = mj_row.get("se_rel_err_vs_reference")
            acc = f"gap mle_jax {acc_mj}"
            for key in ("lavaan", "lavaan (reference file)"):
                if key in rows:
                    acc += f", {key} {_gap(rows[key].get('gap'))}"
            if se is not None:
                acc += f"; SEs vs lavaan {se:.1e} rel."
            out.append(
                dict(
                    case=f"HS CFA (Structured), n={r['n']} d=9, {what}",
                    ours=f"{_t(ours)} (fit alone {_t(mj_row['fit_only_s'])}; "
                    f"first {_t(mj_row['first_s'])})",
                    peer="-"
                    if p is None
                    else f"lavaan cfa + parameterEstimates: {_t(p.get('seconds'))}",
                    ratio=None if p is None or p.get("seconds") is None else p["seconds"] / ours,
                    accuracy=acc,
                    target="<= 20 ms",
                    met=bool(ours <= 0.020),
                )
            )
        elif r["case"] == "batched":
            p = rows["loop of mj.fit"]
            out.append(
                dict(
                    case=f"{r['batch']} AR(1) fits of ({r['n']}, {r['d']}): fit_many",
                    ours=f"{_t(ours)} (first {_t(mj_row['first_s'])})",
                    peer=f"loop of mj.fit: {_t(p['seconds'])} (timed on {r['loop']}, scaled)",
                    ratio=p["seconds"] / ours,
                    accuracy=f"max abs param diff {r['max_param_diff']:.1e}; "
                    f"converged {mj_row['converged']}/{r['batch']}",
                    target="(none in the issue)",
                    met=None,
                )
            )
    return out


def markdown(results, meta):
    lines = [
        "| case | mle_jax (warm) | peer | peer / mle_jax | accuracy (loglik gap, rel.) | target "
        "| met |",
        "|---|---|---|---:|---|---|:---:|",
    ]
    for row in table_rows(results):
        ratio = row.get("ratio_s") or ("" if row["ratio"] is None else f"{row['ratio']:.1f}x")
        met = {True: "yes", False: "**no**", None: "-"}[row["met"]]
        lines.append(
            f"| {row['case']} | {row['ours']} | {row['peer']} | {ratio} | {row['accuracy']} | "
            f"{row['target']} | {met} |"
        )
    lines.append("")
    lines.append(
        f"Run: `{meta['command']}` on {meta['date']} UTC, {meta['wall_s']:.0f} s; load average "
        f"(1, 5, 15 min) at start {meta['load_start']}, end {meta['load_end']}; BLAS threads "
        f"{meta['threads']}; {meta['machine']['cpu']}, {meta['machine']['cores']} cores."
    )
    rss = [(r.get("max_rss_gib_so_far"), r["case"]) for r in results]
    rss = [(v, c) for v, c in rss if v is not None]
    if rss:
        top = max(v for v, _ in rss)
        first = next(c for v, c in rss if v == top)
        lines[-1] += f" Peak memory (RSS) of the process {top:.1f} GiB, reached in `{first}`."
    ver = meta["versions"]
    lines.append(
        "Versions: "
        + ", ".join(
            str(v) if str(v).startswith("R version") else f"{k} {v}"
            for k, v in ver.items()
            if v != "not installed"
        )
        + "."
    )
    return "\n".join(lines)


DOC_HEAD = """# Benchmarks: the open models (factor analysis, a CFA, patterned covariances)

Written by `python -m benchmarks.models --write-docs` (the block between the markers is
rewritten; the rest of this page is kept). What is measured, the data and the peers are in the
docstring of `benchmarks/models.py`; the R side is `benchmarks/r/models_peer.R`.

```bash
python -m benchmarks.models --write-docs     # full run, R with lavaan for the R peers
python -m benchmarks.models --quick          # every case on tiny sizes, no R (seconds; CI)
```

* **Times**: mle_jax warm = the median of repeated calls after one untimed call that compiles
  ("first", compilation included, is shown apart); a call over 2 s is timed once. The R peers
  are timed inside R around the fit call alone (`proc.time()`, no start-up, no data reading);
  "R process" is the whole Rscript run. scikit-learn is timed once (it compiles nothing).
* **Accuracy**: each tool's covariance (and mean) goes through one numpy log-likelihood with
  the 2*pi constant on the same data (complete data: the divisor-n covariance; missing data:
  the observed-data likelihood); the gap is `(ll_best - ll) / |ll_best|` against the best
  answer of the run ("best" marks it).
* **Machine**: a shared 2-core VM with other jobs running (see the load average): absolute
  times move by 2x between runs; ratios of the same run are the comparison.

"""
MSTART, MEND = "<!-- models:start -->", "<!-- models:end -->"


def write_docs(md):
    text = DOC.read_text() if DOC.exists() else DOC_HEAD + f"{MSTART}\n{MEND}\n"
    if MSTART not in text or MEND not in text:
        text += f"\n{MSTART}\n{MEND}\n"
    head, rest = text.split(MSTART, 1)
    _, tail = rest.split(MEND, 1)
    DOC.write_text(head + MSTART + "\n" + md + "\n" + MEND + tail)


# ----------------------------------------------------------------------------------- main


def main(argv=None):
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes, no R peers (seconds)")
    p.add_argument("--cases", nargs="*", default=None, choices=CASES)
    p.add_argument(
        "--write-docs",
        action="store_true",
        help="write docs/benchmarks-models.md and benchmarks/models_results.json",
    )
    p.add_argument("--out", type=Path, default=None, help="write the results JSON here")
    p.add_argument("--no-r", action="store_true", help="skip the R peers")
    p.add_argument("--with-r", action="store_true", help="run the R peers in --quick mode too")
    p.add_argument(
        "--lavaan-full",
        action="store_true",
        help="also run lavaan at the full FIML size (stopped at --r-budget)",
    )
    p.add_argument(
        "--r-budget",
        type=float,
        default=R_BUDGET,
        help="seconds one R process may run (default 300)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS threads (default 1, as benchmarks.run; 0: the libraries' default)",
    )
    p.add_argument(
        "--from-json",
        type=Path,
        default=None,
        help="re-render the table (with --write-docs: the doc) from a results JSON of a run",
    )
    args = p.parse_args(argv)
    if args.from_json:
        blob = json.loads(args.from_json.read_text())
        md = markdown(blob["results"], blob["meta"])
        print(md)
        if args.write_docs:
            write_docs(md)
        return {**blob, "markdown": md}
    with _threads(args.threads):
        return _main(args)


@contextlib.contextmanager
def _threads(k):
    """BLAS threads -> k (environment for child processes, threadpoolctl here), restored on
    exit so that an in-process caller (the test) is left as it was; k = 0: unchanged."""
    if k <= 0:
        yield
        return
    names = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {v: os.environ.get(v) for v in names}
    for v in names:
        os.environ[v] = str(k)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    try:
        if threadpool_limits is None:
            yield
        else:
            with threadpool_limits(k):
                yield
    finally:
        for v, old in saved.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old


def _main(args):
    br.setup_jax()
    log = lambda s: print(s, flush=True)  # noqa: E731
    sizes = QUICK if args.quick else FULL
    cases = args.cases or list(CASES)
    use_r = (args.with_r or not args.quick) and not args.no_r and shutil.which("Rscript")
    mach = br.machine()
    t0 = time.perf_counter()
    results = []
    for case in cases:
        log(f"{case} (load {[round(v, 2) for v in os.getloadavg()]})")
        load0 = [round(v, 2) for v in os.getloadavg()]
        if case == "efa":
            r = case_efa(sizes["efa"], quick=args.quick, use_r=use_r, log=log, budget=args.r_budget)
        elif case == "fiml":
            r = case_fiml(
                sizes["fiml"], quick=args.quick, use_r=use_r, log=log, budget=args.r_budget
            )
        elif case == "fiml-full":
            r = case_fiml(
                sizes["fiml-full"],
                quick=args.quick,
                use_r=use_r and args.lavaan_full,
                log=log,
                budget=args.r_budget,
                name="fiml-full",
            )
        elif case == "hs":
            r = case_hs(quick=args.quick, use_r=use_r, log=log, budget=args.r_budget)
        else:
            r = case_batched(sizes["batched"], quick=args.quick, log=log)
        r["load"] = [load0, [round(v, 2) for v in os.getloadavg()]]
        r["max_rss_gib_so_far"] = _max_rss_gib()
        results.append(r)
    vers = br.versions()
    vers = {k: v for k, v in vers.items() if k not in ("torch", "statsmodels")}
    if use_r:
        vers["R"] = r_version() or "not found"
    cmd = "python -m benchmarks.models" + (" --quick" if args.quick else "")
    if args.cases:
        cmd += " --cases " + " ".join(args.cases)
    if args.lavaan_full:
        cmd += " --lavaan-full"
    if args.quick and args.with_r:
        cmd += " --with-r"
    meta = {
        "command": cmd,
        "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "wall_s": time.perf_counter() - t0,
        "load_start": mach["load_avg_1_5_15"],
        "load_end": [round(v, 2) for v in os.getloadavg()],
        "threads": args.threads,
        "machine": mach,
        "versions": vers,
    }
    md = markdown(results, meta)
    print()
    print(md)
    blob = json.dumps({"meta": meta, "results": results}, indent=1, default=_json_default)
    if args.out:
        args.out.write_text(blob)
    if args.write_docs:
        RESULTS.write_text(blob)
        write_docs(md)
        log(f"wrote {DOC}, {RESULTS}")
    return {"meta": meta, "results": results, "markdown": md}


def _max_rss_gib():
    try:
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)  # KiB
    except (ImportError, OSError):
        return None


def _json_default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    return str(o)


if __name__ == "__main__":
    main()
