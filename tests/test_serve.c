/* test_serve.c - `gemcl serve` from the outside: started on a free loopback port with the stories260K model
 * (chatml template), driven by the openai Python package (tests/serve/client.py), by curl (the bad-request
 * table, the API key, SIGTERM), and through nginx in front of two replicas. A test whose tool is missing
 * (curl, the Python client, nginx) is left out of the suite with a SKIP line saying why, never passed. */
#include <cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gemcl.h"
#include "harness.h"
#include "serve_harness.h"

static char *url_of(const serve_proc *p, const char *path) {
    static char bufs[4][256];
    static int next;
    char *u = bufs[next++ % 4];
    snprintf(u, sizeof bufs[0], "http://127.0.0.1:%d%s", p->port, path);
    return u;
}

static void run_scenario(const char *scenario, const char *const *args) {
    serve_proc p;
    serve_start(&p, true, args);
    int rc = serve_client(scenario, url_of(&p, ""));
    ck_assert_int_eq(serve_stop(&p), 0);
    ck_assert_msg(rc == 0, "client.py %s failed (its lines above; server log %s)", scenario, p.log);
}

/* ---- the openai client ---- */

START_TEST(openai_client_chats_streams_completes_and_reads_metrics) {
    run_scenario("basics", (const char *[]){"-np", "2", NULL});
}
END_TEST

START_TEST(per_request_gemfilter_reports_kept_prompt_tokens) {
    run_scenario("gemfilter", (const char *[]){"-np", "1", "-c", "1024", NULL});
}
END_TEST

START_TEST(a_shared_prefix_is_taken_from_the_slot_cache) {
    run_scenario("cache", (const char *[]){"-np", "2", NULL});
}
END_TEST

START_TEST(eight_clients_on_four_slots_all_get_their_own_replies) {
    run_scenario("concurrency", (const char *[]){"-np", "4", NULL});
}
END_TEST

START_TEST(full_queue_is_503_and_a_cancelled_stream_frees_its_slot) {
    run_scenario("queue", (const char *[]){"-np", "1", "--queue", "1", "-c", "4096", NULL});
}
END_TEST

/* ---- bad requests: every row a 4xx with an OpenAI-style error, and the server still healthy ---- */

typedef struct bad_row {
    const char *what, *method, *path, *body;
    int status;
} bad_row;

#define CHAT "/v1/chat/completions"
#define MSG "\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]"
static const bad_row bad_rows[] = {
    {"malformed JSON", "POST", CHAT, "{\"messages\": [", 400},
    {"empty body", "POST", CHAT, "", 400},
    {"body is an array", "POST", CHAT, "[1, 2]", 400},
    {"no messages", "POST", CHAT, "{}", 400},
    {"messages not an array", "POST", CHAT, "{\"messages\": \"hi\"}", 400},
    {"messages empty", "POST", CHAT, "{\"messages\": []}", 400},
    {"message not an object", "POST", CHAT, "{\"messages\": [\"hi\"]}", 400},
    {"unknown role", "POST", CHAT, "{\"messages\": [{\"role\": \"wizard\", \"content\": \"hi\"}]}", 400},
    {"content a number", "POST", CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": 7}]}", 400},
    {"content an image part", "POST", CHAT,
     "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {}}]}]}", 400},
    {"max_tokens a string", "POST", CHAT, "{" MSG ", \"max_tokens\": \"ten\"}", 400},
    {"max_tokens negative", "POST", CHAT, "{" MSG ", \"max_tokens\": -5}", 400},
    {"max_tokens fractional", "POST", CHAT, "{" MSG ", \"max_tokens\": 1.5}", 400},
    {"temperature a string", "POST", CHAT, "{" MSG ", \"temperature\": \"hot\"}", 400},
    {"temperature above 2", "POST", CHAT, "{" MSG ", \"temperature\": 5}", 400},
    {"top_p above 1", "POST", CHAT, "{" MSG ", \"top_p\": 1.5}", 400},
    {"seed negative", "POST", CHAT, "{" MSG ", \"seed\": -1}", 400},
    {"stop a number", "POST", CHAT, "{" MSG ", \"stop\": 3}", 400},
    {"five stop strings", "POST", CHAT, "{" MSG ", \"stop\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}", 400},
    {"stream not a bool", "POST", CHAT, "{" MSG ", \"stream\": \"yes\"}", 400},
    {"stream_options not an object", "POST", CHAT, "{" MSG ", \"stream\": true, \"stream_options\": 1}", 400},
    {"n = 2", "POST", CHAT, "{" MSG ", \"n\": 2}", 400},
    {"gemcl not an object", "POST", CHAT, "{" MSG ", \"gemcl\": \"gemfilter\"}", 400},
    {"unknown method", "POST", CHAT, "{" MSG ", \"gemcl\": {\"method\": \"magic\"}}", 400},
    {"filter layer outside the model", "POST", CHAT, "{" MSG ", \"gemcl\": {\"filter_layer\": 99}}", 400},
    {"negative budget", "POST", CHAT, "{" MSG ", \"gemcl\": {\"budget\": -1}}", 400},
    {"unknown gemcl key", "POST", CHAT, "{" MSG ", \"gemcl\": {\"budgett\": 64}}", 400},
    {"completion without prompt", "POST", "/v1/completions", "{\"max_tokens\": 4}", 400},
    {"completion prompt a number", "POST", "/v1/completions", "{\"prompt\": 42}", 400},
    {"tokenize without content", "POST", "/tokenize", "{\"text\": \"hi\"}", 400},
    {"detokenize outside the vocabulary", "POST", "/detokenize", "{\"tokens\": [1, 99999]}", 400},
    {"detokenize tokens not a list", "POST", "/detokenize", "{\"tokens\": \"1 2\"}", 400},
    {"unknown route", "POST", "/v1/embeddings", "{\"input\": \"hi\"}", 404},
    {"GET on a POST route", "GET", CHAT, NULL, 405},
};

