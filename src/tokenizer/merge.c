/* merge.c - the BPE merge loop every kind shares: symbols are spans of a working text; a priority queue
 * holds adjacent pairs that form a token; the best pair (highest score, then leftmost) merges first and
 * the queue is refilled around it. Stale pairs (a side already merged away) are skipped when popped.
 * This is llama.cpp's llm_tokenizer_spm loop, which for llama2.c's "rescan for the best pair" rule gives
 * the same result (the best live pair is always in the queue, ties go to the leftmost) in O(n log n). */
#include <stdlib.h>

#include "tokenizer/merge.h"
#include "util/grow.h"

static bool bigram_before(const tok_bigram *a, const tok_bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static bool heap_push(tok_merger *m, tok_bigram bg) {
    if (!gc_grow((void **)&m->heap, &m->cap_heap, m->n_heap, sizeof *m->heap, 64))
        return false;
    size_t i = m->n_heap++;
    while (i > 0 && bigram_before(&bg, &m->heap[(i - 1) / 2])) {
        m->heap[i] = m->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    m->heap[i] = bg;
    return true;
}

static tok_bigram heap_pop(tok_merger *m) {
    tok_bigram top = m->heap[0], last = m->heap[--m->n_heap];
    size_t i = 0, n = m->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && bigram_before(&m->heap[c + 1], &m->heap[c]))
            c++;
        if (!bigram_before(&m->heap[c], &last))
            break;
        m->heap[i] = m->heap[c];
        i = c;
    }
    if (n)
        m->heap[i] = last;
    return top;
}

/* Looks up the token the pair would form and queues it. */
static bool try_pair(tok_merger *m, int32_t left, int32_t right) {
    if (left < 0 || right < 0)
        return true;
    const tok_sym *l = &m->syms[left], *r = &m->syms[right];
    const gc_tokenizer *t = m->t;
    tok_bigram bg = {0, left, right, l->len + r->len, -1};
    if (m->by_rank) {
        const tok_pair_entry *e = tok_pairmap_get(&t->merges, l->id, r->id);
        if (!e)
            return true;
        bg.score = -(float)e->rank;
        bg.id = e->result;
    } else {
        bg.id = tok_lookup(t, m->text + l->off, bg.len);
        if (bg.id < 0 || (m->skip_special && (t->tokens[bg.id].type == TOK_CONTROL ||
                                              t->tokens[bg.id].type == TOK_UNKNOWN)))
            return true;
        bg.score = t->tokens[bg.id].score;
    }
    return heap_push(m, bg);
}

bool tok_merger_add(tok_merger *m, uint32_t off, uint32_t len, int32_t id) {
    if (!gc_grow((void **)&m->syms, &m->cap_syms, m->n_syms, sizeof *m->syms, 64))
        return false;
    int32_t i = (int32_t)m->n_syms++;
    m->syms[i] = (tok_sym){off, len, id, i - 1, -1};
    if (i > 0)
        m->syms[i - 1].next = i;
    return true;
}

bool tok_merger_run(tok_merger *m) {
    m->n_heap = 0;
    for (size_t i = 1; i < m->n_syms; i++)
        if (!try_pair(m, (int32_t)i - 1, (int32_t)i))
            return false;
    while (m->n_heap) {
        tok_bigram bg = heap_pop(m);
        tok_sym *l = &m->syms[bg.left], *r = &m->syms[bg.right];
        if (l->len == 0 || r->len == 0 || l->next != bg.right || l->len + r->len != bg.len)
            continue;
        l->len += r->len;
        l->id = bg.id;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0)
            m->syms[r->next].prev = bg.left;
        if (!try_pair(m, l->prev, bg.left) || !try_pair(m, bg.left, l->next))
            return false;
    }
    return true;
}

void tok_merger_reset(tok_merger *m, const char *text) {
    m->text = text;
    m->n_syms = 0;
    m->n_heap = 0;
}

void tok_merger_free(tok_merger *m) {
    free(m->syms);
    free(m->heap);
}
