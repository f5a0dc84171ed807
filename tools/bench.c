/* bench.c - `gemcl bench`'s options, measurements and output formats (see bench.h). Public API only. */
#include "bench.h"
#include "options.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int (*bench_vs_blas_hook)(gemcl_model *model, const bench_opts *o, bench_report *report) = NULL;

/* ---------------------------------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------------------------------- */

static const char *const format_names[] = {"md", "csv", "json", "summary"};
static const char *const dtype_names[] = {"f32", "f16", "bf16", "q8_0"};

bench_opts bench_default_opts(void) {
    bench_opts o = {0};
    o.dtype = GEMCL_WEIGHT_DTYPE_AUTO;
    o.n_prompt[0] = 512;
    o.n_prompt_count = 1;
    o.n_gen[0] = 128;
    o.n_gen_count = 1;
    o.methods[0] = GEMCL_METHOD_FULL;
    o.n_methods = 1;
    o.repetitions = 5;
    o.warmup = 1;
    o.filter_layer = -1;
    o.formats[0] = BENCH_FORMAT_MD;
    o.n_formats = 1;
    o.bandwidth = 1;
    return o;
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: gemcl bench -m MODEL [options]\n"
            "  -m, --model PATH         HF directory, .gguf, or llama2.c .bin\n"
            "  -p, --n-prompt N,N,...   prompt lengths for the pp and ttft rows (default 512; 0 = none)\n"
            "  -n, --n-gen N,N,...      generated tokens for the tg rows (default 128; 0 = none)\n"
            "  --mem N,N,...            prompt lengths for mem rows: the prompt phase's peak device memory,\n"
            "                           from one run per method stopped at the prefill's first progress report\n"
            "  -r, --repetitions N      measured runs per row, after the warm-up (default 5)\n"
            "  -w, --warmup N           uncounted runs before each row's measured runs (default 1)\n"
            "  --method NAME,NAME,...   any of gemcl run's methods (default full); pp and ttft rows per method\n"
            "  --filter-layer R         GemFilter's layer r (default: model card, else round(0.4 L))\n"
            "  --budget K               tokens GemFilter keeps (default: model card, else 1024)\n"
            "  --dtype f32|f16|bf16|q8_0  weight storage on the device (default: as in the file)\n"
            "  --act-f32                quantized weights times f32 activations (default: 8-bit, as llama.cpp)\n"
            "  -ub, --ubatch-size N     prefill chunk (default 512)\n"
            "  --device N|NAME          OpenCL device (default: $GEMCL_DEVICE, else first GPU, else first)\n"
            "  -o, --output FORMAT,...  md, csv, json, or summary (the README's table) (default md)\n"
            "  --vs-blas                time the prefill GEMM shapes (n = ubatch) on the device and through\n"
            "                           OpenBLAS on the host, side by side\n"
            "  --no-bandwidth           skip the host DRAM bandwidth probe (tg rows then give no fraction)\n"
            "Prompts are deterministic token ids; every value is the mean +- std of -r runs (medians in csv and\n"
            "json). Results go to stdout, progress to stderr.\n");
}

/* Every count of bench is at most 2^24 (beyond any context or repetition count). */
#define BENCH_MAX_COUNT (1 << 24)

/* "512,4096" -> {512, 4096}; "0" -> empty. */
static int parse_int_list(const char *s, const char *flag, int *out, int *count) {
    char buf[256];
    if (strlen(s) >= sizeof buf)
        return cli_usage_error("bench: %s list is too long", flag);
    strcpy(buf, s);
    *count = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int v;
        if (opt_int("bench", flag, tok, 0, BENCH_MAX_COUNT, &v))
            return 2;
        if (v == 0)
            continue;
        if (*count == BENCH_MAX_LIST)
            return cli_usage_error("bench: %s takes at most %d values", flag, BENCH_MAX_LIST);
        out[(*count)++] = v;
    }
    return 0;
}

static int parse_methods(const char *s, bench_opts *o) {
    char buf[256];
    if (strlen(s) >= sizeof buf)
        return cli_usage_error("bench: --method list is too long");
    strcpy(buf, s);
    o->n_methods = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (o->n_methods == BENCH_MAX_LIST)
            return cli_usage_error("bench: --method takes at most %d names", BENCH_MAX_LIST);
        if (gemcl_method_from_name(tok, &o->methods[o->n_methods]) != GEMCL_OK)
            return cli_usage_error("bench: unknown method '%s' (see gemcl run --help)", tok);
        o->n_methods++;
    }
    if (o->n_methods == 0)
        return cli_usage_error("bench: --method needs at least one name");
    return 0;
}

static int parse_name(const char *s, const char *flag, const char *const *names, int n, int *out) {
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return 0;
        }
    return cli_usage_error("bench: unknown %s '%s'", flag, s);
}

static int parse_formats(const char *s, bench_opts *o) {
    char buf[64];
    if (strlen(s) >= sizeof buf)
        return cli_usage_error("bench: -o list is too long");
    strcpy(buf, s);
    o->n_formats = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int idx = 0;
        if (o->n_formats == 4)
            return cli_usage_error("bench: -o takes at most 4 formats");
        if (parse_name(tok, "output format", format_names, 4, &idx))
            return 2;
        o->formats[o->n_formats++] = (bench_format)idx;
    }
    return o->n_formats ? 0 : cli_usage_error("bench: -o needs a format");
}

