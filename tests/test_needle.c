/* test_needle.c - the needle-in-a-haystack harness (tools/eval, gemcl needle, gemcl calibrate): haystack built
 * exactly in tokens, METHODS.md's scores, the JSONL/CSV/SVG outputs, resume, and the calibration card. The model
 * is stories260K, which cannot retrieve anything: the end-to-end tests check plumbing, never scores or time. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gemcl.h"
#include "../tools/eval/eval.h"
#include "harness.h"
#include "model/card.h"

#define STORIES "models/stories260K/stories260K.bin"
#define ESSAYS "data/paul-graham-essays"

static char *temp_dir(void) {
    char *d = strdup("/tmp/gemcl-needle-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(d));
    return d;
}

static void remove_tree(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *dir, const char *name, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* Runs the built gemcl with args; returns the exit status; stderr's first line goes to errline. */
static int run_cli(const char *args, char *errline, size_t cap) {
    char cmd[8192], errfile[] = "/tmp/gemcl-needle-err-XXXXXX";
    int fd = mkstemp(errfile);
    ck_assert_int_ge(fd, 0);
    close(fd);
    snprintf(cmd, sizeof cmd, "%s/tools/gemcl %s >/dev/null 2>%s", test_build_dir(), args, errfile);
    int status = system(cmd);
    char *err = test_read_text(errfile);
    remove(errfile);
    snprintf(errline, cap, "%s", err);
    char *nl = strchr(errline, '\n');
    if (nl)
        *nl = '\0';
    free(err);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- pure helpers ---- */

START_TEST(grids_are_rounded_linspace_or_lists) {
    int *v, n;
    char err[256];
    ck_assert_int_eq(eval_parse_depths("10", &v, &n, err, sizeof err), 0);
    int want[] = {0, 11, 22, 33, 44, 56, 67, 78, 89, 100}; /* numpy.round(numpy.linspace(0, 100, 10)) */
    ck_assert_int_eq(n, 10);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(v[i], want[i]);
    free(v);
    ck_assert_int_eq(eval_parse_grid("1000:32000:8", 1, 1 << 30, &v, &n, err, sizeof err), 0);
    int want_len[] = {1000, 5429, 9857, 14286, 18714, 23143, 27571, 32000};
    ck_assert_int_eq(n, 8);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(v[i], want_len[i]);
    free(v);
    ck_assert_int_eq(eval_parse_grid("1000,2000,1000", 1, 1 << 30, &v, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(v[1], 2000);
    free(v);
    const char *bad[] = {"", "abc", "1000:", "5:1:3", "1,,2", "1:10:0", "10x", "0,50,101"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(eval_parse_grid(bad[i], 1, 100, &v, &n, err, sizeof err) != 0, "'%s' accepted", bad[i]);
        ck_assert_ptr_null(v);
        ck_assert_msg(strlen(err) > 0, "no message for '%s'", bad[i]);
    }
}
END_TEST

START_TEST(needle_score_is_word_set_overlap_over_twelve) {
    const char *e = EVAL_EXPECTED;
    ck_assert_double_eq_tol(eval_score_needle("eat a sandwich and sit in dolores park on a sunny day.", e), 11.0 / 12,
                            1e-12); /* the ceiling: 'a' appears twice in the answer but once in a set */
    ck_assert_double_eq_tol(eval_score_needle("The best thing: EAT A SANDWICH", e), 3.0 / 12, 1e-12);   /* case */
    ck_assert_double_eq_tol(eval_score_needle("sandwich sandwich sandwich", e), 1.0 / 12, 1e-12);       /* repeats */
    ck_assert_double_eq_tol(eval_score_needle("Dolores Park.", e), 1.0 / 12, 1e-12); /* "park." != "park" */
    ck_assert_double_eq_tol(eval_score_needle("a sunny day.", e), 3.0 / 12, 1e-12);  /* "day." matches "day." */
    ck_assert_double_eq_tol(eval_score_needle("a sunny day", e), 2.0 / 12, 1e-12);
    ck_assert_double_eq_tol(eval_score_needle("\tsunny\n\nday.\r\n", e), 2.0 / 12, 1e-12); /* any whitespace */
    ck_assert_double_eq_tol(eval_score_needle("sandwich, park", e), 1.0 / 12, 1e-12);       /* "sandwich," no */
    ck_assert_double_eq(eval_score_needle("", e), 0.0);
    ck_assert_double_eq(eval_score_needle(NULL, e), 0.0);
}
END_TEST

START_TEST(passkey_score_is_exact_match_of_the_number) {
    ck_assert_double_eq(eval_score_passkey("12345", 12345), 1.0);
    ck_assert_double_eq(eval_score_passkey(" 12345. Remember it.", 12345), 1.0);
    ck_assert_double_eq(eval_score_passkey("The pass key is 12345 and 999", 12345), 1.0);
    ck_assert_double_eq(eval_score_passkey("123456", 12345), 0.0);
    ck_assert_double_eq(eval_score_passkey("1234", 12345), 0.0);
    ck_assert_double_eq(eval_score_passkey("54321", 12345), 0.0);
    ck_assert_double_eq(eval_score_passkey("no number", 12345), 0.0);
    ck_assert_double_eq(eval_score_passkey("", 12345), 0.0);
    int k = eval_passkey(42, 1000, 50);
    ck_assert_int_eq(k, eval_passkey(42, 1000, 50)); /* reproducible */
    ck_assert_int_ge(k, 10000);
    ck_assert_int_le(k, 99999);
    ck_assert_int_ne(k, eval_passkey(43, 1000, 50));
}
END_TEST

static int period_is_7(int32_t id, void *user) {
    (void)user;
    return id == 7;
}

START_TEST(needle_goes_just_after_the_previous_period) {
    /* haystack 100..199 with periods (id 7) at positions 9, 29 and 59 */
    int32_t hay[100], needle[3] = {1, 2, 3}, out[60];
    for (int i = 0; i < 100; i++)
        hay[i] = 100 + i;
    hay[9] = hay[29] = hay[59] = 7;
    char err[256];
    struct { int depth, at; } cases[] = {{0, 0}, {10, 0}, {50, 10}, {60, 30}, {99, 30}, {100, 57}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int at = -1;
        ck_assert_int_eq(eval_insert_needle(hay, 100, needle, 3, 60, cases[c].depth, period_is_7, NULL, out, &at, err,
                                            sizeof err), 0);
        ck_assert_msg(at == cases[c].at, "depth %d: needle at %d, want %d", cases[c].depth, at, cases[c].at);
        /* exactly 60 tokens: the first 57 haystack tokens in order, the needle inside */
        for (int i = 0, h = 0; i < 60; i++)
            ck_assert_int_eq(out[i], i >= at && i < at + 3 ? needle[i - at] : hay[h++]);
        ck_assert(at == 0 || at == 57 || out[at - 1] == 7);
    }
    int at;
    ck_assert_int_ne(eval_insert_needle(hay, 10, needle, 3, 60, 50, period_is_7, NULL, out, &at, err, sizeof err), 0);
    ck_assert_int_ne(eval_insert_needle(hay, 100, needle, 3, 3, 50, period_is_7, NULL, out, &at, err, sizeof err), 0);
}
END_TEST

START_TEST(haystack_files_are_read_in_sorted_order) {
    char *dir = temp_dir(), err[512], *text;
    size_t len;
    write_file(dir, "b.txt", "second. ");
    write_file(dir, "a.txt", "first. ");
    write_file(dir, "c.md", "not a txt file. ");
    write_file(dir, "10.txt", "zeroth. ");
    ck_assert_int_eq(eval_haystack_read(dir, &text, &len, err, sizeof err), 0);
    ck_assert_str_eq(text, "zeroth. first. second. ");
    ck_assert_uint_eq(len, strlen(text));
    free(text);
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/nope", dir);
    ck_assert_int_ne(eval_haystack_read(missing, &text, &len, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "nope"));
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- with the model ---- */

static gemcl_model *load_model(void) {
    gemcl_model_params mp = gemcl_model_default_params();
    gemcl_model *m = NULL;
    char err[1024];
    ck_assert_msg(gemcl_model_load(test_shared_path(STORIES), &mp, &m, err, sizeof err) == GEMCL_OK, "%s", err);
    return m;
}

static int token_is_period(gemcl_model *m, int32_t id) {
    char *text = NULL, err[256];
    size_t len;
    ck_assert_int_eq(gemcl_detokenize(m, &id, 1, &text, &len, err, sizeof err), GEMCL_OK);
    size_t a = 0, b = len; /* the harness's rule: the token's text, whitespace trimmed, is "." */
    while (a < b && strchr(" \t\n\r", text[a]))
        a++;
    while (b > a && strchr(" \t\n\r", text[b - 1]))
        b--;
    int yes = b - a == 1 && text[a] == '.';
    gemcl_free(text);
    return yes;
}

START_TEST(prompts_are_exact_in_tokens_at_the_right_depth) {
    const char *model_path = test_shared_path(STORIES), *essays = test_shared_path(ESSAYS);
    if (test_skip_if_missing(model_path, STORIES) || test_skip_if_missing(essays, ESSAYS))
        return;
    gemcl_model *m = load_model();
    eval_task_params tp = {EVAL_TASK_NEEDLE, essays, NULL, NULL, NULL, NULL, 42, NULL};
    eval_task t;
    char err[1024];
    ck_assert_msg(eval_task_init(&t, m, &tp, err, sizeof err) == 0, "%s", err);
    /* the haystack starts with the first essay in sorted order (addiction.txt) */
    char *first = NULL, path[4200];
    snprintf(path, sizeof path, "%s/addiction.txt", essays);
    first = test_read_text(path);
    int32_t *ids;
    int n;
    ck_assert_int_eq(gemcl_tokenize(m, first, 400, 0, 0, &ids, &n, err, sizeof err), GEMCL_OK);
    ck_assert_int_ge(t.n_hay, 1000);
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(t.hay[i], ids[i]);
    gemcl_free(ids);
    free(first);
    int lengths[] = {300, 777, 2000}, depths[] = {0, 33, 50, 100};
    for (int li = 0; li < 3; li++)
        for (int di = 0; di < 4; di++) {
            eval_prompt p, q;
            ck_assert_msg(eval_build_prompt(&t, lengths[li], depths[di], &p, err, sizeof err) == 0, "%s", err);
            ck_assert_int_eq(p.n, t.n_prefix + lengths[li] - EVAL_BUFFER_TOKENS + t.n_suffix);
            ck_assert_int_eq(memcmp(p.ids, t.prefix, (size_t)t.n_prefix * sizeof *p.ids), 0);
            ck_assert_int_eq(memcmp(p.ids + p.n - t.n_suffix, t.suffix, (size_t)t.n_suffix * sizeof *p.ids), 0);
            ck_assert_int_eq(p.needle_len, t.n_needle);
            ck_assert_int_eq(memcmp(p.ids + p.needle_at, t.needle, (size_t)t.n_needle * sizeof *p.ids), 0);
            int n_keep = lengths[li] - EVAL_BUFFER_TOKENS - t.n_needle, at = p.needle_at - t.n_prefix;
            if (depths[di] == 100) {
                ck_assert_int_eq(at, n_keep);
            } else {
                ck_assert_int_le(at, (int)(n_keep * (depths[di] / 100.0)));
                ck_assert(at == 0 || token_is_period(m, p.ids[p.needle_at - 1]));
                for (int j = at + 1; j <= (int)(n_keep * (depths[di] / 100.0)); j++) /* nothing nearer qualifies */
                    ck_assert(!token_is_period(m, t.hay[j - 1]) || j == at);
            }
            ck_assert_msg(eval_build_prompt(&t, lengths[li], depths[di], &q, err, sizeof err) == 0, "%s", err);
            ck_assert_int_eq(q.n, p.n);
            ck_assert_int_eq(memcmp(q.ids, p.ids, (size_t)p.n * sizeof *p.ids), 0); /* deterministic */
            eval_prompt_free(&p);
            eval_prompt_free(&q);
        }
    eval_prompt p;
    ck_assert_int_ne(eval_build_prompt(&t, 210, 50, &p, err, sizeof err), 0); /* no room for the needle */
    eval_task_free(&t);
    /* passkey: the key line sits inside, and the same cell gets the same key */
    tp.kind = EVAL_TASK_PASSKEY;
    ck_assert_msg(eval_task_init(&t, m, &tp, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(eval_build_prompt(&t, 500, 50, &p, err, sizeof err), 0);
    ck_assert_int_eq(p.passkey, eval_passkey(42, 500, 50));
    char *text;
    size_t len;
    ck_assert_int_eq(gemcl_detokenize(m, p.ids + p.needle_at, p.needle_len, &text, &len, err, sizeof err), GEMCL_OK);
    char want[64];
    snprintf(want, sizeof want, "The pass key is %05d. Remember it. %05d is the pass key.", p.passkey, p.passkey);
    ck_assert_msg(strstr(text, want) != NULL, "key line '%s' not in '%s'", want, text);
    gemcl_free(text);
    ck_assert_int_eq(p.n, t.n_prefix + 300 + t.n_suffix);
    eval_prompt_free(&p);
    eval_task_free(&t);
    gemcl_model_free(m);
}
END_TEST

START_TEST(generate_tokens_equals_generate_on_the_same_ids) {
    const char *model_path = test_shared_path(STORIES);
    if (test_skip_if_missing(model_path, STORIES))
        return;
    gemcl_model *m = load_model();
    gemcl_context_params cp = gemcl_context_default_params();
    gemcl_context *ctx = NULL;
    char err[1024];
    ck_assert_int_eq(gemcl_context_create(m, &cp, &ctx, err, sizeof err), GEMCL_OK);
    const char *prompt = "Once upon a time, there was a little girl named Lily. She loved to play outside. One day";
    int32_t *ids;
    int n;
    ck_assert_int_eq(gemcl_tokenize(m, prompt, strlen(prompt), -1, 0, &ids, &n, err, sizeof err), GEMCL_OK);
    for (int method = GEMCL_METHOD_FULL; method <= GEMCL_METHOD_GEMFILTER; method++) {
        gemcl_generate_params g = gemcl_generate_default_params();
        g.max_tokens = 12;
        g.method.method = (gemcl_method)method;
        g.method.budget = 8;
        gemcl_result a, b;
        ck_assert_int_eq(gemcl_generate(ctx, prompt, strlen(prompt), &g, &a), GEMCL_OK);
        ck_assert_int_eq(gemcl_generate_tokens(ctx, ids, n, &g, &b), GEMCL_OK);
        ck_assert_str_eq(a.text, b.text);
        ck_assert_int_eq(a.n_prompt_tokens, b.n_prompt_tokens);
        ck_assert_int_eq(a.n_kept_tokens, b.n_kept_tokens);
        ck_assert_int_eq(a.kept_indices == NULL, b.kept_indices == NULL);
        if (a.kept_indices)
            ck_assert_int_eq(memcmp(a.kept_indices, b.kept_indices, (size_t)a.n_kept_tokens * sizeof(int32_t)), 0);
        gemcl_result_free(&a);
        gemcl_result_free(&b);
    }
    gemcl_result r;
    gemcl_generate_params g = gemcl_generate_default_params();
    ids[1] = 512; /* outside stories260K's vocabulary */
    ck_assert_int_eq(gemcl_generate_tokens(ctx, ids, n, &g, &r), GEMCL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(gemcl_context_last_error(ctx), "id 512"));
    ck_assert_int_eq(gemcl_generate_tokens(ctx, ids, 0, &g, &r), GEMCL_ERR_INVALID_ARG);
    gemcl_free(ids);
    gemcl_context_free(ctx);
    gemcl_model_free(m);
}
END_TEST

/* Checks one parsed JSONL cell against the rules; returns 1 if it is an error cell. */
static int check_json_cell(const cJSON *o) {
    const cJSON *method = cJSON_GetObjectItem(o, "method"), *surv = cJSON_GetObjectItem(o, "needle_survived");
    ck_assert(cJSON_IsString(method));
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(o, "length")) && cJSON_IsNumber(cJSON_GetObjectItem(o, "depth")));
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(o, "ttft_ms")));
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(o, "peak_device_bytes")));
    if (cJSON_GetObjectItem(o, "error")) {
        ck_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "score")));
        return 1;
    }
    double score = cJSON_GetObjectItem(o, "score")->valuedouble;
    ck_assert(score >= 0 && score <= 11.0 / 12 + 1e-9);
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(o, "response")));
    if (strcmp(method->valuestring, "full") == 0) {
        ck_assert(cJSON_IsNull(surv));
        return 0;
    }
    /* needle_survived must agree with the kept indices */
    int at = cJSON_GetObjectItem(o, "needle_at")->valueint, len = cJSON_GetObjectItem(o, "needle_len")->valueint;
    const cJSON *kept = cJSON_GetObjectItem(o, "kept_indices");
    ck_assert(cJSON_IsArray(kept));
    ck_assert_int_eq(cJSON_GetArraySize(kept), cJSON_GetObjectItem(o, "budget")->valueint);
    ck_assert_int_eq(cJSON_GetArraySize(kept), cJSON_GetObjectItem(o, "n_kept_tokens")->valueint);
    int inside = 0, prev = -1;
    for (const cJSON *k = kept->child; k; k = k->next) {
        ck_assert_int_gt(k->valueint, prev);
        prev = k->valueint;
        inside += k->valueint >= at && k->valueint < at + len;
    }
    ck_assert(cJSON_IsBool(surv));
    ck_assert_int_eq(cJSON_IsTrue(surv), inside == len);
    ck_assert_int_eq(cJSON_GetObjectItem(o, "needle_kept")->valueint, inside);
    return 0;
}

