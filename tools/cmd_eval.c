/* cmd_eval.c - `gemcl eval ruler`: RULER's synthetic tasks for any methods at compression ratios (or a fixed
 * budget), streamed to JSON lines, with CSV, a summary and a score-vs-ratio chart (tools/eval/ruler_run.c). */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"
#include "eval/eval.h"

/* kvpress's leaderboard ratios. */
#define EVAL_DEFAULT_RATIOS "0.25,0.5,0.75,0.875"
#define EVAL_MAX_RATIOS 32

static void usage(FILE *out) {
    fprintf(out, "usage: gemcl eval ruler -m MODEL [options]\n"
           "  -m, --model PATH        the model (as for gemcl run)\n"
           "  --lengths A,B,...       prompt lengths in the model's tokens (default 4096; MIN:MAX:N as needle)\n"
           "  --tasks all|A,B,...     niah_single_essay, niah_single_noise, niah_multikey, niah_multivalue,\n"
           "                          niah_multiquery, vt, cwe (default all, run in that order)\n"
           "  --samples N             samples per task and length (default 1)\n"
           "  --seed S                the samples' seed (default 42): same seed, same prompts\n"
           "  --method A,B,...        methods side by side (default full,gemfilter); full runs once, at ratio 0\n"
           "  --ratio R[,R...]        fractions of the prompt's tokens dropped, in [0, 1): budget = round((1 - R) *\n"
           "                          prompt tokens) (default " EVAL_DEFAULT_RATIOS ", kvpress's)\n"
           "  --budget K              a fixed budget instead of ratios (its ratio is 1 - K / prompt tokens)\n"
           "  --filter-layer R        GemFilter's layer r (default: model card, else round(0.4 L))\n"
           "  --template raw|chat     raw: RULER's template and answer prefix are the whole prompt; chat (default):\n"
           "                          the template is the user message of the model's chat template, the answer\n"
           "                          prefix starts the reply (raw when the model has no template)\n"
           "  --haystack DIR          the essays (default ../shared/data/paul-graham-essays)\n"
           "  -n, --n-predict N       new tokens (default RULER's: niah 128, vt 30, cwe 120; greedy)\n"
           "  -c, --ctx-size N        context rows (default the model's trained context)\n"
           "  -o, --out DIR           output directory (default ruler-out): results.jsonl, results.csv,\n"
           "                          summary.json (mean per method x ratio, and per task), ruler.svg\n"
           "  --resume                skip the cells already in DIR/results.jsonl\n"
           "  --device N|NAME         OpenCL device\n"
           "  -q, --quiet             no progress lines on stderr\n"
           "Each prompt is exactly the length asked for; score = RULER's string match: the fraction of the expected\n"
           "strings found (case-insensitive) in the answer, per sample, averaged.\n");
}

typedef struct eval_opts {
    const char *model, *lengths, *tasks, *methods, *ratios, *tmpl, *haystack, *out, *device;
    int samples, budget, filter_layer, n_predict, n_ctx, resume, quiet;
    uint64_t seed;
} eval_opts;

