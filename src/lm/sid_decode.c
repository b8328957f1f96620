/* Constrained decoding over the SID trie: the generation mask and beam search (lm/sid_decode.h). */
#include "lm/sid_decode.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/mem.h"
#include "lm/kv_cache.h"
#include "nn/vmath.h"

/* ---- the mask ---- */

static bool is_code(const sd_sid_vocab *v, int32_t t) {
    return t >= v->first_id && t < v->first_id + v->offset[v->n_levels];
}

int sd_sid_open_prefix(const sd_sid_vocab *v, const int32_t *toks, int n, const int32_t **codes) {
    for (int i = n - 1; i >= 0; i--) {
        if (toks[i] == v->start_id) {
            *codes = toks + i + 1;
            return n - 1 - i;
        }
        if (!is_code(v, toks[i])) return -1; /* <|sid_end|> or text: not inside an SID */
    }
    return -1;
}

int sd_sid_mask_init(sd_sid_mask *mk, const sd_sid_vocab *v, sd_err *err) {
    memset(mk, 0, sizeof *mk);
    if (v->first_id < 0 || v->start_id < 0 || v->end_id < 0)
        return sd_errf(err, SD_EUSAGE, "constrained decoding: the semantic-ID vocabulary is not bound to token ids");
    if (!v->trie.n_nodes) return sd_errf(err, SD_EUSAGE, "constrained decoding: the semantic-ID vocabulary has no items");
    mk->v = v;
    mk->next = sd_xmalloc(sizeof(int32_t) * ((size_t)sd_sid_vocab_max_codes(v) + 1));
    return 0;
}

void sd_sid_mask_free(sd_sid_mask *mk) {
    free(mk->next);
    memset(mk, 0, sizeof *mk);
}

/* Keeps only logits[keep[0..n)], the rest -inf. */
static void keep_only(float *logits, int V, const int32_t *keep, int n, float *saved) {
    for (int i = 0; i < n; i++) saved[i] = keep[i] >= 0 && keep[i] < V ? logits[keep[i]] : -INFINITY;
    for (int t = 0; t < V; t++) logits[t] = -INFINITY;
    for (int i = 0; i < n; i++)
        if (keep[i] >= 0 && keep[i] < V) logits[keep[i]] = saved[i];
}

/* Distinct items named in generated (closed <|sid_start|> codes <|sid_end|> runs) whose first
 * len codes are prefix. */
static int named_under(const sd_sid_vocab *v, const int32_t *generated, int n, const int32_t *prefix, int len) {
    int NL = v->n_levels, m = 0;
    for (int i = 0; i + NL + 1 < n; i++) {
        if (generated[i] != v->start_id || generated[i + NL + 1] != v->end_id ||
            memcmp(generated + i + 1, prefix, sizeof(int32_t) * (size_t)len))
            continue;
        bool again = false; /* unconstrained text may name an item twice */
        for (int j = 0; j < i && !again; j++)
            again = generated[j] == v->start_id && !memcmp(generated + j + 1, generated + i + 1, sizeof(int32_t) * (size_t)NL);
        m += !again;
    }
    return m;
}

/* Items under the code tokens prefix[len], counted up to limit (the walk stops there). */
static int items_under(const sd_sid_vocab *v, int32_t *prefix, int len, int limit) {
    if (len >= v->n_levels) return 1;
    int32_t next[sd_sid_vocab_max_codes(v) + 1];
    int k = sd_sid_vocab_next(v, prefix, len, next), c = 0;
    for (int j = 0; j < k && c < limit; j++) {
        prefix[len] = next[j];
        c += items_under(v, prefix, len + 1, limit - c);
    }
    return c;
}

/* Removes from next[0..k) the codes under which every item was named earlier in generated, so
 * a reply that wants to repeat itself turns to an item it has not named, at whatever level the
 * choice is (an item alone under its prefix is refused before its last code). codes [len <
 * n_levels]: the open prefix. Returns the new count. */
static int drop_named(const sd_sid_vocab *v, const int32_t *generated, int n, const int32_t *codes, int len,
                      int32_t *next, int k) {
    int kept = 0;
    int32_t p[SD_SID_MAX_LEVELS + 1];
    memcpy(p, codes, sizeof(int32_t) * (size_t)len);
    for (int j = 0; j < k; j++) {
        p[len] = next[j];
        int m = named_under(v, generated, n, p, len + 1);
        if (m > 0 && items_under(v, p, len + 1, m + 1) <= m) continue;
        next[kept++] = next[j];
    }
    return kept;
}

