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
 *   attention_rows_f32_f32(q, q_off, k, v, out, out_off, n, n_past, n_heads, n_kv_heads, scale)
 *     prefill: the same result as attention_f32_f32 with n_splits = 1, computed in blocks of ATT_BR rows.
 *     The rows of kv head g are the n * R pairs (query i, head g * R + r), R = n_heads / n_kv_heads, in
 *     order i * R + r; work-item (b, g) computes block b of them, so every K/V row it loads serves ATT_BR
 *     rows (queries and the heads sharing them). Rows are the lanes of a float vector (rowf): scores of a
 *     tile of ATT_BC keys are ATT_BC rowf, softmax and exp run on rowf. Only tiles crossing the causal
 *     diagonal of the block's first query are masked.
 *     Each tile of ATT_BC keys and values is first copied to a contiguous (ATT_BC, HEAD_DIM) tile: with
 *     ATT_LOCAL_WG = 0 (CPUs) each work-item copies into private memory (the cache's row stride, often a
 *     multiple of 4 KiB, would make the tile's rows collide in one L1 set); with ATT_LOCAL_WG > 0 (GPUs) the
 *     work-group shares one tile in local memory.
 *     Launch: 2-D, global (ceil(n * R / ATT_BR), n_kv_heads), local (max(ATT_LOCAL_WG, 1), 1); blocks are
 *     handed out heaviest first.
 * Online softmax: per tile of ATT_KT (ATT_BC) keys the scores are kept in registers, the running max is
 * raised once per tile and the running sum and accumulator are rescaled by e^(m_old - m_new) (attention_rows
 * works in base 2: queries pre-scaled by log2(e), exp2). Head vectors use the widest float vector dividing
 * HEAD_DIM (PoCL does not vectorise loops across work-items). */

#ifndef HEAD_DIM
#define HEAD_DIM 64 // head size (multiple of 4)
#endif
#ifndef ATT_KT
#define ATT_KT 8 // keys per tile: 4, 8 or 16 (a float vector width)
#endif

/* Head vectors are held as ATT_HV vectors of ATT_VW floats (the widest of 16, 8, 4 dividing HEAD_DIM). */
#if HEAD_DIM % 16 == 0
#define ATT_VW 16
#elif HEAD_DIM % 8 == 0
#define ATT_VW 8
#else
#define ATT_VW 4
#endif
#define ATT_CAT_(a, b) a##b
#define ATT_CAT(a, b) ATT_CAT_(a, b)
#define att_vec ATT_CAT(float, ATT_VW)
#define att_load ATT_CAT(vload, ATT_VW)
#define att_store ATT_CAT(vstore, ATT_VW)
#define ATT_HV (HEAD_DIM / ATT_VW)
#define att_kload ATT_CAT(vload, ATT_KT)
#define att_kstore ATT_CAT(vstore, ATT_KT)
#define ATT_PART (HEAD_DIM + 2)

inline float att_hsum(att_vec v) {
#if ATT_VW == 16
    const float8 h8 = v.lo + v.hi;
    const float4 h = h8.lo + h8.hi;
#elif ATT_VW == 8
    const float4 h = v.lo + v.hi;
#else
    const float4 h = v;
#endif
    return (h.x + h.y) + (h.z + h.w);
}

/* Online softmax over keys [j0, j1) of one kv head (rows kv_stride floats apart): updates (m, l, acc) for
 * the pre-scaled query qs. Tiles are always ATT_KT wide (fully unrolled, so scores stay in registers); keys
 * past j1 re-read row j1 - 1 and get score -inf. */
inline void attend_range(const att_vec *qs, __global const float *k, __global const float *v,
                         const uint kv_stride, const uint j0, const uint j1, float *m, float *l, att_vec *acc) {
    for (uint t0 = j0; t0 < j1; t0 += ATT_KT) {
        float s[ATT_KT], tile_max = -INFINITY;
        GC_UNROLL for (uint t = 0; t < ATT_KT; t++) {
            __global const float *kr = k + (ulong)min(t0 + t, j1 - 1) * kv_stride;
            att_vec d = 0.0f;
            GC_UNROLL for (uint e = 0; e < ATT_HV; e++)
                d = fma(qs[e], att_load(e, kr), d);
            s[t] = t0 + t < j1 ? att_hsum(d) : -INFINITY;
            tile_max = fmax(tile_max, s[t]);
        }
        const float m_new = fmax(*m, tile_max), corr = exp(*m - m_new);
        *l *= corr;
        GC_UNROLL for (uint e = 0; e < ATT_HV; e++)
            acc[e] *= corr;
        float ps[ATT_KT]; /* the tile's exps as one vector op (PoCL's exp is vectorised, the scalar one is not) */
        att_kstore(exp(att_kload(0, s) - m_new), 0, ps);
        GC_UNROLL for (uint t = 0; t < ATT_KT; t++) {
            const float p = ps[t];
            __global const float *vr = v + (ulong)min(t0 + t, j1 - 1) * kv_stride;
            *l += p;
            GC_UNROLL for (uint e = 0; e < ATT_HV; e++)
                acc[e] = fma((att_vec)(p), att_load(e, vr), acc[e]);
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
    att_vec qs[ATT_HV], acc[ATT_HV];
    GC_UNROLL for (uint e = 0; e < ATT_HV; e++) {
        qs[e] = att_load(e, q + q_off + row * HEAD_DIM) * scale;
        acc[e] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    const uint kv_stride = n_kv_heads * HEAD_DIM;
    attend_range(qs, k + g * HEAD_DIM, v + g * HEAD_DIM, kv_stride, j0, j1, &m, &l, acc);
    if (n_splits == 1) {
        const float inv = 1.0f / l;
        GC_UNROLL for (uint e = 0; e < ATT_HV; e++)
            att_store(acc[e] * inv, e, out + out_off + row * HEAD_DIM);
        return;
    }
    __global float *p = part + (row * n_splits + s) * ATT_PART;
    p[0] = m;
    p[1] = l;
    GC_UNROLL for (uint e = 0; e < ATT_HV; e++)
        att_store(acc[e], e, p + 2);
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
    att_vec acc[ATT_HV];
    GC_UNROLL for (uint e = 0; e < ATT_HV; e++)
        acc[e] = 0.0f;
    for (uint s = 0; s < n_splits; s++) {
        __global const float *ps = p + s * ATT_PART;
        const float w = ps[1] > 0.0f ? exp(ps[0] - big) : 0.0f; /* empty splits have m = -inf, l = 0 */
        l += w * ps[1];
        GC_UNROLL for (uint e = 0; e < ATT_HV; e++)
            acc[e] = fma((att_vec)(w), att_load(e, ps + 2), acc[e]);
    }
    const float inv = 1.0f / l;
    GC_UNROLL for (uint e = 0; e < ATT_HV; e++)
        att_store(acc[e] * inv, e, out + out_off + row * HEAD_DIM);
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
    att_vec qs[ATT_HV], qd[ATT_HV], acc[ATT_HV];
    GC_UNROLL for (uint e = 0; e < ATT_HV; e++) {
        qs[e] = att_load(e, q + q_off + row * HEAD_DIM) * scale;
        qd[e] = att_load(e, q_src + q_off + row * HEAD_DIM) * scale;
        acc[e] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    __global const float *kg = k + g * HEAD_DIM, *vg = v + g * HEAD_DIM;
    attend_range(qs, kg, vg, kv_stride, 0, sink_end, &m, &l, acc);
    attend_range(qd, k_src + g * HEAD_DIM, vg, kv_stride, sink_end, near, &m, &l, acc);
    /* recent rows: key row j - k_shift, value row j (v shifted forward so both use one index) */
    attend_range(qs, kg, vg + (ulong)k_shift * kv_stride, kv_stride, near - k_shift, n_keys - k_shift, &m, &l, acc);
    const float inv = 1.0f / l;
    GC_UNROLL for (uint e = 0; e < ATT_HV; e++)
        att_store(acc[e] * inv, e, out + out_off + row * HEAD_DIM);
}

/* ---- prefill: ATT_BR rows per work-item -------------------------------------------------------------- */

#ifndef ATT_BR
#define ATT_BR 16 // rows (query, head) per work-item = lanes of rowf: 2, 4, 8 or 16
#endif
#ifndef ATT_BC
#define ATT_BC 16 // keys per tile of attention_rows
#endif
#ifndef ATT_LOCAL_WG
#define ATT_LOCAL_WG 0 // > 0: work-items per group sharing K/V tiles in local memory; 0: private tiles
#endif

#define ATT_CAT_(a, b) a##b
#define ATT_CAT(a, b) ATT_CAT_(a, b)
typedef ATT_CAT(float, ATT_BR) rowf; // one value per row of a block
typedef ATT_CAT(int, ATT_BR) rowi;
#define ROW_LOAD(p) ATT_CAT(vload, ATT_BR)(0, p)
#define ROW_STORE(x, p) ATT_CAT(vstore, ATT_BR)(x, 0, p)
#if HEAD_DIM % 16 == 0 // widest vector that copies a K/V row
#define ATT_CP 16
#elif HEAD_DIM % 8 == 0
#define ATT_CP 8
#else
#define ATT_CP 4
#endif
#define ATT_CP_LOAD ATT_CAT(vload, ATT_CP)
#define ATT_CP_STORE ATT_CAT(vstore, ATT_CP)
#if ATT_LOCAL_WG > 0 // K/V tiles: in local memory, loaded by the work-group together
#define ATT_KV __local
#define ATT_WG ATT_LOCAL_WG
#define ATT_LID get_local_id(0)
#define ATT_BARRIER() barrier(CLK_LOCAL_MEM_FENCE)
#else // in private memory, loaded by each work-item: rows HEAD_DIM apart whatever the cache's stride
#define ATT_KV __private
#define ATT_WG 1
#define ATT_LID 0
#define ATT_BARRIER()
#endif

/* Copies keys and values t0 .. t0 + ATT_BC - 1 of one kv head (rows kv_stride apart, rows past `last`
 * repeat row `last`) into k_tile, v_tile (ATT_BC, HEAD_DIM); work-item `lid` of ATT_WG copies its share. */
inline void att_load_tile(__global const float *kg, __global const float *vg, const uint kv_stride, const uint t0,
                          const uint last, const uint lid, ATT_KV float *k_tile, ATT_KV float *v_tile) {
    for (uint t = lid; t < ATT_BC; t += ATT_WG) {
        const ulong row = min(t0 + t, last) * (ulong)kv_stride;
        for (uint c = 0; c < HEAD_DIM / ATT_CP; c++) {
            ATT_CP_STORE(ATT_CP_LOAD(c, kg + row), c, k_tile + t * HEAD_DIM);
            ATT_CP_STORE(ATT_CP_LOAD(c, vg + row), c, v_tile + t * HEAD_DIM);
        }
    }
}

/* One tile of ATT_BC keys for a block of rows. qt: (HEAD_DIM) rowf, the block's queries pre-scaled by
 * scale * log2(e), transposed; kt, vt: (ATT_BC, HEAD_DIM) the tile's keys and values. Updates the running
 * max m, sum l (base 2) and unnormalised output acc (HEAD_DIM) rowf. masked (a constant after inlining):
 * key t0 + t counts only for rows whose last key lim >= t0 + t. */
__attribute__((always_inline)) inline void att_rows_tile(const rowf *qt, ATT_KV const float *kt,
                                                         ATT_KV const float *vt, const bool masked, const uint t0,
                                                         const rowi lim, rowf *m, rowf *l, rowf *acc) {
    /* Inlined into each call so that `masked` is a constant; the key loops are unrolled so that the scores
     * stay in registers; fma, not mad: PoCL's mad is a multiply and an add. */
    rowf s[ATT_BC]; // scores (ATT_BC keys) x (ATT_BR rows)
#pragma unroll
    for (uint t = 0; t < ATT_BC; t++)
        s[t] = 0.0f;
    for (uint d = 0; d < HEAD_DIM; d++) {
        const rowf qd = qt[d];
#pragma unroll
        for (uint t = 0; t < ATT_BC; t++)
            s[t] = fma(qd, (rowf)(kt[t * HEAD_DIM + d]), s[t]);
    }
    rowf tile_max = -INFINITY;
#pragma unroll
    for (uint t = 0; t < ATT_BC; t++) {
        if (masked)
            s[t] = select(s[t], (rowf)(-INFINITY), (rowi)(int)(t0 + t) > lim);
        tile_max = fmax(tile_max, s[t]);
    }
    /* Every row sees key 0 and tile 0 comes first, so m_new is finite: no -inf - -inf. */
    const rowf m_new = fmax(*m, tile_max), corr = exp2(*m - m_new);
    rowf sum = 0.0f;
#pragma unroll
    for (uint t = 0; t < ATT_BC; t++) {
        s[t] = exp2(s[t] - m_new);
        sum += s[t];
    }
    *l = fma(*l, corr, sum);
    *m = m_new;
    for (uint d = 0; d < HEAD_DIM; d += 4) { // four independent FMA chains
        rowf a0 = acc[d] * corr, a1 = acc[d + 1] * corr, a2 = acc[d + 2] * corr, a3 = acc[d + 3] * corr;
#pragma unroll
        for (uint t = 0; t < ATT_BC; t++) {
            ATT_KV const float *vr = vt + t * HEAD_DIM + d;
            a0 = fma(s[t], (rowf)(vr[0]), a0);
            a1 = fma(s[t], (rowf)(vr[1]), a1);
            a2 = fma(s[t], (rowf)(vr[2]), a2);
            a3 = fma(s[t], (rowf)(vr[3]), a3);
        }
        acc[d] = a0, acc[d + 1] = a1, acc[d + 2] = a2, acc[d + 3] = a3;
    }
}

/* The last key (n_past + query) of row gr of a kv head's n_rows rows; rows past the end repeat the last. */
inline uint att_row_last_key(const uint gr, const uint n_rows, const uint group, const uint n_past) {
    return n_past + min(gr, n_rows - 1) / group;
}

__kernel void attention_rows_f32_f32(__global const float *q, const ulong q_off, __global const float *k,
                                     __global const float *v, __global float *out, const ulong out_off,
                                     const uint n, const uint n_past, const uint n_heads, const uint n_kv_heads,
                                     const float scale) {
    const uint group = n_heads / n_kv_heads, n_rows = n * group, n_blocks = (n_rows + ATT_BR - 1) / ATT_BR;
    const uint gid = get_global_id(0), g = min((uint)get_global_id(1), n_kv_heads - 1);
    const bool active = gid < n_blocks && get_global_id(1) < n_kv_heads; // inactive ones only help load tiles
    const uint r0 = (active ? n_blocks - 1 - gid : 0) * ATT_BR;          // first row; heaviest blocks first
    const uint kv_stride = n_kv_heads * HEAD_DIM;
    __global const float *kg = k + g * HEAD_DIM, *vg = v + g * HEAD_DIM; // (n_past + n, kv_stride)

    ulong row_at[ATT_BR]; // element offset of each row in q and out: (query, head, 0)
    int lim_of[ATT_BR];
    float lane[ATT_BR];
    for (uint r = 0; r < ATT_BR; r++) {
        const uint gr = min(r0 + r, n_rows - 1);
        row_at[r] = ((ulong)(gr / group) * n_heads + g * group + gr % group) * HEAD_DIM;
        lim_of[r] = (int)att_row_last_key(gr, n_rows, group, n_past);
    }
    const rowi lim = ATT_CAT(vload, ATT_BR)(0, lim_of);
    rowf qt[HEAD_DIM], acc[HEAD_DIM]; // (HEAD_DIM) x (ATT_BR rows)
    for (uint d = 0; d < HEAD_DIM; d++) {
        for (uint r = 0; r < ATT_BR; r++)
            lane[r] = q[q_off + row_at[r] + d] * (scale * M_LOG2E_F);
        qt[d] = ROW_LOAD(lane);
        acc[d] = 0.0f;
    }
    rowf m = -INFINITY, l = 0.0f;
    const uint all_end = att_row_last_key(r0, n_rows, group, n_past) + 1; // keys every row of the block sees
    const uint blk_end = att_row_last_key(r0 + ATT_BR - 1, n_rows, group, n_past) + 1;
    ATT_KV float k_tile[ATT_BC * HEAD_DIM], v_tile[ATT_BC * HEAD_DIM]; // (ATT_BC, HEAD_DIM)
    /* The work-group walks the keys of its heaviest block: the first, of work-item 0. */
    const uint lid = ATT_LID, r0_first = (n_blocks - 1 - (gid - lid)) * ATT_BR;
    const uint grp_end = att_row_last_key(r0_first + ATT_BR - 1, n_rows, group, n_past) + 1;
    for (uint t0 = 0; t0 < grp_end; t0 += ATT_BC) {
        ATT_BARRIER();
        att_load_tile(kg, vg, kv_stride, t0, grp_end - 1, lid, k_tile, v_tile);
        ATT_BARRIER();
        if (active && t0 + ATT_BC <= all_end)
            att_rows_tile(qt, k_tile, v_tile, false, t0, lim, &m, &l, acc);
        else if (active && t0 < blk_end) // the diagonal
            att_rows_tile(qt, k_tile, v_tile, true, t0, lim, &m, &l, acc);
    }
    if (!active)
        return;
    const rowf inv = 1.0f / l;
    for (uint d = 0; d < HEAD_DIM; d++) {
        ROW_STORE(acc[d] * inv, lane);
        for (uint r = 0; r < ATT_BR && r0 + r < n_rows; r++)
            out[out_off + row_at[r] + d] = lane[r];
    }
}
