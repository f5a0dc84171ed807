/* test_runtime.c - device choice, the program-binary cache, build errors, buffer accounting, and a first
 * kernel against a plain C reference. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "harness.h"
#include "ops/ops.h"
#include "util/fileio.h"

static const char *probe_src = "__kernel void probe(__global float *x) { x[get_global_id(0)] *= 2.0f; }\n";

static char *make_temp_dir(void) {
    char *dir = strdup("/tmp/gemcl-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

static void remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[4096];
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                unlink(path);
            }
        closedir(d);
    }
    rmdir(dir);
}

/* The single cache file in dir (the tests use a fresh dir per case). */
static void only_cache_file(const char *dir, char *out, size_t len) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".clbin")) {
            snprintf(out, len, "%s/%s", dir, e->d_name);
            found++;
        }
    closedir(d);
    ck_assert_int_eq(found, 1);
}

static gc_runtime *runtime_with_cache(const char *cache_dir) {
    gc_runtime_params p = gc_runtime_default_params();
    p.cache_dir = cache_dir;
    gc_runtime *rt = NULL;
    gc_error err;
    ck_assert_msg(gc_runtime_create(&p, &rt, &err) == GC_OK, "%s", err.msg);
    return rt;
}

static void build_probe(gc_runtime *rt) {
    cl_program prog;
    gc_error err;
    ck_assert_msg(gc_program_build(rt, "probe", probe_src, strlen(probe_src), "-DPROBE=1", &prog, &err) == GC_OK, "%s",
                  err.msg);
    clReleaseProgram(prog);
}

/* GEMCL_PORTABLE / gc_runtime_params.portable turns fast paths off so each kernel's portable twin can be run on
 * a device that has the feature; the build options say which path programs compile. */
START_TEST(portable_turns_fast_paths_off_and_rejects_unknown_names) {
    gc_runtime_params p = gc_runtime_default_params();
    gc_runtime *rt = NULL;
    gc_error err;
    ck_assert_msg(gc_runtime_create(&p, &rt, &err) == GC_OK, "%s", err.msg);
    const gc_device_info *d = &rt->dev.info;
    unsigned have = (d->has_fp16 ? GC_FAST_FP16 : 0) | (d->has_subgroups ? GC_FAST_SUBGROUPS : 0) |
                    (d->has_int_dot ? GC_FAST_INT_DOT : 0) | (d->has_x86_simd ? GC_FAST_X86 : 0);
    if (!getenv("GEMCL_PORTABLE"))
        ck_assert_uint_eq(rt->fast_paths, have);
    gc_runtime_free(rt);

    p.portable = "all";
    ck_assert_msg(gc_runtime_create(&p, &rt, &err) == GC_OK, "%s", err.msg);
    ck_assert_uint_eq(rt->fast_paths, 0);
    ck_assert_ptr_nonnull(strstr(rt->build_options, "-DGC_HAS_FP16=0 -DGC_HAS_SUBGROUPS=0 -DGC_HAS_INT_DOT=0 -DGC_HAS_X86_SIMD=0"));
    gc_runtime_free(rt);

    p.portable = "int_dot,fp16";
    ck_assert_msg(gc_runtime_create(&p, &rt, &err) == GC_OK, "%s", err.msg);
    ck_assert_uint_eq(rt->fast_paths, have & (GC_FAST_SUBGROUPS | GC_FAST_X86));
    gc_runtime_free(rt);

    p.portable = "fp16,subgroup";
    rt = NULL;
    ck_assert_int_eq(gc_runtime_create(&p, &rt, &err), GC_ERR_INVALID_ARG);
    ck_assert_ptr_null(rt);
    ck_assert_ptr_nonnull(strstr(err.msg, "unknown fast path 'subgroup'"));
}
END_TEST

