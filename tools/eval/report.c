/* report.c - cells as JSON lines, CSV and an SVG heatmap. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"

void eval_cell_init(eval_cell *c, const char *task, const char *method, const char *prompt_template, int length) {
    memset(c, 0, sizeof *c);
    c->length = length;
    c->score = NAN;
    c->needle_survived = c->needle_kept = -1;
    c->filter_layer = -1;
    c->ratio = -1;
    snprintf(c->task, sizeof c->task, "%s", task);
    snprintf(c->method, sizeof c->method, "%s", method);
    snprintf(c->prompt_template, sizeof c->prompt_template, "%s", prompt_template);
}

void eval_cell_free(eval_cell *c) {
    if (!c)
        return;
    free(c->response);
    free(c->error);
    free(c->kept);
    for (int i = 0; i < c->n_expected; i++)
        free(c->expected[i]);
    free(c->expected);
    memset(c, 0, sizeof *c);
}

void eval_cells_free(eval_cell *cells, int n) {
    for (int i = 0; i < n; i++)
        eval_cell_free(&cells[i]);
    free(cells);
}

int eval_count_kept(const int32_t *kept, int n_kept, int needle_at, int needle_len) {
    int count = 0;
    for (int i = 0; i < n_kept; i++)
        count += kept[i] >= needle_at && kept[i] < needle_at + needle_len;
    return count;
}

/* ---- JSON ---- */

static void add_num_or_null(cJSON *o, const char *key, double v, int is_null) {
    if (is_null)
        cJSON_AddNullToObject(o, key);
    else
        cJSON_AddNumberToObject(o, key, v);
}

char *eval_cell_to_json(const eval_cell *c) {
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "task", c->task);
    cJSON_AddStringToObject(o, "method", c->method);
    cJSON_AddStringToObject(o, "template", c->prompt_template);
    cJSON_AddNumberToObject(o, "length", c->length);
    if (c->expected) { /* a RULER cell: a sample at a compression ratio, scored against strings */
        cJSON_AddNumberToObject(o, "ratio", c->ratio);
        cJSON_AddNumberToObject(o, "sample", c->sample);
    } else {
        cJSON_AddNumberToObject(o, "depth", c->depth);
    }
    cJSON_AddNumberToObject(o, "filter_layer", c->filter_layer);
    cJSON_AddNumberToObject(o, "budget", c->budget);
    add_num_or_null(o, "score", c->score, isnan(c->score));
    const char *answer_key = c->expected ? "answer" : "response";
    if (c->response)
        cJSON_AddStringToObject(o, answer_key, c->response);
    else
        cJSON_AddNullToObject(o, answer_key);
    if (c->expected) {
        cJSON *a = cJSON_AddArrayToObject(o, "expected");
        for (int i = 0; a && i < c->n_expected; i++)
            cJSON_AddItemToArray(a, cJSON_CreateString(c->expected[i]));
    }
    if (c->error)
        cJSON_AddStringToObject(o, "error", c->error);
    cJSON_AddNumberToObject(o, "ttft_ms", c->ttft_ms);
    cJSON_AddNumberToObject(o, "filter_ms", c->filter_ms);
    cJSON_AddNumberToObject(o, "prefill_ms", c->prefill_ms);
    cJSON_AddNumberToObject(o, "decode_ms", c->decode_ms);
    cJSON_AddNumberToObject(o, "peak_device_bytes", (double)c->peak_device_bytes);
    cJSON_AddNumberToObject(o, "n_prompt_tokens", c->n_prompt_tokens);
    cJSON_AddNumberToObject(o, "n_kept_tokens", c->n_kept_tokens);
    cJSON_AddNumberToObject(o, "needle_at", c->needle_at);
    cJSON_AddNumberToObject(o, "needle_len", c->needle_len);
    if (c->needle_survived < 0)
        cJSON_AddNullToObject(o, "needle_survived");
    else
        cJSON_AddBoolToObject(o, "needle_survived", c->needle_survived);
    add_num_or_null(o, "needle_kept", c->needle_kept, c->needle_kept < 0);
    if (c->passkey)
        cJSON_AddNumberToObject(o, "passkey", c->passkey);
    if (c->kept) {
        cJSON *a = cJSON_AddArrayToObject(o, "kept_indices");
        for (int i = 0; a && i < c->n_kept; i++)
            cJSON_AddItemToArray(a, cJSON_CreateNumber(c->kept[i]));
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static double num(const cJSON *o, const char *key, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static char *str_dup(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

/* A RULER cell's expected strings (at least an empty array marks the cell as RULER's). */
static int read_expected(const cJSON *o, eval_cell *c) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "expected");
    if (!cJSON_IsArray(a))
        return 0;
    int n = cJSON_GetArraySize(a);
    if (!(c->expected = calloc((size_t)(n ? n : 1), sizeof *c->expected)))
        return 1;
    for (const cJSON *v = a->child; v; v = v->next)
        if (!(c->expected[c->n_expected++] = strdup(cJSON_IsString(v) ? v->valuestring : "")))
            return 1;
    return 0;
}

static int read_kept(const cJSON *o, eval_cell *c) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "kept_indices");
    if (!cJSON_IsArray(a))
        return 0;
    int n = cJSON_GetArraySize(a);
    if (!(c->kept = malloc((size_t)(n ? n : 1) * sizeof *c->kept)))
        return 1;
    for (const cJSON *v = a->child; v; v = v->next)
        c->kept[c->n_kept++] = (int32_t)(cJSON_IsNumber(v) ? v->valueint : -1);
    return 0;
}

