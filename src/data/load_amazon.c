/* Amazon Reviews 2023 (McAuley lab): item metadata JSONL plus either the review JSONL or the
 * benchmark CSV ("user_id,parent_asin,rating,timestamp[,history]"). With a history column the
 * sequences are built as semantic-ids-llm does: per user the row with the longest history,
 * sequence = history + [parent_asin]. */
#include "base/log.h"
#include "base/mem.h"
#include "data/csv.h"
#include "data/loaders.h"
#include "data/loadutil.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct hist_row {  /* a user's longest-history CSV row so far */
    char *buf;             /* parent_asin '\0' history '\0' */
    const char *user;      /* key in amz.users */
    uint32_t user_len;
    uint32_t cap, item_len, hist_len;
    int32_t ntok;          /* history items; -1 = no row yet */
    int64_t ts, line;
} hist_row;

typedef struct amz {
    const sd_prep_opts *o;
    sd_prep_stats *st;
    sd_catalog *cat;
    sd_strmap dropped;     /* ext ids of items removed by the filters */
    sd_pool *pool;
    sd_seqbuilder *sb;
    int64_t inter_filtered;
    /* benchmark CSV */
    int c_user, c_item, c_rating, c_ts, c_hist, ncols;
    bool header_done, hist_mode;
    sd_strmap users;
    hist_row *rows;
    size_t n_rows, cap_rows, last_row;
} amz;

/* Internal id, -1 for an item removed by the filters, -2 for one not in the metadata. */
static int32_t lookup(const amz *a, const char *id, size_t len) {
    int32_t k = sd_catalog_findn(a->cat, id, len);
    if (k >= 0) return k;
    return sd_strmap_get(&a->dropped, id, len) >= 0 ? -1 : -2;
}

/* ---- metadata ---- */

static bool is_null(const cJSON *v) { return !v || cJSON_IsNull(v); }

static int meta_item(amz *a, sd_src *s, sd_itemb *b, const cJSON *j, sd_err *err) {
    const sd_prep_opts *o = a->o;
    const cJSON *idv = cJSON_GetObjectItemCaseSensitive(j, "parent_asin");
    if (!idv) return sd_src_bad(s, err, "\"parent_asin\" missing");
    if (!cJSON_IsString(idv) || !idv->valuestring[0])
        return sd_src_bad(s, err, "\"parent_asin\" must be a non-empty string");
    const char *id = idv->valuestring;
    size_t idlen = strlen(id);
    if (!sd_utf8_valid(id, idlen)) return sd_src_bad(s, err, "\"parent_asin\" is not valid UTF-8");
    if (lookup(a, id, idlen) != -2) return sd_src_bad(s, err, "\"parent_asin\": duplicate item \"%s\"", id);

    const cJSON *title = cJSON_GetObjectItemCaseSensitive(j, "title");
    if (!is_null(title) && !cJSON_IsString(title)) return sd_src_bad(s, err, "\"title\" must be a string");
    static const char *const lists[] = {"description", "features", "categories"};
    const cJSON *lv[3];
    for (int k = 0; k < 3; k++) {
        lv[k] = cJSON_GetObjectItemCaseSensitive(j, lists[k]);
        if (!is_null(lv[k]) && !sd_json_is_str_list(lv[k]))
            return sd_src_bad(s, err, "\"%s\" must be a list of strings", lists[k]);
    }
    static const char *const strs[] = {"main_category", "store"};
    static const char *const nums[] = {"average_rating", "rating_number"};
    const cJSON *sv[2], *nv[2];
    for (int k = 0; k < 2; k++) {
        sv[k] = cJSON_GetObjectItemCaseSensitive(j, strs[k]);
        if (!is_null(sv[k]) && !cJSON_IsString(sv[k])) return sd_src_bad(s, err, "\"%s\" must be a string", strs[k]);
        nv[k] = cJSON_GetObjectItemCaseSensitive(j, nums[k]);
        if (!is_null(nv[k]) && !cJSON_IsNumber(nv[k])) return sd_src_bad(s, err, "\"%s\" must be a number", nums[k]);
    }
    const cJSON *price = cJSON_GetObjectItemCaseSensitive(j, "price");
    if (!is_null(price) && !cJSON_IsNumber(price) && !cJSON_IsString(price))
        return sd_src_bad(s, err, "\"price\" must be a number, a string or null");
    const cJSON *details = cJSON_GetObjectItemCaseSensitive(j, "details");
    if (!is_null(details) && !cJSON_IsObject(details)) return sd_src_bad(s, err, "\"details\" must be an object");

    sd_itemb_reset(b);
    if (!is_null(title)) sd_itemb_title(b, title->valuestring);
    if (!is_null(lv[0])) sd_itemb_desc_list(b, lv[0]);
    if ((o->min_title_chars > 0 && sd_itemb_chars(b, b->title) <= (size_t)o->min_title_chars) ||
        (o->min_desc_chars > 0 && sd_itemb_chars(b, b->desc) <= (size_t)o->min_desc_chars)) {
        sd_strmap_put(&a->dropped, sd_pool_strndup(a->pool, id, idlen), idlen, 1);
        a->st->items_filtered++;
        return 0;
    }
    const cJSON *e;
    if (!is_null(lv[1])) cJSON_ArrayForEach(e, lv[1]) sd_itemb_feature(b, e->valuestring);
    if (!is_null(lv[2])) cJSON_ArrayForEach(e, lv[2]) sd_itemb_category(b, e->valuestring);
    sd_itemb_attr_json(b, "main_category", sv[0]);
    sd_itemb_attr_json(b, "store", sv[1]);
    sd_itemb_attr_json(b, "price", price);
    sd_itemb_attr_json(b, "average_rating", nv[0]);
    sd_itemb_attr_json(b, "rating_number", nv[1]);
    if (!is_null(details)) cJSON_ArrayForEach(e, details) sd_itemb_attr_json(b, e->string, e);
    int32_t rc = sd_itemb_add(b, a->cat, id, err);
    return rc < 0 ? rc : 0;
}

