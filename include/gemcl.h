/*
 * gemcl.h - the public interface of gemcl, a long-context LLM inference engine whose compute runs
 * entirely through OpenCL (NVIDIA, AMD and Intel GPUs, and CPUs through PoCL).
 *
 * gemcl's signature feature is GemFilter's filter-then-regenerate pipeline ("Discovering the Gems in
 * Early Layers", 2024): run the first r layers over a long prompt, score every prompt token by the last
 * token's attention at layer r, keep the top k tokens, and run the whole model on just those.
 *
 * This header is the documentation. Conventions, once for the whole file:
 *
 *   - Every function that can fail returns a gemcl_status. GEMCL_OK is 0; everything else is an error,
 *     and gemcl_status_str() names it. Functions that fail also write a one-line message (what failed,
 *     and where: file, tensor, byte offset, layer, device) into a caller-owned buffer or into the object
 *     they operate on; there is no global error state.
 *   - Lengths are explicit. Strings handed in are NUL-terminated unless a length is passed with them.
 *   - Objects come in create/free pairs. Whoever created an object frees it; free functions accept NULL.
 *   - The library never writes to stdout or stderr. Diagnostics go through a gemcl_log_fn that the caller
 *     installs; without one they are dropped.
 *   - Thread safety is stated per function below. In short: functions that take no model or context
 *     (status names, default params, devices, model files, bare tokenizers, which are read-only once
 *     loaded) may be called from any thread at any time; a gemcl_context is used by one thread at a time;
 *     calls on different contexts of one model may come from different threads and are serialized by the
 *     model's lock (safe, not parallel: they share one device queue).
 *   - The shared library exports only gemcl_* symbols. GEMCL_VERSION_* below give the header's version and
 *     gemcl_version() the library's, so a program can check it runs against the library it was built for.
 *
 * Example: a complete program that loads a model and streams a greedy answer (tests/test_api.c compiles
 * this very text against the installed pkg-config file: cc app.c $(pkg-config --cflags --libs gemcl)).
 *
 *     #include <stdio.h>
 *     #include <string.h>
 *     #include <gemcl.h>
 *
 *     static int print_piece(const char *piece, size_t len, int32_t id, void *user) {
 *         (void)id, (void)user;
 *         fwrite(piece, 1, len, stdout);
 *         return 0; // non-zero stops generation
 *     }
 *
 *     int main(int argc, char **argv) {
 *         if (argc != 3)
 *             return 2; // usage: app MODEL PROMPT
 *         char err[1024];
 *         gemcl_model *model;
 *         gemcl_context *ctx;
 *         if (gemcl_model_load(argv[1], NULL, &model, err, sizeof err) != GEMCL_OK) {
 *             fprintf(stderr, "gemcl: %s\n", err);
 *             return 1;
 *         }
 *         if (gemcl_context_create(model, NULL, &ctx, err, sizeof err) != GEMCL_OK) {
 *             fprintf(stderr, "gemcl: %s\n", err);
 *             gemcl_model_free(model);
 *             return 1;
 *         }
 *         gemcl_generate_params g = gemcl_generate_default_params();
 *         g.max_tokens = 32;
 *         g.on_token = print_piece;
 *         gemcl_result res;
 *         gemcl_status st = gemcl_generate(ctx, argv[2], strlen(argv[2]), &g, &res);
 *         if (st == GEMCL_OK)
 *             printf("\n[%d tokens]\n", res.n_generated);
 *         else
 *             fprintf(stderr, "gemcl: %s\n", gemcl_context_last_error(ctx));
 *         gemcl_result_free(&res); // a failed call leaves res empty, so this is always safe
 *         gemcl_context_free(ctx);
 *         gemcl_model_free(model);
 *         return st == GEMCL_OK ? 0 : 1;
 *     }
 */
#ifndef GEMCL_H
#define GEMCL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GEMCL_VERSION_MAJOR 0
#define GEMCL_VERSION_MINOR 1
#define GEMCL_VERSION_PATCH 0
#define GEMCL_VERSION_STRING "0.1.0"

/* Status codes. Stable numbering: new codes are only ever appended. */
typedef enum gemcl_status {
    GEMCL_OK = 0,
    GEMCL_ERR_INVALID_ARG = 1,   /* a parameter is out of range or inconsistent */
    GEMCL_ERR_IO = 2,            /* a file could not be opened, read, mapped or written */
    GEMCL_ERR_FORMAT = 3,        /* a file is malformed: truncated, bad offsets, bad JSON, bad magic */
    GEMCL_ERR_UNSUPPORTED = 4,   /* well-formed but not supported: unknown dtype, architecture, version */
    GEMCL_ERR_DEVICE = 5,        /* an OpenCL call failed, or no usable device */
    GEMCL_ERR_BUILD = 6,         /* an OpenCL program failed to build; the message carries the build log */
    GEMCL_ERR_OUT_OF_MEMORY = 7, /* host or device allocation refused, or above the device's limit */
    GEMCL_ERR_NOT_FOUND = 8,     /* a named thing (device, tensor, key) does not exist */
    GEMCL_ERR_CONTEXT_FULL = 9,  /* the prompt or generation does not fit the context */
    GEMCL_ABORTED = 10           /* a callback asked to stop; the object stays usable */
} gemcl_status;

/* The status's name, e.g. "GEMCL_ERR_FORMAT". Never NULL; static storage; any thread. */
const char *gemcl_status_str(gemcl_status status);

typedef enum gemcl_log_level {
    GEMCL_LOG_LEVEL_DEBUG = 0,
    GEMCL_LOG_LEVEL_INFO = 1,
    GEMCL_LOG_LEVEL_WARN = 2,
    GEMCL_LOG_LEVEL_ERROR = 3
} gemcl_log_level;

/* Receives one diagnostic line (no trailing newline). Called on the thread that made the call. */
typedef void (*gemcl_log_fn)(gemcl_log_level level, const char *message, void *user_data);

/* ---------------------------------------------------------------------------------------------------
 * Devices
 * ------------------------------------------------------------------------------------------------- */

typedef enum gemcl_device_type {
    GEMCL_DEVICE_TYPE_CPU = 0,
    GEMCL_DEVICE_TYPE_GPU = 1,
    GEMCL_DEVICE_TYPE_ACCELERATOR = 2,
    GEMCL_DEVICE_TYPE_OTHER = 3
} gemcl_device_type;

/* What gemcl knows of one OpenCL device. Plain data, copied out; nothing to free. */
typedef struct gemcl_device_info {
    int index;                    /* global index across platforms: what --device N selects */
    int platform_index;           /* index of its platform */
    char platform_name[128];
    char platform_version[128];
    char name[256];
    char vendor[128];
    char driver_version[128];
    char opencl_c_version[64];    /* e.g. "OpenCL C 1.2 pocl" */
    gemcl_device_type type;
    uint32_t compute_units;
    uint64_t global_mem_bytes;
    uint64_t local_mem_bytes;
    uint64_t max_alloc_bytes;     /* CL_DEVICE_MAX_MEM_ALLOC_SIZE: the largest single buffer */
    int has_fp16;                 /* cl_khr_fp16: fp16 arithmetic in kernels (storage needs nothing) */
    int has_subgroups;            /* cl_khr_subgroups or cl_intel_subgroups */
    int has_int_dot;              /* cl_khr_integer_dot_product: dot products of packed 8-bit integers */
} gemcl_device_info;

