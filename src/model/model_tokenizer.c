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
#include "util/json.h"

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static gc_status load_file(gc_model_file *m, const char *path, gc_error *err) {
    if (snprintf(m->tokenizer_path, sizeof m->tokenizer_path, "%s", path) >= (int)sizeof m->tokenizer_path)
        return gc_fail(err, GC_ERR_INVALID_ARG, "tokenizer path too long: %s", path);
    return gc_tokenizer_load(path, m->hp.vocab_size, &m->tokenizer, err);
}

void gc_model_free_tokenizer(gc_model_file *m) {
    gc_tokenizer_free(m->tokenizer);
    m->tokenizer = NULL;
}

/* Keeps a copy of len bytes of template text as m->chat_template. */
static gc_status own_template(gc_model_file *m, const char *text, size_t len, gc_error *err) {
    char *copy = malloc(len + 1);
    if (!copy)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory", m->path);
    memcpy(copy, text, len);
    copy[len] = '\0';
    GC_TRY(gc_model_own(m, copy, err));
    m->chat_template = copy;
    return GC_OK;
}

/* tokenizer_config.json's chat_template beside an HF model: a string, or a list of {name, template} of
 * which "default" (else the first) is the chat template. A missing file or key means no template. */
static gc_status template_from_dir(gc_model_file *m, const char *dir, gc_error *err) {
    char path[2048];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    if (!is_file(path))
        return GC_OK;
    char *text;
    size_t len;
    cJSON *root = NULL;
    GC_TRY(gc_file_read(path, &text, &len, err));
    gc_status s = gc_json_parse(text, len, path, &root, err);
    free(text);
    const cJSON *t = s == GC_OK ? cJSON_GetObjectItemCaseSensitive(root, "chat_template") : NULL;
    if (cJSON_IsArray(t)) {
        const cJSON *item, *pick = cJSON_GetArrayItem(t, 0);
        cJSON_ArrayForEach(item, t) {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");
            if (cJSON_IsString(name) && strcmp(name->valuestring, "default") == 0)
                pick = item;
        }
        t = cJSON_GetObjectItemCaseSensitive(pick, "template");
    }
    if (t && !cJSON_IsString(t))
        s = gc_fail(err, GC_ERR_FORMAT, "%s: chat_template must be a string or a list of {name, template}", path);
    else if (t)
        s = own_template(m, t->valuestring, strlen(t->valuestring), err);
    cJSON_Delete(root);
    return s;
}

