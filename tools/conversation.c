/* conversation.c - `gemcl run -cnv`: a conversation on stdin/stdout in the model's chat template.
 *
 * Each line of stdin is a user message ("/exit" or end of input ends the conversation). The whole
 * conversation is rendered every turn and generated with cache_prompt, so the context keeps its cache
 * between turns and prefills only the new turn's tokens; the method (GemFilter, SnapKV, ...) is applied to
 * the first turn's prompt, and what it kept stays for the rest of the conversation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct conversation {
    gemcl_chat_message *msgs;
    char **owned; /* the contents this file allocated (user lines, replies), freed at the end */
    int n, cap;
} conversation;

static int add_message(conversation *c, const char *role, char *content) {
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        gemcl_chat_message *m = realloc(c->msgs, (size_t)cap * sizeof *m);
        char **o = m ? realloc(c->owned, (size_t)cap * sizeof *o) : NULL;
        if (m)
            c->msgs = m;
        if (!o) {
            free(content);
            return cli_error("run -cnv: out of host memory");
        }
        c->owned = o;
        c->cap = cap;
    }
    c->msgs[c->n] = (gemcl_chat_message){role, content};
    c->owned[c->n++] = content;
    return 0;
}

static int print_piece(const char *piece, size_t len, int32_t id, void *user) {
    (void)id, (void)user;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0;
}

/* One line of stdin without its newline, or NULL at the end of input. */
static char *read_line(void) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

/* Renders the conversation and generates the assistant's reply, which joins the conversation. */
static int one_turn(gemcl_model *model, gemcl_context *ctx, const gemcl_generate_params *g, const char *tmpl,
                    conversation *c, int turn) {
    char err[1024], *prompt;
    size_t len;
    if (gemcl_chat_apply_template(model, tmpl, c->msgs, c->n, 1, &prompt, &len, err, sizeof err) != GEMCL_OK)
        return cli_error("run -cnv: %s", err), 2;
    gemcl_result r;
    gemcl_status st = gemcl_generate(ctx, prompt, len, g, &r);
    gemcl_free(prompt);
    if (st != GEMCL_OK)
        return cli_error("run -cnv: %s", gemcl_context_last_error(ctx));
    printf("\n");
    fflush(stdout);
    fprintf(stderr, "gemcl: turn %d: %d prompt tokens, %d from the cache, %d prefilled in %.1f ms; %d generated\n",
            turn, r.n_prompt_tokens, r.n_cached_tokens, r.n_prompt_tokens - r.n_cached_tokens, r.prefill_ms,
            r.n_generated);
    char *reply = strdup(r.text);
    gemcl_result_free(&r);
    return reply ? add_message(c, "assistant", reply) : cli_error("run -cnv: out of host memory");
}

int cli_conversation(gemcl_model *model, gemcl_context *ctx, const gemcl_generate_params *params, const char *system,
                     const char *tmpl) {
    gemcl_generate_params g = *params;
    g.on_token = print_piece;
    g.parse_special = 1;
    g.cache_prompt = 1;
    conversation c = {0};
    int rc = 0;
    if (system) {
        char *sys = strdup(system);
        rc = sys ? add_message(&c, "system", sys) : cli_error("run -cnv: out of host memory");
    }
    for (int turn = 1; rc == 0; turn++) {
        char *line = read_line();
        if (!line || strcmp(line, "/exit") == 0) {
            free(line);
            break;
        }
        if (!line[0]) { /* an empty line is no message */
            free(line);
            turn--;
            continue;
        }
        if ((rc = add_message(&c, "user", line)) == 0)
            rc = one_turn(model, ctx, &g, tmpl, &c, turn);
    }
    for (int i = 0; i < c.n; i++)
        free(c.owned[i]);
    free(c.msgs);
    free(c.owned);
    return rc;
}
