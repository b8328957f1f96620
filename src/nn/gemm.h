/* The one matrix multiply every op uses: a row-major wrapper over cblas_sgemm (OpenBLAS). */
#ifndef SD_GEMM_H
#define SD_GEMM_H
#include <stdbool.h>

/* C[M,N] = alpha * op(A) @ op(B) + beta * C, all row-major.
 * op(A) is [M,K]: A is stored [M,K] (lda >= K) or, if ta, [K,M] (lda >= M).
 * op(B) is [K,N]: B is stored [K,N] (ldb >= N) or, if tb, [N,K] (ldb >= K).
 * Leading dimensions let callers address one head's columns inside [T, H*hd] without copies.
 *
 * Threading: OpenBLAS runs single-threaded and a large product is split into row blocks of C
 * across the OpenMP team instead. Two thread pools (OpenBLAS's pthreads, which spin after each
 * call, and OpenMP's) would otherwise fight over the cores between matmuls and elementwise loops.
 * Called inside an OpenMP parallel region (attention's per-head loop) it runs serially. */
void sd_sgemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

#endif
