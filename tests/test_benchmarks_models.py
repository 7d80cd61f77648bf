"""The model benchmark (benchmarks/models.py) runs in quick mode: tiny sizes, no R, the two
cases whose code paths the rest of the suite does not compile again (FIML and the CFA with
standard errors; EFA and fit_many run in `python -m benchmarks.models --quick`).

The timings are not checked (a shared machine); the answers are: mle_jax reaches the best
log-likelihood of the run and its standard errors of the Holzinger-Swineford CFA match
lavaan's (from the committed reference file).
"""

from benchmarks import models


def test_quick_run_of_the_model_benchmark(tmp_path):
    cases = ["fiml", "hs"]
    out = models.main(["--quick", "--no-r", "--cases", *cases, "--out", str(tmp_path / "r.json")])
    results = {r["case"]: r for r in out["results"]}
    assert set(results) == set(cases) and set(cases) <= set(models.CASES)
    for r in results.values():
        ours = r["rows"]["mle_jax"]
        assert ours["converged"], r["case"]
        assert ours["seconds"] > 0 and ours["first_s"] > 0
    for case in cases:
        assert results[case]["rows"]["mle_jax"]["gap"] <= 1e-9, case
    hs = results["hs"]["rows"]["mle_jax"]
    if hs["with_se"] and models.REFS.exists():
        assert hs["se_rel_err_vs_reference"] < 1e-4
    assert out["markdown"].startswith("| case |")
    assert (tmp_path / "r.json").exists()
