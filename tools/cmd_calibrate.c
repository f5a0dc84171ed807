/* cmd_calibrate.c - `gemcl calibrate`: sweep GemFilter's filter layer r over a small passkey/needle grid, report
 * per r how much of the needle the top-k keeps, the score and the prompt-phase cost, recommend the smallest r
 * that keeps the needle, and optionally write it into a model card. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"
#include "eval/eval.h"

static void usage(void) {
    printf("usage: gemcl calibrate -m MODEL [options]\n"
           "  -m, --model PATH        the model\n"
           "  --budget K              tokens kept (default: model card, else 1024)\n"
           "  --layers SPEC           layers to try: A,B,C or MIN:MAX:N (default every layer 0 .. L-1)\n"
           "  --lengths SPEC          context lengths (default 2048,4096)\n"
           "  --depths SPEC           depths (default 10,50,90; N alone = round(linspace(0, 100, N)))\n"
           "  --task passkey|needle   the grid's task (default passkey: needs no data)\n"
           "  --haystack DIR          essays for --task needle (default ../shared/data/paul-graham-essays)\n"
           "  --seed N                passkey seed (default 42)\n"
           "  --template raw          the task's template is the whole prompt (GemFilter's raw setting);\n"
           "                          default: it is the user message of the model's chat template, if any\n"
           "  --chat-template NAME    that chat template family instead of the model's (chatml, llama3, ...)\n"
           "  -n, --n-predict N       new tokens per cell (default 50)\n"
           "  -c, --ctx-size N        context rows (default the model's trained context)\n"
           "  --write-card FILE       write the recommended r and the budget into a model card\n"
           "  --card BASE             the card to start from (default FILE when it exists, else the card in\n"
           "                          models/ whose shapes are the model's)\n"
           "  --device N|NAME         OpenCL device\n"
           "  -q, --quiet             no progress lines on stderr\n"
           "The recommendation is the smallest r whose top-k keeps every needle token in every cell; when no r\n"
           "does, the smallest r with the largest kept fraction.\n");
}

typedef struct calib_opts {
    const char *model, *layers, *lengths, *depths, *task, *haystack, *card_out, *card_base, *device, *tmpl;
    const char *chat_template;
    int budget, n_predict, n_ctx, quiet, raw;
    uint64_t seed;
} calib_opts;

typedef struct layer_stats {
    int layer, n_cells, n_survived, n_errors;
    double kept_fraction, score, filter_ms; /* means over the cells that ran */
} layer_stats;

static int parse_args(int argc, char **argv, calib_opts *o) {
    cli_args c = cli_args_start("calibrate", argc, argv);
    while (cli_next(&c)) {
        int rc = 0;
        if (cli_is(&c, "--help", "-h")) {
            usage();
            return -1;
        } else if (cli_is(&c, "-m", "--model")) rc = cli_str(&c, &o->model);
        else if (cli_is(&c, "--layers", NULL)) rc = cli_str(&c, &o->layers);
        else if (cli_is(&c, "--lengths", NULL)) rc = cli_str(&c, &o->lengths);
        else if (cli_is(&c, "--depths", NULL)) rc = cli_str(&c, &o->depths);
        else if (cli_is(&c, "--task", NULL)) rc = cli_str(&c, &o->task);
        else if (cli_is(&c, "--haystack", NULL)) rc = cli_str(&c, &o->haystack);
        else if (cli_is(&c, "--write-card", NULL)) rc = cli_str(&c, &o->card_out);
        else if (cli_is(&c, "--card", NULL)) rc = cli_str(&c, &o->card_base);
        else if (cli_is(&c, "--device", NULL)) rc = cli_str(&c, &o->device);
        else if (cli_is(&c, "--template", NULL)) rc = cli_str(&c, &o->tmpl);
        else if (cli_is(&c, "--chat-template", NULL)) rc = cli_str(&c, &o->chat_template);
        else if (cli_is(&c, "--budget", NULL)) rc = cli_int(&c, 0, INT_MAX, &o->budget);
        else if (cli_is(&c, "-n", "--n-predict")) rc = cli_int(&c, 1, INT_MAX, &o->n_predict);
        else if (cli_is(&c, "-c", "--ctx-size")) rc = cli_int(&c, 0, INT_MAX, &o->n_ctx);
        else if (cli_is(&c, "-q", "--quiet")) o->quiet = 1;
        else if (cli_is(&c, "--seed", NULL)) rc = cli_u64(&c, &o->seed);
        else
            rc = cli_unknown(&c);
        if (rc)
            return rc;
    }
    if (!o->model)
        return cli_usage_error("calibrate: no model given (-m MODEL)");
    if (strcmp(o->task, "needle") != 0 && strcmp(o->task, "passkey") != 0)
        return cli_usage_error("calibrate: --task must be needle or passkey, got '%s'", o->task);
    if (o->tmpl && strcmp(o->tmpl, "raw") != 0)
        return cli_usage_error("calibrate: --template takes only 'raw', got '%s'", o->tmpl);
    o->raw = o->tmpl != NULL;
    return 0;
}

