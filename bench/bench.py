#!/usr/bin/python3
"""bench.py: kiln's benchmark harness (run it through bench/run.sh).

    ./bench/run.sh [--json | --markdown] [--quick] [--shapes=110m,110m-f16,110m-bf16]
                   [--threads=2] [--kiln=PATH] [--work-dir=DIR] [--reps=N]
    ./bench/run.sh --from-json=FILE [--markdown]     (the tables of an earlier --json)

One run measures, on this machine and at the same time (its 2-thread memory
bandwidth swings between runs):

  the machine   mem_bw_gb_s (read bandwidth, bench_kernels membw, measured just
                before each model's decode), fma_peak_gflop_s (bench_kernels fma)
  each shape    kiln -O2: compile_s, arena_bytes, arena_lower_bound_bytes
                (--memory-report), prefill_tok_s and prefill_gflop_s (a prompt of
                128 tokens), decode_tok_s and decode_gb_s (64 steps after a 64-token
                prompt); kiln -O0: o0_prefill_tok_s; the plain C Llama
                (naive_llama.c, -O3 -march=native): naive_prefill_tok_s,
                naive_decode_tok_s, and its logits against kiln's (the sanity check)
  matmuls       kiln's generated matmul on the prefill shapes of the first shape,
                [T x K] x [N x K]^T, against OpenBLAS's cblas_sgemm (the AVX-512
                kernels, OPENBLAS_CORETYPE=SkylakeX, where the CPU has avx512f)
  compile time  of the first shape with 2, 6 and its own number of layers

and prints a table, or with --json one JSON object: the fields of the first
shape (the 110M f32 Llama by default) at the top level, every shape under
"shapes", the matmuls, the compile scaling, the ratios against the targets of
issue 6 and the machine. Every figure is the best of --reps runs after a
warm-up. Nothing here asserts on time.

Models are random-weight Llama checkpoints written by gen_model.py, cached
under the work directory ($KILN_BENCH_DIR, default build-bench/ in the
repository) by shape; kiln is built there in Release unless --kiln names one.
"""
import argparse
import array
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# The shapes: llama2.c's 110M (tied head, like stories110M) in three weight
# dtypes, and a tiny one for --quick. "NAME-L<n>" is NAME with n layers.
BASE_SHAPES = {
    "110m": dict(hidden=768, layers=12, heads=12, kv_heads=12, intermediate=2048, vocab=32000,
                 dtype="f32", tied=True),
    "tiny": dict(hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128, vocab=256,
                 dtype="f32", tied=False),
}
for _base in ("110m", "tiny"):
    for _dt in ("f16", "bf16"):
        BASE_SHAPES[f"{_base}-{_dt}"] = dict(BASE_SHAPES[_base], dtype=_dt)

FULL = dict(prefill=128, decode_prompt=64, decode_steps=64, context=256, reps=3, membw_mib=1024,
            fma_seconds=0.5, scaling=(2, 6), shapes="110m,110m-f16,110m-bf16")
QUICK = dict(prefill=16, decode_prompt=8, decode_steps=8, context=64, reps=1, membw_mib=64,
             fma_seconds=0.05, scaling=(1,), shapes="tiny")

SANITY_LEN = 16

# What the issue asks of the figures (docs/performance.md).
TARGETS = {
    "decode_bw_fraction": (">=", 0.90, "decode_gb_s / mem_bw_gb_s"),
    "matmul_vs_openblas": (">=", 1.0, "matmul_gflop_s / openblas_gflop_s (AVX-512 kernels)"),
    "prefill_gflop_s": (">=", 400.0, "prefill of a 128-token prompt, GFLOP/s"),
    "o2_vs_o0_prefill": (">=", 5.0, "prefill_tok_s / o0_prefill_tok_s"),
    "compile_layers_ratio": ("<=", 1.2, "compile_s at the most layers / at the fewest"),
}

# The numeric fields the issue names; each is at the top level of --json.
REQUIRED_FIELDS = ("decode_tok_s", "decode_gb_s", "mem_bw_gb_s", "prefill_tok_s",
                   "prefill_gflop_s", "fma_peak_gflop_s", "matmul_gflop_s", "openblas_gflop_s",
                   "naive_decode_tok_s", "naive_prefill_tok_s", "o0_prefill_tok_s", "compile_s",
                   "arena_bytes", "arena_lower_bound_bytes")


