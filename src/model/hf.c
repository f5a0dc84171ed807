/* hf.c - Hugging Face model directories: config.json (Llama, Mistral, Qwen2, Phi-3, SmolLM2), weights in
 * model.safetensors or model.safetensors.index.json + shards, tokenizer beside them. HF checkpoints rotate
 * q/k in halves (RoPE layout HALF). Phi-3's fused qkv_proj and gate_up_proj become row views. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/json.h"
#include "model/model_internal.h"
#include "model/safetensors.h"

#define INT_MAX_CFG (1 << 24)

static gc_status parse_object(const char *text, size_t len, const char *path, cJSON **out, gc_error *err) {
    gc_status s = gc_json_parse(text, len, path, out, err);
    if (s == GC_OK && !cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        s = gc_fail(err, GC_ERR_FORMAT, "%s: not a JSON object", path);
    }
    return s;
}

static gc_status read_json_file(const char *path, cJSON **out, gc_error *err) {
    char *text;
    size_t len;
    gc_status s = gc_file_read(path, &text, &len, err);
    if (s != GC_OK)
        return s;
    s = parse_object(text, len, path, out, err);
    free(text);
    return s;
}

/* bos/eos may be an integer or an array of them (Llama 3.1): the first one counts. */
static gc_status token_id(const cJSON *cfg, const char *key, const char *file, int *out, gc_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    int64_t id = -1;
    gc_status s = GC_OK;
    if (cJSON_IsArray(v) && v->child)
        s = gc_json_check_int(v->child, 0, INT32_MAX, file, key, &id, err);
    else if (v && !cJSON_IsNull(v) && !cJSON_IsArray(v))
        s = gc_json_int(cfg, key, false, -1, 0, INT32_MAX, file, &id, err);
    *out = (int)id;
    return s;
}

static gc_status read_arch(const cJSON *cfg, const char *file, gc_hparams *hp, gc_error *err) {
    const char *type;
    gc_status s = gc_json_str(cfg, "model_type", file, &type, err);
    if (s != GC_OK)
        return s;
    const char *known[] = {"llama", "mistral", "qwen2", "phi3"};
    for (size_t i = 0; type && i < sizeof known / sizeof known[0]; i++)
        if (strcmp(type, known[i]) == 0) {
            strcpy(hp->arch, known[i]);
            hp->qkv_bias = strcmp(type, "qwen2") == 0;
            return GC_OK;
        }
    return gc_fail(err, GC_ERR_UNSUPPORTED, "%s: model_type '%.32s' is not supported (llama, mistral, qwen2, phi3)",
                   file, type ? type : "(missing)");
}

static gc_status read_rope_scaling(const cJSON *cfg, const char *file, gc_rope_scaling *rs, gc_error *err) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(cfg, "rope_scaling");
    rs->type = GC_ROPE_SCALING_NONE;
    if (!o || cJSON_IsNull(o))
        return GC_OK;
    const char *type = NULL;
    gc_status s = gc_json_str(o, "rope_type", file, &type, err);
    if (s == GC_OK && !type)
        s = gc_json_str(o, "type", file, &type, err);
    if (s != GC_OK)
        return s;
    bool linear = type && strcmp(type, "linear") == 0;
    if (!type || (!linear && strcmp(type, "llama3") != 0))
        return gc_fail(err, GC_ERR_UNSUPPORTED, "%s: rope_scaling type '%.32s' is not supported (llama3, linear)", file,
                       type ? type : "(missing)");
    double factor, lo, hi;
    int64_t orig;
    if (linear) {
        if ((s = gc_json_num(o, "factor", true, 1, file, &factor, err)) != GC_OK)
            return s;
        if (!(factor >= 1))
            return gc_fail(err, GC_ERR_FORMAT, "%s: rope_scaling factor %g out of range", file, factor);
        *rs = (gc_rope_scaling){GC_ROPE_SCALING_LINEAR, (float)factor, 1.0f, 4.0f, 0};
        return GC_OK;
    }
    rs->type = GC_ROPE_SCALING_LLAMA3;
    if ((s = gc_json_num(o, "factor", true, 1, file, &factor, err)) != GC_OK ||
        (s = gc_json_num(o, "low_freq_factor", true, 1, file, &lo, err)) != GC_OK ||
        (s = gc_json_num(o, "high_freq_factor", true, 4, file, &hi, err)) != GC_OK ||
        (s = gc_json_int(o, "original_max_position_embeddings", true, 8192, 1, INT32_MAX, file, &orig, err)) != GC_OK)
        return s;
    if (!(factor >= 1 && lo > 0 && hi > lo))
        return gc_fail(err, GC_ERR_FORMAT, "%s: rope_scaling factors out of range", file);
    rs->factor = (float)factor, rs->low_freq_factor = (float)lo, rs->high_freq_factor = (float)hi;
    rs->original_max_position = (int)orig;
    return GC_OK;
}

