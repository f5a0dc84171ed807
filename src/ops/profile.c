/* profile.c - per-device tuning data (see profile.h). The CPU numbers were measured on PoCL 3.1 (2 Zen 4
 * cores; docs/PERF.md and tests/bench_ops.c); GPU numbers are conventional starting points until
 * `gemcl tune` measures them. */
#include "ops/profile.h"

static const gc_ops_profile cpu_profile = {
    .name = "cpu",
    .gemv_max_n = 8,
    .gemv_local = 1,
    .gemv_rows = 4,
    .gemv_rows_x = 4,
    .gemm_f32_clblast = false, /* CLBlast's default SGEMM reaches ~0.08x OpenBLAS on PoCL */
    .gemm_tm = 8,
    .gemm_wn = 4,
    .gemm_wm = 8,
    .gemm_kb = 128,
    .norm_local = 16,
    .attn_split_keys = 64,
    .attn_split_max_n = 2,
    .attn_rows = 16, /* BENCH_ONLY=attn tests/bench_ops */
    .attn_keys = 16,
    .attn_local_wg = 0, /* PoCL's local memory is ordinary memory: tiles stay in cache anyway */
    .reduce_local = 64,
};

static const gc_ops_profile gpu_profile = {
    .name = "gpu",
    .gemv_max_n = 8,
    .gemv_local = 64,
    .gemv_rows = 4,
    .gemv_rows_x = 4,
    .gemm_f32_clblast = true,
    .gemm_tm = 4,
    .gemm_wn = 4,
    .gemm_wm = 16,
    .gemm_kb = 32,
    .norm_local = 256,
    .attn_split_keys = 128,
    .attn_split_max_n = 4,
    .attn_rows = 4, /* few rows per work-item keep the accumulator in registers */
    .attn_keys = 16,
    .attn_local_wg = 64,
    .reduce_local = 256,
};

gc_ops_profile gc_ops_profile_for(const gemcl_device_info *dev) {
    return dev->type == GEMCL_DEVICE_TYPE_CPU ? cpu_profile : gpu_profile;
}
