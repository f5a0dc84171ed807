/* tune.c - gemcl_device_tune and gemcl_device_profile (include/gemcl.h, "Tuning profiles and the tuner").
 *
 * Per group of tunables: a workload at representative shapes (tune_bench.c), the built-in profile's output on
 * it as the reference, then a coordinate search from the built-in values: each key in turn takes each of its
 * candidate values with the others held at the best so far, until a sweep changes nothing. Every candidate
 * runs in a fresh op registry (so its kernels are built with its -D values and released after), one checked
 * pass and then `repetitions` timed samples; the smallest median wins, if it still wins when measured again
 * in turn with the built-in values. The winners go into a profile file. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_edge.h"
#include "ops/profile.h"
#include "tune_bench.h"
#include "util/clock.h"
#include "util/fileio.h"

#define TUNE_NMSE_MAX 1e-6    /* against the built-in profile's output: only the summation order may differ */
#define TUNE_ABS_MAX 1e-3     /* max abs error, as a fraction of the largest reference value */
#define TUNE_MAX_VALUES 12
#define TUNE_MAX_AXES 4
#define TUNE_MAX_TRIED 128
#define TUNE_MAX_SWEEPS 3
#define TUNE_MAX_REPETITIONS 64
#define TUNE_MAX_SAMPLES (2 * TUNE_MAX_REPETITIONS + 1)
#define TUNE_SAMPLE_MS 50.0            /* the shortest timed sample (full and quick grids) */
#define TUNE_MAX_PASSES_PER_SAMPLE 256
#define TUNE_GEMV_BYTES ((size_t)256 << 20) /* weights per GEMV pass: far beyond any last-level cache */
/* Decode steps of the attention workload: a short prompt's first tokens run the same prefill kernel (one split
 * while the keys fit attn_split_keys), so its tunables must not be chosen for the prefill alone. */
#define TUNE_DECODE_STEPS 64

typedef enum tune_workload { WORKLOAD_GEMM, WORKLOAD_GEMM_F32, WORKLOAD_GEMV, WORKLOAD_ATTENTION } tune_workload;

/* One key's candidate values per grid (full, quick, smoke), each list ended by -1. */
typedef struct tune_axis {
    gc_profile_field field;
    int values[GEMCL_TUNE_GRID_SMOKE + 1][TUNE_MAX_VALUES];
} tune_axis;

typedef struct tune_group_spec {
    const char *name;
    tune_workload workload;
    int n_axes;
    tune_axis axes[TUNE_MAX_AXES];
} tune_group_spec;

static const tune_group_spec group_specs[GEMCL_TUNE_MAX_GROUPS] = {
    {"gemm", WORKLOAD_GEMM, 4,
     {{GC_PROFILE_GEMM_TM, {{2, 4, 8, 16, -1}, {4, 8, 16, -1}, {4, -1}}},
      {GC_PROFILE_GEMM_WN, {{1, 2, 4, 8, 16, -1}, {2, 4, 8, -1}, {-1}}},
      {GC_PROFILE_GEMM_WM, {{2, 4, 8, 16, 32, -1}, {4, 8, 16, -1}, {-1}}},
      {GC_PROFILE_GEMM_KB, {{32, 64, 128, 256, -1}, {64, 128, 256, -1}, {-1}}}}},
    {"gemm_f32", WORKLOAD_GEMM_F32, 1, {{GC_PROFILE_GEMM_F32_CLBLAST, {{0, 1, -1}, {0, 1, -1}, {-1}}}}},
    {"gemv", WORKLOAD_GEMV, 2,
     {{GC_PROFILE_GEMV_LOCAL, {{1, 2, 4, 8, 16, 32, 64, 128, 256, -1}, {1, 4, 16, 64, -1}, {-1}}},
      {GC_PROFILE_GEMV_ROWS, {{1, 2, 4, 8, 16, 32, -1}, {1, 2, 4, 8, 16, -1}, {2, -1}}}}},
    {"attention", WORKLOAD_ATTENTION, 3,
     {{GC_PROFILE_ATTN_ROWS, {{2, 4, 8, 16, -1}, {4, 8, 16, -1}, {-1}}},
      {GC_PROFILE_ATTN_KEYS, {{4, 8, 16, 32, 64, -1}, {8, 16, 32, -1}, {8, -1}}},
      {GC_PROFILE_ATTN_LOCAL_WG, {{0, 8, 16, 32, 64, 128, -1}, {0, 16, 64, -1}, {-1}}}}},
};

