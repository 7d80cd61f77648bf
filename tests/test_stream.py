"""Streaming: fit on a memory-mapped .npy or an iterator of chunks, in one pass of merged stats."""

from __future__ import annotations

import os

import jax
import numpy as np
import pytest

import mle_jax as mj
from mle_jax import _stream

from .helpers import random_gaussian


def _cf(x, w=None):
    w = np.ones(len(x)) if w is None else np.asarray(w, np.float64)
    m = w @ x / w.sum()
    m = m + w @ (x - m) / w.sum()  # corrected two-pass: exact to rounding even at 1e8
    xc = x - m
    return m, (xc.T * w) @ xc / w.sum()


def _close(res, mean, cov, rtol=1e-10):
    cov = np.atleast_2d(cov)
    std = np.sqrt(np.diagonal(cov).max())
    assert np.all(np.abs(np.asarray(res.mean) - mean) <= rtol * std + 4e-16 * np.abs(mean))
    assert np.abs(np.atleast_2d(res.cov) - cov).max() <= rtol * np.abs(cov).max()


@pytest.fixture
def npy(tmp_path):
    x = random_gaussian(np.random.default_rng(0), 3, 5000, offset=1e6)
    path = tmp_path / "x.npy"
    np.save(path, x)
    return x, path


def test_memmap_in_many_blocks_equals_in_memory_fit_and_closed_form(npy, monkeypatch):
    x, path = npy
    mm = np.load(path, mmap_mode="r")
    monkeypatch.setattr(_stream, "DEFAULT_CHUNK_BYTES", 24 * 1024)  # 1024 rows: 5 blocks
    res = mj.fit(mm)
    assert bool(res.converged) and float(res.count) == 5000
    mean, cov = _cf(x)
    _close(res, mean, cov, rtol=1e-8)  # the optimiser's tolerance (gradient norm 1e-9)
    one = mj.fit(x)
    _close(res, np.asarray(one.mean), np.asarray(one.cov))
    np.testing.assert_allclose(res.nll, one.nll, rtol=1e-12)
    # weights, themselves a memory map
    w = np.random.default_rng(1).integers(0, 4, size=5000).astype(float)
    np.save(path.parent / "w.npy", w)
    res = mj.fit(mm, weights=np.load(path.parent / "w.npy", mmap_mode="r"))
    _close(res, *_cf(x, w), rtol=1e-8)
    _close(res, *(np.asarray(a) for a in (lambda r: (r.mean, r.cov))(mj.fit(x, weights=w))))


def test_block_statistics_merge_exactly_whatever_the_chunking(npy):
    x, path = npy
    mm = np.load(path, mmap_mode="r")
    ref = mj.stats.suff_stats(x)
    for chunk_bytes in (6000, 24 * 1024, 1 << 20):
        stats, univariate, dtype = _stream.stream_stats(mm, chunk_bytes=chunk_bytes)
        assert not univariate and dtype == np.float64 and stats.count == 5000
        np.testing.assert_allclose(stats.mean, ref.mean, rtol=1e-15)
        np.testing.assert_allclose(stats.scatter, ref.scatter, rtol=1e-11)


