/* cmd_compile.c: `kiln compile`: a model in, an artifact out.
 *
 *   kiln compile models/tiny-llama -o tiny            executable + tiny.kw
 *   kiln compile models/tiny-llama -o tiny.o --emit=obj   object + tiny.h
 *   kiln compile m.kir --target=aarch64-linux-gnu --emit=obj -o m.o
 *
 * This file reads the flags; compile_pipeline.c runs the steps.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "compile_pipeline.h"

static void help(void) {
  printf(
      "usage: kiln compile MODEL -o NAME [FLAGS]\n\n"
      "Compiles MODEL ahead of time: a model directory (config.json + model.safetensors),\n"
      "a kiln graph JSON file, or a FILE.kir module with @prefill(%%tokens: i32[T]) and\n"
      "optionally @decode(%%token: i32[1]) over symbols T and P, parameters given inline.\n\n"
      "Output:\n"
      "  -o NAME               the artifact (required)\n"
      "  --emit=KIND           exe (default): executable NAME, weights in NAME.kw\n"
      "                        obj: object NAME + STEM.h + STEM.kw + kiln.h, kiln_abi.h\n"
      "                        lib: static archive NAME holding the model and the runtime (+ same)\n"
      "                        shared: shared library NAME with the runtime (+ same)\n"
      "                        ll, asm: LLVM IR or assembly text; kir: the optimized IR module\n"
      "                        (STEM is NAME without .o, .a or .so)\n"
      "                        cu, ptx, cubin (--device=cuda): the kernels alone as CUDA C,\n"
      "                        PTX, or CUBIN + PTX, each with the manifest STEM.json\n"
      "  --embed-weights       put the weights inside the artifact: no .kw file\n"
      "  --symbol=NAME         name of the KilnModelDesc (default kiln_model; not with exe)\n\n"
      "Model:\n"
      "  --max-context=N       KV-cache positions, the bound of P+T (default: the model's)\n"
      "  --max-tokens=N        most tokens one prefill call takes, the bound of T\n"
      "                        (default: min(max-context, %d))\n"
      "  --all-logits          prefill returns the logits of every position, not the last\n\n"
      "Target:\n"
      "  --llvm-opt=N          LLVM optimization level 0..3 (default 3), apart from -O\n"
      "  --target=TRIPLE       cross-compile: x86_64-linux-gnu, aarch64-linux-gnu, ...\n"
      "                        (default: this machine)\n"
      "  --cpu=NAME            target CPU (default: this machine's; 'generic' across)\n"
      "  --features=LIST       target features, +avx2,-avx512f,... (default: the CPU's)\n"
      "  --device=cpu|cuda     cpu (default), or cuda: the artifact carries, beside its CPU\n"
      "                        code, the CUDA kernels as a CUBIN for --gpu-arch and PTX for\n"
      "                        newer GPUs (needs NVRTC); it runs on the CPU too (its\n"
      "                        --device=cpu flag)\n"
      "  --gpu-arch=sm_NN      CUDA architecture of the CUBIN, sm_80 or newer (default sm_90)\n"
      "                        NVRTC is libnvrtc.so.13 or .so.12, or the library $KILN_NVRTC\n"
      "                        names\n\n"
      "Linking (exe, lib, shared):\n"
      "  --cc=CMD              C compiler that links (default: $CC, else cc); needed to\n"
      "                        link an executable or shared library for another target\n"
      "  --runtime-dir=DIR     where libkiln_rt.a and libkiln_rt_main.a are (default:\n"
      "                        $KILN_RUNTIME_DIR, else the build tree kiln came from)\n\n"
      "Graph passes (-O1 and up also plan the activation arena; -O0 gives every\n"
      "activation its own slot):\n",
      COMPILE_DEFAULT_MAX_TOKENS);
  pass_flags_help(2);
  printf(
      "  --reproducer=FILE          if a pass fails or crashes, write the IR it ran on to FILE\n"
      "                             (default: NAME.reproducer.kir); replay it with\n"
      "                             'kiln opt --replay FILE'\n\n"
      "Diagnostics:\n"
      "  --print-ir            print the module after the graph passes to stdout\n"
      "  --print-kernels       print the kernel plan to stdout\n"
      "  --memory-report       print the activation arena's size, the naive sum of its\n"
      "                        buffers and the lower bound (most bytes live at once) to stderr\n"
      "  -v, --verbose         print every step with its time on stderr\n"
      "  --help, --version\n\n"
      "Outputs are written under temporary names and renamed at the end: a failure leaves\n"
      "nothing behind (a reproducer excepted). docs/compile.md describes the artifacts and\n"
      "linking your own program.\n");
}

/* A positive integer flag value; prints the error otherwise. */
static bool parse_count(const char *flag, const char *v, int64_t lo, int64_t hi, int64_t *out) {
  char *end;
  errno = 0;
  long long x = v ? strtoll(v, &end, 10) : 0;
  if (!v || errno || end == v || *end || x < lo || x > hi) {
    if (v)
      cli_usage_error("compile", "%s expects an integer in [%lld, %lld], got '%s'", flag,
                      (long long)lo, (long long)hi, v);
    return false;
  }
  *out = x;
  return true;
}

static bool is_identifier(const char *s) {
  if (!*s || (*s >= '0' && *s <= '9')) return false;
  for (; *s; s++)
    if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9')))
      return false;
  return true;
}

/* "sm_NN", "sm_NNa" or "sm_NNf" (arch and family features), NN at least 80: kiln's
 * matmul and attention kernels use the tensor-core instructions of sm_80. */
