/* What `semid lmdata` may say about items: their attributes seen through the catalogue (which
 * keys exist, which values are common), popularity in the training prefixes, the attributes two
 * items truly share. Generic over attribute keys: the keys that play the roles below are looked
 * up by name and may be missing (a task that needs a missing role is skipped). Categories count
 * as the attribute "category". */
#ifndef SD_LM_LMDATA_FACTS_H
#define SD_LM_LMDATA_FACTS_H
#include <stdbool.h>
#include <stdint.h>
#include "base/strmap.h"
#include "data/workdir.h"

#define SD_LM_MAX_FACETS 32

/* A role's values (genres, platforms) with their items in popularity order. */
typedef struct sd_lm_role_vals {
    const char *key;          /* NULL: the catalogue has no such attribute */
    int n;                    /* distinct values, most items first */
    const char **vals;
    int32_t **items;          /* items[v]: items (of the main product type) with value v, most popular first */
    int32_t *n_items;
    int32_t *first;           /* first[item]: id of the item's first value of this key, or -1 */
} sd_lm_role_vals;

typedef struct sd_lm_facts {
    const sd_catalog *cat;
    int32_t n_items;
    const char *noun;         /* "games", "movies", "products" */
    const char *type_key, *main_type; /* product_type and its commonest value (requests name only those) */
    sd_lm_role_vals kind, place; /* genre-like and platform-like attributes */
    int64_t *pop;             /* interactions of each item in training prefixes */
    int32_t *by_pop;          /* items, most popular first (ties: lower id) */
    /* every (key, value) of every item, categories included, in one array */
    int64_t *kv_off;          /* n_items + 1 */
    sd_kv *kv;
    /* how many items hold each (key, value): a value most items hold says nothing */
    sd_strmap value_count_map; int32_t *value_count; size_t n_value_counts, cap_value_counts;
    /* facet keys for prefix -> category: few distinct values, on enough items */
    int n_facets;
    const char *facet_key[SD_LM_MAX_FACETS];
    sd_pool *pool;
} sd_lm_facts;

void sd_lm_facts_init(sd_lm_facts *f, const sd_work *w);
void sd_lm_facts_free(sd_lm_facts *f);

/* Items holding (key, value). */
int32_t sd_lm_value_items(const sd_lm_facts *f, const char *key, const char *value);
/* True when most of the catalogue holds it (it tells one item from another not at all). */
bool sd_lm_value_trivial(const sd_lm_facts *f, const char *key, const char *value);
bool sd_lm_item_has(const sd_lm_facts *f, int32_t item, const char *key, const char *value);
const char *sd_lm_item_first(const sd_lm_facts *f, int32_t item, const char *key);
/* "Platform", "Multiplayer": a key as a label. Into buf. */
const char *sd_lm_key_label(const char *key, char *buf, size_t cap);
/* Keys never worth a sentence (price, part numbers, dates, ids). */
bool sd_lm_key_ignored(const char *key);

/* What a and b truly share, most telling first (franchise, genre, platform, multiplayer, brand,
 * a feature, category, year): up to max (key, value) pairs; "multiplayer" is "online" when both
 * play online, else "yes" when both can be played together. Returns the count. */
int sd_lm_shared(const sd_lm_facts *f, int32_t a, int32_t b, const char **keys, const char **vals, int max);
/* The same over n items (bundles): what all of them share. */
int sd_lm_shared_all(const sd_lm_facts *f, const int32_t *items, int n, const char **keys, const char **vals, int max);

/* The catalogue's genre-like key (what f->kind.key is), or NULL: for callers without facts. */
const char *sd_lm_catalog_kind_key(const sd_catalog *cat);
/* " (Horror, Shooter)": the item's values of kind_key, as an answer line names them after the
 * title; "" when it has none or kind_key is NULL. Into buf (cap > 0). Titles carry the platform
 * but not the genre, so without this the model sees an item's genre next to its SID only in
 * sid2attrs, and learns the platform words but not the genre words. */
const char *sd_lm_kind_suffix(const sd_catalog *cat, const char *kind_key, int32_t item, char *buf, size_t cap);

/* The role that the key of a claim plays, for phrasing: 'k' kind, 'p' place, 'f' franchise,
 * 'm' multiplayer, 'b' brand, 'F' feature, 'c' category, 'y' year, 0 other. */
char sd_lm_claim_kind(const sd_lm_facts *f, const char *key);

#endif
