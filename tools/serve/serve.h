/* serve.h - `gemcl serve`: an OpenAI-compatible HTTP server on the public API (include/gemcl.h).
 *
 * One file per concern:
 *   http.c     libmicrohttpd plumbing: the daemon, request bodies and their size limit, the API key,
 *              JSON / error / SSE responses, noticing a client that went away
 *   routes.c   the endpoints (chat, completions, models, health, metrics, tokenize, detokenize)
 *   request.c  an OpenAI request body -> a validated job (every wrong field a 400 naming its param)
 *   job.c      one generation: its parameters, its streamed text, its result; shared by a handler and a slot
 *   slots.c    N slots (contexts of one model), each on its own thread, and the bounded queue before them
 *   metrics.c  counters and the time-to-first-token histogram, rendered as Prometheus text
 *
 * Threads: libmicrohttpd runs one thread per connection (a handler may block while its job runs); each slot
 * has a thread that owns its gemcl_context (one thread per context, as gemcl.h asks). The model's lock
 * serialises the device work of all slots, so N slots give N prompt caches and queueing, not N times the
 * throughput on one device. */
#ifndef GEMCL_SERVE_H
#define GEMCL_SERVE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "gemcl.h"

/* ---- configuration (cmd_serve.c fills it from the command line) ---- */

typedef struct serve_config {
    const char *model_path, *host, *alias, *chat_template, *device, *tokenizer;
    int port;
    int n_slots;   /* -np */
    int queue_cap; /* requests waiting for a slot before 503 */
    int n_ctx, n_ubatch;
    gemcl_weight_dtype dtype;
    gemcl_method_params method; /* the server's default method; a request's "gemcl" object overrides it */
    char api_key[256];          /* "" = no key */
    int timeout_s;              /* idle connection timeout, and how long SIGTERM waits for in-flight requests */
    size_t max_body_bytes;
} serve_config;

/* ---- metrics.c ---- */

typedef enum serve_route {
    SERVE_ROUTE_CHAT = 0,
    SERVE_ROUTE_COMPLETIONS,
    SERVE_ROUTE_MODELS,
    SERVE_ROUTE_HEALTH,
    SERVE_ROUTE_METRICS,
    SERVE_ROUTE_TOKENIZE,
    SERVE_ROUTE_DETOKENIZE,
    SERVE_ROUTE_OTHER,
    SERVE_ROUTE_COUNT_
} serve_route;

#define SERVE_TTFT_BUCKETS 14
#define SERVE_STATUS_KINDS 16 /* distinct HTTP status codes counted per route */

typedef struct serve_metrics {
    pthread_mutex_t mu;
    struct {
        int status;
        uint64_t count;
    } requests[SERVE_ROUTE_COUNT_][SERVE_STATUS_KINDS];
    uint64_t prompt_tokens, kept_tokens, cached_tokens, generated_tokens, cancelled;
    uint64_t ttft_counts[SERVE_TTFT_BUCKETS]; /* cumulative counts per upper bound, as Prometheus wants */
    uint64_t ttft_count;
    double ttft_sum_s;
} serve_metrics;

void serve_metrics_init(serve_metrics *m);
void serve_metrics_destroy(serve_metrics *m);
void serve_metrics_count_request(serve_metrics *m, serve_route route, int status);
void serve_metrics_count_generation(serve_metrics *m, const gemcl_result *r);
void serve_metrics_count_cancel(serve_metrics *m);
void serve_metrics_observe_ttft(serve_metrics *m, double seconds);
/* The Prometheus text exposition (format 0.0.4) of every counter plus the slot and queue gauges given;
 * malloc'ed, NULL when out of memory. */
char *serve_metrics_render(serve_metrics *m, int slots_busy, int n_slots, int queue_len, int queue_cap);
const char *serve_route_name(serve_route route);

/* ---- job.c ---- */

typedef enum serve_job_kind { SERVE_JOB_CHAT = 0, SERVE_JOB_COMPLETION = 1 } serve_job_kind;

/* One generation. The handler that made it and the slot that runs it each hold a reference; the last
 * serve_job_release frees it. The fields above `cancelled` are written before submission and then only
 * read; `cancelled` is atomic; the rest is guarded by `mu`. */
typedef struct serve_job {
    serve_job_kind kind;
    int stream, include_usage;
    char *prompt; /* the rendered prompt (chat template applied), prompt_len bytes */
    size_t prompt_len;
    char **stop; /* owned stop strings, g.stop points at them */
    gemcl_generate_params g;
    int cache_allowed;    /* the request did not ask for "cache_prompt": false */
    char id[48];          /* "chatcmpl-..." / "cmpl-..." */
    int64_t created;      /* unix seconds */
    double t_start_ms;    /* when the request arrived (monotonic), for time to first token */
    atomic_int cancelled; /* the client went away or the server stops: callbacks return non-zero */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    char *pending; /* streamed text not yet sent (SSE); pending_len bytes */
    size_t pending_len, pending_cap;
    int first_token; /* on_token has run at least once */
    int done;        /* result and status are final */
    gemcl_status status;
    char error[1024];
    gemcl_result result;
    double ttft_ms; /* -1 until the first token */
} serve_job;