/* status is the wanted one and body an OpenAI error object. */
static void expect_error_object(const char *what, int status, int want, const char *body) {
    ck_assert_msg(status == want, "%s: status %d, wanted %d (%s)", what, status, want, body);
    cJSON *root = cJSON_Parse(body);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
    ck_assert_msg(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(err, "message")) &&
                      cJSON_IsString(cJSON_GetObjectItemCaseSensitive(err, "type")),
                  "%s: no {\"error\": {message, type}} in %s", what, body);
    cJSON_Delete(root);
}

/* The same, and /health still answers 200 after it. */
static void expect_error(const serve_proc *p, const char *what, int status, int want, const char *body) {
    expect_error_object(what, status, want, body);
    char health[256];
    ck_assert_msg(serve_curl(p->dir, "GET", url_of(p, "/health"), NULL, NULL, health, sizeof health) == 200,
                  "/health after '%s': %s", what, health);
}

/* A body of n bytes that is valid JSON: a completion whose prompt repeats a sentence. */
static char *long_completion(size_t n) {
    static const char sentence[] = "Lily saw a big red ball under the tree and ran to get it. ";
    char *b = malloc(n + 1);
    ck_assert_ptr_nonnull(b);
    size_t head = (size_t)sprintf(b, "{\"prompt\": \"");
    for (size_t i = head; i < n - 2; i++)
        b[i] = sentence[(i - head) % (sizeof sentence - 1)];
    memcpy(b + n - 2, "\"}", 3);
    return b;
}

START_TEST(every_bad_request_is_a_4xx_with_an_error_object_and_the_server_lives_on) {
    serve_proc p;
    serve_start(&p, true, (const char *[]){"-c", "256", "--max-body", "65536", NULL});
    static char out[1 << 16];
    for (size_t i = 0; i < sizeof bad_rows / sizeof bad_rows[0]; i++) {
        const bad_row *r = &bad_rows[i];
        int status = serve_curl(p.dir, r->method, url_of(&p, r->path), r->body, NULL, out, sizeof out);
        expect_error(&p, r->what, status, r->status, out);
    }
    char *too_long = long_completion(4000); /* ~900 tokens in a 256-token context */
    expect_error(&p, "prompt longer than the context",
                 serve_curl(p.dir, "POST", url_of(&p, "/v1/completions"), too_long, NULL, out, sizeof out), 400, out);
    ck_assert_msg(strstr(out, "context_length_exceeded"), "%s", out);
    free(too_long);
    char *too_big = long_completion(70000); /* above --max-body */
    expect_error(&p, "body above the limit",
                 serve_curl(p.dir, "POST", url_of(&p, "/v1/completions"), too_big, NULL, out, sizeof out), 413, out);
    free(too_big);
    ck_assert_int_ge(serve_metric(&p, "gemcl_generated_tokens_total"), 0); /* still answering */
    ck_assert_int_eq(serve_stop(&p), 0);
}
END_TEST

