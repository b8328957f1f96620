/* Streaming text out of token bytes. A byte-level BPE token can end in the middle of a UTF-8
 * character (an emoji or CJK character is often split over two or three tokens), so printing each
 * token's bytes as it comes would write broken characters. The stream holds back an incomplete
 * character at the end (at most 3 bytes) until the next token completes it, and repairs bytes that
 * can never form a character into U+FFFD, as the tokenizer's decode does. */
#ifndef SD_UTF8_STREAM_H
#define SD_UTF8_STREAM_H
#include <stddef.h>

typedef void (*sd_utf8_emit_fn)(void *ctx, const char *s, size_t n);

typedef struct sd_utf8_stream {
    char pending[4];
    int n_pending;
} sd_utf8_stream;

/* Length of the prefix of s[0..n) that does not end inside a character that more bytes could
 * still complete. */
size_t sd_utf8_complete_len(const char *s, size_t n);
/* Appends bytes and emits the valid UTF-8 text they complete (nothing when all is held back). */
void sd_utf8_stream_push(sd_utf8_stream *st, const char *bytes, size_t n, sd_utf8_emit_fn emit, void *ctx);
/* Emits what is held back (repaired: an incomplete character becomes U+FFFD). */
void sd_utf8_stream_flush(sd_utf8_stream *st, sd_utf8_emit_fn emit, void *ctx);

#endif
