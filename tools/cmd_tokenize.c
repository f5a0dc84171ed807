/* cmd_tokenize.c - `gemcl tokenize`: text -> ids (with pieces) and ids -> text with any tokenizer file gemcl
 * reads, to inspect and compare tokenizations. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "util/fileio.h"

typedef struct tokenize_args {
    const char *tokenizer_path, *text, *text_file;
    bool ids_only, special, bos, detok;
    int vocab_size;
    char **detok_ids; /* (n_detok_ids) argument strings after --detok */
    int n_detok_ids;
} tokenize_args;

static void usage(FILE *out) {
    fprintf(out, "usage: gemcl tokenize TOKENIZER_FILE [--ids] [--special] [--bos] [--vocab-size N] (TEXT | -f FILE)\n"
                 "       gemcl tokenize TOKENIZER_FILE [--vocab-size N] --detok ID ID ...\n"
                 "Prints one line per token, 'id<TAB>piece' (piece escaped: \\n, \\t, \\\\, \\xNN for bytes that are\n"
                 "not printable UTF-8), or with --ids the ids on one line. --special recognises special tokens written\n"
                 "in the text, --bos prepends BOS. --detok prints the text of the ids. TOKENIZER_FILE is a\n"
                 "tokenizer.json, a SentencePiece or tiktoken tokenizer.model, or a llama2.c tokenizer .bin\n"
                 "(--vocab-size N when its records do not exactly fill the file).\n");
}

static int parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Returns 0, 1 on a usage error (already printed), or 2 when --help was printed. */
static int parse_args(int argc, char **argv, tokenize_args *a) {
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        long v;
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            usage(stdout);
            return 2;
        } else if (strcmp(s, "--ids") == 0) {
            a->ids_only = true;
        } else if (strcmp(s, "--special") == 0) {
            a->special = true;
        } else if (strcmp(s, "--bos") == 0) {
            a->bos = true;
        } else if (strcmp(s, "--vocab-size") == 0 && i + 1 < argc) {
            if (parse_int(argv[++i], 1, 1 << 24, &v))
                return cli_error("tokenize: --vocab-size '%s' is not a number in 1..16777216", argv[i]);
            a->vocab_size = (int)v;
        } else if (strcmp(s, "-f") == 0 && i + 1 < argc) {
            a->text_file = argv[++i];
        } else if (strcmp(s, "--detok") == 0) {
            a->detok = true;
            a->detok_ids = argv + i + 1;
            a->n_detok_ids = argc - i - 1;
            break;
        } else if (s[0] == '-' && s[1] != '\0') {
            return cli_error("tokenize: unknown option '%s' (try gemcl tokenize --help)", s);
        } else if (!a->tokenizer_path) {
            a->tokenizer_path = s;
        } else if (!a->text) {
            a->text = s;
        } else {
            return cli_error("tokenize: unexpected argument '%s' (quote the text)", s);
        }
    }
    if (!a->tokenizer_path)
        return cli_error("tokenize: no TOKENIZER_FILE (try gemcl tokenize --help)");
    if (!a->detok && !a->text == !a->text_file)
        return cli_error("tokenize: give the text either as TEXT or as -f FILE");
    return 0;
}

/* Writes a piece so that every byte is visible: valid printable UTF-8 as is, the rest escaped. */
static void print_escaped(const char *p, size_t n) {
    const unsigned char *s = (const unsigned char *)p;
    for (size_t i = 0; i < n;) {
        size_t cl;
        uint32_t cp = gc_utf8_decode(s + i, n - i, &cl);
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

static int run_detok(const gc_tokenizer *t, const tokenize_args *a) {
    int32_t *ids = malloc((size_t)(a->n_detok_ids ? a->n_detok_ids : 1) * sizeof *ids);
    if (!ids)
        return cli_error("tokenize: out of memory");
    for (int i = 0; i < a->n_detok_ids; i++) {
        long v;
        if (parse_int(a->detok_ids[i], 0, gc_tokenizer_n_vocab(t) - 1, &v)) {
            free(ids);
            return cli_error("tokenize: --detok: '%s' is not a token id in 0..%d", a->detok_ids[i],
                             gc_tokenizer_n_vocab(t) - 1);
        }
        ids[i] = (int32_t)v;
    }
    char *text;
    size_t len;
    gc_error err;
    gemcl_status st = gc_tokenizer_decode(t, ids, a->n_detok_ids, &text, &len, &err);
    free(ids);
    if (st != GEMCL_OK)
        return cli_error("%s", err.msg);
    fwrite(text, 1, len, stdout);
    putchar('\n');
    free(text);
    return 0;
}

static int run_encode(const gc_tokenizer *t, const tokenize_args *a) {
    char *file_text = NULL;
    size_t len = a->text ? strlen(a->text) : 0;
    gc_error err;
    if (a->text_file && gc_file_read(a->text_file, &file_text, &len, &err) != GEMCL_OK)
        return cli_error("%s", err.msg);
    int32_t *ids;
    int n;
    gemcl_status st = gc_tokenizer_encode(t, file_text ? file_text : a->text, len, a->bos, a->special, &ids, &n, &err);
    free(file_text);
    if (st != GEMCL_OK)
        return cli_error("%s", err.msg);
    for (int i = 0; i < n; i++) {
        if (a->ids_only) {
            printf(i ? " %d" : "%d", (int)ids[i]);
            continue;
        }
        size_t plen;
        const char *p = gc_tokenizer_piece(t, ids[i], &plen);
        printf("%d\t", (int)ids[i]);
        print_escaped(p, plen);
        putchar('\n');
    }
    if (a->ids_only)
        putchar('\n');
    free(ids);
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    tokenize_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc == 2 ? 0 : rc;
    gc_tokenizer *t;
    gc_error err;
    if (gc_tokenizer_load(a.tokenizer_path, a.vocab_size, &t, &err) != GEMCL_OK)
        return cli_error("%s", err.msg);
    rc = a.detok ? run_detok(t, &a) : run_encode(t, &a);
    gc_tokenizer_free(t);
    return rc;
}