class BenchError(Exception):
    pass


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def run(cmd, env=None, what=None):
    """Runs cmd; returns (stdout, stderr, seconds). A failure raises BenchError."""
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        tail = "\n".join((p.stderr or p.stdout).strip().splitlines()[-15:])
        raise BenchError(f"{what or cmd[0]} failed (status {p.returncode}): "
                         f"{' '.join(cmd)}\n{tail}")
    return p.stdout, p.stderr, dt


def key_values(text):
    """'key value' lines -> dict (numbers where they parse)."""
    out = {}
    for line in text.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2:
            try:
                out[parts[0]] = float(parts[1])
            except ValueError:
                out[parts[0]] = parts[1].strip()
    return out


# ---- kiln and the tools -------------------------------------------------------------

def cmake_cache(build_dir):
    cache = {}
    path = os.path.join(build_dir, "CMakeCache.txt")
    if os.path.exists(path):
        for line in open(path, encoding="utf-8", errors="replace"):
            m = re.match(r"([A-Za-z_0-9]+):[A-Z]+=(.*)", line.strip())
            if m:
                cache[m.group(1)] = m.group(2)
    return cache


def ensure_kiln(args):
    """The kiln binary and its build directory (built in Release when not given)."""
    if args.kiln:
        kiln = os.path.abspath(args.kiln)
        if not os.access(kiln, os.X_OK):
            raise BenchError(f"--kiln {kiln} is not an executable")
        return kiln, os.path.dirname(os.path.dirname(kiln))
    bdir = os.path.join(args.work_dir, "kiln-release")
    if not os.path.exists(os.path.join(bdir, "CMakeCache.txt")):
        log(f"configuring kiln (Release) in {bdir}")
        run(["cmake", "-S", ROOT, "-B", bdir, "-DCMAKE_BUILD_TYPE=Release"], what="cmake")
    log("building kiln (Release): kiln, kiln_rt, kiln_rt_main")
    run(["cmake", "--build", bdir, "--target", "kiln", "kiln_rt", "kiln_rt_main", "-j2"],
        what="building kiln")
    return os.path.join(bdir, "driver", "kiln"), bdir


def openblas_flags():
    """Compiler flags for OpenBLAS's cblas.h, or None when it is not installed."""
    for inc in ("/usr/include/x86_64-linux-gnu/openblas-pthread", "/usr/include/openblas",
                "/usr/include/x86_64-linux-gnu", "/usr/include"):
        if os.path.exists(os.path.join(inc, "cblas.h")):
            return ["-DBENCH_OPENBLAS", "-I" + inc], ["-lopenblas"]
    return None


def build_tool(out, sources, cflags, libs, cc):
    """cc -O3 -march=native SOURCES -> out, unless out is newer than its inputs
    and was built with the same command."""
    cmd = cc.split() + ["-std=c11", "-D_GNU_SOURCE", "-O3", "-march=native", "-Wall", "-Wextra",
                        "-o", out] + [os.path.join(HERE, s) for s in sources] + cflags + libs
    stamp = out + ".cmd"
    inputs = [os.path.join(HERE, s) for s in sources] + [os.path.join(HERE, "bench_common.h")]
    fresh = (os.path.exists(out) and os.path.exists(stamp) and
             open(stamp).read() == " ".join(cmd) and
             all(os.path.getmtime(i) <= os.path.getmtime(out) for i in inputs))
    if not fresh:
        run(cmd, what=f"building {os.path.basename(out)}")
        with open(stamp, "w") as f:
            f.write(" ".join(cmd))
    return out


def build_tools(args, kiln_build):
    """bench_model (dlopens kiln's shared libraries: built like them, sanitizers
    included), naive_llama and bench_kernels (plain -O3 -march=native)."""
    tools = os.path.join(args.work_dir, "tools")
    os.makedirs(tools, exist_ok=True)
    cache = cmake_cache(kiln_build)
    sanitize = cache.get("KILN_SANITIZE", "OFF").upper() in ("ON", "1", "TRUE", "YES")
    cc = os.environ.get("CC", "cc")
    model_cc, model_flags = cc, []
    if sanitize:
        model_cc = cache.get("CMAKE_C_COMPILER", cc)
        model_flags = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
    blas = openblas_flags()
    t = {
        "bench_model": build_tool(os.path.join(tools, "bench_model"), ["bench_model.c"],
                                  model_flags + ["-I" + os.path.join(ROOT, "runtime")],
                                  ["-ldl"], model_cc),
        "naive_llama": build_tool(os.path.join(tools, "naive_llama"), ["naive_llama.c"], [],
                                  ["-lcjson", "-lpthread", "-lm"], cc),
        "bench_kernels": build_tool(os.path.join(tools, "bench_kernels"), ["bench_kernels.c"],
                                    blas[0] if blas else [], (blas[1] if blas else []) +
                                    ["-lpthread"], cc),
        "openblas": blas is not None,
        "build_type": cache.get("CMAKE_BUILD_TYPE", "?"),
        "sanitize": sanitize,
    }
    return t


