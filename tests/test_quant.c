/* test_quant.c - the block quantizers (util/quant.c) and `gemcl quantize`: every type round-trips real
 * weights within its error bound, representable blocks round-trip exactly in ggml's layout, degenerate
 * blocks stay finite, quantized files load with the right per-tensor types, and bad input fails cleanly. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixtures.h"
#include "gemcl.h"
#include "harness.h"
#include "model/gguf.h"
#include "model/model.h"
#include "util/fileio.h"
#include "util/quant.h"

#define STORIES "models/stories260K/stories260K.bin"

/* Relative rms error (rms(y - x) / rms(x)) each type must stay within on real weights. A uniform quantizer
 * of step D errs by D / sqrt(12) rms; a block's step is its range over its levels, and the range of a
 * block of Gaussian-like weights is about 4.5 sigma (32) to 5.5 sigma (256). So q8_0 (255 levels) ~0.005,
 * 5-bit ~0.04, 4-bit ~0.08, q3_k ~0.15 and q2_k ~0.3; the K types fit each 16/32-element sub-block's own
 * scale (and min), which narrows the range, and iq4_nl's grid is denser near zero where most weights are.
 * Measured on stories260K's matrices (259,328 weights): q8_0 0.0054, q4_0 0.085, q4_1 0.082, q5_0 0.043,
 * q5_1 0.038, q2_k 0.316, q3_k 0.152, q4_k 0.074, q5_k 0.037, q6_k 0.0175, iq4_nl 0.077. The bounds leave
 * about 20 % margin, tight enough that a wrong scale or a lost bit fails. */
static const struct type_bound {
    gc_dtype t;
    double rel_rmse;
} bounds[] = {
    {GC_DTYPE_Q8_0, 0.0065}, {GC_DTYPE_Q4_0, 0.1},   {GC_DTYPE_Q4_1, 0.1},     {GC_DTYPE_Q5_0, 0.053},
    {GC_DTYPE_Q5_1, 0.047},  {GC_DTYPE_Q2_K, 0.38},  {GC_DTYPE_Q3_K, 0.185},   {GC_DTYPE_Q4_K, 0.09},
    {GC_DTYPE_Q5_K, 0.045},  {GC_DTYPE_Q6_K, 0.021}, {GC_DTYPE_IQ4_NL, 0.095},
};
#define N_TYPES (sizeof bounds / sizeof bounds[0])

static double bound_of(gc_dtype t) {
    for (size_t i = 0; i < N_TYPES; i++)
        if (bounds[i].t == t)
            return bounds[i].rel_rmse;
    ck_abort_msg("no bound for %s", gc_dtype_name(t));
    return 0;
}

/* Quantizes n values (whole blocks of t) and decodes them into y. */
static void round_trip(gc_dtype t, const float *x, int64_t n, float *y) {
    unsigned char *q = malloc(gc_dtype_row_bytes(t, n));
    ck_assert_ptr_nonnull(q);
    gc_row_from_f32(t, x, n, q);
    gc_row_to_f32(t, q, n, y);
    free(q);
}

static double rel_rmse(const float *y, const float *x, int64_t n) {
    return sqrt(test_nmse(y, x, (size_t)n));
}

static bool all_finite(const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(y[i]))
            return false;
    return true;
}

/* The matrices of a model (token embeddings, then each layer's seven), the views gc_model_file gives. */
static int model_matrices(const gc_model_file *m, const gc_tensor **out, int cap) {
    int n = 0;
    out[n++] = &m->tok_embd;
    for (int l = 0; l < m->hp.n_layers && n + 7 <= cap; l++) {
        const gc_layer_weights *w = &m->layers[l];
        const gc_tensor *ts[] = {&w->wq, &w->wk, &w->wv, &w->wo, &w->w_gate, &w->w_up, &w->w_down};
        for (int i = 0; i < 7; i++)
            out[n++] = ts[i];
    }
    return n;
}

/* Every matrix of stories260K as f32, back to back (each is whole 256-blocks: 512 x 64, 64 x 64, 32 x 64,
 * 172 x 64, 64 x 172). *n receives the count; NULL when the model is absent. */
static float *stories_weights(int64_t *n) {
    const char *path = test_shared_path(STORIES);
    if (test_skip_if_missing(path, STORIES))
        return NULL;
    gc_model_file *m;
    gc_error err;
    ck_assert_msg(gc_model_file_open(path, NULL, &m, &err) == GC_OK, "%s", err.msg);
    const gc_tensor *t[64];
    const int nt = model_matrices(m, t, 64);
    int64_t total = 0;
    for (int i = 0; i < nt; i++) {
        ck_assert_int_eq(gc_tensor_n_elements(t[i]) % 256, 0);
        total += gc_tensor_n_elements(t[i]);
    }
    ck_assert_int_eq(total, 260032 - 11 * 64); /* every parameter but the 11 norms of 64 */
    float *x = malloc((size_t)total * sizeof *x);
    ck_assert_ptr_nonnull(x);
    for (int i = 0, at = 0; i < nt; i++) {
        gc_row_to_f32(t[i]->dtype, t[i]->data, gc_tensor_n_elements(t[i]), x + at);
        at += (int)gc_tensor_n_elements(t[i]);
    }
    gc_model_file_close(m);
    *n = total;
    return x;
}

/* ---- round trips on real weights ---- */

