/* program.c - building OpenCL programs, with an on-disk cache of program binaries.
 *
 * Cache file: <cache_dir>/<key as 16 hex digits>.clbin holding a header {magic "GCLB", format version,
 * key, payload bytes, payload FNV-1a} and the driver's binary. The key hashes the source, the full build
 * options, the device name, the driver version and the platform name and version, so a driver update or a
 * new tunable never loads a stale binary. Writes go to a temporary file renamed into place. Anything wrong
 * with a cache file (short, bad header, bad checksum, refused by the driver) counts as 'rejected' and the
 * program is built from source and the file rewritten; cache I/O errors never fail a build.
 *
 * Our checksum proves only that the payload is what was hashed, not that it is a whole driver binary: an
 * entry rewritten with a truncated payload and a fresh checksum made PoCL abort inside clBuildProgram (issue
 * 16). So before handing a payload over, the lengths its own format declares (PoCL's container, ELF's section
 * table) are checked against the bytes present; formats we cannot read are handed over as before. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"
#include "util/fileio.h"
#include "util/hash.h"

#define CACHE_MAGIC 0x424c4347u /* "GCLB" little-endian */
#define CACHE_FORMAT 1u

typedef struct cache_header {
    uint32_t magic;
    uint32_t format;
    uint64_t key;
    uint64_t payload_bytes;
    uint64_t payload_hash;
} cache_header;

static uint64_t cache_key(const gc_runtime *rt, const char *src, size_t len, const char *options) {
    const gc_device_info *d = &rt->dev.info;
    uint64_t h = gc_hash_bytes(GC_HASH_INIT, src, len);
    h = gc_hash_str(h, options);
    h = gc_hash_str(h, d->name);
    h = gc_hash_str(h, d->driver_version);
    h = gc_hash_str(h, d->platform_name);
    h = gc_hash_str(h, d->platform_version);
    return h;
}

static void cache_path(const gc_runtime *rt, uint64_t key, char *out, size_t len) {
    snprintf(out, len, "%s/%016llx.clbin", rt->cache_dir, (unsigned long long)key);
}

static gc_status build_log_error(gc_runtime *rt, cl_program prog, const char *name, cl_int rc, gc_error *err) {
    size_t len = 0;
    clGetProgramBuildInfo(prog, rt->dev.device, CL_PROGRAM_BUILD_LOG, 0, NULL, &len);
    char *log = malloc(len + 1);
    if (log) {
        log[0] = '\0';
        clGetProgramBuildInfo(prog, rt->dev.device, CL_PROGRAM_BUILD_LOG, len, log, NULL);
        log[len] = '\0';
    }
    gc_fail(err, GC_ERR_BUILD, "building %s for '%s' failed (%s): %s", name, rt->dev.info.name, gc_cl_error_str(rc),
            log ? log : "(no build log)");
    free(log);
    return GC_ERR_BUILD;
}

static uint64_t read_le(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* PoCL's container (version 9, PoCL 3.x): a 77-byte header {"poclbin\0", device id u64, version u32, kernel
 * count u32, flags u32, binary type u32, u32, build hash char[41]}, then the program.bc record (its byte count
 * as a u64, then the record), then one record per kernel, each starting with its own byte count (a u64 that
 * includes itself). Complete when the records end exactly at len. Other versions are not checked. */
static bool pocl_binary_complete(const unsigned char *p, uint64_t len) {
    enum { HEADER = 77, VERSION = 9 };
    if (len < HEADER + 8)
        return false;
    if (read_le(p + 16, 4) != VERSION)
        return true; /* a layout we have not checked: the driver's own checks are all there is */
    uint64_t kernels = read_le(p + 20, 4), at = HEADER, bc = read_le(p + at, 8);
    if (bc > len - at - 8)
        return false;
    at += 8 + bc;
    for (uint64_t k = 0; k < kernels; k++) {
        if (len - at < 8)
            return false;
        uint64_t record = read_le(p + at, 8);
        if (record < 8 || record > len - at)
            return false;
        at += record;
    }
    return at == len;
}

/* An ELF image (Intel, AMD): its section header table must lie within the bytes present. */
static bool elf_binary_complete(const unsigned char *p, uint64_t len) {
    bool is64 = len > 4 && p[4] == 2;
    if (len < (is64 ? 64u : 52u))
        return false;
    uint64_t table = is64 ? read_le(p + 0x28, 8) : read_le(p + 0x20, 4);
    uint64_t entry = read_le(p + (is64 ? 0x3a : 0x2e), 2), count = read_le(p + (is64 ? 0x3c : 0x30), 2);
    return table <= len && entry * count <= len - table;
}

