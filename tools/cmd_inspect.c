/* cmd_inspect.c - `gemcl inspect MODEL`: what a model file holds, without touching a device. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void write_stdout(const char *text, size_t len, void *user) {
    (void)user;
    fwrite(text, 1, len, stdout);
}

int cmd_inspect(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        printf(
            "usage: gemcl inspect MODEL\nPrints a model's format, architecture, hyperparameters, parameter count,\n"
            "dtypes, tokenizer, context length, matching model card and every tensor (name, dtype, shape, offset).\n");
        return 0;
    }
    if (argc != 2)
        return cli_error("inspect: needs exactly one MODEL path (see gemcl inspect --help)");
    char err[4096];
    if (gemcl_model_file_describe(argv[1], write_stdout, NULL, err, sizeof err) != GEMCL_OK)
        return cli_error("%s", err);
    return 0;
}
