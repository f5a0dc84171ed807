/* ops_internal.h - helpers shared by the op wrappers (not part of the op contract): argument setting,
 * bounds checks, 2-D launches, cached scratch buffers and the per-device tuning profile. */
#ifndef GC_OPS_INTERNAL_H
#define GC_OPS_INTERNAL_H

#include <stdbool.h>

#include "ops/ops.h"
#include "ops/profile.h"

/* One kernel argument: its size and a pointer to its value. */
typedef struct gc_karg {
    size_t size;
    const void *value;
} gc_karg;

#define GC_KARG(v) ((gc_karg){sizeof(v), &(v)})
#define GC_KMEM(buf) ((gc_karg){sizeof(cl_mem), &(buf)->mem})

/* Sets args[0..n-1] on kernel; names `what` in the error. */
gc_status gc_ops_set_args(cl_kernel kernel, const gc_karg *args, int n, const char *what, gc_error *err);

/* GC_ERR_INVALID_ARG naming op and tensor unless elements [off, off + count) of elem_bytes each lie
 * inside buf (buf must be non-NULL with a device allocation). */
gc_status gc_ops_check_range(const gc_buffer *buf, size_t off, size_t count, size_t elem_bytes, const char *op,
                             const char *tensor, gc_error *err);

/* GC_ERR_INVALID_ARG naming op unless w has a valid shape and dtype and its buffer holds all its rows. */
gc_status gc_ops_check_weight(const gc_dweight *w, const char *op, gc_error *err);

/* Enqueues kernel over a 2-D range global[0] x global[1], each rounded up to a multiple of local (local
 * NULL = let the driver choose). */
gc_status gc_ops_launch_2d(gc_ops *ops, cl_kernel kernel, const size_t global[2], const size_t *local, const char *what,
                           gc_error *err);

/* The same over dims (1..3) dimensions. */
gc_status gc_ops_launch_nd(gc_ops *ops, cl_kernel kernel, int dims, const size_t *global, const size_t *local,
                           const char *what, gc_error *err);

/* Scratch buffers owned by ops, one per slot, grown on demand and freed by gc_ops_free. */
typedef enum gc_scratch_slot {
    GC_SCRATCH_ATTENTION = 0, /* split-key partial results of decode attention */
    GC_SCRATCH_SAMPLE,        /* the sampler's per-token weights */
    GC_SCRATCH_Q8_SCALED,     /* matmul_q8: x's 8-bit quants times their scale, f32 (n, cols) */
    GC_SCRATCH_Q8_QUANTS,     /* matmul_q8: x's 8-bit quants, int8 (n, cols) */
    GC_SCRATCH_Q8_SCALES,     /* matmul_q8: x's per-group scales, float2 (n, cols / 16) */
    GC_SCRATCH_COUNT
} gc_scratch_slot;

gc_status gc_ops_scratch(gc_ops *ops, gc_scratch_slot slot, size_t bytes, gc_buffer **buf, gc_error *err);

/* gc_ops_create with the given profile instead of the device's (`gemcl tune` measures candidates this way, and
 * starts from the built-in profile even where a tuned file exists). */
gc_status gc_ops_create_with_profile(gc_runtime *rt, const gc_ops_profile *profile, gc_ops **out, gc_error *err);

/* The tuning profile ops was created with (chosen by device; see profile.h). */
const gc_ops_profile *gc_ops_get_profile(const gc_ops *ops);

/* Kernel entry of a matmul program (family "matmul" or "matmul_q8") built for weight dtype alone (a model
 * compiles only the dtypes it has) with the profile's tile -D options; nb rows of x per GEMV work-item. */
gc_status gc_matmul_kernel(gc_ops *ops, const char *family, const char *entry, gc_dtype dtype, int nb, cl_kernel *k,
                           gc_error *err);

/* Rows of x per GEMV work-item: decode (n = 1) reads each W row once; small batches share it. */
int gc_gemv_nb(const gc_ops_profile *p, int n);

/* The flags of the GEMV and GEMM kernels of cl/matmul.cl and cl/matmul_q8.cl (cl/common.cl has the same). */
#define GC_MM_ACCUMULATE 1u /* y += instead of y = */
#define GC_MM_GLU 2u        /* GEMV: y0 = silu(x W0^T) * (x W1^T) */
#define GC_MM_BIAS0 4u      /* output o adds its bias (GC_MM_BIAS0 << o) */
#define GC_MM_ROPE0 32u     /* GEMV: output o is roped (GC_MM_ROPE0 << o) */

