/* gemcl.c - the public API (include/gemcl.h) on top of the model, tokenizer, engine and methods. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_edge.h"
#include "api_internal.h"
#include "methods/method.h"
#include "model/card.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "util/clock.h"

int64_t gemcl_time_us(void) {
    return (int64_t)(gc_now_ms() * 1e3);
}

gemcl_model_params gemcl_model_default_params(void) {
    gemcl_model_params p = {0};
    p.weight_dtype = GEMCL_WEIGHT_DTYPE_AUTO;
    return p;
}

gemcl_context_params gemcl_context_default_params(void) {
    gemcl_context_params p = {0};
    return p;
}

gemcl_generate_params gemcl_generate_default_params(void) {
    gemcl_generate_params p = {0};
    p.max_tokens = 128;
    p.temperature = 0.0f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.seed = 42;
    p.add_bos = -1;
    p.method.method = GEMCL_METHOD_FULL;
    p.method.filter_layer = -1;
    return p;
}

const char *gemcl_method_name(gemcl_method method) {
    switch (method) {
    case GEMCL_METHOD_FULL: return "full";
    case GEMCL_METHOD_GEMFILTER: return "gemfilter";
    case GEMCL_METHOD_SNAPKV: return "snapkv";
    case GEMCL_METHOD_H2O: return "h2o";
    case GEMCL_METHOD_STREAMINGLLM: return "streamingllm";
    case GEMCL_METHOD_PROMPTDISTILL: return "promptdistill";
    case GEMCL_METHOD_H2O_STREAM: return "h2o-stream";
    case GEMCL_METHOD_POD_TF: return "pod-tf";
    case GEMCL_METHOD_STRIDE: return "stride";
    case GEMCL_METHOD_COUNT_: break;
    }
    return NULL;
}

gemcl_status gemcl_method_from_name(const char *name, gemcl_method *method) {
    for (int m = GEMCL_METHOD_FULL; m < GEMCL_METHOD_COUNT_; m++) {
        if (name && strcmp(name, gemcl_method_name((gemcl_method)m)) == 0) {
            *method = (gemcl_method)m;
            return GEMCL_OK;
        }
    }
    return GEMCL_ERR_NOT_FOUND;
}

/* GemFilter defaults: the model card's when one matches, else r = round(0.4 L) and k = 1024. */
void gc_api_file_info(const gc_model_file *f, gemcl_model_info *info) {
    memset(info, 0, sizeof *info);
    const gc_hparams *hp = &f->hp;
    snprintf(info->arch, sizeof info->arch, "%s", hp->arch);
    snprintf(info->format, sizeof info->format, "%s", f->format);
    info->n_layers = hp->n_layers;
    info->n_embd = hp->n_embd;
    info->n_heads = hp->n_heads;
    info->n_kv_heads = hp->n_kv_heads;
    info->head_dim = hp->head_dim;
    info->n_ff = hp->n_ff;
    info->vocab_size = hp->vocab_size;
    info->ctx_train = hp->ctx_train;
    info->n_params = gc_model_file_n_params(f);
    gc_model_card card;
    bool have_card = gc_model_card_match(hp, &card, NULL) == GC_OK;
    info->filter_layer = gc_card_filter_layer(have_card ? &card : NULL, hp->n_layers);
    if (info->filter_layer >= hp->n_layers)
        info->filter_layer = hp->n_layers - 1;
    info->filter_layer_from_card = have_card && card.filter_layer >= 0;
    info->budget = have_card && card.budget > 0 ? card.budget : 1024;
}

static void resolve_filter_defaults(gemcl_model *m) {
    gemcl_model_info info;
    gc_api_file_info(m->file, &info);
    m->filter_layer = info.filter_layer;
    m->filter_layer_from_card = info.filter_layer_from_card;
    m->budget = info.budget;
}