/* The integer fields a cell is keyed and counted by, with the range each must lie in: a cell from a hand-edited
 * or foreign file outside them would be resumed as done and counted in summary.json (issue 16). */
static const struct {
    const char *key;
    double lo, hi;
} cell_ranges[] = {
    {"length", 1, INT_MAX},         {"depth", 0, 100},           {"budget", 0, INT_MAX},
    {"filter_layer", -1, INT_MAX},  {"n_prompt_tokens", 0, INT_MAX}, {"n_kept_tokens", 0, INT_MAX},
    {"needle_at", 0, INT_MAX},      {"needle_len", 0, INT_MAX},  {"sample", 0, INT_MAX},
};

static int check_cell_ranges(const cJSON *o, char *err, size_t errlen) {
    for (size_t i = 0; i < sizeof cell_ranges / sizeof cell_ranges[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, cell_ranges[i].key);
        if (!v)
            continue;
        double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
        if (!(x >= cell_ranges[i].lo && x <= cell_ranges[i].hi) || x != floor(x))
            return snprintf(err, errlen, "'%s' must be an integer in [%.0f, %.0f]", cell_ranges[i].key,
                            cell_ranges[i].lo, cell_ranges[i].hi), 2;
    }
    const cJSON *ratio = cJSON_GetObjectItemCaseSensitive(o, "ratio");
    if (ratio && !(cJSON_IsNumber(ratio) && ratio->valuedouble >= 0 && ratio->valuedouble < 1))
        return snprintf(err, errlen, "'ratio' must be a number in [0, 1)"), 2;
    return 0;
}

