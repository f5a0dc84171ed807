/* fuzz_tokenizer_json.c - libFuzzer target: the input is a tokenizer.json. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_tokenizer_common.h"
#include "tokenizer/tok_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_pretok(data, size);
    gc_tokenizer *t = NULL;
    gc_error err;
    if (tok_load_json((const char *)data, size, &t, &err) == GC_OK) {
        fuzz_use(t, data, size);
        gc_tokenizer_free(t);
    }
    return 0;
}