gemcl_status gemcl_model_load(const char *path, const gemcl_model_params *params, gemcl_model **out, char *errbuf,
                              size_t errlen) {
    gc_error err;
    gc_error_clear(&err);
    if (!out || !path) {
        gc_fail(&err, GC_ERR_INVALID_ARG, "gemcl_model_load needs a path and a place for the model");
        gc_error_copy_out(&err, errbuf, errlen);
        return gc_status_public(err.status);
    }
    *out = NULL;
    gemcl_model_params p = params ? *params : gemcl_model_default_params();
    gemcl_model *m = calloc(1, sizeof *m);
    if (!m || pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        gc_fail(&err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
        gc_error_copy_out(&err, errbuf, errlen);
        return gc_status_public(err.status);
    }
    gc_runtime_params rp = gc_runtime_default_params();
    rp.device = p.device;
    rp.profiling = p.profiling != 0;
    gc_api_log_bind(&rp, &m->log_sink, p.log, p.log_user);
    gc_model_open_params op = {p.tokenizer_path};
    gc_status st = gc_model_file_open(path, &op, &m->file, &err);
    if (st == GC_OK && !m->file->tokenizer)
        st = gc_fail(&err, GC_ERR_NOT_FOUND, "%s: no tokenizer found beside the model (pass a tokenizer path)", path);
    if (st == GC_OK)
        st = gc_runtime_create(&rp, &m->rt, &err);
    if (st == GC_OK)
        st = gc_ops_create(m->rt, &m->ops, &err);
    if (st == GC_OK)
        gc_ops_set_act_f32(m->ops, p.act_f32 != 0);
    if (st == GC_OK)
        st = gc_dmodel_upload(m->ops, m->file, p.weight_dtype, &m->dm, &err);
    if (st != GC_OK) {
        gc_error_copy_out(&err, errbuf, errlen);
        gemcl_model_free(m);
        return gc_status_public(st);
    }
    resolve_filter_defaults(m);
    *out = m;
    return GEMCL_OK;
}

void gemcl_model_free(gemcl_model *m) {
    if (!m)
        return;
    if (m->dm)
        gc_dmodel_free(m->rt, m->dm);
    gc_ops_free(m->ops);
    gc_runtime_free(m->rt);
    gc_model_file_close(m->file);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

gemcl_status gemcl_model_get_info(const gemcl_model *m, gemcl_model_info *info) {
    if (!m || !info)
        return GEMCL_ERR_INVALID_ARG;
    gc_api_file_info(m->file, info);
    snprintf(info->device_name, sizeof info->device_name, "%s", m->rt->dev.info.name);
    info->weight_bytes = m->dm->weight_bytes;
    return GEMCL_OK;
}

gemcl_status gemcl_model_write_trace(gemcl_model *m, const char *path, char *errbuf, size_t errlen) {
    gc_error err;
    if (!m || !path) {
        gc_fail(&err, GC_ERR_INVALID_ARG, "gemcl_model_write_trace needs a model and a path");
        gc_error_copy_out(&err, errbuf, errlen);
        return gc_status_public(err.status);
    }
    gc_api_lock(m);
    gc_status st = gc_trace_write_chrome(m->rt, path, &err);
    gc_api_unlock(m);
    if (st != GC_OK)
        gc_error_copy_out(&err, errbuf, errlen);
    return gc_status_public(st);
}

/* Refuses negative sizes and a context whose per-layer K (or V) buffer, or whose prefill scratch, could
 * never be allocated: the cache grows lazily, so without this the failure would come mid-generation. */
static gc_status check_context_fits(const gemcl_model *m, const gemcl_context_params *p, gc_error *err) {
    if (p->n_ctx < 0 || p->n_ubatch < 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "n_ctx and n_ubatch must be >= 0 (got %d and %d)", p->n_ctx,
                       p->n_ubatch);
    const gc_hparams *hp = &m->file->hp;
    uint64_t n_ctx = (uint64_t)(p->n_ctx > 0 ? p->n_ctx : hp->ctx_train);
    uint64_t n_ub = (uint64_t)(p->n_ubatch > 0 ? p->n_ubatch : 512);
    if (n_ub > n_ctx)
        n_ub = n_ctx;
    uint64_t kv_row = (uint64_t)hp->n_kv_heads * (uint64_t)hp->head_dim * 4;
    uint64_t q_dim = (uint64_t)hp->n_heads * (uint64_t)hp->head_dim, widest = (uint64_t)hp->n_ff;
    if (q_dim > widest)
        widest = q_dim;
    if ((uint64_t)hp->n_embd > widest)
        widest = (uint64_t)hp->n_embd;
    uint64_t max_alloc = m->rt->dev.info.max_alloc_bytes;
    if (n_ctx * kv_row > max_alloc)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY,
                       "a context of %llu tokens needs %llu bytes per layer for K (and again for V), above the "
                       "device's largest allocation of %llu bytes (%s); use at most %llu tokens",
                       (unsigned long long)n_ctx, (unsigned long long)(n_ctx * kv_row), (unsigned long long)max_alloc,
                       m->rt->dev.info.name, (unsigned long long)(max_alloc / kv_row));
    if (n_ub * widest * 4 > max_alloc)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY,
                       "a prefill chunk (n_ubatch) of %llu tokens needs %llu bytes of scratch, above the device's "
                       "largest allocation of %llu bytes (%s)",
                       (unsigned long long)n_ub, (unsigned long long)(n_ub * widest * 4), (unsigned long long)max_alloc,
                       m->rt->dev.info.name);
    return GC_OK;
}

