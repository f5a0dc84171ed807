/* load_json.c - Hugging Face tokenizer.json with a BPE model: byte-level (GPT-2 byte map; SmolLM2, Llama 3,
 * Qwen2 pre-tokenizers) or SentencePiece-style (U+2581 and byte fallback; Llama 2 / Mistral exports).
 * Reads model.vocab, model.merges ("a b" strings or [a, b] pairs), model.ignore_merges, added_tokens, and
 * recognises the pre-tokenizer by its parts; an unknown Split regex is GC_ERR_UNSUPPORTED rather than a
 * silently different tokenization. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

static const char *const pattern_llama3 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char *const pattern_qwen2 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char *const pattern_gpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* The first object at or under node whose "type" is type (depth-first), or NULL. */
static const cJSON *find_type(const cJSON *node, const char *type) {
    if (!node)
        return NULL;
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(node, "type");
    if (cJSON_IsString(ty) && strcmp(ty->valuestring, type) == 0)
        return node;
    const cJSON *child;
    cJSON_ArrayForEach(child, node) {
        if (cJSON_IsObject(child) || cJSON_IsArray(child)) {
            const cJSON *hit = find_type(child, type);
            if (hit)
                return hit;
        }
    }
    return NULL;
}

static bool json_true(const cJSON *obj, const char *key) {
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

/* Picks the pre-tokenizer of a byte-level vocabulary. */
static gc_status choose_pretok(gc_tokenizer *t, const cJSON *pre, gc_error *err) {
    const cJSON *split = find_type(pre, "Split");
    const cJSON *digits = find_type(pre, "Digits");
    t->pretok = TOK_PRETOK_GPT2;
    t->split_digits = digits && json_true(digits, "individual_digits");
    if (!split)
        return GC_OK;
    const cJSON *pattern = cJSON_GetObjectItemCaseSensitive(split, "pattern");
    const cJSON *regex = pattern ? cJSON_GetObjectItemCaseSensitive(pattern, "Regex") : NULL;
    const char *re = cJSON_IsString(regex) ? regex->valuestring : "";
    if (strcmp(re, pattern_llama3) == 0)
        t->pretok = TOK_PRETOK_LLAMA3;
    else if (strcmp(re, pattern_qwen2) == 0)
        t->pretok = TOK_PRETOK_QWEN2;
    else if (strcmp(re, pattern_gpt2) != 0)
        return gc_fail(err, GC_ERR_UNSUPPORTED,
                       "pre-tokenizer Split regex '%.200s' is not one gemcl knows "
                       "(GPT-2, Llama 3, Qwen2)",
                       re);
    return GC_OK;
}

/* The vocabulary size: one past the largest id in model.vocab and added_tokens. */
static gc_status count_vocab(const cJSON *vocab, const cJSON *added, int *n, gc_error *err) {
    double max_id = -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble >= (1 << 24))
            return gc_fail(err, GC_ERR_FORMAT, "model.vocab entry '%.100s' has no valid id", it->string);
        max_id = it->valuedouble > max_id ? it->valuedouble : max_id;
    }
    cJSON_ArrayForEach(it, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= (1 << 24) || !cJSON_IsString(content))
            return gc_fail(err, GC_ERR_FORMAT, "added_tokens entry without a valid id and content");
        max_id = id->valuedouble > max_id ? id->valuedouble : max_id;
    }
    if (max_id < 0)
        return gc_fail(err, GC_ERR_FORMAT, "model.vocab is empty");
    *n = (int)max_id + 1;
    return GC_OK;
}

static int32_t vocab_type(const gc_tokenizer *t, const char *text, const char *unk) {
    if (unk && strcmp(text, unk) == 0)
        return TOK_UNKNOWN;
    if (t->kind == GC_TOKENIZER_SPM && strlen(text) == 6 && strncmp(text, "<0x", 3) == 0 && text[5] == '>')
        return TOK_BYTE;
    return TOK_NORMAL;
}

static gc_status fill_vocab(gc_tokenizer *t, const cJSON *vocab, const cJSON *added, const char *unk, gc_error *err) {
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        int32_t id = (int32_t)it->valuedouble;
        if (t->tokens[id].type != 0)
            return gc_fail(err, GC_ERR_FORMAT, "model.vocab id %d is used twice", (int)id);
        gc_status st =
            tok_set_token_text(t, id, it->string, strlen(it->string), -(float)id, vocab_type(t, it->string, unk), err);
        if (st != GC_OK)
            return st;
    }
    cJSON_ArrayForEach(it, added) { /* added tokens are written as they are, never byte-mapped */
        int32_t id = (int32_t)cJSON_GetObjectItemCaseSensitive(it, "id")->valuedouble;
        const char *content = cJSON_GetObjectItemCaseSensitive(it, "content")->valuestring;
        int32_t type = json_true(it, "special") ? TOK_CONTROL : TOK_USER;
        gc_status st = tok_set_token(t, id, content, strlen(content), content, strlen(content), 0.0f, type, err);
        if (st != GC_OK)
            return st;
    }
    return GC_OK;
}

