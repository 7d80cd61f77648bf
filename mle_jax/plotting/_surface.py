"""The brute-force grid: the NLL of 1-D data over (mu, sigma), with optimiser paths on top."""

from __future__ import annotations

import math

import numpy as np

from ..diagnostics import normal_logpdf as _normal_logpdf
from ._common import _new_ax, _np, _styled


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
            label=f"closed form (x̄ = {0.0 if abs(xbar) < 1e-9 * s else xbar:.3g}, σ̂ = {s:.3g})",
        )
    ax.set_xlim(means[0], means[-1])
    ax.set_ylim(stds[0], stds[-1])
    ax.set_xlabel("mean μ")
    ax.set_ylabel("standard deviation σ")
    what = "and optimiser paths" if drawn else "(brute-force grid)"
    ax.set_title(f"NLL of {n} points over (μ, σ) {what}")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    return ax
