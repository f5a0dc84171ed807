/* build.c - assembling a tokenizer: tokens into the arena, the text map, byte ids and special list. Every
 * loader fills tokens with tok_set_token and ends with tok_finish. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"

gc_status tok_new(gc_tokenizer_kind kind, int n_vocab, gc_tokenizer **out, gc_error *err) {
    *out = NULL;
    if (n_vocab <= 0 || n_vocab > (1 << 24))
        return gc_fail(err, GC_ERR_FORMAT, "vocabulary size %d is out of range (1..16777216)", n_vocab);
    gc_tokenizer *t = calloc(1, sizeof *t);
    if (!t || !(t->tokens = calloc((size_t)n_vocab, sizeof *t->tokens))) {
        free(t);
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory for %d tokens", n_vocab);
    }
    t->kind = kind;
    t->n_vocab = n_vocab;
    t->bos_id = t->eos_id = t->eot_id = t->unk_id = -1;
    *out = t;
    return GC_OK;
}

static bool arena_append(gc_tokenizer *t, const char *s, size_t n, uint32_t *off) {
    if (t->arena_len + n > t->arena_cap) {
        size_t cap = t->arena_cap ? t->arena_cap : 1 << 16;
        while (cap < t->arena_len + n)
            cap *= 2;
        if (cap > UINT32_MAX)
            return false;
        char *a = realloc(t->arena, cap);
        if (!a)
            return false;
        t->arena = a;
        t->arena_cap = cap;
    }
    *off = (uint32_t)t->arena_len;
    if (n)
        memcpy(t->arena + t->arena_len, s, n);
    t->arena_len += n;
    return true;
}

gc_status tok_set_token(gc_tokenizer *t, int32_t id, const char *text, size_t text_len, const char *raw, size_t raw_len,
                        float score, int32_t type, gc_error *err) {
    if (id < 0 || id >= t->n_vocab)
        return gc_fail(err, GC_ERR_FORMAT, "token id %d out of range (vocabulary %d)", (int)id, t->n_vocab);
    tok_token *tk = &t->tokens[id];
    if (!arena_append(t, text, text_len, &tk->text_off) || !arena_append(t, raw, raw_len, &tk->raw_off))
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory for token %d", (int)id);
    tk->text_len = (uint32_t)text_len;
    tk->raw_len = (uint32_t)raw_len;
    tk->score = score;
    tk->type = type <= 0 ? TOK_NORMAL : type;
    if (raw_len > t->max_raw_len)
        t->max_raw_len = raw_len;
    return GC_OK;
}

const char *tok_text(const gc_tokenizer *t, int32_t id, size_t *len) {
    *len = t->tokens[id].text_len;
    return t->arena + t->tokens[id].text_off;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* "<0xNN>" -> NN, else -1. */
static int byte_piece(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>' || hex_digit(s[3]) < 0 || hex_digit(s[4]) < 0)
        return -1;
    return hex_digit(s[3]) * 16 + hex_digit(s[4]);
}

static size_t unmap_bytes(const char *text, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t cl;
        uint32_t cp = gc_utf8_decode((const unsigned char *)text + i, n - i, &cl);
        int b = gc_cp_to_byte(cp);
        if (b >= 0) {
            out[o++] = (char)b;
        } else { /* not in the map: keep the character itself */
            memcpy(out + o, text + i, cl);
            o += cl;
        }
        i += cl;
    }
    return o;
}

size_t tok_text_to_raw(const gc_tokenizer *t, const char *text, size_t n, int32_t type, char *out) {
    if (type == TOK_CONTROL || type == TOK_USER || type == TOK_UNKNOWN) {
        memcpy(out, text, n);
        return n;
    }
    if (t->kind == GC_TOKENIZER_BPE)
        return t->byte_map ? unmap_bytes(text, n, out) : (memcpy(out, text, n), n);
    int b = byte_piece(text, n);
    if (b >= 0) {
        out[0] = (char)b;
        return 1;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (t->kind == GC_TOKENIZER_SPM && i + 2 < n && memcmp(text + i, "\xE2\x96\x81", 3) == 0) {
            out[o++] = ' ';
            i += 2;
        } else {
            out[o++] = text[i];
        }
    }
    return o;
}

int32_t tok_lookup(const gc_tokenizer *t, const char *s, size_t n) {
    const tok_strmap *m = &t->by_text;
    if (!m->cap)
        return -1;
    for (size_t i = tok_hash_bytes(s, n) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        int32_t id = m->slots[i];
        if (id < 0)
            return -1;
        const tok_token *tk = &t->tokens[id];
        if (tk->text_len == n && memcmp(t->arena + tk->text_off, s, n) == 0)
            return id;
    }
}

