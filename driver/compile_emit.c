/* compile_emit.c: what `kiln compile` writes: the weight blob (in memory,
 * or mapped straight into the temporary NAME.kw), the model hash, the
 * code through LLVM and the system's linker, the generated header. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "compile_pipeline.h"

#if KILN_HAVE_LLVM

#include "cg_llvm.h"
#include "compile_internal.h"
#include "compile_weights.h"
#include "kiln_abi.h"

/* ---- the weights ------------------------------------------------------------- */

/* Maps the temporary NAME.kw, sized header + data, for packing in place:
 * a multi-gigabyte blob then costs page cache, not heap. */
static bool map_weights_file(Compile *c, IrDiag *d) {
  size_t size = KILN_WEIGHTS_HEADER_BYTES + (size_t)c->weights_bytes;
  int fd = open(c->kw_tmp, O_RDWR);
  int err = fd < 0 ? errno : posix_fallocate(fd, 0, (off_t)size);
  void *map = err ? MAP_FAILED : mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (!err && map == MAP_FAILED) err = errno;
  if (fd >= 0) close(fd);
  if (err) return ir_error(d, (IrLoc){0}, "cannot write the weights file: %s", strerror(err));
  c->kw_map = map;
  c->weights = c->kw_map + KILN_WEIGHTS_HEADER_BYTES;
  return true;
}

static void on_packed(void *user, uint64_t done) { cp_update(user, done); }

bool ce_pack_weights(Compile *c, IrDiag *d) {
  if (c->kw_tmp) {
    if (!map_weights_file(c, d)) return false;
  } else {
    c->weights = calloc(1, c->weights_bytes ? (size_t)c->weights_bytes : 1);
    if (!c->weights) abort(); /* out of memory */
  }
  char size[32];
  CpStep step;
  cp_begin(&step, c->big || c->o->verbose, c->weights_bytes, "packing weights %s",
           cp_size(c->weights_bytes, size, sizeof size));
  bool ok = cw_pack(c->plan, c->md.weights, c->weights, on_packed, &step, d);
  cp_end(&step, ok);
  if (ok) c->checksum = kiln_hash64(c->weights, c->weights_bytes, KILN_HASH_SEED);
  return ok;
}

/* kiln_hash64 over the optimized IR text, continued over the checksum. */
void ce_hash(Compile *c) {
  IrBuf b = {0};
  ir_print_module(&b, c->m);
  c->ir_text = b.data ? b.data : calloc(1, 1);
  c->ir_len = b.len;
  uint8_t sum[8];
  for (int i = 0; i < 8; i++) sum[i] = (uint8_t)(c->checksum >> (8 * i));
  c->model_hash = kiln_hash64(sum, 8, kiln_hash64(c->ir_text, c->ir_len, KILN_HASH_SEED));
}

bool ce_finish_weights(Compile *c, IrDiag *d) {
  if (!c->kw_map) return true;
  cw_header(c->kw_map, c->model_hash, c->weights_bytes, c->checksum);
  int rc = munmap(c->kw_map, KILN_WEIGHTS_HEADER_BYTES + (size_t)c->weights_bytes);
  c->kw_map = NULL;
  c->weights = NULL;
  if (rc != 0) return ir_error(d, (IrLoc){0}, "cannot write the weights file: %s", strerror(errno));
  return true;
}

/* ---- text outputs ------------------------------------------------------------- */

static bool write_text(const char *path, const char *final, const char *text, size_t len,
                       IrDiag *d) {
  FILE *f = fopen(path, "wb");
  bool ok = f && fwrite(text, 1, len, f) == len;
  if (f && fclose(f) != 0) ok = false;
  if (!ok) return ir_error_at(d, final, "cannot write the output: %s", strerror(errno));
  return true;
}

/* The module as IR text, stamped in a comment line that the parser skips. */
bool ce_write_kir(Compile *c, IrDiag *d) {
  IrBuf b = {0};
  ir_buf_printf(&b, "// kiln %s, abi %u: model '%s', hash 0x%016llx\n", KILN_VERSION,
                KILN_ABI_VERSION, c->model_name, (unsigned long long)c->model_hash);
  ir_buf_printf(&b, "%.*s", (int)c->ir_len, c->ir_text);
  bool ok = write_text(c->main_tmp, c->o->output, b.data, b.len, d);
  ir_buf_free(&b);
  return ok;
}

