/* MovieLens loader: ml-100k (u.data, u.item), ml-1m / ml-10m (ratings.dat, movies.dat, tags.dat)
 * and the CSV releases ml-latest(-small) / ml-20m / ml-25m / ml-32m (ratings.csv, movies.csv,
 * tags.csv). The variant is told by the files in the folder; each file may be gzip'ed (NAME or
 * NAME.gz).
 *
 * Items: ext_id = movie id, title as MovieLens writes it ("Toy Story (1995)"), categories = the
 * genres, attributes genre (repeated), year (from the title) and release_date (ml-100k), and a
 * description made of the genres and the most frequent tags, so text embedders have more than a
 * title to work with. Interactions: one per rating >= min_rating, time in seconds.
 *
 * Ratings files are the hot path (ml-25m: 25M lines): lines come from sd_lines and are split in
 * place; nothing is allocated per line. */
#define _GNU_SOURCE /* memmem */
#include "data/csv.h"
#include "data/loaders.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/progress.h"
#include "base/rng.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ML_MAX_WARN 5      /* bad lines reported one by one before the summary */
#define ML_MAX_TAGS 10     /* tags per movie in the description */
#define ML_MAX_FIELDS 32
#define ML_MAX_RECORD_LINES 64 /* a quoted CSV field may span lines; a stray quote must not eat the file */

static const char *const ML100K_GENRES[19] = {
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western"};

typedef struct ml_movie {
    const char *ext_id, *title, *release_date; /* in ml.pool; release_date may be NULL */
    int32_t year;                              /* 0 when the title has none */
    uint32_t genre_off, n_genres;              /* into ml.genres */
    uint32_t tag_off, n_tags;                  /* into ml.sel_tags */
} ml_movie;

/* Numeric movie id -> movie index. Ratings look one up per line, in random order: MovieLens ids
 * are small (ml-25m: 62k movies, ids < 210k), so a dense array that stays in L2 is used when the
 * ids allow it, else open addressing on (key, value) slots so a probe touches one cache line. */
typedef struct ml_slot { int64_t key; int32_t val; } ml_slot;
typedef struct ml_idmap {
    ml_slot *slots; size_t cap, n;
    int32_t *dense; int64_t n_dense;   /* dense[id] for 0 <= id < n_dense, built by idmap_densify */
} ml_idmap;

typedef struct ml {
    const sd_prep_opts *o;
    sd_prep_stats *st;
    int warned;
    sd_pool *pool;
    ml_movie *movies; size_t n_movies, cap_movies;
    const char **genres; size_t n_genres, cap_genres;   /* per-movie genre lists (interned names) */
    sd_strmap genre_index;                              /* raw genre bytes -> genre_list index */
    const char **genre_list; size_t n_genre_list, cap_genre_list;
    ml_idmap ids;
    /* tags: (movie << 32 | tag id) pairs while reading, then the chosen tag ids per movie */
    uint64_t *pairs; size_t n_pairs, cap_pairs;
    const char **tag_names; size_t n_tag_names, cap_tag_names;
    sd_strmap tag_index;                                /* normalised raw tag bytes -> tag id */
    int32_t *sel_tags; size_t n_sel_tags, cap_sel_tags;
    /* scratch, reused across lines */
    char *buf; size_t cap_buf;                          /* text conversion */
    char *rec; size_t cap_rec;                          /* CSV record spanning lines */
    char *norm; size_t cap_norm;                        /* normalised tag */
    sd_kv *attrs; size_t cap_attrs;                     /* one item's attributes */
} ml;

/* ---------------------------------------------------------------- id map */

static void idmap_init(ml_idmap *m, size_t expected) {
    size_t cap = 64;
    while (cap < expected * 2) cap *= 2;
    memset(m, 0, sizeof *m);
    m->cap = cap;
    m->slots = sd_xmalloc(cap * sizeof *m->slots);
    for (size_t i = 0; i < cap; i++) m->slots[i].val = -1;
}

static void idmap_free(ml_idmap *m) { free(m->slots); free(m->dense); memset(m, 0, sizeof *m); }

static inline int32_t idmap_get(const ml_idmap *m, int64_t key) {
    if (m->dense) return key >= 0 && key < m->n_dense ? m->dense[key] : -1;
    for (size_t i = sd_mix64((uint64_t)key) & (m->cap - 1); m->slots[i].val >= 0; i = (i + 1) & (m->cap - 1))
        if (m->slots[i].key == key) return m->slots[i].val;
    return -1;
}

/* Inserts key -> val unless present; returns the existing value or -1. Not after idmap_densify. */
static int32_t idmap_put(ml_idmap *m, int64_t key, int32_t val) {
    int32_t old = idmap_get(m, key);
    if (old >= 0) return old;
    if ((m->n + 1) * 2 > m->cap) {
        ml_idmap big;
        idmap_init(&big, m->cap);
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].val >= 0) idmap_put(&big, m->slots[i].key, m->slots[i].val);
        idmap_free(m);
        *m = big;
    }
    size_t i = sd_mix64((uint64_t)key) & (m->cap - 1);
    while (m->slots[i].val >= 0) i = (i + 1) & (m->cap - 1);
    m->slots[i] = (ml_slot){key, val};
    m->n++;
    return -1;
}

