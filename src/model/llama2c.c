/* llama2c.c - llama2.c checkpoints (karpathy/llama2.c export.py):
 *   legacy (v0): 7 x int32 {dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len}, then fp32
 *     token_embedding_table, rms_att_weight, wq, wk, wv, wo, rms_ffn_weight, w1, w2, w3, rms_final_weight,
 *     freq_cis_real, freq_cis_imag, and wcls only when vocab_size < 0 (its absolute value is the vocab);
 *   v1: uint32 magic "ak42", int32 version 1, the 7 ints, uint8 shared_classifier, zero padding to 256 bytes,
 *     then fp32 rms_att, rms_ffn, rms_final, tok_embeddings, wq, wk, wv, wo, w1, w2, w3[, wcls];
 *   v2 (int8 groups with fp32 scales) is recognised and refused (not the ggml Q8_0 block layout).
 * Per-layer arrays are stacked [n_layers, ...]; the model exposes views "wq[3]" into them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"

#define L2C_MAGIC 0x616b3432u
#define L2C_V1_HEADER_BYTES 256

typedef struct l2c_config {
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
} l2c_config;

typedef struct l2c_spec {
    const char *name;
    int n_dims;
    int64_t shape[3];
} l2c_spec;

static int32_t read_i32(const unsigned char *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static void read_config(const unsigned char *p, l2c_config *c) {
    int32_t *fields[] = {&c->dim, &c->hidden_dim, &c->n_layers, &c->n_heads, &c->n_kv_heads, &c->vocab_size, &c->seq_len};
    for (int i = 0; i < 7; i++)
        *fields[i] = read_i32(p + 4 * i);
}

/* Reads the header: *data_offset = first weight byte, *shared = classifier tied to the embedding. */
static gemcl_status read_header(const gc_mapped_file *map, const char *path, l2c_config *c, uint64_t *data_offset,
                                bool *shared, gc_error *err) {
    if (map->size < 28)
        return gc_fail(err, GEMCL_ERR_FORMAT, "%s: %zu bytes is shorter than a llama2.c header (28)", path, map->size);
    uint32_t magic;
    memcpy(&magic, map->data, 4);
    if (magic != L2C_MAGIC) {
        read_config(map->data, c);
        *shared = c->vocab_size > 0;
        if (c->vocab_size < 0 && c->vocab_size != INT32_MIN)
            c->vocab_size = -c->vocab_size;
        *data_offset = 28;
        return GEMCL_OK;
    }
    if (map->size < L2C_V1_HEADER_BYTES)
        return gc_fail(err, GEMCL_ERR_FORMAT, "%s: %zu bytes is shorter than a llama2.c v1 header (256)", path,
                       map->size);
    int32_t version = read_i32(map->data + 4);
    if (version != 1)
        return gc_fail(err, GEMCL_ERR_UNSUPPORTED, "%s: llama2.c checkpoint version %d (only 0 and 1 are supported)",
                       path, version);
    read_config(map->data + 8, c);
    *shared = map->data[36] != 0;
    *data_offset = L2C_V1_HEADER_BYTES;
    return GEMCL_OK;
}

static void config_to_hparams(const l2c_config *c, bool shared, gc_hparams *hp) {
    strcpy(hp->arch, "llama");
    hp->n_embd = c->dim;
    hp->n_ff = c->hidden_dim;
    hp->n_layers = c->n_layers;
    hp->n_heads = c->n_heads;
    hp->n_kv_heads = c->n_kv_heads;
    hp->head_dim = c->n_heads > 0 ? c->dim / c->n_heads : 0;
    hp->vocab_size = c->vocab_size;
    hp->ctx_train = c->seq_len;
    hp->norm_eps = 1e-5f;
    hp->rope_theta = 10000.0f;
    hp->rope_layout = GC_ROPE_ADJACENT;
    hp->tied_embeddings = shared;
    hp->bos_id = 1;
    hp->eos_id = 2;
}

/* The stacked arrays in file order; returns how many. */
static int file_layout(const gc_hparams *hp, int version, bool shared, l2c_spec out[15]) {
    int64_t L = hp->n_layers, D = hp->n_embd, F = hp->n_ff, V = hp->vocab_size;
    int64_t Q = (int64_t)hp->n_heads * hp->head_dim, KV = (int64_t)hp->n_kv_heads * hp->head_dim;
    const l2c_spec emb = {"token_embedding_table", 2, {V, D}}, att = {"rms_att_weight", 2, {L, D}},
                   ffn = {"rms_ffn_weight", 2, {L, D}}, fin = {"rms_final_weight", 1, {D}},
                   wcls = {"wcls", 2, {V, D}};
    const l2c_spec mats[] = {{"wq", 3, {L, Q, D}}, {"wk", 3, {L, KV, D}},  {"wv", 3, {L, KV, D}},
                             {"wo", 3, {L, D, Q}}, {"w1", 3, {L, F, D}},   {"w2", 3, {L, D, F}},
                             {"w3", 3, {L, F, D}}};
    int n = 0;
    if (version == 0) {
        out[n++] = emb, out[n++] = att;
        for (int i = 0; i < 4; i++)
            out[n++] = mats[i];
        out[n++] = ffn;
        for (int i = 4; i < 7; i++)
            out[n++] = mats[i];
        out[n++] = fin;
        out[n++] = (l2c_spec){"freq_cis_real", 2, {hp->ctx_train, hp->head_dim / 2}};
        out[n++] = (l2c_spec){"freq_cis_imag", 2, {hp->ctx_train, hp->head_dim / 2}};
    } else {
        out[n++] = att, out[n++] = ffn, out[n++] = fin, out[n++] = emb;
        for (int i = 0; i < 7; i++)
            out[n++] = mats[i];
    }
    if (!shared)
        out[n++] = wcls;
    return n;
}

