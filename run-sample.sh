#!/usr/bin/env bash
# run-sample.sh: the main job. Installs what is missing, builds kiln,
# compiles the bundled sample model (samples/tiny-kjv, a 2M-parameter
# Llama trained on the King James Bible) into a standalone executable and
# generates text from a prompt. Extra arguments go to the executable
# (e.g. ./run-sample.sh -p "In the beginning" -n 100 --temp 0).
set -euo pipefail
cd "$(dirname "$0")"
./bootstrap.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
build/driver/kiln compile samples/tiny-kjv -o build/tiny-kjv
if [ $# -eq 0 ]; then
  set -- -p "And God said unto Moses" -n 80 --temp 0.8 --top-k 40 --seed 3
fi
build/tiny-kjv "$@"
