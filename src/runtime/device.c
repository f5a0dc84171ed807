/* device.c - enumerating OpenCL devices and resolving the user's choice of one. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"

static void device_str(cl_device_id d, cl_device_info what, char *out, size_t len) {
    out[0] = '\0';
    if (clGetDeviceInfo(d, what, len, out, NULL) != CL_SUCCESS)
        out[0] = '\0';
    out[len - 1] = '\0';
}

static bool has_extension(cl_device_id d, const char *ext) {
    size_t len = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &len) != CL_SUCCESS || len == 0)
        return false;
    char *all = malloc(len + 1);
    if (!all)
        return false;
    bool found = false;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, len, all, NULL) == CL_SUCCESS) {
        all[len] = '\0';
        size_t n = strlen(ext);
        for (char *p = strstr(all, ext); p && !found; p = strstr(p + 1, ext))
            found = (p == all || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0');
    }
    free(all);
    return found;
}

static void describe(gc_device *g, cl_platform_id p, cl_device_id d, int platform_index, int index) {
    memset(g, 0, sizeof *g);
    g->platform = p;
    g->device = d;
    gc_device_info *info = &g->info;
    info->index = index;
    info->platform_index = platform_index;
    clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof info->platform_name, info->platform_name, NULL);
    clGetPlatformInfo(p, CL_PLATFORM_VERSION, sizeof info->platform_version, info->platform_version, NULL);
    info->platform_name[sizeof info->platform_name - 1] = '\0';
    info->platform_version[sizeof info->platform_version - 1] = '\0';
    device_str(d, CL_DEVICE_NAME, info->name, sizeof info->name);
    device_str(d, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    device_str(d, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    device_str(d, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c_version, sizeof info->opencl_c_version);
    cl_device_type type = 0;
    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    info->type = (type & CL_DEVICE_TYPE_GPU)           ? GC_DEVICE_TYPE_GPU
                 : (type & CL_DEVICE_TYPE_CPU)         ? GC_DEVICE_TYPE_CPU
                 : (type & CL_DEVICE_TYPE_ACCELERATOR) ? GC_DEVICE_TYPE_ACCELERATOR
                                                       : GC_DEVICE_TYPE_OTHER;
    cl_uint cu = 0;
    cl_ulong global = 0, local = 0, max_alloc = 0;
    clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof global, &global, NULL);
    clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local, &local, NULL);
    clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL);
    info->compute_units = cu;
    info->global_mem_bytes = global;
    info->local_mem_bytes = local;
    info->max_alloc_bytes = max_alloc;
    info->has_fp16 = has_extension(d, "cl_khr_fp16");
    info->has_subgroups = has_extension(d, "cl_khr_subgroups") || has_extension(d, "cl_intel_subgroups");
    info->has_int_dot = has_extension(d, "cl_khr_integer_dot_product");
#if defined(__x86_64__)
    info->has_x86_simd = info->type == GC_DEVICE_TYPE_CPU && strstr(info->platform_name, "Portable Computing Language");
#endif
    clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof g->max_work_group_size, &g->max_work_group_size, NULL);
    size_t items[16] = {0}, items_bytes = 0; /* one size per dimension, and a device may have more than 3 */
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_ITEM_SIZES, 0, NULL, &items_bytes) == CL_SUCCESS &&
        items_bytes <= sizeof items)
        clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_ITEM_SIZES, items_bytes, items, NULL);
    memcpy(g->max_work_item_sizes, items, sizeof g->max_work_item_sizes);
    g->cl_c_major = 1;
    g->cl_c_minor = 2;
    sscanf(info->opencl_c_version, "OpenCL C %d.%d", &g->cl_c_major, &g->cl_c_minor);
}

gc_status gc_devices_enumerate(gc_device **devices, int *n_devices, gc_error *err) {
    *devices = NULL;
    *n_devices = 0;
    cl_uint n_platforms = 0;
    cl_int rc = clGetPlatformIDs(0, NULL, &n_platforms);
    if (rc != CL_SUCCESS || n_platforms == 0)
        return gc_fail(err, GC_ERR_DEVICE,
                       "no OpenCL platform found (%s): install an ICD such as pocl-opencl-icd, or set "
                       "OCL_ICD_VENDORS",
                       rc == CL_SUCCESS ? "0 platforms" : gc_cl_error_str(rc));
    cl_platform_id *platforms = calloc(n_platforms, sizeof *platforms);
    if (!platforms)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory listing platforms");
    clGetPlatformIDs(n_platforms, platforms, NULL);
    gc_device *all = NULL;
    int n = 0;
    for (cl_uint p = 0; p < n_platforms; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || nd == 0)
            continue;
        cl_device_id *ids = calloc(nd, sizeof *ids);
        gc_device *grown = realloc(all, (size_t)(n + (int)nd) * sizeof *all);
        if (!ids || !grown) {
            free(ids);
            free(grown ? grown : all);
            free(platforms);
            return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of host memory listing devices");
        }
        all = grown;
        clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, nd, ids, NULL);
        for (cl_uint i = 0; i < nd; i++, n++)
            describe(&all[n], platforms[p], ids[i], (int)p, n);
        free(ids);
    }
    free(platforms);
    if (n == 0) {
        free(all);
        return gc_fail(err, GC_ERR_DEVICE, "no OpenCL device found on %u platform(s)", n_platforms);
    }
    *devices = all;
    *n_devices = n;
    return GC_OK;
}

int gc_devices_default(const gc_device *devices, int n_devices) {
    for (int i = 0; i < n_devices; i++)
        if (devices[i].info.type == GC_DEVICE_TYPE_GPU)
            return i;
    return 0;
}

static bool contains_nocase(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return true;
    }
    return n == 0;
}

gc_status gc_devices_choose(const gc_device *devices, int n_devices, const char *spec, int *index, gc_error *err) {
    const char *source = "--device";
    if (!spec || !*spec) {
        spec = getenv("GEMCL_DEVICE");
        source = "GEMCL_DEVICE";
    }
    if (!spec || !*spec) {
        *index = gc_devices_default(devices, n_devices);
        return GC_OK;
    }
    char *end = NULL;
    long k = strtol(spec, &end, 10);
    if (end != spec && *end == '\0') {
        if (k >= 0 && k < n_devices) {
            *index = (int)k;
            return GC_OK;
        }
    } else {
        /* Device names first, then platform names: PoCL names a CPU device after the CPU
         * ("pthread-haswell-AMD EPYC"), as Intel's CPU runtime does ("AMD EPYC"), so only the platform
         * ("Intel(R) OpenCL") tells the two apart. */
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < n_devices; i++) {
                const gc_device_info *d = &devices[i].info;
                if (contains_nocase(pass == 0 ? d->name : d->platform_name, spec)) {
                    *index = i;
                    return GC_OK;
                }
            }
    }
    char list[2048] = "";
    size_t used = 0;
    for (int i = 0; i < n_devices && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%d: %s (%s)", i ? ", " : "", i,
                                 devices[i].info.name, devices[i].info.platform_name);
    return gc_fail(err, GC_ERR_NOT_FOUND, "%s '%s' matches no OpenCL device; devices are: %s", source, spec, list);
}
