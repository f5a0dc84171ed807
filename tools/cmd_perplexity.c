/* cmd_perplexity.c - `gemcl perplexity`: llama-perplexity's measure of a model on a text file, scored on the device.
 *
 * The method is llama.cpp's (tools/perplexity/perplexity.cpp, perplexity()), so the numbers compare:
 *   - the file is read whole and one trailing newline dropped (llama.cpp's -f does that), then tokenized as one
 *     text, BOS first when the model's tokenizer adds one;
 *   - the tokens are cut into non-overlapping chunks of n_ctx; the remainder is dropped;
 *   - each chunk runs from an empty cache, its first token replaced by BOS when the tokenizer adds one, so every
 *     chunk starts the way a text does;
 *   - rows n_ctx/2 .. n_ctx-2 of each chunk are scored, each by the negative log-likelihood of the token after it
 *     (n_ctx/2 - 1 tokens per chunk): the first half is context only;
 *   - PPL = exp(mean NLL), and the +/- is the standard error of the mean NLL carried through the exponential:
 *     PPL * sqrt((mean(nll^2) - mean(nll)^2) / (N - 1)) over the N scored tokens.
 * The NLLs come from gemcl_context_score, which takes the log-softmax on the device: no logits reach the host. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "options.h"

#define MIN_CTX 16 /* the smallest -c: a chunk of 16 scores 7 tokens */

static void usage(void) {
    printf("usage: gemcl perplexity -m MODEL -f FILE [options]\n"
           "  -m, --model PATH        HF directory, .gguf, or llama2.c .bin (tokenizer found beside it)\n"
           "  -f, --file FILE         the text to score (read whole; one trailing newline is dropped)\n"
           "  -c, --ctx-size N        tokens per chunk, even, >= %d and <= the model's context (default 512)\n"
           "  -b, --batch-size N      rows per prefill pass (default 512, at most N of -c)\n"
           "  --chunks N              score at most the first N chunks (default: all)\n"
           "  --dtype f32|f16|bf16|q8_0   weight storage on the device (default: as in the file)\n"
           "  --act-f32               quantized weights times f32 activations (default: 8-bit, as llama.cpp)\n"
           "  --tokenizer PATH        tokenizer file, when not beside the model\n"
           "  --device N|NAME         OpenCL device (default: $GEMCL_DEVICE, else first GPU, else first)\n"
           "llama-perplexity's method: non-overlapping chunks of -c tokens from an empty cache, each starting with BOS\n"
           "when the model adds one, the second half of each chunk scored. Running estimates [chunk]PPL go to\n"
           "stderr; the last line of stdout is 'Final estimate: PPL = X +/- Y'.\n",
           MIN_CTX);
}

/* The largest -c, -b and --chunks: beyond any context. */
#define MAX_COUNT (1 << 30)

typedef struct ppl_opts {
    const char *model, *file, *tokenizer, *device;
    int n_ctx, n_batch, max_chunks, act_f32;
    gemcl_weight_dtype dtype;
} ppl_opts;

/* Parses argv into o; -1 after --help, 0 on success, EXIT_BAD_INPUT on a bad option. */
static int parse_args(int argc, char **argv, ppl_opts *o) {
    cli_args c = cli_args_start("perplexity", argc, argv);
    while (cli_next(&c)) {
        const char *dtype = NULL;
        int rc = 0;
        if (cli_is(&c, "--help", "-h")) {
            usage();
            return -1;
        } else if (cli_is(&c, "-m", "--model")) rc = cli_str(&c, &o->model);
        else if (cli_is(&c, "-f", "--file")) rc = cli_str(&c, &o->file);
        else if (cli_is(&c, "--tokenizer", NULL)) rc = cli_str(&c, &o->tokenizer);
        else if (cli_is(&c, "--device", NULL)) rc = cli_str(&c, &o->device);
        else if (cli_is(&c, "-c", "--ctx-size")) rc = cli_int(&c, 1, MAX_COUNT, &o->n_ctx);
        else if (cli_is(&c, "-b", "--batch-size")) rc = cli_int(&c, 1, MAX_COUNT, &o->n_batch);
        else if (cli_is(&c, "--chunks", NULL)) rc = cli_int(&c, 1, MAX_COUNT, &o->max_chunks);
        else if (cli_is(&c, "--act-f32", NULL)) o->act_f32 = 1;
        else if (cli_is(&c, "--dtype", NULL)) {
            if (!(rc = cli_str(&c, &dtype)) && gemcl_weight_dtype_from_name(dtype, &o->dtype) != GEMCL_OK)
                rc = cli_bad_input("perplexity: --dtype must be f32, f16, bf16 or q8_0, got '%s'", dtype);
        } else
            rc = cli_unknown(&c);
        if (rc)
            return rc;
    }
    if (!o->model)
        return cli_bad_input("perplexity: no model given (-m MODEL)");
    if (!o->file)
        return cli_bad_input("perplexity: no text given (-f FILE)");
    if (o->n_ctx % 2 || o->n_ctx < MIN_CTX)
        return cli_bad_input("perplexity: -c must be even and at least %d, got %d", MIN_CTX, o->n_ctx);
    return 0;
}

