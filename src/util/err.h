/* err.h - the one way errors travel inside gemcl.
 *
 * Every internal function that can fail takes a gc_error *err as its last argument, fills it with a
 * status and a one-line message naming what failed and where (file, tensor, byte offset, layer), and
 * returns the status. Callers that add context prepend it with gc_error_prefix(). err may be NULL when
 * the caller does not care about the message. */
#ifndef GC_UTIL_ERR_H
#define GC_UTIL_ERR_H

#include <stdarg.h>
#include <stddef.h>

#include "util/status.h"

#define GC_ERROR_MSG_MAX 4096 /* long enough for a short kernel build log */

typedef struct gc_error {
    gc_status status;
    char msg[GC_ERROR_MSG_MAX];
} gc_error;

/* Sets err (if not NULL) to status and the printf-formatted message; returns status. */
gc_status gc_fail(gc_error *err, gc_status status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to err's message, keeping its status; returns the status. */
gc_status gc_error_prefix(gc_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clears err to GC_OK with an empty message. */
void gc_error_clear(gc_error *err);

/* Returns from the calling function with expr's status unless it is GC_OK (err is already filled). */
#define GC_TRY(expr)                                                                                                   \
    do {                                                                                                               \
        gc_status st_ = (expr);                                                                                        \
        if (st_ != GC_OK)                                                                                              \
            return st_;                                                                                                \
    } while (0)

/* Copies err's message into a caller buffer of len bytes (the public API's error out-parameter). */
void gc_error_copy_out(const gc_error *err, char *out, size_t len);

#endif
