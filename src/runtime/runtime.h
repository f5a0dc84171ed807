/* runtime.h - gemcl's OpenCL layer: device choice, context and queue, program builds with an on-disk
 * binary cache, device buffers with byte accounting, and OpenCL error names. It knows nothing of models.
 *
 * Lifecycle: gc_runtime_create() picks a device and makes one context and one in-order queue;
 * gc_program_build() compiles (or loads from the cache) programs for it; gc_buffer_alloc()/gc_buffer_free()
 * are the only way device memory is taken, so current and peak bytes are exact; gc_runtime_free() last.
 * A gc_runtime is used by one thread at a time. */
#ifndef GC_RUNTIME_H
#define GC_RUNTIME_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/status.h"
#include "util/err.h"

typedef enum gc_device_type {
    GC_DEVICE_TYPE_CPU = 0,
    GC_DEVICE_TYPE_GPU = 1,
    GC_DEVICE_TYPE_ACCELERATOR = 2,
    GC_DEVICE_TYPE_OTHER = 3
} gc_device_type;

/* What gemcl knows of one OpenCL device; the API copies it into the public device info (src/api_edge.c). */
typedef struct gc_device_info {
    int index;          /* global index across platforms: what --device N selects */
    int platform_index; /* index of its platform */
    char platform_name[128];
    char platform_version[128];
    char name[256];
    char vendor[128];
    char driver_version[128];
    char opencl_c_version[64]; /* e.g. "OpenCL C 1.2 pocl" */
    gc_device_type type;
    uint32_t compute_units;
    uint64_t global_mem_bytes;
    uint64_t local_mem_bytes;
    uint64_t max_alloc_bytes; /* CL_DEVICE_MAX_MEM_ALLOC_SIZE: the largest single buffer */
    int has_fp16;             /* cl_khr_fp16: fp16 arithmetic in kernels (storage needs nothing) */
    int has_subgroups;        /* cl_khr_subgroups or cl_intel_subgroups */
    int has_int_dot;          /* cl_khr_integer_dot_product: dot products of packed 8-bit integers */
    int has_x86_simd;         /* PoCL's CPU device on x86-64: its kernel compiler is clang with the x86 target
                                 builtins, which the q8 GEMV uses where the CPU has AVX2 (q8_dot_path says) */
} gc_device_info;

/* One OpenCL device as enumerated (its description plus the handles). */
typedef struct gc_device {
    gc_device_info info;
    cl_platform_id platform;
    cl_device_id device;
    int cl_c_major, cl_c_minor; /* parsed from CL_DEVICE_OPENCL_C_VERSION */
    size_t max_work_group_size; /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    size_t max_work_item_sizes[3]; /* CL_DEVICE_MAX_WORK_ITEM_SIZES of the first three dimensions */
} gc_device;

/* Enumerates all devices of all platforms. The caller frees *devices with free(). */
gc_status gc_devices_enumerate(gc_device **devices, int *n_devices, gc_error *err);

/* The default device: the first GPU, else device 0. */
int gc_devices_default(const gc_device *devices, int n_devices);

/* Resolves spec: a global index, or a case-insensitive substring of a device name (the first device that has
 * it), else of a platform name ("Intel(R) OpenCL"); NULL/"" = $GEMCL_DEVICE, then the default. */
gc_status gc_devices_choose(const gc_device *devices, int n_devices, const char *spec, int *index, gc_error *err);

typedef struct gc_runtime_params {
    const char *device;     /* as gc_devices_choose's spec; NULL = environment/default */
    bool profiling;         /* create the queue with CL_QUEUE_PROFILING_ENABLE */
    const char *cache_dir;  /* NULL = $GEMCL_CACHE_DIR, else $XDG_CACHE_HOME/gemcl, else ~/.cache/gemcl;
                               "off" disables the binary cache */
    gc_log_fn log;          /* may be NULL */
    void *log_user;
    const char *portable;   /* fast paths to leave out even where the device has them, so kernels build their
                               portable twin: "fp16", "subgroups", "int_dot", "x86" separated by commas, or "all";
                               NULL = $GEMCL_PORTABLE, else none */
} gc_runtime_params;

/* The optional fast paths (DESIGN.md "Rules"): each is compiled in (-DGC_HAS_<NAME>=1) only when the device
 * has the feature and gc_runtime_params.portable does not name it. */
enum {
    GC_FAST_FP16 = 1u << 0,      /* cl_khr_fp16: half arithmetic */
    GC_FAST_SUBGROUPS = 1u << 1, /* subgroup reductions and broadcasts */
    GC_FAST_INT_DOT = 1u << 2,   /* cl_khr_integer_dot_product: packed 4 x 8-bit dot products */
    GC_FAST_X86 = 1u << 3,       /* x86 target builtins in kernels (AVX2 maddubs/madd) */
};

