/* llama2c.c - llama2.c checkpoints (karpathy/llama2.c export.py):
 *   legacy (v0): 7 x int32 {dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len}, then fp32
 *     token_embedding_table, rms_att_weight, wq, wk, wv, wo, rms_ffn_weight, w1, w2, w3, rms_final_weight,
 *     freq_cis_real, freq_cis_imag, and wcls only when vocab_size < 0 (its absolute value is the vocab);
 *   v1: uint32 magic "ak42", int32 version 1, the 7 ints, uint8 shared_classifier, zero padding to 256 bytes,
 *     then fp32 rms_att, rms_ffn, rms_final, tok_embeddings, wq, wk, wv, wo, w1, w2, w3[, wcls];
 *   v2: the v1 header plus int32 group_size at byte 37; fp32 rms_att, rms_ffn, rms_final, then each of
 *     tok_embeddings, wq[l].., wk[l].., wv, wo, w1, w2, w3[, wcls] as int8 q[numel] followed by fp32
 *     scales[numel / group_size]. Not ggml's Q8_0 block layout, so these are dequantised (exactly, q * s)
 *     into f32 buffers the model owns, one per layer ("wq[3]", file_offset = its int8 data).
 * Per-layer arrays of v0/v1 are stacked [n_layers, ...]; the model exposes views "wq[3]" into them. */
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

typedef struct l2c_header {
    l2c_config c;
    int version;
    bool shared;            /* classifier tied to the embedding */
    int32_t group_size;     /* v2 */
    uint64_t data_offset;   /* first weight byte */
} l2c_header;

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