/* Switches lookups to a dense array when the ids are non-negative and not too sparse. */
static void idmap_densify(ml_idmap *m) {
    int64_t max = -1;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].val >= 0) {
            if (m->slots[i].key < 0) return;
            if (m->slots[i].key > max) max = m->slots[i].key;
        }
    if (max >= (int64_t)(8 * m->n + 4096)) return;
    m->n_dense = max + 1;
    m->dense = sd_xmalloc((size_t)m->n_dense * sizeof *m->dense);
    for (int64_t i = 0; i < m->n_dense; i++) m->dense[i] = -1;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].val >= 0) m->dense[m->slots[i].key] = m->slots[i].val;
}

/* ---------------------------------------------------------------- field parsing */

static inline void trim(const char **s, size_t *n) {
    while (*n && (**s == ' ' || **s == '\t')) (*s)++, (*n)--;
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t')) (*n)--;
}

static bool parse_i64(const char *s, size_t n, int64_t *out) {
    trim(&s, &n);
    bool neg = n && *s == '-';
    if (neg) s++, n--;
    if (n == 0 || n > 18) return false; /* 18 digits cannot overflow */
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9) return false;
        v = v * 10 + d;
    }
    *out = neg ? -v : v;
    return true;
}

/* Ratings are "4", "3.5" or "4.0"; a hand-rolled parse is several times faster than strtod. */
static bool parse_rating(const char *s, size_t n, double *out) {
    trim(&s, &n);
    size_t i = 0;
    double v = 0, scale = 1;
    bool digits = false;
    for (; i < n && (unsigned)(s[i] - '0') <= 9; i++) v = v * 10 + (s[i] - '0'), digits = true;
    if (i < n && s[i] == '.')
        for (i++; i < n && (unsigned)(s[i] - '0') <= 9; i++) scale *= 0.1, v += (s[i] - '0') * scale, digits = true;
    if (!digits || i != n) return false;
    *out = v;
    return true;
}

/* Splits s (length n, NUL terminated) at every sep (seplen bytes) in place. Returns the number of
 * fields found, which may exceed max (only the first max are stored). */
static int split_sep(char *s, size_t n, const char *sep, size_t seplen, char **f, size_t *fl, int max) {
    int k = 0;
    char *end = s + n;
    for (;;) {
        char *p = seplen == 1 ? memchr(s, sep[0], end - s) : memmem(s, end - s, sep, seplen);
        char *e = p ? p : end;
        if (k < max) { f[k] = s; fl[k] = e - s; *e = 0; }
        k++;
        if (!p) return k;
        s = p + seplen;
    }
}

/* Fields separated by runs of blanks (u.data is tab-separated; spaces are tolerated). */
static int split_ws(char *s, size_t n, char **f, size_t *fl, int max) {
    int k = 0;
    char *end = s + n;
    while (s < end) {
        while (s < end && (*s == ' ' || *s == '\t')) s++;
        if (s == end) break;
        char *e = s;
        while (e < end && *e != ' ' && *e != '\t') e++;
        if (k < max) { f[k] = s; fl[k] = e - s; }
        k++;
        *e = 0; /* e < end or e == end, where the line's NUL already is */
        s = e + (e < end);
    }
    return k;
}

/* Undoes the split between fields a..b (the separator was sep) so a text field that itself
 * contained the separator becomes one field again; later fields move down. Returns the new count. */
static int join_fields(char **f, size_t *fl, int nf, int a, int b, const char *sep, size_t seplen) {
    for (int i = a; i < b; i++) memcpy(f[i] + fl[i], sep, seplen);
    fl[a] = (size_t)(f[b] + fl[b] - f[a]);
    for (int i = b + 1; i < nf; i++) f[a + i - b] = f[i], fl[a + i - b] = fl[i];
    return nf - (b - a);
}

/* RFC 4180 record split in place: comma-separated fields; a field starting with a double quote
 * runs to the closing quote, may contain commas and line breaks, and writes a quote as "".
 * Quotes are removed and "" unescaped in place. Lenient where the RFC is silent: text after a
 * closing quote is kept, a quote inside an unquoted field is literal. Returns the number of
 * fields (may exceed max), or -1 when a quoted field is not closed. */
static int csv_split(char *s, size_t n, char **f, size_t *fl, int max) {
    int k = 0;
    char *p = s, *end = s + n;
    for (;;) {
        char *start = p, *w = p;
        if (p < end && *p == '"') {
            p++;
            for (;;) {
                char *q = memchr(p, '"', end - p);
                if (!q) return -1;
                memmove(w, p, q - p);
                w += q - p;
                p = q + 1;
                if (p < end && *p == '"') { *w++ = '"'; p++; continue; }
                break;
            }
            while (p < end && *p != ',') *w++ = *p++;
        } else {
            char *c = memchr(p, ',', end - p);
            p = c ? c : end;
            w = p;
        }
        if (k < max) { f[k] = start; fl[k] = w - start; }
        k++;
        bool more = p < end; /* p is at a comma or the end */
        *w = 0;
        if (!more) return k;
        p++;
    }
}

