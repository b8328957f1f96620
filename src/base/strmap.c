#include "base/strmap.h"
#include "base/mem.h"
#include <stdlib.h>
#include <string.h>

uint64_t sd_hash_bytes(const void *p, size_t n) {
    /* FNV-1a over 8-byte words, then a splitmix finaliser: fast and well mixed for id strings. */
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
        s += 8; n -= 8;
    }
    while (n--) h = (h ^ *s++) * 0x100000001b3ULL;
    h ^= h >> 33; h *= 0xff51afd7ed558ccdULL; h ^= h >> 33;
    return h;
}

static void alloc_table(sd_strmap *m, size_t cap) {
    m->cap = cap;
    m->keys = sd_xcalloc(cap, sizeof *m->keys);
    m->key_len = sd_xcalloc(cap, sizeof *m->key_len);
    m->vals = sd_xcalloc(cap, sizeof *m->vals);
    m->hashes = sd_xcalloc(cap, sizeof *m->hashes);
}

void sd_strmap_init(sd_strmap *m, size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2) cap *= 2;
    m->n = 0;
    alloc_table(m, cap);
}

void sd_strmap_free(sd_strmap *m) {
    free(m->keys); free(m->key_len); free(m->vals); free(m->hashes);
    memset(m, 0, sizeof *m);
}

static void insert_raw(sd_strmap *m, const char *k, uint32_t len, uint64_t h, int32_t v) {
    size_t i = h & (m->cap - 1);
    while (m->keys[i]) i = (i + 1) & (m->cap - 1);
    m->keys[i] = k; m->key_len[i] = len; m->hashes[i] = h; m->vals[i] = v;
    m->n++;
}

int32_t sd_strmap_get(const sd_strmap *m, const char *key, size_t len) {
    if (!m->cap) return -1;
    uint64_t h = sd_hash_bytes(key, len);
    for (size_t i = h & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1))
        if (m->hashes[i] == h && m->key_len[i] == len && memcmp(m->keys[i], key, len) == 0) return m->vals[i];
    return -1;
}

int32_t sd_strmap_put(sd_strmap *m, const char *key, size_t len, int32_t val) {
    if (!m->cap) sd_strmap_init(m, 16);
    uint64_t h = sd_hash_bytes(key, len);
    for (size_t i = h & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1))
        if (m->hashes[i] == h && m->key_len[i] == len && memcmp(m->keys[i], key, len) == 0) return m->vals[i];
    if ((m->n + 1) * 10 > m->cap * 7) {
        sd_strmap old = *m;
        alloc_table(m, old.cap * 2);
        m->n = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (old.keys[i]) insert_raw(m, old.keys[i], old.key_len[i], old.hashes[i], old.vals[i]);
        free(old.keys); free(old.key_len); free(old.vals); free(old.hashes);
    }
    insert_raw(m, key, (uint32_t)len, h, val);
    return -1;
}
