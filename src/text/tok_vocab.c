/* Vocabulary tables: id <-> string, merges with their ranks, added tokens and their tries, and
 * the GPT-2 byte <-> unicode map. Encoding reads these; only construction and
 * sd_tok_add_tokens write them. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/rng.h"
#include "text/tok_internal.h"

static uint16_t g_byte_char[256];
static int16_t g_char_byte[0x144];
static pthread_once_t g_bytes_once = PTHREAD_ONCE_INIT;

/* Printable Latin-1 bytes stand for themselves; the others are moved to U+0100 onward so that
 * every byte has a visible, non-whitespace character (GPT-2's bytes_to_unicode). */
static void bytes_init(void) {
    for (int i = 0; i < 0x144; i++) g_char_byte[i] = -1;
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        bool keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        g_byte_char[b] = (uint16_t)(keep ? b : 256 + extra++);
        g_char_byte[g_byte_char[b]] = (int16_t)b;
    }
}
const uint16_t *sd_byte_chars(void) { pthread_once(&g_bytes_once, bytes_init); return g_byte_char; }
int sd_char_byte(int32_t cp) {
    pthread_once(&g_bytes_once, bytes_init);
    return cp >= 0 && cp < 0x144 ? g_char_byte[cp] : -1;
}

sd_tokenizer *sd_tok_new(void) {
    sd_tokenizer *t = sd_xcalloc(1, sizeof *t);
    t->smap_cap = 1024;
    t->smap = sd_xcalloc(t->smap_cap, sizeof *t->smap);
    t->mcap = 1024;
    t->mkeys = sd_xcalloc(t->mcap, sizeof *t->mkeys);
    t->mvals = sd_xcalloc(t->mcap, sizeof *t->mvals);
    t->nfc = true;
    for (int i = 0; i < 256; i++) t->byte_id[i] = -1;
    return t;
}

static void trie_free(tok_trie *tr) { free(tr->keys); free(tr->child); free(tr->term); memset(tr, 0, sizeof *tr); }

void sd_tok_free(sd_tokenizer *t) {
    if (!t) return;
    free(t->str_off); free(t->str_len); free(t->raw_off); free(t->raw_len); free(t->flags);
    free(t->strs); free(t->raws); free(t->smap); free(t->merges); free(t->mkeys); free(t->mvals);
    free(t->added);
    trie_free(&t->trie_raw); trie_free(&t->trie_norm);
    free(t);
}

static const char *tok_str(const sd_tokenizer *t, int32_t id) { return t->strs + t->str_off[id]; }

/* The slot keeps 32 bits of the hash so that probing rarely touches the string arena. */
int32_t sd_tok_lookup(const sd_tokenizer *t, const char *s, size_t len) {
    uint64_t h = sd_hash_bytes(s, len);
    uint32_t tag = (uint32_t)(h >> 32);
    size_t mask = t->smap_cap - 1, i = h & mask;
    for (;; i = (i + 1) & mask) {
        uint64_t v = t->smap[i];
        if (!v) return -1;
        if ((uint32_t)(v >> 32) != tag) continue;
        int32_t id = (int32_t)(uint32_t)v - 1;
        if (t->str_len[id] == len && !memcmp(tok_str(t, id), s, len)) return id;
    }
}

static void smap_put(uint64_t *m, size_t cap, uint64_t h, int32_t id) {
    size_t k = h & (cap - 1);
    while (m[k]) k = (k + 1) & (cap - 1);
    m[k] = (h >> 32) << 32 | (uint32_t)(id + 1);
}

static void smap_resize(sd_tokenizer *t, size_t cap) {
    uint64_t *m = sd_xcalloc(cap, sizeof *m);
    for (size_t i = 0; i < t->smap_cap; i++) {
        uint64_t v = t->smap[i];
        if (!v) continue;
        int32_t j = (int32_t)(uint32_t)v - 1;
        smap_put(m, cap, sd_hash_bytes(tok_str(t, j), t->str_len[j]), j);
    }
    free(t->smap);
    t->smap = m;
    t->smap_cap = cap;
}

static void smap_insert(sd_tokenizer *t, int32_t id, uint64_t h) {
    if ((t->smap_n + 1) * 2 > t->smap_cap) smap_resize(t, t->smap_cap * 2);
    smap_put(t->smap, t->smap_cap, h, id);
    t->smap_n++;
}

static uint32_t arena_put(char **a, size_t *len, size_t *cap, const char *s, size_t n) {
    SD_GROW(*a, *cap, *len + n + 1);
    uint32_t off = (uint32_t)*len;
    memcpy(*a + *len, s, n);
    (*a)[*len + n] = 0;
    *len += n + 1;
    return off;
}

