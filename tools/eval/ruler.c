/* ruler.c - RULER's synthetic tasks (eval.h) as exact-length token prompts, and RULER's string-match score. */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"

/* Words and keys of the essays longer than this are skipped (cwe items and keys stay short). */
#ifndef RULER_WORD_MAX
#define RULER_WORD_MAX 12
#endif
#ifndef RULER_WORD_MIN
#define RULER_WORD_MIN 3
#endif

enum { NIAH_SINGLE_ESSAY, NIAH_SINGLE_NOISE, NIAH_MULTIKEY, NIAH_MULTIVALUE, NIAH_MULTIQUERY, VT, CWE };

static const struct {
    const char *name;
    int max_new_tokens; /* RULER's tokens_to_generate */
} tasks[RULER_N_TASKS] = {
    {"niah_single_essay", 128}, {"niah_single_noise", 128}, {"niah_multikey", 128}, {"niah_multivalue", 128},
    {"niah_multiquery", 128},   {"vt", 30},                 {"cwe", 120},
};

const char *ruler_task_name(int task) {
    return task >= 0 && task < RULER_N_TASKS ? tasks[task].name : NULL;
}

int ruler_task_from_name(const char *name) {
    for (int i = 0; i < RULER_N_TASKS; i++)
        if (strcmp(tasks[i].name, name) == 0)
            return i;
    return -1;
}

int ruler_max_new_tokens(int task) {
    return task >= 0 && task < RULER_N_TASKS ? tasks[task].max_new_tokens : 0;
}

