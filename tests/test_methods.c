/* test_methods.c - the methods beside GemFilter (METHODS.md: promptdistill, snapkv, h2o[-stream], streamingllm,
 * pod-tf) on stories260K and on random tensors: the attention-mass kernels equal a C reference; each method
 * keeps what its rule says (SnapKV and H2O rank keys as a double-precision reference does); the logits after
 * compression equal a double-precision reference that attends to exactly the kept rows (at their slot
 * positions for StreamingLLM; over 24 evicting steps for h2o-stream); KV memory follows each method's formula;
 * and every method is exactly `full` when the prompt fits the budget. PromptDistill's rows and selection are
 * checked against GemFilter's scores and a reference that carries the kept hidden states on at their original
 * positions; pod-tf against a reference that shares distant logits within layer blocks. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "engine/engine.h"
#include "gemcl.h"
#include "harness.h"
#include "methods/method.h"
#include "ops/kvcompress.h"
#include "ref_llama.h"

#define STORIES "models/stories260K/stories260K.bin"

/* ---- attention mass on random tensors ---------------------------------------------------------------- */

/* s[g, j] = sum over rows i >= max(j, i_from), heads h of group g of softmax_j(scale q[i,h] . k[j,g]). */
static void ref_mass(const float *q, const float *k, int n, int H, int G, int d, int i_from, double *s) {
    double *p = malloc((size_t)n * sizeof *p);
    memset(s, 0, (size_t)G * n * sizeof *s);
    for (int i = i_from; i < n; i++)
        for (int h = 0; h < H; h++) {
            int g = h / (H / G);
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j <= i; j++) {
                double dot = 0;
                for (int e = 0; e < d; e++)
                    dot += (double)q[((size_t)i * H + h) * d + e] * k[((size_t)j * G + g) * d + e];
                p[j] = dot / sqrt((double)d);
                mx = fmax(mx, p[j]);
            }
            for (int j = 0; j <= i; j++)
                sum += (p[j] = exp(p[j] - mx));
            for (int j = 0; j <= i; j++)
                s[(size_t)g * n + j] += p[j] / sum;
        }
    free(p);
}

/* The device mass, accumulated chunk by chunk as the engine's after-layer hook does. */
static void device_mass(gc_ops *ops, const float *q, const float *k, int n, int H, int G, int d, int i_from,
                        int chunk, float *s) {
    gc_runtime *rt = gc_ops_runtime(ops);
    gc_buffer qb, kb, lse, sb;
    gc_error err;
    float *zeros = calloc((size_t)G * n, sizeof *zeros);
    ck_assert_int_eq(gc_buffer_alloc(rt, (size_t)n * H * d * 4, "q", &qb, &err), GC_OK);
    ck_assert_int_eq(gc_buffer_alloc(rt, (size_t)n * G * d * 4, "k", &kb, &err), GC_OK);
    ck_assert_int_eq(gc_buffer_alloc(rt, (size_t)chunk * H * 4, "lse", &lse, &err), GC_OK);
    ck_assert_int_eq(gc_buffer_alloc(rt, (size_t)G * n * 4, "s", &sb, &err), GC_OK);
    ck_assert_int_eq(gc_buffer_write(rt, &qb, 0, q, (size_t)n * H * d * 4, &err), GC_OK);
    ck_assert_int_eq(gc_buffer_write(rt, &kb, 0, k, (size_t)n * G * d * 4, &err), GC_OK);
    ck_assert_int_eq(gc_buffer_write(rt, &sb, 0, zeros, (size_t)G * n * 4, &err), GC_OK);
    for (int r0 = 0; r0 < n; r0 += chunk) {
        int nq = n - r0 < chunk ? n - r0 : chunk;
        gc_attn_rows r = {r0, nq, i_from, H, G, d, 1.0f / sqrtf((float)d)};
        ck_assert_msg(gc_op_attn_lse(ops, &r, &qb, (size_t)r0 * H * d, &kb, &lse, &err) == GC_OK, "%s", err.msg);
        ck_assert_msg(gc_op_attn_colsum(ops, &r, &qb, (size_t)r0 * H * d, &kb, &lse, &sb, n, &err) == GC_OK, "%s",
                      err.msg);
    }
    ck_assert_int_eq(gc_buffer_read(rt, &sb, 0, s, (size_t)G * n * 4, &err), GC_OK);
    gc_buffer_free(rt, &qb), gc_buffer_free(rt, &kb), gc_buffer_free(rt, &lse), gc_buffer_free(rt, &sb);
    free(zeros);
}

START_TEST(h2o_column_sums_equal_c_reference) {
    gc_runtime *rt = test_runtime();
    gc_ops *ops;
    gc_error err;
    ck_assert_int_eq(gc_ops_create(rt, &ops, &err), GC_OK);
    /* n, H, G, d, chunk: head sizes for the kernels' 4-lane (8, 12), 16-lane (16, 64) and scalar (6) dots */
    const int sizes[][5] = {{37, 8, 4, 8, 16}, {64, 4, 4, 16, 64}, {129, 6, 2, 12, 50}, {45, 4, 2, 6, 20},
                            {70, 4, 2, 64, 32}};
    for (int t = 0; t < 5; t++) {
        int n = sizes[t][0], H = sizes[t][1], G = sizes[t][2], d = sizes[t][3], chunk = sizes[t][4];
        float *q = malloc((size_t)n * H * d * 4), *k = malloc((size_t)n * G * d * 4), *got = malloc((size_t)G * n * 4);
        double *want = malloc((size_t)G * n * sizeof *want);
        test_fill_random(q, (size_t)n * H * d, 11 + t);
        test_fill_random(k, (size_t)n * G * d, 23 + t);
        for (size_t i = 0; i < (size_t)n * H * d; i++)
            q[i] *= 3.0f; /* peaked softmax rows */
        const int froms[] = {0, n - 7}; /* h2o: every row; snapkv: a window of 7 */
        for (int f = 0; f < 2; f++) {
            ref_mass(q, k, n, H, G, d, froms[f], want);
            device_mass(ops, q, k, n, H, G, d, froms[f], chunk, got);
            float *wf = malloc((size_t)G * n * 4);
            for (int i = 0; i < G * n; i++)
                wf[i] = (float)want[i];
            double e = test_nmse(got, wf, (size_t)G * n);
            ck_assert_msg(e <= 1e-6, "n=%d H=%d G=%d d=%d from=%d: nmse %g", n, H, G, d, froms[f], e);
            free(wf);
        }
        free(q), free(k), free(got), free(want);
    }
    gc_ops_free(ops);
    ck_assert_uint_eq(rt->bytes_current, 0);
    gc_runtime_free(rt);
}
END_TEST

