/* Training batches of next-item prediction for the sequential recommenders: per epoch, every
 * user with at least two training items, in a seeded random order, `batch` users at a time.
 * A user's sample (as pmixer's WarpSampler): inputs = the last maxlen items of
 * items[0 .. train_len - 1), target at each position = the next item, and for BCE one negative
 * per position drawn uniformly from the items NOT in items[0 .. train_len) (any item if the user
 * has them all). Deterministic in (seed, epoch). */
#ifndef SD_SEQBATCH_H
#define SD_SEQBATCH_H
#include <stdbool.h>
#include <stdint.h>
#include "data/sequences.h"
#include "data/split.h"

/* A packed batch (rec/seqenc.h): B sequences, N tokens, sequence b at rows off[b] .. off[b+1);
 * item/target/neg [N] internal item ids (neg NULL without negatives); users [B] sequence rows. */
typedef struct sd_seqbatch {
    int B, N;
    int32_t *len;
    int64_t *off;
    int32_t *item, *target, *neg, *users;
    float scale;   /* multiplier of this batch's gradients (0 = 1): a shard's share of its batch's
                    * positions, so the shards' gradients sum to the whole batch's */
} sd_seqbatch;

/* Splits b into at most T shards of whole sequences with about N / T positions each; shard t
 * views b's arrays, its offsets rebased into off_store [b->B + T] (caller's), its scale
 * N_t / N. Returns the shards made (>= 1; empty shards are not made). */
int sd_seqbatch_shard(const sd_seqbatch *b, int T, sd_seqbatch *shards, int64_t *off_store);

typedef struct sd_seqbatcher sd_seqbatcher;
sd_seqbatcher *sd_seqbatcher_new(const sd_sequences *seq, const sd_split *sp, int maxlen, int batch, bool negatives,
                                  uint64_t seed);
void sd_seqbatcher_free(sd_seqbatcher *b);
int32_t sd_seqbatcher_users(const sd_seqbatcher *b); /* users trained on per epoch */
void sd_seqbatcher_epoch(sd_seqbatcher *b, int epoch);  /* shuffles; next batch is the first */
/* Fills out with the next batch (arrays owned by the batcher, valid until the next call);
 * false at the end of the epoch. */
bool sd_seqbatcher_next(sd_seqbatcher *b, sd_seqbatch *out);

#endif
