/* test_select.c - GemFilter's selection ops (score, avg-5 pool, top-k indices) against plain C references
 * written from docs/METHODS.md, plus the properties the engine relies on: sorted unique indices, the tie
 * rule, any local size, and device memory returning to where it started. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/select.h"

typedef struct fixture {
    gc_runtime *rt;
    gc_ops *ops;
    gc_error err;
} fixture;

static fixture fixture_make(void) {
    fixture f = {.rt = test_runtime()};
    ck_assert_int_eq(gc_ops_create(f.rt, &f.ops, &f.err), GC_OK);
    return f;
}

static void fixture_free(fixture *f) {
    ck_assert_uint_eq(f->rt->bytes_current, 0);
    gc_ops_free(f->ops);
    gc_runtime_free(f->rt);
}

/* A device copy of x (count floats). */
static gc_buffer upload(fixture *f, const float *x, size_t count) {
    gc_buffer b;
    ck_assert_int_eq(gc_buffer_alloc(f->rt, count * sizeof(float), "test input", &b, &f->err), GC_OK);
    ck_assert_int_eq(gc_buffer_write(f->rt, &b, 0, x, count * sizeof(float), &f->err), GC_OK);
    return b;
}

static gc_buffer device_alloc(fixture *f, size_t bytes) {
    gc_buffer b;
    ck_assert_int_eq(gc_buffer_alloc(f->rt, bytes, "test output", &b, &f->err), GC_OK);
    return b;
}

/* ---- references (docs/METHODS.md, gemfilter steps 3-6) ---- */

/* s[j] = sum over heads h of q[h] . k[j][h / (H/G)], straight from the definition, in double. */
static void ref_score(const float *q, const float *k, float *s, int n, int H, int G, int d) {
    for (int j = 0; j < n; j++) {
        double acc = 0;
        for (int h = 0; h < H; h++) {
            const float *kj = k + ((size_t)j * G + h / (H / G)) * d;
            for (int c = 0; c < d; c++)
                acc += (double)q[h * d + c] * kj[c];
        }
        s[j] = (float)acc;
    }
}

static void ref_pool(const float *s, float *p, int n) {
    for (int j = 0; j < n; j++) {
        float sum = 0.0f;
        for (int t = -2; t <= 2; t++)
            if (j + t >= 0 && j + t < n)
                sum += s[j + t];
        p[j] = sum / 5.0f;
    }
}

typedef struct ranked {
    float v;
    int i;
} ranked;

