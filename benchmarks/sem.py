"""Benchmarks of mj.SEM against lavaan and OpenMx (and semopy), all in one run (ratios of one run).

Usage (from the repository root; R with lavaan and OpenMx, see benchmarks/r/README.md)::

    python -m benchmarks.sem             # every case below, 1000 bootstraps
    python -m benchmarks.sem --boot 200  # fewer bootstrap replicates
    python -m benchmarks.sem --cases bfi,big --peers lavaan,openmx,semopy

Cases:

* ``hs``: the three-factor Holzinger-Swineford CFA (d = 9, n = 301): ``mj.fit`` +
  ``parameter_table`` + ``fit_measures``, warm (median of repeats after one compiling call;
  the first call is reported apart), against lavaan ``cfa()`` + ``parameterEstimates()`` +
  ``fitMeasures()`` timed inside R (``proc.time``, median of 10 calls).
* ``fresh``: the same HS fit + table + fit measures as a whole fresh process, wall clock from
  the start of the interpreter (imports and compilation included): ``python -c`` without and
  with a populated persistent compilation cache, against ``Rscript --vanilla`` that loads
  lavaan and does the same (median of 3 processes each).
* ``boot``: ``mj.inference.bootstrap(res, hs, n=B)`` (one batched refit), first and warm (median
  of 3 calls, each with its own seed),
  against lavaan ``bootstrapLavaan(fit, R = B, FUN = coef)`` timed inside R; the bootstrap
  standard errors are compared (their Monte Carlo error is about ``1 / sqrt(2 B)``).
* ``bfi``: the five-factor CFA of the 25 items of psych's ``bfi`` (2800 x 25, 0.7% of the
  answers missing, ``benchmarks/data/README.md``) by FIML: ``mj.fit(..., missing="fiml")``
  + ``parameter_table`` (observed information) + ``fit_measures`` (a saturated FIML fit)
  against lavaan ``cfa(missing = "ml")`` + ``parameterEstimates`` + ``fitMeasures``
  (``benchmarks/r/sem_fiml_bench.R``), and semopy (``Model.fit(obj="FIML")`` + ``inspect``
  + ``calc_stats``) when installed; log-likelihood, chi-square and estimates compared.
* ``big``: a three-factor CFA at n = 10000, d = 20 with 20% of the entries missing
  completely at random (simulated, seed 0; the CSV is written for R), the same three tools.

OpenMx (``benchmarks/r/sem_openmx_bench.R``) fits every case as the RAM model lavaan's
``cfa()`` fits, from raw data by full-information ML (``mxRun`` + ``summary`` with the fitted
saturated and independence models of ``mxRefModels``, the pieces of lavaan's fit measures,
median of repeats inside R), and the bootstrap with ``mxBootstrap(fit, replications = B)``;
log-likelihood, chi-square, estimates and SEs are compared. One OpenMx fit per FIML case
(minutes each), under a budget of ``OPENMX_BUDGET`` seconds.

Nothing here is imported by the package or its tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HS = "visual =~ x1 + x2 + x3\n textual =~ x4 + x5 + x6\n speed =~ x7 + x8 + x9"

R_SCRIPT = r"""
suppressMessages(library(lavaan))
hs <- read.csv("mle_jax/data/holzinger_swineford.csv")
model <- "visual =~ x1 + x2 + x3\n textual =~ x4 + x5 + x6\n speed =~ x7 + x8 + x9"
one <- function() { f <- cfa(model, data = hs); parameterEstimates(f); fitMeasures(f); f }
fit <- one()
times <- sapply(1:10, function(i) system.time(one())[["elapsed"]])
set.seed(1)
B <- as.integer(commandArgs(TRUE)[1])
boot_time <- system.time(b <- bootstrapLavaan(fit, R = B, FUN = coef))[["elapsed"]]
cat(sprintf('{"fit": %.6f, "boot": %.6f, "se": [%s], "names": [%s]}',
    median(times), boot_time, paste(sprintf("%.8f", apply(b, 2, sd)), collapse = ","),
    paste(sprintf('"%s"', names(coef(fit))), collapse = ",")))
