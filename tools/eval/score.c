/* score.c - needle and passkey scores, exactly as docs/METHODS.md (GemFilter's harness) defines them. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"

/* Python's str.split() separators (ASCII whitespace). */
static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* The lower-cased whitespace-separated words of s: a malloc'd copy with NULs between words, and pointers. */
static char **split_lower(const char *s, int *n, char **storage) {
    size_t len = strlen(s);
    char *buf = malloc(len + 1);
    char **words = malloc((len / 2 + 1) * sizeof *words);
    *n = 0;
    *storage = buf;
    if (!buf || !words) {
        free(words);
        return NULL;
    }
    for (size_t i = 0; i <= len; i++)
        buf[i] = is_space(s[i]) ? '\0' : (char)tolower((unsigned char)s[i]);
    for (size_t i = 0; i < len; i++)
        if (buf[i] && (i == 0 || !buf[i - 1]))
            words[(*n)++] = buf + i;
    return words;
}

static int contains(char **words, int n, const char *w) {
    for (int i = 0; i < n; i++)
        if (strcmp(words[i], w) == 0)
            return 1;
    return 0;
}

double eval_score_needle(const char *response, const char *expected) {
    char *rs = NULL, *es = NULL;
    int nr = 0, ne = 0;
    char **rw = split_lower(response ? response : "", &nr, &rs);
    char **ew = split_lower(expected, &ne, &es);
    int hits = 0;
    if (rw && ew)
        for (int i = 0; i < ne; i++) /* count each distinct expected word once: a set intersection */
            if (!contains(ew, i, ew[i]) && contains(rw, nr, ew[i]))
                hits++;
    free(rw), free(ew), free(rs), free(es);
    return ne ? (double)hits / ne : 0.0; /* divided by all 12 words: at most 11/12, as published */
}

double eval_score_passkey(const char *response, int key) {
    const char *p = response ? response : "";
    while (*p && !isdigit((unsigned char)*p))
        p++;
    const char *start = p;
    while (isdigit((unsigned char)*p))
        p++;
    char want[16];
    int n = snprintf(want, sizeof want, "%05d", key);
    return p - start == n && memcmp(start, want, (size_t)n) == 0 ? 1.0 : 0.0;
}