typedef struct item_ctx { amz *owner; sd_itemb *b; } item_ctx;

static int meta_object(void *ctx, sd_src *s, const cJSON *obj, sd_err *err) {
    item_ctx *ic = ctx;
    return meta_item(ic->owner, s, ic->b, obj, err);
}

static int read_meta(amz *a, sd_err *err) {
    sd_src s;
    int rc = sd_src_open(&s, a->o->items_path, "items", a->o, a->st, err);
    if (rc) return rc;
    sd_itemb b = {0};
    item_ctx ic = {a, &b};
    int64_t n_lines = 0;
    rc = sd_src_each_object(&s, meta_object, &ic, &n_lines, err);
    if (!rc && n_lines == 0) rc = sd_errf(err, SD_EFORMAT, "%s: empty file (no item metadata)", s.path);
    if (!rc && a->cat->n_items == 0)
        rc = sd_errf(err, SD_EFORMAT, "%s: no items left (%lld removed by the filters title > %d chars and description > "
                     "%d chars, %lld bad lines skipped)", s.path, (long long)a->st->items_filtered, a->o->min_title_chars,
                     a->o->min_desc_chars, (long long)s.skipped);
    if (b.n_bad)
        sd_warn("%s: %lld invalid UTF-8 bytes in %lld items replaced by U+FFFD", s.path, (long long)b.n_bad,
                (long long)b.items_with_bad);
    sd_itemb_free(&b);
    sd_src_close(&s);
    return rc;
}

/* ---- interactions ---- */

static int add_inter(amz *a, sd_src *s, const char *field, const char *user, size_t ulen, const char *item,
                     size_t ilen, int64_t t, int64_t line, sd_err *err) {
    int32_t k = lookup(a, item, ilen);
    if (k == -1) { a->inter_filtered++; return 0; }
    if (k == -2) return sd_src_unknown(s, err, field, item, ilen, line);
    sd_seqbuilder_add(a->sb, user, ulen, k, t);
    return 0;
}

