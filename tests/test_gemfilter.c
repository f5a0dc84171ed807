/* test_gemfilter.c - GemFilter (METHODS.md, gemfilter) on a real model: the device selection equals a plain C
 * double-precision reference of the same math, the edge cases behave, and n <= k is exactly full attention. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "gemcl.h"
#include "fixtures.h"
#include "harness.h"
#include "methods/method.h"
#include "ref_llama.h"
#include "tokenizer/tokenizer.h"
#include "util/fileio.h"

#define STORIES "models/stories260K/stories260K.bin"
#define ESSAYS "data/paul-graham-essays"

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* BOS + the first n - 1 tokens of the sorted, concatenated essays. */
static int32_t *essay_prompt(const gc_tokenizer *tok, int n) {
    const char *dir = test_shared_path(ESSAYS);
    ck_assert_ptr_nonnull(dir);
    char dirpath[4096];
    snprintf(dirpath, sizeof dirpath, "%s", dir);
    DIR *d = opendir(dirpath);
    ck_assert_ptr_nonnull(d);
    char *names[128];
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) && count < 128)
        if (strstr(e->d_name, ".txt"))
            names[count++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)count, sizeof *names, cmp_str);
    int32_t *out = malloc((size_t)n * sizeof *out);
    int have = 0;
    for (int i = 0; i < count; i++) {
        if (have < n) {
            char path[8192], *text;
            size_t len;
            snprintf(path, sizeof path, "%s/%s", dirpath, names[i]);
            ck_assert_int_eq(gc_file_read(path, &text, &len, NULL), GC_OK);
            int32_t *ids;
            int m;
            gc_error err;
            ck_assert_msg(gc_tokenizer_encode(tok, text, len, have == 0, false, &ids, &m, &err) == GC_OK, "%s",
                          err.msg);
            for (int j = 0; j < m && have < n; j++)
                out[have++] = ids[j];
            free(ids);
            free(text);
        }
        free(names[i]);
    }
    ck_assert_int_eq(have, n);
    return out;
}

/* The selection tests run on stories260K and the essays when ../shared has both; else on the generated model of
 * stories260K's shape (fixtures.h) and a fixed pseudo-random prompt over its vocabulary, so GemFilter's
 * selection is checked against the reference on every machine instead of skipping. */
static bool have_real_text(void) {
    return test_shared_path(ESSAYS) && test_shared_path(STORIES);
}

static void open_stories(test_stack *s) {
    if (have_real_text()) {
        test_stack_open(s, test_shared_path(STORIES), GC_DTYPE_KEEP);
        return;
    }
    fprintf(stderr, "gemfilter: ../shared lacks %s or %s: the generated model of its shape and a synthetic prompt\n",
            STORIES, ESSAYS);
    test_stack_open(s, test_fixture_stories_shape(), GC_DTYPE_KEEP);
}

/* n prompt ids: the essays' tokens (essay_prompt), or BOS and a fixed linear congruential sequence. */
static int32_t *prompt_ids(const test_stack *s, int n) {
    if (have_real_text())
        return essay_prompt(s->file->tokenizer, n);
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    ck_assert_ptr_nonnull(ids);
    uint32_t x = 12345;
    for (int i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        ids[i] = i == 0 && s->file->hp.bos_id >= 0 ? s->file->hp.bos_id
                                                   : (int32_t)((x >> 8) % (uint32_t)s->file->hp.vocab_size);
    }
    return ids;
}

/* The k-th largest of p (1-based k). */
static double kth_largest(const double *p, int n, int k) {
    double *c = malloc((size_t)n * sizeof *c);
    memcpy(c, p, (size_t)n * sizeof *c);
    for (int i = 0; i < k; i++) /* partial selection sort: k is small next to the cost of the forward */
        for (int j = i + 1; j < n; j++)
            if (c[j] > c[i]) {
                double t = c[i];
                c[i] = c[j];
                c[j] = t;
            }
    double v = c[k - 1];
    free(c);
    return v;
}

/* The device selection equals the reference, except where the reference scores tie at the boundary within
 * float precision (|p - p_k| <= 1e-4 |p_k|): such indices may swap, nothing else may. */
