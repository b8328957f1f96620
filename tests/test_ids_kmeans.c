#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/rng.h"
#include "ids/kmeans.h"
#include "ids/rqkmeans.h"

/* n points in d dims around `k` centres 10 apart (unit noise); truth[i] = blob. sizes may be NULL (equal). */
static float *blobs(int n, int d, int k, const int *sizes, int32_t *truth, uint64_t seed) {
    float *x = malloc(sizeof(float) * n * d);
    sd_rng r;
    sd_rng_seed(&r, seed);
    int b = 0, left = sizes ? sizes[0] : n / k;
    for (int i = 0; i < n; i++) {
        while (left == 0 && b + 1 < k) { b++; left = sizes ? sizes[b] : n / k; }
        left--;
        truth[i] = b;
        for (int j = 0; j < d; j++) x[i * d + j] = (float)sd_rng_normal(&r) + (j == b % d ? 10.0f * (1 + b / d) : 0.0f);
    }
    return x;
}

Test(ids_kmeans, recovers_known_clusters) {
    int n = 400, d = 8, k = 4;
    int32_t truth[400], assign[400];
    float *x = blobs(n, d, k, NULL, truth, 1), c[32];
    sd_kmeans_opts o;
    sd_kmeans_defaults(&o, k);
    sd_kmeans_stats st;
    sd_err err = {0};
    cr_assert_eq(sd_kmeans(x, n, d, &o, c, assign, &st, &err), 0, "%s", err.msg);
    /* every blob lands in exactly one cluster and no two blobs share one */
    int map[4] = {-1, -1, -1, -1};
    for (int i = 0; i < n; i++) {
        if (map[truth[i]] < 0) map[truth[i]] = assign[i];
        cr_assert_eq(assign[i], map[truth[i]], "point %d", i);
    }
    for (int a = 0; a < k; a++)
        for (int b = a + 1; b < k; b++) cr_assert_neq(map[a], map[b]);
    cr_assert_lt(st.inertia / n, 2.0 * d); /* ~ d per point for unit noise */
    free(x);
}

Test(ids_kmeans, seeding_is_deterministic_by_seed) {
    int n = 300, d = 6, k = 5;
    int32_t truth[300];
    float *x = blobs(n, d, k, NULL, truth, 2);
    float a[30], b[30], c[30];
    sd_kmeanspp(x, n, d, k, 0, 7, a);
    sd_kmeanspp(x, n, d, k, 0, 7, b);
    sd_kmeanspp(x, n, d, k, 0, 8, c);
    cr_assert_eq(memcmp(a, b, sizeof a), 0);
    cr_assert_neq(memcmp(a, c, sizeof a), 0);
    int32_t s1[300], s2[300];
    sd_kmeans_opts o;
    sd_kmeans_defaults(&o, k);
    o.seed = 11;
    cr_assert_eq(sd_kmeans(x, n, d, &o, a, s1, NULL, NULL), 0);
    cr_assert_eq(sd_kmeans(x, n, d, &o, b, s2, NULL, NULL), 0);
    cr_assert_eq(memcmp(a, b, sizeof a), 0);
    cr_assert_eq(memcmp(s1, s2, sizeof s1), 0);
    free(x);
}

