"""Command line: ``mle-jax demo [--out DIR]`` and ``mle-jax fit FILE`` (or ``python -m mle_jax``).

Bad input (missing file, unknown or non-numeric column, missing values, too few rows) gets
one line on stderr and exit code 2, never a traceback.

Enables float64 before any computation, as the library never does on import.
"""

from __future__ import annotations

import argparse
import sys


def _demo(args) -> int:
    import numpy as np
    import optax

    import mle_jax as mj

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
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _BadInput(Exception):
    """A problem with the user's input, reported as one line and exit code 2."""


_OPTIMIZERS = ("lbfgs", "adam", "sgd")
_DEFAULT_LR = {"adam": 0.05, "sgd": 0.1}
_DEFAULT_STEPS = {"lbfgs": 1000, "adam": 10000, "sgd": 10000}


def _load_table(path: str, columns):
    """Read a CSV (header; ``NA``/``NaN``/empty = missing) or ``.npy`` file.

    Returns ``(x (n, k) float64, names, notes)``; raises :class:`_BadInput`.
    """
    import os

    import numpy as np

    from .data import read_csv

    if not os.path.exists(path):
        raise _BadInput(f"{path}: no such file")
    if os.path.isdir(path):
        raise _BadInput(f"{path}: is a directory, not a data file")
    ext = os.path.splitext(path)[1].lower()
    notes = []
    wanted = None if columns is None else [c.strip() for c in columns.split(",") if c.strip()]
    if columns is not None and not wanted:
        raise _BadInput("--columns is empty")
    if ext == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise _BadInput(f"{path}: cannot read as .npy ({e})") from None
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
        return arr, names, notes
    if ext not in (".csv", ".txt", ".tsv") and ext:
        raise _BadInput(f"{path}: unsupported file type {ext!r}; use a .csv or .npy file")
    try:
        data, names, text = read_csv(path)
    except UnicodeDecodeError:
        raise _BadInput(f"{path}: not a text CSV file") from None
    except ValueError as e:
        if "no numeric column" in str(e) and wanted is None:
            raise _BadInput(f"{e}; no column holds only numbers") from None
        raise _BadInput(str(e)) from None
    if wanted is None:
        if text:
            notes.append(f"skipping non-numeric column(s): {', '.join(text)}")
        return data, names, notes
    idx = []
    for c in wanted:
        if c in names:
            idx.append(names.index(c))
        elif c in text:
            bad = str(next(v for v in text[c] if v.lower() not in ("", "na", "nan")))
            raise _BadInput(f"column {c!r} is not numeric (it holds values like {bad!r})")
        else:
            raise _BadInput(
                f"unknown column {c!r}; the file has columns: {', '.join(list(names) + list(text))}"
            )
    return data[:, idx], [names[j] for j in idx], notes


def _check_missing(x, names, path):
    import numpy as np

    bad = ~np.isfinite(x)
    if not bad.any():
        return
    cols = [f"{names[j]!r} ({int(bad[:, j].sum())})" for j in range(x.shape[1]) if bad[:, j].any()]
    rows = np.flatnonzero(bad.any(axis=1))
    first = ", ".join(str(int(r) + 2) for r in rows[:5])  # file lines: header is line 1
    raise _BadInput(
        f"{path}: {len(rows)} row(s) have missing or non-finite values, in column(s) "
        f"{', '.join(cols)} (first at data line(s) {first}); mle-jax fit has no missing-data "
        "option yet: drop those rows or choose other --columns"
    )


def _optimizer(name: str, lr):
    import optax

    import mle_jax as mj

    if name == "lbfgs":
        if lr is not None:
            raise _BadInput("--lr applies to adam and sgd; L-BFGS chooses its steps by line search")
        return mj.default_optimizer(), "L-BFGS"
    lr = _DEFAULT_LR[name] if lr is None else lr
    if not lr > 0:
        raise _BadInput(f"--lr must be positive, got {lr}")
    label = {"adam": "Adam", "sgd": "SGD"}[name]
    return (optax.adam(lr) if name == "adam" else optax.sgd(lr)), f"{label} (lr {lr:g})"