/*
 * Lists every OpenCL device of every platform into out[0 .. max-1], sets *n_devices to how many exist
 * (which may exceed max; only min(max, *n_devices) entries are written) and *default_index to the device
 * gemcl picks when none is asked for: the first GPU, else the first device. default_index may be NULL.
 * On failure (no platform, no device) writes a message to err (errlen bytes, may be 0) and returns
 * GEMCL_ERR_DEVICE. Nothing to free; any thread.
 *
 * Example: list the OpenCL devices and the one gemcl would pick.
 *
 *     gemcl_device_info devs[16];
 *     int n = 0, chosen = -1;
 *     char err[512];
 *     if (gemcl_devices_list(devs, 16, &n, &chosen, err, sizeof err) != GEMCL_OK) {
 *         fprintf(stderr, "gemcl: %s\n", err);
 *         return 1;
 *     }
 *     for (int i = 0; i < n && i < 16; i++)
 *         printf("%d: %s%s\n", i, devs[i].name, i == chosen ? " (default)" : "");
 */
gemcl_status gemcl_devices_list(gemcl_device_info *out, int max, int *n_devices, int *default_index,
                                char *err, size_t errlen);

/*
 * Resolves a device choice as the CLI's --device and the GEMCL_DEVICE variable do: spec is a global
 * index ("1"), or a case-insensitive substring of a device name ("pthread", "H200"; the first device whose
 * name has it), else of a platform name ("Intel(R) OpenCL": the first device of that platform, for when two
 * platforms name the same CPU); NULL or "" means
 * the GEMCL_DEVICE environment variable, and if that is unset, the default device. On an unknown choice
 * returns GEMCL_ERR_NOT_FOUND and err lists the devices that exist. Any thread.
 */
gemcl_status gemcl_device_choose(const char *spec, int *index, char *err, size_t errlen);

/* ---------------------------------------------------------------------------------------------------
 * Models and contexts
 *
 * Lifecycle:
 *     gemcl_model *model;    gemcl_model_load(path, &mparams, &model, err, errlen);   weights on a device
 *     gemcl_context *ctx;    gemcl_context_create(model, &cparams, &ctx, err, errlen); a sequence + KV cache
 *     gemcl_result res;      gemcl_generate(ctx, prompt, len, &gparams, &res);  ... gemcl_result_free(&res);
 *     gemcl_context_free(ctx); gemcl_model_free(model);   (contexts before their model)
 *
 * A model may serve several contexts; each context is used by one thread at a time. Contexts of different
 * models run on different threads at once; contexts of one model may be driven from different threads,
 * and the model's lock runs their device work one call at a time (they share one OpenCL queue).
 *
 * Example: GemFilter on a long prompt, streaming the answer.
 *
 *     static int print_piece(const char *piece, size_t len, int32_t id, void *user) {
 *         (void)id, (void)user;
 *         fwrite(piece, 1, len, stdout);
 *         return 0;                      // non-zero stops generation
 *     }
 *     ...
 *     gemcl_generate_params g = gemcl_generate_default_params();
 *     g.method.method = GEMCL_METHOD_GEMFILTER;  // filter layer and budget from the model card
 *     g.max_tokens = 50;
 *     g.on_token = print_piece;
 *     if (gemcl_generate(ctx, prompt, strlen(prompt), &g, &res) != GEMCL_OK)
 *         fprintf(stderr, "gemcl: %s\n", gemcl_context_last_error(ctx));
 * ------------------------------------------------------------------------------------------------- */

typedef struct gemcl_model gemcl_model;
typedef struct gemcl_context gemcl_context;

/* Weight storage on the device. AUTO keeps the file's dtype. */
typedef enum gemcl_weight_dtype {
    GEMCL_WEIGHT_DTYPE_AUTO = -1,
    GEMCL_WEIGHT_DTYPE_F32 = 0,
    GEMCL_WEIGHT_DTYPE_F16 = 1,
    GEMCL_WEIGHT_DTYPE_BF16 = 2,
    GEMCL_WEIGHT_DTYPE_Q8_0 = 3
} gemcl_weight_dtype;

typedef struct gemcl_model_params {
    const char *device;            /* index or name substring; NULL = $GEMCL_DEVICE, then the default */
    const char *tokenizer_path;    /* NULL = the tokenizer beside the model or inside the GGUF */
    gemcl_weight_dtype weight_dtype;
    int profiling;                 /* non-zero: record kernel events for gemcl_model_write_trace */
    gemcl_log_fn log;              /* diagnostics; NULL drops them */
    void *log_user;
    /* How block-quantized weights (q4_0 .. q6_k, iq4_nl) are multiplied. 0 (the default): as llama.cpp's CPU
     * backend does, each activation row quantized to 8 bits per value in blocks (Q8_0, Q8_1 or Q8_K, by the
     * weight's type) and integer products scaled per block, so greedy text and perplexity follow llama.cpp's.
     * Non-zero: the dequantised weights times the f32 activations, exactly (a little more accurate; slower or
     * faster depending on the device). f32, f16 and bf16 weights always multiply f32 activations. */
    int act_f32;
} gemcl_model_params;

/* The defaults, by value (nothing to free); any thread. */
gemcl_model_params gemcl_model_default_params(void);

/* Loads a model (HF directory, .gguf, or llama2.c .bin) onto a device; params NULL means the defaults.
 * The caller frees *model with gemcl_model_free. On failure *model is NULL, err holds the message and
 * everything taken so far (host memory, device buffers, OpenCL objects) is released: GEMCL_ERR_IO (bad
 * path), GEMCL_ERR_FORMAT / GEMCL_ERR_UNSUPPORTED (the file), GEMCL_ERR_NOT_FOUND (no tokenizer, unknown
 * device), GEMCL_ERR_DEVICE / GEMCL_ERR_BUILD / GEMCL_ERR_OUT_OF_MEMORY (the device). Any thread. */
gemcl_status gemcl_model_load(const char *path, const gemcl_model_params *params, gemcl_model **model,
                              char *err, size_t errlen);
/* Frees the model and its device memory. Free its contexts first; NULL is a no-op. Not while another
 * thread uses the model or one of its contexts. */
void gemcl_model_free(gemcl_model *model);

typedef struct gemcl_model_info {
    char arch[32];
    char format[16];               /* "llama2c", "safetensors", "gguf" */
    char device_name[256];
    int n_layers, n_embd, n_heads, n_kv_heads, head_dim, n_ff, vocab_size, ctx_train;
    int64_t n_params;
    uint64_t weight_bytes;         /* on the device */
    int filter_layer;              /* GemFilter's default filter layer (0-based) */
    int filter_layer_from_card;    /* 1 if it came from a model card, 0 if round(0.4 * n_layers) */
    int budget;                    /* default budget k */
} gemcl_model_info;

/* Copies the model's shapes and defaults into *info (plain data, nothing to free). GEMCL_ERR_INVALID_ARG
 * when either pointer is NULL. Any thread: the info never changes after loading. */
gemcl_status gemcl_model_get_info(const gemcl_model *model, gemcl_model_info *info);

