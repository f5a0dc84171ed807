/* forward.c - the model's math as a sequence of enqueued ops: one layer body shared by prefill, decode and
 * GemFilter's filter pass, and the scratch and KV cache they run on. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "ops/kvcompress.h"

static int q_dim_of(const gc_hparams *hp) { return hp->n_heads * hp->head_dim; }
static int kv_dim_of(const gc_hparams *hp) { return hp->n_kv_heads * hp->head_dim; }

/* The scratch's buffers, in one list for freeing and counting. */
#define SCRATCH_BUFFERS(s) {&(s)->x, &(s)->xb, &(s)->q, &(s)->att, &(s)->hb, &(s)->hb2, &(s)->tok, &(s)->logits, &(s)->out_id}

static void scratch_free(gc_runtime *rt, gc_scratch *s) {
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

/* Scratch for chunks of n_ub rows; with_logits adds the vocab-sized logits and the sampled-id buffers. */
static gemcl_status scratch_alloc(gc_runtime *rt, const gc_hparams *hp, int n_ub, bool with_logits, gc_scratch *s,
                                  gc_error *err) {
    memset(s, 0, sizeof *s);
    s->n_ub = n_ub;
    size_t ub = (size_t)n_ub, d = (size_t)hp->n_embd, qd = (size_t)q_dim_of(hp), ff = (size_t)hp->n_ff;
    gemcl_status st;
    if ((st = gc_buffer_alloc(rt, ub * d * 4, "scratch x", &s->x, err)) ||
        (st = gc_buffer_alloc(rt, ub * d * 4, "scratch xb", &s->xb, err)) ||
        (st = gc_buffer_alloc(rt, ub * qd * 4, "scratch q", &s->q, err)) ||
        (st = gc_buffer_alloc(rt, ub * qd * 4, "scratch att", &s->att, err)) ||
        (st = gc_buffer_alloc(rt, ub * ff * 4, "scratch hb", &s->hb, err)) ||
        (st = gc_buffer_alloc(rt, ub * ff * 4, "scratch hb2", &s->hb2, err)) ||
        (st = gc_buffer_alloc(rt, ub * 2 * 4, "scratch ids+positions", &s->tok, err)) ||
        (with_logits && ((st = gc_buffer_alloc(rt, (size_t)hp->vocab_size * 4, "logits", &s->logits, err)) ||
                         (st = gc_buffer_alloc(rt, 4, "sampled id", &s->out_id, err))))) {
        scratch_free(rt, s);
        return st;
    }
    return GEMCL_OK;
}

/* Where a layer reads its positions and writes its K/V. */
typedef struct layer_io {
    gc_buffer *x;            /* f32 (n, n_embd) residual stream at element x_off, updated in place */
    size_t x_off;
    const gc_buffer *pos;    /* int32 positions of the n rows, at pos_off */
    size_t pos_off;
    gc_buffer *k, *v;        /* f32 (rows, kv_dim): this layer's keys and values */
    int kv_row0;             /* the n rows' K/V go to rows kv_row0..; attention sees rows 0..kv_row0+i */
    const gc_shared_logits *shared; /* pod-tf: distant logits from another layer, K rows shifted; or NULL */
} layer_io;

/* One transformer layer (llama2.c forward(), one layer) over n rows. */
static gemcl_status layer_forward(gc_ops *ops, const gc_dmodel *m, int l, gc_scratch *s, const layer_io *io, int n,
                                  gc_error *err) {
    const gc_hparams *hp = &m->hp;
    const gc_dlayer *w = &m->layers[l];
    int d = hp->n_embd, hd = hp->head_dim, kvd = kv_dim_of(hp);
    size_t kv_off = (size_t)io->kv_row0 * (size_t)kvd;
    size_t k_off = ((size_t)io->kv_row0 - (io->shared ? (size_t)io->shared->k_shift : 0)) * (size_t)kvd;
    const gc_buffer *bq = hp->qkv_bias ? &w->bq : NULL, *bk = hp->qkv_bias ? &w->bk : NULL,
                    *bv = hp->qkv_bias ? &w->bv : NULL;
    /* attention */
    GC_TRY(gc_op_rmsnorm(ops, io->x, io->x_off, &w->attn_norm, &s->xb, 0, n, d, hp->norm_eps, err));
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
    GC_TRY(gc_op_rmsnorm(ops, io->x, io->x_off, &w->ffn_norm, &s->xb, 0, n, d, hp->norm_eps, err));
    GC_TRY(gc_op_matmul_glu(ops, &s->xb, 0, &w->w_gate, &w->w_up, &s->hb, 0, &s->hb2, 0, n, err));
    GC_TRY(gc_op_matmul_multi(ops, &s->hb, 0, &down, 1, NULL, true, n, err));
    return GEMCL_OK;
}

/* ---- sequences ------------------------------------------------------------------------------------- */

gemcl_status gc_seq_create(gc_ops *ops, const gc_dmodel *m, const gc_seq_params *params, gc_seq **out,
                           gc_error *err) {
    *out = NULL;
    gc_runtime *rt = gc_ops_runtime(ops);
    const gc_hparams *hp = &m->hp;
    gc_seq_params p = params ? *params : (gc_seq_params){0};
    int n_ctx = p.n_ctx > 0 ? p.n_ctx : hp->ctx_train;
    int n_ub = p.n_ubatch > 0 ? p.n_ubatch : 512;
    if (n_ctx <= 0)
        return gc_fail(err, GEMCL_ERR_INVALID_ARG, "context size must be positive (got %d)", n_ctx);
    if (n_ub > n_ctx)
        n_ub = n_ctx;
    gc_seq *seq = calloc(1, sizeof *seq);
    if (seq) {
        seq->k_cache = calloc((size_t)hp->n_layers, sizeof *seq->k_cache);
        seq->v_cache = calloc((size_t)hp->n_layers, sizeof *seq->v_cache);
        seq->host_tok = calloc((size_t)n_ub * 2, sizeof *seq->host_tok);
        seq->kv_len = calloc((size_t)hp->n_layers, sizeof *seq->kv_len);
    }
    if (!seq || !seq->k_cache || !seq->v_cache || !seq->host_tok || !seq->kv_len) {
        if (seq)
            free(seq->k_cache), free(seq->v_cache), free(seq->host_tok), free(seq->kv_len);
        free(seq);
        return gc_fail(err, GEMCL_ERR_OUT_OF_MEMORY, "out of host memory creating a sequence");
    }
    seq->ops = ops;
    seq->m = m;
    seq->n_ctx = n_ctx;
    gemcl_status st = scratch_alloc(rt, hp, n_ub, true, &seq->s, err);
    if (st != GEMCL_OK) {
        gc_seq_free(seq);
        return st;
    }
    *out = seq;
    return GEMCL_OK;
}

void gc_seq_free(gc_seq *seq) {
    if (!seq)
        return;
    gc_runtime *rt = gc_ops_runtime(seq->ops);
    gc_runtime_finish(rt);
    for (int l = 0; l < seq->m->hp.n_layers; l++) {
        gc_buffer_free(rt, &seq->k_cache[l]);
        gc_buffer_free(rt, &seq->v_cache[l]);
    }
    scratch_free(rt, &seq->s);
    free(seq->k_cache);
    free(seq->v_cache);
    free(seq->host_tok);
    free(seq->kv_len);
    free(seq);
}

void gc_seq_reset(gc_seq *seq) {
    seq->n_past = 0;
    seq->next_pos = 0;
    memset(seq->kv_len, 0, (size_t)seq->m->hp.n_layers * sizeof *seq->kv_len);
}

void gc_seq_truncate(gc_seq *seq, int rows) {
    seq->n_past = seq->next_pos = rows;
    for (int l = 0; l < seq->m->hp.n_layers; l++)
        seq->kv_len[l] = rows;
}

void gc_seq_release(gc_seq *seq) {
    gc_runtime *rt = gc_ops_runtime(seq->ops);
    gc_runtime_finish(rt);
    for (int l = 0; l < seq->m->hp.n_layers; l++) {
        gc_buffer_free(rt, &seq->k_cache[l]);
        gc_buffer_free(rt, &seq->v_cache[l]);
    }
    seq->kv_rows = 0;
    gc_seq_reset(seq);
}

/* Key rows layer l does not store (pod-tf's distant keys). */
static int key_shift(const gc_seq *seq, int l) {
    return seq->shared_logits && seq->shared_logits[l] ? seq->shared_logits[l]->k_shift : 0;
}

size_t gc_seq_kv_bytes(const gc_seq *seq) {
    size_t rows = 0; /* K rows + V rows */
    for (int l = 0; l < seq->m->hp.n_layers; l++)
        rows += 2 * (size_t)seq->kv_len[l] - (size_t)key_shift(seq, l);
    return rows * (size_t)kv_dim_of(&seq->m->hp) * 4;
}

/* Replaces one layer's cache buffer by one of `bytes` holding the same first `keep` bytes. */
static gemcl_status resize_buffer(gc_seq *seq, gc_buffer *buf, size_t bytes, size_t keep, const char *what, gc_error *err) {
    gc_runtime *rt = gc_ops_runtime(seq->ops);
    gc_buffer bigger;
    GC_TRY(gc_buffer_alloc(rt, bytes, what, &bigger, err));
    if (keep > 0) {
        cl_int rc = clEnqueueCopyBuffer(rt->queue, buf->mem, bigger.mem, 0, 0, keep, 0, NULL, NULL);
        if (rc != CL_SUCCESS) {
            gc_buffer_free(rt, &bigger);
            return gc_cl_fail(err, rc, "%s: copying the cached rows", what);
        }
    }
    gc_buffer_free(rt, buf);
    *buf = bigger;
    return GEMCL_OK;
}

gemcl_status gc_seq_resize(gc_seq *seq, int rows, gc_error *err) {
    if (rows > seq->n_ctx)
        return gc_fail(err, GEMCL_ERR_CONTEXT_FULL, "%d tokens do not fit the context of %d", rows, seq->n_ctx);
    if (rows < seq->n_past)
        return gc_fail(err, GEMCL_ERR_INVALID_ARG, "cannot shrink the cache to %d rows below the %d cached", rows,
                       seq->n_past);
    const gc_hparams *hp = &seq->m->hp;
    size_t row_bytes = (size_t)kv_dim_of(hp) * 4;
    for (int l = 0; l < hp->n_layers; l++) {
        char what[64];
        size_t keep = (size_t)seq->kv_len[l] * row_bytes, shift = (size_t)key_shift(seq, l) * row_bytes;
        snprintf(what, sizeof what, "layer %d K cache", l);
        GC_TRY(resize_buffer(seq, &seq->k_cache[l], (size_t)rows * row_bytes - shift, keep - shift, what, err));
        snprintf(what, sizeof what, "layer %d V cache", l);
        GC_TRY(resize_buffer(seq, &seq->v_cache[l], (size_t)rows * row_bytes, keep, what, err));
    }
    seq->kv_rows = rows;
    return GEMCL_OK;
}

gemcl_status gc_seq_reserve(gc_seq *seq, int rows, gc_error *err) {
    if (rows > seq->n_ctx)
        return gc_fail(err, GEMCL_ERR_CONTEXT_FULL, "%d tokens do not fit the context of %d", rows, seq->n_ctx);
    return rows <= seq->kv_rows ? GEMCL_OK : gc_seq_resize(seq, rows, err);
}

/* Gathers rows of layer's K (and V when with_values) into rows 0..n_keep-1 of the same buffers. */
static gemcl_status compact_rows(gc_seq *seq, int layer, const gc_buffer *idx, int idx_head_stride, int n_keep,
                                 bool with_values, gc_error *err) {
    const gc_hparams *hp = &seq->m->hp;
    gc_runtime *rt = gc_ops_runtime(seq->ops);
    size_t elems = (size_t)n_keep * kv_dim_of(hp);
    gc_buffer tmp = {0};
    gemcl_status st = n_keep ? gc_buffer_alloc(rt, elems * 4, "KV compaction", &tmp, err) : GEMCL_OK;
    gc_buffer *caches[2] = {&seq->k_cache[layer], &seq->v_cache[layer]};
    for (int c = 0; c < (with_values ? 2 : 1) && st == GEMCL_OK && n_keep; c++) {
        st = gc_op_kv_gather(seq->ops, caches[c], &tmp, idx, idx_head_stride, n_keep, hp->n_kv_heads, hp->head_dim,
                             err);
        if (st == GEMCL_OK)
            st = gc_op_copy_f32(seq->ops, &tmp, 0, caches[c], 0, elems, err);
    }
    gc_buffer_free(rt, &tmp); /* deferred by OpenCL until the copies ran */
    return st != GEMCL_OK ? gc_error_prefix(err, "layer %d", layer) : GEMCL_OK;
}

gemcl_status gc_seq_compact_layer(gc_seq *seq, int layer, const gc_buffer *idx, int idx_head_stride, int n_keep,
                                  gc_error *err) {
    const gc_hparams *hp = &seq->m->hp;
    if (layer < 0 || layer >= hp->n_layers || n_keep < 0 || n_keep > seq->kv_len[layer] || key_shift(seq, layer))
        return gc_fail(err, GEMCL_ERR_INVALID_ARG, "compacting layer %d to %d rows", layer, n_keep);
    GC_TRY(compact_rows(seq, layer, idx, idx_head_stride, n_keep, true, err));
    seq->kv_len[layer] = n_keep;
    seq->n_past = 0;
    for (int l = 0; l < hp->n_layers; l++)
        seq->n_past = seq->kv_len[l] > seq->n_past ? seq->kv_len[l] : seq->n_past;
    return GEMCL_OK;
}

gemcl_status gc_seq_compact_keys(gc_seq *seq, int layer, const gc_buffer *idx, int n_keep, gc_error *err) {
    if (layer < 0 || layer >= seq->m->hp.n_layers || n_keep < 0 || n_keep > seq->kv_len[layer])
        return gc_fail(err, GEMCL_ERR_INVALID_ARG, "compacting layer %d's keys to %d rows", layer, n_keep);
    return compact_rows(seq, layer, idx, 0, n_keep, false, err);
}

/* Grows the cache geometrically so a long generation reallocates O(log n) times. */
static gemcl_status ensure_rows(gc_seq *seq, int rows, gc_error *err) {
    if (rows <= seq->kv_rows)
        return GEMCL_OK;
    int want = seq->kv_rows * 2 > rows ? seq->kv_rows * 2 : rows;
    return gc_seq_reserve(seq, want < seq->n_ctx ? want : seq->n_ctx, err);
}

/* Asks the progress callback whether to go on; GEMCL_ABORTED when it says stop. */
static gemcl_status check_progress(const gc_progress *p, int64_t done, int64_t total, gc_error *err) {
    if (p && p->fn && p->fn(done, total, p->user))
        return gc_fail(err, GEMCL_ABORTED, "aborted by the progress callback after %lld of %lld rows",
                       (long long)done, (long long)total);
    return GEMCL_OK;
}

/* xorshift64* -> uniform float in [0, 1) (24 bits, as llama2.c's random_f32). */
static float next_uniform(uint64_t *state) {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (float)((*state * 0x2545F4914F6CDD1DULL) >> 40) / 16777216.0f;
}

/* Final norm and LM head on the row of x at element x_off, then the sampled id into out_id and back to the
 * host. */
static gemcl_status finish_step(gc_seq *seq, const gc_buffer *x, size_t x_off, gc_sampling *smp, int32_t *next_id,
                                float *logits, gc_error *err) {
    gc_ops *ops = seq->ops;
    gc_runtime *rt = gc_ops_runtime(ops);
    const gc_dmodel *m = seq->m;
    gc_scratch *s = &seq->s;
    int d = m->hp.n_embd, vocab = m->hp.vocab_size;
    GC_TRY(gc_op_rmsnorm(ops, x, x_off, &m->out_norm, &s->xb, 0, 1, d, m->hp.norm_eps, err));
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
    return GEMCL_OK;
}

/* Runs n <= n_ub rows already staged in host_tok through every layer, appending to the cache. */
static gemcl_status run_chunk(gc_seq *seq, int n, bool blocking_upload, gc_error *err) {
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
        layer_io io = {&s->x, 0, &s->tok, (size_t)s->n_ub, &seq->k_cache[l], &seq->v_cache[l], seq->kv_len[l],
                       seq->shared_logits ? seq->shared_logits[l] : NULL};
        gemcl_status st = layer_forward(ops, m, l, s, &io, n, err);
        if (st == GEMCL_OK && seq->after_layer.fn)
            st = seq->after_layer.fn(seq->after_layer.user, seq, l, &s->q, seq->kv_len[l], n, err);
        if (st != GEMCL_OK)
            return gc_error_prefix(err, "layer %d", l);
    }
    for (int l = 0; l < m->hp.n_layers; l++)
        seq->kv_len[l] += n;
    seq->n_past += n;
    return GEMCL_OK;
}

