"""The demo's story as a folder of figures."""

from __future__ import annotations

import numpy as np

from ._common import _np, _pyplot
from ._descent import animate_descent, loss_history
from ._likelihood import likelihood_curve, point_densities, score_plot
from ._multivariate import pairwise_ellipses, qq_plot
from ._precondition import raw_vs_whitened
from ._surface import nll_surface


def story_figures(
    out_dir, *, seed=0, n=2000, data=None, fit=None, truth=None, gif_frames=30
) -> list[str]:
    """The demo's story as files in ``out_dir``: one point, the likelihood over the mean,
    the zero derivative, the brute-force grid, descent paths (PNG and an animated GIF),
    loss histories, the same SGD on the raw and the whitened surface, the multivariate fit
    and its Q-Q check. Returns the paths written.

    Args:
        out_dir: the folder (created if needed).
        seed: the seed of every simulated data set.
        n: rows of the simulated 3-D data set (figures 8-9) when ``data`` is not given.
        data: optional ``(n, 3)`` data for figures 8-9 (the CLI passes its own).
        fit: its fit (default ``mj.fit(data)``).
        truth: optional ``(mean, cov)`` drawn beside the fit.
        gif_frames: the most distinct frames of the GIF (``0``: no GIF).

    Returns:
        The list of file paths, in story order.
    """
    import os

    import jax.numpy as jnp
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
    if gif_frames:
        gif = os.path.join(out_dir, "05_descent_paths.gif")
        paths.append(animate_descent(x1, fits, out=gif, ellipse=True, max_frames=gif_frames))
    cf1 = mj.closed_form(x1)
    ref = float(mj.nll(mj.MvnParams.from_mean_cov(cf1.mean, cf1.cov), jnp.asarray(x1)))
    save(loss_history(fits, reference=ref).figure, "06_loss_history.png")
    # 7. why standardise: the same SGD on the raw and on the whitened surface
    save(raw_vs_whitened(x1, lr=0.5, init=init), "07_raw_vs_whitened.png")
    # 8.-9. the multivariate fit: ellipses and a Q-Q check
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
        shown["true"] = mj.Estimate(*(jnp.asarray(a) for a in (tm, tc, np.sqrt(np.diagonal(tc)))))
    cols = [f"x{k}" for k in range(data.shape[1])]
    save(pairwise_ellipses(data, shown, columns=cols), "08_multivariate_ellipses.png")
    save(qq_plot(data, fit).figure, "09_qq_mahalanobis.png")
    return paths
