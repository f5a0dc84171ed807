/* ruler_run.c - RULER cells (tasks x lengths x samples x methods x ratios) streamed to JSON lines, and their
 * reports: results.csv, summary.json and ruler.svg, a line chart of score vs compression ratio per method (the
 * kvpress leaderboard's plot). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool is_full(const char *method) {
    gemcl_method m;
    return gemcl_method_from_name(method, &m) == GEMCL_OK && m == GEMCL_METHOD_FULL;
}

/* Full attention keeps everything: it runs once, at ratio 0; the others once per ratio (or once at the budget). */
static int ratios_of(const ruler_run_opts *o, const char *method) {
    return is_full(method) || !o->ratios ? 1 : o->n_ratios;
}

/* The cell's ratio and budget: ratio R keeps round((1 - R) * n) of the n prompt tokens (kvpress's compression
 * ratio); a fixed budget K is the ratio 1 - K / n (0 when K >= n). */
static void ratio_budget(const ruler_run_opts *o, const char *method, int ri, int n, int default_budget,
                         double *ratio, int *budget) {
    if (is_full(method)) {
        *ratio = 0, *budget = n;
    } else if (o->ratios) {
        *ratio = o->ratios[ri];
        *budget = (int)lround((1.0 - o->ratios[ri]) * n);
    } else {
        *budget = o->budget > 0 ? o->budget : default_budget;
        *ratio = *budget >= n ? 0 : 1.0 - (double)*budget / n;
    }
}

static int copy_expected(eval_cell *c, const ruler_sample *s) {
    if (!(c->expected = calloc((size_t)(s->n_expected ? s->n_expected : 1), sizeof *c->expected)))
        return 1;
    for (int i = 0; i < s->n_expected; i++)
        if (!(c->expected[c->n_expected++] = strdup(s->expected[i])))
            return 1;
    return 0;
}

static void progress(const eval_run_stats *s, const eval_cell *c, double t0) {
    double elapsed = now_s() - t0;
    int done = s->n_run + s->n_skipped, left = s->n_cells - done;
    double eta = s->n_run ? elapsed / s->n_run * left : 0;
    fprintf(stderr, "ruler: [%d/%d] %s length %d sample %d %s ratio %.3f (budget %d): ", done, s->n_cells, c->task,
            c->length, c->sample, c->method, c->ratio, c->budget);
    if (c->error)
        fprintf(stderr, "error: %s", c->error);
    else
        fprintf(stderr, "score %.3f, ttft %.0f ms", c->score, c->ttft_ms);
    fprintf(stderr, " | %.0f s elapsed, ~%.0f s left\n", elapsed, eta);
}

/* A resumed file must hold cells of the same prompt template, or two experiments would be averaged together. */
static int check_resumable(const eval_cell *done, int n_done, const char *tmpl, char *err, size_t errlen) {
    for (int i = 0; i < n_done; i++)
        if (!done[i].expected || strcmp(done[i].prompt_template, tmpl) != 0)
            return snprintf(err, errlen, "cannot resume: the results there are %s cells with template %s, not RULER's "
                            "with %s; choose another -o", done[i].task, done[i].prompt_template, tmpl), 1;
    return 0;
}

