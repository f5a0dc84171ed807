/* convert.c - gemcl convert: any loadable model -> HF directory or GGUF file; see convert.h. */
#include "model/convert.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"
#include "model/quantize.h"
#include "tokenizer/tokenizer.h"
#include "util/fileio.h"

typedef struct convert_ctx {
    const gc_model_file *m;
    const gc_planned_tensor *plan;
    gc_rope_layout to_layout;
} convert_ctx;

static bool is_rope_rows(gc_role r) {
    return r == GC_ROLE_WQ || r == GC_ROLE_WK || r == GC_ROLE_BQ || r == GC_ROLE_BK;
}

/* Output rows come from the source tensor's rows, q/k rows permuted between RoPE layouts. */
static gc_status convert_fill(void *vctx, int index, int64_t first, float *out, size_t n, gc_error *err) {
    const convert_ctx *c = vctx;
    const gc_planned_tensor *p = &c->plan[index];
    const gc_tensor *src = gc_layout_source(c->m, p->role, p->layer);
    if (!src)
        return gc_fail(err, GC_ERR_NOT_FOUND, "%s: no source tensor for '%s'", c->m->path, p->desc.name);
    int64_t row_len = p->desc.n_dims == 2 ? p->desc.shape[1] : 1;
    bool permute = is_rope_rows(p->role);
    for (int64_t r = first / row_len; r < (first + (int64_t)n) / row_len; r++) {
        int64_t sr = permute ? gc_rope_source_row(r, c->m->hp.head_dim, c->m->hp.rope_layout, c->to_layout) : r;
        gc_decode_f32(src, sr * row_len, (size_t)row_len, out + (r * row_len - first));
    }
    return GC_OK;
}

gc_status gc_copy_file(const char *from, const char *to, gc_error *err) {
    char *data;
    size_t len;
    gc_status s = gc_file_read(from, &data, &len, err);
    if (s == GC_OK)
        s = gc_file_write_atomic(to, data, len, err);
    free(data);
    return s;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The source's tokenizer file beside the new HF directory's weights (a llama2.c one as tokenizer.bin). */
static gc_status copy_tokenizer(const gc_model_file *m, const char *dir, gc_error *err) {
    const char *tp = m->tokenizer_path;
    if (!tp[0] || strcmp(m->format, "gguf") == 0)
        return GC_OK;
    const char *base = strrchr(tp, '/') ? strrchr(tp, '/') + 1 : tp;
    char to[2048];
    snprintf(to, sizeof to, "%s/%s", dir, ends_with(base, ".bin") ? "tokenizer.bin" : base);
    return gc_copy_file(tp, to, err);
}

static gc_status convert_hf(const gc_model_file *m, const char *out, gc_dtype dtype, gc_error *err) {
    gc_hparams hp = m->hp;
    hp.rope_layout = GC_ROPE_HALF;
    gc_planned_tensor *plan;
    int n;
    gc_status s = gc_layout_plan(&hp, GC_EXPORT_SAFETENSORS, dtype, &plan, &n, err);
    if (s != GC_OK)
        return s;
    convert_ctx c = {m, plan, GC_ROPE_HALF};
    s = gc_hf_write_dir(out, &hp, dtype, plan, n, convert_fill, &c, err);
    free(plan);
    return s == GC_OK ? copy_tokenizer(m, out, err) : s;
}

/* The GGUF architecture a model is written as: qwen2 for a model with q/k/v biases (llama.cpp's qwen2 reads
 * them and rotates HF's halves), else llama (adjacent pairs; mistral and phi3 weights are llama's shapes). */
static bool gguf_as_qwen2(const gc_hparams *hp) {
    return hp->qkv_bias;
}

static void add_hparams(gc_gguf_writer *w, const gc_hparams *hp) {
    const char *arch = gguf_as_qwen2(hp) ? "qwen2" : "llama";
    gc_gguf_writer_add_str(w, "general.architecture", arch, strlen(arch));
    const struct { const char *key; uint32_t v; } ints[] = {
        {"embedding_length", (uint32_t)hp->n_embd}, {"block_count", (uint32_t)hp->n_layers},
        {"feed_forward_length", (uint32_t)hp->n_ff}, {"attention.head_count", (uint32_t)hp->n_heads},
        {"attention.head_count_kv", (uint32_t)hp->n_kv_heads}, {"context_length", (uint32_t)hp->ctx_train},
        {"rope.dimension_count", (uint32_t)hp->head_dim}, {"attention.key_length", (uint32_t)hp->head_dim},
        {"vocab_size", (uint32_t)hp->vocab_size}};
    char key[96];
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        snprintf(key, sizeof key, "%s.%s", arch, ints[i].key);
        gc_gguf_writer_add_u32(w, key, ints[i].v);
    }
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", arch);
    gc_gguf_writer_add_f32(w, key, hp->norm_eps);
    snprintf(key, sizeof key, "%s.rope.freq_base", arch);
    gc_gguf_writer_add_f32(w, key, hp->rope_theta);
}

