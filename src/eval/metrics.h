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
 * [rank <= K], MRR = mean of 1/rank (not cut off at any K).
 *
 * Top-K lists (a generative model's score_topk, eval/scorer.h) are read as scores: the listed
 * items in their order above every item outside the list, and all items outside it tied. Only
 * candidates count: a listed item that is not one (a seen item under history exclusion, an item
 * not drawn by a sampled protocol) is skipped. With the pessimistic tie rule above:
 *   - a target at position p (1-based) among the listed candidates has rank p;
 *   - a target outside the list ties with every unlisted candidate and so ranks LAST:
 *     rank = n_cand, the number of candidates (never K + 1: that would rank a miss as if it
 *     were the best of the rest, in the model's favour).
 * So for a user whose list holds L candidates, Hit@k and NDCG@k are exact for every cut-off
 * k <= L (a target outside the list truly ranks > L), and lower bounds beyond L; MRR is a lower
 * bound and mean / median rank upper bounds wherever a target is outside the list. Lists of at
 * least 20 candidates (the largest cut-off) keep every Hit@K and NDCG@K exact; seen items in a
 * list do not count towards that under history exclusion. sd_metrics.n_short counts the users
 * for whom a figure is a bound. */
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
    /* Top-K scoring only (0 otherwise; not part of the results files): users whose target was
     * outside the list (ranked last), and those of them whose list held fewer candidates than
     * the largest cut-off, so that their Hit@20 / NDCG@20 (or lower cut-offs) are lower bounds. */
    int64_t n_unlisted, n_short;
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

/* Rank of target from a top-K list reduced to candidates (see above): list[0 .. n_list) distinct
 * candidates, best first; n_cand candidates in all, the target among them. Returns the target's
 * position + 1 in the list, or n_cand when it is not listed; SD_ERANGE if the list cannot be a
 * list of candidates without the target (n_list >= n_cand and the target not in it). */
int32_t sd_rank_topk(const int32_t *list, int32_t n_list, int32_t target, int32_t n_cand, sd_err *err);

/* Per-user contributions, exposed so tests can check hand-computed values. */
double sd_ndcg_at(int32_t rank, int k);
double sd_hit_at(int32_t rank, int k);

/* Averages over users; ranks[0 .. n) >= 1. median: mean of the two middle ranks when n is even.
 * n = 0 gives all zeros. */
void sd_metrics_from_ranks(const int32_t *ranks, int64_t n, sd_metrics *out);

#endif
