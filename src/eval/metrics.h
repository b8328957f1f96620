/* Ranking metrics for next-item evaluation: the rank of the one target item among the
 * candidates, and Hit@K, NDCG@K (K = 5, 10, 20), MRR, mean and median rank over users.
 *
 * Ties are broken PESSIMISTICALLY: the target's rank is 1 + the number of other candidates whose
 * score is >= the target's. A model that gives every item the same score therefore gets the
 * worst rank, not the best. (A widely copied PyTorch evaluation computes the rank as the number
 * of candidates scoring strictly above the target, which ranks ties in the target's favour: a
 * constant or collapsed model then scores Hit@K = 1. Our figures can be lower than such code
 * reports for the same model when scores tie, e.g. SID models that give all items sharing a
 * code prefix one score.)
 *
 * With one relevant item, NDCG@K = 1/log2(rank + 1) if rank <= K else 0 (IDCG = 1), Hit@K =
 * [rank <= K], MRR = mean of 1/rank (not cut off at any K). */
#ifndef SD_METRICS_H
#define SD_METRICS_H
#include <stdint.h>
#include "base/err.h"

#define SD_METRIC_NK 3
extern const int sd_metric_ks[SD_METRIC_NK]; /* 5, 10, 20 */

typedef struct sd_metrics {
    int64_t n_users;
    double hit[SD_METRIC_NK], ndcg[SD_METRIC_NK];  /* at sd_metric_ks */
    double mrr, mean_rank, median_rank;
} sd_metrics;

/* Rank of scores[target] among scores[0 .. n): 1 + #{i != target : scores[i] >= scores[target]}.
 * One pass, no sorting (a loop gcc vectorises). Returns the rank (>= 1), or SD_ERANGE with a
 * message if any score is NaN. */
int32_t sd_rank_full(const float *scores, int32_t n, int32_t target, sd_err *err);

/* As sd_rank_full, but items excl[0 .. n_excl) are not candidates (already seen items); the
 * target is never excluded even if listed, duplicates in excl count once. Costs one pass plus
 * O(n_excl). Overwrites scores[excl[j]] (with NaN, as a marker). */
int32_t sd_rank_full_excl(float *scores, int32_t n, int32_t target, const int32_t *excl, int32_t n_excl,
                          sd_err *err);

/* Rank of cand_scores[0] (the target) among cand_scores[0 .. n_cand): the sampled protocols. */
int32_t sd_rank_first(const float *cand_scores, int32_t n_cand, sd_err *err);

/* Per-user contributions, exposed so tests can check hand-computed values. */
double sd_ndcg_at(int32_t rank, int k);
double sd_hit_at(int32_t rank, int k);

/* Averages over users; ranks[0 .. n) >= 1. median: mean of the two middle ranks when n is even.
 * n = 0 gives all zeros. */
void sd_metrics_from_ranks(const int32_t *ranks, int64_t n, sd_metrics *out);

#endif
