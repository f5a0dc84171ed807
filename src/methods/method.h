/* method.h - prompt and KV compression methods as hooks into one generation (docs/METHODS.md).
 *
 * A method sees the prompt before prefill and may choose which prompt tokens the model will see
 * (token-level methods such as GemFilter); later hooks (after a layer, after prefill, per decode step) join
 * as the per-head methods arrive. Adding a method adds a file here and a row in the table in method.c; the
 * engine's loop does not change. */
#ifndef GC_METHOD_H
#define GC_METHOD_H

#include "engine/engine.h"

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

/* Which prompt tokens the model sees: kept[0..n_kept-1] ascending prompt positions. */
typedef struct gc_selection {
    int32_t *kept;          /* malloc'd; NULL = keep everything */
    int n_kept;
} gc_selection;

typedef struct gc_method {
    const char *name;
    /* Chooses the prompt tokens to keep; NULL = keep all. */
    gemcl_status (*before_prefill)(const gc_method_args *args, gc_selection *sel, gc_error *err);
} gc_method;

/* The method registered under name, or NULL. */
const gc_method *gc_method_find(const char *name);

/* GemFilter's selection (METHODS.md, gemfilter pass 1, steps 1-6): the min(k, n) prompt positions with the
 * largest pooled layer-r scores, ascending. Only the k indices cross to the host. */
gemcl_status gc_gemfilter_select(const gc_method_args *args, gc_selection *sel, gc_error *err);

#endif