/* Runs every cell of the grid with GemFilter at layer r. */
static int sweep_layer(eval_task *t, gemcl_context *ctx, const calib_opts *o, int r, const int *lens, int n_lens,
                       const int *depths, int n_depths, layer_stats *s) {
    char err[4096];
    memset(s, 0, sizeof *s);
    s->layer = r;
    for (int li = 0; li < n_lens; li++)
        for (int di = 0; di < n_depths; di++) {
            eval_cell c;
            if (eval_run_cell(t, ctx, "gemfilter", r, o->budget, o->n_predict, 0, lens[li], depths[di], &c, err,
                              sizeof err))
                return cli_error("calibrate: %s", err);
            if (c.error) {
                s->n_errors++;
                if (!o->quiet)
                    fprintf(stderr, "calibrate: r %d length %d depth %d: error: %s\n", r, lens[li], depths[di], c.error);
            } else {
                s->n_cells++;
                s->kept_fraction += c.needle_len ? (double)c.needle_kept / c.needle_len : 0;
                s->n_survived += c.needle_survived == 1;
                s->score += c.score;
                s->filter_ms += c.filter_ms;
                if (!o->quiet)
                    fprintf(stderr, "calibrate: r %d length %d depth %d: needle kept %d/%d, score %.3f, filter %.0f ms\n",
                            r, lens[li], depths[di], c.needle_kept, c.needle_len, c.score, c.filter_ms);
            }
            eval_cell_free(&c);
        }
    if (s->n_cells)
        s->kept_fraction /= s->n_cells, s->score /= s->n_cells, s->filter_ms /= s->n_cells;
    return 0;
}

/* The smallest r keeping the whole needle in every cell, else the smallest with the best kept fraction. */
static int recommend(const layer_stats *s, int n, int *all_kept) {
    int best = -1;
    *all_kept = 0;
    for (int i = 0; i < n; i++)
        if (s[i].n_cells && s[i].n_errors == 0 && s[i].n_survived == s[i].n_cells) {
            *all_kept = 1;
            return i;
        }
    for (int i = 0; i < n; i++)
        if (s[i].n_cells && (best < 0 || s[i].kept_fraction > s[best].kept_fraction))
            best = i;
    return best;
}

static int report(const calib_opts *o, gemcl_model *model, const layer_stats *s, int n, int budget) {
    printf("%4s  %12s  %10s  %7s  %11s\n", "r", "needle kept", "all kept", "score", "filter ms");
    for (int i = 0; i < n; i++)
        printf("%4d  %12.3f  %4d/%-5d  %7.3f  %11.1f%s\n", s[i].layer, s[i].kept_fraction, s[i].n_survived,
               s[i].n_cells + s[i].n_errors, s[i].score, s[i].filter_ms, s[i].n_errors ? "  (error cells)" : "");
    int all_kept, best = recommend(s, n, &all_kept);
    if (best < 0)
        return cli_error("calibrate: no layer ran a cell; nothing to recommend");
    printf("recommended filter layer r = %d (%s), budget k = %d\n", s[best].layer,
           all_kept ? "the smallest r whose top-k keeps the whole needle in every cell"
                    : "no r kept the whole needle everywhere; the smallest r with the largest kept fraction",
           budget);
    if (!o->card_out)
        return 0;
    gemcl_model_info info;
    gemcl_model_get_info(model, &info);
    char note[512], err[1024];
    snprintf(note, sizeof note, "gemcl calibrate: task %s, lengths %s, depths %s, budget %d: r %d keeps %.3f of the "
             "needle's tokens (%d/%d cells whole), score %.3f", o->task, o->lengths, o->depths, budget, s[best].layer,
             s[best].kept_fraction, s[best].n_survived, s[best].n_cells, s[best].score);
    if (eval_card_write(o->card_out, o->card_base, GEMCL_SOURCE_DIR "/models", &info, s[best].layer, budget, note,
                        err, sizeof err))
        return cli_error("calibrate: %s", err);
    printf("wrote %s\n", o->card_out);
    return 0;
}

