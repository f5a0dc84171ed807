/* profile.h - per-device tuning data for the op wrappers: which GEMM to use and the kernels' -D tunables.
 * Profiles are plain data chosen from the device's type and vendor; the defaults in the .cl files apply to
 * anything a profile leaves at 0. */
#ifndef GC_OPS_PROFILE_H
#define GC_OPS_PROFILE_H

#include <stdbool.h>

#include "gemcl.h"

typedef struct gc_ops_profile {
    const char *name;      /* "cpu", "gpu", ... (for logs and the bench) */
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
    int reduce_local;      /* ARGMAX_LS / SAMPLE_LS: work-group size of argmax and sample */
} gc_ops_profile;

/* The profile for a device (by type and vendor). */
gc_ops_profile gc_ops_profile_for(const gemcl_device_info *dev);

#endif
