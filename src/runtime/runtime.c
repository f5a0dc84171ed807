/* runtime.c - context, queue, log, and device buffers with exact byte accounting. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"

gc_runtime_params gc_runtime_default_params(void) {
    gc_runtime_params p = {0};
    return p;
}

void gc_log(const gc_runtime *rt, gc_log_level level, const char *fmt, ...) {
    if (!rt || !rt->log)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    rt->log(level, line, rt->log_user);
}

bool gc_cache_dir_resolve(const char *requested, char *out, size_t len) {
    const char *dir = requested ? requested : getenv("GEMCL_CACHE_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    out[0] = '\0';
    if (dir && *dir && strcmp(dir, "off") == 0)
        return false;
    if (dir && *dir)
        snprintf(out, len, "%s", dir);
    else if (xdg && *xdg)
        snprintf(out, len, "%s/gemcl", xdg);
    else if (home && *home)
        snprintf(out, len, "%s/.cache/gemcl", home);
    return out[0] != '\0';
}

/* The fast paths the device has, less those spec ("fp16,subgroups,int_dot,x86" or "all"; NULL = $GEMCL_PORTABLE)
 * leaves out; an unknown name is an error, so a typo cannot silently test the fast path. */
static gc_status choose_fast_paths(const gc_device_info *d, const char *spec, unsigned *out, gc_error *err) {
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"fp16", GC_FAST_FP16},
                 {"subgroups", GC_FAST_SUBGROUPS},
                 {"int_dot", GC_FAST_INT_DOT},
                 {"x86", GC_FAST_X86}};
    unsigned have = (d->has_fp16 ? GC_FAST_FP16 : 0) | (d->has_subgroups ? GC_FAST_SUBGROUPS : 0) |
                    (d->has_int_dot ? GC_FAST_INT_DOT : 0) | (d->has_x86_simd ? GC_FAST_X86 : 0);
    const char *source = "gc_runtime_params.portable";
    if (!spec) {
        spec = getenv("GEMCL_PORTABLE");
        source = "GEMCL_PORTABLE";
    }
    *out = have;
    for (const char *p = spec ? spec : ""; *p;) {
        size_t len = strcspn(p, ",");
        unsigned bit = 0;
        if (len == 3 && strncmp(p, "all", 3) == 0)
            bit = GC_FAST_FP16 | GC_FAST_SUBGROUPS | GC_FAST_INT_DOT | GC_FAST_X86;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strlen(names[i].name) == len && strncmp(p, names[i].name, len) == 0)
                bit = names[i].bit;
        if (len > 0 && !bit)
            return gc_fail(err, GC_ERR_INVALID_ARG, "%s: unknown fast path '%.*s' (fp16, subgroups, int_dot, x86 or all)",
                           source, (int)len, p);
        *out &= ~bit;
        p += len + (p[len] == ',');
    }
    return GC_OK;
}

/* -cl-std from the device and capability macros from its extensions and vendor, so kernels can choose
 * fast paths at compile time (DESIGN.md: optional paths behind -D macros). */
static void make_build_options(gc_runtime *rt) {
    const gc_device_info *d = &rt->dev.info;
    unsigned f = rt->fast_paths;
    int major = rt->dev.cl_c_major, minor = rt->dev.cl_c_minor;
    if (major > 3)
        major = 3, minor = 0;
    char vendor[16] = "OTHER";
    if (strstr(d->vendor, "NVIDIA"))
        strcpy(vendor, "NVIDIA");
    else if (strstr(d->vendor, "Advanced Micro") || strstr(d->vendor, "AMD"))
        strcpy(vendor, "AMD");
    else if (strstr(d->vendor, "Intel"))
        strcpy(vendor, "INTEL");
    snprintf(rt->build_options, sizeof rt->build_options,
             "-cl-std=CL%d.%d -DGC_HAS_FP16=%d -DGC_HAS_SUBGROUPS=%d -DGC_HAS_INT_DOT=%d -DGC_HAS_X86_SIMD=%d "
             "-DGC_DEVICE_IS_CPU=%d -DGC_VENDOR_%s=1",
             major, minor, !!(f & GC_FAST_FP16), !!(f & GC_FAST_SUBGROUPS), !!(f & GC_FAST_INT_DOT), !!(f & GC_FAST_X86),
             d->type == GC_DEVICE_TYPE_CPU, vendor);
}

