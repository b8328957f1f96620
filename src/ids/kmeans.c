#include "ids/kmeans.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/progress.h"
#include "base/rng.h"
#include "nn/gemm.h"

#define CHUNK 4096   /* points per distance block: [CHUNK, k] floats stay small */
#define MAX_CAND 32  /* nearest centroids remembered per point for the balanced assignment */
/* Up to this many floats (256 MB) the balanced assignment keeps every point's distance row and
 * scans it, rather than remembering candidates and recomputing rows whose candidates are full. */
#define FULL_DIST_MAX ((int64_t)1 << 26)

void sd_kmeans_defaults(sd_kmeans_opts *o, int k) {
    memset(o, 0, sizeof *o);
    o->k = k;
    o->max_iters = 20;
    o->tol = 1e-4;
    o->seed = 42;
}

static void row_norms(const float *x, int64_t n, int64_t d, float *out) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float *r = x + i * d;
        float s = 0;
        for (int64_t j = 0; j < d; j++) s += r[j] * r[j];
        out[i] = s;
    }
}

static float sqdist(const float *a, const float *b, int64_t d) {
    float s = 0;
    for (int64_t j = 0; j < d; j++) {
        float t = a[j] - b[j];
        s += t * t;
    }
    return s;
}

void sd_kmeanspp(const float *x, int64_t n, int64_t d, int k, int64_t init_sample, uint64_t seed, float *centroids) {
    sd_rng rng;
    sd_rng_stream(&rng, seed, 0x6b6d2b2b);
    int64_t m = init_sample > 0 ? init_sample : (int64_t)k * 32;
    if (m > n) m = n;
    if (m < k) m = k;
    /* sample without replacement: a partial Fisher-Yates shuffle of 0..n-1 */
    int32_t *idx = sd_xmalloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)i;
    for (int64_t i = 0; i < m; i++) {
        int64_t j = i + (int64_t)sd_rng_below(&rng, (uint64_t)(n - i));
        int32_t t = idx[i]; idx[i] = idx[j]; idx[j] = t;
    }
    float *mind = sd_xmalloc(sizeof(float) * (size_t)m);
    int64_t first = (int64_t)sd_rng_below(&rng, (uint64_t)m);
    memcpy(centroids, x + (int64_t)idx[first] * d, sizeof(float) * (size_t)d);
#pragma omp parallel for schedule(static)
    for (int64_t s = 0; s < m; s++) mind[s] = sqdist(x + (int64_t)idx[s] * d, centroids, d);
    for (int c = 1; c < k; c++) {
        double total = 0;
        for (int64_t s = 0; s < m; s++) total += mind[s];
        int64_t pick = -1;
        if (total > 0) {
            double r = sd_rng_double(&rng) * total, acc = 0;
            for (int64_t s = 0; s < m; s++) {
                acc += mind[s];
                if (mind[s] > 0 && acc > r) { pick = s; break; }
            }
            if (pick < 0) /* rounding at the end of the sum: the last point with mass */
                for (int64_t s = m - 1; s >= 0 && pick < 0; s--)
                    if (mind[s] > 0) pick = s;
        }
        if (pick < 0) pick = (int64_t)sd_rng_below(&rng, (uint64_t)m); /* all points coincide with centres */
        float *cen = centroids + (int64_t)c * d;
        memcpy(cen, x + (int64_t)idx[pick] * d, sizeof(float) * (size_t)d);
#pragma omp parallel for schedule(static)
        for (int64_t s = 0; s < m; s++) {
            float t = sqdist(x + (int64_t)idx[s] * d, cen, d);
            if (t < mind[s]) mind[s] = t;
        }
    }
    free(mind);
    free(idx);
}

/* Distances of points [i0, i0 + rows) to all centroids via one sgemm; fills nearest and, when
 * cand is given, the ncand nearest (sorted by distance, then index). */
