/* Which OpenBLAS kernels semid runs on.
 *
 * Debian's OpenBLAS is built with DYNAMIC_ARCH: at load time it reads cpuid and picks a kernel set
 * ("core"). OpenBLAS 0.3.21 does not recognise some newer Xeons and falls back to its Prescott
 * (SSE3) kernels, 4-5x slower than the SkylakeX kernels the CPU can run. The choice is made when
 * the library loads, before main, and can only be changed through OPENBLAS_CORETYPE in the
 * environment of a new process — so semid decides here, self-tests the kernels it wants in a
 * child process, and re-executes itself (base/startup.c).
 *
 * sd_blas_choose is a pure function of (CPU features, detected core, the user's environment) so
 * every case is unit-tested; a user's own OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE always wins. */
#ifndef SD_BLAS_CORE_H
#define SD_BLAS_CORE_H
#include <stdbool.h>
#include "base/cpu.h"

typedef struct sd_blas_choice {
    bool change;       /* true: run with OPENBLAS_CORETYPE=core */
    char core[32];     /* the core to use (the detected one when !change) */
    char reason[256];
} sd_blas_choice;

/* Kernel tier an OpenBLAS core name needs; -1 for a name semid does not know. Case-insensitive. */
int sd_blas_core_level(const char *core);
/* The best core of this library for a CPU (NULL when no better than the SSE ones). */
const char *sd_blas_best_core(const sd_cpu_info *ci);
/* env_core/env_l2: the user's OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (NULL or "" when unset). */
void sd_blas_choose(const sd_cpu_info *ci, const char *detected, const char *env_core, const char *env_l2,
                    sd_blas_choice *out);

/* Row-major sgemm as cblas_sgemm computes it; the self-test's subject, replaceable in tests. */
typedef void (*sd_sgemm_fn)(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                            const float *B, int ldb, float beta, float *C, int ldc);
/* Checks fn against a float64 reference over odd shapes, every transpose, alpha/beta, on 1 and 2
 * OpenBLAS threads, and (when fn is NULL, i.e. the real library) OpenBLAS's sgemv, strsm, dsyrk.
 * Returns 0, or -1 with what differed in msg. */
int sd_blas_selftest(sd_sgemm_fn fn, char *msg, int n);
void sd_blas_cblas_sgemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                         const float *B, int ldb, float beta, float *C, int ldc);

/* The core in use in this process and how it came to be. */
typedef struct sd_blas_state {
    char core[32];      /* openblas_get_corename() */
    char detected[32];  /* what OpenBLAS picked by itself (== core unless semid or the user chose) */
    const char *how;    /* "detected", "user", "semid", "fallback" */
    char reason[256];
    char config[160];   /* openblas_get_config() */
} sd_blas_state;
void sd_blas_state_get(sd_blas_state *st);
/* One line: "OpenBLAS 0.3.21 core SkylakeX (semid: ...)". */
void sd_blas_describe(char *buf, int n);

/* The environment variable through which a parent semid tells its re-executed self what it chose:
 * "semid|CORE|DETECTED|reason" or "fallback|CORE|DETECTED|reason". */
#define SD_BLAS_CHOICE_ENV "SEMID_BLAS_CHOICE"
#endif
