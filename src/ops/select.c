/* select.c - host wrappers for cl/select.cl: GemFilter's score, avg-5 smoothing and top-k indices. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops/ops_internal.h"
#include "ops/select.h"

#define TOPK_BINS 256          /* must match cl/select.cl */
#define TOPK_PASSES 8          /* 64-bit keys, 8 bits per pass */
#define TOPK_MAX_GROUPS 1024   /* caps the histogram scratch at 1 MiB and the per-group offset sums */

/* The tunables (work-group sizes, elements per top-k group) come from the device profile: select_local,
 * topk_local, topk_items (profile.h); cl/select.cl holds the kernels' defaults. */

/* Keeps the first failing clSetKernelArg code. */
static cl_int set_arg(cl_int rc, cl_kernel k, cl_uint index, size_t size, const void *value) {
    return rc != CL_SUCCESS ? rc : clSetKernelArg(k, index, size, value);
}

/* Fails unless elements [off, off + count) of elem_bytes each lie inside buf. */
static gc_status check_span(const gc_buffer *buf, size_t off, size_t count, size_t elem_bytes, const char *what,
                            gc_error *err) {
    size_t cap = buf && buf->mem ? buf->bytes / elem_bytes : 0;
    if (off > cap || count > cap - off)
        return gc_fail(err, GC_ERR_INVALID_ARG, "%s: elements [%zu, %zu) exceed a buffer of %zu", what, off,
                       off + count, cap);
    return GC_OK;
}

/* The select program's kernel `entry`, built with the profile's score/pool work-group size and topk_local
 * work-items at most per top-k group (it sizes their local arrays). */
static gc_status select_kernel(gc_ops *ops, size_t topk_local, const char *entry, cl_kernel *kr, gc_error *err) {
    char options[64];
    snprintf(options, sizeof options, "-DSELECT_LS=%d -DTOPK_LS=%zu", gc_ops_get_profile(ops)->select_local,
             topk_local < 1 ? (size_t)1 : topk_local);
    return gc_ops_kernel(ops, "select", options, entry, kr, err);
}

/* want, clamped to 1 .. the work-group size the device accepts for kernel. */
static size_t kernel_local(gc_ops *ops, cl_kernel kernel, size_t want) {
    size_t max = 0;
    gc_runtime *rt = gc_ops_runtime(ops);
    if (clGetKernelWorkGroupInfo(kernel, rt->dev.device, CL_KERNEL_WORK_GROUP_SIZE, sizeof max, &max, NULL) !=
            CL_SUCCESS ||
        max == 0)
        max = 1;
    return want < 1 ? 1 : want > max ? max : want;
}

