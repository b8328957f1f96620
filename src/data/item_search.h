/* Finding items by their title, for `semid chat`'s /items and the server's GET /v1/items?q=.
 *
 * Titles and queries are folded the way TF-IDF folds text (utf8proc NFKC + casefold + strip
 * marks), so "pokemon" finds "Pokémon". An item matches when every word of the query occurs in its
 * folded title; matches are ranked: the title starts with the query, then a word of it does, then
 * the rest, each by the item's weight (training interactions, when given) and then by id. */
#ifndef SD_ITEM_SEARCH_H
#define SD_ITEM_SEARCH_H
#include <stdint.h>
#include "data/catalog.h"

typedef struct sd_item_index {
    int32_t n_items;
    char **folded;          /* [n_items] folded titles */
    int64_t *weight;        /* [n_items] */
} sd_item_index;

/* weight [cat->n_items] may be NULL (all equal). */
void sd_item_index_init(sd_item_index *ix, const sd_catalog *cat, const int64_t *weight);
void sd_item_index_free(sd_item_index *ix);
/* Up to max matches of query into out (best first); returns their number. An empty query (or
 * only spaces) matches nothing. */
int sd_item_search(const sd_item_index *ix, const char *query, int max, int32_t *out);

#endif
