/* test_tokenizer.c - every tokenizer kind against outside references: llama.cpp's test vectors (Llama 2
 * SentencePiece from tokenizer.model and from GGUF, Phi-3 from GGUF, Llama 3 from tiktoken), SmolLM2's
 * tokenizer.json on the essays, llama2.c's encode on tok512.bin; streaming decode; bad files. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gemcl.h"
#include "api_edge.h"
#include "harness.h"
#include "model/model.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "util/fileio.h"
#include "util/hash.h"

/* ---- a minimal GGUF metadata reader, test-local (src/model owns the real one) ---- */

typedef struct gguf_buf {
    const unsigned char *p;
    size_t len, pos;
    bool bad;
} gguf_buf;

static const unsigned char *gguf_take(gguf_buf *b, size_t n) {
    if (b->bad || n > b->len - b->pos) {
        b->bad = true;
        return NULL;
    }
    b->pos += n;
    return b->p + b->pos - n;
}

static uint64_t gguf_uint(gguf_buf *b, size_t n) {
    const unsigned char *q = gguf_take(b, n);
    uint64_t v = 0;
    for (size_t i = n; q && i-- > 0;)
        v = v << 8 | q[i];
    return v;
}

static const char *gguf_str(gguf_buf *b, size_t *len) {
    *len = (size_t)gguf_uint(b, 8);
    return (const char *)gguf_take(b, *len);
}

