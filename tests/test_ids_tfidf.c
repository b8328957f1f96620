#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include "text/tfidf.h"

static sd_catalog *tiny(void) {
    sd_catalog *c = sd_catalog_new();
    sd_item_in a = {"A", "red apple", NULL, NULL, 0, NULL, 0, NULL, 0};
    sd_item_in b = {"B", "Red car", "", NULL, 0, NULL, 0, NULL, 0};
    sd_item_in cc = {"C", "blue CAR", "The car.", NULL, 0, NULL, 0, NULL, 0};
    cr_assert_eq(sd_catalog_add(c, &a, NULL), 0);
    cr_assert_eq(sd_catalog_add(c, &b, NULL), 1);
    cr_assert_eq(sd_catalog_add(c, &cc, NULL), 2);
    return c;
}

static float value_at(const sd_csr *m, int64_t row, int32_t col) {
    for (int64_t p = m->indptr[row]; p < m->indptr[row + 1]; p++)
        if (m->indices[p] == col) return m->values[p];
    return 0;
}

static int32_t col_of(const sd_tfidf_vocab *v, const char *term) {
    for (int32_t j = 0; j < v->n_terms; j++)
        if (!strcmp(v->terms[j], term)) return j;
    return -1;
}

Test(ids_tfidf, tokenizer_product_text) {
    sd_tokens t = {0};
    sd_product_tokenize("PlayStation-5 PS5 x360 Caf\xc3\xa9, the L\xc3\xa9gende of Zelda's 2 \xef\xbc\xa1\xef\xbc\xa2", true, &t);
    const char *want[] = {"playstation", "5", "ps5", "x360", "cafe", "legende", "zelda", "2", "ab"};
    cr_assert_eq(t.n, sizeof want / sizeof *want, "got %zu tokens", t.n);
    for (size_t i = 0; i < t.n; i++) cr_assert_str_eq(sd_token(&t, i), want[i]);
    sd_tokens_clear(&t);
    /* invalid UTF-8: bytes separate tokens, ASCII still folded */
    sd_product_tokenize("Mario\xff\xfeKART 8", false, &t);
    cr_assert_eq(t.n, 3);
    cr_assert_str_eq(sd_token(&t, 0), "mario");
    cr_assert_str_eq(sd_token(&t, 1), "kart");
    cr_assert_str_eq(sd_token(&t, 2), "8");
    sd_tokens_free(&t);
    cr_assert(sd_is_stopword("the"));
    cr_assert(!sd_is_stopword("zelda"));
}

/* Hand-computed (N = 3, title weight 2, sublinear tf, smoothed idf, unit rows):
 *   idf(red) = idf(car) = ln(4/3) + 1 = 1.287682; idf(apple) = idf(blue) = ln(4/2) + 1 = 1.693147
 *   A: tf red = apple = 2 -> 1 + ln 2 = 1.693147; raw 2.180232, 2.866747; norm 3.601618
 *      -> red 0.605349, apple 0.795962
 *   C: tf car = 2 (title) + 1 (description) = 3 -> 2.098612, raw 2.702356; blue 2.866747;
 *      norm 3.939666 -> car 0.685933, blue 0.727661 ("the" is a stop word)
 * Columns by df desc then term: car, red, apple, blue. Tolerance 1e-5 (float arithmetic). */