/* The file's bytes (*len of them), one trailing newline dropped as llama.cpp's -f does; NULL after printing why. */
static char *read_text(const char *path, size_t *len) {
    errno = 0;
    FILE *f = fopen(path, "rb");
    struct stat info;
    const char *why = NULL;
    char *buf = NULL;
    if (!f || fstat(fileno(f), &info) != 0)
        why = strerror(errno);
    else if (!S_ISREG(info.st_mode)) /* a directory or a pipe has no size to read up to */
        why = "not a regular file";
    else if (!(buf = malloc((size_t)info.st_size + 1)))
        why = "out of host memory";
    else if (fread(buf, 1, (size_t)info.st_size, f) != (size_t)info.st_size)
        why = "read failed";
    if (f)
        fclose(f);
    if (why) {
        free(buf);
        cli_bad_input("perplexity: cannot read -f %s: %s", path, why);
        return NULL;
    }
    *len = (size_t)info.st_size;
    if (*len > 0 && buf[*len - 1] == '\n')
        (*len)--;
    return buf;
}


/* The running sums of the scored tokens' NLL. */
typedef struct nll_sums {
    double sum, sum_sq;
    long count;
} nll_sums;

static double ppl_of(const nll_sums *s) { return exp(s->sum / (double)s->count); }

/* The standard error of the mean NLL carried to PPL (d exp(x) = exp(x) dx), as llama-perplexity reports it. */
static double ppl_error_of(const nll_sums *s) {
    double mean = s->sum / (double)s->count, var = s->sum_sq / (double)s->count - mean * mean;
    return var > 0 && s->count > 1 ? ppl_of(s) * sqrt(var / (double)(s->count - 1)) : 0.0;
}

/* Scores chunk c of tokens: its window, BOS first when the model adds one, from an empty cache. */
static gemcl_status score_chunk(gemcl_context *ctx, const int32_t *tokens, int c, int n_ctx, int32_t bos,
                                int32_t *window, float *nll, nll_sums *sums) {
    memcpy(window, tokens + (size_t)c * n_ctx, (size_t)n_ctx * sizeof *window);
    if (bos >= 0)
        window[0] = bos;
    gemcl_context_reset(ctx);
    int first = n_ctx / 2;
    gemcl_status st = gemcl_context_score(ctx, window, n_ctx, first, nll);
    for (int i = 0; st == GEMCL_OK && i < n_ctx - 1 - first; i++) {
        sums->sum += nll[i];
        sums->sum_sq += (double)nll[i] * nll[i];
        sums->count++;
    }
    return st;
}

/* Every chunk, with llama-perplexity's running estimates on stderr, then the final estimate; 0 or 1. */
static int run_chunks(gemcl_context *ctx, const int32_t *tokens, int n_chunks, int n_ctx, int32_t bos) {
    int32_t *window = malloc((size_t)n_ctx * sizeof *window);
    float *nll = malloc((size_t)n_ctx * sizeof *nll);
    if (!window || !nll) {
        free(window);
        free(nll);
        return cli_error("perplexity: out of host memory");
    }
    nll_sums sums = {0};
    gemcl_status st = GEMCL_OK;
    double t0 = gemcl_time_us() / 1e6;
    for (int c = 0; st == GEMCL_OK && c < n_chunks; c++) {
        st = score_chunk(ctx, tokens, c, n_ctx, bos, window, nll, &sums);
        if (st == GEMCL_OK && c == 0)
            fprintf(stderr, "perplexity: %.2f seconds per pass - ETA %.2f minutes\n", (gemcl_time_us() / 1e6) - t0,
                    ((gemcl_time_us() / 1e6) - t0) * n_chunks / 60.0);
        if (st == GEMCL_OK)
            fprintf(stderr, "[%d]%.4f,", c + 1, ppl_of(&sums));
        fflush(stderr);
    }
    double seconds = (gemcl_time_us() / 1e6) - t0;
    free(window);
    free(nll);
    if (st != GEMCL_OK)
        return cli_error("perplexity: %s", gemcl_context_last_error(ctx));
    fprintf(stderr, "\nperplexity: %d chunks of %d tokens, %ld tokens scored, %.2f s (%.2f s per chunk)\n", n_chunks,
            n_ctx, sums.count, seconds, seconds / n_chunks);
    printf("Final estimate: PPL = %.4f +/- %.5f\n", ppl_of(&sums), ppl_error_of(&sums));
    return 0;
}