/* Called after each prefill chunk has run through every layer: the chunk is rows c0 .. c0 + nc - 1 of the call's
 * n, and their residual stream is rows 0 .. nc - 1 of seq->s.x until the next chunk runs. */
typedef gemcl_status (*chunk_done_fn)(gc_seq *seq, int c0, int nc, void *user, gc_error *err);

/* Runs ids (positions pos, or next_pos.. when pos is NULL) through every layer after the cached rows, in chunks of
 * n_ub, calling done (may be NULL) after each chunk. The last chunk's rows stay in seq->s.x. */
static gemcl_status prefill_rows(gc_seq *seq, const int32_t *ids, const int32_t *pos, int n, chunk_done_fn done,
                                 void *user, gc_error *err) {
    if (n <= 0)
        return gc_fail(err, GEMCL_ERR_INVALID_ARG, "prefill of %d tokens", n);
    if (n > seq->n_ctx - seq->n_past)
        return gc_fail(err, GEMCL_ERR_CONTEXT_FULL, "%d tokens do not fit the context: %d of %d rows are used", n,
                       seq->n_past, seq->n_ctx);
    int ub = seq->s.n_ub, vocab = seq->m->hp.vocab_size;
    GC_TRY(ensure_rows(seq, seq->n_past + n, err));
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return gc_fail(err, GEMCL_ERR_INVALID_ARG, "token %d: id %d is outside the vocabulary (%d)", i, ids[i],
                           vocab);
    for (int c0 = 0; c0 < n; c0 += ub) {
        int nc = n - c0 < ub ? n - c0 : ub;
        for (int i = 0; i < nc; i++) {
            seq->host_tok[i] = ids[c0 + i];
            seq->host_tok[ub + i] = pos ? pos[c0 + i] : seq->next_pos + c0 + i;
        }
        GC_TRY(run_chunk(seq, nc, true, err));
        if (done)
            GC_TRY(done(seq, c0, nc, user, err));
        if (c0 + nc < n)
            GC_TRY(check_progress(&seq->progress, c0 + nc, n, err));
    }
    seq->next_pos = (pos ? pos[n - 1] : seq->next_pos + n - 1) + 1;
    return GEMCL_OK;
}