int bench_parse(int argc, char **argv, bench_opts *o, FILE *out) {
    cli_args c = cli_args_start("bench", argc, argv);
    while (cli_next(&c)) {
        const char *a = c.arg, *v = NULL;
        int idx = 0, rc = 0;
        if (cli_is(&c, "--help", "-h")) {
            usage(out);
            return -1;
        } else if (cli_is(&c, "-m", "--model")) rc = cli_str(&c, &o->model);
        else if (cli_is(&c, "--device", NULL)) rc = cli_str(&c, &o->device);
        else if (cli_is(&c, "-p", "--n-prompt")) {
            if (!(rc = cli_str(&c, &v)))
                rc = parse_int_list(v, a, o->n_prompt, &o->n_prompt_count);
        }
        else if (cli_is(&c, "-n", "--n-gen")) { if (!(rc = cli_str(&c, &v))) rc = parse_int_list(v, a, o->n_gen, &o->n_gen_count); }
        else if (cli_is(&c, "--mem", NULL)) { if (!(rc = cli_str(&c, &v))) rc = parse_int_list(v, a, o->n_mem, &o->n_mem_count); }
        else if (cli_is(&c, "-r", "--repetitions")) rc = cli_int(&c, 1, BENCH_MAX_COUNT, &o->repetitions);
        else if (cli_is(&c, "-w", "--warmup")) rc = cli_int(&c, 0, BENCH_MAX_COUNT, &o->warmup);
        else if (cli_is(&c, "--filter-layer", NULL)) rc = cli_int(&c, 0, BENCH_MAX_COUNT, &o->filter_layer);
        else if (cli_is(&c, "--budget", NULL)) rc = cli_int(&c, 1, BENCH_MAX_COUNT, &o->budget);
        else if (cli_is(&c, "-ub", "--ubatch-size")) rc = cli_int(&c, 1, BENCH_MAX_COUNT, &o->n_ubatch);
        else if (cli_is(&c, "--method", NULL)) { if (!(rc = cli_str(&c, &v))) rc = parse_methods(v, o); }
        else if (cli_is(&c, "--dtype", NULL)) {
            if (!(rc = cli_str(&c, &v)) && !(rc = parse_name(v, "--dtype", dtype_names, 4, &idx)))
                o->dtype = (gemcl_weight_dtype)idx;
        } else if (cli_is(&c, "-o", "--output")) {
            if (!(rc = cli_str(&c, &v)))
                rc = parse_formats(v, o);
        } else if (cli_is(&c, "--vs-blas", NULL)) { o->vs_blas = 1; }
        else if (cli_is(&c, "--act-f32", NULL)) { o->act_f32 = 1; }
        else if (cli_is(&c, "--no-bandwidth", NULL)) { o->bandwidth = 0; }
        else
            rc = cli_unknown(&c);
        if (rc)
            return rc;
    }
    if (!o->model)
        return cli_usage_error("bench: no model given (-m MODEL)");
    if (o->repetitions > 256 || o->warmup > 256)
        return cli_usage_error("bench: -r and -w are at most 256");
    if (o->n_prompt_count == 0 && o->n_gen_count == 0 && o->n_mem_count == 0 && !o->vs_blas)
        return cli_usage_error("bench: nothing to measure (-p 0 -n 0, no --mem and no --vs-blas)");
    return 0;
}

/* ---------------------------------------------------------------------------------------------------
 * Statistics, prompts, clocks
 * ------------------------------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

bench_stats bench_stats_of(const double *x, int n) {
    bench_stats s = {0, 0, 0, n};
    if (n <= 0)
        return s;
    double sorted[256];
    int m = n < 256 ? n : 256;
    for (int i = 0; i < n; i++)
        s.mean += x[i] / n;
    for (int i = 0; i < n; i++)
        s.std += (x[i] - s.mean) * (x[i] - s.mean);
    s.std = n > 1 ? sqrt(s.std / (n - 1)) : 0.0;
    memcpy(sorted, x, (size_t)m * sizeof *x);
    qsort(sorted, (size_t)m, sizeof *sorted, cmp_double);
    s.median = m % 2 ? sorted[m / 2] : 0.5 * (sorted[m / 2 - 1] + sorted[m / 2]);
    return s;
}

void bench_prompt_ids(int32_t *ids, int n, int vocab_size) {
    uint64_t state = 0x243F6A8885A308D3ULL; /* fixed: the same prompt everywhere */
    int span = vocab_size > 4 ? vocab_size - 3 : 1;
    for (int i = 0; i < n; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        ids[i] = 3 + (int32_t)((state >> 33) % (uint64_t)span);
        if (ids[i] >= vocab_size)
            ids[i] = vocab_size - 1;
    }
}


/* ---------------------------------------------------------------------------------------------------
 * Host DRAM bandwidth (STREAM's copy and triad, one slice of the arrays per thread)
 * ------------------------------------------------------------------------------------------------- */

typedef struct bw_slice {
    float *a, *b, *c;                 /* (n) each: this thread's slice */
    size_t n;
    int triad;
} bw_slice;

static void *bw_worker(void *arg) {
    bw_slice *s = arg;
    float *restrict a = s->a;
    const float *restrict b = s->b, *restrict c = s->c;
    if (s->triad)
        for (size_t i = 0; i < s->n; i++)
            a[i] = b[i] + 3.0f * c[i];
    else
        memcpy(a, b, s->n * sizeof *a);
    return NULL;
}

