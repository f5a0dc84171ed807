/* grid.c - context lengths and depths: "MIN:MAX:N" as round(linspace) or explicit lists. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"

void eval_linspace(double a, double b, int n, int *out) {
    for (int i = 0; i < n; i++) {
        double v = n == 1 ? a : a + (b - a) * i / (n - 1);
        if (i == n - 1 && n > 1)
            v = b; /* numpy's endpoint is exact */
        out[i] = (int)nearbyint(v); /* the default rounding mode rounds half to even, like numpy.round */
    }
}

static int parse_long(const char *s, size_t len, long *v) {
    char buf[32];
    if (len == 0 || len >= sizeof buf)
        return 1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    *v = strtol(buf, &end, 10);
    return errno || *end || end == buf;
}

static int push_unique(int *arr, int n, int v) {
    for (int i = 0; i < n; i++)
        if (arr[i] == v)
            return n;
    arr[n] = v;
    return n + 1;
}

static int parse_range(const char *spec, const char *colon, int lo, int hi, int **out, int *n, char *err,
                       size_t errlen) {
    const char *colon2 = strchr(colon + 1, ':');
    long a, b, count;
    if (!colon2 || parse_long(spec, (size_t)(colon - spec), &a) ||
        parse_long(colon + 1, (size_t)(colon2 - colon - 1), &b) || parse_long(colon2 + 1, strlen(colon2 + 1), &count))
        return snprintf(err, errlen, "bad range '%s' (want MIN:MAX:N)", spec), 1;
    if (count < 1 || count > 100000 || a > b || a < lo || b > hi)
        return snprintf(err, errlen, "bad range '%s' (need %d <= MIN <= MAX <= %d and N >= 1)", spec, lo, hi), 1;
    int *tmp = malloc((size_t)count * sizeof *tmp), *arr = malloc((size_t)count * sizeof *arr);
    if (!tmp || !arr) {
        free(tmp), free(arr);
        return snprintf(err, errlen, "out of memory"), 1;
    }
    eval_linspace((double)a, (double)b, (int)count, tmp);
    int k = 0;
    for (long i = 0; i < count; i++)
        k = push_unique(arr, k, tmp[i]);
    free(tmp);
    *out = arr;
    *n = k;
    return 0;
}

int eval_parse_grid(const char *spec, int lo, int hi, int **out, int *n, char *err, size_t errlen) {
    *out = NULL;
    *n = 0;
    if (!spec || !*spec)
        return snprintf(err, errlen, "empty list"), 1;
    const char *colon = strchr(spec, ':');
    if (colon)
        return parse_range(spec, colon, lo, hi, out, n, err, errlen);
    size_t cap = 1;
    for (const char *p = spec; *p; p++)
        cap += *p == ',';
    int *arr = malloc(cap * sizeof *arr);
    if (!arr)
        return snprintf(err, errlen, "out of memory"), 1;
    int k = 0;
    for (const char *p = spec;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        long v;
        if (parse_long(p, len, &v) || v < lo || v > hi) {
            free(arr);
            return snprintf(err, errlen, "bad value '%.*s' in '%s' (want integers in %d..%d)", (int)len, p, spec,
                            lo, hi),
                   1;
        }
        k = push_unique(arr, k, (int)v);
        if (!comma)
            break;
        p = comma + 1;
    }
    *out = arr;
    *n = k;
    return 0;
}

int eval_parse_depths(const char *spec, int **out, int *n, char *err, size_t errlen) {
    long count;
    if (spec && !strchr(spec, ',') && !strchr(spec, ':') && !parse_long(spec, strlen(spec), &count)) {
        if (count < 1 || count > 101)
            return snprintf(err, errlen, "bad depth count '%s' (want 1..101; one depth D is written D:D:1)", spec), 1;
        char range[32];
        snprintf(range, sizeof range, "0:100:%ld", count);
        return eval_parse_grid(range, 0, 100, out, n, err, errlen);
    }
    return eval_parse_grid(spec, 0, 100, out, n, err, errlen);
}

int eval_split_methods(const char *spec, char **storage, const char ***names, int *n, char *err, size_t errlen) {
    *storage = NULL;
    *names = NULL;
    *n = 0;
    if (!spec || !*spec)
        return snprintf(err, errlen, "lists no method"), 1;
    char *copy = strdup(spec);
    const char **arr = malloc((strlen(spec) / 2 + 1) * sizeof *arr);
    if (!copy || !arr) {
        free(copy), free(arr);
        return snprintf(err, errlen, "out of memory"), 1;
    }
    int k = 0;
    for (char *p = copy;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        gemcl_method m;
        if (gemcl_method_from_name(p, &m) != GEMCL_OK) {
            snprintf(err, errlen, "unknown method '%s'", p);
            free(copy), free(arr);
            return 1;
        }
        arr[k++] = p;
        if (!comma)
            break;
        p = comma + 1;
    }
    *storage = copy;
    *names = arr;
    *n = k;
    return 0;
}
