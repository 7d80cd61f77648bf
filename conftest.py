"""Test configuration: float64 and strict rank promotion, as the anchors (optimistix, lineax) do,
and 8 CPU devices in-process so that sharded input is one more row of the test matrix.

Strict *dtype* promotion is not set: optax.lbfgs mixes int32 and int64 counters inside.
This root-level file also configures the doctests under mle_jax/."""

import jax

jax.config.update("jax_num_cpu_devices", 8)  # before any backend starts; costs nothing measurable
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
