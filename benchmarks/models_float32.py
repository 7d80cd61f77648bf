"""float32 against float64 for model fits (the numbers in docs/models.md, "Float32").

    python -m benchmarks.models_float32

Fits the Holzinger-Swineford CFA (complete and FIML, tests/test_models_inference.py) and a
3-factor EFA in two fresh processes, x64 on and off, and prints the relative differences.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, warnings
import numpy as np
import jax
if sys.argv[1] == "64":
    jax.config.update("jax_enable_x64", True)
import mle_jax as mj
sys.path.insert(0, "tests")
from test_models_inference import CFA
warnings.simplefilter("ignore")
x, cols = mj.load_dataset("holzinger_swineford")
x9 = x[:, -9:]
xm = np.genfromtxt("tests/data/hs_missing.csv", delimiter=",", skip_header=1)
out = {}
for name, data, model, kw in (
    ("CFA", x9, CFA, {}), ("CFA, FIML", xm, CFA, {"missing": "fiml"}),
    ("EFA k=3", x9, mj.FactorAnalysis(3), {}),
):
    r = mj.fit(data, model, **kw)
    values = np.concatenate([np.ravel(np.asarray(v, np.float64)) for v in r.params.values()])
    out[name] = [bool(r.converged), float(r.nll)] + values.tolist()
print(json.dumps(out))
"""


def main() -> None:
    runs = {}
    for bits in ("64", "32"):
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, bits],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        runs[bits] = json.loads(proc.stdout.strip().splitlines()[-1])
    print("| fit | converged (f64, f32) | NLL rel. diff | max parameter rel. diff |")
    print("|---|---|---|---|")
    for name, a in runs["64"].items():
        b = runs["32"][name]
        x, y = np.asarray(a[1:]), np.asarray(b[1:])
        nll = abs(x[0] - y[0]) / abs(x[0])
        free = x[1:] != 0  # the EFA's loadings above the diagonal are fixed zeros
        par = np.max(np.abs(x[1:] - y[1:])[free] / np.abs(x[1:])[free])
        print(f"| {name} | {a[0]}, {b[0]} | {nll:.1e} | {par:.1e} |")


if __name__ == "__main__":
    main()