/* Runs the cells of one sample that are not done yet; the sample is built only when one is needed. */
static int run_sample(ruler_ctx *r, gemcl_context *ctx, const ruler_run_opts *o, int task, int length, int sample,
                      const eval_cell *done, int n_done, FILE *f, eval_run_stats *s, double t0, char *err,
                      size_t errlen) {
    gemcl_model_info info;
    gemcl_model_get_info(r->base.model, &info);
    ruler_sample smp = {0};
    bool built = false;
    int rc = 0;
    for (int mi = 0; mi < o->n_methods && !rc; mi++)
        for (int ri = 0; ri < ratios_of(o, o->methods[mi]) && !rc; ri++) {
            eval_cell c;
            eval_cell_init(&c, ruler_task_name(task), o->methods[mi], r->base.prompt_template, length);
            c.sample = sample;
            ratio_budget(o, o->methods[mi], ri, length, info.budget, &c.ratio, &c.budget);
            if (eval_cells_find(done, n_done, &c) >= 0) {
                s->n_skipped++;
                continue;
            }
            if (!built && (rc = ruler_build(r, task, length, sample, &smp, err, errlen)))
                break;
            built = true;
            int max_tokens = o->max_tokens > 0 ? o->max_tokens : ruler_max_new_tokens(task);
            if (copy_expected(&c, &smp))
                rc = (snprintf(err, errlen, "out of memory"), 1);
            if (!rc)
                rc = eval_generate_cell(r->base.model, ctx, smp.ids, smp.n, o->methods[mi], o->filter_layer, c.budget,
                                        max_tokens, 0, smp.at, smp.len, smp.n_spans, &c, err, errlen);
            if (!rc && !c.error)
                c.score = ruler_score(c.response, (const char *const *)smp.expected, smp.n_expected);
            if (!rc) {
                s->n_run++;
                s->n_errors += c.error != NULL;
                if (f)
                    rc = eval_results_append(f, &c, err, errlen);
                if (!o->quiet)
                    progress(s, &c, t0);
            }
            eval_cell_free(&c);
        }
    ruler_sample_free(&smp);
    return rc;
}

int ruler_run(ruler_ctx *r, gemcl_context *ctx, const ruler_run_opts *o, eval_run_stats *stats, char *err,
              size_t errlen) {
    eval_run_stats s = {0, 0, 0, 0};
    for (int mi = 0; mi < o->n_methods; mi++)
        s.n_cells += ratios_of(o, o->methods[mi]);
    s.n_cells *= o->n_tasks * o->n_lengths * o->n_samples;
    char jsonl[4096];
    eval_cell *done = NULL;
    int n_done = 0;
    FILE *f = NULL;
    if (o->out_dir) {
        if (!(f = eval_results_open(o->out_dir, o->resume, jsonl, sizeof jsonl, err, errlen)))
            return 1;
        if (o->resume && (eval_jsonl_read(jsonl, &done, &n_done, err, errlen) ||
                          check_resumable(done, n_done, r->base.prompt_template, err, errlen))) {
            eval_cells_free(done, n_done);
            fclose(f);
            return 1;
        }
        if (!o->quiet)
            fprintf(stderr, "ruler: %d cells (%d tasks x %d lengths x %d samples x methods and ratios)%s\n", s.n_cells,
                    o->n_tasks, o->n_lengths, o->n_samples, n_done ? ", resuming" : "");
    }
    double t0 = now_s();
    int rc = 0;
    for (int ti = 0; ti < o->n_tasks && !rc; ti++) /* tasks outermost: a stopped run has whole tasks */
        for (int li = 0; li < o->n_lengths && !rc; li++)
            for (int si = 0; si < o->n_samples && !rc; si++)
                rc = run_sample(r, ctx, o, o->tasks[ti], o->lengths[li], si, done, n_done, f, &s, t0, err, errlen);
    eval_cells_free(done, n_done);
    if (f && fclose(f) != 0 && !rc)
        rc = (snprintf(err, errlen, "cannot write '%s'", jsonl), 1);
    if (f && !rc)
        rc = ruler_write_reports(o->out_dir, err, errlen);
    if (stats)
        *stats = s;
    return rc;
}

/* ---- reports ---- */

