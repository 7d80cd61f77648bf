"""A :class:`~mle_jax.FitResult` on disk and on screen: ``save``/``load`` (``.npz`` arrays and
JSON metadata with a format version) and the short ``repr``, Markdown and HTML views."""

from __future__ import annotations

import dataclasses
import html as _html
import json
import os
import zipfile

import jax
import numpy as np

from ._types import Status

__all__ = ["FORMAT", "FORMAT_VERSION", "html", "load", "markdown", "save", "short_repr"]

FORMAT = "mle_jax.FitResult"
#: bump when the layout of the file changes; :func:`load` refuses newer files
FORMAT_VERSION = 1

_ARRAYS = (
    "mean", "cov", "std", "nll", "converged", "status", "num_steps", "grad_norm",
    "loss_history", "count", "free", "at_bound",
)  # fmt: skip


# ----------------------------------------------------------------------------- the model


class _NotPortable(Exception):
    pass


def _encode(v):
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, np.integer | np.floating | np.bool_):
        return v.item()
    if isinstance(v, np.ndarray):
        return {"array": v.tolist()}
    if isinstance(v, tuple | list):
        return {"tuple": [_encode(a) for a in v]}
    raise _NotPortable


def _decode(v):
    if isinstance(v, dict) and "array" in v:
        return np.asarray(v["array"], np.float64)
    if isinstance(v, dict) and "tuple" in v:
        return tuple(_decode(a) for a in v["tuple"])
    return v


def _model_meta(model) -> dict:
    """``{"class", "repr"}`` plus ``"fields"`` when the model is a built-in dataclass whose
    fields are plain data (so :func:`load` can rebuild it)."""
    cls = type(model)
    meta = {"class": cls.__name__, "repr": repr(model)[:500]}
    import mle_jax

    if getattr(mle_jax, cls.__name__, None) is cls and dataclasses.is_dataclass(model):
        try:
            fields = {
                f.name: _encode(getattr(model, f.name)) for f in dataclasses.fields(model) if f.init
            }
        except _NotPortable:
            return meta
        meta["fields"] = fields
    return meta


def _rebuild(meta: dict, path: str):
    import mle_jax

    if "fields" not in meta:
        raise ValueError(
            f"{path}: the fitted model {meta['repr']} cannot be rebuilt from the file (it holds "
            "functions); pass it: FitResult.load(path, model=...)"
        )
    cls = getattr(mle_jax, meta["class"])
    return cls(**{k: _decode(v) for k, v in meta["fields"].items()})


# ----------------------------------------------------------------------------- save/load


def save(res, path) -> str:
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    from . import __version__

    arrays = {}
    for name in _ARRAYS:
        value = getattr(res, name)
        if value is not None:
            arrays[name] = np.asarray(value)
    for i, leaf in enumerate(jax.tree.leaves(res.params)):
        arrays[f"params/{i}"] = np.asarray(leaf)
    for field, value in zip(res.stats._fields, res.stats, strict=True):
        arrays[f"stats/{field}"] = np.asarray(value)
    for field, value in zip(res.standardiser._fields, res.standardiser, strict=True):
        arrays[f"standardiser/{field}"] = np.asarray(value)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "mle_jax": __version__,
        "model": _model_meta(res.model),
        "stats": type(res.stats).__name__,
        "univariate": bool(res.univariate),
        "columns": None if res.columns is None else [str(c) for c in res.columns],
        "names": None if res.names is None else list(res.names),
    }
    arrays["__meta__"] = np.asarray(json.dumps(meta))
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def _read(path: str):
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path} is not a saved FitResult (not an .npz file: {e})") from None
    if "__meta__" not in arrays:
        raise ValueError(f"{path} is not a saved FitResult (no mle_jax metadata in the .npz)")
    try:
        meta = json.loads(str(arrays.pop("__meta__")))
    except json.JSONDecodeError:
        raise ValueError(f"{path} is not a saved FitResult (unreadable metadata)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a saved FitResult (format {meta.get('format')!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{path} was written by mle_jax {meta.get('mle_jax')} in file format {version}; this "
            f"mle_jax reads format {FORMAT_VERSION} and older: upgrade mle_jax"
        )
    return arrays, meta


