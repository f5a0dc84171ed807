/* hf_writer.c - writes HF model directories (config.json + model.safetensors). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/convert.h"
#include "util/fileio.h"

static const char *torch_dtype(gc_dtype dtype) {
    return dtype == GC_DTYPE_F16 ? "float16" : dtype == GC_DTYPE_BF16 ? "bfloat16" : "float32";
}

static cJSON *config_json(const gc_hparams *hp, gc_dtype dtype) {
    cJSON *c = cJSON_CreateObject();
    cJSON *archs = cJSON_AddArrayToObject(c, "architectures");
    const char *cls = strcmp(hp->arch, "qwen2") == 0 ? "Qwen2ForCausalLM" : strcmp(hp->arch, "mistral") == 0 ? "MistralForCausalLM"
                      : strcmp(hp->arch, "phi3") == 0 ? "Phi3ForCausalLM" : "LlamaForCausalLM";
    cJSON_AddItemToArray(archs, cJSON_CreateString(cls));
    cJSON_AddStringToObject(c, "model_type", hp->arch);
    const struct { const char *key; double v; } nums[] = {
        {"hidden_size", hp->n_embd}, {"intermediate_size", hp->n_ff}, {"num_hidden_layers", hp->n_layers},
        {"num_attention_heads", hp->n_heads}, {"num_key_value_heads", hp->n_kv_heads}, {"head_dim", hp->head_dim},
        {"vocab_size", hp->vocab_size}, {"max_position_embeddings", hp->ctx_train}, {"rms_norm_eps", hp->norm_eps},
        {"rope_theta", hp->rope_theta}};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        cJSON_AddNumberToObject(c, nums[i].key, nums[i].v);
    cJSON_AddBoolToObject(c, "tie_word_embeddings", hp->tied_embeddings);
    if (hp->bos_id >= 0)
        cJSON_AddNumberToObject(c, "bos_token_id", hp->bos_id);
    if (hp->eos_id >= 0)
        cJSON_AddNumberToObject(c, "eos_token_id", hp->eos_id);
    if (hp->rope_scaling.type == GC_ROPE_SCALING_LLAMA3) {
        cJSON *rs = cJSON_AddObjectToObject(c, "rope_scaling");
        cJSON_AddStringToObject(rs, "rope_type", "llama3");
        cJSON_AddNumberToObject(rs, "factor", hp->rope_scaling.factor);
        cJSON_AddNumberToObject(rs, "low_freq_factor", hp->rope_scaling.low_freq_factor);
        cJSON_AddNumberToObject(rs, "high_freq_factor", hp->rope_scaling.high_freq_factor);
        cJSON_AddNumberToObject(rs, "original_max_position_embeddings", hp->rope_scaling.original_max_position);
    } else if (hp->rope_scaling.type == GC_ROPE_SCALING_LINEAR) {
        cJSON *rs = cJSON_AddObjectToObject(c, "rope_scaling");
        cJSON_AddStringToObject(rs, "rope_type", "linear");
        cJSON_AddNumberToObject(rs, "factor", hp->rope_scaling.factor);
    } else {
        cJSON_AddNullToObject(c, "rope_scaling");
    }
    cJSON_AddStringToObject(c, "torch_dtype", torch_dtype(dtype));
    return c;
}

gc_status gc_hf_write_config(const char *dir, const gc_hparams *hp, gc_dtype dtype, gc_error *err) {
    cJSON *c = config_json(hp, dtype);
    char *text = cJSON_Print(c);
    cJSON_Delete(c);
    if (!text)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory", dir);
    char path[2048];
    snprintf(path, sizeof path, "%s/config.json", dir);
    gc_status s = gc_file_write_atomic(path, text, strlen(text), err);
    free(text);
    return s;
}

gc_status gc_hf_write_dir(const char *dir, const gc_hparams *hp, gc_dtype dtype, const gc_planned_tensor *plan, int n,
                          gc_export_fill fill, void *ctx, gc_error *err) {
    gc_status s = gc_mkdir_p(dir, err);
    if (s == GC_OK)
        s = gc_hf_write_config(dir, hp, dtype, err);
    if (s != GC_OK)
        return s;
    gc_tensor *descs = malloc((size_t)n * sizeof *descs);
    if (!descs)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory", dir);
    for (int i = 0; i < n; i++)
        descs[i] = plan[i].desc;
    char path[2048];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    s = gc_export_write(path, GC_EXPORT_SAFETENSORS, NULL, descs, n, fill, ctx, err);
    free(descs);
    return s;
}