static size_t gguf_scalar_size(uint32_t type) {
    static const size_t sizes[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return type < 13 ? sizes[type] : 0;
}

/* The arrays and ids of the tokenizer keys; the arrays point into the file buffer or malloc'd copies. */
typedef struct gguf_vocab {
    gc_vocab_arrays v;
    char model[32];
    const char **tokens;
    size_t *lens;
    float *scores;
    int32_t *types;
} gguf_vocab;

static bool key_is(const char *key, size_t klen, const char *want) {
    return klen == strlen(want) && memcmp(key, want, klen) == 0;
}

static void gguf_array(gguf_buf *b, const char *key, size_t klen, gguf_vocab *g) {
    uint32_t et = (uint32_t)gguf_uint(b, 4);
    uint64_t n = gguf_uint(b, 8);
    bool tokens = key_is(key, klen, "tokenizer.ggml.tokens") && et == 8;
    bool scores = key_is(key, klen, "tokenizer.ggml.scores") && et == 6;
    bool types = key_is(key, klen, "tokenizer.ggml.token_type") && et == 5;
    if (n > 1000000 || (et != 8 && gguf_scalar_size(et) == 0))
        b->bad = true;
    if (b->bad)
        return;
    if (tokens) {
        g->tokens = calloc(n, sizeof *g->tokens);
        g->lens = calloc(n, sizeof *g->lens);
        g->v.n_tokens = (int)n;
    }
    if (scores)
        g->scores = calloc(n, sizeof *g->scores);
    if (types)
        g->types = calloc(n, sizeof *g->types);
    for (uint64_t i = 0; i < n && !b->bad; i++) {
        if (et == 8) {
            size_t l;
            const char *s = gguf_str(b, &l);
            if (tokens) {
                g->tokens[i] = s;
                g->lens[i] = l;
            }
            continue;
        }
        uint32_t w = (uint32_t)gguf_uint(b, gguf_scalar_size(et));
        if (scores)
            memcpy(&g->scores[i], &w, 4);
        if (types)
            g->types[i] = (int32_t)w;
    }
}

/* One key/value: arrays via gguf_array, the ids and model name kept, the rest skipped. */
static void gguf_kv(gguf_buf *b, gguf_vocab *g) {
    size_t klen, slen;
    const char *key = gguf_str(b, &klen);
    uint32_t type = (uint32_t)gguf_uint(b, 4);
    if (b->bad)
        return;
    if (type == 9) {
        gguf_array(b, key, klen, g);
    } else if (type == 8) {
        const char *s = gguf_str(b, &slen);
        if (s && key_is(key, klen, "tokenizer.ggml.model"))
            snprintf(g->model, sizeof g->model, "%.*s", (int)slen, s);
    } else if (gguf_scalar_size(type)) {
        uint64_t v = gguf_uint(b, gguf_scalar_size(type));
        if (key_is(key, klen, "tokenizer.ggml.bos_token_id"))
            g->v.bos_id = (int)v;
        else if (key_is(key, klen, "tokenizer.ggml.eos_token_id"))
            g->v.eos_id = (int)v;
        else if (key_is(key, klen, "tokenizer.ggml.unknown_token_id"))
            g->v.unk_id = (int)v;
        else if (key_is(key, klen, "tokenizer.ggml.add_bos_token"))
            g->v.add_bos = v != 0;
    } else {
        b->bad = true;
    }
}

/* Reads the tokenizer keys of a GGUF file held in data; false if it is not a well-formed GGUF v2/v3. */
static bool gguf_read_vocab(const char *data, size_t len, gguf_vocab *g) {
    gguf_buf b = {(const unsigned char *)data, len, 0, false};
    memset(g, 0, sizeof *g);
    g->v.bos_id = g->v.eos_id = g->v.unk_id = g->v.add_bos = -1; /* -1: no such key */
    const unsigned char *magic = gguf_take(&b, 4);
    uint32_t version = (uint32_t)gguf_uint(&b, 4);
    gguf_uint(&b, 8); /* n_tensors */
    uint64_t n_kv = gguf_uint(&b, 8);
    if (!magic || memcmp(magic, "GGUF", 4) != 0 || version < 2)
        return false;
    for (uint64_t i = 0; i < n_kv && !b.bad; i++)
        gguf_kv(&b, g);
    g->v.model = g->model;
    g->v.tokens = g->tokens;
    g->v.token_lens = g->lens;
    g->v.scores = g->scores;
    g->v.token_types = g->types;
    return !b.bad && g->tokens;
}

static void gguf_vocab_free(gguf_vocab *g) {
    free(g->tokens);
    free(g->lens);
    free(g->scores);
    free(g->types);
}

/* ---- llama.cpp test vectors ---- */

#define VOCAB_SEP "\n__ggml_vocab_test__\n"

/* Splits an .inp file into its strings (pointers into data, which is modified). Returns the count. */
static int split_inputs(char *data, size_t len, const char **strs, size_t *lens, int max) {
    int n = 0;
    size_t sep = strlen(VOCAB_SEP), pos = 0;
    while (pos < len && n < max) {
        char *end = memmem(data + pos, len - pos, VOCAB_SEP, sep);
        if (!end)
            break;
        strs[n] = data + pos;
        lens[n++] = (size_t)(end - (data + pos));
        pos = (size_t)(end - data) + sep;
    }
    return n;
}

/* Parses line `line` of an .out file into ids; returns the count. */
static int expected_ids(const char *out, int line, int32_t *ids, int max) {
    const char *p = out;
    for (int i = 0; i < line && p; i++) {
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    ck_assert_ptr_nonnull(p);
    int n = 0;
    while (*p && *p != '\n' && n < max) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        ids[n++] = (int32_t)v;
        p = end;
    }
    return n;
}

static bool ids_equal(const int32_t *a, int na, const int32_t *b, int nb) {
    return na == nb && (na == 0 || memcmp(a, b, (size_t)na * sizeof *a) == 0);
}

/* Runs every vector of files <stem>.inp/.out through t; asserts all match exactly and that decode(encode(x))
 * gives x back. */
static void check_vectors(const gc_tokenizer *t, const char *stem, const char *label) {
    char rel[256], *inp, *out;
    size_t inp_len, out_len;
    gc_error err;
    snprintf(rel, sizeof rel, "models/ggml-vocab/%s.inp", stem);
    ck_assert_int_eq(gc_file_read(test_shared_path(rel), &inp, &inp_len, &err), GC_OK);
    snprintf(rel, sizeof rel, "models/ggml-vocab/%s.out", stem);
    ck_assert_int_eq(gc_file_read(test_shared_path(rel), &out, &out_len, &err), GC_OK);
    const char *strs[64];
    size_t lens[64];
    int n = split_inputs(inp, inp_len, strs, lens, 64), exact = 0, round_trips = 0;
    ck_assert_int_eq(n, 46);
    for (int i = 0; i < n; i++) {
        int32_t want[512], *got;
        int n_want = expected_ids(out, i, want, 512), n_got;
        ck_assert_int_eq(gc_tokenizer_encode(t, strs[i], lens[i], false, false, &got, &n_got, &err), GC_OK);
        if (ids_equal(got, n_got, want, n_want))
            exact++;
        else
            fprintf(stderr, "%s: vector %d '%.*s' differs (%d ids, want %d)\n", label, i, (int)lens[i], strs[i],
                    n_got, n_want);
        char *text;
        size_t text_len;
        ck_assert_int_eq(gc_tokenizer_decode(t, got, n_got, &text, &text_len, &err), GC_OK);
        round_trips += text_len == lens[i] && memcmp(text, strs[i], text_len) == 0;
        free(text);
        free(got);
    }
    fprintf(stderr, "%s: %d/%d exact, %d/%d round trips\n", label, exact, n, round_trips, n);
    free(inp);
    free(out);
    ck_assert_int_eq(exact, n);
    ck_assert_int_eq(round_trips, n);
}

static gc_tokenizer *load_shared(const char *rel, int vocab_size) {
    gc_tokenizer *t = NULL;
    gc_error err;
    ck_assert_msg(gc_tokenizer_load(test_shared_path(rel), vocab_size, &t, &err) == GC_OK, "%s", err.msg);
    return t;
}

static bool vectors_missing(const char *model_rel, const char *stem) {
    char rel[256];
    snprintf(rel, sizeof rel, "models/ggml-vocab/%s.out", stem);
    return test_skip_if_missing(test_shared_path(model_rel), model_rel) ||
           test_skip_if_missing(test_shared_path(rel), rel);
}

START_TEST(spm_model_matches_llama_cpp_vectors) {
    const char *rel = "models/llama2-tokenizer/tokenizer.model";
    if (vectors_missing(rel, "ggml-vocab-llama-spm.gguf"))
        return;
    gc_tokenizer *t = load_shared(rel, 0);
    ck_assert_int_eq(gc_tokenizer_get_kind(t), GC_TOKENIZER_SPM);
    ck_assert_int_eq(gc_tokenizer_n_vocab(t), 32000);
    ck_assert_int_eq(gc_tokenizer_bos(t), 1);
    ck_assert_int_eq(gc_tokenizer_eos(t), 2);
    check_vectors(t, "ggml-vocab-llama-spm.gguf", "llama-spm tokenizer.model");
    gc_tokenizer_free(t);
}
END_TEST

/* Loads a vocab-only GGUF through the test-local reader and gc_tokenizer_from_vocab. */
static gc_tokenizer *load_gguf_vocab(const char *rel) {
    char *data;
    size_t len;
    gguf_vocab g;
    gc_error err;
    gc_tokenizer *t = NULL;
    ck_assert_int_eq(gc_file_read(test_shared_path(rel), &data, &len, &err), GC_OK);
    ck_assert_msg(gguf_read_vocab(data, len, &g), "%s: not a GGUF the test reader understands", rel);
    ck_assert_str_eq(g.model, "llama");
    ck_assert_msg(gc_tokenizer_from_vocab(&g.v, &t, &err) == GC_OK, "%s", err.msg);
    gguf_vocab_free(&g);
    free(data);
    return t;
}

START_TEST(spm_gguf_matches_llama_cpp_vectors) {
    const char *rel = "models/ggml-vocab/ggml-vocab-llama-spm.gguf";
    if (vectors_missing(rel, "ggml-vocab-llama-spm.gguf"))
        return;
    gc_tokenizer *t = load_gguf_vocab(rel);
    ck_assert_int_eq(gc_tokenizer_n_vocab(t), 32000);
    check_vectors(t, "ggml-vocab-llama-spm.gguf", "llama-spm GGUF");
    gc_tokenizer_free(t);
}
END_TEST

START_TEST(phi3_gguf_matches_llama_cpp_vectors) {
    const char *rel = "models/ggml-vocab/ggml-vocab-phi-3.gguf";
    if (vectors_missing(rel, "ggml-vocab-phi-3.gguf"))
        return;
    gc_tokenizer *t = load_gguf_vocab(rel);
    ck_assert_int_eq(gc_tokenizer_n_vocab(t), 32064);
    ck_assert_int_eq(gc_tokenizer_eos(t), 32000);
    check_vectors(t, "ggml-vocab-phi-3.gguf", "phi-3 GGUF");
    gc_tokenizer_free(t);
}
END_TEST

/* The Qwen2.5 GGUF's own vocabulary (gpt2 BPE, pre-tokenizer qwen2) against llama.cpp's qwen2 vectors. */
START_TEST(qwen2_gguf_matches_llama_cpp_vectors) {
    const char *path = test_qwen_gguf();
    if (!path || vectors_missing("models/ggml-vocab/ggml-vocab-qwen2.gguf.inp", "ggml-vocab-qwen2.gguf"))
        return;
    gc_tokenizer *t;
    gc_error err;
    ck_assert_msg(gc_model_tokenizer_load(path, &t, &err) == GC_OK, "%s", err.msg);
    ck_assert_int_eq(gc_tokenizer_get_kind(t), GC_TOKENIZER_BPE);
    ck_assert_int_eq(gc_tokenizer_n_vocab(t), 151936);
    check_vectors(t, "ggml-vocab-qwen2.gguf", "qwen2 GGUF");
    gc_tokenizer_free(t);
}
END_TEST

START_TEST(llama3_tiktoken_matches_llama_cpp_vectors) {
    const char *rel = "models/llama3-tokenizer/tokenizer.model";
    if (vectors_missing(rel, "ggml-vocab-llama-bpe.gguf"))
        return;
    gc_tokenizer *t = load_shared(rel, 0);
    ck_assert_int_eq(gc_tokenizer_get_kind(t), GC_TOKENIZER_BPE);
    ck_assert_int_eq(gc_tokenizer_n_vocab(t), 128256);
    ck_assert_int_eq(gc_tokenizer_bos(t), 128000);
    check_vectors(t, "ggml-vocab-llama-bpe.gguf", "llama-bpe tiktoken tokenizer.model");
    gc_tokenizer_free(t);
}
END_TEST

/* ---- SmolLM2 tokenizer.json on the essays ---- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Encodes and decodes one file; returns the token count, asserting the round trip is exact. */
static int round_trip_file(const gc_tokenizer *t, const char *path) {
    char *data, *text;
    size_t len, text_len;
    int32_t *ids;
    int n;
    gc_error err;
    ck_assert_int_eq(gc_file_read(path, &data, &len, &err), GC_OK);
    ck_assert_int_eq(gc_tokenizer_encode(t, data, len, false, false, &ids, &n, &err), GC_OK);
    ck_assert_int_eq(gc_tokenizer_decode(t, ids, n, &text, &text_len, &err), GC_OK);
    ck_assert_msg(text_len == len && memcmp(text, data, len) == 0, "%s does not round-trip", path);
    ck_assert_int_gt(n, 0);
    ck_assert_int_lt(n, (int)len); /* BPE must actually merge */
    free(text);
    free(ids);
    free(data);
    return n;
}

START_TEST(smollm2_json_round_trips_every_essay) {
    const char *rel = "models/smollm2-tokenizer/tokenizer.json", *dir_rel = "data/paul-graham-essays";
    if (test_skip_if_missing(test_shared_path(rel), rel) || test_skip_if_missing(test_shared_path(dir_rel), dir_rel))
        return;
    gc_tokenizer *t = load_shared(rel, 0);
    ck_assert_int_eq(gc_tokenizer_get_kind(t), GC_TOKENIZER_BPE);
    ck_assert_int_eq(gc_tokenizer_n_vocab(t), 49152);
    char dir[4096], list_cmd[4200], name[512];
    snprintf(dir, sizeof dir, "%s", test_shared_path(dir_rel));
    snprintf(list_cmd, sizeof list_cmd, "ls '%s' | grep '\\.txt$' | sort", dir);
    FILE *ls = popen(list_cmd, "r");
    ck_assert_ptr_nonnull(ls);
    int files = 0;
    long tokens = 0;
    double t0 = now_s();
    while (fgets(name, sizeof name, ls)) {
        name[strcspn(name, "\n")] = '\0';
        char path[4700];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        tokens += round_trip_file(t, path);
        files++;
    }
    pclose(ls);
    fprintf(stderr, "smollm2 tokenizer.json: %d essays round-trip exactly, %ld tokens, %.3f s\n", files, tokens,
            now_s() - t0);
    ck_assert_int_ge(files, 49);
    gc_tokenizer_free(t);
}
END_TEST

/* SmolLM2's pre-tokenizer isolates digits and splits words GPT-2 style; these ids were checked against the
 * vocabulary by hand: "Ġ" is the byte map's space. */
START_TEST(smollm2_json_splits_digits_and_parses_specials_only_when_asked) {
    const char *rel = "models/smollm2-tokenizer/tokenizer.json";
    if (test_skip_if_missing(test_shared_path(rel), rel))
        return;
    gc_tokenizer *t = load_shared(rel, 0);
    int32_t *ids;
    int n;
    gc_error err;
    const char *digits = "2024";
    ck_assert_int_eq(gc_tokenizer_encode(t, digits, 4, false, false, &ids, &n, &err), GC_OK);
    ck_assert_int_eq(n, 4);
    for (int i = 0; i < 4; i++) {
        size_t len;
        const char *p = gc_tokenizer_piece(t, ids[i], &len);
        ck_assert_int_eq((int)len, 1);
        ck_assert_int_eq(p[0], digits[i]);
    }
    free(ids);
    const char *chat = "<|im_start|>user";
    ck_assert_int_eq(gc_tokenizer_encode(t, chat, strlen(chat), false, true, &ids, &n, &err), GC_OK);
    ck_assert_int_eq(ids[0], 1);
    ck_assert_int_eq(n, 2);
    free(ids);
    ck_assert_int_eq(gc_tokenizer_encode(t, chat, strlen(chat), false, false, &ids, &n, &err), GC_OK);
    ck_assert_int_gt(n, 2);
    for (int i = 0; i < n; i++)
        ck_assert_int_ne(ids[i], 1);
    free(ids);
    gc_tokenizer_free(t);
}
END_TEST

START_TEST(llama3_parses_special_tokens_only_when_asked) {
    const char *rel = "models/llama3-tokenizer/tokenizer.model";
    if (test_skip_if_missing(test_shared_path(rel), rel))
        return;
    gc_tokenizer *t = load_shared(rel, 0);
    const char *s = "<|start_header_id|>user<|end_header_id|>";
    int32_t *ids;
    int n;
    gc_error err;
    ck_assert_int_eq(gc_tokenizer_encode(t, s, strlen(s), true, true, &ids, &n, &err), GC_OK);
    ck_assert_int_eq(n, 4);
    ck_assert_int_eq(ids[0], 128000);
    ck_assert_int_eq(ids[1], 128006);
    ck_assert_int_eq(ids[3], 128007);
    free(ids);
    ck_assert_int_eq(gc_tokenizer_encode(t, s, strlen(s), false, false, &ids, &n, &err), GC_OK);
    for (int i = 0; i < n; i++)
        ck_assert_int_lt(ids[i], 128000);
    free(ids);
    ck_assert(gc_tokenizer_is_eog(t, 128009));
    ck_assert(gc_tokenizer_is_eog(t, 128001));
    ck_assert(!gc_tokenizer_is_eog(t, 128000));
    gc_tokenizer_free(t);
}
END_TEST

/* ---- reference implementations on the essays and edge cases (tests/data/make_tokenizer_reference.py) ---- */

typedef struct reference_set {
    const char *name, *model_rel, *reference;
    const char *split_regex; /* replaces the pre_tokenizer by Split(regex) + ByteLevel, or NULL */
    int vocab_size;
    bool parse_special;      /* HF tokenizers always matches added tokens in the text */
    gc_tokenizer *t;
    int exact, total;
} reference_set;

#define LLAMA3_REGEX                                                                                            \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|" \
    "\\s+(?!\\S)|\\s+"
#define QWEN2_REGEX                                                                                             \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"      \
    "\\s+(?!\\S)|\\s+"

/* A tokenizer.json with its pre_tokenizer replaced the way Llama 3 and Qwen2 files write theirs. */
static gc_tokenizer *load_json_with_split(const char *rel, const char *regex) {
    char *data;
    size_t len;
    gc_error err;
    ck_assert_int_eq(gc_file_read(test_shared_path(rel), &data, &len, &err), GC_OK);
    cJSON *root = cJSON_ParseWithLength(data, len);
    ck_assert_ptr_nonnull(root);
    cJSON *pre = cJSON_Parse("{\"type\": \"Sequence\", \"pretokenizers\": ["
                             "{\"type\": \"Split\", \"pattern\": {}, \"behavior\": \"Isolated\", \"invert\": false},"
                             "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}]}");
    cJSON *pattern = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(pre, "pretokenizers"), 0), "pattern");
    cJSON_AddStringToObject(pattern, "Regex", regex);
    ck_assert(cJSON_ReplaceItemInObjectCaseSensitive(root, "pre_tokenizer", pre));
    char *text = cJSON_PrintUnformatted(root);
    gc_tokenizer *t = NULL;
    ck_assert_msg(gc_tokenizer_load_memory(text, strlen(text), rel, 0, &t, &err) == GC_OK, "%s", err.msg);
    cJSON_free(text);
    cJSON_Delete(root);
    free(data);
    return t;
}