/* ---------------------------------------------------------------- text */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid (overlong, surrogate, > U+10FFFF). */
static int utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (!len || c > 0xF4 || (size_t)len > n) return 0;
    for (int i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && s[1] < 0xA0) return 0;
    if (c == 0xED && s[1] >= 0xA0) return 0;
    if (c == 0xF0 && s[1] < 0x90) return 0;
    if (c == 0xF4 && s[1] >= 0x90) return 0;
    return len;
}

static bool utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (u[i] < 0x80) { i++; continue; }
        int l = utf8_seq(u + i, n - i);
        if (!l) return false;
        i += l;
    }
    return true;
}

/* Windows-1252 for 0x80..0x9F: the old MovieLens files are "Latin-1" as written by Windows tools,
 * and cp1252 is what such bytes mean (undefined slots keep their C1 code point, as WHATWG does). */
static const uint16_t CP1252_HI[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

/* Copies text into the pool as UTF-8, trimmed. A field that is valid UTF-8 is kept as is (the CSV
 * releases are UTF-8, and someone may have re-encoded an old release); otherwise it is read as
 * Latin-1/cp1252 (ml-100k u.item, ml-1m movies.dat). Mis-detection needs a Latin-1 title with a
 * byte pair like "Ã©", which real titles do not have. NUL bytes are dropped. */
static const char *ml_text(ml *m, const char *s, size_t n) {
    trim(&s, &n);
    if (utf8_valid(s, n) && !memchr(s, 0, n)) return sd_pool_strndup(m->pool, s, n);
    SD_GROW(m->buf, m->cap_buf, 3 * n + 1);
    char *w = m->buf;
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)s[i];
        if (c == 0) continue;
        if (c < 0x80) { *w++ = (char)c; continue; }
        unsigned cp = c < 0xA0 ? CP1252_HI[c - 0x80] : c;
        if (cp < 0x800) {
            *w++ = (char)(0xC0 | cp >> 6);
        } else {
            *w++ = (char)(0xE0 | cp >> 12);
            *w++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        }
        *w++ = (char)(0x80 | (cp & 0x3F));
    }
    return sd_pool_strndup(m->pool, m->buf, w - m->buf);
}

/* Year from a MovieLens title: the last "(YYYY)" or "(YYYY-YYYY)" / "(YYYY–)" at its end. */
static int32_t title_year(const char *t) {
    size_t n = strlen(t);
    while (n && t[n - 1] == ' ') n--;
    if (n < 6 || t[n - 1] != ')') return 0;
    const char *open = NULL;
    for (size_t i = n - 1; i-- > 0;)
        if (t[i] == '(') { open = t + i; break; }
    if (!open) return 0;
    int y = 0;
    for (int i = 1; i <= 4; i++) {
        unsigned d = (unsigned char)open[i] - '0';
        if (d > 9) return 0;
        y = y * 10 + d;
    }
    char after = open[5];
    if (after != ')' && after != '-' && (unsigned char)after != 0xE2) return 0; /* 0xE2: en dash */
    return y >= 1800 && y <= 2200 ? y : 0;
}

/* ---------------------------------------------------------------- files and bad lines */

/* malloc'd path of dir/name or dir/name.gz, whichever exists, or NULL. */
static char *ml_find(const char *dir, const char *name) {
    char *p = sd_path_join(dir, name);
    if (sd_exists(p)) return p;
    size_t n = strlen(p);
    p = sd_xrealloc(p, n + 4);
    memcpy(p + n, ".gz", 4);
    if (sd_exists(p)) return p;
    free(p);
    return NULL;
}

static void ml_close(ml *m, sd_lines *r) {
    if (!r) return;
    m->st->lines_read += sd_lines_lineno(r);
    m->st->bytes_read += sd_lines_bytes(r);
    sd_lines_close(r);
}

/* A line that cannot be used: an error naming file:line under --strict, else counted, the first
 * few reported, and skipped (returns 0). */
__attribute__((format(printf, 5, 6)))
static int ml_bad(ml *m, sd_lines *r, int64_t line, sd_err *err, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (m->o->strict) return sd_errf(err, SD_EFORMAT, "%s:%lld: %s", sd_lines_path(r), (long long)line, msg);
    m->st->lines_skipped++;
    if (m->warned++ < ML_MAX_WARN) sd_warn("%s:%lld: %s; line skipped", sd_lines_path(r), (long long)line, msg);
    return 0;
}

/* Shows a field in a message: at most 40 bytes. */
#define FIELD_FMT "\"%.*s\""
#define FIELD_ARG(s, n) (int)((n) > 40 ? 40 : (n)), (s)

/* Next CSV record. Lines are split in place; a record whose quoted field spans lines is glued
 * into m->rec first (only when multiline; the ratings file never needs it). *line is the record's
 * first line; *nf is -1 for an unterminated quote. Returns 1, 0 at end, <0 on a read error. */
