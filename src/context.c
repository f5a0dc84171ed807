/* context.c - the token-level half of the public API (include/gemcl.h, "Driving the loop yourself",
 * "What a compression method kept", "Counters"): prefill, decode, logits, kept tokens, stats, and the
 * model lock every device call takes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api_edge.h"
#include "util/clock.h"
#include "api_internal.h"

void gc_api_lock(gemcl_model *m) {
    pthread_mutex_lock(&m->lock);
}

void gc_api_unlock(gemcl_model *m) {
    if (m->rt->bytes_peak > m->bytes_peak)
        m->bytes_peak = m->rt->bytes_peak;
    pthread_mutex_unlock(&m->lock);
}

bool gc_api_is_end(const gc_tokenizer *tok, int32_t id) {
    return gc_tokenizer_is_eog(tok, id); /* for llama2.c tokenizers that includes BOS (its EOT) */
}

gc_status gc_api_check_generate_params(const gemcl_generate_params *p, gc_error *err) {
    if (p->max_tokens < 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "max_tokens must be >= 0 (got %d)", p->max_tokens);
    if (isnan(p->temperature))
        return gc_fail(err, GC_ERR_INVALID_ARG, "temperature is NaN");
    if (p->top_k < 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "top_k must be >= 0 (got %d)", p->top_k);
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return gc_fail(err, GC_ERR_INVALID_ARG, "top_p must be in (0, 1] (got %g)", (double)p->top_p);
    if (p->n_stop < 0 || (p->n_stop > 0 && !p->stop))
        return gc_fail(err, GC_ERR_INVALID_ARG, "n_stop is %d but stop is %s", p->n_stop, p->stop ? "set" : "NULL");
    for (int i = 0; i < p->n_stop; i++)
        if (!p->stop[i])
            return gc_fail(err, GC_ERR_INVALID_ARG, "stop string %d is NULL", i);
    if (p->method.budget < 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "budget must be >= 0 (got %d)", p->method.budget);
    if (p->method.filter_layer < -1)
        return gc_fail(err, GC_ERR_INVALID_ARG, "filter_layer must be -1 (default) or a layer (got %d)",
                       p->method.filter_layer);
    return GC_OK;
}

void gc_api_record_generate(gemcl_context *c, const gemcl_result *r, bool gathered, int32_t *ids) {
    int n_kept = 0, n_prefilled = r->n_prompt_tokens;
    if (gathered) { /* a selection before the prefill: ids[0 .. n_kept) are what the model saw */
        n_kept = n_prefilled = r->n_kept_tokens;
    } else if (r->kept_indices) { /* a selection after it: one list of prompt positions */
        n_kept = r->n_kept_tokens;
        for (int i = 0; i < n_kept; i++)
            ids[i] = ids[r->kept_indices[i]]; /* ascending, so in place */
    } else if (r->n_kept_tokens == r->n_prompt_tokens) {
        n_kept = r->n_kept_tokens;
    } /* else no single list (e.g. different tokens per KV head): none */
    free(c->kept_ids);
    c->kept_ids = ids;
    c->n_kept = n_kept;
    c->stats.n_generate_calls++;
    c->stats.n_prefill_tokens += n_prefilled;
    c->stats.n_decode_tokens += r->n_generated > 1 ? r->n_generated - 1 : 0; /* the first came from the prefill */
    c->stats.filter_ms += r->filter_ms;
    c->stats.prefill_ms += r->prefill_ms;
    c->stats.decode_ms += r->decode_ms;
}

gemcl_status gemcl_context_reset(gemcl_context *c) {
    if (!c)
        return GEMCL_ERR_INVALID_ARG;
    gc_error_clear(&c->err);
    gc_seq_reset(c->seq);
    c->logits_valid = false;
    c->n_history = 0;
    free(c->kept_ids);
    c->kept_ids = NULL;
    c->n_kept = 0;
    return GEMCL_OK;
}

/* What a token-level call runs. */
typedef enum step_kind { STEP_PREFILL, STEP_DECODE, STEP_SCORE } step_kind;

