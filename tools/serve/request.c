/* request.c - an OpenAI request body -> a validated job. Every field of the wrong type or out of range is a
 * 400 that names the field (OpenAI's "param"), so a client learns what to fix; fields this server does not
 * know are ignored, as clients send many (user, logprobs: false, ...), except inside the "gemcl" object,
 * where a typo would silently change what the request measures. */
#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve.h"

#define MAX_STOP 4 /* OpenAI's limit */

int serve_fail(serve_error *err, int http_status, const char *param, const char *fmt, ...) {
    err->http_status = http_status;
    err->type = http_status == 401   ? "authentication_error"
                : http_status == 404 ? "not_found_error"
                : http_status >= 500 ? "server_error"
                                     : "invalid_request_error";
    err->code = NULL;
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- typed fields: each returns 0 when the field is absent (out untouched) or valid, -1 with *err set ---- */

static int get_number(const cJSON *o, const char *key, double lo, double hi, double *out, serve_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v))
        return serve_fail(err, 400, key, "'%s' must be a number", key);
    if (!(v->valuedouble >= lo && v->valuedouble <= hi))
        return serve_fail(err, 400, key, "'%s' must lie in [%g, %g], got %g", key, lo, hi, v->valuedouble);
    *out = v->valuedouble;
    return 0;
}

static int get_int(const cJSON *o, const char *key, double lo, double hi, long long *out, serve_error *err) {
    double d = 0;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (v && cJSON_IsNumber(v) && v->valuedouble != floor(v->valuedouble))
        return serve_fail(err, 400, key, "'%s' must be an integer, got %g", key, v->valuedouble);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v))
        return serve_fail(err, 400, key, "'%s' must be an integer", key);
    if (get_number(o, key, lo, hi, &d, err))
        return -1;
    *out = (long long)d;
    return 0;
}

static int get_bool(const cJSON *o, const char *key, int *out, serve_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsBool(v))
        return serve_fail(err, 400, key, "'%s' must be true or false", key);
    *out = cJSON_IsTrue(v);
    return 0;
}

/* ---- the per-request "gemcl" object ---- */

static int parse_gemcl_object(const serve_server *srv, const cJSON *o, gemcl_method_params *mp, serve_error *err) {
    static const char *const known[] = {"method", "filter_layer", "budget", "window", "sink_tokens"};
    if (!cJSON_IsObject(o))
        return serve_fail(err, 400, "gemcl", "'gemcl' must be an object such as {\"method\": \"gemfilter\"}");
    for (const cJSON *f = o->child; f; f = f->next) {
        size_t k = 0;
        while (k < sizeof known / sizeof known[0] && strcmp(f->string, known[k]) != 0)
            k++;
        if (k == sizeof known / sizeof known[0])
            return serve_fail(err, 400, "gemcl",
                              "unknown key 'gemcl.%s' (method, filter_layer, budget, window, "
                              "sink_tokens)",
                              f->string);
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "method");
    if (m && !cJSON_IsString(m))
        return serve_fail(err, 400, "gemcl.method", "'gemcl.method' must be a string");
    if (m && gemcl_method_from_name(m->valuestring, &mp->method) != GEMCL_OK)
        return serve_fail(err, 400, "gemcl.method",
                          "unknown method '%s' (full, gemfilter, promptdistill, snapkv, "
                          "h2o, h2o-stream, streamingllm, pod-tf)",
                          m->valuestring);
    long long layer = mp->filter_layer, budget = mp->budget, window = mp->window, sinks = mp->sink_tokens;
    if (get_int(o, "filter_layer", -1, srv->info.n_layers - 1, &layer, err) ||
        get_int(o, "budget", 0, 1 << 30, &budget, err) || get_int(o, "window", 0, 1 << 20, &window, err) ||
        get_int(o, "sink_tokens", 0, 1 << 20, &sinks, err)) {
        memmove(err->param + 6, err->param, sizeof err->param - 6); /* the field's name is short: no loss */
        memcpy(err->param, "gemcl.", 6);
        err->param[sizeof err->param - 1] = '\0';
        return -1;
    }
    mp->filter_layer = (int)layer, mp->budget = (int)budget, mp->window = (int)window, mp->sink_tokens = (int)sinks;
    return 0;
}

/* ---- sampling and limits, common to both endpoints ---- */

