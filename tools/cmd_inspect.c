/* cmd_inspect.c - `gemcl inspect MODEL`: what a model file holds, without touching a device. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "model/card.h"
#include "model/model.h"

static void print_hparams(const gc_model_file *m) {
    const gc_hparams *hp = &m->hp;
    printf("format: %s\narch: %s\n", m->format, hp->arch);
    printf("layers %d, width %d, ffn %d, heads %d, kv heads %d, head_dim %d, vocab %d\n", hp->n_layers, hp->n_embd,
           hp->n_ff, hp->n_heads, hp->n_kv_heads, hp->head_dim, hp->vocab_size);
    printf("context length: %d\n", hp->ctx_train);
    printf("rms norm eps %g, rope theta %g, rope layout %s, rope scaling %s", hp->norm_eps, hp->rope_theta,
           hp->rope_layout == GC_ROPE_ADJACENT ? "adjacent" : "half",
           hp->rope_scaling.type == GC_ROPE_SCALING_LLAMA3 ? "llama3" : "none");
    if (hp->rope_scaling.type == GC_ROPE_SCALING_LLAMA3)
        printf(" (factor %g, low %g, high %g, original %d)", hp->rope_scaling.factor, hp->rope_scaling.low_freq_factor,
               hp->rope_scaling.high_freq_factor, hp->rope_scaling.original_max_position);
    printf("\ntied embeddings %s, qkv bias %s, bos %d, eos %d\n", hp->tied_embeddings ? "yes" : "no",
           hp->qkv_bias ? "yes" : "no", hp->bos_id, hp->eos_id);
}

static void print_tokenizer_and_card(const gc_model_file *m) {
    const char *tp = m->tokenizer_path;
    const char *kind = !tp[0] ? "none (token ids only)" : strcmp(m->format, "gguf") == 0 ? "GGUF metadata"
                       : strstr(tp, ".json") ? "tokenizer.json" : strstr(tp, ".model") ? "tokenizer.model"
                       : "llama2.c tokenizer";
    bool show_path = tp[0] && strcmp(tp, m->path) != 0;
    printf("tokenizer: %s%s%s\n", kind, show_path ? " " : "", show_path ? tp : "");
    gc_model_card card;
    gc_error err;
    if (gc_model_card_match(&m->hp, &card, &err) == GEMCL_OK)
        printf("card: %s (gemfilter filter layer %d%s, budget %d)\n", card.name,
               gc_card_filter_layer(&card, m->hp.n_layers), card.filter_layer < 0 ? " = round(0.4 * layers)" : "",
               card.budget > 0 ? card.budget : 1024);
    else
        printf("card: none (gemfilter filter layer %d = round(0.4 * layers))\n", gc_card_filter_layer(NULL, m->hp.n_layers));
}

static void print_tensors(const gc_model_file *m) {
    int n;
    const gc_tensor *t = gc_model_file_tensors(m, &n);
    int counts[4] = {0};
    for (int i = 0; i < n; i++)
        counts[t[i].dtype & 3]++;
    printf("parameters: %" PRId64 "\ndtypes:", gc_model_file_n_params(m));
    for (int d = 0; d < 4; d++)
        if (counts[d])
            printf(" %s x%d", gc_dtype_name((gc_dtype)d), counts[d]);
    printf("\ntensors: %d\n", n);
    for (int i = 0; i < n; i++) {
        char shape[96] = "";
        for (int d = 0; d < t[i].n_dims; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%" PRId64, d ? ", " : "", t[i].shape[d]);
        printf("  %-48s %-5s [%s] offset %" PRIu64 "\n", t[i].name, gc_dtype_name(t[i].dtype), shape, t[i].file_offset);
    }
}

int cmd_inspect(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        printf("usage: gemcl inspect MODEL\nPrints a model's format, architecture, hyperparameters, parameter count,\n"
               "dtypes, tokenizer, context length, matching model card and every tensor (name, dtype, shape, offset).\n");
        return 0;
    }
    if (argc != 2)
        return cli_error("inspect: needs exactly one MODEL path (see gemcl inspect --help)");
    gc_model_file *m;
    gc_error err;
    if (gc_model_file_open(argv[1], NULL, &m, &err) != GEMCL_OK)
        return cli_error("%s", err.msg);
    printf("model: %s\n", m->path);
    print_hparams(m);
    print_tokenizer_and_card(m);
    print_tensors(m);
    gc_model_file_close(m);
    return 0;
}