/* One pass over the arrays with threads threads; returns the seconds it took. */
static double bw_pass(float *a, float *b, float *c, size_t n, int threads, int triad) {
    pthread_t tid[64];
    bw_slice slices[64];
    size_t per = n / (size_t)threads;
    double t0 = gemcl_time_us() / 1e6;
    for (int t = 0; t < threads; t++) {
        size_t lo = per * (size_t)t, len = t == threads - 1 ? n - lo : per;
        slices[t] = (bw_slice){a + lo, b + lo, c + lo, len, triad};
        if (pthread_create(&tid[t], NULL, bw_worker, &slices[t]) != 0)
            bw_worker(&slices[t]), tid[t] = 0;
    }
    for (int t = 0; t < threads; t++)
        if (tid[t])
            pthread_join(tid[t], NULL);
    return (gemcl_time_us() / 1e6) - t0;
}

int bench_bandwidth_probe(int threads, size_t array_bytes, int repetitions, bench_bandwidth *out) {
    if (threads < 1 || threads > 64 || repetitions < 1 || repetitions > 256 || array_bytes < 4096)
        return cli_error("bench: bad bandwidth probe parameters");
    size_t n = array_bytes / sizeof(float);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return cli_error("bench: out of host memory for the bandwidth probe (3 x %zu bytes)", array_bytes);
    }
    for (size_t i = 0; i < n; i++) /* touch every page before timing */
        a[i] = 0.0f, b[i] = 1.0f, c[i] = 2.0f;
    double copy[256], triad[256];
    bw_pass(a, b, c, n, threads, 1); /* warm-up */
    for (int r = 0; r < repetitions; r++) {
        copy[r] = 2.0 * (double)(n * sizeof *a) / bw_pass(a, b, c, n, threads, 0) / 1e9;  /* read b, write a */
        triad[r] = 3.0 * (double)(n * sizeof *a) / bw_pass(a, b, c, n, threads, 1) / 1e9; /* read b, c; write a */
    }
    free(a), free(b), free(c);
    out->copy_gbs = bench_stats_of(copy, repetitions).median;
    out->triad_gbs = bench_stats_of(triad, repetitions).median;
    out->threads = threads;
    out->array_bytes = array_bytes;
    return 0;
}

/* ---------------------------------------------------------------------------------------------------
 * Measurements
 * ------------------------------------------------------------------------------------------------- */

/* The raw numbers of one gemcl_generate_tokens call. */
typedef struct bench_sample {
    double filter_ms, prefill_ms, decode_ms;
    int n_kept, n_generated, filter_layer;
    uint64_t peak_device_bytes, kv_bytes;
} bench_sample;

/* What one row's runs share: the model, a fresh context and the prompt. */
typedef struct bench_job {
    gemcl_model *model;
    const bench_opts *o;
    gemcl_method method;
    const int32_t *ids;
    int n_ids;
    int max_tokens;
    const char *what;                 /* progress label */
} bench_job;

/* Stops at the first progress report of the prefill, whose total is the prompt's length (or, after a method
 * compressed it, less); GemFilter's filter pass reports (r + 1) * n as its total and so runs through. */
static int stop_at_prefill(int64_t done, int64_t total, void *user) {
    (void)done;
    return total <= *(const int *)user;
}

/* One gemcl_generate_tokens call (ignore_eos, so exactly max_tokens come); stop_early: stop at the prefill's first progress report, keeping the peak. */
static int generate_once(gemcl_context *ctx, const bench_job *job, int stop_early, bench_sample *out) {
    gemcl_generate_params g = gemcl_generate_default_params();
    g.max_tokens = job->max_tokens;
    g.ignore_eos = 1;
    g.method.method = job->method;
    g.method.filter_layer = job->o->filter_layer;
    g.method.budget = job->o->budget;
    if (stop_early) {
        g.on_progress = stop_at_prefill;
        g.on_progress_user = (void *)&job->n_ids;
    }
    gemcl_result r;
    gemcl_status st = gemcl_generate_tokens(ctx, job->ids, job->n_ids, &g, &r);
    if (st != GEMCL_OK && !(stop_early && st == GEMCL_ABORTED))
        return cli_error("bench: %s", gemcl_context_last_error(ctx));
    *out = (bench_sample){r.filter_ms, r.prefill_ms, r.decode_ms, r.n_kept_tokens, r.n_generated,
                          r.filter_layer, r.peak_device_bytes, r.kv_bytes};
    gemcl_result_free(&r);
    return 0;
}

/* Runs `runs` calls after `warmup` uncounted ones, each on a fresh context: a context keeps its KV buffers
 * between calls, and the previous call's cache would count in the next call's peak (for GemFilter at 4K
 * that is the regenerate pass's 1K-row cache on top of the filter pass). */
static int measure(const bench_job *job, int warmup, int runs, int stop_early, bench_sample *samples) {
    char err[4096];
    gemcl_context_params cp = gemcl_context_default_params();
    cp.n_ctx = job->n_ids + job->max_tokens + 2;
    cp.n_ubatch = job->o->n_ubatch;
    int rc = 0;
    for (int i = 0; !rc && i < warmup + runs; i++) {
        gemcl_context *ctx = NULL;
        if (gemcl_context_create(job->model, &cp, &ctx, err, sizeof err) != GEMCL_OK)
            return cli_error("%s", err);
        bench_sample s;
        double t0 = gemcl_time_us() / 1e6;
        rc = generate_once(ctx, job, stop_early, &s);
        gemcl_context_free(ctx);
        int rep = i - warmup;
        fprintf(stderr, "bench: %-12s %-9s %s %d/%d: %.1f ms\n", job->what, gemcl_method_name(job->method),
                rep < 0 ? "warm-up" : "run", rep < 0 ? i + 1 : rep + 1, rep < 0 ? warmup : runs,
                ((gemcl_time_us() / 1e6) - t0) * 1e3);
        if (!rc && rep >= 0)
            samples[rep] = s;
    }
    return rc;
}