static void ensure_ids(sd_tokenizer *t, int32_t id) {
    if (id < t->cap_ids) return;
    int32_t cap = t->cap_ids ? t->cap_ids : 256;
    while (cap <= id) cap *= 2;
    t->str_off = sd_xrealloc(t->str_off, (size_t)cap * sizeof *t->str_off);
    t->str_len = sd_xrealloc(t->str_len, (size_t)cap * sizeof *t->str_len);
    t->raw_off = sd_xrealloc(t->raw_off, (size_t)cap * sizeof *t->raw_off);
    t->raw_len = sd_xrealloc(t->raw_len, (size_t)cap * sizeof *t->raw_len);
    t->flags = sd_xrealloc(t->flags, (size_t)cap);
    for (int32_t i = t->cap_ids; i < cap; i++) { t->str_off[i] = UINT32_MAX; t->str_len[i] = 0; t->flags[i] = 0; }
    t->cap_ids = cap;
}

/* The ByteLevel decoder maps a token char by char to bytes; a token holding any char outside
 * the map is emitted as its own UTF-8 instead (Hugging Face does the same, per token). */
static void set_raw(sd_tokenizer *t, int32_t id, const char *s, size_t len) {
    char small[256];
    char *buf = len <= sizeof small ? small : sd_xmalloc(len);
    size_t o = 0;
    bool mapped = true;
    for (size_t i = 0; i < len;) {
        int32_t cp;
        i += sd_utf8_next((const unsigned char *)s, len, i, &cp);
        int b = sd_char_byte(cp);
        if (b < 0) { mapped = false; break; }
        buf[o++] = (char)b;
    }
    if (!mapped) { memcpy(buf, s, len); o = len; }
    t->raw_off[id] = arena_put(&t->raws, &t->raws_len, &t->raws_cap, buf, o);
    t->raw_len[id] = (uint32_t)o;
    if (buf != small) free(buf);
}

int sd_tok_set(sd_tokenizer *t, int32_t id, const char *s, size_t len, uint8_t flags) {
    ensure_ids(t, id);
    if (t->str_off[id] != UINT32_MAX) return -1;
    if (sd_tok_lookup(t, s, len) >= 0) return -1;
    uint64_t h = sd_hash_bytes(s, len);
    t->str_off[id] = arena_put(&t->strs, &t->strs_len, &t->strs_cap, s, len);
    t->str_len[id] = (uint32_t)len;
    t->flags[id] = flags;
    set_raw(t, id, s, len);
    if (id >= t->n_ids) t->n_ids = id + 1;
    if (flags & TOK_MODEL) t->n_model++;
    smap_insert(t, id, h);
    return 0;
}

static void merge_resize(sd_tokenizer *t, size_t cap) {
    uint64_t *k2 = sd_xcalloc(cap, sizeof *k2), *v2 = sd_xcalloc(cap, sizeof *v2);
    for (size_t i = 0; i < t->mcap; i++) {
        if (!t->mkeys[i]) continue;
        size_t j = sd_mix64(t->mkeys[i]) & (cap - 1);
        while (k2[j]) j = (j + 1) & (cap - 1);
        k2[j] = t->mkeys[i]; v2[j] = t->mvals[i];
    }
    free(t->mkeys); free(t->mvals);
    t->mkeys = k2; t->mvals = v2; t->mcap = cap;
}

static void merge_insert(sd_tokenizer *t, uint64_t key, uint64_t val) {
    if ((size_t)(t->n_merges + 1) * 2 > t->mcap) merge_resize(t, t->mcap * 2);
    size_t j = sd_mix64(key) & (t->mcap - 1);
    while (t->mkeys[j]) {
        if (t->mkeys[j] == key) return; /* a repeated merge keeps its first (lower) rank, as in HF */
        j = (j + 1) & (t->mcap - 1);
    }
    t->mkeys[j] = key; t->mvals[j] = val;
}

void sd_tok_reserve(sd_tokenizer *t, size_t n) {
    size_t cap = 1024;
    while (cap < n * 2 && cap < ((size_t)1 << 26)) cap *= 2;
    if (cap > t->smap_cap) smap_resize(t, cap);
    if (cap > t->mcap) merge_resize(t, cap);
    if ((int32_t)n > t->cap_ids && n < SD_TOK_MAX_ID) ensure_ids(t, (int32_t)n);
    SD_GROW(t->strs, t->strs_cap, n * 8);
    SD_GROW(t->raws, t->raws_cap, n * 6);
}

