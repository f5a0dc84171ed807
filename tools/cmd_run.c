/* cmd_run.c - `gemcl run`: generate from a prompt with any method, llama.cpp-style flags and timings. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static void usage(void) {
    printf("usage: gemcl run -m MODEL (-p PROMPT | -f FILE) [options]\n"
           "  -m, --model PATH        HF directory, .gguf, or llama2.c .bin (tokenizer found beside it)\n"
           "  -p, --prompt TEXT       the prompt (default: empty, i.e. BOS only)\n"
           "  -f, --file FILE         read the prompt from FILE\n"
           "  -n, --n-predict N       new tokens at most (default 128)\n"
           "  -c, --ctx-size N        context rows (default: the model's trained context)\n"
           "  -ub, --ubatch-size N    prefill chunk (default 512)\n"
           "  -s, --seed N            sampling seed (default 42)\n"
           "  --temp T                temperature; 0 = greedy (default 0)\n"
           "  --top-k K --top-p P     sampling filters (defaults 40, 0.95)\n"
           "  --method NAME           full | gemfilter | promptdistill | snapkv | h2o | h2o-stream |\n"
           "                          streamingllm | pod-tf (default full); pod-tf is a training-free reading\n"
           "                          of POD, not the paper's retrained model\n"
           "                          (docs/METHODS.md; snapkv and h2o[-stream] select per KV head (GQA-native): the\n"
           "                          reference repeats KV to every query head and so uses H/G times more memory)\n"
           "  --filter-layer R        GemFilter's layer r (default: model card, else round(0.4 L))\n"
           "  --budget K              prompt tokens kept per layer (per KV head for snapkv, h2o), the same\n"
           "                          meaning for every method (default: model card, else 1024)\n"
           "  --window W              snapkv: observation window, part of the budget (default 32)\n"
           "  --pooling avg|max       snapkv: avg over 5 (default) or max over 7 before the top-k\n"
           "  --select-layers R1,R2.. promptdistill: selection layers, ascending (default: --filter-layer)\n"
           "  --budgets K1,K2..       promptdistill: rows kept at each selection layer (+ the last token)\n"
           "  --tt 0|1|-1             promptdistill: KV of earlier layers: 0 keep all, 1 truncate layers <= R1\n"
           "                          after the first selection, -1 truncate after every selection\n"
           "  --heavy H --recent R    h2o-stream: heavy-hitter and recent rows per KV head (default: K split in\n"
           "                          half; without --budget the paper's 1024 + 1024)\n"
           "  --block-size B          pod-tf: layers per block sharing the first one's distant logits (default 2);\n"
           "                          proximal keys: the first --sinks (default 16) + the last K - sinks\n"
           "                          (K default 4096 for pod-tf: 16 + 4080)\n"
           "  --sinks S               streamingllm: attention-sink tokens kept (default 4; window = K - S)\n"
           "  --show-selected[=json]  print what the method kept: the prompt text (token-level methods) or\n"
           "                          per-layer/head counts and a histogram of kept positions (snapkv, h2o,\n"
           "                          h2o-stream: what the prompt kept)\n"
           "  --truncate middle       drop the middle of a prompt longer than the context\n"
           "  --dtype f32|f16|bf16|q8_0   weight storage on the device (default: as in the file)\n"
           "  --act-f32               multiply quantized weights with f32 activations, exactly (default: 8-bit\n"
           "                          activations, as llama.cpp's CPU backend that gemcl is compared with)\n"
           "  --tokenizer PATH        tokenizer file, when not beside the model\n"
           "  --special               parse special tokens written in the prompt\n"
           "  --profile FILE          write a Chrome trace of every kernel (chrome://tracing, Perfetto)\n"
           "  --device N|NAME         OpenCL device (default: $GEMCL_DEVICE, else first GPU, else first)\n"
           "Text goes to stdout as it is generated; timings and memory go to stderr.\n");
}

typedef struct run_opts {
    const char *model, *prompt, *file, *tokenizer, *device, *profile;
    int n_predict, n_ctx, n_ubatch, show_selected_json, show_selected, truncate_middle, special;
    int n_select_layers, n_budgets, act_f32;
    gemcl_weight_dtype dtype;
    gemcl_generate_params g;
} run_opts;

static int stream_piece(const char *piece, size_t len, int32_t id, void *user) {
    (void)id, (void)user;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0;
}

static int parse_int(const char *s, const char *flag, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < -2147483647L || v > 2147483647L)
        return cli_error("run: %s expects an integer, got '%s'", flag, s);
    *out = (int)v;
    return 0;
}

static int parse_float(const char *s, const char *flag, float *out) {
    char *end;
    float v = strtof(s, &end);
    if (*end || end == s)
        return cli_error("run: %s expects a number, got '%s'", flag, s);
    *out = v;
    return 0;
}

/* "13,20" -> out[0..*n-1]; at most max values. */
static int parse_int_list(const char *s, const char *flag, int *out, int max, int *n) {
    *n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (*n == max)
            return cli_error("run: %s takes at most %d values", flag, max);
        if (parse_int(tok, flag, &out[(*n)++]))
            return 1;
    }
    return *n ? 0 : cli_error("run: %s needs a comma-separated list", flag);
}

