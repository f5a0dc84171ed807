/* test_perplexity.c - scoring text through the public API and `gemcl perplexity`, on stories260K: the device's
 * per-token negative log-likelihoods (gemcl_context_score) against the log-softmax of logits taken one token at a
 * time, the CLI's perplexity against those per-token values under llama-perplexity's chunking, and the CLI's
 * refusal of bad input. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gemcl.h"
#include "harness.h"

#define STORIES "models/stories260K/stories260K.bin"
#define NLL_TOLERANCE 1e-4 /* device scoring against host log-softmax of the decode loop's logits */

/* About 180 tokens with stories260K's 512-token vocabulary. */
static const char *story =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her "
    "friends. One day, she saw a big red ball under a tree. She wanted to play with it, but her mom said it "
    "was time to go home. Lily was sad, but she said goodbye to the ball and went home with her mom. The next "
    "day, Lily went back to the park and the ball was still there.";


/* The story's ids as the model's tokenizer gives them (BOS first for stories260K); free with gemcl_free. */
static int32_t *story_ids(gemcl_model *model, int *n) {
    int32_t *ids;
    char err[1024];
    ck_assert_msg(gemcl_tokenize(model, story, strlen(story), -1, 0, &ids, n, err, sizeof err) == GEMCL_OK, "%s", err);
    return ids;
}

/* -log softmax(logits)[target] in double precision. */
static double host_nll(const float *logits, int vocab, int target) {
    double m = logits[0], sum = 0.0;
    for (int i = 1; i < vocab; i++)
        m = logits[i] > m ? logits[i] : m;
    for (int i = 0; i < vocab; i++)
        sum += exp(logits[i] - m);
    return m + log(sum) - logits[target];
}

/* want[i] = -log p(ids[i + 1] | ids[0 .. i]) for i < n - 1 from an empty cache, one token at a time: a one-token
 * prefill, then decode steps, with the logits of every step read to the host. */
static void decode_loop_nll(gemcl_context *ctx, int vocab, const int32_t *ids, int n, double *want) {
    float *logits = malloc((size_t)vocab * sizeof *logits);
    ck_assert_int_eq(gemcl_context_reset(ctx), GEMCL_OK);
    ck_assert_msg(gemcl_context_prefill(ctx, ids, 1, NULL) == GEMCL_OK, "%s", gemcl_context_last_error(ctx));
    for (int i = 0; i < n - 1; i++) {
        if (i > 0)
            ck_assert_msg(gemcl_context_decode(ctx, ids[i], NULL) == GEMCL_OK, "%s", gemcl_context_last_error(ctx));
        ck_assert_int_eq(gemcl_context_logits(ctx, logits, vocab), GEMCL_OK);
        want[i] = host_nll(logits, vocab, ids[i + 1]);
    }
    free(logits);
}

/* gemcl_context_score(ids[prefix ..], first) after a prefill of ids[0 .. prefix - 1] against want. */
static void expect_scores(gemcl_context *ctx, const int32_t *ids, int n, int prefix, int first, const double *want) {
    int n_scored = n - prefix - 1 - first;
    float *nll = malloc((size_t)n_scored * sizeof *nll);
    ck_assert_int_eq(gemcl_context_reset(ctx), GEMCL_OK);
    if (prefix > 0)
        ck_assert_msg(gemcl_context_prefill(ctx, ids, prefix, NULL) == GEMCL_OK, "%s", gemcl_context_last_error(ctx));
    ck_assert_msg(gemcl_context_score(ctx, ids + prefix, n - prefix, first, nll) == GEMCL_OK, "%s",
                  gemcl_context_last_error(ctx));
    for (int k = 0; k < n_scored; k++) {
        int i = prefix + first + k; /* the row that predicts ids[i + 1] */
        ck_assert_msg(fabs(nll[k] - want[i]) <= NLL_TOLERANCE, "prefix %d first %d row %d: score %.6f, decode loop %.6f",
                      prefix, first, i, (double)nll[k], want[i]);
    }
    gemcl_context_stats stats;
    ck_assert_int_eq(gemcl_context_get_stats(ctx, &stats), GEMCL_OK);
    ck_assert_int_eq(stats.n_past, n); /* the scored ids stay cached */
    free(nll);
}

