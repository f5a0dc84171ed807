/*
 * gemcl.h - the public interface of gemcl, a long-context LLM inference engine whose compute runs
 * entirely through OpenCL (NVIDIA, AMD and Intel GPUs, and CPUs through PoCL).
 *
 * gemcl's signature feature is GemFilter's filter-then-regenerate pipeline ("Discovering the Gems in
 * Early Layers", 2024): run the first r layers over a long prompt, score every prompt token by the last
 * token's attention at layer r, keep the top k tokens, and run the whole model on just those.
 *
 * This header is the documentation. Conventions, once for the whole file:
 *
 *   - Every function that can fail returns a gemcl_status. GEMCL_OK is 0; everything else is an error,
 *     and gemcl_status_str() names it. Functions that fail also write a one-line message (what failed,
 *     and where: file, tensor, byte offset, layer, device) into a caller-owned buffer or into the object
 *     they operate on; there is no global error state.
 *   - Lengths are explicit. Strings handed in are NUL-terminated unless a length is passed with them.
 *   - Objects come in create/free pairs. Whoever created an object frees it; free functions accept NULL.
 *   - The library never writes to stdout or stderr. Diagnostics go through a gemcl_log_fn that the caller
 *     installs; without one they are dropped.
 *
 * Example: list the OpenCL devices and the one gemcl would pick.
 *
 *     gemcl_device_info devs[16];
 *     int n = 0, chosen = -1;
 *     char err[512];
 *     if (gemcl_devices_list(devs, 16, &n, &chosen, err, sizeof err) != GEMCL_OK) {
 *         fprintf(stderr, "gemcl: %s\n", err);
 *         return 1;
 *     }
 *     for (int i = 0; i < n; i++)
 *         printf("%d: %s%s\n", i, devs[i].name, i == chosen ? " (default)" : "");
 */
#ifndef GEMCL_H
#define GEMCL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GEMCL_VERSION_MAJOR 0
#define GEMCL_VERSION_MINOR 1
#define GEMCL_VERSION_PATCH 0
#define GEMCL_VERSION_STRING "0.1.0"

/* Status codes. Stable numbering: new codes are only ever appended. */
typedef enum gemcl_status {
    GEMCL_OK = 0,
    GEMCL_ERR_INVALID_ARG = 1,   /* a parameter is out of range or inconsistent */
    GEMCL_ERR_IO = 2,            /* a file could not be opened, read, mapped or written */
    GEMCL_ERR_FORMAT = 3,        /* a file is malformed: truncated, bad offsets, bad JSON, bad magic */
    GEMCL_ERR_UNSUPPORTED = 4,   /* well-formed but not supported: unknown dtype, architecture, version */
    GEMCL_ERR_DEVICE = 5,        /* an OpenCL call failed, or no usable device */
    GEMCL_ERR_BUILD = 6,         /* an OpenCL program failed to build; the message carries the build log */
    GEMCL_ERR_OUT_OF_MEMORY = 7, /* host or device allocation refused, or above the device's limit */
    GEMCL_ERR_NOT_FOUND = 8,     /* a named thing (device, tensor, key) does not exist */
    GEMCL_ERR_CONTEXT_FULL = 9,  /* the prompt or generation does not fit the context */
    GEMCL_ABORTED = 10           /* a callback asked to stop; the object stays usable */
} gemcl_status;

/* The status's name, e.g. "GEMCL_ERR_FORMAT". Never NULL; static storage. */
const char *gemcl_status_str(gemcl_status status);

typedef enum gemcl_log_level {
    GEMCL_LOG_LEVEL_DEBUG = 0,
    GEMCL_LOG_LEVEL_INFO = 1,
    GEMCL_LOG_LEVEL_WARN = 2,
    GEMCL_LOG_LEVEL_ERROR = 3
} gemcl_log_level;

/* Receives one diagnostic line (no trailing newline). Called on the thread that made the call. */
typedef void (*gemcl_log_fn)(gemcl_log_level level, const char *message, void *user_data);

/* ---------------------------------------------------------------------------------------------------
 * Devices
 * ------------------------------------------------------------------------------------------------- */

typedef enum gemcl_device_type {
    GEMCL_DEVICE_TYPE_CPU = 0,
    GEMCL_DEVICE_TYPE_GPU = 1,
    GEMCL_DEVICE_TYPE_ACCELERATOR = 2,
    GEMCL_DEVICE_TYPE_OTHER = 3
} gemcl_device_type;

/* What gemcl knows of one OpenCL device. Plain data, copied out; nothing to free. */
typedef struct gemcl_device_info {
    int index;                    /* global index across platforms: what --device N selects */
    int platform_index;           /* index of its platform */
    char platform_name[128];
    char platform_version[128];
    char name[256];
    char vendor[128];
    char driver_version[128];
    char opencl_c_version[64];    /* e.g. "OpenCL C 1.2 pocl" */
    gemcl_device_type type;
    uint32_t compute_units;
    uint64_t global_mem_bytes;
    uint64_t local_mem_bytes;
    uint64_t max_alloc_bytes;     /* CL_DEVICE_MAX_MEM_ALLOC_SIZE: the largest single buffer */
    int has_fp16;                 /* cl_khr_fp16: fp16 arithmetic in kernels (storage needs nothing) */
    int has_subgroups;            /* cl_khr_subgroups or cl_intel_subgroups */
} gemcl_device_info;

/*
 * Lists every OpenCL device of every platform into out[0 .. max-1], sets *n_devices to how many exist
 * (which may exceed max; only min(max, *n_devices) entries are written) and *default_index to the device
 * gemcl picks when none is asked for: the first GPU, else the first device. default_index may be NULL.
 * On failure (no platform, no device) writes a message to err (errlen bytes, may be 0) and returns
 * GEMCL_ERR_DEVICE.
 */
gemcl_status gemcl_devices_list(gemcl_device_info *out, int max, int *n_devices, int *default_index,
                                char *err, size_t errlen);

/*
 * Resolves a device choice as the CLI's --device and the GEMCL_DEVICE variable do: spec is a global
 * index ("1") or a case-insensitive substring of the device name ("pthread", "H200"); NULL or "" means
 * the GEMCL_DEVICE environment variable, and if that is unset, the default device. On an unknown choice
 * returns GEMCL_ERR_NOT_FOUND and err lists the devices that exist.
 */
gemcl_status gemcl_device_choose(const char *spec, int *index, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* GEMCL_H */
