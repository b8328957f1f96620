#include "data/sequences.h"
#include "base/rng.h"
#include <stdlib.h>
#include <string.h>

#define SEQ_MAGIC "SDSEQ\0\0\1"
#define SEQ_VERSION 1

typedef struct raw_inter { int64_t time; uint64_t tie; int32_t user, item; } raw_inter;

struct sd_seqbuilder {
    raw_inter *rows;
    size_t n, cap;
    sd_strmap users;
    const char **user_ids;
    size_t n_users, cap_users;
    sd_pool *pool;
    int32_t last_user;      /* loaders add a user's rows together: skip the hash lookup then */
    size_t last_len;
};

sd_seqbuilder *sd_seqbuilder_new(void) {
    sd_seqbuilder *b = sd_xcalloc(1, sizeof *b);
    sd_strmap_init(&b->users, 1024);
    b->pool = sd_pool_new();
    return b;
}

void sd_seqbuilder_free(sd_seqbuilder *b) {
    if (!b) return;
    free(b->rows);
    sd_strmap_free(&b->users);
    free(b->user_ids);
    if (b->pool) sd_pool_free(b->pool);
    free(b);
}

void sd_seqbuilder_add(sd_seqbuilder *b, const char *user, size_t user_len, int32_t item, int64_t time) {
    int32_t u;
    if (b->n_users && b->last_len == user_len && memcmp(b->user_ids[b->last_user], user, user_len) == 0)
        u = b->last_user;
    else
        u = sd_strmap_get(&b->users, user, user_len);
    if (u < 0) {
        u = (int32_t)b->n_users;
        char *key = sd_pool_strndup(b->pool, user, user_len);
        sd_strmap_put(&b->users, key, user_len, u);
        SD_GROW(b->user_ids, b->cap_users, b->n_users + 1);
        b->user_ids[b->n_users++] = key;
    }
    b->last_user = u;
    b->last_len = user_len;
    SD_GROW(b->rows, b->cap, b->n + 1);
    b->rows[b->n++] = (raw_inter){time, 0, u, item};
}

int64_t sd_seqbuilder_count(const sd_seqbuilder *b) { return (int64_t)b->n; }

static int cmp_in_user(const void *pa, const void *pb) {
    const raw_inter *a = pa, *b = pb;
    if (a->time != b->time) return a->time < b->time ? -1 : 1;
    if (a->tie != b->tie) return a->tie < b->tie ? -1 : 1;
    return (a->item > b->item) - (a->item < b->item);
}

/* Applies dedupe (keep first occurrence, unless keep_repeats), min_len and max_len to one user's
 * sorted rows in place; returns the new length and adds the repeats removed to *repeats. seen is a
 * per-item scratch stamp array. */
static int64_t clean_user(int32_t *items, int64_t *times, int64_t n, int32_t *seen, int32_t stamp,
                          const sd_seq_opts *o, int64_t *repeats) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!o->keep_repeats) {
            if (seen[items[i]] == stamp) { (*repeats)++; continue; }
            seen[items[i]] = stamp;
        }
        items[k] = items[i];
        times[k] = times[i];
        k++;
    }
    if (o->max_len > 0 && k > o->max_len) {
        int64_t drop = k - o->max_len;
        memmove(items, items + drop, o->max_len * sizeof *items);
        memmove(times, times + drop, o->max_len * sizeof *times);
        k = o->max_len;
    }
    if (k < o->min_len) k = 0;
    return k;
}

