#include "ids/sid_metrics.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/rng.h"
#include "base/strmap.h"

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
