"""mle_jax.data: the bundled data sets (shapes, NaN counts against the files) and the CSV reader
(missing markers, repeated names, stray cells by row, label columns, column choice)."""

import csv

import numpy as np
import pytest

import mle_jax as mj
from mle_jax.data import MISSING_MARKERS, read_csv
from tests.helpers import DATA

# ----------------------------------------------------------------- load_dataset


def test_load_dataset_complete_sets():
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


MISSING_SETS = {
    # name: (file, shape, NaN count, columns)
    "apple": ("mvnmle_apple.csv", (18, 2), 6, ["size", "worms"]),
    "missvals": ("mvnmle_missvals.csv", (13, 5), 15, ["x1", "x2", "x3", "x4", "x5"]),
    "mdata": ("norm_mdata.csv", (25, 5), 14, ["ageh", "agew", "edu", "inc", "kid"]),
    "airquality": ("airquality.csv", (153, 4), 44, ["Ozone", "Solar.R", "Wind", "Temp"]),
}


@pytest.mark.parametrize("name", list(MISSING_SETS))
def test_load_dataset_with_missing_values(name):
    filename, shape, n_nan, columns = MISSING_SETS[name]
    x, cols = mj.load_dataset(name)
    assert x.shape == shape and x.dtype == np.float64 and cols == columns
    assert int(np.isnan(x).sum()) == n_nan
    # against the file itself, read with the csv module: NaN exactly where it says NA
    with open(DATA / filename, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == columns
    cells = np.array(rows[1:])
    np.testing.assert_array_equal(np.isnan(x), cells == "NA")
    np.testing.assert_array_equal(x[cells != "NA"], cells[cells != "NA"].astype(float))


def test_airquality_missing_by_column():
    x, cols = mj.load_dataset("airquality")
    assert dict(zip(cols, np.isnan(x).sum(0).tolist(), strict=True)) == {
        "Ozone": 37,
        "Solar.R": 7,
        "Wind": 0,
        "Temp": 0,
    }


def test_political_democracy():
    x, cols = mj.load_dataset("political_democracy")
    assert x.shape == (75, 11) and x.dtype == np.float64 and not np.isnan(x).any()
    assert cols == [f"y{i}" for i in range(1, 9)] + ["x1", "x2", "x3"]
    # the file's text, read with the csv module (lavaan::PoliticalDemocracy, first and last row)
    with open(DATA / "political_democracy.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == cols and len(rows) == 76
    np.testing.assert_array_equal(x, np.array(rows[1:], dtype=float))
    np.testing.assert_array_equal(x[0, 8:], [4.442651, 3.637586, 2.557615])
    assert x[0, :3].tolist() == [2.5, 0.0, 3.333333]


# ----------------------------------------------------------------- read_csv


def _csv(tmp_path, text, name="t.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_missing_markers(tmp_path):
    assert MISSING_MARKERS == ("", "NA", "NaN", "nan")
    p = _csv(tmp_path, "a,b\n1,\n2,NA\n3, NaN \n4,nan\n5,6.5\n")
    x, names = read_csv(p)
    assert names == ["a", "b"]
    np.testing.assert_array_equal(x[:, 0], [1, 2, 3, 4, 5])
    assert np.isnan(x[:4, 1]).all() and x[4, 1] == 6.5


def test_all_missing_column_is_numeric(tmp_path):
    x, names = read_csv(_csv(tmp_path, "a,b\n1,NA\n2,\n"))
    assert names == ["a", "b"] and np.isnan(x[:, 1]).all()


def test_label_columns_are_skipped_unless_asked_for(tmp_path):
    p = _csv(tmp_path, "a,b,name\n1,NA,x\n2,,y\n3,4.5,NA\n")
    x, names = read_csv(p)
    assert names == ["a", "b"]
    with pytest.raises(
        ValueError, match=r"column 'name' is not numeric \(it holds values like 'x'"
    ):
        read_csv(p, columns=["name"])
    with pytest.raises(ValueError, match="unknown column 'zz'; .* has columns: a, b, name"):
        read_csv(p, columns=["zz"])


def test_repeated_and_empty_header_names(tmp_path):
    p = _csv(tmp_path, "a,a,b,a.1,,a\n1,2,3,4,5,6\n2,1,1,1,1,1\n")
    x, names = read_csv(p)
    # like R make.unique / pandas: a, a.1 (taken by the file, so a.2), ...; empty -> column5
    assert names == ["a", "a.2", "b", "a.1", "column5", "a.3"]
    np.testing.assert_array_equal(x[0], [1, 2, 3, 4, 5, 6])
    x, names = read_csv(p, columns=["a.3", "a"])
    np.testing.assert_array_equal(x[0], [6, 1])


@pytest.mark.parametrize("cell", ["n/a", "?", "abc", "-", "N/A"])
def test_stray_cell_is_reported_by_row_and_column(tmp_path, cell):
    rows = "".join(f"{i},{i + 0.5}\n" for i in range(1, 21))
    rows = rows.replace("17,17.5\n", f"17,{cell}\n").replace("19,19.5\n", f"19,{cell}\n")
    p = _csv(tmp_path, "Wind,Ozone\n\n" + rows)  # a blank line: row 17 is on line 19
    with pytest.raises(ValueError) as e:
        read_csv(p)
    assert str(e.value) == (
        f"{p}: row 17 (line 19), column 'Ozone': {cell!r} is not a number (2 such cells in "
        "this column); use NA or an empty cell for missing values"
    )
    # a column not asked for is not checked
    x, names = read_csv(p, columns=["Wind"])
    assert names == ["Wind"] and x.shape == (20, 1)


def test_ragged_rows_and_quotes(tmp_path):
    with pytest.raises(ValueError, match="line 3 has 1 fields, the header has 2"):
        read_csv(_csv(tmp_path, "a,b\n1,2\n3\n"))
    with pytest.raises(ValueError, match="unexpected end of data; an unclosed quote"):
        read_csv(_csv(tmp_path, 'a,b\n1,"2\n3,4\n'))
    x, names = read_csv(_csv(tmp_path, 'a,"b, c"\n"1",2\n3,"4"\n'))
    assert names == ["a", "b, c"] and x.tolist() == [[1, 2], [3, 4]]


def test_long_text_field_in_a_label_column(tmp_path):
    """Fields over the csv module's default limit (131072 characters) are read."""
    p = _csv(tmp_path, "a,note\n1,short\n2," + "x" * 200_000 + "\n3,y\n")
    x, names = read_csv(p)
    assert names == ["a"] and x[:, 0].tolist() == [1, 2, 3]
    assert csv.field_size_limit() == 131072  # the global limit is restored


def test_empty_header_only_not_utf8(tmp_path):
    with pytest.raises(ValueError, match="is empty"):
        read_csv(_csv(tmp_path, "\n\n"))
    with pytest.raises(ValueError, match="has a header but no data rows"):
        read_csv(_csv(tmp_path, "a,b\n"))
    with pytest.raises(ValueError, match="has no numeric column"):
        read_csv(_csv(tmp_path, "a,b\nx,y\n"))
    p = tmp_path / "latin1.csv"
    p.write_bytes("caf\u00e9\n1\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"not UTF-8 text \(byte 0xe9 on line 1\)"):
        read_csv(p)
    p.write_bytes("\ufeffa,b\n1,2\n".encode())  # a BOM is fine
    assert read_csv(p).columns == ["a", "b"]


def test_tab_separated(tmp_path):
    x, names = read_csv(_csv(tmp_path, "a\tb c\n1\t2\nNA\t4\n", "t.tsv"), delimiter="\t")
    assert names == ["a", "b c"] and np.isnan(x[1, 0]) and x[1, 1] == 4
