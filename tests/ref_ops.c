/* ref_ops.c - plain C references for test_ops.c (see ref_ops.h). */
#include "ref_ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void q8_0_encode_row(uint8_t *dst, const float *x, int cols, float *dequant) {
    for (int b = 0; b < cols / 32; b++, dst += 34) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(x[b * 32 + j]));
        uint16_t h = gc_f32_to_f16(amax / 127.0f);
        float d = gc_f16_to_f32(h), id = d != 0.0f ? 1.0f / d : 0.0f;
        memcpy(dst, &h, 2);
        for (int j = 0; j < 32; j++) {
            int q = (int)lrintf(x[b * 32 + j] * id);
            q = q > 127 ? 127 : q < -127 ? -127 : q;
            dst[2 + j] = (uint8_t)(int8_t)q;
            dequant[b * 32 + j] = d * (float)q;
        }
    }
}

ref_weight ref_weight_make(const float *w, int rows, int cols, gc_dtype dtype) {
    ref_weight rw;
    size_t row_bytes = gc_dtype_row_bytes(dtype, cols), n = (size_t)rows * cols;
    rw.bytes = row_bytes * rows;
    rw.data = malloc(rw.bytes);
    rw.dequant = malloc(n * sizeof(float));
    for (int r = 0; r < rows; r++) {
        const float *x = w + (size_t)r * cols;
        float *dq = rw.dequant + (size_t)r * cols;
        uint8_t *row = (uint8_t *)rw.data + row_bytes * r;
        for (int j = 0; j < cols && dtype != GC_DTYPE_Q8_0; j++) {
            uint16_t h = dtype == GC_DTYPE_F16 ? gc_f32_to_f16(x[j]) : gc_f32_to_bf16(x[j]);
            if (dtype == GC_DTYPE_F32) {
                memcpy(row + 4 * j, &x[j], 4);
                dq[j] = x[j];
            } else {
                memcpy(row + 2 * j, &h, 2);
                dq[j] = dtype == GC_DTYPE_F16 ? gc_f16_to_f32(h) : gc_bf16_to_f32(h);
            }
        }
        if (dtype == GC_DTYPE_Q8_0)
            q8_0_encode_row(row, x, cols, dq);
    }
    return rw;
}

/* Byte offsets of the f16 fields of a block of t (util/quant.c's layouts); returns how many (0..2). */
static int f16_fields(gc_dtype t, int at[2]) {
    switch (t) {
    case GC_DTYPE_Q4_1: case GC_DTYPE_Q5_1: case GC_DTYPE_Q4_K: case GC_DTYPE_Q5_K: at[0] = 0, at[1] = 2; return 2;
    case GC_DTYPE_Q2_K: at[0] = 80, at[1] = 82; return 2;
    case GC_DTYPE_Q3_K: at[0] = 108; return 1;
    case GC_DTYPE_Q6_K: at[0] = 208; return 1;
    default: at[0] = 0; return 1; /* q8_0, q4_0, q5_0, iq4_nl: d first */
    }
}

ref_weight ref_weight_random(int rows, int cols, gc_dtype dtype, unsigned seed) {
    ref_weight rw;
    size_t row_bytes = gc_dtype_row_bytes(dtype, cols), block_bytes = gc_dtype_block_bytes(dtype);
    rw.bytes = row_bytes * rows;
    rw.data = malloc(rw.bytes);
    rw.dequant = malloc((size_t)rows * cols * sizeof(float));
    uint8_t *p = rw.data;
    unsigned long long s = 0x9E3779B97F4A7C15ULL ^ seed;
    for (size_t i = 0; i < rw.bytes; i++) { /* xorshift, top byte */
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        p[i] = (uint8_t)(s >> 56);
    }
    int at[2], n_fields = f16_fields(dtype, at);
    for (size_t b = 0; b < rw.bytes / block_bytes; b++)
        for (int f = 0; f < n_fields; f++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            double u = (double)(s >> 12) / 4503599627370496.0; /* [0, 1) */
            uint16_t h = gc_f32_to_f16((float)((s & 1 ? -1.0 : 1.0) * (0.001 + 0.049 * u)));
            memcpy(p + b * block_bytes + at[f], &h, 2);
        }
    for (int r = 0; r < rows; r++)
        gc_row_to_f32(dtype, p + row_bytes * r, cols, rw.dequant + (size_t)r * cols);
    return rw;
}

void ref_weight_free(ref_weight *rw) {
    free(rw->data);
    free(rw->dequant);
    rw->data = rw->dequant = NULL;
}

