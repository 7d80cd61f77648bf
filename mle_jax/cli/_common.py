"""Shared pieces of the command line: the one-line error, optional imports, the cache."""

from __future__ import annotations

import argparse
import sys


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``mle-jax: error: ...`` on stderr, exit code 2."""

    def error(self, message):
        self.exit(2, f"mle-jax: error: {message} (see {self.prog} --help)\n")


class _BadInput(Exception):
    """A problem with the user's input, reported as one line and exit code 2."""


def _require(module: str, extra: str, flag: str) -> None:
    """Import an optional dependency now, or raise :class:`_BadInput` naming its extra."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        raise _BadInput(
            f"{flag} needs {module}, which is not installed: pip install 'mle_jax[{extra}]'"
        ) from None


def _enable_cache(args) -> None:
    """Turn on the persistent compilation cache unless opted out; a failure only warns."""
    import os

    import mle_jax as mj

    if getattr(args, "no_cache", False) or os.environ.get("MLE_JAX_NO_CACHE", "") not in (
        "",
        "0",
    ):
        return
    from .._cache import default_cache_dir

    path = default_cache_dir()
    try:
        os.makedirs(path, exist_ok=True)
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(f"{path} is not writable")
        mj.enable_compilation_cache(path)
    except (OSError, ValueError) as e:
        print(
            f"mle-jax: warning: no compilation cache ({e}); continuing without it "
            "(--no-cache or MLE_JAX_NO_CACHE=1 skips it)",
            file=sys.stderr,
        )


def _quiet():
    """Silence numpy's floating-point warnings: bad values are reported as one error line."""
    import contextlib
    import warnings

    import numpy as np

    stack = contextlib.ExitStack()
    stack.enter_context(np.errstate(all="ignore"))
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore", RuntimeWarning)
    return stack
