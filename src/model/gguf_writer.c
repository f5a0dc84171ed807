/* gguf_writer.c - builds a GGUF header (metadata + tensor infos) in memory; the caller streams the tensor
 * data after it (see export.c). Allocation failures are remembered and reported once by
 * gc_gguf_writer_header. */
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/model_internal.h"

typedef struct bytes {
    unsigned char *p;
    size_t len, cap;
} bytes;

struct gc_gguf_writer {
    bytes kv, infos;
    uint64_t n_kv, n_tensors;
    uint64_t data_pos; /* next tensor's offset in the data section */
    bool failed;
};

static void put(gc_gguf_writer *w, bytes *b, const void *src, size_t n) {
    if (w->failed)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            w->failed = true;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void put_u32(gc_gguf_writer *w, bytes *b, uint32_t v) {
    put(w, b, &v, 4);
}

static void put_u64(gc_gguf_writer *w, bytes *b, uint64_t v) {
    put(w, b, &v, 8);
}

static void put_str(gc_gguf_writer *w, bytes *b, const char *s, size_t len) {
    put_u64(w, b, len);
    put(w, b, s, len);
}

static void put_key(gc_gguf_writer *w, const char *key, gc_gguf_type type) {
    put_str(w, &w->kv, key, strlen(key));
    put_u32(w, &w->kv, type);
    w->n_kv++;
}

gc_gguf_writer *gc_gguf_writer_create(void) {
    return calloc(1, sizeof(gc_gguf_writer));
}

void gc_gguf_writer_free(gc_gguf_writer *w) {
    if (w) {
        free(w->kv.p);
        free(w->infos.p);
        free(w);
    }
}

void gc_gguf_writer_add_u32(gc_gguf_writer *w, const char *key, uint32_t v) {
    put_key(w, key, GC_GGUF_U32);
    put(w, &w->kv, &v, 4);
}

void gc_gguf_writer_add_i32(gc_gguf_writer *w, const char *key, int32_t v) {
    put_key(w, key, GC_GGUF_I32);
    put(w, &w->kv, &v, 4);
}

void gc_gguf_writer_add_f32(gc_gguf_writer *w, const char *key, float v) {
    put_key(w, key, GC_GGUF_F32);
    put(w, &w->kv, &v, 4);
}

void gc_gguf_writer_add_bool(gc_gguf_writer *w, const char *key, bool v) {
    unsigned char b = v;
    put_key(w, key, GC_GGUF_BOOL);
    put(w, &w->kv, &b, 1);
}

void gc_gguf_writer_add_str(gc_gguf_writer *w, const char *key, const char *v, size_t len) {
    put_key(w, key, GC_GGUF_STRING);
    put_str(w, &w->kv, v, len);
}

void gc_gguf_writer_add_str_array(gc_gguf_writer *w, const char *key, const char *const *strs, const size_t *lens,
                                  uint64_t n) {
    put_key(w, key, GC_GGUF_ARRAY);
    put_u32(w, &w->kv, GC_GGUF_STRING);
    put_u64(w, &w->kv, n);
    for (uint64_t i = 0; i < n; i++)
        put_str(w, &w->kv, strs[i], lens[i]);
}

void gc_gguf_writer_add_array(gc_gguf_writer *w, const char *key, gc_gguf_type elem_type, const void *values,
                              uint64_t n) {
    put_key(w, key, GC_GGUF_ARRAY);
    put_u32(w, &w->kv, elem_type);
    put_u64(w, &w->kv, n);
    put(w, &w->kv, values, (size_t)n * gc_gguf_type_size(elem_type));
}

void gc_gguf_writer_add_kv(gc_gguf_writer *w, const gc_gguf *src, const gc_gguf_kv *kv) {
    put_str(w, &w->kv, kv->key.data, (size_t)kv->key.len);
    put_u32(w, &w->kv, kv->type);
    put(w, &w->kv, src->data + kv->value_offset, (size_t)kv->value_len);
    w->n_kv++;
}

void gc_gguf_writer_add_tensor(gc_gguf_writer *w, const char *name, gc_dtype dtype, int n_dims, const int64_t *shape) {
    put_str(w, &w->infos, name, strlen(name));
    put_u32(w, &w->infos, (uint32_t)n_dims);
    size_t nbytes = gc_dtype_row_bytes(dtype, shape[n_dims - 1]);
    for (int d = n_dims - 1; d >= 0; d--) /* ggml order: fastest dimension first */
        put_u64(w, &w->infos, (uint64_t)shape[d]);
    for (int d = 0; d < n_dims - 1; d++)
        nbytes *= (size_t)shape[d];
    put_u32(w, &w->infos, gc_gguf_ggml_type(dtype));
    put_u64(w, &w->infos, w->data_pos);
    w->data_pos += (nbytes + GC_GGUF_ALIGNMENT - 1) / GC_GGUF_ALIGNMENT * GC_GGUF_ALIGNMENT;
    w->n_tensors++;
}

gc_status gc_gguf_writer_header(gc_gguf_writer *w, unsigned char **out, size_t *len, gc_error *err) {
    bytes h = {0};
    put(w, &h, "GGUF", 4);
    put_u32(w, &h, 3);
    put_u64(w, &h, w->n_tensors);
    put_u64(w, &h, w->n_kv);
    put(w, &h, w->kv.p, w->kv.len);
    put(w, &h, w->infos.p, w->infos.len);
    static const unsigned char zeros[GC_GGUF_ALIGNMENT] = {0};
    put(w, &h, zeros, (GC_GGUF_ALIGNMENT - h.len % GC_GGUF_ALIGNMENT) % GC_GGUF_ALIGNMENT);
    if (w->failed) {
        free(h.p);
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory while building a GGUF header");
    }
    *out = h.p;
    *len = h.len;
    return GC_OK;
}
