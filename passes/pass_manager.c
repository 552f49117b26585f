/* pass_manager.c: parses pipelines and runs them, with the debugging aids
 * around each pass: IR dumps (after all, after one, after a change, into a
 * directory), verification after each pass, timing, and a reproducer file
 * when a pass fails. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "pass.h"

PassOptions pass_options_default(void) {
  PassOptions o = {0};
#ifdef KILN_VERIFY_EACH_PASS
  o.verify_each = true;
#endif
  return o;
}

/* ---- pipeline specs ---- */

static bool unknown_pass(IrDiag *d, const char *s, size_t n) {
  IrBuf known = {0};
  pass_list_names(&known);
  ir_error(d, (IrLoc){0}, "unknown pass '%.*s'; known passes: %s", (int)n, s, known.data);
  ir_buf_free(&known);
  return false;
}

bool pass_pipeline_parse(const char *spec, PassPipeline *p, IrDiag *d) {
  p->n = 0;
  if (!*spec) return true;
  for (const char *s = spec;; s++) {
    size_t n = strcspn(s, ",");
    if (n == 0) return ir_error(d, (IrLoc){0}, "empty pass name in pipeline '%s'", spec);
    const PassInfo *info = pass_lookup(s, n);
    if (!info) return unknown_pass(d, s, n);
    if (p->n == PASS_MAX_PIPELINE)
      return ir_error(d, (IrLoc){0}, "pipeline '%s' has more than %d passes", spec,
                      PASS_MAX_PIPELINE);
    p->passes[p->n++] = info;
    s += n;
    if (!*s) return true;
  }
}

/* ---- output helpers ---- */

static void emit(const PassOptions *o, const IrBuf *b) {
  if (o->sink && b->len) o->sink(o->sink_user, b->data, b->len);
}

static bool write_file(const char *path, const char *text, size_t len, IrDiag *d) {
  FILE *f = fopen(path, "wb");
  if (!f) return ir_error_at(d, path, "cannot write file: %s", strerror(errno));
  bool ok = fwrite(text, 1, len, f) == len;
  ok = (fclose(f) == 0) && ok;
  return ok ? true : ir_error_at(d, path, "cannot write file: %s", strerror(errno));
}

static bool make_dir(const char *dir, IrDiag *d) {
  if (mkdir(dir, 0777) == 0 || errno == EEXIST) return true;
  return ir_error_at(d, dir, "cannot create dump directory: %s", strerror(errno));
}

/* Writes DIR/NN-STAGE.kir: "dumps/00-input.kir", "dumps/03-cse.kir". */
static bool dump_stage(const PassOptions *o, int index, const char *stage, const IrModule *m,
                       IrDiag *d) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%02d-%s.kir", o->dump_dir, index, stage);
  IrBuf b = {0};
  ir_print_module(&b, m);
  bool ok = write_file(path, b.data ? b.data : "", b.len, d);
  ir_buf_free(&b);
  return ok;
}

/* Rewrites "t.kir:3:5: error: what" into "t.kir:3:5: error: <what_pass>what",
 * so the location stays first and the message names the pass. */
static void name_pass_in_error(IrDiag *d, const char *what_pass) {
  char old[sizeof d->msg];
  memcpy(old, d->msg, sizeof old);
  const char *tag = strstr(old, "error: ");
  size_t head = tag ? (size_t)(tag - old) + strlen("error: ") : 0;
  IrBuf b = {0};
  ir_buf_printf(&b, "%.*s%s%s", (int)head, old, what_pass, old + head);
  size_t n = b.len < sizeof d->msg - 1 ? b.len : sizeof d->msg - 1; /* cut off if too long */
  memcpy(d->msg, b.data, n);
  d->msg[n] = '\0';
  ir_buf_free(&b);
}

/* ---- the manager ---- */

void pass_replay_line(IrBuf *b, const PassInfo *info) {
  ir_buf_printf(b, "%s%s FILE\n", PASS_REPLAY_PREFIX, info->name);
}

typedef struct {
  const PassInfo *info;
  double seconds;
  PassContext stats;
} PassRecord;

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool wants_print(const PassOptions *o, const PassInfo *info) {
  if (o->print_after) return strcmp(o->print_after, info->name) == 0;
  return o->print_after_all || o->print_after_change;
}

/* "// IR after pass 'cse' (3 of 4)" and the module, or one line saying it
 * did not change (with --print-ir-after-change). */
static void print_after(const PassOptions *o, const PassInfo *info, int i, int n, bool changed,
                        const IrModule *m) {
  if (!o->sink || !wants_print(o, info)) return;
  IrBuf b = {0};
  if (o->print_after_change && !changed) {
    ir_buf_printf(&b, "// IR after pass '%s' (%d of %d): unchanged\n", info->name, i + 1, n);
  } else {
    ir_buf_printf(&b, "// IR after pass '%s' (%d of %d)\n", info->name, i + 1, n);
    ir_print_module(&b, m);
  }
  emit(o, &b);
  ir_buf_free(&b);
}

/* Verifies m; a failure says when: "after pass 'cse': ". */
static bool verify_after(const char *when, const IrModule *m, IrDiag *d) {
  IrDiag vd = {0};
  if (ir_verify(m, &vd)) return true;
  if (d && !d->failed) {
    *d = vd;
    name_pass_in_error(d, when);
  }
  return false;
}

/* The module as it was before the failing pass, with a header that says
 * how to replay it (`kiln opt --replay FILE` reads the "// replay:" line). */
