/* rope.cl - rotary position embedding, in place (decode ropes q and k inside the GEMV instead: matmul.cl).
 *
 * Entry points:
 *   rope_f32_f32(x, x_off, pos, pos_off, inv_freq, n_heads, head_dim, layout, n)
 *     x: f32 (n, n_heads, head_dim); pos: int32 (n), any values (gaps allowed); inv_freq: f32 (head_dim / 2)
 *     pair p of head h in row i turns by angle pos[i] * inv_freq[p] (gc_rope_pair, gc_rope_rotate).
 * Launch: 2-D, global (>= n_heads * head_dim / 2, n). */

__kernel void rope_f32_f32(__global float *x, const ulong x_off, __global const int *pos, const ulong pos_off,
                           __global const float *inv_freq, const uint n_heads, const uint head_dim,
                           const uint layout, const uint n) {
    const uint half_dim = head_dim / 2;
    const uint t = get_global_id(0), i = get_global_id(1);
    if (t >= n_heads * half_dim || i >= n)
        return;
    const uint h = t / half_dim, p = t % half_dim;
    __global float *head = x + x_off + ((ulong)i * n_heads + h) * head_dim;
    const uint2 ab = gc_rope_pair(p, head_dim, layout);
    const float2 v = gc_rope_rotate(head[ab.x], head[ab.y], pos[pos_off + i], inv_freq[p]);
    head[ab.x] = v.x;
    head[ab.y] = v.y;
}
