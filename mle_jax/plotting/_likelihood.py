"""The likelihood of 1-D data: one point, the curve over the mean, its zero derivative, the
fitted density."""

from __future__ import annotations

import math

import numpy as np

from ..diagnostics import normal_logpdf as _normal_logpdf
from ..diagnostics import normal_pdf as _normal_pdf
from ..diagnostics import score_mean
from ._common import _as_fits, _new_ax, _np, _pyplot, _styled


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


def likelihood_curve(
    x,
    std=None,
    means=None,
    *,
    ax=None,
    log=False,
    mark_peak=True,
    derivative=False,
    tangents=None,
):
    """The likelihood (or log-likelihood) of 1-D data as a function of the mean ``mu``.

    Args:
        x: ``(n,)`` data (or one number).
        std: the fixed ``sigma``; default the data's MLE ``x.std()`` (needs ``n >= 2``).
        means: ``(m,)`` candidate means; default ``x.mean() +- 4 sigma``.
        ax: optional Axes; with ``derivative=True`` a pair ``(top, bottom)`` of Axes.
        log: plot the log-likelihood (a sum of log-densities) instead of the product.
        mark_peak: draw the grid maximum and the sample mean (the closed-form peak).
        derivative: add a lower panel (sharing x) with the derivative of the
            log-likelihood, ``d log L / d mu = sum (x_i - mu) / sigma^2``, which crosses
            zero at the peak (the line labelled ``"d log L / dμ"``).
        tangents: candidate means at which to draw the tangent to the curve (its slope is
            the derivative there; it flattens at the peak); ``True`` picks five.

    Returns:
        The ``Axes`` of the curve (the derivative panel is ``ax.figure.axes``'s other one).
        The curve's data are the line labelled ``"likelihood"`` (``"log-likelihood"``).
    """
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
    dax = None
    if derivative:
        if ax is None:
            _, (ax, dax) = _pyplot().subplots(
                2,
                1,
                figsize=(6.4, 6.4),
                sharex=True,
                layout="constrained",
                gridspec_kw={"height_ratios": (3, 2)},
            )
        else:
            try:
                ax, dax = ax
            except (TypeError, ValueError):
                raise ValueError("derivative=True needs ax=(top, bottom), two Axes") from None
    else:
        ax = _new_ax(ax)
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
    if tangents is True:
        tangents = xbar + std * np.array([-2.4, -1.2, 0.0, 1.2, 2.4])
    if tangents is not None:
        half = 0.09 * (means[-1] - means[0])
        for k, m0 in enumerate(np.atleast_1d(_np(tangents))):
            ll0 = float(np.sum(_normal_logpdf(x, m0, std)))
            sc = float(score_mean(x, m0, std))
            y0, slope = (ll0, sc) if log else (math.exp(ll0), math.exp(ll0) * sc)
            t = np.array([m0 - half, m0 + half])
            ax.plot(
                t,
                y0 + slope * (t - m0),
                color="darkgreen",
                lw=2.2,
                zorder=3,
                label="tangent (slope = derivative)" if k == 0 else "_nolegend_",
            )
            ax.plot([m0], [y0], "o", color="tab:green", ms=4)
    bottom, top = ax.get_ylim()
    ymax = float(np.max(y))
    if n <= 30:
        ax.plot(x, np.full(n, bottom), "|", color="k", ms=14, mew=1.5, label="data")
    # head room above the peak for the legend, so it covers neither the flanks nor the data
    ax.set_ylim(bottom, ymax + 0.55 * (ymax - bottom))
    what = "log-likelihood  Σ log p(xᵢ | μ, σ)" if log else "likelihood  Π p(xᵢ | μ, σ)"
    ax.set_ylabel(what)
    pts = "1 point" if n == 1 else f"{n} points"
    ax.set_title(f"{'Log-likelihood' if log else 'Likelihood'} of {pts} over μ, σ = {std:.3g}")
    ax.legend(loc="upper left", fontsize=8, ncol=2, framealpha=0.9)
    if dax is not None:
        _draw_score(dax, x, means, std, xbar, tangents)
        ax.tick_params(labelbottom=False)
    else:
        ax.set_xlabel("mean μ")
    return ax


def _draw_score(ax, x, means, std, xbar, tangents=None):
    """The derivative of the log-likelihood over the mean, with its zero at the sample mean."""
    sc = score_mean(x, means, std)
    ax.axhline(0.0, color="k", lw=0.8)
    ax.plot(means, sc, color="tab:purple", lw=2, label="d log L / dμ")
    if tangents is not None:
        t = np.atleast_1d(_np(tangents))
        ax.plot(
            t, score_mean(x, t, std), "o", color="tab:green", ms=5, label="at the tangents' means"
        )
    ax.axvline(xbar, color="tab:red", ls="--", lw=1.2)
    ax.plot([xbar], [0.0], "o", color="tab:red", ms=7, label="zero at x̄: the MLE")
    ax.set_xlabel("mean μ")
    ax.set_ylabel("d log L / dμ = Σ (xᵢ − μ)/σ²")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    return ax


def score_plot(x, std=None, *, log=True, tangents=True, means=None, figsize=(6.8, 6.4)):
    """The zero derivative drawn: the log-likelihood over ``mu`` with tangent lines that
    flatten at the peak, above its derivative ``sum (x_i - mu)/sigma^2`` crossing zero there.

    Setting this derivative to zero and solving gives the closed form ``mu = x̄``; the
    optimisers find the same point by following it.

    Args:
        x: ``(n,)`` data.
        std: the fixed ``sigma``; default the MLE ``x.std()``.
        log: the top panel shows the log-likelihood (default) or the likelihood.
        tangents: means at which to draw tangents; ``True`` picks five around the peak.
        means: the ``mu`` grid.
        figsize: the figure size.

    Returns:
        The ``Figure`` (two Axes sharing x: the curve, the derivative).
    """
    fig, axes = _pyplot().subplots(
        2,
        1,
        figsize=figsize,
        sharex=True,
        layout="constrained",
        gridspec_kw={"height_ratios": (3, 2)},
    )
    likelihood_curve(x, std, means, ax=axes, log=log, derivative=True, tangents=tangents)
    fig.suptitle("The maximum is where the derivative is zero")
    return fig


def density_plot(x, fit=None, *, ax=None, bins="auto", column=None):
    """Histogram of 1-D data with the fitted normal density (default: the closed form).

    NaN entries (missing values) are left out of the histogram and of the density's range.

    Args:
        x: ``(n,)`` data, NaN where missing.
        fit: an object with scalar ``.mean`` and ``.cov`` (the variance), or a dict of them.
        ax: optional Axes.
        bins: passed to ``ax.hist``.
        column: name of the variable for the x label.

    Returns:
        The ``Axes``.
    """
    from .._oracles import closed_form

    x = _np(x).ravel()
    seen = x[~np.isnan(x)]
    if seen.size == 0:
        raise ValueError("density_plot: x has no observed (non-NaN) value")
    fits = _as_fits(fit)
    if not fits:
        if seen.size < x.size:
            raise ValueError(
                "density_plot: x has missing values (NaN) and no fit was given; pass one, "
                "e.g. mj.fit(x, missing='fiml')"
            )
        fits = {"closed form": closed_form(x)}
    ax = _new_ax(ax)
    label = f"data (n = {x.size})" if seen.size == x.size else f"data ({seen.size} of {x.size})"
    x = seen
    ax.hist(x, bins=bins, density=True, color="0.8", edgecolor="0.5", label=label)
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