static int csv_next(ml *m, sd_lines *r, bool multiline, char **f, size_t *fl, int *nf, int64_t *line, sd_err *err) {
    char *s;
    size_t n;
    int rc = sd_lines_next(r, &s, &n, err);
    if (rc <= 0) return rc;
    *line = sd_lines_lineno(r);
    if (multiline && memchr(s, '"', n)) {
        size_t quotes = 0;
        for (size_t i = 0; i < n; i++) quotes += s[i] == '"';
        if (quotes & 1) { /* an open quoted field: it goes on on the next line(s) */
            size_t len = 0;
            for (int lines = 1;; lines++) {
                SD_GROW(m->rec, m->cap_rec, len + n + 2);
                memcpy(m->rec + len, s, n);
                len += n;
                m->rec[len] = 0;
                if (!(quotes & 1) || lines == ML_MAX_RECORD_LINES) break;
                rc = sd_lines_next(r, &s, &n, err);
                if (rc < 0) return rc;
                if (rc == 0) break;
                m->rec[len++] = '\n';
                for (size_t i = 0; i < n; i++) quotes += s[i] == '"';
            }
            s = m->rec;
            n = len;
        }
    }
    *nf = csv_split(s, n, f, fl, ML_MAX_FIELDS);
    return 1;
}

/* Column positions from a CSV header (names compared case-insensitively). A file whose first
 * field is a number has no header: columns are in the documented order. *header says whether
 * the first record was a header (consumed) or data. */
static int csv_columns(sd_lines *r, char **f, size_t *fl, int nf, const char *const *names, int k, int *col,
                       bool *header, sd_err *err) {
    int64_t v;
    if (nf > 0 && parse_i64(f[0], fl[0], &v)) {
        for (int j = 0; j < k; j++) col[j] = j;
        *header = false;
        return 0;
    }
    *header = true;
    for (int j = 0; j < k; j++) {
        col[j] = -1;
        for (int i = 0; i < nf && i < ML_MAX_FIELDS; i++)
            if (strlen(names[j]) == fl[i] && strncasecmp(f[i], names[j], fl[i]) == 0) col[j] = i;
        if (col[j] < 0)
            return sd_errf(err, SD_EFORMAT, "%s:1: header has no \"%s\" column (expected %s,...)", sd_lines_path(r),
                           names[j], names[0]);
    }
    return 0;
}

/* ---------------------------------------------------------------- movies */


/* A line to skip (or fail on under --strict): `if (cond) BAD("...", ...);` inside a read loop
 * with `rc`, `r`, `line` and a `done:` label in scope. */
#define BAD(...)                                         \
    {                                                    \
        rc = ml_bad(m, r, line, err, __VA_ARGS__);       \
        if (rc) goto done;                               \
        continue;                                        \
    }

/* Adds a movie; NULL for an id seen before. Genres follow with add_genre before the next movie. */
static ml_movie *add_movie(ml *m, int64_t id, const char *title, size_t title_len) {
    if (idmap_put(&m->ids, id, (int32_t)m->n_movies) >= 0) return NULL;
    SD_GROW(m->movies, m->cap_movies, m->n_movies + 1);
    ml_movie *mv = &m->movies[m->n_movies++];
    memset(mv, 0, sizeof *mv);
    char idbuf[24];
    snprintf(idbuf, sizeof idbuf, "%lld", (long long)id);
    mv->ext_id = sd_pool_strdup(m->pool, idbuf);
    mv->title = ml_text(m, title, title_len);
    mv->year = title_year(mv->title);
    mv->genre_off = (uint32_t)m->n_genres;
    return mv;
}

static void add_genre(ml *m, ml_movie *mv, const char *s, size_t n) {
    trim(&s, &n);
    if (n == 0 || (n == 18 && memcmp(s, "(no genres listed)", 18) == 0)) return;
    int32_t gi = sd_strmap_get(&m->genre_index, s, n);
    if (gi < 0) {
        gi = (int32_t)m->n_genre_list;
        sd_strmap_put(&m->genre_index, sd_pool_strndup(m->pool, s, n), n, gi);
        SD_GROW(m->genre_list, m->cap_genre_list, m->n_genre_list + 1);
        m->genre_list[m->n_genre_list++] = ml_text(m, s, n);
    }
    const char *name = m->genre_list[gi];
    for (uint32_t i = 0; i < mv->n_genres; i++)
        if (m->genres[mv->genre_off + i] == name) return;
    SD_GROW(m->genres, m->cap_genres, m->n_genres + 1);
    m->genres[m->n_genres++] = name;
    mv->n_genres++;
}

static void add_genre_list(ml *m, ml_movie *mv, const char *s, size_t n) {
    const char *end = s + n;
    for (const char *p = s; p <= end;) {
        const char *q = memchr(p, '|', end - p);
        if (!q) q = end;
        add_genre(m, mv, p, q - p);
        p = q + 1;
    }
}

