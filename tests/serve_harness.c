/* serve_harness.c - starting and stopping `gemcl serve`, and talking to it with curl and the Python client. */
#include "serve_harness.h"

#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define STORIES "models/stories260K/stories260K.bin"

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

const char *serve_model_path(void) {
    return test_shared_path(STORIES);
}

void serve_tmpdir(char *dir, size_t cap) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, cap, "%s/gemcl-serve-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_msg(mkdtemp(dir) != NULL, "cannot create a temporary folder %s", dir);
    chmod(dir, 0755); /* nginx's workers (user nobody) keep their temporary files in here */
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void serve_remove_dir(const char *dir) {
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

pid_t serve_spawn(const char *const *argv, const char *log_path) {
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* The port in the server's "listening on http://HOST:PORT" line, or 0; and whether "ready" was said. */
static int read_log(const char *log, bool *ready) {
    char buf[8192] = "";
    FILE *f = fopen(log, "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    *ready = strstr(buf, "gemcl serve: ready") != NULL;
    const char *at = strstr(buf, "listening on http://127.0.0.1:");
    return at ? atoi(at + strlen("listening on http://127.0.0.1:")) : 0;
}

void serve_start_model(serve_proc *p, const char *model, bool wait_ready, const char *const *args) {
    memset(p, 0, sizeof *p);
    serve_tmpdir(p->dir, sizeof p->dir);
    snprintf(p->log, sizeof p->log, "%s/serve.log", p->dir);
    char exe[1024];
    snprintf(exe, sizeof exe, "%s/tools/gemcl", test_build_dir());
    const char *argv[48] = {exe, "serve", "-m", model, "--port", "0"};
    int n = 6;
    for (int i = 0; args && args[i] && n < 47; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    p->pid = serve_spawn(argv, p->log);
    bool ready = false;
    for (int i = 0; i < SERVE_WAIT_POLLS; i++) {
        p->port = read_log(p->log, &ready);
        if (p->port > 0 && (ready || !wait_ready))
            return;
        int status;
        ck_assert_msg(waitpid(p->pid, &status, WNOHANG) == 0, "gemcl serve exited before it was ready (log: %s)",
                      p->log);
        sleep_ms(100);
    }
    ck_abort_msg("gemcl serve did not become ready (log: %s)", p->log);
}

void serve_start(serve_proc *p, bool wait_ready, const char *const *args) {
    const char *argv[40] = {"--chat-template", "chatml"};
    int n = 2;
    for (int i = 0; args && args[i] && n < 39; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    serve_start_model(p, serve_model_path(), wait_ready, argv);
}

int serve_stop(serve_proc *p) {
    if (p->pid <= 0)
        return -1;
    kill(p->pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < SERVE_WAIT_POLLS; i++) {
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            p->pid = 0;
            int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            if (rc == 0) /* a failure keeps the log for the message that names it */
                serve_remove_dir(p->dir);
            return rc;
        }
        sleep_ms(100);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &status, 0);
    p->pid = 0;
    return -1;
}

static void write_file(const char *path, const char *text, size_t len) {
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    fclose(f);
}

static void read_file(const char *path, char *out, size_t cap) {
    out[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
}

int serve_curl(const char *dir, const char *method, const char *url, const char *body, const char *header, char *out,
               size_t cap) {
    char body_path[512], out_path[512], cmd[4096];
    snprintf(body_path, sizeof body_path, "%s/request.body", dir);
    snprintf(out_path, sizeof out_path, "%s/response.body", dir);
    if (body)
        write_file(body_path, body, strlen(body));
    unlink(out_path);
    /* the header and URL come from the tests' own tables: no quotes inside */
    snprintf(cmd, sizeof cmd,
             "curl -s --max-time 120 -o '%s' -w '%%{http_code}' -X %s -H 'Content-Type: application/json' %s%s%s "
             "%s%s%s '%s'",
             out_path, method, header ? "-H '" : "", header ? header : "", header ? "'" : "",
             body ? "--data-binary '@" : "", body ? body_path : "", body ? "'" : "", url);
    FILE *pipe = popen(cmd, "r");
    ck_assert_ptr_nonnull(pipe);
    char code[16] = "";
    size_t n = fread(code, 1, sizeof code - 1, pipe);
    code[n] = '\0';
    pclose(pipe);
    if (out)
        read_file(out_path, out, cap);
    return atoi(code);
}

double serve_metric(const serve_proc *p, const char *name) {
    static char text[1 << 16];
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", p->port);
    if (serve_curl(p->dir, "GET", url, NULL, NULL, text, sizeof text) != 200)
        return -1;
    size_t n = strlen(name);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, name, n) == 0 && line[n] == ' ')
            return atof(line + n + 1);
    return -1;
}

/* ---- what the tests need ---- */

static bool command_works(const char *cmd) {
    char full[2048];
    snprintf(full, sizeof full, "%s >/dev/null 2>&1", cmd);
    return system(full) == 0;
}

/* The Python to run client.py with: $GEMCL_TEST_PYTHON, else the venv tools/quickstart.sh makes, else
 * python3. Returns a static buffer. */
static const char *python(void) {
    static char path[1024];
    const char *env = getenv("GEMCL_TEST_PYTHON");
    snprintf(path, sizeof path, "%s/.cache/serve-venv/bin/python3", GEMCL_SOURCE_DIR);
    if (env && *env)
        snprintf(path, sizeof path, "%s", env);
    else if (access(path, X_OK) != 0)
        snprintf(path, sizeof path, "python3");
    return path;
}

bool serve_have_curl(const char **why) {
    *why = "curl is not installed (apt-get install curl)";
    return command_works("curl --version");
}

bool serve_have_python_client(const char **why) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s -c 'import openai, prometheus_client'", python());
    *why = "no Python with the openai and prometheus_client packages (bash tools/quickstart.sh test installs them "
           "into .cache/serve-venv; GEMCL_TEST_PYTHON names another)";
    return command_works(cmd);
}

bool serve_have_nginx(const char **why) {
    *why = "nginx is not installed (apt-get install nginx)";
    return command_works("/usr/sbin/nginx -v") || command_works("nginx -v");
}

int serve_client(const char *scenario, const char *url) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' '%s/tests/serve/client.py' %s %s 1>&2", python(), GEMCL_SOURCE_DIR, scenario, url);
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int serve_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = 0};
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}
