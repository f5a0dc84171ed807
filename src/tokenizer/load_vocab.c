/* load_vocab.c - a tokenizer from vocabulary arrays, the way GGUF metadata holds them
 * (tokenizer.ggml.model / tokens / scores / token_type / merges / bos, eos, unknown ids / add_bos_token). */
#include <stdio.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

/* tokenizer.ggml.pre names and the splits they stand for (llama.cpp's llama_vocab::impl::load and
 * llm_tokenizer_bpe): the names whose regexes gemcl matches. "default" and an absent key are llama.cpp's
 * default (GGUF files converted before the key existed have none). */
static const struct {
    const char *name;
    tok_pretok pretok;
    bool split_digits;  /* \p{N} words first (SmolLM's Digits(individual_digits)) */
    bool ignore_merges; /* a word that is a token is that token, merges or not; llama.cpp also adds BOS by
                           default for exactly these (the Llama 3 family) */
} pretoks[] = {
    {"default", TOK_PRETOK_DEFAULT, false, false},  {"gpt2", TOK_PRETOK_GPT2, false, false},
    {"gpt-2", TOK_PRETOK_GPT2, false, false},       {"phi-2", TOK_PRETOK_GPT2, false, false},
    {"mpt", TOK_PRETOK_GPT2, false, false},         {"olmo", TOK_PRETOK_GPT2, false, false},
    {"jais", TOK_PRETOK_GPT2, false, false},        {"exaone4", TOK_PRETOK_GPT2, false, false},
    {"llama-bpe", TOK_PRETOK_LLAMA3, false, true},  {"llama3", TOK_PRETOK_LLAMA3, false, true},
    {"llama-v3", TOK_PRETOK_LLAMA3, false, true},   {"falcon3", TOK_PRETOK_LLAMA3, false, true},
    {"pixtral", TOK_PRETOK_LLAMA3, false, true},    {"dbrx", TOK_PRETOK_LLAMA3, false, false},
    {"smaug-bpe", TOK_PRETOK_LLAMA3, false, false}, {"qwen2", TOK_PRETOK_QWEN2, false, false},
    {"deepseek-r1-qwen", TOK_PRETOK_QWEN2, false, false}, {"stablelm2", TOK_PRETOK_QWEN2, false, false},
    {"smollm", TOK_PRETOK_GPT2, true, false},       {"starcoder", TOK_PRETOK_GPT2, true, false},
    {"refact", TOK_PRETOK_GPT2, true, false},       {"command-r", TOK_PRETOK_GPT2, true, false},
    {"codeshell", TOK_PRETOK_GPT2, true, false},    {"exaone", TOK_PRETOK_GPT2, true, false},
    {"falcon", TOK_PRETOK_FALCON, false, false},
};

static gc_status set_pretok(gc_tokenizer *t, const char *pre, gc_error *err) {
    char known[512] = "";
    for (size_t i = 0; i < sizeof pretoks / sizeof pretoks[0]; i++) {
        if (strcmp(pre ? pre : "default", pretoks[i].name) == 0) {
            t->pretok = pretoks[i].pretok;
            t->split_digits = pretoks[i].split_digits;
            t->ignore_merges = pretoks[i].ignore_merges;
            return GC_OK;
        }
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "", pretoks[i].name);
    }
    return gc_fail(err, GC_ERR_UNSUPPORTED, "pre-tokenizer '%.64s' (tokenizer.ggml.pre) is not supported (%s)", pre,
                   known);
}

static gc_status check_arrays(const gc_vocab_arrays *v, gc_error *err) {
    if (!v->model || !v->tokens || !v->token_lens || v->n_tokens <= 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "vocabulary: model, tokens and token_lens are required");
    if (strcmp(v->model, "llama") != 0 && strcmp(v->model, "gpt2") != 0)
        return gc_fail(err, GC_ERR_UNSUPPORTED, "vocabulary: tokenizer model '%.50s' is not llama or gpt2", v->model);
    if (v->n_merges > 0 && (!v->merges || !v->merge_lens))
        return gc_fail(err, GC_ERR_INVALID_ARG, "vocabulary: %d merges but no merge arrays", v->n_merges);
    return GC_OK;
}

/* End-of-turn, end-of-generation and fill-in-the-middle markers that llama.cpp types as control whatever the
 * file says (llama_vocab::impl::load: "control-looking token ... its type will be overridden"), so that
 * special-token parsing and detokenization treat them alike in both. */
