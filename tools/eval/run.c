/* run.c - one needle cell (prompt, greedy generation, score) and a grid of them streamed to JSON lines. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eval.h"


/* Fills the cell from a successful generation. */
static int cell_from_result(eval_cell *cell, const gemcl_result *r, const int *at, const int *len, int k,
                            int save_kept) {
    cell->response = strdup(r->text ? r->text : "");
    if (!cell->response)
        return 1;
    cell->filter_layer = r->filter_layer;
    cell->filter_ms = r->filter_ms;
    cell->prefill_ms = r->prefill_ms;
    cell->decode_ms = r->decode_ms;
    cell->ttft_ms = r->filter_ms + r->prefill_ms; /* the first token comes out of the prefill */
    cell->peak_device_bytes = r->peak_device_bytes;
    cell->n_prompt_tokens = r->n_prompt_tokens;
    cell->n_kept_tokens = r->n_kept_tokens;
    if (k == 0)
        return 0;
    if (r->kept_indices) { /* a token-selection method: did the whole needle make it? */
        cell->needle_kept = 0;
        for (int i = 0; i < k; i++)
            cell->needle_kept += eval_count_kept(r->kept_indices, r->n_kept_tokens, at[i], len[i]);
        cell->needle_survived = cell->needle_kept == cell->needle_len;
        if (save_kept) {
            if (!(cell->kept = malloc((size_t)(r->n_kept_tokens ? r->n_kept_tokens : 1) * sizeof *cell->kept)))
                return 1;
            memcpy(cell->kept, r->kept_indices, (size_t)r->n_kept_tokens * sizeof *cell->kept);
            cell->n_kept = r->n_kept_tokens;
        }
    } else if (r->filter_layer >= 0) { /* a selection method that kept the whole (short) prompt */
        cell->needle_kept = cell->needle_len;
        cell->needle_survived = 1;
    }
    return 0;
}

int eval_generate_cell(gemcl_model *model, gemcl_context *ctx, const int32_t *ids, int n, const char *method,
                       int filter_layer, int budget, int max_tokens, int save_kept, const int *at, const int *len,
                       int k, eval_cell *cell, char *err, size_t errlen) {
    gemcl_generate_params g = gemcl_generate_default_params();
    if (gemcl_method_from_name(method, &g.method.method) != GEMCL_OK)
        return snprintf(err, errlen, "unknown method '%s'", method), 1;
    gemcl_model_info info;
    gemcl_model_get_info(model, &info);
    g.method.filter_layer = filter_layer;
    g.method.budget = budget;
    g.max_tokens = max_tokens;
    g.temperature = 0.0f; /* greedy, as the reference */
    cell->budget = budget > 0 ? budget : info.budget;
    cell->n_prompt_tokens = n;
    cell->needle_at = k ? at[0] : 0;
    cell->needle_len = 0;
    for (int i = 0; i < k; i++)
        cell->needle_len += len[i];
    gemcl_result r;
    gemcl_status st = gemcl_generate_tokens(ctx, ids, n, &g, &r);
    if (st == GEMCL_ERR_INVALID_ARG) /* the options are wrong: every cell would fail the same way */
        return snprintf(err, errlen, "%s", gemcl_context_last_error(ctx)), 1;
    if (st != GEMCL_OK) {            /* this cell cannot run (context full, out of memory): record it */
        if (!(cell->error = strdup(gemcl_context_last_error(ctx))))
            return snprintf(err, errlen, "out of memory"), 1;
        return 0;
    }
    int rc = cell_from_result(cell, &r, at, len, k, save_kept);
    gemcl_result_free(&r);
    return rc ? (snprintf(err, errlen, "out of memory"), 1) : 0;
}

int eval_run_cell(eval_task *t, gemcl_context *ctx, const char *method, int filter_layer, int budget,
                  int max_tokens, int save_kept, int length, int depth, eval_cell *cell, char *err, size_t errlen) {
    eval_cell_init(cell, t->kind == EVAL_TASK_PASSKEY ? "passkey" : "needle", method, t->prompt_template, length);
    cell->depth = depth;
    gemcl_method m;
    if (gemcl_method_from_name(method, &m) != GEMCL_OK)
        return snprintf(err, errlen, "unknown method '%s'", method), 1;
    eval_prompt p;
    if (eval_build_prompt(t, length, depth, &p, err, errlen))
        return 1;
    cell->passkey = p.passkey;
    int rc = eval_generate_cell(t->model, ctx, p.ids, p.n, method, filter_layer, budget, max_tokens, save_kept,
                                &p.needle_at, &p.needle_len, 1, cell, err, errlen);
    if (!rc && !cell->error)
        cell->score = t->kind == EVAL_TASK_PASSKEY ? eval_score_passkey(cell->response, p.passkey)
                                                   : eval_score_needle(cell->response, t->expected);
    eval_prompt_free(&p);
    if (rc)
        eval_cell_free(cell);
    return rc;
}

