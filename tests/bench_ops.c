/* bench_ops.c - speed of the matmul and attention paths (built with the tests, never run by them; tests never
 * assert on time). Prints GFLOP/s of our GEMM, CLBlast SGEMM and OpenBLAS cblas_sgemm (when built with it) at
 * TinyLlama prefill shapes, and GB/s of the GEMV kernels at decode shapes. Medians of TRIALS runs.
 * BENCH_ONLY=reduce times the work-group reductions: sampling, rmsnorm and GemFilter's top-k.
 * BENCH_ONLY=attn instead prints causal prefill attention GFLOP/s (4 * n * n / 2 * heads * head_dim flops)
 * of the block-of-rows kernel and of the one-row-per-work-item kernel (profile attn_rows = 0) next to our
 * f32 GEMM at the TinyLlama shape n x 2048 x 2048.
 *
 * usage: bench_ops [n] [trials]          (n = prompt rows, default 512; trials default 5)
 * environment: GEMCL_DEVICE picks the device; GEMM_TM/WN/WM/KB and GEMV_LS/RPG/NB override the profile's
 * tunables; BENCH_ONLY=gemm|gemv|other|reduce|attn runs one part; GEMV_SHAPES=RxC,... and GEMV_DTYPE=f16,q4_k,...
 * pick the GEMV shapes and dtypes (default every dtype, trials alternating between them, next to the host's
 * DRAM read bandwidth; GEMV_HOT=1 runs every launch on one copy of the weight, which then stays in cache, to
 * time the kernel's arithmetic apart from DRAM); GEMM_DTYPES=f16,q4_k,... the GEMM dtypes; BENCH_SHAPES=k keeps the first k GEMM shapes;
 * BENCH_QUICK=1 times only our f32 GEMM (for tuning sweeps). For BENCH_ONLY=attn: ATT_NS = attention lengths
 * (default "1024,4096,8192"), ATT_OLD_MAX_N = longest n timed with the one-row kernel (default 1024; it is
 * ~100x slower); ATT_HD = only that head size; ATT_BR/ATT_BC/ATT_LWG override the attention tunables. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/ops_internal.h"
#include "ops/select.h"
#ifdef GEMCL_HAVE_OPENBLAS
#include <cblas.h>
#endif

static int trials = 5;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static _Noreturn void die(const gc_error *err) {
    fprintf(stderr, "bench_ops: %s\n", err->msg);
    exit(1);
}

/* True when list (a comma list of names; NULL = everything) names name. */
static bool in_list(const char *list, const char *name) {
    size_t len = strlen(name);
    for (const char *c = list; c; c = strchr(c, ','), c = c ? c + 1 : NULL)
        if (strncmp(c, name, len) == 0 && (c[len] == ',' || c[len] == '\0'))
            return true;
    return !list;
}

/* What one timed run does: fn(ctx) returns GC_OK or fails the bench (err set). */
typedef gc_status (*bench_fn)(void *ctx, gc_error *err);

/* Median seconds of trials runs of fn after one warm-up run; a device run ends with clFinish on queue (NULL
 * for host-only work). */
static double median_seconds(bench_fn fn, void *ctx, cl_command_queue queue) {
    double t[16] = {0};
    gc_error err;
    for (int r = -1; r < trials; r++) {
        double t0 = now_s();
        if (fn(ctx, &err) != GC_OK)
            die(&err);
        if (queue)
            clFinish(queue);
        if (r >= 0)
            t[r] = now_s() - t0;
    }
    qsort(t, (size_t)trials, sizeof t[0], cmp_double);
    return t[trials / 2];
}

static gc_buffer device_buffer(gc_runtime *rt, size_t bytes, unsigned seed) {
    gc_buffer b;
    gc_error err;
    unsigned char *host = malloc(bytes);
    for (size_t i = 0; i < bytes; i++) /* small finite values for every dtype: bytes of 0x00..0x3f */
        host[i] = (unsigned char)((seed = seed * 1103515245u + 12345u) >> 26);
    if (gc_buffer_alloc(rt, bytes, "bench", &b, &err) != GC_OK || gc_buffer_write(rt, &b, 0, host, bytes, &err))
        die(&err);
    free(host);
    return b;
}

/* One timed run: a matmul of x (n rows) by each of w[0 .. copies-1], enqueued back to back. */
typedef struct matmul_run {
    gc_ops *ops;
    const gc_buffer *x;
    const gc_dweight *w;
    gc_buffer *y;
    int n, copies, distinct; /* launch c uses w[c % distinct] */
} matmul_run;

