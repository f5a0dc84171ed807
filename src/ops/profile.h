/* profile.h - per-device tuning data for the op wrappers: which GEMM to use and the kernels' -D tunables.
 *
 * Profiles are data: JSON objects with one key per field below (plus "about", "date" and "device" strings).
 * The built-in ones are cl/profiles/<name>.json, embedded at build time: "cpu" for CPU devices, "gpu" for
 * every other type. gc_ops_create takes the built-in profile for the device, then the values of one file over
 * it: $GEMCL_PROFILE (a path) when set, else the device's tuned profile (written by `gemcl tune`) when it
 * exists. Keys a file omits keep the built-in value; a bad file is an error naming the file and the key. */
#ifndef GC_OPS_PROFILE_H
#define GC_OPS_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/runtime.h"
#include "util/err.h"
#include "util/json.h"

typedef struct gc_ops_profile {
    char name[16];         /* the built-in profile it starts from: "cpu", "gpu" */
    char file[1024];       /* the file whose values were applied over the built-in's; "" for none */
    int gemv_max_n;        /* matmul with n <= this uses the GEMV kernels */
    int gemv_local;        /* GEMV_LS: work-items per output row (power of two) */
    int gemv_rows;         /* GEMV_RPG: output rows per GEMV work-group */
    int gemv_rows_x;       /* GEMV_NB: rows of x per GEMV work-item when n > 1 (n = 1 uses 1) */
    bool gemm_f32_clblast; /* f32 GEMM through CLBlast instead of our own kernel */
    int gemm_tm;           /* GEMM_TM: rows of x per work-item (each computes GEMM_TM x 16 outputs) */
    int gemm_wn;           /* GEMM_WN: work-items per group along W rows (16 rows each) */
    int gemm_wm;           /* GEMM_WM: work-items per group along x rows */
    int gemm_kb;           /* GEMM_KB: columns per local-memory W tile (multiple of 32) */
    int norm_local;        /* RMS_LS: work-items per rmsnorm row (power of two) */
    int attn_split_keys;   /* decode attention: keys per split (n <= attn_split_max_n) */
    int attn_split_max_n;  /* use split-key attention when n <= this */
    int attn_rows;         /* ATT_BR: rows (query, head) per prefill work-item: 2, 4, 8, 16; 0 = one per row */
    int attn_keys;         /* ATT_BC: keys per prefill tile */
    int attn_local_wg;     /* ATT_LOCAL_WG: prefill work-group sharing K/V tiles in local memory; 0 = none */
    int reduce_local;      /* SAMPLE_LS / NLL_LS: work-group size of argmax, sample and nll */
    int select_local;      /* SELECT_LS: work-items per group of GemFilter's score and pool kernels */
    int topk_local;        /* TOPK_LS: work-items per group of the top-k kernels */
    int topk_items;        /* elements a top-k work-group owns before the next group is added */
    bool gemv_f16_math;    /* GEMV_F16: f16 weights multiply in half arithmetic where the device has cl_khr_fp16 */
    bool q8_int_dot;       /* Q8_INT_DOT: the q8 GEMV sums with cl_khr_integer_dot_product where the device has it */
    int gemm_q8_int;       /* Q8_GEMM_INT: the q8 GEMM multiplies 8-bit activations and weight quants in integers
                              (8 W rows per work-item) instead of staging an f32 tile: 0 never, 1 where its
                              integer dot products are fast (x86 builtins, or integer dot products with
                              q8_int_dot on), 2 always (the portable 16-bit products elsewhere) */
} gc_ops_profile;

/* The tunable fields, in the order of the struct and of the JSON files. */
typedef enum gc_profile_field {
    GC_PROFILE_GEMV_MAX_N,
    GC_PROFILE_GEMV_LOCAL,
    GC_PROFILE_GEMV_ROWS,
    GC_PROFILE_GEMV_ROWS_X,
    GC_PROFILE_GEMM_F32_CLBLAST,
    GC_PROFILE_GEMM_TM,
    GC_PROFILE_GEMM_WN,
    GC_PROFILE_GEMM_WM,
    GC_PROFILE_GEMM_KB,
    GC_PROFILE_NORM_LOCAL,
    GC_PROFILE_ATTN_SPLIT_KEYS,
    GC_PROFILE_ATTN_SPLIT_MAX_N,
    GC_PROFILE_ATTN_ROWS,
    GC_PROFILE_ATTN_KEYS,
    GC_PROFILE_ATTN_LOCAL_WG,
    GC_PROFILE_REDUCE_LOCAL,
    GC_PROFILE_SELECT_LOCAL,
    GC_PROFILE_TOPK_LOCAL,
    GC_PROFILE_TOPK_ITEMS,
    GC_PROFILE_GEMV_F16_MATH,
    GC_PROFILE_Q8_INT_DOT,
    GC_PROFILE_GEMM_Q8_INT,
    GC_PROFILE_FIELD_COUNT
} gc_profile_field;