gemcl_status gc_seq_prefill(gc_seq *seq, const int32_t *ids, const int32_t *pos, int n, gc_sampling *smp,
                            int32_t *next_id, float *logits, gc_error *err) {
    GC_TRY(prefill_rows(seq, ids, pos, n, NULL, NULL, err));
    int last_row = (n - 1) % seq->s.n_ub; /* of the last chunk, still in s.x */
    return finish_step(seq, &seq->s.x, (size_t)last_row * seq->m->hp.n_embd, smp, next_id, logits, err);
}

gemcl_status gc_seq_decode(gc_seq *seq, int32_t id, gc_sampling *smp, int32_t *next_id, float *logits,
                           gc_error *err) {
    if (seq->n_past >= seq->n_ctx)
        return gc_fail(err, GEMCL_ERR_CONTEXT_FULL, "the context of %d tokens is full", seq->n_ctx);
    if (id < 0 || id >= seq->m->hp.vocab_size)
        return gc_fail(err, GEMCL_ERR_INVALID_ARG, "id %d is outside the vocabulary (%d)", id, seq->m->hp.vocab_size);
    GC_TRY(ensure_rows(seq, seq->n_past + 1, err));
    seq->host_tok[0] = id;
    seq->host_tok[seq->s.n_ub] = seq->next_pos;
    GC_TRY(run_chunk(seq, 1, false, err)); /* host_tok stays untouched until finish_step's read returns */
    seq->next_pos++;
    return finish_step(seq, &seq->s.x, 0, smp, next_id, logits, err);
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

static gemcl_status score_state_alloc(gc_runtime *rt, const gc_hparams *hp, const int32_t *ids, int n, int first,
                                      score_state *sc, gc_error *err) {
    memset(sc, 0, sizeof *sc);
    sc->first = first, sc->n = n;
    size_t n_scored = (size_t)(n - 1 - first), rows = n_scored < SCORE_ROWS ? n_scored : SCORE_ROWS;
    gemcl_status st = gc_buffer_alloc(rt, n_scored * 4, "score targets", &sc->targets, err);
    if (st == GEMCL_OK)
        st = gc_buffer_write(rt, &sc->targets, 0, ids + first + 1, n_scored * 4, err);
    if (st == GEMCL_OK)
        st = gc_buffer_alloc(rt, rows * (size_t)hp->vocab_size * 4, "score logits", &sc->logits, err);
    if (st == GEMCL_OK)
        st = gc_buffer_alloc(rt, n_scored * 4, "score nll", &sc->nll, err);
    return st;
}

/* After a prefill chunk (chunk_done_fn): the final norm, the LM head and the NLL at the target for the chunk's
 * scored rows, SCORE_ROWS at a time. Rows before `first` never reach the head. */
static gemcl_status score_chunk(gc_seq *seq, int c0, int nc, void *user, gc_error *err) {
    score_state *sc = user;
    gc_ops *ops = seq->ops;
    const gc_dmodel *m = seq->m;
    gc_scratch *s = &seq->s;
    int d = m->hp.n_embd, lo = c0 > sc->first ? c0 : sc->first, hi = c0 + nc < sc->n - 1 ? c0 + nc : sc->n - 1;
    if (lo >= hi)
        return GEMCL_OK;
    /* xb is free once the chunk's layers ran: it takes the normed rows lo .. hi - 1 */
    GC_TRY(gc_op_rmsnorm(ops, &s->x, (size_t)(lo - c0) * d, &m->out_norm, &s->xb, 0, hi - lo, d, m->hp.norm_eps, err));
    for (int r0 = lo; r0 < hi; r0 += SCORE_ROWS) {
        int nr = hi - r0 < SCORE_ROWS ? hi - r0 : SCORE_ROWS;
        size_t k = (size_t)(r0 - sc->first); /* the rows' place among the scored ones */
        GC_TRY(gc_op_matmul(ops, &s->xb, (size_t)(r0 - lo) * d, &m->lm_head, NULL, &sc->logits, 0, nr, err));
        GC_TRY(gc_op_nll(ops, &sc->logits, 0, &sc->targets, k, &sc->nll, k, nr, m->hp.vocab_size, err));
    }
    return GEMCL_OK;
}

gemcl_status gc_seq_score(gc_seq *seq, const int32_t *ids, int n, int first, float *nll, gc_error *err) {
    if (n < 2 || first < 0 || first > n - 2)
        return gc_fail(err, GEMCL_ERR_INVALID_ARG, "scoring %d tokens from row %d: needs 0 <= first <= n - 2", n, first);
    gc_runtime *rt = gc_ops_runtime(seq->ops);
    score_state sc;
    /* the targets go up before prefill_rows checks the ids, but no kernel reads them if that check fails */
    gemcl_status st = score_state_alloc(rt, &seq->m->hp, ids, n, first, &sc, err);
    if (st == GEMCL_OK)
        st = prefill_rows(seq, ids, NULL, n, score_chunk, &sc, err);
    if (st == GEMCL_OK) /* the one read back: n - 1 - first floats */
        st = gc_buffer_read(rt, &sc.nll, 0, nll, (size_t)(n - 1 - first) * sizeof *nll, err);
    score_state_free(rt, &sc);
    return st;
}

/* ---- layer-major prefill with row selection ---------------------------------------------------------- */

typedef struct staged {
    gc_buffer *x;            /* per chunk f32 (n_ub, n_embd): the residual stream of the current rows */
    int n_chunks;
    gc_buffer ids_pos;       /* int32 (2, n): ids, then the current rows' original positions */
    gc_buffer idx;           /* int32 (n): kept rows' offsets inside their old chunk */
    int32_t *pos;            /* (n) host copy of the current positions */
} staged;

static void chunks_free(gc_runtime *rt, gc_buffer *x, int n_chunks) {
    for (int c = 0; x && c < n_chunks; c++)
        gc_buffer_free(rt, &x[c]);
    free(x);
}

static void staged_free(gc_runtime *rt, staged *st) {
    chunks_free(rt, st->x, st->n_chunks);
    gc_buffer_free(rt, &st->ids_pos);
    gc_buffer_free(rt, &st->idx);
    free(st->pos);
}

/* Residual chunks for rows rows, like the filter pass: no buffer holds more than n_ub rows. */
static gemcl_status chunks_alloc(gc_seq *seq, int rows, gc_buffer **x, int *n_chunks, gc_error *err) {
    int ub = seq->s.n_ub;
    *n_chunks = (rows + ub - 1) / ub;
    *x = calloc((size_t)*n_chunks, sizeof **x);
    if (!*x)
        return gc_fail(err, GEMCL_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int c = 0; c < *n_chunks; c++)
        GC_TRY(gc_buffer_alloc(gc_ops_runtime(seq->ops), (size_t)ub * seq->m->hp.n_embd * 4, "staged residual chunk",
                            &(*x)[c], err));
    return GEMCL_OK;
}

/* Gathers residual rows keep[0..n_keep-1] into fresh chunks: one gather per run of rows that share both their
 * old and their new chunk. */
static gemcl_status gather_chunks(gc_seq *seq, staged *st, const int32_t *keep, int n_keep, gc_buffer *x_new,
                                  gc_error *err) {
    int ub = seq->s.n_ub, d = seq->m->hp.n_embd;
    int32_t *local = malloc((size_t)n_keep * sizeof *local);
    if (!local)
        return gc_fail(err, GEMCL_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int r = 0; r < n_keep; r++)
        local[r] = keep[r] % ub;
    gemcl_status s = gc_buffer_write(gc_ops_runtime(seq->ops), &st->idx, 0, local, (size_t)n_keep * 4, err);
    free(local);
    for (int r0 = 0, r1; s == GEMCL_OK && r0 < n_keep; r0 = r1) {
        int from = keep[r0] / ub, to = r0 / ub;
        for (r1 = r0 + 1; r1 < n_keep && keep[r1] / ub == from && r1 / ub == to; r1++)
            ;
        gc_rows_layout src = {0, d, 0}, dst = {(size_t)(r0 % ub) * d, d, 0};
        s = gc_op_gather_rows(seq->ops, &st->x[from], src, &x_new[to], dst, &st->idx, (size_t)r0, 0, r1 - r0, 1, d,
                              err);
    }
    return s;
}

/* Carries rows keep[0..n_keep-1] of the current rows forward: residual rows and positions. */
static gemcl_status staged_keep(gc_seq *seq, staged *st, const int32_t *keep, int n_keep, int n, gc_error *err) {
    gc_runtime *rt = gc_ops_runtime(seq->ops);
    gc_buffer *x_new = NULL;
    int n_new = 0;
    gemcl_status s = chunks_alloc(seq, n_keep, &x_new, &n_new, err);
    if (s == GEMCL_OK)
        s = gather_chunks(seq, st, keep, n_keep, x_new, err);
    chunks_free(rt, st->x, st->n_chunks); /* deferred by OpenCL until the gathers ran */
    st->x = x_new, st->n_chunks = n_new;
    if (s != GEMCL_OK)
        return s;
    for (int r = 0; r < n_keep; r++)
        st->pos[r] = st->pos[keep[r]];
    return gc_buffer_write(rt, &st->ids_pos, (size_t)n * 4, st->pos, (size_t)n_keep * 4, err);
}

/* Layer l over the cur current rows, chunk by chunk; returns the row count of the last chunk in *last_nc. */
static gemcl_status staged_layer(gc_seq *seq, staged *st, int l, int cur, int n, int *last_nc, gc_error *err) {
    int ub = seq->s.n_ub;
    for (int c0 = 0; c0 < cur; c0 += ub) {
        int nc = cur - c0 < ub ? cur - c0 : ub;
        layer_io io = {&st->x[c0 / ub], 0, &st->ids_pos, (size_t)n + c0, &seq->k_cache[l], &seq->v_cache[l], c0,
                       NULL};
        GC_TRY(layer_forward(seq->ops, seq->m, l, &seq->s, &io, nc, err));
        *last_nc = nc;
    }
    seq->kv_len[l] = cur;
    return GEMCL_OK;
}

static gemcl_status staged_run(gc_seq *seq, staged *st, const int32_t *ids, int n, const gc_stage_hook *hook,
                               gc_sampling *smp, int32_t *next_id, float *logits, gc_error *err) {
    gc_runtime *rt = gc_ops_runtime(seq->ops);
    const gc_hparams *hp = &seq->m->hp;
    int ub = seq->s.n_ub, d = hp->n_embd, cur = n, last_nc = 0;
    for (int i = 0; i < n; i++)
        st->pos[i] = i;
    GC_TRY(chunks_alloc(seq, n, &st->x, &st->n_chunks, err));
    GC_TRY(gc_buffer_alloc(rt, (size_t)n * 2 * 4, "staged ids+positions", &st->ids_pos, err));
    GC_TRY(gc_buffer_alloc(rt, (size_t)n * 4, "staged kept rows", &st->idx, err));
    GC_TRY(gc_buffer_write(rt, &st->ids_pos, 0, ids, (size_t)n * 4, err));
    GC_TRY(gc_buffer_write(rt, &st->ids_pos, (size_t)n * 4, st->pos, (size_t)n * 4, err));
    for (int c0 = 0; c0 < n; c0 += ub)
        GC_TRY(gc_op_embed(seq->ops, &seq->m->tok_embd, &st->ids_pos, (size_t)c0, &st->x[c0 / ub], 0,
                        n - c0 < ub ? n - c0 : ub, err));
    for (int l = 0; l < hp->n_layers; l++) {
        if (staged_layer(seq, st, l, cur, n, &last_nc, err) != GEMCL_OK)
            return gc_error_prefix(err, "layer %d", l);
        int32_t *keep = NULL;
        int n_keep = 0;
        gc_stage_view v = {l, cur, &seq->s.q, (size_t)(last_nc - 1) * hp->n_heads * hp->head_dim, st->pos};
        if (hook && hook->fn)
            GC_TRY(hook->fn(hook->user, seq, &v, &keep, &n_keep, err));
        gemcl_status s = GEMCL_OK;
        if (keep) {
            s = staged_keep(seq, st, keep, n_keep, n, err);
            cur = n_keep;
            free(keep);
        }
        if (s != GEMCL_OK)
            return s;
        GC_TRY(check_progress(&seq->progress, (int64_t)(l + 1) * n, (int64_t)hp->n_layers * n, err));
    }
    seq->n_past = 0;
    for (int l = 0; l < hp->n_layers; l++)
        seq->n_past = seq->kv_len[l] > seq->n_past ? seq->kv_len[l] : seq->n_past;
    seq->next_pos = st->pos[cur - 1] + 1;
    return finish_step(seq, &st->x[(cur - 1) / ub], (size_t)((cur - 1) % ub) * d, smp, next_id, logits, err);
}

gemcl_status gc_seq_prefill_staged(gc_seq *seq, const int32_t *ids, int n, const gc_stage_hook *hook,
                                   gc_sampling *smp, int32_t *next_id, float *logits, gc_error *err) {
    if (n <= 0 || seq->n_past != 0)
        return gc_fail(err, GEMCL_ERR_INVALID_ARG, "staged prefill of %d tokens needs an empty sequence (%d cached)",
                       n, seq->n_past);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= seq->m->hp.vocab_size)
            return gc_fail(err, GEMCL_ERR_INVALID_ARG, "token %d: id %d is outside the vocabulary (%d)", i, ids[i],
                           seq->m->hp.vocab_size);
    GC_TRY(gc_seq_reserve(seq, n, err));
    staged st = {0};
    st.pos = malloc((size_t)n * sizeof *st.pos);
    gemcl_status s = st.pos ? staged_run(seq, &st, ids, n, hook, smp, next_id, logits, err)
                            : gc_fail(err, GEMCL_ERR_OUT_OF_MEMORY, "out of host memory");
    staged_free(gc_ops_runtime(seq->ops), &st);
    if (s != GEMCL_OK)
        gc_seq_reset(seq);
    return s;
}

