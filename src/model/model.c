/* model.c - gc_model_file_open: format detection, the private state every loader shares, close. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/gguf.h"
#include "model/model_internal.h"

static gc_status detect_and_load(gc_model_file *m, gc_error *err) {
    struct stat st;
    if (stat(m->path, &st) != 0)
        return gc_fail(err, GC_ERR_IO, "%s: no such file or directory", m->path);
    if (S_ISDIR(st.st_mode)) {
        strcpy(m->format, "safetensors");
        return gc_hf_load(m, err);
    }
    const gc_mapped_file *map;
    gc_status s = gc_model_map(m, m->path, &map, err);
    if (s != GC_OK)
        return s;
    if (map->size >= 4 && memcmp(map->data, "GGUF", 4) == 0) {
        strcpy(m->format, "gguf");
        return gc_gguf_model_load(m, err);
    }
    strcpy(m->format, "llama2c");
    return gc_llama2c_load(m, err);
}

static gc_status model_new(const char *path, gc_model_file **out, gc_error *err) {
    *out = NULL;
    if (!path || strlen(path) >= sizeof((gc_model_file *)0)->path)
        return gc_fail(err, GC_ERR_INVALID_ARG, "model path missing or too long");
    gc_model_file *m = calloc(1, sizeof *m);
    gc_model_priv *p = calloc(1, sizeof *p);
    if (!m || !p) {
        free(m);
        free(p);
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory", path);
    }
    m->priv = p;
    strcpy(m->path, path);
    m->hp.bos_id = m->hp.eos_id = -1;
    *out = m;
    return GC_OK;
}

/* Closes m on failure; hands it out on success. */
static gc_status finish_open(gc_model_file *m, gc_status s, gc_model_file **out, gc_error *err) {
    if (s == GC_OK)
        s = gc_model_check_shapes(m, err);
    gc_model_priv_of(m)->tokenizer_override = NULL;
    if (s != GC_OK) {
        gc_model_file_close(m);
        return s;
    }
    *out = m;
    return GC_OK;
}

gc_status gc_model_open_memory(const char *name, const char *format, const void *data, size_t size, const char *config,
                               size_t config_len, gc_model_file **out, gc_error *err) {
    gc_model_file *m;
    gc_status s = model_new(name, &m, err);
    if (s != GC_OK)
        return s;
    gc_model_priv *p = gc_model_priv_of(m);
    p->maps = calloc(1, sizeof *p->maps);
    if (!p->maps)
        return finish_open(m, gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory", name), out, err);
    p->maps[0] = (gc_mapped_file){data, size};
    p->n_maps = 1;
    p->maps0_borrowed = true;
    snprintf(m->format, sizeof m->format, "%s", format);
    if (strcmp(format, "gguf") == 0)
        s = gc_gguf_model_load(m, err);
    else if (strcmp(format, "safetensors") == 0)
        s = gc_hf_load_memory(m, config ? config : "", config ? config_len : 0, err);
    else
        s = gc_llama2c_load(m, err);
    return finish_open(m, s, out, err);
}

gc_status gc_model_file_open(const char *path, const gc_model_open_params *params, gc_model_file **out, gc_error *err) {
    gc_model_file *m;
    gc_status s = model_new(path, &m, err);
    if (s != GC_OK)
        return s;
    gc_model_priv_of(m)->tokenizer_override = params ? params->tokenizer_path : NULL;
    return finish_open(m, detect_and_load(m, err), out, err);
}

void gc_model_file_close(gc_model_file *m) {
    if (!m)
        return;
    gc_model_priv *p = m->priv;
    gc_model_free_tokenizer(m);
    if (p) {
        for (int i = p->maps0_borrowed ? 1 : 0; i < p->n_maps; i++)
            gc_file_unmap(&p->maps[i]);
        for (int i = 0; i < p->n_owned; i++)
            free(p->owned[i]);
        free(p->maps);
        free(p->owned);
        free(p->tensors);
        gc_gguf_free(p->gguf);
        free(p);
    }
    free(m->layers);
    free(m);
}

int64_t gc_tensor_n_elements(const gc_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++)
        n *= t->shape[i];
    return n;
}

const gc_tensor *gc_model_file_tensors(const gc_model_file *m, int *n) {
    gc_model_priv *p = gc_model_priv_of(m);
    *n = p->n_tensors;
    return p->tensors;
}

int64_t gc_model_file_n_params(const gc_model_file *m) {
    int n;
    const gc_tensor *t = gc_model_file_tensors(m, &n);
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        if (strncmp(t[i].name, "freq_cis_", 9) != 0) /* llama2.c's unused RoPE tables are not parameters */
            total += gc_tensor_n_elements(&t[i]);
    return total;
}

gc_status gc_model_own(gc_model_file *m, void *buf, gc_error *err) {
    gc_model_priv *p = gc_model_priv_of(m);
    void **grown = realloc(p->owned, (size_t)(p->n_owned + 1) * sizeof *grown);
    if (!grown) {
        free(buf);
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory", m->path);
    }
    p->owned = grown;
    p->owned[p->n_owned++] = buf;
    return GC_OK;
}

gc_status gc_model_map(gc_model_file *m, const char *path, const gc_mapped_file **out, gc_error *err) {
    gc_model_priv *p = gc_model_priv_of(m);
    gc_mapped_file *grown = realloc(p->maps, (size_t)(p->n_maps + 1) * sizeof *grown);
    if (!grown)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory", path);
    p->maps = grown;
    gc_status s = gc_file_map(path, &p->maps[p->n_maps], err);
    if (s != GC_OK)
        return s;
    *out = &p->maps[p->n_maps++];
    return GC_OK;
}

gc_status gc_model_add_tensor(gc_model_file *m, const gc_tensor *t, gc_error *err) {
    gc_model_priv *p = gc_model_priv_of(m);
    if (p->n_tensors == p->cap_tensors) {
        int cap = p->cap_tensors ? p->cap_tensors * 2 : 32;
        gc_tensor *grown = realloc(p->tensors, (size_t)cap * sizeof *grown);
        if (!grown)
            return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory", m->path);
        p->tensors = grown;
        p->cap_tensors = cap;
    }
    p->tensors[p->n_tensors++] = *t;
    return GC_OK;
}

const gc_tensor *gc_model_find_tensor(const gc_model_file *m, const char *name) {
    gc_model_priv *p = gc_model_priv_of(m);
    for (int i = 0; i < p->n_tensors; i++)
        if (strcmp(p->tensors[i].name, name) == 0)
            return &p->tensors[i];
    return NULL;
}
