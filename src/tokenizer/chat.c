/* chat.c - chat template families: detection from template markers and rendering, following llama.cpp's
 * llm_chat_detect_template / llm_chat_apply_template (src/llama-chat.cpp), so a prompt rendered here is the
 * prompt llama.cpp gives the same model. */
#include "tokenizer/chat.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/grow.h"

static const char *const family_names[GC_CHAT_FAMILY_COUNT_] = {
    "chatml",     "llama3",     "llama2",            "llama2-sys", "llama2-sys-bos", "llama2-sys-strip", "mistral-v1",
    "mistral-v3", "mistral-v3-tekken", "mistral-v7", "phi3",       "zephyr",         "gemma",
};

const char *gc_chat_family_name(gc_chat_family f) {
    return (unsigned)f < GC_CHAT_FAMILY_COUNT_ ? family_names[f] : "unknown";
}

const char *gc_chat_family_names(void) {
    return "chatml, llama3, llama2, llama2-sys, llama2-sys-bos, llama2-sys-strip, mistral-v1, mistral-v3, "
           "mistral-v3-tekken, mistral-v7, phi3, zephyr, gemma";
}

bool gc_chat_family_from_name(const char *name, gc_chat_family *out) {
    for (int f = 0; name && f < GC_CHAT_FAMILY_COUNT_; f++)
        if (strcmp(name, family_names[f]) == 0) {
            *out = (gc_chat_family)f;
            return true;
        }
    return false;
}

static bool has(const char *text, const char *marker) {
    return strstr(text, marker) != NULL;
}

/* The [INST] families: Mistral's official v1/v3/v7 templates, else Llama 2 and its variants. */
static gc_chat_family detect_inst(const char *t) {
    if (has(t, "[SYSTEM_PROMPT]"))
        return GC_CHAT_MISTRAL_V7;
    if (has(t, "' [INST] ' + system_message") || has(t, "[AVAILABLE_TOOLS]")) {
        if (has(t, " [INST]"))
            return GC_CHAT_MISTRAL_V1;
        return has(t, "\"[INST]\"") ? GC_CHAT_MISTRAL_V3_TEKKEN : GC_CHAT_MISTRAL_V3;
    }
    if (has(t, "content.strip()"))
        return GC_CHAT_LLAMA2_SYS_STRIP;
    if (has(t, "bos_token + '[INST]"))
        return GC_CHAT_LLAMA2_SYS_BOS;
    return has(t, "<<SYS>>") ? GC_CHAT_LLAMA2_SYS : GC_CHAT_LLAMA2;
}

bool gc_chat_detect(const char *t, gc_chat_family *out) {
    if (!t)
        return false;
    if (gc_chat_family_from_name(t, out))
        return true;
    /* Checked in llama.cpp's order: a Phi-3 template also holds "<|user|>", ChatML ones may hold "[INST]". */
    if (has(t, "<|im_start|>") && !has(t, "<|im_sep|>") && !has(t, "<end_of_utterance>"))
        *out = GC_CHAT_CHATML;
    else if (strncmp(t, "mistral", 7) == 0 || has(t, "[INST]"))
        *out = detect_inst(t);
    else if (has(t, "<|assistant|>") && has(t, "<|end|>"))
        *out = GC_CHAT_PHI3;
    else if (has(t, "<|user|>") && has(t, "<|endoftext|>") && !has(t, "<|assistant|>"))
        *out = GC_CHAT_ZEPHYR;
    else if (has(t, "<start_of_turn>"))
        *out = GC_CHAT_GEMMA;
    else if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>"))
        *out = GC_CHAT_LLAMA3;
    else
        return false;
    return true;
}

/* ---- rendering ---- */

typedef struct text_buf {
    char *p;
    size_t len, cap;
    bool oom;
} text_buf;

static void put_n(text_buf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n && !b->oom; i++) {
        if (!gc_grow((void **)&b->p, &b->cap, b->len + 1, 1, 256)) { /* + 1 keeps room for the NUL */
            b->oom = true;
            return;
        }
        b->p[b->len++] = s[i];
    }
}

static void put(text_buf *b, const char *s) {
    put_n(b, s, strlen(s));
}

