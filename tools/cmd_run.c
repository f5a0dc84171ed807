/* cmd_run.c - `gemcl run`: generate from a prompt with any method, llama.cpp-style flags and timings. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "options.h"

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
           "                          streamingllm | pod-tf | stride (default full);\n"
           "                          pod-tf is a training-free reading of POD, not the paper's retrained model;\n"
           "                          stride keeps --budget evenly spaced prompt tokens (a query-agnostic baseline)\n"
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
           "                          h2o-stream: what the prompt kept); =json: one JSON object (method,\n"
           "                          all_kept, kept or layers) as the last line of stdout, for every method\n"
           "  --show-selected=json:FILE   the same JSON object written to FILE, stdout keeps the text alone\n"
           "  --truncate middle       drop the middle of a prompt longer than the context\n"
           "  --dtype f32|f16|bf16|q8_0   weight storage on the device (default: as in the file)\n"
           "  --act-f32               multiply quantized weights with f32 activations, exactly (default: 8-bit\n"
           "                          activations, as llama.cpp's CPU backend that gemcl is compared with)\n"
           "  --tokenizer PATH        tokenizer file, when not beside the model\n"
           "  --special               parse special tokens written in the prompt\n"
           "  --chat                  the prompt is a user message, rendered in the model's chat template;\n"
           "                          generation stops at the template's end of turn\n"
           "  --system TEXT           with --chat or -cnv: a system message before it\n"
           "  -cnv, --conversation    chat on stdin/stdout: each line a user message, /exit or end of input\n"
           "                          ends; the cache is kept between turns (only new tokens are prefilled;\n"
           "                          pod-tf, whose shortened keys last one call, runs every turn afresh);\n"
           "                          -p/-f is then the system message, as in llama.cpp\n"
           "  --chat-template NAME    with --chat (implied): this template family instead of the model's own\n"
           "                          (chatml, llama3, llama2[-sys[-bos|-strip]], mistral-v1|v3|v3-tekken|v7,\n"
           "                          phi3, zephyr, gemma)\n"
           "  --profile FILE          write a Chrome trace of every kernel (chrome://tracing, Perfetto)\n"
           "  --device N|NAME         OpenCL device (default: $GEMCL_DEVICE, else first GPU, else first)\n"
           "Text goes to stdout as it is generated; timings and memory go to stderr.\n");
}

typedef struct run_opts {
    const char *model, *prompt, *file, *tokenizer, *device, *profile, *system, *chat_template;
    int chat, conversation;
    int n_predict, n_ctx, n_ubatch, show_selected_json, show_selected, truncate_middle, special;
    const char *selected_json_path; /* --show-selected=json:FILE; NULL = the last line of stdout */
    int n_select_layers, n_budgets, act_f32;
    gemcl_weight_dtype dtype;
    gemcl_generate_params g;
} run_opts;

typedef struct stream_state {
    int write_errno; /* of the first refused write */
    char last;       /* the last byte streamed ('\n' before any) */
} stream_state;

/* Streams a piece to stdout; when stdout refuses it (a full disk, /dev/full) generation stops, since nobody
 * would see the rest, and the errno is kept for the one error line. */
static int stream_piece(const char *piece, size_t len, int32_t id, void *user) {
    (void)id;
    stream_state *s = user;
    errno = 0;
    if (fwrite(piece, 1, len, stdout) != len || fflush(stdout) != 0) {
        s->write_errno = errno ? errno : EIO;
        return 1;
    }
    if (len)
        s->last = piece[len - 1];
    return 0;
}

static int parse_dtype(const char *s, gemcl_weight_dtype *out) {
    const char *names[] = {"f32", "f16", "bf16", "q8_0"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (gemcl_weight_dtype)i;
            return 0;
        }
    return cli_usage_error("run: --dtype must be f32, f16, bf16 or q8_0, got '%s'", s);
}

/* An output file given on the command line (--show-selected=json:FILE, --profile FILE) is checked before the
 * model loads, so a typo costs no run: its directory must exist and be writable, and it must not be a directory.
 * Nothing is created here. */
