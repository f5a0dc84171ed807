/* sample.cl - choosing the next token from logits: argmax and top-k/top-p sampling, one work-group.
 *
 * Entry points (one work-group of SAMPLE_LS work-items; work-item w owns the contiguous chunk
 * [w * chunk, (w + 1) * chunk) of the logits):
 *   argmax_f32_i32(x, x_off, out, out_off, n)
 *     x: f32 (n); out: int32 (1) = the lowest index of the largest x.
 *   sample_f32_i32(x, x_off, out, out_off, n, p, temperature, top_k, top_p, u)
 *     x: f32 (n) logits; out: int32 (1); p: f32 (n) scratch for the weights exp((x - max) / temperature);
 *     temperature > 0, top_k != 1 (the host runs argmax otherwise).
 * Launch: global = local = SAMPLE_LS.
 * The sampling rule (tests/ref_ops.c ref_sample is the same rule in plain C):
 *   1. temperature <= 0 or top_k == 1: argmax.
 *   2. p_i = exp((x_i - max x) / temperature). Order tokens by larger x first, lower index first on ties.
 *   3. K = top_k (all when top_k <= 0 or >= n); Z = mass of the first K.
 *   4. M = K, or for top_p < 1 the smallest count whose first tokens in that order reach mass top_p * Z
 *      (never more than K).
 *   5. Keep the first M tokens; walk them in index order summing p and return the first index where the
 *      running sum exceeds u * (kept mass) (the last kept index if rounding leaves it unreached).
 * The first M tokens are found without sorting: a bisection over the order-preserving integer keys of the
 * floats (gc_float_key, cl/common.cl) finds the M-th largest key t; kept = key > t, plus the ties key == t of lowest index. */

#ifndef SAMPLE_LS
#define SAMPLE_LS 64 // work-items of the single work-group (power of two)
#endif