/* s without leading and trailing white space (llama.cpp's trim). */
static void put_trimmed(text_buf *b, const char *s) {
    size_t start = 0, end = strlen(s);
    while (start < end && isspace((unsigned char)s[start]))
        start++;
    while (end > start && isspace((unsigned char)s[end - 1]))
        end--;
    put_n(b, s + start, end - start);
}

typedef enum role { ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT } role;

static role role_of(const char *r) {
    return strcmp(r, "system") == 0 ? ROLE_SYSTEM : strcmp(r, "user") == 0 ? ROLE_USER : ROLE_ASSISTANT;
}

/* Families that wrap every message alike: prefix role infix content suffix, then the assistant opening. */
static void render_uniform(text_buf *b, const char *prefix, const char *infix, const char *suffix, bool trim,
                           const char *opening, const gc_chat_message *m, int n, bool add_assistant) {
    for (int i = 0; i < n; i++) {
        put(b, prefix), put(b, m[i].role), put(b, infix);
        trim ? put_trimmed(b, m[i].content) : put(b, m[i].content);
        put(b, suffix);
    }
    if (add_assistant)
        put(b, opening);
}

/* Llama 2 and its variants: one [INST] turn per user message, system inside the first turn. The -strip
 * variant is Meta's own template (content.strip(), " answer </s>", "<s>[INST]" for later turns), which it
 * renders exactly; the others render as llama.cpp does. */
static void render_llama2(text_buf *b, gc_chat_family f, const gc_chat_message *m, int n) {
    bool sys = f != GC_CHAT_LLAMA2, strip = f == GC_CHAT_LLAMA2_SYS_STRIP;
    bool bos = f == GC_CHAT_LLAMA2_SYS_BOS || strip;
    bool inside = true; /* the first [INST] follows the tokenizer's BOS */
    put(b, "[INST] ");
    for (int i = 0; i < n; i++) {
        if (!inside) {
            put(b, bos ? "<s>[INST] " : "[INST] ");
            inside = true;
        }
        role r = role_of(m[i].role);
        if (r == ROLE_SYSTEM)
            put(b, sys ? "<<SYS>>\n" : "");
        if (r == ROLE_ASSISTANT && strip)
            put(b, " ");
        strip ? put_trimmed(b, m[i].content) : put(b, m[i].content);
        if (r == ROLE_SYSTEM) {
            put(b, sys ? "\n<</SYS>>\n\n" : "\n");
        } else if (r == ROLE_USER) {
            put(b, " [/INST]");
        } else {
            put(b, strip ? " </s>" : "</s>");
            inside = false;
        }
    }
}

/* Mistral's official v1 / v3 / v3-tekken templates. */
static void render_mistral(text_buf *b, gc_chat_family f, const gc_chat_message *m, int n) {
    const char *lead = f == GC_CHAT_MISTRAL_V1 ? " " : "", *trail = f == GC_CHAT_MISTRAL_V3_TEKKEN ? "" : " ";
    bool inside = false;
    for (int i = 0; i < n; i++) {
        if (!inside) {
            put(b, lead), put(b, "[INST]"), put(b, trail);
            inside = true;
        }
        role r = role_of(m[i].role);
        if (r == ROLE_SYSTEM) {
            put(b, m[i].content), put(b, "\n\n");
        } else if (r == ROLE_USER) {
            put(b, m[i].content), put(b, lead), put(b, "[/INST]");
        } else {
            put(b, trail);
            f == GC_CHAT_MISTRAL_V3 ? put_trimmed(b, m[i].content) : put(b, m[i].content);
            put(b, "</s>");
            inside = false;
        }
    }
}

static void render_mistral_v7(text_buf *b, const gc_chat_message *m, int n) {
    for (int i = 0; i < n; i++) {
        role r = role_of(m[i].role);
        put(b, r == ROLE_SYSTEM ? "[SYSTEM_PROMPT] " : r == ROLE_USER ? "[INST] " : " ");
        put(b, m[i].content);
        put(b, r == ROLE_SYSTEM ? "[/SYSTEM_PROMPT]" : r == ROLE_USER ? "[/INST]" : "</s>");
    }
}

