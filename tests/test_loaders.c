/* Text cleaning, CSV splitting and the Amazon 2023 / generic / SASRec loaders, including bad
 * input: every malformed file must give a clear error naming file:line and field with --strict,
 * and a counted skip without it, never a crash. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "base/file.h"
#include "base/rng.h"
#include "data/csv.h"
#include "data/loaders.h"
#include "base/clean.h"
#include "test_util.h"

static char *fx(const char *rel) {
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", sd_test_fixtures(), rel);
    return buf[k];
}

/* Paths of temporary files live in a ring of static buffers, so tests need not free them. */
static char *keep_path(char *p) {
    static char ring[32][512];
    static int k;
    k = (k + 1) % 32;
    snprintf(ring[k], sizeof ring[k], "%s", p);
    free(p);
    return ring[k];
}

static char *write_tmp(const char *name, const void *data, size_t len) {
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    char *p = keep_path(sd_path_join(dir, name));
    FILE *f = fopen(p, "wb");
    cr_assert(f);
    fwrite(data, 1, len, f);
    fclose(f);
    return p;
}
static char *write_str(const char *name, const char *s) { return write_tmp(name, s, strlen(s)); }

static char *gzip_file(const char *src, const char *name) {
    char *data; size_t len;
    cr_assert_eq(sd_read_file(src, &data, &len, NULL), 0);
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    char *p = keep_path(sd_path_join(dir, name));
    gzFile g = gzopen(p, "wb");
    cr_assert(g);
    if (len) gzwrite(g, data, (unsigned)len);
    gzclose(g);
    free(data);
    return p;
}

static char *read_all(const char *p, size_t *len) {
    char *d; size_t n;
    cr_assert_eq(sd_read_file(p, &d, &n, NULL), 0);
    if (len) *len = n;
    return d;
}

/* Replaces every "\n" by "\r\n". */
static char *crlf(const char *s) {
    char *o = malloc(2 * strlen(s) + 1), *w = o;
    for (; *s; s++) { if (*s == '\n') *w++ = '\r'; *w++ = *s; }
    *w = 0;
    return o;
}

static sd_prep_opts amz_opts(const char *items, const char *inter) {
    return (sd_prep_opts){.items_path = items, .inter_path = inter, .min_title_chars = 20, .min_desc_chars = 100,
                          .min_user_items = 3, .max_user_items = 100, .seed = 42};
}

static const char *clean(const char *s) {
    static char out[4096];
    sd_clean_text(out, s, strlen(s), NULL);
    return out;
}

/* ---------------- text cleaning ---------------- */

