/* haystack.c - the needle-in-a-haystack prompt in token space (docs/METHODS.md, gkamradt's insert_needle). */
#include <ctype.h>
#include <stdbool.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "eval.h"

const char *eval_default_haystack(const char *source_dir) {
    static char paths[3][4096];
    const char *shared = getenv("GEMCL_SHARED");
    snprintf(paths[0], sizeof paths[0], "%s/data/paul-graham-essays", shared && *shared ? shared : "/nonexistent");
    snprintf(paths[1], sizeof paths[1], "%s/../shared/data/paul-graham-essays", source_dir ? source_dir : ".");
    snprintf(paths[2], sizeof paths[2], "../shared/data/paul-graham-essays");
    struct stat st;
    for (int i = 0; i < 3; i++)
        if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode))
            return paths[i];
    return NULL;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The sorted "*.txt" names of dir: a malloc'd array of malloc'd names. */
static int list_txt(const char *dir, char ***names, int *n, char *err, size_t errlen) {
    DIR *d = opendir(dir);
    if (!d)
        return snprintf(err, errlen, "cannot open haystack directory '%s': %s", dir, strerror(errno)), 1;
    char **arr = NULL;
    int k = 0, cap = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!ends_with(e->d_name, ".txt") || e->d_name[0] == '.')
            continue;
        if (k == cap) {
            char **a = realloc(arr, (size_t)(cap = cap ? cap * 2 : 64) * sizeof *a);
            if (!a) {
                rc = 1;
                break;
            }
            arr = a;
        }
        if (!(arr[k] = strdup(e->d_name))) {
            rc = 1;
            break;
        }
        k++;
    }
    closedir(d);
    if (rc) {
        for (int i = 0; i < k; i++)
            free(arr[i]);
        free(arr);
        return snprintf(err, errlen, "out of memory listing '%s'", dir), 1;
    }
    qsort(arr, (size_t)k, sizeof *arr, cmp_names);
    *names = arr;
    *n = k;
    return 0;
}

static int append_file(const char *path, char **buf, size_t *len, size_t *cap, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno)), 1;
    for (;;) {
        if (*cap - *len < 65536 + 1) {
            char *b = realloc(*buf, *cap = *cap * 2 + 65536 + 1);
            if (!b) {
                fclose(f);
                return snprintf(err, errlen, "out of memory reading '%s'", path), 1;
            }
            *buf = b;
        }
        size_t got = fread(*buf + *len, 1, 65536, f);
        *len += got;
        if (got < 65536)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return snprintf(err, errlen, "cannot read '%s'", path), 1;
    (*buf)[*len] = '\0';
    return 0;
}

