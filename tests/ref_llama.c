/* ref_llama.c - see ref_llama.h. Shapes follow llama2.c: x (n, dim), k/v (n, kv_dim), per layer. */
#include "ref_llama.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

/* y (rows) = W (rows, cols) x (cols), W in any dtype. */
static void matvec(const gc_tensor *w, const double *x, double *y, float *row) {
    int64_t rows = w->shape[0], cols = w->shape[1];
    size_t rb = gc_dtype_row_bytes(w->dtype, cols);
    for (int64_t r = 0; r < rows; r++) {
        gc_row_to_f32(w->dtype, (const unsigned char *)w->data + (size_t)r * rb, cols, row);
        double acc = 0;
        for (int64_t c = 0; c < cols; c++)
            acc += (double)row[c] * x[c];
        y[r] = acc;
    }
}

static void add_bias(const gc_tensor *b, double *y, int n, float *row) {
    if (!b->data)
        return;
    gc_row_to_f32(b->dtype, b->data, n, row);
    for (int i = 0; i < n; i++)
        y[i] += row[i];
}

static void rmsnorm(const double *x, const gc_tensor *w, int d, double eps, double *out, float *row) {
    double ss = 0;
    for (int i = 0; i < d; i++)
        ss += x[i] * x[i];
    double scale = 1.0 / sqrt(ss / d + eps);
    gc_row_to_f32(w->dtype, w->data, d, row);
    for (int i = 0; i < d; i++)
        out[i] = x[i] * scale * row[i];
}

static void rope(double *v, int n_heads, int hd, int pos, const float *inv_freq, gc_rope_layout layout) {
    for (int h = 0; h < n_heads; h++) {
        double *x = v + (size_t)h * hd;
        for (int p = 0; p < hd / 2; p++) {
            double a = (double)pos * (double)inv_freq[p], c = cos(a), s = sin(a);
            int i0 = layout == GC_ROPE_ADJACENT ? 2 * p : p, i1 = layout == GC_ROPE_ADJACENT ? 2 * p + 1 : p + hd / 2;
            double x0 = x[i0], x1 = x[i1];
            x[i0] = x0 * c - x1 * s;
            x[i1] = x0 * s + x1 * c;
        }
    }
}

typedef struct ref_state {
    const gc_model_file *m;
    int n, d, hd, qd, kvd, ff;
    double *x, *xb, *q, *k, *v, *att, *hb, *hb2, *tmp; /* x (n, d); q (n, qd); k, v (n, kvd); others per row */
    float *row, *inv_freq;
    const int32_t *pos;     /* (n) positions of the rows; NULL = 0..n-1 */
    const double *q_src, *k_src; /* pod-tf: distant logits from these (n, qd) / (n, kvd); NULL = ordinary */
    int pod_sinks, pod_recent;
    double *colsum;         /* H2O: (n_kv_heads, n) += each row's softmax probabilities (the layer's mass); or NULL */
    int colsum_from;        /* only rows i >= colsum_from add (SnapKV's window) */
} ref_state;

static int state_init(ref_state *s, const gc_model_file *m, const int32_t *ids, int n) {
    const gc_hparams *hp = &m->hp;
    memset(s, 0, sizeof *s);
    s->m = m, s->n = n, s->d = hp->n_embd, s->hd = hp->head_dim, s->ff = hp->n_ff;
    s->qd = hp->n_heads * hp->head_dim, s->kvd = hp->n_kv_heads * hp->head_dim;
    int widest = s->d > s->ff ? s->d : s->ff;
    if (hp->vocab_size > widest)
        widest = hp->vocab_size;
    s->x = calloc((size_t)n * s->d, sizeof(double));
    s->q = calloc((size_t)n * s->qd, sizeof(double));
    s->k = calloc((size_t)n * s->kvd, sizeof(double));
    s->v = calloc((size_t)n * s->kvd, sizeof(double));
    s->xb = calloc((size_t)widest, sizeof(double));
    s->att = calloc((size_t)(s->qd > n ? s->qd : n) + (size_t)s->qd, sizeof(double));
    s->hb = calloc((size_t)widest, sizeof(double));
    s->hb2 = calloc((size_t)widest, sizeof(double));
    s->tmp = calloc((size_t)widest, sizeof(double));
    s->row = calloc((size_t)widest, sizeof(float));
    s->inv_freq = calloc((size_t)s->hd, sizeof(float));
    if (!s->x || !s->q || !s->k || !s->v || !s->xb || !s->att || !s->hb || !s->hb2 || !s->tmp || !s->row ||
        !s->inv_freq)
        return -1;
    gc_rope_inv_freq(hp, s->inv_freq);
    for (int i = 0; i < n; i++) {
        const gc_tensor *e = &m->tok_embd;
        gc_row_to_f32(e->dtype, (const unsigned char *)e->data + gc_dtype_row_bytes(e->dtype, s->d) * (size_t)ids[i],
                      s->d, s->row);
        for (int j = 0; j < s->d; j++)
            s->x[(size_t)i * s->d + j] = s->row[j];
    }
    return 0;
}

