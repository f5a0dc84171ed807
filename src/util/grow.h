/* grow.h - room for one more element in a growable array (the doubling every such array in src/ shares). */
#ifndef GC_UTIL_GROW_H
#define GC_UTIL_GROW_H

#include <stdbool.h>
#include <stdlib.h>

/* Makes *items (an array of *cap elements of elem_bytes, n of them used) hold at least n + 1: doubles *cap
 * (first_cap when it is 0) and reallocates when n == *cap. False, with *items and *cap unchanged, when out of
 * memory. */
static inline bool gc_grow(void **items, size_t *cap, size_t n, size_t elem_bytes, size_t first_cap) {
    if (n < *cap)
        return true;
    size_t want = *cap ? *cap * 2 : first_cap;
    void *bigger = realloc(*items, want * elem_bytes);
    if (!bigger)
        return false;
    *items = bigger;
    *cap = want;
    return true;
}

#endif