static int parse_dtype(const char *s, gemcl_weight_dtype *out) {
    const char *names[] = {"f32", "f16", "bf16", "q8_0"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (gemcl_weight_dtype)i;
            return 0;
        }
    return cli_error("run: --dtype must be f32, f16, bf16 or q8_0, got '%s'", s);
}

static int is_flag(const char *arg, const char *name, const char *alias) {
    return strcmp(arg, name) == 0 || (alias && strcmp(arg, alias) == 0);
}

/* Parses argv into o; returns -1 after --help, 0 on success, 1 on a bad option. */
static int parse_args(int argc, char **argv, run_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define FLAG(s1, s2) is_flag(a, s1, s2)
#define NEED_VALUE()                                               \
    do {                                                           \
        if (!v)                                                    \
            return cli_error("run: %s needs a value", a);          \
        i++;                                                       \
    } while (0)
        if (FLAG("--help", "-h")) {
            usage();
            return -1;
        } else if (FLAG("-m", "--model")) { NEED_VALUE(); o->model = v; }
        else if (FLAG("-p", "--prompt")) { NEED_VALUE(); o->prompt = v; }
        else if (FLAG("-f", "--file")) { NEED_VALUE(); o->file = v; }
        else if (FLAG("--tokenizer", NULL)) { NEED_VALUE(); o->tokenizer = v; }
        else if (FLAG("--device", NULL)) { NEED_VALUE(); o->device = v; }
        else if (FLAG("--profile", NULL)) { NEED_VALUE(); o->profile = v; }
        else if (FLAG("-n", "--n-predict")) { NEED_VALUE(); if (parse_int(v, a, &o->g.max_tokens)) return 1; }
        else if (FLAG("-c", "--ctx-size")) { NEED_VALUE(); if (parse_int(v, a, &o->n_ctx)) return 1; }
        else if (FLAG("-ub", "--ubatch-size")) { NEED_VALUE(); if (parse_int(v, a, &o->n_ubatch)) return 1; }
        else if (FLAG("-s", "--seed")) { NEED_VALUE(); o->g.seed = strtoull(v, NULL, 10); }
        else if (FLAG("--temp", NULL)) { NEED_VALUE(); if (parse_float(v, a, &o->g.temperature)) return 1; }
        else if (FLAG("--top-k", NULL)) { NEED_VALUE(); if (parse_int(v, a, &o->g.top_k)) return 1; }
        else if (FLAG("--top-p", NULL)) { NEED_VALUE(); if (parse_float(v, a, &o->g.top_p)) return 1; }
        else if (FLAG("--filter-layer", NULL)) { NEED_VALUE(); if (parse_int(v, a, &o->g.method.filter_layer)) return 1; }
        else if (FLAG("--budget", NULL)) { NEED_VALUE(); if (parse_int(v, a, &o->g.method.budget)) return 1; }
        else if (FLAG("--window", NULL)) { NEED_VALUE(); if (parse_int(v, a, &o->g.method.window)) return 1; }
        else if (FLAG("--block-size", NULL)) { NEED_VALUE(); if (parse_int(v, a, &o->g.method.block_size)) return 1; }
        else if (FLAG("--heavy", NULL)) { NEED_VALUE(); if (parse_int(v, a, &o->g.method.heavy_budget)) return 1; }
        else if (FLAG("--recent", NULL)) { NEED_VALUE(); if (parse_int(v, a, &o->g.method.recent_budget)) return 1; }
        else if (FLAG("--tt", NULL)) { NEED_VALUE(); if (parse_int(v, a, &o->g.method.tt)) return 1; }
        else if (FLAG("--select-layers", NULL)) {
            NEED_VALUE();
            if (parse_int_list(v, a, o->g.method.select_layers, GEMCL_MAX_STAGES, &o->n_select_layers))
                return 1;
        } else if (FLAG("--budgets", NULL)) {
            NEED_VALUE();
            if (parse_int_list(v, a, o->g.method.stage_budgets, GEMCL_MAX_STAGES, &o->n_budgets))
                return 1;
        }
        else if (FLAG("--sinks", NULL)) { NEED_VALUE(); if (parse_int(v, a, &o->g.method.sink_tokens)) return 1; }
        else if (FLAG("--pooling", NULL)) {
            NEED_VALUE();
            if (strcmp(v, "avg") && strcmp(v, "max"))
                return cli_error("run: --pooling must be avg or max, got '%s'", v);
            o->g.method.pooling = strcmp(v, "max") == 0 ? GEMCL_POOLING_MAX7 : GEMCL_POOLING_AVG5;
        }
        else if (FLAG("--dtype", NULL)) { NEED_VALUE(); if (parse_dtype(v, &o->dtype)) return 1; }
        else if (FLAG("--act-f32", NULL)) { o->act_f32 = 1; }
        else if (FLAG("--method", NULL)) {
            NEED_VALUE();
            if (gemcl_method_from_name(v, &o->g.method.method) != GEMCL_OK)
                return cli_error("run: unknown method '%s' (full, gemfilter, promptdistill, snapkv, h2o, h2o-stream, streamingllm, pod-tf)", v);
        } else if (FLAG("--truncate", NULL)) {
            NEED_VALUE();
            if (strcmp(v, "middle") != 0)
                return cli_error("run: --truncate supports only 'middle', got '%s'", v);
            o->g.truncate_middle = 1;
        } else if (FLAG("--show-selected", NULL)) { o->show_selected = 1; }
        else if (FLAG("--show-selected=json", NULL)) { o->show_selected = o->show_selected_json = 1; }
        else if (FLAG("--special", NULL)) { o->g.parse_special = 1; }
        else
            return cli_error("run: unknown option '%s' (see gemcl run --help)", a);
#undef FLAG
#undef NEED_VALUE
    }
    if (!o->model)
        return cli_error("run: no model given (-m MODEL)");
    if (o->prompt && o->file)
        return cli_error("run: give either -p or -f, not both");
    if (o->g.max_tokens < 0)
        return cli_error("run: -n must be >= 0");
    if (o->n_select_layers != o->n_budgets)
        return cli_error("run: --select-layers and --budgets need the same number of values (%d vs %d)",
                         o->n_select_layers, o->n_budgets);
    o->g.method.n_stages = o->n_select_layers;
    return 0;
}

