"""Sufficient statistics of a host (numpy) array, read from memory once per pass.

:func:`mle_jax.suff_stats` on a numpy array first copies the whole array to the device
(``jnp.asarray`` copies on CPU) and then materialises the centred
array ``x - mean`` (another full-size temporary). For ``fit(form="stats")`` only the ``d x d``
statistics are needed, so for numpy input they are computed here, on the host, in row chunks
small enough to stay in cache:

* pass 1: column sums of each chunk (a BLAS ``gemv``), accumulated in float64;
* pass 2: each chunk is centred at that mean in a reused buffer, and its scatter (``syrk``) and
  its column sums (the rounding residual of the centring) are accumulated in float64;
* the residual corrects mean and scatter (the "corrected two-pass" algorithm of Chan, Golub
  and LeVeque), so data with an offset of 1e8 keep full precision.

No temporary the size of ``x`` is created and ``x`` is never copied or mutated (timings
against numpy: ``docs/design-notes.md``, "Host statistics").
"""

from __future__ import annotations

import numpy as np

__all__ = ["suff_stats_np"]

# Elements per chunk (1 MiB of float64). Measured with OpenBLAS: larger chunks fall out of L2
# and make ``gemv`` switch to threads, which costs 10-100x more on a busy 2-core machine.
_CHUNK_ELEMENTS = 1 << 17


def _work_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        return np.dtype(np.float64)
    return np.dtype(np.promote_types(dtype, np.float32))


def suff_stats_np(x: np.ndarray, weights=None, dtype=None):
    """Centred two-pass statistics of host data ``(n, d)``, chunked; float64 results.

    Args:
        x: ``(n, d)`` numpy array (any real dtype; never copied whole or mutated).
        weights: optional ``(n,)`` non-negative frequency weights.
        dtype: floating dtype the chunks are computed in (float32 or float64); default: that
            of ``x`` (integers: float64). Sums across chunks are always float64.

    Returns:
        ``(count, mean, scatter)``: float, ``(d,)`` and ``(d, d)`` float64 numpy arrays, with
        ``scatter = sum_i w_i (x_i - mean)(x_i - mean)^T``. Non-finite data give non-finite
        statistics (the caller checks).
    """
    n, d = x.shape
    work = _work_dtype(x.dtype if dtype is None else dtype)
    rows = max(1, min(n, _CHUNK_ELEMENTS // max(d, 1)))
    w = None if weights is None else np.asarray(weights)
    count = float(n) if w is None else float(np.sum(w, dtype=np.float64))
    ones = np.ones(rows, work)

    def chunks():
        for start in range(0, n, rows):
            c = x[start : start + rows]
            wc = None if w is None else w[start : start + rows].astype(work, copy=False)
            yield c, (ones[: len(c)] if wc is None else wc)

    total = np.zeros(d)
    for c, wc in chunks():
        total += wc @ c.astype(work, copy=False)
    if not np.all(np.isfinite(total)):  # NaN/inf (or overflow): the caller finds where
        return np.float64(count), total / count, np.full((d, d), np.nan)
    mean_w = (total / count).astype(work)

    scatter = np.zeros((d, d))
    resid = np.zeros(d)
    buf = np.empty((rows, d), work)
    wbuf = None if w is None else np.empty((rows, d), work)
    # a contiguous chunk is centred as one flat array against the tiled mean, faster than
    # numpy's broadcast loop over short rows (docs/design-notes.md, "Host statistics")
    tiled = np.tile(mean_w, rows)
    for c, wc in chunks():
        xc = buf[: len(c)]
        if c.flags.c_contiguous:
            np.subtract(
                c.reshape(-1), tiled[: c.size], out=xc.reshape(-1), dtype=work, casting="unsafe"
            )
        else:
            np.subtract(c, mean_w[None, :], out=xc, dtype=work, casting="unsafe")
        if w is None:
            scatter += xc.T @ xc
        else:
            assert wbuf is not None
            scatter += xc.T @ np.multiply(xc, wc[:, None], out=wbuf[: len(c)])
        resid += wc @ xc
    r = resid / count
    mean = mean_w.astype(np.float64) + r
    scatter -= count * np.outer(r, r)
    return np.float64(count), mean, scatter
