/* cmd_inspect.c - `gemcl inspect MODEL`: what a model file holds, without touching a device. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "model/card.h"
#include "model/gguf.h"
#include "model/model.h"
#include "util/fileio.h"

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

static const char *type_names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array",
                                   "u64", "i64", "f64"};

static void print_kv(const gc_gguf *g, const gc_gguf_kv *kv) {
    char key[128];
    snprintf(key, sizeof key, "%.*s", (int)(kv->key.len < 120 ? kv->key.len : 120), kv->key.data);
    int64_t i;
    double f;
    gc_gguf_str str;
    printf("  %-44s ", key);
    if (kv->type == GC_GGUF_ARRAY)
        printf("[%s x %" PRIu64 "]\n", type_names[kv->elem_type], kv->n);
    else if (gc_gguf_get_str(g, key, &str))
        printf("\"%.*s\"%s\n", (int)(str.len < 60 ? str.len : 60), str.data, str.len > 60 ? "..." : "");
    else if ((kv->type == GC_GGUF_F32 || kv->type == GC_GGUF_F64) && gc_gguf_get_float(g, key, &f))
        printf("%s %g\n", type_names[kv->type], f);
    else if (gc_gguf_get_int(g, key, &i))
        printf("%s %" PRId64 "\n", type_names[kv->type], i);
}

/* GGUF metadata (every key; arrays as type and length). Returns 0, or 1 when the file does not parse. */
static int print_gguf_metadata(const char *path) {
    gc_mapped_file map;
    gc_gguf *g;
    gc_error err;
    if (gc_file_map(path, &map, &err) != GEMCL_OK)
        return cli_error("%s", err.msg);
    if (gc_gguf_parse(path, map.data, map.size, &g, &err) != GEMCL_OK) {
        gc_file_unmap(&map);
        return cli_error("%s", err.msg);
    }
    printf("gguf v%u: %" PRIu64 " tensors, %" PRIu64 " metadata keys, alignment %" PRIu64 "\n", g->version,
           g->n_tensors, g->n_kv, g->alignment);
    for (uint64_t k = 0; k < g->n_kv; k++)
        print_kv(g, &g->kv[k]);
    bool vocab_only = g->n_tensors == 0;
    gc_gguf_free(g);
    gc_file_unmap(&map);
    if (vocab_only)
        printf("no tensors: a vocabulary-only GGUF, not a model\n");
    return 0;
}

static bool is_gguf(const char *path) {
    FILE *f = fopen(path, "rb");
    char magic[4] = {0};
    bool yes = f && fread(magic, 1, 4, f) == 4 && memcmp(magic, "GGUF", 4) == 0;
    if (f)
        fclose(f);
    return yes;
}

int cmd_inspect(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        printf("usage: gemcl inspect MODEL\nPrints a model's format, architecture, hyperparameters, parameter count,\n"
               "dtypes, tokenizer, context length, matching model card and every tensor (name, dtype, shape, offset).\n"
               "For GGUF files the metadata keys come first; a vocabulary-only GGUF shows only its metadata.\n");
        return 0;
    }
    if (argc != 2)
        return cli_error("inspect: needs exactly one MODEL path (see gemcl inspect --help)");
    if (is_gguf(argv[1]) && print_gguf_metadata(argv[1]) != 0)
        return 1;
    gc_model_file *m;
    gc_error err;
    if (gc_model_file_open(argv[1], NULL, &m, &err) != GEMCL_OK) {
        if (strstr(err.msg, "no tensors"))
            return 0; /* the metadata above is all there is */
        return cli_error("%s", err.msg);
    }
    printf("model: %s\n", m->path);
    print_hparams(m);
    print_tokenizer_and_card(m);
    print_tensors(m);
    gc_model_file_close(m);
    return 0;
}
