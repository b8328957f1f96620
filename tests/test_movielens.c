/* MovieLens loader on hand-written fixture folders (tests/fixtures/movielens) and on variants
 * written into a temp folder (CRLF, BOM, gzip, bad lines). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "base/file.h"
#include "base/log.h"
#include "data/loaders.h"
#include "data/workdir.h"
#include "test_util.h"

typedef struct loaded {
    sd_catalog *cat;
    sd_sequences seq;
    sd_prep_stats st;
    sd_err err;
    int rc;
} loaded;

static void quiet(void) { sd_quiet = true; }

static char *fixture(const char *name) {
    char *d = sd_path_join(sd_test_fixtures(), "movielens");
    char *p = sd_path_join(d, name);
    free(d);
    return p;
}

static loaded load_dir(const char *dir, const sd_prep_opts *base) {
    sd_prep_opts o = {0};
    if (base) o = *base;
    o.dir = dir;
    if (!o.seed) o.seed = 7;
    loaded l;
    memset(&l, 0, sizeof l);
    l.rc = sd_load_movielens(&o, &l.cat, &l.seq, &l.st, &l.err);
    return l;
}

static loaded load_fixture(const char *name, const sd_prep_opts *o) {
    char *d = fixture(name);
    loaded l = load_dir(d, o);
    free(d);
    return l;
}

static void unload(loaded *l) {
    sd_catalog_free(l->cat);
    sd_sequences_free(&l->seq);
}

static int32_t user_of(const sd_sequences *s, const char *id) {
    for (int32_t u = 0; u < s->n_users; u++)
        if (strcmp(s->user_ids[u], id) == 0) return u;
    return -1;
}

/* The user's items as ext ids joined by spaces, in sequence order. */
static const char *seq_str(const loaded *l, const char *user) {
    static char buf[256];
    buf[0] = 0;
    int32_t u = user_of(&l->seq, user);
    if (u < 0) return "(absent)";
    for (int32_t i = 0; i < sd_seq_len(&l->seq, u); i++) {
        if (i) strcat(buf, " ");
        strcat(buf, l->cat->items[sd_seq_items(&l->seq, u)[i]].ext_id);
    }
    return buf;
}

static const sd_item *item(const loaded *l, const char *ext) {
    int32_t i = sd_catalog_find(l->cat, ext);
    cr_assert_geq(i, 0, "item %s missing", ext);
    return &l->cat->items[i];
}

static const char *cats_str(const loaded *l, const char *ext) {
    static char buf[256];
    buf[0] = 0;
    const sd_item *it = item(l, ext);
    for (uint32_t i = 0; i < it->n_categories; i++) {
        if (i) strcat(buf, "|");
        strcat(buf, sd_item_categories(l->cat, it)[i]);
    }
    return buf;
}

static const char *attr(const loaded *l, const char *ext, const char *key) {
    return sd_item_attr(l->cat, sd_catalog_find(l->cat, ext), key);
}

static void write_file(const char *dir, const char *name, const char *data, size_t n) {
    char *p = sd_path_join(dir, name);
    FILE *f = fopen(p, "wb");
    cr_assert(f, "cannot write %s", p);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
    free(p);
}

static void write_str(const char *dir, const char *name, const char *s) { write_file(dir, name, s, strlen(s)); }

/* A fresh temp folder holding a copy of a fixture folder's files, transformed: CRLF line
 * endings and/or a UTF-8 BOM in front of every file. */
static void copy_fixture(const char *name, const char *dst, bool crlf, bool bom) {
    static const char *files[] = {"u.data", "u.item", "ratings.dat", "movies.dat", "ratings.csv", "movies.csv", "tags.csv"};
    char *src = fixture(name);
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char *p = sd_path_join(src, files[i]);
        char *data;
        size_t n;
        if (sd_exists(p)) {
            cr_assert_eq(sd_read_file(p, &data, &n, NULL), 0);
            char *out = malloc(2 * n + 4);
            size_t k = 0;
            if (bom) memcpy(out, "\xEF\xBB\xBF", 3), k = 3;
            for (size_t j = 0; j < n; j++) {
                if (crlf && data[j] == '\n') out[k++] = '\r';
                out[k++] = data[j];
            }
            write_file(dst, files[i], out, k);
            free(out);
            free(data);
        }
        free(p);
    }
    free(src);
}

