/* cmd_needle.c - `gemcl needle`: the needle-in-a-haystack (or passkey) grid of docs/METHODS.md, any methods side
 * by side, streamed to JSON lines, with CSV and an SVG heatmap. */
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"
#include "eval/eval.h"

static void usage(void) {
    printf("usage: gemcl needle -m MODEL [options]\n"
           "  -m, --model PATH        the model (as for gemcl run)\n"
           "  --haystack DIR          directory of .txt essays, names sorted (default: ../shared/data/\n"
           "                          paul-graham-essays beside the source tree, or under the working directory)\n"
           "  --lengths SPEC          context lengths in tokens: MIN:MAX:N = round(linspace) or A,B,C\n"
           "                          (default 1000:128000:40)\n"
           "  --min N --max N         keep only lengths in [N, M]\n"
           "  --depths SPEC           N = round(linspace(0, 100, N)), or A,B,C, or MIN:MAX:N (default 10)\n"
           "  --method A,B,...        methods by name, side by side (default full,gemfilter)\n"
           "  --filter-layer R        GemFilter's layer r (default: model card, else round(0.4 L))\n"
           "  --budget K              tokens kept (default: model card, else 1024)\n"
           "  --task needle|passkey   the essays and needle, or the passkey filler (default needle)\n"
           "  --needle S --question S --template S   override the GemFilter defaults (template has\n"
           "                          {context} and {question}; <|im_start|> is literal text)\n"
           "  --template raw          the task's template is the whole prompt (GemFilter's raw setting);\n"
           "                          default: it is the user message of the model's chat template, if any\n"
           "  --chat-template NAME    that chat template family instead of the model's (chatml, llama3, ...)\n"
           "  --expected S            the answer scored against (default: the needle's answer)\n"
           "  --seed N                passkey seed (default 42)\n"
           "  -n, --n-predict N       new tokens (default 50, greedy)\n"
           "  -c, --ctx-size N        context rows (default the model's trained context; full attention on a\n"
           "                          longer prompt is recorded as an error cell)\n"
           "  -o, --out DIR           output directory (default needle-out): results.jsonl, results.csv,\n"
           "                          heatmap.svg, summary.json (mean score per method)\n"
           "  --resume                skip the cells already in DIR/results.jsonl (same task, budget, layer)\n"
           "  --save-kept             store each cell's kept indices in the JSON lines\n"
           "  --device N|NAME         OpenCL device\n"
           "  -q, --quiet             no progress lines on stderr\n"
           "Each prompt is the template around a context of exactly length - 200 tokens (the needle inside);\n"
           "score = |words(response) & words(expected)| / 12 (needle) or exact match of the key (passkey).\n");
}

typedef struct needle_opts {
    const char *model, *haystack, *lengths, *depths, *methods, *task, *needle, *question, *tmpl, *expected;
    const char *out, *device, *chat_template;
    int min_len, max_len, filter_layer, budget, n_predict, n_ctx, resume, save_kept, quiet;
    uint64_t seed;
} needle_opts;