/* The text a reference line names: an essay, or string i of tests/data/tokenizer-extra.inp. */
static char *reference_input(const char *input, char *extra, size_t extra_len, size_t *len) {
    int i;
    char *data;
    gc_error err;
    if (sscanf(input, "extra-%d", &i) == 1) {
        const char *strs[64];
        size_t lens[64];
        int n = split_inputs(extra, extra_len, strs, lens, 64);
        ck_assert_int_lt(i, n);
        data = malloc(lens[i] + 1);
        memcpy(data, strs[i], lens[i]);
        *len = lens[i];
        return data;
    }
    char rel[512];
    snprintf(rel, sizeof rel, "data/paul-graham-essays/%s", input);
    ck_assert_int_eq(gc_file_read(test_shared_path(rel), &data, len, &err), GC_OK);
    return data;
}

/* One line "<tokenizer> <input> <n ids> <fnv64 hex> [ids]": encode and compare count and hash. */
static void check_reference_line(reference_set *sets, int n_sets, const char *line, char *extra, size_t extra_len) {
    char name[32], input[256];
    int n_want;
    unsigned long long want_hash;
    ck_assert_int_eq(sscanf(line, "%31s %255s %d %llx", name, input, &n_want, &want_hash), 4);
    reference_set *set = NULL;
    for (int i = 0; i < n_sets; i++)
        if (strcmp(sets[i].name, name) == 0)
            set = &sets[i];
    ck_assert_ptr_nonnull(set);
    size_t len;
    char *text = reference_input(input, extra, extra_len, &len);
    int32_t *ids;
    int n;
    gc_error err;
    ck_assert_int_eq(gc_tokenizer_encode(set->t, text, len, false, set->parse_special, &ids, &n, &err), GC_OK);
    /* the reference hashes int32 little-endian ids: the in-memory layout on the little-endian hosts we run */
    bool same = n == n_want && gc_hash_bytes(GC_HASH_INIT, ids, (size_t)n * sizeof *ids) == want_hash;
    if (!same)
        fprintf(stderr, "%s %s: %d ids, reference %d, or different ids\n", name, input, n, n_want);
    set->exact += same;
    set->total++;
    free(ids);
    free(text);
}