static bool check_gpu_arch(const char *v) {
  size_t digits = strncmp(v, "sm_", 3) == 0 ? strspn(v + 3, "0123456789") : 0;
  const char *rest = v + 3 + digits;
  if (!digits || digits > 3 || (*rest && strcmp(rest, "a") != 0 && strcmp(rest, "f") != 0)) {
    cli_usage_error("compile", "--gpu-arch expects sm_NN (sm_80, sm_90, ...), got '%s'", v);
    return false;
  }
  if (atoi(v + 3) < 80) {
    cli_usage_error("compile", "--gpu-arch %s is older than sm_80, the oldest architecture "
                               "kiln's CUDA kernels support", v);
    return false;
  }
  return true;
}

/* One flag with a value; false when it is not one of them or is bad. */
static bool value_flag(CliArgs *a, CompileOptions *o, bool *bad) {
  const char *v;
  int64_t n;
  if (cli_value(a, "-o", &v)) o->output = v;
  else if (cli_value(a, "--emit", &v)) {
    if (v && !compile_emit_from_name(v, &o->emit))
      *bad = true, cli_usage_error("compile", "--emit expects exe, obj, lib, shared, ll, asm, "
                                              "kir, cu, ptx or cubin, got '%s'", v);
  } else if (cli_value(a, "--max-context", &v)) {
    *bad = !parse_count("--max-context", v, 1, INT32_MAX, &o->max_context);
  } else if (cli_value(a, "--max-tokens", &v)) {
    *bad = !parse_count("--max-tokens", v, 1, INT32_MAX, &o->max_tokens);
  } else if (cli_value(a, "--llvm-opt", &v)) {
    *bad = !parse_count("--llvm-opt", v, 0, 3, &n);
    o->llvm_opt = (int)n;
  } else if (cli_value(a, "--target", &v)) o->triple = v;
  else if (cli_value(a, "--cpu", &v)) o->cpu = v;
  else if (cli_value(a, "--features", &v)) o->features = v;
  else if (cli_value(a, "--device", &v)) {
    if (v && strcmp(v, "cpu") && strcmp(v, "cuda"))
      *bad = true, cli_usage_error("compile", "--device expects cpu or cuda, got '%s'", v);
    o->device_cuda = v && strcmp(v, "cuda") == 0;
  } else if (cli_value(a, "--gpu-arch", &v)) {
    o->gpu_arch = v;
    *bad = v && !check_gpu_arch(v);
  } else if (cli_value(a, "--symbol", &v)) {
    o->symbol = v;
    if (v && !is_identifier(v))
      *bad = true, cli_usage_error("compile", "--symbol expects a C identifier, got '%s'", v);
  } else if (cli_value(a, "--cc", &v)) o->cc = v;
  else if (cli_value(a, "--runtime-dir", &v)) o->runtime_dir = v;
  else return false;
  return true;
}

static bool bool_flag(CliArgs *a, CompileOptions *o) {
  if (cli_flag(a, "--embed-weights")) o->embed_weights = true;
  else if (cli_flag(a, "--all-logits")) o->all_logits = true;
  else if (cli_flag(a, "--print-ir")) o->print_ir = true;
  else if (cli_flag(a, "--print-kernels")) o->print_kernels = true;
  else if (cli_flag(a, "--memory-report")) o->memory_report = true;
  else if (cli_flag(a, "-v") || cli_flag(a, "--verbose")) o->verbose = true;
  else return false;
  return true;
}

/* Reads the flags into o; returns -1 to go on, else the exit status. */
static int parse_flags(int argc, char **argv, CompileOptions *o) {
  CliArgs a = cli_args(argc, argv, "compile");
  bool bad = false;
  while (!bad && cli_next(&a)) {
    if (cli_flag(&a, "--help") || cli_flag(&a, "-h")) return help(), 0;
    if (cli_flag(&a, "--version")) return cli_version();
    if (pass_flags_read(&a, &o->passes) || value_flag(&a, o, &bad) || bool_flag(&a, o)) continue;
    if (cli_is_option(&a)) return cli_unknown(&a);
    if (o->model)
      return cli_usage_error("compile", "more than one model ('%s' and '%s')", o->model, a.arg);
    o->model = a.arg;
  }
  if (a.failed || bad) return 1;
  o->graph_opt = pass_flags_level(&o->passes, 2);
  if (o->passes.replay)
    return cli_usage_error("compile", "--replay belongs to 'kiln opt'; give --passes=LIST");
  if (!o->model) return cli_usage_error("compile", "no model given; see 'kiln compile --help'");
  if (!o->output) return cli_usage_error("compile", "no output name; give -o NAME");
  if (compile_emit_is_cuda(o->emit) && !o->device_cuda)
    return cli_usage_error("compile", "--emit=cu, ptx and cubin are CUDA kernels; give "
                                      "--device=cuda");
  if (o->emit == COMPILE_EXE && strcmp(o->symbol, "kiln_model") != 0)
    return cli_usage_error("compile", "--symbol applies to obj, lib and shared; an executable's "
                                      "model is always kiln_model");
  return -1;
}

int cmd_compile(int argc, char **argv) {
  CompileOptions o = {.emit = COMPILE_EXE, .graph_opt = 2, .llvm_opt = 3, .symbol = "kiln_model",
                      .passes = pass_flags_new(), .nvrtc = getenv("KILN_NVRTC")};
  int status = parse_flags(argc, argv, &o);
  if (status >= 0) return status;
  IrDiag d = {0};
  if (!compile_model(&o, &d)) return cli_fail("compile", &d);
  return 0;
}
