/* eval.h - evaluation helpers behind `gemcl needle`, `gemcl calibrate` and `gemcl eval ruler`, built only on the
 * public API.
 *
 * The needle-in-a-haystack protocol is docs/METHODS.md's (GemFilter's harness, after gkamradt's): the
 * haystack is the essays of a directory (names sorted) as tokens; a context of exactly length - buffer tokens
 * is the haystack truncated to leave room for the needle, with the needle's tokens inserted at depth D% just
 * after the previous "." token (D = 100 appends); the prompt is the template around that context. Scores:
 * needle = |set(words(response.lower())) & set(expected words)| / 12; passkey = exact match of the key.
 *
 * The three prompt pieces (template before {context}, the context, template after it) are tokenized on their
 * own and joined as ids, so the context's length is exact; a tokenizer with a SentencePiece dummy prefix sees
 * one extra space at each seam, which the reference (decode, then re-encode the whole prompt) does not have.
 * The prompt is handed to the engine as ids (gemcl_generate_tokens), so the needle's token positions are
 * known exactly and needle_survived compares them with the method's kept indices.
 *
 * Files of a run (OUTDIR): results.jsonl (one JSON object per cell, appended and flushed as each cell ends,
 * so an interrupted run loses nothing and --resume continues it), results.csv, heatmap.svg and summary.json
 * (rewritten from the JSONL at the end). Every function reports failure as a non-zero return and a one-line message in
 * err (errlen bytes); nothing here prints except the runner's progress lines on stderr.
 */
#ifndef GEMCL_EVAL_H
#define GEMCL_EVAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gemcl.h"

/* Defaults, copied from ../shared/data/needle-haystack-config/needle_config.json (GemFilter needle_eval.py). */
#define EVAL_NEEDLE "\nThe best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.\n"
#define EVAL_QUESTION "What is the best thing to do in San Francisco?"
#define EVAL_TEMPLATE                                                                                          \
    "\n<|im_start|> This is a very long story book: <book> {context} </book>.\nBased on the content of the "  \
    "book, Question: {question}\nAnswer:"
#define EVAL_EXPECTED "eat a sandwich and sit in Dolores Park on a sunny day."
/* Passkey variant (METHODS.md); the template is the passkey-retrieval prompt of Landmark Attention. */
#define EVAL_PASSKEY_FILLER "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
#define EVAL_PASSKEY_LINE "\nThe pass key is %05d. Remember it. %05d is the pass key.\n"
#define EVAL_PASSKEY_QUESTION "What is the pass key? The pass key is"
#define EVAL_PASSKEY_TEMPLATE                                                                                  \
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. I will quiz " \
    "you about the important information there.\n{context}\n{question}"
#define EVAL_BUFFER_TOKENS 200  /* gkamradt's final_context_length_buffer */
#define EVAL_MAX_NEW_TOKENS 50  /* GemFilter needle_eval.py max_gen_len */

typedef enum eval_task_kind { EVAL_TASK_NEEDLE = 0, EVAL_TASK_PASSKEY = 1 } eval_task_kind;

/* ---- grids -------------------------------------------------------------------------------------------- */

/* Parses "MIN:MAX:N" (round(linspace(MIN, MAX, N)), numpy's rounding: half to even) or a list "A,B,C" into
 * a malloc'd array of *n ints, each in [lo, hi]. Duplicates are dropped, order kept. */
int eval_parse_grid(const char *spec, int lo, int hi, int **out, int *n, char *err, size_t errlen);

/* Parses a depth spec: a single count N means round(linspace(0, 100, N)); otherwise as eval_parse_grid. */
int eval_parse_depths(const char *spec, int **out, int *n, char *err, size_t errlen);

/* "a,b,c" -> *n method names (pointers into the malloc'd copy *storage, in the malloc'd *names), each one
 * gemcl_method_from_name knows; an empty name or list is refused. */
