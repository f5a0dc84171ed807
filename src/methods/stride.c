/* stride.c - a query-agnostic baseline ("keep every k-th token"): the budget k prompt positions evenly spaced
 * over the prompt, i * (n - 1) / (k - 1) for i = 0 .. k - 1 (so the first and the last token always), then the
 * whole model on them at fresh positions, as GemFilter's pass 2. It looks at nothing but n: what any selection
 * that reads attention must beat. Written against engine/plan.h alone. */
#include <stdlib.h>

#include "engine/plan.h"

gc_status gc_stride_select(const gc_method_args *a, gc_selection *sel, gc_error *err) {
    sel->kept = NULL;
    sel->n_kept = 0;
    if (a->budget <= 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "stride: budget must be positive (got %d)", a->budget);
    int n = a->n, k = a->budget;
    if (n <= k)
        return GC_OK; /* nothing to drop: exactly the full-attention path */
    if (!(sel->kept = malloc((size_t)k * sizeof *sel->kept)))
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "stride: out of host memory for %d indices", k);
    /* n > k makes the step (n - 1) / (k - 1) exceed 1, so the floors strictly ascend; k = 1 keeps the last */
    for (int i = 0; i < k; i++)
        sel->kept[i] = k == 1 ? n - 1 : (int32_t)((int64_t)i * (n - 1) / (k - 1));
    sel->n_kept = k;
    return GC_OK;
}
