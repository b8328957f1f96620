/* Catalogue facts for `semid lmdata` (lm/lmdata_facts.h). */
#include "lm/lmdata_facts.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"

/* Names a role's attribute goes by in the catalogues semid reads (synthetic store, Amazon
 * details, MovieLens). */
static const char *const kind_keys[] = {"genre", "Genre", "genres", NULL};
static const char *const place_keys[] = {"platform", "Platform", NULL};
static const char *const type_keys[] = {"product_type", NULL};
static const char *const franchise_keys[] = {"franchise", "series", "Series", NULL};
static const char *const brand_keys[] = {"brand", "Brand", "store", "Manufacturer", "publisher", NULL};
static const char *const multiplayer_keys[] = {"multiplayer", NULL};
static const char *const year_keys[] = {"year", NULL};
/* numbers and dates: true when shared, but no reason to like an item */
static const char *const ignored_keys[] = {"price", "franchise_part", "release_date", "Release date",
                                           "Date First Available", "Item Weight", "Product Dimensions",
                                           "Best Sellers Rank", "ASIN", "Item model number", "rating_number",
                                           "average_rating", "UPC", NULL};

static bool in_list(const char *const *l, const char *s) {
    for (; *l; l++) if (!strcmp(*l, s)) return true;
    return false;
}

bool sd_lm_key_ignored(const char *key) { return in_list(ignored_keys, key); }

/* "key\x1fvalue" interned in the pool, as the map key of a (key, value) pair */
static const char *pair_key(sd_pool *pool, const char *key, const char *value, char *buf, size_t cap, size_t *len) {
    int n = snprintf(buf, cap, "%s\x1f%s", key, value);
    *len = n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
    return pool ? sd_pool_strndup(pool, buf, *len) : buf;
}

int32_t sd_lm_value_items(const sd_lm_facts *f, const char *key, const char *value) {
    char buf[1024];
    size_t len;
    pair_key(NULL, key, value, buf, sizeof buf, &len);
    int32_t id = sd_strmap_get(&f->value_count_map, buf, len);
    return id < 0 ? 0 : f->value_count[id];
}

bool sd_lm_value_trivial(const sd_lm_facts *f, const char *key, const char *value) {
    return 2 * (int64_t)sd_lm_value_items(f, key, value) > f->n_items;
}

bool sd_lm_item_has(const sd_lm_facts *f, int32_t item, const char *key, const char *value) {
    for (int64_t i = f->kv_off[item]; i < f->kv_off[item + 1]; i++)
        if (!strcmp(f->kv[i].key, key) && !strcmp(f->kv[i].value, value)) return true;
    return false;
}

const char *sd_lm_item_first(const sd_lm_facts *f, int32_t item, const char *key) {
    if (!key) return NULL;
    for (int64_t i = f->kv_off[item]; i < f->kv_off[item + 1]; i++)
        if (!strcmp(f->kv[i].key, key)) return f->kv[i].value;
    return NULL;
}

const char *sd_lm_key_label(const char *key, char *buf, size_t cap) {
    snprintf(buf, cap, "%s", key);
    for (char *p = buf; *p; p++) if (*p == '_') *p = ' ';
    buf[0] = (char)toupper((unsigned char)buf[0]);
    return buf;
}

static const char *first_present(const sd_lm_facts *f, const char *const *names) {
    for (; *names; names++) {
        int32_t n = 0;
        for (int64_t i = 0; i < f->kv_off[f->n_items] && !n; i++) n = !strcmp(f->kv[i].key, *names);
        if (n) return *names;
    }
    return NULL;
}

static const sd_lm_facts *sort_facts;
static int by_pop_cmp(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    int64_t px = sort_facts->pop[x], py = sort_facts->pop[y];
    return px != py ? (px < py ? 1 : -1) : (x > y) - (x < y);
}

/* The values of key, most items first, each with its items in popularity order; only items of
 * the main product type when the catalogue has one (a request for RPGs wants games). */
