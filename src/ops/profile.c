/* profile.c - per-device tuning profiles as data (see profile.h): the field table, the JSON reader with its
 * range checks, the built-in profiles, the lookup order and the writer `gemcl tune` uses. */
#define _POSIX_C_SOURCE 200809L
#include "ops/profile.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/json.h"

typedef enum value_rule {
    RULE_RANGE,     /* any integer in [lo, hi] */
    RULE_POW2,      /* a power of two in [lo, hi] */
    RULE_MULT32,    /* a multiple of 32 in [lo, hi] (whole q8_0 blocks per GEMM tile) */
    RULE_ATTN_ROWS, /* 0, 2, 4, 8 or 16 (the float vector widths of attention_rows) */
    RULE_BOOL,      /* true or false */
} value_rule;

typedef struct field_spec {
    const char *key;
    size_t offset; /* of an int, or of a bool for RULE_BOOL */
    value_rule rule;
    int lo, hi;
} field_spec;

#define FIELD(name, rule, lo, hi) {#name, offsetof(gc_ops_profile, name), rule, lo, hi}

/* Indexed by gc_profile_field. The bounds keep work-groups and local tiles within what OpenCL 1.2 devices
 * offer; a device with less refuses the launch, which `gemcl tune` reports as a skipped candidate. */
static const field_spec fields[GC_PROFILE_FIELD_COUNT] = {
    FIELD(gemv_max_n, RULE_RANGE, 1, 64), /* >= 1: decode (n = 1) never goes through GEMM */
    FIELD(gemv_local, RULE_POW2, 1, 1024),
    FIELD(gemv_rows, RULE_RANGE, 1, 1024),
    FIELD(gemv_rows_x, RULE_RANGE, 1, 16),
    FIELD(gemm_f32_clblast, RULE_BOOL, 0, 1),
    FIELD(gemm_tm, RULE_RANGE, 1, 32),
    FIELD(gemm_wn, RULE_RANGE, 1, 64),
    FIELD(gemm_wm, RULE_RANGE, 1, 64),
    FIELD(gemm_kb, RULE_MULT32, 32, 1024),
    FIELD(norm_local, RULE_POW2, 1, 1024),
    FIELD(attn_split_keys, RULE_RANGE, 1, 1 << 20),
    FIELD(attn_split_max_n, RULE_RANGE, 0, 64),
    FIELD(attn_rows, RULE_ATTN_ROWS, 0, 16),
    FIELD(attn_keys, RULE_RANGE, 1, 128),
    FIELD(attn_local_wg, RULE_RANGE, 0, 1024),
    FIELD(reduce_local, RULE_POW2, 1, 1024),
    FIELD(select_local, RULE_RANGE, 1, 1024), /* score, pool and top-k run any local size */
    FIELD(topk_local, RULE_RANGE, 1, 1024),
    FIELD(topk_items, RULE_RANGE, 1, 1 << 24),
    FIELD(gemv_f16_math, RULE_BOOL, 0, 1),
    FIELD(q8_int_dot, RULE_BOOL, 0, 1),
    FIELD(gemm_q8_int, RULE_RANGE, 0, 2),
};

/* Strings a profile may carry for its readers; gemcl ignores their values. */
static const char *const note_keys[] = {"about", "date", "device"};

const char *gc_ops_profile_key(gc_profile_field f) {
    return fields[f].key;
}

int gc_ops_profile_get(const gc_ops_profile *p, gc_profile_field f) {
    const char *at = (const char *)p + fields[f].offset;
    return fields[f].rule == RULE_BOOL ? (int)*(const bool *)at : *(const int *)at;
}

void gc_ops_profile_set(gc_ops_profile *p, gc_profile_field f, int value) {
    char *at = (char *)p + fields[f].offset;
    if (fields[f].rule == RULE_BOOL)
        *(bool *)at = value != 0;
    else
        *(int *)at = value;
}