static void write_reproducer(const PassOptions *o, const PassInfo *info, const IrBuf *before,
                             IrDiag *d) {
  IrBuf b = {0};
  ir_buf_printf(&b, "// kiln reproducer: pass '%s' failed on this module with\n//   %s\n",
                info->name, d->msg);
  pass_replay_line(&b, info);
  ir_buf_printf(&b, "%.*s", (int)before->len, before->data ? before->data : "");
  IrDiag wd = {0};
  size_t used = strlen(d->msg);
  if (write_file(o->reproducer, b.data, b.len, &wd))
    snprintf(d->msg + used, sizeof d->msg - used, " (reproducer: %s)", o->reproducer);
  else
    snprintf(d->msg + used, sizeof d->msg - used, " (no reproducer: %s)", wd.msg);
  ir_buf_free(&b);
}

static void report_times(const PassOptions *o, const PassRecord *recs, int n, double verify_s) {
  double total = verify_s;
  for (int i = 0; i < n; i++) total += recs[i].seconds;
  double denom = total > 0 ? total : 1;
  IrBuf b = {0};
  ir_buf_printf(&b, "// pass timing: %d passes, %.6f s total (wall clock)\n", n, total);
  ir_buf_printf(&b, "//    seconds   share  pass\n");
  for (int i = 0; i < n; i++) {
    ir_buf_printf(&b, "//   %.6f  %5.1f%%  %s", recs[i].seconds,
                  100 * recs[i].seconds / denom, recs[i].info->name);
    for (int c = 0; c < recs[i].stats.n; c++)
      ir_buf_printf(&b, "%s%s=%lld", c ? " " : "  ", recs[i].stats.c[c].name,
                    (long long)recs[i].stats.c[c].value);
    ir_buf_printf(&b, "\n");
  }
  if (o->verify_each)
    ir_buf_printf(&b, "//   %.6f  %5.1f%%  (verify after each pass)\n", verify_s,
                  100 * verify_s / denom);
  emit(o, &b);
  ir_buf_free(&b);
}

/* The module for a reproducer, printed before every pass: a parameter with
 * more than PASS_REPRO_MAX_INIT inline values is printed without them (a
 * param bound from outside), so a module with inline weights (a benchmark's
 * 32000 x 768 matmul) does not print megabytes of numbers per pass. */
#define PASS_REPRO_MAX_INIT 4096
static void print_for_reproducer(IrBuf *b, IrModule *m) {
  bool big = false;
  for (int i = 0; i < m->nparams; i++) big |= m->params[i]->ninit > PASS_REPRO_MAX_INIT;
  if (!big) {
    ir_print_module(b, m);
    return;
  }
  double **saved = pass_calloc((size_t)m->nparams, sizeof *saved);
  for (int i = 0; i < m->nparams; i++) {
    if (m->params[i]->ninit <= PASS_REPRO_MAX_INIT) continue;
    saved[i] = m->params[i]->init;
    m->params[i]->init = NULL;
  }
  ir_buf_printf(b, "// parameters with more than %d inline values are printed without them\n",
                PASS_REPRO_MAX_INIT);
  ir_print_module(b, m);
  for (int i = 0; i < m->nparams; i++)
    if (saved[i]) m->params[i]->init = saved[i];
  free(saved);
}

/* Runs pass i: the pass, then the verifier if asked. On failure the
 * message names the pass and a reproducer is written if asked. */
static bool run_one(const PassOptions *o, const PassInfo *info, int i, int n, IrModule *m,
                    PassRecord *rec, bool *changed, double *verify_s, IrDiag *d) {
  IrBuf before = {0};
  if (o->reproducer || o->before_pass) print_for_reproducer(&before, m);
  if (o->before_pass)
    o->before_pass(o->before_pass_user, info, i, n, before.data ? before.data : "", before.len);
  IrDiag pd = {0};
  double t0 = now_seconds();
  rec->stats.target = o->target;
  *changed = info->run(m, &rec->stats, &pd);
  rec->seconds = now_seconds() - t0;
  bool ok = !pd.failed;
  if (!ok && d && !d->failed) {
    char what[128];
    snprintf(what, sizeof what, "in pass '%s': ", info->name);
    *d = pd;
    name_pass_in_error(d, what);
  }
  if (ok && o->verify_each) {
    char when[128];
    snprintf(when, sizeof when, "after pass '%s': ", info->name);
    t0 = now_seconds();
    ok = verify_after(when, m, d);
    *verify_s += now_seconds() - t0;
  }
  if (!ok && o->reproducer && d) write_reproducer(o, info, &before, d);
  ir_buf_free(&before);
  return ok;
}

bool pass_pipeline_run(const PassPipeline *p, IrModule *m, const PassOptions *o, IrDiag *d) {
  if (o->print_after && !pass_lookup(o->print_after, strlen(o->print_after)))
    return unknown_pass(d, o->print_after, strlen(o->print_after));
  if (o->dump_dir && (!make_dir(o->dump_dir, d) || !dump_stage(o, 0, "input", m, d)))
    return false;
  PassRecord recs[PASS_MAX_PIPELINE] = {0};
  double verify_s = 0;
  for (int i = 0; i < p->n; i++) {
    const PassInfo *info = p->passes[i];
    recs[i].info = info;
    bool changed = false;
    if (!run_one(o, info, i, p->n, m, &recs[i], &changed, &verify_s, d)) return false;
    print_after(o, info, i, p->n, changed, m);
    if (o->dump_dir && !dump_stage(o, i + 1, info->name, m, d)) return false;
  }
  /* Without verification after each pass, verify once at the end. */
  if (!o->verify_each && p->n > 0 && !verify_after("after the passes: ", m, d)) return false;
  if (o->time_passes) report_times(o, recs, p->n, verify_s);
  return true;
}
