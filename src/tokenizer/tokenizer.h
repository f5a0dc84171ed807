/* tokenizer.h - text <-> token ids for the tokenizers Llama-family models use:
 *   - SentencePiece-style BPE (Llama 2, Mistral, Phi-3): from tokenizer.model (protobuf), from GGUF metadata,
 *     from tokenizer.json, and llama2.c's tokenizer.bin / tok512.bin (llama2.c's own merge rule);
 *   - byte-level BPE (Llama 3, Qwen2, SmolLM2): from tokenizer.json and from a tiktoken tokenizer.model.
 * Host-only; depends on nothing but util and cJSON.
 *
 * Encoding follows the reference of each format exactly (tests/test_tokenizer.c checks it): llama.cpp's
 * llm_tokenizer_spm / sentencepiece for SentencePiece, tiktoken for Llama 3, HF tokenizers for
 * tokenizer.json, llama2.c run.c for its .bin files. Apart from gc_tokenizer_set_special a tokenizer is not
 * changed after loading: encode and decode may run from several threads at once.
 *
 *     gc_tokenizer *t;
 *     gc_error err;
 *     if (gc_tokenizer_load("tokenizer.model", 0, &t, &err) != GC_OK) { report(err.msg); return; }
 *     int32_t *ids; int n;
 *     if (gc_tokenizer_encode(t, text, text_len, gc_tokenizer_add_bos(t), false, &ids, &n, &err) == GC_OK) {
 *         ... use ids[0..n) ...
 *         free(ids);
 *     }
 *     gc_tokenizer_free(t);
 */
#ifndef GC_TOKENIZER_H
#define GC_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct gc_tokenizer gc_tokenizer;

typedef enum gc_tokenizer_kind {
    GC_TOKENIZER_LLAMA2C = 0, /* llama2.c .bin: SentencePiece pieces with ' ', greedy best-score merges */
    GC_TOKENIZER_SPM = 1,     /* SentencePiece BPE with U+2581 and byte fallback */
    GC_TOKENIZER_BPE = 2,     /* byte-level BPE (GPT-2 byte map or tiktoken raw bytes) */
} gc_tokenizer_kind;

/* Loads a tokenizer file, detecting its kind from its content: llama2.c .bin (vocab_size should then be
 * given, it is not in the file; with vocab_size <= 0 the records must fill the file exactly), SentencePiece
 * tokenizer.model (protobuf, BPE models only), tiktoken tokenizer.model (base64 lines; 128000 ranks = Llama 3,
 * whose 256 special tokens are added), tokenizer.json (model.type BPE). vocab_size <= 0 = unknown. On
 * error (GC_ERR_IO, _FORMAT, _UNSUPPORTED, _OUT_OF_MEMORY) the message starts with the path and *out is
 * NULL. The caller frees *out with gc_tokenizer_free. */
gc_status gc_tokenizer_load(const char *path, int vocab_size, gc_tokenizer **out, gc_error *err);

/* The same from len bytes already in memory (not NUL-terminated); name is used in error messages. */
gc_status gc_tokenizer_load_memory(const void *data, size_t len, const char *name, int vocab_size, gc_tokenizer **out,
                                   gc_error *err);

/* A vocabulary given as arrays (how GGUF metadata holds it). Strings are not NUL-terminated. */
typedef struct gc_vocab_arrays {
    const char *model;              /* "llama" (SentencePiece) or "gpt2" (byte-level BPE) */
    const char *pre;                /* tokenizer.ggml.pre ("llama-bpe", "qwen2", ...) or NULL */
    int n_tokens;
    const char *const *tokens;      /* [n_tokens] */
    const size_t *token_lens;       /* [n_tokens] */
    const float *scores;            /* [n_tokens] or NULL */
    const int32_t *token_types;     /* [n_tokens] or NULL: 1 normal, 2 unknown, 3 control, 4 user, 6 byte */
    int n_merges;
    const char *const *merges;      /* [n_merges] "a b" strings (gpt2) or NULL */
    const size_t *merge_lens;
    int bos_id, eos_id, unk_id;     /* -1 = none */
    int add_bos;                    /* 1, 0, or -1 (no tokenizer.ggml.add_bos_token): llama.cpp's default, BOS
                                       for SentencePiece and the Llama 3 pre-tokenizers, none for other BPE */
    bool add_eos;
    bool no_space_prefix;           /* llama: no U+2581 before the text (GGUF add_space_prefix false) */
} gc_vocab_arrays;

gc_status gc_tokenizer_from_vocab(const gc_vocab_arrays *vocab, gc_tokenizer **out, gc_error *err);

