/* test_bench.c - `gemcl bench` (tools/bench.c): option parsing, statistics, prompts, and every output format
 * parsing back to the rows that were measured, with a tiny end-to-end run on stories260K. Structure and
 * correctness only: nothing here asserts on time.
 *
 * tools/bench.c is compiled into this binary; its one outside dependency, cli_error (tools/gemcl.c, which
 * also holds the CLI's main), is defined here and keeps the last message so tests can check it. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemcl.h"
#include "../tools/bench.h"
#include "harness.h"

#define STORIES "models/stories260K/stories260K.bin"

static char last_error[512];

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return 1;
}

/* Parses a NULL-terminated argument list after "bench"; returns bench_parse's result. */
static int parse(bench_opts *o, const char *const *args) {
    char *argv[64] = {"bench"};
    int argc = 1;
    while (args[argc - 1] && argc < 64) {
        argv[argc] = (char *)args[argc - 1];
        argc++;
    }
    *o = bench_default_opts();
    last_error[0] = '\0';
    FILE *sink = fopen("/dev/null", "w");
    int rc = bench_parse(argc, argv, o, sink);
    fclose(sink);
    return rc;
}

START_TEST(parse_reads_lists_methods_formats_and_knobs) {
    bench_opts o;
    const char *args[] = {"-m", "model.bin", "-p", "512,4096", "-n", "128", "-r", "3", "--method",
                          "full,gemfilter", "--filter-layer", "9", "--budget", "1024", "--dtype", "f16",
                          "--device", "pthread", "-ub", "256", "-o", "json", "--vs-blas", "--no-bandwidth",
                          "-w", "0", NULL};
    ck_assert_int_eq(parse(&o, args), 0);
    ck_assert_str_eq(o.model, "model.bin");
    ck_assert_int_eq(o.n_prompt_count, 2);
    ck_assert_int_eq(o.n_prompt[0], 512);
    ck_assert_int_eq(o.n_prompt[1], 4096);
    ck_assert_int_eq(o.n_gen_count, 1);
    ck_assert_int_eq(o.n_gen[0], 128);
    ck_assert_int_eq(o.repetitions, 3);
    ck_assert_int_eq(o.warmup, 0);
    ck_assert_int_eq(o.n_methods, 2);
    ck_assert_int_eq(o.methods[0], GEMCL_METHOD_FULL);
    ck_assert_int_eq(o.methods[1], GEMCL_METHOD_GEMFILTER);
    ck_assert_int_eq(o.filter_layer, 9);
    ck_assert_int_eq(o.budget, 1024);
    ck_assert_int_eq(o.dtype, GEMCL_WEIGHT_DTYPE_F16);
    ck_assert_str_eq(o.device, "pthread");
    ck_assert_int_eq(o.n_ubatch, 256);
    ck_assert_int_eq(o.n_formats, 1);
    ck_assert_int_eq(o.formats[0], BENCH_FORMAT_JSON);
    ck_assert_int_eq(o.vs_blas, 1);
    ck_assert_int_eq(o.bandwidth, 0);
}
END_TEST

START_TEST(parse_defaults_match_llama_bench) {
    bench_opts o;
    const char *args[] = {"-m", "m", NULL};
    ck_assert_int_eq(parse(&o, args), 0);
    ck_assert_int_eq(o.n_prompt_count, 1);
    ck_assert_int_eq(o.n_prompt[0], 512);
    ck_assert_int_eq(o.n_gen[0], 128);
    ck_assert_int_eq(o.repetitions, 5);
    ck_assert_int_eq(o.warmup, 1);
    ck_assert_int_eq(o.methods[0], GEMCL_METHOD_FULL);
    ck_assert_int_eq(o.filter_layer, -1);
    ck_assert_int_eq(o.formats[0], BENCH_FORMAT_MD);
    const char *zero[] = {"-m", "m", "-p", "0", NULL};
    ck_assert_int_eq(parse(&o, zero), 0);
    ck_assert_int_eq(o.n_prompt_count, 0);
    const char *help[] = {"--help", NULL};
    ck_assert_int_eq(parse(&o, help), -1);
}
END_TEST

