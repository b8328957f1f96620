#include "text/tfidf.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include "base/progress.h"
#include "base/sort.h"
#include "base/strmap.h"

/* ---- tokenizer ---- */

static const char *const STOPWORDS[] = {
    "a", "about", "above", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be",
    "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do",
    "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having",
    "he", "her", "here", "hers", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself",
    "just", "me", "more", "most", "my", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or",
    "other", "our", "ours", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than",
    "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "through", "to", "too",
    "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who",
    "whom", "why", "will", "with", "would", "you", "your", "yours",
};

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

bool sd_is_stopword(const char *token) {
    const char *key = token;
    return bsearch(&key, STOPWORDS, sizeof STOPWORDS / sizeof *STOPWORDS, sizeof *STOPWORDS, cmp_str) != NULL;
}

void sd_tokens_clear(sd_tokens *t) { t->len = t->n = 0; }
void sd_tokens_free(sd_tokens *t) {
    free(t->buf);
    free(t->off);
    memset(t, 0, sizeof *t);
}

static void push_token(sd_tokens *t, const char *s, size_t len) {
    SD_GROW(t->buf, t->cap, t->len + len + 1);
    SD_GROW(t->off, t->cap_off, t->n + 1);
    t->off[t->n++] = t->len;
    memcpy(t->buf + t->len, s, len);
    t->buf[t->len + len] = 0;
    t->len += len + 1;
}

static bool is_word_cp(utf8proc_int32_t cp) {
    utf8proc_category_t c = utf8proc_category(cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) || (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO) ||
           c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_MC;
}

/* Keeps a token unless it is one letter (noise such as the "s" of "Mario's") or a stop word. */
static void emit(sd_tokens *out, const char *s, size_t len, size_t ncp, bool has_digit, bool drop_stop) {
    if (!len || (ncp == 1 && !has_digit)) return;
    size_t start = out->len;
    push_token(out, s, len);
    if (drop_stop && !has_digit && sd_is_stopword(out->buf + start)) {
        out->n--;
        out->len = start;
    }
}

static void tokenize_folded(const uint8_t *s, size_t n, bool drop_stop, sd_tokens *out) {
    size_t i = 0, start = 0, ncp = 0;
    bool in = false, digit = false;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &cp);
        bool word = k > 0 && is_word_cp(cp);
        if (k <= 0) k = 1; /* invalid byte: a separator */
        if (word) {
            if (!in) { in = true; start = i; ncp = 0; digit = false; }
            ncp++;
            if (utf8proc_category(cp) == UTF8PROC_CATEGORY_ND) digit = true;
        } else if (in) {
            emit(out, (const char *)s + start, i - start, ncp, digit, drop_stop);
            in = false;
        }
        i += (size_t)k;
    }
    if (in) emit(out, (const char *)s + start, n - start, ncp, digit, drop_stop);
}

void sd_product_tokenize(const char *text, bool drop_stopwords, sd_tokens *out) {
    if (!text || !*text) return;
    utf8proc_uint8_t *folded = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)text, 0, &folded,
                                      UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT |
                                          UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK);
    if (n >= 0) {
        tokenize_folded(folded, (size_t)n, drop_stopwords, out);
        free(folded);
        return;
    }
    /* invalid UTF-8: fold ASCII by hand; other bytes separate tokens */
    size_t len = strlen(text);
    uint8_t *low = malloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)text[i];
        low[i] = c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c < 128 ? c : ' ';
    }
    tokenize_folded(low, len, drop_stopwords, out);
    free(low);
}

/* ---- document-term counts ---- */

typedef struct builder {
    sd_strmap terms;
    sd_pool *pool;
    const char **term_str; size_t n_terms, cap_terms;
    float *acc; size_t cap_acc;        /* per-document accumulator by term id */
    int32_t *touched; size_t n_touched, cap_touched;
    int64_t *doc_off;
    int32_t *ent_term; float *ent_tf; size_t n_ent, cap_ent, cap_ent_tf;
    sd_tokens tok;
    char *scratch; size_t cap_scratch;
} builder;

static void add_term(builder *b, const char *s, size_t len, float w) {
    int32_t id = sd_strmap_get(&b->terms, s, len);
    if (id < 0) {
        const char *key = sd_pool_strndup(b->pool, s, len);
        id = (int32_t)b->n_terms;
        sd_strmap_put(&b->terms, key, len, id);
        SD_GROW(b->term_str, b->cap_terms, b->n_terms + 1);
        b->term_str[b->n_terms++] = key;
        size_t old = b->cap_acc;
        SD_GROW(b->acc, b->cap_acc, b->n_terms);
        if (b->cap_acc > old) memset(b->acc + old, 0, sizeof(float) * (b->cap_acc - old));
    }
    if (b->acc[id] == 0) {
        SD_GROW(b->touched, b->cap_touched, b->n_touched + 1);
        b->touched[b->n_touched++] = id;
    }
    b->acc[id] += w;
}