START_TEST(kv_gather_moves_each_heads_own_rows) {
    gc_runtime *rt = test_runtime();
    gc_ops *ops;
    gc_error err;
    ck_assert_int_eq(gc_ops_create(rt, &ops, &err), GC_OK);
    enum { ROWS = 20, G = 3, D = 4, KEEP = 5 };
    float src[ROWS * G * D], got[KEEP * G * D];
    for (int i = 0; i < ROWS * G * D; i++)
        src[i] = (float)i;
    int32_t idx[G * 6] = {0, 2, 4, 6, 19, -9, 1, 3, 5, 7, 18, -9, 10, 11, 12, 13, 14, -9}; /* stride 6 */
    gc_buffer sb, db, ib;
    ck_assert_int_eq(gc_buffer_alloc(rt, sizeof src, "src", &sb, &err), GC_OK);
    ck_assert_int_eq(gc_buffer_alloc(rt, sizeof got, "dst", &db, &err), GC_OK);
    ck_assert_int_eq(gc_buffer_alloc(rt, sizeof idx, "idx", &ib, &err), GC_OK);
    ck_assert_int_eq(gc_buffer_write(rt, &sb, 0, src, sizeof src, &err), GC_OK);
    ck_assert_int_eq(gc_buffer_write(rt, &ib, 0, idx, sizeof idx, &err), GC_OK);
    for (int stride = 0; stride <= 6; stride += 6) {
        ck_assert_msg(gc_op_kv_gather(ops, &sb, &db, &ib, stride, KEEP, G, D, &err) == GC_OK, "%s", err.msg);
        ck_assert_int_eq(gc_buffer_read(rt, &db, 0, got, sizeof got, &err), GC_OK);
        for (int r = 0; r < KEEP; r++)
            for (int g = 0; g < G; g++)
                for (int e = 0; e < D; e++)
                    ck_assert_float_eq(got[(r * G + g) * D + e], src[(idx[g * stride + r] * G + g) * D + e]);
    }
    ck_assert_int_eq(gc_op_kv_gather(ops, &sb, &db, &ib, 3, KEEP, G, D, &err), GC_ERR_INVALID_ARG);
    gc_buffer_free(rt, &sb), gc_buffer_free(rt, &db), gc_buffer_free(rt, &ib);
    gc_ops_free(ops);
    gc_runtime_free(rt);
}
END_TEST

START_TEST(evict_lowest_drops_each_heads_lightest_candidate) {
    gc_runtime *rt = test_runtime();
    gc_ops *ops;
    gc_error err;
    ck_assert_int_eq(gc_ops_create(rt, &ops, &err), GC_OK);
    enum { G = 3, CAP = 12, ROWS = 10, CAND = 7 };
    float mass[G * CAP], moved[G * CAP] = {0};
    test_fill_random(mass, G * CAP, 5);
    mass[0 * CAP + 9] = -5.0f;                    /* lightest but recent: stays */
    mass[1 * CAP + 2] = mass[1 * CAP + 4] = -3.0f; /* a tie: the lower index goes */
    int32_t idx[G * (ROWS - 1)];
    gc_buffer mb, ib, tb;
    ck_assert_int_eq(gc_buffer_alloc(rt, sizeof mass, "mass", &mb, &err), GC_OK);
    ck_assert_int_eq(gc_buffer_alloc(rt, sizeof mass, "moved", &tb, &err), GC_OK);
    ck_assert_int_eq(gc_buffer_alloc(rt, sizeof idx, "idx", &ib, &err), GC_OK);
    ck_assert_int_eq(gc_buffer_write(rt, &mb, 0, mass, sizeof mass, &err), GC_OK);
    ck_assert_int_eq(gc_buffer_write(rt, &tb, 0, moved, sizeof moved, &err), GC_OK);
    ck_assert_msg(gc_op_evict_lowest(ops, &mb, CAP, &ib, ROWS, CAND, G, &err) == GC_OK, "%s", err.msg);
    gc_rows_layout per_head = {0, 1, CAP};
    ck_assert_int_eq(gc_op_gather_rows(ops, &mb, per_head, &tb, per_head, &ib, 0, ROWS - 1, ROWS - 1, G, 1, &err),
                     GC_OK);
    ck_assert_int_eq(gc_buffer_read(rt, &ib, 0, idx, sizeof idx, &err), GC_OK);
    ck_assert_int_eq(gc_buffer_read(rt, &tb, 0, moved, sizeof moved, &err), GC_OK);
    for (int g = 0; g < G; g++) {
        int lowest = 0;
        for (int j = 1; j < CAND; j++)
            if (mass[g * CAP + j] < mass[g * CAP + lowest])
                lowest = j;
        if (g == 1)
            ck_assert_int_eq(lowest, 2);
        for (int r = 0; r < ROWS - 1; r++) {
            int from = r < lowest ? r : r + 1;
            ck_assert_int_eq(idx[g * (ROWS - 1) + r], from);
            ck_assert_float_eq(moved[g * CAP + r], mass[g * CAP + from]); /* the mass follows its row */
        }
        ck_assert_float_eq(moved[g * CAP + ROWS - 1], 0.0f); /* the column a new row will use stays zero */
    }
    gc_buffer_free(rt, &mb), gc_buffer_free(rt, &ib), gc_buffer_free(rt, &tb);
    gc_ops_free(ops);
    gc_runtime_free(rt);
}
END_TEST

static void check_same_selection(const int32_t *got, const int32_t *want, int k, const double *score, double kth,
                                 const char *what);

/* ---- methods on stories260K through the engine's hooks ------------------------------------------------ */

static void make_ids(int32_t *ids, int n, int vocab, unsigned seed) {
    ids[0] = 1; /* BOS */
    for (int i = 1; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        ids[i] = 3 + (int32_t)((seed >> 8) % (unsigned)(vocab - 3));
    }
}

/* One request through a method's hooks, as generate.c runs it, up to the logits of the first decode step. */
typedef struct method_case {
    const char *name;
    gemcl_method_params params;
    int n, budget, n_ub, max_new;
} method_case;

typedef struct method_out {
    gc_kept_report kept;
    size_t kv_bytes;       /* gc_seq_kv_bytes after prefill and compression */
    int kv_rows;           /* rows allocated per layer after prefill and compression */
    int n_past, next_pos;  /* after the decode step's hook, before the step */
    int32_t first;         /* the token sampled by the prefill, fed to the decode step */
    float *logits;         /* (vocab) of the decode step */
} method_out;

static void run_case(test_stack *s, const method_case *c, const int32_t *ids, method_out *o) {
    memset(o, 0, sizeof *o);
    const gc_method *m = gc_method_find(c->name);
    ck_assert_ptr_nonnull(m);
    gc_seq_params sp = {0, c->n_ub};
    gc_seq *seq;
    gc_error err;
    ck_assert_int_eq(gc_seq_create(s->ops, s->dm, &sp, &seq, &err), GC_OK);
    ck_assert_int_eq(gc_seq_reserve(seq, c->n + c->max_new, &err), GC_OK);
    gc_method_args a = {s->ops, s->dm, ids, c->n, 0, c->budget, c->n_ub, NULL, 0};
    gc_kv_args kv = {&c->params, c->max_new};
    void *state = NULL;
    ck_assert_msg(m->start(&a, &kv, seq, &state, &err) == GC_OK, "%s", err.msg);
    ck_assert_msg(gc_seq_prefill(seq, ids, NULL, c->n, NULL, &o->first, NULL, &err) == GC_OK, "%s", err.msg);
    ck_assert_msg(m->after_prefill(state, seq, &o->kept, &err) == GC_OK, "%s", err.msg);
    o->kv_bytes = gc_seq_kv_bytes(seq);
    o->kv_rows = seq->kv_rows;
    if (m->per_decode_step)
        ck_assert_msg(m->per_decode_step(state, seq, &err) == GC_OK, "%s", err.msg);
    o->n_past = seq->n_past, o->next_pos = seq->next_pos;
    o->logits = malloc((size_t)s->dm->hp.vocab_size * sizeof *o->logits);
    ck_assert_msg(gc_seq_decode(seq, o->first, NULL, NULL, o->logits, &err) == GC_OK, "%s", err.msg);
    m->finish(state, seq);
    gc_seq_free(seq);
}

