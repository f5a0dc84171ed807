/* test_eval.c - RULER's synthetic tasks and `gemcl eval ruler` (tools/eval/ruler.c, ruler_run.c, cmd_eval.c):
 * RULER's string-match score on hand-worked answers, deterministic exact-length prompts that hold their answers,
 * multi-needle placement, and a tiny grid on stories260K whose JSONL / CSV / summary / SVG parse and resume. The
 * model cannot retrieve anything: no test asserts a score of a model. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gemcl.h"
#include "../tools/eval/eval.h"
#include "harness.h"

#define STORIES "models/stories260K/stories260K.bin"
#define ESSAYS "data/paul-graham-essays"

/* ---- scoring: RULER's string_match_all, worked by hand ---- */

START_TEST(ruler_score_is_the_fraction_of_expected_strings_found) {
    /* every value named: 2/2 */
    const char *two[] = {"1234567", "7654321"};
    ck_assert_double_eq_tol(ruler_score(" 1234567 and 7654321.", two, 2), 1.0, 1e-12);
    /* one of two: 0.5 (the order does not matter) */
    ck_assert_double_eq_tol(ruler_score("7654321, then 1111111", two, 2), 0.5, 1e-12);
    /* case-insensitive: vt's variables in lower case count, a missing third does not: 2/3 */
    const char *vars[] = {"ABCDE", "FGHIJ", "KLMNO"};
    ck_assert_double_eq_tol(ruler_score("var abcde, VAR FgHiJ", vars, 3), 2.0 / 3.0, 1e-12);
    /* a substring, not a word: RULER's `r.lower() in pred.lower()` finds "art" inside "start" */
    const char *words[] = {"art", "pear", "plum", "fig"};
    ck_assert_double_eq_tol(ruler_score("1. start 2. figure", words, 4), 0.5, 1e-12);
    /* a uuid must appear whole: a prefix of it is no match */
    const char *uuid[] = {"0f8fad5b-d9cb-469f-a165-70867728950e"};
    ck_assert_double_eq_tol(ruler_score("0f8fad5b-d9cb-469f", uuid, 1), 0.0, 1e-12);
    ck_assert_double_eq_tol(ruler_score("It is 0F8FAD5B-D9CB-469F-A165-70867728950E.", uuid, 1), 1.0, 1e-12);
    /* no answer at all, and nothing expected */
    ck_assert_double_eq_tol(ruler_score(NULL, two, 2), 0.0, 1e-12);
    ck_assert_double_eq_tol(ruler_score("", two, 2), 0.0, 1e-12);
    ck_assert_double_eq_tol(ruler_score("anything", two, 0), 0.0, 1e-12);
}
END_TEST