/* ---- GemFilter's filter pass ----------------------------------------------------------------------- */

typedef struct filter_state {
    gc_scratch s;
    gc_buffer ids_pos;   /* int32 (2, n): ids then positions 0..n-1 */
    gc_buffer *x;        /* per chunk f32 (n_ub, n_embd): the residual stream of all n rows */
    int n_chunks;
    gc_buffer v;         /* f32 (n, kv_dim): the current layer's values */
} filter_state;

static void filter_state_free(gc_runtime *rt, filter_state *f) {
    scratch_free(rt, &f->s);
    gc_buffer_free(rt, &f->ids_pos);
    for (int c = 0; f->x && c < f->n_chunks; c++)
        gc_buffer_free(rt, &f->x[c]);
    free(f->x);
    gc_buffer_free(rt, &f->v);
}

static gemcl_status filter_state_alloc(gc_ops *ops, const gc_dmodel *m, const int32_t *ids, int n, int ub,
                                       filter_state *f, gc_buffer *k_out, gc_error *err) {
    gc_runtime *rt = gc_ops_runtime(ops);
    const gc_hparams *hp = &m->hp;
    memset(f, 0, sizeof *f);
    f->n_chunks = (n + ub - 1) / ub;
    f->x = calloc((size_t)f->n_chunks, sizeof *f->x);
    int32_t *host = malloc((size_t)n * 2 * sizeof *host);
    if (!f->x || !host) {
        free(host);
        return gc_fail(err, GEMCL_ERR_OUT_OF_MEMORY, "out of host memory for the filter pass");
    }
    for (int i = 0; i < n; i++) {
        host[i] = ids[i];
        host[n + i] = i;
    }
    size_t kv_bytes = (size_t)n * (size_t)kv_dim_of(hp) * 4;
    gemcl_status st = scratch_alloc(rt, hp, ub, false, &f->s, err);
    if (st == GEMCL_OK)
        st = gc_buffer_alloc(rt, (size_t)n * 2 * 4, "filter ids+positions", &f->ids_pos, err);
    if (st == GEMCL_OK)
        st = gc_buffer_write(rt, &f->ids_pos, 0, host, (size_t)n * 2 * 4, err);
    free(host);
    for (int c = 0; st == GEMCL_OK && c < f->n_chunks; c++)
        st = gc_buffer_alloc(rt, (size_t)ub * hp->n_embd * 4, "filter residual chunk", &f->x[c], err);
    if (st == GEMCL_OK)
        st = gc_buffer_alloc(rt, kv_bytes, "filter K", k_out, err);
    if (st == GEMCL_OK)
        st = gc_buffer_alloc(rt, kv_bytes, "filter V", &f->v, err);
    return st;
}

