/* cmd_convert.c - `gemcl convert IN OUT --to hf|gguf [--dtype f32|f16|bf16|q8_0]`. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "model/convert.h"

static int usage(void) {
    printf("usage: gemcl convert IN OUT --to hf|gguf [--dtype f32|f16|bf16|q8_0]\n"
           "Converts any model gemcl loads (llama2.c .bin, HF directory, .gguf) to an HF directory\n"
           "(config.json + model.safetensors + the tokenizer file; q/k rows permuted to the HF rotate-half\n"
           "layout) or to a GGUF file (arch llama, adjacent-pair RoPE layout, tokenizer as metadata when the\n"
           "source has a llama2.c tokenizer or is a GGUF). 1-D tensors stay f32; default dtype f32.\n");
    return 0;
}

int cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *to = NULL, *dtype_name = "f32";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0)
            return usage();
        if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
            to = argv[++i];
        else if (strcmp(argv[i], "--dtype") == 0 && i + 1 < argc)
            dtype_name = argv[++i];
        else if (argv[i][0] == '-')
            return cli_error("convert: unknown option '%s'", argv[i]);
        else if (!in)
            in = argv[i];
        else if (!out)
            out = argv[i];
        else
            return cli_error("convert: unexpected argument '%s'", argv[i]);
    }
    gc_dtype dtype;
    if (!in || !out || !to)
        return cli_error("convert: needs IN OUT --to hf|gguf (see gemcl convert --help)");
    if (strcmp(to, "hf") != 0 && strcmp(to, "gguf") != 0)
        return cli_error("convert: --to must be hf or gguf, not '%s'", to);
    if (!gc_dtype_from_name(dtype_name, &dtype))
        return cli_error("convert: unknown --dtype '%s' (f32, f16, bf16, q8_0)", dtype_name);
    gc_model_file *m;
    gc_error err;
    if (gc_model_file_open(in, NULL, &m, &err) != GEMCL_OK)
        return cli_error("%s", err.msg);
    gemcl_status s = gc_model_convert(m, out, strcmp(to, "hf") == 0 ? GC_CONVERT_HF : GC_CONVERT_GGUF, dtype, &err);
    gc_model_file_close(m);
    if (s != GEMCL_OK)
        return cli_error("%s", err.msg);
    printf("wrote %s (%s, %s)\n", out, to, dtype_name);
    return 0;
}