"""


FRESH_PY = f"""
import jax
jax.config.update("jax_enable_x64", True)
import pandas as pd
import mle_jax as mj
hs = pd.read_csv("mle_jax/data/holzinger_swineford.csv")
res = mj.fit(hs, mj.SEM({HS!r}))
mj.inference.parameter_table(res)
mj.inference.fit_measures(res)
"""
FRESH_R = r"""
suppressMessages(library(lavaan))
hs <- read.csv("mle_jax/data/holzinger_swineford.csv")
f <- cfa("visual =~ x1 + x2 + x3\n textual =~ x4 + x5 + x6\n speed =~ x7 + x8 + x9", data = hs)
invisible(parameterEstimates(f))
invisible(fitMeasures(f))
"""


def _process_time(cmd: list, repeats: int = 3, env: dict | None = None) -> float:
    """Median wall clock of ``repeats`` runs of ``cmd`` as a fresh process."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _fresh_case() -> list[str]:
    """A fresh Python process (no cache; a populated persistent cache) against a fresh
    Rscript that loads lavaan: the HS fit, its parameter table and fit measures."""
    py = [sys.executable, "-c", FRESH_PY]
    bare = _process_time(py)
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": cache,
               "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
               "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1"}  # fmt: skip
        _process_time(py, 1, env)  # fills the cache
        cached = _process_time(py, env=env)
    r = _process_time(["Rscript", "--vanilla", "-e", FRESH_R])
    return [
        f"| HS CFA fit + SEs + fit measures as a fresh process (wall clock, imports and "
        f"compilation included) | mle_jax vs Rscript loading lavaan | {bare:.2f} s (cache "
        f"populated: {cached:.2f} s) vs {r:.2f} s | | {r / bare:.2f}x ({r / cached:.2f}x "
        f"with the cache) |"
    ]


def _median_time(fn, repeats: int = 7) -> tuple[float, float]:
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), first


BFI = """agree =~ A1 + A2 + A3 + A4 + A5
consc =~ C1 + C2 + C3 + C4 + C5
extra =~ E1 + E2 + E3 + E4 + E5
neuro =~ N1 + N2 + N3 + N4 + N5
open =~ O1 + O2 + O3 + O4 + O5"""
BIG = """f1 =~ y1 + y2 + y3 + y4 + y5 + y6 + y7
f2 =~ y8 + y9 + y10 + y11 + y12 + y13 + y14
f3 =~ y15 + y16 + y17 + y18 + y19 + y20"""
CASES = ("hs", "fresh", "boot", "bfi", "big")


