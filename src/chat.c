/* chat.c - the public chat-template API over tokenizer/chat.h and the model's template text. */
#include <stdlib.h>
#include <string.h>

#include "api_edge.h"
#include "api_internal.h"
#include "tokenizer/chat.h"

/* The family of tmpl (a name or a template text), or of the model's own template when tmpl is NULL. */
static gc_status pick_family(const gemcl_model *m, const char *tmpl, gc_chat_family *f, gc_error *err) {
    const char *text = tmpl ? tmpl : m ? m->file->chat_template : NULL;
    if (!text)
        return gc_fail(err, GC_ERR_NOT_FOUND, "the model has no chat template: name one of %s", gc_chat_family_names());
    if (!gc_chat_detect(text, f))
        return gc_fail(err, GC_ERR_UNSUPPORTED, "chat template %s%.40s%s is not one gemcl knows (%s)",
                       tmpl ? "'" : "of the model, starting '", text, strlen(text) > 40 ? "...'" : "'",
                       gc_chat_family_names());
    return GC_OK;
}

static gc_status render(gc_chat_family f, const gemcl_chat_message *msgs, int n_msgs, bool add_assistant, char **text,
                        size_t *len, gc_error *err) {
    gc_chat_message *m = malloc((size_t)(n_msgs ? n_msgs : 1) * sizeof *m);
    if (!m)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "chat: out of host memory");
    for (int i = 0; i < n_msgs; i++)
        m[i] = (gc_chat_message){msgs[i].role, msgs[i].content};
    gc_status st = gc_chat_render(f, m, n_msgs, add_assistant, text, len, err);
    free(m);
    return st;
}

gemcl_status gemcl_chat_apply_template(const gemcl_model *m, const char *tmpl, const gemcl_chat_message *msgs,
                                       int n_msgs, int add_assistant, char **text, size_t *len, char *errbuf,
                                       size_t errlen) {
    gc_error err;
    gc_chat_family f;
    size_t n = 0;
    gc_status st;
    if (text)
        *text = NULL;
    if (!text || (!m && !tmpl) || n_msgs < 0 || (n_msgs > 0 && !msgs))
        st = gc_fail(&err, GC_ERR_INVALID_ARG,
                     "gemcl_chat_apply_template needs a model or a template, "
                     "messages and a place for the text");
    else if ((st = pick_family(m, tmpl, &f, &err)) == GC_OK)
        st = render(f, msgs, n_msgs, add_assistant != 0, text, &n, &err);
    if (len)
        *len = n;
    if (st != GC_OK)
        gc_error_copy_out(&err, errbuf, errlen);
    return gc_status_public(st);
}

const char *gemcl_model_chat_template(const gemcl_model *m) {
    gc_chat_family f;
    if (!m || !m->file->chat_template)
        return NULL;
    return gc_chat_detect(m->file->chat_template, &f) ? gc_chat_family_name(f) : "unknown";
}

const char *gemcl_chat_template_names(void) {
    return gc_chat_family_names();
}
