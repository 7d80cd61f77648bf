"""What a Gaussian fit does when one run of the loop cannot finish: a far start that did not
converge is run again from the default start (and says so), and float32 FIML is fitted in
two legs, the second whitened where the first stopped (``docs/reliability.md``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import _validate
from ._bijections import MvnParams, raw_from_chol
from ._problem import best_point, far_start, prepare, result, start
from ._result import FitResult
from ._types import Status

__all__ = ["FIRST_LEG_TOL", "first_leg", "restart_far", "restart_far_many", "two_legs"]


def restart_far(res: FitResult, init, prep, rerun) -> FitResult:
    """A fit from a far ``init`` that did not converge: run again from the default start
    (same compiled loop) and keep that fit if it converges, saying so (``far_start``)."""
    far, how = far_start(init, prep)
    if not bool(far):
        return res
    again = result(prep, *rerun())
    if not bool(again.converged):
        return res
    _validate.warn(
        f"init is far from the data ({how}) and the fit from it stopped without converging "
        f"({Status.name(res.status)} after {int(res.num_steps)} steps); it was restarted from "
        f"the default start (the data's column means and variances) and converged in "
        f"{int(again.num_steps)} steps: the result is that fit. Pass a start nearer the data, "
        "or none"
    )
    return again


def restart_far_many(state, final_nll, init, prep, rerun, keep):
    """:func:`restart_far` for the members of a batch: the far, unconverged members are
    replaced by their fit from the default start where that one converges."""
    far, how = far_start(init, prep)
    status = np.asarray(state.status)
    redo = np.broadcast_to(far, status.shape) & (status != Status.CONVERGED) & keep
    if not redo.any():
        return state, final_nll
    state2, nll2 = rerun()
    take = redo & (np.asarray(state2.status) == Status.CONVERGED)
    if not take.any():
        return state, final_nll

    def pick(a, b):
        if a is None:
            return None
        mask = np.reshape(take, take.shape + (1,) * (np.ndim(a) - take.ndim))
        return jnp.where(mask, b, a)

    members = np.flatnonzero(take)
    _validate.warn(
        f"init is far from the data ({how}) for {int(redo.sum())} member(s), whose fits "
        f"stopped without converging; {members.size} of them (members "
        f"{members[:10].tolist()}) were restarted from the default start (the column means and "
        "variances) and converged: their results are those fits. Pass starts nearer the data, "
        "or none"
    )
    return jax.tree.map(pick, state, state2, is_leaf=lambda a: a is None), pick(final_nll, nll2)


FIRST_LEG_TOL = 1e-3  # the first leg of a float32 FIML fit: a preconditioner's digits


def first_leg(solver, data, model, precondition: str, prep, init_std):
    """Run ``solver`` to :data:`FIRST_LEG_TOL` and prepare the problem again, whitened where
    it stopped. Returns ``(prep, init_std, steps)``: unchanged (0 steps) when the first leg
    ends at a non-finite point."""
    state, _ = solver(prep.problem, init_std, np.asarray(FIRST_LEG_TOL, data.dtype))
    mean, chol = best_point(prep, state)
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(chol))):
        return prep, init_std, 0
    cov = chol @ np.swapaxes(chol, -1, -2)
    prep = prepare(data, model, precondition, around=(mean, cov))
    return prep, start(MvnParams(mean, raw_from_chol(chol)), prep), state.step


def two_legs(data, precondition: str, tol: float) -> bool:
    """Fit float32 FIML in two legs, the second whitened at the point the first reached?

    Pattern statistics are whitened by the preconditioner's covariance (``_fiml``), and the
    float32 noise in the NLL's gradient grows with how far the fit is from it: from a
    preconditioner of a few EM steps on flat, nearly collinear data (``missvals``) the
    gradient stalls near 3e-4, above the default ``tol``. Whitened at a point with a
    gradient of ``FIRST_LEG_TOL``, the noise is float32's own (~1e-7;
    ``docs/reliability.md``, "float32"). float64 has digits to spare.
    """
    return (
        data.stats.incomplete
        and np.dtype(data.dtype) == np.float32
        and precondition == "whiten"
        and tol < FIRST_LEG_TOL
    )
