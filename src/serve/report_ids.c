/* The semantic-ID section of the report: one block per set in WORK (sids.tsv, and every
 * PREFIXsids.tsv of `semid ids --out-prefix`), from PREFIXids_report.json (the figures `semid ids`
 * measured) and PREFIXsids.tsv (codebook usage per level, collision groups with their titles). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/mem.h"
#include "base/sort.h"
#include "serve/report_internal.h"
#include "serve/svg_chart.h"
#include "ids/sid_vocab.h"
#include "io/json_util.h"

static bool ends_with(const char *s, const char *suffix, size_t *stem) {
    size_t n = strlen(s), m = strlen(suffix);
    if (n < m || strcmp(s + n - m, suffix)) return false;
    *stem = n - m;
    return true;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* prefixes P of the sets in WORK (PREFIXsids.tsv or PREFIXids_report.json), sorted, each once */
static int find_prefixes(const char *work, char ***out) {
    DIR *d = opendir(work);
    char **p = NULL;
    int n = 0;
    if (!d) { *out = NULL; return 0; }
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t stem;
        if (!ends_with(e->d_name, "sids.tsv", &stem) && !ends_with(e->d_name, "ids_report.json", &stem)) continue;
        char *pre = sd_xmalloc(stem + 1);
        memcpy(pre, e->d_name, stem);
        pre[stem] = 0;
        bool seen = false;
        for (int i = 0; i < n && !seen; i++) seen = !strcmp(p[i], pre);
        if (seen) { free(pre); continue; }
        p = sd_xrealloc(p, sizeof *p * (size_t)(n + 1));
        p[n++] = pre;
    }
    closedir(d);
    if (n) qsort(p, (size_t)n, sizeof *p, cmp_str);
    *out = p;
    return n;
}

/* ---- ids_report.json ---- */

static int report_body(const cJSON *j, const char *path, sd_html *h, sd_err *e) {
    const char *method;
    int items, levels, codes, cpi, rc;
    int64_t prefixes, unique, groups, largest;
    double share;
    const cJSON *lv;
    if ((rc = sd_json_get_string(j, "method", &method, path, e)) || (rc = sd_json_get_int(j, "items", &items, path, e)) ||
        (rc = sd_json_get_int(j, "levels", &levels, path, e)) || (rc = sd_json_get_int(j, "codes", &codes, path, e)) ||
        (rc = sd_json_get_int(j, "codes_per_item", &cpi, path, e)) ||
        (rc = sd_json_get_i64(j, "distinct_prefixes", &prefixes, path, e)) ||
        (rc = sd_json_get_i64(j, "unique_prefix_items", &unique, path, e)) ||
        (rc = sd_json_get_double(j, "unique_prefix_share", &share, path, e)) ||
        (rc = sd_json_get_i64(j, "collision_groups", &groups, path, e)) ||
        (rc = sd_json_get_i64(j, "largest_collision_group", &largest, path, e)) ||
        (rc = sd_json_get_array(j, "per_level", &lv, path, e)))
        return rc;
    double mse = -1;
    if ((rc = sd_json_opt_double(j, "recon_mse", &mse, -1, path, e))) return rc;
    sd_html_raw(h, "<div class=\"charts\"><div>\n<table class=\"kv\">\n");
    rp_kv_text(h, "method", method);
    rp_kv_num(h, "items", "%d", items);
    rp_kv_num(h, "semantic levels x codes", "%d x %d", levels, codes);
    rp_kv_num(h, "codes per item (with uniqueness)", "%d", cpi);
    if (mse >= 0) rp_kv_num(h, "reconstruction MSE", "%.6g", mse);
    rp_kv_num(h, "distinct prefixes", "%lld", (long long)prefixes);
    rp_kv_num(h, "items with a prefix of their own", "%lld (%.2f%%)", (long long)unique, 100 * share);
    rp_kv_num(h, "collision groups", "%lld", (long long)groups);
    rp_kv_num(h, "largest collision group", "%lld", (long long)largest);
    const cJSON *nb = cJSON_GetObjectItemCaseSensitive(j, "nearest_neighbour");
    if (nb) {
        char w[1100];
        snprintf(w, sizeof w, "%s: nearest_neighbour", path);
        double s1, c1, s2, c2;
        if ((rc = sd_json_get_double(nb, "same_first_code", &s1, w, e)) ||
            (rc = sd_json_get_double(nb, "chance_first_code", &c1, w, e)) ||
            (rc = sd_json_get_double(nb, "same_first_two_codes", &s2, w, e)) ||
            (rc = sd_json_get_double(nb, "chance_first_two_codes", &c2, w, e)))
            return rc;
        rp_kv_num(h, "nearest neighbour shares the first code", "%.3f (chance %.3f)", s1, c1);
        rp_kv_num(h, "nearest neighbour shares the first two", "%.3f (chance %.4f)", s2, c2);
    }
    const cJSON *pu = cJSON_GetObjectItemCaseSensitive(j, "first_level_purity"), *x;
    cJSON_ArrayForEach(x, pu) {
        char w[1100], key[200];
        snprintf(w, sizeof w, "%s: first_level_purity.%s", path, x->string ? x->string : "?");
        double p, r;
        if ((rc = sd_json_get_double(x, "purity", &p, w, e)) || (rc = sd_json_get_double(x, "random_same_sizes", &r, w, e)))
            return rc;
        snprintf(key, sizeof key, "first-level purity vs %s", x->string ? x->string : "?");
        rp_kv_num(h, key, "%.3f (random, same sizes: %.3f)", p, r);
    }
    sd_html_raw(h, "</table>\n</div><div>\n<table><tr><th>level</th><th class=\"n\">codes used</th><th class=\"n\">perplexity</th>"
                   "<th class=\"n\">largest cluster</th><th></th></tr>\n");
    int i = 0;
    cJSON_ArrayForEach(x, lv) {
        char w[1100];
        snprintf(w, sizeof w, "%s: per_level[%d]", path, i++);
        int level, used;
        int64_t big;
        double ppl;
        bool uq = false, weak = false;
        if ((rc = sd_json_get_int(x, "level", &level, w, e)) || (rc = sd_json_get_int(x, "codes_used", &used, w, e)) ||
            (rc = sd_json_get_double(x, "perplexity", &ppl, w, e)) ||
            (rc = sd_json_get_i64(x, "largest_cluster", &big, w, e)) ||
            (rc = sd_json_opt_bool(x, "uniqueness_code", &uq, false, w, e)) ||
            (rc = sd_json_opt_bool(x, "weak", &weak, false, w, e)))
            return rc;
        sd_html_printf(h, "<tr><td>%d%s</td><td class=\"n\">%d</td><td class=\"n\">%.1f</td><td class=\"n\">%lld</td>"
                          "<td>%s</td></tr>\n", level, uq ? " (uniqueness)" : "", used, ppl, (long long)big,
                       weak ? "<b>weak</b>" : "");
    }
    sd_html_raw(h, "</table>\n</div></div>\n");
    const cJSON *wa = cJSON_GetObjectItemCaseSensitive(j, "warnings");
    cJSON_ArrayForEach(x, wa) {
        if (!cJSON_IsString(x)) continue;
        sd_html_raw(h, "<p class=\"warn\">");
        sd_html_text(h, x->valuestring);
        sd_html_raw(h, "</p>\n");
    }
    return 0;
}

