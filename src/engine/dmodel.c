/* dmodel.c - uploading a model's weights to the device, one buffer per tensor, converting dtypes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

void gc_rope_inv_freq(const gc_hparams *hp, float *inv_freq) {
    int hd = hp->head_dim;
    for (int p = 0; p < hd / 2; p++) {
        /* llama2.c: freq = 1 / theta^(head_dim_idx / head_size) with head_dim_idx = 2p, in float */
        float freq = 1.0f / powf(hp->rope_theta, (float)(2 * p) / (float)hd);
        inv_freq[p] = gc_rope_scale_freq(&hp->rope_scaling, freq);
    }
}

/* Converts rows of t into dtype dst and writes them to buf in slabs, so host memory stays bounded. */
static gc_status write_converted(gc_runtime *rt, const gc_tensor *t, gc_dtype dst, int64_t rows, int64_t cols,
                                 gc_buffer *buf, gc_error *err) {
    size_t src_row = gc_dtype_row_bytes(t->dtype, cols), dst_row = gc_dtype_row_bytes(dst, cols);
    int64_t slab = rows < 256 ? rows : 256;
    float *f = malloc((size_t)cols * sizeof *f);
    unsigned char *out = malloc((size_t)slab * dst_row);
    gc_status st = GC_OK;
    if (!f || !out)
        st = gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory converting", t->name);
    for (int64_t r0 = 0; st == GC_OK && r0 < rows; r0 += slab) {
        int64_t nr = rows - r0 < slab ? rows - r0 : slab;
        for (int64_t r = 0; r < nr; r++) {
            gc_row_to_f32(t->dtype, (const unsigned char *)t->data + (size_t)(r0 + r) * src_row, cols, f);
            gc_row_from_f32(dst, f, cols, out + (size_t)r * dst_row);
        }
        st = gc_buffer_write(rt, buf, (size_t)r0 * dst_row, out, (size_t)nr * dst_row, err);
    }
    free(f);
    free(out);
    return st;
}

static gc_status upload_matrix(gc_ops *ops, const gc_tensor *t, int dtype, int64_t rows, int64_t cols, gc_dweight *w,
                               size_t *total, gc_error *err) {
    gc_runtime *rt = gc_ops_runtime(ops);
    if (!t->data)
        return gc_fail(err, GC_ERR_FORMAT, "tensor %s is missing", t->name);
    gc_dtype dst = dtype == GC_DTYPE_KEEP ? t->dtype : (gc_dtype)dtype;
    if (dst == GC_DTYPE_Q8_0 && cols % 32 != 0)
        dst = GC_DTYPE_F16; /* Q8_0 needs whole blocks; such rows stay f16 */
    w->dtype = dst;
    w->rows = (int)rows;
    w->cols = (int)cols;
    gc_status st = gc_buffer_alloc(rt, gc_dtype_row_bytes(dst, cols) * (size_t)rows, t->name, &w->buf, err);
    if (st != GC_OK)
        return st;
    *total += w->buf.bytes;
    if (dst == t->dtype)
        return gc_buffer_write(rt, &w->buf, 0, t->data, w->buf.bytes, err);
    return write_converted(rt, t, dst, rows, cols, &w->buf, err);
}

/* Vectors (norm weights, biases) always live as f32. */
static gc_status upload_vector(gc_ops *ops, const gc_tensor *t, int64_t n, gc_buffer *buf, size_t *total,
                               gc_error *err) {
    gc_runtime *rt = gc_ops_runtime(ops);
    if (!t->data)
        return gc_fail(err, GC_ERR_FORMAT, "tensor %s is missing", t->name);
    float *f = malloc((size_t)n * sizeof *f);
    if (!f)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory", t->name);
    gc_row_to_f32(t->dtype, t->data, n, f);
    gc_status st = gc_buffer_alloc(rt, (size_t)n * 4, t->name, buf, err);
    if (st == GC_OK) {
        *total += buf->bytes;
        st = gc_buffer_write(rt, buf, 0, f, (size_t)n * 4, err);
    }
    free(f);
    return st;
}

