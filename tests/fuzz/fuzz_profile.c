/* fuzz_profile.c - libFuzzer target: the input is a tuning profile laid over the built-in cpu profile. A
 * profile that loads must hold only in-range values; one that does not must leave the profile as it was and
 * say why in one line naming the file. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_values(const gc_ops_profile *a, const gc_ops_profile *b) {
    for (int f = 0; f < GC_PROFILE_FIELD_COUNT; f++)
        if (gc_ops_profile_get(a, (gc_profile_field)f) != gc_ops_profile_get(b, (gc_profile_field)f))
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gc_ops_profile base, p;
    gc_error err;
    if (gc_ops_profile_builtin("cpu", &base, &err) != GC_OK)
        abort();
    p = base;
    uint32_t set = 0;
    if (gc_ops_profile_apply(&p, (const char *)data, size, "fuzz.json", &set, &err) == GC_OK) {
        for (int f = 0; f < GC_PROFILE_FIELD_COUNT; f++) {
            gc_profile_field field = (gc_profile_field)f;
            if (gc_ops_profile_check_value(field, gc_ops_profile_get(&p, field), "fuzz.json", NULL) != GC_OK)
                abort();
        }
    } else if (!same_values(&p, &base) || strncmp(err.msg, "fuzz.json: ", 11) != 0 || strchr(err.msg, '\n')) {
        abort();
    }
    return 0;
}