/* Layer r of the filter pass: RMSNorm, K for every row and Q for the last, post-RoPE; nothing else. */
static gemcl_status filter_layer_scores_inputs(gc_ops *ops, const gc_dmodel *m, int r, filter_state *f, int n,
                                               gc_buffer *k_out, gc_buffer *q_out, gc_error *err) {
    const gc_hparams *hp = &m->hp;
    const gc_dlayer *w = &m->layers[r];
    int ub = f->s.n_ub, d = hp->n_embd, kvd = kv_dim_of(hp);
    for (int c = 0; c < f->n_chunks; c++) {
        int nc = n - c * ub < ub ? n - c * ub : ub;
        size_t row0 = (size_t)c * ub;
        GC_TRY(gc_op_rmsnorm(ops, &f->x[c], 0, &w->attn_norm, &f->s.xb, 0, nc, d, hp->norm_eps, err));
        GC_TRY(gc_op_matmul(ops, &f->s.xb, 0, &w->wk, hp->qkv_bias ? &w->bk : NULL, k_out, row0 * kvd, nc, err));
        GC_TRY(gc_op_rope(ops, k_out, row0 * kvd, &f->ids_pos, (size_t)n + row0, &m->inv_freq, nc, hp->n_kv_heads,
                       hp->head_dim, hp->rope_layout, err));
        if (c == f->n_chunks - 1) {
            GC_TRY(gc_op_matmul(ops, &f->s.xb, (size_t)(nc - 1) * d, &w->wq, hp->qkv_bias ? &w->bq : NULL, q_out, 0, 1,
                             err));
            GC_TRY(gc_op_rope(ops, q_out, 0, &f->ids_pos, (size_t)n + n - 1, &m->inv_freq, 1, hp->n_heads,
                           hp->head_dim, hp->rope_layout, err));
        }
    }
    return GEMCL_OK;
}

