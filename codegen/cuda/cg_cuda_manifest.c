/* cg_cuda_manifest.c: the JSON that lets another runtime launch the
 * kernels: per entry, the launches in order, each with its function (one
 * function may serve many launches), its buffer offsets (the koff
 * argument's o[0..]), block size, shared memory and grid, each grid
 * dimension as {"factors": [dims], "div": d} meaning ceil(product of
 * factors / d), a factor being a dim over the symbols as the IR prints it
 * ("T", "P+T", "64"). */
#include <stdio.h>

#include "cg_cuda.h"

static void json_name(IrBuf *b, const char *s) {
  char clean[256];
  cg_cuda_sanitize(s, clean, sizeof clean);
  ir_buf_printf(b, "\"%s\"", clean);
}

static void extent(IrBuf *b, const IrModule *m, const CgCudaExtent *e) {
  ir_buf_printf(b, "{\"factors\": [");
  for (int i = 0; i < e->n; i++) {
    ir_buf_printf(b, "%s", i ? ", " : "");
    json_name(b, ir_dim_text(m, e->f[i]).s);
  }
  ir_buf_printf(b, "], \"div\": %lld}", (long long)e->div);
}

static void kernel(IrBuf *b, const IrModule *m, const CgCudaKernel *k) {
  ir_buf_printf(b, "        {\"name\": \"%s\", \"op\": \"%s\", \"plan_name\": ", k->name, k->op);
  json_name(b, k->plan_name);
  ir_buf_printf(b, ",\n         \"offsets\": [");
  for (int i = 0; i < k->noffs; i++) ir_buf_printf(b, "%s%llu", i ? ", " : "", (unsigned long long)k->offs[i]);
  ir_buf_printf(b, "],\n         \"block\": [%d, 1, 1], \"shared_bytes\": %lld,\n         \"grid\": [", k->block,
                (long long)k->smem_bytes);
  for (int a = 0; a < 3; a++) {
    ir_buf_printf(b, "%s", a ? ", " : "");
    extent(b, m, &k->grid[a]);
  }
  ir_buf_printf(b, "]}");
}

void cg_cuda_manifest(const KernelPlan *plan, const CgCudaModule *cm, const char *gpu_arch, IrBuf *b) {
  const IrModule *m = plan->module;
  ir_buf_printf(b, "{\n  \"kiln_version\": \"%s\",\n  \"module\": ", KILN_VERSION);
  json_name(b, m->name);
  ir_buf_printf(b, ",\n  \"gpu_arch\": ");
  json_name(b, gpu_arch ? gpu_arch : "sm_90");
  ir_buf_printf(b, ",\n  \"symbols\": [");
  for (int s = 0; s < m->nsyms; s++) {
    ir_buf_printf(b, "%s{\"index\": %d, \"name\": ", s ? ", " : "", s);
    json_name(b, m->syms[s].name);
    ir_buf_printf(b, ", \"max\": %lld}", (long long)m->syms[s].max);
  }
  ir_buf_printf(b, "],\n  \"weights_bytes\": %llu, \"arena_bytes\": %llu, \"state_bytes\": %llu,\n",
                (unsigned long long)plan->weights_bytes, (unsigned long long)plan->arena_bytes,
                (unsigned long long)plan->state_bytes);
  ir_buf_printf(b, "  \"functions\": %d, \"launches\": %d,\n", cm->nfuncs, cm->nkernels);
  ir_buf_printf(b, "  \"arguments\": [\"const uint8_t *weights\", \"uint8_t *arena\", \"uint8_t *state\", "
                   "\"const int32_t *tokens\", \"float *logits\", \"struct { int64_t s[8]; } syms (by value, "
                   "indexed like symbols)\", \"struct { uint64_t o[%d]; } koff (by value: the launch's offsets, "
                   "the rest 0)\"],\n",
                KILN_CUDA_MAX_OFFSETS);
  ir_buf_printf(b, "  \"entries\": [\n");
  for (int e = 0; e < plan->nentries; e++) {
    ir_buf_printf(b, "    {\"name\": ");
    json_name(b, plan->entries[e].func->name);
    ir_buf_printf(b, ", \"kernels\": [\n");
    bool first = true;
    for (int k = 0; k < cm->nkernels; k++) {
      if (cm->kernels[k].entry != e) continue;
      ir_buf_printf(b, "%s", first ? "" : ",\n");
      kernel(b, m, &cm->kernels[k]);
      first = false;
    }
    ir_buf_printf(b, "\n    ]}%s\n", e + 1 < plan->nentries ? "," : "");
  }
  ir_buf_printf(b, "  ]\n}\n");
}
