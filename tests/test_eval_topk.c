/* Top-K scoring (eval/scorer.h score_topk): ranks of targets inside and outside a model's list,
 * exactness at cut-offs <= the list's candidates, agreement with full scoring, list errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/rng.h"
#include "eval/evaluate.h"
#include "test_util.h"

#define make_data sd_test_seqs_from_list /* test_util.h */

/* ---- a fixed list: every user gets the same list, whatever its history ---- */

typedef struct fixed_list { const int32_t *items; int32_t n; } fixed_list;

static int fixed_topk(void *model, int n_users, const int32_t *users, const int32_t *const *hist,
                      const int32_t *hist_len, int k, int32_t *top, int32_t *n_top, sd_err *err) {
    (void)users; (void)hist; (void)hist_len; (void)err;
    const fixed_list *m = model;
    for (int b = 0; b < n_users; b++) {
        int32_t n = m->n < k ? m->n : k;
        memcpy(top + (size_t)b * k, m->items, (size_t)n * sizeof *top);
        n_top[b] = n;
    }
    return 0;
}

/* Users (LOO, target last): u0 1 2 [3], u1 5 1 [0], u2 6 7 [4], u3 0 3 [2]; 8 items. */
static const int hand_flat[] = {1, 2, 3, -1, 5, 1, 0, -1, 6, 7, 4, -1, 0, 3, 2, -2};

static void eval_ranks(const sd_scorer *sc, const sd_sequences *s, const sd_split *sp, sd_protocol proto,
                       int exclude, int top_k, sd_metrics *m, int32_t *ranks) {
    sd_eval_opts o = sd_eval_defaults();
    o.progress = false;
    o.protocol = proto;
    o.exclude_history = exclude;
    o.top_k = top_k;
    sd_err err = {0};
    cr_assert_eq(sd_evaluate(sc, s, sp, &o, m, ranks, &err), 0, "%s", err.msg);
}

Test(eval_topk, hand_ranks_inside_and_outside_the_list) {
    sd_sequences s; sd_split sp;
    make_data(hand_flat, 8, &s, &sp);
    const int32_t list[] = {2, 3, 0, 5};
    fixed_list fl = {list, 4};
    sd_scorer sc = {.name = "lister", .n_items = 8, .model = &fl, .score_topk = fixed_topk};
    int32_t r[4];
    sd_metrics m;

    /* History excluded: seen items in the list are skipped. u0: 3 0 5 -> 1; u1: 2 3 0 -> 3;
     * u2: target 4 unlisted, 8 - 2 seen = 6 candidates -> 6 (last); u3: 2 5 -> 1. */
    eval_ranks(&sc, &s, &sp, SD_PROTO_FULL, 1, 4, &m, r);
    int32_t want_excl[4] = {1, 3, 6, 1};
    cr_assert_eq(memcmp(r, want_excl, sizeof r), 0, "ranks %d %d %d %d", r[0], r[1], r[2], r[3]);
    cr_assert_eq(m.n_users, 4);
    cr_assert_float_eq(m.hit[0], 0.75, 1e-12);
    cr_assert_float_eq(m.ndcg[0], (1 + 0.5 + 0 + 1) / 4.0, 1e-12);
    cr_assert_float_eq(m.mrr, (1 + 1 / 3.0 + 1 / 6.0 + 1) / 4.0, 1e-12);
    cr_assert_float_eq(m.mean_rank, 11 / 4.0, 1e-12);
    cr_assert_float_eq(m.median_rank, 2.0, 1e-12);
    cr_assert_eq(m.n_unlisted, 1);
    cr_assert_eq(m.n_short, 1, "u2's list holds 4 of 6 candidates: its rank is only known to be > 4");

    /* No exclusion: u0: 2 3 0 5 -> 2; u1 -> 3; u2 unlisted among all 8 -> 8; u3 -> 1. */
    eval_ranks(&sc, &s, &sp, SD_PROTO_FULL, 0, 4, &m, r);
    int32_t want_all[4] = {2, 3, 8, 1};
    cr_assert_eq(memcmp(r, want_all, sizeof r), 0, "ranks %d %d %d %d", r[0], r[1], r[2], r[3]);
    cr_assert_float_eq(m.ndcg[0], (1 / log2(3.0) + 0.5 + 0 + 1) / 4.0, 1e-12);
    cr_assert_float_eq(m.mrr, (0.5 + 1 / 3.0 + 1 / 8.0 + 1) / 4.0, 1e-12);

    /* A shorter list than the model has: top_k = 2 cuts it to 2 3. u1's target 0 is then
     * outside: rank 8 (no exclusion); u0 2, u3 1. */
    eval_ranks(&sc, &s, &sp, SD_PROTO_FULL, 0, 2, &m, r);
    int32_t want_k2[4] = {2, 8, 8, 1};
    cr_assert_eq(memcmp(r, want_k2, sizeof r), 0, "ranks %d %d %d %d", r[0], r[1], r[2], r[3]);
    cr_assert_eq(m.n_unlisted, 2);

    /* The sampled protocols draw every eligible item when there are fewer than asked, so their
     * candidates here are those of full ranking: sampled100 excludes history, sampled1000 not. */
    eval_ranks(&sc, &s, &sp, SD_PROTO_SAMPLED100, -1, 4, &m, r);
    cr_assert_eq(memcmp(r, want_excl, sizeof r), 0, "ranks %d %d %d %d", r[0], r[1], r[2], r[3]);
    eval_ranks(&sc, &s, &sp, SD_PROTO_SAMPLED1000, -1, 4, &m, r);
    cr_assert_eq(memcmp(r, want_all, sizeof r), 0, "ranks %d %d %d %d", r[0], r[1], r[2], r[3]);

    /* A list of every item but u2's target: its rank 8 is then exact, not a bound. */
    const int32_t all_but_4[] = {0, 1, 2, 3, 5, 6, 7};
    fixed_list fl7 = {all_but_4, 7};
    sc.model = &fl7;
    eval_ranks(&sc, &s, &sp, SD_PROTO_FULL, 0, 20, &m, r);
    int32_t want7[4] = {4, 1, 8, 3};
    cr_assert_eq(memcmp(r, want7, sizeof r), 0, "ranks %d %d %d %d", r[0], r[1], r[2], r[3]);
    cr_assert_eq(m.n_unlisted, 1);
    cr_assert_eq(m.n_short, 0);
    sd_split_free(&sp);
    sd_sequences_free(&s);
}

