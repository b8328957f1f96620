/* nn/gemm: sd_sgemm's own split across threads (shapes large enough to split, every transpose,
 * padded leading dimensions) against a float64 reference; the dsyrk / strsm wrappers give the same
 * bytes for every thread count; and BLAS users (k-means, the SVD) leave OpenBLAS's own thread
 * count at 1 whatever --threads says. */
#include <cblas.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/rng.h"
#include "base/threads.h"
#include "ids/kmeans.h"
#include "nn/gemm.h"
#include "text/rsvd.h"

static void fill(float *x, size_t n, uint64_t seed) {
    sd_rng r;
    sd_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = (float)sd_rng_normal(&r);
}

/* C = alpha op(A) op(B) + beta C on nt threads vs the naive double loop; a second call on the
 * same inputs must give the same bytes. beta 0: C starts as NaN, which must not leak in (BLAS:
 * C is not read). The padding columns of C (ldc > N) must stay as they were. */
static void check_split_beta(int nt, int M, int N, int K, bool ta, bool tb, float beta) {
    int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 7;
    int ar = ta ? K : M, br = tb ? N : K;
    float *A = malloc(sizeof(float) * ar * lda), *B = malloc(sizeof(float) * br * ldb);
    float *C = malloc(sizeof(float) * M * ldc), *C0 = malloc(sizeof(float) * M * ldc);
    float *C2 = malloc(sizeof(float) * M * ldc);
    fill(A, (size_t)ar * lda, 1);
    fill(B, (size_t)br * ldb, 2);
    fill(C0, (size_t)M * ldc, 3);
    if (beta == 0)
        for (size_t i = 0; i < (size_t)M * ldc; i++) C0[i] = NAN;
    memcpy(C, C0, sizeof(float) * M * ldc);
    memcpy(C2, C0, sizeof(float) * M * ldc);
    const float alpha = 0.75f;
    sd_sgemm_nt(nt, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    int bad = 0;
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double acc = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[k * lda + i] : A[i * lda + k], b = tb ? B[j * ldb + k] : B[k * ldb + j];
                acc += a * b;
                mag += fabs(a * b);
            }
            double c0 = beta == 0 ? 0.0 : (double)beta * C0[i * ldc + j];
            double want = alpha * acc + c0;
            if (!(fabs(C[i * ldc + j] - want) <= 1e-5 * (alpha * mag + fabs(c0)) + 1e-6)) bad++;
        }
        /* padding untouched, bit for bit (NaN included) */
        bad += memcmp(C + (size_t)i * ldc + N, C0 + (size_t)i * ldc + N, sizeof(float) * (ldc - N)) != 0;
    }
    cr_expect_eq(bad, 0, "sgemm on %d threads, %dx%dx%d%s%s, beta %g: %d entries wrong", nt, M, N, K, ta ? " A^T" : "",
                 tb ? " B^T" : "", beta, bad);
    sd_sgemm_nt(nt, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C2, ldc);
    cr_expect_eq(memcmp(C, C2, sizeof(float) * M * ldc), 0, "sgemm on %d threads, %dx%dx%d%s%s, beta %g: not the same "
                 "bytes run to run", nt, M, N, K, ta ? " A^T" : "", tb ? " B^T" : "", beta);
    free(A); free(B); free(C); free(C0); free(C2);
}

static void check_split(int nt, int M, int N, int K, bool ta, bool tb) { check_split_beta(nt, M, N, K, ta, tb, -0.5f); }

Test(gemm, sgemm_split_matches_reference) {
    /* 2 M N K > 4e6 and the split side >= 16 per thread: all of them split. By rows (M >= N),
     * by columns (N > M), and an edge that is not a multiple of 16. */
    static const int shapes[][3] = {{300, 70, 129}, {40, 333, 160}, {257, 257, 64}};
    for (int nt = 2; nt <= 5; nt += 3)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int t = 0; t < 4; t++) check_split(nt, shapes[s][0], shapes[s][1], shapes[s][2], t & 1, t & 2);
    /* sd_sgemm takes the calling thread's count */
    sd_set_threads(3);
    check_split(0, 1, 1, 1, false, false);
}

Test(gemm, sgemm_split_odd_shapes_both_betas) {
    /* Odd M, N, K, all above the split threshold (2 M N K >= 4e6, split side >= 16 per thread):
     * by rows (M >= N) and by columns (N > M), on 2 and 3 threads (3 leaves a short last block),
     * every transpose, beta 0 and beta != 0; alpha != 1 keeps them off the thin kernel. */
    static const int shapes[][3] = {{301, 71, 129}, {41, 333, 161}, {97, 255, 83}};
    static const float betas[] = {0.0f, 1.25f};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        cr_assert_geq(2.0 * shapes[s][0] * shapes[s][1] * shapes[s][2], 4e6, "shape %zu would not split", s);
    for (int nt = 2; nt <= 3; nt++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int t = 0; t < 4; t++)
                for (size_t b = 0; b < 2; b++)
                    check_split_beta(nt, shapes[s][0], shapes[s][1], shapes[s][2], t & 1, t & 2, betas[b]);
}

