# ruff: noqa: E501  (notebook source lines)
"""Writes notebooks/*.ipynb (without outputs) from the cell lists below.

The notebooks are the source of truth once written; this script is how they were generated.
Run from anywhere: python tools/make_notebooks.py
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

SETUP = """import jax
jax.config.update("jax_enable_x64", True)  # float64, as the command line uses
import numpy as np
import optax
import matplotlib.pyplot as plt
import mle_jax as mj
from mle_jax import plotting"""


def nb(cells):
    out = []
    for kind, src in cells:
        out.append(new_markdown_cell(src.strip()) if kind == "md" else new_code_cell(src.strip()))
    for i, cell in enumerate(out):
        cell.id = f"cell-{i:02d}"  # stable ids: regenerating gives no diff
    n = new_notebook(cells=out)
    n.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    n.metadata["language_info"] = {"name": "python"}
    return n


N1 = [
    (
        "md",
        """# 1. Likelihood by hand

Maximum likelihood in one sentence: **choose the parameters under which the data you saw are
most probable.** We start with one data point, $x = 32$, and two candidate normal distributions.""",
    ),
    ("code", SETUP),
    (
        "md",
        """## One point, two candidates

The density of $N(\\mu, \\sigma^2)$ at $x$ is
$p(x \\mid \\mu, \\sigma) = \\frac{1}{\\sigma\\sqrt{2\\pi}} \\exp\\left(-\\frac{(x-\\mu)^2}{2\\sigma^2}\\right)$.
Read as a function of $(\\mu, \\sigma)$ with $x$ fixed, it is the **likelihood**.""",
    ),
    (
        "code",
        """x0 = 32.0
by_hand = lambda x, mu, s: np.exp(-(x - mu) ** 2 / (2 * s**2)) / (s * np.sqrt(2 * np.pi))
for mu in (28.0, 30.0):
    print(f"N({mu:g}, 2^2): density at x = 32 is {by_hand(x0, mu, 2.0):.3f}"
          f"  (mle_jax: {float(mj.normal_pdf(x0, mu, 2.0)):.3f})")""",
    ),
    (
        "md",
        """$N(30, 2^2)$ gives the point a density of **0.121**, $N(28, 2^2)$ only **0.027**: the point
is about 4.5 times more likely under the second, so of these two we prefer $\\mu = 30$.""",
    ),
    ("code", """plotting.point_densities(x0, [(28.0, 2.0), (30.0, 2.0)]);"""),
    (
        "md",
        """## The likelihood curve over $\\mu$

Now let $\\mu$ vary continuously (keeping $\\sigma = 2$). With one point the curve peaks where
$\\mu$ equals the point itself.""",
    ),
    ("code", """plotting.likelihood_curve(x0, std=2.0);"""),
    (
        "md",
        """## Several points: multiply

Independent points have a joint density equal to the **product** of their densities, so the
likelihood of a data set is a product. Its peak moves to the **sample mean**.""",
    ),
    (
        "code",
        """x = np.array([29.1, 32.0, 30.4, 27.8, 31.2, 30.9])
for mu in (28.0, 30.0, x.mean()):
    print(f"mu = {mu:7.4f}: likelihood = {float(mj.likelihood(x, mu, 2.0)):.3e}")
plotting.likelihood_curve(x, std=2.0);""",
    ),
    (
        "md",
        """## Why we take logs

A product of many numbers below one underflows: with 2000 points the likelihood is exactly
0.0 in float64 everywhere, and the peak is lost. The **log-likelihood** is a sum of
log-densities: same peak (log is increasing), perfectly representable.""",
    ),
    (
        "code",
        """rng = np.random.default_rng(0)
big = rng.normal(30.0, 2.0, size=2000)
print("likelihood     :", float(mj.likelihood(big, 30.0, 2.0)))
print("log-likelihood :", float(mj.log_likelihood(big, 30.0, 2.0)))
fig, axes = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
plotting.likelihood_curve(x, std=2.0, ax=axes[0])
plotting.likelihood_curve(x, std=2.0, ax=axes[1], log=True);""",
    ),
    (
        "md",
        """## The peak by calculus: `jax.grad`

At the maximum the derivative of the log-likelihood is zero. JAX differentiates our
function exactly; the derivative vanishes at the sample mean and nowhere else
(it is $\\sum_i (x_i - \\mu)/\\sigma^2$, a straight line in $\\mu$).""",
    ),
    (
        "code",
        """dlogL = jax.grad(lambda mu: mj.log_likelihood(x, mu, 2.0))
