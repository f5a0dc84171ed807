/* options.c - flags and their values for every subcommand (see options.h). */
#include "options.h"
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Through cli_error, the one printer of error lines (the tests replace it to capture them). */
int cli_usage_error(const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    cli_error("%s", line);
    return 2;
}

/* strtol/strtod accept leading blanks; a flag value does not. */
static int starts_clean(const char *text) {
    return text && text[0] && !isspace((unsigned char)text[0]);
}

int opt_int(const char *cmd, const char *flag, const char *text, long lo, long hi, int *out) {
    char *end = NULL;
    errno = 0;
    long v = starts_clean(text) ? strtol(text, &end, 10) : 0;
    if (!end || *end || errno || v < lo || v > hi || v < INT_MIN || v > INT_MAX) {
        if (hi >= INT_MAX)
            return cli_usage_error("%s: %s expects an integer >= %ld, got '%s'", cmd, flag, lo, text ? text : "");
        return cli_usage_error("%s: %s expects an integer in [%ld, %ld], got '%s'", cmd, flag, lo, hi,
                               text ? text : "");
    }
    *out = (int)v;
    return 0;
}

int opt_float(const char *cmd, const char *flag, const char *text, double lo, double hi, int lo_open, float *out) {
    char *end = NULL;
    errno = 0;
    double v = starts_clean(text) ? strtod(text, &end) : 0;
    if (!end || *end || errno || !isfinite(v) || v > hi || v < lo || (lo_open && v == lo))
        return cli_usage_error("%s: %s expects a number in %c%g, %g], got '%s'", cmd, flag, lo_open ? '(' : '[', lo,
                               hi, text ? text : "");
    *out = (float)v;
    return 0;
}

int opt_u64(const char *cmd, const char *flag, const char *text, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    /* strtoull negates "-1" into 2^64 - 1 and saturates overflow at it: a sign or ERANGE is refused */
    unsigned long long v = starts_clean(text) && isdigit((unsigned char)text[0]) ? strtoull(text, &end, 10) : 0;
    if (!end || *end || errno)
        return cli_usage_error("%s: %s expects an integer in [0, 18446744073709551615], got '%s'", cmd, flag,
                               text ? text : "");
    *out = (uint64_t)v;
    return 0;
}

int opt_int_list(const char *cmd, const char *flag, const char *text, long lo, long hi, int *out, int max, int *n) {
    char buf[256];
    *n = 0;
    if (strlen(text) >= sizeof buf)
        return cli_usage_error("%s: %s list is too long, got '%.40s...'", cmd, flag, text);
    strcpy(buf, text);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == max)
            return cli_usage_error("%s: %s takes at most %d values, got '%s'", cmd, flag, max, text);
        if (opt_int(cmd, flag, tok, lo, hi, &out[(*n)++]))
            return 2;
    }
    return *n ? 0 : cli_usage_error("%s: %s needs a comma-separated list, got '%s'", cmd, flag, text);
}

cli_args cli_args_start(const char *cmd, int argc, char **argv) {
    return (cli_args){.cmd = cmd, .argc = argc, .argv = argv, .i = 0, .arg = NULL, .rest = false};
}

bool cli_next(cli_args *c) {
    if (c->i + 1 >= c->argc)
        return false;
    c->arg = c->argv[++c->i];
    if (!c->rest && strcmp(c->arg, "--") == 0) {
        c->rest = true;
        return cli_next(c);
    }
    return true;
}

bool cli_is(const cli_args *c, const char *name, const char *alias) {
    return !c->rest && (strcmp(c->arg, name) == 0 || (alias && strcmp(c->arg, alias) == 0));
}

bool cli_is_option(const cli_args *c) {
    return !c->rest && c->arg[0] == '-' && c->arg[1] != '\0';
}

int cli_str(cli_args *c, const char **out) {
    if (c->i + 1 >= c->argc)
        return cli_usage_error("%s: %s needs a value", c->cmd, c->arg);
    *out = c->argv[++c->i];
    return 0;
}

/* The flag's name stays c->arg's: cli_str moves c->i only. */
int cli_int(cli_args *c, long lo, long hi, int *out) {
    const char *v = NULL;
    return cli_str(c, &v) ? 2 : opt_int(c->cmd, c->arg, v, lo, hi, out);
}

int cli_float(cli_args *c, double lo, double hi, int lo_open, float *out) {
    const char *v = NULL;
    return cli_str(c, &v) ? 2 : opt_float(c->cmd, c->arg, v, lo, hi, lo_open, out);
}

int cli_u64(cli_args *c, uint64_t *out) {
    const char *v = NULL;
    return cli_str(c, &v) ? 2 : opt_u64(c->cmd, c->arg, v, out);
}

int cli_int_list(cli_args *c, long lo, long hi, int *out, int max, int *n) {
    const char *v = NULL;
    return cli_str(c, &v) ? 2 : opt_int_list(c->cmd, c->arg, v, lo, hi, out, max, n);
}

int cli_unknown(const cli_args *c) {
    return cli_usage_error("%s: unknown option '%s' (see gemcl %s --help)", c->cmd, c->arg, c->cmd);
}

int cli_unexpected(const cli_args *c, const char *hint) {
    return cli_usage_error("%s: unexpected argument '%s'%s", c->cmd, c->arg, hint);
}