# ---- models ------------------------------------------------------------------------

def shape_spec(name):
    m = re.fullmatch(r"(.+?)(?:-L(\d+))?", name)
    base = m.group(1)
    if base not in BASE_SHAPES:
        raise BenchError(f"unknown shape '{name}'; known: {', '.join(BASE_SHAPES)} "
                         f"(and NAME-L<layers>)")
    spec = dict(BASE_SHAPES[base])
    if m.group(2):
        spec["layers"] = int(m.group(2))
    return spec


def with_layers(name, layers):
    base = re.sub(r"-L\d+$", "", name)
    return base if BASE_SHAPES[base]["layers"] == layers else f"{base}-L{layers}"


def ensure_model(args, name, context):
    """The model directory of shape name, generated unless cached with the same spec."""
    spec = dict(shape_spec(name), max_pos=context)
    d = os.path.join(args.work_dir, "models", name)
    stamp = os.path.join(d, "bench-spec.json")
    if os.path.exists(stamp) and json.load(open(stamp)) == spec and \
            os.path.exists(os.path.join(d, "config.json")):
        return d
    log(f"generating the random-weight model '{name}' in {d}")
    cmd = [sys.executable, os.path.join(HERE, "gen_model.py"), d]
    for k in ("hidden", "layers", "heads", "kv_heads", "intermediate", "vocab", "max_pos",
              "dtype"):
        cmd += ["--" + k.replace("_", "-"), str(spec[k])]
    if spec["tied"]:
        cmd.append("--tied")
    run(cmd, what="gen_model.py")
    with open(stamp, "w") as f:
        json.dump(spec, f)
    return d


def ensure_matmul_kir(args, t, n, k):
    d = os.path.join(args.work_dir, "matmul")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"mm_{t}x{n}x{k}.kir")
    if not os.path.exists(path):
        log(f"generating {os.path.basename(path)}")
        run([sys.executable, os.path.join(HERE, "gen_matmul_kir.py"), str(t), str(n), str(k),
             path], what="gen_matmul_kir.py")
    return path


# ---- kiln ---------------------------------------------------------------------------

MEMORY_RE = re.compile(r"arena: (\d+) bytes.*naive sum: (\d+) bytes; lower bound: (\d+) bytes")
# -v: "kiln: generating code: 129 kernels, LLVM -O3 ... done (2.4 s)"
# (the first word names the step: packing, generating, linking)
STEP_RE = re.compile(r"^kiln: ([a-z]+).*\.\.\. done \(([0-9.]+) s\)", re.M)


def kiln_compile(kiln, model, out, flags):
    """kiln compile --emit=shared -v; returns seconds and the memory report with
    the steps' times (compile_steps: {"packing": s, "generating": s, "linking": s})."""
    os.makedirs(os.path.dirname(out), exist_ok=True)
    cmd = [kiln, "compile", model, "--emit=shared", "-o", out, "--memory-report", "-v"] + flags
    _, err, dt = run(cmd, what="kiln compile")
    m = MEMORY_RE.search(err)
    mem = {"compile_steps": {k: float(v) for k, v in STEP_RE.findall(err)}}
    if m:
        mem.update({"arena_bytes": int(m.group(1)), "naive_arena_bytes": int(m.group(2)),
                    "arena_lower_bound_bytes": int(m.group(3))})
    return dt, mem


def kiln_inspect(kiln, model, prefill, context):
    out, _, _ = run([kiln, "inspect", model, "--json", f"--prefill-len={prefill}",
                     f"--max-context={context}"], what="kiln inspect")
    return json.loads(out)


def bench_model(tools, so, threads, flags):
    out, _, _ = run([tools["bench_model"], so, so[:-3] + ".kw", "--threads", str(threads)] +
                    flags, what="bench_model")
    return key_values(out)


