/* BPE trainer. See bpe_train.h for the algorithm and the tie rule. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/progress.h"
#include "base/rng.h"
#include "text/bpe_train.h"
#include "text/tok_internal.h"

/* ---- word counts: bytes -> count, open addressing over an arena ---- */
typedef struct { uint64_t hash; int64_t count; uint32_t off, len; } wc_slot;
struct sd_word_counts {
    wc_slot *slots; size_t cap, n;
    char *arena; size_t alen, acap;
};

sd_word_counts *sd_word_counts_new(void) {
    sd_word_counts *w = sd_xcalloc(1, sizeof *w);
    w->cap = 1 << 12;
    w->slots = sd_xcalloc(w->cap, sizeof *w->slots);
    return w;
}
void sd_word_counts_free(sd_word_counts *w) {
    if (!w) return;
    free(w->slots); free(w->arena); free(w);
}
size_t sd_word_counts_size(const sd_word_counts *w) { return w->n; }

static void wc_grow(sd_word_counts *w) {
    size_t cap = w->cap * 2;
    wc_slot *s = sd_xcalloc(cap, sizeof *s);
    for (size_t i = 0; i < w->cap; i++) {
        if (!w->slots[i].hash) continue;
        size_t j = w->slots[i].hash & (cap - 1);
        while (s[j].hash) j = (j + 1) & (cap - 1);
        s[j] = w->slots[i];
    }
    free(w->slots);
    w->slots = s; w->cap = cap;
}

static void wc_add(sd_word_counts *w, const char *s, size_t len, uint64_t hash, int64_t count) {
    if ((w->n + 1) * 2 > w->cap) wc_grow(w);
    size_t j = hash & (w->cap - 1);
    for (;; j = (j + 1) & (w->cap - 1)) {
        wc_slot *sl = &w->slots[j];
        if (!sl->hash) break;
        if (sl->hash == hash && sl->len == len && !memcmp(w->arena + sl->off, s, len)) { sl->count += count; return; }
    }
    SD_GROW(w->arena, w->acap, w->alen + len);
    memcpy(w->arena + w->alen, s, len);
    w->slots[j] = (wc_slot){hash, count, (uint32_t)w->alen, (uint32_t)len};
    w->alen += len;
    w->n++;
}

typedef struct { sd_word_counts *w; const char *base; } wc_ctx;
static void wc_word(void *vctx, size_t start, size_t end) {
    wc_ctx *c = vctx;
    const char *s = c->base + start;
    wc_add(c->w, s, end - start, sd_hash_bytes(s, end - start) | 1, 1);
}
static void wc_piece(void *vctx, const char *s, size_t len, int32_t added) {
    if (added >= 0) return; /* special tokens never take part in merges */
    wc_ctx *c = vctx;
    size_t nlen;
    char *norm = sd_utf8_nfc(s, len, &nlen);
    if (norm) { s = norm; len = nlen; }
    c->base = s;
    sd_pretok_split(s, len, wc_word, c);
    free(norm);
}

void sd_word_counts_add_texts(sd_word_counts *w, const char *const *texts, const size_t *lens, size_t n,
                              const char *const *special, size_t n_special, int threads) {
    if (threads <= 0) threads = omp_get_max_threads();
    sd_tokenizer *sp = sd_tok_new(); /* only its added-token trie is used */
    for (size_t i = 0; i < n_special; i++) {
        sd_added_token a = {.content = special[i], .special = true};
        sd_tok_add_tokens(sp, &a, 1, NULL, NULL);
    }
    sd_word_counts **local = sd_xcalloc((size_t)threads, sizeof *local);
#pragma omp parallel num_threads(threads)
    {
        int tid = omp_get_thread_num();
        sd_word_counts *mine = local[tid] = sd_word_counts_new();
        wc_ctx c = {mine, NULL};
#pragma omp for schedule(dynamic, 64)
        for (size_t i = 0; i < n; i++) {
            size_t rlen;
            char *fixed = sd_utf8_repair(texts[i], lens[i], &rlen);
            sd_tok_split_added(sp, &sp->trie_raw, fixed ? fixed : texts[i], fixed ? rlen : lens[i], wc_piece, &c);
            free(fixed);
        }
    }
    for (int k = 0; k < threads; k++) {
        sd_word_counts *m = local[k];
        for (size_t i = 0; i < m->cap; i++) {
            wc_slot *sl = &m->slots[i];
            if (sl->hash) wc_add(w, m->arena + sl->off, sl->len, sl->hash, sl->count);
        }
        sd_word_counts_free(m);
    }
    free(local);
    sd_tok_free(sp);
}

