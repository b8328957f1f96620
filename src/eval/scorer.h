/* The one interface every recommender implements so that it can be evaluated (eval/evaluate.h):
 * SASRec, SID-SASRec, the baselines, later an LLM. A model scores items for a batch of users
 * given each user's context, i.e. the items the user interacted with before the target, oldest
 * first. Batched so a neural model runs one forward pass per batch. A model either scores every
 * item (score_batch) or, if it is generative (beam search over semantic IDs), returns its K best
 * items in order (score_topk); it may have both, and the evaluator then scores fully.
 *
 * Contract for all scoring functions:
 *   - users[b] is the user's row in WORK's sequences (for models with per-user state and for
 *     seeded models that must not depend on batching); hist[b][0 .. hist_len[b]) the context,
 *     hist_len[b] may be 0. A model truncates long contexts itself (e.g. to its maxlen).
 *   - Higher score = more recommended. Scores are compared as floats; -INFINITY is allowed
 *     ("never"), NaN is an error of the model (the evaluator rejects it).
 *   - The result for one user must not depend on which other users share its batch, so that
 *     batch size and thread count never change the figures.
 *   - Return 0, or a negative SD_E* code with a message in err.
 *   - The evaluator does not hide the user's history or the target: exclusion of already seen
 *     items is the evaluator's job, so a model must not drop them itself (it may score them low). */
#ifndef SD_SCORER_H
#define SD_SCORER_H
#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"

typedef struct sd_scorer {
    const char *name;   /* row label in the results table, e.g. "popularity", "sasrec" */
    int32_t n_items;    /* must equal the work directory's item count */
    void *model;

    /* Full scoring. scores: [n_users, n_items] row-major, written completely. NULL for a model
     * that only has score_topk. */
    int (*score_batch)(void *model, int n_users, const int32_t *users, const int32_t *const *hist,
                       const int32_t *hist_len, float *scores, sd_err *err);

    /* Optional (NULL = not implemented): score only candidates, for the sampled protocols.
     * cand: [n_users, n_cand] item ids; scores: [n_users, n_cand], scores[b*n_cand + j] for
     * item cand[b*n_cand + j]. A candidate row may repeat an id (padding); score it as usual.
     * Without it the evaluator calls score_batch and picks the candidates' scores out; both
     * paths must give the same score for the same (user, context, item). */
    int (*score_candidates)(void *model, int n_users, const int32_t *users, const int32_t *const *hist,
                            const int32_t *hist_len, int n_cand, const int32_t *cand, float *scores,
                            sd_err *err);

    /* Optional (NULL = not implemented): the model's k best items per user, best first, for
     * models that produce a ranked list rather than a score per item. top: [n_users, k]; the
     * model writes n_top[b] distinct item ids (0 <= n_top[b] <= k) to top[b*k .. b*k + n_top[b]),
     * fewer than k when it finds fewer. k is the evaluator's (sd_eval_opts.top_k) and the same
     * for every batch. Used only when score_batch is NULL (and, for the sampled protocols,
     * score_candidates too). How ranks and metrics treat items outside the list, and when they
     * are exact, is in eval/metrics.h (sd_rank_topk). Leaving seen items out of the list is
     * the list's way of scoring them low, and allowed; under history exclusion it leaves more of
     * the k places to candidates. For the sampled protocols a list over all items holds few of
     * the drawn candidates, so their figures are exact only at small cut-offs: a model that can
     * score given items should also have score_candidates. A repeated or out-of-range id, or
     * n_top[b] outside [0, k], is an error of the model. */
    int (*score_topk)(void *model, int n_users, const int32_t *users, const int32_t *const *hist,
                      const int32_t *hist_len, int k, int32_t *top, int32_t *n_top, sd_err *err);

    /* true: the scoring functions may be called concurrently from several threads on disjoint
     * batches and use no threads themselves (the baselines); the evaluator then runs batches in
     * parallel. false: called from one thread, one batch at a time; the model may use OpenMP /
     * OpenBLAS inside (a neural model), and the evaluator ranks the batch's users in parallel. */
    bool concurrent;
    int batch_hint;     /* preferred users per batch; 0 = the evaluator's default */

    void (*free)(void *model); /* may be NULL */
} sd_scorer;

/* Frees the model (if free is set) and clears the struct. */
static inline void sd_scorer_free(sd_scorer *s) {
    if (s->free && s->model) s->free(s->model);
    *s = (sd_scorer){0};
}

#endif
