/* Internals shared by the tokenizer's files (core, JSON load/save, trainer). Not a public API. */
#ifndef SD_TOK_INTERNAL_H
#define SD_TOK_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "text/tokenizer.h"

enum { TOK_MODEL = 1, TOK_ADDED = 2, TOK_SPECIAL = 4 };

/* Largest id accepted from a file: far above any real vocabulary, far below int32 overflow. */
#define SD_TOK_MAX_ID (1 << 24)
/* Ids below this are accepted in a file of any size: every real vocabulary (Qwen3: 151,669) fits,
 * so what sd_tok_save writes (compact, without the padding its input may have had) loads back;
 * above it, ids must also stay below the file size, so a tiny file cannot make the id tables huge. */
#define SD_TOK_ID_FLOOR (1 << 20)

/* Added-token matcher: a byte trie with edges in one hash table keyed by (node, byte). */
typedef struct tok_trie {
    uint64_t *keys;      /* (node << 8 | byte) + 1; 0 = empty slot */
    int32_t *child;
    size_t cap, n;
    int32_t *term;       /* per node: index into t->added, or -1 */
    int32_t nodes, nodes_cap;
    uint8_t first[32];   /* bitmap of bytes that start some token */
} tok_trie;

typedef struct tok_added {
    int32_t id;
    uint8_t special, normalized, lstrip, rstrip, single_word;
} tok_added;

struct sd_tokenizer {
    int32_t n_ids, cap_ids, n_model;
    uint32_t *str_off, *str_len; /* token string (byte-level form / added content); str_off UINT32_MAX = unused id */
    uint32_t *raw_off, *raw_len; /* bytes emitted by the decoder */
    uint8_t *flags;
    char *strs; size_t strs_len, strs_cap;  /* arena, strings NUL-terminated */
    char *raws; size_t raws_len, raws_cap;
    uint64_t *smap; size_t smap_cap, smap_n; /* string -> id: (hash tag << 32 | id + 1), 0 empty */
    int32_t (*merges)[2]; int32_t n_merges, cap_merges;
    uint64_t *mkeys, *mvals; size_t mcap;   /* (a,b) -> rank << 32 | new id */
    int32_t byte_id[256];                   /* id of each single-byte symbol, -1 if missing */
    tok_added *added; int32_t n_added, cap_added;
    tok_trie trie_raw, trie_norm;
    bool nfc;                               /* normalizer NFC (else none) */
};

/* GPT-2 byte <-> unicode map: byte b is shown as code point sd_byte_chars()[b] (all < 0x144). */
extern const uint16_t *sd_byte_chars(void);
/* Inverse: code point -> byte, -1 if not a byte-level char. */
int sd_char_byte(int32_t cp);

/* Decodes the code point at s[i] (i < n); returns its length. Meant for well-formed UTF-8 but
 * safe on any bytes: it reads nothing at or past s[n], and a byte that does not start a complete
 * sequence (a stray continuation byte, a lead byte cut off by the end, a bad continuation)
 * decodes as U+FFFD of length 1, so *cp is always below 0x110000 (a table index for callers).
 * Overlong forms and surrogates are not rejected here; loaders validate with sd_utf8_seq_at. */
static inline size_t sd_utf8_next(const unsigned char *s, size_t n, size_t i, int32_t *cp) {
    unsigned c = s[i];
    if (c < 0x80) { *cp = (int32_t)c; return 1; }
    size_t need = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    if (need && c <= 0xF4 && n - i > need) {
        uint32_t v = c & (0x3Fu >> need);
        size_t k = 1;
        for (; k <= need && (s[i + k] & 0xC0) == 0x80; k++) v = v << 6 | (s[i + k] & 0x3F);
        if (k > need && v < 0x110000) { *cp = (int32_t)v; return need + 1; }
    }
    *cp = 0xFFFD;
    return 1;
}
static inline size_t sd_utf8_put(char *o, int32_t cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Construction (used by the JSON loader and the trainer). */
sd_tokenizer *sd_tok_new(void);
/* Sizes the hash tables for about n tokens and n merges (a hint; they grow anyway). */
void sd_tok_reserve(sd_tokenizer *t, size_t n);
/* Sets id's string; model tokens get their raw bytes from the byte-level map. Returns 0, or -1
 * when the id is taken or the string is already another id's (caller reports). */
int sd_tok_set(sd_tokenizer *t, int32_t id, const char *s, size_t len, uint8_t flags);
int32_t sd_tok_lookup(const sd_tokenizer *t, const char *s, size_t len);
/* Appends merge (a, b) as the next rank; returns the id of a+b, or -1 if a+b is not a token. */
int32_t sd_tok_add_merge(sd_tokenizer *t, int32_t a, int32_t b);
int sd_tok_add_added(sd_tokenizer *t, int32_t id, const sd_added_token *a);
/* Call after building: byte ids, tries. */
void sd_tok_finish(sd_tokenizer *t);
#include "base/strmap.h" /* sd_hash_bytes */

/* Added-token split of one text: calls fn for plain pieces (added = -1) and for matches. */
typedef void (*sd_tok_piece_fn)(void *ctx, const char *s, size_t len, int32_t added_id);
void sd_tok_split_added(const sd_tokenizer *t, const tok_trie *trie, const char *s, size_t len,
                        sd_tok_piece_fn fn, void *ctx);

#endif