/* ---- merges ---- */
typedef struct { int64_t count; int32_t a, b; int32_t *words; int32_t nw, cw; } pair_t;
typedef struct { int64_t count; int32_t pair; } heap_e;

typedef struct {
    pair_t *pairs; int32_t np, cp;
    uint64_t *keys; int32_t *idx; size_t cap;  /* (a,b) -> pair index */
    heap_e *heap; size_t hn, hcap;
    int32_t *dirty; int32_t nd, cd;
    uint8_t *is_dirty; size_t cap_dirty;
} trainer;

static int32_t pair_get(trainer *tr, int32_t a, int32_t b, bool create) {
    uint64_t key = ((uint64_t)(uint32_t)a + 1) << 32 | (uint32_t)b;
    size_t mask = tr->cap - 1, j = sd_mix64(key) & mask;
    for (;; j = (j + 1) & mask) {
        if (tr->keys[j] == key) return tr->idx[j];
        if (!tr->keys[j]) break;
    }
    if (!create) return -1;
    if ((size_t)(tr->np + 1) * 2 > tr->cap) {
        size_t cap = tr->cap * 2;
        uint64_t *k2 = sd_xcalloc(cap, sizeof *k2);
        int32_t *i2 = sd_xmalloc(cap * sizeof *i2);
        for (size_t i = 0; i < tr->cap; i++) {
            if (!tr->keys[i]) continue;
            size_t q = sd_mix64(tr->keys[i]) & (cap - 1);
            while (k2[q]) q = (q + 1) & (cap - 1);
            k2[q] = tr->keys[i]; i2[q] = tr->idx[i];
        }
        free(tr->keys); free(tr->idx);
        tr->keys = k2; tr->idx = i2; tr->cap = cap;
        mask = cap - 1;
        j = sd_mix64(key) & mask;
        while (tr->keys[j]) j = (j + 1) & mask;
    }
    SD_GROW(tr->pairs, tr->cp, tr->np + 1);
    tr->pairs[tr->np] = (pair_t){0, a, b, NULL, 0, 0};
    tr->keys[j] = key; tr->idx[j] = tr->np;
    return tr->np++;
}

/* Max-heap on count; ties: smaller a, then smaller b. */
static bool heap_before(const trainer *tr, heap_e x, heap_e y) {
    if (x.count != y.count) return x.count > y.count;
    const pair_t *p = &tr->pairs[x.pair], *q = &tr->pairs[y.pair];
    return p->a != q->a ? p->a < q->a : p->b < q->b;
}
static void theap_push(trainer *tr, heap_e e) {
    SD_GROW(tr->heap, tr->hcap, tr->hn + 1);
    size_t i = tr->hn++;
    while (i) { size_t p = (i - 1) / 2; if (!heap_before(tr, e, tr->heap[p])) break; tr->heap[i] = tr->heap[p]; i = p; }
    tr->heap[i] = e;
}
static heap_e theap_pop(trainer *tr) {
    heap_e top = tr->heap[0], v = tr->heap[--tr->hn];
    size_t i = 0, m = tr->hn;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= m) break;
        size_t c = (l + 1 < m && heap_before(tr, tr->heap[l + 1], tr->heap[l])) ? l + 1 : l;
        if (!heap_before(tr, tr->heap[c], v)) break;
        tr->heap[i] = tr->heap[c]; i = c;
    }
    if (m) tr->heap[i] = v;
    return top;
}

static void pair_add(trainer *tr, int32_t a, int32_t b, int64_t delta, int32_t word) {
    int32_t p = pair_get(tr, a, b, delta > 0);
    if (p < 0) return;
    pair_t *pp = &tr->pairs[p];
    pp->count += delta;
    if (delta > 0) {
        if (!pp->nw || pp->words[pp->nw - 1] != word) {
            SD_GROW(pp->words, pp->cw, pp->nw + 1);
            pp->words[pp->nw++] = word;
        }
        if ((size_t)p >= tr->cap_dirty) {
            size_t c = tr->cap_dirty ? tr->cap_dirty : 1024;
            while (c <= (size_t)p) c *= 2;
            tr->is_dirty = sd_xrealloc(tr->is_dirty, c);
            memset(tr->is_dirty + tr->cap_dirty, 0, c - tr->cap_dirty);
            tr->cap_dirty = c;
        }
        if (!tr->is_dirty[p]) {
            tr->is_dirty[p] = 1;
            SD_GROW(tr->dirty, tr->cd, tr->nd + 1);
            tr->dirty[tr->nd++] = p;
        }
    }
}

