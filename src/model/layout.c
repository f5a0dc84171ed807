/* layout.c - canonical tensor lists and the RoPE row permutation; see layout.h. */
#include "model/layout.h"

#include "model/model_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct role_names {
    const char *hf, *gguf; /* per-layer names take the layer number */
} role_names;

/* Every role's name in each format, indexed by gc_role. GGUF names are llama.cpp's (its biases are
 * "attn_q.bias", as Qwen2 GGUF files carry them). */
static const role_names role_table[] = {
    [GC_ROLE_EMBD] = {"model.embed_tokens.weight", "token_embd.weight"},
    [GC_ROLE_OUT_NORM] = {"model.norm.weight", "output_norm.weight"},
    [GC_ROLE_LM_HEAD] = {"lm_head.weight", "output.weight"},
    [GC_ROLE_ATTN_NORM] = {"model.layers.%d.input_layernorm.weight", "blk.%d.attn_norm.weight"},
    [GC_ROLE_WQ] = {"model.layers.%d.self_attn.q_proj.weight", "blk.%d.attn_q.weight"},
    [GC_ROLE_WK] = {"model.layers.%d.self_attn.k_proj.weight", "blk.%d.attn_k.weight"},
    [GC_ROLE_WV] = {"model.layers.%d.self_attn.v_proj.weight", "blk.%d.attn_v.weight"},
    [GC_ROLE_BQ] = {"model.layers.%d.self_attn.q_proj.bias", "blk.%d.attn_q.bias"},
    [GC_ROLE_BK] = {"model.layers.%d.self_attn.k_proj.bias", "blk.%d.attn_k.bias"},
    [GC_ROLE_BV] = {"model.layers.%d.self_attn.v_proj.bias", "blk.%d.attn_v.bias"},
    [GC_ROLE_WO] = {"model.layers.%d.self_attn.o_proj.weight", "blk.%d.attn_output.weight"},
    [GC_ROLE_FFN_NORM] = {"model.layers.%d.post_attention_layernorm.weight", "blk.%d.ffn_norm.weight"},
    [GC_ROLE_GATE] = {"model.layers.%d.mlp.gate_proj.weight", "blk.%d.ffn_gate.weight"},
    [GC_ROLE_UP] = {"model.layers.%d.mlp.up_proj.weight", "blk.%d.ffn_up.weight"},
    [GC_ROLE_DOWN] = {"model.layers.%d.mlp.down_proj.weight", "blk.%d.ffn_down.weight"},
};

const char *gc_layout_name(gc_role role, gc_export_format format) {
    return format == GC_EXPORT_GGUF ? role_table[role].gguf : role_table[role].hf;
}

static void shape_of(const gc_hparams *hp, gc_role role, int *n_dims, int64_t shape[2]) {
    int64_t e = hp->n_embd, q = (int64_t)hp->n_heads * hp->head_dim, kv = (int64_t)hp->n_kv_heads * hp->head_dim;
    int64_t table[][3] = {
        [GC_ROLE_EMBD] = {2, hp->vocab_size, e}, [GC_ROLE_OUT_NORM] = {1, e, 0},
        [GC_ROLE_LM_HEAD] = {2, hp->vocab_size, e}, [GC_ROLE_ATTN_NORM] = {1, e, 0},
        [GC_ROLE_WQ] = {2, q, e}, [GC_ROLE_WK] = {2, kv, e}, [GC_ROLE_WV] = {2, kv, e},
        [GC_ROLE_BQ] = {1, q, 0}, [GC_ROLE_BK] = {1, kv, 0}, [GC_ROLE_BV] = {1, kv, 0},
        [GC_ROLE_WO] = {2, e, q}, [GC_ROLE_FFN_NORM] = {1, e, 0}, [GC_ROLE_GATE] = {2, hp->n_ff, e},
        [GC_ROLE_UP] = {2, hp->n_ff, e}, [GC_ROLE_DOWN] = {2, e, hp->n_ff},
    };
    *n_dims = (int)table[role][0];
    shape[0] = table[role][1];
    shape[1] = table[role][2];
}

static void add(gc_planned_tensor *t, const gc_hparams *hp, gc_dtype dtype, gc_role role, int layer,
                const char *name_fmt) {
    char name[96];
    int n_dims;
    int64_t shape[2];
    /* global tensors pass a name without %d; the unused layer argument is legal C */
    // cppcheck-suppress wrongPrintfScanfArgNum
    snprintf(name, sizeof name, name_fmt, layer);
    shape_of(hp, role, &n_dims, shape);
    gc_tensor_describe(&t->desc, name, n_dims == 1 ? GC_DTYPE_F32 : gc_layout_row_type(dtype, shape[1]), n_dims, shape);
    t->role = role;
    t->layer = layer;
}