int32_t sd_tok_add_merge(sd_tokenizer *t, int32_t a, int32_t b) {
    size_t la = t->str_len[a], lb = t->str_len[b];
    char small[512];
    char *buf = la + lb <= sizeof small ? small : sd_xmalloc(la + lb);
    memcpy(buf, tok_str(t, a), la);
    memcpy(buf + la, tok_str(t, b), lb);
    int32_t c = sd_tok_lookup(t, buf, la + lb);
    if (buf != small) free(buf);
    if (c < 0) return -1;
    SD_GROW(t->merges, t->cap_merges, t->n_merges + 1);
    t->merges[t->n_merges][0] = a;
    t->merges[t->n_merges][1] = b;
    /* key +1 on a so that no key is 0 (the empty-slot marker) */
    merge_insert(t, ((uint64_t)(uint32_t)a + 1) << 32 | (uint32_t)b, (uint64_t)t->n_merges << 32 | (uint32_t)c);
    t->n_merges++;
    return c;
}

int sd_tok_add_added(sd_tokenizer *t, int32_t id, const sd_added_token *a) {
    SD_GROW(t->added, t->cap_added, t->n_added + 1);
    tok_added *x = &t->added[t->n_added++];
    x->id = id; x->special = a->special; x->normalized = a->normalized;
    x->lstrip = a->lstrip; x->rstrip = a->rstrip; x->single_word = a->single_word;
    t->flags[id] |= TOK_ADDED | (a->special ? TOK_SPECIAL : 0);
    return 0;
}

/* ---- tries ---- */
static int32_t trie_node(tok_trie *tr) {
    if (tr->nodes == tr->nodes_cap) {
        tr->nodes_cap = tr->nodes_cap ? tr->nodes_cap * 2 : 64;
        tr->term = sd_xrealloc(tr->term, (size_t)tr->nodes_cap * sizeof *tr->term);
    }
    tr->term[tr->nodes] = -1;
    return tr->nodes++;
}

static int32_t trie_get(const tok_trie *tr, int32_t node, unsigned char b) {
    uint64_t key = ((uint64_t)node << 8 | b) + 1;
    size_t mask = tr->cap - 1, i = sd_mix64(key) & mask;
    for (;; i = (i + 1) & mask) {
        if (tr->keys[i] == key) return tr->child[i];
        if (!tr->keys[i]) return -1;
    }
}

static void trie_put(tok_trie *tr, uint64_t key, int32_t child) {
    size_t mask = tr->cap - 1, i = sd_mix64(key) & mask;
    while (tr->keys[i]) i = (i + 1) & mask;
    tr->keys[i] = key; tr->child[i] = child;
    tr->n++;
}

static void trie_build(tok_trie *tr, const sd_tokenizer *t, bool normalized) {
    trie_free(tr);
    size_t total = 1;
    for (int32_t i = 0; i < t->n_added; i++) total += t->str_len[t->added[i].id];
    tr->cap = 16;
    while (tr->cap < total * 2) tr->cap *= 2;
    tr->keys = sd_xcalloc(tr->cap, sizeof *tr->keys);
    tr->child = sd_xmalloc(tr->cap * sizeof *tr->child);
    trie_node(tr);
    for (int32_t i = 0; i < t->n_added; i++) {
        const tok_added *a = &t->added[i];
        if ((bool)a->normalized != normalized) continue;
        const unsigned char *s = (const unsigned char *)tok_str(t, a->id);
        size_t n = t->str_len[a->id];
        if (!n) continue;
        int32_t node = 0;
        for (size_t k = 0; k < n; k++) {
            int32_t c = trie_get(tr, node, s[k]);
            if (c < 0) { c = trie_node(tr); trie_put(tr, ((uint64_t)node << 8 | s[k]) + 1, c); }
            node = c;
        }
        if (tr->term[node] < 0) tr->term[node] = i;
        tr->first[s[0] >> 3] |= (uint8_t)(1 << (s[0] & 7));
    }
}

void sd_tok_finish(sd_tokenizer *t) {
    const uint16_t *bc = sd_byte_chars();
    for (int b = 0; b < 256; b++) {
        char u[4];
        size_t n = sd_utf8_put(u, bc[b]);
        int32_t id = sd_tok_lookup(t, u, n);
        t->byte_id[b] = id >= 0 && (t->flags[id] & TOK_MODEL) ? id : -1;
    }
    trie_build(&t->trie_raw, t, false);
    trie_build(&t->trie_norm, t, true);
}

static bool is_ws(int32_t c) {
    return (c >= 9 && c <= 13) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}
/* Previous code point before byte offset i (valid UTF-8). */
static int32_t prev_cp(const unsigned char *s, size_t i, size_t *start) {
    size_t j = i - 1;
    while (j > 0 && (s[j] & 0xC0) == 0x80) j--;
    int32_t cp;
    sd_utf8_next(s, i, j, &cp);
    *start = j;
    return cp;
}
/* single_word boundaries: ASCII alphanumerics and '_' and, as an approximation of Unicode
 * alphanumerics, every non-ASCII character. */
