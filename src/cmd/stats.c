/* semid stats: a summary of a work directory (sizes, sequence lengths, popularity, attribute
 * coverage, split), as text or JSON. */
#include "cmd/cli.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/strmap.h"
#include "data/workdir.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pop { int64_t count; int32_t item; } pop;

static int cmp_pop(const void *a, const void *b) {
    const pop *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

typedef struct cov { const char *key; int64_t items; } cov;

static int cmp_cov(const void *a, const void *b) {
    const cov *x = a, *y = b;
    if (x->items != y->items) return x->items > y->items ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int run(int argc, char **argv) {
    bool json = false;
    int top = 10;
    sd_usage u = {.usage = "semid stats WORK [--json]",
                  .about = "Prints what a work directory holds: items, users, interactions, sequence lengths, "
                           "density,\n"
                           "the most popular items, attribute coverage, items without interactions and the split.",
                  .min_pos = 1, .max_pos = 1};
    sd_opt opts[] = {
        {.name = "json", .type = SD_OPT_FLAG, .ptr = &json, .help = "print one JSON object instead of text"},
        {.name = "top", .type = SD_OPT_INT, .ptr = &top, .metavar = "N",
         .help = "how many popular items to list (default 10)"},
        {0},
    };
    sd_err err = {0};
    char **pos = NULL;
    int rc = sd_parse(&u, opts, argc, argv, &pos, NULL, &err);
    if (rc) return rc == 1 ? 0 : sd_cmd_error(&err);
    if (top < 0) top = 0;
    sd_work w;
    double t0 = sd_now();
    rc = sd_work_load(&w, pos[0], &err);
    free(pos);
    if (rc) return sd_cmd_error(&err);
    double t_load = sd_now() - t0;
    const sd_catalog *c = w.cat;
    const sd_sequences *s = &w.seq;
    int32_t ni = c->n_items, nu = s->n_users;

    int32_t *lens = sd_xmalloc((nu ? nu : 1) * sizeof *lens);
    int32_t max_len = 0;
    for (int32_t i = 0; i < nu; i++) { lens[i] = sd_seq_len(s, i); if (lens[i] > max_len) max_len = lens[i]; }
    qsort(lens, nu, sizeof *lens, cmp_i32);
    double mean = nu ? (double)s->n_inter / nu : 0;
    double median = !nu ? 0 : nu % 2 ? lens[nu / 2] : 0.5 * (lens[nu / 2 - 1] + lens[nu / 2]);
    int32_t min_len = nu ? lens[0] : 0;
    double density = nu && ni ? (double)s->n_inter / ((double)nu * ni) : 0;

    int64_t *counts = sd_xcalloc(ni ? ni : 1, sizeof *counts);
    sd_sequences_item_counts(s, counts);
    pop *p = sd_xmalloc((ni ? ni : 1) * sizeof *p);
    int64_t cold = 0;
    for (int32_t i = 0; i < ni; i++) { p[i] = (pop){.count = counts[i], .item = i}; cold += counts[i] == 0; }
    qsort(p, ni, sizeof *p, cmp_pop);
    int ntop = top < ni ? top : ni;

    /* attribute coverage: share of items with at least one value for the key */
    sd_strmap keys;
    sd_strmap_init(&keys, 64);
    cov *cv = NULL;
    size_t ncv = 0, capcv = 0;
    int32_t *last = NULL; /* last item counted per key, so repeated keys count once */
    size_t caplast = 0;
    for (int32_t i = 0; i < ni; i++) {
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
                cv[ncv++] = (cov){.key = kv[a].key, .items = 0};
                last[k] = -1;
            }
            if (last[k] != i) { last[k] = i; cv[k].items++; }
        }
    }
    qsort(cv, ncv, sizeof *cv, cmp_cov);
    int64_t n_valid = 0, n_test = 0, n_train = 0;
    for (int32_t i = 0; i < nu; i++) {
        n_valid += w.split.valid_pos[i] >= 0;
        n_test += w.split.test_pos[i] >= 0;
        n_train += w.split.train_len[i];
    }

    if (json) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "work", w.dir);
        cJSON_AddStringToObject(m, "format", w.format);
        cJSON_AddNumberToObject(m, "items", ni);
        cJSON_AddNumberToObject(m, "users", nu);
        cJSON_AddNumberToObject(m, "interactions", (double)s->n_inter);
        cJSON *sl = cJSON_AddObjectToObject(m, "seq_len");
        cJSON_AddNumberToObject(sl, "mean", mean);
        cJSON_AddNumberToObject(sl, "median", median);
        cJSON_AddNumberToObject(sl, "min", min_len);
        cJSON_AddNumberToObject(sl, "max", max_len);
        cJSON_AddNumberToObject(m, "density", density);
        cJSON_AddNumberToObject(m, "cold_items", (double)cold);
        cJSON *tp = cJSON_AddArrayToObject(m, "top_items");
        for (int i = 0; i < ntop; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "id", p[i].item);
            cJSON_AddStringToObject(o, "ext_id", c->items[p[i].item].ext_id);
            cJSON_AddStringToObject(o, "title", c->items[p[i].item].title);
            cJSON_AddNumberToObject(o, "count", (double)p[i].count);
            cJSON_AddItemToArray(tp, o);
        }
        cJSON *ac = cJSON_AddObjectToObject(m, "attribute_coverage");
        for (size_t k = 0; k < ncv; k++) cJSON_AddNumberToObject(ac, cv[k].key, ni ? (double)cv[k].items / ni : 0);
        cJSON *sp = cJSON_AddObjectToObject(m, "split");
        cJSON_AddStringToObject(sp, "kind", sd_split_name(w.split.kind));
        cJSON_AddNumberToObject(sp, "train_interactions", (double)n_train);
        cJSON_AddNumberToObject(sp, "users_with_valid", (double)n_valid);
        cJSON_AddNumberToObject(sp, "users_with_test", (double)n_test);
        cJSON_AddNumberToObject(m, "load_seconds", t_load);
        char *txt = cJSON_Print(m);
        puts(txt);
        free(txt);
        cJSON_Delete(m);
    } else {
        printf("work           %s (format %s, loaded in %.2f s)\n", w.dir, w.format, t_load);
        printf("items          %d (%lld without interactions)\n", ni, (long long)cold);
        printf("users          %d\n", nu);
        printf("interactions   %lld (density %.3g)\n", (long long)s->n_inter, density);
        printf("sequence len   mean %.2f  median %.1f  min %d  max %d\n", mean, median, min_len, max_len);
        printf("split          %s: %lld train interactions, %lld users with a validation target, %lld with a test "
               "target\n", sd_split_name(w.split.kind), (long long)n_train, (long long)n_valid, (long long)n_test);
        printf("top items\n");
        for (int i = 0; i < ntop; i++)
            printf("  %8lld  %-14s %.70s\n", (long long)p[i].count, c->items[p[i].item].ext_id, c->items[p[i].item].title);
        printf("attribute coverage (share of items)\n");
        if (!ncv) printf("  (no attributes)\n");
        for (size_t k = 0; k < ncv; k++) printf("  %6.1f%%  %s\n", ni ? 100.0 * cv[k].items / ni : 0.0, cv[k].key);
    }
    sd_strmap_free(&keys);
    free(cv); free(last); free(p); free(counts); free(lens);
    sd_work_free(&w);
    return 0;
}
SD_COMMAND(stats, "stats", "summarise a work directory (sizes, lengths, popularity, coverage, split)", run)