static void state_free(ref_state *s) {
    free(s->x), free(s->q), free(s->k), free(s->v), free(s->xb), free(s->att), free(s->hb), free(s->hb2);
    free(s->tmp), free(s->row), free(s->inv_freq);
}

/* Normed input, q (post-RoPE), k (post-RoPE) and v of layer l for every row. */
static void qkv(ref_state *s, int l) {
    const gc_hparams *hp = &s->m->hp;
    const gc_layer_weights *w = &s->m->layers[l];
    for (int i = 0; i < s->n; i++) {
        rmsnorm(s->x + (size_t)i * s->d, &w->attn_norm, s->d, hp->norm_eps, s->xb, s->row);
        double *q = s->q + (size_t)i * s->qd, *k = s->k + (size_t)i * s->kvd, *v = s->v + (size_t)i * s->kvd;
        matvec(&w->wq, s->xb, q, s->row);
        matvec(&w->wk, s->xb, k, s->row);
        matvec(&w->wv, s->xb, v, s->row);
        add_bias(&w->bq, q, s->qd, s->row);
        add_bias(&w->bk, k, s->kvd, s->row);
        add_bias(&w->bv, v, s->kvd, s->row);
        int pos = s->pos ? s->pos[i] : i;
        rope(q, hp->n_heads, s->hd, pos, s->inv_freq, hp->rope_layout);
        rope(k, hp->n_kv_heads, s->hd, pos, s->inv_freq, hp->rope_layout);
    }
}

/* The rest of layer l for one row x, given its attention output: output projection, residual, SwiGLU FFN,
 * residual (llama2.c forward(), after the attention). */
static void attn_out_and_ffn(ref_state *s, int l, const double *att_out, double *x) {
    const gc_hparams *hp = &s->m->hp;
    const gc_layer_weights *w = &s->m->layers[l];
    matvec(&w->wo, att_out, s->tmp, s->row);
    for (int j = 0; j < s->d; j++)
        x[j] += s->tmp[j];
    rmsnorm(x, &w->ffn_norm, s->d, hp->norm_eps, s->xb, s->row);
    matvec(&w->w_gate, s->xb, s->hb, s->row);
    matvec(&w->w_up, s->xb, s->hb2, s->row);
    for (int j = 0; j < s->ff; j++)
        s->hb[j] = s->hb[j] / (1.0 + exp(-s->hb[j])) * s->hb2[j];
    matvec(&w->w_down, s->hb, s->tmp, s->row);
    for (int j = 0; j < s->d; j++)
        x[j] += s->tmp[j];
}

/* The rest of layer l after qkv(): causal attention, output projection, FFN, residuals. */
static void finish_layer(ref_state *s, int l) {
    const gc_hparams *hp = &s->m->hp;
    int group = hp->n_heads / hp->n_kv_heads;
    double *scores = s->att + s->qd, *out = s->att;
    for (int i = 0; i < s->n; i++) {
        for (int h = 0; h < hp->n_heads; h++) {
            const double *q = s->q + (size_t)i * s->qd + (size_t)h * s->hd;
            int g = h / group;
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j <= i; j++) {
                bool distant = s->q_src && j >= s->pod_sinks && j <= i - s->pod_recent;
                const double *qq = distant ? s->q_src + (size_t)i * s->qd + (size_t)h * s->hd : q;
                const double *k = (distant ? s->k_src : s->k) + (size_t)j * s->kvd + (size_t)g * s->hd;
                double dot = 0;
                for (int t = 0; t < s->hd; t++)
                    dot += qq[t] * k[t];
                scores[j] = dot / sqrt((double)s->hd);
                mx = fmax(mx, scores[j]);
            }
            for (int j = 0; j <= i; j++)
                sum += (scores[j] = exp(scores[j] - mx));
            for (int j = 0; s->colsum && i >= s->colsum_from && j <= i; j++)
                s->colsum[(size_t)g * s->n + j] += scores[j] / sum;
            for (int t = 0; t < s->hd; t++) {
                double acc = 0;
                for (int j = 0; j <= i; j++)
                    acc += scores[j] / sum * s->v[(size_t)j * s->kvd + (size_t)g * s->hd + t];
                out[h * s->hd + t] = acc;
            }
        }
        attn_out_and_ffn(s, l, out, s->x + (size_t)i * s->d);
    }
}

