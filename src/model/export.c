/* export.c - streaming model writer (the dtype codec it encodes with is util/types.c's); see export.h. */
#include "model/export.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/model_internal.h"
#include "model/safetensors.h"

#define CHUNK_ELEMS (1 << 20)

void gc_decode_f32(const gc_tensor *t, int64_t first, size_t n, float *dst) {
    gc_row_to_f32(t->dtype, (const unsigned char *)t->data + gc_dtype_row_bytes(t->dtype, first), (int64_t)n, dst);
}

/* Encoding dominates a quantizing export (the K-quant searches take tens of ns per weight), so a chunk's
 * blocks are shared among threads, at least MIN_BLOCKS_PER_THREAD each; every block is encoded on its own,
 * so the bytes do not depend on the split. A thread that cannot start leaves its share to this one. */
#define MAX_ENCODE_THREADS 16
#define MIN_BLOCKS_PER_THREAD 256

typedef struct encode_share {
    gc_dtype dtype;
    const float *src;
    size_t n;
    unsigned char *dst;
} encode_share;

static void *encode_share_run(void *arg) {
    const encode_share *e = arg;
    gc_row_from_f32(e->dtype, e->src, (int64_t)e->n, e->dst);
    return NULL;
}

static int encode_threads(gc_dtype dtype, size_t n) {
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    const size_t blocks = n / (size_t)gc_dtype_block(dtype);
    size_t k = gc_dtype_is_quantized(dtype) ? blocks / MIN_BLOCKS_PER_THREAD : 1;
    k = k < (size_t)(cpus > 0 ? cpus : 1) ? k : (size_t)(cpus > 0 ? cpus : 1);
    return k < 1 ? 1 : k > MAX_ENCODE_THREADS ? MAX_ENCODE_THREADS : (int)k;
}

static void encode_chunk(gc_dtype dtype, const float *src, size_t n, unsigned char *dst) {
    const int k = encode_threads(dtype, n);
    const size_t block = (size_t)gc_dtype_block(dtype), blocks = n / block;
    encode_share shares[MAX_ENCODE_THREADS];
    pthread_t threads[MAX_ENCODE_THREADS];
    bool started[MAX_ENCODE_THREADS] = {false};
    for (int i = 0; i < k; i++) {
        const size_t first = blocks * (size_t)i / (size_t)k, last = blocks * (size_t)(i + 1) / (size_t)k;
        shares[i] = (encode_share){dtype, src + first * block, (last - first) * block,
                                   dst + gc_dtype_row_bytes(dtype, (int64_t)(first * block))};
        started[i] = i > 0 && pthread_create(&threads[i], NULL, encode_share_run, &shares[i]) == 0;
    }
    encode_share_run(&shares[0]);
    for (int i = 1; i < k; i++)
        if (started[i])
            pthread_join(threads[i], NULL);
        else
            encode_share_run(&shares[i]);
}

/* Streams one tensor: fill in whole-row chunks, encode, write. */
static gc_status write_tensor(FILE *f, const char *path, const gc_tensor *t, int index, gc_export_fill fill, void *ctx,
                              float *buf, unsigned char *enc, gc_error *err) {
    int64_t row = t->shape[t->n_dims - 1], total = gc_tensor_n_elements(t);
    int64_t rows_per_chunk = row >= CHUNK_ELEMS ? 1 : CHUNK_ELEMS / row;
    for (int64_t first = 0; first < total; first += rows_per_chunk * row) {
        size_t n = (size_t)(total - first < rows_per_chunk * row ? total - first : rows_per_chunk * row);
        gc_status s = fill(ctx, index, first, buf, n, err);
        if (s != GC_OK)
            return s;
        encode_chunk(t->dtype, buf, n, enc);
        size_t nbytes = gc_dtype_row_bytes(t->dtype, (int64_t)n);
        if (fwrite(enc, 1, nbytes, f) != nbytes)
            return gc_fail(err, GC_ERR_IO, "%s: write failed at tensor '%s': %s", path, t->name, strerror(errno));
    }
    return GC_OK;
}

static gc_status write_header(FILE *f, const char *path, gc_export_format format, gc_gguf_writer *meta,
                              const gc_tensor *tensors, int n, gc_error *err) {
    if (format == GC_EXPORT_SAFETENSORS)
        return gc_safetensors_write_header(f, path, tensors, n, err);
    for (int i = 0; i < n; i++)
        gc_gguf_writer_add_tensor(meta, tensors[i].name, tensors[i].dtype, tensors[i].n_dims, tensors[i].shape);
    unsigned char *hdr;
    size_t len;
    gc_status s = gc_gguf_writer_header(meta, &hdr, &len, err);
    if (s != GC_OK)
        return s;
    bool ok = fwrite(hdr, 1, len, f) == len;
    free(hdr);
    return ok ? GC_OK : gc_fail(err, GC_ERR_IO, "%s: write failed: %s", path, strerror(errno));
}

static gc_status pad_to(FILE *f, const char *path, uint64_t align, gc_error *err) {
    long pos = ftell(f);
    for (long i = pos; pos >= 0 && i % (long)align != 0; i++)
        if (fputc(0, f) == EOF)
            return gc_fail(err, GC_ERR_IO, "%s: write failed", path);
    return GC_OK;
}

static gc_status write_all(FILE *f, const char *path, gc_export_format format, gc_gguf_writer *meta,
                           const gc_tensor *tensors, int n, gc_export_fill fill, void *ctx, gc_error *err) {
    float *buf = malloc(CHUNK_ELEMS * sizeof *buf);
    unsigned char *enc = malloc(CHUNK_ELEMS * 4);
    int64_t max_row = 0;
    for (int i = 0; i < n; i++)
        max_row = tensors[i].shape[tensors[i].n_dims - 1] > max_row ? tensors[i].shape[tensors[i].n_dims - 1] : max_row;
    if (max_row > CHUNK_ELEMS) {
        free(buf), free(enc);
        return gc_fail(err, GC_ERR_UNSUPPORTED, "%s: rows of %lld elements are too long to export", path,
                       (long long)max_row);
    }
    gc_status s = buf && enc ? write_header(f, path, format, meta, tensors, n, err)
                             : gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory", path);
    for (int i = 0; i < n && s == GC_OK; i++) {
        s = write_tensor(f, path, &tensors[i], i, fill, ctx, buf, enc, err);
        if (s == GC_OK && format == GC_EXPORT_GGUF)
            s = pad_to(f, path, GC_GGUF_ALIGNMENT, err);
    }
    free(buf);
    free(enc);
    return s;
}

gc_status gc_export_write(const char *path, gc_export_format format, gc_gguf_writer *meta, const gc_tensor *tensors,
                          int n, gc_export_fill fill, void *ctx, gc_error *err) {
    char tmp[2100];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return gc_fail(err, GC_ERR_IO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    gc_status s = write_all(f, path, format, meta, tensors, n, fill, ctx, err);
    if (fclose(f) != 0 && s == GC_OK)
        s = gc_fail(err, GC_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    if (s == GC_OK && rename(tmp, path) != 0)
        s = gc_fail(err, GC_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
    if (s != GC_OK)
        unlink(tmp);
    return s;
}