static gc_status run_matmul(void *ctx, gc_error *err) {
    matmul_run *m = ctx;
    for (int c = 0; c < m->copies; c++)
        if (gc_op_matmul(m->ops, m->x, 0, &m->w[c % m->distinct], NULL, m->y, 0, m->n, err) != GC_OK)
            return GC_ERR_DEVICE;
    return GC_OK;
}

/* Median seconds of one matmul on the device. */
static double time_matmul(gc_ops *ops, const gc_buffer *x, const gc_dweight *w, gc_buffer *y, int n) {
    matmul_run m = {ops, x, w, y, n, 1, 1};
    return median_seconds(run_matmul, &m, gc_ops_runtime(ops)->queue);
}

#ifdef GEMCL_HAVE_OPENBLAS
typedef struct blas_run {
    int n, rows, cols;
    float *x, *w, *y;
} blas_run;

static gc_status run_sgemm(void *ctx, gc_error *err) {
    blas_run *b = ctx;
    (void)err;
    if (b->n == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, b->rows, b->cols, 1.0f, b->w, b->cols, b->x, 1, 0.0f, b->y, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b->n, b->rows, b->cols, 1.0f, b->x, b->cols, b->w,
                    b->cols, 0.0f, b->y, b->rows);
    return GC_OK;
}

/* Median seconds of OpenBLAS on the same product (sgemv for n = 1). Inputs are written so that no page is
 * calloc's shared zero page (which would read from cache). */
static double time_openblas(int n, int rows, int cols) {
    blas_run b = {n, rows, cols, malloc((size_t)n * cols * 4), malloc((size_t)rows * cols * 4),
                  malloc((size_t)n * rows * 4)};
    for (size_t i = 0; i < (size_t)rows * cols; i++)
        b.w[i] = (float)(i % 7);
    for (size_t i = 0; i < (size_t)n * cols; i++)
        b.x[i] = (float)(i % 5);
    double t = median_seconds(run_sgemm, &b, NULL);
    free(b.x), free(b.w), free(b.y);
    return t;
}
#endif

static void bench_gemm(gc_ops *ops, int n, int rows, int cols) {
    gc_runtime *rt = gc_ops_runtime(ops);
    gc_buffer x = device_buffer(rt, (size_t)n * cols * 4, 1), y = device_buffer(rt, (size_t)n * rows * 4, 2);
    double flop = 2.0 * n * rows * cols, blas = 0.0;
#ifdef GEMCL_HAVE_OPENBLAS
    blas = flop / time_openblas(n, rows, cols) * 1e-9;
#endif
    printf("gemm n %4d rows %5d cols %5d | openblas %6.1f |", n, rows, cols, blas);
    gc_ops_profile saved = *gc_ops_get_profile(ops), p = saved;
    int quick = getenv("BENCH_QUICK") != NULL;
    const char *only_t = getenv("GEMM_DTYPES"); /* a comma list; default every dtype */
    for (int t = GC_DTYPE_F32; t <= (quick ? GC_DTYPE_F32 : GC_DTYPE_COUNT - 1); t++) {
        if (!in_list(only_t, gc_dtype_name((gc_dtype)t)) || cols % gc_dtype_block((gc_dtype)t) != 0)
            continue;
        gc_dweight w = {device_buffer(rt, gc_dtype_row_bytes((gc_dtype)t, cols) * rows, 3), (gc_dtype)t, rows, cols};
        int paths = t == GC_DTYPE_F32 && !quick ? 2 : 1; /* f32 also through CLBlast */
        for (int clblast = 0; clblast < paths; clblast++) {
            p.gemm_f32_clblast = clblast;
            gc_ops_set_profile(ops, &p);
            double gf = flop / time_matmul(ops, &x, &w, &y, n) * 1e-9;
            printf(" %s%s %6.1f (%.2fx) |", clblast ? "clblast " : "", gc_dtype_name((gc_dtype)t), gf,
                   blas > 0 ? gf / blas : 0.0);
            fflush(stdout);
        }
        gc_buffer_free(rt, &w.buf);
    }
    gc_ops_set_profile(ops, &saved);
    printf("\n");
    gc_buffer_free(rt, &x), gc_buffer_free(rt, &y);
}

