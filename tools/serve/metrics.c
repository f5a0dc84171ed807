/* metrics.c - the server's counters, rendered as Prometheus text (exposition format 0.0.4). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

/* Upper bounds of the time-to-first-token buckets, seconds: from a cached short prompt on a GPU to a long
 * prompt's full prefill on a CPU. */
static const double ttft_bounds[SERVE_TTFT_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                       1,     2.5,  5,     10,   30,  60,   120};

static const char *const route_names[SERVE_ROUTE_COUNT_] = {"/v1/chat/completions",
                                                            "/v1/completions",
                                                            "/v1/models",
                                                            "/health",
                                                            "/metrics",
                                                            "/tokenize",
                                                            "/detokenize",
                                                            "other"};

const char *serve_route_name(serve_route route) {
    return route >= 0 && route < SERVE_ROUTE_COUNT_ ? route_names[route] : "other";
}

void serve_metrics_init(serve_metrics *m) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
}

void serve_metrics_destroy(serve_metrics *m) {
    pthread_mutex_destroy(&m->mu);
}

void serve_metrics_count_request(serve_metrics *m, serve_route route, int status) {
    if (route < 0 || route >= SERVE_ROUTE_COUNT_)
        route = SERVE_ROUTE_OTHER;
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < SERVE_STATUS_KINDS; i++) {
        if (m->requests[route][i].status == 0)
            m->requests[route][i].status = status;
        if (m->requests[route][i].status == status) {
            m->requests[route][i].count++;
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
}

void serve_metrics_count_generation(serve_metrics *m, const gemcl_result *r) {
    pthread_mutex_lock(&m->mu);
    m->prompt_tokens += (uint64_t)r->n_prompt_tokens;
    m->kept_tokens += (uint64_t)r->n_kept_tokens;
    m->cached_tokens += (uint64_t)r->n_cached_tokens;
    m->generated_tokens += (uint64_t)r->n_generated;
    pthread_mutex_unlock(&m->mu);
}

void serve_metrics_count_cancel(serve_metrics *m) {
    pthread_mutex_lock(&m->mu);
    m->cancelled++;
    pthread_mutex_unlock(&m->mu);
}

void serve_metrics_observe_ttft(serve_metrics *m, double seconds) {
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < SERVE_TTFT_BUCKETS; i++)
        if (seconds <= ttft_bounds[i])
            m->ttft_counts[i]++;
    m->ttft_count++;
    m->ttft_sum_s += seconds;
    pthread_mutex_unlock(&m->mu);
}

/* A growing text buffer; a failed allocation leaves ok = 0 and the rest is dropped. */
typedef struct text_buf {
    char *s;
    size_t len, cap;
    int ok;
} text_buf;

static void put(text_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text_buf *b, const char *fmt, ...) {
    for (int tries = 0; b->ok && tries < 2; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->ok = 0;
        } else if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        } else {
            size_t cap = 2 * b->cap + (size_t)n;
            char *s = realloc(b->s, cap);
            b->ok = s != NULL;
            if (s)
                b->s = s, b->cap = cap;
        }
    }
}

static void counter(text_buf *b, const char *name, const char *help, uint64_t value) {
    put(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name, (unsigned long long)value);
}

static void gauge(text_buf *b, const char *name, const char *help, int value) {
    put(b, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name, help, name, name, value);
}

static void render_requests(text_buf *b, const serve_metrics *m) {
    put(b, "# HELP gemcl_requests_total HTTP requests answered, by route and status code.\n"
           "# TYPE gemcl_requests_total counter\n");
    for (int r = 0; r < SERVE_ROUTE_COUNT_; r++)
        for (int i = 0; i < SERVE_STATUS_KINDS && m->requests[r][i].status; i++)
            put(b, "gemcl_requests_total{route=\"%s\",status=\"%d\"} %llu\n", route_names[r], m->requests[r][i].status,
                (unsigned long long)m->requests[r][i].count);
}

static void render_ttft(text_buf *b, const serve_metrics *m) {
    put(b, "# HELP gemcl_time_to_first_token_seconds From a request's arrival to its first generated text.\n"
           "# TYPE gemcl_time_to_first_token_seconds histogram\n");
    for (int i = 0; i < SERVE_TTFT_BUCKETS; i++)
        put(b, "gemcl_time_to_first_token_seconds_bucket{le=\"%g\"} %llu\n", ttft_bounds[i],
            (unsigned long long)m->ttft_counts[i]);
    put(b, "gemcl_time_to_first_token_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)m->ttft_count);
    put(b, "gemcl_time_to_first_token_seconds_sum %.6f\n", m->ttft_sum_s);
    put(b, "gemcl_time_to_first_token_seconds_count %llu\n", (unsigned long long)m->ttft_count);
}

char *serve_metrics_render(serve_metrics *m, int slots_busy, int n_slots, int queue_len, int queue_cap) {
    text_buf b = {malloc(4096), 0, 4096, 1};
    b.ok = b.s != NULL;
    pthread_mutex_lock(&m->mu);
    render_requests(&b, m);
    counter(&b, "gemcl_prompt_tokens_total", "Prompt tokens of finished generations, as tokenized.", m->prompt_tokens);
    counter(&b, "gemcl_prompt_tokens_dropped_total",
            "Prompt tokens the compression method left out (prompt minus kept).", m->prompt_tokens - m->kept_tokens);
    counter(&b, "gemcl_prompt_tokens_cached_total", "Prompt tokens taken from a slot's cache, not prefilled.",
            m->cached_tokens);
    counter(&b, "gemcl_generated_tokens_total", "Tokens generated.", m->generated_tokens);
    counter(&b, "gemcl_requests_cancelled_total", "Generations stopped because the client went away.", m->cancelled);
    render_ttft(&b, m);
    pthread_mutex_unlock(&m->mu);
    gauge(&b, "gemcl_slots_busy", "Slots running a generation.", slots_busy);
    gauge(&b, "gemcl_slots_total", "Slots (-np).", n_slots);
    gauge(&b, "gemcl_queue_length", "Requests waiting for a slot.", queue_len);
    gauge(&b, "gemcl_queue_capacity", "Requests that may wait before the server answers 503.", queue_cap);
    if (!b.ok) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
