/* test_model.c - the model layer: llama2.c, safetensors + config.json and GGUF loaders against the real
 * files in ../shared and files written here; conversions round-trip; bad input fails with a message. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
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
    ck_assert_msg(gc_file_read(path, &data, len, &err) == GEMCL_OK, "%s", err.msg);
    return data;
}

static void write_all(const char *path, const void *data, size_t len) {
    gc_error err;
    ck_assert_msg(gc_file_write_atomic(path, data, len, &err) == GEMCL_OK, "%s", err.msg);
}

static gc_model_file *open_ok(const char *path) {
    gc_model_file *m = NULL;
    gc_error err;
    ck_assert_msg(gc_model_file_open(path, NULL, &m, &err) == GEMCL_OK, "%s", err.msg);
    return m;
}

/* Opening path must fail with status and a message naming the file and containing each of `needles`. */
static void open_fails(const char *path, gemcl_status status, const char *needle) {
    gc_model_file *m = NULL;
    gc_error err = {0};
    gemcl_status s = gc_model_file_open(path, NULL, &m, &err);
    ck_assert_msg(s == status, "%s: got %s (%s), want %s", path, gemcl_status_str(s), err.msg, gemcl_status_str(status));
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
        open_fails(p, GEMCL_ERR_FORMAT, cuts[i] >= 28 ? "offset" : "header");
    }
    /* one byte too many is as wrong as one too few */
    char *longer = malloc(len + 1);
    memcpy(longer, raw, len);
    longer[len] = 0;
    open_fails(write_prefix(dir, "long.bin", longer, len + 1), GEMCL_ERR_FORMAT, "trailing");
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
        open_fails(write_prefix(dir, "bad.bin", copy, len), GEMCL_ERR_FORMAT, cases[i].needle);
        free(copy);
    }
    /* a v2 (int8 groups) header is recognised and refused as unsupported */
    char v2[256] = {0};
    put_i32(v2, 0x616b3432);
    put_i32(v2 + 4, 2);
    open_fails(write_prefix(dir, "v2.bin", v2, sizeof v2), GEMCL_ERR_UNSUPPORTED, "version 2");
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
        open_fails(write_prefix(dir, "v1cut.bin", v1, v1_len - 100), GEMCL_ERR_FORMAT, "offset");
        free(v1);
    }
    gc_model_file_close(legacy);
    free(raw);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(missing_model_is_an_io_error) {
    open_fails("/nonexistent/gemcl/model.bin", GEMCL_ERR_IO, NULL);
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
    tcase_add_test(tc, missing_model_is_an_io_error);
    suite_add_tcase(s, tc);
    return s;
}
