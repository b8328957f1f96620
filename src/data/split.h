/* Train / validation / test splits. Every protocol is expressed per user as three numbers over
 * the user's chronological sequence:
 *   train_len  the model may train on items[0 .. train_len)
 *   valid_pos  index of the validation target (context items[0 .. valid_pos)), or -1
 *   test_pos   index of the test target (context items[0 .. test_pos)), or -1
 * so models and evaluation need no protocol-specific code. */
#ifndef SD_SPLIT_H
#define SD_SPLIT_H
#include <stdint.h>
#include "base/err.h"
#include "data/sequences.h"

typedef enum { SD_SPLIT_LOO = 0, SD_SPLIT_USER = 1, SD_SPLIT_TIME = 2 } sd_split_kind;

/* What a work directory's split adds to its kind and seed (sd_work_create_flags). */
typedef struct sd_split_opts {
    int32_t min_eval_len;  /* sd_split_min_eval_len; 0: off */
    double cold_share;     /* sd_split_cold_items; 0: off */
} sd_split_opts;

typedef struct sd_split {
    sd_split_kind kind;
    uint64_t seed;
    double holdout;        /* SD_SPLIT_USER: share of users held out for test (0.1) */
    double valid_q, test_q;/* SD_SPLIT_TIME: time quantiles of all interactions (0.8, 0.9) */
    int64_t t_valid, t_test;
    int32_t min_eval_len;  /* users with fewer items are never evaluated (sd_split_min_eval_len); 0: off */
    /* cold items (sd_split_cold_items); cold_share 0: none, cold_item and cold_target NULL */
    double cold_share;
    int32_t n_items;       /* entries of cold_item */
    int32_t n_cold;        /* items marked cold */
    uint8_t *cold_item;    /* [n_items] 1: every interaction with the item is kept out of training */
    uint8_t *cold_target;  /* [n_users] 1: the user's test target is a cold item (the cold test set) */
    int32_t n_users;
    int32_t *train_len, *valid_pos, *test_pos;
    void *mapped;          /* non-NULL when the arrays point into a mapping */
    sd_map map;
} sd_split;

const char *sd_split_name(sd_split_kind k);
int sd_split_parse_kind(const char *s, sd_split_kind *k); /* "loo", "user", "time" */

/* Leave-one-out: train = all but the last two, valid = second last, test = last.
 * User holdout (semantic-ids-llm): `holdout` of users, chosen by seed, are test users whose last
 * item is the target; the others train on everything but their last item, which validates.
 * Time: global cut points at quantiles of all timestamps; a user's first item after each cut is
 * the target. */
int sd_split_make(sd_split *sp, const sd_sequences *s, sd_split_kind kind, uint64_t seed, sd_err *err);
/* Users with fewer than min_len items belong to training only (the semantic-IDs paper drops users
 * with fewer than 3 interactions from evaluation): no validation or test target, and they train
 * on their whole sequence, except under the time split, which never trains on items after its
 * first cut. Recorded in sp->min_eval_len (and split.bin). min_len <= 1 changes nothing. */
void sd_split_min_eval_len(sd_split *sp, const sd_sequences *s, int32_t min_len);
/* Cold-start items: round(share x items that occur) items drawn by seed leave the training data
 * entirely: a user's training prefix stops before their first interaction with one, and a
 * validation target that is one is dropped (model selection never sees them either). Users
 * whose test target is cold form the cold test set (`semid eval` part "cold"). Contexts keep
 * cold items: they are the input a model is given, not what it learns from. share <= 0 changes
 * nothing. */
void sd_split_cold_items(sd_split *sp, const sd_sequences *s, double share, uint64_t seed);
void sd_split_free(sd_split *sp);
int sd_split_write(const sd_split *sp, const char *path, sd_err *err);
int sd_split_read(sd_split *sp, const char *path, int32_t n_users, sd_err *err);

#endif
