#include "base/clean.h"
#include "base/mem.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct entity { const char *name; uint32_t cp; } entity;

/* Named references seen in shop data (Amazon, eBay exports, Shopify feeds). Not the full HTML5
 * list of 2,231: the rest are mathematical or rare and stay as written. */
static const entity k_entities[] = {
    {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}, {"nbsp", 0xA0},
    {"ensp", 0x2002}, {"emsp", 0x2003}, {"thinsp", 0x2009}, {"shy", 0xAD}, {"zwnj", 0x200C}, {"zwj", 0x200D},
    {"lrm", 0x200E}, {"rlm", 0x200F},
    {"trade", 0x2122}, {"reg", 0xAE}, {"copy", 0xA9}, {"hellip", 0x2026}, {"mdash", 0x2014}, {"ndash", 0x2013},
    {"rsquo", 0x2019}, {"lsquo", 0x2018}, {"ldquo", 0x201C}, {"rdquo", 0x201D}, {"sbquo", 0x201A},
    {"bdquo", 0x201E}, {"laquo", 0xAB}, {"raquo", 0xBB}, {"lsaquo", 0x2039}, {"rsaquo", 0x203A},
    {"bull", 0x2022}, {"middot", 0xB7}, {"deg", 0xB0}, {"plusmn", 0xB1}, {"times", 0xD7}, {"divide", 0xF7},
    {"frac12", 0xBD}, {"frac14", 0xBC}, {"frac34", 0xBE}, {"sup1", 0xB9}, {"sup2", 0xB2}, {"sup3", 0xB3},
    {"micro", 0xB5}, {"para", 0xB6}, {"sect", 0xA7}, {"cent", 0xA2}, {"pound", 0xA3}, {"euro", 0x20AC},
    {"yen", 0xA5}, {"curren", 0xA4}, {"iexcl", 0xA1}, {"iquest", 0xBF}, {"ordf", 0xAA}, {"ordm", 0xBA},
    {"not", 0xAC}, {"macr", 0xAF}, {"acute", 0xB4}, {"cedil", 0xB8}, {"uml", 0xA8}, {"brvbar", 0xA6},
    {"dagger", 0x2020}, {"Dagger", 0x2021}, {"prime", 0x2032}, {"Prime", 0x2033}, {"permil", 0x2030},
    {"larr", 0x2190}, {"rarr", 0x2192}, {"uarr", 0x2191}, {"darr", 0x2193}, {"harr", 0x2194},
    {"hearts", 0x2665}, {"spades", 0x2660}, {"clubs", 0x2663}, {"diams", 0x2666}, {"check", 0x2713},
    {"infin", 0x221E}, {"asymp", 0x2248}, {"ne", 0x2260}, {"le", 0x2264}, {"ge", 0x2265}, {"minus", 0x2212},
    {"agrave", 0xE0}, {"aacute", 0xE1}, {"acirc", 0xE2}, {"atilde", 0xE3}, {"auml", 0xE4}, {"aring", 0xE5},
    {"aelig", 0xE6}, {"ccedil", 0xE7}, {"egrave", 0xE8}, {"eacute", 0xE9}, {"ecirc", 0xEA}, {"euml", 0xEB},
    {"igrave", 0xEC}, {"iacute", 0xED}, {"icirc", 0xEE}, {"iuml", 0xEF}, {"eth", 0xF0}, {"ntilde", 0xF1},
    {"ograve", 0xF2}, {"oacute", 0xF3}, {"ocirc", 0xF4}, {"otilde", 0xF5}, {"ouml", 0xF6}, {"oslash", 0xF8},
    {"ugrave", 0xF9}, {"uacute", 0xFA}, {"ucirc", 0xFB}, {"uuml", 0xFC}, {"yacute", 0xFD}, {"thorn", 0xFE},
    {"yuml", 0xFF}, {"szlig", 0xDF},
    {"Agrave", 0xC0}, {"Aacute", 0xC1}, {"Acirc", 0xC2}, {"Atilde", 0xC3}, {"Auml", 0xC4}, {"Aring", 0xC5},
    {"AElig", 0xC6}, {"Ccedil", 0xC7}, {"Egrave", 0xC8}, {"Eacute", 0xC9}, {"Ecirc", 0xCA}, {"Euml", 0xCB},
    {"Igrave", 0xCC}, {"Iacute", 0xCD}, {"Icirc", 0xCE}, {"Iuml", 0xCF}, {"ETH", 0xD0}, {"Ntilde", 0xD1},
    {"Ograve", 0xD2}, {"Oacute", 0xD3}, {"Ocirc", 0xD4}, {"Otilde", 0xD5}, {"Ouml", 0xD6}, {"Oslash", 0xD8},
    {"Ugrave", 0xD9}, {"Uacute", 0xDA}, {"Ucirc", 0xDB}, {"Uuml", 0xDC}, {"Yacute", 0xDD}, {"THORN", 0xDE},
    {"oelig", 0x153}, {"OElig", 0x152}, {"scaron", 0x161}, {"Scaron", 0x160}, {"Yuml", 0x178},
    {"alpha", 0x3B1}, {"beta", 0x3B2}, {"gamma", 0x3B3}, {"delta", 0x3B4}, {"mu", 0x3BC}, {"pi", 0x3C0},
    {"Omega", 0x3A9}, {"omega", 0x3C9},
};

