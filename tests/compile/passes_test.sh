#!/bin/sh
# passes_test.sh NAME: every pass proven equal on tests/data/tiny/NAME.
# The model is compiled with -O0, with -O2, and with each registered pass
# alone (--passes=PASS, the list read from `kiln opt --list-passes`, so a
# new pass is covered without editing this file; the testing passes are
# not listed without KILN_TEST_PASSES=1). Each build runs the golden
# prompt and its three decode steps on 1 and 2 threads: the logits match
# golden.json (the independent reference the interpreter matches, see
# tests/golden/README.md) within 1e-4, and 1 and 2 threads agree bit for
# bit. A pass that leaves the IR as an earlier build had it is checked
# by that build (the IR is compared first). The builds use LLVM -O0 (PASSES_LLVM_OPT overrides) to keep the
# test quick: the graph passes are what is under test here; family_test.sh
# covers LLVM -O3. See lib.sh for the environment.
. "$(dirname "$0")/lib.sh"
name=${1:?usage: passes_test.sh NAME}
model=$DATA/tiny/$name
golden=$model/golden.json
tol=1e-4
llvm_opt=${PASSES_LLVM_OPT:-0}

prompt=$("$COMPARE" prompt "$golden") || exit 1
decode=$("$COMPARE" decode-tokens "$golden") || exit 1
"$COMPARE" expect "$golden" >expect.txt || exit 1
passes=$(env -u KILN_TEST_PASSES "$KILN" opt --list-passes) || exit 1
checks=$((checks + 1))
[ -n "$passes" ] || fail "kiln opt --list-passes printed no passes"

# run_config LABEL FLAGS...: compile with FLAGS, run on 1 and 2 threads,
# compare. The optimized IR comes first (--emit=kir, no LLVM): a build
# whose IR and memory planning equal an earlier one's is that build (the
# IR and the -O level decide the code), so it is not built again.
built=""
run_config() {
  label=$1
  shift
  mkdir -p "$label"
  check "compile $label --emit=kir" "$KILN" compile "$model" --emit=kir -o "$label/model.kir" "$@"
  level=$(case "$*" in *-O0*) echo 0 ;; *) echo 2 ;; esac)
  for prev in $built; do
    if [ "${prev%%:*}" = "$level" ] && cmp -s "${prev#*:}/model.kir" "$label/model.kir"; then
      echo "$label: the same IR as ${prev#*:}, tested there"
      return
    fi
  done
  built="$built $level:$label"
  check "compile $label" "$KILN" compile "$model" --emit=shared --embed-weights \
    --llvm-opt="$llvm_opt" -o "$label/model.so" "$@"
  [ -f "$label/model.so" ] || return
  if [ ! -x run_shared ]; then
    check "build run_shared" link_program run_shared "$SRC/run_shared.c" -I"$label" -ldl
  fi
  for t in 1 2; do
    check "$label: run on $t threads" sh -c "./run_shared ./$label/model.so $t $prompt $decode >$label/t$t.txt"
  done
  check "$label: prefill and decode logits = golden" "$COMPARE" values expect.txt "$label/t1.txt" $tol
  same_file "$label: 1 and 2 threads" "$label/t1.txt" "$label/t2.txt"
}

run_config O0 -O0
run_config O2 -O2
for pass in $passes; do
  run_config "pass-$pass" --passes="$pass"
done

finish
