/* fuzz_tokenizer_model.c - libFuzzer target: the input is any tokenizer file gc_tokenizer_load_memory
 * detects (SentencePiece protobuf, tiktoken, llama2.c .bin; JSON too, though fuzz_tokenizer_json covers
 * it). The first byte chooses whether a vocabulary size is given, as llama2.c files need. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_tokenizer_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_pretok(data, size);
    gc_tokenizer *t = NULL;
    gc_error err;
    if (gc_tokenizer_load_memory(data, size, "fuzz.model", 0, &t, &err) == GC_OK) {
        fuzz_use(t, data, size);
        gc_tokenizer_free(t);
    }
    if (size > 0 && gc_tokenizer_load_memory(data, size, "fuzz.model", 512, &t, &err) == GC_OK) {
        fuzz_use(t, data, size);
        gc_tokenizer_free(t);
    }
    return 0;
}