/* Whether a driver binary is whole, judged by the lengths its own header declares (see the file comment). */
static bool driver_binary_complete(const unsigned char *p, uint64_t len) {
    if (len >= 8 && memcmp(p, "poclbin", 8) == 0)
        return pocl_binary_complete(p, len);
    if (len >= 4 && memcmp(p, "\x7f" "ELF", 4) == 0)
        return elf_binary_complete(p, len);
    return true;
}

/* Tries the cached binary; returns a built program or NULL (and counts a rejection if a file existed). */
static cl_program cache_load(gc_runtime *rt, uint64_t key, const char *options) {
    char path[1200];
    cache_path(rt, key, path, sizeof path);
    char *data = NULL;
    size_t len = 0;
    if (gc_file_read(path, &data, &len, NULL) != GC_OK)
        return NULL;
    cl_program prog = NULL;
    cache_header h;
    if (len >= sizeof h) {
        memcpy(&h, data, sizeof h);
        const unsigned char *payload = (const unsigned char *)data + sizeof h;
        if (h.magic == CACHE_MAGIC && h.format == CACHE_FORMAT && h.key == key &&
            h.payload_bytes == len - sizeof h && h.payload_bytes > 0 &&
            h.payload_hash == gc_hash_bytes(GC_HASH_INIT, payload, h.payload_bytes) &&
            driver_binary_complete(payload, h.payload_bytes)) {
            size_t bin_len = h.payload_bytes;
            cl_int status = CL_SUCCESS, rc;
            prog = clCreateProgramWithBinary(rt->context, 1, &rt->dev.device, &bin_len, &payload, &status, &rc);
            if (rc != CL_SUCCESS || status != CL_SUCCESS) {
                if (prog)
                    clReleaseProgram(prog);
                prog = NULL;
            } else if (clBuildProgram(prog, 1, &rt->dev.device, options, NULL, NULL) != CL_SUCCESS) {
                clReleaseProgram(prog);
                prog = NULL;
            }
        }
    }
    free(data);
    if (prog)
        rt->cache.hits++;
    else
        rt->cache.rejected++;
    return prog;
}

static void cache_store(gc_runtime *rt, uint64_t key, cl_program prog) {
    size_t bin_len = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof bin_len, &bin_len, NULL) != CL_SUCCESS ||
        bin_len == 0)
        return;
    unsigned char *buf = malloc(sizeof(cache_header) + bin_len);
    if (!buf)
        return;
    unsigned char *payload = buf + sizeof(cache_header);
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof payload, &payload, NULL) == CL_SUCCESS) {
        cache_header h = {CACHE_MAGIC, CACHE_FORMAT, key, bin_len, gc_hash_bytes(GC_HASH_INIT, payload, bin_len)};
        memcpy(buf, &h, sizeof h);
        char path[1200];
        cache_path(rt, key, path, sizeof path);
        if (gc_mkdir_p(rt->cache_dir, NULL) == GC_OK &&
            gc_file_write_atomic(path, buf, sizeof h + bin_len, NULL) == GC_OK)
            rt->cache.writes++;
    }
    free(buf);
}

gc_status gc_program_build(gc_runtime *rt, const char *name, const char *source, size_t source_len, const char *options,
                           cl_program *program, gc_error *err) {
    *program = NULL;
    char full_options[2048];
    snprintf(full_options, sizeof full_options, "%s %s", rt->build_options, options ? options : "");
    uint64_t key = cache_key(rt, source, source_len, full_options);
    if (rt->cache_enabled) {
        char path[1200];
        cache_path(rt, key, path, sizeof path);
        FILE *probe = fopen(path, "rb");
        if (probe) {
            fclose(probe);
            *program = cache_load(rt, key, full_options);
            if (*program)
                return GC_OK;
        }
    }
    cl_int rc;
    cl_program prog = clCreateProgramWithSource(rt->context, 1, &source, &source_len, &rc);
    if (rc != CL_SUCCESS)
        return gc_cl_fail(err, rc, "creating program %s", name);
    rc = clBuildProgram(prog, 1, &rt->dev.device, full_options, NULL, NULL);
    if (rc != CL_SUCCESS) {
        build_log_error(rt, prog, name, rc, err);
        clReleaseProgram(prog);
        return GC_ERR_BUILD;
    }
    rt->cache.misses++;
    if (rt->cache_enabled)
        cache_store(rt, key, prog);
    *program = prog;
    return GC_OK;
}

gc_status gc_kernel_create(cl_program program, const char *kernel_name, cl_kernel *kernel, gc_error *err) {
    cl_int rc;
    *kernel = clCreateKernel(program, kernel_name, &rc);
    if (rc != CL_SUCCESS) {
        *kernel = NULL;
        return gc_cl_fail(err, rc, "creating kernel %s", kernel_name);
    }
    return GC_OK;
}