/* Host DRAM read bandwidth, the yardstick of the GEMV rows: two threads each sum half of a 256 MiB buffer. */
#define DRAM_BYTES (256u << 20)

typedef struct dram_half {
    const double *p;
    size_t n;
    double sum;
} dram_half;

static void *dram_sum(void *arg) {
    dram_half *h = arg;
    double s[8] = {0}; /* independent chains, so the adds keep up with memory */
    for (size_t i = 0; i + 8 <= h->n; i += 8)
        for (int k = 0; k < 8; k++)
            s[k] += h->p[i + k];
    h->sum = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
    return NULL;
}

static gc_status run_dram(void *ctx, gc_error *err) {
    const double *buf = ctx;
    size_t n = DRAM_BYTES / sizeof(double) / 2;
    dram_half h[2] = {{buf, n, 0}, {buf + n, n, 0}};
    pthread_t t;
    (void)err;
    if (pthread_create(&t, NULL, dram_sum, &h[1]) != 0)
        dram_sum(&h[1]);
    else
        dram_sum(&h[0]), pthread_join(t, NULL);
    if (h[0].sum + h[1].sum == 1.0) /* keeps the sums live */
        printf(" ");
    return GC_OK;
}

/* One dtype's GEMV bench: distinct copies of the weight (together >= 128 MiB, so they stream from DRAM as a
 * model's layers do) run back to back with one clFinish. */
typedef struct gemv_case {
    gc_dtype dtype;
    gc_dweight *w;
    int copies, distinct; /* launches per trial; distinct weights among them (1 with GEMV_HOT: cache-resident) */
    size_t bytes; /* of one copy */
    double t[16]; /* seconds per trial */
} gemv_case;

/* GEMV as decode runs it, for every dtype in $GEMV_DTYPE (a comma list; default all) and the host's DRAM read:
 * the trials alternate between them (one round of every case, then the next), so a noisy host moves all of
 * them alike; medians of GB/s of weight bytes as stored (quantized blocks included) and us per launch. */
static void bench_gemv(gc_ops *ops, int rows, int cols) {
    gc_runtime *rt = gc_ops_runtime(ops);
    gc_buffer x = device_buffer(rt, (size_t)cols * 4, 1), y = device_buffer(rt, (size_t)rows * 4, 2);
    const char *only_t = getenv("GEMV_DTYPE");
    gemv_case cases[GC_DTYPE_COUNT];
    int n_cases = 0;
    for (int t = 0; t < GC_DTYPE_COUNT; t++) {
        if (!in_list(only_t, gc_dtype_name((gc_dtype)t)) || cols % gc_dtype_block((gc_dtype)t) != 0)
            continue;
        gemv_case *c = &cases[n_cases++];
        c->dtype = (gc_dtype)t;
        c->bytes = gc_dtype_row_bytes((gc_dtype)t, cols) * rows;
        c->copies = (int)((128u << 20) / c->bytes) + 1;
        c->copies = c->copies > 512 ? 512 : c->copies;
        c->distinct = getenv("GEMV_HOT") ? 1 : c->copies;
        c->w = calloc((size_t)c->distinct, sizeof *c->w);
        for (int k = 0; k < c->distinct; k++)
            c->w[k] = (gc_dweight){device_buffer(rt, c->bytes, 3 + (unsigned)k), (gc_dtype)t, rows, cols};
    }
    double *dram = malloc(DRAM_BYTES), dram_t[16];
    for (size_t i = 0; i < DRAM_BYTES / sizeof(double); i++)
        dram[i] = (double)(i & 7);
    for (int r = -1; r < trials; r++) { /* round -1 warms up (compiles the kernels) */
        for (int i = 0; i < n_cases; i++) {
            matmul_run g = {ops, &x, cases[i].w, &y, 1, cases[i].copies, cases[i].distinct};
            double t0 = now_s();
            gc_error err;
            if (run_matmul(&g, &err) != GC_OK)
                die(&err);
            clFinish(rt->queue);
            if (r >= 0)
                cases[i].t[r] = now_s() - t0;
        }
        double t0 = now_s();
        run_dram(dram, NULL);
        if (r >= 0)
            dram_t[r] = now_s() - t0;
    }
    qsort(dram_t, (size_t)trials, sizeof dram_t[0], cmp_double);
    printf("gemv rows %5d cols %5d | host DRAM read %5.1f GB/s |", rows, cols, DRAM_BYTES / dram_t[trials / 2] * 1e-9);
#ifdef GEMCL_HAVE_OPENBLAS
    printf(" openblas f32 %5.1f GB/s |", 4.0 * rows * cols / time_openblas(1, rows, cols) * 1e-9);
#endif
    for (int i = 0; i < n_cases; i++) {
        gemv_case *c = &cases[i];
        qsort(c->t, (size_t)trials, sizeof c->t[0], cmp_double);
        double s = c->t[trials / 2];
        printf(" %s %5.1f GB/s %6.1f us |", gc_dtype_name(c->dtype), c->bytes * (double)c->copies / s * 1e-9,
               s / c->copies * 1e6);
        for (int k = 0; k < c->distinct; k++)
            gc_buffer_free(rt, &c->w[k].buf);
        free(c->w);
    }
    printf("\n");
    free(dram);
    gc_buffer_free(rt, &x), gc_buffer_free(rt, &y);
}

