"""Small real data sets shipped with the package, and the CSV reader the command line uses.

The files live beside this module (provenance in ``README.md`` here) and are read with
:mod:`importlib.resources`, so they work from a wheel as well as from a checkout.
"""

from __future__ import annotations

import csv
import io
import os
from importlib import resources
from typing import NamedTuple

import numpy as np

__all__ = ["Dataset", "load_dataset", "read_csv", "DATASETS"]

#: name -> (file, column holding string labels or None)
DATASETS = {
    "iris": ("iris.csv", "Species"),
    "faithful": ("faithful.csv", None),
}

_MISSING = {"", "na", "nan"}


class Dataset(NamedTuple):
    """A numeric table: ``data`` ``(n, d)`` float64 and its ``d`` column names.

    Unpacks as ``x, columns = mj.load_dataset("faithful")``.
    """

    data: np.ndarray
    columns: list


def _parse(text: str, source: str):
    """Parse CSV text with a header. Returns ``(numeric, names, string_columns)``.

    ``NA``, ``NaN`` and empty cells are missing (NaN). A column is numeric when every
    non-missing cell parses as a float; other columns are returned as string arrays.
    """
    rows = list(csv.reader(io.StringIO(text)))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise ValueError(f"{source} is empty")
    header = [h.strip() for h in rows[0]]
    body = rows[1:]
    if not body:
        raise ValueError(f"{source} has a header but no data rows")
    for i, r in enumerate(body, start=2):
        if len(r) != len(header):
            raise ValueError(f"{source} line {i} has {len(r)} fields, the header has {len(header)}")
    numeric, strings = {}, {}
    for j, name in enumerate(header):
        cells = [r[j].strip() for r in body]
        values = np.empty(len(cells))
        ok = True
        for i, c in enumerate(cells):
            if c.lower() in _MISSING:
                values[i] = np.nan
                continue
            try:
                values[i] = float(c)
            except ValueError:
                ok = False
                break
        if ok:
            numeric[name] = values
        else:
            strings[name] = np.asarray(cells)
    return numeric, header, strings


def read_csv(path) -> tuple[np.ndarray, list, dict]:
    """Read a CSV file with a header line; ``NA``/``NaN``/empty cells become NaN.

    Args:
        path: a file path.

    Returns:
        ``(data, columns, text_columns)``: ``(n, k)`` float64 array of the numeric columns,
        their names in file order, and a dict of the non-numeric columns (name -> strings).

    Raises:
        ValueError: empty file, ragged rows, no numeric column.
    """
    with open(path, newline="", encoding="utf-8-sig") as f:
        text = f.read()
    return _table(text, os.fspath(path))


def _table(text: str, source: str):
    numeric, header, strings = _parse(text, source)
    names = [h for h in header if h in numeric]
    if not names:
        raise ValueError(f"{source} has no numeric column (columns: {', '.join(header)})")
    data = np.stack([numeric[h] for h in names], axis=1)
    return data, names, strings


def load_dataset(name: str, *, subset: str | None = None) -> Dataset:
    """Load one of the bundled data sets (see ``DATASETS``) as float64.

    Args:
        name: ``"iris"`` (150 x 4: sepal/petal length and width, cm; R ``datasets::iris``) or
            ``"faithful"`` (272 x 2: eruption length in minutes and waiting time to the next
            eruption in minutes, Old Faithful geyser; R ``datasets::faithful``).
        subset: keep only the rows whose label column equals this value (iris: a species,
            ``"setosa"``, ``"versicolor"`` or ``"virginica"``).

    Returns:
        :class:`Dataset` ``(data, columns)`` with the numeric columns only.

    Examples:
        >>> import mle_jax as mj
        >>> x, columns = mj.load_dataset("faithful")
        >>> x.shape, columns
        ((272, 2), ['eruptions', 'waiting'])
        >>> mj.load_dataset("iris", subset="setosa").data.shape
        (50, 4)
    """
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {sorted(DATASETS)}")
    filename, label = DATASETS[name]
    text = resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")
    data, columns, strings = _table(text, filename)
    if subset is not None:
        if label is None:
            raise ValueError(f"data set {name!r} has no label column to take a subset of")
        labels = strings[label]
        keep = labels == subset
        if not keep.any():
            raise ValueError(
                f"no rows of {name!r} have {label} == {subset!r}; "
                f"choose one of {sorted(set(labels.tolist()))}"
            )
        data = data[keep]
    return Dataset(data, columns)