static void add_text(builder *b, const char *text, float w, const sd_tfidf_opts *o) {
    if (w <= 0) return;
    sd_tokens_clear(&b->tok);
    sd_product_tokenize(text, o->stopwords, &b->tok);
    for (size_t i = 0; i < b->tok.n; i++) {
        const char *t = sd_token(&b->tok, i);
        add_term(b, t, strlen(t), w);
        if (o->bigrams && i + 1 < b->tok.n) {
            const char *u = sd_token(&b->tok, i + 1);
            size_t lt = strlen(t), lu = strlen(u);
            SD_GROW(b->scratch, b->cap_scratch, lt + lu + 2);
            memcpy(b->scratch, t, lt);
            b->scratch[lt] = ' ';
            memcpy(b->scratch + lt + 1, u, lu);
            add_term(b, b->scratch, lt + lu + 1, w);
        }
    }
}

static void add_attr(builder *b, const sd_kv *kv, const sd_tfidf_opts *o) {
    if (o->attr_weight <= 0) return;
    add_text(b, kv->value, o->attr_weight, o);
    /* "key=value" with the value's tokens (stop words kept) joined by '_' */
    sd_tokens_clear(&b->tok);
    sd_product_tokenize(kv->value, false, &b->tok);
    sd_tokens key = {0};
    sd_product_tokenize(kv->key, false, &key);
    if (b->tok.n && key.n) {
        size_t len = 0;
        for (size_t i = 0; i < key.n; i++) len += strlen(sd_token(&key, i)) + 1;
        for (size_t i = 0; i < b->tok.n; i++) len += strlen(sd_token(&b->tok, i)) + 1;
        SD_GROW(b->scratch, b->cap_scratch, len + 1);
        size_t p = 0;
        for (size_t i = 0; i < key.n; i++) {
            const char *t = sd_token(&key, i);
            size_t l = strlen(t);
            if (i) b->scratch[p++] = '_';
            memcpy(b->scratch + p, t, l); p += l;
        }
        b->scratch[p++] = '=';
        for (size_t i = 0; i < b->tok.n; i++) {
            const char *t = sd_token(&b->tok, i);
            size_t l = strlen(t);
            if (i) b->scratch[p++] = '_';
            memcpy(b->scratch + p, t, l); p += l;
        }
        add_term(b, b->scratch, p, o->attr_weight);
    }
    sd_tokens_free(&key);
}

static void end_doc(builder *b, int32_t item) {
    SD_GROW(b->ent_term, b->cap_ent, b->n_ent + b->n_touched);
    SD_GROW(b->ent_tf, b->cap_ent_tf, b->n_ent + b->n_touched);
    for (size_t i = 0; i < b->n_touched; i++) {
        int32_t id = b->touched[i];
        b->ent_term[b->n_ent] = id;
        b->ent_tf[b->n_ent++] = b->acc[id];
        b->acc[id] = 0;
    }
    b->n_touched = 0;
    b->doc_off[item + 1] = (int64_t)b->n_ent;
}

void sd_tfidf_defaults(sd_tfidf_opts *o) {
    memset(o, 0, sizeof *o);
    o->title_weight = 3;
    o->text_weight = 1;
    o->attr_weight = 1;
    o->min_df = 2;
    o->max_df = 1.0;
    o->max_vocab = 100000;
    o->sublinear_tf = true;
    o->stopwords = true;
}

void sd_tfidf_vocab_free(sd_tfidf_vocab *v) {
    free(v->terms);
    free(v->df);
    free(v->idf);
    sd_pool_free(v->pool);
    memset(v, 0, sizeof *v);
}

/* Terms by document frequency (most first), then by spelling. */
typedef struct df_key { const int32_t *df; const char *const *terms; } df_key;
static int cmp_by_df(const void *a, const void *b, void *ctx) {
    const df_key *k = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (k->df[x] != k->df[y]) return k->df[x] > k->df[y] ? -1 : 1;
    return strcmp(k->terms[x], k->terms[y]);
}

typedef struct colval { int32_t col; float val; } colval;
static int cmp_col(const void *a, const void *b) {
    return ((const colval *)a)->col - ((const colval *)b)->col;
}

