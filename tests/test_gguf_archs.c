/* test_gguf_archs.c - GGUF architectures (llama, mistral, qwen2, phi3) from tiny files written here and from
 * the real Qwen2.5 and SmolLM2 GGUFs: hyperparameters, tensor mapping, fused views, RoPE scaling keys, the
 * GGUF tokenizer's specials, and every declared count that disagrees with the tensors named in one line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gemcl.h"
#include "api_edge.h"
#include "harness.h"
#include "model/card.h"
#include "model/convert.h"
#include "model/gguf.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "util/fileio.h"
#include "util/json.h"

/* ---- tiny GGUF models ---- */

/* What a tiny model file holds; tiny_default() is a valid qwen2 file and each test changes one thing. */
typedef struct tiny_spec {
    const char *arch;
    int layers_declared, layers_written; /* <arch>.block_count and the blk.N tensors present */
    int heads_declared;                  /* <arch>.attention.head_count (tensors have 4 heads of 64) */
    int vocab_declared;                  /* <arch>.vocab_size, 0 = no key */
    int n_tokens;                        /* tokenizer.ggml.tokens length (token_embd has TINY_VOCAB rows) */
    int n_embd;                          /* width = the matrices' row length */
    gc_dtype matrix_dtype;
    bool fused; /* phi3: attn_qkv and gate+up in ffn_up */
    bool biases, tied, add_eos;
    const char *pre;          /* tokenizer.ggml.pre */
    const char *rope_scaling; /* <arch>.rope.scaling.type, NULL = none */
    float rope_factor;
    int sliding_window;      /* 0 = no key */
    const float *rope_freqs; /* rope_freqs.weight [TINY_HEAD_DIM / 2], NULL = none */
} tiny_spec;

enum { TINY_HEADS = 4, TINY_KV_HEADS = 2, TINY_HEAD_DIM = 64, TINY_FF = 256, TINY_VOCAB = 258 };

static tiny_spec tiny_default(void) {
    return (tiny_spec){.arch = "qwen2",
                       .layers_declared = 2,
                       .layers_written = 2,
                       .heads_declared = TINY_HEADS,
                       .n_tokens = TINY_VOCAB,
                       .n_embd = 256,
                       .matrix_dtype = GC_DTYPE_Q4_K,
                       .biases = true,
                       .pre = "qwen2"};
}

/* GPT-2's bytes_to_unicode: printable bytes stand for themselves, the rest for U+0100 onwards. Writes the
 * UTF-8 spelling of byte b into out; returns its length. */
static size_t gpt2_byte_char(int b, char *out) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    int cp = b;
    if (!printable) {
        int n = 0;
        for (int k = 0; k < b; k++)
            n += !((k >= '!' && k <= '~') || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE && k <= 0xFF));
        cp = 256 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* A byte-level vocabulary: the 256 bytes, then <|endoftext|> (control, BOS/EOS) and <|im_start|> (control). */
static void add_vocab(gc_gguf_writer *w, const tiny_spec *s) {
    static char texts[TINY_VOCAB][16];
    const char *strs[TINY_VOCAB];
    size_t lens[TINY_VOCAB];
    int32_t types[TINY_VOCAB];
    for (int i = 0; i < TINY_VOCAB; i++) {
        lens[i] = i < 256
                      ? gpt2_byte_char(i, texts[i])
                      : (size_t)snprintf(texts[i], sizeof texts[i], "%s", i == 256 ? "<|endoftext|>" : "<|im_start|>");
        strs[i] = texts[i];
        types[i] = i < 256 ? 1 : 3;
    }
    gc_gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2", 4);
    gc_gguf_writer_add_str(w, "tokenizer.ggml.pre", s->pre, strlen(s->pre));
    gc_gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", strs, lens, (uint64_t)s->n_tokens);
    gc_gguf_writer_add_array(w, "tokenizer.ggml.token_type", GC_GGUF_I32, types, (uint64_t)s->n_tokens);
    gc_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 256);
    gc_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 256);
    gc_gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", false);
    gc_gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", s->add_eos);
}

static void add_key_u32(gc_gguf_writer *w, const tiny_spec *s, const char *suffix, uint32_t v) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", s->arch, suffix);
    gc_gguf_writer_add_u32(w, key, v);
}