START_TEST(every_type_round_trips_real_weights_within_its_bound) {
    int64_t n;
    float *x = stories_weights(&n);
    if (!x)
        return;
    float *y = malloc((size_t)n * sizeof *y);
    double err[GC_DTYPE_COUNT] = {0};
    for (size_t i = 0; i < N_TYPES; i++) {
        round_trip(bounds[i].t, x, n, y);
        ck_assert(all_finite(y, n));
        err[bounds[i].t] = rel_rmse(y, x, n);
        fprintf(stderr, "quant: %-6s rel rmse %.4f (bound %.3f)\n", gc_dtype_name(bounds[i].t), err[bounds[i].t],
                bounds[i].rel_rmse);
        ck_assert_msg(err[bounds[i].t] < bounds[i].rel_rmse, "%s: %g >= %g", gc_dtype_name(bounds[i].t),
                      err[bounds[i].t], bounds[i].rel_rmse);
    }
    /* more bits, less error: a type that quietly used fewer levels than its layout has would break this */
    const gc_dtype ladder[] = {GC_DTYPE_Q2_K, GC_DTYPE_Q3_K, GC_DTYPE_Q4_K,
                               GC_DTYPE_Q5_K, GC_DTYPE_Q6_K, GC_DTYPE_Q8_0};
    for (size_t i = 1; i < sizeof ladder / sizeof ladder[0]; i++)
        ck_assert_msg(err[ladder[i]] < 0.6 * err[ladder[i - 1]], "%s vs %s", gc_dtype_name(ladder[i]),
                      gc_dtype_name(ladder[i - 1]));
    ck_assert(err[GC_DTYPE_Q5_0] < 0.6 * err[GC_DTYPE_Q4_0] && err[GC_DTYPE_Q5_1] < 0.6 * err[GC_DTYPE_Q4_1]);
    free(x), free(y);
}
END_TEST

/* Quantizing what a type decoded again must give (nearly) the same values: the grid points are
 * representable, so q8_0 and the 32-block linear types reproduce them bit for bit; the searched types
 * (K scales, iq4_nl) may settle on a slightly different scale, within a quarter of their bound. */
START_TEST(requantizing_decoded_values_is_stable) {
    int64_t n;
    float *x = stories_weights(&n);
    if (!x)
        return;
    float *y = malloc((size_t)n * sizeof *y), *z = malloc((size_t)n * sizeof *z);
    for (size_t i = 0; i < N_TYPES; i++) {
        const gc_dtype t = bounds[i].t;
        round_trip(t, x, n, y);
        round_trip(t, y, n, z);
        const bool exact =
            t == GC_DTYPE_Q8_0 || t == GC_DTYPE_Q4_0 || t == GC_DTYPE_Q4_1 || t == GC_DTYPE_Q5_0 || t == GC_DTYPE_Q5_1;
        if (exact)
            ck_assert_msg(memcmp(y, z, (size_t)n * sizeof *y) == 0, "%s: not a fixed point", gc_dtype_name(t));
        else
            ck_assert_msg(rel_rmse(z, y, n) < bounds[i].rel_rmse / 4, "%s: %g", gc_dtype_name(t), rel_rmse(z, y, n));
    }
    free(x), free(y), free(z);
}
END_TEST

/* Gaussian-like synthetic rows (a sum of four uniforms, sigma 1), so the bounds hold without ../shared too,
 * and at scales far from 1: the error is relative as long as the f16 block scales stay normal numbers
 * (q6_k's super-scale is about max|x| / 4096, so max|x| must stay above 4096 * 2^-14 = 0.25; smaller
 * weights lose precision in ggml's layout itself). */
START_TEST(bounds_hold_on_synthetic_rows_at_any_sane_scale) {
    enum { N = 256 * 64 };
    float *u = malloc(4 * N * sizeof *u), *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    test_fill_random(u, 4 * N, 7);
    const float scales[] = {1.0f, 1000.0f, 0.125f};
    for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
        for (int i = 0; i < N; i++)
            x[i] = (u[4 * i] + u[4 * i + 1] + u[4 * i + 2] + u[4 * i + 3]) * 0.866f * scales[s];
        for (size_t i = 0; i < N_TYPES; i++) {
            round_trip(bounds[i].t, x, N, y);
            ck_assert_msg(rel_rmse(y, x, N) < bounds[i].rel_rmse, "%s at scale %g: %g", gc_dtype_name(bounds[i].t),
                          scales[s], rel_rmse(y, x, N));
        }
    }
    free(u), free(x), free(y);
}
END_TEST

/* ---- degenerate blocks ---- */

/* Constants large enough that every f16 scale of every type is a normal number (q4_k's is c / 15 / 63). */
START_TEST(zero_and_constant_blocks_decode_to_themselves) {
    float x[256], y[256];
    const float consts[] = {0.0f, 0.37f, -2.5f, 100.0f};
    for (size_t c = 0; c < sizeof consts / sizeof consts[0]; c++)
        for (size_t i = 0; i < N_TYPES; i++) {
            const gc_dtype t = bounds[i].t;
            const int n = gc_dtype_block(t);
            for (int k = 0; k < n; k++)
                x[k] = consts[c];
            round_trip(t, x, n, y);
            for (int k = 0; k < n; k++) /* within the f16 rounding of the scales (2^-11 each, a few of them) */
                ck_assert_msg(fabsf(y[k] - consts[c]) <= fabsf(consts[c]) * 4e-3f, "%s: %g -> %g", gc_dtype_name(t),
                              consts[c], y[k]);
        }
}
END_TEST

/* Magnitudes beyond f16's range saturate and tiny ones flush toward zero, but nothing decodes to inf or
 * NaN and the error never exceeds the data. */