static void tmpdir(char *d, size_t n) { sd_test_tmpdir(d, n); }

/* ------------------------------------------------------------------ ml-100k */

Test(movielens, ml100k, .init = quiet) {
    loaded l = load_fixture("ml-100k-mini", NULL);
    cr_assert_eq(l.rc, 0, "%s", l.err.msg);
    cr_assert_eq(l.cat->n_items, 6);
    cr_assert_str_eq(item(&l, "1")->title, "Toy Story (1995)");
    cr_assert_str_eq(item(&l, "3")->title, "Caf\xC3\xA9 Society (1995)"); /* Latin-1 0xE9 -> UTF-8 */
    cr_assert_str_eq(item(&l, "6")->title, "Mis\xC3\xA9rables, Les (1995)");
    cr_assert_str_eq(cats_str(&l, "1"), "Animation|Children's|Comedy");
    cr_assert_str_eq(cats_str(&l, "2"), "Action|Adventure|Thriller");
    cr_assert_str_eq(item(&l, "1")->description, "Genres: Animation, Children's, Comedy.");
    cr_assert_str_eq(attr(&l, "1", "year"), "1995");
    cr_assert_str_eq(attr(&l, "4", "year"), "1994");
    cr_assert_str_eq(attr(&l, "3", "release_date"), "15-Mar-1995");
    cr_assert_str_eq(attr(&l, "6", "genre"), "Drama");
    cr_assert_eq(item(&l, "6")->n_attrs, 4); /* genre x2, year, release_date */
    /* "unknown" genre flag and no date: nothing */
    cr_assert_eq(item(&l, "5")->n_categories, 0);
    cr_assert_null(attr(&l, "5", "year"));
    cr_assert_null(attr(&l, "5", "release_date"));
    cr_assert_str_eq(item(&l, "5")->description, "");
    /* sequences: by timestamp, users in order of first appearance */
    cr_assert_eq(l.seq.n_users, 4);
    cr_assert_eq(l.seq.n_inter, 9);
    cr_assert_str_eq(l.seq.user_ids[0], "1");
    cr_assert_str_eq(seq_str(&l, "1"), "2 1 3");
    cr_assert_str_eq(seq_str(&l, "2"), "4 6 1");
    cr_assert_str_eq(seq_str(&l, "3"), "2 4");
    cr_assert_eq(l.seq.times[l.seq.offsets[0]], 881250900);
    cr_assert_eq(l.st.inter_unknown_item, 1); /* movie 99 */
    cr_assert_eq(l.st.lines_read, 16);
    cr_assert_eq(l.st.lines_skipped, 0);
    cr_assert_gt(l.st.bytes_read, 600);
    unload(&l);
}

