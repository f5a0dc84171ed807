/* hash.h - 64-bit FNV-1a, for cache keys and checksums (not for security). */
#ifndef GC_UTIL_HASH_H
#define GC_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

#define GC_HASH_INIT 0xcbf29ce484222325ULL

/* Folds len bytes of data into h and returns the new hash; start with GC_HASH_INIT. */
uint64_t gc_hash_bytes(uint64_t h, const void *data, size_t len);

/* Folds a NUL-terminated string and its terminator (so "ab","c" differs from "a","bc"). */
uint64_t gc_hash_str(uint64_t h, const char *s);

#endif
