/* test_tune.c - tuning profiles as data and the tuner: the built-in profiles load with every key, a file lays
 * only its keys over them, $GEMCL_PROFILE wins over the device's tuned file, every kind of bad file is refused
 * with the file and the key named (by the loader, gc_ops_create, gemcl_model_load and the CLI), and a smoke
 * tune writes a profile that loads and computes right. Nothing here asserts on time. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gemcl.h"
#include "harness.h"
#include "ops/ops_internal.h"
#include "ops/profile.h"
#include "ref_ops.h"
#include "util/fileio.h"

/* A fresh directory under /tmp; the test removes what it made there with remove_tree. */
static void make_temp_dir(char *dir, size_t len) {
    snprintf(dir, len, "/tmp/gemcl-tune-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_tree(const char *dir) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* An environment variable as it was before a test changed it, to put back with env_restore. */
typedef struct saved_env {
    const char *name;
    char value[1024];
    bool was_set;
} saved_env;

static saved_env env_set(const char *name, const char *value) {
    saved_env s = {.name = name};
    const char *old = getenv(name);
    s.was_set = old != NULL;
    snprintf(s.value, sizeof s.value, "%s", old ? old : "");
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
    return s;
}

static void env_restore(const saved_env *s) {
    if (s->was_set)
        setenv(s->name, s->value, 1);
    else
        unsetenv(s->name);
}

static void write_text(const char *path, const char *text) {
    ck_assert_int_eq(gc_file_write_atomic(path, text, strlen(text), NULL), GC_OK);
}

static gc_ops_profile builtin(const char *name) {
    gc_ops_profile p;
    gc_error err;
    ck_assert_msg(gc_ops_profile_builtin(name, &p, &err) == GC_OK, "%s", err.msg);
    return p;
}

/* The profile gc_ops_create picks for the test device under the current environment. */
static gc_status created_profile(gc_ops_profile *out, gc_error *err) {
    gc_runtime *rt = test_runtime();
    gc_ops *ops = NULL;
    gc_status st = gc_ops_create(rt, &ops, err);
    if (st == GC_OK)
        *out = *gc_ops_get_profile(ops);
    else
        ck_assert_ptr_null(ops);
    gc_ops_free(ops);
    gc_runtime_free(rt);
    return st;
}

START_TEST(builtin_profiles_load_with_every_key) {
    gc_ops_profile cpu = builtin("cpu"), gpu = builtin("gpu");
    ck_assert_str_eq(cpu.name, "cpu");
    ck_assert_str_eq(cpu.file, "");
    /* values cl/profiles/{cpu,gpu}.json hold */
    ck_assert_int_eq(cpu.gemm_tm, 4);
    ck_assert_int_eq(cpu.gemm_kb, 256);
    ck_assert_int_eq(cpu.attn_rows, 16);
    ck_assert(!cpu.gemm_f32_clblast);
    ck_assert_int_eq(gpu.gemv_local, 64);
    ck_assert_int_eq(gpu.attn_local_wg, 64);
    ck_assert(gpu.gemm_f32_clblast);
    for (int f = 0; f < GC_PROFILE_FIELD_COUNT; f++) { /* every value within its own range */
        gc_profile_field field = (gc_profile_field)f;
        ck_assert_int_eq(gc_ops_profile_check_value(field, gc_ops_profile_get(&cpu, field), "cpu", NULL), GC_OK);
        ck_assert_int_eq(gc_ops_profile_check_value(field, gc_ops_profile_get(&gpu, field), "gpu", NULL), GC_OK);
    }
    gc_error err;
    ck_assert_int_eq(gc_ops_profile_builtin("tpu", &cpu, &err), GC_ERR_NOT_FOUND);
}
END_TEST

START_TEST(profile_file_overrides_only_the_keys_it_names) {
    gc_ops_profile base = builtin("cpu"), p = base;
    const char *json = "{\"about\": \"a test\", \"gemm_tm\": 4, \"gemm_f32_clblast\": true}";
    uint32_t set = 0;
    gc_error err;
    ck_assert_msg(gc_ops_profile_apply(&p, json, strlen(json), "t.json", &set, &err) == GC_OK, "%s", err.msg);
    ck_assert_uint_eq(set, (1u << GC_PROFILE_GEMM_TM) | (1u << GC_PROFILE_GEMM_F32_CLBLAST));
    for (int f = 0; f < GC_PROFILE_FIELD_COUNT; f++)
        if (!(set & (1u << f)))
            ck_assert_int_eq(gc_ops_profile_get(&p, f), gc_ops_profile_get(&base, f));
    ck_assert_int_eq(p.gemm_tm, 4);
    ck_assert(p.gemm_f32_clblast);
}
END_TEST

START_TEST(gemcl_profile_wins_over_the_tuned_file_and_a_cache_off_skips_it) {
    char dir[64], tuned[1024], env_file[128];
    make_temp_dir(dir, sizeof dir);
    saved_env cache = env_set("GEMCL_CACHE_DIR", dir), profile = env_set("GEMCL_PROFILE", NULL);
    gc_runtime *rt = test_runtime();
    ck_assert(gc_ops_profile_device_path(dir, &rt->dev.info, tuned, sizeof tuned));
    gc_ops_profile base = builtin(gc_ops_profile_builtin_name(&rt->dev.info)), p;
    gc_runtime_free(rt);
    ck_assert_int_eq(gc_mkdir_p(strcat(strcpy(env_file, dir), "/profiles"), NULL), GC_OK);
    write_text(tuned, "{\"gemm_tm\": 2, \"gemv_rows\": 8}");
    snprintf(env_file, sizeof env_file, "%s/env.json", dir);
    write_text(env_file, "{\"gemm_tm\": 16}");
    gc_error err;
    ck_assert_msg(created_profile(&p, &err) == GC_OK, "%s", err.msg); /* the tuned file */
    ck_assert_str_eq(p.file, tuned);
    ck_assert_int_eq(p.gemm_tm, 2);
    ck_assert_int_eq(p.gemv_rows, 8);
    ck_assert_int_eq(p.gemm_kb, base.gemm_kb);
    setenv("GEMCL_PROFILE", env_file, 1); /* wins, and the tuned file is not read at all */
    ck_assert_msg(created_profile(&p, &err) == GC_OK, "%s", err.msg);
    ck_assert_str_eq(p.file, env_file);
    ck_assert_int_eq(p.gemm_tm, 16);
    ck_assert_int_eq(p.gemv_rows, base.gemv_rows);
    unsetenv("GEMCL_PROFILE");
    setenv("GEMCL_CACHE_DIR", "off", 1); /* no cache, no tuned file */
    ck_assert_msg(created_profile(&p, &err) == GC_OK, "%s", err.msg);
    ck_assert_str_eq(p.file, "");
    ck_assert_int_eq(p.gemm_tm, base.gemm_tm);
    env_restore(&cache);
    env_restore(&profile);
    remove_tree(dir);
}
END_TEST

/* Every way a profile file can be wrong, with the key the message must name. */
static const struct {
    const char *json, *named;
} bad_profiles[] = {
    {"{\"gemm_tm\": 4,", "invalid JSON"},
    {"[4, 8]", "a profile must be a JSON object"},
    {"{\"gemm_tn\": 4}", "unknown key 'gemm_tn'"},
    {"{\"gemm_tm\": \"4\"}", "'gemm_tm' must be an integer"},
    {"{\"gemm_tm\": 4.5}", "'gemm_tm' must be an integer"},
    {"{\"gemm_tm\": null}", "'gemm_tm' must be an integer"},
    {"{\"gemm_tm\": 1e999}", "'gemm_tm' must be an integer"},
    {"{\"gemm_f32_clblast\": 1}", "'gemm_f32_clblast' must be true or false"},
    {"{\"gemm_wn\": 0}", "'gemm_wn' must be an integer in [1, 64]"},
    {"{\"gemv_local\": 3}", "'gemv_local' must be a power of two (got 3)"},
    {"{\"gemm_kb\": 48}", "'gemm_kb' must be a multiple of 32 (got 48)"},
    {"{\"attn_rows\": 3}", "'attn_rows' must be 0, 2, 4, 8 or 16 (got 3)"},
    {"{\"about\": 1}", "'about' must be a string"},
    {"{\"gemm_tm\": 4, \"gemm_tm\": 8}", "'gemm_tm' appears twice"},
};

START_TEST(every_kind_of_bad_profile_is_refused_naming_file_and_key) {
    char dir[64], path[128], want[256];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/bad.json", dir);
    saved_env profile = env_set("GEMCL_PROFILE", path);
    for (size_t i = 0; i < sizeof bad_profiles / sizeof bad_profiles[0]; i++) {
        write_text(path, bad_profiles[i].json);
        gc_ops_profile base = builtin("cpu"), p = base;
        gc_error err;
        ck_assert_int_eq(gc_ops_profile_apply_file(&p, path, &err), GC_ERR_FORMAT);
        snprintf(want, sizeof want, "%s: %s", path, bad_profiles[i].named);
        ck_assert_msg(strstr(err.msg, want), "%s: got '%s', want '%s'", bad_profiles[i].json, err.msg, want);
        ck_assert_msg(!strchr(err.msg, '\n'), "one line: %s", err.msg);
        for (int f = 0; f < GC_PROFILE_FIELD_COUNT; f++) /* nothing applied */
            ck_assert_int_eq(gc_ops_profile_get(&p, f), gc_ops_profile_get(&base, f));
        ck_assert_int_eq(created_profile(&p, &err), GC_ERR_FORMAT); /* gc_ops_create refuses it too */
        ck_assert_msg(strncmp(err.msg, "GEMCL_PROFILE: ", 15) == 0 && strstr(err.msg, want), "%s", err.msg);
    }
    remove(path);
    gc_error err;
    gc_ops_profile p;
    ck_assert_int_eq(created_profile(&p, &err), GC_ERR_IO); /* a $GEMCL_PROFILE that is not there */
    ck_assert_msg(strstr(err.msg, path), "%s", err.msg);
    env_restore(&profile);
    remove_tree(dir);
}
END_TEST

START_TEST(model_load_and_the_cli_report_a_bad_tuned_profile) {
    const char *model = test_shared_path("models/stories260K/stories260K.bin");
    if (test_skip_if_missing(model, "models/stories260K/stories260K.bin"))
        return;
    char dir[64], err[1024], out[4096];
    make_temp_dir(dir, sizeof dir);
    saved_env cache = env_set("GEMCL_CACHE_DIR", dir), profile = env_set("GEMCL_PROFILE", NULL);
    gemcl_profile_info info;
    ck_assert_int_eq(gemcl_device_profile(NULL, &info, err, sizeof err), GEMCL_OK);
    ck_assert_str_eq(info.file, "");
    ck_assert_int_eq(gc_mkdir_p(strcat(strcpy(out, dir), "/profiles"), NULL), GC_OK);
    write_text(info.tuned_path, "{\"gemv_local\": 3}");
    gemcl_model *m = NULL;
    ck_assert_int_eq(gemcl_model_load(model, NULL, &m, err, sizeof err), GEMCL_ERR_FORMAT);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err, info.tuned_path) && strstr(err, "'gemv_local' must be a power of two"), "%s", err);
    ck_assert_int_eq(gemcl_device_profile(NULL, &info, err, sizeof err), GEMCL_ERR_FORMAT);
    ck_assert_str_eq(info.file, info.tuned_path);
    ck_assert_int_eq(test_run_cli("tune --show", true, out, sizeof out), 1);
    ck_assert_msg(strstr(out, info.tuned_path) && strstr(out, "'gemv_local'"), "%s", out);
    write_text(info.tuned_path, "{\"gemv_local\": 4}"); /* now it loads */
    ck_assert_int_eq(gemcl_model_load(model, NULL, &m, err, sizeof err), GEMCL_OK);
    gemcl_model_free(m);
    ck_assert_int_eq(test_run_cli("devices", false, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "profile: built-in ") && strstr(out, info.tuned_path), "%s", out);
    env_restore(&cache);
    env_restore(&profile);
    remove_tree(dir);
}
END_TEST