static int parse_stop(const cJSON *body, serve_job *job, serve_error *err) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(body, "stop");
    if (!s || cJSON_IsNull(s))
        return 0;
    int n = cJSON_IsString(s) ? 1 : cJSON_IsArray(s) ? cJSON_GetArraySize(s) : -1;
    if (n < 0)
        return serve_fail(err, 400, "stop", "'stop' must be a string or an array of strings");
    if (n > MAX_STOP)
        return serve_fail(err, 400, "stop", "'stop' takes at most %d strings, got %d", MAX_STOP, n);
    if (!(job->stop = calloc((size_t)n + 1, sizeof *job->stop)))
        return serve_fail(err, 500, NULL, "out of host memory");
    for (int i = 0; i < n; i++) {
        const cJSON *e = cJSON_IsString(s) ? s : cJSON_GetArrayItem(s, i);
        if (!cJSON_IsString(e) || !e->valuestring[0])
            return serve_fail(err, 400, "stop", "'stop[%d]' must be a non-empty string", i);
        if (!(job->stop[i] = strdup(e->valuestring)))
            return serve_fail(err, 500, NULL, "out of host memory");
        job->g.n_stop = i + 1;
    }
    job->g.stop = (const char *const *)job->stop;
    return 0;
}

static int parse_sampling(serve_server *srv, const cJSON *body, serve_job *job, serve_error *err) {
    int n_ctx = srv->cfg.n_ctx > 0 ? srv->cfg.n_ctx : srv->info.ctx_train;
    long long max_tokens = n_ctx, n = 1, seed = (long long)job->g.seed, top_k = 0;
    double temperature = 0, top_p = 1;
    int ignore_eos = 0, cache = 1;
    if (get_int(body, "max_completion_tokens", 1, 1e9, &max_tokens, err) ||
        get_int(body, "max_tokens", 1, 1e9, &max_tokens, err) || get_int(body, "n", 1, 1e9, &n, err) ||
        get_int(body, "seed", 0, 9007199254740992.0, &seed, err) || get_int(body, "top_k", 0, 1e9, &top_k, err) ||
        get_number(body, "temperature", 0, 2, &temperature, err) || get_number(body, "top_p", 0, 1, &top_p, err) ||
        get_bool(body, "stream", &job->stream, err) || get_bool(body, "ignore_eos", &ignore_eos, err) ||
        get_bool(body, "cache_prompt", &cache, err) || parse_stop(body, job, err))
        return -1;
    if (n != 1)
        return serve_fail(err, 400, "n", "only n = 1 is supported, got %lld", n);
    if (top_p <= 0)
        return serve_fail(err, 400, "top_p", "'top_p' must be above 0");
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(body, "stream_options");
    if (so && !cJSON_IsNull(so) && (!cJSON_IsObject(so) || get_bool(so, "include_usage", &job->include_usage, err)))
        return serve_fail(err, 400, "stream_options", "'stream_options' must be {\"include_usage\": true|false}");
    job->g.max_tokens = (int)(max_tokens < n_ctx ? max_tokens : n_ctx);
    job->g.temperature = (float)temperature;
    job->g.top_p = (float)top_p;
    job->g.top_k = (int)top_k; /* OpenAI has no top-k: off unless asked (llama-server's extension) */
    job->g.seed = (uint64_t)seed;
    job->g.ignore_eos = ignore_eos;
    job->cache_allowed = cache;
    job->g.method = srv->cfg.method;
    const cJSON *gm = cJSON_GetObjectItemCaseSensitive(body, "gemcl");
    return gm && !cJSON_IsNull(gm) ? parse_gemcl_object(srv, gm, &job->g.method, err) : 0;
}

/* ---- the prompt: chat messages through the template, or a completion's text ---- */

/* A message's content: a string, or OpenAI's array of {"type": "text", "text": ...} parts (joined);
 * null for an assistant turn that only called tools. *owned is set when the text had to be joined. */
static int message_text(const cJSON *content, int i, const char **text, char **owned, serve_error *err) {
    if (cJSON_IsString(content)) {
        *text = content->valuestring;
        return 0;
    }
    if (!content || cJSON_IsNull(content)) {
        *text = "";
        return 0;
    }
    if (!cJSON_IsArray(content))
        return serve_fail(err, 400, "messages",
                          "'messages[%d].content' must be a string or an array of text "
                          "parts",
                          i);
    size_t len = 0;
    for (const cJSON *p = content->child; p; p = p->next) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type"),
                    *t = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0 || !cJSON_IsString(t))
            return serve_fail(err, 400, "messages",
                              "'messages[%d].content': only {\"type\": \"text\", \"text\": "
                              "...} parts are supported",
                              i);
        len += strlen(t->valuestring);
    }
    if (!(*owned = malloc(len + 1)))
        return serve_fail(err, 500, NULL, "out of host memory");
    (*owned)[0] = '\0';
    for (const cJSON *p = content->child; p; p = p->next)
        strcat(*owned, cJSON_GetObjectItemCaseSensitive(p, "text")->valuestring);
    *text = *owned;
    return 0;
}

