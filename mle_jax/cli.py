"""Command line: ``mle-jax demo [--out DIR]`` and ``mle-jax fit FILE`` (or ``python -m mle_jax``).

Bad input (missing or unreadable file, unknown or non-numeric column, a stray non-number
cell, missing values, too few rows, a missing optional package) gets one line on stderr and
exit code 2, never a traceback. ``mle-jax fit --help`` states how a CSV file is read.

The compiled fit loop is cached on disk (:func:`mle_jax.enable_compilation_cache`, in
``$MLE_JAX_CACHE_DIR`` or the user's cache folder) so that later runs start faster;
``--no-cache`` or ``MLE_JAX_NO_CACHE=1`` turns this off.

Enables float64 before any computation, as the library never does on import.
"""

from __future__ import annotations

import argparse
import sys


def _demo(args) -> int:
    import os

    import numpy as np
    import optax

    import mle_jax as mj

    if args.n < 10:
        raise _BadInput(f"--n must be at least 10, got {args.n}")
    if getattr(args, "out", None):
        _require("matplotlib", "plot", "demo --out")
        if os.path.exists(args.out) and not os.path.isdir(args.out):
            raise _BadInput(f"--out {args.out}: exists and is not a directory")
    _enable_cache(args)
    rng = np.random.default_rng(args.seed)
    true_mean = np.array([28.0, -3.0, 1000.0])
    a = np.array([[2.0, 0.0, 0.0], [0.8, 1.5, 0.0], [-3.0, 4.0, 10.0]])
    true_cov = a @ a.T
    x = rng.multivariate_normal(true_mean, true_cov, size=args.n)
    cf = mj.closed_form(x)
    # a rough start, as a user would guess it: the first 20 rows' means and variances
    init = (x[:20].mean(axis=0), np.diag(x[:20].var(axis=0)))
    fits = {
        "L-BFGS (default)": mj.fit(x, init=init),
        "Adam (lr 0.02)": mj.fit(x, init=init, optimizer=optax.adam(0.02), max_steps=5000),
    }
    print(f"mle_jax demo: n = {args.n} samples from a 3-D Gaussian (seed {args.seed}), float64\n")
    print(
        f"{'':18s} {'steps':>6s} {'status':>10s} {'NLL':>14s} {'|mean - closed|':>16s} "
        f"{'|cov - closed|':>15s}"
    )
    for name, r in fits.items():
        dm = np.max(np.abs(np.asarray(r.mean) - np.asarray(cf.mean)))
        dc = np.max(np.abs(np.asarray(r.cov) - np.asarray(cf.cov)))
        status = mj.Status.name(r.status)
        print(
            f"{name:18s} {int(r.num_steps):6d} {status:>10s} {float(r.nll):14.6f} "
            f"{dm:16.2e} {dc:15.2e}"
        )
    r = fits["L-BFGS (default)"]
    np.set_printoptions(precision=3, suppress=True)
    print("\nmean     true:", true_mean, "\n         fit: ", np.asarray(r.mean))
    print(
        "cov diag true:", np.diagonal(true_cov), "\n         fit: ", np.diagonal(np.asarray(r.cov))
    )
    print(
        "\nThe fitted values equal the closed form (sample mean, covariance with divisor n) and "
        "approach the true ones as n grows."
    )
    if getattr(args, "out", None):
        try:
            paths = _demo_figures(args.out, args.seed, x, r, true_mean, true_cov)
        except OSError as e:
            print(f"mle-jax: error: cannot write figures to {args.out}: {e}", file=sys.stderr)
            return 2
        print(f"\nwrote {len(paths)} figures:")
        for p in paths:
            print(f"  {p}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``mle-jax: error: ...`` on stderr, exit code 2."""

    def error(self, message):
        self.exit(2, f"mle-jax: error: {message} (see {self.prog} --help)\n")


class _BadInput(Exception):
    """A problem with the user's input, reported as one line and exit code 2."""


_OPTIMIZERS = ("lbfgs", "adam", "sgd")
_DEFAULT_LR = {"adam": 0.05, "sgd": 0.1}
_DEFAULT_STEPS = {"lbfgs": 1000, "adam": 10000, "sgd": 10000}
_MISSING_CHOICES = ("raise", "drop", "fiml")

_FIT_EPILOG = """\
CSV input: the first line is the header (repeated names become a, a.1, ...). Missing values
are empty cells, NA, NaN or nan. A column with no number in it (labels such as iris Species)
is skipped, with a note; in any other column a cell that is not a number (n/a, ?, -) is an
error naming its row and column. --columns chooses columns by name (.npy: by index).

Missing values: by default (--missing raise) they are an error. --missing fiml fits by
maximum likelihood over every observed value; --missing drop fits the complete rows only,
which biases the estimate unless values are missing completely at random.

Compiled code is cached in $MLE_JAX_CACHE_DIR, else $XDG_CACHE_HOME/mle_jax/jax
(~/.cache/mle_jax/jax), so that later runs start faster; --no-cache or MLE_JAX_NO_CACHE=1
turns this off.
"""


def _require(module: str, extra: str, flag: str) -> None:
    """Import an optional dependency now, or raise :class:`_BadInput` naming its extra."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        raise _BadInput(
            f"{flag} needs {module}, which is not installed: pip install 'mle_jax[{extra}]'"
        ) from None


def _enable_cache(args) -> None:
    """Turn on the persistent compilation cache unless opted out; a failure only warns."""
    import os

    import mle_jax as mj

    if getattr(args, "no_cache", False) or os.environ.get("MLE_JAX_NO_CACHE", "") not in (
        "",
        "0",
    ):
        return
    from ._cache import default_cache_dir

    path = default_cache_dir()
    try:
        os.makedirs(path, exist_ok=True)
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(f"{path} is not writable")
        mj.enable_compilation_cache(path)
    except (OSError, ValueError) as e:
        print(
            f"mle-jax: warning: no compilation cache ({e}); continuing without it "
            "(--no-cache or MLE_JAX_NO_CACHE=1 skips it)",
            file=sys.stderr,
        )


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

    from .data._csv import read_table

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


def _check_fit_accepts_missing() -> None:
    import inspect

    import mle_jax as mj

    try:
        params = inspect.signature(mj.fit).parameters
    except (TypeError, ValueError):  # pragma: no cover - not introspectable: let fit decide
        return
    if "missing" not in params and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        raise _BadInput(
            "--missing drop/fiml needs a newer mle_jax: this version's mle_jax.fit has no "
            "missing= option"
        )


def _optimizer(name: str, lr):
    import optax

    import mle_jax as mj

    if name == "lbfgs":
        if lr is not None:
            raise _BadInput("--lr applies to adam and sgd; L-BFGS chooses its steps by line search")
        return mj.default_optimizer(), "L-BFGS"
    lr = _DEFAULT_LR[name] if lr is None else lr
    if not 0 < lr < float("inf"):
        raise _BadInput(f"--lr must be a positive finite number, got {lr}")
    label = {"adam": "Adam", "sgd": "SGD"}[name]
    return (optax.adam(lr) if name == "adam" else optax.sgd(lr)), f"{label} (lr {lr:g})"


def _quiet():
    """Silence numpy's floating-point warnings: bad values are reported as one error line."""
    import contextlib
    import warnings

    import numpy as np

    stack = contextlib.ExitStack()
    stack.enter_context(np.errstate(all="ignore"))
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore", RuntimeWarning)
    return stack


def _fit_command(args) -> int:
    import json

    import numpy as np

    import mle_jax as mj

    try:
        x, names, notes = _load_table(args.file, args.columns)
        _check_values(x, names, args.file, args.missing)
        optimizer, opt_name = _optimizer(args.optimizer, args.lr)
        max_steps = _DEFAULT_STEPS[args.optimizer] if args.max_steps is None else args.max_steps
        if max_steps < 1:
            raise _BadInput(f"--max-steps must be at least 1, got {max_steps}")
        if args.tol is not None and not 0 < args.tol < float("inf"):
            raise _BadInput(f"--tol must be a positive finite number, got {args.tol}")
        dtype = np.float32 if args.float32 else np.float64
        if args.float32 and np.nanmax(np.abs(x), initial=0.0) > np.finfo(np.float32).max:
            raise _BadInput(
                f"{args.file}: values up to {np.nanmax(np.abs(x)):.3g} do not fit in float32 "
                "(largest 3.4e38); leave out --float32"
            )
        extra = {}
        if args.missing != "raise":
            _check_fit_accepts_missing()
            extra["missing"] = args.missing
        if args.plot:
            _require("matplotlib", "plot", "--plot")
        if args.progress:
            _require("tqdm", "progress", "--progress")
        data = x[:, 0] if x.shape[1] == 1 else x
        _enable_cache(args)
        with _quiet():
            try:
                result = mj.fit(
                    data.astype(dtype),
                    optimizer=optimizer,
                    max_steps=max_steps,
                    tol=args.tol,
                    columns=names,
                    progress=bool(args.progress),
                    **extra,
                )
            except TypeError as e:
                if extra and "missing" in str(e):
                    raise _BadInput(
                        f"--missing {args.missing} is not supported by this version of "
                        f"mle_jax.fit ({e})"
                    ) from None
                raise
            complete = ~np.isnan(x).any(axis=1)
            # float64 oracle; with missing values only the complete-case fit has a closed form
            cf = None
            if complete.all():
                cf = mj.closed_form(data)
            elif args.missing == "drop":
                cf = mj.closed_form(data[complete])
    except _BadInput as e:
        print(f"mle-jax: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, TypeError) as e:
        print(f"mle-jax: error: {args.file}: {e}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"mle-jax: note: {note}", file=sys.stderr)
    mean = np.atleast_1d(np.asarray(result.mean, np.float64))
    cov = np.atleast_2d(np.asarray(result.cov, np.float64))
    if cf is not None:
        cf_mean, cf_cov = np.atleast_1d(np.asarray(cf.mean)), np.atleast_2d(np.asarray(cf.cov))
        d_mean = float(np.max(np.abs(mean - cf_mean)))
        d_cov = float(np.max(np.abs(cov - cf_cov)))
        rel_cov = d_cov / float(np.max(np.abs(cf_cov)))
    status = mj.Status.name(result.status)
    plot = None
    if args.plot:
        try:
            with _quiet():
                plot = _save_fit_plot(data, result, names, args.plot)
        except (OSError, ValueError) as e:
            print(f"mle-jax: error: cannot write the figure {args.plot}: {e}", file=sys.stderr)
            return 2
    n, d = x.shape
    if args.json:
        out = {
            "file": args.file,
            "columns": names,
            "n": n,
            "d": d,
            "n_missing": int(np.isnan(x).sum()),
            "missing": args.missing,
            "optimizer": opt_name,
            "dtype": np.dtype(dtype).name,
            "mean": mean.tolist(),
            "std": np.sqrt(np.diagonal(cov)).tolist(),
            "cov": cov.tolist(),
            "nll": float(result.nll),
            "num_steps": int(result.num_steps),
            "status": status,
            "converged": bool(result.converged),
            "grad_norm": float(result.grad_norm),
            "closed_form": None,
            "max_abs_diff_mean": None,
            "max_abs_diff_cov": None,
            "plot": plot,
        }
        if cf is not None:
            out["closed_form"] = {"mean": cf_mean.tolist(), "cov": cf_cov.tolist()}
            out["max_abs_diff_mean"], out["max_abs_diff_cov"] = d_mean, d_cov
        print(json.dumps(out, indent=2))
        return 0
    width = max(10, *(len(c) for c in names))
    missing = f", {int(np.isnan(x).sum())} missing ({args.missing})" if np.isnan(x).any() else ""
    print(
        f"mle-jax fit {args.file}: n = {n}, d = {d}{missing}, {opt_name}, {np.dtype(dtype).name}\n"
    )
    print(f"{'':{width}s} {'mean':>14s} {'std':>14s}")
    for j, c in enumerate(names):
        print(f"{c:{width}s} {mean[j]:14.6g} {np.sqrt(cov[j, j]):14.6g}")
    if d > 1:
        print("\ncovariance (divisor n):")
        print(f"{'':{width}s} " + " ".join(f"{c[:14]:>14s}" for c in names))
        for j, c in enumerate(names):
            print(f"{c:{width}s} " + " ".join(f"{v:14.6g}" for v in cov[j]))
    print(
        f"\nNLL {float(result.nll):.10g}   steps {int(result.num_steps)}   status {status} "
        f"(gradient norm {float(result.grad_norm):.2e})"
    )
    if cf is not None:
        print(
            f"distance to the closed form: max |mean diff| {d_mean:.2e}, "
            f"max |cov diff| {d_cov:.2e} (relative {rel_cov:.2e})"
        )
    if plot:
        print(f"figure: {plot}")
    return 0


def _save_fit_plot(data, result, names, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import plotting

    fig = plotting.plot_fit(data, {"fit": result}, columns=names)
    try:
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
    return path


def _demo_figures(out: str, seed: int, x3, fit3, true_mean, true_cov) -> list:
    """The likelihood story as figures in ``out`` (:func:`mle_jax.plotting.story_figures`)."""
    import matplotlib

    matplotlib.use("Agg")
    from . import plotting

    return plotting.story_figures(out, seed=seed, data=x3, fit=fit3, truth=(true_mean, true_cov))


def main(argv=None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    Bad input exits with code 2 and one line on stderr. An unexpected error also prints one
    line (exit code 1); ``MLE_JAX_TRACEBACK=1`` shows its traceback instead.
    """
    import os

    import jax

    jax.config.update("jax_enable_x64", True)
    parser = _Parser(prog="mle-jax", description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--no-cache",
        action="store_true",
        help="do not use the on-disk compilation cache (also: MLE_JAX_NO_CACHE=1)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="fit a generated 3-D Gaussian and compare with the closed form",
    )
    demo.add_argument("--n", type=int, default=2000, help="number of samples (default 2000)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument(
        "--out",
        metavar="DIR",
        help="also write the story's figures (PNG) to DIR (needs matplotlib)",
    )
    demo.set_defaults(func=_demo)
    fit = sub.add_parser(
        "fit",
        parents=[common],
        help="fit a Gaussian to a CSV (header; NA/empty = missing) or .npy file",
        description="Fit a Gaussian by maximum likelihood to the numeric columns of a file.",
        epilog=_FIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument("file", help="a .csv file with a header line, or a .npy array (n, d)")
    fit.add_argument(
        "--columns",
        help="comma-separated column names (.npy: indices); default: every numeric column",
    )
    fit.add_argument(
        "--missing",
        choices=_MISSING_CHOICES,
        default="raise",
        help="missing values: raise an error (default), fiml (use every observed value) or "
        "drop (complete rows only; biased unless missing completely at random)",
    )
    fit.add_argument("--optimizer", choices=_OPTIMIZERS, default="lbfgs")
    fit.add_argument("--lr", type=float, help="learning rate: adam (default 0.05), sgd (0.1)")
    fit.add_argument("--max-steps", type=int, help="default 1000 (lbfgs), 10000 (adam, sgd)")
    fit.add_argument("--tol", type=float, help="gradient-norm tolerance (1e-9; float32: 1e-5)")
    fit.add_argument("--float32", action="store_true", help="compute in float32 (default float64)")
    fit.add_argument("--json", action="store_true", help="print machine-readable JSON")
    fit.add_argument(
        "--plot",
        metavar="OUT.png",
        help="write the fitted curve/ellipses figure (needs matplotlib)",
    )
    fit.add_argument("--progress", action="store_true", help="show a progress bar (needs tqdm)")
    fit.set_defaults(func=_fit_command)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except _BadInput as e:
        print(f"mle-jax: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mle-jax: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if os.environ.get("MLE_JAX_TRACEBACK", "") not in ("", "0"):
            raise
        msg = " ".join(str(e).split()) or "(no message)"
        print(
            f"mle-jax: internal error: {type(e).__name__}: {msg[:500]} (this is a bug: please "
            "report it; MLE_JAX_TRACEBACK=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