START_TEST(profile_writer_writes_only_the_given_keys_atomically) {
    char dir[64], path[160];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/a/b/p.json", dir); /* directories made on the way */
    gc_ops_profile p = builtin("cpu");
    p.gemm_tm = 16, p.gemm_f32_clblast = true;
    uint32_t fields = (1u << GC_PROFILE_GEMM_TM) | (1u << GC_PROFILE_GEMM_F32_CLBLAST), set = 0;
    gc_error err;
    ck_assert_msg(gc_ops_profile_write(&p, fields, "a test", "a device", path, &err) == GC_OK, "%s", err.msg);
    char *text;
    size_t len;
    ck_assert_int_eq(gc_file_read(path, &text, &len, NULL), GC_OK);
    ck_assert(strstr(text, "\"about\"") && strstr(text, "\"date\"") && strstr(text, "\"device\""));
    gc_ops_profile q = builtin("gpu");
    ck_assert_msg(gc_ops_profile_apply(&q, text, len, path, &set, &err) == GC_OK, "%s", err.msg);
    ck_assert_uint_eq(set, fields);
    ck_assert_int_eq(q.gemm_tm, 16);
    ck_assert(q.gemm_f32_clblast);
    free(text);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test \"$(ls -A '%s/a/b')\" = p.json", dir); /* no temporary file left */
    ck_assert_int_eq(system(cmd), 0);
    remove_tree(dir);
}
END_TEST

