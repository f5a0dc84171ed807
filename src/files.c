/* files.c - the host-only half of the public API (include/gemcl.h, "Model files, conversion, quantization
 * and bare tokenizers"): version, model file inspection, conversion, quantization, gen-model, and tokenizers
 * on their own. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api_edge.h"
#include "api_internal.h"
#include "model/card.h"
#include "model/convert.h"
#include "model/genmodel.h"
#include "model/gguf.h"
#include "model/quantize.h"
#include "util/fileio.h"

const char *gemcl_version(void) {
    return GEMCL_VERSION_STRING;
}

gemcl_status gemcl_weight_dtype_from_name(const char *name, gemcl_weight_dtype *dtype) {
    gc_dtype d;
    if (!name || !dtype)
        return GEMCL_ERR_INVALID_ARG;
    if (strcmp(name, "auto") == 0) {
        *dtype = GEMCL_WEIGHT_DTYPE_AUTO;
        return GEMCL_OK;
    }
    if (!gc_dtype_from_name(name, &d) || d > GC_DTYPE_Q8_0) /* the public enum's types */
        return GEMCL_ERR_NOT_FOUND;
    *dtype = (gemcl_weight_dtype)d;
    return GEMCL_OK;
}

/* Opens a model file on the host, copying the message out on failure. */
static gc_status open_file(const char *path, const char *tokenizer_path, gc_model_file **m, char *errbuf,
                           size_t errlen) {
    gc_error err;
    *m = NULL;
    if (!path) {
        gc_fail(&err, GC_ERR_INVALID_ARG, "no model path");
        gc_error_copy_out(&err, errbuf, errlen);
        return err.status;
    }
    gc_model_open_params op = {tokenizer_path};
    gc_status st = gc_model_file_open(path, &op, m, &err);
    if (st != GC_OK)
        gc_error_copy_out(&err, errbuf, errlen);
    return st;
}

gemcl_status gemcl_model_file_inspect(const char *path, const char *tokenizer_path, gemcl_model_info *info,
                                      char *errbuf, size_t errlen) {
    if (!info)
        return GEMCL_ERR_INVALID_ARG;
    gc_model_file *m;
    gc_status st = open_file(path, tokenizer_path, &m, errbuf, errlen);
    if (st != GC_OK)
        return gc_status_public(st);
    gc_api_file_info(m, info);
    int n;
    const gc_tensor *t = gc_model_file_tensors(m, &n);
    for (int i = 0; i < n; i++)
        info->weight_bytes += t[i].nbytes;
    gc_model_file_close(m);
    return GEMCL_OK;
}

/* printf into the caller's text callback, one formatted piece at a time. */
typedef struct text_sink {
    gemcl_text_fn write;
    void *user;
} text_sink;

