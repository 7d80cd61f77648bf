"""A small CSV reader for numeric tables (pure :mod:`csv` + numpy; pandas is not needed).

Rules, in the order they apply:

* The first non-blank line is the header. Names are stripped of surrounding spaces; an empty
  name becomes ``column<j>`` (1-based position); repeated names are made unique the way R's
  ``make.unique`` and pandas do (``a``, ``a.1``, ``a.2``, ...). Blank lines are skipped.
* Missing values: an empty cell, ``NA``, ``NaN`` or ``nan`` (:data:`MISSING_MARKERS`; any
  spelling that Python's ``float`` reads as NaN, such as ``NAN``, is NaN too). They become NaN.
* A column is *numeric* when at least one of its cells is a number; every other non-missing
  cell of it must then be a number too, or the reader raises an error that names the row, the
  column and the cell (``n/a``, ``?``, ``-`` and the like are not missing markers).
* A column none of whose cells is a number (all text, such as iris ``Species``) is a *label*
  column: kept as strings, left out of the numeric data unless asked for by name (an error).
* When ``columns`` names the wanted columns, only those are checked: a stray cell in a column
  that is not asked for does not matter.
"""

from __future__ import annotations

import csv
import io
import math
import os
from typing import NamedTuple

import numpy as np

__all__ = ["MISSING_MARKERS", "Table", "read_csv", "read_table", "parse_table"]

#: Cells read as missing (NaN), compared after stripping surrounding spaces.
MISSING_MARKERS = ("", "NA", "NaN", "nan")

_FIELD_LIMIT = 2**31 - 1  # the largest limit the csv module accepts on every platform


class Table(NamedTuple):
    """A parsed CSV table: every column, numeric or label.

    Attributes:
        names: all column names in file order, made unique.
        numeric: name -> ``(n,)`` float64 values (NaN where missing), numeric columns only.
        labels: name -> ``(n,)`` string array, for the label (all-text) columns.
        bad: name -> ``(row, line, cell, count)`` for a numeric column with a non-number
            cell: the first such cell (1-based data row, file line, text) and how many.
        renamed: ``(original, new)`` pairs for repeated or empty header names.
        source: the file name used in messages.
    """

    names: list
    numeric: dict
    labels: dict
    bad: dict
    renamed: list
    source: str

    def select(self, columns=None):
        """``(data (n, k) float64, names)`` for ``columns`` (default: every numeric column).

        Raises:
            ValueError: a stray non-number cell in a selected column; an unknown or label
                column asked for by name; no numeric column.
        """
        if columns is None:
            wanted = [c for c in self.names if c not in self.labels]
            if not wanted:
                raise ValueError(
                    f"{self.source} has no numeric column (columns: {', '.join(self.names)})"
                )
        else:
            wanted = list(columns)
            if not wanted:
                raise ValueError("no columns asked for")
        for c in wanted:
            if c in self.labels:
                example = next((str(v) for v in self.labels[c] if v not in MISSING_MARKERS), "")
                raise ValueError(
                    f"column {c!r} is not numeric (it holds values like {example!r}); "
                    "a column with no number in it is read as labels"
                )
            if c not in self.numeric:
                raise ValueError(
                    f"unknown column {c!r}; {self.source} has columns: {', '.join(self.names)}"
                )
            if c in self.bad:
                row, line, cell, count = self.bad[c]
                more = f" ({count} such cells in this column)" if count > 1 else ""
                raise ValueError(
                    f"{self.source}: row {row} (line {line}), column {c!r}: {_show(cell)} is "
                    f"not a number{more}; use NA or an empty cell for missing values"
                )
        data = np.stack([self.numeric[c] for c in wanted], axis=1)
        return data, wanted


def _show(cell: str) -> str:
    return repr(cell if len(cell) <= 40 else cell[:37] + "...")


def _number(cell: str) -> float | None:
    """The cell's value, NaN if it is a missing marker, ``None`` if it is not a number."""
    c = cell.strip()
    if c in MISSING_MARKERS:
        return math.nan
    try:
        return float(c)
    except ValueError:
        return None


