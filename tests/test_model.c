/* test_model.c - the model layer: llama2.c, safetensors + config.json and GGUF loaders against the real
 * files in ../shared and files written here; conversions round-trip; bad input fails with a message. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gemcl.h"
#include "api_edge.h"
#include "harness.h"
#include "model/card.h"
#include "model/convert.h"
#include "model/genmodel.h"
#include "model/gguf.h"
#include "model/model.h"
#include "util/fileio.h"

#define STORIES "models/stories260K/stories260K.bin"

/* ---- helpers ---- */

static char *temp_dir(void) {
    char *dir = strdup("/tmp/gemcl-model-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[4096];
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (unlink(path) != 0)
                remove_tree(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

static char *read_all(const char *path, size_t *len) {
    char *data;
    gc_error err;
    ck_assert_msg(gc_file_read(path, &data, len, &err) == GC_OK, "%s", err.msg);
    return data;
}

static void write_all(const char *path, const void *data, size_t len) {
    gc_error err;
    ck_assert_msg(gc_file_write_atomic(path, data, len, &err) == GC_OK, "%s", err.msg);
}

static gc_model_file *open_ok(const char *path) {
    gc_model_file *m = NULL;
    gc_error err;
    ck_assert_msg(gc_model_file_open(path, NULL, &m, &err) == GC_OK, "%s", err.msg);
    return m;
}

/* Opening path must fail with status and a message naming the file and containing each of `needles`. */
static void open_fails(const char *path, gc_status status, const char *needle) {
    gc_model_file *m = NULL;
    gc_error err = {0};
    gc_status s = gc_model_file_open(path, NULL, &m, &err);
    ck_assert_msg(s == status, "%s: got %s (%s), want %s", path, gemcl_status_str(gc_status_public(s)), err.msg,
                  gemcl_status_str(gc_status_public(status)));
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
    if (needle)
        ck_assert_msg(strstr(err.msg, needle) != NULL, "message lacks '%s': %s", needle, err.msg);
}

static float f32_at(const char *bytes, size_t offset) {
    float v;
    memcpy(&v, bytes + offset, 4);
    return v;
}

/* Two tensors hold the same bytes and shape. */
static void assert_same_tensor(const gc_tensor *a, const gc_tensor *b) {
    ck_assert_int_eq(a->n_dims, b->n_dims);
    for (int i = 0; i < a->n_dims; i++)
        ck_assert_int_eq(a->shape[i], b->shape[i]);
    ck_assert_int_eq(a->dtype, b->dtype);
    ck_assert_uint_eq(a->nbytes, b->nbytes);
    ck_assert_msg(memcmp(a->data, b->data, a->nbytes) == 0, "%s and %s differ", a->name, b->name);
}

/* ---- llama2.c ---- */

static const struct { const char *name; uint64_t offset; } stories_table[] = {
    {"token_embedding_table", 28}, {"rms_att_weight", 131100}, {"wq", 132380},        {"wk", 214300},
    {"wv", 255260},                {"wo", 296220},             {"rms_ffn_weight", 378140}, {"w1", 379420},
    {"w2", 599580},                {"w3", 819740},             {"rms_final_weight", 1039900},
    {"freq_cis_real", 1040156},    {"freq_cis_imag", 1048348},
};
#define N_STORIES_TENSORS (sizeof stories_table / sizeof stories_table[0])

START_TEST(llama2c_stories260K_hparams_match_source_md) {
    const char *path = test_shared_path(STORIES);
    if (test_skip_if_missing(path, STORIES))
        return;
    gc_model_file *m = open_ok(path);
    const gc_hparams *hp = &m->hp;
    ck_assert_str_eq(m->format, "llama2c");
    ck_assert_str_eq(hp->arch, "llama");
    ck_assert_int_eq(hp->n_embd, 64);
    ck_assert_int_eq(hp->n_ff, 172);
    ck_assert_int_eq(hp->n_layers, 5);
    ck_assert_int_eq(hp->n_heads, 8);
    ck_assert_int_eq(hp->n_kv_heads, 4);
    ck_assert_int_eq(hp->head_dim, 8);
    ck_assert_int_eq(hp->vocab_size, 512);
    ck_assert_int_eq(hp->ctx_train, 512);
    ck_assert_float_eq(hp->norm_eps, 1e-5f);
    ck_assert_float_eq(hp->rope_theta, 10000.0f);
    ck_assert_int_eq(hp->rope_layout, GC_ROPE_ADJACENT);
    ck_assert(hp->tied_embeddings);
    ck_assert(!hp->qkv_bias);
    ck_assert_int_eq(hp->bos_id, 1);
    ck_assert_int_eq(hp->eos_id, 2);
    ck_assert_int_eq(gc_model_file_n_params(m), 260032);
    ck_assert_ptr_eq(m->lm_head.data, m->tok_embd.data);
    ck_assert_ptr_nonnull(strstr(m->tokenizer_path, "tok512.bin"));
    gc_model_file_close(m);
}
END_TEST

START_TEST(llama2c_stories260K_offsets_match_source_md) {
    const char *path = test_shared_path(STORIES);
    if (test_skip_if_missing(path, STORIES))
        return;
    gc_model_file *m = open_ok(path);
    int n;
    const gc_tensor *t = gc_model_file_tensors(m, &n);
    ck_assert_int_eq(n, (int)N_STORIES_TENSORS);
    for (size_t i = 0; i < N_STORIES_TENSORS; i++) {
        ck_assert_str_eq(t[i].name, stories_table[i].name);
        ck_assert_uint_eq(t[i].file_offset, stories_table[i].offset);
    }
    ck_assert_uint_eq(t[n - 1].file_offset + t[n - 1].nbytes, 1056540);
    /* layer views step through the stacked arrays by one layer's bytes */
    for (int l = 0; l < 5; l++) {
        ck_assert_uint_eq(m->layers[l].wq.file_offset, 132380 + (uint64_t)l * 64 * 64 * 4);
        ck_assert_uint_eq(m->layers[l].w_down.file_offset, 599580 + (uint64_t)l * 64 * 172 * 4);
        ck_assert_uint_eq(m->layers[l].attn_norm.file_offset, 131100 + (uint64_t)l * 64 * 4);
        char name[16];
        snprintf(name, sizeof name, "wk[%d]", l);
        ck_assert_str_eq(m->layers[l].wk.name, name);
        ck_assert_int_eq(m->layers[l].wk.shape[0], 32);
        ck_assert_int_eq(m->layers[l].wk.shape[1], 64);
    }
    gc_model_file_close(m);
}
END_TEST

START_TEST(llama2c_values_match_raw_reads) {
    const char *path = test_shared_path(STORIES);
    if (test_skip_if_missing(path, STORIES))
        return;
    size_t len;
    char *raw = read_all(path, &len);
    gc_model_file *m = open_ok(path);
    const gc_tensor *views[] = {&m->tok_embd, &m->out_norm, &m->layers[0].wq, &m->layers[4].w_down,
                                &m->layers[2].w_up, &m->layers[3].ffn_norm};
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
        const gc_tensor *t = views[i];
        const float *v = t->data;
        size_t n = t->nbytes / 4;
        ck_assert_float_eq(v[0], f32_at(raw, t->file_offset));
        ck_assert_float_eq(v[n - 1], f32_at(raw, t->file_offset + t->nbytes - 4));
    }
    /* w3 of the last layer ends where rms_final_weight starts */
    ck_assert_uint_eq(m->layers[4].w_up.file_offset + m->layers[4].w_up.nbytes, 1039900);
    gc_model_file_close(m);
    free(raw);
}
END_TEST

/* Writes the first `len` bytes of data to dir/name and returns the path (static buffer). */
static const char *write_prefix(const char *dir, const char *name, const char *data, size_t len) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_all(path, data, len);
    return path;
}

START_TEST(llama2c_truncated_anywhere_is_a_clear_error) {
    const char *path = test_shared_path(STORIES);
    if (test_skip_if_missing(path, STORIES))
        return;
    size_t len;
    char *raw = read_all(path, &len);
    char *dir = temp_dir();
    size_t cuts[N_STORIES_TENSORS * 2 + 8];
    size_t n_cuts = 0;
    for (size_t i = 0; i < N_STORIES_TENSORS; i++) {
        cuts[n_cuts++] = stories_table[i].offset;
        cuts[n_cuts++] = stories_table[i].offset + 1;
    }
    const size_t extra[] = {0, 3, 27, 200000, 700001, len - 4, len - 1};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        cuts[n_cuts++] = extra[i];
    for (size_t i = 0; i < n_cuts; i++) {
        const char *p = write_prefix(dir, "cut.bin", raw, cuts[i]);
        open_fails(p, GC_ERR_FORMAT, cuts[i] >= 28 ? "offset" : "header");
    }
    /* one byte too many is as wrong as one too few */
    char *longer = malloc(len + 1);
    memcpy(longer, raw, len);
    longer[len] = 0;
    open_fails(write_prefix(dir, "long.bin", longer, len + 1), GC_ERR_FORMAT, "trailing");
    free(longer);
    free(raw);
    remove_tree(dir);
    free(dir);
}
END_TEST

static void put_i32(char *p, int32_t v) {
    memcpy(p, &v, 4);
}

START_TEST(llama2c_bad_headers_are_refused) {
    const char *path = test_shared_path(STORIES);
    if (test_skip_if_missing(path, STORIES))
        return;
    size_t len;
    char *raw = read_all(path, &len);
    char *dir = temp_dir();
    const struct { int field; int32_t value; const char *needle; } cases[] = {
        {0, 0, "out of range"},         {0, -64, "out of range"},    {2, 1 << 30, "out of range"},
        {3, 7, "heads"},                {4, 3, "heads"},             {4, 16, "out of range"},
        {5, INT32_MIN, "out of range"}, {1, INT32_MAX, "out of range"}, {5, 1 << 20, "offset"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *copy = malloc(len);
        memcpy(copy, raw, len);
        put_i32(copy + 4 * cases[i].field, cases[i].value);
        open_fails(write_prefix(dir, "bad.bin", copy, len), GC_ERR_FORMAT, cases[i].needle);
        free(copy);
    }
    /* an unknown version is refused as unsupported; a v2 group size of 0 as malformed */
    char v[256] = {0};
    put_i32(v, 0x616b3432);
    put_i32(v + 4, 3);
    open_fails(write_prefix(dir, "v3.bin", v, sizeof v), GC_ERR_UNSUPPORTED, "version 3");
    put_i32(v + 4, 2);
    memcpy(v + 8, raw, 28);
    open_fails(write_prefix(dir, "v2.bin", v, sizeof v), GC_ERR_FORMAT, "group size 0");
    free(raw);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* Re-lays stories260K out as a v1 checkpoint (norms first, header padded to 256) with or without a
 * separate classifier; every exposed tensor must read back identical to the legacy file's. */
static size_t write_v1(const gc_model_file *m, const char *raw, bool shared, char **out) {
    const char *order[] = {"rms_att_weight", "rms_ffn_weight", "rms_final_weight", "token_embedding_table",
                           "wq", "wk", "wv", "wo", "w1", "w2", "w3"};
    int n;
    const gc_tensor *t = gc_model_file_tensors(m, &n);
    size_t len = 256 + m->tok_embd.nbytes * (shared ? 0 : 1);
    for (int i = 0; i < n; i++)
        if (strncmp(t[i].name, "freq_cis", 8) != 0)
            len += t[i].nbytes;
    char *buf = calloc(1, len);
    put_i32(buf, 0x616b3432);
    put_i32(buf + 4, 1);
    memcpy(buf + 8, raw, 28);
    buf[36] = shared;
    size_t pos = 256;
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
        for (int i = 0; i < n; i++)
            if (strcmp(t[i].name, order[k]) == 0) {
                memcpy(buf + pos, t[i].data, t[i].nbytes);
                pos += t[i].nbytes;
            }
    if (!shared) /* a classifier that differs from the embedding: its negation */
        for (size_t i = 0; i < m->tok_embd.nbytes / 4; i++) {
            float v = -((const float *)m->tok_embd.data)[i];
            memcpy(buf + pos + 4 * i, &v, 4);
        }
    *out = buf;
    return len;
}

static void assert_same_weights(const gc_model_file *a, const gc_model_file *b) {
    assert_same_tensor(&a->tok_embd, &b->tok_embd);
    assert_same_tensor(&a->out_norm, &b->out_norm);
    for (int l = 0; l < a->hp.n_layers; l++) {
        const gc_layer_weights *x = &a->layers[l], *y = &b->layers[l];
        const gc_tensor *xs[] = {&x->attn_norm, &x->wq, &x->wk, &x->wv, &x->wo, &x->ffn_norm, &x->w_gate,
                                 &x->w_up, &x->w_down};
        const gc_tensor *ys[] = {&y->attn_norm, &y->wq, &y->wk, &y->wv, &y->wo, &y->ffn_norm, &y->w_gate,
                                 &y->w_up, &y->w_down};
        for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++)
            assert_same_tensor(xs[i], ys[i]);
    }
}

START_TEST(llama2c_v1_and_separate_classifier_load_the_same_weights) {
    const char *path = test_shared_path(STORIES);
    if (test_skip_if_missing(path, STORIES))
        return;
    size_t len;
    char *raw = read_all(path, &len);
    gc_model_file *legacy = open_ok(path);
    char *dir = temp_dir();
    for (int shared = 0; shared <= 1; shared++) {
        char *v1;
        size_t v1_len = write_v1(legacy, raw, shared, &v1);
        gc_model_file *m = open_ok(write_prefix(dir, "v1.bin", v1, v1_len));
        assert_same_weights(legacy, m);
        ck_assert_int_eq(m->hp.tied_embeddings, shared);
        ck_assert_int_eq(m->lm_head.data == m->tok_embd.data, shared);
        if (!shared)
            ck_assert_float_eq(((const float *)m->lm_head.data)[5], -((const float *)m->tok_embd.data)[5]);
        ck_assert_str_eq(m->tokenizer_path, ""); /* no tok512.bin beside it */
        gc_model_file_close(m);
        open_fails(write_prefix(dir, "v1cut.bin", v1, v1_len - 100), GC_ERR_FORMAT, "offset");
        free(v1);
    }
    gc_model_file_close(legacy);
    free(raw);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* Appends tensor t quantized as llama2.c v2 does (int8 q, then one fp32 scale per group of gs) to buf at
 * *pos, and the dequantised values q * s to want at *wpos. */
static void put_q8(const float *x, size_t n, int gs, char *buf, size_t *pos, float *want, size_t *wpos) {
    int8_t *q = (int8_t *)(buf + *pos);
    float *scales = malloc(n / (size_t)gs * sizeof *scales);
    for (size_t g = 0; g < n / (size_t)gs; g++) {
        float amax = 0;
        for (int i = 0; i < gs; i++)
            amax = fmaxf(amax, fabsf(x[g * gs + i]));
        scales[g] = amax / 127.0f;
        for (int i = 0; i < gs; i++) {
            q[g * gs + i] = (int8_t)roundf(scales[g] ? x[g * gs + i] / scales[g] : 0);
            want[(*wpos)++] = (float)q[g * gs + i] * scales[g];
        }
    }
    memcpy(buf + *pos + n, scales, n / (size_t)gs * 4);
    *pos += n + n / (size_t)gs * 4;
    free(scales);
}

START_TEST(llama2c_v2_int8_checkpoints_dequantise_exactly) {
    const char *path = test_shared_path(STORIES);
    if (test_skip_if_missing(path, STORIES))
        return;
    size_t len;
    char *raw = read_all(path, &len);
    gc_model_file *legacy = open_ok(path);
    char *buf = calloc(1, 2 * len), *dir = temp_dir();
    float *want = calloc(len, 1);
    size_t pos = 256, wpos = 0;
    put_i32(buf, 0x616b3432), put_i32(buf + 4, 2);
    memcpy(buf + 8, raw, 28);
    buf[36] = 1;
    put_i32(buf + 37, 32);
    const char *norms[] = {"rms_att_weight", "rms_ffn_weight", "rms_final_weight"};
    for (int i = 0; i < 3; i++) {
        const gc_tensor *t = NULL;
        int n;
        const gc_tensor *all = gc_model_file_tensors(legacy, &n);
        for (int k = 0; k < n; k++)
            if (strcmp(all[k].name, norms[i]) == 0)
                t = &all[k];
        memcpy(buf + pos, t->data, t->nbytes);
        pos += t->nbytes;
    }
    put_q8(legacy->tok_embd.data, legacy->tok_embd.nbytes / 4, 32, buf, &pos, want, &wpos);
    for (int w = 0; w < 7; w++)
        for (int l = 0; l < 5; l++) {
            const gc_layer_weights *lw = &legacy->layers[l];
            const gc_tensor *mats[] = {&lw->wq, &lw->wk, &lw->wv, &lw->wo, &lw->w_gate, &lw->w_down, &lw->w_up};
            put_q8(mats[w]->data, mats[w]->nbytes / 4, 32, buf, &pos, want, &wpos);
        }
    gc_model_file *m = open_ok(write_prefix(dir, "v2.bin", buf, pos));
    ck_assert(memcmp(m->tok_embd.data, want, m->tok_embd.nbytes) == 0);
    ck_assert_ptr_eq(m->lm_head.data, m->tok_embd.data);
    size_t at = m->tok_embd.nbytes / 4;
    for (int w = 0; w < 7; w++)
        for (int l = 0; l < 5; l++) {
            const gc_layer_weights *lw = &m->layers[l];
            const gc_tensor *mats[] = {&lw->wq, &lw->wk, &lw->wv, &lw->wo, &lw->w_gate, &lw->w_down, &lw->w_up};
            ck_assert_msg(memcmp(mats[w]->data, want + at, mats[w]->nbytes) == 0, "%s", mats[w]->name);
            at += mats[w]->nbytes / 4;
        }
    assert_same_tensor(&m->layers[3].ffn_norm, &legacy->layers[3].ffn_norm);
    ck_assert_str_eq(m->layers[2].wk.name, "wk[2]");
    ck_assert_int_eq(gc_model_file_n_params(m), 260032);
    open_fails(write_prefix(dir, "v2cut.bin", buf, pos - 3), GC_ERR_FORMAT, "past the end");
    open_fails(write_prefix(dir, "v2cut.bin", buf, 256 + 1500), GC_ERR_FORMAT, "offset");
    put_i32(buf + 37, 48); /* 64 * 64 is not whole groups of 48 */
    open_fails(write_prefix(dir, "v2gs.bin", buf, pos), GC_ERR_FORMAT, "groups of 48");
    gc_model_file_close(m);
    gc_model_file_close(legacy);
    free(buf), free(want), free(raw);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(missing_model_is_an_io_error) {
    open_fails("/nonexistent/gemcl/model.bin", GC_ERR_IO, NULL);
}
END_TEST

/* ---- safetensors + config.json ---- */

/* A tiny synthetic HF checkpoint written byte by byte here (independent of gemcl's writer). Values are
 * multiples of 1/16 in [-2, 2), exact in f16 and bf16, so every dtype reads back exactly. */
typedef struct syn_tensor {
    char name[96];
    const char *dtype; /* "F32", "F16", "BF16" */
    int n_dims;
    int64_t shape[2];
} syn_tensor;

typedef struct syn_model {
    const char *arch; /* model_type */
    int E, L, H, KV, D, F, V;
    syn_tensor t[64];
    int n;
} syn_model;

static float syn_value(int tensor, int64_t j) {
    return (float)((tensor * 7 + j) % 64) / 16.0f - 2.0f;
}

static void syn_add(syn_model *s, const char *dtype, int64_t d0, int64_t d1, const char *fmt, int layer) {
    syn_tensor *t = &s->t[s->n++];
    snprintf(t->name, sizeof t->name, fmt, layer);
    t->dtype = dtype;
    t->n_dims = d1 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1;
}

/* The tensors of a model of arch ("llama", "qwen2", "phi3"), dtypes cycling F32, F16, BF16. */
static void syn_build(syn_model *s, const char *arch) {
    *s = (syn_model){.arch = arch, .E = 8, .L = 2, .H = 2, .KV = 1, .D = 4, .F = 12, .V = 16};
    const char *dt[] = {"F32", "F16", "BF16"};
    int k = 0;
    int64_t q = s->H * s->D, kv = s->KV * s->D;
    syn_add(s, dt[k++ % 3], s->V, s->E, "model.embed_tokens.weight", 0);
    for (int l = 0; l < s->L; l++) {
        syn_add(s, dt[k++ % 3], s->E, 0, "model.layers.%d.input_layernorm.weight", l);
        if (strcmp(arch, "phi3") == 0) {
            syn_add(s, dt[k++ % 3], q + 2 * kv, s->E, "model.layers.%d.self_attn.qkv_proj.weight", l);
            syn_add(s, dt[k++ % 3], 2 * s->F, s->E, "model.layers.%d.mlp.gate_up_proj.weight", l);
        } else {
            syn_add(s, dt[k++ % 3], q, s->E, "model.layers.%d.self_attn.q_proj.weight", l);
            syn_add(s, dt[k++ % 3], kv, s->E, "model.layers.%d.self_attn.k_proj.weight", l);
            syn_add(s, dt[k++ % 3], kv, s->E, "model.layers.%d.self_attn.v_proj.weight", l);
            syn_add(s, dt[k++ % 3], s->F, s->E, "model.layers.%d.mlp.gate_proj.weight", l);
            syn_add(s, dt[k++ % 3], s->F, s->E, "model.layers.%d.mlp.up_proj.weight", l);
        }
        if (strcmp(arch, "qwen2") == 0) {
            syn_add(s, dt[k++ % 3], q, 0, "model.layers.%d.self_attn.q_proj.bias", l);
            syn_add(s, dt[k++ % 3], kv, 0, "model.layers.%d.self_attn.k_proj.bias", l);
            syn_add(s, dt[k++ % 3], kv, 0, "model.layers.%d.self_attn.v_proj.bias", l);
        }
        syn_add(s, dt[k++ % 3], s->E, q, "model.layers.%d.self_attn.o_proj.weight", l);
        syn_add(s, dt[k++ % 3], s->E, 0, "model.layers.%d.post_attention_layernorm.weight", l);
        syn_add(s, dt[k++ % 3], s->E, s->F, "model.layers.%d.mlp.down_proj.weight", l);
    }
    syn_add(s, dt[k++ % 3], s->E, 0, "model.norm.weight", 0);
}

static int64_t syn_elems(const syn_tensor *t) {
    return t->shape[0] * (t->n_dims == 2 ? t->shape[1] : 1);
}

static size_t syn_esize(const char *dtype) {
    return strcmp(dtype, "F32") == 0 ? 4 : 2;
}

static void syn_encode(const char *dtype, float v, unsigned char *out) {
    uint16_t h = strcmp(dtype, "F16") == 0 ? gc_f32_to_f16(v) : gc_f32_to_bf16(v);
    if (strcmp(dtype, "F32") == 0)
        memcpy(out, &v, 4);
    else
        memcpy(out, &h, 2);
}

/* Serialises the model: *out is 8-byte length, header, data. */
static size_t syn_safetensors(const syn_model *s, unsigned char **out) {
    char *hdr = calloc(1, 16384);
    size_t pos = 0, data_len = 0;
    strcpy(hdr, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < s->n; i++) {
        const syn_tensor *t = &s->t[i];
        size_t nb = (size_t)syn_elems(t) * syn_esize(t->dtype);
        char shape[64];
        if (t->n_dims == 2)
            snprintf(shape, sizeof shape, "%" PRId64 ",%" PRId64, t->shape[0], t->shape[1]);
        else
            snprintf(shape, sizeof shape, "%" PRId64, t->shape[0]);
        snprintf(hdr + strlen(hdr), 16384 - strlen(hdr), ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%s],\"data_offsets\":[%zu,%zu]}",
                 t->name, t->dtype, shape, data_len, data_len + nb);
        data_len += nb;
    }
    strcat(hdr, "}");
    uint64_t hlen = strlen(hdr);
    unsigned char *buf = malloc(8 + hlen + data_len);
    memcpy(buf, &hlen, 8);
    memcpy(buf + 8, hdr, hlen);
    pos = 8 + hlen;
    for (int i = 0; i < s->n; i++)
        for (int64_t j = 0; j < syn_elems(&s->t[i]); j++, pos += syn_esize(s->t[i].dtype))
            syn_encode(s->t[i].dtype, syn_value(i, j), buf + pos);
    free(hdr);
    *out = buf;
    return pos;
}

static void syn_config(const syn_model *s, const char *dir, const char *extra) {
    char path[4096], text[2048];
    snprintf(text, sizeof text,
             "{\"model_type\":\"%s\",\"hidden_size\":%d,\"num_hidden_layers\":%d,\"num_attention_heads\":%d,"
             "\"num_key_value_heads\":%d,\"head_dim\":%d,\"intermediate_size\":%d,\"vocab_size\":%d,"
             "\"rms_norm_eps\":1e-6,\"rope_theta\":500000.0,\"max_position_embeddings\":4096,"
             "\"tie_word_embeddings\":true%s}",
             s->arch, s->E, s->L, s->H, s->KV, s->D, s->F, s->V, extra ? extra : "");
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_all(path, text, strlen(text));
}

/* Writes config.json (with extra JSON members) and model.safetensors for s into a new temp dir. */
static char *syn_write(const syn_model *s, const char *extra) {
    char *dir = temp_dir(), path[4096];
    unsigned char *st;
    size_t len = syn_safetensors(s, &st);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_all(path, st, len);
    free(st);
    syn_config(s, dir, extra);
    return dir;
}

static float tensor_value(const gc_tensor *t, int64_t j) {
    const unsigned char *p = t->data;
    uint16_t h;
    float f;
    switch (t->dtype) {
    case GC_DTYPE_F32: memcpy(&f, p + 4 * j, 4); return f;
    case GC_DTYPE_F16: memcpy(&h, p + 2 * j, 2); return gc_f16_to_f32(h);
    case GC_DTYPE_BF16: memcpy(&h, p + 2 * j, 2); return gc_bf16_to_f32(h);
    default: ck_abort_msg("unexpected dtype"); return 0;
    }
}

/* view holds elements [first, first + n) of synthetic tensor `name`. */
static void assert_view_values(const syn_model *s, const char *name, int64_t first, const gc_tensor *view) {
    int i = 0;
    while (i < s->n && strcmp(s->t[i].name, name) != 0)
        i++;
    ck_assert_msg(i < s->n, "no synthetic tensor %s", name);
    ck_assert_ptr_nonnull(view->data);
    int64_t n = gc_tensor_n_elements(view);
    for (int64_t j = 0; j < n; j++)
        ck_assert_msg(tensor_value(view, j) == syn_value(i, first + j), "%s[%" PRId64 "]", view->name, j);
}

START_TEST(hf_f32_f16_bf16_tensors_load_with_their_values) {
    syn_model s;
    syn_build(&s, "llama");
    char *dir = syn_write(&s, ",\"bos_token_id\":[7,8],\"eos_token_id\":9,\"rope_scaling\":{\"rope_type\":\"llama3\","
                              "\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
                              "\"original_max_position_embeddings\":8192}");
    gc_model_file *m = open_ok(dir);
    ck_assert_str_eq(m->format, "safetensors");
    ck_assert_str_eq(m->hp.arch, "llama");
    ck_assert_int_eq(m->hp.rope_layout, GC_ROPE_HALF);
    ck_assert_int_eq(m->hp.head_dim, 4);
    ck_assert_int_eq(m->hp.ctx_train, 4096);
    ck_assert_float_eq(m->hp.rope_theta, 500000.0f);
    ck_assert_float_eq(m->hp.norm_eps, 1e-6f);
    ck_assert_int_eq(m->hp.bos_id, 7);
    ck_assert_int_eq(m->hp.eos_id, 9);
    ck_assert_int_eq(m->hp.rope_scaling.type, GC_ROPE_SCALING_LLAMA3);
    ck_assert_float_eq(m->hp.rope_scaling.factor, 8.0f);
    ck_assert_int_eq(m->hp.rope_scaling.original_max_position, 8192);
    ck_assert(m->hp.tied_embeddings);
    ck_assert_ptr_eq(m->lm_head.data, m->tok_embd.data);
    ck_assert_int_eq(m->tok_embd.dtype, GC_DTYPE_F32);
    ck_assert_int_eq(m->layers[0].attn_norm.dtype, GC_DTYPE_F16);
    ck_assert_int_eq(m->layers[0].wq.dtype, GC_DTYPE_BF16);
    assert_view_values(&s, "model.embed_tokens.weight", 0, &m->tok_embd);
    assert_view_values(&s, "model.norm.weight", 0, &m->out_norm);
    assert_view_values(&s, "model.layers.1.self_attn.k_proj.weight", 0, &m->layers[1].wk);
    assert_view_values(&s, "model.layers.1.mlp.down_proj.weight", 0, &m->layers[1].w_down);
    assert_view_values(&s, "model.layers.0.mlp.up_proj.weight", 0, &m->layers[0].w_up);
    ck_assert_ptr_null(m->layers[0].bq.data);
    gc_model_file_close(m);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(hf_qwen2_biases_are_loaded) {
    syn_model s;
    syn_build(&s, "qwen2");
    char *dir = syn_write(&s, NULL);
    gc_model_file *m = open_ok(dir);
    ck_assert(m->hp.qkv_bias);
    assert_view_values(&s, "model.layers.0.self_attn.q_proj.bias", 0, &m->layers[0].bq);
    assert_view_values(&s, "model.layers.1.self_attn.k_proj.bias", 0, &m->layers[1].bk);
    assert_view_values(&s, "model.layers.1.self_attn.v_proj.bias", 0, &m->layers[1].bv);
    gc_model_file_close(m);
    remove_tree(dir);
    free(dir);
    /* a Qwen2 checkpoint without its biases is refused, naming the layer and tensor */
    syn_build(&s, "llama");
    s.arch = "qwen2";
    dir = syn_write(&s, NULL);
    open_fails(dir, GC_ERR_FORMAT, "layer 0: tensor 'bq' is missing");
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(hf_phi3_fused_tensors_split_into_views) {
    syn_model s;
    syn_build(&s, "phi3");
    char *dir = syn_write(&s, NULL);
    gc_model_file *m = open_ok(dir);
    int64_t E = s.E, q = s.H * s.D, kv = s.KV * s.D, F = s.F;
    for (int l = 0; l < s.L; l++) {
        char qkv[96], gu[96];
        snprintf(qkv, sizeof qkv, "model.layers.%d.self_attn.qkv_proj.weight", l);
        snprintf(gu, sizeof gu, "model.layers.%d.mlp.gate_up_proj.weight", l);
        const gc_layer_weights *w = &m->layers[l];
        ck_assert_int_eq(w->wq.shape[0], q);
        ck_assert_int_eq(w->wk.shape[0], kv);
        ck_assert_int_eq(w->wv.shape[0], kv);
        ck_assert_int_eq(w->w_gate.shape[0], F);
        ck_assert_int_eq(w->w_up.shape[1], E);
        assert_view_values(&s, qkv, 0, &w->wq);
        assert_view_values(&s, qkv, q * E, &w->wk);
        assert_view_values(&s, qkv, (q + kv) * E, &w->wv);
        assert_view_values(&s, gu, 0, &w->w_gate);
        assert_view_values(&s, gu, F * E, &w->w_up);
        ck_assert_uint_eq(w->wk.file_offset, w->wq.file_offset + w->wq.nbytes);
    }
    gc_model_file_close(m);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(hf_sharded_index_loads_every_shard) {
    syn_model s, a, b;
    syn_build(&s, "llama");
    a = s, b = s;
    a.n = s.n / 2; /* first half in shard 1, the rest in shard 2 */
    memmove(b.t, s.t + a.n, (size_t)(s.n - a.n) * sizeof s.t[0]);
    b.n = s.n - a.n;
    char *dir = temp_dir(), path[4096], index[16384] = "{\"metadata\":{},\"weight_map\":{";
    const syn_model *shards[] = {&a, &b};
    for (int k = 0; k < 2; k++) {
        unsigned char *st;
        size_t len = syn_safetensors(shards[k], &st);
        snprintf(path, sizeof path, "%s/model-0000%d-of-00002.safetensors", dir, k + 1);
        write_all(path, st, len);
        free(st);
        for (int i = 0; i < shards[k]->n; i++)
            snprintf(index + strlen(index), sizeof index - strlen(index), "%s\"%s\":\"model-0000%d-of-00002.safetensors\"",
                     k + i ? "," : "", shards[k]->t[i].name, k + 1);
    }
    strcat(index, "}}");
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    write_all(path, index, strlen(index));
    syn_config(&s, dir, NULL);
    gc_model_file *m = open_ok(dir);
    int n;
    gc_model_file_tensors(m, &n);
    ck_assert_int_eq(n, s.n);
    ck_assert_ptr_nonnull(m->layers[1].w_down.data);
    gc_model_file_close(m);
    /* an index naming a file outside the directory is refused */
    const char *evil = "{\"weight_map\":{\"model.norm.weight\":\"../x.safetensors\"}}";
    write_all(path, evil, strlen(evil));
    open_fails(dir, GC_ERR_FORMAT, "weight_map");
    remove_tree(dir);
    free(dir);
}
END_TEST

/* Writes data as dir/model.safetensors (config from s) and checks the open fails with status and needle. */
static void st_variant_fails(const syn_model *s, const void *data, size_t len, gc_status status, const char *needle) {
    char *dir = temp_dir(), path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_all(path, data, len);
    syn_config(s, dir, NULL);
    open_fails(dir, status, needle);
    remove_tree(dir);
    free(dir);
}

/* Replaces the first occurrence of from with to (same length) in a copy of buf. */
static unsigned char *patched(const unsigned char *buf, size_t len, const char *from, const char *to) {
    unsigned char *copy = malloc(len);
    memcpy(copy, buf, len);
    unsigned char *at = memmem(copy, len, from, strlen(from));
    ck_assert_msg(at != NULL, "'%s' not in the header", from);
    ck_assert_uint_eq(strlen(from), strlen(to));
    memcpy(at, to, strlen(to));
    return copy;
}

START_TEST(hf_bad_safetensors_are_clear_errors) {
    syn_model s;
    syn_build(&s, "llama");
    unsigned char *st;
    size_t len = syn_safetensors(&s, &st);
    uint64_t hlen;
    memcpy(&hlen, st, 8);
    /* truncated at every tensor boundary, inside the header, and a byte short */
    size_t cuts[] = {0, 4, 8, 9, (size_t)hlen / 2, (size_t)hlen + 7, (size_t)hlen + 8, (size_t)hlen + 9, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        st_variant_fails(&s, st, cuts[i], GC_ERR_FORMAT, NULL);
    size_t boundary = 8 + (size_t)hlen;
    for (int i = 0; i < s.n; i++) {
        boundary += (size_t)syn_elems(&s.t[i]) * syn_esize(s.t[i].dtype);
        if (boundary < len)
            st_variant_fails(&s, st, boundary, GC_ERR_FORMAT, "past the end");
    }
    /* header length past the end */
    unsigned char *bad = malloc(len);
    memcpy(bad, st, len);
    uint64_t huge = (uint64_t)1 << 62;
    memcpy(bad, &huge, 8);
    st_variant_fails(&s, bad, len, GC_ERR_FORMAT, "header length");
    free(bad);
    /* unknown dtype, overlapping and out-of-bounds offsets, shape vs config, invalid JSON */
    struct {
        const char *from, *to;
        gc_status status;
        const char *needle;
    } cases[] = {
        {"\"dtype\":\"F32\"", "\"dtype\":\"I32\"", GC_ERR_UNSUPPORTED, "unknown dtype 'I32'"},
        {"\"data_offsets\":[0,512]", "\"data_offsets\":[4,516]", GC_ERR_FORMAT, "overlaps"},
        {"\"data_offsets\":[0,512]", "\"data_offsets\":[0,999]", GC_ERR_FORMAT, "bytes stored"},
        {"\"data_offsets\":[0,512]", "\"data_offsets\":[0,9e9]", GC_ERR_FORMAT, "bytes stored"},
        {"\"data_offsets\":[0,512]", "\"data_offsets\":[0,-10]", GC_ERR_FORMAT, "data_offsets"},
        {"\"shape\":[16,8]", "\"shape\":[16,4]", GC_ERR_FORMAT, "bytes stored"},
        {"\"shape\":[16,8]", "\"shape\":[-1,8]", GC_ERR_FORMAT, "shape"},
        {"{\"__metadata__\"", "[\"__metadata__\"", GC_ERR_FORMAT, "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char *p = patched(st, len, cases[i].from, cases[i].to);
        st_variant_fails(&s, p, len, cases[i].status, cases[i].needle);
        free(p);
    }
    /* a tensor whose shape disagrees with config.json is named with its offset */
    syn_model wrong = s;
    wrong.F = 10;
    char *dir = temp_dir(), path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_all(path, st, len);
    syn_config(&wrong, dir, NULL);
    open_fails(dir, GC_ERR_FORMAT, "model.layers.0.mlp.gate_proj.weight' at offset");
    free(st);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(hf_bad_config_json_is_a_clear_error) {
    syn_model s;
    syn_build(&s, "llama");
    char *dir = syn_write(&s, NULL), path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    const struct {
        const char *text;
        gc_status status;
        const char *needle;
    } cases[] = {
        {"{\"model_type\": \"llama\", ", GC_ERR_FORMAT, "invalid JSON at byte"},
        {"[1,2]", GC_ERR_FORMAT, "not a JSON object"},
        {"{\"model_type\":\"gpt2\"}", GC_ERR_UNSUPPORTED, "gpt2"},
        {"{\"model_type\":\"llama\",\"num_hidden_layers\":2}", GC_ERR_FORMAT, "'hidden_size' is missing"},
        {"{\"model_type\":\"llama\",\"hidden_size\":\"8\"}", GC_ERR_FORMAT, "'hidden_size' must be an integer"},
        {"{\"model_type\":\"llama\",\"hidden_size\":8.5}", GC_ERR_FORMAT, "'hidden_size'"},
        {"{\"model_type\":\"llama\",\"hidden_size\":8,\"num_hidden_layers\":2,\"num_attention_heads\":2,"
         "\"intermediate_size\":12,\"vocab_size\":16,\"rope_scaling\":{\"type\":\"yarn\"}}",
         GC_ERR_UNSUPPORTED, "yarn"},
        {"{\"model_type\":\"llama\",\"hidden_size\":8,\"num_hidden_layers\":2,\"num_attention_heads\":3,"
         "\"num_key_value_heads\":2,\"intermediate_size\":12,\"vocab_size\":16}",
         GC_ERR_FORMAT, "KV groups"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_all(path, cases[i].text, strlen(cases[i].text));
        open_fails(dir, cases[i].status, cases[i].needle);
    }
    unlink(path);
    open_fails(dir, GC_ERR_IO, "config.json");
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- GGUF ---- */

static gc_gguf *parse_gguf(const char *path, gc_mapped_file *map) {
    gc_gguf *g = NULL;
    gc_error err;
    ck_assert_msg(gc_file_map(path, map, &err) == GC_OK, "%s", err.msg);
    ck_assert_msg(gc_gguf_parse(path, map->data, map->size, &g, &err) == GC_OK, "%s", err.msg);
    return g;
}

static bool gguf_str_is(const gc_gguf *g, const char *key, const char *want) {
    gc_gguf_str v;
    return gc_gguf_get_str(g, key, &v) && v.len == strlen(want) && memcmp(v.data, want, v.len) == 0;
}

START_TEST(gguf_vocab_files_open_as_metadata_only) {
    const struct { const char *rel; uint64_t n_kv; uint64_t n_tokens; int64_t eos; } files[] = {
        {"models/ggml-vocab/ggml-vocab-llama-spm.gguf", 22, 32000, 2},
        {"models/ggml-vocab/ggml-vocab-phi-3.gguf", 26, 32064, 32000},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        const char *path = test_shared_path(files[i].rel);
        if (test_skip_if_missing(path, files[i].rel))
            continue;
        gc_mapped_file map;
        gc_gguf *g = parse_gguf(path, &map);
        ck_assert_uint_eq(g->version, 3);
        ck_assert_uint_eq(g->n_tensors, 0);
        ck_assert_uint_eq(g->n_kv, files[i].n_kv);
        ck_assert(gguf_str_is(g, "tokenizer.ggml.model", "llama"));
        gc_gguf_type et;
        uint64_t n;
        ck_assert(gc_gguf_get_array(g, "tokenizer.ggml.tokens", &et, &n));
        ck_assert_int_eq(et, GC_GGUF_STRING);
        ck_assert_uint_eq(n, files[i].n_tokens);
        ck_assert(gc_gguf_get_array(g, "tokenizer.ggml.scores", &et, &n));
        ck_assert_int_eq(et, GC_GGUF_F32);
        ck_assert_uint_eq(n, files[i].n_tokens);
        int64_t eos;
        ck_assert(gc_gguf_get_int(g, "tokenizer.ggml.eos_token_id", &eos));
        ck_assert_int_eq(eos, files[i].eos);
        const char **strs;
        size_t *lens;
        ck_assert_int_eq(gc_gguf_array_strings(gc_gguf_find(g, "tokenizer.ggml.tokens"), &strs, &lens, NULL), GC_OK);
        ck_assert_uint_eq(lens[1], 3);
        ck_assert(memcmp(strs[1], "<s>", 3) == 0);
        free(strs);
        free(lens);
        gc_gguf_free(g);
        gc_file_unmap(&map);
        open_fails(path, GC_ERR_FORMAT, "no tensors");
    }
}
END_TEST

/* ---- conversion ---- */

/* Converts the model at src_path to out and reopens it. */
static gc_model_file *convert_and_open(const char *src_path, const char *out, gc_convert_to to, gc_dtype dtype) {
    gc_model_file *src = open_ok(src_path);
    gc_error err;
    ck_assert_msg(gc_model_convert(src, out, to, dtype, &err) == GC_OK, "%s", err.msg);
    gc_model_file_close(src);
    return open_ok(out);
}

/* b's q/k rows are a's after the RoPE re-layout (every other tensor must be bit-identical). */
static void assert_permuted(const gc_tensor *a, const gc_tensor *b, int head_dim, gc_rope_layout from,
                            gc_rope_layout to) {
    ck_assert_int_eq(a->shape[0], b->shape[0]);
    size_t row_bytes = a->nbytes / (size_t)a->shape[0];
    for (int64_t r = 0; r < b->shape[0]; r++) {
        int64_t src = gc_rope_source_row(r, head_dim, from, to);
        ck_assert_msg(memcmp((const char *)b->data + r * row_bytes, (const char *)a->data + src * row_bytes, row_bytes) == 0,
                      "%s row %" PRId64, b->name, r);
    }
}

START_TEST(rope_permutation_is_a_bijection_and_its_own_inverse) {
    /* d = 8: adjacent pairs (0,1) (2,3) (4,5) (6,7) -> halves: output rows 0..3 = 0,2,4,6; 4..7 = 1,3,5,7 */
    const int64_t want[8] = {0, 2, 4, 6, 1, 3, 5, 7};
    for (int64_t r = 0; r < 8; r++) {
        ck_assert_int_eq(gc_rope_source_row(r, 8, GC_ROPE_ADJACENT, GC_ROPE_HALF), want[r]);
        ck_assert_int_eq(gc_rope_source_row(r + 16, 8, GC_ROPE_ADJACENT, GC_ROPE_HALF), want[r] + 16);
        int64_t back = gc_rope_source_row(gc_rope_source_row(r, 8, GC_ROPE_HALF, GC_ROPE_ADJACENT), 8,
                                          GC_ROPE_ADJACENT, GC_ROPE_HALF);
        ck_assert_int_eq(back, r);
    }
}
END_TEST

static void assert_converted(const gc_model_file *a, const gc_model_file *b) {
    assert_same_tensor(&a->tok_embd, &b->tok_embd);
    assert_same_tensor(&a->out_norm, &b->out_norm);
    for (int l = 0; l < a->hp.n_layers; l++) {
        const gc_layer_weights *x = &a->layers[l], *y = &b->layers[l];
        const gc_tensor *xs[] = {&x->attn_norm, &x->wv, &x->wo, &x->ffn_norm, &x->w_gate, &x->w_up, &x->w_down};
        const gc_tensor *ys[] = {&y->attn_norm, &y->wv, &y->wo, &y->ffn_norm, &y->w_gate, &y->w_up, &y->w_down};
        for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++)
            assert_same_tensor(xs[i], ys[i]);
        assert_permuted(&x->wq, &y->wq, a->hp.head_dim, a->hp.rope_layout, b->hp.rope_layout);
        assert_permuted(&x->wk, &y->wk, a->hp.head_dim, a->hp.rope_layout, b->hp.rope_layout);
    }
}

START_TEST(convert_llama2c_to_hf_and_gguf_round_trips_bit_exact) {
    const char *path = test_shared_path(STORIES);
    if (test_skip_if_missing(path, STORIES))
        return;
    char *dir = temp_dir(), hf[4096], gguf[4096], gguf2[4096];
    snprintf(hf, sizeof hf, "%s/hf", dir);
    snprintf(gguf, sizeof gguf, "%s/m.gguf", dir);
    snprintf(gguf2, sizeof gguf2, "%s/from-hf.gguf", dir);
    gc_model_file *orig = open_ok(path);
    gc_model_file *h = convert_and_open(path, hf, GC_CONVERT_HF, GC_DTYPE_F32);
    ck_assert_int_eq(h->hp.rope_layout, GC_ROPE_HALF);
    ck_assert_int_eq(h->hp.vocab_size, 512);
    ck_assert(h->hp.tied_embeddings);
    ck_assert_ptr_nonnull(strstr(h->tokenizer_path, "/hf/tokenizer.bin"));
    assert_converted(orig, h);
    gc_model_file *g = convert_and_open(path, gguf, GC_CONVERT_GGUF, GC_DTYPE_F32);
    ck_assert_str_eq(g->format, "gguf");
    ck_assert_int_eq(g->hp.rope_layout, GC_ROPE_ADJACENT);
    ck_assert_int_eq(g->hp.n_kv_heads, 4);
    ck_assert_float_eq(g->hp.norm_eps, 1e-5f);
    ck_assert_int_eq(g->hp.ctx_train, 512);
    ck_assert_str_eq(g->tokenizer_path, gguf);
    assert_converted(orig, g);
    /* HF (HALF) -> GGUF un-permutes: identical to the original again */
    gc_model_file *g2 = convert_and_open(hf, gguf2, GC_CONVERT_GGUF, GC_DTYPE_F32);
    assert_converted(orig, g2);
    ck_assert_int_eq(gc_model_file_n_params(g2), 260032);
    gc_model_file_close(orig), gc_model_file_close(h), gc_model_file_close(g), gc_model_file_close(g2);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(convert_gguf_carries_the_llama2c_vocabulary) {
    const char *path = test_shared_path(STORIES);
    if (test_skip_if_missing(path, STORIES))
        return;
    char *dir = temp_dir(), out[4096];
    snprintf(out, sizeof out, "%s/m.gguf", dir);
    gc_model_file *m = convert_and_open(path, out, GC_CONVERT_GGUF, GC_DTYPE_F32);
    gc_mapped_file map;
    gc_gguf *g = parse_gguf(out, &map);
    ck_assert(gguf_str_is(g, "tokenizer.ggml.model", "llama"));
    ck_assert(gguf_str_is(g, "general.architecture", "llama"));
    const char **strs;
    size_t *lens;
    ck_assert_int_eq(gc_gguf_array_strings(gc_gguf_find(g, "tokenizer.ggml.tokens"), &strs, &lens, NULL), GC_OK);
    ck_assert_uint_eq(gc_gguf_find(g, "tokenizer.ggml.tokens")->n, 512);
    ck_assert(lens[1] == 3 && memcmp(strs[1], "<s>", 3) == 0);
    ck_assert(lens[3] == 6 && memcmp(strs[3], "<0x00>", 6) == 0);
    ck_assert(lens[259] == 4 && memcmp(strs[259], "\xe2\x96\x81t", 4) == 0); /* " t" */
    const gc_gguf_kv *types = gc_gguf_find(g, "tokenizer.ggml.token_type");
    int32_t t0, t1, t3, t259;
    memcpy(&t0, types->value, 4), memcpy(&t1, types->value + 4, 4), memcpy(&t3, types->value + 12, 4);
    memcpy(&t259, types->value + 259 * 4, 4);
    ck_assert(t0 == 2 && t1 == 3 && t3 == 6 && t259 == 1);
    free(strs), free(lens);
    gc_gguf_free(g);
    gc_file_unmap(&map);
    gc_model_file_close(m);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* Every value of b is a's rounded to f16 (1-D tensors stay f32 and are exact). */
static void assert_f16_of(const gc_tensor *a, const gc_tensor *b) {
    int64_t n = gc_tensor_n_elements(a);
    ck_assert_int_eq(n, gc_tensor_n_elements(b));
    float *x = malloc((size_t)n * 4), *y = malloc((size_t)n * 4);
    gc_decode_f32(a, 0, (size_t)n, x);
    gc_decode_f32(b, 0, (size_t)n, y);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(y[i] == gc_f16_to_f32(gc_f32_to_f16(x[i])), "%s[%" PRId64 "]: %g vs %g", b->name, i, y[i], x[i]);
    free(x), free(y);
}

/* Q8_0 values lie within half a quantisation step (amax / 254) of the source in each 32-block, plus the
 * f16 rounding of the block scale (at most 127 steps of relative 2^-11). */
static void assert_q8_of(const gc_tensor *a, const gc_tensor *b) {
    int64_t n = gc_tensor_n_elements(a);
    float *x = malloc((size_t)n * 4), *y = malloc((size_t)n * 4);
    gc_decode_f32(a, 0, (size_t)n, x);
    gc_decode_f32(b, 0, (size_t)n, y);
    for (int64_t blk = 0; blk < n / 32; blk++) {
        float amax = 0;
        for (int i = 0; i < 32; i++)
            amax = fmaxf(amax, fabsf(x[blk * 32 + i]));
        for (int i = 0; i < 32; i++)
            ck_assert_msg(fabsf(y[blk * 32 + i] - x[blk * 32 + i]) <= amax * (1.0f / 254.0f + 1.0f / 2048.0f) + 1e-7f, "%s", b->name);
    }
    free(x), free(y);
}

START_TEST(convert_gguf_f16_and_q8_0_reload_within_rounding) {
    const char *path = test_shared_path(STORIES);
    if (test_skip_if_missing(path, STORIES))
        return;
    char *dir = temp_dir(), out[4096];
    gc_model_file *orig = open_ok(path);
    snprintf(out, sizeof out, "%s/f16.gguf", dir);
    gc_model_file *h = convert_and_open(path, out, GC_CONVERT_GGUF, GC_DTYPE_F16);
    ck_assert_int_eq(h->layers[0].wq.dtype, GC_DTYPE_F16);
    ck_assert_int_eq(h->layers[0].attn_norm.dtype, GC_DTYPE_F32);
    assert_f16_of(&orig->tok_embd, &h->tok_embd);
    assert_f16_of(&orig->layers[2].w_down, &h->layers[2].w_down);
    assert_same_tensor(&orig->layers[2].ffn_norm, &h->layers[2].ffn_norm);
    gc_model_file_close(h);
    snprintf(out, sizeof out, "%s/q8.gguf", dir);
    gc_model_file *q = convert_and_open(path, out, GC_CONVERT_GGUF, GC_DTYPE_Q8_0);
    ck_assert_int_eq(q->layers[0].wq.dtype, GC_DTYPE_Q8_0);
    ck_assert_int_eq(q->layers[0].w_down.dtype, GC_DTYPE_F16); /* rows of 172 are not whole q8_0 blocks */
    assert_q8_of(&orig->layers[1].wk, &q->layers[1].wk);
    assert_q8_of(&orig->tok_embd, &q->tok_embd);
    gc_model_file_close(q);
    gc_model_file_close(orig);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(convert_refuses_what_the_target_cannot_hold) {
    const char *path = test_shared_path(STORIES);
    if (test_skip_if_missing(path, STORIES))
        return;
    gc_model_file *m = open_ok(path);
    gc_error err;
    ck_assert_int_eq(gc_model_convert(m, "/tmp/never-written", GC_CONVERT_HF, GC_DTYPE_Q8_0, &err), GC_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "q8_0"));
    gc_model_file_close(m);
}
END_TEST

/* A qwen2 model's GGUF is arch qwen2 with its biases and HF's RoPE halves, as llama.cpp's qwen2 reads it. */
START_TEST(convert_qwen2_to_gguf_keeps_biases_and_halves) {
    syn_model s;
    syn_build(&s, "qwen2");
    char *dir = syn_write(&s, NULL), out[4096];
    snprintf(out, sizeof out, "%s/q.gguf", dir);
    gc_model_file *orig = open_ok(dir);
    gc_model_file *g = convert_and_open(dir, out, GC_CONVERT_GGUF, GC_DTYPE_F32);
    ck_assert_str_eq(g->format, "gguf");
    ck_assert_str_eq(g->hp.arch, "qwen2");
    ck_assert(g->hp.qkv_bias);
    ck_assert_int_eq(g->hp.rope_layout, GC_ROPE_HALF);
    ck_assert_int_eq(g->hp.n_kv_heads, orig->hp.n_kv_heads);
    ck_assert_float_eq(g->hp.rope_theta, orig->hp.rope_theta);
    for (int l = 0; l < s.L; l++) {
        assert_f16_of(&orig->layers[l].wq, &g->layers[l].wq); /* same rows: no permutation between halves */
        assert_f16_of(&orig->layers[l].wk, &g->layers[l].wk);
        assert_f16_of(&orig->layers[l].bq, &g->layers[l].bq);
        assert_f16_of(&orig->layers[l].bk, &g->layers[l].bk);
        assert_f16_of(&orig->layers[l].bv, &g->layers[l].bv);
        char name[32];
        snprintf(name, sizeof name, "blk.%d.attn_v.bias", l);
        ck_assert_str_eq(g->layers[l].bv.name, name);
    }
    gc_model_file_close(orig);
    gc_model_file_close(g);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(convert_hf_to_hf_keeps_qwen2_biases_and_phi3_splits) {
    const char *archs[] = {"qwen2", "phi3"};
    for (int a = 0; a < 2; a++) {
        syn_model s;
        syn_build(&s, archs[a]);
        char *dir = syn_write(&s, NULL), out[4096];
        snprintf(out, sizeof out, "%s/out", dir);
        gc_model_file *orig = open_ok(dir);
        gc_model_file *m = convert_and_open(dir, out, GC_CONVERT_HF, GC_DTYPE_F32);
        ck_assert_int_eq(m->hp.qkv_bias, a == 0);
        ck_assert_str_eq(m->hp.arch, archs[a]);
        for (int l = 0; l < s.L; l++) {
            assert_f16_of(&orig->layers[l].wq, &m->layers[l].wq); /* f16/bf16 values are exact in f32 */
            assert_f16_of(&orig->layers[l].w_up, &m->layers[l].w_up);
            if (a == 0)
                assert_f16_of(&orig->layers[l].bk, &m->layers[l].bk);
        }
        gc_model_file_close(orig);
        gc_model_file_close(m);
        remove_tree(dir);
        free(dir);
    }
}
END_TEST

/* Writes a patched copy of the GGUF at path (u64 or u32 at offset) and checks the open fails. */
static void gguf_patch_fails(const char *dir, const char *raw, size_t len, size_t offset, const void *value,
                             size_t vlen, gc_status status, const char *needle) {
    char *copy = malloc(len);
    memcpy(copy, raw, len);
    memcpy(copy + offset, value, vlen);
    open_fails(write_prefix(dir, "bad.gguf", copy, len), status, needle);
    free(copy);
}

START_TEST(gguf_bad_input_is_a_clear_error) {
    const char *path = test_shared_path(STORIES);
    if (test_skip_if_missing(path, STORIES))
        return;
    char *dir = temp_dir(), out[4096];
    snprintf(out, sizeof out, "%s/m.gguf", dir);
    gc_model_file_close(convert_and_open(path, out, GC_CONVERT_GGUF, GC_DTYPE_F32));
    size_t len;
    char *raw = read_all(out, &len);
    gc_mapped_file map;
    gc_gguf *g = parse_gguf(out, &map);
    /* truncation at every section boundary: header fields, each key/value, tensor infos, data, each tensor */
    for (size_t cut = 0; cut <= 24; cut += 4)
        open_fails(write_prefix(dir, "cut.gguf", raw, cut), GC_ERR_FORMAT, NULL);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        open_fails(write_prefix(dir, "cut.gguf", raw, g->kv[i].value_offset), GC_ERR_FORMAT, "offset");
        open_fails(write_prefix(dir, "cut.gguf", raw, g->kv[i].value_offset + 1), GC_ERR_FORMAT, "offset");
    }
    open_fails(write_prefix(dir, "cut.gguf", raw, g->data_offset - 1), GC_ERR_FORMAT, "offset");
    for (uint64_t i = 0; i < g->n_tensors; i++)
        open_fails(write_prefix(dir, "cut.gguf", raw, g->data_offset + g->tensors[i].offset + 4), GC_ERR_FORMAT,
                   "past the end");
    open_fails(write_prefix(dir, "cut.gguf", raw, len - 1), GC_ERR_FORMAT, "past the end");
    /* absurd counts and lengths */
    uint64_t huge = (uint64_t)1 << 60;
    gguf_patch_fails(dir, raw, len, 16, &huge, 8, GC_ERR_FORMAT, "metadata count");
    gguf_patch_fails(dir, raw, len, 8, &huge, 8, GC_ERR_FORMAT, "tensor count");
    gguf_patch_fails(dir, raw, len, 24, &huge, 8, GC_ERR_FORMAT, "key");
    uint64_t str_len_at = g->kv[0].value_offset; /* general.architecture's string length */
    gguf_patch_fails(dir, raw, len, str_len_at, &huge, 8, GC_ERR_FORMAT, "string value");
    uint32_t bad_type = 99, version = 7;
    gguf_patch_fails(dir, raw, len, str_len_at - 4, &bad_type, 4, GC_ERR_FORMAT, "unknown value type 99");
    gguf_patch_fails(dir, raw, len, 4, &version, 4, GC_ERR_UNSUPPORTED, "version 7");
    /* tensor infos: unknown ggml type, misaligned and overlapping offsets, wrong shape vs hparams */
    size_t info0 = (size_t)((const unsigned char *)g->tensors[0].name.data - map.data) + g->tensors[0].name.len;
    size_t type0 = info0 + 4 + 8 * 2, offset1;
    gguf_patch_fails(dir, raw, len, type0, &bad_type, 4, GC_ERR_UNSUPPORTED, "ggml type 99");
    offset1 = (size_t)((const unsigned char *)g->tensors[1].name.data - map.data) + g->tensors[1].name.len + 4 +
              8 * g->tensors[1].n_dims + 4;
    uint64_t misaligned = g->tensors[1].offset + 4, overlapping = 32;
    gguf_patch_fails(dir, raw, len, offset1, &misaligned, 8, GC_ERR_FORMAT, "aligned");
    gguf_patch_fails(dir, raw, len, offset1, &overlapping, 8, GC_ERR_FORMAT, "overlaps");
    uint64_t ne0 = 32; /* token_embd declared [512, 32]: the hparams say 64 wide */
    gguf_patch_fails(dir, raw, len, info0 + 4, &ne0, 8, GC_ERR_FORMAT, "token_embd.weight' at offset");
    gc_gguf_free(g);
    gc_file_unmap(&map);
    free(raw);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(explicit_tokenizer_path_overrides_the_search) {
    const char *found = test_shared_path(STORIES); /* a static buffer: copy before the next lookup */
    if (test_skip_if_missing(found, STORIES))
        return;
    char path[4096], tok_copy[4096];
    snprintf(path, sizeof path, "%s", found);
    const char *tok = test_shared_path("models/llama2-tokenizer/tokenizer.bin");
    if (test_skip_if_missing(tok, "models/llama2-tokenizer/tokenizer.bin"))
        return;
    snprintf(tok_copy, sizeof tok_copy, "%s", tok);
    gc_model_open_params params = {.tokenizer_path = tok_copy};
    gc_model_file *m = NULL;
    gc_error err;
    ck_assert_msg(gc_model_file_open(path, &params, &m, &err) == GC_OK, "%s", err.msg);
    ck_assert_str_eq(m->tokenizer_path, tok_copy);
    gc_model_file_close(m);
    params.tokenizer_path = "/nonexistent/tokenizer.bin";
    ck_assert_int_eq(gc_model_file_open(path, &params, &m, &err), GC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/tokenizer.bin"));
}
END_TEST

START_TEST(converted_safetensors_truncated_at_each_tensor_is_refused) {
    const char *path = test_shared_path(STORIES);
    if (test_skip_if_missing(path, STORIES))
        return;
    char *dir = temp_dir(), hf[2048], st[4096];
    snprintf(hf, sizeof hf, "%s/hf", dir);
    snprintf(st, sizeof st, "%s/model.safetensors", hf);
    gc_model_file *m = convert_and_open(path, hf, GC_CONVERT_HF, GC_DTYPE_F16);
    int n;
    const gc_tensor *t = gc_model_file_tensors(m, &n);
    uint64_t *cuts = malloc((size_t)n * 2 * sizeof *cuts);
    for (int i = 0; i < n; i++)
        cuts[2 * i] = t[i].file_offset, cuts[2 * i + 1] = t[i].file_offset + t[i].nbytes - 1;
    gc_model_file_close(m);
    size_t len;
    char *raw = read_all(st, &len);
    for (int i = 0; i < 2 * n; i++) {
        write_all(st, raw, (size_t)cuts[i]);
        open_fails(hf, GC_ERR_FORMAT, "past the end of the file");
    }
    write_all(st, raw, len);
    gc_model_file_close(open_ok(hf));
    free(cuts);
    free(raw);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- model cards and gen-model ---- */

START_TEST(cards_hold_methods_md_gemfilter_defaults) {
    const struct { const char *name; int r, k, layers; } want[] = {
        {"llama-3.1-8b-instruct", 13, 1024, 32}, {"mistral-nemo-12b", 19, 1024, 40}, {"phi-3.5-mini", 19, 1024, 32},
        {"tinyllama-1.1b", 9, -1, 22},           {"smollm2-135m", 21, 1024, 30},    {"stories260K", 2, -1, 5},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        gc_model_card c;
        gc_error err;
        ck_assert_msg(gc_model_card_load(want[i].name, &c, &err) == GC_OK, "%s", err.msg);
        ck_assert_str_eq(c.name, want[i].name);
        ck_assert_int_eq(c.hp.n_layers, want[i].layers);
        ck_assert_int_eq(gc_card_filter_layer(&c, c.hp.n_layers), want[i].r);
        ck_assert_int_eq(c.budget, want[i].k);
    }
    gc_model_card c;
    ck_assert_int_eq(gc_model_card_load("llama-3.1-8b-instruct", &c, NULL), GC_OK);
    ck_assert_int_eq(c.hp.rope_scaling.type, GC_ROPE_SCALING_LLAMA3);
    ck_assert_float_eq(c.hp.rope_scaling.factor, 8.0f);
    ck_assert_int_eq(c.hp.vocab_size, 128256);
    ck_assert_int_eq(c.ctx_trained, 131072);
    ck_assert_int_eq(gc_model_card_load("mistral-nemo-12b", &c, NULL), GC_OK);
    ck_assert_int_eq(c.hp.head_dim, 128); /* not hidden / heads = 160 */
    ck_assert_int_eq(gc_model_card_load("phi-3.5-mini", &c, NULL), GC_OK);
    ck_assert_str_eq(c.rope_scaling, "longrope");
    gc_error err;
    ck_assert_int_eq(gc_model_card_load("no-such-card", &c, &err), GC_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "tinyllama-1.1b"));
    ck_assert_int_eq(gc_model_card_parse("{\"name\":1}", 10, "x.json", &c, &err), GC_ERR_FORMAT);
    ck_assert_int_eq(gc_card_filter_layer(NULL, 22), 9);
}
END_TEST

START_TEST(cards_match_the_models_they_describe) {
    const char *path = test_shared_path(STORIES);
    if (test_skip_if_missing(path, STORIES))
        return;
    gc_model_file *m = open_ok(path);
    gc_model_card c;
    ck_assert_int_eq(gc_model_card_match(&m->hp, &c, NULL), GC_OK);
    ck_assert_str_eq(c.name, "stories260K");
    m->hp.n_layers = 6;
    ck_assert_int_eq(gc_model_card_match(&m->hp, &c, NULL), GC_ERR_NOT_FOUND);
    m->hp.n_layers = 5;
    gc_model_file_close(m);
}
END_TEST

static char *gen(const gc_model_card *c, uint64_t seed, gc_dtype dtype, const char *dir, const char *name) {
    char out[4096];
    gc_error err;
    snprintf(out, sizeof out, "%s/%s", dir, name);
    ck_assert_msg(gc_gen_model(c, seed, dtype, NULL, out, &err) == GC_OK, "%s", err.msg);
    strcat(out, "/model.safetensors");
    size_t len;
    return read_all(out, &len);
}

START_TEST(gen_model_is_deterministic_and_loads) {
    gc_model_card c;
    ck_assert_int_eq(gc_model_card_load("stories260K", &c, NULL), GC_OK);
    char *dir = temp_dir(), path[4096];
    char *a = gen(&c, 7, GC_DTYPE_F32, dir, "a"), *b = gen(&c, 7, GC_DTYPE_F32, dir, "b");
    char *other = gen(&c, 8, GC_DTYPE_F32, dir, "c");
    snprintf(path, sizeof path, "%s/a/model.safetensors", dir);
    size_t len;
    free(read_all(path, &len));
    ck_assert(memcmp(a, b, len) == 0);
    ck_assert(memcmp(a, other, len) != 0);
    snprintf(path, sizeof path, "%s/a", dir);
    gc_model_file *m = open_ok(path);
    ck_assert_int_eq(m->hp.n_layers, 5);
    ck_assert_int_eq(m->hp.n_kv_heads, 4);
    ck_assert_int_eq(m->hp.rope_layout, GC_ROPE_HALF);
    ck_assert_int_eq(gc_model_file_n_params(m), 260032);
    const gc_tensor *norm = &m->layers[3].ffn_norm, *w = &m->layers[2].w_down;
    for (int64_t i = 0; i < norm->shape[0]; i++)
        ck_assert_float_eq(((const float *)norm->data)[i], 1.0f);
    int64_t n = gc_tensor_n_elements(w);
    float *x = malloc((size_t)n * 4);
    gc_decode_f32(w, 0, (size_t)n, x);
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < n; i++)
        sum += x[i], sq += (double)x[i] * x[i];
    double mean = sum / (double)n, sd = sqrt(sq / (double)n - mean * mean);
    ck_assert_msg(fabs(mean) < 0.002 && sd > 0.018 && sd < 0.022, "mean %g sd %g", mean, sd);
    free(x);
    gc_model_file_close(m);
    /* bf16 output is the f32 stream rounded */
    free(gen(&c, 7, GC_DTYPE_BF16, dir, "d"));
    snprintf(path, sizeof path, "%s/d", dir);
    gc_model_file *h = open_ok(path);
    snprintf(path, sizeof path, "%s/a", dir);
    m = open_ok(path);
    const gc_tensor *f = &m->layers[1].wq, *hb = &h->layers[1].wq;
    ck_assert_int_eq(hb->dtype, GC_DTYPE_BF16);
    for (int64_t i = 0; i < gc_tensor_n_elements(f); i++) {
        uint16_t v;
        memcpy(&v, (const char *)hb->data + 2 * i, 2);
        ck_assert_uint_eq(v, gc_f32_to_bf16(((const float *)f->data)[i]));
    }
    gc_model_file_close(m);
    gc_model_file_close(h);
    free(a), free(b), free(other);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(cli_inspect_convert_and_gen_model) {
    const char *path = test_shared_path(STORIES);
    if (test_skip_if_missing(path, STORIES))
        return;
    static char out[65536];
    char *dir = temp_dir(), args[8192];
    snprintf(args, sizeof args, "inspect %s", path);
    ck_assert_int_eq(test_run_cli(args, false, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "parameters: 260032"));
    ck_assert_ptr_nonnull(strstr(out, "wq                                               f32    [5, 64, 64] offset 132380"));
    ck_assert_ptr_nonnull(strstr(out, "context length: 512"));
    snprintf(args, sizeof args, "convert %s %s/m.gguf --to gguf --dtype f16", path, dir);
    ck_assert_int_eq(test_run_cli(args, false, out, sizeof out), 0);
    snprintf(args, sizeof args, "inspect %s/m.gguf", dir);
    ck_assert_int_eq(test_run_cli(args, false, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "rope layout adjacent"));
    ck_assert_ptr_nonnull(strstr(out, "tokenizer: GGUF metadata"));
    snprintf(args, sizeof args, "gen-model --like stories260K --seed 1 --dtype f16 %s/g", dir);
    ck_assert_int_eq(test_run_cli(args, false, out, sizeof out), 0);
    snprintf(args, sizeof args, "inspect %s/g", dir);
    ck_assert_int_eq(test_run_cli(args, false, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "tokenizer: none"));
    const char *vocab = test_shared_path("models/ggml-vocab/ggml-vocab-phi-3.gguf");
    if (vocab) {
        snprintf(args, sizeof args, "inspect %s", vocab);
        ck_assert_int_eq(test_run_cli(args, false, out, sizeof out), 0);
        ck_assert_ptr_nonnull(strstr(out, "0 tensors, 26 metadata keys"));
        ck_assert_ptr_nonnull(strstr(out, "[string x 32064]"));
        ck_assert_ptr_nonnull(strstr(out, "vocabulary-only"));
    }
    ck_assert_int_eq(test_run_cli("inspect /nonexistent/model.bin", false, out, sizeof out), 1);
    ck_assert_int_eq(test_run_cli("convert a b --to nope", false, out, sizeof out), 1);
    ck_assert_int_eq(test_run_cli("gen-model --like stories260K --seed -1 x", false, out, sizeof out), 2);
    remove_tree(dir);
    free(dir);
}
END_TEST

Suite *suite_model(void) {
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("llama2c");
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, llama2c_stories260K_hparams_match_source_md);
    tcase_add_test(tc, llama2c_stories260K_offsets_match_source_md);
    tcase_add_test(tc, llama2c_values_match_raw_reads);
    tcase_add_test(tc, llama2c_truncated_anywhere_is_a_clear_error);
    tcase_add_test(tc, llama2c_bad_headers_are_refused);
    tcase_add_test(tc, llama2c_v1_and_separate_classifier_load_the_same_weights);
    tcase_add_test(tc, llama2c_v2_int8_checkpoints_dequantise_exactly);
    tcase_add_test(tc, missing_model_is_an_io_error);
    suite_add_tcase(s, tc);
    tc = tcase_create("safetensors");
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, hf_f32_f16_bf16_tensors_load_with_their_values);
    tcase_add_test(tc, hf_qwen2_biases_are_loaded);
    tcase_add_test(tc, hf_phi3_fused_tensors_split_into_views);
    tcase_add_test(tc, hf_sharded_index_loads_every_shard);
    tcase_add_test(tc, hf_bad_safetensors_are_clear_errors);
    tcase_add_test(tc, hf_bad_config_json_is_a_clear_error);
    suite_add_tcase(s, tc);
    tc = tcase_create("gguf_convert");
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, gguf_vocab_files_open_as_metadata_only);
    tcase_add_test(tc, rope_permutation_is_a_bijection_and_its_own_inverse);
    tcase_add_test(tc, convert_llama2c_to_hf_and_gguf_round_trips_bit_exact);
    tcase_add_test(tc, convert_gguf_carries_the_llama2c_vocabulary);
    tcase_add_test(tc, convert_gguf_f16_and_q8_0_reload_within_rounding);
    tcase_add_test(tc, convert_refuses_what_the_target_cannot_hold);
    tcase_add_test(tc, convert_hf_to_hf_keeps_qwen2_biases_and_phi3_splits);
    tcase_add_test(tc, convert_qwen2_to_gguf_keeps_biases_and_halves);
    tcase_add_test(tc, gguf_bad_input_is_a_clear_error);
    tcase_add_test(tc, explicit_tokenizer_path_overrides_the_search);
    tcase_add_test(tc, converted_safetensors_truncated_at_each_tensor_is_refused);
    suite_add_tcase(s, tc);
    tc = tcase_create("cards_tools");
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, cards_hold_methods_md_gemfilter_defaults);
    tcase_add_test(tc, cards_match_the_models_they_describe);
    tcase_add_test(tc, gen_model_is_deterministic_and_loads);
    tcase_add_test(tc, cli_inspect_convert_and_gen_model);
    suite_add_tcase(s, tc);
    return s;
}