/* A llama2.c piece in SentencePiece spelling: ' ' becomes U+2581, and the control pieces "\n<s>\n" and
 * "\n</s>\n" lose their newlines. Returns a malloc'd string of *out_len bytes (NULL when out of memory). */
static char *spm_piece(int id, const char *p, size_t len, size_t *out_len) {
    if (id == 1 || id == 2) {
        while (len && p[0] == '\n')
            p++, len--;
        while (len && p[len - 1] == '\n')
            len--;
    }
    char *out = malloc(len * 3 + 1);
    size_t n = 0;
    for (size_t k = 0; out && k < len; k++)
        if (p[k] == ' ')
            memcpy(out + n, "\xe2\x96\x81", 3), n += 3;
        else
            out[n++] = p[k];
    *out_len = n;
    return out;
}

/* SentencePiece token types: 2 unknown, 3 control, 6 byte (<0xNN>), 1 normal. */
static int32_t spm_type(int id, const char *p, size_t len) {
    if (id == 0)
        return 2;
    if (id <= 2)
        return 3;
    return len == 6 && memcmp(p, "<0x", 3) == 0 && p[5] == '>' ? 6 : 1;
}

static void add_vocab_keys(gc_gguf_writer *w, char **spm, const size_t *spm_lens, const float *scores,
                           const int32_t *types, int n, int eot_id) {
    gc_gguf_writer_add_str(w, "tokenizer.ggml.model", "llama", 5);
    gc_gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", (const char *const *)spm, spm_lens, (uint64_t)n);
    gc_gguf_writer_add_array(w, "tokenizer.ggml.scores", GC_GGUF_F32, scores, (uint64_t)n);
    gc_gguf_writer_add_array(w, "tokenizer.ggml.token_type", GC_GGUF_I32, types, (uint64_t)n);
    gc_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gc_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 2);
    gc_gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    gc_gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", true);
    /* llama2.c ends generation at BOS (its EOT): without this key the GGUF copy ran on past where the .bin and
     * HF copies stop (issue 16); llama.cpp stops at tokenizer.ggml.eot_token_id too */
    if (eot_id >= 0)
        gc_gguf_writer_add_u32(w, "tokenizer.ggml.eot_token_id", (uint32_t)eot_id);
}