/* Parses argv; returns -1 after --help, 0 on success, 1 on a bad option. */
static int parse_args(int argc, char **argv, needle_opts *o) {
    cli_args c = cli_args_start("needle", argc, argv);
    while (cli_next(&c)) {
        int rc = 0;
        if (cli_is(&c, "--help", "-h")) {
            usage();
            return -1;
        } else if (cli_is(&c, "-m", "--model")) rc = cli_str(&c, &o->model);
        else if (cli_is(&c, "--haystack", NULL)) rc = cli_str(&c, &o->haystack);
        else if (cli_is(&c, "--lengths", NULL)) rc = cli_str(&c, &o->lengths);
        else if (cli_is(&c, "--depths", NULL)) rc = cli_str(&c, &o->depths);
        else if (cli_is(&c, "--method", "--methods")) rc = cli_str(&c, &o->methods);
        else if (cli_is(&c, "--task", NULL)) rc = cli_str(&c, &o->task);
        else if (cli_is(&c, "--needle", NULL)) rc = cli_str(&c, &o->needle);
        else if (cli_is(&c, "--question", NULL)) rc = cli_str(&c, &o->question);
        else if (cli_is(&c, "--template", NULL)) rc = cli_str(&c, &o->tmpl);
        else if (cli_is(&c, "--expected", NULL)) rc = cli_str(&c, &o->expected);
        else if (cli_is(&c, "--chat-template", NULL)) rc = cli_str(&c, &o->chat_template);
        else if (cli_is(&c, "-o", "--out")) rc = cli_str(&c, &o->out);
        else if (cli_is(&c, "--device", NULL)) rc = cli_str(&c, &o->device);
        else if (cli_is(&c, "--min", NULL)) rc = cli_int(&c, 1, INT_MAX, &o->min_len);
        else if (cli_is(&c, "--max", NULL)) rc = cli_int(&c, 1, INT_MAX, &o->max_len);
        else if (cli_is(&c, "--filter-layer", NULL)) rc = cli_int(&c, -1, INT_MAX, &o->filter_layer);
        else if (cli_is(&c, "--budget", NULL)) rc = cli_int(&c, 0, INT_MAX, &o->budget);
        else if (cli_is(&c, "-n", "--n-predict")) rc = cli_int(&c, 1, INT_MAX, &o->n_predict);
        else if (cli_is(&c, "-c", "--ctx-size")) rc = cli_int(&c, 0, INT_MAX, &o->n_ctx);
        else if (cli_is(&c, "--seed", NULL))
            rc = cli_u64(&c, &o->seed);
        else if (cli_is(&c, "--resume", NULL)) o->resume = 1;
        else if (cli_is(&c, "--save-kept", NULL)) o->save_kept = 1;
        else if (cli_is(&c, "-q", "--quiet")) o->quiet = 1;
        else
            rc = cli_unknown(&c);
        if (rc)
            return rc;
    }
    if (!o->model)
        return cli_usage_error("needle: no model given (-m MODEL)");
    if (strcmp(o->task, "needle") != 0 && strcmp(o->task, "passkey") != 0)
        return cli_usage_error("needle: --task must be needle or passkey, got '%s'", o->task);
    return 0;
}

/* Splits "a,b,c" into a malloc'd array of pointers into the malloc'd copy *storage; checks every name. */
static int split_methods(const char *spec, char **storage, const char ***names, int *n) {
    char *copy = strdup(spec);
    const char **arr = malloc((strlen(spec) / 2 + 1) * sizeof *arr);
    *storage = copy;
    *names = arr;
    *n = 0;
    if (!copy || !arr)
        return cli_error("needle: out of memory");
    for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
        gemcl_method m;
        if (gemcl_method_from_name(tok, &m) != GEMCL_OK)
            return cli_error("needle: unknown method '%s'", tok);
        arr[(*n)++] = tok;
    }
    return *n ? 0 : cli_error("needle: --method lists no method");
}

/* Lengths from the spec, limited to [min, max]. */
static int lengths_from(const needle_opts *o, int **lens, int *n) {
    char err[256];
    if (eval_parse_grid(o->lengths, 1, 1 << 30, lens, n, err, sizeof err))
        return cli_error("needle: --lengths: %s", err);
    int k = 0;
    for (int i = 0; i < *n; i++)
        if ((o->min_len <= 0 || (*lens)[i] >= o->min_len) && (o->max_len <= 0 || (*lens)[i] <= o->max_len))
            (*lens)[k++] = (*lens)[i];
    *n = k;
    return k ? 0 : cli_error("needle: no length left between --min %d and --max %d", o->min_len, o->max_len);
}

