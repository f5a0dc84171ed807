/* validate.c - the checks every format shares: tensor byte ranges against the file, row views, hparams
 * sanity, and every exposed tensor's shape against the hparams. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"

/* Upper bounds that keep every size product far from overflow (2^24 * 2^24 * 4 < 2^63). */
#define GC_MAX_DIM (1 << 24)
#define GC_MAX_LAYERS 4096

void gc_tensor_describe(gc_tensor *t, const char *name, gc_dtype dtype, int n_dims, const int64_t *dims) {
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->dtype = dtype;
    t->n_dims = n_dims;
    for (int i = 0; i < n_dims && i < 4; i++)
        t->shape[i] = dims[i];
}

gc_status gc_tensor_expected_bytes(const gc_tensor *t, const char *file, uint64_t offset, uint64_t *nbytes,
                                   gc_error *err) {
    if (t->n_dims < 1 || t->n_dims > 4)
        return gc_fail(err, GC_ERR_FORMAT, "%s: tensor '%s' at offset %" PRIu64 ": %d dimensions (1..4 supported)",
                       file, t->name, offset, t->n_dims);
    uint64_t n = 1;
    for (int i = 0; i < t->n_dims; i++)
        if (t->shape[i] <= 0 || !gc_mul_u64(n, (uint64_t)t->shape[i], &n))
            return gc_fail(err, GC_ERR_FORMAT, "%s: tensor '%s' at offset %" PRIu64 ": bad dimension %" PRId64, file,
                           t->name, offset, t->shape[i]);
    const int block = gc_dtype_block(t->dtype);
    if (t->shape[t->n_dims - 1] % block != 0)
        return gc_fail(err, GC_ERR_FORMAT,
                       "%s: tensor '%s' at offset %" PRIu64 ": %s row of %" PRId64
                       " is not a multiple of the block size %d",
                       file, t->name, offset, gc_dtype_name(t->dtype), t->shape[t->n_dims - 1], block);
    if (!gc_mul_u64(n / (uint64_t)block, gc_dtype_block_bytes(t->dtype), nbytes))
        return gc_fail(err, GC_ERR_FORMAT, "%s: tensor '%s' at offset %" PRIu64 ": size overflows", file, t->name,
                       offset);
    return GC_OK;
}

static bool range_fits(const gc_mapped_file *map, uint64_t offset, uint64_t nbytes) {
    uint64_t end;
    return gc_add_u64(offset, nbytes, &end) && end <= map->size;
}

gc_status gc_check_range(const gc_mapped_file *map, const char *file, const char *name, uint64_t offset,
                         uint64_t nbytes, gc_error *err) {
    if (!range_fits(map, offset, nbytes))
        return gc_fail(err, GC_ERR_FORMAT,
                       "%s: tensor '%s' at offset %" PRIu64 ": %" PRIu64
                       " bytes run past the end of the file (%zu bytes)",
                       file, name, offset, nbytes, map->size);
    return GC_OK;
}

gc_status gc_tensor_bind(gc_tensor *t, const char *file, const gc_mapped_file *map, uint64_t offset,
                         uint64_t declared_nbytes, gc_error *err) {
    uint64_t nbytes;
    gc_status s = gc_tensor_expected_bytes(t, file, offset, &nbytes, err);
    if (s != GC_OK)
        return s;
    if (declared_nbytes != UINT64_MAX && declared_nbytes != nbytes)
        return gc_fail(err, GC_ERR_FORMAT,
                       "%s: tensor '%s' at offset %" PRIu64 ": %" PRIu64 " bytes stored but %s shape needs %" PRIu64,
                       file, t->name, offset, declared_nbytes, gc_dtype_name(t->dtype), nbytes);
    if (!range_fits(map, offset, nbytes)) /* the type says how the size came about */
        return gc_fail(err, GC_ERR_FORMAT,
                       "%s: tensor '%s' (%s) at offset %" PRIu64 ": %" PRIu64
                       " bytes run past the end of the file (%zu bytes)",
                       file, t->name, gc_dtype_name(t->dtype), offset, nbytes, map->size);
    t->data = map->data + offset;
    t->nbytes = (size_t)nbytes;
    t->file_offset = offset;
    return GC_OK;
}

