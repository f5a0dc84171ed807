/* select.cl - GemFilter's token selection: score, smoothing and top-k indices (docs/METHODS.md, gemfilter
 * steps 3-6).
 *
 * Entry points (buffers are (pointer, element offset) pairs; H = query heads, G = KV heads, d = head dim):
 *   gemfilter_score_f32_f32(q, q_off, k, k_off, s, s_off, n, H, G, d, qsum)
 *       s[j] = sum_g dot(Qsum[g], k[j][g]), Qsum[g] = sum of the H/G queries of group g; raw logits.
 *       q f32 (H, d); k f32 (>= n, G, d); s f32 (n); qsum __local f32 (G, d). 1-D launch, global >= n.
 *   pool_avg5_f32_f32(s, s_off, p, p_off, n)
 *       p[j] = (s[j-2] + s[j-1] + s[j] + s[j+1] + s[j+2]) / 5, out-of-range terms 0. 1-D, global >= n.
 *   topk_init_u64(state, k)                       state = {prefix 0, remaining k, not done}. One work-item.
 *   topk_histogram_f32_u32(x, x_off, n, chunk, state, shift, hist)
 *       per work-group 256-bin histogram of key bits [shift, shift+8) over the keys matching the prefix.
 *   topk_select_u32_u64(hist, n_groups, state, shift)
 *       sums the group histograms, picks the bucket holding the remaining-k-th largest key. One work-group.
 *   topk_count_f32_u32(x, x_off, n, chunk, state, counts)     counts[g] = keys >= threshold in group g.
 *   topk_compact_f32_i32(x, x_off, n, chunk, state, counts, out, out_off)
 *       writes the indices of the keys >= threshold in ascending order (an order-preserving compaction).
 *
 * Top-k works on unique 64-bit keys: the float's order-preserving bits in the high word and ~index in the
 * low word, so a larger value ranks first and a lower index wins ties. NaN ranks below -inf; -0.0 equals
 * +0.0. A radix select (8 passes of 8 bits, most significant first) narrows the prefix of the k-th largest
 * key in `state`, a small device buffer, so no pass needs the host: state = {prefix, remaining, done}. When
 * the chosen bucket holds exactly the remaining count the select is done early and the threshold is the
 * prefix with zero low bits (typical for distinct values: the 32 value bits suffice). Exactly min(k, n)
 * keys are >= the threshold. Work-group g of the top-k kernels owns the elements [g*chunk, (g+1)*chunk).
 * Every kernel is correct for any local size (the top-k kernels: up to TOPK_LS). No work-item returns before a
 * barrier, even where the condition is uniform: PoCL's CPU work-group compiler miscompiled that form.
 * With subgroups (GC_HAS_SUBGROUPS) the per-group count and the compaction's scan run as subgroup reductions
 * and scans (cl/common.cl); they are integer sums, so the selection is the same bit for bit. */

#define TOPK_BINS 256 /* radix digit of 8 bits; src/ops/select.c has the same */

/* Tunables; src/ops/select.c passes the device profile's values (select_local, topk_local). */
#ifndef SELECT_LS
#define SELECT_LS 256 // work-items per group of the score and pool kernels (a hint: any size runs)
#endif
#ifndef TOPK_LS
#define TOPK_LS 256 // largest work-group of the top-k kernels: sizes their local scan arrays
#endif

/* ---- score ---- */