/* Windows-1252 meanings of the C1 range, which numeric references in scraped text mean. */
static const uint16_t k_cp1252[32] = {
    0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152,
    0xFFFD, 0x017D, 0xFFFD, 0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122,
    0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178};

static size_t put_utf8(char *d, uint32_t cp) {
    if (cp < 0x80) { d[0] = (char)cp; return 1; }
    if (cp < 0x800) { d[0] = (char)(0xC0 | cp >> 6); d[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | cp >> 12); d[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); d[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | cp >> 18); d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static int is_alnum(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

/* Decodes the reference starting at s[0] == '&' (n bytes available). Returns the number of input
 * bytes used (0 if not a reference) and the code point. */
static size_t decode_ref(const char *s, size_t n, uint32_t *cp) {
    if (n >= 3 && s[1] == '#') {
        size_t i = 2;
        int hex = 0;
        if (s[2] == 'x' || s[2] == 'X') { hex = 1; i = 3; }
        uint64_t v = 0;
        size_t d0 = i;
        for (; i < n && i - d0 < 10; i++) {
            int c = (unsigned char)s[i], dv;
            if (c >= '0' && c <= '9') dv = c - '0';
            else if (hex && c >= 'a' && c <= 'f') dv = c - 'a' + 10;
            else if (hex && c >= 'A' && c <= 'F') dv = c - 'A' + 10;
            else break;
            v = v * (hex ? 16 : 10) + dv;
        }
        if (i == d0) return 0;
        if (i < n && is_alnum((unsigned char)s[i])) return 0; /* too many digits or junk: leave as is */
        if (i < n && s[i] == ';') i++;
        if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) v = 0xFFFD;
        else if (v >= 0x80 && v <= 0x9F) v = k_cp1252[v - 0x80];
        *cp = (uint32_t)v;
        return i;
    }
    size_t i = 1;
    while (i < n && i <= 8 && is_alnum((unsigned char)s[i])) i++;
    if (i == 1 || i >= n || s[i] != ';') return 0;
    size_t nl = i - 1;
    for (size_t k = 0; k < sizeof k_entities / sizeof *k_entities; k++)
        if (strlen(k_entities[k].name) == nl && memcmp(k_entities[k].name, s + 1, nl) == 0) {
            *cp = k_entities[k].cp;
            return i + 1;
        }
    return 0;
}

size_t sd_html_unescape(char *dst, const char *src, size_t len) {
    size_t o = 0, i = 0;
    while (i < len) {
        const char *amp = memchr(src + i, '&', len - i);
        size_t run = amp ? (size_t)(amp - (src + i)) : len - i;
        memmove(dst + o, src + i, run);
        o += run;
        i += run;
        if (!amp) break;
        uint32_t cp;
        size_t used = decode_ref(src + i, len - i, &cp);
        if (used) {
            o += put_utf8(dst + o, cp); /* never longer than the reference it replaces */
            i += used;
        } else {
            dst[o++] = '&';
            i++;
        }
    }
    dst[o] = 0;
    return o;
}

int sd_utf8_seq_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
        if (c == 0xED && s[1] >= 0xA0) return 0; /* surrogates */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
        if (c == 0xF0 && s[1] < 0x90) return 0;
        if (c == 0xF4 && s[1] >= 0x90) return 0;
        return 4;
    }
    return 0;
}

bool sd_utf8_valid(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        if (u[i] < 0x80) { i++; continue; }
        int k = sd_utf8_seq_len(u + i, len - i);
        if (!k) return false;
        i += k;
    }
    return true;
}