gc_status gc_ops_profile_check_value(gc_profile_field f, int value, const char *file, gc_error *err) {
    const field_spec *s = &fields[f];
    if (value < s->lo || value > s->hi)
        return gc_fail(err, GC_ERR_FORMAT, "%s: '%s' must be in [%d, %d] (got %d)", file, s->key, s->lo, s->hi, value);
    if (s->rule == RULE_POW2 && (value & (value - 1)) != 0)
        return gc_fail(err, GC_ERR_FORMAT, "%s: '%s' must be a power of two (got %d)", file, s->key, value);
    if (s->rule == RULE_MULT32 && value % 32 != 0)
        return gc_fail(err, GC_ERR_FORMAT, "%s: '%s' must be a multiple of 32 (got %d)", file, s->key, value);
    if (s->rule == RULE_ATTN_ROWS && value != 0 && value != 2 && value != 4 && value != 8 && value != 16)
        return gc_fail(err, GC_ERR_FORMAT, "%s: '%s' must be 0, 2, 4, 8 or 16 (got %d)", file, s->key, value);
    return GC_OK;
}

static int field_of_key(const char *key) {
    for (int f = 0; f < GC_PROFILE_FIELD_COUNT; f++)
        if (strcmp(fields[f].key, key) == 0)
            return f;
    return -1;
}

static bool is_note_key(const char *key) {
    for (size_t i = 0; i < sizeof note_keys / sizeof note_keys[0]; i++)
        if (strcmp(note_keys[i], key) == 0)
            return true;
    return false;
}

static gc_status unknown_key(const char *key, const char *file, gc_error *err) {
    char shown[64], known[512] = "";
    size_t used = 0, n = 0;
    for (; key[n] && n + 1 < sizeof shown; n++) /* printable, so that the message stays one line */
        shown[n] = (unsigned char)key[n] < 0x20 || key[n] == 0x7f ? '?' : key[n];
    shown[n] = '\0';
    for (int f = 0; f < GC_PROFILE_FIELD_COUNT && used < sizeof known; f++)
        used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", f ? ", " : "", fields[f].key);
    return gc_fail(err, GC_ERR_FORMAT, "%s: unknown key '%s' (a profile has about, date, device and %s)", file, shown,
                   known);
}

/* Reads one member of the profile object into p (its type and range checked); seen collects the fields. */
static gc_status apply_member(gc_ops_profile *p, const cJSON *item, const char *file, uint32_t *seen, gc_error *err) {
    const char *key = item->string ? item->string : "";
    if (is_note_key(key))
        return cJSON_IsString(item) ? GC_OK : gc_fail(err, GC_ERR_FORMAT, "%s: '%s' must be a string", file, key);
    int f = field_of_key(key);
    if (f < 0)
        return unknown_key(key, file, err);
    if (*seen & (1u << f))
        return gc_fail(err, GC_ERR_FORMAT, "%s: '%s' appears twice", file, key);
    *seen |= 1u << f;
    const field_spec *s = &fields[f];
    if (s->rule == RULE_BOOL) {
        if (!cJSON_IsBool(item))
            return gc_fail(err, GC_ERR_FORMAT, "%s: '%s' must be true or false", file, key);
        gc_ops_profile_set(p, (gc_profile_field)f, cJSON_IsTrue(item));
        return GC_OK;
    }
    char what[48];
    snprintf(what, sizeof what, "'%s'", key);
    int64_t v;
    gc_status st = gc_json_check_int(item, s->lo, s->hi, file, what, &v, err);
    if (st == GC_OK)
        st = gc_ops_profile_check_value((gc_profile_field)f, (int)v, file, err);
    if (st == GC_OK)
        gc_ops_profile_set(p, (gc_profile_field)f, (int)v);
    return st;
}

gc_status gc_ops_profile_apply(gc_ops_profile *p, const char *json, size_t len, const char *file, uint32_t *fields_set,
                               gc_error *err) {
    cJSON *root;
    gc_status st = gc_json_parse(json, len, file, &root, err);
    if (st != GC_OK)
        return st;
    gc_ops_profile next = *p;
    uint32_t seen = 0;
    if (!cJSON_IsObject(root))
        st = gc_fail(err, GC_ERR_FORMAT, "%s: a profile must be a JSON object", file);
    for (const cJSON *item = root->child; st == GC_OK && item; item = item->next)
        st = apply_member(&next, item, file, &seen, err);
    cJSON_Delete(root);
    if (st != GC_OK)
        return st;
    *p = next;
    if (fields_set)
        *fields_set = seen;
    return GC_OK;
}