/* Every set token enters the map; with duplicate spellings the lowest id wins. */
static bool build_text_map(gc_tokenizer *t) {
    size_t cap = 16;
    while (cap < (size_t)t->n_vocab * 2)
        cap *= 2;
    int32_t *slots = malloc(cap * sizeof *slots);
    if (!slots)
        return false;
    memset(slots, 0xFF, cap * sizeof *slots);
    t->by_text = (tok_strmap){slots, cap};
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const tok_token *tk = &t->tokens[id];
        if (tk->type == 0 || tok_lookup(t, t->arena + tk->text_off, tk->text_len) >= 0)
            continue;
        size_t i = tok_hash_bytes(t->arena + tk->text_off, tk->text_len) & (cap - 1);
        while (slots[i] >= 0)
            i = (i + 1) & (cap - 1);
        slots[i] = id;
    }
    return true;
}

static int32_t byte_token(const gc_tokenizer *t, unsigned b) {
    char s[8];
    size_t n;
    if (t->kind == GC_TOKENIZER_LLAMA2C)
        return (int32_t)b + 3 < t->n_vocab ? (int32_t)b + 3 : -1;
    if (t->kind == GC_TOKENIZER_BPE && t->byte_map) {
        n = gc_utf8_encode(gc_byte_to_cp((unsigned char)b), s);
        return tok_lookup(t, s, n);
    }
    if (t->kind == GC_TOKENIZER_SPM) {
        static const char hex[] = "0123456789ABCDEF";
        memcpy(s, "<0x", 3);
        s[3] = hex[b >> 4];
        s[4] = hex[b & 15];
        s[5] = '>';
        int32_t id = tok_lookup(t, s, 6);
        if (id >= 0)
            return id;
    }
    s[0] = (char)b;
    return tok_lookup(t, s, 1);
}

static int cmp_special_len_desc(const void *a, const void *b, void *t) {
    const gc_tokenizer *tk = t;
    uint32_t la = tk->tokens[*(const int32_t *)a].text_len, lb = tk->tokens[*(const int32_t *)b].text_len;
    if (la != lb)
        return la < lb ? 1 : -1;
    return *(const int32_t *)a < *(const int32_t *)b ? -1 : 1;
}

static bool build_specials(gc_tokenizer *t) {
    int n = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        int32_t ty = t->tokens[id].type;
        n += (ty == TOK_CONTROL || ty == TOK_USER || ty == TOK_UNKNOWN) && t->tokens[id].text_len > 0;
    }
    t->specials = malloc((size_t)(n ? n : 1) * sizeof *t->specials);
    if (!t->specials)
        return false;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        int32_t ty = t->tokens[id].type;
        if ((ty == TOK_CONTROL || ty == TOK_USER || ty == TOK_UNKNOWN) && t->tokens[id].text_len > 0)
            t->specials[t->n_specials++] = id;
    }
    qsort_r(t->specials, (size_t)t->n_specials, sizeof *t->specials, cmp_special_len_desc, t);
    return true;
}

/* True when no token that text can form holds a space (U+2581 in SPM spelling) right after a non-space:
 * then no merge crosses such a point and encode may merge the pieces between them separately. */
static bool find_space_splits(const gc_tokenizer *t) {
    const char *mark = t->kind == GC_TOKENIZER_SPM ? "\xE2\x96\x81" : " ";
    size_t mark_len = strlen(mark);
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const tok_token *tk = &t->tokens[id];
        if (tk->type == TOK_CONTROL || tk->type == TOK_UNKNOWN)
            continue;
        const char *s = t->arena + tk->text_off;
        for (size_t p = 1; p + mark_len <= tk->text_len; p++)
            if (memcmp(s + p, mark, mark_len) == 0 && (p < mark_len || memcmp(s + p - mark_len, mark, mark_len) != 0))
                return false;
    }
    return true;
}

gc_status tok_finish(gc_tokenizer *t, gc_error *err) {
    int32_t *ids[] = {&t->bos_id, &t->eos_id, &t->eot_id, &t->unk_id};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (*ids[i] >= t->n_vocab || *ids[i] < -1)
            return gc_fail(err, GC_ERR_FORMAT, "special token id %d out of range (vocabulary %d)", (int)*ids[i],
                           t->n_vocab);
    if (!build_text_map(t) || !build_specials(t))
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
    for (unsigned b = 0; b < 256; b++)
        t->byte_ids[b] = byte_token(t, b);
    t->space_splits = t->kind != GC_TOKENIZER_BPE && find_space_splits(t);
    return GC_OK;
}

gc_status tok_set_token_text(gc_tokenizer *t, int32_t id, const char *text, size_t text_len, float score, int32_t type,
                             gc_error *err) {
    char small[256];
    char *raw = text_len <= sizeof small ? small : malloc(text_len);
    if (!raw)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory for token %d", (int)id);
    size_t raw_len = tok_text_to_raw(t, text, text_len, type, raw);
    gc_status st = tok_set_token(t, id, text, text_len, raw, raw_len, score, type, err);
    if (raw != small)
        free(raw);
    return st;
}
