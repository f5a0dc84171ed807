/* load_llama2c.c - llama2.c's tokenizer.bin / tok512.bin: int32 max_token_length, then per token
 * { float32 score, int32 len, len bytes }. The token count is not in the file: the caller gives it, or it
 * is the number of records that exactly fill the file. */
#include <string.h>

#include "tokenizer/tok_internal.h"

static int32_t read_i32(const unsigned char *p) {
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t r;
    memcpy(&r, &v, 4);
    return r;
}

static float read_f32(const unsigned char *p) {
    int32_t i = read_i32(p);
    float f;
    memcpy(&f, &i, 4);
    return f;
}

/* Walks the records; returns how many fit (stopping at max_records if > 0) and where they end. */
static int count_records(const unsigned char *data, size_t len, int max_records, size_t *end) {
    int32_t max_len = read_i32(data);
    size_t off = 4;
    int n = 0;
    while (off + 8 <= len && (max_records <= 0 || n < max_records)) {
        int32_t piece_len = read_i32(data + off + 4);
        if (piece_len < 0 || piece_len > max_len || (size_t)piece_len > len - off - 8)
            break;
        off += 8 + (size_t)piece_len;
        n++;
    }
    *end = off;
    return n;
}

bool tok_looks_like_llama2c(const unsigned char *data, size_t len, int vocab_size) {
    if (len < 12 || read_i32(data) <= 0 || read_i32(data) > 4096)
        return false;
    size_t end;
    int n = count_records(data, len, vocab_size, &end);
    return vocab_size > 0 ? n == vocab_size : n > 0 && end == len;
}

/* Says which record is broken and why. */
static gc_status explain_bad_record(const unsigned char *data, size_t len, int index, size_t off, gc_error *err) {
    if (off + 8 > len)
        return gc_fail(err, GC_ERR_FORMAT,
                       "llama2.c tokenizer truncated: token %d header at byte %zu "
                       "needs 8 bytes, file has %zu",
                       index, off, len);
    return gc_fail(err, GC_ERR_FORMAT,
                   "llama2.c tokenizer: token %d at byte %zu has length %d (max %d, "
                   "%zu bytes left)",
                   index, off, (int)read_i32(data + off + 4), (int)read_i32(data), len - off - 8);
}

gc_status tok_load_llama2c(const unsigned char *data, size_t len, int vocab_size, gc_tokenizer **out, gc_error *err) {
    *out = NULL;
    if (len < 4 || read_i32(data) <= 0)
        return gc_fail(err, GC_ERR_FORMAT, "llama2.c tokenizer: bad max_token_length header (%zu bytes)", len);
    size_t end;
    int n = count_records(data, len, vocab_size, &end);
    if (vocab_size > 0 && n < vocab_size)
        return explain_bad_record(data, len, n, end, err);
    if (vocab_size <= 0 && (n == 0 || end != len))
        return explain_bad_record(data, len, n, end, err);
    gc_tokenizer *t;
    gc_status st = tok_new(GC_TOKENIZER_LLAMA2C, n, &t, err);
    size_t off = 4;
    for (int i = 0; st == GC_OK && i < n; i++) {
        size_t piece_len = (size_t)read_i32(data + off + 4);
        /* BOS "\n<s>\n" and EOS "\n</s>\n" are control tokens: llama2.c never prints BOS, and stops there */
        int32_t type = i == 1 || i == 2 ? TOK_CONTROL : TOK_NORMAL;
        st = tok_set_token_text(t, i, (const char *)data + off + 8, piece_len, read_f32(data + off), type, err);
        off += 8 + piece_len;
    }
    if (st == GC_OK) {
        t->unk_id = 0;
        t->bos_id = n > 1 ? 1 : -1;
        t->eos_id = n > 2 ? 2 : -1;
        t->eot_id = t->bos_id; /* llama2.c's generation loop ends on BOS; a conversion carries this as EOT */
        t->add_bos = true;
        st = tok_finish(t, err);
    }
    if (st != GC_OK) {
        gc_tokenizer_free(t);
        return st;
    }
    *out = t;
    return GC_OK;
}
