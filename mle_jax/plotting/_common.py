"""Shared helpers of :mod:`mle_jax.plotting`: colours, lazy pyplot, argument coercion."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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


def _figure(ax) -> Figure:
    """The root ``Figure`` an Axes is drawn on (not a ``SubFigure``)."""
    try:
        return ax.get_figure(root=True)
    except TypeError:  # matplotlib < 3.10: no root=, and no subfigures here
        return ax.figure


def _np(a):
    return np.asarray(a, dtype=np.float64)


def _as_fits(fits):
    """``None``, one object with ``.mean``/``.cov``, or a dict -> a dict name -> object."""
    if fits is None:
        return {}
    if isinstance(fits, dict):
        return dict(fits)
    return {"fit": fits}


def _ellipse_xy(mean2, cov2, r2, num=200):
    """Points on the ellipse ``(y - m)^T C^{-1} (y - m) = r2`` (2-D)."""
    chol = np.linalg.cholesky(cov2)
    t = np.linspace(0.0, 2.0 * np.pi, num)
    circle = np.stack([np.cos(t), np.sin(t)])
    return mean2[:, None] + math.sqrt(r2) * chol @ circle