START_TEST(huge_and_tiny_magnitudes_stay_finite) {
    enum { N = 256 * 4 };
    float x[N], y[N];
    const float scales[] = {1e30f, FLT_MAX / 2, 1e-30f, 1e-42f /* subnormal */};
    for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
        test_fill_random(x, N, 11);
        for (int i = 0; i < N; i++)
            x[i] *= scales[s];
        x[5] = 0.0f;
        for (size_t i = 0; i < N_TYPES; i++) {
            round_trip(bounds[i].t, x, N, y);
            ck_assert_msg(all_finite(y, N), "%s at %g", gc_dtype_name(bounds[i].t), scales[s]);
            if (scales[s] < 1.0f)
                ck_assert_msg(test_nmse(y, x, N) <= 1.0 + 1e-6, "%s at %g", gc_dtype_name(bounds[i].t), scales[s]);
        }
    }
}
END_TEST

/* ---- layouts: representable blocks round-trip exactly, and fields sit at ggml's offsets ---- */

static uint16_t f16_field(const unsigned char *b, size_t offset) {
    uint16_t h;
    memcpy(&h, b + offset, 2);
    return h;
}

/* Level of element i in a grid block: every level of a block (or sub-block) of 16 or more elements appears,
 * and elements that share a byte (j and j + 16 in a 32-block, l, l + 32, l + 64, l + 96 in a K block) get
 * different levels, so a bit written to the wrong place cannot go unnoticed. */
static int grid_level(int i, int sub, int levels) {
    return (i * 7 + i / sub) % levels;
}

/* Values on a type's grid: 32-block types use every level (so the block's extremes are present) with a
 * power-of-two scale; K types give each sub-block its own scale k/64 (and min), the largest at the top of
 * the scale range, so the sub-block fits and the super-scales are exact too. */
static void grid_block(gc_dtype t, float *x) {
    switch (t) {
    case GC_DTYPE_Q8_0:
        for (int i = 0; i < 32; i++)
            x[i] = 0.0078125f * (float)((i * 37) % 255 - 127);
        return;
    case GC_DTYPE_Q4_0:
    case GC_DTYPE_Q5_0: {
        const int half = t == GC_DTYPE_Q4_0 ? 8 : 16;
        for (int i = 0; i < 32; i++)
            x[i] = 0.125f * (float)(grid_level(i, 16, 2 * half) - half);
        return;
    }
    case GC_DTYPE_Q4_1:
    case GC_DTYPE_Q5_1: {
        const int levels = t == GC_DTYPE_Q4_1 ? 16 : 32;
        for (int i = 0; i < 32; i++)
            x[i] = 0.0625f * (float)grid_level(i, 16, levels) - 1.5f;
        return;
    }
    case GC_DTYPE_IQ4_NL:
        for (int i = 0; i < 32; i++)
            x[i] = 0.015625f * (float)gc_iq4nl_values[grid_level(i, 16, 16)];
        return;
    case GC_DTYPE_Q2_K: /* 16 x 16: L 0..3, scale k/16 (k <= 15), min n/32 (n <= 15) */
        for (int i = 0; i < 256; i++)
            x[i] = (float)(1 + (i / 16) % 15) / 16.0f * (float)grid_level(i, 16, 4) - (float)((i / 16) % 16) / 32.0f;
        return;
    case GC_DTYPE_Q3_K: /* 16 x 16: L -4..3, scale d * sc, sc = -32 in sub-block 0 */
        for (int i = 0; i < 256; i++) {
            const int j = i / 16, sc = j == 0 ? -32 : (j * 13) % 63 - 31;
            x[i] = 0.00390625f * (float)sc * (float)(grid_level(i, 16, 8) - 4);
        }
        return;
    case GC_DTYPE_Q4_K:
    case GC_DTYPE_Q5_K: { /* 8 x 32: L 0..nmax, scale k/64 (k 63 - 5j), min n/128 (n 7j, 63 in the last) */
        const int levels = t == GC_DTYPE_Q4_K ? 16 : 32;
        for (int i = 0; i < 256; i++) {
            const int j = i / 32, k = 63 - 5 * j, m = j == 7 ? 63 : 7 * j;
            x[i] = (float)k / 64.0f * (float)grid_level(i, 32, levels) - (float)m / 128.0f;
        }
        return;
    }
    case GC_DTYPE_Q6_K: /* 16 x 16: L -32..28 step 4, scale d * sc, sc = -128 in sub-block 0 */
        for (int i = 0; i < 256; i++) {
            const int j = i / 16, sc = j == 0 ? -128 : (j * 37) % 255 - 127;
            x[i] = 0.000244140625f * (float)sc * (float)(4 * grid_level(i, 16, 16) - 32);
        }
        return;
    default: ck_abort_msg("no grid block for %s", gc_dtype_name(t));
    }
}

START_TEST(values_on_the_grid_round_trip_exactly) {
    float x[256], y[256];
    for (size_t i = 0; i < N_TYPES; i++) {
        const gc_dtype t = bounds[i].t;
        const int n = gc_dtype_block(t);
        grid_block(t, x);
        round_trip(t, x, n, y);
        for (int k = 0; k < n; k++)
            ck_assert_msg(y[k] == x[k], "%s[%d]: %.9g -> %.9g", gc_dtype_name(t), k, x[k], y[k]);
    }
}
END_TEST

