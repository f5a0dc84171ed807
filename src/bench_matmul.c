/* bench_matmul.c - gemcl_model_time_matmul: the device matmul on a model's own weights, timed, for benchmarks
 * that set it beside a host BLAS (gemcl bench --vs-blas). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_edge.h"
#include "api_internal.h"
#include "util/clock.h"


static const gc_dweight *layer0_weight(const gemcl_model *m, const char *name) {
    const gc_dlayer *l = &m->dm->layers[0];
    const struct {
        const char *name;
        const gc_dweight *w;
    } table[] = {{"wq", &l->wq},         {"wk", &l->wk},     {"wv", &l->wv},       {"wo", &l->wo},
                 {"w_gate", &l->w_gate}, {"w_up", &l->w_up}, {"w_down", &l->w_down}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].name, name) == 0)
            return table[i].w;
    return NULL;
}

/* Times repetitions calls (after one warm-up) of y = x W^T with n rows of x; ms[r] per call. */
static gc_status time_calls(gemcl_model *m, const gc_dweight *w, int n, int repetitions, double *ms, gc_error *err) {
    gc_runtime *rt = m->rt;
    gc_buffer x = {0}, y = {0};
    float *host = calloc((size_t)n * w->cols, sizeof *host);
    gc_status st = host ? GC_OK : gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; host && i < (size_t)n * w->cols; i++)
        host[i] = (float)((i * 2654435761u) % 1000) * 1e-4f - 0.05f;
    if (st == GC_OK)
        st = gc_buffer_alloc(rt, (size_t)n * w->cols * 4, "matmul timing x", &x, err);
    if (st == GC_OK)
        st = gc_buffer_alloc(rt, (size_t)n * w->rows * 4, "matmul timing y", &y, err);
    if (st == GC_OK)
        st = gc_buffer_write(rt, &x, 0, host, x.bytes, err);
    for (int r = -1; st == GC_OK && r < repetitions; r++) {
        double t0 = gc_now_ms();
        st = gc_op_matmul(m->ops, &x, 0, w, NULL, &y, 0, n, err);
        cl_int rc = st == GC_OK ? clFinish(rt->queue) : CL_SUCCESS;
        if (rc != CL_SUCCESS)
            st = gc_cl_fail(err, rc, "waiting for the timed matmul");
        if (r >= 0)
            ms[r] = gc_now_ms() - t0;
    }
    gc_buffer_free(rt, &x);
    gc_buffer_free(rt, &y);
    free(host);
    return st;
}

gemcl_status gemcl_model_time_matmul(gemcl_model *m, const char *weight, int n, int repetitions,
                                     gemcl_matmul_shape *shape, double *ms, char *errbuf, size_t errlen) {
    gc_error err;
    gc_error_clear(&err);
    gc_status st = GC_OK;
    const gc_dweight *w = m && weight ? layer0_weight(m, weight) : NULL;
    if (!m || !shape || !ms || n <= 0 || repetitions <= 0)
        st = gc_fail(&err, GC_ERR_INVALID_ARG, "time_matmul: needs a model, n > 0, repetitions > 0 and outputs");
    else if (!w)
        st = gc_fail(&err, GC_ERR_NOT_FOUND, "time_matmul: no weight '%s' (wq, wk, wv, wo, w_gate, w_up, w_down)",
                     weight ? weight : "(null)");
    if (st == GC_OK) {
        shape->rows = w->rows;
        shape->cols = w->cols;
        snprintf(shape->dtype, sizeof shape->dtype, "%s", gc_dtype_name(w->dtype));
        gc_api_lock(m);
        st = time_calls(m, w, n, repetitions, ms, &err);
        gc_api_unlock(m);
    }
    if (st != GC_OK)
        gc_error_copy_out(&err, errbuf, errlen);
    return gc_status_public(st);
}
