/* Evaluation protocols, history exclusion, sampled negatives, baselines. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/rng.h"
#include "eval/baselines.h"
#include "eval/evaluate.h"
#include "test_util.h"

#define make_data sd_test_seqs_from_list /* test_util.h */

/* Random sequences: n_users users with 3..12 distinct items each. */
static void make_random_data(int n_users, int n_items, uint64_t seed, sd_sequences *s, sd_split *sp) {
    sd_seqbuilder *b = sd_seqbuilder_new();
    sd_rng r;
    sd_rng_seed(&r, seed);
    for (int u = 0; u < n_users; u++) {
        char name[16];
        snprintf(name, sizeof name, "u%d", u);
        int len = 3 + (int)sd_rng_below(&r, 10);
        for (int k = 0; k < len; k++)
            sd_seqbuilder_add(b, name, strlen(name), (int)sd_rng_below(&r, (uint64_t)n_items), k);
    }
    sd_seq_opts o = {.seed = 1, .min_len = 3, .max_len = 0};
    sd_err err = {0};
    cr_assert_eq(sd_seqbuilder_finish(b, n_items, &o, s, &err), 0, "%s", err.msg);
    sd_seqbuilder_free(b);
    cr_assert_eq(sd_split_make(sp, s, SD_SPLIT_LOO, 1, &err), 0, "%s", err.msg);
}

/* ---- test models ---- */

/* Scores history items 10, item `favourite` 5, everything else 0: loves what the user saw. */
typedef struct hist_lover { int32_t n_items, favourite; } hist_lover;
static int hist_lover_score(void *model, int n, const int32_t *users, const int32_t *const *hist,
                            const int32_t *hist_len, float *scores, sd_err *err) {
    (void)users; (void)err;
    hist_lover *m = model;
    for (int b = 0; b < n; b++) {
        float *row = scores + (size_t)b * m->n_items;
        for (int i = 0; i < m->n_items; i++) row[i] = 0;
        row[m->favourite] = 5;
        for (int j = 0; j < hist_len[b]; j++) row[hist[b][j]] = 10;
    }
    return 0;
}

Test(eval_protocols, history_exclusion) {
    /* one user: 1 2 3 4 -> test target 4, context {1, 2, 3} */
    int flat[] = {1, 2, 3, 4, -1, -2};
    sd_sequences s; sd_split sp;
    make_data(flat, 8, &s, &sp);
    hist_lover m = {8, 4};
    sd_scorer sc = {.name = "lover", .n_items = 8, .model = &m, .score_batch = hist_lover_score};
    sd_eval_opts o = sd_eval_defaults();
    o.progress = false;
    sd_metrics met;
    int32_t ranks[1];
    sd_err err = {0};
    cr_assert_eq(sd_evaluate(&sc, &s, &sp, &o, &met, ranks, &err), 0, "%s", err.msg);
    cr_assert_eq(ranks[0], 1, "history excluded: the target is first");
    cr_assert_float_eq(met.ndcg[1], 1.0, 1e-12);
    o.exclude_history = 0;
    cr_assert_eq(sd_evaluate(&sc, &s, &sp, &o, &met, ranks, &err), 0, "%s", err.msg);
    cr_assert_eq(ranks[0], 4, "history kept: three seen items above the target");
    /* sampled100 excludes by default: only 8 - 1 - 3 = 4 eligible negatives, all scored 0 */
    o = sd_eval_defaults();
    o.progress = false;
    o.protocol = SD_PROTO_SAMPLED100;
    cr_assert_eq(sd_evaluate(&sc, &s, &sp, &o, &met, ranks, &err), 0, "%s", err.msg);
    cr_assert_eq(ranks[0], 1);
    /* sampled1000 keeps history by default (semantic-ids-llm): 3 seen items + 4 others */
    o.protocol = SD_PROTO_SAMPLED1000;
    cr_assert_eq(sd_evaluate(&sc, &s, &sp, &o, &met, ranks, &err), 0, "%s", err.msg);
    cr_assert_eq(ranks[0], 4);
    /* validation part: target 3, context {1, 2} */
    o = sd_eval_defaults();
    o.progress = false;
    o.part = SD_PART_VALID;
    m.favourite = 3;
    cr_assert_eq(sd_evaluate(&sc, &s, &sp, &o, &met, ranks, &err), 0, "%s", err.msg);
    cr_assert_eq(ranks[0], 1);
    sd_split_free(&sp);
    sd_sequences_free(&s);
}

