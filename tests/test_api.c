/* test_api.c - the public API as a program that links libgemcl sees it (include/gemcl.h only, apart from
 * the harness): contexts that do not disturb each other, memory that returns to where it started, abort
 * and error paths that leave everything usable, token-level calls that agree with gemcl_generate, a shared
 * library that exports only gemcl_*, and the header's example plus tools/examples/generate.c built against
 * the installed pkg-config file. Everything runs on stories260K. */
#define _POSIX_C_SOURCE 200809L
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gemcl.h"
#include "harness.h"

#define STORIES "models/stories260K/stories260K.bin"

/* A prompt of about 90 tokens: longer than an n_ubatch of 8 and than GemFilter budgets used below. */
static const char *long_prompt =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her "
    "friends. One day, she saw a big red ball under a tree. She wanted to play with it, but her mom said it "
    "was time to go home. Lily was sad, but she said goodbye to the ball and";

static const char *short_prompts[] = {"Once upon a time", "The dog ran", "Lily and Tom were", "One day, a bird"};


/* Greedy text of up to max_tokens after prompt; the caller frees it. */
static char *generate_text(gemcl_context *ctx, const char *prompt, int max_tokens, gemcl_method method, int budget) {
    gemcl_generate_params g = gemcl_generate_default_params();
    g.max_tokens = max_tokens;
    g.method.method = method;
    g.method.budget = budget;
    gemcl_result r;
    ck_assert_msg(gemcl_generate(ctx, prompt, strlen(prompt), &g, &r) == GEMCL_OK, "%s", gemcl_context_last_error(ctx));
    char *text = strdup(r.text);
    gemcl_result_free(&r);
    return text;
}

/* The text of ids as a continuation of prev (a SentencePiece tokenizer drops the leading space of a text's
 * first piece, which a continuation keeps): decode prev + ids and drop prev's own text. */
static char *continuation_text(gemcl_model *model, int32_t prev, const int32_t *ids, int n) {
    int32_t *both = malloc((size_t)(n + 1) * sizeof *both);
    both[0] = prev;
    memcpy(both + 1, ids, (size_t)n * sizeof *ids);
    char *all, *head, err[1024];
    size_t all_len, head_len;
    ck_assert_int_eq(gemcl_detokenize(model, both, n + 1, &all, &all_len, err, sizeof err), GEMCL_OK);
    ck_assert_int_eq(gemcl_detokenize(model, both, 1, &head, &head_len, err, sizeof err), GEMCL_OK);
    ck_assert_uint_le(head_len, all_len);
    char *text = strdup(all + head_len);
    gemcl_free(all), gemcl_free(head), free(both);
    return text;
}

static uint64_t device_bytes(const gemcl_context *ctx) {
    gemcl_context_stats s;
    ck_assert_int_eq(gemcl_context_get_stats(ctx, &s), GEMCL_OK);
    return s.device_bytes_current;
}

/* ---- contexts ---------------------------------------------------------------------------------------- */

typedef struct thread_job {
    gemcl_context *ctx;
    const char *prompt;
    char *text[3];
} thread_job;

static void *run_job(void *arg) {
    thread_job *j = arg;
    gemcl_generate_params g = gemcl_generate_default_params();
    g.max_tokens = 40;
    for (int i = 0; i < 3; i++) {
        gemcl_result r;
        if (gemcl_generate(j->ctx, j->prompt, strlen(j->prompt), &g, &r) == GEMCL_OK)
            j->text[i] = strdup(r.text);
        gemcl_result_free(&r);
    }
    return NULL;
}

START_TEST(two_contexts_on_one_model_match_two_separate_runs) {
    const char *prompts[2] = {short_prompts[0], short_prompts[2]};
    char *alone[2];
    for (int i = 0; i < 2; i++) { /* each prompt in a process-like run of its own: own model, own context */
        gemcl_model *model = test_api_load_shared(STORIES);
        if (!model)
            return;
        gemcl_context *ctx = test_api_context(model, 0, 0);
        alone[i] = generate_text(ctx, prompts[i], 40, GEMCL_METHOD_FULL, 0);
        gemcl_context_free(ctx);
        gemcl_model_free(model);
    }
    gemcl_model *model = test_api_load_shared(STORIES);
    gemcl_context *a = test_api_context(model, 0, 0), *b = test_api_context(model, 256, 16);
    char *got_a = generate_text(a, prompts[0], 40, GEMCL_METHOD_FULL, 0);
    char *got_b = generate_text(b, prompts[1], 40, GEMCL_METHOD_FULL, 0);
    ck_assert_str_eq(got_a, alone[0]);
    ck_assert_str_eq(got_b, alone[1]);
    free(got_a), free(got_b);
    /* interleaved token by token: each context keeps its own cache */
    int32_t *ids[2], next[2];
    int n[2];
    char err[1024];
    gemcl_context *ctxs[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(gemcl_tokenize(model, prompts[i], strlen(prompts[i]), -1, 0, &ids[i], &n[i], err, sizeof err),
                         GEMCL_OK);
        ck_assert_int_eq(gemcl_context_reset(ctxs[i]), GEMCL_OK);
        ck_assert_int_eq(gemcl_context_prefill(ctxs[i], ids[i], n[i], &next[i]), GEMCL_OK);
    }
    int32_t out[2][40];
    for (int t = 0; t < 40; t++)
        for (int i = 0; i < 2; i++) {
            out[i][t] = next[i];
            ck_assert_int_eq(gemcl_context_decode(ctxs[i], next[i], &next[i]), GEMCL_OK);
        }
    for (int i = 0; i < 2; i++) {
        int n_out = 0;
        while (n_out < 40 && !gemcl_model_token_is_end(model, out[i][n_out]))
            n_out++;
        char *text = continuation_text(model, ids[i][n[i] - 1], out[i], n_out);
        ck_assert_str_eq(text, alone[i]);
        free(text);
        gemcl_free(ids[i]);
    }
    /* from two threads at once: the model's lock keeps them apart */
    thread_job jobs[2] = {{a, prompts[0], {0}}, {b, prompts[1], {0}}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, run_job, &jobs[i]), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++) {
            ck_assert_ptr_nonnull(jobs[i].text[k]);
            ck_assert_str_eq(jobs[i].text[k], alone[i]);
            free(jobs[i].text[k]);
        }
    gemcl_context_free(a);
    gemcl_context_free(b);
    gemcl_model_free(model);
    free(alone[0]), free(alone[1]);
}
END_TEST