int sd_seqbuilder_finish(sd_seqbuilder *b, int32_t n_items, const sd_seq_opts *o, sd_sequences *out, sd_err *err) {
    memset(out, 0, sizeof *out);
    /* tie key: seeded hash of (user id string, item) so equal timestamps order the same way for a
     * seed regardless of input order */
    uint64_t *user_hash = sd_xmalloc((b->n_users ? b->n_users : 1) * sizeof *user_hash);
    for (size_t u = 0; u < b->n_users; u++) user_hash[u] = sd_hash_bytes(b->user_ids[u], strlen(b->user_ids[u]));
    for (size_t i = 0; i < b->n; i++) {
        if (b->rows[i].item < 0 || b->rows[i].item >= n_items) {
            free(user_hash);
            return sd_errf(err, SD_ERANGE, "interaction %zu: item %d out of range [0, %d)", i, b->rows[i].item, n_items);
        }
        b->rows[i].tie = sd_mix64(o->seed ^ user_hash[b->rows[i].user] ^ sd_mix64((uint32_t)b->rows[i].item));
    }
    free(user_hash);
    size_t nu = b->n_users;
    /* counting sort by user, then sort each user's rows */
    int64_t *start = sd_xcalloc(nu + 1, sizeof *start);
    for (size_t i = 0; i < b->n; i++) start[b->rows[i].user + 1]++;
    for (size_t u = 0; u < nu; u++) start[u + 1] += start[u];
    raw_inter *sorted = sd_xmalloc(sd_mul_size(b->n ? b->n : 1, sizeof *sorted));
    int64_t *fill = sd_xmalloc((nu + 1) * sizeof *fill);
    memcpy(fill, start, (nu + 1) * sizeof *fill);
    for (size_t i = 0; i < b->n; i++) sorted[fill[b->rows[i].user]++] = b->rows[i];
    free(fill);
    free(b->rows);
    b->rows = NULL;
    b->cap = 0;
#pragma omp parallel for schedule(dynamic, 256)
    for (size_t u = 0; u < nu; u++)
        qsort(sorted + start[u], start[u + 1] - start[u], sizeof *sorted, cmp_in_user);

    int32_t *items = sd_xmalloc(sd_mul_size(b->n ? b->n : 1, sizeof *items));
    int64_t *times = sd_xmalloc(sd_mul_size(b->n ? b->n : 1, sizeof *times));
    int64_t *offsets = sd_xmalloc((nu + 1) * sizeof *offsets);
    int32_t *seen = sd_xmalloc(sd_mul_size(n_items ? n_items : 1, sizeof *seen));
    for (int32_t i = 0; i < n_items; i++) seen[i] = -1;
    sd_pool *pool = sd_pool_new();
    const char **user_ids = sd_xmalloc((nu ? nu : 1) * sizeof *user_ids);
    int64_t pos = 0;
    int32_t kept = 0;
    offsets[0] = 0;
    for (size_t u = 0; u < nu; u++) {
        int64_t n = start[u + 1] - start[u];
        for (int64_t i = 0; i < n; i++) {
            items[pos + i] = sorted[start[u] + i].item;
            times[pos + i] = sorted[start[u] + i].time;
        }
        int64_t k = clean_user(items + pos, times + pos, n, seen, (int32_t)u, o, &out->repeats_dropped);
        if (k == 0) continue;
        user_ids[kept] = sd_pool_strdup(pool, b->user_ids[u]);
        pos += k;
        offsets[++kept] = pos;
    }
    free(seen); free(sorted); free(start);
    out->n_users = kept;
    out->n_items = n_items;
    out->n_inter = pos;
    out->offsets = offsets;
    out->items = items;
    out->times = times;
    out->user_ids = user_ids;
    out->pool = pool;
    out->owned[0] = offsets; out->owned[1] = items; out->owned[2] = times; out->owned[3] = (void *)user_ids;
    return 0;
}

void sd_sequences_free(sd_sequences *s) {
    for (int i = 0; i < 4; i++) free(s->owned[i]);
    if (s->pool) sd_pool_free(s->pool);
    sd_map_close(&s->map);
    memset(s, 0, sizeof *s);
}

