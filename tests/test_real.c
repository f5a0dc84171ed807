/* test_real.c - the two real instruct models against llama.cpp, through the public API.
 *
 * ../shared/data/llama.cpp-reference/greedy.json holds, per model, five prompts with llama.cpp's token ids
 * and its greedy continuation (48 tokens, text). Here each prompt's ids are run greedily for 16 tokens and
 * the text must be where llama.cpp's text starts. llama.cpp multiplies these weights with activations
 * rounded to 8 bits, gemcl in f32, so a late near tie may part the two: at least 4 of the 5 prompts must
 * agree, and the ones that do not are named on stderr. SmolLM2-135M-Instruct (Q4_1) is in ../shared;
 * Qwen2.5-Coder-0.5B-Instruct (Q4_K_M) comes from tools/fetch-model.sh and is skipped when not fetched. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemcl.h"
#include "harness.h"
#include "util/fileio.h"

#define GREEDY_JSON "data/llama.cpp-reference/greedy.json"
#define SMOLLM2_GGUF "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
#define N_COMPARED 16

/* The prompts of one model in greedy.json (owned by the returned root; NULL and a SKIP note when absent). */
static cJSON *reference_rows(const char *model_key, cJSON **root) {
    const char *path = test_shared_path(GREEDY_JSON);
    *root = NULL;
    if (test_skip_if_missing(path, GREEDY_JSON))
        return NULL;
    size_t len;
    char *text = NULL;
    gc_error err;
    ck_assert_msg(gc_file_read(path, &text, &len, &err) == GC_OK, "%s", err.msg);
    *root = cJSON_ParseWithLength(text, len);
    free(text);
    ck_assert_msg(*root, "%s does not parse", path);
    cJSON *rows = cJSON_GetObjectItemCaseSensitive(*root, model_key);
    ck_assert_msg(cJSON_IsArray(rows) && cJSON_GetArraySize(rows) == 5, "%s: no 5 prompts for %s", path, model_key);
    return rows;
}

static int32_t *row_ids(const cJSON *row, int *n) {
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(row, "prompt_ids");
    ck_assert(cJSON_IsArray(ids));
    *n = cJSON_GetArraySize(ids);
    int32_t *out = malloc((size_t)*n * sizeof *out);
    ck_assert(out);
    for (int i = 0; i < *n; i++)
        out[i] = (int32_t)cJSON_GetArrayItem(ids, i)->valuedouble;
    return out;
}

/* Greedy text of N_COMPARED tokens after the prompt's ids (stopping at an end-of-text id, as llama.cpp). */
static char *greedy_text(gemcl_context *ctx, const int32_t *ids, int n) {
    gemcl_generate_params g = gemcl_generate_default_params();
    g.max_tokens = N_COMPARED;
    g.temperature = 0.0f;
    gemcl_result res;
    ck_assert_msg(gemcl_generate_tokens(ctx, ids, n, &g, &res) == GEMCL_OK, "%s", gemcl_context_last_error(ctx));
    char *text = strdup(res.text);
    gemcl_result_free(&res);
    return text;
}

/* Runs the five prompts of model_key on the model at path; returns how many agree with llama.cpp. */
static int agreeing_prompts(const char *path, const char *model_key) {
    cJSON *root;
    cJSON *rows = reference_rows(model_key, &root);
    if (!rows)
        return -1;
    char err[4096];
    gemcl_model *model;
    gemcl_context *ctx;
    ck_assert_msg(gemcl_model_load(path, NULL, &model, err, sizeof err) == GEMCL_OK, "%s", err);
    ck_assert_msg(gemcl_context_create(model, NULL, &ctx, err, sizeof err) == GEMCL_OK, "%s", err);
    int agree = 0;
    for (int r = 0; r < 5; r++) {
        const cJSON *row = cJSON_GetArrayItem(rows, r);
        const char *want = cJSON_GetObjectItemCaseSensitive(row, "greedy_48")->valuestring;
        int n;
        int32_t *ids = row_ids(row, &n);
        char *got = greedy_text(ctx, ids, n);
        /* llama.cpp's 48 tokens start with our 16 (its text ends with the "\n\n" its CLI prints). */
        bool same = got[0] && strncmp(want, got, strlen(got)) == 0;
        agree += same;
        if (!same)
            fprintf(stderr, "real: %s prompt %d parts from llama.cpp:\n  gemcl:     %s\n  llama.cpp: %.*s\n", model_key,
                    r, got, (int)strlen(got) + 16, want);
        free(got);
        free(ids);
    }
    gemcl_context_free(ctx);
    gemcl_model_free(model);
    cJSON_Delete(root);
    return agree;
}

START_TEST(smollm2_q4_1_greedy_agrees_with_llama_cpp) {
    const char *path = test_shared_path(SMOLLM2_GGUF);
    if (test_skip_if_missing(path, SMOLLM2_GGUF))
        return;
    int agree = agreeing_prompts(path, "smollm2-135m-instruct-q4_1");
    if (agree >= 0)
        ck_assert_msg(agree >= 4, "only %d of 5 prompts agree with llama.cpp on %d tokens", agree, N_COMPARED);
}
END_TEST

