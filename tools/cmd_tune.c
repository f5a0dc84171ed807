/* cmd_tune.c - `gemcl tune`: measure a device's kernel tunables and write its profile (gemcl_device_tune), or
 * with --show say which profile the device uses now (gemcl_device_profile). Candidate tables go to stdout as
 * they are measured, progress to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"

typedef struct tune_cli {
    gemcl_tune_params params;
    int show;
    int verbose;
    char group[16]; /* the group whose table is being printed */
    int confirming; /* its confirmation round has begun */
    double builtin_ms;
} tune_cli;

static void usage(void) {
    printf("usage: gemcl tune [--device N|NAME] [--quick] [-o FILE] [--repetitions N] [--dtype T] [--only GROUPS]\n"
           "       gemcl tune --show [--device N|NAME]\n"
           "Times candidate values of the kernels' tunables on representative shapes (GEMM tiles at prefill,\n"
           "CLBlast or our kernel for f32, GEMV at decode, attention at prefill and short decode), checks every\n"
           "candidate's output against the built-in profile's, and writes the fastest (by median, confirmed by a\n"
           "second measurement taken in turn with the built-in values) as the device's profile, which every model loaded on the device\n"
           "uses from then on (unless GEMCL_PROFILE names another file). Run it on a quiet machine.\n"
           "  --device N|NAME    device index or name substring (default: GEMCL_DEVICE, then the default)\n"
           "  --quick            a few values per tunable (minutes on a 2-core CPU); default: the full grid\n"
           "  --smoke            tiny shapes, one or two candidates: checks the machinery, measures nothing\n"
           "  -o, --output FILE  write the profile here instead of the device's tuned-profile path\n"
           "  -r, --repetitions N  timed samples per candidate (each >= 50 ms of passes), median kept\n"
           "                     (default 5, --quick 3)\n"
           "  --dtype T          weights of the gemm and gemv workloads: f16 (default), bf16, q8_0, f32\n"
           "  --only GROUPS      comma-separated subset of gemm,gemm_f32,gemv,attention (keys of the other\n"
           "                     groups already in the output file are kept)\n"
           "  --show             print which profile the device uses (built-in, GEMCL_PROFILE or tuned file)\n"
           "  -v, --verbose      also log each candidate as its measurement starts\n");
}

/* Returns 0 to go on, -1 after --help, 1 on a bad option. */
static int parse(int argc, char **argv, tune_cli *c) {
    gemcl_tune_params *p = &c->params;
    cli_args args = cli_args_start("tune", argc, argv);
    while (cli_next(&args)) {
        const char *dtype = NULL;
        int rc = 0;
        if (cli_is(&args, "--help", "-h")) {
            usage();
            return -1;
        } else if (cli_is(&args, "--quick", NULL)) p->grid = GEMCL_TUNE_GRID_QUICK;
        else if (cli_is(&args, "--smoke", NULL)) p->grid = GEMCL_TUNE_GRID_SMOKE;
        else if (cli_is(&args, "--show", NULL)) c->show = 1;
        else if (cli_is(&args, "-v", "--verbose")) c->verbose = 1;
        else if (cli_is(&args, "--device", NULL)) rc = cli_str(&args, &p->device);
        else if (cli_is(&args, "-o", "--output")) rc = cli_str(&args, &p->output_path);
        else if (cli_is(&args, "--only", NULL)) rc = cli_str(&args, &p->groups);
        else if (cli_is(&args, "-r", "--repetitions")) rc = cli_int(&args, 1, 1000, &p->repetitions);
        else if (cli_is(&args, "--dtype", NULL)) {
            if (!(rc = cli_str(&args, &dtype)) && gemcl_weight_dtype_from_name(dtype, &p->weight_dtype) != GEMCL_OK)
                rc = cli_usage_error("tune: unknown dtype '%s' (f32, f16, bf16, q8_0)", dtype);
        } else
            rc = cli_unknown(&args);
        if (rc)
            return rc;
    }
    return 0;
}

static void log_line(gemcl_log_level level, const char *message, void *user) {
    const tune_cli *c = user;
    if (level >= GEMCL_LOG_LEVEL_INFO || c->verbose)
        fprintf(stderr, "[tune] %s\n", message);
}

