"""Overhead of the progress bar: a raw-data Adam fit with a tol never reached
(1e-300: runs all max_steps).

Usage: python benchmarks/progress_overhead.py [--n 4000] [--d 3] [--steps 3000] [--k 50|true]
       [--reps 7]

Times fit(..., progress=False) and fit(..., progress=k) alternately after a warm-up (compile
excluded), the bar written to /dev/null, and prints the medians and their ratio.
"""

import argparse
import os
import time
import warnings

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import optax  # noqa: E402

import mle_jax as mj  # noqa: E402
from mle_jax import _progress  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=4000)
    p.add_argument("--d", type=int, default=3)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--k", default="50", help="steps between updates, or 'true' (adaptive)")
    p.add_argument("--reps", type=int, default=7)
    a = p.parse_args()
    a.k = True if a.k.lower() == "true" else int(a.k)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(a.n, a.d)) @ np.tril(np.ones((a.d, a.d))) + 10.0
    opt = optax.adam(0.01)
    devnull = open(os.devnull, "w")
    orig = _progress.ProgressBar.__init__

    def quiet(self, *args, **kw):
        orig(self, *args, file=devnull, **kw)

    _progress.ProgressBar.__init__ = quiet
    warnings.simplefilter("ignore", mj.ConvergenceWarning)  # unconverged by design

    def run(progress):
        t, c = time.perf_counter(), time.process_time()
        r = mj.fit(x, optimizer=opt, form="raw", max_steps=a.steps, tol=1e-300, progress=progress)
        r.nll.block_until_ready()
        return (time.perf_counter() - t, time.process_time() - c), r

    for prog in (False, a.k):  # warm-up: compile both variants
        _, r = run(prog)
    assert int(r.num_steps) == a.steps
    times = {False: [], a.k: []}
    for _ in range(a.reps):
        for prog in (False, a.k):
            times[prog].append(run(prog)[0])
    print(
        f"jax {jax.__version__}, n={a.n}, d={a.d}, Adam, form='raw', {a.steps} steps, "
        f"{a.reps} reps, alternating (median and min; CPU time includes XLA worker threads)"
    )
    for i, what in enumerate(("wall", "CPU")):
        off = np.median([t[i] for t in times[False]])
        on = np.median([t[i] for t in times[a.k]])
        ratio = np.median([b[i] / o[i] for b, o in zip(times[a.k], times[False], strict=True)])
        off_min = np.min([t[i] for t in times[False]])
        on_min = np.min([t[i] for t in times[a.k]])
        print(
            f"{what:4s} time: off {off * 1e3:7.1f} ms ({off / a.steps * 1e6:5.1f} us/step), "
            f"k={a.k}: {on * 1e3:7.1f} ms; overhead {100 * (on / off - 1):+.1f} % "
            f"(median of paired ratios {100 * (ratio - 1):+.1f} %; "
            f"min {off_min * 1e3:.1f} vs {on_min * 1e3:.1f} ms: "
            f"{100 * (on_min / off_min - 1):+.1f} %)"
        )


if __name__ == "__main__":
    main()
