"""Bad input gets a clear, early error that names the problem (and never a silent NaN)."""

import numpy as np
import pytest

import mle_jax as mj
from mle_jax import _validate

RNG = np.random.default_rng(0)
GOOD = RNG.normal(size=(20, 3))


@pytest.mark.parametrize(
    "x, err, match",
    [
        (np.zeros((2, 3, 4)), ValueError, r"1-D \(n,\) .* 2-D \(n, d\).*shape \(2, 3, 4\)"),
        (np.float64(3.0), ValueError, r"got shape \(\)"),
        (np.zeros((0, 3)), ValueError, "empty"),
        (np.zeros((5, 0)), ValueError, "empty"),
        (GOOD[:3], ValueError, "3 samples for d = 3: a full covariance needs n > d"),
        (GOOD[:1, 0], ValueError, "1 sample.*at least 2"),
        (np.array(["a", "b", "c"]), TypeError, "real numbers, got dtype <U1"),
        (GOOD.astype(complex), TypeError, "complex"),
        (np.ones((4, 2), dtype=bool), TypeError, "dtype bool"),
        ("not an array", TypeError, "must be an array, got str"),
    ],
)
def test_shape_and_dtype_errors(x, err, match):
    with pytest.raises(err, match=match):
        mj.fit(x)


def test_nan_and_inf_are_counted_and_located():
    x = GOOD.copy()
    x[4, 1] = np.nan
    x[7, 2] = np.inf
    x[9, 0] = np.nan
    with pytest.raises(
        ValueError,
        match=r"3 non-finite value\(s\) \(2 NaN, 1 inf\), first at \[4, 1\], \[7, 2\], \[9, 0\]",
    ):
        mj.fit(x)
    with pytest.raises(ValueError, match=r"1 non-finite .*first at \[5\]"):
        mj.fit(np.where(np.arange(20) == 5, np.nan, GOOD[:, 0]))


def test_constant_column_is_named_with_remedy():
    x = GOOD.copy()
    x[:, 1] = 2.5
    with pytest.raises(ValueError, match="column 1 is constant.*ridge"):
        mj.fit(x)
    with pytest.raises(ValueError, match="column 'b' is constant"):
        mj.fit(x, columns=["a", "b", "c"])
    with pytest.raises(ValueError, match="data 0 is constant"):
        mj.fit(np.full(10, 1e8))


def test_duplicated_and_dependent_columns():
    x = np.column_stack([GOOD, 2 * GOOD[:, 0] + 1])
    with pytest.raises(ValueError, match="columns 0 and 3 are perfectly correlated.*drop one"):
        mj.fit(x)
    y = np.column_stack([GOOD, GOOD[:, 0] + GOOD[:, 1]])
    with pytest.raises(ValueError, match="linearly dependent.*singular"):
        mj.fit(y)
    # a ridge makes the same data fit on purpose
    assert bool(mj.fit(y, mj.Gaussian(ridge=1e-3)).converged)


def test_weight_errors():
    with pytest.raises(ValueError, match=r"shape \(20,\)"):
        mj.fit(GOOD, weights=np.ones(19))
    with pytest.raises(ValueError, match="negative"):
        mj.fit(GOOD, weights=-np.ones(20))
    with pytest.raises(ValueError, match="non-finite"):
        mj.fit(GOOD, weights=np.r_[np.nan, np.ones(19)])
    with pytest.raises(ValueError, match="all zero"):
        mj.fit(GOOD, weights=np.zeros(20))


def test_option_errors():
    with pytest.raises(ValueError, match="ridge must be a finite number >= 0"):
        mj.fit(GOOD, mj.Gaussian(ridge=-1.0))
    with pytest.raises(ValueError, match="max_steps must be a positive integer"):
        mj.fit(GOOD, max_steps=0)
    with pytest.raises(ValueError, match="form must be 'stats' or 'raw'"):
        mj.fit(GOOD, form="fast")
    with pytest.raises(ValueError, match=r"init must be a mean of shape \(3,\)"):
        mj.fit(GOOD, init=(np.zeros(2), np.eye(2)))
    with pytest.raises(TypeError, match="init must be"):
        mj.fit(GOOD, init="zero")


def test_float64_truncation_warns_when_x64_is_off(monkeypatch):
    monkeypatch.setattr(_validate, "x64_enabled", lambda: False)
    with pytest.warns(UserWarning, match="float64 but JAX's x64 mode is off"):
        _validate.as_data(GOOD)
    _validate.as_data(GOOD.astype(np.float32))  # no warning for float32


def test_integer_data_are_accepted():
    x = np.round(GOOD * 10).astype(np.int64)
    res = mj.fit(x)
    np.testing.assert_allclose(res.cov, np.cov(x.T, bias=True), rtol=1e-8)