static void add_hparams(gc_gguf_writer *w, const tiny_spec *s) {
    char key[128];
    gc_gguf_writer_add_str(w, "general.architecture", s->arch, strlen(s->arch));
    add_key_u32(w, s, "block_count", (uint32_t)s->layers_declared);
    add_key_u32(w, s, "embedding_length", (uint32_t)s->n_embd);
    add_key_u32(w, s, "feed_forward_length", TINY_FF);
    add_key_u32(w, s, "attention.head_count", (uint32_t)s->heads_declared);
    add_key_u32(w, s, "attention.head_count_kv", TINY_KV_HEADS);
    add_key_u32(w, s, "attention.key_length", TINY_HEAD_DIM);
    add_key_u32(w, s, "context_length", 4096);
    if (s->vocab_declared)
        add_key_u32(w, s, "vocab_size", (uint32_t)s->vocab_declared);
    if (s->sliding_window)
        add_key_u32(w, s, "attention.sliding_window", (uint32_t)s->sliding_window);
    snprintf(key, sizeof key, "%s.rope.freq_base", s->arch);
    gc_gguf_writer_add_f32(w, key, 1e6f);
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", s->arch);
    gc_gguf_writer_add_f32(w, key, 1e-6f);
    if (s->rope_scaling) {
        snprintf(key, sizeof key, "%s.rope.scaling.type", s->arch);
        gc_gguf_writer_add_str(w, key, s->rope_scaling, strlen(s->rope_scaling));
        snprintf(key, sizeof key, "%s.rope.scaling.factor", s->arch);
        gc_gguf_writer_add_f32(w, key, s->rope_factor);
    }
}

typedef struct tiny_tensor {
    char name[64];
    gc_dtype dtype;
    int n_dims;
    int64_t shape[2];
} tiny_tensor;

static int add_tensor(tiny_tensor *t, int n, const char *name, gc_dtype dtype, int n_dims, int64_t d0, int64_t d1) {
    t[n] = (tiny_tensor){.dtype = dtype, .n_dims = n_dims, .shape = {d0, d1}};
    snprintf(t[n].name, sizeof t[n].name, "%s", name);
    return n + 1;
}

static int layer_tensors(const tiny_spec *s, int l, tiny_tensor *t, int n) {
    int64_t e = s->n_embd, q = TINY_HEADS * TINY_HEAD_DIM, kv = TINY_KV_HEADS * TINY_HEAD_DIM;
    gc_dtype m = s->matrix_dtype;
    char name[64];
#define LAYER(suffix, dt, nd, d0, d1)                                                                                  \
    (snprintf(name, sizeof name, "blk.%d." suffix, l), n = add_tensor(t, n, name, dt, nd, d0, d1))
    LAYER("attn_norm.weight", GC_DTYPE_F32, 1, e, 0);
    if (s->fused) {
        LAYER("attn_qkv.weight", m, 2, q + 2 * kv, e);
    } else {
        LAYER("attn_q.weight", m, 2, q, e);
        LAYER("attn_k.weight", m, 2, kv, e);
        LAYER("attn_v.weight", m, 2, kv, e);
    }
    if (s->biases) {
        LAYER("attn_q.bias", GC_DTYPE_F32, 1, q, 0);
        LAYER("attn_k.bias", GC_DTYPE_F32, 1, kv, 0);
        LAYER("attn_v.bias", GC_DTYPE_F32, 1, kv, 0);
    }
    LAYER("attn_output.weight", m, 2, e, q);
    LAYER("ffn_norm.weight", GC_DTYPE_F32, 1, e, 0);
    if (!s->fused)
        LAYER("ffn_gate.weight", m, 2, TINY_FF, e);
    LAYER("ffn_up.weight", m, 2, s->fused ? 2 * TINY_FF : TINY_FF, e);
    LAYER("ffn_down.weight", m, 2, e, TINY_FF);
#undef LAYER
    return n;
}

/* Writes the tiny model to dir/name; returns its bytes (malloc'd, *len of them) for tests that corrupt it,
 * and the start of the data section in *data_offset. */
