#include "data/split.h"
#include "base/mem.h"
#include "base/rng.h"
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SPLIT_MAGIC "SDSPLIT\1"

const char *sd_split_name(sd_split_kind k) {
    switch (k) {
    case SD_SPLIT_LOO: return "loo";
    case SD_SPLIT_USER: return "user";
    case SD_SPLIT_TIME: return "time";
    }
    return "?";
}

int sd_split_parse_kind(const char *s, sd_split_kind *k) {
    if (!strcmp(s, "loo")) *k = SD_SPLIT_LOO;
    else if (!strcmp(s, "user")) *k = SD_SPLIT_USER;
    else if (!strcmp(s, "time")) *k = SD_SPLIT_TIME;
    else return -1;
    return 0;
}

static void alloc_arrays(sd_split *sp, int32_t n) {
    sp->n_users = n;
    sp->train_len = sd_xmalloc((n ? n : 1) * sizeof(int32_t));
    sp->valid_pos = sd_xmalloc((n ? n : 1) * sizeof(int32_t));
    sp->test_pos = sd_xmalloc((n ? n : 1) * sizeof(int32_t));
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int sd_split_make(sd_split *sp, const sd_sequences *s, sd_split_kind kind, uint64_t seed, sd_err *err) {
    memset(sp, 0, sizeof *sp);
    sp->kind = kind;
    sp->seed = seed;
    sp->holdout = 0.1;
    sp->valid_q = 0.8;
    sp->test_q = 0.9;
    alloc_arrays(sp, s->n_users);
    if (kind == SD_SPLIT_LOO) {
        for (int32_t u = 0; u < s->n_users; u++) {
            int32_t n = sd_seq_len(s, u);
            sp->train_len[u] = n >= 3 ? n - 2 : (n == 2 ? 1 : n);
            sp->valid_pos[u] = n >= 3 ? n - 2 : -1;
            sp->test_pos[u] = n >= 2 ? n - 1 : -1;
        }
    } else if (kind == SD_SPLIT_USER) {
        /* a seeded shuffle of users; the first `holdout` share are test users */
        int32_t *perm = sd_xmalloc((s->n_users ? s->n_users : 1) * sizeof *perm);
        for (int32_t u = 0; u < s->n_users; u++) perm[u] = u;
        sd_rng r;
        sd_rng_seed(&r, seed);
        sd_rng_shuffle_i32(&r, perm, s->n_users);
        int32_t n_test = (int32_t)(s->n_users * sp->holdout + 0.5);
        for (int32_t i = 0; i < s->n_users; i++) {
            int32_t u = perm[i], n = sd_seq_len(s, u);
            if (i < n_test && n >= 2) {
                sp->train_len[u] = 0; sp->valid_pos[u] = -1; sp->test_pos[u] = n - 1;
            } else {
                sp->train_len[u] = n >= 2 ? n - 1 : n;
                sp->valid_pos[u] = n >= 2 ? n - 1 : -1;
                sp->test_pos[u] = -1;
            }
        }
        free(perm);
    } else if (kind == SD_SPLIT_TIME) {
        if (s->n_inter == 0) return sd_errf(err, SD_ESTATE, "time split: no interactions");
        int64_t *t = sd_xmalloc(s->n_inter * sizeof *t);
        memcpy(t, s->times, s->n_inter * sizeof *t);
        qsort(t, s->n_inter, sizeof *t, cmp_i64);
        sp->t_valid = t[(int64_t)((s->n_inter - 1) * sp->valid_q)];
        sp->t_test = t[(int64_t)((s->n_inter - 1) * sp->test_q)];
        free(t);
        for (int32_t u = 0; u < s->n_users; u++) {
            int32_t n = sd_seq_len(s, u);
            const int64_t *tm = s->times + s->offsets[u];
            int32_t tl = 0;
            while (tl < n && tm[tl] < sp->t_valid) tl++;
            int32_t tp = tl;
            while (tp < n && tm[tp] < sp->t_test) tp++;
            sp->train_len[u] = tl;
            sp->valid_pos[u] = (tl < tp && tl > 0) ? tl : -1;
            sp->test_pos[u] = (tp < n && tp > 0) ? tp : -1;
        }
    } else {
        return sd_errf(err, SD_EUSAGE, "unknown split kind %d", kind);
    }
    return 0;
}

void sd_split_min_eval_len(sd_split *sp, const sd_sequences *s, int32_t min_len) {
    sp->min_eval_len = min_len > 1 ? min_len : 0;
    for (int32_t u = 0; u < sp->n_users && min_len > 1; u++) {
        int32_t n = sd_seq_len(s, u);
        if (n >= min_len) continue;
        if (sp->kind != SD_SPLIT_TIME) sp->train_len[u] = n;
        sp->valid_pos[u] = sp->test_pos[u] = -1;
    }
}

void sd_split_cold_items(sd_split *sp, const sd_sequences *s, double share, uint64_t seed) {
    if (!(share > 0)) return;
    if (share > 1) share = 1;
    int32_t n = s->n_items;
    int64_t *counts = sd_xcalloc((size_t)(n ? n : 1), sizeof(int64_t));
    sd_sequences_item_counts(s, counts);
    int32_t *occur = sd_xmalloc(sizeof(int32_t) * (size_t)(n ? n : 1)), n_occur = 0;
    for (int32_t i = 0; i < n; i++)
        if (counts[i]) occur[n_occur++] = i;
    int32_t want = (int32_t)llround(share * n_occur);
    /* a seeded partial Fisher-Yates over the items that occur: the first `want` are cold */
    sd_rng r;
    sd_rng_stream(&r, seed, 0x636f6c646974656dull); /* "colditem" */
    for (int32_t i = 0; i < want; i++) {
        int32_t j = i + (int32_t)sd_rng_below(&r, (uint64_t)(n_occur - i));
        int32_t t = occur[i]; occur[i] = occur[j]; occur[j] = t;
    }
    sp->cold_share = share;
    sp->n_items = n;
    sp->n_cold = want;
    sp->cold_item = sd_xcalloc((size_t)(n ? n : 1), 1);
    sp->cold_target = sd_xcalloc((size_t)(sp->n_users ? sp->n_users : 1), 1);
    for (int32_t i = 0; i < want; i++) sp->cold_item[occur[i]] = 1;
    for (int32_t u = 0; u < sp->n_users; u++) {
        const int32_t *it = sd_seq_items(s, u);
        int32_t len = sd_seq_len(s, u), first = len;
        for (int32_t j = 0; j < len && first == len; j++)
            if (sp->cold_item[it[j]]) first = j;
        if (sp->train_len[u] > first) sp->train_len[u] = first;
        if (sp->valid_pos[u] >= 0 && sp->cold_item[it[sp->valid_pos[u]]]) sp->valid_pos[u] = -1;
        sp->cold_target[u] = sp->test_pos[u] >= 0 && sp->cold_item[it[sp->test_pos[u]]];
    }
    free(counts);
    free(occur);
}

void sd_split_free(sd_split *sp) {
    if (!sp->mapped) {
        free(sp->train_len); free(sp->valid_pos); free(sp->test_pos);
        free(sp->cold_item); free(sp->cold_target);
    }
    sd_map_close(&sp->map);
    memset(sp, 0, sizeof *sp);
}

/* Version 1: the fields up to n_users (72 bytes). Version 2 adds min_eval_len; it is written only
 * when that is set, so every other split.bin stays as version 1 (readable by an older semid).
 * Version 3 (only with cold items) adds cold_share and n_items, and after the three per-user
 * arrays the cold_item bytes [n_items] and cold_target bytes [n_users]. */
typedef struct split_header {
    char magic[8];
    uint32_t version, kind;
    uint64_t seed;
    double holdout, valid_q, test_q;
    int64_t t_valid, t_test, n_users;
    int64_t min_eval_len; /* version 2 */
    double cold_share;    /* version 3 */
    int64_t n_items;
} split_header;
#define SPLIT_HEADER_V1 offsetof(split_header, min_eval_len)
#define SPLIT_HEADER_V2 offsetof(split_header, cold_share)

static size_t header_size(uint32_t version) {
    return version == 3 ? sizeof(split_header) : version == 2 ? SPLIT_HEADER_V2 : SPLIT_HEADER_V1;
}

int sd_split_write(const sd_split *sp, const char *path, sd_err *err) {
    sd_atomic a;
    int rc = sd_atomic_open(&a, path, err);
    if (rc) return rc;
    bool cold = sp->cold_item != NULL;
    split_header h = {SPLIT_MAGIC, cold ? 3 : sp->min_eval_len > 0 ? 2 : 1, sp->kind, sp->seed, sp->holdout,
                      sp->valid_q, sp->test_q, sp->t_valid, sp->t_test, sp->n_users, sp->min_eval_len,
                      cold ? sp->cold_share : 0, cold ? sp->n_items : 0};
    fwrite(&h, header_size(h.version), 1, a.f);
    fwrite(sp->train_len, 4, sp->n_users, a.f);
    fwrite(sp->valid_pos, 4, sp->n_users, a.f);
    fwrite(sp->test_pos, 4, sp->n_users, a.f);
    if (cold) {
        fwrite(sp->cold_item, 1, (size_t)sp->n_items, a.f);
        fwrite(sp->cold_target, 1, (size_t)sp->n_users, a.f);
    }
    return sd_atomic_commit(&a, err);
}

int sd_split_read(sd_split *sp, const char *path, int32_t n_users, sd_err *err) {
    memset(sp, 0, sizeof *sp);
    int rc = sd_map_open(&sp->map, path, err);
    if (rc) return rc;
    split_header h = {0};
    if (sp->map.size < SPLIT_HEADER_V1) { sd_map_close(&sp->map); return sd_errf(err, SD_EFORMAT, "%s: truncated: %zu bytes, too short for a split file header", path, sp->map.size); }
    memcpy(&h, sp->map.data, SPLIT_HEADER_V1);
    size_t hsize = header_size(h.version);
    if (h.version >= 2 && h.version <= 3 && sp->map.size < hsize) { sd_map_close(&sp->map); return sd_errf(err, SD_EFORMAT, "%s: truncated: %zu bytes, too short for a version %u split file header", path, sp->map.size, h.version); }
    if (h.version >= 2 && h.version <= 3) memcpy(&h, sp->map.data, hsize);
    if (memcmp(h.magic, SPLIT_MAGIC, 8) || h.version < 1 || h.version > 3 || h.kind > SD_SPLIT_TIME) {
        sd_map_close(&sp->map);
        return sd_errf(err, SD_EFORMAT, "%s: not a semid split file (bad magic or version)", path);
    }
    if (h.n_users != n_users) {
        sd_map_close(&sp->map);
        return sd_errf(err, SD_EFORMAT, "%s: split is for %lld users, sequences have %d", path, (long long)h.n_users, n_users);
    }
    /* n_users is bounded by the sequences file here, so the product cannot overflow */
    if (h.min_eval_len < 0 || h.min_eval_len > INT32_MAX) {
        sd_map_close(&sp->map);
        return sd_errf(err, SD_EFORMAT, "%s: min_eval_len %lld out of range", path, (long long)h.min_eval_len);
    }
    if (h.version == 3 && (h.n_items < 0 || h.n_items > INT32_MAX || !(h.cold_share > 0 && h.cold_share <= 1))) {
        sd_map_close(&sp->map);
        return sd_errf(err, SD_EFORMAT, "%s: cold items: share %g / %lld items out of range", path, h.cold_share,
                       (long long)h.n_items);
    }
    size_t cold_bytes = h.version == 3 ? (size_t)h.n_items + (size_t)h.n_users : 0;
    size_t need = hsize + (size_t)h.n_users * 12 + cold_bytes, have = sp->map.size;
    if (have != need) {
        sd_map_close(&sp->map);
        return sd_errf(err, SD_EFORMAT, "%s: %s: %zu bytes, %lld users need %zu", path,
                       have < need ? "truncated" : "trailing bytes", have, (long long)h.n_users, need);
    }
    sp->kind = h.kind; sp->seed = h.seed; sp->holdout = h.holdout; sp->valid_q = h.valid_q; sp->test_q = h.test_q;
    sp->t_valid = h.t_valid; sp->t_test = h.t_test; sp->n_users = n_users; sp->min_eval_len = (int32_t)h.min_eval_len;
    int32_t *arr = (int32_t *)((char *)sp->map.data + hsize);
    sp->train_len = arr; sp->valid_pos = arr + n_users; sp->test_pos = arr + 2 * (size_t)n_users;
    sp->mapped = sp->map.data;
    if (h.version == 3) {
        sp->cold_share = h.cold_share;
        sp->n_items = (int32_t)h.n_items;
        sp->cold_item = (uint8_t *)(arr + 3 * (size_t)n_users);
        sp->cold_target = sp->cold_item + h.n_items;
        for (int32_t i = 0; i < sp->n_items; i++) sp->n_cold += sp->cold_item[i] != 0;
    }
    return 0;
}