/* The lowest index of the largest x over the group; every work-item gets it. */
inline uint group_argmax(__global const float *x, uint lo, uint hi, __local float *sv, __local uint *si,
                         uint lid) {
    uint best = lo;
    for (uint i = lo + 1; i < hi; i++)
        if (x[i] > x[best])
            best = i;
    sv[lid] = lo < hi ? x[best] : -INFINITY;
    si[lid] = lo < hi ? best : UINT_MAX;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = SAMPLE_LS / 2; s > 0; s /= 2) {
        if (lid < s && (sv[lid + s] > sv[lid] || (sv[lid + s] == sv[lid] && si[lid + s] < si[lid]))) {
            sv[lid] = sv[lid + s];
            si[lid] = si[lid + s];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const uint r = si[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

#define CHUNK_BOUNDS(n)                                                                                     \
    const uint lid = get_local_id(0), chunk = (n + SAMPLE_LS - 1) / SAMPLE_LS;                              \
    const uint lo = min(n, lid * chunk), hi = min(n, lo + chunk)

__kernel __attribute__((reqd_work_group_size(SAMPLE_LS, 1, 1))) void
argmax_f32_i32(__global const float *x, const ulong x_off, __global int *out, const ulong out_off, const uint n) {
    __local float sv[SAMPLE_LS];
    __local uint si[SAMPLE_LS];
    CHUNK_BOUNDS(n);
    const uint best = group_argmax(x + x_off, lo, hi, sv, si, lid);
    if (lid == 0)
        out[out_off] = (int)best;
}

/* Count (as float in .x) and mass (.y, from the weights p) of the tokens with key >= t, or key > t when
 * strict. */
inline float2 group_above(__global const float *x, __global const float *p, uint lo, uint hi, uint t,
                          bool strict, __local float *sf, __local uint *su) {
    uint c = 0;
    float mass = 0.0f;
    for (uint i = lo; i < hi; i++) {
        const uint k = gc_float_key(x[i]);
        if (k > t || (!strict && k == t)) {
            c++;
            mass += p[i];
        }
    }
    return (float2)((float)gc_wg_sum_u(c, su, SAMPLE_LS), gc_wg_sum(mass, sf, SAMPLE_LS));
}

/* The largest key t with (by_mass ? mass : count) of {key >= t} >= goal. */
inline uint group_bisect(__global const float *x, __global const float *p, uint lo, uint hi, float goal,
                         bool by_mass, __local float *sf, __local uint *su) {
    uint t = 0;
    for (int b = 31; b >= 0; b--) {
        const uint cand = t | (1u << b);
        const float2 a = group_above(x, p, lo, hi, cand, false, sf, su);
        if ((by_mass ? a.y : a.x) >= goal)
            t = cand;
    }
    return t;
}

/* Exclusive prefix sum of v over the work-items (in lid order) into scan[lid]; scan[SAMPLE_LS] = total. */
inline void group_scan(float v, __local float *scan, uint lid) {
    scan[lid + 1] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid == 0) {
        scan[0] = 0.0f;
        for (uint w = 1; w <= SAMPLE_LS; w++)
            scan[w] += scan[w - 1];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}

/* The first kept index in [lo, hi) where the running mass (from cum) exceeds target, else the last kept. */
inline uint walk_kept(__global const float *x, __global const float *p, uint lo, uint hi, uint t, uint rank,
                      uint tie_quota, float cum, float target) {
    uint pick = lo;
    for (uint i = lo; i < hi; i++) {
        const uint k = gc_float_key(x[i]);
        if (k > t || (k == t && rank++ < tie_quota)) {
            pick = i;
            cum += p[i];
            if (cum > target)
                break;
        }
    }
    return pick;
}

/* Steps 3-4 of the rule: the number of tokens kept is keep = count(key > t) + (*tie_quota) ties at t.
 * Both bisections always run: PoCL 3.1 mis-ran kernels with barriers under (uniform) branches. */
inline uint kept_threshold(__global const float *x, __global const float *p, uint lo, uint hi, uint n, float m,
                           float temp, int top_k, float top_p, __local float *sf, __local uint *su,
                           uint *tie_quota) {
    const uint k = top_k <= 0 || (uint)top_k >= n ? n : (uint)top_k;
    const uint tk = group_bisect(x, p, lo, hi, (float)k, false, sf, su);
    const float2 gtk = group_above(x, p, lo, hi, tk, true, sf, su);
    const float z = gtk.y + ((float)k - gtk.x) * exp((gc_key_float(tk) - m) / temp);
    const float goal = top_p * z;
    const uint tp = group_bisect(x, p, lo, hi, goal, true, sf, su);
    const float2 gtp = group_above(x, p, lo, hi, tp, true, sf, su);
    const float2 gep = group_above(x, p, lo, hi, tp, false, sf, su);
    const float ties = clamp(ceil((goal - gtp.y) / exp((gc_key_float(tp) - m) / temp)), 1.0f, gep.x - gtp.x);
    const uint keep_p = (uint)(gtp.x + ties);
    const bool by_p = top_p < 1.0f && keep_p < k;
    *tie_quota = by_p ? (uint)ties : k - (uint)gtk.x;
    return by_p ? tp : tk;
}

/* Launched only when sampling is not greedy (the host runs argmax for temperature <= 0 or top_k == 1). */
__kernel __attribute__((reqd_work_group_size(SAMPLE_LS, 1, 1))) void
sample_f32_i32(__global const float *logits, const ulong x_off, __global int *out, const ulong out_off,
               const uint n, __global float *p, const float temp, const int top_k, const float top_p,
               const float u) {
    __local float sf[SAMPLE_LS], scan_ties[SAMPLE_LS + 1], scan_mass[SAMPLE_LS + 1];
    __local uint su[SAMPLE_LS];
    CHUNK_BOUNDS(n);
    __global const float *x = logits + x_off;
    const float m = x[group_argmax(x, lo, hi, sf, su, lid)];
    for (uint i = lo; i < hi; i++) /* each work-item reads back only its own chunk: no barrier needed */
        p[i] = exp((x[i] - m) / temp);
    uint tie_quota;
    const uint t = kept_threshold(x, p, lo, hi, n, m, temp, top_k, top_p, sf, su, &tie_quota);
    uint ties = 0;
    for (uint i = lo; i < hi; i++)
        ties += gc_float_key(x[i]) == t;
    group_scan((float)ties, scan_ties, lid);
    /* kept(i): key > t, or a tie whose rank among ties (index order) is below tie_quota */
    uint rank = (uint)scan_ties[lid], n_kept = 0;
    float mass = 0.0f;
    for (uint i = lo; i < hi; i++) {
        const uint k = gc_float_key(x[i]);
        if (k > t || (k == t && rank++ < tie_quota)) {
            n_kept++;
            mass += p[i];
        }
    }
    group_scan(mass, scan_mass, lid);
    const float target = u * scan_mass[SAMPLE_LS];
    /* the chunk holding the crossing: the last one with kept tokens that starts at or below target */
    su[lid] = n_kept > 0 && scan_mass[lid] <= target ? lid : 0u;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid == 0)
        for (uint w = 1; w < SAMPLE_LS; w++)
            su[0] = max(su[0], su[w]);
    barrier(CLK_LOCAL_MEM_FENCE);
    const uint chosen = su[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    su[lid] = walk_kept(x, p, lo, hi, t, (uint)scan_ties[lid], tie_quota, scan_mass[lid], target);
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid == 0)
        out[out_off] = (int)su[chosen];
}
