/* load_tiktoken.c - a tiktoken BPE file (Llama 3's tokenizer.model): one line per token,
 * "<base64 of its bytes> <rank>". The rank is the id and the merge priority: two adjacent parts merge when
 * their concatenation is a token, lowest rank first. Words that are tokens are taken whole (tiktoken does
 * this before merging). With 128000 ranks the file is Llama 3's, whose 256 special tokens (not in the
 * file) follow at 128000.. as in meta-llama/llama3 tokenizer.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

#define LLAMA3_N_BASE 128000
#define LLAMA3_N_SPECIAL 256
#define TIKTOKEN_MAX_TOKEN_BYTES 1024

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Decodes n base64 characters (with '=' padding) into out; returns the byte count or -1 if invalid. */
static long b64_decode(const unsigned char *s, size_t n, unsigned char *out, size_t cap) {
    while (n > 0 && s[n - 1] == '=')
        n--;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == cap)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

/* One line "<base64> <rank>" of data[pos..); sets the end of the line and the fields' spans. */
typedef struct tt_line {
    size_t b64_off, b64_len, end;
    long rank;
} tt_line;

static bool parse_line(const unsigned char *data, size_t len, size_t pos, tt_line *l) {
    size_t i = pos;
    while (i < len && b64_value(data[i]) >= 0)
        i++;
    while (i < len && data[i] == '=')
        i++;
    l->b64_off = pos;
    l->b64_len = i - pos;
    if (l->b64_len == 0 || i >= len || data[i] != ' ')
        return false;
    size_t d = ++i;
    l->rank = 0;
    while (i < len && data[i] >= '0' && data[i] <= '9' && i - d < 9)
        l->rank = l->rank * 10 + (data[i++] - '0');
    if (i == d || (i < len && data[i] != '\n' && data[i] != '\r'))
        return false;
    while (i < len && (data[i] == '\r' || data[i] == '\n'))
        i++;
    l->end = i;
    return true;
}

bool tok_looks_like_tiktoken(const unsigned char *data, size_t len) {
    tt_line l;
    return parse_line(data, len, 0, &l) && (l.end == len || data[l.end - 1] == '\n');
}

/* Counts lines, checking each; on error names the line. */
static gc_status count_lines(const unsigned char *data, size_t len, int *n, gc_error *err) {
    tt_line l;
    *n = 0;
    if (len == 0 || data[len - 1] != '\n')
        return gc_fail(err, GC_ERR_FORMAT, "tiktoken file does not end with a newline (truncated?)");
    for (size_t pos = 0; pos < len; pos = l.end) {
        if (!parse_line(data, len, pos, &l))
            return gc_fail(err, GC_ERR_FORMAT, "tiktoken line %d (byte %zu) is not '<base64> <rank>'", *n + 1, pos);
        if (++*n > (1 << 24) - LLAMA3_N_SPECIAL)
            return gc_fail(err, GC_ERR_FORMAT, "tiktoken file has too many lines");
    }
    return GC_OK;
}

static gc_status fill_ranks(gc_tokenizer *t, const unsigned char *data, size_t len, int n_base, gc_error *err) {
    unsigned char bytes[TIKTOKEN_MAX_TOKEN_BYTES];
    tt_line l;
    int line = 0;
    for (size_t pos = 0; pos < len; pos = l.end) {
        parse_line(data, len, pos, &l);
        line++;
        long n = b64_decode(data + l.b64_off, l.b64_len, bytes, sizeof bytes);
        if (n <= 0 || l.rank >= n_base || t->tokens[l.rank].type != 0)
            return gc_fail(err, GC_ERR_FORMAT,
                           "tiktoken line %d: bad base64, or rank %ld repeated or not "
                           "below the line count %d",
                           line, l.rank, n_base);
        gc_status st = tok_set_token(t, (int32_t)l.rank, (const char *)bytes, (size_t)n, (const char *)bytes, (size_t)n,
                                     -(float)l.rank, TOK_NORMAL, err);
        if (st != GC_OK)
            return st;
    }
    return GC_OK;
}

static gc_status add_llama3_specials(gc_tokenizer *t, gc_error *err) {
    static const char *const named[] = {"<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                                        "<|reserved_special_token_1|>", "<|reserved_special_token_2|>",
                                        "<|reserved_special_token_3|>", "<|start_header_id|>",
                                        "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>"};
    const int n_named = (int)(sizeof named / sizeof named[0]);
    char buf[64];
    for (int i = 0; i < LLAMA3_N_SPECIAL; i++) {
        if (i < n_named)
            snprintf(buf, sizeof buf, "%s", named[i]);
        else
            snprintf(buf, sizeof buf, "<|reserved_special_token_%d|>", i - n_named + 5);
        gc_status st = tok_set_token(t, LLAMA3_N_BASE + i, buf, strlen(buf), buf, strlen(buf), 0.0f, TOK_CONTROL, err);
        if (st != GC_OK)
            return st;
    }
    t->bos_id = LLAMA3_N_BASE;
    t->eos_id = LLAMA3_N_BASE + 1;
    t->eot_id = LLAMA3_N_BASE + 9;
    t->add_bos = true;
    return GC_OK;
}

/* Merge rules from the ranks: every split of a token into two tokens is a rule with the token's rank. */
static gc_status derive_merges(gc_tokenizer *t, int n_base, gc_error *err) {
    for (int32_t id = 0; id < n_base; id++) {
        size_t n;
        const char *s = tok_text(t, id, &n);
        for (size_t k = 1; k < n; k++) {
            int32_t left = tok_lookup(t, s, k), right = left >= 0 ? tok_lookup(t, s + k, n - k) : -1;
            if (right >= 0 && tok_pairmap_put(&t->merges, left, right, id, id) != GC_OK)
                return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory for merges");
        }
    }
    return GC_OK;
}

gc_status tok_load_tiktoken(const unsigned char *data, size_t len, gc_tokenizer **out, gc_error *err) {
    int n_base;
    *out = NULL;
    gc_status st = count_lines(data, len, &n_base, err);
    if (st != GC_OK)
        return st;
    bool llama3 = n_base == LLAMA3_N_BASE;
    gc_tokenizer *t = NULL;
    if ((st = tok_new(GC_TOKENIZER_BPE, n_base + (llama3 ? LLAMA3_N_SPECIAL : 0), &t, err)) == GC_OK) {
        t->pretok = TOK_PRETOK_LLAMA3;
        t->ignore_merges = true;
        st = fill_ranks(t, data, len, n_base, err);
    }
    if (st == GC_OK && llama3)
        st = add_llama3_specials(t, err);
    if (st == GC_OK && (st = tok_finish(t, err)) == GC_OK)
        st = derive_merges(t, n_base, err);
    if (st != GC_OK) {
        gc_tokenizer_free(t);
        return st;
    }
    *out = t;
    return GC_OK;
}