START_TEST(qwen2_5_q4_k_m_greedy_agrees_with_llama_cpp) {
    const char *path = test_qwen_gguf();
    if (!path) /* test_qwen_gguf said SKIP */
        return;
    int agree = agreeing_prompts(path, "qwen2.5-coder-0.5b-instruct-q4_k_m");
    if (agree >= 0)
        ck_assert_msg(agree >= 4, "only %d of 5 prompts agree with llama.cpp on %d tokens", agree, N_COMPARED);
}
END_TEST

/* Every method generates on the model from a prompt longer than its budget, so each one really drops. */
static void every_method_runs(const char *path) {
    char err[4096];
    gemcl_model *model;
    gemcl_context *ctx;
    ck_assert_msg(gemcl_model_load(path, NULL, &model, err, sizeof err) == GEMCL_OK, "%s", err);
    ck_assert_msg(gemcl_context_create(model, NULL, &ctx, err, sizeof err) == GEMCL_OK, "%s", err);
    const char *essay = test_shared_path("data/paul-graham-essays/gba.txt");
    char *text = NULL;
    size_t len = 0;
    gc_error gerr;
    if (test_skip_if_missing(essay, "data/paul-graham-essays/gba.txt"))
        return;
    ck_assert_msg(gc_file_read(essay, &text, &len, &gerr) == GC_OK, "%s", gerr.msg);
    len = len > 1500 ? 1500 : len; /* ~300 tokens */
    for (int m = 0; m < GEMCL_METHOD_COUNT_; m++) {
        gemcl_generate_params g = gemcl_generate_default_params();
        g.max_tokens = 3;
        g.ignore_eos = 1;
        g.method.method = (gemcl_method)m;
        g.method.budget = 64;
        g.method.filter_layer = 4;
        gemcl_result res;
        ck_assert_msg(gemcl_generate(ctx, text, len, &g, &res) == GEMCL_OK, "%s: %s", gemcl_method_name(g.method.method),
                      gemcl_context_last_error(ctx));
        ck_assert_msg(res.n_generated == 3, "%s generated %d", gemcl_method_name(g.method.method), res.n_generated);
        if (m != GEMCL_METHOD_FULL && m != GEMCL_METHOD_POD_TF)
            ck_assert_msg(res.n_kept_tokens < res.n_prompt_tokens, "%s kept %d of %d",
                          gemcl_method_name(g.method.method), res.n_kept_tokens, res.n_prompt_tokens);
        gemcl_result_free(&res);
    }
    free(text);
    gemcl_context_free(ctx);
    gemcl_model_free(model);
}

/* Quantized weights stay in their GGUF blocks on the device: its weight bytes are the file's tensor bytes (norms
 * and biases, f32 in the file too, are the only other weights), never a dequantized copy. */
static void device_weights_are_the_file_bytes(const char *path) {
    char err[4096];
    gemcl_model *model;
    gemcl_model_info file, dev;
    ck_assert_msg(gemcl_model_file_inspect(path, NULL, &file, err, sizeof err) == GEMCL_OK, "%s", err);
    ck_assert_msg(gemcl_model_load(path, NULL, &model, err, sizeof err) == GEMCL_OK, "%s", err);
    ck_assert(gemcl_model_get_info(model, &dev) == GEMCL_OK);
    gemcl_model_free(model);
    ck_assert_msg(dev.weight_bytes <= (uint64_t)(1.05 * (double)file.weight_bytes) &&
                      dev.weight_bytes >= file.weight_bytes / 2,
                  "device weights %llu bytes, the file's tensors %llu", (unsigned long long)dev.weight_bytes,
                  (unsigned long long)file.weight_bytes);
}

START_TEST(smollm2_device_weights_are_the_file_bytes) {
    const char *path = test_shared_path(SMOLLM2_GGUF);
    if (!test_skip_if_missing(path, SMOLLM2_GGUF))
        device_weights_are_the_file_bytes(path);
}
END_TEST

START_TEST(qwen2_5_device_weights_are_the_file_bytes) {
    const char *path = test_qwen_gguf();
    if (path) /* else test_qwen_gguf said SKIP */
        device_weights_are_the_file_bytes(path);
}
END_TEST

START_TEST(every_method_runs_on_smollm2) {
    const char *path = test_shared_path(SMOLLM2_GGUF);
    if (!test_skip_if_missing(path, SMOLLM2_GGUF))
        every_method_runs(path);
}
END_TEST

START_TEST(every_method_runs_on_qwen2_5) {
    const char *path = test_qwen_gguf();
    if (path) /* else test_qwen_gguf said SKIP */
        every_method_runs(path);
}
END_TEST

Suite *suite_real(void) {
    Suite *s = suite_create("real");
    TCase *tc = tcase_create("llama.cpp");
    tcase_set_timeout(tc, 3 * TEST_TIMEOUT_S);
    tcase_add_test(tc, smollm2_q4_1_greedy_agrees_with_llama_cpp);
    tcase_add_test(tc, qwen2_5_q4_k_m_greedy_agrees_with_llama_cpp);
    tcase_add_test(tc, smollm2_device_weights_are_the_file_bytes);
    tcase_add_test(tc, qwen2_5_device_weights_are_the_file_bytes);
    tcase_add_test(tc, every_method_runs_on_smollm2);
    tcase_add_test(tc, every_method_runs_on_qwen2_5);
    suite_add_tcase(s, tc);
    return s;
}
