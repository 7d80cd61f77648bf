"""Multivariate pictures and model checks: ellipses, the pairwise view, the Q-Q plot."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..diagnostics import chi2_ppf, qq_band, qq_points
from ..diagnostics import normal_pdf as _normal_pdf
from ._common import _as_fits, _ellipse_xy, _figure, _new_ax, _np, _pyplot, _styled
from ._likelihood import density_plot

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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
    from .._oracles import closed_form

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
    from .._oracles import closed_form

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


def qq_plot(x, fit=None, *, ax=None, band=True, level=0.95):
    """Q-Q plot of squared Mahalanobis distances against chi-square(d) quantiles.

    If the rows are Gaussian, ``(x_i - mean)^T cov^{-1} (x_i - mean)`` is chi-square with
    ``d`` degrees of freedom (approximately, with estimated parameters), so the sorted
    distances fall on the diagonal. Curvature or points far above it show heavy tails,
    outliers or a mixture.

    Args:
        x: ``(n, d)`` or ``(n,)`` data.
        fit: object with ``.mean`` and ``.cov`` (default: the closed form).
        ax: optional Axes.
        band: draw the simultaneous band of :func:`mle_jax.diagnostics.qq_band`: Gaussian
            data (with a fitted mean and covariance) lie inside it *at every point* with
            probability ``level``; ``"pointwise"`` draws the per-point band instead (which
            most Gaussian data sets leave somewhere); ``False`` none.
        level: the band's probability.

    Returns:
        The ``Axes``; the points are the line labelled ``"data"``.
    """
    from .._oracles import closed_form

    ax = _new_ax(ax, figsize=(5.6, 5.0))
    x = _np(x)
    d = 1 if x.ndim == 1 else x.shape[1]
    n = x.shape[0]
    fit = closed_form(x) if fit is None else fit
    theo, dist = qq_points(x, fit.mean, fit.cov)
    top = max(theo.max(), dist.max()) * 1.05
    outside = None
    if band:
        simultaneous = band != "pointwise"
        qb = qq_band(n, d, level=level, simultaneous=simultaneous)
        kind = "simultaneous" if simultaneous else "pointwise"
        outside = int(np.sum((dist < qb.lower) | (dist > qb.upper)))
        ax.fill_between(
            theo,
            qb.lower,
            qb.upper,
            color="0.85",
            label=f"{100 * level:g}% {kind} band (Gaussian data)",
        )
        top = max(top, float(qb.upper.max()) * 1.02)
    ax.plot([0, top], [0, top], "k--", lw=1, label="y = x")
    ax.plot(theo, dist, "o", ms=3.5, color="tab:blue", label="data")
    ax.set_xlim(0, theo.max() * 1.05)
    ax.set_ylim(0, top)
    ax.set_xlabel(f"χ²({d}) quantile")
    ax.set_ylabel("squared Mahalanobis distance (sorted)")
    ax.set_title(f"Q-Q plot: Mahalanobis distances vs χ²({d}), n = {n}")
    if outside is not None:
        ax.text(
            0.98,
            0.03,
            f"{outside} of {n} points outside the band",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=9,
        )
    ax.legend(loc="upper left", fontsize=9)
    return ax


def plot_fit(x, fit=None, *, columns=None) -> Figure:
    """The natural picture of a fit: a density curve (d = 1), ellipses (d = 2) or the
    pairwise view (d > 2). Used by ``mle-jax fit --plot``.

    Returns:
        The ``Figure``.
    """
    x = _np(x)
    fits = _as_fits(fit) or None
    if x.ndim == 1 or x.shape[1] == 1:
        ax = density_plot(x.ravel(), fits, column=None if columns is None else columns[0])
        return _figure(ax)
    if x.shape[1] == 2:
        return _figure(ellipse_plot(x, fits, columns=columns))
    return pairwise_ellipses(x, fits, columns=columns)