typedef struct candidates_seen {
    int n, n_ok, n_builtin;
    double worst_nmse;
    int stop_after; /* > 0: ask to stop after this many */
} candidates_seen;

static int count_candidate(const gemcl_tune_candidate *c, void *user) {
    candidates_seen *s = user;
    s->n++;
    s->n_builtin += c->is_builtin && !c->confirmation;
    if (c->status == GEMCL_OK) {
        s->n_ok++;
        s->worst_nmse = c->nmse > s->worst_nmse ? c->nmse : s->worst_nmse;
        ck_assert(c->median_ms >= 0);
    }
    ck_assert(c->group && c->setting && c->workload && c->message);
    return s->stop_after > 0 && s->n >= s->stop_after;
}

/* y = x W^T with the profile's GEMM and GEMV on a small f16 weight, against ref_matmul. */
static void expect_matmul_right(gc_ops *ops, int n) {
    gc_runtime *rt = gc_ops_runtime(ops);
    const int rows = 40, cols = 96;
    float *x = malloc(sizeof(float) * n * cols), *w = malloc(sizeof(float) * rows * cols);
    float *want = malloc(sizeof(float) * n * rows), *got = malloc(sizeof(float) * n * rows);
    test_fill_random(x, (size_t)n * cols, 1), test_fill_random(w, (size_t)rows * cols, 2);
    ref_weight rw = ref_weight_make(w, rows, cols, GC_DTYPE_F16);
    ref_matmul(want, x, rw.dequant, NULL, n, rows, cols);
    gc_dweight dw = {{0}, GC_DTYPE_F16, rows, cols};
    gc_buffer dx, dy;
    gc_error err;
    ck_assert_int_eq(gc_buffer_alloc(rt, rw.bytes, "w", &dw.buf, &err), GC_OK);
    ck_assert_int_eq(gc_buffer_write(rt, &dw.buf, 0, rw.data, rw.bytes, &err), GC_OK);
    ck_assert_int_eq(gc_buffer_alloc(rt, sizeof(float) * n * cols, "x", &dx, &err), GC_OK);
    ck_assert_int_eq(gc_buffer_write(rt, &dx, 0, x, sizeof(float) * n * cols, &err), GC_OK);
    ck_assert_int_eq(gc_buffer_alloc(rt, sizeof(float) * n * rows, "y", &dy, &err), GC_OK);
    ck_assert_msg(gc_op_matmul(ops, &dx, 0, &dw, NULL, &dy, 0, n, &err) == GC_OK, "%s", err.msg);
    ck_assert_int_eq(gc_buffer_read(rt, &dy, 0, got, sizeof(float) * n * rows, &err), GC_OK);
    double nmse = test_nmse(got, want, (size_t)n * rows);
    ck_assert_msg(nmse < 1e-5, "n %d: nmse %g", n, nmse);
    gc_buffer_free(rt, &dw.buf), gc_buffer_free(rt, &dx), gc_buffer_free(rt, &dy);
    ref_weight_free(&rw);
    free(x), free(w), free(want), free(got);
}

