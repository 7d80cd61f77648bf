"""lavaan's model syntax, the common subset, parsed into lavaan's parameter table.

A statement is ``lhs op rhs1 + rhs2 + ...`` with ``op`` one of ``=~`` (is measured by),
``~`` (is regressed on; ``~ 1`` an intercept or latent mean) and ``~~`` (variance or
covariance). A term may carry modifiers joined by ``*``: a number (a fixed value), ``NA``
(free), a label (equal to every parameter with the same label), ``start(v)``, or ``c(...)``
with one modifier per group. ``#`` and ``!`` start comments; statements are separated by
newlines or ``;``, and a line without an operator continues the one before.

:func:`partable` adds what lavaan's ``cfa()``/``sem()`` add by default (``auto.fix.first``,
``auto.var``, ``auto.cov.lv.x``, free observed intercepts and latent means fixed at 0; with
``std_lv`` free loadings and latent variances fixed at 1) and the equalities of
``group_equal``. Pure host Python: the JAX model is in :mod:`mle_jax._sem`.
"""

from __future__ import annotations

import dataclasses
import re

__all__ = ["GROUP_EQUAL", "Row", "Statement", "parse", "partable"]

_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_UNSUPPORTED = ("<~", "~*~", ":=", "==", "|", "<", ">")

#: lavaan's ``group.equal`` names (those that apply to continuous models)
GROUP_EQUAL = (
    "loadings",
    "intercepts",
    "means",
    "residuals",
    "residual.covariances",
    "lv.variances",
    "lv.covariances",
    "regressions",
)


@dataclasses.dataclass(frozen=True)
class Term:
    """One right-hand-side term: a variable (``"1"`` for an intercept) and its modifiers,
    one tuple per kind (a single value applies to every group)."""

    var: str
    fixed: tuple = ()  # floats, or None (NA: free) per group
    label: tuple = ()
    start: tuple = ()


@dataclasses.dataclass(frozen=True)
class Statement:
    lhs: str
    op: str
    terms: tuple
    line: str  # the source, for messages


@dataclasses.dataclass(frozen=True)
class Row:
    """A row of the parameter table (lavaan's ``parTable``), per group (1-based).

    ``free`` is 0 for a fixed row, else the 1-based index of its free parameter (rows tied
    by a label or ``group_equal`` share it); ``value`` is the fixed value (or ``None``:
    the data choose the start); ``user``: written in the syntax."""

    lhs: str
    op: str
    rhs: str
    group: int
    free: int
    value: float | None
    label: str
    user: bool
    start: float | None = None

    @property
    def name(self) -> str:
        """lavaan's name: ``"f=~x2"``, ``"y~x"``, ``"x~~x"``, ``"x~1"``."""
        return f"{self.lhs}{self.op}{self.rhs}"


def _split_statements(syntax: str) -> list[str]:
    if not isinstance(syntax, str):
        raise TypeError(f"the model syntax must be a string, got {type(syntax).__name__}")
    lines = []
    for raw in syntax.replace(";", "\n").splitlines():
        line = re.split(r"[#!]", raw, maxsplit=1)[0].strip()
        if not line:
            continue
        has_op = "~" in line or any(op in line for op in _UNSUPPORTED)
        if lines and (not has_op or lines[-1].rstrip().endswith(("+", "*"))):
            lines[-1] = f"{lines[-1]} {line}"  # a continuation
        else:
            lines.append(line)
    return lines


def _syntax_error(line: str, why: str) -> ValueError:
    return ValueError(f"model syntax: {why} in line {line!r}")


def _modifier(text: str, line: str):
    """``(kind, values)``: one modifier (``c(...)`` gives one value per group)."""
    text = text.strip()
    if text.startswith("c(") and text.endswith(")"):
        parts = [p.strip() for p in text[2:-1].split(",")]
        kinds = {_modifier(p, line)[0] for p in parts if p not in ("NA",)}
        if len(kinds) > 1:
            raise _syntax_error(line, f"mixed kinds of modifier in {text!r}")
        kind = kinds.pop() if kinds else "fixed"
        values = tuple(_modifier(p, line)[1][0] if p != "NA" else None for p in parts)
        return kind, values
    if text.startswith("start(") and text.endswith(")"):
        inner = text[6:-1].strip()
        if not _NUMBER.match(inner):
            raise _syntax_error(line, f"start() takes a number, got {inner!r}")
        return "start", (float(inner),)
    if text == "NA":
        return "fixed", (None,)
    if _NUMBER.match(text):
        return "fixed", (float(text),)
    if _NAME.match(text):
        return "label", (text,)
    raise _syntax_error(line, f"cannot read the modifier {text!r}")