static int write_csv(const char *path, const eval_cell *cells, int n, char *err, size_t errlen) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno)), 1;
    fputs("task,template,method,length,ratio,budget,sample,score,answer,expected,ttft_ms,filter_ms,prefill_ms,"
          "decode_ms,n_prompt_tokens,n_kept_tokens,needle_kept,needle_len,filter_layer,peak_device_bytes,error\n", f);
    for (int i = 0; i < n; i++) {
        const eval_cell *c = &cells[i];
        fprintf(f, "%s,%s,%s,%d,%.4f,%d,%d,", c->task, c->prompt_template, c->method, c->length, c->ratio, c->budget,
                c->sample);
        if (!isnan(c->score))
            fprintf(f, "%.6f", c->score);
        fputc(',', f);
        eval_csv_text(f, c->response);
        fputs(",\"", f); /* the expected strings joined by '|' (they hold no quote) */
        for (int e = 0; e < c->n_expected; e++)
            fprintf(f, "%s%s", e ? "|" : "", c->expected[e]);
        fprintf(f, "\",%.3f,%.3f,%.3f,%.3f,%d,%d,", c->ttft_ms, c->filter_ms, c->prefill_ms, c->decode_ms,
                c->n_prompt_tokens, c->n_kept_tokens);
        if (c->needle_kept >= 0)
            fprintf(f, "%d", c->needle_kept);
        fprintf(f, ",%d,%d,%llu,", c->needle_len, c->filter_layer, (unsigned long long)c->peak_device_bytes);
        if (c->error)
            eval_csv_text(f, c->error);
        fputc('\n', f);
    }
    int bad = ferror(f);
    if (fclose(f) || bad)
        return snprintf(err, errlen, "cannot write '%s'", path), 1;
    return 0;
}

/* One point of the chart: a method at a ratio, its mean over tasks. */
typedef struct group {
    const char *method;
    double ratio;
    double mean;           /* the mean of the task means (RULER's average over tasks); NAN when none scored */
    int n_cells, n_errors;
} group;

/* The mean score of the cells of (method, ratio) and, when task is not NULL, that task. */
static double cells_mean(const eval_cell *cells, int n, const char *method, double ratio, const char *task,
                         int *n_scored, int *n_errors) {
    double sum = 0;
    int k = 0, e = 0;
    for (int i = 0; i < n; i++) {
        const eval_cell *c = &cells[i];
        if (strcmp(c->method, method) != 0 || c->ratio != ratio || (task && strcmp(c->task, task) != 0))
            continue;
        if (isnan(c->score))
            e++;
        else
            sum += c->score, k++;
    }
    if (n_scored)
        *n_scored = k;
    if (n_errors)
        *n_errors = e;
    return k ? sum / k : NAN;
}

/* Distinct task names in the order of the (sorted) cells. */
static int task_names(const eval_cell *cells, int n, const char **out) {
    int k = 0;
    for (int i = 0; i < n; i++) {
        bool seen = false;
        for (int j = 0; j < k; j++)
            seen |= strcmp(out[j], cells[i].task) == 0;
        if (!seen)
            out[k++] = cells[i].task;
    }
    return k;
}

/* The (method, ratio) groups in the cells' order (sorted: method, then ratio). */
static int make_groups(const eval_cell *cells, int n, const char **tasks, int n_tasks, group *g) {
    int k = 0;
    for (int i = 0; i < n; i++) {
        bool seen = false;
        for (int j = 0; j < k && !seen; j++)
            seen = strcmp(g[j].method, cells[i].method) == 0 && g[j].ratio == cells[i].ratio;
        if (seen)
            continue;
        group *x = &g[k++];
        *x = (group){cells[i].method, cells[i].ratio, 0, 0, 0};
        double sum = 0;
        int scored_tasks = 0;
        for (int t = 0; t < n_tasks; t++) {
            int sc, er;
            double m = cells_mean(cells, n, x->method, x->ratio, tasks[t], &sc, &er);
            x->n_cells += sc, x->n_errors += er;
            if (!isnan(m))
                sum += m, scored_tasks++;
        }
        x->mean = scored_tasks ? sum / scored_tasks : NAN;
        for (int j = k - 1; j > 0 && strcmp(g[j - 1].method, g[j].method) == 0 && g[j - 1].ratio > g[j].ratio; j--) {
            group t = g[j]; /* ascending ratios within a method (several lengths interleave them) */
            g[j] = g[j - 1];
            g[j - 1] = t;
        }
    }
    return k;
}