gc_status gc_op_gemfilter_score(gc_ops *ops, const gc_buffer *q, size_t q_off, const gc_buffer *k, size_t k_off,
                                gc_buffer *s, size_t s_off, int n, int n_heads, int n_kv_heads, int head_dim,
                                gc_error *err) {
    if (n < 0 || n_heads < 1 || n_kv_heads < 1 || head_dim < 1 || n_heads % n_kv_heads != 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "gemfilter score: bad shape n=%d H=%d G=%d d=%d", n, n_heads,
                       n_kv_heads, head_dim);
    size_t row = (size_t)n_kv_heads * head_dim;
    if (check_span(q, q_off, (size_t)n_heads * head_dim, 4, "gemfilter score q", err) ||
        check_span(k, k_off, (size_t)n * row, 4, "gemfilter score k", err) ||
        check_span(s, s_off, (size_t)n, 4, "gemfilter score s", err))
        return err ? err->status : GC_ERR_INVALID_ARG;
    if (n == 0)
        return GC_OK;
    cl_kernel kr;
    const gc_ops_profile *prof = gc_ops_get_profile(ops);
    gc_status st = select_kernel(ops, (size_t)prof->topk_local, "gemfilter_score_f32_f32", &kr, err);
    if (st != GC_OK)
        return st;
    cl_ulong qo = q_off, ko = k_off, so = s_off;
    cl_uint nn = (cl_uint)n, h = (cl_uint)n_heads, g = (cl_uint)n_kv_heads, d = (cl_uint)head_dim;
    cl_int rc = set_arg(CL_SUCCESS, kr, 0, sizeof(cl_mem), &q->mem);
    rc = set_arg(rc, kr, 1, sizeof qo, &qo);
    rc = set_arg(rc, kr, 2, sizeof(cl_mem), &k->mem);
    rc = set_arg(rc, kr, 3, sizeof ko, &ko);
    rc = set_arg(rc, kr, 4, sizeof(cl_mem), &s->mem);
    rc = set_arg(rc, kr, 5, sizeof so, &so);
    rc = set_arg(rc, kr, 6, sizeof nn, &nn);
    rc = set_arg(rc, kr, 7, sizeof h, &h);
    rc = set_arg(rc, kr, 8, sizeof g, &g);
    rc = set_arg(rc, kr, 9, sizeof d, &d);
    rc = set_arg(rc, kr, 10, row * sizeof(float), NULL); /* qsum (G, d) */
    if (rc != CL_SUCCESS)
        return gc_cl_fail(err, rc, "gemfilter score arguments");
    return gc_ops_launch_1d(ops, kr, (size_t)n, kernel_local(ops, kr, (size_t)prof->select_local), "gemfilter_score_f32_f32",
                            err);
}

gc_status gc_op_pool_avg5(gc_ops *ops, const gc_buffer *s, size_t s_off, gc_buffer *p, size_t p_off, int n,
                          gc_error *err) {
    if (n < 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "pool avg5: n=%d", n);
    if (check_span(s, s_off, (size_t)n, 4, "pool avg5 s", err) ||
        check_span(p, p_off, (size_t)n, 4, "pool avg5 p", err))
        return err ? err->status : GC_ERR_INVALID_ARG;
    if (n == 0)
        return GC_OK;
    cl_kernel kr;
    const gc_ops_profile *prof = gc_ops_get_profile(ops);
    gc_status st = select_kernel(ops, (size_t)prof->topk_local, "pool_avg5_f32_f32", &kr, err);
    if (st != GC_OK)
        return st;
    cl_ulong so = s_off, po = p_off;
    cl_uint nn = (cl_uint)n;
    cl_int rc = set_arg(CL_SUCCESS, kr, 0, sizeof(cl_mem), &s->mem);
    rc = set_arg(rc, kr, 1, sizeof so, &so);
    rc = set_arg(rc, kr, 2, sizeof(cl_mem), &p->mem);
    rc = set_arg(rc, kr, 3, sizeof po, &po);
    rc = set_arg(rc, kr, 4, sizeof nn, &nn);
    if (rc != CL_SUCCESS)
        return gc_cl_fail(err, rc, "pool avg5 arguments");
    return gc_ops_launch_1d(ops, kr, (size_t)n, kernel_local(ops, kr, (size_t)prof->select_local), "pool_avg5_f32_f32", err);
}

/* ---- top-k ---- */

static int topk_groups_for(int n, int items_per_group, int max_groups) {
    long per = items_per_group < 1 ? 1 : items_per_group;
    long groups = ((long)n + per - 1) / per;
    return groups < 1 ? 1 : groups > max_groups ? max_groups : (int)groups;
}

