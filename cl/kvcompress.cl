/* kvcompress.cl - what the KV-compression methods (SnapKV, H2O, StreamingLLM, PromptDistill) need beyond
 * ordinary attention: the attention mass each key receives, max pooling, and a per-head row gather.
 *
 * Entry points:
 *   attn_lse_f32_f32(q, q_off, k, lse, q_row0, i_from, nq, n_heads, n_kv_heads, head_dim, scale)
 *     q: f32 (nq, n_heads, head_dim) post-RoPE queries of cache rows q_row0 .. q_row0 + nq - 1;
 *     k: f32 (rows, n_kv_heads, head_dim); lse: f32 (nq, n_heads).
 *     lse[i, h] = log sum_{j <= q_row0 + i} exp(scale q[i, h] . k[j, g(h)]) for rows q_row0 + i >= i_from
 *     (others are left alone). Launch: 2-D, global (nq, n_heads).
 *   attn_colsum_f32_f32(q, q_off, k, lse, s, s_stride, q_row0, i_from, nq, n_heads, n_kv_heads, head_dim,
 *                       scale)
 *     s: f32 (n_kv_heads, s_stride), accumulated: s[g, j] += sum over query rows i of this chunk with
 *     q_row0 + i >= max(j, i_from) and over the query heads h of group g of exp(scale q[i, h] . k[j, g] -
 *     lse[i, h]), i.e. the column sums of the causal softmax, one chunk of query rows at a time: nothing
 *     n x n exists. Launch: 2-D, global (q_row0 + nq, n_kv_heads).
 *   pool_max7_f32_f32(s, s_off, p, p_off, n)
 *     p[j] = max(s[j-3 .. j+3]) over the in-range terms (SnapKV's max_pool1d, kernel 7, padding 3).
 *     Launch: 1-D, global n.
 *   gather_rows_f32_f32(src, src_off, src_row_stride, src_head_stride, dst, dst_off, dst_row_stride,
 *                       dst_head_stride, idx, idx_off, idx_head_stride, n_keep, n_heads, width)
 *     per head g, row r < n_keep and e < width (offsets in elements, left out here):
 *     dst[r * dst_row_stride + g * dst_head_stride + e] = src[idx[g * idx_head_stride + r] * src_row_stride +
 *     g * src_head_stride + e] (idx_head_stride 0: one list for all heads). KV rows (rows, G, d) are strides (G d, d), width d; per-head score arrays (G, cap)
 *     are strides (1, cap), width 1. dst must not overlap src. Launch: 2-D, global (n_heads * width, n_keep).
 *   evict_lowest_f32_i32(s, s_head_stride, idx, rows, candidates, n_heads)
 *     H2O's eviction of one row per head: m = the row j < candidates with the lowest s[g, j] (lowest index on
 *     ties), idx (n_heads, rows - 1) = 0 .. m - 1, m + 1 .. rows - 1. Launch: 1-D, global n_heads. */

/* q . k over head_dim values: 16 or 4 lanes where head_dim allows, else one at a time. */
inline float qk_dot(__global const float *q, __global const float *k, const uint head_dim) {
    if (head_dim % 16 == 0) {
        float16 acc = 0.0f;
        for (uint e = 0; e < head_dim; e += 16)
            acc = fma(vload16(0, q + e), vload16(0, k + e), acc);
        return gc_hsum16(acc);
    }
    if (head_dim % 4 == 0) {
        float4 acc = 0.0f;
        for (uint e = 0; e < head_dim; e += 4)
            acc = fma(vload4(0, q + e), vload4(0, k + e), acc);
        return (acc.x + acc.y) + (acc.z + acc.w);
    }
    float acc = 0.0f;
    for (uint e = 0; e < head_dim; e++)
        acc = mad(q[e], k[e], acc);
    return acc;
}

#define KVC_BLOCK 8 /* keys (attn_lse) or query rows (attn_colsum) whose exponentials are taken as one vector */

