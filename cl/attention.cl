/* attention.cl - causal attention with grouped-query heads, tiled over keys with online softmax.
 *
 * Entry points (HEAD_DIM is a compile-time constant, a multiple of 4; programs are built per head size):
 *   attention_f32_f32(q, q_off, k, v, out, out_off, part, n, n_past, n_heads, n_kv_heads, scale, split_keys,
 *                     n_splits)
 *     q: f32 (n, n_heads, HEAD_DIM); k, v: f32 (n_ctx, n_kv_heads, HEAD_DIM), rows 0 .. n_past + n - 1 used;
 *     out: f32 (n, n_heads, HEAD_DIM); part: f32 (n, n_heads, n_splits, HEAD_DIM + 2) split partials.
 *     Query row i of head h attends key rows 0 .. n_past + i of kv head h / (n_heads / n_kv_heads).
 *     Work-item (i, h * n_splits + s) covers keys [s * split_keys, (s + 1) * split_keys) of that range;
 *     with n_splits = 1 it writes out directly, else its (max, sum, unnormalised accumulator) to part.
 *     Launch: 2-D, global (n, n_heads * n_splits); neighbouring work-items are neighbouring queries of the
 *     same head, so a work-group walks the same keys.
 *   attention_combine_f32_f32(part, out, out_off, n, n_heads, n_splits)
 *     merges the splits of each (i, h): out = sum_s e^(m_s - M) acc_s / sum_s e^(m_s - M) l_s.
 *     Launch: 2-D, global (n, n_heads).
 *   attention_shared_f32_f32(q, q_off, k, v, q_src, k_src, out, out_off, n, n_past, n_heads, n_kv_heads, scale,
 *                            sinks, recent, k_shift)
 *     pod-tf (docs/METHODS.md, pod): like attention_f32_f32 with n_splits = 1, but for query row i
 *     (cache row n_past + i) the distant keys S <= j <= n_past + i - recent take their logits from the source
 *     layer, q_src[i, h] . k_src[j, g] (q_src: f32 (n, n_heads, HEAD_DIM) at q_off, k_src: f32 (rows,
 *     n_kv_heads, HEAD_DIM)); the proximal keys (j < sinks, or the last `recent` rows up to the query) use
 *     this layer's q and k, where k holds rows j < sinks at j and the others at j - k_shift (the distant rows
 *     are not stored). All values come from v (every row). One softmax over both.
 *     Launch: 2-D, global (n, n_heads).
 * Online softmax: per tile of ATT_KT keys the scores are kept in registers, the running max is raised once
 * per tile and the running sum and accumulator are rescaled by e^(m_old - m_new). */

#ifndef HEAD_DIM
#define HEAD_DIM 64 // head size (multiple of 4)
#endif
#ifndef ATT_KT
#define ATT_KT 16 // keys per tile
#endif
#define ATT_HV (HEAD_DIM / 4)
#define ATT_PART (HEAD_DIM + 2)

/* Online softmax over keys [j0, j1) of one kv head: updates (m, l, acc) for the query qs (pre-scaled). */
inline void attend_range(const float4 *qs, __global const float *k, __global const float *v, const uint kv_stride,
                         const uint j0, const uint j1, float *m, float *l, float4 *acc) {
    for (uint t0 = j0; t0 < j1; t0 += ATT_KT) {
        const uint cnt = min((uint)ATT_KT, j1 - t0);
        float s[ATT_KT], tile_max = -INFINITY;
        for (uint t = 0; t < cnt; t++) {
            __global const float *kr = k + (ulong)(t0 + t) * kv_stride;
            float4 d4 = 0.0f;
            for (uint d = 0; d < ATT_HV; d++)
                d4 = mad(qs[d], vload4(d, kr), d4);
            s[t] = (d4.x + d4.y) + (d4.z + d4.w);
            tile_max = fmax(tile_max, s[t]);
        }
        const float m_new = fmax(*m, tile_max), corr = exp(*m - m_new);
        *l *= corr;
        for (uint d = 0; d < ATT_HV; d++)
            acc[d] *= corr;
        for (uint t = 0; t < cnt; t++) {
            const float p = exp(s[t] - m_new);
            __global const float *vr = v + (ulong)(t0 + t) * kv_stride;
            *l += p;
            for (uint d = 0; d < ATT_HV; d++)
                acc[d] = mad((float4)(p), vload4(d, vr), acc[d]);
        }
        *m = m_new;
    }
}

