/* ops.c - the per-runtime program and kernel registry shared by every op wrapper. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops_internal.h"
#include "runtime/kernels.h"

#define OPS_MAX_PROGRAMS 64
#define OPS_MAX_KERNELS 256

typedef struct program_slot {
    char family[64];
    char options[512];
    cl_program program;
} program_slot;

typedef struct kernel_slot {
    int program;      /* index into programs */
    char entry[96];
    cl_kernel kernel;
} kernel_slot;

struct gc_ops {
    gc_runtime *rt;
    program_slot programs[OPS_MAX_PROGRAMS];
    int n_programs;
    kernel_slot kernels[OPS_MAX_KERNELS];
    int n_kernels;
    gc_buffer scratch[GC_SCRATCH_COUNT];
    gc_ops_profile profile;
    bool act_f32; /* matmuls of quantized weights in f32 instead of llama.cpp's 8-bit activations */
    unsigned long enqueued; /* kernels enqueued */
    unsigned long epoch;    /* kernels enqueued and scratch reallocations: what invalidates q8_note */
    gc_q8_note q8_note;     /* what the q8 scratch holds, set by a fused producer (gc_ops_q8_note_set) */
};

gc_status gc_ops_create_with_profile(gc_runtime *rt, const gc_ops_profile *profile, gc_ops **out, gc_error *err) {
    *out = NULL;
    const char *file = profile->file[0] ? profile->file : "tuning profile";
    gc_status st = gc_ops_profile_check_device(profile, &rt->dev, file, err);
    if (st != GC_OK)
        return st;
    *out = calloc(1, sizeof **out);
    if (!*out)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory creating the op registry");
    (*out)->rt = rt;
    (*out)->profile = *profile;
    return GC_OK;
}

gc_status gc_ops_create(gc_runtime *rt, gc_ops **out, gc_error *err) {
    gc_ops_profile profile;
    *out = NULL;
    gc_status st = gc_ops_profile_for(&rt->dev, rt->cache_enabled ? rt->cache_dir : NULL, &profile, err);
    if (st != GC_OK)
        return st;
    gc_log(rt, GC_LOG_LEVEL_INFO, "tuning profile: built-in %s%s%s", profile.name, profile.file[0] ? " + " : "",
           profile.file);
    return gc_ops_create_with_profile(rt, &profile, out, err);
}

void gc_ops_free(gc_ops *ops) {
    if (!ops)
        return;
    gc_runtime_finish(ops->rt);
    for (int i = 0; i < ops->n_kernels; i++)
        clReleaseKernel(ops->kernels[i].kernel);
    for (int i = 0; i < ops->n_programs; i++)
        clReleaseProgram(ops->programs[i].program);
    for (int i = 0; i < GC_SCRATCH_COUNT; i++)
        gc_buffer_free(ops->rt, &ops->scratch[i]);
    free(ops);
}

gc_runtime *gc_ops_runtime(gc_ops *ops) {
    return ops->rt;
}

/* Every program is cl/common.cl (shared helpers: dtype loads, reductions) followed by its family's file. */
static char *with_prelude(const gc_kernel_source *src, gc_error *err) {
    const gc_kernel_source *common = gc_kernel_source_find("common");
    size_t common_len = common ? common->length : 0;
    char *text = malloc(common_len + src->length + 2);
    if (!text) {
        gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory building a kernel source");
        return NULL;
    }
    if (common)
        memcpy(text, common->source, common_len);
    text[common_len] = '\n';
    memcpy(text + common_len + 1, src->source, src->length);
    text[common_len + 1 + src->length] = '\0';
    return text;
}

static gc_status find_program(gc_ops *ops, const char *family, const char *options, int *index, gc_error *err) {
    for (int i = 0; i < ops->n_programs; i++) {
        if (strcmp(ops->programs[i].family, family) == 0 && strcmp(ops->programs[i].options, options) == 0) {
            *index = i;
            return GC_OK;
        }
    }
    if (ops->n_programs == OPS_MAX_PROGRAMS)
        return gc_fail(err, GC_ERR_INVALID_ARG, "too many program variants (limit %d)", OPS_MAX_PROGRAMS);
    const gc_kernel_source *src = gc_kernel_source_find(family);
    if (!src)
        return gc_fail(err, GC_ERR_NOT_FOUND, "no embedded kernel source cl/%s.cl", family);
    char name[96];
    snprintf(name, sizeof name, "cl/%s.cl", family);
    program_slot *slot = &ops->programs[ops->n_programs];
    char *text = with_prelude(src, err);
    if (!text)
        return GC_ERR_OUT_OF_MEMORY;
    gc_status st = gc_program_build(ops->rt, name, text, strlen(text), options, &slot->program, err);
    free(text);
    if (st != GC_OK)
        return st;
    snprintf(slot->family, sizeof slot->family, "%s", family);
    snprintf(slot->options, sizeof slot->options, "%s", options);
    *index = ops->n_programs++;
    return GC_OK;
}