gc_status gc_layout_plan(const gc_hparams *hp, gc_export_format format, gc_dtype dtype, gc_planned_tensor **out, int *n,
                         gc_error *err) {
    bool gguf = format == GC_EXPORT_GGUF;
    if (!gguf && gc_dtype_is_quantized(dtype))
        return gc_fail(err, GC_ERR_UNSUPPORTED, "safetensors cannot hold %s (use f32, f16 or bf16)",
                       gc_dtype_name(dtype));
    size_t per_layer = GC_ROLE_LAYER_END - GC_ROLE_LAYER_FIRST;
    gc_planned_tensor *t = calloc(3 + (size_t)hp->n_layers * per_layer, sizeof *t);
    if (!t)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
    int k = 0;
    add(&t[k++], hp, dtype, GC_ROLE_EMBD, -1, gc_layout_name(GC_ROLE_EMBD, format));
    for (int l = 0; l < hp->n_layers; l++)
        for (gc_role r = GC_ROLE_LAYER_FIRST; r < GC_ROLE_LAYER_END; r++)
            if (!gc_role_is_bias(r) || hp->qkv_bias)
                add(&t[k++], hp, dtype, r, l, gc_layout_name(r, format));
    add(&t[k++], hp, dtype, GC_ROLE_OUT_NORM, -1, gc_layout_name(GC_ROLE_OUT_NORM, format));
    if (!hp->tied_embeddings)
        add(&t[k++], hp, dtype, GC_ROLE_LM_HEAD, -1, gc_layout_name(GC_ROLE_LM_HEAD, format));
    *out = t;
    *n = k;
    return GC_OK;
}

gc_dtype gc_layout_row_type(gc_dtype want, int64_t row_len) {
    if (row_len % gc_dtype_block(want) == 0)
        return want;
    gc_dtype fallback;
    switch (want) { /* llama.cpp's tensor_type_fallback: a 32-block type of about the same bits */
    case GC_DTYPE_Q2_K:
    case GC_DTYPE_Q3_K: fallback = GC_DTYPE_Q4_0; break;
    case GC_DTYPE_Q4_K: fallback = GC_DTYPE_Q5_0; break;
    case GC_DTYPE_Q5_K: fallback = GC_DTYPE_Q5_1; break;
    case GC_DTYPE_Q6_K: fallback = GC_DTYPE_Q8_0; break;
    default: fallback = GC_DTYPE_F16; break;
    }
    return row_len % gc_dtype_block(fallback) == 0 ? fallback : GC_DTYPE_F16;
}

gc_tensor *gc_layout_slot(gc_model_file *m, gc_role role, int layer) {
    gc_layer_weights *w = layer >= 0 ? &m->layers[layer] : NULL;
    switch (role) {
    case GC_ROLE_EMBD: return &m->tok_embd;
    case GC_ROLE_OUT_NORM: return &m->out_norm;
    case GC_ROLE_LM_HEAD: return &m->lm_head;
    case GC_ROLE_ATTN_NORM: return &w->attn_norm;
    case GC_ROLE_WQ: return &w->wq;
    case GC_ROLE_WK: return &w->wk;
    case GC_ROLE_WV: return &w->wv;
    case GC_ROLE_BQ: return &w->bq;
    case GC_ROLE_BK: return &w->bk;
    case GC_ROLE_BV: return &w->bv;
    case GC_ROLE_WO: return &w->wo;
    case GC_ROLE_FFN_NORM: return &w->ffn_norm;
    case GC_ROLE_GATE: return &w->w_gate;
    case GC_ROLE_UP: return &w->w_up;
    case GC_ROLE_DOWN: return &w->w_down;
    }
    return NULL;
}

const gc_tensor *gc_layout_source(const gc_model_file *m, gc_role role, int layer) {
    /* gc_layout_slot only computes an address inside m; nothing is written through it here */
    const gc_tensor *t = gc_layout_slot((gc_model_file *)m, role, layer);
    return t && t->data ? t : NULL;
}

int64_t gc_rope_source_row(int64_t row, int head_dim, gc_rope_layout from, gc_rope_layout to) {
    if (from == to)
        return row;
    int64_t head = row / head_dim, j = row % head_dim, half = head_dim / 2, src;
    if (to == GC_ROPE_HALF) /* output j < d/2 holds the pair's first row 2j, j >= d/2 its second */
        src = j < half ? 2 * j : 2 * (j - half) + 1;
    else /* output 2i holds row i, 2i + 1 holds row i + d/2 */
        src = j % 2 == 0 ? j / 2 : j / 2 + half;
    return head * head_dim + src;
}

float gc_rope_scale_freq(const gc_rope_scaling *s, float freq) {
    if (s->type == GC_ROPE_SCALING_LINEAR)
        return freq / s->factor;
    if (s->type != GC_ROPE_SCALING_LLAMA3)
        return freq;
    /* Llama 3.1 frequency scaling (Meta's apply_scaling / HF _compute_llama3_parameters) */
    float low_wavelen = (float)s->original_max_position / s->low_freq_factor;
    float high_wavelen = (float)s->original_max_position / s->high_freq_factor;
    float wavelen = 2.0f * (float)M_PI / freq;
    if (wavelen > low_wavelen)
        return freq / s->factor;
    if (wavelen < high_wavelen)
        return freq;
    float smooth = ((float)s->original_max_position / wavelen - s->low_freq_factor) /
                   (s->high_freq_factor - s->low_freq_factor);
    return (1.0f - smooth) * freq / s->factor + smooth * freq;
}
