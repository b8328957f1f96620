#include "ids/embfile.h"
#include "io/npy.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/finite.h"
#include "base/mem.h"
#include "base/strmap.h"

int sd_embfile_write_npy(const char *path, const float *x, int64_t n, int64_t d, sd_err *err) {
    int64_t shape[2] = {n, d};
    return sd_npy_write_f32(path, x, 2, shape, err);
}

int sd_embfile_read_npy(const char *path, float **out, int64_t *n_out, int64_t *d_out, sd_err *err) {
    *out = NULL;
    float *x = NULL;
    int ndim = 0;
    int64_t shape[SD_NPY_MAX_DIMS];
    int rc = sd_npy_load_f32(path, 0, &x, &ndim, shape, err);
    if (rc) return rc;
    if (ndim != 2) {
        sd_afree(x);
        return sd_errf(err, SD_EFORMAT, "%s: embeddings must be a 2-D array (N, D), this one has %d dimensions", path, ndim);
    }
    int64_t n = shape[0], d = shape[1];
    /* caught here, naming the file, rather than later as a k-means or RQ-VAE "dimension 0" */
    if (n < 1 || d < 1) {
        sd_afree(x);
        return sd_errf(err, SD_EFORMAT, "%s: embeddings of shape (%lld, %lld): need at least one row and one column",
                       path, (long long)n, (long long)d);
    }
    size_t bad = sd_first_nonfinite(x, (size_t)n * (size_t)d);
    if (bad < (size_t)n * (size_t)d) {
        float v = x[bad];
        sd_afree(x);
        return sd_errf(err, SD_EFORMAT, "%s: row %lld (column %lld) is %s; embeddings must be finite", path,
                       (long long)(bad / (size_t)d), (long long)(bad % (size_t)d), isnan(v) ? "NaN" : "Inf");
    }
    *out = x;
    *n_out = n;
    *d_out = d;
    return 0;
}

int sd_embfile_reorder_by_ids(float **x, int64_t n, int64_t d, const char *ids_path, const sd_catalog *cat,
                              sd_err *err) {
    sd_lines *lr;
    int rc = sd_lines_open(&lr, ids_path, err);
    if (rc) return rc;
    int32_t ni = cat->n_items;
    int64_t *row_of = sd_xmalloc(sizeof(int64_t) * (size_t)(ni ? ni : 1));
    for (int32_t i = 0; i < ni; i++) row_of[i] = -1;
    char *line;
    size_t len;
    int64_t row = 0;
    while ((rc = sd_lines_next(lr, &line, &len, err)) == 1) {
        while (len && (line[len - 1] == ' ' || line[len - 1] == '\t')) len--;
        if (!len) { rc = sd_errf(err, SD_EFORMAT, "%s:%lld: empty id", ids_path, (long long)sd_lines_lineno(lr)); break; }
        if (row >= n) {
            rc = sd_errf(err, SD_EFORMAT, "%s:%lld: more ids than the %lld rows of the .npy", ids_path,
                         (long long)sd_lines_lineno(lr), (long long)n);
            break;
        }
        int32_t id = sd_catalog_findn(cat, line, len);
        if (id < 0) { rc = sd_errf(err, SD_EFORMAT, "%s:%lld: id \"%.*s\" is not in the catalogue", ids_path, (long long)sd_lines_lineno(lr), (int)len, line); break; }
        if (row_of[id] >= 0) {
            rc = sd_errf(err, SD_EFORMAT, "%s:%lld: id \"%.*s\" repeats (first on line %lld)", ids_path,
                         (long long)sd_lines_lineno(lr), (int)len, line, (long long)row_of[id] + 1);
            break;
        }
        row_of[id] = row++;
    }
    sd_lines_close(lr);
    if (rc < 0) { free(row_of); return rc; }
    if (row != n) { free(row_of); return sd_errf(err, SD_EFORMAT, "%s: %lld ids but the .npy has %lld rows", ids_path, (long long)row, (long long)n); }
    for (int32_t i = 0; i < ni; i++)
        if (row_of[i] < 0) {
            free(row_of);
            return sd_errf(err, SD_EFORMAT, "%s: item \"%s\" (internal id %d) has no row", ids_path, cat->items[i].ext_id, i);
        }
    float *y = sd_xmalloc(sd_mul_size(sd_mul_size((size_t)ni, (size_t)d), sizeof(float)));
    for (int32_t i = 0; i < ni; i++) memcpy(y + (size_t)i * d, *x + (size_t)row_of[i] * d, sizeof(float) * (size_t)d);
    free(*x);
    *x = y;
    free(row_of);
    return 0;
}

void sd_emb_l2_normalize(float *x, int64_t n, int64_t d) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n; r++) {
        float *row = x + r * d;
        double s = 0;
        for (int64_t c = 0; c < d; c++) s += (double)row[c] * row[c];
        if (s > 0) {
            float inv = (float)(1.0 / sqrt(s));
            for (int64_t c = 0; c < d; c++) row[c] *= inv;
        }
    }
}
