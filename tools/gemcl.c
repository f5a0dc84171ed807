/* gemcl.c - the CLI's entry point: dispatches to one subcommand per file. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"devices", cmd_devices, "list OpenCL platforms and devices, and the one gemcl picks"},
    {"run", cmd_run, "generate from a prompt (full attention or GemFilter)"},
    {"inspect", cmd_inspect, "show a model file's format, hyperparameters, tokenizer and tensors"},
    {"convert", cmd_convert, "convert a model to an HF directory or a GGUF file"},
    {"quantize", cmd_quantize, "write a model as a GGUF with block-quantized weights (q4_0 .. q6_k, Q4_K_M, ...)"},
    {"gen-model", cmd_gen_model, "write a deterministic random model at a model card's shapes"},
    {"bench", cmd_bench, "measure prompt/decode speed, time to first token and memory per method"},
    {"tokenize", cmd_tokenize, "text -> token ids and pieces, or ids -> text, with a tokenizer file"},
    {"needle", cmd_needle, "needle-in-a-haystack / passkey grid: methods side by side, JSONL, CSV, SVG heatmap"},
    {"tune", cmd_tune, "measure a device's kernel tunables and write its profile (--show: the profile in use)"},
    {"perplexity", cmd_perplexity, "llama-perplexity's measure on a text file (chunks of -c tokens, second halves scored)"},
    {"serve", cmd_serve, "an OpenAI-compatible HTTP server: chat, completions, GemFilter per request, metrics"},
    {"eval", cmd_eval, "RULER's synthetic tasks (eval ruler): methods at compression ratios, JSONL, CSV, SVG chart"},
    {"calibrate", cmd_calibrate, "sweep GemFilter's filter layer on a small grid; recommend r, write a model card"},
};

static void print_error(const char *fmt, va_list ap) {
    fputs("gemcl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    print_error(fmt, ap);
    va_end(ap);
    return 1;
}

int cli_bad_input(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    print_error(fmt, ap);
    va_end(ap);
    return EXIT_BAD_INPUT;
}

const char *cli_bytes(uint64_t bytes, char *buf, size_t len) {
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, len, u ? "%.2f %s" : "%.0f %s", v, units[u]);
    return buf;
}

static void usage(FILE *out) {
    fprintf(out, "usage: gemcl COMMAND [options]   (gemcl COMMAND --help for a command's options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nenvironment: GEMCL_DEVICE (device index or name), GEMCL_CACHE_DIR (kernel cache and tuned profiles;\n"
                 "'off'), GEMCL_PROFILE (a tuning profile file laid over the built-in one)\n");
}

/* Every command writes its results to stdout through stdio, whose errors (a full disk, /dev/full, a closed
 * pipe) surface only at a flush. A command that succeeded but whose output did not arrive must not exit 0, so
 * stdout is flushed and closed here and a failure becomes the one error line. After a failed command (rc != 0,
 * its line already printed) the exit code stands and nothing more is printed. */
static int finish_stdout(int rc) {
    errno = 0;
    bool failed = fflush(stdout) != 0 || ferror(stdout);
    int flush_errno = errno;
    if (fclose(stdout) != 0 && !failed) {
        failed = true;
        flush_errno = errno;
    }
    if (!failed || rc != 0)
        return rc;
    cli_error("error writing to stdout: %s", flush_errno ? strerror(flush_errno) : "write failed");
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return finish_stdout(argc < 2 ? 2 : 0);
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("gemcl %d.%d.%d (library %s)\n", GEMCL_VERSION_MAJOR, GEMCL_VERSION_MINOR, GEMCL_VERSION_PATCH,
               gemcl_version());
        return finish_stdout(0);
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return finish_stdout(commands[i].run(argc - 1, argv + 1));
    cli_error("unknown command '%s' (try gemcl --help)", argv[1]);
    return 2;
}
