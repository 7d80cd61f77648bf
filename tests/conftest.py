"""Test-session settings.

XLA's CPU backend spends most of a first call in LLVM's optimisation passes; the tests check
numbers, not speed, so they compile at optimisation level 0 (2-3x faster compiles, the
same IEEE arithmetic: no fast-math at any level). Set before JAX starts its backend, and
inherited by the subprocesses and notebooks the tests run. A user's own ``XLA_FLAGS`` that
already choose a level are left alone.
"""

import os

_flags = os.environ.get("XLA_FLAGS", "")
if "xla_backend_optimization_level" not in _flags:
    os.environ["XLA_FLAGS"] = f"{_flags} --xla_backend_optimization_level=0".strip()
