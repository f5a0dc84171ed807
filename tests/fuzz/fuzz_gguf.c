/* fuzz_gguf.c - libFuzzer target: GGUF metadata (every lookup kind on every key, string arrays) and the
 * GGUF model loader (tensor infos, shapes, the tokenizer vocabulary checks) from memory. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "model/gguf.h"
#include "model/model_internal.h"

volatile unsigned fuzz_sink;

static void exercise_metadata(const gc_gguf *g) {
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const gc_gguf_kv *kv = &g->kv[i];
        char key[256];
        size_t len = kv->key.len < sizeof key - 1 ? (size_t)kv->key.len : sizeof key - 1;
        memcpy(key, kv->key.data, len);
        key[len] = '\0';
        int64_t iv;
        double fv;
        gc_gguf_str sv;
        gc_gguf_type et;
        uint64_t n;
        fuzz_sink += gc_gguf_get_int(g, key, &iv) + gc_gguf_get_float(g, key, &fv) + gc_gguf_get_str(g, key, &sv) +
                     gc_gguf_get_array(g, key, &et, &n);
        const char **strs;
        size_t *lens;
        if (gc_gguf_array_strings(kv, &strs, &lens, NULL) == GC_OK) {
            for (uint64_t k = 0; k < kv->n; k++)
                fuzz_sink += lens[k] ? (unsigned char)strs[k][lens[k] - 1] : 0;
            free(strs);
            free(lens);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gc_gguf *g = NULL;
    if (gc_gguf_parse("fuzz.gguf", data, size, &g, NULL) == GC_OK) {
        exercise_metadata(g);
        gc_gguf_free(g);
    }
    gc_model_file *m = NULL;
    if (gc_model_open_memory("fuzz.gguf", "gguf", data, size, NULL, 0, &m, NULL) == GC_OK) {
        fuzz_sink += fuzz_touch_model(m);
        gc_model_file_close(m);
    }
    return 0;
}
