/* The generic format, for data from anywhere: items JSONL ({"id", "title", "text", ...}: other
 * fields become attributes) plus interactions as CSV with a header (user,item,timestamp in any
 * order) or JSONL ({"user", "item", "timestamp"}). */
#include "base/log.h"
#include "base/mem.h"
#include "data/csv.h"
#include "data/loaders.h"
#include "data/loadutil.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct gen {
    const sd_prep_opts *o;
    sd_prep_stats *st;
    sd_catalog *cat;
    sd_strmap dropped;
    sd_pool *pool;
    sd_seqbuilder *sb;
    int64_t inter_filtered;
    int c_user, c_item, c_ts, c_rating, ncols;
    bool header_done;
} gen;

/* A JSON id (string or integer) as text in buf; false if of another type. */
static bool id_text(const cJSON *v, char *buf, size_t n, const char **out, size_t *len) {
    if (cJSON_IsString(v)) { *out = v->valuestring; *len = strlen(*out); return *len > 0; }
    if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 9e15) {
        *len = (size_t)snprintf(buf, n, "%.0f", v->valuedouble);
        *out = buf;
        return true;
    }
    return false;
}

static int item_line(gen *g, sd_src *s, sd_itemb *b, const cJSON *j, sd_err *err) {
    const cJSON *idv = cJSON_GetObjectItemCaseSensitive(j, "id");
    char idbuf[32];
    const char *id;
    size_t idlen;
    if (!idv) return sd_src_bad(s, err, "\"id\" missing");
    if (!id_text(idv, idbuf, sizeof idbuf, &id, &idlen))
        return sd_src_bad(s, err, "\"id\" must be a non-empty string or an integer");
    if (!sd_utf8_valid(id, idlen)) return sd_src_bad(s, err, "\"id\" is not valid UTF-8");
    if (sd_catalog_findn(g->cat, id, idlen) >= 0 || sd_strmap_get(&g->dropped, id, idlen) >= 0)
        return sd_src_bad(s, err, "\"id\": duplicate item \"%s\"", id);
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(j, "title");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "text");
    if (title && !cJSON_IsNull(title) && !cJSON_IsString(title)) return sd_src_bad(s, err, "\"title\" must be a string");
    if (text && !cJSON_IsNull(text) && !cJSON_IsString(text) && !sd_json_is_str_list(text))
        return sd_src_bad(s, err, "\"text\" must be a string or a list of strings");
    const cJSON *e;
    cJSON_ArrayForEach(e, j) {
        if (!strcmp(e->string, "features") || !strcmp(e->string, "categories"))
            if (!cJSON_IsNull(e) && !sd_json_is_str_list(e))
                return sd_src_bad(s, err, "\"%s\" must be a list of strings", e->string);
    }
    sd_itemb_reset(b);
    if (cJSON_IsString(title)) sd_itemb_title(b, title->valuestring);
    if (cJSON_IsString(text)) sd_itemb_desc(b, text->valuestring);
    else if (cJSON_IsArray(text)) sd_itemb_desc_list(b, text);
    const sd_prep_opts *o = g->o;
    if ((o->min_title_chars > 0 && sd_itemb_chars(b, b->title) <= (size_t)o->min_title_chars) ||
        (o->min_desc_chars > 0 && sd_itemb_chars(b, b->desc) <= (size_t)o->min_desc_chars)) {
        sd_strmap_put(&g->dropped, sd_pool_strndup(g->pool, id, idlen), idlen, 1);
        g->st->items_filtered++;
        return 0;
    }
    cJSON_ArrayForEach(e, j) {
        const char *k = e->string;
        if (!strcmp(k, "id") || !strcmp(k, "title") || !strcmp(k, "text")) continue;
        const cJSON *x;
        if (!strcmp(k, "features")) { cJSON_ArrayForEach(x, e) sd_itemb_feature(b, x->valuestring); continue; }
        if (!strcmp(k, "categories")) { cJSON_ArrayForEach(x, e) sd_itemb_category(b, x->valuestring); continue; }
        sd_itemb_attr_json(b, k, e);
    }
    int32_t rc = sd_itemb_add(b, g->cat, id, err);
    return rc < 0 ? rc : 0;
}

typedef struct item_ctx { gen *owner; sd_itemb *b; } item_ctx;

