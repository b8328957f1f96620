/* One parallel pass that finds the first NaN or Inf in a float array, for loaders that refuse
 * non-finite weights or embeddings (they would otherwise run, or spread into outputs, silently). */
#ifndef SD_BASE_FINITE_H
#define SD_BASE_FINITE_H
#include <stddef.h>

/* Index of the first non-finite value of x[0..n), or n when every value is finite. */
size_t sd_first_nonfinite(const float *x, size_t n);

#endif
