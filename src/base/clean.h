/* Cleaning of product text (titles, descriptions, features) as it comes from shop data:
 * HTML character references decoded, tags stripped, whitespace collapsed, invalid UTF-8
 * replaced by U+FFFD. Linear passes over the bytes, no regular expressions: a catalogue of a
 * million items goes through here several times per item.
 * It lives in base, below both data (the loaders clean every field) and text (tf-idf reads the
 * catalogue), so neither has to include the other's headers both ways. */
#ifndef SD_CLEAN_H
#define SD_CLEAN_H
#include <stdbool.h>
#include <stddef.h>

/* Decodes character references in src[0..len) into dst (capacity >= len + 1; decoding never
 * lengthens text): the named ones common in product data (&amp; &nbsp; &eacute; &trade; &mdash;
 * &rsquo; ...; see clean.c), decimal &#39; and hex &#x27;. Numeric references to 0, surrogates
 * or beyond U+10FFFF give U+FFFD; 128..159 are read as Windows-1252 (as browsers and Python's
 * html.unescape do). Unknown or malformed references are copied unchanged. Returns the length. */
size_t sd_html_unescape(char *dst, const char *src, size_t len);

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid there. */
int sd_utf8_seq_len(const unsigned char *s, size_t n);
bool sd_utf8_valid(const char *s, size_t len);
/* Code points in s (invalid bytes count one each). */
size_t sd_utf8_count(const char *s, size_t len);
/* Copies src to dst (capacity >= 3 * len + 1) with each invalid byte replaced by U+FFFD;
 * *n_bad (may be NULL) gets the number of replacements. Returns the output length. */
size_t sd_utf8_fix(char *dst, const char *src, size_t len, size_t *n_bad);

/* The whole cleaning: references decoded; tags (<...> starting with a letter, '/', '!' or '?')
 * removed, block tags such as <br>, <p>, <li>, <div> leaving a space; ASCII whitespace, control
 * characters and NBSP collapsed to single spaces; leading and trailing space trimmed; invalid
 * UTF-8 replaced by U+FFFD (*n_bad counts them; may be NULL). dst capacity >= 3 * len + 1; dst
 * is NUL terminated. Returns the output length. */
size_t sd_clean_text(char *dst, const char *src, size_t len, size_t *n_bad);

/* Reusable scratch buffer, so callers need not size dst themselves. */
typedef struct sd_textbuf { char *p; size_t cap; } sd_textbuf;
/* Cleans src into b and returns b->p (valid until the next call); *out_len may be NULL. */
const char *sd_clean(sd_textbuf *b, const char *src, size_t len, size_t *out_len, size_t *n_bad);
void sd_textbuf_free(sd_textbuf *b);

#endif
