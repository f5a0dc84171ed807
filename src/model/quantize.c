/* quantize.c - gemcl quantize: type names, llama.cpp's per-tensor mixes, and the driver; see quantize.h.
 *
 * The mix rules are llama.cpp's (src/llama-quant.cpp, llama_tensor_get_type_impl) for a dense Llama-family
 * model: the output matrix (or, when tied, the token embeddings that serve as it) gets q6_k, and attn_v,
 * ffn_down and attn_output get more bits than the base type in the layers and mixes below. Rows that are
 * not whole blocks fall back as gc_layout_row_type says. */
#include "model/quantize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model/convert.h"
#include "model/model_internal.h"

/* llama.cpp's LLAMA_FTYPE_* (llama.h) for a file mostly of each gc_dtype, in enum order; a K type alone
 * is the file type of its _M mix, as llama-quantize --pure writes it. */
static const uint32_t dtype_ftypes[GC_DTYPE_COUNT] = {
    [GC_DTYPE_F32] = 0,   [GC_DTYPE_F16] = 1,   [GC_DTYPE_BF16] = 32, [GC_DTYPE_Q8_0] = 7,    [GC_DTYPE_Q4_0] = 2,
    [GC_DTYPE_Q4_1] = 3,  [GC_DTYPE_Q5_0] = 8,  [GC_DTYPE_Q5_1] = 9,  [GC_DTYPE_Q2_K] = 10,   [GC_DTYPE_Q3_K] = 12,
    [GC_DTYPE_Q4_K] = 15, [GC_DTYPE_Q5_K] = 17, [GC_DTYPE_Q6_K] = 18, [GC_DTYPE_IQ4_NL] = 25,
};

static const gc_quant_scheme mixes[] = {
    {"Q2_K", GC_DTYPE_Q2_K, GC_MIX_Q2_K, 10},     {"Q3_K_S", GC_DTYPE_Q3_K, GC_MIX_Q3_K_S, 11},
    {"Q3_K_M", GC_DTYPE_Q3_K, GC_MIX_Q3_K_M, 12}, {"Q3_K_L", GC_DTYPE_Q3_K, GC_MIX_Q3_K_L, 13},
    {"Q4_K_S", GC_DTYPE_Q4_K, GC_MIX_Q4_K_S, 14}, {"Q4_K_M", GC_DTYPE_Q4_K, GC_MIX_Q4_K_M, 15},
    {"Q5_K_S", GC_DTYPE_Q5_K, GC_MIX_Q5_K_S, 16}, {"Q5_K_M", GC_DTYPE_Q5_K, GC_MIX_Q5_K_M, 17},
};

#define N_MIXES (sizeof mixes / sizeof mixes[0])

uint32_t gc_llama_ftype(gc_dtype t) {
    return (unsigned)t < GC_DTYPE_COUNT ? dtype_ftypes[t] : 0;
}

bool gc_quant_scheme_find(const char *name, bool pure, gc_quant_scheme *out) {
    gc_dtype t;
    if (!name)
        return false;
    for (size_t i = 0; i < N_MIXES; i++)
        if (strcasecmp(name, mixes[i].name) == 0) {
            *out = mixes[i];
            if (pure)
                out->mix = GC_MIX_PURE;
            return true;
        }
    if (!gc_dtype_from_name(name, &t))
        return false;
    *out = (gc_quant_scheme){gc_dtype_name(t), t, GC_MIX_PURE, gc_llama_ftype(t)};
    return true;
}

/* Appends word (and a space before it unless buf is empty), truncating at len. */
static void append_word(char *buf, size_t len, const char *word) {
    const size_t n = strlen(buf);
    if (n + 1 < len)
        snprintf(buf + n, len - n, "%s%s", n ? " " : "", word);
}

void gc_quant_scheme_names(char *buf, size_t len) {
    buf[0] = '\0';
    for (int t = 0; t < GC_DTYPE_COUNT; t++)
        if (t != GC_DTYPE_Q2_K) /* that name is the mix */
            append_word(buf, len, gc_dtype_name((gc_dtype)t));
    for (size_t i = 0; i < N_MIXES; i++)
        append_word(buf, len, mixes[i].name);
}

