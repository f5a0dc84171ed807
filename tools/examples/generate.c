/* generate.c - a gemcl client in one page: load a model, compress a prompt with GemFilter, stream the
 * answer. Built only against the public header and the installed library:
 *
 *     cc generate.c $(pkg-config --cflags --libs gemcl) -o generate
 *     ./generate MODEL PROMPT [BUDGET [MAX_TOKENS]]
 *
 * The answer goes to stdout as it is generated; what GemFilter kept and the counters go to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gemcl.h>

static int stream_piece(const char *piece, size_t len, int32_t id, void *user) {
    (void)id, (void)user;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0; /* non-zero would stop generation */
}

static int fail(const char *what, const char *message) {
    fprintf(stderr, "generate: %s: %s\n", what, message);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: %s MODEL PROMPT [BUDGET [MAX_TOKENS]]\n", argv[0]);
        return 2;
    }
    if (strcmp(gemcl_version(), GEMCL_VERSION_STRING) != 0)
        fprintf(stderr, "generate: built for gemcl %s, running with %s\n", GEMCL_VERSION_STRING, gemcl_version());
    char err[1024];
    gemcl_model *model = NULL;
    gemcl_context *ctx = NULL;
    if (gemcl_model_load(argv[1], NULL, &model, err, sizeof err) != GEMCL_OK)
        return fail("loading the model", err);
    if (gemcl_context_create(model, NULL, &ctx, err, sizeof err) != GEMCL_OK) {
        gemcl_model_free(model);
        return fail("creating a context", err);
    }

    gemcl_generate_params g = gemcl_generate_default_params();
    g.method.method = GEMCL_METHOD_GEMFILTER; /* filter layer from the model card */
    g.method.budget = argc > 3 ? atoi(argv[3]) : 0;
    g.max_tokens = argc > 4 ? atoi(argv[4]) : 32;
    g.on_token = stream_piece;
    gemcl_result res;
    gemcl_status st = gemcl_generate(ctx, argv[2], strlen(argv[2]), &g, &res);
    if (st == GEMCL_OK) {
        putchar('\n');
        fflush(stdout);
        char *kept = NULL;
        size_t kept_len = 0;
        if (gemcl_context_kept_text(ctx, &kept, &kept_len) == GEMCL_OK)
            fprintf(stderr, "kept %d of %d prompt tokens (filter layer %d): \"%.*s\"\n", res.n_kept_tokens,
                    res.n_prompt_tokens, res.filter_layer, (int)kept_len, kept);
        gemcl_free(kept);
        gemcl_context_stats stats;
        gemcl_context_get_stats(ctx, &stats);
        fprintf(stderr, "%d tokens; device memory %llu bytes now, %llu at peak\n", res.n_generated,
                (unsigned long long)stats.device_bytes_current, (unsigned long long)stats.device_bytes_peak);
    } else {
        fprintf(stderr, "generate: %s: %s\n", gemcl_status_str(st), gemcl_context_last_error(ctx));
    }
    gemcl_result_free(&res);
    gemcl_context_free(ctx);
    gemcl_model_free(model);
    return st == GEMCL_OK ? 0 : 1;
}