static void check_selection(const int32_t *got, int n_got, const double *p, int n, int k, const char *what) {
    int kk = k < n ? k : n;
    ck_assert_msg(n_got == kk, "%s: %d indices, want %d", what, n_got, kk);
    for (int i = 1; i < n_got; i++)
        ck_assert_msg(got[i - 1] < got[i], "%s: not ascending at %d", what, i);
    int32_t *want = malloc((size_t)kk * sizeof *want);
    ck_assert_int_eq(ref_topk_sorted(p, n, k, want), kk);
    double pk = kth_largest(p, n, kk), tol = 1e-4 * fmax(1.0, fabs(pk));
    int differ = 0;
    for (int a = 0, b = 0; a < kk || b < kk;) {
        int32_t x = a < kk ? got[a] : INT32_MAX, y = b < kk ? want[b] : INT32_MAX, only;
        if (x == y) {
            a++, b++;
            continue;
        }
        only = x < y ? got[a++] : want[b++];
        ck_assert_msg(only >= 0 && only < n, "%s: index %d out of range", what, only);
        ck_assert_msg(fabs(p[only] - pk) <= tol, "%s: index %d (score %.6f) differs from the reference, k-th score %.6f",
                      what, only, p[only], pk);
        differ++;
    }
    if (differ)
        fprintf(stderr, "%s: %d boundary ties resolved differently\n", what, differ / 2);
    free(want);
}

START_TEST(selection_equals_double_reference) {
    test_stack s;
    open_stories(&s);
    const int lengths[] = {300, 1000, 3000}, layers[] = {1, 2, 3}, budgets[] = {16, 64, 256};
    for (int li = 0; li < 3; li++) {
        int n = lengths[li];
        int32_t *ids = prompt_ids(&s, n);
        double *scores[3], *pooled = malloc((size_t)n * sizeof *pooled);
        for (int r = 0; r < 3; r++)
            scores[r] = malloc((size_t)n * sizeof(double));
        ck_assert_int_eq(ref_gemfilter_scores(s.file, ids, n, layers, 3, scores), 0);
        for (int r = 0; r < 3; r++) {
            ref_pool5(scores[r], n, pooled);
            for (int b = 0; b < 3; b++) {
                gc_method_args a = {s.ops, s.dm, ids, n, layers[r], budgets[b], 512, NULL, 0};
                gc_selection sel;
                gc_error err;
                ck_assert_msg(gc_gemfilter_select(&a, &sel, &err) == GC_OK, "%s", err.msg);
                char what[64];
                snprintf(what, sizeof what, "n=%d r=%d k=%d", n, layers[r], budgets[b]);
                check_selection(sel.kept, sel.n_kept, pooled, n, budgets[b], what);
                free(sel.kept);
            }
        }
        for (int r = 0; r < 3; r++)
            free(scores[r]);
        free(pooled);
        free(ids);
    }
    test_stack_close(&s);
}
END_TEST

START_TEST(edge_layers_and_budgets_work) {
    test_stack s;
    open_stories(&s);
    int n = 200, L = s.file->hp.n_layers;
    int32_t *ids = prompt_ids(&s, n);
    const int layers[] = {0, L - 1};
    for (int t = 0; t < 2; t++) {
        double *sc = malloc((size_t)n * sizeof *sc), *pooled = malloc((size_t)n * sizeof *pooled);
        ck_assert_int_eq(ref_gemfilter_scores(s.file, ids, n, &layers[t], 1, &sc), 0);
        ref_pool5(sc, n, pooled);
        const int budgets[] = {1, 199};
        for (int b = 0; b < 2; b++) {
            gc_method_args a = {s.ops, s.dm, ids, n, layers[t], budgets[b], 64, NULL, 0};
            gc_selection sel;
            gc_error err;
            ck_assert_msg(gc_gemfilter_select(&a, &sel, &err) == GC_OK, "%s", err.msg);
            check_selection(sel.kept, sel.n_kept, pooled, n, budgets[b], "edge");
            free(sel.kept);
        }
        free(sc), free(pooled);
    }
    gc_method_args bad = {s.ops, s.dm, ids, n, L, 16, 64, NULL, 0};
    gc_selection sel;
    gc_error err;
    ck_assert_int_eq(gc_gemfilter_select(&bad, &sel, &err), GC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "filter layer"));
    ck_assert_ptr_null(sel.kept);
    free(ids);
    test_stack_close(&s);
}
END_TEST