int ref_logits_last(const gc_model_file *m, const int32_t *ids, int n, double *logits) {
    ref_state s;
    if (state_init(&s, m, ids, n) != 0) {
        state_free(&s);
        return -1;
    }
    for (int l = 0; l < m->hp.n_layers; l++) {
        qkv(&s, l);
        finish_layer(&s, l);
    }
    rmsnorm(s.x + (size_t)(n - 1) * s.d, &m->out_norm, s.d, m->hp.norm_eps, s.xb, s.row);
    matvec(&m->lm_head, s.xb, logits, s.row);
    state_free(&s);
    return 0;
}

/* One query row (the new token) through layer l over the kept cache rows; pre-RoPE keys of the prompt are
 * kept in kpre (n, kvd) so a row can be rotated to any slot. x, q, k, v of the new token are row n of s. */
static void decode_layer(ref_state *s, int l, const double *kpre, const int32_t *keep, int n_keep, int head_stride,
                         const int32_t *slot) {
    const gc_hparams *hp = &s->m->hp;
    int G = hp->n_kv_heads, group = hp->n_heads / G, i = s->n - 1;
    double *kq = s->k + (size_t)i * s->kvd, *vq = s->v + (size_t)i * s->kvd, *qq = s->q + (size_t)i * s->qd;
    double *scores = s->att + s->qd, *out = s->att, *kr = s->tmp;
    for (int h = 0; h < hp->n_heads; h++) {
        int g = h / group;
        const int32_t *rows = keep + (head_stride ? ((size_t)l * G + g) * head_stride : 0);
        for (int r = 0; r <= n_keep; r++) { /* r == n_keep: the new token itself */
            const double *k = r < n_keep ? kr : kq;
            if (r < n_keep) {
                memcpy(kr, kpre + (size_t)rows[r] * s->kvd, (size_t)s->kvd * sizeof *kr);
                rope(kr, G, s->hd, slot ? slot[r] : rows[r], s->inv_freq, hp->rope_layout);
            }
            double dot = 0;
            for (int t = 0; t < s->hd; t++)
                dot += qq[h * s->hd + t] * k[g * s->hd + t];
            scores[r] = dot / sqrt((double)s->hd);
        }
        double mx = -INFINITY, sum = 0;
        for (int r = 0; r <= n_keep; r++)
            mx = fmax(mx, scores[r]);
        for (int r = 0; r <= n_keep; r++)
            sum += (scores[r] = exp(scores[r] - mx));
        for (int t = 0; t < s->hd; t++) {
            double acc = 0;
            for (int r = 0; r <= n_keep; r++) {
                const double *v = r < n_keep ? s->v + (size_t)rows[r] * s->kvd : vq;
                acc += scores[r] / sum * v[g * s->hd + t];
            }
            out[h * s->hd + t] = acc;
        }
    }
}

