"""Progress bars: same result with and without, the bar reaches the last step, off is free."""

import io

import numpy as np
import optax
import pytest

import mle_jax as mj
from mle_jax import _progress, _solve
from mle_jax._objective import FreeParams

from .helpers import prepared

pytest.importorskip("tqdm")


@pytest.fixture
def captured(monkeypatch):
    """Send bars to a buffer and keep them for inspection."""
    bars = []
    orig = _progress.ProgressBar.__init__

    def init(self, *args, **kwargs):
        orig(self, *args, file=io.StringIO(), **kwargs)
        bars.append(self)

    monkeypatch.setattr(_progress.ProgressBar, "__init__", init)
    return bars


def test_progress_gives_identical_result(captured, form="raw"):
    x = np.random.default_rng(0).normal(size=(200, 2)) @ np.array([[1.0, 0.5], [0.0, 2.0]])
    opt = optax.adam(0.05)
    kw = dict(optimizer=opt, max_steps=230, tol=1e-6, form=form, trace=True)
    off = mj.fit(x, **kw)
    on = mj.fit(x, progress=50, **kw)
    import jax

    leaves_off, leaves_on = jax.tree.leaves(off), jax.tree.leaves(on)
    assert len(leaves_off) == len(leaves_on) > 10
    for u, v in zip(leaves_off, leaves_on, strict=True):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    (bar,) = captured
    steps = int(on.num_steps)
    assert bar.bar.n == steps and bar.bar.total == steps
    assert bar.updates == (steps - 1) // 50  # one update per finished chunk of 50
    assert "max_steps" in bar.bar.desc or "converged" in bar.bar.desc


def test_progress_true_stats_form(captured):
    x = np.random.default_rng(1).normal(5.0, 2.0, size=(100, 3))
    r = mj.fit(x, progress=True, optimizer=optax.adam(0.05), max_steps=3000)
    cf = mj.closed_form(x)
    assert bool(r.converged)
    np.testing.assert_allclose(r.cov, cf.cov, rtol=1e-7)
    assert captured[0].bar.n == int(r.num_steps) > 100
    # the bar shows the NLL in the user's units
    nll = float(captured[0].bar.postfix.split("nll=")[1].split(",")[0])
    assert nll > float(r.nll) - 1e-6


def test_progress_argument_checked():
    assert _progress.every(False, 1000) == 0
    assert _progress.every(True, 1000) == 10
    assert _progress.every(True, 100000) == 50
    assert _progress.every(7, 1000) == 7
    with pytest.raises(ValueError, match="progress"):
        _progress.every(-1, 10)
    with pytest.raises(ValueError, match="progress"):
        _progress.every("yes", 10)


def test_in_loop_callback_under_vmap():
    """solve(progress=k) reports from inside the compiled loop, also under vmap."""
    import jax
    import jax.numpy as jnp

    x = np.random.default_rng(2).normal(size=(3, 50, 2))
    preps = [prepared(xi) for xi in x]
    problem = jax.tree.map(lambda *a: jnp.stack(a), *[p.problem for p in preps])
    init = FreeParams(jnp.zeros((3, 2)), jnp.zeros((3, 3)))
    calls = []

    class Sink:
        def update_to(self, step, loss, gn):
            calls.append(step)

    _progress._ACTIVE.append(Sink())
    try:
        solve = jax.jit(
            jax.vmap(
                lambda p, i: _solve.solve(
                    p, i, jnp.asarray(0.0), optimizer=optax.sgd(0.1), max_steps=20, progress=5
                )
            )
        )
        state, _ = solve(problem, init)
        jax.effects_barrier()
    finally:
        _progress._ACTIVE.pop()
    assert sorted(set(calls)) == [5, 10, 15, 20]
    assert len(calls) == 12  # once per member of the batch per chunk
    np.testing.assert_array_equal(np.asarray(state.step), [20, 20, 20])


def test_off_path_compiles_no_callback():
    x = np.random.default_rng(3).normal(size=(30, 2))
    prep = prepared(x)
    init = FreeParams(np.zeros(2), np.zeros(3))
    import jax.numpy as jnp

    args = (prep.problem, init, jnp.asarray(1e-9))
    off = _solve.solve_jit.lower(*args, optimizer=optax.adam(0.1), max_steps=10).as_text()
    on = _solve.solve_jit.lower(*args, optimizer=optax.adam(0.1), max_steps=10, progress=5)
    assert "callback" not in off
    assert "callback" in on.as_text()