static bench_row *add_row(bench_report *rep, bench_kind kind, gemcl_method method) {
    bench_row *rows = realloc(rep->rows, (size_t)(rep->n_rows + 1) * sizeof *rows);
    if (!rows) {
        cli_error("bench: out of host memory");
        return NULL;
    }
    rep->rows = rows;
    bench_row *r = &rows[rep->n_rows++];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->method = method;
    r->filter_layer = -1;
    return r;
}

/* Fills the fields every row shares from its samples. */
static void row_from_samples(bench_row *row, const bench_sample *s, int n, const gemcl_model_info *info) {
    double f[256], p[256];
    for (int i = 0; i < n; i++) {
        f[i] = s[i].filter_ms;
        p[i] = s[i].prefill_ms;
        if (s[i].peak_device_bytes > row->peak_device_bytes)
            row->peak_device_bytes = s[i].peak_device_bytes;
    }
    row->filter_ms = bench_stats_of(f, n);
    row->prefill_ms = bench_stats_of(p, n);
    row->n_kept = s[0].n_kept;
    row->kv_bytes = s[0].kv_bytes;
    row->filter_layer = s[0].filter_layer;
    row->budget = row->filter_layer < 0 ? 0 : row->budget > 0 ? row->budget : info->budget;
}

static int32_t *prompt_of(int n, const gemcl_model_info *info) {
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    if (!ids)
        cli_error("bench: out of host memory for a %d-token prompt", n);
    else
        bench_prompt_ids(ids, n, info->vocab_size);
    return ids;
}

/* pp<N> and ttft@<N> rows of one method from the same runs (one generated token each). */
static int bench_prompt(gemcl_model *model, const bench_opts *o, const gemcl_model_info *info, int n_prompt,
                        gemcl_method method, bench_report *rep) {
    bench_sample samples[256];
    char what[32];
    int32_t *ids = prompt_of(n_prompt, info);
    if (!ids)
        return 1;
    snprintf(what, sizeof what, "pp%d", n_prompt);
    bench_job job = {model, o, method, ids, n_prompt, 1, what};
    int rc = measure(&job, o->warmup, o->repetitions, 0, samples);
    free(ids);
    if (rc)
        return rc;
    bench_row *pp = add_row(rep, BENCH_KIND_PP, method), *ttft = pp ? add_row(rep, BENCH_KIND_TTFT, method) : NULL;
    if (!ttft)
        return 1;
    pp = ttft - 1; /* add_row may have moved the array */
    double tps[256], ms[256];
    for (int i = 0; i < o->repetitions; i++) {
        ms[i] = samples[i].filter_ms + samples[i].prefill_ms;
        tps[i] = n_prompt / (ms[i] / 1e3);
    }
    bench_row *both[2] = {pp, ttft};
    for (int k = 0; k < 2; k++) {
        both[k]->n_prompt = n_prompt;
        both[k]->n_gen = 1;
        both[k]->budget = o->budget;
        row_from_samples(both[k], samples, o->repetitions, info);
        both[k]->value = bench_stats_of(k == 0 ? tps : ms, o->repetitions);
    }
    snprintf(pp->test, sizeof pp->test, "pp%d", n_prompt);
    snprintf(ttft->test, sizeof ttft->test, "ttft@%d", n_prompt);
    return 0;
}

/* mem@<N>: one run stopped at the prefill's first progress report; the peak is deterministic, one run suffices. */
static int bench_mem(gemcl_model *model, const bench_opts *o, const gemcl_model_info *info, int n_prompt,
                     gemcl_method method, bench_report *rep) {
    bench_sample sample;
    char what[32];
    int32_t *ids = prompt_of(n_prompt, info);
    if (!ids)
        return 1;
    snprintf(what, sizeof what, "mem@%d", n_prompt);
    bench_job job = {model, o, method, ids, n_prompt, 1, what};
    int rc = measure(&job, 0, 1, 1, &sample);
    free(ids);
    bench_row *r = rc ? NULL : add_row(rep, BENCH_KIND_MEM, method);
    if (!r)
        return 1;
    snprintf(r->test, sizeof r->test, "mem@%d", n_prompt);
    r->n_prompt = n_prompt;
    r->peak_device_bytes = sample.peak_device_bytes;
    r->filter_layer = method == GEMCL_METHOD_FULL ? -1 : o->filter_layer >= 0 ? o->filter_layer : info->filter_layer;
    r->budget = method == GEMCL_METHOD_FULL ? 0 : o->budget > 0 ? o->budget : info->budget;
    double value = (double)sample.peak_device_bytes / (1024.0 * 1024.0);
    r->value = bench_stats_of(&value, 1);
    return 0;
}

/* Device bytes one decode step reads: every weight matrix once, except the embedding table of an untied
 * model (one row). gemcl_model_info has no "tied" flag; the parameter count tells: beyond the layers and
 * the final norm an untied model holds two vocab x n_embd tables, a tied one a single table. */
static double decode_weight_bytes(const gemcl_model_info *info) {
    double d = info->n_embd, q_dim = (double)info->n_heads * info->head_dim;
    double kv_dim = (double)info->n_kv_heads * info->head_dim, table = (double)info->vocab_size * d;
    double per_layer = 2 * d * q_dim + 2 * d * kv_dim + 3 * d * info->n_ff + 2 * d;
    double rest = (double)info->n_params - info->n_layers * per_layer - d;
    double bytes_per_param = (double)info->weight_bytes / (double)info->n_params;
    return (double)info->weight_bytes - (rest >= 1.5 * table ? table * bytes_per_param : 0.0);
}

