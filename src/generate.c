/* generate.c - gemcl_generate: tokenize, let the method choose the prompt, prefill, decode, stream. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "methods/method.h"
#include "tokenizer/tokenizer.h"
#include "util/grow.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

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

static gemcl_status text_append(text_out *o, const char *piece, size_t n, int32_t id, gc_error *err) {
    if (o->len + n + 1 > o->cap) {
        size_t cap = (o->cap ? o->cap * 2 : 256) + n;
        char *b = realloc(o->buf, cap);
        if (!b)
            return gc_fail(err, GEMCL_ERR_OUT_OF_MEMORY, "out of host memory for the output text");
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
            return GEMCL_OK;
        }
    }
    if (o->len > o->hold)
        stream_to(o, utf8_boundary(o->buf, o->len - o->hold), id);
    return GEMCL_OK;
}

/* Resolves the method and its arguments (defaults from the model), then runs its token-level selection:
 * fills kept ids (owned by sel) and the result's selection fields. */
static gemcl_status choose_prompt(gemcl_context *c, const gemcl_generate_params *p, const int32_t *ids, int n,
                                  const gc_method **method, gc_method_args *a, gc_selection *sel, gemcl_result *r,
                                  gc_error *err) {
    gemcl_model *m = c->model;
    const char *name = gemcl_method_name(p->method.method);
    *method = name ? gc_method_find(name) : NULL;
    if (!*method)
        return gc_fail(err, GEMCL_ERR_INVALID_ARG, "unknown method %d", (int)p->method.method);
    *a = (gc_method_args){m->ops, m->dm, ids, n, p->method.filter_layer, p->method.budget, c->n_ubatch,
                          &c->seq->progress};
    if (a->filter_layer < 0) {
        a->filter_layer = m->filter_layer;
        r->filter_layer_defaulted = !m->filter_layer_from_card;
    }
    if (a->budget <= 0)
        a->budget = m->budget;
    if (a->filter_layer >= m->file->hp.n_layers)
        return gc_fail(err, GEMCL_ERR_INVALID_ARG, "filter layer %d is outside the model's layers 0..%d",
                       a->filter_layer, m->file->hp.n_layers - 1);
    r->filter_layer = (*method)->before_prefill ? a->filter_layer : -1;
    if (!(*method)->before_prefill)
        return GEMCL_OK;
    double t0 = now_ms();
    gemcl_status st = (*method)->before_prefill(a, sel, err);
    r->filter_ms = now_ms() - t0;
    return st;
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
static gemcl_status prompt_ids(gemcl_context *c, const char *prompt, size_t len, const gc_prompt_ids *given,
                               const gemcl_generate_params *p, int32_t **ids, int *n, gc_error *err) {
    const gc_tokenizer *tok = c->model->file->tokenizer;
    gemcl_status st = GEMCL_OK;
    if (given) {
        if (!(*ids = malloc((size_t)(given->n > 0 ? given->n : 1) * sizeof **ids)))
            return gc_fail(err, GEMCL_ERR_OUT_OF_MEMORY, "out of host memory for %d prompt ids", given->n);
        memcpy(*ids, given->ids, (size_t)given->n * sizeof **ids);
        *n = given->n;
    } else {
        st = gc_tokenizer_encode_prompt(tok, prompt, len, p->add_bos, p->parse_special != 0, ids, n, err);
    }
    if (st != GEMCL_OK)
        return st;
    int limit = c->seq->n_ctx - 1;
    /* only a method that chooses tokens before the prefill (gemfilter) can take a prompt longer than the
     * context; the KV methods prefill the whole prompt first */
    const char *name = gemcl_method_name(p->method.method);
    const gc_method *method = name ? gc_method_find(name) : NULL;
    bool compresses = method && method->before_prefill;
    if (*n > limit && !compresses && !p->truncate_middle)
        return gc_fail(err, GEMCL_ERR_CONTEXT_FULL,
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
        gc_log(c->model->rt, GEMCL_LOG_LEVEL_WARN,
               "middle truncation: kept %d of the prompt's %d tokens, leaving room for %d new tokens in the "
               "%d-token context", target, *n, c->seq->n_ctx - target + 1, c->seq->n_ctx);
        *n = target;
    }
    return GEMCL_OK;
}

/* The KV method's state for one request: started after the cache is reset, finished on every path. */
typedef struct method_run {
    const gc_method *method;
    gc_method_args args;
    gc_kv_args kv;
    void *state;
    bool started;
} method_run;

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

static gemcl_status token_push(token_list *l, int32_t id, gc_error *err) {
    if (!gc_grow((void **)&l->ids, &l->cap, l->n, sizeof *l->ids, 256))
        return gc_fail(err, GEMCL_ERR_OUT_OF_MEMORY, "out of host memory for the prompt cache");
    l->ids[l->n++] = id;
    return GEMCL_OK;
}

static gemcl_status run(gemcl_context *c, const char *prompt, size_t len, const gc_prompt_ids *given,
                        const gemcl_generate_params *p, gemcl_result *r, text_out *out, int32_t **ids,
                        gc_selection *sel, method_run *mr, token_list *fed, gc_error *err) {
    gc_seq *seq = c->seq;
    const gc_tokenizer *tok = c->model->file->tokenizer;
    int n = 0;
    gemcl_status st = prompt_ids(c, prompt, len, given, p, ids, &n, err);
    if (st != GEMCL_OK)
        return st;
    r->n_prompt_tokens = n;
    if (n == 0)
        return gc_fail(err, GEMCL_ERR_INVALID_ARG, "the prompt is empty and the tokenizer adds no BOS");
    int reuse = p->cache_prompt ? reusable_prefix(c, *ids, n) : 0;
    for (int i = 0; i < n; i++)
        GC_TRY(token_push(fed, (*ids)[i], err));
    if (reuse > 0) { /* what a method kept on an earlier turn stays; this turn only appends */
        mr->method = gc_method_find("full");
        r->filter_layer = -1;
        if (reuse < c->n_history)
            gc_seq_truncate(seq, reuse);
    } else if ((st = choose_prompt(c, p, *ids, n, &mr->method, &mr->args, sel, r, err)) != GEMCL_OK) {
        return st;
    }
    c->history_exact = reuse > 0 ? c->history_exact : strcmp(mr->method->name, "full") == 0;
    c->n_history = 0; /* from here on the cache changes: known again only when this call succeeds */
    r->n_cached_tokens = reuse;
    int32_t *kept = *ids;
    if (sel->kept) {
        for (int i = 0; i < sel->n_kept; i++)
            (*ids)[i] = (*ids)[sel->kept[i]]; /* kept is ascending, so the gather can run in place */
        n = sel->n_kept;
    }
    r->n_kept_tokens = n;
    gc_sampling smp = {p->temperature, p->top_k, p->top_p, p->seed ? p->seed : 0x9E3779B97F4A7C15ULL};
    if (reuse == 0)
        gc_seq_reset(seq);
    kept += reuse;
    n -= reuse;
    int want_rows = seq->n_past + n + (p->max_tokens > 0 ? p->max_tokens : 0);
    if ((st = gc_seq_reserve(seq, want_rows < seq->n_ctx ? want_rows : seq->n_ctx, err)) != GEMCL_OK)
        return st;
    const gc_method *method = mr->method;
    if (method->start) {
        mr->kv = (gc_kv_args){&p->method, p->max_tokens > 0 ? p->max_tokens : 0};
        if ((st = method->start(&mr->args, &mr->kv, seq, &mr->state, err)) != GEMCL_OK)
            return st;
        mr->started = true;
    }
    double t0 = now_ms();
    int32_t next = -1;
    if (method->select_rows) {
        gc_stage_hook stages = {method->select_rows, mr->state};
        st = gc_seq_prefill_staged(seq, kept, n, &stages, &smp, &next, NULL, err);
    } else {
        st = gc_seq_prefill(seq, kept, NULL, n, &smp, &next, NULL, err);
    }
    if (st != GEMCL_OK)
        return st;
    gc_kept_report report = {0};
    if (method->after_prefill) {
        st = method->after_prefill(mr->state, seq, &report, err);
        take_report(&report, r);
        if (st != GEMCL_OK)
            return st;
    }
    r->prefill_ms = now_ms() - t0;
    r->kv_bytes = gc_seq_kv_bytes(seq);
    gc_detok d;
    gc_detok_init(&d, tok);
    d.prev = kept[n - 1];
    t0 = now_ms();
    for (int t = 0; t < p->max_tokens; t++) {
        if (!p->ignore_eos && gc_api_is_end(tok, next))
            break;
        char piece[256];
        size_t np = gc_detok_push(&d, next, piece, sizeof piece);
        r->n_generated++;
        if ((st = text_append(out, piece, np, next, err)) != GEMCL_OK)
            return st;
        if (out->stopped || t + 1 == p->max_tokens)
            break;
        if (method->per_decode_step && (st = method->per_decode_step(mr->state, seq, err)) != GEMCL_OK)
            return st;
        if (seq->n_past >= seq->n_ctx)
            break;
        if ((st = token_push(fed, next, err)) != GEMCL_OK ||
            (st = gc_seq_decode(seq, next, &smp, &next, NULL, err)) != GEMCL_OK)
            return st;
    }
    char tail[16];
    size_t nt = gc_detok_flush(&d, tail, sizeof tail);
    if (!out->stopped && (st = text_append(out, tail, nt, next, err)) != GEMCL_OK)
        return st;
    stream_to(out, out->len, next);
    r->decode_ms = now_ms() - t0;
    return GEMCL_OK;
}

/* After a call: the cache holds fed's tokens (unless the call failed or its method freed the cache). */
static void remember_history(gemcl_context *c, gemcl_status st, token_list *fed) {
    if (st == GEMCL_OK && c->seq->kv_rows > 0 && fed->n <= INT32_MAX) {
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
    return gc_generate(c, prompt, len, NULL, params, r);
}

gemcl_status gc_generate(gemcl_context *c, const char *prompt, size_t len, const gc_prompt_ids *given,
                         const gemcl_generate_params *params, gemcl_result *r) {
    gc_error_clear(&c->err);
    memset(r, 0, sizeof *r);
    gemcl_generate_params p = params ? *params : gemcl_generate_default_params();
    if (gc_api_check_generate_params(&p, &c->err) != GEMCL_OK)
        return c->err.status;
    text_out out = {0};
    out.p = &p;
    for (int i = 0; i < p.n_stop; i++) {
        size_t sl = strlen(p.stop[i]);
        if (sl > out.hold + 1)
            out.hold = sl - 1;
    }
    gc_runtime *rt = c->model->rt;
    gc_api_lock(c->model);
    gc_runtime_reset_peak(rt);
    c->logits_valid = false;
    c->seq->progress = (gc_progress){p.on_progress, p.on_progress_user};
    int32_t *ids = NULL;
    gc_selection sel = {0};
    method_run mr = {0};
    token_list fed = {0};
    gemcl_status st = run(c, prompt, len, given, &p, r, &out, &ids, &sel, &mr, &fed, &c->err);
    if (mr.started && mr.method->finish)
        mr.method->finish(mr.state, c->seq);
    remember_history(c, st, &fed);
    r->peak_device_bytes = rt->bytes_peak;
    c->seq->progress = (gc_progress){0}; /* the callback belongs to this call only */
    gc_api_unlock(c->model);
    if (st != GEMCL_OK) {
        uint64_t peak = r->peak_device_bytes;
        free(ids);
        free(out.buf);
        free(sel.kept);
        gemcl_result_free(r);
        if (st == GEMCL_ABORTED) /* a run stopped at a progress report still tells its peak (gemcl bench mem@N) */
            r->peak_device_bytes = peak;
        return st;
    }
    if (sel.kept)
        r->kept_indices = sel.kept;
    gc_api_record_generate(c, r, sel.kept != NULL, ids); /* takes ids */
    r->text = out.buf ? out.buf : calloc(1, 1);
    r->text_len = out.len;
    return GEMCL_OK;
}