gc_status gc_topk_scratch_create(gc_ops *ops, int max_n, int max_k, gc_topk_scratch **out, gc_error *err) {
    *out = NULL;
    if (max_n < 1 || max_k < 1)
        return gc_fail(err, GC_ERR_INVALID_ARG, "top-k scratch: max_n=%d max_k=%d must be >= 1", max_n, max_k);
    gc_topk_scratch *ts = calloc(1, sizeof *ts);
    if (!ts)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory creating top-k scratch");
    ts->rt = gc_ops_runtime(ops);
    ts->max_n = max_n;
    ts->max_k = max_k;
    ts->local_size = (size_t)gc_ops_get_profile(ops)->topk_local;
    ts->items_per_group = gc_ops_get_profile(ops)->topk_items;
    ts->max_groups = topk_groups_for(max_n, ts->items_per_group, TOPK_MAX_GROUPS);
    gc_status st = gc_buffer_alloc(ts->rt, 3 * sizeof(cl_ulong), "top-k state", &ts->state, err);
    if (st == GC_OK)
        st = gc_buffer_alloc(ts->rt, (size_t)ts->max_groups * TOPK_BINS * sizeof(cl_uint), "top-k histograms",
                             &ts->hist, err);
    if (st == GC_OK)
        st = gc_buffer_alloc(ts->rt, (size_t)ts->max_groups * sizeof(cl_uint), "top-k group counts", &ts->counts,
                             err);
    if (st != GC_OK) {
        gc_topk_scratch_free(ts);
        return st;
    }
    *out = ts;
    return GC_OK;
}

void gc_topk_scratch_free(gc_topk_scratch *scratch) {
    if (!scratch)
        return;
    gc_buffer_free(scratch->rt, &scratch->state);
    gc_buffer_free(scratch->rt, &scratch->hist);
    gc_buffer_free(scratch->rt, &scratch->counts);
    free(scratch);
}

/* One top-k call's geometry and arguments, shared by its launches. */
typedef struct topk_plan {
    gc_ops *ops;
    gc_topk_scratch *ts;
    const gc_buffer *x;
    cl_ulong x_off;
    cl_uint n, chunk, n_groups;
} topk_plan;

/* The top-k kernel `entry` and the local size to launch it with. */
static gc_status topk_get(const topk_plan *p, const char *entry, cl_kernel *kr, size_t *local, gc_error *err) {
    gc_status st = select_kernel(p->ops, p->ts->local_size, entry, kr, err);
    if (st == GC_OK)
        *local = kernel_local(p->ops, *kr, p->ts->local_size);
    return st;
}

/* Sets the arguments 0-4 (x, x_off, n, chunk, state) that the per-group top-k kernels share. */
static cl_int topk_set_common(const topk_plan *p, cl_kernel kr) {
    cl_int rc = set_arg(CL_SUCCESS, kr, 0, sizeof(cl_mem), &p->x->mem);
    rc = set_arg(rc, kr, 1, sizeof p->x_off, &p->x_off);
    rc = set_arg(rc, kr, 2, sizeof p->n, &p->n);
    rc = set_arg(rc, kr, 3, sizeof p->chunk, &p->chunk);
    return set_arg(rc, kr, 4, sizeof(cl_mem), &p->ts->state.mem);
}

static gc_status topk_launch(const topk_plan *p, cl_kernel kr, cl_int rc, size_t groups, size_t local,
                             const char *entry, gc_error *err) {
    if (rc != CL_SUCCESS)
        return gc_cl_fail(err, rc, "%s arguments", entry);
    return gc_ops_launch_1d(p->ops, kr, groups * local, local, entry, err);
}

static gc_status topk_init(const topk_plan *p, cl_uint k, gc_error *err) {
    cl_kernel kr;
    size_t local;
    gc_status st = topk_get(p, "topk_init_u64", &kr, &local, err);
    if (st != GC_OK)
        return st;
    cl_int rc = set_arg(CL_SUCCESS, kr, 0, sizeof(cl_mem), &p->ts->state.mem);
    rc = set_arg(rc, kr, 1, sizeof k, &k);
    return topk_launch(p, kr, rc, 1, 1, "topk_init_u64", err);
}