static char *write_tiny(const tiny_spec *s, const char *path, size_t *len, size_t *data_offset) {
    tiny_tensor t[64];
    int n = add_tensor(t, 0, "token_embd.weight", s->matrix_dtype, 2, TINY_VOCAB, s->n_embd);
    for (int l = 0; l < s->layers_written; l++)
        n = layer_tensors(s, l, t, n);
    n = add_tensor(t, n, "output_norm.weight", GC_DTYPE_F32, 1, s->n_embd, 0);
    if (s->rope_freqs)
        n = add_tensor(t, n, "rope_freqs.weight", GC_DTYPE_F32, 1, TINY_HEAD_DIM / 2, 0);
    if (!s->tied)
        n = add_tensor(t, n, "output.weight", s->matrix_dtype, 2, TINY_VOCAB, s->n_embd);
    gc_gguf_writer *w = gc_gguf_writer_create();
    add_hparams(w, s);
    add_vocab(w, s);
    size_t data = 0, rope_freqs_at = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(t[i].name, "rope_freqs.weight") == 0)
            rope_freqs_at = data;
        gc_gguf_writer_add_tensor(w, t[i].name, t[i].dtype, t[i].n_dims, t[i].shape);
        size_t nbytes = gc_dtype_row_bytes(t[i].dtype, t[i].shape[t[i].n_dims - 1]) *
                        (size_t)(t[i].n_dims == 2 ? t[i].shape[0] : 1);
        data += (nbytes + GC_GGUF_ALIGNMENT - 1) / GC_GGUF_ALIGNMENT * GC_GGUF_ALIGNMENT;
    }
    unsigned char *header;
    size_t header_len;
    ck_assert_int_eq(gc_gguf_writer_header(w, &header, &header_len, NULL), GC_OK);
    gc_gguf_writer_free(w);
    char *bytes = malloc(header_len + data);
    memcpy(bytes, header, header_len);
    for (size_t i = 0; i < data; i++) /* small bytes: finite f16 scales, f32 values near 1e-38 */
        bytes[header_len + i] = (char)(i * 7 % 61);
    if (s->rope_freqs)
        memcpy(bytes + header_len + rope_freqs_at, s->rope_freqs, TINY_HEAD_DIM / 2 * sizeof(float));
    free(header);
    gc_error err;
    ck_assert_msg(gc_file_write_atomic(path, bytes, header_len + data, &err) == GC_OK, "%s", err.msg);
    *len = header_len + data;
    *data_offset = header_len;
    return bytes;
}

static char tiny_path[256];

static const char *tiny_file(const tiny_spec *s) {
    size_t len, off;
    snprintf(tiny_path, sizeof tiny_path, "/tmp/gemcl-archs-%d.gguf", (int)getpid());
    free(write_tiny(s, tiny_path, &len, &off));
    return tiny_path;
}

static gc_model_file *open_tiny(const tiny_spec *s) {
    gc_model_file *m = NULL;
    gc_error err;
    ck_assert_msg(gc_model_file_open(tiny_file(s), NULL, &m, &err) == GC_OK, "%s", err.msg);
    unlink(tiny_path); /* the model keeps its mapping */
    return m;
}

/* Opening the file at path fails with status, one line naming the file and containing every needle. */
static void fails_at(const char *path, gc_status status, const char *const *needles, int n) {
    gc_model_file *m = NULL;
    gc_error err = {0};
    gc_status st = gc_model_file_open(path, NULL, &m, &err);
    unlink(path);
    ck_assert_msg(st == status, "got %s (%s), want %s", gemcl_status_str(gc_status_public(st)), err.msg,
                  gemcl_status_str(gc_status_public(status)));
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err.msg, path) && !strchr(err.msg, '\n'), "not one line naming the file: %s", err.msg);
    for (int i = 0; i < n; i++)
        ck_assert_msg(strstr(err.msg, needles[i]), "message lacks '%s': %s", needles[i], err.msg);
}

#define FAILS(spec, status, ...)                                                                                       \
    do {                                                                                                               \
        const char *const needles_[] = {__VA_ARGS__};                                                                  \
        fails_at(tiny_file(&(spec)), status, needles_, sizeof needles_ / sizeof *needles_);                            \
    } while (0)

