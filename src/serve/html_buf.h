/* A growing text buffer for building HTML / SVG, with escaping for text taken from data files
 * (titles, model names, file paths), so nothing read from WORK can open a tag or an attribute. */
#ifndef SD_HTML_BUF_H
#define SD_HTML_BUF_H
#include <stddef.h>

typedef struct sd_html { char *p; size_t n, cap; } sd_html;

/* Appends markup as it is (never with data-file text in it: use sd_html_text for that). */
void sd_html_raw(sd_html *h, const char *s);
void sd_html_printf(sd_html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s with & < > " ' as character references (fit for element text and quoted attributes);
 * control characters other than tab and newline are dropped. */
void sd_html_text(sd_html *h, const char *s);
void sd_html_textn(sd_html *h, const char *s, size_t n);
/* The text so far (NUL-terminated; the buffer is left empty); *len may be NULL. */
char *sd_html_take(sd_html *h, size_t *len);
void sd_html_free(sd_html *h);

#endif