for mu in (x.mean() - 1, x.mean(), x.mean() + 1):
    print(f"mu = {mu:7.4f}: d logL / d mu = {float(dlogL(mu)):+.2e}")
grid = mj.likelihood_grid(x, np.linspace(25, 35, 10001), [2.0])
print("grid search peak:", float(grid.best_mean), "  sample mean:", x.mean())
assert abs(float(dlogL(x.mean()))) < 1e-12 and abs(float(grid.best_mean) - x.mean()) < 1e-3""",
    ),
    (
        "md",
        """**Summary.** The likelihood of $\\mu$ is the density of the data under $N(\\mu, \\sigma^2)$; for
several points it is a product, best handled as a sum of logs; its peak is where the gradient
is zero, which for the mean of a normal is the sample mean. Notebook 2 finds that peak (and
$\\sigma$'s) by brute force and by gradient descent.""",
    ),
]

N2 = [
    (
        "md",
        """# 2. Brute force vs gradient descent

We fit both $\\mu$ and $\\sigma$ to 200 points. First by brute force (evaluate the negative
log-likelihood, NLL, on a grid), then by three optimisers walking downhill. The closed form
(sample mean, standard deviation with divisor $n$) is the answer all of them should find.""",
    ),
    ("code", SETUP),
    (
        "code",
        """rng = np.random.default_rng(1)
x = rng.normal(30.0, 2.0, size=200)
cf = mj.closed_form(x)
print(f"closed form: mean = {float(cf.mean):.5f}, std = {float(cf.std):.5f}")""",
    ),
    (
        "md",
        """## Brute force: a grid

A $161 \\times 161$ grid costs 25,921 NLL evaluations (one `vmap`), and its answer is only as
precise as the grid spacing. The heat map is the NLL surface; the star is the closed form.""",
    ),
    (
        "code",
        """means, stds = np.linspace(28.5, 31.5, 161), np.linspace(1.4, 2.8, 161)
grid = mj.likelihood_grid(x, means, stds)
print(f"grid minimum: mean = {float(grid.best_mean):.4f}, std = {float(grid.best_std):.4f} "
      f"({means.size * stds.size} evaluations, spacing {means[1] - means[0]:.4f} / {stds[1] - stds[0]:.4f})")
plotting.nll_surface(x, means=means, stds=stds, show_grid_min=True);""",
    ),
    (
        "md",
        """## Gradient descent from a poor start

Every optimiser starts at $\\mu = 24$, $\\sigma = 5$. (We pass `init=` on purpose: `mj.fit`'s
default start is the moment-matched Gaussian, which for one variable *is* the MLE, so it would
stop at once.) `trace=True` records each iterate in `result.path`.""",
    ),
    (
        "code",
        """init = (24.0, 5.0**2)  # (mean, variance)
fits = {
    "SGD (lr 0.05)": mj.fit(x, optimizer=optax.sgd(0.05), init=init, trace=True, max_steps=2000),
    "Adam (lr 0.1)": mj.fit(x, optimizer=optax.adam(0.1), init=init, trace=True, max_steps=2000),
    "L-BFGS": mj.fit(x, init=init, trace=True),
}
plotting.nll_surface(x, fits);""",
    ),
    (
        "md",
        """SGD follows the steepest direction of the (standardised) surface; Adam's per-parameter step
sizes make it curve and overshoot, then settle; L-BFGS builds a curvature model and a line
search, and arrives in a handful of steps.""",
    ),
    (
        "code",
        """ref = float(mj.nll(mj.MvnParams.from_mean_cov(cf.mean, cf.cov), x))
plotting.loss_history(fits, reference=ref);""",
    ),
    ("md", """## Step counts side by side"""),
    (
        "code",
        """print(f"{'optimiser':15s} {'steps':>6s} {'status':>10s} {'|mean - cf|':>12s} {'|std - cf|':>12s}")
for name, r in fits.items():
    print(f"{name:15s} {int(r.num_steps):6d} {mj.Status.name(r.status):>10s} "
          f"{abs(float(r.mean - cf.mean)):12.2e} {abs(float(r.std - cf.std)):12.2e}")
assert all(bool(r.converged) for r in fits.values())""",
    ),
    (
        "md",
        """All three reach the closed form to about 1e-9, in very different numbers of steps (each step
costs one or a few NLL and gradient evaluations); the grid, with 25,921 evaluations, is still
off by up to half a grid cell.""",
    ),
]

