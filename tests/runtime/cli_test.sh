#!/bin/sh
# cli_test.sh FAKE_MODEL_EXE MAKE_FAKE_WEIGHTS WORKDIR
#
# Runs the fake model's executable (runtime/rt_main.c linked with
# tests/runtime/fake_model.c) through its command line: logits, generation,
# thread counts, and every kind of bad input, which must end in one clear
# error line and exit status 1, never a crash.
set -u
exe_src=$1
make_weights=$2
work=$3

rm -rf "$work"
mkdir -p "$work" || exit 1
exe="$work/fake"
cp "$exe_src" "$exe" || exit 1
"$make_weights" "$exe.kw" || exit 1

failures=0
checks=0
fail() {
  failures=$((failures + 1))
  echo "FAIL: $*" >&2
}

# run ARGS...: runs the model; sets rc, and the files out and err.
run() {
  "$exe" "$@" >"$work/out" 2>"$work/err"
  rc=$?
}

# expect_error MESSAGE ARGS...: exit 1 and exactly "fake: error: MESSAGE" on stderr.
expect_error() {
  want="fake: error: $1"
  shift
  run "$@"
  checks=$((checks + 1))
  got=$(cat "$work/err")
  [ "$rc" -eq 1 ] || fail "'$*': exit $rc, want 1"
  [ "$got" = "$want" ] || fail "'$*': stderr '$got', want '$want'"
}

expect_ok() {
  run "$@"
  checks=$((checks + 1))
  [ "$rc" -eq 0 ] || fail "'$*': exit $rc, want 0 (stderr: $(cat "$work/err"))"
}

# The id of the largest value in a file of one value a line (ties: lower id).
argmax() {
  awk 'NR == 1 || $1 > best { best = $1; id = NR - 1 } END { print id }' "$1"
}

# ---- help and version -------------------------------------------------------
expect_ok --help
grep -q '^usage: fake \[options\]' "$work/out" || fail "--help: no usage line"
expect_ok --version
grep -q '^model: fake$' "$work/out" || fail "--version: no model name"
hash=$(sed -n 's/^model hash: \(0x[0-9a-f]*\)$/\1/p' "$work/out")
[ -n "$hash" ] || fail "--version: no model hash"
data_bytes=$(sed -n 's/^weights: \([0-9]*\) bytes, checksum \(0x[0-9a-f]*\)$/\1/p' "$work/out")
checksum=$(sed -n 's/^weights: \([0-9]*\) bytes, checksum \(0x[0-9a-f]*\)$/\2/p' "$work/out")
[ -n "$data_bytes" ] && [ -n "$checksum" ] || fail "--version: no weights line"

# ---- logits: one value a line, the same for 1, 2 and 3 threads ---------------
expect_ok --tokens 1,2,3 --logits -t 1
cp "$work/out" "$work/logits1"
lines=$(wc -l <"$work/logits1")
[ "$lines" -eq 32 ] || fail "--logits: $lines lines, want 32 (the vocabulary)"
grep -qv '^-\{0,1\}[0-9][0-9.e+-]*$' "$work/logits1" && fail "--logits: a line is not a number"
grep -q '^prefill: 3 tokens in [0-9.]* s ([0-9.]* tok/s)$' "$work/err" ||
  fail "--logits: timing line '$(cat "$work/err")'"
for t in 2 3; do
  expect_ok --tokens 1,2,3 --logits -t $t
  cmp -s "$work/out" "$work/logits1" || fail "--logits with -t $t differs from -t 1"
done
expect_ok --tokens 1,2,3 --logits -t 2 --weights "$exe.kw"
cmp -s "$work/out" "$work/logits1" || fail "--weights PATH gives other logits"