/* Scored rows span prefill chunks (n_ubatch 16 and the default) and more than one 64-row group of the head. */
START_TEST(score_matches_log_softmax_of_decode_loop_logits) {
    gemcl_model *model = test_api_load_shared(STORIES);
    if (!model)
        return;
    gemcl_model_info info;
    gemcl_model_get_info(model, &info);
    int n;
    int32_t *ids = story_ids(model, &n);
    ck_assert_int_ge(n, 100);
    n = 100;
    double *want = malloc((size_t)n * sizeof *want);
    gemcl_context *ctx = test_api_context(model, 128, 0);
    decode_loop_nll(ctx, info.vocab_size, ids, n, want);
    const int ubatches[] = {0, 16}, cases[][2] = {{0, 0}, {0, 50}, {0, 98}, {7, 3}, {33, 40}}; /* {prefix, first} */
    for (size_t u = 0; u < 2; u++) {
        gemcl_context *c = u == 0 ? ctx : test_api_context(model, 128, ubatches[u]);
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
            expect_scores(c, ids, n, cases[k][0], cases[k][1], want);
        if (c != ctx)
            gemcl_context_free(c);
    }
    free(want);
    gemcl_free(ids);
    gemcl_context_free(ctx);
    gemcl_model_free(model);
}
END_TEST

START_TEST(score_refuses_bad_arguments_and_keeps_the_cache) {
    gemcl_model *model = test_api_load_shared(STORIES);
    if (!model)
        return;
    int n;
    int32_t *ids = story_ids(model, &n);
    gemcl_context *ctx = test_api_context(model, 64, 0);
    float nll[64];
    ck_assert_int_eq(gemcl_context_prefill(ctx, ids, 10, NULL), GEMCL_OK);
    int32_t bad[4] = {ids[0], ids[1], 1 << 20, ids[3]};
    ck_assert_int_eq(gemcl_context_score(NULL, ids, 8, 0, nll), GEMCL_ERR_INVALID_ARG);
    ck_assert_int_eq(gemcl_context_score(ctx, NULL, 8, 0, nll), GEMCL_ERR_INVALID_ARG);
    ck_assert_int_eq(gemcl_context_score(ctx, ids, 8, 0, NULL), GEMCL_ERR_INVALID_ARG);
    ck_assert_int_eq(gemcl_context_score(ctx, ids, 1, 0, nll), GEMCL_ERR_INVALID_ARG);
    ck_assert_int_eq(gemcl_context_score(ctx, ids, 8, -1, nll), GEMCL_ERR_INVALID_ARG);
    ck_assert_int_eq(gemcl_context_score(ctx, ids, 8, 7, nll), GEMCL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(gemcl_context_last_error(ctx), "first_scored"));
    ck_assert_int_eq(gemcl_context_score(ctx, bad, 4, 0, nll), GEMCL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(gemcl_context_last_error(ctx), "vocabulary"));
    ck_assert_int_eq(gemcl_context_score(ctx, ids, 55, 0, nll), GEMCL_ERR_CONTEXT_FULL); /* 10 + 55 > 64 */
    gemcl_context_stats stats;
    ck_assert_int_eq(gemcl_context_get_stats(ctx, &stats), GEMCL_OK);
    ck_assert_int_eq(stats.n_past, 10);
    /* the cache still continues the prefix: the next token's score is what the decode loop says */
    double want[11];
    ck_assert_int_eq(gemcl_context_score(ctx, ids + 10, 2, 0, nll), GEMCL_OK);
    float *logits = malloc(4096 * sizeof *logits);
    ck_assert_int_eq(gemcl_context_logits(ctx, logits, 4096), GEMCL_ERR_NOT_FOUND); /* scoring leaves no logits */
    gemcl_context *fresh = test_api_context(model, 64, 0);
    gemcl_model_info info;
    gemcl_model_get_info(model, &info);
    decode_loop_nll(fresh, info.vocab_size, ids, 12, want);
    ck_assert_msg(fabs(nll[0] - want[10]) <= NLL_TOLERANCE, "after failed calls: %.6f vs %.6f", (double)nll[0], want[10]);
    free(logits);
    gemcl_context_free(fresh);
    gemcl_context_free(ctx);
    gemcl_free(ids);
    gemcl_model_free(model);
}
END_TEST

