/* embed.cl - token embedding lookup.
 *
 * Entry points, one per table dtype t in f32, f16, bf16, q8_0:
 *   embed_<t>_f32(table, row_bytes, vocab, ids, ids_off, out, out_off, dim, n)
 *     table: (vocab, dim) rows of row_bytes bytes; ids: int32 (n); out: f32 (n, dim)
 *     out[i, j] = table[ids[i], j] as f32; an id outside [0, vocab) gives a zero row.
 * Launch: 2-D, global (>= dim, n). */

#define EMBED(T)                                                                                            \
    __kernel void embed_##T##_f32(__global const uchar *table, const ulong row_bytes, const uint vocab,     \
                                  __global const int *ids, const ulong ids_off, __global float *out,        \
                                  const ulong out_off, const uint dim, const uint n) {                      \
        const uint j = get_global_id(0), i = get_global_id(1);                                              \
        if (j >= dim || i >= n)                                                                             \
            return;                                                                                         \
        const int id = ids[ids_off + i];                                                                    \
        const bool ok = id >= 0 && (uint)id < vocab;                                                        \
        out[out_off + (ulong)i * dim + j] = ok ? ld1_##T(table + (ulong)id * row_bytes, j) : 0.0f;          \
    }

GC_FOR_EACH_DTYPE(EMBED)
