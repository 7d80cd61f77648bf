"""Benchmarks of mle_jax against its peers on the same generated data, in one run.

Usage (from the repository root, with the ``bench`` extra installed)::

    python -m benchmarks.run                 # full run (~10 min on 2 CPU cores)
    python -m benchmarks.run --quick         # smoke run (< 1 min): small sizes, float64
    python -m benchmarks.run --targets       # only the performance targets (~5 min, lavaan too)
    python -m benchmarks.run --write-docs    # also rewrite the tables in docs/benchmarks.md,
                                             # the figure docs/bench_time_vs_n.png and
                                             # benchmarks/results.json

What is measured, per size, dtype and method (see ``benchmarks/peers.py`` for the methods):

* warm: median wall time of repeated calls after one untimed warm-up call (so JIT
  compilation is excluded); slow methods that compile nothing are timed once;
* ratio: warm time / warm time of the numpy closed form (``x.mean(0)`` and
  ``(x - m).T @ (x - m) / n``) on the same data in the same run;
* iterations, converged (the gradient reached the common tolerance), and the error against
  the closed form: ``max(|mean - m| / max std, |cov - C| / max |C|)``, with ``m, C`` the
  float64 two-pass closed form of the same data;
* cold: the first call in a fresh Python process (imports excluded and reported apart,
  compilation included), for mle_jax with and without JAX's persistent compilation cache.

Nothing here is imported by the package or its tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
FIGURE = ROOT / "docs" / "bench_time_vs_n.png"
RESULTS = ROOT / "benchmarks" / "results.json"
TARGETS = ROOT / "benchmarks" / "targets.json"
START, END = "<!-- tables:start -->", "<!-- tables:end -->"
TSTART, TEND = "<!-- targets:start -->", "<!-- targets:end -->"

# (n, d); d = 0 means univariate data of shape (n,)
FULL_SIZES = [
    (10_000, 2),
    (10_000, 10),
    (100_000, 10),
    (1_000_000, 10),
    (100_000, 50),
    (100_000, 0),
]
QUICK_SIZES = [(10_000, 2), (10_000, 10)]


def setup_jax():
    """float64 on; the library itself never flips this (see DESIGN.md)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


# ------------------------------------------------------------------------------------ data


def make_data(n, d, dtype=np.float64, seed=0):
    """Gaussian data with a known, moderately conditioned covariance.

    The correlation is ``Q diag(logspace(0, 2, d)) Q^T`` for a random orthogonal ``Q``,
    rescaled to a unit diagonal (condition number 16, 50 and 96 for d = 2, 10, 50), the
    standard deviations are uniform in [0.5, 5] and the means N(0, 10^2).
    Univariate (``d = 0``): ``N(3, 2^2)`` of shape ``(n,)``. The step counts of the
    unstandardised peers grow with the conditioning of the correlation; mle_jax whitens.
    """
    rng = np.random.default_rng(seed)
    if d == 0:
        return (3.0 + 2.0 * rng.standard_normal(n)).astype(dtype)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    corr = (q * np.logspace(0, 2, d)) @ q.T
    s = 1 / np.sqrt(np.diagonal(corr))
    corr = corr * s[:, None] * s[None, :]
    std = rng.uniform(0.5, 5.0, d)
    chol = np.linalg.cholesky(corr) * std[:, None]
    x = rng.standard_normal((n, d)) @ chol.T + rng.normal(0.0, 10.0, d)
    return x.astype(dtype)


def reference(x):
    x64 = np.asarray(x, np.float64)
    x64 = x64[:, None] if x64.ndim == 1 else x64
    m = x64.mean(axis=0)
    xc = x64 - m
    return m, xc.T @ xc / x64.shape[0]


def error(out, ref):
    m, c = ref
    std = np.sqrt(np.max(np.diagonal(c)))
    mean = np.atleast_1d(np.asarray(out.mean, np.float64))
    cov = np.atleast_2d(np.asarray(out.cov, np.float64))
    return float(max(np.max(np.abs(mean - m)) / std, np.max(np.abs(cov - c)) / np.max(np.abs(c))))


# ---------------------------------------------------------------------------------- timing


def time_call(fn, x, *, warm_up, budget=1.5, max_repeats=7, min_repeats=3):
    """(median seconds, repeats, first-call seconds, out). Repeats until ``budget`` is spent."""
    first = None
    if warm_up:
        t = time.perf_counter()
        out = getattr(fn, "warm", fn)(x)  # a cheap call that compiles the same executable
        first = time.perf_counter() - t
    times = []
    spent = 0.0
    while len(times) < max_repeats:
        t = time.perf_counter()
        out = fn(x)
        dt = time.perf_counter() - t
        times.append(dt)
        spent += dt
        if first is None:
            first = dt
        if len(times) >= min_repeats and spent > budget:
            break
        if dt > 2.0 and not warm_up:  # slow and nothing to compile: one timing is enough
            break
        if dt > 2.0 and len(times) >= 1 and warm_up:
            break
    return statistics.median(times), len(times), first, out


