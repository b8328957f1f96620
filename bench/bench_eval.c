/* Evaluation speed at the scale of the Amazon Video Games data (about 31k users x 24k items):
 * full ranking and sampled protocols for the popularity and random baselines, against a baseline
 * that ranks by sorting each user's scores (what a naive evaluator does).
 * Usage: build/bench/bench_eval [users] [items] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/rng.h"
#include "base/threads.h"
#include "eval/baselines.h"
#include "eval/evaluate.h"
#include "bench_util.h"

static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

static double run(const sd_scorer *sc, const sd_sequences *s, const sd_split *sp, sd_protocol p, sd_metrics *m) {
    sd_eval_opts o = sd_eval_defaults();
    o.protocol = p;
    o.progress = false;
    sd_err err = {0};
    double t0 = sd_now();
    if (sd_evaluate(sc, s, sp, &o, m, NULL, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    return sd_now() - t0;
}

int main(int argc, char **argv) {
    bench_start(argv);
    int n_users = argc > 1 ? atoi(argv[1]) : 31000, n_items = argc > 2 ? atoi(argv[2]) : 24000;
    sd_quiet = true;
    sd_rng r;
    sd_rng_seed(&r, 1);
    sd_seqbuilder *b = sd_seqbuilder_new();
    for (int u = 0; u < n_users; u++) {
        char name[16];
        snprintf(name, sizeof name, "u%d", u);
        int len = 3 + (int)sd_rng_below(&r, 12);
        for (int k = 0; k < len; k++) { /* skewed popularity: product of two uniforms */
            uint64_t a = sd_rng_below(&r, (uint64_t)n_items), c = sd_rng_below(&r, (uint64_t)n_items);
            sd_seqbuilder_add(b, name, strlen(name), (int32_t)(a * c / (uint64_t)n_items), k);
        }
    }
    sd_seq_opts so = {.seed = 1, .min_len = 3, .max_len = 0};
    sd_sequences s;
    sd_split sp;
    sd_err err = {0};
    if (sd_seqbuilder_finish(b, n_items, &so, &s, &err) || sd_split_make(&sp, &s, SD_SPLIT_LOO, 1, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    sd_seqbuilder_free(b);
    int32_t n_eval;
    free(sd_eval_users(&sp, SD_PART_TEST, &n_eval));
    printf("data: %d users evaluated x %d items, %lld interactions, %d threads\n", n_eval, s.n_items,
           (long long)s.n_inter, sd_threads());

    sd_scorer pop, rnd;
    sd_baseline_popularity(&s, &sp, false, &pop, &err);
    sd_baseline_random(s.n_items, 1, &rnd, &err);
    sd_metrics m;
    const sd_scorer *models[2] = {&pop, &rnd};
    double t_full_pop = 0;
    for (int k = 0; k < 2; k++)
        for (int p = 0; p < SD_PROTO_COUNT; p++) {
            double t = run(models[k], &s, &sp, (sd_protocol)p, &m);
            if (k == 0 && p == 0) t_full_pop = t;
            printf("%-11s %-12s %7.3f s  %8.0f users/s  NDCG@10 %.4f  MRR %.4f\n", models[k]->name,
                   sd_protocol_name((sd_protocol)p), t, n_eval / t, m.ndcg[1], m.mrr);
        }
    sd_set_threads(1);
    double t1 = run(&pop, &s, &sp, SD_PROTO_FULL, &m);
    printf("popularity  full, 1 thread %7.3f s  (%.2f ns per user-item)\n", t1, t1 * 1e9 / ((double)n_eval * s.n_items));
    sd_set_threads(0);

    /* baseline: sort each user's scores (1,000 users, extrapolated), one thread */
    int n_sort = n_eval < 1000 ? n_eval : 1000;
    float *row = sd_afloats((size_t)s.n_items);
    double t0 = sd_now();
    for (int u = 0; u < n_sort; u++) {
        const int32_t *h[1] = {sd_seq_items(&s, u)};
        int32_t hl[1] = {sp.test_pos[u]}, uu = u;
        pop.score_batch(pop.model, 1, &uu, h, hl, row, &err);
        qsort(row, (size_t)s.n_items, sizeof *row, cmp_desc);
    }
    double t_sort = (sd_now() - t0) * n_eval / n_sort;
    printf("baseline: qsort per user, 1 thread, extrapolated %.3f s; counting pass (1 thread) is %.0fx faster\n",
           t_sort, t_sort / t1);
    printf("popularity full ranking: %.3f s for %d x %d (all threads)\n", t_full_pop, n_eval, s.n_items);
    sd_afree(row);
    sd_scorer_free(&pop);
    sd_scorer_free(&rnd);
    sd_split_free(&sp);
    sd_sequences_free(&s);
    return 0;
}
