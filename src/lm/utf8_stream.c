#include "lm/utf8_stream.h"
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "text/tokenizer.h"

size_t sd_utf8_complete_len(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t k = 1; k <= 4 && k <= n; k++) {
        unsigned char c = u[n - k];
        if ((c & 0xC0) == 0x80) continue; /* continuation byte: look further back */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 1;
        /* only a lead byte that can start a character (C2..F4) is worth waiting for */
        if (c >= 0xC2 && c <= 0xF4 && k < need) return n - k;
        return n;
    }
    return n;
}

static void emit_repaired(const char *s, size_t n, sd_utf8_emit_fn emit, void *ctx) {
    if (!n) return;
    size_t rn;
    char *r = sd_utf8_repair(s, n, &rn);
    if (r) {
        emit(ctx, r, rn);
        free(r);
    } else {
        emit(ctx, s, n);
    }
}

void sd_utf8_stream_push(sd_utf8_stream *st, const char *bytes, size_t n, sd_utf8_emit_fn emit, void *ctx) {
    size_t total = (size_t)st->n_pending + n;
    char small[256], *buf = total <= sizeof small ? small : sd_xmalloc(total);
    memcpy(buf, st->pending, (size_t)st->n_pending);
    if (n) memcpy(buf + st->n_pending, bytes, n);
    size_t k = sd_utf8_complete_len(buf, total);
    emit_repaired(buf, k, emit, ctx);
    st->n_pending = (int)(total - k);
    memcpy(st->pending, buf + k, (size_t)st->n_pending);
    if (buf != small) free(buf);
}

void sd_utf8_stream_flush(sd_utf8_stream *st, sd_utf8_emit_fn emit, void *ctx) {
    emit_repaired(st->pending, (size_t)st->n_pending, emit, ctx);
    st->n_pending = 0;
}
