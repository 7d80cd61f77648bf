"""Multivariate pictures and model checks: ellipses, the pairwise view, the Q-Q plot."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..diagnostics import chi2_ppf, qq_data
from ..diagnostics import normal_pdf as _normal_pdf
from ._common import _as_fits, _ellipse_xy, _figure, _new_ax, _np, _pyplot, _styled
from ._likelihood import density_plot

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _default_fits(x, fits, what):
    """``fits`` as a dict; default the closed form, which needs complete data."""
    from .._oracles import closed_form

    fits = _as_fits(fits)
    if fits:
        return fits
    if np.isnan(x).any():
        raise ValueError(
            f"{what}: x has missing values (NaN) and no fit was given; pass one, e.g. "
            "mj.fit(x, missing='fiml')"
        )
    return {"closed form": closed_form(x)}


def _both_observed(x, i, j):
    keep = ~(np.isnan(x[:, i]) | np.isnan(x[:, j]))
    return x[keep, i], x[keep, j]


def ellipse_plot(
    x, fits=None, *, dims=(0, 1), levels=(0.5, 0.95), ax=None, columns=None, scatter=True
):
    """Scatter of two columns with probability ellipses of fitted Gaussians.

    The ellipse at probability ``p`` is ``{y : (y - m)^T C^{-1} (y - m) = q}`` with the
    2-D marginal mean ``m`` and covariance ``C`` of a fit and ``q`` the chi-square(2)
    quantile of ``p``: it holds a fraction ``p`` of the fitted distribution (a probability,
    or tolerance, region for new rows; not a confidence region for the parameters). Rows
    with NaN in either column are not drawn (the legend says how many rows are).

    Args:
        x: ``(n, d)`` data, ``d >= 2``, NaN where missing.
        fits: an object with ``.mean`` ``(d,)`` and ``.cov`` ``(d, d)`` (a ``FitResult``, a
            closed form, an :class:`~mle_jax.Estimate`), or a dict name -> such objects;
            default the closed form (complete data only; with NaN pass a fit, e.g.
            ``mj.fit(x, missing="fiml")``).
        dims: the two columns to draw.
        levels: probabilities of the ellipses.
        ax: optional Axes.
        columns: optional column names for the axis labels.
        scatter: draw the data points.

    Returns:
        The ``Axes``.
    """
    x = _np(x)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"ellipse_plot needs (n, d) data with d >= 2, got shape {x.shape}")
    i, j = dims
    fits = _default_fits(x, fits, "ellipse_plot")
    ax = _new_ax(ax, figsize=(6.0, 5.0))
    if scatter:
        xi, xj = _both_observed(x, i, j)
        label = "data" if xi.size == x.shape[0] else f"data ({xi.size} of {x.shape[0]} rows)"
        ax.scatter(xi, xj, s=10, color="tab:blue", alpha=0.6, lw=0, label=label)
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
    ax.set_title("Data and probability regions of the fitted Gaussian")
    ax.legend(loc="best", fontsize=8)
    return ax


def pairwise_ellipses(x, fits=None, *, columns=None, level=0.95, figsize=None):
    """Every pair of columns: probability ellipses below the diagonal, histograms with the
    fitted marginal densities on it (for ``d > 2``; works for ``d = 2`` too).

    With NaN in ``x`` each histogram (and its density's range) uses the observed values of
    its column, and each scatter the rows that observe both of its columns; the fitted
    marginals are those of the fit (for a FIML fit, not of the observed values alone).

    Args:
        x: ``(n, d)`` data, NaN where missing.
        fits: as in :func:`ellipse_plot`; default the closed form (complete data only).
        columns: column names.
        level: probability of the ellipses (the fraction of the fitted distribution inside).
        figsize: default ``2.4 d`` inches square.

    Returns:
        The ``Figure``; on the diagonal the density of each fit is the line labelled with
        the fit's name.
    """
    x = _np(x)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"pairwise_ellipses needs (n, d) data with d >= 2, got shape {x.shape}")
    d = x.shape[1]
    fits = _default_fits(x, fits, "pairwise_ellipses")
    names = list(columns) if columns is not None else [f"x[{k}]" for k in range(d)]
    size = figsize or (2.5 * d + 0.5, 2.5 * d)
    fig, axes = _pyplot().subplots(d, d, figsize=size, layout="constrained", squeeze=False)
    q = float(chi2_ppf(level, 2))
    for r in range(d):
        for c in range(d):
            ax = axes[r, c]
            if c > r:
                ax.set_axis_off()
                continue
            if r == c:
                seen = x[~np.isnan(x[:, r]), r]
                ax.hist(seen, bins="auto", density=True, color="0.8", edgecolor="0.5")
                grid = np.linspace(seen.min(), seen.max(), 200)
                for (name, f), color, ls in _styled(fits.items()):
                    m, v = _np(f.mean)[r], _np(f.cov)[r, r]
                    pdf = _normal_pdf(grid, m, math.sqrt(v))
                    ax.plot(grid, pdf, ls, color=color, lw=1.5, label=str(name))
                ax.set_yticks([])
            else:
                ax.scatter(*_both_observed(x, c, r), s=6, color="tab:blue", alpha=0.5, lw=0)
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
    n = x.shape[0]
    incomplete = int(np.isnan(x).any(axis=1).sum())
    rows = f"n = {n}" + (f", {incomplete} incomplete" if incomplete else "")
    fig.suptitle(f"Pairwise view: fitted Gaussian ({d} variables, {rows})")
    return fig


def qq_plot(x, fit=None, *, ax=None, band=True, level=0.95):
    """Q-Q plot of squared Mahalanobis distances against chi-square(d) quantiles.

    If the rows are Gaussian, ``(x_i - mean)^T cov^{-1} (x_i - mean)`` is chi-square with
    ``d`` degrees of freedom (approximately, with estimated parameters), so the sorted
    distances fall on the diagonal. Curvature or points far above it show heavy tails,
    outliers or a mixture.

    Rows with NaN (after ``mj.fit(x, missing="fiml")``) enter by their observed part: its
    distance under the fitted marginal of the observed columns is chi-square with the
    row's own number ``k`` of observed columns, so each row is placed by its probability
    ``F_k(D)`` at the chi-square(``d``) quantile of that probability (a Q-Q plot of the
    per-row probabilities against the uniform law, on the chi-square(``d``) scale);
    complete rows stay where they were. The numbers, their approximations and the band
    are those of :func:`mle_jax.diagnostics.qq_data`.

    Args:
        x: ``(n, d)`` or ``(n,)`` data, NaN where missing.
        fit: object with ``.mean`` and ``.cov`` (default: the closed form, for complete data).
        ax: optional Axes.
        band: draw the simultaneous band of :func:`mle_jax.diagnostics.qq_band`: Gaussian
            data (with a fitted mean and covariance) lie inside it *at every point* with
            probability ``level``; ``"pointwise"`` draws the per-point band instead (which
            most Gaussian data sets leave somewhere); ``False`` none.
        level: the band's probability.

    Returns:
        The ``Axes``; the points are the line labelled ``"data"``.
    """
    x = _np(x)
    if fit is None:
        fit = _default_fits(x, None, "qq_plot")["closed form"]
    q = qq_data(x, fit.mean, fit.cov, band=band, level=level)
    ax = _new_ax(ax, figsize=(5.6, 5.0))
    theo, dist, d, m = q.theoretical, q.distance, q.d, q.distance.size
    top = max(theo.max(), dist.max()) * 1.05
    if q.band is not None:
        kind = "simultaneous" if q.band.simultaneous else "pointwise"
        ax.fill_between(
            theo,
            q.band.lower,
            q.band.upper,
            color="0.85",
            label=f"{100 * level:g}% {kind} band (Gaussian data)",
        )
        top = max(top, float(q.band.upper.max()) * 1.02)
    ax.plot([0, top], [0, top], "k--", lw=1, label="y = x")
    ax.plot(theo, dist, "o", ms=3.5, color="tab:blue", label="data")
    ax.set_xlim(0, theo.max() * 1.05)
    ax.set_ylim(0, top)
    ax.set_xlabel(f"χ²({d}) quantile")
    if q.n_incomplete:
        ax.set_ylabel(f"squared Mahalanobis distance, χ²({d}) scale (sorted)")
        title = f"Q-Q plot: distances vs χ²({d}), n = {m} ({q.n_incomplete} incomplete)"
    else:
        ax.set_ylabel("squared Mahalanobis distance (sorted)")
        title = f"Q-Q plot: Mahalanobis distances vs χ²({d}), n = {m}"
    ax.set_title(title)
    notes = []
    if q.band is not None:
        notes.append(f"{int(q.outside.sum())} of {m} points outside the band")
    if q.n_incomplete:
        notes.append(f"{q.n_incomplete} rows by their observed columns (χ²(k) → χ²({d}))")
    if q.n_empty:
        notes.append(f"{q.n_empty} rows with nothing observed left out")
    if notes:
        ax.text(
            0.98,
            0.03,
            "\n".join(notes),
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
