"""The last unclear errors (issue 22) and pandas input (issue 20, item 5): each case gets a
ValueError/TypeError that names the argument, the member or the column, and the fix; every
library warning points at the caller's line. All raise before a loop is compiled (cheap)."""

import io
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mle_jax as mj

RNG = np.random.default_rng(0)
X = RNG.normal(size=(30, 3))


def _with_constant(x, j=1, value=2.5):
    x = x.copy()
    x[:, j] = value
    return x


# ------------------------------------------------------------------------------- ridge


def test_ridge_that_overflows_the_dtype_is_refused():
    # float32 data (what x64 off gives): a ridge of 1e300 was an inf covariance, converged
    with pytest.raises(ValueError, match=r"ridge=1e\+300 overflows float32.*below 2\.1e\+37"):
        mj.fit(X.astype(np.float32), mj.Gaussian(ridge=1e300))
    with pytest.raises(ValueError, match="ridge=1e\\+300 overflows float32"):
        mj.fit_many(np.stack([X, X]).astype(np.float32), mj.Gaussian(ridge=1e300))


def test_ridge_that_underflows_or_is_lost_is_refused():
    xc = _with_constant(X)
    # was a variance of exactly 0 with converged=True
    with pytest.raises(ValueError, match=r"ridge=1e-300 underflows float32.*at least 1\.9e-37"):
        mj.fit(xc.astype(np.float32), mj.Gaussian(ridge=1e-300))
    # representable, but below float64's precision of the data's variance: nothing changes
    with pytest.raises(
        ValueError, match=r"ridge=1e-20 is too small .*x column 1 is constant.*ridge >= "
    ):
        mj.fit(xc, mj.Gaussian(ridge=1e-20))
    dup = np.column_stack([X, 2 * X[:, 0] + 1])
    with pytest.raises(ValueError, match="too small .*columns 0 and 3 are perfectly correlated"):
        mj.fit(dup, mj.Gaussian(ridge=1e-20))


# ----------------------------------------------------------------------- unclear errors


@pytest.mark.parametrize("scale", [1e-170, 1e-300])
def test_underflowing_variance_is_not_called_constant(scale):
    with pytest.raises(ValueError, match=r"variance 0 in float64, but its values are tiny.*\* 1e"):
        mj.fit(X * scale)


def test_numpy_prior_gets_a_type_error_naming_jax_numpy():
    prior = lambda mean, cov: -np.sum(np.asarray(mean) ** 2)  # noqa: E731
    with pytest.raises(TypeError, match="prior must be a pure JAX function.*jax.numpy"):
        mj.fit(X, mj.Gaussian(prior=prior))


@pytest.mark.parametrize("transform", [jax.jit, jax.vmap])
def test_fit_under_a_transformation_points_to_the_pure_functions(transform):
    xs = jnp.asarray(X) if transform is jax.jit else jnp.stack([X, X])
    with pytest.raises(TypeError, match=r"fit is a driver.*mj\.fit_many.*mj\.nll"):
        transform(lambda a: mj.fit(a).mean)(xs)
    with pytest.raises(TypeError, match="missing.em is a driver"):
        jax.jit(lambda a: mj.missing.em(a).mean)(jnp.asarray(X))


def test_one_huge_weight_is_named_not_an_offset():
    w = np.ones(len(X))
    w[4] = 1e300
    with pytest.raises(ValueError, match=r"weights: row 4 has weight 1\.0e\+300.*frequency"):
        mj.fit(X, weights=w)


def test_fit_many_fiml_errors_name_the_member():
    xs = np.stack([X, X, X])
    xs[0, 0, 0] = np.nan
    xs[1, :, 1] = np.nan
    with pytest.raises(ValueError, match=r"xs\[1\] column 1 is never observed"):
        mj.fit_many(xs, missing="fiml")
    xs[1, :, 1] = X[:, 1]
    xs[2, 3, 2] = np.inf
    with pytest.raises(ValueError, match=r"xs\[2\]: .*inf"):
        mj.fit_many(xs, missing="fiml")


def test_dropped_rows_are_counted_on_every_entry_point():
    x = _with_constant(X)  # the complete rows are rejected after the count: no loop to compile
    x[[3, 7], 0] = np.nan
    chunks = [x[:15], x[15:]]
    with pytest.warns(UserWarning, match="dropped 2 of 30 rows that have a missing value"):
        with pytest.raises(ValueError, match="column 1 is constant"):
            mj.fit(iter(chunks), missing="drop")
    xs = np.stack([x, _with_constant(X)])
    with pytest.warns(UserWarning, match=r"dropped 2 of 60 rows .*: 2 in xs\[0\]"):
        with pytest.raises(ValueError, match=r"xs\[0\] column 1 is constant"):
            mj.fit_many(xs, missing="drop")


def test_fiml_constant_column_is_named():
    x = _with_constant(X)
    x[3, 0] = np.nan
    with pytest.raises(ValueError, match="x column 1 is constant"):
        mj.fit(x, missing="fiml")
    with pytest.raises(ValueError, match="x column 1 is constant"):
        mj.missing.em(x)


# ------------------------------------------------------------------------------ pandas


def test_pandas_nullable_columns_are_numbers_with_na_as_nan():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=["a", "b", "c"]).convert_dtypes()
    assert all(str(t) == "Float64" for t in df.dtypes)
    want = mj.closed_form(X)
    np.testing.assert_allclose(mj.closed_form(df).cov, want.cov, rtol=1e-12)
    df.loc[2, "b"] = pd.NA
    df["i"] = pd.array(RNG.integers(0, 9, len(X)), dtype="Int64")
    df.loc[5, "i"] = pd.NA
    with pytest.raises(ValueError, match=r"2 non-finite .*\[2, 1\], \[5, 3\].*missing='fiml'"):
        mj.fit(df)


def test_pandas_text_and_categorical_columns_are_named_with_the_fix():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    df["name"] = "x"
    df["group"] = pd.Categorical(["p", "q", "r"] * 10)
    with pytest.raises(TypeError, match=r"'name' \(.*\), 'group' \(category\).*select_dtypes"):
        mj.fit(df)
    with pytest.raises(TypeError, match=r"chunk 0 has 2 column\(s\) that are not numbers"):
        mj.fit(iter([df[:15], df[15:]]))


def test_read_csv_chunks_keep_their_column_names():
    pd = pytest.importorskip("pandas")
    text = pd.DataFrame(_with_constant(X), columns=["a", "b", "c"]).to_csv(index=False)
    with pytest.raises(ValueError, match="x column 'b' is constant"):
        mj.fit(pd.read_csv(io.StringIO(text), chunksize=10))


# ------------------------------------------------------------- warnings at the caller


def _caught(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fn(*args, **kwargs)
        except ValueError:
            pass  # each case below is rejected after its warning: no loop is compiled
    assert caught, fn
    return caught


@pytest.mark.parametrize("entry", ["fit", "fit array drop", "fit_many", "em"])
def test_warnings_point_at_the_callers_line(entry):
    x = _with_constant(X)
    x[3, 0] = np.nan
    if entry == "fit":  # longdouble: computed in float64, with a warning
        caught = _caught(mj.fit, x.astype(np.longdouble))
    elif entry == "fit array drop":
        caught = _caught(mj.fit, x, missing="drop")
    elif entry == "fit_many":
        caught = _caught(mj.fit_many, np.stack([x, x]), missing="drop")
    else:
        x[5] = np.nan  # a row with no observed entry
        caught = _caught(mj.missing.em, x)
    assert [w.filename for w in caught] == [__file__] * len(caught), [
        (w.filename, str(w.message)) for w in caught
    ]
