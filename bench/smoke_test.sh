#!/bin/sh
# smoke_test.sh KILN WORK_DIR: the harness's ctest (bench.smoke). Runs
# `bench/run.sh --quick --json` on the tiny shape with this kiln and checks
# the JSON's form with check_json.py (every field of issue 6, kiln's logits
# against the plain C Llama). Never looks at the figures themselves.
# Exit 77 (skipped) when there is no python3 with numpy.
set -u
kiln=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
py=""
for p in /usr/bin/python3 python3; do
  if "$p" -c 'import numpy' >/dev/null 2>&1; then py=$p; break; fi
done
if [ -z "$py" ]; then
  echo "smoke_test: no python3 with numpy: skipped"
  exit 77
fi
mkdir -p "$work" || exit 1
KILN_BENCH_PYTHON=$py "$here/run.sh" --quick --json --kiln="$kiln" --work-dir="$work" \
  >"$work/bench.json" || { echo "smoke_test: bench/run.sh failed"; exit 1; }
exec "$py" "$here/check_json.py" "$work/bench.json"