Test(eval_topk, rank_from_a_candidate_list) {
    const int32_t list[] = {4, 2, 7};
    sd_err err = {0};
    cr_assert_eq(sd_rank_topk(list, 3, 4, 10, &err), 1);
    cr_assert_eq(sd_rank_topk(list, 3, 7, 10, &err), 3);
    cr_assert_eq(sd_rank_topk(list, 3, 9, 10, &err), 10, "outside the list: last of the 10 candidates");
    cr_assert_eq(sd_rank_topk(list, 0, 4, 10, &err), 10, "an empty list ranks every target last");
    cr_assert_eq(sd_rank_topk(list, 3, 9, 4, &err), 4);
    cr_assert_lt(sd_rank_topk(list, 3, 9, 3, &err), 0, "3 candidates listed, none the target");
    cr_assert(strstr(err.msg, "not the target"), "%s", err.msg);
    /* cut-offs below the list length are exact: a rank of 10 scores nothing at 5 */
    cr_assert_eq(sd_hit_at(10, 5), 0.0);
}

/* ---- a full scorer with distinct scores, and its top K ---- */

#define N_ITEMS 211 /* prime, so i -> (i * mult + u) mod N_ITEMS is a permutation for any mult != 0 */

static int32_t perm_score(int32_t u, int32_t i) {
    int32_t mult = 1 + (int32_t)(((uint32_t)u * 13u) % (N_ITEMS - 1));
    return (int32_t)(((int64_t)i * mult + u) % N_ITEMS);
}

static int perm_full(void *model, int n, const int32_t *users, const int32_t *const *hist, const int32_t *hist_len,
                     float *scores, sd_err *err) {
    (void)model; (void)hist; (void)hist_len; (void)err;
    for (int b = 0; b < n; b++)
        for (int32_t i = 0; i < N_ITEMS; i++) scores[(size_t)b * N_ITEMS + i] = (float)perm_score(users[b], i);
    return 0;
}