static void out_free(method_out *o) {
    free(o->kept.tokens), free(o->kept.heads), free(o->logits);
}

static double logits_nmse(const float *got, const double *want, int n) {
    float *wf = malloc((size_t)n * sizeof *wf);
    for (int i = 0; i < n; i++)
        wf[i] = (float)want[i];
    double e = test_nmse(got, wf, (size_t)n);
    free(wf);
    return e;
}

static size_t kv_row_bytes(const test_stack *s) {
    return (size_t)s->dm->hp.n_kv_heads * s->dm->hp.head_dim * 4 * 2 * (size_t)s->dm->hp.n_layers;
}

/* Per head: per_head ascending distinct positions < n that end with the last w prompt positions. */
static void check_heads(const gc_kept_report *k, const test_stack *s, int n, int budget, int w) {
    ck_assert_int_eq(k->n_layers, s->dm->hp.n_layers);
    ck_assert_int_eq(k->n_kv_heads, s->dm->hp.n_kv_heads);
    ck_assert_int_eq(k->per_head, budget);
    for (int lg = 0; lg < k->n_layers * k->n_kv_heads; lg++) {
        const int32_t *p = k->heads + (size_t)lg * budget;
        ck_assert_int_ge(p[0], 0);
        for (int r = 1; r < budget; r++)
            ck_assert_msg(p[r - 1] < p[r], "layer/head %d: row %d not ascending", lg, r);
        for (int t = 0; t < w; t++)
            ck_assert_int_eq(p[budget - w + t], n - w + t);
    }
}

/* The rows each (layer, KV head) kept before the window are the top (B - w) of the reference's mass of the
 * window rows (snapkv, pooled) or of all rows (h2o), up to swaps between near-equal scores. */
static void check_ranking(const test_stack *s, const int32_t *ids, int n, int budget, int w, gemcl_pooling pooling,
                          bool window_rows, const int32_t *kept) {
    int L = s->dm->hp.n_layers, G = s->dm->hp.n_kv_heads, cand = n - w, top = budget - w;
    double *mass = malloc((size_t)L * G * n * sizeof *mass), *score = malloc((size_t)cand * sizeof *score);
    int32_t *want = malloc((size_t)top * sizeof *want);
    ck_assert_int_eq(ref_head_mass(s->file, ids, n, window_rows ? n - w : 0, mass), 0);
    for (int lg = 0; lg < L * G; lg++) {
        const double *m = mass + (size_t)lg * n;
        for (int j = 0; j < cand; j++) {
            double acc = window_rows && pooling == GEMCL_POOLING_MAX7 ? -INFINITY : 0;
            if (!window_rows)
                acc = m[j];
            else
                for (int o = pooling == GEMCL_POOLING_MAX7 ? -3 : -2; o <= (pooling == GEMCL_POOLING_MAX7 ? 3 : 2); o++)
                    if (j + o >= 0 && j + o < cand)
                        acc = pooling == GEMCL_POOLING_MAX7 ? fmax(acc, m[j + o]) : acc + m[j + o] / 5.0;
            score[j] = acc;
        }
        ck_assert_int_eq(ref_topk_sorted(score, cand, top, want), top);
        double kth = INFINITY;
        for (int i = 0; i < top; i++)
            kth = fmin(kth, score[want[i]]);
        char what[64];
        snprintf(what, sizeof what, "layer %d head %d", lg / G, lg % G);
        check_same_selection(kept + (size_t)lg * budget, want, top, score, kth, what);
    }
    free(mass), free(score), free(want);
}

/* SnapKV and H2O: B rows per head ending in the window, KV of L * B rows, and the next logits equal the
 * reference that attends, per layer and KV head, to exactly those rows at their original positions. */
static void check_per_head_method(const char *name, int window, gemcl_pooling pooling, int w_kept) {
    test_stack s;
    if (!test_stack_open_shared(&s, STORIES, GC_DTYPE_KEEP))
        return;
    const int n = 150, budget = 40;
    int32_t ids[150];
    make_ids(ids, n, s.dm->hp.vocab_size, 7);
    method_case c = {name, {0}, n, budget, 64, 4};
    c.params.window = window;
    c.params.pooling = pooling;
    method_out o;
    run_case(&s, &c, ids, &o);
    check_heads(&o.kept, &s, n, budget, w_kept);
    ck_assert_uint_eq(o.kv_bytes, (size_t)budget * kv_row_bytes(&s));
    ck_assert_int_eq(o.kv_rows, budget + c.max_new);
    ck_assert_int_eq(o.n_past, budget);
    ck_assert_int_eq(o.next_pos, n); /* original numbering continues */
    check_ranking(&s, ids, n, budget, w_kept, pooling, strcmp(name, "snapkv") == 0, o.kept.heads);
    int vocab = s.dm->hp.vocab_size;
    double *want = malloc((size_t)vocab * sizeof *want);
    ck_assert_int_eq(ref_logits_after_kept(s.file, ids, n, o.kept.heads, budget, budget, NULL, o.first, n, want), 0);
    double e = logits_nmse(o.logits, want, vocab);
    ck_assert_msg(e <= 1e-6, "%s: logits nmse %g against the kept-rows reference", name, e);
    free(want);
    out_free(&o);
    test_stack_close(&s);
}

START_TEST(snapkv_keeps_window_and_budget_per_head) {
    check_per_head_method("snapkv", 12, GEMCL_POOLING_AVG5, 12);
    check_per_head_method("snapkv", 0, GEMCL_POOLING_MAX7, 32); /* default window 32 */
}
END_TEST

START_TEST(h2o_keeps_heavy_hitters_and_last_32) {
    check_per_head_method("h2o", 0, GEMCL_POOLING_AVG5, 32);
}
END_TEST

/* StreamingLLM: after the prompt and one eviction for the first decode step the cache holds the 4 sinks and
 * the newest k - 5 prompt rows at slots 0 .. k - 2, and the decode logits (new token at slot k - 1) equal the
 * reference with those rows' keys rotated to their slots. */
