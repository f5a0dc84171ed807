/* json.c - checked reads of cJSON values; see json.h. */
#include "util/json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

gc_status gc_json_parse(const char *text, size_t len, const char *file, cJSON **out, gc_error *err) {
    const char *end = NULL;
    *out = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (*out)
        return GC_OK;
    size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
    return gc_fail(err, GC_ERR_FORMAT, "%s: invalid JSON at byte %zu", file, at);
}

gc_status gc_json_check_int(const cJSON *v, int64_t lo, int64_t hi, const char *file, const char *what, int64_t *out,
                            gc_error *err) {
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d >= (double)lo && d <= (double)hi) || d != floor(d))
        return gc_fail(err, GC_ERR_FORMAT, "%s: %s must be an integer in [%" PRId64 ", %" PRId64 "]", file, what, lo,
                       hi);
    *out = (int64_t)d;
    return GC_OK;
}

static const cJSON *member(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

gc_status gc_json_int(const cJSON *obj, const char *key, bool required, int64_t def, int64_t lo, int64_t hi,
                      const char *file, int64_t *out, gc_error *err) {
    const cJSON *v = member(obj, key);
    if (!v) {
        *out = def;
        return required ? gc_fail(err, GC_ERR_FORMAT, "%s: '%s' is missing", file, key) : GC_OK;
    }
    char what[96];
    snprintf(what, sizeof what, "'%s'", key);
    return gc_json_check_int(v, lo, hi, file, what, out, err);
}

gc_status gc_json_num(const cJSON *obj, const char *key, bool required, double def, const char *file, double *out,
                      gc_error *err) {
    const cJSON *v = member(obj, key);
    *out = def;
    if (!v)
        return required ? gc_fail(err, GC_ERR_FORMAT, "%s: '%s' is missing", file, key) : GC_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return gc_fail(err, GC_ERR_FORMAT, "%s: '%s' must be a number", file, key);
    *out = v->valuedouble;
    return GC_OK;
}

gc_status gc_json_bool(const cJSON *obj, const char *key, bool def, const char *file, bool *out, gc_error *err) {
    const cJSON *v = member(obj, key);
    *out = def;
    if (!v)
        return GC_OK;
    if (!cJSON_IsBool(v))
        return gc_fail(err, GC_ERR_FORMAT, "%s: '%s' must be true or false", file, key);
    *out = cJSON_IsTrue(v);
    return GC_OK;
}

gc_status gc_json_str(const cJSON *obj, const char *key, const char *file, const char **out, gc_error *err) {
    const cJSON *v = member(obj, key);
    *out = NULL;
    if (!v)
        return GC_OK;
    if (!cJSON_IsString(v))
        return gc_fail(err, GC_ERR_FORMAT, "%s: '%s' must be a string", file, key);
    *out = v->valuestring;
    return GC_OK;
}
