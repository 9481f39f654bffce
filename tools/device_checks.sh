#!/usr/bin/env bash
# The CUDA checks, run on a lent GPU machine (the session's `device` tool), which has Python,
# torch, numba, networkx and scipy but not our dependencies: dimod, dwave-samplers and a
# wheel of qcore travel in .whl (see docs/qcore.md, "CUDA"). Writes logs to $OUT.
#   run: bash tools/device_checks.sh   (carry .whl and .devdata; .devdata holds G55.txt)
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --ignore-requires-python \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:packages/qrouting/src:packages/qattention/src
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
# every test that has a CUDA case, with the CUDA case not skipped
P="python3 -m pytest -p no:cacheprovider -p no:warnings -q -rs"
$P packages/qcore/tests/test_solvers.py -k sb 2>&1 | tee "$OUT/tests.log" | tail -4
$P packages/qrouting/tests/test_torch_router.py packages/qattention/tests/test_qattention_topk.py \
  2>&1 | tee -a "$OUT/tests.log" | tail -6
# simulated bifurcation: CUDA against the CPU on G55, then the best cut in 30 s
python3 tools/bench_sb_device.py .devdata/G55.txt --agents 128 1024 8192 16384 --steps 500 \
  --cpu-max-agents 1024 --budget 30 --budget-agents 4096 --budget-steps 5000 \
  --json "$OUT/sb_device.json" 2>&1 | tee "$OUT/sb.log"