START_TEST(tasks_parse_by_name_or_all) {
    int t[RULER_N_TASKS], n;
    char err[512];
    ck_assert_int_eq(ruler_parse_tasks("all", t, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, RULER_N_TASKS);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(t[i], i);
        ck_assert_int_eq(ruler_task_from_name(ruler_task_name(i)), i);
    }
    ck_assert_int_eq(ruler_parse_tasks("cwe,vt,cwe", t, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(ruler_task_name(t[0]), "cwe");
    ck_assert_str_eq(ruler_task_name(t[1]), "vt");
    ck_assert_int_eq(ruler_max_new_tokens(t[1]), 30);
    ck_assert_int_ne(ruler_parse_tasks("vt,bogus", t, &n, err, sizeof err), 0);
    ck_assert_msg(strstr(err, "'bogus'") && strstr(err, "niah_multiquery"), "%s", err);
    ck_assert_int_ne(ruler_parse_tasks("vt,", t, &n, err, sizeof err), 0);
    ck_assert_int_ne(ruler_parse_tasks("", t, &n, err, sizeof err), 0);
}
END_TEST

/* ---- multi-needle placement, by hand ---- */

static int is_period_99(int32_t id, void *user) {
    (void)user;
    return id == 99;
}

START_TEST(needles_go_after_the_previous_period_in_order) {
    /* haystack 0..9 with "periods" (99) at indices 2 and 6: [1 2 99 4 5 6 99 8 9 10] */
    int32_t hay[10] = {1, 2, 99, 4, 5, 6, 99, 8, 9, 10}, a[2] = {-1, -2}, b[1] = {-3}, c[1] = {-4};
    const int32_t *needles[3] = {a, b, c};
    int lens[3] = {2, 1, 1}, at[3], out[14];
    char err[256];
    /* depth 50 -> int(10 * 0.5) = 5, back to just after the period at 2 -> 3; depth 70 -> 7, just after 6 -> 7;
     * depth 100 appends */
    int depths[3] = {50, 70, 100};
    ck_assert_int_eq(eval_insert_needles(hay, 10, needles, lens, 3, depths, is_period_99, NULL, out, at, err,
                                         sizeof err), 0);
    int want[14] = {1, 2, 99, -1, -2, 4, 5, 6, 99, -3, 8, 9, 10, -4};
    for (int i = 0; i < 14; i++)
        ck_assert_int_eq(out[i], want[i]);
    ck_assert_int_eq(at[0], 3);
    ck_assert_int_eq(at[1], 9);
    ck_assert_int_eq(at[2], 13);
    /* two needles snapped to the same period keep their order, the second right after the first */
    int same[2] = {40, 50};
    ck_assert_int_eq(eval_insert_needles(hay, 10, needles, lens, 2, same, is_period_99, NULL, out, at, err,
                                         sizeof err), 0);
    ck_assert_int_eq(at[0], 3);
    ck_assert_int_eq(at[1], 5);
    ck_assert_int_eq(out[5], -3);
    int down[2] = {50, 10};
    ck_assert_int_ne(eval_insert_needles(hay, 10, needles, lens, 2, down, is_period_99, NULL, out, at, err,
                                         sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "ascending"));
}
END_TEST

/* ---- generators on stories260K ---- */

static gemcl_model *load_stories(void) {
    gemcl_model_params mp = gemcl_model_default_params();
    gemcl_model *m = NULL;
    char err[1024];
    ck_assert_msg(gemcl_model_load(test_shared_path(STORIES), &mp, &m, err, sizeof err) == GEMCL_OK, "%s", err);
    return m;
}

static char *detok(gemcl_model *m, const int32_t *ids, int n) {
    char *text = NULL, err[256];
    size_t len;
    ck_assert_msg(gemcl_detokenize(m, ids, n, &text, &len, err, sizeof err) == GEMCL_OK, "%s", err);
    return text;
}

/* Every task, twice with one seed and once with another: exact length, the same ids for the same seed and sample,
 * other ids for another seed or sample, each expected string in the prompt (and, for the needle tasks, inside the
 * marked spans), the template's question and answer prefix at the end. */
START_TEST(generators_are_deterministic_exact_and_hold_their_answers) {
    const char *model_path = test_shared_path(STORIES), *essays = test_shared_path(ESSAYS);
    if (test_skip_if_missing(model_path, STORIES) || test_skip_if_missing(essays, ESSAYS))
        return;
    gemcl_model *m = load_stories();
    char err[1024];
    ruler_ctx r, r2;
    ck_assert_msg(ruler_init(&r, m, essays, NULL, 42, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(ruler_init(&r2, m, essays, NULL, 43, err, sizeof err) == 0, "%s", err);
    ck_assert_int_ge(r.n_words, 1000);
    for (int i = 1; i < r.n_words; i++)
        ck_assert_int_lt(strcmp(r.words[i - 1], r.words[i]), 0); /* sorted, distinct */
    int lengths[] = {1500, 2301};
    for (int task = 0; task < RULER_N_TASKS; task++)
        for (int li = 0; li < 2; li++) {
            ruler_sample a, b, c, d;
            int len = lengths[li];
            ck_assert_msg(ruler_build(&r, task, len, 0, &a, err, sizeof err) == 0, "%s: %s", ruler_task_name(task), err);
            ck_assert_msg(ruler_build(&r, task, len, 0, &b, err, sizeof err) == 0, "%s", err);
            ck_assert_msg(ruler_build(&r2, task, len, 0, &c, err, sizeof err) == 0, "%s", err);
            ck_assert_msg(ruler_build(&r, task, len, 1, &d, err, sizeof err) == 0, "%s", err);
            ck_assert_int_eq(a.n, len);
            ck_assert_int_eq(c.n, len);
            ck_assert_int_eq(d.n, len);
            ck_assert_int_eq(b.n, a.n);
            ck_assert_int_eq(memcmp(a.ids, b.ids, (size_t)a.n * sizeof *a.ids), 0);
            ck_assert_msg(memcmp(a.ids, c.ids, (size_t)a.n * sizeof *a.ids) != 0, "%s: seed 43 = seed 42",
                          ruler_task_name(task));
            ck_assert_msg(memcmp(a.ids, d.ids, (size_t)a.n * sizeof *a.ids) != 0, "%s: sample 1 = sample 0",
                          ruler_task_name(task));
            ck_assert_int_eq(a.n_expected, b.n_expected);
            int want_expected[RULER_N_TASKS] = {1, 1, 1, RULER_NEEDLES, RULER_NEEDLES, RULER_VT_HOPS + 1,
                                                RULER_CWE_COMMON};
            ck_assert_int_eq(a.n_expected, want_expected[task]);
            char *text = detok(m, a.ids, a.n);
            for (int e = 0; e < a.n_expected; e++) {
                ck_assert_str_eq(a.expected[e], b.expected[e]);
                ck_assert_msg(strstr(text, a.expected[e]), "%s: '%s' not in the prompt", ruler_task_name(task),
                              a.expected[e]);
            }
            for (int s = 0; s < a.n_spans; s++) { /* each answer-bearing line lies inside the prompt, in order */
                ck_assert_int_ge(a.at[s], s ? a.at[s - 1] + a.len[s - 1] : 0);
                ck_assert_int_le(a.at[s] + a.len[s], a.n);
            }
            if (task != ruler_task_from_name("cwe")) { /* every expected string is in some span's text */
                for (int e = 0; e < a.n_expected; e++) {
                    int found = 0;
                    for (int s = 0; s < a.n_spans && !found; s++) {
                        char *span = detok(m, a.ids + a.at[s], a.len[s]);
                        found = strstr(span, a.expected[e]) != NULL;
                        gemcl_free(span);
                    }
                    ck_assert_msg(found, "%s: '%s' in no span", ruler_task_name(task), a.expected[e]);
                }
            } else { /* cwe: no spans; each common word is listed more than once */
                ck_assert_int_eq(a.n_spans, 0);
                for (int e = 0; e < a.n_expected; e++) {
                    char item[64];
                    snprintf(item, sizeof item, ". %s ", a.expected[e]);
                    ck_assert_int_ge(test_count_substr(text, item), 2);
                }
            }
            const char *tail = task == ruler_task_from_name("vt")    ? "they are: "
                               : task == ruler_task_from_name("cwe") ? "appear most often in the list are:"
                                                                     : "mentioned in the provided text";
            ck_assert_msg(strstr(text + strlen(text) - 200, tail), "%s: the prompt ends '%s'", ruler_task_name(task),
                          text + strlen(text) - 200);
            gemcl_free(text);
            ruler_sample_free(&a), ruler_sample_free(&b), ruler_sample_free(&c), ruler_sample_free(&d);
        }
    /* too short for the template: one line naming the task */
    ruler_sample s;
    ck_assert_int_ne(ruler_build(&r, 0, 50, 0, &s, err, sizeof err), 0);
    ck_assert_msg(strstr(err, "niah_single_essay") && strstr(err, "length 50"), "%s", err);
    ruler_free(&r);
    ruler_free(&r2);
    gemcl_model_free(m);
}
END_TEST

/* The model RULER is run on (Qwen2.5's byte-level BPE, no BOS, its ChatML template): each task's prompt at 4096
 * is exactly 4096 ids, opens with the chat frame and holds its answers. */
START_TEST(qwen_prompts_are_exact_in_its_tokens_with_its_chat_template) {
    const char *gguf = test_qwen_gguf(), *essays = test_shared_path(ESSAYS);
    if (!gguf || test_skip_if_missing(essays, ESSAYS))
        return;
    gemcl_model_params mp = gemcl_model_default_params();
    gemcl_model *m = NULL;
    char err[1024];
    ck_assert_msg(gemcl_model_load(gguf, &mp, &m, err, sizeof err) == GEMCL_OK, "%s", err);
    ruler_ctx r;
    ck_assert_msg(ruler_init(&r, m, essays, "model", 42, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(r.base.prompt_template, "chat:chatml");
    int32_t *head;
    int n_head;
    ck_assert(gemcl_tokenize(m, "<|im_start|>user\n", 17, 0, 1, &head, &n_head, err, sizeof err) == GEMCL_OK);
    for (int task = 0; task < RULER_N_TASKS; task++) {
        ruler_sample a;
        ck_assert_msg(ruler_build(&r, task, 4096, 0, &a, err, sizeof err) == 0, "%s: %s", ruler_task_name(task), err);
        ck_assert_int_eq(a.n, 4096);
        ck_assert_int_eq(memcmp(a.ids, head, (size_t)n_head * sizeof *head), 0);
        char *text = detok(m, a.ids, a.n);
        for (int e = 0; e < a.n_expected; e++)
            ck_assert_msg(strstr(text, a.expected[e]), "%s: '%s' not in the prompt", ruler_task_name(task),
                          a.expected[e]);
        gemcl_free(text);
        ruler_sample_free(&a);
    }
    gemcl_free(head);
    ruler_free(&r);
    gemcl_model_free(m);
}
END_TEST

/* ---- a tiny grid: files that parse, resume ---- */

static void check_ruler_jsonl(const char *dir, int want_lines, int length) {
    char path[4400];
    snprintf(path, sizeof path, "%s/results.jsonl", dir);
    char *text = test_read_text(path);
    int lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        cJSON *o = cJSON_Parse(line);
        ck_assert_msg(cJSON_IsObject(o), "bad JSON line: %s", line);
        const char *keys[] = {"task", "length", "method", "ratio", "budget", "sample", "score", "answer", "expected",
                              "ttft_ms", "n_prompt_tokens", "template"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            ck_assert_msg(cJSON_GetObjectItem(o, keys[k]), "no '%s' in %s", keys[k], line);
        double ratio = cJSON_GetObjectItem(o, "ratio")->valuedouble;
        int budget = cJSON_GetObjectItem(o, "budget")->valueint;
        ck_assert_int_eq(cJSON_GetObjectItem(o, "n_prompt_tokens")->valueint, length);
        ck_assert_int_eq(budget, (int)lround((1 - ratio) * length));
        if (strcmp(cJSON_GetObjectItem(o, "method")->valuestring, "full") == 0)
            ck_assert_double_eq(ratio, 0);
        const cJSON *score = cJSON_GetObjectItem(o, "score");
        ck_assert(cJSON_IsNumber(score) && score->valuedouble >= 0 && score->valuedouble <= 1);
        ck_assert(cJSON_IsArray(cJSON_GetObjectItem(o, "expected")));
        ck_assert_int_ge(cJSON_GetArraySize(cJSON_GetObjectItem(o, "expected")), 1);
        cJSON_Delete(o);
    }
    ck_assert_int_eq(lines, want_lines);
    free(text);
}

static void check_ruler_csv(const char *dir, int want_rows) {
    char path[4400];
    snprintf(path, sizeof path, "%s/results.csv", dir);
    char *text = test_read_text(path);
    int rows = 0, header_cols = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), rows++) {
        int cols = 1, quoted = 0;
        for (const char *p = line; *p; p++) {
            if (*p == '"')
                quoted = !quoted;
            else if (*p == ',' && !quoted)
                cols++;
        }
        ck_assert_msg(!quoted, "unbalanced quotes: %s", line);
        if (rows == 0) {
            header_cols = cols;
            ck_assert_ptr_nonnull(strstr(line, "task,template,method,length,ratio,budget,sample,score,answer,expected"));
        }
        ck_assert_int_eq(cols, header_cols);
    }
    ck_assert_int_eq(rows, want_rows + 1);
    free(text);
}

/* summary.json: one entry per (method, ratio) in order, each with its tasks; ruler.svg: one point per entry, one
 * line per method, balanced tags. */
static void check_ruler_summary_svg(const char *dir, int n_tasks) {
    char path[4400];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    char *text = test_read_text(path);
    cJSON *root = cJSON_Parse(text);
    ck_assert(cJSON_IsObject(root));
    const cJSON *ms = cJSON_GetObjectItem(root, "methods");
    const char *want_method[] = {"full", "gemfilter", "gemfilter", "streamingllm", "streamingllm"};
    double want_ratio[] = {0, 0.5, 0.75, 0.5, 0.75};
    ck_assert_int_eq(cJSON_GetArraySize(ms), 5);
    for (int i = 0; i < 5; i++) {
        const cJSON *g = cJSON_GetArrayItem(ms, i);
        ck_assert_str_eq(cJSON_GetObjectItem(g, "method")->valuestring, want_method[i]);
        ck_assert_double_eq(cJSON_GetObjectItem(g, "ratio")->valuedouble, want_ratio[i]);
        ck_assert_int_eq(cJSON_GetObjectItem(g, "n_cells")->valueint, 2 * n_tasks); /* 2 samples per task */
        ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(g, "per_task")), n_tasks);
        /* the mean is the mean of the task means */
        double sum = 0;
        const cJSON *t;
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(g, "per_task")) sum += t->valuedouble;
        ck_assert_double_eq_tol(cJSON_GetObjectItem(g, "mean_score")->valuedouble, sum / n_tasks, 1e-9);
    }
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(root, "tasks")), 5 * n_tasks);
    cJSON_Delete(root);
    free(text);
    snprintf(path, sizeof path, "%s/ruler.svg", dir);
    char *svg = test_read_text(path);
    ck_assert_ptr_nonnull(strstr(svg, "<svg"));
    ck_assert_ptr_nonnull(strstr(svg, "</svg>\n"));
    ck_assert_int_eq(test_count_substr(svg, "class=\"point\""), 5);
    ck_assert_int_eq(test_count_substr(svg, "class=\"line\""), 3);
    ck_assert_int_eq(test_count_substr(svg, "class=\"full\""), 1);
    ck_assert_int_eq(test_count_substr(svg, "class=\"legend\""), 3);
    ck_assert_int_eq(test_count_substr(svg, "<title>"), test_count_substr(svg, "</title>"));
    ck_assert_int_eq(test_count_substr(svg, "<text"), test_count_substr(svg, "</text>"));
    ck_assert_int_eq(test_count_substr(svg, "<circle"), test_count_substr(svg, "</circle>"));
    free(svg);
}

