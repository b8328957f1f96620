#include "ids/rqkmeans.h"
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/rng.h"
#include "base/sort.h"
#include "ids/kmeans.h"

static float sqdist_rows(const float *a, const float *b, int64_t d) {
    float s = 0;
    for (int64_t j = 0; j < d; j++) {
        float t = a[j] - b[j];
        s += t * t;
    }
    return s;
}

/* ---- collision spreading at the last level ----
 * Items that share all L codes are told apart only by the uniqueness code, which carries no
 * meaning. Within a group of items sharing the first L-1 codes, the last code is free to differ:
 * each item of a full collision but the one nearest the shared centroid moves to its nearest
 * last-level centroid that no item of its (L-1)-prefix group holds yet (LC-Rec's uniform
 * semantic mapping redistributes the last level the same way, by Sinkhorn). Only colliding items
 * move, each to its next-best code, so the earlier levels and every other item keep their codes;
 * a group with more than K items keeps what it cannot spread. */

typedef struct spread_ctx {
    const int32_t *codes;
    int L;
    const float *dist; /* squared distance of each item to its own last-level centroid */
} spread_ctx;

/* order: first L-1 codes, then the last code, then distance, then item index (deterministic) */
static int cmp_prefix(const void *a, const void *b, void *ctx) {
    const spread_ctx *s = ctx;
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    for (int l = 0; l < s->L; l++) {
        int32_t ci = s->codes[(int64_t)i * s->L + l], cj = s->codes[(int64_t)j * s->L + l];
        if (ci != cj) return ci < cj ? -1 : 1;
    }
    if (s->dist[i] != s->dist[j]) return s->dist[i] < s->dist[j] ? -1 : 1;
    return i < j ? -1 : i > j;
}

static bool same_prefix(const int32_t *codes, int L, int32_t i, int32_t j, int upto) {
    for (int l = 0; l < upto; l++)
        if (codes[(int64_t)i * L + l] != codes[(int64_t)j * L + l]) return false;
    return true;
}

/* resid [n, d]: what is left before the last level; c [K, d] its centroids; assign [n] its
 * codes (changed in place, and in codes[:, L-1]). Returns the items moved. */
static int64_t spread_last_level(const float *resid, int64_t n, int64_t d, const float *c, int K, int L,
                                 int32_t *codes, int32_t *assign) {
    float *dist = sd_xmalloc(sizeof(float) * (size_t)n);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) dist[i] = sqdist_rows(resid + i * d, c + (int64_t)assign[i] * d, d);
    int32_t *ord = sd_xmalloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) ord[i] = (int32_t)i;
    spread_ctx ctx = {codes, L, dist};
    sd_sort(ord, (size_t)n, sizeof *ord, cmp_prefix, &ctx);
    /* group starts: runs of equal first L-1 codes */
    int64_t *gs = sd_xmalloc(sizeof(int64_t) * ((size_t)n + 1)), ng = 0;
    for (int64_t r = 0; r < n; r++)
        if (!r || !same_prefix(codes, L, ord[r - 1], ord[r], L - 1)) gs[ng++] = r;
    gs[ng] = n;
    int64_t moved = 0;
