/* generate.c - gemcl_generate: check the parameters, tokenize, run the request through the engine
 * (engine/request.h: the method's selection, prefill, compression and decode) and stream the text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_edge.h"
#include "api_internal.h"
#include "engine/request.h"
#include "methods/method.h"
#include "tokenizer/chat.h"
#include "tokenizer/tokenizer.h"
#include "util/grow.h"

/* The generated text, streamed to the caller while holding back what could still become a stop string. */
typedef struct text_out {
    char *buf;
    size_t len, cap;
    size_t streamed;           /* bytes already given to on_token */
    size_t hold;               /* longest stop string - 1 */
    const gemcl_generate_params *p;
    bool stopped;              /* a stop string matched or the callback asked to stop */
} text_out;

static size_t utf8_boundary(const char *s, size_t at) {
    while (at > 0 && ((unsigned char)s[at] & 0xC0) == 0x80)
        at--;
    return at;
}

static void stream_to(text_out *o, size_t upto, int32_t id) {
    if (upto <= o->streamed)
        return;
    if (o->p->on_token && o->p->on_token(o->buf + o->streamed, upto - o->streamed, id, o->p->on_token_user))
        o->stopped = true;
    o->streamed = upto;
}

static gc_status text_append(text_out *o, const char *piece, size_t n, int32_t id, gc_error *err) {
    if (o->len + n + 1 > o->cap) {
        size_t cap = (o->cap ? o->cap * 2 : 256) + n;
        char *b = realloc(o->buf, cap);
        if (!b)
            return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory for the output text");
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, piece, n);
    o->len += n;
    o->buf[o->len] = '\0';
    size_t from = o->streamed > o->hold + n ? o->streamed - o->hold - n : 0;
    for (int i = 0; i < o->p->n_stop; i++) {
        const char *hit = strstr(o->buf + from, o->p->stop[i]);
        if (hit && o->p->stop[i][0]) {
            o->len = (size_t)(hit - o->buf);
            o->buf[o->len] = '\0';
            stream_to(o, o->len, id);
            o->stopped = true;
            return GC_OK;
        }
    }
    if (o->len > o->hold)
        stream_to(o, utf8_boundary(o->buf, o->len - o->hold), id);
    return GC_OK;
}

/* The KV method's report into the result (ownership moves). */
static void take_report(gc_kept_report *k, gemcl_result *r) {
    if (k->tokens) {
        r->kept_indices = k->tokens;
        r->n_kept_tokens = k->n_tokens;
    }
    if (k->heads) {
        r->kept_positions = k->heads;
        r->kept_layers = k->n_layers, r->kept_kv_heads = k->n_kv_heads, r->kept_per_head = k->per_head;
        r->n_kept_tokens = k->per_head;
    }
    memset(k, 0, sizeof *k);
}

/* The prompt's token ids: tokenized (or copied from given, the caller's ids), and middle-truncated to fit when
 * asked. */
