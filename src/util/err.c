#include "util/err.h"

#include <stdio.h>
#include <string.h>

gc_status gc_fail(gc_error *err, gc_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

gc_status gc_error_prefix(gc_error *err, const char *fmt, ...) {
    if (!err)
        return GC_OK;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t plen = strlen(prefix), mlen = strlen(err->msg);
    if (plen + 2 >= sizeof err->msg)
        plen = sizeof err->msg - 3;
    if (plen + 2 + mlen >= sizeof err->msg)
        mlen = sizeof err->msg - plen - 3;
    memmove(err->msg + plen + 2, err->msg, mlen);
    memcpy(err->msg, prefix, plen);
    memcpy(err->msg + plen, ": ", 2);
    err->msg[plen + 2 + mlen] = '\0';
    return err->status;
}

void gc_error_clear(gc_error *err) {
    if (err) {
        err->status = GC_OK;
        err->msg[0] = '\0';
    }
}

void gc_error_copy_out(const gc_error *err, char *out, size_t len) {
    if (!out || len == 0)
        return;
    snprintf(out, len, "%s", err ? err->msg : "");
}
