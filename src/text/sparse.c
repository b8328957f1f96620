#include "text/sparse.h"
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"

void sd_csr_free(sd_csr *a) {
    free(a->indptr);
    free(a->indices);
    free(a->values);
    memset(a, 0, sizeof *a);
}

void sd_csr_transpose(const sd_csr *a, sd_csr *out) {
    int64_t nnz = sd_csr_nnz(a);
    out->n_rows = a->n_cols;
    out->n_cols = a->n_rows;
    out->indptr = sd_xcalloc((size_t)a->n_cols + 1, sizeof(int64_t));
    out->indices = sd_xmalloc(sizeof(int32_t) * (size_t)(nnz ? nnz : 1));
    out->values = sd_xmalloc(sizeof(float) * (size_t)(nnz ? nnz : 1));
    for (int64_t i = 0; i < nnz; i++) out->indptr[a->indices[i] + 1]++;
    for (int64_t c = 0; c < a->n_cols; c++) out->indptr[c + 1] += out->indptr[c];
    int64_t *next = sd_xmalloc(sizeof(int64_t) * (size_t)(a->n_cols ? a->n_cols : 1));
    memcpy(next, out->indptr, sizeof(int64_t) * (size_t)a->n_cols);
    /* rows visited in order, so each transposed row's indices come out ascending */
    for (int64_t r = 0; r < a->n_rows; r++)
        for (int64_t p = a->indptr[r]; p < a->indptr[r + 1]; p++) {
            int64_t q = next[a->indices[p]]++;
            out->indices[q] = (int32_t)r;
            out->values[q] = a->values[p];
        }
    free(next);
}

void sd_csr_mm(const sd_csr *a, const float *b, int64_t k, float *c) {
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t r = 0; r < a->n_rows; r++) {
        float *out = c + r * k;
        memset(out, 0, sizeof(float) * (size_t)k);
        for (int64_t p = a->indptr[r]; p < a->indptr[r + 1]; p++) {
            const float v = a->values[p];
            const float *row = b + (int64_t)a->indices[p] * k;
            for (int64_t j = 0; j < k; j++) out[j] += v * row[j];
        }
    }
}