N3 = [
    (
        "md",
        """# 3. Multivariate fits and the Cholesky parameterisation

A $d$-dimensional Gaussian has a mean vector and a covariance matrix $\\Sigma$ that must be
**symmetric positive definite**. Gradient descent on the entries of $\\Sigma$ can step out of
that set; we optimise unconstrained numbers that always map to a valid $\\Sigma$ instead.""",
    ),
    ("code", SETUP),
    (
        "md",
        """## Why positive definite matters

A plain gradient step on $\\Sigma$'s entries can make an eigenvalue negative. Then
$\\log|\\Sigma|$ is undefined and the density is meaningless (NaN).""",
    ),
    (
        "code",
        """cov = np.array([[1.0, 0.9], [0.9, 1.0]])
step = np.array([[0.0, 0.2], [0.2, 0.0]])  # a plausible-looking update of the off-diagonal
bad = cov + step
print("eigenvalues before:", np.linalg.eigvalsh(cov), " after:", np.linalg.eigvalsh(bad))
print("log-density with the stepped matrix:",
      float(jax.scipy.stats.multivariate_normal.logpdf(np.zeros(2), np.zeros(2), bad)))""",
    ),
    (
        "md",
        """## Unconstrained parameters

`mj.MvnParams` stores the mean and `chol_raw`: the lower triangle of the Cholesky factor $L$
($\\Sigma = L L^\\top$) with the **log** of its diagonal. Any real vector gives $L$ with a
positive diagonal, hence a positive-definite $\\Sigma$; the map is invertible.""",
    ),
    (
        "code",
        """p = mj.MvnParams.from_mean_cov(np.zeros(2), cov)
print("chol_raw:", np.asarray(p.chol_raw))
print("L:\\n", np.asarray(p.chol))
print("L L^T equals cov:", np.allclose(np.asarray(p.chol @ p.chol.T), cov))
rng = np.random.default_rng(0)
for _ in range(3):
    q = mj.MvnParams(np.zeros(3), rng.normal(size=6))  # any 6 real numbers
    eig = np.linalg.eigvalsh(np.asarray(q.cov))
    print("random chol_raw -> eigenvalues of Sigma:", ", ".join(f"{e:.3g}" for e in eig))""",
    ),
    (
        "md",
        """## A real data set: iris setosa

Four measurements (cm) of 50 *Iris setosa* flowers (Anderson 1935, Fisher 1936; shipped as
`mj.load_dataset("iris")`). One species is roughly Gaussian; the three species together are not.
The fit runs L-BFGS on the 14 unconstrained numbers (4 means + 10 Cholesky entries).""",
    ),
    (
        "code",
        """x, cols = mj.load_dataset("iris", subset="setosa")
fit = mj.fit(x, columns=cols)
cf = mj.closed_form(x)
print(fit.message, "in", int(fit.num_steps), "steps; max |cov - closed form| =",
      f"{np.abs(np.asarray(fit.cov) - np.asarray(cf.cov)).max():.1e}")
plotting.pairwise_ellipses(x, {"gradient fit": fit, "closed form": cf}, columns=cols);""",
    ),
    (
        "md",
        """The gradient fit and the closed form coincide (the dashed ellipses lie on the solid ones).

## Fitted vs true ellipses

On real data the true distribution is unknown. To see how close a fit of 50 points gets to the
truth, we take the setosa fit as a "true" Gaussian, draw 50 new flowers from it and fit again.""",
    ),
    (
        "code",
        """true = mj.Estimate(np.asarray(fit.mean), np.asarray(fit.cov), np.asarray(fit.std))
sim = rng.multivariate_normal(true.mean, true.cov, size=50)
refit = mj.fit(sim)
fig, axes = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
plotting.ellipse_plot(sim, {"fitted (n = 50)": refit, "true": true}, dims=(0, 1), columns=cols, ax=axes[0])
plotting.ellipse_plot(sim, {"fitted (n = 50)": refit, "true": true}, dims=(2, 3), columns=cols, ax=axes[1]);""",
    ),
    (
        "md",
        """With 50 points the fitted ellipses are close to, but not on, the true ones: that gap is
sampling error, not optimisation error (the optimiser's error is ~1e-10, as above).""",
    ),
    (
        "md",
        """## Old Faithful: one Gaussian on two clusters

Eruption length and waiting time (272 eruptions, `mj.load_dataset("faithful")`). The fit is the
best single Gaussian, but the data form two clusters, which the ellipse cannot show; notebook 4
detects this with a Q-Q plot.""",
    ),
    (
        "code",
        """xf, cf_cols = mj.load_dataset("faithful")
plotting.ellipse_plot(xf, {"fit": mj.fit(xf)}, columns=cf_cols);""",
    ),
]

