/* safetensors.c - reads and writes safetensors headers; see safetensors.h. */
#include "model/safetensors.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

const char *gc_safetensors_dtype_name(gc_dtype t) {
    switch (t) {
    case GC_DTYPE_F32: return "F32";
    case GC_DTYPE_F16: return "F16";
    case GC_DTYPE_BF16: return "BF16";
    default: return NULL; /* block types have no safetensors dtype */
    }
    return NULL;
}

static bool parse_dtype(const char *s, gc_dtype *out) {
    const gc_dtype all[] = {GC_DTYPE_F32, GC_DTYPE_F16, GC_DTYPE_BF16};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (s && strcmp(s, gc_safetensors_dtype_name(all[i])) == 0) {
            *out = all[i];
            return true;
        }
    return false;
}

/* Fills t's name, dtype and shape from one header entry; *r receives its data_offsets. */
static gc_status parse_entry(const cJSON *e, const char *path, uint64_t data_start, gc_tensor *t, gc_byte_range *r,
                             gc_error *err) {
    char what[160];
    const char *name = e->string;
    if (strlen(name) >= sizeof t->name)
        return gc_fail(err, GC_ERR_FORMAT, "%s: tensor name too long: %.100s...", path, name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsObject(e) || !cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
        cJSON_GetArraySize(offs) != 2)
        return gc_fail(err, GC_ERR_FORMAT, "%s: tensor '%s': header entry needs dtype, shape and data_offsets", path,
                       name);
    int64_t b, en, dims[4];
    int n_dims = cJSON_GetArraySize(shape);
    snprintf(what, sizeof what, "tensor '%s' data_offsets", name);
    gc_status s = gc_json_check_int(offs->child, 0, INT64_MAX / 2, path, what, &b, err);
    if (s == GC_OK)
        s = gc_json_check_int(offs->child->next, b, INT64_MAX / 2, path, what, &en, err);
    if (s != GC_OK)
        return s;
    uint64_t offset = data_start + (uint64_t)b; /* both < 2^62: no overflow; the range is checked at binding */
    gc_dtype dt;
    if (!parse_dtype(dtype->valuestring, &dt))
        return gc_fail(err, GC_ERR_UNSUPPORTED, "%s: tensor '%s' at offset %" PRIu64 ": unknown dtype '%.16s'", path,
                       name, offset, dtype->valuestring);
    if (n_dims < 1 || n_dims > 4)
        return gc_fail(err, GC_ERR_FORMAT, "%s: tensor '%s' at offset %" PRIu64 ": %d dimensions (1..4 supported)",
                       path, name, offset, n_dims);
    snprintf(what, sizeof what, "tensor '%s' at offset %" PRIu64 ": shape", name, offset);
    const cJSON *d = shape->child;
    for (int i = 0; i < n_dims; i++, d = d->next)
        if ((s = gc_json_check_int(d, 1, INT64_MAX / 2, path, what, &dims[i], err)) != GC_OK)
            return s;
    gc_tensor_describe(t, name, dt, n_dims, dims);
    *r = (gc_byte_range){offset, data_start + (uint64_t)en, e->string};
    return GC_OK;
}

/* Parses the header's entries and binds each tensor; the header JSON is already parsed. */
static gc_status read_entries(gc_model_file *m, const cJSON *hdr, const gc_mapped_file *map, const char *path,
                              uint64_t data_start, gc_error *err) {
    int n = cJSON_GetArraySize(hdr), n_ranges = 0;
    gc_byte_range *ranges = malloc((size_t)(n > 0 ? n : 1) * sizeof *ranges);
    if (!ranges)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory", path);
    gc_status s = GC_OK;
    for (const cJSON *e = hdr->child; e && s == GC_OK; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0)
            continue;
        gc_tensor t;
        gc_byte_range *r = &ranges[n_ranges];
        s = parse_entry(e, path, data_start, &t, r, err);
        if (s == GC_OK)
            s = gc_tensor_bind(&t, path, map, r->begin, r->end - r->begin, err);
        if (s == GC_OK && gc_model_find_tensor(m, t.name))
            s = gc_fail(err, GC_ERR_FORMAT, "%s: tensor '%s' appears twice", path, t.name);
        if (s == GC_OK)
            s = gc_model_add_tensor(m, &t, err);
        n_ranges++;
    }
    if (s == GC_OK)
        s = gc_check_overlaps(ranges, n_ranges, path, err);
    free(ranges);
    return s;
}

