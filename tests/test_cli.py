"""Command line: `mle-jax fit` equals the closed form on the shipped data; bad input gets one
line on stderr and exit code 2, its advice in flags; a fit that did not converge exits 3 with
one warning line; the delimiter is detected; --model/--ridge against their closed forms;
--json standard errors; `mle-jax demo --out` writes its figures; the compilation cache
is on by default, off with --no-cache / MLE_JAX_NO_CACHE=1; --missing is passed on to fit.

`main()` is called in-process (fast); one test runs `python -m mle_jax` as a subprocess to
check the real entry point and that no traceback escapes. No test writes to the user's cache:
MLE_JAX_NO_CACHE=1 is set for every test here, and the cache tests use a temporary folder.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import mle_jax as mj
from mle_jax.cli import main
from tests.helpers import DATA


@pytest.fixture(autouse=True)
def _no_user_cache(monkeypatch):
    monkeypatch.setenv("MLE_JAX_NO_CACHE", "1")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


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
    # standard errors: the closed forms at the MLE (S the MLE covariance, n rows)
    s_, n = np.asarray(cf.cov), x.shape[0]
    se = res["standard_errors"]
    np.testing.assert_allclose(se["mean"], np.sqrt(np.diag(s_) / n), rtol=1e-6)
    expect = np.sqrt((np.outer(np.diag(s_), np.diag(s_)) + s_**2) / n)
    np.testing.assert_allclose(se["cov"], expect, rtol=1e-6)
    assert res["exit_code"] == 0 and res["status_message"].startswith("converged")


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


def test_fit_tsv(capsys, tmp_path):
    p = tmp_path / "t.tsv"
    p.write_text("u\tv\n1\t2\n2\t1\n3\t5\n4\t3\n")
    code, out, err = run(capsys, "fit", str(p), "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["columns"] == ["u", "v"] and res["mean"] == pytest.approx([2.5, 2.75])


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


def test_fit_duplicate_names_and_label_column(capsys, tmp_path):
    """Repeated header names stay distinct columns (a, a.1), not "perfectly correlated"."""
    p = tmp_path / "dup.csv"
    p.write_text("a,a,kind\n1,2,x\n2,3,y\n3,1,x\n4,5,y\n5,3,x\n")
    code, out, err = run(capsys, "fit", str(p), "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["columns"] == ["a", "a.1"]
    np.testing.assert_allclose(res["mean"], [3.0, 2.8], rtol=1e-10)
    assert "renamed repeated or empty column name(s): 'a' -> 'a.1'" in err
    assert "skipping non-numeric column(s): kind" in err


def _write_bad_files(d):
    (d / "t.csv").write_text("a,b,c,name\n1,2,2,x\n2,NA,4,y\n3,1,6,z\n4,5,8,w\n")
    (d / "short.csv").write_text("a,b\n1,2\n3,5\n")
    (d / "semi.csv").write_text("a;b;c\n1;2;3\n2;1;5\n3;4;4\n4;2;1\n5;5;5\n")
    (d / "trail.csv").write_text("a,b,\n1,2,\n2,NA,\n3,4,\n4,2,\n5,5,\n")
    (d / "x.parquet").write_text("PAR1")
    (d / "empty.csv").write_text("")
    (d / "blank.csv").write_text("\n \n\n")
    (d / "header.csv").write_text("a,b\n")
    (d / "ragged.csv").write_text("a,b\n1,2\n3\n")
    (d / "quote.csv").write_text('a,b\n1,"2\n3,4\n5,6\n')
    for name, cell in [("na_slash", "n/a"), ("question", "?"), ("abc", "abc")]:
        rows = "".join(f"{i},{i * i % 7}\n" for i in range(1, 20))
        rows = rows.replace("17,2\n", f"17,{cell}\n")
        (d / f"{name}.csv").write_text("Wind,Ozone\n" + rows)
    (d / "long.csv").write_text("a,b\n1,2\n3," + "4" * 140_000 + "\n5,6\n7,1\n")
    (d / "inf.csv").write_text("a,b\n1,2\n3,inf\n5,6\n7,1\n")
    (d / "huge.csv").write_text("a,b\n1e308,2\n-1e308,3\n1e308,5\n-1e307,1\n")
    (d / "big32.csv").write_text("a\n1e300\n2\n3\n")
    (d / "binary.csv").write_bytes(bytes(range(256)) * 4)
    (d / "nul.csv").write_bytes(b"a,b\n1,\x002\n3,4\n")
    (d / "latin1.csv").write_bytes("Temp\u00e9,b\n1,2\n3,4\n5,7\n".encode("latin-1"))
    (d / "folder.csv").mkdir()
    np.savez(d / "arrays.npz", x=np.ones((5, 2)))
    (d / "arrays.npz").rename(d / "arrays.npy")
    (d / "text.npy").write_text("a,b\n1,2\n")
    np.save(d / "x.npy", np.ones((5, 2)))


STRAY = "row 17 (line 18), column 'Ozone': {!r} is not a number; use NA or an empty cell"

BAD = {
    "no file": (["missing.csv"], "missing.csv: no such file"),
    "directory": (["{d}/folder.csv"], "is a directory"),
    "unknown column": (["{d}/t.csv", "--columns", "zz"], "unknown column 'zz'; "),
    "label column": (["{d}/t.csv", "--columns", "name"], "column 'name' is not numeric"),
    "column twice": (["{d}/t.csv", "--columns", "a,a"], "--columns names 'a' more than once"),
    "columns empty": (["{d}/t.csv", "--columns", " , "], "--columns is empty"),
    "missing values": (["{d}/t.csv"], "use --missing fiml"),
    "missing: keep complete columns": (["{d}/t.csv"], "keep the complete columns: --columns a,c"),
    "never observed: --columns": (
        ["{d}/trail.csv", "--columns", "a,b,column3", "--missing", "fiml"],
        "'column3') is never observed (all NaN); drop it (--columns a,b)",
    ),
    "correlated: flags": (
        ["{d}/t.csv", "--columns", "a,c"],
        "drop one of them (--columns a), or pass --ridge 1e-06 to regularise",
    ),
    "n <= d: --ridge": (["{d}/short.csv"], "collect more data or pass --ridge 1e-06"),
    "delimiter forced": (
        ["{d}/semi.csv", "--delimiter", ","],
        "fields were split at ',': if the file uses another separator, pass it, e.g. --delim",
    ),
    "bad delimiter": (["{d}/t.csv", "--delimiter", "ab"], "--delimiter must be one character"),
    "delimiter .npy": (["{d}/x.npy", "--delimiter", ";"], "--delimiter applies to text files"),
    "ridge < 0": (["{d}/t.csv", "--columns", "a", "--ridge", "-1"], "--ridge must be a finite"),
    "bad model": (["{d}/t.csv", "--model", "tied"], "invalid choice: 'tied'"),
    "missing, drop biased": (["{d}/t.csv", "--missing", "raise"], "--missing drop (complete"),
    "correlated": (["{d}/t.csv", "--columns", "a,c"], "perfectly correlated"),
    "n <= d": (["{d}/short.csv"], "a full covariance needs n > d"),
    "lr with lbfgs": (["{d}/t.csv", "--columns", "a", "--lr", "0.1"], "--lr applies to adam"),
    "bad optimizer": (["{d}/t.csv", "--optimizer", "newton"], "invalid choice: 'newton'"),
    "bad missing": (["{d}/t.csv", "--missing", "mean"], "invalid choice: 'mean'"),
    "max steps": (["{d}/t.csv", "--columns", "a", "--max-steps", "0"], "--max-steps must be"),
    "tol": (["{d}/t.csv", "--columns", "a", "--tol", "-1"], "--tol must be a positive finite"),
    "tol nan": (["{d}/t.csv", "--columns", "a", "--tol", "nan"], "--tol must be a positive"),
    "lr inf": (
        ["{d}/t.csv", "--columns", "a", "--optimizer", "adam", "--lr", "inf"],
        "--lr must be a positive",
    ),
    "file type": (["{d}/x.parquet"], "unsupported file type '.parquet'"),
    "empty": (["{d}/empty.csv"], "empty.csv is empty"),
    "blank lines": (["{d}/blank.csv"], "blank.csv is empty"),
    "header only": (["{d}/header.csv"], "has a header but no data rows"),
    "ragged": (["{d}/ragged.csv"], "line 3 has 1 fields, the header has 2"),
    "unclosed quote": (["{d}/quote.csv"], "malformed CSV (unexpected end of data; an unclosed"),
    "stray n/a": (["{d}/na_slash.csv"], STRAY.format("n/a")),
    "stray ?": (["{d}/question.csv"], STRAY.format("?")),
    "stray abc": (["{d}/abc.csv"], STRAY.format("abc")),
    "field over 131072": (["{d}/long.csv"], "row 2, column 'b': the value is infinite or too"),
    "inf cell": (["{d}/inf.csv"], "row 2, column 'b': the value is infinite"),
    "huge values": (["{d}/huge.csv"], "overflow in float64"),
    "float32 overflow": (["{d}/big32.csv", "--float32"], "do not fit in float32"),
    "binary": (["{d}/binary.csv"], "binary.csv is not UTF-8 text (byte 0x80 on line 2)"),
    "NUL bytes": (["{d}/nul.csv"], "holds NUL bytes"),
    "not UTF-8": (["{d}/latin1.csv"], "is not UTF-8 text (byte 0xe9 on line 1); save it as"),
    ".npz as .npy": (["{d}/arrays.npy"], "is a .npz archive, not a .npy array"),
    "text as .npy": (["{d}/text.npy"], "not a .npy file (no NumPy header)"),
    ".npy column": (["{d}/x.npy", "--columns", "2"], "a .npy file has columns 0 to 1"),
}


@pytest.mark.parametrize(("argv", "message"), list(BAD.values()), ids=list(BAD))
def test_bad_input_one_line_exit_2(capsys, tmp_path, argv, message):
    _write_bad_files(tmp_path)
    argv = ["fit"] + [a.format(d=tmp_path) for a in argv]
    code, out, err = run_exit(capsys, *argv)
    assert_one_line_error(code, out, err, message)


def run_exit(capsys, *argv):
    """``main(argv)``, also when argparse exits (``SystemExit``) on a bad option."""
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, out, err, message):
    assert code == 2, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("mle-jax: error: ")
    assert message in lines[0], lines[0]


def test_unreadable_file(capsys, tmp_path, monkeypatch):
    """A file that cannot be opened (permissions; root reads anything, so open is patched)."""
    from mle_jax.data import _csv

    p = tmp_path / "locked.csv"
    p.write_text("a\n1\n2\n")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_csv, "open", refuse, raising=False)
    code, out, err = run(capsys, "fit", str(p))
    assert_one_line_error(code, out, err, "locked.csv: cannot read (Permission denied)")


EXTRAS = {
    "plot": (["fit", "{f}", "--plot", "{d}/x.png"], "matplotlib", "--plot needs matplotlib"),
    "progress": (["fit", "{f}", "--progress"], "tqdm", "--progress needs tqdm"),
    "demo --out": (["demo", "--out", "{d}/figs"], "matplotlib", "demo --out needs matplotlib"),
}


@pytest.mark.parametrize(("argv", "module", "message"), list(EXTRAS.values()), ids=list(EXTRAS))
def test_missing_optional_package(capsys, tmp_path, monkeypatch, argv, module, message):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    argv = [a.format(f=DATA / "faithful.csv", d=tmp_path) for a in argv]
    code, out, err = run(capsys, *argv)
    extra = "plot" if module == "matplotlib" else "progress"
    assert_one_line_error(code, out, err, f"{message}, which is not installed")
    assert f"pip install 'mle_jax[{extra}]'" in err
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "figs").exists()


def test_demo_bad_input(capsys, tmp_path):
    code, out, err = run(capsys, "demo", "--n", "3")
    assert_one_line_error(code, out, err, "--n must be at least 10, got 3")
    (tmp_path / "file").write_text("")
    code, out, err = run(capsys, "demo", "--out", str(tmp_path / "file"))
    assert_one_line_error(code, out, err, "file: exists and is not a directory")


def test_unexpected_error_is_one_line(capsys, monkeypatch):
    """A bug (not bad input) is one line and exit code 1, with a way to see the traceback."""
    import mle_jax as mj_mod

    def broken(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(mj_mod, "closed_form", broken)
    code, out, err = run(capsys, "fit", str(DATA / "faithful.csv"))
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [
        "mle-jax: internal error: RuntimeError: boom second line (this is a bug: please "
        "report it; MLE_JAX_TRACEBACK=1 shows the traceback)"
    ]
    monkeypatch.setenv("MLE_JAX_TRACEBACK", "1")
    with pytest.raises(RuntimeError, match="boom"):
        main(["fit", str(DATA / "faithful.csv")])


# ----------------------------------------------------------------- --missing


def test_missing_needs_a_fit_that_accepts_it(capsys, monkeypatch):
    def old_fit(x, *, optimizer=None, max_steps=1000, tol=None, columns=None, progress=False):
        raise AssertionError("not called")

    monkeypatch.setattr(mj, "fit", old_fit)
    code, out, err = run(capsys, "fit", str(DATA / "mvnmle_apple.csv"), "--missing", "fiml")
    assert_one_line_error(code, out, err, "--missing drop/fiml needs a newer mle_jax")


@pytest.mark.parametrize("missing", ["drop", "fiml"])
def test_missing_is_passed_to_fit(capsys, monkeypatch, missing):
    """--missing drop/fiml reaches mj.fit(missing=...); the stand-in fits the complete rows."""
    real_fit, seen = mj.fit, []

    def new_fit(x, *, missing="raise", **kwargs):
        seen.append(missing)
        return real_fit(x[~np.isnan(x).any(axis=1)], **kwargs)

    monkeypatch.setattr(mj, "fit", new_fit)
    code, out, err = run(
        capsys, "fit", str(DATA / "mvnmle_apple.csv"), "--missing", missing, "--json"
    )
    assert code == 0, err
    res = json.loads(out)
    assert seen == [missing] and res["missing"] == missing and res["n_missing"] == 6
    x = mj.load_dataset("apple").data
    complete = x[~np.isnan(x).any(axis=1)]
    np.testing.assert_allclose(res["mean"], complete.mean(0), rtol=1e-9)
    if missing == "drop":  # the complete-case closed form is the oracle
        assert res["max_abs_diff_cov"] < 1e-6 * np.abs(np.cov(complete.T)).max()
    else:  # no closed form with missing values
        assert res["closed_form"] is None


def test_default_missing_is_not_passed(capsys, monkeypatch):
    real_fit, seen = mj.fit, []

    def new_fit(x, **kwargs):
        seen.append(kwargs)
        return real_fit(x, **kwargs)

    monkeypatch.setattr(mj, "fit", new_fit)
    code, _, err = run(capsys, "fit", str(DATA / "faithful.csv"), "--missing", "raise")
    assert code == 0, err
    assert "missing" not in seen[0]


# ----------------------------------------------------------------- compilation cache


@pytest.mark.parametrize(
    ("flag", "env", "used"),
    [([], {}, True), (["--no-cache"], {}, False), ([], {"MLE_JAX_NO_CACHE": "1"}, False)],
    ids=["default", "--no-cache", "MLE_JAX_NO_CACHE"],
)
def test_cache_on_by_default(capsys, tmp_path, monkeypatch, flag, env, used):
    """The CLI enables the cache in MLE_JAX_CACHE_DIR (never the real home here); a stand-in
    records the call, so the test process's JAX configuration is not changed."""
    import mle_jax as mj_mod

    calls = []
    monkeypatch.setattr(mj_mod, "enable_compilation_cache", calls.append)
    monkeypatch.delenv("MLE_JAX_NO_CACHE")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("MLE_JAX_CACHE_DIR", str(tmp_path / "cache"))
    code, _, err = run(capsys, "fit", str(DATA / "faithful.csv"), *flag)
    assert code == 0 and err == ""
    assert calls == ([str(tmp_path / "cache")] if used else [])
    assert (tmp_path / "cache").is_dir() == used