/* tg<N>: N decode steps after a 1-token prompt. */
static int bench_decode(gemcl_model *model, const bench_opts *o, const gemcl_model_info *info, int n_gen,
                        bench_report *rep) {
    int32_t id;
    bench_sample samples[256];
    char what[32];
    bench_prompt_ids(&id, 1, info->vocab_size);
    snprintf(what, sizeof what, "tg%d", n_gen);
    bench_job job = {model, o, o->methods[0], &id, 1, n_gen + 1, what};
    /* With the probe, each run follows its own triad pass: the host's bandwidth drifts (shared machines), and
     * a run is compared with the bandwidth of its own moment. */
    double triad[256], tps[256], fraction[256];
    if (measure(&job, o->warmup, rep->have_bandwidth ? 0 : o->repetitions, 0, samples))
        return 1;
    for (int i = 0; rep->have_bandwidth && i < o->repetitions; i++) {
        bench_bandwidth bw;
        if (bench_bandwidth_probe(2, (size_t)256 << 20, 1, &bw) || measure(&job, 0, 1, 0, &samples[i]))
            return 1;
        triad[i] = bw.triad_gbs;
    }
    for (int i = 0; i < o->repetitions; i++) {
        int steps = samples[i].n_generated - 1; /* the first token comes from the prefill */
        if (steps != n_gen)
            return cli_error("bench: tg%d ran %d decode steps, not %d", n_gen, steps, n_gen);
        tps[i] = samples[i].decode_ms > 0 ? steps / (samples[i].decode_ms / 1e3) : 0.0;
    }
    bench_row *r = add_row(rep, BENCH_KIND_TG, o->methods[0]);
    if (!r)
        return 1;
    snprintf(r->test, sizeof r->test, "tg%d", n_gen);
    r->n_prompt = 1;
    r->n_gen = n_gen;
    row_from_samples(r, samples, o->repetitions, info);
    r->filter_layer = -1; /* a 1-token prompt: every method runs as full */
    r->budget = 0;
    r->value = bench_stats_of(tps, o->repetitions);
    /* KV read per step grows from 1 to n_gen rows: count the mean, 1 + n_gen / 2 rows */
    r->bytes_per_token = decode_weight_bytes(info) + (double)r->kv_bytes * (1.0 + n_gen / 2.0);
    for (int i = 0; rep->have_bandwidth && i < o->repetitions; i++)
        fraction[i] = triad[i] > 0 ? r->bytes_per_token * tps[i] / (triad[i] * 1e9) : 0.0;
    if (rep->have_bandwidth) {
        r->bw_fraction = bench_stats_of(fraction, o->repetitions).median;
        r->triad_gbs = bench_stats_of(triad, o->repetitions).median;
    }
    return 0;
}

static void describe(const bench_opts *o, const gemcl_model_info *info, bench_report *rep) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(rep->date, sizeof rep->date, "%Y-%m-%dT%H:%MZ", &tm);
    char cpu[128] = "unknown CPU", line[256];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
            snprintf(cpu, sizeof cpu, "%s", strchr(line, ':') + 2);
            cpu[strcspn(cpu, "\n")] = '\0';
            break;
        }
    if (f)
        fclose(f);
    snprintf(rep->machine, sizeof rep->machine, "%s, %ld cores", cpu, sysconf(_SC_NPROCESSORS_ONLN));
    snprintf(rep->device, sizeof rep->device, "%s", info->device_name);
    char path[1024];
    snprintf(path, sizeof path, "%s", o->model);
    for (size_t len = strlen(path); len > 1 && path[len - 1] == '/'; len--) /* "dir/" -> "dir" */
        path[len - 1] = '\0';
    const char *base = strrchr(path, '/');
    snprintf(rep->model_name, sizeof rep->model_name, "%s", base ? base + 1 : path);
    snprintf(rep->shape, sizeof rep->shape, "%s L%d d%d h%d/%d ff%d v%d (%.3gM params)", info->arch, info->n_layers,
             info->n_embd, info->n_heads, info->n_kv_heads, info->n_ff, info->vocab_size, info->n_params / 1e6);
    double bpp = (double)info->weight_bytes / (double)info->n_params;
    char stored[32]; /* AUTO: as the file, told by size (a GGUF mixes block types: its mean bits per weight) */
    if (bpp > 1.5)
        snprintf(stored, sizeof stored, "%s", bpp > 3 ? "f32" : "f16");
    else
        snprintf(stored, sizeof stored, "%.2f-bit quantized", 8.0 * bpp);
    snprintf(rep->dtype, sizeof rep->dtype, "%s", o->dtype >= 0 ? dtype_names[o->dtype] : stored);
    rep->info = *info;
}

