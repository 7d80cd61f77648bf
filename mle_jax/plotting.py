"""Figures for teaching and checking maximum-likelihood fits (matplotlib, imported lazily).

Every function draws on an ``ax`` you pass (or a new figure) and returns the ``Axes``
(:func:`pairwise_ellipses` and :func:`plot_fit` return the ``Figure``). Nothing here
changes global matplotlib state except creating figures through ``pyplot`` when no ``ax``
is given, so that notebooks show them.

``import mle_jax`` does not import this module; ``import mle_jax.plotting`` does not import
matplotlib until a function is called (``pip install mle_jax[plot]``). The numbers behind
the figures (densities, chi-square quantiles, Mahalanobis distances, the Q-Q band) live in
:mod:`mle_jax.diagnostics`, which needs neither matplotlib nor scipy; ``chi2_ppf`` and
``mahalanobis_sq`` are re-exported here.

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

from .diagnostics import chi2_ppf as chi2_ppf
from .diagnostics import mahalanobis_sq as mahalanobis_sq
from .diagnostics import normal_logpdf as _normal_logpdf
from .diagnostics import normal_pdf as _normal_pdf
from .diagnostics import qq_band, qq_points, score_mean

__all__ = [
    "animate_descent",
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
    "score_plot",
    "story_figures",
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


def _as_fits(fits):
    """``None``, one object with ``.mean``/``.cov``, or a dict -> a dict name -> object."""
    if fits is None:
        return {}
    if isinstance(fits, dict):
        return dict(fits)
    return {"fit": fits}


# ------------------------------------------------------------------------- numerics


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
    if derivative:
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


def loss_history(results, *, ax=None, reference=None, floor=1e-12):
    """NLL minus a reference against the step, on a log scale, for one or several fits.

    A line ends (with a ``v`` marker) at the first step where the excess falls below
    ``floor * max(1, |reference|)``: below that it is float64 rounding of the NLL, and a
    flat line there would look like stalled progress.

    Args:
        results: a ``FitResult`` or a dict name -> ``FitResult`` (their ``loss_history``).
        ax: optional Axes.
        reference: the NLL to subtract; default the smallest value any fit reached (pass
            the closed-form NLL, ``mj.nll(...)``, to measure the distance to the optimum).
        floor: relative resolution below which the excess counts as zero.

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
    tiny = floor * max(1.0, abs(ref))
    for (name, (h, steps, status)), color, _ in _styled(hist.items()):
        excess = h - ref
        hit = np.flatnonzero(excess <= tiny)
        end = int(hit[0]) if hit.size else excess.size
        label = f"{name}: {steps} steps, {status}"
        if hit.size:
            label += f"; at reference from step {end}"
        k = np.arange(end)
        ax.semilogy(k, excess[:end], color=color, lw=1.6, label=label)
        if hit.size and end > 0:
            ax.plot([end - 1], [excess[end - 1]], "v", color=color, ms=7)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("NLL − reference NLL (log scale)")
    ax.set_title(
        f"Loss history\n(▼ line ends: excess < {tiny:.1g} = {floor:g}·|reference|, "
        "float64 rounding)",
        fontsize=10,
    )
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=8, ncol=1)
    return ax


def _frame_steps(length, max_frames):
    """Up to ``max_frames`` step indices in ``[0, length)``, denser early (log-spaced)."""
    if length <= max_frames:
        return np.arange(length)
    k = np.unique(np.round(np.geomspace(1, length, max_frames)).astype(int) - 1)
    return np.unique(np.r_[0, k, length - 1])


