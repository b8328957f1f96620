/* What a work directory holds, in figures: sizes, sequence lengths, density, the most popular
 * items, attribute coverage and the split. Computed once here for `semid stats` and the HTML
 * report (serve/report.h), so both always show the same numbers. */
#ifndef SD_WORK_STATS_H
#define SD_WORK_STATS_H
#include <stdint.h>
#include "data/workdir.h"

typedef struct sd_item_count { int32_t item; int64_t count; } sd_item_count;
typedef struct sd_attr_cover { const char *key; int64_t items; } sd_attr_cover; /* key points into the catalogue */

typedef struct sd_work_stats {
    int32_t items, users;
    int64_t interactions;
    double density;             /* interactions / (users * items) */
    int64_t cold_items;         /* items without any interaction */
    double len_mean, len_median;
    int32_t len_min, len_max;
    int32_t *lens_sorted;       /* [users] sequence lengths, ascending */
    sd_item_count *top;         /* [n_top] most interactions first, then lower id */
    int n_top;
    sd_attr_cover *cover;       /* [n_cover] items having each attribute key, most first, then by key */
    int n_cover;
    int64_t train_interactions, users_with_valid, users_with_test;
    int64_t cold_test_users;    /* test targets that are cold items (split cold_target) */
} sd_work_stats;

/* top: how many popular items to keep (<= 0: none). */
void sd_work_stats_compute(const sd_work *w, int top, sd_work_stats *s);
void sd_work_stats_free(sd_work_stats *s);

#endif