static const char *const grid_names[] = {"full", "quick", "smoke"};

typedef struct tuner {
    gc_api_log_sink log_sink; /* the public log callback, as the runtime calls it */
    gc_runtime *rt;
    gemcl_tune_params p;       /* repetitions and weight_dtype resolved */
    gc_dtype dtype;            /* of the gemm and gemv workloads */
    uint32_t groups;           /* bits 1 << index into group_specs */
    char path[1024];           /* where the profile goes */
    gc_ops_profile builtin;    /* the device's built-in profile: the reference of every check */
    gc_ops_profile best;       /* builtin with the winners of the groups tuned so far */
    uint32_t measured;         /* the keys of those groups (bits 1 << field) */
    float *ref, *got;          /* (bench out_elems) the built-in profile's output and a candidate's */
    char workload[200];        /* the current group's, for its candidates */
} tuner;

typedef struct tune_measure {
    gc_status status;
    double median_ms, nmse, max_abs;
    char message[256];
} tune_measure;

typedef struct group_search {
    const tune_group_spec *spec;
    tune_bench bench;
    int tried[TUNE_MAX_TRIED][TUNE_MAX_AXES]; /* the group's values of every candidate measured */
    int n_tried;
    gc_ops_profile best;
    double best_ms;            /* < 0 until a candidate passes */
    gemcl_tune_group *res;
} group_search;


static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The first line of msg, at most len - 1 bytes (build logs run to pages). */
static void first_line(char *out, size_t len, const char *msg) {
    size_t n = strcspn(msg, "\n");
    snprintf(out, len, "%.*s", (int)n, msg);
}

/* The group's values in p as "key=value key=value". */
static void setting_text(const tune_group_spec *g, const gc_ops_profile *p, char *out, size_t len) {
    out[0] = '\0';
    for (int a = 0; a < g->n_axes; a++) {
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s%s=%d", a ? " " : "", gc_ops_profile_key(g->axes[a].field),
                 gc_ops_profile_get(p, g->axes[a].field));
    }
}

static bool same_group_values(const tune_group_spec *g, const gc_ops_profile *a, const gc_ops_profile *b) {
    for (int i = 0; i < g->n_axes; i++)
        if (gc_ops_profile_get(a, g->axes[i].field) != gc_ops_profile_get(b, g->axes[i].field))
            return false;
    return true;
}

static bool same_profile(const gc_ops_profile *a, const gc_ops_profile *b) {
    for (int f = 0; f < GC_PROFILE_FIELD_COUNT; f++)
        if (gc_ops_profile_get(a, (gc_profile_field)f) != gc_ops_profile_get(b, (gc_profile_field)f))
            return false;
    return true;
}

static uint32_t group_fields(const tune_group_spec *g) {
    uint32_t mask = 0;
    for (int a = 0; a < g->n_axes; a++)
        mask |= 1u << g->axes[a].field;
    return mask;
}

/* ---- one candidate: a checked pass, then timed ones -------------------------------------------------- */

/* Fails (GEMCL_ERR_DEVICE) unless got is within the tolerances of want; m receives the errors. */
static gc_status compare_outputs(const float *got, const float *want, size_t n, tune_measure *m, gc_error *err) {
    double num = 0, den = 0, max_abs = 0, max_ref = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        num += d * d;
        den += (double)want[i] * want[i];
        max_abs = d > max_abs || isnan(d) ? d : max_abs;
        max_ref = fabs((double)want[i]) > max_ref ? fabs((double)want[i]) : max_ref;
    }
    m->nmse = den > 0 ? num / den : num;
    m->max_abs = max_abs;
    if (m->nmse <= TUNE_NMSE_MAX && max_abs <= TUNE_ABS_MAX * max_ref)
        return GC_OK;
    return gc_fail(err, GC_ERR_DEVICE, "wrong answer: nmse %.3g, max abs error %.3g against the built-in profile's",
                   m->nmse, max_abs);
}

