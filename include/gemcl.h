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
 *     for (int i = 0; i < n; i++)
 *         printf("%d: %s%s\n", i, devs[i].name, i == chosen ? " (default)" : "");
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

/* The status's name, e.g. "GEMCL_ERR_FORMAT". Never NULL; static storage. */
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
} gemcl_device_info;

/*
 * Lists every OpenCL device of every platform into out[0 .. max-1], sets *n_devices to how many exist
 * (which may exceed max; only min(max, *n_devices) entries are written) and *default_index to the device
 * gemcl picks when none is asked for: the first GPU, else the first device. default_index may be NULL.
 * On failure (no platform, no device) writes a message to err (errlen bytes, may be 0) and returns
 * GEMCL_ERR_DEVICE.
 */
gemcl_status gemcl_devices_list(gemcl_device_info *out, int max, int *n_devices, int *default_index,
                                char *err, size_t errlen);

/*
 * Resolves a device choice as the CLI's --device and the GEMCL_DEVICE variable do: spec is a global
 * index ("1") or a case-insensitive substring of the device name ("pthread", "H200"); NULL or "" means
 * the GEMCL_DEVICE environment variable, and if that is unset, the default device. On an unknown choice
 * returns GEMCL_ERR_NOT_FOUND and err lists the devices that exist.
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
 * A model may serve several contexts; each context is used by one thread at a time. Different contexts
 * (on the same or different models) may run on different threads at once.
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
} gemcl_model_params;

gemcl_model_params gemcl_model_default_params(void);

/* Loads a model (HF directory, .gguf, or llama2.c .bin) onto a device. The caller frees *model with
 * gemcl_model_free. On failure *model is NULL and err holds the message. */
gemcl_status gemcl_model_load(const char *path, const gemcl_model_params *params, gemcl_model **model,
                              char *err, size_t errlen);
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

gemcl_status gemcl_model_get_info(const gemcl_model *model, gemcl_model_info *info);

/* Writes every kernel run since the last call (by any context of this model) as a Chrome trace (JSON for
 * chrome://tracing or Perfetto) to path. Needs gemcl_model_params.profiling. */
gemcl_status gemcl_model_write_trace(gemcl_model *model, const char *path, char *err, size_t errlen);

typedef struct gemcl_context_params {
    int n_ctx;                     /* KV rows; 0 = the model's trained context */
    int n_ubatch;                  /* prefill chunk; 0 = 512 */
} gemcl_context_params;

gemcl_context_params gemcl_context_default_params(void);

gemcl_status gemcl_context_create(gemcl_model *model, const gemcl_context_params *params, gemcl_context **ctx,
                                  char *err, size_t errlen);
void gemcl_context_free(gemcl_context *ctx);

/* The message of the context's last failed call ("" after a success). Valid until the next call. */
const char *gemcl_context_last_error(const gemcl_context *ctx);

/* ---------------------------------------------------------------------------------------------------
 * Generation and prompt compression methods (semantics: docs/METHODS.md)
 * ------------------------------------------------------------------------------------------------- */

typedef enum gemcl_method {
    GEMCL_METHOD_FULL = 0,         /* ordinary causal attention over the whole prompt */
    GEMCL_METHOD_GEMFILTER = 1     /* filter with layer r's attention, keep top k tokens, regenerate */
} gemcl_method;

/* "full", "gemfilter"; NULL for an unknown value. */
const char *gemcl_method_name(gemcl_method method);
/* Parses a name; returns GEMCL_ERR_NOT_FOUND (and leaves *method) for an unknown one. */
gemcl_status gemcl_method_from_name(const char *name, gemcl_method *method);

typedef struct gemcl_method_params {
    gemcl_method method;
    int filter_layer;              /* GemFilter's r (0-based); -1 = the model card's, else round(0.4 * L) */
    int budget;                    /* tokens kept (k); 0 = the card's, else 1024 */
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
    int add_bos;                   /* -1 = the tokenizer's default (default), 0 no, 1 yes */
    int parse_special;             /* recognise special tokens written in the prompt (default 0) */
    int truncate_middle;           /* prompt longer than the context: keep head and tail (default 0: error) */
    const char *const *stop;       /* stop strings (not included in the text), n_stop of them */
    int n_stop;
    gemcl_method_params method;
    gemcl_token_fn on_token;
    void *on_token_user;
    gemcl_progress_fn on_progress;
    void *on_progress_user;
} gemcl_generate_params;

