#include "base/finite.h"
#include <float.h>
#include <math.h>
#include <stdint.h>

/* Blocks are tested with a branch-free OR that the compiler vectorises; only the first block
 * that holds a bad value is searched element by element. */
#define BLOCK 4096

size_t sd_first_nonfinite(const float *x, size_t n) {
    size_t nb = (n + BLOCK - 1) / BLOCK, first = SIZE_MAX;
#pragma omp parallel for schedule(static) reduction(min : first)
    for (size_t b = 0; b < nb; b++) {
        const float *p = x + b * BLOCK;
        size_t len = n - b * BLOCK < BLOCK ? n - b * BLOCK : BLOCK;
        int bad = 0;
        for (size_t k = 0; k < len; k++) bad |= !(fabsf(p[k]) <= FLT_MAX); /* NaN compares false */
        if (bad && b < first) first = b;
    }
    if (first == SIZE_MAX) return n;
    for (size_t i = first * BLOCK; i < n; i++)
        if (!isfinite(x[i])) return i;
    return n; /* not reached */
}
