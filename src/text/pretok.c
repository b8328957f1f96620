/* The Qwen2 Split pre-tokenizer written out by hand over Unicode categories. Each alternative of
 * the regex is tried in order at the current position, exactly as a backtracking engine would,
 * which is both faster than PCRE2 and free of regex-engine differences in what \s means.
 *
 *   1 (?i:'s|'t|'re|'ve|'m|'ll|'d)
 *   2 [^\r\n\p{L}\p{N}]?\p{L}+
 *   3 \p{N}
 *   4  ?[^\s\p{L}\p{N}]+[\r\n]*
 *   5 \s*[\r\n]+          (whitespace run up to and including its last \r or \n)
 *   6 \s+(?!\S)           (a whitespace run but its last char, unless the run ends the text)
 *   7 \s+ */
#include <pthread.h>
#include <stdlib.h>
#include <utf8proc.h>
#include "base/mem.h"
#include "text/tok_internal.h"

const char *const SD_QWEN2_PATTERN =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

enum { C_L = 1, C_N = 2, C_S = 4, C_NL = 8 };
static uint8_t *g_cls;
static pthread_once_t g_cls_once = PTHREAD_ONCE_INIT;

/* \s is Unicode White_Space (Oniguruma's and Rust's definition). */
static bool is_white_space(int32_t c) {
    return (c >= 9 && c <= 13) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static void cls_init(void) {
    g_cls = sd_xmalloc(0x110000);
    for (int32_t c = 0; c < 0x110000; c++) {
        utf8proc_category_t k = utf8proc_category(c);
        uint8_t f = 0;
        if (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) f |= C_L;
        if (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO) f |= C_N;
        if (is_white_space(c)) f |= C_S;
        if (c == '\r' || c == '\n') f |= C_NL;
        g_cls[c] = f;
    }
}

/* Case-insensitive ASCII letter test for the contractions; U+017F (long s) folds to 's' and
 * U+212A (Kelvin) to 'k' under Unicode case folding, so the former counts as 's'. */
static int fold(int32_t c) {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c == 0x17F) return 's';
    return c < 128 ? c : 0;
}

typedef struct { int32_t *cp; uint8_t *cls; size_t *off; size_t cap; } scratch;

void sd_pretok_split(const char *str, size_t len, void (*fn)(void *, size_t, size_t), void *ctx) {
    pthread_once(&g_cls_once, cls_init);
    const unsigned char *s = (const unsigned char *)str;
    /* Fast path state is per call; pieces are usually short so stack buffers serve most calls. */
    int32_t cp_stack[256]; uint8_t cls_stack[256]; size_t off_stack[257];
    int32_t *cp = cp_stack; uint8_t *cls = cls_stack; size_t *off = off_stack;
    if (len > 255) {
        cp = sd_xmalloc(len * sizeof *cp);
        cls = sd_xmalloc(len);
        off = sd_xmalloc((len + 1) * sizeof *off);
    }
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        int32_t c;
        size_t k = sd_utf8_next(s, len, i, &c);
        cp[n] = c; cls[n] = g_cls[c]; off[n] = i; n++;
        i += k;
    }
    off[n] = len;
    size_t pos = 0;
    while (pos < n) {
        int32_t c = cp[pos];
        uint8_t f = cls[pos];
        size_t end;
        if (c == '\'' && pos + 1 < n) { /* 1 */
            int a = fold(cp[pos + 1]);
            if (a == 's' || a == 't' || a == 'm' || a == 'd') { end = pos + 2; goto emit; }
            if (pos + 2 < n) {
                int b = fold(cp[pos + 2]);
                if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) { end = pos + 3; goto emit; }
            }
        }
        if ((f & C_L) || (!(f & (C_NL | C_L | C_N)) && pos + 1 < n && (cls[pos + 1] & C_L))) { /* 2 */
            end = pos + 1;
            while (end < n && (cls[end] & C_L)) end++;
            goto emit;
        }
        if (f & C_N) { end = pos + 1; goto emit; } /* 3 */
        {
            size_t i = c == ' ' ? pos + 1 : pos; /* 4 */
            if (i < n && !(cls[i] & (C_S | C_L | C_N))) {
                end = i + 1;
                while (end < n && !(cls[end] & (C_S | C_L | C_N))) end++;
                while (end < n && (cls[end] & C_NL)) end++;
                goto emit;
            }
        }
        { /* here c is whitespace */
            size_t e = pos, last_nl = SIZE_MAX;
            while (e < n && (cls[e] & C_S)) { if (cls[e] & C_NL) last_nl = e; e++; }
            if (last_nl != SIZE_MAX) end = last_nl + 1;        /* 5 */
            else if (e == n || e - pos == 1) end = e;          /* 6 at the end, else 7 */
            else end = e - 1;                                  /* 6 */
        }
    emit:
        fn(ctx, off[pos], off[end]);
        pos = end;
    }
    if (cp != cp_stack) { free(cp); free(cls); free(off); }
}