/* Records the candidate rows it is asked to score: cand_log[user] = sorted candidates. */
typedef struct recorder {
    sd_scorer inner;
    int32_t n_cand;
    int32_t *log;      /* [n_users, n_cand] */
    int32_t *n_seen;   /* [n_users] times each user was scored */
} recorder;

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int rec_score_cand(void *model, int n, const int32_t *users, const int32_t *const *hist,
                          const int32_t *hist_len, int n_cand, const int32_t *cand, float *scores, sd_err *err) {
    recorder *r = model;
    cr_assert_eq(n_cand, r->n_cand);
    for (int b = 0; b < n; b++) {
        memcpy(r->log + (size_t)users[b] * n_cand, cand + (size_t)b * n_cand, n_cand * sizeof *cand);
        qsort(r->log + (size_t)users[b] * n_cand, n_cand, sizeof *cand, cmp_i32);
        r->n_seen[users[b]]++;
    }
    return r->inner.score_candidates(r->inner.model, n, users, hist, hist_len, n_cand, cand, scores, err);
}
static int rec_score(void *model, int n, const int32_t *users, const int32_t *const *hist, const int32_t *hist_len,
                     float *scores, sd_err *err) {
    recorder *r = model;
    return r->inner.score_batch(r->inner.model, n, users, hist, hist_len, scores, err);
}

static void run_recorded(const sd_scorer *inner, const sd_sequences *s, const sd_split *sp, sd_eval_opts o,
                         int32_t *log, int32_t *ranks) {
    recorder r = {*inner, 1 + sd_protocol_negatives(o.protocol), log, calloc(s->n_users, sizeof(int32_t))};
    sd_scorer sc = {.name = "rec", .n_items = s->n_items, .model = &r, .score_batch = rec_score,
                    .score_candidates = rec_score_cand};
    sd_metrics m;
    sd_err err = {0};
    cr_assert_eq(sd_evaluate(&sc, s, sp, &o, &m, ranks, &err), 0, "%s", err.msg);
    for (int u = 0; u < s->n_users; u++) cr_assert_eq(r.n_seen[u], sp->test_pos[u] >= 0, "user %d", u);
    free(r.n_seen);
}

Test(eval_protocols, sampled_candidates_shared_and_valid) {
    sd_sequences s; sd_split sp;
    make_random_data(300, 400, 3, &s, &sp);
    sd_scorer pop, rnd;
    sd_err err = {0};
    cr_assert_eq(sd_baseline_popularity(&s, &sp, false, &pop, &err), 0);
    cr_assert_eq(sd_baseline_random(s.n_items, 9, &rnd, &err), 0);
    for (int proto = SD_PROTO_SAMPLED100; proto <= SD_PROTO_SAMPLED1000; proto++) {
        int32_t nc = 1 + sd_protocol_negatives(proto);
        size_t sz = (size_t)s.n_users * nc;
        int32_t *a = calloc(sz, 4), *b = calloc(sz, 4), *c = calloc(sz, 4), *d = calloc(sz, 4);
        sd_eval_opts o = sd_eval_defaults();
        o.progress = false;
        o.protocol = proto;
        o.seed = 77;
        o.batch = 16;
        run_recorded(&pop, &s, &sp, o, a, NULL);
        o.batch = 5;
        run_recorded(&rnd, &s, &sp, o, b, NULL);
        cr_assert_eq(memcmp(a, b, sz * 4), 0, "same seed: same candidates for two models and batch sizes");
        run_recorded(&rnd, &s, &sp, o, c, NULL);
        cr_assert_eq(memcmp(b, c, sz * 4), 0, "deterministic");
        o.seed = 78;
        run_recorded(&rnd, &s, &sp, o, d, NULL);
        if (proto == SD_PROTO_SAMPLED100) /* sampled1000 over 400 items takes every eligible item */
            cr_assert_neq(memcmp(c, d, sz * 4), 0, "another seed, other negatives");
        bool excl = sd_protocol_excludes_history(proto);
        for (int32_t u = 0; u < s.n_users; u++) {
            const int32_t *it = sd_seq_items(&s, u), *row = a + (size_t)u * nc;
            int32_t tgt = it[sp.test_pos[u]];
            int n_target = 0;
            for (int j = 0; j < nc; j++) {
                n_target += row[j] == tgt;
                if (excl)
                    for (int h = 0; h < sp.test_pos[u]; h++) cr_assert_neq(row[j], it[h], "user %d: history item", u);
            }
            int eligible = s.n_items - 1 - (excl ? sp.test_pos[u] : 0);
            if (eligible >= nc - 1) {
                cr_assert_eq(n_target, 1, "user %d: the target once, never as a negative", u);
                for (int j = 1; j < nc; j++) cr_assert_neq(row[j], row[j - 1], "user %d: distinct negatives", u);
            } else {
                /* fewer eligible items than asked (sampled1000 over 400 items): all of them, rows padded
                 * with the target */
                cr_assert_eq(n_target, nc - eligible, "user %d", u);
            }
        }
        free(a); free(b); free(c); free(d);
    }
    sd_scorer_free(&pop);
    sd_scorer_free(&rnd);
    sd_split_free(&sp);
    sd_sequences_free(&s);
}