START_TEST(gguf_qwen2_binds_biases_and_rotates_halves) {
    tiny_spec s = tiny_default();
    gc_model_file *m = open_tiny(&s);
    ck_assert_str_eq(m->hp.arch, "qwen2");
    ck_assert_int_eq(m->hp.rope_layout, GC_ROPE_HALF);
    ck_assert(m->hp.qkv_bias);
    ck_assert(!m->hp.tied_embeddings);
    ck_assert_int_eq(m->hp.n_layers, 2);
    ck_assert_int_eq(m->hp.n_heads, TINY_HEADS);
    ck_assert_int_eq(m->hp.n_kv_heads, TINY_KV_HEADS);
    ck_assert_int_eq(m->hp.vocab_size, TINY_VOCAB);
    ck_assert_float_eq(m->hp.rope_theta, 1e6f);
    ck_assert_int_eq(m->hp.ctx_train, 4096);
    ck_assert_int_eq(m->layers[1].wq.dtype, GC_DTYPE_Q4_K);
    ck_assert_ptr_nonnull(m->layers[1].bk.data);
    ck_assert_int_eq(m->layers[1].bk.shape[0], TINY_KV_HEADS * TINY_HEAD_DIM);
    ck_assert_ptr_ne(m->lm_head.data, m->tok_embd.data);
    ck_assert_str_eq(m->layers[1].bv.name, "blk.1.attn_v.bias");
    gc_model_file_close(m);
}
END_TEST

START_TEST(gguf_phi3_fused_projections_become_row_views) {
    tiny_spec s = tiny_default();
    s.arch = "phi3", s.fused = true, s.biases = false, s.matrix_dtype = GC_DTYPE_Q8_0, s.sliding_window = 2047;
    gc_model_file *m = open_tiny(&s);
    ck_assert_int_eq(m->hp.rope_layout, GC_ROPE_HALF);
    ck_assert_int_eq(m->hp.sliding_window, 2047);
    ck_assert(!m->hp.qkv_bias);
    size_t row = gc_dtype_row_bytes(GC_DTYPE_Q8_0, s.n_embd);
    const gc_layer_weights *w = &m->layers[1];
    const char *qkv = w->wq.data;
    ck_assert_int_eq(w->wq.shape[0], TINY_HEADS * TINY_HEAD_DIM);
    ck_assert_ptr_eq(w->wk.data, qkv + TINY_HEADS * TINY_HEAD_DIM * row);
    ck_assert_ptr_eq(w->wv.data, qkv + (TINY_HEADS + TINY_KV_HEADS) * TINY_HEAD_DIM * row);
    ck_assert_int_eq(w->wv.shape[0], TINY_KV_HEADS * TINY_HEAD_DIM);
    ck_assert_ptr_eq(w->w_up.data, (const char *)w->w_gate.data + TINY_FF * row);
    ck_assert_int_eq(w->w_up.shape[0], TINY_FF);
    ck_assert_int_eq(w->w_gate.file_offset + TINY_FF * row, w->w_up.file_offset);
    gc_model_file_close(m);
}
END_TEST

START_TEST(gguf_llama_and_mistral_keep_adjacent_pairs_and_tie_when_output_is_absent) {
    tiny_spec s = tiny_default();
    s.arch = "llama", s.biases = false, s.tied = true, s.matrix_dtype = GC_DTYPE_F16;
    gc_model_file *m = open_tiny(&s);
    ck_assert_int_eq(m->hp.rope_layout, GC_ROPE_ADJACENT);
    ck_assert(m->hp.tied_embeddings);
    ck_assert_ptr_eq(m->lm_head.data, m->tok_embd.data);
    ck_assert(!m->hp.qkv_bias);
    gc_model_file_close(m);
    s.arch = "mistral", s.tied = false, s.sliding_window = 4096;
    m = open_tiny(&s);
    ck_assert_str_eq(m->hp.arch, "mistral");
    ck_assert_int_eq(m->hp.rope_layout, GC_ROPE_ADJACENT);
    ck_assert_int_eq(m->hp.sliding_window, 4096);
    ck_assert(!m->hp.tied_embeddings);
    gc_model_file_close(m);
}
END_TEST