/* Host bytes in use by malloc (0 under sanitizers, whose allocator mallinfo2 does not see; LSan checks
 * those builds instead). */
static size_t host_bytes_in_use(void) {
    return mallinfo2().uordblks;
}

static void generate_once(gemcl_context *ctx, int i) {
    gemcl_generate_params g = gemcl_generate_default_params();
    const char *p = i % 5 == 4 ? long_prompt : short_prompts[i % 4];
    g.max_tokens = 6 + i % 3;
    if (i % 2) { /* every other call compresses, so GemFilter's buffers and kept indices come and go too */
        g.method.method = GEMCL_METHOD_GEMFILTER;
        g.method.budget = 4;
    }
    if (i % 3 == 0) {
        g.temperature = 0.8f;
        g.seed = (uint64_t)i + 1;
    }
    gemcl_result r;
    ck_assert_msg(gemcl_generate(ctx, p, strlen(p), &g, &r) == GEMCL_OK, "%s", gemcl_context_last_error(ctx));
    gemcl_result_free(&r);
}

START_TEST(two_hundred_generations_leave_device_and_host_memory_where_they_started) {
    gemcl_model *model = test_api_load_shared(STORIES);
    if (!model)
        return;
    gemcl_context_stats s0;
    gemcl_context *ctx = test_api_context(model, 0, 0);
    ck_assert_int_eq(gemcl_context_get_stats(ctx, &s0), GEMCL_OK);
    ck_assert_uint_ge(s0.device_bytes_current, s0.weight_bytes + s0.context_bytes);
    /* warm-up: generate_once cycles through 30 request shapes; one cycle builds every kernel and grows the
     * lazily allocated KV cache to the largest of them, and more let PoCL's own host caches (it keeps
     * per-launch-size state) settle; from then on nothing of ours may grow */
    for (int i = 0; i < 200; i++)
        generate_once(ctx, i);
    uint64_t device_before = device_bytes(ctx);
    size_t host_before = host_bytes_in_use();
    /* the model's own bytes: weights, the engine's small buffers and the op registry's scratch, which the
     * first long decode allocates (so measured after the warm-up) */
    ck_assert_int_eq(gemcl_context_get_stats(ctx, &s0), GEMCL_OK);
    uint64_t model_own = s0.device_bytes_current - s0.context_bytes;
    for (int i = 0; i < 200; i++)
        generate_once(ctx, i);
    uint64_t device_after = device_bytes(ctx);
    size_t host_after = host_bytes_in_use();
    ck_assert_uint_eq(device_after, device_before);
    /* Leaking the result text (a block of >= 256 bytes a call) would add 50 KiB; PoCL's own caches still
     * move by 5-8 KiB after warm-up. The exact check is the ASan/LSan run of this suite (README). */
    ck_assert_msg(host_after <= host_before + 32768, "host bytes grew from %zu to %zu over 200 generations",
                  host_before, host_after);
    gemcl_context_stats s;
    ck_assert_int_eq(gemcl_context_get_stats(ctx, &s), GEMCL_OK);
    ck_assert_int_eq(s.n_generate_calls, 400);
    ck_assert_uint_ge(s.device_bytes_peak, s.device_bytes_current);
    ck_assert_uint_eq(s.device_bytes_current, model_own + s.context_bytes); /* the cache grew; nothing else */
    gemcl_context_free(ctx);
    /* a second context created and freed 50 times gives every byte back */
    gemcl_context *keep = test_api_context(model, 0, 0);
    uint64_t with_one = device_bytes(keep);
    for (int i = 0; i < 50; i++) {
        gemcl_context *c = test_api_context(model, 128, 8);
        generate_once(c, i);
        gemcl_context_free(c);
    }
    ck_assert_uint_eq(device_bytes(keep), with_one);
    gemcl_context_free(keep);
    gemcl_model_free(model);
}
END_TEST

/* ---- abort and errors -------------------------------------------------------------------------------- */