int eval_haystack_read(const char *dir, char **text, size_t *len, char *err, size_t errlen) {
    char **names = NULL;
    int n = 0;
    *text = NULL;
    *len = 0;
    if (list_txt(dir, &names, &n, err, errlen))
        return 1;
    char *buf = NULL;
    size_t blen = 0, cap = 0;
    int rc = n == 0 ? (snprintf(err, errlen, "no .txt files in haystack directory '%s'", dir), 1) : 0;
    for (int i = 0; i < n && !rc; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        rc = append_file(path, &buf, &blen, &cap, err, errlen);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (!rc && blen == 0)
        rc = (snprintf(err, errlen, "the haystack files in '%s' are empty", dir), 1);
    if (rc) {
        free(buf);
        return 1;
    }
    *text = buf;
    *len = blen;
    return 0;
}

int eval_insert_needles(const int32_t *hay, int n_hay, const int32_t *const *needles, const int *n_needles, int k,
                        const int *depths, eval_is_period_fn is_period, void *user, int32_t *out, int *at, char *err,
                        size_t errlen) {
    int o = 0, from = 0; /* tokens written to out; haystack tokens copied so far */
    for (int i = 0; i < k; i++) {
        if (depths[i] < 0 || depths[i] > 100)
            return snprintf(err, errlen, "depth %d is outside 0..100", depths[i]), 1;
        if (i && depths[i] < depths[i - 1])
            return snprintf(err, errlen, "needle depths must be ascending (%d after %d)", depths[i], depths[i - 1]), 1;
        int p = n_hay;
        if (depths[i] < 100) {
            p = (int)(n_hay * (depths[i] / 100.0)); /* int(len * (depth / 100)), the reference's float arithmetic */
            while (p > 0 && !is_period(hay[p - 1], user))
                p--;
        }
        if (p < from) /* snapped back before the previous needle: it goes right after it */
            p = from;
        memcpy(out + o, hay + from, (size_t)(p - from) * sizeof *out);
        o += p - from;
        at[i] = o;
        memcpy(out + o, needles[i], (size_t)n_needles[i] * sizeof *out);
        o += n_needles[i];
        from = p;
    }
    memcpy(out + o, hay + from, (size_t)(n_hay - from) * sizeof *out);
    return 0;
}

int eval_insert_needle(const int32_t *hay, int n_hay, const int32_t *needle, int n_needle, int n_context,
                       int depth, eval_is_period_fn is_period, void *user, int32_t *out, int *needle_at,
                       char *err, size_t errlen) {
    int n_keep = n_context - n_needle; /* haystack tokens in the context */
    if (n_needle < 1 || n_keep < 1)
        return snprintf(err, errlen, "a context of %d tokens has no room for the needle's %d", n_context, n_needle),
               1;
    if (n_hay < n_keep)
        return snprintf(err, errlen, "the haystack has %d tokens, %d needed", n_hay, n_keep), 1;
    return eval_insert_needles(hay, n_keep, &needle, &n_needle, 1, &depth, is_period, user, out, needle_at, err,
                               errlen);
}

/* ---- the task: template pieces, haystack and needle as tokens ---- */

int eval_tokenize(gemcl_model *m, const char *text, int bos, int special, int32_t **ids, int *n, char *err,
                  size_t errlen) {
    char e[1024];
    *ids = NULL;
    *n = 0;
    if (!*text && !bos)
        return 0;
    if (gemcl_tokenize(m, text, strlen(text), bos, special, ids, n, e, sizeof e) != GEMCL_OK)
        return snprintf(err, errlen, "%s", e), 1;
    return 0;
}

/* A sentence end: the token's text with the whitespace trimmed is "." (the reference compares with the ids
 * of encode("."); trimming also accepts "▁." and ".\n" pieces, so any tokenizer finds its sentence ends). */
int eval_task_is_period(int32_t id, void *task) {
    eval_task *t = task;
    if (id < 0 || id >= t->vocab)
        return 0;
    if (t->period[id] < 0) {
        char *text = NULL;
        size_t len = 0;
        char e[256];
        int yes = 0;
        if (gemcl_detokenize(t->model, &id, 1, &text, &len, e, sizeof e) == GEMCL_OK) {
            size_t a = 0, b = len;
            while (a < b && isspace((unsigned char)text[a]))
                a++;
            while (b > a && isspace((unsigned char)text[b - 1]))
                b--;
            yes = b - a == 1 && text[a] == '.';
        }
        gemcl_free(text);
        t->period[id] = (int8_t)yes;
    }
    return t->period[id];
}

int eval_split_template(const char *tmpl, const char *question, char **before, char **after, char *err,
                          size_t errlen) {
    const char *ctx = strstr(tmpl, "{context}");
    *before = *after = NULL;
    if (!ctx)
        return snprintf(err, errlen, "the template has no {context}"), 1;
    const char *rest = ctx + strlen("{context}");
    const char *q = strstr(rest, "{question}");
    size_t lb = (size_t)(ctx - tmpl), lq = strlen(question), lr = strlen(rest);
    *before = malloc(lb + 1);
    *after = malloc(lr + lq + 1);
    if (!*before || !*after) {
        free(*before), free(*after);
        *before = *after = NULL;
        return snprintf(err, errlen, "out of memory"), 1;
    }
    memcpy(*before, tmpl, lb);
    (*before)[lb] = '\0';
    if (q) {
        size_t pre = (size_t)(q - rest);
        memcpy(*after, rest, pre);
        memcpy(*after + pre, question, lq);
        strcpy(*after + pre + lq, q + strlen("{question}"));
    } else {
        memcpy(*after, rest, lr + 1);
    }
    return 0;
}

/* Haystack tokens: the essays (or the passkey filler, repeated) tokenized once. */
static int task_haystack(eval_task *t, const eval_task_params *p, char *err, size_t errlen) {
    if (p->kind == EVAL_TASK_PASSKEY)
        return eval_tokenize(t->model, EVAL_PASSKEY_FILLER, 0, 0, &t->hay, &t->n_hay, err, errlen);
    char *text = NULL;
    size_t len = 0;
    if (!p->haystack_dir)
        return snprintf(err, errlen, "no haystack directory (--haystack DIR)"), 1;
    if (eval_haystack_read(p->haystack_dir, &text, &len, err, errlen))
        return 1;
    int rc = eval_tokenize(t->model, text, 0, 0, &t->hay, &t->n_hay, err, errlen);
    free(text);
    if (!rc && t->n_hay == 0)
        rc = (snprintf(err, errlen, "the haystack in '%s' has no tokens", p->haystack_dir), 1);
    return rc;
}

/* Where the task's prompt sits in the model's chat template: the rendered chat text before and after the
 * user message (malloc'd; both empty for raw, or when "model" is asked of a model with no known template). */
static int chat_frame(eval_task *t, const eval_task_params *p, char **before, char **after, char *err,
                      size_t errlen) {
    bool own = p->chat_template && strcmp(p->chat_template, "model") == 0;
    const char *family = own ? gemcl_model_chat_template(t->model) : p->chat_template;
    *before = *after = NULL;
    snprintf(t->prompt_template, sizeof t->prompt_template, "raw");
    if (!family || (own && strcmp(family, "unknown") == 0)) {
        *before = strdup(""), *after = strdup("");
        return *before && *after ? 0 : (snprintf(err, errlen, "out of memory"), 1);
    }
    gemcl_chat_message m = {"user", "\x01"}; /* a placeholder no template contains */
    char e[1024], *text;
    if (gemcl_chat_apply_template(t->model, own ? NULL : family, &m, 1, 1, &text, NULL, e, sizeof e) != GEMCL_OK)
        return snprintf(err, errlen, "%s", e), 1;
    char *at = strchr(text, '\x01');
    *at = '\0';
    *before = strdup(text), *after = strdup(at + 1);
    gemcl_free(text);
    if (!*before || !*after)
        return snprintf(err, errlen, "out of memory"), 1;
    snprintf(t->prompt_template, sizeof t->prompt_template, "chat:%s", family);
    return 0;
}

/* *ids (n) followed by the tokens of text (special tokens parsed when special). */
static int append_tokens(gemcl_model *m, const char *text, int bos, int special, int32_t **ids, int *n, char *err,
                         size_t errlen) {
    int32_t *more;
    int n_more;
    if (eval_tokenize(m, text, bos, special, &more, &n_more, err, errlen))
        return 1;
    int32_t *all = malloc((size_t)(*n + n_more + 1) * sizeof *all);
    if (!all) {
        gemcl_free(more);
        return snprintf(err, errlen, "out of memory"), 1;
    }
    if (*n)
        memcpy(all, *ids, (size_t)*n * sizeof *all);
    if (n_more)
        memcpy(all + *n, more, (size_t)n_more * sizeof *all);
    gemcl_free(*ids);
    gemcl_free(more);
    *ids = all;
    *n += n_more;
    return 0;
}

int eval_task_init(eval_task *t, gemcl_model *model, const eval_task_params *p, char *err, size_t errlen) {
    memset(t, 0, sizeof *t);
    t->model = model;
    t->kind = p->kind;
    t->seed = p->seed;
    bool passkey = p->kind == EVAL_TASK_PASSKEY;
    const char *question = p->question ? p->question : passkey ? EVAL_PASSKEY_QUESTION : EVAL_QUESTION;
    const char *tmpl = p->template_text ? p->template_text : passkey ? EVAL_PASSKEY_TEMPLATE : EVAL_TEMPLATE;
    snprintf(t->expected, sizeof t->expected, "%s", p->expected ? p->expected : EVAL_EXPECTED);
    gemcl_model_info info;
    if (gemcl_model_get_info(model, &info) != GEMCL_OK)
        return snprintf(err, errlen, "cannot read the model's info"), 1;
    t->vocab = info.vocab_size;
    if (!(t->period = malloc((size_t)t->vocab)))
        return snprintf(err, errlen, "out of memory"), 1;
    memset(t->period, -1, (size_t)t->vocab);
    /* prefix = chat text before the user message (special tokens) + task template before {context}; suffix =
     * task template after it + chat text after the user message. The task's own text is never special-parsed
     * (GemFilter's template writes <|im_start|> as literal text). */
    char *before = NULL, *after = NULL, *chat_before = NULL, *chat_after = NULL;
    int rc = chat_frame(t, p, &chat_before, &chat_after, err, errlen);
    if (!rc)
        rc = eval_split_template(tmpl, question, &before, &after, err, errlen);
    if (!rc)
        rc = eval_tokenize(model, chat_before, -1, 1, &t->prefix, &t->n_prefix, err, errlen);
    if (!rc)
        rc = append_tokens(model, before, 0, 0, &t->prefix, &t->n_prefix, err, errlen);
    if (!rc)
        rc = eval_tokenize(model, after, 0, 0, &t->suffix, &t->n_suffix, err, errlen);
    if (!rc)
        rc = append_tokens(model, chat_after, 0, 1, &t->suffix, &t->n_suffix, err, errlen);
    free(chat_before);
    free(chat_after);
    if (!rc && !passkey) {
        rc = eval_tokenize(model, p->needle ? p->needle : EVAL_NEEDLE, 0, 0, &t->needle, &t->n_needle, err, errlen);
        if (!rc && t->n_needle == 0)
            rc = (snprintf(err, errlen, "the needle is empty"), 1);
    }
    if (!rc)
        rc = task_haystack(t, p, err, errlen);
    free(before);
    free(after);
    if (rc)
        eval_task_free(t);
    return rc;
}

void eval_task_free(eval_task *t) {
    if (!t)
        return;
    gemcl_free(t->hay);
    gemcl_free(t->prefix);
    gemcl_free(t->suffix);
    gemcl_free(t->needle);
    free(t->period);
    memset(t, 0, sizeof *t);
}

uint64_t eval_splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

int eval_passkey(uint64_t seed, int length, int depth) {
    uint64_t state = seed ^ ((uint64_t)(uint32_t)length << 20) ^ (uint64_t)(uint32_t)depth;
    return 10000 + (int)(eval_splitmix64(&state) % 90000);
}

int32_t *eval_cycle_tokens(const int32_t *src, int n_src, int n) {
    int32_t *h = malloc((size_t)(n > 0 ? n : 1) * sizeof *h);
    for (int i = 0; h && i < n; i += n_src)
        memcpy(h + i, src, (size_t)(n - i < n_src ? n - i : n_src) * sizeof *h);
    return h;
}

int eval_build_prompt(eval_task *t, int length, int depth, eval_prompt *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    int32_t *needle = t->needle, *own_needle = NULL;
    int n_needle = t->n_needle;
    if (t->kind == EVAL_TASK_PASSKEY) {
        char line[128];
        out->passkey = eval_passkey(t->seed, length, depth);
        snprintf(line, sizeof line, EVAL_PASSKEY_LINE, out->passkey, out->passkey);
        if (eval_tokenize(t->model, line, 0, 0, &own_needle, &n_needle, err, errlen))
            return 1;
        needle = own_needle;
    }
    int n_context = length - EVAL_BUFFER_TOKENS;
    if (n_context <= n_needle) {
        gemcl_free(own_needle);
        return snprintf(err, errlen, "length %d leaves %d tokens after the %d-token buffer, not enough for the "
                        "%d-token needle", length, n_context, EVAL_BUFFER_TOKENS, n_needle), 1;
    }
    int n = t->n_prefix + n_context + t->n_suffix;
    int32_t *hay = eval_cycle_tokens(t->hay, t->n_hay, n_context - n_needle);
    out->ids = malloc((size_t)n * sizeof *out->ids);
    int rc = !hay || !out->ids ? (snprintf(err, errlen, "out of memory for a %d-token prompt", n), 1) : 0;
    int at = 0;
    if (!rc)
        rc = eval_insert_needle(hay, n_context - n_needle, needle, n_needle, n_context, depth, eval_task_is_period, t,
                                out->ids + t->n_prefix, &at, err, errlen);
    free(hay);
    if (!rc) {
        memcpy(out->ids, t->prefix, (size_t)t->n_prefix * sizeof *out->ids);
        memcpy(out->ids + t->n_prefix + n_context, t->suffix, (size_t)t->n_suffix * sizeof *out->ids);
        out->n = n;
        out->needle_at = t->n_prefix + at;
        out->needle_len = n_needle;
    }
    gemcl_free(own_needle);
    if (rc)
        eval_prompt_free(out);
    return rc;
}

void eval_prompt_free(eval_prompt *p) {
    if (!p)
        return;
    free(p->ids);
    memset(p, 0, sizeof *p);
}