/* A job with one reference (the caller's), or NULL when out of memory. */
serve_job *serve_job_create(serve_job_kind kind);
void serve_job_retain(serve_job *job);
void serve_job_release(serve_job *job);
/* Takes the streamed text gathered so far (malloc'ed, *len bytes; NULL when none) without waiting, and
 * whether the job was done at that moment (then no text follows). */
char *serve_job_take_pending(serve_job *job, size_t *len, int *done);
/* Waits up to wait_ms for the job to reach `what` (see below); returns 1 once it has. */
enum { SERVE_JOB_WAIT_FIRST = 0, SERVE_JOB_WAIT_DONE = 1, SERVE_JOB_WAIT_NEWS = 2 };
int serve_job_wait(serve_job *job, int what, int wait_ms);
/* Called by the slot: the generation's callbacks route text here (return non-zero once cancelled). */
int serve_job_on_token(const char *piece, size_t len, int32_t id, void *user);
int serve_job_on_progress(int64_t done, int64_t total, void *user);
/* Called by the slot when gemcl_generate returned: takes *result (zeroes it) and wakes the waiters. */
void serve_job_finish(serve_job *job, gemcl_status status, const char *error, gemcl_result *result);

/* ---- slots.c ---- */

typedef struct serve_slot serve_slot;

typedef struct serve_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    serve_slot *slots;
    int n_slots, n_started;
    serve_job **queue; /* FIFO ring of queue_cap entries */
    int q_head, q_len, q_cap;
    int busy;
    uint64_t n_assigned; /* jobs handed to slots so far: the slots' clock for least-recently-used */
    int stopping;
    serve_metrics *metrics;
} serve_pool;

/* Creates n contexts on model and a thread for each; err gets the message on failure. */
gemcl_status serve_pool_start(serve_pool *pool, gemcl_model *model, const serve_config *cfg, serve_metrics *metrics,
                              char *err, size_t errlen);
/* Hands a job to an idle slot (the one whose last prompt shares the longest prefix with it) or the queue.
 * Returns 0, or -1 when the queue is full (the job is untouched; answer 503). Takes a reference. */
int serve_pool_submit(serve_pool *pool, serve_job *job);
void serve_pool_gauges(serve_pool *pool, int *busy, int *queue_len);
/* Cancels queued jobs, lets running ones finish, joins the threads, frees the contexts. */
void serve_pool_stop(serve_pool *pool);

/* ---- request.c ---- */

/* What a bad request gets: HTTP status, OpenAI error type, the offending param (may be NULL), a message. */
typedef struct serve_error {
    int http_status;
    const char *type; /* "invalid_request_error", ... */
    const char *code; /* may be NULL */
    char param[64];
    char message[512];
} serve_error;

/* Fills *err and returns -1 (so a parser can `return serve_fail(...)`). */
int serve_fail(serve_error *err, int http_status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

typedef struct serve_server serve_server;

/* The body as a JSON object (the caller frees it with cJSON_Delete), or NULL with a 400 in *err that says
 * where the JSON broke or that it is no object. */
struct cJSON *serve_parse_object(const char *body, size_t len, serve_error *err);

/* Parses a chat (kind CHAT) or completion body into a new job (*out), or returns -1 with *err filled. */
int serve_request_parse(serve_server *srv, serve_job_kind kind, const char *body, size_t len, serve_job **out,
                        serve_error *err);

/* ---- the server (cmd_serve.c owns it; http.c and routes.c use it) ---- */

struct serve_server {
    serve_config cfg;
    gemcl_model *model; /* NULL while loading */
    gemcl_model_info info;
    char model_id[256];
    int64_t created;
    atomic_int ready;     /* the model and slots are up: /health answers 200 */
    atomic_int draining;  /* SIGTERM seen: new generation requests get 503 */
    atomic_int in_flight; /* requests between their first byte and their last */
    serve_pool pool;
    serve_metrics metrics;
    struct MHD_Daemon *daemon;
};

/* http.c: starts the daemon on cfg.host:cfg.port (0 = any free port) and writes the bound port to *port. */
int serve_http_start(serve_server *srv, int *port, char *err, size_t errlen);
/* Stops accepting connections (in-flight requests go on). */
void serve_http_quiesce(serve_server *srv);
void serve_http_stop(serve_server *srv);

/* A response being built by a route: status, a body and its content type. A route that streams sets sse_job
 * instead of body: the reply is then that job's SSE stream. */
typedef struct serve_reply {
    int status;
    char *body; /* malloc'ed */
    size_t body_len;
    const char *content_type;
    int retry_after_s;  /* > 0: a Retry-After header */
    serve_job *sse_job; /* a reference handed to the stream */
} serve_reply;

/* An opaque handle to "is the client still there?", for routes that wait. */
typedef struct serve_peer serve_peer;
int serve_peer_gone(const serve_peer *peer);

/* routes.c: answers one complete request. */
void serve_route_request(serve_server *srv, const char *method, const char *url, const char *body, size_t len,
                         const serve_peer *peer, serve_reply *reply, serve_route *route);
/* The error JSON of err as a reply. */
void serve_reply_error(serve_reply *reply, const serve_error *err);
/* Formats one SSE "data: {...}\n\n" event of the job's text (or its end) into a malloc'ed buffer; used by
 * http.c's stream reader. phase: 0 the opening chunk, 1 a text chunk, 2 the closing chunk(s) and [DONE]. */
char *serve_sse_event(serve_server *srv, serve_job *job, int phase, const char *text, size_t len, size_t *out_len);

#endif