int ref_logits_after_kept(const gc_model_file *m, const int32_t *ids, int n, const int32_t *keep, int n_keep,
                          int head_stride, const int32_t *slot, int32_t next_id, int next_pos, double *logits) {
    /* rows 0..n-1: the prompt; row n: the new token (its own attention is handled by decode_layer) */
    int32_t *all = malloc(((size_t)n + 1) * sizeof *all);
    ref_state s;
    if (!all)
        return -1;
    memcpy(all, ids, (size_t)n * sizeof *all);
    all[n] = next_id;
    int rc = state_init(&s, m, all, n + 1);
    const gc_hparams *hp = &m->hp;
    double *kpre = rc == 0 ? malloc(((size_t)n + 1) * s.kvd * sizeof *kpre) : NULL;
    if (rc != 0 || !kpre || n_keep > n) {
        free(kpre), free(all);
        state_free(&s);
        return -1;
    }
    for (int l = 0; l < hp->n_layers; l++) {
        /* q, k, v of every row; the new token's row is rotated at next_pos below */
        s.n = n + 1;
        qkv(&s, l);
        for (int i = 0; i <= n; i++) { /* pre-RoPE keys: undo the rotation at position i */
            double *k = kpre + (size_t)i * s.kvd;
            memcpy(k, s.k + (size_t)i * s.kvd, (size_t)s.kvd * sizeof *k);
            rope(k, hp->n_kv_heads, s.hd, -i, s.inv_freq, hp->rope_layout);
        }
        double *qn = s.q + (size_t)n * s.qd, *kn = s.k + (size_t)n * s.kvd;
        rope(qn, hp->n_heads, s.hd, -n, s.inv_freq, hp->rope_layout);
        rope(qn, hp->n_heads, s.hd, next_pos, s.inv_freq, hp->rope_layout);
        memcpy(kn, kpre + (size_t)n * s.kvd, (size_t)s.kvd * sizeof *kn);
        rope(kn, hp->n_kv_heads, s.hd, next_pos, s.inv_freq, hp->rope_layout);
        /* the new token first (it reads the prompt rows' k/v before finish_layer overwrites x) */
        s.n = n + 1;
        decode_layer(&s, l, kpre, keep, n_keep, head_stride, slot);
        double *out = malloc((size_t)s.qd * sizeof *out);
        if (!out) {
            free(kpre), free(all);
            state_free(&s);
            return -1;
        }
        memcpy(out, s.att, (size_t)s.qd * sizeof *out);
        s.n = n; /* the prompt rows: ordinary causal attention */
        finish_layer(&s, l);
        attn_out_and_ffn(&s, l, out, s.x + (size_t)n * s.d);
        free(out);
    }
    rmsnorm(s.x + (size_t)n * s.d, &m->out_norm, s.d, hp->norm_eps, s.xb, s.row);
    matvec(&m->lm_head, s.xb, logits, s.row);
    s.n = n + 1;
    free(kpre), free(all);
    state_free(&s);
    return 0;
}

int ref_pod_logits(const gc_model_file *m, const int32_t *ids, int n, int block, int sinks, int recent,
                   double *logits) {
    ref_state s;
    if (state_init(&s, m, ids, n) != 0) {
        state_free(&s);
        return -1;
    }
    double *q0 = malloc((size_t)n * s.qd * sizeof *q0), *k0 = malloc((size_t)n * s.kvd * sizeof *k0);
    if (!q0 || !k0) {
        free(q0), free(k0);
        state_free(&s);
        return -1;
    }
    s.pod_sinks = sinks, s.pod_recent = recent;
    for (int l = 0; l < m->hp.n_layers; l++) {
        qkv(&s, l);
        if (l % block == 0) { /* the block's first layer: ordinary, and the source of the others' distant logits */
            memcpy(q0, s.q, (size_t)n * s.qd * sizeof *q0);
            memcpy(k0, s.k, (size_t)n * s.kvd * sizeof *k0);
            s.q_src = s.k_src = NULL;
        } else {
            s.q_src = q0, s.k_src = k0;
        }
        finish_layer(&s, l);
    }
    rmsnorm(s.x + (size_t)(n - 1) * s.d, &m->out_norm, s.d, m->hp.norm_eps, s.xb, s.row);
    matvec(&m->lm_head, s.xb, logits, s.row);
    free(q0), free(k0);
    state_free(&s);
    return 0;
}

int ref_head_mass(const gc_model_file *m, const int32_t *ids, int n, int i_from, double *mass) {
    ref_state s;
    if (state_init(&s, m, ids, n) != 0) {
        state_free(&s);
        return -1;
    }
    size_t per_layer = (size_t)m->hp.n_kv_heads * n;
    memset(mass, 0, (size_t)m->hp.n_layers * per_layer * sizeof *mass);
    s.colsum_from = i_from;
    for (int l = 0; l < m->hp.n_layers; l++) {
        s.colsum = mass + (size_t)l * per_layer;
        qkv(&s, l);
        finish_layer(&s, l);
    }
    state_free(&s);
    return 0;
}

