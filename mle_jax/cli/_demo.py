"""``mle-jax demo``: fit a generated 3-D Gaussian, print the table, draw the story."""

from __future__ import annotations

import functools
import sys

from ._common import _BadInput, _enable_cache, _require

DEFAULT_OUT = "mle_jax_demo_figures"
"""The folder (in the current directory) the demo writes its figures to without ``--out``."""


def _has_matplotlib() -> bool:
    import importlib

    try:
        importlib.import_module("matplotlib")
    except ImportError:
        return False
    return True


@functools.cache
def _adam():
    """The demo's Adam as one object: a second demo in the same process (the tests) reuses
    its compiled loop (the optimiser is a static argument of the loop)."""
    import optax

    return optax.adam(0.02)


def _demo(args) -> int:
    import os

    import numpy as np

    import mle_jax as mj

    if args.n < 10:
        raise _BadInput(f"--n must be at least 10, got {args.n}")
    chosen = getattr(args, "out", None)
    if chosen:  # asked for: matplotlib is required
        _require("matplotlib", "plot", "demo --out")
    out = chosen or (os.path.join(".", DEFAULT_OUT) if _has_matplotlib() else None)
    if out and os.path.exists(out) and not os.path.isdir(out):
        raise _BadInput(f"{'--out ' if chosen else ''}{out}: exists and is not a directory")
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
        "Adam (lr 0.02)": mj.fit(x, init=init, optimizer=_adam(), max_steps=5000),
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
    if out is None:
        print("\nfigures: matplotlib is not installed; pip install 'mle_jax[plot]' for figures")
        return 0
    try:
        paths = _demo_figures(out, args.seed, x, r, true_mean, true_cov)
    except OSError as e:
        print(f"mle-jax: error: cannot write figures to {out}: {e}", file=sys.stderr)
        return 2
    if not chosen:
        print(f"\nwrote {len(paths)} figures to {out}{os.sep} (--out DIR chooses the folder)")
        return 0
    print(f"\nwrote {len(paths)} figures:")
    for p in paths:
        print(f"  {p}")
    return 0


def _demo_figures(out: str, seed: int, x3, fit3, true_mean, true_cov) -> list:
    """The likelihood story as figures in ``out`` (:func:`mle_jax.plotting.story_figures`)."""
    import matplotlib

    matplotlib.use("Agg")
    from .. import plotting

    return plotting.story_figures(out, seed=seed, data=x3, fit=fit3, truth=(true_mean, true_cov))