/* ggml's struct offsets (ggml-common.h) read directly from bytes the quantizer wrote for grid blocks. */
START_TEST(fields_sit_at_ggml_offsets) {
    float x[256];
    unsigned char b[256];
    grid_block(GC_DTYPE_Q4_0, x); /* d = 0.125 at 0; qs[1] holds elements 1 (low nibble) and 17 (high) */
    gc_quantize_block(GC_DTYPE_Q4_0, x, b);
    ck_assert_uint_eq(f16_field(b, 0), gc_f32_to_f16(0.125f));
    ck_assert_uint_eq(b[2 + 1], grid_level(1, 16, 16) | grid_level(17, 16, 16) << 4);
    grid_block(GC_DTYPE_Q5_1, x); /* d = 1/16 at 0, m = -1.5 at 2, fifth bits at 4, nibbles at 8 */
    gc_quantize_block(GC_DTYPE_Q5_1, x, b);
    ck_assert_uint_eq(f16_field(b, 0), gc_f32_to_f16(0.0625f));
    ck_assert_uint_eq(f16_field(b, 2), gc_f32_to_f16(-1.5f));
    uint32_t qh, want = 0;
    memcpy(&qh, b + 4, 4);
    for (int i = 0; i < 32; i++)
        want |= (uint32_t)(grid_level(i, 16, 32) >> 4) << i;
    ck_assert_uint_eq(qh, want);
    ck_assert_uint_eq(b[8], (grid_level(0, 16, 32) & 15) | (grid_level(16, 16, 32) & 15) << 4);
    grid_block(GC_DTYPE_Q2_K, x); /* scales[j] = k | n << 4; d = 1/16 at 80, dmin = 1/32 at 82 */
    gc_quantize_block(GC_DTYPE_Q2_K, x, b);
    ck_assert_uint_eq(b[3], 4 | 3 << 4);
    ck_assert_uint_eq(f16_field(b, 80), gc_f32_to_f16(1.0f / 16));
    ck_assert_uint_eq(f16_field(b, 82), gc_f32_to_f16(1.0f / 32));
    grid_block(GC_DTYPE_Q3_K, x); /* d = 1/256 at 108 */
    gc_quantize_block(GC_DTYPE_Q3_K, x, b);
    ck_assert_uint_eq(f16_field(b, 108), gc_f32_to_f16(1.0f / 256));
    grid_block(GC_DTYPE_Q4_K, x); /* d = 1/64 at 0, dmin = 1/128 at 2, scale 0 = 63 in the low 6 bits of byte 4 */
    gc_quantize_block(GC_DTYPE_Q4_K, x, b);
    ck_assert_uint_eq(f16_field(b, 0), gc_f32_to_f16(1.0f / 64));
    ck_assert_uint_eq(f16_field(b, 2), gc_f32_to_f16(1.0f / 128));
    ck_assert_uint_eq(b[4] & 63, 63);
    grid_block(GC_DTYPE_Q6_K, x); /* int8 scales at 192 (sub-block 0: -128), d = 2^-12 at 208 */
    gc_quantize_block(GC_DTYPE_Q6_K, x, b);
    ck_assert_int_eq((int8_t)b[192], -128);
    ck_assert_uint_eq(f16_field(b, 208), gc_f32_to_f16(0.000244140625f));
}
END_TEST

/* ---- gemcl quantize: files ---- */

static char *temp_dir(void) {
    char *dir = strdup("/tmp/gemcl-quant-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

/* Removes the files in dir, then dir (the tests write no subdirectories except where they remove them). */
static void remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (unlink(path) != 0)
                rmdir(path);
        }
    if (d)
        closedir(d);
    rmdir(dir);
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d)
        closedir(d);
    return n;
}

static gc_model_file *open_ok(const char *path) {
    gc_model_file *m;
    gc_error err;
    ck_assert_msg(gc_model_file_open(path, NULL, &m, &err) == GC_OK, "%s", err.msg);
    return m;
}

/* An integer metadata key of a GGUF file (-1 when absent). */
static int64_t gguf_int(const char *path, const char *key) {
    gc_mapped_file map;
    gc_gguf *g;
    gc_error err;
    ck_assert_msg(gc_file_map(path, &map, &err) == GC_OK, "%s", err.msg);
    ck_assert_msg(gc_gguf_parse(path, map.data, map.size, &g, &err) == GC_OK, "%s", err.msg);
    int64_t v = -1;
    if (!gc_gguf_get_int(g, key, &v))
        v = -1;
    gc_gguf_free(g);
    gc_file_unmap(&map);
    return v;
}

static int quantize_cli(const char *args, char *out, size_t cap) {
    return test_run_cli(args, true, out, cap);
}

/* b holds a's values within type b's bound (f16 and f32 tensors: within f16 rounding). */
static void assert_quantized_of(const gc_tensor *a, const gc_tensor *b) {
    ck_assert_int_eq(a->n_dims, b->n_dims);
    for (int d = 0; d < a->n_dims; d++)
        ck_assert_int_eq(a->shape[d], b->shape[d]);
    const int64_t n = gc_tensor_n_elements(a);
    float *x = malloc((size_t)n * 4), *y = malloc((size_t)n * 4);
    gc_row_to_f32(a->dtype, a->data, n, x);
    gc_row_to_f32(b->dtype, b->data, n, y);
    /* one tensor of a few thousand weights errs more than the whole model's average: 1.5 x the bound */
    const double bound = gc_dtype_is_quantized(b->dtype) ? 1.5 * bound_of(b->dtype) : 1e-3;
    ck_assert_msg(rel_rmse(y, x, n) < bound, "%s (%s): %g", b->name, gc_dtype_name(b->dtype), rel_rmse(y, x, n));
    free(x), free(y);
}