static void assign_block(const float *x, const float *x2, int64_t i0, int64_t rows, int64_t d, const float *c,
                         const float *c2, int k, float *g, int32_t *near, float *near_d, int32_t *cand, float *cand_d,
                         int ncand) {
    sd_sgemm_nt(omp_get_max_threads(), false, true, (int)rows, k, (int)d, -2.0f, x + i0 * d, (int)d, c, (int)d, 0.0f,
                g, k);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        int64_t i = i0 + r;
        float *gr = g + r * k;
        int best = 0;
        float bd = INFINITY;
        for (int j = 0; j < k; j++) {
            float t = x2[i] + c2[j] + gr[j];
            if (t < 0) t = 0;
            gr[j] = t;
            if (t < bd) { bd = t; best = j; }
        }
        near[i] = best;
        near_d[i] = bd;
        if (cand) {
            int32_t *ci = cand + i * ncand;
            float *cd = cand_d + i * ncand;
            int have = 0;
            for (int j = 0; j < k; j++) {
                float t = gr[j];
                if (have == ncand && t >= cd[have - 1]) continue;
                int p = have < ncand ? have++ : ncand - 1;
                while (p > 0 && cd[p - 1] > t) { cd[p] = cd[p - 1]; ci[p] = ci[p - 1]; p--; }
                cd[p] = t;
                ci[p] = j;
            }
        }
    }
}

void sd_kmeans_nearest(const float *x, int64_t n, int64_t d, const float *c, int k, int32_t *assign, float *dist) {
    float *x2 = sd_xmalloc(sizeof(float) * (size_t)n), *c2 = sd_xmalloc(sizeof(float) * (size_t)k);
    float *g = sd_afloats((size_t)CHUNK * k), *dd = dist ? dist : sd_xmalloc(sizeof(float) * (size_t)n);
    row_norms(x, n, d, x2);
    row_norms(c, k, d, c2);
    for (int64_t i0 = 0; i0 < n; i0 += CHUNK)
        assign_block(x, x2, i0, n - i0 < CHUNK ? n - i0 : CHUNK, d, c, c2, k, g, assign, dd, NULL, NULL, 0);
    if (!dist) free(dd);
    free(x2); free(c2); sd_afree(g);
}

typedef struct pt_key { float key; int32_t i; } pt_key;
static int cmp_key_asc(const void *a, const void *b) {
    const pt_key *p = a, *q = b;
    if (p->key != q->key) return p->key < q->key ? -1 : 1;
    return p->i - q->i;
}
static int cmp_key_desc(const void *a, const void *b) {
    const pt_key *p = a, *q = b;
    if (p->key != q->key) return p->key > q->key ? -1 : 1;
    return p->i - q->i;
}

/* Capacity-constrained assignment: most confident points (nearest centroid closest) first, each
 * to its nearest centroid with room. With the full distance matrix each point scans its row;
 * otherwise it tries its remembered candidates and, if all are full, recomputes its row. */
static void balanced_assign(const float *x, const float *x2, int64_t n, int64_t d, const float *c, const float *c2,
                            int k, const int32_t *cand, const float *cand_d, int ncand, const float *near_d,
                            const float *full, int32_t *assign, float *dist) {
    int64_t cap = (n + k - 1) / k;
    pt_key *ord = sd_xmalloc(sizeof(pt_key) * (size_t)n);
    for (int64_t i = 0; i < n; i++) { ord[i].key = near_d[i]; ord[i].i = (int32_t)i; }
    qsort(ord, (size_t)n, sizeof *ord, cmp_key_asc);
    int64_t *count = sd_xcalloc((size_t)k, sizeof(int64_t));
    float *row = sd_xmalloc(sizeof(float) * (size_t)k);
    for (int64_t o = 0; o < n; o++) {
        int64_t i = ord[o].i;
        int chosen = -1;
        float cd = 0;
        for (int t = 0; !full && t < ncand; t++) {
            int j = cand[i * ncand + t];
            if (count[j] < cap) { chosen = j; cd = cand_d[i * ncand + t]; break; }
        }
        if (chosen < 0 && full) {
            float bd = INFINITY;
            const float *fr = full + i * k;
            for (int j = 0; j < k; j++)
                if (count[j] < cap && fr[j] < bd) { bd = fr[j]; chosen = j; }
            cd = bd;
        }
        if (chosen < 0) {
            sd_sgemv(k, (int)d, 1.0f, c, (int)d, x + i * d, 0.0f, row);
            float bd = INFINITY;
            for (int j = 0; j < k; j++) {
                if (count[j] >= cap) continue;
                float t = x2[i] + c2[j] - 2 * row[j];
                if (t < bd) { bd = t; chosen = j; }
            }
            cd = bd < 0 ? 0 : bd;
        }
        assign[i] = chosen;
        dist[i] = cd;
        count[chosen]++;
    }
    free(row);
    free(count);
    free(ord);
}