Test(clean, entities) {
    cr_assert_str_eq(clean("&amp; &lt; &gt; &quot; &apos; &#39; &#x27;"), "& < > \" ' ' '");
    cr_assert_str_eq(clean("Caf&eacute;&trade;&reg;&copy;&hellip;"), "Caf\xC3\xA9\xE2\x84\xA2\xC2\xAE\xC2\xA9\xE2\x80\xA6");
    cr_assert_str_eq(clean("a&mdash;b&ndash;c"), "a\xE2\x80\x94" "b\xE2\x80\x93" "c");
    cr_assert_str_eq(clean("&lsquo;x&rsquo; &ldquo;y&rdquo;"), "\xE2\x80\x98x\xE2\x80\x99 \xE2\x80\x9Cy\xE2\x80\x9D");
    cr_assert_str_eq(clean("&#8217;&#x2019;&#X2019"), "\xE2\x80\x99\xE2\x80\x99\xE2\x80\x99");
    cr_assert_str_eq(clean("&#x1F600;"), "\xF0\x9F\x98\x80");
    cr_assert_str_eq(clean("&#150;"), "\xE2\x80\x93");              /* Windows-1252 en dash */
    cr_assert_str_eq(clean("&#0;&#xD800;&#x110000;"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    cr_assert_str_eq(clean("AT&T &bogus; & &; &#; &#x; &amp"), "AT&T &bogus; & &; &#; &#x; &amp");
    cr_assert_str_eq(clean("&amp;amp;"), "&amp;");                    /* one level, as html.unescape */
}

Test(clean, tags_and_whitespace) {
    cr_assert_str_eq(clean("line one<br>line two<BR/>three"), "line one line two three");
    cr_assert_str_eq(clean("<p>para</p><p>graph</p>"), "para graph");
    cr_assert_str_eq(clean("<b>bold</b>text <a href=\"x\">link</a>"), "boldtext link");
    cr_assert_str_eq(clean("x < y and z > w, 3<4"), "x < y and z > w, 3<4");
    cr_assert_str_eq(clean("open <tag without end"), "open <tag without end");
    cr_assert_str_eq(clean("<!-- comment -->kept"), "kept");
    cr_assert_str_eq(clean("&lt;b&gt;decoded tag&lt;/b&gt;"), "decoded tag"); /* decoded first, then stripped */
    cr_assert_str_eq(clean("  a \t\n b\r\n  "), "a b");
    cr_assert_str_eq(clean("a&nbsp;&nbsp;b\xC2\xA0" "c"), "a b c");
    cr_assert_str_eq(clean(""), "");
    cr_assert_str_eq(clean(" <br> "), "");
}

Test(clean, invalid_utf8) {
    char out[64];
    size_t bad = 0;
    size_t n = sd_clean_text(out, "a\xff" "b", 3, &bad);
    cr_assert_eq(bad, 1);
    cr_assert_str_eq(out, "a\xEF\xBF\xBD" "b");
    cr_assert_eq(n, 5);
    sd_clean_text(out, "\xC0\xAF|\xED\xA0\x80|\xE2\x82", 9, &bad); /* overlong, surrogate, truncated */
    cr_assert_eq(bad, 7, "bad = %zu", bad);
    cr_assert(sd_utf8_valid(out, strlen(out)));
    sd_clean_text(out, "ok \xE2\x82\xAC", 6, &bad);
    cr_assert_eq(bad, 0);
    cr_assert_eq(sd_utf8_count("h\xC3\xA9llo\xE2\x82\xAC", 9), 6);
    cr_assert(!sd_utf8_valid("\xF5\x80\x80\x80", 4));
}

/* Random byte soup of the characters the cleaner cares about: output must be valid UTF-8, fit
 * the documented bound and never be longer than 3x the input. */
Test(clean, random_input_is_safe) {
    const char alphabet[] = "&#x;<>/ab1 \t\n\xff\xC3\xA9\xE2\x82\xAC" "amp;lt;br";
    sd_rng r;
    sd_rng_seed(&r, 7);
    char in[300], *out = malloc(3 * sizeof in + 1);
    for (int t = 0; t < 3000; t++) {
        size_t n = sd_rng_below(&r, sizeof in);
        for (size_t i = 0; i < n; i++) in[i] = alphabet[sd_rng_below(&r, sizeof alphabet - 1)];
        size_t k = sd_clean_text(out, in, n, NULL);
        cr_assert_leq(k, 3 * n);
        cr_assert_eq(strlen(out), k);
        cr_assert(sd_utf8_valid(out, k));
        cr_assert(k == 0 || (out[0] != ' ' && out[k - 1] != ' '));
    }
    free(out);
}

/* ---------------- CSV ---------------- */

Test(csv, split) {
    char *f[8]; size_t l[8];
    char a[] = "u1,B00,5.0,123";
    cr_assert_eq(sd_csv_split(a, strlen(a), f, l, 8, NULL), 4);
    cr_assert_str_eq(f[1], "B00");
    cr_assert_eq(l[3], 3);
    char b[] = "\"a, b\",\"say \"\"hi\"\"\",,\"\",x,";
    cr_assert_eq(sd_csv_split(b, strlen(b), f, l, 8, NULL), 6);
    cr_assert_str_eq(f[0], "a, b");
    cr_assert_str_eq(f[1], "say \"hi\"");
    cr_assert_str_eq(f[2], "");
    cr_assert_str_eq(f[3], "");
    cr_assert_str_eq(f[4], "x");
    cr_assert_eq(l[5], 0);
    char c[] = "1,2,3,4,5";
    cr_assert_eq(sd_csv_split(c, strlen(c), f, l, 2, NULL), 5); /* counts beyond max */
    sd_err e = {0};
    char d[] = "a,\"open";
    cr_assert_lt(sd_csv_split(d, strlen(d), f, l, 8, &e), 0);
    cr_assert(strstr(e.msg, "column 2") && strstr(e.msg, "unterminated"), "%s", e.msg);
    char g[] = "\"x\"y,z";
    cr_assert_lt(sd_csv_split(g, strlen(g), f, l, 8, &e), 0);
    char h[] = "ab\"c,\"d\"";
    cr_assert_lt(sd_csv_split(h, strlen(h), f, l, 8, &e), 0);
}

Test(csv, numbers) {
    int64_t v;
    double d;
    cr_assert(sd_parse_i64("1500000000000", 13, &v) && v == 1500000000000LL);
    cr_assert(sd_parse_i64(" -5 ", 4, &v) && v == -5);
    cr_assert(!sd_parse_i64("1e3", 3, &v));
    cr_assert(!sd_parse_i64("", 0, &v));
    cr_assert(!sd_parse_i64("-", 1, &v));
    cr_assert(!sd_parse_i64("99999999999999999999", 20, &v));
    cr_assert(sd_parse_f64("4.5", 3, &d) && d == 4.5);
    cr_assert(!sd_parse_f64("4.5x", 4, &d));
    cr_assert(!sd_parse_f64("nan", 3, &d));
}

/* ---------------- Amazon 2023 ---------------- */

static int load_amz(const sd_prep_opts *o, sd_catalog **c, sd_sequences *s, sd_prep_stats *st, sd_err *e) {
    memset(st, 0, sizeof *st);
    memset(e, 0, sizeof *e);
    return sd_load_amazon2023(o, c, s, st, e);
}

static int32_t user_index(const sd_sequences *s, const char *id) {
    for (int32_t u = 0; u < s->n_users; u++)
        if (!strcmp(s->user_ids[u], id)) return u;
    return -1;
}

/* user's sequence as "ASIN ASIN ..." */
static void seq_str(const sd_catalog *c, const sd_sequences *s, const char *user, char *out, size_t n) {
    int32_t u = user_index(s, user);
    out[0] = 0;
    if (u < 0) { snprintf(out, n, "(absent)"); return; }
    size_t k = 0;
    for (int32_t i = 0; i < sd_seq_len(s, u); i++)
        k += snprintf(out + k, n - k, "%s%s", i ? " " : "", c->items[sd_seq_items(s, u)[i]].ext_id);
}

Test(amazon, reviews_jsonl) {
    sd_prep_opts o = amz_opts(fx("amazon/meta.jsonl"), fx("amazon/reviews.jsonl"));
    sd_catalog *c; sd_sequences s; sd_prep_stats st; sd_err e;
    cr_assert_eq(load_amz(&o, &c, &s, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(c->n_items, 12);            /* 15 minus short title, short and empty description */
    cr_assert_eq(st.items_filtered, 3);
    cr_assert_eq(st.inter_unknown_item, 1);  /* B0UNKNOWN9 */
    cr_assert_eq(st.lines_skipped, 0);
    cr_assert_eq(st.lines_read, 28);
    cr_assert_eq(s.n_users, 3);              /* AE4 has one item */
    cr_assert_eq(s.n_inter, 9);
    char buf[512];
    seq_str(c, &s, "AE1", buf, sizeof buf);  /* filtered B00CABLE13 dropped; sorted by time */
    cr_assert_str_eq(buf, "B00DOOM005 B00ZELDA01 B00MARIO02");
    seq_str(c, &s, "AE2", buf, sizeof buf);
    cr_assert_str_eq(buf, "B00HALO003 B00PORT007 B00WITC012");
    cr_assert_eq(s.times[s.offsets[user_index(&s, "AE2")]], 1400000000000LL);
    int32_t z = sd_catalog_find(c, "B00ZELDA01");
    cr_assert_geq(z, 0);
    const sd_item *it = &c->items[z];
    cr_assert_str_eq(it->title, "The Legend of Zelda: Breath of the Wild \xE2\x80\x93 Nintendo Switch");
    cr_assert(strstr(it->description, "exploration & adventure in The Legend of Zelda: Breath"), "%s", it->description);
    cr_assert(strstr(it->description, "peaks. Explore"), "%s", it->description);
    cr_assert_eq(it->n_features, 2);
    cr_assert_str_eq(sd_item_features(c, it)[1], "Open-air adventure");
    cr_assert_eq(it->n_categories, 3);
    cr_assert_str_eq(sd_item_attr(c, z, "price"), "49.99");
    cr_assert_str_eq(sd_item_attr(c, z, "store"), "Nintendo");
    cr_assert_str_eq(sd_item_attr(c, z, "main_category"), "Video Games");
    cr_assert_str_eq(sd_item_attr(c, z, "average_rating"), "4.8");
    cr_assert_str_eq(sd_item_attr(c, z, "rating_number"), "12834");
    cr_assert_str_eq(sd_item_attr(c, z, "Release date"), "March 3, 2017");
    cr_assert_str_eq(sd_item_attr(c, z, "Best Sellers Rank"), "{\"Video Games\":12}");
    int langs = 0;
    for (uint32_t k = 0; k < it->n_attrs; k++) langs += !strcmp(sd_item_attrs(c, it)[k].key, "Languages");
    cr_assert_eq(langs, 2);
    cr_assert_str_eq(sd_item_attr(c, sd_catalog_find(c, "B00MARIO02"), "price"), "$59.99");
    cr_assert_null(sd_item_attr(c, sd_catalog_find(c, "B00HALO003"), "price")); /* null price: no attribute */
    cr_assert_str_eq(sd_item_attr(c, sd_catalog_find(c, "B00FIFA004"), "price"), "29.5");
    cr_assert_str_eq(sd_item_attr(c, sd_catalog_find(c, "B00FIFA004"), "Online"), "true");
    cr_assert(strstr(c->items[sd_catalog_find(c, "B00SIMS006")].description, "that's an expression"));
    cr_assert(strstr(c->items[sd_catalog_find(c, "B00SIMS006")].description, "homes and much more."));
    cr_assert_lt(sd_catalog_find(c, "B00CABLE13"), 0);
    sd_catalog_free(c);
    sd_sequences_free(&s);
}

Test(amazon, benchmark_csv_with_history) {
    sd_prep_opts o = amz_opts(fx("amazon/meta.jsonl"), fx("amazon/bench_hist.csv"));
    sd_catalog *c; sd_sequences s; sd_prep_stats st; sd_err e;
    cr_assert_eq(load_amz(&o, &c, &s, &st, &e), 0, "%s", e.msg);
    char buf[512];
    seq_str(c, &s, "U1", buf, sizeof buf);
    cr_assert_str_eq(buf, "B00ZELDA01 B00MARIO02 B00DOOM005");
    int32_t u = user_index(&s, "U1");
    cr_assert_eq(s.times[s.offsets[u] + 0], 1500000200000LL - 2); /* history before the row's time, in order */
    cr_assert_eq(s.times[s.offsets[u] + 1], 1500000200000LL - 1);
    cr_assert_eq(s.times[s.offsets[u] + 2], 1500000200000LL);
    seq_str(c, &s, "U2", buf, sizeof buf); /* the longest row; filtered B00CABLE13 removed */
    cr_assert_str_eq(buf, "B00HALO003 B00PORT007 B00WITC012 B00FIFA004");
    seq_str(c, &s, "U3", buf, sizeof buf); /* 2 items < 3 */
    cr_assert_str_eq(buf, "(absent)");
    seq_str(c, &s, "U4", buf, sizeof buf);
    cr_assert_str_eq(buf, "B00SIMS006 B00HADE011 B00CIVI009");
    cr_assert_eq(st.inter_unknown_item, 1);
    cr_assert_eq(s.n_users, 3);
    cr_assert_eq(c->n_items, 12); /* catalogue kept whole */
    sd_catalog_free(c);
    sd_sequences_free(&s);

    o.max_user_items = 2; /* keep the last two */
    o.min_user_items = 2;
    cr_assert_eq(load_amz(&o, &c, &s, &st, &e), 0, "%s", e.msg);
    seq_str(c, &s, "U2", buf, sizeof buf);
    cr_assert_str_eq(buf, "B00WITC012 B00FIFA004");
    sd_catalog_free(c);
    sd_sequences_free(&s);
}

Test(amazon, benchmark_csv_no_header_and_plain) {
    sd_prep_opts o = amz_opts(fx("amazon/meta.jsonl"), fx("amazon/bench_nohdr.csv"));
    sd_catalog *c; sd_sequences s; sd_prep_stats st; sd_err e;
    cr_assert_eq(load_amz(&o, &c, &s, &st, &e), 0, "%s", e.msg);
    char buf[512];
    seq_str(c, &s, "U1", buf, sizeof buf);
    cr_assert_str_eq(buf, "B00ZELDA01 B00MARIO02 B00DOOM005");
    seq_str(c, &s, "U2", buf, sizeof buf);
    cr_assert_str_eq(buf, "B00HALO003 B00PORT007 B00WITC012");
    sd_catalog_free(c);
    sd_sequences_free(&s);

    o = amz_opts(fx("amazon/meta.jsonl"), fx("amazon/bench_plain.csv"));
    cr_assert_eq(load_amz(&o, &c, &s, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(s.n_users, 2);
    cr_assert_eq(s.n_inter, 6);
    sd_catalog_free(c);
    sd_sequences_free(&s);
    o.min_rating = 3; /* U1's DOOM (2.0) goes, leaving U1 with 2 < 3 items */
    cr_assert_eq(load_amz(&o, &c, &s, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(s.n_users, 1);
    cr_assert_str_eq(s.user_ids[0], "U2");
    sd_catalog_free(c);
    sd_sequences_free(&s);
}

Test(amazon, gzip_crlf_bom_same_result) {
    sd_catalog *c0, *c; sd_sequences s0, s; sd_prep_stats st; sd_err e;
    sd_prep_opts o = amz_opts(fx("amazon/meta.jsonl"), fx("amazon/bench_hist.csv"));
    cr_assert_eq(load_amz(&o, &c0, &s0, &st, &e), 0, "%s", e.msg);
    char *meta = read_all(fx("amazon/meta.jsonl"), NULL), *csv = read_all(fx("amazon/bench_hist.csv"), NULL);
    char *m2 = crlf(meta), *c2 = crlf(csv);
    char *bom = malloc(strlen(m2) + 4);
    strcpy(bom, "\xEF\xBB\xBF");
    strcat(bom, m2);
    const char *variants[3][2] = {
        {gzip_file(fx("amazon/meta.jsonl"), "meta.jsonl.gz"), gzip_file(fx("amazon/bench_hist.csv"), "b.csv.gz")},
        {write_str("meta.jsonl", m2), write_str("b.csv", c2)},
        {write_str("meta.jsonl", bom), write_str("b.csv", c2)},
    };
    for (int v = 0; v < 3; v++) {
        o = amz_opts(variants[v][0], variants[v][1]);
        cr_assert_eq(load_amz(&o, &c, &s, &st, &e), 0, "variant %d: %s", v, e.msg);
        cr_assert_eq(c->n_items, c0->n_items);
        cr_assert_eq(s.n_inter, s0.n_inter);
        cr_assert_eq(memcmp(s.items, s0.items, s.n_inter * sizeof *s.items), 0, "variant %d", v);
        for (int32_t i = 0; i < c->n_items; i++) {
            cr_assert_str_eq(c->items[i].ext_id, c0->items[i].ext_id);
            cr_assert_str_eq(c->items[i].description, c0->items[i].description);
        }
        sd_catalog_free(c);
        sd_sequences_free(&s);
    }
    free(meta); free(csv); free(m2); free(c2); free(bom); /* file contents, not paths */
    sd_catalog_free(c0);
    sd_sequences_free(&s0);
}

Test(amazon, no_filters_and_unknown_strict) {
    sd_prep_opts o = amz_opts(fx("amazon/meta.jsonl"), fx("amazon/reviews.jsonl"));
    o.min_title_chars = o.min_desc_chars = 0;
    sd_catalog *c; sd_sequences s; sd_prep_stats st; sd_err e;
    cr_assert_eq(load_amz(&o, &c, &s, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(c->n_items, 15);
    char buf[512];
    seq_str(c, &s, "AE1", buf, sizeof buf);
    cr_assert_str_eq(buf, "B00DOOM005 B00ZELDA01 B00MARIO02 B00CABLE13");
    sd_catalog_free(c);
    sd_sequences_free(&s);
    o.strict = true;
    cr_assert_neq(load_amz(&o, &c, &s, &st, &e), 0);
    cr_assert(strstr(e.msg, "reviews.jsonl:7") && strstr(e.msg, "parent_asin") && strstr(e.msg, "B0UNKNOWN9"), "%s", e.msg);
    cr_assert_null(c);
    o = amz_opts(fx("amazon/meta.jsonl"), fx("amazon/bench_hist.csv"));
    o.strict = true;
    cr_assert_neq(load_amz(&o, &c, &s, &st, &e), 0);
    cr_assert(strstr(e.msg, "bench_hist.csv:10") && strstr(e.msg, "history"), "%s", e.msg);
}

/* One bad metadata line among good ones. strict: error naming file:line and the field;
 * otherwise: that line skipped and counted, the rest loaded. */
static void bad_meta_line(const char *line, const char *field) {
    const char *good1 = "{\"parent_asin\": \"A1\", \"title\": \"A perfectly fine product title\", \"description\": [\"d\"]}\n";
    const char *good2 = "{\"parent_asin\": \"A2\", \"title\": \"Another fine product title\", \"description\": [\"e\"]}\n";
    char text[4096];
    snprintf(text, sizeof text, "%s%s\n%s", good1, line, good2);
    char *meta = write_str("meta.jsonl", text);
    char *inter = write_str("r.csv", "u,A1,5,1\nu,A2,5,2\n");
    sd_prep_opts o = {.items_path = meta, .inter_path = inter, .strict = true, .seed = 1};
    sd_catalog *c; sd_sequences s; sd_prep_stats st; sd_err e;
    cr_assert_eq(load_amz(&o, &c, &s, &st, &e), SD_EFORMAT, "line %s: accepted", line);
    cr_assert(strstr(e.msg, "meta.jsonl:2"), "%s", e.msg);
    cr_assert(strstr(e.msg, field), "wanted \"%s\" in: %s", field, e.msg);
    o.strict = false;
    cr_assert_eq(load_amz(&o, &c, &s, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(st.lines_skipped, 1);
    cr_assert_eq(c->n_items, 2);
    cr_assert_eq(s.n_inter, 2);
    sd_catalog_free(c);
    sd_sequences_free(&s);
}

Test(amazon, bad_metadata_lines) {
    bad_meta_line("{\"parent_asin\": \"A3\", \"title\": \"x\"", "malformed JSON");
    bad_meta_line("{\"parent_asin\": \"A3\"} trailing", "malformed JSON");
    bad_meta_line("[1, 2]", "JSON object");
    bad_meta_line("{\"title\": \"no id here\"}", "\"parent_asin\" missing");
    bad_meta_line("{\"parent_asin\": 12345, \"title\": \"t\"}", "\"parent_asin\" must be");
    bad_meta_line("{\"parent_asin\": \"\"}", "\"parent_asin\" must be");
    bad_meta_line("{\"parent_asin\": \"A3\", \"description\": \"not a list\"}", "\"description\" must be a list");
    bad_meta_line("{\"parent_asin\": \"A3\", \"description\": [\"ok\", 5]}", "\"description\" must be a list");
    bad_meta_line("{\"parent_asin\": \"A3\", \"features\": {\"a\": 1}}", "\"features\"");
    bad_meta_line("{\"parent_asin\": \"A3\", \"title\": [\"t\"]}", "\"title\" must be a string");
    bad_meta_line("{\"parent_asin\": \"A3\", \"price\": true}", "\"price\"");
    bad_meta_line("{\"parent_asin\": \"A3\", \"details\": [1]}", "\"details\" must be an object");
    bad_meta_line("{\"parent_asin\": \"A3\", \"store\": 7}", "\"store\" must be a string");
    bad_meta_line("{\"parent_asin\": \"A3\", \"average_rating\": \"4.5\"}", "\"average_rating\" must be a number");
    bad_meta_line("{\"parent_asin\": \"A1\", \"title\": \"again\"}", "duplicate item \"A1\"");
    bad_meta_line("{\"parent_asin\": \"A\xff\"}", "not valid UTF-8");
}

static void bad_inter_line(const char *header, const char *line, const char *field) {
    const char *meta_txt = "{\"parent_asin\": \"A1\"}\n{\"parent_asin\": \"A2\"}\n";
    char text[2048];
    snprintf(text, sizeof text, "%su,A1,5,1\n%s\nu,A2,5,2\n", header, line);
    char *meta = write_str("meta.jsonl", meta_txt), *inter = write_str("inter.csv", text);
    int ln = header[0] ? 3 : 2;
    sd_prep_opts o = {.items_path = meta, .inter_path = inter, .strict = true, .seed = 1};
    sd_catalog *c; sd_sequences s; sd_prep_stats st; sd_err e;
    cr_assert_eq(load_amz(&o, &c, &s, &st, &e), SD_EFORMAT, "line %s accepted", line);
    char where[64];
    snprintf(where, sizeof where, "inter.csv:%d", ln);
    cr_assert(strstr(e.msg, where), "%s", e.msg);
    cr_assert(strstr(e.msg, field), "wanted \"%s\" in: %s", field, e.msg);
    o.strict = false;
    cr_assert_eq(load_amz(&o, &c, &s, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(st.lines_skipped, 1);
    cr_assert_eq(s.n_inter, 2);
    sd_catalog_free(c);
    sd_sequences_free(&s);
}

Test(amazon, bad_interaction_lines) {
    bad_inter_line("", "u,A1,5,notatime", "\"timestamp\"");
    bad_inter_line("", "u,A1,five,3", "\"rating\"");
    bad_inter_line("", "u,A1,5", "columns");
    bad_inter_line("", ",A1,5,3", "\"user_id\"");
    bad_inter_line("", "u,,5,3", "\"parent_asin\"");
    bad_inter_line("", "u,\"A1,5,3", "unterminated");
    bad_inter_line("user_id,parent_asin,rating,timestamp\n", "u,A1,5,3,extra", "expected 4 columns");
}

Test(amazon, bad_review_lines) {
    const char *meta_txt = "{\"parent_asin\": \"A1\"}\n{\"parent_asin\": \"A2\"}\n";
    const char *cases[][2] = {
        {"{\"parent_asin\": \"A1\", \"timestamp\": 5}", "\"user_id\" missing"},
        {"{\"user_id\": 17, \"parent_asin\": \"A1\", \"timestamp\": 5}", "\"user_id\" must be"},
        {"{\"user_id\": \"u\", \"parent_asin\": [\"A1\"], \"timestamp\": 5}", "\"parent_asin\" must be"},
        {"{\"user_id\": \"u\", \"parent_asin\": \"A1\"}", "\"timestamp\" missing"},
        {"{\"user_id\": \"u\", \"parent_asin\": \"A1\", \"timestamp\": \"yesterday\"}", "\"timestamp\" must be"},
        {"{\"user_id\": \"u\", \"parent_asin\": \"A1\", \"timestamp\": 1.5}", "\"timestamp\" must be"},
        {"{\"user_id\": \"u\", \"parent_asin\": \"A1\", \"timestamp\": 5, \"rating\": \"5\"}", "\"rating\""},
        {"{\"user_id\": \"u\", \"parent_asin\": \"A1\", \"timestamp\": 5,}", "malformed JSON"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char text[1024];
        snprintf(text, sizeof text, "{\"user_id\": \"u\", \"parent_asin\": \"A1\", \"timestamp\": 1}\n%s\n"
                 "{\"user_id\": \"u\", \"parent_asin\": \"A2\", \"timestamp\": 2}\n", cases[k][0]);
        char *meta = write_str("meta.jsonl", meta_txt), *inter = write_str("rev.jsonl", text);
        sd_prep_opts o = {.items_path = meta, .inter_path = inter, .strict = true, .seed = 1};
        sd_catalog *c; sd_sequences s; sd_prep_stats st; sd_err e;
        cr_assert_eq(load_amz(&o, &c, &s, &st, &e), SD_EFORMAT, "case %zu accepted", k);
        cr_assert(strstr(e.msg, "rev.jsonl:2") && strstr(e.msg, cases[k][1]), "case %zu: %s", k, e.msg);
        o.strict = false;
        cr_assert_eq(load_amz(&o, &c, &s, &st, &e), 0, "%s", e.msg);
        cr_assert_eq(st.lines_skipped, 1);
        cr_assert_eq(s.n_inter, 2);
        sd_catalog_free(c);
        sd_sequences_free(&s);
        }
}

Test(amazon, invalid_utf8_is_replaced) {
    char *meta = write_str("meta.jsonl", "{\"parent_asin\": \"A1\", \"title\": \"Caf\xe9 Latte\", \"description\": [\"bad \xff\xfe\"]}\n");
    char *inter = write_str("r.csv", "u,A1,5,1\n");
    sd_prep_opts o = {.items_path = meta, .inter_path = inter, .strict = true, .seed = 1};
    sd_catalog *c; sd_sequences s; sd_prep_stats st; sd_err e;
    cr_assert_eq(load_amz(&o, &c, &s, &st, &e), 0, "%s", e.msg); /* repaired, not an error */
    cr_assert_str_eq(c->items[0].title, "Caf\xEF\xBF\xBD Latte");
    cr_assert_str_eq(c->items[0].description, "bad \xEF\xBF\xBD\xEF\xBF\xBD");
    sd_catalog_free(c);
    sd_sequences_free(&s);
}

Test(amazon, whole_file_errors) {
    sd_catalog *c; sd_sequences s; sd_prep_stats st; sd_err e;
    char *good_meta = fx("amazon/meta.jsonl"), *good_inter = fx("amazon/reviews.jsonl");
    char *empty = write_str("empty.jsonl", "");
    char *blank = write_str("blank.jsonl", "\n  \n\n");
    char *empty_gz = gzip_file(empty, "empty.jsonl.gz");
    /* truncated gzip: the first half of a compressed file */
    char *gz = gzip_file(good_inter, "rev.jsonl.gz");
    size_t glen;
    char *gdata = read_all(gz, NULL);
    FILE *f = fopen(gz, "rb"); fseek(f, 0, SEEK_END); glen = ftell(f); fclose(f);
    free(gdata);
    char *raw = malloc(glen);
    f = fopen(gz, "rb"); cr_assert_eq(fread(raw, 1, glen, f), glen); fclose(f);
    char *trunc = write_tmp("trunc.jsonl.gz", raw, glen / 2);
    free(raw);
    const char *cases[][3] = {
        {empty, good_inter, "empty"},
        {blank, good_inter, "empty"},
        {empty_gz, good_inter, "empty"},
        {good_meta, empty, "empty"},
        {good_meta, empty_gz, "empty"},
        {good_meta, trunc, "trunc.jsonl.gz"},
        {"/nonexistent/meta.jsonl", good_inter, "/nonexistent/meta.jsonl"},
        {good_meta, "/nonexistent/r.jsonl", "/nonexistent/r.jsonl"},
    };
    for (int strict = 0; strict < 2; strict++)
        for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
            sd_prep_opts o = amz_opts(cases[k][0], cases[k][1]);
            o.strict = strict;
            cr_assert_lt(load_amz(&o, &c, &s, &st, &e), 0, "case %zu accepted", k);
            cr_assert(strstr(e.msg, cases[k][2]), "case %zu: %s", k, e.msg);
            cr_assert_null(c);
        }
    sd_prep_opts o = amz_opts(NULL, good_inter);
    cr_assert_eq(load_amz(&o, &c, &s, &st, &e), SD_EUSAGE);
    cr_assert(strstr(e.msg, "--items"), "%s", e.msg);
    /* a CSV whose first line is neither header nor 4/5 columns */
    char *odd = write_str("odd.csv", "a,b\n");
    o = amz_opts(good_meta, odd);
    cr_assert_eq(load_amz(&o, &c, &s, &st, &e), SD_EFORMAT);
    cr_assert(strstr(e.msg, "odd.csv:1") && strstr(e.msg, "columns"), "%s", e.msg);
    char *nohdr = write_str("h.csv", "user_id,parent_asin,rating\nu,A,5\n");
    o = amz_opts(good_meta, nohdr);
    cr_assert_eq(load_amz(&o, &c, &s, &st, &e), SD_EFORMAT);
    cr_assert(strstr(e.msg, "\"timestamp\""), "%s", e.msg);
}

/* ---------------- generic ---------------- */

Test(generic, csv_and_jsonl) {
    sd_prep_opts o = {.items_path = fx("generic/items.jsonl"), .inter_path = fx("generic/inter.csv"), .seed = 3};
    sd_catalog *c; sd_sequences s; sd_prep_stats st = {0}; sd_err e = {0};
    cr_assert_eq(sd_load_generic(&o, &c, &s, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(c->n_items, 5);
    cr_assert_str_eq(c->items[0].title, "Trail Running Shoe \xE2\x80\x93 Men's");
    cr_assert_str_eq(c->items[0].description, "Lightweight trail shoe with a grippy outsole.");
    cr_assert_str_eq(sd_item_attr(c, 0, "brand"), "Salomon");
    cr_assert_str_eq(sd_item_attr(c, 0, "price"), "129");
    cr_assert_str_eq(sd_item_attr(c, 0, "in_stock"), "true");
    cr_assert_null(sd_item_attr(c, 0, "discontinued"));
    cr_assert_str_eq(c->items[1].description, "Three-layer shell. Pit zips & hood.");
    cr_assert_eq(c->items[1].n_categories, 2);
    cr_assert_eq(c->items[1].n_features, 2);
    cr_assert_str_eq(c->items[2].ext_id, "3"); /* integer id */
    cr_assert_str_eq(sd_item_attr(c, 2, "size"), "{\"ml\":750}");
    cr_assert_eq(s.n_users, 3);
    char buf[256];
    seq_str(c, &s, "alice", buf, sizeof buf);
    cr_assert_str_eq(buf, "sku-1 sku-2 3");
    seq_str(c, &s, "carol, jr.", buf, sizeof buf); /* quoted user with a comma */
    cr_assert_str_eq(buf, "sku-5 sku-2");
    sd_catalog_free(c);
    sd_sequences_free(&s);
    o.inter_path = fx("generic/inter.jsonl");
    cr_assert_eq(sd_load_generic(&o, &c, &s, &st, &e), 0, "%s", e.msg);
    seq_str(c, &s, "7", buf, sizeof buf); /* integer user */
    cr_assert_str_eq(buf, "4 sku-1");
    sd_catalog_free(c);
    sd_sequences_free(&s);
}

Test(generic, errors) {
    sd_catalog *c; sd_sequences s; sd_prep_stats st = {0}; sd_err e = {0};
    sd_prep_opts o = {.inter_path = fx("generic/inter.csv")};
    cr_assert_eq(sd_load_generic(&o, &c, &s, &st, &e), SD_EUSAGE);
    cr_assert(strstr(e.msg, "--items") && strstr(e.msg, "required"), "%s", e.msg);
    char *nohdr = write_str("i.csv", "alice,sku-1,100\n");
    o = (sd_prep_opts){.items_path = fx("generic/items.jsonl"), .inter_path = nohdr};
    cr_assert_eq(sd_load_generic(&o, &c, &s, &st, &e), SD_EFORMAT);
    cr_assert(strstr(e.msg, "i.csv:1") && strstr(e.msg, "header"), "%s", e.msg);
    char *unk = write_str("u.csv", "user,item,timestamp\na,sku-1,1\na,nope,2\n");
    o = (sd_prep_opts){.items_path = fx("generic/items.jsonl"), .inter_path = unk, .strict = true};
    cr_assert_eq(sd_load_generic(&o, &c, &s, &st, &e), SD_EFORMAT);
    cr_assert(strstr(e.msg, "u.csv:3") && strstr(e.msg, "\"item\"") && strstr(e.msg, "nope"), "%s", e.msg);
    o.strict = false;
    memset(&st, 0, sizeof st);
    cr_assert_eq(sd_load_generic(&o, &c, &s, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(st.inter_unknown_item, 1);
    sd_catalog_free(c);
    sd_sequences_free(&s);
    char *items = write_str("items.jsonl", "{\"id\": \"a\"}\n{\"id\": true}\n{\"id\": \"a\"}\n{\"title\": \"x\"}\n");
    char *inter = write_str("i.jsonl", "{\"user\": \"u\", \"item\": \"a\", \"timestamp\": 1}\n"
                                       "{\"user\": \"u\", \"item\": \"a\", \"timestamp\": \"x\"}\n");
    o = (sd_prep_opts){.items_path = items, .inter_path = inter, .strict = true};
    cr_assert_eq(sd_load_generic(&o, &c, &s, &st, &e), SD_EFORMAT);
    cr_assert(strstr(e.msg, "items.jsonl:2") && strstr(e.msg, "\"id\""), "%s", e.msg);
    o.strict = false;
    memset(&st, 0, sizeof st);
    cr_assert_eq(sd_load_generic(&o, &c, &s, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(st.lines_skipped, 4); /* bool id, duplicate, missing id, bad timestamp */
    cr_assert_eq(c->n_items, 1);
    sd_catalog_free(c);
    sd_sequences_free(&s);
}

/* ---------------- SASRec ---------------- */

Test(sasrec, loads) {
    sd_prep_opts o = {.inter_path = fx("sasrec/data.txt"), .seed = 1};
    sd_catalog *c; sd_sequences s; sd_prep_stats st = {0}; sd_err e = {0};
    cr_assert_eq(sd_load_sasrec(&o, &c, &s, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(c->n_items, 7);
    cr_assert_str_eq(c->items[6].ext_id, "7");
    cr_assert_str_eq(c->items[6].title, "item 7");
    cr_assert_eq(s.n_users, 3);
    char buf[256];
    seq_str(c, &s, "3", buf, sizeof buf); /* line order is time order */
    cr_assert_str_eq(buf, "6 1 7 2");
    sd_catalog_free(c);
    sd_sequences_free(&s);
}

Test(sasrec, bad_input) {
    const char *cases[][3] = {
        {"1 1\n1 x\n2 1\n", "data.txt:2", "item: not an integer"},
        {"1 1\n1\n2 1\n", "data.txt:2", "item: missing"},
        {"1 1\n0 3\n2 1\n", "data.txt:2", "1-based"},
        {"1 1\n-1 3\n2 1\n", "data.txt:2", "1-based"},
        {"1 1\n1 2 3\n2 1\n", "data.txt:2", "two fields"},
        {"1 1\nabc 2\n2 1\n", "data.txt:2", "user: not an integer"},
        {"1 1\n1 99999999999\n2 1\n", "data.txt:2", "item: not an integer"},
    };
    sd_catalog *c; sd_sequences s; sd_prep_stats st; sd_err e;
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char *p = write_str("data.txt", cases[k][0]);
        sd_prep_opts o = {.inter_path = p, .strict = true};
        memset(&st, 0, sizeof st);
        cr_assert_eq(sd_load_sasrec(&o, &c, &s, &st, &e), SD_EFORMAT, "case %zu accepted", k);
        cr_assert(strstr(e.msg, cases[k][1]) && strstr(e.msg, cases[k][2]), "case %zu: %s", k, e.msg);
        o.strict = false;
        cr_assert_eq(sd_load_sasrec(&o, &c, &s, &st, &e), 0, "%s", e.msg);
        cr_assert_eq(st.lines_skipped, 1);
        cr_assert_eq(s.n_inter, 2);
        sd_catalog_free(c);
        sd_sequences_free(&s);
    }
    /* a user split over two runs is a format violation even without --strict */
    char *p = write_str("data.txt", "1 1\n1 2\n2 1\n1 3\n");
    sd_prep_opts o = {.inter_path = p};
    cr_assert_eq(sd_load_sasrec(&o, &c, &s, &st, &e), SD_EFORMAT);
    cr_assert(strstr(e.msg, "data.txt:4") && strstr(e.msg, "user 1"), "%s", e.msg);
    char *empty = write_str("data.txt", "");
    o.inter_path = empty;
    cr_assert_eq(sd_load_sasrec(&o, &c, &s, &st, &e), SD_EFORMAT);
    cr_assert(strstr(e.msg, "empty"), "%s", e.msg);
    char *crlf_p = write_str("data.txt", "1 1\r\n1 2\r\n2 2\r\n");
    o.inter_path = crlf_p;
    o.strict = true;
    cr_assert_eq(sd_load_sasrec(&o, &c, &s, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(s.n_inter, 3);
    sd_catalog_free(c);
    sd_sequences_free(&s);
}