static void role_init(sd_lm_facts *f, sd_lm_role_vals *r, const char *key) {
    memset(r, 0, sizeof *r);
    r->key = key;
    if (!key) return;
    sd_strmap ids;
    sd_strmap_init(&ids, 64);
    int cap = 0;
    r->first = sd_xmalloc(sizeof(int32_t) * (size_t)(f->n_items ? f->n_items : 1));
    for (int32_t k = 0; k < f->n_items; k++) {
        int32_t item = f->by_pop[k];
        r->first[item] = -1;
        bool typed = !f->type_key || sd_lm_item_has(f, item, f->type_key, f->main_type);
        for (int64_t i = f->kv_off[item]; i < f->kv_off[item + 1]; i++) {
            if (strcmp(f->kv[i].key, key)) continue;
            const char *val = f->kv[i].value;
            int32_t id = sd_strmap_put(&ids, val, strlen(val), r->n);
            if (id < 0) {
                id = r->n++;
                SD_GROW(r->vals, cap, r->n);
                r->items = sd_xrealloc(r->items, sizeof *r->items * (size_t)cap);
                r->n_items = sd_xrealloc(r->n_items, sizeof *r->n_items * (size_t)cap);
                r->vals[id] = val;
                r->items[id] = NULL;
                r->n_items[id] = 0;
            }
            if (r->first[item] < 0) r->first[item] = id;
            if (!typed) continue;
            r->items[id] = sd_xrealloc(r->items[id], sizeof(int32_t) * (size_t)(r->n_items[id] + 1));
            r->items[id][r->n_items[id]++] = item; /* by_pop order: most popular first */
        }
    }
    sd_strmap_free(&ids);
}

static const sd_lm_role_vals *sort_role;
static int by_count_cmp(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    int32_t nx = sort_role->n_items[x], ny = sort_role->n_items[y];
    return nx != ny ? (nx < ny ? 1 : -1) : (x > y) - (x < y);
}

/* Values renumbered most items first (ties: first met in popularity order), first[] with them. */
static void role_sort(sd_lm_facts *f, sd_lm_role_vals *r) {
    if (r->n < 2) return;
    int32_t *order = sd_xmalloc(sizeof(int32_t) * (size_t)r->n), *inv = sd_xmalloc(sizeof(int32_t) * (size_t)r->n);
    for (int i = 0; i < r->n; i++) order[i] = i;
    sort_role = r;
    qsort(order, (size_t)r->n, sizeof(int32_t), by_count_cmp);
    const char **vals = sd_xmalloc(sizeof *vals * (size_t)r->n);
    int32_t **items = sd_xmalloc(sizeof *items * (size_t)r->n), *n_items = sd_xmalloc(sizeof(int32_t) * (size_t)r->n);
    for (int i = 0; i < r->n; i++) {
        vals[i] = r->vals[order[i]], items[i] = r->items[order[i]], n_items[i] = r->n_items[order[i]];
        inv[order[i]] = i;
    }
    free(r->vals); free(r->items); free(r->n_items);
    r->vals = vals, r->items = items, r->n_items = n_items;
    for (int32_t k = 0; k < f->n_items; k++) if (r->first[k] >= 0) r->first[k] = inv[r->first[k]];
    free(order);
    free(inv);
}

static void role_free(sd_lm_role_vals *r) {
    for (int i = 0; i < r->n; i++) free(r->items[i]);
    free(r->items); free(r->n_items); free(r->vals); free(r->first);
}