/* Writes every kernel run since the last call (by any context of this model) as a Chrome trace (JSON for
 * chrome://tracing or Perfetto) to path. Needs gemcl_model_params.profiling. GEMCL_ERR_IO when path cannot
 * be written (message in err). Takes the model's lock, so any thread. */
gemcl_status gemcl_model_write_trace(gemcl_model *model, const char *path, char *err, size_t errlen);

typedef struct gemcl_context_params {
    int n_ctx;                     /* KV rows; 0 = the model's trained context */
    int n_ubatch;                  /* prefill chunk; 0 = 512 */
} gemcl_context_params;

/* The defaults, by value (nothing to free); any thread. */
gemcl_context_params gemcl_context_default_params(void);

/* Creates a context (one sequence and its KV cache) on model; params NULL means the defaults. The KV cache
 * is allocated as requests need it, but the call checks up front that n_ctx rows of one layer's K (or V)
 * fit the device's largest allocation, so an impossible context fails here and not mid-generation. The
 * caller frees *ctx with gemcl_context_free, before the model. On failure *ctx is NULL, err holds the
 * message and nothing is held: GEMCL_ERR_INVALID_ARG (NULL model, negative sizes), GEMCL_ERR_OUT_OF_MEMORY
 * (above the device's limit or refused). Takes the model's lock, so any thread. */
gemcl_status gemcl_context_create(gemcl_model *model, const gemcl_context_params *params, gemcl_context **ctx,
                                  char *err, size_t errlen);
/* Frees the context and its device memory; NULL is a no-op. Not while another thread uses the context. */
void gemcl_context_free(gemcl_context *ctx);

/* The message of the context's last failed call ("" after a success); owned by the context, valid until
 * its next call. Never NULL ("no context" for NULL). Same thread rule as the context. */
const char *gemcl_context_last_error(const gemcl_context *ctx);

/* ---------------------------------------------------------------------------------------------------
 * Generation and prompt compression methods (semantics: docs/METHODS.md)
 * ------------------------------------------------------------------------------------------------- */

typedef enum gemcl_method {
    GEMCL_METHOD_FULL = 0,         /* ordinary causal attention over the whole prompt */
    GEMCL_METHOD_GEMFILTER = 1,    /* filter with layer r's attention, keep top k tokens, regenerate */
    GEMCL_METHOD_SNAPKV = 2,       /* full prefill; per layer and KV head keep top (k - w) by window mass + window */
    GEMCL_METHOD_H2O = 3,          /* full prefill; per layer and KV head keep top (k - 32) by column sums + last 32 */
    GEMCL_METHOD_STREAMINGLLM = 4, /* sink tokens + the most recent k - sinks, positions = cache slots */
    GEMCL_METHOD_PROMPTDISTILL = 5,/* one pass; at selection layers keep the top k_i rows' hidden states + last */
    GEMCL_METHOD_H2O_STREAM = 6,   /* heavy hitters + recent, column sums accumulated and evicted every step */
    GEMCL_METHOD_POD_TF = 7,       /* training-free POD: distant logits shared within layer blocks (not the paper's
                                      retrained model; never compare with its numbers) */
    GEMCL_METHOD_STRIDE = 8,       /* query-agnostic baseline: k tokens evenly spaced over the prompt, always the
                                      first and the last, then the whole model on them (like GemFilter's pass 2) */
    GEMCL_METHOD_COUNT_            /* not a method: the number of them */
} gemcl_method;

/* "full", "gemfilter", "snapkv", "h2o", "streamingllm", "promptdistill", "h2o-stream", "pod-tf", "stride"; NULL
 * for an unknown value. */
const char *gemcl_method_name(gemcl_method method);
/* Parses a name; returns GEMCL_ERR_NOT_FOUND (and leaves *method) for an unknown one. */
gemcl_status gemcl_method_from_name(const char *name, gemcl_method *method);

#define GEMCL_MAX_STAGES 8 /* promptdistill selection stages at most */

/* SnapKV's pooling of the window attention mass before its top-k. */
typedef enum gemcl_pooling {
    GEMCL_POOLING_AVG5 = 0,        /* mean over 5 neighbours, zero padded (default) */
    GEMCL_POOLING_MAX7 = 1         /* max over 7 neighbours */
} gemcl_pooling;

/* Options of every method; 0 leaves a field at its documented default, so a zeroed struct with a method set
 * is valid. `budget` means the same thing for every method: prompt tokens kept per layer (per KV head for the
 * per-head methods). Every method behaves exactly like full when the prompt has at most `budget` tokens
 * (streamingllm: while prompt + generated tokens fit the budget). */
typedef struct gemcl_method_params {
    gemcl_method method;
    int filter_layer;              /* GemFilter's r (0-based); -1 = the model card's, else round(0.4 * L) */
    int budget;                    /* tokens kept (k); 0 = the card's, else 1024 */
    int window;                    /* snapkv: observation window w, included in the budget (0 = 32) */
    gemcl_pooling pooling;         /* snapkv: pooling of the window mass (default avg5) */
    int sink_tokens;               /* streamingllm: attention sinks kept at the start (0 = 4) */
    int heavy_budget, recent_budget; /* h2o-stream: heavy hitters + recent rows per KV head; 0 = budget split in
                                      half, and with no budget either the paper's 1024 + 1024 */
    /* promptdistill: stages i < n_stages select at layer select_layers[i] (ascending, 0-based) the top
     * stage_budgets[i] rows plus the last; n_stages 0 = one stage at filter_layer with budget. */
    int n_stages;
    int select_layers[GEMCL_MAX_STAGES];
    int stage_budgets[GEMCL_MAX_STAGES];
    int block_size;                /* pod-tf: layers per block sharing the first one's distant logits (0 = 2);
                                      proximal keys = the first sink_tokens (0 = 16) + the last budget - sinks
                                      (budget 0 = 4096: 16 + 4080) */
    int tt;                        /* promptdistill KV truncation of earlier layers: 0 keep all n rows (default),
                                      1 truncate layers <= the first selection layer to its kept rows, -1
                                      truncate after every selection */
} gemcl_method_params;

/* Called with each piece of generated text (complete UTF-8 only). Return non-zero to stop. */
typedef int (*gemcl_token_fn)(const char *piece, size_t len, int32_t id, void *user_data);
/* Called between prefill chunks and layers with done/total work; return non-zero to abort (GEMCL_ABORTED). */
typedef int (*gemcl_progress_fn)(int64_t done, int64_t total, void *user_data);