/* A candidate being timed: its op registry (kernels built with its values) and its samples. */
typedef struct tune_run {
    gc_ops *ops;
    int passes;                     /* per sample; 0 until the sizing sample ran */
    int n_samples;
    double ms[TUNE_MAX_SAMPLES];    /* time per pass of each sample */
} tune_run;

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* One sample: enough passes back to back to last TUNE_SAMPLE_MS, so that short workloads are not timed at the
 * noise level of one pass. The first call is an untimed sample that finds how many. */
static gc_status take_sample(tuner *t, tune_bench *b, tune_run *run, gc_error *err) {
    double min_ms = t->p.grid == GEMCL_TUNE_GRID_SMOKE ? 0 : TUNE_SAMPLE_MS, t0 = gc_now_ms();
    int passes = run->passes > 0 ? run->passes : 1;
    for (int i = 0; i < passes; i++) {
        gc_status st = tune_bench_pass(b, run->ops, err);
        if (st != GC_OK)
            return st;
    }
    double elapsed = gc_now_ms() - t0;
    if (run->passes > 0 && run->n_samples < TUNE_MAX_SAMPLES)
        run->ms[run->n_samples++] = elapsed / passes;
    else if (run->passes == 0)
        run->passes = elapsed >= min_ms ? 1
                      : elapsed * TUNE_MAX_PASSES_PER_SAMPLE < min_ms ? TUNE_MAX_PASSES_PER_SAMPLE
                                                                       : (int)ceil(min_ms / elapsed);
    return GC_OK;
}

/* Opens p's op registry and runs one pass, whose output becomes the reference (as_reference) or is checked
 * against it (m receives the errors). run->ops is set even on failure: close it with gc_ops_free. */
static gc_status open_run(tuner *t, tune_bench *b, const gc_ops_profile *p, bool as_reference, tune_run *run,
                          tune_measure *m, gc_error *err) {
    *run = (tune_run){0};
    gc_status st = gc_ops_create_with_profile(t->rt, p, &run->ops, err);
    if (st == GC_OK)
        st = tune_bench_pass(b, run->ops, err);
    if (st == GC_OK)
        st = tune_bench_read(b, as_reference ? t->ref : t->got, err);
    if (st == GC_OK && !as_reference)
        st = compare_outputs(t->got, t->ref, b->out_elems, m, err);
    return st;
}

static void finish_measure(tune_measure *m, gc_status st, const gc_error *err) {
    m->status = st;
    if (st != GC_OK) {
        m->median_ms = -1;
        first_line(m->message, sizeof m->message, err->msg);
    }
}

/* Runs b with profile p in a fresh op registry: the checked pass (open_run), then, when timed, the sizing
 * sample and `repetitions` timed samples, whose median m receives. */
static void measure(tuner *t, tune_bench *b, const gc_ops_profile *p, bool as_reference, bool timed, tune_measure *m) {
    gc_error err;
    gc_error_clear(&err);
    tune_run run;
    *m = (tune_measure){.median_ms = -1};
    gc_status st = open_run(t, b, p, as_reference, &run, m, &err);
    for (int r = -1; timed && st == GC_OK && r < t->p.repetitions; r++)
        st = take_sample(t, b, &run, &err);
    if (st == GC_OK && timed)
        m->median_ms = median(run.ms, run.n_samples);
    gc_ops_free(run.ops);
    finish_measure(m, st, &err);
}

/* ---- one group: the coordinate search --------------------------------------------------------------- */

/* Counts a measured candidate in the group's result and hands it to the caller's callback (GEMCL_ABORTED when
 * that asks to stop). */
static gc_status report(tuner *t, group_search *s, const gc_ops_profile *p, const tune_measure *m, bool confirmation,
                        gc_error *err) {
    char setting[160];
    setting_text(s->spec, p, setting, sizeof setting);
    bool ok = m->status == GC_OK;
    s->res->n_tried += ok, s->res->n_skipped += !ok;
    gemcl_tune_candidate c = {s->spec->name, t->workload,
                              setting,       same_group_values(s->spec, p, &t->builtin),
                              confirmation,  gc_status_public(m->status),
                              m->message,    m->median_ms,
                              m->nmse,       m->max_abs};
    if (t->p.on_candidate && t->p.on_candidate(&c, t->p.on_candidate_user) != 0)
        return gc_fail(err, GC_ABORTED, "tune: stopped by the candidate callback");
    return GC_OK;
}

