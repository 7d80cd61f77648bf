"""FIML estimates on the shipped incomplete data sets next to their R references.

``python -m benchmarks.missing_datasets``: one markdown row per data set with mle_jax's -2
log-likelihood, the best reference tool's (``tests/data/missing_references.json``, recomputed
by one numpy formula), and the scale-relative distance of the estimates to that reference and
to mle_jax's own EM; then the same fit in float32 (input cast to float32: mle_jax computes in
the input's float type), its distance to the reference and its status.
``tests/test_missing.py`` asserts the same comparisons.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

import mle_jax as mj  # noqa: E402

REFS = Path(__file__).resolve().parents[1] / "tests" / "data" / "missing_references.json"
SETS = {
    "apple": "mvnmle_apple",
    "missvals": "mvnmle_missvals",
    "mdata": "norm_mdata",
    "airquality": "airquality",
}


def scale_rel(m1, c1, m2, c2) -> float:
    """Largest difference in standard deviations (mean) and correlation units (cov)."""
    sd = np.sqrt(np.diag(c2))
    return float(max(np.max(np.abs(m1 - m2) / sd), np.max(np.abs(c1 - c2) / np.outer(sd, sd))))


def main() -> None:
    refs = json.loads(REFS.read_text())["datasets"]
    print(
        "| data | best reference | mle_jax -2LL | reference -2LL | err ref | err EM | steps "
        "| float32: err ref, status |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for name, key in SETS.items():
        x, cols = mj.load_dataset(name)
        res = mj.fit(x, missing="fiml", columns=cols)
        em = mj.missing.em(x, columns=cols)
        ref = refs[key]
        best = ref["tools"][ref["best"]]
        m, c = np.asarray(res.mean), np.asarray(res.cov)
        err_ref = scale_rel(m, c, np.array(best["mean"]), np.array(best["cov"]))
        err_em = scale_rel(m, c, np.asarray(em.mean), np.asarray(em.cov))
        r32 = mj.fit(x.astype(np.float32), missing="fiml", columns=cols)
        m32, c32 = np.asarray(r32.mean, np.float64), np.asarray(r32.cov, np.float64)
        err32 = scale_rel(m32, c32, np.array(best["mean"]), np.array(best["cov"]))
        print(
            f"| {name} ({x.shape[0]}x{x.shape[1]}, {ref['n_patterns']} patterns) | {ref['best']} "
            f"| {2 * float(res.nll):.6f} | {best['m2ll_recomputed']:.6f} | {err_ref:.1e} "
            f"| {err_em:.1e} | {int(res.num_steps)} | {err32:.1e}, {r32.message.split(':')[0]} |"
        )


if __name__ == "__main__":
    main()