typedef struct gemcl_generate_params {
    int max_tokens;                /* new tokens at most (default 128) */
    float temperature;             /* <= 0: greedy (default 0) */
    int top_k;                     /* 0 = off (default 40) */
    float top_p;                   /* 1 = off (default 0.95) */
    uint64_t seed;                 /* sampling seed (default 42) */
    int add_bos;                   /* -1 = the tokenizer's default (default; with EOS after the prompt when the
                                      format asks, GGUF add_eos_token), 0 no, 1 yes */
    int parse_special;             /* recognise special tokens written in the prompt (default 0) */
    int truncate_middle;           /* prompt longer than the context: keep head and tail (default 0: error) */
    int ignore_eos;                /* non-zero: end-of-generation ids do not stop decoding, so exactly
                                      max_tokens come unless the context fills or a callback stops it (what
                                      a benchmark needs, as llama-bench does) (default 0) */
    int cache_prompt;              /* non-zero: keep what the context's cache already holds of this prompt
                                      (llama.cpp's prompt cache). When the prompt extends the last call's
                                      prompt + reply (a conversation's next turn), only the new tokens are
                                      prefilled and the method is not applied again (what it kept stays);
                                      after a call with method full, the common prefix with the cached
                                      tokens is kept. Otherwise the call starts from an empty cache (default
                                      0: always) */
    const char *const *stop;       /* stop strings (not included in the text), n_stop of them */
    int n_stop;
    gemcl_method_params method;
    gemcl_token_fn on_token;
    void *on_token_user;
    gemcl_progress_fn on_progress;
    void *on_progress_user;
} gemcl_generate_params;

/* The defaults above, by value (nothing to free); any thread. */
gemcl_generate_params gemcl_generate_default_params(void);

typedef struct gemcl_result {
    char *text;                    /* the generated text, NUL-terminated; owned by the result */
    size_t text_len;
    int n_prompt_tokens;           /* the prompt as tokenized */
    int n_kept_tokens;             /* what the model saw after compression (= n_prompt_tokens for full); for
                                      the KV methods the prompt rows kept per layer (per KV head), for
                                      promptdistill the rows of its last stage */
    int32_t *kept_indices;         /* (n_kept_tokens) prompt positions kept, ascending; NULL for full and for
                                      the per-head methods (see kept_positions) */
    int32_t *kept_positions;       /* per-head methods (snapkv, h2o): (kept_layers, kept_kv_heads,
                                      kept_per_head) prompt positions each layer's KV head kept, ascending per
                                      head; NULL otherwise. Owned by the result. */
    int kept_layers, kept_kv_heads, kept_per_head;
    int n_generated;
    int filter_layer;              /* the layer GemFilter used (-1 for full) */
    int filter_layer_defaulted;    /* 1 if it was round(0.4 * L) for want of a model card */
    double filter_ms;              /* GemFilter's selection pass */
    double prefill_ms;             /* prompt processing after selection */
    double decode_ms;              /* all decode steps */
    uint64_t peak_device_bytes;    /* peak of this call, weights included */
    uint64_t kv_bytes;             /* KV cache rows in use after prefill, in bytes */
    int n_cached_tokens;           /* prompt tokens taken from the cache (cache_prompt), not prefilled */
} gemcl_result;

/* Tokenizes prompt, applies the method, prefills and generates. On success fills *result (free it with
 * gemcl_result_free). On failure returns the status and gemcl_context_last_error() says why, *result is
 * zeroed (gemcl_result_free on it is harmless), nothing is leaked and the context stays usable:
 * GEMCL_ERR_INVALID_ARG (bad params, an empty prompt), GEMCL_ERR_CONTEXT_FULL (a prompt longer than the
 * context without a compression method or truncate_middle), GEMCL_ABORTED (on_progress returned
 * non-zero), GEMCL_ERR_OUT_OF_MEMORY / GEMCL_ERR_DEVICE. NULL ctx or result: GEMCL_ERR_INVALID_ARG with
 * no message. Each call starts from an empty cache. One thread per context; the model's lock is held for
 * the whole call. */
gemcl_status gemcl_generate(gemcl_context *ctx, const char *prompt, size_t prompt_len,
                            const gemcl_generate_params *params, gemcl_result *result);
/* Frees what the result owns (text, kept_indices, kept_positions) and zeroes it, so a second call, NULL,
 * or a result a failed gemcl_generate left empty are all fine. Any thread. */
void gemcl_result_free(gemcl_result *result);

/* ---------------------------------------------------------------------------------------------------
 * Tokens, for programs that drive their own loop
 * ------------------------------------------------------------------------------------------------- */

/* Tokenizes len bytes of text (add_bos -1: the tokenizer's default BOS, and EOS when it adds one). *ids is allocated by the library;
 * free it with gemcl_free. On failure *ids is NULL, nothing is held and err says why. Any
 * thread (the tokenizer is read-only). */
gemcl_status gemcl_tokenize(const gemcl_model *model, const char *text, size_t len, int add_bos,
                            int parse_special, int32_t **ids, int *n_ids, char *err, size_t errlen);

/* Decodes ids into a NUL-terminated string of *len bytes allocated by the library; free it with
 * gemcl_free. The ids are taken as the start of a text: SentencePiece-style tokenizers drop the first
 * piece's leading space there. To decode a continuation, decode it with the token before it in front and
 * drop that token's own text. GEMCL_ERR_INVALID_ARG for an id outside the vocabulary. Any thread. */
gemcl_status gemcl_detokenize(const gemcl_model *model, const int32_t *ids, int n_ids, char **text, size_t *len,
                              char *err, size_t errlen);

/* ---------------------------------------------------------------------------------------------------
 * Chat templates (src/chat.c)
 *
 * A chat model is trained on conversations laid out in its own template. gemcl recognises the common
 * families from markers in the model's template text (GGUF tokenizer.chat_template, HF
 * tokenizer_config.json chat_template), as llama.cpp does without a Jinja interpreter, and renders them as
 * llama.cpp does: chatml (Qwen, SmolLM2), llama3, llama2 (-sys, -sys-bos, -sys-strip), mistral-v1, -v3,
 * -v3-tekken, -v7, phi3, zephyr, gemma. The rendered text holds the template's special tokens as text:
 * tokenize it with parse_special = 1. BOS is not part of it (the tokenizer adds it where the model wants it).
 *
 *     gemcl_chat_message msgs[] = {{"system", "You are a helpful assistant."}, {"user", question}};
 *     char *prompt; size_t len;
 *     if (gemcl_chat_apply_template(model, NULL, msgs, 2, 1, &prompt, &len, err, sizeof err) != GEMCL_OK) ...
 *     g.parse_special = 1;               // generation stops at the template's end-of-turn token
 *     gemcl_generate(ctx, prompt, len, &g, &res);
 *     gemcl_free(prompt);
 * ------------------------------------------------------------------------------------------------- */

typedef struct gemcl_chat_message {
    const char *role;              /* "system", "user" or "assistant" */
    const char *content;           /* NUL-terminated */
} gemcl_chat_message;

/* Renders n_msgs messages in a chat template, followed by the assistant's opening when add_assistant is
 * non-zero. tmpl: NULL = the model's own template; else a family name ("chatml", ...) or a template text to
 * recognise. *text (NUL-terminated, *len bytes; len may be NULL) is the caller's: free it with gemcl_free.
 * Errors, with a one-line message in err: GEMCL_ERR_NOT_FOUND when tmpl is NULL and the model has no
 * template; GEMCL_ERR_UNSUPPORTED for a template of no known family (the message lists the names);
 * GEMCL_ERR_INVALID_ARG for a role other than the three or a NULL argument. model may be NULL when tmpl is
 * given. Any thread. */
gemcl_status gemcl_chat_apply_template(const gemcl_model *model, const char *tmpl, const gemcl_chat_message *msgs,
                                       int n_msgs, int add_assistant, char **text, size_t *len, char *err,
                                       size_t errlen);

/* The family name of the model's template ("chatml", ...), "unknown" for a template of no known family, or
 * NULL when the model has none. A static string. Any thread. */