/* Plain single-threaded C attention for one query row per head over n_keys keys (a yardstick for the
 * decode kernel in the same run): two passes, scores then softmax-weighted values. */
static double host_decode_attention(int n_keys, int heads, int kv, int hd) {
    float *k = malloc((size_t)n_keys * kv * hd * 4), *v = malloc((size_t)n_keys * kv * hd * 4);
    float *q = malloc((size_t)heads * hd * 4), *o = malloc((size_t)heads * hd * 4), *sc = malloc((size_t)n_keys * 4);
    for (size_t i = 0; i < (size_t)n_keys * kv * hd; i++)
        k[i] = v[i] = (float)(i % 13) * 0.01f;
    for (int i = 0; i < heads * hd; i++)
        q[i] = (float)(i % 7) * 0.1f;
    double t0 = now_s();
    for (int h = 0; h < heads; h++) {
        const float *qh = q + h * hd;
        int g = h / (heads / kv);
        float m = -1e30f, sum = 0.0f;
        for (int j = 0; j < n_keys; j++) {
            const float *kr = k + ((size_t)j * kv + g) * hd;
            float d = 0.0f;
            for (int e = 0; e < hd; e++)
                d += qh[e] * kr[e];
            sc[j] = d * 0.125f;
            m = sc[j] > m ? sc[j] : m;
        }
        float *oh = o + h * hd;
        memset(oh, 0, (size_t)hd * 4);
        for (int j = 0; j < n_keys; j++) {
            float p = expf(sc[j] - m);
            const float *vr = v + ((size_t)j * kv + g) * hd;
            sum += p;
            for (int e = 0; e < hd; e++)
                oh[e] += p * vr[e];
        }
        for (int e = 0; e < hd; e++)
            oh[e] /= sum;
    }
    double t = now_s() - t0;
    free(k), free(v), free(q), free(o), free(sc);
    return t;
}

typedef struct attention_run {
    gc_ops *ops;
    gc_buffer q, k, v, o;
    int n, n_past;
} attention_run;

static gc_status run_attention(void *ctx, gc_error *err) {
    attention_run *a = ctx;
    return gc_op_attention(a->ops, &a->q, 0, &a->k, &a->v, &a->o, 0, a->n, a->n_past, 32, 4, 64, 0.125f, err);
}

/* Causal attention of n queries after n_past cached rows (TinyLlama heads: 32 query, 4 kv, 64 dims). */
static void bench_attention(gc_ops *ops, int n, int n_past) {
    gc_runtime *rt = gc_ops_runtime(ops);
    const int heads = 32, kv = 4, hd = 64;
    size_t q_bytes = (size_t)n * heads * hd * 4, kv_bytes = (size_t)(n + n_past) * kv * hd * 4;
    attention_run a = {ops, device_buffer(rt, q_bytes, 1), device_buffer(rt, kv_bytes, 3),
                       device_buffer(rt, kv_bytes, 4), device_buffer(rt, q_bytes, 2), n, n_past};
    double t = median_seconds(run_attention, &a, rt->queue);
    double pairs = (double)n * n_past + (double)n * (n + 1) / 2;
    printf("attention n %4d n_past %5d heads 32/4 hd 64 | %7.3f ms | %6.1f GFLOP/s", n, n_past, t * 1e3,
           4.0 * pairs * hd * heads / t * 1e-9);
    if (n == 1)
        printf(" | plain C, 1 thread: %.3f ms", host_decode_attention(n_past + 1, heads, kv, hd) * 1e3);
    printf("\n");
    gc_buffer_free(rt, &a.q), gc_buffer_free(rt, &a.o), gc_buffer_free(rt, &a.k), gc_buffer_free(rt, &a.v);
}