static int review_line(amz *a, sd_src *s, const char *line, size_t len, sd_err *err) {
    cJSON *j;
    int rc = sd_src_parse_object(s, line, len, &j, err);
    if (rc || !j) return rc;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "user_id");
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, "parent_asin");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(j, "timestamp");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "rating");
    if (!u) rc = sd_src_bad(s, err, "\"user_id\" missing");
    else if (!cJSON_IsString(u) || !u->valuestring[0]) rc = sd_src_bad(s, err, "\"user_id\" must be a non-empty string");
    else if (!it) rc = sd_src_bad(s, err, "\"parent_asin\" missing");
    else if (!cJSON_IsString(it) || !it->valuestring[0])
        rc = sd_src_bad(s, err, "\"parent_asin\" must be a non-empty string");
    else if (!ts) rc = sd_src_bad(s, err, "\"timestamp\" missing");
    else if (!cJSON_IsNumber(ts) || ts->valuedouble != floor(ts->valuedouble) || fabs(ts->valuedouble) > 9e18)
        rc = sd_src_bad(s, err, "\"timestamp\" must be an integer (milliseconds)");
    else if (!is_null(r) && !cJSON_IsNumber(r)) rc = sd_src_bad(s, err, "\"rating\" must be a number");
    else if (a->o->min_rating > 0 && is_null(r)) rc = sd_src_bad(s, err, "\"rating\" missing (needed for --min-rating)");
    else if (a->o->min_rating > 0 && r->valuedouble < a->o->min_rating) rc = 0;
    else
        rc = add_inter(a, s, "parent_asin", u->valuestring, strlen(u->valuestring), it->valuestring,
                       strlen(it->valuestring), (int64_t)ts->valuedouble, 0, err);
    cJSON_Delete(j);
    return rc;
}

static int csv_header(amz *a, sd_src *s, char **f, size_t *fl, int nf, bool *is_header, sd_err *err) {
    *is_header = false;
    for (int i = 0; i < nf && i < 16; i++)
        if (!strcmp(f[i], "user_id") || !strcmp(f[i], "parent_asin")) *is_header = true;
    a->header_done = true;
    if (!*is_header) { /* positional: user_id,parent_asin,rating,timestamp[,history] */
        if (nf != 4 && nf != 5)
            return sd_errf(err, SD_EFORMAT, "%s:%lld: expected 4 or 5 columns (user_id,parent_asin,rating,timestamp"
                           "[,history]) or a header line, got %d", s->path, (long long)sd_src_line(s), nf);
        a->c_user = 0; a->c_item = 1; a->c_rating = 2; a->c_ts = 3; a->c_hist = nf == 5 ? 4 : -1;
        a->ncols = 0;
        a->hist_mode = nf == 5;
        return 0;
    }
    a->c_user = a->c_item = a->c_rating = a->c_ts = a->c_hist = -1;
    if (nf > 16) nf = 16;
    for (int i = 0; i < nf; i++) {
        (void)fl;
        if (!strcmp(f[i], "user_id")) a->c_user = i;
        else if (!strcmp(f[i], "parent_asin")) a->c_item = i;
        else if (!strcmp(f[i], "rating")) a->c_rating = i;
        else if (!strcmp(f[i], "timestamp")) a->c_ts = i;
        else if (!strcmp(f[i], "history")) a->c_hist = i;
    }
    const char *miss = a->c_user < 0 ? "user_id" : a->c_item < 0 ? "parent_asin" : a->c_ts < 0 ? "timestamp" : NULL;
    if (miss) return sd_errf(err, SD_EFORMAT, "%s:%lld: header has no \"%s\" column", s->path, (long long)sd_src_line(s), miss);
    if (a->o->min_rating > 0 && a->c_rating < 0)
        return sd_errf(err, SD_EFORMAT, "%s:%lld: --min-rating needs a \"rating\" column", s->path, (long long)sd_src_line(s));
    a->ncols = nf;
    a->hist_mode = a->c_hist >= 0;
    return 0;
}