def _term(text: str, line: str) -> Term:
    parts = [p.strip() for p in _split_top(text, "*")]
    var = parts[-1]
    if var != "1" and not _NAME.match(var):
        raise _syntax_error(line, f"{var!r} is not a variable name")
    mods: dict = {"fixed": (), "label": (), "start": ()}
    for p in parts[:-1]:
        if not p:
            raise _syntax_error(line, "an empty modifier")
        kind, values = _modifier(p, line)
        if mods[kind]:
            raise _syntax_error(line, f"two {kind} modifiers on {var!r}")
        mods[kind] = values
    return Term(var, mods["fixed"], mods["label"], mods["start"])


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside parentheses."""
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == sep and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


def parse(syntax: str) -> tuple[Statement, ...]:
    """The statements of a model in lavaan's syntax (a clear ``ValueError`` quoting the line
    for what it cannot read)."""
    out = []
    for line in _split_statements(syntax):
        for op in _UNSUPPORTED:
            if op in line.replace("=~", "").replace("~~", "").replace("~", ""):
                raise _syntax_error(
                    line,
                    f"the operator {op!r} is not supported (supported: =~, ~, ~~, ~ 1, "
                    "fixed values 1*x, labels a*x)",
                )
        match = re.match(r"^(.*?)(=~|~~|~)(.*)$", line)
        if match is None:
            raise _syntax_error(line, "no operator (=~, ~ or ~~)")
        lhs, op, rhs = (s.strip() for s in match.groups())
        if not _NAME.match(lhs):
            raise _syntax_error(line, f"the left-hand side {lhs!r} is not one variable name")
        if not rhs:
            raise _syntax_error(line, "nothing on the right-hand side")
        pieces = _split_top(rhs, "+")
        if any(not p.strip() for p in pieces):
            raise _syntax_error(line, "an empty term (two '+' in a row, or a trailing '+')")
        terms = tuple(_term(p, line) for p in pieces)
        if op == "=~" and any(t.var == "1" for t in terms):
            raise _syntax_error(line, "'1' is not an indicator")
        if op == "~~" and any(t.var == "1" for t in terms):
            raise _syntax_error(line, "'1' has no variance; an intercept is 'x ~ 1'")
        out.append(Statement(lhs, op, terms, line))
    if not out:
        raise ValueError("model syntax: no statements (e.g. 'f =~ x1 + x2 + x3')")
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class Variables:
    observed: tuple  # in order of first appearance
    latent: tuple
    first_line: dict  # variable -> the line where it first appears (messages)


def variables(statements) -> Variables:
    latent = []
    for s in statements:
        if s.op == "=~" and s.lhs not in latent:
            latent.append(s.lhs)
    observed, first = [], {}
    for s in statements:
        for v in (s.lhs, *(t.var for t in s.terms)):
            if v == "1":
                continue
            first.setdefault(v, s.line)
            if v not in latent and v not in observed:
                observed.append(v)
    return Variables(tuple(observed), tuple(latent), first)


def _per_group(values: tuple, groups: int, line: str, what: str) -> tuple:
    if not values:
        return (None,) * groups
    if len(values) == 1:
        return values * groups
    if len(values) != groups:
        raise _syntax_error(line, f"c(...) gives {len(values)} {what}s for {groups} group(s)")
    return values


def partable(
    statements,
    groups: int = 1,
    *,
    std_lv: bool = False,
    group_equal: tuple = (),
    means: bool = True,
) -> tuple[Row, ...]:
    """lavaan's parameter table of ``statements`` for ``groups`` groups (see the module
    docstring for the defaults added); ``means``: with the mean structure (intercepts and
    latent means)."""
    unknown = sorted(set(group_equal) - set(GROUP_EQUAL))
    if unknown:
        raise ValueError(f"group_equal has {unknown}; lavaan's names are {GROUP_EQUAL}")
    names = variables(statements)
    lv, ov = names.latent, names.observed
    dependent = {s.lhs for s in statements if s.op == "~" and any(t.var != "1" for t in s.terms)}
    rows: list[dict] = []
    for g in range(1, groups + 1):
        rows += _group_rows(statements, g, groups, lv, ov, dependent, std_lv, group_equal, means)
    return _number(rows, group_equal)


def _group_rows(statements, g, groups, lv, ov, dependent, std_lv, group_equal, means):
    out: list[dict] = []
    seen: set = set()

    def add(lhs, op, rhs, value, label, user, start=None, free=None):
        key = (lhs, op, rhs) if op != "~~" else (op, *sorted((lhs, rhs)))
        if key in seen:
            return
        seen.add(key)
        out.append(
            dict(lhs=lhs, op=op, rhs=rhs, group=g, value=value, label=label or "",
                 user=user, start=start, free=free)
        )  # fmt: skip

    first_of = {}
    for s in statements:
        for t in s.terms:
            fixed = _per_group(t.fixed, groups, s.line, "value")[g - 1]
            label = _per_group(t.label, groups, s.line, "label")[g - 1]
            start = _per_group(t.start, groups, s.line, "start")[g - 1]
            free = not t.fixed or fixed is None
            if s.op == "=~":
                is_first = s.lhs not in first_of
                first_of.setdefault(s.lhs, t.var)
                if t.fixed:  # a number fixes, NA frees (also the first)
                    add(s.lhs, "=~", t.var, fixed, label, True, start, free=fixed is None)
                elif is_first and not std_lv:
                    add(s.lhs, "=~", t.var, 1.0, label, True, start, free=False)
                else:
                    add(s.lhs, "=~", t.var, None, label, True, start, free=True)
            elif s.op == "~" and t.var == "1":
                add(s.lhs, "~1", "", fixed, label, True, start, free=free)
            else:
                add(s.lhs, s.op, t.var, fixed, label, True, start, free=free)
    # auto.var: residual variances of the observed, variances of the latent variables
    for v in ov:
        add(v, "~~", v, None, "", False, free=True)
    for v in lv:
        if std_lv:
            add(v, "~~", v, 1.0, "", False, free=False)
        else:
            add(v, "~~", v, None, "", False, free=True)
    # auto.cov.lv.x: exogenous latent variables covary; so do exogenous observed covariates
    exo_lv = [v for v in lv if v not in dependent]
    regressors = {t.var for s in statements if s.op == "~" for t in s.terms if t.var != "1"}
    indicators = {t.var for s in statements if s.op == "=~" for t in s.terms}
    exo_ov = [v for v in ov if v in regressors and v not in dependent and v not in indicators]
    for block in (exo_lv, exo_ov):
        for i, a in enumerate(block):
            for b in block[i + 1 :]:
                add(a, "~~", b, None, "", False, free=True)
    # the mean structure: observed intercepts free, latent means 0 (free in groups 2+ when
    # the intercepts are equal across groups, as lavaan frees them)
    if not means:
        return out
    for v in ov:
        add(v, "~1", "", None, "", False, free=True)
    lv_means_free = g > 1 and "intercepts" in group_equal and "means" not in group_equal
    for v in lv:
        if lv_means_free:
            add(v, "~1", "", None, "", False, free=True)
        else:
            add(v, "~1", "", 0.0, "", False, free=False)
    return out


def _equal_kind(row: dict, lv: set) -> str | None:
    op, lhs, rhs = row["op"], row["lhs"], row["rhs"]
    if op == "=~":
        return "loadings"
    if op == "~":
        return "regressions"
    if op == "~1":
        return "means" if lhs in lv else "intercepts"
    if lhs == rhs:
        return "lv.variances" if lhs in lv else "residuals"
    return "lv.covariances" if lhs in lv else "residual.covariances"


def _number(rows: list[dict], group_equal: tuple) -> tuple[Row, ...]:
    """Free parameter numbers: one per free row, shared by rows with one label, and by the
    rows of one kind in ``group_equal`` across groups."""
    lv = {r["lhs"] for r in rows if r["op"] == "=~"}
    by_label: dict = {}
    by_key: dict = {}
    out, count = [], 0
    for r in rows:
        if not r["free"]:
            out.append(Row(r["lhs"], r["op"], r["rhs"], r["group"], 0, r["value"], r["label"],
                           r["user"], r["start"]))  # fmt: skip
            continue
        key = (r["lhs"], r["op"], r["rhs"])
        if r["label"] and r["label"] in by_label:
            free = by_label[r["label"]]
        elif _equal_kind(r, lv) in group_equal and key in by_key:
            free = by_key[key]
        else:
            count += 1
            free = count
        if r["label"]:
            by_label.setdefault(r["label"], free)
        by_key.setdefault(key, free)
        out.append(Row(r["lhs"], r["op"], r["rhs"], r["group"], free, None, r["label"],
                       r["user"], r["start"]))  # fmt: skip
    return tuple(out)
