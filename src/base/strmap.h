/* String -> int32 hash map (open addressing, linear probing). Keys are not copied: they must
 * outlive the map (catalogues keep them in an sd_pool). */
#ifndef SD_STRMAP_H
#define SD_STRMAP_H
#include <stddef.h>
#include <stdint.h>

typedef struct sd_strmap {
    const char **keys;
    uint32_t *key_len;
    int32_t *vals;
    uint64_t *hashes;
    size_t cap, n;
} sd_strmap;

void sd_strmap_init(sd_strmap *m, size_t expected);
void sd_strmap_free(sd_strmap *m);
uint64_t sd_hash_bytes(const void *p, size_t n);
/* Returns the existing value, or inserts val and returns -1. */
int32_t sd_strmap_put(sd_strmap *m, const char *key, size_t len, int32_t val);
int32_t sd_strmap_get(const sd_strmap *m, const char *key, size_t len); /* -1 if absent */

#endif