static gc_status prompt_ids(gemcl_context *c, const char *prompt, size_t len, const gc_prompt_ids *given,
                            const gemcl_generate_params *p, const gc_method *method, int32_t **ids, int *n,
                            gc_error *err) {
    const gc_tokenizer *tok = c->model->file->tokenizer;
    gc_status st = GC_OK;
    if (given) {
        if (!(*ids = malloc((size_t)(given->n > 0 ? given->n : 1) * sizeof **ids)))
            return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory for %d prompt ids", given->n);
        memcpy(*ids, given->ids, (size_t)given->n * sizeof **ids);
        *n = given->n;
    } else {
        st = gc_tokenizer_encode_prompt(tok, prompt, len, p->add_bos, p->parse_special != 0, ids, n, err);
    }
    if (st != GC_OK)
        return st;
    int limit = c->seq->n_ctx - 1;
    /* only a method that chooses tokens before the prefill (gemfilter) can take a prompt longer than the
     * context; the KV methods prefill the whole prompt first */
    bool compresses = method->before_prefill != NULL;
    if (*n > limit && !compresses && !p->truncate_middle)
        return gc_fail(err, GC_ERR_CONTEXT_FULL,
                       "the prompt has %d tokens but the context holds %d (use a larger context, gemfilter, "
                       "or middle truncation)",
                       *n, c->seq->n_ctx);
    /* Middle truncation leaves room for the answer: the first new token comes from the prefill and each later
     * one takes a row, so max_tokens need max_tokens - 1 rows after the prompt (keeping n_ctx - 1 prompt rows
     * left room for 2, issue 16). At most half the context is given up; beyond that the run stops early, and
     * says so (the CLI prints "context full"). */
    int reserve = p->max_tokens > 2 ? p->max_tokens - 1 : 1, half = c->seq->n_ctx / 2;
    int target = c->seq->n_ctx - (reserve < half ? reserve : half);
    if (p->truncate_middle && !compresses && *n > target) {
        int head = target / 2, tail = target - head; /* LongBench: keep the first and last halves */
        memmove(*ids + head, *ids + *n - tail, (size_t)tail * sizeof **ids);
        gc_log(c->model->rt, GC_LOG_LEVEL_WARN,
               "middle truncation: kept %d of the prompt's %d tokens, leaving room for %d new tokens in the "
               "%d-token context",
               target, *n, c->seq->n_ctx - target + 1, c->seq->n_ctx);
        *n = target;
    }
    return GC_OK;
}

/* How many leading prompt ids the cache holds and may keep (cache_prompt): all of the last call's prompt +
 * reply when ids extend them (whatever a method compressed), else the common prefix when the cache is one
 * row per token; at least one id is always left to prefill, for the next token's logits. */
static int reusable_prefix(const gemcl_context *c, const int32_t *ids, int n) {
    int lcp = 0;
    while (lcp < c->n_history && lcp < n && c->history[lcp] == ids[lcp])
        lcp++;
    if (lcp == c->n_history && lcp < n)
        return lcp;
    return c->history_exact ? (lcp < n ? lcp : n - 1) : 0;
}

/* The tokens whose KV a call leaves in the cache: its prompt, then each reply token fed back. */
typedef struct token_list {
    int32_t *ids;
    size_t n, cap;
} token_list;

static gc_status token_push(token_list *l, int32_t id, gc_error *err) {
    if (!gc_grow((void **)&l->ids, &l->cap, l->n, sizeof *l->ids, 256))
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory for the prompt cache");
    l->ids[l->n++] = id;
    return GC_OK;
}

/* What the token sink needs: the text, the tokenizer's end check, the tokens the cache may come to hold. */
typedef struct sink_state {
    const gc_tokenizer *tok;
    const gemcl_generate_params *p;
    gc_detok detok;
    text_out *out;
    token_list *fed;           /* the prompt, then every generated token (the last one may never be fed) */
    gemcl_result *r;
} sink_state;

/* The engine's token sink: stops at an end token, else streams the token's text and keeps the token. */
static gc_status take_token(void *user, int32_t id, bool *stop, gc_error *err) {
    sink_state *k = user;
    if (!k->p->ignore_eos && gc_api_is_end(k->tok, id)) {
        *stop = true;
        return GC_OK;
    }
    char piece[256];
    size_t np = gc_detok_push(&k->detok, id, piece, sizeof piece);
    k->r->n_generated++;
    GC_TRY(token_push(k->fed, id, err));
    GC_TRY(text_append(k->out, piece, np, id, err));
    *stop = k->out->stopped;
    return GC_OK;
}

/* How many of the prompt's last ids are the model's chat reply header (gemfilter.c scores with the query of
 * the token before them): the header its chat template writes, tokenized with special tokens, must be the
 * prompt's last ids; else 0 (a raw prompt, another template, specials written as text). */