/* Parses argv (argv[0] = "ruler"); returns -1 after --help, 0 on success, 2 on a bad option. */
static int parse_args(int argc, char **argv, eval_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **str = NULL;
        int *num = NULL;
        long lo = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return -1;
        } else if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) str = &o->model;
        else if (strcmp(a, "--lengths") == 0) str = &o->lengths;
        else if (strcmp(a, "--tasks") == 0) str = &o->tasks;
        else if (strcmp(a, "--method") == 0 || strcmp(a, "--methods") == 0) str = &o->methods;
        else if (strcmp(a, "--ratio") == 0 || strcmp(a, "--ratios") == 0) str = &o->ratios;
        else if (strcmp(a, "--template") == 0) str = &o->tmpl;
        else if (strcmp(a, "--haystack") == 0) str = &o->haystack;
        else if (strcmp(a, "-o") == 0 || strcmp(a, "--out") == 0) str = &o->out;
        else if (strcmp(a, "--device") == 0) str = &o->device;
        else if (strcmp(a, "--samples") == 0) num = &o->samples, lo = 1;
        else if (strcmp(a, "--budget") == 0) num = &o->budget, lo = 1;
        else if (strcmp(a, "--filter-layer") == 0) num = &o->filter_layer, lo = -1;
        else if (strcmp(a, "-n") == 0 || strcmp(a, "--n-predict") == 0) num = &o->n_predict, lo = 1;
        else if (strcmp(a, "-c") == 0 || strcmp(a, "--ctx-size") == 0) num = &o->n_ctx, lo = 0;
        else if (strcmp(a, "--resume") == 0) o->resume = 1;
        else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) o->quiet = 1;
        else if (strcmp(a, "--seed") == 0) {
            if (!v)
                return cli_usage_error("eval ruler: %s needs a value", a);
            if (opt_u64("eval ruler", a, v, &o->seed))
                return 2;
            i++;
        } else
            return cli_usage_error("eval ruler: unknown option '%s' (see gemcl eval ruler --help)", a);
        if (str || num) {
            if (!v)
                return cli_usage_error("eval ruler: %s needs a value", a);
            if (str)
                *str = v;
            else if (opt_int("eval ruler", a, v, lo, INT_MAX, num))
                return 2;
            i++;
        }
    }
    if (!o->model)
        return cli_usage_error("eval ruler: no model given (-m MODEL)");
    if (strcmp(o->tmpl, "raw") != 0 && strcmp(o->tmpl, "chat") != 0)
        return cli_usage_error("eval ruler: --template must be raw or chat, got '%s'", o->tmpl);
    if (o->ratios && o->budget)
        return cli_usage_error("eval ruler: give --ratio or --budget, not both");
    return 0;
}

/* "R,R,..." -> ratios in [0, 1), rounded to 6 decimals so that the JSON lines show what was typed. */
static int parse_ratios(const char *spec, double *out, int *n) {
    *n = 0;
    for (const char *p = spec;;) {
        const char *comma = strchr(p, ',');
        char item[64];
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len >= sizeof item || *n == EVAL_MAX_RATIOS)
            return cli_usage_error("eval ruler: --ratio '%s' is too long", spec);
        memcpy(item, p, len);
        item[len] = '\0';
        float v;
        if (opt_float("eval ruler", "--ratio", item, 0, 1, 0, &v))
            return 2;
        if (v >= 1)
            return cli_usage_error("eval ruler: --ratio expects fractions below 1 (1 drops every token), got '%s'",
                                   item);
        double r = round((double)v * 1e6) / 1e6;
        bool dup = false;
        for (int i = 0; i < *n; i++)
            dup |= out[i] == r;
        if (!dup)
            out[(*n)++] = r;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

/* The mean per method x ratio, and per task, as summary.json has them. */
static int print_summary(const char *out_dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/summary.json", out_dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return cli_error("eval ruler: cannot read '%s'", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = size >= 0 ? malloc((size_t)size + 1) : NULL;
    size_t len = buf ? fread(buf, 1, (size_t)size, f) : 0;
    fclose(f);
    if (!buf)
        return cli_error("eval ruler: cannot read '%s'", path);
    buf[len] = '\0';
    cJSON *root = cJSON_Parse(buf);
    free(buf);
    const cJSON *methods = cJSON_GetObjectItemCaseSensitive(root, "methods"), *m;
    printf("%-14s %6s  %6s  per task\n", "method", "ratio", "mean");
    cJSON_ArrayForEach(m, methods) {
        const cJSON *mean = cJSON_GetObjectItemCaseSensitive(m, "mean_score"), *t;
        printf("%-14s %6.3f  ", cJSON_GetObjectItemCaseSensitive(m, "method")->valuestring,
               cJSON_GetObjectItemCaseSensitive(m, "ratio")->valuedouble);
        if (cJSON_IsNumber(mean))
            printf("%6.1f ", 100 * mean->valuedouble);
        else
            printf("%6s ", "-");
        cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(m, "per_task")) {
            if (cJSON_IsNumber(t))
                printf(" %s %.0f", t->string, 100 * t->valuedouble);
            else
                printf(" %s -", t->string);
        }
        putchar('\n');
    }
    cJSON_Delete(root);
    printf("wrote %s/results.jsonl, results.csv, summary.json, ruler.svg\n", out_dir);
    return 0;
}

