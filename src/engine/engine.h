/* engine.h - the host-side scheduler: runs a Llama-family model's layers over a sequence by enqueuing ops.
 *
 * Pieces, in the order a request uses them:
 *   gc_dmodel   the weights on the device (uploaded once from a gc_model_file; shareable by sequences).
 *   gc_seq      one sequence: its KV cache (one K and one V buffer per layer, never one buffer for all),
 *               the prefill scratch, and the count of cached tokens.
 *   gc_seq_prefill / gc_seq_decode   advance the sequence; the sampled id is the only thing read back.
 *   gc_seq_score   a prefill that reads back each row's next-token negative log-likelihood (perplexity).
 *   gc_seq_prefill_staged   layer-major prefill whose per-layer callback may drop rows (PromptDistill).
 *   plan.h      what methods see: the hook table, an opaque gc_seq with accessors and setters, the cache
 *               edits, and gc_filter_pass (the layer-major driver stopped at GemFilter's layer r).
 *   request.h   one request's lifecycle over a plan: select, gather, prefill, after_prefill, decode.
 *
 * Files: seq.c (the sequence and its cache), forward.c (the model's math: one layer body, prefill, decode,
 * scoring), layer_major.c (the layer-major driver: staged prefill and the filter pass), request.c.
 *
 * Everything stays on the device; a decode step enqueues every kernel and ends in one blocking 4-byte read.
 * A gc_seq is used by one thread at a time; different gc_seqs on different runtimes are independent. */
#ifndef GC_ENGINE_H
#define GC_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/plan.h"
#include "model/model.h"
#include "ops/ops.h"

#define GC_DTYPE_KEEP (-1) /* upload weights in the file's dtype */

typedef struct gc_dlayer {
    gc_buffer attn_norm, ffn_norm;  /* f32 (n_embd) */
    gc_dweight wq, wk, wv, wo;      /* (q_dim, n_embd), (kv_dim, n_embd) x2, (n_embd, q_dim) */
    gc_buffer bq, bk, bv;           /* f32 (q_dim), (kv_dim), (kv_dim) when hp.qkv_bias */
    gc_dweight w_gate, w_up, w_down;/* (n_ff, n_embd) x2, (n_embd, n_ff) */
} gc_dlayer;

typedef struct gc_dmodel {
    gc_hparams hp;
    gc_dweight tok_embd;            /* (vocab, n_embd) */
    gc_dweight lm_head;             /* (vocab, n_embd); shares tok_embd's buffer when tied */
    bool lm_head_shared;
    gc_buffer out_norm;             /* f32 (n_embd) */
    gc_buffer inv_freq;             /* f32 (head_dim / 2): theta and rope scaling folded in */
    gc_dlayer *layers;              /* (n_layers) */
    size_t weight_bytes;
} gc_dmodel;

/* Uploads every tensor of model to the device, converting to dtype (GC_DTYPE_KEEP keeps the file's; norms
 * are always f32). Each tensor is its own buffer, so none exceeds the device's largest allocation unless
 * a single tensor does (then a clear error names it). */
gc_status gc_dmodel_upload(gc_ops *ops, const gc_model_file *model, int dtype, gc_dmodel **out, gc_error *err);
void gc_dmodel_free(gc_runtime *rt, gc_dmodel *m);

/* Computes the RoPE inverse frequencies (head_dim / 2 values) exactly as llama2.c does for theta, with
 * Llama 3 frequency scaling when asked. Shared by the engine and the plain C reference in the tests. */
void gc_rope_inv_freq(const gc_hparams *hp, float *inv_freq);

typedef struct gc_seq_params {
    int n_ctx;      /* KV cache rows per layer; 0 = the model's trained context */
    int n_ubatch;   /* prefill chunk (rows per enqueue); 0 = 512 */
} gc_seq_params;

/* Prefill scratch for a chunk of up to n_ub rows. */
typedef struct gc_scratch {
    int n_ub;
    gc_buffer x, xb;                /* f32 (n_ub, n_embd): residual (projections add into it), normed */
    gc_buffer q, att;               /* f32 (n_ub, q_dim) */
    gc_buffer hb, hb2;              /* f32 (n_ub, n_ff): gated FFN activation, up product (prefill) */
    gc_buffer tok;                  /* int32 (2, n_ub): ids then positions */
    gc_buffer logits;               /* f32 (vocab) */
    gc_buffer out_id;               /* int32 (1) */
} gc_scratch;

/* Device bytes the scratch's buffers hold. */
uint64_t gc_scratch_device_bytes(const gc_scratch *s);

