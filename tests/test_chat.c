/* test_chat.c - chat templates: each family recognised from its model's own template text and rendered as
 * that template renders system + user + assistant + user (the expected strings below are the templates'
 * output written out by hand, without the BOS the tokenizer adds); the real models' templates; `gemcl run
 * --chat` against llama.cpp's chat replies (../shared/data/llama.cpp-reference/chat.json); bad input. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gemcl.h"
#include "harness.h"
#include "model/model.h"
#include "tokenizer/chat.h"
#include "util/fileio.h"

#define SYS "You are a helpful assistant."

static const gc_chat_message conversation[] = {
    {"system", SYS}, {"user", "Hello"}, {"assistant", "Hi there"}, {"user", "How are you?"}};

/* A family, a piece of its models' template text that llama.cpp recognises it by, and what the model's
 * template makes of `conversation` with the generation prompt. */
static const struct family_case {
    gc_chat_family family;
    const char *template_text;
    const char *rendered;
} cases[] = {
    {GC_CHAT_CHATML, /* Qwen2.5 */
     "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + "
     "'\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
     "<|im_start|>system\n" SYS "<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi "
     "there<|im_end|>\n<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\n"},
    {GC_CHAT_LLAMA3, /* Meta-Llama-3-8B-Instruct */
     "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
     "message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 "
     "%}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
     "'<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
     "<|start_header_id|>system<|end_header_id|>\n\n" SYS "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello"
     "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>"
     "\n\nHow are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
    {GC_CHAT_LLAMA2_SYS_STRIP, /* Llama-2-7b-chat-hf */
     "{% for message in loop_messages %}{% if loop.index0 == 0 and system_message != false %}{% set content = "
     "'<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = "
     "message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + "
     "' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif "
     "%}{% endfor %}",
     "[INST] <<SYS>>\n" SYS "\n<</SYS>>\n\nHello [/INST] Hi there </s><s>[INST] How are you? [/INST]"},
    {GC_CHAT_PHI3, /* Phi-3-mini-4k-instruct */
     "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\\n' + message['content'] + "
     "'<|end|>\\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}{% elif "
     "message['role'] == 'assistant' %}{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor "
     "%}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}",
     "<|system|>\n" SYS "<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n<|user|>\nHow are "
     "you?<|end|>\n<|assistant|>\n"},
    {GC_CHAT_ZEPHYR, /* stablelm-zephyr-3b */
     "{% for message in messages %}{% if message['role'] == 'user' %}{{'<|user|>\\n' + message['content'] + "
     "'<|endoftext|>' + '\\n'}}{% elif message['role'] == 'system' %}{{'<|system|>\\n' + message['content'] + "
     "'<|endoftext|>' + '\\n'}}{% endif %}{% endfor %}",
     "<|system|>\n" SYS "<|endoftext|>\n<|user|>\nHello<|endoftext|>\n<|assistant|>\nHi there<|endoftext|>\n"
     "<|user|>\nHow are you?<|endoftext|>\n<|assistant|>\n"},
    {GC_CHAT_MISTRAL_V7, /* Mistral-Large-Instruct-2411 */
     "{%- if message['role'] == 'system' %}{{- '[SYSTEM_PROMPT] ' + message['content'] + '[/SYSTEM_PROMPT]' }}"
     "{%- elif message['role'] == 'user' %}{{- '[INST] ' + message['content'] + '[/INST]' }}{%- endif %}",
     "[SYSTEM_PROMPT] " SYS "[/SYSTEM_PROMPT][INST] Hello[/INST] Hi there</s>[INST] How are you?[/INST]"},
    {GC_CHAT_MISTRAL_V1, /* Mistral-7B-Instruct-v0.1, official v1 */
     "{%- if messages[0]['role'] == 'system' %}{{- ' [INST] ' + system_message }}{%- endif %} [AVAILABLE_TOOLS]",
     " [INST] " SYS "\n\nHello [/INST] Hi there</s> [INST] How are you? [/INST]"},
};

static char *render(gc_chat_family f, const gc_chat_message *m, int n) {
    char *out;
    size_t len;
    gc_error err;
    ck_assert_msg(gc_chat_render(f, m, n, true, &out, &len, &err) == GC_OK, "%s", err.msg);
    ck_assert_uint_eq(len, strlen(out));
    return out;
}

START_TEST(each_family_is_recognised_from_its_template_text) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gc_chat_family f;
        ck_assert_msg(gc_chat_detect(cases[i].template_text, &f), "%s not recognised",
                      gc_chat_family_name(cases[i].family));
        ck_assert_msg(f == cases[i].family, "template of %s taken for %s", gc_chat_family_name(cases[i].family),
                      gc_chat_family_name(f));
        ck_assert(gc_chat_family_from_name(gc_chat_family_name(f), &f) && f == cases[i].family);
    }
}
END_TEST