static int calibrate(const calib_opts *o, const int *lens, int n_lens, const int *depths, int n_depths) {
    char err[4096];
    gemcl_model *model;
    gemcl_context *ctx;
    if (eval_open(o->model, o->device, o->n_ctx, &model, &ctx, err, sizeof err) != GEMCL_OK)
        return cli_error("%s", err);
    gemcl_model_info info;
    gemcl_model_get_info(model, &info);
    int budget = o->budget > 0 ? o->budget : info.budget;
    int *layers = NULL, n_layers = 0, rc = 0;
    char spec[32];
    snprintf(spec, sizeof spec, "0:%d:%d", info.n_layers - 1, info.n_layers);
    eval_task task = {0};
    eval_task_params tp = {strcmp(o->task, "passkey") == 0 ? EVAL_TASK_PASSKEY : EVAL_TASK_NEEDLE, o->haystack,
                           NULL, NULL, NULL, NULL, o->seed, o->raw ? NULL : o->chat_template ? o->chat_template : "model"};
    layer_stats *stats = NULL;
    if (eval_parse_grid(o->layers ? o->layers : spec, 0, info.n_layers - 1, &layers, &n_layers, err, sizeof err))
        rc = cli_error("calibrate: --layers: %s", err);
    else if (eval_task_init(&task, model, &tp, err, sizeof err))
        rc = cli_error("calibrate: %s", err);
    else if (!(stats = calloc((size_t)n_layers, sizeof *stats)))
        rc = cli_error("calibrate: out of memory");
    for (int i = 0; i < n_lens && !rc; i++)
        if (lens[i] - EVAL_BUFFER_TOKENS <= budget)
            fprintf(stderr, "calibrate: length %d leaves %d context tokens <= budget %d: the top-k keeps everything\n",
                    lens[i], lens[i] - EVAL_BUFFER_TOKENS, budget);
    for (int i = 0; i < n_layers && !rc; i++)
        rc = sweep_layer(&task, ctx, o, layers[i], lens, n_lens, depths, n_depths, &stats[i]);
    if (!rc)
        rc = report(o, model, stats, n_layers, budget);
    free(stats);
    free(layers);
    eval_task_free(&task);
    gemcl_context_free(ctx);
    gemcl_model_free(model);
    return rc;
}

int cmd_calibrate(int argc, char **argv) {
    calib_opts o = {0};
    o.lengths = "2048,4096";
    o.depths = "10,50,90";
    o.task = "passkey";
    o.n_predict = EVAL_MAX_NEW_TOKENS;
    o.seed = 42;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (strcmp(o.task, "needle") == 0 && !o.haystack && !(o.haystack = eval_default_haystack(GEMCL_SOURCE_DIR)))
        return cli_error("calibrate: no haystack directory found (../shared/data/paul-graham-essays); give --haystack DIR");
    int *lens = NULL, n_lens = 0, *depths = NULL, n_depths = 0;
    char err[256];
    if (eval_parse_grid(o.lengths, 1, 1 << 30, &lens, &n_lens, err, sizeof err))
        rc = cli_error("calibrate: --lengths: %s", err);
    else if (eval_parse_depths(o.depths, &depths, &n_depths, err, sizeof err))
        rc = cli_error("calibrate: --depths: %s", err);
    else
        rc = calibrate(&o, lens, n_lens, depths, n_depths);
    free(lens);
    free(depths);
    return rc;
}