static void add_mean(cJSON *o, const char *key, double v) {
    if (isnan(v))
        cJSON_AddNullToObject(o, key);
    else
        cJSON_AddNumberToObject(o, key, v);
}

static int write_summary(const char *path, const eval_cell *cells, int n, const group *g, int n_groups,
                         const char **tasks, int n_tasks, char *err, size_t errlen) {
    cJSON *root = cJSON_CreateObject();
    cJSON *methods = cJSON_AddArrayToObject(root, "methods");
    cJSON *per_task = cJSON_AddArrayToObject(root, "tasks");
    if (n)
        cJSON_AddStringToObject(root, "template", cells[0].prompt_template);
    for (int i = 0; methods && i < n_groups; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(methods, o);
        cJSON_AddStringToObject(o, "method", g[i].method);
        cJSON_AddNumberToObject(o, "ratio", g[i].ratio);
        add_mean(o, "mean_score", g[i].mean);
        cJSON_AddNumberToObject(o, "n_cells", g[i].n_cells);
        cJSON_AddNumberToObject(o, "n_errors", g[i].n_errors);
        cJSON *by_task = cJSON_AddObjectToObject(o, "per_task");
        for (int t = 0; t < n_tasks; t++) {
            int sc, er;
            double m = cells_mean(cells, n, g[i].method, g[i].ratio, tasks[t], &sc, &er);
            if (sc + er == 0)
                continue;
            add_mean(by_task, tasks[t], m);
            cJSON *row = cJSON_CreateObject();
            cJSON_AddItemToArray(per_task, row);
            cJSON_AddStringToObject(row, "task", tasks[t]);
            cJSON_AddStringToObject(row, "method", g[i].method);
            cJSON_AddNumberToObject(row, "ratio", g[i].ratio);
            add_mean(row, "mean_score", m);
            cJSON_AddNumberToObject(row, "n_cells", sc);
            cJSON_AddNumberToObject(row, "n_errors", er);
        }
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return snprintf(err, errlen, "out of memory"), 1;
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(text);
        return snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno)), 1;
    }
    int bad = fputs(text, f) < 0 || fputc('\n', f) == EOF;
    free(text);
    if (fclose(f) || bad)
        return snprintf(err, errlen, "cannot write '%s'", path), 1;
    return 0;
}

/* The chart's frame, in pixels. */
enum { W = 720, H = 420, PL = 60, PR = 170, PT = 40, PB = 50 };

static double px(double ratio) {
    return PL + ratio * (W - PL - PR);
}

static double py(double score) {
    return PT + (1.0 - score) * (H - PT - PB);
}

static const char *palette[] = {"#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD",
                                "#8C564B", "#E377C2", "#7F7F7F", "#BCBD22", "#17BECF"};

/* Mean score (x 100) against the compression ratio, one line per method starting from full attention's point at
 * ratio 0 (as kvpress's leaderboard plot), full attention itself a dashed level line. One <circle class="point">
 * with a <title> per (method, ratio). */