START_TEST(each_family_renders_as_its_template_does) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = render(cases[i].family, conversation, 4);
        ck_assert_msg(strcmp(got, cases[i].rendered) == 0, "%s:\n got  '%s'\n want '%s'",
                      gc_chat_family_name(cases[i].family), got, cases[i].rendered);
        free(got);
    }
}
END_TEST

/* The reply header (GemFilter's query comes before it) is what each family writes after the last user text
 * when it opens the assistant's turn, and for ChatML and Llama 3 these very strings. */
START_TEST(reply_header_is_what_follows_the_last_user_text) {
    const gc_chat_message hello = {"user", "Hello there"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *header, *whole = render(cases[i].family, &hello, 1);
        size_t len;
        gc_error err;
        ck_assert_msg(gc_chat_reply_header(cases[i].family, &header, &len, &err) == GC_OK, "%s", err.msg);
        ck_assert_uint_eq(len, strlen(header));
        const char *after = strstr(whole, "Hello there");
        ck_assert_ptr_nonnull(after);
        ck_assert_msg(strcmp(after + strlen("Hello there"), header) == 0, "%s: header '%s' after '%s'",
                      gc_chat_family_name(cases[i].family), header, after);
        if (cases[i].family == GC_CHAT_CHATML)
            ck_assert_str_eq(header, "<|im_end|>\n<|im_start|>assistant\n");
        if (cases[i].family == GC_CHAT_LLAMA3)
            ck_assert_str_eq(header, "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
        free(header), free(whole);
    }
}
END_TEST

/* GemFilter on a chat prompt of SmolLM2 (ChatML): the reply header's six tokens are found at the prompt's end and
 * always kept, since the query is the user's last token. */
START_TEST(gemfilter_keeps_the_reply_header_of_a_chat_prompt) {
    gemcl_model *model;
    gemcl_context *ctx;
    if (!test_api_open_shared("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf", &model, &ctx))
        return;
    const char *user = "Here are some notes. The sky was grey over the harbour and the boats were still. A gull "
                       "cried twice and flew off towards the lighthouse, where the keeper was painting the door "
                       "blue. The special word is walrus. What is the special word?";
    gemcl_chat_message msgs[] = {{"user", user}};
    char *prompt, err[256];
    size_t len;
    ck_assert_msg(gemcl_chat_apply_template(model, NULL, msgs, 1, 1, &prompt, &len, err, sizeof err) == GEMCL_OK, "%s",
                  err);
    gemcl_generate_params g = gemcl_generate_default_params();
    g.max_tokens = 1;
    g.parse_special = 1;
    g.method.method = GEMCL_METHOD_GEMFILTER;
    g.method.budget = 16;
    gemcl_result r;
    ck_assert(gemcl_generate(ctx, prompt, len, &g, &r) == GEMCL_OK);
    const int n = r.n_prompt_tokens, header = 6; /* <|im_end|> \n <|im_start|> ass istant \n */
    ck_assert_int_gt(n, 40);
    ck_assert_int_eq(r.n_kept_tokens, 16);
    for (int i = 0; i < header; i++)
        ck_assert_msg(r.kept_indices[16 - header + i] == n - header + i, "kept[%d] = %d, want the header row %d",
                      16 - header + i, r.kept_indices[16 - header + i], n - header + i);
    gemcl_result_free(&r);
    gemcl_free(prompt);
    gemcl_context_free(ctx);
    gemcl_model_free(model);
}
END_TEST

/* Gemma's template refuses a system role; llama.cpp (and gemcl) put the system text in the first user turn. */
START_TEST(gemma_renders_model_turns_and_folds_the_system_text) {
    gc_chat_family f;
    ck_assert(gc_chat_detect("{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}",
                             &f) && f == GC_CHAT_GEMMA);
    char *got = render(GC_CHAT_GEMMA, conversation + 1, 3);
    ck_assert_str_eq(got, "<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n"
                          "<start_of_turn>user\nHow are you?<end_of_turn>\n<start_of_turn>model\n");
    free(got);
    got = render(GC_CHAT_GEMMA, conversation, 2);
    ck_assert_str_eq(got, "<start_of_turn>user\n" SYS "\n\nHello<end_of_turn>\n<start_of_turn>model\n");
    free(got);
}
END_TEST

START_TEST(unknown_templates_and_roles_are_refused) {
    gc_chat_family f;
    ck_assert(!gc_chat_detect("{{ messages }}", &f));
    ck_assert(!gc_chat_detect("", &f));
    ck_assert(!gc_chat_family_from_name("chatml2", &f));
    char *out = (char *)1;
    size_t len = 7;
    gc_error err;
    gc_chat_message bad[] = {{"robot", "beep"}};
    ck_assert_int_eq(gc_chat_render(GC_CHAT_CHATML, bad, 1, true, &out, &len, &err), GC_ERR_INVALID_ARG);
    ck_assert_ptr_null(out);
    ck_assert(strstr(err.msg, "role"));
    char msg[512];
    gemcl_chat_message m[] = {{"user", "hi"}};
    ck_assert_int_eq(gemcl_chat_apply_template(NULL, "{{ messages }}", m, 1, 1, &out, NULL, msg, sizeof msg),
                     GEMCL_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(msg, "chatml, llama3") && !strchr(msg, '\n'), "%s", msg);
    ck_assert_int_eq(gemcl_chat_apply_template(NULL, NULL, m, 1, 1, &out, NULL, msg, sizeof msg), GEMCL_ERR_INVALID_ARG);
}
END_TEST

/* chat.json's prompts are llama.cpp's ChatML rendering; SmolLM2's GGUF names its template. */
START_TEST(smollm2_template_renders_llama_cpp_chat_prompts) {
    const char *json = test_shared_path("data/llama.cpp-reference/chat.json");
    const char *gguf = test_shared_path("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    if (test_skip_if_missing(json, "data/llama.cpp-reference/chat.json") ||
        test_skip_if_missing(gguf, "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"))
        return;
    gc_model_file *mf;
    gc_error e;
    ck_assert_msg(gc_model_file_open(gguf, NULL, &mf, &e) == GC_OK, "%s", e.msg);
    gc_chat_family f;
    ck_assert_msg(mf->chat_template && gc_chat_detect(mf->chat_template, &f) && f == GC_CHAT_CHATML,
                  "SmolLM2's template is not taken for chatml");
    gc_model_file_close(mf);
    char err[1024];
    char *text;
    size_t len;
    ck_assert(gc_file_read(json, &text, &len, &e) == GC_OK);
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    ck_assert(root);
    const char *system = cJSON_GetObjectItemCaseSensitive(root, "system")->valuestring;
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "rows"),
                                                         "smollm2-135m-instruct-q4_1"), *row;
    int n = 0;
    cJSON_ArrayForEach(row, rows) {
        gemcl_chat_message m[] = {{"system", system},
                                  {"user", cJSON_GetObjectItemCaseSensitive(row, "user")->valuestring}};
        char *out;
        ck_assert_msg(gemcl_chat_apply_template(NULL, "chatml", m, 2, 1, &out, NULL, err, sizeof err) == GEMCL_OK, "%s",
                      err);
        ck_assert_str_eq(out, cJSON_GetObjectItemCaseSensitive(row, "rendered_prompt")->valuestring);
        gemcl_free(out);
        n++;
    }
    ck_assert_int_eq(n, 2);
    cJSON_Delete(root);
}
END_TEST