gc_status gc_model_load_tokenizer(gc_model_file *m, const char *dir, const char *const *candidates, int n_candidates,
                                  gc_error *err) {
    GC_TRY(template_from_dir(m, dir, err));
    const char *override = gc_model_priv_of(m)->tokenizer_override;
    if (override)
        return load_file(m, override, err);
    char path[2048];
    for (int i = 0; i < n_candidates; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, candidates[i]);
        if (is_file(path))
            return load_file(m, path, err);
    }
    return GC_OK;
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
static gc_status numeric_array(const gc_gguf *g, const char *key, gc_gguf_type want, uint64_t n, void **out,
                               gc_error *err) {
    const gc_gguf_kv *kv = gc_gguf_find(g, key);
    *out = NULL;
    if (!kv)
        return GC_OK;
    if (kv->type != GC_GGUF_ARRAY || kv->elem_type != want || kv->n != n)
        return gc_fail(err, GC_ERR_FORMAT, "%s: '%s' at offset %" PRIu64 " must be an array of %" PRIu64 " %s", g->path,
                       key, kv->value_offset, n, want == GC_GGUF_F32 ? "f32" : "i32");
    *out = malloc(n ? n * 4 : 1);
    if (!*out)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory", g->path);
    memcpy(*out, kv->value, n * 4);
    return GC_OK;
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

static gc_status gguf_vocab_read(const gc_gguf *g, const gc_gguf_kv *tokens, gguf_vocab *gv, gc_error *err) {
    if (tokens->n > INT32_MAX)
        return gc_fail(err, GC_ERR_FORMAT, "%s: %" PRIu64 " tokens is too many", g->path, tokens->n);
    gc_status s = gc_gguf_array_strings(tokens, &gv->tokens, &gv->token_lens, err);
    const gc_gguf_kv *merges = gc_gguf_find(g, "tokenizer.ggml.merges");
    if (s == GC_OK && merges && merges->n <= INT32_MAX)
        s = gc_gguf_array_strings(merges, &gv->merges, &gv->merge_lens, err);
    if (s == GC_OK)
        s = numeric_array(g, "tokenizer.ggml.scores", GC_GGUF_F32, tokens->n, (void **)&gv->scores, err);
    if (s == GC_OK)
        s = numeric_array(g, "tokenizer.ggml.token_type", GC_GGUF_I32, tokens->n, (void **)&gv->types, err);
    if (s != GC_OK)
        return s;
    copy_str(g, "tokenizer.ggml.model", gv->model, sizeof gv->model);
    copy_str(g, "tokenizer.ggml.pre", gv->pre, sizeof gv->pre);
    int64_t add_bos = -1, add_eos = 0, space_prefix = 1;
    gc_gguf_get_int(g, "tokenizer.ggml.add_bos_token", &add_bos);
    gc_gguf_get_int(g, "tokenizer.ggml.add_eos_token", &add_eos);
    gc_gguf_get_int(g, "tokenizer.ggml.add_space_prefix", &space_prefix);
    gv->v = (gc_vocab_arrays){
        .model = gv->model, .pre = gv->pre[0] ? gv->pre : NULL, .n_tokens = (int)tokens->n,
        .tokens = gv->tokens, .token_lens = gv->token_lens, .scores = gv->scores, .token_types = gv->types,
        .n_merges = gv->merges ? (int)merges->n : 0, .merges = gv->merges, .merge_lens = gv->merge_lens,
        .bos_id = token_id(g, "tokenizer.ggml.bos_token_id"), .eos_id = token_id(g, "tokenizer.ggml.eos_token_id"),
        .unk_id = token_id(g, "tokenizer.ggml.unknown_token_id"), .add_bos = add_bos < 0 ? -1 : add_bos != 0,
        .add_eos = add_eos != 0, .no_space_prefix = space_prefix == 0};
    return GC_OK;
}

/* A tokenizer from a parsed GGUF's tokenizer.ggml.* keys; *out stays NULL when it has no token list. */
static gc_status tokenizer_from_meta(const gc_gguf *g, gc_tokenizer **out, gc_error *err) {
    const gc_gguf_kv *tokens = gc_gguf_find(g, "tokenizer.ggml.tokens");
    *out = NULL;
    if (!tokens)
        return GC_OK;
    gguf_vocab gv = {0};
    gc_status s = gguf_vocab_read(g, tokens, &gv, err);
    if (s == GC_OK && (s = gc_tokenizer_from_vocab(&gv.v, out, err)) != GC_OK)
        gc_error_prefix(err, "%s", g->path);
    int64_t eot = -1; /* an end of turn the vocabulary names (gemcl convert writes llama2.c's BOS here) */
    if (s == GC_OK && gc_gguf_get_int(g, "tokenizer.ggml.eot_token_id", &eot))
        s = gc_tokenizer_set_eot(*out, eot < -1 || eot > INT32_MAX ? -2 : (int)eot, err);
    gguf_vocab_free(&gv);
    return s;
}

gc_status gc_model_tokenizer_from_gguf(gc_model_file *m, gc_error *err) {
    gc_gguf_str tmpl;
    if (gc_gguf_get_str(gc_model_priv_of(m)->gguf, "tokenizer.chat_template", &tmpl))
        GC_TRY(own_template(m, tmpl.data, (size_t)tmpl.len, err));
    const char *override = gc_model_priv_of(m)->tokenizer_override;
    if (override)
        return load_file(m, override, err);
    gc_status s = tokenizer_from_meta(gc_model_priv_of(m)->gguf, &m->tokenizer, err);
    if (s == GC_OK && m->tokenizer)
        snprintf(m->tokenizer_path, sizeof m->tokenizer_path, "%s", m->path);
    return s;
}

/* A GGUF's tokenizer from its metadata alone, so vocabulary-only files serve too. */
static gc_status gguf_file_tokenizer(const char *path, const gc_mapped_file *map, gc_tokenizer **out, gc_error *err) {
    gc_gguf *g = NULL;
    gc_status s = gc_gguf_parse(path, map->data, map->size, &g, err);
    if (s == GC_OK && (s = tokenizer_from_meta(g, out, err)) == GC_OK && !*out)
        s = gc_fail(err, GC_ERR_NOT_FOUND, "%s: no tokenizer.ggml.tokens: the GGUF holds no tokenizer", path);
    gc_gguf_free(g);
    return s;
}

/* The tokenizer gc_model_file_open finds for the model at path, taken from the model before it closes. */
static gc_status opened_model_tokenizer(const char *path, gc_tokenizer **out, gc_error *err) {
    gc_model_file *m;
    gc_status s = gc_model_file_open(path, NULL, &m, err);
    if (s != GC_OK)
        return s;
    *out = m->tokenizer;
    m->tokenizer = NULL;
    gc_model_file_close(m);
    return *out ? GC_OK : gc_fail(err, GC_ERR_NOT_FOUND, "%s: the model has no tokenizer beside it", path);
}

gc_status gc_model_tokenizer_load(const char *path, gc_tokenizer **out, gc_error *err) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0)
        return gc_fail(err, GC_ERR_IO, "%s: no such file or directory", path);
    if (S_ISDIR(st.st_mode))
        return opened_model_tokenizer(path, out, err);
    gc_mapped_file map;
    gc_status s = gc_file_map(path, &map, err);
    if (s != GC_OK)
        return s;
    bool gguf = map.size >= 4 && memcmp(map.data, "GGUF", 4) == 0;
    if (gguf)
        s = gguf_file_tokenizer(path, &map, out, err);
    gc_file_unmap(&map);
    return gguf ? s : opened_model_tokenizer(path, out, err);
}