START_TEST(parse_rejects_bad_input_with_one_bench_line) {
    const char *cases[][8] = {
        {"-m", "m", "--frobnicate", NULL},   {"-m", "m", "-p", "12x", NULL},  {"-m", "m", "-p", "-5", NULL},
        {"-m", "m", "--method", "no-such", NULL}, {"-m", "m", "-o", "xml", NULL}, {"-m", "m", "-r", "0", NULL},
        {"-m", "m", "--dtype", "f8", NULL},   {"-p", "512", NULL},              {"-m", "m", "-n", NULL},
        {"-m", "m", "-p", "0", "-n", "0", NULL}, {"-m", "m", "-r", "1000", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bench_opts o;
        ck_assert_int_eq(parse(&o, cases[i]), 2); /* a usage error */
        ck_assert_msg(strncmp(last_error, "bench: ", 7) == 0, "case %zu: '%s'", i, last_error);
        ck_assert_ptr_null(strchr(last_error, '\n'));
    }
}
END_TEST

START_TEST(stats_give_mean_sample_std_and_median) {
    double x[] = {4, 1, 3, 2};
    bench_stats s = bench_stats_of(x, 4);
    ck_assert_int_eq(s.n, 4);
    ck_assert_double_eq_tol(s.mean, 2.5, 1e-12);
    ck_assert_double_eq_tol(s.std, 1.2909944487358056, 1e-12);
    ck_assert_double_eq_tol(s.median, 2.5, 1e-12);
    s = bench_stats_of(x, 3);
    ck_assert_double_eq_tol(s.median, 3.0, 1e-12);
    s = bench_stats_of(x, 1);
    ck_assert_double_eq(s.std, 0.0);
}
END_TEST

START_TEST(prompt_ids_are_deterministic_and_inside_the_vocabulary) {
    int32_t a[1000], b[1000];
    bench_prompt_ids(a, 1000, 512);
    bench_prompt_ids(b, 1000, 512);
    ck_assert_mem_eq(a, b, sizeof a);
    int distinct = 0;
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_ge(a[i], 3);
        ck_assert_int_lt(a[i], 512);
        distinct += i > 0 && a[i] != a[i - 1];
    }
    ck_assert_int_gt(distinct, 900);
}
END_TEST

START_TEST(bandwidth_probe_reports_positive_rates) {
    bench_bandwidth bw;
    ck_assert_int_eq(bench_bandwidth_probe(2, (size_t)4 << 20, 2, &bw), 0);
    ck_assert_int_eq(bw.threads, 2);
    ck_assert(bw.copy_gbs > 0 && bw.triad_gbs > 0);
    ck_assert_int_eq(bench_bandwidth_probe(0, (size_t)4 << 20, 2, &bw), 1);
}
END_TEST

/* The rows a run with -p 32,64 -n 8 --method full,gemfilter must produce, in order. */
static const char *const expected_tests[] = {"pp32", "ttft@32", "pp32", "ttft@32", "pp64", "ttft@64",
                                             "pp64", "ttft@64", "tg8"};
static const char *const expected_methods[] = {"full", "full", "gemfilter", "gemfilter", "full", "full",
                                               "gemfilter", "gemfilter", "full"};
#define N_EXPECTED 9

static char *print_to_string(const bench_report *rep, bench_format format) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    bench_print(rep, format, f);
    fclose(f);
    return buf;
}

static void check_rows(const bench_report *rep) {
    ck_assert_int_eq(rep->n_rows, N_EXPECTED);
    for (int i = 0; i < N_EXPECTED; i++) {
        const bench_row *r = &rep->rows[i];
        ck_assert_str_eq(r->test, expected_tests[i]);
        ck_assert_str_eq(gemcl_method_name(r->method), expected_methods[i]);
        ck_assert_int_eq(r->value.n, 1);
        ck_assert(r->value.mean > 0);
        ck_assert_uint_gt(r->peak_device_bytes, rep->info.weight_bytes);
        ck_assert_uint_gt(r->kv_bytes, 0);
        if (r->kind == BENCH_KIND_TG) {
            ck_assert_int_eq(r->n_gen, 8);
            ck_assert(r->bytes_per_token >= (double)rep->info.weight_bytes * 0.5);
        } else if (r->method == GEMCL_METHOD_GEMFILTER) {
            ck_assert_int_eq(r->n_kept, 16); /* the budget: both prompts are longer */
            ck_assert_int_eq(r->filter_layer, 2);
            ck_assert(r->filter_ms.mean > 0);
        } else {
            ck_assert_int_eq(r->n_kept, r->n_prompt);
            ck_assert_int_eq(r->filter_layer, -1);
        }
    }
    /* ttft and pp come from the same runs: pp = n / ttft */
    ck_assert_double_eq_tol(rep->rows[0].value.mean, 32 / (rep->rows[1].value.mean / 1e3),
                            rep->rows[0].value.mean * 1e-9);
}