#pragma omp parallel reduction(+ : moved)
    {
        unsigned char *taken = sd_xcalloc((size_t)K, 1);
        float *dk = sd_xmalloc(sizeof(float) * (size_t)K);
#pragma omp for schedule(dynamic, 16)
        for (int64_t g = 0; g < ng; g++) {
            int64_t a = gs[g], b = gs[g + 1];
            bool collide = false;
            for (int64_t r = a + 1; r < b && !collide; r++)
                collide = codes[(int64_t)ord[r] * L + L - 1] == codes[(int64_t)ord[r - 1] * L + L - 1];
            if (!collide || b - a > K) continue; /* nothing to do, or more items than codes */
            memset(taken, 0, (size_t)K);
            for (int64_t r = a; r < b; r++) taken[codes[(int64_t)ord[r] * L + L - 1]] = 1;
            int32_t prev = codes[(int64_t)ord[a] * L + L - 1];
            for (int64_t r = a + 1; r < b; r++) {
                /* the first of a run of equal last codes is the nearest: it keeps its code. Items
                 * are visited once, in order, so ci is still the item's own code here. */
                int32_t i = ord[r], ci = codes[(int64_t)i * L + L - 1];
                bool dup = ci == prev;
                prev = ci;
                if (!dup) continue;
                const float *x = resid + (int64_t)i * d;
                int best = -1;
                float bd = INFINITY;
                for (int k = 0; k < K; k++) {
                    if (taken[k]) continue;
                    dk[k] = sqdist_rows(x, c + (int64_t)k * d, d);
                    if (dk[k] < bd) bd = dk[k], best = k;
                }
                if (best < 0) continue;
                taken[best] = 1;
                codes[(int64_t)i * L + L - 1] = best;
                assign[i] = best;
                moved++;
            }
        }
        free(taken);
        free(dk);
    }
    free(gs); free(ord); free(dist);
    return moved;
}


int sd_rqkmeans(const float *emb, int64_t n, int64_t d, const sd_sid_params *p, sd_sid_output *out, sd_err *err) {
    memset(out, 0, sizeof *out);
    int L = p->levels, K = p->codes;
    if (L < 1) return sd_errf(err, SD_EUSAGE, "rqkmeans: levels %d < 1", L);
    if (K < 2) return sd_errf(err, SD_EUSAGE, "rqkmeans: codes %d < 2", K);
    if (K > n) return sd_errf(err, SD_ERANGE, "rqkmeans: %d codes per level need at least as many items (have %lld)", K, (long long)n);
    size_t nd = sd_mul_size((size_t)n, (size_t)d);
    float *resid = sd_xmalloc(sizeof(float) * nd);
    memcpy(resid, emb, sizeof(float) * nd);
    int32_t *codes = sd_xmalloc(sd_mul_size(sd_mul_size((size_t)n, (size_t)L), sizeof(int32_t)));
    float *books = sd_xmalloc(sd_mul_size(sd_mul_size((size_t)L * K, (size_t)d), sizeof(float)));
    int32_t *assign = sd_xmalloc(sizeof(int32_t) * (size_t)n);
    int64_t moved = 0;
    for (int l = 0; l < L; l++) {
        sd_kmeans_opts o;
        sd_kmeans_defaults(&o, K);
        if (p->iters > 0) o.max_iters = p->iters;
        o.balanced = p->balanced;
        o.seed = sd_mix64(p->seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(l + 1)));
        char label[32];
        snprintf(label, sizeof label, "rq-kmeans level %d", l);
        o.progress = p->progress ? label : NULL;
        float *c = books + (size_t)l * K * d;
        int rc = sd_kmeans(resid, n, d, &o, c, assign, NULL, err);
        if (rc) {
            free(resid); free(codes); free(books); free(assign);
            return sd_err_prefix(err, "level %d", l);
        }
        for (int64_t i = 0; i < n; i++) codes[i * L + l] = assign[i];
        if (l == L - 1 && L >= 2 && p->spread) {
            moved = spread_last_level(resid, n, d, c, K, L, codes, assign);
        }
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            const float *ci = c + (int64_t)assign[i] * d;
            float *ri = resid + i * d;
            for (int64_t j = 0; j < d; j++) ri[j] -= ci[j];
        }
    }
    /* reconstruction = embedding minus what is left */
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < (int64_t)nd; i++) resid[i] = emb[i] - resid[i];
    free(assign);
    out->codes = codes;
    out->codebooks = books;
    out->recon = resid;
    char det[96];
    snprintf(det, sizeof det, "{\"spread\": %s, \"spread_moved\": %lld}", p->spread ? "true" : "false", (long long)moved);
    out->details_json = sd_xstrdup(det);
    return 0;
}
