/* cmd_devices.c - `gemcl devices`: what OpenCL offers here and what gemcl would pick. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "options.h"

static const char *type_name(gemcl_device_type t) {
    switch (t) {
    case GEMCL_DEVICE_TYPE_CPU: return "CPU";
    case GEMCL_DEVICE_TYPE_GPU: return "GPU";
    case GEMCL_DEVICE_TYPE_ACCELERATOR: return "accelerator";
    default: return "other";
    }
}

int cmd_devices(int argc, char **argv) {
    const char *spec = NULL;
    cli_args c = cli_args_start("devices", argc, argv);
    while (cli_next(&c)) {
        int rc = 0;
        if (cli_is(&c, "--help", NULL)) {
            printf("usage: gemcl devices [--device N|NAME]\n"
                   "Lists every OpenCL device; marks the default (first GPU, else first device) and the one\n"
                   "--device or GEMCL_DEVICE would choose, and the tuning profile each uses (gemcl tune).\n");
            return 0;
        } else if (cli_is(&c, "--device", NULL))
            rc = cli_str(&c, &spec);
        else
            rc = cli_unknown(&c);
        if (rc)
            return rc;
    }
    gemcl_device_info devs[64];
    int n = 0, def = -1, chosen = -1;
    char err[1024];
    if (gemcl_devices_list(devs, 64, &n, &def, err, sizeof err) != GEMCL_OK)
        return cli_error("%s", err);
    if (gemcl_device_choose(spec, &chosen, err, sizeof err) != GEMCL_OK)
        return cli_error("%s", err);
    int last_platform = -1, bad_profiles = 0;
    for (int i = 0; i < n && i < 64; i++) {
        const gemcl_device_info *d = &devs[i];
        char g[32], l[32], a[32];
        if (d->platform_index != last_platform) {
            printf("platform %d: %s (%s)\n", d->platform_index, d->platform_name, d->platform_version);
            last_platform = d->platform_index;
        }
        printf("  device %d: %s%s%s\n", d->index, d->name, i == def ? "  [default]" : "",
               i == chosen && chosen != def ? "  [chosen]" : "");
        printf("    vendor %s, type %s, driver %s, %s\n", d->vendor, type_name(d->type), d->driver_version,
               d->opencl_c_version);
        printf("    compute units %u, global memory %s, local memory %s, max single allocation %s\n",
               d->compute_units, cli_bytes(d->global_mem_bytes, g, sizeof g),
               cli_bytes(d->local_mem_bytes, l, sizeof l), cli_bytes(d->max_alloc_bytes, a, sizeof a));
        printf("    fp16 arithmetic %s, subgroups %s, integer dot products %s\n", d->has_fp16 ? "yes" : "no",
               d->has_subgroups ? "yes" : "no", d->has_int_dot ? "yes" : "no");
        char index[16];
        snprintf(index, sizeof index, "%d", d->index);
        bad_profiles += cli_print_profile(index, "    ");
    }
    const gemcl_device_info *use = &devs[chosen < 64 ? chosen : 0];
    printf("gemcl uses device %d: %s (%s)\n", chosen, use->name, use->platform_name);
    return bad_profiles ? 1 : 0;
}
