/* gguf.c - GGUF v3 metadata and tensor-info reader; see gguf.h. The model loader is in gguf_model.c and
 * the writer in gguf_writer.c. */
#include "model/gguf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"

#define GGUF_MAX_DEPTH 4 /* nested arrays deeper than this are refused */

/* A bounds-checked reader over the file's bytes. */
typedef struct rd {
    const unsigned char *p;
    size_t size, pos;
    const char *path;
    gc_error *err;
} rd;

static gc_status short_read(rd *r, const char *what, uint64_t need) {
    return gc_fail(r->err, GC_ERR_FORMAT, "%s: %s at offset %zu needs %" PRIu64 " bytes but the file ends at %zu",
                   r->path, what, r->pos, need, r->size);
}

static gc_status take(rd *r, uint64_t n, const char *what, const unsigned char **out) {
    if (n > r->size - r->pos)
        return short_read(r, what, n);
    *out = r->p + r->pos;
    r->pos += (size_t)n;
    return GC_OK;
}

/* Copies the next n bytes (a little-endian scalar on a little-endian host) into v. */
static gc_status rd_scalar(rd *r, const char *what, void *v, size_t n) {
    const unsigned char *b = NULL;
    gc_status s = take(r, n, what, &b);
    if (s == GC_OK)
        memcpy(v, b, n);
    return s;
}

static gc_status rd_u32(rd *r, const char *what, uint32_t *v) {
    return rd_scalar(r, what, v, 4);
}
static gc_status rd_u64(rd *r, const char *what, uint64_t *v) {
    return rd_scalar(r, what, v, 8);
}

static gc_status rd_str(rd *r, const char *what, gc_gguf_str *out) {
    const unsigned char *b = NULL;
    gc_status s = rd_u64(r, what, &out->len);
    if (s == GC_OK)
        s = take(r, out->len, what, &b);
    out->data = s == GC_OK ? (const char *)b : NULL;
    return s;
}

size_t gc_gguf_type_size(gc_gguf_type t) {
    static const size_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return (unsigned)t < sizeof sizes / sizeof sizes[0] ? sizes[t] : 0;
}

static bool valid_type(uint32_t t) {
    return t <= GC_GGUF_F64;
}

static gc_status skip_value(rd *r, uint32_t type, int depth, const char *key);

/* Skips an array body (element type, count, elements); checks the count against the bytes left first. */
static gc_status skip_array(rd *r, int depth, const char *key, uint32_t *elem, uint64_t *n) {
    gc_status s = rd_u32(r, "array type", elem);
    if (s == GC_OK)
        s = rd_u64(r, "array length", n);
    if (s != GC_OK)
        return s;
    if (!valid_type(*elem) || depth >= GGUF_MAX_DEPTH)
        return gc_fail(r->err, GC_ERR_FORMAT, "%s: key '%s' at offset %zu: bad array element type %u", r->path, key,
                       r->pos, *elem);
    size_t fixed = gc_gguf_type_size(*elem);
    if (fixed) {
        const unsigned char *b = NULL;
        if (*n > (r->size - r->pos) / fixed)
            return short_read(r, "array elements", *n);
        return take(r, *n * fixed, "array elements", &b);
    }
    uint64_t min_elem = *elem == GC_GGUF_STRING ? 8 : 12; /* a string's length / a nested array's header */
    if (*n > (r->size - r->pos) / min_elem)
        return short_read(r, "array elements", *n);
    for (uint64_t i = 0; i < *n && s == GC_OK; i++)
        s = skip_value(r, *elem, depth + 1, key);
    return s;
}

static gc_status skip_value(rd *r, uint32_t type, int depth, const char *key) {
    const unsigned char *b = NULL;
    gc_gguf_str str;
    uint32_t elem;
    uint64_t n;
    if (type == GC_GGUF_STRING)
        return rd_str(r, "string value", &str);
    if (type == GC_GGUF_ARRAY)
        return skip_array(r, depth, key, &elem, &n);
    if (!valid_type(type))
        return gc_fail(r->err, GC_ERR_FORMAT, "%s: key '%s' at offset %zu: unknown value type %u", r->path, key, r->pos,
                       type);
    return take(r, gc_gguf_type_size((gc_gguf_type)type), "value", &b);
}

static gc_status read_kv(rd *r, gc_gguf_kv *kv) {
    uint32_t type;
    gc_status s = rd_str(r, "key", &kv->key);
    if (s == GC_OK)
        s = rd_u32(r, "value type", &type);
    if (s != GC_OK)
        return s;
    char key[128];
    snprintf(key, sizeof key, "%.*s", (int)(kv->key.len < 100 ? kv->key.len : 100), kv->key.data);
    kv->type = (gc_gguf_type)type;
    kv->value_offset = r->pos;
    kv->value = r->p + r->pos;
    uint32_t elem = 0;
    if (type != GC_GGUF_ARRAY)
        s = skip_value(r, type, 0, key);
    else
        s = skip_array(r, 0, key, &elem, &kv->n);
    kv->elem_type = (gc_gguf_type)elem;
    kv->value = r->p + kv->value_offset + (type == GC_GGUF_ARRAY ? 12 : 0);
    kv->value_len = r->pos - kv->value_offset;
    return s;
}