/* Value descending (NaN last), then index ascending. */
static int rank_cmp(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    int na = isnan(a->v), nb = isnan(b->v);
    if (na != nb)
        return na ? 1 : -1;
    if (!na && a->v != b->v)
        return a->v > b->v ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

static int int_cmp(const void *pa, const void *pb) {
    int a = *(const int *)pa, b = *(const int *)pb;
    return (a > b) - (a < b);
}

/* The min(k, n) indices ranked first, ascending. Returns their count. */
static int ref_topk(const float *x, int n, int k, int *out) {
    ranked *r = malloc((size_t)n * sizeof *r);
    for (int i = 0; i < n; i++)
        r[i] = (ranked){x[i], i};
    qsort(r, (size_t)n, sizeof *r, rank_cmp);
    int m = k < n ? k : n;
    for (int i = 0; i < m; i++)
        out[i] = r[i].i;
    qsort(out, (size_t)m, sizeof *out, int_cmp);
    free(r);
    return m;
}

/* ---- score and pool ---- */

/* One score case with non-zero offsets and a key buffer longer than n rows. */
static void check_score(fixture *f, int n, int H, int G, int d) {
    const size_t q_off = 5, k_off = 3, s_off = 2, k_rows = (size_t)n + 2;
    float *q = malloc((q_off + (size_t)H * d) * sizeof *q);
    float *k = malloc((k_off + k_rows * G * d) * sizeof *k);
    float *want = malloc((size_t)n * sizeof *want), *got = malloc((size_t)n * sizeof *got);
    test_fill_random(q, q_off + (size_t)H * d, (unsigned)(H * 131 + d));
    test_fill_random(k, k_off + k_rows * G * d, (unsigned)(n * 7 + G));
    ref_score(q + q_off, k + k_off, want, n, H, G, d);
    gc_buffer dq = upload(f, q, q_off + (size_t)H * d), dk = upload(f, k, k_off + k_rows * G * d);
    gc_buffer ds = device_alloc(f, (s_off + n) * sizeof(float));
    ck_assert_msg(gc_op_gemfilter_score(f->ops, &dq, q_off, &dk, k_off, &ds, s_off, n, H, G, d, &f->err) == GC_OK, "%s",
                  f->err.msg);
    ck_assert_int_eq(gc_buffer_read(f->rt, &ds, s_off * sizeof(float), got, n * sizeof(float), &f->err), GC_OK);
    double e = test_nmse(got, want, (size_t)n);
    ck_assert_msg(e <= 1e-6, "score n=%d H=%d G=%d d=%d nmse=%g", n, H, G, d, e);
    gc_buffer_free(f->rt, &dq), gc_buffer_free(f->rt, &dk), gc_buffer_free(f->rt, &ds);
    free(q), free(k), free(want), free(got);
}

START_TEST(score_matches_definition_for_gqa_shapes) {
    fixture f = fixture_make();
    const int ratios[] = {1, 2, 4, 8}, dims[] = {8, 64, 128}, lens[] = {1, 7, 1000};
    int variant = 0;
    for (int r = 0; r < 4; r++)
        for (int di = 0; di < 3; di++)
            for (int li = 0; li < 3; li++) {
                int G = 1 + variant++ % 3; /* 1, 2 or 3 KV heads */
                check_score(&f, lens[li], ratios[r] * G, G, dims[di]);
            }
    fixture_free(&f);
}
END_TEST

START_TEST(score_rejects_heads_not_divisible_by_kv_heads) {
    fixture f = fixture_make();
    gc_buffer b = device_alloc(&f, 4096);
    ck_assert_int_eq(gc_op_gemfilter_score(f.ops, &b, 0, &b, 0, &b, 0, 4, 6, 4, 8, &f.err), GC_ERR_INVALID_ARG);
    /* k too short for n rows */
    ck_assert_int_eq(gc_op_gemfilter_score(f.ops, &b, 0, &b, 0, &b, 0, 200, 4, 2, 8, &f.err), GC_ERR_INVALID_ARG);
    gc_buffer_free(f.rt, &b);
    fixture_free(&f);
}
END_TEST

START_TEST(pool_is_zero_padded_mean_of_five_including_edges) {
    fixture f = fixture_make();
    const int lens[] = {1, 2, 3, 4, 5, 6, 1000};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        int n = lens[li];
        float *s = malloc((size_t)n * sizeof *s), *want = malloc((size_t)n * sizeof *want);
        float *got = malloc((size_t)n * sizeof *got);
        test_fill_random(s, (size_t)n, (unsigned)n);
        ref_pool(s, want, n);
        gc_buffer ds = upload(&f, s, (size_t)n), dp = device_alloc(&f, (size_t)(n + 1) * sizeof(float));
        ck_assert_int_eq(gc_op_pool_avg5(f.ops, &ds, 0, &dp, 1, n, &f.err), GC_OK);
        ck_assert_int_eq(gc_buffer_read(f.rt, &dp, sizeof(float), got, (size_t)n * sizeof(float), &f.err), GC_OK);
        double e = test_nmse(got, want, (size_t)n);
        ck_assert_msg(e <= 1e-7, "pool n=%d nmse=%g", n, e);
        /* the edges divide by 5, not by the number of terms present */
        float edge = s[0];
        for (int j = 1; j <= 2 && j < n; j++)
            edge += s[j];
        ck_assert_float_eq_tol(got[0], edge / 5.0f, 1e-6f);
        gc_buffer_free(f.rt, &ds), gc_buffer_free(f.rt, &dp);
        free(s), free(want), free(got);
    }
    fixture_free(&f);
}
END_TEST

/* ---- top-k ---- */

typedef enum value_kind { UNIFORM, QUANTISED, ALL_EQUAL, NEGATIVE, N_KINDS } value_kind;

static void fill_values(float *x, int n, value_kind kind, unsigned seed) {
    test_fill_random(x, (size_t)n, seed);
    for (int i = 0; i < n; i++) {
        if (kind == QUANTISED) /* five levels, with -0.0 and +0.0 both present: many ties */
            x[i] = x[i] < -0.6f ? -1.0f : x[i] < -0.2f ? -0.0f : x[i] < 0.2f ? 0.0f : x[i] < 0.6f ? 0.5f : 2.0f;
        else if (kind == ALL_EQUAL)
            x[i] = 0.25f;
        else if (kind == NEGATIVE)
            x[i] = x[i] - 2.0f;
    }
}

