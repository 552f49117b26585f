#!/bin/sh
# bounds_test.sh: --max-context, --max-tokens and --all-logits on the tiny
# llama: a prompt longer than max_tokens is prefilled in several calls and
# still gives the golden logits and tokens; a smaller context is what the
# executable reports and enforces.
. "$(dirname "$0")/lib.sh"
model=$DATA/tiny/llama
golden=$model/golden.json
prompt=$("$COMPARE" prompt "$golden") || exit 1
decode=$("$COMPARE" decode-tokens "$golden") || exit 1
"$COMPARE" expect "$golden" >expect.txt || exit 1
sed '/^\/\/ decode/,$d' expect.txt >expect_prefill.txt

# 7 prompt tokens in calls of at most 3, a KV cache of 12 positions.
check "compile --max-context=12 --max-tokens=3" "$KILN" compile "$model" -o small \
  --max-context=12 --max-tokens=3
check "context in the help" sh -c './small --help | grep -q "context 12)"'
check "--logits" sh -c "./small --tokens $prompt --logits >logits.txt"
check "prefill in three calls = golden" "$COMPARE" values expect_prefill.txt logits.txt 1e-4
# 7 + 5 tokens fill the 12 positions but one (the last token is not decoded).
check "greedy" sh -c "./small --tokens $prompt -n 5 --temp 0 >greedy.txt"
checks=$((checks + 1))
want=$("$COMPARE" greedy "$golden" | cut -d' ' -f1-5)
[ "$(cat greedy.txt)" = "$want" ] || fail "greedy: got '$(cat greedy.txt)', expected '$want'"
expect_stderr "a prompt longer than the context" \
  "small: error: the prompt has 13 tokens, more than the 12 positions of this model's context" \
  ./small --tokens 1,2,3,4,5,6,7,8,9,10,11,12,13 --logits

# --all-logits: prefill writes every position's logits; the API's last row is the golden one.
mkdir -p obj
check "compile --all-logits" "$KILN" compile "$model" --emit=obj --all-logits -o obj/all.o
check "header" grep -q '^#define KILN_MODEL_MAX_TOKENS 64$' obj/all.h
check "link use_obj" link_program use_obj "$SRC/use_obj.c" -Iobj '-DMODEL_HEADER="all.h"' \
  obj/all.o "$RUNTIME_DIR/libkiln_rt.a"
check "use_obj" sh -c "./use_obj obj/all.kw $prompt $decode >all.txt"
check "--all-logits prefill and decode = golden" "$COMPARE" values expect.txt all.txt 1e-4

finish