static int write_svg(const char *path, const group *g, int n_groups, char *err, size_t errlen) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno)), 1;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
               "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n<rect class=\"background\" "
               "width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H, W, H);
    fprintf(f, "<text x=\"%d\" y=\"20\" font-size=\"13\">RULER: mean score vs compression ratio</text>\n", PL);
    for (int i = 0; i <= 4; i++) { /* axes and grid: score 0..100, ratio 0..1 */
        double v = i / 4.0;
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#DDD\"/>\n", PL, py(v), W - PR, py(v));
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%d</text>\n", PL - 6, py(v) + 3,
                i * 25);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#DDD\"/>\n", px(v), PT, px(v), H - PB);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">%.2f</text>\n", px(v),
                H - PB + 14, v);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">Compression ratio (fraction of the "
               "prompt's tokens dropped)</text>\n", px(0.5), H - 12);
    fprintf(f, "<text x=\"14\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 14 %.1f)\">"
               "Score</text>\n", py(0.5), py(0.5));
    const group *full = NULL;
    for (int i = 0; i < n_groups; i++)
        if (is_full(g[i].method) && !isnan(g[i].mean))
            full = &g[i];
    if (full)
        fprintf(f, "<line class=\"full\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#000\" "
                   "stroke-dasharray=\"5,4\"/>\n", PL, py(full->mean), W - PR, py(full->mean));
    int n_lines = 0;
    for (int i = 0; i < n_groups; i++) {
        if (i && strcmp(g[i - 1].method, g[i].method) == 0)
            continue;
        bool is_full_line = full && strcmp(g[i].method, full->method) == 0;
        const char *colour = is_full_line ? "#000000" : palette[n_lines % 10];
        fputs("<polyline class=\"line\" fill=\"none\" stroke-width=\"2\" stroke=\"", f);
        fprintf(f, "%s\" points=\"", colour);
        bool from_full = full && !is_full_line && g[i].ratio > 0;
        if (from_full)
            fprintf(f, "%.1f,%.1f ", px(0), py(full->mean));
        for (int j = i; j < n_groups && strcmp(g[j].method, g[i].method) == 0; j++)
            if (!isnan(g[j].mean))
                fprintf(f, "%.1f,%.1f ", px(g[j].ratio), py(g[j].mean));
        fputs("\"/>\n", f);
        for (int j = i; j < n_groups && strcmp(g[j].method, g[i].method) == 0; j++) {
            fprintf(f, "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"><title>", px(g[j].ratio),
                    py(isnan(g[j].mean) ? 0 : g[j].mean), colour);
            eval_xml_text(f, g[j].method);
            if (isnan(g[j].mean))
                fprintf(f, " ratio %.3f: no scored cell (%d errors)</title></circle>\n", g[j].ratio, g[j].n_errors);
            else
                fprintf(f, " ratio %.3f: %.1f over %d cells</title></circle>\n", g[j].ratio, 100 * g[j].mean,
                        g[j].n_cells);
        }
        int ly = PT + 16 * n_lines + 8;
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/>", W - PR + 14, ly,
                W - PR + 34, ly, colour);
        fprintf(f, "<text class=\"legend\" x=\"%d\" y=\"%d\" font-size=\"11\">", W - PR + 40, ly + 4);
        eval_xml_text(f, g[i].method);
        fputs("</text>\n", f);
        n_lines++;
    }
    fputs("</svg>\n", f);
    int bad = ferror(f);
    if (fclose(f) || bad)
        return snprintf(err, errlen, "cannot write '%s'", path), 1;
    return 0;
}

int ruler_write_reports(const char *out_dir, char *err, size_t errlen) {
    eval_cell *cells = NULL;
    int n = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/results.jsonl", out_dir);
    if (eval_jsonl_read(path, &cells, &n, err, errlen))
        return 1;
    eval_cells_sort(cells, n);
    const char **tasks = malloc((size_t)(n ? n : 1) * sizeof *tasks);
    group *g = malloc((size_t)(n ? n : 1) * sizeof *g);
    int rc = !tasks || !g ? (snprintf(err, errlen, "out of memory"), 1) : 0;
    if (!rc) {
        int n_tasks = task_names(cells, n, tasks), n_groups = make_groups(cells, n, tasks, n_tasks, g);
        snprintf(path, sizeof path, "%s/results.csv", out_dir);
        rc = write_csv(path, cells, n, err, errlen);
        snprintf(path, sizeof path, "%s/summary.json", out_dir);
        if (!rc)
            rc = write_summary(path, cells, n, g, n_groups, tasks, n_tasks, err, errlen);
        snprintf(path, sizeof path, "%s/ruler.svg", out_dir);
        if (!rc)
            rc = write_svg(path, g, n_groups, err, errlen);
    }
    free(tasks);
    free(g);
    eval_cells_free(cells, n);
    return rc;
}