void ref_rmsnorm(float *out, const float *x, const float *w, int dim, float eps) {
    float ss = 0.0f;
    for (int j = 0; j < dim; j++)
        ss += x[j] * x[j];
    ss = 1.0f / sqrtf(ss / dim + eps);
    for (int j = 0; j < dim; j++)
        out[j] = w[j] * (ss * x[j]);
}

void ref_rope(float *x, const int32_t *pos, const float *inv_freq, int n, int n_heads, int head_dim,
              gc_rope_layout layout) {
    int half = head_dim / 2;
    for (int i = 0; i < n; i++)
        for (int h = 0; h < n_heads; h++) {
            float *v = x + ((size_t)i * n_heads + h) * head_dim;
            for (int p = 0; p < half; p++) {
                float a = (float)pos[i] * inv_freq[p], c = cosf(a), s = sinf(a);
                int i0 = layout == GC_ROPE_ADJACENT ? 2 * p : p, i1 = layout == GC_ROPE_ADJACENT ? 2 * p + 1 : p + half;
                float x0 = v[i0], x1 = v[i1];
                v[i0] = x0 * c - x1 * s;
                v[i1] = x0 * s + x1 * c;
            }
        }
}

void ref_matmul(float *y, const float *x, const float *w, const float *bias, int n, int rows, int cols) {
    for (int i = 0; i < n; i++)
        for (int r = 0; r < rows; r++) {
            double acc = bias ? bias[r] : 0.0;
            for (int j = 0; j < cols; j++)
                acc += (double)x[(size_t)i * cols + j] * w[(size_t)r * cols + j];
            y[(size_t)i * rows + r] = (float)acc;
        }
}

/* Q8_K for the k-quants, Q8_1 for the legacy types with a min, Q8_0 for the rest (ggml's vec_dot_type). */
static bool q8_k_for(gc_dtype t) {
    return t == GC_DTYPE_Q2_K || t == GC_DTYPE_Q3_K || t == GC_DTYPE_Q4_K || t == GC_DTYPE_Q5_K || t == GC_DTYPE_Q6_K;
}
static bool q8_1_for(gc_dtype t) {
    return t == GC_DTYPE_Q4_1 || t == GC_DTYPE_Q5_1;
}

void ref_quantize_q8_row(gc_dtype wtype, const float *x, int cols, ref_q8_row *row) {
    const bool k = q8_k_for(wtype);
    row->block = k ? 256 : 32;
    const int nb = cols / row->block;
    row->qs = malloc((size_t)cols);
    row->d = calloc((size_t)nb, sizeof(float));
    row->s = calloc((size_t)nb, sizeof(float));
    row->bsums = calloc((size_t)cols / 16, sizeof(int));
    for (int b = 0; b < nb; b++) {
        const float *xb = x + (size_t)b * row->block;
        int8_t *q = row->qs + (size_t)b * row->block;
        if (k) { /* quantize_row_q8_K_ref: the first value of largest magnitude maps to -127 */
            float amax = 0.0f, max = 0.0f;
            for (int j = 0; j < 256; j++)
                if (fabsf(xb[j]) > amax)
                    amax = fabsf(xb[j]), max = xb[j];
            const float iscale = amax != 0.0f ? -127.0f / max : 0.0f;
            for (int j = 0; j < 256; j++) {
                const long v = lrintf(iscale * xb[j]);
                q[j] = (int8_t)(v > 127 ? 127 : v);
                row->bsums[b * 16 + j / 16] += q[j];
            }
            row->d[b] = amax != 0.0f ? 1.0f / iscale : 0.0f;
            continue;
        }
        float amax = 0.0f; /* x86 quantize_row_q8_0 / q8_1 */
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(xb[j]));
        const float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            q[j] = (int8_t)lrintf(xb[j] * id);
            sum += q[j];
        }
        row->d[b] = gc_f16_to_f32(gc_f32_to_f16(d));
        row->s[b] = q8_1_for(wtype) ? gc_f16_to_f32(gc_f32_to_f16(d * (float)sum)) : 0.0f;
    }
}

void ref_q8_row_free(ref_q8_row *row) {
    free(row->qs), free(row->d), free(row->s), free(row->bsums);
}

