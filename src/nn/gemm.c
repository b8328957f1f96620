#include "nn/gemm.h"
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <string.h>
#include "nn/vmath.h"

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

/* ---- few-row products: C [M, N] = A [M, K] B^T (+ C), B stored [N, K] ----
 * OpenBLAS sgemm packs B for every call and runs at a fraction of the memory bandwidth when M is
 * a handful of rows (decoding: one row per live sequence). Here each group of 4 rows of B is
 * streamed from memory once and reused from L1 for all M rows of A, with 8 independent
 * accumulators to hide the FMA latency. Results are stored as C = acc (beta 0) or C = C + acc
 * (beta 1), so a bias pre-filled into C adds after the dot product, as sgemm's beta does. */
static inline void store(float *c, const float *r, int n, bool acc) {
    if (acc) for (int i = 0; i < n; i++) c[i] += r[i];
    else memcpy(c, r, (size_t)n * sizeof(float));
}

/* Two rows of A against 4 rows of B. */
static void k4x2(float *c0, float *c1, const float *x0, const float *x1, const float *B, size_t ldb, int K,
                 bool acc) {
    const float *w0 = B, *w1 = B + ldb, *w2 = B + 2 * ldb, *w3 = B + 3 * ldb;
    sd_v8f a00 = {0}, a01 = {0}, a02 = {0}, a03 = {0}, a10 = {0}, a11 = {0}, a12 = {0}, a13 = {0};
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        sd_v8f v0 = sd_v8_load(w0 + k), v1 = sd_v8_load(w1 + k), v2 = sd_v8_load(w2 + k), v3 = sd_v8_load(w3 + k);
        sd_v8f p = sd_v8_load(x0 + k), q = sd_v8_load(x1 + k);
        a00 += p * v0, a01 += p * v1, a02 += p * v2, a03 += p * v3;
        a10 += q * v0, a11 += q * v1, a12 += q * v2, a13 += q * v3;
    }
    float r[8] = {sd_v8_hsum(a00), sd_v8_hsum(a01), sd_v8_hsum(a02), sd_v8_hsum(a03),
                  sd_v8_hsum(a10), sd_v8_hsum(a11), sd_v8_hsum(a12), sd_v8_hsum(a13)};
    for (; k < K; k++) {
        r[0] += x0[k] * w0[k], r[1] += x0[k] * w1[k], r[2] += x0[k] * w2[k], r[3] += x0[k] * w3[k];
        r[4] += x1[k] * w0[k], r[5] += x1[k] * w1[k], r[6] += x1[k] * w2[k], r[7] += x1[k] * w3[k];
    }
    store(c0, r, 4, acc);
    store(c1, r + 4, 4, acc);
}

/* One row of A, 4 rows of B, two k-steps per iteration (8 accumulators). */
static void k4x1(float *c, const float *x, const float *B, size_t ldb, int K, bool acc) {
    const float *w0 = B, *w1 = B + ldb, *w2 = B + 2 * ldb, *w3 = B + 3 * ldb;
    sd_v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
    int k = 0;
    for (; k + 16 <= K; k += 16) {
        sd_v8f p = sd_v8_load(x + k), q = sd_v8_load(x + k + 8);
        a0 += p * sd_v8_load(w0 + k), a1 += p * sd_v8_load(w1 + k), a2 += p * sd_v8_load(w2 + k), a3 += p * sd_v8_load(w3 + k);
        b0 += q * sd_v8_load(w0 + k + 8), b1 += q * sd_v8_load(w1 + k + 8), b2 += q * sd_v8_load(w2 + k + 8),
            b3 += q * sd_v8_load(w3 + k + 8);
    }
    float r[4] = {sd_v8_hsum(a0 + b0), sd_v8_hsum(a1 + b1), sd_v8_hsum(a2 + b2), sd_v8_hsum(a3 + b3)};
    for (; k < K; k++) r[0] += x[k] * w0[k], r[1] += x[k] * w1[k], r[2] += x[k] * w2[k], r[3] += x[k] * w3[k];
    store(c, r, 4, acc);
}

/* Columns [j0, j0 + 4) of C (fewer at the right edge). */
static void thin_block(const sd_sgemm_out *o, const float *A, int lda, int M, int K, int j0) {
    const float *Bj = o->B + (size_t)j0 * o->ldb;
    bool acc = o->beta != 0;
    if (o->N - j0 < 4) {
        for (int m = 0; m < M; m++)
            for (int r = 0; r < o->N - j0; r++) {
                float d = sd_v8_dot(A + (size_t)m * lda, Bj + (size_t)r * o->ldb, K);
                float *c = o->C + (size_t)m * o->ldc + j0 + r;
                *c = acc ? *c + d : d;
            }
        return;
    }
    int m = 0;
    for (; m + 2 <= M; m += 2)
        k4x2(o->C + (size_t)m * o->ldc + j0, o->C + (size_t)(m + 1) * o->ldc + j0, A + (size_t)m * lda,
             A + (size_t)(m + 1) * lda, Bj, (size_t)o->ldb, K, acc);
    if (m < M) k4x1(o->C + (size_t)m * o->ldc + j0, A + (size_t)m * lda, Bj, (size_t)o->ldb, K, acc);
}

