/* Evaluation protocols: every model (eval/scorer.h) goes through sd_evaluate, so all of them are
 * ranked on the same users, targets, contexts and (for sampled protocols) negatives.
 *
 * Users and targets come from the split (data/split.h): for part "test" the users with
 * test_pos >= 0, target items[test_pos], context items[0 .. test_pos); likewise for "valid";
 * "cold" is the part of "test" whose targets are cold items.
 *
 * Protocols:
 *   full         rank the target among all items (default). History excluded by default.
 *   sampled100   the SASRec paper (Kang & McAuley 2018): target + 100 negatives drawn uniformly
 *                from items not in the user's history. Differences to the original code: ours
 *                are drawn without replacement and never equal the target (the original draws
 *                with replacement and may draw the target as a negative).
 *   sampled1000  semantic-ids-llm's notebooks: target + 1,000 negatives, history NOT excluded
 *                by default. Difference: the original draws from the items that occur in the
 *                validation users' sequences; ours are uniform over all items != target (so the
 *                figures are comparable in spirit, not digit for digit; items that occur in no
 *                sequence are rare after `semid prep`).
 * --no-exclude-history (exclude_history = 0) turns exclusion off for every protocol. Excluded
 * items are removed from the candidate set (the target never is); for full ranking this equals
 * setting their scores to -inf, except that a target scored -inf is not tied with them.
 *
 * A model with only a top-K list (eval/scorer.h score_topk) is asked for top_k items per user
 * and ranked by the rule in eval/metrics.h: a target outside its list ranks last among the
 * candidates; Hit@K and NDCG@K are exact for cut-offs up to the list's candidate count.
 *
 * Negatives are seeded per (seed, part, user): same seed => same candidates for every model,
 * batch size and thread count. A user with fewer eligible items than asked gets all of them. */
#ifndef SD_EVALUATE_H
#define SD_EVALUATE_H
#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"
#include "data/sequences.h"
#include "data/split.h"
#include "eval/metrics.h"
#include "eval/scorer.h"

typedef enum { SD_PROTO_FULL = 0, SD_PROTO_SAMPLED100 = 1, SD_PROTO_SAMPLED1000 = 2, SD_PROTO_COUNT = 3 } sd_protocol;
/* cold: the test users whose target is a cold item (data/split.h sd_split_cold_items); none when
 * the split has no cold items */
typedef enum { SD_PART_TEST = 0, SD_PART_VALID = 1, SD_PART_COLD = 2 } sd_part;

const char *sd_protocol_name(sd_protocol p);         /* "full", "sampled100", "sampled1000" */
int sd_protocol_parse(const char *s, sd_protocol *p); /* SD_EUSAGE naming the choices */
int32_t sd_protocol_negatives(sd_protocol p);         /* 0 for full ranking */
bool sd_protocol_excludes_history(sd_protocol p);     /* the protocol's default */
const char *sd_part_name(sd_part p);                  /* "test", "valid", "cold" */
int sd_part_parse(const char *s, sd_part *p);

typedef struct sd_eval_opts {
    sd_protocol protocol;
    sd_part part;
    int exclude_history;  /* -1: the protocol's default; 0: off; 1: on */
    uint64_t seed;        /* negative sampling */
    int batch;            /* users per scorer call; 0: scorer's batch_hint, else 256 */
    int top_k;            /* list length asked of a top-K scorer; 0: the largest cut-off (20) */
    bool progress;        /* progress bar (drawn only on a terminal, never under --quiet) */
    int32_t max_users;    /* 0: every user with a target; N: a sample of N of them, seeded by seed
                           * (sd_eval_users_sample: the same users for every model and protocol) */
} sd_eval_opts;

/* Defaults: full ranking on test, protocol's exclusion, seed 42, batch 0, top_k 0, progress on,
 * every user. */
sd_eval_opts sd_eval_defaults(void);

/* Whether history is excluded under these options (exclude_history, else the protocol's default). */
bool sd_eval_excludes_history(const sd_eval_opts *o);

/* Users evaluated for a part, ascending (malloc'd; *n may be 0). */
int32_t *sd_eval_users(const sd_split *sp, sd_part part, int32_t *n);

/* The users sd_evaluate ranks: sd_eval_users, or when 0 < max_users < their number a uniform
 * sample of max_users of them without replacement, drawn from (seed, part) alone; ascending
 * (malloc'd). total (may be NULL): the number of users with a target. */
int32_t *sd_eval_users_sample(const sd_split *sp, sd_part part, int32_t max_users, uint64_t seed, int32_t *n,
                              int32_t *total);

/* Draws up to n_neg distinct negatives for one user into out, uniformly over items != target
 * (and not in hist[0 .. hist_len) when exclude). Deterministic in (seed, part, user). mark is
 * n_items bytes of zeros scratch, left zeroed. Returns the number drawn: n_neg, or all eligible
 * items (ascending) when fewer exist. */
int32_t sd_sample_negatives(int32_t n_items, int32_t target, const int32_t *hist, int32_t hist_len, bool exclude,
                            int32_t n_neg, uint64_t seed, sd_part part, int32_t user, uint8_t *mark, int32_t *out);

/* Evaluates one model. out: averaged metrics. ranks (optional, [seq->n_users]): each evaluated
 * user's rank, 0 for users not evaluated. Errors (a scorer failure, NaN scores, a bad top-K
 * list) name the model and user. */
int sd_evaluate(const sd_scorer *sc, const sd_sequences *seq, const sd_split *sp, const sd_eval_opts *o,
                sd_metrics *out, int32_t *ranks, sd_err *err);

#endif