/* llama.cpp's use_more_bits: the first and last eighth of the layers, and every third one between. */
static bool use_more_bits(int layer, int n_layers) {
    return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

static gc_dtype attn_v_type(gc_quant_mix x, gc_dtype base, const gc_hparams *hp, int layer) {
    const int n_gqa = hp->n_kv_heads > 0 ? hp->n_heads / hp->n_kv_heads : 1;
    if (x == GC_MIX_Q2_K)
        return n_gqa >= 4 ? GC_DTYPE_Q4_K : GC_DTYPE_Q3_K;
    if (x == GC_MIX_Q3_K_M)
        return layer < 2 ? GC_DTYPE_Q5_K : GC_DTYPE_Q4_K;
    if (x == GC_MIX_Q3_K_L)
        return GC_DTYPE_Q5_K;
    if ((x == GC_MIX_Q4_K_M || x == GC_MIX_Q5_K_M) && use_more_bits(layer, hp->n_layers))
        return GC_DTYPE_Q6_K;
    if (x == GC_MIX_Q4_K_S && layer < 4)
        return GC_DTYPE_Q5_K;
    return base;
}

static gc_dtype ffn_down_type(gc_quant_mix x, gc_dtype base, int layer, int n_layers) {
    if (x == GC_MIX_Q2_K)
        return GC_DTYPE_Q3_K;
    if (x == GC_MIX_Q3_K_M)
        return layer < n_layers / 16 ? GC_DTYPE_Q5_K : GC_DTYPE_Q4_K;
    if (x == GC_MIX_Q3_K_L)
        return GC_DTYPE_Q5_K;
    if ((x == GC_MIX_Q4_K_M || x == GC_MIX_Q5_K_M) && use_more_bits(layer, n_layers))
        return GC_DTYPE_Q6_K;
    if (x == GC_MIX_Q4_K_S && layer < n_layers / 8)
        return GC_DTYPE_Q5_K;
    return base;
}

static gc_dtype attn_output_type(gc_quant_mix x, gc_dtype base) {
    switch (x) {
    case GC_MIX_Q2_K: return GC_DTYPE_Q3_K;
    case GC_MIX_Q3_K_M: return GC_DTYPE_Q4_K;
    case GC_MIX_Q3_K_L: return GC_DTYPE_Q5_K;
    default: return base;
    }
}

/* The type a mix gives a matrix before the row fallback: the output matrix (or the token embeddings that
 * serve as it) q6_k, or q8_0 when its rows are not whole blocks of the base type; attn_v, ffn_down and
 * attn_output by the rules above; everything else the base type. */
static gc_dtype mix_type(const gc_quant_scheme *s, const gc_hparams *hp, gc_role role, int layer, int64_t row_len) {
    if (role == GC_ROLE_LM_HEAD || (role == GC_ROLE_EMBD && hp->tied_embeddings))
        return row_len % gc_dtype_block(s->base) == 0 ? GC_DTYPE_Q6_K : GC_DTYPE_Q8_0;
    switch (role) {
    case GC_ROLE_WV: return attn_v_type(s->mix, s->base, hp, layer);
    case GC_ROLE_DOWN: return ffn_down_type(s->mix, s->base, layer, hp->n_layers);
    case GC_ROLE_WO: return attn_output_type(s->mix, s->base);
    default: return s->base;
    }
}

gc_dtype gc_quant_tensor_type(const gc_quant_scheme *s, const gc_hparams *hp, gc_role role, int layer,
                              int64_t row_len) {
    const gc_dtype t = s->mix == GC_MIX_PURE ? s->base : mix_type(s, hp, role, layer, row_len);
    return gc_layout_row_type(t, row_len);
}

/* Refuses a source with block-quantized weights unless asked: each pass through a quantizer adds error. */
static gc_status check_requantize(const gc_model_file *src, bool allow, gc_error *err) {
    if (allow)
        return GC_OK;
    int n;
    const gc_tensor *t = gc_model_file_tensors(src, &n);
    for (int i = 0; i < n; i++)
        if (gc_dtype_is_quantized(t[i].dtype))
            return gc_fail(err, GC_ERR_UNSUPPORTED,
                           "%s: tensor '%s' is already %s; requantizing compounds the error (allow it with "
                           "--allow-requantize)",
                           src->path, t[i].name, gc_dtype_name(t[i].dtype));
    return GC_OK;
}

gc_status gc_model_quantize(const gc_model_file *src, const char *out, const gc_quant_scheme *s, bool allow_requantize,
                            gc_error *err) {
    gc_status st = check_requantize(src, allow_requantize, err);
    gc_planned_tensor *plan = NULL;
    int n = 0;
    if (st == GC_OK)
        st = gc_layout_plan(&src->hp, GC_EXPORT_GGUF, GC_DTYPE_F32, &plan, &n, err);
    for (int i = 0; st == GC_OK && i < n; i++) {
        gc_tensor *d = &plan[i].desc;
        if (d->n_dims != 2)
            continue; /* norms (and biases) stay f32 */
        char name[sizeof d->name];
        int64_t shape[2] = {d->shape[0], d->shape[1]};
        memcpy(name, d->name, sizeof name);
        gc_tensor_describe(d, name, gc_quant_tensor_type(s, &src->hp, plan[i].role, plan[i].layer, shape[1]), 2, shape);
    }
    if (st == GC_OK)
        st = gc_gguf_write_model(src, out, plan, n, s->ftype, err);
    free(plan);
    return st;
}