int eval_split_methods(const char *spec, char **storage, const char ***names, int *n, char *err, size_t errlen);

/* out[i] = round-half-even(a + i * (b - a) / (n - 1)), as numpy's round(linspace(a, b, n)). n >= 1. */
void eval_linspace(double a, double b, int n, int *out);

/* ---- haystack ----------------------------------------------------------------------------------------- */

/* The default essays directory: $GEMCL_SHARED/data/paul-graham-essays, else ../shared/data/paul-graham-essays
 * beside source_dir, else under the working directory; NULL when none exists. Static storage. */
const char *eval_default_haystack(const char *source_dir);

/* Reads every "*.txt" of dir, names sorted (strcmp), concatenated, into a malloc'd NUL-terminated buffer. */
int eval_haystack_read(const char *dir, char **text, size_t *len, char *err, size_t errlen);

/* Returns non-zero when token id ends a sentence. */
typedef int (*eval_is_period_fn)(int32_t id, void *user);

/* gkamradt's insert_needle in token space: the context is hay[0 .. n_context - n_needle - 1] with needle
 * inserted at int(len * depth / 100) (computed in double precision, as the reference does), moved back to just
 * after the previous token for which is_period is true (to 0 when there is none); depth 100 appends. Writes
 * n_context tokens to out and the needle's first position to *needle_at. Needs n_hay >= n_context - n_needle
 * and n_context > n_needle. */
int eval_insert_needle(const int32_t *hay, int n_hay, const int32_t *needle, int n_needle, int n_context,
                       int depth, eval_is_period_fn is_period, void *user, int32_t *out, int *needle_at,
                       char *err, size_t errlen);

/* The same for k needles (RULER's multi-needle tasks): each needle's place is computed on the haystack alone, as
 * for one needle, from its own depth; depths must be ascending. out holds n_hay + sum(n_needles) tokens, the
 * needles in order; at[i] is needle i's first position in out. */
int eval_insert_needles(const int32_t *hay, int n_hay, const int32_t *const *needles, const int *n_needles, int k,
                        const int *depths, eval_is_period_fn is_period, void *user, int32_t *out, int *at, char *err,
                        size_t errlen);

/* gemcl_tokenize into a gemcl_free'd array (bos: -1 = the model's default); empty text without BOS gives 0 ids. */
int eval_tokenize(gemcl_model *m, const char *text, int bos, int special, int32_t **ids, int *n, char *err,
                  size_t errlen);

/* Splits a template at {context}: *before is the text before it, *after the text after it with {question} (if any)
 * replaced by question. Both malloc'd. */
int eval_split_template(const char *tmpl, const char *question, char **before, char **after, char *err,
                        size_t errlen);

/* src (n_src >= 1 tokens) repeated cyclically to n tokens, malloc'd (the reference repeats the essays until long
 * enough); NULL when out of memory. */
int32_t *eval_cycle_tokens(const int32_t *src, int n_src, int n);

/* splitmix64: advances *state and returns the next value (the passkeys and RULER's samples). */
uint64_t eval_splitmix64(uint64_t *state);

/* Everything fixed for one run: the tokenized template pieces, the haystack tokens and the needle. */
typedef struct eval_task {
    gemcl_model *model;
    eval_task_kind kind;
    int32_t *hay;          /* (n_hay) haystack tokens (repeated cyclically when a length needs more) */
    int n_hay;
    int32_t *prefix;       /* (n_prefix) template before {context}, with BOS when the tokenizer adds one */
    int n_prefix;
    int32_t *suffix;       /* (n_suffix) template after {context}, {question} filled in */
    int n_suffix;
    int32_t *needle;       /* (n_needle) the needle task's needle; passkey lines are tokenized per cell */
    int n_needle;
    int8_t *period;        /* (vocab) -1 unknown, 0/1: whether the token's text, trimmed, is "." */
    int vocab;
    uint64_t seed;         /* passkey keys */
    char expected[512];    /* the needle task's expected answer */
    char prompt_template[48]; /* "raw" or "chat:<family>": how the prompt was laid out (eval_cell) */
} eval_task;