size_t sd_utf8_count(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

size_t sd_utf8_fix(char *dst, const char *src, size_t len, size_t *n_bad) {
    const unsigned char *u = (const unsigned char *)src;
    size_t o = 0, bad = 0;
    for (size_t i = 0; i < len;) {
        if (u[i] < 0x80) { dst[o++] = (char)u[i++]; continue; }
        int k = sd_utf8_seq_len(u + i, len - i);
        if (!k) { memcpy(dst + o, "\xEF\xBF\xBD", 3); o += 3; i++; bad++; continue; }
        memcpy(dst + o, u + i, k);
        o += k;
        i += k;
    }
    dst[o] = 0;
    if (n_bad) *n_bad = bad;
    return o;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Tags after which the text reads as a new phrase: replaced by a space rather than nothing. */
static int is_block_tag(const char *name, size_t n) {
    static const char *const blocks[] = {"br", "p", "div", "li", "ul", "ol", "tr", "td", "th", "table", "hr",
                                         "h1", "h2", "h3", "h4", "h5", "h6", "dd", "dt", "dl", "blockquote",
                                         "section", "article", "header", "footer", "pre", "tbody", "thead",
                                         "img", "option"};
    char buf[16];
    if (n == 0 || n >= sizeof buf) return 0;
    for (size_t i = 0; i < n; i++) buf[i] = (char)lower((unsigned char)name[i]);
    for (size_t k = 0; k < sizeof blocks / sizeof *blocks; k++)
        if (strlen(blocks[k]) == n && memcmp(blocks[k], buf, n) == 0) return 1;
    return 0;
}

size_t sd_clean_text(char *dst, const char *src, size_t len, size_t *n_bad) {
    /* Stage 1 decodes references into the tail of dst; stage 2 reads it from there and writes
     * from the front. Stage 2 writes at most 3 bytes per byte read, so the write position
     * (<= 3r) stays behind the unread input (>= 2 * len + r) for every r < len. */
    char *s = dst + 2 * len;
    size_t n = sd_html_unescape(s, src, len);
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0, bad = 0;
    int space = 0;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        if (c > 0x20 && c < 0x7F && c != '<') { /* plain ASCII run: the common case, copied without the checks below */
            if (space && o > 0) dst[o++] = ' ';
            space = 0;
            do dst[o++] = (char)u[i++];
            while (i < n && u[i] > 0x20 && u[i] < 0x7F && u[i] != '<');
            continue;
        }
        if (c <= 0x20 || c == 0x7F) { space = 1; i++; continue; }
        if (c == '<' && i + 1 < n) {
            unsigned d = u[i + 1];
            if ((lower(d) >= 'a' && lower(d) <= 'z') || d == '/' || d == '!' || d == '?') {
                const char *gt = memchr(s + i + 1, '>', n - i - 1);
                if (gt) {
                    size_t a = i + 1 + (d == '/');
                    size_t b = a;
                    while (b < (size_t)(gt - s) && is_alnum(u[b])) b++;
                    if (is_block_tag(s + a, b - a)) space = 1;
                    i = (size_t)(gt - s) + 1;
                    continue;
                }
            }
        }
        if (c == 0xC2 && i + 1 < n && u[i + 1] == 0xA0) { space = 1; i += 2; continue; }
        if (space && o > 0) dst[o++] = ' ';
        space = 0;
        if (c < 0x80) { dst[o++] = (char)c; i++; continue; }
        int k = sd_utf8_seq_len(u + i, n - i);
        if (!k) {
            memcpy(dst + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
            bad++;
            continue;
        }
        memmove(dst + o, u + i, k);
        o += k;
        i += k;
    }
    dst[o] = 0;
    if (n_bad) *n_bad = bad;
    return o;
}

const char *sd_clean(sd_textbuf *b, const char *src, size_t len, size_t *out_len, size_t *n_bad) {
    size_t need = 3 * len + 1;
    if (b->cap < need) {
        b->cap = need < 256 ? 256 : need + need / 2;
        free(b->p);
        b->p = sd_xmalloc(b->cap);
    }
    size_t k = sd_clean_text(b->p, src, len, n_bad);
    if (out_len) *out_len = k;
    return b->p;
}

void sd_textbuf_free(sd_textbuf *b) {
    free(b->p);
    b->p = NULL;
    b->cap = 0;
}
