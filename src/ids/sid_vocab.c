#include "ids/sid_vocab.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/mem.h"
#include "ids/sid_set.h"
#include "io/json_util.h"

#define VOCAB_FORMAT "semid-sid-vocab"
#define VOCAB_VERSION 1

int sd_sid_token_name(char *buf, size_t cap, int32_t n) { return snprintf(buf, cap, "<|sid_%d|>", n); }

void sd_sid_vocab_free(sd_sid_vocab *v) {
    free(v->codes);
    sd_sid_trie_free(&v->trie);
    memset(v, 0, sizeof *v);
}

int sd_sid_vocab_init(sd_sid_vocab *v, int levels, int n_levels, const int32_t *K, sd_err *err) {
    memset(v, 0, sizeof *v);
    v->first_id = v->start_id = v->end_id = v->rec_id = -1;
    if (n_levels < 1 || n_levels > SD_SID_MAX_LEVELS || levels < 1 || levels > n_levels)
        return sd_errf(err, SD_ERANGE, "SID vocabulary: %d semantic levels of %d token levels (need 1 <= levels <= "
                       "token levels <= %d)", levels, n_levels, SD_SID_MAX_LEVELS);
    int64_t total = 0;
    for (int l = 0; l < n_levels; l++) {
        if (K[l] < 1 || K[l] > (1 << 30))
            return sd_errf(err, SD_ERANGE, "SID vocabulary: level %d has %d codes (need 1 .. 2^30)", l, K[l]);
        v->K[l] = K[l];
        v->offset[l] = (int32_t)total;
        total += K[l];
        if (total > INT32_MAX / 2) return sd_errf(err, SD_ERANGE, "SID vocabulary: more than 2^30 SID tokens");
    }
    v->offset[n_levels] = (int32_t)total;
    v->levels = levels;
    v->n_levels = n_levels;
    return 0;
}

/* Trie and codes from t, which agrees with v (checked by the callers). */
static int build(sd_sid_vocab *v, const sd_sid_table *t, sd_err *err) {
    int rc = sd_sid_trie_build(&v->trie, t, err);
    if (rc) return rc;
    size_t nc = (size_t)t->n_items * (size_t)t->n_codes;
    v->codes = sd_xmalloc(sizeof(int32_t) * nc);
    memcpy(v->codes, t->codes, sizeof(int32_t) * nc);
    v->n_items = t->n_items;
    /* nodes are numbered breadth first, so depth l + 1 starts at the first child of depth l's
     * first node (every node above the leaves has a child) */
    v->level_begin[0] = 0;
    for (int l = 0; l <= v->n_levels; l++) v->level_begin[l + 1] = v->trie.first_child[v->level_begin[l]];
    v->level_begin[v->n_levels + 1] = v->trie.n_nodes;
    return 0;
}

int sd_sid_vocab_from_table(sd_sid_vocab *v, const sd_sid_table *t, sd_err *err) {
    if (t->n_codes < 1 || t->n_codes > SD_SID_MAX_LEVELS)
        return memset(v, 0, sizeof *v), sd_errf(err, SD_ERANGE, "SID vocabulary: %d codes per item (at most %d)",
                                                t->n_codes, SD_SID_MAX_LEVELS);
    int32_t K[SD_SID_MAX_LEVELS];
    for (int l = 0; l < t->n_codes; l++) K[l] = t->K;
    int rc = sd_sid_vocab_init(v, t->levels, t->n_codes, K, err);
    if (!rc && (rc = build(v, t, err))) sd_sid_vocab_free(v);
    return rc;
}

int sd_sid_vocab_attach(sd_sid_vocab *v, const sd_sid_table *t, const char *where, const char *vocab_path,
                        sd_err *err) {
    const char *vn = vocab_path ? vocab_path : "the SID vocabulary";
    if (t->n_codes != v->n_levels)
        return sd_errf(err, SD_EFORMAT, "%s: %d codes per item, but %s has \"codes_per_item\": %d", where, t->n_codes,
                       vn, v->n_levels);
    if (t->levels != v->levels)
        return sd_errf(err, SD_EFORMAT, "%s: %d semantic levels, but %s has \"levels\": %d", where, t->levels, vn,
                       v->levels);
    /* sids.tsv / sids.bin hold one K: every level of the vocabulary must have it */
    for (int l = 0; l < v->n_levels; l++)
        if (v->K[l] != t->K)
            return sd_errf(err, SD_EFORMAT, "%s: %d codes per level, but %s has %d at level %d (\"codes\"[%d])", where,
                           t->K, vn, v->K[l], l, l);
    if (v->n_items && v->n_items != t->n_items)
        return sd_errf(err, SD_EFORMAT, "%s: %d items, but %s has \"items\": %d", where, t->n_items, vn, v->n_items);
    free(v->codes);
    v->codes = NULL;
    sd_sid_trie_free(&v->trie);
    int rc = build(v, t, err);
    if (rc) sd_err_prefix(err, "%s: ", where);
    return rc;
}