/* u.item: id|title|release date|video release date|IMDb URL|19 genre flags */
static int read_u_item(ml *m, const char *path, sd_err *err) {
    sd_lines *r;
    int rc = sd_lines_open(&r, path, err);
    if (rc) return rc;
    char *s, *f[ML_MAX_FIELDS];
    size_t n, fl[ML_MAX_FIELDS];
    while ((rc = sd_lines_next(r, &s, &n, err)) > 0) {
        int64_t line = sd_lines_lineno(r), id;
        if (n == 0) continue;
        int nf = split_sep(s, n, "|", 1, f, fl, ML_MAX_FIELDS);
        if (nf != 24) BAD("expected 24 '|'-separated fields (id|title|dates|URL|19 genre flags), got %d", nf);
        if (!parse_i64(f[0], fl[0], &id)) BAD("field 1 (movie id): " FIELD_FMT " %s", FIELD_ARG(f[0], fl[0]),
            sd_int_problem(f[0], fl[0]));
        int g = 0;
        while (g < 19 && fl[5 + g] == 1 && (f[5 + g][0] == '0' || f[5 + g][0] == '1')) g++;
        if (g < 19) BAD("field %d (genre %s): " FIELD_FMT " is not 0 or 1", 6 + g, ML100K_GENRES[g], FIELD_ARG(f[5 + g], fl[5 + g]));
        ml_movie *mv = add_movie(m, id, f[1], fl[1]);
        if (!mv) BAD("field 1 (movie id): duplicate id %lld", (long long)id);
        if (fl[2]) mv->release_date = ml_text(m, f[2], fl[2]);
        for (g = 1; g < 19; g++) /* flag 0, "unknown", means no genre */
            if (f[5 + g][0] == '1') add_genre(m, mv, ML100K_GENRES[g], strlen(ML100K_GENRES[g]));
    }
done:
    ml_close(m, r);
    return rc < 0 ? rc : 0;
}

/* movies.dat: MovieID::Title::Genres (a title holding "::" is rejoined) */
static int read_movies_dat(ml *m, const char *path, sd_err *err) {
    sd_lines *r;
    int rc = sd_lines_open(&r, path, err);
    if (rc) return rc;
    char *s, *f[ML_MAX_FIELDS];
    size_t n, fl[ML_MAX_FIELDS];
    while ((rc = sd_lines_next(r, &s, &n, err)) > 0) {
        int64_t line = sd_lines_lineno(r), id;
        if (n == 0) continue;
        int nf = split_sep(s, n, "::", 2, f, fl, ML_MAX_FIELDS);
        if (nf > ML_MAX_FIELDS) BAD("%d '::'-separated fields, expected 3 (MovieID::Title::Genres)", nf);
        if (nf > 3) nf = join_fields(f, fl, nf, 1, nf - 2, "::", 2);
        if (nf != 3) BAD("expected 3 '::'-separated fields (MovieID::Title::Genres), got %d", nf);
        if (!parse_i64(f[0], fl[0], &id)) BAD("field 1 (MovieID): " FIELD_FMT " %s", FIELD_ARG(f[0], fl[0]),
            sd_int_problem(f[0], fl[0]));
        ml_movie *mv = add_movie(m, id, f[1], fl[1]);
        if (!mv) BAD("field 1 (MovieID): duplicate id %lld", (long long)id);
        add_genre_list(m, mv, f[2], fl[2]);
    }
done:
    ml_close(m, r);
    return rc < 0 ? rc : 0;
}

/* movies.csv: movieId,title,genres with a header line */
static int read_movies_csv(ml *m, const char *path, sd_err *err) {
    static const char *const names[3] = {"movieId", "title", "genres"};
    sd_lines *r;
    int rc = sd_lines_open(&r, path, err);
    if (rc) return rc;
    char *f[ML_MAX_FIELDS];
    size_t fl[ML_MAX_FIELDS];
    int nf, col[3], want = 3;
    int64_t line;
    bool first = true;
    while ((rc = csv_next(m, r, true, f, fl, &nf, &line, err)) > 0) {
        int64_t id;
        if (nf == 1 && fl[0] == 0) continue;
        if (nf < 0) BAD("unterminated quoted field");
        if (first) {
            bool header;
            first = false;
            if ((rc = csv_columns(r, f, fl, nf, names, 3, col, &header, err))) goto done;
            if (header) { want = nf; continue; }
        }
        if (nf != want) BAD("expected %d comma-separated fields (movieId,title,genres), got %d", want, nf);
        const char *idf = f[col[0]];
        size_t idn = fl[col[0]];
        if (!parse_i64(idf, idn, &id)) BAD("field %d (movieId): " FIELD_FMT " %s", col[0] + 1, FIELD_ARG(idf, idn),
            sd_int_problem(idf, idn));
        ml_movie *mv = add_movie(m, id, f[col[1]], fl[col[1]]);
        if (!mv) BAD("field %d (movieId): duplicate id %lld", col[0] + 1, (long long)id);
        add_genre_list(m, mv, f[col[2]], fl[col[2]]);
    }
done:
    ml_close(m, r);
    return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------- tags */

/* Counts one application of a tag to a movie. Tags are compared lowercased with blanks
 * collapsed ("Pixar" and "pixar " are one tag) and shown in that form. */
static void add_tag(ml *m, int32_t movie, const char *s, size_t n) {
    trim(&s, &n);
    SD_GROW(m->norm, m->cap_norm, n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            if (k && m->norm[k - 1] != ' ') m->norm[k++] = ' ';
            continue;
        }
        m->norm[k++] = c >= 'A' && c <= 'Z' ? c + 32 : c;
    }
    if (k == 0) return;
    int32_t t = sd_strmap_get(&m->tag_index, m->norm, k);
    if (t < 0) {
        t = (int32_t)m->n_tag_names;
        sd_strmap_put(&m->tag_index, sd_pool_strndup(m->pool, m->norm, k), k, t);
        SD_GROW(m->tag_names, m->cap_tag_names, m->n_tag_names + 1);
        m->tag_names[m->n_tag_names++] = ml_text(m, m->norm, k);
    }
    SD_GROW(m->pairs, m->cap_pairs, m->n_pairs + 1);
    m->pairs[m->n_pairs++] = (uint64_t)movie << 32 | (uint32_t)t;
}