/* Every tensor of q is orig's, quantized within its type's bound, same shapes. */
static void assert_model_quantized_of(const gc_model_file *orig, const gc_model_file *q) {
    assert_quantized_of(&orig->tok_embd, &q->tok_embd);
    assert_quantized_of(&orig->out_norm, &q->out_norm);
    for (int l = 0; l < orig->hp.n_layers; l++) {
        const gc_layer_weights *a = &orig->layers[l], *b = &q->layers[l];
        const gc_tensor *as[] = {&a->attn_norm, &a->wq,     &a->wk,   &a->wv,    &a->wo,
                                 &a->ffn_norm,  &a->w_gate, &a->w_up, &a->w_down};
        const gc_tensor *bs[] = {&b->attn_norm, &b->wq,     &b->wk,   &b->wv,    &b->wo,
                                 &b->ffn_norm,  &b->w_gate, &b->w_up, &b->w_down};
        for (size_t i = 0; i < sizeof as / sizeof as[0]; i++)
            assert_quantized_of(as[i], bs[i]);
    }
}

/* stories260K (width 64, ffn 172, 5 layers, tied embeddings): which type each matrix gets. */
typedef struct stories_expect {
    const char *type;
    gc_dtype matrices;    /* every matrix not named below */
    gc_dtype embd;        /* token_embd (the output matrix too: tied) */
    gc_dtype attn_v_more; /* attn_v of layers 2 and 4, llama.cpp's use_more_bits layers of 5 */
    int64_t file_type;
} stories_expect;

START_TEST(cli_quantize_stories_writes_each_matrix_as_its_type) {
    const char *src = test_shared_path(STORIES);
    if (test_skip_if_missing(src, STORIES))
        return;
    /* rows of 64 are not whole 256-blocks: q4_k falls back to q5_0, and Q4_K_M's q6_k (output, the
     * more-bits attn_v) to q8_0; ffn_down's rows of 172 are not whole 32-blocks: f16 in every case */
    const stories_expect cases[] = {
        {"q4_0", GC_DTYPE_Q4_0, GC_DTYPE_Q4_0, GC_DTYPE_Q4_0, 2},
        {"q4_k", GC_DTYPE_Q5_0, GC_DTYPE_Q5_0, GC_DTYPE_Q5_0, 15},
        {"Q4_K_M", GC_DTYPE_Q5_0, GC_DTYPE_Q8_0, GC_DTYPE_Q8_0, 15},
        {"q8_0", GC_DTYPE_Q8_0, GC_DTYPE_Q8_0, GC_DTYPE_Q8_0, 7},
    };
    char *dir = temp_dir(), out[4096], args[8192], text[8192];
    gc_model_file *orig = open_ok(src);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        snprintf(out, sizeof out, "%s/%s.gguf", dir, cases[c].type);
        snprintf(args, sizeof args, "quantize %s %s %s", src, out, cases[c].type);
        ck_assert_msg(quantize_cli(args, text, sizeof text) == 0, "%s", text);
        gc_model_file *q = open_ok(out);
        ck_assert_int_eq(gguf_int(out, "general.file_type"), cases[c].file_type);
        ck_assert_int_eq(gguf_int(out, "general.quantization_version"), 2);
        ck_assert_str_eq(q->tokenizer_path, out); /* the vocabulary travelled as metadata */
        ck_assert_int_eq(q->hp.vocab_size, 512);
        ck_assert_int_eq(q->tok_embd.dtype, cases[c].embd);
        for (int l = 0; l < 5; l++) {
            const gc_layer_weights *w = &q->layers[l];
            ck_assert_int_eq(w->wv.dtype, l == 2 || l == 4 ? cases[c].attn_v_more : cases[c].matrices);
            ck_assert_int_eq(w->wq.dtype, cases[c].matrices);
            ck_assert_int_eq(w->wk.dtype, cases[c].matrices);
            ck_assert_int_eq(w->wo.dtype, cases[c].matrices);
            ck_assert_int_eq(w->w_gate.dtype, cases[c].matrices);
            ck_assert_int_eq(w->w_up.dtype, cases[c].matrices);
            ck_assert_int_eq(w->w_down.dtype, GC_DTYPE_F16);
            ck_assert_int_eq(w->attn_norm.dtype, GC_DTYPE_F32);
            ck_assert_int_eq(w->ffn_norm.dtype, GC_DTYPE_F32);
        }
        assert_model_quantized_of(orig, q);
        gc_model_file_close(q);
    }
    /* gemcl inspect tells the same story: 11 norms f32, 5 ffn_down f16, 31 matrices q4_0 */
    snprintf(args, sizeof args, "inspect %s/q4_0.gguf", dir);
    static char listing[65536];
    ck_assert_int_eq(test_run_cli(args, false, listing, sizeof listing), 0);
    ck_assert_ptr_nonnull(strstr(listing, "dtypes: f32 x11 f16 x5 q4_0 x31\n"));
    ck_assert_ptr_nonnull(strstr(listing, "blk.4.attn_v.weight                              q4_0   [32, 64]"));
    ck_assert_ptr_nonnull(strstr(listing, "general.file_type                            u32 2\n"));
    gc_model_file_close(orig);
    remove_dir(dir);
    free(dir);
}
END_TEST

/* The k256 model (2 layers, every row whole 256-blocks, untied output, 4 heads on 2 KV heads) through
 * llama.cpp's mixes: layer 1 is a use_more_bits layer of 2, layer 0 is not. */
