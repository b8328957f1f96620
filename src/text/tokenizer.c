/* Encoding and decoding: repair UTF-8 -> split out added tokens -> NFC -> (normalised added
 * tokens) -> Qwen2 pre-tokenizer -> byte-level BPE per piece (cached) -> ids. */
#include <omp.h>
#include <string.h>
#include <stdlib.h>
#include "base/mem.h"
#include "base/rng.h"
#include "text/tok_internal.h"

void sd_ids_free(sd_ids *ids) { free(ids->v); memset(ids, 0, sizeof *ids); }
static inline void ids_push(sd_ids *o, int32_t id) {
    if (o->n == o->cap) SD_GROW(o->v, o->cap, o->n + 1);
    o->v[o->n++] = id;
}

/* ---- word cache: pre-token bytes -> ids, cleared when full ---- */
#define CACHE_SLOTS (1u << 16)
#define CACHE_MAX_WORD 128
typedef struct { uint64_t hash; uint32_t key_off, ids_off; uint16_t key_len, n_ids; } cache_slot;
struct sd_tok_cache {
    cache_slot *slots; uint32_t used;
    char *keys; size_t keys_len, keys_cap;
    int32_t *ids; size_t ids_len, ids_cap;
};

sd_tok_cache *sd_tok_cache_new(void) {
    sd_tok_cache *c = sd_xcalloc(1, sizeof *c);
    c->slots = sd_xcalloc(CACHE_SLOTS, sizeof *c->slots);
    return c;
}
void sd_tok_cache_free(sd_tok_cache *c) {
    if (!c) return;
    free(c->slots); free(c->keys); free(c->ids); free(c);
}
static void cache_clear(sd_tok_cache *c) {
    memset(c->slots, 0, CACHE_SLOTS * sizeof *c->slots);
    c->used = 0; c->keys_len = 0; c->ids_len = 0;
}

/* ---- BPE over one pre-token ----
 * Symbols form a linked list; a min-heap holds candidate merges keyed (rank, position), so the
 * lowest-ranked pair merges first and ties go to the leftmost, as in Hugging Face's
 * Word::merge_all. A popped entry whose symbols changed since it was pushed is skipped. */
typedef struct { int32_t id, prev, next, len; } bpe_sym;
typedef struct { bpe_sym *sym; uint64_t *heap; size_t cap_sym, cap_heap; } bpe_work;

static inline bool merge_lookup(const sd_tokenizer *t, int32_t a, int32_t b, uint64_t *val) {
    uint64_t key = ((uint64_t)(uint32_t)a + 1) << 32 | (uint32_t)b;
    size_t mask = t->mcap - 1, j = sd_mix64(key) & mask;
    for (;; j = (j + 1) & mask) {
        if (t->mkeys[j] == key) { *val = t->mvals[j]; return true; }
        if (!t->mkeys[j]) return false;
    }
}

static void heap_push(uint64_t *h, size_t *n, uint64_t v) {
    size_t i = (*n)++;
    while (i) { size_t p = (i - 1) / 2; if (h[p] <= v) break; h[i] = h[p]; i = p; }
    h[i] = v;
}
static uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], v = h[--(*n)];
    size_t i = 0, m = *n;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= m) break;
        size_t c = (l + 1 < m && h[l + 1] < h[l]) ? l + 1 : l;
        if (h[c] >= v) break;
        h[i] = h[c]; i = c;
    }
    if (m) h[i] = v;
    return top;
}

static void bpe_word(const sd_tokenizer *t, bpe_work *w, const unsigned char *s, size_t len, sd_ids *out) {
    if (len > w->cap_sym) {
        w->cap_sym = len * 2;
        w->sym = sd_xrealloc(w->sym, w->cap_sym * sizeof *w->sym);
        w->heap = sd_xrealloc(w->heap, w->cap_sym * 2 * sizeof *w->heap);
    }
    bpe_sym *sym = w->sym;
    int32_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int32_t id = t->byte_id[s[i]];
        if (id < 0) continue; /* no such byte in the vocabulary and no unk token: dropped, as in HF */
        sym[n] = (bpe_sym){id, n - 1, n + 1, 1};
        n++;
    }
    if (n == 0) return;
    sym[n - 1].next = -1;
    uint64_t *heap = w->heap;
    size_t hn = 0;
    for (int32_t i = 0; i + 1 < n; i++) {
        uint64_t v;
        if (merge_lookup(t, sym[i].id, sym[i + 1].id, &v)) heap_push(heap, &hn, (v >> 32) << 32 | (uint32_t)i);
    }
    while (hn) {
        uint64_t top = heap_pop(heap, &hn);
        int32_t pos = (int32_t)(uint32_t)top, rank = (int32_t)(top >> 32);
        bpe_sym *a = &sym[pos];
        if (a->len == 0 || a->next < 0) continue;
        uint64_t v;
        if (!merge_lookup(t, a->id, sym[a->next].id, &v) || (int32_t)(v >> 32) != rank) continue;
        bpe_sym *b = &sym[a->next];
        a->id = (int32_t)(uint32_t)v;
        a->len += b->len;
        b->len = 0;
        a->next = b->next;
        if (b->next >= 0) sym[b->next].prev = pos;
        if (a->prev >= 0 && merge_lookup(t, sym[a->prev].id, a->id, &v))
            heap_push(heap, &hn, (v >> 32) << 32 | (uint32_t)a->prev);
        if (a->next >= 0 && merge_lookup(t, a->id, sym[a->next].id, &v))
            heap_push(heap, &hn, (v >> 32) << 32 | (uint32_t)pos);
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next) ids_push(out, sym[i].id);
}