gc_runtime_params gc_runtime_default_params(void);

/* gemcl's cache directory (kernel binaries, tuned profiles) as gc_runtime_params.cache_dir describes it, into
 * out (len bytes); false, with out = "", when the cache is off or there is no home directory. */
bool gc_cache_dir_resolve(const char *requested, char *out, size_t len);

typedef struct gc_cache_stats {
    int hits;      /* programs loaded from a cached binary */
    int misses;    /* programs built from source */
    int rejected;  /* cache files found but unusable (corrupt, truncated, refused by the driver) */
    int writes;    /* binaries written to the cache */
} gc_cache_stats;

typedef struct gc_trace_event {
    char name[64];
    cl_event event;
} gc_trace_event;

typedef struct gc_runtime {
    gc_device dev;
    cl_context context;
    cl_command_queue queue;
    bool profiling;
    char build_options[512];  /* -cl-std and the capability macros, prefix of every build */
    unsigned fast_paths;      /* GC_FAST_* compiled in: the device has them and params.portable allows */
    bool cache_enabled;
    char cache_dir[1024];
    gc_cache_stats cache;
    size_t bytes_current;     /* device bytes held through gc_buffer_alloc */
    size_t bytes_peak;
    gc_log_fn log;
    void *log_user;
    struct {
        gc_trace_event *events;
        int n, cap;
    } trace;                  /* kernel events, only when profiling */
} gc_runtime;

gc_status gc_runtime_create(const gc_runtime_params *params, gc_runtime **out, gc_error *err);
void gc_runtime_free(gc_runtime *rt);

/* Waits until every command on the queue has completed. Every teardown (a sequence's KV, the op registry,
 * the device weights, the runtime) calls it before releasing anything: kernels are enqueued without a wait
 * (DESIGN.md), and a driver may still be running or compiling one of them when the caller moves on to free
 * and exit - PoCL then crashes in its worker thread. A failure is logged, never fatal: teardown goes on. */
void gc_runtime_finish(gc_runtime *rt);

/* Logs a printf-formatted line through the runtime's log callback (dropped when there is none). */
void gc_log(const gc_runtime *rt, gc_log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Builds a program from source for the runtime's device. name labels messages (e.g. "attention.cl");
 * options are appended to the runtime's build_options (tunables as -D). On a compile error returns
 * GC_ERR_BUILD with the build log in the message. The caller releases *program. */
gc_status gc_program_build(gc_runtime *rt, const char *name, const char *source, size_t source_len, const char *options,
                           cl_program *program, gc_error *err);

/* Creates a kernel from a built program; the caller releases it. */
gc_status gc_kernel_create(cl_program program, const char *kernel_name, cl_kernel *kernel, gc_error *err);

/* A device buffer taken through the runtime. */
typedef struct gc_buffer {
    cl_mem mem;
    size_t bytes;
} gc_buffer;

/* Allocates bytes (> 0) of device memory. Refuses sizes above the device's max single allocation with
 * GC_ERR_OUT_OF_MEMORY naming what (a label for the message, e.g. "layer 3 K cache"). */
gc_status gc_buffer_alloc(gc_runtime *rt, size_t bytes, const char *what, gc_buffer *out, gc_error *err);

/* Releases the buffer and subtracts it from the accounting; a zeroed buffer is a no-op. */
void gc_buffer_free(gc_runtime *rt, gc_buffer *buf);

/* Blocking copies between host and a buffer, with offsets in bytes. */
gc_status gc_buffer_write(gc_runtime *rt, gc_buffer *buf, size_t offset, const void *src, size_t bytes, gc_error *err);
gc_status gc_buffer_read(gc_runtime *rt, const gc_buffer *buf, size_t offset, void *dst, size_t bytes, gc_error *err);

/* Resets the peak to the current byte count (to measure one phase). */
void gc_runtime_reset_peak(gc_runtime *rt);

/* Profiling: an event slot to pass to clEnqueue* for a kernel named name, or NULL when the runtime is not
 * profiling (then no event is created at all). */
cl_event *gc_trace_slot(gc_runtime *rt, const char *name);

/* Waits for the queue, writes every recorded kernel as a Chrome trace (JSON) to path, and clears them. */
gc_status gc_trace_write_chrome(gc_runtime *rt, const char *path, gc_error *err);

/* Drops the recorded events. */
void gc_trace_clear(gc_runtime *rt);

/* The name of an OpenCL error code ("CL_OUT_OF_RESOURCES"), or "CL_ERROR_<n>". */
const char *gc_cl_error_str(cl_int code);

/* Turns a failed OpenCL call into an error: "<what>: <CL name> (<code>)". */
gc_status gc_cl_fail(gc_error *err, cl_int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
