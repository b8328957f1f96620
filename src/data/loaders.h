/* Loaders for real data formats. Each turns its inputs into a catalogue and per-user sequences;
 * `semid prep` then writes the work directory. Loaders never write files.
 *
 * Bad input: a line that cannot be parsed is counted and skipped (with the first few reported
 * as warnings naming file:line:field) unless opts->strict, in which case it is an error naming
 * file:line:field. A file that is unreadable as a whole (missing, truncated gzip, not the format
 * at all) is always an error. */
#ifndef SD_LOADERS_H
#define SD_LOADERS_H
#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"
#include "data/catalog.h"
#include "data/sequences.h"

typedef struct sd_prep_opts {
    const char *items_path;      /* --items: item metadata file */
    const char *inter_path;      /* --interactions: reviews / ratings / benchmark CSV */
    const char *dir;             /* --dir: dataset folder (MovieLens) */
    bool strict;                 /* --strict: first bad line is an error */
    /* semantic-ids-llm's filters (Amazon); 0 disables each */
    int min_title_chars;         /* title longer than this (20) */
    int min_desc_chars;          /* joined description longer than this (100) */
    int min_user_items;          /* users with at least this many items after filtering (3) */
    int max_user_items;          /* keep the last N items (100) */
    double min_rating;           /* keep interactions with rating >= this (0 = all) */
    uint64_t seed;               /* tie-break of equal timestamps */
    bool keep_repeats;           /* --keep-repeats: an item bought again stays in the history */
} sd_prep_opts;

typedef struct sd_prep_stats {
    int64_t lines_read;          /* input lines over all files */
    int64_t lines_skipped;       /* bad lines skipped (non-strict) */
    int64_t items_filtered;      /* items dropped by filters */
    int64_t inter_unknown_item;  /* interactions naming an item not in the catalogue */
    int64_t bytes_read;          /* uncompressed input bytes */
} sd_prep_stats;

/* The sequence options the prep options imply (one place for every loader and prep). */
static inline sd_seq_opts sd_prep_seq_opts(const sd_prep_opts *o) {
    return (sd_seq_opts){.seed = o->seed, .min_len = o->min_user_items, .max_len = o->max_user_items,
                         .keep_repeats = o->keep_repeats};
}

typedef int (*sd_loader_fn)(const sd_prep_opts *o, sd_catalog **cat, sd_sequences *seq, sd_prep_stats *st,
                            sd_err *err);

int sd_load_amazon2023(const sd_prep_opts *o, sd_catalog **cat, sd_sequences *seq, sd_prep_stats *st, sd_err *err);
int sd_load_movielens(const sd_prep_opts *o, sd_catalog **cat, sd_sequences *seq, sd_prep_stats *st, sd_err *err);
int sd_load_sasrec(const sd_prep_opts *o, sd_catalog **cat, sd_sequences *seq, sd_prep_stats *st, sd_err *err);
int sd_load_generic(const sd_prep_opts *o, sd_catalog **cat, sd_sequences *seq, sd_prep_stats *st, sd_err *err);

#endif