/* One rule: "a b" (split at the first space) or ["a", "b"]. */
static gc_status add_rule(gc_tokenizer *t, const cJSON *rule, int32_t rank, gc_error *err) {
    if (cJSON_IsString(rule)) {
        const char *s = rule->valuestring, *sp = strchr(s, ' ');
        if (sp && sp != s)
            return tok_add_merge(t, s, (size_t)(sp - s), sp + 1, strlen(sp + 1), rank, err);
    } else if (cJSON_IsArray(rule) && cJSON_GetArraySize(rule) == 2) {
        const cJSON *a = cJSON_GetArrayItem(rule, 0), *b = cJSON_GetArrayItem(rule, 1);
        if (cJSON_IsString(a) && cJSON_IsString(b))
            return tok_add_merge(t, a->valuestring, strlen(a->valuestring), b->valuestring, strlen(b->valuestring),
                                 rank, err);
    }
    return gc_fail(err, GC_ERR_FORMAT, "model.merges[%d] is neither \"a b\" nor [\"a\", \"b\"]", (int)rank);
}

static gc_status fill_merges(gc_tokenizer *t, const cJSON *merges, gc_error *err) {
    int32_t rank = 0;
    const cJSON *rule;
    cJSON_ArrayForEach(rule, merges) {
        gc_status st = add_rule(t, rule, rank++, err);
        if (st != GC_OK)
            return st;
    }
    return GC_OK;
}

/* tokenizer.json does not say which tokens are BOS/EOS (tokenizer_config.json does): known names decide, and
 * gc_tokenizer_set_special can override. */
static void guess_specials(gc_tokenizer *t) {
    static const char *const bos[] = {"<|begin_of_text|>", "<s>"};
    static const char *const eos[] = {"<|end_of_text|>", "</s>", "<|endoftext|>"};
    static const char *const eot[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"};
    for (size_t i = 0; i < 2 && t->bos_id < 0; i++)
        t->bos_id = tok_lookup(t, bos[i], strlen(bos[i]));
    for (size_t i = 0; i < 3 && t->eos_id < 0; i++)
        t->eos_id = tok_lookup(t, eos[i], strlen(eos[i]));
    for (size_t i = 0; i < 4 && t->eot_id < 0; i++)
        t->eot_id = tok_lookup(t, eot[i], strlen(eot[i]));
    t->add_bos = t->bos_id >= 0;
}

/* Decides byte-level vs SentencePiece-style and sets the kind's flags. */
static gc_status choose_kind(const cJSON *root, const cJSON *model, gc_tokenizer_kind *kind, bool *prefix,
                             gc_error *err) {
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    const cJSON *meta = find_type(pre, "Metaspace");
    *prefix = false;
    if (find_type(pre, "ByteLevel") || find_type(dec, "ByteLevel")) {
        *kind = GC_TOKENIZER_BPE;
        return GC_OK;
    }
    if (json_true(model, "byte_fallback") || meta || find_type(norm, "Replace")) {
        const cJSON *scheme = meta ? cJSON_GetObjectItemCaseSensitive(meta, "prepend_scheme") : NULL;
        *kind = GC_TOKENIZER_SPM;
        *prefix = find_type(norm, "Prepend") != NULL ||
                  (meta && (!cJSON_IsString(scheme) || strcmp(scheme->valuestring, "never") != 0));
        return GC_OK;
    }
    return gc_fail(err, GC_ERR_UNSUPPORTED, "BPE model is neither byte-level nor SentencePiece-style");
}

static gc_status build_from_json(const cJSON *root, gc_tokenizer **out, gc_error *err) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (!cJSON_IsObject(model) || !cJSON_IsObject(vocab) || (merges && !cJSON_IsArray(merges)) ||
        (added && !cJSON_IsArray(added)))
        return gc_fail(err, GC_ERR_FORMAT, "no model.vocab object (or merges/added_tokens not arrays)");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "BPE") != 0)
        return gc_fail(err, GC_ERR_UNSUPPORTED, "model.type '%.50s' is not BPE", type->valuestring);
    gc_tokenizer_kind kind = GC_TOKENIZER_BPE;
    bool prefix = false;
    int n_vocab = 0;
    gc_status st = choose_kind(root, model, &kind, &prefix, err);
    if (st != GC_OK || (st = count_vocab(vocab, added, &n_vocab, err)) != GC_OK ||
        (st = tok_new(kind, n_vocab, out, err)) != GC_OK)
        return st;
    gc_tokenizer *t = *out;
    t->byte_map = kind == GC_TOKENIZER_BPE;
    t->add_space_prefix = prefix;
    t->ignore_merges = json_true(model, "ignore_merges");
    if (kind == GC_TOKENIZER_BPE)
        st = choose_pretok(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), err);
    if (st == GC_OK)
        st = fill_vocab(t, vocab, added, cJSON_IsString(unk) ? unk->valuestring : NULL, err);
    if (st == GC_OK && (st = tok_finish(t, err)) == GC_OK)
        st = fill_merges(t, merges, err);
    if (st == GC_OK && cJSON_IsString(unk))
        t->unk_id = tok_lookup(t, unk->valuestring, strlen(unk->valuestring));
    if (st == GC_OK)
        guess_specials(t);
    return st;
}

gc_status tok_load_json(const char *data, size_t len, gc_tokenizer **out, gc_error *err) {
    *out = NULL;
    const char *parse_end = data; /* cJSON_GetErrorPtr is global state; the parse end pointer is not */
    cJSON *root = cJSON_ParseWithLengthOpts(data, len, &parse_end, false);
    if (!root)
        return gc_fail(err, GC_ERR_FORMAT, "invalid JSON near byte %zu", (size_t)(parse_end - data));
    gc_status st = build_from_json(root, out, err);
    cJSON_Delete(root);
    if (st != GC_OK) {
        gc_tokenizer_free(*out);
        *out = NULL;
    }
    return st;
}