Test(gemm, dsyrk_and_strsm_same_bytes_for_any_threads) {
    enum { N = 150, K = 2000 };
    double *A = malloc(sizeof(double) * K * N), *C1 = calloc(N * N, sizeof(double)), *Cn = calloc(N * N, sizeof(double));
    sd_rng r;
    sd_rng_seed(&r, 5);
    for (int i = 0; i < K * N; i++) A[i] = sd_rng_normal(&r);
    sd_dsyrk_upper_tn_nt(1, N, K, A, N, C1, N);
    for (int i = 0; i < N; i++) /* against the definition, upper triangle */
        for (int j = i; j < N; j++) {
            double acc = 0;
            for (int k = 0; k < K; k++) acc += A[k * N + i] * A[k * N + j];
            cr_assert(fabs(C1[i * N + j] - acc) <= 1e-9 * K, "G[%d,%d] %g vs %g", i, j, C1[i * N + j], acc);
        }
    float *R = calloc(N * N, sizeof(float)), *Y1 = malloc(sizeof(float) * K * N), *Yn = malloc(sizeof(float) * K * N);
    for (int i = 0; i < N; i++)
        for (int j = i; j < N; j++) R[i * N + j] = i == j ? 2.0f + (float)(i % 7) * 0.1f : 0.01f * (float)((i * 31 + j) % 13 - 6);
    fill(Y1, (size_t)K * N, 6);
    float *B = malloc(sizeof(float) * K * N);
    memcpy(B, Y1, sizeof(float) * K * N);
    sd_strsm_right_upper_nt(1, K, N, R, N, Y1, N);
    for (int i = 0; i < K; i += 97) /* Y R == B */
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int k = 0; k <= j; k++) acc += (double)Y1[i * N + k] * R[k * N + j];
            cr_assert(fabs(acc - B[i * N + j]) <= 1e-4, "(Y R)[%d,%d] %g vs %g", i, j, acc, B[i * N + j]);
        }
    for (int nt = 2; nt <= 4; nt++) {
        memset(Cn, 0, sizeof(double) * N * N);
        sd_dsyrk_upper_tn_nt(nt, N, K, A, N, Cn, N);
        for (int i = 0; i < N; i++)
            cr_expect_eq(memcmp(C1 + i * N + i, Cn + i * N + i, sizeof(double) * (N - i)), 0, "dsyrk %d threads, row %d", nt, i);
        memcpy(Yn, B, sizeof(float) * K * N);
        sd_strsm_right_upper_nt(nt, K, N, R, N, Yn, N);
        cr_expect_eq(memcmp(Y1, Yn, sizeof(float) * K * N), 0, "strsm on %d threads", nt);
    }
    free(A); free(C1); free(Cn); free(R); free(Y1); free(Yn); free(B);
}

/* A dense-ish sparse matrix for the SVD. */
static void random_csr(sd_csr *c, int m, int n) {
    sd_rng r;
    sd_rng_seed(&r, 11);
    c->n_rows = m;
    c->n_cols = n;
    c->indptr = calloc((size_t)m + 1, sizeof(int64_t));
    c->indices = malloc(sizeof(int32_t) * (size_t)m * n);
    c->values = malloc(sizeof(float) * (size_t)m * n);
    int64_t nnz = 0;
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++)
            if (sd_rng_below(&r, 4) == 0) { c->indices[nnz] = j; c->values[nnz++] = (float)sd_rng_normal(&r); }
        c->indptr[i + 1] = nnz;
    }
}

Test(gemm, svd_same_bytes_for_any_threads) {
    enum { M = 600, N = 400, RANK = 48 };
    sd_csr c;
    random_csr(&c, M, N);
    sd_rsvd_opts o = {.rank = RANK, .oversample = 10, .power_iters = 2, .seed = 3};
    float *u1 = malloc(sizeof(float) * M * RANK), *v1 = malloc(sizeof(float) * RANK * N), s1[RANK];
    float *u3 = malloc(sizeof(float) * M * RANK), *v3 = malloc(sizeof(float) * RANK * N), s3[RANK];
    sd_err err = {0};
    sd_set_threads(1);
    cr_assert_eq(sd_rsvd(&c, &o, u1, s1, v1, &err), 0, "%s", err.msg);
    sd_set_threads(3);
    cr_assert_eq(sd_rsvd(&c, &o, u3, s3, v3, &err), 0, "%s", err.msg);
    cr_expect_eq(memcmp(s1, s3, sizeof s1), 0, "singular values differ between 1 and 3 threads");
    cr_expect_eq(memcmp(u1, u3, sizeof(float) * M * RANK), 0, "U differs between 1 and 3 threads");
    cr_expect_eq(memcmp(v1, v3, sizeof(float) * RANK * N), 0, "Vt differs between 1 and 3 threads");
    cr_expect_eq(openblas_get_num_threads(), 1, "the SVD left OpenBLAS on %d threads", openblas_get_num_threads());
    sd_csr_free(&c);
    free(u1); free(v1); free(u3); free(v3);
}

Test(gemm, kmeans_leaves_openblas_single) {
    enum { n = 3000, d = 64, k = 32 };
    float *x = malloc(sizeof(float) * n * d), *cen = malloc(sizeof(float) * k * d);
    int32_t *assign = malloc(sizeof(int32_t) * n);
    fill(x, (size_t)n * d, 8);
    sd_set_threads(3);
    sd_kmeans_opts o;
    sd_kmeans_defaults(&o, k);
    o.max_iters = 3;
    o.balanced = true;
    cr_assert_eq(sd_kmeans(x, n, d, &o, cen, assign, NULL, NULL), 0);
    cr_expect_eq(openblas_get_num_threads(), 1, "--threads 3 put OpenBLAS on %d threads", openblas_get_num_threads());
    free(x); free(cen); free(assign);
}
