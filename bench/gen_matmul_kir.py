#!/usr/bin/python3
"""gen_matmul_kir.py: a .kir module whose prefill is one matmul [T x K] x [N x K]^T.

    gen_matmul_kir.py T N K OUT.kir

kiln compiles it like a model (docs/compile.md, "a FILE.kir module"), so the
harness times kiln's own generated matmul kernel on the shapes of a model's
prefill. The rows of x come from an embedding of the token ids (a [16, K]
table: a 16-row gather, negligible beside the matmul); the result f32[T, N]
is the prefill's "logits" (a decode entry, which the runtime needs, does
the same for one row). kiln compile needs every parameter of a .kir
inline, so the weight is written as text: small integers (-1, 0, 1) from a
fixed pattern keep the file small (about 2.3 bytes a value) and make every
product exact in f32. The values do not change the time.
"""
import sys


def values(n, period):
    # a pattern of period values in {-1, 0, 1}, repeated
    pat = [str((i * 7) % 3 - 1) for i in range(period)]
    reps, rest = divmod(n, period)
    line = ",".join(pat)
    return ",".join([line] * reps + ([",".join(pat[:rest])] if rest else []))


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: gen_matmul_kir.py T N K OUT.kir")
    t, n, k = (int(a) for a in sys.argv[1:4])
    tmp = sys.argv[4] + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"// matmul [{t}x{k}] x [{n}x{k}]^T for bench/run.sh (generated)\n")
        f.write(f"module @matmul_{n}x{k} {{\n  sym T <= {t}\n  sym P <= {t}\n")
        f.write(f"  param @x : f32[16, {k}] = [{values(16 * k, 13)}]\n")
        f.write(f"  param @w : f32[{n}, {k}] = [{values(n * k, 17)}]\n")
        f.write(f"  func @prefill(%tokens: i32[T]) -> f32[T, {n}] {{\n")
        f.write(f"    %x = embedding(@x, %tokens) : f32[T, {k}]\n")
        f.write(f"    %y = matmul(%x, @w) {{transpose_b}} : f32[T, {n}]\n")
        f.write("    return %y\n  }\n")
        # The runtime wants a decode entry too: the same as a matrix-vector product.
        f.write(f"  func @decode(%token: i32[1]) -> f32[1, {n}] {{\n")
        f.write(f"    %x = embedding(@x, %token) : f32[1, {k}]\n")
        f.write(f"    %y = matmul(%x, @w) {{transpose_b}} : f32[1, {n}]\n")
        f.write("    return %y\n  }\n}\n")
    import os
    os.replace(tmp, sys.argv[4])


main()
