/* cmd_convert.c - `gemcl convert IN OUT --to hf|gguf [--dtype f32|f16|bf16|q8_0]`. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "options.h"

static int usage(void) {
    printf("usage: gemcl convert IN OUT --to hf|gguf [--dtype f32|f16|bf16|q8_0]\n"
           "Converts any model gemcl loads (llama2.c .bin, HF directory, .gguf) to an HF directory\n"
           "(config.json + model.safetensors + the tokenizer file; q/k rows permuted to the HF rotate-half\n"
           "layout) or to a GGUF file (arch llama with adjacent-pair RoPE, or qwen2 with its q/k/v biases and\n"
           "the rotate-half layout; tokenizer as metadata when the source has a llama2.c tokenizer or is a\n"
           "GGUF). 1-D tensors stay f32; default dtype f32.\n");
    return 0;
}

int cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *to = NULL, *dtype_name = "f32";
    cli_args c = cli_args_start("convert", argc, argv);
    while (cli_next(&c)) {
        int rc = 0;
        if (cli_is(&c, "--help", NULL))
            return usage();
        if (cli_is(&c, "--to", NULL))
            rc = cli_str(&c, &to);
        else if (cli_is(&c, "--dtype", NULL))
            rc = cli_str(&c, &dtype_name);
        else if (cli_is_option(&c))
            rc = cli_unknown(&c);
        else if (!in)
            in = c.arg;
        else if (!out)
            out = c.arg;
        else
            rc = cli_unexpected(&c, "");
        if (rc)
            return rc;
    }
    gemcl_weight_dtype dtype;
    if (!in || !out || !to)
        return cli_error("convert: needs IN OUT --to hf|gguf (see gemcl convert --help)");
    if (strcmp(to, "hf") != 0 && strcmp(to, "gguf") != 0)
        return cli_error("convert: --to must be hf or gguf, not '%s'", to);
    if (gemcl_weight_dtype_from_name(dtype_name, &dtype) != GEMCL_OK || dtype == GEMCL_WEIGHT_DTYPE_AUTO)
        return cli_error("convert: unknown --dtype '%s' (f32, f16, bf16, q8_0)", dtype_name);
    char err[4096];
    gemcl_convert_format format = strcmp(to, "hf") == 0 ? GEMCL_CONVERT_FORMAT_HF : GEMCL_CONVERT_FORMAT_GGUF;
    if (gemcl_convert(in, out, format, dtype, err, sizeof err) != GEMCL_OK)
        return cli_error("%s", err);
    printf("wrote %s (%s, %s)\n", out, to, dtype_name);
    return 0;
}
