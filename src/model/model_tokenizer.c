/* model_tokenizer.c - the one place the model layer calls the tokenizer.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <stdlib.h>

#include "model/gguf.h"
#include "model/model_internal.h"
#include "tokenizer/tokenizer.h"

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static gemcl_status load_file(gc_model_file *m, const char *path, gc_error *err) {
    if (snprintf(m->tokenizer_path, sizeof m->tokenizer_path, "%s", path) >= (int)sizeof m->tokenizer_path)
        return gc_fail(err, GEMCL_ERR_INVALID_ARG, "tokenizer path too long: %s", path);
    return gc_tokenizer_load(path, m->hp.vocab_size, &m->tokenizer, err);
}

void gc_model_free_tokenizer(gc_model_file *m) {
    gc_tokenizer_free(m->tokenizer);
    m->tokenizer = NULL;
}

gemcl_status gc_model_load_tokenizer(gc_model_file *m, const char *dir, const char *const *candidates,
                                     int n_candidates, gc_error *err) {
    const char *override = gc_model_priv_of(m)->tokenizer_override;
    if (override)
        return load_file(m, override, err);
    char path[2048];
    for (int i = 0; i < n_candidates; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, candidates[i]);
        if (is_file(path))
            return load_file(m, path, err);
    }
    return GEMCL_OK;
}

/* The vocabulary arrays of a GGUF, checked (counts agree, element types right) and ready for
 * gc_tokenizer_from_vocab. Strings point into the mapping; the arrays are malloc'd. */
typedef struct gguf_vocab {
    gc_vocab_arrays v;
    char model[32], pre[64];
    const char **tokens, **merges;
    size_t *token_lens, *merge_lens;
    float *scores;
    int32_t *types;
} gguf_vocab;

static void gguf_vocab_free(gguf_vocab *gv) {
    free(gv->tokens), free(gv->merges), free(gv->token_lens), free(gv->merge_lens);
    free(gv->scores), free(gv->types);
}

/* Copies a fixed-size numeric array (f32 scores, i32 types) of exactly n elements; absent = NULL. */
static gemcl_status numeric_array(const gc_gguf *g, const char *key, gc_gguf_type want, uint64_t n, void **out,
                                  gc_error *err) {
    const gc_gguf_kv *kv = gc_gguf_find(g, key);
    *out = NULL;
    if (!kv)
        return GEMCL_OK;
    if (kv->type != GC_GGUF_ARRAY || kv->elem_type != want || kv->n != n)
        return gc_fail(err, GEMCL_ERR_FORMAT, "%s: '%s' at offset %" PRIu64 " must be an array of %" PRIu64 " %s", g->path,
                       key, kv->value_offset, n, want == GC_GGUF_F32 ? "f32" : "i32");
    *out = malloc(n ? n * 4 : 1);
    if (!*out)
        return gc_fail(err, GEMCL_ERR_OUT_OF_MEMORY, "%s: out of host memory", g->path);
    memcpy(*out, kv->value, n * 4);
    return GEMCL_OK;
}

static void copy_str(const gc_gguf *g, const char *key, char *out, size_t cap) {
    gc_gguf_str s;
    out[0] = '\0';
    if (gc_gguf_get_str(g, key, &s))
        snprintf(out, cap, "%.*s", (int)(s.len < cap ? s.len : cap - 1), s.data);
}

static int token_id(const gc_gguf *g, const char *key) {
    int64_t v;
    return gc_gguf_get_int(g, key, &v) && v >= 0 && v <= INT32_MAX ? (int)v : -1;
}

static gemcl_status gguf_vocab_read(const gc_gguf *g, const gc_gguf_kv *tokens, gguf_vocab *gv, gc_error *err) {
    if (tokens->n > INT32_MAX)
        return gc_fail(err, GEMCL_ERR_FORMAT, "%s: %" PRIu64 " tokens is too many", g->path, tokens->n);
    gemcl_status s = gc_gguf_array_strings(tokens, &gv->tokens, &gv->token_lens, err);
    const gc_gguf_kv *merges = gc_gguf_find(g, "tokenizer.ggml.merges");
    if (s == GEMCL_OK && merges && merges->n <= INT32_MAX)
        s = gc_gguf_array_strings(merges, &gv->merges, &gv->merge_lens, err);
    if (s == GEMCL_OK)
        s = numeric_array(g, "tokenizer.ggml.scores", GC_GGUF_F32, tokens->n, (void **)&gv->scores, err);
    if (s == GEMCL_OK)
        s = numeric_array(g, "tokenizer.ggml.token_type", GC_GGUF_I32, tokens->n, (void **)&gv->types, err);
    if (s != GEMCL_OK)
        return s;
    copy_str(g, "tokenizer.ggml.model", gv->model, sizeof gv->model);
    copy_str(g, "tokenizer.ggml.pre", gv->pre, sizeof gv->pre);
    int64_t add_bos = 1;
    gc_gguf_get_int(g, "tokenizer.ggml.add_bos_token", &add_bos);
    gv->v = (gc_vocab_arrays){
        .model = gv->model, .pre = gv->pre[0] ? gv->pre : NULL, .n_tokens = (int)tokens->n,
        .tokens = gv->tokens, .token_lens = gv->token_lens, .scores = gv->scores, .token_types = gv->types,
        .n_merges = gv->merges ? (int)merges->n : 0, .merges = gv->merges, .merge_lens = gv->merge_lens,
        .bos_id = token_id(g, "tokenizer.ggml.bos_token_id"), .eos_id = token_id(g, "tokenizer.ggml.eos_token_id"),
        .unk_id = token_id(g, "tokenizer.ggml.unknown_token_id"), .add_bos = add_bos != 0};
    return GEMCL_OK;
}

gemcl_status gc_model_tokenizer_from_gguf(gc_model_file *m, gc_error *err) {
    const char *override = gc_model_priv_of(m)->tokenizer_override;
    if (override)
        return load_file(m, override, err);
    const gc_gguf *g = gc_model_priv_of(m)->gguf;
    const gc_gguf_kv *tokens = gc_gguf_find(g, "tokenizer.ggml.tokens");
    if (!tokens)
        return GEMCL_OK;
    gguf_vocab gv = {0};
    gemcl_status s = gguf_vocab_read(g, tokens, &gv, err);
    if (s == GEMCL_OK)
        s = gc_tokenizer_from_vocab(&gv.v, &m->tokenizer, err);
    int64_t eot = -1;
    if (s == GEMCL_OK && gc_gguf_get_int(g, "tokenizer.ggml.eot_token_id", &eot))
        s = gc_tokenizer_set_eot(m->tokenizer, eot < -1 || eot > INT32_MAX ? -2 : (int)eot, err);
    if (s == GEMCL_OK)
        snprintf(m->tokenizer_path, sizeof m->tokenizer_path, "%s", m->path);
    gguf_vocab_free(&gv);
    return s;
}