static int item_object(void *ctx, sd_src *s, const cJSON *obj, sd_err *err) {
    item_ctx *ic = ctx;
    return item_line(ic->owner, s, ic->b, obj, err);
}

static int read_items(gen *g, sd_err *err) {
    sd_src s;
    int rc = sd_src_open(&s, g->o->items_path, "items", g->o, g->st, err);
    if (rc) return rc;
    sd_itemb b = {0};
    item_ctx ic = {g, &b};
    int64_t n_lines = 0;
    rc = sd_src_each_object(&s, item_object, &ic, &n_lines, err);
    if (!rc && n_lines == 0) rc = sd_errf(err, SD_EFORMAT, "%s: empty file (no items)", s.path);
    if (!rc && g->cat->n_items == 0)
        rc = sd_errf(err, SD_EFORMAT, "%s: no items left (%lld removed by the filters, %lld bad lines skipped)", s.path,
                     (long long)g->st->items_filtered, (long long)s.skipped);
    if (b.n_bad)
        sd_warn("%s: %lld invalid UTF-8 bytes in %lld items replaced by U+FFFD", s.path, (long long)b.n_bad,
                (long long)b.items_with_bad);
    sd_itemb_free(&b);
    sd_src_close(&s);
    return rc;
}

static int add_inter(gen *g, sd_src *s, const char *user, size_t ulen, const char *item, size_t ilen, int64_t t,
                     sd_err *err) {
    int32_t k = sd_catalog_findn(g->cat, item, ilen);
    if (k < 0) {
        if (sd_strmap_get(&g->dropped, item, ilen) >= 0) { g->inter_filtered++; return 0; }
        return sd_src_unknown(s, err, "item", item, ilen, 0);
    }
    sd_seqbuilder_add(g->sb, user, ulen, k, t);
    return 0;
}

static int json_inter(gen *g, sd_src *s, const char *line, size_t len, sd_err *err) {
    cJSON *j;
    int rc = sd_src_parse_object(s, line, len, &j, err);
    if (rc || !j) return rc;
    char ub[32], ib[32];
    const char *u, *it;
    size_t ul, il;
    const cJSON *uv = cJSON_GetObjectItemCaseSensitive(j, "user");
    const cJSON *iv = cJSON_GetObjectItemCaseSensitive(j, "item");
    const cJSON *tv = cJSON_GetObjectItemCaseSensitive(j, "timestamp");
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(j, "rating");
    if (!uv) rc = sd_src_bad(s, err, "\"user\" missing");
    else if (!id_text(uv, ub, sizeof ub, &u, &ul)) rc = sd_src_bad(s, err, "\"user\" must be a non-empty string or an integer");
    else if (!iv) rc = sd_src_bad(s, err, "\"item\" missing");
    else if (!id_text(iv, ib, sizeof ib, &it, &il)) rc = sd_src_bad(s, err, "\"item\" must be a non-empty string or an integer");
    else if (!tv) rc = sd_src_bad(s, err, "\"timestamp\" missing");
    else if (!cJSON_IsNumber(tv) || tv->valuedouble != floor(tv->valuedouble) || fabs(tv->valuedouble) > 9e18)
        rc = sd_src_bad(s, err, "\"timestamp\" must be an integer");
    else if (rv && !cJSON_IsNull(rv) && !cJSON_IsNumber(rv)) rc = sd_src_bad(s, err, "\"rating\" must be a number");
    else if (g->o->min_rating > 0 && !cJSON_IsNumber(rv)) rc = sd_src_bad(s, err, "\"rating\" missing (needed for --min-rating)");
    else if (g->o->min_rating > 0 && rv->valuedouble < g->o->min_rating) rc = 0;
    else rc = add_inter(g, s, u, ul, it, il, (int64_t)tv->valuedouble, err);
    cJSON_Delete(j);
    return rc;
}