typedef struct sample_run {
    gc_ops *ops;
    gc_buffer x, id;
    int n;
    bool sample;
} sample_run;

static gc_status run_sample(void *ctx, gc_error *err) {
    sample_run *r = ctx;
    return r->sample ? gc_op_sample(r->ops, &r->x, 0, &r->id, 0, r->n, 0.8f, 40, 0.9f, 0.5f, err)
                     : gc_op_argmax(r->ops, &r->x, 0, &r->id, 0, r->n, err);
}

/* Sampling from a vocabulary of n logits (top-k 40, top-p 0.9) and argmax. */
static void bench_sample(gc_ops *ops, int n) {
    gc_runtime *rt = gc_ops_runtime(ops);
    float *host = malloc((size_t)n * 4);
    for (int i = 0; i < n; i++)
        host[i] = (float)((i * 7919) % 1000) * 0.01f;
    sample_run r = {ops, device_buffer(rt, (size_t)n * 4, 1), device_buffer(rt, 4, 2), n, false};
    gc_error err;
    if (gc_buffer_write(rt, &r.x, 0, host, (size_t)n * 4, &err) != GC_OK)
        die(&err);
    for (int mode = 0; mode < 2; mode++) {
        r.sample = mode == 1;
        printf("%s n %d | %.3f ms (with launch + finish)\n", mode ? "sample top-k 40 top-p 0.9" : "argmax", n,
               median_seconds(run_sample, &r, rt->queue) * 1e3);
    }
    free(host);
    gc_buffer_free(rt, &r.x), gc_buffer_free(rt, &r.id);
}

typedef struct reduce_run {
    gc_ops *ops;
    gc_buffer x, w, idx;
    gc_topk_scratch *ts;
    int n, dim, k;
} reduce_run;

#define REDUCE_LAUNCHES 100 /* launches per timed run: one is a few microseconds */

static gc_status run_rmsnorm(void *ctx, gc_error *err) {
    reduce_run *r = ctx;
    gc_status st = GC_OK;
    for (int i = 0; i < REDUCE_LAUNCHES && st == GC_OK; i++)
        st = gc_op_rmsnorm(r->ops, &r->x, 0, &r->w, &r->x, 0, r->n, r->dim, 1e-5f, err);
    return st;
}

static gc_status run_topk(void *ctx, gc_error *err) {
    reduce_run *r = ctx;
    return gc_op_topk_indices(r->ops, r->ts, &r->x, 0, &r->idx, 0, r->n, r->k, err);
}

/* The work-group reductions (subgroup fast paths, GEMCL_PORTABLE=subgroups for their twins): rmsnorm of
 * decode (n = 1) and prefill rows, and GemFilter's top-k over n scores. */
static void bench_reductions(gc_ops *ops) {
    gc_runtime *rt = gc_ops_runtime(ops);
    const int norms[][2] = {{1, 576}, {1, 2048}, {512, 2048}};
    for (size_t s = 0; s < sizeof norms / sizeof norms[0]; s++) {
        reduce_run r = {.ops = ops, .n = norms[s][0], .dim = norms[s][1]};
        r.x = device_buffer(rt, (size_t)r.n * r.dim * 4, 1), r.w = device_buffer(rt, (size_t)r.dim * 4, 2);
        printf("rmsnorm n %d dim %d | %.2f us per launch\n", r.n, r.dim,
               median_seconds(run_rmsnorm, &r, rt->queue) * 1e6 / REDUCE_LAUNCHES);
        gc_buffer_free(rt, &r.x), gc_buffer_free(rt, &r.w);
    }
    reduce_run r = {.ops = ops, .n = 32768, .k = 1024};
    gc_error err;
    if (gc_topk_scratch_create(ops, r.n, r.k, &r.ts, &err) != GC_OK)
        die(&err);
    r.x = device_buffer(rt, (size_t)r.n * 4, 3), r.idx = device_buffer(rt, (size_t)r.k * 4, 4);
    printf("top-k n %d k %d | %.3f ms (with launch + finish)\n", r.n, r.k, median_seconds(run_topk, &r, rt->queue) * 1e3);
    gc_topk_scratch_free(r.ts);
    gc_buffer_free(rt, &r.x), gc_buffer_free(rt, &r.idx);
}