typedef struct abort_state {
    int calls;
    int abort_at; /* abort on this call (1-based) */
    int64_t last_done, last_total;
} abort_state;

static int abort_progress(int64_t done, int64_t total, void *user) {
    abort_state *a = user;
    a->calls++;
    a->last_done = done;
    a->last_total = total;
    return a->calls >= a->abort_at;
}

START_TEST(abort_from_progress_returns_aborted_and_the_context_stays_usable) {
    gemcl_model *model = test_api_load_shared(STORIES);
    if (!model)
        return;
    gemcl_context *ctx = test_api_context(model, 0, 8);
    char *want = generate_text(ctx, long_prompt, 20, GEMCL_METHOD_FULL, 0);
    const gemcl_method methods[2] = {GEMCL_METHOD_FULL, GEMCL_METHOD_GEMFILTER};
    abort_state st;
    for (int m = 0; m < 2; m++) {
        st = (abort_state){0, 2, 0, 0};
        gemcl_generate_params g = gemcl_generate_default_params();
        g.max_tokens = 20;
        g.method.method = methods[m];
        g.method.budget = 16;
        g.on_progress = abort_progress;
        g.on_progress_user = &st;
        gemcl_result r;
        ck_assert_int_eq(gemcl_generate(ctx, long_prompt, strlen(long_prompt), &g, &r), GEMCL_ABORTED);
        ck_assert_int_eq(st.calls, 2);
        ck_assert(st.last_done < st.last_total);
        ck_assert_ptr_null(r.text);
        ck_assert_ptr_nonnull(strstr(gemcl_context_last_error(ctx), "abort"));
        gemcl_result_free(&r);
        /* the same context, no callback: the same answer as before the abort */
        char *again = generate_text(ctx, long_prompt, 20, GEMCL_METHOD_FULL, 0);
        ck_assert_str_eq(again, want);
        ck_assert_str_eq(gemcl_context_last_error(ctx), "");
        free(again);
    }
    /* the callback belonged to the aborted call: token-level prefill in chunks of 8 never sees it */
    int calls = st.calls;
    int32_t *ids, next;
    int n;
    char err[1024];
    ck_assert_int_eq(gemcl_tokenize(model, long_prompt, strlen(long_prompt), -1, 0, &ids, &n, err, sizeof err),
                     GEMCL_OK);
    ck_assert_int_gt(n, 16);
    ck_assert_int_eq(gemcl_context_prefill(ctx, ids, n, &next), GEMCL_OK);
    ck_assert_int_eq(st.calls, calls);
    gemcl_free(ids);
    free(want);
    gemcl_context_free(ctx);
    gemcl_model_free(model);
}
END_TEST

static void expect_generate_error(gemcl_context *ctx, const gemcl_generate_params *g, const char *prompt,
                                  gemcl_status want, const char *in_message) {
    gemcl_result r;
    uint64_t before = device_bytes(ctx);
    gemcl_status st = gemcl_generate(ctx, prompt, strlen(prompt), g, &r);
    ck_assert_msg(st == want, "got %s, want %s (%s)", gemcl_status_str(st), gemcl_status_str(want),
                  gemcl_context_last_error(ctx));
    ck_assert_msg(strstr(gemcl_context_last_error(ctx), in_message), "message '%s' lacks '%s'",
                  gemcl_context_last_error(ctx), in_message);
    ck_assert_ptr_null(r.text);
    ck_assert_ptr_null(r.kept_indices);
    gemcl_result_free(&r);
    ck_assert_uint_eq(device_bytes(ctx), before);
}