/* A candidate of the search: reported, and kept when it is the fastest so far. */
static gc_status record(tuner *t, group_search *s, const gc_ops_profile *p, const tune_measure *m, gc_error *err) {
    bool ok = m->status == GC_OK;
    if (ok && same_group_values(s->spec, p, &t->builtin))
        s->res->builtin_ms = m->median_ms;
    if (ok && (s->best_ms < 0 || m->median_ms < s->best_ms)) {
        s->best = *p;
        s->best_ms = m->median_ms;
    }
    return report(t, s, p, m, false, err);
}

/* Adds p's group values to those the search has measured; false when they are there already (or the list is
 * full). */
static bool first_try(group_search *s, const gc_ops_profile *p) {
    const tune_group_spec *g = s->spec;
    for (int i = 0; i < s->n_tried; i++) {
        bool same = true;
        for (int a = 0; a < g->n_axes; a++)
            same = same && s->tried[i][a] == gc_ops_profile_get(p, g->axes[a].field);
        if (same)
            return false;
    }
    if (s->n_tried == TUNE_MAX_TRIED)
        return false;
    for (int a = 0; a < g->n_axes; a++)
        s->tried[s->n_tried][a] = gc_ops_profile_get(p, g->axes[a].field);
    s->n_tried++;
    return true;
}

/* Measures p unless the search has measured the same group values already. */
static gc_status try_candidate(tuner *t, group_search *s, const gc_ops_profile *p, gc_error *err) {
    const tune_group_spec *g = s->spec;
    if (!first_try(s, p))
        return GC_OK;
    char setting[160];
    setting_text(g, p, setting, sizeof setting);
    gc_log(t->rt, GC_LOG_LEVEL_DEBUG, "%s: measuring %s", g->name, setting);
    tune_measure m;
    measure(t, &s->bench, p, false, true, &m);
    return record(t, s, p, &m, err);
}

/* The reference (the built-in profile's output) and the first candidate: the built-in values of the group with
 * the winners of earlier groups. When the built-in values themselves fail, the group cannot be judged. */
static gc_status start_search(tuner *t, group_search *s, gc_error *err) {
    bool start_is_builtin = same_profile(&t->best, &t->builtin);
    tune_measure m;
    measure(t, &s->bench, &t->builtin, true, start_is_builtin, &m);
    if (m.status != GC_OK) {
        s->res->status = gc_status_public(m.status);
        snprintf(s->res->message, sizeof s->res->message, "the built-in values fail: %s", m.message);
        return record(t, s, &t->builtin, &m, err);
    }
    if (start_is_builtin) {
        first_try(s, &t->builtin);
        return record(t, s, &t->builtin, &m, err);
    }
    return try_candidate(t, s, &t->best, err);
}

/* Sweeps the group's keys one at a time until a sweep leaves the best values unchanged. */
static gc_status descend(tuner *t, group_search *s, gc_error *err) {
    const tune_group_spec *g = s->spec;
    for (int sweep = 0; sweep < TUNE_MAX_SWEEPS; sweep++) {
        gc_ops_profile before = s->best;
        for (int a = 0; a < g->n_axes; a++) {
            const int *values = g->axes[a].values[t->p.grid];
            for (int i = 0; i < TUNE_MAX_VALUES && values[i] >= 0; i++) {
                gc_ops_profile c = s->best;
                gc_ops_profile_set(&c, g->axes[a].field, values[i]);
                gc_status st = try_candidate(t, s, &c, err);
                if (st != GC_OK)
                    return st;
            }
        }
        if (same_group_values(g, &before, &s->best))
            break;
    }
    return GC_OK;
}

/* ---- the workloads ----------------------------------------------------------------------------------- */

