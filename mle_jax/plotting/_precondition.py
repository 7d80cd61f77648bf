"""Why standardise? The same optimiser on the raw and on the whitened NLL surface.

:func:`hessian_condition` is the number that decides (no matplotlib); :func:`raw_vs_whitened`
draws it.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from ._common import _np, _pyplot
from ._descent import loss_history
from ._surface import nll_surface


class Conditioning(NamedTuple):
    """The curvature of the mean NLL at the MLE in one coordinate system."""

    hessian: np.ndarray
    """``(p, p)`` Hessian of the mean NLL per sample in (mean, log-Cholesky) coordinates."""
    eigenvalues: np.ndarray
    """``(p,)`` its eigenvalues, ascending."""
    condition_number: float
    """Largest over smallest eigenvalue: gradient descent needs ~``kappa`` steps per factor e."""


def hessian_condition(x, precondition: str = "none") -> Conditioning:
    """The Hessian of the mean NLL at the MLE, in the coordinates the optimiser walks.

    ``precondition`` names the coordinates as :func:`mle_jax.fit` does: ``"none"`` the
    user's mean and log-Cholesky entries, ``"scale"`` those of the centred data divided by
    each column's standard deviation, ``"whiten"`` those of the data centred and whitened by
    the sample covariance (the MLE is then the origin). Computed by ``jax.hessian`` of
    :func:`mle_jax.nll` (divided by ``n``) at the closed-form MLE, in float64.

    For 1-D data in ``"none"`` coordinates the Hessian is ``diag(1/sigma^2, 2)``: its
    condition number ``2 sigma^2`` (or ``1/(2 sigma^2)``) depends on the units of the data;
    whitened, it is ``diag(1, 2)``, condition number 2, whatever the data.

    Args:
        x: ``(n,)`` or ``(n, d)`` data.
        precondition: ``"none"``, ``"scale"`` or ``"whiten"``.

    Returns:
        A :class:`Conditioning`.

    Examples:
        >>> x = np.array([26.0, 28.0, 32.0, 34.0])          # mean 30, sigma^2 = 10
        >>> round(hessian_condition(x, "none").condition_number, 6)  # doctest: +SKIP
        20.0
        >>> round(hessian_condition(x, "whiten").condition_number, 6)  # doctest: +SKIP
        2.0
    """
    import jax

    from .._bijections import raw_from_chol

    x = _np(x)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"x must be (n,) or (n, d), got shape {x.shape}")
    n, d = x.shape
    mean = x.mean(axis=0)
    cov = (x - mean).T @ (x - mean) / n
    if precondition == "none":
        z = x
    elif precondition == "scale":
        z = (x - mean) / np.sqrt(np.diagonal(cov))
    elif precondition == "whiten":
        z = np.linalg.solve(np.linalg.cholesky(cov), (x - mean).T).T
    else:
        raise ValueError(f"precondition must be 'none', 'scale' or 'whiten', got {precondition!r}")
    zm = z.mean(axis=0)
    chol = np.linalg.cholesky((z - zm).T @ (z - zm) / n)
    theta = np.concatenate([zm, raw_from_chol(chol)])
    with jax.enable_x64(True), jax.default_device(jax.devices("cpu")[0]):
        hess = _mean_nll_hessian()(jax.numpy.asarray(theta), jax.numpy.asarray(z))
        hess = np.asarray(hess, np.float64)
    hess = 0.5 * (hess + hess.T)
    eig = np.linalg.eigvalsh(hess)
    return Conditioning(hess, eig, float(eig[-1] / eig[0]))


@functools.cache
def _mean_nll_hessian():
    """``jax.hessian`` of the mean NLL at ``(theta, z)``, compiled once per shape (op by op,
    it compiled some 150 small programs on each first call)."""
    import jax

    from .._bijections import MvnParams
    from .._nll import nll

    def mean_nll(theta, z):
        d = z.shape[1]
        return nll(MvnParams(theta[:d], theta[d:]), z) / z.shape[0]

    return jax.jit(jax.hessian(mean_nll))


def raw_vs_whitened(
    x,
    *,
    lr: float = 0.5,
    init=(24.0, 25.0),
    max_steps: int = 2000,
    fits=None,
    figsize=(17.0, 5.6),
):
    """The same ``optax.sgd(lr)`` on the raw and on the whitened NLL surface, side by side.

    Left, ``precondition="none"``: SGD walks the user's ``(mu, log sigma)``; its path is drawn
    on the NLL over ``(mu, sigma)``. Right, ``precondition="whiten"`` (the default of
    :func:`mle_jax.fit`): SGD walks ``((mu - x̄)/σ̂, log(sigma/σ̂))`` of the standardised
    data; its path and the surface are drawn in ``((mu - x̄)/σ̂, sigma/σ̂)``. The step counts
    are in the legends and the title, every step is a white dot, and a third panel shows
    both loss histories (NLL above the minimum, log scale: their slopes are the rates). The
    caption gives the condition number of the Hessian
    of the mean NLL at the optimum in each optimiser's coordinates
    (:func:`hessian_condition`): gradient descent needs about ``kappa`` steps per factor e.

    Args:
        x: ``(n,)`` data.
        lr: SGD's learning rate (the same on both surfaces).
        init: the start ``(mean, variance)`` in the user's units.
        max_steps: the most steps of each fit.
        fits: optional ``{"none": result, "whiten": result}`` of ``fit(..., trace=True)``
            (then ``lr``, ``init`` and ``max_steps`` only label the figure).
        figsize: the figure size.

    Returns:
        The ``Figure`` (three Axes: raw surface, whitened surface, loss histories).
    """
    import mle_jax as mj

    x = _np(x)
    if x.ndim != 1:
        raise ValueError(f"raw_vs_whitened takes 1-D data, got shape {x.shape}")
    if fits is None:
        import optax

        opt = optax.sgd(lr)
        fits = {
            p: mj.fit(x, optimizer=opt, init=init, precondition=p, trace=True, max_steps=max_steps)
            for p in ("none", "whiten")
        }
    raw, white = fits["none"], fits["whiten"]
    rpath, wpath_user = getattr(raw, "path", None), getattr(white, "path", None)
    for name, p in (("none", rpath), ("whiten", wpath_user)):
        if p is None:
            raise ValueError(f"fits[{name!r}] has no path: call fit(..., trace=True)")
    assert rpath is not None and wpath_user is not None
    steps = {p: int(np.asarray(fits[p].num_steps)) for p in ("none", "whiten")}
    kappa = {p: hessian_condition(x, p).condition_number for p in ("none", "whiten")}
    aff = white.standardiser
    shift, scale = float(np.ravel(aff.shift)[0]), float(np.ravel(aff.factor)[0])
    fig, axes = _pyplot().subplots(
        1, 3, figsize=figsize, layout="constrained", gridspec_kw={"width_ratios": (5, 5, 3.6)}
    )
    label = f"SGD (lr {lr:g})"
    nll_surface(x, {label: raw}, ax=axes[0], num=120)
    axes[0].plot(_np(rpath.mean), _np(rpath.std), ".", color="w", ms=2.5, zorder=4)
    axes[0].set_title(
        f"Raw: SGD walks (μ, log σ), drawn in (μ, σ)\n{steps['none']} steps, κ = "
        f"{kappa['none']:.2f}",
        fontsize=10,
    )
    wpath = (
        (_np(wpath_user.mean) - shift) / scale,
        _np(wpath_user.std) / scale,
    )
    nll_surface((x - shift) / scale, {label: wpath}, ax=axes[1], num=120)
    axes[1].plot(*wpath, ".", color="w", ms=2.5, zorder=4)
    axes[1].set_xlabel("standardised mean (μ − x̄)/σ̂")
    axes[1].set_ylabel("standardised std σ/σ̂")
    axes[1].set_title(
        f"Whitened: SGD walks ((μ − x̄)/σ̂, log(σ/σ̂)), drawn in ((μ − x̄)/σ̂, σ/σ̂)\n"
        f"{steps['whiten']} steps, κ = {kappa['whiten']:.2f}",
        fontsize=10,
    )
    hist = {f"raw (κ = {kappa['none']:.1f})": raw, f"whitened (κ = {kappa['whiten']:.1f})": white}
    loss_history(hist, ax=axes[2])
    axes[2].set_title("Loss histories: the slope is the rate", fontsize=10)
    m0 = float(np.ravel(_np(rpath.mean))[0])
    s0 = float(np.ravel(_np(rpath.std))[0])
    fig.suptitle(
        f"The same optax.sgd({lr:g}) from (μ, σ) = ({m0:.3g}, {s0:.3g}): {steps['none']} steps "
        f"on the raw surface, {steps['whiten']} on the whitened one"
    )
    s2 = float(np.var(x))
    closed = "2σ̂²" if 2 * s2 >= 1 else "1/(2σ̂²)"
    fig.supxlabel(
        "Condition number κ of the Hessian of the mean NLL at the optimum, in the optimiser's "
        f"coordinates: raw κ = {kappa['none']:.2f} (= {closed}), whitened κ = "
        f"{kappa['whiten']:.2f}."
        "\nOn a quadratic bowl gradient descent shrinks the slowest error by about (1 − 1/κ) "
        "a step: ~κ steps per factor e.",
        fontsize=9.5,
    )
    return fig