void sd_lm_facts_init(sd_lm_facts *f, const sd_work *w) {
    memset(f, 0, sizeof *f);
    const sd_catalog *c = w->cat;
    f->cat = c;
    f->n_items = c->n_items;
    f->pool = sd_pool_new();
    size_t n1 = (size_t)f->n_items + 1;
    /* popularity from the training prefixes only: what the model may know of test time */
    f->pop = sd_xcalloc(n1, sizeof(int64_t));
    for (int32_t u = 0; u < w->seq.n_users; u++) {
        const int32_t *it = sd_seq_items(&w->seq, u);
        for (int32_t t = 0; t < w->split.train_len[u]; t++) f->pop[it[t]]++;
    }
    f->by_pop = sd_xmalloc(sizeof(int32_t) * n1);
    for (int32_t i = 0; i < f->n_items; i++) f->by_pop[i] = i;
    sort_facts = f;
    qsort(f->by_pop, (size_t)f->n_items, sizeof(int32_t), by_pop_cmp);
    /* (key, value) pairs: attributes, then categories as "category" */
    f->kv_off = sd_xmalloc(sizeof(int64_t) * n1);
    size_t cap = 0, n = 0;
    for (int32_t i = 0; i < f->n_items; i++) {
        const sd_item *it = &c->items[i];
        f->kv_off[i] = (int64_t)n;
        SD_GROW(f->kv, cap, n + it->n_attrs + it->n_categories);
        const sd_kv *a = sd_item_attrs(c, it);
        for (uint32_t k = 0; k < it->n_attrs; k++)
            if (a[k].value && a[k].value[0]) f->kv[n++] = a[k];
        const char *const *cats = sd_item_categories(c, it);
        for (uint32_t k = 0; k < it->n_categories; k++)
            if (cats[k][0]) f->kv[n++] = (sd_kv){"category", cats[k]};
    }
    f->kv_off[f->n_items] = (int64_t)n;
    sd_strmap_init(&f->value_count_map, n / 4 + 16);
    for (size_t i = 0; i < n; i++) {
        char buf[1024];
        size_t len;
        pair_key(NULL, f->kv[i].key, f->kv[i].value, buf, sizeof buf, &len);
        int32_t id = sd_strmap_get(&f->value_count_map, buf, len);
        if (id < 0) {
            const char *k = pair_key(f->pool, f->kv[i].key, f->kv[i].value, buf, sizeof buf, &len);
            id = (int32_t)f->n_value_counts++;
            sd_strmap_put(&f->value_count_map, k, len, id);
            SD_GROW(f->value_count, f->cap_value_counts, f->n_value_counts);
            f->value_count[id] = 0;
        }
        f->value_count[id]++;
    }
    f->type_key = first_present(f, type_keys);
    if (f->type_key) {
        int32_t best = 0;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(f->kv[i].key, f->type_key)) {
                int32_t m = sd_lm_value_items(f, f->type_key, f->kv[i].value);
                if (m > best) best = m, f->main_type = f->kv[i].value;
            }
    }
    role_init(f, &f->kind, first_present(f, kind_keys));
    role_init(f, &f->place, first_present(f, place_keys));
    role_sort(f, &f->kind);
    role_sort(f, &f->place);
    const char *fmt = w->format ? w->format : "";
    f->noun = !strcmp(fmt, "movielens") ? "movies" : (!strcmp(fmt, "synth") || f->place.key) ? "games" : "products";
    /* facet keys: a handful of distinct values (not names or numbers), held by a tenth of the items */
    for (size_t i = 0; i < n && f->n_facets < SD_LM_MAX_FACETS; i++) {
        const char *key = f->kv[i].key;
        bool seen = sd_lm_key_ignored(key);
        for (int k = 0; k < f->n_facets && !seen; k++) seen = !strcmp(f->facet_key[k], key);
        if (seen) continue;
        int32_t distinct = 0;
        int64_t holders = 0;
        for (int32_t it = 0; it < f->n_items; it++) {
            bool has = false;
            for (int64_t j = f->kv_off[it]; j < f->kv_off[it + 1]; j++) has |= !strcmp(f->kv[j].key, key);
            holders += has;
        }
        /* distinct values: count pairs with this key in the count map by scanning kv once more */
        sd_strmap d;
        sd_strmap_init(&d, 64);
        for (size_t j = 0; j < n && distinct <= 64; j++)
            if (!strcmp(f->kv[j].key, key) && sd_strmap_put(&d, f->kv[j].value, strlen(f->kv[j].value), distinct) < 0)
                distinct++;
        sd_strmap_free(&d);
        if (distinct >= 2 && distinct <= 64 && holders * 10 >= f->n_items) f->facet_key[f->n_facets++] = key;
    }
}

void sd_lm_facts_free(sd_lm_facts *f) {
    role_free(&f->kind);
    role_free(&f->place);
    free(f->pop); free(f->by_pop); free(f->kv_off); free(f->kv); free(f->value_count);
    sd_strmap_free(&f->value_count_map);
    sd_pool_free(f->pool);
    memset(f, 0, sizeof *f);
}

char sd_lm_claim_kind(const sd_lm_facts *f, const char *key) {
    if (!strcmp(key, "features")) return 'F';
    if (!strcmp(key, "category")) return 'c';
    if (f->kind.key && !strcmp(key, f->kind.key)) return 'k';
    if (f->place.key && !strcmp(key, f->place.key)) return 'p';
    if (in_list(franchise_keys, key)) return 'f';
    if (in_list(multiplayer_keys, key)) return 'm';
    if (in_list(brand_keys, key)) return 'b';
    if (in_list(year_keys, key)) return 'y';
    return 0;
}

/* Is a feature bullet held by every item? (exact text) */
static bool all_have_feature(const sd_lm_facts *f, const int32_t *items, int n, const char *feat) {
    for (int i = 0; i < n; i++) {
        const sd_item *it = &f->cat->items[items[i]];
        const char *const *fs = sd_item_features(f->cat, it);
        bool has = false;
        for (uint32_t k = 0; k < it->n_features && !has; k++) has = !strcmp(fs[k], feat);
        if (!has) return false;
    }
    return true;
}