/* A kernel whose reqd_work_group_size (set from the profile's tunables) exceeds what the compiled kernel can
 * run with (CL_KERNEL_WORK_GROUP_SIZE: its registers and private memory on this device) would fail to launch
 * or, on some drivers, crash inside; refuse it here, naming the kernel. */
static gc_status check_kernel_fits(gc_ops *ops, cl_kernel kernel, const char *family, const char *entry,
                                   gc_error *err) {
    size_t reqd[3] = {0}, fits = 0;
    cl_ulong local_bytes = 0;
    cl_device_id dev = ops->rt->dev.device;
    if (clGetKernelWorkGroupInfo(kernel, dev, CL_KERNEL_COMPILE_WORK_GROUP_SIZE, sizeof reqd, reqd, NULL) != CL_SUCCESS ||
        clGetKernelWorkGroupInfo(kernel, dev, CL_KERNEL_WORK_GROUP_SIZE, sizeof fits, &fits, NULL) != CL_SUCCESS ||
        clGetKernelWorkGroupInfo(kernel, dev, CL_KERNEL_LOCAL_MEM_SIZE, sizeof local_bytes, &local_bytes, NULL) != CL_SUCCESS)
        return GC_OK; /* nothing to compare: the launch reports any problem */
    size_t group = reqd[0] * (reqd[1] ? reqd[1] : 1) * (reqd[2] ? reqd[2] : 1);
    if (reqd[0] && fits && group > fits)
        return gc_fail(err, GC_ERR_DEVICE,
                       "cl/%s.cl %s: the tuning profile asks for work-groups of %zu work-items; compiled on '%s' it "
                       "runs at most %zu (lower the profile's tile sizes)",
                       family, entry, group, ops->rt->dev.info.name, fits);
    if (ops->rt->dev.info.local_mem_bytes && local_bytes > ops->rt->dev.info.local_mem_bytes)
        return gc_fail(err, GC_ERR_DEVICE, "cl/%s.cl %s: needs %llu bytes of local memory; '%s' has %llu", family,
                       entry, (unsigned long long)local_bytes, ops->rt->dev.info.name,
                       (unsigned long long)ops->rt->dev.info.local_mem_bytes);
    return GC_OK;
}

gc_status gc_ops_kernel(gc_ops *ops, const char *family, const char *options, const char *entry, cl_kernel *kernel,
                        gc_error *err) {
    if (!options)
        options = "";
    int prog = -1;
    gc_status st = find_program(ops, family, options, &prog, err);
    if (st != GC_OK)
        return st;
    for (int i = 0; i < ops->n_kernels; i++) {
        if (ops->kernels[i].program == prog && strcmp(ops->kernels[i].entry, entry) == 0) {
            *kernel = ops->kernels[i].kernel;
            return GC_OK;
        }
    }
    if (ops->n_kernels == OPS_MAX_KERNELS)
        return gc_fail(err, GC_ERR_INVALID_ARG, "too many kernels (limit %d)", OPS_MAX_KERNELS);
    kernel_slot *k = &ops->kernels[ops->n_kernels];
    st = gc_kernel_create(ops->programs[prog].program, entry, &k->kernel, err);
    if (st != GC_OK)
        return gc_error_prefix(err, "cl/%s.cl", family);
    st = check_kernel_fits(ops, k->kernel, family, entry, err);
    if (st != GC_OK) {
        clReleaseKernel(k->kernel);
        return st;
    }
    k->program = prog;
    snprintf(k->entry, sizeof k->entry, "%s", entry);
    ops->n_kernels++;
    *kernel = k->kernel;
    return GC_OK;
}

gc_status gc_ops_launch_1d(gc_ops *ops, cl_kernel kernel, size_t n, size_t local, const char *what, gc_error *err) {
    if (n == 0)
        return GC_OK;
    size_t global = local ? (n + local - 1) / local * local : n;
    gc_ops_note_launch(ops);
    cl_int rc = clEnqueueNDRangeKernel(ops->rt->queue, kernel, 1, NULL, &global, local ? &local : NULL, 0, NULL,
                                       gc_trace_slot(ops->rt, what));
    return rc == CL_SUCCESS ? GC_OK : gc_cl_fail(err, rc, "enqueue %s", what);
}