Test(eval_protocols, negatives_uniform_and_dense_case) {
    /* over many users the sparse path's negatives cover the eligible items about evenly */
    int n_items = 50;
    uint8_t mark[50] = {0};
    int counts[50] = {0};
    int32_t hist[3] = {0, 1, 2}, out[1000];
    for (int u = 0; u < 2000; u++) {
        int32_t got = sd_sample_negatives(n_items, 3, hist, 3, true, 10, 1, SD_PART_TEST, u, mark, out);
        cr_assert_eq(got, 10);
        for (int j = 0; j < got; j++) counts[out[j]]++;
    }
    for (int i = 0; i < 50; i++) cr_assert_eq(mark[i], 0, "scratch left zeroed");
    for (int i = 0; i < 4; i++) cr_assert_eq(counts[i], 0);
    /* expected 2000 * 10 / 46 = 435 per item; 5 sigma ~ 100 */
    for (int i = 4; i < 50; i++) cr_assert(counts[i] > 335 && counts[i] < 535, "item %d drawn %d times", i, counts[i]);
    /* dense path (most items requested): distinct, eligible, deterministic */
    int32_t again[1000];
    int32_t got = sd_sample_negatives(n_items, 3, hist, 3, true, 40, 1, SD_PART_TEST, 5, mark, out);
    cr_assert_eq(got, 40);
    cr_assert_eq(sd_sample_negatives(n_items, 3, hist, 3, true, 40, 1, SD_PART_TEST, 5, mark, again), 40);
    cr_assert_eq(memcmp(out, again, 40 * 4), 0);
    uint8_t seen[50] = {0};
    for (int j = 0; j < got; j++) {
        cr_assert(out[j] > 3 && !seen[out[j]], "%d", out[j]);
        seen[out[j]] = 1;
    }
    cr_assert_eq(sd_sample_negatives(n_items, 3, hist, 3, true, 100, 1, SD_PART_TEST, 5, mark, out), 46);
    cr_assert_eq(sd_sample_negatives(n_items, 3, hist, 3, false, 100, 1, SD_PART_TEST, 5, mark, out), 49);
    for (int i = 0; i < 50; i++) cr_assert_eq(mark[i], 0);
}

Test(eval_protocols, paths_batches_and_threads_agree) {
    sd_sequences s; sd_split sp;
    make_random_data(500, 300, 4, &s, &sp);
    sd_scorer rnd;
    sd_err err = {0};
    cr_assert_eq(sd_baseline_random(s.n_items, 3, &rnd, &err), 0);
    for (int proto = 0; proto < SD_PROTO_COUNT; proto++) {
        int32_t *ref = calloc(s.n_users, 4), *got = calloc(s.n_users, 4);
        sd_eval_opts o = sd_eval_defaults();
        o.progress = false;
        o.protocol = proto;
        sd_metrics m0, m1;
        cr_assert_eq(sd_evaluate(&rnd, &s, &sp, &o, &m0, ref, &err), 0, "%s", err.msg);
        sd_scorer variant = rnd;
        variant.score_candidates = NULL;  /* evaluator picks candidates out of full scores */
        variant.concurrent = false;       /* one batch at a time, ranks in parallel */
        o.batch = 7;
        cr_assert_eq(sd_evaluate(&variant, &s, &sp, &o, &m1, got, &err), 0, "%s", err.msg);
        cr_assert_eq(memcmp(ref, got, s.n_users * 4), 0, "protocol %d", proto);
        cr_assert_eq(memcmp(&m0, &m1, sizeof m0), 0);
        for (int u = 0; u < s.n_users; u++) cr_assert_eq(got[u] > 0, sp.test_pos[u] >= 0);
        free(ref); free(got);
    }
    sd_scorer_free(&rnd);
    sd_split_free(&sp);
    sd_sequences_free(&s);
}