typedef struct eval_task_params {
    eval_task_kind kind;
    const char *haystack_dir;  /* needle task */
    const char *needle, *question, *template_text, *expected; /* NULL = the task's default */
    uint64_t seed;
    /* NULL: the task's template is the whole prompt (GemFilter's raw setting); "model": it is the user message
     * of the model's chat template (none: raw); else a chat template family name ("chatml", ...) */
    const char *chat_template;
} eval_task_params;

int eval_task_init(eval_task *t, gemcl_model *model, const eval_task_params *p, char *err, size_t errlen);
void eval_task_free(eval_task *t);

/* An eval_is_period_fn over the task's vocabulary (user is the eval_task): the token's text, trimmed, is ".". */
int eval_task_is_period(int32_t id, void *task);

/* One cell's prompt: prefix + context + suffix. The context is exactly length - EVAL_BUFFER_TOKENS tokens. */
typedef struct eval_prompt {
    int32_t *ids;          /* (n) malloc'd */
    int n;
    int needle_at, needle_len; /* the needle's tokens: ids[needle_at .. needle_at + needle_len - 1] */
    int passkey;           /* the key (passkey task), else 0 */
} eval_prompt;

int eval_build_prompt(eval_task *t, int length, int depth, eval_prompt *out, char *err, size_t errlen);
void eval_prompt_free(eval_prompt *p);

/* The passkey of a cell: 5 digits from the seed and the cell, so any subset of a grid sees the same keys. */
int eval_passkey(uint64_t seed, int length, int depth);

/* ---- scoring ------------------------------------------------------------------------------------------ */

/* |set(words(response.lower())) & set(words(expected.lower()))| / count(words(expected)); words are split on
 * whitespace (Python's str.split()), punctuation stays; lower-casing is ASCII. */
double eval_score_needle(const char *response, const char *expected);

/* 1 when the first run of digits in response is exactly the 5-digit key, else 0. */
double eval_score_passkey(const char *response, int key);

/* ---- cells and reports -------------------------------------------------------------------------------- */

typedef struct eval_cell {
    int length, depth;
    char method[32];
    char task[32];         /* "needle", "passkey" or a RULER task */
    char prompt_template[48]; /* "raw" (the task's template is the whole prompt) or "chat:<family>" */
    int filter_layer;      /* -1 when the method selects nothing */
    int budget;
    double score;          /* NAN for an error cell */
    char *response;        /* malloc'd, may be NULL */
    char *error;           /* malloc'd message of an error cell, else NULL */
    double ttft_ms, filter_ms, prefill_ms, decode_ms;
    uint64_t peak_device_bytes;
    int n_prompt_tokens, n_kept_tokens;
    int needle_at, needle_len;
    int needle_survived;   /* -1 = not applicable (the method keeps the whole prompt), 0/1 */
    int needle_kept;       /* needle tokens inside the kept indices (-1: not applicable) */
    int passkey;
    int32_t *kept;         /* (n_kept) kept indices, only with --save-kept */
    int n_kept;
    /* RULER cells (expected != NULL); a needle cell has sample 0, ratio -1, no expected strings */
    int sample;
    double ratio;          /* fraction of the prompt's tokens dropped: 1 - budget / n_prompt_tokens (full: 0) */
    char **expected;       /* (n_expected) malloc'd strings the answer is scored against */
    int n_expected;
} eval_cell;

/* A cell with nothing run yet: score NAN, no filter layer, kept counts not applicable, ratio -1. */
void eval_cell_init(eval_cell *c, const char *task, const char *method, const char *prompt_template, int length);

void eval_cell_free(eval_cell *c);

