"""Data on many devices and hosts: lay rows out over a mesh, then call :func:`mle_jax.fit`.

``mj.fit(x)`` accepts a ``jax.Array`` sharded along its rows (a ``NamedSharding`` with the
sample axis split over one or more mesh axes): every device reduces its rows to centred
sufficient statistics and these are merged with ``psum`` inside ``jax.shard_map`` (see
:mod:`mle_jax._shard`), so no device ever holds more than its own rows. The optimisation
itself runs on ``O(d^2)`` statistics and is replicated. This module only helps build such an
array when the row count does not divide evenly (padding rows with zero weight), in one
process or in several: the library never calls ``jax.distributed.initialize`` (you do, before
anything else touches JAX).

Example (one process, 8 devices; several processes: the same code in every process, each
passing its own rows):

.. code-block:: python

    import jax, mle_jax as mj
    from mle_jax.sharding import shard_rows
    mesh = jax.make_mesh((jax.device_count(),), ("data",))
    xs, ws = shard_rows(x_local, mesh)            # pads, weight 0 on padding rows
    res = mj.fit(xs, weights=ws)                  # same answer as mj.fit(x_all)

float64 data with JAX's x64 mode off are stored on the devices as float32 (JAX cannot hold
float64 then): :func:`shard_rows` says so with a warning, and refuses data that float32
cannot represent (an offset so much larger than the spread that rounding to float32 would
change the variance by more than ~0.5%), naming the fix: enable x64 before sharding, or
subtract the offset first. It does not shift the data silently: the array it returns holds
the user's values, so ``mj.fit`` of it estimates what the user asked for.
"""

from __future__ import annotations

import warnings

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from . import _validate
from ._shard import suff_stats_any as suff_stats_any
from ._stats_np import suff_stats_np

__all__ = ["shard_rows", "suff_stats_any", "row_mesh"]


def row_mesh(axis_name: str = "data") -> Mesh:
    """A 1-D mesh over all devices (of all processes), for splitting rows."""
    return jax.make_mesh((jax.device_count(),), (axis_name,))


def shard_rows(x, mesh: Mesh | None = None, weights=None, *, axis: str | None = None):
    """Split this process's rows over ``mesh`` (padded to an even share, weight 0 on padding).

    In one process ``x`` is all the data. In a multi-process run (after
    ``jax.distributed.initialize``) every process calls this with its own rows ``x_local``;
    the processes may hold different numbers of rows (the largest count is agreed on, every
    process pads to it). The returned global arrays have ``sum(n_local) + padding`` rows.

    Args:
        x: ``(n_local, d)`` (or ``(n_local,)``) host array of this process's rows.
        mesh: the device mesh; default :func:`row_mesh` over all devices.
        weights: optional ``(n_local,)`` frequency weights of these rows.
        axis: the mesh axis (or tuple of axes) that splits the rows; default all of them.

    Returns:
        ``(x_global, w_global)``: ``jax.Array`` s sharded along their rows, to pass as
        ``mj.fit(x_global, weights=w_global)``.

    Raises:
        ValueError: float64 ``x`` with x64 off that float32 cannot represent (see the module
            docstring); bad shapes.
    """
    mesh = row_mesh() if mesh is None else mesh
    axes = tuple(mesh.axis_names) if axis is None else axis
    x = np.asarray(x)
    if x.ndim not in (1, 2) or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty (n, d) or (n,) array, got shape {x.shape}")
    w = np.ones(x.shape[0]) if weights is None else np.asarray(weights, np.float64)
    if w.shape != (x.shape[0],):
        raise ValueError(f"weights must have shape ({x.shape[0]},), got {w.shape}")
    if x.dtype == np.float64 and not _validate.x64_enabled():
        _check_float32(x, weights)
    spec = P(axes, *([None] * (x.ndim - 1)))
    sharding = NamedSharding(mesh, spec)
    wsharding = NamedSharding(mesh, P(axes))
    # devices of this process along the row axes; every process must pad to the same length
    names = axes if isinstance(axes, tuple) else (axes,)
    n_shards = int(np.prod([mesh.shape[a] for a in names]))
    n_procs = jax.process_count()
    local_shards = max(1, n_shards // n_procs)
    n_max = x.shape[0]
    if n_procs > 1:
        from jax.experimental import multihost_utils

        n_max = int(np.max(multihost_utils.process_allgather(np.asarray(x.shape[0]))))
    rows = -(-n_max // local_shards) * local_shards
    pad = rows - x.shape[0]
    if pad:
        x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)])  # in range: no overflow
        w = np.concatenate([w, np.zeros(pad)])
    if n_procs == 1:
        return jax.device_put(x, sharding), jax.device_put(w, wsharding)
    shape = (rows * n_procs, *x.shape[1:])
    xg = jax.make_array_from_process_local_data(sharding, x, shape)
    wg = jax.make_array_from_process_local_data(wsharding, w, (rows * n_procs,))
    return xg, wg


def _check_float32(x: np.ndarray, weights) -> None:
    """float64 rows that the devices will hold as float32 (x64 off): refuse what float32
    cannot represent, warn about the rest."""
    count, mean, scatter = suff_stats_np(x[:, None] if x.ndim == 1 else x, weights)
    if np.all(np.isfinite(scatter)) and count > 0:
        _validate.check_precision(mean, np.diagonal(scatter) / count, np.float32, "x")
    warnings.warn(
        "x is float64 but JAX's x64 mode is off, so shard_rows stores it as float32 (about 7 "
        f"significant digits of each value); to keep float64, {_validate.X64_HINT} first",
        UserWarning,
        stacklevel=3,
    )