int eval_cell_from_json(const char *line, eval_cell *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    cJSON *o = cJSON_Parse(line);
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(o, "method");
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(o, "task");
    if (!cJSON_IsObject(o) || !cJSON_IsString(method) || !cJSON_IsString(task) ||
        !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "length")) ||
        !(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "depth")) ||
          cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "sample")))) {
        cJSON_Delete(o);
        return snprintf(err, errlen, "not a result cell (want task, method, length, depth or sample)"), 1;
    }
    if (check_cell_ranges(o, err, errlen)) {
        cJSON_Delete(o);
        return 2;
    }
    snprintf(c->method, sizeof c->method, "%s", method->valuestring);
    snprintf(c->task, sizeof c->task, "%s", task->valuestring);
    const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(o, "template"); /* files before chat templates: raw */
    snprintf(c->prompt_template, sizeof c->prompt_template, "%s", cJSON_IsString(tmpl) ? tmpl->valuestring : "raw");
    c->length = (int)num(o, "length", 0);
    c->depth = (int)num(o, "depth", 0);
    c->filter_layer = (int)num(o, "filter_layer", -1);
    c->budget = (int)num(o, "budget", 0);
    c->score = num(o, "score", NAN);
    c->response = str_dup(o, cJSON_GetObjectItemCaseSensitive(o, "answer") ? "answer" : "response");
    c->sample = (int)num(o, "sample", 0);
    c->ratio = num(o, "ratio", -1);
    c->error = str_dup(o, "error");
    c->ttft_ms = num(o, "ttft_ms", 0);
    c->filter_ms = num(o, "filter_ms", 0);
    c->prefill_ms = num(o, "prefill_ms", 0);
    c->decode_ms = num(o, "decode_ms", 0);
    c->peak_device_bytes = (uint64_t)num(o, "peak_device_bytes", 0);
    c->n_prompt_tokens = (int)num(o, "n_prompt_tokens", 0);
    c->n_kept_tokens = (int)num(o, "n_kept_tokens", 0);
    c->needle_at = (int)num(o, "needle_at", 0);
    c->needle_len = (int)num(o, "needle_len", 0);
    const cJSON *surv = cJSON_GetObjectItemCaseSensitive(o, "needle_survived");
    c->needle_survived = cJSON_IsBool(surv) ? cJSON_IsTrue(surv) : -1;
    c->needle_kept = (int)num(o, "needle_kept", -1);
    c->passkey = (int)num(o, "passkey", 0);
    int rc = read_kept(o, c) || read_expected(o, c);
    cJSON_Delete(o);
    if (rc) {
        eval_cell_free(c);
        return snprintf(err, errlen, "out of memory"), 1;
    }
    return 0;
}

static int same_key(const eval_cell *a, const eval_cell *b) {
    return a->length == b->length && a->depth == b->depth && strcmp(a->method, b->method) == 0 &&
           strcmp(a->task, b->task) == 0 && a->sample == b->sample && a->ratio == b->ratio;
}

int eval_cells_find(const eval_cell *cells, int n, const eval_cell *key) {
    for (int i = 0; i < n; i++)
        if (same_key(&cells[i], key))
            return i;
    return -1;
}

/* Reads one line of any length into *buf; returns its length, -1 at the end of the file. */
static long read_line(FILE *f, char **buf, size_t *cap) {
    size_t n = 0;
    int ch;
    while ((ch = fgetc(f)) != EOF) {
        if (n + 2 > *cap) {
            char *b = realloc(*buf, *cap = *cap * 2 + 4096);
            if (!b)
                return -2;
            *buf = b;
        }
        if (ch == '\n')
            break;
        (*buf)[n++] = (char)ch;
    }
    if (ch == EOF && n == 0)
        return -1;
    (*buf)[n] = '\0';
    return (long)n;
}

static int add_cell(eval_cell **cells, int *n, int *cap, eval_cell *c) {
    for (int i = 0; i < *n; i++)
        if (same_key(&(*cells)[i], c)) {
            eval_cell_free(&(*cells)[i]);
            (*cells)[i] = *c;
            return 0;
        }
    if (*n == *cap) {
        eval_cell *a = realloc(*cells, (size_t)(*cap = *cap ? *cap * 2 : 64) * sizeof *a);
        if (!a)
            return 1;
        *cells = a;
    }
    (*cells)[(*n)++] = *c;
    return 0;
}

