/* gguf_model.c - a model from a GGUF file: the architectures llama (tied or untied output), mistral, qwen2
 * and phi3 mapped onto the engine's one layer layout. Hyperparameters come from "<arch>.*" keys, tensors by
 * llama.cpp's names (layout.c's table), Phi-3's fused attn_qkv and gate/up ffn_up become row views (whole
 * rows, so quantized blocks stay intact), and every count the metadata declares is checked against the
 * tensors before the generic shape check, so a mismatch names the key. Tokenizer from tokenizer.ggml.*. */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/layout.h"
#include "model/model_internal.h"

/* How one GGUF architecture differs from llama. llama.cpp permutes llama/mistral q/k rows when it converts,
 * so their pairs rotate adjacent (its ROPE_TYPE_NORM); qwen2 and phi3 keep HF's halves (ROPE_TYPE_NEOX). */
typedef struct gguf_arch {
    const char *name;
    gc_rope_layout rope_layout;
    bool qkv_bias;  /* blk.N.attn_{q,k,v}.bias are required */
    bool fused_ffn; /* ffn_up holds the gate rows, then the up rows (no ffn_gate) */
} gguf_arch;

static const gguf_arch archs[] = {
    {"llama", GC_ROPE_ADJACENT, false, false},
    {"mistral", GC_ROPE_ADJACENT, false, false},
    {"qwen2", GC_ROPE_HALF, true, false},
    {"phi3", GC_ROPE_HALF, false, true},
};
enum { N_ARCHS = sizeof archs / sizeof archs[0] };

/* Phi-3's longrope factors: per-dimension tables for short and long contexts, which the engine cannot apply. */
static const char *const longrope_tensors[] = {"rope_factors_long.weight", "rope_factors_short.weight"};

typedef struct key_name {
    char s[128];
} key_name;

static key_name arch_key(const char *arch, const char *suffix) {
    key_name k;
    snprintf(k.s, sizeof k.s, "%s.%s", arch, suffix);
    return k;
}

/* "'qwen2.block_count' at offset 123" (or "(absent)") for messages about a key. */
static key_name where(const gc_gguf *g, const char *key) {
    key_name w;
    const gc_gguf_kv *kv = gc_gguf_find(g, key);
    if (kv)
        snprintf(w.s, sizeof w.s, "'%.80s' at offset %" PRIu64, key, kv->value_offset);
    else
        snprintf(w.s, sizeof w.s, "'%.80s' (absent)", key);
    return w;
}

/* An integer hparam "<arch>.<suffix>"; absent: def, or an error when required. */
static gc_status hp_int(const gc_gguf *g, const char *arch, const char *suffix, bool required, int def, int *out,
                        gc_error *err) {
    key_name key = arch_key(arch, suffix);
    int64_t v;
    *out = def;
    if (!gc_gguf_find(g, key.s))
        return required ? gc_fail(err, GC_ERR_FORMAT, "%s: metadata key '%s' is missing", g->path, key.s) : GC_OK;
    if (!gc_gguf_get_int(g, key.s, &v) || v < 0 || v > INT32_MAX)
        return gc_fail(err, GC_ERR_FORMAT, "%s: metadata key %s must be a non-negative integer", g->path,
                       where(g, key.s).s);
    *out = (int)v;
    return GC_OK;
}

/* A float hparam; absent: def. A key of another type is an error. */
static gc_status hp_float(const gc_gguf *g, const char *arch, const char *suffix, double def, float *out,
                          gc_error *err) {
    key_name key = arch_key(arch, suffix);
    double v = def;
    if (gc_gguf_find(g, key.s) && !gc_gguf_get_float(g, key.s, &v))
        return gc_fail(err, GC_ERR_FORMAT, "%s: metadata key %s must be a number", g->path, where(g, key.s).s);
    *out = (float)v;
    return GC_OK;
}

