"""Command line: ``mle-jax demo`` (and ``python -m mle_jax demo``).

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
    print(f"{'':18s} {'steps':>6s} {'status':>10s} {'NLL':>14s} {'|mean - closed|':>16s} "
          f"{'|cov - closed|':>15s}")
    for name, r in fits.items():
        dm = np.max(np.abs(np.asarray(r.mean) - np.asarray(cf.mean)))
        dc = np.max(np.abs(np.asarray(r.cov) - np.asarray(cf.cov)))
        status = mj.Status.name(r.status)
        print(f"{name:18s} {int(r.num_steps):6d} {status:>10s} {float(r.nll):14.6f} "
              f"{dm:16.2e} {dc:15.2e}")
    r = fits["L-BFGS (default)"]
    np.set_printoptions(precision=3, suppress=True)
    print("\nmean     true:", true_mean, "\n         fit: ", np.asarray(r.mean))
    print("cov diag true:", np.diagonal(true_cov), "\n         fit: ", np.diagonal(np.asarray(r.cov)))
    print("\nThe fitted values equal the closed form (sample mean, covariance with divisor n) and "
          "approach the true ones as n grows.")
    return 0


def main(argv=None) -> int:
    import jax

    jax.config.update("jax_enable_x64", True)
    parser = argparse.ArgumentParser(prog="mle-jax", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="fit a generated 3-D Gaussian and compare with the closed form")
    demo.add_argument("--n", type=int, default=2000, help="number of samples (default 2000)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
