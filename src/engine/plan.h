/* plan.h - what a prompt or KV compression method (src/methods) implements, and all of the engine it may use.
 *
 * A method is a plan: a row of hooks (gc_method) that the engine's request driver (request.c) calls in this
 * order, while the engine's loops stay as they are:
 *   before_prefill   token-level selection before the model sees the prompt (GemFilter, stride); the driver
 *                    gathers the kept ids and prefills only those, at fresh positions
 *   start            per-request state; may install an after-layer hook that observes each layer's queries
 *                    while the ordinary prefill runs (SnapKV, H2O) or share logits between layers (pod-tf)
 *   select_rows      when set, the prefill runs layer-major (layer_major.c) and after each layer this may
 *                    choose the rows later layers process (PromptDistill)
 *   after_prefill    compress the per-layer KV (gc_seq_compact_layer) and report what was kept
 *   per_decode_step  before each decode step (StreamingLLM evicts and re-rotates, h2o-stream evicts)
 *   finish           uninstall hooks, free the state (always called once start succeeded)
 * Any hook may be NULL. A new method is one file in src/methods written against this header alone and a row in
 * src/methods/method.c; it touches no engine file.
 *
 * The sequence (gc_seq) is opaque here: a method reads it through the accessors below and changes it only
 * through the setters and cache edits below. The ops headers are part of a method's vocabulary (scores, pooling,
 * top-k, gathers on the device), so this header brings them. */
#ifndef GC_PLAN_H
#define GC_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "gemcl.h"
#include "model/model.h"
#include "ops/kvcompress.h"
#include "ops/ops.h"
#include "ops/select.h"

typedef struct gc_seq gc_seq;       /* one sequence: its per-layer KV cache and position (engine.h) */
typedef struct gc_dmodel gc_dmodel; /* the weights on the device (engine.h) */

/* Progress: called between prefill chunks and between layer-major layers with work done and total (in
 * token-rows); a non-zero return aborts the call with GC_ABORTED, leaving the sequence usable. */
typedef struct gc_progress {
    int (*fn)(int64_t done, int64_t total, void *user);
    void *user;
} gc_progress;

/* What every hook of one request may read: the prompt and the resolved options. */
typedef struct gc_method_args {
    gc_ops *ops;
    const gc_dmodel *m;
    const int32_t *ids;     /* the prompt, (n) */
    int n;
    int filter_layer;       /* resolved: the caller's, else the model card's; never -1 here */
    int budget;             /* resolved k: the caller's, else the model card's */
    int n_ubatch;
    const gc_progress *progress; /* may be NULL */
    int query_back;         /* GemFilter scores the keys with the query of row n - 1 - query_back and keeps the
                               rows after it: 0 (the paper's last token), or the length of the model's chat reply
                               header when the prompt ends with it (generate.c) */
} gc_method_args;

/* What the KV methods need beyond gc_method_args. */
typedef struct gc_kv_args {
    const gemcl_method_params *params; /* the caller's options (window, pooling, sinks...); NULL = defaults */
    int max_new;            /* tokens still to be generated after the prefill (sizes the compacted cache) */
} gc_kv_args;

/* Which prompt tokens the model sees: kept[0..n_kept-1] ascending prompt positions. */
typedef struct gc_selection {
    int32_t *kept;          /* malloc'd; NULL = keep everything */
    int n_kept;
} gc_selection;

/* What a KV method kept, for --show-selected and gemcl_result. */
typedef struct gc_kept_report {
    int32_t *tokens;        /* token-level (StreamingLLM): (n_tokens) prompt positions, ascending; malloc'd */
    int n_tokens;
    int32_t *heads;         /* per-head (SnapKV, H2O): (n_layers, n_kv_heads, per_head) positions; malloc'd */
    int n_layers, n_kv_heads, per_head;
} gc_kept_report;

/* The after-layer hook of the ordinary (chunked) prefill and of decode: called right after layer `layer` ran
 * over n rows; q holds their post-RoPE queries, f32 (n, n_heads, head_dim), and their K/V are rows
 * row0 .. row0 + n - 1 of the layer's cache, which holds row0 + n rows. */
typedef struct gc_layer_hook {
    gc_status (*fn)(void *user, gc_seq *seq, int layer, const gc_buffer *q, int row0, int n, gc_error *err);
    void *user;
} gc_layer_hook;

/* The layer-major prefill's view after layer `layer` ran over all n_rows current rows: the last row's
 * post-RoPE query, f32 (n_heads, head_dim) at q[q_last_off], the layer's keys (gc_seq_keys, rows
 * 0 .. n_rows - 1) and the rows' original positions. */
typedef struct gc_stage_view {
    int layer;
    int n_rows;
    const gc_buffer *q;
    size_t q_last_off;
    const int32_t *positions;       /* (n_rows) original positions of the current rows */
} gc_stage_view;

/* The layer-major per-layer callback: may return the rows to carry forward, *keep = malloc'd ascending
 * indices into the current rows (NULL = keep all). */
typedef gc_status (*gc_select_rows_fn)(void *state, gc_seq *seq, const gc_stage_view *view, int32_t **keep, int *n_keep,
                                       gc_error *err);

