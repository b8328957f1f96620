#include "nn/gemm.h"
#include <cblas.h>

void sd_sgemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {  /* BLAS leaves C untouched for K = 0 only when beta = 1; make it explicit */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(long)i * ldc + j] = beta == 0 ? 0 : beta * C[(long)i * ldc + j];
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

int sd_gemm_set_threads(int n) {
    int prev = openblas_get_num_threads();
    if (n != prev) openblas_set_num_threads(n);
    return prev;
}
