/* model_tokenizer.c - the one place the model layer calls the tokenizer.
 *
 * Until src/tokenizer/tokenizer.c lands, meson leaves GC_HAVE_TOKENIZER undefined and this file only
 * records which tokenizer file it would load (m->tokenizer_path) and leaves m->tokenizer NULL. The guard
 * goes away when the tokenizer is integrated. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "model/model_internal.h"
#include "model/model_config.h"

#ifdef GC_HAVE_TOKENIZER
#include "tokenizer/tokenizer.h"
#endif

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static gemcl_status load_file(gc_model_file *m, const char *path, gc_error *err) {
    if (snprintf(m->tokenizer_path, sizeof m->tokenizer_path, "%s", path) >= (int)sizeof m->tokenizer_path)
        return gc_fail(err, GEMCL_ERR_INVALID_ARG, "tokenizer path too long: %s", path);
#ifdef GC_HAVE_TOKENIZER
    return gc_tokenizer_load(path, m->hp.vocab_size, &m->tokenizer, err);
#else
    if (!is_file(path))
        return gc_fail(err, GEMCL_ERR_IO, "%s: tokenizer file not found", path);
    (void)err;
    return GEMCL_OK;
#endif
}

gemcl_status gc_model_load_tokenizer(gc_model_file *m, const char *dir, const char *const *candidates,
                                     int n_candidates, gc_error *err) {
    const char *override = gc_model_priv_of(m)->tokenizer_override;
    if (override)
        return load_file(m, override, err);
    char path[2048];
    for (int i = 0; i < n_candidates; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, candidates[i]);
        if (is_file(path))
            return load_file(m, path, err);
    }
    return GEMCL_OK;
}