START_TEST(model_reports_bos_and_whether_tokenize_adds_it) {
    gemcl_model *model = test_api_load_shared(STORIES);
    if (!model)
        return;
    int add_bos = -1, n;
    int32_t bos = gemcl_model_token_bos(model, &add_bos);
    int32_t *ids = story_ids(model, &n);
    ck_assert_int_eq(bos, 1); /* llama2.c's BOS */
    ck_assert_int_eq(add_bos, 1);
    ck_assert_int_eq(ids[0], bos);
    ck_assert_int_eq(gemcl_model_token_bos(NULL, &add_bos), -1);
    ck_assert_int_eq(add_bos, 0);
    gemcl_free(ids);
    gemcl_model_free(model);
}
END_TEST

/* ---- the CLI ------------------------------------------------------------------------------------------------ */

/* Writes text to a fresh file under /tmp; path receives its name (the caller unlinks it). */
static void write_temp(char *path, size_t cap, const char *text) {
    snprintf(path, cap, "/tmp/gemcl-ppl-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* The CLI's final estimate from its stdout: the last line must be "Final estimate: PPL = X +/- Y". */
static void parse_final(const char *out, double *ppl, double *err) {
    const char *last = strstr(out, "Final estimate: PPL = ");
    ck_assert_msg(last != NULL, "no final estimate in: %s", out);
    ck_assert_int_eq(sscanf(last, "Final estimate: PPL = %lf +/- %lf", ppl, err), 2);
    const char *eol = strchr(last, '\n');
    ck_assert_msg(eol && eol[1] == '\0', "the final estimate is not stdout's last line: %s", out);
}

/* llama-perplexity's numbers for chunks of n_ctx of the story, from the decode loop's per-token values: each chunk
 * from an empty cache with BOS first, rows n_ctx/2 .. n_ctx-2 scored. */
static void reference_ppl(gemcl_model *model, int n_ctx, int max_chunks, double *ppl, double *err) {
    gemcl_model_info info;
    gemcl_model_get_info(model, &info);
    int n, add_bos;
    int32_t *ids = story_ids(model, &n), bos = gemcl_model_token_bos(model, &add_bos);
    int n_chunks = n / n_ctx < max_chunks ? n / n_ctx : max_chunks;
    ck_assert_int_ge(n_chunks, 2);
    gemcl_context *ctx = test_api_context(model, n_ctx, 0);
    int32_t *window = malloc((size_t)n_ctx * sizeof *window);
    double *nll = malloc((size_t)n_ctx * sizeof *nll), sum = 0, sum_sq = 0;
    long count = 0;
    for (int c = 0; c < n_chunks; c++) {
        memcpy(window, ids + (size_t)c * n_ctx, (size_t)n_ctx * sizeof *window);
        window[0] = bos;
        decode_loop_nll(ctx, info.vocab_size, window, n_ctx, nll);
        for (int i = n_ctx / 2; i <= n_ctx - 2; i++, count++)
            sum += nll[i], sum_sq += nll[i] * nll[i];
    }
    double mean = sum / count;
    *ppl = exp(mean);
    *err = *ppl * sqrt((sum_sq / count - mean * mean) / (count - 1));
    free(window), free(nll), gemcl_free(ids);
    gemcl_context_free(ctx);
}

static void expect_cli_ppl(const char *model_path, const char *text_path, const char *extra, double want_ppl,
                           double want_err) {
    char args[4096], out[8192];
    double ppl, err;
    snprintf(args, sizeof args, "perplexity -m '%s' -f '%s' %s", model_path, text_path, extra);
    ck_assert_int_eq(test_run_cli(args, false, out, sizeof out), 0);
    parse_final(out, &ppl, &err);
    /* the CLI prints 4 and 5 decimals */
    ck_assert_msg(fabs(ppl - want_ppl) <= 1e-4 * want_ppl + 5e-5, "%s: PPL %.4f, want %.6f", extra, ppl, want_ppl);
    ck_assert_msg(fabs(err - want_err) <= 1e-3 * want_err + 5e-6, "%s: +/- %.5f, want %.6f", extra, err, want_err);
}

START_TEST(cli_perplexity_is_exp_mean_of_decode_loop_nll) {
    gemcl_model *model = test_api_load_shared(STORIES);
    if (!model)
        return;
    const char *model_path = test_shared_path(STORIES);
    char text_path[64];
    write_temp(text_path, sizeof text_path, story);
    double ppl, err;
    reference_ppl(model, 32, 1 << 30, &ppl, &err);
    expect_cli_ppl(model_path, text_path, "-c 32", ppl, err);
    reference_ppl(model, 48, 2, &ppl, &err);
    expect_cli_ppl(model_path, text_path, "-c 48 --chunks 2 -b 7", ppl, err);
    unlink(text_path);
    gemcl_model_free(model);
}
END_TEST

/* Runs the CLI on bad input: exit 2 and one line on stderr holding `names`. */
static void expect_refused(const char *args, const char *names) {
    char out[8192];
    int rc = test_run_cli(args, true, out, sizeof out);
    ck_assert_msg(rc == 2, "'%s': exit %d, want 2 (%s)", args, rc, out);
    ck_assert_msg(strstr(out, names) != NULL, "'%s': '%s' not named in: %s", args, names, out);
    const char *nl = strchr(out, '\n');
    ck_assert_msg(nl && nl[1] == '\0', "'%s': more than one line: %s", args, out);
}

START_TEST(cli_perplexity_refuses_bad_input_with_exit_2) {
    const char *model = test_shared_path(STORIES);
    if (test_skip_if_missing(model, STORIES))
        return;
    char text[64], tiny[64], args[1024], out[8192];
    write_temp(text, sizeof text, story);
    write_temp(tiny, sizeof tiny, "Once upon a time");
    const struct {
        const char *flags, *names;
    } cases[] = {
        {"-f /nonexistent/story.txt", "/nonexistent/story.txt"},
        {"-f /tmp", "-f /tmp: not a regular file"},
        {"-c 33", "-c"},
        {"-c 8", "-c"},
        {"-c 1024", "-c 1024"}, /* stories260K's context is 512 */
        {"-c abc", "'abc'"},
        {"-c 32 --chunks x", "--chunks"},
        {"-c 32 -b 0", "-b"},
        {"-c 32 --dtype f64", "--dtype"},
        {"-c 32 --bogus 1", "--bogus"},
        {"-c", "-c needs a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *file = strstr(cases[i].flags, "-f ") ? "" : text;
        snprintf(args, sizeof args, "perplexity -m '%s' %s%s %s", model, *file ? "-f " : "", file, cases[i].flags);
        expect_refused(args, cases[i].names);
    }
    snprintf(args, sizeof args, "perplexity -m '%s' -f '%s' -c 64", model, tiny);
    expect_refused(args, tiny);
    snprintf(args, sizeof args, "perplexity -m /nonexistent/model.bin -f '%s'", text);
    expect_refused(args, "-m /nonexistent/model.bin");
    snprintf(args, sizeof args, "perplexity -f '%s'", text);
    expect_refused(args, "-m");
    snprintf(args, sizeof args, "perplexity -m '%s'", model);
    expect_refused(args, "-f");
    ck_assert_int_eq(test_run_cli("perplexity --help", false, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: gemcl perplexity"));
    unlink(text);
    unlink(tiny);
}
END_TEST

Suite *suite_perplexity(void) {
    Suite *s = suite_create("perplexity");
    TCase *tc = tcase_create("perplexity");
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, score_matches_log_softmax_of_decode_loop_logits);
    tcase_add_test(tc, score_refuses_bad_arguments_and_keeps_the_cache);
    tcase_add_test(tc, model_reports_bos_and_whether_tokenize_adds_it);
    tcase_add_test(tc, cli_perplexity_is_exp_mean_of_decode_loop_nll);
    tcase_add_test(tc, cli_perplexity_refuses_bad_input_with_exit_2);
    suite_add_tcase(s, tc);
    return s;
}
