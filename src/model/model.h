/* model.h - a model file opened on the host: hyperparameters and read-only views of every weight tensor,
 * whatever the format (llama2.c .bin, HF safetensors + config.json, GGUF). Nothing here touches a device;
 * the engine uploads from these views.
 *
 * Conventions every loader follows, so the engine has one code path:
 *   - Matrices are row-major [out, in] (PyTorch nn.Linear / llama2.c / GGUF memory order): y = W x.
 *   - Fused checkpoints (Phi-3 qkv_proj, gate_up_proj) are exposed as separate views into the fused data.
 *   - hp.rope_layout says how q/k pairs rotate: ADJACENT for llama2.c and GGUF llama/mistral; HALF for HF
 *     checkpoints and GGUF qwen2/phi3.
 *   - Views point into a read-only mapping (or a buffer the model owns); they live until gc_model_file_close.
 *
 * Every offset, dtype and shape is checked against the file size and the architecture before any read. */
#ifndef GC_MODEL_H
#define GC_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/types.h"

typedef enum gc_rope_scaling_type {
    GC_ROPE_SCALING_NONE = 0,
    GC_ROPE_SCALING_LLAMA3 = 1,
    GC_ROPE_SCALING_LINEAR = 2, /* every frequency divided by factor (position interpolation) */
} gc_rope_scaling_type;

typedef struct gc_rope_scaling {
    gc_rope_scaling_type type;
    float factor;
    float low_freq_factor;
    float high_freq_factor;
    int original_max_position;
} gc_rope_scaling;

/* One RoPE frequency (radians per position) after the scaling s: unchanged for NONE, divided by the factor
 * for LINEAR, Llama 3.1's per-wavelength rule for LLAMA3. The engine and the GGUF loader share it. */
float gc_rope_scale_freq(const gc_rope_scaling *s, float freq);

typedef struct gc_hparams {
    char arch[32];          /* "llama", "mistral", "qwen2", "phi3" */
    int n_embd;             /* model width (llama2.c dim, HF hidden_size) */
    int n_ff;               /* FFN width (hidden_dim, intermediate_size) */
    int n_layers;
    int n_heads;
    int n_kv_heads;
    int head_dim;
    int vocab_size;
    int ctx_train;          /* trained context (seq_len, max_position_embeddings) */
    int sliding_window;     /* the window the model was trained with (Mistral, Phi-3), 0 = none; recorded
                               only: the engine attends over the whole context */
    float norm_eps;
    float rope_theta;
    gc_rope_layout rope_layout;
    gc_rope_scaling rope_scaling;
    bool tied_embeddings;   /* lm_head shares tok_embd's data */
    bool qkv_bias;          /* bq, bk, bv present (Qwen2) */
    int bos_id, eos_id;     /* -1 when unknown */
} gc_hparams;

typedef struct gc_tensor {
    char name[96];          /* the name in the file ("model.layers.3.self_attn.q_proj.weight", "wq[3]") */
    gc_dtype dtype;
    int n_dims;
    int64_t shape[4];       /* outermost first; a matrix is [out, in] */
    const void *data;       /* NULL when the tensor is absent (optional biases) */
    size_t nbytes;
    uint64_t file_offset;   /* byte offset in its file, for messages */
} gc_tensor;

typedef struct gc_layer_weights {
    gc_tensor attn_norm;    /* [n_embd] */
    gc_tensor wq;           /* [n_heads * head_dim, n_embd] */
    gc_tensor wk;           /* [n_kv_heads * head_dim, n_embd] */
    gc_tensor wv;           /* [n_kv_heads * head_dim, n_embd] */
    gc_tensor bq, bk, bv;   /* [out] when hp.qkv_bias, else data == NULL */
    gc_tensor wo;           /* [n_embd, n_heads * head_dim] */
    gc_tensor ffn_norm;     /* [n_embd] */
    gc_tensor w_gate;       /* [n_ff, n_embd]  (llama2.c w1) */
    gc_tensor w_up;         /* [n_ff, n_embd]  (llama2.c w3) */
    gc_tensor w_down;       /* [n_embd, n_ff]  (llama2.c w2) */
} gc_layer_weights;

struct gc_tokenizer;

typedef struct gc_model_file {
    char path[1024];
    char format[16];        /* "llama2c", "safetensors", "gguf" */
    gc_hparams hp;
    gc_tensor tok_embd;     /* [vocab_size, n_embd] */
    gc_tensor out_norm;     /* [n_embd] */
    gc_tensor lm_head;      /* [vocab_size, n_embd]; same data as tok_embd when tied */
    gc_layer_weights *layers; /* [n_layers] */
    struct gc_tokenizer *tokenizer; /* owned; NULL when no tokenizer file was found */
    char tokenizer_path[1024]; /* the tokenizer file found ("" when none; the model path for GGUF) */
    const char *chat_template; /* the model's chat template text (GGUF tokenizer.chat_template, HF
                                  tokenizer_config.json chat_template; NUL-terminated, owned), or NULL */
    void *priv;             /* loader-private: mappings, owned buffers */
} gc_model_file;

typedef struct gc_model_open_params {
    const char *tokenizer_path; /* NULL = find one beside the model (tokenizer.json, tokenizer.model,
                                   tok<vocab>.bin, tokenizer.bin) or inside the GGUF */
} gc_model_open_params;

/* Opens path: a directory (HF layout), a .gguf file, or a llama2.c .bin checkpoint. The caller closes
 * *out with gc_model_file_close. Errors name the file, the tensor and the byte offset. */
gc_status gc_model_file_open(const char *path, const gc_model_open_params *params, gc_model_file **out, gc_error *err);
void gc_model_file_close(gc_model_file *model);

/* The tokenizer of the model at path without keeping the model: a GGUF's tokenizer.ggml.* metadata (a
 * vocabulary-only GGUF too, no tensors read), else the one gc_model_file_open finds beside an HF directory
 * or llama2.c checkpoint. GC_ERR_NOT_FOUND when the model has none. The caller frees *out with
 * gc_tokenizer_free. */
gc_status gc_model_tokenizer_load(const char *path, struct gc_tokenizer **out, gc_error *err);

/* Total parameter count (elements of every distinct tensor; a tied lm_head counted once). */
int64_t gc_model_file_n_params(const gc_model_file *model);

/* The tensors as the file stores them (llama2.c stacked arrays, Phi-3 fused projections, GGUF tensor
 * infos), in file order, for inspection and conversion; *n receives the count. Owned by the model. */
const gc_tensor *gc_model_file_tensors(const gc_model_file *model, int *n);

/* Elements of a tensor (product of its shape). */
int64_t gc_tensor_n_elements(const gc_tensor *t);

#endif
