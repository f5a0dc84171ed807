/* forward.c - the model's math as a sequence of enqueued ops: one layer body shared by the chunked prefill,
 * decode, scoring and the layer-major driver (layer_major.c), the start of a layer GemFilter stops at, and the
 * LM head with sampling. The sequence it runs on is seq.c's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/forward.h"

/* The scratch's buffers, in one list for freeing and counting. */
#define SCRATCH_BUFFERS(s) {&(s)->x, &(s)->xb, &(s)->q, &(s)->att, &(s)->hb, &(s)->hb2, &(s)->tok, &(s)->logits, &(s)->out_id}

void gc_scratch_free(gc_runtime *rt, gc_scratch *s) {
    gc_buffer *bufs[] = SCRATCH_BUFFERS(s);
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        gc_buffer_free(rt, bufs[i]);
}

uint64_t gc_scratch_device_bytes(const gc_scratch *s) {
    const gc_buffer *bufs[] = SCRATCH_BUFFERS(s);
    uint64_t bytes = 0;
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        bytes += bufs[i]->bytes;
    return bytes;
}

gc_status gc_scratch_alloc(gc_runtime *rt, const gc_hparams *hp, int n_ub, bool with_logits, gc_scratch *s,
                           gc_error *err) {
    memset(s, 0, sizeof *s);
    s->n_ub = n_ub;
    size_t ub = (size_t)n_ub, d = (size_t)hp->n_embd, qd = (size_t)gc_q_dim(hp), ff = (size_t)hp->n_ff;
    gc_status st;
    if ((st = gc_buffer_alloc(rt, ub * d * 4, "scratch x", &s->x, err)) ||
        (st = gc_buffer_alloc(rt, ub * d * 4, "scratch xb", &s->xb, err)) ||
        (st = gc_buffer_alloc(rt, ub * qd * 4, "scratch q", &s->q, err)) ||
        (st = gc_buffer_alloc(rt, ub * qd * 4, "scratch att", &s->att, err)) ||
        (st = gc_buffer_alloc(rt, ub * ff * 4, "scratch hb", &s->hb, err)) ||
        (st = gc_buffer_alloc(rt, ub * ff * 4, "scratch hb2", &s->hb2, err)) ||
        (st = gc_buffer_alloc(rt, ub * 2 * 4, "scratch ids+positions", &s->tok, err)) ||
        (with_logits && ((st = gc_buffer_alloc(rt, (size_t)hp->vocab_size * 4, "logits", &s->logits, err)) ||
                         (st = gc_buffer_alloc(rt, 4, "sampled id", &s->out_id, err))))) {
        gc_scratch_free(rt, s);
        return st;
    }
    return GC_OK;
}

