/* http.c - libmicrohttpd plumbing: the daemon, bodies and their limit, the API key, replies, SSE streams.
 *
 * libmicrohttpd runs a thread per connection, so a handler may block while its generation runs, and it can
 * watch its own socket to notice a client that went away (the connection's thread is the only reader). */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "serve.h"

#define MAX_CONNECTIONS 256 /* each is a thread; beyond this libmicrohttpd refuses the connection */
#define SSE_WAIT_MS 100     /* a stream's reader checks its client this often while the slot computes */

struct serve_peer {
    int fd; /* -1 when unknown: never reported gone */
};

int serve_peer_gone(const serve_peer *peer) {
    if (!peer || peer->fd < 0)
        return 0;
    struct pollfd p = {.fd = peer->fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0)
        return 0;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
        return 1;
    char c;
    return recv(peer->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0; /* readable with nothing to read: closed */
}

/* One request's state across libmicrohttpd's calls: its body so far. */
typedef struct conn_request {
    char *body;
    size_t len, cap;
    int too_large;
} conn_request;

/* ---- SSE: a response whose bytes come from a running job ---- */

typedef struct sse_stream {
    serve_server *srv;
    serve_job *job;
    serve_peer peer;
    char *buf; /* the formatted event being sent */
    size_t len, off;
    int phase; /* 0 opening chunk, 1 text, 2 closing chunks, 3 nothing left */
} sse_stream;

/* Formats the stream's next event into s->buf; returns 0, or -1 when the client went away. */
static int sse_next(sse_stream *s) {
    free(s->buf);
    s->buf = NULL;
    s->len = s->off = 0;
    while (s->len == 0 && s->phase < 3) {
        if (s->phase == 0 || s->phase == 2) {
            s->buf = serve_sse_event(s->srv, s->job, s->phase, NULL, 0, &s->len);
            s->phase++;
            continue;
        }
        size_t n;
        int done;
        char *text = serve_job_take_pending(s->job, &n, &done);
        if (text) {
            s->buf = serve_sse_event(s->srv, s->job, 1, text, n, &s->len);
            free(text);
        } else if (done) { /* no text comes after done, and what came before was taken with it */
            s->phase = 2;
        } else if (!serve_job_wait(s->job, SERVE_JOB_WAIT_NEWS, SSE_WAIT_MS) && serve_peer_gone(&s->peer)) {
            return -1;
        }
    }
    return 0;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    sse_stream *s = cls;
    if (s->off == s->len && sse_next(s) != 0) {
        atomic_store(&s->job->cancelled, 1);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (s->off == s->len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = s->len - s->off < max ? s->len - s->off : max;
    memcpy(buf, s->buf + s->off, n);
    s->off += n;
    return (ssize_t)n;
}

static void sse_free(void *cls) {
    sse_stream *s = cls;
    /* the response is gone: a client that left early must not keep the slot busy */
    atomic_store(&s->job->cancelled, 1);
    serve_job_release(s->job);
    free(s->buf);
    free(s);
}

static struct MHD_Response *sse_response(serve_server *srv, serve_job *job, int fd) {
    sse_stream *s = calloc(1, sizeof *s);
    struct MHD_Response *r =
        s ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_read, s, sse_free) : NULL;
    if (!r) {
        free(s);
        serve_job_release(job);
        return NULL;
    }
    *s = (sse_stream){.srv = srv, .job = job, .peer = {fd}};
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no"); /* nginx: pass events on as they come */
    return r;
}

/* ---- the access handler ---- */

/* 1 when the request carries the server's API key (always, when there is none). Compares every byte, so
 * the time taken does not tell how much of a guess was right. */
static int authorized(const serve_server *srv, struct MHD_Connection *conn) {
    const char *key = srv->cfg.api_key;
    if (!key[0])
        return 1;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0)
        return 0;
    h += 7;
    size_t n = strlen(key), m = strlen(h);
    unsigned diff = (unsigned)(n ^ m);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned)(key[i] ^ (i < m ? h[i] : 0));
    return diff == 0;
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, serve_server *srv, serve_reply *reply, int fd) {
    struct MHD_Response *r;
    if (reply->sse_job) {
        r = sse_response(srv, reply->sse_job, fd);
        reply->sse_job = NULL;
    } else {
        r = MHD_create_response_from_buffer(reply->body_len, reply->body, MHD_RESPMEM_MUST_FREE);
        if (r)
            reply->body = NULL;
        else
            free(reply->body);
        if (r && reply->content_type)
            MHD_add_response_header(r, "Content-Type", reply->content_type);
    }
    if (!r)
        return MHD_NO;
    if (reply->retry_after_s > 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", reply->retry_after_s);
        MHD_add_response_header(r, "Retry-After", v);
    }
    if (reply->status == 401)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)reply->status, r);
    MHD_destroy_response(r);
    return ok;
}