static char *byte_level(const char *s, size_t len, size_t *out_len) {
    const uint16_t *bc = sd_byte_chars();
    char *o = sd_xmalloc(len * 2 + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += sd_utf8_put(o + n, bc[(unsigned char)s[i]]);
    o[n] = 0;
    *out_len = n;
    return o;
}

int sd_bpe_train_words(sd_tokenizer **out, const sd_word_counts *wc, const sd_bpe_train_opts *o, sd_err *err) {
    *out = NULL;
    int32_t base = (int32_t)o->n_special + 256;
    if (o->vocab_size < base)
        return sd_errf(err, SD_EUSAGE, "vocab size %d is below %d (256 bytes + %zu special tokens)", o->vocab_size, base,
                       o->n_special);
    if (o->vocab_size > SD_TOK_MAX_ID) return sd_errf(err, SD_ERANGE, "vocab size %d is too large", o->vocab_size);
    sd_tokenizer *t = sd_tok_new();
    /* Special tokens are also model vocabulary entries, as Hugging Face's trainer writes them:
     * its loader ignores the ids of added tokens missing from the vocabulary. */
    for (size_t i = 0; i < o->n_special; i++) {
        size_t len = strlen(o->special[i]);
        if (!len || sd_tok_set(t, (int32_t)i, o->special[i], len, TOK_MODEL)) {
            sd_tok_free(t);
            return sd_errf(err, SD_EUSAGE, "special token %zu (\"%s\") is empty or repeated", i, o->special[i]);
        }
        sd_added_token a = {.content = o->special[i], .special = true};
        sd_tok_add_added(t, (int32_t)i, &a);
    }
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        size_t n;
        char *s = byte_level(&c, 1, &n);
        if (sd_tok_set(t, (int32_t)o->n_special + b, s, n, TOK_MODEL)) {
            sd_errf(err, SD_EUSAGE, "a special token collides with the byte symbol \"%s\"", s);
            sd_tok_free(t);
            free(s);
            return SD_EUSAGE;
        }
        free(s);
    }
    /* words as symbol arrays */
    int32_t nw = 0;
    size_t total = 0;
    for (size_t i = 0; i < wc->cap; i++) if (wc->slots[i].hash) { nw++; total += wc->slots[i].len; }
    int32_t *sym = sd_xmalloc((total + 1) * sizeof *sym);
    size_t *woff = sd_xmalloc(((size_t)nw + 1) * sizeof *woff);
    int32_t *wlen = sd_xmalloc(((size_t)nw + 1) * sizeof *wlen);
    int64_t *wcount = sd_xmalloc(((size_t)nw + 1) * sizeof *wcount);
    int32_t *stamp = sd_xmalloc(((size_t)nw + 1) * sizeof *stamp);
    {
        /* Word order (the hash table's, which varies with thread scheduling) cannot change the
         * result: counts are sums and ties are broken by ids. */
        const wc_slot **order = sd_xmalloc(((size_t)nw + 1) * sizeof *order);
        int32_t k = 0;
        for (size_t i = 0; i < wc->cap; i++) if (wc->slots[i].hash) order[k++] = &wc->slots[i];
        size_t o2 = 0;
        for (int32_t w = 0; w < nw; w++) {
            const wc_slot *sl = order[w];
            woff[w] = o2; wlen[w] = (int32_t)sl->len; wcount[w] = sl->count; stamp[w] = -1;
            for (uint32_t q = 0; q < sl->len; q++) sym[o2++] = base - 256 + (unsigned char)wc->arena[sl->off + q];
        }
        free(order);
    }
    trainer tr = {0};
    tr.cap = 1 << 16;
    tr.keys = sd_xcalloc(tr.cap, sizeof *tr.keys);
    tr.idx = sd_xmalloc(tr.cap * sizeof *tr.idx);
    for (int32_t w = 0; w < nw; w++) {
        int32_t *s = sym + woff[w];
        for (int32_t i = 0; i + 1 < wlen[w]; i++) pair_add(&tr, s[i], s[i + 1], wcount[w], w);
    }
    for (int32_t i = 0; i < tr.nd; i++) { tr.is_dirty[tr.dirty[i]] = 0; theap_push(&tr, (heap_e){tr.pairs[tr.dirty[i]].count, tr.dirty[i]}); }
    tr.nd = 0;
    int64_t min_freq = o->min_frequency > 1 ? o->min_frequency : 1;
    sd_progress pg;
    if (o->progress) sd_progress_start(&pg, "merges", o->vocab_size - base, "merges");
    int32_t merges = 0;
    while (sd_tok_vocab_size(t) < o->vocab_size && tr.hn) {
        heap_e e = theap_pop(&tr);
        pair_t *p = &tr.pairs[e.pair];
        if (p->count != e.count) {
            if (p->count > 0) theap_push(&tr, (heap_e){p->count, e.pair});
            continue;
        }
        if (p->count < min_freq) break;
        int32_t a = p->a, b = p->b;
        /* the merged token: reuse its id if an earlier merge already made the same string */
        size_t la = t->str_len[a], lb = t->str_len[b];
        char *cat = sd_xmalloc(la + lb + 1);
        memcpy(cat, t->strs + t->str_off[a], la);
        memcpy(cat + la, t->strs + t->str_off[b], lb);
        int32_t c = sd_tok_lookup(t, cat, la + lb);
        if (c < 0) { c = sd_tok_vocab_size(t); sd_tok_set(t, c, cat, la + lb, TOK_MODEL); }
        free(cat);
        sd_tok_add_merge(t, a, b);
        int32_t *words = p->words, nwords = p->nw;
        p->words = NULL; p->nw = p->cw = 0;
        for (int32_t k = 0; k < nwords; k++) {
            int32_t w = words[k];
            if (stamp[w] == merges) continue;
            stamp[w] = merges;
            int32_t *s = sym + woff[w], n = wlen[w], wr = 0;
            int64_t f = wcount[w];
            for (int32_t r = 0; r < n;) {
                if (r + 1 < n && s[r] == a && s[r + 1] == b) {
                    if (wr > 0) { pair_add(&tr, s[wr - 1], a, -f, w); pair_add(&tr, s[wr - 1], c, f, w); }
                    if (r + 2 < n) { pair_add(&tr, b, s[r + 2], -f, w); pair_add(&tr, c, s[r + 2], f, w); }
                    s[wr++] = c;
                    r += 2;
                } else {
                    s[wr++] = s[r++];
                }
            }
            wlen[w] = wr;
        }
        free(words);
        tr.pairs[e.pair].count = 0;
        for (int32_t i = 0; i < tr.nd; i++) {
            int32_t q = tr.dirty[i];
            tr.is_dirty[q] = 0;
            if (tr.pairs[q].count > 0 && q != e.pair) theap_push(&tr, (heap_e){tr.pairs[q].count, q});
        }
        tr.nd = 0;
        merges++;
        if (o->progress) sd_progress_set(&pg, merges);
    }
    if (o->progress) sd_progress_finish(&pg);
    for (int32_t i = 0; i < tr.np; i++) free(tr.pairs[i].words);
    free(tr.pairs); free(tr.keys); free(tr.idx); free(tr.heap); free(tr.dirty); free(tr.is_dirty);
    free(sym); free(woff); free(wlen); free(wcount); free(stamp);
    sd_tok_finish(t);
    *out = t;
    return 0;
}