START_TEST(gguf_rope_scaling_keys_are_read_or_refused) {
    tiny_spec s = tiny_default();
    s.rope_scaling = "linear", s.rope_factor = 4.0f, s.matrix_dtype = GC_DTYPE_F16;
    gc_model_file *m = open_tiny(&s);
    ck_assert_int_eq(m->hp.rope_scaling.type, GC_ROPE_SCALING_LINEAR);
    ck_assert_float_eq(m->hp.rope_scaling.factor, 4.0f);
    /* an HF conversion keeps it (config.json rope_scaling {"rope_type": "linear"}) */
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/gemcl-archs-hf-%d", (int)getpid());
    gc_error err;
    ck_assert_msg(gc_model_convert(m, dir, GC_CONVERT_HF, GC_DTYPE_F32, &err) == GC_OK, "%s", err.msg);
    gc_model_file *hf;
    ck_assert_msg(gc_model_file_open(dir, NULL, &hf, &err) == GC_OK, "%s", err.msg);
    ck_assert_int_eq(hf->hp.rope_scaling.type, GC_ROPE_SCALING_LINEAR);
    ck_assert_float_eq(hf->hp.rope_scaling.factor, 4.0f);
    gc_model_file_close(hf);
    char path[128];
    const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    gc_model_file_close(m);
    s.rope_scaling = "llama3", s.rope_factor = 8.0f;
    m = open_tiny(&s);
    ck_assert_int_eq(m->hp.rope_scaling.type, GC_ROPE_SCALING_LLAMA3);
    ck_assert_float_eq(m->hp.rope_scaling.factor, 8.0f);
    gc_model_file_close(m);
    s.rope_scaling = "none";
    m = open_tiny(&s);
    ck_assert_int_eq(m->hp.rope_scaling.type, GC_ROPE_SCALING_NONE);
    gc_model_file_close(m);
    s.rope_scaling = "yarn";
    FAILS(s, GC_ERR_UNSUPPORTED, "RoPE scaling 'yarn'", "'qwen2.rope.scaling.type' at offset", "none, linear, llama3");
}
END_TEST

/* rope_freqs.weight as convert_hf_to_gguf.py writes it for Llama 3.1 (factor 8, low 1, high 4, original
 * context 8192), computed here in double from HF's _compute_llama3_parameters. */
START_TEST(gguf_rope_freqs_tensor_is_llama3_scaling_or_refused) {
    float freqs[TINY_HEAD_DIM / 2];
    int smooth_dims = 0;
    for (int p = 0; p < TINY_HEAD_DIM / 2; p++) {
        double wavelen = 2 * M_PI * pow(1e6, 2.0 * p / TINY_HEAD_DIM), smooth = (8192 / wavelen - 1) / (4 - 1);
        freqs[p] = wavelen < 8192 / 4.0 ? 1.0f : wavelen > 8192 ? 8.0f : (float)(1 / ((1 - smooth) / 8 + smooth));
        smooth_dims += freqs[p] > 1.0f && freqs[p] < 8.0f;
    }
    ck_assert_int_gt(smooth_dims, 0); /* the table exercises all three regions */
    tiny_spec s = tiny_default();
    s.arch = "llama", s.biases = false, s.rope_freqs = freqs;
    gc_model_file *m = open_tiny(&s);
    ck_assert_int_eq(m->hp.rope_scaling.type, GC_ROPE_SCALING_LLAMA3);
    ck_assert_float_eq(m->hp.rope_scaling.factor, 8.0f);
    ck_assert_int_eq(m->hp.rope_scaling.original_max_position, 8192);
    gc_model_file_close(m);
    freqs[TINY_HEAD_DIM / 4] *= 1.5f;
    FAILS(s, GC_ERR_UNSUPPORTED, "tensor 'rope_freqs.weight' at offset", "llama3 scaling", "not supported");
}
END_TEST