START_TEST(every_error_path_returns_its_status_and_a_message) {
    char err[4096] = "";
    gemcl_model *model = (gemcl_model *)1;
    ck_assert_int_eq(gemcl_model_load("/nonexistent/model.bin", NULL, &model, err, sizeof err), GEMCL_ERR_IO);
    ck_assert_ptr_null(model);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/model.bin"));
    ck_assert_int_eq(gemcl_model_load(NULL, NULL, &model, err, sizeof err), GEMCL_ERR_INVALID_ARG);
    gemcl_model_params mp = gemcl_model_default_params();
    mp.device = "no-such-device-anywhere";
    const char *path = test_shared_path(STORIES);
    if (test_skip_if_missing(path, STORIES))
        return;
    ck_assert_int_eq(gemcl_model_load(path, &mp, &model, err, sizeof err), GEMCL_ERR_NOT_FOUND);
    ck_assert_ptr_null(model);
    ck_assert_ptr_nonnull(strstr(err, "no-such-device-anywhere"));

    model = test_api_load_shared(STORIES);
    gemcl_context *ctx = (gemcl_context *)1;
    gemcl_context_params cp = gemcl_context_default_params();
    cp.n_ctx = -1;
    ck_assert_int_eq(gemcl_context_create(model, &cp, &ctx, err, sizeof err), GEMCL_ERR_INVALID_ARG);
    ck_assert_ptr_null(ctx);
    ck_assert_ptr_nonnull(strstr(err, "n_ctx"));
    ck_assert_int_eq(gemcl_context_create(NULL, NULL, &ctx, err, sizeof err), GEMCL_ERR_INVALID_ARG);

    /* allocation refused: a context whose per-layer K buffer is above the device's largest allocation */
    gemcl_context *probe = test_api_context(model, 16, 8);
    uint64_t before = device_bytes(probe);
    gemcl_device_info devs[64];
    int n_dev = 0, dev = 0;
    ck_assert_int_eq(gemcl_devices_list(devs, 64, &n_dev, &dev, err, sizeof err), GEMCL_OK);
    gemcl_model_info info;
    ck_assert_int_eq(gemcl_model_get_info(model, &info), GEMCL_OK);
    uint64_t kv_row = (uint64_t)info.n_kv_heads * (uint64_t)info.head_dim * 4;
    uint64_t too_many = devs[dev].max_alloc_bytes / kv_row + 1; /* GEMCL_DEVICE may pick another: see below */
    for (int i = 0; i < n_dev && i < 64; i++)
        if (strcmp(devs[i].name, info.device_name) == 0)
            too_many = devs[i].max_alloc_bytes / kv_row + 1;
    if (too_many <= 0x7fffffff) {
        cp.n_ctx = (int)too_many;
        ck_assert_int_eq(gemcl_context_create(model, &cp, &ctx, err, sizeof err), GEMCL_ERR_OUT_OF_MEMORY);
        ck_assert_ptr_null(ctx);
        ck_assert_ptr_nonnull(strstr(err, "largest allocation"));
    } else {
        test_skip("the device's largest allocation holds more than 2^31 KV rows");
    }
    cp.n_ctx = 64;
    cp.n_ubatch = 0x7fffffff; /* clamped to n_ctx: fine */
    ck_assert_int_eq(gemcl_context_create(model, &cp, &ctx, err, sizeof err), GEMCL_OK);
    gemcl_context_free(ctx);
    ck_assert_uint_eq(device_bytes(probe), before);

    /* bad generate params, each named in the message */
    ctx = test_api_context(model, 32, 8);
    gemcl_generate_params g = gemcl_generate_default_params();
    g.max_tokens = -1;
    expect_generate_error(ctx, &g, "Once", GEMCL_ERR_INVALID_ARG, "max_tokens");
    g = gemcl_generate_default_params();
    g.top_p = 1.5f;
    expect_generate_error(ctx, &g, "Once", GEMCL_ERR_INVALID_ARG, "top_p");
    g = gemcl_generate_default_params();
    g.n_stop = 1;
    expect_generate_error(ctx, &g, "Once", GEMCL_ERR_INVALID_ARG, "stop");
    g = gemcl_generate_default_params();
    g.method.method = GEMCL_METHOD_GEMFILTER;
    g.method.filter_layer = 99;
    expect_generate_error(ctx, &g, long_prompt, GEMCL_ERR_INVALID_ARG, "filter layer 99");
    g = gemcl_generate_default_params();
    g.method.method = (gemcl_method)1234;
    expect_generate_error(ctx, &g, "Once", GEMCL_ERR_INVALID_ARG, "method");
    g = gemcl_generate_default_params();
    g.add_bos = 0;
    expect_generate_error(ctx, &g, "", GEMCL_ERR_INVALID_ARG, "empty");
    /* prompt too long for a 32-row context */
    g = gemcl_generate_default_params();
    expect_generate_error(ctx, &g, long_prompt, GEMCL_ERR_CONTEXT_FULL, "context");
    gemcl_result r;
    ck_assert_int_eq(gemcl_generate(NULL, "x", 1, &g, &r), GEMCL_ERR_INVALID_ARG);
    ck_assert_int_eq(gemcl_generate(ctx, "x", 1, &g, NULL), GEMCL_ERR_INVALID_ARG);
    /* ... and the context still works */
    free(generate_text(ctx, "Once", 4, GEMCL_METHOD_FULL, 0));
    ck_assert_str_eq(gemcl_context_last_error(ctx), "");

    /* token-level errors leave the cache as it was */
    float logits[512];
    ck_assert_int_eq(gemcl_context_reset(ctx), GEMCL_OK);
    ck_assert_int_eq(gemcl_context_logits(ctx, logits, 512), GEMCL_ERR_NOT_FOUND);
    int32_t ids[3] = {1, 100000, 5}, next;
    ck_assert_int_eq(gemcl_context_prefill(ctx, ids, 3, &next), GEMCL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(gemcl_context_last_error(ctx), "100000"));
    ck_assert_int_eq(gemcl_context_prefill(ctx, ids, 0, &next), GEMCL_ERR_INVALID_ARG);
    ck_assert_int_eq(gemcl_context_prefill(ctx, ids, 1, &next), GEMCL_OK);
    ck_assert_int_eq(gemcl_context_logits(ctx, logits, 511), GEMCL_ERR_INVALID_ARG);
    int32_t many[40];
    for (int i = 0; i < 40; i++)
        many[i] = 3 + i;
    ck_assert_int_eq(gemcl_context_prefill(ctx, many, 40, &next), GEMCL_ERR_CONTEXT_FULL);
    gemcl_context_stats s;
    ck_assert_int_eq(gemcl_context_get_stats(ctx, &s), GEMCL_OK);
    ck_assert_int_eq(s.n_past, 1);
    ck_assert_int_eq(gemcl_context_decode(ctx, -1, &next), GEMCL_ERR_INVALID_ARG);
    ck_assert_int_eq(gemcl_context_prefill(ctx, many, 31, &next), GEMCL_OK);
    ck_assert_int_eq(gemcl_context_decode(ctx, next, &next), GEMCL_ERR_CONTEXT_FULL);
    ck_assert_int_eq(gemcl_context_prefill(NULL, ids, 1, &next), GEMCL_ERR_INVALID_ARG);
    ck_assert_int_eq(gemcl_context_get_stats(NULL, &s), GEMCL_ERR_INVALID_ARG);
    gemcl_context_free(ctx);

    /* host-only entry points */
    gemcl_model_info fi;
    ck_assert_int_eq(gemcl_model_file_inspect("/nonexistent", NULL, &fi, err, sizeof err), GEMCL_ERR_IO);
    ck_assert_int_eq(gemcl_convert(path, "/nonexistent/dir/out.gguf", GEMCL_CONVERT_FORMAT_GGUF, GEMCL_WEIGHT_DTYPE_F32,
                                   err, sizeof err),
                     GEMCL_ERR_IO);
    ck_assert_int_eq(gemcl_convert(path, "x", (gemcl_convert_format)7, GEMCL_WEIGHT_DTYPE_F32, err, sizeof err),
                     GEMCL_ERR_INVALID_ARG);
    ck_assert_int_eq(gemcl_gen_model("no-such-card", 1, GEMCL_WEIGHT_DTYPE_F32, NULL, "x", err, sizeof err),
                     GEMCL_ERR_NOT_FOUND);
    ck_assert_int_eq(gemcl_gen_model("stories260K", 1, GEMCL_WEIGHT_DTYPE_Q8_0, NULL, "x", err, sizeof err),
                     GEMCL_ERR_INVALID_ARG);
    gemcl_tokenizer *tok = (gemcl_tokenizer *)1;
    ck_assert_int_eq(gemcl_tokenizer_load("/nonexistent/tok.json", 0, &tok, err, sizeof err), GEMCL_ERR_IO);
    ck_assert_ptr_null(tok);
    gemcl_weight_dtype wd = GEMCL_WEIGHT_DTYPE_F16;
    ck_assert_int_eq(gemcl_weight_dtype_from_name("f8", &wd), GEMCL_ERR_NOT_FOUND);
    ck_assert_int_eq(wd, GEMCL_WEIGHT_DTYPE_F16);
    gemcl_context_free(probe);
    gemcl_model_free(model);
}
END_TEST

