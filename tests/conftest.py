"""Test configuration: float64 and strict promotion, as the anchors (optimistix, lineax) do."""

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")