struct gc_seq {
    gc_ops *ops;
    const gc_dmodel *m;
    int n_ctx;                      /* the most KV rows this sequence may hold */
    int kv_rows;                    /* KV rows allocated now (grows on demand up to n_ctx) */
    int n_past;                     /* cached rows of the longest layer */
    int *kv_len;                    /* (n_layers) cached rows per layer; all n_past unless a method compacted */
    int next_pos;                   /* position of the next token (may differ from n_past after compression) */
    gc_buffer *k_cache, *v_cache;   /* per layer f32 (kv_rows, kv_dim); K (kv_rows - k_shift, kv_dim) for a
                                       pod-tf layer, see shared_logits */
    gc_scratch s;
    int32_t *host_tok;              /* (2, n_ub) staging for the tok buffer */
    gc_progress progress;           /* optional; consulted by gc_seq_prefill */
    gc_layer_hook after_layer;      /* optional */
    const gc_shared_logits *const *shared_logits; /* NULL, or (n_layers) entries, NULL for an ordinary layer:
                                       pod-tf layers whose distant keys take the logits of another layer; their
                                       k_cache holds key rows j >= sinks at j - k_shift. Owned by the setter. */
};

gc_status gc_seq_create(gc_ops *ops, const gc_dmodel *m, const gc_seq_params *params, gc_seq **out, gc_error *err);
void gc_seq_free(gc_seq *seq);

/* Clears the cache (keeps the buffers). */
void gc_seq_reset(gc_seq *seq);

/* Keeps the first rows cached tokens and forgets the rest (positions 0 .. rows - 1): only for a cache no
 * method compressed, whose row i is token i. */
void gc_seq_truncate(gc_seq *seq, int rows);

/* Makes room for rows KV rows per layer (rows <= n_ctx, else GC_ERR_CONTEXT_FULL), keeping the cached
 * rows. The cache is allocated lazily, so device memory reflects what a request uses, not n_ctx. */
gc_status gc_seq_reserve(gc_seq *seq, int rows, gc_error *err);

/* What to do with the logits of the last row after a forward step. */
typedef struct gc_sampling {
    float temperature;  /* <= 0: greedy argmax on the device */
    int top_k;          /* 0 = all */
    float top_p;        /* 1 = all */
    uint64_t rng_state; /* xorshift64* state, advanced per sample */
} gc_sampling;

/* Runs ids (positions pos, or next_pos.. when pos is NULL) through every layer, appending to the cache in
 * chunks of n_ubatch, and samples the next token from the last row's logits into *next_id (if not NULL).
 * GC_ERR_CONTEXT_FULL if the cache cannot take n more rows. If logits is not NULL the last row's
 * logits (vocab floats) are read back into it (tests, API users who ask). */
gc_status gc_seq_prefill(gc_seq *seq, const int32_t *ids, const int32_t *pos, int n, gc_sampling *smp, int32_t *next_id,
                         float *logits, gc_error *err);

/* One decode step: feeds id at next_pos and samples the next token. One blocking read per call. */
gc_status gc_seq_decode(gc_seq *seq, int32_t id, gc_sampling *smp, int32_t *next_id, float *logits, gc_error *err);

/* Runs the n ids through every layer after the cached rows, like gc_seq_prefill (the cache keeps them), and writes
 * nll[i - first] = -log softmax(logits of row i)[ids[i + 1]] for first <= i <= n - 2: the next-token negative
 * log-likelihood of each row after `first`, given the cache and ids[0 .. i]. The final norm and LM head run over
 * the scored rows only, at most 64 rows of logits at a time, and the log-softmax is taken on the device, so only
 * n - 1 - first floats come back (one blocking read). No sampling; the logits buffer is left as it was.
 * GC_ERR_INVALID_ARG unless 0 <= first <= n - 2 and every id is in the vocabulary; GC_ERR_CONTEXT_FULL as
 * gc_seq_prefill. */
gc_status gc_seq_score(gc_seq *seq, const int32_t *ids, int n, int first, float *nll, gc_error *err);

/* The layer-major prefill's per-layer callback (plan.h's select_rows) with its state. */
typedef struct gc_stage_hook {
    gc_select_rows_fn fn;
    void *user;
} gc_stage_hook;

/* Prefills an empty sequence with the n prompt ids at positions 0..n-1, layer by layer over chunks of n_ubatch
 * rows (so a layer's selection sees the whole prompt). The hidden states of kept rows go on to later layers
 * with their original positions; each layer's cache holds the rows that ran through it (kv_len per layer;
 * the hook may also compact earlier layers). next_pos becomes the last row's position + 1. Samples like
 * gc_seq_prefill. The residual stream of the rows is kept in chunks of n_ubatch rows, one buffer each. */
gc_status gc_seq_prefill_staged(gc_seq *seq, const int32_t *ids, int n, const gc_stage_hook *hook, gc_sampling *smp,
                                int32_t *next_id, float *logits, gc_error *err);

#endif