static char *read_prompt_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error("run: cannot open prompt file '%s': %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b)
                free(buf);
            buf = b;
        }
    }
    fclose(f);
    if (!buf)
        cli_error("run: out of memory reading '%s'", path);
    *len = n;
    return buf;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Per-head methods: how many rows each layer's KV heads kept and where they lie in the prompt (json: all). */
static void print_selected_heads(const run_opts *o, const gemcl_result *r) {
    int L = r->kept_layers, G = r->kept_kv_heads, B = r->kept_per_head, n = r->n_prompt_tokens;
    if (o->show_selected_json) {
        printf("{\"n_prompt_tokens\": %d, \"layers\": [", n);
        for (int l = 0; l < L; l++) {
            printf("%s[", l ? ", " : "");
            for (int g = 0; g < G; g++) {
                printf("%s[", g ? ", " : "");
                for (int i = 0; i < B; i++)
                    printf("%s%d", i ? ", " : "", r->kept_positions[((size_t)l * G + g) * B + i]);
                printf("]");
            }
            printf("]");
        }
        printf("]}\n");
        return;
    }
    enum { BINS = 10 };
    printf("\n----- kept by %s: %d of %d prompt tokens per KV head (%d layers x %d KV heads) -----\n",
           gemcl_method_name(o->g.method.method), B, n, L, G);
    printf("histogram of kept positions, %d bins of the prompt (first .. last):\n", BINS);
    for (int l = 0; l < L; l++) {
        for (int g = 0; g < G; g++) {
            int hist[BINS] = {0};
            for (int i = 0; i < B; i++)
                hist[(int64_t)r->kept_positions[((size_t)l * G + g) * B + i] * BINS / n]++;
            printf("layer %2d head %2d: %4d kept |", l, g, B);
            for (int b = 0; b < BINS; b++)
                printf(" %4d", hist[b]);
            printf("\n");
        }
    }
    printf("-----\n");
}