def _fit_command(args) -> int:
    import json

    import numpy as np

    import mle_jax as mj

    try:
        x, names, notes = _load_table(args.file, args.columns)
        _check_missing(x, names, args.file)
        optimizer, opt_name = _optimizer(args.optimizer, args.lr)
        max_steps = _DEFAULT_STEPS[args.optimizer] if args.max_steps is None else args.max_steps
        if max_steps < 1:
            raise _BadInput(f"--max-steps must be at least 1, got {max_steps}")
        if args.tol is not None and not args.tol > 0:
            raise _BadInput(f"--tol must be positive, got {args.tol}")
        dtype = np.float32 if args.float32 else np.float64
        data = x[:, 0] if x.shape[1] == 1 else x
        result = mj.fit(
            data.astype(dtype),
            optimizer=optimizer,
            max_steps=max_steps,
            tol=args.tol,
            columns=names,
            progress=bool(args.progress),
        )
    except _BadInput as e:
        print(f"mle-jax: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, TypeError) as e:
        print(f"mle-jax: error: {args.file}: {e}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"mle-jax: note: {note}", file=sys.stderr)
    cf = mj.closed_form(data)  # float64 oracle
    mean = np.atleast_1d(np.asarray(result.mean, np.float64))
    cov = np.atleast_2d(np.asarray(result.cov, np.float64))
    cf_mean, cf_cov = np.atleast_1d(np.asarray(cf.mean)), np.atleast_2d(np.asarray(cf.cov))
    d_mean = float(np.max(np.abs(mean - cf_mean)))
    d_cov = float(np.max(np.abs(cov - cf_cov)))
    rel_cov = d_cov / float(np.max(np.abs(cf_cov)))
    status = mj.Status.name(result.status)
    plot = None
    if args.plot:
        try:
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
            "closed_form": {"mean": cf_mean.tolist(), "cov": cf_cov.tolist()},
            "max_abs_diff_mean": d_mean,
            "max_abs_diff_cov": d_cov,
            "plot": plot,
        }
        print(json.dumps(out, indent=2))
        return 0
    width = max(10, *(len(c) for c in names))
    print(f"mle-jax fit {args.file}: n = {n}, d = {d}, {opt_name}, {np.dtype(dtype).name}\n")
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
    """The seed's story as PNG files in ``out``; returns their paths."""
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import optax

    import mle_jax as mj

    from . import plotting

    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []

    def save(fig, name):
        path = os.path.join(out, name)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)

    # 1. one point, two candidate normals
    save(plotting.point_densities(32.0, [(28.0, 2.0), (30.0, 2.0)]).figure, "01_one_point.png")
    # 2. the likelihood over mu: one point, then several (product and its log)
    few = np.round(rng.normal(30.0, 2.0, size=6), 1)
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4), layout="constrained")
    plotting.likelihood_curve(32.0, std=2.0, ax=axes[0])
    plotting.likelihood_curve(few, std=2.0, ax=axes[1])
    plotting.likelihood_curve(few, std=2.0, ax=axes[2], log=True)
    save(fig, "02_likelihood_curve.png")
    # 3. brute force: the grid of NLL over (mu, sigma)
    x1 = rng.normal(30.0, 2.0, size=200)
    save(plotting.nll_surface(x1, show_grid_min=True).figure, "03_grid_search.png")
    # 4.-5. gradient descent from a poor start: paths and loss curves
    init = (24.0, 5.0**2)
    fits = {
        "SGD (lr 0.05)": mj.fit(
            x1, optimizer=optax.sgd(0.05), init=init, trace=True, max_steps=2000
        ),
        "Adam (lr 0.1)": mj.fit(
            x1, optimizer=optax.adam(0.1), init=init, trace=True, max_steps=2000
        ),
        "L-BFGS": mj.fit(x1, init=init, trace=True),
    }
    save(plotting.nll_surface(x1, fits).figure, "04_descent_paths.png")
    cf1 = mj.closed_form(x1)
    ref = float(mj.nll(mj.MvnParams.from_mean_cov(cf1.mean, cf1.cov), x1))
    save(plotting.loss_history(fits, reference=ref).figure, "05_loss_history.png")
    # 6.-7. the multivariate fit: ellipses and a Q-Q check
    true = mj.Estimate(true_mean, true_cov, np.sqrt(np.diagonal(true_cov)))
    cols = ["x0", "x1", "x2"]
    save(
        plotting.pairwise_ellipses(x3, {"fit": fit3, "true": true}, columns=cols),
        "06_multivariate_ellipses.png",
    )
    save(plotting.qq_plot(x3, fit3).figure, "07_qq_mahalanobis.png")
    return paths


def main(argv=None) -> int:
    import jax

    jax.config.update("jax_enable_x64", True)
    parser = _Parser(prog="mle-jax", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = sub.add_parser(
        "demo", help="fit a generated 3-D Gaussian and compare with the closed form"
    )
    demo.add_argument("--n", type=int, default=2000, help="number of samples (default 2000)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--out", metavar="DIR", help="also write the story's figures (PNG) to DIR")
    demo.set_defaults(func=_demo)
    fit = sub.add_parser(
        "fit", help="fit a Gaussian to a CSV (header; NA/empty = missing) or .npy file"
    )
    fit.add_argument("file", help="a .csv file with a header line, or a .npy array (n, d)")
    fit.add_argument(
        "--columns",
        help="comma-separated column names (.npy: indices); default: every numeric column",
    )
    fit.add_argument("--optimizer", choices=_OPTIMIZERS, default="lbfgs")
    fit.add_argument("--lr", type=float, help="learning rate: adam (default 0.05), sgd (0.1)")
    fit.add_argument("--max-steps", type=int, help="default 1000 (lbfgs), 10000 (adam, sgd)")
    fit.add_argument("--tol", type=float, help="gradient-norm tolerance (1e-9; float32: 1e-5)")
    fit.add_argument("--float32", action="store_true", help="compute in float32 (default float64)")
    fit.add_argument("--json", action="store_true", help="print machine-readable JSON")
    fit.add_argument("--plot", metavar="OUT.png", help="write the fitted curve/ellipses figure")
    fit.add_argument("--progress", action="store_true", help="show a progress bar (needs tqdm)")
    fit.set_defaults(func=_fit_command)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
