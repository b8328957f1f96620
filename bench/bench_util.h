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
#include "base/startup.h"

static inline void bench_start(char **argv) {
    sd_startup(argv);
    sd_cpu_info ci;
    sd_cpu_detect(&ci);
    char blas[512];
    sd_blas_describe(blas, sizeof blas);
    printf("cpu: %s (%s); %s\n", ci.brand[0] ? ci.brand : "unknown", sd_simd_level_name(sd_cpu_level(&ci)), blas);
    fflush(stdout);
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
