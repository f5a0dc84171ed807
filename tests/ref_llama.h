/* ref_llama.h - a plain C, double-precision Llama forward over a gc_model_file's host views, written to be
 * read against llama2.c's forward() rather than to be fast. The tests compare the device engine with it. */
#ifndef GEMCL_TEST_REF_LLAMA_H
#define GEMCL_TEST_REF_LLAMA_H

#include <stdint.h>

#include "model/model.h"

/* Logits (vocab doubles) of the last of n tokens at positions 0..n-1. Returns 0 on success. */
int ref_logits_last(const gc_model_file *m, const int32_t *ids, int n, double *logits);

/* GemFilter's raw scores at each layer in layers[0..n_list-1] (ascending): for list entry t, scores[t][j] =
 * sum over query heads of dot(q_last[h], k[j][kv(h)]) at that layer, post-RoPE, unscaled (METHODS.md). */
int ref_gemfilter_scores(const gc_model_file *m, const int32_t *ids, int n, const int *layers, int n_list,
                         double **scores);

/* The 5-wide zero-padded mean, always divided by 5. */
void ref_pool5(const double *s, int n, double *p);

/* Indices of the min(k, n) largest p (ties: lower index first), sorted ascending; returns their count. */
int ref_topk_sorted(const double *p, int n, int k, int32_t *out);

#endif