static void print_selected(gemcl_model *model, const char *prompt, size_t len, const run_opts *o,
                           const gemcl_result *r) {
    if (r->kept_positions) {
        print_selected_heads(o, r);
        return;
    }
    if (!r->kept_indices && o->g.method.method == GEMCL_METHOD_POD_TF) {
        fprintf(stderr, "selected: pod-tf keeps every prompt token; in each block the layers after the first keep "
                        "only the keys of proximal tokens (KV cache after prefill: %llu bytes)\n",
                (unsigned long long)r->kv_bytes);
        return;
    }
    if (!r->kept_indices) {
        fprintf(stderr, "selected: the whole prompt (%d tokens; method %s keeps everything here)\n",
                r->n_prompt_tokens, gemcl_method_name(o->g.method.method));
        return;
    }
    if (o->show_selected_json) {
        printf("{\"n_prompt_tokens\": %d, \"filter_layer\": %d, \"kept\": [", r->n_prompt_tokens, r->filter_layer);
        for (int i = 0; i < r->n_kept_tokens; i++)
            printf("%s%d", i ? ", " : "", r->kept_indices[i]);
        printf("]}\n");
        return;
    }
    int32_t *ids = NULL;
    int n = 0;
    char err[1024];
    if (gemcl_tokenize(model, prompt, len, o->g.add_bos, o->g.parse_special, &ids, &n, err, sizeof err) != GEMCL_OK) {
        cli_error("run: %s", err);
        return;
    }
    for (int i = 0; i < r->n_kept_tokens; i++)
        ids[i] = ids[r->kept_indices[i]];
    char *text = NULL, layer[32] = "";
    size_t tl = 0;
    if (r->filter_layer >= 0)
        snprintf(layer, sizeof layer, " (layer %d)", r->filter_layer);
    if (gemcl_detokenize(model, ids, r->n_kept_tokens, &text, &tl, err, sizeof err) == GEMCL_OK)
        printf("\n----- selected by %s%s: %d of %d prompt tokens -----\n%s\n-----\n",
               gemcl_method_name(o->g.method.method), layer, r->n_kept_tokens, r->n_prompt_tokens, text);
    gemcl_free(text);
    gemcl_free(ids);
}