START_TEST(smoke_tune_writes_a_profile_that_loads_and_computes_right) {
    char dir[64], path[128], err[1024];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tuned.json", dir);
    candidates_seen seen = {0};
    gemcl_tune_params p = gemcl_tune_default_params();
    p.grid = GEMCL_TUNE_GRID_SMOKE;
    p.output_path = path;
    p.on_candidate = count_candidate;
    p.on_candidate_user = &seen;
    gemcl_tune_result r;
    ck_assert_msg(gemcl_device_tune(&p, &r, err, sizeof err) == GEMCL_OK, "%s", err);
    ck_assert_str_eq(r.path, path);
    ck_assert_int_eq(r.n_groups, 4);
    for (int g = 0; g < r.n_groups; g++) {
        ck_assert_msg(r.groups[g].status == GEMCL_OK, "%s: %s", r.groups[g].name, r.groups[g].message);
        ck_assert(r.groups[g].winner_ms >= 0 && r.groups[g].winner_ms <= r.groups[g].builtin_ms);
    }
    ck_assert_int_eq(seen.n_builtin, 4); /* each group starts from the built-in values */
    ck_assert_int_eq(seen.n_ok, seen.n);  /* nothing in the smoke grid fails on a working device */
    ck_assert(seen.worst_nmse <= 1e-6);
    /* the file holds exactly the measured keys, and models would load it */
    uint32_t measured = 0, set = 0;
    const gc_profile_field keys[] = {GC_PROFILE_GEMM_TM,    GC_PROFILE_GEMM_WN,  GC_PROFILE_GEMM_WM,
                                     GC_PROFILE_GEMM_KB,    GC_PROFILE_GEMM_F32_CLBLAST, GC_PROFILE_GEMV_LOCAL,
                                     GC_PROFILE_GEMV_ROWS,  GC_PROFILE_ATTN_ROWS, GC_PROFILE_ATTN_KEYS,
                                     GC_PROFILE_ATTN_LOCAL_WG};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        measured |= 1u << keys[k];
    char *text;
    size_t len;
    gc_error e;
    gc_ops_profile tuned = builtin("cpu");
    ck_assert_int_eq(gc_file_read(path, &text, &len, NULL), GC_OK);
    ck_assert_msg(gc_ops_profile_apply(&tuned, text, len, path, &set, &e) == GC_OK, "%s", e.msg);
    free(text);
    ck_assert_uint_eq(set, measured);
    saved_env profile = env_set("GEMCL_PROFILE", path);
    gc_runtime *rt = test_runtime();
    gc_ops *ops;
    ck_assert_msg(gc_ops_create(rt, &ops, &e) == GC_OK, "%s", e.msg);
    ck_assert_str_eq(gc_ops_get_profile(ops)->file, path);
    expect_matmul_right(ops, 1);  /* GEMV */
    expect_matmul_right(ops, 37); /* GEMM */
    gc_ops_free(ops);
    ck_assert_int_eq(rt->bytes_current, 0);
    gc_runtime_free(rt);
    env_restore(&profile);
    remove_tree(dir);
}
END_TEST

