/* cmd_serve.c - `gemcl serve`: the command line, start-up (listen first, so /health answers 503 while the
 * model loads), and SIGTERM's drain. The server itself is in tools/serve/ (serve.h says what is where). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "options.h"
#include "serve/serve.h"

static void usage(void) {
    printf("usage: gemcl serve -m MODEL [options]   an OpenAI-compatible HTTP server\n"
           "  -m, --model PATH        HF directory, .gguf, or llama2.c .bin\n"
           "  --host ADDR             address to listen on (default 127.0.0.1: this machine only)\n"
           "  --port N                port (default 8080; 0 = any free port, printed at start)\n"
           "  -np, --parallel N       slots: contexts that each keep their own prompt cache (default 1)\n"
           "  --queue N               requests that may wait for a slot; beyond them 503 (default 16)\n"
           "  -c, --ctx-size N        context rows per slot (default: the model's trained context)\n"
           "  -ub, --ubatch-size N    prefill chunk (default 512)\n"
           "  --method NAME           default method (full, gemfilter, ...; a request's \"gemcl\" object overrides)\n"
           "  --filter-layer R        default filter layer (default: model card, else round(0.4 L))\n"
           "  --budget K              default budget (default: model card, else 1024)\n"
           "  --api-key KEY           require Authorization: Bearer KEY on every route but /health\n"
           "  --api-key-file F        the same, the key read from F's first line\n"
           "  --timeout S             idle connection timeout, and SIGTERM's wait for in-flight requests\n"
           "                          (default 600)\n"
           "  --max-body BYTES        largest request body; larger gets 413 (default 8388608)\n"
           "  --chat-template NAME    chat template family instead of the model's own (%s)\n"
           "  --alias NAME            model id in /v1/models and replies (default: the file name)\n"
           "  --dtype f32|f16|bf16|q8_0   weight storage on the device (default: as in the file)\n"
           "  --tokenizer PATH        tokenizer file, when not beside the model\n"
           "  --device N|NAME         OpenCL device (default: $GEMCL_DEVICE, else first GPU, else first)\n"
           "Endpoints: POST /v1/chat/completions, /v1/completions, /tokenize, /detokenize; GET /v1/models,\n"
           "/health, /metrics. SIGTERM (or SIGINT) stops accepting, finishes in-flight requests, exits 0.\n",
           gemcl_chat_template_names());
}

static int read_key_file(const char *path, char *key, size_t cap) {
    FILE *f = fopen(path, "r");
    if (!f)
        return cli_error("serve: cannot open --api-key-file '%s': %s", path, strerror(errno));
    char *got = fgets(key, (int)cap, f);
    fclose(f);
    size_t n = got ? strcspn(key, "\r\n") : 0;
    key[n] = '\0';
    return n ? 0 : cli_error("serve: --api-key-file '%s' holds no key on its first line", path);
}

/* Parses argv into c; -1 after --help, 0 on success, 1 on a bad option (serve's exit code for all of them). */
static int parse_args(int argc, char **argv, serve_config *c) {
    const char *api_key_file = NULL, *v = NULL;
    cli_args args = cli_args_start("serve", argc, argv);
    while (cli_next(&args)) {
        int rc = 0, max_body = 0;
        if (cli_is(&args, "--help", "-h")) {
            usage();
            return -1;
        } else if (cli_is(&args, "-m", "--model")) rc = cli_str(&args, &c->model_path);
        else if (cli_is(&args, "--host", NULL)) rc = cli_str(&args, &c->host);
        else if (cli_is(&args, "--chat-template", NULL)) rc = cli_str(&args, &c->chat_template);
        else if (cli_is(&args, "--alias", NULL)) rc = cli_str(&args, &c->alias);
        else if (cli_is(&args, "--device", NULL)) rc = cli_str(&args, &c->device);
        else if (cli_is(&args, "--tokenizer", NULL)) rc = cli_str(&args, &c->tokenizer);
        else if (cli_is(&args, "--api-key-file", NULL)) rc = cli_str(&args, &api_key_file);
        else if (cli_is(&args, "--api-key", NULL)) {
            if (!(rc = cli_str(&args, &v)))
                snprintf(c->api_key, sizeof c->api_key, "%s", v);
        } else if (cli_is(&args, "--method", NULL)) {
            if (!(rc = cli_str(&args, &v)) && gemcl_method_from_name(v, &c->method.method) != GEMCL_OK)
                rc = cli_error("serve: unknown method '%s'", v);
        } else if (cli_is(&args, "--dtype", NULL)) {
            if (!(rc = cli_str(&args, &v)) && gemcl_weight_dtype_from_name(v, &c->dtype) != GEMCL_OK)
                rc = cli_error("serve: --dtype must be f32, f16, bf16 or q8_0, got '%s'", v);
        } else if (cli_is(&args, "--max-body", NULL)) {
            if (!(rc = cli_int(&args, 1024, 1 << 30, &max_body)))
                c->max_body_bytes = (size_t)max_body;
        }
        else if (cli_is(&args, "--port", NULL)) rc = cli_int(&args, 0, 65535, &c->port);
        else if (cli_is(&args, "-np", "--parallel")) rc = cli_int(&args, 1, 64, &c->n_slots);
        else if (cli_is(&args, "--queue", NULL)) rc = cli_int(&args, 0, 4096, &c->queue_cap);
        else if (cli_is(&args, "-c", "--ctx-size")) rc = cli_int(&args, 0, 1 << 24, &c->n_ctx);
        else if (cli_is(&args, "-ub", "--ubatch-size")) rc = cli_int(&args, 0, 1 << 16, &c->n_ubatch);
        else if (cli_is(&args, "--filter-layer", NULL)) rc = cli_int(&args, -1, 4096, &c->method.filter_layer);
        else if (cli_is(&args, "--budget", NULL)) rc = cli_int(&args, 0, 1 << 24, &c->method.budget);
        else if (cli_is(&args, "--timeout", NULL)) rc = cli_int(&args, 1, 86400, &c->timeout_s);
        else
            rc = cli_unknown(&args);
        if (rc)
            return 1;
    }
    if (!c->model_path)
        return cli_error("serve: no model given (-m MODEL)");
    if (api_key_file && c->api_key[0])
        return cli_error("serve: give --api-key or --api-key-file, not both");
    return api_key_file ? read_key_file(api_key_file, c->api_key, sizeof c->api_key) : 0;
}

