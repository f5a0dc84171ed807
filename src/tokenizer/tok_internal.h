/* tok_internal.h - the tokenizer object shared by the loaders (load_*.c), the encoders (encode_*.c) and
 * the public functions (tokenizer.c). Not part of the contract. */
#ifndef GC_TOKENIZER_INTERNAL_H
#define GC_TOKENIZER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"

enum { TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_USER = 4, TOK_UNUSED = 5, TOK_BYTE = 6 };

/* How byte-level BPE splits text into words before merging (the regex of its pre-tokenizer). */
typedef enum tok_pretok {
    TOK_PRETOK_GPT2 = 0,   /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    TOK_PRETOK_LLAMA3 = 1, /* (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|... */
    TOK_PRETOK_QWEN2 = 2,  /* Llama 3's with \p{N} (one digit per word) */
    TOK_PRETOK_DEFAULT = 3, /* llama.cpp's "default" (tokenizer.ggml.pre "default" or absent): runs of
                               [\p{P}$+<=>^~|] apart, GPT-2's regex in each, then \p{N}+, then [0-9]{3} */
    TOK_PRETOK_FALCON = 4,  /* the default's with ` among the punctuation and no \p{N}+ */
} tok_pretok;

/* Open-addressing hash map from a byte string (offset/length into an arena) to a token id. */
typedef struct tok_strmap {
    int32_t *slots;  /* (cap) token ids, -1 = empty */
    size_t cap;      /* power of two */
} tok_strmap;

/* Open-addressing map from an ordered pair of ids to (rank, merged id): BPE merge rules. */
typedef struct tok_pair_entry {
    uint64_t key; /* (uint64)left << 32 | right; UINT64_MAX = empty */
    int32_t rank, result;
} tok_pair_entry;

typedef struct tok_pairmap {
    tok_pair_entry *slots; /* (cap) */
    size_t cap, count;
} tok_pairmap;

typedef struct tok_token {
    uint32_t text_off, text_len; /* the vocabulary's spelling (U+2581, GPT-2 byte map) in arena */
    uint32_t raw_off, raw_len;   /* the bytes it decodes to, in arena */
    float score;
    int32_t type; /* TOK_* */
} tok_token;

struct gc_tokenizer {
    gc_tokenizer_kind kind;
    int n_vocab;
    tok_token *tokens; /* (n_vocab) */
    char *arena;       /* (arena_len) bytes holding every token's text and raw bytes */
    size_t arena_len, arena_cap;
    tok_strmap by_text;    /* token text -> id (every token) */
    tok_pairmap merges;    /* rank-ordered merges (byte-level BPE, SPM from tokenizer.json); empty otherwise */
    int32_t byte_ids[256]; /* the token standing for each byte (<0xNN>, a mapped char, a tiktoken byte) or -1 */
    int32_t *specials;     /* (n_specials) control and user tokens matched in text, longest first */
    int n_specials;
    int bos_id, eos_id, eot_id, unk_id;
    bool add_bos, add_eos;
    bool add_space_prefix; /* SPM: a leading U+2581 before the text */
    bool byte_map;         /* BPE: vocabulary spelled with GPT-2's bytes_to_unicode */
    bool ignore_merges;    /* BPE: a word that is itself a token is taken whole (tiktoken, Llama 3) */
    bool space_splits;     /* SPM, llama2.c: no mergeable token has a space after a non-space (build.c) */
    bool split_digits;     /* BPE: Digits(individual_digits) before the regex (SmolLM2) */
    tok_pretok pretok;
    size_t max_raw_len;
};

/* --- building (tokenizer.c) --- */
gc_status tok_new(gc_tokenizer_kind kind, int n_vocab, gc_tokenizer **out, gc_error *err);
/* Sets token id's text and raw bytes (copied into the arena). */
gc_status tok_set_token(gc_tokenizer *t, int32_t id, const char *text, size_t text_len, const char *raw, size_t raw_len,
                        float score, int32_t type, gc_error *err);
/* The same with the raw bytes derived from the text (tok_text_to_raw); kind and byte_map must be set. */
gc_status tok_set_token_text(gc_tokenizer *t, int32_t id, const char *text, size_t text_len, float score, int32_t type,
                             gc_error *err);
/* After every token is set: builds the text map, byte ids, special list; checks ids. */
gc_status tok_finish(gc_tokenizer *t, gc_error *err);
/* Raw bytes of a vocabulary spelling: U+2581 -> ' ' and <0xNN> -> byte (SPM), GPT-2 map undone (BPE).
 * out has room for text_len bytes; returns the byte count. */
size_t tok_text_to_raw(const gc_tokenizer *t, const char *text, size_t text_len, int32_t type, char *out);
/* The first id whose text is exactly s[0..n), or -1. */
int32_t tok_lookup(const gc_tokenizer *t, const char *s, size_t n);
const char *tok_text(const gc_tokenizer *t, int32_t id, size_t *len);

/* --- merge rules (maps.c) --- */
gc_status tok_pairmap_put(tok_pairmap *m, int32_t left, int32_t right, int32_t rank, int32_t result);
const tok_pair_entry *tok_pairmap_get(const tok_pairmap *m, int32_t left, int32_t right);
void tok_pairmap_free(tok_pairmap *m);
uint64_t tok_hash_bytes(const char *s, size_t n);

/* Builds merges from "a b" / [a, b] rules: rank = index, result = id of the text a+b. Rules naming unknown
 * tokens are an error. (tokenizer.json and GGUF share this.) */
gc_status tok_add_merge(gc_tokenizer *t, const char *a, size_t a_len, const char *b, size_t b_len, int32_t rank,
                        gc_error *err);

/* --- encoding (encode.c, pretok.c) --- */
/* A growable id list. */
typedef struct tok_ids {
    int32_t *ids;
    size_t n, cap;
} tok_ids;
bool tok_ids_push(tok_ids *v, int32_t id);

bool tok_encode_llama2c(const gc_tokenizer *t, const char *text, size_t len, tok_ids *out);
bool tok_encode_spm(const gc_tokenizer *t, const char *text, size_t len, bool add_prefix, tok_ids *out);
bool tok_encode_bpe(const gc_tokenizer *t, const char *text, size_t len, tok_ids *out);

/* Calls word for each pre-tokenizer word of text in order (the words tile text); split_digits makes every
 * \p{N} character a piece of its own first (SmolLM). Stops and returns false when word does. */
bool tok_pretok_words(tok_pretok kind, bool split_digits, const unsigned char *text, size_t len,
                      bool (*word)(const unsigned char *w, size_t n, void *user), void *user);

/* --- loaders (load_*.c); data is not NUL-terminated. Their messages leave out the file name, which
 * gc_tokenizer_load_memory puts in front. --- */
gc_status tok_load_llama2c(const unsigned char *data, size_t len, int vocab_size, gc_tokenizer **out, gc_error *err);
bool tok_looks_like_llama2c(const unsigned char *data, size_t len, int vocab_size);
gc_status tok_load_sp_model(const unsigned char *data, size_t len, gc_tokenizer **out, gc_error *err);
gc_status tok_load_tiktoken(const unsigned char *data, size_t len, gc_tokenizer **out, gc_error *err);
bool tok_looks_like_tiktoken(const unsigned char *data, size_t len);
gc_status tok_load_json(const char *data, size_t len, gc_tokenizer **out, gc_error *err);

#endif
