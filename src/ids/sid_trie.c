#include "ids/sid_trie.h"
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/sort.h"

static int cmp_seq(const void *a, const void *b, void *ctx) {
    const sd_sid_table *tab = ctx;
    int m = tab->n_codes;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    const int32_t *p = tab->codes + (int64_t)x * m, *q = tab->codes + (int64_t)y * m;
    for (int l = 0; l < m; l++)
        if (p[l] != q[l]) return p[l] < q[l] ? -1 : 1;
    return x < y ? -1 : x > y;
}

void sd_sid_trie_free(sd_sid_trie *t) {
    free(t->first_child);
    free(t->code);
    free(t->item);
    memset(t, 0, sizeof *t);
}

int sd_sid_trie_build(sd_sid_trie *t, const sd_sid_table *tab, sd_err *err) {
    memset(t, 0, sizeof *t);
    int m = tab->n_codes;
    int64_t n = tab->n_items;
    int32_t *ord = sd_xmalloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) ord[i] = (int32_t)i;
    sd_sort(ord, (size_t)n, sizeof *ord, cmp_seq, (void *)tab);
    /* Nodes of one depth are runs of equal prefixes in the sorted order; walking depth by depth
     * and splitting each run by its next code gives breadth-first numbering. lo[v] is the first
     * sorted position under node v (its end is the next node's lo at the same depth). */
    size_t cap = (size_t)n * m + 1;
    int64_t *lo = sd_xmalloc(sizeof(int64_t) * (cap + 1));
    t->first_child = sd_xmalloc(sizeof(int64_t) * (cap + 1));
    t->code = sd_xmalloc(sizeof(int32_t) * cap);
    t->item = sd_xmalloc(sizeof(int32_t) * cap);
    int64_t nn = 1, level_begin = 0, level_end = 1;
    lo[0] = 0;
    t->code[0] = -1;
    t->item[0] = -1;
    for (int dpt = 0; dpt < m; dpt++) {
        for (int64_t v = level_begin; v < level_end; v++) {
            int64_t a = lo[v], b = v + 1 < level_end ? lo[v + 1] : n;
            t->first_child[v] = nn;
            for (int64_t i = a; i < b;) {
                int32_t c = tab->codes[(int64_t)ord[i] * m + dpt];
                int64_t j = i + 1;
                while (j < b && tab->codes[(int64_t)ord[j] * m + dpt] == c) j++;
                lo[nn] = i;
                t->code[nn] = c;
                t->item[nn] = -1;
                if (dpt == m - 1) {
                    if (j - i > 1) {
                        int rc = sd_errf(err, SD_EFORMAT, "items %d and %d have the same semantic ID (all %d codes)", ord[i], ord[i + 1], m);
                        free(lo); free(ord); sd_sid_trie_free(t);
                        return rc;
                    }
                    t->item[nn] = ord[i];
                }
                nn++;
                i = j;
            }
        }
        level_begin = level_end;
        level_end = nn;
    }
    for (int64_t v = level_begin; v <= nn; v++) t->first_child[v] = nn;
    t->depth = m;
    t->K = tab->K;
    t->n_nodes = nn;
    free(lo);
    free(ord);
    return 0;
}

static int64_t child(const sd_sid_trie *t, int64_t v, int32_t c) {
    int64_t a = t->first_child[v], b = t->first_child[v + 1];
    while (a < b) {
        int64_t mid = a + (b - a) / 2;
        if (t->code[mid] < c) a = mid + 1;
        else b = mid;
    }
    return a < t->first_child[v + 1] && t->code[a] == c ? a : -1;
}

int64_t sd_sid_trie_find(const sd_sid_trie *t, const int32_t *prefix, int len) {
    if (len < 0 || len > t->depth || !t->n_nodes) return -1;
    int64_t v = 0;
    for (int i = 0; i < len && v >= 0; i++) v = child(t, v, prefix[i]);
    return v;
}

int sd_sid_trie_next(const sd_sid_trie *t, const int32_t *prefix, int len, const int32_t **codes) {
    int64_t v = sd_sid_trie_find(t, prefix, len);
    if (v < 0) { *codes = NULL; return -1; }
    *codes = t->code + t->first_child[v];
    return (int)(t->first_child[v + 1] - t->first_child[v]);
}

int sd_sid_trie_next_tokens(const sd_sid_trie *t, const int32_t *prefix, int len, int32_t *tokens) {
    const int32_t *c;
    int k = sd_sid_trie_next(t, prefix, len, &c);
    for (int i = 0; i < k; i++) tokens[i] = sd_sid_token_id(len, c[i], t->K);
    return k;
}

int32_t sd_sid_trie_item(const sd_sid_trie *t, const int32_t *codes) {
    int64_t v = sd_sid_trie_find(t, codes, t->depth);
    return v < 0 ? -1 : t->item[v];
}

int64_t sd_sid_trie_count(const sd_sid_trie *t, int64_t v) {
    if (v < 0 || v >= t->n_nodes) return 0;
    /* the leaves below v are a contiguous id range: follow the first and last child down */
    int64_t a = v, b = v;
    while (t->item[a] < 0 && t->first_child[a] < t->first_child[a + 1]) {
        a = t->first_child[a];
        b = t->first_child[b + 1] - 1;
    }
    return b - a + 1;
}
