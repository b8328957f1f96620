/* UTF-8 checks shared by every parser (one definition of well-formed), and the quoting of file
 * bytes in error messages, so that a hostile file cannot put raw bytes or terminal control
 * sequences on the user's terminal. */
#ifndef SD_BASE_UTF8_H
#define SD_BASE_UTF8_H
#include <stddef.h>

/* Length (1..4) of the well-formed sequence at s[i] (i < n), or 0 when it is ill-formed; then
 * *bad (if not NULL) is the length of its maximal ill-formed prefix, at least 1 (Unicode's
 * "maximal subpart", as WHATWG and Rust's from_utf8_lossy). Overlong forms, surrogates and code
 * points above U+10FFFF are ill-formed; nothing at or past s[n] is read. */
size_t sd_utf8_seq_at(const unsigned char *s, size_t n, size_t i, size_t *bad);
/* Offset of the first byte of s[0..n) that starts an ill-formed sequence, or n when all is
 * well-formed. */
size_t sd_utf8_invalid_at(const char *s, size_t n);

/* Room for a quoted excerpt: up to SD_QUOTE_MAX input bytes, each at most 4 output bytes. */
#define SD_QUOTE_MAX 80
#define SD_QUOTE_CAP (SD_QUOTE_MAX * 4 + 8)
/* Writes s[0..n) into out (cap bytes, NUL-terminated) for a message: well-formed printable text
 * as it is, control characters (C0, DEL, C1) and the bytes of ill-formed sequences as \xNN, and
 * "..." after the first SD_QUOTE_MAX input bytes (never inside a character). Returns out. */
const char *sd_quote_bytes(char *out, size_t cap, const char *s, size_t n);
/* The same for a whole message (no length limit but cap; newlines and tabs kept), the last
 * guard before an error reaches the terminal: cap of 4 * strlen(s) + 4 always suffices. */
const char *sd_escape_text(char *out, size_t cap, const char *s);

#endif