bool sd_sgemm_thin_shape(int M, int N, int K) {
    return M >= 1 && M <= SD_SGEMM_THIN_M && K >= SD_SGEMM_THIN_K && (long)N * K >= SD_SGEMM_THIN_B;
}

static bool thin_ok(const sd_sgemm_out *o, int M, int K) {
    return sd_sgemm_thin_shape(M, o->N, K) && (o->beta == 0 || o->beta == 1);
}

/* The small-row kernel over every output (thin_ok for all of them), on nt threads. */
static void thin_multi(int nt, int M, int K, const float *A, int lda, const sd_sgemm_out *outs, int n) {
    /* One parallel loop over the 4-column blocks of all outputs: one fork/join instead of one per
     * matrix, which matters when the cores are shared and a barrier can wait for a descheduled
     * thread. */
    long blocks = 0, start[SD_SGEMM_MULTI_MAX];
    for (int i = 0; i < n; i++) { start[i] = blocks; blocks += (outs[i].N + 3) / 4; }
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1 && blocks * 4 * K > 65536)
    for (long q = 0; q < blocks; q++) {
        int i = n - 1;
        while (start[i] > q) i--;
        thin_block(&outs[i], A, lda, M, K, (int)(q - start[i]) * 4);
    }
}

void sd_sgemm_multi(int M, int K, const float *A, int lda, const sd_sgemm_out *outs, int n) {
    bool thin = n <= SD_SGEMM_MULTI_MAX && !omp_in_parallel();
    for (int i = 0; i < n && thin; i++) thin = thin_ok(&outs[i], M, K);
    if (thin) { thin_multi(omp_get_max_threads(), M, K, A, lda, outs, n); return; }
    for (int i = 0; i < n; i++)
        sd_sgemm(false, true, M, outs[i].N, K, 1.0f, A, lda, outs[i].B, outs[i].ldb, outs[i].beta, outs[i].C,
                 outs[i].ldc);
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
    if (!ta && tb && alpha == 1 && (beta == 0 || beta == 1) && sd_sgemm_thin_shape(M, N, K) && !omp_in_parallel()) {
        thin_multi(nt, M, K, A, lda, &(sd_sgemm_out){.C = C, .ldc = ldc, .B = B, .ldb = ldb, .N = N, .beta = beta}, 1);
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

/* The upper triangle in column blocks [j0, j1): each block's diagonal part by dsyrk, the rectangle
 * above it by dgemm. The blocks depend on N alone, never on the thread count, and a thread computes
 * whole blocks, so every element comes from the same BLAS call on the same operands however many
 * threads run: the Gram matrix has the same bits on 1 thread and on many. (Splitting by the thread
 * count instead relied on dsyrk and dgemm rounding alike at 16-column edges; OpenBLAS 0.3.21's
 * Cooperlake kernels do not.) Edges fall on 16 columns and make the triangle's area (the work)
 * about equal per block; 8 blocks keep 2 and 4 threads balanced. */
static int syrk_block_edge(int N, int nb, int b) {
    if (b <= 0) return 0;
    if (b >= nb) return N;
    return (int)(N * sqrt((double)b / nb)) / 16 * 16;
}

void sd_dsyrk_upper_tn_nt(int nt, int N, int K, const double *A, int lda, double *C, int ldc) {
    if (N <= 0) return;
    sd_blas_single();
    int nb = N / 32 < 8 ? N / 32 : 8;
    if (nb < 1) nb = 1;
    if (omp_in_parallel() || (double)N * N * K < 4e6) nt = 1;
    if (nt > nb) nt = nb;
#pragma omp parallel for num_threads(nt) schedule(static, 1) if (nt > 1)
    for (int b = 0; b < nb; b++) {
        int j0 = syrk_block_edge(N, nb, b), j1 = syrk_block_edge(N, nb, b + 1);
        if (j0 >= j1) continue;
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, j1 - j0, K, 1.0, A + j0, lda, 0.0,
                    C + (long)j0 * ldc + j0, ldc);
        if (j0)
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, j0, j1 - j0, K, 1.0, A, lda, A + j0, lda, 0.0,
                        C + j0, ldc);
    }
}