static int32_t count_tokens(const char *h, size_t n) {
    int32_t k = 0;
    bool in = false;
    for (size_t i = 0; i < n; i++) {
        bool sp = h[i] == ' ';
        if (!sp && !in) k++;
        in = !sp;
    }
    return k;
}

static void keep_history(amz *a, const char *user, size_t ulen, const char *item, size_t ilen, const char *hist,
                         size_t hlen, int64_t t, int64_t line) {
    int32_t u = -1;
    if (a->n_rows) { /* rows come grouped by user: try the previous row's user first */
        hist_row *p = &a->rows[a->last_row];
        if (p->user_len == ulen && memcmp(p->user, user, ulen) == 0) u = (int32_t)a->last_row;
    }
    if (u < 0) u = sd_strmap_get(&a->users, user, ulen);
    if (u < 0) {
        u = (int32_t)a->n_rows;
        const char *key = sd_pool_strndup(a->pool, user, ulen);
        sd_strmap_put(&a->users, key, ulen, u);
        SD_GROW(a->rows, a->cap_rows, a->n_rows + 1);
        a->rows[a->n_rows++] = (hist_row){.user = key, .user_len = (uint32_t)ulen, .ntok = -1};
    }
    a->last_row = (size_t)u;
    hist_row *r = &a->rows[u];
    int32_t nt = count_tokens(hist, hlen);
    if (nt < r->ntok || (nt == r->ntok && t < r->ts)) return; /* longest history wins, then the latest */
    size_t need = ilen + hlen + 2;
    if (need > r->cap) { r->cap = (uint32_t)need; r->buf = sd_xrealloc(r->buf, need); }
    memcpy(r->buf, item, ilen);
    r->buf[ilen] = 0;
    memcpy(r->buf + ilen + 1, hist, hlen);
    r->buf[ilen + 1 + hlen] = 0;
    r->item_len = (uint32_t)ilen;
    r->hist_len = (uint32_t)hlen;
    r->ntok = nt;
    r->ts = t;
    r->line = line;
}

static int csv_line(amz *a, sd_src *s, char *line, size_t len, sd_err *err) {
    char *f[16];
    size_t fl[16];
    sd_err e = {0};
    int nf = sd_csv_split(line, len, f, fl, 16, &e);
    if (nf < 0) return sd_src_bad(s, err, "%s", e.msg);
    if (!a->header_done) {
        bool hdr;
        int rc = csv_header(a, s, f, fl, nf, &hdr, err);
        if (rc || hdr) return rc;
    }
    if (a->ncols ? nf != a->ncols : (nf != 4 && nf != 5) || (nf == 5) != a->hist_mode)
        return sd_src_bad(s, err, "expected %d columns, got %d", a->ncols ? a->ncols : a->hist_mode ? 5 : 4, nf);
    if (!fl[a->c_user]) return sd_src_bad(s, err, "\"user_id\" is empty");
    if (!fl[a->c_item]) return sd_src_bad(s, err, "\"parent_asin\" is empty");
    int64_t t;
    if (!sd_parse_i64(f[a->c_ts], fl[a->c_ts], &t))
        return sd_src_bad(s, err, "\"timestamp\" %s: \"%.40s\"", sd_int_problem(f[a->c_ts], fl[a->c_ts]),
                          f[a->c_ts]);
    if (a->c_rating >= 0) {
        double r;
        if (!sd_parse_f64(f[a->c_rating], fl[a->c_rating], &r))
            return sd_src_bad(s, err, "\"rating\" is not a number: \"%.40s\"", f[a->c_rating]);
        if (a->o->min_rating > 0 && r < a->o->min_rating) return 0;
    }
    if (a->hist_mode) {
        keep_history(a, f[a->c_user], fl[a->c_user], f[a->c_item], fl[a->c_item], f[a->c_hist], fl[a->c_hist], t,
                     sd_src_line(s));
        return 0;
    }
    return add_inter(a, s, "parent_asin", f[a->c_user], fl[a->c_user], f[a->c_item], fl[a->c_item], t, 0, err);
}