static gc_status read_tensor_info(rd *r, gc_gguf_tensor_info *t) {
    gc_status s = rd_str(r, "tensor name", &t->name);
    if (s == GC_OK)
        s = rd_u32(r, "tensor n_dims", &t->n_dims);
    if (s != GC_OK)
        return s;
    if (t->n_dims < 1 || t->n_dims > 4)
        return gc_fail(r->err, GC_ERR_FORMAT, "%s: tensor '%.*s' at offset %zu: %u dimensions (1..4 supported)",
                       r->path, (int)(t->name.len < 96 ? t->name.len : 96), t->name.data, r->pos, t->n_dims);
    for (uint32_t i = 0; i < t->n_dims && s == GC_OK; i++)
        s = rd_u64(r, "tensor dims", &t->ne[i]);
    if (s == GC_OK)
        s = rd_u32(r, "tensor type", &t->ggml_type);
    if (s == GC_OK)
        s = rd_u64(r, "tensor offset", &t->offset);
    return s;
}

/* Counts must fit the bytes left (each item takes at least min_bytes) before anything is allocated. */
static gc_status check_count(rd *r, uint64_t n, uint64_t min_bytes, const char *what) {
    if (n > (r->size - r->pos) / min_bytes)
        return gc_fail(r->err, GC_ERR_FORMAT, "%s: %s count %" PRIu64 " cannot fit in the %zu bytes left at offset %zu",
                       r->path, what, n, r->size - r->pos, r->pos);
    return GC_OK;
}

static gc_status read_header(rd *r, gc_gguf *g) {
    const unsigned char *magic = NULL;
    gc_status s = take(r, 4, "magic", &magic);
    if (s == GC_OK && memcmp(magic, "GGUF", 4) != 0)
        return gc_fail(r->err, GC_ERR_FORMAT, "%s: not a GGUF file (bad magic)", r->path);
    if (s == GC_OK)
        s = rd_u32(r, "version", &g->version);
    if (s == GC_OK && g->version != 3 && g->version != 2)
        return gc_fail(r->err, GC_ERR_UNSUPPORTED, "%s: GGUF version %u (2 and 3 are supported)", r->path, g->version);
    if (s == GC_OK)
        s = rd_u64(r, "tensor count", &g->n_tensors);
    if (s == GC_OK)
        s = rd_u64(r, "metadata count", &g->n_kv);
    if (s == GC_OK)
        s = check_count(r, g->n_kv, 13, "metadata");
    if (s == GC_OK)
        s = check_count(r, g->n_tensors, 32, "tensor");
    return s;
}

static gc_status read_alignment(rd *r, gc_gguf *g) {
    g->alignment = GC_GGUF_ALIGNMENT;
    const gc_gguf_kv *kv = gc_gguf_find(g, "general.alignment");
    if (!kv)
        return GC_OK;
    int64_t a = 0;
    if (!gc_gguf_get_int(g, "general.alignment", &a) || a <= 0 || a > (1 << 20) || (a & (a - 1)) != 0)
        return gc_fail(r->err, GC_ERR_FORMAT, "%s: general.alignment at offset %" PRIu64 " must be a power of two",
                       r->path, kv->value_offset);
    g->alignment = (uint64_t)a;
    return GC_OK;
}

static gc_status parse(rd *r, gc_gguf *g) {
    gc_status s = read_header(r, g);
    if (s != GC_OK)
        return s;
    g->kv = calloc(g->n_kv ? g->n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors)
        return gc_fail(r->err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory", r->path);
    for (uint64_t i = 0; i < g->n_kv && s == GC_OK; i++)
        s = read_kv(r, &g->kv[i]);
    if (s == GC_OK)
        s = read_alignment(r, g);
    for (uint64_t i = 0; i < g->n_tensors && s == GC_OK; i++)
        s = read_tensor_info(r, &g->tensors[i]);
    if (s != GC_OK)
        return s;
    uint64_t pad = (g->alignment - r->pos % g->alignment) % g->alignment;
    g->data_offset = r->pos + pad; /* may equal the file size when there are no tensors */
    if (g->n_tensors > 0 && g->data_offset > r->size)
        return short_read(r, "padding before tensor data", pad);
    return GC_OK;
}

gc_status gc_gguf_parse(const char *path, const unsigned char *data, size_t size, gc_gguf **out, gc_error *err) {
    *out = NULL;
    gc_gguf *g = calloc(1, sizeof *g);
    if (!g)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory", path);
    snprintf(g->path, sizeof g->path, "%s", path);
    g->data = data;
    g->size = size;
    rd r = {data, size, 0, path, err};
    gc_status s = parse(&r, g);
    if (s != GC_OK) {
        gc_gguf_free(g);
        return s;
    }
    *out = g;
    return GC_OK;
}

void gc_gguf_free(gc_gguf *g) {
    if (!g)
        return;
    free(g->kv);
    free(g->tensors);
    free(g);
}

const gc_gguf_kv *gc_gguf_find(const gc_gguf *g, const char *key) {
    size_t len = strlen(key);
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].key.len == len && memcmp(g->kv[i].key.data, key, len) == 0)
            return &g->kv[i];
    return NULL;
}

