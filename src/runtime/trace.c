/* trace.c - kernel profiling as a Chrome trace (chrome://tracing, Perfetto): one complete event per
 * kernel with its device start and end times. Only active when the runtime was created with profiling,
 * so the normal path creates no events at all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"

#define TRACE_MAX_EVENTS (1 << 20)

cl_event *gc_trace_slot(gc_runtime *rt, const char *name) {
    if (!rt->profiling || rt->trace.n == TRACE_MAX_EVENTS)
        return NULL;
    if (rt->trace.n == rt->trace.cap) {
        int cap = rt->trace.cap ? rt->trace.cap * 2 : 1024;
        gc_trace_event *grown = realloc(rt->trace.events, (size_t)cap * sizeof *grown);
        if (!grown)
            return NULL;
        rt->trace.events = grown;
        rt->trace.cap = cap;
    }
    gc_trace_event *e = &rt->trace.events[rt->trace.n++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->event = NULL;
    return &e->event;
}

void gc_trace_clear(gc_runtime *rt) {
    for (int i = 0; i < rt->trace.n; i++)
        if (rt->trace.events[i].event)
            clReleaseEvent(rt->trace.events[i].event);
    rt->trace.n = 0;
}

gc_status gc_trace_write_chrome(gc_runtime *rt, const char *path, gc_error *err) {
    if (!rt->profiling)
        return gc_fail(err, GC_ERR_INVALID_ARG, "profiling was not enabled for this device context");
    cl_int rc = clFinish(rt->queue);
    if (rc != CL_SUCCESS)
        return gc_cl_fail(err, rc, "waiting for profiled kernels");
    FILE *f = fopen(path, "w");
    if (!f)
        return gc_fail(err, GC_ERR_IO, "%s: cannot write the trace", path);
    fprintf(f, "{\"displayTimeUnit\": \"ms\", \"otherData\": {\"device\": \"%s\"}, \"traceEvents\": [\n",
            rt->dev.info.name);
    cl_ulong t0 = 0;
    int written = 0;
    for (int i = 0; i < rt->trace.n; i++) {
        cl_ulong start = 0, end = 0;
        cl_event ev = rt->trace.events[i].event;
        if (!ev || clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof start, &start, NULL) != CL_SUCCESS ||
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof end, &end, NULL) != CL_SUCCESS)
            continue;
        if (written == 0)
            t0 = start;
        fprintf(f, "%s{\"name\": \"%s\", \"cat\": \"kernel\", \"ph\": \"X\", \"pid\": 0, \"tid\": 0, \"ts\": %.3f, \"dur\": %.3f}",
                written ? ",\n" : "", rt->trace.events[i].name, (double)(start - t0) / 1e3, (double)(end - start) / 1e3);
        written++;
    }
    fprintf(f, "\n]}\n");
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return gc_fail(err, GC_ERR_IO, "%s: write failed", path);
    gc_trace_clear(rt);
    return GC_OK;
}