def simulate_big(n: int = 10_000, missing: float = 0.2, seed: int = 0):
    """``(n, 20)`` three-factor data (loadings 0.5-1, factor correlations 0.3, residual
    variances 0.5), each entry missing with probability ``missing``, as a DataFrame."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    sizes = (7, 7, 6)
    lam = np.zeros((20, 3))
    start = 0
    for k, size in enumerate(sizes):
        lam[start : start + size, k] = rng.uniform(0.5, 1.0, size)
        start += size
    phi = np.full((3, 3), 0.3) + 0.7 * np.eye(3)
    cov = lam @ phi @ lam.T + 0.5 * np.eye(20)
    x = rng.multivariate_normal(np.zeros(20), cov, size=n)
    x[rng.random(x.shape) < missing] = np.nan
    return pd.DataFrame(x, columns=[f"y{j + 1}" for j in range(20)])


def _r_peer(script: str, df, syntax: str, *extra, timeout: float | None = None) -> dict | None:
    """Run ``benchmarks/r/<script> DATA.csv MODEL.txt *extra OUT.json`` on ``df`` and
    ``syntax`` and read its JSON; ``None`` when it ran out of ``timeout`` seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        data, model, out = (Path(tmp) / f for f in ("data.csv", "model.txt", "out.json"))
        df.to_csv(data, index=False, na_rep="")
        model.write_text(syntax)
        cmd = ["Rscript", "--vanilla", str(ROOT / "benchmarks/r" / script), str(data),
               str(model), *map(str, extra), str(out)]  # fmt: skip
        try:
            subprocess.run(
                cmd, cwd=ROOT, check=True, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return None
        return json.loads(out.read_text())


def _lavaan(df, syntax: str, repeats: int) -> dict:
    """lavaan's timed FIML fit (benchmarks/r/sem_fiml_bench.R) of ``df``."""
    r = _r_peer("sem_fiml_bench.R", df, syntax, repeats)
    assert r is not None  # no timeout
    return r


OPENMX_BUDGET = 600.0  # seconds of wall time for one OpenMx run (all its repeats)


def _openmx(df, syntax: str, repeats: int, boot: int = 0) -> dict | None:
    """OpenMx's timed FIML fit (benchmarks/r/sem_openmx_bench.R) of ``df``, and its bootstrap
    with ``boot`` replications when ``boot > 0``; ``None`` when it ran out of
    :data:`OPENMX_BUDGET`."""
    return _r_peer("sem_openmx_bench.R", df, syntax, repeats, boot, timeout=OPENMX_BUDGET)


def _estimates(tab) -> dict:
    """``{(lhs, op, rhs): (estimate, se)}`` of a parameter table."""
    cells = zip(tab["lhs"], tab["op"], tab["rhs"], tab["estimate"], tab["se"], strict=True)
    return {(a, o, b): (e, s) for a, o, b, e, s in cells}


def _openmx_row(r: dict | None, mine: dict, warm: float, fm) -> str:
    """The table row of an OpenMx fit: its time against mle_jax's ``warm`` and its agreement
    with ``mine`` (``{(lhs, op, rhs): (estimate, se)}``) on the parameters both name."""
    if r is None:
        return f"| | OpenMx | no answer within {OPENMX_BUDGET:.0f} s | budget | |"
    pairs = []
    for name, e, s in zip(r["name"], r["est"], r["se"], strict=True):
        for op in ("=~", "~~", "~1"):
            if op in name:
                lhs, rhs = name.split(op)
                key = (lhs, op, rhs) if op != "~1" else (lhs, op, "")
                if key in mine:
                    pairs.append((mine[key], (e, s)))
    est = max(abs(m[0] - o[0]) for m, o in pairs)
    with_se = [(m[1], o[1]) for m, o in pairs if o[1] is not None]  # OpenMx's NA: None
    se = (
        f"SEs {max(abs(a / b - 1) for a, b in with_se):.1e} rel"
        if with_se
        else "no SEs from OpenMx (NA)"
    )
    return (
        f"| | OpenMx {r['openmx']} ({r['optimizer']}) | {r['time']:.2f} s "
        f"({r['time'] / warm:.0f}x mle_jax warm) | status {r['status']} | logl diff "
        f"{fm['logl'] - r['logl']:.1e}, chisq diff {fm['chisq'] - r['chisq']:.1e}, "
        f"estimates {est:.1e} abs, {se} ({len(pairs)} parameters) |"
    )


def _semopy(df, syntax: str) -> dict | None:
    """semopy's FIML fit + inspect + calc_stats, timed once (``None``: not installed)."""
    try:
        import semopy
    except ImportError:
        return None
    t = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = semopy.Model(syntax)
            fit = m.fit(df, obj="FIML")
            table = m.inspect()
            semopy.calc_stats(m)
    except Exception as err:  # noqa: BLE001 (a peer's failure is a result)
        return {"time": time.perf_counter() - t, "error": f"{type(err).__name__}: {err}"[:80]}
    loads = {(r.rval, r.lval): float(r.Estimate) for r in table.itertuples() if r.op == "~"}
    return {"time": time.perf_counter() - t, "loadings": loads, "success": bool(fit.success)}


def _fiml_case(label: str, df, syntax: str, peers: tuple, repeats: int) -> list[str]:
    """Rows of the table for one FIML CFA: mle_jax, lavaan and semopy on the same data."""
    import mle_jax as mj

    model = mj.SEM(syntax)
    parts = {}

    def one():
        t = time.perf_counter()
        res = mj.fit(df, model, missing="fiml")
        parts["fit"] = time.perf_counter() - t
        t = time.perf_counter()
        tab = mj.inference.parameter_table(res)
        parts["table"] = time.perf_counter() - t
        t = time.perf_counter()
        fm = mj.inference.fit_measures(res)
        parts["measures"] = time.perf_counter() - t
        return res, tab, fm

    warm, first = _median_time(one, repeats)
    res, tab, fm = one()
    split = ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in parts.items())
    steps = int(res.num_steps)
    n, d = df.shape
    holes = float(np.isnan(df.to_numpy()).mean())
    rows = [f"| {label} (n = {n}, d = {d}, {holes:.1%} missing) | mle_jax | {warm:.3f} s warm "
            f"(first {first:.1f} s; {split}; {steps} steps) | | logl {fm['logl']:.4f}, "
            f"chisq {fm['chisq']:.4f} |"]  # fmt: skip
    mine = _estimates(tab)
    print(rows[0], flush=True)  # before the peers (minutes)
    if "lavaan" in peers:
        r = _lavaan(df, syntax, 1 if label == "big" else 3)
        keys = list(zip(r["lhs"], r["op"], r["rhs"], strict=True))
        est = max(abs(mine[k][0] - e) for k, e in zip(keys, r["est"], strict=True))
        se = max(abs(mine[k][1] / s - 1) for k, s in zip(keys, r["se"], strict=True) if s > 0)
        rows.append(
            f"| | lavaan {r['lavaan']} | {r['time']:.2f} s ({r['time'] / warm:.0f}x mle_jax "
            f"warm) | converged {r['converged']} | logl diff {fm['logl'] - r['logl']:.1e}, "
            f"chisq diff {fm['chisq'] - r['chisq']:.1e}, estimates {est:.1e} abs, SEs "
            f"{se:.1e} rel |"
        )
    if "openmx" in peers:
        rows.append(_openmx_row(_openmx(df, syntax, 1), mine, warm, fm))  # minutes a call
    if "semopy" in peers:
        r = _semopy(df, syntax)
        if r is None:
            rows.append("| | semopy | not installed | | |")
        elif "error" in r:
            rows.append(f"| | semopy | {r['time']:.2f} s | failed: {r['error']} | |")
        else:
            diff = max(abs(mine[(f, "=~", v)][0] - e) for (f, v), e in r["loadings"].items())
            rows.append(
                f"| | semopy | {r['time']:.2f} s ({r['time'] / warm:.0f}x) | success "
                f"{r['success']} | loadings differ from mle_jax by up to {diff:.2g} |"
            )
    print("\n".join(rows[1:]), flush=True)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap replicates")
    parser.add_argument("--cases", default=",".join(CASES), help=f"any of {CASES}")
    parser.add_argument("--peers", default="lavaan,openmx,semopy", help="lavaan,openmx,semopy")
    parser.add_argument("--repeats", type=int, default=5, help="warm repeats (median)")
    args = parser.parse_args(argv)
    cases = tuple(args.cases.split(","))
    peers = tuple(args.peers.split(","))

    import jax

    jax.config.update("jax_enable_x64", True)
    import pandas as pd

    rows = []
    if "hs" in cases or "boot" in cases:
        rows += _hs_cases(args.boot, cases, peers)
        print("\n".join(rows), flush=True)  # the table is printed again at the end
    if "fresh" in cases:
        rows += _fresh_case()
        print(rows[-1], flush=True)
    if "bfi" in cases:
        bfi = pd.read_csv(ROOT / "benchmarks/data/bfi.csv")
        rows += _fiml_case("bfi", bfi, BFI, peers, args.repeats)
    if "big" in cases:
        rows += _fiml_case("big", simulate_big(), BIG, peers, max(1, args.repeats // 2))
    print(f"load average {Path('/proc/loadavg').read_text().split()[:3]}")
    print("| case | tool | time | status | agreement |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


def _hs_cases(n_boot: int, cases: tuple, peers: tuple) -> list[str]:
    import pandas as pd

    import mle_jax as mj

    hs = pd.read_csv(ROOT / "mle_jax/data/holzinger_swineford.csv")
    model = mj.SEM(HS)

    def one():
        res = mj.fit(hs, model)
        mj.inference.parameter_table(res)
        mj.inference.fit_measures(res)
        return res

    warm, first = _median_time(one)
    res = one()
    out = subprocess.run(
        ["Rscript", "--vanilla", "-e", R_SCRIPT, str(n_boot if "boot" in cases else 2)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    r = json.loads(out[out.index("{") :])
    rows = [f"| HS CFA fit + SEs + fit measures (n = 301, d = 9) | mle_jax vs lavaan | "
            f"{warm * 1e3:.1f} ms warm (first {first:.2f} s) vs {r['fit'] * 1e3:.1f} ms | | "
            f"{r['fit'] / warm:.1f}x |"]  # fmt: skip
    mx = None
    if "openmx" in peers:
        # OpenMx's SEs are of the observed information (its numerical Hessian)
        tab = mj.inference.parameter_table(res, information="observed")
        fm = mj.inference.fit_measures(res)
        mine = _estimates(tab)
        mx = _openmx(hs, HS, 3, n_boot if "boot" in cases else 0)
        rows.append(_openmx_row(mx, mine, warm, fm))
    if "boot" not in cases:
        return rows
    boots = []  # each call its own replicates (seeds 0-3); warm: the median of 3 calls
    boot_warm, boot_first = _median_time(
        lambda: boots.append(mj.inference.bootstrap(res, hs, n=n_boot, seed=len(boots))),
        repeats=3,
    )
    boot = boots[1]  # seed 1, as before
    index = {n: i for i, n in enumerate(boot.names)}
    ratio = [boot.se[index[n]] / s for n, s in zip(r["names"], r["se"], strict=True)]
    rows.append(
        f"| {n_boot} bootstrap refits of the HS CFA | mle_jax vs lavaan bootstrapLavaan | "
        f"{boot_warm:.2f} s warm (first {boot_first:.2f} s) vs {r['boot']:.2f} s | "
        f"{boot.n_inadmissible} inadmissible | {r['boot'] / boot_warm:.1f}x warm, "
        f"{r['boot'] / boot_first:.1f}x first; SE ratio median {np.median(ratio):.3f} "
        f"({min(ratio):.3f}-{max(ratio):.3f}) |"
    )
    if mx is not None and "boot_se" in mx:
        # OpenMx names the parameters it was given labels for: loadings, variances, means
        ratio = [boot.se[index[n]] / s for n, s in zip(mx["name"], mx["boot_se"], strict=True)
                 if n in index and s > 0]  # fmt: skip
        rows.append(
            f"| | OpenMx mxBootstrap | {mx['boot_time']:.2f} s | {mx['boot_ok']} of {n_boot} "
            f"status OK | {mx['boot_time'] / boot_warm:.1f}x warm; SE ratio median "
            f"{np.median(ratio):.3f} ({min(ratio):.3f}-{max(ratio):.3f}) |"
        )
    return rows


if __name__ == "__main__":
    main()