int eval_jsonl_read(const char *path, eval_cell **cells, int *n, char *err, size_t errlen) {
    *cells = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? 0 : (snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno)), 1);
    char *buf = NULL;
    size_t cap = 0;
    int cap_cells = 0, rc = 0, lineno = 0;
    long len;
    while (!rc && (len = read_line(f, &buf, &cap)) != -1) {
        lineno++;
        if (len == -2) {
            rc = (snprintf(err, errlen, "out of memory reading '%s'", path), 1);
            break;
        }
        if (len == 0)
            continue;
        eval_cell c;
        char e[256];
        int bad = eval_cell_from_json(buf, &c, e, sizeof e);
        if (bad) {
            int at_end = bad == 1 && (feof(f) || fgetc(f) == EOF);
            if (at_end) /* an interrupted write: the cell will simply run again */
                break;
            rc = (snprintf(err, errlen, "%s line %d: %s", path, lineno, e), 1);
            break;
        }
        if (add_cell(cells, n, &cap_cells, &c)) {
            eval_cell_free(&c);
            rc = (snprintf(err, errlen, "out of memory reading '%s'", path), 1);
        }
    }
    free(buf);
    fclose(f);
    if (rc) {
        eval_cells_free(*cells, *n);
        *cells = NULL;
        *n = 0;
    }
    return rc;
}

/* ---- ordering and means ---- */

/* The index of the method's first cell: methods keep the order in which they first appear. */
static int method_rank(const eval_cell *cells, int n, const char *method) {
    for (int i = 0; i < n; i++)
        if (strcmp(cells[i].method, method) == 0)
            return i;
    return n;
}

typedef struct ranked {
    eval_cell cell;
    int rank;
} ranked;

static int cmp_ranked(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    if (a->rank != b->rank)
        return a->rank - b->rank;
    if (a->cell.length != b->cell.length)
        return a->cell.length - b->cell.length;
    if (a->cell.depth != b->cell.depth)
        return a->cell.depth - b->cell.depth;
    int task = strcmp(a->cell.task, b->cell.task);
    if (task)
        return task;
    if (a->cell.ratio != b->cell.ratio)
        return a->cell.ratio < b->cell.ratio ? -1 : 1;
    return a->cell.sample - b->cell.sample;
}

void eval_cells_sort(eval_cell *cells, int n) {
    ranked *r = malloc((size_t)(n ? n : 1) * sizeof *r);
    if (!r)
        return;
    for (int i = 0; i < n; i++)
        r[i] = (ranked){cells[i], method_rank(cells, n, cells[i].method)};
    qsort(r, (size_t)n, sizeof *r, cmp_ranked);
    for (int i = 0; i < n; i++)
        cells[i] = r[i].cell;
    free(r);
}

double eval_mean_score(const eval_cell *cells, int n, const char *method, int *n_scored, int *n_errors) {
    double sum = 0;
    int k = 0, errs = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(cells[i].method, method) != 0)
            continue;
        if (isnan(cells[i].score))
            errs++;
        else
            sum += cells[i].score, k++;
    }
    if (n_scored)
        *n_scored = k;
    if (n_errors)
        *n_errors = errs;
    return k ? sum / k : NAN;
}

/* ---- CSV ---- */

void eval_csv_text(FILE *f, const char *s) {
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"')
            fputs("\"\"", f);
        else if (*s == '\n')
            fputs("\\n", f);
        else if (*s == '\r')
            fputs("\\r", f);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

int eval_csv_write(const char *path, const eval_cell *cells, int n, char *err, size_t errlen) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno)), 1;
    fputs("task,template,method,length,depth,score,response,ttft_ms,peak_device_bytes,needle_survived,needle_kept,"
          "needle_len,n_prompt_tokens,n_kept_tokens,filter_layer,budget,filter_ms,prefill_ms,decode_ms,error\n",
          f);
    for (int i = 0; i < n; i++) {
        const eval_cell *c = &cells[i];
        fprintf(f, "%s,%s,%s,%d,%d,", c->task, c->prompt_template, c->method, c->length, c->depth);
        if (!isnan(c->score))
            fprintf(f, "%.6f", c->score);
        fputc(',', f);
        eval_csv_text(f, c->response);
        fprintf(f, ",%.3f,%llu,%s,", c->ttft_ms, (unsigned long long)c->peak_device_bytes,
                c->needle_survived < 0 ? "" : c->needle_survived ? "true" : "false");
        if (c->needle_kept >= 0)
            fprintf(f, "%d", c->needle_kept);
        fprintf(f, ",%d,%d,%d,%d,%d,%.3f,%.3f,%.3f,", c->needle_len, c->n_prompt_tokens, c->n_kept_tokens,
                c->filter_layer, c->budget, c->filter_ms, c->prefill_ms, c->decode_ms);
        if (c->error)
            eval_csv_text(f, c->error);
        fputc('\n', f);
    }
    int bad = ferror(f);
    if (fclose(f) || bad)
        return snprintf(err, errlen, "cannot write '%s'", path), 1;
    return 0;
}

