"""Test configuration: float64 and strict rank promotion, as the anchors (optimistix, lineax) do,
and 8 CPU devices in-process so that sharded input is one more row of the test matrix.

Strict *dtype* promotion is not set: optax.lbfgs mixes int32 and int64 counters inside.
This root-level file also configures the doctests under mle_jax/, and runs the tests in
parallel (``-n auto --dist loadfile``) when pytest-xdist is loaded and no ``-n`` is given:
in addopts, ``-n`` would make ``pytest -p no:xdist`` an error ("unrecognized arguments")."""

# No persistent compilation cache for the test session (it once shared compiled programs
# between the xdist workers and the subprocesses): with it, every compiled program is
# serialised to disk and read back, and on jaxlib 0.10.2's CPU backend full runs of this
# suite crashed with segmentation faults inside that serialisation (`put_executable_and_time`,
# `get_executable_and_time`, also with the concurrency-optimized scheduler off);
# docs/design-notes.md, "CPU runtime deadlock". tests/test_cache.py still tests
# mj.enable_compilation_cache in subprocesses of its own.

import jax
import pytest

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