/* Runs the device top-k of x (n values) and checks it against ref_topk index by index. */
static void check_topk(fixture *f, gc_topk_scratch *ts, const float *x, int n, int k, const char *label) {
    int *want = malloc((size_t)(k < n ? k : n) * sizeof *want), *got = malloc((size_t)(k < n ? k : n) * sizeof *got);
    int m = ref_topk(x, n, k, want);
    gc_buffer dx = upload(f, x, (size_t)n), di = device_alloc(f, (size_t)(m + 3) * sizeof(int));
    ck_assert_msg(gc_op_topk_indices(f->ops, ts, &dx, 0, &di, 3, n, k, &f->err) == GC_OK, "%s", f->err.msg);
    ck_assert_int_eq(gc_buffer_read(f->rt, &di, 3 * sizeof(int), got, (size_t)m * sizeof(int), &f->err), GC_OK);
    for (int i = 0; i < m; i++)
        ck_assert_msg(got[i] == want[i], "%s n=%d k=%d: position %d is %d, want %d (local %zu, ipg %d)", label, n, k,
                      i, got[i], want[i], ts->local_size, ts->items_per_group);
    gc_buffer_free(f->rt, &dx), gc_buffer_free(f->rt, &di);
    free(want), free(got);
}

START_TEST(topk_matches_reference_with_and_without_ties) {
    fixture f = fixture_make();
    const int lens[] = {1, 5, 1023, 1024, 1025, 65537, 262144}, ks[] = {1, 7, 1024, 8192};
    const char *names[N_KINDS] = {"uniform", "quantised", "all-equal", "negative"};
    gc_topk_scratch *ts;
    ck_assert_int_eq(gc_topk_scratch_create(f.ops, 262144, 8192, &ts, &f.err), GC_OK);
    float *x = malloc(262144 * sizeof *x);
    for (int li = 0; li < 7; li++)
        for (int kind = 0; kind < N_KINDS; kind++) {
            fill_values(x, lens[li], (value_kind)kind, (unsigned)(li * 10 + kind));
            for (int ki = 0; ki < 4; ki++)
                check_topk(&f, ts, x, lens[li], ks[ki], names[kind]);
        }
    free(x);
    gc_topk_scratch_free(ts);
    fixture_free(&f);
}
END_TEST

START_TEST(topk_is_correct_for_any_local_size_and_group_count) {
    fixture f = fixture_make();
    gc_topk_scratch *ts;
    /* a large max_n so that small items_per_group values really spread the work over many groups */
    ck_assert_int_eq(gc_topk_scratch_create(f.ops, 1 << 23, 4096, &ts, &f.err), GC_OK);
    const size_t locals[] = {1, 3, 64, 100, 1000, 4096};
    const int per_group[] = {1, 37, 1000, 1 << 20};
    const int n = 5003;
    float *x = malloc(n * sizeof *x);
    for (int kind = 0; kind < 2; kind++) {
        fill_values(x, n, kind ? QUANTISED : UNIFORM, 99u + (unsigned)kind);
        for (size_t l = 0; l < sizeof locals / sizeof locals[0]; l++)
            for (size_t g = 0; g < sizeof per_group / sizeof per_group[0]; g++) {
                ts->local_size = locals[l];
                ts->items_per_group = per_group[g];
                check_topk(&f, ts, x, n, 700, kind ? "quantised" : "uniform");
            }
    }
    free(x);
    gc_topk_scratch_free(ts);
    fixture_free(&f);
}
END_TEST

START_TEST(topk_ranks_nan_last_and_signed_zeros_equal) {
    fixture f = fixture_make();
    gc_topk_scratch *ts;
    ck_assert_int_eq(gc_topk_scratch_create(f.ops, 64, 64, &ts, &f.err), GC_OK);
    float x[12] = {NAN, -INFINITY, -0.0f, 0.0f, -NAN, 1.0f, -0.0f, INFINITY, 0.0f, NAN, -5.0f, -INFINITY};
    for (int k = 1; k <= 12; k++)
        check_topk(&f, ts, x, 12, k, "nan/zeros");
    /* spelled out: inf, 1, then the four zeros by index (2 and 3 before 6 and 8) */
    int got[4];
    gc_buffer dx = upload(&f, x, 12), di = device_alloc(&f, sizeof got);
    ck_assert_int_eq(gc_op_topk_indices(f.ops, ts, &dx, 0, &di, 0, 12, 4, &f.err), GC_OK);
    ck_assert_int_eq(gc_buffer_read(f.rt, &di, 0, got, sizeof got, &f.err), GC_OK);
    const int expect[4] = {2, 3, 5, 7};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(got[i], expect[i]);
    gc_buffer_free(f.rt, &dx), gc_buffer_free(f.rt, &di);
    gc_topk_scratch_free(ts);
    fixture_free(&f);
}
END_TEST

