/* Streaming UTF-8: any split of a text into byte pieces streams back the same text; bytes that can
 * never complete a character come out as U+FFFD as the tokenizer's decode repairs them. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "lm/utf8_stream.h"

typedef struct sink { char buf[256]; size_t n; int calls; } sink;
static void emit(void *ctx, const char *s, size_t n) {
    sink *k = ctx;
    cr_assert_lt(k->n + n, sizeof k->buf);
    memcpy(k->buf + k->n, s, n);
    k->n += n;
    k->calls++;
}

Test(lm_utf8_stream, any_split_round_trips) {
    const char *text = "caf\xc3\xa9 \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x8e\x89!";
    size_t len = strlen(text);
    for (size_t a = 0; a <= len; a++)
        for (size_t b = a; b <= len; b++) {
            sd_utf8_stream st = {0};
            sink k = {0};
            sd_utf8_stream_push(&st, text, a, emit, &k);
            sd_utf8_stream_push(&st, text + a, b - a, emit, &k);
            sd_utf8_stream_push(&st, text + b, len - b, emit, &k);
            sd_utf8_stream_flush(&st, emit, &k);
            cr_assert_eq(k.n, len, "split %zu/%zu", a, b);
            cr_assert_eq(memcmp(k.buf, text, len), 0, "split %zu/%zu", a, b);
        }
}

Test(lm_utf8_stream, holds_back_and_repairs) {
    sd_utf8_stream st = {0};
    sink k = {0};
    sd_utf8_stream_push(&st, "a\xe4\xb8", 3, emit, &k);
    cr_assert_eq(k.n, 1, "the incomplete character waits");
    sd_utf8_stream_push(&st, "x", 1, emit, &k); /* never completed: one U+FFFD, then x */
    cr_assert_eq(k.n, 5);
    cr_assert_eq(memcmp(k.buf, "a\xef\xbf\xbdx", 5), 0);
    sd_utf8_stream_push(&st, "\xf0\x9f", 2, emit, &k);
    sd_utf8_stream_flush(&st, emit, &k); /* cut off at the end */
    cr_assert_eq(k.n, 8);
    cr_assert_eq(memcmp(k.buf + 5, "\xef\xbf\xbd", 3), 0);
    cr_assert_eq(sd_utf8_complete_len("\x80\x80", 2), 2, "stray continuation bytes are not held");
    cr_assert_eq(sd_utf8_complete_len("\xc0", 1), 1, "an impossible lead byte is not held");
}
