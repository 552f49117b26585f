#!/bin/sh
# tests/gpu/run.sh OUTDIR: kiln's CUDA backend on a machine with an NVIDIA
# GPU, in one go within 8 minutes (tests/gpu/README.md).
#
# 1. Builds (Release) under $KILN_GPU_BUILD (default: build-gpu in the
#    repository, not under OUTDIR): the normal build when LLVM (18+) and
#    cJSON are found, else -DKILN_GPU_ONLY=ON (IR, passes, CUDA backend,
#    runtime and kiln_gpu_bench only). Only the needed targets.
# 2. Runs, each under its own time limit and a deadline for the whole:
#      check      every tests/gpu/data/tiny-*.kir on the GPU vs the interpreter
#      bandwidth  device copy / read bandwidth
#      decode     tokens/s and GB/s of a random-weight Llama 3.2 1B (bf16)
#      attention  causal attention TFLOP/s, T 4096/8192, head dims 64/128
#      matmul     kiln's matmul vs cuBLAS on the 1B model's shapes
#      test_rt_cuda  (full build only) the tiny models through the unit test
# 3. Writes OUTDIR/results.json, OUTDIR/results.md and OUTDIR/run.log (all
#    output); three files, so a device session gets them all back.
# Exits 1 when the build, a check or a benchmark fails or runs out of time.
set -u
OUT=${1:?usage: tests/gpu/run.sh OUTDIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BUILD=${KILN_GPU_BUILD:-$ROOT/build-gpu}
LOG="$OUT/run.log"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
START=$(date +%s)
DEADLINE=$((START + ${KILN_GPU_SECONDS:-470}))
: >"$LOG"

now() { date +%s; }
log() { echo "$*" | tee -a "$LOG"; }

gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
[ -n "$gpu" ] || gpu="none found (nvidia-smi missing or failed)"
log "GPU: $gpu"
nvidia-smi >>"$LOG" 2>&1

# ---- build ------------------------------------------------------------------
jobs=$(nproc 2>/dev/null || echo 4)
full=0
llvm=$(command -v llvm-config-19 || command -v llvm-config-18 || command -v llvm-config || true)
if [ -n "$llvm" ] && pkg-config --exists libcjson 2>/dev/null; then full=1; fi
[ "${KILN_GPU_ONLY:-0}" = 1 ] && full=0 # forced: KILN_GPU_ONLY=1 tests/gpu/run.sh OUT

build_start=$(now)
build_ok=0
if [ $full = 1 ]; then
  log "build: full (LLVM $($llvm --version), cJSON)"
  if cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DKILN_WERROR=OFF -DKILN_GPU_ONLY=OFF >>"$LOG" 2>&1 &&
     timeout 300 cmake --build "$BUILD" -j"$jobs" --target kiln_gpu_bench test_rt_cuda >>"$LOG" 2>&1; then
    build_ok=1
  else
    log "build: the full build failed; trying KILN_GPU_ONLY"
    full=0
    BUILD="$BUILD-only"
  fi
fi
if [ $full = 0 ]; then
  log "build: KILN_GPU_ONLY (no LLVM 18+ or no cJSON)"
  if cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DKILN_WERROR=OFF -DKILN_GPU_ONLY=ON >>"$LOG" 2>&1 &&
     timeout 300 cmake --build "$BUILD" -j"$jobs" --target kiln_gpu_bench >>"$LOG" 2>&1; then
    build_ok=1
  fi
fi
build_s=$(($(now) - build_start))
mode=$([ $full = 1 ] && echo full || echo gpu-only)
log "build: $([ $build_ok = 1 ] && echo ok || echo FAILED) ($mode, ${build_s}s)"

status=0
rows=""
steps=""
[ $build_ok = 1 ] || status=1

# step NAME BUDGET CMD...: runs CMD (output to the log) under
# min(BUDGET, time left); records result and seconds; CMD may write
# $TMP/NAME.json and $TMP/NAME.md.
step() {
  name=$1 budget=$2
  shift 2
  left=$((DEADLINE - $(now)))
  limit=$budget
  [ $left -lt $limit ] && limit=$left
  if [ $build_ok = 0 ]; then
    result="not run (build failed)"
    secs=0
  elif [ $limit -lt 10 ]; then
    result="not run (out of time)"
    secs=0
    status=1
  else
    log "== $name (limit ${limit}s)"
    s=$(now)
    timeout -k 10 "$limit" "$@" >>"$LOG" 2>&1
    rc=$?
    secs=$(($(now) - s))
    case $rc in
      0) result=pass ;;
      77) result=skip ;;
      124|137) result="timeout after ${limit}s"; status=1 ;;
      *) result="fail (exit $rc)"; status=1 ;;
    esac
    log "== $name: $result (${secs}s)"
  fi
  rows="$rows| $name | $result | $secs |