/* Integer hparams: key, destination, required, default (-1 = derived later). */
static gc_status read_sizes(const cJSON *cfg, const char *file, gc_hparams *hp, gc_error *err) {
    struct { const char *key; int *dst; bool required; int64_t def; } f[] = {
        {"hidden_size", &hp->n_embd, true, 0},          {"num_hidden_layers", &hp->n_layers, true, 0},
        {"num_attention_heads", &hp->n_heads, true, 0}, {"num_key_value_heads", &hp->n_kv_heads, false, -1},
        {"head_dim", &hp->head_dim, false, -1},         {"intermediate_size", &hp->n_ff, true, 0},
        {"vocab_size", &hp->vocab_size, true, 0},       {"max_position_embeddings", &hp->ctx_train, false, 2048},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        int64_t v;
        gc_status s = gc_json_int(cfg, f[i].key, f[i].required, f[i].def, 1, INT_MAX_CFG, file, &v, err);
        if (s != GC_OK)
            return s;
        *f[i].dst = (int)v;
    }
    if (hp->n_kv_heads < 0)
        hp->n_kv_heads = hp->n_heads;
    if (hp->head_dim < 0)
        hp->head_dim = hp->n_embd / hp->n_heads;
    return GC_OK;
}

static gc_status read_config(const char *text, size_t len, const char *file, gc_hparams *hp, gc_error *err) {
    cJSON *cfg;
    gc_status s = parse_object(text, len, file, &cfg, err);
    if (s != GC_OK)
        return s;
    double eps = 1e-6, theta = 10000;
    if ((s = read_arch(cfg, file, hp, err)) == GC_OK && (s = read_sizes(cfg, file, hp, err)) == GC_OK &&
        (s = gc_json_num(cfg, "rms_norm_eps", false, 1e-6, file, &eps, err)) == GC_OK &&
        (s = gc_json_num(cfg, "rope_theta", false, 10000, file, &theta, err)) == GC_OK &&
        (s = gc_json_bool(cfg, "tie_word_embeddings", false, file, &hp->tied_embeddings, err)) == GC_OK &&
        (s = read_rope_scaling(cfg, file, &hp->rope_scaling, err)) == GC_OK &&
        (s = token_id(cfg, "bos_token_id", file, &hp->bos_id, err)) == GC_OK)
        s = token_id(cfg, "eos_token_id", file, &hp->eos_id, err);
    hp->norm_eps = (float)eps;
    hp->rope_theta = (float)theta;
    hp->rope_layout = GC_ROPE_HALF;
    cJSON_Delete(cfg);
    return s == GC_OK ? gc_hparams_check(hp, file, err) : s;
}

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Reads every distinct shard the index's weight_map names (shard names must be plain file names). */
static gc_status read_sharded(gc_model_file *m, const char *index_path, gc_error *err) {
    cJSON *idx;
    gc_status s = read_json_file(index_path, &idx, err);
    if (s != GC_OK)
        return s;
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(idx, "weight_map");
    if (!cJSON_IsObject(map))
        s = gc_fail(err, GC_ERR_FORMAT, "%s: 'weight_map' must be an object", index_path);
    for (const cJSON *e = map ? map->child : NULL; s == GC_OK && e; e = e->next) {
        if (!cJSON_IsString(e) || strchr(e->valuestring, '/') || e->valuestring[0] == '.') {
            s = gc_fail(err, GC_ERR_FORMAT, "%s: weight_map['%.96s'] must name a file in the directory", index_path,
                        e->string);
            break;
        }
        bool seen = false;
        for (const cJSON *p = map->child; p != e && !seen; p = p->next)
            seen = strcmp(p->valuestring, e->valuestring) == 0;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", m->path, e->valuestring);
        if (!seen)
            s = gc_safetensors_read(m, path, err);
    }
    cJSON_Delete(idx);
    return s;
}

static const gc_tensor *find_layer(const gc_model_file *m, int l, const char *suffix) {
    char name[128];
    snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix);
    return gc_model_find_tensor(m, name);
}

static void take(const gc_tensor *src, gc_tensor *dst) {
    if (src)
        *dst = *src;
}

