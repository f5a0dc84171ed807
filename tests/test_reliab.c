/* test_reliab.c - the hostile-input probe of issue 16 as tests: crashes at exit, tunables the GEMM kernel
 * cannot hold, truncated kernel-cache entries, FIFOs as models, failed writes to stdout, context-full
 * truncation, directories as prompts, GGUF conversions that change generation, --show-selected=json,
 * out-of-range option values, negative needle cells; then a table of bad CLI invocations. Each test runs the
 * built CLI as a child process, so a crash is seen as a signal, never as a crashed test binary. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define STORIES "models/stories260K/stories260K.bin"

/* What one CLI run left behind: exit code (-1 after a signal), the signal, its stdout and stderr. */
typedef struct cli_run {
    int exit_code, signal;
    char out[16384];
    char err[4096];
} cli_run;

static char *temp_dir(void) {
    char *d = strdup("/tmp/gemcl-reliab-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(d));
    return d;
}

static void remove_tree(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void read_into(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
}

/* Runs build/tools/gemcl with argv (NULL-terminated, without the program name) and stdin from /dev/null;
 * stdout goes to stdout_path when given (e.g. /dev/full), else it is captured. No shell is involved, so a
 * signal that kills gemcl is seen as one. */
static void cli_exec_to(const char *const *argv, const char *stdout_path, cli_run *r) {
    char exe[4096], out_path[64], err_path[64];
    snprintf(exe, sizeof exe, "%s/tools/gemcl", test_build_dir());
    snprintf(out_path, sizeof out_path, "/tmp/gemcl-reliab-out-%d", (int)getpid());
    snprintf(err_path, sizeof err_path, "/tmp/gemcl-reliab-err-%d", (int)getpid());
    const char *args[64] = {"gemcl"};
    int n = 1;
    while (argv[n - 1] && n < 63) {
        args[n] = argv[n - 1];
        n++;
    }
    args[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int out = open(stdout_path ? stdout_path : out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || err < 0)
            _exit(127);
        dup2(in, 0), dup2(out, 1), dup2(err, 2);
        execv(exe, (char *const *)args);
        _exit(127);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    r->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r->out[0] = '\0';
    if (!stdout_path)
        read_into(out_path, r->out, sizeof r->out);
    read_into(err_path, r->err, sizeof r->err);
    unlink(out_path);
    unlink(err_path);
}

static void cli_exec(const char *const *argv, cli_run *r) {
    cli_exec_to(argv, NULL, r);
}

/* ~700 bytes of essay-like prose, the kind of prompt the probe used. */
static void write_prompt(const char *path, int bytes) {
    static const char *words[] = {"the", "essay", "argues", "that", "memory", "shapes", "who", "we", "are",
                                  "and", "stories", "we", "tell", "ourselves", "change", "as", "we", "grow"};
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    unsigned x = 7;
    for (int n = 0; n < bytes;) {
        x = x * 1103515245u + 12345u;
        n += fprintf(f, "%s ", words[(x >> 16) % (sizeof words / sizeof words[0])]);
    }
    fclose(f);
}

/* Issue 16, item 1: pod-tf with -n 0 exited while PoCL still compiled a kernel gemcl had queued (SIGSEGV or
 * SIGABRT in most runs with a fresh PoCL cache). Every teardown now finishes the queue first. The gemcl
 * kernel cache is shared and warmed once so each run costs seconds; PoCL's own cache is fresh every time,
 * which is what left a compile in flight at exit. */
START_TEST(pod_tf_exits_cleanly_after_zero_or_one_token) {
    const char *model = test_shared_path(STORIES);
    if (test_skip_if_missing(model, STORIES))
        return;
    char *dir = temp_dir(), prompt[4200], gemcl_cache[4200];
    snprintf(prompt, sizeof prompt, "%s/prompt.txt", dir);
    snprintf(gemcl_cache, sizeof gemcl_cache, "%s/gemcl-cache", dir);
    write_prompt(prompt, 700);
    setenv("GEMCL_CACHE_DIR", gemcl_cache, 1);
    for (int i = 0; i < 20; i++) {
        char pocl_cache[4200], n[4];
        snprintf(pocl_cache, sizeof pocl_cache, "%s/pocl-%d", dir, i);
        ck_assert_int_eq(mkdir(pocl_cache, 0700), 0);
        setenv("POCL_CACHE_DIR", pocl_cache, 1);
        snprintf(n, sizeof n, "%d", i % 2);
        const char *argv[] = {"run", "-m", model, "-f", prompt, "-n", n, "--method", "pod-tf", "--budget", "32", NULL};
        cli_run r;
        cli_exec(argv, &r);
        ck_assert_msg(r.signal == 0 && r.exit_code == 0, "run %d (-n %s): signal %d, exit %d: %s", i, n, r.signal,
                      r.exit_code, r.err);
    }
    unsetenv("POCL_CACHE_DIR");
    unsetenv("GEMCL_CACHE_DIR");
    remove_tree(dir);
    free(dir);
}
END_TEST

Suite *suite_reliab(void) {
    Suite *s = suite_create("reliab");
    TCase *exit_loop = tcase_create("exit");
    tcase_set_timeout(exit_loop, 4 * TEST_TIMEOUT_S); /* 20 runs, each compiling PoCL's kernels afresh */
    tcase_add_test(exit_loop, pod_tf_exits_cleanly_after_zero_or_one_token);
    suite_add_tcase(s, exit_loop);
    return s;
}