/* Makes the arrays writable heap copies (needed after an mmap load before editing). */
static void own_arrays(sd_sequences *s) {
    if (s->owned[0]) return;
    int64_t *off = sd_xmalloc((s->n_users + 1) * sizeof *off);
    memcpy(off, s->offsets, (s->n_users + 1) * sizeof *off);
    int32_t *it = sd_xmalloc((s->n_inter ? s->n_inter : 1) * sizeof *it);
    memcpy(it, s->items, s->n_inter * sizeof *it);
    int64_t *tm = sd_xmalloc((s->n_inter ? s->n_inter : 1) * sizeof *tm);
    memcpy(tm, s->times, s->n_inter * sizeof *tm);
    sd_pool *pool = sd_pool_new();
    const char **ids = sd_xmalloc((s->n_users ? s->n_users : 1) * sizeof *ids);
    for (int32_t u = 0; u < s->n_users; u++) ids[u] = sd_pool_strdup(pool, s->user_ids[u]);
    free((void *)s->user_ids);
    sd_map_close(&s->map);
    s->offsets = off; s->items = it; s->times = tm; s->user_ids = ids; s->pool = pool;
    s->owned[0] = off; s->owned[1] = it; s->owned[2] = tm; s->owned[3] = (void *)ids;
}

void sd_sequences_remap_items(sd_sequences *s, const int32_t *remap, int32_t new_n_items, const sd_seq_opts *o) {
    own_arrays(s);
    int32_t *seen = sd_xmalloc((new_n_items ? new_n_items : 1) * sizeof *seen);
    for (int32_t i = 0; i < new_n_items; i++) seen[i] = -1;
    int64_t pos = 0;
    int32_t kept = 0;
    int64_t prev = 0;
    for (int32_t u = 0; u < s->n_users; u++) {
        int64_t a = prev, e = s->offsets[u + 1];
        prev = e;
        int64_t n = 0;
        for (int64_t i = a; i < e; i++) {
            int32_t m = remap[s->items[i]];
            if (m < 0) continue;
            s->items[pos + n] = m;
            s->times[pos + n] = s->times[i];
            n++;
        }
        int64_t k = clean_user(s->items + pos, s->times + pos, n, seen, u, o, &s->repeats_dropped);
        if (k == 0) continue;
        s->user_ids[kept] = s->user_ids[u];
        pos += k;
        s->offsets[++kept] = pos;
    }
    free(seen);
    s->n_users = kept;
    s->n_items = new_n_items;
    s->n_inter = pos;
}

void sd_sequences_item_counts(const sd_sequences *s, int64_t *counts) {
    memset(counts, 0, s->n_items * sizeof *counts);
    for (int64_t i = 0; i < s->n_inter; i++) counts[s->items[i]]++;
}

typedef struct seq_header {
    char magic[8];
    uint32_t version, reserved;
    int64_t n_users, n_items, n_inter, ids_bytes;
} seq_header;

int sd_sequences_write(const sd_sequences *s, const char *path, sd_err *err) {
    sd_atomic a;
    int rc = sd_atomic_open(&a, path, err);
    if (rc) return rc;
    int64_t ids_bytes = 0;
    for (int32_t u = 0; u < s->n_users; u++) ids_bytes += strlen(s->user_ids[u]) + 1;
    seq_header h = {SEQ_MAGIC, SEQ_VERSION, 0, s->n_users, s->n_items, s->n_inter, ids_bytes};
    fwrite(&h, sizeof h, 1, a.f);
    fwrite(s->offsets, sizeof *s->offsets, s->n_users + 1, a.f);
    fwrite(s->times, sizeof *s->times, s->n_inter, a.f);
    fwrite(s->items, sizeof *s->items, s->n_inter, a.f);
    for (int32_t u = 0; u < s->n_users; u++) fwrite(s->user_ids[u], 1, strlen(s->user_ids[u]) + 1, a.f);
    return sd_atomic_commit(&a, err);
}