/* tags.csv: userId,movieId,tag,timestamp; tags.dat: UserID::MovieID::Tag::Timestamp. Tags on
 * movies missing from the movies file are ignored (they are not interactions). */
static int read_tags(ml *m, const char *path, bool csv, sd_err *err) {
    static const char *const names[4] = {"userId", "movieId", "tag", "timestamp"};
    sd_lines *r;
    int rc = sd_lines_open(&r, path, err);
    if (rc) return rc;
    char *s, *f[ML_MAX_FIELDS];
    size_t n, fl[ML_MAX_FIELDS];
    int nf, col[4] = {0, 1, 2, 3}, want = 4;
    int64_t line;
    bool first = csv;
    for (;;) {
        if (csv) {
            rc = csv_next(m, r, true, f, fl, &nf, &line, err);
        } else if ((rc = sd_lines_next(r, &s, &n, err)) > 0) {
            line = sd_lines_lineno(r);
            nf = split_sep(s, n, "::", 2, f, fl, ML_MAX_FIELDS);
            if (nf > 4 && nf <= ML_MAX_FIELDS) nf = join_fields(f, fl, nf, 2, nf - 2, "::", 2);
        }
        if (rc <= 0) break;
        int64_t id;
        if (nf == 1 && fl[0] == 0) continue;
        if (nf < 0) BAD("unterminated quoted field");
        if (first) {
            bool header;
            first = false;
            if ((rc = csv_columns(r, f, fl, nf, names, 4, col, &header, err))) goto done;
            if (header) { want = nf; continue; }
        }
        if (nf != want) BAD("expected %d fields (userId, movieId, tag, timestamp), got %d", want, nf);
        if (!parse_i64(f[col[1]], fl[col[1]], &id))
            BAD("field %d (movieId): " FIELD_FMT " %s", col[1] + 1, FIELD_ARG(f[col[1]], fl[col[1]]),
                sd_int_problem(f[col[1]], fl[col[1]]));
        int32_t mi = idmap_get(&m->ids, id);
        if (mi >= 0) add_tag(m, mi, f[col[2]], fl[col[2]]);
    }
done:
    ml_close(m, r);
    return rc < 0 ? rc : 0;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

typedef struct tag_count { const char *name; int32_t tag, count; } tag_count;

static int cmp_tag_count(const void *pa, const void *pb) {
    const tag_count *a = pa, *b = pb;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* Per movie: the ML_MAX_TAGS most applied tags, most frequent first, ties alphabetical. */
static void select_tags(ml *m) {
    if (m->n_pairs == 0) return; /* a tags file with no usable line: nothing to sort (NULL array) */
    qsort(m->pairs, m->n_pairs, sizeof *m->pairs, cmp_u64);
    tag_count *tc = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < m->n_pairs;) {
        uint32_t movie = (uint32_t)(m->pairs[i] >> 32);
        size_t k = 0;
        while (i < m->n_pairs && (uint32_t)(m->pairs[i] >> 32) == movie) {
            int32_t t = (int32_t)(uint32_t)m->pairs[i];
            int32_t c = 0;
            for (; i < m->n_pairs && m->pairs[i] == ((uint64_t)movie << 32 | (uint32_t)t); i++) c++;
            SD_GROW(tc, cap, k + 1);
            tc[k++] = (tag_count){m->tag_names[t], t, c};
        }
        qsort(tc, k, sizeof *tc, cmp_tag_count);
        if (k > ML_MAX_TAGS) k = ML_MAX_TAGS;
        ml_movie *mv = &m->movies[movie];
        mv->tag_off = (uint32_t)m->n_sel_tags;
        mv->n_tags = (uint32_t)k;
        SD_GROW(m->sel_tags, m->cap_sel_tags, m->n_sel_tags + k);
        for (size_t j = 0; j < k; j++) m->sel_tags[m->n_sel_tags++] = tc[j].tag;
    }
    free(tc);
}

/* ---------------------------------------------------------------- catalogue */

static void buf_put(ml *m, size_t *len, const char *s) {
    size_t n = strlen(s);
    SD_GROW(m->buf, m->cap_buf, *len + n + 1);
    memcpy(m->buf + *len, s, n + 1);
    *len += n;
}

/* "Genres: Adventure, Comedy. Tags: pixar, toys." (either part may be absent) */
static const char *describe(ml *m, const ml_movie *mv) {
    size_t len = 0;
    buf_put(m, &len, "");
    for (uint32_t i = 0; i < mv->n_genres; i++) {
        buf_put(m, &len, i ? ", " : "Genres: ");
        buf_put(m, &len, m->genres[mv->genre_off + i]);
    }
    if (mv->n_genres) buf_put(m, &len, ".");
    for (uint32_t i = 0; i < mv->n_tags; i++) {
        buf_put(m, &len, i ? ", " : mv->n_genres ? " Tags: " : "Tags: ");
        buf_put(m, &len, m->tag_names[m->sel_tags[mv->tag_off + i]]);
    }
    if (mv->n_tags) buf_put(m, &len, ".");
    return m->buf;
}

static int build_catalog(ml *m, sd_catalog **out, sd_err *err) {
    sd_catalog *c = sd_catalog_new();
    for (size_t i = 0; i < m->n_movies; i++) {
        const ml_movie *mv = &m->movies[i];
        SD_GROW(m->attrs, m->cap_attrs, mv->n_genres + 2);
        uint32_t na = 0;
        for (uint32_t g = 0; g < mv->n_genres; g++) m->attrs[na++] = (sd_kv){"genre", m->genres[mv->genre_off + g]};
        char year[16];
        if (mv->year) {
            snprintf(year, sizeof year, "%d", mv->year);
            m->attrs[na++] = (sd_kv){"year", year};
        }
        if (mv->release_date) m->attrs[na++] = (sd_kv){"release_date", mv->release_date};
        sd_item_in in = {mv->ext_id, mv->title, describe(m, mv), NULL, 0,
                         mv->n_genres ? m->genres + mv->genre_off : NULL /* no genre list at all: NULL */, mv->n_genres,
                         m->attrs, na};
        if (sd_catalog_add(c, &in, err) < 0) {
            sd_catalog_free(c);
            return SD_EFORMAT;
        }
    }
    *out = c;
    return 0;
}

/* ---------------------------------------------------------------- ratings */

typedef enum { SPLIT_WS, SPLIT_DCOLON, SPLIT_CSV } ml_split;

/* u.data (blank-separated), ratings.dat (::) or ratings.csv: user, movie, rating, timestamp. */
static int read_ratings(ml *m, const char *path, ml_split mode, const char *movies_path, sd_seqbuilder *b, sd_err *err) {
    static const char *const names[4] = {"userId", "movieId", "rating", "timestamp"};
    sd_lines *r;
    int rc = sd_lines_open(&r, path, err);
    if (rc) return rc;
    const char *movies_name = strrchr(movies_path, '/') ? strrchr(movies_path, '/') + 1 : movies_path;
    char *s, *f[ML_MAX_FIELDS];
    size_t n, fl[ML_MAX_FIELDS];
    int nf, col[4] = {0, 1, 2, 3}, want = 4;
    bool first = mode == SPLIT_CSV;
    double min_rating = m->o->min_rating;
    sd_progress prog;
    sd_progress_start(&prog, "ratings", sd_file_size(path) >> 20, "MB");
    while ((rc = sd_lines_next(r, &s, &n, err)) > 0) {
        int64_t line = sd_lines_lineno(r), user, movie, time;
        double rating;
        if ((line & 0xFFFF) == 0) sd_progress_set(&prog, sd_lines_compressed_pos(r) >> 20);
        if (n == 0) continue;
        nf = mode == SPLIT_WS ? split_ws(s, n, f, fl, ML_MAX_FIELDS)
             : mode == SPLIT_DCOLON ? split_sep(s, n, "::", 2, f, fl, ML_MAX_FIELDS)
                                    : csv_split(s, n, f, fl, ML_MAX_FIELDS);
        if (nf < 0) BAD("unterminated quoted field");
        if (first) {
            bool header;
            first = false;
            if ((rc = csv_columns(r, f, fl, nf, names, 4, col, &header, err))) goto done;
            if (header) { want = nf; continue; }
        }
        if (nf != want) BAD("expected %d fields (user, movie, rating, timestamp), got %d", want, nf);
        const char *uf = f[col[0]];
        size_t un = fl[col[0]];
        if (!parse_i64(uf, un, &user)) BAD("field %d (user id): " FIELD_FMT " %s", col[0] + 1, FIELD_ARG(uf, un),
            sd_int_problem(uf, un));
        if (!parse_i64(f[col[1]], fl[col[1]], &movie))
            BAD("field %d (movie id): " FIELD_FMT " %s", col[1] + 1, FIELD_ARG(f[col[1]], fl[col[1]]),
                sd_int_problem(f[col[1]], fl[col[1]]));
        if (!parse_rating(f[col[2]], fl[col[2]], &rating))
            BAD("field %d (rating): " FIELD_FMT " is not a number", col[2] + 1, FIELD_ARG(f[col[2]], fl[col[2]]));
        if (!parse_i64(f[col[3]], fl[col[3]], &time))
            BAD("field %d (timestamp): " FIELD_FMT " %s", col[3] + 1, FIELD_ARG(f[col[3]], fl[col[3]]),
                sd_int_problem(f[col[3]], fl[col[3]]));
        int32_t item = idmap_get(&m->ids, movie);
        if (item < 0) {
            if (m->o->strict) {
                rc = sd_errf(err, SD_EFORMAT, "%s:%lld: field %d (movie id): movie %lld is not in %s", path,
                             (long long)line, col[1] + 1, (long long)movie, movies_name);
                goto done;
            }
            m->st->inter_unknown_item++;
            continue;
        }
        if (rating < min_rating) continue;
        trim(&uf, &un);
        sd_seqbuilder_add(b, uf, un, item, time);
    }
done:
    sd_progress_finish(&prog);
    ml_close(m, r);
    return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------- entry */

typedef struct ml_variant {
    const char *name, *ratings, *movies, *tags; /* tags: optional file, NULL if the variant has none */
    ml_split split;
} ml_variant;

static const ml_variant VARIANTS[] = {
    {"ml-100k", "u.data", "u.item", NULL, SPLIT_WS},
    {"ml-1m", "ratings.dat", "movies.dat", "tags.dat", SPLIT_DCOLON},
    {"ml-latest", "ratings.csv", "movies.csv", "tags.csv", SPLIT_CSV},
};

static void ml_free(ml *m) {
    if (m->pool) sd_pool_free(m->pool);
    free(m->movies); free(m->genres); free(m->genre_list); free(m->pairs); free(m->tag_names); free(m->sel_tags);
    free(m->buf); free(m->rec); free(m->norm); free(m->attrs);
    sd_strmap_free(&m->genre_index);
    sd_strmap_free(&m->tag_index);
    idmap_free(&m->ids);
}

int sd_load_movielens(const sd_prep_opts *o, sd_catalog **cat, sd_sequences *seq, sd_prep_stats *st, sd_err *err) {
    sd_prep_stats st_local;
    if (!st) st = &st_local;
    memset(st, 0, sizeof *st);
    *cat = NULL;
    memset(seq, 0, sizeof *seq);
    if (!o->dir || !*o->dir) return sd_errf(err, SD_EUSAGE, "MovieLens: --dir (the dataset folder) is required");
    if (!sd_is_dir(o->dir))
        return sd_errf(err, SD_EIO, "%s: %s", o->dir, sd_exists(o->dir) ? "not a directory" : "no such directory");

    const ml_variant *v = NULL;
    char *ratings = NULL, *movies = NULL, *tags = NULL;
    for (size_t i = 0; i < sizeof VARIANTS / sizeof *VARIANTS && !v; i++)
        if ((ratings = ml_find(o->dir, VARIANTS[i].ratings))) v = &VARIANTS[i];
    if (!v)
        return sd_errf(err, SD_EFORMAT, "%s: not a MovieLens folder (none of u.data, ratings.dat, ratings.csv found)",
                       o->dir);
    if (!(movies = ml_find(o->dir, v->movies))) {
        char *want = sd_path_join(o->dir, v->movies);
        sd_errf(err, SD_EIO, "%s: missing (%s needs it)", want, ratings);
        free(want);
        free(ratings);
        return SD_EIO;
    }
    if (v->tags) tags = ml_find(o->dir, v->tags);

    ml m = {.o = o, .st = st, .pool = sd_pool_new()};
    sd_strmap_init(&m.genre_index, 32);
    sd_strmap_init(&m.tag_index, 1024);
    idmap_init(&m.ids, 4096);
    sd_seqbuilder *b = NULL;
    int rc = v->split == SPLIT_WS       ? read_u_item(&m, movies, err)
             : v->split == SPLIT_DCOLON ? read_movies_dat(&m, movies, err)
                                        : read_movies_csv(&m, movies, err);
    if (rc) goto done;
    if (m.n_movies == 0) {
        rc = sd_errf(err, SD_EFORMAT, "%s: no movies", movies);
        goto done;
    }
    idmap_densify(&m.ids);
    if (tags) {
        if ((rc = read_tags(&m, tags, v->split == SPLIT_CSV, err))) goto done;
        select_tags(&m);
    }
    if ((rc = build_catalog(&m, cat, err))) goto done;

    b = sd_seqbuilder_new();
    double t0 = sd_now();
    if ((rc = read_ratings(&m, ratings, v->split, movies, b, err))) goto done;
    double t1 = sd_now();
    int64_t kept = sd_seqbuilder_count(b);
    sd_seq_opts so = sd_prep_seq_opts(o);
    if ((rc = sd_seqbuilder_finish(b, (*cat)->n_items, &so, seq, err))) goto done;
    sd_debug("%s: ratings read in %.2f s, sequences built in %.2f s", ratings, t1 - t0, sd_now() - t1);

    if (st->lines_skipped) sd_warn("%s: %lld bad lines skipped", o->dir, (long long)st->lines_skipped);
    if (st->inter_unknown_item)
        sd_warn("%s: %lld ratings name movies not in %s; skipped", ratings, (long long)st->inter_unknown_item, v->movies);
    sd_info("%s (%s): %d movies, %lld ratings kept, %d users and %lld interactions after filters", o->dir, v->name,
            (*cat)->n_items, (long long)kept, seq->n_users, (long long)seq->n_inter);
done:
    if (rc) {
        sd_catalog_free(*cat);
        *cat = NULL;
        sd_sequences_free(seq);
    }
    sd_seqbuilder_free(b);
    ml_free(&m);
    free(ratings); free(movies); free(tags);
    return rc;
}
