#define _POSIX_C_SOURCE 200809L
#include "gemcl.h"
#include "harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

gc_runtime *test_runtime(void) {
    return test_runtime_portable(NULL);
}

gc_runtime *test_runtime_portable(const char *portable) {
    gc_error err;
    gc_runtime *rt = NULL;
    gc_runtime_params p = gc_runtime_default_params();
    p.portable = portable;
    if (gc_runtime_create(&p, &rt, &err) != GC_OK)
        ck_abort_msg("runtime: %s", err.msg);
    return rt;
}

bool test_skip_without_fast_path(const gc_runtime *rt, unsigned fast_path, const char *what) {
    if (rt->fast_paths & fast_path)
        return false;
    test_skip("%s: device '%s' has no such fast path (or GEMCL_PORTABLE leaves it out)", what, rt->dev.info.name);
    return true;
}

const char *test_shared_path(const char *relative) {
    static char bufs[8][4096]; /* rotating, so a few results can be held at once */
    static int next;
    char *buf = bufs[next++ % 8];
    const char *root = getenv("GEMCL_SHARED");
    if (!root || !*root)
        root = GEMCL_SOURCE_DIR "/../shared";
    snprintf(buf, sizeof bufs[0], "%s/%s", root, relative);
    struct stat st;
    return stat(buf, &st) == 0 ? buf : NULL;
}

void test_skip(const char *fmt, ...) {
    static pid_t noted; /* the process (the test, under Check's fork) that printed its counted SKIP line */
    char why[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s\n", noted == getpid() ? "skip" : "SKIP", why);
    noted = getpid();
}

bool test_skip_if_missing(const char *path, const char *relative) {
    if (path)
        return false;
    test_skip("%s not found under ../shared", relative);
    return true;
}

/* The cache folder as tools/fetch-model.sh computes it. */
static void cache_dir(char *out, size_t cap) {
    const char *dir = getenv("GEMCL_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (dir && *dir && strcmp(dir, "off") != 0)
        snprintf(out, cap, "%s", dir);
    else if (xdg && *xdg)
        snprintf(out, cap, "%s/gemcl", xdg);
    else
        snprintf(out, cap, "%s/.cache/gemcl", home ? home : "");
}

const char *test_qwen_gguf(void) {
    static char path[4096];
    char dir[3072];
    cache_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", dir);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        return path;
    test_skip("%s not found (bash tools/fetch-model.sh qwen2.5-coder-0.5b fetches it)", path);
    return NULL;
}

gemcl_model *test_api_load_shared(const char *relative) {
    const char *path = test_shared_path(relative);
    if (test_skip_if_missing(path, relative))
        return NULL;
    gemcl_model *model;
    char err[4096];
    ck_assert_msg(gemcl_model_load(path, NULL, &model, err, sizeof err) == GEMCL_OK, "%s", err);
    return model;
}

gemcl_context *test_api_context(gemcl_model *model, int n_ctx, int n_ubatch) {
    gemcl_context *ctx;
    char err[4096];
    gemcl_context_params cp = gemcl_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_ubatch = n_ubatch;
    ck_assert_msg(gemcl_context_create(model, &cp, &ctx, err, sizeof err) == GEMCL_OK, "%s", err);
    return ctx;
}

bool test_api_open_shared(const char *relative, gemcl_model **model, gemcl_context **ctx) {
    if (!(*model = test_api_load_shared(relative)))
        return false;
    *ctx = test_api_context(*model, 0, 0);
    return true;
}

void test_fill_random(float *x, size_t n, unsigned seed) {
    unsigned long long s = 0x9E3779B97F4A7C15ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
}

double test_nmse(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    return den > 0 ? num / den : num;
}

const char *test_build_dir(void) {
    const char *d = getenv("GEMCL_BUILD_DIR");
    return d && *d ? d : GEMCL_BUILD_DIR;
}

void test_stack_open(test_stack *s, const char *path, int dtype) {
    memset(s, 0, sizeof *s);
    gc_error err;
    ck_assert_msg(gc_model_file_open(path, NULL, &s->file, &err) == GC_OK, "%s", err.msg);
    s->rt = test_runtime();
    ck_assert_int_eq(gc_ops_create(s->rt, &s->ops, &err), GC_OK);
    ck_assert_msg(gc_dmodel_upload(s->ops, s->file, dtype, &s->dm, &err) == GC_OK, "%s", err.msg);
}

bool test_stack_open_shared(test_stack *s, const char *relative, int dtype) {
    const char *path = test_shared_path(relative);
    if (test_skip_if_missing(path, relative))
        return false;
    test_stack_open(s, path, dtype);
    return true;
}

void test_stack_close(test_stack *s) {
    gc_dmodel_free(s->rt, s->dm);
    gc_ops_free(s->ops);
    ck_assert_uint_eq(s->rt->bytes_current, 0);
    gc_runtime_free(s->rt);
    gc_model_file_close(s->file);
}

int test_run_cli(const char *args, bool with_stderr, char *out, size_t cap) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s/tools/gemcl %s %s", test_build_dir(), args, with_stderr ? "2>&1" : "2>/dev/null");
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

char *test_read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

int test_count_substr(const char *s, const char *sub) {
    int n = 0;
    for (const char *p = strstr(s, sub); p; p = strstr(p + 1, sub))
        n++;
    return n;
}
