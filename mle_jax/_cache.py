"""Opt-in persistent compilation cache: a fresh process reuses the compiled fit loop.

The first :func:`mle_jax.fit` in a process spends most of its time compiling the optimiser
loop (seconds for L-BFGS on CPU). JAX can store compiled executables on disk and load them in
later processes; this module turns that on with settings that suit mle_jax (every executable
is cached, not only those that took over a second to compile).

It changes global JAX configuration, so the library never calls it by itself: a script, a
notebook or the CLI calls it once, before its first fit.
"""

from __future__ import annotations

import os

import jax

__all__ = ["enable_compilation_cache", "default_cache_dir"]


def default_cache_dir() -> str:
    """``$MLE_JAX_CACHE_DIR``, else ``$XDG_CACHE_HOME/mle_jax/jax`` (``~/.cache/mle_jax/jax``)."""
    env = os.environ.get("MLE_JAX_CACHE_DIR")
    if env:
        return os.path.expanduser(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "mle_jax", "jax")


def enable_compilation_cache(
    path: str | os.PathLike | None = None, *, min_compile_time_secs: float = 0.0
) -> str:
    """Turn on JAX's persistent compilation cache (global JAX config; opt-in).

    Later processes that call this with the same ``path`` load compiled fit loops from disk
    instead of compiling them again. The entries are keyed by JAX/XLA version, shapes, dtypes
    and the optimiser's code, so a stale entry is never used; delete the folder to reclaim
    space. Safe to call more than once.

    Args:
        path: folder for the cache; default :func:`default_cache_dir`. Created if missing.
        min_compile_time_secs: only executables that took at least this long to compile are
            stored; ``0.0`` (default) stores all of them (JAX's own default is 1 s, which
            skips most of mle_jax's small executables).

    Returns:
        The absolute path of the cache folder.

    Raises:
        ValueError: ``min_compile_time_secs`` is negative.

    Examples:
        >>> import tempfile, mle_jax as mj
        >>> folder = mj.enable_compilation_cache(tempfile.mkdtemp())  # doctest: +SKIP
    """
    min_compile_time_secs = float(min_compile_time_secs)
    if not min_compile_time_secs >= 0:
        raise ValueError(f"min_compile_time_secs must be >= 0, got {min_compile_time_secs}")
    path = os.fspath(path) if path is not None else default_cache_dir()
    path = os.path.abspath(os.path.expanduser(path))
    os.makedirs(path, exist_ok=True)
    previous = jax.config.jax_compilation_cache_dir  # pyright: ignore[reportAttributeAccessIssue]
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_time_secs)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    if previous is not None and os.path.abspath(previous) != path:
        # an earlier cache was already opened at another folder: reopen at the new one
        from jax.experimental.compilation_cache import compilation_cache

        compilation_cache.reset_cache()
    return path
