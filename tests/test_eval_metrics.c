/* Metric functions on hand-computed cases. Tolerance 1e-12: the values are a few float-exact
 * operations in double. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include "base/rng.h"
#include "eval/metrics.h"

#define EPS 1e-12

Test(eval_metrics, pessimistic_ties) {
    float all_equal[4] = {1, 1, 1, 1};
    for (int t = 0; t < 4; t++) cr_assert_eq(sd_rank_full(all_equal, 4, t, NULL), 4, "ties must rank last");
    float s[5] = {3, 1, 2, 2, 0};
    cr_assert_eq(sd_rank_full(s, 5, 0, NULL), 1);
    cr_assert_eq(sd_rank_full(s, 5, 2, NULL), 3); /* item 0 above, item 3 tied */
    cr_assert_eq(sd_rank_full(s, 5, 3, NULL), 3);
    cr_assert_eq(sd_rank_full(s, 5, 4, NULL), 5);
    float inf[3] = {-INFINITY, -INFINITY, INFINITY};
    cr_assert_eq(sd_rank_full(inf, 3, 0, NULL), 3);
    cr_assert_eq(sd_rank_full(inf, 3, 2, NULL), 1);
    float cand[4] = {0.5f, 0.5f, 0.1f, 0.9f}; /* target first */
    cr_assert_eq(sd_rank_first(cand, 4, NULL), 3);
    cr_assert_eq(sd_rank_first(cand, 1, NULL), 1);
}

Test(eval_metrics, matches_naive_on_random_lengths) {
    sd_rng r;
    sd_rng_seed(&r, 5);
    float s[203];
    for (int n = 1; n <= 203; n += 7) {
        for (int i = 0; i < n; i++) s[i] = (float)sd_rng_below(&r, 9); /* many ties */
        for (int t = 0; t < n; t += 3) {
            int naive = 1;
            for (int i = 0; i < n; i++) naive += i != t && s[i] >= s[t];
            cr_assert_eq(sd_rank_full(s, n, t, NULL), naive, "n %d target %d", n, t);
        }
    }
}

Test(eval_metrics, exclusion) {
    /* items 0..5; history {1, 2, 2 (repeat), 4 (target, must stay)} */
    float s[6] = {1, 9, 8, 0, 5, 5};
    int32_t excl[4] = {1, 2, 2, 4};
    cr_assert_eq(sd_rank_full(s, 6, 4, NULL), 4);
    cr_assert_eq(sd_rank_full_excl(s, 6, 4, excl, 4, NULL), 2); /* only item 5 (tie) remains >= */
    float low[3] = {-INFINITY, -INFINITY, 0};
    int32_t e2[1] = {2};
    cr_assert_eq(sd_rank_full_excl(low, 3, 0, e2, 1, NULL), 2, "excluded items are not tied with a -inf target");
    int32_t bad[1] = {7};
    float s2[3] = {1, 2, 3};
    sd_err err = {0};
    cr_assert_lt(sd_rank_full_excl(s2, 3, 0, bad, 1, &err), 0);
    cr_assert(strstr(err.msg, "out of range"), "%s", err.msg);
}

Test(eval_metrics, nan_is_an_error) {
    sd_err err = {0};
    float s[4] = {1, NAN, 2, 3};
    cr_assert_lt(sd_rank_full(s, 4, 0, &err), 0);
    cr_assert(strstr(err.msg, "NaN"), "%s", err.msg);
    cr_assert_lt(sd_rank_full(s, 4, 1, &err), 0, "NaN target");
    cr_assert_lt(sd_rank_first(s, 4, &err), 0);
    cr_assert_lt(sd_rank_full(s, 4, 9, &err), 0, "target out of range");
}

Test(eval_metrics, ndcg_and_hit_values) {
    cr_assert_float_eq(sd_ndcg_at(1, 10), 1.0, EPS);
    cr_assert_float_eq(sd_ndcg_at(3, 10), 0.5, EPS);          /* 1/log2(4) */
    cr_assert_float_eq(sd_ndcg_at(7, 10), 1.0 / 3.0, EPS);    /* 1/log2(8) */
    cr_assert_float_eq(sd_ndcg_at(2, 10), 1.0 / log2(3.0), EPS);
    cr_assert_float_eq(sd_ndcg_at(6, 5), 0.0, EPS);
    cr_assert_float_eq(sd_ndcg_at(5, 5), 1.0 / log2(6.0), EPS);
    cr_assert_float_eq(sd_hit_at(5, 5), 1.0, EPS);
    cr_assert_float_eq(sd_hit_at(6, 5), 0.0, EPS);
    /* K larger than the candidate list: 3 candidates, target last, K = 20 */
    float s[3] = {2, 2, 1};
    int32_t r = sd_rank_full(s, 3, 2, NULL);
    cr_assert_eq(r, 3);
    cr_assert_float_eq(sd_hit_at(r, 20), 1.0, EPS);
    cr_assert_float_eq(sd_ndcg_at(r, 20), 0.5, EPS);
}

Test(eval_metrics, averages) {
    int32_t ranks[4] = {30, 1, 7, 3};
    sd_metrics m;
    sd_metrics_from_ranks(ranks, 4, &m);
    cr_assert_eq(m.n_users, 4);
    cr_assert_float_eq(m.hit[0], 0.5, EPS);
    cr_assert_float_eq(m.hit[1], 0.75, EPS);
    cr_assert_float_eq(m.hit[2], 0.75, EPS);
    cr_assert_float_eq(m.ndcg[0], (1 + 0.5) / 4, EPS);
    cr_assert_float_eq(m.ndcg[1], (1 + 0.5 + 1.0 / 3) / 4, EPS);
    cr_assert_float_eq(m.ndcg[2], (1 + 0.5 + 1.0 / 3) / 4, EPS);
    cr_assert_float_eq(m.mrr, (1 + 1.0 / 3 + 1.0 / 7 + 1.0 / 30) / 4, EPS);
    cr_assert_float_eq(m.mean_rank, 41.0 / 4, EPS);
    cr_assert_float_eq(m.median_rank, 5.0, EPS);
    sd_metrics_from_ranks(ranks, 3, &m);
    cr_assert_float_eq(m.median_rank, 7.0, EPS);
    sd_metrics_from_ranks(ranks, 0, &m);
    cr_assert_eq(m.n_users, 0);
    cr_assert_float_eq(m.mrr, 0.0, EPS);
}