static int run_ruler(const eval_opts *o, const int *tasks, int n_tasks, const int *lens, int n_lens,
                     const char **methods, int n_methods, const double *ratios, int n_ratios) {
    char err[4096];
    gemcl_model *model;
    gemcl_context *ctx;
    if (eval_open(o->model, o->device, o->n_ctx, &model, &ctx, err, sizeof err) != GEMCL_OK)
        return cli_error("%s", err);
    ruler_ctx r;
    int rc = 0;
    if (ruler_init(&r, model, o->haystack, strcmp(o->tmpl, "chat") == 0 ? "model" : NULL, o->seed, err,
                   sizeof err)) {
        rc = cli_error("eval ruler: %s", err);
    } else {
        ruler_run_opts ro = {tasks, n_tasks, lens, n_lens, o->samples, methods, n_methods,
                             o->budget ? NULL : ratios, o->budget ? 0 : n_ratios, o->budget, o->filter_layer,
                             o->n_predict, o->out, o->resume, o->quiet};
        eval_run_stats st;
        if (ruler_run(&r, ctx, &ro, &st, err, sizeof err))
            rc = cli_error("eval ruler: %s", err);
        else {
            if (!o->quiet)
                fprintf(stderr, "ruler: %d cells: %d run, %d already done, %d error cells\n", st.n_cells, st.n_run,
                        st.n_skipped, st.n_errors);
            rc = print_summary(o->out);
        }
        ruler_free(&r);
    }
    gemcl_context_free(ctx);
    gemcl_model_free(model);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout); /* no benchmark named: a usage error */
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "ruler") != 0)
        return cli_usage_error("eval: unknown benchmark '%s' (want ruler; see gemcl eval --help)", argv[1]);
    eval_opts o = {0};
    o.lengths = "4096";
    o.tasks = "all";
    o.methods = "full,gemfilter";
    o.tmpl = "chat";
    o.out = "ruler-out";
    o.samples = 1;
    o.filter_layer = -1;
    o.seed = 42;
    int rc = parse_args(argc - 1, argv + 1, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (!o.haystack && !(o.haystack = eval_default_haystack(GEMCL_SOURCE_DIR)))
        return cli_error("eval ruler: no haystack directory found (../shared/data/paul-graham-essays); give "
                         "--haystack DIR");
    int tasks[RULER_N_TASKS], n_tasks = 0, *lens = NULL, n_lens = 0, n_methods = 0, n_ratios = 0;
    double ratios[EVAL_MAX_RATIOS];
    const char **methods = NULL;
    char *storage = NULL, err[512];
    if (ruler_parse_tasks(o.tasks, tasks, &n_tasks, err, sizeof err))
        rc = cli_usage_error("eval ruler: --tasks: %s", err);
    else if (eval_parse_grid(o.lengths, 1, 1 << 30, &lens, &n_lens, err, sizeof err))
        rc = cli_usage_error("eval ruler: --lengths: %s", err);
    else if (eval_split_methods(o.methods, &storage, &methods, &n_methods, err, sizeof err))
        rc = cli_usage_error("eval ruler: --method: %s", err);
    else if (!o.budget)
        rc = parse_ratios(o.ratios ? o.ratios : EVAL_DEFAULT_RATIOS, ratios, &n_ratios);
    if (!rc)
        rc = run_ruler(&o, tasks, n_tasks, lens, n_lens, methods, n_methods, ratios, n_ratios);
    free(lens);
    free(methods);
    free(storage);
    return rc;
}