START_TEST(api_key_guards_every_route_but_health) {
    serve_proc p;
    char key_path[512];
    serve_tmpdir(key_path, sizeof key_path);
    strcat(key_path, "/key");
    FILE *f = fopen(key_path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("s3cret-key\n", f);
    fclose(f);
    serve_start(&p, true, (const char *[]){"--api-key-file", key_path, NULL});
    *strrchr(key_path, '/') = '\0'; /* the key's folder, removed at the end */
    char out[4096];
    const char *routes[][2] = {{"GET", "/v1/models"}, {"GET", "/metrics"}, {"POST", CHAT}, {"POST", "/tokenize"}};
    for (size_t i = 0; i < 4; i++) {
        const char *body = routes[i][0][0] == 'P' ? "{" MSG ", \"content\": \"hi\", \"max_tokens\": 2}" : NULL;
        expect_error(&p, "no key",
                     serve_curl(p.dir, routes[i][0], url_of(&p, routes[i][1]), body, NULL, out, sizeof out), 401, out);
        expect_error(&p, "wrong key",
                     serve_curl(p.dir, routes[i][0], url_of(&p, routes[i][1]), body, "Authorization: Bearer s3cret-kez",
                                out, sizeof out),
                     401, out);
        int ok = serve_curl(p.dir, routes[i][0], url_of(&p, routes[i][1]), body, "Authorization: Bearer s3cret-key",
                            out, sizeof out);
        ck_assert_msg(ok == 200, "%s with the key: %d %s", routes[i][1], ok, out);
    }
    ck_assert_int_eq(serve_stop(&p), 0);
    serve_remove_dir(key_path);
}
END_TEST

/* ---- life cycle ---- */

#define SMOLLM2 "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"

START_TEST(health_is_503_while_the_model_loads) {
    /* The server listens before it loads. SmolLM2's Q4_1 weights converted to f32 on the host take over a
     * second to load here, so the first answers (tens of ms after it listens) come while it loads: 503
     * "loading" for /health and for work; then 200. (A FIFO as the model no longer blocks a load: non-regular
     * model files are refused at once.) */
    serve_proc p;
    serve_start_model(&p, test_shared_path(SMOLLM2), false, (const char *[]){"--dtype", "f32", NULL});
    char out[1024];
    int code = serve_curl(p.dir, "GET", url_of(&p, "/health"), NULL, NULL, out, sizeof out);
    ck_assert_int_eq(code, 503);
    ck_assert_msg(strstr(out, "\"loading\""), "%s", out);
    expect_error_object("chat while loading",
                        serve_curl(p.dir, "POST", url_of(&p, CHAT), "{" MSG "}", NULL, out, sizeof out), 503, out);
    for (int i = 0; i < 1200 && code != 200; i++) { /* at most a minute */
        usleep(50000);
        code = serve_curl(p.dir, "GET", url_of(&p, "/health"), NULL, NULL, out, sizeof out);
    }
    ck_assert_int_eq(code, 200);
    ck_assert_int_eq(serve_stop(&p), 0);
}
END_TEST

START_TEST(sigterm_finishes_the_request_in_flight_and_exits_0) {
    serve_proc p;
    serve_start(&p, true, (const char *[]){"-c", "2048", NULL});
    char cmd[1024];
    snprintf(
        cmd, sizeof cmd,
        "curl -s --max-time 300 -w ' %%{http_code}' -H 'Content-Type: application/json' -d '{\"prompt\": \"Once\", "
        "\"max_tokens\": 1500, \"ignore_eos\": true}' %s",
        url_of(&p, "/v1/completions"));
    FILE *pipe = popen(cmd, "r");
    ck_assert_ptr_nonnull(pipe);
    double busy = 0;
    for (int i = 0; i < SERVE_WAIT_POLLS && busy < 1; i++) {
        busy = serve_metric(&p, "gemcl_slots_busy");
        usleep(20000);
    }
    ck_assert_msg(busy == 1, "the request never occupied a slot");
    ck_assert_int_eq(serve_stop(&p), 0);
    static char reply[1 << 16];
    size_t n = fread(reply, 1, sizeof reply - 1, pipe);
    reply[n] = '\0';
    pclose(pipe);
    ck_assert_msg(n > 4 && strcmp(reply + n - 4, " 200") == 0, "the request in flight was not finished: %.200s", reply);
    ck_assert_msg(strstr(reply, "\"completion_tokens\":1500"), "%.300s", reply);
}
END_TEST

START_TEST(bad_flags_are_refused_before_anything_starts) {
    char out[4096];
    const char *cases[] = {"serve",
                           "serve -m x --port 70000",
                           "serve -m x --method magic",
                           "serve -m x -np 0",
                           "serve -m x --api-key a --api-key-file b",
                           "serve -m x --bogus 1",
                           "serve -m /nonexistent/model.bin --port 0"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = test_run_cli(cases[i], true, out, sizeof out);
        ck_assert_msg(rc == 1, "'gemcl %s' exited %d: %s", cases[i], rc, out);
        ck_assert_msg(strncmp(out, "gemcl", 5) == 0 || strstr(out, "\ngemcl: "), "%s", out);
    }
}
END_TEST

/* ---- a real chat model ---- */


/* SmolLM2's own template (chatml, from the GGUF) through the server gives what `gemcl run --chat` gives, and
 * generation stops at the template's end of turn. f32 weights: the Q4_1 kernels come with another branch. */
START_TEST(smollm2_chats_in_its_own_template_as_gemcl_run_chat_does) {
    const char *model = test_shared_path(SMOLLM2);
    static char cli[4096], out[1 << 16];
    char args[2048];
    snprintf(args, sizeof args, "run -m %s --dtype f32 --chat -p 'What is the capital of France?' -n 24", model);
    ck_assert_int_eq(test_run_cli(args, false, cli, sizeof cli), 0);
    serve_proc p;
    serve_start_model(&p, model, true, (const char *[]){"--dtype", "f32", "-c", "512", NULL});
    int status = serve_curl(p.dir, "POST", url_of(&p, CHAT),
                            "{\"messages\": [{\"role\": \"user\", \"content\": \"What is the capital of "
                            "France?\"}], \"max_tokens\": 24}",
                            NULL, out, sizeof out);
    ck_assert_msg(status == 200, "%d %s", status, out);
    cJSON *root = cJSON_Parse(out);
    const cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "choices"), 0);
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(choice, "message");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(msg, "content");
    const cJSON *finish = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
    ck_assert_msg(cJSON_IsString(text) && strcmp(text->valuestring, cli) == 0, "server '%s' vs run --chat '%s'",
                  cJSON_IsString(text) ? text->valuestring : "?", cli);
    ck_assert_msg(cJSON_IsString(finish) && strcmp(finish->valuestring, "stop") == 0, "%s", out);
    cJSON_Delete(root);
    ck_assert_int_eq(serve_stop(&p), 0);
}
END_TEST

