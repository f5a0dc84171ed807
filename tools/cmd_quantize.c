/* cmd_quantize.c - `gemcl quantize IN OUT TYPE [--pure] [--allow-requantize]`. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "options.h"

static int usage(void) {
    char names[512];
    gemcl_quantize_type_names(names, sizeof names);
    printf("usage: gemcl quantize IN OUT TYPE [--pure] [--allow-requantize]\n"
           "Writes any model gemcl loads (llama2.c .bin, HF directory, .gguf) as a GGUF file that gemcl and\n"
           "llama.cpp read, its matrices block-quantized (ggml's layouts); norms stay f32; the tokenizer and\n"
           "metadata are kept. TYPE (case-insensitive) is one of:\n"
           "  %s\n"
           "A weight type (q4_0, q4_k, iq4_nl, ...) quantizes every matrix to it. Q2_K, Q3_K_S/M/L, Q4_K_S/M and\n"
           "Q5_K_S/M are llama.cpp's mixes: the output matrix q6_k, and attn_v, ffn_down and attn_output with\n"
           "more bits in the layers llama.cpp picks. Rows that are not whole blocks fall back as llama.cpp's do\n"
           "(q2_k/q3_k -> q4_0, q4_k -> q5_0, q5_k -> q5_1, q6_k -> q8_0), then to f16.\n"
           "  --pure              a mix's base type for every matrix (Q2_K --pure: all q2_k)\n"
           "  --allow-requantize  accept a source that is already quantized (each pass adds error)\n",
           names);
    return 0;
}

int cmd_quantize(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *type = NULL;
    gemcl_quantize_params params = gemcl_quantize_default_params();
    cli_args c = cli_args_start("quantize", argc, argv);
    while (cli_next(&c)) {
        if (cli_is(&c, "--help", NULL))
            return usage();
        if (cli_is(&c, "--allow-requantize", NULL))
            params.allow_requantize = 1;
        else if (cli_is(&c, "--pure", NULL))
            params.pure = 1;
        else if (cli_is_option(&c))
            return cli_unknown(&c);
        else if (!in)
            in = c.arg;
        else if (!out)
            out = c.arg;
        else if (!type)
            type = c.arg;
        else
            return cli_unexpected(&c, "");
    }
    if (!type) {
        cli_error("quantize: needs IN OUT TYPE (see gemcl quantize --help)");
        return 2;
    }
    char err[4096];
    gemcl_status st = gemcl_quantize(in, out, type, &params, err, sizeof err);
    if (st != GEMCL_OK) {
        cli_error("%s", err);
        return st == GEMCL_ERR_INVALID_ARG ? 2 : 1; /* a bad TYPE is a usage error */
    }
    printf("wrote %s (%s)\n", out, type);
    return 0;
}