gc_status gc_layer_forward(gc_ops *ops, const gc_dmodel *m, int l, gc_scratch *s, const gc_layer_io *io, int n,
                           gc_error *err) {
    const gc_hparams *hp = &m->hp;
    const gc_dlayer *w = &m->layers[l];
    int d = hp->n_embd, hd = hp->head_dim, kvd = gc_kv_dim(hp);
    size_t kv_off = (size_t)io->kv_row0 * (size_t)kvd;
    size_t k_off = ((size_t)io->kv_row0 - (io->shared ? (size_t)io->shared->k_shift : 0)) * (size_t)kvd;
    const gc_buffer *bq = hp->qkv_bias ? &w->bq : NULL, *bk = hp->qkv_bias ? &w->bk : NULL,
                    *bv = hp->qkv_bias ? &w->bv : NULL;
    /* attention */
    GC_TRY(gc_op_rmsnorm_for(ops, io->x, io->x_off, &w->attn_norm, &s->xb, 0, n, d, hp->norm_eps, &w->wq, err));
    const gc_matmul_out qkv[3] = {
        {&w->wq, bq, &s->q, 0, true}, {&w->wk, bk, io->k, k_off, true}, {&w->wv, bv, io->v, kv_off, false}};
    const gc_matmul_rope rope = {io->pos, io->pos_off, &m->inv_freq, hd, hp->rope_layout};
    GC_TRY(gc_op_matmul_multi(ops, &s->xb, 0, qkv, 3, &rope, false, n, err));
    /* a pod-tf layer differs from full attention only once some query has distant keys */
    if (io->shared && io->kv_row0 + n > io->shared->sinks + io->shared->recent)
        GC_TRY(gc_op_attention_shared(ops, &s->q, 0, io->k, io->v, io->shared, &s->att, 0, n, io->kv_row0, hp->n_heads,
                                   hp->n_kv_heads, hd, 1.0f / sqrtf((float)hd), err));
    else
        GC_TRY(gc_op_attention(ops, &s->q, 0, io->k, io->v, &s->att, 0, n, io->kv_row0, hp->n_heads, hp->n_kv_heads,
                            hd, 1.0f / sqrtf((float)hd), err));
    const gc_matmul_out wo = {&w->wo, NULL, io->x, io->x_off, false}, down = {&w->w_down, NULL, io->x, io->x_off, false};
    GC_TRY(gc_op_matmul_multi(ops, &s->att, 0, &wo, 1, NULL, true, n, err)); /* x += attention output */
    /* feed-forward: x += w_down(silu(w_gate x) * w_up x) */
    GC_TRY(gc_op_rmsnorm_for(ops, io->x, io->x_off, &w->ffn_norm, &s->xb, 0, n, d, hp->norm_eps, &w->w_gate, err));
    GC_TRY(gc_op_matmul_glu(ops, &s->xb, 0, &w->w_gate, &w->w_up, &s->hb, 0, &s->hb2, 0, n, err));
    GC_TRY(gc_op_matmul_multi(ops, &s->hb, 0, &down, 1, NULL, true, n, err));
    return GC_OK;
}

gc_status gc_layer_keys_query(gc_ops *ops, const gc_dmodel *m, int l, gc_scratch *s, gc_buffer *x, int n, int q_row,
                              const gc_buffer *ids_pos, gc_buffer *k_out, gc_buffer *q_out, gc_error *err) {
    const gc_hparams *hp = &m->hp;
    const gc_dlayer *w = &m->layers[l];
    int ub = s->n_ub, d = hp->n_embd, kvd = gc_kv_dim(hp);
    for (int c0 = 0; c0 < n; c0 += ub) {
        int nc = gc_chunk_rows(n, c0, ub);
        gc_buffer *xc = &x[c0 / ub];
        GC_TRY(gc_op_rmsnorm(ops, xc, 0, &w->attn_norm, &s->xb, 0, nc, d, hp->norm_eps, err));
        GC_TRY(gc_op_matmul(ops, &s->xb, 0, &w->wk, hp->qkv_bias ? &w->bk : NULL, k_out, (size_t)c0 * kvd, nc, err));
        GC_TRY(gc_op_rope(ops, k_out, (size_t)c0 * kvd, ids_pos, (size_t)n + c0, &m->inv_freq, nc, hp->n_kv_heads,
                          hp->head_dim, hp->rope_layout, err));
        if (q_row >= c0 && q_row < c0 + nc) {
            GC_TRY(gc_op_matmul(ops, &s->xb, (size_t)(q_row - c0) * d, &w->wq, hp->qkv_bias ? &w->bq : NULL, q_out, 0,
                                1, err));
            GC_TRY(gc_op_rope(ops, q_out, 0, ids_pos, (size_t)n + q_row, &m->inv_freq, 1, hp->n_heads, hp->head_dim,
                              hp->rope_layout, err));
        }
    }
    return GC_OK;
}

gc_status gc_check_ids(const gc_hparams *hp, const int32_t *ids, int n, gc_error *err) {
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= hp->vocab_size)
            return gc_fail(err, GC_ERR_INVALID_ARG, "token %d: id %d is outside the vocabulary (%d)", i, ids[i],
                           hp->vocab_size);
    return GC_OK;
}