/* Reads the legacy or versioned header. */
static gc_status read_header(const gc_mapped_file *map, const char *path, l2c_header *h, gc_error *err) {
    if (map->size < 28)
        return gc_fail(err, GC_ERR_FORMAT, "%s: %zu bytes is shorter than a llama2.c header (28)", path, map->size);
    uint32_t magic;
    memcpy(&magic, map->data, 4);
    if (magic != L2C_MAGIC) {
        read_config(map->data, &h->c);
        h->shared = h->c.vocab_size > 0;
        if (h->c.vocab_size < 0 && h->c.vocab_size != INT32_MIN)
            h->c.vocab_size = -h->c.vocab_size;
        h->data_offset = 28;
        return GC_OK;
    }
    if (map->size < L2C_V1_HEADER_BYTES)
        return gc_fail(err, GC_ERR_FORMAT, "%s: %zu bytes is shorter than a llama2.c v1 header (256)", path, map->size);
    h->version = read_i32(map->data + 4);
    if (h->version != 1 && h->version != 2)
        return gc_fail(err, GC_ERR_UNSUPPORTED, "%s: llama2.c checkpoint version %d (0, 1 and 2 are supported)", path,
                       h->version);
    read_config(map->data + 8, &h->c);
    h->shared = map->data[36] != 0;
    h->group_size = h->version == 2 ? read_i32(map->data + 37) : 0;
    h->data_offset = L2C_V1_HEADER_BYTES;
    if (h->version == 2 && h->group_size <= 0)
        return gc_fail(err, GC_ERR_FORMAT, "%s: group size %d at offset 37 must be positive", path, h->group_size);
    return GC_OK;
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

/* Binds one fp32 array at *offset and advances it. */
static gc_status bind_spec(gc_model_file *m, const gc_mapped_file *map, const l2c_spec *spec, uint64_t *offset,
                           gc_error *err) {
    gc_tensor t;
    gc_tensor_describe(&t, spec->name, GC_DTYPE_F32, spec->n_dims, spec->shape);
    gc_status s = gc_tensor_bind(&t, m->path, map, *offset, UINT64_MAX, err);
    if (s == GC_OK)
        s = gc_model_add_tensor(m, &t, err);
    *offset += t.nbytes;
    return s;
}

static gc_status check_end(const gc_model_file *m, const gc_mapped_file *map, uint64_t offset, gc_error *err) {
    if (offset != map->size)
        return gc_fail(err, GC_ERR_FORMAT, "%s: %" PRIu64 " trailing bytes after the last tensor at offset %" PRIu64,
                       m->path, (uint64_t)map->size - offset, offset);
    return GC_OK;
}

/* Binds every stacked array in order, each right after the previous one; the file must end exactly there. */
static gc_status bind_all(gc_model_file *m, const gc_mapped_file *map, const l2c_spec *specs, int n, uint64_t offset,
                          gc_error *err) {
    gc_status s = GC_OK;
    for (int i = 0; i < n && s == GC_OK; i++)
        s = bind_spec(m, map, &specs[i], &offset, err);
    return s == GC_OK ? check_end(m, map, offset, err) : s;
}

/* One v2 tensor: int8 q[numel] then fp32 scales[numel / gs] at *offset, dequantised into an owned buffer. */
static gc_status dequant_one(gc_model_file *m, const gc_mapped_file *map, const char *name, int n_dims,
                             const int64_t *shape, int32_t gs, uint64_t *offset, gc_error *err) {
    gc_tensor t;
    gc_tensor_describe(&t, name, GC_DTYPE_F32, n_dims, shape);
    uint64_t numel = (uint64_t)gc_tensor_n_elements(&t); /* hparams bound it far below 2^63 */
    if (numel % (uint64_t)gs != 0)
        return gc_fail(err, GC_ERR_FORMAT,
                       "%s: tensor '%s' at offset %" PRIu64 ": %" PRIu64 " elements are not whole groups of %d",
                       m->path, name, *offset, numel, gs);
    uint64_t scales_at = *offset + numel;
    gc_status s = gc_check_range(map, m->path, name, *offset, numel + numel / (uint64_t)gs * 4, err);
    if (s != GC_OK)
        return s;
    float *out = malloc(numel * sizeof *out); /* at most 4x the int8 bytes already in the file */
    if (!out || (s = gc_model_own(m, out, err)) != GC_OK)
        return out ? s : gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory for '%s'", m->path, name);
    const int8_t *q = (const int8_t *)(map->data + *offset);
    for (uint64_t i = 0; i < numel; i++) {
        float scale;
        memcpy(&scale, map->data + scales_at + i / (uint64_t)gs * 4, 4);
        out[i] = (float)q[i] * scale;
    }
    t.data = out, t.nbytes = (size_t)numel * 4, t.file_offset = *offset;
    *offset = scales_at + numel / (uint64_t)gs * 4;
    return gc_model_add_tensor(m, &t, err);
}

/* v2: fp32 norms, then each quantized matrix, one per layer ("wq[3]"). */
static gc_status bind_v2(gc_model_file *m, const gc_mapped_file *map, const l2c_header *h, gc_error *err) {
    l2c_spec specs[15];
    int n = file_layout(&m->hp, 1, h->shared, specs); /* v1 order: three norms, embedding, matrices, wcls */
    uint64_t offset = h->data_offset;
    gc_status s = GC_OK;
    for (int i = 0; i < 3 && s == GC_OK; i++)
        s = bind_spec(m, map, &specs[i], &offset, err);
    for (int i = 3; i < n && s == GC_OK; i++) {
        bool stacked = specs[i].n_dims == 3;
        for (int l = 0; l < (stacked ? m->hp.n_layers : 1) && s == GC_OK; l++) {
            char name[64];
            snprintf(name, sizeof name, stacked ? "%s[%d]" : "%s", specs[i].name, l);
            s = dequant_one(m, map, name, 2, specs[i].shape + (stacked ? 1 : 0), h->group_size, &offset, err);
        }
    }
    return s == GC_OK ? check_end(m, map, offset, err) : s;
}

/* Layer l's tensor "stack[l]": a v2 per-layer tensor, else a slice of the stacked array. */
static gc_status layer_view(const gc_model_file *m, const char *stack, int l, gc_tensor *out, gc_error *err) {
    char name[64];
    snprintf(name, sizeof name, "%s[%d]", stack, l);
    const gc_tensor *own = gc_model_find_tensor(m, name);
    if (own) {
        *out = *own;
        return GC_OK;
    }
    return gc_tensor_rows(gc_model_find_tensor(m, stack), l, 1, true, name, out, err);
}

static gc_status bind_layers(gc_model_file *m, gc_error *err) {
    m->layers = calloc((size_t)m->hp.n_layers, sizeof *m->layers);
    if (!m->layers)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory", m->path);
    gc_status s = GC_OK;
    for (int l = 0; s == GC_OK && l < m->hp.n_layers; l++) {
        gc_layer_weights *w = &m->layers[l];
        struct { const char *stack; gc_tensor *t; } views[] = {
            {"rms_att_weight", &w->attn_norm}, {"wq", &w->wq}, {"wk", &w->wk}, {"wv", &w->wv},
            {"wo", &w->wo}, {"rms_ffn_weight", &w->ffn_norm}, {"w1", &w->w_gate}, {"w3", &w->w_up},
            {"w2", &w->w_down}};
        for (size_t i = 0; s == GC_OK && i < sizeof views / sizeof views[0]; i++)
            s = layer_view(m, views[i].stack, l, views[i].t, err);
    }
    return s;
}

gc_status gc_llama2c_load(gc_model_file *m, gc_error *err) {
    const gc_model_priv *p = gc_model_priv_of(m);
    const gc_mapped_file *map = &p->maps[0];
    l2c_header h = {0};
    gc_status s = read_header(map, m->path, &h, err);
    if (s != GC_OK)
        return s;
    config_to_hparams(&h.c, h.shared, &m->hp);
    if ((s = gc_hparams_check(&m->hp, m->path, err)) != GC_OK)
        return s;
    if (m->hp.head_dim * m->hp.n_heads != m->hp.n_embd)
        return gc_fail(err, GC_ERR_FORMAT, "%s: dim %d is not a multiple of n_heads %d", m->path, h.c.dim, h.c.n_heads);
    l2c_spec specs[15];
    int n = file_layout(&m->hp, h.version, h.shared, specs);
    s = h.version == 2 ? bind_v2(m, map, &h, err) : bind_all(m, map, specs, n, h.data_offset, err);
    if (s != GC_OK || (s = bind_layers(m, err)) != GC_OK)
        return s;
    m->tok_embd = *gc_model_find_tensor(m, "token_embedding_table");
    m->out_norm = *gc_model_find_tensor(m, "rms_final_weight");
    m->lm_head = *gc_model_find_tensor(m, h.shared ? "token_embedding_table" : "wcls");
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
