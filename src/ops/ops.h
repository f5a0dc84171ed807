/* ops.h - host wrappers for gemcl's kernels: one function per op, enqueue only, no synchronisation.
 *
 * A gc_ops holds, per runtime, the programs built from the embedded cl/ sources and the kernels made from
 * them, each built lazily on first use (through the runtime's binary cache). Op functions take device
 * tensors as (gc_buffer, element offset) pairs and sizes; they enqueue on the runtime's queue and return at
 * once. The shape of every buffer argument is given in a trailing comment. */
#ifndef GC_OPS_H
#define GC_OPS_H

#include <stdbool.h>

#include "runtime/runtime.h"
#include "util/types.h"

typedef struct gc_ops gc_ops;

gc_status gc_ops_create(gc_runtime *rt, gc_ops **out, gc_error *err);
void gc_ops_free(gc_ops *ops);

/* How matmuls multiply block-quantized weights: by default (act_f32 false) as llama.cpp's CPU backend does,
 * with each row of x first quantized to 8 bits in blocks (Q8_0, Q8_1 or Q8_K by weight type) and integer
 * products scaled per block (cl/matmul_q8.cl), so logits follow llama.cpp's; act_f32 true multiplies the
 * dequantised weights with f32 x exactly (cl/matmul.cl). f32/f16/bf16 weights always take the f32 path. */
void gc_ops_set_act_f32(gc_ops *ops, bool act_f32);
bool gc_ops_act_f32(const gc_ops *ops);

/* The runtime the ops enqueue on. */
gc_runtime *gc_ops_runtime(gc_ops *ops);

/* The kernel `entry` of program cl/<family>.cl, built with extra options (NULL = none) on first use and
 * kept for the life of ops. Programs are keyed by (family, options). The kernel is owned by ops. */
gc_status gc_ops_kernel(gc_ops *ops, const char *family, const char *options, const char *entry, cl_kernel *kernel,
                        gc_error *err);

/* Enqueues kernel over a 1-D range of n work-items (rounded up to a multiple of local; local 0 = let the
 * driver choose). */
gc_status gc_ops_launch_1d(gc_ops *ops, cl_kernel kernel, size_t n, size_t local, const char *what, gc_error *err);

/* out[i] = a[i] + b[i], i < n. */
gc_status gc_op_add_f32(gc_ops *ops, const gc_buffer *a, size_t a_off, /* (n) */
                        const gc_buffer *b, size_t b_off,              /* (n) */
                        gc_buffer *out, size_t out_off,                /* (n) */
                        size_t n, gc_error *err);

/* A weight matrix on the device: rows = output features, cols = input features, row-major, in its dtype. */
typedef struct gc_dweight {
    gc_buffer buf;
    gc_dtype dtype;
    int rows;
    int cols;
} gc_dweight;

/* out[i, :] = table[ids[i], :] converted to f32, i < n. */
gc_status gc_op_embed(gc_ops *ops, const gc_dweight *table, /* (vocab, dim) */
                      const gc_buffer *ids, size_t ids_off, /* int32 (n) */
                      gc_buffer *out, size_t out_off,       /* f32 (n, dim) */
                      int n, gc_error *err);

/* out[i, :] = x[i, :] / sqrt(mean(x[i, :]^2) + eps) * w, i < n. out may alias x. */
gc_status gc_op_rmsnorm(gc_ops *ops, const gc_buffer *x, size_t x_off, /* f32 (n, dim) */
                        const gc_buffer *w,                            /* f32 (dim) */
                        gc_buffer *out, size_t out_off,                /* f32 (n, dim) */
                        int n, int dim, float eps, gc_error *err);

/* gc_op_rmsnorm for an output that weight next multiplies next: where that matmul quantizes its x to 8 bits
 * first (next block-quantized, cols = dim, activations not kept in f32), the same launch also leaves out's
 * quantization for next's type, and the next matmul of out skips its own quantize launch, provided no other
 * kernel runs in between (decode: 2 launches fewer per layer); a host write into out before that matmul is not
 * seen, so callers write out only through ops. Otherwise, or with next NULL, gc_op_rmsnorm.
 * out and its quantization are bit for bit those of gc_op_rmsnorm and the matmul's own quantize. */
gc_status gc_op_rmsnorm_for(gc_ops *ops, const gc_buffer *x, size_t x_off, /* f32 (n, dim) */
                            const gc_buffer *w,                            /* f32 (dim) */
                            gc_buffer *out, size_t out_off,                /* f32 (n, dim) */
                            int n, int dim, float eps, const gc_dweight *next, gc_error *err);