static gc_status find_arch(const gc_gguf *g, const gguf_arch **out, gc_error *err) {
    gc_gguf_str name;
    if (!gc_gguf_get_str(g, "general.architecture", &name))
        return gc_fail(err, GC_ERR_FORMAT, "%s: metadata key 'general.architecture' is missing", g->path);
    for (int i = 0; i < N_ARCHS; i++)
        if (name.len == strlen(archs[i].name) && memcmp(name.data, archs[i].name, name.len) == 0) {
            *out = &archs[i];
            return GC_OK;
        }
    char known[128] = "";
    for (int i = 0; i < N_ARCHS; i++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "", archs[i].name);
    return gc_fail(err, GC_ERR_UNSUPPORTED, "%s: GGUF architecture '%.*s' (%s) is not supported (supported: %s)",
                   g->path, (int)(name.len < 32 ? name.len : 32), name.data, where(g, "general.architecture").s, known);
}

/* <arch>.rope.scaling.* (or the older <arch>.rope.scale_linear): none, linear or llama3; the rest (yarn,
 * longrope, ...) need attention or per-dimension factors the engine does not have. */
static gc_status read_rope_scaling(const gc_gguf *g, const char *a, gc_rope_scaling *rs, gc_error *err) {
    key_name type_key = arch_key(a, "rope.scaling.type");
    gc_gguf_str type = {"none", 4};
    float linear;
    gc_status s = hp_float(g, a, "rope.scale_linear", 1.0, &linear, err);
    if (s != GC_OK)
        return s;
    if (gc_gguf_find(g, type_key.s) && !gc_gguf_get_str(g, type_key.s, &type))
        return gc_fail(err, GC_ERR_FORMAT, "%s: metadata key %s must be a string", g->path, where(g, type_key.s).s);
    bool is_linear = type.len == 6 && memcmp(type.data, "linear", 6) == 0;
    bool is_llama3 = type.len == 6 && memcmp(type.data, "llama3", 6) == 0;
    bool is_none = type.len == 4 && memcmp(type.data, "none", 4) == 0;
    *rs = (gc_rope_scaling){GC_ROPE_SCALING_NONE, 1.0f, 1.0f, 4.0f, 8192};
    if (!is_none && !is_linear && !is_llama3)
        return gc_fail(err, GC_ERR_UNSUPPORTED, "%s: RoPE scaling '%.*s' (%s) is not supported (none, linear, llama3)",
                       g->path, (int)(type.len < 32 ? type.len : 32), type.data, where(g, type_key.s).s);
    if (is_none && linear == 1.0f)
        return GC_OK;
    rs->type = is_llama3 ? GC_ROPE_SCALING_LLAMA3 : GC_ROPE_SCALING_LINEAR;
    if ((s = hp_float(g, a, "rope.scaling.factor", linear, &rs->factor, err)) != GC_OK ||
        (s = hp_float(g, a, "rope.scaling.low_freq_factor", 1.0, &rs->low_freq_factor, err)) != GC_OK ||
        (s = hp_float(g, a, "rope.scaling.high_freq_factor", 4.0, &rs->high_freq_factor, err)) != GC_OK ||
        (s = hp_int(g, a, "rope.scaling.original_context_length", false, 8192, &rs->original_max_position, err)) !=
            GC_OK)
        return s;
    if (!(rs->factor >= 1.0f) || !(rs->low_freq_factor > 0 && rs->high_freq_factor > rs->low_freq_factor) ||
        rs->original_max_position < 1)
        return gc_fail(err, GC_ERR_FORMAT, "%s: RoPE scaling factors out of range (%s: %g)", g->path,
                       where(g, arch_key(a, "rope.scaling.factor").s).s, rs->factor);
    return GC_OK;
}