def test_cache_folder_failure_only_warns(capsys, tmp_path, monkeypatch):
    import mle_jax as mj_mod

    calls = []
    monkeypatch.setattr(mj_mod, "enable_compilation_cache", calls.append)
    monkeypatch.delenv("MLE_JAX_NO_CACHE")
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("MLE_JAX_CACHE_DIR", str(tmp_path / "file" / "cache"))
    code, out, err = run(capsys, "fit", str(DATA / "faithful.csv"))
    assert code == 0 and "NLL" in out and calls == []
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mle-jax: warning: no compilation cache (")
    assert "continuing without it" in lines[0]


def test_help_documents_the_csv_rules_and_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "Missing values are empty cells, NA, NaN or nan" in out
    assert "A column with no number in it (labels such as iris Species, or an empty" in out
    assert "delimiter detected in the head of the file" in out and "--delimiter CHAR" in out
    assert "--no-cache" in out and "MLE_JAX_NO_CACHE=1" in out and "--missing" in out
    assert "--ridge R" in out and "{full,diag,spherical}" in out
    codes = "Exit codes: 0 the fit converged; 1 an internal error"
    assert codes in out and "3 the fit did not converge" in out
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert codes in out and "2 bad input or usage" in out


def test_delimiter_detected(capsys, tmp_path):
    """A semicolon file is read as such (and said so); --delimiter gives it explicitly."""
    _write_bad_files(tmp_path)
    code, out, err = run(capsys, "fit", str(tmp_path / "semi.csv"), "--columns", "a,b")
    assert code == 0, err
    assert err.strip() == "mle-jax: note: fields separated by ';' (detected; --delimiter sets it)"
    assert "status converged" in out
    code, out, err = run(
        capsys, "fit", str(tmp_path / "semi.csv"), "--columns", "a,b", "--delimiter", ";"
    )
    assert code == 0 and err.strip() == "mle-jax: note: fields separated by ';' (--delimiter)"


def test_not_converged_exits_3_with_one_warning_line(capsys):
    """The estimates and status are printed; the ConvergenceWarning is one line, without a
    library path, its advice in flags; no standard errors at a point that is not a minimum."""
    code, out, err = run(capsys, "fit", str(DATA / "faithful.csv"), "--max-steps", "2", "--json")
    assert code == 3
    res = json.loads(out)
    assert res["status"] == "max_steps" and not res["converged"] and res["exit_code"] == 3
    assert res["standard_errors"] is None and len(res["mean"]) == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("mle-jax: warning: the fit did not converge: stopped at max_steps")
    assert line.endswith("raise --max-steps, loosen --tol or try another --optimizer")
    assert ".py" not in err and "ConvergenceWarning" not in err


def test_model_and_ridge(capsys):
    """--model diag --ridge R: the closed form diag(S/n) + R I is the oracle."""
    code, out, err = run(
        capsys, "fit", str(DATA / "faithful.csv"), "--model", "diag", "--ridge", "0.5", "--json"
    )
    assert code == 0, err
    res = json.loads(out)
    x = mj.load_dataset("faithful").data
    assert (res["model"], res["ridge"]) == ("diag", 0.5)
    np.testing.assert_allclose(res["cov"], np.diag(x.var(0) + 0.5), rtol=1e-8, atol=1e-8)
    assert res["max_abs_diff_cov"] < 1e-7 * x.var(0).max()
    assert res["standard_errors"]["cov"][0][1] == 0.0  # not estimated under diag


def test_trailing_comma_fiml_plot(capsys, tmp_path, monkeypatch):
    """An export with a trailing comma: the empty column is skipped (a note), --missing fiml
    fits, the JSON has the FIML standard errors, and --plot draws each column's fitted
    marginal over its observed values (the pairwise view of 3 columns, one with NaN)."""
    pytest.importorskip("matplotlib")
    from mle_jax.plotting import _multivariate

    figs = []
    real = _multivariate.pairwise_ellipses
    monkeypatch.setattr(
        _multivariate, "pairwise_ellipses", lambda *a, **k: figs.append(real(*a, **k)) or figs[-1]
    )
    rows = "".join(
        f"{i},{'NA' if i % 4 == 1 else (i * 7) % 5},{(i * i) % 7}.5,\n" for i in range(12)
    )
    p = tmp_path / "export.csv"
    p.write_text("a,b,c,\n" + rows)
    png = tmp_path / "f.png"
    code, out, err = run(capsys, "fit", str(p), "--missing", "fiml", "--json", "--plot", str(png))
    assert code == 0, err
    res = json.loads(out)
    assert res["columns"] == ["a", "b", "c"] and res["n_missing"] == 3
    assert "skipping non-numeric column(s): column4 (no number in them)" in err
    data = np.genfromtxt(p, delimiter=",", skip_header=1)[:, :3]
    fit = mj.fit(data, missing="fiml")
    se = mj.inference.standard_errors(fit)
    np.testing.assert_allclose(res["standard_errors"]["mean"], se.mean, rtol=1e-6)
    (fig,) = figs
    axes = np.array(fig.axes).reshape(3, 3)
    grid, pdf = axes[1, 1].get_lines()[0].get_data()
    seen = data[~np.isnan(data[:, 1]), 1]
    assert grid[0] == seen.min() and grid[-1] == seen.max() and np.all(np.isfinite(pdf))
    assert png.stat().st_size > 10_000


def test_entry_point_subprocess(tmp_path):
    """`python -m mle_jax`: a real process, no traceback, exit code 2 on bad input, and no
    cache folder created for a command that stops at its input."""
    import os

    bad = tmp_path / "na.csv"
    bad.write_text("u,v\n1,2\nNA,3\n4,5\n6,8\n")
    env = dict(os.environ, MLE_JAX_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("MLE_JAX_NO_CACHE", None)
    proc = subprocess.run(
        [sys.executable, "-m", "mle_jax", "fit", str(bad)], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 2
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "1 of 4 row(s) have missing values" in proc.stderr and "--missing fiml" in proc.stderr
    assert not (tmp_path / "cache").exists()


def test_demo_table_and_figures(capsys, tmp_path, monkeypatch):
    """The demo fits, prints its table and hands its data and fit to plotting.story_figures
    (whose figures are checked in test_plotting.py::test_story_figures)."""
    from mle_jax import plotting

    calls = []

    def fake(out, **kw):
        calls.append(kw)
        os.makedirs(out, exist_ok=True)
        path = os.path.join(out, "01_one_point.png")
        open(path, "wb").close()
        return [path]

    monkeypatch.setattr(plotting, "story_figures", fake)
    code, out, _ = run(capsys, "demo", "--n", "300", "--out", str(tmp_path / "figs"))
    assert code == 0
    assert "L-BFGS (default)" in out and "converged" in out
    assert str(tmp_path / "figs" / "01_one_point.png") in out
    (kw,) = calls
    assert kw["data"].shape == (300, 3) and bool(kw["fit"].converged)
    np.testing.assert_allclose(kw["fit"].mean, kw["data"].mean(0), atol=1e-8)


def test_demo_without_out_writes_to_a_named_folder(capsys, tmp_path, monkeypatch):
    from mle_jax import plotting

    calls = []

    def fake(out, **kwargs):
        calls.append(out)
        return [f"{out}/01.png", f"{out}/02.png"]

    monkeypatch.setattr(plotting, "story_figures", fake)
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "demo", "--n", "200")
    assert code == 0 and "Adam (lr 0.02)" in out
    assert calls == ["./mle_jax_demo_figures"]
    (line,) = [ln for ln in out.splitlines() if "figures" in ln and "wrote" in ln]
    assert line == "wrote 2 figures to ./mle_jax_demo_figures/ (--out DIR chooses the folder)"


def test_demo_without_matplotlib_prints_table_and_a_hint(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "demo", "--n", "200")
    assert code == 0 and err == ""
    assert "Adam (lr 0.02)" in out and "wrote" not in out
    assert out.strip().splitlines()[-1] == (
        "figures: matplotlib is not installed; pip install 'mle_jax[plot]' for figures"
    )
    assert not (tmp_path / "mle_jax_demo_figures").exists()


def test_demo_default_folder_is_a_file(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mle_jax_demo_figures").write_text("")
    code, out, err = run(capsys, "demo", "--n", "200")
    assert_one_line_error(code, out, err, "mle_jax_demo_figures: exists and is not a directory")
