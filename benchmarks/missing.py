"""Missing-data (FIML) benchmark: mle_jax next to numpy EM, lavaan and OpenMx, one run per case.

Usage (from the repository root)::

    python -m benchmarks.missing                          # all cases of missing_peers.CASES
    python -m benchmarks.missing --cases mcar-1e5x10      # one case
    python -m benchmarks.missing --out benchmarks/missing_results.json

Rows per case (every answer checked by :func:`benchmarks.missing_peers.compare`, scale-relative
to the answer with the best observed-data log-likelihood, recomputed by one numpy formula):

* ``mle_jax fit`` : ``mj.fit(x, missing="fiml")``; ``seconds`` is the warm call (a second call
  on the same shape in the same process), the cold first call (compilation included) is in
  ``extra["cold_s"]``;
* ``mle_jax em``  : ``mj.missing.em(x)`` (warm, cold likewise);
* ``mle_jax SE``  : ``mj.standard_errors(res)`` of the FIML fit, timed in a child process with
  the peers' budget (first call, compilation included, and a second call), since it can run
  out of memory or time (then reported, not fatal);
* the peers of :mod:`benchmarks.missing_peers` (numpy EM, lavaan ``missing="ml"``, OpenMx),
  each under a wall-clock budget; the R peers' time is the second fit in one R session.

The host part of mle_jax (``mj.missing.pattern_stats``) is timed apart as ``pattern_stats_s``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import missing_peers as mp

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "missing_results.json"


def _load():
    return [round(v, 2) for v in os.getloadavg()]


def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


def _timed(fn):
    jax = _jax()
    t = time.perf_counter()
    out = fn()
    jax.block_until_ready(out.cov if hasattr(out, "cov") else out)
    return time.perf_counter() - t, out


def _peer(name, res, cold, warm, note=""):
    converged = bool(np.asarray(res.converged))
    return mp.PeerResult(
        name,
        np.asarray(res.mean, np.float64),
        np.asarray(res.cov, np.float64),
        -float(res.nll),
        warm,
        "ok" if converged else "not converged",
        iters=int(res.num_steps),
        note=note,
        extra={"cold_s": cold, "warm_s": warm, "load": _load()},
    )


def run_mle_jax(x, *, log):
    """The fit and EM rows (in this process) and pattern_stats' host time."""
    _jax()
    import mle_jax as mj

    t = time.perf_counter()
    ps = mj.missing.pattern_stats(x)
    t_ps = time.perf_counter() - t
    npat = int(np.asarray(ps[0].count).shape[0]) if isinstance(ps, tuple) else None
    cold, _ = _timed(lambda: mj.fit(x, missing="fiml"))
    warm, res = _timed(lambda: mj.fit(x, missing="fiml"))
    fit = _peer(
        "mle_jax fit", res, cold, warm, note=f"pattern_stats {t_ps:.2f} s; cold {cold:.2f} s"
    )
    fit.extra.update({"pattern_stats_s": t_ps, "patterns": npat, "grad_norm": float(res.grad_norm)})
    log(f"  mle_jax fit   cold {cold:8.2f} s  warm {warm:8.2f} s  steps {int(res.num_steps)}")
    cold_e, _ = _timed(lambda: mj.missing.em(x))
    warm_e, em = _timed(lambda: mj.missing.em(x))
    emr = _peer("mle_jax em", em, cold_e, warm_e, note=f"cold {cold_e:.2f} s")
    log(f"  mle_jax em    cold {cold_e:8.2f} s  warm {warm_e:8.2f} s  iters {int(em.num_steps)}")
    return [fit, emr]


def se_child(case, seed):
    """In a fresh process: fit (untimed), then time standard_errors twice; print JSON."""
    _jax()
    import mle_jax as mj

    spec = mp.CASES[case]
    x = mp.make_data(spec["n"], spec["d"], kind=spec["kind"], seed=seed)
    res = mj.fit(x, missing="fiml")
    t = time.perf_counter()
    se = mj.standard_errors(res)
    first = time.perf_counter() - t
    print(json.dumps({"first_s": first}), flush=True)
    t = time.perf_counter()
    se = mj.standard_errors(res)
    second = time.perf_counter() - t
    print(
        json.dumps(
            {
                "first_s": first,
                "second_s": second,
                "se_mean_max": float(np.nanmax(se.mean)),
                "finite": bool(np.all(np.isfinite(se.mean))),
            }
        ),
        flush=True,
    )


def run_se(case, seed, budget):
    cmd = [sys.executable, "-m", "benchmarks.missing", "--se-child", case, "--seed", str(seed)]
    t = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=budget)
        out, err, rc = p.stdout, p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err, rc = "", "budget"
    wall = time.perf_counter() - t
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    r = json.loads(lines[-1]) if lines else {}
    r.update({"wall_s": wall, "load": _load()})
    if rc == 0:
        r["status"] = "ok"
    elif rc == "budget":
        r["status"] = "budget"
        r["note"] = f"no answer within {budget:.0f} s (fit included)"
    else:
        r["status"] = "error"
        msg = [ln for ln in err.splitlines() if "Error" in ln or "error" in ln]
        r["note"] = (msg[-1] if msg else err[-300:]).strip()[:300]
        if rc < 0:
            r["note"] = f"killed by signal {-rc} (out of memory?) " + r["note"]
    return r