/* The same model's k best items: the items whose scores are N_ITEMS-1, N_ITEMS-2, ... */
static int perm_topk(void *model, int n, const int32_t *users, const int32_t *const *hist, const int32_t *hist_len,
                     int k, int32_t *top, int32_t *n_top, sd_err *err) {
    (void)model; (void)hist; (void)hist_len; (void)err;
    for (int b = 0; b < n; b++) {
        int32_t item_of[N_ITEMS];
        for (int32_t i = 0; i < N_ITEMS; i++) item_of[perm_score(users[b], i)] = i;
        for (int j = 0; j < k; j++) top[(size_t)b * k + j] = item_of[N_ITEMS - 1 - j];
        n_top[b] = k;
    }
    return 0;
}

static void make_random_data(int n_users, uint64_t seed, sd_sequences *s, sd_split *sp) {
    sd_seqbuilder *b = sd_seqbuilder_new();
    sd_rng r;
    sd_rng_seed(&r, seed);
    for (int u = 0; u < n_users; u++) {
        char name[16];
        snprintf(name, sizeof name, "u%d", u);
        int len = 3 + (int)sd_rng_below(&r, 10);
        for (int k = 0; k < len; k++)
            sd_seqbuilder_add(b, name, strlen(name), (int)sd_rng_below(&r, N_ITEMS), k);
    }
    sd_seq_opts o = {.seed = 1, .min_len = 3};
    sd_err err = {0};
    cr_assert_eq(sd_seqbuilder_finish(b, N_ITEMS, &o, s, &err), 0, "%s", err.msg);
    sd_seqbuilder_free(b);
    cr_assert_eq(sd_split_make(sp, s, SD_SPLIT_LOO, 1, &err), 0, "%s", err.msg);
}

/* candidates of user u under full ranking with history excluded */
static int32_t n_cand_excl(const sd_sequences *s, const sd_split *sp, int32_t u) {
    const int32_t *it = sd_seq_items(s, u);
    int32_t p = sp->test_pos[u], n = N_ITEMS;
    for (int32_t j = 0; j < p; j++) n -= it[j] != it[p]; /* sequences hold distinct items */
    return n;
}

Test(eval_topk, agrees_with_full_scoring) {
    sd_sequences s; sd_split sp;
    make_random_data(300, 5, &s, &sp);
    sd_scorer full = {.name = "perm", .n_items = N_ITEMS, .score_batch = perm_full, .concurrent = true};
    sd_scorer topk = {.name = "perm", .n_items = N_ITEMS, .score_topk = perm_topk, .concurrent = true};
    int32_t *rf = calloc(s.n_users, 4), *rt = calloc(s.n_users, 4);
    sd_metrics mf, mt;

    /* History excluded, lists of 20 + the longest history (12): every list keeps >= 20
     * candidates, so every Hit@K and NDCG@K is exact; a target outside the list ranks last. */
    eval_ranks(&full, &s, &sp, SD_PROTO_FULL, 1, 0, &mf, rf);
    eval_ranks(&topk, &s, &sp, SD_PROTO_FULL, 1, 32, &mt, rt);
    int64_t misses = 0;
    for (int32_t u = 0; u < s.n_users; u++) {
        if (sp.test_pos[u] < 0) continue;
        bool listed = rt[u] == rf[u];
        cr_assert(listed || (rf[u] > 20 && rt[u] == n_cand_excl(&s, &sp, u)), "user %d: full %d top-K %d", u, rf[u],
                  rt[u]);
        misses += !listed;
    }
    cr_assert_gt(misses, 0, "some targets must fall outside the lists for the test to mean anything");
    cr_assert_eq(memcmp(mf.hit, mt.hit, sizeof mf.hit), 0);
    cr_assert_eq(memcmp(mf.ndcg, mt.ndcg, sizeof mf.ndcg), 0);
    cr_assert_eq(mt.n_unlisted, misses);
    cr_assert_eq(mt.n_short, 0);
    cr_assert_lt(mt.mrr, mf.mrr, "MRR from lists is a lower bound");

    /* K = 5 without exclusion: exact at 5, lower bounds at 10 and 20, and counted as such. */
    eval_ranks(&full, &s, &sp, SD_PROTO_FULL, 0, 0, &mf, rf);
    eval_ranks(&topk, &s, &sp, SD_PROTO_FULL, 0, 5, &mt, rt);
    int64_t beyond5 = 0;
    for (int32_t u = 0; u < s.n_users; u++) {
        if (sp.test_pos[u] < 0) continue;
        cr_assert(rf[u] <= 5 ? rt[u] == rf[u] : rt[u] == N_ITEMS, "user %d: full %d top-K %d", u, rf[u], rt[u]);
        beyond5 += rf[u] > 5;
    }
    cr_assert_eq(mt.hit[0], mf.hit[0]);
    cr_assert_eq(mt.ndcg[0], mf.ndcg[0]);
    cr_assert_lt(mt.hit[2], mf.hit[2]);
    cr_assert_eq(mt.n_unlisted, beyond5);
    cr_assert_eq(mt.n_short, beyond5);

    /* The whole ranking as the list: identical to full scoring under every protocol, for any
     * batch size and either threading mode. */
    for (int proto = 0; proto < SD_PROTO_COUNT; proto++) {
        eval_ranks(&full, &s, &sp, proto, -1, 0, &mf, rf);
        sd_scorer variant = topk;
        for (int mode = 0; mode < 2; mode++) {
            variant.concurrent = mode == 0;
            variant.batch_hint = mode == 0 ? 7 : 0;
            eval_ranks(&variant, &s, &sp, proto, -1, N_ITEMS, &mt, rt);
            cr_assert_eq(memcmp(rf, rt, s.n_users * sizeof *rf), 0, "protocol %d mode %d", proto, mode);
            cr_assert_eq(memcmp(&mf, &mt, sizeof mf), 0, "protocol %d mode %d", proto, mode);
        }
    }
    free(rf); free(rt);
    sd_split_free(&sp);
    sd_sequences_free(&s);
}