START_TEST(streamingllm_keeps_sinks_and_window_at_slot_positions) {
    test_stack s;
    if (!test_stack_open_shared(&s, STORIES, GC_DTYPE_KEEP))
        return;
    const int n = 90, k = 30, sinks = 4;
    int32_t ids[90];
    make_ids(ids, n, s.dm->hp.vocab_size, 3);
    method_case c = {"streamingllm", {0}, n, k, 32, 4};
    method_out o;
    run_case(&s, &c, ids, &o);
    ck_assert_int_eq(o.kept.n_tokens, k);
    for (int i = 0; i < k; i++)
        ck_assert_int_eq(o.kept.tokens[i], i < sinks ? i : n - k + i);
    ck_assert_uint_eq(o.kv_bytes, (size_t)k * kv_row_bytes(&s));
    ck_assert_int_eq(o.kv_rows, k);
    ck_assert_int_eq(o.n_past, k - 1); /* one evicted to make room for the decode token */
    ck_assert_int_eq(o.next_pos, k - 1);
    int32_t keep[30], slot[30];
    for (int r = 0; r < k - 1; r++) {
        keep[r] = r < sinks ? r : n - k + r + 1;
        slot[r] = r;
    }
    int vocab = s.dm->hp.vocab_size;
    double *want = malloc((size_t)vocab * sizeof *want);
    ck_assert_int_eq(ref_logits_after_kept(s.file, ids, n, keep, k - 1, 0, slot, o.first, k - 1, want), 0);
    double e = logits_nmse(o.logits, want, vocab);
    ck_assert_msg(e <= 1e-6, "streamingllm: logits nmse %g against the slot-position reference", e);
    free(want);
    out_free(&o);
    test_stack_close(&s);
}
END_TEST

/* h2o-stream: B = heavy + recent rows per head after the prompt (ending in the recent rows), and while
 * decoding the cache never holds more than B rows before a step; each step's logits equal the reference
 * attending to exactly the rows the heads kept. */
START_TEST(h2o_stream_evicts_to_heavy_plus_recent_every_step) {
    test_stack s;
    if (!test_stack_open_shared(&s, STORIES, GC_DTYPE_KEEP))
        return;
    enum { steps = 24 };
    const int n = 60, heavy = 8, recent = 6, B = heavy + recent;
    int32_t ids[100];
    make_ids(ids, n, s.dm->hp.vocab_size, 13);
    const gc_method *m = gc_method_find("h2o-stream");
    gc_seq *seq;
    gc_error err;
    gc_seq_params sp = {0, 32};
    ck_assert_int_eq(gc_seq_create(s.ops, s.dm, &sp, &seq, &err), GC_OK);
    gemcl_method_params p = {0};
    p.heavy_budget = heavy, p.recent_budget = recent;
    gc_method_args a = {s.ops, s.dm, ids, n, 0, 1000, 32, NULL, 0}; /* the explicit budgets win over a's budget */
    gc_kv_args kv = {&p, steps};
    void *state;
    ck_assert_msg(m->start(&a, &kv, seq, &state, &err) == GC_OK, "%s", err.msg);
    int32_t next;
    ck_assert_int_eq(gc_seq_prefill(seq, ids, NULL, n, NULL, &next, NULL, &err), GC_OK);
    gc_kept_report kept = {0};
    ck_assert_msg(m->after_prefill(state, seq, &kept, &err) == GC_OK, "%s", err.msg);
    check_heads(&kept, &s, n, B, recent);
    ck_assert_uint_eq(gc_seq_kv_bytes(seq), (size_t)B * kv_row_bytes(&s));
    /* the first step sees exactly the prompt rows kept */
    int vocab = s.dm->hp.vocab_size;
    float *got = malloc((size_t)vocab * sizeof *got);
    double *want = malloc((size_t)vocab * sizeof *want);
    ck_assert_int_eq(m->per_decode_step(state, seq, &err), GC_OK);
    ck_assert_int_eq(seq->n_past, B);
    int32_t feed[steps];
    float *steps_got = malloc((size_t)steps * vocab * sizeof *steps_got);
    feed[0] = next;
    ck_assert_int_eq(gc_seq_decode(seq, feed[0], NULL, &next, steps_got, &err), GC_OK);
    ck_assert_int_eq(ref_logits_after_kept(s.file, ids, n, kept.heads, B, B, NULL, feed[0], n, want), 0);
    ck_assert_msg(logits_nmse(steps_got, want, vocab) <= 1e-6, "h2o-stream: logits nmse %g",
                  logits_nmse(steps_got, want, vocab));
    for (int t = 1; t < steps; t++) {
        ck_assert_int_eq(seq->n_past, B + 1);
        ck_assert_msg(m->per_decode_step(state, seq, &err) == GC_OK, "%s", err.msg);
        ck_assert_int_eq(seq->n_past, B);
        for (int l = 0; l < s.dm->hp.n_layers; l++)
            ck_assert_int_eq(seq->kv_len[l], B);
        ck_assert_int_eq(seq->next_pos, n + t); /* original numbering */
        feed[t] = next;
        ck_assert_int_eq(gc_seq_decode(seq, feed[t], NULL, &next, steps_got + (size_t)t * vocab, &err), GC_OK);
    }
    /* every step against the double reference that accumulates the same masses and evicts by the same rule */
    double *steps_want = malloc((size_t)steps * vocab * sizeof *steps_want);
    ck_assert_int_eq(ref_h2o_stream(s.file, ids, n, heavy, recent, feed, steps, steps_want), 0);
    for (int t = 0; t < steps; t++) {
        double e = logits_nmse(steps_got + (size_t)t * vocab, steps_want + (size_t)t * vocab, vocab);
        ck_assert_msg(e <= 1e-6, "h2o-stream step %d: logits nmse %g against the reference", t, e);
    }
    free(steps_got), free(steps_want);
    free(got), free(want), free(kept.heads);
    m->finish(state, seq);
    gc_seq_free(seq);
    test_stack_close(&s);
}
END_TEST

/* ---- PromptDistill ---------------------------------------------------------------------------------- */

typedef struct distill_out {
    gc_kept_report kept;
    int kv_len[16];
    int next_pos;
    size_t kv_bytes;
    float *logits;         /* (vocab) of the prefill's last row */
    float *decode_logits;  /* (vocab) of one decode step after it */
} distill_out;

static void run_distill(test_stack *s, const int32_t *ids, int n, int n_ub, const gemcl_method_params *p, int filter_layer,
                        int budget, distill_out *o) {
    memset(o, 0, sizeof *o);
    const gc_method *m = gc_method_find("promptdistill");
    gc_seq_params sp = {0, n_ub};
    gc_seq *seq;
    gc_error err;
    ck_assert_int_eq(gc_seq_create(s->ops, s->dm, &sp, &seq, &err), GC_OK);
    gc_method_args a = {s->ops, s->dm, ids, n, filter_layer, budget, n_ub, NULL, 0};
    gc_kv_args kv = {p, 2};
    void *state;
    int vocab = s->dm->hp.vocab_size;
    o->logits = malloc((size_t)vocab * sizeof *o->logits);
    o->decode_logits = malloc((size_t)vocab * sizeof *o->decode_logits);
    ck_assert_msg(m->start(&a, &kv, seq, &state, &err) == GC_OK, "%s", err.msg);
    gc_stage_hook hook = {m->select_rows, state};
    int32_t next;
    ck_assert_msg(gc_seq_prefill_staged(seq, ids, n, &hook, NULL, &next, o->logits, &err) == GC_OK, "%s", err.msg);
    ck_assert_msg(m->after_prefill(state, seq, &o->kept, &err) == GC_OK, "%s", err.msg);
    for (int l = 0; l < s->dm->hp.n_layers; l++)
        o->kv_len[l] = seq->kv_len[l];
    o->next_pos = seq->next_pos;
    o->kv_bytes = gc_seq_kv_bytes(seq);
    ck_assert_msg(gc_seq_decode(seq, next, NULL, NULL, o->decode_logits, &err) == GC_OK, "%s", err.msg);
    ck_assert_int_eq(seq->next_pos, n + 1); /* decoding continues at n + t */
    m->finish(state, seq);
    gc_seq_free(seq);
}