/* One E-step over all points: nearest (or balanced) assignment into assign/dist. */
static void e_step(const float *x, const float *x2, int64_t n, int64_t d, const float *c, int k, bool balanced,
                   float *c2, float *g, float *full, int32_t *assign, float *dist, int32_t *cand, float *cand_d,
                   int ncand, float *near_d) {
    row_norms(c, k, d, c2);
    for (int64_t i0 = 0; i0 < n; i0 += CHUNK)
        assign_block(x, x2, i0, n - i0 < CHUNK ? n - i0 : CHUNK, d, c, c2, k, full ? full + i0 * k : g, assign,
                     balanced ? near_d : dist, balanced && !full ? cand : NULL, cand_d, ncand);
    if (balanced) balanced_assign(x, x2, n, d, c, c2, k, cand, cand_d, ncand, near_d, full, assign, dist);
}

/* M-step: centroid = mean of its points, summed in double per thread over a fixed split of the
 * points and reduced in thread order (deterministic for a thread count). Empty clusters take the
 * points farthest from their centroid. Returns the number reseeded. */
static int64_t m_step(const float *x, int64_t n, int64_t d, int k, int32_t *assign, const float *dist, float *c) {
    int nt = omp_get_max_threads();
    double *sums = sd_xcalloc(sd_mul_size((size_t)nt, (size_t)k * (size_t)d), sizeof(double));
    int64_t *counts = sd_xcalloc((size_t)nt * (size_t)k, sizeof(int64_t));
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        int64_t lo = n * t / T, hi = n * (t + 1) / T;
        double *s = sums + (size_t)t * k * d;
        int64_t *cn = counts + (size_t)t * k;
        for (int64_t i = lo; i < hi; i++) {
            double *sj = s + (int64_t)assign[i] * d;
            const float *xi = x + i * d;
            for (int64_t j = 0; j < d; j++) sj[j] += xi[j];
            cn[assign[i]]++;
        }
    }
    for (int t = 1; t < nt; t++) {
        for (size_t j = 0; j < (size_t)k * d; j++) sums[j] += sums[(size_t)t * k * d + j];
        for (int j = 0; j < k; j++) counts[j] += counts[(size_t)t * k + j];
    }
    int64_t empty = 0;
    for (int j = 0; j < k; j++) empty += counts[j] == 0;
    if (empty) {
        pt_key *far = sd_xmalloc(sizeof(pt_key) * (size_t)n);
        for (int64_t i = 0; i < n; i++) { far[i].key = dist[i]; far[i].i = (int32_t)i; }
        qsort(far, (size_t)n, sizeof *far, cmp_key_desc);
        int64_t next = 0;
        for (int j = 0; j < k; j++) {
            if (counts[j]) continue;
            while (next < n && counts[assign[far[next].i]] <= 1) next++;
            if (next == n) break;
            int64_t i = far[next++].i;
            int a = assign[i];
            for (int64_t q = 0; q < d; q++) {
                sums[(int64_t)a * d + q] -= x[i * d + q];
                sums[(int64_t)j * d + q] = x[i * d + q];
            }
            counts[a]--;
            counts[j] = 1;
            assign[i] = j;
        }
        free(far);
    }
    for (int j = 0; j < k; j++)
        if (counts[j])
            for (int64_t q = 0; q < d; q++) c[(int64_t)j * d + q] = (float)(sums[(int64_t)j * d + q] / counts[j]);
    free(sums);
    free(counts);
    return empty;
}

