/* Title search (data/item_search.h). A linear scan: 100k titles take a few milliseconds, far less
 * than one decode step of the model the search serves. */
#include "data/item_search.h"
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include "base/mem.h"

static char *fold(const char *s) {
    utf8proc_uint8_t *out = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)(s ? s : ""), 0, &out,
                                      UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT |
                                          UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK);
    if (n < 0) return sd_xstrdup(""); /* invalid UTF-8 matches nothing */
    char *r = sd_xstrdup((char *)out);
    free(out);
    return r;
}

void sd_item_index_init(sd_item_index *ix, const sd_catalog *cat, const int64_t *weight) {
    ix->n_items = cat->n_items;
    ix->folded = sd_xmalloc(sizeof(char *) * (size_t)(cat->n_items ? cat->n_items : 1));
    ix->weight = sd_xcalloc((size_t)(cat->n_items ? cat->n_items : 1), sizeof(int64_t));
    for (int32_t i = 0; i < cat->n_items; i++) {
        ix->folded[i] = fold(cat->items[i].title);
        if (weight) ix->weight[i] = weight[i];
    }
}

void sd_item_index_free(sd_item_index *ix) {
    for (int32_t i = 0; ix->folded && i < ix->n_items; i++) free(ix->folded[i]);
    free(ix->folded);
    free(ix->weight);
    memset(ix, 0, sizeof *ix);
}

typedef struct hit { int32_t item; int tier; int64_t w; } hit;

static int by_rank(const void *a, const void *b) {
    const hit *x = a, *y = b;
    if (x->tier != y->tier) return x->tier - y->tier;
    if (x->w != y->w) return x->w > y->w ? -1 : 1;
    return x->item - y->item;
}

int sd_item_search(const sd_item_index *ix, const char *query, int max, int32_t *out) {
    if (max <= 0) return 0;
    char *q = fold(query);
    /* words of the query, in place */
    char *words[32];
    int nw = 0;
    char *save = NULL; /* strtok_r: the server searches from several threads at once */
    for (char *p = strtok_r(q, " \t\r\n", &save); p && nw < 32; p = strtok_r(NULL, " \t\r\n", &save))
        words[nw++] = p;
    if (!nw) { free(q); return 0; }
    char *whole = fold(query);
    /* the query with single spaces, for the tiers */
    size_t wl = 0;
    for (int i = 0; i < nw; i++) {
        size_t l = strlen(words[i]);
        if (i) whole[wl++] = ' ';
        memmove(whole + wl, words[i], l);
        wl += l;
    }
    whole[wl] = 0;
    hit *h = NULL;
    int n = 0, cap = 0;
    for (int32_t i = 0; i < ix->n_items; i++) {
        const char *t = ix->folded[i];
        bool all = true;
        for (int k = 0; k < nw && all; k++) all = strstr(t, words[k]) != NULL;
        if (!all) continue;
        const char *at = strstr(t, whole);
        int tier = at == t ? 0 : at && (at[-1] == ' ' || at[-1] == '-' || at[-1] == ':') ? 1 : 2;
        if (n == cap) { cap = cap ? 2 * cap : 64; h = sd_xrealloc(h, sizeof *h * (size_t)cap); }
        h[n++] = (hit){.item = i, .tier = tier, .w = ix->weight[i]};
    }
    if (n > 1) qsort(h, (size_t)n, sizeof *h, by_rank); /* h is NULL when nothing matched */
    int k = n < max ? n : max;
    for (int i = 0; i < k; i++) out[i] = h[i].item;
    free(h);
    free(q);
    free(whole);
    return k;
}