typedef struct gc_method {
    const char *name;
    /* Chooses the prompt tokens to keep; NULL = keep all. */
    gc_status (*before_prefill)(const gc_method_args *args, gc_selection *sel, gc_error *err);
    gc_status (*start)(const gc_method_args *args, const gc_kv_args *kv, gc_seq *seq, void **state, gc_error *err);
    gc_select_rows_fn select_rows;
    gc_status (*after_prefill)(void *state, gc_seq *seq, gc_kept_report *kept, gc_error *err);
    gc_status (*per_decode_step)(void *state, gc_seq *seq, gc_error *err);
    void (*finish)(void *state, gc_seq *seq);
} gc_method;

/* ---- reading a sequence ---------------------------------------------------------------------------- */

const gc_hparams *gc_dmodel_hparams(const gc_dmodel *m);
gc_ops *gc_seq_ops(const gc_seq *seq);
const gc_hparams *gc_seq_hparams(const gc_seq *seq);
int gc_seq_n_past(const gc_seq *seq);      /* cached rows of the longest layer */
int gc_seq_n_ctx(const gc_seq *seq);       /* the most KV rows the sequence may hold */
int gc_seq_kv_rows(const gc_seq *seq);     /* KV rows allocated per layer now */
int gc_seq_n_ubatch(const gc_seq *seq);    /* rows per prefill chunk: the most a layer hook sees at once */
/* Layer's keys: f32 (kv_rows, kv_dim), post-RoPE. The pointer stays valid for the sequence's life (the buffer
 * behind it changes when the cache is resized); the method reads it, only the engine writes it. */
gc_buffer *gc_seq_keys(gc_seq *seq, int layer);

/* ---- what a method may change ----------------------------------------------------------------------- */

/* The position the next token takes (StreamingLLM: cache slots, not the original numbering). */
void gc_seq_set_next_pos(gc_seq *seq, int pos);
/* The after-layer hook (hook = {0} removes it). */
void gc_seq_set_layer_hook(gc_seq *seq, gc_layer_hook hook);
/* NULL, or (n_layers) entries, NULL for an ordinary layer: pod-tf layers whose distant keys take the logits of
 * another layer; their keys hold rows j >= sinks at j - k_shift. Owned by the caller until replaced. */
void gc_seq_set_shared_logits(gc_seq *seq, const gc_shared_logits *const *table);

/* Clears the cache and frees its buffers; the next request allocates afresh (after pod-tf left layers with
 * different key and value capacities). */
void gc_seq_release(gc_seq *seq);

/* Reallocates every layer's cache to exactly rows rows (n_past <= rows <= n_ctx), keeping the cached rows:
 * after a method compacted the cache this returns the freed memory to the device. */
gc_status gc_seq_resize(gc_seq *seq, int rows, gc_error *err);

/* Compacts layer's cache to n_keep rows: row r of KV head g becomes old row idx[g * idx_head_stride + r]
 * (idx_head_stride 0: the same rows for every head). Rows keep their post-RoPE keys, i.e. their original
 * positions. Sets the layer's row count to n_keep and n_past to the longest layer. Enqueue only. */
gc_status gc_seq_compact_layer(gc_seq *seq, int layer, const gc_buffer *idx, /* int32 (n_kv_heads, stride) */
                               int idx_head_stride, int n_keep, gc_error *err);

/* Compacts only layer's keys to rows idx[0..n_keep-1] (one list for every head; pod-tf drops the keys of
 * distant rows, whose logits come from another layer). The caller then sets the layer's k_shift. */
gc_status gc_seq_compact_keys(gc_seq *seq, int layer, const gc_buffer *idx, int n_keep, gc_error *err);

/* Moves the keys of rows row0 .. row0 + n - 1 of layer by delta[i] positions (RoPE composes: R(p + d) =
 * R(d) R(p)), delta int32 (n). Enqueue only. */
gc_status gc_seq_rotate_keys(gc_seq *seq, int layer, int row0, int n, const gc_buffer *delta, gc_error *err);

/* Device bytes of the KV rows in use (each layer's rows, K and V; minus the keys pod-tf dropped). */
size_t gc_seq_kv_bytes(const gc_seq *seq);

/* ---- layer-major passes ----------------------------------------------------------------------------- */

/* GemFilter's first pass (METHODS.md, gemfilter, pass 1), the layer-major driver stopped at filter_layer:
 * runs layers 0..filter_layer-1 over ids at positions 0..n-1 with causal attention, layer by layer, then layer
 * filter_layer's RMSNorm, K of all rows and Q of row q_row (the last, n - 1, unless the method args say
 * otherwise), both post-RoPE. On success *k_out holds f32 (n, kv_dim) and *q_out f32 (q_dim), allocated
 * through the runtime; the caller frees both with gc_buffer_free. No KV is kept, and n may exceed any
 * sequence's context. */
gc_status gc_filter_pass(gc_ops *ops, const gc_dmodel *m, const int32_t *ids, int n, int filter_layer, int q_row,
                         int n_ubatch, const gc_progress *progress, gc_buffer *k_out, gc_buffer *q_out, gc_error *err);

#endif