const char *gemcl_model_chat_template(const gemcl_model *model);

/* Every family name, comma-separated (for messages and --help). A static string. */
const char *gemcl_chat_template_names(void);

/* ---------------------------------------------------------------------------------------------------
 * Driving the loop yourself: prefill, decode, logits (API section; the method section is above)
 *
 * gemcl_generate does everything in one call and starts from an empty cache each time. A program that
 * picks its own tokens (its own sampler, scoring, a chat that keeps its cache) feeds ids itself. The
 * cache persists across these calls: prefill appends after what is cached, decode appends one token.
 * next_id is always the greedy choice (argmax of the logits, computed on the device); to sample, read
 * the logits. gemcl_context_decode(ctx, next, &next) with the greedy id reproduces gemcl_generate's
 * greedy output token for token.
 *
 *     int32_t *ids, next;
 *     int n;
 *     if (gemcl_tokenize(model, text, len, -1, 0, &ids, &n, err, sizeof err) != GEMCL_OK) ...
 *     gemcl_context_reset(ctx);
 *     gemcl_status st = gemcl_context_prefill(ctx, ids, n, &next);
 *     for (int t = 0; st == GEMCL_OK && t < 20 && !gemcl_model_token_is_end(model, next); t++)
 *         st = gemcl_context_decode(ctx, next, &next);      // or read the logits and choose
 *     gemcl_free(ids);
 *
 * These follow the context's one-thread rule; prefill, decode and logits also take the model's lock. On
 * failure they return the status, gemcl_context_last_error says why, and the cache is as it was before
 * the call.
 * ------------------------------------------------------------------------------------------------- */

/* Forgets the cached tokens and the last gemcl_generate's kept ids (keeps the device buffers, so device
 * memory does not change). Returns GEMCL_ERR_INVALID_ARG for NULL. */
gemcl_status gemcl_context_reset(gemcl_context *ctx);

/* Runs n_ids tokens (ids[0..n_ids-1], each in 0..vocab_size-1) through the model after the cached ones,
 * in chunks of n_ubatch, and writes the greedy next id to *next_id (may be NULL). Errors:
 * GEMCL_ERR_INVALID_ARG (NULL ids, n_ids <= 0, an id outside the vocabulary), GEMCL_ERR_CONTEXT_FULL (the
 * tokens do not fit: see gemcl_context_stats.n_past and n_ctx), device errors. */
gemcl_status gemcl_context_prefill(gemcl_context *ctx, const int32_t *ids, int n_ids, int32_t *next_id);

/* Runs one token after the cached ones and writes the greedy next id to *next_id (may be NULL). Errors as
 * gemcl_context_prefill. One blocking 4-byte read per call; the logits stay on the device. */
gemcl_status gemcl_context_decode(gemcl_context *ctx, int32_t id, int32_t *next_id);

/* Copies the logits (vocab_size floats, unnormalised) of the last token run by gemcl_context_prefill or
 * gemcl_context_decode into out[0 .. n-1]; n must be at least the model's vocab_size. This is the only
 * call that moves logits to the host. GEMCL_ERR_INVALID_ARG when n is too small or out is NULL;
 * GEMCL_ERR_NOT_FOUND when there are none (nothing run since the context was created or reset, or a
 * gemcl_generate call ran since, which may sample in place). */
gemcl_status gemcl_context_logits(gemcl_context *ctx, float *out, int n);

/* Scores a text under the model: runs n_ids tokens (each in 0..vocab_size-1) after the cached ones, like
 * gemcl_context_prefill (the cache keeps them), and writes the negative log-likelihood of each next token,
 *     nll[i - first_scored] = -log p(ids[i + 1] | cached tokens, ids[0 .. i])   for first_scored <= i <= n_ids - 2,
 * natural log, n_ids - 1 - first_scored values into the caller's array. Tokens before first_scored are context
 * only. The model's output head runs over the scored rows alone, a bounded number of rows at a time, and the
 * log-softmax at the next id is taken on the device, so only those floats come back: no logits matrix is moved
 * (gemcl_context_logits has none after this call). Perplexity is exp(mean of nll); `gemcl perplexity` is built
 * on this. Errors: GEMCL_ERR_INVALID_ARG (NULL ids or nll, n_ids < 2, first_scored outside 0 .. n_ids - 2, an
 * id outside the vocabulary), GEMCL_ERR_CONTEXT_FULL (the tokens do not fit after the cached ones), device
 * errors; on failure the cache is as it was. Same thread rule as prefill; takes the model's lock. Example, the
 * second half of a 512-token window scored from an empty cache (llama-perplexity's convention):
 *
 *     float nll[255];                                      // 512 - 1 - 256
 *     gemcl_context_reset(ctx);
 *     if (gemcl_context_score(ctx, window, 512, 256, nll) == GEMCL_OK)
 *         for (int i = 0; i < 255; i++) sum += nll[i];     // -log p(window[257 + i] | window[0 .. 256 + i])
 */
gemcl_status gemcl_context_score(gemcl_context *ctx, const int32_t *ids, int n_ids, int first_scored, float *nll);

/* The model's BOS id, or -1 when its tokenizer has none (and for NULL). When add_bos is not NULL it receives 1
 * if gemcl_tokenize with add_bos -1 puts BOS first (the tokenizer's default), else 0. Any thread. */
int32_t gemcl_model_token_bos(const gemcl_model *model, int *add_bos);

/* 1 if id ends generation where gemcl_generate stops: any end-of-generation token of the tokenizer (EOS,
 * <|eot_id|>, ...), or BOS for a llama2.c tokenizer (llama2.c's loop ends there). 0 otherwise, and for
 * NULL. Any thread. */
int gemcl_model_token_is_end(const gemcl_model *model, int32_t id);

/* ---------------------------------------------------------------------------------------------------
 * What a compression method kept (API section)
 * ------------------------------------------------------------------------------------------------- */

/* The token ids the model was given by the context's last successful gemcl_generate, after the method's
 * selection (the whole prompt for GEMCL_METHOD_FULL; gemcl_result.kept_indices says where each came from
 * in the tokenized prompt). *ids points into the context (do not free) and stays valid until the next
 * gemcl_generate, gemcl_context_reset or gemcl_context_free; *n_ids is 0 (and *ids NULL) before any, and
 * 0 when the method keeps no single list of tokens (different tokens per KV head). */
gemcl_status gemcl_context_kept_ids(const gemcl_context *ctx, const int32_t **ids, int *n_ids);

/* The same kept tokens as text, allocated by the library (free with gemcl_free), *len bytes plus a NUL.
 * Tokens that were not adjacent in the prompt are simply concatenated. */
gemcl_status gemcl_context_kept_text(const gemcl_context *ctx, char **text, size_t *len);

/* ---------------------------------------------------------------------------------------------------
 * Counters: time and memory (API section)
 * ------------------------------------------------------------------------------------------------- */

