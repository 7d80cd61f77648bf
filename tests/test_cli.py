"""Command line: `mle-jax fit` equals the closed form on the shipped data; bad input gets one
line on stderr and exit code 2; `mle-jax demo --out` writes its figures. Also the data loader.

`main()` is called in-process (fast); one test runs `python -m mle_jax` as a subprocess to
check the real entry point and that no traceback escapes.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

import mle_jax as mj
from mle_jax.cli import main
from tests.helpers import DATA


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------- data loader


def test_load_dataset():
    x, cols = mj.load_dataset("iris")
    assert x.shape == (150, 4) and x.dtype == np.float64
    assert cols == ["Sepal.Length", "Sepal.Width", "Petal.Length", "Petal.Width"]
    np.testing.assert_allclose(x.mean(0), [5.843333, 3.057333, 3.758, 1.199333], atol=1e-6)
    setosa = mj.load_dataset("iris", subset="setosa").data
    assert setosa.shape == (50, 4)
    np.testing.assert_allclose(setosa[0], [5.1, 3.5, 1.4, 0.2])
    f = mj.load_dataset("faithful")
    assert f.data.shape == (272, 2) and f.columns == ["eruptions", "waiting"]
    with pytest.raises(ValueError, match="unknown data set"):
        mj.load_dataset("mtcars")
    with pytest.raises(ValueError, match="choose one of"):
        mj.load_dataset("iris", subset="rose")
    with pytest.raises(ValueError, match="no label column"):
        mj.load_dataset("faithful", subset="x")


def test_read_csv_missing_and_text(tmp_path):
    from mle_jax.data import read_csv

    p = tmp_path / "t.csv"
    p.write_text("a,b,name\n1,NA,x\n2,,y\n3,4.5,z\n")
    x, names, text = read_csv(p)
    assert names == ["a", "b"] and list(text) == ["name"]
    np.testing.assert_array_equal(x[:, 0], [1, 2, 3])
    assert np.isnan(x[:2, 1]).all() and x[2, 1] == 4.5
    p.write_text("a,b\n1,2\n3\n")
    with pytest.raises(ValueError, match="line 3 has 1 fields"):
        read_csv(p)


# ----------------------------------------------------------------- fit


@pytest.mark.parametrize("name", ["iris.csv", "faithful.csv"])
def test_fit_equals_closed_form(capsys, name):
    code, out, err = run(capsys, "fit", str(DATA / name), "--json")
    assert code == 0
    res = json.loads(out)
    x, cols = mj.load_dataset(name[:-4])
    cf = mj.closed_form(x)
    assert res["columns"] == cols and res["n"] == x.shape[0] and res["status"] == "converged"
    np.testing.assert_allclose(res["mean"], x.mean(0), rtol=1e-10)
    np.testing.assert_allclose(res["cov"], np.asarray(cf.cov), rtol=1e-7)
    assert res["max_abs_diff_cov"] < 1e-7 * np.abs(np.asarray(cf.cov)).max()
    expect_nll = float(mj.nll(mj.MvnParams.from_mean_cov(cf.mean, cf.cov), x))
    assert abs(res["nll"] - expect_nll) < 1e-8 * abs(expect_nll)
    if name == "iris.csv":
        assert "skipping non-numeric column(s): Species" in err


def test_fit_table_columns_adam_float32_plot(capsys, tmp_path):
    png = tmp_path / "fit.png"
    code, out, err = run(
        capsys,
        "fit",
        str(DATA / "iris.csv"),
        "--columns",
        "Petal.Length, Petal.Width",
        "--optimizer",
        "adam",
        "--lr",
        "0.05",
        "--max-steps",
        "3000",
        "--float32",
        "--plot",
        str(png),
    )
    assert code == 0, err
    assert "Adam (lr 0.05), float32" in out and "covariance (divisor n)" in out
    assert "Petal.Width" in out and "Sepal" not in out
    x = mj.load_dataset("iris").data[:, 2:]
    mean_line = next(ln for ln in out.splitlines() if ln.startswith("Petal.Length"))
    assert abs(float(mean_line.split()[1]) - x[:, 0].mean()) < 1e-4
    assert png.stat().st_size > 10_000 and f"figure: {png}" in out


def test_fit_progress_bar(capsys):
    pytest.importorskip("tqdm")
    code, out, err = run(
        capsys, "fit", str(DATA / "faithful.csv"), "--optimizer", "adam", "--progress", "--json"
    )
    assert code == 0
    res = json.loads(out)  # the bar goes to stderr, stdout stays JSON
    assert res["status"] == "converged"
    assert f"{res['num_steps']}/{res['num_steps']}" in err and "fit (converged)" in err


def test_fit_npy_univariate(capsys, tmp_path):
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(40, 3))
    p = tmp_path / "x.npy"
    np.save(p, x)
    code, out, _ = run(capsys, "fit", str(p), "--columns", "2", "--json", "--optimizer", "sgd")
    assert code == 0
    res = json.loads(out)
    assert res["d"] == 1 and res["columns"] == ["2"]
    np.testing.assert_allclose(res["mean"], [x[:, 2].mean()], rtol=1e-8)
    np.testing.assert_allclose(res["std"], [x[:, 2].std()], rtol=1e-8)


BAD = [
    (["fit", "missing.csv"], "no such file"),
    (["fit", "{d}/t.csv", "--columns", "zz"], "unknown column 'zz'"),
    (["fit", "{d}/t.csv", "--columns", "name"], "column 'name' is not numeric"),
    (["fit", "{d}/t.csv"], "missing or non-finite values"),
    (["fit", "{d}/t.csv", "--columns", "a,c"], "perfectly correlated"),
    (["fit", "{d}/short.csv"], "a full covariance needs n > d"),
    (["fit", "{d}/t.csv", "--columns", "a", "--lr", "0.1"], "--lr applies to adam and sgd"),
    (["fit", "{d}/t.csv", "--optimizer", "newton"], "invalid choice: 'newton'"),
    (["fit", "{d}/x.parquet"], "unsupported file type"),
    (["fit", "{d}/empty.csv"], "is empty"),
    (["fit", "{d}/t.csv", "--columns", "a", "--max-steps", "0"], "--max-steps must be"),
]


@pytest.fixture
def bad_files(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,c,name\n1,2,2,x\n2,NA,4,y\n3,1,6,z\n4,5,8,w\n")
    (tmp_path / "short.csv").write_text("a,b\n1,2\n3,5\n")
    (tmp_path / "x.parquet").write_text("PAR1")
    (tmp_path / "empty.csv").write_text("")
    return tmp_path


@pytest.mark.parametrize(("argv", "message"), BAD)
def test_bad_input_one_line_exit_2(capsys, bad_files, argv, message):
    argv = [a.format(d=bad_files) for a in argv]
    with pytest.raises(SystemExit) if "--optimizer" in argv else _nothing() as exc:
        code, out, err = run(capsys, *argv)
    if exc is not None:
        code = exc.value.code
        out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("mle-jax")
    assert message in lines[0]


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_entry_point_subprocess(tmp_path):
    """`python -m mle_jax`: a real process, no traceback, exit code 2 on bad input."""
    bad = tmp_path / "na.csv"
    bad.write_text("u,v\n1,2\nNA,3\n4,5\n6,8\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mle_jax", "fit", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1
    assert "no missing-data option" in proc.stderr


def test_demo_table_and_figures(capsys, tmp_path):
    code, out, _ = run(capsys, "demo", "--n", "300", "--out", str(tmp_path / "figs"))
    assert code == 0
    assert "L-BFGS (default)" in out and "converged" in out
    pngs = sorted((tmp_path / "figs").glob("*.png"))
    names = [p.name for p in pngs]
    assert names == [
        "01_one_point.png",
        "02_likelihood_curve.png",
        "03_grid_search.png",
        "04_descent_paths.png",
        "05_loss_history.png",
        "06_multivariate_ellipses.png",
        "07_qq_mahalanobis.png",
    ]
    for p in pngs:
        assert p.stat().st_size > 20_000
        assert str(p) in out


def test_demo_without_out_prints_table_only(capsys):
    code, out, _ = run(capsys, "demo", "--n", "200")
    assert code == 0 and "wrote" not in out and "Adam (lr 0.02)" in out