/* query_back (a chat prompt's reply header): the query is row n - 1 - query_back, the rows after it are kept
 * and count in the budget; a tail that does not fit the budget is refused. */
START_TEST(rows_after_the_query_row_are_kept) {
    test_stack s;
    open_stories(&s);
    int n = 300;
    int32_t *ids = prompt_ids(&s, n);
    gc_method_args a = {s.ops, s.dm, ids, n, 2, 16, 64, NULL, 5};
    gc_selection sel;
    gc_error err;
    ck_assert_msg(gc_gemfilter_select(&a, &sel, &err) == GC_OK, "%s", err.msg);
    ck_assert_int_eq(sel.n_kept, 16);
    for (int i = 1; i < 16; i++)
        ck_assert_int_lt(sel.kept[i - 1], sel.kept[i]);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(sel.kept[11 + i], n - 5 + i);
    free(sel.kept);
    a.query_back = 16;
    ck_assert_int_eq(gc_gemfilter_select(&a, &sel, &err), GC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "budget of 16"));
    free(ids);
    test_stack_close(&s);
}
END_TEST

/* Through the public API: the text of `gemcl run` with the given method options. */
static gemcl_status generate(gemcl_context *ctx, const char *prompt, gemcl_method m, int r, int k, gemcl_result *res) {
    gemcl_generate_params g = gemcl_generate_default_params();
    g.max_tokens = 40;
    g.method.method = m;
    g.method.filter_layer = r;
    g.method.budget = k;
    return gemcl_generate(ctx, prompt, strlen(prompt), &g, res);
}

START_TEST(budget_at_least_prompt_is_exactly_full_attention) {
    gemcl_model *model;
    gemcl_context *ctx;
    if (!test_api_open_shared(STORIES, &model, &ctx))
        return;
    const char *prompt = "Once upon a time, there was a little dog named Max. Max liked to run in the park.";
    gemcl_result full, gem, cut;
    ck_assert_int_eq(generate(ctx, prompt, GEMCL_METHOD_FULL, -1, 0, &full), GC_OK);
    ck_assert_int_eq(generate(ctx, prompt, GEMCL_METHOD_GEMFILTER, 2, full.n_prompt_tokens, &gem), GC_OK);
    ck_assert_str_eq(gem.text, full.text);
    ck_assert_ptr_null(gem.kept_indices);
    ck_assert_int_eq(gem.n_kept_tokens, full.n_prompt_tokens);
    /* one token fewer than the prompt does compress, and keeps the sorted selection it reports */
    ck_assert_int_eq(generate(ctx, prompt, GEMCL_METHOD_GEMFILTER, 2, full.n_prompt_tokens - 1, &cut), GC_OK);
    ck_assert_int_eq(cut.n_kept_tokens, full.n_prompt_tokens - 1);
    ck_assert_ptr_nonnull(cut.kept_indices);
    gemcl_result_free(&cut);
    ck_assert_int_eq(generate(ctx, prompt, GEMCL_METHOD_GEMFILTER, 5, 8, &cut), GC_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(gemcl_context_last_error(ctx), "filter layer 5"));
    gemcl_result_free(&full);
    gemcl_result_free(&gem);
    gemcl_context_free(ctx);
    gemcl_model_free(model);
}
END_TEST

Suite *suite_gemfilter(void) {
    Suite *s = suite_create("gemfilter");
    TCase *tc = tcase_create("gemfilter");
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, selection_equals_double_reference);
    tcase_add_test(tc, edge_layers_and_budgets_work);
    tcase_add_test(tc, rows_after_the_query_row_are_kept);
    tcase_add_test(tc, budget_at_least_prompt_is_exactly_full_attention);
    suite_add_tcase(s, tc);
    return s;
}
