/* merge.h - the shared BPE merge loop (merge.c). */
#ifndef GC_TOKENIZER_MERGE_H
#define GC_TOKENIZER_MERGE_H

#include "tokenizer/tok_internal.h"

typedef struct tok_sym {
    uint32_t off, len;   /* span of the working text; len 0 = merged into its left neighbour */
    int32_t id;          /* the token the span is, or -1 if none (yet) */
    int32_t prev, next;  /* neighbours in the live chain, -1 at the ends */
} tok_sym;

typedef struct tok_bigram {
    float score; /* token score (SPM, llama2.c) or -rank (rank-ordered merges) */
    int32_t left, right;
    uint32_t len; /* left.len + right.len when queued: a different sum means the pair is stale */
    int32_t id;   /* the token the pair forms */
} tok_bigram;

typedef struct tok_merger {
    const gc_tokenizer *t;
    bool by_rank;      /* pairs from t->merges by ids; else the text of the pair looked up, by score */
    bool skip_special; /* by score: control/unknown tokens never form from text */
    const char *text;  /* working text the symbols point into */
    tok_sym *syms;     /* (n_syms) in text order */
    size_t n_syms, cap_syms;
    tok_bigram *heap;  /* (n_heap) max-heap of candidate pairs */
    size_t n_heap, cap_heap;
} tok_merger;

void tok_merger_reset(tok_merger *m, const char *text);
bool tok_merger_add(tok_merger *m, uint32_t off, uint32_t len, int32_t id); /* false = out of memory */
bool tok_merger_run(tok_merger *m);                                         /* false = out of memory */
void tok_merger_free(tok_merger *m);

#endif
