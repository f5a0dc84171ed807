/* ref_llama.h - a plain C, double-precision Llama forward over a gc_model_file's host views, written to be
 * read against llama2.c's forward() rather than to be fast. The tests compare the device engine with it. */
#ifndef GEMCL_TEST_REF_LLAMA_H
#define GEMCL_TEST_REF_LLAMA_H

#include <stdint.h>

#include "model/model.h"

/* Logits (vocab doubles) of the last of n tokens at positions 0..n-1. Returns 0 on success. */
int ref_logits_last(const gc_model_file *m, const int32_t *ids, int n, double *logits);

/* Logits of one token `next_id` at position next_pos after a compressed prompt cache: the n prompt tokens
 * run through every layer at positions 0..n-1 with full causal attention (as a normal prefill), then in
 * layer l the new token's KV head g attends to prompt rows keep[(l * G + g) * n_keep + r], r < n_keep (G =
 * n_kv_heads; head_stride 0 uses keep[r] for every layer and head), with their keys rotated to slot[r]
 * (slot NULL: their original positions), and to itself. Returns 0 on success. */
int ref_logits_after_kept(const gc_model_file *m, const int32_t *ids, int n, const int32_t *keep, int n_keep,
                          int head_stride, const int32_t *slot, int32_t next_id, int next_pos, double *logits);

/* PromptDistill (METHODS.md) over n tokens: layers run normally; after layer layers[t] (stage t) the top
 * budgets[t] rows by the last row's smoothed score (s[last] = 0, last excluded) plus the last row go on, with
 * their hidden states and original positions. kept (>= n entries) gets the final rows' original positions,
 * *n_kept their count, pooled_first (n, may be NULL) stage 0's smoothed scores, logits the last row's. */
int ref_promptdistill(const gc_model_file *m, const int32_t *ids, int n, const int *layers, const int *budgets,
                      int n_stages, int32_t *kept, int *n_kept, double *pooled_first, double *logits);

/* pod-tf (METHODS.md, pod): logits of the last of n tokens when, in every layer l with l % block != 0, query
 * row i takes the logits of keys sinks <= j <= i - recent from layer l - l % block (its query of row i and
 * its keys) and the others from layer l itself, one softmax, layer l's values. */
int ref_pod_logits(const gc_model_file *m, const int32_t *ids, int n, int block, int sinks, int recent,
                   double *logits);

/* Attention mass of a full causal prefill: mass[(l * G + g) * n + j] = sum over rows i >= max(j, i_from) and the
 * query heads h of KV group g of softmax_j(q[i, h] . k[j, g] / sqrt(d)) in layer l (G = n_kv_heads). */
int ref_head_mass(const gc_model_file *m, const int32_t *ids, int n, int i_from, double *mass);

/* h2o-stream (METHODS.md, h2o) in double precision: prefill n tokens with full attention, then per layer and
 * KV head keep the top `heavy` of the column sums of rows 0 .. n - recent - 1 plus the last `recent` rows
 * (when n > heavy + recent); then for each of `steps` decode steps feeding feed[t] at position n + t: over
 * budget, drop each head's non-recent row of least mass; run the token (it attends to itself and the kept
 * rows), adding its attention probabilities to the masses. logits: (steps, vocab). Returns 0 on success. */
int ref_h2o_stream(const gc_model_file *m, const int32_t *ids, int n, int heavy, int recent, const int32_t *feed,
                   int steps, double *logits);

/* StreamingLLM (METHODS.md) in double precision: prefill n tokens, keep the first `sinks` and the last k - sinks
 * rows with keys re-rotated to their slots (when n > k); then before each of `steps` decode steps with k rows
 * cached drop slot `sinks` and move the later rows down one slot; feed[t] goes at the slot after the last.
 * logits: (steps, vocab). Returns 0 on success. */
int ref_streamingllm(const gc_model_file *m, const int32_t *ids, int n, int k, int sinks, const int32_t *feed,
                     int steps, double *logits);

/* GemFilter's raw scores at each layer in layers[0..n_list-1] (ascending): for list entry t, scores[t][j] =
 * sum over query heads of dot(q_last[h], k[j][kv(h)]) at that layer, post-RoPE, unscaled (METHODS.md). */
int ref_gemfilter_scores(const gc_model_file *m, const int32_t *ids, int n, const int *layers, int n_list,
                         double **scores);

/* The 5-wide zero-padded mean, always divided by 5. */
void ref_pool5(const double *s, int n, double *p);

/* Indices of the min(k, n) largest p (ties: lower index first), sorted ascending; returns their count. */
int ref_topk_sorted(const double *p, int n, int k, int32_t *out);

#endif
