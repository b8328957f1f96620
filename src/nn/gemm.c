#include "nn/gemm.h"
#include <cblas.h>
#include <omp.h>

static void gemm1(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void sd_sgemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* BLAS treats K = 0 as C = beta * C; spelled out so it does not depend on that */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(long)i * ldc + j] = beta == 0 ? 0 : beta * C[(long)i * ldc + j];
        return;
    }
    if (omp_in_parallel()) { gemm1(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); return; }
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
    int nt = omp_get_max_threads();
    double flops = 2.0 * M * N * K;
    if (nt == 1 || flops < 4e6) { gemm1(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); return; }
    /* Split the longer of M and N into one block per thread, block edges on 16-float boundaries. */
    bool by_rows = M >= N;
    int len = by_rows ? M : N;
    if (len < 16 * nt) nt = len / 16 > 1 ? len / 16 : 1;
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        int per = ((len + n - 1) / n + 15) / 16 * 16;
        int s = t * per, e = s + per < len ? s + per : len;
        if (s < e) {
            if (by_rows) gemm1(ta, tb, e - s, N, K, alpha, ta ? A + s : A + (long)s * lda, lda, B, ldb, beta,
                               C + (long)s * ldc, ldc);
            else gemm1(ta, tb, M, e - s, K, alpha, A, lda, tb ? B + (long)s * ldb : B + s, ldb, beta, C + s, ldc);
        }
    }
}