typedef struct gemcl_context_stats {
    /* device memory, from the runtime's exact accounting of every buffer it allocates */
    uint64_t device_bytes_current;    /* held now on the model's device: weights, the engine's few small
                                         shared buffers, and every context of the model */
    uint64_t device_bytes_peak;       /* highest device_bytes_current since the model was loaded */
    uint64_t weight_bytes;            /* the model's weights on the device */
    uint64_t context_bytes;           /* this context: its KV cache as allocated so far + prefill scratch */
    uint64_t kv_bytes_used;           /* KV rows holding tokens now (n_past rows, K and V, all layers) */
    int n_ctx;                        /* the most tokens the context holds */
    int n_past;                       /* tokens cached now */
    /* totals over the context's life (gemcl_generate and the token-level calls alike) */
    int64_t n_prefill_tokens;         /* tokens run by prefill (after any compression) */
    int64_t n_decode_tokens;          /* tokens that came from decode steps (gemcl_generate's first token
                                         comes from the prefill; a step whose token ends generation is not
                                         counted) */
    int64_t n_generate_calls;         /* successful gemcl_generate calls */
    double filter_ms, prefill_ms, decode_ms;
} gemcl_context_stats;

/* Fills *stats (plain data, nothing to free). GEMCL_ERR_INVALID_ARG for NULL pointers. Takes the model's
 * lock (the device byte counts are the model's), so it may be called while another context of the model
 * runs, but not while another thread uses this context. */
gemcl_status gemcl_context_get_stats(const gemcl_context *ctx, gemcl_context_stats *stats);

/* Microseconds on the clock every duration above is measured with (monotonic: it never steps with the
 * wall clock; only differences mean anything), as llama_time_us is llama.cpp's. A program that times its own
 * steps with it measures them the way the library does. Any thread. Example:
 *
 *     int64_t t0 = gemcl_time_us();
 *     gemcl_generate(ctx, prompt, len, &g, &res);
 *     printf("%.1f ms\n", (gemcl_time_us() - t0) / 1e3);
 */
int64_t gemcl_time_us(void);

/* ---------------------------------------------------------------------------------------------------
 * Model files, conversion, quantization and bare tokenizers, without a device (API section; the CLI's
 * inspect, convert, quantize, gen-model and tokenize commands are built on these). All may be called from any thread.
 * ------------------------------------------------------------------------------------------------- */

/* The library's version, "MAJOR.MINOR.PATCH"; static storage. Compare with GEMCL_VERSION_STRING to check
 * that a program runs against the library it was built for. */
const char *gemcl_version(void);

/* Parses "f32", "f16", "bf16", "q8_0" (and "auto"); GEMCL_ERR_NOT_FOUND leaves *dtype as it was. */
gemcl_status gemcl_weight_dtype_from_name(const char *name, gemcl_weight_dtype *dtype);

/* Reads a model file's header and tensor table on the host (nothing goes to a device) and fills *info:
 * device_name is "" and weight_bytes the tensors' bytes in the file. tokenizer_path NULL = look beside the
 * model. Errors as gemcl_model_load's file errors, message in err. */
gemcl_status gemcl_model_file_inspect(const char *path, const char *tokenizer_path, gemcl_model_info *info,
                                      char *err, size_t errlen);

/* Receives text in pieces (not NUL-terminated; len bytes). */
typedef void (*gemcl_text_fn)(const char *text, size_t len, void *user_data);

/* Describes a model file as `gemcl inspect` prints it (for a GGUF first every metadata key; then format,
 * hyperparameters, tokenizer, model card, parameter count, dtypes, every tensor with shape and byte
 * offset), piece by piece through write. Host only. A vocabulary-only GGUF (no tensors) is described by
 * its metadata and is not an error. Errors as gemcl_model_file_inspect; text written before a failure
 * (a GGUF's metadata) stays written. */
gemcl_status gemcl_model_file_describe(const char *path, gemcl_text_fn write, void *user_data, char *err,
                                       size_t errlen);

typedef enum gemcl_convert_format {
    GEMCL_CONVERT_FORMAT_HF = 0,      /* directory: config.json + model.safetensors + the tokenizer file */
    GEMCL_CONVERT_FORMAT_GGUF = 1     /* one .gguf file, tokenizer as metadata when the source allows */
} gemcl_convert_format;

/* Converts any model gemcl loads (in) to out in format, matrices stored as dtype (AUTO = f32; 1-D tensors
 * stay f32). Writes only out; on failure err says why (GEMCL_ERR_INVALID_ARG for an unknown format or
 * dtype, file errors as gemcl_model_load's, GEMCL_ERR_IO writing). */
gemcl_status gemcl_convert(const char *in, const char *out, gemcl_convert_format format, gemcl_weight_dtype dtype,
                           char *err, size_t errlen);

/* Writes an HF directory out with deterministic random weights at the shapes of a model card (card: an
 * embedded name such as "tinyllama-1.1b" or a card .json path); the same card, seed and dtype give the
 * same bytes. dtype F32, F16 or BF16 (AUTO = f32). tokenizer_path, when not NULL, is copied beside the
 * weights. GEMCL_ERR_NOT_FOUND for an unknown card, GEMCL_ERR_INVALID_ARG for Q8_0. */
gemcl_status gemcl_gen_model(const char *card, uint64_t seed, gemcl_weight_dtype dtype, const char *tokenizer_path,
                             const char *out, char *err, size_t errlen);

/* How gemcl_quantize chooses (plain data, by value; start from gemcl_quantize_default_params). */
typedef struct gemcl_quantize_params {
    int allow_requantize; /* non-zero: accept a source whose matrices are already block-quantized (each
                             pass through a quantizer adds error, so this is refused by default) */
    int pure;             /* non-zero: a mix's base type for every matrix, no per-tensor rules
                             (llama-quantize --pure); "Q2_K" with pure is an all-q2_k file */
} gemcl_quantize_params;

/* Defaults: both fields 0. Nothing to free; any thread. */
gemcl_quantize_params gemcl_quantize_default_params(void);

/* Writes the model at in (anything gemcl loads: llama2.c .bin, HF directory, GGUF) as a GGUF file at out
 * that gemcl and llama.cpp read (arch llama; tokenizer and general.* metadata kept; general.file_type is
 * llama.cpp's LLAMA_FTYPE_* value), its matrices block-quantized as type says (case-insensitive):
 *   - a weight type: "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q3_k", "q4_k", "q5_k", "q6_k", "iq4_nl"
 *     (also "f32", "f16", "bf16"): every matrix that type;
 *   - one of llama.cpp's mixes: "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S",
 *     "Q5_K_M": the base type, with more bits for the output matrix (q6_k), attn_v, ffn_down and
 *     attn_output where llama.cpp gives them.
 * 1-D tensors (norms) stay f32. A matrix whose rows are not whole blocks falls back as llama.cpp's does
 * (q2_k, q3_k -> q4_0; q4_k -> q5_0; q5_k -> q5_1; q6_k -> q8_0), and to f16 when not whole 32-blocks.
 * params NULL = defaults. Writes a temporary file beside out and renames it: on failure nothing is left at
 * out. Host only (no device); any thread; quantizes on up to one thread per CPU core, joined before it
 * returns. Errors, message in err: GEMCL_ERR_INVALID_ARG for an unknown type
 * (checked before in is read) or a missing path; the file errors of gemcl_model_load; GEMCL_ERR_UNSUPPORTED
 * for an already-quantized source without allow_requantize, or a model GGUF arch llama cannot hold;
 * GEMCL_ERR_IO writing.
 *
 *     char err[1024];
 *     if (gemcl_quantize("model.gguf", "model-q4_k_m.gguf", "Q4_K_M", NULL, err, sizeof err) != GEMCL_OK)
 *         fprintf(stderr, "gemcl: %s\n", err);
 */