/* Sets the arguments of GEMV kernel k (either program: both take the weight slots, two x arguments x0 and x1,
 * the output slots, cols, n, flags and the RoPE arguments) for outs[0..n_outs-1] (sharing cols and dtype;
 * GC_MATMUL_MAX_OUTS slots, unused ones repeat output 0 with no rows), or with GC_MM_GLU in flags the gate
 * outs[0] and up outs[1] into outs[0].y, and enqueues it. flags gain each output's bias and RoPE bits; any is a
 * valid buffer that stands in for a missing bias or RoPE table. */
gc_status gc_gemv_run(gc_ops *ops, cl_kernel k, const char *entry, gc_karg x0, gc_karg x1, cl_mem any,
                      const gc_matmul_out *outs, int n_outs, const gc_matmul_rope *rope, cl_uint flags, int n,
                      gc_error *err);

/* RoPE on output out that a GEMM wrote (nothing when out->rope is unset): the GEMV has it in its epilogue. */
gc_status gc_matmul_rope_after(gc_ops *ops, const gc_matmul_out *out, const gc_matmul_rope *rope, int n,
                               gc_error *err);

/* What the q8 activation scratch (GC_SCRATCH_Q8_*) holds: x (n rows of cols at x_off) quantized for activation
 * type kind (matmul_q8.c's q8_kind), written by a fused producer (gc_op_rmsnorm_for) so that the next matmul of
 * x skips its quantize launch. It holds only while no kernel has been enqueued and no scratch reallocated since
 * (gc_ops_launch_* and gc_ops_scratch count those; gc_ops_note_launch counts a launch made another way), and it
 * is taken once. */
typedef struct gc_q8_note {
    const gc_buffer *x;
    size_t x_off;
    int n, cols, kind;
    unsigned long epoch; /* set by gc_ops_q8_note_set */
} gc_q8_note;
void gc_ops_q8_note_set(gc_ops *ops, gc_q8_note note);
bool gc_ops_q8_note_take(gc_ops *ops, gc_q8_note want); /* whether it holds; clears it either way */
void gc_ops_note_launch(gc_ops *ops);
unsigned long gc_ops_launch_count(const gc_ops *ops); /* kernels enqueued so far (tests count fused launches) */

/* norm.c: the argument checks of gc_op_rmsnorm (op names the caller). */
gc_status gc_rmsnorm_check(const gc_buffer *x, size_t x_off, const gc_buffer *w, const gc_buffer *out, size_t out_off,
                           int n, int dim, const char *op, gc_error *err);

/* matmul_q8.c: gc_op_matmul_multi / gc_op_matmul_glu with x quantized to 8 bits first, as llama.cpp's CPU
 * backend multiplies block-quantized weights. Applies when the ops do not run activations in f32
 * (gc_ops_act_f32) and every weight is block-quantized; the arguments are checked by the caller. */
bool gc_matmul_q8_applies(gc_ops *ops, const gc_matmul_out *outs, int n_outs);
/* Whether the q8 GEMM runs the integer tile (profile gemm_q8_int, the device's fast paths): the programs are
 * then built with -DQ8_GEMM_INT=1 and launched with its geometry and arguments. */
bool gc_matmul_q8_int_gemm(gc_ops *ops);
gc_status gc_matmul_q8_multi(gc_ops *ops, const gc_buffer *x, size_t x_off, const gc_matmul_out *outs, int n_outs,
                             const gc_matmul_rope *rope, bool accumulate, int n, gc_error *err);
/* gate_up[0] (y = the result) and gate_up[1] (y = the up product's scratch). */
gc_status gc_matmul_q8_glu(gc_ops *ops, const gc_buffer *x, size_t x_off, const gc_matmul_out gate_up[2], int n,
                           gc_error *err);

/* Replaces the profile (tests and the bench force a path; `gemcl tune` tries candidates). Kernels built
 * with the old tunables stay cached under their old options. */
void gc_ops_set_profile(gc_ops *ops, const gc_ops_profile *profile);

#endif