/* Splits a fused [sum(rows), in] tensor into n row views. Absent fused tensors leave dsts empty. */
static gc_status split_rows(const gc_tensor *fused, gc_tensor **dsts, const int64_t *rows, int n, gc_error *err) {
    if (!fused)
        return GC_OK;
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        total += rows[i];
    if (fused->n_dims != 2 || fused->shape[0] != total)
        return gc_fail(err, GC_ERR_FORMAT, "tensor '%s' at offset %" PRIu64 ": %" PRId64 " rows, expected %" PRId64,
                       fused->name, fused->file_offset, fused->shape[0], total);
    int64_t first = 0;
    gc_status s = GC_OK;
    for (int i = 0; i < n && s == GC_OK; first += rows[i], i++)
        s = gc_tensor_rows(fused, first, rows[i], false, NULL, dsts[i], err);
    return s;
}

static gc_status bind_layer(gc_model_file *m, int l, gc_error *err) {
    gc_layer_weights *w = &m->layers[l];
    const gc_hparams *hp = &m->hp;
    take(find_layer(m, l, "input_layernorm.weight"), &w->attn_norm);
    take(find_layer(m, l, "self_attn.q_proj.weight"), &w->wq);
    take(find_layer(m, l, "self_attn.k_proj.weight"), &w->wk);
    take(find_layer(m, l, "self_attn.v_proj.weight"), &w->wv);
    take(find_layer(m, l, "self_attn.q_proj.bias"), &w->bq);
    take(find_layer(m, l, "self_attn.k_proj.bias"), &w->bk);
    take(find_layer(m, l, "self_attn.v_proj.bias"), &w->bv);
    take(find_layer(m, l, "self_attn.o_proj.weight"), &w->wo);
    take(find_layer(m, l, "post_attention_layernorm.weight"), &w->ffn_norm);
    take(find_layer(m, l, "mlp.gate_proj.weight"), &w->w_gate);
    take(find_layer(m, l, "mlp.up_proj.weight"), &w->w_up);
    take(find_layer(m, l, "mlp.down_proj.weight"), &w->w_down);
    int64_t q = (int64_t)hp->n_heads * hp->head_dim, kv = (int64_t)hp->n_kv_heads * hp->head_dim;
    gc_tensor *qkv[] = {&w->wq, &w->wk, &w->wv}, *gate_up[] = {&w->w_gate, &w->w_up};
    const int64_t qkv_rows[] = {q, kv, kv}, ff_rows[] = {hp->n_ff, hp->n_ff};
    gc_status s = split_rows(find_layer(m, l, "self_attn.qkv_proj.weight"), qkv, qkv_rows, 3, err);
    if (s == GC_OK)
        s = split_rows(find_layer(m, l, "mlp.gate_up_proj.weight"), gate_up, ff_rows, 2, err);
    if (s != GC_OK)
        gc_error_prefix(err, "%s", m->path);
    return s;
}

static gc_status bind_model(gc_model_file *m, gc_error *err) {
    m->layers = calloc((size_t)m->hp.n_layers, sizeof *m->layers);
    if (!m->layers)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory", m->path);
    take(gc_model_find_tensor(m, "model.embed_tokens.weight"), &m->tok_embd);
    take(gc_model_find_tensor(m, "model.norm.weight"), &m->out_norm);
    take(gc_model_find_tensor(m, m->hp.tied_embeddings ? "model.embed_tokens.weight" : "lm_head.weight"), &m->lm_head);
    gc_status s = GC_OK;
    for (int l = 0; l < m->hp.n_layers && s == GC_OK; l++)
        s = bind_layer(m, l, err);
    return s;
}

gc_status gc_hf_load_memory(gc_model_file *m, const char *config, size_t config_len, gc_error *err) {
    gc_status s = read_config(config, config_len, "config.json", &m->hp, err);
    if (s == GC_OK)
        s = gc_safetensors_parse(m, m->path, &gc_model_priv_of(m)->maps[0], err);
    return s == GC_OK ? bind_model(m, err) : s;
}

gc_status gc_hf_load(gc_model_file *m, gc_error *err) {
    char path[2048], *config;
    size_t len;
    snprintf(path, sizeof path, "%s/config.json", m->path);
    gc_status s = gc_file_read(path, &config, &len, err);
    if (s != GC_OK)
        return s;
    s = read_config(config, len, path, &m->hp, err);
    free(config);
    if (s != GC_OK)
        return s;
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", m->path);
    if (file_exists(path))
        s = read_sharded(m, path, err);
    else {
        snprintf(path, sizeof path, "%s/model.safetensors", m->path);
        s = gc_safetensors_read(m, path, err);
    }
    if (s == GC_OK)
        s = bind_model(m, err);
    if (s != GC_OK)
        return s;
    char tok[64];
    snprintf(tok, sizeof tok, "tok%d.bin", m->hp.vocab_size);
    const char *candidates[] = {"tokenizer.json", "tokenizer.model", "tokenizer.bin", tok};
    return gc_model_load_tokenizer(m, m->path, candidates, 4, err);
}
