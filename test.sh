#!/usr/bin/env bash
# test.sh: installs what is missing, builds kiln twice (gcc, and clang with
# ASan+UBSan and the libFuzzer targets) and runs every test in both builds;
# in between, the GPU-only build that tests/gpu/run.sh falls back to on GPU
# machines without LLVM, and its check path on the host emulation.
# This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")"

./bootstrap.sh

jobs=$(nproc 2>/dev/null || echo 2)
step() { printf '\n== %s\n' "$*"; }

step "build (gcc, RelWithDebInfo) in build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
step "tests (build/)"
ctest --test-dir build --output-on-failure -j"$jobs"

step "build (KILN_GPU_ONLY: what tests/gpu/run.sh builds where LLVM is missing) in build-gpuonly/"
cmake -S . -B build-gpuonly -DCMAKE_BUILD_TYPE=Release -DKILN_GPU_ONLY=ON -DKILN_WERROR=ON >/dev/null
cmake --build build-gpuonly -j"$jobs"
build-gpuonly/tests/gpu/kiln_gpu_bench check --host tests/gpu/data/tiny-llama.kir \
  tests/gpu/data/tiny-mixtral.kir

step "build (clang-19, ASan+UBSan, fuzzers) in build-asan/"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang-19 \
  -DKILN_SANITIZE=ON -DKILN_FUZZ=ON -DKILN_FUZZ_SECONDS="${KILN_FUZZ_SECONDS:-15}" -DKILN_WERROR=ON >/dev/null
cmake --build build-asan -j"$jobs"
step "tests (build-asan/)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"

step "all tests passed in both builds"
