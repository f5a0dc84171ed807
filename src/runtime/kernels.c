#include <string.h>

#include "runtime/kernels.h"

const gc_kernel_source *gc_kernel_source_find(const char *name) {
    for (const gc_kernel_source *k = gc_kernel_sources; k->name; k++)
        if (strcmp(k->name, name) == 0)
            return k;
    return NULL;
}