START_TEST(mixes_give_the_tensors_llama_cpp_gives_more_bits) {
    const char *src = test_fixture_k256("f32");
    const struct {
        const char *type;
        gc_dtype base, output, attn_v[2], ffn_down[2], attn_output;
        int64_t file_type;
    } cases[] = {
        {"Q4_K_M",
         GC_DTYPE_Q4_K,
         GC_DTYPE_Q6_K,
         {GC_DTYPE_Q4_K, GC_DTYPE_Q6_K},
         {GC_DTYPE_Q4_K, GC_DTYPE_Q6_K},
         GC_DTYPE_Q4_K,
         15},
        {"Q5_K_M",
         GC_DTYPE_Q5_K,
         GC_DTYPE_Q6_K,
         {GC_DTYPE_Q5_K, GC_DTYPE_Q6_K},
         {GC_DTYPE_Q5_K, GC_DTYPE_Q6_K},
         GC_DTYPE_Q5_K,
         17},
        {"Q4_K_S",
         GC_DTYPE_Q4_K,
         GC_DTYPE_Q6_K,
         {GC_DTYPE_Q5_K, GC_DTYPE_Q5_K},
         {GC_DTYPE_Q4_K, GC_DTYPE_Q4_K},
         GC_DTYPE_Q4_K,
         14},
        {"Q5_K_S",
         GC_DTYPE_Q5_K,
         GC_DTYPE_Q6_K,
         {GC_DTYPE_Q5_K, GC_DTYPE_Q5_K},
         {GC_DTYPE_Q5_K, GC_DTYPE_Q5_K},
         GC_DTYPE_Q5_K,
         16},
        {"Q3_K_M",
         GC_DTYPE_Q3_K,
         GC_DTYPE_Q6_K,
         {GC_DTYPE_Q5_K, GC_DTYPE_Q5_K},
         {GC_DTYPE_Q4_K, GC_DTYPE_Q4_K},
         GC_DTYPE_Q4_K,
         12},
        /* n_heads / n_kv_heads = 2 < 4: attn_v q3_k */
        {"q2_k",
         GC_DTYPE_Q2_K,
         GC_DTYPE_Q6_K,
         {GC_DTYPE_Q3_K, GC_DTYPE_Q3_K},
         {GC_DTYPE_Q3_K, GC_DTYPE_Q3_K},
         GC_DTYPE_Q3_K,
         10},
    };
    char *dir = temp_dir(), out[4096], err[4096];
    gc_model_file *orig = open_ok(src);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        snprintf(out, sizeof out, "%s/%s.gguf", dir, cases[c].type);
        ck_assert_msg(gemcl_quantize(src, out, cases[c].type, NULL, err, sizeof err) == GEMCL_OK, "%s", err);
        gc_model_file *q = open_ok(out);
        ck_assert_int_eq(gguf_int(out, "general.file_type"), cases[c].file_type);
        ck_assert_int_eq(q->lm_head.dtype, cases[c].output);
        ck_assert_int_eq(q->tok_embd.dtype, cases[c].base);
        for (int l = 0; l < 2; l++) {
            ck_assert_msg(q->layers[l].wv.dtype == cases[c].attn_v[l], "%s layer %d", cases[c].type, l);
            ck_assert_msg(q->layers[l].w_down.dtype == cases[c].ffn_down[l], "%s layer %d", cases[c].type, l);
            ck_assert_int_eq(q->layers[l].wo.dtype, cases[c].attn_output);
            ck_assert_int_eq(q->layers[l].wq.dtype, cases[c].base);
            ck_assert_int_eq(q->layers[l].w_up.dtype, cases[c].base);
            ck_assert_int_eq(q->layers[l].ffn_norm.dtype, GC_DTYPE_F32);
        }
        assert_model_quantized_of(orig, q);
        gc_model_file_close(q);
    }
    gc_model_file_close(orig);
    remove_dir(dir);
    free(dir);
}
END_TEST

/* The fixtures the other suites use: one per type, each matrix of that type where its rows allow. */
START_TEST(fixtures_exist_for_every_type) {
    const gc_dtype fallback_64[GC_DTYPE_COUNT] = {[GC_DTYPE_Q2_K] = GC_DTYPE_Q4_0,
                                                  [GC_DTYPE_Q3_K] = GC_DTYPE_Q4_0,
                                                  [GC_DTYPE_Q4_K] = GC_DTYPE_Q5_0,
                                                  [GC_DTYPE_Q5_K] = GC_DTYPE_Q5_1,
                                                  [GC_DTYPE_Q6_K] = GC_DTYPE_Q8_0};
    for (size_t i = 0; i < N_TYPES; i++) {
        const gc_dtype t = bounds[i].t;
        const bool k = gc_dtype_block(t) == 256;
        const char *path = test_fixture_stories(gc_dtype_name(t));
        if (path) {
            gc_model_file *m = open_ok(path);
            ck_assert_int_eq(m->layers[3].wq.dtype, k ? fallback_64[t] : t);
            ck_assert_int_eq(m->tok_embd.dtype, k ? fallback_64[t] : t);
            gc_model_file_close(m);
        }
        gc_model_file *m = open_ok(test_fixture_k256(gc_dtype_name(t)));
        int n;
        const gc_tensor *ts = gc_model_file_tensors(m, &n);
        for (int j = 0; j < n; j++)
            ck_assert_msg(ts[j].dtype == (ts[j].n_dims == 2 ? t : GC_DTYPE_F32), "%s: %s", ts[j].name,
                          gc_dtype_name(ts[j].dtype));
        gc_model_file_close(m);
    }
}
END_TEST

