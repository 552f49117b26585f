#!/usr/bin/python3
"""check_json.py: checks the JSON of `bench/run.sh --json` (the smoke test).

    check_json.py BENCH.json

Independent of bench.py: the field list below is issue 6's. Checks that the
object parses; that every field the issue names is at the top level as a
finite number (openblas_gflop_s may be null only when OpenBLAS is missing),
positive, and in every shape's sub-object where it is a figure of the
model; that the arena is at least its lower bound; that the matmul and
compile-scaling sections and the ratios are there; and that kiln's logits
match the plain C Llama's within 1e-3 of the largest logit (both compute in
f32 from the same weights; the figures are not checked, only their form).
"""
import json
import math
import sys

FIELDS = ("decode_tok_s", "decode_gb_s", "mem_bw_gb_s", "prefill_tok_s", "prefill_gflop_s",
          "fma_peak_gflop_s", "matmul_gflop_s", "openblas_gflop_s", "naive_decode_tok_s",
          "naive_prefill_tok_s", "o0_prefill_tok_s", "compile_s", "arena_bytes",
          "arena_lower_bound_bytes")
MACHINE_WIDE = ("fma_peak_gflop_s", "matmul_gflop_s", "openblas_gflop_s")
RATIOS = ("decode_bw_fraction", "matmul_vs_openblas", "prefill_gflop_s", "o2_vs_o0_prefill",
          "compile_layers_ratio")


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check(res):
    errors = []
    no_blas = "not installed" in str(res.get("openblas_core", ""))
    for k in FIELDS:
        v = res.get(k, "absent")
        if k == "openblas_gflop_s" and v is None and no_blas:
            continue
        if not is_number(v) or v <= 0:
            errors.append(f"top level: {k} is {v!r}, expected a positive number")
    shapes = res.get("shapes")
    if not isinstance(shapes, dict) or not shapes:
        errors.append("no 'shapes' object")
        shapes = {}
    for name, r in shapes.items():
        for k in FIELDS:
            if k not in MACHINE_WIDE and not (is_number(r.get(k)) and r[k] > 0):
                errors.append(f"shape {name}: {k} is {r.get(k)!r}, expected a positive number")
        if is_number(r.get("arena_bytes")) and is_number(r.get("arena_lower_bound_bytes")) \
                and r["arena_bytes"] < r["arena_lower_bound_bytes"]:
            errors.append(f"shape {name}: arena {r['arena_bytes']} is below its lower bound "
                          f"{r['arena_lower_bound_bytes']}")
        rel = r.get("sanity_max_rel_diff")
        if not is_number(rel) or rel > 1e-3:
            errors.append(f"shape {name}: kiln's logits differ from naive_llama's by {rel!r} "
                          f"of the largest logit, expected at most 1e-3")
    mm = res.get("matmuls")
    if not isinstance(mm, list) or len(mm) < 4 or \
            not all(is_number(m.get("kiln_gflop_s")) for m in mm):
        errors.append("'matmuls' must list at least 4 shapes with kiln_gflop_s")
    cs = res.get("compile_scaling")
    if not isinstance(cs, list) or len(cs) < 2 or \
            not all(is_number(c.get("compile_s")) for c in cs):
        errors.append("'compile_scaling' must list at least 2 layer counts with compile_s")
    ratios = res.get("ratios", {})
    for k in RATIOS:
        if k not in ratios:
            errors.append(f"ratios: {k} is absent")
    return errors


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_json.py BENCH.json")
    try:
        res = json.load(open(sys.argv[1]))
    except (OSError, ValueError) as e:
        sys.exit(f"check_json: {sys.argv[1]}: {e}")
    errors = check(res) if isinstance(res, dict) else ["not a JSON object"]
    for e in errors:
        print(f"check_json: {e}", file=sys.stderr)
    if not errors:
        print(f"check_json: {len(FIELDS)} fields, {len(res['shapes'])} shape(s), "
              f"{len(res['matmuls'])} matmuls: ok")
    return 1 if errors else 0


sys.exit(main())
