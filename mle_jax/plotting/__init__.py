"""Figures for teaching and checking maximum-likelihood fits (matplotlib, imported lazily).

Every function draws on an ``ax`` you pass (or a new figure) and returns the ``Axes``
(:func:`pairwise_ellipses`, :func:`plot_fit`, :func:`score_plot` and :func:`raw_vs_whitened`
return the ``Figure``). Nothing here changes global matplotlib state except creating figures
through ``pyplot`` when no ``ax`` is given, so that notebooks show them.

``import mle_jax`` does not import this package; ``import mle_jax.plotting`` does not import
matplotlib until a function is called (``pip install mle_jax[plot]``). The numbers behind
the figures (densities, chi-square quantiles, Mahalanobis distances, the Q-Q band) live in
:mod:`mle_jax.diagnostics`, which needs neither matplotlib nor scipy; ``chi2_ppf`` and
``mahalanobis_sq`` are re-exported here, and :func:`hessian_condition` (the conditioning of
the NLL at the MLE) needs no matplotlib either.

The modules, by concept: ``_likelihood`` (one point, the curve over the mean, its
derivative, the fitted density), ``_surface`` (the NLL over (mu, sigma): the brute-force
grid), ``_descent`` (loss histories, the animation), ``_precondition`` (raw vs whitened),
``_multivariate`` (ellipses, Q-Q, :func:`plot_fit`) and ``_story`` (the demo's figures).
Names starting with ``_`` are private.

Examples:
    >>> import numpy as np, mle_jax as mj
    >>> from mle_jax import plotting
    >>> x = np.random.default_rng(0).normal(30.0, 2.0, size=50)
    >>> ax = plotting.likelihood_curve(x, std=2.0)
    >>> ax.get_xlabel()
    'mean μ'
"""

from ..diagnostics import chi2_ppf as chi2_ppf
from ..diagnostics import mahalanobis_sq as mahalanobis_sq
from ._descent import animate_descent as animate_descent
from ._descent import loss_history as loss_history
from ._likelihood import density_plot as density_plot
from ._likelihood import likelihood_curve as likelihood_curve
from ._likelihood import point_densities as point_densities
from ._likelihood import score_plot as score_plot
from ._multivariate import ellipse_plot as ellipse_plot
from ._multivariate import pairwise_ellipses as pairwise_ellipses
from ._multivariate import plot_fit as plot_fit
from ._multivariate import qq_plot as qq_plot
from ._precondition import Conditioning as Conditioning
from ._precondition import hessian_condition as hessian_condition
from ._precondition import raw_vs_whitened as raw_vs_whitened
from ._story import story_figures as story_figures
from ._surface import nll_surface as nll_surface

__all__ = [
    "Conditioning",
    "animate_descent",
    "chi2_ppf",
    "density_plot",
    "ellipse_plot",
    "hessian_condition",
    "likelihood_curve",
    "loss_history",
    "mahalanobis_sq",
    "nll_surface",
    "pairwise_ellipses",
    "plot_fit",
    "point_densities",
    "qq_plot",
    "raw_vs_whitened",
    "score_plot",
    "story_figures",
]
