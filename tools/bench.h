/* bench.h - `gemcl bench`: llama-bench-style measurements of a model on one device, through the public API.
 *
 * A run is: parse options (bench_parse), measure (bench_run: every requested row, each repeated after
 * warm-up runs), print (bench_print in md, csv, json or the README's summary layout). The --vs-blas GEMM
 * comparison lives in bench_gemm.c, the only part that uses internal headers and OpenBLAS, and is linked
 * into the CLI alone; everything here is also compiled into the tests (tests/test_bench.c).
 *
 * Rows (all of one model, context and ubatch):
 *   pp<N>     prompt tokens per second for an N-token prompt: N / (filter_ms + prefill_ms), one per method
 *   ttft@<N>  time to first token for an N-token prompt in ms (filter_ms + prefill_ms), one per method;
 *             measured by the same runs as pp<N> (one generated token each)
 *   mem@<N>   peak device memory of the prompt phase for an N-token prompt, one per method, from one run that
 *             stops at the prefill's first progress report (the engine allocates the prefill's buffers before
 *             that report, so a 32K full prompt costs one chunk, not a whole prefill; GemFilter's filter pass
 *             runs through, then its regenerate prefill stops at once); tests/test_bench.c checks it against
 *             complete runs where either of GemFilter's passes holds the peak
 *   tg<N>     decode tokens per second over N generated tokens after a 1-token prompt (where every method
 *             behaves like full, METHODS.md), for the first method only; with the bandwidth probe also the
 *             bytes read per token as a fraction of the host's triad bandwidth
 * Every run gets a fresh context, so KV buffers of an earlier call never count in a later call's peak.
 * Prompts are deterministic token ids (bench_prompt_ids), so random-weight models need no tokenizer text. */
#ifndef GEMCL_BENCH_H
#define GEMCL_BENCH_H

#include <stdint.h>
#include <stdio.h>

#include "gemcl.h"

#define BENCH_MAX_LIST 16

typedef enum bench_format { BENCH_FORMAT_MD, BENCH_FORMAT_CSV, BENCH_FORMAT_JSON, BENCH_FORMAT_SUMMARY } bench_format;

typedef struct bench_opts {
    const char *model;
    const char *device;               /* NULL = $GEMCL_DEVICE, then the default */
    gemcl_weight_dtype dtype;
    int act_f32;                      /* --act-f32: quantized weights times f32 activations */
    int n_prompt[BENCH_MAX_LIST], n_prompt_count; /* -p: pp and ttft rows */
    int n_gen[BENCH_MAX_LIST], n_gen_count;       /* -n: tg rows */
    int n_mem[BENCH_MAX_LIST], n_mem_count;       /* --mem: mem rows */
    gemcl_method methods[BENCH_MAX_LIST];
    int n_methods;
    int repetitions;                  /* -r, after the warm-up runs */
    int warmup;                       /* runs per row that are not counted */
    int filter_layer;                 /* -1 = the model's default */
    int budget;                       /* 0 = the model's default */
    int n_ubatch;                     /* 0 = 512 */
    bench_format formats[4];          /* -o md,json: printed one after the other */
    int n_formats;
    int vs_blas;                      /* compare prefill GEMM shapes with OpenBLAS (CLI only) */
    int bandwidth;                    /* run the host DRAM bandwidth probe (tg rows report a fraction of it) */
} bench_opts;

/* Defaults: -p 512 -n 128 -r 5, method full, one warm-up, md, bandwidth probe on. */
bench_opts bench_default_opts(void);

/* Parses argv (argv[0] is "bench") into o. Returns 0 on success, -1 after --help (usage printed to out),
 * 2 on a bad option (one "gemcl: ..." line on stderr: a usage error). */
int bench_parse(int argc, char **argv, bench_opts *o, FILE *out);

/* mean, standard deviation (n - 1) and median of n samples. */
typedef struct bench_stats {
    double mean, std, median;
    int n;
} bench_stats;