__kernel __attribute__((work_group_size_hint(SELECT_LS, 1, 1))) void
gemfilter_score_f32_f32(__global const float *q, const ulong q_off, /* (H, d) */
                        __global const float *k, const ulong k_off, /* (>= n, G, d) */
                        __global float *s, const ulong s_off,       /* (n) */
                        const uint n, const uint n_heads, const uint n_kv_heads,
                        const uint head_dim, __local float *qsum /* (G, d) */) {
    const uint lid = get_local_id(0), lsz = get_local_size(0);
    const uint group = n_heads / n_kv_heads, row = n_kv_heads * head_dim;
    for (uint e = lid; e < row; e += lsz) {
        const uint g = e / head_dim, c = e % head_dim;
        float sum = 0.0f;
        for (uint h = g * group; h < (g + 1) * group; h++)
            sum += q[q_off + (ulong)h * head_dim + c];
        qsum[e] = sum;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    const uint j = get_global_id(0);
    if (j >= n)
        return;
    __global const float *kj = k + k_off + (ulong)j * row;
    float acc = 0.0f;
    for (uint e = 0; e < row; e++)
        acc += qsum[e] * kj[e];
    s[s_off + j] = acc;
}

/* ---- pool ---- */

__kernel __attribute__((work_group_size_hint(SELECT_LS, 1, 1))) void
pool_avg5_f32_f32(__global const float *s, const ulong s_off, /* (n) */
                  __global float *p, const ulong p_off,       /* (n) */
                  const uint n) {
    const uint j = get_global_id(0);
    if (j >= n)
        return;
    float sum = 0.0f;
    for (int t = -2; t <= 2; t++) {
        const long i = (long)j + t;
        if (i >= 0 && i < (long)n)
            sum += s[s_off + i];
    }
    p[p_off + j] = sum / 5.0f;
}

/* ---- top-k ---- */

/* state layout (ulong) */
#define TOPK_PREFIX 0
#define TOPK_REMAINING 1
#define TOPK_DONE 2


/* The unique rank key of element i: larger value first, then lower index. */
ulong topk_key(const float v, const uint i) {
    return ((ulong)gc_float_key(v) << 32) | (ulong)(~i);
}

__kernel void topk_init_u64(__global ulong *state, /* (3) */
                            const uint k) {
    if (get_global_id(0) != 0)
        return;
    state[TOPK_PREFIX] = 0;
    state[TOPK_REMAINING] = k;
    state[TOPK_DONE] = 0;
}

__kernel void topk_histogram_f32_u32(__global const float *x, const ulong x_off, /* (n) */
                                     const uint n, const uint chunk,
                                     __global const ulong *state,                 /* (3) */
                                     const uint shift,
                                     __global uint *hist /* (n_groups, TOPK_BINS) */) {
    __local uint bins[TOPK_BINS];
    const uint lid = get_local_id(0), lsz = get_local_size(0), g = get_group_id(0);
    const bool done = state[TOPK_DONE] != 0; /* then skip the work but still meet every barrier */
    for (uint b = lid; b < TOPK_BINS; b += lsz)
        bins[b] = 0;
    barrier(CLK_LOCAL_MEM_FENCE);
    const ulong prefix = state[TOPK_PREFIX];
    const ulong mask = shift >= 56 ? 0 : ~0ul << (shift + 8); /* bits already resolved */
    const uint begin = g * chunk, end = done ? begin : min(begin + chunk, n);
    for (uint i = begin + lid; i < end; i += lsz) {
        const ulong key = topk_key(x[x_off + i], i);
        if ((key & mask) == prefix)
            atomic_inc(&bins[(uint)(key >> shift) & (TOPK_BINS - 1)]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint b = lid; b < TOPK_BINS && !done; b += lsz)
        hist[(ulong)g * TOPK_BINS + b] = bins[b];
}

__kernel void topk_select_u32_u64(__global const uint *hist, /* (n_groups, TOPK_BINS) */
                                  const uint n_groups,
                                  __global ulong *state,     /* (3) */
                                  const uint shift) {
    __local uint total[TOPK_BINS];
    const uint lid = get_local_id(0), lsz = get_local_size(0);
    const bool done = state[TOPK_DONE] != 0;
    for (uint b = lid; b < TOPK_BINS && !done; b += lsz) {
        uint sum = 0;
        for (uint g = 0; g < n_groups; g++)
            sum += hist[(ulong)g * TOPK_BINS + b];
        total[b] = sum;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid != 0 || done)
        return;
    /* walk the buckets from the largest keys down until the remaining-k-th key is inside */
    ulong remaining = state[TOPK_REMAINING], above = 0;
    uint b = TOPK_BINS - 1;
    while (b > 0 && above + total[b] < remaining)
        above += total[b--];
    remaining -= above;
    state[TOPK_PREFIX] |= (ulong)b << shift;
    state[TOPK_REMAINING] = remaining;
    if (total[b] == remaining || shift == 0)
        state[TOPK_DONE] = 1;
}

/* The contiguous part [*first, *last) of group chunk [begin, end) that work-item lid of lsz owns. */
void topk_item_range(const uint begin, const uint end, const uint lid, const uint lsz, uint *first,
                     uint *last) {
    const uint per = (end - begin + lsz - 1) / lsz;
    *first = min(begin + lid * per, end);
    *last = min(*first + per, end);
}

uint topk_count_range(__global const float *x, const ulong x_off, const uint first, const uint last,
                      const ulong threshold) {
    uint c = 0;
    for (uint i = first; i < last; i++)
        c += topk_key(x[x_off + i], i) >= threshold;
    return c;
}

__kernel void topk_count_f32_u32(__global const float *x, const ulong x_off, /* (n) */
                                 const uint n, const uint chunk,
                                 __global const ulong *state,                 /* (3) */
                                 __global uint *counts /* (n_groups) */) {
    const uint lid = get_local_id(0), lsz = get_local_size(0), g = get_group_id(0);
    const uint begin = min(g * chunk, n), end = min(begin + chunk, n);
    uint first, last;
    topk_item_range(begin, end, lid, lsz, &first, &last);
    const uint c = topk_count_range(x, x_off, first, last, state[TOPK_PREFIX]);
#if GC_HAS_SUBGROUPS
    __local uint partials[TOPK_LS]; /* one per subgroup */
    const uint group_count = gc_wg_sum_u(c, partials, lsz);
#else
    /* a local counter: any local size (gc_wg_sum_u's tree needs a power of two) */
    __local uint total;
    if (lid == 0)
        total = 0;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (c)
        atomic_add(&total, c);
    barrier(CLK_LOCAL_MEM_FENCE);
    const uint group_count = total;
#endif
    if (lid == 0)
        counts[g] = group_count;
}

/* Exclusive prefix sum of v over the work-group (Hillis-Steele, any local size): the portable twin of
 * gc_wg_scan_exclusive_u. a, b: (lsz). */
uint topk_exclusive_scan(const uint v, __local uint *a, __local uint *b) {
    const uint lid = get_local_id(0), lsz = get_local_size(0);
    a[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint off = 1; off < lsz; off <<= 1) {
        const uint t = lid >= off ? a[lid] + a[lid - off] : a[lid];
        b[lid] = t;
        barrier(CLK_LOCAL_MEM_FENCE);
        __local uint *swap = a;
        a = b;
        b = swap;
    }
    return a[lid] - v;
}

__kernel void topk_compact_f32_i32(__global const float *x, const ulong x_off, /* (n) */
                                   const uint n, const uint chunk,
                                   __global const ulong *state,                 /* (3) */
                                   __global const uint *counts,                 /* (n_groups) */
                                   __global int *out, const ulong out_off       /* (min(k, n)) */) {
    __local uint scan_a[TOPK_LS], scan_b[TOPK_LS];
    const uint lid = get_local_id(0), lsz = get_local_size(0), g = get_group_id(0);
    uint before = 0; /* selected keys in the groups before this one: this work-item's share of them */
    for (uint h = lid; h < g; h += lsz)
        before += counts[h];
    const ulong threshold = state[TOPK_PREFIX];
    const uint begin = min(g * chunk, n), end = min(begin + chunk, n);
    uint first, last;
    topk_item_range(begin, end, lid, lsz, &first, &last);
    const uint c = topk_count_range(x, x_off, first, last, threshold);
#if GC_HAS_SUBGROUPS
    const uint group_base = gc_wg_sum_u(before, scan_b, lsz), pos = gc_wg_scan_exclusive_u(c, scan_a);
#else
    __local uint group_base;
    if (lid == 0)
        group_base = 0;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (before)
        atomic_add(&group_base, before);
    const uint pos = topk_exclusive_scan(c, scan_a, scan_b); /* its barrier also publishes group_base */
#endif
    __global int *dst = out + out_off + group_base + pos;
    for (uint i = first; i < last; i++)
        if (topk_key(x[x_off + i], i) >= threshold)
            *dst++ = (int)i;
}
