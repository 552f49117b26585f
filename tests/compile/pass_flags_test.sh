#!/bin/sh
# pass_flags_test.sh: `kiln compile`'s pass flags (the parser kiln opt
# shares, driver/pass_flags.c): -O0/-O1/-O2 and --passes choose the
# pipeline; the dumps, timing and Graphviz; the reproducer a failing or
# crashing pass leaves (NAME.reproducer.kir by default), and nothing else.
# --emit=kir keeps it quick (no LLVM code). See lib.sh for the environment.
. "$(dirname "$0")/lib.sh"
model=$DATA/tiny/llama

# compile_kir LABEL FLAGS...: the optimized module of tiny llama in LABEL.kir,
# stderr in LABEL.err.
compile_kir() {
  label=$1
  shift
  check "compile $label" sh -c "'$KILN' compile '$model' --emit=kir -o $label.kir $* 2>$label.err"
}

# has FILE PATTERN DESCRIPTION / lacks FILE PATTERN DESCRIPTION
has() {
  checks=$((checks + 1))
  grep -qE -- "$2" "$1" || fail "$3: no '$2' in $1"
}
lacks() {
  checks=$((checks + 1))
  ! grep -qE -- "$2" "$1" || fail "$3: '$2' in $1"
}

# ---- the levels and --passes ----
compile_kir o0 -O0 --time-passes
compile_kir o1 -O1 --time-passes
compile_kir o2 --time-passes
has o0.kir ' = matmul\(' "-O0 keeps the frontend's graph"
has o0.err '^// pass timing: 0 passes' "-O0 runs no passes"
has o1.err '^// pass timing: 5 passes' "-O1 runs the five cleanup passes"
for p in canonicalize fold cse dce; do has o1.err "%  $p" "-O1 runs $p"; done
lacks o1.err '%  attention' "-O1 is cleanup only"
lacks o1.kir ' = attention\(' "-O1 does not fuse attention"
has o2.kir ' = attention\(' "-O2 (the default) fuses attention"
# The default pipeline is the line after "-O2: every pass" in `kiln opt --help`.
n=$("$KILN" opt --help | sed -n '/-O2: every pass/{n;s/^ *//p;}' | tr ',' '\n' | grep -c .)
has o2.err "^// pass timing: $n passes" "-O2 runs the default pipeline's $n passes"
compile_kir only --passes=cse,dce --time-passes
has only.err '^// pass timing: 2 passes' "--passes replaces the pipeline"

# ---- dumps, printing, Graphviz ----
compile_kir dumps --passes=canonicalize,cse --dump-dir=dumps --print-ir-after=cse --emit-dot=g.dot
checks=$((checks + 1))
[ "$(ls dumps | tr '\n' ' ')" = "00-input.kir 01-canonicalize.kir 02-cse.kir " ] ||
  fail "--dump-dir: $(ls dumps | tr '\n' ' ')"
has dumps.err "^// IR after pass 'cse' \(2 of 2\)$" "--print-ir-after=cse"
lacks dumps.err "IR after pass 'canonicalize'" "--print-ir-after=cse prints cse only"
has g.dot '^digraph "prefill" \{$' "--emit-dot: @prefill"
has g.dot '^digraph "decode" \{$' "--emit-dot: @decode"
checks=$((checks + 1))
[ "$(grep -c ' -> ' g.dot)" -gt 100 ] || fail "--emit-dot: few edges in g.dot"

# ---- reproducers ----
KILN_TEST_PASSES=1
export KILN_TEST_PASSES
mkdir fail crash
expect_stderr "a failing pass" \
  "kiln compile: error: in pass 'test-fail': test-fail: this pass always fails (a testing aid) (reproducer: fail/m.reproducer.kir)" \
  "$KILN" compile "$model" -o fail/m --passes=canonicalize,test-fail
checks=$((checks + 1))
[ "$(ls fail)" = "m.reproducer.kir" ] || fail "a failed compile left: $(ls fail)"
has fail/m.reproducer.kir "^// replay: kiln opt --pass=test-fail FILE$" "the replay line"
expect_stderr "replaying it" \
  "fail/m.reproducer.kir:4:1: error: in pass 'test-fail': test-fail: this pass always fails (a testing aid)" \
  "$KILN" opt --replay fail/m.reproducer.kir
expect_stderr "a crashing pass" \
  "kiln compile: error: pass 'test-crash' (2 of 3) crashed with SIGSEGV; reproducer: crash/m.reproducer.kir (replay: kiln opt --replay crash/m.reproducer.kir)" \
  "$KILN" compile "$model" -o crash/m --passes=canonicalize,test-crash,dce
checks=$((checks + 1))
[ "$(ls crash)" = "m.reproducer.kir" ] || fail "a crashed compile left: $(ls crash)"
check "the crash reproducer is valid IR" "$KILN" opt --verify-only crash/m.reproducer.kir
has crash/m.reproducer.kir "^//   SIGSEGV$" "the crash reproducer names the signal"
expect_stderr "--reproducer=FILE" \
  "kiln compile: error: pass 'test-crash' (1 of 1) crashed with SIGSEGV; reproducer: r.kir (replay: kiln opt --replay r.kir)" \
  "$KILN" compile "$model" -o crash/m --passes=test-crash --reproducer=r.kir
checks=$((checks + 1))
[ -f r.kir ] || fail "--reproducer=r.kir: no r.kir"

finish
