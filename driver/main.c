/* main.c: the `kiln` command: dispatches to a subcommand.
 *
 *   kiln opt --pass=canonicalize,cse model.kir
 *   kiln run-ir model.kir --entry prefill --sym P=0 --input tok=1,2,3
 *
 * Each subcommand lives in driver/cmd_NAME.c as
 * `int cmd_NAME(int argc, char **argv)` (argv[0] is its name) and takes
 * --help and --version. docs/driver.md documents every command and flag.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pass.h"

/* The subcommands, one line each: name, entry point, one-line summary.
 * A new subcommand adds its line here and its driver/cmd_NAME.c. */
#define KILN_COMMANDS(X)                                                          \
  X("opt", cmd_opt, "run passes over a .kir module and print the result")       \
  X("run-ir", cmd_run_ir, "interpret a .kir module on given inputs, print results") \
  X("inspect", cmd_inspect, "describe a model: architecture, parameters, FLOPs, KV cache") \
  X("tokenize", cmd_tokenize, "encode text or decode ids with a tokenizer.json") \
  X("compile", cmd_compile, "compile a model to an executable, object, library or LLVM IR") \
  X("bisect", cmd_bisect, "find the first pass that changes a model's outputs")

#define DECLARE(NAME, FN, SUMMARY) int FN(int argc, char **argv);
KILN_COMMANDS(DECLARE)
#undef DECLARE

typedef struct {
  const char *name;
  int (*fn)(int argc, char **argv);
  const char *summary;
} Command;

static const Command commands[] = {
#define ENTRY(NAME, FN, SUMMARY) {NAME, FN, SUMMARY},
    KILN_COMMANDS(ENTRY)
#undef ENTRY
};

enum { NCOMMANDS = sizeof commands / sizeof commands[0] };

static void usage(FILE *out) {
  fprintf(out, "usage: kiln COMMAND [ARGS...]\n"
               "       kiln --help | --version\n\n"
               "kiln compiles Transformer models ahead of time. Commands:\n");
  for (int i = 0; i < NCOMMANDS; i++)
    fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\n'kiln COMMAND --help' describes a command's flags.\n");
}

int main(int argc, char **argv) {
  /* A testing aid: passes that fail, crash or perturb (docs/driver.md). */
  const char *test_passes = getenv("KILN_TEST_PASSES");
  if (test_passes && strcmp(test_passes, "1") == 0) pass_registry_enable_testing();
  if (argc < 2) {
    usage(stderr);
    return 1;
  }
  const char *name = argv[1];
  if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(name, "--version") == 0) return cli_version();
  for (int i = 0; i < NCOMMANDS; i++)
    if (strcmp(commands[i].name, name) == 0) return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "kiln: unknown command '%s'; see 'kiln --help'\n", name);
  return 1;
}
