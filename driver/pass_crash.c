/* pass_crash.c: the crash guard around the pass pipeline (pass_flags.h).
 *
 * Before each pass the pass manager hands over the module's text; this
 * file turns it into a complete reproducer (header, replay line, IR) and
 * the two halves of the crash message, all built ahead of time. A signal
 * handler may only call async-signal-safe functions, so on a crash it
 * does nothing but open(2), write(2) those buffers, and _exit(2).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pass_flags.h"

static const int guarded_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
enum { NSIGNALS = sizeof guarded_signals / sizeof guarded_signals[0] };

/* What the handler writes; swapped in whole before each pass. */
typedef struct {
  IrBuf head;    /* "// kiln reproducer: pass 'cse' crashed on this module with\n//   " */
  IrBuf tail;    /* "\n// replay: ...\n" + the module */
  IrBuf message; /* "kiln opt: error: pass 'cse' (3 of 9) crashed with " */
  IrBuf saved;   /* "; reproducer: PATH (replay: kiln opt --replay PATH)\n" */
  IrBuf unsaved; /* the same when the file cannot be written, or without one */
} CrashText;

static struct {
  const char *cmd, *path;
  CrashText *volatile text; /* NULL until the first pass starts */
  struct sigaction old[NSIGNALS];
  stack_t old_stack;
  bool installed;
} guard;

/* The handler runs here too when the crash is a stack overflow. */
static char alt_stack[1 << 16];

static void free_text(CrashText *t) {
  if (!t) return;
  ir_buf_free(&t->head);
  ir_buf_free(&t->tail);
  ir_buf_free(&t->message);
  ir_buf_free(&t->saved);
  ir_buf_free(&t->unsaved);
  free(t);
}

static void write_all(int fd, const IrBuf *b) {
  for (size_t done = 0; done < b->len;) {
    ssize_t n = write(fd, b->data + done, b->len - done);
    if (n <= 0) return;
    done += (size_t)n;
  }
}

static void write_str(int fd, const char *s) {
  IrBuf b = {(char *)s, strlen(s), 0};
  write_all(fd, &b);
}

static const char *signal_name(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    default: return "a signal";
  }
}

static void on_crash(int sig) {
  const CrashText *t = guard.text;
  if (!t) _exit(1);
  const char *name = signal_name(sig);
  bool saved = false;
  int fd = guard.path ? open(guard.path, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
  if (fd >= 0) {
    write_all(fd, &t->head);
    write_str(fd, name);
    write_all(fd, &t->tail);
    saved = close(fd) == 0;
  }
  write_all(STDERR_FILENO, &t->message);
  write_str(STDERR_FILENO, name);
  write_all(STDERR_FILENO, saved ? &t->saved : &t->unsaved);
  _exit(1);
}

/* Builds the texts for pass `info` and swaps them in. */
static void before_pass(void *user, const PassInfo *info, int index, int n, const char *ir,
                        size_t len) {
  (void)user;
  CrashText *t = calloc(1, sizeof *t);
  if (!t) abort(); /* out of memory */
  ir_buf_printf(&t->head, "// kiln reproducer: pass '%s' crashed on this module with\n//   ",
                info->name);
  ir_buf_printf(&t->tail, "\n");
  pass_replay_line(&t->tail, info);
  ir_buf_printf(&t->tail, "%.*s", (int)len, ir);
  ir_buf_printf(&t->message, "kiln %s: error: pass '%s' (%d of %d) crashed with ", guard.cmd,
                info->name, index + 1, n);
  ir_buf_printf(&t->saved, "; reproducer: %s (replay: kiln opt --replay %s)\n", guard.path,
                guard.path);
  if (guard.path)
    ir_buf_printf(&t->unsaved, "; could not write the reproducer %s\n", guard.path);
  else
    ir_buf_printf(&t->unsaved, "; give --reproducer=FILE to save the module it crashed on\n");
  CrashText *old = guard.text;
  guard.text = t; /* one pointer store: the handler sees the old or the new */
  free_text(old);
}

void pass_crash_guard(PassOptions *o, const char *cmd, const char *reproducer) {
  guard.cmd = cmd;
  guard.path = reproducer;
  o->before_pass = before_pass;
  o->before_pass_user = NULL;
  stack_t st = {.ss_sp = alt_stack, .ss_size = sizeof alt_stack};
  sigaltstack(&st, &guard.old_stack);
  struct sigaction sa = {0};
  sa.sa_handler = on_crash;
  sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < NSIGNALS; i++) sigaction(guarded_signals[i], &sa, &guard.old[i]);
  guard.installed = true;
}

void pass_crash_unguard(void) {
  if (!guard.installed) return;
  for (int i = 0; i < NSIGNALS; i++) sigaction(guarded_signals[i], &guard.old[i], NULL);
  sigaltstack(&guard.old_stack, NULL);
  guard.installed = false;
  free_text(guard.text);
  guard.text = NULL;
}