START_TEST(gguf_unknown_arch_and_pre_tokenizer_are_named) {
    tiny_spec s = tiny_default();
    s.arch = "gpt9";
    FAILS(s, GC_ERR_UNSUPPORTED, "architecture 'gpt9'", "'general.architecture' at offset",
          "llama, mistral, qwen2, phi3");
    s = tiny_default();
    s.pre = "tekken-x";
    FAILS(s, GC_ERR_UNSUPPORTED, "pre-tokenizer 'tekken-x'", "tokenizer.ggml.pre", "qwen2");
    const char *known[] = {"default", "gpt2", "llama-bpe", "llama3", "qwen2", "smollm", "falcon", "starcoder", "dbrx"};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        s.pre = known[i];
        gc_model_file_close(open_tiny(&s));
    }
}
END_TEST

START_TEST(gguf_declared_counts_must_match_the_tensors) {
    tiny_spec s = tiny_default();
    s.layers_declared = 1;
    FAILS(s, GC_ERR_FORMAT, "tensor 'blk.1.", "is in layer 1", "'qwen2.block_count' at offset", "declares 1");
    s.layers_declared = 3;
    FAILS(s, GC_ERR_FORMAT, "tensor 'blk.2.attn_norm.weight' is missing", "'qwen2.block_count' at offset");
    s = tiny_default();
    s.heads_declared = 8;
    FAILS(s, GC_ERR_FORMAT, "tensor 'blk.0.attn_q.weight' at offset", "256 rows",
          "'qwen2.attention.head_count' at offset", "give 512");
    s = tiny_default();
    s.n_tokens = TINY_VOCAB - 1;
    FAILS(s, GC_ERR_FORMAT, "tensor 'token_embd.weight' at offset", "'tokenizer.ggml.tokens' at offset", "give 257");
    s = tiny_default();
    s.vocab_declared = 300;
    FAILS(s, GC_ERR_FORMAT, "tensor 'token_embd.weight' at offset", "'qwen2.vocab_size' at offset", "give 300");
    s = tiny_default();
    s.arch = "phi3", s.fused = true, s.biases = false, s.heads_declared = 2;
    FAILS(s, GC_ERR_FORMAT, "tensor 'blk.0.attn_qkv.weight' at offset", "'phi3.attention.head_count' at offset");
    s = tiny_default();
    s.biases = false;
    FAILS(s, GC_ERR_FORMAT, "tensor 'blk.0.attn_q.bias' is missing", "architecture qwen2");
}
END_TEST

START_TEST(gguf_partial_blocks_and_truncated_data_are_refused) {
    tiny_spec s = tiny_default();
    s.n_embd = 128; /* a q4_k row needs whole blocks of 256 */
    FAILS(s, GC_ERR_FORMAT, "tensor 'token_embd.weight' at offset", "q4_k row of 128",
          "not a multiple of the block size 256");
    s = tiny_default();
    size_t len, data_offset;
    snprintf(tiny_path, sizeof tiny_path, "/tmp/gemcl-archs-%d.gguf", (int)getpid());
    char *bytes = write_tiny(&s, tiny_path, &len, &data_offset);
    size_t cuts[] = {data_offset + 100, len / 2, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        gc_error err;
        ck_assert_int_eq(gc_file_write_atomic(tiny_path, bytes, cuts[i], &err), GC_OK);
        const char *const needles[] = {"tensor '", "(q4_k) at offset", "run past the end of the file"};
        fails_at(tiny_path, GC_ERR_FORMAT, needles, 3);
    }
    free(bytes);
}
END_TEST