def animate_descent(
    x,
    fits,
    *,
    out="descent.gif",
    fps=8,
    max_frames=30,
    hold=5,
    ellipse=False,
    dims=(0, 1),
    figsize=None,
    dpi=80,
):
    """A GIF of optimisers walking to the MLE (matplotlib's ``PillowWriter``).

    Univariate data: the paths grow over the NLL surface in (mu, sigma) (as drawn by
    :func:`nll_surface`). Multivariate data: the loss histories grow instead (the surface
    has too many dimensions). ``ellipse=True`` adds a panel with the fitted distribution
    on the data at each frame: the 95% ellipse of columns ``dims`` for ``d >= 2``, the
    density over the histogram for ``d = 1``.

    Frames follow the step count (log-spaced, at most ``max_frames``, all paths advance
    together so their speeds compare); the last frame is held ``hold`` frames.

    Args:
        x: ``(n,)`` or ``(n, d)`` data.
        fits: a ``FitResult`` of ``fit(..., trace=True)``, an :class:`~mle_jax.Estimate`
            path, or a dict name -> either (any preconditioning: only the iterates in the
            user's units are read).
        out: the file to write.
        fps: frames per second.
        max_frames: the most distinct frames (long paths are subsampled).
        hold: extra copies of the last frame.
        ellipse: add the data panel.
        dims: the two columns of the ellipse panel.
        figsize: default ``(7.2, 5.2)``, twice as wide with ``ellipse``.
        dpi: pixels per inch; the GIF is ``figsize * dpi`` pixels.

    Returns:
        ``out``.
    """
    from matplotlib.animation import PillowWriter

    from ._oracles import closed_form

    x = _np(x)
    fits = _as_fits(fits)
    if not fits:
        raise ValueError("animate_descent needs at least one fit with a path")
    univariate = x.ndim == 1 or x.shape[1] == 1
    paths = {}
    for name, f in fits.items():
        p = f.path if hasattr(f, "path") else f
        if p is None:
            raise ValueError(f"{name}: the fit has no path: call fit(..., trace=True)")
        paths[name] = p
    length = max(int(np.shape(p.mean)[0]) for p in paths.values())
    steps = _frame_steps(length, max_frames)
    ncols = 2 if ellipse else 1
    figsize = figsize or (7.2 * ncols, 5.2)
    fig, axes = _pyplot().subplots(1, ncols, figsize=figsize, layout="constrained", squeeze=False)
    ax = axes[0, 0]
    styled = _styled(paths.items())
    moving = []  # (name, color, update(k)) per drawn object
    if univariate:
        xr = x.ravel()
        nll_surface(xr, paths, ax=ax, num=100)
        for line in list(ax.get_lines()):  # the full paths: redrawn frame by frame below
            if line.get_label().endswith("steps)") or line.get_marker() == ".":
                line.remove()
        for (name, p), color, _ in styled:
            pm, ps = _np(p.mean).ravel(), _np(p.std).ravel()
            (ln,) = ax.plot([], [], "-", color=color, lw=1.6)
            (dot,) = ax.plot([], [], "o", color=color, ms=7, mec="k")

            def upd(k, pm=pm, ps=ps, ln=ln, dot=dot):
                j = min(k, pm.size - 1)
                ln.set_data(pm[: j + 1], ps[: j + 1])
                dot.set_data(pm[j : j + 1], ps[j : j + 1])

            moving.append(upd)
    else:
        hist = {n: _np(f.loss_history) for n, f in fits.items() if hasattr(f, "loss_history")}
        if not hist:
            raise ValueError("multivariate data: pass FitResults (their loss histories are drawn)")
        ref = min(float(np.nanmin(h)) for h in hist.values())
        tiny = 1e-12 * max(1.0, abs(ref))
        for (name, p), color, _ in styled:
            if name not in hist:
                continue
            h = hist[name][: int(np.shape(p.mean)[0])] - ref
            h = np.where(h > tiny, h, np.nan)
            (ln,) = ax.semilogy([], [], color=color, lw=1.6, label=name)

            def upd(k, h=h, ln=ln):
                j = min(k, h.size - 1)
                ln.set_data(np.arange(j + 1), h[: j + 1])

            moving.append(upd)
        top = max(float(np.nanmax(h - ref)) for h in hist.values())
        ax.set_xlim(0, length)
        ax.set_ylim(tiny, top * 3)
        ax.set_xlabel("optimiser step")
        ax.set_ylabel("NLL − lowest NLL (log scale)")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    if ellipse:
        dax = axes[0, 1]
        if univariate:
            xr = x.ravel()
            dax.hist(xr, bins="auto", density=True, color="0.8", edgecolor="0.5", label="data")
            span = xr.max() - xr.min()
            grid = np.linspace(xr.min() - 0.15 * span, xr.max() + 0.15 * span, 300)
            cf = closed_form(xr)
            peak = float(_normal_pdf(0.0, 0.0, float(cf.std)))
            dax.set_ylim(0, 1.6 * peak)
            dax.set_xlim(grid[0], grid[-1])
            dax.set_xlabel("x")
            dax.set_ylabel("density")
            for (name, p), color, _ in styled:
                pm, ps = _np(p.mean).ravel(), _np(p.std).ravel()
                (ln,) = dax.plot([], [], color=color, lw=2, label=name)

                def upd(k, pm=pm, ps=ps, ln=ln):
                    j = min(k, pm.size - 1)
                    ln.set_data(grid, _normal_pdf(grid, pm[j], ps[j]))

                moving.append(upd)
        else:
            i, j2 = dims
            dax.scatter(x[:, i], x[:, j2], s=8, color="tab:blue", alpha=0.5, lw=0, label="data")
            q = float(chi2_ppf(0.95, 2))
            cf = closed_form(x)
            ex, ey = _ellipse_xy(_np(cf.mean)[[i, j2]], _np(cf.cov)[np.ix_([i, j2], [i, j2])], q)
            dax.plot(ex, ey, ":", color="k", lw=1.2, label="closed form 95%")
            dax.set_xlabel(f"x[{i}]")
            dax.set_ylabel(f"x[{j2}]")
            dax.relim()
            dax.autoscale_view()
            for (name, p), color, _ in styled:
                pm = _np(p.mean)[:, [i, j2]]
                pc = _np(p.cov)[:, [i, j2]][:, :, [i, j2]]
                (ln,) = dax.plot([], [], color=color, lw=1.8, label=f"{name} 95%")

                def upd(k, pm=pm, pc=pc, ln=ln):
                    s = min(k, pm.shape[0] - 1)
                    ln.set_data(*_ellipse_xy(pm[s], pc[s], q))

                moving.append(upd)
        dax.set_title("Fitted distribution on the data")
        dax.legend(loc="upper right", fontsize=8)
    title = fig.suptitle(" ")
    writer = PillowWriter(fps=fps)
    with writer.saving(fig, out, dpi):
        for frame, k in enumerate(list(steps) + [steps[-1]] * hold):
            for upd in moving:
                upd(int(k))
            title.set_text(f"Optimiser paths, step {int(k)} of {length - 1}")
            if frame == 0:
                fig.canvas.draw()
                fig.set_layout_engine("none")  # freeze the layout: no jitter between frames
            writer.grab_frame()
    _pyplot().close(fig)
    return out


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
    from ._oracles import closed_form

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