/* TinyLlama's projections (wq/wo, w_gate/w_up, w_down), or tiny odd shapes for the smoke grid. */
static const tune_shapes tinyllama_shapes = {3, {2048, 5632, 2048}, {2048, 2048, 5632}};
static const tune_shapes smoke_shapes = {2, {72, 40}, {96, 64}};

/* Builds the group's workload and describes it in t->workload. */
static gc_status make_workload(tuner *t, tune_workload w, tune_bench *b, gc_error *err) {
    bool smoke = t->p.grid == GEMCL_TUNE_GRID_SMOKE;
    const tune_shapes *shapes = smoke ? &smoke_shapes : &tinyllama_shapes;
    int n_prefill = smoke ? 40 : 512; /* above every profile's gemv_max_n: these are GEMM */
    gc_status st;
    if (w == WORKLOAD_ATTENTION) {
        st = smoke ? tune_bench_attention(t->rt, 40, 8, 4, 2, 16, b, err)
                   : tune_bench_attention(t->rt, 1024, TUNE_DECODE_STEPS, 32, 4, 64, b, err);
        snprintf(t->workload, sizeof t->workload,
                 "causal prefill, n = %d, then %d decode steps over 1 .. %d keys; %d query / %d KV heads of %d", b->n,
                 b->n_decode, b->n_decode, b->heads, b->kv_heads, b->head_dim);
        return st;
    }
    gc_dtype dtype = w == WORKLOAD_GEMM_F32 ? GC_DTYPE_F32 : t->dtype;
    if (w == WORKLOAD_GEMV)
        st = tune_bench_matmul(t->rt, dtype, 1, shapes, smoke ? 0 : TUNE_GEMV_BYTES, b, err);
    else
        st = tune_bench_matmul(t->rt, dtype, n_prefill, shapes, 0, b, err);
    int used = snprintf(t->workload, sizeof t->workload, "%s weights, n = %d, W", gc_dtype_name(dtype), b->n);
    for (int s = 0; s < shapes->n_shapes && used > 0 && (size_t)used < sizeof t->workload; s++)
        used += snprintf(t->workload + used, sizeof t->workload - used, " %dx%d", shapes->rows[s], shapes->cols[s]);
    if (b->n_copies > 1 && used > 0 && (size_t)used < sizeof t->workload)
        snprintf(t->workload + used, sizeof t->workload - used, ", %d copies back to back", b->n_copies);
    return st;
}

/* Measures the built-in values (with earlier groups' winners) and the search's winner once more, sample by
 * sample in turn (2 * repetitions + 1 each), and keeps the winner only when its median is still the smaller: in
 * the search the built-in values ran first, and among many candidates one can win by noise. res gets the
 * medians of this round. */
static gc_status confirm(tuner *t, group_search *s, gc_error *err) {
    gc_ops_profile start = t->best, winner = s->best;
    if (same_group_values(s->spec, &winner, &start))
        return GC_OK;
    tune_measure mb = {.median_ms = -1}, mw = {.median_ms = -1};
    gc_error eb, ew;
    gc_error_clear(&eb), gc_error_clear(&ew);
    tune_run rb, rw;
    gc_status sb = open_run(t, &s->bench, &start, false, &rb, &mb, &eb);
    gc_status sw = open_run(t, &s->bench, &winner, false, &rw, &mw, &ew);
    for (int r = -1; sb == GC_OK && sw == GC_OK && r < 2 * t->p.repetitions + 1; r++) {
        sb = take_sample(t, &s->bench, &rb, &eb); /* alternately, so that a change of load hits both alike */
        if (sb == GC_OK)
            sw = take_sample(t, &s->bench, &rw, &ew);
    }
    if (sb == GC_OK && sw == GC_OK)
        mb.median_ms = median(rb.ms, rb.n_samples), mw.median_ms = median(rw.ms, rw.n_samples);
    gc_ops_free(rb.ops), gc_ops_free(rw.ops);
    finish_measure(&mb, sb, &eb), finish_measure(&mw, sw, &ew);
    gc_status st = report(t, s, &start, &mb, true, err);
    if (st == GC_OK)
        st = report(t, s, &winner, &mw, true, err);
    if (st != GC_OK || mb.status != GC_OK)
        return st; /* the built-in values fail now: the search's winner stands */
    s->res->builtin_ms = mb.median_ms;
    bool winner_holds = mw.status == GC_OK && mw.median_ms < mb.median_ms;
    s->best = winner_holds ? winner : start;
    s->best_ms = winner_holds ? mw.median_ms : mb.median_ms;
    return GC_OK;
}

