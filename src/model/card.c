/* card.c - model cards; see card.h. */
#include "model/card.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "model/model_internal.h"
#include "util/fileio.h"

static gc_status copy_str(const cJSON *o, const char *key, bool required, const char *file, char *out, size_t cap,
                          gc_error *err) {
    const char *s;
    gc_status st = gc_json_str(o, key, file, &s, err);
    if (st == GC_OK && !s && required)
        st = gc_fail(err, GC_ERR_FORMAT, "%s: '%s' is missing", file, key);
    if (st == GC_OK)
        snprintf(out, cap, "%s", s ? s : "");
    return st;
}

static gc_status read_shapes(const cJSON *o, const char *file, gc_hparams *hp, gc_error *err) {
    if (!cJSON_IsObject(o))
        return gc_fail(err, GC_ERR_FORMAT, "%s: 'shapes' must be an object", file);
    struct { const char *key; int *dst; } f[] = {
        {"n_layers", &hp->n_layers}, {"n_embd", &hp->n_embd}, {"n_heads", &hp->n_heads},
        {"n_kv_heads", &hp->n_kv_heads}, {"head_dim", &hp->head_dim}, {"n_ff", &hp->n_ff},
        {"vocab_size", &hp->vocab_size}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        int64_t v;
        gc_status s = gc_json_int(o, f[i].key, true, 0, 1, 1 << 24, file, &v, err);
        if (s != GC_OK)
            return s;
        *f[i].dst = (int)v;
    }
    return GC_OK;
}

static gc_status read_rope(const cJSON *o, const char *file, gc_model_card *c, gc_error *err) {
    double theta, f, lo, hi;
    char layout[16];
    int64_t orig;
    gc_status s = gc_json_num(o, "theta", true, 10000, file, &theta, err);
    if (s == GC_OK)
        s = copy_str(o, "layout", true, file, layout, sizeof layout, err);
    if (s != GC_OK)
        return s;
    c->hp.rope_theta = (float)theta;
    c->hp.rope_layout = strcmp(layout, "adjacent") == 0 ? GC_ROPE_ADJACENT : GC_ROPE_HALF;
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(o, "scaling");
    strcpy(c->rope_scaling, "none");
    if (!cJSON_IsObject(sc))
        return GC_OK;
    if ((s = copy_str(sc, "type", true, file, c->rope_scaling, sizeof c->rope_scaling, err)) != GC_OK ||
        strcmp(c->rope_scaling, "llama3") != 0)
        return s;
    if ((s = gc_json_num(sc, "factor", true, 1, file, &f, err)) == GC_OK &&
        (s = gc_json_num(sc, "low_freq_factor", true, 1, file, &lo, err)) == GC_OK &&
        (s = gc_json_num(sc, "high_freq_factor", true, 4, file, &hi, err)) == GC_OK &&
        (s = gc_json_int(sc, "original_max_position_embeddings", true, 0, 1, INT32_MAX, file, &orig, err)) == GC_OK)
        c->hp.rope_scaling = (gc_rope_scaling){GC_ROPE_SCALING_LLAMA3, (float)f, (float)lo, (float)hi, (int)orig};
    return s;
}

static gc_status read_gemfilter(const cJSON *card, const char *file, gc_model_card *c, gc_error *err) {
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(card, "gemfilter");
    int64_t r, k;
    c->filter_layer = c->budget = -1;
    if (!g || cJSON_IsNull(g))
        return GC_OK;
    gc_status s = gc_json_int(g, "filter_layer", true, -1, 0, c->hp.n_layers - 1, file, &r, err);
    if (s == GC_OK)
        s = gc_json_int(g, "budget", true, -1, 1, INT32_MAX, file, &k, err);
    if (s == GC_OK)
        c->filter_layer = (int)r, c->budget = (int)k;
    return s;
}

