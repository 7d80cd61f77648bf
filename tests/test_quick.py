import numpy as np
import optax
import mle_jax as mj

def test_quick():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3)) @ np.array([[1, 0, 0], [0.5, 1, 0], [0.2, 0.3, 1.0]]) + 5
    for opt in [None, optax.adam(0.05)]:
        r = mj.fit(x, optimizer=opt, trace=True)
        cf = mj.closed_form(x)
        np.testing.assert_allclose(r.cov, cf.cov, rtol=1e-5)
    r = mj.fit(x[:, 0], form="raw", init=(0.0, 9.0))
    print(r.num_steps, r.message)
