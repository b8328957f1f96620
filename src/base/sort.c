#define _GNU_SOURCE /* qsort_r */
#include "base/sort.h"
#include <stdlib.h>

void sd_sort(void *base, size_t n, size_t size, sd_cmp_ctx cmp, void *ctx) {
    if (n > 1) qsort_r(base, n, size, cmp, ctx);
}