int sd_kmeans(const float *x, int64_t n, int64_t d, const sd_kmeans_opts *o, float *c, int32_t *assign,
              sd_kmeans_stats *st, sd_err *err) {
    int k = o->k;
    if (k < 1 || k > n) return sd_errf(err, SD_ERANGE, "k-means: k = %d clusters needs 1 <= k <= %lld points", k, (long long)n);
    if (d < 1) return sd_errf(err, SD_ERANGE, "k-means: dimension %lld < 1", (long long)d);
    sd_kmeanspp(x, n, d, k, o->init_sample, o->seed, c);
    float *x2 = sd_xmalloc(sizeof(float) * (size_t)n), *c2 = sd_xmalloc(sizeof(float) * (size_t)k);
    float *dist = sd_xmalloc(sizeof(float) * (size_t)n), *g = sd_afloats((size_t)CHUNK * k);
    int32_t *prev = sd_xmalloc(sizeof(int32_t) * (size_t)n);
    int ncand = k < MAX_CAND ? k : MAX_CAND;
    int32_t *cand = NULL;
    float *cand_d = NULL, *near_d = NULL, *full = NULL;
    if (o->balanced) {
        int64_t max_full = o->max_dist_floats ? o->max_dist_floats : FULL_DIST_MAX;
        if (n * k <= max_full) {
            full = sd_afloats((size_t)n * k);
        } else {
            cand = sd_xmalloc(sd_mul_size((size_t)n * ncand, sizeof(int32_t)));
            cand_d = sd_xmalloc(sd_mul_size((size_t)n * ncand, sizeof(float)));
        }
        near_d = sd_xmalloc(sizeof(float) * (size_t)n);
    }
    row_norms(x, n, d, x2);
    sd_kmeans_stats s = {0};
    sd_progress pg;
    if (o->progress) sd_progress_start(&pg, o->progress, o->max_iters, "iters");
    for (int64_t i = 0; i < n; i++) assign[i] = -1;
    bool stale = true; /* centroids moved since the last assignment (or none made yet) */
    for (int it = 0; it < o->max_iters; it++) {
        memcpy(prev, assign, sizeof(int32_t) * (size_t)n);
        e_step(x, x2, n, d, c, k, o->balanced, c2, g, full, assign, dist, cand, cand_d, ncand, near_d);
        int64_t changed = 0;
        for (int64_t i = 0; i < n; i++) changed += prev[i] != assign[i];
        s.iters = it + 1;
        s.changed_last = changed;
        if (o->progress) {
            sd_progress_note(&pg, "moved %lld", (long long)changed);
            sd_progress_set(&pg, it + 1);
        }
        stale = false;
        if (it > 0 && (double)changed <= o->tol * (double)n) break;
        s.reseeded += m_step(x, n, d, k, assign, dist, c);
        stale = true;
    }
    /* final E-step so assign matches the centroids handed back */
    if (stale) e_step(x, x2, n, d, c, k, o->balanced, c2, g, full, assign, dist, cand, cand_d, ncand, near_d);
    if (o->progress) sd_progress_finish(&pg);
    double inertia = 0;
    for (int64_t i = 0; i < n; i++) inertia += dist[i];
    s.inertia = inertia;
    if (st) *st = s;
    free(x2); free(c2); free(dist); sd_afree(g); free(prev);
    free(cand); free(cand_d); free(near_d); sd_afree(full);
    return 0;
}
