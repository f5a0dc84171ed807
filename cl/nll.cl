/* nll.cl - scoring tokens: the negative log-likelihood of a target id under each row's softmax, so that
 * perplexity reads back one float per row instead of a row of vocab logits.
 *
 * Entry point (one work-group of NLL_LS work-items per row; work-item w reads elements w, w + NLL_LS, ...):
 *   nll_f32_f32(logits, logits_off, targets, targets_off, out, out_off, n_vocab)
 *     logits: f32 (n_rows, n_vocab); targets: int32 (n_rows); out: f32 (n_rows)
 *     out[r] = m + log(sum_i exp(logits[r, i] - m)) - logits[r, targets[r]],  m = max_i logits[r, i]
 *            = -log softmax(logits[r])[targets[r]]; NaN for a target outside 0 .. n_vocab-1.
 * Launch: global = n_rows * NLL_LS, local = NLL_LS.
 * The max is subtracted before exp so that no term overflows, as llama-perplexity's log_softmax does; the two
 * passes over the row (max, then the sum) keep the kernel as plain as that reference (tests/ref_ops.c ref_nll). */

#ifndef NLL_LS
#define NLL_LS 64 // work-items per row (power of two)
#endif

/* The largest v over the work-group, returned to every work-item; scratch is free again on return. */
inline float nll_group_max(float v, __local float *scratch, uint lid) {
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = NLL_LS / 2; s > 0; s /= 2) {
        if (lid < s)
            scratch[lid] = fmax(scratch[lid], scratch[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float m = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return m;
}

__kernel __attribute__((reqd_work_group_size(NLL_LS, 1, 1))) void
nll_f32_f32(__global const float *logits, const ulong logits_off, __global const int *targets, const ulong targets_off,
            __global float *out, const ulong out_off, const uint n_vocab) {
    __local float scratch[NLL_LS];
    const uint lid = get_local_id(0);
    const ulong row = get_group_id(0);
    __global const float *x = logits + logits_off + row * n_vocab;
    float m = -INFINITY;
    for (uint i = lid; i < n_vocab; i += NLL_LS)
        m = fmax(m, x[i]);
    m = nll_group_max(m, scratch, lid);
    float sum = 0.0f;
    for (uint i = lid; i < n_vocab; i += NLL_LS)
        sum += exp(x[i] - m);
    sum = gc_group_sum(sum, scratch, lid, NLL_LS);
    if (lid == 0) {
        const int t = targets[targets_off + row];
        out[out_off + row] = t >= 0 && (uint)t < n_vocab ? m + log(sum) - x[t] : NAN;
    }
}