/* ---- h2o-stream: a cache of per-(layer, KV head) row lists --------------------------------------------- */

typedef struct h2o_rows {
    int rows;
    double *k, *v, *mass; /* (cap, hd), (cap, hd), (cap) */
} h2o_rows;

/* Keeps rows keep[0..n_keep-1] (ascending) of one head's list. */
static void h2o_keep(h2o_rows *c, const int *keep, int n_keep, int hd) {
    for (int r = 0; r < n_keep; r++) {
        memmove(c->k + (size_t)r * hd, c->k + (size_t)keep[r] * hd, (size_t)hd * sizeof *c->k);
        memmove(c->v + (size_t)r * hd, c->v + (size_t)keep[r] * hd, (size_t)hd * sizeof *c->v);
        c->mass[r] = c->mass[keep[r]];
    }
    c->rows = n_keep;
}

/* One new token through layer l against every head's rows, appending its k/v and adding the mass. */
static void h2o_decode_layer(ref_state *s, int l, h2o_rows *heads, double *x, int pos, double *p) {
    const gc_hparams *hp = &s->m->hp;
    const gc_layer_weights *w = &s->m->layers[l];
    int G = hp->n_kv_heads, group = hp->n_heads / G, hd = s->hd;
    double *q = s->q, *k = s->k, *v = s->v, *out = s->att; /* p: (rows) probabilities of one head */
    rmsnorm(x, &w->attn_norm, s->d, hp->norm_eps, s->xb, s->row);
    matvec(&w->wq, s->xb, q, s->row), matvec(&w->wk, s->xb, k, s->row), matvec(&w->wv, s->xb, v, s->row);
    add_bias(&w->bq, q, s->qd, s->row), add_bias(&w->bk, k, s->kvd, s->row), add_bias(&w->bv, v, s->kvd, s->row);
    rope(q, hp->n_heads, hd, pos, s->inv_freq, hp->rope_layout);
    rope(k, G, hd, pos, s->inv_freq, hp->rope_layout);
    for (int g = 0; g < G; g++) { /* append first: the token attends to itself */
        h2o_rows *c = &heads[g];
        memcpy(c->k + (size_t)c->rows * hd, k + (size_t)g * hd, (size_t)hd * sizeof *k);
        memcpy(c->v + (size_t)c->rows * hd, v + (size_t)g * hd, (size_t)hd * sizeof *v);
        c->mass[c->rows++] = 0;
    }
    for (int h = 0; h < hp->n_heads; h++) {
        h2o_rows *c = &heads[h / group];
        double mx = -INFINITY, sum = 0;
        for (int r = 0; r < c->rows; r++) {
            double dot = 0;
            for (int e = 0; e < hd; e++)
                dot += q[h * hd + e] * c->k[(size_t)r * hd + e];
            p[r] = dot / sqrt((double)hd);
            mx = fmax(mx, p[r]);
        }
        for (int r = 0; r < c->rows; r++)
            sum += (p[r] = exp(p[r] - mx));
        for (int e = 0; e < hd; e++) {
            double acc = 0;
            for (int r = 0; r < c->rows; r++)
                acc += p[r] / sum * c->v[(size_t)r * hd + e];
            out[h * hd + e] = acc;
        }
        for (int r = 0; r < c->rows; r++)
            c->mass[r] += p[r] / sum;
    }
    attn_out_and_ffn(s, l, out, x);
}

/* Per head: the top `heavy` of mass[0 .. rows - recent) (ties: lower index) and the last `recent` rows. */
static void h2o_select(h2o_rows *c, int heavy, int recent, int hd, int *keep) {
    int cand = c->rows - recent, B = heavy + recent, *all = keep + B;
    for (int j = 0; j < cand; j++)
        all[j] = j;
    for (int a = 0; a < heavy; a++) /* partial selection sort on (mass desc, index asc) */
        for (int b = a + 1; b < cand; b++)
            if (c->mass[all[b]] > c->mass[all[a]] || (c->mass[all[b]] == c->mass[all[a]] && all[b] < all[a])) {
                int t = all[a];
                all[a] = all[b], all[b] = t;
            }
    memcpy(keep, all, (size_t)heavy * sizeof *keep);
    for (int a = 1; a < heavy; a++) /* ascending */
        for (int b = a; b > 0 && keep[b - 1] > keep[b]; b--) {
            int t = keep[b];
            keep[b] = keep[b - 1], keep[b - 1] = t;
        }
    for (int t = 0; t < recent; t++)
        keep[heavy + t] = cand + t;
    h2o_keep(c, keep, B, hd);
}