static const char *message_role(const cJSON *role) {
    static const char *const roles[] = {"system", "user", "assistant"};
    if (!cJSON_IsString(role))
        return NULL;
    if (strcmp(role->valuestring, "developer") == 0) /* OpenAI's newer name for the system role */
        return "system";
    for (int i = 0; i < 3; i++)
        if (strcmp(role->valuestring, roles[i]) == 0)
            return roles[i];
    return NULL;
}

static int render_chat(serve_server *srv, const cJSON *msgs, gemcl_chat_message *m, char **owned, int n, serve_job *job,
                       serve_error *err) {
    int i = 0;
    for (const cJSON *e = msgs->child; e; e = e->next, i++) {
        if (!cJSON_IsObject(e))
            return serve_fail(err, 400, "messages", "'messages[%d]' must be an object", i);
        if (!(m[i].role = message_role(cJSON_GetObjectItemCaseSensitive(e, "role"))))
            return serve_fail(err, 400, "messages",
                              "'messages[%d].role' must be system, developer, user or "
                              "assistant",
                              i);
        if (message_text(cJSON_GetObjectItemCaseSensitive(e, "content"), i, &m[i].content, &owned[i], err))
            return -1;
    }
    char msg[1024];
    gemcl_status st = gemcl_chat_apply_template(srv->model, srv->cfg.chat_template, m, n, 1, &job->prompt,
                                                &job->prompt_len, msg, sizeof msg);
    if (st == GEMCL_ERR_NOT_FOUND)
        return serve_fail(err, 400, "messages",
                          "the model has no chat template: use /v1/completions, or start the "
                          "server with --chat-template NAME (%s)",
                          gemcl_chat_template_names());
    if (st != GEMCL_OK)
        return serve_fail(err, 400, "messages", "%s", msg);
    job->g.parse_special = 1; /* the template's markers are special tokens, and its end of turn stops */
    return 0;
}

static int parse_messages(serve_server *srv, const cJSON *body, serve_job *job, serve_error *err) {
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(body, "messages");
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
        return serve_fail(err, 400, "messages", "'messages' must be a non-empty array of {role, content}");
    int n = cJSON_GetArraySize(msgs);
    gemcl_chat_message *m = calloc((size_t)n, sizeof *m);
    char **owned = calloc((size_t)n, sizeof *owned);
    int rc = m && owned ? render_chat(srv, msgs, m, owned, n, job, err) : serve_fail(err, 500, NULL, "out of memory");
    for (int i = 0; owned && i < n; i++)
        free(owned[i]);
    free(owned);
    free(m);
    return rc;
}

static int parse_prompt(const cJSON *body, serve_job *job, serve_error *err) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "prompt");
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1) /* one prompt in a list, as some clients send it */
        p = cJSON_GetArrayItem(p, 0);
    if (!cJSON_IsString(p))
        return serve_fail(err, 400, "prompt", "'prompt' must be a string (or a list of exactly one)");
    job->prompt_len = strlen(p->valuestring);
    if (!(job->prompt = strdup(p->valuestring)))
        return serve_fail(err, 500, NULL, "out of host memory");
    return 0;
}

static void make_id(serve_job *job) {
    static atomic_uint counter;
    unsigned n = atomic_fetch_add(&counter, 1);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    job->created = (int64_t)ts.tv_sec;
    snprintf(job->id, sizeof job->id, "%s-%08lx%06x", job->kind == SERVE_JOB_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long)(ts.tv_nsec ^ ts.tv_sec), n & 0xffffff);
}

cJSON *serve_parse_object(const char *body, size_t len, serve_error *err) {
    const char *end = NULL;
    /* the WithLengthOpts form reports where parsing stopped through its own argument: cJSON_GetErrorPtr is
     * one global, shared by every handler thread */
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root)
        serve_fail(err, 400, NULL, "the body is not valid JSON (at byte %ld)",
                   end && end >= body ? (long)(end - body) : 0L);
    else if (!cJSON_IsObject(root))
        serve_fail(err, 400, NULL, "the body must be a JSON object");
    if (root && cJSON_IsObject(root))
        return root;
    cJSON_Delete(root);
    return NULL;
}

int serve_request_parse(serve_server *srv, serve_job_kind kind, const char *body, size_t len, serve_job **out,
                        serve_error *err) {
    *out = NULL;
    cJSON *root = serve_parse_object(body, len, err);
    if (!root)
        return -1;
    serve_job *job = serve_job_create(kind);
    int rc = !job                     ? serve_fail(err, 500, NULL, "out of host memory")
             : kind == SERVE_JOB_CHAT ? parse_messages(srv, root, job, err)
                                      : parse_prompt(root, job, err);
    if (rc == 0)
        rc = parse_sampling(srv, root, job, err);
    cJSON_Delete(root);
    if (rc != 0) {
        serve_job_release(job);
        return -1;
    }
    make_id(job);
    *out = job;
    return 0;
}
