"""mj.enable_compilation_cache: opt-in, and a second process loads what the first compiled."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mle_jax as mj

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np, mle_jax as mj
before = jax.config.jax_compilation_cache_dir
path = mj.enable_compilation_cache(sys.argv[1])
x = np.random.default_rng(0).normal(size=(50, 2))
res = mj.fit(x, max_steps=7)
print(json.dumps({"before": before, "path": path, "after": jax.config.jax_compilation_cache_dir,
                  "steps": int(res.num_steps)}))
"""


def _child(cache):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JAX_COMPILATION_CACHE", "JAX_PERSISTENT_CACHE"))
    }
    env["PYTHONPATH"] = str(ROOT)  # and no cache of the test session's (conftest.py)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(cache)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_does_not_enable_the_cache():
    import jax

    assert jax.config.jax_compilation_cache_dir is None or "mle_jax" not in str(
        jax.config.jax_compilation_cache_dir
    )


def test_second_process_reuses_the_cache(tmp_path):
    cache = tmp_path / "jax-cache"
    first = _child(cache)
    assert first["before"] is None and first["path"] == first["after"] == str(cache)
    entries = set(os.listdir(cache))
    assert entries, "the first process wrote no cache entries"
    second = _child(cache)
    assert second["steps"] == first["steps"]
    # the fit loop was found, not compiled again: no new entry for it
    assert set(os.listdir(cache)) == entries


def test_bad_argument():
    with pytest.raises(ValueError, match="min_compile_time_secs"):
        mj.enable_compilation_cache("/nonexistent-never-created", min_compile_time_secs=-1)
