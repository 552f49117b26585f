/* cli.h: what the driver's subcommands share: flag parsing, reading and
 * writing files, loading a module, reporting errors.
 *
 * A subcommand is `int cmd_NAME(int argc, char **argv)` with argv[0] the
 * subcommand's name; it returns the exit status (0 ok, 1 error). Its flag
 * loop reads:
 *
 *   CliArgs a = cli_args(argc, argv, "opt");
 *   for (; cli_next(&a); ) {
 *     const char *v;
 *     if (cli_flag(&a, "--help")) ...
 *     else if (cli_value(&a, "--pass", &v)) pipeline = v;  // --pass=X or --pass X
 *     else if (cli_is_option(&a)) return cli_unknown(&a);
 *     else file = a.arg;
 *   }
 *   if (a.failed) return 1;
 */
#ifndef KILN_CLI_H
#define KILN_CLI_H

#include <stdio.h>

#include "ir.h"

/* ---- flags ---- */

typedef struct {
  int argc;
  char **argv;
  int i;           /* index of the current argument */
  const char *arg; /* argv[i] */
  const char *cmd; /* "opt", for messages */
  bool failed;     /* an error was printed (a flag without its value) */
} CliArgs;

CliArgs cli_args(int argc, char **argv, const char *cmd);
/* Moves to the next argument; false at the end or after an error. */
bool cli_next(CliArgs *a);
/* The current argument is exactly `name`. */
bool cli_flag(CliArgs *a, const char *name);
/* The current argument is `name=VALUE` or `name` followed by VALUE (taken
 * from the next argument). A missing value prints an error, sets
 * a->failed and still returns true with *val = NULL. */
bool cli_value(CliArgs *a, const char *name, const char **val);
/* Starts with '-' and is not "-" (stdin). */
bool cli_is_option(const CliArgs *a);
/* "kiln opt: unknown option '--foo'; see 'kiln opt --help'"; returns 1. */
int cli_unknown(const CliArgs *a);
/* Prints "kiln CMD: MESSAGE" to stderr; returns 1. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- files ---- */

/* Reads a whole file ("-" is stdin), NUL-terminated; the caller frees.
 * NULL with "PATH: error: cannot read file: REASON" in d. */
char *cli_read_file(const char *path, size_t *len, IrDiag *d);
/* Writes data to path ("-" or NULL: stdout) through a temporary file in
 * the same directory, renamed at the end: a failure leaves no partial
 * file behind. */
bool cli_write_file(const char *path, const void *data, size_t len, IrDiag *d);
/* mkdir that accepts an existing directory. */
bool cli_make_dir(const char *dir, IrDiag *d);

/* ---- modules and errors ---- */

/* Reads, parses and verifies a module; the caller frees it. "-" is stdin,
 * named "<stdin>" in messages. */
IrModule *cli_load_module(const char *path, IrDiag *d);
/* Prints d's message on one line: as is when it starts with a location,
 * else prefixed "kiln CMD: ". Returns 1, the exit status of an error. */
int cli_fail(const char *cmd, const IrDiag *d);
/* "kiln 0.1.0" to stdout; returns 0. */
int cli_version(void);

/* Small string and path helpers for the driver; out of memory aborts. */
char *cli_strdup(const char *s);
char *cli_concat(const char *a, const char *b);          /* a + b */
char *cli_path_join(const char *dir, const char *name);  /* dir + "/" + name */
bool cli_is_file(const char *path);                      /* exists, regular file */

#endif
