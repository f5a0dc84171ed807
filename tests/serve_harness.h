/* serve_harness.h - running `gemcl serve` (and nginx, curl, the Python client) from the serve suite.
 *
 * Everything talks to 127.0.0.1 only, and every wait is a bounded loop: a server that never becomes ready
 * fails the test after SERVE_WAIT_POLLS polls instead of hanging it. Child processes get PR_SET_PDEATHSIG,
 * so a failed test (whose process exits at once) takes its servers with it. */
#ifndef GEMCL_TEST_SERVE_HARNESS_H
#define GEMCL_TEST_SERVE_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SERVE_WAIT_POLLS 1200 /* of 100 ms */

typedef struct serve_proc {
    pid_t pid;
    int port;
    char dir[256]; /* a temporary folder of the test's own: logs, bodies, nginx's prefix */
    char log[320]; /* the server's stdout + stderr */
} serve_proc;

/* A fresh temporary folder under $TMPDIR or /tmp into dir (cap bytes); fails the test otherwise. */
void serve_tmpdir(char *dir, size_t cap);

/* Starts `gemcl serve -m <model> --port 0 <args...>` (args NULL-terminated) and waits until it says ready (or
 * only until it listens, when wait_ready is false). Fails the test if it exits first. */
void serve_start_model(serve_proc *p, const char *model, bool wait_ready, const char *const *args);

/* The same with the stories260K model in the chatml template (it has none of its own). */
void serve_start(serve_proc *p, bool wait_ready, const char *const *args);

/* Removes a temporary folder and everything in it. */
void serve_remove_dir(const char *dir);

/* Sends SIGTERM and waits (bounded) for the exit; returns the exit status, or -1 after SIGKILL. After a clean
 * exit (0) the server's folder is removed. */
int serve_stop(serve_proc *p);

/* Spawns argv with stdout and stderr into log_path; the child dies with the test. */
pid_t serve_spawn(const char *const *argv, const char *log_path);

/* One HTTP request with curl: method, url, body (NULL: none; written to a file, so any bytes), one extra
 * header line (may be NULL). The body that came back goes to out (cap bytes, NUL-terminated). Returns the
 * status code (0 when there was no answer). */
int serve_curl(const char *dir, const char *method, const char *url, const char *body, const char *header, char *out,
               size_t cap);

/* Runs tests/serve/client.py SCENARIO URL with the Python that has the openai package; its output goes to
 * stderr (the check lines); returns its exit status. */
int serve_client(const char *scenario, const char *url);

/* The value of an unlabelled sample in the server's /metrics, or -1. */
double serve_metric(const serve_proc *p, const char *name);

/* Whether the tools a test needs are here; when not, *why says what is missing (a static string). */
bool serve_have_curl(const char **why);
bool serve_have_python_client(const char **why);
bool serve_have_nginx(const char **why);
const char *serve_model_path(void);

/* A TCP port on 127.0.0.1 that was free a moment ago (for nginx, which cannot report the one it got). */
int serve_free_port(void);

#endif