/* Tunes one group into res and, when a candidate passed, its winner into t->best. Only an abort is returned as
 * an error; anything else that stops the group (memory for the workload, failing built-in values) is recorded
 * in res and the next group goes on. */
static gc_status tune_group(tuner *t, const tune_group_spec *g, gemcl_tune_group *res, gc_error *err) {
    group_search *s = calloc(1, sizeof *s);
    gc_error local;
    gc_error_clear(&local);
    *res = (gemcl_tune_group){.builtin_ms = -1, .winner_ms = -1};
    snprintf(res->name, sizeof res->name, "%s", g->name);
    setting_text(g, &t->builtin, res->builtin, sizeof res->builtin);
    if (!s)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "tune: out of host memory");
    *s = (group_search){.spec = g, .best = t->best, .best_ms = -1, .res = res};
    gc_status st = make_workload(t, g->workload, &s->bench, &local);
    gc_log(t->rt, GC_LOG_LEVEL_INFO, "%s: %s", g->name, t->workload);
    t->ref = st == GC_OK ? malloc(s->bench.out_elems * sizeof(float)) : NULL;
    t->got = st == GC_OK ? malloc(s->bench.out_elems * sizeof(float)) : NULL;
    if (st == GC_OK && (!t->ref || !t->got))
        st = gc_fail(&local, GC_ERR_OUT_OF_MEMORY, "out of host memory for the outputs");
    if (st != GC_OK) {
        res->status = gc_status_public(st);
        first_line(res->message, sizeof res->message, local.msg);
    }
    st = res->status == GEMCL_OK ? start_search(t, s, err) : GC_OK;
    if (st == GC_OK && res->status == GEMCL_OK)
        st = descend(t, s, err);
    if (st == GC_OK && res->status == GEMCL_OK && s->best_ms >= 0)
        st = confirm(t, s, err);
    if (st == GC_OK && res->status == GEMCL_OK && s->best_ms < 0) {
        res->status = GEMCL_ERR_DEVICE;
        snprintf(res->message, sizeof res->message, "no candidate passed its check");
    }
    if (st == GC_OK && res->status == GEMCL_OK) {
        setting_text(g, &s->best, res->winner, sizeof res->winner);
        res->winner_ms = s->best_ms;
        for (int a = 0; a < g->n_axes; a++)
            gc_ops_profile_set(&t->best, g->axes[a].field, gc_ops_profile_get(&s->best, g->axes[a].field));
        t->measured |= group_fields(g);
    }
    tune_bench_free(&s->bench);
    free(t->ref), free(t->got);
    t->ref = t->got = NULL;
    free(s);
    return st;
}

/* ---- setup, the profile written, the public entries -------------------------------------------------- */

gemcl_tune_params gemcl_tune_default_params(void) {
    gemcl_tune_params p = {0};
    p.grid = GEMCL_TUNE_GRID_FULL;
    p.weight_dtype = GEMCL_WEIGHT_DTYPE_AUTO;
    return p;
}

/* The bit mask of the groups named in list ("gemm,gemv"; NULL or "" = all). */
static gc_status parse_groups(const char *list, uint32_t *mask, gc_error *err) {
    *mask = list && *list ? 0 : (1u << GEMCL_TUNE_MAX_GROUPS) - 1;
    for (const char *c = list; c && *c;) {
        size_t len = strcspn(c, ",");
        int found = -1;
        for (int g = 0; g < GEMCL_TUNE_MAX_GROUPS; g++)
            if (strlen(group_specs[g].name) == len && strncmp(group_specs[g].name, c, len) == 0)
                found = g;
        if (found < 0)
            return gc_fail(err, GC_ERR_INVALID_ARG,
                           "tune: unknown group '%.*s' (groups: gemm, gemm_f32, gemv, attention)", (int)len, c);
        *mask |= 1u << found;
        c += len + (c[len] == ',');
    }
    return GC_OK;
}