static int check_output_path(const char *flag, const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        slash[slash == dir ? 1 : 0] = '\0';
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return cli_usage_error("run: %s %s is a directory", flag, path);
    if (access(dir, W_OK | X_OK) != 0)
        return cli_usage_error("run: %s %s: cannot write in '%s': %s", flag, path, dir, strerror(errno));
    return 0;
}

/* Parses argv into o; returns -1 after --help, 0 on success, 1 on a bad option. */
static int parse_args(int argc, char **argv, run_opts *o) {
    cli_args c = cli_args_start("run", argc, argv);
    while (cli_next(&c)) {
        const char *a = c.arg, *v = NULL;
        int rc = 0;
        if (cli_is(&c, "--help", "-h")) {
            usage();
            return -1;
        } else if (cli_is(&c, "-m", "--model")) rc = cli_str(&c, &o->model);
        else if (cli_is(&c, "-p", "--prompt")) rc = cli_str(&c, &o->prompt);
        else if (cli_is(&c, "-f", "--file")) rc = cli_str(&c, &o->file);
        else if (cli_is(&c, "--tokenizer", NULL)) rc = cli_str(&c, &o->tokenizer);
        else if (cli_is(&c, "--device", NULL)) rc = cli_str(&c, &o->device);
        else if (cli_is(&c, "--profile", NULL)) rc = cli_str(&c, &o->profile);
        else if (cli_is(&c, "-n", "--n-predict")) rc = cli_int(&c, 0, INT_MAX, &o->g.max_tokens);
        else if (cli_is(&c, "-c", "--ctx-size")) rc = cli_int(&c, 0, INT_MAX, &o->n_ctx);
        else if (cli_is(&c, "-ub", "--ubatch-size")) rc = cli_int(&c, 1, INT_MAX, &o->n_ubatch);
        else if (cli_is(&c, "-s", "--seed")) rc = cli_u64(&c, &o->g.seed);
        else if (cli_is(&c, "--temp", NULL)) rc = cli_float(&c, 0, 1e6, 0, &o->g.temperature);
        else if (cli_is(&c, "--top-k", NULL)) rc = cli_int(&c, 0, INT_MAX, &o->g.top_k);
        else if (cli_is(&c, "--top-p", NULL)) rc = cli_float(&c, 0, 1, 1, &o->g.top_p);
        else if (cli_is(&c, "--filter-layer", NULL)) rc = cli_int(&c, -1, INT_MAX, &o->g.method.filter_layer);
        else if (cli_is(&c, "--budget", NULL)) rc = cli_int(&c, 0, INT_MAX, &o->g.method.budget);
        else if (cli_is(&c, "--window", NULL)) rc = cli_int(&c, 0, INT_MAX, &o->g.method.window);
        else if (cli_is(&c, "--block-size", NULL)) rc = cli_int(&c, 0, INT_MAX, &o->g.method.block_size);
        else if (cli_is(&c, "--heavy", NULL)) rc = cli_int(&c, 0, INT_MAX, &o->g.method.heavy_budget);
        else if (cli_is(&c, "--recent", NULL)) rc = cli_int(&c, 0, INT_MAX, &o->g.method.recent_budget);
        else if (cli_is(&c, "--tt", NULL)) rc = cli_int(&c, -1, 1, &o->g.method.tt);
        else if (cli_is(&c, "--select-layers", NULL)) {
            rc = cli_int_list(&c, 0, INT_MAX, o->g.method.select_layers, GEMCL_MAX_STAGES, &o->n_select_layers);
        } else if (cli_is(&c, "--budgets", NULL)) {
            rc = cli_int_list(&c, 1, INT_MAX, o->g.method.stage_budgets, GEMCL_MAX_STAGES, &o->n_budgets);
        }
        else if (cli_is(&c, "--sinks", NULL)) rc = cli_int(&c, 0, INT_MAX, &o->g.method.sink_tokens);
        else if (cli_is(&c, "--pooling", NULL)) {
            if ((rc = cli_str(&c, &v)))
                return rc;
            if (strcmp(v, "avg") && strcmp(v, "max"))
                return cli_usage_error("run: --pooling must be avg or max, got '%s'", v);
            o->g.method.pooling = strcmp(v, "max") == 0 ? GEMCL_POOLING_MAX7 : GEMCL_POOLING_AVG5;
        }
        else if (cli_is(&c, "--dtype", NULL)) { if (!(rc = cli_str(&c, &v))) rc = parse_dtype(v, &o->dtype); }
        else if (cli_is(&c, "--act-f32", NULL)) { o->act_f32 = 1; }
        else if (cli_is(&c, "--method", NULL)) {
            if ((rc = cli_str(&c, &v)))
                return rc;
            if (gemcl_method_from_name(v, &o->g.method.method) != GEMCL_OK)
                return cli_usage_error("run: unknown method '%s' (full, gemfilter, promptdistill, snapkv, h2o, h2o-stream, streamingllm, pod-tf, stride)", v);
        } else if (cli_is(&c, "--truncate", NULL)) {
            if ((rc = cli_str(&c, &v)))
                return rc;
            if (strcmp(v, "middle") != 0)
                return cli_usage_error("run: --truncate supports only 'middle', got '%s'", v);
            o->g.truncate_middle = 1;
        } else if (cli_is(&c, "--show-selected", NULL)) { o->show_selected = 1; }
        else if (cli_is(&c, "--show-selected=json", NULL)) { o->show_selected = o->show_selected_json = 1; }
        else if (strncmp(a, "--show-selected=json:", 21) == 0) {
            if (!a[21])
                return cli_usage_error("run: --show-selected=json:FILE needs a file name");
            o->show_selected = o->show_selected_json = 1;
            o->selected_json_path = a + 21;
        }
        else if (cli_is(&c, "--special", NULL)) { o->g.parse_special = 1; }
        else if (cli_is(&c, "--chat", NULL)) { o->chat = 1; }
        else if (cli_is(&c, "-cnv", "--conversation")) { o->conversation = 1; }
        else if (cli_is(&c, "--system", NULL)) rc = cli_str(&c, &o->system);
        else if (cli_is(&c, "--chat-template", NULL)) { rc = cli_str(&c, &o->chat_template); o->chat = 1; }
        else
            rc = cli_unknown(&c);
        if (rc)
            return rc;
    }
    if (!o->model)
        return cli_usage_error("run: no model given (-m MODEL)");
    if (o->prompt && o->file)
        return cli_usage_error("run: give either -p or -f, not both");
    if (o->selected_json_path && check_output_path("--show-selected=json:FILE", o->selected_json_path))
        return 2;
    if (o->profile && check_output_path("--profile", o->profile))
        return 2;
    if (o->n_select_layers != o->n_budgets)
        return cli_usage_error("run: --select-layers and --budgets need the same number of values (%d vs %d)",
                         o->n_select_layers, o->n_budgets);
    if (o->system && !o->chat && !o->conversation)
        return cli_error("run: --system needs --chat or -cnv");
    o->g.method.n_stages = o->n_select_layers;
    return 0;
}