static void check_json(const bench_report *rep) {
    char *text = print_to_string(rep, BENCH_FORMAT_JSON);
    cJSON *root = cJSON_Parse(text);
    ck_assert_msg(root != NULL, "json does not parse: %s", text);
    ck_assert_str_eq(cJSON_GetObjectItem(root, "device")->valuestring, rep->device);
    cJSON *rows = cJSON_GetObjectItem(root, "rows");
    ck_assert_int_eq(cJSON_GetArraySize(rows), N_EXPECTED);
    for (int i = 0; i < N_EXPECTED; i++) {
        cJSON *row = cJSON_GetArrayItem(rows, i);
        ck_assert_str_eq(cJSON_GetObjectItem(row, "test")->valuestring, expected_tests[i]);
        ck_assert_str_eq(cJSON_GetObjectItem(row, "method")->valuestring, expected_methods[i]);
        cJSON *value = cJSON_GetObjectItem(row, "value");
        ck_assert_double_eq_tol(cJSON_GetObjectItem(value, "mean")->valuedouble, rep->rows[i].value.mean,
                                rep->rows[i].value.mean * 1e-9);
        ck_assert_double_eq(cJSON_GetObjectItem(row, "peak_device_bytes")->valuedouble,
                            (double)rep->rows[i].peak_device_bytes);
    }
    cJSON_Delete(root);
    free(text);
}

static void check_csv(const bench_report *rep) {
    char *text = print_to_string(rep, BENCH_FORMAT_CSV);
    int line = 0, header_fields = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save), line++) {
        int fields = 1, quoted = 0;
        for (char *c = l; *c; c++) {
            quoted ^= *c == '"';
            fields += *c == ',' && !quoted;
        }
        if (line == 0) {
            header_fields = fields;
            ck_assert_ptr_nonnull(strstr(l, "test,method"));
            continue;
        }
        ck_assert_int_eq(fields, header_fields);
        char test[32], method[32];
        const char *p = strstr(l, rep->dtype); /* ...,dtype,ubatch,test,method,... */
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(sscanf(p, "%*[^,],%*d,%31[^,],%31[^,]", test, method), 2);
        ck_assert_str_eq(test, expected_tests[line - 1]);
        ck_assert_str_eq(method, expected_methods[line - 1]);
    }
    ck_assert_int_eq(line, N_EXPECTED + 1);
    free(text);
}

static void check_markdown(const bench_report *rep) {
    char *text = print_to_string(rep, BENCH_FORMAT_MD);
    int row = -2; /* the header and the |---| line come first */
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (l[0] != '|')
            continue;
        if (row >= 0) {
            char test[32], method[32];
            ck_assert_int_eq(sscanf(l, "| %31s | %31s |", test, method), 2);
            ck_assert_str_eq(test, expected_tests[row]);
            ck_assert_str_eq(method, expected_methods[row]);
        }
        row++;
    }
    ck_assert_int_eq(row, N_EXPECTED);
    free(text);
    text = print_to_string(rep, BENCH_FORMAT_SUMMARY);
    int lines = 0;
    for (char *c = text; *c; c++)
        lines += *c == '\n';
    ck_assert_int_eq(lines, 2 + 4); /* header, rule, one line per (method, prompt) */
    ck_assert_ptr_nonnull(strstr(text, "gemfilter r=2 k=16"));
    free(text);
}

START_TEST(stories260k_run_produces_every_row_in_every_format) {
    const char *path = test_shared_path(STORIES);
    if (test_skip_if_missing(path, STORIES))
        return;
    bench_opts o;
    const char *args[] = {"-m", path, "-p", "32,64", "-n", "8", "-r", "1", "--method", "full,gemfilter",
                          "--filter-layer", "2", "--budget", "16", "-ub", "16", "--no-bandwidth", NULL};
    ck_assert_int_eq(parse(&o, args), 0);
    bench_report rep;
    ck_assert_msg(bench_run(&o, &rep) == 0, "%s", last_error);
    ck_assert_str_eq(rep.model_name, "stories260K.bin");
    ck_assert_int_eq(rep.info.n_layers, 5);
    ck_assert(rep.device[0] != '\0');
    check_rows(&rep);
    check_json(&rep);
    check_csv(&rep);
    check_markdown(&rep);
    bench_report_free(&rep);
}
END_TEST

/* Runs -p N --mem N for both methods and checks that each mem row's peak equals the complete runs' peak. */
static void check_mem_matches_complete(const char *path, const char *n, const char *budget) {
    bench_opts o;
    const char *args[] = {"-m", path, "-p", n, "--mem", n, "-n", "0", "-r", "2", "-w", "1", "--method",
                          "full,gemfilter", "--filter-layer", "2", "--budget", budget, "-ub", "16", NULL};
    ck_assert_int_eq(parse(&o, args), 0);
    bench_report rep;
    ck_assert_msg(bench_run(&o, &rep) == 0, "%s", last_error);
    ck_assert_int_eq(rep.n_rows, 6); /* pp, ttft per method, then mem per method */
    for (int m = 0; m < 2; m++) {
        const bench_row *complete = &rep.rows[2 * m + 1], *mem = &rep.rows[4 + m];
        ck_assert_int_eq(complete->kind, BENCH_KIND_TTFT);
        ck_assert_int_eq(mem->kind, BENCH_KIND_MEM);
        ck_assert_int_eq(mem->method, complete->method);
        ck_assert_int_eq(mem->n_prompt, atoi(n));
        ck_assert_msg(mem->peak_device_bytes == complete->peak_device_bytes, "n=%s k=%s %s: mem %llu, complete %llu",
                      n, budget, gemcl_method_name(mem->method), (unsigned long long)mem->peak_device_bytes,
                      (unsigned long long)complete->peak_device_bytes);
    }
    bench_report_free(&rep);
}