START_TEST(device_choice_by_index_and_name) {
    gc_device *devs = NULL;
    int n = 0, idx = -1;
    gc_error err;
    ck_assert_int_eq(gc_devices_enumerate(&devs, &n, &err), GC_OK);
    ck_assert_int_ge(n, 1);
    ck_assert_int_eq(gc_devices_choose(devs, n, "0", &idx, &err), GC_OK);
    ck_assert_int_eq(idx, 0);
    /* a case-swapped substring of the last device's name picks that device */
    char sub[8] = {0};
    const char *name = devs[n - 1].info.name;
    for (int i = 0; i < 4 && name[i]; i++)
        sub[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    idx = -1;
    ck_assert_int_eq(gc_devices_choose(devs, n, sub, &idx, &err), GC_OK);
    ck_assert_int_ge(idx, 0);
    ck_assert_ptr_nonnull(strstr(devs[idx].info.name, name[0] ? (char[]){name[0], 0} : ""));
    /* the default is the first GPU, else device 0 */
    int def = gc_devices_default(devs, n);
    for (int i = 0; i < def; i++)
        ck_assert_int_ne(devs[i].info.type, GC_DEVICE_TYPE_GPU);
    free(devs);
}
END_TEST

START_TEST(unknown_device_is_an_error_listing_devices) {
    gc_device *devs = NULL;
    int n = 0, idx = -1;
    gc_error err;
    ck_assert_int_eq(gc_devices_enumerate(&devs, &n, &err), GC_OK);
    ck_assert_int_eq(gc_devices_choose(devs, n, "no-such-device-xyz", &idx, &err), GC_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "no-such-device-xyz"));
    ck_assert_ptr_nonnull(strstr(err.msg, devs[0].info.name));
    ck_assert_int_eq(gc_devices_choose(devs, n, "9999", &idx, &err), GC_ERR_NOT_FOUND);
    const char *env = getenv("GEMCL_DEVICE"); /* put back after: with CK_FORK=no later tests read it */
    char outer[256] = "";
    snprintf(outer, sizeof outer, "%s", env ? env : "");
    setenv("GEMCL_DEVICE", "still-no-such-device", 1);
    ck_assert_int_eq(gc_devices_choose(devs, n, NULL, &idx, &err), GC_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "GEMCL_DEVICE"));
    if (*outer)
        setenv("GEMCL_DEVICE", outer, 1);
    else
        unsetenv("GEMCL_DEVICE");
    free(devs);
}
END_TEST

static bool has_nocase(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return true;
    return n == 0;
}

/* A runtime made with GEMCL_DEVICE naming a device runs on that device: every device by its index, every
 * platform's first device by the platform's name (how CI names Intel's CPU runtime, whose device has the
 * same CPU name as PoCL's). And when the environment names a device, the runtime that every suite gets is
 * one whose device or platform name has that text: the suites really ran where the log says. */
START_TEST(the_device_gemcl_device_names_is_the_one_the_runtime_uses) {
    gc_device *devs = NULL;
    int n = 0;
    gc_error err;
    ck_assert_int_eq(gc_devices_enumerate(&devs, &n, &err), GC_OK);
    const char *env = getenv("GEMCL_DEVICE");
    char outer[256] = "";
    snprintf(outer, sizeof outer, "%s", env ? env : "");
    for (int i = 0; i < n; i++) {
        char spec[16];
        snprintf(spec, sizeof spec, "%d", i);
        setenv("GEMCL_DEVICE", spec, 1);
        gc_runtime *rt = test_runtime();
        ck_assert_int_eq(rt->dev.info.index, i);
        ck_assert_str_eq(rt->dev.info.name, devs[i].info.name);
        ck_assert_str_eq(rt->dev.info.platform_name, devs[i].info.platform_name);
        gc_runtime_free(rt);
        const char *platform = devs[i].info.platform_name;
        bool first_of_platform = i == 0 || devs[i - 1].info.platform_index != devs[i].info.platform_index;
        bool in_a_device_name = false; /* then the name pass picks that device instead */
        for (int j = 0; j < n; j++)
            in_a_device_name |= has_nocase(devs[j].info.name, platform);
        if (!first_of_platform || in_a_device_name || !*platform)
            continue;
        setenv("GEMCL_DEVICE", platform, 1);
        rt = test_runtime();
        ck_assert_msg(rt->dev.info.index == i, "GEMCL_DEVICE '%s' ran on device %d (%s), not %d", platform,
                      rt->dev.info.index, rt->dev.info.name, i);
        gc_runtime_free(rt);
    }
    if (*outer) {
        setenv("GEMCL_DEVICE", outer, 1);
        gc_runtime *rt = test_runtime();
        char *end;
        long k = strtol(outer, &end, 10);
        if (end != outer && *end == '\0')
            ck_assert_int_eq(rt->dev.info.index, k);
        else
            ck_assert_msg(has_nocase(rt->dev.info.name, outer) || has_nocase(rt->dev.info.platform_name, outer),
                          "GEMCL_DEVICE '%s' ran on %s (%s)", outer, rt->dev.info.name, rt->dev.info.platform_name);
        fprintf(stderr, "runtime: GEMCL_DEVICE '%s' runs on device %d: %s (%s)\n", outer, rt->dev.info.index,
                rt->dev.info.name, rt->dev.info.platform_name);
        gc_runtime_free(rt);
    } else {
        unsetenv("GEMCL_DEVICE");
    }
    free(devs);
}
END_TEST