void sd_sid_mask_apply(void *ctx, int seq, const int32_t *generated, int n, float *logits, int V) {
    sd_sid_mask *mk = ctx;
    const sd_sid_vocab *v = mk->v;
    if (mk->begin_sid && n == 0 && !(mk->open && mk->open[seq])) {
        keep_only(logits, V, &v->start_id, 1, (float[1]){0});
        return;
    }
    const int32_t *codes = NULL;
    int len = sd_sid_open_prefix(v, generated, n, &codes);
    if (len < 0 && mk->open && mk->open[seq]) {
        /* the prompt opened an SID: inside it while every generated token is a code */
        int i = 0;
        while (i < n && is_code(v, generated[i])) i++;
        if (i == n) len = n, codes = generated;
    }
    if (len < 0) { /* free text: an SID can only begin with <|sid_start|> */
        int32_t hi = v->first_id + v->offset[v->n_levels];
        for (int32_t t = v->first_id; t < hi && t < V; t++) logits[t] = -INFINITY;
        if (v->end_id < V) logits[v->end_id] = -INFINITY;
        return;
    }
    int k = len <= v->n_levels ? sd_sid_vocab_next(v, codes, len, mk->next) : -1;
    if (k <= 0) { /* cannot happen under the mask; a hand-made prompt may hold a bad prefix */
        for (int t = 0; t < V; t++) logits[t] = -INFINITY;
        return;
    }
    if (mk->distinct && len < v->n_levels) k = drop_named(v, generated, n, codes, len, mk->next, k);
    if (k <= 0) { /* every leaf left is an item this reply already named */
        for (int t = 0; t < V; t++) logits[t] = -INFINITY;
        return;
    }
    float saved[k];
    keep_only(logits, V, mk->next, k, saved);
}

/* ---- beam search ---- */

void sd_sid_beam_cfg_default(sd_sid_beam_cfg *c) {
    memset(c, 0, sizeof *c);
    c->width = 20;
    c->k = 10;
    c->append_start = true;
}

void sd_sid_beam_out_free(sd_sid_beam_out *o) {
    free(o->items);
    free(o->scores);
    free(o->n);
    memset(o, 0, sizeof *o);
}

/* log-sum-exp of a row of logits (vectorised exp; the few terms near the max dominate the sum) */
static double row_lse(const float *x, int V) {
    float mx = sd_max_array(x, V);
    return (double)mx + log((double)sd_sum_exp_shift(x, mx, V));
}

typedef struct cand {
    double score;
    int32_t parent; /* beam index in the previous level */
    int32_t tok;
} cand;

static int cand_cmp(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->parent != y->parent) return x->parent < y->parent ? -1 : 1;
    return (x->tok > y->tok) - (x->tok < y->tok);
}