int sd_sequences_read(sd_sequences *s, const char *path, sd_err *err) {
    memset(s, 0, sizeof *s);
    int rc = sd_map_open(&s->map, path, err);
    if (rc) return rc;
    const char *p = s->map.data;
    seq_header h;
    if (s->map.size < sizeof h) { sd_map_close(&s->map); return sd_errf(err, SD_EFORMAT, "%s: truncated: %zu bytes, too short for a sequences file header", path, s->map.size); }
    memcpy(&h, p, sizeof h);
    if (memcmp(h.magic, SEQ_MAGIC, 8) != 0) { sd_map_close(&s->map); return sd_errf(err, SD_EFORMAT, "%s: not a semid sequences file (bad magic)", path); }
    if (h.version != SEQ_VERSION) { sd_map_close(&s->map); return sd_errf(err, SD_EFORMAT, "%s: unsupported version %u", path, h.version); }
    if (h.n_users < 0 || h.n_users > INT32_MAX - 1 || h.n_items < 0 || h.n_items > INT32_MAX || h.n_inter < 0 ||
        h.ids_bytes < 0) {
        sd_map_close(&s->map);
        return sd_errf(err, SD_EFORMAT, "%s: header sizes out of range (users %lld, items %lld, interactions %lld, "
                       "id bytes %lld)", path, (long long)h.n_users, (long long)h.n_items, (long long)h.n_inter,
                       (long long)h.ids_bytes);
    }
    /* each term is bounded by the file size before they are added, so the sum cannot wrap */
    uint64_t size = s->map.size;
    bool over = (uint64_t)h.n_users >= size || (uint64_t)h.n_inter > size / 12 || (uint64_t)h.ids_bytes > size;
    uint64_t need = over ? 0 : sizeof h + ((uint64_t)h.n_users + 1) * 8 + (uint64_t)h.n_inter * 12 + (uint64_t)h.ids_bytes;
    if (over || need > size) {
        sd_map_close(&s->map);
        return sd_errf(err, SD_EFORMAT, "%s: truncated: %llu bytes, but the header's %lld users and %lld interactions "
                       "need %s%llu", path, (unsigned long long)size, (long long)h.n_users, (long long)h.n_inter,
                       over ? "more than " : "", (unsigned long long)(over ? size : need));
    }
    if (need < size) {
        sd_map_close(&s->map);
        return sd_errf(err, SD_EFORMAT, "%s: %llu trailing bytes after the %llu the header describes", path,
                       (unsigned long long)(size - need), (unsigned long long)need);
    }
    s->n_users = (int32_t)h.n_users;
    s->n_items = (int32_t)h.n_items;
    s->n_inter = h.n_inter;
    s->offsets = (int64_t *)(p + sizeof h);
    s->times = (int64_t *)(p + sizeof h + (h.n_users + 1) * 8);
    s->items = (int32_t *)(p + sizeof h + (h.n_users + 1) * 8 + h.n_inter * 8);
    const char *ids = p + sizeof h + (h.n_users + 1) * 8 + h.n_inter * 12, *ids_end = ids + h.ids_bytes;
    if (s->offsets[0] != 0 || s->offsets[s->n_users] != s->n_inter) goto bad;
    for (int32_t u = 0; u < s->n_users; u++)
        if (s->offsets[u + 1] < s->offsets[u]) goto bad;
    for (int64_t i = 0; i < s->n_inter; i++)
        if (s->items[i] < 0 || s->items[i] >= s->n_items) {
            int32_t bad = s->items[i]; /* read before the mapping goes */
            sd_map_close(&s->map);
            return sd_errf(err, SD_EFORMAT, "%s: item id %d out of range at position %lld", path, bad, (long long)i);
        }
    s->user_ids = sd_xmalloc((s->n_users ? s->n_users : 1) * sizeof *s->user_ids);
    for (int32_t u = 0; u < s->n_users; u++) {
        const char *z = memchr(ids, 0, ids_end - ids);
        if (!z) { free((void *)s->user_ids); s->user_ids = NULL; goto bad; }
        s->user_ids[u] = ids;
        ids = z + 1;
    }
    s->owned[3] = (void *)s->user_ids;
    return 0;
bad:
    sd_map_close(&s->map);
    return sd_errf(err, SD_EFORMAT, "%s: corrupt sequence offsets or user ids", path);
}