START_TEST(tokenizers_match_reference_implementations) {
    reference_set sets[] = {
        {"llama2", "models/llama2-tokenizer/tokenizer.model", "sentencepiece", NULL, 0, false, NULL, 0, 0},
        {"llama3", "models/llama3-tokenizer/tokenizer.model", "tiktoken", NULL, 0, false, NULL, 0, 0},
        {"smollm2", "models/smollm2-tokenizer/tokenizer.json", "HF tokenizers", NULL, 0, true, NULL, 0, 0},
        {"smollm2-llama3split", "models/smollm2-tokenizer/tokenizer.json", "HF tokenizers, Llama 3 Split",
         LLAMA3_REGEX, 0, true, NULL, 0, 0},
        {"smollm2-qwen2split", "models/smollm2-tokenizer/tokenizer.json", "HF tokenizers, Qwen2 Split", QWEN2_REGEX,
         0, true, NULL, 0, 0},
        {"tok512", "models/stories260K/tok512.bin", "llama2.c run.c (Python port)", NULL, 512, false, NULL, 0, 0},
    };
    enum { N_SETS = sizeof sets / sizeof sets[0] };
    const char *essays = "data/paul-graham-essays";
    for (int i = 0; i < N_SETS; i++)
        if (test_skip_if_missing(test_shared_path(sets[i].model_rel), sets[i].model_rel))
            return;
    if (test_skip_if_missing(test_shared_path(essays), essays))
        return;
    char *ref, *extra;
    size_t ref_len, extra_len;
    gc_error err;
    ck_assert_int_eq(gc_file_read(GEMCL_SOURCE_DIR "/tests/data/tokenizer-reference.txt", &ref, &ref_len, &err), GC_OK);
    ck_assert_int_eq(gc_file_read(GEMCL_SOURCE_DIR "/tests/data/tokenizer-extra.inp", &extra, &extra_len, &err), GC_OK);
    for (int i = 0; i < N_SETS; i++)
        sets[i].t = sets[i].split_regex ? load_json_with_split(sets[i].model_rel, sets[i].split_regex)
                                        : load_shared(sets[i].model_rel, sets[i].vocab_size);
    for (char *line = strtok(ref, "\n"); line; line = strtok(NULL, "\n"))
        check_reference_line(sets, N_SETS, line, extra, extra_len);
    for (int i = 0; i < N_SETS; i++) {
        fprintf(stderr, "%s vs %s: %d/%d exact\n", sets[i].name, sets[i].reference, sets[i].exact, sets[i].total);
        ck_assert_int_ge(sets[i].total, 17);
        ck_assert_int_eq(sets[i].exact, sets[i].total);
        gc_tokenizer_free(sets[i].t);
    }
    free(ref);
    free(extra);
}
END_TEST

