/* Randomized truncated SVD of a sparse matrix (Halko, Martinsson & Tropp 2011, Algorithms 4.4
 * and 5.1): a Gaussian test matrix with `oversample` extra columns, `power_iters` subspace
 * iterations with re-orthonormalisation after every product, then an exact SVD of the small
 * projected matrix. Dense products go through nn/gemm.h, sparse ones through sd_csr_mm. */
#ifndef SD_RSVD_H
#define SD_RSVD_H
#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"
#include "text/sparse.h"

typedef struct sd_rsvd_opts {
    int rank;          /* number of singular triplets wanted; <= min(n_rows, n_cols) */
    int oversample;    /* extra test vectors (10) */
    int power_iters;   /* subspace iterations (3) */
    uint64_t seed;     /* Gaussian test matrix */
    bool show_progress;
} sd_rsvd_opts;

/* a [n_rows, n_cols] ~ U diag(S) Vt. Outputs: u [n_rows, rank], s [rank] descending, vt
 * [rank, n_cols] (may be NULL when not needed). Signs are fixed so that the largest-magnitude
 * entry of each column of U is positive, so the factors do not flip between runs. Deterministic
 * for a seed: the same bytes for every thread count. */
int sd_rsvd(const sd_csr *a, const sd_rsvd_opts *o, float *u, float *s, float *vt, sd_err *err);

/* Replaces the columns of the row-major y [n, l] (n >= l) by an orthonormal basis of their span. */
int sd_orthonormalize(float *y, int64_t n, int64_t l, sd_err *err);

#endif