static int reply_header_ids(const gemcl_context *c, const int32_t *ids, int n) {
    const char *tmpl = c->model->file->chat_template;
    gc_chat_family f;
    char *header = NULL;
    size_t hl = 0;
    int32_t *hids = NULL;
    int m = 0, rows = 0;
    gc_error err;
    if (!tmpl || !gc_chat_detect(tmpl, &f) || gc_chat_reply_header(f, &header, &hl, &err) != GC_OK)
        return 0;
    if (hl > 0 && gc_tokenizer_encode_prompt(c->model->file->tokenizer, header, hl, 0, true, &hids, &m, &err) == GC_OK &&
        m > 0 && m < n && memcmp(ids + n - m, hids, (size_t)m * sizeof *ids) == 0)
        rows = m;
    free(header);
    free(hids);
    return rows;
}

/* The request for this call: the method's plan (full when the cache already holds the prompt's start) over
 * the prompt, with its options resolved once from the model's defaults. */
static gc_status request_init(gemcl_context *c, const gemcl_generate_params *p, const gc_method *method, int32_t *ids,
                              int n, int reuse, gc_request *rq, gemcl_result *r, gc_error *err) {
    gemcl_model *m = c->model;
    *rq = (gc_request){0};
    rq->method = reuse > 0 ? gc_method_of(GEMCL_METHOD_FULL) : method;
    rq->args = (gc_method_args){m->ops, m->dm, ids, n, p->method.filter_layer, p->method.budget, c->n_ubatch,
                                &c->seq->progress, 0};
    rq->kv = (gc_kv_args){&p->method, 0};
    rq->reuse = reuse;
    rq->smp = (gc_sampling){p->temperature, p->top_k, p->top_p, p->seed ? p->seed : 0x9E3779B97F4A7C15ULL};
    rq->max_tokens = p->max_tokens;
    r->filter_layer = -1;
    if (reuse > 0) /* what a method kept on an earlier turn stays; this turn only appends */
        return GC_OK;
    gc_request_defaults d = {m->filter_layer, m->filter_layer_from_card != 0, m->budget};
    GC_TRY(gc_request_resolve(rq, &d, err));
    r->filter_layer_defaulted = rq->layer_defaulted;
    /* only GemFilter reads a layer (stride selects before the prefill too, but by position alone) */
    r->filter_layer = method == gc_method_of(GEMCL_METHOD_GEMFILTER) ? rq->args.filter_layer : -1;
    return GC_OK;
}

static gc_status run(gemcl_context *c, const char *prompt, size_t len, const gc_prompt_ids *given,
                     const gemcl_generate_params *p, const gc_method *method, gemcl_result *r, text_out *out,
                     int32_t **ids, gc_request *rq, token_list *fed, gc_error *err) {
    gc_seq *seq = c->seq;
    int n = 0;
    GC_TRY(prompt_ids(c, prompt, len, given, p, method, ids, &n, err));
    r->n_prompt_tokens = n;
    if (n == 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "the prompt is empty and the tokenizer adds no BOS");
    int reuse = p->cache_prompt ? reusable_prefix(c, *ids, n) : 0;
    for (int i = 0; i < n; i++)
        GC_TRY(token_push(fed, (*ids)[i], err));
    if (reuse > 0 && reuse < c->n_history)
        gc_seq_truncate(seq, reuse);
    GC_TRY(request_init(c, p, method, *ids, n, reuse, rq, r, err));
    if (rq->method == gc_method_of(GEMCL_METHOD_GEMFILTER)) {
        int header = reply_header_ids(c, *ids, n);
        rq->args.query_back = header < rq->args.budget ? header : 0;
    }
    GC_TRY(gc_request_select(rq, *ids, err));
    r->filter_ms = rq->filter_ms;
    c->history_exact = reuse > 0 ? c->history_exact : rq->method == gc_method_of(GEMCL_METHOD_FULL);
    c->n_history = 0; /* from here on the cache changes: known again only when this call succeeds */
    r->n_cached_tokens = reuse;
    r->n_kept_tokens = rq->n_kept;
    gc_status st = gc_request_prefill(seq, rq, err);
    take_report(&rq->kept, r);
    GC_TRY(st);
    r->prefill_ms = rq->prefill_ms;
    r->kv_bytes = rq->kv_bytes;
    sink_state k = {c->model->file->tokenizer, p, {0}, out, fed, r};
    gc_detok_init(&k.detok, k.tok);
    k.detok.prev = (*ids)[rq->n_kept - 1];
    gc_token_sink sink = {take_token, &k};
    GC_TRY(gc_request_decode(seq, rq, &sink, err));
    fed->n = (size_t)n + (size_t)rq->n_fed; /* the reply tokens whose KV the cache holds */
    char tail[16];
    size_t nt = gc_detok_flush(&k.detok, tail, sizeof tail);
    if (!out->stopped)
        GC_TRY(text_append(out, tail, nt, rq->next, err));
    stream_to(out, out->len, rq->next);
    r->decode_ms = rq->decode_ms;
    return GC_OK;
}