gc_status gc_ops_profile_apply_file(gc_ops_profile *p, const char *path, gc_error *err) {
    char *text = NULL;
    size_t len = 0;
    gc_status st = gc_file_read(path, &text, &len, err);
    if (st == GC_OK)
        st = gc_ops_profile_apply(p, text, len, path, NULL, err);
    if (st == GC_OK)
        snprintf(p->file, sizeof p->file, "%s", path);
    free(text);
    return st;
}

gc_status gc_ops_profile_builtin(const char *name, gc_ops_profile *out, gc_error *err) {
    for (const gc_json_source *s = gc_profile_sources; s->name; s++) {
        if (strcmp(s->name, name) != 0)
            continue;
        gc_ops_profile p = {0};
        snprintf(p.name, sizeof p.name, "%s", name);
        char file[64];
        snprintf(file, sizeof file, "built-in cl/profiles/%s.json", name);
        uint32_t set = 0;
        gc_status st = gc_ops_profile_apply(&p, s->json, s->len, file, &set, err);
        for (int f = 0; st == GC_OK && f < GC_PROFILE_FIELD_COUNT; f++)
            if (!(set & (1u << f)))
                st = gc_fail(err, GC_ERR_FORMAT, "%s: '%s' is missing", file, fields[f].key);
        if (st == GC_OK)
            *out = p;
        return st;
    }
    return gc_fail(err, GC_ERR_NOT_FOUND, "no built-in profile '%s' (built in: cpu, gpu)", name);
}

const char *gc_ops_profile_builtin_name(const gc_device_info *dev) {
    return dev->type == GC_DEVICE_TYPE_CPU ? "cpu" : "gpu";
}

/* Appends s to out (cap bytes) keeping [A-Za-z0-9.], every other run of characters one '-', none at the ends. */
static void append_sanitised(char *out, size_t cap, const char *s) {
    size_t n = strlen(out);
    bool dash = false;
    for (; *s && n + 2 < cap; s++) {
        char c = *s;
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.';
        if (!keep) {
            dash = true;
            continue;
        }
        if (dash && n > 0 && out[n - 1] != '_')
            out[n++] = '-';
        dash = false;
        out[n++] = c;
    }
    out[n] = '\0';
}

bool gc_ops_profile_device_path(const char *cache_dir, const gc_device_info *dev, char *out, size_t len) {
    out[0] = '\0';
    if (!cache_dir || !*cache_dir)
        return false;
    char name[200] = "";
    append_sanitised(name, 120, dev->name);
    snprintf(name + strlen(name), sizeof name - strlen(name), "_");
    append_sanitised(name, sizeof name, dev->driver_version);
    snprintf(out, len, "%s/profiles/%s.json", cache_dir, name);
    return true;
}

/* A work-group of `items` work-items, `key` naming the tunables that make it, within the device's limit. */
static gc_status check_group(size_t items, size_t dim_x, size_t dim_y, const gc_device *dev, const char *file,
                             const char *key, gc_error *err) {
    if (dev->max_work_group_size && items > dev->max_work_group_size)
        return gc_fail(err, GC_ERR_FORMAT, "%s: %s make a work-group of %zu work-items; device '%s' runs at most %zu",
                       file, key, items, dev->info.name, dev->max_work_group_size);
    if ((dev->max_work_item_sizes[0] && dim_x > dev->max_work_item_sizes[0]) ||
        (dev->max_work_item_sizes[1] && dim_y > dev->max_work_item_sizes[1]))
        return gc_fail(err, GC_ERR_FORMAT, "%s: %s make a work-group of %zu x %zu; device '%s' allows %zu x %zu", file,
                       key, dim_x, dim_y, dev->info.name, dev->max_work_item_sizes[0], dev->max_work_item_sizes[1]);
    return GC_OK;
}