def read_floats(path):
    a = array.array("f")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    return a


def compare_logits(a_path, b_path):
    """Largest |kiln - naive| over the prefill and decode logits, and that over
    the largest |naive|."""
    a, b = read_floats(a_path), read_floats(b_path)
    if len(a) != len(b) or not a:
        raise BenchError(f"sanity check: {a_path} has {len(a)} logits, {b_path} {len(b)}")
    diffs = [abs(x - y) for x, y in zip(a, b)]
    if not all(d < float("inf") for d in diffs):  # a NaN or an infinity on either side
        return float("inf"), float("inf")
    scale = max(abs(y) for y in b) or 1.0
    return max(diffs), max(diffs) / scale


# ---- the measurements ----------------------------------------------------------------

def decode_weight_bytes(info, spec):
    """Weight bytes one decode step reads: every weight, but of an untied
    embedding table only the token's row."""
    total = sum(info["weight_bytes"].values())
    if spec["tied"]:
        return total
    esize = 4 if spec["dtype"] == "f32" else 2
    return total - (spec["vocab"] - 1) * spec["hidden"] * esize


def membw(tools, s, threads):
    out, _, _ = run([tools["bench_kernels"], "membw", "--threads", str(threads), "--mib",
                     str(s["membw_mib"]), "--reps", str(max(3, s["reps"]))], what="membw")
    return key_values(out)["mem_bw_gb_s"]


def measure_shape(args, s, kiln, tools, name):
    spec = shape_spec(name)
    model = ensure_model(args, name, s["context"])
    out_dir = os.path.join(args.work_dir, "out", name)
    P, D, S = s["prefill"], s["decode_prompt"], s["decode_steps"]
    info = kiln_inspect(kiln, model, P, s["context"])
    bounds = [f"--max-context={s['context']}", f"--max-tokens={P}"]
    r = {"layers": spec["layers"], "weights_dtype": spec["dtype"], "parameters": info["parameters"],
         "weight_bytes": sum(info["weight_bytes"].values()), "prefill_len": P,
         "prefill_flops": info["prefill_flops"], "decode_prompt": D, "decode_steps": S}

    log(f"{name}: kiln compile -O2")
    so = os.path.join(out_dir, "o2.so")
    r["compile_s"], mem = kiln_compile(kiln, model, so, bounds)
    r.update(mem)
    r["mem_bw_gb_s"] = membw(tools, s, args.threads)
    log(f"{name}: kiln prefill and decode")
    kl = os.path.join(out_dir, "kiln-logits.bin")
    k = bench_model(tools, so, args.threads,
                    ["--prefill", str(P), "--decode-prompt", str(D), "--decode-steps", str(S),
                     "--reps", str(s["reps"]), "--logits", kl, "--sanity-len", str(SANITY_LEN)])
    r["prefill_tok_s"] = k["prefill_tok_s"]
    r["prefill_gflop_s"] = info["prefill_flops"] / k["prefill_s"] / 1e9
    r["decode_tok_s"] = k["decode_tok_s"]
    r["decode_weight_bytes"] = decode_weight_bytes(info, spec)
    r["decode_gb_s"] = r["decode_weight_bytes"] * k["decode_tok_s"] / 1e9

    log(f"{name}: kiln compile -O0 and prefill")
    so0 = os.path.join(out_dir, "o0.so")
    try:
        r["o0_compile_s"], _ = kiln_compile(kiln, model, so0, bounds + ["-O0"])
        k0 = bench_model(tools, so0, args.threads, ["--prefill", str(P), "--reps", str(s["reps"])])
        r["o0_prefill_tok_s"] = k0["prefill_tok_s"]
    except BenchError as e:
        r["o0_prefill_tok_s"] = None
        r["o0_note"] = f"-O0 could not be measured: {str(e).splitlines()[0]}"
        log(r["o0_note"])

    log(f"{name}: naive C prefill and decode")
    nl = os.path.join(out_dir, "naive-logits.bin")
    out, _, _ = run([tools["naive_llama"], model, "--threads", str(args.threads), "--prefill",
                     str(P), "--decode-prompt", str(D), "--decode-steps", str(S), "--reps",
                     str(s["reps"]), "--logits", nl, "--sanity-len", str(SANITY_LEN)],
                    what="naive_llama")
    n = key_values(out)
    r["naive_prefill_tok_s"] = n["prefill_tok_s"]
    r["naive_decode_tok_s"] = n["decode_tok_s"]
    r["sanity_max_abs_diff"], r["sanity_max_rel_diff"] = compare_logits(kl, nl)
    return r