"
  data=null
  [ -s "$TMP/$name.json" ] && data=$(cat "$TMP/$name.json")
  steps="$steps${steps:+,
}\"$name\": {\"result\": \"$result\", \"seconds\": $secs, \"data\": $data}"
}

# NVRTC (and the libnvrtc-builtins it loads by soname) and cuBLAS: the
# toolkit's lib64 and pip's nvidia-* wheels, wherever the loader's own
# path does not already reach them.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
         $(python3 -c 'import nvidia, os; p = list(nvidia.__path__)[0]; print(" ".join(os.path.join(p, d, "lib") for d in os.listdir(p)))' 2>/dev/null); do
  [ -d "$d" ] && LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"
done
export LD_LIBRARY_PATH
log "LD_LIBRARY_PATH: ${LD_LIBRARY_PATH:-}"

bench="$BUILD/tests/gpu/kiln_gpu_bench"
data="$ROOT/tests/gpu/data"
# the bench's own JSON and markdown for step NAME
io() { echo "--json $TMP/$1.json --md $TMP/$1.md"; }

step check 100 "$bench" check $(io check) "$data"/tiny-*.kir
step bandwidth 30 "$bench" bandwidth $(io bandwidth)
step decode 150 "$bench" decode $(io decode) "$data/llama-3.2-1b.kir" --tokens 64
step attention 60 "$bench" attention $(io attention)
step matmul 90 "$bench" matmul $(io matmul)
if [ $full = 1 ]; then
  step test_rt_cuda 150 sh -c "cd '$BUILD/tests' && KILN_REQUIRE_GPU=1 ./test_rt_cuda"
fi

esc() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
{
  printf '{\n"gpu": "%s",\n' "$(esc "$gpu")"
  printf '"build": {"mode": "%s", "result": "%s", "seconds": %s},\n' "$mode" \
    "$([ $build_ok = 1 ] && echo ok || echo failed)" "$build_s"
  printf '"total_seconds": %s,\n"steps": {\n%s\n}\n}\n' "$(($(now) - START))" "$steps"
} >"$OUT/results.json"
{
  printf '# kiln on the GPU\n\nGPU: %s  \nbuild: %s, %s (%ss)  \ntotal: %ss\n\n' "$gpu" "$mode" \
    "$([ $build_ok = 1 ] && echo ok || echo FAILED)" "$build_s" "$(($(now) - START))"
  printf '| step | result | seconds |\n|---|---|---|\n%s' "$rows"
  for n in check bandwidth decode attention matmul; do
    [ -s "$TMP/$n.md" ] && cat "$TMP/$n.md"
  done
  printf '\nReferences: decode against the measured read bandwidth and the data sheet; attention and\n'
  printf 'matmul against the f32 CUDA-core peak (kiln has no tensor-core kernels yet) and the bf16\n'
  printf 'tensor-core peak; matmul against cuBLAS on the same buffers. Log: run.log.\n'
} >"$OUT/results.md"
cat "$OUT/results.md"
exit $status
