"""Progress bars for long fits: a tqdm bar over the optimiser steps.

Two ways to feed it, both free when off:

* :func:`mle_jax.fit` (``progress=``) runs the compiled loop in chunks of ``k`` steps
  (``solve(..., resume=state, stop=step)``) and updates the bar on the host between chunks.
  Each chunk is the same single-level ``while_loop`` as without a bar; the cost is one
  dispatch and one device sync per chunk.
* :func:`while_loop` (``solve(..., progress=k)``, for code that jits or vmaps ``solve`` itself)
  reports from inside the compiled loop: the unchanged body runs in an inner ``while_loop`` of
  at most ``k`` steps and an unordered ``jax.debug.callback`` (it also works under ``vmap``,
  once per fit of the batch) runs between chunks. With ``k = 0`` it is exactly
  ``lax.while_loop`` and no callback is traced.

``fit`` uses the host-driven chunks because a flat loop body compiles to faster steps than
one with a callback nested in it (numbers and the command: ``docs/design-notes.md``,
"Progress bars").

On the host the callback updates the innermost active :class:`ProgressBar` (a stack, so
nested use works; fits running concurrently in several threads would share the top bar).
tqdm is an optional dependency (``pip install mle_jax[progress]``), imported only when a bar
is created.
"""

from __future__ import annotations

import math
import time

import jax

from ._types import Status

__all__ = ["every", "while_loop", "ProgressBar"]

_ACTIVE: list = []


def every(progress, max_steps: int) -> int:
    """The update interval ``k`` (static) for ``progress=``; ``0`` means off.

    ``False``/``None``/``0``: off. ``True``: about every 1% of ``max_steps``, at least every
    step and at most every 50 steps. A positive integer: every that many steps.
    """
    if progress is None or progress is False:
        return 0
    if progress is True:
        return max(1, min(50, int(max_steps) // 100))
    if isinstance(progress, int) and progress >= 0:
        return int(progress)
    raise ValueError(
        f"progress must be True/False or a number of steps between updates >= 0, got {progress!r}"
    )


def while_loop(cond, body, state, *, every: int = 0):
    """``lax.while_loop(cond, body, state)``, reporting progress every ``every`` steps.

    The loop state must have ``step``, ``loss`` and ``grad_norm`` fields (the fit's state).
    """
    if not every:
        return jax.lax.while_loop(cond, body, state)

    def chunk(s):
        stop = s.step + every
        s = jax.lax.while_loop(lambda t: cond(t) & (t.step < stop), body, s)
        jax.debug.callback(_update, s.step, s.loss, s.grad_norm)
        return s

    return jax.lax.while_loop(cond, chunk, state)


def run_chunks(run, k: int, bar: ProgressBar, *, adaptive: bool = False, target_s: float = 0.1):
    """Drive a loop in chunks from the host: ``run(stop=...)`` then ``run(resume=, stop=)``.

    The next chunk is dispatched (asynchronously) before the current one is read, so the host
    work overlaps the computation. With ``adaptive``, ``k`` grows until a chunk takes about
    ``target_s`` seconds (a bar is not redrawn more often than that anyway).

    Returns:
        The raw loop state once its status is no longer running.
    """
    import numpy as np

    raw, _ = run(stop=jax.numpy.asarray(k))
    t0 = time.perf_counter()
    first = True
    while True:
        nxt, _ = run(resume=raw, stop=raw.step + k)
        if first:  # both loops compiled (the first chunk's and the resuming one)
            jax.block_until_ready(raw.step)
            bar.restart_clock()
            first = False
        status, step, loss, gn = jax.device_get((raw.status, raw.step, raw.loss, raw.grad_norm))
        if status != Status.RUNNING:
            return raw
        bar.update_to(int(step), float(np.asarray(loss)), float(np.asarray(gn)))
        if adaptive:
            t1 = time.perf_counter()
            if t1 - t0 < target_s:
                k *= 2
            t0 = t1
        raw = nxt


def _update(step, loss, grad_norm) -> None:
    if _ACTIVE:
        _ACTIVE[-1].update_to(int(step), float(loss), float(grad_norm))


class ProgressBar:
    """A tqdm bar over ``max_steps`` optimiser steps, active inside a ``with`` block.

    Args:
        total: ``max_steps`` of the fit.
        to_nll: maps the loop's loss (mean NLL of the standardised problem) to the number shown
            (the total NLL in the user's units).
        desc: label of the bar.
        **tqdm_kwargs: passed to ``tqdm.tqdm`` (e.g. ``file=``, ``disable=``).
    """

    def __init__(self, total: int, to_nll=lambda v: v, desc: str = "fit", **tqdm_kwargs):
        try:
            from tqdm import tqdm
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError(
                "progress bars need tqdm: pip install 'mle_jax[progress]' (or tqdm)"
            ) from e
        self._to_nll = to_nll
        self.bar = tqdm(total=int(total), desc=desc, unit="step", **tqdm_kwargs)
        self.updates = 0  # number of callbacks received (for tests and measurements)

    def update_to(self, step: int, loss: float, grad_norm: float) -> None:
        self.updates += 1
        if step > self.bar.n:  # unordered callbacks: never move backwards
            self.bar.update(step - self.bar.n)
        nll = self._to_nll(loss) if math.isfinite(loss) else loss
        self.bar.set_postfix(nll=f"{nll:.6g}", grad=f"{grad_norm:.2e}", refresh=False)

    def __enter__(self) -> ProgressBar:
        _ACTIVE.append(self)
        return self

    def restart_clock(self) -> None:
        """Measure the speed from now on (after the compile of the first chunk)."""
        self.bar.initial = self.bar.n
        self.bar.start_t = self.bar.last_print_t = time.time()

    def finish(self, step: int, status: str, loss=None, grad_norm=None) -> None:
        """Move the bar to the last step and show why the fit stopped, with the final NLL
        and gradient norm (not those of the last chunk)."""
        jax.effects_barrier()  # all callbacks of the loop have run
        if step > self.bar.n:
            self.bar.update(step - self.bar.n)
        if loss is not None and grad_norm is not None:
            nll = self._to_nll(loss) if math.isfinite(loss) else loss
            self.bar.set_postfix(nll=f"{nll:.6g}", grad=f"{grad_norm:.2e}", refresh=False)
        self.bar.total = max(int(step), 1)
        self.bar.set_description_str(f"fit ({status})", refresh=False)
        self.bar.refresh()

    def __exit__(self, *exc) -> None:
        jax.effects_barrier()
        _ACTIVE.remove(self)
        self.bar.close()