static gc_status read_sizes(const gc_gguf *g, const char *a, gc_hparams *hp, gc_error *err) {
    const struct {
        const char *suffix;
        size_t field;
    } required[] = {
        {"embedding_length", offsetof(gc_hparams, n_embd)},
        {"block_count", offsetof(gc_hparams, n_layers)},
        {"feed_forward_length", offsetof(gc_hparams, n_ff)},
        {"attention.head_count", offsetof(gc_hparams, n_heads)},
    };
    gc_status s = GC_OK;
    for (size_t i = 0; i < sizeof required / sizeof required[0] && s == GC_OK; i++)
        s = hp_int(g, a, required[i].suffix, true, 0, (int *)((char *)hp + required[i].field), err);
    int value_len, rope_dim;
    if (s != GC_OK ||
        (s = hp_int(g, a, "attention.head_count_kv", false, hp->n_heads, &hp->n_kv_heads, err)) != GC_OK ||
        (s = hp_int(g, a, "context_length", false, 0, &hp->ctx_train, err)) != GC_OK ||
        (s = hp_int(g, a, "attention.sliding_window", false, 0, &hp->sliding_window, err)) != GC_OK ||
        (s = hp_int(g, a, "attention.key_length", false, hp->n_heads > 0 ? hp->n_embd / hp->n_heads : 0, &hp->head_dim,
                    err)) != GC_OK ||
        (s = hp_int(g, a, "attention.value_length", false, hp->head_dim, &value_len, err)) != GC_OK ||
        (s = hp_int(g, a, "rope.dimension_count", false, hp->head_dim, &rope_dim, err)) != GC_OK)
        return s;
    if (value_len != hp->head_dim)
        return gc_fail(err, GC_ERR_UNSUPPORTED, "%s: value length %d differs from key length %d (%s)", g->path,
                       value_len, hp->head_dim, where(g, arch_key(a, "attention.value_length").s).s);
    if (rope_dim != hp->head_dim)
        return gc_fail(err, GC_ERR_UNSUPPORTED, "%s: partial rotary embedding (%d of %d dims, %s) is not supported",
                       g->path, rope_dim, hp->head_dim, where(g, arch_key(a, "rope.dimension_count").s).s);
    if (hp->n_layers <= 0 || hp->n_layers > 4096)
        return gc_fail(err, GC_ERR_FORMAT, "%s: %s: %d layers is out of range", g->path,
                       where(g, arch_key(a, "block_count").s).s, hp->n_layers);
    return GC_OK;
}

static gc_status read_hparams(const gc_gguf *g, const gguf_arch *arch, gc_hparams *hp, gc_error *err) {
    const char *a = arch->name;
    snprintf(hp->arch, sizeof hp->arch, "%s", a);
    hp->rope_layout = arch->rope_layout;
    hp->qkv_bias = arch->qkv_bias;
    gc_status s;
    if ((s = read_sizes(g, a, hp, err)) != GC_OK ||
        (s = hp_float(g, a, "attention.layer_norm_rms_epsilon", 1e-5, &hp->norm_eps, err)) != GC_OK ||
        (s = hp_float(g, a, "rope.freq_base", 10000.0, &hp->rope_theta, err)) != GC_OK)
        return s;
    if ((s = read_rope_scaling(g, a, &hp->rope_scaling, err)) != GC_OK)
        return s;
    int64_t id;
    hp->bos_id = gc_gguf_get_int(g, "tokenizer.ggml.bos_token_id", &id) && id >= 0 && id <= INT32_MAX ? (int)id : -1;
    hp->eos_id = gc_gguf_get_int(g, "tokenizer.ggml.eos_token_id", &id) && id >= 0 && id <= INT32_MAX ? (int)id : -1;
    return GC_OK;
}