Test(movielens, min_rating_and_user_limits, .init = quiet) {
    sd_prep_opts o = {.min_rating = 4};
    loaded l = load_fixture("ml-100k-mini", &o);
    cr_assert_eq(l.rc, 0, "%s", l.err.msg);
    cr_assert_eq(l.seq.n_users, 3); /* user 4's only rating is 3 */
    cr_assert_eq(l.seq.n_inter, 5);
    cr_assert_str_eq(seq_str(&l, "1"), "1 3");
    cr_assert_str_eq(seq_str(&l, "2"), "6 1");
    cr_assert_str_eq(seq_str(&l, "3"), "4");
    cr_assert_eq(l.cat->n_items, 6); /* the catalogue keeps every movie */
    unload(&l);

    o = (sd_prep_opts){.min_user_items = 3};
    l = load_fixture("ml-100k-mini", &o);
    cr_assert_eq(l.rc, 0, "%s", l.err.msg);
    cr_assert_eq(l.seq.n_users, 2);
    cr_assert_str_eq(seq_str(&l, "1"), "2 1 3");
    cr_assert_str_eq(seq_str(&l, "3"), "(absent)");
    unload(&l);

    o = (sd_prep_opts){.min_user_items = 2, .max_user_items = 2};
    l = load_fixture("ml-100k-mini", &o);
    cr_assert_eq(l.rc, 0, "%s", l.err.msg);
    cr_assert_eq(l.seq.n_users, 3);
    cr_assert_str_eq(seq_str(&l, "1"), "1 3"); /* the last two of 2 1 3 */
    cr_assert_str_eq(seq_str(&l, "2"), "6 1");
    cr_assert_str_eq(seq_str(&l, "3"), "2 4");
    cr_assert_str_eq(seq_str(&l, "4"), "(absent)");
    unload(&l);

    /* half stars: 3.5 is below 4.0, 4.0 and 4.5 are kept */
    o = (sd_prep_opts){.min_rating = 4.0};
    l = load_fixture("ml-latest-mini", &o);
    cr_assert_eq(l.rc, 0, "%s", l.err.msg);
    cr_assert_str_eq(seq_str(&l, "1"), "3 1");
    cr_assert_str_eq(seq_str(&l, "2"), "5");
    unload(&l);
}

/* ------------------------------------------------------------------ ml-1m */

Test(movielens, ml1m, .init = quiet) {
    loaded l = load_fixture("ml-1m-mini", NULL);
    cr_assert_eq(l.rc, 0, "%s", l.err.msg);
    cr_assert_eq(l.cat->n_items, 5);
    cr_assert_str_eq(item(&l, "3")->title, "Cit\xC3\xA9 des enfants perdus, La (1995)");
    cr_assert_str_eq(item(&l, "5")->title, "Fr\xC3\xA4ulein Doktor (1969)");
    cr_assert_str_eq(attr(&l, "5", "year"), "1969");
    cr_assert_str_eq(item(&l, "4")->title, "Star Wars: Episode IV - A New Hope (1977)");
    cr_assert_str_eq(cats_str(&l, "4"), "Action|Adventure|Fantasy|Sci-Fi");
    cr_assert_str_eq(item(&l, "5")->description, "Genres: Drama, War.");
    cr_assert_null(attr(&l, "1", "release_date"));
    cr_assert_eq(l.seq.n_users, 3);
    cr_assert_eq(l.seq.n_inter, 9);
    cr_assert_str_eq(seq_str(&l, "1"), "5 1 4 3");
    cr_assert_str_eq(seq_str(&l, "2"), "4 2 1");
    cr_assert_eq(l.st.lines_read, 14);
    unload(&l);
}

Test(movielens, ml1m_title_with_separator_and_tags_dat, .init = quiet) {
    char d[256];
    tmpdir(d, sizeof d);
    write_str(d, "movies.dat", "1::Who::Where (2001)::Drama\n2::Plain (1990)::Comedy|Drama\n");
    write_str(d, "ratings.dat", "1::1::5::10\n1::2::4::5\n");
    write_str(d, "tags.dat", "1::1::great::1\n2::1::a::b::2\n3::1::Great::3\n");
    loaded l = load_dir(d, NULL);
    cr_assert_eq(l.rc, 0, "%s", l.err.msg);
    cr_assert_str_eq(item(&l, "1")->title, "Who::Where (2001)");
    cr_assert_str_eq(attr(&l, "1", "year"), "2001");
    cr_assert_str_eq(item(&l, "1")->description, "Genres: Drama. Tags: great, a::b.");
    cr_assert_str_eq(seq_str(&l, "1"), "2 1");
    unload(&l);
}

/* ------------------------------------------------------------------ ml-latest (CSV) */

