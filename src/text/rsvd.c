/* Dense linear algebra used here (LAPACKE):
 *   - orthonormalisation after each product of the power iteration: CholeskyQR2 (Fukaya et al.
 *     2014): Gram matrix Y^T Y in double (dsyrk), LAPACKE_dpotrf, Y <- Y R^-1 (strsm),
 *     twice, the second pass restoring orthogonality to float precision. It is all level-3 BLAS,
 *     several times faster than Householder here. One application of A between
 *     orthonormalisations keeps cond(Y) near s_max / s_min of the sketch, well inside what
 *     CholeskyQR2 handles; when the Cholesky fails anyway (rank-deficient Y) we fall back to
 *   - Householder: LAPACKE_sgelqf + LAPACKE_sorglq. A row-major [n, l] matrix is, in memory,
 *     the column-major [l, n] matrix Y^T; its LQ factorisation Y^T = L Q gives Y = Q^T L^T, so Q
 *     (stored column-major, orthonormal rows) is exactly Y's orthonormal basis in row-major
 *     layout. That is a Householder QR of Y without any transposed copy.
 *   - the small core: the same LQ trick on B^T = A^T Q gives B = L Qb^T with L [l, l] lower
 *     triangular; LAPACKE_sgesdd on L (divide and conquer SVD) gives L = Ur S Vr^T, hence
 *     B = Ur S (Qb Vr)^T and A ~ (Q Ur) S (Qb Vr)^T. Factoring B^T first keeps the dense SVD at
 *     l x l instead of l x n_cols, and avoids squaring the condition number as B B^T would.
 * BLAS goes through nn/gemm.h, split across this thread's OpenMP count (the Gram matrix and the
 * triangular solve come out the same bytes for any count); the LAPACK calls run on one thread
 * (OpenBLAS's count stays 1): they work on l x l matrices, or once on [l, n_cols] (the final LQ). */
#include "text/rsvd.h"
#include <lapacke.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/progress.h"
#include "base/rng.h"
#include "nn/gemm.h"

/* One CholeskyQR pass; returns nonzero if the Gram matrix is not numerically positive definite. */
static int cholqr_pass(float *y, int64_t n, int64_t l, double *yd, double *g, float *r) {
    for (int64_t i = 0; i < n * l; i++) yd[i] = y[i];
    int nt = omp_get_max_threads();
    sd_dsyrk_upper_tn_nt(nt, (int)l, (int)n, yd, (int)l, g, (int)l);
    if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', (lapack_int)l, g, (lapack_int)l)) return 1;
    for (int64_t i = 0; i < l; i++) {
        if (!(g[i * l + i] > 1e-6 * g[0])) return 1; /* near-singular: R^-1 would blow up */
        for (int64_t j = 0; j < l; j++) r[i * l + j] = j >= i ? (float)g[i * l + j] : 0.0f;
    }
    sd_strsm_right_upper_nt(nt, (int)n, (int)l, r, (int)l, y, (int)l);
    return 0;
}

static int householder(float *y, int64_t n, int64_t l, sd_err *err) {
    float *tau = sd_xmalloc(sizeof(float) * (size_t)l);
    lapack_int info = LAPACKE_sgelqf(LAPACK_COL_MAJOR, (lapack_int)l, (lapack_int)n, y, (lapack_int)l, tau);
    if (!info) info = LAPACKE_sorglq(LAPACK_COL_MAJOR, (lapack_int)l, (lapack_int)n, (lapack_int)l, y, (lapack_int)l, tau);
    free(tau);
    if (info) return sd_errf(err, SD_ERANGE, "orthonormalisation failed (LAPACK info %d)", (int)info);
    return 0;
}

int sd_orthonormalize(float *y, int64_t n, int64_t l, sd_err *err) {
    sd_blas_single(); /* LAPACK below runs on OpenBLAS's own threads: one (nn/gemm.h) */
    double *yd = sd_xmalloc(sd_mul_size(sd_mul_size((size_t)n, (size_t)l), sizeof(double)));
    double *g = sd_xmalloc(sizeof(double) * (size_t)(l * l));
    float *r = sd_xmalloc(sizeof(float) * (size_t)(l * l));
    float *keep = sd_xmalloc(sd_mul_size(sd_mul_size((size_t)n, (size_t)l), sizeof(float)));
    memcpy(keep, y, sizeof(float) * (size_t)(n * l));
    int fail = cholqr_pass(y, n, l, yd, g, r) || cholqr_pass(y, n, l, yd, g, r);
    int rc = 0;
    if (fail) {
        memcpy(y, keep, sizeof(float) * (size_t)(n * l));
        rc = householder(y, n, l, err);
    }
    free(yd); free(g); free(r); free(keep);
    return rc;
}

/* Gaussian [rows, l]; row r draws from its own stream, so the matrix does not depend on threads. */
static void gaussian(float *g, int64_t rows, int64_t l, uint64_t seed) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        sd_rng rng;
        sd_rng_stream(&rng, seed, (uint64_t)r);
        for (int64_t j = 0; j < l; j++) g[r * l + j] = (float)sd_rng_normal(&rng);
    }
}

