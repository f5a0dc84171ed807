/* routes.c - the endpoints. Each handler turns one complete request into a serve_reply; http.c sends it. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

/* How often a waiting handler checks that its client is still connected. */
#define PEER_POLL_MS 100
/* What a client that went away is counted as (nginx's "client closed request"). */
#define STATUS_CLIENT_GONE 499

static void reply_json(serve_reply *reply, int status, cJSON *json) {
    reply->status = status;
    reply->content_type = "application/json";
    reply->body = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!reply->body) { /* out of memory while printing: still a JSON answer */
        reply->status = 500;
        reply->body = strdup("{\"error\":{\"message\":\"out of host memory\",\"type\":\"server_error\"}}");
    }
    reply->body_len = reply->body ? strlen(reply->body) : 0;
}

static cJSON *error_json(const serve_error *err) {
    cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "message", err->message);
    cJSON_AddStringToObject(e, "type", err->type);
    if (err->param[0])
        cJSON_AddStringToObject(e, "param", err->param);
    else
        cJSON_AddNullToObject(e, "param");
    if (err->code)
        cJSON_AddStringToObject(e, "code", err->code);
    else
        cJSON_AddNullToObject(e, "code");
    return root;
}

void serve_reply_error(serve_reply *reply, const serve_error *err) {
    reply_json(reply, err->http_status, error_json(err));
}

/* ---- health, models, metrics ---- */

static void route_health(serve_server *srv, serve_reply *reply) {
    /* 503 while loading and while draining, so that a load balancer sends nothing new here */
    const char *state = atomic_load(&srv->draining) ? "draining" : atomic_load(&srv->ready) ? "ok" : "loading";
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "status", state);
    reply_json(reply, strcmp(state, "ok") == 0 ? 200 : 503, root);
}

static void route_models(serve_server *srv, serve_reply *reply) {
    cJSON *root = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(root, "data"), *m = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON_AddItemToArray(data, m);
    cJSON_AddStringToObject(m, "id", srv->model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)srv->created);
    cJSON_AddStringToObject(m, "owned_by", "gemcl");
    cJSON *meta = cJSON_AddObjectToObject(m, "meta");
    cJSON_AddStringToObject(meta, "arch", srv->info.arch);
    cJSON_AddNumberToObject(meta, "n_layers", srv->info.n_layers);
    cJSON_AddNumberToObject(meta, "n_ctx", srv->cfg.n_ctx > 0 ? srv->cfg.n_ctx : srv->info.ctx_train);
    cJSON_AddNumberToObject(meta, "vocab_size", srv->info.vocab_size);
    cJSON_AddNumberToObject(meta, "filter_layer", srv->info.filter_layer);
    cJSON_AddNumberToObject(meta, "budget", srv->info.budget);
    cJSON_AddStringToObject(meta, "method", gemcl_method_name(srv->cfg.method.method));
    const char *tmpl = srv->cfg.chat_template ? srv->cfg.chat_template : gemcl_model_chat_template(srv->model);
    if (tmpl)
        cJSON_AddStringToObject(meta, "chat_template", tmpl);
    else
        cJSON_AddNullToObject(meta, "chat_template");
    reply_json(reply, 200, root);
}