static void check_latest(const loaded *l) {
    cr_assert_eq(l->rc, 0, "%s", l->err.msg);
    cr_assert_eq(l->cat->n_items, 6);
    cr_assert_str_eq(item(l, "2")->title, "American President, The (1995)");
    cr_assert_str_eq(item(l, "3")->title, "\"Great Performances\" Cats (1998)");
    cr_assert_str_eq(attr(l, "3", "year"), "1998");
    cr_assert_str_eq(attr(l, "4", "year"), "1975"); /* "(1975-1979)" */
    cr_assert_str_eq(item(l, "5")->title, "Caf\xC3\xA9 Society (2016)");
    cr_assert_str_eq(cats_str(l, "1"), "Adventure|Animation|Children|Comedy|Fantasy");
    cr_assert_eq(item(l, "6")->n_categories, 0); /* (no genres listed) */
    cr_assert_null(attr(l, "6", "year"));
    cr_assert_str_eq(item(l, "6")->description, "");
    /* tags: case and blanks folded, most frequent first, ties alphabetical, at most 10 */
    cr_assert_str_eq(item(l, "1")->description,
                     "Genres: Adventure, Animation, Children, Comedy, Fantasy. Tags: pixar, fun, toys, friendship.");
    cr_assert_str_eq(item(l, "5")->description, "Genres: Comedy, Drama, Romance. Tags: woody allen.");
    cr_assert_str_eq(item(l, "2")->description,
                     "Genres: Comedy, Drama, Romance. Tags: politics, t01, t02, t03, t04, t05, t06, t07, t08, t09.");
    cr_assert_str_eq(item(l, "4")->description, "Genres: Comedy.");
    cr_assert_eq(l->seq.n_users, 3);
    cr_assert_eq(l->seq.n_inter, 8);
    cr_assert_str_eq(seq_str(l, "1"), "3 6 1");
    cr_assert_str_eq(seq_str(l, "2"), "1 2 5");
    cr_assert_str_eq(seq_str(l, "3"), "1 4");
    cr_assert_eq(l->seq.times[l->seq.offsets[1]], 1445714000);
    cr_assert_eq(l->st.inter_unknown_item, 1);
    cr_assert_eq(l->st.lines_skipped, 0);
    cr_assert_eq(l->st.lines_read, 7 + 10 + 21);
}

Test(movielens, ml_latest_csv, .init = quiet) {
    loaded l = load_fixture("ml-latest-mini", NULL);
    check_latest(&l);
    unload(&l);
}

Test(movielens, crlf_and_bom, .init = quiet) {
    char d[256];
    tmpdir(d, sizeof d);
    copy_fixture("ml-latest-mini", d, true, true);
    loaded l = load_dir(d, NULL);
    check_latest(&l);
    unload(&l);

    tmpdir(d, sizeof d);
    copy_fixture("ml-100k-mini", d, true, false);
    l = load_dir(d, NULL);
    cr_assert_eq(l.rc, 0, "%s", l.err.msg);
    cr_assert_str_eq(item(&l, "3")->title, "Caf\xC3\xA9 Society (1995)");
    cr_assert_str_eq(cats_str(&l, "2"), "Action|Adventure|Thriller"); /* last flag not "0\r" */
    cr_assert_str_eq(seq_str(&l, "2"), "4 6 1");
    unload(&l);

    tmpdir(d, sizeof d);
    copy_fixture("ml-1m-mini", d, true, true);
    l = load_dir(d, NULL);
    cr_assert_eq(l.rc, 0, "%s", l.err.msg);
    cr_assert_str_eq(cats_str(&l, "5"), "Drama|War");
    cr_assert_str_eq(seq_str(&l, "1"), "5 1 4 3");
    unload(&l);
}

