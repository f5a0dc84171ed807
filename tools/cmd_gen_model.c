/* cmd_gen_model.c - `gemcl gen-model --like CARD --seed S [--dtype f32|f16|bf16] [--tokenizer FILE] OUT`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"

static int usage(void) {
    printf("usage: gemcl gen-model --like CARD --seed S [--dtype f32|f16|bf16] [--tokenizer FILE] OUT\n"
           "Writes an HF directory (config.json + model.safetensors) with deterministic random weights at the\n"
           "shapes of model card CARD (a name such as tinyllama-1.1b, or a card .json path): matrices ~ N(0, 0.02),\n"
           "norms 1. The same card, seed and dtype give the same bytes. No tokenizer is written unless --tokenizer\n"
           "names a file to copy beside the weights; without one, drive the model with token ids.\n"
           "The outputs are meaningless; time and memory are real.\n");
    return 0;
}

int cmd_gen_model(int argc, char **argv) {
    const char *like = NULL, *seed_text = NULL, *dtype_name = "f32", *tokenizer = NULL, *out = NULL;
    cli_args c = cli_args_start("gen-model", argc, argv);
    while (cli_next(&c)) {
        int rc = 0;
        if (cli_is(&c, "--help", NULL))
            return usage();
        if (cli_is(&c, "--like", NULL))
            rc = cli_str(&c, &like);
        else if (cli_is(&c, "--seed", NULL))
            rc = cli_str(&c, &seed_text);
        else if (cli_is(&c, "--dtype", NULL))
            rc = cli_str(&c, &dtype_name);
        else if (cli_is(&c, "--tokenizer", NULL))
            rc = cli_str(&c, &tokenizer);
        else if (cli_is_option(&c))
            rc = cli_unknown(&c);
        else if (!out)
            out = c.arg;
        else
            rc = cli_unexpected(&c, "");
        if (rc)
            return rc;
    }
    if (!like || !seed_text || !out)
        return cli_error("gen-model: needs --like CARD --seed S OUT (see gemcl gen-model --help)");
    uint64_t seed;
    if (opt_u64("gen-model", "--seed", seed_text, &seed))
        return 2;
    gemcl_weight_dtype dtype;
    if (gemcl_weight_dtype_from_name(dtype_name, &dtype) != GEMCL_OK || dtype == GEMCL_WEIGHT_DTYPE_AUTO ||
        dtype == GEMCL_WEIGHT_DTYPE_Q8_0)
        return cli_error("gen-model: --dtype must be f32, f16 or bf16, not '%s'", dtype_name);
    char err[4096];
    if (gemcl_gen_model(like, seed, dtype, tokenizer, out, err, sizeof err) != GEMCL_OK)
        return cli_error("%s", err);
    printf("wrote %s (like %s, seed %llu, %s)\n", out, like, (unsigned long long)seed, dtype_name);
    return 0;
}