int sd_bpe_train_files(sd_tokenizer **out, const char *const *paths, size_t n_paths, const sd_bpe_train_opts *o,
                       sd_err *err) {
    *out = NULL;
    sd_word_counts *wc = sd_word_counts_new();
    int rc = 0;
    for (size_t f = 0; f < n_paths && !rc; f++) {
        char *data; size_t len;
        if ((rc = sd_read_file(paths[f], &data, &len, err))) break;
        size_t n = 0, cap = 0;
        const char **docs = NULL; size_t *lens = NULL, lcap = 0;
        for (size_t i = 0; i < len;) {
            const char *nl = memchr(data + i, '\n', len - i);
            size_t e = nl ? (size_t)(nl - data) + 1 : len; /* the newline belongs to its line */
            SD_GROW(docs, cap, n + 1);
            SD_GROW(lens, lcap, n + 1);
            docs[n] = data + i; lens[n] = e - i; n++;
            i = e;
        }
        double t0 = sd_now();
        sd_word_counts_add_texts(wc, docs, lens, n, o->special, o->n_special, o->threads);
        sd_info("%s: %zu lines, %.1f MB, %zu distinct words so far (%.2f s)", paths[f], n, len / 1e6,
                sd_word_counts_size(wc), sd_now() - t0);
        free(docs); free(lens); free(data);
    }
    if (!rc) rc = sd_bpe_train_words(out, wc, o, err);
    sd_word_counts_free(wc);
    return rc;
}