/* ---- replicas behind nginx ---- */

/* text with every "127.0.0.1:<from>" made "127.0.0.1:<to>", into out (cap bytes). */
static void replace_port(const char *text, int from, int to, char *out, size_t cap) {
    char pat[32], rep[32];
    snprintf(pat, sizeof pat, "127.0.0.1:%d", from);
    snprintf(rep, sizeof rep, "127.0.0.1:%d", to);
    size_t n = 0;
    for (const char *at; (at = strstr(text, pat)) != NULL; text = at + strlen(pat))
        n += (size_t)snprintf(out + n, cap - n, "%.*s%s", (int)(at - text), text, rep);
    snprintf(out + n, cap - n, "%s", text);
    ck_assert_uint_lt(strlen(out) + 1, cap);
}

/* tools/serve/nginx.conf with its ports 8080, 8081, 8082 swapped for lb, a and b, written into dir. */
static void write_nginx_conf(const char *dir, int lb, int a, int b) {
    static char text[1 << 14], swapped[1 << 14];
    char path[512];
    snprintf(path, sizeof path, "%s/tools/serve/nginx.conf", GEMCL_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    replace_port(text, 8080, lb, swapped, sizeof swapped);
    replace_port(swapped, 8081, a, text, sizeof text);
    replace_port(text, 8082, b, swapped, sizeof swapped);
    snprintf(path, sizeof path, "%s/nginx.conf", dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(swapped, f);
    fclose(f);
}

static double requests_served(const serve_proc *p) {
    static char text[1 << 16];
    if (serve_curl(p->dir, "GET", url_of(p, "/metrics"), NULL, NULL, text, sizeof text) != 200)
        return -1;
    const char *at = strstr(text, "gemcl_requests_total{route=\"/v1/chat/completions\",status=\"200\"} ");
    return at ? atof(strchr(at, '}') + 2) : 0;
}

START_TEST(nginx_spreads_over_two_replicas_and_survives_losing_one) {
    serve_proc a, b;
    serve_start(&a, true, NULL);
    serve_start(&b, true, NULL);
    int lb = serve_free_port();
    write_nginx_conf(a.dir, lb, a.port, b.port);
    char conf[512], log[512], nginx_url[64];
    snprintf(conf, sizeof conf, "%s/nginx.conf", a.dir);
    snprintf(log, sizeof log, "%s/nginx.out", a.dir);
    const char *nginx = access("/usr/sbin/nginx", X_OK) == 0 ? "/usr/sbin/nginx" : "nginx";
    const char *argv[] = {nginx, "-p", a.dir, "-c", conf, "-g", "daemon off;", NULL};
    pid_t ng = serve_spawn(argv, log);
    snprintf(nginx_url, sizeof nginx_url, "http://127.0.0.1:%d", lb);
    char out[1024], url[128];
    snprintf(url, sizeof url, "%s/health", nginx_url);
    int status = 0;
    for (int i = 0; i < SERVE_WAIT_POLLS && status != 200; i++) {
        status = serve_curl(a.dir, "GET", url, NULL, NULL, out, sizeof out);
        usleep(100000);
    }
    ck_assert_msg(status == 200, "nginx did not answer /health (log %s)", log);
    int rc = serve_client("replicas", nginx_url);
    double on_a = requests_served(&a), on_b = requests_served(&b);
    ck_assert_msg(rc == 0, "requests through nginx failed");
    ck_assert_msg(on_a > 0 && on_b > 0, "requests were not spread: %g on one replica, %g on the other", on_a, on_b);
    kill(a.pid, SIGKILL); /* one replica dies without a word */
    waitpid(a.pid, NULL, 0);
    a.pid = 0;
    rc = serve_client("replicas", nginx_url);
    ck_assert_msg(rc == 0, "with one replica killed, requests through nginx failed");
    ck_assert_double_gt(requests_served(&b), on_b);
    kill(ng, SIGQUIT);
    waitpid(ng, NULL, 0);
    ck_assert_int_eq(serve_stop(&b), 0);
    serve_remove_dir(a.dir); /* the killed replica's log and nginx's files */
}
END_TEST

/* ---- the suite ---- */

typedef struct serve_case {
    const TTest *test;
    bool needs_python, needs_nginx;
    const char *needs_model; /* a model under ../shared besides stories260K, or NULL */
} serve_case;

Suite *suite_serve(void) {
    Suite *s = suite_create("serve");
    TCase *tc = tcase_create("serve");
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    const serve_case cases[] = {
        {openai_client_chats_streams_completes_and_reads_metrics, true, false, NULL},
        {per_request_gemfilter_reports_kept_prompt_tokens, true, false, NULL},
        {a_shared_prefix_is_taken_from_the_slot_cache, true, false, NULL},
        {eight_clients_on_four_slots_all_get_their_own_replies, true, false, NULL},
        {full_queue_is_503_and_a_cancelled_stream_frees_its_slot, true, false, NULL},
        {every_bad_request_is_a_4xx_with_an_error_object_and_the_server_lives_on, false, false, NULL},
        {api_key_guards_every_route_but_health, false, false, NULL},
        {health_is_503_while_the_model_loads, false, false, SMOLLM2},
        {sigterm_finishes_the_request_in_flight_and_exits_0, false, false, NULL},
        {bad_flags_are_refused_before_anything_starts, false, false, NULL},
        {nginx_spreads_over_two_replicas_and_survives_losing_one, true, true, NULL},
        {smollm2_chats_in_its_own_template_as_gemcl_run_chat_does, false, false, SMOLLM2},
    };
    const char *why_curl, *why_python, *why_nginx;
    bool curl = serve_have_curl(&why_curl), model = serve_model_path() != NULL;
    bool py = serve_have_python_client(&why_python), nginx = serve_have_nginx(&why_nginx);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const serve_case *c = &cases[i];
        const char *why = !model                     ? "models/stories260K/stories260K.bin not found under ../shared"
                          : !curl                    ? why_curl
                          : c->needs_python && !py   ? why_python
                          : c->needs_nginx && !nginx ? why_nginx
                                                     : NULL;
        char missing[256];
        if (!why && c->needs_model && !test_shared_path(c->needs_model)) {
            snprintf(missing, sizeof missing, "%s not found under ../shared", c->needs_model);
            why = missing;
        }
        if (why)
            fprintf(stderr, "SKIP serve/%s: %s\n", c->test->name, why);
        else
            tcase_add_test(tc, c->test);
    }
    suite_add_tcase(s, tc);
    return s;
}