int bench_run(const bench_opts *o, bench_report *rep) {
    memset(rep, 0, sizeof *rep);
    char err[4096];
    gemcl_model_params mp = gemcl_model_default_params();
    mp.device = o->device;
    mp.weight_dtype = o->dtype;
    mp.act_f32 = o->act_f32;
    gemcl_model *model = NULL;
    fprintf(stderr, "bench: loading %s\n", o->model);
    if (gemcl_model_load(o->model, &mp, &model, err, sizeof err) != GEMCL_OK)
        return cli_error("%s", err);
    gemcl_model_info info;
    gemcl_model_get_info(model, &info);
    describe(o, &info, rep);
    if (o->bandwidth && o->n_gen_count > 0) {
        fprintf(stderr, "bench: host DRAM bandwidth probe (2 threads, 3 x 256 MiB)\n");
        if (bench_bandwidth_probe(2, (size_t)256 << 20, 5, &rep->bandwidth)) {
            gemcl_model_free(model);
            return 1;
        }
        rep->have_bandwidth = 1;
    }
    rep->n_ubatch = o->n_ubatch > 0 ? o->n_ubatch : 512;
    rep->repetitions = o->repetitions;
    int rc = 0;
    for (int i = 0; !rc && i < o->n_prompt_count; i++)
        for (int m = 0; !rc && m < o->n_methods; m++)
            rc = bench_prompt(model, o, &info, o->n_prompt[i], o->methods[m], rep);
    for (int i = 0; !rc && i < o->n_gen_count; i++)
        rc = bench_decode(model, o, &info, o->n_gen[i], rep);
    for (int i = 0; !rc && i < o->n_mem_count; i++)
        for (int m = 0; !rc && m < o->n_methods; m++)
            rc = bench_mem(model, o, &info, o->n_mem[i], o->methods[m], rep);
    if (!rc && o->vs_blas)
        rc = bench_vs_blas_hook ? bench_vs_blas_hook(model, o, rep)
                                : cli_error("bench: --vs-blas is only available in the gemcl CLI");
    gemcl_model_free(model);
    if (rc)
        bench_report_free(rep);
    return rc;
}

void bench_report_free(bench_report *rep) {
    if (!rep)
        return;
    free(rep->rows);
    free(rep->gemms);
    rep->rows = NULL;
    rep->gemms = NULL;
    rep->n_rows = rep->n_gemms = 0;
}

/* ---------------------------------------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------------------------------------- */

static const char *row_unit(const bench_row *r) {
    return r->kind == BENCH_KIND_TTFT ? "ms" : r->kind == BENCH_KIND_MEM ? "MiB" : "t/s";
}