gemcl_status gemcl_context_create(gemcl_model *model, const gemcl_context_params *params, gemcl_context **out,
                                  char *errbuf, size_t errlen) {
    gc_error err;
    if (!out || !model) {
        gc_fail(&err, GC_ERR_INVALID_ARG, "gemcl_context_create needs a model and a place for the context");
        gc_error_copy_out(&err, errbuf, errlen);
        return gc_status_public(err.status);
    }
    *out = NULL;
    gemcl_context_params p = params ? *params : gemcl_context_default_params();
    gc_status st = check_context_fits(model, &p, &err);
    if (st != GC_OK) {
        gc_error_copy_out(&err, errbuf, errlen);
        return gc_status_public(st);
    }
    gemcl_context *c = calloc(1, sizeof *c);
    if (!c) {
        gc_fail(&err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
        gc_error_copy_out(&err, errbuf, errlen);
        return gc_status_public(err.status);
    }
    c->model = model;
    c->n_ubatch = p.n_ubatch;
    gc_seq_params sp = {p.n_ctx, p.n_ubatch};
    gc_api_lock(model);
    st = gc_seq_create(model->ops, model->dm, &sp, &c->seq, &err);
    gc_api_unlock(model);
    if (st != GC_OK) {
        gc_error_copy_out(&err, errbuf, errlen);
        free(c);
        return gc_status_public(st);
    }
    gc_error_clear(&c->err);
    *out = c;
    return GEMCL_OK;
}

void gemcl_context_free(gemcl_context *c) {
    if (!c)
        return;
    gc_api_lock(c->model);
    gc_seq_free(c->seq);
    gc_api_unlock(c->model);
    free(c->kept_ids);
    free(c->history);
    free(c);
}

const char *gemcl_context_last_error(const gemcl_context *c) {
    return c ? c->err.msg : "no context";
}

void gemcl_free(void *ptr) {
    free(ptr);
}

gemcl_status gemcl_tokenize(const gemcl_model *m, const char *text, size_t len, int add_bos, int parse_special,
                            int32_t **ids, int *n_ids, char *errbuf, size_t errlen) {
    gc_error err;
    if (!m || !ids || !n_ids || (!text && len)) {
        gc_fail(&err, GC_ERR_INVALID_ARG, "gemcl_tokenize needs a model, text and places for the ids");
        gc_error_copy_out(&err, errbuf, errlen);
        return gc_status_public(err.status);
    }
    *ids = NULL;
    gc_status st =
        gc_tokenizer_encode_prompt(m->file->tokenizer, text, len, add_bos, parse_special != 0, ids, n_ids, &err);
    if (st != GC_OK) {
        *ids = NULL;
        gc_error_copy_out(&err, errbuf, errlen);
    }
    return gc_status_public(st);
}

gemcl_status gemcl_detokenize(const gemcl_model *m, const int32_t *ids, int n_ids, char **text, size_t *len,
                              char *errbuf, size_t errlen) {
    gc_error err;
    if (!m || !text || (!ids && n_ids) || n_ids < 0) {
        gc_fail(&err, GC_ERR_INVALID_ARG, "gemcl_detokenize needs a model, ids and a place for the text");
        gc_error_copy_out(&err, errbuf, errlen);
        return gc_status_public(err.status);
    }
    gc_status st = gc_tokenizer_decode(m->file->tokenizer, ids, n_ids, text, len, &err);
    if (st != GC_OK)
        gc_error_copy_out(&err, errbuf, errlen);
    return gc_status_public(st);
}

void gemcl_result_free(gemcl_result *r) {
    if (!r)
        return;
    free(r->text);
    free(r->kept_indices);
    free(r->kept_positions);
    memset(r, 0, sizeof *r);
}