/* The running (max, sum) of a log-sum-exp takes KVC_BLOCK scores at a time: one rescale per block. */
__kernel void attn_lse_f32_f32(__global const float *q, const ulong q_off, __global const float *k,
                               __global float *lse, const uint q_row0, const uint i_from, const uint nq,
                               const uint n_heads, const uint n_kv_heads, const uint head_dim, const float scale) {
    const uint i = get_global_id(0), h = get_global_id(1);
    if (i >= nq || h >= n_heads || q_row0 + i < i_from)
        return;
    const uint g = h / (n_heads / n_kv_heads), kv_stride = n_kv_heads * head_dim, n_keys = q_row0 + i + 1;
    __global const float *qi = q + q_off + ((ulong)i * n_heads + h) * head_dim, *kg = k + g * head_dim;
    float m = -INFINITY, l = 0.0f;
    uint j = 0;
    for (; j + KVC_BLOCK <= n_keys; j += KVC_BLOCK) {
        float s[KVC_BLOCK];
        for (uint b = 0; b < KVC_BLOCK; b++)
            s[b] = scale * qk_dot(qi, kg + (ulong)(j + b) * kv_stride, head_dim);
        const float8 sv = vload8(0, s);
        const float4 m4 = fmax(sv.lo, sv.hi);
        const float m_new = fmax(m, fmax(fmax(m4.x, m4.y), fmax(m4.z, m4.w)));
        l = l * exp(m - m_new) + gc_hsum8(exp(sv - m_new));
        m = m_new;
    }
    for (; j < n_keys; j++) {
        const float s = scale * qk_dot(qi, kg + (ulong)j * kv_stride, head_dim);
        const float m_new = fmax(m, s);
        l = l * exp(m - m_new) + exp(s - m_new);
        m = m_new;
    }
    lse[(ulong)i * n_heads + h] = m + log(l);
}

/* Work-item (j, g) walks the chunk's query rows that see key j, KVC_BLOCK rows per vector of exponentials. */
__kernel void attn_colsum_f32_f32(__global const float *q, const ulong q_off, __global const float *k,
                                  __global const float *lse, __global float *s, const uint s_stride,
                                  const uint q_row0, const uint i_from, const uint nq, const uint n_heads,
                                  const uint n_kv_heads, const uint head_dim, const float scale) {
    const uint j = get_global_id(0), g = get_global_id(1);
    if (j >= q_row0 + nq || g >= n_kv_heads)
        return;
    const uint group = n_heads / n_kv_heads, first = max(max(j, i_from), q_row0) - q_row0;
    __global const float *kj = k + ((ulong)j * n_kv_heads + g) * head_dim, *qc = q + q_off;
    float8 acc8 = 0.0f;
    float acc = 0.0f;
    for (uint h = g * group; h < (g + 1) * group; h++) {
        uint i = first;
        for (; i + KVC_BLOCK <= nq; i += KVC_BLOCK) {
            float d[KVC_BLOCK], ls[KVC_BLOCK];
            for (uint b = 0; b < KVC_BLOCK; b++) {
                d[b] = scale * qk_dot(qc + ((ulong)(i + b) * n_heads + h) * head_dim, kj, head_dim);
                ls[b] = lse[(ulong)(i + b) * n_heads + h];
            }
            acc8 += exp(vload8(0, d) - vload8(0, ls));
        }
        for (; i < nq; i++)
            acc += exp(scale * qk_dot(qc + ((ulong)i * n_heads + h) * head_dim, kj, head_dim) -
                       lse[(ulong)i * n_heads + h]);
    }
    s[(ulong)g * s_stride + j] += gc_hsum8(acc8) + acc;
}

__kernel void pool_max7_f32_f32(__global const float *s, const ulong s_off, __global float *p, const ulong p_off,
                                const uint n) {
    const uint j = get_global_id(0);
    if (j >= n)
        return;
    float m = -INFINITY;
    for (int o = -3; o <= 3; o++) {
        const int t = (int)j + o;
        if (t >= 0 && t < (int)n)
            m = fmax(m, s[s_off + t]);
    }
    p[p_off + j] = m;
}

__kernel void gather_rows_f32_f32(__global const float *src, const ulong src_off, const uint src_row_stride,
                                  const uint src_head_stride, __global float *dst, const ulong dst_off,
                                  const uint dst_row_stride, const uint dst_head_stride, __global const int *idx,
                                  const ulong idx_off, const uint idx_head_stride, const uint n_keep,
                                  const uint n_heads, const uint width) {
    const uint t = get_global_id(0), r = get_global_id(1);
    if (t >= n_heads * width || r >= n_keep)
        return;
    const uint g = t / width, e = t % width;
    const int from = idx[idx_off + g * idx_head_stride + r];
    dst[dst_off + (ulong)r * dst_row_stride + g * dst_head_stride + e] =
        src[src_off + (ulong)from * src_row_stride + g * src_head_stride + e];
}

__kernel void evict_lowest_f32_i32(__global const float *s, const uint s_head_stride, __global int *idx,
                                   const uint rows, const uint candidates, const uint n_heads) {
    const uint g = get_global_id(0);
    if (g >= n_heads)
        return;
    __global const float *sg = s + (ulong)g * s_head_stride;
    uint lowest = 0;
    for (uint j = 1; j < candidates; j++)
        if (sg[j] < sg[lowest])
            lowest = j;
    for (uint r = 0; r + 1 < rows; r++)
        idx[(ulong)g * (rows - 1) + r] = r < lowest ? r : r + 1;
}
