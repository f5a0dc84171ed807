/* embed.cl - token embedding lookup.
 *
 * Entry point for the table dtype t of the program (-DGC_WTYPE=t, any dtype of common.cl):
 *   embed_<t>_f32(table, row_bytes, vocab, ids, ids_off, out, out_off, dim, n)
 *     table: (vocab, dim) rows of row_bytes bytes; ids: int32 (n); out: f32 (n, dim)
 *     out[i, j] = table[ids[i], j] as f32 (bit for bit gc_row_to_f32); an id outside [0, vocab) gives a zero
 *     row. Each work-item writes 16 elements (ld16 decodes a quantized group once for all of them).
 * Launch: 2-D, global (>= ceil(dim / 16), n). */

#define EMBED(T)                                                                                            \
    __kernel void embed_##T##_f32(__global const uchar *table, const ulong row_bytes, const uint vocab,     \
                                  __global const int *ids, const ulong ids_off, __global float *out,        \
                                  const ulong out_off, const uint dim, const uint n) {                      \
        const uint j = get_global_id(0) * 16, i = get_global_id(1);                                         \
        if (j >= dim || i >= n)                                                                             \
            return;                                                                                         \
        const int id = ids[ids_off + i];                                                                    \
        const bool ok = id >= 0 && (uint)id < vocab;                                                        \
        gc_row row = table + (ulong)(ok ? id : 0) * row_bytes;                                              \
        __global float *o = out + out_off + (ulong)i * dim + j;                                             \
        if (j + 16 <= dim) {                                                                                \
            vstore16(ok ? ld16_##T(row, j) : 0.0f, 0, o);                                                   \
            return;                                                                                         \
        }                                                                                                   \
        for (uint e = 0; j + e < dim; e++)                                                                  \
            o[e] = ok ? ld1_##T(row, j + e) : 0.0f;                                                         \
    }

#ifdef GC_WTYPE
GC_INSTANTIATE(EMBED, GC_WTYPE)
#endif