static void ids_report(rp_ctx *c, const char *prefix) {
    char name[512];
    snprintf(name, sizeof name, "%sids_report.json", prefix);
    char *path = rp_path(c, name);
    if (!sd_exists(path)) {
        free(path);
        rp_missing(c, name, "written by semid ids");
        return;
    }
    sd_err e = {0};
    cJSON *j = NULL;
    sd_html body = {0};
    int rc = sd_json_read_file(path, &j, &e);
    if (!rc && !cJSON_IsObject(j)) rc = sd_errf(&e, SD_EFORMAT, "%s: not a JSON object", path);
    if (!rc) rc = report_body(j, path, &body, &e);
    if (rc) rp_problem(c, e.msg);
    else sd_html_raw(c->h, body.p ? body.p : "");
    sd_html_free(&body);
    cJSON_Delete(j);
    free(path);
}

/* ---- sids.tsv: usage per level and collision groups ---- */

static int cmp_desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

typedef struct group { int32_t first, size; } group; /* first: index into the sorted order */

/* items by their semantic prefix (sd_sort: the server may build reports on several threads) */
static int cmp_prefix(const void *a, const void *b, void *ctx) {
    const sd_sid_vocab *v = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    for (int l = 0; l < v->levels; l++) {
        int32_t p = v->codes[(size_t)x * v->n_levels + l], q = v->codes[(size_t)y * v->n_levels + l];
        if (p != q) return (p > q) - (p < q);
    }
    return (x > y) - (x < y);
}

static int cmp_group(const void *a, const void *b) {
    const group *x = a, *y = b;
    if (x->size != y->size) return x->size > y->size ? -1 : 1;
    return (x->first > y->first) - (x->first < y->first);
}

#define MAX_BARS 256

static void usage_charts(rp_ctx *c, const sd_sid_vocab *v) {
    sd_html *h = c->h;
    int32_t n = v->n_items;
    sd_html_raw(h, "<h4>Codebook usage per level</h4>\n<p class=\"sub\">Items per code, most used first; a flat "
                   "profile is an evenly used codebook.</p>\n<div class=\"charts\">\n");
    for (int l = 0; l < v->n_levels; l++) {
        int32_t K = v->K[l];
        double *cnt = sd_xcalloc((size_t)(K > 0 ? K : 1), sizeof *cnt);
        for (int32_t i = 0; i < n; i++) {
            int32_t code = v->codes[(size_t)i * v->n_levels + l];
            if (code >= 0 && code < K) cnt[code]++;
        }
        int32_t used = 0;
        for (int32_t k = 0; k < K; k++) used += cnt[k] > 0;
        qsort(cnt, (size_t)K, sizeof *cnt, cmp_desc);
        /* a large codebook is drawn as MAX_BARS bars, each the most used code of its run of ranks */
        int32_t bars = K, per = 1;
        if (K > MAX_BARS) {
            per = (K + MAX_BARS - 1) / MAX_BARS;
            bars = (K + per - 1) / per;
            for (int32_t b = 0; b < bars; b++) cnt[b] = cnt[(size_t)b * per];
        }
        char title[160];
        snprintf(title, sizeof title, "level %d%s: %d of %d codes used", l, l >= v->levels ? " (uniqueness)" : "", used, K);
        char xl[64];
        if (per > 1) snprintf(xl, sizeof xl, "codes by rank (a bar per %d)", per);
        sd_svg_chart ch = {.title = title, .xlabel = per > 1 ? xl : "codes by rank", .ylabel = "items", .width = 372,
                           .height = 240};
        sd_svg_bar_chart(h, &ch, cnt, NULL, bars, NULL);
        free(cnt);
    }
    sd_html_raw(h, "</div>\n");
}

