/* gguf_model.c - a model from a GGUF file (architecture "llama"): hparams from llama.* keys, tensors by
 * llama.cpp's names, tied output when output.weight is absent, RoPE layout ADJACENT (llama.cpp permutes
 * HF q/k when it converts), tokenizer from tokenizer.ggml.* metadata. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/model_internal.h"

/* An integer hparam "<arch>.<suffix>"; absent: def, or an error when required. */
static gemcl_status hp_int(const gc_gguf *g, const char *arch, const char *suffix, bool required, int def, int *out,
                           gc_error *err) {
    char key[128];
    int64_t v;
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    *out = def;
    if (!gc_gguf_find(g, key))
        return required ? gc_fail(err, GEMCL_ERR_FORMAT, "%s: metadata key '%s' is missing", g->path, key) : GEMCL_OK;
    if (!gc_gguf_get_int(g, key, &v) || v < 0 || v > INT32_MAX)
        return gc_fail(err, GEMCL_ERR_FORMAT, "%s: metadata key '%s' at offset %" PRIu64 " must be a non-negative integer",
                       g->path, key, gc_gguf_find(g, key)->value_offset);
    *out = (int)v;
    return GEMCL_OK;
}

static float hp_float(const gc_gguf *g, const char *arch, const char *suffix, double def) {
    char key[128];
    double v;
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return (float)(gc_gguf_get_float(g, key, &v) ? v : def);
}

static gemcl_status read_hparams(const gc_gguf *g, gc_hparams *hp, gc_error *err) {
    gc_gguf_str arch;
    if (!gc_gguf_get_str(g, "general.architecture", &arch))
        return gc_fail(err, GEMCL_ERR_FORMAT, "%s: metadata key 'general.architecture' is missing", g->path);
    if (arch.len != 5 || memcmp(arch.data, "llama", 5) != 0)
        return gc_fail(err, GEMCL_ERR_UNSUPPORTED, "%s: GGUF architecture '%.*s' is not supported (llama)", g->path,
                       (int)(arch.len < 32 ? arch.len : 32), arch.data);
    strcpy(hp->arch, "llama");
    const char *a = hp->arch;
    int rope_dim;
    gemcl_status s;
    if ((s = hp_int(g, a, "embedding_length", true, 0, &hp->n_embd, err)) != GEMCL_OK ||
        (s = hp_int(g, a, "block_count", true, 0, &hp->n_layers, err)) != GEMCL_OK ||
        (s = hp_int(g, a, "feed_forward_length", true, 0, &hp->n_ff, err)) != GEMCL_OK ||
        (s = hp_int(g, a, "attention.head_count", true, 0, &hp->n_heads, err)) != GEMCL_OK ||
        (s = hp_int(g, a, "attention.head_count_kv", false, hp->n_heads, &hp->n_kv_heads, err)) != GEMCL_OK ||
        (s = hp_int(g, a, "context_length", false, 0, &hp->ctx_train, err)) != GEMCL_OK)
        return s;
    int head_dim = hp->n_heads > 0 ? hp->n_embd / hp->n_heads : 0;
    if ((s = hp_int(g, a, "attention.key_length", false, head_dim, &hp->head_dim, err)) != GEMCL_OK ||
        (s = hp_int(g, a, "rope.dimension_count", false, hp->head_dim, &rope_dim, err)) != GEMCL_OK)
        return s;
    if (rope_dim != hp->head_dim)
        return gc_fail(err, GEMCL_ERR_UNSUPPORTED, "%s: partial rotary embedding (%d of %d dims) is not supported",
                       g->path, rope_dim, hp->head_dim);
    hp->norm_eps = hp_float(g, a, "attention.layer_norm_rms_epsilon", 1e-5);
    hp->rope_theta = hp_float(g, a, "rope.freq_base", 10000.0);
    hp->rope_layout = GC_ROPE_ADJACENT;
    int64_t id;
    hp->bos_id = gc_gguf_get_int(g, "tokenizer.ggml.bos_token_id", &id) && id >= 0 && id <= INT32_MAX ? (int)id : -1;
    hp->eos_id = gc_gguf_get_int(g, "tokenizer.ggml.eos_token_id", &id) && id >= 0 && id <= INT32_MAX ? (int)id : -1;
    return GEMCL_OK;
}

