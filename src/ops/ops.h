/* ops.h - host wrappers for gemcl's kernels: one function per op, enqueue only, no synchronisation.
 *
 * A gc_ops holds, per runtime, the programs built from the embedded cl/ sources and the kernels made from
 * them, each built lazily on first use (through the runtime's binary cache). Op functions take device
 * tensors as (gc_buffer, element offset) pairs and sizes; they enqueue on the runtime's queue and return at
 * once. The shape of every buffer argument is given in a trailing comment. */
#ifndef GC_OPS_H
#define GC_OPS_H

#include "runtime/runtime.h"

typedef struct gc_ops gc_ops;

gemcl_status gc_ops_create(gc_runtime *rt, gc_ops **out, gc_error *err);
void gc_ops_free(gc_ops *ops);

/* The runtime the ops enqueue on. */
gc_runtime *gc_ops_runtime(gc_ops *ops);

/* The kernel `entry` of program cl/<family>.cl, built with extra options (NULL = none) on first use and
 * kept for the life of ops. Programs are keyed by (family, options). The kernel is owned by ops. */
gemcl_status gc_ops_kernel(gc_ops *ops, const char *family, const char *options, const char *entry,
                           cl_kernel *kernel, gc_error *err);

/* Enqueues kernel over a 1-D range of n work-items (rounded up to a multiple of local; local 0 = let the
 * driver choose). */
gemcl_status gc_ops_launch_1d(gc_ops *ops, cl_kernel kernel, size_t n, size_t local, const char *what,
                              gc_error *err);

/* out[i] = a[i] + b[i], i < n. */
gemcl_status gc_op_add_f32(gc_ops *ops, const gc_buffer *a, size_t a_off, /* (n) */
                           const gc_buffer *b, size_t b_off,              /* (n) */
                           gc_buffer *out, size_t out_off,                /* (n) */
                           size_t n, gc_error *err);

#endif
