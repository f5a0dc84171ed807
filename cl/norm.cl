/* norm.cl - RMS normalisation (llama2.c rmsnorm: ss = sum(x^2) / dim + eps; out = w * (x / sqrt(ss))).
 *
 * Entry points:
 *   rmsnorm_f32_f32(x, x_off, w, out, out_off, dim, eps)
 *     x: f32 (n, dim); w: f32 (dim); out: f32 (n, dim), may alias x.
 * Launch: 1-D, one work-group of RMS_LS work-items per row: global n * RMS_LS, local RMS_LS. */

#ifndef RMS_LS
#define RMS_LS 64 // work-items per row (power of two); each sums a strided part of the row
#endif

__kernel __attribute__((reqd_work_group_size(RMS_LS, 1, 1))) void
rmsnorm_f32_f32(__global const float *x, const ulong x_off, __global const float *w, __global float *out,
                const ulong out_off, const uint dim, const float eps) {
    __local float scratch[RMS_LS];
    const uint lid = get_local_id(0);
    const ulong row = get_group_id(0);
    __global const float *xr = x + x_off + row * dim;
    __global float *yr = out + out_off + row * dim;
    /* the local-memory tree even where subgroups exist: a subgroup sum rounds differently, and on Intel's runtime
     * that flipped a greedy token of SmolLM2 Q4_1 against llama.cpp (the real suite's agreement test), for no
     * measurable gain (8.6 vs 9.3 us per 2048-wide row, README "Fast paths") */
    const float inv = gc_rms_factor(xr, dim, eps, scratch, lid, RMS_LS);
    for (uint j = lid; j < dim; j += RMS_LS)
        yr[j] = w[j] * (inv * xr[j]);
}
