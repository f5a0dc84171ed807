/* cmd_tokenize.c - `gemcl tokenize`: text -> ids (with pieces) and ids -> text with any tokenizer file gemcl
 * reads or the tokenizer of a model (like llama-tokenize -m), to inspect and compare tokenizations. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "options.h"

typedef struct tokenize_args {
    const char *tokenizer_path, *text, *text_file;
    bool ids_only, special, bos, detok;
    int vocab_size;
    char **detok_ids; /* (n_detok_ids) argument strings after --detok */
    int n_detok_ids;
} tokenize_args;

static void usage(FILE *out) {
    fprintf(out, "usage: gemcl tokenize (MODEL | TOKENIZER_FILE) [--ids] [--special] [--bos] [--vocab-size N]\n"
                 "                      ([--] TEXT | -f FILE)\n"
                 "       gemcl tokenize (MODEL | TOKENIZER_FILE) [--vocab-size N] --detok ID ID ...\n"
                 "Prints one line per token, 'id<TAB>piece' (piece escaped: \\n, \\t, \\\\, \\xNN for bytes that are\n"
                 "not printable UTF-8), or with --ids the ids on one line. --special recognises special tokens written\n"
                 "in the text (llama-tokenize parses them unless --no-parse-special), --bos prepends BOS. --detok\n"
                 "prints the text of the ids. MODEL is a .gguf (its own vocabulary; vocabulary-only files too), an HF\n"
                 "directory or a llama2.c checkpoint; TOKENIZER_FILE a tokenizer.json, a SentencePiece or tiktoken\n"
                 "tokenizer.model, or a llama2.c tokenizer .bin (--vocab-size N when its records do not exactly fill\n"
                 "the file). -m MODEL is accepted too. Put -- before a TEXT that starts with '-'.\n");
}

/* Returns 0, 2 on a usage error (already printed), or -1 when --help was printed. */
static int parse_args(int argc, char **argv, tokenize_args *a) {
    memset(a, 0, sizeof *a);
    cli_args c = cli_args_start("tokenize", argc, argv);
    while (cli_next(&c)) {
        int rc = 0;
        if (cli_is(&c, "--help", "-h")) {
            usage(stdout);
            return -1;
        } else if (cli_is(&c, "--ids", NULL)) a->ids_only = true;
        else if (cli_is(&c, "--special", NULL)) a->special = true;
        else if (cli_is(&c, "--bos", NULL)) a->bos = true;
        else if (cli_is(&c, "--vocab-size", NULL)) rc = cli_int(&c, 1, 1 << 24, &a->vocab_size);
        else if (cli_is(&c, "-m", "--model") && !a->tokenizer_path)
            rc = cli_str(&c, &a->tokenizer_path); /* llama-tokenize's spelling */
        else if (cli_is(&c, "-f", NULL)) rc = cli_str(&c, &a->text_file);
        else if (cli_is(&c, "--detok", NULL)) {
            a->detok = true;
            a->detok_ids = argv + c.i + 1;
            a->n_detok_ids = argc - c.i - 1;
            break;
        } else if (cli_is_option(&c)) rc = cli_unknown(&c);
        else if (!a->tokenizer_path) a->tokenizer_path = c.arg;
        else if (!a->text) a->text = c.arg;
        else rc = cli_unexpected(&c, " (quote the text)");
        if (rc)
            return 2;
    }
    if (!a->tokenizer_path)
        return cli_usage_error("tokenize: no MODEL or TOKENIZER_FILE (try gemcl tokenize --help)");
    if (!a->detok && !a->text == !a->text_file)
        return cli_usage_error("tokenize: give the text either as TEXT or as -f FILE");
    return 0;
}

/* Decodes one UTF-8 sequence of s[0 .. n-1] into *len bytes; returns a value above 0x10FFFF for a byte that
 * does not start a valid, complete, shortest-form sequence (then *len is 1). */