static void collision_groups(rp_ctx *c, const sd_sid_vocab *v) {
    sd_html *h = c->h;
    int32_t n = v->n_items;
    int32_t *order = sd_xmalloc(sizeof *order * (size_t)(n ? n : 1));
    for (int32_t i = 0; i < n; i++) order[i] = i;
    sd_sort(order, (size_t)n, sizeof *order, cmp_prefix, (void *)v);
    group *gs = NULL;
    size_t ng = 0, cap = 0;
    for (int32_t i = 0; i < n;) {
        int32_t j = i + 1;
        while (j < n && !memcmp(v->codes + (size_t)order[i] * v->n_levels, v->codes + (size_t)order[j] * v->n_levels,
                                sizeof(int32_t) * (size_t)v->levels))
            j++;
        if (j - i > 1) {
            SD_GROW(gs, cap, ng + 1);
            gs[ng++] = (group){.first = i, .size = j - i};
        }
        i = j;
    }
    if (ng) qsort(gs, ng, sizeof *gs, cmp_group);
    sd_html_printf(h, "<h4>Collision groups</h4>\n<p class=\"sub\">%zu group%s of items that share all %d semantic "
                      "codes (told apart by the uniqueness code alone).%s</p>\n", ng, ng == 1 ? "" : "s", v->levels,
                   ng > 10 ? " The 10 largest:" : "");
    if (ng) {
        sd_html_raw(h, "<table><tr><th>prefix</th><th class=\"n\">items</th><th>titles</th></tr>\n");
        for (size_t g = 0; g < ng && g < 10; g++) {
            sd_html_raw(h, "<tr><td><code>");
            const int32_t *code = v->codes + (size_t)order[gs[g].first] * v->n_levels;
            for (int l = 0; l < v->levels; l++) sd_html_printf(h, "%s%d", l ? "-" : "", code[l]);
            sd_html_printf(h, "</code></td><td class=\"n\">%d</td><td><ul class=\"titles\">", gs[g].size);
            for (int32_t k = 0; k < gs[g].size && k < 6; k++) {
                int32_t it = order[gs[g].first + k];
                sd_html_raw(h, "<li>");
                if (c->have_work && it < c->w.cat->n_items) sd_html_text(h, c->w.cat->items[it].title);
                else sd_html_printf(h, "item %d", it);
                sd_html_raw(h, "</li>");
            }
            if (gs[g].size > 6) sd_html_printf(h, "<li>&hellip; %d more</li>", gs[g].size - 6);
            sd_html_raw(h, "</ul></td></tr>\n");
        }
        sd_html_raw(h, "</table>\n");
    }
    free(gs);
    free(order);
}

static void sids_table(rp_ctx *c, const char *prefix) {
    char name[512];
    snprintf(name, sizeof name, "%ssids.tsv", prefix);
    char *path = rp_path(c, name);
    if (!sd_exists(path)) {
        free(path);
        rp_missing(c, name, "written by semid ids");
        return;
    }
    sd_sid_vocab v;
    sd_err e = {0};
    if (sd_sid_vocab_open(&v, path, c->have_work ? c->w.cat : NULL, &e)) rp_problem(c, e.msg);
    else {
        usage_charts(c, &v);
        collision_groups(c, &v);
        sd_sid_vocab_free(&v);
    }
    free(path);
}

void rp_section_ids(rp_ctx *c) {
    char **pre;
    int n = find_prefixes(c->work, &pre);
    if (!n) { rp_missing(c, "sids.tsv, ids_report.json", "written by semid ids (after semid embed)"); return; }
    rp_heading(c, "ids", "Semantic IDs");
    for (int i = 0; i < n; i++) {
        sd_html_raw(c->h, "<h3>");
        if (*pre[i]) {
            sd_html_raw(c->h, "Set <code>");
            sd_html_text(c->h, pre[i]);
            sd_html_raw(c->h, "</code> (");
            sd_html_text(c->h, pre[i]);
            sd_html_raw(c->h, "sids.tsv)");
        } else sd_html_raw(c->h, "Set sids.tsv (the one later stages read)");
        sd_html_raw(c->h, "</h3>\n");
        ids_report(c, pre[i]);
        sids_table(c, pre[i]);
        free(pre[i]);
    }
    free(pre);
    sd_html_raw(c->h, "</section>\n");
}