/* ---- lists the evaluator refuses ---- */

typedef struct bad_list { int32_t items[3]; int32_t n; } bad_list;

static int bad_topk(void *model, int n_users, const int32_t *users, const int32_t *const *hist,
                    const int32_t *hist_len, int k, int32_t *top, int32_t *n_top, sd_err *err) {
    (void)users; (void)hist; (void)hist_len; (void)err;
    const bad_list *m = model;
    for (int b = 0; b < n_users; b++) {
        for (int j = 0; j < 3 && j < k; j++) top[(size_t)b * k + j] = m->items[j];
        if (m->n != -1) n_top[b] = m->n; /* -1: forgets to say how many */
    }
    return 0;
}

static void expect_refused(const bad_list *bl, bool concurrent, const char *needle) {
    sd_sequences s; sd_split sp;
    make_data(hand_flat, 8, &s, &sp);
    sd_scorer sc = {.name = "liar", .n_items = 8, .model = (void *)bl, .score_topk = bad_topk,
                    .concurrent = concurrent};
    sd_eval_opts o = sd_eval_defaults();
    o.progress = false;
    o.top_k = 3;
    sd_metrics m;
    sd_err err = {0};
    cr_assert_eq(sd_evaluate(&sc, &s, &sp, &o, &m, NULL, &err), SD_ERANGE, "%s", err.msg);
    cr_assert(strstr(err.msg, needle) && strstr(err.msg, "model liar") && strstr(err.msg, "user u"), "%s", err.msg);
    sd_split_free(&sp);
    sd_sequences_free(&s);
}

Test(eval_topk, bad_lists_are_errors) {
    for (int conc = 0; conc < 2; conc++) {
        expect_refused(&(bad_list){{2, 3, 2}, 3}, conc, "repeats item 2 (positions 1 and 3)");
        expect_refused(&(bad_list){{2, 9, 0}, 3}, conc, "position 2: item 9 out of range");
        expect_refused(&(bad_list){{2, 3, 0}, 4}, conc, "list of 4 items");
        expect_refused(&(bad_list){{2, 3, 0}, -1}, conc, "list of -1 items");
    }
    /* neither scoring function */
    sd_sequences s; sd_split sp;
    make_data(hand_flat, 8, &s, &sp);
    sd_scorer none = {.name = "empty", .n_items = 8};
    sd_eval_opts o = sd_eval_defaults();
    o.progress = false;
    sd_metrics m;
    sd_err err = {0};
    cr_assert_eq(sd_evaluate(&none, &s, &sp, &o, &m, NULL, &err), SD_ESTATE);
    cr_assert(strstr(err.msg, "score_topk"), "%s", err.msg);
    sd_split_free(&sp);
    sd_sequences_free(&s);
}