static uint32_t utf8_decode(const unsigned char *s, size_t n, size_t *len) {
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t cl = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    *len = 1;
    if (cl == 0 || cl > n)
        return 0x110000;
    uint32_t cp = cl == 1 ? s[0] : s[0] & (0x7Fu >> cl);
    for (size_t i = 1; i < cl; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0x110000;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    if (cp < min_cp[cl] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0x110000;
    *len = cl;
    return cp;
}

/* Reads a whole file into a malloc'd buffer (the caller frees it); NULL with errno set on failure. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    bool ok = true;
    for (;;) {
        if (n + 1 >= cap) {
            char *b = realloc(buf, cap = cap ? cap * 2 : 65536);
            if (!b) {
                ok = false;
                errno = ENOMEM;
                break;
            }
            buf = b;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    ok = ok && !ferror(f);
    fclose(f);
    if (!ok) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Writes a piece so that every byte is visible: valid printable UTF-8 as is, the rest escaped. */
static void print_escaped(const char *p, size_t n) {
    const unsigned char *s = (const unsigned char *)p;
    for (size_t i = 0; i < n;) {
        size_t cl;
        uint32_t cp = utf8_decode(s + i, n - i, &cl);
        if (s[i] == '\\')
            fputs("\\\\", stdout);
        else if (s[i] == '\n')
            fputs("\\n", stdout);
        else if (s[i] == '\t')
            fputs("\\t", stdout);
        else if (s[i] == '\r')
            fputs("\\r", stdout);
        else if (cp < 0x20 || cp == 0x7F || cp > 0x10FFFF)
            printf("\\x%02X", s[i]);
        else
            fwrite(s + i, 1, cl, stdout);
        i += cp > 0x10FFFF ? 1 : cl;
    }
}

static int run_detok(const gemcl_tokenizer *t, const tokenize_args *a) {
    int32_t *ids = malloc((size_t)(a->n_detok_ids ? a->n_detok_ids : 1) * sizeof *ids);
    if (!ids)
        return cli_error("tokenize: out of memory");
    for (int i = 0; i < a->n_detok_ids; i++) {
        int v;
        if (opt_int("tokenize", "--detok", a->detok_ids[i], 0, gemcl_tokenizer_n_vocab(t) - 1, &v)) {
            free(ids);
            return 1;
        }
        ids[i] = v;
    }
    char *text, err[4096];
    size_t len;
    gemcl_status st = gemcl_tokenizer_decode(t, ids, a->n_detok_ids, &text, &len, err, sizeof err);
    free(ids);
    if (st != GEMCL_OK)
        return cli_error("%s", err);
    fwrite(text, 1, len, stdout);
    putchar('\n');
    gemcl_free(text);
    return 0;
}

static int run_encode(const gemcl_tokenizer *t, const tokenize_args *a) {
    char *file_text = NULL, err[4096];
    size_t len = a->text ? strlen(a->text) : 0;
    if (a->text_file && !(file_text = read_file(a->text_file, &len)))
        return cli_error("tokenize: cannot read %s: %s", a->text_file, strerror(errno));
    int32_t *ids;
    int n;
    gemcl_status st =
        gemcl_tokenizer_encode(t, file_text ? file_text : a->text, len, a->bos, a->special, &ids, &n, err, sizeof err);
    free(file_text);
    if (st != GEMCL_OK)
        return cli_error("%s", err);
    for (int i = 0; i < n; i++) {
        if (a->ids_only) {
            printf(i ? " %d" : "%d", (int)ids[i]);
            continue;
        }
        size_t plen;
        const char *p = gemcl_tokenizer_piece(t, ids[i], &plen);
        printf("%d\t", (int)ids[i]);
        print_escaped(p, plen);
        putchar('\n');
    }
    if (a->ids_only)
        putchar('\n');
    gemcl_free(ids);
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    tokenize_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? 0 : rc;
    gemcl_tokenizer *t;
    char err[4096];
    if (gemcl_tokenizer_load(a.tokenizer_path, a.vocab_size, &t, err, sizeof err) != GEMCL_OK)
        return cli_error("%s", err);
    rc = a.detok ? run_detok(t, &a) : run_encode(t, &a);
    gemcl_tokenizer_free(t);
    return rc;
}