static void gzip_file(const char *src, const char *dst, size_t keep /* 0 = all */) {
    char *data;
    size_t n;
    cr_assert_eq(sd_read_file(src, &data, &n, NULL), 0);
    gzFile g = gzopen(dst, "wb");
    cr_assert(g);
    cr_assert_eq(gzwrite(g, data, (unsigned)n), (int)n);
    gzclose(g);
    free(data);
    if (keep) cr_assert_eq(truncate(dst, (off_t)keep), 0);
}

Test(movielens, gzip_ratings, .init = quiet) {
    char d[256];
    tmpdir(d, sizeof d);
    copy_fixture("ml-latest-mini", d, false, false);
    char *plain = sd_path_join(d, "ratings.csv"), *gz = sd_path_join(d, "ratings.csv.gz");
    gzip_file(plain, gz, 0);
    remove(plain);
    loaded l = load_dir(d, NULL);
    check_latest(&l);
    unload(&l);

    /* truncated gzip: an error naming the file, whatever --strict says */
    gzip_file(gz, plain, 0); /* bigger input so truncation lands mid-stream */
    remove(gz);
    char *data;
    size_t n;
    cr_assert_eq(sd_read_file(plain, &data, &n, NULL), 0);
    remove(plain);
    gzFile g = gzopen(gz, "wb");
    for (int i = 0; i < 200; i++) gzprintf(g, "%d,%d,4.0,%d\n", i % 7, 1 + i % 6, 1000 + i);
    gzclose(g);
    free(data);
    cr_assert_eq(truncate(gz, sd_file_size(gz) - 12), 0);
    l = load_dir(d, NULL);
    cr_assert_lt(l.rc, 0);
    cr_assert(strstr(l.err.msg, "ratings.csv.gz"), "%s", l.err.msg);
    cr_assert_null(l.cat);
    unload(&l);
    free(plain);
    free(gz);
}

Test(movielens, multiline_quoted_title, .init = quiet) {
    char d[256];
    tmpdir(d, sizeof d);
    write_str(d, "movies.csv", "movieId,title,genres\n1,\"Two\nLines, \"\"quoted\"\" (2000)\",Drama\n2,After (2001),Comedy\n");
    write_str(d, "ratings.csv", "userId,movieId,rating,timestamp\n1,2,4,5\n1,1,4,4\n");
    loaded l = load_dir(d, NULL);
    cr_assert_eq(l.rc, 0, "%s", l.err.msg);
    cr_assert_str_eq(item(&l, "1")->title, "Two\nLines, \"quoted\" (2000)");
    cr_assert_str_eq(attr(&l, "1", "year"), "2000");
    cr_assert_str_eq(item(&l, "2")->title, "After (2001)");
    cr_assert_str_eq(seq_str(&l, "1"), "1 2");
    unload(&l);
}

Test(movielens, columns_by_header_and_headerless, .init = quiet) {
    char d[256];
    tmpdir(d, sizeof d);
    write_str(d, "movies.csv", "1,A (2000),Drama\n2,B (2001),Comedy\n"); /* no header */
    write_str(d, "ratings.csv", "timestamp,Rating,movieId,userId\n30,4,1,9\n20,5,2,9\n");
    loaded l = load_dir(d, NULL);
    cr_assert_eq(l.rc, 0, "%s", l.err.msg);
    cr_assert_eq(l.cat->n_items, 2);
    cr_assert_str_eq(seq_str(&l, "9"), "2 1");
    unload(&l);
}

/* ------------------------------------------------------------------ bad input */

