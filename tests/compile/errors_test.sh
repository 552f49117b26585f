#!/bin/sh
# errors_test.sh: bad input to `kiln compile` gets one exact error line,
# exit status 1, and no file left behind (not even a temporary).
. "$(dirname "$0")/lib.sh"
kir=$SRC/elementwise.kir
mkdir out

expect_error "missing model" out \
  "nomodel: error: cannot open the model: No such file or directory; expected a model directory or a JSON file" \
  "$KILN" compile nomodel -o out/m

expect_error "unknown target" out \
  "kiln: error: unknown target 'foo-bar-baz' (No available targets are compatible with triple \"foo-bar-baz\"); known: x86_64-*, aarch64-*" \
  "$KILN" compile "$kir" -o out/m --target=foo-bar-baz

expect_error "output directory missing" out \
  "out/no/such/dir/m: error: cannot write the output: No such file or directory" \
  "$KILN" compile "$kir" -o out/no/such/dir/m

touch afile
expect_error "output under a file" out \
  "afile/m: error: cannot write the output: Not a directory" \
  "$KILN" compile "$kir" -o afile/m

mkdir out/adir
expect_error "output is a directory" out/adir \
  "out/adir: error: cannot write the output: Is a directory" \
  "$KILN" compile "$kir" -o out/adir
rmdir out/adir

# A directory that cannot be written (root writes anywhere: not checked then).
if [ "$(id -u)" -ne 0 ]; then
  mkdir ro && chmod 555 ro
  expect_error "read-only directory" ro \
    "ro/m: error: cannot write the output: Permission denied" \
    "$KILN" compile "$kir" -o ro/m
fi

# A checkpoint cut short: the safetensors header runs past the end.
mkdir corrupt
cp "$DATA/tiny/llama/config.json" corrupt/
head -c 1000 "$DATA/tiny/llama/model.safetensors" >corrupt/model.safetensors
expect_error "corrupt safetensors" out \
  "model.safetensors: error: header length 2088 exceeds the file size 1000" \
  "$KILN" compile corrupt -o out/m

# The failure comes late (at link time): the temporaries are removed too.
expect_error "link fails" out \
  "kiln compile: error: linking the executable failed: 'false' exited with status 1" \
  "$KILN" compile "$kir" -o out/m --cc=false

expect_error "cross-linking without a cross compiler" out \
  "kiln compile: error: cannot link an executable for 'aarch64-linux-gnu' with this machine's compiler; give --cc with a cross compiler (and --runtime-dir with a kiln runtime built for the target), or use --emit=obj" \
  "$KILN" compile "$kir" -o out/m --target=aarch64-linux-gnu

expect_error "runtime not found" out \
  "kiln compile: error: cannot find the kiln runtime: 'libkiln_rt.a' is not in 'out' (from --runtime-dir); build the kiln_rt and kiln_rt_main targets or give --runtime-dir" \
  "$KILN" compile "$kir" -o out/m --runtime-dir=out

expect_error "no such compiler" out \
  "kiln compile: error: cannot find the C compiler 'no-such-cc' (--cc) that links the artifact; install one or give --cc" \
  "$KILN" compile "$kir" -o out/m --cc=no-such-cc

expect_error "--max-tokens too large" out \
  "kiln compile: error: --max-tokens 9 exceeds 8, the most tokens the model takes in one call" \
  "$KILN" compile "$kir" -o out/m --max-tokens=9

expect_error "--max-context too large" out \
  "$kir: error: --max-context 17 exceeds the module's context of 16 (the bound of P)" \
  "$KILN" compile "$kir" -o out/m --max-context=17

expect_error "--all-logits on a last-row prefill" out \
  "$kir:12:3: error: --all-logits: @prefill returns f32[1, 5], not the logits of every position f32[T, 5]" \
  "$KILN" compile "$kir" -o out/m --all-logits

# Usage errors.
expect_error "no output" out "kiln compile: no output name; give -o NAME" "$KILN" compile "$kir"
expect_error "bad --emit" out \
  "kiln compile: --emit expects exe, obj, lib, shared, ll, asm, kir, cu, ptx or cubin, got 'elf'" \
  "$KILN" compile "$kir" -o out/m --emit=elf
expect_error "--symbol with exe" out \
  "kiln compile: --symbol applies to obj, lib and shared; an executable's model is always kiln_model" \
  "$KILN" compile "$kir" -o out/m --symbol=x
expect_error "bad --symbol" out "kiln compile: --symbol expects a C identifier, got '9x'" \
  "$KILN" compile "$kir" -o out/m --emit=obj --symbol=9x
expect_error "bad --llvm-opt" out "kiln compile: --llvm-opt expects an integer in [0, 3], got '4'" \
  "$KILN" compile "$kir" -o out/m --llvm-opt=4
expect_error "unknown flag" out "kiln compile: unknown option '--fast'; see 'kiln compile --help'" \
  "$KILN" compile "$kir" -o out/m --fast

finish