/* Drops the last n lines of the JSONL and leaves half a line behind, as an interrupted run would. */
static void interrupt_jsonl(const char *dir, int n) {
    char path[4400];
    snprintf(path, sizeof path, "%s/results.jsonl", dir);
    char *text = test_read_text(path);
    size_t len = strlen(text);
    for (int i = 0; i < n; i++) {
        len--;
        while (len > 0 && text[len - 1] != '\n')
            len--;
    }
    FILE *f = fopen(path, "wb");
    fwrite(text, 1, len, f);
    fputs("{\"task\":\"vt\",\"method\":\"stream", f);
    fclose(f);
    free(text);
}

START_TEST(ruler_grid_writes_files_that_parse_and_resumes) {
    const char *model_path = test_shared_path(STORIES), *essays = test_shared_path(ESSAYS);
    if (test_skip_if_missing(model_path, STORIES) || test_skip_if_missing(essays, ESSAYS))
        return;
    gemcl_model *m = load_stories();
    gemcl_context *ctx = test_api_context(m, 0, 0);
    char err[1024], dir[] = "/tmp/gemcl-ruler-XXXXXX", out[4200];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/out", dir);
    ruler_ctx r;
    ck_assert_msg(ruler_init(&r, m, essays, NULL, 7, err, sizeof err) == 0, "%s", err);
    int tasks[2] = {ruler_task_from_name("niah_single_essay"), ruler_task_from_name("vt")}, lengths[1] = {480};
    const char *methods[] = {"full", "gemfilter", "streamingllm"};
    double ratios[] = {0.5, 0.75};
    ruler_run_opts o = {tasks, 2, lengths, 1, 2, methods, 3, ratios, 2, 0, 2, 2, out, 0, 1};
    eval_run_stats st;
    ck_assert_msg(ruler_run(&r, ctx, &o, &st, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(st.n_cells, 20); /* 2 tasks x 2 samples x (full once + 2 methods x 2 ratios) */
    ck_assert_int_eq(st.n_run, 20);
    ck_assert_int_eq(st.n_errors, 0);
    check_ruler_jsonl(out, 20, 480);
    check_ruler_csv(out, 20);
    check_ruler_summary_svg(out, 2);
    /* a second run without --resume refuses to mix with the old file */
    ck_assert_int_ne(ruler_run(&r, ctx, &o, &st, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "--resume"));
    /* resume: nothing left */
    o.resume = 1;
    ck_assert_msg(ruler_run(&r, ctx, &o, &st, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(st.n_run, 0);
    ck_assert_int_eq(st.n_skipped, 20);
    /* interrupted: the 3 cells that never made it run again */
    interrupt_jsonl(out, 3);
    ck_assert_msg(ruler_run(&r, ctx, &o, &st, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(st.n_run, 3);
    ck_assert_int_eq(st.n_skipped, 17);
    check_ruler_jsonl(out, 20, 480);
    check_ruler_summary_svg(out, 2);
    /* a new ratio adds its cells only */
    double more[] = {0.5, 0.75, 0.875};
    o.ratios = more, o.n_ratios = 3;
    ck_assert_msg(ruler_run(&r, ctx, &o, &st, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(st.n_run, 2 * 2 * 2);
    ck_assert_int_eq(st.n_skipped, 20);
    ruler_free(&r);
    /* the same directory with another prompt template is refused */
    ck_assert_msg(ruler_init(&r, m, essays, "chatml", 7, err, sizeof err) == 0, "%s", err);
    ck_assert_int_ne(ruler_run(&r, ctx, &o, &st, err, sizeof err), 0);
    ck_assert_msg(strstr(err, "template"), "%s", err);
    ruler_free(&r);
    gemcl_context_free(ctx);
    gemcl_model_free(m);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(cli_eval_ruler_runs_and_rejects_bad_input) {
    const char *model_path = test_shared_path(STORIES), *essays = test_shared_path(ESSAYS);
    if (test_skip_if_missing(model_path, STORIES) || test_skip_if_missing(essays, ESSAYS))
        return;
    char dir[] = "/tmp/gemcl-ruler-cli-XXXXXX", args[8192], out[8192];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(args, sizeof args, "eval ruler -m %s --haystack %s --lengths 480 --tasks vt --method full,snapkv "
             "--budget 200 -n 2 --template raw -q -o %s/cli", model_path, essays, dir);
    ck_assert_msg(test_run_cli(args, true, out, sizeof out) == 0, "%s", out);
    ck_assert_msg(strstr(out, "snapkv") && strstr(out, "ruler.svg"), "%s", out);
    char path[4400];
    snprintf(path, sizeof path, "%s/cli/results.jsonl", dir);
    char *text = test_read_text(path);
    ck_assert_int_eq(test_count_substr(text, "\n"), 2);
    ck_assert_ptr_nonnull(strstr(text, "\"budget\":200")); /* the fixed budget, ratio 1 - 200 / 480 */
    free(text);
    /* bad flags: one line naming what, exit != 0 */
    const struct {
        const char *args, *want;
    } bad[] = {
        {"--ratio 1", "--ratio"},          {"--ratio 1.5", "--ratio"},       {"--ratio 0.5,", "--ratio"},
        {"--ratio abc", "--ratio"},        {"--tasks bogus", "bogus"},       {"--method nosuch", "nosuch"},
        {"--template xml", "--template"}, {"--budget 64 --ratio 0.5", "not both"}, {"--samples 0", "--samples"},
        {"--lengths 1:2", "--lengths"},    {"--frobnicate", "--frobnicate"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(args, sizeof args, "eval ruler -m %s --haystack %s -o %s/bad %s", model_path, essays, dir,
                 bad[i].args);
        ck_assert_int_ne(test_run_cli(args, true, out, sizeof out), 0);
        ck_assert_msg(strncmp(out, "gemcl: ", 7) == 0 && strstr(out, bad[i].want) && test_count_substr(out, "\n") == 1,
                      "%s: %s", bad[i].args, out);
    }
    ck_assert_int_ne(test_run_cli("eval nosuch", true, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "nosuch"), "%s", out);
    snprintf(args, sizeof args, "eval ruler --lengths 480");
    ck_assert_int_ne(test_run_cli(args, true, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "-m MODEL"), "%s", out);
    ck_assert_int_eq(access(path, F_OK), 0);
    snprintf(args, sizeof args, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(args), 0);
}
END_TEST

Suite *suite_eval(void) {
    Suite *s = suite_create("eval");
    TCase *tc = tcase_create("ruler");
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, ruler_score_is_the_fraction_of_expected_strings_found);
    tcase_add_test(tc, tasks_parse_by_name_or_all);
    tcase_add_test(tc, needles_go_after_the_previous_period_in_order);
    tcase_add_test(tc, generators_are_deterministic_exact_and_hold_their_answers);
    tcase_add_test(tc, qwen_prompts_are_exact_in_its_tokens_with_its_chat_template);
    tcase_add_test(tc, ruler_grid_writes_files_that_parse_and_resumes);
    tcase_add_test(tc, cli_eval_ruler_runs_and_rejects_bad_input);
    suite_add_tcase(s, tc);
    return s;
}