START_TEST(topk_selects_sorted_unique_indices_and_returns_memory) {
    gc_runtime *rt = test_runtime();
    size_t before = rt->bytes_current;
    fixture f = {.rt = rt};
    ck_assert_int_eq(gc_ops_create(rt, &f.ops, &f.err), GC_OK);
    const int n = 100000, k = 1024;
    float *x = malloc(n * sizeof *x);
    int *idx = malloc(k * sizeof *idx);
    char *chosen = calloc(n, 1);
    fill_values(x, n, QUANTISED, 7);
    gc_topk_scratch *ts;
    ck_assert_int_eq(gc_topk_scratch_create(f.ops, n, k, &ts, &f.err), GC_OK);
    gc_buffer dx = upload(&f, x, n), di = device_alloc(&f, k * sizeof(int));
    for (int rep = 0; rep < 2; rep++) { /* the scratch is reusable */
        ck_assert_int_eq(gc_op_topk_indices(f.ops, ts, &dx, 0, &di, 0, n, k, &f.err), GC_OK);
        ck_assert_int_eq(gc_buffer_read(rt, &di, 0, idx, k * sizeof(int), &f.err), GC_OK);
        for (int i = 0; i < k; i++) {
            ck_assert_int_ge(idx[i], 0);
            ck_assert_int_lt(idx[i], n);
            if (i > 0)
                ck_assert_int_gt(idx[i], idx[i - 1]); /* strictly ascending, hence unique */
        }
    }
    /* every kept value is >= every dropped one, and an equal dropped value has a higher index */
    float kept_min = INFINITY;
    int last_min_index = -1;
    for (int i = 0; i < k; i++) {
        chosen[idx[i]] = 1;
        if (x[idx[i]] <= kept_min)
            kept_min = x[idx[i]], last_min_index = idx[i];
    }
    for (int i = 0; i < n; i++)
        if (!chosen[i])
            ck_assert(x[i] < kept_min || (x[i] == kept_min && i > last_min_index));
    gc_buffer_free(rt, &dx), gc_buffer_free(rt, &di);
    gc_topk_scratch_free(ts);
    ck_assert_uint_eq(rt->bytes_current, before);
    free(x), free(idx), free(chosen);
    gc_ops_free(f.ops);
    gc_runtime_free(rt);
}
END_TEST

START_TEST(topk_refuses_requests_beyond_its_scratch_or_buffers) {
    fixture f = fixture_make();
    gc_topk_scratch *ts;
    ck_assert_int_eq(gc_topk_scratch_create(f.ops, 100, 10, &ts, &f.err), GC_OK);
    gc_buffer dx = device_alloc(&f, 200 * sizeof(float)), di = device_alloc(&f, 10 * sizeof(int));
    ck_assert_int_eq(gc_op_topk_indices(f.ops, ts, &dx, 0, &di, 0, 101, 5, &f.err), GC_ERR_INVALID_ARG);
    ck_assert_int_eq(gc_op_topk_indices(f.ops, ts, &dx, 0, &di, 0, 100, 11, &f.err), GC_ERR_INVALID_ARG);
    ck_assert_int_eq(gc_op_topk_indices(f.ops, ts, &dx, 0, &di, 1, 100, 10, &f.err), GC_ERR_INVALID_ARG);
    ck_assert_int_eq(gc_op_topk_indices(f.ops, ts, &dx, 150, &di, 0, 100, 10, &f.err), GC_ERR_INVALID_ARG);
    ck_assert_int_eq(gc_op_topk_indices(f.ops, ts, &dx, 0, &di, 0, 0, 10, &f.err), GC_OK); /* nothing to do */
    ck_assert_int_eq(gc_topk_scratch_create(f.ops, 0, 10, &(gc_topk_scratch *){NULL}, &f.err), GC_ERR_INVALID_ARG);
    gc_buffer_free(f.rt, &dx), gc_buffer_free(f.rt, &di);
    gc_topk_scratch_free(ts);
    fixture_free(&f);
}
END_TEST