gemcl_generate_params gemcl_generate_default_params(void);

typedef struct gemcl_result {
    char *text;                    /* the generated text, NUL-terminated; owned by the result */
    size_t text_len;
    int n_prompt_tokens;           /* the prompt as tokenized */
    int n_kept_tokens;             /* what the model saw after compression (= n_prompt_tokens for full) */
    int32_t *kept_indices;         /* (n_kept_tokens) prompt positions kept, ascending; NULL for full */
    int n_generated;
    int filter_layer;              /* the layer GemFilter used (-1 for full) */
    int filter_layer_defaulted;    /* 1 if it was round(0.4 * L) for want of a model card */
    double filter_ms;              /* GemFilter's selection pass */
    double prefill_ms;             /* prompt processing after selection */
    double decode_ms;              /* all decode steps */
    uint64_t peak_device_bytes;    /* peak of this call, weights included */
    uint64_t kv_bytes;             /* KV cache rows in use after prefill, in bytes */
} gemcl_result;

/* Tokenizes prompt, applies the method, prefills and generates. On success fills *result (free it with
 * gemcl_result_free). On failure returns the status and gemcl_context_last_error() says why; the context
 * stays usable. Each call starts from an empty cache. */
gemcl_status gemcl_generate(gemcl_context *ctx, const char *prompt, size_t prompt_len,
                            const gemcl_generate_params *params, gemcl_result *result);
void gemcl_result_free(gemcl_result *result);

/* ---------------------------------------------------------------------------------------------------
 * Tokens, for programs that drive their own loop
 * ------------------------------------------------------------------------------------------------- */

/* Tokenizes len bytes of text. *ids is allocated by the library; free it with gemcl_free. */
gemcl_status gemcl_tokenize(const gemcl_model *model, const char *text, size_t len, int add_bos,
                            int parse_special, int32_t **ids, int *n_ids, char *err, size_t errlen);

/* Decodes ids into a NUL-terminated string allocated by the library; free it with gemcl_free. */
gemcl_status gemcl_detokenize(const gemcl_model *model, const int32_t *ids, int n_ids, char **text, size_t *len,
                              char *err, size_t errlen);

/* Frees memory the library allocated for the caller (ids, text). */
void gemcl_free(void *ptr);

/* ---------------------------------------------------------------------------------------------------
 * Generation from token ids (benchmarks; programs that tokenize themselves; models without a tokenizer)
 * ------------------------------------------------------------------------------------------------- */

/*
 * Like gemcl_generate, but the prompt is n_ids token ids (copied; the caller keeps ids), used as given:
 * no tokenization, no BOS added (add_bos and parse_special are ignored). End-of-text ids do not stop
 * generation, so it produces exactly params->max_tokens tokens unless the context fills, a stop string
 * matches or on_token asks to stop - what a benchmark needs (llama-bench does the same). Ids must be below
 * the vocabulary size. Everything else (methods, timings, memory, errors) is as for gemcl_generate.
 * When on_progress stops the call (GEMCL_ABORTED), result->peak_device_bytes still holds the device peak up
 * to that point and nothing else is set (nothing to free): a phase's buffers are allocated before its first
 * progress report, so stopping there measures a long prompt's peak memory without running it through.
 *
 *     int32_t ids[512];
 *     for (int i = 0; i < 512; i++) ids[i] = 1 + i % 1000;
 *     gemcl_generate_params g = gemcl_generate_default_params();
 *     g.max_tokens = 1;                                      // time to first token
 *     if (gemcl_generate_ids(ctx, ids, 512, &g, &res) == GEMCL_OK) { ... res.prefill_ms ...; gemcl_result_free(&res); }
 */
gemcl_status gemcl_generate_ids(gemcl_context *ctx, const int32_t *ids, int n_ids,
                                const gemcl_generate_params *params, gemcl_result *result);

#ifdef __cplusplus
}
#endif

#endif /* GEMCL_H */
