/* Baselines every table carries, implementing eval/scorer.h:
 *   popularity         score = number of TRAINING interactions of the item, i.e. occurrences in
 *                      items[0 .. train_len) over all users. Validation and test targets are
 *                      never counted (counting them leaks the answers into the baseline).
 *   popularity_unseen  the same, with the user's context items scored -inf: "most popular not
 *                      yet seen". Equals popularity whenever the protocol excludes history.
 *   random             score = a hash of (seed, user, item) in [0, 1): seeded, independent of
 *                      batching and threads, identical through both scoring paths. */
#ifndef SD_BASELINES_H
#define SD_BASELINES_H
#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"
#include "data/sequences.h"
#include "data/split.h"
#include "eval/scorer.h"

int sd_baseline_popularity(const sd_sequences *seq, const sd_split *sp, bool unseen, sd_scorer *out, sd_err *err);
int sd_baseline_random(int32_t n_items, uint64_t seed, sd_scorer *out, sd_err *err);

/* Training interaction counts per item ([seq->n_items]), as the popularity baseline uses them. */
void sd_train_item_counts(const sd_sequences *seq, const sd_split *sp, int64_t *counts);

#endif
