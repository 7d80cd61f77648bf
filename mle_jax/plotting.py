"""Figures for teaching and checking maximum-likelihood fits (matplotlib, imported lazily).

Every function draws on an ``ax`` you pass (or a new figure) and returns the ``Axes``
(:func:`pairwise_ellipses` and :func:`plot_fit` return the ``Figure``). Nothing here
changes global matplotlib state except creating figures through ``pyplot`` when no ``ax``
is given, so that notebooks show them.

``import mle_jax`` does not import this module; ``import mle_jax.plotting`` does not import
matplotlib until a function is called (``pip install mle_jax[plot]``). scipy is not needed:
chi-square quantiles come from :func:`chi2_ppf`, a bisection on ``jax.scipy.special.gammainc``.

Examples:
    >>> import numpy as np, mle_jax as mj
    >>> from mle_jax import plotting
    >>> x = np.random.default_rng(0).normal(30.0, 2.0, size=50)
    >>> ax = plotting.likelihood_curve(x, std=2.0)
    >>> ax.get_xlabel()
    'mean μ'
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "chi2_ppf",
    "density_plot",
    "ellipse_plot",
    "likelihood_curve",
    "loss_history",
    "mahalanobis_sq",
    "nll_surface",
    "pairwise_ellipses",
    "plot_fit",
    "point_densities",
    "qq_plot",
]

_COLORS = ("tab:red", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink")
_STYLES = ("-", "--", ":", "-.", "-", "--")


def _styled(items):
    """``[(item, color, linestyle)]``, cycling the colours and styles."""
    n_c, n_s = len(_COLORS), len(_STYLES)
    return [(it, _COLORS[k % n_c], _STYLES[k % n_s]) for k, it in enumerate(items)]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("mle_jax.plotting needs matplotlib: pip install 'mle_jax[plot]'") from e
    return plt


def _new_ax(ax, figsize=(6.4, 4.4)):
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=figsize, layout="constrained")
    return ax


def _np(a):
    return np.asarray(a, dtype=np.float64)


def _normal_pdf(x, mean, std):
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2.0 * math.pi))


def _normal_logpdf(x, mean, std):
    return -0.5 * ((x - mean) / std) ** 2 - np.log(std) - 0.5 * math.log(2.0 * math.pi)


def _as_fits(fits):
    """``None``, one object with ``.mean``/``.cov``, or a dict -> a dict name -> object."""
    if fits is None:
        return {}
    if isinstance(fits, dict):
        return dict(fits)
    return {"fit": fits}


# ------------------------------------------------------------------------- numerics


def chi2_ppf(p, df) -> np.ndarray:
    """Quantiles of the chi-square distribution, without scipy.

    Bisection (80 halvings, to float64 rounding) on the regularised lower incomplete gamma
    function ``P(df/2, q/2) = p`` from ``jax.scipy.special.gammainc``.

    Args:
        p: probabilities in ``[0, 1)`` (any shape).
        df: degrees of freedom ``> 0``.

    Returns:
        ``q`` with ``P(chi2_df <= q) = p``, float64, the shape of ``p``.

    Examples:
        >>> round(float(chi2_ppf(0.95, 2)), 6)  # -2 log(0.05)
        5.991465
    """
    import jax
    from jax.scipy.special import gammainc

    p = _np(p)
    if np.any((p < 0) | (p >= 1)) or not df > 0:
        raise ValueError("chi2_ppf needs 0 <= p < 1 and df > 0")
    a = 0.5 * float(df)
    with jax.default_device(jax.devices("cpu")[0]):
        x64 = jax.config.read("jax_enable_x64")
        dtype = np.float64 if x64 else np.float32
        lo = np.zeros_like(p)
        hi = np.full_like(p, max(10.0, df))
        # grow the bracket until P(a, hi/2) >= p
        for _ in range(60):
            too_small = np.asarray(gammainc(a, (hi / 2).astype(dtype))) < p
            if not too_small.any():
                break
            hi = np.where(too_small, hi * 2, hi)
        for _ in range(80 if x64 else 40):
            mid = 0.5 * (lo + hi)
            below = np.asarray(gammainc(a, (mid / 2).astype(dtype))) < p
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def mahalanobis_sq(x, mean, cov) -> np.ndarray:
    """Squared Mahalanobis distances ``(x_i - mean)^T cov^{-1} (x_i - mean)`` of rows ``(n,)``.

    Through the Cholesky factor of ``cov`` (one triangular system), never its inverse.
    Univariate ``x`` ``(n,)`` with scalar ``mean``/``cov`` (the variance) works too.
    """
    x = _np(x)
    if x.ndim == 1:
        x = x[:, None]
    mean = np.atleast_1d(_np(mean))
    cov = np.atleast_2d(_np(cov))
    chol = np.linalg.cholesky(cov)
    z = np.linalg.solve(chol, (x - mean[None, :]).T)
    return np.sum(z * z, axis=0)


def _ellipse_xy(mean2, cov2, r2, num=200):
    """Points on the ellipse ``(y - m)^T C^{-1} (y - m) = r2`` (2-D)."""
    chol = np.linalg.cholesky(cov2)
    t = np.linspace(0.0, 2.0 * np.pi, num)
    circle = np.stack([np.cos(t), np.sin(t)])
    return mean2[:, None] + math.sqrt(r2) * chol @ circle


# ------------------------------------------------------------------------- 1-D pictures


def point_densities(x0, params, *, ax=None, xlim=None):
    """The density of one point under several normals: ``N(mu, sigma^2)`` for each pair.

    The seed's first picture: the value of each curve at ``x0`` is the likelihood of that
    (mu, sigma) given the one point, written beside it.

    Args:
        x0: the data point.
        params: ``[(mu, sigma), ...]``.
        ax: optional Axes.
        xlim: optional x range; default covers every curve to +-4 sigma.

    Returns:
        The ``Axes``.
    """
    ax = _new_ax(ax)
    x0 = float(x0)
    lo = min([x0] + [m - 4 * s for m, s in params]) if xlim is None else xlim[0]
    hi = max([x0] + [m + 4 * s for m, s in params]) if xlim is None else xlim[1]
    grid = np.linspace(lo, hi, 400)
    for (m, s), color, _ in _styled(params):
        dens = _normal_pdf(x0, m, s)
        ax.plot(grid, _normal_pdf(grid, m, s), color=color, label=f"N({m:g}, {s:g}²)")
        ax.plot([x0], [dens], "o", color=color)
        ax.annotate(
            f"{dens:.3f}",
            (x0, dens),
            xytext=(8, 0),
            textcoords="offset points",
            color=color,
            va="center",
            fontsize=11,
        )
    ax.axvline(x0, color="k", lw=1, ls="--", label=f"data point x = {x0:g}")
    ax.set_xlabel("x")
    ax.set_ylabel("probability density")
    ax.set_title(f"Likelihood of each (μ, σ) given x = {x0:g}: the density at x")
    ax.legend(loc="upper left")
    ax.set_ylim(bottom=0)
    return ax


def likelihood_curve(x, std=None, means=None, *, ax=None, log=False, mark_peak=True):
    """The likelihood (or log-likelihood) of 1-D data as a function of the mean ``mu``.

    Args:
        x: ``(n,)`` data (or one number).
        std: the fixed ``sigma``; default the data's MLE ``x.std()`` (needs ``n >= 2``).
        means: ``(m,)`` candidate means; default ``x.mean() +- 4 sigma``.
        ax: optional Axes.
        log: plot the log-likelihood (a sum of log-densities) instead of the product.
        mark_peak: draw the grid maximum and the sample mean (the closed-form peak).

    Returns:
        The ``Axes``. The curve's data are the line labelled ``"likelihood"``.
    """
    ax = _new_ax(ax)
    x = np.atleast_1d(_np(x))
    if x.ndim != 1:
        raise ValueError(f"likelihood_curve takes 1-D data, got shape {x.shape}")
    n = x.shape[0]
    if std is None:
        if n < 2:
            raise ValueError("pass std= for a single data point")
        std = float(x.std())
    std = float(std)
    if not std > 0:
        raise ValueError(f"std must be positive, got {std}")
    xbar = float(x.mean())
    if means is None:
        means = np.linspace(xbar - 4 * std, xbar + 4 * std, 801)
    means = _np(means)
    loglik = np.sum(_normal_logpdf(x[None, :], means[:, None], std), axis=1)
    y = loglik if log else np.exp(loglik)
    ax.plot(means, y, color="tab:blue", lw=2, label="log-likelihood" if log else "likelihood")
    if mark_peak:
        i = int(np.argmax(y))
        ax.axvline(
            xbar, color="tab:red", ls="--", lw=1.2, label=f"sample mean x̄ = {xbar:.4g} (peak)"
        )
        ax.plot([means[i]], [y[i]], "o", color="tab:red")
    if n <= 30:
        ax.plot(x, np.full(n, ax.get_ylim()[0]), "|", color="k", ms=14, mew=1.5, label="data")
    ax.set_xlabel("mean μ")
    what = "log-likelihood  Σ log p(xᵢ | μ, σ)" if log else "likelihood  Π p(xᵢ | μ, σ)"
    ax.set_ylabel(what)
    pts = "1 point" if n == 1 else f"{n} points"
    ax.set_title(f"{'Log-likelihood' if log else 'Likelihood'} of {pts} over μ, σ = {std:.3g}")
    ax.legend(loc="best", fontsize=9)
    return ax


def density_plot(x, fit=None, *, ax=None, bins="auto", column=None):
    """Histogram of 1-D data with the fitted normal density (default: the closed form).

    Args:
        x: ``(n,)`` data.
        fit: an object with scalar ``.mean`` and ``.cov`` (the variance), or a dict of them.
        ax: optional Axes.
        bins: passed to ``ax.hist``.
        column: name of the variable for the x label.

    Returns:
        The ``Axes``.
    """
    from ._oracles import closed_form

    ax = _new_ax(ax)
    x = _np(x).ravel()
    fits = _as_fits(fit) or {"closed form": closed_form(x)}
    ax.hist(x, bins=bins, density=True, color="0.8", edgecolor="0.5", label=f"data (n = {x.size})")
    span = x.max() - x.min()
    grid = np.linspace(x.min() - 0.15 * span, x.max() + 0.15 * span, 400)
    for (name, f), color, _ in _styled(fits.items()):
        m, v = float(np.squeeze(f.mean)), float(np.squeeze(f.cov))
        ax.plot(
            grid,
            _normal_pdf(grid, m, math.sqrt(v)),
            color=color,
            lw=2,
            label=f"{name}: N({m:.4g}, {math.sqrt(v):.4g}²)",
        )
    ax.set_xlabel(column or "x")
    ax.set_ylabel("density")
    ax.set_title("Data and the fitted normal density")
    ax.legend(loc="best")
    return ax


# ------------------------------------------------------------------------- optimisation


def _path_mean_std(p):
    """A path (``FitResult`` with ``.path``, an ``Estimate`` path or ``(means, stds)``)."""
    if hasattr(p, "path") and getattr(p, "path", None) is not None:
        p = p.path
    elif hasattr(p, "path"):
        raise ValueError("the fit has no path: call fit(..., trace=True)")
    if hasattr(p, "mean") and hasattr(p, "std"):
        return _np(p.mean).ravel(), _np(p.std).ravel()
    means, stds = p
    return _np(means).ravel(), _np(stds).ravel()


def nll_surface(
    x,
    paths=None,
    *,
    means=None,
    stds=None,
    ax=None,
    num=160,
    show_closed_form=True,
    show_grid_min=False,
):
    """The NLL of 1-D data over (mu, sigma) as a heat map, with optimiser paths on top.

    This is the brute-force grid search made visible: every cell is one evaluation of the
    NLL; the closed-form MLE (sample mean, std with divisor n) sits at its minimum.

    Args:
        x: ``(n,)`` data.
        paths: a dict name -> path, where a path is a ``FitResult`` of
            ``fit(..., trace=True)``, an :class:`~mle_jax.Estimate` with a leading step axis
            (``result.path``) or a pair ``(means, stds)`` of arrays.
        means, stds: grid axes; default spans the data's MLE +- 4 standard errors and every
            path point.
        ax: optional Axes.
        num: grid points per axis for the default grid.
        show_closed_form: mark the closed-form minimum.
        show_grid_min: mark the grid cell with the smallest NLL (the brute-force answer).

    Returns:
        The ``Axes``; the colour bar shows ``NLL - min NLL`` on a log scale.
    """
    from matplotlib.colors import LogNorm

    ax = _new_ax(ax, figsize=(7.2, 5.2))
    x = _np(x).ravel()
    n = x.size
    xbar, s = float(x.mean()), float(x.std())
    drawn = {name: _path_mean_std(p) for name, p in (paths or {}).items()}
    if means is None or stds is None:
        mlo, mhi = xbar - 4 * s / math.sqrt(n) - s / 2, xbar + 4 * s / math.sqrt(n) + s / 2
        slo, shi = s * 0.5, s * 1.8
        for pm, ps in drawn.values():
            mlo, mhi = min(mlo, pm.min()), max(mhi, pm.max())
            slo, shi = min(slo, ps.min()), max(shi, ps.max())
        pad_m, pad_s = 0.08 * (mhi - mlo), 0.08 * (shi - slo)
        if means is None:
            means = np.linspace(mlo - pad_m, mhi + pad_m, num)
        if stds is None:
            stds = np.linspace(max(slo - pad_s, 1e-3 * s), shi + pad_s, num)
    means, stds = _np(means), _np(stds)
    nll = -np.sum(_normal_logpdf(x[None, None, :], means[:, None, None], stds[None, :, None]), -1)
    nll_min = -float(np.sum(_normal_logpdf(x, xbar, s)))
    delta = np.maximum(nll - nll_min, 1e-12)
    vmin = max(float(delta.min()), 1e-2)
    vmax = max(float(np.percentile(delta, 95)), 10 * vmin)  # sigma -> 0 would swamp the scale
    mesh = ax.pcolormesh(
        means,
        stds,
        delta.T,
        norm=LogNorm(vmin=vmin, vmax=vmax),
        cmap="viridis_r",
        shading="auto",
        rasterized=True,
    )
    levels = np.geomspace(max(vmin, 0.1), vmax, 9)
    ax.contour(means, stds, delta.T, levels=levels, colors="k", linewidths=0.5, alpha=0.35)
    cbar = ax.figure.colorbar(mesh, ax=ax, extend="max")
    cbar.set_label("NLL − min NLL (log scale)")
    for (name, (pm, ps)), color, _ in _styled(drawn.items()):
        ax.plot(pm, ps, "-", color=color, lw=1.6, label=f"{name} ({pm.size - 1} steps)")
        ax.plot(pm, ps, ".", color=color, ms=3)
        ax.plot(pm[:1], ps[:1], "o", color=color, mfc="none", ms=8)
    if drawn:
        ax.plot([], [], "ko", mfc="none", label="start")
    if show_grid_min:
        i, j = np.unravel_index(np.argmin(nll), nll.shape)
        ax.plot(
            [means[i]],
            [stds[j]],
            "X",
            color="white",
            mec="k",
            ms=11,
            label=f"grid minimum ({means.size}×{stds.size} evaluations)",
        )
    if show_closed_form:
        ax.plot(
            [xbar],
            [s],
            "*",
            color="gold",
            mec="k",
            ms=16,
            label=f"closed form (x̄ = {xbar:.3g}, σ̂ = {s:.3g})",
        )
    ax.set_xlim(means[0], means[-1])
    ax.set_ylim(stds[0], stds[-1])
    ax.set_xlabel("mean μ")
    ax.set_ylabel("standard deviation σ")
    what = "and optimiser paths" if drawn else "(brute-force grid)"
    ax.set_title(f"NLL of {n} points over (μ, σ) {what}")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    return ax


def loss_history(results, *, ax=None, reference=None):
    """NLL minus its minimum against the step, on a log scale, for one or several fits.

    Args:
        results: a ``FitResult`` or a dict name -> ``FitResult`` (their ``loss_history``).
        ax: optional Axes.
        reference: the NLL to subtract; default the smallest value any fit reached (pass
            the closed-form NLL, ``mj.nll(...)``, to measure the distance to the optimum).

    Returns:
        The ``Axes``. Each legend entry gives the steps taken and the status.
    """
    from ._types import Status

    ax = _new_ax(ax)
    results = results if isinstance(results, dict) else {"fit": results}
    hist = {}
    for name, r in results.items():
        steps = int(np.asarray(r.num_steps))
        hist[name] = (_np(r.loss_history)[: steps + 1], steps, Status.name(np.asarray(r.status)))
    finite = [h[np.isfinite(h)] for h, _, _ in hist.values()]
    ref = float(min(f.min() for f in finite if f.size)) if reference is None else float(reference)
    floor = 1e-13 * max(1.0, abs(ref))
    for (name, (h, steps, status)), color, _ in _styled(hist.items()):
        ax.semilogy(
            np.arange(h.size),
            np.maximum(h - ref, floor),
            color=color,
            lw=1.6,
            label=f"{name}: {steps} steps, {status}",
        )
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("NLL − reference NLL (log scale)")
    ax.set_title("Loss history")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="best")
    return ax


# ------------------------------------------------------------------------- multivariate


def ellipse_plot(
    x, fits=None, *, dims=(0, 1), levels=(0.5, 0.95), ax=None, columns=None, scatter=True
):
    """Scatter of two columns with the confidence ellipses of fitted Gaussians.

    The ellipse at probability ``p`` is ``{y : (y - m)^T C^{-1} (y - m) = q}`` with the
    2-D marginal mean ``m`` and covariance ``C`` of a fit and ``q`` the chi-square(2)
    quantile of ``p``: it holds a fraction ``p`` of the fitted distribution.

    Args:
        x: ``(n, d)`` data, ``d >= 2``.
        fits: an object with ``.mean`` ``(d,)`` and ``.cov`` ``(d, d)`` (a ``FitResult``, a
            closed form, an :class:`~mle_jax.Estimate`), or a dict name -> such objects;
            default the closed form.
        dims: the two columns to draw.
        levels: probabilities of the ellipses.
        ax: optional Axes.
        columns: optional column names for the axis labels.
        scatter: draw the data points.

    Returns:
        The ``Axes``.
    """
    from ._oracles import closed_form

    ax = _new_ax(ax, figsize=(6.0, 5.0))
    x = _np(x)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"ellipse_plot needs (n, d) data with d >= 2, got shape {x.shape}")
    i, j = dims
    fits = _as_fits(fits) or {"closed form": closed_form(x)}
    if scatter:
        ax.scatter(x[:, i], x[:, j], s=10, color="tab:blue", alpha=0.6, lw=0, label="data")
    styles = ("-", "--", ":", "-.")
    for (name, f), color, _ in _styled(fits.items()):
        m = _np(f.mean)[[i, j]]
        c = _np(f.cov)[np.ix_([i, j], [i, j])]
        for k, p in enumerate(levels):
            ls = styles[k % len(styles)]
            ex, ey = _ellipse_xy(m, c, float(chi2_ppf(p, 2)))
            ax.plot(ex, ey, ls, color=color, lw=1.6, label=f"{name}: {100 * p:g}% region")
        ax.plot([m[0]], [m[1]], "+", color=color, ms=12, mew=2)
    names = columns if columns is not None else [f"x[{k}]" for k in range(x.shape[1])]
    ax.set_xlabel(str(names[i]))
    ax.set_ylabel(str(names[j]))
    ax.set_title("Data and fitted Gaussian confidence ellipses")
    ax.legend(loc="best", fontsize=8)
    return ax


def pairwise_ellipses(x, fits=None, *, columns=None, level=0.95, figsize=None):
    """Every pair of columns: ellipses below the diagonal, histograms with the fitted
    marginal densities on it (for ``d > 2``; works for ``d = 2`` too).

    Args:
        x: ``(n, d)`` data.
        fits: as in :func:`ellipse_plot`; default the closed form.
        columns: column names.
        level: probability of the ellipses.
        figsize: default ``2.4 d`` inches square.

    Returns:
        The ``Figure``.
    """
    from ._oracles import closed_form

    x = _np(x)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"pairwise_ellipses needs (n, d) data with d >= 2, got shape {x.shape}")
    d = x.shape[1]
    fits = _as_fits(fits) or {"closed form": closed_form(x)}
    names = list(columns) if columns is not None else [f"x[{k}]" for k in range(d)]
    size = figsize or (2.5 * d + 0.5, 2.5 * d)
    fig, axes = _pyplot().subplots(d, d, figsize=size, layout="constrained", squeeze=False)
    for r in range(d):
        for c in range(d):
            ax = axes[r, c]
            if c > r:
                ax.set_axis_off()
                continue
            if r == c:
                ax.hist(x[:, r], bins="auto", density=True, color="0.8", edgecolor="0.5")
                grid = np.linspace(x[:, r].min(), x[:, r].max(), 200)
                for (_, f), color, ls in _styled(fits.items()):
                    m, v = _np(f.mean)[r], _np(f.cov)[r, r]
                    ax.plot(grid, _normal_pdf(grid, m, math.sqrt(v)), ls, color=color, lw=1.5)
                ax.set_yticks([])
            else:
                ax.scatter(x[:, c], x[:, r], s=6, color="tab:blue", alpha=0.5, lw=0)
                q = float(chi2_ppf(level, 2))
                for (_, f), color, ls in _styled(fits.items()):
                    m = _np(f.mean)[[c, r]]
                    cv = _np(f.cov)[np.ix_([c, r], [c, r])]
                    ex, ey = _ellipse_xy(m, cv, q)
                    ax.plot(ex, ey, ls, color=color, lw=1.4)
                ax.relim()
                ax.autoscale_view()
            if r == d - 1:
                ax.set_xlabel(names[c])
            if c == 0 and r > 0:
                ax.set_ylabel(names[r])
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], ls=ls, color=color, lw=1.5, label=f"{name}: {100 * level:g}% region")
        for (name, _), color, ls in _styled(fits.items())
    ]
    handles.append(Line2D([], [], ls="none", marker="o", color="tab:blue", label="data"))
    fig.legend(handles=handles, loc="upper right", bbox_to_anchor=(0.97, 0.93), fontsize=10)
    fig.suptitle(f"Pairwise view: fitted Gaussian ({d} variables, n = {x.shape[0]})")
    return fig


def qq_plot(x, fit=None, *, ax=None, band=True):
    """Q-Q plot of squared Mahalanobis distances against chi-square(d) quantiles.

    If the rows are Gaussian, ``(x_i - mean)^T cov^{-1} (x_i - mean)`` is chi-square with
    ``d`` degrees of freedom (approximately, with estimated parameters), so the sorted
    distances fall on the diagonal. Curvature or points far above it show heavy tails,
    outliers or a mixture.

    Args:
        x: ``(n, d)`` or ``(n,)`` data.
        fit: object with ``.mean`` and ``.cov`` (default: the closed form).
        ax: optional Axes.
        band: draw a pointwise 95% band for the order statistics (from the Beta
            distribution of uniform order statistics, by simulation with a fixed seed).

    Returns:
        The ``Axes``; the points are the line labelled ``"data"``.
    """
    from ._oracles import closed_form

    ax = _new_ax(ax, figsize=(5.6, 5.0))
    x = _np(x)
    d = 1 if x.ndim == 1 else x.shape[1]
    n = x.shape[0]
    fit = closed_form(x) if fit is None else fit
    dist = np.sort(mahalanobis_sq(x, fit.mean, fit.cov))
    probs = (np.arange(1, n + 1) - 0.5) / n
    theo = chi2_ppf(probs, d)
    if band:
        rng = np.random.default_rng(0)
        u = np.sort(rng.uniform(size=(400, n)), axis=1)
        lo_p, hi_p = np.quantile(u, [0.025, 0.975], axis=0)
        lo_p, hi_p = np.clip(lo_p, 0, 1 - 1e-12), np.clip(hi_p, 0, 1 - 1e-12)
        ax.fill_between(
            theo,
            chi2_ppf(lo_p, d),
            chi2_ppf(hi_p, d),
            color="0.85",
            label="95% pointwise band (Gaussian data)",
        )
    top = max(theo.max(), dist.max()) * 1.05
    ax.plot([0, top], [0, top], "k--", lw=1, label="y = x")
    ax.plot(theo, dist, "o", ms=3.5, color="tab:blue", label="data")
    ax.set_xlim(0, theo.max() * 1.05)
    ax.set_ylim(0, top)
    ax.set_xlabel(f"χ²({d}) quantile")
    ax.set_ylabel("squared Mahalanobis distance (sorted)")
    ax.set_title(f"Q-Q plot: Mahalanobis distances vs χ²({d}), n = {n}")
    ax.legend(loc="upper left", fontsize=9)
    return ax


def plot_fit(x, fit=None, *, columns=None):
    """The natural picture of a fit: a density curve (d = 1), ellipses (d = 2) or the
    pairwise view (d > 2). Used by ``mle-jax fit --plot``.

    Returns:
        The ``Figure``.
    """
    x = _np(x)
    fits = _as_fits(fit) or None
    if x.ndim == 1 or x.shape[1] == 1:
        ax = density_plot(x.ravel(), fits, column=None if columns is None else columns[0])
        return ax.figure
    if x.shape[1] == 2:
        return ellipse_plot(x, fits, columns=columns).figure
    return pairwise_ellipses(x, fits, columns=columns)
