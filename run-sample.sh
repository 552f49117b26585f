#!/usr/bin/env bash
# run-sample.sh: compiles the bundled sample model and runs it.
set -euo pipefail
cd "$(dirname "$0")"
./bootstrap.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)"
echo "run-sample: the CPU backend ('kiln compile') and the sample model do not exist yet;" >&2
echo "run-sample: for now, here is the interpreter on a graph-JSON sample:" >&2
build/driver/kiln inspect samples/llama-tiny.json
exit 1