def run_size(n, d, dtype, methods, *, quick, log):
    from benchmarks import peers

    x = make_data(n, d, dtype)
    ref = reference(x)
    dd = max(d, 1)
    rows = []
    for m in methods:
        if m.max_n_d is not None and (n > m.max_n_d[0] or dd > m.max_n_d[1]):
            continue
        try:
            fn = m.make(dd, dtype)
        except ImportError as e:  # a peer that is not installed
            log(f"  skip {m.name}: {e}")
            continue
        xin = x if d > 0 else x[:, None]
        if m.name.startswith("mle_jax"):
            xin = x  # mle_jax takes (n,) univariate data as it is
        med, reps, first, out = time_call(fn, xin, warm_up=m.compiles, budget=0.5 if quick else 1.5)
        row = {
            "n": n,
            "d": d,
            "dtype": np.dtype(dtype).name,
            "method": m.name,
            "family": m.family,
            "warm_s": med,
            "repeats": reps,
            "first_call_s": first,
            "iters": out.iters,
            "converged": out.converged,
            "error": error(out, ref),
            "note": out.note,
        }
        rows.append(row)
        log(
            f"  {m.name:38s} {med * 1e3:10.2f} ms  x{reps}  it={out.iters}  "
            f"conv={out.converged}  err={row['error']:.1e} {out.note}"
        )
    base = next(r["warm_s"] for r in rows if r["method"] == peers.BASELINE)
    for r in rows:
        r["ratio"] = r["warm_s"] / base
    return rows


# --------------------------------------------------------------------------------- batched


def run_batched(batch, n, d, *, quick, log):
    """B independent (n, d) fits: mle_jax.fit_many vs loops of peers and vectorised numpy."""
    import mle_jax as mj
    from benchmarks import peers

    xs = np.stack([make_data(n, d, np.float64, seed=s) for s in range(batch)])
    rows = []

    def record(name, fn, warm_up, note="", check=True, subset=None):
        """``subset``: time a loop over the first ``subset`` problems, scale to ``batch``."""
        data = xs if subset is None else xs[:subset]
        med, reps, first, out = time_call(fn, data, warm_up=warm_up, budget=0.5 if quick else 1.5)
        if subset is not None:
            med, first = med * batch / subset, first * batch / subset
            note = f"timed on {subset} fits, scaled x{batch // subset}"
        means, covs, iters, conv = out
        err = 0.0
        if check:
            for k in range(len(data)):
                err = max(err, error(peers.Out(means[k], covs[k]), reference(xs[k])))
        rows.append(
            {
                "batch": batch,
                "n": n,
                "d": d,
                "method": name,
                "warm_s": med,
                "repeats": reps,
                "first_call_s": first,
                "iters": iters,
                "converged": conv,
                "error": err,
                "note": note,
            }
        )
        log(
            f"  {name:38s} {med * 1e3:10.2f} ms  x{reps}  it={iters} conv={conv} "
            f"err={err:.1e} {note}"
        )

    def numpy_vec(xs):
        m = xs.mean(axis=1)
        xc = xs - m[:, None, :]
        return m, np.einsum("bni,bnj->bij", xc, xc) / n, None, None

    record("numpy vectorised (baseline)", numpy_vec, False)

    if hasattr(mj, "fit_many"):

        def fit_many(xs):
            r = mj.fit_many(xs)
            return (
                np.asarray(r.mean),
                np.asarray(r.cov),
                int(np.max(r.num_steps)),
                bool(np.all(r.converged)),
            )

        record("mle_jax fit_many", fit_many, True)
    else:
        log("  mle_jax.fit_many not available")

    def fit_loop(xs):
        res = [mj.fit(x) for x in xs]
        return (
            [np.asarray(r.mean) for r in res],
            [np.asarray(r.cov) for r in res],
            max(int(r.num_steps) for r in res),
            all(bool(r.converged) for r in res),
        )

    record("loop of mle_jax fit", fit_loop, True, subset=min(batch, 200))

    scipy_fit = peers.scipy_lbfgsb(d, np.float64)

    def scipy_loop(xs):
        res = [scipy_fit(x) for x in xs]  # noqa: B023
        return (
            [r.mean for r in res],
            [r.cov for r in res],
            max(r.iters for r in res),
            all(r.converged for r in res),
        )

    record("loop of scipy L-BFGS-B", scipy_loop, False, subset=min(batch, 100))

    # plain JAX vmap(optax.lbfgs) is left out: in a trial run it took 38.6 s for this batch
    # (the vmapped zoom line search, as in fit_many), twice that with the warm-up

    try:
        emp = peers.sklearn_empirical(d, np.float64)

        def sk_loop(xs):
            res = [emp(x) for x in xs]
            return [r.mean for r in res], [r.cov for r in res], None, None

        record("loop of sklearn EmpiricalCovariance", sk_loop, False)
    except ImportError as e:
        log(f"  skip sklearn: {e}")
    base = rows[0]["warm_s"]
    for r in rows:
        r["ratio"] = r["warm_s"] / base
    return rows


# ------------------------------------------------------------------------- raw-data Adam