static void distill_free(distill_out *o) {
    free(o->kept.tokens), free(o->logits), free(o->decode_logits);
}

/* got (ascending) equals want except for swaps between near-equal scores at the boundary. */
static void check_same_selection(const int32_t *got, const int32_t *want, int k, const double *score, double kth,
                                 const char *what) {
    double tol = 1e-4 * fmax(1.0, fabs(kth));
    for (int a = 0, b = 0; a < k || b < k;) {
        int32_t x = a < k ? got[a] : INT32_MAX, y = b < k ? want[b] : INT32_MAX;
        if (x == y) {
            a++, b++;
            continue;
        }
        int32_t only = x < y ? got[a++] : want[b++];
        ck_assert_msg(fabs(score[only] - kth) <= tol, "%s: row %d (score %g) differs, k-th score %g", what, only,
                      score[only], kth);
    }
}

START_TEST(promptdistill_later_layers_see_k_plus_1_rows_at_original_positions) {
    test_stack s;
    if (!test_stack_open_shared(&s, STORIES, GC_DTYPE_KEEP))
        return;
    const int n = 150, r = 2, k = 40, L = s.dm->hp.n_layers, vocab = s.dm->hp.vocab_size;
    int32_t ids[150], want_kept[150];
    make_ids(ids, n, vocab, 5);
    distill_out o;
    run_distill(&s, ids, n, 64, NULL, r, k, &o); /* 64-row chunks: the selection spans three */
    for (int l = 0; l < L; l++)
        ck_assert_int_eq(o.kv_len[l], l <= r ? n : k + 1);
    ck_assert_int_eq(o.next_pos, n);
    ck_assert_int_eq(o.kept.n_tokens, k + 1);
    ck_assert_int_eq(o.kept.tokens[k], n - 1); /* the last token is always kept */
    ck_assert_uint_eq(o.kv_bytes, ((size_t)(r + 1) * n + (size_t)(L - r - 1) * (k + 1)) * kv_row_bytes(&s) / L);
    /* the selection is GemFilter's score at layer r, with s[last] = 0 before smoothing, last excluded */
    double *raw = malloc((size_t)n * sizeof *raw), *pooled = malloc((size_t)n * sizeof *pooled);
    ck_assert_int_eq(ref_gemfilter_scores(s.file, ids, n, &r, 1, &raw), 0);
    raw[n - 1] = 0;
    ref_pool5(raw, n, pooled);
    int32_t gem[40];
    ck_assert_int_eq(ref_topk_sorted(pooled, n - 1, k, gem), k);
    double kth = INFINITY;
    for (int i = 0; i < k; i++)
        kth = fmin(kth, pooled[gem[i]]);
    check_same_selection(o.kept.tokens, gem, k, pooled, kth, "promptdistill vs gemfilter scores");
    /* and the logits equal the reference that carries exactly those rows' hidden states on */
    double *want = malloc((size_t)vocab * sizeof *want);
    int n_kept = 0;
    ck_assert_int_eq(ref_promptdistill(s.file, ids, n, &r, &k, 1, want_kept, &n_kept, NULL, want), 0);
    ck_assert_int_eq(n_kept, k + 1);
    if (memcmp(want_kept, o.kept.tokens, (size_t)n_kept * sizeof *want_kept) == 0) {
        double e = logits_nmse(o.logits, want, vocab);
        ck_assert_msg(e <= 1e-6, "promptdistill logits nmse %g", e);
    } else {
        fprintf(stderr, "promptdistill: a boundary tie resolved differently; logits not compared\n");
    }
    free(raw), free(pooled), free(want);
    distill_free(&o);
    test_stack_close(&s);
}
END_TEST

START_TEST(promptdistill_multi_stage_truncates_kv_by_tt) {
    test_stack s;
    if (!test_stack_open_shared(&s, STORIES, GC_DTYPE_KEEP))
        return;
    const int n = 120, L = s.dm->hp.n_layers, vocab = s.dm->hp.vocab_size;
    const int layers[2] = {1, 3}, budgets[2] = {50, 20};
    int32_t ids[120], want_kept[120];
    make_ids(ids, n, vocab, 9);
    double *want = malloc((size_t)vocab * sizeof *want);
    int n_kept = 0;
    ck_assert_int_eq(ref_promptdistill(s.file, ids, n, layers, budgets, 2, want_kept, &n_kept, NULL, want), 0);
    /* rows per layer: stage 0 keeps 51, stage 1 keeps 21 */
    const int expect[3][5] = {{120, 120, 51, 51, 21}, {51, 51, 51, 51, 21}, {21, 21, 21, 21, 21}};
    const int tts[3] = {0, 1, -1};
    float *first_decode = NULL;
    for (int t = 0; t < 3; t++) {
        gemcl_method_params p = {0};
        p.n_stages = 2;
        memcpy(p.select_layers, layers, sizeof layers);
        memcpy(p.stage_budgets, budgets, sizeof budgets);
        p.tt = tts[t];
        distill_out o;
        run_distill(&s, ids, n, 32, &p, 0, 0, &o);
        size_t rows = 0;
        for (int l = 0; l < L; l++) {
            ck_assert_msg(o.kv_len[l] == expect[t][l], "tt=%d layer %d: %d rows, want %d", tts[t], l, o.kv_len[l],
                          expect[t][l]);
            rows += (size_t)o.kv_len[l];
        }
        ck_assert_uint_eq(o.kv_bytes, rows * kv_row_bytes(&s) / L);
        ck_assert_int_eq(o.kept.n_tokens, 21);
        if (memcmp(want_kept, o.kept.tokens, 21 * sizeof *want_kept) == 0)
            ck_assert_msg(logits_nmse(o.logits, want, vocab) <= 1e-6, "tt=%d: prefill logits nmse %g", tts[t],
                          logits_nmse(o.logits, want, vocab));
        if (t == 0) { /* tt only changes what decoding sees: tt=0 keeps more, the others differ from it */
            first_decode = o.decode_logits;
            o.decode_logits = NULL;
        } else {
            ck_assert_msg(test_nmse(o.decode_logits, first_decode, (size_t)vocab) > 0, "tt=%d: decode unaffected",
                          tts[t]);
        }
        distill_free(&o);
    }
    free(first_decode), free(want);
    test_stack_close(&s);
}
END_TEST

/* ---- pod-tf ------------------------------------------------------------------------------------------ */

/* pod-tf on stories260K: prefill and decode logits equal the double reference with distant logits taken from
 * the block's first layer; after the prompt the other layers hold keys of S + R - 1 rows only. */