gc_status gc_check_progress(const gc_progress *p, int64_t done, int64_t total, gc_error *err) {
    if (p && p->fn && p->fn(done, total, p->user))
        return gc_fail(err, GC_ABORTED, "aborted by the progress callback after %lld of %lld rows", (long long)done,
                       (long long)total);
    return GC_OK;
}

/* xorshift64* -> uniform float in [0, 1) (24 bits, as llama2.c's random_f32). */
static float next_uniform(uint64_t *state) {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (float)((*state * 0x2545F4914F6CDD1DULL) >> 40) / 16777216.0f;
}

gc_status gc_finish_step(gc_seq *seq, const gc_buffer *x, size_t x_off, gc_sampling *smp, int32_t *next_id,
                         float *logits, gc_error *err) {
    gc_ops *ops = seq->ops;
    gc_runtime *rt = gc_ops_runtime(ops);
    const gc_dmodel *m = seq->m;
    gc_scratch *s = &seq->s;
    int d = m->hp.n_embd, vocab = m->hp.vocab_size;
    GC_TRY(gc_op_rmsnorm_for(ops, x, x_off, &m->out_norm, &s->xb, 0, 1, d, m->hp.norm_eps, &m->lm_head, err));
    GC_TRY(gc_op_matmul(ops, &s->xb, 0, &m->lm_head, NULL, &s->logits, 0, 1, err));
    if (!smp || smp->temperature <= 0.0f)
        GC_TRY(gc_op_argmax(ops, &s->logits, 0, &s->out_id, 0, vocab, err));
    else
        GC_TRY(gc_op_sample(ops, &s->logits, 0, &s->out_id, 0, vocab, smp->temperature, smp->top_k, smp->top_p,
                         next_uniform(&smp->rng_state), err));
    if (logits)
        GC_TRY(gc_buffer_read(rt, &s->logits, 0, logits, (size_t)vocab * 4, err));
    int32_t id = -1;
    GC_TRY(gc_buffer_read(rt, &s->out_id, 0, &id, 4, err)); /* the step's one synchronisation */
    if (next_id)
        *next_id = id;
    return GC_OK;
}

/* Runs n <= n_ub rows already staged in host_tok through every layer, appending to the cache. */
static gc_status run_chunk(gc_seq *seq, int n, bool blocking_upload, gc_error *err) {
    gc_ops *ops = seq->ops;
    gc_runtime *rt = gc_ops_runtime(ops);
    gc_scratch *s = &seq->s;
    const gc_dmodel *m = seq->m;
    /* ids at element 0, positions at element n_ub: one transfer */
    cl_int rc = clEnqueueWriteBuffer(rt->queue, s->tok.mem, blocking_upload ? CL_TRUE : CL_FALSE, 0,
                                     (size_t)s->n_ub * 2 * 4, seq->host_tok, 0, NULL, NULL);
    if (rc != CL_SUCCESS)
        return gc_cl_fail(err, rc, "uploading token ids");
    GC_TRY(gc_op_embed(ops, &m->tok_embd, &s->tok, 0, &s->x, 0, n, err));
    for (int l = 0; l < m->hp.n_layers; l++) {
        gc_layer_io io = {&s->x, 0, &s->tok, (size_t)s->n_ub, &seq->k_cache[l], &seq->v_cache[l], seq->kv_len[l],
                       seq->shared_logits ? seq->shared_logits[l] : NULL};
        gc_status st = gc_layer_forward(ops, m, l, s, &io, n, err);
        if (st == GC_OK && seq->after_layer.fn)
            st = seq->after_layer.fn(seq->after_layer.user, seq, l, &s->q, seq->kv_len[l], n, err);
        if (st != GC_OK)
            return gc_error_prefix(err, "layer %d", l);
    }
    for (int l = 0; l < m->hp.n_layers; l++)
        seq->kv_len[l] += n;
    seq->n_past += n;
    return GC_OK;
}