def test_iterator_of_chunks_univariate_multivariate_weighted():
    rng = np.random.default_rng(2)
    x = random_gaussian(rng, 2, 3000, offset=1e8)
    cuts = [0, 7, 700, 701, 2000, 3000]  # uneven, including a one-row chunk
    chunks = [x[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    res = mj.fit(iter(chunks))
    _close(res, *_cf(x), rtol=1e-8)
    _close(res, *(np.asarray(a) for a in (lambda r: (r.mean, r.cov))(mj.fit(x))))
    res = mj.fit(c[:, 0] for c in chunks)  # a generator of 1-D chunks: univariate
    assert res.mean.shape == ()
    m, v = _cf(x[:, :1])
    _close(res, m[0], v[0, 0], rtol=1e-8)
    _close(res, *(np.asarray(a) for a in (lambda r: (r.mean, r.cov))(mj.fit(x[:, 0]))))
    w = rng.uniform(0, 2, size=len(x))
    pairs = ((x[a:b], w[a:b]) for a, b in zip(cuts[:-1], cuts[1:], strict=True))
    res = mj.fit(pairs)
    _close(res, *_cf(x, w), rtol=1e-8)
    _close(res, *(np.asarray(a) for a in (lambda r: (r.mean, r.cov))(mj.fit(x, weights=w))))
    before = [c.copy() for c in chunks]
    mj.fit(iter(chunks))
    # inputs not mutated
    assert all(np.array_equal(a, b) for a, b in zip(chunks, before, strict=True))


def test_pandas_chunked_csv(tmp_path):
    pd = pytest.importorskip("pandas")
    x = random_gaussian(np.random.default_rng(3), 3, 500)
    path = tmp_path / "x.csv"
    pd.DataFrame(x, columns=["a", "b", "c"]).to_csv(path, index=False)
    res = mj.fit(pd.read_csv(path, chunksize=64))
    _close(res, *_cf(x), rtol=1e-8)


def test_stream_errors_name_the_chunk_and_the_fix(npy):
    x, path = npy
    bad = x[:300].copy()
    bad[250, 1] = np.nan
    with pytest.raises(ValueError, match=r"chunk 1 contains 1 non-finite .* first at \[150, 1\]"):
        mj.fit(iter([x[:100], bad[100:]]))
    with pytest.raises(ValueError, match="chunk 1 has 2 column"):
        mj.fit(iter([x[:100], x[:100, :2]]))
    with pytest.raises(ValueError, match="yielded no chunks"):
        mj.fit(iter([]))
    with pytest.raises(ValueError, match=r"yield \(x_chunk, w_chunk\) pairs"):
        mj.fit(iter([x]), weights=np.ones(len(x)))
    with pytest.raises(ValueError, match="form='raw' needs the data in memory"):
        mj.fit(np.load(path, mmap_mode="r"), form="raw")
    with pytest.raises(ValueError, match="column 2 is constant"):
        mj.fit(iter([np.c_[x[:100, :2], np.ones(100)]]))
    with pytest.raises(ValueError, match="weights are all zero"):
        mj.fit(iter([(x[:100], np.zeros(100))]))
    with pytest.raises(ValueError, match="weights of chunk 0 must be finite, non-negative"):
        mj.fit(iter([(x[:100], -np.ones(100))]))
    with pytest.raises(TypeError, match="real numbers"):
        mj.fit(iter([x[:100].astype(complex)]))


def test_lists_stay_data_and_are_not_streamed():
    # a list (of rows) is data, as before; only iterators/generators/memory maps stream
    assert not _stream.is_stream([[1.0, 2.0], [3.0, 4.0]])
    assert not _stream.is_stream(np.zeros((3, 2)))
    assert _stream.is_stream(iter([np.zeros((3, 2))]))


_GPU = [d for d in jax.devices() if d.platform == "gpu"]


@pytest.mark.skipif(not _GPU, reason="needs a GPU (pip install -e '.[cuda12]')")
def test_streamed_fit_on_the_gpu_equals_the_cpu(npy, monkeypatch):
    x, path = npy
    monkeypatch.setattr(_stream, "DEFAULT_CHUNK_BYTES", 24 * 1024)
    res = mj.fit(np.load(path, mmap_mode="r"))
    assert {d.platform for d in res.status.devices()} == {"gpu"}
    with jax.default_device(jax.devices("cpu")[0]):
        ref = mj.fit(x)
    _close(res, np.asarray(ref.mean), np.asarray(ref.cov))


def _rss_file_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssFile:"):
                return int(line.split()[1]) / 1024
    raise KeyError("RssFile")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_memory_map_pages_are_released_after_each_block(tmp_path, monkeypatch):
    """The resident set does not grow to the file size (here 32 MiB read in 1 MiB blocks)."""
    path = tmp_path / "big.npy"
    np.save(path, np.random.default_rng(4).normal(size=(1 << 19, 8)))
    monkeypatch.setattr(_stream, "DEFAULT_CHUNK_BYTES", 1 << 20)
    _stream.stream_stats(np.load(path, mmap_mode="r"))  # warm up: compiling maps code pages
    mm = np.load(path, mmap_mode="r")
    before = _rss_file_mib()
    stats, _, _ = _stream.stream_stats(mm)
    grown = _rss_file_mib() - before
    assert stats.count == 1 << 19
    assert grown < 8, f"file-backed RSS grew by {grown:.1f} MiB for a 32 MiB file"
    monkeypatch.setattr(_stream, "_release", lambda *a: None)  # the control: pages stay
    mm2 = np.load(path, mmap_mode="r")  # kept alive: unmapping would drop its pages too
    before = _rss_file_mib()
    _stream.stream_stats(mm2)
    assert _rss_file_mib() - before > 24
    del mm, mm2
