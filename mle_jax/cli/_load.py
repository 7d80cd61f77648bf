"""Reading a data file for ``mle-jax fit``: CSV (rules in ``mle_jax.data._csv``) or ``.npy``."""

from __future__ import annotations

from ._common import _BadInput


def _load_npy(path: str, wanted):
    import numpy as np

    with open(path, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"PK"):
        raise _BadInput(
            f"{path}: is a .npz archive, not a .npy array; save one (n, d) array with numpy.save"
        )
    if magic != b"\x93NUMPY":
        raise _BadInput(f"{path}: not a .npy file (no NumPy header)")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise _BadInput(f"{path}: cannot read as .npy ({e})") from None
    if not isinstance(arr, np.ndarray):
        raise _BadInput(f"{path}: not a single .npy array")
    if arr.dtype.kind not in "fiub":
        raise _BadInput(f"{path}: holds {arr.dtype} values, not real numbers")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise _BadInput(f"{path}: expected a 1-D or 2-D array, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    names = [str(j) for j in range(arr.shape[1])]
    if wanted is not None:
        idx = []
        for c in wanted:
            if not (c.isdigit() and int(c) < arr.shape[1]):
                raise _BadInput(
                    f"unknown column {c!r}: a .npy file has columns 0 to {arr.shape[1] - 1}"
                )
            idx.append(int(c))
        arr, names = arr[:, idx], [names[j] for j in idx]
    return arr, names


_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
_SNIFF_BYTES = 1 << 16


def _delimiter_option(value: str | None) -> str | None:
    """``--delimiter``: one character, or ``tab``/``\\t``, ``comma``, ``semicolon``, ``pipe``."""
    if value is None:
        return None
    d: str = _DELIMITER_NAMES.get(value.lower(), value) if len(value) > 1 else value
    if len(d) != 1 or d in '\r\n"' or d.isalnum() or d == ".":
        raise _BadInput(
            f"--delimiter must be one character such as ',' ';' '|' or tab (--delimiter tab), "
            f"got {value!r}"
        )
    return d


def _sniff_delimiter(path: str, default: str) -> str:
    """The field separator of a text file: :class:`csv.Sniffer` on its first 64 KiB, among
    ``, ; tab |`` (a tie goes to the comma); ``default`` when the head does not tell."""
    import csv

    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
    except OSError:
        return default  # read_table reports it
    lines = head.decode("utf-8", errors="replace").splitlines()
    if len(head) == _SNIFF_BYTES:
        lines = lines[:-1]  # the last line may be cut
    sample = "\n".join(ln for ln in lines[:200] if ln.strip())
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return default


def _shown(delimiter: str) -> str:
    return "tab" if delimiter == "\t" else repr(delimiter)


def _load_table(path: str, columns, delimiter=None):
    """Read a CSV (rules in ``mle_jax.data._csv``) or ``.npy`` file.

    The delimiter is ``delimiter`` (``--delimiter``) or sniffed from the head of the file
    (default ``,``; tab for ``.tsv``). Without ``columns``, columns with no number in them
    (labels, or empty ones such as a trailing delimiter makes) are skipped with a note.

    Returns ``(x (n, k) float64, names, notes)``; raises :class:`_BadInput`.
    """
    import os

    import numpy as np

    from ..data._csv import read_table

    wanted = None
    chosen = _delimiter_option(delimiter)
    if columns is not None:
        wanted = [c.strip() for c in columns.split(",") if c.strip()]
        if not wanted:
            raise _BadInput("--columns is empty")
        twice = sorted({c for c in wanted if wanted.count(c) > 1})
        if twice:
            raise _BadInput(f"--columns names {', '.join(map(repr, twice))} more than once")
    if not os.path.exists(path):
        raise _BadInput(f"{path}: no such file")
    if os.path.isdir(path):
        raise _BadInput(f"{path}: is a directory, not a data file")
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".csv", ".txt", ".tsv", ".npy", ""):
        raise _BadInput(f"{path}: unsupported file type {ext!r}; use a .csv or .npy file")
    if ext == ".npy":
        if chosen is not None:
            raise _BadInput("--delimiter applies to text files, not to a .npy array")
        x, names = _load_npy(path, wanted)
        return x, names, []
    default = "\t" if ext == ".tsv" else ","
    sep = chosen or _sniff_delimiter(path, default)
    try:
        table = read_table(path, delimiter=sep)
    except OSError as e:
        raise _BadInput(f"{path}: cannot read ({e.strerror or e})") from None
    except ValueError as e:
        raise _BadInput(str(e)) from None
    empty = []
    if wanted is None:
        empty = [c for c, v in table.numeric.items() if bool(np.all(np.isnan(v)))]
        if empty and len(empty) == len(table.numeric):
            cols = ", ".join(table.names)
            raise _BadInput(f"{path} has no number in any column (columns: {cols})")
    keep = [c for c in table.names if c not in table.labels and c not in empty]
    try:
        x, names = table.select(wanted if wanted is not None else (keep or None))
    except ValueError as e:
        msg = str(e)
        if "no numeric column" in msg and len(table.names) == 1:
            msg += (
                f"; fields were split at {_shown(sep)}"
                f"{' (detected)' if chosen is None else ''}: if the file uses another "
                "separator, pass it, e.g. --delimiter ';'"
            )
        raise _BadInput(msg) from None
    notes = []
    if sep != default:
        how = "--delimiter" if chosen is not None else "detected; --delimiter sets it"
        notes.append(f"fields separated by {_shown(sep)} ({how})")
    if table.renamed:
        pairs = ", ".join(f"{old!r} -> {new!r}" for old, new in table.renamed)
        notes.append(f"renamed repeated or empty column name(s): {pairs}")
    if wanted is None and (table.labels or empty):
        skipped = ", ".join([*table.labels, *empty])
        notes.append(f"skipping non-numeric column(s): {skipped} (no number in them)")
    return x, names, notes


def _check_values(x, names, path, missing):
    """Infinite values are always an error; NaN (missing) is one for ``--missing raise``."""
    import numpy as np

    inf = np.isinf(x)
    if inf.any():
        i, j = np.argwhere(inf)[0]
        raise _BadInput(
            f"{path}: row {i + 1}, column {names[j]!r}: the value is infinite or too large "
            f"for float64 ({int(inf.sum())} such value(s) in all)"
        )
    bad = np.isnan(x)
    if missing != "raise" or not bad.any():
        return
    cols = [f"{names[j]!r} ({int(bad[:, j].sum())})" for j in range(x.shape[1]) if bad[:, j].any()]
    rows = np.flatnonzero(bad.any(axis=1))
    first = ", ".join(str(int(r) + 1) for r in rows[:5])
    complete = [names[j] for j in range(x.shape[1]) if not bad[:, j].any()]
    others = f", or keep the complete columns: {_columns_flag(complete)}" if complete else ""
    raise _BadInput(
        f"{path}: {len(rows)} of {x.shape[0]} row(s) have missing values, in column(s) "
        f"{', '.join(cols)} (first at row(s) {first}); use --missing fiml (maximum likelihood "
        "over every observed value) or --missing drop (complete rows only: biased unless "
        f"values are missing completely at random){others}"
    )


def _columns_flag(names) -> str:
    """``--columns a,b`` as it would be typed in a shell (quoted where needed)."""
    import shlex

    return f"--columns {shlex.quote(','.join(names))}"