N4 = [
    (
        "md",
        """# 4. Checking a fit

Three checks, from the optimiser's side to the model's side:
1. the **closed-form oracle**: a Gaussian MLE has one (sample mean, covariance with divisor $n$);
2. the **gradient norm** at the solution: zero at a maximum of the likelihood;
3. a **Q-Q plot** of squared Mahalanobis distances against the chi-square distribution: is the
   Gaussian model itself adequate?""",
    ),
    ("code", SETUP),
    (
        "code",
        """x, cols = mj.load_dataset("iris", subset="setosa")
good = mj.fit(x)
early = mj.fit(x, optimizer=optax.adam(0.05), max_steps=20)  # stopped too early on purpose
cf = mj.closed_form(x)
for name, r in {"L-BFGS": good, "Adam, 20 steps": early}.items():
    print(f"{name:15s} status {mj.Status.name(r.status):10s} "
          f"max|mean - cf| {np.abs(np.asarray(r.mean) - np.asarray(cf.mean)).max():.1e}  "
          f"max|cov - cf| {np.abs(np.asarray(r.cov) - np.asarray(cf.cov)).max():.1e}")""",
    ),
    (
        "md",
        """## Gradient norm at the solution

`result.grad_norm` is the norm the optimiser stopped on (of the scale-free, standardised mean
NLL). We can also differentiate the total NLL in the user's units ourselves with `jax.grad`.""",
    ),
    (
        "code",
        """for name, r in {"L-BFGS": good, "Adam, 20 steps": early}.items():
    g = jax.grad(mj.nll)(r.params, x)
    gnorm = float(np.sqrt(sum(np.sum(np.asarray(a) ** 2) for a in jax.tree.leaves(g))))
    print(f"{name:15s} result.grad_norm {float(r.grad_norm):.1e}   |grad NLL| (user units) {gnorm:.1e}")
assert float(good.grad_norm) < 1e-8 and float(early.grad_norm) > 1e-3""",
    ),
    (
        "md",
        """## Is the model adequate? A Q-Q plot

If the rows are Gaussian, $d_i^2 = (x_i - \\hat\\mu)^\\top \\hat\\Sigma^{-1} (x_i - \\hat\\mu)$ is
(approximately) $\\chi^2_d$-distributed. Sorting the $d_i^2$ and plotting them against
$\\chi^2_d$ quantiles gives a straight line for Gaussian data. A perfect optimiser does not
make a wrong model right: this check is about the data.""",
    ),
    (
        "code",
        """xf, fcols = mj.load_dataset("faithful")
fig, axes = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
plotting.qq_plot(x, good, ax=axes[0])
axes[0].set_title("iris setosa (d = 4): close to the line")
plotting.qq_plot(xf, mj.fit(xf), ax=axes[1])
axes[1].set_title("Old Faithful (d = 2): two clusters, not Gaussian");""",
    ),
    (
        "md",
        """Setosa's points stay near the diagonal, almost all inside the band. Faithful's bend away from it: too few
points far from the mean, because the single Gaussian puts its centre between the two clusters.
The mean of the $d_i^2$ is exactly $d$ at the MLE (a trace identity), so the plot's *shape*, not
its level, carries the information.""",
    ),
    (
        "code",
        """d2 = plotting.mahalanobis_sq(x, good.mean, good.cov)
print("mean of squared distances:", d2.mean(), " (d = 4)")""",
    ),
]

for name, cells in [
    ("01_likelihood_by_hand", N1),
    ("02_brute_force_vs_gradient_descent", N2),
    ("03_multivariate_cholesky", N3),
    ("04_checking_a_fit", N4),
]:
    nbformat.write(
        nb(cells), str(Path(__file__).resolve().parents[1] / "notebooks" / f"{name}.ipynb")
    )
    print("wrote", name)
