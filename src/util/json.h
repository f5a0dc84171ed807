/* json.h - typed, checked reads of cJSON values for every JSON file gemcl reads (config.json, safetensors
 * headers, model cards, tuning profiles). Every failure names the file and the key. */
#ifndef GC_UTIL_JSON_H
#define GC_UTIL_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Parses len bytes (no NUL needed). The caller frees *out with cJSON_Delete. Errors give the byte offset. */
gc_status gc_json_parse(const char *text, size_t len, const char *file, cJSON **out, gc_error *err);

/* Reads obj[key] as an integer in [lo, hi]. Absent or null: *out = def, or an error when required. */
gc_status gc_json_int(const cJSON *obj, const char *key, bool required, int64_t def, int64_t lo, int64_t hi,
                      const char *file, int64_t *out, gc_error *err);

/* The same for any number and for booleans. */
gc_status gc_json_num(const cJSON *obj, const char *key, bool required, double def, const char *file, double *out,
                      gc_error *err);
gc_status gc_json_bool(const cJSON *obj, const char *key, bool def, const char *file, bool *out, gc_error *err);

/* A string member, or NULL when absent; an error when present but not a string. */
gc_status gc_json_str(const cJSON *obj, const char *key, const char *file, const char **out, gc_error *err);

/* Checks that v is an integral number in [lo, hi]; what names it in the message. */
gc_status gc_json_check_int(const cJSON *v, int64_t lo, int64_t hi, const char *file, const char *what, int64_t *out,
                            gc_error *err);

/* A JSON document embedded at build time by tools/embed_json.py (model cards, tuning profiles); the arrays it
 * generates end with {NULL, NULL, 0}. */
typedef struct gc_json_source {
    const char *name; /* the file's base name without .json */
    const char *json; /* its text, len bytes (not NUL-terminated) */
    size_t len;
} gc_json_source;

#endif