int sd_tfidf_build(const sd_catalog *cat, const sd_tfidf_opts *o, sd_csr *out, sd_tfidf_vocab *vocab,
                   int64_t *n_empty, sd_err *err) {
    memset(out, 0, sizeof *out);
    int32_t n = cat->n_items;
    if (n < 1) return sd_errf(err, SD_ERANGE, "tf-idf: the catalogue has no items");
    builder b;
    memset(&b, 0, sizeof b);
    sd_strmap_init(&b.terms, 1 << 16);
    b.pool = sd_pool_new();
    b.doc_off = sd_xcalloc((size_t)n + 1, sizeof(int64_t));
    sd_progress pg;
    sd_progress_start(&pg, "tf-idf", n, "items");
    for (int32_t i = 0; i < n; i++) {
        if ((i & 1023) == 0) sd_progress_set(&pg, i);
        const sd_item *it = &cat->items[i];
        add_text(&b, it->title, o->title_weight, o);
        add_text(&b, it->description, o->text_weight, o);
        const char *const *f = sd_item_features(cat, it);
        for (uint32_t k = 0; k < it->n_features; k++) add_text(&b, f[k], o->text_weight, o);
        const char *const *c = sd_item_categories(cat, it);
        for (uint32_t k = 0; k < it->n_categories; k++) add_text(&b, c[k], o->text_weight, o);
        const sd_kv *kv = sd_item_attrs(cat, it);
        for (uint32_t k = 0; k < it->n_attrs; k++) add_attr(&b, &kv[k], o);
        end_doc(&b, i);
    }
    sd_progress_finish(&pg);
    /* document frequencies (each entry is one (doc, term) pair) */
    size_t nt = b.n_terms;
    int32_t *df = sd_xcalloc(nt ? nt : 1, sizeof(int32_t));
    for (size_t e = 0; e < b.n_ent; e++) df[b.ent_term[e]]++;
    int32_t *cand = sd_xmalloc(sizeof(int32_t) * (nt ? nt : 1));
    size_t nc = 0;
    double max_df = o->max_df > 0 ? o->max_df * n : n;
    for (size_t t = 0; t < nt; t++)
        if (df[t] >= o->min_df && df[t] <= max_df) cand[nc++] = (int32_t)t;
    sd_sort(cand, nc, sizeof *cand, cmp_by_df, &(df_key){.df = df, .terms = (const char *const *)b.term_str});
    if (o->max_vocab > 0 && nc > (size_t)o->max_vocab) nc = (size_t)o->max_vocab;
    int rc = 0;
    if (nc == 0) {
        rc = sd_errf(err, SD_ERANGE, "tf-idf: no term occurs in at least %d items (of %d); lower --min-df", o->min_df, n);
        goto done;
    }
    int32_t *col = sd_xmalloc(sizeof(int32_t) * (nt ? nt : 1));
    for (size_t t = 0; t < nt; t++) col[t] = -1;
    float *idf = sd_xmalloc(sizeof(float) * nc);
    for (size_t j = 0; j < nc; j++) {
        col[cand[j]] = (int32_t)j;
        idf[j] = (float)(log((1.0 + n) / (1.0 + df[cand[j]])) + 1.0);
    }
    out->n_rows = n;
    out->n_cols = (int64_t)nc;
    out->indptr = sd_xcalloc((size_t)n + 1, sizeof(int64_t));
    size_t cap = b.n_ent ? b.n_ent : 1;
    out->indices = sd_xmalloc(sizeof(int32_t) * cap);
    out->values = sd_xmalloc(sizeof(float) * cap);
    colval *row = NULL;
    size_t cap_row = 0;
    int64_t nnz = 0, empty = 0;
    for (int32_t i = 0; i < n; i++) {
        size_t k = 0;
        for (int64_t e = b.doc_off[i]; e < b.doc_off[i + 1]; e++) {
            int32_t c = col[b.ent_term[e]];
            if (c < 0) continue;
            SD_GROW(row, cap_row, k + 1);
            float tf = b.ent_tf[e];
            if (o->sublinear_tf && tf >= 1) tf = 1.0f + logf(tf);
            row[k].col = c;
            row[k++].val = tf * idf[c];
        }
        if (k) qsort(row, k, sizeof *row, cmp_col);
        double ss = 0;
        for (size_t j = 0; j < k; j++) ss += (double)row[j].val * row[j].val;
        float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0;
        for (size_t j = 0; j < k; j++) {
            out->indices[nnz] = row[j].col;
            out->values[nnz++] = row[j].val * inv;
        }
        if (!k) empty++;
        out->indptr[i + 1] = nnz;
    }
    free(row);
    if (n_empty) *n_empty = empty;
    if (vocab) {
        vocab->n_terms = (int32_t)nc;
        vocab->pool = sd_pool_new();
        vocab->terms = sd_xmalloc(sizeof(char *) * nc);
        vocab->df = sd_xmalloc(sizeof(int32_t) * nc);
        vocab->idf = idf;
        idf = NULL;
        for (size_t j = 0; j < nc; j++) {
            vocab->terms[j] = sd_pool_strdup(vocab->pool, b.term_str[cand[j]]);
            vocab->df[j] = df[cand[j]];
        }
    }
    free(idf);
    free(col);
done:
    free(df);
    free(cand);
    sd_strmap_free(&b.terms);
    sd_pool_free(b.pool);
    free(b.term_str); free(b.acc); free(b.touched); free(b.doc_off);
    free(b.ent_term); free(b.ent_tf); free(b.scratch);
    sd_tokens_free(&b.tok);
    return rc;
}
