/* api_edge.c - the public API's edge over the internal vocabulary (see api_edge.h), and the public functions
 * that the runtime and util used to implement (gemcl_status_str, gemcl_devices_list, gemcl_device_choose). */
#include "api_edge.h"

#include <stdlib.h>
#include <string.h>

/* The numberings are one: every code is checked, so a code added to one enum alone fails the build. */
_Static_assert(GC_OK == (int)GEMCL_OK && GC_ERR_INVALID_ARG == (int)GEMCL_ERR_INVALID_ARG &&
                   GC_ERR_IO == (int)GEMCL_ERR_IO && GC_ERR_FORMAT == (int)GEMCL_ERR_FORMAT &&
                   GC_ERR_UNSUPPORTED == (int)GEMCL_ERR_UNSUPPORTED && GC_ERR_DEVICE == (int)GEMCL_ERR_DEVICE &&
                   GC_ERR_BUILD == (int)GEMCL_ERR_BUILD && GC_ERR_OUT_OF_MEMORY == (int)GEMCL_ERR_OUT_OF_MEMORY &&
                   GC_ERR_NOT_FOUND == (int)GEMCL_ERR_NOT_FOUND && GC_ERR_CONTEXT_FULL == (int)GEMCL_ERR_CONTEXT_FULL &&
                   GC_ABORTED == (int)GEMCL_ABORTED && GC_STATUS_COUNT == (int)GEMCL_ABORTED + 1,
               "gc_status (util/status.h) and gemcl_status (gemcl.h) must number their codes alike");
_Static_assert(GC_LOG_LEVEL_DEBUG == (int)GEMCL_LOG_LEVEL_DEBUG && GC_LOG_LEVEL_INFO == (int)GEMCL_LOG_LEVEL_INFO &&
                   GC_LOG_LEVEL_WARN == (int)GEMCL_LOG_LEVEL_WARN && GC_LOG_LEVEL_ERROR == (int)GEMCL_LOG_LEVEL_ERROR,
               "gc_log_level and gemcl_log_level must number their levels alike");
_Static_assert(GC_DEVICE_TYPE_CPU == (int)GEMCL_DEVICE_TYPE_CPU && GC_DEVICE_TYPE_GPU == (int)GEMCL_DEVICE_TYPE_GPU &&
                   GC_DEVICE_TYPE_ACCELERATOR == (int)GEMCL_DEVICE_TYPE_ACCELERATOR &&
                   GC_DEVICE_TYPE_OTHER == (int)GEMCL_DEVICE_TYPE_OTHER,
               "gc_device_type and gemcl_device_type must number their types alike");

gemcl_status gc_status_public(gc_status status) {
    return (gemcl_status)status;
}

const char *gemcl_status_str(gemcl_status status) {
    switch (status) {
    case GEMCL_OK: return "GEMCL_OK";
    case GEMCL_ERR_INVALID_ARG: return "GEMCL_ERR_INVALID_ARG";
    case GEMCL_ERR_IO: return "GEMCL_ERR_IO";
    case GEMCL_ERR_FORMAT: return "GEMCL_ERR_FORMAT";
    case GEMCL_ERR_UNSUPPORTED: return "GEMCL_ERR_UNSUPPORTED";
    case GEMCL_ERR_DEVICE: return "GEMCL_ERR_DEVICE";
    case GEMCL_ERR_BUILD: return "GEMCL_ERR_BUILD";
    case GEMCL_ERR_OUT_OF_MEMORY: return "GEMCL_ERR_OUT_OF_MEMORY";
    case GEMCL_ERR_NOT_FOUND: return "GEMCL_ERR_NOT_FOUND";
    case GEMCL_ERR_CONTEXT_FULL: return "GEMCL_ERR_CONTEXT_FULL";
    case GEMCL_ABORTED: return "GEMCL_ABORTED";
    }
    return "GEMCL_ERR_UNKNOWN";
}

static void log_forward(gc_log_level level, const char *message, void *user) {
    const gc_api_log_sink *sink = user;
    sink->fn((gemcl_log_level)level, message, sink->user);
}

void gc_api_log_bind(gc_runtime_params *params, gc_api_log_sink *sink, gemcl_log_fn fn, void *user) {
    *sink = (gc_api_log_sink){fn, user};
    params->log = fn ? log_forward : NULL;
    params->log_user = fn ? sink : NULL;
}

gemcl_device_info gc_device_info_public(const gc_device_info *d) {
    gemcl_device_info out = {.index = d->index,
                             .platform_index = d->platform_index,
                             .type = (gemcl_device_type)d->type,
                             .compute_units = d->compute_units,
                             .global_mem_bytes = d->global_mem_bytes,
                             .local_mem_bytes = d->local_mem_bytes,
                             .max_alloc_bytes = d->max_alloc_bytes,
                             .has_fp16 = d->has_fp16,
                             .has_subgroups = d->has_subgroups,
                             .has_int_dot = d->has_int_dot};
    _Static_assert(sizeof out.name == sizeof d->name && sizeof out.platform_name == sizeof d->platform_name &&
                       sizeof out.platform_version == sizeof d->platform_version &&
                       sizeof out.vendor == sizeof d->vendor && sizeof out.driver_version == sizeof d->driver_version &&
                       sizeof out.opencl_c_version == sizeof d->opencl_c_version,
                   "gc_device_info's strings must be as long as gemcl_device_info's");
    memcpy(out.platform_name, d->platform_name, sizeof out.platform_name);
    memcpy(out.platform_version, d->platform_version, sizeof out.platform_version);
    memcpy(out.name, d->name, sizeof out.name);
    memcpy(out.vendor, d->vendor, sizeof out.vendor);
    memcpy(out.driver_version, d->driver_version, sizeof out.driver_version);
    memcpy(out.opencl_c_version, d->opencl_c_version, sizeof out.opencl_c_version);
    return out;
}

gemcl_status gemcl_devices_list(gemcl_device_info *out, int max, int *n_devices, int *default_index, char *errbuf,
                                size_t errlen) {
    gc_error err;
    gc_device *devs = NULL;
    int n = 0;
    *n_devices = 0;
    if (gc_devices_enumerate(&devs, &n, &err) != GC_OK) {
        gc_error_copy_out(&err, errbuf, errlen);
        return gc_status_public(err.status);
    }
    for (int i = 0; i < n && i < max; i++)
        out[i] = gc_device_info_public(&devs[i].info);
    *n_devices = n;
    if (default_index)
        *default_index = gc_devices_default(devs, n);
    free(devs);
    return GEMCL_OK;
}

gemcl_status gemcl_device_choose(const char *spec, int *index, char *errbuf, size_t errlen) {
    gc_error err;
    gc_device *devs = NULL;
    int n = 0;
    gc_status st = gc_devices_enumerate(&devs, &n, &err);
    if (st == GC_OK)
        st = gc_devices_choose(devs, n, spec, index, &err);
    free(devs);
    if (st != GC_OK)
        gc_error_copy_out(&err, errbuf, errlen);
    return gc_status_public(st);
}
