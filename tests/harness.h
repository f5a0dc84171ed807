/* harness.h - shared helpers for gemcl's Check suites.
 *
 * Every suite file defines `Suite *suite_<name>(void)` and is listed in tests/suites.h. One binary,
 * gemcl-tests, runs them all (its output ends with Check's summary); CK_RUN_SUITE=<name> runs one, which is
 * how `meson test` runs each suite as its own test. Tests needing ../shared skip with a reason when absent. */
#ifndef GEMCL_TEST_HARNESS_H
#define GEMCL_TEST_HARNESS_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>

#include "gemcl.h"
#include "engine/engine.h"
#include "runtime/runtime.h"

/* Per-case timeout, long enough for a cold kernel compile on PoCL. */
#define TEST_TIMEOUT_S 300

/* A runtime on the default (or $GEMCL_DEVICE) device, or the test fails with the error message. */
gc_runtime *test_runtime(void);

/* The same device with the fast paths that portable names left out ("all", "fp16", "subgroups", "int_dot", "x86"; as
 * gc_runtime_params.portable), so a kernel's portable twin can be compared with its fast path. */
gc_runtime *test_runtime_portable(const char *portable);

/* True, after printing "SKIP: what: ..." (counted as skipped), when rt does not compile fast_path (GC_FAST_*). */
bool test_skip_without_fast_path(const gc_runtime *rt, unsigned fast_path, const char *what);

/* Path of a file under the shared folder (../shared beside the checkout; $GEMCL_SHARED overrides), or NULL
 * if it does not exist. Returns a static buffer. */
const char *test_shared_path(const char *relative);

/* Notes on stderr that the current test skips (part of) its work, and why. The first note of a test is the
 * line "SKIP: why", which tools/run-suites.sh counts once per test as skipped (Check itself counts the test
 * as passed); later notes of the same test say "skip: why", so a test that skips several files is still one
 * skipped test. Check forks each test, so "the same test" is the same process. */
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Skips the current test (test_skip: "<relative> not found under ../shared") when path is NULL. Returns
 * true when the test must stop. */
bool test_skip_if_missing(const char *path, const char *relative);

/* The Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF that tools/fetch-model.sh caches (in $GEMCL_CACHE_DIR unless
 * "off", else ${XDG_CACHE_HOME:-$HOME/.cache}/gemcl, under models/), or NULL after a SKIP note naming the
 * fetch step when it is not there. Returns a static buffer. */
const char *test_qwen_gguf(void);

/* Fills x[0..n-1] with uniform values in [-1, 1) from a fixed-seed generator. */
void test_fill_random(float *x, size_t n, unsigned seed);

/* Normalised squared error sum((a-b)^2) / sum(b^2) (or the plain sum when b is all zero). */
double test_nmse(const float *a, const float *b, size_t n);

/* A model on the device for engine-level tests: its file, a runtime, the op registry, the device weights. */
typedef struct test_stack {
    gc_model_file *file;
    gc_runtime *rt;
    gc_ops *ops;
    gc_dmodel *dm;
} test_stack;

/* Opens the model at path with weights in dtype (GC_DTYPE_KEEP keeps the file's); fails the test on error. */
void test_stack_open(test_stack *s, const char *path, int dtype);

/* The same for a model under ../shared; false (after a SKIP note) when it is absent. */
bool test_stack_open_shared(test_stack *s, const char *relative, int dtype);

/* Frees everything and checks that every device byte came back (after the op registry, which owns the
 * decode-attention scratch). */
void test_stack_close(test_stack *s);

/* Through the public API: loads the model under ../shared (default params) and a default context on it into
 * *model and *ctx; false (after a SKIP note) when it is absent; fails the test on any error. */
bool test_api_open_shared(const char *relative, gemcl_model **model, gemcl_context **ctx);

/* Through the public API: the model under ../shared (default params), or NULL after a SKIP note when it is
 * absent; fails the test on any other error. */
gemcl_model *test_api_load_shared(const char *relative);

/* A context on model with n_ctx rows and n_ubatch prefill rows (0: the defaults); fails the test on error. */
gemcl_context *test_api_context(gemcl_model *model, int n_ctx, int n_ubatch);

/* Runs the built gemcl CLI with args (a shell-quoted string); its stdout (and stderr when with_stderr) into
 * out (cap bytes, NUL-terminated); returns the exit status, or -1 when it did not exit normally. */
int test_run_cli(const char *args, bool with_stderr, char *out, size_t cap);

/* The directory holding build outputs (for running the built CLI), from GEMCL_BUILD_DIR. */
const char *test_build_dir(void);

/* The whole file at path, NUL-terminated (the caller frees); the test fails when it cannot be read. */
char *test_read_text(const char *path);

/* How many times sub occurs in s (overlapping occurrences counted). */
int test_count_substr(const char *s, const char *sub);

#endif