# ---- greedy generation agrees with the logits --------------------------------
expect_ok --tokens 1,2,3 -n 5 --temp 0 -t 1
cp "$work/out" "$work/greedy1"
set -- $(cat "$work/greedy1")
[ $# -eq 5 ] || fail "-n 5: $# tokens printed, want 5: '$(cat "$work/greedy1")'"
first=$1
second=$2
grep -q '^prefill: 3 tokens in [0-9.]* s ([0-9.]* tok/s); decode: 4 tokens in [0-9.]* s ([0-9.]* tok/s)$' \
  "$work/err" || fail "generation: timing line '$(cat "$work/err")'"
[ "$first" = "$(argmax "$work/logits1")" ] || fail "first greedy token $first is not the argmax"
expect_ok --tokens "1,2,3,$first" --logits
[ "$second" = "$(argmax "$work/out")" ] || fail "second greedy token $second is not the argmax"
for t in 2 3; do
  expect_ok --tokens 1,2,3 -n 5 --temp 0 -t $t
  cmp -s "$work/out" "$work/greedy1" || fail "greedy tokens with -t $t differ from -t 1"
done

# ---- sampling: a seed gives the same tokens on any thread count -------------
sample="--tokens 1,2,3 -n 12 --temp 0.8 --top-k 10 --top-p 0.9 --repeat-penalty 1.1 --seed 7"
expect_ok $sample -t 1
cp "$work/out" "$work/sample1"
for t in 2 3; do
  expect_ok $sample -t $t
  cmp -s "$work/out" "$work/sample1" || fail "sampled tokens with -t $t differ from -t 1"
done
expect_ok $sample --no-stream
cmp -s "$work/out" "$work/sample1" || fail "--no-stream prints other tokens"
expect_ok --tokens 1,2,3 -n 12 --temp 5 --top-k 0 --seed 8
[ "$(cat "$work/out")" != "$(cat "$work/sample1")" ] || fail "seeds 7 and 8 gave the same tokens"

# ---- limits ------------------------------------------------------------------
expect_ok --tokens 1,2,3 -n 0
[ "$(cat "$work/out")" = "" ] || fail "-n 0 printed tokens"
# 20 prompt tokens in a 24-position context: 24 - 20 + 1 tokens, the last not decoded.
long20=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20
expect_ok --tokens $long20 -n -1 --temp 0
set -- $(cat "$work/out")
[ $# -eq 5 ] || fail "-n -1 with 20 prompt tokens: $# tokens, want 5"
grep -q '^prefill: 20 tokens' "$work/err" || fail "20-token prompt: timing '$(cat "$work/err")'"

# ---- bad flags ---------------------------------------------------------------
expect_error "unknown option '--bogus' (see --help)" --tokens 1 --bogus
expect_error "unexpected argument 'hello' (see --help)" --tokens 1 hello
expect_error "-n expects an integer >= -1, got 'abc'" --tokens 1 -n abc
expect_error "-n expects an integer >= -1, got '-2'" --tokens 1 -n -2
expect_error "option '--temp' needs a value (see --help)" --tokens 1 --temp
expect_error "option '--logits' takes no value (see --help)" --tokens 1 --logits=yes
expect_error "--n-predict expects an integer >= -1, got '1.5'" --tokens 1 --n-predict=1.5
expect_error "--temp expects a number >= 0, got '-1'" --tokens 1 --temp=-1
expect_error "--top-p expects a number in (0, 1], got '1.5'" --tokens 1 --top-p 1.5
expect_error "--top-k expects an integer >= 0, got 'x'" --tokens 1 --top-k x
expect_error "--repeat-penalty expects a number > 0, got '0'" --tokens 1 --repeat-penalty 0
expect_error "--seed expects an unsigned integer, got '-5'" --tokens 1 --seed -5
expect_error "-t expects an integer in [1, 1024], got '0'" --tokens 1 -t 0
expect_error "nothing to do: give a prompt with -p TEXT or --tokens IDS (see --help)" -n 3
expect_error "give either -p or --tokens, not both" -p hi --tokens 1
expect_error "this model has no tokenizer; use --tokens" -p "hello world"
expect_error "--tokens: '99' is not a token id of this model (0 to 31)" --tokens 1,99
expect_error "--tokens: 'x2' is not a token id of this model (0 to 31)" --tokens 1,x2
expect_error "--tokens: no token ids in ','" --tokens ,

# ---- a prompt longer than the context ----------------------------------------
expect_error "the prompt has 25 tokens, more than the 24 positions of this model's context" \
  --tokens "$long20,1,2,3,4,5"

# ---- weights: missing, corrupt, of another model, truncated, not weights -------
expect_error "cannot open weights file '$work/none.kw': No such file or directory" \
  --tokens 1 --weights "$work/none.kw"
mkdir -p "$work/alone"
cp "$exe" "$work/alone/fake"
"$work/alone/fake" --tokens 1 >"$work/out" 2>"$work/err"
rc=$?
checks=$((checks + 1))
[ "$rc" -eq 1 ] || fail "no weights beside the executable: exit $rc, want 1"
grep -qx "fake: error: cannot open weights file '$work/alone/fake.kw': No such file or directory" \
  "$work/err" || fail "default weights path: '$(cat "$work/err")'"

# Flip one byte of the data area: a checksum error.
cp "$exe.kw" "$work/corrupt.kw"
byte=$(od -An -tu1 -j100 -N1 "$work/corrupt.kw" | tr -d ' ')
printf "\\$(printf %03o $(((byte + 1) % 256)))" |
  dd of="$work/corrupt.kw" bs=1 seek=100 conv=notrunc 2>/dev/null
run --tokens 1 --weights "$work/corrupt.kw"
checks=$((checks + 1))
[ "$rc" -eq 1 ] || fail "corrupt weights: exit $rc, want 1"
grep -qx "fake: error: weights file '$work/corrupt.kw' is corrupt: checksum 0x[0-9a-f]\{16\}, expected $checksum" \
  "$work/err" || fail "corrupt weights: '$(cat "$work/err")'"

"$make_weights" "$work/other.kw" 0x1234
expect_error "weights file '$work/other.kw' was built for another model (hash 0x0000000000001234, this executable expects $hash)" \
  --tokens 1 --weights "$work/other.kw"

head -c 100 "$exe.kw" >"$work/short.kw"
expect_error "weights file '$work/short.kw' has 100 bytes; its header announces 64 + $data_bytes (the file is truncated or has trailing bytes)" \
  --tokens 1 --weights "$work/short.kw"
head -c 10 "$exe.kw" >"$work/tiny.kw"
expect_error "weights file '$work/tiny.kw' has 10 bytes, too few for the 64-byte header" \
  --tokens 1 --weights "$work/tiny.kw"
printf 'this is not a weights file, only some text to fill 64 bytes up....\n' >"$work/text.kw"
expect_error "weights file '$work/text.kw' is not a kiln weights file (bad magic; expected \"KILNWTS1\")" \
  --tokens 1 --weights "$work/text.kw"
expect_error "weights file '$work' is not a regular file" --tokens 1 --weights "$work"

if [ "$failures" -ne 0 ]; then
  echo "$failures of $checks checks failed" >&2
  exit 1
fi
echo "$checks checks passed"