/* One radix pass: per-group histograms of key bits [shift, shift + 8), then the bucket choice. */
static gc_status topk_radix_pass(const topk_plan *p, cl_uint shift, gc_error *err) {
    cl_kernel kr;
    size_t local;
    gc_status st = topk_get(p, "topk_histogram_f32_u32", &kr, &local, err);
    if (st != GC_OK)
        return st;
    cl_int rc = topk_set_common(p, kr);
    rc = set_arg(rc, kr, 5, sizeof shift, &shift);
    rc = set_arg(rc, kr, 6, sizeof(cl_mem), &p->ts->hist.mem);
    st = topk_launch(p, kr, rc, p->n_groups, local, "topk_histogram_f32_u32", err);
    if (st == GC_OK)
        st = topk_get(p, "topk_select_u32_u64", &kr, &local, err);
    if (st != GC_OK)
        return st;
    rc = set_arg(CL_SUCCESS, kr, 0, sizeof(cl_mem), &p->ts->hist.mem);
    rc = set_arg(rc, kr, 1, sizeof p->n_groups, &p->n_groups);
    rc = set_arg(rc, kr, 2, sizeof(cl_mem), &p->ts->state.mem);
    rc = set_arg(rc, kr, 3, sizeof shift, &shift);
    return topk_launch(p, kr, rc, 1, local, "topk_select_u32_u64", err);
}

/* Per-group counts of the keys >= threshold, then their order-preserving compaction into idx. */
static gc_status topk_compact(const topk_plan *p, gc_buffer *idx, cl_ulong idx_off, gc_error *err) {
    cl_kernel kr;
    size_t local;
    gc_status st = topk_get(p, "topk_count_f32_u32", &kr, &local, err);
    if (st != GC_OK)
        return st;
    cl_int rc = topk_set_common(p, kr);
    rc = set_arg(rc, kr, 5, sizeof(cl_mem), &p->ts->counts.mem);
    st = topk_launch(p, kr, rc, p->n_groups, local, "topk_count_f32_u32", err);
    if (st == GC_OK)
        st = topk_get(p, "topk_compact_f32_i32", &kr, &local, err);
    if (st != GC_OK)
        return st;
    rc = topk_set_common(p, kr);
    rc = set_arg(rc, kr, 5, sizeof(cl_mem), &p->ts->counts.mem);
    rc = set_arg(rc, kr, 6, sizeof(cl_mem), &idx->mem);
    rc = set_arg(rc, kr, 7, sizeof idx_off, &idx_off);
    return topk_launch(p, kr, rc, p->n_groups, local, "topk_compact_f32_i32", err);
}

gc_status gc_op_topk_indices(gc_ops *ops, gc_topk_scratch *scratch, const gc_buffer *x, size_t x_off, gc_buffer *idx,
                             size_t idx_off, int n, int k, gc_error *err) {
    if (!scratch || n < 0 || k < 0 || n > scratch->max_n || k > scratch->max_k)
        return gc_fail(err, GC_ERR_INVALID_ARG, "top-k: n=%d k=%d outside the scratch's max_n=%d max_k=%d", n, k,
                       scratch ? scratch->max_n : 0, scratch ? scratch->max_k : 0);
    int k_eff = k < n ? k : n;
    if (check_span(x, x_off, (size_t)n, 4, "top-k values", err) ||
        check_span(idx, idx_off, (size_t)k_eff, 4, "top-k indices", err))
        return err ? err->status : GC_ERR_INVALID_ARG;
    if (k_eff == 0)
        return GC_OK;
    topk_plan p = {.ops = ops, .ts = scratch, .x = x, .x_off = x_off, .n = (cl_uint)n};
    p.n_groups = (cl_uint)topk_groups_for(n, scratch->items_per_group, scratch->max_groups);
    p.chunk = (p.n + p.n_groups - 1) / p.n_groups;
    gc_status st = topk_init(&p, (cl_uint)k_eff, err);
    for (int pass = 0; pass < TOPK_PASSES && st == GC_OK; pass++)
        st = topk_radix_pass(&p, (cl_uint)(56 - 8 * pass), err);
    if (st == GC_OK)
        st = topk_compact(&p, idx, idx_off, err);
    return st;
}