/* ---- token-level calls ------------------------------------------------------------------------------- */

START_TEST(token_level_calls_reproduce_generate_greedy_output) {
    gemcl_model *model = test_api_load_shared(STORIES);
    if (!model)
        return;
    gemcl_context *ctx = test_api_context(model, 0, 16);
    gemcl_generate_params g = gemcl_generate_default_params();
    g.max_tokens = 60;
    gemcl_result r;
    ck_assert_int_eq(gemcl_generate(ctx, long_prompt, strlen(long_prompt), &g, &r), GEMCL_OK);

    char err[1024];
    int32_t *ids, gen[60], next;
    int n, n_gen = 0, n_decoded = 0;
    ck_assert_int_eq(gemcl_tokenize(model, long_prompt, strlen(long_prompt), -1, 0, &ids, &n, err, sizeof err),
                     GEMCL_OK);
    ck_assert_int_eq(n, r.n_prompt_tokens);
    ck_assert_int_eq(gemcl_context_reset(ctx), GEMCL_OK);
    ck_assert_int_eq(gemcl_context_prefill(ctx, ids, n, &next), GEMCL_OK);
    float *logits = malloc(512 * sizeof *logits);
    while (n_gen < g.max_tokens && !gemcl_model_token_is_end(model, next)) {
        /* the greedy id is the argmax of the logits, read only when asked */
        ck_assert_int_eq(gemcl_context_logits(ctx, logits, 512), GEMCL_OK);
        int best = 0;
        for (int v = 1; v < 512; v++)
            if (logits[v] > logits[best])
                best = v;
        ck_assert_int_eq(best, next);
        gen[n_gen++] = next;
        if (n_gen < g.max_tokens) {
            ck_assert_int_eq(gemcl_context_decode(ctx, next, &next), GEMCL_OK);
            n_decoded++;
        }
    }
    ck_assert_int_eq(n_gen, r.n_generated);
    char *text = continuation_text(model, ids[n - 1], gen, n_gen);
    ck_assert_str_eq(text, r.text);
    gemcl_context_stats s;
    ck_assert_int_eq(gemcl_context_get_stats(ctx, &s), GEMCL_OK);
    ck_assert_int_eq(s.n_past, n + n_decoded);
    ck_assert_uint_eq(s.kv_bytes_used, (uint64_t)s.n_past * 4 * 8 * 4 * 2 * 5); /* kv_dim 32, 5 layers */
    ck_assert_int_eq(s.n_generate_calls, 1);
    ck_assert_int_eq(s.n_prefill_tokens, 2 * n);
    free(text);
    free(logits);
    gemcl_free(ids);
    gemcl_result_free(&r);
    gemcl_context_free(ctx);
    gemcl_model_free(model);
}
END_TEST

