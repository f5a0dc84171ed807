/* load_vocab.c - a tokenizer from vocabulary arrays, the way GGUF metadata holds them
 * (tokenizer.ggml.model / tokens / scores / token_type / merges / bos, eos, unknown ids / add_bos_token). */
#include <string.h>

#include "tokenizer/tok_internal.h"

static tok_pretok pretok_for(const char *pre, bool *split_digits) {
    *split_digits = false;
    if (!pre)
        return TOK_PRETOK_GPT2;
    if (strcmp(pre, "llama-bpe") == 0 || strcmp(pre, "llama3") == 0 || strcmp(pre, "llama-v3") == 0)
        return TOK_PRETOK_LLAMA3;
    if (strcmp(pre, "qwen2") == 0)
        return TOK_PRETOK_QWEN2;
    *split_digits = strcmp(pre, "smollm") == 0;
    return TOK_PRETOK_GPT2;
}

static gemcl_status check_arrays(const gc_vocab_arrays *v, gc_error *err) {
    if (!v->model || !v->tokens || !v->token_lens || v->n_tokens <= 0)
        return gc_fail(err, GEMCL_ERR_INVALID_ARG, "vocabulary: model, tokens and token_lens are required");
    if (strcmp(v->model, "llama") != 0 && strcmp(v->model, "gpt2") != 0)
        return gc_fail(err, GEMCL_ERR_UNSUPPORTED, "vocabulary: tokenizer model '%.50s' is not llama or gpt2",
                       v->model);
    if (v->n_merges > 0 && (!v->merges || !v->merge_lens))
        return gc_fail(err, GEMCL_ERR_INVALID_ARG, "vocabulary: %d merges but no merge arrays", v->n_merges);
    return GEMCL_OK;
}

static gemcl_status fill_tokens(gc_tokenizer *t, const gc_vocab_arrays *v, gc_error *err) {
    for (int32_t i = 0; i < v->n_tokens; i++) {
        int32_t type = v->token_types ? v->token_types[i] : TOK_NORMAL;
        if (type < 1 || type > 6)
            type = TOK_NORMAL;
        gemcl_status st = tok_set_token_text(t, i, v->tokens[i], v->token_lens[i], v->scores ? v->scores[i] : 0.0f,
                                             type, err);
        if (st != GEMCL_OK)
            return st;
    }
    return GEMCL_OK;
}

/* "a b" rules split at the first space. */
static gemcl_status fill_merges(gc_tokenizer *t, const gc_vocab_arrays *v, gc_error *err) {
    for (int32_t r = 0; r < v->n_merges; r++) {
        const char *s = v->merges[r], *sp = memchr(s, ' ', v->merge_lens[r]);
        if (!sp || sp == s)
            return gc_fail(err, GEMCL_ERR_FORMAT, "merge %d is not \"a b\"", (int)r);
        gemcl_status st = tok_add_merge(t, s, (size_t)(sp - s), sp + 1, v->merge_lens[r] - (size_t)(sp - s) - 1, r, err);
        if (st != GEMCL_OK)
            return st;
    }
    return GEMCL_OK;
}

static void find_eot(gc_tokenizer *t) {
    static const char *const eot[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"};
    for (size_t i = 0; i < 4 && t->eot_id < 0; i++)
        t->eot_id = tok_lookup(t, eot[i], strlen(eot[i]));
}

gemcl_status gc_tokenizer_from_vocab(const gc_vocab_arrays *v, gc_tokenizer **out, gc_error *err) {
    *out = NULL;
    gemcl_status st = check_arrays(v, err);
    bool spm = st == GEMCL_OK && strcmp(v->model, "llama") == 0;
    gc_tokenizer *t = NULL;
    if (st != GEMCL_OK || (st = tok_new(spm ? GC_TOKENIZER_SPM : GC_TOKENIZER_BPE, v->n_tokens, &t, err)) != GEMCL_OK)
        return st;
    t->add_space_prefix = spm;
    t->byte_map = !spm;
    t->pretok = pretok_for(v->pre, &t->split_digits);
    t->ignore_merges = t->pretok == TOK_PRETOK_LLAMA3;
    t->bos_id = v->bos_id;
    t->eos_id = v->eos_id;
    t->unk_id = v->unk_id;
    t->add_bos = v->add_bos;
    if ((st = fill_tokens(t, v, err)) == GEMCL_OK && (st = tok_finish(t, err)) == GEMCL_OK &&
        (st = fill_merges(t, v, err)) == GEMCL_OK)
        find_eot(t);
    if (st != GEMCL_OK) {
        gc_error_prefix(err, "vocabulary");
        gc_tokenizer_free(t);
        return st;
    }
    *out = t;
    return GEMCL_OK;
}