gc_status gc_tensor_rows(const gc_tensor *src, int64_t first, int64_t count, bool squeeze, const char *name,
                         gc_tensor *out, gc_error *err) {
    if (!src->data || src->n_dims < 1 || first < 0 || count <= 0 || first > src->shape[0] - count ||
        (squeeze && (count != 1 || src->n_dims < 2)))
        return gc_fail(err, GC_ERR_FORMAT, "tensor '%s' at offset %" PRIu64 ": no rows [%" PRId64 ", %" PRId64 ")",
                       src->name, src->file_offset, first, first + count);
    size_t row_bytes = src->nbytes / (size_t)src->shape[0];
    gc_tensor v = *src;
    if (name)
        snprintf(v.name, sizeof v.name, "%s", name);
    v.data = (const unsigned char *)src->data + (size_t)first * row_bytes;
    v.file_offset = src->file_offset + (uint64_t)first * row_bytes;
    v.nbytes = (size_t)count * row_bytes;
    v.shape[0] = count;
    if (squeeze) {
        memmove(v.shape, v.shape + 1, 3 * sizeof v.shape[0]);
        v.shape[3] = 0;
        v.n_dims--;
    }
    *out = v;
    return GC_OK;
}

static int by_begin(const void *a, const void *b) {
    const gc_byte_range *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

gc_status gc_check_overlaps(gc_byte_range *r, int n, const char *path, gc_error *err) {
    qsort(r, (size_t)n, sizeof *r, by_begin);
    for (int i = 1; i < n; i++)
        if (r[i].begin < r[i - 1].end)
            return gc_fail(err, GC_ERR_FORMAT, "%s: tensor '%s' at offset %" PRIu64 " overlaps tensor '%s'", path,
                           r[i].name, r[i].begin, r[i - 1].name);
    return GC_OK;
}

static bool in_range(int v, int lo, int hi) {
    return v >= lo && v <= hi;
}

gc_status gc_hparams_check(const gc_hparams *hp, const char *file, gc_error *err) {
    if (!in_range(hp->n_embd, 1, GC_MAX_DIM) || !in_range(hp->n_ff, 1, GC_MAX_DIM) ||
        !in_range(hp->n_layers, 1, GC_MAX_LAYERS) || !in_range(hp->n_heads, 1, 65536) ||
        !in_range(hp->n_kv_heads, 1, hp->n_heads) || !in_range(hp->head_dim, 2, 65536) ||
        !in_range(hp->vocab_size, 1, GC_MAX_DIM) || hp->ctx_train < 0)
        return gc_fail(err, GC_ERR_FORMAT,
                       "%s: hyperparameters out of range: n_embd %d, n_ff %d, n_layers %d, n_heads %d, n_kv_heads %d, "
                       "head_dim %d, vocab %d, ctx %d",
                       file, hp->n_embd, hp->n_ff, hp->n_layers, hp->n_heads, hp->n_kv_heads, hp->head_dim,
                       hp->vocab_size, hp->ctx_train);
    if (hp->n_heads % hp->n_kv_heads != 0 || hp->head_dim % 2 != 0 ||
        (int64_t)hp->n_heads * hp->head_dim > GC_MAX_DIM)
        return gc_fail(err, GC_ERR_FORMAT, "%s: %d heads of %d do not split into %d KV groups with an even head_dim",
                       file, hp->n_heads, hp->head_dim, hp->n_kv_heads);
    if (!(hp->norm_eps > 0 && hp->norm_eps < 1) || !(hp->rope_theta > 0))
        return gc_fail(err, GC_ERR_FORMAT, "%s: norm eps %g or rope theta %g out of range", file, hp->norm_eps,
                       hp->rope_theta);
    return GC_OK;
}

/* One expected tensor: t must exist (unless optional) and have exactly the given shape. */
static gc_status expect(const gc_model_file *m, int layer, const gc_tensor *t, const char *what, bool optional,
                        int n_dims, int64_t d0, int64_t d1, gc_error *err) {
    if (!t->data) {
        if (optional)
            return GC_OK;
        if (layer >= 0)
            return gc_fail(err, GC_ERR_FORMAT, "%s: layer %d: tensor '%s' is missing", m->path, layer, what);
        return gc_fail(err, GC_ERR_FORMAT, "%s: tensor '%s' is missing", m->path, what);
    }
    int64_t want[2] = {d0, d1};
    bool ok = t->n_dims == n_dims;
    for (int i = 0; ok && i < n_dims; i++)
        ok = t->shape[i] == want[i];
    if (ok)
        return GC_OK;
    char got[96] = "";
    for (int i = 0; i < t->n_dims && i < 4; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%" PRId64, i ? ", " : "", t->shape[i]);
    return gc_fail(err, GC_ERR_FORMAT,
                   "%s: tensor '%s' at offset %" PRIu64 ": shape [%s] but the hyperparameters expect [%" PRId64
                   "%s%.0" PRId64 "]",
                   m->path, t->name, t->file_offset, got, d0, n_dims == 2 ? ", " : "", n_dims == 2 ? d1 : (int64_t)0);
}

static gc_status check_layer(const gc_model_file *m, int i, gc_error *err) {
    const gc_layer_weights *l = &m->layers[i];
    const gc_hparams *hp = &m->hp;
    int64_t e = hp->n_embd, q = (int64_t)hp->n_heads * hp->head_dim, kv = (int64_t)hp->n_kv_heads * hp->head_dim;
    gc_status s = GC_OK;
    if (s == GC_OK)
        s = expect(m, i, &l->attn_norm, "attn_norm", false, 1, e, 0, err);
    if (s == GC_OK)
        s = expect(m, i, &l->wq, "wq", false, 2, q, e, err);
    if (s == GC_OK)
        s = expect(m, i, &l->wk, "wk", false, 2, kv, e, err);
    if (s == GC_OK)
        s = expect(m, i, &l->wv, "wv", false, 2, kv, e, err);
    if (s == GC_OK)
        s = expect(m, i, &l->bq, "bq", !hp->qkv_bias, 1, q, 0, err);
    if (s == GC_OK)
        s = expect(m, i, &l->bk, "bk", !hp->qkv_bias, 1, kv, 0, err);
    if (s == GC_OK)
        s = expect(m, i, &l->bv, "bv", !hp->qkv_bias, 1, kv, 0, err);
    if (s == GC_OK)
        s = expect(m, i, &l->wo, "wo", false, 2, e, q, err);
    if (s == GC_OK)
        s = expect(m, i, &l->ffn_norm, "ffn_norm", false, 1, e, 0, err);
    if (s == GC_OK)
        s = expect(m, i, &l->w_gate, "w_gate", false, 2, hp->n_ff, e, err);
    if (s == GC_OK)
        s = expect(m, i, &l->w_up, "w_up", false, 2, hp->n_ff, e, err);
    if (s == GC_OK)
        s = expect(m, i, &l->w_down, "w_down", false, 2, e, hp->n_ff, err);
    return s;
}

gc_status gc_model_check_shapes(const gc_model_file *m, gc_error *err) {
    const gc_hparams *hp = &m->hp;
    gc_status s = gc_hparams_check(hp, m->path, err);
    if (s == GC_OK)
        s = expect(m, -1, &m->tok_embd, "token embedding", false, 2, hp->vocab_size, hp->n_embd, err);
    if (s == GC_OK)
        s = expect(m, -1, &m->out_norm, "output norm", false, 1, hp->n_embd, 0, err);
    if (s == GC_OK)
        s = expect(m, -1, &m->lm_head, "lm_head", false, 2, hp->vocab_size, hp->n_embd, err);
    if (s == GC_OK && !m->layers)
        s = gc_fail(err, GC_ERR_FORMAT, "%s: no layers", m->path);
    for (int i = 0; s == GC_OK && i < hp->n_layers; i++)
        s = check_layer(m, i, err);
    return s;
}
