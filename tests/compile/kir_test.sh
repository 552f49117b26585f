#!/bin/sh
# kir_test.sh: every artifact `kiln compile` makes, built from
# elementwise.kir, run, and compared with the reference interpreter
# (`kiln run-ir`) on the same module. See lib.sh for the environment.
. "$(dirname "$0")/lib.sh"
kir=$SRC/elementwise.kir

# The oracle: prefill [1, 2] at P = 0, then decode 3 at P = 2.
check "run-ir" sh -c "'$KILN' run-ir '$kir' --entry prefill --sym P=0 --input tokens=1,2 \
  --entry decode --sym P=2 --input token=3 >ref.txt"
sed '/call 2/,$d' ref.txt >ref_prefill.txt

# ---- exe: NAME and NAME.kw ----
check "compile exe" "$KILN" compile "$kir" -o model
check "exe --logits" sh -c './model --tokens 1,2 --logits >exe.txt'
check "exe logits = interpreter" "$COMPARE" values ref_prefill.txt exe.txt 1e-5
for t in 1 2 3; do
  check "exe -t $t" sh -c "./model --tokens 1,2 --logits -t $t >t$t.txt"
  same_file "logits with $t threads" exe.txt "t$t.txt"
done
checks=$((checks + 1))
[ "$(head -c 8 model.kw)" = KILNWTS1 ] || fail "model.kw does not start with KILNWTS1"
# The header, then 20 + 10 + 10 bytes of parameters, each padded to 64.
checks=$((checks + 1))
[ "$(wc -c <model.kw)" -eq $((64 + 3 * 64)) ] || fail "model.kw has $(wc -c <model.kw) bytes, expected 256"

# ---- --embed-weights: no NAME.kw, same logits ----
check "compile --embed-weights" "$KILN" compile "$kir" -o embedded --embed-weights
checks=$((checks + 1))
[ ! -e embedded.kw ] || fail "--embed-weights wrote embedded.kw"
check "embedded --logits" sh -c './embedded --tokens 1,2 --logits >emb.txt'
same_file "embedded logits" exe.txt emb.txt

# ---- the model hash: the same in every artifact; the weights check it ----
hash=$(./model --version | sed -n 's/^model hash: //p')
checks=$((checks + 1))
[ -n "$hash" ] && [ "$(./embedded --version | sed -n 's/^model hash: //p')" = "$hash" ] ||
  fail "model hash differs between model and embedded ('$hash')"
check "compile --max-tokens=4" "$KILN" compile "$kir" -o other --max-tokens=4
other=$(./other --version | sed -n 's/^model hash: //p')
checks=$((checks + 1))
[ "$other" != "$hash" ] || fail "--max-tokens=4 did not change the model hash"
expect_stderr "weights of another model" \
  "other: error: weights file 'model.kw' was built for another model (hash $hash, this executable expects $other)" \
  ./other --weights model.kw --tokens 1 --logits

# ---- obj: object + header, linked into a C program ----
mkdir -p obj
check "compile obj" "$KILN" compile "$kir" --emit=obj -o obj/tiny.o --symbol=tiny_model
for f in tiny.o tiny.h tiny.kw kiln.h kiln_abi.h; do
  checks=$((checks + 1))
  [ -f "obj/$f" ] || fail "--emit=obj did not write obj/$f"
done
check "header declares the symbol" grep -q '^extern const KilnModelDesc tiny_model;$' obj/tiny.h
check "header carries the hash" grep -q "^#define TINY_MODEL_HASH ${hash}ull\$" obj/tiny.h
check "link use_obj" link_program use_obj "$SRC/use_obj.c" -Iobj '-DMODEL_HEADER="tiny.h"' \
  -DMODEL_SYMBOL=tiny_model obj/tiny.o "$RUNTIME_DIR/libkiln_rt.a"
check "use_obj" sh -c './use_obj obj/tiny.kw 1,2 3 >obj.txt'
check "obj prefill and decode = interpreter" "$COMPARE" values ref.txt obj.txt 1e-5

# ---- lib: one archive with the model and the runtime ----
mkdir -p lib
check "compile lib" "$KILN" compile "$kir" --emit=lib -o lib/libtiny.a
check "link use_obj with the archive" link_program use_lib "$SRC/use_obj.c" -Ilib \
  '-DMODEL_HEADER="libtiny.h"' lib/libtiny.a
check "use_lib" sh -c './use_lib lib/libtiny.kw 1,2 3 >lib.txt'
same_file "lib = obj" obj.txt lib.txt

# ---- shared: dlopen()ed, embedded weights ----
mkdir -p shared
check "compile shared" "$KILN" compile "$kir" --emit=shared -o shared/libtiny.so --embed-weights
checks=$((checks + 1))
[ ! -e shared/libtiny.kw ] || fail "--embed-weights wrote shared/libtiny.kw"
check "build use_dlopen" link_program use_dlopen "$SRC/use_dlopen.c" -Ishared -ldl
check "use_dlopen" sh -c './use_dlopen ./shared/libtiny.so kiln_model - 1,2 >so.txt'
check "shared prefill = interpreter" "$COMPARE" values ref_prefill.txt so.txt 1e-5

# ---- ll, asm: text to read ----
check "compile ll" "$KILN" compile "$kir" --emit=ll -o m.ll
check "ll defines the descriptor" grep -q '^@kiln_model = .*constant' m.ll
check "compile asm" "$KILN" compile "$kir" --emit=asm -o m.s --symbol=tiny_model
check "asm defines the descriptor" grep -q '^tiny_model:' m.s

# ---- kir: the optimized module, stamped, interpreted the same ----
check "compile kir" "$KILN" compile "$kir" --emit=kir -o m.kir
check "kir stamp" grep -q "^// kiln 0.1.0, abi 2: model 'elementwise', hash $hash\$" m.kir
check "run-ir on the emitted kir" sh -c "'$KILN' run-ir m.kir --entry prefill --sym P=0 \
  --input tokens=1,2 --entry decode --sym P=2 --input token=3 >ref2.txt"
same_file "emitted kir interprets the same" ref.txt ref2.txt

# ---- flags ----
check "compile -O0" "$KILN" compile "$kir" -o o0 -O0
check "-O0 --logits" sh -c './o0 --tokens 1,2 --logits >o0.txt'
check "-O0 logits = interpreter" "$COMPARE" values ref_prefill.txt o0.txt 1e-5
check "compile --llvm-opt=0" "$KILN" compile "$kir" -o l0 --llvm-opt=0
check "--llvm-opt=0 --logits" sh -c './l0 --tokens 1,2 --logits >l0.txt'
check "--llvm-opt=0 logits = interpreter" "$COMPARE" values ref_prefill.txt l0.txt 1e-5
check "--print-ir" sh -c "'$KILN' compile '$kir' -o p1 --print-ir | grep -q '^module @elementwise {'"
check "--print-kernels" sh -c "'$KILN' compile '$kir' -o p2 --print-kernels | grep -q '^// kernel plan: '"
check "--max-context=12" "$KILN" compile "$kir" -o c12 --max-context=12
check "context in the executable's help" sh -c './c12 --help | grep -q "context 12)"'

# ---- reproducible: the same inputs give the same bytes ----
mkdir -p again
check "compile obj again" "$KILN" compile "$kir" --emit=obj -o again/tiny.o --symbol=tiny_model
for f in tiny.o tiny.h tiny.kw; do same_file "reproducible $f" "obj/$f" "again/$f"; done

finish