START_TEST(tuning_one_group_keeps_the_other_keys_of_the_file) {
    char dir[64], path[128], err[1024];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/p.json", dir);
    write_text(path, "{\"gemm_tm\": 2, \"norm_local\": 4, \"gemv_local\": 256}");
    gemcl_tune_params p = gemcl_tune_default_params();
    p.grid = GEMCL_TUNE_GRID_SMOKE;
    p.output_path = path;
    p.groups = "gemv";
    gemcl_tune_result r;
    ck_assert_msg(gemcl_device_tune(&p, &r, err, sizeof err) == GEMCL_OK, "%s", err);
    ck_assert_int_eq(r.n_groups, 1);
    ck_assert_str_eq(r.groups[0].name, "gemv");
    gc_ops_profile q = builtin("cpu");
    gc_error e;
    uint32_t set = 0;
    char *text;
    size_t len;
    ck_assert_int_eq(gc_file_read(path, &text, &len, NULL), GC_OK);
    ck_assert_msg(gc_ops_profile_apply(&q, text, len, path, &set, &e) == GC_OK, "%s", e.msg);
    ck_assert_msg(strstr(text, "2 other keys kept"), "%s", text);
    free(text);
    ck_assert_uint_eq(set, (1u << GC_PROFILE_GEMM_TM) | (1u << GC_PROFILE_NORM_LOCAL) | (1u << GC_PROFILE_GEMV_LOCAL) |
                               (1u << GC_PROFILE_GEMV_ROWS));
    ck_assert_int_eq(q.gemm_tm, 2);
    ck_assert_int_eq(q.norm_local, 4);
    ck_assert_int_ne(q.gemv_local, 256); /* measured anew: the search starts from the built-in values */
    remove_tree(dir);
}
END_TEST

