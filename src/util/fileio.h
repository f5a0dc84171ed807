/* fileio.h - whole-file reads, atomic writes and read-only mappings with explicit lengths. */
#ifndef GC_UTIL_FILEIO_H
#define GC_UTIL_FILEIO_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

/* Reads the whole file into a malloc'd buffer (NUL-terminated for convenience; *len excludes the NUL).
 * The caller frees *data with free(). */
gc_status gc_file_read(const char *path, char **data, size_t *len, gc_error *err);

/* Writes len bytes to path through a temporary file in the same directory and rename(), so readers see
 * either the old file or the whole new one. */
gc_status gc_file_write_atomic(const char *path, const void *data, size_t len, gc_error *err);

/* Creates a directory and its parents (like mkdir -p). */
gc_status gc_mkdir_p(const char *path, gc_error *err);

/* A read-only memory mapping of a whole file. */
typedef struct gc_mapped_file {
    const unsigned char *data; /* (size) bytes; NULL for an empty file */
    size_t size;
} gc_mapped_file;

/* Whether the regular file at path begins with the n bytes of magic; false for anything that is not a regular
 * file (never blocks on a FIFO) or cannot be read. */
bool gc_file_starts_with(const char *path, const void *magic, size_t n);

gc_status gc_file_map(const char *path, gc_mapped_file *out, gc_error *err);
void gc_file_unmap(gc_mapped_file *f);

#endif