void ref_matmul_q8(float *y, const float *x, const ref_weight *rw, gc_dtype wtype, const float *bias, int n,
                   int rows, int cols) {
    const size_t row_bytes = gc_dtype_row_bytes(wtype, cols);
    for (int i = 0; i < n; i++) {
        ref_q8_row a;
        ref_quantize_q8_row(wtype, x + (size_t)i * cols, cols, &a);
        for (int r = 0; r < rows; r++) {
            const float *w = rw->dequant + (size_t)r * cols;
            const uint8_t *wrow = (const uint8_t *)rw->data + row_bytes * r;
            double acc = bias ? bias[r] : 0.0;
            for (int b = 0; b < cols / a.block; b++) {
                /* q4_1 / q5_1 (w = d q + m): ggml adds m * s with the f16 s, not m * d * sum(q) */
                uint16_t mh;
                memcpy(&mh, wrow + b * gc_dtype_block_bytes(wtype) + 2, 2);
                const double m = q8_1_for(wtype) ? gc_f16_to_f32(mh) : 0.0;
                double dot = 0.0;
                for (int j = b * a.block; j < (b + 1) * a.block; j++)
                    dot += ((double)w[j] - m) * a.qs[j];
                acc += a.d[b] * dot + m * a.s[b];
            }
            y[(size_t)i * rows + r] = (float)acc;
        }
        ref_q8_row_free(&a);
    }
}

void ref_attention(float *out, const float *q, const float *k, const float *v, int n, int n_past, int n_heads,
                   int n_kv, int hd, float scale) {
    int n_keys = n_past + n;
    double *p = malloc((size_t)n_keys * sizeof *p);
    for (int i = 0; i < n; i++)
        for (int h = 0; h < n_heads; h++) {
            int g = h / (n_heads / n_kv), last = n_past + i;
            const float *qi = q + ((size_t)i * n_heads + h) * hd;
            double m = -INFINITY, sum = 0.0;
            for (int j = 0; j <= last; j++) {
                double s = 0.0;
                for (int d = 0; d < hd; d++)
                    s += (double)qi[d] * k[((size_t)j * n_kv + g) * hd + d];
                p[j] = s * scale;
                m = p[j] > m ? p[j] : m;
            }
            for (int j = 0; j <= last; j++)
                sum += (p[j] = exp(p[j] - m));
            float *o = out + ((size_t)i * n_heads + h) * hd;
            for (int d = 0; d < hd; d++) {
                double acc = 0.0;
                for (int j = 0; j <= last; j++)
                    acc += p[j] * v[((size_t)j * n_kv + g) * hd + d];
                o[d] = (float)(acc / sum);
            }
        }
    free(p);
}

int ref_argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

double ref_nll(const float *logits, int n_vocab, int target) {
    double m = logits[ref_argmax(logits, n_vocab)], sum = 0.0;
    for (int i = 0; i < n_vocab; i++)
        sum += exp((double)logits[i] - m);
    return m + log(sum) - logits[target];
}

/* The order tokens are kept in: larger logit first, lower index first among equals. */
static const float *g_logits;
static int by_logit_then_index(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (g_logits[i] != g_logits[j])
        return g_logits[i] > g_logits[j] ? -1 : 1;
    return i - j;
}

int ref_sample(const float *logits, int n, float temperature, int top_k, float top_p, float u) {
    if (temperature <= 0.0f || top_k == 1)
        return ref_argmax(logits, n);
    float m = logits[ref_argmax(logits, n)];
    int *order = malloc((size_t)n * sizeof *order);
    char *kept = calloc((size_t)n, 1);
    for (int i = 0; i < n; i++)
        order[i] = i;
    g_logits = logits;
    qsort(order, (size_t)n, sizeof *order, by_logit_then_index);
    int k = top_k <= 0 || top_k > n ? n : top_k;
    double z = 0.0, mass = 0.0, total = 0.0;
    for (int c = 0; c < k; c++)
        z += expf((logits[order[c]] - m) / temperature);
    int keep = 0;
    while (keep < k && (keep == 0 || top_p >= 1.0f || mass < top_p * z))
        mass += expf((logits[order[keep++]] - m) / temperature);
    for (int c = 0; c < keep; c++)
        kept[order[c]] = 1;
    for (int i = 0; i < n; i++)
        total += kept[i] ? expf((logits[i] - m) / temperature) : 0.0;
    double target = u * total, cum = 0.0;
    int id = order[keep - 1];
    for (int i = 0; i < n; i++)
        if (kept[i] && (cum += expf((logits[i] - m) / temperature)) > target) {
            id = i;
            break;
        }
    free(order);
    free(kept);
    return id;
}