/* `gemcl run --chat` on a real model answers as llama.cpp does (chat.json: greedy, up to the end of the turn). */
static void chat_matches_llama_cpp(const char *model, const char *key) {
    const char *json = test_shared_path("data/llama.cpp-reference/chat.json");
    if (test_skip_if_missing(json, "data/llama.cpp-reference/chat.json"))
        return;
    char *text;
    size_t len;
    gc_error e;
    ck_assert(gc_file_read(json, &text, &len, &e) == GC_OK);
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *row = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "rows"), key), 0);
    char args[2048], out[8192];
    snprintf(args, sizeof args, "run -m '%s' --chat --system '%s' -p '%s' -n 16", model,
             cJSON_GetObjectItemCaseSensitive(root, "system")->valuestring,
             cJSON_GetObjectItemCaseSensitive(row, "user")->valuestring);
    ck_assert_int_eq(test_run_cli(args, false, out, sizeof out), 0);
    const char *want = cJSON_GetObjectItemCaseSensitive(row, "greedy_48")->valuestring;
    ck_assert_msg(out[0] && strncmp(want, out, strlen(out)) == 0, "%s:\n gemcl     '%s'\n llama.cpp '%s'", key, out,
                  want);
    cJSON_Delete(root);
}

/* SmolLM2-135M's Q4_1 weights answer chat.json's questions differently in llama.cpp, whose 8-bit activations
 * move this small model's near ties (llama.cpp: "La femme de France, ..."; f32 activations: "The capital of
 * France is Paris."), so here --chat must equal the rendered prompt run with --special, token for token. */
