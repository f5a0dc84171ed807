#include <string.h>

#include "methods/method.h"

static const gc_method methods[] = {
    {"full", NULL},
    {"gemfilter", gc_gemfilter_select},
};

const gc_method *gc_method_find(const char *name) {
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(methods[i].name, name) == 0)
            return &methods[i];
    return NULL;
}