START_TEST(tune_refuses_bad_params_and_stops_when_asked) {
    char dir[64], path[128], err[1024];
    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/p.json", dir);
    gemcl_tune_params p = gemcl_tune_default_params();
    p.grid = GEMCL_TUNE_GRID_SMOKE;
    p.groups = "gemm,gemx";
    ck_assert_int_eq(gemcl_device_tune(&p, NULL, err, sizeof err), GEMCL_ERR_INVALID_ARG);
    ck_assert_msg(strstr(err, "unknown group 'gemx'"), "%s", err);
    p.groups = NULL;
    p.repetitions = -1;
    ck_assert_int_eq(gemcl_device_tune(&p, NULL, err, sizeof err), GEMCL_ERR_INVALID_ARG);
    p.repetitions = 0;
    saved_env cache = env_set("GEMCL_CACHE_DIR", "off"); /* no tuned-profile path without a cache */
    ck_assert_int_eq(gemcl_device_tune(&p, NULL, err, sizeof err), GEMCL_ERR_INVALID_ARG);
    ck_assert_msg(strstr(err, "output path"), "%s", err);
    env_restore(&cache);
    candidates_seen seen = {.stop_after = 1};
    p.output_path = path;
    p.groups = "gemv";
    p.on_candidate = count_candidate;
    p.on_candidate_user = &seen;
    ck_assert_int_eq(gemcl_device_tune(&p, NULL, err, sizeof err), GEMCL_ABORTED);
    ck_assert_int_eq(seen.n, 1);
    ck_assert_int_ne(access(path, F_OK), 0); /* nothing written */
    remove_tree(dir);
}
END_TEST

Suite *suite_tune(void) {
    Suite *s = suite_create("tune");
    TCase *tc = tcase_create("profiles");
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, builtin_profiles_load_with_every_key);
    tcase_add_test(tc, profile_file_overrides_only_the_keys_it_names);
    tcase_add_test(tc, gemcl_profile_wins_over_the_tuned_file_and_a_cache_off_skips_it);
    tcase_add_test(tc, every_kind_of_bad_profile_is_refused_naming_file_and_key);
    tcase_add_test(tc, model_load_and_the_cli_report_a_bad_tuned_profile);
    tcase_add_test(tc, profile_writer_writes_only_the_given_keys_atomically);
    suite_add_tcase(s, tc);
    TCase *tt = tcase_create("tuner");
    tcase_set_timeout(tt, TEST_TIMEOUT_S);
    tcase_add_test(tt, smoke_tune_writes_a_profile_that_loads_and_computes_right);
    tcase_add_test(tt, tuning_one_group_keeps_the_other_keys_of_the_file);
    tcase_add_test(tt, tune_refuses_bad_params_and_stops_when_asked);
    suite_add_tcase(s, tt);
    return s;
}
