/* tokenizer.c - the public tokenizer functions of tokenizer.h: loading by content, encoding around
 * special tokens, pieces, whole and streaming decoding. */
#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"
#include "util/fileio.h"

void gc_tokenizer_free(gc_tokenizer *t) {
    if (!t)
        return;
    free(t->tokens);
    free(t->arena);
    free(t->by_text.slots);
    tok_pairmap_free(&t->merges);
    free(t->specials);
    free(t);
}

static gc_status load_by_content(const unsigned char *d, size_t len, int vocab_size, gc_tokenizer **out,
                                 gc_error *err) {
    size_t i = 0;
    while (i < len && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n'))
        i++;
    if (len == 0)
        return gc_fail(err, GC_ERR_FORMAT, "empty file, not a tokenizer");
    if (i < len && d[i] == '{')
        return tok_load_json((const char *)d, len, out, err);
    if (tok_looks_like_llama2c(d, len, vocab_size))
        return tok_load_llama2c(d, len, vocab_size, out, err);
    if (tok_looks_like_tiktoken(d, len))
        return tok_load_tiktoken(d, len, out, err);
    if (d[0] == 0x0A)
        return tok_load_sp_model(d, len, out, err);
    if (vocab_size > 0) /* what remains can only be a llama2.c file: let its loader say what is wrong */
        return tok_load_llama2c(d, len, vocab_size, out, err);
    return gc_fail(err, GC_ERR_FORMAT,
                   "not a tokenizer file gemcl knows (tokenizer.json, SentencePiece or "
                   "tiktoken tokenizer.model, llama2.c tokenizer .bin)");
}

gc_status gc_tokenizer_load_memory(const void *data, size_t len, const char *name, int vocab_size, gc_tokenizer **out,
                                   gc_error *err) {
    *out = NULL;
    gc_status st = load_by_content(data, len, vocab_size, out, err);
    if (st != GC_OK)
        gc_error_prefix(err, "%s", name ? name : "tokenizer");
    return st;
}

gc_status gc_tokenizer_load(const char *path, int vocab_size, gc_tokenizer **out, gc_error *err) {
    char *data;
    size_t len;
    *out = NULL;
    gc_status st = gc_file_read(path, &data, &len, err);
    if (st != GC_OK)
        return st;
    st = gc_tokenizer_load_memory(data, len, path, vocab_size, out, err);
    free(data);
    return st;
}

gc_tokenizer_kind gc_tokenizer_get_kind(const gc_tokenizer *t) { return t->kind; }
int gc_tokenizer_n_vocab(const gc_tokenizer *t) { return t->n_vocab; }
int gc_tokenizer_bos(const gc_tokenizer *t) { return t->bos_id; }
int gc_tokenizer_eos(const gc_tokenizer *t) { return t->eos_id; }
bool gc_tokenizer_add_bos(const gc_tokenizer *t) { return t->add_bos; }
bool gc_tokenizer_add_eos(const gc_tokenizer *t) { return t->add_eos; }
size_t gc_tokenizer_max_piece_len(const gc_tokenizer *t) { return t->max_raw_len; }

bool gc_tokenizer_is_eog(const gc_tokenizer *t, int32_t id) {
    return id >= 0 && (id == t->eos_id || id == t->eot_id);
}

int gc_tokenizer_eot(const gc_tokenizer *t) { return t->eot_id; }

gc_status gc_tokenizer_set_eot(gc_tokenizer *t, int eot_id, gc_error *err) {
    if (eot_id < -1 || eot_id >= t->n_vocab)
        return gc_fail(err, GC_ERR_FORMAT, "tokenizer: end-of-turn id %d out of range (vocabulary %d)", eot_id,
                       t->n_vocab);
    t->eot_id = eot_id;
    return GC_OK;
}

gc_status gc_tokenizer_set_special(gc_tokenizer *t, int bos_id, int eos_id, gc_error *err) {
    if (bos_id < -1 || bos_id >= t->n_vocab || eos_id < -1 || eos_id >= t->n_vocab)
        return gc_fail(err, GC_ERR_INVALID_ARG, "tokenizer: bos %d / eos %d out of range (vocabulary %d)", bos_id,
                       eos_id, t->n_vocab);
    t->bos_id = bos_id;
    t->eos_id = eos_id;
    return GC_OK;
}

const char *gc_tokenizer_piece(const gc_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_vocab) {
        *len = 0;
        return NULL;
    }
    *len = t->tokens[id].raw_len;
    return t->arena + t->tokens[id].raw_off;
}

