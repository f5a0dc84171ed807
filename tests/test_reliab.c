/* test_reliab.c - the hostile-input probe of issue 16 as tests: crashes at exit, tunables the GEMM kernel
 * cannot hold, truncated kernel-cache entries, FIFOs as models, failed writes to stdout, context-full
 * truncation, directories as prompts, GGUF conversions that change generation, --show-selected=json,
 * out-of-range option values, negative needle cells; then a table of bad CLI invocations. Each test runs the
 * built CLI as a child process, so a crash is seen as a signal, never as a crashed test binary. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gemcl.h"
#include "harness.h"
#include "ops/ops_internal.h"
#include "ops/profile.h"
#include "util/fileio.h"
#include "util/hash.h"

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

/* Seconds a CLI run may take before SIGALRM ends it (and the test sees a signal, not a hang). */
static unsigned cli_timeout_s = 240;
/* Working directory of the CLI runs (NULL = ours), so that a stray relative write lands where a test looks. */
static const char *cli_cwd;

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
        if (cli_cwd && chdir(cli_cwd) != 0)
            _exit(127);
        alarm(cli_timeout_s); /* survives execv */
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

static int count_lines(const char *text) {
    int n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    return n;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* The one-line error a bad input must give: a non-zero exit, no signal, exactly one stderr line holding
 * `names` (the flag, key or file). */
static void assert_one_line_error(const cli_run *r, const char *names, const char *what) {
    ck_assert_msg(r->signal == 0, "%s: killed by signal %d", what, r->signal);
    ck_assert_msg(r->exit_code > 0, "%s: exit %d, stderr: %s", what, r->exit_code, r->err);
    ck_assert_msg(count_lines(r->err) == 1, "%s: %d stderr lines: %s", what, count_lines(r->err), r->err);
    ck_assert_msg(strstr(r->err, names) != NULL, "%s: stderr does not name '%s': %s", what, names, r->err);
}

/* Issue 16, item 2: gemm_wn 64 x gemm_wm 64 passed the per-key range checks and crashed every prefill over 8
 * tokens (4096 work-items with 8 x 16 float accumulators each: 4.3 MiB of private memory per group). */
START_TEST(profile_gemm_group_too_big_is_refused_naming_the_key) {
    const char *model = test_shared_path(STORIES);
    if (test_skip_if_missing(model, STORIES))
        return;
    char *dir = temp_dir(), path[4200];
    snprintf(path, sizeof path, "%s/profile.json", dir);
    write_text(path, "{\"gemm_wn\": 64, \"gemm_wm\": 64}\n");
    setenv("GEMCL_PROFILE", path, 1);
    const char *argv[] = {"run", "-m", model, "-p", "Once upon a time there was a little girl named Lily who", "-n",
                          "2", NULL};
    cli_run r;
    cli_exec(argv, &r);
    unsetenv("GEMCL_PROFILE");
    assert_one_line_error(&r, "gemm_wn", "run with gemm_wn 64 x gemm_wm 64");
    ck_assert_ptr_nonnull(strstr(r.err, path));
    remove_tree(dir);
    free(dir);
}
END_TEST

/* Every limit of gc_ops_profile_check_device, on a made-up device: the built-in profile fits, each tunable
 * pushed past one limit is refused naming its key, and the op registry (what `gemcl tune` measures every
 * candidate through, so a refused value can never win and be written) refuses it too. */
START_TEST(profile_values_are_checked_against_the_device) {
    gc_ops_profile base;
    gc_error err;
    ck_assert_int_eq(gc_ops_profile_builtin("cpu", &base, &err), GC_OK);
    gc_device dev = {.max_work_group_size = 256, .max_work_item_sizes = {256, 64, 64}};
    snprintf(dev.info.name, sizeof dev.info.name, "small device");
    dev.info.local_mem_bytes = 32768;
    ck_assert_msg(gc_ops_profile_check_device(&base, &dev, "p.json", &err) == GC_OK, "%s", err.msg);
    struct {
        gc_profile_field field;
        int value;
        const char *key;
    } cases[] = {
        {GC_PROFILE_GEMM_WM, 256, "gemm_wm"},   /* 2 x 256 work-items > 256 */
        {GC_PROFILE_GEMM_KB, 512, "gemm_kb"},   /* 512 x 32 floats = 64 KiB > 32 KiB */
        {GC_PROFILE_GEMV_LOCAL, 512, "gemv_local"},
        {GC_PROFILE_NORM_LOCAL, 512, "norm_local"},
        {GC_PROFILE_REDUCE_LOCAL, 512, "reduce_local"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gc_ops_profile p = base;
        gc_ops_profile_set(&p, cases[i].field, cases[i].value);
        ck_assert_int_eq(gc_ops_profile_check_device(&p, &dev, "p.json", &err), GC_ERR_FORMAT);
        ck_assert_msg(strstr(err.msg, cases[i].key) && strstr(err.msg, "p.json"), "%s", err.msg);
    }
    /* the private accumulators: within every work-group limit, but 16 x 64 work-items x 32 x 16 floats, twice,
     * are 4 MiB */
    gc_device big = {.max_work_group_size = 4096, .max_work_item_sizes = {4096, 4096, 4096}};
    big.info.local_mem_bytes = 1 << 20;
    gc_ops_profile p = base;
    gc_ops_profile_set(&p, GC_PROFILE_GEMM_TM, 32);
    gc_ops_profile_set(&p, GC_PROFILE_GEMM_WN, 16);
    gc_ops_profile_set(&p, GC_PROFILE_GEMM_WM, 64);
    ck_assert_int_eq(gc_ops_profile_check_device(&p, &big, "p.json", &err), GC_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "gemm_tm"), "%s", err.msg);
    gc_ops_profile_set(&p, GC_PROFILE_GEMM_TM, 8);
    ck_assert_msg(gc_ops_profile_check_device(&p, &big, "p.json", &err) == GC_OK, "%s", err.msg);
    gc_runtime *rt = test_runtime();
    gc_ops *ops = NULL;
    gc_ops_profile huge = base;
    gc_ops_profile_set(&huge, GC_PROFILE_GEMM_WN, 64);
    gc_ops_profile_set(&huge, GC_PROFILE_GEMM_WM, 64);
    ck_assert_int_eq(gc_ops_create_with_profile(rt, &huge, &ops, &err), GC_ERR_FORMAT);
    ck_assert_ptr_null(ops);
    gc_runtime_free(rt);
}
END_TEST

static gc_runtime *runtime_with_cache(const char *dir) {
    gc_runtime_params p = gc_runtime_default_params();
    p.cache_dir = dir;
    gc_runtime *rt = NULL;
    gc_error err;
    ck_assert_msg(gc_runtime_create(&p, &rt, &err) == GC_OK, "%s", err.msg);
    return rt;
}

static void build_kernel(gc_runtime *rt) {
    static const char src[] = "__kernel void twice(__global float *x) { x[get_global_id(0)] *= 2.0f; }\n";
    cl_program prog;
    gc_error err;
    ck_assert_msg(gc_program_build(rt, "twice", src, strlen(src), "", &prog, &err) == GC_OK, "%s", err.msg);
    clReleaseProgram(prog);
}

/* Issue 16, item 3: a cache entry whose payload was cut in half, with the header's byte count and checksum
 * rewritten to match, made PoCL abort inside clBuildProgram. Now the payload's own declared lengths are
 * checked first: the entry is rejected, the program built from source and the entry rewritten whole. */
START_TEST(truncated_payload_with_valid_checksum_is_rebuilt) {
    char *dir = temp_dir(), path[4200] = "";
    gc_runtime *rt = runtime_with_cache(dir);
    build_kernel(rt);
    gc_runtime_free(rt);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "ls %s/*.clbin", dir);
    FILE *ls = popen(cmd, "r");
    ck_assert_ptr_nonnull(fgets(path, sizeof path, ls));
    pclose(ls);
    path[strcspn(path, "\n")] = '\0';
    char *data;
    size_t len;
    ck_assert_int_eq(gc_file_read(path, &data, &len, NULL), GC_OK);
    enum { HEADER = 32, BYTES_AT = 16, HASH_AT = 24 }; /* program.c's cache_header */
    uint64_t half = (len - HEADER) / 2, hash = gc_hash_bytes(GC_HASH_INIT, data + HEADER, half);
    memcpy(data + BYTES_AT, &half, 8);
    memcpy(data + HASH_AT, &hash, 8);
    ck_assert_int_eq(gc_file_write_atomic(path, data, HEADER + half, NULL), GC_OK);
    free(data);
    rt = runtime_with_cache(dir);
    build_kernel(rt);
    ck_assert_int_eq(rt->cache.rejected, 1);
    ck_assert_int_eq(rt->cache.writes, 1);
    gc_runtime_free(rt);
    rt = runtime_with_cache(dir);
    build_kernel(rt);
    ck_assert_int_eq(rt->cache.hits, 1); /* a whole binary is still accepted */
    gc_runtime_free(rt);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* Issue 16, item 4: a FIFO as the model path blocked forever in open(); now every model, tokenizer and
 * profile file must be a regular file, checked without blocking. */
START_TEST(fifo_as_model_or_tokenizer_is_refused_at_once) {
    const char *model = test_shared_path(STORIES);
    if (test_skip_if_missing(model, STORIES))
        return;
    char *dir = temp_dir(), fifo[4200];
    snprintf(fifo, sizeof fifo, "%s/model.bin", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    cli_timeout_s = 30;
    const char *as_model[] = {"run", "-m", fifo, "-p", "hi", NULL};
    const char *as_tokenizer[] = {"run", "-m", model, "--tokenizer", fifo, "-p", "hi", NULL};
    const char *inspect[] = {"inspect", fifo, NULL};
    const char *const *cases[] = {as_model, as_tokenizer, inspect};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cli_run r;
        cli_exec(cases[i], &r);
        assert_one_line_error(&r, fifo, cases[i][0]);
        ck_assert_ptr_nonnull(strstr(r.err, "not a regular file"));
    }
    cli_timeout_s = 240;
    remove_tree(dir);
    free(dir);
}
END_TEST

/* Issue 16, item 8: -f DIRECTORY ran as an empty prompt (fopen succeeds on a directory; only fread fails). */
START_TEST(directory_as_prompt_file_is_an_error) {
    const char *model = test_shared_path(STORIES);
    if (test_skip_if_missing(model, STORIES))
        return;
    char *dir = temp_dir();
    const char *argv[] = {"run", "-m", model, "-f", dir, "-n", "4", NULL};
    cli_run r;
    cli_exec(argv, &r);
    assert_one_line_error(&r, dir, "-f DIRECTORY");
    ck_assert_str_eq(r.out, "");
    remove_tree(dir);
    free(dir);
}
END_TEST

typedef struct id_list {
    int32_t ids[1024];
    int n;
} id_list;

static int collect_id(const char *piece, size_t len, int32_t id, void *user) {
    (void)piece, (void)len;
    id_list *l = user;
    if (l->n < 1024)
        l->ids[l->n++] = id;
    return 0;
}

/* Greedy ids of the model at path for the prompt, up to where it stops (EOS/EOT or a full context). */
static void greedy_ids(const char *path, const char *prompt, size_t len, id_list *out) {
    gemcl_model *model = NULL;
    gemcl_context *ctx = NULL;
    char err[4096];
    ck_assert_msg(gemcl_model_load(path, NULL, &model, err, sizeof err) == GEMCL_OK, "%s", err);
    ck_assert_msg(gemcl_context_create(model, NULL, &ctx, err, sizeof err) == GEMCL_OK, "%s", err);
    gemcl_generate_params g = gemcl_generate_default_params();
    g.max_tokens = 200;
    g.on_token = collect_id;
    g.on_token_user = out;
    out->n = 0;
    gemcl_result r;
    ck_assert_msg(gemcl_generate(ctx, prompt, len, &g, &r) == GEMCL_OK, "%s", gemcl_context_last_error(ctx));
    gemcl_result_free(&r);
    gemcl_context_free(ctx);
    gemcl_model_free(model);
}

/* Issue 16, item 9: on a 424-token prompt the .bin and HF copies of stories260K stopped (llama2.c ends
 * generation at BOS) while the GGUF conversion ran on: the GGUF carried no end-of-turn id, and the BOS rule
 * was tied to the llama2.c tokenizer kind. The llama2.c tokenizer now names BOS its end-of-turn token, and
 * the conversion writes it as tokenizer.ggml.eot_token_id. The three copies give the same greedy ids. */
START_TEST(bin_hf_and_gguf_copies_generate_the_same_ids) {
    const char *model = test_shared_path(STORIES);
    const char *essay = test_shared_path("data/paul-graham-essays/aord.txt");
    if (test_skip_if_missing(model, STORIES) || test_skip_if_missing(essay, "data/paul-graham-essays/aord.txt"))
        return;
    char *dir = temp_dir(), gguf[4200], hf[4200], *text;
    size_t len;
    snprintf(gguf, sizeof gguf, "%s/stories.gguf", dir);
    snprintf(hf, sizeof hf, "%s/stories-hf", dir);
    const char *to_gguf[] = {"convert", model, gguf, "--to", "gguf", NULL};
    const char *to_hf[] = {"convert", model, hf, "--to", "hf", NULL};
    cli_run r;
    cli_exec(to_gguf, &r);
    ck_assert_msg(r.exit_code == 0, "%s", r.err);
    cli_exec(to_hf, &r);
    ck_assert_msg(r.exit_code == 0, "%s", r.err);
    ck_assert_int_eq(gc_file_read(essay, &text, &len, NULL), GC_OK);
    len = len < 730 ? len : 730; /* 424 tokens with BOS: the model stops on its own before the context fills */
    static id_list from_bin, from_hf, from_gguf;
    greedy_ids(model, text, len, &from_bin);
    greedy_ids(hf, text, len, &from_hf);
    greedy_ids(gguf, text, len, &from_gguf);
    ck_assert_int_gt(from_bin.n, 0);
    ck_assert_int_lt(from_bin.n, 512 - 424); /* it stopped at BOS, not at the end of the context */
    ck_assert_int_eq(from_hf.n, from_bin.n);
    ck_assert_int_eq(from_gguf.n, from_bin.n);
    ck_assert_mem_eq(from_hf.ids, from_bin.ids, (size_t)from_bin.n * sizeof(int32_t));
    ck_assert_mem_eq(from_gguf.ids, from_bin.ids, (size_t)from_bin.n * sizeof(int32_t));
    free(text);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* Copies a NULL-terminated argv template, "MODEL" and "TOK" replaced by the stories260K model and tokenizer. */
static void fill_argv(const char *const *template, const char **out, int cap) {
    static char model[4096], tok[4096]; /* test_shared_path answers in one static buffer */
    snprintf(model, sizeof model, "%s", test_shared_path(STORIES));
    snprintf(tok, sizeof tok, "%s", test_shared_path("models/stories260K/tok512.bin"));
    int k = 0;
    for (; template[k] && k < cap - 1; k++)
        out[k] = strcmp(template[k], "MODEL") == 0 ? model : strcmp(template[k], "TOK") == 0 ? tok : template[k];
    out[k] = NULL;
}

/* Issue 16, item 11: negative values fell back to defaults (--heavy -4 turned compression off) and every seed
 * above 2^64 - 1, or -1, acted as 2^64 - 1. Each is now a usage error (exit 2) naming the flag; the largest
 * seed is still a seed. */
START_TEST(out_of_range_option_values_are_refused_naming_the_flag) {
    const char *model = test_shared_path(STORIES);
    if (test_skip_if_missing(model, STORIES))
        return;
    static const struct {
        const char *argv[12];
        const char *flag;
    } cases[] = {
        {{"run", "-m", "MODEL", "-p", "hi", "--method", "h2o-stream", "--budget", "8", "--heavy", "-4"}, "--heavy"},
        {{"run", "-m", "MODEL", "-p", "hi", "--seed", "-1"}, "--seed"},
        {{"run", "-m", "MODEL", "-p", "hi", "-s", "18446744073709551616"}, "-s"},
        {{"run", "-m", "MODEL", "-p", "hi", "--recent", "-1"}, "--recent"},
        {{"run", "-m", "MODEL", "-p", "hi", "--top-p", "0"}, "--top-p"},
        {{"run", "-m", "MODEL", "-p", "hi", "--temp", "-0.5"}, "--temp"},
        {{"run", "-m", "MODEL", "-p", "hi", "--tt", "2"}, "--tt"},
        {{"needle", "-m", "MODEL", "--budget", "-1"}, "--budget"},
        {{"needle", "-m", "MODEL", "--seed", "99999999999999999999"}, "--seed"},
        {{"calibrate", "-m", "MODEL", "--seed", "-1"}, "--seed"},
        {{"calibrate", "-m", "MODEL", "-c", "-5"}, "-c"},
        {{"gen-model", "--like", "stories260K", "--seed", "-1", "/tmp/never-written"}, "--seed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[13];
        fill_argv(cases[i].argv, argv, 13);
        cli_run r;
        cli_exec(argv, &r);
        assert_one_line_error(&r, cases[i].flag, cases[i].argv[0]);
        ck_assert_msg(r.exit_code == 2, "case %zu: exit %d (a usage error is 2)", i, r.exit_code);
    }
    const char *max_seed[] = {"run", "-m", "MODEL", "-p", "hi", "-n", "2", "-s", "18446744073709551615", NULL}, *argv[11];
    fill_argv(max_seed, argv, 11);
    cli_run r;
    cli_exec(argv, &r);
    ck_assert_msg(r.exit_code == 0, "%s", r.err);
}
END_TEST

/* Text that starts with '-' was taken for an unknown option by `gemcl tokenize`, with no way to pass it but a
 * file; after "--" every argument is positional, as in getopt: "-abc" and even "--ids" tokenize as text,
 * exactly as when read from a file. */
START_TEST(double_dash_ends_the_options) {
    if (test_skip_if_missing(test_shared_path(STORIES), STORIES))
        return;
    char *dir = temp_dir(), file[4200];
    static const char *const texts[] = {"-abc", "--ids"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(file, sizeof file, "%s/text.txt", dir);
        write_text(file, texts[i]);
        const char *by_arg[] = {"tokenize", "TOK", "--ids", "--", texts[i], NULL};
        const char *by_file[] = {"tokenize", "TOK", "--ids", "-f", file, NULL};
        const char *argv[8];
        cli_run a, f;
        fill_argv(by_arg, argv, 8);
        cli_exec(argv, &a);
        fill_argv(by_file, argv, 8);
        cli_exec(argv, &f);
        ck_assert_msg(a.exit_code == 0 && f.exit_code == 0, "'%s': exit %d / %d: %s%s", texts[i], a.exit_code,
                      f.exit_code, a.err, f.err);
        ck_assert_msg(a.out[0] != '\0' && strcmp(a.out, f.out) == 0, "'%s': '%s' vs '%s'", texts[i], a.out, f.out);
    }
    const char *unknown[] = {"tokenize", "TOK", "--ids", "-abc", NULL}, *argv[8];
    fill_argv(unknown, argv, 8);
    cli_run r;
    cli_exec(argv, &r);
    assert_one_line_error(&r, "-abc", "tokenize");
    ck_assert_int_eq(r.exit_code, 2);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* Issue 16, item 5: with stdout on /dev/full run, tokenize, inspect and bench exited 0. The CLI now flushes
 * and closes stdout after every command, and run stops generating at the first refused write. */
START_TEST(failed_writes_to_stdout_exit_non_zero) {
    if (test_skip_if_missing(test_shared_path(STORIES), STORIES))
        return;
    static const struct {
        const char *argv[14];
        bool one_line; /* bench reports progress on stderr before the error */
    } cases[] = {
        {{"run", "-m", "MODEL", "-p", "Once upon a time", "-n", "8"}, true},
        {{"run", "-m", "MODEL", "-p", "Once upon a time there was", "-n", "0", "--method", "gemfilter", "--budget", "4",
          "--show-selected"},
         false}, /* the timings come before the selection is printed */
        {{"inspect", "MODEL"}, true},
        {{"tokenize", "TOK", "Once upon a time"}, true},
        {{"bench", "-m", "MODEL", "-p", "8", "-n", "0", "-r", "1", "-w", "0", "--no-bandwidth"}, false},
        {{"--version"}, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[15];
        fill_argv(cases[i].argv, argv, 15);
        cli_run r;
        cli_exec_to(argv, "/dev/full", &r);
        ck_assert_msg(r.signal == 0 && r.exit_code > 0, "case %zu: signal %d exit %d", i, r.signal, r.exit_code);
        ck_assert_msg(strstr(r.err, "error writing to stdout"), "%s: %s", argv[0], r.err);
        if (cases[i].one_line)
            ck_assert_msg(count_lines(r.err) == 1, "%s: %s", argv[0], r.err);
    }
}
END_TEST

static bool file_exists(const char *dir, const char *name) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* Issue 16, item 12: needle --resume took a cell with a negative length as done and counted it in
 * summary.json. A cell whose key or sizes are out of range now stops the resume with one line naming the
 * file, line and field, and no report is written. */
START_TEST(needle_resume_refuses_cells_out_of_range) {
    if (test_skip_if_missing(test_shared_path(STORIES), STORIES))
        return;
    static const char *const bad_cells[] = {
        "{\"task\": \"needle\", \"method\": \"full\", \"length\": -5, \"depth\": 50, \"score\": 1}\n",
        "{\"task\": \"needle\", \"method\": \"full\", \"length\": 300, \"depth\": 150, \"score\": 1}\n",
        "{\"task\": \"needle\", \"method\": \"full\", \"length\": 300.5, \"depth\": 50, \"score\": 1}\n",
    };
    static const char *const fields[] = {"'length'", "'depth'", "'length'"};
    for (size_t i = 0; i < sizeof bad_cells / sizeof bad_cells[0]; i++) {
        char *dir = temp_dir(), results[4200];
        snprintf(results, sizeof results, "%s/results.jsonl", dir);
        write_text(results, bad_cells[i]);
        const char *template[] = {"needle", "-m", "MODEL", "--lengths", "300", "--depths", "50", "--method", "full",
                                  "-o", dir, "--resume", "-q", NULL};
        const char *argv[16];
        fill_argv(template, argv, 16);
        cli_run r;
        cli_exec(argv, &r);
        assert_one_line_error(&r, results, "needle --resume");
        ck_assert_msg(strstr(r.err, fields[i]), "%s", r.err);
        ck_assert(!file_exists(dir, "summary.json") && !file_exists(dir, "results.csv"));
        remove_tree(dir);
        free(dir);
    }
}
END_TEST

/* The last line of text (without its newline) parsed as JSON, or NULL. */
static cJSON *last_line_json(const char *text) {
    size_t n = strlen(text);
    while (n > 0 && text[n - 1] == '\n')
        n--;
    size_t start = n;
    while (start > 0 && text[start - 1] != '\n')
        start--;
    return cJSON_ParseWithLength(text + start, n - start);
}

/* Issue 16, item 10: --show-selected=json was glued to the generated text on stdout, and full, pod-tf or a
 * budget >= the prompt printed nothing. Now every method writes one JSON object with its name and all_kept,
 * as the last line of stdout or, with json:FILE, to FILE alone. */
START_TEST(show_selected_json_is_always_one_parseable_object) {
    if (test_skip_if_missing(test_shared_path(STORIES), STORIES))
        return;
    static const struct {
        const char *method, *budget, *name;
        bool all_kept;
        const char *where; /* the key holding positions, or NULL */
    } cases[] = {
        {"full", "0", "full", true, NULL},           {"pod-tf", "0", "pod-tf", true, NULL},
        {"gemfilter", "4", "gemfilter", false, "kept"}, {"gemfilter", "1000", "gemfilter", true, NULL},
        {"snapkv", "6", "snapkv", false, "layers"},
    };
    char *dir = temp_dir(), file[4200], *text;
    size_t len;
    snprintf(file, sizeof file, "%s/selected.json", dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int to_file = 0; to_file < 2; to_file++) {
            char flag[4300];
            snprintf(flag, sizeof flag, "--show-selected=json%s%s", to_file ? ":" : "", to_file ? file : "");
            const char *template[] = {"run", "-m", "MODEL", "-p", "Once upon a time there was a little girl named Lily",
                                      "-n", "3", "--method", cases[i].method, "--budget", cases[i].budget, flag, NULL};
            const char *argv[16];
            fill_argv(template, argv, 16);
            cli_run r;
            cli_exec(argv, &r);
            ck_assert_msg(r.exit_code == 0, "%s: %s", flag, r.err);
            ck_assert_msg(r.out[0] && r.out[0] != '{', "case %zu: the generated text comes first: %s", i, r.out);
            cJSON *j = NULL;
            if (to_file) {
                ck_assert_ptr_null(strchr(r.out, '{')); /* stdout holds the text alone */
                ck_assert_int_eq(gc_file_read(file, &text, &len, NULL), GC_OK);
                j = cJSON_Parse(text);
                free(text);
            } else {
                j = last_line_json(r.out);
            }
            ck_assert_msg(j != NULL, "case %zu (%s): not JSON: %s", i, flag, r.out);
            const cJSON *method = cJSON_GetObjectItem(j, "method"), *all = cJSON_GetObjectItem(j, "all_kept");
            ck_assert(cJSON_IsString(method) && strcmp(method->valuestring, cases[i].name) == 0);
            ck_assert(cJSON_IsBool(all) && cJSON_IsTrue(all) == cases[i].all_kept);
            ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(j, "n_prompt_tokens")));
            if (cases[i].where)
                ck_assert(cJSON_IsArray(cJSON_GetObjectItem(j, cases[i].where)));
            cJSON_Delete(j);
            unlink(file);
        }
    }
    remove_tree(dir);
    free(dir);
}
END_TEST

/* Issue 16, item 7: --truncate middle kept n_ctx - 1 prompt tokens, so -n 50 produced 2 tokens, silently;
 * and a run that filled the context stopped without a word. Truncation now leaves room for -n (up to half
 * the context), and a full context is reported. */
START_TEST(middle_truncation_leaves_room_for_the_answer) {
    gemcl_model *model;
    gemcl_context *ctx;
    if (!test_api_open_shared(STORIES, &model, &ctx))
        return;
    char prompt[8192] = "";
    while (strlen(prompt) < sizeof prompt - 64) /* ~1500 tokens: three times the 512-token context */
        strcat(prompt, "Once upon a time, there was a little girl named Lily who loved the park. ");
    gemcl_generate_params g = gemcl_generate_default_params();
    g.truncate_middle = 1;
    g.ignore_eos = 1; /* exactly max_tokens unless the context runs out */
    g.max_tokens = 50;
    gemcl_result r;
    ck_assert_msg(gemcl_generate(ctx, prompt, strlen(prompt), &g, &r) == GEMCL_OK, "%s", gemcl_context_last_error(ctx));
    ck_assert_int_eq(r.n_generated, 50);
    ck_assert_int_eq(r.n_prompt_tokens, 512 - 49);
    gemcl_result_free(&r);
    g.max_tokens = 1000; /* more than the context: half of it stays prompt */
    ck_assert_msg(gemcl_generate(ctx, prompt, strlen(prompt), &g, &r) == GEMCL_OK, "%s", gemcl_context_last_error(ctx));
    ck_assert_int_eq(r.n_prompt_tokens, 256);
    ck_assert_int_eq(r.n_generated, 512 - 256 + 1);
    gemcl_result_free(&r);
    gemcl_context_free(ctx);
    gemcl_model_free(model);
}
END_TEST

START_TEST(a_full_context_is_reported) {
    if (test_skip_if_missing(test_shared_path(STORIES), STORIES))
        return;
    /* stories260K continues this story for hundreds of tokens without ending it */
    const char *template[] = {"run", "-m", "MODEL", "-p", "Once upon a time", "-c", "64", "-n", "100", NULL};
    const char *argv[12];
    fill_argv(template, argv, 12);
    cli_run r;
    cli_exec(argv, &r);
    ck_assert_msg(r.exit_code == 0, "%s", r.err);
    ck_assert_msg(strstr(r.err, "context full: generation stopped after 60 of 100"), "%s", r.err);
}
END_TEST

/* ---- the fuzz-style table: bad invocations, one line each ------------------------------------------------ */

/* Fixtures a bad invocation may name. NOFILE and NODIR never exist; FIFO, EMPTY, GARBAGE and EMPTYDIR live in
 * a fixture directory; OUT (a path inside the watched directory) must never be created. */
typedef struct fuzz_paths {
    char fix[4096], watched[4096], fifo[4200], empty[4200], garbage[4200], emptydir[4200], out[4200];
} fuzz_paths;

static const char *fuzz_subst(const char *a, const fuzz_paths *f, const char *model, const char *tok) {
    static const char *const names[] = {"MODEL", "TOK", "FIFO", "EMPTY", "GARBAGE", "EMPTYDIR", "OUT", "NOFILE"};
    const char *values[] = {model, tok, f->fifo, f->empty, f->garbage, f->emptydir, f->out, "/nonexistent/gemcl/x.bin"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(a, names[i]) == 0)
            return values[i];
    return a;
}

static bool dir_is_empty(const char *dir) {
    char cmd[4200], line[64] = "";
    snprintf(cmd, sizeof cmd, "ls -A '%s' | head -1", dir);
    FILE *p = popen(cmd, "r");
    bool empty = p && !fgets(line, sizeof line, p);
    if (p)
        pclose(p);
    return empty;
}

typedef struct fuzz_case {
    const char *argv[12];
    const char *names; /* what the one stderr line must name (after substitution) */
} fuzz_case;

static const fuzz_case fuzz_cases[] = {
    /* run: flags and values */
    {{"run"}, "-m"},
    {{"run", "-m"}, "-m"},
    {{"run", "-m", "MODEL", "-n", "-1"}, "-n"},
    {{"run", "-m", "MODEL", "-n", "abc"}, "-n"},
    {{"run", "-m", "MODEL", "-n", "99999999999"}, "-n"},
    {{"run", "-m", "MODEL", "-c", "-5"}, "-c"},
    {{"run", "-m", "MODEL", "-ub", "0"}, "-ub"},
    {{"run", "-m", "MODEL", "-s", "-1"}, "-s"},
    {{"run", "-m", "MODEL", "--seed", "1e3"}, "--seed"},
    {{"run", "-m", "MODEL", "--seed", "18446744073709551616"}, "--seed"},
    {{"run", "-m", "MODEL", "--temp", "-1"}, "--temp"},
    {{"run", "-m", "MODEL", "--temp", "inf"}, "--temp"},
    {{"run", "-m", "MODEL", "--temp", ""}, "--temp"},
    {{"run", "-m", "MODEL", "--top-k", "-3"}, "--top-k"},
    {{"run", "-m", "MODEL", "--top-p", "1.5"}, "--top-p"},
    {{"run", "-m", "MODEL", "--top-p", "0"}, "--top-p"},
    {{"run", "-m", "MODEL", "--filter-layer", "-2"}, "--filter-layer"},
    {{"run", "-m", "MODEL", "--budget", "-1"}, "--budget"},
    {{"run", "-m", "MODEL", "--window", "x"}, "--window"},
    {{"run", "-m", "MODEL", "--heavy", "-4"}, "--heavy"},
    {{"run", "-m", "MODEL", "--recent", " 5"}, "--recent"},
    {{"run", "-m", "MODEL", "--block-size", "-1"}, "--block-size"},
    {{"run", "-m", "MODEL", "--sinks", "3x"}, "--sinks"},
    {{"run", "-m", "MODEL", "--tt", "5"}, "--tt"},
    {{"run", "-m", "MODEL", "--select-layers", "1,,x"}, "--select-layers"},
    {{"run", "-m", "MODEL", "--budgets", ","}, "--budgets"},
    {{"run", "-m", "MODEL", "--select-layers", "1,2", "--budgets", "5"}, "--select-layers"},
    {{"run", "-m", "MODEL", "--method", "nope"}, "nope"},
    {{"run", "-m", "MODEL", "--pooling", "sum"}, "--pooling"},
    {{"run", "-m", "MODEL", "--dtype", "q2"}, "--dtype"},
    {{"run", "-m", "MODEL", "--truncate", "start"}, "--truncate"},
    {{"run", "-m", "MODEL", "--frobnicate"}, "--frobnicate"},
    {{"run", "-m", "MODEL", "-p", "hi", "-f", "EMPTY"}, "-f"},
    {{"run", "-m", "MODEL", "-p", "hi", "--show-selected=json:"}, "--show-selected"},
    {{"run", "-m", "MODEL", "-p", "hi", "--show-selected=json:/nonexistent/gemcl/s.json"}, "/nonexistent/gemcl"},
    {{"run", "-m", "MODEL", "-p", "hi", "--profile", "/nonexistent/gemcl/t.json"}, "--profile"},
    {{"run", "-m", "MODEL", "-p", "hi", "--profile", "EMPTYDIR"}, "EMPTYDIR"},
    /* run: files */
    {{"run", "-m", "NOFILE", "-p", "hi"}, "NOFILE"},
    {{"run", "-m", "FIFO", "-p", "hi"}, "FIFO"},
    {{"run", "-m", "EMPTY", "-p", "hi"}, "EMPTY"},
    {{"run", "-m", "GARBAGE", "-p", "hi"}, "GARBAGE"},
    {{"run", "-m", "EMPTYDIR", "-p", "hi"}, "EMPTYDIR"},
    {{"run", "-m", "MODEL", "-f", "NOFILE"}, "NOFILE"},
    {{"run", "-m", "MODEL", "-f", "EMPTYDIR"}, "EMPTYDIR"},
    {{"run", "-m", "MODEL", "--tokenizer", "NOFILE", "-p", "hi"}, "NOFILE"},
    {{"run", "-m", "MODEL", "--tokenizer", "FIFO", "-p", "hi"}, "FIFO"},
    {{"run", "-m", "MODEL", "--tokenizer", "GARBAGE", "-p", "hi"}, "GARBAGE"},
    {{"run", "-m", "MODEL", "-p", "hi", "--device", "no-such-device-xyz"}, "no-such-device-xyz"},
    /* bench, needle, calibrate, tune */
    {{"bench"}, "-m"},
    {{"bench", "-m", "MODEL", "-p", "12x"}, "-p"},
    {{"bench", "-m", "MODEL", "-r", "0"}, "-r"},
    {{"bench", "-m", "MODEL", "-w", "-1"}, "-w"},
    {{"bench", "-m", "MODEL", "-o", "xml"}, "xml"},
    {{"bench", "-m", "MODEL", "--method", "nope"}, "nope"},
    {{"needle"}, "-m"},
    {{"needle", "-m", "MODEL", "-n", "0"}, "-n"},
    {{"needle", "-m", "MODEL", "--seed", "-1"}, "--seed"},
    {{"needle", "-m", "MODEL", "--task", "quiz"}, "--task"},
    {{"needle", "-m", "MODEL", "--min", "x"}, "--min"},
    {{"needle", "-m", "MODEL", "-c", "-1", "-o", "OUT"}, "-c"},
    {{"calibrate"}, "-m"},
    {{"calibrate", "-m", "MODEL", "--budget", "-1"}, "--budget"},
    {{"calibrate", "-m", "MODEL", "--task", "x"}, "--task"},
    {{"calibrate", "-m", "MODEL", "--seed", "x", "--write-card", "OUT"}, "--seed"},
    {{"tune", "-r", "0", "-o", "OUT"}, "-r"},
    {{"tune", "--dtype", "q2", "-o", "OUT"}, "q2"},
    {{"tune", "--bogus"}, "--bogus"},
    /* gen-model, convert, inspect, tokenize, the dispatcher */
    {{"gen-model", "--like", "stories260K", "--seed", "-1", "OUT"}, "--seed"},
    {{"gen-model", "--like", "no-such-card", "--seed", "1", "OUT"}, "no-such-card"},
    {{"gen-model", "--like", "stories260K", "--seed", "1", "--dtype", "q8_0", "OUT"}, "--dtype"},
    {{"convert", "MODEL", "OUT", "--to", "nope"}, "nope"},
    {{"convert", "NOFILE", "OUT", "--to", "gguf"}, "NOFILE"},
    {{"convert", "FIFO", "OUT", "--to", "gguf"}, "FIFO"},
    {{"convert", "GARBAGE", "OUT", "--to", "hf"}, "GARBAGE"},
    {{"inspect", "NOFILE"}, "NOFILE"},
    {{"inspect", "FIFO"}, "FIFO"},
    {{"inspect", "GARBAGE"}, "GARBAGE"},
    {{"inspect", "EMPTY"}, "EMPTY"},
    {{"tokenize", "NOFILE", "hi"}, "NOFILE"},
    {{"tokenize", "GARBAGE", "hi"}, "GARBAGE"},
    {{"no-such-command"}, "no-such-command"},
};

static void fuzz_fixtures(fuzz_paths *f) {
    char *fix = temp_dir(), *watched = temp_dir();
    snprintf(f->fix, sizeof f->fix, "%s", fix);
    snprintf(f->watched, sizeof f->watched, "%s", watched);
    free(fix), free(watched);
    snprintf(f->fifo, sizeof f->fifo, "%s/fifo.bin", f->fix);
    snprintf(f->empty, sizeof f->empty, "%s/empty.bin", f->fix);
    snprintf(f->garbage, sizeof f->garbage, "%s/garbage.gguf", f->fix);
    snprintf(f->emptydir, sizeof f->emptydir, "%s/emptydir", f->fix);
    snprintf(f->out, sizeof f->out, "%s/out", f->watched);
    ck_assert_int_eq(mkfifo(f->fifo, 0600), 0);
    write_text(f->empty, "");
    write_text(f->garbage, "GGUF\x03\x00\x00\x00 this is not a model, only its magic and some noise\n");
    ck_assert_int_eq(mkdir(f->emptydir, 0700), 0);
}

/* Issue 16, "must show": a table of bad invocations (flags, values, files) across every command. Each must exit
 * non-zero without a signal, print exactly one stderr line naming the flag or file, and write nothing: the
 * watched directory (the runs' working directory, and where OUT points) stays empty. */
START_TEST(bad_invocations_fail_with_one_line_and_write_nothing) {
    if (test_skip_if_missing(test_shared_path(STORIES), STORIES))
        return;
    static char model[4096], tok[4096];
    snprintf(model, sizeof model, "%s", test_shared_path(STORIES));
    snprintf(tok, sizeof tok, "%s", test_shared_path("models/stories260K/tok512.bin"));
    fuzz_paths f;
    fuzz_fixtures(&f);
    size_t n_cases = sizeof fuzz_cases / sizeof fuzz_cases[0];
    ck_assert_uint_ge(n_cases, 60);
    cli_cwd = f.watched;
    cli_timeout_s = 60;
    for (size_t i = 0; i < n_cases; i++) {
        const char *argv[13];
        int k = 0;
        for (; k < 12 && fuzz_cases[i].argv[k]; k++)
            argv[k] = fuzz_subst(fuzz_cases[i].argv[k], &f, model, tok);
        argv[k] = NULL;
        char what[160];
        snprintf(what, sizeof what, "case %zu (%s %s %s)", i, argv[0], k > 1 ? fuzz_cases[i].argv[k - 2] : "",
                 k > 0 ? fuzz_cases[i].argv[k - 1] : "");
        cli_run r;
        cli_exec(argv, &r);
        assert_one_line_error(&r, fuzz_subst(fuzz_cases[i].names, &f, model, tok), what);
        ck_assert_msg(dir_is_empty(f.watched), "%s wrote into %s", what, f.watched);
    }
    cli_cwd = NULL;
    cli_timeout_s = 240;
    remove_tree(f.fix);
    remove_tree(f.watched);
}
END_TEST

Suite *suite_reliab(void) {
    Suite *s = suite_create("reliab");
    TCase *exit_loop = tcase_create("exit");
    tcase_set_timeout(exit_loop, 4 * TEST_TIMEOUT_S); /* 20 runs, each compiling PoCL's kernels afresh */
    tcase_add_test(exit_loop, pod_tf_exits_cleanly_after_zero_or_one_token);
    suite_add_tcase(s, exit_loop);
    TCase *tc = tcase_create("reliab");
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, profile_gemm_group_too_big_is_refused_naming_the_key);
    tcase_add_test(tc, profile_values_are_checked_against_the_device);
    tcase_add_test(tc, truncated_payload_with_valid_checksum_is_rebuilt);
    tcase_add_test(tc, fifo_as_model_or_tokenizer_is_refused_at_once);
    tcase_add_test(tc, directory_as_prompt_file_is_an_error);
    tcase_add_test(tc, bin_hf_and_gguf_copies_generate_the_same_ids);
    tcase_add_test(tc, out_of_range_option_values_are_refused_naming_the_flag);
    tcase_add_test(tc, failed_writes_to_stdout_exit_non_zero);
    tcase_add_test(tc, double_dash_ends_the_options);
    tcase_add_test(tc, needle_resume_refuses_cells_out_of_range);
    tcase_add_test(tc, show_selected_json_is_always_one_parseable_object);
    tcase_add_test(tc, middle_truncation_leaves_room_for_the_answer);
    tcase_add_test(tc, a_full_context_is_reported);
    tcase_add_test(tc, bad_invocations_fail_with_one_line_and_write_nothing);
    suite_add_tcase(s, tc);
    return s;
}