/* Called after each prefill chunk has run through every layer: the chunk is rows c0 .. c0 + nc - 1 of the call's
 * n, and their residual stream is rows 0 .. nc - 1 of seq->s.x until the next chunk runs. */
typedef gc_status (*chunk_done_fn)(gc_seq *seq, int c0, int nc, void *user, gc_error *err);

/* Runs ids (positions pos, or next_pos.. when pos is NULL) through every layer after the cached rows, in chunks of
 * n_ub, calling done (may be NULL) after each chunk. The last chunk's rows stay in seq->s.x. */
static gc_status prefill_rows(gc_seq *seq, const int32_t *ids, const int32_t *pos, int n, chunk_done_fn done,
                              void *user, gc_error *err) {
    if (n <= 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "prefill of %d tokens", n);
    if (n > seq->n_ctx - seq->n_past)
        return gc_fail(err, GC_ERR_CONTEXT_FULL, "%d tokens do not fit the context: %d of %d rows are used", n,
                       seq->n_past, seq->n_ctx);
    int ub = seq->s.n_ub;
    GC_TRY(gc_seq_ensure_rows(seq, seq->n_past + n, err));
    GC_TRY(gc_check_ids(&seq->m->hp, ids, n, err));
    for (int c0 = 0; c0 < n; c0 += ub) {
        int nc = gc_chunk_rows(n, c0, ub);
        for (int i = 0; i < nc; i++) {
            seq->host_tok[i] = ids[c0 + i];
            seq->host_tok[ub + i] = pos ? pos[c0 + i] : seq->next_pos + c0 + i;
        }
        GC_TRY(run_chunk(seq, nc, true, err));
        if (done)
            GC_TRY(done(seq, c0, nc, user, err));
        if (c0 + nc < n)
            GC_TRY(gc_check_progress(&seq->progress, c0 + nc, n, err));
    }
    seq->next_pos = (pos ? pos[n - 1] : seq->next_pos + n - 1) + 1;
    return GC_OK;
}

gc_status gc_seq_prefill(gc_seq *seq, const int32_t *ids, const int32_t *pos, int n, gc_sampling *smp, int32_t *next_id,
                         float *logits, gc_error *err) {
    GC_TRY(prefill_rows(seq, ids, pos, n, NULL, NULL, err));
    int last_row = (n - 1) % seq->s.n_ub; /* of the last chunk, still in s.x */
    return gc_finish_step(seq, &seq->s.x, (size_t)last_row * seq->m->hp.n_embd, smp, next_id, logits, err);
}

gc_status gc_seq_decode(gc_seq *seq, int32_t id, gc_sampling *smp, int32_t *next_id, float *logits, gc_error *err) {
    if (seq->n_past >= seq->n_ctx)
        return gc_fail(err, GC_ERR_CONTEXT_FULL, "the context of %d tokens is full", seq->n_ctx);
    GC_TRY(gc_check_ids(&seq->m->hp, &id, 1, err));
    GC_TRY(gc_seq_ensure_rows(seq, seq->n_past + 1, err));
    seq->host_tok[0] = id;
    seq->host_tok[seq->s.n_ub] = seq->next_pos;
    GC_TRY(run_chunk(seq, 1, false, err)); /* host_tok stays untouched until finish_step's read returns */
    seq->next_pos++;
    return gc_finish_step(seq, &seq->s.x, 0, smp, next_id, logits, err);
}

/* ---- scoring: -log p(next token) of prompt rows, for perplexity --------------------------------------- */

/* Rows of logits the LM head writes at a time: bounds the scoring scratch to SCORE_ROWS x vocab floats (12 MiB
 * at a vocab of 49152, 37 MiB at 151936) whatever the prompt length, while keeping the head a GEMM. */
#define SCORE_ROWS 64

typedef struct score_state {
    int first, n;            /* rows first .. n - 2 of the call are scored, each against the id after it */
    gc_buffer targets;       /* int32 (n - 1 - first): ids[first + 1 .. n - 1] */
    gc_buffer logits;        /* f32 (min(SCORE_ROWS, n - 1 - first), vocab) */
    gc_buffer nll;           /* f32 (n - 1 - first) */
} score_state;