#define BAR "\xEF\xBD\x9C" /* U+FF5C, DeepSeek's bar */
#define LOW "\xE2\x96\x81" /* U+2581, SentencePiece's space */
static bool control_looking(const char *text, size_t len) {
    static const char *const names[] = {
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "_<EOT>",
        "<" BAR "end" LOW "of" LOW "sentence" BAR ">", "<end_of_utterance>", "<|eom_id|>",
        "<|return|>", "<|call|>", "<|end_of_text|>", "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
        "<" BAR "fim" LOW "begin" BAR ">", "<PRE>", LOW "<PRE>", "<|code_prefix|>",
        "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<" BAR "fim" LOW "hole" BAR ">", "<SUF>",
        LOW "<SUF>", "<|code_suffix|>", "<|fim_middle|>", "<fim-middle>", "<fim_middle>",
        "<" BAR "fim" LOW "end" BAR ">", "<MID>", LOW "<MID>", "<|code_middle|>", "<|fim_pad|>",
        "<fim-pad>", "<fim_pad>", "<PAD>", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>",
        "<|file_sep|>"};
    if (len < 5 || (text[0] != '<' && text[0] != '_' && text[0] != LOW[0]))
        return false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == len && memcmp(names[i], text, len) == 0)
            return true;
    return false;
}
#undef BAR
#undef LOW

static gc_status fill_tokens(gc_tokenizer *t, const gc_vocab_arrays *v, gc_error *err) {
    for (int32_t i = 0; i < v->n_tokens; i++) {
        int32_t type = v->token_types ? v->token_types[i] : TOK_NORMAL;
        if (type < 1 || type > 6)
            type = TOK_NORMAL;
        if ((type == TOK_NORMAL || type == TOK_USER) && control_looking(v->tokens[i], v->token_lens[i]))
            type = TOK_CONTROL;
        gc_status st =
            tok_set_token_text(t, i, v->tokens[i], v->token_lens[i], v->scores ? v->scores[i] : 0.0f, type, err);
        if (st != GC_OK)
            return st;
    }
    return GC_OK;
}

/* "a b" rules split at the first space. */
static gc_status fill_merges(gc_tokenizer *t, const gc_vocab_arrays *v, gc_error *err) {
    for (int32_t r = 0; r < v->n_merges; r++) {
        const char *s = v->merges[r], *sp = memchr(s, ' ', v->merge_lens[r]);
        if (!sp || sp == s)
            return gc_fail(err, GC_ERR_FORMAT, "merge %d is not \"a b\"", (int)r);
        gc_status st = tok_add_merge(t, s, (size_t)(sp - s), sp + 1, v->merge_lens[r] - (size_t)(sp - s) - 1, r, err);
        if (st != GC_OK)
            return st;
    }
    return GC_OK;
}

static void find_eot(gc_tokenizer *t) {
    static const char *const eot[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"};
    for (size_t i = 0; i < 4 && t->eot_id < 0; i++)
        t->eot_id = tok_lookup(t, eot[i], strlen(eot[i]));
}

gc_status gc_tokenizer_from_vocab(const gc_vocab_arrays *v, gc_tokenizer **out, gc_error *err) {
    *out = NULL;
    gc_status st = check_arrays(v, err);
    bool spm = st == GC_OK && strcmp(v->model, "llama") == 0;
    gc_tokenizer *t = NULL;
    if (st != GC_OK || (st = tok_new(spm ? GC_TOKENIZER_SPM : GC_TOKENIZER_BPE, v->n_tokens, &t, err)) != GC_OK)
        return st;
    t->add_space_prefix = spm && !v->no_space_prefix;
    t->byte_map = !spm;
    t->bos_id = v->bos_id;
    t->eos_id = v->eos_id;
    t->unk_id = v->unk_id;
    t->add_eos = v->add_eos;
    if (!spm) /* SentencePiece has no pre-tokenizer: the key is ignored there, as llama.cpp does */
        st = set_pretok(t, v->pre, err);
    t->add_bos = v->add_bos >= 0 ? v->add_bos != 0 : spm || t->ignore_merges;
    if (st == GC_OK && (st = fill_tokens(t, v, err)) == GC_OK && (st = tok_finish(t, err)) == GC_OK &&
        (st = fill_merges(t, v, err)) == GC_OK)
        find_eot(t);
    if (st != GC_OK) {
        gc_error_prefix(err, "vocabulary");
        gc_tokenizer_free(t);
        return st;
    }
    *out = t;
    return GC_OK;
}