/* ---- the pipeline ---- */
typedef struct {
    const sd_tokenizer *t;
    sd_tok_cache *cache;
    bpe_work work;
    const char *base;
    sd_ids *out;
} enc_ctx;

static void encode_word(void *vctx, size_t start, size_t end) {
    enc_ctx *c = vctx;
    const unsigned char *s = (const unsigned char *)c->base + start;
    size_t len = end - start;
    sd_tok_cache *cache = c->cache;
    if (!len) return; /* nothing to encode, and the cache's arrays may still be NULL */
    if (!cache || len > CACHE_MAX_WORD) { bpe_word(c->t, &c->work, s, len, c->out); return; }
    uint64_t h = sd_hash_bytes(s, len) | 1;
    uint32_t mask = CACHE_SLOTS - 1, i = (uint32_t)h & mask;
    for (;; i = (i + 1) & mask) {
        cache_slot *sl = &cache->slots[i];
        if (!sl->hash) break;
        if (sl->hash == h && sl->key_len == len && !memcmp(cache->keys + sl->key_off, s, len)) {
            for (uint32_t k = 0; k < sl->n_ids; k++) ids_push(c->out, cache->ids[sl->ids_off + k]); /* ids may be NULL when n_ids is 0 */
            return;
        }
    }
    size_t before = c->out->n;
    bpe_word(c->t, &c->work, s, len, c->out);
    size_t nid = c->out->n - before;
    if (cache->used >= CACHE_SLOTS / 2) {
        cache_clear(cache);
        i = (uint32_t)h & mask;
    }
    SD_GROW(cache->keys, cache->keys_cap, cache->keys_len + len);
    SD_GROW(cache->ids, cache->ids_cap, cache->ids_len + nid);
    cache_slot *sl = &cache->slots[i];
    *sl = (cache_slot){h, (uint32_t)cache->keys_len, (uint32_t)cache->ids_len, (uint16_t)len, (uint16_t)nid};
    memcpy(cache->keys + cache->keys_len, s, len);
    /* a word may encode to no ids (bytes missing from the vocabulary are dropped, as in HF): then
     * both arrays may still be NULL, and even a 0-byte copy from NULL + 0 is undefined */
    if (nid) memcpy(cache->ids + cache->ids_len, c->out->v + before, nid * sizeof(int32_t));
    cache->keys_len += len;
    cache->ids_len += nid;
    cache->used++;
}

static void encode_normalized_piece(void *vctx, const char *s, size_t len, int32_t added) {
    enc_ctx *c = vctx;
    if (added >= 0) { ids_push(c->out, added); return; }
    c->base = s;
    sd_pretok_split(s, len, encode_word, c);
}

static void encode_raw_piece(void *vctx, const char *s, size_t len, int32_t added) {
    enc_ctx *c = vctx;
    if (added >= 0) { ids_push(c->out, added); return; }
    size_t nlen;
    char *norm = c->t->nfc ? sd_utf8_nfc(s, len, &nlen) : NULL;
    if (norm) { s = norm; len = nlen; }
    if (c->t->trie_norm.nodes > 1) sd_tok_split_added(c->t, &c->t->trie_norm, s, len, encode_normalized_piece, c);
    else encode_normalized_piece(c, s, len, -1);
    free(norm);
}

int sd_tok_encode(const sd_tokenizer *t, sd_tok_cache *cache, const char *text, size_t len, sd_ids *out) {
    size_t rlen;
    char *fixed = sd_utf8_repair(text, len, &rlen);
    if (fixed) { text = fixed; len = rlen; }
    sd_tok_cache *own = NULL;
    if (!cache && len > 4096) cache = own = sd_tok_cache_new();
    enc_ctx c = {.t = t, .cache = cache, .out = out};
    sd_tok_split_added(t, &t->trie_raw, text, len, encode_raw_piece, &c);
    free(c.work.sym); free(c.work.heap);
    sd_tok_cache_free(own);
    free(fixed);
    return 0;
}

void sd_tok_encode_batch(const sd_tokenizer *t, const char *const *texts, const size_t *lens, size_t n,
                         sd_ids *outs, int threads) {
    if (threads <= 0) threads = omp_get_max_threads();
#pragma omp parallel num_threads(threads)
    {
        sd_tok_cache *cache = sd_tok_cache_new();
#pragma omp for schedule(dynamic, 16)
        for (size_t i = 0; i < n; i++) {
            outs[i].n = 0;
            sd_tok_encode(t, cache, texts[i], lens[i], &outs[i]);
        }
        sd_tok_cache_free(cache);
    }
}

char *sd_tok_decode(const sd_tokenizer *t, const int32_t *ids, size_t n, bool skip_special, size_t *len) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < t->n_ids && t->str_off[ids[i]] != UINT32_MAX) total += t->raw_len[ids[i]];
    char *buf = sd_xmalloc(total + 1), *o = buf;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_ids || t->str_off[id] == UINT32_MAX) continue;
        if (skip_special && (t->flags[id] & TOK_SPECIAL)) continue;
        memcpy(o, t->raws + t->raw_off[id], t->raw_len[id]);
        o += t->raw_len[id];
    }
    *o = 0;
    size_t blen = (size_t)(o - buf), rlen;
    char *fixed = sd_utf8_repair(buf, blen, &rlen);
    if (fixed) { free(buf); buf = fixed; blen = rlen; }
    if (len) *len = blen;
    return buf;
}
