/* options.h - the CLI's one parser for numeric flag values. Every subcommand reads integers, floats, seeds
 * and integer lists through these, so each refuses the same things the same way: trailing junk, an empty
 * value, overflow, a sign where none belongs, a value outside the flag's range. Nothing falls back to a
 * default silently (issue 16: `--heavy -4` turned compression off, `--seed -1` acted as 2^64 - 1).
 *
 * On a bad value each prints one line "gemcl: CMD: FLAG expects ..., got 'TEXT'" and returns 2 (a usage error,
 * the exit code the caller returns); on success it stores the value and returns 0. */
#ifndef GEMCL_CLI_OPTIONS_H
#define GEMCL_CLI_OPTIONS_H

#include <stdint.h>

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