START_TEST(run_chat_equals_the_rendered_prompt_on_smollm2) {
    const char *rel = "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";
    const char *gguf = test_shared_path(rel);
    if (test_skip_if_missing(gguf, rel))
        return;
    char args[2048], chat[4096], raw[4096];
    snprintf(args, sizeof args, "run -m '%s' --chat --system 'Be brief.' -p 'Name a colour.' -n 12", gguf);
    ck_assert_int_eq(test_run_cli(args, false, chat, sizeof chat), 0);
    /* the rendered prompt from a file: a shell's $(...) would drop its final newline, a token of the template */
    char file[] = "/tmp/gemcl-rendered-XXXXXX";
    int fd = mkstemp(file);
    ck_assert(fd >= 0);
    const char rendered[] = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nName a colour.<|im_end|>\n"
                            "<|im_start|>assistant\n";
    ck_assert(write(fd, rendered, sizeof rendered - 1) == (ssize_t)(sizeof rendered - 1));
    close(fd);
    snprintf(args, sizeof args, "run -m '%s' --special -n 12 -f %s", gguf, file);
    ck_assert_int_eq(test_run_cli(args, false, raw, sizeof raw), 0);
    unlink(file);
    ck_assert_msg(chat[0] && strcmp(chat, raw) == 0, "--chat '%s' vs rendered '%s'", chat, raw);
}
END_TEST

START_TEST(run_chat_answers_as_llama_cpp_on_qwen2_5) {
    const char *gguf = test_qwen_gguf();
    if (gguf) /* else test_qwen_gguf said SKIP */
        chat_matches_llama_cpp(gguf, "qwen2.5-coder-0.5b-instruct-q4_k_m");
}
END_TEST

/* One line on stderr, exit 2. */
static void refused(const char *args, const char *needle) {
    char out[8192];
    ck_assert_int_eq(test_run_cli(args, true, out, sizeof out), 2);
    ck_assert_msg(strstr(out, needle), "'%s' does not say '%s': %s", args, needle, out);
    ck_assert_msg(strchr(out, '\n') == out + strlen(out) - 1, "more than one line: %s", out);
}

START_TEST(chat_bad_input_is_one_line_and_exit_2) {
    const char *rel = "models/stories260K/stories260K.bin";
    const char *bin = test_shared_path(rel);
    if (test_skip_if_missing(bin, rel))
        return;
    char args[1024];
    snprintf(args, sizeof args, "run -m '%s' --chat -p hello -n 1", bin);
    refused(args, "has no chat template");
    snprintf(args, sizeof args, "run -m '%s' --chat-template nonsense -p hello -n 1", bin);
    refused(args, "chatml, llama3");
    snprintf(args, sizeof args, "run -m '%s' --chat-template chatml -p '' -n 1", bin);
    refused(args, "empty");
}
END_TEST

/* cache_prompt: a prompt that extends the last prompt + reply prefills only the new tokens, and a full-attention
 * run over the common prefix of a changed prompt gives what a fresh run gives. */
START_TEST(cache_prompt_prefills_only_new_tokens) {
    gemcl_model *model;
    gemcl_context *ctx;
    if (!test_api_open_shared("models/stories260K/stories260K.bin", &model, &ctx))
        return;
    gemcl_generate_params g = gemcl_generate_default_params();
    g.max_tokens = 8;
    g.ignore_eos = 1;
    g.cache_prompt = 1;
    const char *first = "Once upon a time, there was a little girl named Lily.";
    gemcl_result a, b, fresh;
    ck_assert(gemcl_generate(ctx, first, strlen(first), &g, &a) == GEMCL_OK);
    ck_assert_int_eq(a.n_cached_tokens, 0);
    char second[1024];
    snprintf(second, sizeof second, "%s%s She liked to play.", first, a.text);
    ck_assert(gemcl_generate(ctx, second, strlen(second), &g, &b) == GEMCL_OK);
    /* the prompt and the 7 reply tokens fed back (the 8th was never run) */
    ck_assert_int_eq(b.n_cached_tokens, a.n_prompt_tokens + 7);
    ck_assert_int_lt(b.n_cached_tokens, b.n_prompt_tokens);
    g.cache_prompt = 0;
    ck_assert(gemcl_generate(ctx, second, strlen(second), &g, &fresh) == GEMCL_OK);
    ck_assert_int_eq(fresh.n_cached_tokens, 0);
    ck_assert_str_eq(b.text, fresh.text);
    /* a changed ending after a full-attention call: the common prefix stays */
    g.cache_prompt = 1;
    gemcl_result c;
    const char *third = "Once upon a time, there was a little boy named Tim.";
    ck_assert(gemcl_generate(ctx, third, strlen(third), &g, &c) == GEMCL_OK);
    ck_assert_int_gt(c.n_cached_tokens, 5);
    ck_assert_int_lt(c.n_cached_tokens, c.n_prompt_tokens);
    g.cache_prompt = 0;
    gemcl_result d;
    ck_assert(gemcl_generate(ctx, third, strlen(third), &g, &d) == GEMCL_OK);
    ck_assert_str_eq(c.text, d.text);
    gemcl_result_free(&a), gemcl_result_free(&b), gemcl_result_free(&fresh), gemcl_result_free(&c),
        gemcl_result_free(&d);
    gemcl_context_free(ctx);
    gemcl_model_free(model);
}
END_TEST

