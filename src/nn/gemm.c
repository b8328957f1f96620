#include "nn/gemm.h"
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>

/* OpenBLAS's thread count is one number for the whole process (0.3.21 has no per-call count), so
 * semid sets it to 1 once and never changes it: every parallel split is made here, by OpenMP, with
 * the count the caller passes. Two requests running at once then cannot change each other's
 * threading, nor the blocking (and so the rounding) of each other's products. */
static pthread_once_t g_single_once = PTHREAD_ONCE_INIT;
static void set_single(void) { openblas_set_num_threads(1); }
void sd_blas_single(void) { pthread_once(&g_single_once, set_single); }

static void gemm1(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void sd_sgemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    sd_sgemm_nt(omp_in_parallel() ? 1 : omp_get_max_threads(), ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void sd_sgemm_nt(int nt, bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* BLAS treats K = 0 as C = beta * C; spelled out so it does not depend on that */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(long)i * ldc + j] = beta == 0 ? 0 : beta * C[(long)i * ldc + j];
        return;
    }
    sd_blas_single();
    double flops = 2.0 * M * N * K;
    if (nt <= 1 || omp_in_parallel() || flops < 4e6) { gemm1(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); return; }
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

void sd_sgemv(int M, int N, float alpha, const float *A, int lda, const float *x, float beta, float *y) {
    if (M <= 0) return;
    sd_blas_single();
    cblas_sgemv(CblasRowMajor, CblasNoTrans, M, N, alpha, A, lda, x, 1, beta, y, 1);
}

/* Rows are independent in X R = B, so blocks of rows are solved apart, each exactly as the whole. */
void sd_strsm_right_upper_nt(int nt, int M, int N, const float *R, int ldr, float *B, int ldb) {
    if (M <= 0 || N <= 0) return;
    sd_blas_single();
    if (omp_in_parallel() || (double)M * N * N < 4e6) nt = 1;
    if (M < 16 * nt) nt = M / 16 > 1 ? M / 16 : 1;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        int per = ((M + n - 1) / n + 15) / 16 * 16;
        int s = t * per, e = s + per < M ? s + per : M;
        if (s < e)
            cblas_strsm(CblasRowMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, e - s, N, 1.0f, R, ldr,
                        B + (long)s * ldb, ldb);
    }
}

/* Column block [j0, j1) of the upper triangle: its diagonal part by dsyrk, the rectangle above it
 * by dgemm. Block edges make the triangle's area (the work) about equal per thread, and fall on
 * 16-column boundaries: there OpenBLAS 0.3.21's dsyrk and dgemm kernels round exactly as one
 * dsyrk over the whole does (at odd offsets they do not), so the Gram matrix has the same bits
 * for every thread count. */
void sd_dsyrk_upper_tn_nt(int nt, int N, int K, const double *A, int lda, double *C, int ldc) {
    if (N <= 0) return;
    sd_blas_single();
    if (omp_in_parallel() || (double)N * N * K < 4e6) nt = 1;
    if (N < 32 * nt) nt = N / 32 > 1 ? N / 32 : 1;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        int j0 = t ? (int)(N * sqrt((double)t / n)) / 16 * 16 : 0;
        int j1 = t + 1 < n ? (int)(N * sqrt((double)(t + 1) / n)) / 16 * 16 : N;
        if (j0 < j1) {
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, j1 - j0, K, 1.0, A + j0, lda, 0.0,
                        C + (long)j0 * ldc + j0, ldc);
            if (j0)
                cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, j0, j1 - j0, K, 1.0, A, lda, A + j0, lda, 0.0,
                            C + j0, ldc);
        }
    }
}
