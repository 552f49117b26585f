#!/bin/sh
# bisect_test.sh: `kiln bisect --compiled`: every stage of the pipeline
# also compiled with the CPU backend (LLVM -O0 here, for time) and run
# through the runtime against the interpreter on the unoptimized module.
# A clean run over tiny llama passes; the testing pass test-perturb
# (KILN_TEST_PASSES=1) is named by both the interpreter and the compiled
# code. See lib.sh for the environment.
. "$(dirname "$0")/lib.sh"
model=$DATA/tiny/llama
mkdir -p tmp
TMPDIR=$WORK/tmp # where bisect puts the stages' libraries
export TMPDIR

# expect_bisect DESCRIPTION STATUS LINE ARGS...: exit status STATUS and LINE in the output.
expect_bisect() {
  desc=$1 status=$2 line=$3
  shift 3
  checks=$((checks + 1))
  "$KILN" bisect "$model" --compiled --llvm-opt=0 "$@" >out.txt 2>err.txt
  rc=$?
  [ "$rc" -eq "$status" ] || fail "$desc: exit status $rc, expected $status"
  grep -qxF -- "$line" out.txt || fail "$desc: no line '$line' in
$(cat out.txt err.txt)"
}

expect_bisect "the default pipeline, compiled" 0 "every pass keeps the outputs within 0.0001"
checks=$((checks + 1))
grep -q "compiled .*(beyond)" out.txt && fail "a stage beyond the tolerance: $(cat out.txt)"

KILN_TEST_PASSES=1
export KILN_TEST_PASSES
expect_bisect "test-perturb" 1 "first pass beyond 0.0001: 'test-perturb' (2 of 3)" \
  --passes=canonicalize,test-perturb,dce
checks=$((checks + 1))
grep -qE "^ *2/3 test-perturb +interpreter 0\.001 \(beyond\)  compiled 0\.001 \(beyond\)$" out.txt ||
  fail "test-perturb's line: $(cat out.txt)"
checks=$((checks + 1))
[ -z "$(ls -A tmp)" ] || fail "kiln bisect left files behind: $(ls -A tmp)"

finish
