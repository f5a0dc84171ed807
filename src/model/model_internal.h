/* model_internal.h - what the format loaders share: the model's private state (mappings, owned buffers,
 * the file-level tensor list), overflow-safe tensor binding, row views, and the one shape check every
 * format goes through. Not part of the engine's contract (that is model.h). */
#ifndef GC_MODEL_INTERNAL_H
#define GC_MODEL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"
#include "util/fileio.h"

struct gc_gguf;

typedef struct gc_model_priv {
    gc_mapped_file *maps;   /* [n_maps] every file the views point into */
    int n_maps;
    void **owned;           /* [n_owned] malloc'd buffers the model frees */
    int n_owned;
    gc_tensor *tensors;     /* [n_tensors] the tensors as the file names them (stacked, fused) */
    int n_tensors;
    int cap_tensors;
    struct gc_gguf *gguf;   /* the GGUF metadata when format is "gguf" */
    const char *tokenizer_override; /* gc_model_open_params.tokenizer_path, borrowed during open */
    bool maps0_borrowed;    /* maps[0] is caller memory (gc_model_open_memory): not unmapped */
} gc_model_priv;

static inline gc_model_priv *gc_model_priv_of(const gc_model_file *m) {
    return (gc_model_priv *)m->priv;
}

/* Overflow-safe arithmetic: return false on overflow. */
static inline bool gc_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}
static inline bool gc_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}

/* Sets a tensor's name, dtype and shape (n_dims values from dims); data stays NULL. */
void gc_tensor_describe(gc_tensor *t, const char *name, gc_dtype dtype, int n_dims, const int64_t *dims);

/* Bytes the tensor's dtype and shape need, with every product checked; fails on a non-positive dim or a
 * Q8_0 row that is not a multiple of 32. `file` is for the message. */
gc_status gc_tensor_expected_bytes(const gc_tensor *t, const char *file, uint64_t offset, uint64_t *nbytes,
                                   gc_error *err);

/* Fails unless [offset, offset + nbytes) lies inside map (overflow-safe); name is for the message. */
gc_status gc_check_range(const gc_mapped_file *map, const char *file, const char *name, uint64_t offset,
                         uint64_t nbytes, gc_error *err);

/* Points t at [offset, offset + expected bytes) of map after checking the range lies inside the file.
 * declared_nbytes (UINT64_MAX = none) is the length the format states (safetensors data_offsets) and
 * must equal the expected one. */
gc_status gc_tensor_bind(gc_tensor *t, const char *file, const gc_mapped_file *map, uint64_t offset,
                         uint64_t declared_nbytes, gc_error *err);

/* A view of count entries of src's outermost dimension starting at first; with squeeze (count == 1) the
 * outer dimension is dropped (a layer of a stacked array). name NULL keeps src's name. */
gc_status gc_tensor_rows(const gc_tensor *src, int64_t first, int64_t count, bool squeeze, const char *name,
                         gc_tensor *out, gc_error *err);

/* A byte range a tensor occupies in its file (absolute offsets). */
typedef struct gc_byte_range {
    uint64_t begin, end;
    const char *name;
} gc_byte_range;

/* Sorts r by begin and fails when two ranges overlap, naming both tensors and the offset. */
gc_status gc_check_overlaps(gc_byte_range *r, int n, const char *path, gc_error *err);

/* Appends a copy of t to the model's file-level tensor list. */
gc_status gc_model_add_tensor(gc_model_file *m, const gc_tensor *t, gc_error *err);

/* The file-level tensor named name, or NULL. */
const gc_tensor *gc_model_find_tensor(const gc_model_file *m, const char *name);

/* Takes ownership of a malloc'd buffer (freed on close; freed at once if recording it fails). */
gc_status gc_model_own(gc_model_file *m, void *buf, gc_error *err);

/* Maps path and records the mapping; *out points at the model's copy. */
gc_status gc_model_map(gc_model_file *m, const char *path, const gc_mapped_file **out, gc_error *err);

/* Checks hparams for sanity (positive sizes, heads divide evenly, bounded so products cannot overflow). */
gc_status gc_hparams_check(const gc_hparams *hp, const char *file, gc_error *err);

/* Checks every exposed tensor (embedding, norms, per-layer weights, lm_head) against hp's shapes and that
 * each is present. The one shape check shared by all formats. */
gc_status gc_model_check_shapes(const gc_model_file *m, gc_error *err);

/* Opens a model from bytes in memory (for fuzzing and tests): format "llama2c", "gguf" or "safetensors"
 * (which takes config.json text in config/config_len). data must outlive the model. */
gc_status gc_model_open_memory(const char *name, const char *format, const void *data, size_t size, const char *config,
                               size_t config_len, gc_model_file **out, gc_error *err);

/* The format loaders: fill m (already allocated, priv set, path copied) or fail. */
gc_status gc_llama2c_load(gc_model_file *m, gc_error *err);
gc_status gc_hf_load(gc_model_file *m, gc_error *err);
gc_status gc_hf_load_memory(gc_model_file *m, const char *config, size_t config_len, gc_error *err);
gc_status gc_gguf_model_load(gc_model_file *m, gc_error *err);

/* Finds and loads the tokenizer (model_tokenizer.c): the path given to gc_model_file_open, else the first
 * of the candidate file names that exists in dir. Leaves m->tokenizer NULL (and m->tokenizer_path empty)
 * when none exists; a file that exists but does not load is an error. */
gc_status gc_model_load_tokenizer(gc_model_file *m, const char *dir, const char *const *candidates, int n_candidates,
                                  gc_error *err);

/* Frees m->tokenizer (model_tokenizer.c keeps every tokenizer call in one file). */
void gc_model_free_tokenizer(gc_model_file *m);

/* The tokenizer from a GGUF's tokenizer.ggml.* metadata (or the override path when one was given). */
gc_status gc_model_tokenizer_from_gguf(gc_model_file *m, gc_error *err);

#endif
