/* method.h - prompt and KV compression methods as hooks into one generation (docs/METHODS.md).
 *
 * A method is a row of hooks; generate.c calls them in this order and the engine's loop never changes:
 *   before_prefill   token-level selection before the model sees the prompt (GemFilter)
 *   start            set up per-request state; may install the sequence's after-layer hook (SnapKV, H2O score
 *                    keys with the attention each layer computes during prefill)
 *   select_rows      when set, the prefill runs layer-major (gc_seq_prefill_staged) and after each layer this
 *                    may choose the rows later layers process (PromptDistill)
 *   after_prefill    compress the sequence's per-layer KV (gc_seq_compact_layer) and report what was kept
 *   per_decode_step  before each decode step (StreamingLLM evicts and re-rotates, h2o-stream evicts)
 *   finish           uninstall hooks, free the state (always called once start succeeded)
 * Any hook may be NULL. Adding a method adds a file here and a row in the table in method.c. */
#ifndef GC_METHOD_H
#define GC_METHOD_H

#include "engine/engine.h"
#include "gemcl.h"

typedef struct gc_method_args {
    gc_ops *ops;
    const gc_dmodel *m;
    const int32_t *ids;     /* the prompt, (n) */
    int n;
    int filter_layer;       /* resolved: never -1 here */
    int budget;             /* resolved k */
    int n_ubatch;
    const gc_progress *progress; /* may be NULL */
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

typedef struct gc_method {
    const char *name;
    /* Chooses the prompt tokens to keep; NULL = keep all. */
    gemcl_status (*before_prefill)(const gc_method_args *args, gc_selection *sel, gc_error *err);
    gemcl_status (*start)(const gc_method_args *args, const gc_kv_args *kv, gc_seq *seq, void **state,
                          gc_error *err);
    gemcl_status (*select_rows)(void *state, gc_seq *seq, const gc_stage_view *view, int32_t **keep, int *n_keep,
                                gc_error *err);
    gemcl_status (*after_prefill)(void *state, gc_seq *seq, gc_kept_report *kept, gc_error *err);
    gemcl_status (*per_decode_step)(void *state, gc_seq *seq, gc_error *err);
    void (*finish)(void *state, gc_seq *seq);
} gc_method;

/* The method registered under name, or NULL. */
const gc_method *gc_method_find(const char *name);

/* GemFilter's selection (METHODS.md, gemfilter pass 1, steps 1-6): the min(k, n) prompt positions with the
 * largest pooled layer-r scores, ascending. Only the k indices cross to the host. */
gemcl_status gc_gemfilter_select(const gc_method_args *args, gc_selection *sel, gc_error *err);

/* SnapKV, H2O and H2O streaming share one machinery (headmass.c): the attention mass each key receives from a
 * set of query rows, accumulated per layer and KV head while the prefill runs, then a per-head top-k plus the
 * last w rows, gathered in place. */
gemcl_status gc_snapkv_start(const gc_method_args *args, const gc_kv_args *kv, gc_seq *seq, void **state,
                             gc_error *err);
gemcl_status gc_h2o_start(const gc_method_args *args, const gc_kv_args *kv, gc_seq *seq, void **state,
                          gc_error *err);
gemcl_status gc_h2o_stream_start(const gc_method_args *args, const gc_kv_args *kv, gc_seq *seq, void **state,
                                 gc_error *err);
gemcl_status gc_h2o_stream_per_decode_step(void *state, gc_seq *seq, gc_error *err);
gemcl_status gc_headmass_after_prefill(void *state, gc_seq *seq, gc_kept_report *kept, gc_error *err);
void gc_headmass_finish(void *state, gc_seq *seq);

/* PromptDistill (promptdistill.c). */
gemcl_status gc_promptdistill_start(const gc_method_args *args, const gc_kv_args *kv, gc_seq *seq, void **state,
                                    gc_error *err);
gemcl_status gc_promptdistill_select_rows(void *state, gc_seq *seq, const gc_stage_view *view, int32_t **keep,
                                          int *n_keep, gc_error *err);
gemcl_status gc_promptdistill_after_prefill(void *state, gc_seq *seq, gc_kept_report *kept, gc_error *err);
void gc_promptdistill_finish(void *state, gc_seq *seq);

/* pod-tf (pod.c). */
gemcl_status gc_pod_start(const gc_method_args *args, const gc_kv_args *kv, gc_seq *seq, void **state,
                          gc_error *err);
gemcl_status gc_pod_after_prefill(void *state, gc_seq *seq, gc_kept_report *kept, gc_error *err);
void gc_pod_finish(void *state, gc_seq *seq);

/* StreamingLLM (streamingllm.c). */
gemcl_status gc_streaming_start(const gc_method_args *args, const gc_kv_args *kv, gc_seq *seq, void **state,
                                gc_error *err);
gemcl_status gc_streaming_after_prefill(void *state, gc_seq *seq, gc_kept_report *kept, gc_error *err);
gemcl_status gc_streaming_per_decode_step(void *state, gc_seq *seq, gc_error *err);
void gc_streaming_finish(void *state, gc_seq *seq);

#endif