gc_status gc_ops_launch_nd(gc_ops *ops, cl_kernel kernel, int dims, const size_t *global, const size_t *local,
                           const char *what, gc_error *err) {
    size_t g[3];
    for (int d = 0; d < dims; d++) {
        if (global[d] == 0)
            return GC_OK;
        g[d] = local ? (global[d] + local[d] - 1) / local[d] * local[d] : global[d];
    }
    gc_ops_note_launch(ops);
    cl_int rc = clEnqueueNDRangeKernel(ops->rt->queue, kernel, (cl_uint)dims, NULL, g, local, 0, NULL,
                                       gc_trace_slot(ops->rt, what));
    return rc == CL_SUCCESS ? GC_OK : gc_cl_fail(err, rc, "enqueue %s", what);
}

gc_status gc_ops_launch_2d(gc_ops *ops, cl_kernel kernel, const size_t global[2], const size_t *local, const char *what,
                           gc_error *err) {
    return gc_ops_launch_nd(ops, kernel, 2, global, local, what, err);
}

gc_status gc_ops_set_args(cl_kernel kernel, const gc_karg *args, int n, const char *what, gc_error *err) {
    for (int i = 0; i < n; i++) {
        cl_int rc = clSetKernelArg(kernel, (cl_uint)i, args[i].size, args[i].value);
        if (rc != CL_SUCCESS)
            return gc_cl_fail(err, rc, "%s: setting argument %d", what, i);
    }
    return GC_OK;
}

gc_status gc_ops_check_range(const gc_buffer *buf, size_t off, size_t count, size_t elem_bytes, const char *op,
                             const char *tensor, gc_error *err) {
    if (!buf || !buf->mem)
        return gc_fail(err, GC_ERR_INVALID_ARG, "%s: %s is not a device buffer", op, tensor);
    size_t cap = buf->bytes / elem_bytes;
    if (off > cap || count > cap - off)
        return gc_fail(err, GC_ERR_INVALID_ARG, "%s: %s elements [%zu, %zu) lie outside its buffer of %zu elements", op,
                       tensor, off, off + count, cap);
    return GC_OK;
}

gc_status gc_ops_scratch(gc_ops *ops, gc_scratch_slot slot, size_t bytes, gc_buffer **buf, gc_error *err) {
    gc_buffer *s = &ops->scratch[slot];
    if (s->bytes < bytes) {
        ops->epoch++; /* the old contents are gone */
        gc_buffer_free(ops->rt, s);
        gc_status st = gc_buffer_alloc(ops->rt, bytes, "op scratch", s, err);
        if (st != GC_OK)
            return st;
    }
    *buf = s;
    return GC_OK;
}

void gc_ops_note_launch(gc_ops *ops) {
    ops->enqueued++;
    ops->epoch++;
}

unsigned long gc_ops_launch_count(const gc_ops *ops) {
    return ops->enqueued;
}

void gc_ops_q8_note_set(gc_ops *ops, gc_q8_note note) {
    note.epoch = ops->epoch;
    ops->q8_note = note;
}

bool gc_ops_q8_note_take(gc_ops *ops, gc_q8_note want) {
    const gc_q8_note *h = &ops->q8_note;
    const bool ok = h->x == want.x && h->x_off == want.x_off && h->n == want.n && h->cols == want.cols &&
                    h->kind == want.kind && h->epoch == ops->epoch && h->x != NULL;
    ops->q8_note.x = NULL;
    return ok;
}

void gc_ops_set_act_f32(gc_ops *ops, bool act_f32) {
    ops->act_f32 = act_f32;
}

bool gc_ops_act_f32(const gc_ops *ops) {
    return ops->act_f32;
}

const gc_ops_profile *gc_ops_get_profile(const gc_ops *ops) {
    return &ops->profile;
}

void gc_ops_set_profile(gc_ops *ops, const gc_ops_profile *profile) {
    ops->profile = *profile;
}

/* Checks a weight's shape (rows of whole blocks) and that its buffer holds rows x cols of its dtype. */
gc_status gc_ops_check_weight(const gc_dweight *w, const char *op, gc_error *err) {
    if (!w || w->rows <= 0 || w->cols <= 0 || (unsigned)w->dtype >= GC_DTYPE_COUNT)
        return gc_fail(err, GC_ERR_INVALID_ARG, "%s: weight has a bad shape or dtype", op);
    int block = gc_dtype_block(w->dtype);
    if (w->cols % block != 0)
        return gc_fail(err, GC_ERR_INVALID_ARG, "%s: %s weight has %d columns, not a multiple of its block of %d", op,
                       gc_dtype_name(w->dtype), w->cols, block);
    size_t row_bytes = gc_dtype_row_bytes(w->dtype, w->cols);
    return gc_ops_check_range(&w->buf, 0, (size_t)w->rows, row_bytes, op, "weight", err);
}