/* Binds every stacked array in order, each right after the previous one; the file must end exactly there. */
static gemcl_status bind_all(gc_model_file *m, const gc_mapped_file *map, const l2c_spec *specs, int n,
                             uint64_t offset, gc_error *err) {
    for (int i = 0; i < n; i++) {
        gc_tensor t;
        gc_tensor_describe(&t, specs[i].name, GC_DTYPE_F32, specs[i].n_dims, specs[i].shape);
        gemcl_status s = gc_tensor_bind(&t, m->path, map, offset, UINT64_MAX, err);
        if (s == GEMCL_OK)
            s = gc_model_add_tensor(m, &t, err);
        if (s != GEMCL_OK)
            return s;
        offset += t.nbytes;
    }
    if (offset != map->size)
        return gc_fail(err, GEMCL_ERR_FORMAT, "%s: %" PRIu64 " trailing bytes after the last tensor at offset %" PRIu64,
                       m->path, (uint64_t)map->size - offset, offset);
    return GEMCL_OK;
}

/* Layer l's slice of the stacked array `stack`, named "stack[l]". */
static gemcl_status layer_view(const gc_model_file *m, const char *stack, int l, gc_tensor *out, gc_error *err) {
    char name[64];
    snprintf(name, sizeof name, "%s[%d]", stack, l);
    return gc_tensor_rows(gc_model_find_tensor(m, stack), l, 1, true, name, out, err);
}

static gemcl_status bind_layers(gc_model_file *m, gc_error *err) {
    m->layers = calloc((size_t)m->hp.n_layers, sizeof *m->layers);
    if (!m->layers)
        return gc_fail(err, GEMCL_ERR_OUT_OF_MEMORY, "%s: out of host memory", m->path);
    gemcl_status s = GEMCL_OK;
    for (int l = 0; s == GEMCL_OK && l < m->hp.n_layers; l++) {
        gc_layer_weights *w = &m->layers[l];
        struct { const char *stack; gc_tensor *t; } views[] = {
            {"rms_att_weight", &w->attn_norm}, {"wq", &w->wq}, {"wk", &w->wk}, {"wv", &w->wv},
            {"wo", &w->wo}, {"rms_ffn_weight", &w->ffn_norm}, {"w1", &w->w_gate}, {"w3", &w->w_up},
            {"w2", &w->w_down}};
        for (size_t i = 0; s == GEMCL_OK && i < sizeof views / sizeof views[0]; i++)
            s = layer_view(m, views[i].stack, l, views[i].t, err);
    }
    return s;
}

gemcl_status gc_llama2c_load(gc_model_file *m, gc_error *err) {
    const gc_model_priv *p = gc_model_priv_of(m);
    const gc_mapped_file *map = &p->maps[0];
    l2c_config c = {0};
    uint64_t offset = 0;
    bool shared = false;
    gemcl_status s = read_header(map, m->path, &c, &offset, &shared, err);
    if (s != GEMCL_OK)
        return s;
    config_to_hparams(&c, shared, &m->hp);
    if ((s = gc_hparams_check(&m->hp, m->path, err)) != GEMCL_OK)
        return s;
    if (m->hp.head_dim * m->hp.n_heads != m->hp.n_embd)
        return gc_fail(err, GEMCL_ERR_FORMAT, "%s: dim %d is not a multiple of n_heads %d", m->path, c.dim, c.n_heads);
    l2c_spec specs[15];
    int n = file_layout(&m->hp, offset == 28 ? 0 : 1, shared, specs);
    if ((s = bind_all(m, map, specs, n, offset, err)) != GEMCL_OK || (s = bind_layers(m, err)) != GEMCL_OK)
        return s;
    m->tok_embd = *gc_model_find_tensor(m, "token_embedding_table");
    m->out_norm = *gc_model_find_tensor(m, "rms_final_weight");
    m->lm_head = *gc_model_find_tensor(m, shared ? "token_embedding_table" : "wcls");
    char dir[1024], tok[64];
    snprintf(dir, sizeof dir, "%s", m->path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    snprintf(tok, sizeof tok, "tok%d.bin", m->hp.vocab_size);
    const char *candidates[] = {tok, "tokenizer.bin"};
    return gc_model_load_tokenizer(m, dir, candidates, 2, err);
}
