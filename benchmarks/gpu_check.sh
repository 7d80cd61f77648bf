#!/usr/bin/env bash
# GPU checks for the scale work (issue 6): about 2-3 minutes on one GPU.
#   pip install -e ".[cuda12,test,bench]" && bash benchmarks/gpu_check.sh
# Runs the batched / streamed / sharded tests on the GPU (the GPU-only tests skip on CPU),
# then times 1000 fits of (200, 3) on the GPU next to numpy closed forms, and vmap vs lax.map.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
export JAX_ENABLE_X64=1
$PY - <<'PYEOF'
import jax
print("jax", jax.__version__, "devices:", jax.devices())
assert jax.default_backend() == "gpu", "no GPU visible to JAX: install mle_jax[cuda12]"
PYEOF
# the 8-device and two-process tests force CPU devices in their subprocesses
timeout 420 $PY -m pytest -q -p no:cacheprovider tests/test_batch.py tests/test_stream.py \
  -k "gpu or equals_loop or vmap_and_lax or memmap or iterator or 1000" -rs
timeout 300 $PY benchmarks/scale.py batch --no-scipy
timeout 240 $PY benchmarks/scale.py modes --quick
