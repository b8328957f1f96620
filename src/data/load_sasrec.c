/* SASRec's text format (Kang & McAuley's data/NAME.txt): "user item" per line, 1-based integers,
 * each user's lines together and in chronological order. No text and no timestamps: the line
 * number serves as the time, and items are named by their number. */
#include "base/log.h"
#include "base/mem.h"
#include "data/loaders.h"
#include "data/loadutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses a positive integer at *p (skipping spaces/tabs before it); false if absent or bad, with
 * *too_big set when it is a well-formed integer beyond int32 (an id out of range, not a typo). */
static bool next_int(const char **p, const char *end, int64_t *v, bool *present, bool *too_big) {
    const char *s = *p;
    while (s < end && (*s == ' ' || *s == '\t')) s++;
    *present = s < end;
    *too_big = false;
    if (s >= end) return false;
    const char *t = s;
    int64_t x = 0;
    bool neg = false;
    if (*t == '-' || *t == '+') { neg = *t == '-'; t++; }
    const char *d0 = t;
    while (t < end && *t >= '0' && *t <= '9') {
        if (x > (INT32_MAX - (*t - '0')) / 10) { x = -1; break; }
        x = x * 10 + (*t - '0');
        t++;
    }
    if (x < 0) { /* too large */
        while (t < end && *t >= '0' && *t <= '9') t++;
        *too_big = t == end || *t == ' ' || *t == '\t';
        return false;
    }
    if (t == d0 || (t < end && *t != ' ' && *t != '\t')) return false;
    *v = neg ? -x : x;
    *p = t;
    return true;
}

/* The field at f (after spaces/tabs): its start in *f, its length returned (for messages). */
static int field_at(const char **f, const char *end) {
    while (*f < end && (**f == ' ' || **f == '\t')) (*f)++;
    const char *t = *f;
    while (t < end && *t != ' ' && *t != '\t' && t - *f < 40) t++;
    return (int)(t - *f);
}

/* Gaps in the item numbers kept as placeholder items: up to twice the distinct items plus this. */
#define SASREC_GAP_SLACK 1024

static int cmp_i64(const void *pa, const void *pb) {
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    return (a > b) - (a < b);
}

typedef struct grp { int64_t user, line; } grp;

static int cmp_grp(const void *pa, const void *pb) {
    const grp *a = pa, *b = pb;
    if (a->user != b->user) return a->user < b->user ? -1 : 1;
    return (a->line > b->line) - (a->line < b->line);
}