gc_status gc_safetensors_read(gc_model_file *m, const char *path, gc_error *err) {
    const gc_mapped_file *map;
    gc_status s = gc_model_map(m, path, &map, err);
    return s == GC_OK ? gc_safetensors_parse(m, path, map, err) : s;
}

gc_status gc_safetensors_parse(gc_model_file *m, const char *path, const gc_mapped_file *map, gc_error *err) {
    gc_status s;
    if (map->size < 8)
        return gc_fail(err, GC_ERR_FORMAT, "%s: %zu bytes is shorter than the 8-byte header length", path, map->size);
    uint64_t hlen;
    memcpy(&hlen, map->data, 8);
    if (hlen > map->size - 8 || hlen < 2)
        return gc_fail(err, GC_ERR_FORMAT,
                       "%s: header length %" PRIu64 " at offset 0 runs past the end of the file (%zu bytes)", path,
                       hlen, map->size);
    cJSON *hdr;
    if ((s = gc_json_parse((const char *)map->data + 8, (size_t)hlen, path, &hdr, err)) != GC_OK)
        return s;
    if (!cJSON_IsObject(hdr))
        s = gc_fail(err, GC_ERR_FORMAT, "%s: the header is not a JSON object", path);
    else
        s = read_entries(m, hdr, map, path, 8 + hlen, err);
    cJSON_Delete(hdr);
    return s;
}

static cJSON *entry_json(const gc_tensor *t, uint64_t begin, uint64_t end) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "dtype", gc_safetensors_dtype_name(t->dtype));
    cJSON *shape = cJSON_AddArrayToObject(e, "shape");
    for (int i = 0; i < t->n_dims; i++)
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[i]));
    cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
    cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)begin));
    cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)end));
    return e;
}

gc_status gc_safetensors_write_header(FILE *f, const char *path, const gc_tensor *tensors, int n, gc_error *err) {
    cJSON *hdr = cJSON_CreateObject();
    uint64_t pos = 0, nbytes;
    gc_status s = GC_OK;
    cJSON_AddItemToObject(hdr, "__metadata__", cJSON_Parse("{\"format\":\"pt\"}"));
    for (int i = 0; i < n && s == GC_OK; i++) {
        if (!gc_safetensors_dtype_name(tensors[i].dtype))
            s = gc_fail(err, GC_ERR_UNSUPPORTED, "%s: tensor '%s': safetensors cannot hold %s", path, tensors[i].name,
                        gc_dtype_name(tensors[i].dtype));
        else if ((s = gc_tensor_expected_bytes(&tensors[i], path, pos, &nbytes, err)) == GC_OK) {
            cJSON_AddItemToObject(hdr, tensors[i].name, entry_json(&tensors[i], pos, pos + nbytes));
            pos += nbytes;
        }
    }
    char *text = s == GC_OK ? cJSON_PrintUnformatted(hdr) : NULL;
    cJSON_Delete(hdr);
    if (s != GC_OK)
        return s;
    if (!text)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "%s: out of host memory", path);
    size_t len = strlen(text), padded = (len + 7) / 8 * 8; /* data starts 8-aligned */
    uint64_t hlen = padded;
    bool ok = fwrite(&hlen, 8, 1, f) == 1 && fwrite(text, 1, len, f) == len;
    for (size_t i = len; ok && i < padded; i++)
        ok = fputc(' ', f) != EOF;
    free(text);
    return ok ? GC_OK : gc_fail(err, GC_ERR_IO, "%s: write failed", path);
}
