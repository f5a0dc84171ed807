/* options.h - the CLI's one option parser. Every subcommand walks its argv with a cli_args cursor and reads
 * flags, their values and numbers (integers, floats, seeds, integer lists) through these, so each refuses the same things the same way: trailing junk, an empty
 * value, overflow, a sign where none belongs, a value outside the flag's range. Nothing falls back to a
 * default silently (issue 16: `--heavy -4` turned compression off, `--seed -1` acted as 2^64 - 1).
 *
 * On a bad value each prints one line "gemcl: CMD: FLAG expects ..., got 'TEXT'" and returns 2 (a usage error,
 * the exit code the caller returns); on success it stores the value and returns 0. */
#ifndef GEMCL_CLI_OPTIONS_H
#define GEMCL_CLI_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

/* A cursor over one subcommand's argv. The usual loop:
 *
 *     cli_args c = cli_args_start("run", argc, argv);
 *     while (cli_next(&c)) {
 *         int rc;
 *         if (cli_is(&c, "-m", "--model")) rc = cli_str(&c, &o->model);
 *         else if (cli_is(&c, "-n", "--n-predict")) rc = cli_int(&c, 0, INT_MAX, &o->n);
 *         else rc = cli_unknown(&c);
 *         if (rc) return rc;
 *     }
 *
 * The value readers take the argument after the flag (a missing one is "CMD: FLAG needs a value") and return
 * 0 or 2 after the one error line, like the opt_* functions below. */
typedef struct cli_args {
    const char *cmd; /* the subcommand, the first word of every error line */
    int argc;
    char **argv;
    int i;           /* index of the current argument; 0 before the first cli_next */
    const char *arg; /* argv[i] */
    bool rest;       /* past a "--": every argument is positional (text that starts with '-', say) */
} cli_args;

cli_args cli_args_start(const char *cmd, int argc, char **argv);

/* Moves to the next argument; false when there is none. The first "--" is skipped, and every argument after
 * it is positional: cli_is and cli_is_option are false for it (`gemcl tokenize MODEL -- -x`). */
bool cli_next(cli_args *c);

/* True when the current argument is name or alias (alias may be NULL). */
bool cli_is(const cli_args *c, const char *name, const char *alias);

/* True when the current argument looks like an option ("-x", "--x"; a lone "-" is a positional argument). */
bool cli_is_option(const cli_args *c);

/* The current flag's value: the next argument as text, or read through opt_int/opt_float/opt_u64/opt_int_list
 * with the current flag's name. */
int cli_str(cli_args *c, const char **out);
int cli_int(cli_args *c, long lo, long hi, int *out);
int cli_float(cli_args *c, double lo, double hi, int lo_open, float *out);
int cli_u64(cli_args *c, uint64_t *out);
int cli_int_list(cli_args *c, long lo, long hi, int *out, int max, int *n);

/* "CMD: unknown option 'ARG' (see gemcl CMD --help)"; returns 2. */
int cli_unknown(const cli_args *c);

/* "CMD: unexpected argument 'ARG'" plus hint (may be ""); returns 2. */
int cli_unexpected(const cli_args *c, const char *hint);

/* A decimal integer in [lo, hi]. */
int opt_int(const char *cmd, const char *flag, const char *text, long lo, long hi, int *out);

/* A finite number in [lo, hi], or (lo, hi] when lo_open (e.g. a probability that must be > 0). */
int opt_float(const char *cmd, const char *flag, const char *text, double lo, double hi, int lo_open, float *out);

/* A decimal integer in [0, 2^64 - 1] with no sign (a seed). */
int opt_u64(const char *cmd, const char *flag, const char *text, uint64_t *out);

/* "13,20,..." -> out[0 .. *n - 1], each in [lo, hi], at least one and at most max values. */
int opt_int_list(const char *cmd, const char *flag, const char *text, long lo, long hi, int *out, int max, int *n);

/* Prints "gemcl: <formatted message>" on stderr and returns 2: a usage error (bad flag, missing value). */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