static const char *base_of(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* "kiln_model" -> "KILN_MODEL", the header's macro prefix. */
static void upper(const char *s, char *out, size_t n) {
  size_t i = 0;
  for (; s[i] && i + 1 < n; i++) out[i] = (char)toupper((unsigned char)s[i]);
  out[i] = '\0';
}

static void header_comment(const Compile *c, IrBuf *b) {
  const CompileOptions *o = c->o;
  const char *name = base_of(o->output), *stem = base_of(c->stem);
  ir_buf_printf(b, "/* %s.h: the model '%s' compiled by kiln %s. Generated; do not edit.\n *\n",
                stem, c->model_name, KILN_VERSION);
  ir_buf_printf(b, " *   model hash   0x%016llx (also in %s.model_hash%s)\n",
                (unsigned long long)c->model_hash, o->symbol,
                o->embed_weights ? "" : " and the weights file");
  ir_buf_printf(b, " *   abi version  %u\n", KILN_ABI_VERSION);
  ir_buf_printf(b, " *   vocabulary %lld, context %lld tokens, at most %lld tokens a call\n",
                (long long)c->vocab, (long long)c->max_context, (long long)c->max_tokens);
  if (o->embed_weights)
    ir_buf_printf(b, " *   weights      embedded (KilnOptions.weights_path = NULL)\n");
  else
    ir_buf_printf(b, " *   weights      %s.kw (KilnOptions.weights_path)\n", stem);
  if (ce_cuda_embedded(c))
    ir_buf_printf(b, " *   CUDA         %d kernels: CUBIN for %s, PTX for newer GPUs "
                     "(KilnOptions.device = KILN_DEVICE_CUDA)\n",
                  c->cuda_kernels.nfuncs, ce_gpu_arch(c));
  ir_buf_printf(b, " *\n * Use it through the runtime's API (kiln.h, docs/compile.md):\n *\n"
                   " *   KilnOptions opts = {.weights_path = %s%s%s, .n_threads = 4};\n"
                   " *   KilnModel *m = kiln_init(&%s, &opts, err, sizeof err);\n *\n",
                o->embed_weights ? "" : "\"", o->embed_weights ? "NULL" : stem,
                o->embed_weights ? "" : ".kw\"", o->symbol);
  if (o->emit == COMPILE_OBJ)
    ir_buf_printf(b, " * Link: cc app.c %s -L<kiln runtime dir> -lkiln_rt -lm -lpthread\n */\n",
                  name);
  else if (o->emit == COMPILE_LIB)
    ir_buf_printf(b, " * Link: cc app.c %s -lm -lpthread   (the archive holds the runtime)\n */\n",
                  name);
  else
    ir_buf_printf(b, " * Link: cc app.c ./%s -lm -lpthread, or dlopen() it and look up '%s'\n */\n",
                  name, o->symbol);
}

bool ce_write_header(Compile *c, IrDiag *d) {
  if (!c->header_tmp) return true;
  char up[256], guard[300];
  upper(c->o->symbol, up, sizeof up);
  snprintf(guard, sizeof guard, "KILN_GENERATED_%s_H", up);
  IrBuf b = {0};
  header_comment(c, &b);
  ir_buf_printf(&b, "#ifndef %s\n#define %s\n\n#include \"kiln.h\"\n\n", guard, guard);
  ir_buf_printf(&b, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
  ir_buf_printf(&b, "/* The compiled model; pass it to kiln_init(). */\nextern const KilnModelDesc %s;\n\n",
                c->o->symbol);
  ir_buf_printf(&b, "#define %s_HASH 0x%016llxull\n", up, (unsigned long long)c->model_hash);
  ir_buf_printf(&b, "#define %s_KILN_VERSION \"%s\"\n", up, KILN_VERSION);
  ir_buf_printf(&b, "#define %s_ABI_VERSION %uu\n", up, KILN_ABI_VERSION);
  ir_buf_printf(&b, "#define %s_VOCAB %lld\n", up, (long long)c->vocab);
  ir_buf_printf(&b, "#define %s_MAX_CONTEXT %lld\n", up, (long long)c->max_context);
  ir_buf_printf(&b, "#define %s_MAX_TOKENS %lld\n", up, (long long)c->max_tokens);
  if (!c->o->embed_weights)
    ir_buf_printf(&b, "#define %s_WEIGHTS_FILE \"%s.kw\"\n", up, base_of(c->stem));
  ir_buf_printf(&b, "\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
  bool ok = write_text(c->header_tmp, c->o->output, b.data, b.len, d);
  ir_buf_free(&b);
  return ok;
}

/* ---- code ------------------------------------------------------------------------ */

static CgEmitKind emit_kind(CompileEmit e) {
  return e == COMPILE_LL ? CG_EMIT_LL : e == COMPILE_ASM ? CG_EMIT_ASM : CG_EMIT_OBJ;
}

static int count_kernels(const KernelPlan *p) {
  int n = 0;
  for (int e = 0; e < p->nentries; e++) n += p->entries[e].nkernels;
  return n;
}

/* Where the object goes: the output itself, or a scratch file to link. */
static const char *object_path(Compile *c, char *buf, size_t n, IrDiag *d) {
  CompileEmit e = c->o->emit;
  if (e == COMPILE_OBJ || e == COMPILE_LL || e == COMPILE_ASM) return c->main_tmp;
  /* The archive member keeps this name: the output's, not a temporary's. */
  snprintf(buf, n, "%s.o", base_of(c->stem));
  return co_scratch_file(&c->out, buf, d);
}

static bool link_artifact(Compile *c, const char *obj, IrDiag *d) {
  CompileEmit e = c->o->emit;
  if (e != COMPILE_EXE && e != COMPILE_LIB && e != COMPILE_SHARED) return true;
  CpStep step;
  cp_begin(&step, c->o->verbose, 0, "linking %s with %s", base_of(c->o->output), c->rt.cc);
  bool ok = e == COMPILE_EXE   ? al_link_exe(&c->rt, obj, c->main_tmp, d)
            : e == COMPILE_LIB ? al_make_lib(&c->rt, obj, c->main_tmp, d)
                               : al_link_shared(&c->rt, obj, c->main_tmp, d);
  cp_end(&step, ok);
  return ok;
}

bool ce_generate(Compile *c, IrDiag *d) {
  const CompileOptions *o = c->o;
  CgModuleInfo info = {
      .symbol = o->symbol, .model_name = c->model_name, .model_hash = c->model_hash,
      .weights_checksum = c->checksum, .embed_weights = o->embed_weights, .weights = c->weights,
      .tokenizer = c->tokenizer, .tokenizer_bytes = c->tokenizer_bytes, .vocab = c->vocab,
      .max_context = c->max_context, .max_tokens = c->max_tokens, .bos_id = c->bos_id,
      .eos_id = c->eos_id, .all_logits = c->all_logits};
  CgCudaImage cuda = {ce_gpu_arch(c), (const uint8_t *)c->cuda_image.cubin,
                      c->cuda_image.cubin_bytes, c->cuda_image.ptx,
                      c->cuda_image.ptx ? strlen(c->cuda_image.ptx) : 0, &c->cuda_kernels};
  if (ce_cuda_embedded(c)) info.cuda = &cuda;
  CgTarget t = {o->triple, o->cpu, o->features, o->llvm_opt, &c->ktarget};
  char buf[4096];
  const char *obj = object_path(c, buf, sizeof buf, d);
  if (!obj) return false;
  CpStep step;
  int kernels = count_kernels(c->plan);
  /* LLVM at O3 takes seconds from about a hundred kernels on. */
  cp_begin(&step, c->big || kernels >= 100 || o->verbose, 0, "generating code: %d kernels, LLVM -O%d",
           kernels, o->llvm_opt);
  bool ok = cg_llvm_compile(c->plan, &info, &t, emit_kind(o->emit), obj, d);
  cp_end(&step, ok);
  return ok && link_artifact(c, obj, d);
}

void ce_free(Compile *c) {
  ce_free_cuda(c);
  if (c->kw_map) munmap(c->kw_map, KILN_WEIGHTS_HEADER_BYTES + (size_t)c->weights_bytes);
  else free(c->weights);
  c->kw_map = NULL;
  c->weights = NULL;
  free(c->ir_text);
  c->ir_text = NULL;
}

#endif