/* score -> pool -> top-k on the device, only the indices read back, against the same chain in plain C. */
START_TEST(gemfilter_selection_matches_plain_c_chain) {
    fixture f = fixture_make();
    const int n = 3000, H = 8, G = 2, d = 64, k = 256;
    float *q = malloc(H * d * sizeof *q), *kk = malloc((size_t)n * G * d * sizeof *kk);
    float *s = malloc(n * sizeof *s), *p = malloc(n * sizeof *p);
    int *want = malloc(k * sizeof *want), *got = malloc(k * sizeof *got);
    test_fill_random(q, H * d, 11);
    test_fill_random(kk, (size_t)n * G * d, 12);
    ref_score(q, kk, s, n, H, G, d);
    ref_pool(s, p, n);
    ref_topk(p, n, k, want);
    gc_buffer dq = upload(&f, q, H * d), dk = upload(&f, kk, (size_t)n * G * d);
    gc_buffer ds = device_alloc(&f, n * sizeof(float)), dp = device_alloc(&f, n * sizeof(float));
    gc_buffer di = device_alloc(&f, k * sizeof(int));
    gc_topk_scratch *ts;
    ck_assert_int_eq(gc_topk_scratch_create(f.ops, n, k, &ts, &f.err), GC_OK);
    ck_assert_int_eq(gc_op_gemfilter_score(f.ops, &dq, 0, &dk, 0, &ds, 0, n, H, G, d, &f.err), GC_OK);
    ck_assert_int_eq(gc_op_pool_avg5(f.ops, &ds, 0, &dp, 0, n, &f.err), GC_OK);
    ck_assert_int_eq(gc_op_topk_indices(f.ops, ts, &dp, 0, &di, 0, n, k, &f.err), GC_OK);
    ck_assert_int_eq(gc_buffer_read(f.rt, &di, 0, got, k * sizeof(int), &f.err), GC_OK);
    /* fp32 and double scores may only disagree on near-ties at the boundary (the k-th pooled value) */
    float kth = INFINITY, scale = 0.0f;
    for (int i = 0; i < k; i++)
        kth = fminf(kth, p[want[i]]);
    for (int i = 0; i < n; i++)
        scale = fmaxf(scale, fabsf(p[i]));
    for (int i = 0; i < k; i++) {
        int in_want = bsearch(&got[i], want, k, sizeof *want, int_cmp) != NULL;
        int in_got = bsearch(&want[i], got, k, sizeof *got, int_cmp) != NULL;
        ck_assert_msg(in_want || fabsf(p[got[i]] - kth) <= 1e-5f * scale, "index %d kept wrongly", got[i]);
        ck_assert_msg(in_got || fabsf(p[want[i]] - kth) <= 1e-5f * scale, "index %d dropped", want[i]);
    }
    gc_topk_scratch_free(ts);
    gc_buffer_free(f.rt, &dq), gc_buffer_free(f.rt, &dk), gc_buffer_free(f.rt, &ds);
    gc_buffer_free(f.rt, &dp), gc_buffer_free(f.rt, &di);
    free(q), free(kk), free(s), free(p), free(want), free(got);
    fixture_free(&f);
}
END_TEST

/* ---- fast path vs portable twin ---- */

/* fixture_make on the runtime that leaves out the fast paths `portable` names. */
static fixture fixture_make_portable(const char *portable) {
    fixture f = {.rt = test_runtime_portable(portable)};
    ck_assert_int_eq(gc_ops_create(f.rt, &f.ops, &f.err), GC_OK);
    return f;
}

/* The indices GemFilter selects on f: score (q, kk) -> pool -> top-k k of n, with the top-k groups of `local`
 * work-items owning items_per_group elements each. The caller frees the result (min(k, n) ints). */