/* tokenizer.ggml.* from the source's llama2.c tokenizer file. */
static gc_status add_llama2c_vocab(gc_gguf_writer *w, const gc_model_file *m, gc_error *err) {
    char **pieces;
    size_t *lens;
    float *scores;
    int n = m->hp.vocab_size;
    gc_status s = gc_llama2c_vocab_read(m->tokenizer_path, n, &pieces, &lens, &scores, err);
    if (s != GC_OK)
        return s;
    char **spm = calloc((size_t)n, sizeof *spm);
    size_t *spm_lens = calloc((size_t)n, sizeof *spm_lens);
    int32_t *types = calloc((size_t)n, sizeof *types);
    bool ok = spm && spm_lens && types;
    for (int i = 0; ok && i < n; i++) {
        spm[i] = spm_piece(i, pieces[i], lens[i], &spm_lens[i]);
        types[i] = spm_type(i, pieces[i], lens[i]);
        ok = spm[i] != NULL;
    }
    if (ok)
        add_vocab_keys(w, spm, spm_lens, scores, types, n, m->tokenizer ? gc_tokenizer_eot(m->tokenizer) : -1);
    for (int i = 0; spm && i < n; i++)
        free(spm[i]);
    free(spm), free(spm_lens), free(types), free(pieces), free(lens), free(scores);
    return ok ? GC_OK : gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
}