static bool all_have(const sd_lm_facts *f, const int32_t *items, int n, const char *key, const char *value) {
    for (int i = 0; i < n; i++) if (!sd_lm_item_has(f, items[i], key, value)) return false;
    return true;
}

/* multiplayer is "no", "yes" or "online": all "online" -> online; none "no" -> yes */
static const char *shared_multiplayer(const sd_lm_facts *f, const int32_t *items, int n, const char *key) {
    bool online = true;
    for (int i = 0; i < n; i++) {
        const char *m = sd_lm_item_first(f, items[i], key);
        if (!m || !strcmp(m, "no") || !strcmp(m, "false")) return NULL;
        online &= !strcmp(m, "online");
    }
    return online ? "online" : "yes";
}

int sd_lm_shared_all(const sd_lm_facts *f, const int32_t *items, int n, const char **keys, const char **vals, int max) {
    static const char order[] = "fkpmbFcy";
    int got = 0;
    for (const char *o = order; *o && got < max; o++) {
        if (*o == 'F') { /* one shared feature bullet, the first of the first item's */
            const sd_item *it = &f->cat->items[items[0]];
            const char *const *fs = sd_item_features(f->cat, it);
            for (uint32_t k = 0; k < it->n_features; k++)
                if (strlen(fs[k]) <= 80 && all_have_feature(f, items, n, fs[k])) {
                    keys[got] = "features", vals[got++] = fs[k];
                    break;
                }
            continue;
        }
        /* the values of the first item for keys of this role, each checked on all the others */
        for (int64_t i = f->kv_off[items[0]]; i < f->kv_off[items[0] + 1] && got < max; i++) {
            const sd_kv *kv = &f->kv[i];
            if (sd_lm_claim_kind(f, kv->key) != *o || sd_lm_key_ignored(kv->key)) continue;
            /* the same value under another key (a category named like the platform) says it twice */
            bool dup = false;
            for (int g = 0; g < got && !dup; g++)
                dup = (!strcmp(keys[g], kv->key) && *o == 'm') || !strcmp(vals[g], kv->value);
            if (dup) continue;
            if (*o == 'm') {
                const char *m = shared_multiplayer(f, items, n, kv->key);
                if (m) keys[got] = kv->key, vals[got++] = m;
                continue;
            }
            if (sd_lm_value_trivial(f, kv->key, kv->value) || !all_have(f, items, n, kv->key, kv->value)) continue;
            keys[got] = kv->key, vals[got++] = kv->value;
        }
    }
    return got;
}

int sd_lm_shared(const sd_lm_facts *f, int32_t a, int32_t b, const char **keys, const char **vals, int max) {
    int32_t two[2] = {a, b};
    return sd_lm_shared_all(f, two, 2, keys, vals, max);
}

const char *sd_lm_catalog_kind_key(const sd_catalog *cat) {
    for (const char *const *k = kind_keys; *k; k++)
        for (int32_t i = 0; i < cat->n_items; i++) {
            const sd_kv *kv = sd_item_attrs(cat, &cat->items[i]);
            for (uint32_t j = 0; j < cat->items[i].n_attrs; j++)
                if (!strcmp(kv[j].key, *k)) return *k;
        }
    return NULL;
}

const char *sd_lm_kind_suffix(const sd_catalog *cat, const char *kind_key, int32_t item, char *buf, size_t cap) {
    buf[0] = 0;
    if (!kind_key || item < 0 || item >= cat->n_items) return buf;
    const sd_kv *kv = sd_item_attrs(cat, &cat->items[item]);
    size_t n = 0;
    int m = 0;
    for (uint32_t j = 0; j < cat->items[item].n_attrs && n + 1 < cap; j++) {
        if (strcmp(kv[j].key, kind_key) || !kv[j].value[0]) continue;
        int w = snprintf(buf + n, cap - n, "%s%s", m ? ", " : " (", kv[j].value);
        if (w < 0 || (size_t)w >= cap - n) { buf[n] = 0; break; }
        n += (size_t)w;
        m++;
    }
    if (m && n + 2 <= cap) { buf[n++] = ')'; buf[n] = 0; }
    else buf[0] = 0; /* nothing, or no room to close it */
    return buf;
}