def matmul_shapes(spec, t):
    """(name, M, N, K) of the prefill matmuls of a Llama layer and its head."""
    h, i, v = spec["hidden"], spec["intermediate"], spec["vocab"]
    kv = spec["kv_heads"] * h // spec["heads"]
    shapes = [("q/o proj", t, h, h), ("gate/up", t, i, h), ("down", t, h, i), ("lm head", t, v, h)]
    if kv != h:
        shapes.insert(1, ("k/v proj", t, kv, h))
    return shapes


def measure_matmuls(args, s, kiln, tools, name):
    spec = shape_spec(name)
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads))
    avx512 = "avx512f" in cpu_flags()
    if avx512:
        env["OPENBLAS_CORETYPE"] = "SkylakeX"
    rows = []
    for label, m, n, k in matmul_shapes(spec, s["prefill"]):
        log(f"matmul {label} [{m}x{k}] x [{n}x{k}]^T")
        kir = ensure_matmul_kir(args, m, n, k)
        so = os.path.join(args.work_dir, "out", "matmul", f"mm_{m}x{n}x{k}.so")
        cs, _ = kiln_compile(kiln, kir, so, [])
        km = bench_model(tools, so, args.threads,
                         ["--prefill", str(m), "--reps", str(max(3, s["reps"])),
                          "--token-limit", "16"])
        flops = 2.0 * m * n * k
        row = {"name": label, "m": m, "n": n, "k": k, "flops": flops, "compile_s": cs,
               "kiln_s": km["prefill_s"], "kiln_gflop_s": flops / km["prefill_s"] / 1e9}
        if tools["openblas"]:
            # the AVX-512 kernels, and what OpenBLAS picks by itself (no OPENBLAS_CORETYPE)
            for tag, e in (("openblas", env),
                           ("openblas_auto", {x: y for x, y in env.items()
                                              if x != "OPENBLAS_CORETYPE"})):
                out, _, _ = run([tools["bench_kernels"], "sgemm", str(m), str(n), str(k),
                                 "--threads", str(args.threads), "--reps",
                                 str(max(3, s["reps"]))], env=e, what="openblas sgemm")
                b = key_values(out)
                row[f"{tag}_s"] = b["openblas_s"]
                row[f"{tag}_gflop_s"] = b["openblas_gflop_s"]
                row[f"{tag}_core"] = b["openblas_core"]
        rows.append(row)
    total = sum(r["flops"] for r in rows)
    res = {"matmuls": rows,
           "matmul_gflop_s": total / sum(r["kiln_s"] for r in rows) / 1e9}
    if tools["openblas"]:
        res["openblas_gflop_s"] = total / sum(r["openblas_s"] for r in rows) / 1e9
        res["openblas_core"] = rows[0]["openblas_core"]
        res["openblas_auto_gflop_s"] = total / sum(r["openblas_auto_s"] for r in rows) / 1e9
        res["openblas_auto_core"] = rows[0]["openblas_auto_core"]
        res["openblas_coretype_env"] = os.environ.get("OPENBLAS_CORETYPE")
    else:
        res["openblas_gflop_s"] = None
        res["openblas_core"] = "not installed (libopenblas-dev)"
    return res


def measure_scaling(args, s, kiln, name, own):
    """compile_s of the shape with fewer layers (its own row is `own`)."""
    layers = shape_spec(name)["layers"]
    rows = []
    for n in sorted(set(s["scaling"]) | {layers}):
        if n == layers:
            rows.append(dict(own, layers=n))
            continue
        other = with_layers(name, n)
        model = ensure_model(args, other, s["context"])
        log(f"compile time: {other}")
        dt, mem = kiln_compile(kiln, model, os.path.join(args.work_dir, "out", other, "o2.so"),
                               [f"--max-context={s['context']}", f"--max-tokens={s['prefill']}"])
        rows.append({"layers": n, "compile_s": dt, "compile_steps": mem["compile_steps"]})
    return rows


# ---- the machine -----------------------------------------------------------------------

def cpu_flags():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                return line.split(":", 1)[1].split()
    except OSError:
        pass
    return []