/* Binds tensor info i: name, dtype, shape (ne reversed), range inside the data section. */
static gc_status bind_info(gc_model_file *m, const gc_gguf *g, const gc_mapped_file *map, uint64_t i, gc_error *err) {
    const gc_gguf_tensor_info *ti = &g->tensors[i];
    char name[96];
    if (ti->name.len >= sizeof name)
        return gc_fail(err, GC_ERR_FORMAT, "%s: tensor %" PRIu64 ": name of %" PRIu64 " bytes is too long", g->path, i,
                       ti->name.len);
    memcpy(name, ti->name.data, (size_t)ti->name.len);
    name[ti->name.len] = '\0';
    uint64_t offset;
    if (!gc_add_u64(g->data_offset, ti->offset, &offset) || ti->offset % g->alignment != 0)
        return gc_fail(err, GC_ERR_FORMAT, "%s: tensor '%s' at offset %" PRIu64 ": not aligned to %" PRIu64, g->path,
                       name, ti->offset, g->alignment);
    gc_dtype dt;
    if (!gc_gguf_dtype_of(ti->ggml_type, &dt)) {
        char known[256] = "";
        for (int d = 0; d < GC_DTYPE_COUNT; d++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", d ? ", " : "",
                     gc_dtype_name((gc_dtype)d));
        return gc_fail(err, GC_ERR_UNSUPPORTED,
                       "%s: tensor '%s' at offset %" PRIu64 ": ggml type %u is not supported (%s)", g->path, name,
                       offset, ti->ggml_type, known);
    }
    int64_t shape[4];
    for (uint32_t d = 0; d < ti->n_dims; d++)
        shape[d] = ti->ne[ti->n_dims - 1 - d] > (uint64_t)INT64_MAX ? -1 : (int64_t)ti->ne[ti->n_dims - 1 - d];
    gc_tensor t;
    gc_tensor_describe(&t, name, dt, (int)ti->n_dims, shape);
    gc_status s = gc_tensor_bind(&t, g->path, map, offset, UINT64_MAX, err);
    if (s == GC_OK && gc_model_find_tensor(m, name))
        s = gc_fail(err, GC_ERR_FORMAT, "%s: tensor '%s' appears twice", g->path, name);
    if (s == GC_OK)
        s = gc_model_add_tensor(m, &t, err);
    return s;
}

static gc_status bind_tensors(gc_model_file *m, const gc_gguf *g, const gc_mapped_file *map, gc_error *err) {
    gc_status s = GC_OK;
    for (uint64_t i = 0; i < g->n_tensors && s == GC_OK; i++)
        s = bind_info(m, g, map, i, err);
    if (s != GC_OK)
        return s;
    int n;
    const gc_tensor *t = gc_model_file_tensors(m, &n);
    gc_byte_range *ranges = malloc((size_t)n * sizeof *ranges);
    if (!ranges)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory", g->path);
    for (int i = 0; i < n; i++)
        ranges[i] = (gc_byte_range){t[i].file_offset, t[i].file_offset + t[i].nbytes, t[i].name};
    s = gc_check_overlaps(ranges, n, g->path, err);
    free(ranges);
    return s;
}

static const gc_tensor *find_layer_tensor(const gc_model_file *m, const char *fmt, int layer) {
    char name[96];
    // cppcheck-suppress wrongPrintfScanfArgNum
    snprintf(name, sizeof name, fmt, layer);
    return gc_model_find_tensor(m, name);
}

/* Rows a 2-D tensor has, or -1 for anything else. */
static int64_t rows_of(const gc_tensor *t) {
    return t && t->n_dims == 2 ? t->shape[0] : -1;
}

/* Fails when tensor t does not have `want` rows, naming the keys the count came from. */
static gc_status expect_rows(const gc_model_file *m, const gc_tensor *t, int64_t want, const char *keys,
                             gc_error *err) {
    if (!t || rows_of(t) == want)
        return GC_OK;
    return gc_fail(err, GC_ERR_FORMAT, "%s: tensor '%s' at offset %" PRIu64 ": %" PRId64 " rows, but %s give %" PRId64,
                   m->path, t->name, t->file_offset, rows_of(t), keys, want);
}

/* The N of a "blk.N." name (-1 when the name has another form; LONG_MAX when N overflows). */
static long layer_of(const char *name) {
    if (strncmp(name, "blk.", 4) != 0 || name[4] < '0' || name[4] > '9')
        return -1;
    char *end;
    long layer = strtol(name + 4, &end, 10); /* ERANGE gives LONG_MAX, out of range below */
    return *end == '.' ? layer : -1;
}

