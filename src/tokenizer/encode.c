/* encode.c - text (without special tokens) -> ids for the three kinds. Each returns false only when out
 * of host memory. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/merge.h"
#include "tokenizer/unicode.h"
#include "util/grow.h"

bool tok_ids_push(tok_ids *v, int32_t id) {
    if (!gc_grow((void **)&v->ids, &v->cap, v->n, sizeof *v->ids, 256))
        return false;
    v->ids[v->n++] = id;
    return true;
}

static bool push_live(const tok_merger *m, tok_ids *out) {
    for (int32_t i = m->n_syms ? 0 : -1; i >= 0; i = m->syms[i].next)
        if (m->syms[i].id >= 0 && !tok_ids_push(out, m->syms[i].id))
            return false;
    return true;
}

/* A growable byte buffer: the working text the merger's symbols point into. */
typedef struct tok_buf {
    char *data;
    size_t len, cap;
} tok_buf;

static bool buf_append(tok_buf *b, const char *s, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return false;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return true;
}

/* Appends token id's text to the working buffer and a symbol for it. */
static bool add_token_sym(tok_merger *m, tok_buf *b, int32_t id) {
    size_t n, off = b->len;
    const char *s = tok_text(m->t, id, &n);
    return buf_append(b, s, n) && tok_merger_add(m, (uint32_t)off, (uint32_t)n, id);
}

/* Where the segment starting at start ends: before the next space mark that follows a non-space, when the
 * vocabulary has no token that could span such a point (t->space_splits), else at len. Merging each
 * segment on its own then gives exactly the result of merging the whole text, with a small heap that
 * stays in cache (one heap over a 600 KB text is several times slower). */
static size_t segment_end(const gc_tokenizer *t, const char *s, size_t len, size_t start, const char *mark,
                          size_t mark_len) {
    if (!t->space_splits)
        return len;
    for (size_t p = start + 1; p + mark_len <= len; p++)
        if (memcmp(s + p, mark, mark_len) == 0 && (p < start + mark_len || memcmp(s + p - mark_len, mark, mark_len) != 0))
            return p;
    return len;
}

/* Symbols for text[0..len) the way run.c makes them: each UTF-8 code point (up to 4 bytes) as a token, or
 * else its bytes as ids byte+3. */
static bool llama2c_symbols(tok_merger *m, tok_buf *b, const char *text, size_t len) {
    const gc_tokenizer *t = m->t;
    bool ok = true;
    for (size_t i = 0, start = 0; ok && i < len; i++) {
        if (((unsigned char)text[i] & 0xC0) != 0x80)
            start = i;
        if (i + 1 < len && ((unsigned char)text[i + 1] & 0xC0) == 0x80 && i + 1 - start < 4)
            continue;
        int32_t id = tok_lookup(t, text + start, i + 1 - start);
        if (id >= 0)
            ok = add_token_sym(m, b, id);
        for (size_t j = start; id < 0 && ok && j <= i; j++) {
            int32_t byte_id = t->byte_ids[(unsigned char)text[j]];
            ok = add_token_sym(m, b, byte_id >= 0 ? byte_id : 0);
        }
        start = i + 1;
    }
    return ok;
}

/* llama2.c run.c encode(): " " dummy prefix if text is non-empty, symbols per code point, then best-score
 * merges of the pieces' concatenated text (run.c rescans for the best pair; the heap picks the same). */
bool tok_encode_llama2c(const gc_tokenizer *t, const char *text, size_t len, tok_ids *out) {
    if (len == 0)
        return true;
    tok_merger m = {.t = t};
    tok_buf b = {0};
    int32_t space = tok_lookup(t, " ", 1);
    bool ok = true;
    for (size_t start = 0, end; ok && start < len; start = end) {
        end = segment_end(t, text, len, start, " ", 1);
        b.len = 0;
        tok_merger_reset(&m, NULL);
        ok = (start > 0 || space < 0 || add_token_sym(&m, &b, space)) &&
             llama2c_symbols(&m, &b, text + start, end - start);
        m.text = b.data;
        ok = ok && tok_merger_run(&m) && push_live(&m, out);
    }
    tok_merger_free(&m);
    free(b.data);
    return ok;
}

/* A token for s[0..n) that plain text may produce (not control/unknown), or -1. */
static int32_t text_token(const gc_tokenizer *t, const char *s, size_t n) {
    int32_t id = tok_lookup(t, s, n);
    if (id >= 0 && (t->tokens[id].type == TOK_CONTROL || t->tokens[id].type == TOK_UNKNOWN))
        return -1;
    return id;
}