/* Gemma has no system role: the system text opens the next user turn; "assistant" is "model". */
static void render_gemma(text_buf *b, const gc_chat_message *m, int n, bool add_assistant) {
    const char *system = NULL;
    for (int i = 0; i < n; i++) {
        role r = role_of(m[i].role);
        if (r == ROLE_SYSTEM) {
            system = m[i].content;
            continue;
        }
        put(b, "<start_of_turn>"), put(b, r == ROLE_ASSISTANT ? "model" : m[i].role), put(b, "\n");
        if (system && r != ROLE_ASSISTANT) {
            put_trimmed(b, system), put(b, "\n\n");
            system = NULL;
        }
        put_trimmed(b, m[i].content), put(b, "<end_of_turn>\n");
    }
    if (add_assistant)
        put(b, "<start_of_turn>model\n");
}

static gc_status check_roles(const gc_chat_message *m, int n, gc_error *err) {
    for (int i = 0; i < n; i++)
        if (!m[i].role || !m[i].content ||
            (strcmp(m[i].role, "system") && strcmp(m[i].role, "user") && strcmp(m[i].role, "assistant")))
            return gc_fail(err, GC_ERR_INVALID_ARG,
                           "chat message %d: role must be system, user or assistant, with "
                           "content",
                           i);
    return GC_OK;
}

gc_status gc_chat_render(gc_chat_family f, const gc_chat_message *m, int n, bool add_assistant, char **out, size_t *len,
                         gc_error *err) {
    *out = NULL;
    *len = 0;
    if (n < 0 || (n > 0 && !m) || (unsigned)f >= GC_CHAT_FAMILY_COUNT_)
        return gc_fail(err, GC_ERR_INVALID_ARG, "chat: bad messages or family");
    GC_TRY(check_roles(m, n, err));
    text_buf b = {0};
    switch (f) {
    case GC_CHAT_CHATML: render_uniform(&b, "<|im_start|>", "\n", "<|im_end|>\n", false, "<|im_start|>assistant\n", m, n, add_assistant); break;
    case GC_CHAT_LLAMA3:
        render_uniform(&b, "<|start_header_id|>", "<|end_header_id|>\n\n", "<|eot_id|>", true,
                       "<|start_header_id|>assistant<|end_header_id|>\n\n", m, n, add_assistant);
        break;
    case GC_CHAT_PHI3: render_uniform(&b, "<|", "|>\n", "<|end|>\n", false, "<|assistant|>\n", m, n, add_assistant); break;
    case GC_CHAT_ZEPHYR: render_uniform(&b, "<|", "|>\n", "<|endoftext|>\n", false, "<|assistant|>\n", m, n, add_assistant); break;
    case GC_CHAT_LLAMA2:
    case GC_CHAT_LLAMA2_SYS:
    case GC_CHAT_LLAMA2_SYS_BOS:
    case GC_CHAT_LLAMA2_SYS_STRIP: render_llama2(&b, f, m, n); break;
    case GC_CHAT_MISTRAL_V1:
    case GC_CHAT_MISTRAL_V3:
    case GC_CHAT_MISTRAL_V3_TEKKEN: render_mistral(&b, f, m, n); break;
    case GC_CHAT_MISTRAL_V7: render_mistral_v7(&b, m, n); break;
    case GC_CHAT_GEMMA: render_gemma(&b, m, n, add_assistant); break;
    case GC_CHAT_FAMILY_COUNT_: break;
    }
    if (b.oom || !gc_grow((void **)&b.p, &b.cap, b.len, 1, 16)) {
        free(b.p);
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "chat: out of host memory");
    }
    b.p[b.len] = '\0';
    *out = b.p;
    *len = b.len;
    return GC_OK;
}

gc_status gc_chat_reply_header(gc_chat_family f, char **out, size_t *len, gc_error *err) {
    const gc_chat_message user = {"user", "\x01"}; /* a marker no template writes */
    char *text;
    size_t n;
    GC_TRY(gc_chat_render(f, &user, 1, true, &text, &n, err));
    const char *mark = strrchr(text, '\x01');
    size_t tail = mark ? n - (size_t)(mark + 1 - text) : 0;
    memmove(text, mark ? mark + 1 : text + n, tail + 1);
    *out = text;
    *len = tail;
    return GC_OK;
}