/* Every blk.N tensor must belong to a layer block_count declares. */
static gc_status check_layer_numbers(const gc_model_file *m, const gc_gguf *g, gc_error *err) {
    int n;
    const gc_tensor *t = gc_model_file_tensors(m, &n);
    for (int i = 0; i < n; i++) {
        long layer = layer_of(t[i].name);
        if (layer >= m->hp.n_layers)
            return gc_fail(err, GC_ERR_FORMAT,
                           "%s: tensor '%s' at offset %" PRIu64 " is in layer %ld, but %s declares %d", m->path,
                           t[i].name, t[i].file_offset, layer, where(g, arch_key(m->hp.arch, "block_count").s).s,
                           m->hp.n_layers);
    }
    return GC_OK;
}

/* token_embd's rows against the token list and <arch>.vocab_size; its columns against embedding_length. */
static gc_status check_vocab(const gc_model_file *m, const gc_gguf *g, gc_error *err) {
    const gc_tensor *e = gc_model_find_tensor(m, "token_embd.weight");
    if (!e)
        return gc_fail(err, GC_ERR_FORMAT, "%s: tensor 'token_embd.weight' is missing", m->path);
    if (e->n_dims != 2 || e->shape[1] != m->hp.n_embd || e->shape[0] > INT32_MAX)
        return gc_fail(err, GC_ERR_FORMAT,
                       "%s: tensor 'token_embd.weight' at offset %" PRIu64 " is not [vocab, %d] "
                       "as %s says",
                       m->path, e->file_offset, m->hp.n_embd, where(g, arch_key(m->hp.arch, "embedding_length").s).s);
    key_name vocab_key = arch_key(m->hp.arch, "vocab_size");
    int64_t declared;
    const gc_gguf_kv *tokens = gc_gguf_find(g, "tokenizer.ggml.tokens");
    gc_status s = GC_OK;
    if (gc_gguf_get_int(g, vocab_key.s, &declared))
        s = expect_rows(m, e, declared, where(g, vocab_key.s).s, err);
    if (s == GC_OK && tokens && tokens->type == GC_GGUF_ARRAY)
        s = expect_rows(m, e, (int64_t)tokens->n, where(g, "tokenizer.ggml.tokens").s, err);
    return s;
}

/* The q/k/v rows of layer l against the head counts (fused: all three in attn_qkv). */
static gc_status check_heads(const gc_model_file *m, const gc_gguf *g, int l, gc_error *err) {
    const gc_hparams *hp = &m->hp;
    const char *a = hp->arch;
    char keys[400];
    snprintf(keys, sizeof keys, "%s, %s and %s", where(g, arch_key(a, "attention.head_count").s).s,
             where(g, arch_key(a, "attention.head_count_kv").s).s, where(g, arch_key(a, "attention.key_length").s).s);
    int64_t q = (int64_t)hp->n_heads * hp->head_dim, kv = (int64_t)hp->n_kv_heads * hp->head_dim;
    const gc_tensor *qkv = find_layer_tensor(m, "blk.%d.attn_qkv.weight", l);
    gc_status s = expect_rows(m, qkv, q + 2 * kv, keys, err);
    const gc_role roles[] = {GC_ROLE_WQ, GC_ROLE_WK, GC_ROLE_WV};
    const int64_t want[] = {q, kv, kv};
    for (int i = 0; i < 3 && s == GC_OK; i++)
        s = expect_rows(m, find_layer_tensor(m, gc_layout_name(roles[i], GC_EXPORT_GGUF), l), want[i], keys, err);
    return s;
}

/* The checks that name the metadata key a count came from; gc_model_check_shapes then checks every shape. */
static gc_status check_counts(const gc_model_file *m, const gc_gguf *g, gc_error *err) {
    gc_status s = check_layer_numbers(m, g, err);
    if (s == GC_OK)
        s = check_vocab(m, g, err);
    for (int l = 0; l < m->hp.n_layers && s == GC_OK; l++)
        s = check_heads(m, g, l, err);
    for (size_t i = 0; i < sizeof longrope_tensors / sizeof *longrope_tensors && s == GC_OK; i++) {
        const gc_tensor *t = gc_model_find_tensor(m, longrope_tensors[i]);
        if (t)
            s = gc_fail(err, GC_ERR_UNSUPPORTED,
                        "%s: tensor '%s' at offset %" PRIu64 ": longrope scaling is not supported", m->path, t->name,
                        t->file_offset);
    }
    return s;
}

