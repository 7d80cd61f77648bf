"""L-BFGS steps of a FIML fit against the number of EM steps behind its preconditioner.

``python -m benchmarks.missing_precondition``: the table in docs/design-notes.md ("Missing
data: start and preconditioner").
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import mle_jax as mj  # noqa: E402
from mle_jax import _problem  # noqa: E402

from .missing_peers import make_data  # noqa: E402


def main() -> None:
    sets = {name: mj.load_dataset(name)[0] for name in ("apple", "missvals", "mdata", "airquality")}
    sets["MCAR 2000x10"] = make_data(2000, 10, seed=1)
    print("EM steps (tol) | " + " | ".join(sets))
    default = _problem._EM_STEPS, _problem._EM_TOL
    try:
        for k, tol in ((0, 0.0), (5, 0.0), (20, 0.0), (20, 1e-3), (100, 0.0)):
            _problem._EM_STEPS, _problem._EM_TOL = k, tol
            _problem._em_jit.clear_cache()
            cells = []
            for x in sets.values():
                import warnings

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = mj.fit(x, missing="fiml", max_steps=3000)
                cells.append(f"{int(res.num_steps)}{'' if res.converged else ' (not converged)'}")
            print(f"{k:8d} ({tol:g}) | " + " | ".join(cells))
    finally:
        _problem._EM_STEPS, _problem._EM_TOL = default


if __name__ == "__main__":
    main()