static void print_summary(const char *out_dir) {
    char path[4096], err[512];
    eval_cell *cells = NULL;
    int n = 0;
    snprintf(path, sizeof path, "%s/results.jsonl", out_dir);
    if (eval_jsonl_read(path, &cells, &n, err, sizeof err)) {
        cli_error("needle: %s", err);
        return;
    }
    eval_cells_sort(cells, n);
    for (int i = 0; i < n; i++) {
        if (i && strcmp(cells[i - 1].method, cells[i].method) == 0)
            continue;
        int scored, errors;
        double mean = eval_mean_score(cells, n, cells[i].method, &scored, &errors);
        if (isnan(mean))
            printf("%-14s mean score   -   (no cell ran; %d error cells)\n", cells[i].method, errors);
        else
            printf("%-14s mean score %.3f over %d cells%s", cells[i].method, mean, scored, errors ? "" : "\n");
        if (!isnan(mean) && errors)
            printf(" (%d error cells excluded)\n", errors);
    }
    printf("wrote %s/results.jsonl, results.csv, heatmap.svg, summary.json\n", out_dir);
    eval_cells_free(cells, n);
}

static int run_grid(const needle_opts *o, const int *lens, int n_lens, const int *depths, int n_depths,
                    const char **methods, int n_methods) {
    char err[4096];
    gemcl_model *model;
    gemcl_context *ctx;
    if (eval_open(o->model, o->device, o->n_ctx, &model, &ctx, err, sizeof err) != GEMCL_OK)
        return cli_error("%s", err);
    bool raw = o->tmpl && strcmp(o->tmpl, "raw") == 0;
    eval_task_params tp = {strcmp(o->task, "passkey") == 0 ? EVAL_TASK_PASSKEY : EVAL_TASK_NEEDLE, o->haystack,
                           o->needle, o->question, raw ? NULL : o->tmpl, o->expected, o->seed,
                           raw ? NULL : o->chat_template ? o->chat_template : "model"};
    eval_task task;
    int rc = 0;
    if (eval_task_init(&task, model, &tp, err, sizeof err)) {
        rc = cli_error("needle: %s", err);
    } else {
        eval_run_opts ro = {lens, n_lens, depths, n_depths, methods, n_methods, o->filter_layer, o->budget,
                            o->n_predict, o->out, o->resume, o->save_kept, o->quiet};
        eval_run_stats st;
        if (eval_run_grid(&task, ctx, &ro, &st, err, sizeof err))
            rc = cli_error("needle: %s", err);
        else {
            if (!o->quiet)
                fprintf(stderr, "needle: %d cells: %d run, %d already done, %d error cells\n", st.n_cells, st.n_run,
                        st.n_skipped, st.n_errors);
            print_summary(o->out);
        }
        eval_task_free(&task);
    }
    gemcl_context_free(ctx);
    gemcl_model_free(model);
    return rc;
}

int cmd_needle(int argc, char **argv) {
    needle_opts o = {0};
    o.lengths = "1000:128000:40";
    o.depths = "10";
    o.methods = "full,gemfilter";
    o.task = "needle";
    o.out = "needle-out";
    o.filter_layer = -1;
    o.n_predict = EVAL_MAX_NEW_TOKENS;
    o.seed = 42;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (strcmp(o.task, "needle") == 0 && !o.haystack && !(o.haystack = eval_default_haystack(GEMCL_SOURCE_DIR)))
        return cli_error("needle: no haystack directory found (../shared/data/paul-graham-essays); give --haystack DIR");
    int *lens = NULL, n_lens = 0, *depths = NULL, n_depths = 0, n_methods = 0;
    const char **methods = NULL;
    char *storage = NULL;
    if (!(rc = lengths_from(&o, &lens, &n_lens))) {
        char err[256];
        if (eval_parse_depths(o.depths, &depths, &n_depths, err, sizeof err))
            rc = cli_error("needle: --depths: %s", err);
        else if (!(rc = split_methods(o.methods, &storage, &methods, &n_methods)))
            rc = run_grid(&o, lens, n_lens, depths, n_depths, methods, n_methods);
    }
    free(lens);
    free(depths);
    free(methods);
    free(storage);
    return rc;
}