static gc_status upload_layer(gc_ops *ops, const gc_hparams *hp, const gc_layer_weights *lw, int dtype, gc_dlayer *dl,
                              size_t *total, gc_error *err) {
    int64_t d = hp->n_embd, q_dim = (int64_t)hp->n_heads * hp->head_dim,
            kv_dim = (int64_t)hp->n_kv_heads * hp->head_dim, ff = hp->n_ff;
    gc_status st;
    if ((st = upload_vector(ops, &lw->attn_norm, d, &dl->attn_norm, total, err)) ||
        (st = upload_vector(ops, &lw->ffn_norm, d, &dl->ffn_norm, total, err)) ||
        (st = upload_matrix(ops, &lw->wq, dtype, q_dim, d, &dl->wq, total, err)) ||
        (st = upload_matrix(ops, &lw->wk, dtype, kv_dim, d, &dl->wk, total, err)) ||
        (st = upload_matrix(ops, &lw->wv, dtype, kv_dim, d, &dl->wv, total, err)) ||
        (st = upload_matrix(ops, &lw->wo, dtype, d, q_dim, &dl->wo, total, err)) ||
        (st = upload_matrix(ops, &lw->w_gate, dtype, ff, d, &dl->w_gate, total, err)) ||
        (st = upload_matrix(ops, &lw->w_up, dtype, ff, d, &dl->w_up, total, err)) ||
        (st = upload_matrix(ops, &lw->w_down, dtype, d, ff, &dl->w_down, total, err)))
        return st;
    if (hp->qkv_bias &&
        ((st = upload_vector(ops, &lw->bq, q_dim, &dl->bq, total, err)) ||
         (st = upload_vector(ops, &lw->bk, kv_dim, &dl->bk, total, err)) ||
         (st = upload_vector(ops, &lw->bv, kv_dim, &dl->bv, total, err))))
        return st;
    return GC_OK;
}

gc_status gc_dmodel_upload(gc_ops *ops, const gc_model_file *model, int dtype, gc_dmodel **out, gc_error *err) {
    *out = NULL;
    const gc_hparams *hp = &model->hp;
    gc_dmodel *m = calloc(1, sizeof *m);
    if (m)
        m->layers = calloc((size_t)hp->n_layers, sizeof *m->layers);
    if (!m || !m->layers) {
        free(m);
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory for the device model");
    }
    m->hp = *hp;
    gc_runtime *rt = gc_ops_runtime(ops);
    size_t total = 0;
    gc_status st = upload_matrix(ops, &model->tok_embd, dtype, hp->vocab_size, hp->n_embd, &m->tok_embd, &total, err);
    m->lm_head_shared = hp->tied_embeddings || model->lm_head.data == model->tok_embd.data;
    if (st == GC_OK && m->lm_head_shared)
        m->lm_head = m->tok_embd;
    else if (st == GC_OK)
        st = upload_matrix(ops, &model->lm_head, dtype, hp->vocab_size, hp->n_embd, &m->lm_head, &total, err);
    if (st == GC_OK)
        st = upload_vector(ops, &model->out_norm, hp->n_embd, &m->out_norm, &total, err);
    for (int l = 0; st == GC_OK && l < hp->n_layers; l++) {
        st = upload_layer(ops, hp, &model->layers[l], dtype, &m->layers[l], &total, err);
        if (st != GC_OK)
            gc_error_prefix(err, "layer %d", l);
    }
    if (st == GC_OK) {
        float *inv = malloc((size_t)hp->head_dim / 2 * sizeof *inv);
        if (!inv) {
            st = gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
        } else {
            gc_rope_inv_freq(hp, inv);
            st = gc_buffer_alloc(rt, (size_t)hp->head_dim / 2 * 4, "rope inv_freq", &m->inv_freq, err);
            if (st == GC_OK)
                st = gc_buffer_write(rt, &m->inv_freq, 0, inv, m->inv_freq.bytes, err);
            free(inv);
        }
    }
    m->weight_bytes = total;
    if (st != GC_OK) {
        gc_dmodel_free(rt, m);
        return st;
    }
    *out = m;
    return GC_OK;
}

void gc_dmodel_free(gc_runtime *rt, gc_dmodel *m) {
    if (!m)
        return;
    gc_runtime_finish(rt);
    for (int l = 0; m->layers && l < m->hp.n_layers; l++) {
        gc_dlayer *d = &m->layers[l];
        gc_buffer *bufs[] = {&d->attn_norm, &d->ffn_norm, &d->wq.buf, &d->wk.buf, &d->wv.buf, &d->wo.buf,
                             &d->bq, &d->bk, &d->bv, &d->w_gate.buf, &d->w_up.buf, &d->w_down.buf};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            gc_buffer_free(rt, bufs[i]);
    }
    if (!m->lm_head_shared)
        gc_buffer_free(rt, &m->lm_head.buf);
    gc_buffer_free(rt, &m->tok_embd.buf);
    gc_buffer_free(rt, &m->out_norm);
    gc_buffer_free(rt, &m->inv_freq);
    free(m->layers);
    free(m);
}
