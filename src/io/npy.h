/* NumPy .npy arrays: read (mmap, bounds-checked) and write.
 *
 * Read: format versions 1.0, 2.0 and 3.0; dtypes '<f4' '<f2' '<f8' '<i8' '<i4' '<i2' '|i1' '|u1'
 * '<u2' '<u4' '<u8' '|b1' (and '=' native). Big-endian ('>f4', ...) is accepted and byte-swapped
 * by the conversion functions (`swap` is set; `data` stays in file order). Fortran order,
 * structured or object dtypes, unknown or repeated header keys, a header over 1 MB, and any
 * size mismatch (short data or trailing bytes) are errors naming the file.
 * Write: version 1.0, little-endian, C order, the header laid
 * out exactly as numpy 1.24 writes it (so files are byte-identical to np.save), data 64-byte aligned. */
#ifndef SD_NPY_H
#define SD_NPY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/err.h"
#include "base/file.h"
#include "io/dtype.h"

#define SD_NPY_MAX_DIMS 8

typedef struct sd_npy {
    sd_dtype dtype;
    bool swap;          /* stored big-endian; the read functions swap */
    int ndim;
    int64_t shape[SD_NPY_MAX_DIMS];
    size_t numel, nbytes;
    const void *data;   /* into the mapping/buffer, file byte order (aligned if the writer aligned) */
    int major, minor;   /* format version */
    char *path;         /* file name (or label) used in messages */
    sd_map map;
} sd_npy;

/* On error nothing needs closing. */
int sd_npy_open(sd_npy *a, const char *path, sd_err *err);
/* Parses an image in memory (borrowed: keep buf alive while using a). */
int sd_npy_parse(sd_npy *a, const void *buf, size_t len, const char *label, sd_err *err);
void sd_npy_close(sd_npy *a);
/* Into n floats / int64 (n must equal numel). Floats from any float or integer dtype; int64 only
 * from integer dtypes. */
int sd_npy_read_f32(const sd_npy *a, float *out, size_t n, sd_err *err);
int sd_npy_read_i64(const sd_npy *a, int64_t *out, size_t n, sd_err *err);
/* Whole file as floats in a new sd_afloats buffer (free with sd_afree). shape has SD_NPY_MAX_DIMS
 * room. When want_ndim > 0 the array must have that many dims. */
int sd_npy_load_f32(const char *path, int want_ndim, float **data, int *ndim, int64_t *shape, sd_err *err);

/* Writes data (little-endian, C order) as dtype: F32 F16 F64 I64 I32 I16 I8 U8 U16 U32 U64 BOOL.
 * F16 data is raw half bits (uint16). Atomic (temp + rename). */
int sd_npy_write(const char *path, sd_dtype dtype, const void *data, int ndim, const int64_t *shape, sd_err *err);
int sd_npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape, sd_err *err);

#endif