Test(movielens, bad_rating_lines, .init = quiet) {
    char d[256];
    tmpdir(d, sizeof d);
    copy_fixture("ml-latest-mini", d, false, false);
    write_str(d, "ratings.csv",
              "userId,movieId,rating,timestamp\n"
              "1,1,4.0,100\n"
              "1,2,4.0\n"              /* 3: wrong field count */
              "1,abc,4.0,101\n"        /* 4: movie id */
              "1,3,four,102\n"         /* 5: rating */
              "1,4,4.0,1e9\n"          /* 6: timestamp */
              "x1,4,4.0,103\n"         /* 7: user id */
              "1,5,\"4.0,104\n"        /* 8: unterminated quote */
              "\n"
              "2,6,1.0,105\n");
    loaded l = load_dir(d, NULL);
    cr_assert_eq(l.rc, 0, "%s", l.err.msg);
    cr_assert_eq(l.st.lines_skipped, 6);
    cr_assert_eq(l.seq.n_inter, 2);
    cr_assert_str_eq(seq_str(&l, "1"), "1");
    unload(&l);

    static const char *want[] = {"ratings.csv:3: expected 4 fields", "ratings.csv:4: field 2 (movie id): \"abc\"",
                                 "ratings.csv:5: field 3 (rating): \"four\"", "ratings.csv:6: field 4 (timestamp)",
                                 "ratings.csv:7: field 1 (user id)", "ratings.csv:8: unterminated"};
    sd_prep_opts o = {.strict = true};
    char body[256];
    const char *rows[] = {"1,2,4.0\n", "1,abc,4.0,101\n", "1,3,four,102\n", "1,4,4.0,1e9\n", "x1,4,4.0,103\n", "1,5,\"4.0,104\n"};
    for (int i = 0; i < 6; i++) {
        /* each bad row at line i + 3, after two good ones */
        snprintf(body, sizeof body, "userId,movieId,rating,timestamp\n1,1,4.0,100\n");
        for (int k = 0; k < i; k++) strcat(body, "2,2,3.0,50\n");
        strcat(body, rows[i]);
        strcat(body, "2,6,1.0,105\n");
        write_str(d, "ratings.csv", body);
        l = load_dir(d, &o);
        cr_assert_eq(l.rc, SD_EFORMAT, "case %d", i);
        cr_assert(strstr(l.err.msg, want[i]), "case %d: %s", i, l.err.msg);
        cr_assert_null(l.cat);
        cr_assert_eq(l.seq.n_users, 0);
        unload(&l);
    }
}

Test(movielens, unknown_movie_strict, .init = quiet) {
    sd_prep_opts o = {.strict = true};
    loaded l = load_fixture("ml-latest-mini", &o);
    cr_assert_eq(l.rc, SD_EFORMAT);
    cr_assert(strstr(l.err.msg, "ratings.csv:10: field 2 (movie id): movie 42 is not in movies.csv"), "%s", l.err.msg);
    unload(&l);
    l = load_fixture("ml-100k-mini", &o);
    cr_assert_eq(l.rc, SD_EFORMAT);
    cr_assert(strstr(l.err.msg, "u.data:8:"), "%s", l.err.msg);
    cr_assert(strstr(l.err.msg, "movie 99 is not in u.item"), "%s", l.err.msg);
    unload(&l);
}

