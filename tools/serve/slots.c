/* slots.c - N slots, each a gemcl_context driven by its own thread, and the bounded queue in front of them.
 *
 * A request goes to an idle slot when there is one, else waits in a FIFO of queue_cap entries; beyond that
 * the handler answers 503. Among idle slots the one whose cache holds the longest prefix of the new prompt
 * wins, so that a conversation's next turn lands where its earlier turns are cached (llama.cpp's slot
 * choice). A slot reuses its cache (cache_prompt) only for a request with the same method settings as the
 * one that filled it: what GemFilter kept for one request is no prefix of another request's full prompt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

struct serve_slot {
    serve_pool *pool;
    int index;
    gemcl_context *ctx;
    pthread_t thread;
    serve_job *job; /* assigned under pool->mu; NULL when idle */
    char *cached;   /* the last prompt + reply, whose KV the context holds; cached_len bytes */
    size_t cached_len;
    gemcl_method_params cached_method;
    uint64_t last_used; /* pool->n_assigned when it last took a job */
};

static size_t common_prefix(const char *a, size_t na, const char *b, size_t nb) {
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i])
        i++;
    return i;
}

/* The idle slot to run job on, or NULL: the longest cached prefix, and among equals the least recently used,
 * so that a new conversation evicts the stalest cache. Called with pool->mu held. */
static serve_slot *best_idle_slot(serve_pool *pool, const serve_job *job) {
    serve_slot *best = NULL;
    size_t best_len = 0;
    for (int i = 0; i < pool->n_slots; i++) {
        serve_slot *s = &pool->slots[i];
        if (s->job)
            continue;
        size_t n = s->cached ? common_prefix(s->cached, s->cached_len, job->prompt, job->prompt_len) : 0;
        if (!best || n > best_len || (n == best_len && s->last_used < best->last_used)) {
            best = s;
            best_len = n;
        }
    }
    return best;
}

static void assign(serve_pool *pool, serve_slot *slot, serve_job *job) {
    slot->job = job;
    slot->last_used = ++pool->n_assigned;
    pool->busy++;
    pthread_cond_broadcast(&pool->cv);
}

int serve_pool_submit(serve_pool *pool, serve_job *job) {
    pthread_mutex_lock(&pool->mu);
    int rc = 0;
    serve_slot *slot = pool->stopping ? NULL : best_idle_slot(pool, job);
    if (pool->stopping || (!slot && pool->q_len == pool->q_cap)) {
        rc = -1;
    } else {
        serve_job_retain(job);
        if (slot)
            assign(pool, slot, job);
        else
            pool->queue[(pool->q_head + pool->q_len++) % pool->q_cap] = job;
    }
    pthread_mutex_unlock(&pool->mu);
    return rc;
}

void serve_pool_gauges(serve_pool *pool, int *busy, int *queue_len) {
    pthread_mutex_lock(&pool->mu);
    *busy = pool->busy;
    *queue_len = pool->q_len;
    pthread_mutex_unlock(&pool->mu);
}

/* Remembers what the context now caches, for the next request's slot choice. */
static void remember(serve_slot *slot, const serve_job *job, const gemcl_result *r, gemcl_status st) {
    free(slot->cached);
    slot->cached = NULL;
    slot->cached_len = 0;
    if (st != GEMCL_OK)
        return; /* the library forgets its cache after a failed call; so do we */
    slot->cached = malloc(job->prompt_len + r->text_len + 1);
    if (!slot->cached)
        return;
    memcpy(slot->cached, job->prompt, job->prompt_len);
    memcpy(slot->cached + job->prompt_len, r->text, r->text_len);
    slot->cached_len = job->prompt_len + r->text_len;
    slot->cached_method = job->g.method;
}

