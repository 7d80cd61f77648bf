"""The methods the benchmark times: mle_jax and the tools users already know.

Every method is a function ``method(x) -> Out`` on a numpy array ``x`` of shape ``(n, d)``
(``(n,)`` for the univariate case, handled by the runner as ``d = 1``), in the dtype under
test. Conversions a user would need (numpy -> torch tensor, numpy -> JAX array) are part of
the timed call. Every iterative method starts from the same point as ``mle_jax.fit``: the
column means and the diagonal of the column variances (a moment-matched independent Gaussian),
and minimises the same objective, the mean negative log-likelihood per sample over the
log-diagonal Cholesky parameters. Peers are imported lazily, only when they are used.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

LOG2PI = float(np.log(2 * np.pi))

# Wall-clock budget of one iterative peer run (seconds). A run that hits it stops early and
# is reported as not converged, with the note "time budget". The runner sets it.
TIME_BUDGET = 10.0


class Out(NamedTuple):
    mean: np.ndarray
    cov: np.ndarray
    iters: int | None = None  # optimiser iterations (None: closed form)
    converged: bool | None = None  # None: not applicable (closed form)
    note: str = ""


class Method(NamedTuple):
    name: str
    make: Callable  # make(d, dtype) -> (x -> Out); setup outside the timed call
    family: str  # "closed form" | "optimiser"
    compiles: bool = False  # JIT compilation on the first call (JAX): warm-up before timing
    max_n_d: tuple[int, int] | None = None  # skip sizes with n > max_n or d > max_d


def tols(dtype):
    """Gradient tolerance on the mean NLL per sample (the same for every optimiser)."""
    return 1e-9 if np.dtype(dtype) == np.float64 else 1e-4


def tril(d):
    rows, cols = np.tril_indices(d)
    return rows, cols, rows == cols


def init_params(x):
    """The common start: column means, log standard deviations on the diagonal, 0 elsewhere."""
    d = x.shape[1]
    rows, cols, diag = tril(d)
    mean = x.mean(axis=0, dtype=np.float64)
    raw = np.zeros(d * (d + 1) // 2)
    raw[diag] = 0.5 * np.log(x.var(axis=0, dtype=np.float64))
    return mean, raw


def unpack(theta, d):
    rows, cols, diag = tril(d)
    mean = theta[:d]
    raw = theta[d:]
    chol = np.zeros((d, d), theta.dtype)
    chol[rows, cols] = np.where(diag, np.exp(np.where(diag, raw, 0.0)), raw)
    return mean, chol


def as2d(x):
    return x[:, None] if x.ndim == 1 else x


# ----------------------------------------------------------------------------- closed forms


def numpy_centred(d, dtype):
    """The baseline: ``x.mean(0)`` then ``(x - m).T @ (x - m) / n`` (two-pass, stable)."""

    def run(x):
        m = x.mean(axis=0)
        xc = x - m
        return Out(m, xc.T @ xc / x.shape[0])

    return run


def numpy_cov(d, dtype):
    """``x.mean(0)`` and ``np.cov(x, rowvar=False, bias=True)``."""

    def run(x):
        return Out(x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False, bias=True)))

    return run


def sklearn_empirical(d, dtype):
    from sklearn.covariance import EmpiricalCovariance

    def run(x):
        est = EmpiricalCovariance(assume_centered=False).fit(x)
        return Out(est.location_, est.covariance_)

    return run


def mj_closed_form(d, dtype):
    import mle_jax as mj

    def run(x):
        cf = mj.closed_form(x)
        return Out(np.asarray(cf.mean), np.asarray(cf.cov))

    return run


# -------------------------------------------------------------------------------- mle_jax


def _mj_out(res):
    return Out(np.asarray(res.mean), np.asarray(res.cov), int(res.num_steps), bool(res.converged))


def mj_fit(d, dtype):
    """``mle_jax.fit(x)``: the default L-BFGS on sufficient statistics."""
    import mle_jax as mj

    return lambda x: _mj_out(mj.fit(x))


def mj_fit_raw(d, dtype):
    """``mle_jax.fit(x, form="raw")``: the default L-BFGS, the NLL on every data point."""
    import mle_jax as mj

    return lambda x: _mj_out(mj.fit(x, form="raw"))


# ------------------------------------------------------------------- scipy: hand-written NLL


def nll_and_grad(theta, x):
    """Mean NLL per sample on raw data and its analytic gradient (Cholesky parameters).

    ``L^{-1}`` is formed once (a ``d x d`` triangular solve) and applied to the data by a
    matrix product, which is ~10x faster than a triangular solve against ``n`` right-hand
    sides; so this peer is what a careful user writes, not a strawman.
    """
    from scipy.linalg import solve_triangular

    n, d = x.shape
    rows, cols, diag = tril(d)
    mean, chol = unpack(theta, d)
    linv = solve_triangular(chol, np.eye(d, dtype=chol.dtype), lower=True)
    z = (x - mean) @ linv.T  # rows: L^{-1} (x_i - mean)
    diag_l = np.diagonal(chol)
    f = 0.5 * np.sum(z * z) / n + np.sum(np.log(diag_l)) + 0.5 * d * LOG2PI
    g_mean = -linv.T @ z.mean(axis=0)
    m = z.T @ z / n  # L^{-1} S L^{-T} / n
    g_chol = -linv.T @ m
    g_chol[np.arange(d), np.arange(d)] += 1.0 / diag_l
    g_raw = g_chol[rows, cols]
    g_raw = np.where(diag, g_raw * diag_l[np.minimum(rows, cols)], g_raw)
    return f, np.concatenate([g_mean, g_raw])


class _Budget(Exception):
    pass


def scipy_lbfgsb(d, dtype):
    """``scipy.optimize.minimize(method="L-BFGS-B", jac=True)`` on :func:`nll_and_grad`."""
    from scipy.optimize import minimize

    def run(x):
        x64 = x  # scipy computes in the data's dtype for the matrix products, float64 params
        mean0, raw0 = init_params(x)
        theta0 = np.concatenate([mean0, raw0])
        start = time.perf_counter()

        def callback(intermediate_result):
            if time.perf_counter() - start > TIME_BUDGET:
                raise StopIteration

        fun = lambda t: tuple(np.asarray(v, np.float64) for v in nll_and_grad(t, x64))  # noqa: E731
        res = minimize(
            fun,
            theta0,
            jac=True,
            method="L-BFGS-B",
            callback=callback,
            options={
                "maxiter": 15000,
                "maxfun": 30000,
                "gtol": tols(x.dtype),
                "ftol": 1e-15,
                "maxcor": 10,
            },
        )
        mean, chol = unpack(res.x, d)
        gmax = float(np.max(np.abs(res.jac)))
        note = "" if res.success else str(res.message)[:40]
        if time.perf_counter() - start > TIME_BUDGET:
            note = "time budget"
        return Out(mean, chol @ chol.T, int(res.nit), gmax <= tols(x.dtype), note)

    return run


# ----------------------------------------------------------------------------- statsmodels


def statsmodels_generic(d, dtype):
    """``statsmodels`` ``GenericLikelihoodModel`` (BFGS, numerical gradients, no Hessian)."""
    import warnings

    from statsmodels.base.model import GenericLikelihoodModel

    class MvnModel(GenericLikelihoodModel):
        def loglikeobs(self, params):
            x = np.asarray(self.endog).reshape(self.endog.shape[0], d)
            mean, chol = unpack(np.asarray(params, np.float64), d)
            linv = np.linalg.inv(chol)
            z = (x - mean) @ linv.T
            return (
                -0.5 * np.sum(z * z, axis=1) - np.sum(np.log(np.diagonal(chol))) - 0.5 * d * LOG2PI
            )

        def nloglikeobs(self, params):
            return -self.loglikeobs(params)

    def run(x):
        mean0, raw0 = init_params(x)
        theta0 = np.concatenate([mean0, raw0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = MvnModel(x, exog=np.ones((x.shape[0], 1)), k_extra=theta0.size - 1)
            res = model.fit(
                start_params=theta0,
                method="bfgs",
                maxiter=5000,
                disp=False,
                skip_hessian=True,
                gtol=tols(x.dtype),
            )
        mean, chol = unpack(np.asarray(res.params, np.float64), d)
        info = res.mle_retvals  # scipy fmin_bfgs reports gradient evaluations, not iterations
        return Out(
            mean,
            chol @ chol.T,
            int(info.get("gcalls", -1)),
            bool(info.get("converged", False)),
            "iterations: gradient evaluations",
        )

    return run


# ---------------------------------------------------------------------------------- sklearn


def sklearn_gmm(d, dtype):
    """``GaussianMixture(n_components=1, covariance_type="full", reg_covar=0)`` (EM)."""
    from sklearn.mixture import GaussianMixture

    def run(x):
        gm = GaussianMixture(
            n_components=1, covariance_type="full", reg_covar=0.0, random_state=0
        ).fit(x)
        return Out(gm.means_[0], gm.covariances_[0], int(gm.n_iter_), bool(gm.converged_))

    return run


# ------------------------------------------------------------------------------------ torch


def _torch_setup(x):
    import torch

    dtype = torch.float64 if x.dtype == np.float64 else torch.float32
    d = x.shape[1]
    rows, cols, diag = tril(d)
    mean0, raw0 = init_params(x)
    mean = torch.tensor(mean0, dtype=dtype, requires_grad=True)
    raw = torch.tensor(raw0, dtype=dtype, requires_grad=True)
    idx = (torch.as_tensor(rows), torch.as_tensor(cols))
    dmask = torch.as_tensor(diag)
    xt = torch.from_numpy(x)  # no copy

    def loss():
        from torch.distributions import MultivariateNormal

        vals = torch.where(dmask, raw.exp(), raw)
        chol = torch.zeros(d, d, dtype=dtype).index_put(idx, vals)
        return -MultivariateNormal(mean, scale_tril=chol).log_prob(xt).mean()

    def result():
        with torch.no_grad():
            vals = torch.where(dmask, raw.exp(), raw)
            chol = torch.zeros(d, d, dtype=dtype).index_put(idx, vals).numpy()
            return mean.detach().numpy().copy(), chol @ chol.T

    return torch, [mean, raw], loss, result


def torch_lbfgs(d, dtype):
    """``torch.optim.LBFGS`` (strong Wolfe) on ``MultivariateNormal(scale_tril=...)``."""

    def run(x):
        torch, params, loss, result = _torch_setup(x)
        tol = tols(x.dtype)
        opt = torch.optim.LBFGS(
            params,
            lr=1.0,
            max_iter=5000,
            max_eval=10000,
            tolerance_grad=tol,
            tolerance_change=1e-15,
            history_size=10,
            line_search_fn="strong_wolfe",
        )
        start = time.perf_counter()
        note = ""

        def closure():
            if time.perf_counter() - start > TIME_BUDGET:
                raise _Budget
            opt.zero_grad()
            value = loss()
            value.backward()
            return value

        try:
            opt.step(closure)
        except _Budget:
            note = "time budget"
        opt.zero_grad()
        loss().backward()
        gmax = max(float(p.grad.abs().max()) for p in params)
        iters = int(opt.state[opt._params[0]].get("n_iter", 0))
        mean, cov = result()
        return Out(mean, cov, iters, gmax <= tol, note)

    return run


def torch_adam(d, dtype, lr=0.02, max_steps=3000):
    """``torch.optim.Adam(lr=0.02)`` until the gradient norm reaches the tolerance."""

    def run(x):
        torch, params, loss, result = _torch_setup(x)
        tol = tols(x.dtype)
        opt = torch.optim.Adam(params, lr=lr)
        start = time.perf_counter()
        note, steps, converged = "", 0, False
        while steps < max_steps:
            opt.zero_grad()
            loss().backward()
            gn = float(torch.sqrt(sum((p.grad**2).sum() for p in params)))
            if gn <= tol:
                converged = True
                break
            opt.step()
            steps += 1
            if time.perf_counter() - start > TIME_BUDGET:
                note = "time budget"
                break
        mean, cov = result()
        return Out(mean, cov, steps, converged, note)

    return run


# -------------------------------------------------------------------------------- plain JAX


def plain_jax_nll(params, x):
    """A hand-written mean NLL on raw data (what a JAX user writes; L^{-1} then a product)."""
    import jax.numpy as jnp
    from jax.scipy.linalg import solve_triangular

    mean, raw = params
    d = x.shape[1]
    rows, cols, diag = tril(d)
    chol = jnp.zeros((d, d), raw.dtype).at[rows, cols].set(jnp.where(diag, jnp.exp(raw), raw))
    linv = solve_triangular(chol, jnp.eye(d, dtype=raw.dtype), lower=True)
    z = (x - mean[None, :]) @ linv.T
    return 0.5 * jnp.sum(z * z) / x.shape[0] + jnp.sum(raw[diag]) + 0.5 * d * LOG2PI


_PLAIN_CACHE: dict = {}


def _plain_jax_solver():
    """optax's documented L-BFGS loop (``value_and_grad_from_state``) in one ``jax.jit``.

    ``run(carry, x, tol, max_steps) -> carry`` with ``carry = (params, opt_state)``: runs
    until the gradient norm is below ``tol`` or the step count reaches ``max_steps``
    (traced, so the runner can drive it in chunks under a time budget, and a 1-step warm-up
    compiles the same executable). Returns ``(run, opt)``.
    """
    if "run" in _PLAIN_CACHE:
        return _PLAIN_CACHE["run"]
    import jax
    import optax
    import optax.tree_utils as otu

    opt = optax.lbfgs()

    @jax.jit
    def run(carry, x, tol, max_steps):
        fun = lambda p: plain_jax_nll(p, x)  # noqa: E731
        value_and_grad = optax.value_and_grad_from_state(fun)

        def step(carry):
            params, state = carry
            value, grad = value_and_grad(params, state=state)
            updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=fun)
            return optax.apply_updates(params, updates), state

        def cont(carry):
            _, state = carry
            it = otu.tree_get(state, "count")
            err = otu.tree_norm(otu.tree_get(state, "grad"))
            return (it == 0) | ((it < max_steps) & (err >= tol))

        return jax.lax.while_loop(cont, step, carry)

    _PLAIN_CACHE["run"] = (run, opt)
    return run, opt


def plain_jax_count(state):
    import optax.tree_utils as otu

    return otu.tree_get(state, "count")


def plain_jax_grad_norm(state):
    import optax.tree_utils as otu

    return otu.tree_norm(otu.tree_get(state, "grad"))


def plain_jax_status(state):
    return int(plain_jax_count(state)), float(plain_jax_grad_norm(state))


def plain_jax(d, dtype, chunk=25, max_steps=1000):
    """Plain JAX: :func:`plain_jax_nll` + ``optax.lbfgs`` in a jitted ``while_loop``.

    Driven in chunks of ``chunk`` steps so that the time budget applies (a few host syncs).
    """
    import jax
    import jax.numpy as jnp

    solver, opt = _plain_jax_solver()

    def run(x, max_steps=max_steps, chunk=chunk):
        xj = jnp.asarray(x)
        mean0, raw0 = init_params(x)
        init = (jnp.asarray(mean0, xj.dtype), jnp.asarray(raw0, xj.dtype))
        tol = tols(x.dtype)
        # explicit dtypes: optax's initial state has weak-typed scalars that the loop's
        # output has not, which would compile a second executable on the second chunk
        carry = jax.tree.map(lambda a: jnp.array(a, dtype=a.dtype), (init, opt.init(init)))
        start, note = time.perf_counter(), ""
        while True:
            count, gn = plain_jax_status(carry[1])
            target = min(count + chunk, max_steps)
            carry = solver(carry, xj, jnp.asarray(tol, xj.dtype), target)
            count, gn = plain_jax_status(carry[1])
            if gn < tol or count >= max_steps:
                break
            if time.perf_counter() - start > TIME_BUDGET:
                note = "time budget"
                break
        mean, raw = carry[0]
        m, chol = unpack(
            np.concatenate([np.asarray(mean, np.float64), np.asarray(raw, np.float64)]), d
        )
        return Out(m, chol @ chol.T, count, gn < tol, note)

    run.warm = lambda x: run(x, max_steps=1)  # compiles the same executable, runs 1 step
    return run


# ------------------------------------------------------------------------------ the table

METHODS = [
    Method("numpy (centred, baseline)", numpy_centred, "closed form"),
    Method("numpy (np.cov)", numpy_cov, "closed form"),
    Method("sklearn EmpiricalCovariance", sklearn_empirical, "closed form"),
    Method("mle_jax closed_form", mj_closed_form, "closed form", compiles=True),
    Method("mle_jax fit (default)", mj_fit, "optimiser", compiles=True),
    Method("mle_jax fit (form='raw')", mj_fit_raw, "optimiser", compiles=True),
    Method("plain JAX + optax L-BFGS", plain_jax, "optimiser", compiles=True),
    Method("scipy L-BFGS-B (analytic grad)", scipy_lbfgsb, "optimiser"),
    Method("PyTorch LBFGS", torch_lbfgs, "optimiser"),
    Method("PyTorch Adam", torch_adam, "optimiser"),
    Method("sklearn GaussianMixture(1)", sklearn_gmm, "optimiser"),
    Method(
        "statsmodels GenericLikelihoodModel", statsmodels_generic, "optimiser", max_n_d=(100_000, 2)
    ),
]

BY_NAME = {m.name: m for m in METHODS}
BASELINE = METHODS[0].name