START_TEST(pod_tf_shares_distant_logits_and_drops_their_keys) {
    test_stack s;
    if (!test_stack_open_shared(&s, STORIES, GC_DTYPE_KEEP))
        return;
    const int n = 90, block = 2, sinks = 4, recent = 24, L = s.dm->hp.n_layers, vocab = s.dm->hp.vocab_size;
    int32_t ids[91];
    make_ids(ids, n, vocab, 17);
    const gc_method *m = gc_method_find("pod-tf");
    gc_seq *seq;
    gc_error err;
    gc_seq_params sp = {0, 32};
    ck_assert_int_eq(gc_seq_create(s.ops, s.dm, &sp, &seq, &err), GC_OK);
    ck_assert_int_eq(gc_seq_reserve(seq, n + 2, &err), GC_OK);
    gemcl_method_params p = {0};
    p.block_size = block, p.sink_tokens = sinks, p.budget = sinks + recent;
    gc_method_args a = {s.ops, s.dm, ids, n, 0, 0, 32, NULL, 0};
    gc_kv_args kv = {&p, 2};
    void *state;
    ck_assert_msg(m->start(&a, &kv, seq, &state, &err) == GC_OK, "%s", err.msg);
    float *got = malloc((size_t)vocab * sizeof *got);
    double *want = malloc((size_t)vocab * sizeof *want);
    int32_t next;
    ck_assert_int_eq(gc_seq_prefill(seq, ids, NULL, n, NULL, &next, got, &err), GC_OK);
    ck_assert_int_eq(ref_pod_logits(s.file, ids, n, block, sinks, recent, want), 0);
    ck_assert_msg(logits_nmse(got, want, vocab) <= 1e-6, "prefill nmse %g", logits_nmse(got, want, vocab));
    gc_kept_report kept = {0};
    ck_assert_msg(m->after_prefill(state, seq, &kept, &err) == GC_OK, "%s", err.msg);
    size_t shared_layers = 0;
    for (int l = 0; l < L; l++)
        shared_layers += l % block != 0;
    size_t row = kv_row_bytes(&s) / (size_t)L / 2; /* one K (or V) row of one layer */
    size_t kept_keys = (size_t)sinks + recent - 1;
    ck_assert_uint_eq(gc_seq_kv_bytes(seq), row * (2 * (size_t)L * n - shared_layers * (n - kept_keys)));
    ck_assert_uint_eq(seq->k_cache[1].bytes, ((size_t)seq->kv_rows - (n - kept_keys)) * row); /* really freed */
    ids[n] = next;
    ck_assert_int_eq(gc_seq_decode(seq, next, NULL, NULL, got, &err), GC_OK);
    ck_assert_int_eq(ref_pod_logits(s.file, ids, n + 1, block, sinks, recent, want), 0);
    ck_assert_msg(logits_nmse(got, want, vocab) <= 1e-6, "decode nmse %g", logits_nmse(got, want, vocab));
    /* and it is not full attention: the full reference differs */
    ck_assert_int_eq(ref_logits_last(s.file, ids, n + 1, want), 0);
    ck_assert_msg(logits_nmse(got, want, vocab) > 1e-4, "pod-tf equals full attention (nmse %g)",
                  logits_nmse(got, want, vocab));
    free(got), free(want);
    m->finish(state, seq);
    gc_seq_free(seq);
    test_stack_close(&s);
}
END_TEST

/* Greedy decoding of `steps` tokens through a method's hooks; feed[t] is the token fed at step t and
 * logits (steps, vocab) what step t produced. */
static void decode_steps(test_stack *s, const char *name, const gemcl_method_params *p, const int32_t *ids, int n,
                         int budget, int steps, int32_t *feed, float *logits) {
    const gc_method *m = gc_method_find(name);
    gc_seq *seq;
    gc_error err;
    gc_seq_params sp = {0, 32};
    ck_assert_int_eq(gc_seq_create(s->ops, s->dm, &sp, &seq, &err), GC_OK);
    gc_method_args a = {s->ops, s->dm, ids, n, 0, budget, 32, NULL, 0};
    gc_kv_args kv = {p, steps};
    void *state;
    ck_assert_msg(m->start(&a, &kv, seq, &state, &err) == GC_OK, "%s", err.msg);
    int32_t next;
    ck_assert_int_eq(gc_seq_prefill(seq, ids, NULL, n, NULL, &next, NULL, &err), GC_OK);
    gc_kept_report kept = {0};
    ck_assert_msg(m->after_prefill(state, seq, &kept, &err) == GC_OK, "%s", err.msg);
    for (int t = 0; t < steps; t++) {
        if (m->per_decode_step)
            ck_assert_msg(m->per_decode_step(state, seq, &err) == GC_OK, "%s", err.msg);
        feed[t] = next;
        ck_assert_int_eq(gc_seq_decode(seq, feed[t], NULL, &next, logits + (size_t)t * s->dm->hp.vocab_size, &err),
                         GC_OK);
    }
    free(kept.tokens), free(kept.heads);
    m->finish(state, seq);
    gc_seq_free(seq);
}

/* StreamingLLM over many steps, evicting from the prompt (n > k) or only once decoding fills the cache: each
 * step's logits equal the reference that re-rotates the kept keys to their slots at every eviction. */
START_TEST(streamingllm_matches_slot_reference_over_many_steps) {
    test_stack s;
    if (!test_stack_open_shared(&s, STORIES, GC_DTYPE_KEEP))
        return;
    enum { STEPS = 20 };
    const int vocab = s.dm->hp.vocab_size, cases[2][2] = {{70, 24}, {16, 24}}; /* n, k */
    int32_t ids[70], feed[STEPS];
    float *got = malloc((size_t)STEPS * vocab * sizeof *got);
    double *want = malloc((size_t)STEPS * vocab * sizeof *want);
    for (int c = 0; c < 2; c++) {
        int n = cases[c][0], k = cases[c][1];
        make_ids(ids, n, vocab, 21 + c);
        gemcl_method_params p = {0};
        decode_steps(&s, "streamingllm", &p, ids, n, k, STEPS, feed, got);
        ck_assert_int_eq(ref_streamingllm(s.file, ids, n, k, 4, feed, STEPS, want), 0);
        for (int t = 0; t < STEPS; t++) {
            double e = logits_nmse(got + (size_t)t * vocab, want + (size_t)t * vocab, vocab);
            ck_assert_msg(e <= 1e-6, "n=%d k=%d step %d: logits nmse %g against the slot reference", n, k, t, e);
        }
    }
    free(got), free(want);
    test_stack_close(&s);
}
END_TEST

/* ---- through the public API ---------------------------------------------------------------------------- */

static gemcl_status generate(gemcl_context *ctx, const char *prompt, gemcl_method m, int k, int max_tokens,
                             gemcl_result *res) {
    gemcl_generate_params g = gemcl_generate_default_params();
    g.max_tokens = max_tokens;
    g.method.method = m;
    g.method.budget = k;
    return gemcl_generate(ctx, prompt, strlen(prompt), &g, res);
}