Test(ids_kmeans, balanced_caps_cluster_sizes) {
    int n = 400, d = 4, k = 4, sizes[4] = {300, 50, 30, 20};
    int32_t truth[400], assign[400];
    float *x = blobs(n, d, k, sizes, truth, 3), c[16];
    sd_kmeans_opts o;
    sd_kmeans_defaults(&o, k);
    int64_t count[4] = {0};
    /* unbalanced k-means puts more than 100 points somewhere (so the cap below is a real test) */
    cr_assert_eq(sd_kmeans(x, n, d, &o, c, assign, NULL, NULL), 0);
    int64_t maxc = 0;
    for (int i = 0; i < n; i++) count[assign[i]]++;
    for (int j = 0; j < k; j++) maxc = count[j] > maxc ? count[j] : maxc;
    cr_assert_gt(maxc, 100);
    o.balanced = true;
    cr_assert_eq(sd_kmeans(x, n, d, &o, c, assign, NULL, NULL), 0);
    memset(count, 0, sizeof count);
    for (int i = 0; i < n; i++) count[assign[i]]++;
    for (int j = 0; j < k; j++) cr_assert_leq(count[j], 100, "cluster %d has %lld", j, (long long)count[j]);
    /* small blobs keep their own clusters */
    for (int i = 301; i < n; i++) cr_assert_eq(assign[i], assign[truth[i] == 1 ? 300 : truth[i] == 2 ? 350 : 380]);
    /* the candidate-list path (no full distance matrix) respects the cap too; k = 40 > 32
     * candidates, so some points fall back to recomputing their row */
    int32_t assign2[400];
    float c40[160];
    sd_kmeans_defaults(&o, 40);
    o.balanced = true;
    o.max_dist_floats = -1;
    cr_assert_eq(sd_kmeans(x, n, d, &o, c40, assign2, NULL, NULL), 0);
    int64_t count40[40] = {0};
    for (int i = 0; i < n; i++) count40[assign2[i]]++;
    for (int j = 0; j < 40; j++) cr_assert_leq(count40[j], 10, "cluster %d has %lld", j, (long long)count40[j]);
    free(x);
}

Test(ids_kmeans, k_equals_distinct_points_and_bad_k) {
    /* 10 distinct points, k = 10: each point its own cluster, zero inertia (empty clusters reseeded) */
    int n = 40, d = 3, k = 10;
    float x[120], c[30];
    int32_t assign[40];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) x[i * d + j] = (float)((i % 10) * (j + 1));
    sd_kmeans_opts o;
    sd_kmeans_defaults(&o, k);
    sd_kmeans_stats st;
    cr_assert_eq(sd_kmeans(x, n, d, &o, c, assign, &st, NULL), 0);
    cr_assert_float_eq(st.inertia, 0.0, 1e-6);
    for (int i = 10; i < n; i++) cr_assert_eq(assign[i], assign[i % 10]);
    for (int a = 0; a < 10; a++)
        for (int b = a + 1; b < 10; b++) cr_assert_neq(assign[a], assign[b]);
    sd_err err = {0};
    o.k = 41;
    cr_assert_lt(sd_kmeans(x, n, d, &o, c, assign, NULL, &err), 0);
    cr_assert(strstr(err.msg, "k = 41"), "%s", err.msg);
}

/* Two-level hierarchy: 4 coarse blobs, each split in 4 fine blobs; RQ-KMeans with 2 levels of
 * 4 codes finds the coarse blob at level 0 and the fine one at level 1, and reconstructs each
 * point to about its noise (MSE ~ noise variance 0.01 per entry, allow 0.05). */
Test(ids_kmeans, rqkmeans_hierarchy) {
    int n = 1600, d = 8;
    float *x = malloc(sizeof(float) * n * d);
    int32_t coarse[1600], fine[1600];
    sd_rng r;
    sd_rng_seed(&r, 4);
    for (int i = 0; i < n; i++) {
        coarse[i] = i % 4;
        fine[i] = (i / 4) % 4;
        for (int j = 0; j < d; j++)
            x[i * d + j] = 0.1f * (float)sd_rng_normal(&r) + (j == coarse[i] ? 20.0f : 0) + (j == 4 + fine[i] ? 3.0f : 0);
    }
    sd_sid_params p = {.levels = 2, .codes = 4, .iters = 20, .seed = 5};
    sd_sid_output out;
    sd_err err = {0};
    cr_assert_eq(sd_rqkmeans(x, n, d, &p, &out, &err), 0, "%s", err.msg);
    for (int i = 4; i < n; i++) {
        cr_assert_eq(out.codes[i * 2] == out.codes[(i % 4) * 2], 1, "level 0, point %d", i);
        int ref = (i / 4) % 4 * 4; /* a point with the same fine blob */
        cr_assert_eq(out.codes[i * 2 + 1], out.codes[ref * 2 + 1], "level 1, point %d", i);
    }
    double mse = 0;
    for (int i = 0; i < n * d; i++) mse += (x[i] - out.recon[i]) * (double)(x[i] - out.recon[i]);
    cr_assert_lt(mse / (n * d), 0.05);
    sd_sid_output_free(&out);
    p.codes = 1;
    cr_assert_lt(sd_rqkmeans(x, n, d, &p, &out, &err), 0);
    free(x);
}
