/* gguf.h - GGUF v3 files (llama.cpp): metadata reader, model tensors, and a streaming writer.
 *
 * Layout (little-endian): "GGUF", u32 version, u64 n_tensors, u64 n_kv; n_kv x {string key, u32 type,
 * value}; n_tensors x {string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset}; padding to
 * general.alignment (default 32); tensor data. A string is u64 length + bytes (no NUL). ne[0] is the
 * fastest dimension, so ne = {in, out} is our row-major [out, in].
 *
 * Reading: every count and length is checked against the bytes left before anything is allocated, so a
 * hostile file fails with a message instead of a huge allocation. Strings point into the caller's bytes. */
#ifndef GC_MODEL_GGUF_H
#define GC_MODEL_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/types.h"

typedef enum gc_gguf_type {
    GC_GGUF_U8 = 0, GC_GGUF_I8 = 1, GC_GGUF_U16 = 2, GC_GGUF_I16 = 3, GC_GGUF_U32 = 4, GC_GGUF_I32 = 5,
    GC_GGUF_F32 = 6, GC_GGUF_BOOL = 7, GC_GGUF_STRING = 8, GC_GGUF_ARRAY = 9, GC_GGUF_U64 = 10,
    GC_GGUF_I64 = 11, GC_GGUF_F64 = 12,
} gc_gguf_type;

/* ggml tensor type ids (ggml.h's enum ggml_type) of the types gemcl reads and writes. */
enum {
    GC_GGML_F32 = 0, GC_GGML_F16 = 1, GC_GGML_Q4_0 = 2, GC_GGML_Q4_1 = 3, GC_GGML_Q5_0 = 6, GC_GGML_Q5_1 = 7,
    GC_GGML_Q8_0 = 8, GC_GGML_Q2_K = 10, GC_GGML_Q3_K = 11, GC_GGML_Q4_K = 12, GC_GGML_Q5_K = 13, GC_GGML_Q6_K = 14,
    GC_GGML_IQ4_NL = 20, GC_GGML_BF16 = 30
};

typedef struct gc_gguf_str {
    const char *data; /* not NUL-terminated */
    uint64_t len;
} gc_gguf_str;

typedef struct gc_gguf_kv {
    gc_gguf_str key;
    gc_gguf_type type;
    gc_gguf_type elem_type;      /* arrays: the element type */
    uint64_t n;                  /* arrays: the element count */
    const unsigned char *value;  /* the value's bytes (for arrays: the first element) */
    uint64_t value_offset;       /* file offset of value, for messages */
    uint64_t value_len;          /* bytes from value_offset to the end of the value (arrays: with header) */
} gc_gguf_kv;

typedef struct gc_gguf_tensor_info {
    gc_gguf_str name;
    uint32_t n_dims;
    uint64_t ne[4];
    uint32_t ggml_type;
    uint64_t offset;             /* relative to data_offset */
} gc_gguf_tensor_info;

typedef struct gc_gguf {
    char path[1024];
    const unsigned char *data;   /* the whole file (borrowed) */
    size_t size;
    uint32_t version;
    uint64_t n_kv, n_tensors;
    gc_gguf_kv *kv;              /* [n_kv] */
    gc_gguf_tensor_info *tensors; /* [n_tensors] */
    uint64_t alignment;
    uint64_t data_offset;        /* start of the tensor data section */
} gc_gguf;

/* Parses size bytes (borrowed: they must outlive *out). path is for messages. Free with gc_gguf_free. */
gc_status gc_gguf_parse(const char *path, const unsigned char *data, size_t size, gc_gguf **out, gc_error *err);
void gc_gguf_free(gc_gguf *g);

/* Metadata lookups by key; false when absent or of another kind. Integers of any width (and bool) read
 * as int; f32/f64 (and integers) as float. */
const gc_gguf_kv *gc_gguf_find(const gc_gguf *g, const char *key);
bool gc_gguf_get_int(const gc_gguf *g, const char *key, int64_t *out);
bool gc_gguf_get_float(const gc_gguf *g, const char *key, double *out);
bool gc_gguf_get_str(const gc_gguf *g, const char *key, gc_gguf_str *out);
/* An array's element type and count; elements of fixed size are at kv->value + i * size. */
bool gc_gguf_get_array(const gc_gguf *g, const char *key, gc_gguf_type *elem_type, uint64_t *n);

/* Bytes of one element of a fixed-size type (0 for strings and arrays). */
size_t gc_gguf_type_size(gc_gguf_type t);

/* The strings of a string array: *strs and *lens are malloc'd [kv->n] arrays pointing into the file. */
gc_status gc_gguf_array_strings(const gc_gguf_kv *kv, const char ***strs, size_t **lens, gc_error *err);

/* ggml type id <-> dtype. */
bool gc_gguf_dtype_of(uint32_t ggml_type, gc_dtype *out);
uint32_t gc_gguf_ggml_type(gc_dtype t);

/* ---- writer ---- */

typedef struct gc_gguf_writer gc_gguf_writer;

/* Starts a GGUF in memory (metadata and tensor infos are small); nothing is written until
 * gc_gguf_writer_begin_data. */
gc_gguf_writer *gc_gguf_writer_create(void);
void gc_gguf_writer_free(gc_gguf_writer *w);

void gc_gguf_writer_add_u32(gc_gguf_writer *w, const char *key, uint32_t v);
void gc_gguf_writer_add_i32(gc_gguf_writer *w, const char *key, int32_t v);
void gc_gguf_writer_add_f32(gc_gguf_writer *w, const char *key, float v);
void gc_gguf_writer_add_bool(gc_gguf_writer *w, const char *key, bool v);
void gc_gguf_writer_add_str(gc_gguf_writer *w, const char *key, const char *v, size_t len);
/* Arrays: strings (explicit lengths), or fixed-size elements of type elem_type copied from values. */
void gc_gguf_writer_add_str_array(gc_gguf_writer *w, const char *key, const char *const *strs, const size_t *lens,
                                  uint64_t n);
void gc_gguf_writer_add_array(gc_gguf_writer *w, const char *key, gc_gguf_type elem_type, const void *values,
                              uint64_t n);
/* Copies a key/value read by gc_gguf_parse unchanged (any type, nested arrays included). */
void gc_gguf_writer_add_kv(gc_gguf_writer *w, const gc_gguf *src, const gc_gguf_kv *kv);
/* Declares the next tensor (name, dtype, row-major shape); data follows in declaration order. */
void gc_gguf_writer_add_tensor(gc_gguf_writer *w, const char *name, gc_dtype dtype, int n_dims, const int64_t *shape);

/* The serialised header (magic .. tensor infos + padding to 32): *out is malloc'd, *len bytes, and
 * tensor i's data must start at *len + the i-th aligned offset. Fails on allocation failure. */
gc_status gc_gguf_writer_header(gc_gguf_writer *w, unsigned char **out, size_t *len, gc_error *err);

#define GC_GGUF_ALIGNMENT 32

#endif
