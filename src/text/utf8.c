/* UTF-8 repair (maximal subparts, as WHATWG and Rust's from_utf8_lossy) and NFC with a quick
 * check, so ASCII and already-composed text skip utf8proc's allocation and reordering. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include "base/mem.h"
#include "base/utf8.h"
#include "text/tok_internal.h"

char *sd_utf8_repair(const char *str, size_t n, size_t *out_len) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, bad = 0;
    while (i < n) {
        if (s[i] < 0x80) { i++; continue; }
        size_t k = sd_utf8_seq_at(s, n, i, &bad);
        if (!k) break;
        i += k;
    }
    if (i >= n) return NULL;
    size_t cap = n * 3 + 1, o = i;
    char *out = sd_xmalloc(cap);
    memcpy(out, s, i);
    while (i < n) {
        size_t k = sd_utf8_seq_at(s, n, i, &bad);
        if (k) { memcpy(out + o, s + i, k); o += k; i += k; }
        else { memcpy(out + o, "\xEF\xBF\xBD", 3); o += 3; i += bad; }
    }
    out[o] = 0;
    *out_len = o;
    return out;
}

/* Code points that never change under NFC and never combine with a neighbour: ccc = 0, no
 * canonical decomposition, not a composition participant. Below U+0300 everything qualifies. */
static uint8_t *g_nfc_unsafe; /* bitmap over 0x110000 */
static pthread_once_t g_nfc_once = PTHREAD_ONCE_INIT;

static void nfc_init(void) {
    g_nfc_unsafe = sd_xcalloc(0x110000 / 8, 1);
    for (int32_t cp = 0x300; cp < 0x110000; cp++) {
        const utf8proc_property_t *p = utf8proc_get_property(cp);
        bool unsafe = p->combining_class != 0 || p->comb_index != UINT16_MAX || p->comp_exclusion ||
                      (p->decomp_seqindex != UINT16_MAX && p->decomp_type == 0) ||
                      (cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0xAC00 && cp <= 0xD7A3);
        if (unsafe) g_nfc_unsafe[cp >> 3] |= (uint8_t)(1 << (cp & 7));
    }
}

char *sd_utf8_nfc(const char *str, size_t n, size_t *out_len) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n && s[i] < 0xCC) i++; /* < U+0300 in lead bytes: ASCII and 2-byte up to U+02FF */
    if (i >= n) return NULL;
    pthread_once(&g_nfc_once, nfc_init);
    bool need = false;
    while (i < n) {
        int32_t cp;
        size_t k = sd_utf8_next(s, n, i, &cp);
        if (cp >= 0x300 && (g_nfc_unsafe[cp >> 3] >> (cp & 7) & 1)) { need = true; break; }
        i += k;
    }
    if (!need) return NULL;
    utf8proc_uint8_t *res = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &res,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (r < 0) return NULL; /* cannot happen on repaired input; keep the text as is */
    *out_len = (size_t)r;
    return (char *)res;
}