static int i32_cmp(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Whether the prefix codes[0 .. len) (len = n_levels - 1 token ids) has a leaf item outside excl.
 * leaf: scratch of sd_sid_vocab_max_codes entries. */
static bool has_allowed_leaf(const sd_sid_vocab *v, int32_t *codes, int len, const int32_t *excl, int n_ex,
                             int32_t *leaf) {
    int k = sd_sid_vocab_next(v, codes, len, leaf);
    for (int i = 0; i < k; i++) {
        codes[len] = leaf[i];
        int32_t item = sd_sid_vocab_tokens_item(v, codes, len + 1);
        if (item >= 0 && !bsearch(&item, excl, (size_t)n_ex, sizeof(int32_t), i32_cmp)) return true;
    }
    return false;
}

/* Copies positions [p0, p0 + n) of slot s of cache a to slot d of cache b at positions [q0, q0 + n)
 * in every layer and kv head; b->len[d] becomes q0 + n. */
static void kv_copy(sd_kv_cache *b, int d, int q0, const sd_kv_cache *a, int s, int p0, int n) {
    if (n <= 0) { b->len[d] = q0; return; }
    size_t hd = (size_t)a->hd;
    for (int l = 0; l < a->L; l++)
        for (int g = 0; g < a->KV; g++) {
            size_t sa = (((size_t)l * a->B + s) * a->KV + g) * a->cap, sb = (((size_t)l * b->B + d) * b->KV + g) * b->cap;
            memcpy(b->k + (sb + q0) * hd, a->k + (sa + p0) * hd, sizeof(float) * hd * n);
            memcpy(b->v + (sb + q0) * hd, a->v + (sa + p0) * hd, sizeof(float) * hd * n);
        }
    b->len[d] = q0 + n;
}

/* One user's beams at the current level. */
typedef struct ubeams {
    int nb;
    double *score;     /* [W] */
    int32_t *toks;     /* [W, n_levels]: code token ids chosen so far */
    int32_t *parent;   /* [W]: the beam of the previous level each one continues (its cache slot) */
    int prompt_len;    /* positions of the prompt in the cache (start token included) */
} ubeams;

/* The prompts of users [u0, u0 + U) through the cache in chunks of at most `chunk` tokens; the
 * logits after each user's last token into logits [U, V]. User u's prompt goes to slot u * W. */
static int prefill(sd_qwen3 *m, sd_kv_cache *kv, const int32_t *const *prompts, const int *lens, int u0, int U,
                   int W, int32_t start_id, bool append, float *logits, long *fed, sd_err *err) {
    const int chunk = 2048;
    int32_t *ids = sd_xmalloc(sizeof(int32_t) * chunk), *seq = sd_xmalloc(sizeof(int32_t) * chunk);
    int32_t *rows = sd_xmalloc(sizeof(int32_t) * (size_t)U), *who = sd_xmalloc(sizeof(int32_t) * (size_t)U);
    int V = m->cfg.vocab_size, rc = 0, n = 0, nr = 0;
    float *tmp = sd_afloats((size_t)U * V);
    for (int u = 0; u < U && !rc; u++) {
        int len = lens[u0 + u] + (append ? 1 : 0);
        for (int i = 0; i < len && !rc; i++) {
            ids[n] = i < lens[u0 + u] ? prompts[u0 + u][i] : start_id;
            seq[n] = u * W;
            if (i == len - 1) rows[nr] = n, who[nr] = u, nr++;
            n++;
            bool last = u == U - 1 && i == len - 1;
            if (n == chunk || last) {
                rc = sd_qwen3_step(m, kv, n, ids, seq, nr, rows, tmp, NULL, err);
                *fed += n;
                for (int r = 0; r < nr && !rc; r++)
                    memcpy(logits + (size_t)who[r] * V, tmp + (size_t)r * V, sizeof(float) * V);
                n = nr = 0;
            }
        }
    }
    sd_afree(tmp);
    free(ids); free(seq); free(rows); free(who);
    return rc;
}

/* Moves the best min(nc, W) candidates, in order, to the front of c: insertion into a sorted run
 * of W (most candidates lose against its last entry at once, so this is ~ one compare each). */
static int top_w(cand *c, int nc, int W) {
    int n = 0;
    for (int i = 0; i < nc; i++) {
        if (n == W && cand_cmp(&c[i], &c[W - 1]) >= 0) continue;
        cand x = c[i];
        int j = n < W ? n++ : W - 1;
        while (j > 0 && cand_cmp(&x, &c[j - 1]) < 0) { c[j] = c[j - 1]; j--; }
        c[j] = x;
    }
    return n;
}

/* Picks the W best candidates of one user into b (codes taken from the parents in prev). */
static void select_beams(cand *c, int nc, int W, int level, int nl, const ubeams *prev, ubeams *b) {
    b->nb = top_w(c, nc, W);
    for (int j = 0; j < b->nb; j++) {
        b->score[j] = c[j].score;
        b->parent[j] = c[j].parent;
        if (level > 0) memcpy(b->toks + (size_t)j * nl, prev->toks + (size_t)c[j].parent * nl, sizeof(int32_t) * level);
        b->toks[(size_t)j * nl + level] = c[j].tok;
    }
}

static int beam_batch(sd_qwen3 *m, const sd_sid_vocab *v, const int32_t *const *prompts, const int *lens, int u0,
                      int U, const int32_t *const *exclude, const int *n_exclude, const sd_sid_beam_cfg *cfg,
                      sd_sid_beam_out *out, sd_err *err) {
    const int W = cfg->width, nl = v->n_levels, V = m->cfg.vocab_size;
    int maxlen = 0;
    for (int u = 0; u < U; u++) maxlen = lens[u0 + u] > maxlen ? lens[u0 + u] : maxlen;
    int cap = maxlen + (cfg->append_start ? 1 : 0) + nl + 1;
    sd_kv_cache kv, tmpkv;
    int rc = sd_kv_cache_init(&kv, &m->cfg, U * W, cap, err);
    if (rc) return rc;
    if ((rc = sd_kv_cache_init(&tmpkv, &m->cfg, U * W, nl + 1, err))) { sd_kv_cache_free(&kv); return rc; }
    float *logits = sd_afloats((size_t)U * W * V);
    int32_t maxc = sd_sid_vocab_max_codes(v) + 1;
    /* per-user scratch, so users expand in parallel */
    int32_t *next_all = sd_xmalloc(sizeof(int32_t) * (size_t)U * maxc), *leaf_all = sd_xmalloc(sizeof(int32_t) * (size_t)U * maxc);
    cand *c_all = sd_xmalloc(sizeof(cand) * (size_t)U * W * maxc);
    ubeams *cur = sd_xcalloc((size_t)U, sizeof *cur), *nxt = sd_xcalloc((size_t)U, sizeof *nxt);
    for (int u = 0; u < U; u++) {
        cur[u].score = sd_xmalloc(sizeof(double) * W); nxt[u].score = sd_xmalloc(sizeof(double) * W);
        cur[u].toks = sd_xmalloc(sizeof(int32_t) * (size_t)W * nl); nxt[u].toks = sd_xmalloc(sizeof(int32_t) * (size_t)W * nl);
        cur[u].parent = sd_xmalloc(sizeof(int32_t) * W); nxt[u].parent = sd_xmalloc(sizeof(int32_t) * W);
        cur[u].prompt_len = nxt[u].prompt_len = lens[u0 + u] + (cfg->append_start ? 1 : 0);
    }
    int32_t *ids = sd_xmalloc(sizeof(int32_t) * (size_t)U * W), *seq = sd_xmalloc(sizeof(int32_t) * (size_t)U * W);
    int32_t *rows = sd_xmalloc(sizeof(int32_t) * (size_t)U * W);
    /* each user's exclusions, sorted for bsearch at the leaves */
    int32_t **excl = sd_xcalloc((size_t)U, sizeof *excl);
    int *n_ex = sd_xcalloc((size_t)U, sizeof(int));
    for (int u = 0; u < U; u++) {
        n_ex[u] = exclude && exclude[u0 + u] && n_exclude ? n_exclude[u0 + u] : 0;
        excl[u] = sd_xmalloc(sizeof(int32_t) * (size_t)(n_ex[u] + 1));
        if (n_ex[u]) memcpy(excl[u], exclude[u0 + u], sizeof(int32_t) * n_ex[u]);
        qsort(excl[u], (size_t)n_ex[u], sizeof(int32_t), i32_cmp);
    }
    rc = prefill(m, &kv, prompts, lens, u0, U, W, v->start_id, cfg->append_start, logits, &out->tokens_fed, err);
    for (int level = 0; level < nl && !rc; level++) {
        double t0 = sd_now();
        /* expand: every beam's trie children, scored by the beam plus the child's log-probability */
#pragma omp parallel for schedule(dynamic, 1)
        for (int u = 0; u < U; u++) {
            int32_t *next = next_all + (size_t)u * maxc, *leaf = leaf_all + (size_t)u * maxc;
            cand *c = c_all + (size_t)u * W * maxc;
            int nc = 0, nparents = level ? cur[u].nb : 1;
            for (int j = 0; j < nparents; j++) {
                const float *lg = logits + (size_t)(level ? u * W + j : u) * V;
                /* level 0: the rows hold one per user; later: one per beam slot */
                if (level) lg = logits + (size_t)rows[u * W + j] * V;
                const int32_t *pref = level ? cur[u].toks + (size_t)j * nl : NULL;
                int k = sd_sid_vocab_next(v, pref, level, next);
                if (k <= 0) continue;
                double lse = row_lse(lg, V), base = level ? cur[u].score[j] : 0.0;
                for (int i = 0; i < k; i++) {
                    if (level >= nl - 2 && n_ex[u]) {
                        int32_t codes[SD_SID_MAX_LEVELS];
                        if (level) memcpy(codes, pref, sizeof(int32_t) * level);
                        codes[level] = next[i];
                        if (level == nl - 1) { /* a leaf: an excluded item is no candidate */
                            int32_t item = sd_sid_vocab_tokens_item(v, codes, nl);
                            if (bsearch(&item, excl[u], (size_t)n_ex[u], sizeof(int32_t), i32_cmp)) continue;
                        } else if (!has_allowed_leaf(v, codes, level + 1, excl[u], n_ex[u], leaf)) {
                            /* one level above the leaves, a prefix whose every item is excluded
                             * would take a beam and yield nothing */
                            continue;
                        }
                    }
                    c[nc++] = (cand){.score = base + (lg[next[i]] - lse), .parent = j, .tok = next[i]};
                }
            }
            select_beams(c, nc, W, level, nl, &cur[u], &nxt[u]);
        }
        ubeams *sw = cur; cur = nxt; nxt = sw;
        out->mask_seconds += sd_now() - t0;
        if (level == nl - 1) break;
        /* move each new beam's history into its slot: the parent's codes fed so far (positions
         * after the prompt; the prompt itself is in every slot of the user from level 1 on) */
        for (int u = 0; u < U; u++) {
            int P = cur[u].prompt_len;
            if (level == 0) { /* every slot a later level may use gets the prompt once */
                int slots = nl > 1 ? W : cur[u].nb;
                for (int j = 1; j < slots; j++) kv_copy(&kv, u * W + j, 0, &kv, u * W, 0, P);
                continue;
            }
            /* each new beam's codes fed so far are its parent's: through the scratch cache, as a
             * parent may feed several beams and a slot may be overwritten before it is read */
            for (int j = 0; j < cur[u].nb; j++) kv_copy(&tmpkv, u * W + j, 0, &kv, u * W + cur[u].parent[j], P, level);
            for (int j = 0; j < cur[u].nb; j++) kv_copy(&kv, u * W + j, P, &tmpkv, u * W + j, 0, level);
        }
        /* feed every live beam's newest code in one step */
        int n = 0;
        for (int u = 0; u < U; u++)
            for (int j = 0; j < cur[u].nb; j++) {
                ids[n] = cur[u].toks[(size_t)j * nl + level];
                seq[n] = u * W + j;
                rows[u * W + j] = n;
                n++;
            }
        int32_t *orow = sd_xmalloc(sizeof(int32_t) * (size_t)(n ? n : 1));
        for (int i = 0; i < n; i++) orow[i] = i;
        rc = sd_qwen3_step(m, &kv, n, ids, seq, n, orow, logits, NULL, err);
        out->tokens_fed += n;
        free(orow);
    }
    for (int u = 0; u < U && !rc; u++) {
        int p = u0 + u, got = 0;
        for (int j = 0; j < cur[u].nb && got < cfg->k; j++) {
            int32_t item = sd_sid_vocab_tokens_item(v, cur[u].toks + (size_t)j * nl, nl);
            if (item < 0) continue;
            out->items[(size_t)p * cfg->k + got] = item;
            out->scores[(size_t)p * cfg->k + got] = (float)cur[u].score[j];
            got++;
        }
        out->n[p] = got;
    }
    for (int u = 0; u < U; u++) {
        free(cur[u].score); free(nxt[u].score); free(cur[u].toks); free(nxt[u].toks); free(excl[u]);
        free(cur[u].parent); free(nxt[u].parent);
    }
    free(cur); free(nxt); free(excl); free(n_ex);
    free(ids); free(seq); free(rows); free(next_all); free(leaf_all); free(c_all);
    sd_afree(logits);
    sd_kv_cache_free(&kv);
    sd_kv_cache_free(&tmpkv);
    return rc;
}

int sd_sid_beam_search(sd_qwen3 *m, const sd_sid_vocab *v, const int32_t *const *prompts, const int *lens,
                       int n_prompts, const int32_t *const *exclude, const int *n_exclude,
                       const sd_sid_beam_cfg *cfg, sd_sid_beam_out *out, sd_err *err) {
    memset(out, 0, sizeof *out);
    if (cfg->k < 1 || cfg->width < cfg->k)
        return sd_errf(err, SD_EUSAGE, "beam search: width %d must be >= k %d >= 1", cfg->width, cfg->k);
    if (v->first_id < 0 || v->start_id < 0 || !v->trie.n_nodes)
        return sd_errf(err, SD_EUSAGE, "beam search: the semantic-ID vocabulary is not bound to the model's tokens");
    if (v->first_id + v->offset[v->n_levels] > m->cfg.vocab_size || v->start_id >= m->cfg.vocab_size)
        return sd_errf(err, SD_ERANGE, "beam search: SID token ids beyond the model's vocabulary (%d)", m->cfg.vocab_size);
    int maxlen = 0;
    for (int p = 0; p < n_prompts; p++) {
        if (lens[p] < 1) return sd_errf(err, SD_EUSAGE, "beam search: prompt %d is empty", p);
        maxlen = lens[p] > maxlen ? lens[p] : maxlen;
    }
    out->n_prompts = n_prompts;
    out->k = cfg->k;
    out->items = sd_xmalloc(sizeof(int32_t) * (size_t)n_prompts * cfg->k);
    out->scores = sd_xmalloc(sizeof(float) * (size_t)n_prompts * cfg->k);
    out->n = sd_xcalloc((size_t)(n_prompts ? n_prompts : 1), sizeof(int));
    for (size_t i = 0; i < (size_t)n_prompts * cfg->k; i++) out->items[i] = -1, out->scores[i] = -INFINITY;
    /* users per batch: the cache (W slots each) and the logits (W rows each) within the budget */
    int U = cfg->users_per_batch;
    if (U <= 0) {
        size_t budget = cfg->max_cache_bytes ? cfg->max_cache_bytes : (size_t)1 << 30;
        size_t per_user = sd_kv_cache_bytes(&m->cfg, cfg->width, maxlen + v->n_levels + 2) +
                          sizeof(float) * (size_t)cfg->width * m->cfg.vocab_size;
        U = (int)(budget / (per_user ? per_user : 1));
        if (U < 1) U = 1;
        if (U > 256) U = 256;
    }
    double t0 = sd_now();
    int rc = 0;
    for (int u0 = 0; u0 < n_prompts && !rc; u0 += U) {
        int nb = n_prompts - u0 < U ? n_prompts - u0 : U;
        rc = beam_batch(m, v, prompts, lens, u0, nb, exclude, n_exclude, cfg, out, err);
    }
    out->seconds = sd_now() - t0;
    if (rc) sd_sid_beam_out_free(out);
    return rc;
}

/* ---- exact scores of given items ---- */

/* The candidates' distinct items sorted by their code tokens, so that the items under one prefix
 * are a contiguous run: the prefix is fed once for the whole run. */
typedef struct scored {
    const int32_t *tok; /* n_levels + 2: start, codes, end */
    int32_t item;
    int nl;             /* codes to compare (qsort passes no context; no global, so callers may run at once) */
} scored;
static int scored_cmp(const void *a, const void *b) {
    const scored *x = a, *y = b;
    int c = memcmp(x->tok + 1, y->tok + 1, sizeof(int32_t) * (size_t)x->nl);
    return c ? c : (x->item > y->item) - (x->item < y->item);
}

int sd_sid_score_items(sd_qwen3 *m, const sd_sid_vocab *v, const int32_t *prompt, int len, bool append_start,
                       const int32_t *items, int n_items, float *scores, sd_err *err) {
    const int nl = v->n_levels, V = m->cfg.vocab_size, G = 64;
    if (v->first_id < 0 || !v->trie.n_nodes)
        return sd_errf(err, SD_EUSAGE, "item scores: the semantic-ID vocabulary is not bound to the model's tokens");
    if (len < 1) return sd_errf(err, SD_EUSAGE, "item scores: empty prompt");
    for (int i = 0; i < n_items; i++)
        if (items[i] < 0 || items[i] >= v->n_items)
            return sd_errf(err, SD_ERANGE, "item scores: item %d outside [0, %d)", items[i], v->n_items);
    if (n_items == 0) return 0;
    /* distinct items, their tokens, sorted by codes */
    int32_t *where = sd_xmalloc(sizeof(int32_t) * (size_t)v->n_items);
    for (int32_t i = 0; i < v->n_items; i++) where[i] = -1;
    int32_t *toks = sd_xmalloc(sizeof(int32_t) * (size_t)n_items * (nl + 2));
    scored *S = sd_xmalloc(sizeof *S * (size_t)n_items);
    int n = 0;
    for (int i = 0; i < n_items; i++) {
        if (where[items[i]] >= 0) continue;
        where[items[i]] = 0;
        sd_sid_vocab_item_tokens(v, items[i], toks + (size_t)n * (nl + 2));
        S[n] = (scored){.tok = toks + (size_t)n * (nl + 2), .item = items[i], .nl = nl};
        n++;
    }
    qsort(S, (size_t)n, sizeof *S, scored_cmp);
    for (int i = 0; i < n; i++) where[S[i].item] = i;
    double *acc = sd_xcalloc((size_t)n, sizeof(double));

    int P = len + (append_start ? 1 : 0);
    sd_kv_cache kv;
    int rc = sd_kv_cache_init(&kv, &m->cfg, G, P + nl + 1, err);
    if (rc) { free(where); free(toks); free(S); free(acc); return rc; }
    float *logits = sd_afloats((size_t)G * V);
    int32_t *ids = sd_xmalloc(sizeof(int32_t) * (size_t)P), *seq = sd_xcalloc((size_t)P, sizeof(int32_t));
    for (int i = 0; i < P; i++) ids[i] = i < len ? prompt[i] : v->start_id;
    int32_t last = P - 1;
    rc = sd_qwen3_step(m, &kv, P, ids, seq, 1, &last, logits, NULL, err);
    if (!rc) {
        double lse0 = row_lse(logits, V);
        for (int i = 0; i < n; i++) acc[i] = logits[S[i].tok[1]] - lse0;
        for (int j = 1; j < G; j++) kv_copy(&kv, j, 0, &kv, 0, 0, P); /* every slot holds the prompt */
    }
    /* level l: every distinct prefix of l codes is fed once (its last code, after its parent's
     * positions restored from the store of level l - 1), giving the log-probabilities of its
     * children's next codes; its own positions go to the store of level l */
    int32_t *run = sd_xmalloc(sizeof(int32_t) * ((size_t)n + 1)), *parent = sd_xmalloc(sizeof(int32_t) * (size_t)n);
    int32_t *prev_run = sd_xmalloc(sizeof(int32_t) * ((size_t)n + 1));
    int n_prev = 0;
    sd_kv_cache store = {0}, prev_store = {0};
    for (int l = 1; l < nl && !rc; l++) {
        int nodes = 0;
        for (int i = 0; i < n; i++)
            if (!i || memcmp(S[i].tok + 1, S[i - 1].tok + 1, sizeof(int32_t) * l)) run[nodes++] = i;
        run[nodes] = n;
        for (int k = 0, p = 0; k < nodes; k++) { /* parent run at level l - 1 containing run k */
            while (l > 1 && p + 1 < n_prev && prev_run[p + 1] <= run[k]) p++;
            parent[k] = p;
        }
        if ((rc = sd_kv_cache_init(&store, &m->cfg, nodes, l, err))) break;
        int32_t in[64], sq[64], rows[64];
        for (int k0 = 0; k0 < nodes && !rc; k0 += G) {
            int c = nodes - k0 < G ? nodes - k0 : G;
            for (int j = 0; j < c; j++) {
                if (l > 1) kv_copy(&kv, j, P, &prev_store, parent[k0 + j], 0, l - 1);
                else kv.len[j] = P;
                in[j] = S[run[k0 + j]].tok[l]; /* code l - 1 (tok[0] is <|sid_start|>) */
                sq[j] = j, rows[j] = j;
            }
            rc = sd_qwen3_step(m, &kv, c, in, sq, c, rows, logits, NULL, err);
            for (int j = 0; j < c && !rc; j++) {
                const float *lg = logits + (size_t)j * V;
                double lse = row_lse(lg, V);
                for (int i = run[k0 + j]; i < run[k0 + j + 1]; i++) acc[i] += lg[S[i].tok[l + 1]] - lse;
                if (l + 1 < nl) kv_copy(&store, k0 + j, 0, &kv, j, P, l);
            }
        }
        sd_kv_cache_free(&prev_store);
        prev_store = store;
        memset(&store, 0, sizeof store);
        memcpy(prev_run, run, sizeof(int32_t) * ((size_t)nodes + 1));
        n_prev = nodes;
    }
    for (int i = 0; i < n_items && !rc; i++) scores[i] = (float)acc[where[items[i]]];
    sd_kv_cache_free(&prev_store);
    sd_afree(logits);
    sd_kv_cache_free(&kv);
    free(ids); free(seq); free(run); free(parent); free(prev_run);
    free(where); free(toks); free(S); free(acc);
    return rc;
}