Test(movielens, bad_movie_lines, .init = quiet) {
    char d[256];
    tmpdir(d, sizeof d);
    copy_fixture("ml-100k-mini", d, false, false);
    char *p = sd_path_join(d, "u.item");
    char *data;
    size_t n;
    cr_assert_eq(sd_read_file(p, &data, &n, NULL), 0);
    char *text = malloc(n + 256);
    snprintf(text, n + 256, "%s7|Short|line\n8|Bad flag (1999)|||url|0|0|0|0|0|2|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
                            "x|NaN (1999)|||url|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
                            "1|Toy Story again (1995)|||url|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n", data);
    write_str(d, "u.item", text);
    loaded l = load_dir(d, NULL);
    cr_assert_eq(l.rc, 0, "%s", l.err.msg);
    cr_assert_eq(l.st.lines_skipped, 4);
    cr_assert_eq(l.cat->n_items, 6);
    cr_assert_str_eq(item(&l, "1")->title, "Toy Story (1995)");
    unload(&l);

    sd_prep_opts o = {.strict = true};
    l = load_dir(d, &o);
    cr_assert_eq(l.rc, SD_EFORMAT);
    cr_assert(strstr(l.err.msg, "u.item:7: expected 24"), "%s", l.err.msg);
    unload(&l);
    snprintf(text, n + 256, "%s8|Bad flag (1999)|||url|0|0|0|0|0|2|0|0|0|0|0|0|0|0|0|0|0|0|0\n", data);
    write_str(d, "u.item", text);
    l = load_dir(d, &o);
    cr_assert(strstr(l.err.msg, "u.item:7: field 11 (genre Comedy): \"2\""), "%s", l.err.msg);
    unload(&l);
    snprintf(text, n + 256, "%s1|Again (1995)|||url|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n", data);
    write_str(d, "u.item", text);
    l = load_dir(d, &o);
    cr_assert(strstr(l.err.msg, "u.item:7: field 1 (movie id): duplicate id 1"), "%s", l.err.msg);
    unload(&l);
    free(text);
    free(data);
    free(p);

    /* movies.csv: unquoted comma in a title gives 4 fields; a quote left open runs to the end */
    tmpdir(d, sizeof d);
    write_str(d, "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4,1\n");
    write_str(d, "movies.csv", "movieId,title,genres\n1,Fine (2000),Drama\n2,Bad, Title (2000),Drama\n3,\"Open (2000),Drama\n");
    l = load_dir(d, NULL);
    cr_assert_eq(l.rc, 0, "%s", l.err.msg);
    cr_assert_eq(l.cat->n_items, 1);
    cr_assert_eq(l.st.lines_skipped, 2);
    unload(&l);
    l = load_dir(d, &o);
    cr_assert(strstr(l.err.msg, "movies.csv:3: expected 3 comma-separated fields"), "%s", l.err.msg);
    unload(&l);
}

Test(movielens, missing_files_and_folders, .init = quiet) {
    char d[256];
    tmpdir(d, sizeof d);
    loaded l = load_dir(d, NULL);
    cr_assert_lt(l.rc, 0);
    cr_assert(strstr(l.err.msg, "not a MovieLens folder"), "%s", l.err.msg);
    cr_assert(strstr(l.err.msg, d), "%s", l.err.msg);

    write_str(d, "u.data", "1\t1\t5\t1\n");
    l = load_dir(d, NULL);
    cr_assert_eq(l.rc, SD_EIO);
    cr_assert(strstr(l.err.msg, "u.item: missing"), "%s", l.err.msg);

    char *nope = sd_path_join(d, "nope");
    l = load_dir(nope, NULL);
    cr_assert_eq(l.rc, SD_EIO);
    cr_assert(strstr(l.err.msg, "nope: no such directory"), "%s", l.err.msg);
    free(nope);

    l = load_dir(NULL, NULL);
    cr_assert_eq(l.rc, SD_EUSAGE);

    /* a movies file with nothing usable */
    tmpdir(d, sizeof d);
    write_str(d, "movies.csv", "movieId,title,genres\n");
    write_str(d, "ratings.csv", "userId,movieId,rating,timestamp\n");
    l = load_dir(d, NULL);
    cr_assert_eq(l.rc, SD_EFORMAT);
    cr_assert(strstr(l.err.msg, "movies.csv: no movies"), "%s", l.err.msg);

    /* a header that is not MovieLens' */
    write_str(d, "movies.csv", "movieId,title,genres\n1,A (2000),Drama\n");
    write_str(d, "ratings.csv", "user,item,score,time\n1,1,4,1\n");
    l = load_dir(d, NULL);
    cr_assert_eq(l.rc, SD_EFORMAT);
    cr_assert(strstr(l.err.msg, "ratings.csv:1: header has no \"userId\" column"), "%s", l.err.msg);

    /* not text at all: embedded NULs and binary junk are bad lines, never a crash */
    static const char junk[] = "userId,movieId,rating,timestamp\n\x00\x01\x02,\xff\xfe\n1,\x00,4,1\n\x00\x00\x00\n1,1,4,1\n";
    write_file(d, "ratings.csv", junk, sizeof junk - 1);
    l = load_dir(d, NULL);
    cr_assert_eq(l.rc, 0, "%s", l.err.msg);
    cr_assert_eq(l.st.lines_skipped, 3);
    cr_assert_eq(l.seq.n_inter, 1);
    unload(&l);
}