/* ---- llama2.c tok512.bin ---- */

static void assert_encodes(const gc_tokenizer *t, const char *text, bool bos, const int32_t *want, int n_want) {
    int32_t *ids;
    int n;
    gc_error err;
    ck_assert_int_eq(gc_tokenizer_encode(t, text, strlen(text), bos, false, &ids, &n, &err), GC_OK);
    ck_assert_msg(ids_equal(ids, n, want, n_want), "'%s' encodes to %d ids, want %d (first %d)", text, n, n_want,
                  n ? ids[0] : -1);
    char *back;
    size_t len;
    ck_assert_int_eq(gc_tokenizer_decode(t, ids, n, &back, &len, &err), GC_OK);
    ck_assert_str_eq(back, text);
    free(back);
    free(ids);
}

/* Expected ids follow run.c's encode step by step (checked with a direct Python port of it): " " dummy
 * prefix (410), one id per character, then best-score merges: " a" (261, score -2) first, ... " Once" (403)
 * and " upon" (407) last. "日" is not in the 512-piece vocabulary: its bytes E6 97 A5 become ids byte+3. */
START_TEST(llama2c_tok512_encodes_like_run_c) {
    const char *rel = "models/stories260K/tok512.bin";
    if (test_skip_if_missing(test_shared_path(rel), rel))
        return;
    gc_tokenizer *t = load_shared(rel, 512);
    ck_assert_int_eq(gc_tokenizer_get_kind(t), GC_TOKENIZER_LLAMA2C);
    ck_assert_int_eq(gc_tokenizer_n_vocab(t), 512);
    static const int32_t once[] = {1, 403, 407, 261, 378};
    assert_encodes(t, "Once upon a time", true, once, 5);
    static const int32_t lily[] = {317, 394, 261, 370, 400, 428, 426};
    assert_encodes(t, "Lily saw a big dog.", false, lily, 7);
    static const int32_t bytes[] = {317, 394, 410, 233, 154, 168, 426};
    assert_encodes(t, "Lily saw \xE6\x97\xA5.", false, bytes, 7);
    assert_encodes(t, "", false, NULL, 0); /* no dummy prefix for empty text */
    gc_tokenizer_free(t);
    /* vocab_size may be left out: the records fill the file exactly */
    gc_tokenizer *t2 = load_shared(rel, 0);
    ck_assert_int_eq(gc_tokenizer_n_vocab(t2), 512);
    gc_tokenizer_free(t2);
}
END_TEST

/* tokenizer.bin is llama2.c's export of the Llama 2 tokenizer.model: on plain text (no characters that need
 * byte fallback inside a merge) run.c's rule and llama.cpp's SPM rule give the same ids. A whole essay is one
 * long text, so this also covers merging it as independent segments (segment_end in encode.c). */
START_TEST(llama2c_tokenizer_bin_agrees_with_spm_model_on_essays) {
    const char *bin = "models/llama2-tokenizer/tokenizer.bin", *model = "models/llama2-tokenizer/tokenizer.model";
    const char *essay = "data/paul-graham-essays/addiction.txt";
    if (test_skip_if_missing(test_shared_path(bin), bin) || test_skip_if_missing(test_shared_path(model), model) ||
        test_skip_if_missing(test_shared_path(essay), essay))
        return;
    gc_tokenizer *a = load_shared(bin, 32000), *b = load_shared(model, 0);
    char *text;
    size_t len;
    gc_error err;
    ck_assert_int_eq(gc_file_read(test_shared_path(essay), &text, &len, &err), GC_OK);
    int32_t *ia, *ib;
    int na, nb;
    ck_assert_int_eq(gc_tokenizer_encode(a, text, len, true, false, &ia, &na, &err), GC_OK);
    ck_assert_int_eq(gc_tokenizer_encode(b, text, len, true, false, &ib, &nb, &err), GC_OK);
    ck_assert_int_gt(na, 100);
    ck_assert(ids_equal(ia, na, ib, nb));
    char *back;
    size_t back_len;
    ck_assert_int_eq(gc_tokenizer_decode(a, ia, na, &back, &back_len, &err), GC_OK);
    ck_assert(back_len == len && memcmp(back, text, len) == 0);
    free(back);
    free(ia);
    free(ib);
    free(text);
    gc_tokenizer_free(a);
    gc_tokenizer_free(b);
}
END_TEST

/* ---- streaming decode ---- */

START_TEST(detok_streams_whole_utf8_characters) {
    const char *rel = "models/stories260K/tok512.bin";
    if (test_skip_if_missing(test_shared_path(rel), rel))
        return;
    gc_tokenizer *t = load_shared(rel, 512);
    gc_detok d;
    char out[256];
    gc_detok_init(&d, t);
    ck_assert_int_eq((int)gc_detok_push(&d, 1, out, sizeof out), 0); /* BOS prints nothing */
    size_t n = gc_detok_push(&d, 317, out, sizeof out);              /* " Lily" after BOS: "Lily" */
    ck_assert_int_eq((int)n, 4);
    ck_assert(memcmp(out, "Lily", 4) == 0);
    ck_assert_int_eq((int)gc_detok_push(&d, 233, out, sizeof out), 0); /* E6: waits */
    ck_assert_int_eq((int)gc_detok_push(&d, 154, out, sizeof out), 0); /* 97: waits */
    n = gc_detok_push(&d, 168, out, sizeof out);                       /* A5: completes U+65E5 */
    ck_assert_int_eq((int)n, 3);
    ck_assert(memcmp(out, "\xE6\x97\xA5", 3) == 0);
    ck_assert_int_eq((int)gc_detok_push(&d, 233, out, sizeof out), 0);
    n = gc_detok_push(&d, 426, out, sizeof out); /* "." breaks the sequence: U+FFFD then "." */
    ck_assert_int_eq((int)n, 4);
    ck_assert(memcmp(out, "\xEF\xBF\xBD.", 4) == 0);
    ck_assert_int_eq((int)gc_detok_push(&d, 233, out, sizeof out), 0);
    n = gc_detok_flush(&d, out, sizeof out);
    ck_assert_int_eq((int)n, 3);
    ck_assert_int_eq((int)gc_detok_flush(&d, out, sizeof out), 0);
    gc_tokenizer_free(t);
}
END_TEST

/* Streaming every id of a valid UTF-8 text gives the text back, and no push ever emits a partial
 * character (each chunk is valid UTF-8 on its own). */
