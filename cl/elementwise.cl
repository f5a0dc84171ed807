/* elementwise.cl - elementwise ops on f32 vectors.
 *
 * Entry points (buffers are (pointer, element offset) pairs; n = element count):
 *   add_f32_f32(a, a_off, b, b_off, out, out_off, n)              out[i] = a[i] + b[i]
 *   scale_f32_f32(x, x_off, out, out_off, s, n)                    out[i] = s * x[i]
 *   swiglu_f32_f32(gate, gate_off, up, up_off, out, out_off, n)    out[i] = silu(gate[i]) * up[i]
 *   copy_f32_f32(src, src_off, dst, dst_off, n)                    dst[i] = src[i]
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

__kernel void swiglu_f32_f32(__global const float *gate, const ulong gate_off, __global const float *up,
                             const ulong up_off, __global float *out, const ulong out_off, const uint n) {
    const uint i = get_global_id(0);
    if (i < n) {
        const float g = gate[gate_off + i];
        out[out_off + i] = gc_silu(g) * up[up_off + i];
    }
}

__kernel void copy_f32_f32(__global const float *src, const ulong src_off, __global float *dst,
                           const ulong dst_off, const uint n) {
    const uint i = get_global_id(0);
    if (i < n)
        dst[dst_off + i] = src[src_off + i];
}
