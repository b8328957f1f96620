#include "serve/html_buf.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"

static void reserve(sd_html *h, size_t more) {
    if (h->n + more + 1 <= h->cap) return;
    size_t cap = h->cap ? h->cap : 4096;
    while (cap < h->n + more + 1) cap *= 2;
    h->p = sd_xrealloc(h->p, cap);
    h->cap = cap;
}

static void put(sd_html *h, const char *s, size_t n) {
    reserve(h, n);
    memcpy(h->p + h->n, s, n);
    h->n += n;
    h->p[h->n] = 0;
}

void sd_html_raw(sd_html *h, const char *s) { put(h, s, strlen(s)); }

void sd_html_printf(sd_html *h, const char *fmt, ...) {
    va_list ap, aq;
    va_start(ap, fmt);
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n > 0) {
        reserve(h, (size_t)n);
        vsnprintf(h->p + h->n, (size_t)n + 1, fmt, aq);
        h->n += (size_t)n;
    }
    va_end(aq);
}

void sd_html_textn(sd_html *h, const char *s, size_t n) {
    size_t run = 0; /* characters copied as they are, in one put */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '"' ? "&quot;"
                        : c == '\'' ? "&#39;" : (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f ? "" : NULL;
        if (!rep) continue;
        put(h, s + run, i - run);
        put(h, rep, strlen(rep));
        run = i + 1;
    }
    put(h, s + run, n - run);
}

void sd_html_text(sd_html *h, const char *s) { sd_html_textn(h, s ? s : "", s ? strlen(s) : 0); }

char *sd_html_take(sd_html *h, size_t *len) {
    if (!h->p) put(h, "", 0);
    char *p = h->p;
    if (len) *len = h->n;
    *h = (sd_html){0};
    return p;
}

void sd_html_free(sd_html *h) {
    free(h->p);
    *h = (sd_html){0};
}