int sd_load_sasrec(const sd_prep_opts *o, sd_catalog **cat, sd_sequences *seq, sd_prep_stats *st, sd_err *err) {
    *cat = NULL;
    memset(seq, 0, sizeof *seq);
    const char *path = o->inter_path ? o->inter_path : o->items_path;
    if (!path) return sd_errf(err, SD_EUSAGE, "sasrec: --interactions FILE (\"user item\" lines) is required");
    sd_src s;
    int rc = sd_src_open(&s, path, "interactions", o, st, err);
    if (rc) return rc;
    /* one entry per run of lines of one user; a user with two runs breaks the format */
    grp *groups = NULL;
    size_t n_groups = 0, cap_groups = 0;
    int64_t cur = -1, max_item = 0, n = 0, cap = 0;
    int64_t *users = NULL, *items = NULL;
    char *line;
    size_t len;
    bool any = false;
    while ((rc = sd_src_next(&s, &line, &len, err)) == 1) {
        rc = 0;
        if (sd_blank(line, len)) continue;
        any = true;
        const char *p = line, *end = line + len;
        int64_t u, it;
        bool present, big;
        const char *f = p;
        if (!next_int(&p, end, &u, &present, &big)) {
            int fl = field_at(&f, end);
            rc = big ? sd_src_bad(&s, err, "user: not an integer in range [1, %d]: %.*s is out of range", INT32_MAX, fl, f)
                 : present ? sd_src_bad(&s, err, "user: not an integer: \"%.40s\"", line) : sd_src_bad(&s, err, "user: missing");
        } else if (f = p, !next_int(&p, end, &it, &present, &big)) {
            int fl = field_at(&f, end);
            rc = big ? sd_src_bad(&s, err, "item: not an integer in range [1, %d]: %.*s is out of range", INT32_MAX, fl, f)
                 : present ? sd_src_bad(&s, err, "item: not an integer: \"%.40s\"", line)
                           : sd_src_bad(&s, err, "item: missing (expected \"user item\")");
        } else if (u <= 0 || it <= 0) {
            rc = sd_src_bad(&s, err, "%s: ids are 1-based, got %lld", u <= 0 ? "user" : "item",
                            (long long)(u <= 0 ? u : it));
        } else if (!sd_blank(p, end - p)) {
            rc = sd_src_bad(&s, err, "expected two fields \"user item\", found more");
        } else {
            if (u != cur) {
                SD_GROW(groups, cap_groups, n_groups + 1);
                groups[n_groups++] = (grp){u, sd_src_line(&s)};
                cur = u;
            }
            SD_GROW(users, cap, n + 1);
            items = sd_xrealloc(items, cap * sizeof *items);
            users[n] = u;
            items[n] = it;
            n++;
            if (it > max_item) max_item = it;
        }
        if (rc) break;
    }
    if (!rc && !any) rc = sd_errf(err, SD_EFORMAT, "%s: empty file (no interactions)", path);
    if (!rc && n == 0) rc = sd_errf(err, SD_EFORMAT, "%s: no valid lines", path);
    sd_src_close(&s);
    if (!rc && n_groups > 1) {
        qsort(groups, n_groups, sizeof *groups, cmp_grp);
        for (size_t i = 1; i < n_groups; i++)
            if (groups[i].user == groups[i - 1].user) {
                rc = sd_errf(err, SD_EFORMAT, "%s:%lld: user %lld appears again after other users (each user's lines "
                             "must be together, in time order; first seen at line %lld)", path,
                             (long long)groups[i].line, (long long)groups[i].user, (long long)groups[i - 1].line);
                break;
            }
    }
    free(groups);
    if (rc) { free(users); free(items); return rc; }
    /* Items are named by their number. SASRec's own code ranks over 1..max, so numbers with a few
     * gaps keep the gaps as placeholder items; numbers far sparser than the items seen (a typo, ids
     * from another system) would make one line create billions of placeholders, so then the
     * catalogue holds just the items seen, in number order. Either way it is bounded by the lines. */
    int64_t *seen = sd_xmalloc((size_t)n * sizeof *seen);
    memcpy(seen, items, (size_t)n * sizeof *seen);
    qsort(seen, (size_t)n, sizeof *seen, cmp_i64);
    int64_t distinct = 0;
    for (int64_t i = 0; i < n; i++)
        if (!i || seen[i] != seen[i - 1]) seen[distinct++] = seen[i];
    bool dense = max_item <= 2 * distinct + SASREC_GAP_SLACK;
    if (!dense)
        sd_warn("%s: item numbers run to %lld, but %lld distinct numbers occur: the catalogue holds just the "
                "numbers seen (as their ids), no placeholder items for the gaps", path, (long long)max_item,
                (long long)distinct);
    int64_t n_cat = dense ? max_item : distinct;
    sd_catalog *c = sd_catalog_new();
    for (int64_t i = 0; i < n_cat; i++) {
        long long num = dense ? (long long)i + 1 : (long long)seen[i];
        char id[24], title[40];
        snprintf(id, sizeof id, "%lld", num);
        snprintf(title, sizeof title, "item %lld", num);
        sd_item_in in = {.ext_id = id, .title = title};
        sd_catalog_add(c, &in, NULL);
    }
    sd_seqbuilder *b = sd_seqbuilder_new();
    for (int64_t i = 0; i < n; i++) {
        char uid[24];
        int k = snprintf(uid, sizeof uid, "%lld", (long long)users[i]);
        int64_t idx = dense ? items[i] - 1 : (int64_t *)bsearch(&items[i], seen, (size_t)distinct, sizeof *seen, cmp_i64) - seen;
        sd_seqbuilder_add(b, uid, (size_t)k, (int32_t)idx, i);
    }
    free(seen);
    free(users);
    free(items);
    sd_seq_opts so = sd_prep_seq_opts(o);
    rc = sd_seqbuilder_finish(b, c->n_items, &so, seq, err);
    sd_seqbuilder_free(b);
    if (rc) { sd_catalog_free(c); return rc; }
    *cat = c;
    return 0;
}
