/* api_edge.h - where the internal vocabulary (util/status.h, runtime.h's gc_device_info) becomes the public
 * one (gemcl.h): the one status mapping, the log bridge and the device info copy. Only the API files
 * (the .c files at the top of src/) include it. */
#ifndef GC_API_EDGE_H
#define GC_API_EDGE_H

#include "gemcl.h"
#include "runtime/runtime.h"
#include "util/status.h"

/* The public status of an internal one (the same number; the compiler checks they agree). */
gemcl_status gc_status_public(gc_status status);

/* A public log callback and its user pointer, as the runtime's gc_log_fn calls it through
 * gc_api_log_forward. The sink must outlive the runtime it is given to (it lives in the object that owns
 * the runtime: the model, the tuner). */
typedef struct gc_api_log_sink {
    gemcl_log_fn fn;
    void *user;
} gc_api_log_sink;

/* Points params' log at sink (or at nothing when fn is NULL), after storing fn and user in *sink. */
void gc_api_log_bind(gc_runtime_params *params, gc_api_log_sink *sink, gemcl_log_fn fn, void *user);

/* The public copy of an internal device description. */
gemcl_device_info gc_device_info_public(const gc_device_info *info);

#endif