gemcl_status gemcl_quantize(const char *in, const char *out, const char *type, const gemcl_quantize_params *params,
                            char *err, size_t errlen);

/* Writes the type names gemcl_quantize accepts, space-separated and NUL-terminated, into buf (len bytes,
 * truncated to fit). Any thread. */
void gemcl_quantize_type_names(char *buf, size_t len);

/* A tokenizer on its own, from a tokenizer.json, a SentencePiece or tiktoken tokenizer.model, a llama2.c
 * tokenizer .bin (vocab_size: its token count when the records do not exactly fill the file, else 0), or a
 * model path: a .gguf (its tokenizer.ggml.* metadata, vocabulary-only files too), an HF directory or a
 * llama2.c checkpoint (the tokenizer beside it). Read-only once loaded: any number of threads may use one at once. */
typedef struct gemcl_tokenizer gemcl_tokenizer;

/* The caller frees *tok with gemcl_tokenizer_free. On failure *tok is NULL and err says why. */
gemcl_status gemcl_tokenizer_load(const char *path, int vocab_size, gemcl_tokenizer **tok, char *err,
                                  size_t errlen);
/* NULL is a no-op. */
void gemcl_tokenizer_free(gemcl_tokenizer *tok);
/* Token count; BOS and EOS ids, -1 when the tokenizer has none. */
int gemcl_tokenizer_n_vocab(const gemcl_tokenizer *tok);
int gemcl_tokenizer_bos(const gemcl_tokenizer *tok);
int gemcl_tokenizer_eos(const gemcl_tokenizer *tok);
/* As gemcl_tokenize, for a bare tokenizer (add_bos: 0 or 1). *ids: free with gemcl_free. */
gemcl_status gemcl_tokenizer_encode(const gemcl_tokenizer *tok, const char *text, size_t len, int add_bos,
                                    int parse_special, int32_t **ids, int *n_ids, char *err, size_t errlen);
/* As gemcl_detokenize. *text: free with gemcl_free. */
gemcl_status gemcl_tokenizer_decode(const gemcl_tokenizer *tok, const int32_t *ids, int n_ids, char **text,
                                    size_t *len, char *err, size_t errlen);
/* The bytes of one token as the vocabulary stores them (*len of them, not NUL-terminated; may be any
 * bytes), owned by the tokenizer; NULL for an id outside the vocabulary. */
const char *gemcl_tokenizer_piece(const gemcl_tokenizer *tok, int32_t id, size_t *len);

/* Frees memory the library allocated for the caller (ids, text); NULL is a no-op. Any thread. */
void gemcl_free(void *ptr);

/* ---------------------------------------------------------------------------------------------------
 * Generation from token ids (src/generate_tokens.c; added for `gemcl needle`, whose haystacks are exact
 * in tokens). A self-contained block: nothing above depends on it.
 * ------------------------------------------------------------------------------------------------- */

/* Like gemcl_generate, but the prompt is n_ids token ids used exactly as given: nothing is tokenized and no
 * BOS is added (params->add_bos and params->parse_special are ignored; put BOS in ids when the model wants
 * it). Every id must lie in 0 .. vocab_size-1, else GEMCL_ERR_INVALID_ARG. result->kept_indices are
 * positions in ids. ids stays the caller's. Example:
 *
 *     int32_t *ids; int n;
 *     gemcl_tokenize(model, text, strlen(text), -1, 0, &ids, &n, err, sizeof err);
 *     gemcl_generate_tokens(ctx, ids, n, &g, &res);    // same as gemcl_generate(ctx, text, ...)
 *     gemcl_free(ids);
 */
gemcl_status gemcl_generate_tokens(gemcl_context *ctx, const int32_t *ids, int n_ids,
                                   const gemcl_generate_params *params, gemcl_result *result);

/* ---------------------------------------------------------------------------------------------------
 * Benchmark support (src/bench_matmul.c; used by `gemcl bench --vs-blas` to set the device matmul beside a
 * host BLAS on the same shapes). A self-contained block.
 * ------------------------------------------------------------------------------------------------- */

/* The shape a timed matmul ran: y (n, rows) = x (n, cols) W^T with W in dtype ("f32", "f16", ...). */
typedef struct gemcl_matmul_shape {
    int rows, cols;
    char dtype[8];
} gemcl_matmul_shape;

/* Times the device matmul of n rows against layer 0's weight `weight` ("wq", "wk", "wv", "wo", "w_gate",
 * "w_up", "w_down"; every layer has the same shapes) exactly as prefill runs it: one warm-up call, then
 * repetitions calls, each waited for; ms[0 .. repetitions-1] receives each call's milliseconds (the caller's
 * array). Takes the model's lock like any device call. GEMCL_ERR_NOT_FOUND for an unknown weight name. */
gemcl_status gemcl_model_time_matmul(gemcl_model *model, const char *weight, int n, int repetitions,
                                     gemcl_matmul_shape *shape, double *ms, char *err, size_t errlen);

/* ---------------------------------------------------------------------------------------------------
 * Tuning profiles and the tuner (src/tune.c; the CLI's `gemcl tune` and the profile line of `gemcl devices`).
 * A self-contained block.
 *
 * The kernels take their tile sizes, work-group shapes and the choice of GEMM from a per-device profile, which
 * is data: a JSON object with one key per tunable (gemv_local, gemm_tm, attn_rows, ...) and optional "about",
 * "date" and "device" strings. Two are built in (cl/profiles/cpu.json for CPU devices, gpu.json for every
 * other type). gemcl_model_load starts from the built-in profile of the device's type and lays the keys of one
 * file over it:
 *   1. $GEMCL_PROFILE, a path, when that variable is set;
 *   2. else the device's tuned profile if it exists: <cache>/profiles/<device name>_<driver version>.json, where
 *      <cache> is $GEMCL_CACHE_DIR, else $XDG_CACHE_HOME/gemcl, else ~/.cache/gemcl (none when GEMCL_CACHE_DIR
 *      is "off"). gemcl_device_tune writes it.
 * Keys the file leaves out keep the built-in values. A file that is not JSON, is not an object, names an
 * unknown key, repeats one, or gives a value of the wrong type or outside the key's range (gemv_local a power
 * of two, gemm_kb a multiple of 32, attn_rows 0/2/4/8/16, ...) fails gemcl_model_load with GEMCL_ERR_FORMAT and
 * a message naming the file and the key; an unreadable $GEMCL_PROFILE with GEMCL_ERR_IO.
 * ------------------------------------------------------------------------------------------------- */

typedef struct gemcl_profile_info {
    char builtin[16];              /* the built-in profile the device starts from: "cpu" or "gpu" */
    char file[1024];               /* the file laid over it, "" for none: $GEMCL_PROFILE or the tuned profile */
    int file_from_env;             /* 1 when file came from $GEMCL_PROFILE */
    char tuned_path[1024];         /* the device's tuned-profile path (whether or not it exists); "" when the
                                      cache is off */
} gemcl_profile_info;