static double mib(uint64_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

static const bench_row *find_row(const bench_report *rep, bench_kind kind, gemcl_method method, int n_prompt) {
    for (int i = 0; i < rep->n_rows; i++)
        if (rep->rows[i].kind == kind && rep->rows[i].method == method && rep->rows[i].n_prompt == n_prompt)
            return &rep->rows[i];
    return NULL;
}

/* Forward FLOPs of `layers` layers over n tokens: the projections and MLP, plus causal attention (QK^T and
 * PV over n(n+1)/2 query-key pairs per head). */
static double forward_flops(const gemcl_model_info *info, double layers, double n) {
    double d = info->n_embd, q_dim = (double)info->n_heads * info->head_dim;
    double kv_dim = (double)info->n_kv_heads * info->head_dim;
    double matmul = 2.0 * (2 * d * q_dim + 2 * d * kv_dim + 3 * d * info->n_ff);
    return layers * (n * matmul + 2.0 * q_dim * n * (n + 1));
}

/* GemFilter against full on the same prompt: the prompt phase's time next to its ideal ratio, counted in
 * layer-tokens (L*n / (r*n + L*k), PERF.md's matmuls-only figure) and in FLOPs with attention (which grows
 * as n^2 and so favours GemFilter at long n); and the peak device memory with and without the weights. */
static void print_gemfilter_vs_full(const bench_report *rep, FILE *out) {
    int header = 0, L = rep->info.n_layers;
    for (int i = 0; i < rep->n_rows; i++) {
        const bench_row *g = &rep->rows[i];
        if (g->method != GEMCL_METHOD_GEMFILTER || (g->kind != BENCH_KIND_TTFT && g->kind != BENCH_KIND_MEM))
            continue;
        const bench_row *f = find_row(rep, g->kind, GEMCL_METHOD_FULL, g->n_prompt);
        if (!f)
            continue;
        if (!header++)
            fprintf(out, "\nGemFilter vs full on the same prompt (medians)\n");
        if (g->kind == BENCH_KIND_TTFT) {
            double n = g->n_prompt, k = g->n_kept, r = g->filter_layer, measured = f->value.median / g->value.median;
            double ideal = L * n / (r * n + L * k);
            double ideal_attn = forward_flops(&rep->info, L, n) /
                                (forward_flops(&rep->info, r, n) + forward_flops(&rep->info, L, k));
            fprintf(out, "n=%d: prompt phase full %.0f ms / gemfilter %.0f ms = %.3fx; ideal L*n/(r*n+L*k) = "
                         "%d*%d/(%d*%d+%d*%d) = %.3fx (measured/ideal %.2f); ideal in FLOPs with attention %.3fx "
                         "(measured/ideal %.2f)\n",
                    g->n_prompt, f->value.median, g->value.median, measured, L, g->n_prompt, g->filter_layer,
                    g->n_prompt, L, g->n_kept, ideal, measured / ideal, ideal_attn, measured / ideal_attn);
        } else {
            double w = (double)rep->info.weight_bytes;
            fprintf(out, "n=%d: prompt-phase peak device memory gemfilter / full = %.1f / %.1f MiB = %.3fx "
                         "(without the %.1f MiB of weights: %.1f / %.1f MiB = %.3fx)\n",
                    g->n_prompt, mib(g->peak_device_bytes), mib(f->peak_device_bytes),
                    (double)g->peak_device_bytes / (double)f->peak_device_bytes, w / 1048576.0,
                    ((double)g->peak_device_bytes - w) / 1048576.0, ((double)f->peak_device_bytes - w) / 1048576.0,
                    ((double)g->peak_device_bytes - w) / ((double)f->peak_device_bytes - w));
        }
    }
}

static void print_md(const bench_report *rep, FILE *out) {
    fprintf(out, "model: %s (%s, %s weights, %.1f MiB on the device)\n", rep->model_name, rep->shape, rep->dtype,
            mib(rep->info.weight_bytes));
    fprintf(out, "device: %s; host: %s; %s; ubatch %d; %d runs per row after warm-up\n\n", rep->device,
            rep->machine, rep->date, rep->n_ubatch, rep->repetitions);
    if (rep->n_rows) {
        fprintf(out, "| test | method | r | k | kept | result | unit | filter ms | prefill ms | peak device MiB "
                     "| KV MiB |\n");
        fprintf(out, "|---|---|--:|--:|--:|--:|---|--:|--:|--:|--:|\n");
    }
    for (int i = 0; i < rep->n_rows; i++) {
        const bench_row *r = &rep->rows[i];
        char rr[16] = "-", kk[16] = "-";
        if (r->filter_layer >= 0)
            snprintf(rr, sizeof rr, "%d", r->filter_layer);
        if (r->budget > 0)
            snprintf(kk, sizeof kk, "%d", r->budget);
        fprintf(out, "| %s | %s | %s | %s | %d | %.2f ± %.2f | %s | %.1f | %.1f | %.1f | %.2f |\n", r->test,
                gemcl_method_name(r->method), rr, kk, r->n_kept, r->value.mean, r->value.std, row_unit(r),
                r->filter_ms.median, r->prefill_ms.median, mib(r->peak_device_bytes), mib(r->kv_bytes));
    }
    print_gemfilter_vs_full(rep, out);
    if (rep->have_bandwidth) {
        fprintf(out, "\nhost DRAM bandwidth (%d threads, 3 x %zu MiB): copy %.1f GB/s, triad %.1f GB/s\n",
                rep->bandwidth.threads, rep->bandwidth.array_bytes >> 20, rep->bandwidth.copy_gbs,
                rep->bandwidth.triad_gbs);
        for (int i = 0; i < rep->n_rows; i++)
            if (rep->rows[i].kind == BENCH_KIND_TG)
                fprintf(out,
                        "%s: %.1f MB per token x %.2f t/s (median) = %.1f GB/s; each run against a triad pass just "
                        "before it (median %.1f GB/s): median %.2f of triad\n",
                        rep->rows[i].test, rep->rows[i].bytes_per_token / 1e6, rep->rows[i].value.median,
                        rep->rows[i].bytes_per_token * rep->rows[i].value.median / 1e9, rep->rows[i].triad_gbs,
                        rep->rows[i].bw_fraction);
    }
    if (rep->n_gemms) {
        fprintf(out, "\nprefill GEMM shapes, y (n, rows) = x (n, cols) W^T; GFLOP/s medians\n\n");
        fprintf(out, "| matrix | n | rows | cols | per pass | OpenBLAS host | device (%s) | device / OpenBLAS |\n",
                rep->dtype);
        fprintf(out, "|---|--:|--:|--:|--:|--:|--:|--:|\n");
        for (int i = 0; i < rep->n_gemms; i++) {
            const bench_gemm *g = &rep->gemms[i];
            fprintf(out, "| %s | %d | %d | %d | %d | %.1f ± %.1f | %.1f ± %.1f | %.3f |\n", g->name, g->n, g->rows,
                    g->cols, g->count, g->host_gflops.mean, g->host_gflops.std, g->device_gflops.mean,
                    g->device_gflops.std, g->device_gflops.median / g->host_gflops.median);
        }
    }
}

static void print_csv(const bench_report *rep, FILE *out) {
    fprintf(out, "date,device,model,dtype,ubatch,test,method,filter_layer,budget,n_prompt,n_gen,n_kept,unit,"
                 "mean,std,median,filter_ms,prefill_ms,peak_device_bytes,kv_bytes,bw_fraction\n");
    for (int i = 0; i < rep->n_rows; i++) {
        const bench_row *r = &rep->rows[i];
        fprintf(out, "%s,\"%s\",%s,%s,%d,%s,%s,%d,%d,%d,%d,%d,%s,%.4f,%.4f,%.4f,%.3f,%.3f,%llu,%llu,%.4f\n",
                rep->date, rep->device, rep->model_name, rep->dtype, rep->n_ubatch, r->test,
                gemcl_method_name(r->method), r->filter_layer, r->budget, r->n_prompt, r->n_gen, r->n_kept,
                row_unit(r), r->value.mean, r->value.std, r->value.median, r->filter_ms.median, r->prefill_ms.median,
                (unsigned long long)r->peak_device_bytes, (unsigned long long)r->kv_bytes, r->bw_fraction);
    }
}

static cJSON *stats_json(const bench_stats *s) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "mean", s->mean);
    cJSON_AddNumberToObject(o, "std", s->std);
    cJSON_AddNumberToObject(o, "median", s->median);
    cJSON_AddNumberToObject(o, "n", s->n);
    return o;
}

