/* rope.cl - rotary position embedding, in place (decode ropes q and k inside the GEMV instead: matmul.cl).
 *
 * Entry points:
 *   rope_f32_f32(x, x_off, pos, pos_off, inv_freq, n_heads, head_dim, layout, n)
 *     x: f32 (n, n_heads, head_dim); pos: int32 (n), any values (gaps allowed); inv_freq: f32 (head_dim / 2)
 *     pair p of head h in row i turns by angle pos[i] * inv_freq[p] (common.cl's gc_rope_*).
 * Launch: 2-D, global (>= head_dim / 2, n): a work-item turns pair p of every head of row i, so each angle's
 * sine and cosine (the costly part on CPUs) are computed once per row, not once per head. */

__kernel void rope_f32_f32(__global float *x, const ulong x_off, __global const int *pos, const ulong pos_off,
                           __global const float *inv_freq, const uint n_heads, const uint head_dim,
                           const uint layout, const uint n) {
    const uint p = get_global_id(0), i = get_global_id(1);
    if (p >= head_dim / 2 || i >= n)
        return;
    float c;
    const float s = gc_rope_sincos(pos[pos_off + i], inv_freq[p], &c);
    const uint2 ab = gc_rope_pair(p, head_dim, layout);
    __global float *row = x + x_off + (ulong)i * n_heads * head_dim;
    for (uint h = 0; h < n_heads; h++) {
        __global float *head = row + h * head_dim;
        const float2 v = gc_rope_turn(head[ab.x], head[ab.y], c, s);
        head[ab.x] = v.x;
        head[ab.y] = v.y;
    }
}
