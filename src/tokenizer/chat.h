/* chat.h - chat templates: the families llama.cpp renders without a Jinja interpreter, recognised from
 * markers in a model's template text (GGUF tokenizer.chat_template, HF tokenizer_config.json chat_template)
 * exactly as llama.cpp's llm_chat_detect_template does, and rendered as its llm_chat_apply_template does.
 * Host-only, no state: any thread.
 *
 *     gc_chat_family f;
 *     if (!gc_chat_detect(template_text, &f)) { ... unknown: list gc_chat_family_names() ... }
 *     gc_chat_message m[] = {{"system", "You are a helpful assistant."}, {"user", "Hi"}};
 *     char *text; size_t len;
 *     gc_chat_render(f, m, 2, true, &text, &len, &err);   // ... then free(text)
 */
#ifndef GC_TOKENIZER_CHAT_H
#define GC_TOKENIZER_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

typedef enum gc_chat_family {
    GC_CHAT_CHATML,           /* <|im_start|>role\n...<|im_end|>\n: Qwen2, SmolLM2 */
    GC_CHAT_LLAMA3,           /* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
    GC_CHAT_LLAMA2,           /* [INST] ... [/INST]; system folded into the first user turn */
    GC_CHAT_LLAMA2_SYS,       /* [INST] <<SYS>>\n...\n<</SYS>>\n\n ... [/INST] */
    GC_CHAT_LLAMA2_SYS_BOS,   /* as llama2-sys, later turns start with <s>[INST] */
    GC_CHAT_LLAMA2_SYS_STRIP, /* as llama2-sys, contents stripped of surrounding spaces */
    GC_CHAT_MISTRAL_V1,       /* " [INST] ... [/INST] answer</s>" */
    GC_CHAT_MISTRAL_V3,       /* "[INST] ...[/INST] answer</s>" */
    GC_CHAT_MISTRAL_V3_TEKKEN,/* "[INST]...[/INST]answer</s>" */
    GC_CHAT_MISTRAL_V7,       /* [SYSTEM_PROMPT] ...[/SYSTEM_PROMPT][INST] ...[/INST] answer</s> */
    GC_CHAT_PHI3,             /* <|role|>\n...<|end|>\n */
    GC_CHAT_ZEPHYR,           /* <|role|>\n...<|endoftext|>\n */
    GC_CHAT_GEMMA,            /* <start_of_turn>user|model\n...<end_of_turn>\n; system joins the first user turn */
    GC_CHAT_FAMILY_COUNT_
} gc_chat_family;

typedef struct gc_chat_message {
    const char *role;    /* "system", "user" or "assistant" */
    const char *content; /* NUL-terminated */
} gc_chat_message;

/* The family's name as llama.cpp spells it ("chatml", "llama3", "llama2-sys", "mistral-v7", "phi3", ...). */
const char *gc_chat_family_name(gc_chat_family f);

/* Every name, comma-separated, for messages and --help. A static string. */
const char *gc_chat_family_names(void);

/* The family named name; false when none is. */
bool gc_chat_family_from_name(const char *name, gc_chat_family *out);

/* The family of a template text: its name itself, else the markers llama.cpp looks for. False when none
 * matches (an unknown template). */
bool gc_chat_detect(const char *template_text, gc_chat_family *out);

/* Renders n messages (roles as above) in family f, followed by the assistant's opening when
 * add_assistant (the prompt a model answers). *out is malloc'd and NUL-terminated (*len bytes); the caller
 * frees it. Fails on an unknown role or out of memory. */
gc_status gc_chat_render(gc_chat_family f, const gc_chat_message *msgs, int n, bool add_assistant, char **out,
                         size_t *len, gc_error *err);

/* What family f writes after the last user message's content when it opens the assistant's turn: the end
 * of the user turn and the reply header ("<|im_end|>\n<|im_start|>assistant\n" for chatml). *out is malloc'd
 * and NUL-terminated (*len bytes, possibly 0); the caller frees it. */
gc_status gc_chat_reply_header(gc_chat_family f, char **out, size_t *len, gc_error *err);

#endif
