#!/bin/sh
# tests/gpu/run.sh OUTDIR: the CUDA backend on a machine with an NVIDIA GPU.
#
# Builds kiln (Release) under OUTDIR/build, then runs under a time limit
# (so the whole stays within 8 minutes):
#   test_rt_cuda     every tiny model's kernels, compiled by NVRTC, on the
#                    GPU against the interpreter (1e-4 relative)
# (test_cuda_host and test_cuda_nvrtc need no GPU: ctest runs them) and writes OUTDIR/results.json and OUTDIR/results.md (one row per check,
# with its status and seconds; the logs beside them).
#
# Not yet: the benchmarks issue 7 asks for (decode tokens/s and GB/s on a
# random 1B Llama in bf16, attention TFLOP/s at T = 4096 and 8192 with head
# dims 64 and 128, matmul TFLOP/s against cuBLAS): they need the GPU
# runtime path of `kiln compile --device=cuda` (docs/cuda.md, "What is
# left"). results.json lists them as "not implemented".
set -u
OUT=${1:?usage: tests/gpu/run.sh OUTDIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD="$OUT/build"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BUILD="$OUT/build"

gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
[ -n "$gpu" ] || gpu="none found (nvidia-smi missing or failed)"

jobs=$(nproc 2>/dev/null || echo 2)
if ! { cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release &&
       cmake --build "$BUILD" -j"$jobs" --target test_rt_cuda; } \
     > "$OUT/build.log" 2>&1; then
  echo "build failed: see $OUT/build.log" >&2
  printf '{"gpu": "%s", "build": "failed"}\n' "$gpu" > "$OUT/results.json"
  exit 1
fi

status=0
rows=""
json=""
# run NAME SECONDS: runs one test program, records pass/fail/skip and its time.
run() {
  name=$1 limit=$2
  start=$(date +%s)
  (cd "$BUILD/tests" && KILN_REQUIRE_GPU=1 timeout "$limit" "./$name") > "$OUT/$name.log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  case $rc in
    0) result=pass ;;
    77) result=skip ;;
    124) result="timeout after ${limit}s"; status=1 ;;
    *) result="fail (exit $rc)"; status=1 ;;
  esac
  rows="$rows| $name | $result | $secs |\n"
  json="$json${json:+, }\"$name\": {\"result\": \"$result\", \"seconds\": $secs}"
}

run test_rt_cuda 300

{
  printf '{\n  "gpu": "%s",\n  "checks": {%s},\n' "$gpu" "$json"
  printf '  "benchmarks": {"decode_1b_bf16": "not implemented", "attention": "not implemented", '
  printf '"matmul_vs_cublas": "not implemented"}\n}\n'
} > "$OUT/results.json"
{
  printf '# kiln CUDA checks\n\nGPU: %s\n\n| check | result | seconds |\n|---|---|---|\n' "$gpu"
  printf "$rows"
  printf '\nBenchmarks: not implemented yet (docs/cuda.md).\n'
} > "$OUT/results.md"
cat "$OUT/results.md"
exit $status
