"""Test configuration: float64 and strict rank promotion, as the anchors (optimistix, lineax) do,
and 8 CPU devices in-process so that sharded input is one more row of the test matrix.

Strict *dtype* promotion is not set: optax.lbfgs mixes int32 and int64 counters inside.
This root-level file also configures the doctests under mle_jax/, and runs the tests in
parallel (``-n auto --dist loadfile``) when pytest-xdist is loaded and no ``-n`` is given:
in addopts, ``-n`` would make ``pytest -p no:xdist`` an error ("unrecognized arguments")."""

import atexit
import os
import shutil
import tempfile

# One persistent compilation cache for the test session, set before JAX is imported: the
# xdist workers, and the subprocesses and notebook kernels the tests start (they inherit the
# environment), load an executable another one compiled (same program, shapes, flags and JAX)
# instead of compiling it again. A cache the user configured is used as it is.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="mle-jax-tests-xla-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "-1"
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)  # the process that made it

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_num_cpu_devices", 8)  # before any backend starts; costs nothing measurable
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.hookimpl(tryfirst=True)  # before xdist's own pytest_cmdline_main reads -n
def pytest_cmdline_main(config):
    option = config.option
    if (
        config.pluginmanager.hasplugin("xdist")
        and not hasattr(config, "workerinput")  # a worker: never spawn more
        and getattr(option, "numprocesses", 0) is None  # no -n on the command line
        and not getattr(option, "tx", None)
        and getattr(option, "dist", "no") == "no"
        and not getattr(option, "usepdb", False)
    ):
        option.numprocesses = "auto"
        option.dist = "loadfile"


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_programs():
    """Drop JAX's compiled programs after each test module.

    A process keeps every program it compiles while its function lives (a module-level jit
    lives as long as the process), and on Linux each one holds a few memory mappings of its
    machine code. An xdist worker runs half the suite: about 57,000 mappings, near the
    kernel's default ``vm.max_map_count`` of 65,530, past which the next ``mmap`` fails and
    XLA's CPU compiler crashes with a segmentation fault (in compiling, or in storing or
    loading an executable of the persistent cache). Cleared per module, a worker peaked
    at ~18,000 (one full run); a program another module needs again comes from the persistent
    cache instead of a compile."""
    yield
    jax.clear_caches()