/* The tokenizer as GGUF metadata: copied from a GGUF source, built from a llama2.c file, else none. */
static gc_status add_tokenizer(gc_gguf_writer *w, const gc_model_file *m, gc_error *err) {
    const gc_gguf *g = gc_model_priv_of(m)->gguf;
    if (g) {
        for (uint64_t i = 0; i < g->n_kv; i++)
            if (g->kv[i].key.len > 10 && memcmp(g->kv[i].key.data, "tokenizer.", 10) == 0)
                gc_gguf_writer_add_kv(w, g, &g->kv[i]);
        return GC_OK;
    }
    if (m->tokenizer_path[0] && ends_with(m->tokenizer_path, ".bin"))
        return add_llama2c_vocab(w, m, err);
    return GC_OK;
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

/* Keys a written GGUF sets itself, so a GGUF source's copies of them are dropped. */
static bool key_is_ours(const gc_gguf_str *key) {
    static const char *const ours[] = {"general.architecture", "general.file_type", "general.quantization_version",
                                       "general.alignment"};
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
        if (key->len == strlen(ours[i]) && memcmp(key->data, ours[i], key->len) == 0)
            return true;
    return false;
}

/* general.*: a GGUF source's keys (name, author, license, ...) carried over; general.name otherwise the
 * source's file name. Then the file type, and ggml's quantization version when any tensor is quantized. */
static void add_general(gc_gguf_writer *w, const gc_model_file *m, uint32_t file_type, bool quantized) {
    const gc_gguf *g = gc_model_priv_of(m)->gguf;
    bool has_name = false;
    for (uint64_t i = 0; g && i < g->n_kv; i++) {
        const gc_gguf_str *key = &g->kv[i].key;
        if (key->len > 8 && memcmp(key->data, "general.", 8) == 0 && !key_is_ours(key)) {
            gc_gguf_writer_add_kv(w, g, &g->kv[i]);
            has_name |= key->len == 12 && memcmp(key->data, "general.name", 12) == 0;
        }
    }
    if (!has_name)
        gc_gguf_writer_add_str(w, "general.name", base_name(m->path), strlen(base_name(m->path)));
    gc_gguf_writer_add_u32(w, "general.file_type", file_type);
    if (quantized)
        gc_gguf_writer_add_u32(w, "general.quantization_version", GC_GGML_QUANT_VERSION);
}

gc_status gc_gguf_write_model(const gc_model_file *m, const char *out, const gc_planned_tensor *plan, int n,
                              uint32_t file_type, gc_error *err) {
    gc_status s = GC_OK;
    gc_gguf_writer *w = gc_gguf_writer_create();
    gc_tensor *descs = malloc((size_t)n * sizeof *descs);
    if (!w || !descs)
        s = gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory", out);
    bool quantized = false;
    for (int i = 0; s == GC_OK && i < n; i++) {
        descs[i] = plan[i].desc;
        quantized |= gc_dtype_is_quantized(descs[i].dtype);
    }
    if (s == GC_OK) {
        add_hparams(w, &m->hp);
        add_general(w, m, file_type, quantized);
        s = add_tokenizer(w, m, err);
    }
    convert_ctx c = {m, plan, gguf_as_qwen2(&m->hp) ? GC_ROPE_HALF : GC_ROPE_ADJACENT};
    if (s == GC_OK)
        s = gc_export_write(out, GC_EXPORT_GGUF, w, descs, n, convert_fill, &c, err);
    gc_gguf_writer_free(w);
    free(descs);
    return s;
}

static gc_status convert_gguf(const gc_model_file *m, const char *out, gc_dtype dtype, gc_error *err) {
    gc_planned_tensor *plan = NULL;
    int n;
    gc_status s = gc_layout_plan(&m->hp, GC_EXPORT_GGUF, dtype, &plan, &n, err);
    if (s == GC_OK)
        s = gc_gguf_write_model(m, out, plan, n, gc_llama_ftype(dtype), err);
    free(plan);
    return s;
}

gc_status gc_model_convert(const gc_model_file *src, const char *out, gc_convert_to to, gc_dtype dtype, gc_error *err) {
    if (to == GC_CONVERT_HF)
        return convert_hf(src, out, dtype, err);
    return convert_gguf(src, out, dtype, err);
}

static int32_t le_i32(const unsigned char *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Walks the file once: checks every record fits, and fills the outputs when they are given. */
static gc_status walk_vocab(const gc_mapped_file *f, const char *path, int n_vocab, char **pieces, size_t *lens,
                            float *scores, size_t *total, gc_error *err) {
    size_t pos = 4;
    *total = 0;
    for (int i = 0; i < n_vocab; i++) {
        if (f->size - pos < 8)
            return gc_fail(err, GC_ERR_FORMAT, "%s: token %d at offset %zu: file ends", path, i, pos);
        int32_t len = le_i32(f->data + pos + 4);
        if (len < 0 || (size_t)len > f->size - pos - 8)
            return gc_fail(err, GC_ERR_FORMAT, "%s: token %d at offset %zu: length %d runs past the end", path, i, pos,
                           len);
        if (pieces) {
            memcpy(&scores[i], f->data + pos, 4);
            pieces[i] = (char *)f->data + pos + 8;
            lens[i] = (size_t)len;
        }
        pos += 8 + (size_t)len;
        *total += (size_t)len;
    }
    return GC_OK;
}

gc_status gc_llama2c_vocab_read(const char *path, int n_vocab, char ***pieces, size_t **lens, float **scores,
                                gc_error *err) {
    gc_mapped_file f;
    size_t total;
    *pieces = NULL, *lens = NULL, *scores = NULL;
    gc_status s = gc_file_map(path, &f, err);
    if (s != GC_OK)
        return s;
    if (f.size < 4 || n_vocab <= 0)
        s = gc_fail(err, GC_ERR_FORMAT, "%s: not a llama2.c tokenizer", path);
    if (s == GC_OK)
        s = walk_vocab(&f, path, n_vocab, NULL, NULL, NULL, &total, err);
    char **ptrs = s == GC_OK ? malloc((size_t)n_vocab * sizeof(char *) + total) : NULL;
    *lens = malloc((size_t)n_vocab * sizeof **lens);
    *scores = malloc((size_t)n_vocab * sizeof **scores);
    if (s == GC_OK && (!ptrs || !*lens || !*scores))
        s = gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory", path);
    if (s == GC_OK) { /* point into the mapping, then copy the bytes behind the pointer array */
        walk_vocab(&f, path, n_vocab, ptrs, *lens, *scores, &total, err);
        char *bytes = (char *)(ptrs + n_vocab);
        for (int i = 0; i < n_vocab; i++, bytes += (*lens)[i - 1]) {
            memcpy(bytes, ptrs[i], (*lens)[i]);
            ptrs[i] = bytes;
        }
    }
    gc_file_unmap(&f);
    if (s != GC_OK) {
        free(ptrs), free(*lens), free(*scores);
        *lens = NULL, *scores = NULL;
        return s;
    }
    *pieces = ptrs;
    return GC_OK;
}
