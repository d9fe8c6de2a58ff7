#!/usr/bin/env bash
# Every check that needs a GPU (a lent GPU machine is held by the minute):
#   PYTHONPATH=. bash benchmarks/gpu_checks.sh "$OUT"     # on the lent machine: only $OUT comes back
#   bash benchmarks/gpu_checks.sh /tmp/gpu all             # anywhere else with a CUDA device
# Writes 8 files under DIR (a lent machine returns at most 8): env.txt (device, driver, versions),
# cuda_tests.log (the CUDA tests), gpu_profile_*.md (benchmarks/gpu_profile.py's full sweep),
# cuda_stamps_*.md (a timing stamp's host cost), benchmarks.log (both benchmarks' output),
# cli_cuda.txt (the CLI measuring on the GPU with energy), suite.log and suite_failures.txt (the
# whole test suite with a GPU present). Each step has its own time limit, so a step that hangs
# costs only its own share. A lent machine runs one command for at most 600 s, so the work comes in
# two parts, each within it: PART "checks" (the default: env, CUDA tests, gpu_profile, CLI, stamps;
# limits 200 + 200 + 80 + 50 = 530 s) and PART "suite" (env and the whole suite, 420 s; it took
# 4 min with -n 16 on the H200):
#   PYTHONPATH=. bash benchmarks/gpu_checks.sh "$OUT" [checks|suite|all]
# Copy what should last to benchmarks/results/.
set -u
DIR=${1:?usage: gpu_checks.sh OUTDIR [checks|suite|all]}
PART=${2:-checks}
case $PART in checks|suite|all) ;; *) echo "usage: gpu_checks.sh OUTDIR [checks|suite|all]" >&2; exit 2;; esac
PY=${PYTHON:-python3}
mkdir -p "$DIR"
export PYTHONUNBUFFERED=1 PYTHONPATH=$(cd "${PYTHONPATH:-.}" && pwd)  # (absolute: some tests change directory)
if ! command -v torchcount >/dev/null && ! [ -x "$(dirname "$(command -v $PY)")/torchcount" ]; then
  # run uninstalled (the lent machine): a stand-in for the console script, which the CLI tests call
  # (outside DIR: a lent machine returns at most 8 files, which the logs below use)
  bin=$(mktemp -d) && printf '#!/bin/sh\nexec %s -m torchcount "$@"\n' "$(command -v $PY)" >"$bin/torchcount"
  chmod +x "$bin/torchcount" && export PATH="$bin:$PATH"
fi
step() { echo "== $(date -u +%H:%M:%S) $*" >&2; }

step env
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit,clocks.max.sm --format=csv
  $PY - <<'EOF'
import platform, torch
print("python", platform.python_version(), "torch", torch.__version__, "CUDA", torch.version.cuda,
      "cuDNN", torch.backends.cudnn.version())
for m in ("torchvision", "torchaudio", "transformers", "tabulate", "matplotlib", "pynvml", "xdist"):
    try:
        print(m, getattr(__import__(m), "__version__", "present"))
    except Exception as exc:
        print(m, "missing:", type(exc).__name__)
p = torch.cuda.get_device_properties(0)
print(p.name, f"{p.total_memory / 2**30:.1f} GiB", p.multi_processor_count, "SMs", f"cc {p.major}.{p.minor}")
EOF
} >"$DIR/env.txt" 2>&1

if [ "$PART" != suite ]; then
step CUDA tests
timeout 200 $PY -m pytest -q -rs -p no:cacheprovider tests/test_cuda_counts.py tests/test_measure_cuda.py \
  tests/test_measure_cuda_paths.py tests/test_gpu_ops.py tests/test_receptive_field.py >"$DIR/cuda_tests.log" 2>&1
echo "exit $?" >>"$DIR/cuda_tests.log"

step gpu_profile
timeout 200 $PY benchmarks/gpu_profile.py --out "$DIR/" >"$DIR/benchmarks.log" 2>&1
echo "gpu_profile exit $?" >>"$DIR/benchmarks.log"

step CLI
timeout 80 $PY -m torchcount torchvision.models:resnet50 --input 8x3x224x224 --device cuda --measure \
  --energy --energy-layers 3 --top 8 >"$DIR/cli_cuda.txt" 2>&1
echo "exit $?" >>"$DIR/cli_cuda.txt"

step stamps
timeout 50 $PY benchmarks/cuda_stamps.py --out "$DIR/" >>"$DIR/benchmarks.log" 2>&1
echo "cuda_stamps exit $?" >>"$DIR/benchmarks.log"

fi

if [ "$PART" != checks ]; then
step suite
n=$($PY -c "import xdist" 2>/dev/null && echo "-n 16" || echo "")
# -v: a line per test as it ends; failure_log: each traceback as it happens (a cut-short run has no summary)
FAILURE_LOG="$DIR/suite_failures.txt" timeout ${SUITE_SECONDS:-420} $PY -m pytest -v -p no:cacheprovider \
  -p benchmarks.failure_log $n --maxfail=60 >"$DIR/suite.log" 2>&1
echo "exit $?" >>"$DIR/suite.log"
fi
step done