static bool wanted(const char *only, const char *part) {
    return !only || strcmp(only, part) == 0;
}

static void env_override(const char *name, int *value) {
    const char *v = getenv(name);
    if (v && *v)
        *value = atoi(v);
}

/* Median seconds of one prefill attention of n rows (no cache before them) on the device. */
static double time_attention(gc_ops *ops, const gc_buffer *q, const gc_buffer *kv, gc_buffer *out, int n, int n_heads,
                             int n_kv_heads, int head_dim) {
    gc_error err;
    double t[16];
    float scale = 1.0f / sqrtf((float)head_dim);
    for (int r = -1; r < trials; r++) {
        double t0 = now_s();
        if (gc_op_attention(ops, q, 0, kv, kv, out, 0, n, 0, n_heads, n_kv_heads, head_dim, scale, &err) != GC_OK)
            die(&err);
        clFinish(gc_ops_runtime(ops)->queue);
        if (r >= 0)
            t[r] = now_s() - t0;
    }
    qsort(t, (size_t)trials, sizeof t[0], cmp_double);
    return t[trials / 2];
}

/* One line per n: GFLOP/s of the profile's prefill attention and of the one-row kernel (when n <= old_max_n). */
static void bench_attention_shape(gc_ops *ops, const char *what, int n_heads, int n_kv_heads, int head_dim, const int *ns,
                            int n_ns, int old_max_n) {
    gc_runtime *rt = gc_ops_runtime(ops);
    gc_ops_profile saved = *gc_ops_get_profile(ops), old = saved;
    old.attn_rows = 0;
    for (int i = 0; i < n_ns; i++) {
        int n = ns[i];
        size_t q_bytes = (size_t)n * n_heads * head_dim * 4, kv_bytes = (size_t)n * n_kv_heads * head_dim * 4;
        gc_buffer q = device_buffer(rt, q_bytes, 1), kv = device_buffer(rt, kv_bytes, 2);
        gc_buffer out = device_buffer(rt, q_bytes, 3);
        double flop = 4.0 * n * n / 2 * n_heads * head_dim;
        double s = time_attention(ops, &q, &kv, &out, n, n_heads, n_kv_heads, head_dim);
        printf("attention %-10s hd %3d heads %2d/%d n %5d | rows %6.2f GFLOP/s %8.1f ms |", what, head_dim, n_heads,
               n_kv_heads, n, flop / s * 1e-9, s * 1e3);
        if (n <= old_max_n) {
            gc_ops_set_profile(ops, &old);
            s = time_attention(ops, &q, &kv, &out, n, n_heads, n_kv_heads, head_dim);
            gc_ops_set_profile(ops, &saved);
            printf(" one-row %6.2f GFLOP/s %8.1f ms |", flop / s * 1e-9, s * 1e3);
        }
        printf("\n");
        fflush(stdout);
        gc_buffer_free(rt, &q), gc_buffer_free(rt, &kv), gc_buffer_free(rt, &out);
    }
}