/* Drops the non-recent row with the least mass (ties: lower index). */
static void h2o_evict_one(h2o_rows *c, int recent, int hd, int *keep) {
    int lowest = 0;
    for (int j = 1; j < c->rows - recent; j++)
        if (c->mass[j] < c->mass[lowest])
            lowest = j;
    for (int r = 0; r + 1 < c->rows; r++)
        keep[r] = r < lowest ? r : r + 1;
    h2o_keep(c, keep, c->rows - 1, hd);
}

/* StreamingLLM's move of one head's rows: keep[0..n_keep-1], rows from `sinks` on rotated by delta slots. */
static void stream_keep(h2o_rows *c, const int *keep, int n_keep, int sinks, int delta, const ref_state *s) {
    h2o_keep(c, keep, n_keep, s->hd);
    for (int r = sinks; r < n_keep; r++)
        rope(c->k + (size_t)r * s->hd, 1, s->hd, delta, s->inv_freq, s->m->hp.rope_layout);
}

/* What a cache policy does: h2o-stream (heavy > 0) or StreamingLLM (sinks > 0, budget k). */
typedef struct cache_policy {
    int heavy, recent;   /* h2o-stream */
    int sinks, k;        /* streamingllm */
} cache_policy;

/* After the prompt: the policy's selection per head; returns the position of the next token. */
static int policy_after_prompt(const cache_policy *pol, h2o_rows *c, int n, const ref_state *s, int *keep) {
    if (pol->heavy > 0) {
        if (n > pol->heavy + pol->recent)
            h2o_select(c, pol->heavy, pol->recent, s->hd, keep);
        return n;
    }
    if (n <= pol->k)
        return n;
    for (int r = 0; r < pol->k; r++)
        keep[r] = r < pol->sinks ? r : n - pol->k + r;
    stream_keep(c, keep, pol->k, pol->sinks, pol->k - n, s);
    return pol->k; /* positions are slots */
}

/* Before a decode step: the policy's eviction; returns the position of the token. */
static int policy_before_step(const cache_policy *pol, h2o_rows *c, int pos, const ref_state *s, int *keep) {
    if (pol->heavy > 0) {
        if (c->rows > pol->heavy + pol->recent)
            h2o_evict_one(c, pol->recent, s->hd, keep);
        return pos;
    }
    if (c->rows < pol->k)
        return pos;
    for (int r = 0; r + 1 < c->rows; r++)
        keep[r] = r < pol->sinks ? r : r + 1;
    stream_keep(c, keep, c->rows - 1, pol->sinks, -1, s);
    return c->rows;
}