/* After a call: the cache holds fed's tokens (unless the call failed or its method freed the cache). */
static void remember_history(gemcl_context *c, gc_status st, token_list *fed) {
    if (st == GC_OK && c->seq->kv_rows > 0 && fed->n <= INT32_MAX) {
        free(c->history);
        c->history = fed->ids;
        c->n_history = (int)fed->n;
    } else {
        free(fed->ids);
        c->n_history = 0;
    }
    *fed = (token_list){0};
}

gemcl_status gemcl_generate(gemcl_context *c, const char *prompt, size_t len, const gemcl_generate_params *params,
                            gemcl_result *r) {
    if (!c || !r || (!prompt && len))
        return GEMCL_ERR_INVALID_ARG;
    return gc_status_public(gc_generate(c, prompt, len, NULL, params, r));
}

gc_status gc_generate(gemcl_context *c, const char *prompt, size_t len, const gc_prompt_ids *given,
                      const gemcl_generate_params *params, gemcl_result *r) {
    gc_error_clear(&c->err);
    memset(r, 0, sizeof *r);
    gemcl_generate_params p = params ? *params : gemcl_generate_default_params();
    if (gc_api_check_generate_params(&p, &c->err) != GC_OK)
        return c->err.status;
    text_out out = {0};
    out.p = &p;
    for (int i = 0; i < p.n_stop; i++) {
        size_t sl = strlen(p.stop[i]);
        if (sl > out.hold + 1)
            out.hold = sl - 1;
    }
    const gc_method *method = gc_method_of(p.method.method);
    if (!method)
        return gc_fail(&c->err, GC_ERR_INVALID_ARG, "unknown method %d", (int)p.method.method);
    gc_runtime *rt = c->model->rt;
    gc_api_lock(c->model);
    gc_runtime_reset_peak(rt);
    c->logits_valid = false;
    c->seq->progress = (gc_progress){p.on_progress, p.on_progress_user};
    int32_t *ids = NULL;
    gc_request rq = {0};
    token_list fed = {0};
    gc_status st = run(c, prompt, len, given, &p, method, r, &out, &ids, &rq, &fed, &c->err);
    gc_request_finish(c->seq, &rq);
    gc_selection sel = rq.sel; /* ours now */
    remember_history(c, st, &fed);
    r->peak_device_bytes = rt->bytes_peak;
    c->seq->progress = (gc_progress){0}; /* the callback belongs to this call only */
    gc_api_unlock(c->model);
    if (st != GC_OK) {
        uint64_t peak = r->peak_device_bytes;
        free(ids);
        free(out.buf);
        free(sel.kept);
        gemcl_result_free(r);
        if (st == GC_ABORTED) /* a run stopped at a progress report still tells its peak (gemcl bench mem@N) */
            r->peak_device_bytes = peak;
        return st;
    }
    if (sel.kept)
        r->kept_indices = sel.kept;
    gc_api_record_generate(c, r, sel.kept != NULL, ids); /* takes ids */
    r->text = out.buf ? out.buf : calloc(1, 1);
    r->text_len = out.len;
    return GC_OK;
}
