/* Compressed sparse row matrices (float values), the form TF-IDF produces and the randomized
 * SVD consumes. */
#ifndef SD_SPARSE_H
#define SD_SPARSE_H
#include <stdint.h>

typedef struct sd_csr {
    int64_t n_rows, n_cols;
    int64_t *indptr;   /* n_rows + 1 */
    int32_t *indices;  /* nnz column ids, ascending within a row */
    float *values;     /* nnz */
} sd_csr;

static inline int64_t sd_csr_nnz(const sd_csr *a) { return a->indptr[a->n_rows]; }
void sd_csr_free(sd_csr *a);
/* out = a^T, again in CSR form (columns become rows; indices stay ascending). */
void sd_csr_transpose(const sd_csr *a, sd_csr *out);
/* c [n_rows, k] = a [n_rows, n_cols] * b [n_cols, k], all row-major. Rows run in parallel and each
 * output row is summed in index order, so the result does not depend on the thread count. */
void sd_csr_mm(const sd_csr *a, const float *b, int64_t k, float *c);

#endif