/* ---- SVG heatmap ---- */

void eval_colormap(double v, int rgb[3]) {
    /* GemFilter's LinearSegmentedColormap.from_list(["#F0496E", "#EBB839", "#0CD79F"]): stops at 0, .5, 1 */
    static const int stops[3][3] = {{0xF0, 0x49, 0x6E}, {0xEB, 0xB8, 0x39}, {0x0C, 0xD7, 0x9F}};
    if (!(v >= 0)) /* also NaN */
        v = 0;
    if (v > 1)
        v = 1;
    int seg = v < 0.5 ? 0 : 1;
    double t = (v - 0.5 * seg) / 0.5;
    for (int i = 0; i < 3; i++)
        rgb[i] = (int)lround(stops[seg][i] + t * (stops[seg + 1][i] - stops[seg][i]));
}

void eval_xml_text(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\n' || *s == '\t')
                fputc(*s, f);
        }
    }
}

/* Sorted unique values of one axis over the cells. */
static int axis_values(const eval_cell *cells, int n, int want_depth, int *out) {
    int k = 0;
    for (int i = 0; i < n; i++) {
        int v = want_depth ? cells[i].depth : cells[i].length, j = k;
        int dup = 0;
        for (int m = 0; m < k; m++)
            dup |= out[m] == v;
        if (dup)
            continue;
        while (j > 0 && out[j - 1] > v)
            out[j] = out[j - 1], j--;
        out[j] = v;
        k++;
    }
    return k;
}

enum { CELL_W = 36, CELL_H = 22, LEFT = 60, TOP = 56, PANEL_GAP = 40, BOTTOM = 64, BAR_W = 16 };

static void svg_panel(FILE *f, const eval_cell *cells, int n, const char *method, int x0, const int *lens,
                      int n_lens, const int *depths, int n_depths) {
    int scored, errors;
    double mean = eval_mean_score(cells, n, method, &scored, &errors);
    fprintf(f, "<text class=\"title\" x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"14\">", x0 + n_lens * CELL_W / 2,
            TOP - 24);
    eval_xml_text(f, method);
    if (isnan(mean))
        fprintf(f, " (no scored cells)</text>\n");
    else
        fprintf(f, " (mean %.3f%s)</text>\n", mean, errors ? ", errors excluded" : "");
    for (int i = 0; i < n; i++) {
        const eval_cell *c = &cells[i];
        if (strcmp(c->method, method) != 0)
            continue;
        int xi = 0, yi = 0;
        while (xi < n_lens && lens[xi] != c->length)
            xi++;
        while (yi < n_depths && depths[yi] != c->depth)
            yi++;
        int rgb[3] = {0xCC, 0xCC, 0xCC};
        if (!isnan(c->score))
            eval_colormap(c->score, rgb);
        fprintf(f, "<rect class=\"cell\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#%02X%02X%02X\">",
                x0 + xi * CELL_W, TOP + yi * CELL_H, CELL_W, CELL_H, rgb[0], rgb[1], rgb[2]);
        fprintf(f, "<title>%s length %d depth %d%%: ", method, c->length, c->depth);
        if (isnan(c->score)) {
            fputs("error: ", f);
            eval_xml_text(f, c->error);
        } else {
            fprintf(f, "score %.3f", c->score);
        }
        fputs("</title></rect>\n", f);
    }
    for (int x = 0; x < n_lens; x++)
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"9\" text-anchor=\"end\" transform=\"rotate(-45 %d %d)\">%d</text>\n",
                x0 + x * CELL_W + CELL_W / 2, TOP + n_depths * CELL_H + 12, x0 + x * CELL_W + CELL_W / 2,
                TOP + n_depths * CELL_H + 12, lens[x]);
    for (int y = 0; y < n_depths; y++)
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"9\" text-anchor=\"end\">%d</text>\n", x0 - 4,
                TOP + y * CELL_H + CELL_H / 2 + 3, depths[y]);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">Token limit</text>\n",
            x0 + n_lens * CELL_W / 2, TOP + n_depths * CELL_H + BOTTOM - 8);
}

