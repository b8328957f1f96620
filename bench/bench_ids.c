/* RQ-KMeans on synthetic embeddings shaped like the semantic-ids-llm ones (66,000 items x 1024,
 * unit rows) with cluster structure: 128 topic centres; each item = its centre + variation in
 * the centre's own 32-dimensional subspace (std 0.3 -> 0.05 over the factors; a mixture of
 * factor analysers) + variation along 64 directions shared by all topics (std 0.4 -> 0.05;
 * attributes such as price or audience cut across categories) + isotropic noise (0.05). Items
 * are distinct points, as product embeddings are, not copies of a few prototypes.
 * --shared 0 drops the shared directions: the hard case for a residual quantiser, whose
 * later codebooks are shared by all first-level cells (reported as a second figure).
 * Prints wall time and the SID quality figures for plain and balanced k-means (levels 3, codes
 * 256). Goal: < 60 s, >= 89% unique 3-code prefixes, every code used.
 *   build/bench/bench_ids [--n N] [--d D] [--levels L] [--codes K] [--iters I] [--shared S]
 *                         [--only plain|balanced] */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/rng.h"
#include "base/threads.h"
#include "ids/embfile.h"
#include "ids/rqkmeans.h"
#include "ids/sid_metrics.h"
#include "ids/sid_table.h"
#include "bench_util.h"

static float *make_data(int64_t n, int64_t d, float shared, uint64_t seed) {
    enum { A = 128, F = 32, G = 64 };
    float *centre = sd_afloats((size_t)A * d), *basis = sd_afloats((size_t)A * F * d), *common = sd_afloats((size_t)G * d);
    sd_rng r;
    sd_rng_seed(&r, seed);
    float s = 1.0f / sqrtf((float)d);
    for (int64_t i = 0; i < (int64_t)A * d; i++) centre[i] = s * (float)sd_rng_normal(&r);
    for (int64_t i = 0; i < (int64_t)A * F * d; i++) basis[i] = s * (float)sd_rng_normal(&r);
    for (int64_t i = 0; i < (int64_t)G * d; i++) common[i] = s * (float)sd_rng_normal(&r);
    float *x = sd_afloats((size_t)n * d);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        sd_rng ri;
        sd_rng_stream(&ri, seed, (uint64_t)i + 1);
        int a = (int)sd_rng_below(&ri, A);
        float z[F], y[G];
        for (int f = 0; f < F; f++) z[f] = (0.3f - 0.25f * f / (F - 1)) * (float)sd_rng_normal(&ri);
        for (int g = 0; g < G; g++) y[g] = shared * (0.4f - 0.35f * g / (G - 1)) * (float)sd_rng_normal(&ri);
        float *xi = x + i * d;
        for (int64_t j = 0; j < d; j++) xi[j] = centre[(int64_t)a * d + j] + 0.05f * s * (float)sd_rng_normal(&ri);
        cblas_sgemv(CblasRowMajor, CblasTrans, F, (int)d, 1.0f, basis + (int64_t)a * F * d, (int)d, z, 1, 1.0f, xi, 1);
        if (shared > 0) cblas_sgemv(CblasRowMajor, CblasTrans, G, (int)d, 1.0f, common, (int)d, y, 1, 1.0f, xi, 1);
    }
    sd_emb_l2_normalize(x, n, d);
    sd_afree(centre);
    sd_afree(basis);
    sd_afree(common);
    return x;
}

/* CPU seconds of the whole process: on a shared machine wall time says more about the
 * neighbours than about the code, so both are printed. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void run(const float *x, int64_t n, int64_t d, int levels, int K, int iters, bool balanced) {
    sd_sid_params p = {.levels = levels, .codes = K, .iters = iters, .balanced = balanced, .seed = 42};
    sd_sid_output out;
    sd_err err = {0};
    double t0 = sd_now(), c0 = cpu_now();
    if (sd_rqkmeans(x, n, d, &p, &out, &err)) { fprintf(stderr, "rqkmeans: %s\n", err.msg); exit(1); }
    double secs = sd_now() - t0, cpu = cpu_now() - c0;
    sd_sid_table t;
    sd_sid_collisions col;
    if (sd_sid_table_make(out.codes, (int32_t)n, levels, K, NULL, SD_COLLIDE_EXTEND, &t, &col, &err)) {
        fprintf(stderr, "table: %s\n", err.msg);
        exit(1);
    }
    printf("%-9s rq-kmeans %.1f s wall, %.1f s cpu | recon MSE %.3g | unique %d-code prefixes %.2f%% | collision groups %lld, largest %lld\n",
           balanced ? "balanced" : "plain", secs, cpu, sd_recon_mse(x, out.recon, n, d), levels, 100.0 * col.n_unique / n,
           (long long)col.n_groups, (long long)col.max_group);
    for (int l = 0; l < levels; l++) {
        sd_level_stats s;
        sd_level_stats_of(out.codes, n, levels, l, K, &s);
        printf("          level %d: %d/%d codes used, perplexity %.1f, largest cluster %lld\n", l, s.used, K, s.perplexity,
               (long long)s.largest);
    }
    fflush(stdout);
    sd_sid_table_free(&t);
    sd_sid_output_free(&out);
}

int main(int argc, char **argv) {
    bench_start(argv);
    int64_t n = 66000, d = 1024;
    int levels = 3, K = 256, iters = 20;
    const char *only = NULL;
    float shared = 1.0f;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--n")) n = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--d")) d = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--levels")) levels = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--codes")) K = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--iters")) iters = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--only")) only = argv[i + 1];
        else if (!strcmp(argv[i], "--shared")) shared = (float)atof(argv[i + 1]);
    }
    sd_set_threads(0);
    double t0 = sd_now();
    float *x = make_data(n, d, shared, 7);
    printf("bench_ids: %lld x %lld synthetic embeddings (shared %.2f; %.1f s to generate), %d threads, levels %d, codes %d, "
           "iters %d\n", (long long)n, (long long)d, shared, sd_now() - t0, sd_threads(), levels, K, iters);
    if (!only || !strcmp(only, "plain")) run(x, n, d, levels, K, iters, false);
    if (!only || !strcmp(only, "balanced")) run(x, n, d, levels, K, iters, true);
    sd_afree(x);
    return 0;
}