static void bench_attention_all(gc_ops *ops, int n) {
    gc_runtime *rt = gc_ops_runtime(ops);
    gc_buffer x = device_buffer(rt, (size_t)n * 2048 * 4, 1), y = device_buffer(rt, (size_t)n * 2048 * 4, 2);
    gc_dweight w = {device_buffer(rt, (size_t)2048 * 2048 * 4, 3), GC_DTYPE_F32, 2048, 2048};
    printf("gemm f32 n %d rows 2048 cols 2048 | %6.1f GFLOP/s\n", n,
           2.0 * n * 2048 * 2048 / time_matmul(ops, &x, &w, &y, n) * 1e-9);
    gc_buffer_free(rt, &x), gc_buffer_free(rt, &y), gc_buffer_free(rt, &w.buf);
    int ns[8], n_ns = 0, old_max_n = 1024;
    const char *list = getenv("ATT_NS");
    char *end;
    for (const char *c = list && *list ? list : "1024,4096,8192"; *c && n_ns < 8; c = *end ? end + 1 : end)
        ns[n_ns++] = (int)strtol(c, &end, 10);
    const char *om = getenv("ATT_OLD_MAX_N");
    if (om && *om)
        old_max_n = atoi(om);
    const struct {
        const char *name;
        int n_heads, n_kv_heads, head_dim;
    } models[] = {
        {"stories260K", 8, 4, 8}, {"SmolLM2", 9, 3, 64}, {"TinyLlama", 32, 4, 64}, {"Llama-3-8B", 32, 8, 128}};
    int only_hd = 0;
    env_override("ATT_HD", &only_hd);
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++)
        if (!only_hd || models[m].head_dim == only_hd)
            bench_attention_shape(ops, models[m].name, models[m].n_heads, models[m].n_kv_heads, models[m].head_dim, ns, n_ns,
                            old_max_n);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 512;
    trials = argc > 2 ? atoi(argv[2]) : 5;
    trials = trials < 1 ? 1 : trials > 16 ? 16 : trials;
    gc_runtime_params params = gc_runtime_default_params();
    gc_runtime *rt;
    gc_ops *ops;
    gc_error err;
    if (gc_runtime_create(&params, &rt, &err) != GC_OK || gc_ops_create(rt, &ops, &err) != GC_OK)
        die(&err);
    gc_ops_profile p = *gc_ops_get_profile(ops);
    env_override("GEMM_TM", &p.gemm_tm);
    env_override("GEMM_WN", &p.gemm_wn);
    env_override("GEMM_WM", &p.gemm_wm);
    env_override("GEMM_KB", &p.gemm_kb);
    env_override("GEMV_LS", &p.gemv_local);
    env_override("GEMV_RPG", &p.gemv_rows);
    env_override("GEMV_NB", &p.gemv_rows_x);
    env_override("ATT_BR", &p.attn_rows);
    env_override("ATT_BC", &p.attn_keys);
    env_override("ATT_LWG", &p.attn_local_wg);
    gc_ops_set_profile(ops, &p);
    printf("device %s, profile %s, GEMM_TM %d WN %d WM %d KB %d, GEMV_LS %d RPG %d NB %d; GFLOP/s (ratio to "
           "OpenBLAS), median of %d\n",
           rt->dev.info.name, p.name, p.gemm_tm, p.gemm_wn, p.gemm_wm, p.gemm_kb, p.gemv_local, p.gemv_rows,
           p.gemv_rows_x, trials);
    const int shapes[][2] = {{2048, 2048}, {256, 2048}, {5632, 2048}, {2048, 5632}, {32000, 2048}};
    const char *only = getenv("BENCH_ONLY"), *ks = getenv("BENCH_SHAPES");
    if (only && !strcmp(only, "attn")) {
        printf("attention: ATT_BR %d ATT_BC %d ATT_LWG %d\n", p.attn_rows, p.attn_keys, p.attn_local_wg);
        bench_attention_all(ops, n);
        only = "none";
    }
    size_t n_shapes = ks ? (size_t)atoi(ks) : sizeof shapes / sizeof shapes[0];
    const char *gms = getenv("GEMM_SHAPES"); /* "rowsxcols,..."; default the shapes above */
    for (size_t s = 0; !gms && s < n_shapes && s < sizeof shapes / sizeof shapes[0] && wanted(only, "gemm"); s++)
        bench_gemm(ops, n, shapes[s][0], shapes[s][1]);
    for (const char *c = gms; c && *c && wanted(only, "gemm");) {
        int rows = 0, cols = 0;
        if (sscanf(c, "%dx%d", &rows, &cols) == 2 && rows > 0 && cols > 0)
            bench_gemm(ops, n, rows, cols);
        c = strchr(c, ',');
        c = c ? c + 1 : NULL;
    }
    const char *gs = getenv("GEMV_SHAPES"); /* "rowsxcols,..."; default TinyLlama's FFN shapes */
    for (const char *c = gs ? gs : "5632x2048,2048x5632"; c && *c && wanted(only, "gemv");) {
        int rows = 0, cols = 0;
        if (sscanf(c, "%dx%d", &rows, &cols) == 2 && rows > 0 && cols > 0)
            bench_gemv(ops, rows, cols);
        c = strchr(c, ',');
        c = c ? c + 1 : NULL;
    }
    if (wanted(only, "other")) {
        bench_attention(ops, n, 0);
        bench_attention(ops, 1, 4096);
    }
    if (wanted(only, "reduce")) {
        bench_sample(ops, 32000);
        bench_reductions(ops);
    }
    gc_ops_free(ops);
    gc_runtime_free(rt);
    return 0;
}