static void route_metrics(serve_server *srv, serve_reply *reply) {
    int busy = 0, queued = 0;
    if (atomic_load(&srv->ready))
        serve_pool_gauges(&srv->pool, &busy, &queued);
    reply->body = serve_metrics_render(&srv->metrics, busy, srv->cfg.n_slots, queued, srv->cfg.queue_cap);
    reply->status = reply->body ? 200 : 500;
    reply->body_len = reply->body ? strlen(reply->body) : 0;
    reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* ---- tokenize, detokenize (llama-server's shapes) ---- */

static int route_tokenize(serve_server *srv, const char *body, size_t len, serve_reply *reply, serve_error *err) {
    cJSON *root = serve_parse_object(body, len, err);
    if (!root)
        return -1;
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(root, "content");
    const cJSON *add = cJSON_GetObjectItemCaseSensitive(root, "add_special");
    const cJSON *special = cJSON_GetObjectItemCaseSensitive(root, "parse_special");
    int rc = !cJSON_IsString(content)    ? serve_fail(err, 400, "content", "'content' must be a string")
             : add && !cJSON_IsBool(add) ? serve_fail(err, 400, "add_special", "'add_special' must be a bool")
             : special && !cJSON_IsBool(special)
                 ? serve_fail(err, 400, "parse_special", "'parse_special' must be a bool")
                 : 0;
    int32_t *ids = NULL;
    int n = 0;
    char msg[512];
    if (rc == 0 &&
        gemcl_tokenize(srv->model, content->valuestring, strlen(content->valuestring), add ? cJSON_IsTrue(add) : 0,
                       cJSON_IsTrue(special), &ids, &n, msg, sizeof msg) != GEMCL_OK)
        rc = serve_fail(err, 400, "content", "%s", msg);
    cJSON_Delete(root);
    if (rc)
        return rc;
    cJSON *out = cJSON_CreateObject(), *tokens = cJSON_AddArrayToObject(out, "tokens");
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(tokens, cJSON_CreateNumber(ids[i]));
    gemcl_free(ids);
    reply_json(reply, 200, out);
    return 0;
}

static int route_detokenize(serve_server *srv, const char *body, size_t len, serve_reply *reply, serve_error *err) {
    cJSON *root = serve_parse_object(body, len, err);
    if (!root)
        return -1;
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(root, "tokens");
    int n = cJSON_IsArray(tokens) ? cJSON_GetArraySize(tokens) : -1;
    int32_t *ids = n > 0 ? malloc((size_t)n * sizeof *ids) : NULL;
    int rc = n < 0           ? serve_fail(err, 400, "tokens", "'tokens' must be an array of token ids")
             : n > 0 && !ids ? serve_fail(err, 500, NULL, "out of host memory")
                             : 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        const cJSON *t = cJSON_GetArrayItem(tokens, i);
        if (!cJSON_IsNumber(t) || t->valuedouble != (double)(int32_t)t->valuedouble || t->valuedouble < 0 ||
            t->valuedouble >= srv->info.vocab_size)
            rc =
                serve_fail(err, 400, "tokens", "'tokens[%d]' must be a token id in 0..%d", i, srv->info.vocab_size - 1);
        else
            ids[i] = (int32_t)t->valuedouble;
    }
    cJSON_Delete(root);
    char *text = NULL, msg[512];
    size_t tl = 0;
    if (rc == 0 && n > 0 && gemcl_detokenize(srv->model, ids, n, &text, &tl, msg, sizeof msg) != GEMCL_OK)
        rc = serve_fail(err, 400, "tokens", "%s", msg);
    free(ids);
    if (rc == 0) {
        cJSON *out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "content", text ? text : "");
        reply_json(reply, 200, out);
    }
    gemcl_free(text);
    return rc;
}

/* ---- generation replies ---- */

static const char *finish_reason(const serve_server *srv, const serve_job *job) {
    const gemcl_result *r = &job->result;
    int n_ctx = srv->cfg.n_ctx > 0 ? srv->cfg.n_ctx : srv->info.ctx_train;
    int full = r->n_kept_tokens + r->n_generated >= n_ctx;
    return r->n_generated >= job->g.max_tokens || full ? "length" : "stop";
}

static cJSON *usage_json(const serve_job *job) {
    const gemcl_result *r = &job->result;
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", r->n_prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", r->n_generated);
    cJSON_AddNumberToObject(u, "total_tokens", r->n_prompt_tokens + r->n_generated);
    cJSON_AddNumberToObject(u, "kept_prompt_tokens", r->n_kept_tokens);
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(u, "prompt_tokens_details"), "cached_tokens", r->n_cached_tokens);
    return u;
}

/* What the method did: gemcl's own section of a reply. */
static cJSON *gemcl_json(const serve_job *job) {
    const gemcl_result *r = &job->result;
    cJSON *g = cJSON_CreateObject();
    cJSON_AddStringToObject(g, "method", gemcl_method_name(job->g.method.method));
    cJSON_AddNumberToObject(g, "filter_layer", r->filter_layer);
    cJSON_AddNumberToObject(g, "kept_prompt_tokens", r->n_kept_tokens);
    cJSON_AddNumberToObject(g, "cached_tokens", r->n_cached_tokens);
    cJSON_AddNumberToObject(g, "filter_ms", r->filter_ms);
    cJSON_AddNumberToObject(g, "prefill_ms", r->prefill_ms);
    cJSON_AddNumberToObject(g, "decode_ms", r->decode_ms);
    cJSON_AddNumberToObject(g, "ttft_ms", job->ttft_ms);
    return g;
}

/* The common head of a completion or chunk object. */
static cJSON *reply_head(const serve_server *srv, const serve_job *job, const char *object, cJSON **choice) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", job->id);
    cJSON_AddStringToObject(root, "object", object);
    cJSON_AddNumberToObject(root, "created", (double)job->created);
    cJSON_AddStringToObject(root, "model", srv->model_id);
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    if (choice) {
        *choice = cJSON_CreateObject();
        cJSON_AddNumberToObject(*choice, "index", 0);
        cJSON_AddItemToArray(choices, *choice);
    }
    return root;
}