bench_stats bench_stats_of(const double *x, int n);

typedef enum bench_kind { BENCH_KIND_PP, BENCH_KIND_TG, BENCH_KIND_TTFT, BENCH_KIND_MEM } bench_kind;

typedef struct bench_row {
    bench_kind kind;
    char test[32];                    /* "pp512", "tg128", "ttft@4096" */
    gemcl_method method;
    int n_prompt, n_gen, n_kept;      /* n_kept: prompt tokens the model saw after the method */
    int filter_layer;                 /* -1 for full */
    int budget;                       /* 0 for full */
    bench_stats value;                /* tokens/s (pp, tg), ms (ttft) or MiB (mem) */
    bench_stats filter_ms, prefill_ms;
    uint64_t peak_device_bytes;       /* largest peak over the repetitions, weights included */
    uint64_t kv_bytes;                /* KV cache after prefill */
    double bytes_per_token;           /* tg: device bytes read per decode step (weights + KV) */
    double bw_fraction;               /* tg: median over runs of bytes_per_token * tokens/s / the triad
                                         bandwidth measured just before that run; 0 without a probe */
    double triad_gbs;                 /* tg: median of those triad passes (GB/s) */
} bench_row;

/* Host DRAM bandwidth, STREAM-style, with 2 threads: median GB/s (1e9 bytes/s) of copy and triad. */
typedef struct bench_bandwidth {
    double copy_gbs, triad_gbs;
    int threads;
    size_t array_bytes;
} bench_bandwidth;

/* One GEMM shape of the model's prefill: y (n, rows) = x (n, cols) W^T, timed on the host (OpenBLAS) and
 * on the device (the engine's matmul with the model's weights). GFLOP/s are medians over repetitions. */
typedef struct bench_gemm {
    char name[32];                    /* "wq", "w_gate", "lm_head", ... */
    int n, rows, cols;
    int count;                        /* matrices of this shape per forward pass */
    bench_stats host_gflops, device_gflops;
} bench_gemm;

typedef struct bench_report {
    char date[32];                    /* UTC, ISO 8601 */
    char machine[160];                /* host CPU model and online cores */
    char device[256];
    char model_name[128];             /* file or directory name */
    char shape[160];                  /* "llama L22 d2048 h32/4 ff5632 v32000 (1.10B params)" */
    char dtype[32];
    gemcl_model_info info;
    int n_ubatch, repetitions;
    bench_row *rows;
    int n_rows;
    int have_bandwidth;
    bench_bandwidth bandwidth;
    bench_gemm *gemms;
    int n_gemms;
} bench_report;

/* Loads the model, measures every row (progress on stderr) and fills *report. Returns 0 or 1 after printing
 * one "gemcl: ..." line. The caller frees the report with bench_report_free. */
int bench_run(const bench_opts *o, bench_report *report);
void bench_report_free(bench_report *report);

/* Writes the report to out in the given format. */
void bench_print(const bench_report *report, bench_format format, FILE *out);

/* The deterministic prompt of n ids for a vocabulary: a fixed pseudo-random walk over ids 3..vocab-1 (clear
 * of the usual BOS/EOS/UNK ids), the same for every run, method and machine. */
void bench_prompt_ids(int32_t *ids, int n, int vocab_size);

/* Measures host DRAM bandwidth with threads threads over arrays of array_bytes each. */
int bench_bandwidth_probe(int threads, size_t array_bytes, int repetitions, bench_bandwidth *out);

/* bench_gemm.c (CLI only): fills report->gemms with the model's prefill GEMM shapes at n = ubatch, timed
 * through OpenBLAS and the device. Returns 0 or 1 after printing one "gemcl: ..." line. */
int bench_vs_blas(gemcl_model *model, const bench_opts *o, bench_report *report);

/* The hook bench_run calls for --vs-blas; NULL (the default, and in the tests) = unavailable. */
extern int (*bench_vs_blas_hook)(gemcl_model *model, const bench_opts *o, bench_report *report);

#endif