START_TEST(second_build_is_a_cache_hit) {
    char *dir = make_temp_dir();
    gc_runtime *rt = runtime_with_cache(dir);
    build_probe(rt);
    ck_assert_int_eq(rt->cache.misses, 1);
    ck_assert_int_eq(rt->cache.writes, 1);
    ck_assert_int_eq(rt->cache.hits, 0);
    gc_runtime_free(rt);
    rt = runtime_with_cache(dir); /* a new process-like start: only the disk remembers */
    build_probe(rt);
    ck_assert_int_eq(rt->cache.hits, 1);
    ck_assert_int_eq(rt->cache.misses, 0);
    gc_runtime_free(rt);
    remove_dir(dir);
    free(dir);
}
END_TEST

START_TEST(cache_off_builds_from_source) {
    gc_runtime *rt = runtime_with_cache("off");
    ck_assert(!rt->cache_enabled);
    build_probe(rt);
    build_probe(rt);
    ck_assert_int_eq(rt->cache.misses, 2);
    ck_assert_int_eq(rt->cache.hits + rt->cache.writes, 0);
    gc_runtime_free(rt);
}
END_TEST

/* Damages the cache file with `damage`, then checks the next build ignores it, builds, and rewrites it. */
static void check_damaged_cache_is_replaced(void (*damage)(const char *path)) {
    char *dir = make_temp_dir();
    gc_runtime *rt = runtime_with_cache(dir);
    build_probe(rt);
    gc_runtime_free(rt);
    char path[4096];
    only_cache_file(dir, path, sizeof path);
    damage(path);
    rt = runtime_with_cache(dir);
    build_probe(rt);
    ck_assert_int_eq(rt->cache.rejected, 1);
    ck_assert_int_eq(rt->cache.misses, 1);
    ck_assert_int_eq(rt->cache.writes, 1);
    gc_runtime_free(rt);
    rt = runtime_with_cache(dir);
    build_probe(rt);
    ck_assert_int_eq(rt->cache.hits, 1);
    gc_runtime_free(rt);
    remove_dir(dir);
    free(dir);
}

static void truncate_half(const char *path) {
    char *data;
    size_t len;
    ck_assert_int_eq(gc_file_read(path, &data, &len, NULL), GC_OK);
    ck_assert_int_eq(gc_file_write_atomic(path, data, len / 2, NULL), GC_OK);
    free(data);
}

static void flip_payload_byte(const char *path) {
    char *data;
    size_t len;
    ck_assert_int_eq(gc_file_read(path, &data, &len, NULL), GC_OK);
    data[len - 1] ^= 0x5a;
    ck_assert_int_eq(gc_file_write_atomic(path, data, len, NULL), GC_OK);
    free(data);
}

static void garbage(const char *path) {
    ck_assert_int_eq(gc_file_write_atomic(path, "garbage", 7, NULL), GC_OK);
}

START_TEST(truncated_cache_file_is_ignored_and_replaced) {
    check_damaged_cache_is_replaced(truncate_half);
}
END_TEST

START_TEST(corrupt_cache_file_is_ignored_and_replaced) {
    check_damaged_cache_is_replaced(flip_payload_byte);
    check_damaged_cache_is_replaced(garbage);
}
END_TEST

START_TEST(syntax_error_returns_build_log) {
    gc_runtime *rt = runtime_with_cache("off");
    const char *bad = "__kernel void broken(__global float *x) { x[0] = undeclared_thing_42; }\n";
    cl_program prog = NULL;
    gc_error err;
    ck_assert_int_eq(gc_program_build(rt, "broken.cl", bad, strlen(bad), NULL, &prog, &err), GC_ERR_BUILD);
    ck_assert_ptr_null(prog);
    ck_assert_ptr_nonnull(strstr(err.msg, "broken.cl"));
    ck_assert_msg(strstr(err.msg, "undeclared_thing_42") != NULL, "build log missing from: %s", err.msg);
    gc_runtime_free(rt);
}
END_TEST

START_TEST(allocation_above_max_is_refused) {
    gc_runtime *rt = test_runtime();
    gc_buffer b;
    gc_error err;
    size_t too_big = (size_t)rt->dev.info.max_alloc_bytes + 1;
    ck_assert_int_eq(gc_buffer_alloc(rt, too_big, "test tensor", &b, &err), GC_ERR_OUT_OF_MEMORY);
    ck_assert_ptr_nonnull(strstr(err.msg, "test tensor"));
    ck_assert_ptr_null(b.mem);
    ck_assert_uint_eq(rt->bytes_current, 0);
    ck_assert_int_eq(gc_buffer_alloc(rt, 0, "empty", &b, &err), GC_ERR_INVALID_ARG);
    gc_runtime_free(rt);
}
END_TEST