/* llama.cpp keeps Llama 3.1's RoPE scaling as rope_freqs.weight, one divisor per frequency, and no keys. It is
 * taken as llama3 scaling when every divisor is what that rule gives with the <arch>.rope.scaling.* keys, or
 * without them with Meta's constants (low 1, high 4, original context 8192) and the largest divisor as the
 * factor, which is how convert_hf_to_gguf.py writes it; other tables are refused. */
static gc_status read_rope_freqs(gc_model_file *m, gc_error *err) {
    const gc_tensor *t = gc_model_find_tensor(m, "rope_freqs.weight");
    gc_hparams *hp = &m->hp;
    if (!t)
        return GC_OK;
    int half = hp->head_dim / 2;
    if (t->dtype != GC_DTYPE_F32 || t->n_dims != 1 || t->shape[0] != half)
        return gc_fail(err, GC_ERR_FORMAT, "%s: tensor 'rope_freqs.weight' at offset %" PRIu64 " must be f32 [%d]",
                       m->path, t->file_offset, half);
    const float *div = t->data;
    gc_rope_scaling rs = hp->rope_scaling;
    if (rs.type != GC_ROPE_SCALING_LLAMA3) {
        rs = (gc_rope_scaling){GC_ROPE_SCALING_LLAMA3, 1.0f, 1.0f, 4.0f, 8192};
        for (int p = 0; p < half; p++)
            rs.factor = div[p] > rs.factor ? div[p] : rs.factor;
    }
    for (int p = 0; p < half; p++) {
        float freq = 1.0f / powf(hp->rope_theta, (float)(2 * p) / (float)hp->head_dim);
        float want = freq / gc_rope_scale_freq(&rs, freq);
        if (!(fabsf(div[p] - want) <= 1e-3f * want))
            return gc_fail(err, GC_ERR_UNSUPPORTED,
                           "%s: tensor 'rope_freqs.weight' at offset %" PRIu64
                           ": divisor %d is %g where llama3 scaling "
                           "(factor %g, low %g, high %g, original context %d) gives %g; other RoPE factors are not "
                           "supported",
                           m->path, t->file_offset, p, div[p], rs.factor, rs.low_freq_factor, rs.high_freq_factor,
                           rs.original_max_position, want);
    }
    hp->rope_scaling = rs;
    return GC_OK;
}

/* Splits a fused [sum(rows), in] tensor into row views, one per destination. */
static gc_status split_rows(const gc_tensor *fused, gc_tensor *const *dsts, const int64_t *rows, int n, gc_error *err) {
    int64_t first = 0;
    gc_status s = GC_OK;
    for (int i = 0; i < n && s == GC_OK; first += rows[i], i++)
        s = gc_tensor_rows(fused, first, rows[i], false, NULL, dsts[i], err);
    return s;
}

/* Phi-3's fused projections as views: attn_qkv rows are q, k, v; ffn_up rows are gate, then up. */
static gc_status split_fused(gc_model_file *m, const gguf_arch *arch, const gc_gguf *g, int l, gc_error *err) {
    const gc_hparams *hp = &m->hp;
    gc_layer_weights *w = &m->layers[l];
    const gc_tensor *qkv = find_layer_tensor(m, "blk.%d.attn_qkv.weight", l);
    int64_t q = (int64_t)hp->n_heads * hp->head_dim, kv = (int64_t)hp->n_kv_heads * hp->head_dim;
    gc_tensor *const qkv_dsts[] = {&w->wq, &w->wk, &w->wv}, *const ffn_dsts[] = {&w->w_gate, &w->w_up};
    const int64_t qkv_rows[] = {q, kv, kv}, ffn_rows[] = {hp->n_ff, hp->n_ff};
    gc_status s = qkv ? split_rows(qkv, qkv_dsts, qkv_rows, 3, err) : GC_OK;
    if (s != GC_OK || !arch->fused_ffn || w->w_gate.data || !w->w_up.data)
        return s;
    gc_tensor up = w->w_up;
    if ((s = expect_rows(m, &up, 2 * hp->n_ff, where(g, arch_key(hp->arch, "feed_forward_length").s).s, err)) != GC_OK)
        return s;
    return split_rows(&up, ffn_dsts, ffn_rows, 2, err);
}

