"""Benchmarks of mj.SEM against lavaan, both run in this process's run (ratios of one run).

Usage (from the repository root; R with lavaan, see benchmarks/r/README.md)::

    python -m benchmarks.sem             # HS CFA warm fit + SEs + fit measures, 1000 bootstraps
    python -m benchmarks.sem --boot 200  # fewer bootstrap replicates

Cases:

* ``hs``: the three-factor Holzinger-Swineford CFA (d = 9, n = 301): ``mj.fit`` +
  ``parameter_table`` + ``fit_measures``, warm (median of repeats after one compiling call;
  the first call is reported apart), against lavaan ``cfa()`` + ``parameterEstimates()`` +
  ``fitMeasures()`` timed inside R (``proc.time``, median of 10 calls).
* ``boot``: ``mj.inference.bootstrap(res, hs, n=B)`` (one batched refit), first and warm,
  against lavaan ``bootstrapLavaan(fit, R = B, FUN = coef)`` timed inside R; the bootstrap
  standard errors are compared (their Monte Carlo error is about ``1 / sqrt(2 B)``).

Nothing here is imported by the package or its tests.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap replicates")
    args = parser.parse_args(argv)

    import jax

    jax.config.update("jax_enable_x64", True)
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
    boot_first = time.perf_counter()
    mj.inference.bootstrap(res, hs, n=args.boot)
    boot_first = time.perf_counter() - boot_first
    t = time.perf_counter()
    boot = mj.inference.bootstrap(res, hs, n=args.boot, seed=1)
    boot_warm = time.perf_counter() - t
    out = subprocess.run(
        ["Rscript", "--vanilla", "-e", R_SCRIPT, str(args.boot)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    r = json.loads(out[out.index("{") :])
    index = {n: i for i, n in enumerate(boot.names)}
    ratio = [boot.se[index[n]] / s for n, s in zip(r["names"], r["se"], strict=True)]
    print(f"load average {Path('/proc/loadavg').read_text().split()[:3]}")
    print("| case | mle_jax | lavaan | lavaan / mle_jax |")
    print("|---|---|---|---:|")
    print(f"| HS CFA fit + SEs + fit measures | {warm * 1e3:.1f} ms warm (first {first:.2f} s) "
          f"| {r['fit'] * 1e3:.1f} ms | {r['fit'] / warm:.1f}x |")  # fmt: skip
    print(f"| {args.boot} bootstrap refits | {boot_warm:.2f} s warm (first {boot_first:.2f} s) "
          f"| {r['boot']:.2f} s | {r['boot'] / boot_warm:.1f}x warm, "
          f"{r['boot'] / boot_first:.1f}x first |")  # fmt: skip
    print(
        f"bootstrap SE ratio mle_jax / lavaan: median {np.median(ratio):.3f}, "
        f"range {min(ratio):.3f}-{max(ratio):.3f} ({boot.n_inadmissible} inadmissible)"
    )


if __name__ == "__main__":
    main()
