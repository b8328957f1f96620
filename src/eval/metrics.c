#include "eval/metrics.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"

const int sd_metric_ks[SD_METRIC_NK] = {5, 10, 20};

/* The hot loop of evaluation (n_items per user): branch-free integer sums of comparisons so gcc
 * vectorises it. NaN fails every >= and is counted separately in the same pass. */
static void count_ge(const float *restrict s, int32_t n, float t, int32_t *ge, int32_t *nan) {
    int32_t g = 0, q = 0;
    for (int32_t i = 0; i < n; i++) {
        g += s[i] >= t;
        q += s[i] != s[i];
    }
    *ge = g;
    *nan = q;
}

static int32_t nan_error(sd_err *err, int32_t n_nan, int32_t n) {
    return sd_errf(err, SD_ERANGE, "model produced NaN scores (%d of %d candidates)", n_nan, n);
}

int32_t sd_rank_full(const float *scores, int32_t n, int32_t target, sd_err *err) {
    if (target < 0 || target >= n) return sd_errf(err, SD_ERANGE, "target item %d out of range [0, %d)", target, n);
    int32_t ge, nan;
    count_ge(scores, n, scores[target], &ge, &nan);
    if (nan) return nan_error(err, nan, n);
    return ge; /* the target counts itself: ge = 1 + others >= */
}

int32_t sd_rank_full_excl(float *scores, int32_t n, int32_t target, const int32_t *excl, int32_t n_excl,
                          sd_err *err) {
    int32_t rank = sd_rank_full(scores, n, target, err);
    if (rank < 0) return rank;
    float t = scores[target];
    for (int32_t j = 0; j < n_excl; j++) {
        int32_t h = excl[j];
        if (h < 0 || h >= n) return sd_errf(err, SD_ERANGE, "history item %d out of range [0, %d)", h, n);
        if (h == target) continue;
        /* counted above but not a candidate; NaN marks it so a repeated id is not subtracted twice */
        if (scores[h] >= t) rank--;
        scores[h] = NAN;
    }
    return rank;
}

int32_t sd_rank_first(const float *cand_scores, int32_t n_cand, sd_err *err) {
    if (n_cand < 1) return sd_errf(err, SD_ERANGE, "no candidates");
    int32_t ge, nan;
    count_ge(cand_scores, n_cand, cand_scores[0], &ge, &nan);
    if (nan) return nan_error(err, nan, n_cand);
    return ge;
}

int32_t sd_rank_topk(const int32_t *list, int32_t n_list, int32_t target, int32_t n_cand, sd_err *err) {
    for (int32_t j = 0; j < n_list; j++)
        if (list[j] == target) return j + 1;
    if (n_list >= n_cand)
        return sd_errf(err, SD_ERANGE, "top-K list holds %d candidates of %d but not the target", n_list, n_cand);
    return n_cand; /* tied with every unlisted candidate, and ties count against the model */
}

double sd_ndcg_at(int32_t rank, int k) { return rank >= 1 && rank <= k ? 1.0 / log2((double)rank + 1.0) : 0.0; }
double sd_hit_at(int32_t rank, int k) { return rank >= 1 && rank <= k ? 1.0 : 0.0; }

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

void sd_metrics_from_ranks(const int32_t *ranks, int64_t n, sd_metrics *out) {
    memset(out, 0, sizeof *out);
    out->n_users = n;
    if (n <= 0) return;
    /* sums in a fixed order: the same ranks give the same bytes whatever the thread count */
    double mrr = 0, mean = 0, hit[SD_METRIC_NK] = {0}, ndcg[SD_METRIC_NK] = {0};
    for (int64_t u = 0; u < n; u++) {
        int32_t r = ranks[u];
        mrr += 1.0 / r;
        mean += r;
        for (int k = 0; k < SD_METRIC_NK; k++) {
            hit[k] += sd_hit_at(r, sd_metric_ks[k]);
            ndcg[k] += sd_ndcg_at(r, sd_metric_ks[k]);
        }
    }
    out->mrr = mrr / n;
    out->mean_rank = mean / n;
    for (int k = 0; k < SD_METRIC_NK; k++) {
        out->hit[k] = hit[k] / n;
        out->ndcg[k] = ndcg[k] / n;
    }
    int32_t *sorted = sd_xmalloc(sd_mul_size((size_t)n, sizeof *sorted));
    memcpy(sorted, ranks, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_i32);
    out->median_rank = n % 2 ? sorted[n / 2] : 0.5 * ((double)sorted[n / 2 - 1] + sorted[n / 2]);
    free(sorted);
}