CACHE_KEYS = {"LEVEL1_DCACHE_SIZE": "l1d_bytes", "LEVEL2_CACHE_SIZE": "l2_bytes",
              "LEVEL3_CACHE_SIZE": "l3_bytes"}


def machine():
    m = {"cpus": os.cpu_count()}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        kv = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        m["model"] = kv.get("Model name", "?").strip()
        m["cores"] = kv.get("Core(s) per socket", "?").strip()
    except OSError:
        pass
    try:
        out = subprocess.run(["getconf", "-a"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            p = line.split()
            if len(p) == 2 and p[0] in CACHE_KEYS:
                m[CACHE_KEYS[p[0]]] = int(p[1])
    except (OSError, ValueError):
        pass
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                m["memory_bytes"] = int(line.split()[1]) * 1024
    except OSError:
        pass
    m["avx512f"] = "avx512f" in cpu_flags()
    return m


# ---- the report --------------------------------------------------------------------------

def ratios(top, scaling):
    def div(a, b):
        return a / b if a is not None and b else None
    s = sorted(scaling, key=lambda r: r["layers"])
    r = {"decode_bw_fraction": div(top["decode_gb_s"], top["mem_bw_gb_s"]),
         "matmul_vs_openblas": div(top["matmul_gflop_s"], top.get("openblas_gflop_s")),
         "prefill_gflop_s": top["prefill_gflop_s"],
         "o2_vs_o0_prefill": div(top["prefill_tok_s"], top.get("o0_prefill_tok_s")),
         "compile_layers_ratio": div(s[-1]["compile_s"], s[0]["compile_s"]),
         "naive_vs_kiln_prefill": div(top["prefill_tok_s"], top["naive_prefill_tok_s"]),
         "naive_vs_kiln_decode": div(top["decode_tok_s"], top["naive_decode_tok_s"])}
    return r


def meets(key, value):
    op, target, _ = TARGETS[key]
    if value is None:
        return None
    return value >= target if op == ">=" else value <= target


def fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def print_table(res):
    m = res["machine"]
    print(f"machine: {m.get('model')} ({m.get('cpus')} cpus), threads {res['threads']}, "
          f"kiln {res['kiln_build_type']}; mem_bw {fmt(res['mem_bw_gb_s'])} GB/s, "
          f"fma peak {fmt(res['fma_peak_gflop_s'])} GFLOP/s ({res['fma_isa']})")
    cols = [("shape", None), ("compile_s", 2), ("arena_MiB", 2), ("bound_MiB", 2),
            ("prefill_tok_s", 1), ("prefill_gflop_s", 1), ("o0_prefill_tok_s", 1),
            ("naive_prefill_tok_s", 1), ("decode_tok_s", 1), ("decode_gb_s", 2),
            ("mem_bw_gb_s", 2), ("naive_decode_tok_s", 1), ("sanity_max_abs_diff", None)]
    rows = []
    for name, r in res["shapes"].items():
        v = dict(r, shape=name, arena_MiB=r.get("arena_bytes", 0) / 2**20,
                 bound_MiB=r.get("arena_lower_bound_bytes", 0) / 2**20,
                 sanity_max_abs_diff=f"{r['sanity_max_abs_diff']:.2g}")
        rows.append([fmt(v.get(c), d) if d is not None else str(v.get(c)) for c, d in cols])
    table([c for c, _ in cols], rows)
    print()
    mm = [[r["name"], f"{r['m']}x{r['k']} x {r['n']}x{r['k']}^T", fmt(r["kiln_gflop_s"]),
           fmt(r.get("openblas_gflop_s")), fmt(r.get("openblas_auto_gflop_s")),
           fmt(r["kiln_gflop_s"] / r["openblas_gflop_s"], 2) if r.get("openblas_gflop_s")
           else "-"] for r in res["matmuls"]]
    mm.append(["all", "", fmt(res["matmul_gflop_s"]), fmt(res["openblas_gflop_s"]),
               fmt(res.get("openblas_auto_gflop_s")),
               fmt(res["ratios"]["matmul_vs_openblas"], 2)])
    table(["matmul", "shape", "kiln_gflop_s", f"openblas_{res['openblas_core']}",
           f"openblas_auto_{res.get('openblas_auto_core', '')}", "kiln/openblas"], mm)
    print()
    steps = sorted({k for r in res["compile_scaling"] for k in r.get("compile_steps", {})})
    table(["layers", "compile_s"] + [k + "_s" for k in steps],
          [[str(r["layers"]), fmt(r["compile_s"], 2)] +
           [fmt(r.get("compile_steps", {}).get(k), 2) for k in steps]
           for r in res["compile_scaling"]])
    print()
    rows = []
    for k, (op, target, what) in TARGETS.items():
        v = res["ratios"][k]
        ok = meets(k, v)
        rows.append([k, fmt(v, 2), f"{op} {target:g}", "-" if ok is None else
                     ("yes" if ok else "no"), what])
    table(["ratio", "value", "target", "met", "what"], rows)


MARKDOWN = False  # --markdown: tables for docs/performance.md


def table(head, rows):
    if MARKDOWN:
        for r in [head, ["---"] * len(head)] + rows:
            print("| " + " | ".join(str(x) for x in r) + " |")
        return
    w = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    for r in [head] + rows:
        print("  ".join(str(x).ljust(n) for x, n in zip(r, w)).rstrip())


# ---- main -------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/run.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--markdown", action="store_true", help="the tables in Markdown")
    p.add_argument("--from-json", metavar="FILE",
                   help="measure nothing: print the tables of an earlier --json output")
    p.add_argument("--quick", action="store_true",
                   help="the tiny shape, small sizes, one repetition (the ctest smoke test)")
    p.add_argument("--shapes", help="comma-separated shapes; the first fills the top level "
                   f"(known: {', '.join(BASE_SHAPES)}; NAME-L<n> for n layers)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, help="repetitions of every timing (best kept)")
    p.add_argument("--kiln", help="use this kiln binary (its build tree's runtime) instead of "
                   "building one in Release")
    p.add_argument("--work-dir", default=os.environ.get("KILN_BENCH_DIR",
                                                        os.path.join(ROOT, "build-bench")))
    a = p.parse_args(argv)
    a.work_dir = os.path.abspath(a.work_dir)
    return a


def main(argv):
    global MARKDOWN
    args = parse_args(argv)
    MARKDOWN = args.markdown
    if args.from_json:
        print_table(json.load(open(args.from_json)))
        return 0
    s = dict(QUICK if args.quick else FULL)
    if args.reps:
        s["reps"] = args.reps
    shapes = (args.shapes or s["shapes"]).split(",")
    for name in shapes:
        shape_spec(name)
    os.makedirs(args.work_dir, exist_ok=True)
    kiln, kbuild = ensure_kiln(args)
    tools = build_tools(args, kbuild)
    if tools["build_type"] not in ("Release", "RelWithDebInfo") or tools["sanitize"]:
        log(f"warning: kiln is a {tools['build_type']} build"
            f"{' with sanitizers' if tools['sanitize'] else ''}: its figures mean little")
    log("fma peak")
    fma = key_values(run([tools["bench_kernels"], "fma", "--threads", str(args.threads),
                          "--seconds", str(s["fma_seconds"])], what="fma")[0])
    res = {"machine": machine(), "threads": args.threads, "kiln_build_type": tools["build_type"],
           "kiln_sanitize": tools["sanitize"], "quick": args.quick,
           "fma_peak_gflop_s": fma["fma_peak_gflop_s"], "fma_isa": fma["fma_isa"],
           "settings": {k: v for k, v in s.items() if k != "shapes"}, "shapes": {}}
    for name in shapes:
        res["shapes"][name] = measure_shape(args, s, kiln, tools, name)
    first = shapes[0]
    res.update(measure_matmuls(args, s, kiln, tools, first))
    own = {k: res["shapes"][first][k] for k in ("compile_s", "compile_steps")}
    res["compile_scaling"] = measure_scaling(args, s, kiln, first, own)
    top = res["shapes"][first]
    for k in REQUIRED_FIELDS:
        if k in top:
            res[k] = top[k]
    res["primary_shape"] = first
    res["ratios"] = ratios(res, res["compile_scaling"])
    res["targets"] = {k: {"op": op, "value": v, "what": w} for k, (op, v, w) in TARGETS.items()}
    missing = [k for k in REQUIRED_FIELDS if k not in res]
    if missing:
        raise BenchError(f"internal: fields not measured: {', '.join(missing)}")
    if args.json:
        json.dump(res, sys.stdout, indent=2)
        print()
    else:
        print_table(res)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        sys.exit(1)