def run_case(case, *, budget, tol, peers, repeats, seed, log, se_budget=120.0):
    spec = mp.CASES[case]
    x = mp.make_data(spec["n"], spec["d"], kind=spec["kind"], seed=seed)
    npat = len(mp.patterns(x))
    log(
        f"== {case}: n={x.shape[0]} d={x.shape[1]} missing={np.isnan(x).mean():.3f} "
        f"patterns={npat} load {_load()}"
    )
    results = run_mle_jax(x, log=log)
    se = run_se(case, seed, se_budget)
    log(f"  mle_jax SE    {se}")
    runners = {
        "numpy EM": lambda: mp.run_numpy_em(x, tol=tol, budget=budget),
        "lavaan": lambda: mp.run_lavaan(x, tol=tol, budget=budget, repeats=repeats),
        "OpenMx": lambda: mp.run_openmx(x, tol=tol, budget=budget, repeats=repeats),
    }
    for p in peers or spec["peers"]:
        load0 = _load()
        r = runners[p]()
        r.extra["load"] = [load0, _load()]
        secs = "-" if r.seconds is None else f"{r.seconds:.2f}"
        log(f"  {p:12s} {r.status:14s} {secs:>9s} s  iters {r.iters}  {r.note[:80]}")
        results.append(r)
    ok, rows = mp.compare(results, x=x, tol=1e-6)
    print(mp.format_table(case, x, results), flush=True)
    return {
        "case": case,
        "n": int(x.shape[0]),
        "d": int(x.shape[1]),
        "kind": spec["kind"],
        "missing_share": float(np.isnan(x).mean()),
        "patterns": npat,
        "se": se,
        "agree_1e-6": ok,
        "compare": rows,
        "results": [
            {
                "name": r.name,
                "status": r.status,
                "seconds": r.seconds,
                "iters": r.iters,
                "loglik": r.extra.get("loglik_recomputed", r.loglik),
                "loglik_tool": r.loglik,
                "note": r.note,
                "extra": r.extra,
            }
            for r in results
        ],
    }


def r_versions():
    exe = mp.rscript()
    if exe is None:
        return {}
    code = (
        'cat(R.version$version.string, "\\n"); '
        'for (p in c("lavaan", "OpenMx")) cat(p, tryCatch(as.character(packageVersion(p)), '
        'error = function(e) "not installed"), "\\n")'
    )
    p = subprocess.run([exe, "--vanilla", "-e", code], capture_output=True, text=True, timeout=60)
    lines = p.stdout.strip().splitlines()
    out = {"R": lines[0].strip() if lines else "?"}
    for ln in lines[1:]:
        k, _, v = ln.strip().partition(" ")
        out[k] = v
    return out


def fmt_s(s):
    return "-" if s is None else (f"{s:.2f}" if s >= 0.1 else f"{s:.3f}")


def markdown(run):
    """The docs table of one run: one row per tool and case."""
    lines = [
        "| case | tool | status | seconds (warm) | cold / first call | iters | log-likelihood"
        " | scale-rel. err vs best | vs mle_jax fit (time) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in run["cases"]:
        err = {r["name"]: r for r in c["compare"]}
        fit = next(r for r in c["results"] if r["name"] == "mle_jax fit")
        label = f"{c['kind']} n={c['n']:.0e} d={c['d']} ({c['patterns']} patterns)"
        for r in c["results"]:
            e = err.get(r["name"])
            es = "-" if e is None else ("best" if e["reference"] else f"{e['err']:.1e}")
            cold = r["extra"].get("cold_s")
            if cold is None and r["extra"].get("seconds_all"):
                cold = r["extra"]["seconds_all"][0]
            ratio = (
                f"{r['seconds'] / fit['seconds']:.1f}x"
                if r["seconds"] and r["name"] != "mle_jax fit"
                else ""
            )
            if r["status"] == "budget" and r["seconds"] is None:
                ratio = f">{run['budget'] / fit['seconds']:.0f}x"
            ll = "-" if r["loglik"] is None else f"{r['loglik']:.6f}"
            lines.append(
                f"| {label} | {r['name']} | {r['status']} | {fmt_s(r['seconds'])} | "
                f"{fmt_s(cold)} | {'-' if r['iters'] is None else r['iters']} | {ll} | {es} |"
                f" {ratio} |"
            )
            label = ""
        se = c["se"]
        lines.append(
            f"| | mle_jax SE | {se['status']} | {fmt_s(se.get('second_s'))} | "
            f"{fmt_s(se.get('first_s'))} | | | | {se.get('note', '')[:90]} |"
        )
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="*", default=list(mp.CASES), choices=list(mp.CASES))
    ap.add_argument("--peers", nargs="*", default=None, choices=["numpy EM", "lavaan", "OpenMx"])
    ap.add_argument("--budget", type=float, default=mp.BUDGET, help="seconds per peer run")
    ap.add_argument("--se-budget", type=float, default=120.0, help="seconds for the SE child")
    ap.add_argument("--tol", type=float, default=1e-10)
    ap.add_argument("--repeats", type=int, default=2, help="fits per R session (last is timed)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--se-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.se_child:
        return se_child(args.se_child, args.seed)
    log = lambda s: print(s, flush=True)  # noqa: E731
    run = {
        "command": "python -m benchmarks.missing " + " ".join(argv or sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "load_start": _load(),
        "budget": args.budget,
        "se_budget": args.se_budget,
        "tol": args.tol,
        "r_versions": r_versions(),
        "cases": [],
    }
    t0 = time.perf_counter()
    for case in args.cases:
        peers = args.peers and [p for p in args.peers if p in mp.CASES[case]["peers"]]
        run["cases"].append(
            run_case(
                case,
                budget=args.budget,
                tol=args.tol,
                peers=peers or None,
                repeats=args.repeats,
                seed=args.seed,
                log=log,
                se_budget=args.se_budget,
            )
        )
        run["wall_s"] = time.perf_counter() - t0
        run["load_end"] = _load()
        args.out.write_text(json.dumps(run, indent=1, default=str))  # after every case
    print(markdown(run))
    return run


if __name__ == "__main__":
    main()
