"""Test-session settings: XLA flags, set before JAX starts its backend, and inherited by the
subprocesses and notebooks the tests run. A user's own ``XLA_FLAGS`` that already choose one
of these settings are left alone.

* ``--xla_backend_optimization_level=0``: XLA's CPU backend spends most of a first call in
  LLVM's optimisation passes; the tests check numbers, not speed, so they compile at level 0
  (2-3x faster compiles, the same IEEE arithmetic: no fast-math at any level).
* ``--xla_cpu_enable_concurrency_optimized_scheduler=false``, as the CLI sets it: jaxlib
  0.10.2's CPU runtime, running independent batched LAPACK calls of one program at once, can
  hang (``docs/design-notes.md``, "CPU runtime deadlock").
"""

import os

_flags = os.environ.get("XLA_FLAGS", "")
for _flag in (
    "--xla_backend_optimization_level=0",
    "--xla_cpu_enable_concurrency_optimized_scheduler=false",
):
    if _flag.split("=")[0] not in _flags:
        _flags = f"{_flags} {_flag}"
os.environ["XLA_FLAGS"] = _flags.strip()