int sd_sid_vocab_write(const sd_sid_vocab *v, const char *path, sd_err *err) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", VOCAB_FORMAT);
    cJSON_AddNumberToObject(j, "version", VOCAB_VERSION);
    cJSON_AddNumberToObject(j, "items", v->n_items);
    cJSON_AddNumberToObject(j, "levels", v->levels);
    cJSON_AddNumberToObject(j, "codes_per_item", v->n_levels);
    cJSON *k = cJSON_AddArrayToObject(j, "codes"), *o = cJSON_AddArrayToObject(j, "offsets");
    for (int l = 0; l < v->n_levels; l++) {
        cJSON_AddItemToArray(k, cJSON_CreateNumber(v->K[l]));
        cJSON_AddItemToArray(o, cJSON_CreateNumber(v->offset[l]));
    }
    cJSON_AddNumberToObject(j, "sid_tokens", v->offset[v->n_levels]);
    cJSON_AddStringToObject(j, "start", SD_SID_TOKEN_START);
    cJSON_AddStringToObject(j, "end", SD_SID_TOKEN_END);
    cJSON_AddStringToObject(j, "rec", SD_SID_TOKEN_REC);
    int rc = sd_json_write_file(path, j, true, err);
    cJSON_Delete(j);
    return rc;
}

/* An int array field of n entries (n = -1: any length up to max, returned in *n). */
static int get_ints(const cJSON *j, const char *key, int32_t *out, int *n, int max, const char *path, sd_err *err) {
    const cJSON *a;
    int rc = sd_json_get_array(j, key, &a, path, err);
    if (rc) return rc;
    int len = cJSON_GetArraySize(a);
    if (len != *n)
        return sd_errf(err, SD_EFORMAT, "%s: \"%s\" has %d entries, expected %d (\"codes_per_item\")", path, key, len, *n);
    if (len > max) return sd_errf(err, SD_EFORMAT, "%s: \"%s\" has %d entries, at most %d", path, key, len, max);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        char what[64];
        snprintf(what, sizeof what, "\"%s\"[%d]", key, i);
        int64_t x;
        if ((rc = sd_json_as_i64(e, &x, path, what, err))) return rc;
        if (x < 0 || x > (1 << 30)) return sd_errf(err, SD_EFORMAT, "%s: %s = %lld is out of range", path, what, (long long)x);
        out[i++] = (int32_t)x;
    }
    return 0;
}

static int want_string(const cJSON *j, const char *key, const char *want, const char *path, sd_err *err) {
    const char *s;
    int rc = sd_json_get_string(j, key, &s, path, err);
    if (!rc && strcmp(s, want))
        rc = sd_errf(err, SD_EFORMAT, "%s: \"%s\" is \"%s\", expected \"%s\"", path, key, s, want);
    return rc;
}

