"""Command line: ``mle-jax demo [--out DIR]`` and ``mle-jax fit FILE`` (or ``python -m mle_jax``).

``mle-jax demo`` prints a table of fits and writes the likelihood story's figures to
``./mle_jax_demo_figures/`` (or ``--out DIR``) when matplotlib is installed; without it, it
says how to get them (``pip install 'mle_jax[plot]'``) and still exits 0.

Bad input (missing or unreadable file, unknown or non-numeric column, a stray non-number
cell, missing values, too few rows, a missing optional package) gets one line on stderr and
exit code 2, never a traceback; its advice names the flag to pass (``--columns a,b``,
``--ridge 1e-06``, ``--missing fiml``). Library warnings are printed as one line each
(``mle-jax: warning: ...``), without file paths. ``mle-jax fit --help`` states how a CSV
file is read (the delimiter is detected, or set with ``--delimiter``).

Exit codes: 0 the fit converged (or the demo ran); 1 an internal error; 2 bad input or
usage; 3 the fit did not converge (its estimates and status are still printed); 130
interrupted.

The compiled fit loop is cached on disk (:func:`mle_jax.enable_compilation_cache`, in
``$MLE_JAX_CACHE_DIR`` or the user's cache folder) so that later runs start faster;
``--no-cache`` or ``MLE_JAX_NO_CACHE=1`` turns this off.

Enables float64 before any computation, as the library never does on import, and, being an
application, sets ``XLA_FLAGS=--xla_cpu_enable_concurrency_optimized_scheduler=false`` unless
the user chose that flag: it avoids a CPU runtime hang of jaxlib 0.10.2 that large FIML
standard errors can hit (``docs/design-notes.md``, "CPU runtime deadlock").
"""

from __future__ import annotations

import argparse
import os
import sys

from ._common import _BadInput, _Parser
from ._demo import DEFAULT_OUT, _demo
from ._fit_command import (
    _FIT_EPILOG,
    _MISSING_CHOICES,
    _MODELS,
    _OPTIMIZERS,
    EXIT_CODES,
    _fit_command,
)

_SCHEDULER = "--xla_cpu_enable_concurrency_optimized_scheduler=false"


def main(argv=None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    Bad input exits with code 2 and one line on stderr; a fit that did not converge exits
    with code 3 after printing its result. An unexpected error also prints one line (exit
    code 1); ``MLE_JAX_TRACEBACK=1`` shows its traceback instead.
    """

    import jax

    jax.config.update("jax_enable_x64", True)
    parser = _Parser(
        prog="mle-jax",
        description=(__doc__ or "mle-jax").splitlines()[0],
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = _Parser(add_help=False)
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
        help="write the story's figures (PNG, GIF) to DIR (needs matplotlib); default "
        f"./{DEFAULT_OUT}/ when matplotlib is installed, else only the table",
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
        "--delimiter",
        metavar="CHAR",
        help="field separator of a text file: one character, or tab; default: detected from "
        "the head of the file (comma, semicolon, tab or |)",
    )
    fit.add_argument(
        "--missing",
        choices=_MISSING_CHOICES,
        default="raise",
        help="missing values: raise an error (default), fiml (use every observed value) or "
        "drop (complete rows only; biased unless missing completely at random)",
    )
    fit.add_argument(
        "--model",
        choices=_MODELS,
        default="full",
        help="covariance: full (default), diag (independent columns) or spherical (one variance)",
    )
    fit.add_argument(
        "--ridge",
        type=float,
        metavar="R",
        help="regularise: add n R/2 tr(inverse covariance) to the NLL (complete data: R is "
        "added to every variance); lets constant or dependent columns fit",
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
    flags = os.environ.get("XLA_FLAGS", "")
    if _SCHEDULER.split("=")[0] not in flags:  # read when the backend starts, i.e. later
        os.environ["XLA_FLAGS"] = f"{flags} {_SCHEDULER}".strip()
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