/* ------------------------------------------------------------------ work directory */

Test(movielens, workdir_round_trip, .init = quiet) {
    loaded l = load_fixture("ml-latest-mini", NULL);
    cr_assert_eq(l.rc, 0, "%s", l.err.msg);
    char d[256];
    tmpdir(d, sizeof d);
    char *w = sd_path_join(d, "work");
    sd_err err = {0};
    cr_assert_eq(sd_work_create(w, l.cat, &l.seq, SD_SPLIT_LOO, 7, "movielens", NULL, &err), 0, "%s", err.msg);
    sd_work wk;
    cr_assert_eq(sd_work_load(&wk, w, &err), 0, "%s", err.msg);
    cr_assert_eq(wk.cat->n_items, l.cat->n_items);
    for (int32_t i = 0; i < l.cat->n_items; i++) {
        const sd_item *a = &l.cat->items[i], *b = &wk.cat->items[i];
        cr_assert_str_eq(a->ext_id, b->ext_id);
        cr_assert_str_eq(a->title, b->title);
        cr_assert_str_eq(a->description, b->description);
        cr_assert_eq(a->n_categories, b->n_categories);
        for (uint32_t k = 0; k < a->n_categories; k++)
            cr_assert_str_eq(sd_item_categories(l.cat, a)[k], sd_item_categories(wk.cat, b)[k]);
        cr_assert_eq(a->n_attrs, b->n_attrs);
        for (uint32_t k = 0; k < a->n_attrs; k++) { /* attributes come grouped by key, so order survives */
            const sd_kv *x = sd_item_attrs(l.cat, a) + k, *y = sd_item_attrs(wk.cat, b) + k;
            cr_assert_str_eq(x->key, y->key);
            cr_assert_str_eq(x->value, y->value);
        }
    }
    cr_assert_str_eq(sd_item_attr(wk.cat, 2, "year"), "1998");
    cr_assert_eq(wk.seq.n_users, l.seq.n_users);
    cr_assert_eq(wk.seq.n_inter, l.seq.n_inter);
    cr_assert_eq(memcmp(wk.seq.items, l.seq.items, l.seq.n_inter * sizeof *l.seq.items), 0);
    cr_assert_eq(memcmp(wk.seq.times, l.seq.times, l.seq.n_inter * sizeof *l.seq.times), 0);
    for (int32_t u = 0; u < l.seq.n_users; u++) cr_assert_str_eq(wk.seq.user_ids[u], l.seq.user_ids[u]);
    cr_assert_str_eq(wk.format, "movielens");
    sd_work_free(&wk);
    free(w);
    unload(&l);
}

/* ids far apart (no dense table) and negative ids go through the hash map */
Test(movielens, sparse_movie_ids, .init = quiet) {
    char d[256];
    tmpdir(d, sizeof d);
    write_str(d, "movies.csv", "movieId,title,genres\n9000000000,Big (1988),Comedy\n7,Small (1990),Drama\n-3,Neg (1991),\n");
    write_str(d, "ratings.csv", "userId,movieId,rating,timestamp\n1,9000000000,4,2\n1,7,4,1\n1,-3,4,3\n1,8,4,4\n");
    loaded l = load_dir(d, NULL);
    cr_assert_eq(l.rc, 0, "%s", l.err.msg);
    cr_assert_str_eq(seq_str(&l, "1"), "7 9000000000 -3");
    cr_assert_eq(l.st.inter_unknown_item, 1);
    cr_assert_eq(item(&l, "-3")->n_categories, 0);
    unload(&l);
}