static bool is_word_char(int32_t c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

/* Leftmost-longest matching (as Hugging Face's Aho-Corasick): at each position that can start a
 * token, walk the trie and keep the longest hit; the first position with a hit wins. */
void sd_tok_split_added(const sd_tokenizer *t, const tok_trie *tr, const char *str, size_t len,
                        sd_tok_piece_fn fn, void *ctx) {
    const unsigned char *s = (const unsigned char *)str;
    size_t piece = 0, i = 0;
    if (tr->nodes <= 1) { if (len) fn(ctx, str, len, -1); return; }
    while (i < len) {
        if (!(tr->first[s[i] >> 3] >> (s[i] & 7) & 1)) { i++; continue; }
        int32_t node = 0, hit = -1;
        size_t hit_end = 0;
        for (size_t k = i; k < len; k++) {
            node = trie_get(tr, node, s[k]);
            if (node < 0) break;
            if (tr->term[node] >= 0) { hit = tr->term[node]; hit_end = k + 1; }
        }
        if (hit < 0) { i++; continue; }
        const tok_added *a = &t->added[hit];
        size_t ms = i, me = hit_end;
        if (a->single_word) {
            size_t st;
            bool ok_l = ms == 0 || !is_word_char(prev_cp(s, ms, &st));
            int32_t nc = 0;
            bool ok_r = me == len || (sd_utf8_next(s, len, me, &nc), !is_word_char(nc));
            if (!ok_l || !ok_r) { i = me; continue; }
        }
        if (a->lstrip) {
            size_t st;
            while (ms > piece && is_ws(prev_cp(s, ms, &st))) ms = st;
        }
        if (a->rstrip) {
            int32_t nc;
            while (me < len) { size_t k = sd_utf8_next(s, len, me, &nc); if (!is_ws(nc)) break; me += k; }
        }
        if (ms > piece) fn(ctx, str + piece, ms - piece, -1);
        fn(ctx, str + ms, me - ms, a->id);
        piece = i = me;
    }
    if (len > piece) fn(ctx, str + piece, len - piece, -1);
}

/* ---- public accessors ---- */
int32_t sd_tok_vocab_size(const sd_tokenizer *t) { return t->n_ids; }
int32_t sd_tok_model_vocab_size(const sd_tokenizer *t) { return t->n_model; }
int32_t sd_tok_merge_count(const sd_tokenizer *t) { return t->n_merges; }
int32_t sd_tok_added_count(const sd_tokenizer *t) { return t->n_added; }
int sd_tok_merge_at(const sd_tokenizer *t, int32_t i, int32_t *left, int32_t *right) {
    if (i < 0 || i >= t->n_merges) return -1;
    *left = t->merges[i][0];
    *right = t->merges[i][1];
    return 0;
}
int32_t sd_tok_added_at(const sd_tokenizer *t, int32_t i, sd_added_token *out) {
    if (i < 0 || i >= t->n_added) return -1;
    const tok_added *a = &t->added[i];
    if (out) {
        *out = (sd_added_token){.content = tok_str(t, a->id), .special = a->special, .normalized = a->normalized,
                                .lstrip = a->lstrip, .rstrip = a->rstrip, .single_word = a->single_word};
    }
    return a->id;
}
const char *sd_tok_id_to_token(const sd_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_ids && t->str_off[id] != UINT32_MAX ? tok_str(t, id) : NULL;
}
int32_t sd_tok_token_to_id(const sd_tokenizer *t, const char *token) { return sd_tok_lookup(t, token, strlen(token)); }
bool sd_tok_is_special(const sd_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_ids && (t->flags[id] & TOK_SPECIAL);
}
const char *sd_tok_token_bytes(const sd_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_ids || t->str_off[id] == UINT32_MAX) { *len = 0; return NULL; }
    *len = t->raw_len[id];
    return t->raws + t->raw_off[id];
}

int sd_tok_add_tokens(sd_tokenizer *t, const sd_added_token *toks, size_t n, int32_t *ids, sd_err *err) {
    int added = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(toks[i].content);
        if (!len) return sd_errf(err, SD_EUSAGE, "added token %zu: empty content", i);
        int32_t id = sd_tok_lookup(t, toks[i].content, len);
        if (id >= 0 && (t->flags[id] & TOK_ADDED)) { if (ids) ids[i] = id; continue; }
        if (id < 0) {
            if (t->n_ids >= SD_TOK_MAX_ID) return sd_errf(err, SD_ERANGE, "added token %zu: vocabulary full", i);
            id = t->n_ids;
            sd_tok_set(t, id, toks[i].content, len, 0);
            added++;
        }
        sd_tok_add_added(t, id, &toks[i]);
        if (ids) ids[i] = id;
    }
    trie_build(&t->trie_raw, t, false);
    trie_build(&t->trie_norm, t, true);
    return added;
}