static void score_state_free(gc_runtime *rt, score_state *sc) {
    gc_buffer_free(rt, &sc->targets);
    gc_buffer_free(rt, &sc->logits);
    gc_buffer_free(rt, &sc->nll);
}

static gc_status score_state_alloc(gc_runtime *rt, const gc_hparams *hp, const int32_t *ids, int n, int first,
                                   score_state *sc, gc_error *err) {
    memset(sc, 0, sizeof *sc);
    sc->first = first, sc->n = n;
    size_t n_scored = (size_t)(n - 1 - first), rows = n_scored < SCORE_ROWS ? n_scored : SCORE_ROWS;
    gc_status st = gc_buffer_alloc(rt, n_scored * 4, "score targets", &sc->targets, err);
    if (st == GC_OK)
        st = gc_buffer_write(rt, &sc->targets, 0, ids + first + 1, n_scored * 4, err);
    if (st == GC_OK)
        st = gc_buffer_alloc(rt, rows * (size_t)hp->vocab_size * 4, "score logits", &sc->logits, err);
    if (st == GC_OK)
        st = gc_buffer_alloc(rt, n_scored * 4, "score nll", &sc->nll, err);
    return st;
}

/* After a prefill chunk (chunk_done_fn): the final norm, the LM head and the NLL at the target for the chunk's
 * scored rows, SCORE_ROWS at a time. Rows before `first` never reach the head. */
static gc_status score_chunk(gc_seq *seq, int c0, int nc, void *user, gc_error *err) {
    score_state *sc = user;
    gc_ops *ops = seq->ops;
    const gc_dmodel *m = seq->m;
    gc_scratch *s = &seq->s;
    int d = m->hp.n_embd, lo = c0 > sc->first ? c0 : sc->first, hi = c0 + nc < sc->n - 1 ? c0 + nc : sc->n - 1;
    if (lo >= hi)
        return GC_OK;
    /* xb is free once the chunk's layers ran: it takes the normed rows lo .. hi - 1 */
    GC_TRY(gc_op_rmsnorm(ops, &s->x, (size_t)(lo - c0) * d, &m->out_norm, &s->xb, 0, hi - lo, d, m->hp.norm_eps, err));
    for (int r0 = lo; r0 < hi; r0 += SCORE_ROWS) {
        int nr = hi - r0 < SCORE_ROWS ? hi - r0 : SCORE_ROWS;
        size_t k = (size_t)(r0 - sc->first); /* the rows' place among the scored ones */
        GC_TRY(gc_op_matmul(ops, &s->xb, (size_t)(r0 - lo) * d, &m->lm_head, NULL, &sc->logits, 0, nr, err));
        GC_TRY(gc_op_nll(ops, &sc->logits, 0, &sc->targets, k, &sc->nll, k, nr, m->hp.vocab_size, err));
    }
    return GC_OK;
}

gc_status gc_seq_score(gc_seq *seq, const int32_t *ids, int n, int first, float *nll, gc_error *err) {
    if (n < 2 || first < 0 || first > n - 2)
        return gc_fail(err, GC_ERR_INVALID_ARG, "scoring %d tokens from row %d: needs 0 <= first <= n - 2", n, first);
    gc_runtime *rt = gc_ops_runtime(seq->ops);
    score_state sc;
    /* the targets go up before prefill_rows checks the ids, but no kernel reads them if that check fails */
    gc_status st = score_state_alloc(rt, &seq->m->hp, ids, n, first, &sc, err);
    if (st == GC_OK)
        st = prefill_rows(seq, ids, NULL, n, score_chunk, &sc, err);
    if (st == GC_OK) /* the one read back: n - 1 - first floats */
        st = gc_buffer_read(rt, &sc.nll, 0, nll, (size_t)(n - 1 - first) * sizeof *nll, err);
    score_state_free(rt, &sc);
    return st;
}