static void svg_colorbar(FILE *f, int x, int h) {
    for (int i = 0; i < 20; i++) {
        int rgb[3];
        eval_colormap(1.0 - (i + 0.5) / 20.0, rgb);
        fprintf(f, "<rect class=\"bar\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%.2f\" fill=\"#%02X%02X%02X\"/>\n", x,
                TOP + i * h / 20, BAR_W, h / 20.0 + 0.5, rgb[0], rgb[1], rgb[2]);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"9\">1.0</text>\n", x + BAR_W + 3, TOP + 8);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"9\">0.0</text>\n", x + BAR_W + 3, TOP + h);
}

int eval_svg_write(const char *path, const eval_cell *cells, int n, const char *title, char *err, size_t errlen) {
    int *lens = malloc((size_t)(n ? n : 1) * sizeof *lens), *depths = malloc((size_t)(n ? n : 1) * sizeof *depths);
    const char **methods = malloc((size_t)(n ? n : 1) * sizeof *methods);
    FILE *f = lens && depths && methods ? fopen(path, "wb") : NULL;
    if (!f) {
        free(lens), free(depths), free(methods);
        return snprintf(err, errlen, "cannot write '%s': %s", path, lens && depths && methods ? strerror(errno) : "out of memory"), 1;
    }
    int n_lens = axis_values(cells, n, 0, lens), n_depths = axis_values(cells, n, 1, depths), n_methods = 0;
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int m = 0; m < n_methods; m++)
            seen |= strcmp(methods[m], cells[i].method) == 0;
        if (!seen)
            methods[n_methods++] = cells[i].method;
    }
    int panel_w = n_lens * CELL_W, h = n_depths * CELL_H;
    int width = LEFT + n_methods * (panel_w + PANEL_GAP) + BAR_W + 40, height = TOP + h + BOTTOM;
    int title_w = LEFT + 7 * (int)strlen(title ? title : ""); /* room for the title line at 13 px */
    if (width < title_w)
        width = title_w;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\">\n<rect class=\"background\" width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            width, height, width, height);
    fprintf(f, "<text x=\"%d\" y=\"16\" font-size=\"13\">", LEFT);
    eval_xml_text(f, title);
    fputs("</text>\n", f);
    fprintf(f, "<text x=\"12\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 12 %d)\">Depth "
               "percent</text>\n", TOP + h / 2, TOP + h / 2);
    for (int m = 0; m < n_methods; m++)
        svg_panel(f, cells, n, methods[m], LEFT + m * (panel_w + PANEL_GAP), lens, n_lens, depths, n_depths);
    svg_colorbar(f, LEFT + n_methods * (panel_w + PANEL_GAP) - PANEL_GAP / 2, h);
    fputs("</svg>\n", f);
    free(lens), free(depths), free(methods);
    int bad = ferror(f);
    if (fclose(f) || bad)
        return snprintf(err, errlen, "cannot write '%s'", path), 1;
    return 0;
}