static void run_job(serve_slot *slot, serve_job *job) {
    serve_metrics *m = slot->pool->metrics;
    if (atomic_load(&job->cancelled)) {
        serve_metrics_count_cancel(m);
        serve_job_finish(job, GEMCL_ABORTED, "cancelled before it started", NULL);
        return;
    }
    gemcl_generate_params g = job->g;
    g.on_token = serve_job_on_token;
    g.on_token_user = job;
    g.on_progress = serve_job_on_progress;
    g.on_progress_user = job;
    g.cache_prompt =
        job->cache_allowed && slot->cached && memcmp(&slot->cached_method, &job->g.method, sizeof job->g.method) == 0;
    gemcl_result r;
    gemcl_status st = gemcl_generate(slot->ctx, job->prompt, job->prompt_len, &g, &r);
    remember(slot, job, &r, st);
    if (st == GEMCL_OK) {
        serve_metrics_count_generation(m, &r);
        if (job->ttft_ms >= 0) /* written by this thread's own on_token calls */
            serve_metrics_observe_ttft(m, job->ttft_ms / 1e3);
    }
    /* a client that leaves stops the generation through a callback: on_progress makes it GEMCL_ABORTED,
     * on_token a normal but short end; either way the reply was cut short */
    if (atomic_load(&job->cancelled))
        serve_metrics_count_cancel(m);
    serve_job_finish(job, st, st == GEMCL_OK ? NULL : gemcl_context_last_error(slot->ctx), &r);
    gemcl_result_free(&r);
}

static void *slot_main(void *arg) {
    serve_slot *slot = arg;
    serve_pool *pool = slot->pool;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (!slot->job && !pool->stopping)
            pthread_cond_wait(&pool->cv, &pool->mu);
        if (!slot->job)
            break;
        serve_job *job = slot->job;
        pthread_mutex_unlock(&pool->mu);
        run_job(slot, job);
        serve_job_release(job);
        pthread_mutex_lock(&pool->mu);
        slot->job = NULL;
        pool->busy--;
        if (pool->q_len > 0) { /* every other slot is busy, or the job would not have queued */
            serve_job *next = pool->queue[pool->q_head];
            pool->q_head = (pool->q_head + 1) % pool->q_cap;
            pool->q_len--;
            assign(pool, slot, next);
        }
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

gemcl_status serve_pool_start(serve_pool *pool, gemcl_model *model, const serve_config *cfg, serve_metrics *metrics,
                              char *err, size_t errlen) {
    memset(pool, 0, sizeof *pool);
    pool->metrics = metrics;
    pool->n_slots = cfg->n_slots;
    pool->q_cap = cfg->queue_cap > 0 ? cfg->queue_cap : 1;
    pool->slots = calloc((size_t)pool->n_slots, sizeof *pool->slots);
    pool->queue = calloc((size_t)pool->q_cap, sizeof *pool->queue);
    if (!pool->slots || !pool->queue || pthread_mutex_init(&pool->mu, NULL) || pthread_cond_init(&pool->cv, NULL)) {
        snprintf(err, errlen, "serve: out of host memory for %d slots", pool->n_slots);
        return GEMCL_ERR_OUT_OF_MEMORY;
    }
    gemcl_context_params cp = gemcl_context_default_params();
    cp.n_ctx = cfg->n_ctx;
    cp.n_ubatch = cfg->n_ubatch;
    for (int i = 0; i < pool->n_slots; i++) {
        serve_slot *s = &pool->slots[i];
        *s = (serve_slot){.pool = pool, .index = i};
        gemcl_status st = gemcl_context_create(model, &cp, &s->ctx, err, errlen);
        if (st != GEMCL_OK)
            return st;
        if (pthread_create(&s->thread, NULL, slot_main, s) != 0) {
            snprintf(err, errlen, "serve: cannot start the thread of slot %d", i);
            return GEMCL_ERR_OUT_OF_MEMORY;
        }
        pool->n_started++;
    }
    return GEMCL_OK;
}

void serve_pool_stop(serve_pool *pool) {
    if (!pool->slots)
        return;
    pthread_mutex_lock(&pool->mu);
    pool->stopping = 1;
    while (pool->q_len > 0) {
        serve_job *job = pool->queue[pool->q_head];
        pool->q_head = (pool->q_head + 1) % pool->q_cap;
        pool->q_len--;
        atomic_store(&job->cancelled, 1);
        serve_job_finish(job, GEMCL_ABORTED, "the server is shutting down", NULL);
        serve_job_release(job);
    }
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 0; i < pool->n_started; i++)
        pthread_join(pool->slots[i].thread, NULL);
    for (int i = 0; i < pool->n_slots; i++) {
        gemcl_context_free(pool->slots[i].ctx);
        free(pool->slots[i].cached);
    }
    free(pool->slots);
    free(pool->queue);
    pthread_cond_destroy(&pool->cv);
    pthread_mutex_destroy(&pool->mu);
    memset(pool, 0, sizeof *pool);
}