/* Expands each user's chosen row: history items get times row_ts - k (k-th from the end), so they
 * sort before the row's own item and keep their order. */
static int flush_histories(amz *a, sd_src *s, sd_err *err) {
    for (size_t u = 0; u < a->n_rows; u++) {
        hist_row *r = &a->rows[u];
        const char *h = r->buf + r->item_len + 1, *end = h + r->hist_len;
        int32_t k = 0;
        while (h < end) {
            while (h < end && *h == ' ') h++;
            if (h >= end) break;
            const char *e = memchr(h, ' ', end - h);
            if (!e) e = end;
            int rc = add_inter(a, s, "history", r->user, r->user_len, h, e - h, r->ts - (r->ntok - k), r->line, err);
            if (rc) return rc;
            k++;
            h = e;
        }
        int rc = add_inter(a, s, "parent_asin", r->user, r->user_len, r->buf, r->item_len, r->ts, r->line, err);
        if (rc) return rc;
        free(r->buf);
        r->buf = NULL;
    }
    return 0;
}

static int read_inter(amz *a, sd_err *err) {
    sd_src s;
    int rc = sd_src_open(&s, a->o->inter_path, "interactions", a->o, a->st, err);
    if (rc) return rc;
    int mode = 0; /* 1 review JSONL, 2 CSV: decided by the first non-empty line */
    char *line;
    size_t len;
    while ((rc = sd_src_next(&s, &line, &len, err)) == 1) {
        rc = 0;
        if (sd_blank(line, len)) continue;
        if (!mode) {
            size_t i = 0;
            while (line[i] == ' ' || line[i] == '\t') i++;
            mode = line[i] == '{' ? 1 : 2;
        }
        rc = mode == 1 ? review_line(a, &s, line, len, err) : csv_line(a, &s, line, len, err);
        if (rc) break;
    }
    if (!rc && !mode) rc = sd_errf(err, SD_EFORMAT, "%s: empty file (no interactions)", s.path);
    if (!rc && a->hist_mode) rc = flush_histories(a, &s, err);
    if (a->inter_filtered)
        sd_info("%s: %lld interactions with items removed by the filters dropped", s.path, (long long)a->inter_filtered);
    sd_src_close(&s);
    return rc;
}

int sd_load_amazon2023(const sd_prep_opts *o, sd_catalog **cat, sd_sequences *seq, sd_prep_stats *st, sd_err *err) {
    *cat = NULL;
    memset(seq, 0, sizeof *seq);
    if (!o->items_path) return sd_errf(err, SD_EUSAGE, "amazon2023: --items FILE (item metadata JSONL) is required");
    if (!o->inter_path)
        return sd_errf(err, SD_EUSAGE, "amazon2023: --interactions FILE (reviews JSONL or benchmark CSV) is required");
    amz a = {0};
    a.o = o;
    a.st = st;
    a.cat = sd_catalog_new();
    a.pool = sd_pool_new();
    sd_strmap_init(&a.dropped, 1024);
    sd_strmap_init(&a.users, 1024);
    a.sb = sd_seqbuilder_new();
    double t0 = sd_now();
    int rc = read_meta(&a, err);
    double t1 = sd_now();
    if (!rc) rc = read_inter(&a, err);
    double t2 = sd_now();
    if (!rc) {
        sd_seq_opts so = sd_prep_seq_opts(o);
        rc = sd_seqbuilder_finish(a.sb, a.cat->n_items, &so, seq, err);
    }
    sd_debug("amazon2023: items %.2f s, interactions %.2f s, sequences %.2f s", t1 - t0, t2 - t1, sd_now() - t2);
    for (size_t u = 0; u < a.n_rows; u++) free(a.rows[u].buf);
    free(a.rows);
    sd_strmap_free(&a.users);
    sd_strmap_free(&a.dropped);
    sd_pool_free(a.pool);
    sd_seqbuilder_free(a.sb);
    if (rc) { sd_catalog_free(a.cat); return rc; }
    *cat = a.cat;
    return 0;
}