Test(eval_protocols, popularity_counts_training_only) {
    /* LOO: train = first item only. Training counts: item 0: 3, items 1, 2, 4: 1, item 3: 0.
     * Counting every interaction would make items 1 and 2 (5 each) beat item 0 (4). */
    int flat[] = {0, 1, 2, -1, 0, 1, 2, -1, 0, 1, 2, -1, 1, 0, 3, -1, 2, 3, 4, -1, 4, 1, 2, -1, -2};
    sd_sequences s; sd_split sp;
    make_data(flat, 5, &s, &sp);
    int64_t counts[5];
    sd_train_item_counts(&s, &sp, counts);
    int64_t want[5] = {3, 1, 1, 0, 1};
    cr_assert_eq(memcmp(counts, want, sizeof want), 0);
    sd_scorer pop;
    sd_err err = {0};
    cr_assert_eq(sd_baseline_popularity(&s, &sp, false, &pop, &err), 0);
    float sc[5];
    int32_t u0 = 0;
    const int32_t *h[1] = {sd_seq_items(&s, 0)};
    int32_t hl[1] = {2};
    cr_assert_eq(pop.score_batch(pop.model, 1, &u0, h, hl, sc, &err), 0);
    for (int i = 1; i < 5; i++) cr_assert_gt(sc[0], sc[i], "item 0 is the training winner");
    sd_scorer_free(&pop);
    /* popularity_unseen: seen items -inf */
    cr_assert_eq(sd_baseline_popularity(&s, &sp, true, &pop, &err), 0);
    cr_assert_eq(pop.score_batch(pop.model, 1, &u0, h, hl, sc, &err), 0);
    cr_assert(isinf(sc[0]) && sc[0] < 0 && isinf(sc[1]));
    cr_assert_float_eq(sc[4], 1.0f, 0);
    sd_scorer_free(&pop);
    sd_split_free(&sp);
    /* user holdout: test users train on nothing, so their items never count */
    cr_assert_eq(sd_split_make(&sp, &s, SD_SPLIT_USER, 1, &err), 0, "%s", err.msg);
    sd_train_item_counts(&s, &sp, counts);
    int64_t total = 0, expect = 0;
    for (int i = 0; i < 5; i++) total += counts[i];
    for (int u = 0; u < s.n_users; u++) expect += sp.train_len[u];
    cr_assert_eq(total, expect);
    sd_split_free(&sp);
    sd_sequences_free(&s);
}

static int nan_score(void *model, int n, const int32_t *users, const int32_t *const *hist, const int32_t *hist_len,
                     float *scores, sd_err *err) {
    (void)users; (void)hist; (void)hist_len; (void)err;
    int32_t n_items = *(int32_t *)model;
    for (size_t k = 0; k < (size_t)n * n_items; k++) scores[k] = k == 5 ? NAN : 1.0f;
    return 0;
}
static int failing_score(void *model, int n, const int32_t *users, const int32_t *const *hist,
                         const int32_t *hist_len, float *scores, sd_err *err) {
    (void)model; (void)n; (void)users; (void)hist; (void)hist_len; (void)scores;
    return sd_errf(err, SD_EIO, "checkpoint unreadable");
}

Test(eval_protocols, model_errors_are_reported) {
    sd_sequences s; sd_split sp;
    make_random_data(40, 30, 6, &s, &sp);
    int32_t n_items = s.n_items;
    sd_scorer sc = {.name = "nanny", .n_items = n_items, .model = &n_items, .score_batch = nan_score};
    sd_eval_opts o = sd_eval_defaults();
    o.progress = false;
    sd_metrics m;
    sd_err err = {0};
    cr_assert_lt(sd_evaluate(&sc, &s, &sp, &o, &m, NULL, &err), 0);
    cr_assert(strstr(err.msg, "NaN") && strstr(err.msg, "nanny") && strstr(err.msg, "user u"), "%s", err.msg);
    sc.concurrent = true;
    cr_assert_lt(sd_evaluate(&sc, &s, &sp, &o, &m, NULL, &err), 0);
    cr_assert(strstr(err.msg, "NaN"), "%s", err.msg);
    sc.score_batch = failing_score;
    cr_assert_eq(sd_evaluate(&sc, &s, &sp, &o, &m, NULL, &err), SD_EIO);
    cr_assert(strstr(err.msg, "model nanny: checkpoint unreadable"), "%s", err.msg);
    sc.n_items = n_items + 1;
    cr_assert_eq(sd_evaluate(&sc, &s, &sp, &o, &m, NULL, &err), SD_ESTATE);
    cr_assert(strstr(err.msg, "items"), "%s", err.msg);
    sd_split_free(&sp);
    sd_sequences_free(&s);
}