/* --chat: the prompt as a user message (after --system's) in the chat template; special tokens parsed.
 * *rendered is the new prompt (free it with gemcl_free). Returns the exit code of a failure, else 0. */
static int chat_prompt(gemcl_model *model, run_opts *o, const char *prompt, size_t len, char **rendered,
                       size_t *rendered_len) {
    char err[1024];
    if (len == 0)
        return cli_error("run: --chat needs a non-empty user message (-p or -f)"), 2;
    char *user = strndup(prompt, len);
    if (!user)
        return cli_error("run: out of host memory");
    gemcl_chat_message m[2] = {{"system", o->system}, {"user", user}};
    int first = o->system ? 0 : 1;
    gemcl_status st = gemcl_chat_apply_template(model, o->chat_template, m + first, 2 - first, 1, rendered,
                                                rendered_len, err, sizeof err);
    free(user);
    if (st != GEMCL_OK)
        return cli_error("run: --chat: %s", err), st == GEMCL_ERR_OUT_OF_MEMORY ? 1 : 2;
    o->g.parse_special = 1;
    return 0;
}

/* The whole prompt file. A read error is an error, not an empty prompt: fopen succeeds on a directory and
 * only fread says EISDIR. Pipes and FIFOs stay welcome (-f <(...)), so the file need not be regular. */
