/* qsort with a context argument, so a comparison that needs more than its two elements (a key
 * array, a row width) reads it from the call rather than from a file-scope variable: two threads
 * sorting at once, as a server's request handlers will, cannot see each other's keys.
 * It is glibc's qsort_r, the same algorithm as qsort, so orders (ties included) do not change. */
#ifndef SD_SORT_H
#define SD_SORT_H
#include <stddef.h>

typedef int (*sd_cmp_ctx)(const void *a, const void *b, void *ctx);
void sd_sort(void *base, size_t n, size_t size, sd_cmp_ctx cmp, void *ctx);

#endif