/* Binds tensor info i: name, dtype, shape (ne reversed), range inside the data section. */
static gemcl_status bind_info(gc_model_file *m, const gc_gguf *g, const gc_mapped_file *map, uint64_t i,
                              gc_error *err) {
    const gc_gguf_tensor_info *ti = &g->tensors[i];
    char name[96];
    if (ti->name.len >= sizeof name)
        return gc_fail(err, GEMCL_ERR_FORMAT, "%s: tensor %" PRIu64 ": name of %" PRIu64 " bytes is too long", g->path,
                       i, ti->name.len);
    memcpy(name, ti->name.data, (size_t)ti->name.len);
    name[ti->name.len] = '\0';
    uint64_t offset;
    if (!gc_add_u64(g->data_offset, ti->offset, &offset) || ti->offset % g->alignment != 0)
        return gc_fail(err, GEMCL_ERR_FORMAT, "%s: tensor '%s' at offset %" PRIu64 ": not aligned to %" PRIu64, g->path,
                       name, ti->offset, g->alignment);
    gc_dtype dt;
    if (!gc_gguf_dtype_of(ti->ggml_type, &dt))
        return gc_fail(err, GEMCL_ERR_UNSUPPORTED, "%s: tensor '%s' at offset %" PRIu64 ": ggml type %u is not supported "
                       "(f32, f16, bf16, q8_0)", g->path, name, offset, ti->ggml_type);
    int64_t shape[4];
    for (uint32_t d = 0; d < ti->n_dims; d++)
        shape[d] = ti->ne[ti->n_dims - 1 - d] > (uint64_t)INT64_MAX ? -1 : (int64_t)ti->ne[ti->n_dims - 1 - d];
    gc_tensor t;
    gc_tensor_describe(&t, name, dt, (int)ti->n_dims, shape);
    gemcl_status s = gc_tensor_bind(&t, g->path, map, offset, UINT64_MAX, err);
    if (s == GEMCL_OK && gc_model_find_tensor(m, name))
        s = gc_fail(err, GEMCL_ERR_FORMAT, "%s: tensor '%s' appears twice", g->path, name);
    if (s == GEMCL_OK)
        s = gc_model_add_tensor(m, &t, err);
    return s;
}

static gemcl_status bind_tensors(gc_model_file *m, const gc_gguf *g, const gc_mapped_file *map, gc_error *err) {
    gemcl_status s = GEMCL_OK;
    for (uint64_t i = 0; i < g->n_tensors && s == GEMCL_OK; i++)
        s = bind_info(m, g, map, i, err);
    if (s != GEMCL_OK)
        return s;
    int n;
    const gc_tensor *t = gc_model_file_tensors(m, &n);
    gc_byte_range *ranges = malloc((size_t)n * sizeof *ranges);
    if (!ranges)
        return gc_fail(err, GEMCL_ERR_OUT_OF_MEMORY, "%s: out of host memory", g->path);
    for (int i = 0; i < n; i++)
        ranges[i] = (gc_byte_range){t[i].file_offset, t[i].file_offset + t[i].nbytes, t[i].name};
    s = gc_check_overlaps(ranges, n, g->path, err);
    free(ranges);
    return s;
}

static void take(const gc_model_file *m, const char *name, int layer, gc_tensor *dst) {
    char full[96];
    if (layer >= 0)
        snprintf(full, sizeof full, "blk.%d.%s.weight", layer, name);
    else
        snprintf(full, sizeof full, "%s.weight", name);
    const gc_tensor *t = gc_model_find_tensor(m, full);
    if (t)
        *dst = *t;
}

static gemcl_status bind_model(gc_model_file *m, gc_error *err) {
    m->layers = calloc((size_t)m->hp.n_layers, sizeof *m->layers);
    if (!m->layers)
        return gc_fail(err, GEMCL_ERR_OUT_OF_MEMORY, "%s: out of host memory", m->path);
    take(m, "token_embd", -1, &m->tok_embd);
    take(m, "output_norm", -1, &m->out_norm);
    m->hp.tied_embeddings = !gc_model_find_tensor(m, "output.weight");
    take(m, m->hp.tied_embeddings ? "token_embd" : "output", -1, &m->lm_head);
    m->hp.vocab_size = m->tok_embd.data && m->tok_embd.n_dims == 2 && m->tok_embd.shape[0] <= INT32_MAX
                           ? (int)m->tok_embd.shape[0] : 0;
    for (int l = 0; l < m->hp.n_layers; l++) {
        gc_layer_weights *w = &m->layers[l];
        take(m, "attn_norm", l, &w->attn_norm);
        take(m, "attn_q", l, &w->wq);
        take(m, "attn_k", l, &w->wk);
        take(m, "attn_v", l, &w->wv);
        take(m, "attn_output", l, &w->wo);
        take(m, "ffn_norm", l, &w->ffn_norm);
        take(m, "ffn_gate", l, &w->w_gate);
        take(m, "ffn_up", l, &w->w_up);
        take(m, "ffn_down", l, &w->w_down);
    }
    return gc_hparams_check(&m->hp, m->path, err);
}

gemcl_status gc_gguf_model_load(gc_model_file *m, gc_error *err) {
    gc_model_priv *p = gc_model_priv_of(m);
    const gc_mapped_file *map = &p->maps[0];
    gemcl_status s = gc_gguf_parse(m->path, map->data, map->size, &p->gguf, err);
    if (s != GEMCL_OK)
        return s;
    if (p->gguf->n_tensors == 0)
        return gc_fail(err, GEMCL_ERR_FORMAT, "%s: no tensors (a vocabulary-only GGUF is not a model)", m->path);
    if ((s = read_hparams(p->gguf, &m->hp, err)) != GEMCL_OK)
        return s;
    if (m->hp.n_layers <= 0 || m->hp.n_layers > 4096)
        return gc_fail(err, GEMCL_ERR_FORMAT, "%s: block_count %d out of range", m->path, m->hp.n_layers);
    if ((s = bind_tensors(m, p->gguf, map, err)) != GEMCL_OK || (s = bind_model(m, err)) != GEMCL_OK)
        return s;
    return gc_model_tokenizer_from_gguf(m, err);
}