static void print_json(const bench_report *rep, FILE *out) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "date", rep->date);
    cJSON_AddStringToObject(root, "machine", rep->machine);
    cJSON_AddStringToObject(root, "device", rep->device);
    cJSON_AddStringToObject(root, "model", rep->model_name);
    cJSON_AddStringToObject(root, "shape", rep->shape);
    cJSON_AddStringToObject(root, "dtype", rep->dtype);
    cJSON_AddNumberToObject(root, "weight_bytes", (double)rep->info.weight_bytes);
    cJSON_AddNumberToObject(root, "n_ubatch", rep->n_ubatch);
    cJSON_AddNumberToObject(root, "repetitions", rep->repetitions);
    cJSON *rows = cJSON_AddArrayToObject(root, "rows");
    for (int i = 0; i < rep->n_rows; i++) {
        const bench_row *r = &rep->rows[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "test", r->test);
        cJSON_AddStringToObject(o, "method", gemcl_method_name(r->method));
        cJSON_AddNumberToObject(o, "filter_layer", r->filter_layer);
        cJSON_AddNumberToObject(o, "budget", r->budget);
        cJSON_AddNumberToObject(o, "n_prompt", r->n_prompt);
        cJSON_AddNumberToObject(o, "n_gen", r->n_gen);
        cJSON_AddNumberToObject(o, "n_kept", r->n_kept);
        cJSON_AddStringToObject(o, "unit", row_unit(r));
        cJSON_AddItemToObject(o, "value", stats_json(&r->value));
        cJSON_AddItemToObject(o, "filter_ms", stats_json(&r->filter_ms));
        cJSON_AddItemToObject(o, "prefill_ms", stats_json(&r->prefill_ms));
        cJSON_AddNumberToObject(o, "peak_device_bytes", (double)r->peak_device_bytes);
        cJSON_AddNumberToObject(o, "kv_bytes", (double)r->kv_bytes);
        if (r->kind == BENCH_KIND_TG) {
            cJSON_AddNumberToObject(o, "bytes_per_token", r->bytes_per_token);
            cJSON_AddNumberToObject(o, "bw_fraction", r->bw_fraction);
            cJSON_AddNumberToObject(o, "triad_gbs", r->triad_gbs);
        }
        cJSON_AddItemToArray(rows, o);
    }
    if (rep->have_bandwidth) {
        cJSON *bw = cJSON_AddObjectToObject(root, "host_bandwidth");
        cJSON_AddNumberToObject(bw, "threads", rep->bandwidth.threads);
        cJSON_AddNumberToObject(bw, "copy_gbs", rep->bandwidth.copy_gbs);
        cJSON_AddNumberToObject(bw, "triad_gbs", rep->bandwidth.triad_gbs);
    }
    if (rep->n_gemms) {
        cJSON *gemms = cJSON_AddArrayToObject(root, "gemm_vs_blas");
        for (int i = 0; i < rep->n_gemms; i++) {
            const bench_gemm *g = &rep->gemms[i];
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "matrix", g->name);
            cJSON_AddNumberToObject(o, "n", g->n);
            cJSON_AddNumberToObject(o, "rows", g->rows);
            cJSON_AddNumberToObject(o, "cols", g->cols);
            cJSON_AddNumberToObject(o, "count", g->count);
            cJSON_AddItemToObject(o, "host_gflops", stats_json(&g->host_gflops));
            cJSON_AddItemToObject(o, "device_gflops", stats_json(&g->device_gflops));
            cJSON_AddNumberToObject(o, "ratio", g->device_gflops.median / g->host_gflops.median);
            cJSON_AddItemToArray(gemms, o);
        }
    }
    char *text = cJSON_Print(root);
    if (text)
        fprintf(out, "%s\n", text);
    free(text);
    cJSON_Delete(root);
}

/* The README's layout: one line per method and prompt length; tg from the decode row of the same run. */
static void print_summary(const bench_report *rep, FILE *out) {
    fprintf(out, "| date | machine | device | model shape | method | prompt | ttft ms | pp t/s | tg t/s | "
                 "peak device MiB |\n");
    fprintf(out, "|---|---|---|---|---|--:|--:|--:|--:|--:|\n");
    const bench_row *tg = NULL;
    for (int i = 0; i < rep->n_rows; i++)
        if (rep->rows[i].kind == BENCH_KIND_TG && !tg)
            tg = &rep->rows[i];
    char tgs[48] = "-";
    if (tg)
        snprintf(tgs, sizeof tgs, "%.2f ± %.2f (%s)", tg->value.mean, tg->value.std, tg->test);
    for (int i = 0; i < rep->n_rows; i++) {
        const bench_row *pp = &rep->rows[i], *ttft = NULL;
        if (pp->kind != BENCH_KIND_PP)
            continue;
        for (int j = 0; j < rep->n_rows; j++)
            if (rep->rows[j].kind == BENCH_KIND_TTFT && rep->rows[j].method == pp->method &&
                rep->rows[j].n_prompt == pp->n_prompt)
                ttft = &rep->rows[j];
        char method[48];
        if (pp->filter_layer >= 0)
            snprintf(method, sizeof method, "%s r=%d k=%d", gemcl_method_name(pp->method), pp->filter_layer,
                     pp->budget);
        else
            snprintf(method, sizeof method, "%s", gemcl_method_name(pp->method));
        fprintf(out, "| %.10s | %s | %s | %s %s | %s | %d | %.0f ± %.0f | %.1f ± %.1f | %s | %.0f |\n", rep->date,
                rep->machine, rep->device, rep->shape, rep->dtype, method, pp->n_prompt,
                ttft ? ttft->value.mean : 0.0, ttft ? ttft->value.std : 0.0, pp->value.mean, pp->value.std, tgs,
                mib(pp->peak_device_bytes));
    }
}

void bench_print(const bench_report *rep, bench_format format, FILE *out) {
    switch (format) {
    case BENCH_FORMAT_MD: print_md(rep, out); break;
    case BENCH_FORMAT_CSV: print_csv(rep, out); break;
    case BENCH_FORMAT_JSON: print_json(rep, out); break;
    case BENCH_FORMAT_SUMMARY: print_summary(rep, out); break;
    }
}