/* The rows every layer holds, so a call that fails after some prefill chunks ran can put the cache back. */
typedef struct cache_mark {
    int n_past, next_pos;
    int *kv_len; /* (n_layers) */
} cache_mark;

static gc_status cache_mark_take(gemcl_context *c, cache_mark *mark) {
    const gc_seq *seq = c->seq;
    size_t bytes = (size_t)seq->m->hp.n_layers * sizeof *mark->kv_len;
    mark->n_past = seq->n_past;
    mark->next_pos = seq->next_pos;
    mark->kv_len = malloc(bytes);
    if (!mark->kv_len)
        return gc_fail(&c->err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
    memcpy(mark->kv_len, seq->kv_len, bytes);
    return GC_OK;
}

static void cache_mark_restore(gc_seq *seq, const cache_mark *mark) {
    seq->n_past = mark->n_past;
    seq->next_pos = mark->next_pos;
    memcpy(seq->kv_len, mark->kv_len, (size_t)seq->m->hp.n_layers * sizeof *seq->kv_len);
}

/* Runs n ids (decode: ids[0], one step) under the lock; on failure the cache is as before. Prefill and decode
 * leave the last row's logits on the device; scoring writes n - 1 - first values to nll instead. */
static gc_status step(gemcl_context *c, step_kind kind, const int32_t *ids, int n, int first, int32_t *next_id,
                      float *nll) {
    gc_seq *seq = c->seq;
    cache_mark mark;
    GC_TRY(cache_mark_take(c, &mark));
    gc_api_lock(c->model);
    c->logits_valid = false;
    c->n_history = 0; /* the caller's own tokens: gemcl_generate's prompt cache no longer knows the cache */
    double t0 = gc_now_ms();
    gc_status st = kind == STEP_DECODE    ? gc_seq_decode(seq, ids[0], NULL, next_id, NULL, &c->err)
                   : kind == STEP_PREFILL ? gc_seq_prefill(seq, ids, NULL, n, NULL, next_id, NULL, &c->err)
                                          : gc_seq_score(seq, ids, n, first, nll, &c->err);
    double ms = gc_now_ms() - t0;
    gc_api_unlock(c->model);
    if (st != GC_OK)
        cache_mark_restore(seq, &mark);
    free(mark.kv_len);
    if (st != GC_OK)
        return st;
    c->logits_valid = kind != STEP_SCORE;
    if (kind == STEP_DECODE) {
        c->stats.n_decode_tokens++;
        c->stats.decode_ms += ms;
    } else {
        c->stats.n_prefill_tokens += n;
        c->stats.prefill_ms += ms;
    }
    return GC_OK;
}

gemcl_status gemcl_context_prefill(gemcl_context *c, const int32_t *ids, int n_ids, int32_t *next_id) {
    if (!c)
        return GEMCL_ERR_INVALID_ARG;
    gc_error_clear(&c->err);
    if (!ids || n_ids <= 0)
        return gc_status_public(gc_fail(&c->err, GC_ERR_INVALID_ARG, "prefill needs ids and n_ids > 0 (got %s, %d)",
                                        ids ? "ids" : "NULL", n_ids));
    return gc_status_public(step(c, STEP_PREFILL, ids, n_ids, 0, next_id, NULL));
}

gemcl_status gemcl_context_decode(gemcl_context *c, int32_t id, int32_t *next_id) {
    if (!c)
        return GEMCL_ERR_INVALID_ARG;
    gc_error_clear(&c->err);
    return gc_status_public(step(c, STEP_DECODE, &id, 1, 0, next_id, NULL));
}

gemcl_status gemcl_context_score(gemcl_context *c, const int32_t *ids, int n_ids, int first_scored, float *nll) {
    if (!c)
        return GEMCL_ERR_INVALID_ARG;
    gc_error_clear(&c->err);
    if (!ids || !nll)
        return gc_status_public(gc_fail(&c->err, GC_ERR_INVALID_ARG, "score needs ids and nll (got %s, %s)",
                                        ids ? "ids" : "NULL", nll ? "nll" : "NULL"));
    if (n_ids < 2 || first_scored < 0 || first_scored > n_ids - 2)
        return gc_status_public(
            gc_fail(&c->err, GC_ERR_INVALID_ARG,
                    "score needs n_ids >= 2 and 0 <= first_scored <= n_ids - 2 (got n_ids %d, first_scored %d)", n_ids,
                    first_scored));
    return gc_status_public(step(c, STEP_SCORE, ids, n_ids, first_scored, NULL, nll));
}

gemcl_status gemcl_context_logits(gemcl_context *c, float *out, int n) {
    if (!c)
        return GEMCL_ERR_INVALID_ARG;
    gc_error_clear(&c->err);
    int vocab = c->model->file->hp.vocab_size;
    if (!out || n < vocab)
        return gc_status_public(gc_fail(&c->err, GC_ERR_INVALID_ARG, "logits need room for %d floats (got %d%s)", vocab,
                                        n, out ? "" : ", NULL"));
    if (!c->logits_valid)
        return gc_status_public(
            gc_fail(&c->err, GC_ERR_NOT_FOUND, "no logits: run gemcl_context_prefill or gemcl_context_decode first"));
    gc_api_lock(c->model);
    gc_status st = gc_buffer_read(c->model->rt, &c->seq->s.logits, 0, out, (size_t)vocab * sizeof *out, &c->err);
    gc_api_unlock(c->model);
    return gc_status_public(st);
}

int32_t gemcl_model_token_bos(const gemcl_model *m, int *add_bos) {
    const gc_tokenizer *tok = m ? m->file->tokenizer : NULL;
    if (add_bos)
        *add_bos = tok && gc_tokenizer_add_bos(tok);
    return tok ? gc_tokenizer_bos(tok) : -1;
}

int gemcl_model_token_is_end(const gemcl_model *m, int32_t id) {
    return m && gc_api_is_end(m->file->tokenizer, id);
}

gemcl_status gemcl_context_kept_ids(const gemcl_context *c, const int32_t **ids, int *n_ids) {
    if (!c || !ids || !n_ids)
        return GEMCL_ERR_INVALID_ARG;
    *ids = c->kept_ids;
    *n_ids = c->n_kept;
    return GEMCL_OK;
}

gemcl_status gemcl_context_kept_text(const gemcl_context *c, char **text, size_t *len) {
    if (!c || !text)
        return GEMCL_ERR_INVALID_ARG;
    *text = NULL;
    return gc_status_public(gc_tokenizer_decode(c->model->file->tokenizer, c->kept_ids, c->n_kept, text, len, NULL));
}

/* Device bytes this context's sequence holds: KV as allocated so far, and the prefill scratch. */
static uint64_t seq_device_bytes(const gc_seq *seq) {
    uint64_t bytes = 0;
    for (int l = 0; l < seq->m->hp.n_layers; l++)
        bytes += seq->k_cache[l].bytes + seq->v_cache[l].bytes;
    return bytes + gc_scratch_device_bytes(&seq->s);
}

gemcl_status gemcl_context_get_stats(const gemcl_context *c, gemcl_context_stats *stats) {
    if (!c || !stats)
        return GEMCL_ERR_INVALID_ARG;
    *stats = c->stats;
    gemcl_model *m = c->model;
    gc_api_lock(m);
    stats->device_bytes_current = m->rt->bytes_current;
    stats->device_bytes_peak = m->rt->bytes_peak > m->bytes_peak ? m->rt->bytes_peak : m->bytes_peak;
    stats->weight_bytes = m->dm->weight_bytes;
    stats->context_bytes = seq_device_bytes(c->seq);
    gc_api_unlock(m);
    stats->kv_bytes_used = gc_seq_kv_bytes(c->seq);
    stats->n_ctx = c->seq->n_ctx;
    stats->n_past = c->seq->n_past;
    return GEMCL_OK;
}
