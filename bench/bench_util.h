/* What every benchmark does first: the same start-up as the semid binary (OpenMP wait policy,
 * OpenBLAS kernel choice, one re-exec), then a line naming the CPU and the OpenBLAS core, so
 * every figure printed after it says which kernels it was taken on. */
#ifndef SD_BENCH_UTIL_H
#define SD_BENCH_UTIL_H
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "base/blas_core.h"
#include "base/cpu.h"
#include "base/mem.h"
#include "base/startup.h"
#include "nn/gemm.h"
#include <omp.h>

static inline void bench_start(char **argv) {
    sd_startup(argv);
    sd_cpu_info ci;
    sd_cpu_detect(&ci);
    char blas[512];
    sd_blas_describe(blas, sizeof blas);
    printf("cpu: %s (%s); %s\n", ci.brand[0] ? ci.brand : "unknown", sd_simd_level_name(sd_cpu_level(&ci)), blas);
    fflush(stdout);
}

/* Best time in seconds of C [M, N] = A [M, K] B^T through sd_sgemm on the calling thread's thread
 * count: the ceiling a benchmark's figures are compared with, measured in the same run. */
static inline double bench_sgemm_best(int M, int N, int K, int reps) {
    float *a = sd_afloats((size_t)M * K), *b = sd_afloats((size_t)N * K), *c = sd_afloats((size_t)M * N);
    for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)(i % 13) * 0.01f;
    for (size_t i = 0; i < (size_t)N * K; i++) b[i] = (float)(i % 7) * 0.01f;
    double best = 1e9;
    for (int r = 0; r < reps; r++) {
        double t0 = omp_get_wtime();
        sd_sgemm(false, true, M, N, K, 1, a, K, b, K, 0, c, N);
        double t = omp_get_wtime() - t0;
        if (t < best) best = t;
    }
    sd_afree(a); sd_afree(b); sd_afree(c);
    return best;
}

char *openblas_get_corename(void);
/* For a baseline's "TORCH_BLAS_CORE X" line: says whether it ran on semid's kernels. */
static inline void bench_check_core(const char *line) {
    char core[64];
    if (sscanf(line, "TORCH_BLAS_CORE %63s", core) != 1) return;
    const char *ours = openblas_get_corename();
    if (!strcasecmp(core, ours)) printf("pytorch runs OpenBLAS core %s, as semid\n", core);
    else printf("WARNING: pytorch runs OpenBLAS core %s, semid %s: the ratio is not like for like\n", core, ours);
}
#endif