/* Every line of the JSONL parses; returns the number of lines and counts error cells. */
static int check_jsonl(const char *dir, int *n_errors) {
    char path[4400];
    snprintf(path, sizeof path, "%s/results.jsonl", dir);
    char *text = test_read_text(path);
    int lines = 0;
    *n_errors = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        ck_assert_msg(cJSON_IsObject(o), "bad JSON line: %s", line);
        *n_errors += check_json_cell(o);
        cJSON_Delete(o);
        lines++;
    }
    free(text);
    return lines;
}

/* Columns of one CSV record with RFC 4180 quotes. */
static int csv_columns(const char *line) {
    int cols = 1, quoted = 0;
    for (const char *p = line; *p; p++) {
        if (*p == '"')
            quoted = !quoted;
        else if (*p == ',' && !quoted)
            cols++;
    }
    ck_assert_msg(!quoted, "unbalanced quotes: %s", line);
    return cols;
}

static void check_csv(const char *dir, int want_rows) {
    char path[4400];
    snprintf(path, sizeof path, "%s/results.csv", dir);
    char *text = test_read_text(path);
    int rows = 0, header_cols = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), rows++) {
        int cols = csv_columns(line);
        if (rows == 0) {
            header_cols = cols;
            ck_assert_ptr_nonnull(strstr(line, "method,length,depth,score,response,ttft_ms,peak_device_bytes"));
            ck_assert_ptr_nonnull(strstr(line, "needle_survived"));
        }
        ck_assert_int_eq(cols, header_cols);
    }
    ck_assert_int_eq(rows, want_rows + 1);
    free(text);
}