static gc_status read_card(const cJSON *o, const char *file, gc_model_card *c, gc_error *err) {
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(o, "context");
    double eps;
    int64_t trained, max_pos, bos, eos;
    gc_status s;
    if ((s = copy_str(o, "name", true, file, c->name, sizeof c->name, err)) != GC_OK ||
        (s = copy_str(o, "family", true, file, c->family, sizeof c->family, err)) != GC_OK ||
        (s = copy_str(o, "arch", true, file, c->hp.arch, sizeof c->hp.arch, err)) != GC_OK ||
        (s = read_shapes(cJSON_GetObjectItemCaseSensitive(o, "shapes"), file, &c->hp, err)) != GC_OK ||
        (s = read_rope(cJSON_GetObjectItemCaseSensitive(o, "rope"), file, c, err)) != GC_OK ||
        (s = gc_json_num(o, "norm_eps", true, 1e-5, file, &eps, err)) != GC_OK ||
        (s = gc_json_bool(o, "tied_embeddings", false, file, &c->hp.tied_embeddings, err)) != GC_OK ||
        (s = gc_json_bool(o, "qkv_bias", false, file, &c->hp.qkv_bias, err)) != GC_OK ||
        (s = gc_json_int(o, "bos_id", false, -1, -1, INT32_MAX, file, &bos, err)) != GC_OK ||
        (s = gc_json_int(o, "eos_id", false, -1, -1, INT32_MAX, file, &eos, err)) != GC_OK ||
        (s = gc_json_int(ctx, "trained", true, 0, 1, INT32_MAX, file, &trained, err)) != GC_OK ||
        (s = gc_json_int(ctx, "max_position_embeddings", false, trained, 1, INT32_MAX, file, &max_pos, err)) != GC_OK)
        return s;
    c->hp.norm_eps = (float)eps;
    c->hp.bos_id = (int)bos, c->hp.eos_id = (int)eos;
    c->ctx_trained = (int)trained;
    c->hp.ctx_train = (int)max_pos;
    if ((s = read_gemfilter(o, file, c, err)) != GC_OK)
        return s;
    return gc_hparams_check(&c->hp, file, err);
}

gc_status gc_model_card_parse(const char *json, size_t len, const char *file, gc_model_card *out, gc_error *err) {
    cJSON *o;
    memset(out, 0, sizeof *out);
    gc_status s = gc_json_parse(json, len, file, &o, err);
    if (s != GC_OK)
        return s;
    s = cJSON_IsObject(o) ? read_card(o, file, out, err) : gc_fail(err, GC_ERR_FORMAT, "%s: not a JSON object", file);
    cJSON_Delete(o);
    return s;
}

gc_status gc_model_card_load(const char *name_or_path, gc_model_card *out, gc_error *err) {
    if (strchr(name_or_path, '/') || strstr(name_or_path, ".json")) {
        char *text;
        size_t len;
        gc_status s = gc_file_read(name_or_path, &text, &len, err);
        if (s == GC_OK)
            s = gc_model_card_parse(text, len, name_or_path, out, err);
        free(text);
        return s;
    }
    char known[512] = "";
    for (const gc_json_source *c = gc_card_sources; c->name; c++) {
        if (strcmp(c->name, name_or_path) == 0)
            return gc_model_card_parse(c->json, c->len, c->name, out, err);
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", known[0] ? ", " : "", c->name);
    }
    return gc_fail(err, GC_ERR_NOT_FOUND, "no model card '%s' (known: %s)", name_or_path, known);
}

static bool same_shape(const gc_hparams *a, const gc_hparams *b) {
    return strcmp(a->arch, b->arch) == 0 && a->n_layers == b->n_layers && a->n_embd == b->n_embd &&
           a->n_heads == b->n_heads && a->n_kv_heads == b->n_kv_heads && a->head_dim == b->head_dim &&
           a->n_ff == b->n_ff && a->vocab_size == b->vocab_size;
}

gc_status gc_model_card_match(const gc_hparams *hp, gc_model_card *out, gc_error *err) {
    for (const gc_json_source *c = gc_card_sources; c->name; c++) {
        gc_status s = gc_model_card_parse(c->json, c->len, c->name, out, err);
        if (s != GC_OK)
            return s;
        if (same_shape(hp, &out->hp))
            return GC_OK;
    }
    return gc_fail(err, GC_ERR_NOT_FOUND, "no model card matches %s with %d layers, width %d", hp->arch, hp->n_layers,
                   hp->n_embd);
}

int gc_card_filter_layer(const gc_model_card *card, int n_layers) {
    if (card && card->filter_layer >= 0)
        return card->filter_layer;
    return (int)lround(0.4 * n_layers);
}
