"""Scale measurements for docs/scaling.md: batched fits, vmap vs lax.map, streaming peak RSS.

Usage (from the repository root):

    python benchmarks/scale.py batch    # 1000 fits of (200, 3): fit_many vs scipy loop vs numpy
    python benchmarks/scale.py modes    # vmap vs lax.map (batch_size) for both forms
    python benchmarks/scale.py stream   # peak RSS of fit() on a 800 MB memory-mapped .npy

Everything in one command is measured in one process, so ratios are comparable even on a
shared machine. ``--quick`` shrinks the problems (used by benchmarks/gpu_check.sh).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _setup():
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


def _timed(fn, repeat=1):
    best = np.inf
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _data(batch, n, d, seed=0, kind="typical"):
    """``typical``: covariances with eigenvalues in [0.5, 2] (like tests/helpers.py);
    ``mixed``: 2% of the members nearly singular (correlations ~0.99999): slow to fit."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(batch, d, d)))
    eig = rng.uniform(0.5, 2.0, size=(batch, d))
    if kind == "mixed":
        eig[: batch // 50, 0] = 1e-6
        rng.shuffle(eig)
    a = q * np.sqrt(eig)[:, None, :]
    z = rng.normal(size=(batch, n, d))
    return np.einsum("bij,bnj->bni", a, z) + rng.normal(size=(batch, 1, d)) * 5


def _numpy_closed_forms(xs):
    mean = xs.mean(axis=1)
    xc = xs - mean[:, None, :]
    return mean, np.einsum("bni,bnj->bij", xc, xc) / xs.shape[1]


def _scipy_fit(x):
    """What a user writes without mle_jax: L-BFGS-B on the NLL over (mean, log-Cholesky)."""
    from scipy.optimize import minimize

    n, d = x.shape
    rows, cols = np.tril_indices(d)
    diag = rows == cols

    def nll(theta):
        mean, raw = theta[:d], theta[d:]
        chol = np.zeros((d, d))
        chol[rows, cols] = np.where(diag, np.exp(np.where(diag, raw, 0.0)), raw)
        z = np.linalg.solve(chol, (x - mean).T)
        logdet = np.sum(np.log(np.diag(chol)))
        return 0.5 * np.sum(z * z) + n * logdet + 0.5 * n * d * np.log(2 * np.pi)

    theta0 = np.concatenate([x.mean(0), np.where(diag, np.log(x.std(0))[rows], 0.0)])
    res = minimize(nll, theta0, method="L-BFGS-B", options={"maxiter": 1000})
    mean, raw = res.x[:d], res.x[d:]
    chol = np.zeros((d, d))
    chol[rows, cols] = np.where(diag, np.exp(np.where(diag, raw, 0.0)), raw)
    return mean, chol @ chol.T, res.success


def batch(args):
    jax = _setup()
    import mle_jax as mj

    b, n, d = (100 if args.quick else 1000), 200, 3
    xs = _data(b, n, d)
    out = {"device": str(jax.devices()[0]), "B": b, "n": n, "d": d}
    t_np, (cf_mean, cf_cov) = _timed(lambda: _numpy_closed_forms(xs), repeat=5)
    out["numpy_closed_forms_s"] = t_np

    t_first, res = _timed(lambda: mj.fit_many(xs))
    jax.block_until_ready(res.cov)
    t_warm, res = _timed(lambda: jax.block_until_ready(mj.fit_many(xs)), repeat=3)
    out["fit_many_first_call_s"] = t_first
    out["fit_many_warm_s"] = t_warm
    out["fit_many_max_cov_err"] = float(np.abs(np.asarray(res.cov) - cf_cov).max())
    out["fit_many_converged"] = int(np.asarray(res.converged).sum())
    out["fit_many_steps_mean_max"] = [float(res.num_steps.mean()), int(res.num_steps.max())]

    m = min(b, 100 if not args.quick else 20)
    mj.fit(xs[0])  # compile once
    t_loop, _ = _timed(lambda: [mj.fit(xs[k]) for k in range(m)])
    out["mj_fit_loop_s_per_1000"] = t_loop / m * 1000

    if not (args.quick or args.no_scipy):
        t_sp, sp = _timed(lambda: [_scipy_fit(xs[k]) for k in range(b)])
        out["scipy_loop_s"] = t_sp
        out["scipy_converged"] = int(sum(s[2] for s in sp))
        errs = [np.abs(s[1] - cf_cov[k]).max() for k, s in enumerate(sp)]
        out["scipy_max_cov_err"] = float(max(errs))
    print(json.dumps(out, indent=1))


def modes(args):
    jax = _setup()
    import mle_jax as mj

    n, d = 200, 3
    b = 100 if args.quick else 1000
    for kind in ("typical", "mixed"):
        xs = _data(b, n, d, seed=1, kind=kind)
        for form in ("stats", "raw"):
            for bs in (None, 1, 16, 128):
                run = lambda: mj.fit_many(xs, form=form, batch_size=bs)  # noqa: E731,B023
                t_first, res = _timed(lambda: jax.block_until_ready(run().cov))  # noqa: B023
                t_warm, res = _timed(run, repeat=3)
                steps = np.asarray(res.num_steps)
                print(
                    json.dumps(
                        {
                            "B": b,
                            "data": kind,
                            "form": form,
                            "batch_size": bs,
                            "first_s": round(t_first, 2),
                            "warm_s": round(t_warm, 4),
                            "steps_mean": float(steps.mean()),
                            "steps_max": int(steps.max()),
                            "converged": int(np.asarray(res.converged).sum()),
                        }
                    ),
                    flush=True,
                )


_RSS_CHILD = r"""
import json, os, sys, time
import numpy as np
import jax
jax.config.update("jax_enable_x64", True)
sys.path.insert(0, sys.argv[2])
import mle_jax as mj
from mle_jax import _stream
if os.environ.get("MLE_JAX_NO_RELEASE"):  # for comparison: keep the mapped pages resident
    _stream._release = lambda *a: None

def status():
    out = {}
    for line in open("/proc/self/status"):
        k, _, v = line.partition(":")
        if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            out[k] = int(v.split()[0]) // 1024  # MiB
    return out

mj.fit(np.random.default_rng(0).normal(size=(1000, 10)))  # compile the small pieces
mm = np.load(sys.argv[1], mmap_mode="r")
mj.fit(np.load(sys.argv[3], mmap_mode="r"))  # warm-up on a small file: compiles the chunk path
before = status()
with open("/proc/self/clear_refs", "w") as f:  # reset VmHWM to the current RSS
    f.write("5")
t = time.perf_counter()
res = mj.fit(mm)
elapsed = time.perf_counter() - t
after = status()
print(json.dumps({"before_MiB": before, "after_MiB": after, "fit_s": elapsed,
                  "converged": bool(res.converged), "count": float(res.count),
                  "mean0": float(res.mean[0])}))
"""


def stream(args):
    n = 1_000_000 if args.quick else 10_000_000
    d = 10
    path = Path(args.tmp) / "mle_jax_stream_x.npy"
    small = Path(args.tmp) / "mle_jax_stream_small.npy"
    try:
        mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, d))
        rng = np.random.default_rng(0)
        a = np.tril(rng.normal(size=(d, d)) * 0.3) + np.eye(d)
        block = 1_000_000
        sums = np.zeros(d)
        for s in range(0, n, block):
            z = rng.normal(size=(min(block, n - s), d)) @ a.T + 1e3
            mm[s : s + len(z)] = z
            sums += z.sum(0)
        mm.flush()
        del mm
        np.save(small, rng.normal(size=(300_000, d)))
        size_mib = path.stat().st_size / 2**20
        out = subprocess.run(
            [sys.executable, "-c", _RSS_CHILD, str(path), str(ROOT), str(small)],
            capture_output=True,
            text=True,
            timeout=900,
            check=True,
            env=dict(os.environ, **({"MLE_JAX_NO_RELEASE": "1"} if args.no_release else {})),
        )
        child = json.loads(out.stdout.strip().splitlines()[-1])
        child["file_MiB"] = round(size_mib, 1)
        child["n"], child["d"] = n, d
        child["mean0_check"] = abs(child["mean0"] - sums[0] / n)
        print(json.dumps(child, indent=1))
    finally:
        for p in (path, small):
            if p.exists():
                p.unlink()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["batch", "modes", "stream"])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test, GPU check)")
    ap.add_argument("--no-scipy", action="store_true", help="batch: skip the scipy loop")
    ap.add_argument(
        "--no-release",
        action="store_true",
        help="stream: do not madvise(DONTNEED) read blocks (for comparison)",
    )
    ap.add_argument("--tmp", default=os.environ.get("TMPDIR", "/tmp"), help="where the .npy goes")
    args = ap.parse_args()
    {"batch": batch, "modes": modes, "stream": stream}[args.what](args)


if __name__ == "__main__":
    main()
