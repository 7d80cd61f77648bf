"""Figures: each renders to a real PNG (Agg), is labelled, and draws the right numbers.

Oracles: the closed form (peak of the likelihood curve, minimum of the NLL surface),
scipy's chi-square quantiles, the ellipse equation, the fit's recorded path.
"""

import io
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pytest  # noqa: E402
from matplotlib.image import imread  # noqa: E402

import mle_jax as mj  # noqa: E402
from mle_jax import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def assert_real_png(fig, min_px=300):
    """Rendered, non-trivial size, not blank: many non-white pixels and several colours."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    assert buf.tell() > 8_000
    buf.seek(0)
    img = imread(buf)
    h, w = img.shape[:2]
    assert h >= min_px and w >= min_px
    rgb = img[..., :3]
    non_white = np.mean(np.any(rgb < 0.95, axis=-1))
    assert 0.03 < non_white < 0.97, non_white
    colours = np.unique((rgb.reshape(-1, 3) * 31).round().astype(int), axis=0)
    assert len(colours) > 20
    return img


def assert_labelled(ax, legend=True):
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    if legend:
        assert ax.get_legend() is not None and ax.get_legend().get_texts()


def line(ax, label):
    (ln,) = [ln for ln in ax.get_lines() if ln.get_label() == label]
    return ln


@pytest.fixture(scope="module")
def x1():
    return np.random.default_rng(0).normal(30.0, 2.0, size=60)


@pytest.fixture(scope="module")
def paths(x1):
    init = (25.0, 9.0)
    return {
        "Adam": mj.fit(x1, optimizer=optax.adam(0.1), init=init, trace=True, tol=1e-6),
        "L-BFGS": mj.fit(x1, init=init, trace=True),
    }


def test_matplotlib_not_imported_by_package():
    import subprocess

    code = (
        "import sys, mle_jax, mle_jax.plotting; "
        "print('matplotlib' in sys.modules, 'scipy' in sys.modules, 'tqdm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]


def test_chi2_ppf_matches_scipy():
    from scipy import stats

    p = np.array([0.0, 1e-6, 0.01, 0.3, 0.5, 0.9, 0.999999])
    for df in (1, 2, 3, 7.5, 40):
        np.testing.assert_allclose(
            plotting.chi2_ppf(p, df), stats.chi2.ppf(p, df), rtol=1e-10, atol=1e-12
        )
    with pytest.raises(ValueError):
        plotting.chi2_ppf(1.0, 2)


def test_mahalanobis_matches_direct_formula():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 3))
    cf = mj.closed_form(x)
    r = x - np.asarray(cf.mean)
    expect = np.einsum("ni,ij,nj->n", r, np.linalg.inv(np.asarray(cf.cov)), r)
    np.testing.assert_allclose(plotting.mahalanobis_sq(x, cf.mean, cf.cov), expect, rtol=1e-10)
    # the squared distances average to d at the MLE (trace identity)
    assert abs(expect.mean() - 3) < 1e-10


def test_point_densities_shows_seed_numbers():
    ax = plotting.point_densities(32.0, [(28.0, 2.0), (30.0, 2.0)])
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["0.027", "0.121"]
    assert_labelled(ax)
    assert_real_png(ax.figure)


def test_likelihood_curve_peaks_at_sample_mean(x1):
    ax = plotting.likelihood_curve(x1[:8], std=2.0)
    ln = line(ax, "likelihood")
    mu, y = ln.get_data()
    assert abs(mu[np.argmax(y)] - x1[:8].mean()) <= (mu[1] - mu[0])
    assert_labelled(ax)
    assert_real_png(ax.figure)
    ax = plotting.likelihood_curve(x1, log=True)  # default std: the MLE
    assert "log" in ax.get_ylabel()
    with pytest.raises(ValueError, match="std"):
        plotting.likelihood_curve(32.0)


def test_nll_surface_with_paths(x1, paths):
    ax = plotting.nll_surface(x1, paths, show_grid_min=True)
    assert_labelled(ax)
    assert_real_png(ax.figure)
    # the drawn paths are the recorded iterates
    for name, r in paths.items():
        ln = line(ax, f"{name} ({int(r.num_steps)} steps)")
        mx, sy = ln.get_data()
        np.testing.assert_allclose(mx, np.asarray(r.path.mean))
        np.testing.assert_allclose(sy, np.asarray(r.path.std))
        assert mx.size == int(r.num_steps) + 1
    # the grid minimum is within a cell of the closed form
    (gm,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("grid minimum")]
    gx, gy = gm.get_data()
    cf = mj.closed_form(x1)
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    assert abs(gx[0] - float(cf.mean)) <= (xlim[1] - xlim[0]) / 159
    assert abs(gy[0] - float(cf.std)) <= (ylim[1] - ylim[0]) / 159


def test_nll_surface_rejects_fit_without_path(x1):
    with pytest.raises(ValueError, match="trace=True"):
        plotting.nll_surface(x1, {"no path": mj.fit(x1)})


def test_loss_history(paths, x1):
    cf = mj.closed_form(x1)
    ref = float(mj.nll(mj.MvnParams.from_mean_cov(cf.mean, cf.cov), x1))
    ax = plotting.loss_history(paths, reference=ref)
    assert_labelled(ax)
    assert ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(lbl.startswith("L-BFGS:") and "converged" in lbl for lbl in labels)
    assert "float64" in ax.get_title()
    # the lines stop above the floor instead of running flat along it
    floor = 1e-12 * abs(ref)
    for ln in ax.get_lines():
        y = ln.get_ydata()
        if len(y) > 1:
            assert np.all(np.asarray(y) > floor)
    lbfgs = [ln for ln in ax.get_lines() if ln.get_label().startswith("L-BFGS")][0]
    assert len(lbfgs.get_xdata()) <= int(paths["L-BFGS"].num_steps) + 1
    assert_real_png(ax.figure)


def test_ellipse_plot_on_faithful():
    x, cols = mj.load_dataset("faithful")
    fit = mj.fit(x)
    ax = plotting.ellipse_plot(x, {"fit": fit}, columns=cols, levels=(0.95,))
    assert (ax.get_xlabel(), ax.get_ylabel()) == tuple(cols)
    assert_labelled(ax)
    assert_real_png(ax.figure)
    # every drawn point satisfies the ellipse equation at the chi2(2) 95% quantile
    ex, ey = line(ax, "fit: 95% region").get_data()
    d2 = plotting.mahalanobis_sq(np.stack([ex, ey], 1), fit.mean, fit.cov)
    np.testing.assert_allclose(d2, -2 * np.log(0.05), rtol=1e-8)


def test_pairwise_ellipses_iris():
    x, cols = mj.load_dataset("iris", subset="setosa")
    fig = plotting.pairwise_ellipses(x, {"fit": mj.fit(x)}, columns=cols)
    axes = np.array(fig.axes).reshape(4, 4)
    assert axes[3, 0].get_xlabel() == cols[0] and axes[3, 0].get_ylabel() == cols[3]
    assert not axes[0, 3].axison
    assert fig.get_suptitle() and fig.legends
    assert_real_png(fig, min_px=500)


def test_qq_plot_points():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(80, 2))
    ax = plotting.qq_plot(x)
    assert_labelled(ax)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "95% simultaneous band (Gaussian data)" in labels
    assert_real_png(ax.figure)
    from scipy import stats

    theo, dist = line(ax, "data").get_data()
    cf = mj.closed_form(x)
    np.testing.assert_allclose(dist, np.sort(plotting.mahalanobis_sq(x, cf.mean, cf.cov)))
    np.testing.assert_allclose(theo, stats.chi2.ppf((np.arange(80) + 0.5) / 80, 2), rtol=1e-9)


# ----------------------------------------------------------------- incomplete rows


@pytest.fixture(scope="module")
def airquality():
    x, cols = mj.load_dataset("airquality")
    return x, cols, mj.fit(x, missing="fiml")


def _mar_rows(seed, n, heavy=False):
    """d = 4 (the airquality fit's compiled loop serves these fits); column 0 missing when
    column 3 is high, column 1 when it is low; heavy: multivariate t with 3 df."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 4))
    if heavy:
        z /= np.sqrt(rng.chisquare(3, (n, 1)) / 3)
    x = z @ (np.tril(np.full((4, 4), 0.6)) + np.eye(4)).T + np.arange(4.0)
    p = 1 / (1 + np.exp(-(x[:, 3] - 3)))
    x[rng.random(n) < 0.6 * p, 0] = np.nan
    x[rng.random(n) < 0.3 * (1 - p), 1] = np.nan
    return x


def test_qq_plot_fiml_airquality(airquality):
    """Rows with NaN are referred to chi-square with their own number of observed columns:
    1 of 153 points outside the band after a FIML fit (was 62: NaN rows counted as outside)."""
    from mle_jax import diagnostics as dg

    x, _, res = airquality
    ax = plotting.qq_plot(x, res)
    q = dg.qq_data(x, res.mean, res.cov)
    theo, dist = line(ax, "data").get_data()
    assert np.array_equal(theo, q.theoretical) and np.array_equal(dist, q.distance)
    assert q.distance.size == 153 and q.n_incomplete == 42 and np.all(np.isfinite(dist))
    assert int(q.outside.sum()) <= 2
    (text,) = [t.get_text() for t in ax.texts]
    assert text.startswith(f"{int(q.outside.sum())} of 153 points outside the band\n42 rows")
    assert "42 incomplete" in ax.get_title()
    assert_labelled(ax)
    # the complete rows' points are their plain squared distances, as without NaN
    complete = ~np.isnan(x).any(axis=1)
    drawn = dist[complete[q.rows]]
    expect = np.sort(plotting.mahalanobis_sq(x[complete], res.mean, res.cov))
    np.testing.assert_array_equal(drawn, expect)


@pytest.mark.parametrize("heavy", [False, True], ids=["gaussian", "t3"])
def test_qq_fiml_simulated_mar(airquality, heavy):
    """MAR data, FIML fit: Gaussian rows give uniform per-row probabilities and stay inside
    the band; heavy-tailed rows (the Gaussian model is wrong) are rejected by both."""
    from scipy import stats

    from mle_jax import diagnostics as dg

    x = _mar_rows(11, 300, heavy)
    res = mj.fit(x, missing="fiml")
    r = dg.row_distances(x, res.mean, res.cov)
    assert np.mean(r.df < 4) > 0.25
    ks = stats.kstest(r.prob, "uniform").pvalue
    outside = int(dg.qq_data(x, res.mean, res.cov).outside.sum())
    if heavy:
        assert ks < 1e-6 and outside > 30
    else:
        assert ks > 0.05 and outside == 0


def test_pairwise_and_ellipse_with_missing(airquality):
    """Fitted marginals are drawn for columns with NaN, over their observed values; the
    ellipse plot draws the rows that observe both columns and says how many."""
    from types import SimpleNamespace

    x, cols, res = airquality
    fig = plotting.pairwise_ellipses(x, {"FIML": res}, columns=cols)
    axes = np.array(fig.axes).reshape(4, 4)
    assert "n = 153, 42 incomplete" in fig.get_suptitle()
    for k in range(4):
        grid, pdf = line(axes[k, k], "FIML").get_data()
        seen = x[~np.isnan(x[:, k]), k]
        assert grid[0] == seen.min() and grid[-1] == seen.max()
        sd = np.sqrt(np.asarray(res.cov)[k, k])
        np.testing.assert_allclose(pdf, plotting._multivariate._normal_pdf(grid, res.mean[k], sd))
        assert np.all(np.isfinite(pdf)) and pdf.max() > 0
    two = SimpleNamespace(mean=np.asarray(res.mean)[:2], cov=np.asarray(res.cov)[:2, :2])
    ax = plotting.plot_fit(x[:, :2], {"FIML": two}, columns=cols[:2]).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "data (111 of 153 rows)" in labels and "FIML: 95% region" in labels
    with pytest.raises(ValueError, match="missing='fiml'"):
        plotting.qq_plot(x)
    fig = plotting.plot_fit(x[:, 0], {"FIML": SimpleNamespace(mean=res.mean[0], cov=res.cov[0, 0])})
    assert any("116 of 153" in t.get_text() for t in fig.axes[0].get_legend().get_texts())


def test_plot_fit_dispatches_on_dimension(x1):
    fig = plotting.plot_fit(x1, mj.fit(x1))
    assert fig.axes[0].get_ylabel() == "density"
    assert_real_png(fig)
    x2 = np.random.default_rng(3).normal(size=(50, 2))
    title = plotting.plot_fit(x2, mj.fit(x2)).axes[0].get_title()
    assert title == "Data and probability regions of the fitted Gaussian"
    x3 = np.random.default_rng(3).normal(size=(50, 3))
    assert len(plotting.plot_fit(x3, mj.fit(x3)).axes) == 9


def test_draws_on_given_axes(x1):
    fig, axes = plt.subplots(1, 2)
    assert plotting.likelihood_curve(x1, ax=axes[0]) is axes[0]
    assert plotting.qq_plot(x1, ax=axes[1]) is axes[1]
    assert len(fig.axes) == 2


def test_likelihood_curve_derivative_panel(x1):
    few = x1[:6]
    ax = plotting.likelihood_curve(few, std=2.0, derivative=True, tangents=True, log=True)
    fig = ax.figure
    assert len(fig.axes) == 2
    dax = [a for a in fig.axes if a is not ax][0]
    mu, sc = line(dax, "d log L / dμ").get_data()
    # the drawn derivative is autodiff's, and crosses zero at the sample mean
    import jax

    grad = jax.vmap(jax.grad(lambda m: mj.likelihood.log_likelihood(few, m, 2.0)))(np.asarray(mu))
    np.testing.assert_allclose(sc, np.asarray(grad), rtol=1e-9, atol=1e-9)
    k = np.flatnonzero(np.diff(np.sign(sc)))[0]
    assert mu[k] <= few.mean() <= mu[k + 1]
    # the legend sits above the curve: its box does not overlap the curve's points or data
    fig.canvas.draw()
    box = ax.get_legend().get_window_extent()
    for lbl in ("log-likelihood", "data"):
        pts = ax.transData.transform(np.column_stack(line(ax, lbl).get_data()))
        inside = (
            (pts[:, 0] > box.x0)
            & (pts[:, 0] < box.x1)
            & (pts[:, 1] > box.y0)
            & (pts[:, 1] < box.y1)
        )
        assert not inside.any(), lbl
    assert ax.get_ylabel() and ax.get_title() and ax.get_legend()  # x label: the lower panel's
    assert dax.get_xlabel() and dax.get_ylabel() and dax.get_legend()
    assert_real_png(fig)
    with pytest.raises(ValueError, match="two Axes"):
        plotting.likelihood_curve(few, std=2.0, derivative=True, ax=plt.gca())


def test_score_plot(x1):
    fig = plotting.score_plot(x1[:6], std=2.0)
    assert fig.get_suptitle() and len(fig.axes) == 2
    assert_real_png(fig)


def _check_gif(path, size, min_frames=2):
    from PIL import Image

    with Image.open(path) as im:
        assert im.format == "GIF"
        assert im.n_frames >= min_frames
        assert im.size == size
        im.seek(im.n_frames - 1)
        rgb = np.asarray(im.convert("RGB"), dtype=float) / 255
    assert 0.03 < np.mean(np.any(rgb < 0.95, axis=-1)) < 0.97


def test_animate_descent_univariate(x1, paths, tmp_path):
    out = plotting.animate_descent(
        x1, paths, out=str(tmp_path / "d.gif"), max_frames=4, hold=1, figsize=(5, 4), dpi=60
    )
    assert out == str(tmp_path / "d.gif")
    _check_gif(out, (300, 240), min_frames=4)


def test_animate_descent_bivariate_ellipse(tmp_path):
    x = np.random.default_rng(4).multivariate_normal([1, 2], [[2, 1.2], [1.2, 1.5]], size=100)
    f = mj.fit(x, init=(np.zeros(2), np.eye(2)), trace=True)
    out = plotting.animate_descent(
        x,
        {"L-BFGS": f},
        out=str(tmp_path / "e.gif"),
        ellipse=True,
        max_frames=3,
        hold=0,
        figsize=(8, 3.5),
        dpi=50,
    )
    _check_gif(out, (400, 175), min_frames=3)
    with pytest.raises(ValueError, match="trace=True"):
        plotting.animate_descent(x, {"no path": mj.fit(x)}, out=str(tmp_path / "f.gif"))


def test_story_figures(tmp_path):
    from matplotlib.image import imread

    # a GIF of 3 frames: checked for validity, not looks
    paths = plotting.story_figures(str(tmp_path), seed=1, n=200, gif_frames=3)
    assert len(paths) == 10 and all(p.startswith(str(tmp_path)) for p in paths)
    assert any(p.endswith("07_raw_vs_whitened.png") for p in paths)
    for p in paths:
        if p.endswith(".gif"):
            from PIL import Image

            with Image.open(p) as im:
                assert im.n_frames >= 3
        else:
            img = imread(p)
            assert min(img.shape[:2]) >= 300
            assert 0.03 < np.mean(np.any(img[..., :3] < 0.95, axis=-1)) < 0.97


@pytest.mark.parametrize("std", [2.0, 0.3])
def test_hessian_condition_closed_form(std):
    """1-D: the Hessian of the mean NLL is diag(1/s^2, 2) in (mean, log sigma), diag(1, 2)
    whitened; autodiff against the closed form."""
    x = np.random.default_rng(0).normal(5.0, std, size=100)
    s2 = x.var()
    raw = plotting.hessian_condition(x, "none")
    np.testing.assert_allclose(raw.hessian, np.diag([1 / s2, 2.0]), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(raw.condition_number, max(2 * s2, 1 / (2 * s2)), rtol=1e-10)
    for p in ("whiten", "scale"):
        c = plotting.hessian_condition(x, p)
        np.testing.assert_allclose(c.hessian, np.diag([1.0, 2.0]), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(c.condition_number, 2.0, rtol=1e-10)
    with pytest.raises(ValueError, match="precondition"):
        plotting.hessian_condition(x, "bogus")


def test_hessian_condition_multivariate_whitening_helps():
    a = np.array([[3.0, 0.0], [2.9, 0.3]])
    x = np.random.default_rng(1).normal(size=(400, 2)) @ a.T + 100.0
    raw, white = (plotting.hessian_condition(x, p) for p in ("none", "whiten"))
    assert raw.hessian.shape == (5, 5) and np.all(white.eigenvalues > 0)
    assert white.condition_number < 10 < raw.condition_number


def test_raw_vs_whitened(x1):
    fits = {
        p: mj.fit(x1, optimizer=optax.sgd(0.5), init=(24.0, 25.0), precondition=p, trace=True)
        for p in ("none", "whiten")
    }
    steps = {p: int(r.num_steps) for p, r in fits.items()}
    assert all(bool(r.converged) for r in fits.values())
    assert steps["whiten"] * 2 < steps["none"]  # kappa ~ 2 s^2 = 7.6 against 2
    fig = plotting.raw_vs_whitened(x1, lr=0.5, fits=fits)
    raw_ax, white_ax, hist_ax = fig.axes[:3]  # then the two colour bars
    assert raw_ax.get_xlabel() == "mean μ"
    assert white_ax.get_xlabel() == "standardised mean (μ − x̄)/σ̂"
    assert f"{steps['none']} steps" in raw_ax.get_title()
    assert f"{steps['whiten']} steps" in white_ax.get_title()
    caption = fig.get_supxlabel()
    assert "raw κ = " in caption and "whitened κ = 2.00" in caption
    # the whitened path is the raw-unit path mapped by (m - x̄)/σ̂, σ/σ̂
    (line,) = [ln for ln in white_ax.get_lines() if ln.get_label().startswith("SGD")]
    xbar, s = x1.mean(), x1.std()
    np.testing.assert_allclose(line.get_xdata()[0], (24.0 - xbar) / s, rtol=1e-6)
    np.testing.assert_allclose(line.get_ydata()[0], 5.0 / s, rtol=1e-6)
    assert len(hist_ax.get_lines()) >= 2
    plt.close(fig)
    with pytest.raises(ValueError, match="trace=True"):
        plotting.raw_vs_whitened(x1, fits={"none": mj.fit(x1), "whiten": fits["whiten"]})