int ruler_parse_tasks(const char *spec, int *out, int *n, char *err, size_t errlen) {
    *n = 0;
    if (spec && strcmp(spec, "all") == 0) {
        for (int i = 0; i < RULER_N_TASKS; i++)
            out[(*n)++] = i;
        return 0;
    }
    const char *p = spec ? spec : "";
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), p);
        int t = len < sizeof name ? ruler_task_from_name(name) : -1;
        if (t < 0) {
            char names[256] = "";
            for (int i = 0; i < RULER_N_TASKS; i++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", tasks[i].name);
            return snprintf(err, errlen, "unknown task '%.*s' (want all or a list of: %s)", (int)len, p, names), 1;
        }
        bool dup = false;
        for (int i = 0; i < *n; i++)
            dup |= out[i] == t;
        if (!dup)
            out[(*n)++] = t;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

/* ---- scoring ---- */

/* strstr, ASCII case-insensitive. */
static bool contains_nocase(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (const char *h = hay; *h; h++) {
        size_t i = 0;
        while (i < n && h[i] && tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return true;
    }
    return n == 0;
}

double ruler_score(const char *answer, const char *const *expected, int n) {
    if (n <= 0)
        return 0.0;
    int hits = 0;
    for (int i = 0; i < n; i++)
        hits += contains_nocase(answer ? answer : "", expected[i]);
    return (double)hits / n;
}

/* ---- the run's fixed parts ---- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool word_char(char c) {
    return isalpha((unsigned char)c) || (unsigned char)c >= 0x80 || c == '\'';
}

/* The distinct lower-case words of text (runs of ASCII letters, RULER_WORD_MIN..RULER_WORD_MAX long), sorted, so
 * that a seed picks the same words whatever order the essays list them in. */
static int collect_words(ruler_ctx *r, const char *text, size_t len, char *err, size_t errlen) {
    r->word_text = malloc(len + 1);
    r->words = malloc((len / (RULER_WORD_MIN + 1) + 1) * sizeof *r->words);
    if (!r->word_text || !r->words)
        return snprintf(err, errlen, "out of memory"), 1;
    size_t o = 0;
    int n = 0;
    for (size_t i = 0; i < len;) {
        if (!word_char(text[i])) {
            i++;
            continue;
        }
        size_t j = i;
        bool plain = true; /* ASCII letters only: no "don't", no fragment of a word with an accent */
        for (; j < len && word_char(text[j]); j++)
            plain &= isalpha((unsigned char)text[j]) && (unsigned char)text[j] < 0x80;
        if (plain && j - i >= RULER_WORD_MIN && j - i <= RULER_WORD_MAX) {
            r->words[n++] = r->word_text + o;
            for (size_t k = i; k < j; k++)
                r->word_text[o++] = (char)tolower((unsigned char)text[k]);
            r->word_text[o++] = '\0';
        }
        i = j;
    }
    qsort(r->words, (size_t)n, sizeof *r->words, cmp_str);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (k == 0 || strcmp(r->words[k - 1], r->words[i]) != 0)
            r->words[k++] = r->words[i];
    r->n_words = k;
    /* cwe needs num_cw + its rarer words, the keys 2 per needle: far fewer than any essay collection has */
    if (k < 4 * RULER_CWE_COMMON)
        return snprintf(err, errlen, "the essays have only %d distinct words (want %d at least)", k,
                        4 * RULER_CWE_COMMON), 1;
    return 0;
}

int ruler_init(ruler_ctx *r, gemcl_model *model, const char *essays_dir, const char *chat_template, uint64_t seed,
               char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    r->seed = seed;
    /* the needle task's machinery with "{context}" as the whole template: essays as tokens, the chat frame around
     * the user message as prefix and suffix, the period table */
    eval_task_params tp = {EVAL_TASK_NEEDLE, essays_dir, NULL, "", "{context}", NULL, seed, chat_template};
    if (eval_task_init(&r->base, model, &tp, err, errlen))
        return 1;
    char *text = NULL;
    size_t len = 0;
    int rc = eval_tokenize(model, RULER_NOISE, 0, 0, &r->noise, &r->n_noise, err, errlen);
    if (!rc && r->n_noise == 0)
        rc = (snprintf(err, errlen, "the noise sentence has no tokens"), 1);
    if (!rc)
        rc = eval_haystack_read(essays_dir, &text, &len, err, errlen);
    if (!rc)
        rc = collect_words(r, text, len, err, errlen);
    free(text);
    if (rc)
        ruler_free(r);
    return rc;
}

void ruler_free(ruler_ctx *r) {
    if (!r)
        return;
    eval_task_free(&r->base);
    gemcl_free(r->noise);
    free(r->words);
    free(r->word_text);
    memset(r, 0, sizeof *r);
}

void ruler_sample_free(ruler_sample *s) {
    if (!s)
        return;
    free(s->ids);
    for (int i = 0; i < s->n_expected; i++)
        free(s->expected[i]);
    memset(s, 0, sizeof *s);
}

/* ---- one sample ---- */

static uint64_t rng_next(uint64_t *state) {
    return eval_splitmix64(state);
}

/* Uniform in [0, n). */
static int rng_below(uint64_t *state, int n) {
    return (int)(rng_next(state) % (uint64_t)n);
}

/* k distinct indices of [0, n) (k <= n), in the order drawn (a partial Fisher-Yates over idx[n]). */
static void rng_choose(uint64_t *state, int *idx, int n, int k) {
    for (int i = 0; i < n; i++)
        idx[i] = i;
    for (int i = 0; i < k; i++) {
        int j = i + rng_below(state, n - i), t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

/* What a task's sample is made of, as text: the template around {context}, the answer prefix, the lines hidden in
 * the haystack (or cwe's list), the answers. */
typedef struct spec {
    char tmpl[1024];       /* with {context} */
    char answer_prefix[512];
    char needles[RULER_MAX_EXPECTED][160];
    int n_needles;
    bool noise;            /* the haystack is RULER_NOISE repeated, else the essays */
    char expected[RULER_MAX_EXPECTED][64];
    int n_expected;
} spec;

static void random_key(const ruler_ctx *r, uint64_t *st, char *out, size_t cap) {
    snprintf(out, cap, "%s-%s", r->words[rng_below(st, r->n_words)], r->words[rng_below(st, r->n_words)]);
}

static void random_uuid(uint64_t *st, char *out, size_t cap) {
    uint64_t a = rng_next(st), b = rng_next(st);
    snprintf(out, cap, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xFFFFu,
             (unsigned)a & 0xFFFu, (unsigned)(0x8000u | ((b >> 48) & 0x3FFFu)),
             (unsigned long long)(b & 0xFFFFFFFFFFFFULL));
}

/* RULER's niah template; with one answer (one key asked, one value) its singular form (RULER's replacements of
 * "Some" -> "A", "are all" / "are" -> "is", and the value type without its "s"). */
static void niah_spec(const ruler_ctx *r, int task, uint64_t *st, spec *s) {
    bool uuid = task == NIAH_SINGLE_NOISE;
    int n_keys = task == NIAH_MULTIKEY || task == NIAH_MULTIQUERY ? RULER_NEEDLES : 1;
    int n_values = task == NIAH_MULTIVALUE ? RULER_NEEDLES : 1;
    int n_asked = task == NIAH_MULTIQUERY ? RULER_NEEDLES : 1;
    const char *type = uuid ? "uuids" : "numbers";
    char keys[RULER_NEEDLES][64], query[512] = "";
    for (int i = 0; i < n_keys; i++) {
        bool fresh;
        do { /* distinct keys: a repeated key would make two answers right */
            random_key(r, st, keys[i], sizeof keys[i]);
            fresh = true;
            for (int j = 0; j < i; j++)
                fresh &= strcmp(keys[i], keys[j]) != 0;
        } while (!fresh);
    }
    s->noise = task == NIAH_SINGLE_NOISE;
    for (int k = 0; k < n_keys; k++)
        for (int v = 0; v < n_values; v++) {
            char value[64];
            if (uuid)
                random_uuid(st, value, sizeof value);
            else
                snprintf(value, sizeof value, "%d", 1000000 + rng_below(st, 9000000)); /* 7 digits */
            snprintf(s->needles[s->n_needles++], sizeof s->needles[0], " One of the special magic %s for %s is: %s.",
                     type, keys[k], value);
            if (k < n_asked)
                snprintf(s->expected[s->n_expected++], sizeof s->expected[0], "%s", value);
        }
    for (int i = 0; i < n_asked; i++) /* RULER: ", ".join(keys[:-1]) + ", and " + keys[-1] */
        snprintf(query + strlen(query), sizeof query - strlen(query), "%s%s", i == 0 ? "" : i == n_asked - 1 ? ", and " : ", ",
                 keys[i]);
    if (s->n_expected == 1) {
        char one[16];
        snprintf(one, sizeof one, "%.*s", (int)strlen(type) - 1, type);
        snprintf(s->tmpl, sizeof s->tmpl,
                 "A special magic %s is hidden within the following text. Make sure to memorize it. I will quiz you "
                 "about the %s afterwards.\n{context}\nWhat is the special magic %s for %s mentioned in the provided "
                 "text?", one, one, one, query);
        snprintf(s->answer_prefix, sizeof s->answer_prefix,
                 " The special magic %s for %s mentioned in the provided text is", one, query);
    } else {
        snprintf(s->tmpl, sizeof s->tmpl,
                 "Some special magic %s are hidden within the following text. Make sure to memorize it. I will quiz "
                 "you about the %s afterwards.\n{context}\nWhat are all the special magic %s for %s mentioned in the "
                 "provided text?", type, type, type, query);
        snprintf(s->answer_prefix, sizeof s->answer_prefix,
                 " The special magic %s for %s mentioned in the provided text are", type, query);
    }
}

/* RULER's variable tracking: one chain of RULER_VT_HOPS + 1 five-letter variables from a 5-digit value. */
static void vt_spec(uint64_t *st, spec *s) {
    char vars[RULER_VT_HOPS + 1][8];
    int value = 10000 + rng_below(st, 89999); /* np.random.randint(10000, 99999) */
    for (int i = 0; i <= RULER_VT_HOPS; i++) {
        bool fresh;
        do {
            for (int c = 0; c < 5; c++)
                vars[i][c] = (char)('A' + rng_below(st, 26));
            vars[i][5] = '\0';
            fresh = true;
            for (int j = 0; j < i; j++)
                fresh &= strcmp(vars[i], vars[j]) != 0;
        } while (!fresh);
        if (i == 0)
            snprintf(s->needles[i], sizeof s->needles[i], "\nVAR %s = %d\n", vars[i], value);
        else
            snprintf(s->needles[i], sizeof s->needles[i], "\nVAR %s = VAR %s\n", vars[i], vars[i - 1]);
        snprintf(s->expected[i], sizeof s->expected[i], "%s", vars[i]);
    }
    s->n_needles = s->n_expected = RULER_VT_HOPS + 1;
    s->noise = true;
    snprintf(s->tmpl, sizeof s->tmpl,
             "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n{context}\n"
             "Question: Find all variables that are assigned the value %d in the text above.", value);
    /* "assgined" is RULER's spelling */
    snprintf(s->answer_prefix, sizeof s->answer_prefix,
             " Answer: According to the chain(s) of variable assignment in the text above, %d variables are assgined "
             "the value %d, they are: ", RULER_VT_HOPS + 1, value);
}

static void cwe_spec(spec *s) {
    snprintf(s->tmpl, sizeof s->tmpl,
             "Below is a numbered list of words. In these words, some appear more often than others. Memorize the "
             "ones that appear most often.\n{context}\nQuestion: What are the %d most common words in the above "
             "list?", RULER_CWE_COMMON);
    snprintf(s->answer_prefix, sizeof s->answer_prefix,
             " Answer: The top %d words that appear most often in the list are:", RULER_CWE_COMMON);
}

/* ids (n) += the tokens of text. */
static int append_text(gemcl_model *m, const char *text, int special, int32_t **ids, int *n, int *cap, char *err,
                       size_t errlen) {
    int32_t *more;
    int n_more;
    if (eval_tokenize(m, text, 0, special, &more, &n_more, err, errlen))
        return 1;
    if (*n + n_more > *cap) {
        int32_t *a = realloc(*ids, (size_t)(*cap = (*n + n_more) * 2 + 64) * sizeof *a);
        if (!a) {
            gemcl_free(more);
            return snprintf(err, errlen, "out of memory"), 1;
        }
        *ids = a;
    }
    if (n_more)
        memcpy(*ids + *n, more, (size_t)n_more * sizeof *more);
    *n += n_more;
    gemcl_free(more);
    return 0;
}

static int append_ids(const int32_t *src, int n_src, int32_t **ids, int *n, int *cap, char *err, size_t errlen) {
    if (*n + n_src > *cap) {
        int32_t *a = realloc(*ids, (size_t)(*cap = (*n + n_src) * 2 + 64) * sizeof *a);
        if (!a)
            return snprintf(err, errlen, "out of memory"), 1;
        *ids = a;
    }
    if (n_src)
        memcpy(*ids + *n, src, (size_t)n_src * sizeof *src);
    *n += n_src;
    return 0;
}

/* The haystack with the spec's needles at RULER's depths: exactly n_context tokens into ids. */
static int niah_context(ruler_ctx *r, const spec *s, uint64_t *st, int n_context, ruler_sample *out, int32_t **ids,
                        int *n, int *cap, char *err, size_t errlen) {
    int32_t *needle[RULER_MAX_EXPECTED] = {0};
    int n_needle[RULER_MAX_EXPECTED] = {0}, total = 0, rc = 0;
    for (int i = 0; i < s->n_needles && !rc; i++) {
        rc = eval_tokenize(r->base.model, s->needles[i], 0, 0, &needle[i], &n_needle[i], err, errlen);
        total += n_needle[i];
    }
    int n_hay = n_context - total;
    if (!rc && n_hay < 1)
        rc = (snprintf(err, errlen, "%d context tokens have no room for the %d tokens of the needles", n_context,
                       total), 1);
    int depths[RULER_MAX_EXPECTED], pick[40], grid[40];
    if (!rc) { /* RULER: random.sample(DEPTHS, len(needles)), sorted */
        eval_linspace(0, 100, 40, grid);
        rng_choose(st, pick, 40, s->n_needles);
        for (int i = 0; i < s->n_needles; i++) {
            int d = grid[pick[i]], j = i;
            while (j > 0 && depths[j - 1] > d)
                depths[j] = depths[j - 1], j--;
            depths[j] = d;
        }
    }
    int32_t *hay = NULL;
    if (!rc && !(hay = s->noise ? eval_cycle_tokens(r->noise, r->n_noise, n_hay)
                                : eval_cycle_tokens(r->base.hay, r->base.n_hay, n_hay)))
        rc = (snprintf(err, errlen, "out of memory"), 1);
    if (!rc && *n + n_context > *cap) {
        int32_t *a = realloc(*ids, (size_t)(*cap = *n + n_context + 64) * sizeof *a);
        rc = a ? 0 : (snprintf(err, errlen, "out of memory"), 1);
        if (a)
            *ids = a;
    }
    if (!rc)
        rc = eval_insert_needles(hay, n_hay, (const int32_t *const *)needle, n_needle, s->n_needles, depths,
                                 eval_task_is_period, &r->base, *ids + *n, out->at, err, errlen);
    if (!rc) {
        for (int i = 0; i < s->n_needles; i++) {
            out->at[i] += *n;
            out->len[i] = n_needle[i];
        }
        out->n_spans = s->n_needles;
        *n += n_context;
    }
    free(hay);
    for (int i = 0; i < s->n_needles; i++)
        gemcl_free(needle[i]);
    return rc;
}

/* cwe's list with n_rare rarer words: "1. w 2. w ..." over RULER_CWE_COMMON words freq times and n_rare words
 * rare_freq times, shuffled; malloc'd. */
static char *cwe_list(const ruler_ctx *r, const int *words, int n_rare, int freq, int rare_freq, uint64_t seed) {
    int n = RULER_CWE_COMMON * freq + n_rare * rare_freq;
    int *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    size_t cap = (size_t)n * (RULER_WORD_MAX + 12) + 1;
    char *text = malloc(cap);
    if (!order || !text) {
        free(order), free(text);
        return NULL;
    }
    int k = 0;
    for (int w = 0; w < RULER_CWE_COMMON + n_rare; w++)
        for (int c = 0; c < (w < RULER_CWE_COMMON ? freq : rare_freq); c++)
            order[k++] = words[w];
    uint64_t st = seed; /* the same shuffle for a given size, whatever the search tried before */
    for (int i = n - 1; i > 0; i--) {
        int j = rng_below(&st, i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    size_t o = 0;
    text[0] = '\0';
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(text + o, cap - o, "%s%d. %s", i ? " " : "", i + 1, r->words[order[i]]);
    free(order);
    return text;
}

/* RULER's cwe: the most rarer words whose list fits n_context tokens (a binary search, as RULER searches its
 * num_words), then "\n" tokens up to exactly n_context. Short contexts lower the repeats (RULER's 30 and 3) until
 * the common words alone fit in half. */
static int cwe_context(ruler_ctx *r, spec *s, uint64_t *st, int n_context, int32_t **ids, int *n, int *cap,
                       char *err, size_t errlen) {
    int *words = malloc((size_t)r->n_words * sizeof *words);
    if (!words)
        return snprintf(err, errlen, "out of memory"), 1;
    rng_choose(st, words, r->n_words, r->n_words);
    uint64_t shuffle_seed = rng_next(st);
    int freq = RULER_CWE_FREQ, rare_freq = RULER_CWE_RARE_FREQ, rc = 0, best = -1;
    int32_t *toks = NULL, *best_toks = NULL;
    int n_toks = 0, n_best = 0;
    for (;;) { /* the repeats: the common words' list must take at most half the context */
        char *text = cwe_list(r, words, 0, freq, rare_freq, shuffle_seed);
        rc = text ? eval_tokenize(r->base.model, text, 0, 0, &toks, &n_toks, err, errlen)
                  : (snprintf(err, errlen, "out of memory"), 1);
        free(text);
        if (rc)
            break;
        gemcl_free(toks);
        toks = NULL;
        if (2 * n_toks <= n_context || freq <= 2)
            break;
        freq = freq * 2 / 3 > 2 ? freq * 2 / 3 : 2;
        rare_freq = freq > 3 * RULER_CWE_RARE_FREQ ? RULER_CWE_RARE_FREQ : 1;
    }
    int lo = 0, hi = r->n_words - RULER_CWE_COMMON;
    if (hi > n_context / (2 * rare_freq)) /* an item is 2 tokens at least: no need to try more */
        hi = n_context / (2 * rare_freq);
    while (!rc && lo <= hi) { /* the largest count of rarer words that fits */
        int mid = lo + (hi - lo) / 2;
        char *text = cwe_list(r, words, mid, freq, rare_freq, shuffle_seed);
        rc = text ? eval_tokenize(r->base.model, text, 0, 0, &toks, &n_toks, err, errlen)
                  : (snprintf(err, errlen, "out of memory"), 1);
        free(text);
        if (rc)
            break;
        if (n_toks <= n_context) {
            gemcl_free(best_toks);
            best_toks = toks, n_best = n_toks, best = mid;
            lo = mid + 1;
        } else {
            gemcl_free(toks);
            hi = mid - 1;
        }
        toks = NULL;
    }
    if (!rc && best < 0)
        rc = (snprintf(err, errlen, "%d context tokens cannot hold cwe's %d common words", n_context,
                       RULER_CWE_COMMON), 1);
    int32_t *nl = NULL;
    int n_nl = 0;
    if (!rc)
        rc = eval_tokenize(r->base.model, "\n", 0, 0, &nl, &n_nl, err, errlen);
    if (!rc && n_nl < 1)
        rc = (snprintf(err, errlen, "\"\\n\" has no token"), 1);
    if (!rc)
        rc = append_ids(best_toks, n_best, ids, n, cap, err, errlen);
    for (int i = n_best; !rc && i < n_context; i++) /* the rest, less than a list item */
        rc = append_ids(nl, 1, ids, n, cap, err, errlen);
    for (int i = 0; !rc && i < RULER_CWE_COMMON; i++)
        snprintf(s->expected[s->n_expected++], sizeof s->expected[0], "%s", r->words[words[i]]);
    gemcl_free(nl);
    gemcl_free(best_toks);
    free(words);
    return rc;
}

int ruler_build(ruler_ctx *r, int task, int length, int sample, ruler_sample *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (task < 0 || task >= RULER_N_TASKS)
        return snprintf(err, errlen, "no RULER task %d", task), 1;
    /* the sample's stream: a function of the seed and the cell alone, so any subset of a grid sees the same */
    uint64_t st = r->seed ^ ((uint64_t)(uint32_t)task << 56) ^ ((uint64_t)(uint32_t)length << 24) ^
                  (uint64_t)(uint32_t)sample;
    rng_next(&st);
    spec *s = calloc(1, sizeof *s);
    if (!s)
        return snprintf(err, errlen, "out of memory"), 1;
    if (task == VT)
        vt_spec(&st, s);
    else if (task == CWE)
        cwe_spec(s);
    else
        niah_spec(r, task, &st, s);
    char *before = NULL, *after = NULL;
    int32_t *ids = NULL, *tail = NULL;
    int n = 0, cap = 0, n_tail = 0, cap_tail = 0;
    /* [prefix: BOS, chat before the user message][template head] context [template tail][chat after][answer] */
    int rc = eval_split_template(s->tmpl, "", &before, &after, err, errlen);
    if (!rc)
        rc = append_ids(r->base.prefix, r->base.n_prefix, &ids, &n, &cap, err, errlen);
    if (!rc)
        rc = append_text(r->base.model, before, 0, &ids, &n, &cap, err, errlen);
    if (!rc)
        rc = append_text(r->base.model, after, 0, &tail, &n_tail, &cap_tail, err, errlen);
    if (!rc)
        rc = append_ids(r->base.suffix, r->base.n_suffix, &tail, &n_tail, &cap_tail, err, errlen);
    if (!rc)
        rc = append_text(r->base.model, s->answer_prefix, 0, &tail, &n_tail, &cap_tail, err, errlen);
    int n_context = length - n - n_tail;
    if (!rc && n_context < 1)
        rc = (snprintf(err, errlen, "length %d leaves no room for a context after the %s template's %d tokens",
                       length, tasks[task].name, n + n_tail), 1);
    if (!rc)
        rc = task == CWE ? cwe_context(r, s, &st, n_context, &ids, &n, &cap, err, errlen)
                         : niah_context(r, s, &st, n_context, out, &ids, &n, &cap, err, errlen);
    if (!rc)
        rc = append_ids(tail, n_tail, &ids, &n, &cap, err, errlen);
    for (int i = 0; !rc && i < s->n_expected; i++)
        if (!(out->expected[out->n_expected++] = strdup(s->expected[i])))
            rc = (snprintf(err, errlen, "out of memory"), 1);
    free(before), free(after), free(tail), free(s);
    out->ids = ids;
    out->n = n;
    if (rc)
        ruler_sample_free(out);
    return rc;
}
