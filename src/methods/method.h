/* method.h - the methods (docs/METHODS.md): each a plan (engine/plan.h) in its own file, and the registry that
 * names them (method.c). A method includes engine/plan.h alone; adding one adds a file here and a row in the
 * table in method.c (and a value in gemcl.h's gemcl_method). */
#ifndef GC_METHOD_H
#define GC_METHOD_H

#include "engine/plan.h"

/* The plan of a gemcl_method value, or NULL for an unknown one: one table look-up, no names compared. */
const gc_method *gc_method_of(gemcl_method method);

/* The method registered under name, or NULL. */
const gc_method *gc_method_find(const char *name);

/* GemFilter's selection (METHODS.md, gemfilter pass 1, steps 1-6): the min(k, n) prompt positions with the
 * largest pooled layer-r scores, ascending. Only the k indices cross to the host. */
gc_status gc_gemfilter_select(const gc_method_args *args, gc_selection *sel, gc_error *err);

/* SnapKV, H2O and H2O streaming share one machinery (headmass.c): the attention mass each key receives from a
 * set of query rows, accumulated per layer and KV head while the prefill runs, then a per-head top-k plus the
 * last w rows, gathered in place. */
gc_status gc_snapkv_start(const gc_method_args *args, const gc_kv_args *kv, gc_seq *seq, void **state, gc_error *err);
gc_status gc_h2o_start(const gc_method_args *args, const gc_kv_args *kv, gc_seq *seq, void **state, gc_error *err);
gc_status gc_h2o_stream_start(const gc_method_args *args, const gc_kv_args *kv, gc_seq *seq, void **state,
                              gc_error *err);
gc_status gc_h2o_stream_per_decode_step(void *state, gc_seq *seq, gc_error *err);
gc_status gc_headmass_after_prefill(void *state, gc_seq *seq, gc_kept_report *kept, gc_error *err);
void gc_headmass_finish(void *state, gc_seq *seq);

/* PromptDistill (promptdistill.c). */
gc_status gc_promptdistill_start(const gc_method_args *args, const gc_kv_args *kv, gc_seq *seq, void **state,
                                 gc_error *err);
gc_status gc_promptdistill_select_rows(void *state, gc_seq *seq, const gc_stage_view *view, int32_t **keep, int *n_keep,
                                       gc_error *err);
gc_status gc_promptdistill_after_prefill(void *state, gc_seq *seq, gc_kept_report *kept, gc_error *err);
void gc_promptdistill_finish(void *state, gc_seq *seq);

/* pod-tf (pod.c). */
gc_status gc_pod_start(const gc_method_args *args, const gc_kv_args *kv, gc_seq *seq, void **state, gc_error *err);
gc_status gc_pod_after_prefill(void *state, gc_seq *seq, gc_kept_report *kept, gc_error *err);
void gc_pod_finish(void *state, gc_seq *seq);

/* StreamingLLM (streamingllm.c). */
gc_status gc_streaming_start(const gc_method_args *args, const gc_kv_args *kv, gc_seq *seq, void **state,
                             gc_error *err);
gc_status gc_streaming_after_prefill(void *state, gc_seq *seq, gc_kept_report *kept, gc_error *err);
gc_status gc_streaming_per_decode_step(void *state, gc_seq *seq, gc_error *err);
void gc_streaming_finish(void *state, gc_seq *seq);

/* stride (stride.c): a query-agnostic baseline. */
gc_status gc_stride_select(const gc_method_args *args, gc_selection *sel, gc_error *err);

#endif