/* The writer streams chunks and shares each chunk's blocks among threads: what lands in the file must be
 * exactly gc_row_from_f32's bytes for the whole tensor, whatever the split. */
START_TEST(quantized_files_hold_the_codec_bytes_of_their_source) {
    gc_model_file *src = open_ok(test_fixture_k256("f32"));
    const gc_dtype types[] = {GC_DTYPE_Q4_K, GC_DTYPE_Q6_K, GC_DTYPE_Q2_K, GC_DTYPE_Q8_0};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        gc_model_file *q = open_ok(test_fixture_k256(gc_dtype_name(types[k])));
        int na, nb;
        const gc_tensor *a = gc_model_file_tensors(src, &na), *b = gc_model_file_tensors(q, &nb);
        ck_assert_int_eq(na, nb);
        for (int i = 0; i < na; i++) {
            const int64_t n = gc_tensor_n_elements(&a[i]);
            unsigned char *want = malloc(gc_dtype_row_bytes(b[i].dtype, n));
            ck_assert_str_eq(a[i].name, b[i].name);
            gc_row_from_f32(b[i].dtype, a[i].data, n, want); /* the source is f32 */
            ck_assert_uint_eq(b[i].nbytes, gc_dtype_row_bytes(b[i].dtype, n));
            ck_assert_msg(memcmp(want, b[i].data, b[i].nbytes) == 0, "%s: %s", q->path, b[i].name);
            free(want);
        }
        gc_model_file_close(q);
    }
    gc_model_file_close(src);
}
END_TEST

/* quantize q8_0 and convert --dtype q8_0 share the quantizer and the writer: the same tensor bytes. */
START_TEST(quantize_q8_0_writes_what_convert_q8_0_writes) {
    const char *q8 = test_fixture_stories("q8_0");
    if (!q8)
        return;
    char *dir = temp_dir(), out[4096], args[8192], text[4096];
    snprintf(out, sizeof out, "%s/convert-q8.gguf", dir);
    snprintf(args, sizeof args, "convert %s %s --to gguf --dtype q8_0", test_shared_path(STORIES), out);
    ck_assert_msg(quantize_cli(args, text, sizeof text) == 0, "%s", text);
    gc_model_file *a = open_ok(q8), *b = open_ok(out);
    int na, nb;
    const gc_tensor *ta = gc_model_file_tensors(a, &na), *tb = gc_model_file_tensors(b, &nb);
    ck_assert_int_eq(na, nb);
    for (int i = 0; i < na; i++) {
        ck_assert_str_eq(ta[i].name, tb[i].name);
        ck_assert_int_eq(ta[i].dtype, tb[i].dtype);
        ck_assert_uint_eq(ta[i].nbytes, tb[i].nbytes);
        ck_assert_msg(memcmp(ta[i].data, tb[i].data, ta[i].nbytes) == 0, "%s", ta[i].name);
    }
    gc_model_file_close(a), gc_model_file_close(b);
    remove_dir(dir);
    free(dir);
}
END_TEST

/* A q8_0 file runs on the device (q8_0 kernels exist today; the other types' kernels come with their
 * own tests): its logits after a prompt stay close to the f32 original's. */
START_TEST(q8_0_quantized_model_runs_close_to_the_original) {
    const char *q8 = test_fixture_stories("q8_0"), *src = test_shared_path(STORIES);
    if (!q8)
        return;
    const int32_t prompt[] = {1, 403, 407, 261, 378, 434, 271, 260};
    float *logits[2];
    int32_t next[2];
    const char *paths[2] = {src, q8};
    for (int k = 0; k < 2; k++) {
        char err[4096];
        gemcl_model *model;
        gemcl_context *ctx;
        ck_assert_msg(gemcl_model_load(paths[k], NULL, &model, err, sizeof err) == GEMCL_OK, "%s", err);
        ck_assert_msg(gemcl_context_create(model, NULL, &ctx, err, sizeof err) == GEMCL_OK, "%s", err);
        ck_assert_msg(gemcl_context_prefill(ctx, prompt, 8, &next[k]) == GEMCL_OK, "%s", gemcl_context_last_error(ctx));
        logits[k] = malloc(512 * sizeof(float));
        ck_assert_int_eq(gemcl_context_logits(ctx, logits[k], 512), GEMCL_OK);
        gemcl_context_free(ctx);
        gemcl_model_free(model);
    }
    const double nmse = test_nmse(logits[1], logits[0], 512);
    fprintf(stderr, "quant: stories260K q8_0 vs f32 logits nmse %.2e\n", nmse);
    ck_assert_msg(nmse < 1e-3, "logits nmse %g", nmse);
    int above = 0; /* the q8_0 model's greedy token is among the original's top 3 (the tiny model has near ties) */
    for (int i = 0; i < 512; i++)
        above += logits[0][i] > logits[0][next[1]];
    ck_assert_msg(above < 3, "q8_0 picks %d, ranked %d by the original (which picks %d)", next[1], above + 1, next[0]);
    free(logits[0]), free(logits[1]);
}
END_TEST

/* ---- bad input ---- */

/* The CLI's failure output is exactly one line. */
static void assert_one_line(const char *text, const char *must_contain) {
    const char *nl = strchr(text, '\n');
    ck_assert_msg(nl && nl[1] == '\0', "not one line: %s", text);
    ck_assert_msg(strstr(text, must_contain), "'%s' not in: %s", must_contain, text);
}