static void check_stream(const gc_tokenizer *t, const char *text, size_t len) {
    int32_t *ids;
    int n;
    gc_error err;
    ck_assert_int_eq(gc_tokenizer_encode(t, text, len, true, false, &ids, &n, &err), GC_OK);
    size_t cap = 3 * (gc_tokenizer_max_piece_len(t) + 4), total = 0;
    char *chunk = malloc(cap), *all = malloc(len * 3 + 16);
    gc_detok d;
    gc_detok_init(&d, t);
    for (int i = 0; i < n; i++) {
        size_t k = gc_detok_push(&d, ids[i], chunk, cap);
        for (size_t j = 0, cl; j < k; j += cl)
            ck_assert_uint_ne(gc_utf8_decode((const unsigned char *)chunk + j, k - j, &cl), 0xFFFDu + 0x110000u);
        memcpy(all + total, chunk, k);
        total += k;
    }
    total += gc_detok_flush(&d, all + total, 16);
    ck_assert_msg(total == len && memcmp(all, text, len) == 0, "stream of '%.*s' differs", (int)len, text);
    free(chunk);
    free(all);
    free(ids);
}

START_TEST(detok_stream_gives_back_valid_utf8_text) {
    static const char *const rels[] = {"models/llama2-tokenizer/tokenizer.model",
                                       "models/llama3-tokenizer/tokenizer.model",
                                       "models/smollm2-tokenizer/tokenizer.json"};
    char *extra;
    size_t extra_len;
    gc_error err;
    ck_assert_int_eq(gc_file_read(GEMCL_SOURCE_DIR "/tests/data/tokenizer-extra.inp", &extra, &extra_len, &err), GC_OK);
    const char *strs[64];
    size_t lens[64];
    int n = split_inputs(extra, extra_len, strs, lens, 64);
    ck_assert_int_ge(n, 17);
    for (size_t r = 0; r < sizeof rels / sizeof rels[0]; r++) {
        if (test_skip_if_missing(test_shared_path(rels[r]), rels[r]))
            continue;
        gc_tokenizer *t = load_shared(rels[r], 0);
        for (int i = 0; i < n; i++)
            check_stream(t, strs[i], lens[i]);
        gc_tokenizer_free(t);
    }
    free(extra);
}
END_TEST

/* ---- the small synthetic files of tests/fuzz/corpus (made by tests/fuzz/make_seeds.py) ---- */

static gc_tokenizer *load_seed(const char *rel) {
    char path[4096];
    gc_tokenizer *t = NULL;
    gc_error err;
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/%s", GEMCL_SOURCE_DIR, rel);
    ck_assert_msg(gc_tokenizer_load(path, 0, &t, &err) == GC_OK, "%s", err.msg);
    return t;
}

/* Every seed holds the bytes as tokens plus " a", "ab", " ab" (SentencePiece spelling U+2581, byte-level
 * spelling U+0120) with merges " a" before "ab" before " ab". "ab ab ac 12" must split as " ab", " ab",
 * " a" + byte c, then the space and digits as bytes (SentencePiece kinds) or as words (byte-level). */
START_TEST(every_format_encodes_the_same_small_vocabulary_alike) {
    static const struct {
        const char *file;
        gc_tokenizer_kind kind;
        int32_t ids[8];
        int n;
    } cases[] = {
        /* ids: 0 <unk>, 1 <s>, 2 </s>, 3+b <0xb>, 259 U+2581, 262 U+2581 a, 264 U+2581 ab */
        {"json/spm.json", GC_TOKENIZER_SPM, {264, 264, 262, 3 + 'c', 259, 3 + '1', 3 + '2'}, 7},
        {"model/spm.model", GC_TOKENIZER_SPM, {264, 264, 262, 3 + 'c', 259, 3 + '1', 3 + '2'}, 7},
        {"model/llama2c.bin", GC_TOKENIZER_LLAMA2C, {264, 264, 262, 3 + 'c', 259, 3 + '1', 3 + '2'}, 7},
        /* ids: 0 <|endoftext|>, 1+b byte b, 257 " a", 258 "ab", 259 " ab"; words "ab" " ab" " ac" " " 1 2 */
        {"json/bytelevel.json", GC_TOKENIZER_BPE, {258, 259, 257, 1 + 'c', 1 + ' ', 1 + '1', 1 + '2'}, 7},
        /* ids: b byte b, 256 " a", 257 "ab", 258 " ab"; Llama 3 words "ab" " ab" " ac" " " "12" */
        {"model/tiktoken.model", GC_TOKENIZER_BPE, {257, 258, 256, 'c', ' ', '1', '2'}, 7},
    };
    const char *text = "ab ab ac 12";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gc_tokenizer *t = load_seed(cases[i].file);
        ck_assert_int_eq(gc_tokenizer_get_kind(t), cases[i].kind);
        int32_t *ids;
        int n;
        gc_error err;
        ck_assert_int_eq(gc_tokenizer_encode(t, text, strlen(text), false, false, &ids, &n, &err), GC_OK);
        ck_assert_msg(ids_equal(ids, n, cases[i].ids, cases[i].n), "%s: %d ids, first %d", cases[i].file, n,
                      n ? ids[0] : -1);
        char *back;
        ck_assert_int_eq(gc_tokenizer_decode(t, ids, n, &back, NULL, &err), GC_OK);
        ck_assert_str_eq(back, text);
        free(back);
        free(ids);
        gc_tokenizer_free(t);
    }
}
END_TEST

typedef struct joined {
    char *out;
    size_t len, cap;
} joined;

static bool join_word(const unsigned char *w, size_t n, void *user) {
    joined *j = user;
    ck_assert(n >= 1 && j->len + n + 2 < j->cap);
    if (j->len)
        j->out[j->len++] = '|';
    memcpy(j->out + j->len, w, n);
    j->len += n;
    return true;
}

/* The pre-tokenizer's words of text, joined with '|'. */
static void pretok_words(tok_pretok kind, const char *text, char *out, size_t cap) {
    joined j = {out, 0, cap};
    ck_assert(tok_pretok_words(kind, false, (const unsigned char *)text, strlen(text), join_word, &j));
    out[j.len] = '\0';
}

/* llama.cpp's "default" pre-tokenizer (tokenizer.ggml.pre "default" or absent: GGUF files converted before the
 * key existed) and Falcon's are regex cascades (unicode_regex_split): punctuation runs apart, GPT-2's regex in
 * each run, then (default only) \p{N}+, then [0-9]{3}, each stage keeping the text between matches. gemcl took
 * "default" for GPT-2's regex and refused "falcon"; the ggml-vocab-falcon vectors and llama-tokenize on the
 * gpt-neox vocabulary (no pre key) now agree with it. The words below follow the cascade by hand. */
