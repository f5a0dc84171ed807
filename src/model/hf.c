/* hf.c - HF directories (config.json + safetensors): not yet implemented in this step. */
#include "model/model_internal.h"

gemcl_status gc_hf_load(gc_model_file *m, gc_error *err) {
    return gc_fail(err, GEMCL_ERR_UNSUPPORTED, "%s: HF directories are not supported yet", m->path);
}
