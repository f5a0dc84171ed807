/* convert.h - model conversion (gemcl convert) and the HF directory writer shared with gen-model. */
#ifndef GC_MODEL_CONVERT_H
#define GC_MODEL_CONVERT_H

#include "model/export.h"
#include "model/layout.h"
#include "model/model.h"

typedef enum gc_convert_to {
    GC_CONVERT_HF = 0,   /* directory: config.json + model.safetensors + tokenizer copy; RoPE layout HALF */
    GC_CONVERT_GGUF = 1, /* one .gguf file, arch llama (adjacent RoPE pairs) or, for a model with q/k/v biases,
                            qwen2 (HF's halves); tokenizer as metadata */
} gc_convert_to;

/* Writes src to out in the target format with matrices stored as dtype (1-D tensors stay f32). q and k
 * rows are permuted between RoPE layouts when source and target differ (see gc_rope_source_row).
 * HF targets copy the tokenizer file (a llama2.c one as tokenizer.bin); GGUF targets carry the tokenizer
 * as tokenizer.ggml.* metadata when the source is a llama2.c tokenizer or a GGUF with a vocabulary. */
gc_status gc_model_convert(const gc_model_file *src, const char *out, gc_convert_to to, gc_dtype dtype, gc_error *err);

/* Writes src as a GGUF file at out (arch and RoPE layout as GC_CONVERT_GGUF says, the tokenizer as metadata as
 * gc_model_convert says) with the n tensors of plan, each stored as its desc.dtype; general.file_type is
 * file_type (llama.cpp's LLAMA_FTYPE_*), and a GGUF source's other general.* keys are carried over. The
 * one GGUF model writer: convert and quantize both come here. */
gc_status gc_gguf_write_model(const gc_model_file *src, const char *out, const gc_planned_tensor *plan, int n,
                              uint32_t file_type, gc_error *err);

/* Writes dir/config.json for hp (model_type hp->arch, torch_dtype from dtype). */
gc_status gc_hf_write_config(const char *dir, const gc_hparams *hp, gc_dtype dtype, gc_error *err);

/* Creates dir and writes config.json and model.safetensors from a plan and a fill callback. */
gc_status gc_hf_write_dir(const char *dir, const gc_hparams *hp, gc_dtype dtype, const gc_planned_tensor *plan, int n,
                          gc_export_fill fill, void *ctx, gc_error *err);

/* Copies a (tokenizer) file whole, writing atomically. */
gc_status gc_copy_file(const char *from, const char *to, gc_error *err);

/* Reads a llama2.c tokenizer file (int32 max_len, then per token f32 score, int32 len, bytes) of n_vocab
 * tokens. *pieces is one malloc'd block of n_vocab pointers followed by the piece bytes; free(*pieces),
 * free(*lens), free(*scores). */
gc_status gc_llama2c_vocab_read(const char *path, int n_vocab, char ***pieces, size_t **lens, float **scores,
                                gc_error *err);

#endif