/* Needle tokens [needle_at, needle_at + needle_len) found in the ascending kept indices. */
int eval_count_kept(const int32_t *kept, int n_kept, int needle_at, int needle_len);

/* One JSON object, no newline; malloc'd. */
char *eval_cell_to_json(const eval_cell *c);
/* Parses one JSONL line into *c: 0, 1 when the line is not a cell (e.g. half-written), 2 when it is a cell
 * whose grid key or sizes are out of range (a negative length, a depth beyond 100): never counted. */
int eval_cell_from_json(const char *line, eval_cell *c, char *err, size_t errlen);

/* Reads a JSONL file of cells; a later line for the same (task, method, length, depth, sample, ratio) replaces an earlier
 * one. A missing file gives 0 cells. A truncated last line (an interrupted write) is ignored. */
int eval_jsonl_read(const char *path, eval_cell **cells, int *n, char *err, size_t errlen);
void eval_cells_free(eval_cell *cells, int n);

/* The index of the cell with key's (task, method, length, depth, sample, ratio), -1 when none. */
int eval_cells_find(const eval_cell *cells, int n, const eval_cell *key);

/* The cells sorted by method (first appearance), length, depth, then task, ratio, sample. */
void eval_cells_sort(eval_cell *cells, int n);

/* CSV, RFC 4180 quoting; newlines inside responses are written as the two characters \n. */
int eval_csv_write(const char *path, const eval_cell *cells, int n, char *err, size_t errlen);

/* One quoted CSV field as eval_csv_write writes it. */
void eval_csv_text(FILE *f, const char *s);

/* SVG text content: <, >, & and " escaped, control characters dropped. */
void eval_xml_text(FILE *f, const char *s);

/* Mean score over a method's cells that ran (errors excluded); *n_scored and *n_errors may be NULL. */
double eval_mean_score(const eval_cell *cells, int n, const char *method, int *n_scored, int *n_errors);

/* The heatmap (x = length, y = depth), one panel per method side by side, each titled with the method and its
 * mean score; GemFilter's colour map (#F0496E - #EBB839 - #0CD79F over 0..1); error cells grey. One
 * <rect class="cell"> (with a <title>) per cell. */
int eval_svg_write(const char *path, const eval_cell *cells, int n, const char *title, char *err, size_t errlen);

/* The colour map's RGB at v in [0, 1] (clamped). */
void eval_colormap(double v, int rgb[3]);

/* ---- model cards -------------------------------------------------------------------------------------- */

/* Writes out_path: a model card (the format of models/NAME.json) with "gemfilter": {filter_layer, budget} set and a
 * "gemfilter_calibration" note. The rest of the card comes from base_path when given, else from out_path when it
 * exists, else from the card in models_dir whose arch and shapes are the model's. Written to a temp file, then
 * renamed. */
int eval_card_write(const char *out_path, const char *base_path, const char *models_dir, const gemcl_model_info *info,
                    int filter_layer, int budget, const char *note, char *err, size_t errlen);

/* ---- running a grid ----------------------------------------------------------------------------------- */

typedef struct eval_run_opts {
    const int *lengths;
    int n_lengths;
    const int *depths;
    int n_depths;
    const char *const *methods;
    int n_methods;
    int filter_layer, budget;  /* -1 / 0: the model's defaults */
    int max_tokens;
    const char *out_dir;       /* NULL: no files */
    int resume, save_kept, quiet;
} eval_run_opts;

typedef struct eval_run_stats {
    int n_cells, n_run, n_skipped, n_errors;
} eval_run_stats;

/* Generates greedily from the prompt ids with the method into the cell (eval_cell_init'd): response, timings,
 * sizes, budget, and for a token-selection method how many tokens of the k spans [at[i], at[i] + len[i]) it kept
 * (needle_at = at[0], needle_len = the spans' total; k = 0: not applicable). The score is left to the caller. An
 * engine failure makes an error cell and returns 0; only host failures and invalid options return non-zero. */