/* The SentencePiece normalisation: optional leading U+2581, every ' ' -> U+2581. */
static bool spm_escape(const char *text, size_t len, bool add_prefix, tok_buf *b) {
    bool ok = !add_prefix || buf_append(b, "\xE2\x96\x81", 3);
    for (size_t i = 0; ok && i < len; i++)
        ok = text[i] == ' ' ? buf_append(b, "\xE2\x96\x81", 3) : buf_append(b, text + i, 1);
    return ok;
}

/* Emits a symbol that is a token as itself, else its bytes as byte tokens (llama.cpp's resegment). */
static bool spm_emit(const tok_merger *m, const tok_buf *b, tok_ids *out) {
    const gc_tokenizer *t = m->t;
    for (int32_t i = m->n_syms ? 0 : -1; i >= 0; i = m->syms[i].next) {
        const tok_sym *s = &m->syms[i];
        int32_t id = s->id >= 0 ? s->id : text_token(t, b->data + s->off, s->len);
        if (id >= 0) {
            if (!tok_ids_push(out, id))
                return false;
            continue;
        }
        for (uint32_t j = 0; j < s->len; j++) {
            int32_t byte_id = t->byte_ids[(unsigned char)b->data[s->off + j]];
            if (byte_id < 0)
                byte_id = t->unk_id;
            if (byte_id >= 0 && !tok_ids_push(out, byte_id))
                return false;
        }
    }
    return true;
}

/* llama.cpp llm_tokenizer_spm: escape spaces, one symbol per UTF-8 character, merge the best-scoring pair
 * first (or the lowest-ranked merge rule when the vocabulary came with merges), then resegment. */
bool tok_encode_spm(const gc_tokenizer *t, const char *text, size_t len, bool add_prefix, tok_ids *out) {
    tok_buf b = {0};
    tok_merger m = {.t = t, .by_rank = t->merges.count > 0, .skip_special = true};
    bool ok = spm_escape(text, len, add_prefix, &b);
    for (size_t start = 0, end; ok && start < b.len; start = end) {
        end = segment_end(t, b.data, b.len, start, "\xE2\x96\x81", 3);
        tok_merger_reset(&m, b.data);
        for (size_t off = start; ok && off < end;) {
            size_t n = gc_utf8_claimed_len((unsigned char)b.data[off]);
            if (n > end - off)
                n = end - off;
            ok = tok_merger_add(&m, (uint32_t)off, (uint32_t)n, m.by_rank ? text_token(t, b.data + off, n) : -1);
            off += n;
        }
        ok = ok && tok_merger_run(&m) && spm_emit(&m, &b, out);
    }
    tok_merger_free(&m);
    free(b.data);
    return ok;
}

/* One pre-tokenizer word of byte-level BPE: taken whole when it is a token and merges may be ignored,
 * else one symbol per byte (spelled through GPT-2's map when the vocabulary uses it), merged by rank. */
static bool bpe_word(const gc_tokenizer *t, const unsigned char *w, size_t n, tok_merger *m, tok_buf *b,
                     tok_ids *out) {
    b->len = 0;
    tok_merger_reset(m, NULL);
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++) {
        char s[4];
        size_t sl = t->byte_map ? gc_utf8_encode(gc_byte_to_cp(w[i]), s) : (s[0] = (char)w[i], 1);
        size_t off = b->len;
        ok = buf_append(b, s, sl) && tok_merger_add(m, (uint32_t)off, (uint32_t)sl, t->byte_ids[w[i]]);
    }
    if (!ok)
        return false;
    int32_t whole = t->ignore_merges ? tok_lookup(t, b->data, b->len) : -1;
    if (whole >= 0 && t->tokens[whole].type != TOK_CONTROL)
        return tok_ids_push(out, whole);
    m->text = b->data;
    if (!tok_merger_run(m))
        return false;
    for (int32_t i = 0; i >= 0; i = m->syms[i].next) {
        int32_t id = m->syms[i].id >= 0 ? m->syms[i].id : t->unk_id;
        if (id >= 0 && !tok_ids_push(out, id))
            return false;
    }
    return true;
}

typedef struct bpe_ctx {
    const gc_tokenizer *t;
    tok_merger m;
    tok_buf b;
    tok_ids *out;
} bpe_ctx;

static bool bpe_word_cb(const unsigned char *w, size_t n, void *user) {
    bpe_ctx *c = user;
    return bpe_word(c->t, w, n, &c->m, &c->b, c->out);
}

bool tok_encode_bpe(const gc_tokenizer *t, const char *text, size_t len, tok_ids *out) {
    bpe_ctx c = {.t = t, .m = {.t = t, .by_rank = true}, .out = out};
    bool ok = tok_pretok_words(t->pretok, t->split_digits, (const unsigned char *)text, len, bpe_word_cb, &c);
    tok_merger_free(&c.m);
    free(c.b.data);
    return ok;
}