int sd_sid_vocab_read(sd_sid_vocab *v, const char *path, sd_err *err) {
    memset(v, 0, sizeof *v);
    int rc = sd_sid_set_check(path, err);
    if (rc) return rc;
    cJSON *j = NULL;
    if ((rc = sd_json_read_file(path, &j, err))) return rc;
    const char *fmt;
    int version = 0, levels = 0, m = 0, items = 0, total = 0;
    int32_t K[SD_SID_MAX_LEVELS], off[SD_SID_MAX_LEVELS];
    if (!cJSON_IsObject(j)) rc = sd_errf(err, SD_EFORMAT, "%s: not a JSON object", path);
    if (!rc && !(rc = sd_json_get_string(j, "format", &fmt, path, err)) && strcmp(fmt, VOCAB_FORMAT))
        rc = sd_errf(err, SD_EFORMAT, "%s: \"format\" is \"%s\", expected \"%s\"", path, fmt, VOCAB_FORMAT);
    if (!rc && !(rc = sd_json_get_int(j, "version", &version, path, err)) && version != VOCAB_VERSION)
        rc = sd_errf(err, SD_EFORMAT, "%s: \"version\" %d is not supported (expected %d)", path, version, VOCAB_VERSION);
    if (!rc && !(rc = sd_json_get_int(j, "items", &items, path, err)) && items < 1)
        rc = sd_errf(err, SD_EFORMAT, "%s: \"items\" is %d, expected at least 1", path, items);
    if (!rc && !(rc = sd_json_get_int(j, "codes_per_item", &m, path, err)) && (m < 2 || m > SD_SID_MAX_LEVELS))
        rc = sd_errf(err, SD_EFORMAT, "%s: \"codes_per_item\" is %d, expected 2 .. %d", path, m, SD_SID_MAX_LEVELS);
    if (!rc && !(rc = sd_json_get_int(j, "levels", &levels, path, err)) && (levels < 1 || levels >= m))
        rc = sd_errf(err, SD_EFORMAT, "%s: \"levels\" is %d, expected 1 .. %d (below \"codes_per_item\": one "
                     "uniqueness level at least)", path, levels, m - 1);
    if (!rc) rc = get_ints(j, "codes", K, &m, SD_SID_MAX_LEVELS, path, err);
    for (int l = 0; l < m && !rc; l++)
        if (K[l] < 2) rc = sd_errf(err, SD_EFORMAT, "%s: \"codes\"[%d] is %d, expected at least 2", path, l, K[l]);
    if (!rc) rc = get_ints(j, "offsets", off, &m, SD_SID_MAX_LEVELS, path, err);
    if (!rc && (rc = sd_sid_vocab_init(v, levels, m, K, err))) sd_err_prefix(err, "%s: ", path);
    for (int l = 0; l < m && !rc; l++)
        if (off[l] != v->offset[l])
            rc = sd_errf(err, SD_EFORMAT, "%s: \"offsets\"[%d] is %d, but the codes of the levels before it add up to %d",
                         path, l, off[l], v->offset[l]);
    if (!rc && !(rc = sd_json_get_int(j, "sid_tokens", &total, path, err)) && total != v->offset[m])
        rc = sd_errf(err, SD_EFORMAT, "%s: \"sid_tokens\" is %d, but \"codes\" add up to %d", path, total, v->offset[m]);
    if (!rc) rc = want_string(j, "start", SD_SID_TOKEN_START, path, err);
    if (!rc) rc = want_string(j, "end", SD_SID_TOKEN_END, path, err);
    if (!rc) rc = want_string(j, "rec", SD_SID_TOKEN_REC, path, err);
    cJSON_Delete(j);
    if (rc) {
        memset(v, 0, sizeof *v);
        return rc;
    }
    v->n_items = items;
    return 0;
}

char *sd_sid_vocab_path_for(const char *sids_path) {
    size_t n = strlen(sids_path);
    if (n < 8 || (strcmp(sids_path + n - 8, "sids.tsv") && strcmp(sids_path + n - 8, "sids.bin"))) return NULL;
    char *p = sd_xmalloc(n - 8 + sizeof SD_SID_VOCAB_FILE);
    memcpy(p, sids_path, n - 8);
    memcpy(p + n - 8, SD_SID_VOCAB_FILE, sizeof SD_SID_VOCAB_FILE);
    return p;
}

int sd_sid_vocab_open(sd_sid_vocab *v, const char *sids_path, const sd_catalog *cat, sd_err *err) {
    memset(v, 0, sizeof *v);
    char *vp = sd_sid_vocab_path_for(sids_path);
    bool have = vp && sd_exists(vp);
    int rc = have ? sd_sid_vocab_read(v, vp, err) : 0;
    size_t n = strlen(sids_path);
    bool tsv = n >= 4 && !strcmp(sids_path + n - 4, ".tsv");
    sd_sid_table t = {0};
    if (!rc) {
        /* the semantic levels come from the vocabulary (a .tsv does not record them); K is read from
         * the token strings and must then agree with it, so a disagreement is named as one rather
         * than as token strings that do not match their codes */
        rc = tsv ? sd_sid_table_read_tsv(&t, sids_path, cat, 0, have ? v->levels : 0, err)
                 : sd_sid_table_load(&t, sids_path, err);
    }
    if (!rc) rc = have ? sd_sid_vocab_attach(v, &t, sids_path, vp, err) : sd_sid_vocab_from_table(v, &t, err);
    if (rc && have) sd_sid_vocab_free(v);
    sd_sid_table_free(&t);
    free(vp);
    return rc;
}

