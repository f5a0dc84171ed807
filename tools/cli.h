/* cli.h - the gemcl command-line tool: one file per subcommand, each an int cmd_X(argc, argv) that
 * returns the process exit code. Errors are printed as one line "gemcl: <message>" on stderr. */
#ifndef GEMCL_CLI_H
#define GEMCL_CLI_H

#include "gemcl.h"

int cmd_devices(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_gen_model(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_needle(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* `gemcl run -cnv` (conversation.c): user messages from stdin, replies to stdout, the cache kept between
 * turns. Returns the exit code. */
int cli_conversation(gemcl_model *model, gemcl_context *ctx, const gemcl_generate_params *params, const char *system,
                     const char *tmpl);

/* Prints "gemcl: <formatted message>" to stderr and returns 1 (the exit code for errors). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Bad input: a flag's value, a file that cannot be used, sizes that do not fit. */
#define EXIT_BAD_INPUT 2

/* Prints the message like cli_error and returns EXIT_BAD_INPUT. */
int cli_bad_input(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints which tuning profile a device uses (built-in name, file and where it came from) as one line after
 * indent (cmd_tune.c). Returns 0, or 1 when the device's profile file does not load (the line says why). */
int cli_print_profile(const char *device, const char *indent);

/* Formats a byte count as "1.50 GiB" into buf. */
const char *cli_bytes(uint64_t bytes, char *buf, size_t len);

#endif
