/* rope.cl - rotary position embedding, in place.
 *
 * Entry points:
 *   rope_f32_f32(x, x_off, n_heads, x2, x2_off, n_heads2, pos, pos_off, inv_freq, head_dim, layout, n)
 *     x: f32 (n, n_heads, head_dim) and x2: f32 (n, n_heads2, head_dim) (a layer's q and k: one launch;
 *     n_heads2 = 0 for one tensor); pos: int32 (n), any values (gaps allowed); inv_freq: f32 (head_dim / 2).
 *     Pair p of head h in row i turns by angle pos[i] * inv_freq[p]; the pair is (2p, 2p + 1) for
 *     layout 0 (ADJACENT) and (p, p + head_dim / 2) for layout 1 (HALF).
 * Launch: 2-D, global (>= (n_heads + n_heads2) * head_dim / 2, n). */

__kernel void rope_f32_f32(__global float *x, const ulong x_off, const uint n_heads, __global float *x2,
                           const ulong x2_off, const uint n_heads2, __global const int *pos, const ulong pos_off,
                           __global const float *inv_freq, const uint head_dim, const uint layout, const uint n) {
    const uint half_dim = head_dim / 2;
    const uint t = get_global_id(0), i = get_global_id(1);
    if (t >= (n_heads + n_heads2) * half_dim || i >= n)
        return;
    const bool second = t >= n_heads * half_dim;
    const uint h = (second ? t - n_heads * half_dim : t) / half_dim, p = t % half_dim;
    const float angle = (float)pos[pos_off + i] * inv_freq[p];
    float c;
    const float s = sincos(angle, &c);
    __global float *head = second ? x2 + x2_off + ((ulong)i * n_heads2 + h) * head_dim
                                  : x + x_off + ((ulong)i * n_heads + h) * head_dim;
    const uint a = layout == 0 ? 2 * p : p;
    const uint b = layout == 0 ? 2 * p + 1 : p + half_dim;
    const float x0 = head[a], x1 = head[b];
    head[a] = x0 * c - x1 * s;
    head[b] = x0 * s + x1 * c;
}