/* y[i, :] = W x[i, :] (+ bias), i < n. Picks our GEMV kernels for small n (decode; never GEMM with n = 1)
 * and GEMM (CLBlast or our own kernel, per the device profile) otherwise. Any weight dtype. */
gc_status gc_op_matmul(gc_ops *ops, const gc_buffer *x, size_t x_off, /* f32 (n, cols) */
                       const gc_dweight *w,                           /* (rows, cols) */
                       const gc_buffer *bias,                         /* f32 (rows) or NULL */
                       gc_buffer *y, size_t y_off,                    /* f32 (n, rows) */
                       int n, gc_error *err);

/* x's rows quantized to 8 bits per value as llama.cpp's CPU backend quantizes them before multiplying a weight
 * of block type wtype (the activation types of cl/matmul_q8.cl: Q8_0, Q8_1 or Q8_K by wtype): each quant times
 * its block's scale d, each quant, and per group of 16 values (d, what a weight group's min multiplies). cols
 * must be a multiple of wtype's block. */
gc_status gc_op_quantize_q8(gc_ops *ops, const gc_buffer *x, size_t x_off, /* f32 (n, cols) */
                            gc_dtype wtype, gc_buffer *xq,                 /* f32 (n, cols) */
                            gc_buffer *xi,                                 /* int8 (n, cols) */
                            gc_buffer *xs,                                 /* f32 (n, cols / 16, 2) */
                            int cols, int n, gc_error *err);

/* Which integer dot product the q8 GEMV for weight type wtype compiled on this device (cl/matmul_q8.cl's
 * q8_dot32): "portable", "int_dot" (cl_khr_integer_dot_product) or "x86" (AVX2 target builtins). */
gc_status gc_op_q8_dot_path(gc_ops *ops, gc_dtype wtype, const char **path, gc_error *err);

/* One product of a fused matmul: y = x W^T (+ bias), rotated by RoPE when rope is set. */
typedef struct gc_matmul_out {
    const gc_dweight *w;                                                    /* (rows, cols) */
    const gc_buffer *bias;                                                  /* f32 (rows) or NULL */
    gc_buffer *y;                                                           /* f32 (n, rows) at y_off */
    size_t y_off;
    bool rope;                                                              /* rows = heads of head_dim */
} gc_matmul_out;

/* The positions and frequencies of gc_op_rope, for outputs with rope set. */
typedef struct gc_matmul_rope {
    const gc_buffer *pos;                                                   /* int32 (n) at pos_off */
    size_t pos_off;
    const gc_buffer *inv_freq;                                              /* f32 (head_dim / 2) */
    int head_dim;
    gc_rope_layout layout;
} gc_matmul_rope;

#define GC_MATMUL_MAX_OUTS 3

/* gc_op_matmul for n_outs (1..GC_MATMUL_MAX_OUTS) weights of one dtype and column count sharing x (a layer's
 * q, k and v), then gc_op_rope on the outputs with rope set (rope must then be given): one GEMV launch for
 * all of it when n is small, one product (and rope) each otherwise. accumulate: y += x W^T (+ bias) instead
 * of y = (a residual add fused into the product; not with rope). */
gc_status gc_op_matmul_multi(gc_ops *ops, const gc_buffer *x, size_t x_off, /* f32 (n, cols) */
                             const gc_matmul_out *outs, int n_outs, const gc_matmul_rope *rope, bool accumulate, int n,
                             gc_error *err);

/* y = silu(x W_gate^T) * (x W_up^T), the gated FFN's first half: one GEMV launch when n is small; otherwise
 * two products (the up product into tmp) and gc_op_swiglu. */
gc_status gc_op_matmul_glu(gc_ops *ops, const gc_buffer *x, size_t x_off,    /* f32 (n, cols) */
                           const gc_dweight *w_gate, const gc_dweight *w_up, /* (rows, cols) each */
                           gc_buffer *y, size_t y_off,                       /* f32 (n, rows) */
                           gc_buffer *tmp, size_t tmp_off,                   /* f32 (n, rows) */
                           int n, gc_error *err);

/* Rotates x in place by position: for head h of row i and pair p < head_dim/2 with angle
 * pos[i] * inv_freq[p] (the pair is (2p, 2p+1) for ADJACENT, (p, p + head_dim/2) for HALF). inv_freq
 * carries theta and any frequency scaling (Llama 3), computed once on the host. */
gc_status gc_op_rope(gc_ops *ops, gc_buffer *x, size_t x_off, /* f32 (n, n_heads, head_dim) */
                     const gc_buffer *pos, size_t pos_off,    /* int32 (n) */
                     const gc_buffer *inv_freq,               /* f32 (head_dim / 2) */
                     int n, int n_heads, int head_dim, gc_rope_layout layout, gc_error *err);

