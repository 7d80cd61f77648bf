"""Core timings on whatever device JAX picks (run by benchmarks/gpu_check.sh on a GPU).

Warm `fit` at n = 1e6, d = 10 with the data already on the device (a jax.Array) and from host
numpy, next to numpy's closed form on the host; the raw-data Adam per-step cost next to one
jitted NLL+gradient evaluation (``mj.nll`` on the same data). Medians of repeats, float64.
"""

import time
import warnings

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import mle_jax as mj  # noqa: E402


def median_time(f, reps=7):
    f()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        jax.block_until_ready(f())
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def main():
    print("device:", jax.devices()[0], "| jax", jax.__version__)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1_000_000, 10)) @ rng.normal(size=(10, 10)) + 5.0
    xd = jax.device_put(x)
    t_np = median_time(lambda: ((m := x.mean(0)), (x - m).T @ (x - m) / len(x)))
    t_host = median_time(lambda: mj.fit(x).cov)
    t_dev = median_time(lambda: mj.fit(xd).cov)
    print(f"n=1e6 d=10 numpy closed form (host): {t_np * 1e3:8.1f} ms")
    print(f"n=1e6 d=10 fit, numpy input        : {t_host * 1e3:8.1f} ms  ({t_host / t_np:.2f}x)")
    print(f"n=1e6 d=10 fit, device array input : {t_dev * 1e3:8.1f} ms  ({t_dev / t_np:.2f}x)")
    cf = mj.closed_form(x)
    err = float(jnp.max(jnp.abs(mj.fit(xd).cov - cf.cov)) / jnp.max(jnp.abs(cf.cov)))
    print(f"   relative cov error vs closed form : {err:.1e}")

    # raw-data Adam: marginal cost of a step vs one NLL+gradient evaluation
    xr = xd[:200_000]
    adam = optax.adam(1e-2)
    # a tol no gradient reaches (tol must be > 0): every step runs, unconverged by design
    warnings.simplefilter("ignore", mj.ConvergenceWarning)
    t1 = median_time(
        lambda: mj.fit(xr, form="raw", optimizer=adam, tol=1e-300, max_steps=50).cov, 3
    )
    t2 = median_time(
        lambda: mj.fit(xr, form="raw", optimizer=adam, tol=1e-300, max_steps=250).cov, 3
    )
    p0 = mj.MvnParams(jnp.zeros(10), jnp.zeros(55))
    vg = jax.jit(jax.value_and_grad(mj.nll))
    t_eval = median_time(lambda: vg(p0, xr))
    step = (t2 - t1) / 200
    print(
        f"raw Adam n=2e5 d=10: {step * 1e6:.0f} us/step, one NLL+grad {t_eval * 1e6:.0f} us, "
        f"ratio {step / t_eval:.2f}"
    )

    # 1000 batched fits of (200, 3)
    xs = rng.normal(size=(1000, 200, 3)) @ np.array([[1.0, 0, 0], [0.5, 1, 0], [0.2, 0.3, 1]])
    t_many = median_time(lambda: mj.fit_many(xs).cov, 3)
    t_np_many = median_time(
        lambda: (
            np.einsum(
                "bni,bnj->bij", xs - xs.mean(1, keepdims=True), xs - xs.mean(1, keepdims=True)
            )
            / 200
        ),
        3,
    )
    print(
        f"fit_many 1000 x (200, 3): {t_many * 1e3:.1f} ms; numpy vectorised closed forms "
        f"{t_np_many * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    main()
