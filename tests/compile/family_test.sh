#!/bin/sh
# family_test.sh NAME: tests/data/tiny/NAME compiled by `kiln compile` and
# checked against its golden.json (tests/golden/README.md): the prefill
# logits of the last prompt position and of three decode steps within
# 1e-4, the 16 greedy tokens exactly, bit-identical logits on 1, 2 and 3
# threads, embedded weights, and the object form in a C program.
. "$(dirname "$0")/lib.sh"
name=${1:?usage: family_test.sh NAME}
model=$DATA/tiny/$name
golden=$model/golden.json
tol=1e-4

prompt=$("$COMPARE" prompt "$golden") || exit 1
decode=$("$COMPARE" decode-tokens "$golden") || exit 1
"$COMPARE" expect "$golden" >expect.txt || exit 1
sed '/^\/\/ decode/,$d' expect.txt >expect_prefill.txt

# ---- the executable ----
check "compile $name" "$KILN" compile "$model" -o "$name"
check "--logits" sh -c "./$name --tokens $prompt --logits >logits.txt"
check "prefill logits = golden" "$COMPARE" values expect_prefill.txt logits.txt $tol
check "greedy" sh -c "./$name --tokens $prompt -n 16 --temp 0 >greedy.txt"
checks=$((checks + 1))
want=$("$COMPARE" greedy "$golden")
got=$(cat greedy.txt)
[ "$got" = "$want" ] || fail "greedy tokens
    got:      $got
    expected: $want"
for t in 1 2 3; do
  check "--logits -t $t" sh -c "./$name --tokens $prompt --logits -t $t >t$t.txt"
  same_file "logits with $t threads" logits.txt "t$t.txt"
done

# ---- embedded weights ----
check "compile --embed-weights" "$KILN" compile "$model" -o embedded --embed-weights
checks=$((checks + 1))
[ ! -e embedded.kw ] || fail "--embed-weights wrote embedded.kw"
check "embedded --logits" sh -c "./embedded --tokens $prompt --logits >emb.txt"
same_file "embedded logits" logits.txt emb.txt

# ---- the object in a C program: prefill, then the golden decode steps ----
mkdir -p obj
check "compile obj" "$KILN" compile "$model" --emit=obj -o "obj/$name.o"
check "link use_obj" link_program use_obj "$SRC/use_obj.c" -Iobj "-DMODEL_HEADER=\"$name.h\"" \
  "obj/$name.o" "$RUNTIME_DIR/libkiln_rt.a"
check "use_obj" sh -c "./use_obj obj/$name.kw $prompt $decode >obj.txt"
check "prefill and decode logits = golden" "$COMPARE" values expect.txt obj.txt $tol

finish
