#include "base/utf8.h"
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

size_t sd_utf8_seq_at(const unsigned char *s, size_t n, size_t i, size_t *bad) {
    unsigned c = s[i];
    if (c < 0x80) return 1;
    size_t need, dummy;
    if (!bad) bad = &dummy;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c >= 0xE0 && c <= 0xEF) { need = 2; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
    else if (c >= 0xF0 && c <= 0xF4) { need = 3; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
    else { *bad = 1; return 0; }
    for (size_t k = 1; k <= need; k++) {
        if (i + k >= n) { *bad = k; return 0; }
        unsigned b = s[i + k];
        if (b < lo || b > hi) { *bad = k; return 0; }
        lo = 0x80; hi = 0xBF;
    }
    return need + 1;
}

size_t sd_utf8_invalid_at(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        /* two-byte characters (byte-level BPE's whole alphabet) without the general check */
        if (c >= 0xC2 && c <= 0xDF && i + 1 < n && (s[i + 1] & 0xC0) == 0x80) { i += 2; continue; }
        size_t k = sd_utf8_seq_at(s, n, i, NULL);
        if (!k) return i;
        i += k;
    }
    return n;
}

/* Copies s[0..n) escaped into out; stops with "..." after `max` input bytes or when out is full. */
static const char *escape(char *out, size_t cap, const char *str, size_t n, size_t max, bool keep_lines) {
    const unsigned char *s = (const unsigned char *)str;
    size_t o = 0, i = 0;
    if (!cap) return out;
    while (i < n) {
        size_t k = s[i] < 0x80 ? 1 : sd_utf8_seq_at(s, n, i, NULL);
        bool c1 = k == 2 && s[i] == 0xC2 && s[i + 1] < 0xA0; /* U+0080..U+009F: terminal controls */
        bool line = keep_lines && (s[i] == '\n' || s[i] == '\t');
        bool esc = k == 0 || ((s[i] < 0x20 || s[i] == 0x7F) && !line) || c1;
        size_t in = k ? k : 1, outn = esc ? 4 * in : k;
        if (i + in > max || o + outn + 4 > cap) {
            if (o + 4 <= cap) { memcpy(out + o, "...", 3); o += 3; }
            break;
        }
        for (size_t j = 0; j < in; j++) {
            if (esc) { snprintf(out + o, 5, "\\x%02X", s[i + j]); o += 4; }
            else out[o++] = (char)s[i + j];
        }
        i += in;
    }
    out[o] = 0;
    return out;
}

const char *sd_quote_bytes(char *out, size_t cap, const char *s, size_t n) {
    return escape(out, cap, s, n, SD_QUOTE_MAX, false);
}

const char *sd_escape_text(char *out, size_t cap, const char *s) {
    return escape(out, cap, s, strlen(s), (size_t)-1, true);
}
