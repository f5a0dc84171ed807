/* status.h - the status and log vocabulary of every layer below the public API.
 *
 * gc_status mirrors gemcl_status value for value, and gc_log_level mirrors gemcl_log_level, so that the
 * layers below the API (runtime, ops, model, tokenizer, util, engine, methods) do not include gemcl.h for
 * them. The API files map them at the edge (src/api_edge.c: gc_status_public, the one mapping, and the log
 * bridge), whose static asserts check the two numberings agree. New codes are appended here and in gemcl.h
 * together. */
#ifndef GC_UTIL_STATUS_H
#define GC_UTIL_STATUS_H

typedef enum gc_status {
    GC_OK = 0,
    GC_ERR_INVALID_ARG = 1,   /* a parameter is out of range or inconsistent */
    GC_ERR_IO = 2,            /* a file could not be opened, read, mapped or written */
    GC_ERR_FORMAT = 3,        /* a file is malformed: truncated, bad offsets, bad JSON, bad magic */
    GC_ERR_UNSUPPORTED = 4,   /* well-formed but not supported: unknown dtype, architecture, version */
    GC_ERR_DEVICE = 5,        /* an OpenCL call failed, or no usable device */
    GC_ERR_BUILD = 6,         /* an OpenCL program failed to build; the message carries the build log */
    GC_ERR_OUT_OF_MEMORY = 7, /* host or device allocation refused, or above the device's limit */
    GC_ERR_NOT_FOUND = 8,     /* a named thing (device, tensor, key) does not exist */
    GC_ERR_CONTEXT_FULL = 9,  /* the prompt or generation does not fit the context */
    GC_ABORTED = 10           /* a callback asked to stop; the object stays usable */
} gc_status;

#define GC_STATUS_COUNT 11

typedef enum gc_log_level {
    GC_LOG_LEVEL_DEBUG = 0,
    GC_LOG_LEVEL_INFO = 1,
    GC_LOG_LEVEL_WARN = 2,
    GC_LOG_LEVEL_ERROR = 3
} gc_log_level;

/* Receives one diagnostic line (no trailing newline) on the thread that made the call. */
typedef void (*gc_log_fn)(gc_log_level level, const char *message, void *user);

#endif
