/* Allocation. Out of memory is reported as a clear message and exit(1) rather than handled at
 * every call site: no stage can do useful work after a failed allocation, and a NULL check
 * missed somewhere would be a crash. Sizes are checked for overflow. */
#ifndef SD_MEM_H
#define SD_MEM_H
#include <stddef.h>
#include <stdint.h>

/* The out-of-memory policy above, for allocators semid does not wrap (open_memstream, ...):
 * prints the message (with the size, if n > 0) and exits(1). */
_Noreturn void sd_oom(size_t n);
void *sd_xmalloc(size_t n);
void *sd_xcalloc(size_t n, size_t size);
void *sd_xrealloc(void *p, size_t n);
/* n * size with overflow check (exits with a message on overflow). */
size_t sd_mul_size(size_t n, size_t size);
char *sd_xstrdup(const char *s);
char *sd_xstrndup(const char *s, size_t n);
/* 64-byte aligned (cache line, AVX-512 safe); zeroed; free with sd_afree. */
void *sd_aalloc(size_t n);
void sd_afree(void *p);
float *sd_afloats(size_t n); /* zeroed aligned float array */

/* Growable array helper: ensures *cap >= need, growing geometrically. */
#define SD_GROW(ptr, cap, need)                                                     \
    do {                                                                            \
        if ((size_t)(need) > (size_t)(cap)) {                                       \
            size_t nc_ = (cap) ? (size_t)(cap) * 2 : 16;                            \
            while (nc_ < (size_t)(need)) nc_ *= 2;                                  \
            (ptr) = sd_xrealloc((ptr), sd_mul_size(nc_, sizeof *(ptr)));            \
            (cap) = nc_;                                                            \
        }                                                                           \
    } while (0)

/* A string arena: many small strings in a few big blocks, freed at once. */
typedef struct sd_pool sd_pool;
sd_pool *sd_pool_new(void);
void sd_pool_free(sd_pool *p);
char *sd_pool_strdup(sd_pool *p, const char *s);
char *sd_pool_strndup(sd_pool *p, const char *s, size_t n);
void *sd_pool_alloc(sd_pool *p, size_t n); /* 8-byte aligned */
size_t sd_pool_bytes(const sd_pool *p);

#endif
