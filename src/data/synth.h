/* The built-in synthetic video-game store: a catalogue of games (invented franchises with
 * numbered sequels on several platforms), consoles and accessories, and user histories driven by
 * latent platform and genre preferences, popularity, franchise order (part k, then part k+1) and
 * console-then-accessories purchases, plus noise. It is the default data set every later stage
 * is demonstrated and tested on, so its ground truth (each user's latent preferences) is kept.
 *
 * Everything is a function of (options, seed): item i and user u draw from their own
 * sd_rng_stream, so the output is byte-identical for any thread count. Work is O(items +
 * interactions): sampling uses cumulative popularity arrays and binary search. */
#ifndef SD_SYNTH_H
#define SD_SYNTH_H
#include <stdint.h>
#include "base/err.h"
#include "data/catalog.h"
#include "data/sequences.h"
#include "data/split.h"

/* Bumped whenever the same options and seed would give different output. */
#define SD_SYNTH_VERSION 1

typedef struct sd_synth_opts {
    int32_t n_items;   /* catalogue size (default 3000; at least 100) */
    int32_t n_users;   /* users (default 5000) */
    double mean_len;   /* mean sequence length (default 10) */
    int32_t min_len;   /* shortest sequence (default 3, as leave-one-out needs) */
    int32_t max_len;   /* longest sequence (default 200; at most n_items / 4) */
    uint64_t seed;
    unsigned out_flags; /* SD_OUT_FORCE or 0 (base/file.h): what sd_synth_create may replace */
    double cold_items;  /* share of items kept out of training (data/split.h sd_split_cold_items); 0: none */
} sd_synth_opts;

void sd_synth_defaults(sd_synth_opts *o);
/* Checks the options; SD_EUSAGE with a message naming the option. */
int sd_synth_check(const sd_synth_opts *o, sd_err *err);

/* Generates the catalogue (*cat, free with sd_catalog_free) and the sequences (user u of seq is
 * user u of the ground truth; free with sd_sequences_free). */
int sd_synth_generate(const sd_synth_opts *o, sd_catalog **cat, sd_sequences *seq, sd_err *err);

/* A user's latent preferences. Weights sum to 1 within platforms and within genres. */
typedef struct sd_synth_user {
    int n_platforms, platforms[2];
    float platform_w[2];
    int n_genres, genres[3];
    float genre_w[3];
} sd_synth_user;

void sd_synth_user_prefs(const sd_synth_opts *o, int32_t user, sd_synth_user *out);
int sd_synth_n_platforms(void);
const char *sd_synth_platform_name(int p);
int sd_synth_n_genres(void);
const char *sd_synth_genre_name(int g);
/* Index of a platform / genre name, or -1. */
int sd_synth_platform_index(const char *name);
int sd_synth_genre_index(const char *name);

/* synth_users.jsonl: one line per user, in sequence order:
 * {"user":0,"user_id":"A...","platforms":[{"name":..,"weight":..}],"genres":[...]} */
int sd_synth_write_users(const sd_synth_opts *o, const sd_sequences *seq, const char *path, sd_err *err);
/* JSON object for meta.json: {"synth":{"version","items","users","mean_len","seed",...}} (malloc'd). */
char *sd_synth_meta(const sd_synth_opts *o);

/* Generates and writes a complete work directory: items.jsonl, sequences.bin, split.bin,
 * meta.json (sd_work_create, atomic) and then synth_users.jsonl (an atomic file write). */
int sd_synth_create(const char *dir, const sd_synth_opts *o, sd_split_kind split, sd_err *err);

#endif
