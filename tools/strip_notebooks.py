"""Strip outputs, execution counts and volatile metadata from notebooks (like nbstripout).

Usage: python tools/strip_notebooks.py [NOTEBOOK ...]   (default: notebooks/*.ipynb)
       python tools/strip_notebooks.py --check           (exit 1 if any notebook has outputs)

The notebooks are stored without outputs; tests/test_notebooks.py executes them and checks
that the stored files are stripped.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
KEEP_METADATA = {"kernelspec", "language_info"}


def strip(nb) -> bool:
    """Strip ``nb`` in place; return whether anything changed."""
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "code":
            if cell.get("outputs") or cell.get("execution_count") is not None:
                changed = True
            cell.outputs = []
            cell.execution_count = None
        for key in [k for k in cell.metadata if k not in ("tags",)]:
            del cell.metadata[key]
            changed = True
    for key in [k for k in nb.metadata if k not in KEEP_METADATA]:
        del nb.metadata[key]
        changed = True
    if "language_info" in nb.metadata and set(nb.metadata.language_info) != {"name"}:
        nb.metadata.language_info = {"name": nb.metadata.language_info.get("name", "python")}
        changed = True
    return changed


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    check = "--check" in argv
    paths = [Path(a) for a in argv if a != "--check"]
    paths = paths or sorted((ROOT / "notebooks").glob("*.ipynb"))
    dirty = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if strip(nb):
            dirty.append(path)
            if not check:
                nbformat.write(nb, path)
    for path in dirty:
        print(f"{'has outputs' if check else 'stripped'}: {path}")
    return 1 if (check and dirty) else 0


if __name__ == "__main__":
    sys.exit(main())