int eval_generate_cell(gemcl_model *model, gemcl_context *ctx, const int32_t *ids, int n, const char *method,
                       int filter_layer, int budget, int max_tokens, int save_kept, const int *at, const int *len,
                       int k, eval_cell *cell, char *err, size_t errlen);

/* OUTDIR/results.jsonl opened for appending (path written to jsonl): created with the directory; an existing
 * non-empty file only with resume (its half-written last line cut off). NULL and err on failure. */
FILE *eval_results_open(const char *out_dir, int resume, char *jsonl, size_t cap, char *err, size_t errlen);

/* Appends the cell as one JSON line and flushes it, so an interrupted run loses nothing. */
int eval_results_append(FILE *f, const eval_cell *c, char *err, size_t errlen);

/* Runs one cell: builds the prompt, generates greedily with the method, scores. An engine failure (e.g. the
 * prompt does not fit the context) makes an error cell and returns 0; only host failures return non-zero. */
int eval_run_cell(eval_task *t, gemcl_context *ctx, const char *method, int filter_layer, int budget,
                  int max_tokens, int save_kept, int length, int depth, eval_cell *cell, char *err, size_t errlen);

/* Runs the grid (methods x lengths x depths), streaming cells to OUTDIR/results.jsonl, skipping cells already
 * there with resume, then writes results.csv and heatmap.svg from every cell of the JSONL. Progress lines go
 * to stderr unless quiet. */
int eval_run_grid(eval_task *t, gemcl_context *ctx, const eval_run_opts *o, eval_run_stats *stats, char *err,
                  size_t errlen);

/* Loads the model at path on device (NULL = $GEMCL_DEVICE / default) and creates a context of n_ctx rows (0 = the
 * trained context). On failure both handles are NULL and err holds the message. */
gemcl_status eval_open(const char *path, const char *device, int n_ctx, gemcl_model **model, gemcl_context **ctx,
                       char *err, size_t errlen);
/* ---- RULER (ruler.c, ruler_run.c) ---------------------------------------------------------------------- */
/* RULER's synthetic tasks (Hsieh et al., "RULER: What's the Real Context Size of Your Long-Context Language
 * Models?", 2024), generated in C from the essays and a seed, with RULER's templates and answer prefixes:
 *   niah_single_essay  one 7-digit number hidden in the essays (RULER's niah_single_2)
 *   niah_single_noise  one uuid hidden in the repeated noise "The grass is green. ..." (niah_single_1's
 *                      haystack with niah_single_3's uuid values)
 *   niah_multikey      4 needles of different keys in the essays, one asked for (niah_multikey_1)
 *   niah_multivalue    4 values of one key in the essays, all asked for
 *   niah_multiquery    4 keys in the essays, all asked for
 *   vt                 variable tracking: a chain VAR A = 12345, VAR B = VAR A, ... (4 hops) in the noise
 *   cwe                common-words extraction: a numbered list, 10 words 30 times each, the rest 3 times
 * Keys are two essay words joined by '-' (RULER: wonderwords' adjective-noun), cwe's words are essay words
 * (RULER: wonderwords' list); RULER's in-context example of vt and cwe is left out. Needles go at depths
 * drawn without replacement from round(linspace(0, 100, 40)) (RULER's DEPTHS), each just after a sentence end,
 * as the needle harness places its one needle.
 * A sample's prompt is exactly `length` tokens: the template's pieces, the context and the answer prefix are
 * tokenized on their own and joined as ids (as the needle harness), the haystack filling what is left; cwe's
 * list is cut to the largest that fits and padded with "\n" tokens. Score = RULER's string_match_all: the
 * fraction of the expected strings found, case-insensitively, in the answer. */