/* Says which profile a device (spec as gemcl_device_choose's: index, name substring, NULL = $GEMCL_DEVICE then
 * the default) gets, and checks it exactly as gemcl_model_load would: on a bad file returns its error (message
 * in err) with *info filled in all the same. GEMCL_ERR_NOT_FOUND / GEMCL_ERR_DEVICE as gemcl_device_choose.
 * Nothing to free; any thread. */
gemcl_status gemcl_device_profile(const char *device, gemcl_profile_info *info, char *err, size_t errlen);

/* How wide a search gemcl_device_tune makes. */
typedef enum gemcl_tune_grid {
    GEMCL_TUNE_GRID_FULL = 0,      /* wide value lists (tens of minutes on a 2-core CPU) */
    GEMCL_TUNE_GRID_QUICK = 1,     /* a few values around the built-in ones (minutes on a 2-core CPU) */
    GEMCL_TUNE_GRID_SMOKE = 2      /* tiny shapes, one or two candidates per group: proves the machinery in
                                      seconds and measures nothing worth keeping (for tests) */
} gemcl_tune_grid;

/* One candidate setting gemcl_device_tune tried; the pointers live until the callback returns. */
typedef struct gemcl_tune_candidate {
    const char *group;             /* "gemm", "gemm_f32", "gemv" or "attention" */
    const char *workload;          /* what the group times, e.g. "f16 weights, n = 512, W 2048x2048 ..." */
    const char *setting;           /* the candidate's values, e.g. "gemm_tm=8 gemm_wn=4 gemm_wm=8 gemm_kb=128" */
    int is_builtin;                /* 1 when these are the built-in profile's values (always the group's first) */
    int confirmation;              /* 1 in the last round: the built-in values and the search's winner measured
                                      again, sample by sample in turn; the winner is kept only if it is still faster */
    gemcl_status status;           /* GEMCL_OK: correct and timed; else skipped and never chosen */
    const char *message;           /* why it was skipped (failed build, refused launch, wrong answer), else "" */
    double median_ms;              /* median over the samples of the time of one pass over the workload; -1 if
                                      skipped */
    double nmse, max_abs_err;      /* its output against the built-in profile's on the same inputs */
} gemcl_tune_candidate;

/* Called after each candidate; return non-zero to stop (gemcl_device_tune returns GEMCL_ABORTED, writes
 * nothing). Called on the tuning thread. */
typedef int (*gemcl_tune_fn)(const gemcl_tune_candidate *candidate, void *user_data);

typedef struct gemcl_tune_params {
    const char *device;            /* index or name substring; NULL = $GEMCL_DEVICE, then the default */
    gemcl_tune_grid grid;          /* default GEMCL_TUNE_GRID_FULL */
    int repetitions;               /* timed samples per candidate after one checked pass; 0 = 5 (quick 3, smoke 1).
                                      A sample runs passes back to back for >= 50 ms and gives the time per pass */
    gemcl_weight_dtype weight_dtype; /* weights of the gemm and gemv workloads; AUTO = f16 (gemm_f32 is f32) */
    const char *groups;            /* comma-separated subset of "gemm,gemm_f32,gemv,attention"; NULL = all */
    const char *output_path;       /* NULL = the device's tuned profile (gemcl_profile_info.tuned_path) */
    gemcl_tune_fn on_candidate;    /* may be NULL */
    void *on_candidate_user;
    gemcl_log_fn log;              /* progress lines (group starts at INFO, each candidate at DEBUG); NULL drops */
    void *log_user;
} gemcl_tune_params;

/* The defaults above, by value (nothing to free); any thread. */
gemcl_tune_params gemcl_tune_default_params(void);

#define GEMCL_TUNE_MAX_GROUPS 4

/* What one group's search found. */
typedef struct gemcl_tune_group {
    char name[16];                 /* as gemcl_tune_candidate.group */
    gemcl_status status;           /* not GEMCL_OK when the built-in values themselves failed: nothing to
                                      compare with, so the group's keys were not written; message says why */
    char message[320];
    char builtin[160], winner[160]; /* settings, as gemcl_tune_candidate.setting */
    double builtin_ms, winner_ms;  /* their medians, from the confirmation round when there was one (winner_ms <=
                                      builtin_ms); builtin_ms is -1 when the built-in values failed */
    int n_tried, n_skipped;        /* candidates timed, and candidates skipped (the built-in one included) */
} gemcl_tune_group;

typedef struct gemcl_tune_result {
    char path[1024];               /* the profile written */
    char device_name[256];
    int n_groups;
    gemcl_tune_group groups[GEMCL_TUNE_MAX_GROUPS];
} gemcl_tune_result;

/*
 * Measures a device and writes its profile. For each group of tunables it times candidate values on
 * representative shapes (TinyLlama's: GEMM tiles at prefill, n = 512, W 2048x2048, 5632x2048, 2048x5632;
 * f32 GEMM through CLBlast or our kernel on the same shapes; GEMV at decode, n = 1, over enough distinct
 * weight copies back to back that they stream from memory; attention, 32 query and 4 KV heads of 64, as a
 * prefill at n = 1024 and then 64 decode steps over 1 .. 64 keys, which a short prompt's first tokens run
 * through the same kernel) and keeps the one with the smallest median. The search starts from the built-in
 * profile (never from an existing file or $GEMCL_PROFILE) and moves one key at a time through its candidate
 * values until nothing improves; then the built-in values and the winner are measured again in turn, and
 * the winner is kept only if it is still the faster. Every candidate's output is compared with the built-in
 * profile's (normalised squared error <= 1e-6, max abs error <= 1e-3 of the largest value); one that fails to
 * build, is refused by the device, or computes a wrong answer is reported through on_candidate and never
 * chosen.
 *
 * Writes the keys it measured (plus "about", "date", "device") to params->output_path or the device's tuned
 * profile, through a temporary file renamed into place; keys of an existing valid profile at that path that
 * this run did not measure are kept. The result (may be NULL) says what was written. params NULL means the
 * defaults. Errors (message in err): GEMCL_ERR_INVALID_ARG (an unknown group; no output path while the cache
 * is off), GEMCL_ERR_NOT_FOUND / GEMCL_ERR_DEVICE (the device), GEMCL_ERR_IO (writing), GEMCL_ABORTED (the
 * callback), GEMCL_ERR_DEVICE when no group could be measured. Takes a device of its own for minutes; any
 * thread, but results mean little while other work shares the device.
 *
 * Example: tune the default device quickly and print each candidate.
 *
 *     static int show(const gemcl_tune_candidate *c, void *user) {
 *         (void)user;
 *         printf("%-10s %-50s %8.2f ms %s\n", c->group, c->setting, c->median_ms, c->message);
 *         return 0;
 *     }
 *     ...
 *     gemcl_tune_params p = gemcl_tune_default_params();
 *     p.grid = GEMCL_TUNE_GRID_QUICK;
 *     p.on_candidate = show;
 *     gemcl_tune_result r;
 *     if (gemcl_device_tune(&p, &r, err, sizeof err) == GEMCL_OK)
 *         printf("wrote %s\n", r.path);    // models loaded from now on use it
 */
gemcl_status gemcl_device_tune(const gemcl_tune_params *params, gemcl_tune_result *result, char *err,
                               size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* GEMCL_H */