START_TEST(gemfilter_kept_ids_and_text_are_the_selected_prompt_tokens) {
    gemcl_model *model = test_api_load_shared(STORIES);
    if (!model)
        return;
    gemcl_context *ctx = test_api_context(model, 0, 0);
    const int32_t *kept;
    int n_kept;
    ck_assert_int_eq(gemcl_context_kept_ids(ctx, &kept, &n_kept), GEMCL_OK);
    ck_assert_int_eq(n_kept, 0);
    char *none;
    size_t none_len = 1;
    ck_assert_int_eq(gemcl_context_kept_text(ctx, &none, &none_len), GEMCL_OK);
    ck_assert_uint_eq(none_len, 0);
    ck_assert_str_eq(none, "");
    gemcl_free(none);
    gemcl_generate_params g = gemcl_generate_default_params();
    g.max_tokens = 8;
    g.method.method = GEMCL_METHOD_GEMFILTER;
    g.method.budget = 12;
    gemcl_result r;
    ck_assert_int_eq(gemcl_generate(ctx, long_prompt, strlen(long_prompt), &g, &r), GEMCL_OK);
    ck_assert_int_eq(r.n_kept_tokens, 12);
    ck_assert_int_eq(gemcl_context_kept_ids(ctx, &kept, &n_kept), GEMCL_OK);
    ck_assert_int_eq(n_kept, 12);
    char err[1024];
    int32_t *ids;
    int n;
    ck_assert_int_eq(gemcl_tokenize(model, long_prompt, strlen(long_prompt), -1, 0, &ids, &n, err, sizeof err),
                     GEMCL_OK);
    for (int i = 0; i < n_kept; i++) {
        ck_assert(i == 0 || r.kept_indices[i] > r.kept_indices[i - 1]);
        ck_assert_int_eq(kept[i], ids[r.kept_indices[i]]);
    }
    char *text, *want;
    size_t len, want_len;
    ck_assert_int_eq(gemcl_context_kept_text(ctx, &text, &len), GEMCL_OK);
    ck_assert_int_eq(gemcl_detokenize(model, kept, n_kept, &want, &want_len, err, sizeof err), GEMCL_OK);
    ck_assert_uint_eq(len, want_len);
    ck_assert_str_eq(text, want);
    gemcl_free(text), gemcl_free(want), gemcl_free(ids);
    gemcl_result_free(&r);
    gemcl_context_free(ctx);
    gemcl_model_free(model);
}
END_TEST

START_TEST(kept_ids_follow_every_methods_report) {
    gemcl_model *model = test_api_load_shared(STORIES);
    if (!model)
        return;
    gemcl_context *ctx = test_api_context(model, 0, 16);
    char err[1024];
    int32_t *ids;
    int n;
    ck_assert_int_eq(gemcl_tokenize(model, long_prompt, strlen(long_prompt), -1, 0, &ids, &n, err, sizeof err), GEMCL_OK);
    for (int m = 0; m < GEMCL_METHOD_COUNT_; m++) {
        gemcl_generate_params g = gemcl_generate_default_params();
        g.max_tokens = 8;
        g.method.method = (gemcl_method)m;
        g.method.budget = 48;
        gemcl_result r;
        ck_assert_msg(gemcl_generate(ctx, long_prompt, strlen(long_prompt), &g, &r) == GEMCL_OK, "%s: %s",
                      gemcl_method_name((gemcl_method)m), gemcl_context_last_error(ctx));
        const int32_t *kept;
        int n_kept;
        ck_assert_int_eq(gemcl_context_kept_ids(ctx, &kept, &n_kept), GEMCL_OK);
        if (r.kept_indices) { /* one list of prompt positions: the ids at them */
            ck_assert_int_eq(n_kept, r.n_kept_tokens);
            for (int i = 0; i < n_kept; i++)
                ck_assert_int_eq(kept[i], ids[r.kept_indices[i]]);
        } else if (r.n_kept_tokens == r.n_prompt_tokens) { /* the whole prompt */
            ck_assert_int_eq(n_kept, n);
            ck_assert_mem_eq(kept, ids, (size_t)n * sizeof *ids);
        } else { /* per KV head: no single list */
            ck_assert_int_eq(n_kept, 0);
        }
        gemcl_context_stats s;
        ck_assert_int_eq(gemcl_context_get_stats(ctx, &s), GEMCL_OK);
        ck_assert_int_eq(s.n_generate_calls, m + 1);
        gemcl_result_free(&r);
    }
    gemcl_free(ids);
    gemcl_context_free(ctx);
    gemcl_model_free(model);
}
END_TEST

/* ---- the library as others link it ----------------------------------------------------------------- */

/* Runs a shell command; returns its exit status and up to cap-1 bytes of its stdout in out. */
static int run_cmd(const char *cmd, char *out, size_t cap) {
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    while (fgetc(p) != EOF) {
    }
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool have_tool(const char *name) {
    char cmd[256], out[256];
    snprintf(cmd, sizeof cmd, "command -v %s", name);
    if (run_cmd(cmd, out, sizeof out) == 0)
        return true;
    test_skip("%s not found on PATH", name);
    return false;
}

START_TEST(shared_library_exports_only_gemcl_symbols) {
    if (!have_tool("nm"))
        return;
    static char out[1 << 16];
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s/libgemcl.so' | awk '{print $3}'", test_build_dir());
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 0);
    int n = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), n++)
        ck_assert_msg(strncmp(line, "gemcl_", 6) == 0, "libgemcl.so exports '%s'", line);
    ck_assert_int_gt(n, 40);
}
END_TEST