/* The special token written at text[pos], longest first: user-defined tokens always, control and unknown
 * ones only with parse_special (llama.cpp's rule). first[] filters on the first byte. Returns -1 if none. */
static int32_t special_at(const gc_tokenizer *t, const bool first[256], const char *text, size_t len, size_t pos,
                          bool parse_special) {
    if (!first[(unsigned char)text[pos]])
        return -1;
    for (int i = 0; i < t->n_specials; i++) {
        const tok_token *tk = &t->tokens[t->specials[i]];
        if (tk->text_len <= len - pos && memcmp(t->arena + tk->text_off, text + pos, tk->text_len) == 0 &&
            (parse_special || tk->type == TOK_USER))
            return t->specials[i];
    }
    return -1;
}

static bool encode_fragment(const gc_tokenizer *t, const char *text, size_t len, bool after_special,
                            tok_ids *out) {
    if (len == 0)
        return true;
    switch (t->kind) {
    case GC_TOKENIZER_LLAMA2C: return tok_encode_llama2c(t, text, len, out);
    case GC_TOKENIZER_SPM: return tok_encode_spm(t, text, len, t->add_space_prefix && after_special, out);
    case GC_TOKENIZER_BPE: return tok_encode_bpe(t, text, len, out);
    }
    return false;
}

static bool encode_all(const gc_tokenizer *t, const char *text, size_t len, bool parse_special, tok_ids *out) {
    bool first[256] = {false};
    for (int i = 0; i < t->n_specials; i++) {
        const tok_token *tk = &t->tokens[t->specials[i]];
        if (parse_special || tk->type == TOK_USER)
            first[(unsigned char)t->arena[tk->text_off]] = true;
    }
    size_t start = 0;
    bool after_special = true; /* the text start counts as "after a special token" (SPM dummy prefix) */
    for (size_t pos = 0; pos < len;) {
        int32_t id = special_at(t, first, text, len, pos, parse_special);
        if (id < 0) {
            pos++;
            continue;
        }
        if (!encode_fragment(t, text + start, pos - start, after_special, out) ||
            !tok_ids_push(out, id))
            return false;
        after_special = true;
        pos += t->tokens[id].text_len;
        start = pos;
    }
    return encode_fragment(t, text + start, len - start, after_special, out);
}

/* Encodes with BOS before and EOS after when asked; the one path both public encoders take. */
static gc_status encode_with(const gc_tokenizer *t, const char *text, size_t len, bool add_bos, bool add_eos,
                             bool parse_special, int32_t **ids, int *n_ids, gc_error *err) {
    tok_ids v = {0};
    *ids = NULL;
    *n_ids = 0;
    if (len > (size_t)INT32_MAX / 8)
        return gc_fail(err, GC_ERR_INVALID_ARG, "tokenizer: text of %zu bytes is too long", len);
    bool ok = (!add_bos || t->bos_id < 0 || tok_ids_push(&v, t->bos_id)) &&
              encode_all(t, text ? text : "", text ? len : 0, parse_special, &v) &&
              (!add_eos || t->eos_id < 0 || tok_ids_push(&v, t->eos_id)) && tok_ids_push(&v, -1);
    if (!ok) {
        free(v.ids);
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "tokenizer: out of host memory encoding %zu bytes", len);
    }
    *ids = v.ids; /* the -1 pushed last only made sure the array exists for empty text */
    *n_ids = (int)v.n - 1;
    return GC_OK;
}

gc_status gc_tokenizer_encode(const gc_tokenizer *t, const char *text, size_t len, bool add_bos, bool parse_special,
                              int32_t **ids, int *n_ids, gc_error *err) {
    return encode_with(t, text, len, add_bos, false, parse_special, ids, n_ids, err);
}

gc_status gc_tokenizer_encode_prompt(const gc_tokenizer *t, const char *text, size_t len, int add_bos,
                                     bool parse_special, int32_t **ids, int *n_ids, gc_error *err) {
    bool bos = add_bos < 0 ? t->add_bos : add_bos != 0, eos = add_bos < 0 && t->add_eos;
    return encode_with(t, text, len, bos, eos, parse_special, ids, n_ids, err);
}