gc_status gc_runtime_create(const gc_runtime_params *params, gc_runtime **out, gc_error *err) {
    *out = NULL;
    gc_runtime_params p = params ? *params : gc_runtime_default_params();
    gc_device *devs = NULL;
    int n = 0, index = 0;
    gc_status st = gc_devices_enumerate(&devs, &n, err);
    if (st != GC_OK)
        return st;
    st = gc_devices_choose(devs, n, p.device, &index, err);
    if (st != GC_OK) {
        free(devs);
        return st;
    }
    unsigned fast_paths = 0;
    st = choose_fast_paths(&devs[index].info, p.portable, &fast_paths, err);
    if (st != GC_OK) {
        free(devs);
        return st;
    }
    gc_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) {
        free(devs);
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory creating the runtime");
    }
    rt->dev = devs[index];
    free(devs);
    rt->log = p.log;
    rt->log_user = p.log_user;
    rt->profiling = p.profiling;
    rt->fast_paths = fast_paths;
    cl_int rc;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)rt->dev.platform, 0};
    rt->context = clCreateContext(props, 1, &rt->dev.device, NULL, NULL, &rc);
    if (rc != CL_SUCCESS) {
        free(rt);
        return gc_cl_fail(err, rc, "clCreateContext on device '%s'", rt->dev.info.name);
    }
    rt->queue = clCreateCommandQueue(rt->context, rt->dev.device,
                                     p.profiling ? CL_QUEUE_PROFILING_ENABLE : 0, &rc);
    if (rc != CL_SUCCESS) {
        clReleaseContext(rt->context);
        st = gc_cl_fail(err, rc, "clCreateCommandQueue on device '%s'", rt->dev.info.name);
        free(rt);
        return st;
    }
    rt->cache_enabled = gc_cache_dir_resolve(p.cache_dir, rt->cache_dir, sizeof rt->cache_dir);
    make_build_options(rt);
    gc_log(rt, GC_LOG_LEVEL_INFO, "device %d: %s (%s), options %s", rt->dev.info.index, rt->dev.info.name,
           rt->dev.info.opencl_c_version, rt->build_options);
    *out = rt;
    return GC_OK;
}

void gc_runtime_finish(gc_runtime *rt) {
    if (!rt || !rt->queue)
        return;
    cl_int rc = clFinish(rt->queue);
    if (rc != CL_SUCCESS)
        gc_log(rt, GC_LOG_LEVEL_WARN, "clFinish before teardown failed: %s", gc_cl_error_str(rc));
}

void gc_runtime_free(gc_runtime *rt) {
    if (!rt)
        return;
    gc_runtime_finish(rt);
    if (rt->bytes_current != 0)
        gc_log(rt, GC_LOG_LEVEL_WARN, "runtime freed with %zu device bytes still allocated", rt->bytes_current);
    gc_trace_clear(rt);
    free(rt->trace.events);
    clReleaseCommandQueue(rt->queue);
    clReleaseContext(rt->context);
    free(rt);
}

gc_status gc_buffer_alloc(gc_runtime *rt, size_t bytes, const char *what, gc_buffer *out, gc_error *err) {
    out->mem = NULL;
    out->bytes = 0;
    if (bytes == 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "%s: zero-byte device buffer requested", what);
    if ((uint64_t)bytes > rt->dev.info.max_alloc_bytes)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY,
                       "%s: %zu bytes exceed the device's largest single allocation (%llu bytes) on '%s'", what, bytes,
                       (unsigned long long)rt->dev.info.max_alloc_bytes, rt->dev.info.name);
    cl_int rc;
    cl_mem mem = clCreateBuffer(rt->context, CL_MEM_READ_WRITE, bytes, NULL, &rc);
    if (rc != CL_SUCCESS)
        return gc_cl_fail(err, rc, "%s: allocating %zu device bytes", what, bytes);
    out->mem = mem;
    out->bytes = bytes;
    rt->bytes_current += bytes;
    if (rt->bytes_current > rt->bytes_peak)
        rt->bytes_peak = rt->bytes_current;
    return GC_OK;
}

void gc_buffer_free(gc_runtime *rt, gc_buffer *buf) {
    if (!buf || !buf->mem)
        return;
    clReleaseMemObject(buf->mem);
    rt->bytes_current -= buf->bytes;
    buf->mem = NULL;
    buf->bytes = 0;
}

static gc_status check_range(const gc_buffer *buf, size_t offset, size_t bytes, const char *op, gc_error *err) {
    if (offset > buf->bytes || bytes > buf->bytes - offset)
        return gc_fail(err, GC_ERR_INVALID_ARG, "%s of %zu bytes at offset %zu exceeds buffer of %zu bytes", op, bytes,
                       offset, buf->bytes);
    return GC_OK;
}

gc_status gc_buffer_write(gc_runtime *rt, gc_buffer *buf, size_t offset, const void *src, size_t bytes, gc_error *err) {
    if (check_range(buf, offset, bytes, "buffer write", err) != GC_OK)
        return err ? err->status : GC_ERR_INVALID_ARG;
    if (bytes == 0)
        return GC_OK;
    cl_int rc = clEnqueueWriteBuffer(rt->queue, buf->mem, CL_TRUE, offset, bytes, src, 0, NULL, NULL);
    return rc == CL_SUCCESS ? GC_OK : gc_cl_fail(err, rc, "writing %zu bytes to the device", bytes);
}

gc_status gc_buffer_read(gc_runtime *rt, const gc_buffer *buf, size_t offset, void *dst, size_t bytes, gc_error *err) {
    if (check_range(buf, offset, bytes, "buffer read", err) != GC_OK)
        return err ? err->status : GC_ERR_INVALID_ARG;
    if (bytes == 0)
        return GC_OK;
    cl_int rc = clEnqueueReadBuffer(rt->queue, buf->mem, CL_TRUE, offset, bytes, dst, 0, NULL, NULL);
    return rc == CL_SUCCESS ? GC_OK : gc_cl_fail(err, rc, "reading %zu bytes from the device", bytes);
}

void gc_runtime_reset_peak(gc_runtime *rt) {
    rt->bytes_peak = rt->bytes_current;
}