/* The code block of gemcl.h's opening comment (after "Example:"), as a C file in dir. */
static void write_header_example(const char *dir) {
    char path[4096], line[1024];
    FILE *h = fopen(GEMCL_SOURCE_DIR "/include/gemcl.h", "r");
    ck_assert_ptr_nonnull(h);
    snprintf(path, sizeof path, "%s/header_example.c", dir);
    FILE *c = fopen(path, "w");
    ck_assert_ptr_nonnull(c);
    bool in_example = false;
    int n = 0;
    while (fgets(line, sizeof line, h) && strncmp(line, " */", 3) != 0) {
        if (strstr(line, " * Example:"))
            in_example = true;
        else if (in_example && strncmp(line, " *     ", 7) == 0)
            fputs(line + 7, c), n++;
    }
    fclose(h);
    fclose(c);
    ck_assert_int_gt(n, 20);
}

START_TEST(header_example_and_tools_example_build_against_installed_pkgconfig) {
    const char *model = test_shared_path(STORIES);
    if (test_skip_if_missing(model, STORIES) || !have_tool("cc") || !have_tool("pkg-config") || !have_tool("meson"))
        return;
    char dir[] = "/tmp/gemcl-api-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    static char out[1 << 16];
    char cmd[32768];
    snprintf(cmd, sizeof cmd,
             "meson install -C '%s' --destdir '%s/root' --no-rebuild --quiet >/dev/null 2>&1 && "
             "dirname \"$(find '%s/root' -name gemcl.pc | head -n 1)\"",
             test_build_dir(), dir, dir);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 0);
    char pcdir[4096];
    snprintf(pcdir, sizeof pcdir, "%.*s", (int)strcspn(out, "\n"), out);
    ck_assert_msg(strstr(pcdir, "pkgconfig"), "no gemcl.pc installed under %s/root (%s)", dir, pcdir);
    char env[16384];
    /* the installed library first, then whatever the caller's environment has on the path (an OpenCL
     * runtime's own libraries: Intel's CPU runtime needs libimf, libsvml, ...); OCL_ICD_VENDORS and
     * GEMCL_DEVICE are inherited as they are */
    snprintf(env, sizeof env,
             "PKG_CONFIG_PATH='%s' PKG_CONFIG_SYSROOT_DIR='%s/root' "
             "LD_LIBRARY_PATH='%s/..'${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}",
             pcdir, dir, pcdir);
    snprintf(cmd, sizeof cmd, "%s pkg-config --modversion gemcl", env);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 0);
    ck_assert_str_eq(out, GEMCL_VERSION_STRING "\n");
    snprintf(cmd, sizeof cmd,
             "test -f '%s/root/usr/local/include/gemcl.h' -o -n \"$(find '%s/root' -name gemcl.h)\" "
             "&& test -n \"$(find '%s/root' -name 'libgemcl.a')\" && test -x \"$(find '%s/root' -path '*bin/gemcl')\"",
             dir, dir, dir, dir);
    ck_assert_msg(run_cmd(cmd, out, sizeof out) == 0, "install lacks gemcl.h, libgemcl.a or bin/gemcl");
    snprintf(cmd, sizeof cmd, "\"$(find '%s/root' -path '*bin/gemcl')\" --version", dir);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "gemcl " GEMCL_VERSION_STRING));
    /* the installed program runs on the device this process runs on (the same platforms, the same choice) */
    gemcl_device_info devs[64];
    int n_dev = 0, chosen = -1;
    char err[1024];
    ck_assert_int_eq(gemcl_devices_list(devs, 64, &n_dev, NULL, err, sizeof err), GEMCL_OK);
    ck_assert_msg(gemcl_device_choose(NULL, &chosen, err, sizeof err) == GEMCL_OK, "%s", err);
    ck_assert_int_lt(chosen, 64);
    char want[1024];
    snprintf(want, sizeof want, "gemcl uses device %d: %s (%s)\n", chosen, devs[chosen].name,
             devs[chosen].platform_name);
    snprintf(cmd, sizeof cmd, "%s \"$(find '%s/root' -path '*bin/gemcl')\" devices 2>&1 | tail -n 1", env, dir);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 0);
    ck_assert_str_eq(out, want);

    write_header_example(dir);
    /* a sanitized libgemcl needs the sanitizer runtime in the program too */
#ifdef __SANITIZE_ADDRESS__
    const char *san = "-fsanitize=address,undefined";
#else
    const char *san = "";
