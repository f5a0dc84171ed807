/* fuzz_common.h - what both fuzz targets do with a tokenizer that loaded: encode a fixed text and the
 * input itself (with and without special tokens), decode the ids whole and streamed. Any crash, leak or
 * out-of-bounds access is a bug; error returns are fine. */
#ifndef GEMCL_FUZZ_COMMON_H
#define GEMCL_FUZZ_COMMON_H

#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/tokenizer.h"

static void fuzz_encode_decode(const gc_tokenizer *t, const char *text, size_t len, bool special) {
    int32_t *ids;
    int n;
    gc_error err;
    if (gc_tokenizer_encode(t, text, len, true, special, &ids, &n, &err) != GC_OK)
        return;
    char *back;
    size_t back_len;
    if (gc_tokenizer_decode(t, ids, n, &back, &back_len, &err) == GC_OK)
        free(back);
    gc_detok d;
    size_t cap = 3 * (gc_tokenizer_max_piece_len(t) + 4) + 64;
    char *out = malloc(cap);
    gc_detok_init(&d, t);
    for (int i = 0; out && i < n; i++)
        gc_detok_push(&d, ids[i], out, cap);
    if (out)
        gc_detok_flush(&d, out, cap);
    free(out);
    free(ids);
}

static void fuzz_use(const gc_tokenizer *t, const unsigned char *data, size_t size) {
    static const char fixed[] = "Hello world! 123 h\xC3\xA9llo <s> <|endoftext|>\n\n  \xE6\x97\xA5\xFF";
    fuzz_encode_decode(t, fixed, sizeof fixed - 1, false);
    fuzz_encode_decode(t, fixed, sizeof fixed - 1, true);
    fuzz_encode_decode(t, (const char *)data, size < 4096 ? size : 4096, true);
    for (int32_t id = -1; id <= gc_tokenizer_n_vocab(t); id += 1 + gc_tokenizer_n_vocab(t) / 64) {
        size_t len;
        gc_tokenizer_piece(t, id, &len);
    }
}

/* The next word must start where the last one ended and hold at least one byte. */
static bool fuzz_word(const unsigned char *w, size_t n, void *user) {
    const unsigned char **next = user;
    if (w != *next || n == 0)
        abort();
    *next = w + n;
    return true;
}

/* Every pre-tokenizer over the input as text: its words must tile it. */
static void fuzz_pretok(const unsigned char *data, size_t size) {
    static const tok_pretok kinds[] = {TOK_PRETOK_GPT2, TOK_PRETOK_LLAMA3, TOK_PRETOK_QWEN2, TOK_PRETOK_DEFAULT,
                                       TOK_PRETOK_FALCON};
    size_t len = size < 4096 ? size : 4096;
    for (size_t k = 0; k < 2 * sizeof kinds / sizeof kinds[0]; k++) {
        const unsigned char *next = data;
        tok_pretok_words(kinds[k / 2], k % 2, data, len, fuzz_word, &next);
        if (next != data + len)
            abort();
    }
}

#endif