gemcl_status gc_filter_pass(gc_ops *ops, const gc_dmodel *m, const int32_t *ids, int n, int filter_layer,
                            int n_ubatch, const gc_progress *progress, gc_buffer *k_out, gc_buffer *q_out,
                            gc_error *err) {
    gc_runtime *rt = gc_ops_runtime(ops);
    const gc_hparams *hp = &m->hp;
    memset(k_out, 0, sizeof *k_out);
    memset(q_out, 0, sizeof *q_out);
    if (filter_layer < 0 || filter_layer >= hp->n_layers)
        return gc_fail(err, GEMCL_ERR_INVALID_ARG, "filter layer %d is outside the model's layers 0..%d", filter_layer,
                       hp->n_layers - 1);
    if (n <= 0)
        return gc_fail(err, GEMCL_ERR_INVALID_ARG, "filter pass over %d tokens", n);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= hp->vocab_size)
            return gc_fail(err, GEMCL_ERR_INVALID_ARG, "token %d: id %d is outside the vocabulary (%d)", i, ids[i],
                           hp->vocab_size);
    int ub = n_ubatch > 0 ? n_ubatch : 512;
    if (ub > n)
        ub = n;
    filter_state f;
    gemcl_status st = filter_state_alloc(ops, m, ids, n, ub, &f, k_out, err);
    for (int c = 0; st == GEMCL_OK && c < f.n_chunks; c++) {
        int nc = n - c * ub < ub ? n - c * ub : ub;
        st = gc_op_embed(ops, &m->tok_embd, &f.ids_pos, (size_t)c * ub, &f.x[c], 0, nc, err);
    }
    /* Layer-major: every chunk passes layer l before any enters l + 1, so one layer's K/V suffices. */
    for (int l = 0; st == GEMCL_OK && l < filter_layer; l++) {
        for (int c = 0; st == GEMCL_OK && c < f.n_chunks; c++) {
            int nc = n - c * ub < ub ? n - c * ub : ub;
            layer_io io = {&f.x[c], 0, &f.ids_pos, (size_t)n + (size_t)c * ub, k_out, &f.v, c * ub, NULL};
            st = layer_forward(ops, m, l, &f.s, &io, nc, err);
        }
        if (st != GEMCL_OK)
            gc_error_prefix(err, "filter pass, layer %d", l);
        else
            st = check_progress(progress, (int64_t)(l + 1) * n, (int64_t)(filter_layer + 1) * n, err);
    }
    if (st == GEMCL_OK) {
        gc_buffer_free(rt, &f.v); /* layer r needs no values */
        st = gc_buffer_alloc(rt, (size_t)q_dim_of(hp) * 4, "filter query", q_out, err);
    }
    if (st == GEMCL_OK)
        st = filter_layer_scores_inputs(ops, m, filter_layer, &f, n, k_out, q_out, err);
    /* Releasing buffers that queued kernels still use is safe: OpenCL defers the deletion until they finish. */
    filter_state_free(rt, &f);
    if (st != GEMCL_OK) {
        gc_buffer_free(rt, k_out);
        gc_buffer_free(rt, q_out);
    }
    return st;
}
