"""Optimisation over time: loss histories and the animated descent."""

from __future__ import annotations

import numpy as np

from ..diagnostics import chi2_ppf
from ..diagnostics import normal_pdf as _normal_pdf
from ._common import _as_fits, _ellipse_xy, _new_ax, _np, _pyplot, _styled
from ._surface import nll_surface


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
    from .._types import Status

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

    from .._oracles import closed_form

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
        for (_name, p), color, _ in styled:
            pm, ps = _np(p.mean).ravel(), _np(p.std).ravel()
            (ln,) = ax.plot([], [], "-", color=color, lw=1.6)
            (dot,) = ax.plot([], [], "o", color=color, ms=7, mec="k")

            def upd_path(k, pm=pm, ps=ps, ln=ln, dot=dot):
                j = min(k, pm.size - 1)
                ln.set_data(pm[: j + 1], ps[: j + 1])
                dot.set_data(pm[j : j + 1], ps[j : j + 1])

            moving.append(upd_path)
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

            def upd_loss(k, h=h, ln=ln):
                j = min(k, h.size - 1)
                ln.set_data(np.arange(j + 1), h[: j + 1])

            moving.append(upd_loss)
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

                def upd_density(k, pm=pm, ps=ps, ln=ln):
                    j = min(k, pm.size - 1)
                    ln.set_data(grid, _normal_pdf(grid, pm[j], ps[j]))

                moving.append(upd_density)
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

                def upd_ellipse(k, pm=pm, pc=pc, ln=ln):
                    s = min(k, pm.shape[0] - 1)
                    ln.set_data(*_ellipse_xy(pm[s], pc[s], q))

                moving.append(upd_ellipse)
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
