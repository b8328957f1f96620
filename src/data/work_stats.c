#include "data/work_stats.h"
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/strmap.h"

static int cmp_count(const void *a, const void *b) {
    const sd_item_count *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int cmp_cover(const void *a, const void *b) {
    const sd_attr_cover *x = a, *y = b;
    if (x->items != y->items) return x->items > y->items ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* share of items with at least one value for each key (a key repeated on one item counts once) */
static void coverage(const sd_catalog *c, sd_work_stats *s) {
    sd_strmap keys;
    sd_strmap_init(&keys, 64);
    sd_attr_cover *cv = NULL;
    int32_t *last = NULL; /* last item counted per key */
    size_t ncv = 0, capcv = 0, caplast = 0;
    for (int32_t i = 0; i < c->n_items; i++) {
        const sd_item *it = &c->items[i];
        const sd_kv *kv = sd_item_attrs(c, it);
        for (uint32_t a = 0; a < it->n_attrs; a++) {
            size_t kl = strlen(kv[a].key);
            int32_t k = sd_strmap_get(&keys, kv[a].key, kl);
            if (k < 0) {
                k = (int32_t)ncv;
                sd_strmap_put(&keys, kv[a].key, kl, k);
                SD_GROW(cv, capcv, ncv + 1);
                SD_GROW(last, caplast, ncv + 1);
                cv[ncv++] = (sd_attr_cover){.key = kv[a].key, .items = 0};
                last[k] = -1;
            }
            if (last[k] != i) { last[k] = i; cv[k].items++; }
        }
    }
    if (ncv) qsort(cv, ncv, sizeof *cv, cmp_cover);
    sd_strmap_free(&keys);
    free(last);
    s->cover = cv;
    s->n_cover = (int)ncv;
}

void sd_work_stats_compute(const sd_work *w, int top, sd_work_stats *s) {
    memset(s, 0, sizeof *s);
    const sd_catalog *c = w->cat;
    const sd_sequences *q = &w->seq;
    int32_t ni = c->n_items, nu = q->n_users;
    s->items = ni, s->users = nu, s->interactions = q->n_inter;
    s->lens_sorted = sd_xmalloc((nu ? nu : 1) * sizeof *s->lens_sorted);
    for (int32_t i = 0; i < nu; i++) s->lens_sorted[i] = sd_seq_len(q, i);
    qsort(s->lens_sorted, nu, sizeof *s->lens_sorted, cmp_i32);
    const int32_t *l = s->lens_sorted;
    s->len_mean = nu ? (double)q->n_inter / nu : 0;
    s->len_median = !nu ? 0 : nu % 2 ? l[nu / 2] : 0.5 * (l[nu / 2 - 1] + l[nu / 2]);
    s->len_min = nu ? l[0] : 0;
    s->len_max = nu ? l[nu - 1] : 0;
    s->density = nu && ni ? (double)q->n_inter / ((double)nu * ni) : 0;

    int64_t *counts = sd_xcalloc(ni ? ni : 1, sizeof *counts);
    sd_sequences_item_counts(q, counts);
    sd_item_count *p = sd_xmalloc((ni ? ni : 1) * sizeof *p);
    for (int32_t i = 0; i < ni; i++) {
        p[i] = (sd_item_count){.item = i, .count = counts[i]};
        s->cold_items += counts[i] == 0;
    }
    qsort(p, ni, sizeof *p, cmp_count);
    s->n_top = top < 0 ? 0 : top < ni ? top : ni;
    s->top = p;
    free(counts);
    coverage(c, s);
    for (int32_t i = 0; i < nu; i++) {
        s->users_with_valid += w->split.valid_pos[i] >= 0;
        s->users_with_test += w->split.test_pos[i] >= 0;
        s->train_interactions += w->split.train_len[i];
        if (w->split.cold_target) s->cold_test_users += w->split.cold_target[i] && w->split.test_pos[i] >= 0;
    }
}

void sd_work_stats_free(sd_work_stats *s) {
    free(s->lens_sorted);
    free(s->top);
    free(s->cover);
    memset(s, 0, sizeof *s);
}