int sd_rsvd(const sd_csr *a, const sd_rsvd_opts *o, float *u, float *s, float *vt, sd_err *err) {
    int64_t m = a->n_rows, n = a->n_cols, mn = m < n ? m : n;
    if (o->rank < 1 || o->rank > mn)
        return sd_errf(err, SD_ERANGE, "SVD rank %d must be between 1 and min(rows %lld, columns %lld)", o->rank,
                       (long long)m, (long long)n);
    int64_t l = o->rank + (o->oversample > 0 ? o->oversample : 0);
    if (l > mn) l = mn;
    int q = o->power_iters > 0 ? o->power_iters : 0;
    sd_csr at;
    sd_csr_transpose(a, &at);
    float *y = sd_afloats((size_t)m * l), *z = sd_afloats((size_t)n * l);
    int rc = 0;
    sd_progress pg;
    if (o->show_progress) sd_progress_start(&pg, "svd", 2 * q + 3, "steps");
#define STEP() do { if (o->show_progress) sd_progress_add(&pg, 1); } while (0)
    sd_blas_single(); /* as in sd_orthonormalize */
    gaussian(z, n, l, o->seed);
    sd_csr_mm(a, z, l, y);
    if ((rc = sd_orthonormalize(y, m, l, err))) goto done;
    STEP();
    for (int it = 0; it < q; it++) {
        sd_csr_mm(&at, y, l, z);
        if ((rc = sd_orthonormalize(z, n, l, err))) goto done;
        STEP();
        sd_csr_mm(a, z, l, y);
        if ((rc = sd_orthonormalize(y, m, l, err))) goto done;
        STEP();
    }
    /* z = B^T = A^T Q [n, l]; its LQ (see the top comment) leaves L in the first l columns */
    sd_csr_mm(&at, y, l, z);
    float *tau = sd_xmalloc(sizeof(float) * (size_t)l);
    lapack_int info = LAPACKE_sgelqf(LAPACK_COL_MAJOR, (lapack_int)l, (lapack_int)n, z, (lapack_int)l, tau);
    float *lmat = sd_afloats((size_t)l * l), *ur = sd_afloats((size_t)l * l), *vrt = sd_afloats((size_t)l * l);
    float *sv = sd_afloats((size_t)l);
    if (!info) {
        for (int64_t j = 0; j < l; j++)
            for (int64_t i = j; i < l; i++) lmat[i + j * l] = z[i + j * l];
        info = LAPACKE_sgesdd(LAPACK_COL_MAJOR, 'A', (lapack_int)l, (lapack_int)l, lmat, (lapack_int)l, sv, ur,
                              (lapack_int)l, vrt, (lapack_int)l);
    }
    STEP();
    if (!info && vt) info = LAPACKE_sorglq(LAPACK_COL_MAJOR, (lapack_int)l, (lapack_int)n, (lapack_int)l, z, (lapack_int)l, tau);
    free(tau);
    if (info) {
        rc = sd_errf(err, SD_ERANGE, "SVD of the projected %lld x %lld matrix failed (LAPACK info %d)", (long long)l,
                     (long long)l, (int)info);
        goto done2;
    }
    int k = o->rank;
    /* U = Q Ur[:, :k]; ur is column-major, i.e. row-major Ur^T, whose first k rows are Ur's first k columns.
     * These two products run on one thread: OpenBLAS's sgemm rounds differently for each split of
     * the rows, and serial they make U and Vt (and so emb.npy) the same bytes for every --threads,
     * for a few percent of the SVD's time (the power iterations dominate). */
    sd_sgemm_nt(1, false, true, (int)m, k, (int)l, 1.0f, y, (int)l, ur, (int)l, 0.0f, u, k);
    if (vt) {
        /* V = Qb Vr: z now holds Qb row-major [n, l]; vrt column-major is row-major Vr, so
         * Vt[:k] = (Qb Vr)^T[:k] = Vr^T[:k] Qb^T, with Vr^T[:k] the first k columns of vrt-as-row-major */
        sd_sgemm_nt(1, true, true, k, (int)n, (int)l, 1.0f, vrt, (int)l, z, (int)l, 0.0f, vt, (int)n);
    }
    for (int j = 0; j < k; j++) {
        s[j] = sv[j];
        int64_t best = 0;
        for (int64_t i = 1; i < m; i++)
            if (fabsf(u[i * k + j]) > fabsf(u[best * k + j])) best = i;
        if (u[best * k + j] < 0) {
            for (int64_t i = 0; i < m; i++) u[i * k + j] = -u[i * k + j];
            if (vt)
                for (int64_t c = 0; c < n; c++) vt[j * n + c] = -vt[j * n + c];
        }
    }
done2:
    sd_afree(lmat); sd_afree(ur); sd_afree(vrt); sd_afree(sv);
done:
    if (o->show_progress) sd_progress_finish(&pg);
    sd_afree(y);
    sd_afree(z);
    sd_csr_free(&at);
    return rc;
}