/* Checks params into t (defaults resolved) before any device work. */
static gc_status check_params(tuner *t, const gemcl_tune_params *params, gc_error *err) {
    static const int default_reps[] = {5, 3, 1};
    t->p = params ? *params : gemcl_tune_default_params();
    gemcl_tune_params *p = &t->p;
    if ((unsigned)p->grid > GEMCL_TUNE_GRID_SMOKE)
        return gc_fail(err, GC_ERR_INVALID_ARG, "tune: unknown grid %d", (int)p->grid);
    if (p->repetitions < 0 || p->repetitions > TUNE_MAX_REPETITIONS)
        return gc_fail(err, GC_ERR_INVALID_ARG, "tune: repetitions must be in [1, %d] (got %d)", TUNE_MAX_REPETITIONS,
                       p->repetitions);
    if (p->repetitions == 0)
        p->repetitions = default_reps[p->grid];
    if (p->weight_dtype < GEMCL_WEIGHT_DTYPE_AUTO || p->weight_dtype > GEMCL_WEIGHT_DTYPE_Q8_0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "tune: unknown weight dtype %d", (int)p->weight_dtype);
    t->dtype = p->weight_dtype == GEMCL_WEIGHT_DTYPE_AUTO ? GC_DTYPE_F16 : (gc_dtype)p->weight_dtype;
    return parse_groups(p->groups, &t->groups, err);
}

/* The device, its built-in profile and the output path. */
static gc_status open_device(tuner *t, gc_error *err) {
    gc_runtime_params rp = gc_runtime_default_params();
    rp.device = t->p.device;
    gc_api_log_bind(&rp, &t->log_sink, t->p.log, t->p.log_user);
    gc_status st = gc_runtime_create(&rp, &t->rt, err);
    if (st != GC_OK)
        return st;
    const gc_device_info *dev = &t->rt->dev.info;
    st = gc_ops_profile_builtin(gc_ops_profile_builtin_name(dev), &t->builtin, err);
    t->best = t->builtin;
    if (st == GC_OK && t->p.output_path && *t->p.output_path)
        snprintf(t->path, sizeof t->path, "%s", t->p.output_path);
    else if (st == GC_OK &&
             !gc_ops_profile_device_path(t->rt->cache_enabled ? t->rt->cache_dir : NULL, dev, t->path, sizeof t->path))
        st = gc_fail(err, GC_ERR_INVALID_ARG,
                     "tune: the cache is off (GEMCL_CACHE_DIR=off), so there is no "
                     "tuned-profile path: give an output path");
    return st;
}

/* Keys of a valid profile already at t->path that this run did not measure go into the new file as they were.
 * Returns how many. */
static int keep_earlier_keys(tuner *t, gc_ops_profile *out, uint32_t *fields) {
    gc_ops_profile earlier = t->builtin;
    char *text = NULL;
    size_t len = 0;
    uint32_t set = 0;
    if (gc_file_read(t->path, &text, &len, NULL) != GC_OK)
        return 0;
    gc_error err;
    if (gc_ops_profile_apply(&earlier, text, len, t->path, &set, &err) != GC_OK) {
        gc_log(t->rt, GC_LOG_LEVEL_WARN, "tune: replacing a profile that does not load: %s", err.msg);
        set = 0;
    }
    free(text);
    int kept = 0;
    for (int f = 0; f < GC_PROFILE_FIELD_COUNT; f++) {
        if ((set & (1u << f)) && !(t->measured & (1u << f))) {
            gc_ops_profile_set(out, (gc_profile_field)f, gc_ops_profile_get(&earlier, (gc_profile_field)f));
            *fields |= 1u << f;
            kept++;
        }
    }
    return kept;
}

