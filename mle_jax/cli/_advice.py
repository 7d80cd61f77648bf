"""Library messages in the command line's words: the flag to pass, spelled out.

The library's errors and warnings give advice for Python callers (``pass ridge=...``,
``drop it``, ``raise max_steps``); on the command line the same advice names the flag and,
where it can, its value (``--ridge 1e-06``, ``--columns a,b``, ``--max-steps``).
"""

from __future__ import annotations

import math
import re

from ._load import _columns_flag

# (library phrase, command-line phrase); applied in order
_PHRASES = (
    (
        "raise max_steps, loosen tol or pass another optimizer or init",
        "raise --max-steps, loosen --tol or try another --optimizer",
    ),
    ("refit with more max_steps", "fit again with a larger --max-steps"),
    ("pass ridge=... or a prior", "pass --ridge {ridge}"),
    ("pass ridge=...", "pass --ridge {ridge}"),
    ("pass a ridge or a prior that identifies it", "pass --ridge {ridge}"),
)


def ridge_hint(x) -> str:
    """A ridge to suggest: a millionth of the largest observed variance, rounded to a power
    of ten (the ridge is added to every variance, in the data's units)."""
    import warnings

    import numpy as np

    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # all-NaN columns: nanvar's "degrees of freedom"
        var = np.nanvar(np.asarray(x, np.float64), axis=0) if np.size(x) else np.zeros(1)
        top = float(np.nanmax(var, initial=0.0))
    if not (math.isfinite(top) and top > 0):
        return "1e-06"
    return f"{10.0 ** math.floor(math.log10(1e-6 * top)):g}"


def advise(message: str, names, x) -> str:
    """``message`` on one line, its advice in command-line flags.

    Args:
        message: a library error or warning text.
        names: the column names of the data being fitted (for ``--columns``).
        x: the data (for the suggested ``--ridge``), or ``None``.
    """
    text = " ".join(str(message).split())
    ridge = ridge_hint(x) if x is not None else "1e-06"
    for old, new in _PHRASES:
        text = text.replace(old, new.format(ridge=ridge))
    quoted = []
    for q in re.findall(r"'([^']*)'", text):
        if q in names and q not in quoted:
            quoted.append(q)
    names = list(names)
    if "; drop it" in text and quoted:
        keep = [c for c in names if c != quoted[0]]
        if keep:
            text = text.replace("; drop it", f"; drop it ({_columns_flag(keep)})", 1)
    if "drop one of them" in text and len(quoted) >= 2:
        keep = [c for c in names if c != quoted[1]]
        text = text.replace("drop one of them", f"drop one of them ({_columns_flag(keep)})", 1)
    text = text.replace("drop a dependent column", "drop a dependent column (--columns)")
    return text