static char *read_prompt_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error("run: cannot open prompt file '%s': %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b)
                free(buf);
            buf = b;
        }
    }
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    if (!buf)
        cli_error("run: out of memory reading '%s'", path);
    else if (read_errno) {
        cli_error("run: cannot read prompt file '%s': %s", path, strerror(read_errno));
        free(buf);
        buf = NULL;
    }
    *len = n;
    return buf;
}


/* Per-head methods: how many rows each layer's KV heads kept and where they lie in the prompt. */
static void print_selected_heads(const run_opts *o, const gemcl_result *r) {
    int L = r->kept_layers, G = r->kept_kv_heads, B = r->kept_per_head, n = r->n_prompt_tokens;
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

/* The selection as one JSON object (--show-selected=json), for every method: its name, the prompt's length,
 * whether it kept everything ("all_kept": full, pod-tf - which keeps every token and drops distant keys inside
 * blocks - or a budget >= the prompt), and where the kept tokens lie: "kept" (ascending prompt positions) or,
 * for the per-head methods, "layers" (per layer, per KV head). NULL when out of memory. */
static cJSON *selected_json(const run_opts *o, const gemcl_result *r) {
    int n = r->n_prompt_tokens, L = r->kept_layers, G = r->kept_kv_heads, B = r->kept_per_head;
    bool all_kept = r->kept_positions ? B >= n : r->kept_indices ? r->n_kept_tokens >= n : true;
    cJSON *j = cJSON_CreateObject();
    bool ok = j && cJSON_AddStringToObject(j, "method", gemcl_method_name(o->g.method.method)) &&
              cJSON_AddNumberToObject(j, "n_prompt_tokens", n) && cJSON_AddBoolToObject(j, "all_kept", all_kept) &&
              (r->filter_layer < 0 || cJSON_AddNumberToObject(j, "filter_layer", r->filter_layer));
    if (ok && r->kept_indices)
        ok = cJSON_AddItemToObject(j, "kept", cJSON_CreateIntArray((const int *)r->kept_indices, r->n_kept_tokens));
    cJSON *layers = ok && r->kept_positions ? cJSON_AddArrayToObject(j, "layers") : NULL;
    for (int l = 0; layers && ok && l < L; l++) {
        cJSON *heads = cJSON_CreateArray();
        ok = heads && cJSON_AddItemToArray(layers, heads);
        for (int g = 0; ok && g < G; g++)
            ok = cJSON_AddItemToArray(heads, cJSON_CreateIntArray((const int *)r->kept_positions + ((size_t)l * G + g) * B, B));
    }
    if (!ok) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* Writes the selection's JSON on a line of its own: to the file of --show-selected=json:FILE, else as the last
 * line of stdout (after a newline when the generated text did not end with one). Returns 0 or 1 after the one
 * error line naming the file. */
static int write_selected_json(const run_opts *o, const gemcl_result *r, char last_streamed) {
    cJSON *j = selected_json(o, r);
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!text)
        return cli_error("run: out of memory writing the selection");
    int rc = 0;
    if (!o->selected_json_path) {
        printf("%s%s\n", last_streamed == '\n' ? "" : "\n", text);
    } else {
        FILE *f = fopen(o->selected_json_path, "w");
        bool written = f && fprintf(f, "%s\n", text) >= 0;
        int saved = errno;
        if (f && fclose(f) != 0 && written)
            written = false, saved = errno;
        if (!written)
            rc = cli_error("run: cannot write --show-selected=json:%s: %s", o->selected_json_path, strerror(saved));
    }
    cJSON_free(text);
    return rc;
}

/* The library's warnings (e.g. what middle truncation kept) as "gemcl: warning: ..." lines; less is dropped. */
static void log_warnings(gemcl_log_level level, const char *message, void *user) {
    (void)user;
    if (level >= GEMCL_LOG_LEVEL_WARN)
        fprintf(stderr, "gemcl: warning: %s\n", message);
}

/* A run that stopped because the KV cache was full says so: otherwise a short answer looks like the model's
 * choice. */
static void report_context_full(const gemcl_context *ctx, const gemcl_result *r, int max_tokens) {
    gemcl_context_stats cs;
    if (gemcl_context_get_stats(ctx, &cs) == GEMCL_OK && cs.n_past >= cs.n_ctx && r->n_generated < max_tokens)
        fprintf(stderr, "\ngemcl: context full: generation stopped after %d of %d new tokens (%d prompt tokens in a "
                        "%d-token context; use -c, --truncate middle or a compression method)\n",
                r->n_generated, max_tokens, r->n_kept_tokens, cs.n_ctx);
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
    double t0 = gemcl_time_us() / 1e3;
    gemcl_model_params mp = gemcl_model_default_params();
    mp.device = o.device;
    mp.tokenizer_path = o.tokenizer;
    mp.weight_dtype = o.dtype;
    mp.act_f32 = o.act_f32;
    mp.profiling = o.profile != NULL;
    mp.log = log_warnings;
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
    double load_ms = (gemcl_time_us() / 1e3) - t0;
    gemcl_model_info info;
    gemcl_model_get_info(model, &info);
    if (o.g.method.method == GEMCL_METHOD_GEMFILTER && o.g.method.filter_layer < 0 && !info.filter_layer_from_card)
        fprintf(stderr, "gemcl: no model card for this model: filter layer r = round(0.4 * %d) = %d\n", info.n_layers,
                info.filter_layer);
    if (o.conversation) {
        char *system = o.system ? strdup(o.system) : len ? strndup(prompt, len) : NULL;
        rc = cli_conversation(model, ctx, &o.g, system, o.chat_template);
        free(system);
        gemcl_context_free(ctx);
        gemcl_model_free(model);
        free(file_prompt);
        return rc;
    }
    char *rendered = NULL;
    if (o.chat && (rc = chat_prompt(model, &o, prompt, len, &rendered, &len)) != 0) {
        gemcl_context_free(ctx);
        gemcl_model_free(model);
        free(file_prompt);
        return rc;
    }
    if (rendered)
        prompt = rendered;
    stream_state stream = {0, '\n'};
    o.g.on_token = stream_piece;
    o.g.on_token_user = &stream;
    gemcl_result r;
    gemcl_status st = gemcl_generate(ctx, prompt, len, &o.g, &r);
    if (stream.write_errno) {
        rc = cli_error("run: error writing to stdout: %s", strerror(stream.write_errno));
        if (st == GEMCL_OK)
            gemcl_result_free(&r);
    } else if (st != GEMCL_OK) {
        rc = cli_error("%s", gemcl_context_last_error(ctx));
    } else {
        double total_ms = (gemcl_time_us() / 1e3) - t0;
        if (o.show_selected_json)
            rc = write_selected_json(&o, &r, stream.last);
        else if (o.show_selected)
            print_selected(model, prompt, len, &o, &r);
        if (!rc) {
            report_context_full(ctx, &r, o.g.max_tokens);
            print_timings(&r, &info, load_ms, total_ms);
        }
        gemcl_result_free(&r);
        if (o.profile && gemcl_model_write_trace(model, o.profile, err, sizeof err) != GEMCL_OK)
            rc = cli_error("%s", err);
    }
    gemcl_free(rendered);
    gemcl_context_free(ctx);
    gemcl_model_free(model);
    free(file_prompt);
    return rc;
}