static void check_svg(const char *dir, int want_cells) {
    char path[4400];
    snprintf(path, sizeof path, "%s/heatmap.svg", dir);
    char *svg = test_read_text(path);
    ck_assert_ptr_nonnull(strstr(svg, "<svg"));
    ck_assert_ptr_nonnull(strstr(svg, "</svg>\n"));
    ck_assert_int_eq(test_count_substr(svg, "class=\"cell\""), want_cells);
    ck_assert_int_eq(test_count_substr(svg, "<title>"), want_cells);
    ck_assert_int_eq(test_count_substr(svg, "<title>"), test_count_substr(svg, "</title>"));
    ck_assert_int_eq(test_count_substr(svg, "<text"), test_count_substr(svg, "</text>"));
    ck_assert_int_eq(test_count_substr(svg, "<rect class=\"cell\""), test_count_substr(svg, "</rect>"));
    ck_assert_ptr_nonnull(strstr(svg, ">full (mean "));
    ck_assert_ptr_nonnull(strstr(svg, ">gemfilter (mean "));
    ck_assert_int_eq(test_count_substr(svg, "class=\"bar\""), 20); /* the colour bar */
    free(svg);
}

/* Drops the last n lines of the JSONL and leaves half a line behind, as an interrupted run would. */
static void interrupt_jsonl(const char *dir, int n) {
    char path[4400];
    snprintf(path, sizeof path, "%s/results.jsonl", dir);
    char *text = test_read_text(path);
    size_t len = strlen(text);
    for (int i = 0; i < n; i++) { /* back to the start of the n-th line from the end */
        len--;
        while (len > 0 && text[len - 1] != '\n')
            len--;
    }
    FILE *f = fopen(path, "wb");
    fwrite(text, 1, len, f);
    fputs("{\"task\":\"needle\",\"method\":\"gemf", f);
    fclose(f);
    free(text);
}