def _unique(header: list) -> tuple[list, list]:
    """Header names made unique (``a``, ``a.1``, ...) and the ``(old, new)`` renamings."""
    names = [h.strip() or f"column{j + 1}" for j, h in enumerate(header)]
    renamed = [(h.strip(), n) for h, n in zip(header, names, strict=True) if h.strip() != n]
    taken = set(names)
    seen: dict = {}
    out = []
    for n in names:
        if n not in seen:
            seen[n] = 0
            out.append(n)
            continue
        k = seen[n]
        while True:
            k += 1
            new = f"{n}.{k}"
            if new not in taken:
                break
        seen[n] = k
        taken.add(new)
        out.append(new)
        renamed.append((n, new))
    return out, renamed


def parse_table(text: str, source: str = "<text>", *, delimiter: str = ",") -> Table:
    """Parse CSV text with a header line into a :class:`Table` (rules in the module doc).

    Raises:
        ValueError: empty text, a header but no rows, ragged rows, malformed quoting, NUL bytes.
    """
    if "\x00" in text:
        raise ValueError(f"{source} holds NUL bytes: a binary file, not a text CSV file")
    old_limit = csv.field_size_limit(_FIELD_LIMIT)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    rows, lines = [], []
    try:
        for r in reader:
            if any(c.strip() for c in r):
                rows.append(r)
                lines.append(reader.line_num)
    except csv.Error as e:
        hint = "; an unclosed quote?" if "unexpected end of data" in str(e) else ""
        raise ValueError(f"{source} line {reader.line_num}: malformed CSV ({e}{hint})") from None
    finally:
        csv.field_size_limit(old_limit)
    if not rows:
        raise ValueError(f"{source} is empty")
    names, renamed = _unique(rows[0])
    body, lines = rows[1:], lines[1:]
    if not body:
        raise ValueError(f"{source} has a header but no data rows")
    for r, line in zip(body, lines, strict=True):
        if len(r) != len(names):
            raise ValueError(
                f"{source} line {line} has {len(r)} fields, the header has {len(names)}"
            )
    numeric, labels, bad = {}, {}, {}
    for j, name in enumerate(names):
        cells = [r[j] for r in body]
        values = [_number(c) for c in cells]
        if all(v is None or math.isnan(v) for v in values) and any(v is None for v in values):
            labels[name] = np.asarray([c.strip() for c in cells])
            continue
        strays = [i for i, v in enumerate(values) if v is None]
        if strays:
            i = strays[0]
            bad[name] = (i + 1, lines[i], cells[i].strip(), len(strays))
        numeric[name] = np.array([math.nan if v is None else v for v in values], np.float64)
    return Table(names, numeric, labels, bad, renamed, source)


def read_table(path, *, delimiter: str = ",") -> Table:
    """Read a UTF-8 CSV file (a BOM is allowed) into a :class:`Table`.

    Raises:
        ValueError: not UTF-8 text, or the errors of :func:`parse_table`.
        OSError: the file cannot be opened or read.
    """
    source = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ValueError(
            f"{source} is not UTF-8 text (byte 0x{raw[e.start]:02x} on line {line}); "
            "save it as UTF-8, or it is not a CSV file"
        ) from None
    return parse_table(text, source, delimiter=delimiter)


def read_csv(path, columns=None, *, delimiter: str = ","):
    """Read the numeric columns of a CSV file with a header line.

    Missing cells (empty, ``NA``, ``NaN``, ``nan``) become NaN. Columns holding no number at
    all (labels such as iris ``Species``) are left out; any other cell that is not a number
    is an error naming its row and column. See the module doc for all the rules.

    Args:
        path: a file path (UTF-8 text).
        columns: names of the columns to return, in this order; default every numeric column.
        delimiter: the field separator (``"\\t"`` for tab-separated files).

    Returns:
        :class:`~mle_jax.data.Dataset` ``(data, columns)``: an ``(n, k)`` float64 array with NaN
        for missing values, and the ``k`` column names (repeated header names made unique:
        ``a``, ``a.1``).

    Raises:
        ValueError: empty file, ragged rows, a stray non-number cell, an unknown or label
            column in ``columns``, no numeric column, a file that is not UTF-8 text.
        OSError: the file cannot be read.

    Examples:
        >>> import pathlib, tempfile
        >>> from mle_jax.data import read_csv
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = path.write_text("a,a,kind\\n1,2,x\\nNA,4,y\\n")
        >>> x, names = read_csv(path)
        >>> names, x.tolist()
        (['a', 'a.1'], [[1.0, 2.0], [nan, 4.0]])
    """
    from . import Dataset

    data, names = read_table(path, delimiter=delimiter).select(
        None if columns is None else list(columns)
    )
    return Dataset(data, names)
