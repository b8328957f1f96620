#include "text/chat_template.h"
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"

typedef struct { char *s; size_t n, cap; } strbuf;
static void put(strbuf *b, const char *s, size_t n) {
    SD_GROW(b->s, b->cap, b->n + n + 1);
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}
static void puts_(strbuf *b, const char *s) { put(b, s, strlen(s)); }

/* The answer part of an assistant message: text after the last "</think>", leading newlines dropped. */
static const char *answer_part(const char *content) {
    const char *end = NULL, *p = content;
    while ((p = strstr(p, "</think>"))) { end = p + 8; p = end; }
    if (!end) return content;
    while (*end == '\n') end++;
    return end;
}

char *sd_chat_render(const sd_chat_msg *msgs, size_t n, bool add_generation_prompt, bool enable_thinking) {
    strbuf b = {0};
    puts_(&b, "");
    size_t last_user = SIZE_MAX;
    for (size_t i = 0; i < n; i++) if (!strcmp(msgs[i].role, "user")) last_user = i;
    for (size_t i = 0; i < n; i++) {
        const char *content = msgs[i].content ? msgs[i].content : "";
        if (!strcmp(msgs[i].role, "assistant") && last_user != SIZE_MAX && i < last_user) content = answer_part(content);
        puts_(&b, "<|im_start|>");
        puts_(&b, msgs[i].role);
        puts_(&b, "\n");
        puts_(&b, content);
        puts_(&b, "<|im_end|>\n");
    }
    if (add_generation_prompt) {
        puts_(&b, "<|im_start|>assistant\n");
        if (!enable_thinking) puts_(&b, "<think>\n\n</think>\n\n");
    }
    return b.s;
}
