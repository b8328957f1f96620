/* semid stats: a summary of a work directory (sizes, sequence lengths, popularity, attribute
 * coverage, split), as text or JSON. */
#include "cmd/cli.h"
#include "base/log.h"
#include "base/mem.h"
#include "data/work_stats.h"
#include "data/workdir.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    sd_work_stats st;
    sd_work_stats_compute(&w, top, &st);
    int32_t ni = st.items, nu = st.users;
    double mean = st.len_mean, median = st.len_median, density = st.density;
    int32_t min_len = st.len_min, max_len = st.len_max;
    int64_t cold = st.cold_items, n_valid = st.users_with_valid, n_test = st.users_with_test,
            n_train = st.train_interactions;
    const sd_item_count *p = st.top;
    const sd_attr_cover *cv = st.cover;
    int ntop = st.n_top;
    size_t ncv = (size_t)st.n_cover;
    const sd_sequences *s = &w.seq;

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
    sd_work_stats_free(&st);
    sd_work_free(&w);
    return 0;
}
SD_COMMAND(stats, "stats", "summarise a work directory (sizes, lengths, popularity, coverage, split)", run)