/* Causal attention with GQA. Query row i (i < n) attends to cache rows 0 .. n_past + i (inclusive):
 * out[i, h] = sum_j softmax_j(scale * q[i, h] . k[j, g]) v[j, g], g = h / (n_heads / n_kv_heads).
 * Tiled with online softmax: nothing n x n is allocated. n = 1 uses the decode kernel. */
gc_status gc_op_attention(gc_ops *ops, const gc_buffer *q, size_t q_off, /* f32 (n, n_heads, head_dim) */
                          const gc_buffer *k_cache,                      /* f32 (n_ctx, n_kv_heads, head_dim) */
                          const gc_buffer *v_cache,                      /* f32 (n_ctx, n_kv_heads, head_dim) */
                          gc_buffer *out, size_t out_off,                /* f32 (n, n_heads, head_dim) */
                          int n, int n_past, int n_heads, int n_kv_heads, int head_dim, float scale, gc_error *err);

/* Which keys of a pod-tf layer take their logits from the block's first layer (docs/METHODS.md, pod). */
typedef struct gc_shared_logits {
    const gc_buffer *q_src;     /* f32 (n, n_heads, head_dim): the source layer's queries of the same rows */
    const gc_buffer *k_src;     /* f32 (n_ctx, n_kv_heads, head_dim): the source layer's keys, every row */
    int sinks, recent;          /* proximal keys: j < sinks, or among the last `recent` rows up to the query */
    int k_shift;                /* this layer's k_cache holds key j >= sinks at row j - k_shift */
} gc_shared_logits;

/* gc_op_attention (n_splits 1) where the distant keys of query row i (sinks <= j <= n_past + i - recent) get
 * the logit scale * q_src[i, h] . k_src[j, g] instead of this layer's; one softmax over all keys, values
 * from v_cache (every row). */
gc_status gc_op_attention_shared(gc_ops *ops, const gc_buffer *q, size_t q_off, /* f32 (n, n_heads, head_dim) */
                                 const gc_buffer *k_cache, /* f32 (rows - k_shift, n_kv_heads, head_dim) */
                                 const gc_buffer *v_cache, /* f32 (n_ctx, n_kv_heads, head_dim) */
                                 const gc_shared_logits *shared, gc_buffer *out,
                                 size_t out_off, /* f32 (n, n_heads, head_dim) */
                                 int n, int n_past, int n_heads, int n_kv_heads, int head_dim, float scale,
                                 gc_error *err);

/* out[i] = silu(gate[i]) * up[i], i < n. out may alias gate. */
gc_status gc_op_swiglu(gc_ops *ops, const gc_buffer *gate, size_t gate_off, /* f32 (n) */
                       const gc_buffer *up, size_t up_off,                  /* f32 (n) */
                       gc_buffer *out, size_t out_off,                      /* f32 (n) */
                       size_t n, gc_error *err);

/* out[0] = the index of the largest x[i], i < n (lowest index on ties). */
gc_status gc_op_argmax(gc_ops *ops, const gc_buffer *x, size_t x_off, /* f32 (n) */
                       gc_buffer *out, size_t out_off,                /* int32 (1) */
                       int n, gc_error *err);

/* Samples one id from softmax(logits / temperature) restricted to the top_k largest (0 = all) and then to
 * the smallest prefix whose mass reaches top_p (1 = all), using the uniform number u in [0, 1) drawn by the
 * caller's seeded generator. Ties ordered by lower index. Writes out[0]. */
gc_status gc_op_sample(gc_ops *ops, const gc_buffer *logits, size_t logits_off, /* f32 (n) */
                       gc_buffer *out, size_t out_off,                          /* int32 (1) */
                       int n, float temperature, int top_k, float top_p, float u, gc_error *err);

/* out[r] = -log softmax(logits[r, :])[targets[r]] = m + log(sum_i exp(logits[r, i] - m)) - logits[r, targets[r]]
 * with m the row's max, r < n_rows: the scoring half of perplexity, so one float per row crosses to the host.
 * Targets are not checked on the host (they are ids the caller validated); one outside 0 .. n_vocab-1 gives NaN. */
gc_status gc_op_nll(gc_ops *ops, const gc_buffer *logits, size_t logits_off, /* f32 (n_rows, n_vocab) */
                    const gc_buffer *targets, size_t targets_off,            /* int32 (n_rows) */
                    gc_buffer *out, size_t out_off,                          /* f32 (n_rows) */
                    int n_rows, int n_vocab, gc_error *err);

/* Copies n f32 elements between buffers (offsets in elements). */
gc_status gc_op_copy_f32(gc_ops *ops, const gc_buffer *src, size_t src_off, gc_buffer *dst, size_t dst_off, size_t n,
                         gc_error *err);

#endif