START_TEST(bad_arguments_are_one_line_usage_errors) {
    char *dir = temp_dir(), args[8192], text[8192];
    const char *src = test_shared_path(STORIES);
    snprintf(args, sizeof args, "quantize %s %s/o.gguf q9_9", src ? src : "in.bin", dir);
    ck_assert_int_eq(quantize_cli(args, text, sizeof text), 2);
    assert_one_line(text, "unknown type 'q9_9'");
    snprintf(args, sizeof args, "quantize in.bin %s/o.gguf q4_0 --frobnicate", dir);
    ck_assert_int_eq(quantize_cli(args, text, sizeof text), 2);
    assert_one_line(text, "--frobnicate");
    ck_assert_int_eq(quantize_cli("quantize in.bin out.gguf", text, sizeof text), 2);
    assert_one_line(text, "IN OUT TYPE");
    ck_assert_int_eq(count_entries(dir), 0);
    ck_assert_int_eq(quantize_cli("quantize --help", text, sizeof text), 0);
    ck_assert_ptr_nonnull(strstr(text, "Q4_K_M"));
    ck_assert_ptr_nonnull(strstr(text, "iq4_nl"));
    char err[1024];
    ck_assert_int_eq(gemcl_quantize(NULL, "o.gguf", "q4_0", NULL, err, sizeof err), GEMCL_ERR_INVALID_ARG);
    ck_assert_int_eq(gemcl_quantize("in.bin", "o.gguf", NULL, NULL, err, sizeof err), GEMCL_ERR_INVALID_ARG);
    remove_dir(dir);
    free(dir);
}
END_TEST

START_TEST(bad_files_fail_with_one_line_and_leave_nothing_behind) {
    const char *src = test_shared_path(STORIES);
    if (test_skip_if_missing(src, STORIES))
        return;
    char *dir = temp_dir(), args[8192], text[8192], out[4096];
    /* missing input */
    snprintf(args, sizeof args, "quantize %s/missing.bin %s/o.gguf q4_0", dir, dir);
    ck_assert_int_eq(quantize_cli(args, text, sizeof text), 1);
    assert_one_line(text, "missing.bin");
    /* an output directory that does not exist */
    snprintf(args, sizeof args, "quantize %s %s/no/such/dir/o.gguf q4_0", src, dir);
    ck_assert_int_eq(quantize_cli(args, text, sizeof text), 1);
    assert_one_line(text, "o.gguf");
    ck_assert_int_eq(count_entries(dir), 0);
    /* an output path that is a directory: the data is written, then cannot take its name */
    snprintf(out, sizeof out, "%s/taken", dir);
    ck_assert_int_eq(mkdir(out, 0700), 0);
    snprintf(args, sizeof args, "quantize %s %s q4_0", src, out);
    ck_assert_int_eq(quantize_cli(args, text, sizeof text), 1);
    assert_one_line(text, "taken");
    ck_assert_int_eq(count_entries(dir), 1); /* no temporary file left beside it */
    ck_assert_int_eq(count_entries(out), 0);
    /* an already-quantized source needs --allow-requantize */
    const char *q4 = test_fixture_stories("q4_0");
    snprintf(out, sizeof out, "%s/re.gguf", dir);
    snprintf(args, sizeof args, "quantize %s %s q4_k", q4, out);
    ck_assert_int_eq(quantize_cli(args, text, sizeof text), 1);
    assert_one_line(text, "already q4_0");
    ck_assert_int_eq(access(out, F_OK), -1);
    snprintf(args, sizeof args, "quantize %s %s q4_k --allow-requantize", q4, out);
    ck_assert_msg(quantize_cli(args, text, sizeof text) == 0, "%s", text);
    ck_assert_int_eq(access(out, F_OK), 0);
    remove_dir(dir);
    free(dir);
}
END_TEST

static void quant_block_cases(Suite *s) {
    TCase *tc = tcase_create("blocks");
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, every_type_round_trips_real_weights_within_its_bound);
    tcase_add_test(tc, requantizing_decoded_values_is_stable);
    tcase_add_test(tc, bounds_hold_on_synthetic_rows_at_any_sane_scale);
    tcase_add_test(tc, zero_and_constant_blocks_decode_to_themselves);
    tcase_add_test(tc, huge_and_tiny_magnitudes_stay_finite);
    tcase_add_test(tc, values_on_the_grid_round_trip_exactly);
    tcase_add_test(tc, fields_sit_at_ggml_offsets);
    suite_add_tcase(s, tc);
}

static void quant_file_cases(Suite *s) {
    TCase *tc = tcase_create("files");
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, cli_quantize_stories_writes_each_matrix_as_its_type);
    tcase_add_test(tc, mixes_give_the_tensors_llama_cpp_gives_more_bits);
    tcase_add_test(tc, fixtures_exist_for_every_type);
    tcase_add_test(tc, quantized_files_hold_the_codec_bytes_of_their_source);
    tcase_add_test(tc, quantize_q8_0_writes_what_convert_q8_0_writes);
    tcase_add_test(tc, q8_0_quantized_model_runs_close_to_the_original);
    tcase_add_test(tc, bad_arguments_are_one_line_usage_errors);
    tcase_add_test(tc, bad_files_fail_with_one_line_and_leave_nothing_behind);
    suite_add_tcase(s, tc);
}

Suite *suite_quant(void) {
    Suite *s = suite_create("quant");
    quant_block_cases(s);
    quant_file_cases(s);
    return s;
}