void gc_tokenizer_free(gc_tokenizer *t);

gc_tokenizer_kind gc_tokenizer_get_kind(const gc_tokenizer *t);
int gc_tokenizer_n_vocab(const gc_tokenizer *t);
int gc_tokenizer_bos(const gc_tokenizer *t); /* -1 if none */
int gc_tokenizer_eos(const gc_tokenizer *t); /* -1 if none */
bool gc_tokenizer_add_bos(const gc_tokenizer *t); /* whether the format asks for BOS before a prompt */
bool gc_tokenizer_add_eos(const gc_tokenizer *t); /* whether it asks for EOS after one (GGUF add_eos_token) */

/* True for tokens that end generation: EOS and an end-of-turn token (<|eot_id|>, <|im_end|>, <|end|>; BOS for
 * llama2.c, whose stories are delimited by it). */
bool gc_tokenizer_is_eog(const gc_tokenizer *t, int32_t id);

/* The end-of-turn token (-1 if none) and its setter (GGUF's tokenizer.ggml.eot_token_id). */
int gc_tokenizer_eot(const gc_tokenizer *t);
gc_status gc_tokenizer_set_eot(gc_tokenizer *t, int eot_id, gc_error *err);

/* Overrides BOS/EOS (-1 = none), e.g. from a model's config.json, which tokenizer.json does not carry. */
gc_status gc_tokenizer_set_special(gc_tokenizer *t, int bos_id, int eos_id, gc_error *err);

/* The longest piece in bytes: gc_detok_push needs cap >= 3 * (this + 4) to never drop output. */
size_t gc_tokenizer_max_piece_len(const gc_tokenizer *t);

/* Encodes len bytes of text. add_bos prepends BOS; parse_special recognises special/added tokens written
 * in the text (otherwise they are plain text). *ids is malloc'd; the caller frees it. */
gc_status gc_tokenizer_encode(const gc_tokenizer *t, const char *text, size_t len, bool add_bos, bool parse_special,
                              int32_t **ids, int *n_ids, gc_error *err);

/* Encodes a prompt: add_bos < 0 takes the specials the format asks for (BOS when gc_tokenizer_add_bos, EOS
 * when gc_tokenizer_add_eos: llama.cpp's add_special); 0 or 1 turns BOS off or on and adds no EOS. */
gc_status gc_tokenizer_encode_prompt(const gc_tokenizer *t, const char *text, size_t len, int add_bos,
                                     bool parse_special, int32_t **ids, int *n_ids, gc_error *err);

/* The raw bytes token id stands for (U+2581 -> ' ', <0xNN> -> that byte, byte-level map undone); special
 * tokens give their text. Returns NULL for an id out of range. Not NUL-terminated: *len bytes. */
const char *gc_tokenizer_piece(const gc_tokenizer *t, int32_t id, size_t *len);

/* Streaming detokenizer: feeds ids one by one and emits only complete UTF-8 sequences, so a character
 * split over two tokens is printed once, whole. Applies the SentencePiece rule that the leading space
 * of the first piece after BOS is dropped (as llama2.c and llama.cpp do); the start of the stream
 * (prev == -1) counts as "after BOS", like llama.cpp's detokenize. To continue after a prompt, set prev to
 * the prompt's last id after gc_detok_init. Control tokens (BOS, EOS, <|eot_id|>...) print nothing;
 * invalid UTF-8 prints as U+FFFD, so the output is always valid UTF-8. */
typedef struct gc_detok {
    const gc_tokenizer *t;
    int32_t prev;           /* previous id, -1 at start */
    unsigned char pending[8];
    size_t n_pending;
} gc_detok;

void gc_detok_init(gc_detok *d, const gc_tokenizer *t);

/* Appends the text completed by id to out (capacity cap, see gc_tokenizer_max_piece_len; what does not
 * fit is dropped); returns bytes written. */
size_t gc_detok_push(gc_detok *d, int32_t id, char *out, size_t cap);

/* Flushes an incomplete trailing sequence (as U+FFFD); returns bytes written. */
size_t gc_detok_flush(gc_detok *d, char *out, size_t cap);

/* Decodes a whole id sequence into a malloc'd NUL-terminated string (the caller frees it); len may be NULL.
 * Same rules as gc_detok but the bytes are concatenated as they are (no UTF-8 repair), so
 * decode(encode(x)) == x for any text. An id out of range is GC_ERR_INVALID_ARG. */
gc_status gc_tokenizer_decode(const gc_tokenizer *t, const int32_t *ids, int n_ids, char **text, size_t *len,
                              gc_error *err);

#endif
