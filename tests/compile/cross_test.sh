#!/bin/sh
# cross_test.sh: --target gives objects for other machines, checked with
# llvm-readelf (READELF); the host's default target is checked too.
. "$(dirname "$0")/lib.sh"
: "${READELF:?}"
kir=$SRC/elementwise.kir

# machine TRIPLE EXPECTED: --emit=obj for TRIPLE is an ELF64 for EXPECTED.
machine() {
  out=$(echo "$1" | tr -c 'a-z0-9_\n' _).o
  check "compile --target=$1" "$KILN" compile "$kir" --emit=obj --target="$1" -o "$out"
  "$READELF" -h "$out" >"$out.h.txt" 2>&1
  check "$1 is $2" grep -Eq "^ +Machine: +$2\$" "$out.h.txt"
  check "$1 is ELF64" grep -Eq "^ +Class: +ELF64\$" "$out.h.txt"
  check "$1 is relocatable" grep -Eq "^ +Type: +REL " "$out.h.txt"
  # The descriptor is a global defined symbol of the object.
  "$READELF" -s "$out" >"$out.s.txt" 2>&1
  check "$1 defines kiln_model" grep -Eq "OBJECT +GLOBAL +DEFAULT +[0-9]+ kiln_model\$" "$out.s.txt"
}

machine aarch64-linux-gnu AArch64
machine x86_64-linux-gnu "Advanced Micro Devices X86-64"
# A CPU and features for the other machine.
check "aarch64 --cpu --features" "$KILN" compile "$kir" --emit=obj -o a64.o \
  --target=aarch64-linux-gnu --cpu=neoverse-n1 --features=+neon
check "aarch64 --emit=asm" "$KILN" compile "$kir" --emit=asm -o a64.s --target=aarch64-linux-gnu
check "aarch64 assembly" grep -q '^	ret$' a64.s
# No --target: the host's.
check "host object" "$KILN" compile "$kir" --emit=obj -o host.o
"$READELF" -h host.o >host.txt 2>&1
case "$(uname -m)" in
x86_64) check "host is x86-64" grep -q "Advanced Micro Devices X86-64" host.txt ;;
aarch64) check "host is AArch64" grep -q "AArch64" host.txt ;;
esac

finish