static void reply_completion(serve_server *srv, serve_job *job, serve_reply *reply) {
    int chat = job->kind == SERVE_JOB_CHAT;
    cJSON *choice, *root = reply_head(srv, job, chat ? "chat.completion" : "text_completion", &choice);
    const char *text = job->result.text ? job->result.text : "";
    if (chat) {
        cJSON *msg = cJSON_AddObjectToObject(choice, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddStringToObject(msg, "content", text);
    } else {
        cJSON_AddStringToObject(choice, "text", text);
        cJSON_AddNullToObject(choice, "logprobs");
    }
    cJSON_AddStringToObject(choice, "finish_reason", finish_reason(srv, job));
    cJSON_AddItemToObject(root, "usage", usage_json(job));
    cJSON_AddItemToObject(root, "gemcl", gemcl_json(job));
    reply_json(reply, 200, root);
}

/* Appends "data: <json>\n\n" to *buf (malloc'ed, *len bytes); deletes json. */
static void sse_append(char **buf, size_t *len, cJSON *json) {
    char *s = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    const char *payload = s ? s : "[DONE]";
    size_t n = strlen(payload);
    char *b = realloc(*buf, *len + n + 9);
    if (b) {
        memcpy(b + *len, "data: ", 6);
        memcpy(b + *len + 6, payload, n);
        memcpy(b + *len + 6 + n, "\n\n", 3);
        *buf = b;
        *len += n + 8;
    }
    free(s);
}

static cJSON *sse_chunk(serve_server *srv, serve_job *job, const char *text, const char *role, const char *finish) {
    int chat = job->kind == SERVE_JOB_CHAT;
    cJSON *choice, *root = reply_head(srv, job, chat ? "chat.completion.chunk" : "text_completion", &choice);
    if (chat) {
        cJSON *delta = cJSON_AddObjectToObject(choice, "delta");
        if (role)
            cJSON_AddStringToObject(delta, "role", role);
        if (text)
            cJSON_AddStringToObject(delta, "content", text);
    } else {
        cJSON_AddStringToObject(choice, "text", text ? text : "");
    }
    if (finish)
        cJSON_AddStringToObject(choice, "finish_reason", finish);
    else
        cJSON_AddNullToObject(choice, "finish_reason");
    return root;
}

static serve_error job_error(const serve_job *job);

char *serve_sse_event(serve_server *srv, serve_job *job, int phase, const char *text, size_t len, size_t *out_len) {
    char *buf = NULL;
    *out_len = 0;
    if (phase == 0 && job->kind == SERVE_JOB_CHAT) {
        sse_append(&buf, out_len, sse_chunk(srv, job, "", "assistant", NULL));
    } else if (phase == 1) {
        char *piece = strndup(text, len);
        if (piece)
            sse_append(&buf, out_len, sse_chunk(srv, job, piece, NULL, NULL));
        free(piece);
    } else if (phase == 2) {
        if (job->status != GEMCL_OK) { /* after the headers an error can only travel as an event */
            serve_error e = job_error(job);
            sse_append(&buf, out_len, error_json(&e));
        } else {
            sse_append(&buf, out_len, sse_chunk(srv, job, NULL, NULL, finish_reason(srv, job)));
            if (job->include_usage) {
                cJSON *root = reply_head(
                    srv, job, job->kind == SERVE_JOB_CHAT ? "chat.completion.chunk" : "text_completion", NULL);
                cJSON_AddItemToObject(root, "usage", usage_json(job));
                cJSON_AddItemToObject(root, "gemcl", gemcl_json(job));
                sse_append(&buf, out_len, root);
            }
        }
        sse_append(&buf, out_len, NULL);
    }
    return buf;
}

/* A failed generation's HTTP answer. */
static serve_error job_error(const serve_job *job) {
    serve_error e;
    switch (job->status) {
    case GEMCL_ERR_CONTEXT_FULL:
        serve_fail(&e, 400, job->kind == SERVE_JOB_CHAT ? "messages" : "prompt", "%s", job->error);
        e.code = "context_length_exceeded";
        break;
    case GEMCL_ERR_INVALID_ARG: serve_fail(&e, 400, NULL, "%s", job->error); break;
    case GEMCL_ABORTED: serve_fail(&e, 503, NULL, "the generation was cancelled: %s", job->error); break;
    default: serve_fail(&e, 500, NULL, "%s: %s", gemcl_status_str(job->status), job->error); break;
    }
    return e;
}

/* Waits for the job to reach `what`, checking that the client is still there. Returns 0, or -1 once the
 * client has gone (the job is then cancelled). */
static int wait_for(serve_job *job, int what, const serve_peer *peer) {
    while (!serve_job_wait(job, what, PEER_POLL_MS)) {
        if (serve_peer_gone(peer)) {
            atomic_store(&job->cancelled, 1);
            return -1;
        }
    }
    return 0;
}

static int route_generate(serve_server *srv, serve_job_kind kind, const char *body, size_t len, const serve_peer *peer,
                          serve_reply *reply, serve_error *err) {
    double t_start = gemcl_time_us() / 1e3;
    serve_job *job;
    if (serve_request_parse(srv, kind, body, len, &job, err))
        return -1;
    job->t_start_ms = t_start;
    if (atomic_load(&srv->draining) || serve_pool_submit(&srv->pool, job) != 0) {
        serve_job_release(job);
        reply->retry_after_s = 1;
        return serve_fail(err, 503, NULL,
                          atomic_load(&srv->draining) ? "the server is shutting down"
                                                      : "all slots are busy and the queue is full");
    }
    /* a stream's headers wait for its first token, so that a failure before it still gets its own status */
    if (wait_for(job, job->stream ? SERVE_JOB_WAIT_FIRST : SERVE_JOB_WAIT_DONE, peer)) {
        serve_job_release(job);
        reply->status = STATUS_CLIENT_GONE;
        return 0;
    }
    /* a stream that has started reports a later failure as an event; anything else gets its own status */
    pthread_mutex_lock(&job->mu);
    int failed = job->done && job->status != GEMCL_OK && !(job->stream && job->first_token);
    pthread_mutex_unlock(&job->mu);
    if (failed) {
        *err = job_error(job);
        serve_job_release(job);
        return -1;
    }
    if (job->stream) {
        reply->status = 200;
        reply->sse_job = job; /* the reference goes to the stream */
        return 0;
    }
    reply_completion(srv, job, reply);
    serve_job_release(job);
    return 0;
}

/* ---- the table ---- */

typedef struct route_entry {
    const char *method, *path;
    serve_route route;
    int needs_model;
} route_entry;

static const route_entry routes[] = {
    {"POST", "/v1/chat/completions", SERVE_ROUTE_CHAT, 1},
    {"POST", "/chat/completions", SERVE_ROUTE_CHAT, 1},
    {"POST", "/v1/completions", SERVE_ROUTE_COMPLETIONS, 1},
    {"POST", "/completions", SERVE_ROUTE_COMPLETIONS, 1},
    {"GET", "/v1/models", SERVE_ROUTE_MODELS, 1},
    {"GET", "/models", SERVE_ROUTE_MODELS, 1},
    {"GET", "/health", SERVE_ROUTE_HEALTH, 0},
    {"GET", "/metrics", SERVE_ROUTE_METRICS, 0},
    {"POST", "/tokenize", SERVE_ROUTE_TOKENIZE, 1},
    {"POST", "/detokenize", SERVE_ROUTE_DETOKENIZE, 1},
};

void serve_route_request(serve_server *srv, const char *method, const char *url, const char *body, size_t len,
                         const serve_peer *peer, serve_reply *reply, serve_route *route) {
    const route_entry *hit = NULL;
    int path_known = 0;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(url, routes[i].path) != 0)
            continue;
        path_known = 1;
        if (strcmp(method, routes[i].method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0))
            hit = &routes[i];
    }
    *route = hit ? hit->route : SERVE_ROUTE_OTHER;
    serve_error err;
    int rc = 0;
    if (!hit)
        rc = path_known ? serve_fail(&err, 405, NULL, "%s is not allowed on %s", method, url)
                        : serve_fail(&err, 404, NULL, "no route %s %s", method, url);
    else if (hit->needs_model && !atomic_load(&srv->ready))
        rc = serve_fail(&err, 503, NULL, "the model is loading");
    else
        switch (hit->route) {
        case SERVE_ROUTE_CHAT: rc = route_generate(srv, SERVE_JOB_CHAT, body, len, peer, reply, &err); break;
        case SERVE_ROUTE_COMPLETIONS:
            rc = route_generate(srv, SERVE_JOB_COMPLETION, body, len, peer, reply, &err);
            break;
        case SERVE_ROUTE_MODELS: route_models(srv, reply); break;
        case SERVE_ROUTE_HEALTH: route_health(srv, reply); break;
        case SERVE_ROUTE_METRICS: route_metrics(srv, reply); break;
        case SERVE_ROUTE_TOKENIZE: rc = route_tokenize(srv, body, len, reply, &err); break;
        default: rc = route_detokenize(srv, body, len, reply, &err); break;
        }
    if (rc)
        serve_reply_error(reply, &err);
    if (rc && err.http_status == 503 && !reply->retry_after_s)
        reply->retry_after_s = 1;
}