static void log_line(gemcl_log_level level, const char *message, void *user) {
    (void)user;
    if (level >= GEMCL_LOG_LEVEL_WARN)
        fprintf(stderr, "gemcl: %s\n", message);
}

/* Loads the model and starts the slots; then /health says ok. */
static int load(serve_server *srv) {
    gemcl_model_params mp = gemcl_model_default_params();
    mp.device = srv->cfg.device;
    mp.tokenizer_path = srv->cfg.tokenizer;
    mp.weight_dtype = srv->cfg.dtype;
    mp.log = log_line;
    char err[4096];
    if (gemcl_model_load(srv->cfg.model_path, &mp, &srv->model, err, sizeof err) != GEMCL_OK)
        return cli_error("%s", err);
    gemcl_model_get_info(srv->model, &srv->info);
    if (srv->cfg.method.filter_layer >= srv->info.n_layers)
        return cli_error("serve: --filter-layer %d is outside the model's layers 0..%d", srv->cfg.method.filter_layer,
                         srv->info.n_layers - 1);
    const char *base = strrchr(srv->cfg.model_path, '/');
    snprintf(srv->model_id, sizeof srv->model_id, "%s",
             srv->cfg.alias    ? srv->cfg.alias
             : base && base[1] ? base + 1
                               : srv->cfg.model_path);
    if (serve_pool_start(&srv->pool, srv->model, &srv->cfg, &srv->metrics, err, sizeof err) != GEMCL_OK)
        return cli_error("%s", err);
    atomic_store(&srv->ready, 1);
    return 0;
}

/* SIGTERM: stop accepting, let in-flight requests finish (at most --timeout seconds), then stop. */
static void drain(serve_server *srv) {
    atomic_store(&srv->draining, 1);
    serve_http_quiesce(srv);
    fprintf(stderr, "gemcl serve: draining %d in-flight request(s)\n", atomic_load(&srv->in_flight));
    struct timespec step = {0, 50 * 1000000L};
    for (long waited_ms = 0; atomic_load(&srv->in_flight) > 0 && waited_ms < srv->cfg.timeout_s * 1000L;
         waited_ms += 50)
        nanosleep(&step, NULL);
}

static void shutdown_server(serve_server *srv) {
    serve_http_stop(srv);
    serve_pool_stop(&srv->pool);
    gemcl_model_free(srv->model);
    serve_metrics_destroy(&srv->metrics);
}

int cmd_serve(int argc, char **argv) {
    static serve_server srv; /* large, and the threads' shared state: not on the stack */
    srv.cfg = (serve_config){.host = "127.0.0.1",
                             .port = 8080,
                             .n_slots = 1,
                             .queue_cap = 16,
                             .dtype = GEMCL_WEIGHT_DTYPE_AUTO,
                             .timeout_s = 600,
                             .max_body_bytes = 8u << 20,
                             .method = {.filter_layer = -1}};
    int rc = parse_args(argc, argv, &srv.cfg);
    if (rc)
        return rc < 0 ? 0 : rc;
    /* the signals go to sigwait below, never to a server thread, which all inherit this mask */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    serve_metrics_init(&srv.metrics);
    srv.created = (int64_t)time(NULL);
    char err[1024];
    int port;
    if (serve_http_start(&srv, &port, err, sizeof err))
        return cli_error("%s", err);
    fprintf(stderr, "gemcl serve: listening on http://%s:%d (loading %s)\n", srv.cfg.host, port, srv.cfg.model_path);
    if ((rc = load(&srv)) != 0) {
        shutdown_server(&srv);
        return rc;
    }
    fprintf(stderr, "gemcl serve: ready: %s, %d slot(s) of %d tokens, queue %d%s\n", srv.model_id, srv.cfg.n_slots,
            srv.cfg.n_ctx > 0 ? srv.cfg.n_ctx : srv.info.ctx_train, srv.cfg.queue_cap,
            srv.cfg.api_key[0] ? ", API key required" : "");
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "gemcl serve: %s received\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    drain(&srv);
    shutdown_server(&srv);
    fprintf(stderr, "gemcl serve: stopped\n");
    return 0;
}