START_TEST(grid_writes_jsonl_csv_svg_and_resumes) {
    const char *model_path = test_shared_path(STORIES), *essays = test_shared_path(ESSAYS);
    if (test_skip_if_missing(model_path, STORIES) || test_skip_if_missing(essays, ESSAYS))
        return;
    gemcl_model *m = load_model();
    gemcl_context_params cp = gemcl_context_default_params(); /* 512 rows: full attention at 700 cannot run */
    gemcl_context *ctx = NULL;
    char err[1024];
    ck_assert_int_eq(gemcl_context_create(m, &cp, &ctx, err, sizeof err), GEMCL_OK);
    eval_task_params tp = {EVAL_TASK_NEEDLE, essays, NULL, NULL, NULL, NULL, 42, NULL};
    eval_task t;
    ck_assert_msg(eval_task_init(&t, m, &tp, err, sizeof err) == 0, "%s", err);
    char *dir = temp_dir(), out[4200];
    snprintf(out, sizeof out, "%s/out", dir);
    int lengths[] = {300, 700}, depths[] = {0, 100};
    const char *methods[] = {"full", "gemfilter"};
    eval_run_opts o = {lengths, 2, depths, 2, methods, 2, 2, 128, 8, out, 0, 1, 1};
    eval_run_stats st;
    ck_assert_msg(eval_run_grid(&t, ctx, &o, &st, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(st.n_cells, 8);
    ck_assert_int_eq(st.n_run, 8);
    ck_assert_int_eq(st.n_skipped, 0);
    ck_assert_int_eq(st.n_errors, 2); /* full attention on the 2 cells of length 700 (prompt > 512 rows) */
    int n_errors;
    ck_assert_int_eq(check_jsonl(out, &n_errors), 8);
    ck_assert_int_eq(n_errors, 2);
    check_csv(out, 8);
    check_svg(out, 8);
    char summary_path[4400];
    snprintf(summary_path, sizeof summary_path, "%s/summary.json", out);
    char *summary_text = test_read_text(summary_path);
    cJSON *summary = cJSON_Parse(summary_text);
    const cJSON *ms = cJSON_GetObjectItem(summary, "methods");
    ck_assert_int_eq(cJSON_GetArraySize(ms), 2);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(ms, 0), "method")->valuestring, "full");
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(ms, 0), "n_errors")->valueint, 2);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(ms, 1), "n_cells")->valueint, 4);
    cJSON_Delete(summary);
    free(summary_text);
    /* a second run without --resume refuses to mix with the old file */
    ck_assert_int_ne(eval_run_grid(&t, ctx, &o, &st, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "--resume"));
    /* resume: nothing left to do */
    o.resume = 1;
    ck_assert_msg(eval_run_grid(&t, ctx, &o, &st, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(st.n_run, 0);
    ck_assert_int_eq(st.n_skipped, 8);
    /* an interrupted run: the 3 cells that never made it run again, the others are skipped */
    interrupt_jsonl(out, 3);
    ck_assert_msg(eval_run_grid(&t, ctx, &o, &st, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(st.n_run, 3);
    ck_assert_int_eq(st.n_skipped, 5);
    check_csv(out, 8);
    check_svg(out, 8);
    /* resuming with another budget would mix two experiments: refused */
    o.budget = 96;
    ck_assert_int_ne(eval_run_grid(&t, ctx, &o, &st, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "budget"));
    eval_task_free(&t);
    gemcl_context_free(ctx);
    gemcl_model_free(m);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(cli_needle_and_calibrate_run_and_reject_bad_input) {
    const char *model_path = test_shared_path(STORIES), *essays = test_shared_path(ESSAYS);
    if (test_skip_if_missing(model_path, STORIES) || test_skip_if_missing(essays, ESSAYS))
        return;
    char *dir = temp_dir(), args[8192], line[1024];
    snprintf(args, sizeof args, "needle -m %s --haystack %s --lengths 300 --depths 0,100 --method gemfilter "
             "--budget 64 -n 4 --save-kept -o %s/cli", model_path, essays, dir);
    ck_assert_msg(run_cli(args, line, sizeof line) == 0, "%s", line);
    int n_errors;
    char out[4200];
    snprintf(out, sizeof out, "%s/cli", dir);
    ck_assert_int_eq(check_jsonl(out, &n_errors), 2);
    snprintf(args, sizeof args, "needle -m %s --haystack %s/missing --lengths 300 -o %s/x", model_path, dir, dir);
    ck_assert_int_ne(run_cli(args, line, sizeof line), 0);
    ck_assert_msg(strncmp(line, "gemcl: ", 7) == 0 && strstr(line, "missing"), "%s", line);
    const char *bad_lengths[] = {"abc", "1000:500:3", "100,", "1:2"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(args, sizeof args, "needle -m %s --haystack %s --lengths '%s'", model_path, essays, bad_lengths[i]);
        ck_assert_int_ne(run_cli(args, line, sizeof line), 0);
        ck_assert_msg(strncmp(line, "gemcl: needle: --lengths", 24) == 0, "%s", line);
    }
    snprintf(args, sizeof args, "needle -m %s --haystack %s --method nosuch", model_path, essays);
    ck_assert_int_ne(run_cli(args, line, sizeof line), 0);
    ck_assert_ptr_nonnull(strstr(line, "nosuch"));
    /* calibrate: every layer on one passkey cell, the recommendation written into a card that parses */
    snprintf(args, sizeof args, "calibrate -m %s --lengths 500 --depths 50 --budget 64 -n 4 --write-card %s/card.json",
             model_path, dir);
    ck_assert_msg(run_cli(args, line, sizeof line) == 0, "%s", line);
    char card_path[4200];
    snprintf(card_path, sizeof card_path, "%s/card.json", dir);
    gc_model_card card;
    gc_error gerr;
    ck_assert_msg(gc_model_card_load(card_path, &card, &gerr) == GC_OK, "%s", gerr.msg);
    ck_assert_str_eq(card.name, "stories260K");
    ck_assert_int_ge(card.filter_layer, 0);
    ck_assert_int_le(card.filter_layer, 4);
    ck_assert_int_eq(card.budget, 64);
    snprintf(args, sizeof args, "calibrate -m %s --layers 9 --lengths 500", model_path);
    ck_assert_int_ne(run_cli(args, line, sizeof line), 0);
    ck_assert_msg(strncmp(line, "gemcl: calibrate: --layers", 26) == 0, "%s", line);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* The chat setting puts the task's template inside the model's chat template as the user message; raw (and a
 * model with no template asked for its own) leaves it alone; cells name the setting. */
START_TEST(chat_template_wraps_the_task_prompt_and_cells_name_it) {
    const char *model_path = test_shared_path(STORIES), *essays = test_shared_path(ESSAYS);
    if (test_skip_if_missing(model_path, STORIES) || test_skip_if_missing(essays, ESSAYS))
        return;
    gemcl_model *m = load_model();
    char err[1024];
    eval_task raw, own, chat;
    eval_task_params tp = {EVAL_TASK_NEEDLE, essays, NULL, NULL, NULL, NULL, 42, NULL};
    ck_assert_msg(eval_task_init(&raw, m, &tp, err, sizeof err) == 0, "%s", err);
    tp.chat_template = "model"; /* stories260K has none: raw */
    ck_assert_msg(eval_task_init(&own, m, &tp, err, sizeof err) == 0, "%s", err);
    tp.chat_template = "chatml";
    ck_assert_msg(eval_task_init(&chat, m, &tp, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(raw.prompt_template, "raw");
    ck_assert_str_eq(own.prompt_template, "raw");
    ck_assert_str_eq(chat.prompt_template, "chat:chatml");
    ck_assert_int_eq(own.n_prefix, raw.n_prefix);
    /* chat prefix = "<|im_start|>user\n" + the raw prefix (after its BOS); suffix = raw suffix + the rest */
    int32_t *head, *tail;
    int n_head, n_tail;
    ck_assert(gemcl_tokenize(m, "<|im_start|>user\n", 17, -1, 1, &head, &n_head, err, sizeof err) == GEMCL_OK);
    ck_assert(gemcl_tokenize(m, "<|im_end|>\n<|im_start|>assistant\n", 33, 0, 1, &tail, &n_tail, err, sizeof err) ==
              GEMCL_OK);
    int bos = raw.n_prefix > 0 && raw.prefix[0] == head[0] && n_head > 0 ? 1 : 0; /* both start with BOS */
    ck_assert_int_eq(chat.n_prefix, n_head + raw.n_prefix - bos);
    ck_assert_int_eq(memcmp(chat.prefix, head, (size_t)n_head * sizeof *head), 0);
    ck_assert_int_eq(memcmp(chat.prefix + n_head, raw.prefix + bos, (size_t)(raw.n_prefix - bos) * sizeof *head), 0);
    ck_assert_int_eq(chat.n_suffix, raw.n_suffix + n_tail);
    ck_assert_int_eq(memcmp(chat.suffix, raw.suffix, (size_t)raw.n_suffix * sizeof *tail), 0);
    ck_assert_int_eq(memcmp(chat.suffix + raw.n_suffix, tail, (size_t)n_tail * sizeof *tail), 0);
    gemcl_free(head), gemcl_free(tail);
    tp.chat_template = "nonsense";
    eval_task bad;
    ck_assert(eval_task_init(&bad, m, &tp, err, sizeof err) != 0);
    ck_assert_msg(strstr(err, "chatml, llama3"), "%s", err);
    /* a cell records the setting and reads it back */
    gemcl_context *ctx;
    ck_assert(gemcl_context_create(m, NULL, &ctx, err, sizeof err) == GEMCL_OK);
    eval_cell cell, back;
    ck_assert_msg(eval_run_cell(&chat, ctx, "full", -1, 0, 2, 0, 300, 50, &cell, err, sizeof err) == 0, "%s", err);
    char *json = eval_cell_to_json(&cell);
    ck_assert_msg(strstr(json, "\"template\": \"chat:chatml\"") || strstr(json, "\"template\":\"chat:chatml\""), "%s",
                  json);
    ck_assert(eval_cell_from_json(json, &back, err, sizeof err) == 0);
    ck_assert_str_eq(back.prompt_template, "chat:chatml");
    free(json);
    eval_cell_free(&cell), eval_cell_free(&back);
    gemcl_context_free(ctx);
    eval_task_free(&raw), eval_task_free(&own), eval_task_free(&chat);
    gemcl_model_free(m);
}
END_TEST

Suite *suite_needle(void) {
    Suite *s = suite_create("needle");
    TCase *tc = tcase_create("needle");
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, grids_are_rounded_linspace_or_lists);
    tcase_add_test(tc, needle_score_is_word_set_overlap_over_twelve);
    tcase_add_test(tc, passkey_score_is_exact_match_of_the_number);
    tcase_add_test(tc, needle_goes_just_after_the_previous_period);
    tcase_add_test(tc, haystack_files_are_read_in_sorted_order);
    tcase_add_test(tc, prompts_are_exact_in_tokens_at_the_right_depth);
    tcase_add_test(tc, chat_template_wraps_the_task_prompt_and_cells_name_it);
    tcase_add_test(tc, generate_tokens_equals_generate_on_the_same_ids);
    tcase_add_test(tc, grid_writes_jsonl_csv_svg_and_resumes);
    tcase_add_test(tc, cli_needle_and_calibrate_run_and_reject_bad_input);
    suite_add_tcase(s, tc);
    return s;
}
