/* cmd_bench.c - `gemcl bench`: llama-bench-style rows (pp, tg, ttft per method), the host's DRAM bandwidth and,
 * with --vs-blas, the prefill GEMM shapes against OpenBLAS. The work is in bench.c and bench_gemm.c. */
#include <stdio.h>

#include "bench.h"
#include "cli.h"

int cmd_bench(int argc, char **argv) {
    bench_opts o = bench_default_opts();
    int rc = bench_parse(argc, argv, &o, stdout);
    if (rc)
        return rc < 0 ? 0 : rc;
    bench_vs_blas_hook = bench_vs_blas;
    bench_report rep;
    if (bench_run(&o, &rep))
        return 1;
    for (int i = 0; i < o.n_formats; i++) {
        if (i)
            fputc('\n', stdout);
        bench_print(&rep, o.formats[i], stdout);
    }
    bench_report_free(&rep);
    return 0;
}