START_TEST(default_and_falcon_pretokenizers_cascade_like_llama_cpp) {
    const char *text = "I'm $100 of 12345, a`b \xC2\xBD" "123!!";
    static const struct {
        tok_pretok kind;
        const char *words;
    } cases[] = {
        {TOK_PRETOK_GPT2, "I|'m| $|100| of| 12345|,| a|`|b| \xC2\xBD" "123|!!"},
        {TOK_PRETOK_DEFAULT, "I|'|m| |$|100| of| |123|45|,| a|`|b| |\xC2\xBD|123|!!"},
        {TOK_PRETOK_FALCON, "I|'|m| |$|100| of| |123|45|,| a|`|b| \xC2\xBD|123|!!"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char got[256];
        pretok_words(cases[i].kind, text, got, sizeof got);
        ck_assert_msg(strcmp(got, cases[i].words) == 0, "kind %d: '%s', want '%s'", (int)cases[i].kind, got,
                      cases[i].words);
    }
}
END_TEST

/* GGUF "gpt2" vocabularies arrive as arrays with "a b" merges: the same small vocabulary as
 * corpus/json/bytelevel.json must give the same ids through gc_tokenizer_from_vocab. */
START_TEST(gpt2_vocab_arrays_encode_like_tokenizer_json) {
    char texts[260][16];
    const char *tokens[260];
    size_t lens[260];
    int32_t types[260];
    snprintf(texts[0], sizeof texts[0], "<|endoftext|>");
    for (int b = 0; b < 256; b++) {
        size_t n = gc_utf8_encode(gc_byte_to_cp((unsigned char)b), texts[1 + b]);
        texts[1 + b][n] = '\0';
    }
    snprintf(texts[257], 16, "\xC4\xA0" "a"); /* U+0120 (the byte map's space) + a */
    snprintf(texts[258], 16, "ab");
    snprintf(texts[259], 16, "\xC4\xA0" "ab");
    for (int i = 0; i < 260; i++) {
        tokens[i] = texts[i];
        lens[i] = strlen(texts[i]);
        types[i] = i == 0 ? 3 : 1;
    }
    const char *merges[] = {"\304\240 a", "a b", "\304\240a b"}; /* octal: "\xA0a" would be one escape */
    size_t merge_lens[] = {strlen(merges[0]), strlen(merges[1]), strlen(merges[2])};
    gc_vocab_arrays v = {.model = "gpt2", .pre = "smollm", .n_tokens = 260, .tokens = tokens, .token_lens = lens,
                         .token_types = types, .n_merges = 3, .merges = merges, .merge_lens = merge_lens,
                         .bos_id = -1, .eos_id = 0, .unk_id = -1};
    gc_tokenizer *t = NULL;
    gc_error err;
    ck_assert_msg(gc_tokenizer_from_vocab(&v, &t, &err) == GC_OK, "%s", err.msg);
    static const int32_t want[] = {258, 259, 257, 1 + 'c', 1 + ' ', 1 + '1', 1 + '2'};
    assert_encodes(t, "ab ab ac 12", false, want, 7);
    ck_assert(gc_tokenizer_is_eog(t, 0));
    gc_tokenizer_free(t);
    /* no tokenizer.ggml.add_bos_token: llama.cpp adds BOS for the Llama 3 pre-tokenizers only (gemcl added it
     * for every BPE vocabulary); the key, when present, decides */
    static const struct {
        const char *pre;
        int key;
        bool bos;
    } bos_cases[] = {{"smollm", -1, false}, {"qwen2", -1, false}, {"llama-bpe", -1, true}, {"smollm", 1, true},
                     {"llama-bpe", 0, false}};
    for (size_t i = 0; i < sizeof bos_cases / sizeof bos_cases[0]; i++) {
        v.pre = bos_cases[i].pre;
        v.add_bos = bos_cases[i].key;
        ck_assert_msg(gc_tokenizer_from_vocab(&v, &t, &err) == GC_OK, "%s", err.msg);
        ck_assert_msg(gc_tokenizer_add_bos(t) == bos_cases[i].bos, "pre %s, key %d", v.pre, v.add_bos);
        gc_tokenizer_free(t);
    }
    v.pre = "smollm";
    v.add_bos = 0;
    /* a file that types <|endoftext|> as normal: llama.cpp retypes such end-of-generation markers as control,
     * so with special parsing the text is that one token, without it the text's bytes (aquila's vocabulary) */
    types[0] = 1;
    ck_assert_msg(gc_tokenizer_from_vocab(&v, &t, &err) == GC_OK, "%s", err.msg);
    int32_t *ids;
    int n;
    ck_assert_int_eq(gc_tokenizer_encode(t, "<|endoftext|>ab", 15, false, true, &ids, &n, &err), GC_OK);
    ck_assert_msg(n == 2 && ids[0] == 0 && ids[1] == 258, "%d ids, first %d", n, n ? ids[0] : -1);
    free(ids);
    ck_assert_int_eq(gc_tokenizer_encode(t, "<|endoftext|>ab", 15, false, false, &ids, &n, &err), GC_OK);
    ck_assert_msg(n > 2 && ids[0] == 1 + '<', "%d ids, first %d", n, n ? ids[0] : -1);
    free(ids);
    gc_tokenizer_free(t);
    types[0] = 3;
    v.model = "unigram";
    ck_assert_int_eq(gc_tokenizer_from_vocab(&v, &t, &err), GC_ERR_UNSUPPORTED);
    v.model = "gpt2";
    merges[1] = "a c"; /* "ac" is not a token */
    ck_assert_int_eq(gc_tokenizer_from_vocab(&v, &t, &err), GC_ERR_FORMAT);
    ck_assert_ptr_null(t);
}
END_TEST

/* GGUF "llama" vocabularies: tokenizer.ggml.add_space_prefix false (no_space_prefix) means no dummy U+2581 before
 * the text, and then decoding keeps a leading space (llama.cpp's detokenize strips it only with the prefix).
 * The vocabulary is corpus/model/spm.model's: 3+b <0xb>, 259 U+2581, 260 a, 261 b, 262 U+2581a, 263 ab,
 * 264 U+2581ab (scores: longer merges later). */
START_TEST(spm_vocab_arrays_honour_add_space_prefix) {
    static const char *const words[] = {"\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a", "ab", "\xE2\x96\x81" "ab"};
    char texts[265][16];
    const char *tokens[265];
    size_t lens[265];
    float scores[265];
    int32_t types[265];
    for (int i = 0; i < 265; i++) {
        if (i < 3)
            snprintf(texts[i], sizeof texts[i], "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
        else if (i < 259)
            snprintf(texts[i], sizeof texts[i], "<0x%02X>", i - 3);
        else
            snprintf(texts[i], sizeof texts[i], "%s", words[i - 259]);
        tokens[i] = texts[i];
        lens[i] = strlen(texts[i]);
        scores[i] = i < 259 ? 0.0f : -(float)(i - 258);
        types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
    }
    gc_vocab_arrays v = {.model = "llama", .n_tokens = 265, .tokens = tokens, .token_lens = lens, .scores = scores,
                         .token_types = types, .bos_id = 1, .eos_id = 2, .unk_id = 0};
    gc_tokenizer *t = NULL;
    gc_error err;
    ck_assert_msg(gc_tokenizer_from_vocab(&v, &t, &err) == GC_OK, "%s", err.msg);
    static const int32_t prefixed[] = {264};
    assert_encodes(t, "ab", false, prefixed, 1);
    gc_tokenizer_free(t);
    v.no_space_prefix = true;
    ck_assert_msg(gc_tokenizer_from_vocab(&v, &t, &err) == GC_OK, "%s", err.msg);
    static const int32_t bare[] = {263}, spaced[] = {264};
    assert_encodes(t, "ab", false, bare, 1);
    assert_encodes(t, " ab", false, spaced, 1); /* the space survives decoding */
    gc_tokenizer_free(t);
}
END_TEST

/* ---- bad input ---- */

static char *write_temp(const void *data, size_t len) {
    char *path = strdup("/tmp/gemcl-tok-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq((int)write(fd, data, len), (int)len);
    close(fd);
    return path;
}

/* Loading len bytes of data as a file must fail with FORMAT or IO and a message naming the file. */
static void assert_load_fails(const void *data, size_t len, int vocab_size, const char *what) {
    char *path = write_temp(data, len);
    gc_tokenizer *t = NULL;
    gc_error err;
    gc_status st = gc_tokenizer_load(path, vocab_size, &t, &err);
    ck_assert_msg(st == GC_ERR_FORMAT || st == GC_ERR_IO, "%s (%zu bytes): status %s", what, len,
                  gemcl_status_str(gc_status_public(st)));
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(err.msg, path) != NULL, "%s: message '%s' does not name the file", what, err.msg);
    unlink(path);
    free(path);
}

/* Truncates a real file at every eighth of its length and a few bytes in. A tiktoken file cut right after
 * a newline is a valid smaller file, so those cuts move back one byte (into the last line). */
static void check_truncations(const char *rel, int vocab_size) {
    const char *path = test_shared_path(rel);
    if (test_skip_if_missing(path, rel))
        return;
    char *data;
    size_t len;
    gc_error err;
    ck_assert_int_eq(gc_file_read(path, &data, &len, &err), GC_OK);
    size_t cuts[13] = {1, 2, 3, 5, 9};
    for (int k = 0; k < 8; k++)
        cuts[5 + k] = len / 8 * (size_t)k;
    for (int i = 0; i < 13; i++) {
        size_t cut = cuts[i];
        while (cut > 1 && data[cut - 1] == '\n')
            cut--;
        assert_load_fails(data, cut, vocab_size, rel);
    }
    free(data);
}

START_TEST(truncated_files_fail_with_their_name) {
    check_truncations("models/stories260K/tok512.bin", 512);
    check_truncations("models/llama2-tokenizer/tokenizer.bin", 32000);
    check_truncations("models/llama2-tokenizer/tokenizer.model", 0);
    check_truncations("models/llama3-tokenizer/tokenizer.model", 0);
    check_truncations("models/smollm2-tokenizer/tokenizer.json", 0);
}
END_TEST

START_TEST(garbage_bad_json_and_bad_protobuf_fail_with_their_name) {
    unsigned char garbage[4096];
    unsigned long long s = 12345;
    for (size_t i = 0; i < sizeof garbage; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        garbage[i] = (unsigned char)(s >> 56);
    }
    assert_load_fails(garbage, sizeof garbage, 0, "garbage");
    assert_load_fails(garbage, sizeof garbage, 512, "garbage as llama2.c");
    static const char *const bad_json[] = {
        "{", "{\"model\": 3}", "[1, 2]", "{\"model\": {\"type\": \"BPE\", \"vocab\": {}}, \"decoder\": {\"type\": \"ByteLevel\"}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}, "
        "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -4}}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"added_tokens\": [{\"id\": 1}], "
        "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
    };
    for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++)
        assert_load_fails(bad_json[i], strlen(bad_json[i]), 0, bad_json[i]);
    /* field 1 (a piece) claims 127 bytes, 2 follow */
    static const unsigned char past_end[] = {0x0A, 0x7F, 0x0A, 0x01};
    assert_load_fails(past_end, sizeof past_end, 0, "protobuf length past the end");
    /* a valid piece, then a varint that never ends */
    static const unsigned char endless[] = {0x0A, 0x03, 0x0A, 0x01, 'a', 0x10, 0xFF, 0xFF};
    assert_load_fails(endless, sizeof endless, 0, "protobuf endless varint");
    gc_tokenizer *t = NULL;
    gc_error err;
    ck_assert_int_eq(gc_tokenizer_load("/nonexistent/tokenizer.model", 0, &t, &err), GC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/tokenizer.model"));
}
END_TEST

Suite *suite_tokenizer(void) {
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("tokenizer");
    tcase_set_timeout(tc, TEST_TIMEOUT_S);
    tcase_add_test(tc, spm_model_matches_llama_cpp_vectors);
    tcase_add_test(tc, spm_gguf_matches_llama_cpp_vectors);
    tcase_add_test(tc, phi3_gguf_matches_llama_cpp_vectors);
    tcase_add_test(tc, qwen2_gguf_matches_llama_cpp_vectors);
    tcase_add_test(tc, llama3_tiktoken_matches_llama_cpp_vectors);
    tcase_add_test(tc, llama3_parses_special_tokens_only_when_asked);
    tcase_add_test(tc, smollm2_json_round_trips_every_essay);
    tcase_add_test(tc, smollm2_json_splits_digits_and_parses_specials_only_when_asked);
    tcase_add_test(tc, tokenizers_match_reference_implementations);
    tcase_add_test(tc, llama2c_tok512_encodes_like_run_c);
    tcase_add_test(tc, llama2c_tokenizer_bin_agrees_with_spm_model_on_essays);
    tcase_add_test(tc, detok_streams_whole_utf8_characters);
    tcase_add_test(tc, detok_stream_gives_back_valid_utf8_text);
    tcase_add_test(tc, every_format_encodes_the_same_small_vocabulary_alike);
    tcase_add_test(tc, default_and_falcon_pretokenizers_cascade_like_llama_cpp);
    tcase_add_test(tc, gpt2_vocab_arrays_encode_like_tokenizer_json);
    tcase_add_test(tc, spm_vocab_arrays_honour_add_space_prefix);
    tcase_add_test(tc, truncated_files_fail_with_their_name);
    tcase_add_test(tc, garbage_bad_json_and_bad_protobuf_fail_with_their_name);
    suite_add_tcase(s, tc);
    return s;
}