def load(cls, path, model=None):
    """``cls`` (:class:`~mle_jax.FitResult`) read from ``path`` (see ``FitResult.load``)."""
    from ._bijections import MvnParams
    from ._model import Gaussian
    from ._models import Layout
    from ._patterns import PatternStats
    from ._standardise import Affine
    from .stats import SuffStats

    path = os.fspath(path)
    arrays, meta = _read(path)
    saved = meta["model"]
    if model is None:
        model = _rebuild(saved, path)
    elif type(model).__name__ != saved["class"]:
        raise ValueError(
            f"model is a {type(model).__name__}, but {path} holds a fit of {saved['repr']}"
        )
    stats_type = {"SuffStats": SuffStats, "PatternStats": PatternStats}[meta["stats"]]
    stats = stats_type(*(arrays[f"stats/{f}"] for f in stats_type._fields))
    standardiser = Affine(*(arrays[f"standardiser/{f}"] for f in Affine._fields))
    leaves = [arrays[f"params/{i}"] for i in range(sum(k.startswith("params/") for k in arrays))]
    d = int(np.shape(stats.mean)[-1])
    layout, names = None, None
    if isinstance(model, Gaussian):
        params = MvnParams(*leaves)
    else:
        model = model.bind(d)
        mean = np.reshape(arrays["mean"], (-1, d))[0].astype(np.float64)
        cov = np.reshape(arrays["cov"], (-1, d, d))[0].astype(np.float64)
        template = model.start(mean, cov)
        treedef = jax.tree.structure(template)
        shapes = [np.shape(a) for a in jax.tree.leaves(template)]
        batch = np.shape(arrays["nll"])
        if treedef.num_leaves != len(leaves) or any(
            np.shape(a)[len(batch) :] != s for a, s in zip(leaves, shapes, strict=True)
        ):
            raise ValueError(f"model does not match {path}: its parameters differ from the file's")
        params = jax.tree.unflatten(treedef, leaves)
        layout = Layout.of(model, template, d)
        names = tuple(meta["names"])
        if layout.size != np.shape(arrays["free"])[-1]:
            raise ValueError(f"model does not match {path}: it has {layout.size} free scalars")
    fields = {k: arrays[k] for k in _ARRAYS if k in arrays}
    fields["params"] = params
    columns = None if meta["columns"] is None else tuple(meta["columns"])
    return cls(
        **jax.device_put(fields),
        path=None,
        stats=stats,
        standardiser=standardiser,
        model=model,
        univariate=bool(meta["univariate"]),
        columns=columns,
        layout=layout,
        names=names,
    )


# ----------------------------------------------------------------------------- printing


def _describe(res) -> str:
    d = int(np.shape(res.stats.mean)[-1])
    model = res.model
    try:
        text = model.describe(d) if res.layout is None else model.describe()
    except TypeError:
        text = type(model).__name__
    return text


def _estimates(res, limit: int) -> tuple[list, int]:
    """``[(name, value)]`` of a single fit's parameters (at most ``limit``) and their number."""
    if res.layout is not None:
        import jax.numpy as jnp

        fixed = res.layout.fixed_values(res.params)
        values = np.asarray(res.layout.natural(jnp.asarray(res.free), fixed), np.float64)
        names = list(res.names or ())
    else:
        from .inference._errors import names as theta_names

        d = int(np.shape(res.stats.mean)[-1])
        rows, cols = np.tril_indices(d)
        mean = np.reshape(np.asarray(res.mean, np.float64), (d,))
        cov = np.reshape(np.asarray(res.cov, np.float64), (d, d))
        values = np.concatenate([mean, cov[rows, cols]])
        names = list(theta_names(d, res.univariate, res.columns)[0])
    pairs = list(zip(names, values.tolist(), strict=True))
    return pairs[:limit], len(pairs)


def _head(res) -> str:
    n = np.asarray(res.count)
    d = int(np.shape(res.stats.mean)[-1])
    if res.batch_shape:
        ok = int(np.asarray(res.converged).sum())
        total = int(np.prod(res.batch_shape))
        return (
            f"FitResult of {total} fits ({_describe(res)}, d={d}): {ok} converged; "
            f"n {n.min():g}..{n.max():g}; nll {np.nanmin(res.nll):.6g}..{np.nanmax(res.nll):.6g}"
        )
    status = Status.name(np.asarray(res.status))
    return (
        f"FitResult({_describe(res)}, d={d}, n={float(n):g}, nll={float(res.nll):.6g}, "
        f"{status} after {int(np.asarray(res.num_steps))} steps)"
    )


def short_repr(res) -> str:
    head = _head(res)
    if res.batch_shape:
        return head + "\n  members: res[k]; estimates: res.mean, res.cov"
    pairs, total = _estimates(res, 12)
    cells = ", ".join(f"{n}={v:.4g}" for n, v in pairs)
    more = f", ... ({total - len(pairs)} more)" if total > len(pairs) else ""
    return f"{head}\n  {cells}{more}"


def markdown(res) -> str:
    lines = [_head(res).replace("|", "\\|"), ""]
    if res.batch_shape:
        return "\n".join(lines)
    pairs, total = _estimates(res, 30)
    lines += ["| parameter | estimate |", "|---|---:|"]
    lines += [f"| {n.replace('|', chr(92) + '|')} | {v:.6g} |" for n, v in pairs]
    if total > len(pairs):
        lines.append(f"| ... {total - len(pairs)} more | |")
    return "\n".join(lines)


def html(res) -> str:
    out = [f"<p><code>{_html.escape(_head(res))}</code></p>"]
    if res.batch_shape:
        return out[0]
    pairs, total = _estimates(res, 30)
    out.append("<table><thead><tr><th>parameter</th><th>estimate</th></tr></thead><tbody>")
    out += [f"<tr><td>{_html.escape(n)}</td><td>{v:.6g}</td></tr>" for n, v in pairs]
    if total > len(pairs):
        out.append(f"<tr><td>... {total - len(pairs)} more</td><td></td></tr>")
    out.append("</tbody></table>")
    return "".join(out)