/* mem@N stops each run at the prefill's first progress report; its peak must be the peak of the complete
 * prompt phase, whether GemFilter's filter pass (n >> k) or its regenerate pass (k close to n) holds it, also
 * over repeated runs (each on a fresh context, so no earlier KV cache counts). */
START_TEST(mem_rows_match_the_peak_of_complete_runs) {
    const char *path = test_shared_path(STORIES);
    if (test_skip_if_missing(path, STORIES))
        return;
    check_mem_matches_complete(path, "256", "16");
    check_mem_matches_complete(path, "96", "64");
}
END_TEST

/* What the bench stands on: gemcl_generate_tokens with ignore_eos runs exactly max_tokens (end-of-text ids
 * do not stop it), and ids outside the vocabulary are a clear error. */
START_TEST(generate_tokens_ignoring_eos_runs_exactly_max_tokens_and_rejects_bad_ids) {
    gemcl_model *model = NULL;
    gemcl_context *ctx = NULL;
    if (!test_api_open_shared(STORIES, &model, &ctx))
        return;
    gemcl_generate_params g = gemcl_generate_default_params();
    g.max_tokens = 300; /* stories260K's greedy story ends (BOS) well before 300 tokens */
    g.ignore_eos = 1;
    int32_t ids[8] = {1, 400, 401, 402, 403, 404, 405, 406};
    gemcl_result r;
    ck_assert_msg(gemcl_generate_tokens(ctx, ids, 8, &g, &r) == GEMCL_OK, "%s", gemcl_context_last_error(ctx));
    ck_assert_int_eq(r.n_generated, 300);
    ck_assert_int_eq(r.n_prompt_tokens, 8);
    gemcl_result_free(&r);
    ids[3] = 512;
    ck_assert_int_eq(gemcl_generate_tokens(ctx, ids, 8, &g, &r), GEMCL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(gemcl_context_last_error(ctx), "prompt token 3 is id 512, outside the vocabulary"));
    ck_assert_int_eq(gemcl_generate_tokens(ctx, ids, 0, &g, &r), GEMCL_ERR_INVALID_ARG);
    gemcl_context_free(ctx);
    gemcl_model_free(model);
}
END_TEST

START_TEST(vs_blas_outside_the_cli_and_missing_models_are_clear_errors) {
    const char *path = test_shared_path(STORIES);
    if (test_skip_if_missing(path, STORIES))
        return;
    bench_opts o;
    bench_report rep;
    const char *blas[] = {"-m", path, "-p", "0", "-n", "0", "--vs-blas", "-r", "1", NULL};
    ck_assert_int_eq(parse(&o, blas), 0);
    ck_assert_int_eq(bench_run(&o, &rep), 1);
    ck_assert_ptr_nonnull(strstr(last_error, "--vs-blas"));
    const char *missing[] = {"-m", "/nonexistent/model.bin", "--no-bandwidth", NULL};
    ck_assert_int_eq(parse(&o, missing), 0);
    ck_assert_int_eq(bench_run(&o, &rep), 1);
    ck_assert_ptr_nonnull(strstr(last_error, "/nonexistent/model.bin"));
}
END_TEST

Suite *suite_bench(void) {
    Suite *s = suite_create("bench");
    TCase *tc = tcase_create("bench");
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, parse_reads_lists_methods_formats_and_knobs);
    tcase_add_test(tc, parse_defaults_match_llama_bench);
    tcase_add_test(tc, parse_rejects_bad_input_with_one_bench_line);
    tcase_add_test(tc, stats_give_mean_sample_std_and_median);
    tcase_add_test(tc, prompt_ids_are_deterministic_and_inside_the_vocabulary);
    tcase_add_test(tc, bandwidth_probe_reports_positive_rates);
    tcase_add_test(tc, stories260k_run_produces_every_row_in_every_format);
    tcase_add_test(tc, mem_rows_match_the_peak_of_complete_runs);
    tcase_add_test(tc, generate_tokens_ignoring_eos_runs_exactly_max_tokens_and_rejects_bad_ids);
    tcase_add_test(tc, vs_blas_outside_the_cli_and_missing_models_are_clear_errors);
    suite_add_tcase(s, tc);
    return s;
}