START_TEST(every_method_equals_full_when_the_prompt_fits_the_budget) {
    gemcl_model *model;
    gemcl_context *ctx;
    if (!test_api_open_shared(STORIES, &model, &ctx))
        return;
    const char *prompt = "Once upon a time, there was a little dog named Max. Max liked to run in the park.";
    const int max_tokens = 40;
    gemcl_result full;
    ck_assert_int_eq(generate(ctx, prompt, GEMCL_METHOD_FULL, 0, max_tokens, &full), GC_OK);
    int n = full.n_prompt_tokens;
    const gemcl_method ms[] = {GEMCL_METHOD_SNAPKV, GEMCL_METHOD_H2O, GEMCL_METHOD_STREAMINGLLM,
                               GEMCL_METHOD_PROMPTDISTILL, GEMCL_METHOD_H2O_STREAM, GEMCL_METHOD_POD_TF};
    for (int i = 0; i < 6; i++) {
        /* the streaming methods evict (pod-tf: finds distant keys) once decoding passes the budget: give them
         * room for the generated tokens too */
        bool streams = ms[i] == GEMCL_METHOD_STREAMINGLLM || ms[i] == GEMCL_METHOD_H2O_STREAM ||
                       ms[i] == GEMCL_METHOD_POD_TF;
        int k = streams ? n + max_tokens : n;
        gemcl_result r;
        ck_assert_msg(generate(ctx, prompt, ms[i], k, max_tokens, &r) == GEMCL_OK, "%s",
                      gemcl_context_last_error(ctx));
        ck_assert_msg(strcmp(r.text, full.text) == 0, "%s differs from full:\n%s\n---\n%s", gemcl_method_name(ms[i]),
                      r.text, full.text);
        ck_assert_ptr_null(r.kept_indices);
        ck_assert_ptr_null(r.kept_positions);
        ck_assert_uint_eq(r.kv_bytes, full.kv_bytes);
        gemcl_result_free(&r);
    }
    gemcl_result_free(&full);
    gemcl_context_free(ctx);
    gemcl_model_free(model);
}
END_TEST

START_TEST(kv_bytes_after_prefill_follow_each_formula) {
    gemcl_model *model;
    gemcl_context *ctx;
    if (!test_api_open_shared(STORIES, &model, &ctx))
        return;
    gemcl_model_info info;
    gemcl_model_get_info(model, &info);
    const char *prompt = "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
                         "park with her friends. One day, she saw a big red ball under a tree. She ran to get it, "
                         "but a dog came and took the ball. Lily was sad.";
    gemcl_result full;
    ck_assert_int_eq(generate(ctx, prompt, GEMCL_METHOD_FULL, 0, 8, &full), GC_OK);
    int n = full.n_prompt_tokens, k = 40;
    ck_assert_int_gt(n, k);
    uint64_t row = full.kv_bytes / (uint64_t)n; /* K + V of one token in every layer */
    ck_assert_uint_eq(full.kv_bytes, (uint64_t)n * row);
    const gemcl_method ms[] = {GEMCL_METHOD_SNAPKV, GEMCL_METHOD_H2O, GEMCL_METHOD_STREAMINGLLM,
                               GEMCL_METHOD_H2O_STREAM};
    for (int i = 0; i < 4; i++) {
        gemcl_result r;
        ck_assert_int_eq(generate(ctx, prompt, ms[i], k, 8, &r), GC_OK);
        ck_assert_uint_eq(r.kv_bytes, (uint64_t)k * row); /* L * k * kv_dim * 2 * 4 */
        ck_assert_int_eq(r.n_kept_tokens, k);
        if (ms[i] == GEMCL_METHOD_STREAMINGLLM) {
            ck_assert_ptr_nonnull(r.kept_indices);
        } else {
            ck_assert_ptr_nonnull(r.kept_positions);
            ck_assert_int_eq(r.kept_layers, info.n_layers);
            ck_assert_int_eq(r.kept_per_head, k);
        }
        gemcl_result_free(&r);
    }
    /* pod-tf (blocks of 2, 16 sinks): the non-first layers keep the keys of 16 + (k - 16) - 1 rows; and the
     * context serves a full request exactly as before afterwards */
    gemcl_result pod, again;
    ck_assert_int_eq(generate(ctx, prompt, GEMCL_METHOD_POD_TF, k, 8, &pod), GC_OK);
    uint64_t layer_row = row / (uint64_t)info.n_layers / 2;
    ck_assert_uint_eq(pod.kv_bytes, full.kv_bytes - (uint64_t)(info.n_layers / 2) * (n - (k - 1)) * layer_row);
    gemcl_result_free(&pod);
    ck_assert_int_eq(generate(ctx, prompt, GEMCL_METHOD_FULL, 0, 8, &again), GC_OK);
    ck_assert_str_eq(again.text, full.text);
    ck_assert_uint_eq(again.kv_bytes, full.kv_bytes);
    gemcl_result_free(&again);
    /* promptdistill (one stage at the default r = round(0.4 L), tt 0): layers <= r keep n rows, later k + 1 */
    gemcl_result pd;
    ck_assert_int_eq(generate(ctx, prompt, GEMCL_METHOD_PROMPTDISTILL, k, 8, &pd), GC_OK);
    int L = info.n_layers, r = info.filter_layer;
    ck_assert_uint_eq(pd.kv_bytes, ((uint64_t)(r + 1) * n + (uint64_t)(L - r - 1) * (k + 1)) * row / L);
    ck_assert_int_eq(pd.n_kept_tokens, k + 1);
    gemcl_result_free(&pd);
    gemcl_result_free(&full);
    gemcl_context_free(ctx);
    gemcl_model_free(model);
}
END_TEST


START_TEST(cli_shows_what_each_method_kept_and_its_kv_saving) {
    const char *path = test_shared_path(STORIES);
    if (test_skip_if_missing(path, STORIES))
        return;
    static char out[65536];
    char args[8192];
    const char *prompt = "-p 'Once upon a time, there was a little girl named Lily. She loved to play outside in the "
                         "park with her friends. One day, she saw a big red ball under a tree.' -n 4";
    snprintf(args, sizeof args, "run -m %s %s --method snapkv --budget 20 --window 8 --show-selected", path, prompt);
    ck_assert_int_eq(test_run_cli(args, true, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "kept by snapkv: 20 of") && strstr(out, "layer  4 head  3:   20 kept |"), "%s", out);
    ck_assert_msg(strstr(out, "KV saving ="), "%s", out);
    snprintf(args, sizeof args, "run -m %s %s --method h2o --budget 40 --show-selected=json", path, prompt);
    ck_assert_int_eq(test_run_cli(args, true, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "\"layers\":[[["), "%s", out);
    snprintf(args, sizeof args, "run -m %s %s --method promptdistill --select-layers 1,3 --budgets 20,10 --tt -1 "
             "--show-selected", path, prompt);
    ck_assert_int_eq(test_run_cli(args, true, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "selected by promptdistill: 11 of"), "%s", out);
    snprintf(args, sizeof args, "run -m %s %s --method streamingllm --budget 12 --show-selected", path, prompt);
    ck_assert_int_eq(test_run_cli(args, true, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "selected by streamingllm: 12 of"), "%s", out);
    snprintf(args, sizeof args, "run -m %s %s --method pod-tf --budget 24 --sinks 4", path, prompt);
    ck_assert_int_eq(test_run_cli(args, true, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "KV saving ="), "%s", out);
    snprintf(args, sizeof args, "run -m %s %s --method promptdistill --select-layers 1,3 --budgets 20", path, prompt);
    ck_assert_int_ne(test_run_cli(args, true, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "same number of values"), "%s", out);
    snprintf(args, sizeof args, "run -m %s %s --method promptdistill --tt 2", path, prompt);
    ck_assert_int_ne(test_run_cli(args, true, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "--tt expects an integer in [-1, 1]"), "%s", out);
    snprintf(args, sizeof args, "run --help");
    ck_assert_int_eq(test_run_cli(args, true, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "GQA-native") && strstr(out, "pod-tf is a training-free reading"), "%s", out);
}
END_TEST