gc_status gc_ops_profile_check_device(const gc_ops_profile *p, const gc_device *dev, const char *file, gc_error *err) {
    size_t wn = (size_t)p->gemm_wn, wm = (size_t)p->gemm_wm, group = wn * wm;
    size_t local_bytes = (size_t)p->gemm_kb * 16 * wn * sizeof(float);
    size_t private_bytes = group * (size_t)p->gemm_tm * 16 * sizeof(float) * 2;
    gc_status st = check_group(group, wn, wm, dev, file, "'gemm_wn' x 'gemm_wm'", err);
    if (st == GC_OK && dev->info.local_mem_bytes && local_bytes > dev->info.local_mem_bytes)
        st = gc_fail(err, GC_ERR_FORMAT,
                     "%s: 'gemm_kb' x 16 'gemm_wn' floats need %zu bytes of local memory; device '%s' has %llu", file,
                     local_bytes, dev->info.name, (unsigned long long)dev->info.local_mem_bytes);
    if (st == GC_OK && private_bytes > GC_PROFILE_GEMM_PRIVATE_MAX_BYTES)
        st = gc_fail(err, GC_ERR_FORMAT,
                     "%s: 'gemm_tm' x 'gemm_wn' x 'gemm_wm' = %d x %d x %d need %zu private bytes per work-group, "
                     "more than a GEMM work-group can hold (%zu)",
                     file, p->gemm_tm, p->gemm_wn, p->gemm_wm, private_bytes, GC_PROFILE_GEMM_PRIVATE_MAX_BYTES);
    if (st == GC_OK)
        st = check_group((size_t)p->gemv_local * (size_t)p->gemv_rows, (size_t)p->gemv_local, (size_t)p->gemv_rows,
                         dev, file, "'gemv_local' x 'gemv_rows'", err);
    if (st == GC_OK)
        st = check_group((size_t)p->norm_local, (size_t)p->norm_local, 1, dev, file, "'norm_local'", err);
    if (st == GC_OK)
        st = check_group((size_t)p->reduce_local, (size_t)p->reduce_local, 1, dev, file, "'reduce_local'", err);
    return st;
}

gc_status gc_ops_profile_for(const gc_device *device, const char *cache_dir, gc_ops_profile *out, gc_error *err) {
    const gc_device_info *dev = &device->info;
    gc_status st = gc_ops_profile_builtin(gc_ops_profile_builtin_name(dev), out, err);
    const char *env = getenv("GEMCL_PROFILE");
    bool from_env = env && *env;
    char path[sizeof out->file];
    if (st != GC_OK)
        return st;
    if (from_env)
        snprintf(path, sizeof path, "%s", env);
    else if (!gc_ops_profile_device_path(cache_dir, dev, path, sizeof path) || access(path, F_OK) != 0)
        return GC_OK;
    gc_ops_profile applied = *out; /* a file refused by the device check leaves the built-in values too */
    st = gc_ops_profile_apply_file(&applied, path, err);
    if (st == GC_OK)
        st = gc_ops_profile_check_device(&applied, device, path, err);
    if (st == GC_OK)
        *out = applied;
    if (st != GC_OK) {
        snprintf(out->file, sizeof out->file, "%s", path);
        gc_error_prefix(err, "%s", from_env ? "GEMCL_PROFILE" : "tuned profile (rerun gemcl tune, or delete it)");
    }
    return st;
}

/* Builds the profile object: the notes, then the fields in the mask. NULL when out of memory. */
static cJSON *profile_object(const gc_ops_profile *p, uint32_t fields_mask, const char *about, const char *device) {
    char date[32];
    time_t now = time(NULL);
    struct tm utc;
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &utc));
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddStringToObject(o, "about", about ? about : "") &&
              cJSON_AddStringToObject(o, "date", date) && cJSON_AddStringToObject(o, "device", device ? device : "");
    for (int f = 0; ok && f < GC_PROFILE_FIELD_COUNT; f++) {
        if (!(fields_mask & (1u << f)))
            continue;
        int v = gc_ops_profile_get(p, (gc_profile_field)f);
        ok = fields[f].rule == RULE_BOOL ? cJSON_AddBoolToObject(o, fields[f].key, v) != NULL
                                         : cJSON_AddNumberToObject(o, fields[f].key, v) != NULL;
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

gc_status gc_ops_profile_write(const gc_ops_profile *p, uint32_t fields_mask, const char *about, const char *device,
                               const char *path, gc_error *err) {
    cJSON *o = profile_object(p, fields_mask, about, device);
    char *text = o ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    if (!text)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory writing profile %s", path);
    char dir[1200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    gc_status st = GC_OK;
    if (slash && slash != dir) {
        *slash = '\0';
        st = gc_mkdir_p(dir, err);
    }
    if (st == GC_OK) {
        size_t len = strlen(text);
        text[len] = '\n'; /* cJSON_Print ends without one; the NUL is no longer needed */
        st = gc_file_write_atomic(path, text, len + 1, err);
    }
    cJSON_free(text);
    return st;
}