/* A scalar of an integer/bool type as int64 (false for other types). */
static bool scalar_int(gc_gguf_type t, const unsigned char *v, int64_t *out) {
    uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32; uint64_t u64; int64_t i64;
    switch (t) {
    case GC_GGUF_U8: case GC_GGUF_BOOL: memcpy(&u8, v, 1); *out = u8; return true;
    case GC_GGUF_I8: memcpy(&i8, v, 1); *out = i8; return true;
    case GC_GGUF_U16: memcpy(&u16, v, 2); *out = u16; return true;
    case GC_GGUF_I16: memcpy(&i16, v, 2); *out = i16; return true;
    case GC_GGUF_U32: memcpy(&u32, v, 4); *out = u32; return true;
    case GC_GGUF_I32: memcpy(&i32, v, 4); *out = i32; return true;
    case GC_GGUF_U64: memcpy(&u64, v, 8); *out = u64 > INT64_MAX ? INT64_MAX : (int64_t)u64; return true;
    case GC_GGUF_I64: memcpy(&i64, v, 8); *out = i64; return true;
    default: return false;
    }
}

bool gc_gguf_get_int(const gc_gguf *g, const char *key, int64_t *out) {
    const gc_gguf_kv *kv = gc_gguf_find(g, key);
    return kv && scalar_int(kv->type, kv->value, out);
}

bool gc_gguf_get_float(const gc_gguf *g, const char *key, double *out) {
    const gc_gguf_kv *kv = gc_gguf_find(g, key);
    int64_t i;
    if (!kv)
        return false;
    if (kv->type == GC_GGUF_F32) {
        float f;
        memcpy(&f, kv->value, 4);
        *out = f;
        return true;
    }
    if (kv->type == GC_GGUF_F64) {
        memcpy(out, kv->value, 8);
        return true;
    }
    if (!scalar_int(kv->type, kv->value, &i))
        return false;
    *out = (double)i;
    return true;
}

bool gc_gguf_get_str(const gc_gguf *g, const char *key, gc_gguf_str *out) {
    const gc_gguf_kv *kv = gc_gguf_find(g, key);
    if (!kv || kv->type != GC_GGUF_STRING)
        return false;
    memcpy(&out->len, kv->value, 8);
    out->data = (const char *)kv->value + 8;
    return true;
}

bool gc_gguf_get_array(const gc_gguf *g, const char *key, gc_gguf_type *elem_type, uint64_t *n) {
    const gc_gguf_kv *kv = gc_gguf_find(g, key);
    if (!kv || kv->type != GC_GGUF_ARRAY)
        return false;
    *elem_type = kv->elem_type;
    *n = kv->n;
    return true;
}

gc_status gc_gguf_array_strings(const gc_gguf_kv *kv, const char ***strs, size_t **lens, gc_error *err) {
    *strs = NULL;
    *lens = NULL;
    if (kv->type != GC_GGUF_ARRAY || kv->elem_type != GC_GGUF_STRING)
        return gc_fail(err, GC_ERR_FORMAT, "key '%.*s' is not an array of strings", (int)kv->key.len, kv->key.data);
    *strs = malloc((kv->n ? kv->n : 1) * sizeof **strs);
    *lens = malloc((kv->n ? kv->n : 1) * sizeof **lens);
    if (!*strs || !*lens) {
        free(*strs), free(*lens);
        *strs = NULL, *lens = NULL;
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    const unsigned char *p = kv->value; /* the parser already checked every length against the file */
    for (uint64_t i = 0; i < kv->n; i++) {
        uint64_t len;
        memcpy(&len, p, 8);
        (*strs)[i] = (const char *)p + 8;
        (*lens)[i] = (size_t)len;
        p += 8 + len;
    }
    return GC_OK;
}

/* ggml type id of each gc_dtype, in enum order. */
static const uint32_t ggml_of_dtype[GC_DTYPE_COUNT] = {
    GC_GGML_F32,  GC_GGML_F16,  GC_GGML_BF16, GC_GGML_Q8_0, GC_GGML_Q4_0, GC_GGML_Q4_1, GC_GGML_Q5_0,
    GC_GGML_Q5_1, GC_GGML_Q2_K, GC_GGML_Q3_K, GC_GGML_Q4_K, GC_GGML_Q5_K, GC_GGML_Q6_K, GC_GGML_IQ4_NL,
};

bool gc_gguf_dtype_of(uint32_t ggml_type, gc_dtype *out) {
    for (int t = 0; t < GC_DTYPE_COUNT; t++)
        if (ggml_of_dtype[t] == ggml_type) {
            *out = (gc_dtype)t;
            return true;
        }
    return false;
}

uint32_t gc_gguf_ggml_type(gc_dtype t) {
    return (unsigned)t < GC_DTYPE_COUNT ? ggml_of_dtype[t] : GC_GGML_F32;
}