int sd_sid_vocab_code_of(const sd_sid_vocab *v, int32_t n, int *level, int32_t *code) {
    if (n < 0 || n >= v->offset[v->n_levels]) return -1;
    int lo = 0, hi = v->n_levels - 1; /* the last level whose offset is <= n */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (v->offset[mid] <= n) lo = mid;
        else hi = mid - 1;
    }
    *level = lo;
    *code = n - v->offset[lo];
    return 0;
}

int32_t sd_sid_vocab_max_codes(const sd_sid_vocab *v) {
    int32_t k = 1;
    for (int l = 0; l < v->n_levels; l++) k = v->K[l] > k ? v->K[l] : k;
    return k;
}

int32_t sd_sid_vocab_used(const sd_sid_vocab *v, int l) {
    if (l < 0 || l >= v->n_levels || !v->trie.n_nodes) return 0;
    int32_t mx = -1;
    for (int64_t i = v->level_begin[l + 1]; i < v->level_begin[l + 2]; i++) mx = v->trie.code[i] > mx ? v->trie.code[i] : mx;
    return mx + 1;
}

void sd_sid_vocab_bind(sd_sid_vocab *v, int32_t first_id, int32_t start_id, int32_t end_id, int32_t rec_id) {
    v->first_id = first_id;
    v->start_id = start_id;
    v->end_id = end_id;
    v->rec_id = rec_id;
}

int sd_sid_vocab_item_tokens(const sd_sid_vocab *v, int32_t item, int32_t *ids) {
    if (item < 0 || item >= v->n_items || !v->codes || v->first_id < 0) return -1;
    int m = v->n_levels;
    ids[0] = v->start_id;
    for (int l = 0; l < m; l++) ids[1 + l] = v->first_id + sd_sid_vocab_sid(v, l, v->codes[(int64_t)item * m + l]);
    ids[m + 1] = v->end_id;
    return m + 2;
}

/* Codes of the code-token ids[len] at levels 0.., or -1 if one is not the next level's token. */
static int to_codes(const sd_sid_vocab *v, const int32_t *ids, int len, int32_t *codes) {
    if (v->first_id < 0 || len < 0 || len > v->n_levels) return -1;
    for (int i = 0; i < len; i++) {
        int l;
        if (sd_sid_vocab_code_of(v, ids[i] - v->first_id, &l, &codes[i]) || l != i) return -1;
    }
    return 0;
}

int32_t sd_sid_vocab_tokens_item(const sd_sid_vocab *v, const int32_t *ids, int n) {
    int m = v->n_levels;
    if (n == m + 2 && ids[0] == v->start_id && ids[m + 1] == v->end_id) ids++, n = m;
    int32_t codes[SD_SID_MAX_LEVELS];
    if (n != m || !v->trie.n_nodes || to_codes(v, ids, n, codes)) return -1;
    return sd_sid_trie_item(&v->trie, codes);
}

int sd_sid_vocab_next(const sd_sid_vocab *v, const int32_t *prefix, int len, int32_t *next) {
    int32_t codes[SD_SID_MAX_LEVELS];
    if (!v->trie.n_nodes || to_codes(v, prefix, len, codes)) return -1;
    const int32_t *c;
    int k = sd_sid_trie_next(&v->trie, codes, len, &c);
    if (k < 0) return -1;
    if (len == v->n_levels) {
        next[0] = v->end_id;
        return 1;
    }
    for (int i = 0; i < k; i++) next[i] = v->first_id + sd_sid_vocab_sid(v, len, c[i]);
    return k;
}

char *sd_sid_vocab_item_string(const sd_sid_vocab *v, int32_t item) {
    if (!v->codes || item < 0 || item >= v->n_items) return NULL;
    size_t cap = sizeof SD_SID_TOKEN_START + sizeof SD_SID_TOKEN_END + (size_t)v->n_levels * 24, n = 0;
    char *s = sd_xmalloc(cap);
    n += (size_t)snprintf(s + n, cap - n, "%s", SD_SID_TOKEN_START);
    for (int l = 0; l < v->n_levels; l++)
        n += (size_t)sd_sid_token_name(s + n, cap - n, sd_sid_vocab_sid(v, l, v->codes[(int64_t)item * v->n_levels + l]));
    snprintf(s + n, cap - n, "%s", SD_SID_TOKEN_END);
    return s;
}
