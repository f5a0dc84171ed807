/* elementwise.cl - elementwise ops on f32 vectors.
 *
 * Entry points (buffers are (pointer, element offset) pairs; n = element count):
 *   add_f32_f32(a, a_off, b, b_off, out, out_off, n)      out[i] = a[i] + b[i]
 *   scale_f32_f32(x, x_off, out, out_off, s, n)            out[i] = s * x[i]
 * Launch: 1-D, global size >= n (rounded up to the work-group size). */

__kernel void add_f32_f32(__global const float *a, const ulong a_off, __global const float *b,
                          const ulong b_off, __global float *out, const ulong out_off, const uint n) {
    const uint i = get_global_id(0);
    if (i < n)
        out[out_off + i] = a[a_off + i] + b[b_off + i];
}

__kernel void scale_f32_f32(__global const float *x, const ulong x_off, __global float *out, const ulong out_off,
                            const float s, const uint n) {
    const uint i = get_global_id(0);
    if (i < n)
        out[out_off + i] = s * x[x_off + i];
}