static void emit(const text_sink *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(const text_sink *o, const char *fmt, ...) {
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->write(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1, o->user);
}

static void describe_hparams(const text_sink *o, const gc_model_file *m) {
    const gc_hparams *hp = &m->hp;
    emit(o, "format: %s\narch: %s\n", m->format, hp->arch);
    emit(o, "layers %d, width %d, ffn %d, heads %d, kv heads %d, head_dim %d, vocab %d\n", hp->n_layers, hp->n_embd,
         hp->n_ff, hp->n_heads, hp->n_kv_heads, hp->head_dim, hp->vocab_size);
    emit(o, "context length: %d", hp->ctx_train);
    if (hp->sliding_window > 0)
        emit(o, " (trained with a sliding window of %d; gemcl attends over the whole context)", hp->sliding_window);
    emit(o, "\n");
    emit(o, "rms norm eps %g, rope theta %g, rope layout %s, rope scaling %s", hp->norm_eps, hp->rope_theta,
         hp->rope_layout == GC_ROPE_ADJACENT ? "adjacent" : "half",
         hp->rope_scaling.type == GC_ROPE_SCALING_LLAMA3   ? "llama3"
         : hp->rope_scaling.type == GC_ROPE_SCALING_LINEAR ? "linear"
                                                           : "none");
    if (hp->rope_scaling.type == GC_ROPE_SCALING_LINEAR)
        emit(o, " (factor %g)", hp->rope_scaling.factor);
    if (hp->rope_scaling.type == GC_ROPE_SCALING_LLAMA3)
        emit(o, " (factor %g, low %g, high %g, original %d)", hp->rope_scaling.factor, hp->rope_scaling.low_freq_factor,
             hp->rope_scaling.high_freq_factor, hp->rope_scaling.original_max_position);
    emit(o, "\ntied embeddings %s, qkv bias %s, bos %d, eos %d\n", hp->tied_embeddings ? "yes" : "no",
         hp->qkv_bias ? "yes" : "no", hp->bos_id, hp->eos_id);
}

static void describe_tokenizer_and_card(const text_sink *o, const gc_model_file *m) {
    const char *tp = m->tokenizer_path;
    const char *kind = !tp[0]                           ? "none (token ids only)"
                       : strcmp(m->format, "gguf") == 0 ? "GGUF metadata"
                       : strstr(tp, ".json")            ? "tokenizer.json"
                       : strstr(tp, ".model")           ? "tokenizer.model"
                                                        : "llama2.c tokenizer";
    bool show_path = tp[0] && strcmp(tp, m->path) != 0;
    emit(o, "tokenizer: %s%s%s\n", kind, show_path ? " " : "", show_path ? tp : "");
    gc_model_card card;
    if (gc_model_card_match(&m->hp, &card, NULL) == GC_OK)
        emit(o, "card: %s (gemfilter filter layer %d%s, budget %d)\n", card.name,
             gc_card_filter_layer(&card, m->hp.n_layers), card.filter_layer < 0 ? " = round(0.4 * layers)" : "",
             card.budget > 0 ? card.budget : 1024);
    else
        emit(o, "card: none (gemfilter filter layer %d = round(0.4 * layers))\n",
             gc_card_filter_layer(NULL, m->hp.n_layers));
}

static void describe_tensors(const text_sink *o, const gc_model_file *m) {
    int n;
    const gc_tensor *t = gc_model_file_tensors(m, &n);
    int counts[GC_DTYPE_COUNT] = {0};
    for (int i = 0; i < n; i++)
        counts[(unsigned)t[i].dtype < GC_DTYPE_COUNT ? t[i].dtype : 0]++;
    emit(o, "parameters: %" PRId64 "\ndtypes:", gc_model_file_n_params(m));
    for (int d = 0; d < GC_DTYPE_COUNT; d++)
        if (counts[d])
            emit(o, " %s x%d", gc_dtype_name((gc_dtype)d), counts[d]);
    emit(o, "\ntensors: %d\n", n);
    for (int i = 0; i < n; i++) {
        char shape[96] = "";
        for (int d = 0; d < t[i].n_dims; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%" PRId64, d ? ", " : "", t[i].shape[d]);
        emit(o, "  %-48s %-6s [%s] offset %" PRIu64 "\n", t[i].name, gc_dtype_name(t[i].dtype), shape,
             t[i].file_offset);
    }
}

static const char *gguf_type_names[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                        "bool", "string", "array", "u64", "i64", "f64"};

static void describe_gguf_kv(const text_sink *o, const gc_gguf *g, const gc_gguf_kv *kv) {
    char key[128];
    snprintf(key, sizeof key, "%.*s", (int)(kv->key.len < 120 ? kv->key.len : 120), kv->key.data);
    int64_t i;
    double f;
    gc_gguf_str str;
    emit(o, "  %-44s ", key);
    if (kv->type == GC_GGUF_ARRAY)
        emit(o, "[%s x %" PRIu64 "]\n", gguf_type_names[kv->elem_type], kv->n);
    else if (gc_gguf_get_str(g, key, &str))
        emit(o, "\"%.*s\"%s\n", (int)(str.len < 60 ? str.len : 60), str.data, str.len > 60 ? "..." : "");
    else if ((kv->type == GC_GGUF_F32 || kv->type == GC_GGUF_F64) && gc_gguf_get_float(g, key, &f))
        emit(o, "%s %g\n", gguf_type_names[kv->type], f);
    else if (gc_gguf_get_int(g, key, &i))
        emit(o, "%s %" PRId64 "\n", gguf_type_names[kv->type], i);
}

/* GGUF metadata (every key; arrays as type and length). *vocab_only: the file has no tensors. */
static gc_status describe_gguf_metadata(const text_sink *o, const char *path, bool *vocab_only, gc_error *err) {
    gc_mapped_file map;
    gc_gguf *g;
    gc_status st = gc_file_map(path, &map, err);
    if (st != GC_OK)
        return st;
    if ((st = gc_gguf_parse(path, map.data, map.size, &g, err)) != GC_OK) {
        gc_file_unmap(&map);
        return st;
    }
    emit(o, "gguf v%u: %" PRIu64 " tensors, %" PRIu64 " metadata keys, alignment %" PRIu64 "\n", g->version,
         g->n_tensors, g->n_kv, g->alignment);
    for (uint64_t k = 0; k < g->n_kv; k++)
        describe_gguf_kv(o, g, &g->kv[k]);
    *vocab_only = g->n_tensors == 0;
    gc_gguf_free(g);
    gc_file_unmap(&map);
    if (*vocab_only)
        emit(o, "no tensors: a vocabulary-only GGUF, not a model\n");
    return GC_OK;
}

static bool is_gguf(const char *path) {
    return gc_file_starts_with(path, "GGUF", 4);
}

gemcl_status gemcl_model_file_describe(const char *path, gemcl_text_fn write, void *user_data, char *errbuf,
                                       size_t errlen) {
    gc_error err;
    if (!write || !path) {
        gc_fail(&err, GC_ERR_INVALID_ARG, "describe: needs a path and a text callback");
        gc_error_copy_out(&err, errbuf, errlen);
        return gc_status_public(err.status);
    }
    text_sink o = {write, user_data};
    bool vocab_only = false;
    if (is_gguf(path) && describe_gguf_metadata(&o, path, &vocab_only, &err) != GC_OK) {
        gc_error_copy_out(&err, errbuf, errlen);
        return gc_status_public(err.status);
    }
    if (vocab_only)
        return GEMCL_OK; /* the metadata is all there is */
    gc_model_file *m;
    gc_status st = open_file(path, NULL, &m, errbuf, errlen);
    if (st != GC_OK)
        return gc_status_public(st);
    emit(&o, "model: %s\n", m->path);
    describe_hparams(&o, m);
    describe_tokenizer_and_card(&o, m);
    describe_tensors(&o, m);
    gc_model_file_close(m);
    return GEMCL_OK;
}

/* The gc_dtype for a public weight dtype (AUTO = f32), or false for a value outside the enum. */
static bool file_dtype(gemcl_weight_dtype d, gc_dtype *out) {
    if (d == GEMCL_WEIGHT_DTYPE_AUTO)
        d = GEMCL_WEIGHT_DTYPE_F32;
    if (d < GEMCL_WEIGHT_DTYPE_F32 || d > GEMCL_WEIGHT_DTYPE_Q8_0)
        return false;
    *out = (gc_dtype)d;
    return true;
}

gemcl_status gemcl_convert(const char *in, const char *out, gemcl_convert_format format, gemcl_weight_dtype dtype,
                           char *errbuf, size_t errlen) {
    gc_error err;
    gc_dtype d;
    if (!out || (format != GEMCL_CONVERT_FORMAT_HF && format != GEMCL_CONVERT_FORMAT_GGUF) || !file_dtype(dtype, &d)) {
        gc_fail(&err, GC_ERR_INVALID_ARG,
                "convert: needs an output path, format HF or GGUF (got %d) and a "
                "weight dtype (got %d)",
                (int)format, (int)dtype);
        gc_error_copy_out(&err, errbuf, errlen);
        return gc_status_public(err.status);
    }
    gc_model_file *m;
    gc_status st = open_file(in, NULL, &m, errbuf, errlen);
    if (st != GC_OK)
        return gc_status_public(st);
    st = gc_model_convert(m, out, format == GEMCL_CONVERT_FORMAT_HF ? GC_CONVERT_HF : GC_CONVERT_GGUF, d, &err);
    gc_model_file_close(m);
    if (st != GC_OK)
        gc_error_copy_out(&err, errbuf, errlen);
    return gc_status_public(st);
}

gemcl_status gemcl_gen_model(const char *card_name, uint64_t seed, gemcl_weight_dtype dtype, const char *tokenizer_path,
                             const char *out, char *errbuf, size_t errlen) {
    gc_error err;
    gc_dtype d;
    gc_status st;
    gc_model_card card;
    if (!card_name || !out || !file_dtype(dtype, &d) || d == GC_DTYPE_Q8_0)
        st = gc_fail(&err, GC_ERR_INVALID_ARG,
                     "gen-model: needs a card, an output path and dtype f32, f16 or "
                     "bf16 (got %d)",
                     (int)dtype);
    else if ((st = gc_model_card_load(card_name, &card, &err)) == GC_OK)
        st = gc_gen_model(&card, seed, d, tokenizer_path, out, &err);
    if (st != GC_OK)
        gc_error_copy_out(&err, errbuf, errlen);
    return gc_status_public(st);
}

gemcl_quantize_params gemcl_quantize_default_params(void) {
    return (gemcl_quantize_params){0, 0};
}

void gemcl_quantize_type_names(char *buf, size_t len) {
    if (buf && len)
        gc_quant_scheme_names(buf, len);
}

gemcl_status gemcl_quantize(const char *in, const char *out, const char *type, const gemcl_quantize_params *params,
                            char *errbuf, size_t errlen) {
    const gemcl_quantize_params p = params ? *params : gemcl_quantize_default_params();
    gc_error err;
    gc_quant_scheme scheme;
    char names[512];
    if (!out || !in) {
        gc_fail(&err, GC_ERR_INVALID_ARG, "quantize: needs an input and an output path");
        gc_error_copy_out(&err, errbuf, errlen);
        return gc_status_public(err.status);
    }
    if (!gc_quant_scheme_find(type, p.pure != 0, &scheme)) {
        gc_quant_scheme_names(names, sizeof names);
        gc_fail(&err, GC_ERR_INVALID_ARG, "quantize: unknown type '%s' (one of: %s)", type ? type : "(null)", names);
        gc_error_copy_out(&err, errbuf, errlen);
        return gc_status_public(err.status);
    }
    gc_model_file *m;
    gc_status st = open_file(in, NULL, &m, errbuf, errlen);
    if (st != GC_OK)
        return gc_status_public(st);
    st = gc_model_quantize(m, out, &scheme, p.allow_requantize != 0, &err);
    gc_model_file_close(m);
    if (st != GC_OK)
        gc_error_copy_out(&err, errbuf, errlen);
    return gc_status_public(st);
}

/* ---- bare tokenizers ---------------------------------------------------------------------------- */

struct gemcl_tokenizer {
    gc_tokenizer *t;
};

/* A directory or a file that starts with GGUF's magic: a model, whose tokenizer is inside or beside it. */
static bool is_model_path(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0)
        return false;
    if (S_ISDIR(st.st_mode))
        return true;
    char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    bool gguf = f && fread(magic, 1, 4, f) == 4 && memcmp(magic, "GGUF", 4) == 0;
    if (f)
        fclose(f);
    return gguf;
}

/* A tokenizer file, else the tokenizer of a model (GGUF, HF directory, llama2.c checkpoint). A file that
 * is neither keeps the tokenizer loader's message. */
static gc_status load_any_tokenizer(const char *path, int vocab_size, gc_tokenizer **out, gc_error *err) {
    if (is_model_path(path))
        return gc_model_tokenizer_load(path, out, err);
    gc_status st = gc_tokenizer_load(path, vocab_size, out, err);
    if (st != GC_ERR_FORMAT)
        return st;
    gc_error model_err;
    return gc_model_tokenizer_load(path, out, &model_err) == GC_OK ? GC_OK : st;
}

gemcl_status gemcl_tokenizer_load(const char *path, int vocab_size, gemcl_tokenizer **out, char *errbuf,
                                  size_t errlen) {
    gc_error err;
    gc_status st;
    gemcl_tokenizer *tok = NULL;
    if (!out || !path || vocab_size < 0)
        st = gc_fail(&err, GC_ERR_INVALID_ARG, "tokenizer: needs a path, a place for it and vocab_size >= 0");
    else if (!(tok = calloc(1, sizeof *tok)))
        st = gc_fail(&err, GC_ERR_OUT_OF_MEMORY, "out of host memory");
    else
        st = load_any_tokenizer(path, vocab_size, &tok->t, &err);
    if (st != GC_OK) {
        free(tok);
        if (out)
            *out = NULL;
        gc_error_copy_out(&err, errbuf, errlen);
        return gc_status_public(st);
    }
    *out = tok;
    return GEMCL_OK;
}

void gemcl_tokenizer_free(gemcl_tokenizer *tok) {
    if (!tok)
        return;
    gc_tokenizer_free(tok->t);
    free(tok);
}

int gemcl_tokenizer_n_vocab(const gemcl_tokenizer *tok) {
    return tok ? gc_tokenizer_n_vocab(tok->t) : 0;
}

int gemcl_tokenizer_bos(const gemcl_tokenizer *tok) {
    return tok ? gc_tokenizer_bos(tok->t) : -1;
}

int gemcl_tokenizer_eos(const gemcl_tokenizer *tok) {
    return tok ? gc_tokenizer_eos(tok->t) : -1;
}

gemcl_status gemcl_tokenizer_encode(const gemcl_tokenizer *tok, const char *text, size_t len, int add_bos,
                                    int parse_special, int32_t **ids, int *n_ids, char *errbuf, size_t errlen) {
    gc_error err;
    gc_status st;
    if (!tok || !ids || !n_ids || (!text && len))
        st = gc_fail(&err, GC_ERR_INVALID_ARG, "tokenize: needs a tokenizer, text and places for the ids");
    else
        st = gc_tokenizer_encode(tok->t, text, len, add_bos != 0, parse_special != 0, ids, n_ids, &err);
    if (st != GC_OK) {
        if (ids)
            *ids = NULL;
        gc_error_copy_out(&err, errbuf, errlen);
    }
    return gc_status_public(st);
}

gemcl_status gemcl_tokenizer_decode(const gemcl_tokenizer *tok, const int32_t *ids, int n_ids, char **text, size_t *len,
                                    char *errbuf, size_t errlen) {
    gc_error err;
    gc_status st;
    if (!tok || !text || n_ids < 0 || (!ids && n_ids))
        st = gc_fail(&err, GC_ERR_INVALID_ARG, "detokenize: needs a tokenizer, ids and a place for the text");
    else
        st = gc_tokenizer_decode(tok->t, ids, n_ids, text, len, &err);
    if (st != GC_OK)
        gc_error_copy_out(&err, errbuf, errlen);
    return gc_status_public(st);
}

const char *gemcl_tokenizer_piece(const gemcl_tokenizer *tok, int32_t id, size_t *len) {
    if (!tok || id < 0 || id >= gc_tokenizer_n_vocab(tok->t))
        return NULL;
    return gc_tokenizer_piece(tok->t, id, len);
}