/* Layer l's tensors by their GGUF names; a required one that is absent is named in the message. */
static gc_status bind_layer(gc_model_file *m, const gguf_arch *arch, const gc_gguf *g, int l, gc_error *err) {
    for (gc_role r = GC_ROLE_LAYER_FIRST; r < GC_ROLE_LAYER_END; r++) {
        const gc_tensor *t = find_layer_tensor(m, gc_layout_name(r, GC_EXPORT_GGUF), l);
        if (t)
            *gc_layout_slot(m, r, l) = *t;
    }
    gc_status s = split_fused(m, arch, g, l, err);
    for (gc_role r = GC_ROLE_LAYER_FIRST; r < GC_ROLE_LAYER_END && s == GC_OK; r++)
        if (!gc_layout_slot(m, r, l)->data && (!gc_role_is_bias(r) || m->hp.qkv_bias)) {
            char name[96];
            // cppcheck-suppress wrongPrintfScanfArgNum
            snprintf(name, sizeof name, gc_layout_name(r, GC_EXPORT_GGUF), l);
            s = gc_fail(err, GC_ERR_FORMAT, "%s: tensor '%s' is missing (GGUF architecture %s, %s)", m->path, name,
                        arch->name, where(g, arch_key(arch->name, "block_count").s).s);
        }
    return s;
}

static gc_status bind_model(gc_model_file *m, const gguf_arch *arch, const gc_gguf *g, gc_error *err) {
    m->layers = calloc((size_t)m->hp.n_layers, sizeof *m->layers);
    if (!m->layers)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory", m->path);
    const gc_role globals[] = {GC_ROLE_EMBD, GC_ROLE_OUT_NORM, GC_ROLE_LM_HEAD};
    for (int i = 0; i < 3; i++) {
        const gc_tensor *t = gc_model_find_tensor(m, gc_layout_name(globals[i], GC_EXPORT_GGUF));
        if (t)
            *gc_layout_slot(m, globals[i], -1) = *t;
    }
    m->hp.tied_embeddings = !m->lm_head.data;
    if (m->hp.tied_embeddings)
        m->lm_head = m->tok_embd;
    m->hp.vocab_size = (int)m->tok_embd.shape[0]; /* check_vocab made it a 2-D tensor checked in range */
    /* an architecture without required biases may still carry them (llama.cpp loads them when present) */
    m->hp.qkv_bias = arch->qkv_bias || gc_model_find_tensor(m, "blk.0.attn_q.bias");
    gc_status s = GC_OK;
    for (int l = 0; l < m->hp.n_layers && s == GC_OK; l++)
        s = bind_layer(m, arch, g, l, err);
    return s == GC_OK ? gc_hparams_check(&m->hp, m->path, err) : s;
}

gc_status gc_gguf_model_load(gc_model_file *m, gc_error *err) {
    gc_model_priv *p = gc_model_priv_of(m);
    const gc_mapped_file *map = &p->maps[0];
    gc_status s = gc_gguf_parse(m->path, map->data, map->size, &p->gguf, err);
    if (s != GC_OK)
        return s;
    if (p->gguf->n_tensors == 0)
        return gc_fail(err, GC_ERR_FORMAT, "%s: no tensors (a vocabulary-only GGUF is not a model)", m->path);
    const gguf_arch *arch;
    if ((s = find_arch(p->gguf, &arch, err)) != GC_OK || (s = read_hparams(p->gguf, arch, &m->hp, err)) != GC_OK ||
        (s = bind_tensors(m, p->gguf, map, err)) != GC_OK || (s = check_counts(m, p->gguf, err)) != GC_OK ||
        (s = read_rope_freqs(m, err)) != GC_OK || (s = bind_model(m, arch, p->gguf, err)) != GC_OK)
        return s;
    return gc_model_tokenizer_from_gguf(m, err);
}
