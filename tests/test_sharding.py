"""Data sharded over 8 (fake CPU) devices and over two real processes: same answer as one device.

Both run in fresh subprocesses (``XLA_FLAGS=--xla_force_host_platform_device_count=...``
must be set before JAX starts), so the rest of the suite keeps its single device.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import mle_jax as mj

ROOT = Path(__file__).resolve().parents[1]

_EIGHT_DEVICES = textwrap.dedent(
    """
    import jax, numpy as np
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_numpy_rank_promotion", "raise")
    from jax.sharding import NamedSharding, PartitionSpec as P
    import mle_jax as mj
    from mle_jax import _shard
    from mle_jax.sharding import shard_rows

    assert jax.device_count() == 8, jax.devices()

    def rel(a, b):
        a, b = np.asarray(a), np.asarray(b)
        return float(np.abs(a - b).max() / np.abs(b).max())

    def check(res, ref, what):
        # the same problem on one device: 1e-10 relative (float64)
        assert bool(res.converged), (what, res.message)
        scale = np.sqrt(np.atleast_2d(ref.cov).diagonal().max())
        err = np.abs(np.asarray(res.mean) - np.asarray(ref.mean)).max()
        assert err <= 1e-10 * scale + 4e-16 * np.abs(np.asarray(ref.mean)).max(), what
        assert rel(res.cov, ref.cov) < 1e-10, (what, rel(res.cov, ref.cov))
        assert abs(float(res.nll) - float(ref.nll)) <= 1e-10 * abs(float(ref.nll)), what

    rng = np.random.default_rng(0)
    a = np.array([[1.0, 0.5, 0.0], [0.0, 2.0, 0.3], [0.0, 0.0, 3.0]])
    x = rng.normal(size=(1003, 3)) @ a + 1e5
    ref = mj.fit(x)
    cf = mj.closed_form(x)

    # uneven n: 1003 rows over 8 devices -> padded to 1008 with zero weights
    mesh = jax.make_mesh((8,), ("data",))
    xs, ws = shard_rows(x, mesh)
    assert xs.shape == (1008, 3) and float(ws.sum()) == 1003.0
    assert len(xs.sharding.device_set) == 8 and _shard.row_axes(xs) == ("data",)
    assert "psum" in str(jax.make_jaxpr(_shard._sharded_stats_fn(mesh, ("data",), True))(xs, ws))
    st, st1 = _shard.suff_stats_any(xs, ws), mj.stats.suff_stats(x)
    assert rel(st.mean, st1.mean) < 1e-14 and rel(st.scatter, st1.scatter) < 1e-12
    res = mj.fit(xs, weights=ws)
    check(res, ref, "padded 1003 rows")
    assert rel(res.cov, cf.cov) < 1e-8  # the closed form, to the optimiser's tolerance
    check(mj.fit(xs, weights=ws, form="raw"), mj.fit(x, form="raw"), "raw form")

    # even n, no weights, a plain device_put
    x2 = x[:1000]
    xs2 = jax.device_put(x2, NamedSharding(mesh, P("data", None)))
    check(mj.fit(xs2), mj.fit(x2), "even rows")

    # univariate
    xs1 = jax.device_put(x2[:, 0], NamedSharding(mesh, P("data")))
    r1 = mj.fit(xs1)
    assert r1.mean.shape == ()
    check(r1, mj.fit(x2[:, 0]), "univariate")

    # a 2-D mesh: rows over both axes, and rows over one axis (replicated over the other)
    mesh2 = jax.make_mesh((4, 2), ("a", "b"))
    xs, ws = shard_rows(x, mesh2)
    assert _shard.row_axes(xs) == ("a", "b")
    check(mj.fit(xs, weights=ws), ref, "mesh (4, 2), rows over a and b")
    xs, ws = shard_rows(x, mesh2, axis="a")
    assert _shard.row_axes(xs) == ("a",) and xs.shape[0] == 1004
    check(mj.fit(xs, weights=ws), ref, "mesh (4, 2), rows over a")

    # weights sharded with data and a few all-padding shards (n smaller than the mesh)
    xs, ws = shard_rows(x[:13], mesh)
    assert xs.shape[0] == 16
    check(mj.fit(xs, weights=ws), mj.fit(x[:13]), "13 rows on 8 devices")
    print("OK")
    """
)


def _env(devices: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env.pop("JAX_PLATFORMS", None)
    env["JAX_PLATFORMS"] = "cpu"
    return env


def test_fit_on_eight_devices_equals_one_device(capsys):
    """In-process: conftest.py gives this session 8 CPU devices."""
    import jax

    if jax.device_count() < 8:
        pytest.skip("needs 8 devices (conftest.py sets jax_num_cpu_devices)")
    exec(compile(_EIGHT_DEVICES, "eight_devices", "exec"), {})
    assert capsys.readouterr().out.strip().endswith("OK")


_PROCESS = textwrap.dedent(
    """
    import json, sys
    import jax
    pid, port = int(sys.argv[1]), int(sys.argv[2])
    jax.config.update("jax_enable_x64", True)
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=pid,
        initialization_timeout=90,
    )
    import numpy as np
    import mle_jax as mj
    from mle_jax.sharding import shard_rows

    assert jax.process_count() == 2 and jax.device_count() == 4
    x = np.load(sys.argv[3])
    mine = x[:601] if pid == 0 else x[601:]  # uneven: 601 and 400 rows
    xg, wg = shard_rows(mine)
    assert not xg.is_fully_addressable and xg.shape[0] == 2 * 602
    res = mj.fit(xg, weights=wg)
    print(json.dumps({
        "mean": np.asarray(res.mean).tolist(), "cov": np.asarray(res.cov).tolist(),
        "nll": float(res.nll), "status": int(res.status), "count": float(res.count),
    }))
    jax.distributed.shutdown()
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_the_single_process_fit(tmp_path):
    x = np.random.default_rng(1).normal(size=(1001, 3)) * [1.0, 2.0, 3.0] + 1e3
    path = tmp_path / "x.npy"
    np.save(path, x)
    port = str(_free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PROCESS, str(pid), port, str(path)],
            env=_env(2),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for pid in (0, 1)
    ]
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=240))
    except subprocess.TimeoutExpired:  # pragma: no cover
        for p in procs:
            p.kill()
            p.communicate()
        pytest.fail("the two-process fit did not finish in 240 s")
    finally:
        for p in procs:
            if p.poll() is None:  # pragma: no cover
                p.kill()
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-4000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert results[0] == results[1]  # every process holds the same (replicated) answer
    ref = mj.fit(x)
    got = results[0]
    assert got["status"] == 0 and got["count"] == 1001.0
    cov = np.asarray(ref.cov)
    assert np.abs(np.asarray(got["cov"]) - cov).max() < 1e-10 * np.abs(cov).max()
    scale = np.sqrt(cov.diagonal().max())
    mean = np.asarray(ref.mean)
    assert np.all(np.abs(np.asarray(got["mean"]) - mean) <= 1e-10 * scale + 4e-16 * np.abs(mean))
    assert abs(got["nll"] - float(ref.nll)) < 1e-10 * abs(float(ref.nll))
