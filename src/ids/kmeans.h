/* k-means on dense row-major float vectors: k-means++ seeding on a seeded random sample, Lloyd
 * iterations whose distance step is one sgemm per block of points (||x||^2 - 2 x.c + ||c||^2),
 * reseeding of empty clusters from the points farthest from their centroid, and an optional
 * balanced assignment that caps every cluster at ceil(n / k) points (as OneRec's balanced
 * k-means: points taken in order of their distance to the nearest centroid, each to its nearest
 * centroid that still has room). Deterministic for a seed and thread count. */
#ifndef SD_KMEANS_H
#define SD_KMEANS_H
#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"

typedef struct sd_kmeans_opts {
    int k;
    int max_iters;        /* Lloyd iterations at most (20) */
    double tol;           /* stop once at most tol * n points change cluster (1e-4) */
    uint64_t seed;
    bool balanced;
    int64_t init_sample;  /* points k-means++ seeds from; 0 = min(n, 32 k) */
    const char *progress; /* progress-bar label, NULL for none */
} sd_kmeans_opts;
void sd_kmeans_defaults(sd_kmeans_opts *o, int k);

typedef struct sd_kmeans_stats {
    int iters;            /* Lloyd iterations run */
    double inertia;       /* sum of squared distances to the assigned centroid (final assignment) */
    int64_t reseeded;     /* empty clusters refilled over the run */
    int64_t changed_last; /* points that changed cluster in the last iteration */
} sd_kmeans_stats;

/* x [n, d] -> centroids [k, d], assign [n] in 0..k-1 (consistent with the returned centroids:
 * the last step is an assignment). 1 <= k <= n. st may be NULL. */
int sd_kmeans(const float *x, int64_t n, int64_t d, const sd_kmeans_opts *o, float *centroids, int32_t *assign,
              sd_kmeans_stats *st, sd_err *err);

/* k-means++ seeds only: centroids [k, d] from a sample of init_sample points (see opts). */
void sd_kmeanspp(const float *x, int64_t n, int64_t d, int k, int64_t init_sample, uint64_t seed, float *centroids);

/* Nearest centroid of each point (ties to the lower index); dist [n] (may be NULL) gets the
 * squared distance. */
void sd_kmeans_nearest(const float *x, int64_t n, int64_t d, const float *centroids, int k, int32_t *assign,
                       float *dist);

#endif