int eval_results_append(FILE *f, const eval_cell *c, char *err, size_t errlen) {
    char *json = eval_cell_to_json(c);
    if (!json)
        return snprintf(err, errlen, "out of memory"), 1;
    int bad = fputs(json, f) < 0 || fputc('\n', f) == EOF || fflush(f) != 0;
    free(json);
    return bad ? (snprintf(err, errlen, "cannot append to the results file: %s", strerror(errno)), 1) : 0;
}

static void progress(const eval_run_stats *s, const eval_cell *c, double t0) {
    double elapsed = (gemcl_time_us() / 1e6) - t0;
    int done = s->n_run + s->n_skipped, left = s->n_cells - done;
    double eta = s->n_run ? elapsed / s->n_run * left : 0;
    if (c->error)
        fprintf(stderr, "needle: [%d/%d] %s length %d depth %d: error: %s | %.0f s elapsed, ~%.0f s left\n", done,
                s->n_cells, c->method, c->length, c->depth, c->error, elapsed, eta);
    else
        fprintf(stderr, "needle: [%d/%d] %s length %d depth %d: score %.3f, ttft %.0f ms | %.0f s elapsed, ~%.0f s left\n",
                done, s->n_cells, c->method, c->length, c->depth, c->score, c->ttft_ms, elapsed, eta);
}

/* summary.json: the mean score of each method (cells sorted by method), error cells counted apart. */
static int write_summary(const char *path, const eval_cell *cells, int n, char *err, size_t errlen) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno)), 1;
    fputs("{\"methods\": [", f);
    for (int i = 0, k = 0; i < n; i++) {
        if (i && strcmp(cells[i - 1].method, cells[i].method) == 0)
            continue;
        int scored, errors;
        double mean = eval_mean_score(cells, n, cells[i].method, &scored, &errors);
        fprintf(f, "%s\n  {\"method\": \"%s\", \"task\": \"%s\", \"template\": \"%s\", ", k++ ? "," : "",
                cells[i].method, cells[i].task, cells[i].prompt_template);
        if (isnan(mean))
            fputs("\"mean_score\": null", f);
        else
            fprintf(f, "\"mean_score\": %.6f", mean);
        fprintf(f, ", \"n_cells\": %d, \"n_errors\": %d}", scored, errors);
    }
    fputs("\n]}\n", f);
    int bad = ferror(f);
    if (fclose(f) || bad)
        return snprintf(err, errlen, "cannot write '%s'", path), 1;
    return 0;
}

static int write_reports(const eval_task *t, const eval_run_opts *o, const char *jsonl, char *err, size_t errlen) {
    eval_cell *cells = NULL;
    int n = 0;
    char path[4096], title[256];
    if (eval_jsonl_read(jsonl, &cells, &n, err, errlen))
        return 1;
    eval_cells_sort(cells, n);
    snprintf(path, sizeof path, "%s/results.csv", o->out_dir);
    int rc = eval_csv_write(path, cells, n, err, errlen);
    snprintf(path, sizeof path, "%s/heatmap.svg", o->out_dir);
    snprintf(title, sizeof title, "%s retrieval: score by context length (tokens) and depth (%%)",
             t->kind == EVAL_TASK_PASSKEY ? "Passkey" : "Needle-in-a-haystack");
    if (!rc)
        rc = eval_svg_write(path, cells, n, title, err, errlen);
    snprintf(path, sizeof path, "%s/summary.json", o->out_dir);
    if (!rc)
        rc = write_summary(path, cells, n, err, errlen);
    eval_cells_free(cells, n);
    return rc;
}

/* Cuts a half-written last line (an interrupted run) so that appended cells start on a line of their own. */
static int drop_partial_line(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    long keep = 0, pos = 0;
    int ch;
    while ((ch = fgetc(f)) != EOF) {
        pos++;
        if (ch == '\n')
            keep = pos;
    }
    fclose(f);
    if (keep < pos && truncate(path, keep) != 0)
        return snprintf(err, errlen, "cannot truncate '%s': %s", path, strerror(errno)), 1;
    return 0;
}

/* A fresh run refuses to mix with an old file. */
FILE *eval_results_open(const char *out_dir, int resume, char *jsonl, size_t cap, char *err, size_t errlen) {
    if (mkdir(out_dir, 0777) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create output directory '%s': %s", out_dir, strerror(errno));
        return NULL;
    }
    snprintf(jsonl, cap, "%s/results.jsonl", out_dir);
    struct stat st;
    if (!resume && stat(jsonl, &st) == 0 && st.st_size > 0) {
        snprintf(err, errlen, "'%s' exists: --resume continues it, or choose another -o", jsonl);
        return NULL;
    }
    if (resume && drop_partial_line(jsonl, err, errlen))
        return NULL;
    FILE *f = fopen(jsonl, "ab");
    if (!f)
        snprintf(err, errlen, "cannot open '%s': %s", jsonl, strerror(errno));
    return f;
}

