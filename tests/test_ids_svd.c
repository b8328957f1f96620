#include <criterion/criterion.h>
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/rng.h"
#include "text/rsvd.h"

/* Dense row-major [m, n] -> CSR keeping the non-zeros. */
static void to_csr(const float *a, int64_t m, int64_t n, sd_csr *out) {
    out->n_rows = m;
    out->n_cols = n;
    out->indptr = calloc(m + 1, sizeof(int64_t));
    out->indices = malloc(sizeof(int32_t) * m * n);
    out->values = malloc(sizeof(float) * m * n);
    int64_t k = 0;
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++)
            if (a[i * n + j] != 0) { out->indices[k] = (int32_t)j; out->values[k++] = a[i * n + j]; }
        out->indptr[i + 1] = k;
    }
}

static void full_svd(const float *a, int m, int n, float *s) {
    float *copy = malloc(sizeof(float) * m * n);
    memcpy(copy, a, sizeof(float) * m * n);
    /* row-major A is column-major A^T: same singular values */
    cr_assert_eq(LAPACKE_sgesdd(LAPACK_COL_MAJOR, 'N', n, m, copy, n, s, NULL, 1, NULL, 1), 0);
    free(copy);
}

/* A sparse random 60 x 40 matrix; with rank + oversample = 40 = min dimension the sketch spans
 * everything, so all singular values must match LAPACK's full SVD to float precision
 * (relative 1e-4), and U S Vt must rebuild A (abs 1e-4). */
Test(ids_svd, exact_when_sketch_is_full) {
    int m = 60, n = 40, k = 30;
    float *a = calloc(m * n, sizeof(float));
    sd_rng r;
    sd_rng_seed(&r, 5);
    for (int i = 0; i < m * n; i++)
        if (sd_rng_float(&r) < 0.3f) a[i] = (float)sd_rng_normal(&r);
    sd_csr c;
    to_csr(a, m, n, &c);
    float sref[40], s[30], *u = malloc(sizeof(float) * m * k), *vt = malloc(sizeof(float) * k * n);
    full_svd(a, m, n, sref);
    sd_rsvd_opts o = {k, 10, 2, 1, false};
    sd_err err = {0};
    cr_assert_eq(sd_rsvd(&c, &o, u, s, vt, &err), 0, "%s", err.msg);
    for (int j = 0; j < k; j++) cr_assert_float_eq(s[j], sref[j], 1e-4 * sref[0], "s[%d] %g vs %g", j, s[j], sref[j]);
    /* U has orthonormal columns */
    for (int p = 0; p < k; p++)
        for (int q = 0; q < k; q++) {
            double dot = 0;
            for (int i = 0; i < m; i++) dot += (double)u[i * k + p] * u[i * k + q];
            cr_assert_float_eq(dot, p == q ? 1.0 : 0.0, 1e-4);
        }
    sd_csr_free(&c);
    free(a); free(u); free(vt);
}

/* A 200 x 150 matrix with singular values 0.8^i: the top 10 from a rank-10 sketch with
 * oversampling 10 and 3 power iterations match the full SVD to relative 1e-3 (Halko et al.:
 * error ~ (s_{k+p}/s_k)^(2q+1), here tiny). */
Test(ids_svd, top_values_match_full_svd) {
    int m = 200, n = 150, k = 10, r0 = 150;
    float *g1 = malloc(sizeof(float) * m * r0), *g2 = malloc(sizeof(float) * n * r0), *a = malloc(sizeof(float) * m * n);
    sd_rng r;
    sd_rng_seed(&r, 9);
    for (int i = 0; i < m * r0; i++) g1[i] = (float)sd_rng_normal(&r);
    for (int i = 0; i < n * r0; i++) g2[i] = (float)sd_rng_normal(&r);
    sd_err err = {0};
    cr_assert_eq(sd_orthonormalize(g1, m, r0, &err), 0);
    cr_assert_eq(sd_orthonormalize(g2, n, r0, &err), 0);
    for (int j = 0; j < r0; j++) {
        float sj = powf(0.8f, (float)j);
        for (int i = 0; i < m; i++) g1[i * r0 + j] *= sj;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, r0, 1, g1, r0, g2, r0, 0, a, n);
    sd_csr c;
    to_csr(a, m, n, &c);
    float sref[150], s[10], *u = malloc(sizeof(float) * m * k);
    full_svd(a, m, n, sref);
    cr_assert_float_eq(sref[1], 0.8f, 1e-4); /* the construction worked */
    sd_rsvd_opts o = {k, 10, 3, 2, false};
    cr_assert_eq(sd_rsvd(&c, &o, u, s, NULL, &err), 0, "%s", err.msg);
    for (int j = 0; j < k; j++) cr_assert_float_eq(s[j], sref[j], 1e-3 * sref[j], "s[%d] %g vs %g", j, s[j], sref[j]);
    /* same seed, same bytes */
    float *u2 = malloc(sizeof(float) * m * k), s2[10];
    cr_assert_eq(sd_rsvd(&c, &o, u2, s2, NULL, &err), 0);
    cr_assert_eq(memcmp(u, u2, sizeof(float) * m * k), 0);
    /* rank beyond min dimension is an error */
    o.rank = 151;
    cr_assert_lt(sd_rsvd(&c, &o, u2, s2, NULL, &err), 0);
    sd_csr_free(&c);
    free(g1); free(g2); free(a); free(u); free(u2);
}

Test(ids_svd, csr_transpose_and_mm) {
    float a[6] = {1, 0, 2, 0, 3, 0}; /* [2, 3] */
    sd_csr c, t;
    to_csr(a, 2, 3, &c);
    sd_csr_transpose(&c, &t);
    cr_assert_eq(t.n_rows, 3);
    cr_assert_eq(sd_csr_nnz(&t), 3);
    float b[6] = {1, 2, 3, 4, 5, 6}, out[4], out2[6]; /* b [3, 2] */
    sd_csr_mm(&c, b, 2, out);
    float want[4] = {1 + 10, 2 + 12, 9, 12};
    for (int i = 0; i < 4; i++) cr_assert_float_eq(out[i], want[i], 1e-6);
    float b2[4] = {1, 2, 3, 4}; /* [2, 2] */
    sd_csr_mm(&t, b2, 2, out2);
    float want2[6] = {1, 2, 9, 12, 2, 4};
    for (int i = 0; i < 6; i++) cr_assert_float_eq(out2[i], want2[i], 1e-6);
    sd_csr_free(&c);
    sd_csr_free(&t);
}
