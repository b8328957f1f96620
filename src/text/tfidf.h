/* TF-IDF item vectors from catalogue text, the embedding used when no neural model is at hand.
 *
 * Tokenizer for product text (sd_product_tokenize): Unicode case folding, accents stripped and
 * compatibility forms folded (utf8proc NFKC + casefold + stripmark), then tokens are maximal runs
 * of letters and digits, so model names and numbers survive whole ("PS5", "Xbox-360" -> "xbox",
 * "360"; "x360" stays "x360"). Single letters are dropped (single digits kept: "Mario Kart 8").
 * English stop words are dropped on request.
 *
 * Document: title tokens weighted title_weight (3), description, features and categories 1 each,
 * attribute values 1 each plus one "key=value" token per attribute (value tokens joined by '_',
 * e.g. "platform=playstation_5") so structured fields are matched exactly. Optional bigrams of
 * adjacent kept tokens within one field.
 *
 * Weights: tf = summed field weights of a term in the item; with sublinear tf, 1 + ln(tf) (for
 * tf >= 1); idf = ln((1 + N) / (1 + df)) + 1 (smoothed, as scikit-learn); value = tf * idf; rows
 * scaled to unit L2 norm. Vocabulary: terms with min_df <= df <= max_df * N, the max_vocab most
 * frequent kept (ties by term bytes), columns in that order. */
#ifndef SD_TFIDF_H
#define SD_TFIDF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/err.h"
#include "base/mem.h"
#include "data/catalog.h"
#include "text/sparse.h"

/* Tokens appended as NUL-terminated strings into buf; tokens[i] are offsets into buf. */
typedef struct sd_tokens {
    char *buf; size_t len, cap;
    size_t *off; size_t n, cap_off;
} sd_tokens;
static inline const char *sd_token(const sd_tokens *t, size_t i) { return t->buf + t->off[i]; }
void sd_tokens_clear(sd_tokens *t);
void sd_tokens_free(sd_tokens *t);
/* Appends the tokens of text (any bytes; invalid UTF-8 bytes act as separators). */
void sd_product_tokenize(const char *text, bool drop_stopwords, sd_tokens *out);
bool sd_is_stopword(const char *token);

typedef struct sd_tfidf_opts {
    float title_weight, text_weight, attr_weight;  /* 3, 1, 1 */
    int min_df;                                    /* 2 */
    double max_df;                                 /* share of items, 1.0 = no cap */
    int max_vocab;                                 /* 100000 */
    bool bigrams, sublinear_tf, stopwords;         /* false, true, true */
} sd_tfidf_opts;
void sd_tfidf_defaults(sd_tfidf_opts *o);

typedef struct sd_tfidf_vocab {
    int32_t n_terms;
    const char **terms;  /* column -> term (strings in pool) */
    int32_t *df;
    float *idf;
    sd_pool *pool;
} sd_tfidf_vocab;
void sd_tfidf_vocab_free(sd_tfidf_vocab *v);

/* out: [n_items, n_terms] CSR; vocab (may be NULL) describes the columns. An empty vocabulary
 * (no term reaches min_df) is an error. *n_empty (may be NULL) counts items left with no term. */
int sd_tfidf_build(const sd_catalog *cat, const sd_tfidf_opts *o, sd_csr *out, sd_tfidf_vocab *vocab,
                   int64_t *n_empty, sd_err *err);

#endif