/* ---- stride: a method written against engine/plan.h alone ------------------------------------------------ */

START_TEST(stride_selects_sorted_unique_indices_keeping_the_budget_and_the_last) {
    const gc_method *m = gc_method_of(GEMCL_METHOD_STRIDE);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_eq(m, gc_method_find("stride"));
    ck_assert_str_eq(m->name, gemcl_method_name(GEMCL_METHOD_STRIDE));
    const int cases[][2] = {{10, 1}, {10, 2}, {10, 9}, {11, 10}, {100, 7}, {1000, 33}, {4097, 1024}, {5, 5}, {3, 8}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int n = cases[c][0], k = cases[c][1];
        int32_t *ids = calloc((size_t)n, sizeof *ids); /* stride reads no id: any prompt of n tokens */
        gc_method_args a = {NULL, NULL, ids, n, 0, k, 512, NULL, 0};
        gc_selection sel = {0};
        gc_error err;
        ck_assert_msg(m->before_prefill(&a, &sel, &err) == GC_OK, "%s", err.msg);
        if (n <= k) { /* nothing to drop */
            ck_assert_ptr_null(sel.kept);
        } else {
            ck_assert_int_eq(sel.n_kept, k);
            for (int i = 1; i < k; i++)
                ck_assert_msg(sel.kept[i] > sel.kept[i - 1], "n %d k %d: kept[%d] = %d after %d", n, k, i, sel.kept[i],
                              sel.kept[i - 1]);
            ck_assert_int_eq(sel.kept[k - 1], n - 1);
            ck_assert_int_ge(sel.kept[0], 0);
            if (k > 1) { /* evenly spaced: neighbours differ by floor or ceil of (n - 1) / (k - 1) */
                ck_assert_int_eq(sel.kept[0], 0);
                int lo = (n - 1) / (k - 1), hi = lo + ((n - 1) % (k - 1) != 0);
                for (int i = 1; i < k; i++)
                    ck_assert(sel.kept[i] - sel.kept[i - 1] >= lo && sel.kept[i] - sel.kept[i - 1] <= hi);
            }
        }
        free(sel.kept);
        free(ids);
    }
    int32_t one = 0;
    gc_method_args bad = {NULL, NULL, &one, 1, 0, 0, 512, NULL, 0};
    gc_selection sel = {0};
    gc_error err;
    ck_assert_int_eq(m->before_prefill(&bad, &sel, &err), GC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "stride: budget"));
}
END_TEST

/* End to end through the API: stride keeps k evenly spaced tokens, always the last, and what it generates is
 * full attention's answer on exactly those tokens. */
START_TEST(stride_runs_end_to_end_as_full_attention_on_the_kept_tokens) {
    gemcl_model *model;
    gemcl_context *ctx;
    if (!test_api_open_shared(STORIES, &model, &ctx))
        return;
    const char *prompt = "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
                         "park with her friends. One day, she saw a big red ball under a tree.";
    const int k = 16;
    gemcl_result r;
    ck_assert_msg(generate(ctx, prompt, GEMCL_METHOD_STRIDE, k, 12, &r) == GEMCL_OK, "%s",
                  gemcl_context_last_error(ctx));
    int n = r.n_prompt_tokens;
    ck_assert_int_gt(n, k);
    ck_assert_int_eq(r.n_kept_tokens, k);
    ck_assert_ptr_nonnull(r.kept_indices);
    ck_assert_int_eq(r.kept_indices[k - 1], n - 1);
    ck_assert_int_eq(r.filter_layer, -1); /* no layer was read */
    ck_assert_int_gt(r.n_generated, 0);
    const int32_t *kept;
    int n_kept;
    ck_assert_int_eq(gemcl_context_kept_ids(ctx, &kept, &n_kept), GEMCL_OK);
    ck_assert_int_eq(n_kept, k);
    int32_t *ids = malloc((size_t)k * sizeof *ids);
    memcpy(ids, kept, (size_t)k * sizeof *ids);
    gemcl_generate_params g = gemcl_generate_default_params();
    g.max_tokens = 12;
    gemcl_result full;
    ck_assert_msg(gemcl_generate_tokens(ctx, ids, k, &g, &full) == GEMCL_OK, "%s", gemcl_context_last_error(ctx));
    ck_assert_str_eq(r.text, full.text);
    ck_assert_int_eq(r.n_generated, full.n_generated);
    free(ids);
    gemcl_result_free(&full);
    gemcl_result_free(&r);
    gemcl_context_free(ctx);
    gemcl_model_free(model);
}
END_TEST

START_TEST(cli_runs_stride_and_shows_what_it_kept) {
    const char *path = test_shared_path(STORIES);
    if (test_skip_if_missing(path, STORIES))
        return;
    static char out[65536];
    char args[8192];
    snprintf(args, sizeof args, "run -m %s -p 'Once upon a time, there was a little girl named Lily. She loved to "
             "play outside in the park with her friends.' -n 4 --method stride --budget 12 --show-selected", path);
    ck_assert_int_eq(test_run_cli(args, true, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "selected by stride: 12 of"), "%s", out);
}
END_TEST

Suite *suite_methods(void) {
    Suite *s = suite_create("methods");
    TCase *tc = tcase_create("methods");
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, h2o_column_sums_equal_c_reference);
    tcase_add_test(tc, kv_gather_moves_each_heads_own_rows);
    tcase_add_test(tc, evict_lowest_drops_each_heads_lightest_candidate);
    tcase_add_test(tc, snapkv_keeps_window_and_budget_per_head);
    tcase_add_test(tc, h2o_stream_evicts_to_heavy_plus_recent_every_step);
    tcase_add_test(tc, h2o_keeps_heavy_hitters_and_last_32);
    tcase_add_test(tc, streamingllm_keeps_sinks_and_window_at_slot_positions);
    tcase_add_test(tc, streamingllm_matches_slot_reference_over_many_steps);
    tcase_add_test(tc, promptdistill_later_layers_see_k_plus_1_rows_at_original_positions);
    tcase_add_test(tc, promptdistill_multi_stage_truncates_kv_by_tt);
    tcase_add_test(tc, pod_tf_shares_distant_logits_and_drops_their_keys);
    tcase_add_test(tc, every_method_equals_full_when_the_prompt_fits_the_budget);
    tcase_add_test(tc, kv_bytes_after_prefill_follow_each_formula);
    tcase_add_test(tc, cli_shows_what_each_method_kept_and_its_kv_saving);
    tcase_add_test(tc, stride_selects_sorted_unique_indices_keeping_the_budget_and_the_last);
    tcase_add_test(tc, stride_runs_end_to_end_as_full_attention_on_the_kept_tokens);
    tcase_add_test(tc, cli_runs_stride_and_shows_what_it_kept);
    suite_add_tcase(s, tc);
    return s;
}
