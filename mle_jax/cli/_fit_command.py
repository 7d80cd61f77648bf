"""``mle-jax fit FILE``: fit a Gaussian to the numeric columns of a file and print it."""

from __future__ import annotations

import sys

from ._advice import advise
from ._common import _BadInput, _enable_cache, _quiet, _require
from ._load import _check_values, _load_table

_OPTIMIZERS = ("lbfgs", "adam", "sgd")
_MODELS = ("full", "diag", "spherical")
_DEFAULT_LR = {"adam": 0.05, "sgd": 0.1}
_DEFAULT_STEPS = {"lbfgs": 1000, "adam": 10000, "sgd": 10000}
_MISSING_CHOICES = ("raise", "drop", "fiml")

EXIT_CODES = """\
Exit codes: 0 the fit converged; 1 an internal error (a bug: MLE_JAX_TRACEBACK=1 shows it);
2 bad input or usage (one line on stderr); 3 the fit did not converge (the estimates are
printed, with status max_steps or nonfinite, and a warning); 130 interrupted.
"""

_FIT_EPILOG = """\
CSV input: the first line is the header (repeated names become a, a.1, ...). Fields are
separated by the delimiter detected in the head of the file (comma, semicolon, tab or |;
a comma when it cannot tell) or given with --delimiter. Missing values are empty cells, NA,
NaN or nan. A column with no number in it (labels such as iris Species, or an empty column
from a trailing delimiter) is skipped, with a note; in any other column a cell that is not a
number (n/a, ?, -) is an error naming its row and column. --columns chooses columns by name
(.npy: by index).

Missing values: by default (--missing raise) they are an error. --missing fiml fits by
maximum likelihood over every observed value; --missing drop fits the complete rows only,
which biases the estimate unless values are missing completely at random.

Model: --model full (default), diag (independent columns) or spherical (one variance);
--ridge R adds the penalty n R/2 tr(inverse covariance) to the NLL (with complete data: R
added to every variance), which lets constant, duplicated or dependent columns fit.

Warnings are printed as one line each: "mle-jax: warning: ...". --json adds standard errors
(from the observed information; null when the fit did not converge) and the fit's status.

{exit_codes}

Compiled code is cached in $MLE_JAX_CACHE_DIR, else $XDG_CACHE_HOME/mle_jax/jax
(~/.cache/mle_jax/jax), so that later runs start faster; --no-cache or MLE_JAX_NO_CACHE=1
turns this off.
""".replace("{exit_codes}", EXIT_CODES.rstrip())


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


def _model(args):
    """``(model or None, label)``: a ``Gaussian`` only when --model or --ridge asks for one
    (the default call stays ``fit(x)``)."""
    import math

    import mle_jax as mj

    ridge = 0.0 if args.ridge is None else float(args.ridge)
    if not (math.isfinite(ridge) and ridge >= 0):
        raise _BadInput(f"--ridge must be a finite number >= 0, got {args.ridge}")
    if args.model == "full" and ridge == 0:
        return None, "full"
    label = args.model + (f", ridge {ridge:g}" if ridge else "")
    return mj.Gaussian(covariance=args.model, ridge=ridge), label


def _closed_form(data, model, ridge: float):
    """The float64 closed form of the fitted model (complete data): the sample mean and the
    covariance with divisor n, its diagonal (diag) or mean variance (spherical), plus ridge."""
    import numpy as np

    import mle_jax as mj

    cf = mj.closed_form(data)
    mean, cov = np.asarray(cf.mean, np.float64), np.atleast_2d(np.asarray(cf.cov, np.float64))
    d = cov.shape[0]
    if model == "diag":
        cov = np.diag(np.diagonal(cov))
    elif model == "spherical":
        cov = np.trace(cov) / d * np.eye(d)
    return mean, cov + ridge * np.eye(d)


def _standard_errors(result, converged: bool):
    """``{"mean": ..., "cov": ..., "std": ...}`` (lists) or ``None`` for an unconverged fit."""
    import numpy as np

    import mle_jax as mj

    if not converged:
        return None
    se = mj.inference.standard_errors(result)
    return {
        "mean": np.atleast_1d(np.asarray(se.mean, np.float64)).tolist(),
        "cov": np.atleast_2d(np.asarray(se.cov, np.float64)).tolist(),
        "std": np.atleast_1d(np.asarray(se.std, np.float64)).tolist(),
    }


def _fit_command(args) -> int:
    """Load, fit, print; library warnings become one line each, their advice in flags."""
    import warnings

    state = {"names": [], "x": None}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return _fit_and_print(args, state)
        finally:
            seen = set()
            for w in list(caught):  # a copy: advise must not extend what is being read
                if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning)):
                    continue
                text = advise(str(w.message), state["names"], state["x"])
                if text not in seen:
                    seen.add(text)
                    print(f"mle-jax: warning: {text}", file=sys.stderr)


def _fit_and_print(args, state) -> int:
    import json

    import numpy as np

    import mle_jax as mj

    try:
        x, names, notes = _load_table(args.file, args.columns, args.delimiter)
        state["names"], state["x"] = names, x
        _check_values(x, names, args.file, args.missing)
        optimizer, opt_name = _optimizer(args.optimizer, args.lr)
        model, model_name = _model(args)
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
                    *(() if model is None else (model,)),
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
            converged = bool(result.converged)
            complete = ~np.isnan(x).any(axis=1)
            # float64 oracle; with missing values only the complete-case fit has a closed form
            cf = None
            ridge = 0.0 if model is None else model.ridge
            if complete.all():
                cf = _closed_form(data, args.model, ridge)
            elif args.missing == "drop":
                cf = _closed_form(data[complete], args.model, ridge)
            se = _standard_errors(result, converged) if args.json else None
    except _BadInput as e:
        print(f"mle-jax: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, TypeError) as e:
        text = advise(str(e), state["names"], state["x"])
        print(f"mle-jax: error: {args.file}: {text}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"mle-jax: note: {note}", file=sys.stderr)
    code = 0 if converged else 3
    mean = np.atleast_1d(np.asarray(result.mean, np.float64))
    cov = np.atleast_2d(np.asarray(result.cov, np.float64))
    cf_mean, cf_cov = np.zeros(0), np.zeros((0, 0))
    d_mean = d_cov = rel_cov = float("nan")
    if cf is not None:
        cf_mean, cf_cov = np.atleast_1d(cf[0]), np.atleast_2d(cf[1])
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
            "model": args.model,
            "ridge": 0.0 if model is None else model.ridge,
            "optimizer": opt_name,
            "dtype": np.dtype(dtype).name,
            "mean": mean.tolist(),
            "std": np.sqrt(np.diagonal(cov)).tolist(),
            "cov": cov.tolist(),
            "standard_errors": se,
            "nll": float(result.nll),
            "num_steps": int(result.num_steps),
            "status": status,
            "status_message": mj.Status.message(result.status),
            "converged": converged,
            "exit_code": code,
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
        return code
    width = max(10, *(len(c) for c in names))
    missing = f", {int(np.isnan(x).sum())} missing ({args.missing})" if np.isnan(x).any() else ""
    model_part = "" if model is None else f", {model_name}"
    print(
        f"mle-jax fit {args.file}: n = {n}, d = {d}{missing}{model_part}, {opt_name}, "
        f"{np.dtype(dtype).name}\n"
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
    return code


def _save_fit_plot(data, result, names, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .. import plotting

    fig = plotting.plot_fit(data, {"fit": result}, columns=names)
    try:
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
    return path