/* The bytes id adds to decoded text after prev: control tokens add nothing; in SentencePiece kinds that add a
 * dummy prefix the first piece (at the start or after BOS) loses one leading space, the one encode added. */
static const char *output_piece(const gc_tokenizer *t, int32_t prev, int32_t id, size_t *len) {
    const char *p = gc_tokenizer_piece(t, id, len);
    if (!p || t->tokens[id].type == TOK_CONTROL) {
        *len = 0;
        return "";
    }
    bool prefixed = t->kind == GC_TOKENIZER_LLAMA2C || (t->kind == GC_TOKENIZER_SPM && t->add_space_prefix);
    if (prefixed && (prev < 0 || prev == t->bos_id) && *len > 0 && p[0] == ' ') {
        p++;
        (*len)--;
    }
    return p;
}

gc_status gc_tokenizer_decode(const gc_tokenizer *t, const int32_t *ids, int n_ids, char **text, size_t *len,
                              gc_error *err) {
    size_t total = 1, n;
    *text = NULL;
    if (len)
        *len = 0;
    for (int i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab)
            return gc_fail(err, GC_ERR_INVALID_ARG, "tokenizer: id %d at position %d is out of range (vocabulary %d)",
                           (int)ids[i], i, t->n_vocab);
        total += t->tokens[ids[i]].raw_len;
    }
    char *out = malloc(total);
    if (!out)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "tokenizer: out of host memory decoding %d ids", n_ids);
    size_t o = 0;
    for (int i = 0; i < n_ids; i++) {
        const char *p = output_piece(t, i ? ids[i - 1] : -1, ids[i], &n);
        memcpy(out + o, p, n);
        o += n;
    }
    out[o] = '\0';
    *text = out;
    if (len)
        *len = o;
    return GC_OK;
}

void gc_detok_init(gc_detok *d, const gc_tokenizer *t) {
    memset(d, 0, sizeof *d);
    d->t = t;
    d->prev = -1;
}

/* Bytes written to out, or dropped when they do not fit. */
static void emit(char *out, size_t cap, size_t *o, const void *s, size_t n) {
    if (*o + n <= cap) {
        memcpy(out + *o, s, n);
        *o += n;
    }
}

static void emit_pending_as_replacement(gc_detok *d, char *out, size_t cap, size_t *o) {
    if (d->n_pending) {
        emit(out, cap, o, "\xEF\xBF\xBD", 3);
        d->n_pending = 0;
    }
}

/* Feeds one byte: complete valid sequences go out, broken ones become U+FFFD. */
static void detok_byte(gc_detok *d, unsigned char b, char *out, size_t cap, size_t *o) {
    if (d->n_pending && (b & 0xC0) != 0x80)
        emit_pending_as_replacement(d, out, cap, o);
    if (!d->n_pending) {
        if (b < 0x80)
            emit(out, cap, o, &b, 1);
        else if (b >= 0xC2 && b <= 0xF4)
            d->pending[d->n_pending++] = b;
        else
            emit(out, cap, o, "\xEF\xBF\xBD", 3);
        return;
    }
    d->pending[d->n_pending++] = b;
    size_t need = d->pending[0] >= 0xF0 ? 4 : d->pending[0] >= 0xE0 ? 3 : 2;
    if (d->n_pending < need)
        return;
    size_t got;
    gc_utf8_decode(d->pending, d->n_pending, &got);
    if (got == need) {
        emit(out, cap, o, d->pending, need);
        d->n_pending = 0;
    } else {
        emit_pending_as_replacement(d, out, cap, o);
    }
}

size_t gc_detok_push(gc_detok *d, int32_t id, char *out, size_t cap) {
    size_t n, o = 0;
    const char *p = output_piece(d->t, d->prev, id, &n);
    d->prev = id;
    for (size_t i = 0; i < n; i++)
        detok_byte(d, (unsigned char)p[i], out, cap, &o);
    return o;
}

size_t gc_detok_flush(gc_detok *d, char *out, size_t cap) {
    size_t o = 0;
    emit_pending_as_replacement(d, out, cap, &o);
    return o;
}