def run_adam_overhead(n, d, *, quick, log):
    """Per-step cost of fit(form="raw", optimizer=adam) vs one jitted NLL+gradient call.

    The marginal step cost is (T(K2) - T(K1)) / (K2 - K1) with tol=1e-300 (never reached:
    all steps run); the reference is ``jax.value_and_grad`` of a plain JAX mean NLL on every
    data point (mean and a Cholesky factor with log-diagonal, the parametrisation of the
    fit), jitted, one call.
    """
    import warnings

    import jax
    import jax.numpy as jnp
    import optax

    import mle_jax as mj

    x = make_data(n, d, np.float64)
    opt = optax.adam(1e-2)
    k1, k2 = (10, 60) if quick else (20, 220)

    def fit_k(k):
        return lambda x: mj.fit(x, form="raw", optimizer=opt, max_steps=k, tol=1e-300)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mj.ConvergenceWarning)  # unconverged by design
        t1 = time_call(fit_k(k1), x, warm_up=True, budget=0.5 if quick else 2.0)[0]
        t2 = time_call(fit_k(k2), x, warm_up=True, budget=0.5 if quick else 2.0)[0]
    rows, cols = np.tril_indices(d)
    xs = jnp.asarray((x - x.mean(0)) / x.std(0))

    def nll(params, xs):
        mean, raw = params
        lo = jnp.zeros((d, d)).at[rows, cols].set(raw)
        diag = jnp.diagonal(lo)
        chol = lo - jnp.diag(diag) + jnp.diag(jnp.exp(diag))
        z = jax.scipy.linalg.solve_triangular(chol, (xs - mean).T, lower=True)
        return 0.5 * jnp.mean(jnp.sum(z**2, axis=0)) + jnp.sum(diag)

    params = (jnp.full(d, 0.01), jnp.full(d * (d + 1) // 2, 0.01))
    vg = jax.jit(jax.value_and_grad(nll))
    evalf = lambda _: jax.block_until_ready(vg(params, xs))  # noqa: E731
    te = time_call(
        evalf, None, warm_up=True, budget=0.5 if quick else 1.0, max_repeats=51, min_repeats=11
    )[0]
    per_step = (t2 - t1) / (k2 - k1)
    row = {
        "n": n,
        "d": d,
        "k1": k1,
        "k2": k2,
        "fit_k1_s": t1,
        "fit_k2_s": t2,
        "per_step_s": per_step,
        "eval_s": te,
        "ratio_marginal": per_step / te,
        "ratio_total": t2 / k2 / te,
    }
    log(
        f"  Adam raw n={n} d={d}: per step {per_step * 1e3:.3f} ms, one NLL+grad "
        f"{te * 1e3:.3f} ms: marginal ratio {row['ratio_marginal']:.2f}, "
        f"total/K2 ratio {row['ratio_total']:.2f}"
    )
    return row


# ------------------------------------------------------------------ the redesign's targets


def _block(fn):
    import jax

    def run(x):
        out = fn(x)
        jax.block_until_ready(out)
        return out

    return run


def run_targets(*, quick, log, threads):
    """The redesign issue's performance targets, measured side by side in one run.

    Returns a list of rows ``{what, measured, ratio, target, ok, load}``; every timing is the
    median of warm repeats (:func:`time_call`) unless it says "cold".
    """
    import mle_jax as mj
    from benchmarks import peers

    out = []
    load = lambda: [round(v, 2) for v in os.getloadavg()]  # noqa: E731

    def add(what, measured, ratio, target, ok, **extra):
        out.append(
            {
                "what": what,
                "measured": measured,
                "ratio": ratio,
                "target": target,
                "ok": ok,
                "load": load(),
                **extra,
            }
        )
        log(
            f"  {what}: {measured} ({ratio}) target {target}: {'PASS' if ok else 'FAIL'} "
            f"load {load()}"
        )

    # 1. cold first fit in a fresh process, d = 10, without and with the persistent cache
    n_cold = 10_000
    r = run_cold("mle_jax fit (default)", n_cold, 10, threads=threads)
    add(
        f"cold first fit(x), fresh process, n={n_cold:.0e} d=10, no cache",
        f"{r.get('first_call_s', np.nan):.2f} s (imports {r.get('import_s', np.nan):.2f} s)",
        "",
        "<= 1.0 s",
        r.get("first_call_s", 99) <= 1.0,
        raw=r,
    )
    with tempfile.TemporaryDirectory() as cache:
        r0 = run_cold("mle_jax fit (default)", n_cold, 10, cache=cache, threads=threads)
        r1 = run_cold("mle_jax fit (default)", n_cold, 10, cache=cache, threads=threads)
    add(
        f"cold first fit(x), fresh process, n={n_cold:.0e} d=10, persistent cache populated",
        f"{r1.get('first_call_s', float('nan')):.2f} s (filling run "
        f"{r0.get('first_call_s', float('nan')):.2f} s)",
        "",
        "<= 0.5 s",
        r1.get("first_call_s", 99) <= 0.5,
        raw=[r0, r1],
    )

    # 2. 1000 fits of (200, 3): fit_many vs a scipy loop vs vectorised numpy; SEs in one call
    batch = 50 if quick else 1000
    b = {r["method"]: r for r in run_batched(batch, 200, 3, quick=quick, log=log)}
    fm = b["mle_jax fit_many"]["warm_s"]
    sc = b["loop of scipy L-BFGS-B"]["warm_s"]
    nv = b["numpy vectorised (baseline)"]["warm_s"]
    add(
        f"{batch} fits of (200, 3): fit_many vs loop of scipy L-BFGS-B (analytic grad)",
        f"{fmt_time(fm)} vs {fmt_time(sc)}",
        f"{sc / fm:.0f}x faster",
        ">= 200x",
        sc / fm >= 200,
        batched=list(b.values()),
    )
    add(
        f"{batch} fits of (200, 3): fit_many vs vectorised numpy closed forms",
        f"{fmt_time(fm)} vs {fmt_time(nv)}",
        f"{fm / nv:.1f}x numpy",
        "<= 2x numpy",
        fm / nv <= 2,
    )
    xs = np.stack([make_data(200, 3, np.float64, seed=s) for s in range(batch)])
    res_many = mj.fit_many(xs)
    se_many = lambda _: mj.standard_errors(res_many).mean  # noqa: E731
    t_se, _, t_se_first, _ = time_call(_block(se_many), None, warm_up=True, budget=1.0)
    add(
        f"standard_errors of the {batch}-member fit_many result, one call",
        f"{fmt_time(t_se)} (first call {fmt_time(t_se_first)}) vs fits {fmt_time(fm)}",
        f"{t_se / fm:.2f}x the fits",
        "< 1x the fits",
        t_se < fm,
    )

    # 3. warm fits vs numpy's closed form: n = 1e4, d = 10 (goal 3x) and n = 1e3, d = 3 (5x)
    for n, d, goal in ((10_000, 10, 3), (1_000, 3, 5)):
        x = make_data(n, d, np.float64)
        t_np = time_call(
            peers.numpy_centred(d, np.float64), x, warm_up=False, max_repeats=51,
            min_repeats=11, budget=0.5,
        )[0]  # fmt: skip
        t_fit = time_call(
            peers.mj_fit(d, np.float64), x, warm_up=True, max_repeats=21, min_repeats=7,
            budget=1.0,
        )[0]  # fmt: skip
        add(
            f"warm fit(x), n={n:.0e} d={d} vs numpy closed form".replace("e+0", "e"),
            f"{fmt_time(t_fit)} vs {fmt_time(t_np)}",
            f"{t_fit / t_np:.1f}x numpy",
            f"<= {goal}x numpy",
            t_fit / t_np <= goal,
        )

    # 3c. the HS three-factor CFA (d = 9, n = 301): warm fit with standard errors, a fresh
    # process's first fit, and 1000 bootstrap refits (lavaan's bootstrapLavaan in the same run
    # when Rscript with lavaan is installed)
    out.extend(run_structured_targets(add, quick=quick, threads=threads, log=log))

    # 4. standard errors of a 1e6 x 10 fit vs the fit itself
    n_big = 100_000 if quick else 1_000_000
    x = make_data(n_big, 10, np.float64)
    t_fit, _, _, _ = time_call(_block(lambda x: mj.fit(x).cov), x, warm_up=True, budget=2.0)
    res = mj.fit(x)
    del x
    se1 = lambda _: mj.standard_errors(res).mean  # noqa: E731
    t_se, _, t_se_first, _ = time_call(_block(se1), None, warm_up=True, budget=1.0)
    add(
        f"standard_errors of a {n_big:.0e} x 10 fit vs the fit",
        f"{fmt_time(t_se)} (first call {fmt_time(t_se_first)}) vs fit {fmt_time(t_fit)}",
        f"{t_se / t_fit:.3f}x the fit",
        "a small fraction (< 0.1x), no pass over the data",
        t_se < 0.1 * t_fit,
    )
    return out


HS_CFA = "visual =~ x1 + x2 + x3\n textual =~ x4 + x5 + x6\n speed =~ x7 + x8 + x9"

R_BOOT = r"""
suppressMessages(library(lavaan))
hs <- read.csv("mle_jax/data/holzinger_swineford.csv")
fit <- cfa("visual =~ x1 + x2 + x3\n textual =~ x4 + x5 + x6\n speed =~ x7 + x8 + x9", data = hs)
set.seed(1)
B <- as.integer(commandArgs(TRUE)[1])
cat(sprintf('{"boot": %.6f}', system.time(bootstrapLavaan(fit, R = B, FUN = coef))[["elapsed"]]))
"""


def _hs_fit_with_se():
    """``mj.fit`` of the HS CFA and its parameter table (estimates with standard errors)."""
    import pandas as pd

    import mle_jax as mj

    hs = pd.read_csv(ROOT / "mle_jax/data/holzinger_swineford.csv")
    model = mj.SEM(HS_CFA)

    def one(_=None):
        res = mj.fit(hs, model)
        return res, mj.inference.parameter_table(res)

    return hs, one


def cold_sem_child():
    """In a fresh process: the first HS CFA fit with its parameter table (SEs)."""
    t0 = time.perf_counter()
    setup_jax()
    import mle_jax  # noqa: F401

    _, one = _hs_fit_with_se()
    t_import = time.perf_counter() - t0
    t = time.perf_counter()
    res, _ = one()
    first = time.perf_counter() - t
    print(json.dumps({"import_s": t_import, "first_call_s": first, "iters": int(res.num_steps)}))


def run_structured_targets(add, *, quick, threads, log):
    """The structured-model rows of the targets (they call ``add``; nothing returned)."""
    import shutil

    import mle_jax as mj

    hs, one = _hs_fit_with_se()
    t_fit, _, t_first, _ = time_call(one, None, warm_up=True, max_repeats=21, budget=1.0)
    add(
        "HS CFA (d=9, n=301) warm mj.fit(SEM) + parameter_table with SEs",
        f"{fmt_time(t_fit)} (first call in this process {fmt_time(t_first)})",
        "",
        "<= 20 ms",
        t_fit <= 0.020,
    )
    cmd = [sys.executable, "-m", "benchmarks.run", "--cold-sem", "--threads", str(threads)]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    r = json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else {}
    add(
        "HS CFA first fit + SEs, fresh process, no cache",
        f"{r.get('first_call_s', np.nan):.2f} s (imports {r.get('import_s', np.nan):.2f} s)",
        "",
        "<= 1.5 s",
        r.get("first_call_s", 99) <= 1.5,
        raw=r or {"error": p.stderr[-500:]},
    )
    boots = 100 if quick else 1000
    res, _ = one()
    mj.inference.bootstrap(res, hs, n=boots)  # compiles
    times = []
    for seed in (1, 2, 3):  # warm: the median of 3 calls, each with its own replicates
        t = time.perf_counter()
        b = mj.inference.bootstrap(res, hs, n=boots, seed=seed)
        times.append(time.perf_counter() - t)
    t_boot = float(np.median(times))
    t_r = None
    if shutil.which("Rscript"):
        p = subprocess.run(
            ["Rscript", "--vanilla", "-e", R_BOOT, str(boots)],
            cwd=ROOT, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        if p.returncode == 0:
            t_r = json.loads(p.stdout[p.stdout.index("{") :])["boot"]
    ok = int(np.sum(b.status == mj.Status.CONVERGED))
    add(
        f"HS CFA bootstrap, {boots} refits (warm) vs lavaan bootstrapLavaan(R={boots})",
        f"{fmt_time(t_boot)} ({ok} converged) vs "
        + (f"{t_r:.1f} s" if t_r is not None else "lavaan not run (no Rscript)"),
        f"{t_r / t_boot:.0f}x faster" if t_r is not None else "",
        ">= 20x lavaan",
        t_r is not None and t_r / t_boot >= 20,
    )
    return []


def targets_markdown(rows, meta):
    lines = [
        "| target | measured | ratio | goal | met | load (1, 5, 15 min) |",
        "|---|---|---:|---|:---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['what']} | {r['measured']} | {r['ratio']} | {r['target']} | "
            f"{'yes' if r['ok'] else '**no**'} | {r['load']} |"
        )
    lines.append("")
    lines.append(
        f"Run: `{meta['command']}` on {meta['date']} UTC, {meta['wall_s']:.0f} s; load "
        f"average at start {meta['load_start']}, end {meta['load_end']}; threads of the BLAS: "
        f"{meta['threads']}."
    )
    return "\n".join(lines)


# ------------------------------------------------------------------------------- cold runs


COLD_METHODS = [
    "mle_jax fit (default)",
    "mle_jax closed_form",
    "plain JAX + optax L-BFGS",
    "scipy L-BFGS-B (analytic grad)",
    "PyTorch LBFGS",
    "numpy (centred, baseline)",
    "sklearn GaussianMixture(1)",
]


def limit_threads(k):
    """BLAS and PyTorch threads -> k, here and in the child processes of the cold runs."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(k)
    try:  # the environment variables above reach the child processes either way
        from threadpoolctl import threadpool_limits

        threadpool_limits(k)
    except ImportError:
        pass
    try:
        import torch

        torch.set_num_threads(k)
    except ImportError:
        pass


def cold_child(args):
    """In a fresh process: import, make the data (untimed), time the first call."""
    t0 = time.perf_counter()
    if args.cache:
        setup_jax()
        import mle_jax as mj

        try:
            mj.enable_compilation_cache(args.cache)
        except AttributeError:  # jax 0.10: jax.config.read of this flag raises; same settings
            import jax

            jax.config.update("jax_enable_compilation_cache", True)
            jax.config.update("jax_compilation_cache_dir", args.cache)
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
            print("enable_compilation_cache failed; set the JAX flags directly", file=sys.stderr)
    if "JAX" in args.cold_one or "mle_jax" in args.cold_one:
        setup_jax()
    if args.threads > 0:
        limit_threads(args.threads)
    from benchmarks import peers

    m = peers.BY_NAME[args.cold_one]
    d = max(args.d, 1)
    fn = m.make(d, np.float64)
    t_import = time.perf_counter() - t0
    x = make_data(args.n, args.d, np.float64)
    if not m.name.startswith("mle_jax") and args.d == 0:
        x = x[:, None]
    t = time.perf_counter()
    out = fn(x)
    first = time.perf_counter() - t
    print(json.dumps({"import_s": t_import, "first_call_s": first, "iters": out.iters}))


def run_cold(method, n, d, *, cache=None, threads=1):
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.run",
        "--cold-one",
        method,
        "--n",
        str(n),
        "--d",
        str(d),
        "--threads",
        str(threads),
    ]
    if cache:
        cmd += ["--cache", cache]
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        return {"method": method, "error": p.stderr[-500:]}
    r = json.loads(p.stdout.strip().splitlines()[-1])
    r.update(
        {
            "method": method,
            "n": n,
            "d": d,
            "process_s": wall,
            "cache": "none" if not cache else "populated",
        }
    )
    return r


def run_colds(sizes, *, quick, log, threads):
    rows = []
    n10 = 10_000 if quick else 100_000
    methods = [] if quick else COLD_METHODS  # quick: only the cache pair below
    for name in methods:
        r = run_cold(name, n10, 10, threads=threads)
        rows.append(r)
        first, imports = r.get("first_call_s", float("nan")), r.get("import_s", float("nan"))
        log(f"  cold {name:38s} n={n10} d=10: first call {first:.2f} s (imports {imports:.2f} s)")
    if not quick:
        for n, d in sizes:
            if (n, d) == (n10, 10):
                continue
            r = run_cold("mle_jax fit (default)", n, d, threads=threads)
            rows.append(r)
            log(f"  cold mle_jax fit n={n} d={d}: {r.get('first_call_s', float('nan')):.2f} s")
    with tempfile.TemporaryDirectory() as cache:
        r0 = run_cold("mle_jax fit (default)", n10, 10, cache=cache, threads=threads)  # fill
        r0["cache"] = "empty (filling)"
        rows.append(r0)
        for _ in range(1 if quick else 2):
            r = run_cold("mle_jax fit (default)", n10, 10, cache=cache, threads=threads)
            rows.append(r)
            log(
                f"  cold mle_jax fit n={n10} d=10 with persistent cache: "
                f"{r.get('first_call_s', float('nan')):.2f} s (filling run "
                f"{r0.get('first_call_s', float('nan')):.2f} s)"
            )
    return rows


# ------------------------------------------------------------------------------ reporting


def versions():
    out = {"python": platform.python_version()}
    for mod in [
        "numpy",
        "scipy",
        "jax",
        "jaxlib",
        "optax",
        "torch",
        "sklearn",
        "statsmodels",
        "mle_jax",
    ]:
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - a peer not installed
            out[mod] = "not installed"
    return out


def machine():
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "load_avg_1_5_15": [round(v, 2) for v in load],
    }


def fmt_time(s):
    if s < 1e-3:
        return f"{s * 1e6:.0f} us"
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def size_label(n, d):
    return f"n={n:.0e}, univariate" if d == 0 else f"n={n:.0e}, d={d}"


def _find(rows, method, **keys):
    for r in rows:
        if r["method"] == method and all(r.get(k) == v for k, v in keys.items()):
            return r
    return None


def targets(res):
    """The issue's targets, each with the ratio measured in this run."""
    out = []
    key = {"n": 1_000_000, "d": 10, "dtype": "float64"}
    fit = _find(res["rows"], "mle_jax fit (default)", **key)
    base = _find(res["rows"], "numpy (centred, baseline)", **key)
    npcov = _find(res["rows"], "numpy (np.cov)", **key)
    if fit and base:
        r = fit["warm_s"] / base["warm_s"]
        extra = f" ({fit['warm_s'] / npcov['warm_s']:.2f}x np.cov)" if npcov else ""
        out.append(
            ("fit warm <= 1.0x numpy mean+covariance (n=1e6, d=10)", f"{r:.2f}x{extra}", r <= 1.0)
        )
        for peer in ("scipy L-BFGS-B (analytic grad)", "PyTorch LBFGS"):
            p = _find(res["rows"], peer, **key)
            if p:
                gt = ">" if p["note"] == "time budget" else ""
                r = p["warm_s"] / fit["warm_s"]
                out.append(
                    (
                        f"fit >= 50x faster than {peer} (n=1e6, d=10)",
                        f"{gt}{r:.0f}x faster"
                        + (" (peer stopped at the time budget)" if gt else ""),
                        r >= 50,
                    )
                )
    for c in res.get("cold", []):
        if (
            c.get("method") == "mle_jax fit (default)"
            and c.get("d") == 10
            and c.get("n") == res["cold"][-1].get("n")
            and "error" not in c
        ):
            out.append(
                (
                    f"cold first call <= 1.5 s (d=10, n={c['n']:.0e}, cache: {c['cache']})",
                    f"{c['first_call_s']:.2f} s",
                    c["first_call_s"] <= 1.5,
                )
            )
    b = {r["method"]: r for r in res.get("batched", [])}
    if "mle_jax fit_many" in b and "loop of scipy L-BFGS-B" in b:
        r = b["loop of scipy L-BFGS-B"]["warm_s"] / b["mle_jax fit_many"]["warm_s"]
        out.append(
            (
                f"{b['mle_jax fit_many']['batch']} batched fits >= 100x faster than a "
                "loop of scipy fits",
                f"{r:.0f}x faster",
                r >= 100,
            )
        )
    for a in res.get("adam", []):
        out.append(
            (
                f"raw-data Adam step <= 2x one NLL+grad (n={a['n']:.0e}, d={a['d']})",
                f"{a['ratio_marginal']:.2f}x marginal, {a['ratio_total']:.2f}x total/K",
                a["ratio_marginal"] <= 2.0,
            )
        )
    return out


def markdown(res):
    lines = [
        "#### Targets (issue 5), measured in this run",
        "",
        "| target | measured | met |",
        "|---|---|:---:|",
    ]
    for what, value, ok in targets(res):
        lines.append(f"| {what} | {value} | {'yes' if ok else 'no'} |")
    lines.append("")
    ver, mach = res["versions"], res["machine"]
    lines.append(f"Run: `{res['command']}` on {res['date']} UTC, {res['wall_s']:.0f} s.")
    lines.append(
        f"Machine: {mach['cpu']}, {mach['cores']} cores, {mach['platform']}; load "
        f"average at start {mach['load_avg_1_5_15']} and end {res['load_end']}."
    )
    lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in ver.items()) + ".")
    th = res["threads"]
    lines.append(
        f"Threads of the BLAS and PyTorch: {th if th > 0 else 'library defaults'} "
        "(JAX/XLA: its default pool)."
    )
    lines.append("")
    for dtype in res["dtypes"]:
        for n, d in res["sizes"]:
            rows = [r for r in res["rows"] if r["n"] == n and r["d"] == d and r["dtype"] == dtype]
            if not rows:
                continue
            base = next(r for r in rows if r["ratio"] == 1.0 or "baseline" in r["method"])
            lines.append(
                f"#### {size_label(n, d)}, {dtype} (numpy closed form: {fmt_time(base['warm_s'])})"
            )
            lines.append("")
            lines.append("| method | time / numpy | warm | iterations | converged | error | note |")
            lines.append("|---|---:|---:|---:|:---:|---:|---|")
            for r in rows:
                it = "" if r["iters"] is None else str(r["iters"])
                cv = "" if r["converged"] is None else ("yes" if r["converged"] else "no")
                gt = ">" if r["note"] == "time budget" else ""  # stopped: a lower bound
                lines.append(
                    f"| {r['method']} | {gt}{r['ratio']:.3g}x | {gt}"
                    f"{fmt_time(r['warm_s'])} | {it} | {cv} | {r['error']:.1e} |"
                    f" {r['note']} |"
                )
            lines.append("")
    if res.get("batched"):
        b = res["batched"][0]
        lines.append(f"#### Batched: {b['batch']} fits of (n={b['n']}, d={b['d']}), float64")
        lines.append("")
        lines.append(
            "| method | time / numpy | warm | max iterations | all converged | max error | note |"
        )
        lines.append("|---|---:|---:|---:|:---:|---:|---|")
        for r in res["batched"]:
            it = "" if r["iters"] is None else str(r["iters"])
            cv = "" if r["converged"] is None else ("yes" if r["converged"] else "no")
            lines.append(
                f"| {r['method']} | {r['ratio']:.3g}x | {fmt_time(r['warm_s'])} | {it}"
                f" | {cv} | {r['error']:.1e} | {r['note']} |"
            )
        lines.append("")
    if res.get("adam"):
        lines.append("#### Raw-data Adam: driver overhead per step")
        lines.append("")
        lines.append(
            "| n, d | one NLL+grad (jitted) | fit per step (marginal) | ratio | "
            "fit total / K2 | ratio |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|")
        for a in res["adam"]:
            lines.append(
                f"| {a['n']:.0e}, {a['d']} | {a['eval_s'] * 1e3:.3f} ms | "
                f"{a['per_step_s'] * 1e3:.3f} ms | {a['ratio_marginal']:.2f}x | "
                f"{a['fit_k2_s'] / a['k2'] * 1e3:.3f} ms | {a['ratio_total']:.2f}x |"
            )
        lines.append("")
    if res.get("cold"):
        lines.append("#### Cold: first call in a fresh process (float64)")
        lines.append("")
        lines.append("| method | n, d | persistent cache | first call | imports before it |")
        lines.append("|---|---|---|---:|---:|")
        for c in res["cold"]:
            if "error" in c:
                lines.append(f"| {c['method']} | | | failed | |")
                continue
            lines.append(
                f"| {c['method']} | {size_label(c['n'], c['d'])} | {c['cache']} | "
                f"{c['first_call_s']:.2f} s | {c['import_s']:.2f} s |"
            )
        lines.append("")
    return "\n".join(lines)


def figure(res, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in res["rows"] if r["d"] == 10 and r["dtype"] == "float64"]
    fig, ax = plt.subplots(figsize=(8, 7.5))
    for name in dict.fromkeys(r["method"] for r in rows):
        pts = sorted((r["n"], r["warm_s"]) for r in rows if r["method"] == name)
        if len(pts) < 2:
            continue
        style = "-o" if name.startswith("mle_jax") else ("--s" if "numpy" in name else ":^")
        stopped = any(r["note"] == "time budget" for r in rows if r["method"] == name)
        label = name + (" (at ~budget: stopped, a lower bound)" if stopped else "")
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("n (samples), d = 10, float64")
    ax.set_ylabel("warm time per fit [s]")
    ax.set_title("Gaussian MLE: time vs n (median of repeats, 2-core CPU)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_block(md, start, end):
    """Replace the text between the ``start`` and ``end`` markers of docs/benchmarks.md."""
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if start not in text or end not in text:
        text += f"\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    DOC.write_text(head + start + "\n" + md + "\n" + end + tail)


def write_docs(res):
    text = DOC.read_text() if DOC.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START not in text or END not in text:
        text += f"\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(head + START + "\n" + markdown(res) + "\n" + END + tail)


# ------------------------------------------------------------------------------------ main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, float64 only (< 1 min)")
    p.add_argument(
        "--write-docs",
        action="store_true",
        help="rewrite the tables in docs/benchmarks.md, the figure and results.json",
    )
    p.add_argument("--out", type=Path, default=None, help="write the results JSON here")
    p.add_argument("--no-cold", action="store_true", help="skip the fresh-process runs")
    p.add_argument(
        "--targets",
        action="store_true",
        help="only the redesign's performance targets, side by side (~3 min; with "
        "--write-docs: the targets block of docs/benchmarks.md and benchmarks/targets.json)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads of the BLAS (numpy, scipy, sklearn, statsmodels, mle_jax's "
        "host statistics) and of PyTorch; 0: each library's default. Default "
        "1: on a busy shared 2-core machine 2 threads spin-wait, and one "
        "NLL+gradient took 16 ms instead of 1.3 ms (OpenBLAS), one torch step "
        "72 ms instead of 0.7 ms. JAX/XLA keeps its own thread pool.",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=10.0,
        help="seconds one iterative peer run may take before it is stopped "
        "(reported as not converged, note 'time budget'); quick mode: 1.5",
    )
    p.add_argument("--methods", default=None, help="comma-separated subset of method names")
    p.add_argument("--cold-one", default=None, help=argparse.SUPPRESS)
    p.add_argument("--cold-sem", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--cache", default=None, help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--d", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.cold_one:
        return cold_child(args)
    if args.cold_sem:
        if args.threads > 0:
            limit_threads(args.threads)
        return cold_sem_child()

    if args.threads > 0:
        limit_threads(args.threads)
    setup_jax()
    from benchmarks import peers

    peers.TIME_BUDGET = 1.5 if args.quick else args.budget
    from benchmarks import peers

    t_start = time.perf_counter()
    log = lambda s: print(s, flush=True)  # noqa: E731
    mach = machine()
    if args.targets:
        rows = run_targets(quick=args.quick, log=log, threads=args.threads)
        meta = {
            "command": "python -m benchmarks.run --targets" + (" --quick" if args.quick else ""),
            "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "wall_s": time.perf_counter() - t_start,
            "load_start": mach["load_avg_1_5_15"],
            "load_end": [round(v, 2) for v in os.getloadavg()],
            "threads": args.threads,
            "machine": mach,
            "versions": versions(),
        }
        md = targets_markdown(rows, meta)
        print()
        print(md)
        if args.out:
            args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1, default=str))
        if args.write_docs:
            TARGETS.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1, default=str))
            write_block(md, TSTART, TEND)
            log(f"wrote {DOC}, {TARGETS}")
        return rows
    methods = peers.METHODS
    if args.methods:
        keep = {s.strip() for s in args.methods.split(",")}
        methods = [m for m in methods if m.name in keep or m.name == peers.BASELINE]
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    dtypes = [np.float64] if args.quick else [np.float64, np.float32]
    rows = []
    for dtype in dtypes:
        for n, d in sizes:
            log(f"{size_label(n, d)} {np.dtype(dtype).name}")
            ms = methods
            if np.dtype(dtype) == np.float32:  # float32: skip the slowest peers
                ms = [m for m in methods if "statsmodels" not in m.name and "Adam" not in m.name]
            rows += run_size(n, d, dtype, ms, quick=args.quick, log=log)
    log("batched")
    batched = run_batched(20 if args.quick else 1000, 200, 3, quick=args.quick, log=log)
    log("raw-data Adam overhead")
    adam = [
        run_adam_overhead(n, 10, quick=args.quick, log=log)
        for n in ([10_000] if args.quick else [100_000, 1_000_000])
    ]
    cold = [] if args.no_cold else run_colds(sizes, quick=args.quick, log=log, threads=args.threads)
    cmd = "python -m benchmarks.run" + (" --quick" if args.quick else "")
    res = {
        "command": cmd,
        "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "wall_s": time.perf_counter() - t_start,
        "machine": mach,
        "load_end": [round(v, 2) for v in os.getloadavg()],
        "versions": versions(),
        "threads": args.threads,
        "sizes": sizes,
        "dtypes": [np.dtype(t).name for t in dtypes],
        "rows": rows,
        "batched": batched,
        "adam": adam,
        "cold": cold,
    }
    print()
    print(markdown(res))
    if args.out:
        args.out.write_text(json.dumps(res, indent=1, default=str))
    if args.write_docs:
        RESULTS.write_text(json.dumps(res, indent=1, default=str))
        figure(res, FIGURE)
        write_docs(res)
        log(f"wrote {DOC}, {FIGURE}, {RESULTS}")
    return res


if __name__ == "__main__":
    main()
