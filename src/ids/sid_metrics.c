#include "ids/sid_metrics.h"
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/rng.h"
#include "base/sort.h"
#include "base/strmap.h"
#include "nn/gemm.h"

void sd_level_stats_of(const int32_t *codes, int64_t n, int width, int level, int32_t K, sd_level_stats *out) {
    int64_t *cnt = sd_xcalloc((size_t)K, sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) cnt[codes[i * width + level]]++;
    memset(out, 0, sizeof *out);
    double h = 0;
    for (int32_t k = 0; k < K; k++) {
        if (!cnt[k]) continue;
        out->used++;
        if (cnt[k] > out->largest) out->largest = cnt[k];
        double p = (double)cnt[k] / (double)n;
        h -= p * log(p);
    }
    out->perplexity = exp(h);
    free(cnt);
}

double sd_recon_mse(const float *emb, const float *recon, int64_t n, int64_t d) {
    double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static)
    for (int64_t i = 0; i < n * d; i++) {
        double t = (double)emb[i] - recon[i];
        s += t * t;
    }
    return s / ((double)n * (double)d);
}

static double purity_of(const int32_t *cluster, const int32_t *labels, const int64_t *idx, int64_t m, int32_t K,
                        int32_t n_labels, int64_t *table) {
    memset(table, 0, sizeof(int64_t) * (size_t)K * n_labels);
    for (int64_t j = 0; j < m; j++) table[(int64_t)cluster[idx[j]] * n_labels + labels[idx[j]]]++;
    int64_t hit = 0;
    for (int32_t k = 0; k < K; k++) {
        int64_t best = 0;
        for (int32_t l = 0; l < n_labels; l++)
            if (table[(int64_t)k * n_labels + l] > best) best = table[(int64_t)k * n_labels + l];
        hit += best;
    }
    return (double)hit / (double)m;
}

int64_t sd_purity(const int32_t *cluster, int64_t n, int32_t K, const int32_t *labels, int32_t n_labels, uint64_t seed,
                  int trials, double *purity, double *random_purity) {
    int64_t *idx = sd_xmalloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (labels[i] >= 0) idx[m++] = i;
    *purity = *random_purity = 0;
    if (!m || n_labels < 1) { free(idx); return 0; }
    int64_t *table = sd_xmalloc(sizeof(int64_t) * (size_t)K * n_labels);
    *purity = purity_of(cluster, labels, idx, m, K, n_labels, table);
    /* shuffle the labels among the labelled items: cluster sizes stay, any link to content goes */
    int32_t *shuf = sd_xmalloc(sizeof(int32_t) * (size_t)n);
    int32_t *lab = sd_xmalloc(sizeof(int32_t) * (size_t)m);
    for (int64_t j = 0; j < m; j++) lab[j] = labels[idx[j]];
    sd_rng rng;
    sd_rng_stream(&rng, seed, 0x70757269);
    double acc = 0;
    for (int t = 0; t < trials; t++) {
        sd_rng_shuffle_i32(&rng, lab, (size_t)m);
        for (int64_t j = 0; j < m; j++) shuf[idx[j]] = lab[j];
        acc += purity_of(cluster, shuf, idx, m, K, n_labels, table);
    }
    *random_purity = trials > 0 ? acc / trials : 0;
    free(shuf); free(lab); free(table); free(idx);
    return m;
}

void sd_attr_labels(const sd_catalog *cat, const char *key, int32_t *labels, int32_t *n_labels) {
    sd_strmap m;
    sd_strmap_init(&m, 64);
    int32_t nl = 0;
    for (int32_t i = 0; i < cat->n_items; i++) {
        const char *v = sd_item_attr(cat, i, key);
        if (!v) { labels[i] = -1; continue; }
        int32_t prev = sd_strmap_put(&m, v, strlen(v), nl);
        labels[i] = prev >= 0 ? prev : nl++;
    }
    sd_strmap_free(&m);
    *n_labels = nl;
}

/* sum over groups of (size / n)^2 for groups of equal codes[:, 0..depth) */
static int cmp_rows(const void *a, const void *b, void *ctx) {
    const int *wd = ctx; /* {width, depth} */
    const int32_t *x = (const int32_t *)a, *y = (const int32_t *)b;
    (void)wd;
    for (int l = 0; l < wd[1]; l++)
        if (x[l] != y[l]) return x[l] < y[l] ? -1 : 1;
    return 0;
}

static double chance_same(const int32_t *codes, int64_t n, int width, int depth) {
    int32_t *rows = sd_xmalloc(sizeof(int32_t) * (size_t)n * depth);
    for (int64_t i = 0; i < n; i++) memcpy(rows + i * depth, codes + i * width, sizeof(int32_t) * depth);
    int wd[2] = {depth, depth};
    sd_sort(rows, (size_t)n, sizeof(int32_t) * depth, cmp_rows, wd);
    double s = 0;
    for (int64_t a = 0, b; a < n; a = b) {
        for (b = a + 1; b < n && !cmp_rows(rows + a * depth, rows + b * depth, wd); b++) {}
        double p = (double)(b - a) / (double)n;
        s += p * p;
    }
    free(rows);
    return s;
}

void sd_neighbour_share(const float *emb, int64_t n, int64_t d, const int32_t *codes, int width, int64_t max_queries,
                        uint64_t seed, sd_neighbour_stats *out) {
    memset(out, 0, sizeof *out);
    if (n < 2) return;
    int64_t m = max_queries < n ? max_queries : n;
    int32_t *q = sd_xmalloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) q[i] = (int32_t)i;
    if (m < n) {
        sd_rng rng;
        sd_rng_stream(&rng, seed, 0x6e6e);
        sd_rng_shuffle_i32(&rng, q, (size_t)n);
    }
    float *x2 = sd_xmalloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t j = 0; j < d; j++) s += (double)emb[i * d + j] * emb[i * d + j];
        x2[i] = (float)s;
    }
    enum { QB = 256 };
    float *Q = sd_xmalloc(sizeof(float) * QB * (size_t)d), *G = sd_xmalloc(sizeof(float) * QB * (size_t)n);
    int64_t hit1 = 0, hit2 = 0;
    for (int64_t a = 0; a < m; a += QB) {
        int nb = (int)(m - a < QB ? m - a : QB);
        for (int r = 0; r < nb; r++) memcpy(Q + (size_t)r * d, emb + (int64_t)q[a + r] * d, sizeof(float) * d);
        sd_sgemm(false, true, nb, (int)n, (int)d, 1.0f, Q, (int)d, emb, (int)d, 0.0f, G, (int)n);
        for (int r = 0; r < nb; r++) {
            int32_t i = q[a + r], best = -1;
            float bd = INFINITY;
            const float *g = G + (size_t)r * n;
            for (int64_t j = 0; j < n; j++) {
                if (j == i) continue;
                float dist = x2[j] - 2 * g[j]; /* + x2[i], the same for every j */
                if (dist < bd) bd = dist, best = (int32_t)j;
            }
            if (best < 0) continue;
            bool s1 = codes[(int64_t)i * width] == codes[(int64_t)best * width];
            hit1 += s1;
            hit2 += s1 && width > 1 && codes[(int64_t)i * width + 1] == codes[(int64_t)best * width + 1];
        }
    }
    out->queries = m;
    out->share1 = (double)hit1 / (double)m;
    out->share2 = (double)hit2 / (double)m;
    out->chance1 = chance_same(codes, n, width, 1);
    out->chance2 = width > 1 ? chance_same(codes, n, width, 2) : out->chance1;
    free(q); free(x2); free(Q); free(G);
}
