/* The one matrix multiply every op uses: a row-major wrapper over cblas_sgemm (OpenBLAS). */
#ifndef SD_GEMM_H
#define SD_GEMM_H
#include <stdbool.h>

/* C[M,N] = alpha * op(A) @ op(B) + beta * C, all row-major.
 * op(A) is [M,K]: A is stored [M,K] (lda >= K) or, if ta, [K,M] (lda >= M).
 * op(B) is [K,N]: B is stored [K,N] (ldb >= N) or, if tb, [N,K] (ldb >= K).
 * Leading dimensions let callers address one head's columns inside [T, H*hd] without copies. */
void sd_sgemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

/* Threads OpenBLAS may use; returns the previous count. Ops that run many small sgemms from
 * inside an OpenMP loop set 1 around the loop so the two thread pools do not oversubscribe. */
int sd_gemm_set_threads(int n);

#endif
