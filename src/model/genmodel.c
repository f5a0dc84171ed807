/* genmodel.c - deterministic random HF checkpoints; see genmodel.h. */
#include "model/genmodel.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/convert.h"

typedef struct gen_ctx {
    const gc_planned_tensor *plan;
    uint64_t seed;
    int index;      /* the tensor the stream belongs to */
    uint64_t state; /* xorshift64* state */
} gen_ctx;

static uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static uint64_t next_u64(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [-1, 1) from the top 24 bits. */
static float uniform(uint64_t *s) {
    return (float)(next_u64(s) >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

static bool is_norm(gc_role r) {
    return r == GC_ROLE_ATTN_NORM || r == GC_ROLE_FFN_NORM || r == GC_ROLE_OUT_NORM;
}

/* Chunks arrive in order within a tensor, so one stream per tensor gives chunk-independent values. */
static gc_status gen_fill(void *vctx, int index, int64_t first, float *out, size_t n, gc_error *err) {
    (void)err;
    gen_ctx *c = vctx;
    if (index != c->index || first == 0) {
        c->index = index;
        c->state = splitmix64(c->seed ^ splitmix64((uint64_t)index + 1)) | 1;
    }
    if (is_norm(c->plan[index].role)) {
        for (size_t i = 0; i < n; i++)
            out[i] = 1.0f;
        return GC_OK;
    }
    const float scale = 0.02f / sqrtf(4.0f / 3.0f); /* four uniforms on [-1, 1) have variance 4/3 */
    for (size_t i = 0; i < n; i++) {
        uint64_t *s = &c->state;
        out[i] = (uniform(s) + uniform(s) + uniform(s) + uniform(s)) * scale;
    }
    return GC_OK;
}

gc_status gc_gen_model(const gc_model_card *card, uint64_t seed, gc_dtype dtype, const char *tokenizer_path,
                       const char *out, gc_error *err) {
    gc_hparams hp = card->hp;
    hp.rope_layout = GC_ROPE_HALF; /* an HF directory */
    gc_planned_tensor *plan;
    int n;
    gc_status s = gc_layout_plan(&hp, GC_EXPORT_SAFETENSORS, dtype, &plan, &n, err);
    if (s != GC_OK)
        return s;
    gen_ctx c = {plan, seed, -1, 0};
    s = gc_hf_write_dir(out, &hp, dtype, plan, n, gen_fill, &c, err);
    free(plan);
    if (s == GC_OK && tokenizer_path) {
        char to[2048];
        const char *base = strrchr(tokenizer_path, '/') ? strrchr(tokenizer_path, '/') + 1 : tokenizer_path;
        snprintf(to, sizeof to, "%s/%s", out, base);
        s = gc_copy_file(tokenizer_path, to, err);
    }
    return s;
}