static void print_timings(const gemcl_result *r, const gemcl_model_info *info, double load_ms, double total_ms) {
    char peak[32];
    fprintf(stderr, "\n");
    fprintf(stderr, "gemcl_print_timings:        load time = %10.2f ms\n", load_ms);
    if (r->filter_layer >= 0)
        fprintf(stderr, "gemcl_print_timings:      filter time = %10.2f ms / %5d tokens (%8.2f tokens per second)\n",
                r->filter_ms, r->n_prompt_tokens, r->filter_ms > 0 ? r->n_prompt_tokens / (r->filter_ms / 1e3) : 0.0);
    /* GemFilter prefills only the kept tokens; the KV methods prefill the whole prompt, then compress */
    int prefilled = r->filter_layer >= 0 ? r->n_kept_tokens : r->n_prompt_tokens;
    fprintf(stderr, "gemcl_print_timings: prompt eval time = %10.2f ms / %5d tokens (%8.2f ms per token, %8.2f tokens per second)\n",
            r->prefill_ms, prefilled, prefilled ? r->prefill_ms / prefilled : 0.0,
            r->prefill_ms > 0 ? prefilled / (r->prefill_ms / 1e3) : 0.0);
    int runs = r->n_generated > 1 ? r->n_generated - 1 : 0; /* the first token comes from the prefill */
    fprintf(stderr, "gemcl_print_timings:        eval time = %10.2f ms / %5d runs   (%8.2f ms per token, %8.2f tokens per second)\n",
            r->decode_ms, runs, runs ? r->decode_ms / runs : 0.0, r->decode_ms > 0 ? runs / (r->decode_ms / 1e3) : 0.0);
    fprintf(stderr, "gemcl_print_timings:       total time = %10.2f ms / %5d tokens\n", total_ms,
            r->n_prompt_tokens + r->n_generated);
    fprintf(stderr, "gemcl_print_timings: peak device memory = %s (KV cache after prefill %llu bytes)\n",
            cli_bytes(r->peak_device_bytes, peak, sizeof peak), (unsigned long long)r->kv_bytes);
    /* full attention keeps K and V (f32) of every prompt token in every layer */
    double full = (double)r->n_prompt_tokens * info->n_layers * info->n_kv_heads * info->head_dim * 2 * 4;
    if (r->kv_bytes > 0 && (double)r->kv_bytes < full) {
        fprintf(stderr, "gemcl_print_timings:    KV saving = %5.1f %% of full attention's %.0f bytes\n",
                100.0 * (1.0 - (double)r->kv_bytes / full), full);
    }
}

int cmd_run(int argc, char **argv) {
    run_opts o = {0};
    o.g = gemcl_generate_default_params();
    o.dtype = GEMCL_WEIGHT_DTYPE_AUTO;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    size_t len = o.prompt ? strlen(o.prompt) : 0;
    char *file_prompt = NULL;
    if (o.file && !(file_prompt = read_prompt_file(o.file, &len)))
        return 1;
    const char *prompt = file_prompt ? file_prompt : o.prompt ? o.prompt : "";
    double t0 = now_ms();
    gemcl_model_params mp = gemcl_model_default_params();
    mp.device = o.device;
    mp.tokenizer_path = o.tokenizer;
    mp.weight_dtype = o.dtype;
    mp.act_f32 = o.act_f32;
    mp.profiling = o.profile != NULL;
    gemcl_model *model = NULL;
    gemcl_context *ctx = NULL;
    char err[4096];
    if (gemcl_model_load(o.model, &mp, &model, err, sizeof err) != GEMCL_OK) {
        free(file_prompt);
        return cli_error("%s", err);
    }
    gemcl_context_params cp = gemcl_context_default_params();
    cp.n_ctx = o.n_ctx;
    cp.n_ubatch = o.n_ubatch;
    if (gemcl_context_create(model, &cp, &ctx, err, sizeof err) != GEMCL_OK) {
        gemcl_model_free(model);
        free(file_prompt);
        return cli_error("%s", err);
    }
    double load_ms = now_ms() - t0;
    gemcl_model_info info;
    gemcl_model_get_info(model, &info);
    if (o.g.method.method == GEMCL_METHOD_GEMFILTER && o.g.method.filter_layer < 0 && !info.filter_layer_from_card)
        fprintf(stderr, "gemcl: no model card for this model: filter layer r = round(0.4 * %d) = %d\n", info.n_layers,
                info.filter_layer);
    o.g.on_token = stream_piece;
    gemcl_result r;
    gemcl_status st = gemcl_generate(ctx, prompt, len, &o.g, &r);
    if (st != GEMCL_OK) {
        rc = cli_error("%s", gemcl_context_last_error(ctx));
    } else {
        double total_ms = now_ms() - t0;
        if (o.show_selected)
            print_selected(model, prompt, len, &o, &r);
        print_timings(&r, &info, load_ms, total_ms);
        gemcl_result_free(&r);
        if (o.profile && gemcl_model_write_trace(model, o.profile, err, sizeof err) != GEMCL_OK)
            rc = cli_error("%s", err);
    }
    gemcl_context_free(ctx);
    gemcl_model_free(model);
    free(file_prompt);
    return rc;
}
