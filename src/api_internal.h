/* api_internal.h - the objects behind the public handles, shared by the API's source files. */
#ifndef GC_API_INTERNAL_H
#define GC_API_INTERNAL_H

#include <pthread.h>

#include "api_edge.h"
#include "engine/engine.h"
#include "tokenizer/tokenizer.h"
#include "gemcl.h"
#include "model/model.h"

struct gemcl_model {
    gc_api_log_sink log_sink; /* the public log callback, as the runtime calls it */
    gc_runtime *rt;
    gc_ops *ops;
    gc_model_file *file;
    gc_dmodel *dm;
    int filter_layer, filter_layer_from_card, budget; /* GemFilter defaults for this model */
    pthread_mutex_t lock;           /* serializes device work of all contexts: they share rt's queue */
    size_t bytes_peak;              /* device peak since loading (rt's peak is reset per generate call) */
};

struct gemcl_context {
    gemcl_model *model;
    gc_seq *seq;
    int n_ubatch;
    gc_error err;
    bool logits_valid;              /* seq's logits buffer holds the last prefill/decode row's logits */
    int32_t *kept_ids;              /* (n_kept) ids the last gemcl_generate gave the model; owned */
    int32_t *history;               /* (n_history) the prompt + fed reply tokens whose KV the cache holds
                                       (possibly compressed by a method); owned; 0 when unknown */
    int n_history;
    bool history_exact;             /* the cache holds one row per history token, in order (method full) */
    int n_kept;
    gemcl_context_stats stats;      /* the running totals (the byte counts are filled in when asked) */
};

/* The prompt as token ids, for gemcl_generate_tokens: used as given (no tokenization, no BOS added). */
typedef struct gc_prompt_ids {
    const int32_t *ids;
    int n;
} gc_prompt_ids;

/* gemcl_generate's body: the prompt is given (ids, when given != NULL) or tokenized from prompt/len. */
gc_status gc_generate(gemcl_context *c, const char *prompt, size_t len, const gc_prompt_ids *given,
                      const gemcl_generate_params *params, gemcl_result *r);

/* The model's lock, held by every call that touches the device or the byte accounting. Folds the
 * runtime's peak into the model's lifetime peak on release. */
/* The description shared by gemcl_model_get_info and gemcl_model_file_inspect: shapes, parameters and
 * GemFilter's defaults (the model card's when one matches, else r = round(0.4 L) and k = 1024). Device name
 * and weight bytes are left to the caller. */
void gc_api_file_info(const gc_model_file *f, gemcl_model_info *info);

void gc_api_lock(gemcl_model *m);
void gc_api_unlock(gemcl_model *m);

/* Checks gemcl_generate's params; GEMCL_ERR_INVALID_ARG with a message naming the field. */
gc_status gc_api_check_generate_params(const gemcl_generate_params *p, gc_error *err);

/* After a successful gemcl_generate: keeps what the model was given as the context's kept ids (taking
 * ownership of ids, the tokenized prompt, gathered in place when gathered is true) and adds the call to
 * the context's totals. */
void gc_api_record_generate(gemcl_context *c, const gemcl_result *r, bool gathered, int32_t *ids);

/* Whether gemcl_generate stops at id (any end-of-generation token, or BOS for llama2.c tokenizers). */
bool gc_api_is_end(const gc_tokenizer *tok, int32_t id);

#endif