static int *device_selection(fixture *f, const float *q, const float *kk, int n, int H, int G, int d, int k,
                             size_t local, int items_per_group) {
    int m = k < n ? k : n, *got = malloc((size_t)m * sizeof *got);
    gc_buffer dq = upload(f, q, (size_t)H * d), dk = upload(f, kk, (size_t)n * G * d);
    gc_buffer ds = device_alloc(f, (size_t)n * sizeof(float)), dp = device_alloc(f, (size_t)n * sizeof(float));
    gc_buffer di = device_alloc(f, (size_t)m * sizeof(int));
    gc_topk_scratch *ts;
    ck_assert_int_eq(gc_topk_scratch_create(f->ops, n, k, &ts, &f->err), GC_OK);
    ts->local_size = local;
    ts->items_per_group = items_per_group;
    ck_assert_int_eq(gc_op_gemfilter_score(f->ops, &dq, 0, &dk, 0, &ds, 0, n, H, G, d, &f->err), GC_OK);
    ck_assert_int_eq(gc_op_pool_avg5(f->ops, &ds, 0, &dp, 0, n, &f->err), GC_OK);
    ck_assert_int_eq(gc_op_topk_indices(f->ops, ts, &dp, 0, &di, 0, n, k, &f->err), GC_OK);
    ck_assert_int_eq(gc_buffer_read(f->rt, &di, 0, got, (size_t)m * sizeof(int), &f->err), GC_OK);
    gc_topk_scratch_free(ts);
    gc_buffer_free(f->rt, &dq), gc_buffer_free(f->rt, &dk), gc_buffer_free(f->rt, &ds);
    gc_buffer_free(f->rt, &dp), gc_buffer_free(f->rt, &di);
    return got;
}

/* Subgroup reductions and scans change how the top-k kernels add up integer counts, never what they add:
 * the selection is the portable kernels' index for index, for odd lengths, many ties (keys quantised to a
 * few levels), and local sizes that leave a partial subgroup or make many subgroups per group. */
START_TEST(gemfilter_selection_is_identical_with_and_without_subgroups) {
    fixture fast = fixture_make();
    if (test_skip_without_fast_path(fast.rt, GC_FAST_SUBGROUPS, "select subgroups vs portable")) {
        fixture_free(&fast);
        return;
    }
    fixture twin = fixture_make_portable("subgroups");
    const int lens[] = {5, 1023, 3001, 20011}, H = 6, G = 2, d = 24;
    const size_t locals[] = {1, 3, 64, 100, 1000};
    const int per_group[] = {37, 8192};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
        for (int quantised = 0; quantised < 2; quantised++) {
            int n = lens[li], k = n / 3 + 1;
            float *q = malloc((size_t)H * d * sizeof *q), *kk = malloc((size_t)n * G * d * sizeof *kk);
            test_fill_random(q, (size_t)H * d, (unsigned)(li + 1));
            test_fill_random(kk, (size_t)n * G * d, (unsigned)(li + 50));
            if (quantised) /* coarse keys: many equal scores, so the tie rule decides much of the selection */
                for (size_t i = 0; i < (size_t)n * G * d; i++)
                    kk[i] = kk[i] < 0.0f ? -0.5f : 0.5f;
            for (size_t l = 0; l < sizeof locals / sizeof locals[0]; l++)
                for (size_t g = 0; g < sizeof per_group / sizeof per_group[0]; g++) {
                    int *a = device_selection(&fast, q, kk, n, H, G, d, k, locals[l], per_group[g]);
                    int *b = device_selection(&twin, q, kk, n, H, G, d, k, locals[l], per_group[g]);
                    for (int i = 0; i < k; i++)
                        ck_assert_msg(a[i] == b[i], "n=%d k=%d local %zu ipg %d%s: position %d is %d with subgroups, "
                                      "%d without", n, k, locals[l], per_group[g], quantised ? " (ties)" : "", i,
                                      a[i], b[i]);
                    free(a), free(b);
                }
            free(q), free(kk);
        }
    fixture_free(&twin);
    fixture_free(&fast);
}
END_TEST

Suite *suite_select(void) {
    Suite *s = suite_create("select");
    TCase *tc = tcase_create("select");
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, score_matches_definition_for_gqa_shapes);
    tcase_add_test(tc, score_rejects_heads_not_divisible_by_kv_heads);
    tcase_add_test(tc, pool_is_zero_padded_mean_of_five_including_edges);
    tcase_add_test(tc, topk_matches_reference_with_and_without_ties);
    tcase_add_test(tc, topk_is_correct_for_any_local_size_and_group_count);
    tcase_add_test(tc, topk_ranks_nan_last_and_signed_zeros_equal);
    tcase_add_test(tc, topk_selects_sorted_unique_indices_and_returns_memory);
    tcase_add_test(tc, topk_refuses_requests_beyond_its_scratch_or_buffers);
    tcase_add_test(tc, gemfilter_selection_matches_plain_c_chain);
    tcase_add_test(tc, gemfilter_selection_is_identical_with_and_without_subgroups);
    suite_add_tcase(s, tc);
    return s;
}