Test(ids_tfidf, hand_computed_weights) {
    sd_catalog *c = tiny();
    sd_tfidf_opts o;
    sd_tfidf_defaults(&o);
    o.min_df = 1;
    o.title_weight = 2;
    sd_csr m;
    sd_tfidf_vocab v;
    sd_err err = {0};
    cr_assert_eq(sd_tfidf_build(c, &o, &m, &v, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(m.n_rows, 3);
    cr_assert_eq(m.n_cols, 4);
    cr_assert_str_eq(v.terms[0], "car");
    cr_assert_str_eq(v.terms[1], "red");
    cr_assert_str_eq(v.terms[2], "apple");
    cr_assert_str_eq(v.terms[3], "blue");
    cr_assert_float_eq(v.idf[0], 1.287682f, 1e-5);
    cr_assert_float_eq(v.idf[2], 1.693147f, 1e-5);
    cr_assert_float_eq(value_at(&m, 0, 1), 0.605349f, 1e-5);
    cr_assert_float_eq(value_at(&m, 0, 2), 0.795962f, 1e-5);
    cr_assert_float_eq(value_at(&m, 0, 0), 0.0f, 0);
    cr_assert_float_eq(value_at(&m, 2, 0), 0.685933f, 1e-5);
    cr_assert_float_eq(value_at(&m, 2, 3), 0.727661f, 1e-5);
    /* B: red and car share idf and tf -> both 1/sqrt(2) */
    cr_assert_float_eq(value_at(&m, 1, 0), 0.707107f, 1e-5);
    cr_assert_float_eq(value_at(&m, 1, 1), 0.707107f, 1e-5);
    for (int64_t r = 0; r < 3; r++)
        for (int64_t p = m.indptr[r] + 1; p < m.indptr[r + 1]; p++) cr_assert_lt(m.indices[p - 1], m.indices[p]);
    sd_csr_free(&m);
    sd_tfidf_vocab_free(&v);
    sd_catalog_free(c);
}

Test(ids_tfidf, min_df_max_vocab_and_empty) {
    sd_catalog *c = tiny();
    sd_tfidf_opts o;
    sd_tfidf_defaults(&o);
    o.min_df = 2;
    sd_csr m;
    sd_tfidf_vocab v;
    sd_err err = {0};
    cr_assert_eq(sd_tfidf_build(c, &o, &m, &v, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(m.n_cols, 2); /* car, red */
    cr_assert_float_eq(value_at(&m, 0, col_of(&v, "red")), 1.0f, 1e-6);
    sd_csr_free(&m);
    sd_tfidf_vocab_free(&v);
    o.max_vocab = 1;
    int64_t empty = -1;
    cr_assert_eq(sd_tfidf_build(c, &o, &m, &v, &empty, &err), 0, "%s", err.msg);
    cr_assert_eq(m.n_cols, 1);
    cr_assert_str_eq(v.terms[0], "car");
    cr_assert_eq(empty, 1); /* A has no "car" */
    cr_assert_eq(m.indptr[1] - m.indptr[0], 0);
    sd_csr_free(&m);
    sd_tfidf_vocab_free(&v);
    o.min_df = 4;
    cr_assert_lt(sd_tfidf_build(c, &o, &m, NULL, NULL, &err), 0);
    cr_assert(strstr(err.msg, "min-df"), "%s", err.msg);
    sd_catalog_free(c);
}

Test(ids_tfidf, attributes_and_bigrams) {
    sd_catalog *c = sd_catalog_new();
    for (int i = 0; i < 2; i++) {
        sd_kv at[] = {{"Platform", "PlayStation 5"}};
        const char *feat[] = {"Open world"};
        sd_item_in in = {i ? "y" : "x", "red apple", NULL, feat, 1, NULL, 0, at, 1};
        cr_assert_geq(sd_catalog_add(c, &in, NULL), 0);
    }
    sd_tfidf_opts o;
    sd_tfidf_defaults(&o);
    o.bigrams = true;
    sd_csr m;
    sd_tfidf_vocab v;
    sd_err err = {0};
    cr_assert_eq(sd_tfidf_build(c, &o, &m, &v, NULL, &err), 0, "%s", err.msg);
    cr_assert_geq(col_of(&v, "platform=playstation_5"), 0);
    cr_assert_geq(col_of(&v, "red apple"), 0);
    cr_assert_geq(col_of(&v, "open world"), 0);
    cr_assert_geq(col_of(&v, "playstation"), 0);
    cr_assert_lt(col_of(&v, "apple open"), 0); /* bigrams never cross fields */
    sd_csr_free(&m);
    sd_tfidf_vocab_free(&v);
    sd_catalog_free(c);
}