START_TEST(gguf_add_eos_token_and_specials_are_honoured) {
    tiny_spec s = tiny_default();
    s.add_eos = true;
    gc_model_file *m = open_tiny(&s);
    const gc_tokenizer *t = m->tokenizer;
    ck_assert(!gc_tokenizer_add_bos(t) && gc_tokenizer_add_eos(t));
    int32_t *ids;
    int n;
    gc_error err;
    ck_assert_int_eq(gc_tokenizer_encode_prompt(t, "ab", 2, -1, false, &ids, &n, &err), GC_OK);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(ids[0], 'a');
    ck_assert_int_eq(ids[2], 256); /* EOS after, no BOS before */
    free(ids);
    ck_assert_int_eq(gc_tokenizer_encode_prompt(t, "ab", 2, 1, false, &ids, &n, &err), GC_OK);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(ids[0], 256); /* BOS asked for explicitly: no EOS */
    ck_assert_int_eq(ids[2], 'b');
    free(ids);
    /* a control token is text unless specials are parsed */
    ck_assert_int_eq(gc_tokenizer_encode_prompt(t, "<|im_start|>", 12, 0, true, &ids, &n, &err), GC_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(ids[0], 257);
    free(ids);
    ck_assert_int_eq(gc_tokenizer_encode_prompt(t, "<|im_start|>", 12, 0, false, &ids, &n, &err), GC_OK);
    ck_assert_int_eq(n, 12);
    free(ids);
    gc_model_file_close(m);
}
END_TEST

/* ---- the real GGUFs ---- */

#define SMOLLM2_GGUF "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
#define GREEDY_JSON "data/llama.cpp-reference/greedy.json"

/* Every prompt of greedy.json[key] tokenizes (no BOS, no specials) to its prompt_ids. */
static void check_prompt_ids(const char *model_path, const char *key) {
    gc_tokenizer *t;
    gc_error err;
    ck_assert_msg(gc_model_tokenizer_load(model_path, &t, &err) == GC_OK, "%s", err.msg);
    ck_assert(!gc_tokenizer_add_bos(t) && !gc_tokenizer_add_eos(t)); /* neither model adds BOS */
    char *text;
    size_t len;
    ck_assert_int_eq(gc_file_read(test_shared_path(GREEDY_JSON), &text, &len, &err), GC_OK);
    cJSON *root = cJSON_ParseWithLength(text, len);
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(root, key), *c;
    ck_assert_int_eq(cJSON_GetArraySize(cases), 5);
    cJSON_ArrayForEach(c, cases) {
        const char *prompt = cJSON_GetObjectItemCaseSensitive(c, "prompt")->valuestring;
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(c, "prompt_ids");
        int32_t *ids;
        int n;
        ck_assert_int_eq(gc_tokenizer_encode_prompt(t, prompt, strlen(prompt), -1, false, &ids, &n, &err), GC_OK);
        ck_assert_msg(n == cJSON_GetArraySize(want), "%s '%s': %d ids, llama.cpp %d", key, prompt, n,
                      cJSON_GetArraySize(want));
        for (int i = 0; i < n; i++)
            ck_assert_msg(ids[i] == cJSON_GetArrayItem(want, i)->valueint, "%s '%s': id %d is %d, llama.cpp %d", key,
                          prompt, i, ids[i], cJSON_GetArrayItem(want, i)->valueint);
        free(ids);
    }
    cJSON_Delete(root);
    free(text);
    gc_tokenizer_free(t);
}

START_TEST(smollm2_gguf_tokenizes_greedy_prompts_like_llama_cpp) {
    const char *path = test_shared_path(SMOLLM2_GGUF);
    if (test_skip_if_missing(path, SMOLLM2_GGUF) || test_skip_if_missing(test_shared_path(GREEDY_JSON), GREEDY_JSON))
        return;
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    check_prompt_ids(copy, "smollm2-135m-instruct-q4_1");
}
END_TEST

START_TEST(qwen2_gguf_tokenizes_greedy_prompts_like_llama_cpp) {
    const char *path = test_qwen_gguf();
    if (!path || test_skip_if_missing(test_shared_path(GREEDY_JSON), GREEDY_JSON))
        return;
    check_prompt_ids(path, "qwen2.5-coder-0.5b-instruct-q4_k_m");
}
END_TEST

START_TEST(qwen2_gguf_loads_as_the_readme_describes) {
    const char *path = test_qwen_gguf();
    if (!path)
        return;
    gc_model_file *m;
    gc_error err;
    ck_assert_msg(gc_model_file_open(path, NULL, &m, &err) == GC_OK, "%s", err.msg);
    const gc_hparams *hp = &m->hp;
    ck_assert_str_eq(hp->arch, "qwen2");
    ck_assert_int_eq(hp->n_layers, 24);
    ck_assert_int_eq(hp->n_embd, 896);
    ck_assert_int_eq(hp->n_heads, 14);
    ck_assert_int_eq(hp->n_kv_heads, 2);
    ck_assert_int_eq(hp->n_ff, 4864);
    ck_assert_int_eq(hp->vocab_size, 151936);
    ck_assert_int_eq(hp->ctx_train, 32768);
    ck_assert_float_eq(hp->rope_theta, 1e6f);
    ck_assert_int_eq(hp->rope_layout, GC_ROPE_HALF);
    ck_assert(hp->qkv_bias && !hp->tied_embeddings);
    ck_assert_int_eq(hp->eos_id, 151645);
    gc_model_card card;
    ck_assert_int_eq(gc_model_card_match(hp, &card, NULL), GC_OK);
    ck_assert_str_eq(card.name, "qwen2.5-0.5b");
    /* <|im_start|> is a control token: whole only when specials are parsed; <tool_call> is user-defined:
     * whole always (llama.cpp's tokenizer_st_partition) */
    int32_t *ids;
    int n;
    ck_assert_int_eq(gc_tokenizer_encode(m->tokenizer, "<|im_start|>user", 16, false, true, &ids, &n, &err), GC_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(ids[0], 151644);
    free(ids);
    ck_assert_int_eq(gc_tokenizer_encode(m->tokenizer, "<|im_start|>user", 16, false, false, &ids, &n, &err), GC_OK);
    ck_assert_int_gt(n, 2);
    ck_assert_int_eq(ids[0], 27); /* "<" */
    free(ids);
    ck_assert_int_eq(gc_tokenizer_encode(m->tokenizer, "<tool_call>", 11, false, false, &ids, &n, &err), GC_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(ids[0], 151657);
    free(ids);
    gc_model_file_close(m);
}
END_TEST

START_TEST(cli_tokenize_takes_a_gguf_model) {
    const char *path = test_shared_path(SMOLLM2_GGUF);
    if (test_skip_if_missing(path, SMOLLM2_GGUF))
        return;
    char args[8192], out[4096];
    snprintf(args, sizeof args, "tokenize '%s' --ids 'The capital of France is'", path);
    ck_assert_int_eq(test_run_cli(args, false, out, sizeof out), 0);
    ck_assert_str_eq(out, "504 3575 282 4649 314\n");
    snprintf(args, sizeof args, "tokenize -m '%s' --special --ids '<|im_start|>user'", path);
    ck_assert_int_eq(test_run_cli(args, false, out, sizeof out), 0);
    ck_assert_str_eq(out, "1 4093\n");
    const char *vocab = test_shared_path("models/ggml-vocab/ggml-vocab-phi-3.gguf");
    if (vocab) { /* a vocabulary-only GGUF serves as a tokenizer too */
        snprintf(args, sizeof args, "tokenize '%s' --ids 'Hello world'", vocab);
        ck_assert_int_eq(test_run_cli(args, false, out, sizeof out), 0);
        ck_assert_str_eq(out, "15043 3186\n");
    }
}
END_TEST

Suite *suite_gguf_archs(void) {
    Suite *s = suite_create("gguf_archs");
    TCase *tc = tcase_create("tiny");
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, gguf_qwen2_binds_biases_and_rotates_halves);
    tcase_add_test(tc, gguf_phi3_fused_projections_become_row_views);
    tcase_add_test(tc, gguf_llama_and_mistral_keep_adjacent_pairs_and_tie_when_output_is_absent);
    tcase_add_test(tc, gguf_rope_scaling_keys_are_read_or_refused);
    tcase_add_test(tc, gguf_rope_freqs_tensor_is_llama3_scaling_or_refused);
    tcase_add_test(tc, gguf_unknown_arch_and_pre_tokenizer_are_named);
    tcase_add_test(tc, gguf_declared_counts_must_match_the_tensors);
    tcase_add_test(tc, gguf_partial_blocks_and_truncated_data_are_refused);
    tcase_add_test(tc, gguf_add_eos_token_and_specials_are_honoured);
    suite_add_tcase(s, tc);
    tc = tcase_create("real");
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, smollm2_gguf_tokenizes_greedy_prompts_like_llama_cpp);
    tcase_add_test(tc, qwen2_gguf_tokenizes_greedy_prompts_like_llama_cpp);
    tcase_add_test(tc, qwen2_gguf_loads_as_the_readme_describes);
    tcase_add_test(tc, cli_tokenize_takes_a_gguf_model);
    suite_add_tcase(s, tc);
    return s;
}