#define GC_PROFILE_ALL_FIELDS ((1u << GC_PROFILE_FIELD_COUNT) - 1u)

/* The JSON key of a field ("gemm_tm"). */
const char *gc_ops_profile_key(gc_profile_field f);

/* A field's value (booleans as 0 / 1) and its setter (no range check: gc_ops_profile_check_value is that). */
int gc_ops_profile_get(const gc_ops_profile *p, gc_profile_field f);
void gc_ops_profile_set(gc_ops_profile *p, gc_profile_field f, int value);

/* GC_ERR_FORMAT, "<file>: '<key>' must be ...", unless value lies in the field's range (powers of two,
 * multiples of 32, ... as commented in the struct). */
gc_status gc_ops_profile_check_value(gc_profile_field f, int value, const char *file, gc_error *err);

/* The embedded cl/profiles/<name>.json, terminated by {NULL, NULL, 0} (tools/embed_json.py). */
extern const gc_json_source gc_profile_sources[];

/* The built-in profile called name ("cpu", "gpu"); it must set every field. GC_ERR_NOT_FOUND for another
 * name. */
gc_status gc_ops_profile_builtin(const char *name, gc_ops_profile *out, gc_error *err);

/* The name of the built-in profile for a device: "cpu" for CPUs, else "gpu". */
const char *gc_ops_profile_builtin_name(const gc_device_info *dev);

/* Applies the keys of profile JSON text (len bytes, no NUL needed) over *p; file names the text in messages.
 * *fields_set (may be NULL) receives the bit mask (1 << field) of the keys present. GC_ERR_FORMAT naming
 * file and key for invalid JSON, a top level that is not an object, an unknown or repeated key, a value of the
 * wrong type or outside its range; *p is unchanged on any error. */
gc_status gc_ops_profile_apply(gc_ops_profile *p, const char *json, size_t len, const char *file, uint32_t *fields_set,
                               gc_error *err);

/* gc_ops_profile_apply on the file at path, recording path in p->file. GC_ERR_IO when it cannot be read. */
gc_status gc_ops_profile_apply_file(gc_ops_profile *p, const char *path, gc_error *err);

/* Where the tuned profile of dev lives: <cache_dir>/profiles/<device name>_<driver version>.json, the name
 * and version reduced to [A-Za-z0-9.-]. false (out = "") when cache_dir is NULL or "" (the cache is off). */
bool gc_ops_profile_device_path(const char *cache_dir, const gc_device_info *dev, char *out, size_t len);

/* The profile gc_ops_create uses for dev: the built-in one, then $GEMCL_PROFILE over it when that is set
 * (an unreadable path is an error), else the tuned profile under cache_dir (NULL = off) when it exists. On a
 * bad file *out keeps the built-in values, out->file names the file, and the message says which of the two it
 * was. */
gc_status gc_ops_profile_for(const gc_device *dev, const char *cache_dir, gc_ops_profile *out, gc_error *err);

/* Private bytes one GEMM work-group may hold (GEMM_WN x GEMM_WM work-items, each with GEMM_TM x 16 floats of
 * accumulators and as many of staged x): PoCL keeps a work-group's private arrays on its worker thread's stack,
 * where 4.3 MiB overflowed (gemm_wn 64, gemm_wm 64; issue 16) and 2.1 MiB ran; a GPU spills registers far
 * earlier, so no fast value lies above it. */
#define GC_PROFILE_GEMM_PRIVATE_MAX_BYTES ((size_t)2 << 20)

/* Checks that the tunables fit what the device's kernels can hold: GEMM's work-group (GEMM_WN x GEMM_WM)
 * within CL_DEVICE_MAX_WORK_GROUP_SIZE and the work-item sizes, its local W tile (GEMM_KB x 16 GEMM_WN floats)
 * within CL_DEVICE_LOCAL_MEM_SIZE, its private accumulators within GC_PROFILE_GEMM_PRIVATE_MAX_BYTES, and the
 * GEMV, norm and reduction work-groups within the work-group limit. The message names file and key. */
gc_status gc_ops_profile_check_device(const gc_ops_profile *p, const gc_device *dev, const char *file, gc_error *err);

/* Writes the fields of p in the mask `fields` (bits 1 << field), after "about", "date" (now, UTC) and
 * "device" strings, as a profile file at path: its directory is created, the file written to a temporary
 * file and renamed into place. */
gc_status gc_ops_profile_write(const gc_ops_profile *p, uint32_t fields, const char *about, const char *device,
                               const char *path, gc_error *err);

#endif