#endif
    const char *sources[2][2] = {{"header_example", "%s/header_example.c"},
                                 {"generate", GEMCL_SOURCE_DIR "/tools/examples/generate.c"}};
    for (int i = 0; i < 2; i++) {
        char src[4096];
        snprintf(src, sizeof src, sources[i][1], dir);
        snprintf(cmd, sizeof cmd,
                 "%s sh -c 'cc -std=c11 -Wall -Wextra -Werror %s \"%s\" -o \"%s/%s\" "
                 "$(pkg-config --cflags --libs gemcl)' 2>&1",
                 env, san, src, dir, sources[i][0]);
        ck_assert_msg(run_cmd(cmd, out, sizeof out) == 0, "building %s failed:\n%s", sources[i][0], out);
    }
    snprintf(cmd, sizeof cmd, "%s '%s/header_example' '%s' 'Once upon a time' 2>&1", env, dir, model);
    ck_assert_msg(run_cmd(cmd, out, sizeof out) == 0, "header example failed:\n%s", out);
    ck_assert_ptr_nonnull(strstr(out, "[32 tokens]"));
    snprintf(cmd, sizeof cmd, "%s '%s/generate' '%s' '%s' 8 16 2>&1", env, dir, model, long_prompt);
    ck_assert_msg(run_cmd(cmd, out, sizeof out) == 0, "generate example failed:\n%s", out);
    ck_assert_ptr_nonnull(strstr(out, "kept 8 of"));
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 0);
}
END_TEST

START_TEST(host_only_entry_points_describe_convert_and_tokenize) {
    const char *path = test_shared_path(STORIES);
    const char *tok_rel = "models/stories260K/tok512.bin";
    const char *tok_path = test_shared_path(tok_rel);
    if (test_skip_if_missing(path, STORIES) || test_skip_if_missing(tok_path, tok_rel))
        return;
    char err[4096];
    gemcl_model_info info;
    ck_assert_int_eq(gemcl_model_file_inspect(path, NULL, &info, err, sizeof err), GEMCL_OK);
    ck_assert_int_eq(info.n_params, 260032);
    ck_assert_int_eq(info.n_layers, 5);
    ck_assert_str_eq(info.device_name, "");
    ck_assert_str_eq(info.format, "llama2c");
    gemcl_tokenizer *tok;
    ck_assert_int_eq(gemcl_tokenizer_load(tok_path, 0, &tok, err, sizeof err), GEMCL_OK);
    ck_assert_int_eq(gemcl_tokenizer_n_vocab(tok), 512);
    int32_t *ids;
    int n;
    const char *text = "Hello world";
    ck_assert_int_eq(gemcl_tokenizer_encode(tok, text, strlen(text), 1, 0, &ids, &n, err, sizeof err), GEMCL_OK);
    ck_assert_int_eq(ids[0], gemcl_tokenizer_bos(tok));
    size_t plen;
    const char *piece = gemcl_tokenizer_piece(tok, ids[1], &plen);
    ck_assert_ptr_nonnull(piece);
    ck_assert_ptr_null(gemcl_tokenizer_piece(tok, 512, &plen));
    char *back;
    size_t len;
    ck_assert_int_eq(gemcl_tokenizer_decode(tok, ids + 1, n - 1, &back, &len, err, sizeof err), GEMCL_OK);
    ck_assert_str_eq(back, text);
    gemcl_free(back), gemcl_free(ids);
    gemcl_tokenizer_free(tok);
    char dir[] = "/tmp/gemcl-api-XXXXXX", out[4096];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/m.gguf", dir);
    ck_assert_msg(gemcl_convert(path, out, GEMCL_CONVERT_FORMAT_GGUF, GEMCL_WEIGHT_DTYPE_F16, err, sizeof err) ==
                      GEMCL_OK,
                  "%s", err);
    ck_assert_int_eq(gemcl_model_file_inspect(out, NULL, &info, err, sizeof err), GEMCL_OK);
    ck_assert_str_eq(info.format, "gguf");
    remove(out);
    snprintf(out, sizeof out, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(out), 0);
}
END_TEST

/* gemcl_time_us is the library's monotonic clock in microseconds: it never goes back, and a 20 ms sleep moves it
 * by at least 20000 (and, on any sane scheduler, by less than 10 s). */
START_TEST(time_us_is_monotonic_microseconds) {
    int64_t t0 = gemcl_time_us(), prev = t0;
    for (int i = 0; i < 1000; i++) {
        int64_t t = gemcl_time_us();
        ck_assert_int_ge(t, prev);
        prev = t;
    }
    usleep(20000);
    int64_t dt = gemcl_time_us() - t0;
    ck_assert_int_ge(dt, 20000);
    ck_assert_int_lt(dt, 10 * 1000 * 1000);
}
END_TEST

Suite *suite_api(void) {
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, two_contexts_on_one_model_match_two_separate_runs);
    tcase_add_test(tc, two_hundred_generations_leave_device_and_host_memory_where_they_started);
    tcase_add_test(tc, abort_from_progress_returns_aborted_and_the_context_stays_usable);
    tcase_add_test(tc, every_error_path_returns_its_status_and_a_message);
    tcase_add_test(tc, token_level_calls_reproduce_generate_greedy_output);
    tcase_add_test(tc, gemfilter_kept_ids_and_text_are_the_selected_prompt_tokens);
    tcase_add_test(tc, kept_ids_follow_every_methods_report);
    tcase_add_test(tc, shared_library_exports_only_gemcl_symbols);
    tcase_add_test(tc, header_example_and_tools_example_build_against_installed_pkgconfig);
    tcase_add_test(tc, host_only_entry_points_describe_convert_and_tokenize);
    tcase_add_test(tc, time_us_is_monotonic_microseconds);
    suite_add_tcase(s, tc);
    return s;
}
