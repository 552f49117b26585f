#!/bin/sh
# bench/run.sh: kiln's benchmark harness (bench/README.md). Everything is in
# bench.py; this only finds a Python 3 with numpy (Debian's, for the model
# generator) and runs it.
#   ./bench/run.sh [--json] [--quick] [--shapes=110m,110m-f16,110m-bf16] [--help]
here=$(cd "$(dirname "$0")" && pwd)
py=${KILN_BENCH_PYTHON:-}
if [ -z "$py" ]; then
  for p in /usr/bin/python3 python3; do
    if "$p" -c 'import numpy' >/dev/null 2>&1; then py=$p; break; fi
  done
fi
if [ -z "$py" ]; then
  echo "bench: no python3 with numpy found" \
       "(apt-get install python3-numpy, or set KILN_BENCH_PYTHON)" >&2
  exit 1
fi
exec "$py" "$here/bench.py" "$@"
