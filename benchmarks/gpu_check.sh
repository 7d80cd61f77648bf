#!/usr/bin/env bash
# GPU checks (issues 2, 5, 6): about 4-6 minutes on one GPU.
#   pip install -e ".[cuda12,test,bench]" && bash benchmarks/gpu_check.sh
# 1. the test suite on the GPU (notebooks and the CPU-only subprocess tests excluded; the
#    GPU-only tests run here and skip on CPU);
# 2. core timings on the GPU (benchmarks/gpu_core.py);
# 3. 1000 fits of (200, 3) on the GPU next to numpy closed forms, and vmap vs lax.map.
# Logs go to $OUT when it is set (the device tool), else to ./gpu_logs.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LOG=${OUT:-gpu_logs}
mkdir -p "$LOG"
export JAX_ENABLE_X64=1 PYTHONUNBUFFERED=1 PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
nvidia-smi -L 2>&1 | tee "$LOG/device.txt"
$PY - <<'PYEOF' 2>&1 | tee -a "$LOG/device.txt"
import jax
print("jax", jax.__version__, "devices:", jax.devices())
assert jax.default_backend() == "gpu", "no GPU visible to JAX: install mle_jax[cuda12]"
PYEOF
timeout 300 $PY -m pytest -q -p no:cacheprovider -rs tests \
  --ignore=tests/test_notebooks.py --ignore=tests/test_sharding.py --ignore=tests/test_cache.py \
  -k "not 1000" 2>&1 | tee "$LOG/pytest_gpu.txt" | tail -n 25
timeout 180 $PY benchmarks/gpu_core.py 2>&1 | tee "$LOG/core_gpu.txt"
timeout 150 $PY benchmarks/scale.py batch --no-scipy 2>&1 | tee "$LOG/batch_gpu.txt"
timeout 120 $PY benchmarks/scale.py modes --quick 2>&1 | tee "$LOG/modes_gpu.txt"
