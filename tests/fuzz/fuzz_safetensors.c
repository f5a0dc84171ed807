/* fuzz_safetensors.c - libFuzzer target: a safetensors file from memory, bound against two fixed
 * config.json files (the tiny seed model's and stories260K's shapes) so both header parsing and the shape
 * checks run. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "model/model_internal.h"

volatile unsigned fuzz_sink;

static const char *const configs[] = {
    "{\"model_type\":\"llama\",\"hidden_size\":32,\"num_hidden_layers\":1,\"num_attention_heads\":2,"
    "\"num_key_value_heads\":1,\"intermediate_size\":32,\"vocab_size\":8,\"tie_word_embeddings\":true}",
    "{\"model_type\":\"llama\",\"hidden_size\":64,\"num_hidden_layers\":5,\"num_attention_heads\":8,"
    "\"num_key_value_heads\":4,\"intermediate_size\":172,\"vocab_size\":512,\"tie_word_embeddings\":true}",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
        gc_model_file *m = NULL;
        gc_error err;
        if (gc_model_open_memory("fuzz/model.safetensors", "safetensors", data, size, configs[i], strlen(configs[i]),
                                 &m, &err) == GC_OK) {
            fuzz_sink += fuzz_touch_model(m);
            gc_model_file_close(m);
        }
    }
    return 0;
}
