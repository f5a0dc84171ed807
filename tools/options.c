/* options.c - numeric flag values for every subcommand (see options.h). */
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
