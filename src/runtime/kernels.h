/* kernels.h - the OpenCL C sources of the cl/ folder, embedded at build time (tools/embed_kernels.py). */
#ifndef GC_RUNTIME_KERNELS_H
#define GC_RUNTIME_KERNELS_H

#include <stddef.h>

typedef struct gc_kernel_source {
    const char *name;   /* file name without ".cl", e.g. "elementwise" */
    const char *source;
    size_t length;
} gc_kernel_source;

/* All embedded sources, terminated by an entry with name == NULL. */
extern const gc_kernel_source gc_kernel_sources[];

/* The source named name, or NULL. */
const gc_kernel_source *gc_kernel_source_find(const char *name);

#endif