__kernel void attention_f32_f32(__global const float *q, const ulong q_off, __global const float *k,
                                __global const float *v, __global float *out, const ulong out_off,
                                __global float *part, const uint n, const uint n_past, const uint n_heads,
                                const uint n_kv_heads, const float scale, const uint split_keys,
                                const uint n_splits) {
    const uint i = get_global_id(0), hs = get_global_id(1);
    if (i >= n || hs >= n_heads * n_splits)
        return;
    const uint h = hs / n_splits, s = hs % n_splits, g = h / (n_heads / n_kv_heads);
    const uint n_keys = n_past + i + 1;
    const uint j0 = n_splits == 1 ? 0 : min(n_keys, s * split_keys);
    const uint j1 = n_splits == 1 ? n_keys : min(n_keys, j0 + split_keys);
    const ulong row = (ulong)i * n_heads + h;
    float4 qs[ATT_HV], acc[ATT_HV];
    for (uint d = 0; d < ATT_HV; d++) {
        qs[d] = vload4(d, q + q_off + row * HEAD_DIM) * scale;
        acc[d] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    const uint kv_stride = n_kv_heads * HEAD_DIM;
    attend_range(qs, k + g * HEAD_DIM, v + g * HEAD_DIM, kv_stride, j0, j1, &m, &l, acc);
    if (n_splits == 1) {
        const float inv = 1.0f / l;
        for (uint d = 0; d < ATT_HV; d++)
            vstore4(acc[d] * inv, d, out + out_off + row * HEAD_DIM);
        return;
    }
    __global float *p = part + (row * n_splits + s) * ATT_PART;
    p[0] = m;
    p[1] = l;
    for (uint d = 0; d < ATT_HV; d++)
        vstore4(acc[d], d, p + 2);
}

__kernel void attention_combine_f32_f32(__global const float *part, __global float *out, const ulong out_off,
                                        const uint n, const uint n_heads, const uint n_splits) {
    const uint i = get_global_id(0), h = get_global_id(1);
    if (i >= n || h >= n_heads)
        return;
    const ulong row = (ulong)i * n_heads + h;
    __global const float *p = part + row * n_splits * ATT_PART;
    float big = -INFINITY, l = 0.0f;
    for (uint s = 0; s < n_splits; s++)
        big = fmax(big, p[s * ATT_PART]);
    float4 acc[ATT_HV];
    for (uint d = 0; d < ATT_HV; d++)
        acc[d] = 0.0f;
    for (uint s = 0; s < n_splits; s++) {
        __global const float *ps = p + s * ATT_PART;
        const float w = ps[1] > 0.0f ? exp(ps[0] - big) : 0.0f; /* empty splits have m = -inf, l = 0 */
        l += w * ps[1];
        for (uint d = 0; d < ATT_HV; d++)
            acc[d] = mad((float4)(w), vload4(d, ps + 2), acc[d]);
    }
    const float inv = 1.0f / l;
    for (uint d = 0; d < ATT_HV; d++)
        vstore4(acc[d] * inv, d, out + out_off + row * HEAD_DIM);
}

__kernel void attention_shared_f32_f32(__global const float *q, const ulong q_off, __global const float *k,
                                       __global const float *v, __global const float *q_src,
                                       __global const float *k_src, __global float *out, const ulong out_off,
                                       const uint n, const uint n_past, const uint n_heads, const uint n_kv_heads,
                                       const float scale, const uint sinks, const uint recent, const uint k_shift) {
    const uint i = get_global_id(0), h = get_global_id(1);
    if (i >= n || h >= n_heads)
        return;
    const uint g = h / (n_heads / n_kv_heads), n_keys = n_past + i + 1, kv_stride = n_kv_heads * HEAD_DIM;
    const uint sink_end = min(sinks, n_keys), near = max(sink_end, n_keys > recent ? n_keys - recent : 0u);
    const ulong row = (ulong)i * n_heads + h;
    float4 qs[ATT_HV], qd[ATT_HV], acc[ATT_HV];
    for (uint d = 0; d < ATT_HV; d++) {
        qs[d] = vload4(d, q + q_off + row * HEAD_DIM) * scale;
        qd[d] = vload4(d, q_src + q_off + row * HEAD_DIM) * scale;
        acc[d] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    __global const float *kg = k + g * HEAD_DIM, *vg = v + g * HEAD_DIM;
    attend_range(qs, kg, vg, kv_stride, 0, sink_end, &m, &l, acc);
    attend_range(qd, k_src + g * HEAD_DIM, vg, kv_stride, sink_end, near, &m, &l, acc);
    /* recent rows: key row j - k_shift, value row j (v shifted forward so both use one index) */
    attend_range(qs, kg, vg + (ulong)k_shift * kv_stride, kv_stride, near - k_shift, n_keys - k_shift, &m, &l, acc);
    const float inv = 1.0f / l;
    for (uint d = 0; d < ATT_HV; d++)
        vstore4(acc[d] * inv, d, out + out_off + row * HEAD_DIM);
}