/* Model load failures that come from the input (a missing or malformed file, an unknown device) exit 2. */
static int load_exit_code(gemcl_status st) {
    return st == GEMCL_ERR_IO || st == GEMCL_ERR_FORMAT || st == GEMCL_ERR_UNSUPPORTED || st == GEMCL_ERR_NOT_FOUND ||
                   st == GEMCL_ERR_INVALID_ARG
               ? EXIT_BAD_INPUT
               : 1;
}

/* Tokenizes the text, checks the sizes against the model, creates the context and runs the chunks. */
static int perplexity(gemcl_model *model, const ppl_opts *o, const char *text, size_t len) {
    gemcl_model_info info;
    gemcl_model_get_info(model, &info);
    if (info.ctx_train > 0 && o->n_ctx > info.ctx_train)
        return cli_bad_input("perplexity: -c %d exceeds the model's context of %d tokens", o->n_ctx, info.ctx_train);
    char err[4096];
    int32_t *tokens = NULL;
    int n_tokens = 0, add_bos = 0;
    if (gemcl_tokenize(model, text, len, -1, 0, &tokens, &n_tokens, err, sizeof err) != GEMCL_OK)
        return cli_error("perplexity: %s", err);
    int32_t bos = gemcl_model_token_bos(model, &add_bos);
    int n_chunks = n_tokens / o->n_ctx, rc = 0;
    if (n_chunks == 0) {
        gemcl_free(tokens);
        return cli_bad_input("perplexity: -f %s holds %d tokens, fewer than one chunk of -c %d", o->file, n_tokens,
                             o->n_ctx);
    }
    if (o->max_chunks > 0 && o->max_chunks < n_chunks)
        n_chunks = o->max_chunks;
    fprintf(stderr, "perplexity: %d tokens (%s), %d chunks of %d, scoring %d tokens per chunk\n", n_tokens,
            add_bos ? "BOS first" : "no BOS", n_chunks, o->n_ctx, o->n_ctx / 2 - 1);
    gemcl_context_params cp = gemcl_context_default_params();
    cp.n_ctx = o->n_ctx;
    cp.n_ubatch = o->n_batch;
    gemcl_context *ctx = NULL;
    if (gemcl_context_create(model, &cp, &ctx, err, sizeof err) != GEMCL_OK)
        rc = cli_error("perplexity: %s", err);
    else
        rc = run_chunks(ctx, tokens, n_chunks, o->n_ctx, add_bos ? bos : -1);
    gemcl_context_free(ctx);
    gemcl_free(tokens);
    return rc;
}

int cmd_perplexity(int argc, char **argv) {
    ppl_opts o = {.n_ctx = 512, .dtype = GEMCL_WEIGHT_DTYPE_AUTO};
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    size_t len = 0;
    char *text = read_text(o.file, &len);
    if (!text)
        return EXIT_BAD_INPUT;
    gemcl_model_params mp = gemcl_model_default_params();
    mp.device = o.device;
    mp.tokenizer_path = o.tokenizer;
    mp.weight_dtype = o.dtype;
    mp.act_f32 = o.act_f32;
    gemcl_model *model = NULL;
    char err[4096];
    gemcl_status st = gemcl_model_load(o.model, &mp, &model, err, sizeof err);
    if (st != GEMCL_OK) {
        cli_error("perplexity: -m %s: %s", o.model, err);
        rc = load_exit_code(st);
    } else
        rc = perplexity(model, &o, text, len);
    gemcl_model_free(model);
    free(text);
    return rc;
}