/* A resumed file must come from the same task, prompt template, budget and filter layer, or its cells would be
 * mixed in. */
static int check_resumable(const eval_cell *done, int n_done, const char *task, const char *tmpl,
                           const eval_run_opts *o, char *err, size_t errlen) {
    for (int i = 0; i < n_done; i++) {
        const eval_cell *c = &done[i];
        const char *what = strcmp(c->task, task) != 0                                        ? "task"
                           : strcmp(c->prompt_template, tmpl) != 0                           ? "prompt template"
                           : c->filter_layer >= 0 && o->budget > 0 && c->budget != o->budget ? "budget"
                           : c->filter_layer >= 0 && o->filter_layer >= 0 && c->filter_layer != o->filter_layer
                               ? "filter layer"
                               : NULL;
        if (what)
            return snprintf(err, errlen, "cannot resume: the results there were made with another %s (%s %s, budget "
                            "%d, filter layer %d); choose another -o", what, c->task, c->method, c->budget,
                            c->filter_layer), 1;
    }
    return 0;
}

int eval_run_grid(eval_task *t, gemcl_context *ctx, const eval_run_opts *o, eval_run_stats *stats, char *err,
                  size_t errlen) {
    eval_run_stats s = {o->n_lengths * o->n_depths * o->n_methods, 0, 0, 0};
    char jsonl[4096];
    eval_cell *done = NULL;
    int n_done = 0;
    FILE *f = NULL;
    const char *task = t->kind == EVAL_TASK_PASSKEY ? "passkey" : "needle";
    if (o->out_dir) {
        if (!(f = eval_results_open(o->out_dir, o->resume, jsonl, sizeof jsonl, err, errlen)))
            return 1;
        if (o->resume && (eval_jsonl_read(jsonl, &done, &n_done, err, errlen) ||
                          check_resumable(done, n_done, task, t->prompt_template, o, err, errlen))) {
            eval_cells_free(done, n_done);
            fclose(f);
            return 1;
        }
        if (!o->quiet)
            fprintf(stderr, "needle: %d cells (%d methods x %d lengths x %d depths)%s, haystack %d tokens\n",
                    s.n_cells, o->n_methods, o->n_lengths, o->n_depths, n_done ? ", resuming" : "", t->n_hay);
    }
    double t0 = gemcl_time_us() / 1e6;
    int rc = 0;
    for (int li = 0; li < o->n_lengths && !rc; li++)
        for (int di = 0; di < o->n_depths && !rc; di++)
            for (int mi = 0; mi < o->n_methods && !rc; mi++) {
                int length = o->lengths[li], depth = o->depths[di];
                eval_cell key;
                eval_cell_init(&key, task, o->methods[mi], t->prompt_template, length);
                key.depth = depth;
                if (eval_cells_find(done, n_done, &key) >= 0) {
                    s.n_skipped++;
                    continue;
                }
                eval_cell c;
                if ((rc = eval_run_cell(t, ctx, o->methods[mi], o->filter_layer, o->budget, o->max_tokens,
                                        o->save_kept, length, depth, &c, err, errlen)))
                    break;
                s.n_run++;
                s.n_errors += c.error != NULL;
                if (f)
                    rc = eval_results_append(f, &c, err, errlen);
                if (!o->quiet)
                    progress(&s, &c, t0);
                eval_cell_free(&c);
            }
    eval_cells_free(done, n_done);
    if (f && fclose(f) != 0 && !rc)
        rc = (snprintf(err, errlen, "cannot write '%s'", jsonl), 1);
    if (f && !rc)
        rc = write_reports(t, o, jsonl, err, errlen);
    if (stats)
        *stats = s;
    return rc;
}

gemcl_status eval_open(const char *path, const char *device, int n_ctx, gemcl_model **model, gemcl_context **ctx,
                       char *err, size_t errlen) {
    gemcl_model_params mp = gemcl_model_default_params();
    mp.device = device;
    *model = NULL;
    *ctx = NULL;
    gemcl_status st = gemcl_model_load(path, &mp, model, err, errlen);
    if (st != GEMCL_OK)
        return st;
    gemcl_context_params cp = gemcl_context_default_params();
    cp.n_ctx = n_ctx;
    st = gemcl_context_create(*model, &cp, ctx, err, errlen);
    if (st != GEMCL_OK) {
        gemcl_model_free(*model);
        *model = NULL;
    }
    return st;
}