static gc_status write_profile(tuner *t, const gemcl_tune_result *r, gc_error *err) {
    gc_ops_profile out = t->best;
    uint32_t fields = t->measured;
    int kept = keep_earlier_keys(t, &out, &fields);
    const gc_device_info *dev = &t->rt->dev.info;
    char about[512], device[640];
    int used = snprintf(about, sizeof about, "Measured by gemcl tune (%s grid, %s weights, median of %d timed "
                        "sample%s) over the built-in %s profile:", grid_names[t->p.grid], gc_dtype_name(t->dtype),
                        t->p.repetitions, t->p.repetitions == 1 ? "" : "s", t->builtin.name);
    for (int g = 0; g < r->n_groups && used > 0 && (size_t)used < sizeof about; g++)
        if (r->groups[g].status == GEMCL_OK)
            used += snprintf(about + used, sizeof about - used, " %s", r->groups[g].name);
    if (kept > 0 && used > 0 && (size_t)used < sizeof about)
        snprintf(about + used, sizeof about - used, "; %d other keys kept from the earlier file", kept);
    snprintf(device, sizeof device, "%s; driver %s; %s", dev->name, dev->driver_version, dev->platform_version);
    return gc_ops_profile_write(&out, fields, about, device, t->path, err);
}

static gc_status run_tuner(tuner *t, const gemcl_tune_params *params, gemcl_tune_result *r, gc_error *err) {
    gc_status st = check_params(t, params, err);
    if (st == GC_OK)
        st = open_device(t, err);
    if (st != GC_OK)
        return st;
    snprintf(r->device_name, sizeof r->device_name, "%s", t->rt->dev.info.name);
    gc_log(t->rt, GC_LOG_LEVEL_INFO, "%s grid, %d timed sample%s per candidate, from the built-in %s profile",
           grid_names[t->p.grid], t->p.repetitions, t->p.repetitions == 1 ? "" : "s", t->builtin.name);
    for (int g = 0; st == GC_OK && g < GEMCL_TUNE_MAX_GROUPS; g++)
        if (t->groups & (1u << g))
            st = tune_group(t, &group_specs[g], &r->groups[r->n_groups++], err);
    if (st == GC_OK && t->measured == 0)
        st = gc_fail(err, GC_ERR_DEVICE, "tune: no group could be measured on '%s' (%s: %s)", r->device_name,
                     r->groups[0].name, r->groups[0].message);
    if (st == GC_OK)
        st = write_profile(t, r, err);
    if (st == GC_OK)
        snprintf(r->path, sizeof r->path, "%s", t->path);
    return st;
}

gemcl_status gemcl_device_tune(const gemcl_tune_params *params, gemcl_tune_result *result, char *errbuf,
                               size_t errlen) {
    gc_error err;
    gc_error_clear(&err);
    gemcl_tune_result local = {0};
    gemcl_tune_result *r = result ? result : &local;
    memset(r, 0, sizeof *r);
    tuner t = {0};
    gc_status st = run_tuner(&t, params, r, &err);
    gc_runtime_free(t.rt);
    if (st != GC_OK) {
        r->path[0] = '\0';
        gc_error_copy_out(&err, errbuf, errlen);
    }
    return gc_status_public(st);
}

gemcl_status gemcl_device_profile(const char *device, gemcl_profile_info *info, char *errbuf, size_t errlen) {
    gc_error err;
    gc_device *devs = NULL;
    int n = 0, index = 0;
    if (!info)
        return GEMCL_ERR_INVALID_ARG;
    memset(info, 0, sizeof *info);
    gc_status st = gc_devices_enumerate(&devs, &n, &err);
    if (st == GC_OK)
        st = gc_devices_choose(devs, n, device, &index, &err);
    if (st == GC_OK) {
        const gc_device *device = &devs[index];
        const gc_device_info *dev = &device->info;
        char cache[1024];
        const char *cache_dir = gc_cache_dir_resolve(NULL, cache, sizeof cache) ? cache : NULL;
        const char *env = getenv("GEMCL_PROFILE");
        gc_ops_profile p;
        st = gc_ops_profile_for(device, cache_dir, &p, &err);
        snprintf(info->builtin, sizeof info->builtin, "%s", gc_ops_profile_builtin_name(dev));
        snprintf(info->file, sizeof info->file, "%s", p.file);
        info->file_from_env = env && *env;
        gc_ops_profile_device_path(cache_dir, dev, info->tuned_path, sizeof info->tuned_path);
    }
    free(devs);
    if (st != GC_OK)
        gc_error_copy_out(&err, errbuf, errlen);
    return gc_status_public(st);
}
