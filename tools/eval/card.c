/* card.c - writes a calibrated filter layer and budget into a model card (the format of models/NAME.json). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "eval.h"

static cJSON *read_json(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return snprintf(err, errlen, "cannot open card '%s': %s", path, strerror(errno)), NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, got;
    do {
        if (cap - len < 4096) {
            char *b = realloc(buf, cap = cap * 2 + 4096);
            if (!b) {
                free(buf);
                fclose(f);
                return snprintf(err, errlen, "out of memory reading '%s'", path), NULL;
            }
            buf = b;
        }
        got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
    } while (got > 0);
    fclose(f);
    buf[len] = '\0';
    cJSON *o = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return snprintf(err, errlen, "card '%s' is not a JSON object", path), NULL;
    }
    return o;
}

static int shape_is(const cJSON *shapes, const char *key, int want) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(shapes, key);
    return cJSON_IsNumber(v) && v->valueint == want;
}

/* Whether the card's arch and shapes are the model's. */
static int eval_card_matches(const cJSON *card, const gemcl_model_info *info) {
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(card, "arch");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(card, "shapes");
    return cJSON_IsString(arch) && strcmp(arch->valuestring, info->arch) == 0 && shape_is(s, "n_layers", info->n_layers) &&
           shape_is(s, "n_embd", info->n_embd) && shape_is(s, "n_heads", info->n_heads) &&
           shape_is(s, "n_kv_heads", info->n_kv_heads) && shape_is(s, "head_dim", info->head_dim) &&
           shape_is(s, "n_ff", info->n_ff) && shape_is(s, "vocab_size", info->vocab_size);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The first card (names sorted) in dir whose shapes are the model's, or NULL. */
static cJSON *find_card(const char *dir, const gemcl_model_info *info) {
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d)
        return NULL;
    char *names[256] = {0};
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0 && (names[n] = strdup(e->d_name)))
            n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    cJSON *found = NULL;
    for (int i = 0; i < n; i++) {
        char path[4096], err[256];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        cJSON *c = found ? NULL : read_json(path, err, sizeof err);
        if (c && eval_card_matches(c, info))
            found = c;
        else
            cJSON_Delete(c);
        free(names[i]);
    }
    return found;
}

int eval_card_write(const char *out_path, const char *base_path, const char *models_dir, const gemcl_model_info *info,
                    int filter_layer, int budget, const char *note, char *err, size_t errlen) {
    struct stat st;
    cJSON *card = NULL;
    if (base_path)
        card = read_json(base_path, err, errlen);
    else if (stat(out_path, &st) == 0)
        card = read_json(base_path = out_path, err, errlen);
    else if (!(card = find_card(models_dir, info)))
        snprintf(err, errlen, "no model card in '%s' matches this model (%s, %d layers, width %d); give --card BASE",
                 models_dir ? models_dir : "(none)", info->arch, info->n_layers, info->n_embd);
    if (!card)
        return 1;
    if (base_path && !eval_card_matches(card, info)) {
        cJSON_Delete(card);
        return snprintf(err, errlen, "card '%s' does not describe this model (arch or shapes differ)", base_path), 1;
    }
    cJSON *g = cJSON_CreateObject();
    cJSON_AddNumberToObject(g, "filter_layer", filter_layer);
    cJSON_AddNumberToObject(g, "budget", budget);
    if (cJSON_GetObjectItemCaseSensitive(card, "gemfilter"))
        cJSON_ReplaceItemInObjectCaseSensitive(card, "gemfilter", g);
    else
        cJSON_AddItemToObject(card, "gemfilter", g);
    cJSON_DeleteItemFromObjectCaseSensitive(card, "gemfilter_calibration");
    cJSON_AddStringToObject(card, "gemfilter_calibration", note ? note : "");
    char *text = cJSON_Print(card);
    cJSON_Delete(card);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", out_path);
    FILE *f = text ? fopen(tmp, "wb") : NULL;
    int bad = !f || fputs(text, f) < 0 || fputc('\n', f) == EOF;
    if (f)
        bad |= fclose(f) != 0;
    free(text);
    if (bad || rename(tmp, out_path) != 0) {
        remove(tmp);
        return snprintf(err, errlen, "cannot write card '%s': %s", out_path, strerror(errno)), 1;
    }
    return 0;
}