/* -cnv driven through a pipe, with every method: turn 2 prefills only its new tokens. */
START_TEST(conversation_keeps_the_cache_between_turns_with_every_method) {
    const char *rel = "models/stories260K/stories260K.bin";
    const char *bin = test_shared_path(rel);
    if (test_skip_if_missing(bin, rel))
        return;
    char input[] = "/tmp/gemcl-cnv-XXXXXX";
    int fd = mkstemp(input);
    ck_assert(fd >= 0);
    const char turns_text[] = "Tell me a story.\nWhat did she do next?\n/exit\nnever read\n";
    ck_assert(write(fd, turns_text, sizeof turns_text - 1) == (ssize_t)(sizeof turns_text - 1));
    close(fd);
    for (int m = 0; m < GEMCL_METHOD_COUNT_; m++) {
        char args[2048], out[16384];
        snprintf(args, sizeof args,
                 "run -m '%s' -cnv --chat-template chatml --method %s --budget 24 -n 6 --system 'Once upon a time "
                 "there was a girl named Lily who loved to play in the park with her big red ball every day.' "
                 "< %s",
                 bin, gemcl_method_name((gemcl_method)m), input);
        ck_assert_int_eq(test_run_cli(args, true, out, sizeof out), 0);
        int turn, prompt, cached, prefilled, turns = 0, last_prompt = 0;
        for (const char *line = strstr(out, "gemcl: turn "); line; line = strstr(line + 1, "gemcl: turn ")) {
            ck_assert(sscanf(line, "gemcl: turn %d: %d prompt tokens, %d from the cache, %d prefilled", &turn, &prompt,
                             &cached, &prefilled) == 4);
            ck_assert_int_eq(cached + prefilled, prompt);
            /* every token of the last turn's prompt (and its reply) is still cached; but pod-tf's shortened key
             * buffers live for one call, so it runs the whole conversation again each turn */
            bool pod = m == GEMCL_METHOD_POD_TF;
            ck_assert_msg(turn == 1 || pod ? cached == 0 : cached > last_prompt, "%s turn %d: %d cached of %d, last prompt %d",
                          gemcl_method_name((gemcl_method)m), turn, cached, prompt, last_prompt);
            last_prompt = prompt;
            turns++;
        }
        ck_assert_msg(turns == 2, "%s: %d turns in\n%s", gemcl_method_name((gemcl_method)m), turns, out);
    }
    unlink(input);
}
END_TEST

Suite *suite_chat(void) {
    Suite *s = suite_create("chat");
    TCase *tc = tcase_create("templates");
    tcase_add_test(tc, each_family_is_recognised_from_its_template_text);
    tcase_add_test(tc, each_family_renders_as_its_template_does);
    tcase_add_test(tc, gemma_renders_model_turns_and_folds_the_system_text);
    tcase_add_test(tc, unknown_templates_and_roles_are_refused);
    tcase_add_test(tc, smollm2_template_renders_llama_cpp_chat_prompts);
    tcase_add_test(tc, reply_header_is_what_follows_the_last_user_text);
    tcase_add_test(tc, gemfilter_keeps_the_reply_header_of_a_chat_prompt);
    suite_add_tcase(s, tc);
    TCase *cli = tcase_create("cli");
    tcase_set_timeout(cli, 3 * TEST_TIMEOUT_S);
    tcase_add_test(cli, chat_bad_input_is_one_line_and_exit_2);
    tcase_add_test(cli, cache_prompt_prefills_only_new_tokens);
    tcase_add_test(cli, conversation_keeps_the_cache_between_turns_with_every_method);
    tcase_add_test(cli, run_chat_equals_the_rendered_prompt_on_smollm2);
    tcase_add_test(cli, run_chat_answers_as_llama_cpp_on_qwen2_5);
    suite_add_tcase(s, cli);
    return s;
}
