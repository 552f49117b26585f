#!/bin/sh
# family_test.sh NAME: tests/data/tiny/NAME compiled by `kiln compile` and
# checked against its golden.json (tests/golden/README.md): the prefill
# logits of the last prompt position and of three decode steps within
# 1e-4, the 16 greedy tokens exactly, bit-identical logits on 1, 2 and 3
# threads; and the object form with embedded weights in a C program.
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

# ---- the object with embedded weights in a C program: prefill, then the
# golden decode steps ----
mkdir -p obj
check "compile obj --embed-weights" "$KILN" compile "$model" --emit=obj --embed-weights \
  -o "obj/$name.o"
checks=$((checks + 1))
[ ! -e "obj/$name.kw" ] || fail "--embed-weights wrote obj/$name.kw"
check "link use_obj" link_program use_obj "$SRC/use_obj.c" -Iobj "-DMODEL_HEADER=\"$name.h\"" \
  "obj/$name.o" "$RUNTIME_DIR/libkiln_rt.a"
check "use_obj" sh -c "./use_obj - $prompt $decode >obj.txt"
check "prefill and decode logits = golden" "$COMPARE" values expect.txt obj.txt $tol
sed '/^\/\/ decode/,$d' obj.txt >obj_prefill.txt
check "embedded prefill = the executable's, bit for bit" "$COMPARE" values logits.txt obj_prefill.txt 0

finish