static int ref_cache_run(const gc_model_file *m, const int32_t *ids, int n, const cache_policy *pol,
                         const int32_t *feed, int steps, double *logits) {
    const gc_hparams *hp = &m->hp;
    int L = hp->n_layers, G = hp->n_kv_heads, cap = n + steps + 1;
    ref_state s;
    h2o_rows *heads = calloc((size_t)L * G, sizeof *heads);
    int *keep = malloc(2 * (size_t)cap * sizeof *keep);
    double *colsum = calloc((size_t)G * n, sizeof *colsum), *x = malloc((size_t)hp->n_embd * sizeof *x);
    double *p = malloc((size_t)cap * sizeof *p);
    bool inited = heads && keep && colsum && x && p;
    int rc = inited && state_init(&s, m, ids, n) == 0 ? 0 : -1, pos = n;
    for (int i = 0; rc == 0 && i < L * G; i++) {
        heads[i].k = malloc((size_t)cap * s.hd * sizeof(double));
        heads[i].v = malloc((size_t)cap * s.hd * sizeof(double));
        heads[i].mass = malloc((size_t)cap * sizeof(double));
        rc = heads[i].k && heads[i].v && heads[i].mass ? 0 : -1;
    }
    for (int l = 0; rc == 0 && l < L; l++) { /* the prompt: full attention, column sums, then the policy */
        qkv(&s, l);
        memset(colsum, 0, (size_t)G * n * sizeof *colsum);
        s.colsum = colsum;
        finish_layer(&s, l);
        s.colsum = NULL;
        for (int g = 0; g < G; g++) {
            h2o_rows *c = &heads[(size_t)l * G + g];
            for (int j = 0; j < n; j++) {
                memcpy(c->k + (size_t)j * s.hd, s.k + (size_t)j * s.kvd + (size_t)g * s.hd, (size_t)s.hd * sizeof *c->k);
                memcpy(c->v + (size_t)j * s.hd, s.v + (size_t)j * s.kvd + (size_t)g * s.hd, (size_t)s.hd * sizeof *c->v);
                c->mass[j] = colsum[(size_t)g * n + j];
            }
            c->rows = n;
            pos = policy_after_prompt(pol, c, n, &s, keep);
        }
    }
    for (int t = 0; rc == 0 && t < steps; t++) {
        const gc_tensor *e = &m->tok_embd;
        gc_row_to_f32(e->dtype, (const unsigned char *)e->data + gc_dtype_row_bytes(e->dtype, s.d) * (size_t)feed[t],
                      s.d, s.row);
        for (int j = 0; j < s.d; j++)
            x[j] = s.row[j];
        int at = pos;
        for (int l = 0; l < L; l++) {
            for (int g = 0; g < G; g++)
                at = policy_before_step(pol, &heads[(size_t)l * G + g], pos, &s, keep);
            h2o_decode_layer(&s, l, heads + (size_t)l * G, x, at, p);
        }
        pos = at + 1;
        rmsnorm(x, &m->out_norm, s.d, hp->norm_eps, s.xb, s.row);
        matvec(&m->lm_head, s.xb, logits + (size_t)t * hp->vocab_size, s.row);
    }
    for (int i = 0; heads && i < L * G; i++)
        free(heads[i].k), free(heads[i].v), free(heads[i].mass);
    free(heads), free(keep), free(colsum), free(x), free(p);
    if (inited) /* state_init ran: it frees what it allocated even on failure */
        state_free(&s);
    return rc;
}

int ref_h2o_stream(const gc_model_file *m, const int32_t *ids, int n, int heavy, int recent, const int32_t *feed,
                   int steps, double *logits) {
    cache_policy pol = {heavy, recent, 0, 0};
    return heavy > 0 && recent > 0 ? ref_cache_run(m, ids, n, &pol, feed, steps, logits) : -1;
}

int ref_streamingllm(const gc_model_file *m, const int32_t *ids, int n, int k, int sinks, const int32_t *feed,
                     int steps, double *logits) {
    cache_policy pol = {0, 0, sinks, k};
    return k > sinks + 1 && sinks > 0 ? ref_cache_run(m, ids, n, &pol, feed, steps, logits) : -1;
}

/* PromptDistill's selection at one stage over the s->n current rows: keep[0..k] (indices of current rows). */
static int distill_select(ref_state *s, int k, int32_t *keep, double *pooled_out) {
    const gc_hparams *hp = &s->m->hp;
    int n = s->n, group = hp->n_heads / hp->n_kv_heads;
    double *sc = malloc((size_t)n * sizeof *sc), *pooled = malloc((size_t)n * sizeof *pooled);
    if (!sc || !pooled) {
        free(sc), free(pooled);
        return -1;
    }
    const double *q = s->q + (size_t)(n - 1) * s->qd;
    for (int j = 0; j < n; j++) {
        double acc = 0; /* mean over heads of q.k / sqrt(d): the head sum up to a positive factor */
        for (int h = 0; h < hp->n_heads; h++)
            for (int e = 0; e < s->hd; e++)
                acc += q[h * s->hd + e] * s->k[(size_t)j * s->kvd + (size_t)(h / group) * s->hd + e];
        sc[j] = acc / hp->n_heads / sqrt((double)s->hd);
    }
    sc[n - 1] = 0;
    ref_pool5(sc, n, pooled);
    if (pooled_out)
        memcpy(pooled_out, pooled, (size_t)n * sizeof *pooled);
    int got = ref_topk_sorted(pooled, n - 1, k, keep);
    keep[got] = n - 1;
    free(sc), free(pooled);
    return got + 1;
}