static int append_body(conn_request *req, const char *data, size_t n, size_t limit) {
    if (req->too_large || req->len + n > limit) {
        req->too_large = 1; /* the rest is read and dropped, then answered with 413 */
        return 0;
    }
    if (req->len + n + 1 > req->cap) {
        size_t cap = 2 * req->cap + n + 1;
        char *b = realloc(req->body, cap);
        if (!b)
            return -1;
        req->body = b;
        req->cap = cap;
    }
    memcpy(req->body + req->len, data, n);
    req->len += n;
    req->body[req->len] = '\0';
    return 0;
}

static void log_request(const char *method, const char *url, int status, double ms) {
    fprintf(stderr, "serve: %s %s %d %.1f ms\n", method, url, status, ms);
}

/* Answers a complete request. */
static enum MHD_Result answer(serve_server *srv, struct MHD_Connection *conn, const char *url, const char *method,
                              conn_request *req) {
    double t0 = gemcl_time_us() / 1e3;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    serve_peer peer = {ci ? ci->connect_fd : -1};
    serve_reply reply = {0};
    serve_route route = SERVE_ROUTE_OTHER;
    serve_error err;
    if (strcmp(url, "/health") != 0 && !authorized(srv, conn)) {
        serve_fail(&err, 401, NULL, "a valid API key is required (Authorization: Bearer KEY)");
        err.code = "invalid_api_key";
        serve_reply_error(&reply, &err);
    } else if (req->too_large) {
        serve_fail(&err, 413, NULL, "the body is larger than the server's limit of %zu bytes", srv->cfg.max_body_bytes);
        serve_reply_error(&reply, &err);
    } else {
        serve_route_request(srv, method, url, req->body ? req->body : "", req->len, &peer, &reply, &route);
    }
    serve_metrics_count_request(&srv->metrics, route, reply.status);
    log_request(method, url, reply.status, (gemcl_time_us() / 1e3) - t0);
    if (reply.status == 499) /* the client went away: nobody to answer */
        return MHD_NO;
    return send_reply(conn, srv, &reply, peer.fd);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version;
    serve_server *srv = cls;
    conn_request *req = *con_cls;
    if (!req) { /* the first call: headers only */
        if (!(req = calloc(1, sizeof *req)))
            return MHD_NO;
        *con_cls = req;
        atomic_fetch_add(&srv->in_flight, 1);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > srv->cfg.max_body_bytes)
            req->too_large = 1; /* answered below as soon as the body is done, without keeping it */
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (append_body(req, upload_data, *upload_data_size, srv->cfg.max_body_bytes) != 0)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    return answer(srv, conn, url, method, req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)conn, (void)toe;
    serve_server *srv = cls;
    conn_request *req = *con_cls;
    if (!req)
        return;
    free(req->body);
    free(req);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->in_flight, 1);
}

/* ---- the daemon ---- */

static int resolve(const char *host, int port, struct sockaddr_storage *addr, char *err, size_t errlen) {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res = NULL;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "serve: cannot resolve --host '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

int serve_http_start(serve_server *srv, int *port, char *err, size_t errlen) {
    struct sockaddr_storage addr;
    if (resolve(srv->cfg.host, srv->cfg.port, &addr, err, errlen))
        return -1;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                     (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    srv->daemon = MHD_start_daemon(flags, (uint16_t)srv->cfg.port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR,
                                   (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_TIMEOUT,
                                   (unsigned)srv->cfg.timeout_s, MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
                                   MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_END);
    if (!srv->daemon) {
        snprintf(err, errlen, "serve: cannot listen on %s:%d (in use, or not an address of this machine)",
                 srv->cfg.host, srv->cfg.port);
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    *port = di ? di->port : srv->cfg.port;
    return 0;
}

void serve_http_quiesce(serve_server *srv) {
    if (srv->daemon) {
        MHD_socket listen_fd = MHD_quiesce_daemon(srv->daemon);
        if (listen_fd != MHD_INVALID_SOCKET)
            close(listen_fd); /* libmicrohttpd hands the listening socket back to be closed */
    }
}

void serve_http_stop(serve_server *srv) {
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
}