START_TEST(peak_accounting_is_exact) {
    gc_runtime *rt = test_runtime();
    gc_buffer a, b, c;
    gc_error err;
    ck_assert_int_eq(gc_buffer_alloc(rt, 1000, "a", &a, &err), GC_OK);
    ck_assert_int_eq(gc_buffer_alloc(rt, 3000, "b", &b, &err), GC_OK);
    ck_assert_uint_eq(rt->bytes_current, 4000);
    gc_buffer_free(rt, &a);
    ck_assert_int_eq(gc_buffer_alloc(rt, 500, "c", &c, &err), GC_OK);
    ck_assert_uint_eq(rt->bytes_current, 3500);
    ck_assert_uint_eq(rt->bytes_peak, 4000);
    gc_runtime_reset_peak(rt);
    ck_assert_uint_eq(rt->bytes_peak, 3500);
    gc_buffer_free(rt, &b);
    gc_buffer_free(rt, &c);
    gc_buffer_free(rt, &c); /* freeing twice is a no-op */
    ck_assert_uint_eq(rt->bytes_current, 0);
    ck_assert_uint_eq(rt->bytes_peak, 3500);
    gc_runtime_free(rt);
}
END_TEST

START_TEST(add_kernel_matches_reference_on_odd_sizes) {
    gc_runtime *rt = test_runtime();
    gc_ops *ops;
    gc_error err;
    ck_assert_int_eq(gc_ops_create(rt, &ops, &err), GC_OK);
    const size_t sizes[] = {1, 7, 63, 64, 65, 1000, 4097};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s], off = 3;
        float *a = malloc((n + off) * sizeof *a), *b = malloc(n * sizeof *b);
        float *got = malloc(n * sizeof *got), *want = malloc(n * sizeof *want);
        test_fill_random(a, n + off, 1);
        test_fill_random(b, n, 2);
        for (size_t i = 0; i < n; i++)
            want[i] = a[off + i] + b[i];
        gc_buffer da, db, dout;
        ck_assert_int_eq(gc_buffer_alloc(rt, (n + off) * 4, "a", &da, &err), GC_OK);
        ck_assert_int_eq(gc_buffer_alloc(rt, n * 4, "b", &db, &err), GC_OK);
        ck_assert_int_eq(gc_buffer_alloc(rt, n * 4, "out", &dout, &err), GC_OK);
        ck_assert_int_eq(gc_buffer_write(rt, &da, 0, a, (n + off) * 4, &err), GC_OK);
        ck_assert_int_eq(gc_buffer_write(rt, &db, 0, b, n * 4, &err), GC_OK);
        ck_assert_msg(gc_op_add_f32(ops, &da, off, &db, 0, &dout, 0, n, &err) == GC_OK, "%s", err.msg);
        ck_assert_int_eq(gc_buffer_read(rt, &dout, 0, got, n * 4, &err), GC_OK);
        double e = test_nmse(got, want, n);
        ck_assert_msg(e <= 1e-7, "n=%zu nmse=%g", n, e);
        gc_buffer_free(rt, &da);
        gc_buffer_free(rt, &db);
        gc_buffer_free(rt, &dout);
        free(a), free(b), free(got), free(want);
    }
    ck_assert_uint_eq(rt->bytes_current, 0);
    gc_ops_free(ops);
    gc_runtime_free(rt);
}
END_TEST

START_TEST(out_of_range_copy_is_refused) {
    gc_runtime *rt = test_runtime();
    gc_buffer b;
    gc_error err;
    float x[4] = {0};
    ck_assert_int_eq(gc_buffer_alloc(rt, 8, "small", &b, &err), GC_OK);
    ck_assert_int_eq(gc_buffer_write(rt, &b, 4, x, 8, &err), GC_ERR_INVALID_ARG);
    ck_assert_int_eq(gc_buffer_read(rt, &b, 0, x, 16, &err), GC_ERR_INVALID_ARG);
    gc_buffer_free(rt, &b);
    gc_runtime_free(rt);
}
END_TEST

Suite *suite_runtime(void) {
    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("runtime");
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, device_choice_by_index_and_name);
    tcase_add_test(tc, unknown_device_is_an_error_listing_devices);
    tcase_add_test(tc, the_device_gemcl_device_names_is_the_one_the_runtime_uses);
    tcase_add_test(tc, second_build_is_a_cache_hit);
    tcase_add_test(tc, cache_off_builds_from_source);
    tcase_add_test(tc, truncated_cache_file_is_ignored_and_replaced);
    tcase_add_test(tc, corrupt_cache_file_is_ignored_and_replaced);
    tcase_add_test(tc, syntax_error_returns_build_log);
    tcase_add_test(tc, allocation_above_max_is_refused);
    tcase_add_test(tc, peak_accounting_is_exact);
    tcase_add_test(tc, add_kernel_matches_reference_on_odd_sizes);
    tcase_add_test(tc, out_of_range_copy_is_refused);
    tcase_add_test(tc, portable_turns_fast_paths_off_and_rejects_unknown_names);
    suite_add_tcase(s, tc);
    return s;
}
