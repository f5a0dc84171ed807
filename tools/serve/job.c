/* job.c - one generation, shared by the HTTP handler that made it and the slot thread that runs it.
 *
 * The slot's callbacks append text to `pending` and wake the handler; the handler (or its SSE reader) takes
 * it. Both sides hold a reference, so a client that goes away mid-generation only sets `cancelled`: the
 * slot's next callback returns non-zero, gemcl_generate stops, and the last reference frees the job. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve.h"

serve_job *serve_job_create(serve_job_kind kind) {
    serve_job *job = calloc(1, sizeof *job);
    if (!job)
        return NULL;
    if (pthread_mutex_init(&job->mu, NULL) != 0) {
        free(job);
        return NULL;
    }
    if (pthread_cond_init(&job->cv, NULL) != 0) {
        pthread_mutex_destroy(&job->mu);
        free(job);
        return NULL;
    }
    job->kind = kind;
    job->refs = 1;
    job->ttft_ms = -1;
    job->g = gemcl_generate_default_params();
    atomic_init(&job->cancelled, 0);
    return job;
}

void serve_job_retain(serve_job *job) {
    pthread_mutex_lock(&job->mu);
    job->refs++;
    pthread_mutex_unlock(&job->mu);
}

void serve_job_release(serve_job *job) {
    if (!job)
        return;
    pthread_mutex_lock(&job->mu);
    int left = --job->refs;
    pthread_mutex_unlock(&job->mu);
    if (left > 0)
        return;
    for (int i = 0; i < job->g.n_stop; i++)
        free(job->stop[i]);
    free(job->stop);
    free(job->prompt);
    free(job->pending);
    gemcl_result_free(&job->result);
    pthread_cond_destroy(&job->cv);
    pthread_mutex_destroy(&job->mu);
    free(job);
}

char *serve_job_take_pending(serve_job *job, size_t *len, int *done) {
    pthread_mutex_lock(&job->mu);
    *done = job->done;
    char *text = job->pending;
    *len = job->pending_len;
    job->pending = NULL;
    job->pending_len = job->pending_cap = 0;
    pthread_mutex_unlock(&job->mu);
    return text;
}

static int reached(const serve_job *job, int what) {
    switch (what) {
    case SERVE_JOB_WAIT_FIRST: return job->first_token || job->done;
    case SERVE_JOB_WAIT_DONE: return job->done;
    default: return job->pending_len > 0 || job->done;
    }
}

int serve_job_wait(serve_job *job, int what, int wait_ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&job->mu);
    int rc = 0;
    while (!reached(job, what) && rc == 0)
        rc = pthread_cond_timedwait(&job->cv, &job->mu, &until);
    int ok = reached(job, what);
    pthread_mutex_unlock(&job->mu);
    return ok;
}


int serve_job_on_token(const char *piece, size_t len, int32_t id, void *user) {
    (void)id;
    serve_job *job = user;
    if (atomic_load(&job->cancelled))
        return 1;
    pthread_mutex_lock(&job->mu);
    if (!job->first_token) {
        job->first_token = 1;
        job->ttft_ms = (gemcl_time_us() / 1e3) - job->t_start_ms;
    }
    int failed = 0;
    if (job->stream) { /* a non-streaming reply is the result's text: nothing to keep here */
        if (job->pending_len + len > job->pending_cap) {
            size_t cap = 2 * job->pending_cap + len + 64;
            char *p = realloc(job->pending, cap);
            if (p) {
                job->pending = p;
                job->pending_cap = cap;
            }
            failed = !p;
        }
        if (!failed) {
            memcpy(job->pending + job->pending_len, piece, len);
            job->pending_len += len;
        }
    }
    pthread_cond_broadcast(&job->cv);
    pthread_mutex_unlock(&job->mu);
    return failed; /* out of host memory: stop rather than send a reply with a hole */
}

int serve_job_on_progress(int64_t done, int64_t total, void *user) {
    (void)done, (void)total;
    serve_job *job = user;
    return atomic_load(&job->cancelled);
}

void serve_job_finish(serve_job *job, gemcl_status status, const char *error, gemcl_result *result) {
    pthread_mutex_lock(&job->mu);
    job->status = status;
    strncpy(job->error, error ? error : "", sizeof job->error - 1);
    if (result) {
        job->result = *result;
        memset(result, 0, sizeof *result);
    }
    job->done = 1;
    pthread_cond_broadcast(&job->cv);
    pthread_mutex_unlock(&job->mu);
}
