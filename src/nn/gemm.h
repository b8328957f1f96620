/* The one matrix multiply every op uses: a row-major wrapper over cblas_sgemm (OpenBLAS), and the
 * few other BLAS calls semid makes (k-means, the randomized SVD) beside it. Nothing else in src
 * calls cblas_ directly, so OpenBLAS's own thread count stays 1 (see sd_blas_single). */
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
 * serially. Results are deterministic for a thread count. */
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

#endif
