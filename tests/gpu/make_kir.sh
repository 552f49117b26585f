#!/bin/sh
# tests/gpu/make_kir.sh KILN: writes the modules kiln_gpu_bench runs into
# tests/gpu/data, with a kiln built normally (LLVM and cJSON):
#   tiny-NAME.kir       every model of tests/data/tiny, context 32
#   llama-3.2-1b.kir    Llama 3.2 1B's config (../shared/models), context 2048
# `kiln inspect --emit-ir` builds the module from config.json alone: the
# parameters are declared (with the checkpoint's dtypes where there is one,
# else the config's torch_dtype), their values are not in the file; the
# bench fills them with pseudo-random values.
set -eu
kiln=${1:?usage: tests/gpu/make_kir.sh KILN}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$here/data"
mkdir -p "$out"
for dir in "$root"/tests/data/tiny/*/; do
  name=$(basename "$dir")
  "$kiln" inspect "$dir" --emit-ir --max-context 32 >"$out/tiny-$name.kir"
done
"$kiln" inspect "$root/../shared/models/llama-3.2-1b" --emit-ir --max-context 2048 >"$out/llama-3.2-1b.kir"
ls -l "$out"
