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


def _load_table(path: str, columns):
    """Read a CSV (rules in ``mle_jax.data._csv``) or ``.npy`` file.

    Returns ``(x (n, k) float64, names, notes)``; raises :class:`_BadInput`.
    """
    import os

    from ..data._csv import read_table

    wanted = None
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
    try:
        if ext == ".npy":
            x, names = _load_npy(path, wanted)
            return x, names, []
        table = read_table(path, delimiter="\t" if ext == ".tsv" else ",")
        x, names = table.select(wanted)
    except OSError as e:
        raise _BadInput(f"{path}: cannot read ({e.strerror or e})") from None
    except ValueError as e:
        raise _BadInput(str(e)) from None
    notes = []
    if table.renamed:
        pairs = ", ".join(f"{old!r} -> {new!r}" for old, new in table.renamed)
        notes.append(f"renamed repeated or empty column name(s): {pairs}")
    if wanted is None and table.labels:
        notes.append(
            f"skipping non-numeric column(s): {', '.join(table.labels)} (no number in them)"
        )
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
    raise _BadInput(
        f"{path}: {len(rows)} of {x.shape[0]} row(s) have missing values, in column(s) "
        f"{', '.join(cols)} (first at row(s) {first}); use --missing fiml (maximum likelihood "
        "over every observed value) or --missing drop (complete rows only: biased unless "
        "values are missing completely at random), or choose other --columns"
    )
