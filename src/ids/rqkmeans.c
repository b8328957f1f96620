#include "ids/rqkmeans.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/rng.h"
#include "ids/kmeans.h"

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
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            codes[i * L + l] = assign[i];
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
    return 0;
}
