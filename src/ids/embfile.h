/* The embedding-file layer: item vectors as a NumPy .npy file, shape (N, D), rows in internal-id
 * order, on top of src/io/npy (any float dtype is read and converted to float32; C order only),
 * so `semid embed` and `semid ids` exchange vectors with Python tools. */
#ifndef SD_EMBFILE_H
#define SD_EMBFILE_H
#include <stdint.h>
#include "base/err.h"
#include "data/catalog.h"

/* Writes x [n, d] as '<f4', fortran_order False, atomically (temp file + rename). */
int sd_embfile_write_npy(const char *path, const float *x, int64_t n, int64_t d, sd_err *err);

/* Reads an (N, D) float array into a malloc'd float32 [N, D] (*x, free with free()).
 * Errors name the file: bad magic/header, another dtype, fortran order, a shape that is not 2-D,
 * a truncated file, no rows or no columns, and a value that is NaN or Inf (the first, in one
 * parallel pass: "emb.npy: row 17 (column 3) is NaN"). */
int sd_embfile_read_npy(const char *path, float **x, int64_t *n, int64_t *d, sd_err *err);

/* Reorders rows read from an .npy into internal-id order using an ids file (one external id per
 * line, line i naming the item of row i). Every catalogue item must appear exactly once; an
 * unknown, duplicate or missing id is an error naming the ids file and line. x [n, d] is replaced
 * by a new [cat->n_items, d] array. */
int sd_embfile_reorder_by_ids(float **x, int64_t n, int64_t d, const char *ids_path, const sd_catalog *cat,
                              sd_err *err);

/* Scales each row of x [n, d] to unit L2 norm (zero rows stay zero). */
void sd_emb_l2_normalize(float *x, int64_t n, int64_t d);

#endif
