/* Per-user chronological item sequences in CSR form: user u's items are
 * items[offsets[u] .. offsets[u+1]) with matching times. Built from raw interactions by
 * sd_seqbuilder (sort by time, deterministic seeded tie-break, dedupe (user,item) keeping the
 * first unless keep_repeats, counting what it drops), stored as sequences.bin (mmap-able, header with magic/version/sizes). */
#ifndef SD_SEQUENCES_H
#define SD_SEQUENCES_H
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include "base/err.h"
#include "base/file.h"
#include "base/mem.h"
#include "base/strmap.h"

typedef struct sd_sequences {
    int32_t n_users, n_items;
    int64_t n_inter;
    int64_t *offsets;       /* n_users + 1 */
    int32_t *items;         /* n_inter */
    int64_t *times;         /* n_inter; unit as in the source (seconds or ms) */
    const char **user_ids;  /* n_users external user ids */
    int64_t repeats_dropped; /* repeats of an item in one history removed when built (not stored) */
    /* ownership */
    sd_map map;             /* when loaded from disk, arrays point into it */
    sd_pool *pool;
    void *owned[4];
} sd_sequences;

static inline int32_t sd_seq_len(const sd_sequences *s, int32_t u) {
    return (int32_t)(s->offsets[u + 1] - s->offsets[u]);
}
static inline const int32_t *sd_seq_items(const sd_sequences *s, int32_t u) { return s->items + s->offsets[u]; }

void sd_sequences_free(sd_sequences *s);

typedef struct sd_seqbuilder sd_seqbuilder;
sd_seqbuilder *sd_seqbuilder_new(void);
void sd_seqbuilder_free(sd_seqbuilder *b);
/* Records one interaction; user ids are copied. Equal timestamps are ordered by a seeded hash
 * of (user, item), so the order does not depend on input order.
 */
void sd_seqbuilder_add(sd_seqbuilder *b, const char *user, size_t user_len, int32_t item, int64_t time);
int64_t sd_seqbuilder_count(const sd_seqbuilder *b);

typedef struct sd_seq_opts {
    uint64_t seed;        /* tie-break of equal timestamps */
    int min_len;          /* drop users with fewer items after dedupe (0 = keep all) */
    int max_len;          /* keep only the last max_len items (0 = all) */
    bool keep_repeats;    /* keep an item the user already has (repeat purchases); default: first only */
} sd_seq_opts;

/* Builds sequences over n_items items. Users are numbered in order of first appearance. */
int sd_seqbuilder_finish(sd_seqbuilder *b, int32_t n_items, const sd_seq_opts *o, sd_sequences *out, sd_err *err);

/* Keeps only items with remap[item] >= 0 (renumbered) and applies min_len/max_len again. */
void sd_sequences_remap_items(sd_sequences *s, const int32_t *remap, int32_t new_n_items, const sd_seq_opts *o);
/* Marks items that occur in any sequence (used to drop catalogue items nobody interacted with). */
void sd_sequences_item_counts(const sd_sequences *s, int64_t *counts);

int sd_sequences_write(const sd_sequences *s, const char *path, sd_err *err);
/* mmap load; O(file size) validation (offsets monotone, item ids in range). */
int sd_sequences_read(sd_sequences *s, const char *path, sd_err *err);

#endif