int ref_promptdistill(const gc_model_file *m, const int32_t *ids, int n, const int *layers, const int *budgets,
                      int n_stages, int32_t *kept, int *n_kept, double *pooled_first, double *logits) {
    ref_state s;
    int32_t *pos = malloc((size_t)n * sizeof *pos), *keep = malloc((size_t)n * sizeof *keep);
    if (!pos || !keep || state_init(&s, m, ids, n) != 0) {
        free(pos), free(keep);
        state_free(&s);
        return -1;
    }
    for (int i = 0; i < n; i++)
        pos[i] = i;
    s.pos = pos;
    int t = 0, rc = 0;
    for (int l = 0; l < m->hp.n_layers && rc == 0; l++) {
        qkv(&s, l);
        finish_layer(&s, l);
        if (t < n_stages && l == layers[t]) {
            int k = budgets[t];
            if (s.n > k + 1) {
                int nk = distill_select(&s, k, keep, t == 0 ? pooled_first : NULL);
                rc = nk < 0 ? -1 : 0;
                for (int r = 0; r < nk; r++) { /* ascending, so the move can run in place */
                    memmove(s.x + (size_t)r * s.d, s.x + (size_t)keep[r] * s.d, (size_t)s.d * sizeof *s.x);
                    pos[r] = pos[keep[r]];
                }
                s.n = nk > 0 ? nk : s.n;
            }
            t++;
        }
    }
    if (rc == 0) {
        memcpy(kept, pos, (size_t)s.n * sizeof *kept);
        *n_kept = s.n;
        rmsnorm(s.x + (size_t)(s.n - 1) * s.d, &m->out_norm, s.d, m->hp.norm_eps, s.xb, s.row);
        matvec(&m->lm_head, s.xb, logits, s.row);
    }
    free(pos), free(keep);
    state_free(&s);
    return rc;
}

int ref_gemfilter_scores(const gc_model_file *m, const int32_t *ids, int n, const int *layers, int n_list,
                         double **scores) {
    ref_state s;
    if (state_init(&s, m, ids, n) != 0) {
        state_free(&s);
        return -1;
    }
    const gc_hparams *hp = &m->hp;
    int group = hp->n_heads / hp->n_kv_heads, t = 0;
    for (int l = 0; l <= layers[n_list - 1]; l++) {
        qkv(&s, l);
        if (l == layers[t]) {
            const double *q = s.q + (size_t)(n - 1) * s.qd;
            for (int j = 0; j < n; j++) {
                double acc = 0;
                for (int h = 0; h < hp->n_heads; h++)
                    for (int e = 0; e < s.hd; e++)
                        acc += q[h * s.hd + e] * s.k[(size_t)j * s.kvd + (size_t)(h / group) * s.hd + e];
                scores[t][j] = acc;
            }
            t++;
        }
        if (t < n_list)
            finish_layer(&s, l);
    }
    state_free(&s);
    return 0;
}

void ref_pool5(const double *s, int n, double *p) {
    for (int j = 0; j < n; j++) {
        double acc = 0;
        for (int o = -2; o <= 2; o++)
            if (j + o >= 0 && j + o < n)
                acc += s[j + o];
        p[j] = acc / 5.0;
    }
}

static const double *g_sort_p;
static int by_score_desc(const void *a, const void *b) {
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    if (g_sort_p[i] != g_sort_p[j])
        return g_sort_p[i] > g_sort_p[j] ? -1 : 1;
    return i < j ? -1 : i > j;
}
static int by_index(const void *a, const void *b) {
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    return i < j ? -1 : i > j;
}

int ref_topk_sorted(const double *p, int n, int k, int32_t *out) {
    int32_t *all = malloc((size_t)n * sizeof *all);
    if (!all)
        return -1;
    for (int i = 0; i < n; i++)
        all[i] = i;
    g_sort_p = p;
    qsort(all, (size_t)n, sizeof *all, by_score_desc);
    int kk = k < n ? k : n;
    memcpy(out, all, (size_t)kk * sizeof *out);
    qsort(out, (size_t)kk, sizeof *out, by_index);
    free(all);
    return kk;
}