static int csv_inter(gen *g, sd_src *s, char *line, size_t len, sd_err *err) {
    char *f[64];
    size_t fl[64];
    sd_err e = {0};
    int nf = sd_csv_split(line, len, f, fl, 64, &e);
    if (nf < 0) {
        if (!g->header_done) return sd_errf(err, SD_EFORMAT, "%s:%lld: header: %s", s->path, (long long)sd_src_line(s), e.msg);
        return sd_src_bad(s, err, "%s", e.msg);
    }
    if (!g->header_done) {
        g->header_done = true;
        g->c_user = g->c_item = g->c_ts = g->c_rating = -1;
        for (int i = 0; i < nf && i < 64; i++) {
            if (!strcmp(f[i], "user")) g->c_user = i;
            else if (!strcmp(f[i], "item")) g->c_item = i;
            else if (!strcmp(f[i], "timestamp")) g->c_ts = i;
            else if (!strcmp(f[i], "rating")) g->c_rating = i;
        }
        const char *miss = g->c_user < 0 ? "user" : g->c_item < 0 ? "item" : g->c_ts < 0 ? "timestamp" : NULL;
        if (miss)
            return sd_errf(err, SD_EFORMAT, "%s:%lld: the header line must name the columns user, item and timestamp "
                           "(no \"%s\")", s->path, (long long)sd_src_line(s), miss);
        if (g->o->min_rating > 0 && g->c_rating < 0)
            return sd_errf(err, SD_EFORMAT, "%s:%lld: --min-rating needs a \"rating\" column", s->path, (long long)sd_src_line(s));
        g->ncols = nf;
        return 0;
    }
    if (nf != g->ncols) return sd_src_bad(s, err, "expected %d columns as in the header, got %d", g->ncols, nf);
    if (!fl[g->c_user]) return sd_src_bad(s, err, "\"user\" is empty");
    if (!fl[g->c_item]) return sd_src_bad(s, err, "\"item\" is empty");
    int64_t t;
    if (!sd_parse_i64(f[g->c_ts], fl[g->c_ts], &t))
        return sd_src_bad(s, err, "\"timestamp\" %s: \"%.40s\"", sd_int_problem(f[g->c_ts], fl[g->c_ts]),
                          f[g->c_ts]);
    if (g->c_rating >= 0 && g->o->min_rating > 0) {
        double r;
        if (!sd_parse_f64(f[g->c_rating], fl[g->c_rating], &r))
            return sd_src_bad(s, err, "\"rating\" is not a number: \"%.40s\"", f[g->c_rating]);
        if (r < g->o->min_rating) return 0;
    }
    return add_inter(g, s, f[g->c_user], fl[g->c_user], f[g->c_item], fl[g->c_item], t, err);
}

static int read_inter(gen *g, sd_err *err) {
    sd_src s;
    int rc = sd_src_open(&s, g->o->inter_path, "interactions", g->o, g->st, err);
    if (rc) return rc;
    int mode = 0;
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
        rc = mode == 1 ? json_inter(g, &s, line, len, err) : csv_inter(g, &s, line, len, err);
        if (rc) break;
    }
    if (!rc && !mode) rc = sd_errf(err, SD_EFORMAT, "%s: empty file (no interactions)", s.path);
    if (g->inter_filtered)
        sd_info("%s: %lld interactions with items removed by the filters dropped", s.path, (long long)g->inter_filtered);
    sd_src_close(&s);
    return rc;
}

int sd_load_generic(const sd_prep_opts *o, sd_catalog **cat, sd_sequences *seq, sd_prep_stats *st, sd_err *err) {
    *cat = NULL;
    memset(seq, 0, sizeof *seq);
    if (!o->items_path)
        return sd_errf(err, SD_EUSAGE, "generic: --items FILE is required (items JSONL with \"id\", \"title\", \"text\"; "
                       "every item needs a catalogue entry)");
    if (!o->inter_path) return sd_errf(err, SD_EUSAGE, "generic: --interactions FILE (CSV or JSONL) is required");
    gen g = {0};
    g.o = o;
    g.st = st;
    g.cat = sd_catalog_new();
    g.pool = sd_pool_new();
    sd_strmap_init(&g.dropped, 64);
    g.sb = sd_seqbuilder_new();
    int rc = read_items(&g, err);
    if (!rc) rc = read_inter(&g, err);
    if (!rc) {
        sd_seq_opts so = sd_prep_seq_opts(o);
        rc = sd_seqbuilder_finish(g.sb, g.cat->n_items, &so, seq, err);
    }
    sd_strmap_free(&g.dropped);
    sd_pool_free(g.pool);
    sd_seqbuilder_free(g.sb);
    if (rc) { sd_catalog_free(g.cat); return rc; }
    *cat = g.cat;
    return 0;
}