/* One table row per candidate, with a header whenever a new group starts. */
static int print_candidate(const gemcl_tune_candidate *cand, void *user) {
    tune_cli *c = user;
    if (strcmp(c->group, cand->group) != 0) {
        snprintf(c->group, sizeof c->group, "%s", cand->group);
        c->builtin_ms = -1;
        c->confirming = 0;
        printf("\n%s: %s\n  %-56s %10s %12s  %s\n", cand->group, cand->workload, "candidate", "median ms",
               "vs built-in", "check (nmse, max abs error)");
    }
    if (cand->confirmation && !c->confirming) {
        c->confirming = 1;
        printf("  confirmation: the built-in values and the winner again, sample by sample in turn\n");
    }
    if (cand->is_builtin && cand->status == GEMCL_OK)
        c->builtin_ms = cand->median_ms;
    char setting[96];
    snprintf(setting, sizeof setting, "%s%s", cand->setting, cand->is_builtin ? " (built-in)" : "");
    if (cand->status != GEMCL_OK)
        printf("  %-56s %10s %12s  skipped: %s\n", setting, "-", "-", cand->message);
    else if (c->builtin_ms > 0)
        printf("  %-56s %10.2f %11.2fx  %.1e, %.1e\n", setting, cand->median_ms, c->builtin_ms / cand->median_ms,
               cand->nmse, cand->max_abs_err);
    else
        printf("  %-56s %10.2f %12s  %.1e, %.1e\n", setting, cand->median_ms, "-", cand->nmse, cand->max_abs_err);
    fflush(stdout);
    return 0;
}

static void print_summary(const gemcl_tune_result *r) {
    printf("\nwinners on %s (speed-up = built-in median / winner median):\n", r->device_name);
    for (int g = 0; g < r->n_groups; g++) {
        const gemcl_tune_group *t = &r->groups[g];
        if (t->status != GEMCL_OK)
            printf("  %-9s not tuned: %s\n", t->name, t->message);
        else if (t->builtin_ms > 0)
            printf("  %-9s %-46s %9.2f ms  %.2fx  (built-in %s: %.2f ms)\n", t->name, t->winner, t->winner_ms,
                   t->builtin_ms / t->winner_ms, t->builtin, t->builtin_ms);
        else
            printf("  %-9s %-46s %9.2f ms  (the built-in %s failed)\n", t->name, t->winner, t->winner_ms, t->builtin);
    }
    printf("wrote %s\n", r->path);
}

/* The profile line `gemcl devices` and `gemcl tune --show` print for a device. Returns 0, or 1 when its file
 * does not load. */
int cli_print_profile(const char *device, const char *indent) {
    gemcl_profile_info info;
    char err[1024];
    gemcl_status st = gemcl_device_profile(device, &info, err, sizeof err);
    if (st != GEMCL_OK && !info.builtin[0])
        return cli_error("%s", err);
    if (info.file[0])
        printf("%sprofile: built-in %s + %s (%s)%s%s\n", indent, info.builtin, info.file,
               info.file_from_env ? "GEMCL_PROFILE" : "tuned", st != GEMCL_OK ? " - does not load: " : "",
               st != GEMCL_OK ? err : "");
    else
        printf("%sprofile: built-in %s (no tuned profile%s%s)\n", indent, info.builtin,
               info.tuned_path[0] ? " at " : "; the cache is off", info.tuned_path);
    return st != GEMCL_OK;
}

int cmd_tune(int argc, char **argv) {
    tune_cli c = {.params = gemcl_tune_default_params()};
    int rc = parse(argc, argv, &c);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (c.show)
        return cli_print_profile(c.params.device, "");
    c.params.log = log_line;
    c.params.log_user = &c;
    c.params.on_candidate = print_candidate;
    c.params.on_candidate_user = &c;
    gemcl_tune_result r;
    char err[1024];
    if (gemcl_device_tune(&c.params, &r, err, sizeof err) != GEMCL_OK)
        return cli_error("%s", err);
    print_summary(&r);
    return 0;
}
