#include "ids/sid_table.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/mem.h"
#include "base/sort.h"
#include "ids/sid_set.h"
#include "ids/sid_vocab.h"

#define SID_MAGIC "SDSIDTB"
#define SID_VERSION 1u
#define SID_HEADER 40

int sd_collision_policy_parse(const char *s, sd_collision_policy *p) {
    if (!strcmp(s, "error")) *p = SD_COLLIDE_ERROR;
    else if (!strcmp(s, "extend-level")) *p = SD_COLLIDE_EXTEND;
    else return SD_EUSAGE;
    return 0;
}

void sd_sid_table_free(sd_sid_table *t) {
    free(t->codes);
    memset(t, 0, sizeof *t);
}

/* Items by code prefix (the first width codes), then by popularity (most first, when given). */
typedef struct prefix_key {
    const int32_t *codes;
    int width;
    const int64_t *pop;
} prefix_key;

static int cmp_prefix_pop(const void *a, const void *b, void *ctx) {
    const prefix_key *k = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    const int32_t *p = k->codes + (int64_t)x * k->width, *q = k->codes + (int64_t)y * k->width;
    for (int l = 0; l < k->width; l++)
        if (p[l] != q[l]) return p[l] < q[l] ? -1 : 1;
    if (k->pop && k->pop[x] != k->pop[y]) return k->pop[x] > k->pop[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static void format_codes(char *buf, size_t cap, const int32_t *c, int m) {
    size_t p = 0;
    buf[0] = 0;
    for (int l = 0; l < m && p < cap; l++) p += (size_t)snprintf(buf + p, cap - p, "%s%d", l ? ", " : "(", c[l]);
    if (p < cap) snprintf(buf + p, cap - p, ")");
}

int sd_sid_table_make(const int32_t *sem, int32_t n, int levels, int32_t K, const int64_t *popularity,
                      sd_collision_policy pol, sd_sid_table *t, sd_sid_collisions *st, sd_err *err) {
    memset(t, 0, sizeof *t);
    if (levels < 1 || K < 2 || n < 1) return sd_errf(err, SD_ERANGE, "SID table: need levels >= 1, K >= 2, items >= 1");
    for (int64_t i = 0; i < (int64_t)n * levels; i++)
        if (sem[i] < 0 || sem[i] >= K)
            return sd_errf(err, SD_ERANGE, "SID table: item %lld level %d has code %d outside 0..%d", (long long)(i / levels),
                           (int)(i % levels), sem[i], K - 1);
    int32_t *ord = sd_xmalloc(sizeof(int32_t) * (size_t)n);
    for (int32_t i = 0; i < n; i++) ord[i] = i;
    sd_sort(ord, (size_t)n, sizeof *ord, cmp_prefix_pop, &(prefix_key){.codes = sem, .width = levels, .pop = popularity});
    int32_t *rank = sd_xmalloc(sizeof(int32_t) * (size_t)n);
    sd_sid_collisions s = {0};
    int64_t max_at = 0;
    for (int64_t a = 0; a < n;) {
        int64_t b = a + 1;
        while (b < n && !memcmp(sem + (int64_t)ord[a] * levels, sem + (int64_t)ord[b] * levels, sizeof(int32_t) * levels)) b++;
        for (int64_t i = a; i < b; i++) rank[ord[i]] = (int32_t)(i - a);
        s.n_prefixes++;
        if (b - a == 1) s.n_unique++;
        else s.n_groups++;
        if (b - a > s.max_group) { s.max_group = b - a; max_at = a; }
        a = b;
    }
    int extra = 1;
    for (int64_t cap = K; cap < s.max_group; cap *= K) extra++;
    if (extra > 1 && pol == SD_COLLIDE_ERROR) {
        char codes[256];
        format_codes(codes, sizeof codes, sem + (int64_t)ord[max_at] * levels, levels);
        free(ord); free(rank);
        return sd_errf(err, SD_ERANGE,
                       "%lld items share the codes %s, more than the %d values of one uniqueness code (--codes %d); "
                       "use --max-collision extend-level, --balanced, more --levels or more --codes",
                       (long long)s.max_group, codes, K, K);
    }
    int m = levels + extra;
    t->n_items = n;
    t->levels = levels;
    t->n_codes = m;
    t->K = K;
    t->codes = sd_xmalloc(sd_mul_size(sd_mul_size((size_t)n, (size_t)m), sizeof(int32_t)));
    for (int64_t i = 0; i < n; i++) {
        int32_t *c = t->codes + i * m;
        memcpy(c, sem + i * levels, sizeof(int32_t) * levels);
        int64_t r = rank[i];
        for (int e = extra - 1; e >= 0; e--) { c[levels + e] = (int32_t)(r % K); r /= K; }
    }
    free(ord);
    free(rank);
    if (st) *st = s;
    return 0;
}

void sd_sid_popularity(const sd_work *w, int64_t *counts) {
    memset(counts, 0, sizeof(int64_t) * (size_t)w->cat->n_items);
    const sd_sequences *s = &w->seq;
    for (int32_t u = 0; u < s->n_users; u++) {
        int64_t len = w->split.train_len ? w->split.train_len[u] : sd_seq_len(s, u);
        const int32_t *it = sd_seq_items(s, u);
        for (int64_t k = 0; k < len; k++) counts[it[k]]++;
    }
}

size_t sd_sid_tokens(const sd_sid_table *t, int32_t item, char *buf, size_t cap) {
    size_t p = 0;
    char tmp[32];
#define PUT(str) do { size_t l_ = strlen(str); if (p + l_ < cap) memcpy(buf + p, str, l_); p += l_; } while (0)
    PUT(SD_SID_TOKEN_START);
    for (int l = 0; l < t->n_codes; l++) {
        sd_sid_token_name(tmp, sizeof tmp, sd_sid_token_id(l, t->codes[(int64_t)item * t->n_codes + l], t->K));
        PUT(tmp);
    }
    PUT(SD_SID_TOKEN_END);
#undef PUT
    if (cap) buf[p < cap ? p : cap - 1] = 0;
    return p;
}

int sd_sid_table_validate(const sd_sid_table *t, const char *path, sd_err *err) {
    int m = t->n_codes;
    if (t->n_items < 1 || t->levels < 1 || m <= t->levels || t->K < 2)
        return sd_errf(err, SD_EFORMAT, "%s: bad table sizes (items %d, levels %d, codes per item %d, K %d)", path,
                       t->n_items, t->levels, m, t->K);
    for (int64_t i = 0; i < (int64_t)t->n_items * m; i++)
        if (t->codes[i] < 0 || t->codes[i] >= t->K)
            return sd_errf(err, SD_EFORMAT, "%s: item %lld code %d is %d, outside 0..%d", path, (long long)(i / m),
                           (int)(i % m), t->codes[i], t->K - 1);
    int32_t *ord = sd_xmalloc(sizeof(int32_t) * (size_t)t->n_items);
    for (int32_t i = 0; i < t->n_items; i++) ord[i] = i;
    sd_sort(ord, (size_t)t->n_items, sizeof *ord, cmp_prefix_pop, &(prefix_key){.codes = t->codes, .width = m});
    int rc = 0;
    for (int32_t i = 1; i < t->n_items && !rc; i++)
        if (!memcmp(t->codes + (int64_t)ord[i - 1] * m, t->codes + (int64_t)ord[i] * m, sizeof(int32_t) * m)) {
            char codes[256];
            format_codes(codes, sizeof codes, t->codes + (int64_t)ord[i] * m, m);
            rc = sd_errf(err, SD_EFORMAT, "%s: items %d and %d share the code sequence %s", path, ord[i - 1], ord[i], codes);
        }
    free(ord);
    return rc;
}

static void put_u32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int sd_sid_table_save(const sd_sid_table *t, const char *path, sd_err *err) {
    unsigned char h[SID_HEADER] = {0};
    memcpy(h, SID_MAGIC, 8);
    put_u32(h + 8, SID_VERSION);
    put_u32(h + 12, (uint32_t)t->levels);
    put_u32(h + 16, (uint32_t)t->n_codes);
    put_u32(h + 20, (uint32_t)t->K);
    put_u32(h + 24, (uint32_t)t->n_items);
    put_u32(h + 28, 0);
    uint32_t width = t->K <= 32767 ? 2 : 4;
    put_u32(h + 32, width);
    sd_atomic a;
    int rc = sd_atomic_open(&a, path, err);
    if (rc) return rc;
    bool ok = fwrite(h, 1, SID_HEADER, a.f) == SID_HEADER;
    size_t total = (size_t)t->n_items * t->n_codes;
    unsigned char buf[8192];
    for (size_t i = 0; ok && i < total;) {
        size_t k = 0;
        for (; i < total && k + 4 <= sizeof buf; i++) {
            uint32_t v = (uint32_t)t->codes[i];
            for (uint32_t b = 0; b < width; b++) buf[k++] = (unsigned char)(v >> (8 * b));
        }
        ok = fwrite(buf, 1, k, a.f) == k;
    }
    if (!ok) {
        sd_atomic_abort(&a);
        return sd_errf(err, SD_EIO, "%s: write failed: %s", path, strerror(errno));
    }
    return sd_atomic_commit(&a, err);
}

int sd_sid_table_load(sd_sid_table *t, const char *path, sd_err *err) {
    memset(t, 0, sizeof *t);
    sd_map m;
    int rc = sd_sid_set_check(path, err);
    if (rc) return rc;
    rc = sd_map_open(&m, path, err);
    if (rc) return rc;
    const unsigned char *h = m.data;
    if (m.size < SID_HEADER || memcmp(h, SID_MAGIC, 8)) {
        sd_map_close(&m);
        return sd_errf(err, SD_EFORMAT, "%s: not a semantic-ID table (bad magic)", path);
    }
    if (get_u32(h + 8) != SID_VERSION) {
        uint32_t version = get_u32(h + 8); /* read before the mapping goes */
        sd_map_close(&m);
        return sd_errf(err, SD_EFORMAT, "%s: version %u is not supported (expected %u)", path, version, SID_VERSION);
    }
    uint32_t levels = get_u32(h + 12), nc = get_u32(h + 16), K = get_u32(h + 20), width = get_u32(h + 32);
    uint64_t n = (uint64_t)get_u32(h + 24) | (uint64_t)get_u32(h + 28) << 32;
    if (levels < 1 || levels > 64 || nc <= levels || nc > 128 || K < 2 || K > (1u << 30) || n < 1 || n > INT32_MAX ||
        (width != 2 && width != 4) || (width == 2 && K > 32767)) {
        sd_map_close(&m);
        return sd_errf(err, SD_EFORMAT, "%s: bad header (levels %u, codes per item %u, K %u, items %llu, width %u)", path,
                       levels, nc, K, (unsigned long long)n, width);
    }
    uint64_t want = SID_HEADER + n * nc * width;
    if (m.size != want) {
        sd_map_close(&m);
        return sd_errf(err, SD_EFORMAT, "%s: %zu bytes, expected %llu for %llu items x %u codes", path, m.size,
                       (unsigned long long)want, (unsigned long long)n, nc);
    }
    t->n_items = (int32_t)n;
    t->levels = (int)levels;
    t->n_codes = (int)nc;
    t->K = (int32_t)K;
    t->codes = sd_xmalloc(sizeof(int32_t) * n * nc);
    const unsigned char *p = h + SID_HEADER;
    for (uint64_t i = 0; i < n * nc; i++, p += width)
        t->codes[i] = width == 2 ? (int16_t)(p[0] | p[1] << 8) : (int32_t)get_u32(p);
    sd_map_close(&m);
    rc = sd_sid_table_validate(t, path, err);
    if (rc) sd_sid_table_free(t);
    return rc;
}

int sd_sid_table_write_tsv(const sd_sid_table *t, const sd_catalog *cat, const char *path, sd_err *err) {
    if (cat->n_items != t->n_items)
        return sd_errf(err, SD_ESTATE, "%s: table has %d items but the catalogue %d", path, t->n_items, cat->n_items);
    for (int32_t i = 0; i < t->n_items; i++)
        if (strpbrk(cat->items[i].ext_id, "\t\r\n"))
            return sd_errf(err, SD_EFORMAT, "%s: external id of item %d contains a tab or newline", path, i);
    sd_atomic a;
    int rc = sd_atomic_open(&a, path, err);
    if (rc) return rc;
    fputs("id\text_id", a.f);
    for (int l = 0; l < t->n_codes; l++) fprintf(a.f, "\tc%d", l);
    fputs("\tsid\n", a.f);
    char buf[4096];
    for (int32_t i = 0; i < t->n_items; i++) {
        fprintf(a.f, "%d\t%s", i, cat->items[i].ext_id);
        for (int l = 0; l < t->n_codes; l++) fprintf(a.f, "\t%d", t->codes[(int64_t)i * t->n_codes + l]);
        sd_sid_tokens(t, i, buf, sizeof buf);
        fprintf(a.f, "\t%s\n", buf);
    }
    if (ferror(a.f)) {
        sd_atomic_abort(&a);
        return sd_errf(err, SD_EIO, "%s: write failed", path);
    }
    return sd_atomic_commit(&a, err);
}

/* Splits line at tabs into at most max fields (modifies line); returns the count. */
static int split_tabs(char *line, char **f, int max) {
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p; p++)
        if (*p == '\t') {
            *p = 0;
            if (n == max) return max + 1;
            f[n++] = p + 1;
        }
    return n;
}

static int parse_int(const char *s, long long *v) {
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return !*s || *end || errno ? -1 : 0;
}

int sd_sid_table_read_tsv(sd_sid_table *t, const char *path, const sd_catalog *cat, int32_t K, int levels,
                          sd_err *err) {
    memset(t, 0, sizeof *t);
    sd_lines *lr;
    int rc = sd_sid_set_check(path, err);
    if (rc) return rc;
    rc = sd_lines_open(&lr, path, err);
    if (rc) return rc;
    char *line, *f[140];
    size_t len;
    int m = 0;
    int32_t *codes = NULL;
    size_t cap = 0;
    int64_t n = 0;
    char *want = NULL;
    size_t want_cap = 0;
    rc = sd_lines_next(lr, &line, &len, err);
    if (rc == 0) rc = sd_errf(err, SD_EFORMAT, "%s: empty file", path);
    if (rc < 0) goto done;
    int nf = split_tabs(line, f, 136);
    if (nf < 5 || nf > 135 || strcmp(f[0], "id") || strcmp(f[1], "ext_id") || strcmp(f[nf - 1], "sid")) {
        rc = sd_errf(err, SD_EFORMAT, "%s:1: header must be \"id, ext_id, c0 .. cL, sid\" separated by tabs", path);
        goto done;
    }
    m = nf - 3;
    for (int l = 0; l < m; l++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", l);
        if (strcmp(f[2 + l], name)) { rc = sd_errf(err, SD_EFORMAT, "%s:1: column %d is \"%s\", expected \"%s\"", path, 3 + l, f[2 + l], name); goto done; }
    }
    if (levels <= 0) levels = m - 1;
    if (levels >= m) { rc = sd_errf(err, SD_EUSAGE, "%s: %d semantic levels need more than %d codes per item", path, levels, m); goto done; }
    while ((rc = sd_lines_next(lr, &line, &len, err)) == 1) {
        rc = 0;
        int64_t ln = sd_lines_lineno(lr);
        nf = split_tabs(line, f, m + 3);
        if (nf != m + 3) { rc = sd_errf(err, SD_EFORMAT, "%s:%lld: %d fields, expected %d", path, (long long)ln, nf, m + 3); break; }
        long long v;
        if (parse_int(f[0], &v) || v != n) { rc = sd_errf(err, SD_EFORMAT, "%s:%lld: id \"%s\", expected %lld (rows in internal-id order)", path, (long long)ln, f[0], (long long)n); break; }
        if (cat && (n >= cat->n_items || strcmp(f[1], cat->items[n].ext_id))) {
            rc = n >= cat->n_items ? sd_errf(err, SD_EFORMAT, "%s:%lld: more rows than the %d catalogue items", path, (long long)ln, cat->n_items)
                                   : sd_errf(err, SD_EFORMAT, "%s:%lld: ext_id \"%s\" but item %lld is \"%s\"", path, (long long)ln, f[1], (long long)n, cat->items[n].ext_id);
            break;
        }
        SD_GROW(codes, cap, (size_t)(n + 1) * m);
        for (int l = 0; l < m && !rc; l++) {
            if (parse_int(f[2 + l], &v) || v < 0 || v > INT32_MAX / 2) rc = sd_errf(err, SD_EFORMAT, "%s:%lld: c%d \"%s\" is not a code", path, (long long)ln, l, f[2 + l]);
            codes[n * m + l] = (int32_t)v;
        }
        if (rc) break;
        if (K <= 0) {
            /* no K given (a table without its sid_vocab.json): level 1's token is K + c1 */
            long long t1;
            const char *p = strstr(f[m + 2], "|><|sid_");
            if (!p || sscanf(p + 8, "%lld", &t1) != 1) { rc = sd_errf(err, SD_EFORMAT, "%s:%lld: sid \"%s\" is not a token string", path, (long long)ln, f[m + 2]); break; }
            p = strstr(p + 8, "|><|sid_");
            if (!p || sscanf(p + 8, "%lld", &t1) != 1 || t1 - codes[n * m + 1] < 2) { rc = sd_errf(err, SD_EFORMAT, "%s:%lld: cannot tell K from sid \"%s\"", path, (long long)ln, f[m + 2]); break; }
            K = (int32_t)(t1 - codes[n * m + 1]);
        }
        t->n_items = (int32_t)(n + 1);
        t->levels = levels;
        t->n_codes = m;
        t->K = K;
        t->codes = codes;
        for (int l = 0; l < m && !rc; l++)
            if (codes[n * m + l] >= K) rc = sd_errf(err, SD_EFORMAT, "%s:%lld: c%d = %d is outside 0..%d", path, (long long)ln, l, codes[n * m + l], K - 1);
        if (rc) break;
        size_t need = sd_sid_tokens(t, (int32_t)n, NULL, 0) + 1;
        SD_GROW(want, want_cap, need);
        sd_sid_tokens(t, (int32_t)n, want, want_cap);
        if (strcmp(want, f[m + 2])) { rc = sd_errf(err, SD_EFORMAT, "%s:%lld: sid \"%s\" does not match the codes (expected \"%s\")", path, (long long)ln, f[m + 2], want); break; }
        n++;
    }
    t->codes = NULL;
    if (rc < 0) goto done;
    if (n == 0) { rc = sd_errf(err, SD_EFORMAT, "%s: no rows", path); goto done; }
    if (cat && n != cat->n_items) { rc = sd_errf(err, SD_EFORMAT, "%s: %lld rows, the catalogue has %d items (rerun `semid ids`)", path, (long long)n,
                                  cat->n_items); goto done; }
    t->n_items = (int32_t)n;
    t->levels = levels;
    t->n_codes = m;
    t->K = K;
    t->codes = codes;
    codes = NULL;
    rc = sd_sid_table_validate(t, path, err);
    if (rc) sd_sid_table_free(t);
done:
    if (rc < 0) memset(t, 0, sizeof *t);
    free(codes);
    free(want);
    sd_lines_close(lr);
    return rc < 0 ? rc : 0;
}
