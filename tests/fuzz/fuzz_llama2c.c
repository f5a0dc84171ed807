/* fuzz_llama2c.c - libFuzzer target: llama2.c checkpoints (legacy and v1 headers) from memory. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"
#include "model/model_internal.h"

volatile unsigned fuzz_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gc_model_file *m = NULL;
    gc_error err;
    if (gc_model_open_memory("fuzz.bin", "llama2c", data, size, NULL, 0, &m, &err) == GC_OK) {
        fuzz_sink += fuzz_touch_model(m);
        gc_model_file_close(m);
    }
    return 0;
}
