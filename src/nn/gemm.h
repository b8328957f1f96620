/* The one matrix multiply every op uses: a row-major wrapper over cblas_sgemm (OpenBLAS), and the
 * few other BLAS calls semid makes (k-means, the randomized SVD) beside it. Nothing else in src
 * calls cblas_ directly (but base/blas_core.c, the start-up self-test of OpenBLAS itself), so
 * OpenBLAS's own thread count stays 1 (see sd_blas_single). */
#ifndef SD_GEMM_H
#define SD_GEMM_H
#include <stdbool.h>

/* C[M,N] = alpha * op(A) @ op(B) + beta * C, all row-major.
 * op(A) is [M,K]: A is stored [M,K] (lda >= K) or, if ta, [K,M] (lda >= M).
 * op(B) is [K,N]: B is stored [K,N] (ldb >= N) or, if tb, [N,K] (ldb >= K).
 * Leading dimensions let callers address one head's columns inside [T, H*hd] without copies.
 *
 * Threading: OpenBLAS runs single-threaded and a large product is split into row blocks of C
 * (or column blocks, when N > M) across an OpenMP team instead. Two thread pools (OpenBLAS's
 * pthreads, which spin after each call, and OpenMP's) would otherwise fight over the cores between
 * matmuls and elementwise loops. sd_sgemm uses the calling thread's OpenMP thread count
 * (omp_get_max_threads: per thread, so a server's worker sets its own); sd_sgemm_nt takes it
 * explicitly. Called inside an OpenMP parallel region (attention's per-head loop) both run
 * serially. Results are deterministic for a thread count.
 *
 * Few rows (decoding): C = A B^T with M <= SD_SGEMM_THIN_M, alpha 1, beta 0 or 1, rows of at least
 * SD_SGEMM_THIN_K and a B of at least SD_SGEMM_THIN_B floats runs a small-row kernel that streams B
 * once for all M rows instead of OpenBLAS, which packs B on every call and reaches a fraction of
 * the memory bandwidth at these shapes (bench_generate). The limits on K and B keep the shapes of
 * SASRec (rows of its dim < 512, its scoring of a last batch of a few users), RQ-VAE's layers
 * and small test models on sgemm, so their results stay those of OpenBLAS; the weights of a
 * Qwen3 decoder (rows of >= 1024, matrices of >= 1024 x 1024) take the kernel. */
void sd_sgemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
void sd_sgemm_nt(int nt, bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc);

/* y[M] = alpha * A[M,N] x + beta * y, serial (one vector: too little work to split). */
void sd_sgemv(int M, int N, float alpha, const float *A, int lda, const float *x, float beta, float *y);
/* B[M,N] <- B R^-1 with R [N,N] upper triangular (non-unit), on nt threads over row blocks. */
void sd_strsm_right_upper_nt(int nt, int M, int N, const float *R, int ldr, float *B, int ldb);
/* Upper triangle of C[N,N] = A^T A, A [K,N] row-major (double), on nt threads over column blocks. */
void sd_dsyrk_upper_tn_nt(int nt, int N, int K, const double *A, int lda, double *C, int ldc);

/* Sets OpenBLAS's own thread count to 1, once per process; every wrapper above calls it, and so
 * must code that calls LAPACK (which runs on OpenBLAS's threads), before it does. */
void sd_blas_single(void);

#define SD_SGEMM_THIN_M 8           /* up to this many rows the kernel beats sgemm (bench_generate) */
#define SD_SGEMM_THIN_K 512
#define SD_SGEMM_THIN_B (1L << 20)  /* floats of B: 4 MB, past the caches, where bandwidth rules */
#define SD_SGEMM_MULTI_MAX 4
/* Whether C [M, N] = A [M, K] B^T takes the small-row kernel (given alpha 1, beta 0 or 1). */
bool sd_sgemm_thin_shape(int M, int N, int K);

/* One output of sd_sgemm_multi: C [M, N] (ldc) = A B^T + beta C, B stored [N, K] (ldb). */
typedef struct sd_sgemm_out {
    float *C;
    int ldc;
    const float *B;
    int ldb, N;
    float beta;
} sd_sgemm_out;
/* Up to SD_SGEMM_MULTI_MAX products sharing A [M, K] (q/k/v, gate/up); on the small-row kernel
 * they run in one parallel loop, otherwise as one sd_sgemm each. Same results as separate calls,
 * and (each column block being one thread's) the same for any thread count. */
void sd_sgemm_multi(int M, int K, const float *A, int lda, const sd_sgemm_out *outs, int n);

#endif
