/* The item catalogue: dense internal ids 0..N-1 <-> external ids (ASIN, MovieLens id, ...),
 * with title, description, features, categories and attributes (key -> values; a key may
 * repeat for multi-valued attributes such as genre). Strings live in one arena. */
#ifndef SD_CATALOG_H
#define SD_CATALOG_H
#include <stddef.h>
#include <stdint.h>
#include "base/err.h"
#include "base/mem.h"
#include "base/strmap.h"

typedef struct sd_kv { const char *key, *value; } sd_kv;

typedef struct sd_item {
    const char *ext_id, *title, *description;
    size_t features_off, categories_off, attrs_off; /* into sd_catalog.strs / .attrs */
    uint32_t n_features, n_categories, n_attrs;
} sd_item;

/* What a loader hands to sd_catalog_add; strings are copied. NULL strings become "". */
typedef struct sd_item_in {
    const char *ext_id, *title, *description;
    const char *const *features; uint32_t n_features;
    const char *const *categories; uint32_t n_categories;
    const sd_kv *attrs; uint32_t n_attrs;
} sd_item_in;

typedef struct sd_catalog {
    sd_item *items;
    int32_t n_items, cap_items;
    const char **strs; size_t n_strs, cap_strs;   /* features and categories */
    sd_kv *attrs; size_t n_attrs, cap_attrs;
    sd_pool *pool;
    sd_strmap index;                               /* ext_id -> internal id */
} sd_catalog;

sd_catalog *sd_catalog_new(void);
void sd_catalog_free(sd_catalog *c);
/* Adds an item; returns its internal id, or SD_EFORMAT (duplicate or empty external id). */
int32_t sd_catalog_add(sd_catalog *c, const sd_item_in *in, sd_err *err);
int32_t sd_catalog_find(const sd_catalog *c, const char *ext_id); /* -1 if absent */
int32_t sd_catalog_findn(const sd_catalog *c, const char *ext_id, size_t len);

static inline const char *const *sd_item_features(const sd_catalog *c, const sd_item *it) {
    return c->strs + it->features_off;
}
static inline const char *const *sd_item_categories(const sd_catalog *c, const sd_item *it) {
    return c->strs + it->categories_off;
}
static inline const sd_kv *sd_item_attrs(const sd_catalog *c, const sd_item *it) { return c->attrs + it->attrs_off; }
/* First value of attribute key, or NULL. */
const char *sd_item_attr(const sd_catalog *c, int32_t id, const char *key);

/* Keeps only items with keep[id] != 0, renumbering densely in order; remap[old] = new or -1
 * (remap may be NULL). */
sd_catalog *sd_catalog_subset(const sd_catalog *c, const uint8_t *keep, int32_t *remap);

/* items.jsonl: one JSON object per line: {"id", "ext_id", "title", "description", "features",
 * "categories", "attributes": {key: [values]}}; ids must be 0..N-1 in order. */
int sd_catalog_write_jsonl(const sd_catalog *c, const char *path, sd_err *err);
int sd_catalog_read_jsonl(sd_catalog **out, const char *path, sd_err *err);

#endif