def story_figures(out_dir, *, seed=0, n=2000, data=None, fit=None, truth=None) -> list[str]:
    """The demo's story as files in ``out_dir``: one point, the likelihood over the mean,
    the zero derivative, the brute-force grid, descent paths (PNG and an animated GIF),
    loss histories, the multivariate fit and its Q-Q check. Returns the paths written.

    Args:
        out_dir: the folder (created if needed).
        seed: the seed of every simulated data set.
        n: rows of the simulated 3-D data set (figures 7-8) when ``data`` is not given.
        data: optional ``(n, 3)`` data for figures 7-8 (the CLI passes its own).
        fit: its fit (default ``mj.fit(data)``).
        truth: optional ``(mean, cov)`` drawn beside the fit.

    Returns:
        The list of file paths, in story order.
    """
    import os

    import optax

    import mle_jax as mj

    plt = _pyplot()
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []

    def save(fig, name):
        path = os.path.join(out_dir, name)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)

    # 1. one point, two candidate normals
    save(point_densities(32.0, [(28.0, 2.0), (30.0, 2.0)]).figure, "01_one_point.png")
    # 2. the likelihood over mu: one point, then several (product and its log)
    few = np.round(rng.normal(30.0, 2.0, size=6), 1)
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4), layout="constrained")
    likelihood_curve(32.0, std=2.0, ax=axes[0])
    likelihood_curve(few, std=2.0, ax=axes[1])
    likelihood_curve(few, std=2.0, ax=axes[2], log=True)
    save(fig, "02_likelihood_curve.png")
    # 3. the peak is where the derivative is zero
    save(score_plot(few, std=2.0), "03_zero_derivative.png")
    # 4. brute force: the grid of NLL over (mu, sigma)
    x1 = rng.normal(30.0, 2.0, size=200)
    save(nll_surface(x1, show_grid_min=True).figure, "04_grid_search.png")
    # 5.-6. gradient descent from a poor start: paths, their animation and loss curves
    init = (24.0, 5.0**2)
    fits = {
        "SGD (lr 0.05)": mj.fit(
            x1, optimizer=optax.sgd(0.05), init=init, trace=True, max_steps=2000
        ),
        "Adam (lr 0.1)": mj.fit(
            x1, optimizer=optax.adam(0.1), init=init, trace=True, max_steps=2000
        ),
        "L-BFGS": mj.fit(x1, init=init, trace=True),
    }
    save(nll_surface(x1, fits).figure, "05_descent_paths.png")
    gif = os.path.join(out_dir, "05_descent_paths.gif")
    paths.append(animate_descent(x1, fits, out=gif, ellipse=True))
    cf1 = mj.closed_form(x1)
    ref = float(mj.nll(mj.MvnParams.from_mean_cov(cf1.mean, cf1.cov), x1))
    save(loss_history(fits, reference=ref).figure, "06_loss_history.png")
    # 7.-8. the multivariate fit: ellipses and a Q-Q check
    if data is None:
        true_mean = np.array([28.0, -3.0, 1000.0])
        a = np.array([[2.0, 0.0, 0.0], [0.8, 1.5, 0.0], [-3.0, 4.0, 10.0]])
        truth = (true_mean, a @ a.T) if truth is None else truth
        data = np.random.default_rng(seed).multivariate_normal(true_mean, a @ a.T, size=n)
    data = _np(data)
    fit = mj.fit(data) if fit is None else fit
    shown = {"fit": fit}
    if truth is not None:
        tm, tc = _np(truth[0]), _np(truth[1])
        shown["true"] = mj.Estimate(tm, tc, np.sqrt(np.diagonal(tc)))
    cols = [f"x{k}" for k in range(data.shape[1])]
    save(pairwise_ellipses(data, shown, columns=cols), "07_multivariate_ellipses.png")
    save(qq_plot(data, fit).figure, "08_qq_mahalanobis.png")
    return paths
