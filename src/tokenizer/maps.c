/* maps.c - the two hash maps of a tokenizer: text -> id and (left id, right id) -> merge rule. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

uint64_t tok_hash_bytes(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h ^ (h >> 29);
}

static uint64_t pair_key(int32_t left, int32_t right) {
    return (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
}

static size_t pair_slot(uint64_t key, size_t cap) {
    uint64_t h = key * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h ^ (h >> 32)) & (cap - 1);
}

static bool pairmap_grow(tok_pairmap *m) {
    size_t cap = m->cap ? m->cap * 2 : 1024;
    tok_pair_entry *slots = malloc(cap * sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < cap; i++)
        slots[i].key = UINT64_MAX;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key == UINT64_MAX)
            continue;
        size_t s = pair_slot(m->slots[i].key, cap);
        while (slots[s].key != UINT64_MAX)
            s = (s + 1) & (cap - 1);
        slots[s] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return true;
}

/* Keeps the first rule for a pair (a later duplicate has a worse rank and could never apply). */
gc_status tok_pairmap_put(tok_pairmap *m, int32_t left, int32_t right, int32_t rank, int32_t result) {
    if (left < 0 || right < 0)
        return GC_ERR_INVALID_ARG;
    if ((m->count + 1) * 2 > m->cap && !pairmap_grow(m))
        return GC_ERR_OUT_OF_MEMORY;
    uint64_t key = pair_key(left, right);
    size_t s = pair_slot(key, m->cap);
    while (m->slots[s].key != UINT64_MAX) {
        if (m->slots[s].key == key)
            return GC_OK;
        s = (s + 1) & (m->cap - 1);
    }
    m->slots[s] = (tok_pair_entry){key, rank, result};
    m->count++;
    return GC_OK;
}

const tok_pair_entry *tok_pairmap_get(const tok_pairmap *m, int32_t left, int32_t right) {
    if (m->count == 0 || left < 0 || right < 0) /* (-1, -1) would be the empty-slot key */
        return NULL;
    uint64_t key = pair_key(left, right);
    for (size_t s = pair_slot(key, m->cap);; s = (s + 1) & (m->cap - 1)) {
        if (m->slots[s].key == key)
            return &m->slots[s];
        if (m->slots[s].key == UINT64_MAX)
            return NULL;
    }
}

void tok_pairmap_free(tok_pairmap *m) {
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

gc_status tok_add_merge(gc_tokenizer *t, const char *a, size_t a_len, const char *b, size_t b_len, int32_t rank,
                        gc_error *err) {
    int32_t left = tok_lookup(t, a, a_len), right = tok_lookup(t, b, b_len);
    if (left < 0 || right < 0)
        return gc_fail(err, GC_ERR_FORMAT, "merge %d names a token not in the vocabulary", (int)rank);
    /* tokens may be long (gpt-neox's and aquila's vocabularies merge runs of 256 spaces: 1 KiB of "Ġ") */
    char small[512], *both = a_len + b_len <= sizeof small ? small : malloc(a_len + b_len);
    if (!both)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory for merge %d", (int)rank);
    memcpy(both, a, a_len);
    memcpy(both + a_len, b, b_len);
    int32_t result = tok_lookup(t, both, a_len + b_len);
    if (both != small)
        free(both);
    if (result < 0)
        return gc_fail(err, GC_ERR_FORMAT, "merge %d makes a token not in the vocabulary", (int)rank);
    if (tok_pairmap_put(&t->merges, left, right, rank, result) != GC_OK)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory for merges");
    return GC_OK;
}
