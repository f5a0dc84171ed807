/* gguf.c - GGUF: not yet implemented in this step. */
#include "model/model_internal.h"

void gc_gguf_free(struct gc_gguf *g);
void gc_gguf_free(struct gc_gguf *g) {
    (void)g;
}

gemcl_status gc_gguf_model_load(gc_model_file *m, gc_error *err) {
    return gc_fail(err, GEMCL_ERR_UNSUPPORTED, "%s: GGUF is not supported yet", m->path);
}