#define RULER_N_TASKS 7
#define RULER_NOISE "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.\n"
#define RULER_NEEDLES 4        /* RULER's num_needle_k / num_needle_v / num_needle_q of the multi tasks */
#define RULER_VT_HOPS 4        /* variable tracking: num_chains 1, num_hops 4 */
#define RULER_CWE_COMMON 10    /* cwe: num_cw, freq_cw, freq_ucw */
#define RULER_CWE_FREQ 30
#define RULER_CWE_RARE_FREQ 3
#define RULER_MAX_EXPECTED 10

/* The task's name ("niah_single_essay", ...), NULL out of range. */
const char *ruler_task_name(int task);
/* -1 for an unknown name. */
int ruler_task_from_name(const char *name);
/* RULER's tokens_to_generate for the task (niah 128, vt 30, cwe 120). */
int ruler_max_new_tokens(int task);
/* "all" or "a,b,...": task ids in the order given (duplicates dropped) into out[RULER_N_TASKS]. */
int ruler_parse_tasks(const char *spec, int *out, int *n, char *err, size_t errlen);

/* RULER's string_match_all for one sample: the fraction of expected[0..n-1] that occur in answer, ASCII
 * case-insensitively (0 when n is 0). */
double ruler_score(const char *answer, const char *const *expected, int n);

/* Everything fixed for a run: the essays and noise as tokens, the essays' words, the chat frame. */
typedef struct ruler_ctx {
    eval_task base;        /* essays as haystack; prefix = BOS + chat text before the user message, suffix = chat
                              text after it (both empty for raw); its period table and template name */
    int32_t *noise;        /* (n_noise) RULER_NOISE's tokens */
    int n_noise;
    char **words;          /* (n_words) distinct lower-case words of the essays (3-12 letters), sorted */
    int n_words;
    char *word_text;       /* storage of words */
    uint64_t seed;
} ruler_ctx;

/* chat_template as eval_task_params'. */
int ruler_init(ruler_ctx *r, gemcl_model *model, const char *essays_dir, const char *chat_template, uint64_t seed,
               char *err, size_t errlen);
void ruler_free(ruler_ctx *r);

typedef struct ruler_sample {
    int32_t *ids;          /* (n) the prompt, n == the length asked for */
    int n;
    char *expected[RULER_MAX_EXPECTED]; /* (n_expected) malloc'd */
    int n_expected;
    int at[RULER_MAX_EXPECTED], len[RULER_MAX_EXPECTED]; /* (n_spans) the needles' (chain lines') tokens */
    int n_spans;
} ruler_sample;

/* Sample number `sample` of the task at the length: a function of (seed, task, length, sample) alone. */
int ruler_build(ruler_ctx *r, int task, int length, int sample, ruler_sample *out, char *err, size_t errlen);
void ruler_sample_free(ruler_sample *s);

typedef struct ruler_run_opts {
    const int *tasks;
    int n_tasks;
    const int *lengths;
    int n_lengths;
    int n_samples;
    const char *const *methods;
    int n_methods;
    const double *ratios;  /* fractions dropped; NULL: one fixed budget */
    int n_ratios;
    int budget;            /* with ratios NULL: tokens kept (0: the model's default) */
    int filter_layer;      /* -1: the model's default */
    int max_tokens;        /* 0: RULER's per task */
    const char *out_dir;
    int resume, quiet;
} ruler_run_opts;

/* Runs tasks x lengths x samples x methods x ratios (full attention once per sample, at ratio 0), tasks
 * outermost so that an interrupted run has whole tasks; cells stream to OUTDIR/results.jsonl (resume skips
 * those there), then results.csv, summary.json and ruler.svg are written from the whole file. */
int ruler_run(ruler_ctx *r, gemcl_context *ctx, const ruler_run_opts *o, eval_run_stats *stats, char *err,
              size_t errlen);

/* results.csv, summary.json (mean per method x ratio, and per task) and ruler.svg (mean score vs ratio, one line
 * per method) from OUTDIR/results.jsonl. */
int ruler_write_reports(const char *out_dir, char *err, size_t errlen);

#endif
