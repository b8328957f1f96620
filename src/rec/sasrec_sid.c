#include "rec/sasrec_sid.h"
#include "io/json_util.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "nn/gemm.h"
#include "ids/sid_table.h"
#include "ids/sid_vocab.h"
#include "nn/ops.h"
#include "rec/params_io.h"

#define MAX_LEVELS 8

const char *sd_sid_mode_name(sd_sid_mode m) {
    return m == SD_SID_SUM ? "sum" : m == SD_SID_PREFIX ? "prefix" : "tokens";
}

int sd_sid_mode_parse(const char *s, sd_sid_mode *m) {
    if (!strcmp(s, "tokens")) *m = SD_SID_TOKENS;
    else if (!strcmp(s, "sum")) *m = SD_SID_SUM;
    else if (!strcmp(s, "prefix")) *m = SD_SID_PREFIX;
    else return SD_EUSAGE;
    return 0;
}

/* ---- codes and trie ---- */

void sd_sid_codes_free(sd_sid_codes *c) {
    free(c->codes);
    for (int l = 0; l < MAX_LEVELS; l++) {
        free(c->node[l]); free(c->child_off[l]); free(c->child[l]); free(c->prefix[l]);
    }
    sd_sid_vocab_free(&c->vocab);
    memset(c, 0, sizeof *c);
}

/* The per-level views this model indexes by, read off the vocabulary's trie (ids/sid_trie.h):
 * its nodes are numbered breadth first with every node's children in ascending code order, so
 * level l's nodes are one contiguous run and node[l][i] is item i's depth-l ancestor minus the
 * run's start. Embedding rows per level: the codes in use there (a code no item has would get a
 * row that no loss ever reaches). */
static void views_of_vocab(sd_sid_codes *c) {
    const sd_sid_vocab *v = &c->vocab;
    const sd_sid_trie *t = &v->trie;
    int32_t n = c->n_items, m = c->m;
    c->n_codes = c->n_prefixes = 0;
    for (int l = 0; l < m; l++) {
        /* prefixes c_0..c_l are the trie's nodes at depth l + 1 */
        c->P[l] = (int32_t)(v->level_begin[l + 2] - v->level_begin[l + 1]);
        c->poff[l] = c->n_prefixes;
        c->n_prefixes += c->P[l];
        c->prefix[l] = sd_xmalloc(sizeof(int32_t) * (size_t)n);
        c->V[l] = sd_sid_vocab_used(v, l);
        c->off[l] = c->n_codes;
        c->n_codes += c->V[l];
        int64_t b = v->level_begin[l], e = v->level_begin[l + 1], cb = v->level_begin[l + 1];
        c->n_nodes[l] = (int32_t)(e - b);
        c->child_off[l] = sd_xmalloc(sizeof(int32_t) * ((size_t)(e - b) + 1));
        for (int64_t nd = b; nd <= e; nd++) c->child_off[l][nd - b] = (int32_t)(t->first_child[nd] - cb);
        int32_t kids = c->child_off[l][e - b];
        c->child[l] = sd_xmalloc(sizeof(int32_t) * ((size_t)kids + 1));
        memcpy(c->child[l], t->code + cb, sizeof(int32_t) * (size_t)kids);
        c->node[l] = sd_xmalloc(sizeof(int32_t) * (size_t)n);
    }
    /* walk every item down the trie once, recording the node it passes at each depth */
#pragma omp parallel for schedule(static)
    for (int32_t i = 0; i < n; i++) {
        int64_t nd = 0;
        for (int l = 0; l < m; l++) {
            c->node[l][i] = (int32_t)(nd - v->level_begin[l]);
            const int32_t *row = c->codes + (size_t)i * m;
            nd = sd_sid_trie_find(t, row, l + 1);
            c->prefix[l][i] = (int32_t)(nd - v->level_begin[l + 1]);
        }
    }
}

int sd_sid_codes_build(sd_sid_codes *c, sd_err *err) {
    /* codes without a vocabulary (tests): the one of a table with K = the largest code + 1 */
    sd_sid_vocab_free(&c->vocab);
    int32_t K = 2;
    for (size_t i = 0; i < (size_t)c->n_items * c->m; i++) K = c->codes[i] >= K ? c->codes[i] + 1 : K;
    sd_sid_table t = {.n_items = c->n_items, .levels = c->m - 1 > 0 ? c->m - 1 : 1, .n_codes = c->m, .K = K,
                      .codes = c->codes};
    int rc = sd_sid_vocab_from_table(&c->vocab, &t, err);
    if (!rc) views_of_vocab(c);
    return rc;
}

int sd_sid_codes_read(sd_sid_codes *c, const char *path, const sd_catalog *cat, sd_err *err) {
    memset(c, 0, sizeof *c);
    int32_t n_items = cat->n_items;
    if (!sd_exists(path))
        return sd_errf(err, SD_ESTATE, "%s: no semantic IDs (run `semid ids WORK` first)", path);
    int rc = sd_sid_vocab_open(&c->vocab, path, cat, err);
    if (rc) return rc;
    const sd_sid_vocab *v = &c->vocab;
    if (v->n_items != n_items || v->n_levels > MAX_LEVELS) {
        rc = v->n_items != n_items
                 ? sd_errf(err, SD_EFORMAT, "%s: %d rows, the work directory has %d items (rerun `semid ids`)", path,
                           (int)v->n_items, (int)n_items)
                 : sd_errf(err, SD_EFORMAT, "%s: %d codes per item, at most %d supported", path, v->n_levels, MAX_LEVELS);
        sd_sid_codes_free(c);
        return rc;
    }
    c->n_items = n_items;
    c->m = v->n_levels;
    c->codes = sd_xmalloc(sizeof(int32_t) * (size_t)n_items * c->m);
    memcpy(c->codes, v->codes, sizeof(int32_t) * (size_t)n_items * c->m);
    views_of_vocab(c);
    return 0;
}

/* ---- model ---- */

static int tokens_per_item(const sd_sasrec_sid *m) { return m->mode == SD_SID_TOKENS ? m->codes.m : 1; }

/* rows of the embedding table: padding, then per-level codes (tokens, sum) or per-depth prefixes */
static int64_t table_rows(const sd_sasrec_sid *m) {
    return 1 + (int64_t)(m->mode == SD_SID_PREFIX ? m->codes.n_prefixes : m->codes.n_codes);
}

static void declare(sd_sasrec_sid *m) {
    sd_params_init(&m->p);
    int64_t shape[2] = {table_rows(m), m->cfg.dim};
    m->code_emb = sd_params_add(&m->p, "code_emb.weight", 2, shape, true);
    sd_seqenc_cfg ec = {.dim = m->cfg.dim, .blocks = m->cfg.blocks, .heads = m->cfg.heads,
                        .maxlen = m->cfg.maxlen * tokens_per_item(m), .dropout = m->cfg.dropout,
                        .block = m->cfg.block};
    sd_seqenc_declare(&m->enc, &m->p, &ec);
    sd_params_alloc(&m->p);
}

int sd_sasrec_sid_init(sd_sasrec_sid *m, const sd_sasrec_cfg *cfg, uint64_t seed, sd_sid_mode mode,
                       const char *sids_path, const sd_catalog *cat, sd_err *err) {
    memset(m, 0, sizeof *m);
    int rc = sd_sasrec_cfg_check(cfg, err);
    if (rc) return rc;
    m->cfg = *cfg;
    m->seed = seed;
    m->mode = mode;
    if ((rc = sd_sid_codes_read(&m->codes, sids_path, cat, err))) return rc;
    declare(m);
    float *E = sd_params_ptr(&m->p, m->code_emb);
    sd_xavier_normal(E, table_rows(m), cfg->dim, seed, 1);
    memset(E, 0, (size_t)cfg->dim * sizeof(float));
    sd_seqenc_init_weights(&m->enc, &m->p, seed);
    return 0;
}

void sd_sasrec_sid_free(sd_sasrec_sid *m) {
    sd_params_free(&m->p);
    sd_sid_codes_free(&m->codes);
    memset(m, 0, sizeof *m);
}

static int32_t code_row(const sd_sid_codes *c, int32_t item, int l) {
    return 1 + c->off[l] + c->codes[(size_t)item * c->m + l];
}

/* Row of item's level-l part of its embedding: its level-l code (sum) or its prefix c_0..c_l
 * (prefix). Within one level the rows of different codes or prefixes differ. */
static int32_t part_row(const sd_sasrec_sid *m, int32_t item, int l) {
    const sd_sid_codes *c = &m->codes;
    return m->mode == SD_SID_PREFIX ? 1 + c->poff[l] + c->prefix[l][item] : code_row(c, item, l);
}

/* Item embeddings as sums of code embeddings: Ei [n_items, C]. */
static void item_matrix(const sd_sasrec_sid *m, float *Ei, const float *E) {
    const sd_sid_codes *c = &m->codes;
    int C = m->cfg.dim;
#pragma omp parallel for schedule(static)
    for (int32_t i = 0; i < c->n_items; i++) {
        float *d = Ei + (size_t)i * C;
        memcpy(d, E + (size_t)part_row(m, i, 0) * C, sizeof(float) * C);
        for (int l = 1; l < c->m; l++) {
            const float *e = E + (size_t)part_row(m, i, l) * C;
            for (int k = 0; k < C; k++) d[k] += e[k];
        }
    }
}

/* dE[code rows of i] += dEi[i], level by level (each level's rows are distinct per code, so a
 * level is one deterministic serial scatter). */
static void item_matrix_backward(const sd_sasrec_sid *m, float *dE, const float *dEi) {
    const sd_sid_codes *c = &m->codes;
    int C = m->cfg.dim;
    for (int l = 0; l < c->m; l++)
        for (int32_t i = 0; i < c->n_items; i++) {
            float *d = dE + (size_t)part_row(m, i, l) * C;
            const float *g = dEi + (size_t)i * C;
            for (int k = 0; k < C; k++) d[k] += g[k];
        }
}

/* Hierarchical log-probability of item t given h, and (if dh) its gradient scaled by g:
 * dh += g * d(-log p)/dh, dE += likewise. z scratch [max children]. */
static float tree_nll(const sd_sid_codes *c, const float *E, const float *h, int32_t t, int C, float *z, float g,
                      float *dh, float *dE) {
    float nll = 0;
    for (int l = 0; l < c->m; l++) {
        int32_t node = c->node[l][t], k0 = c->child_off[l][node], k1 = c->child_off[l][node + 1];
        int32_t want = c->codes[(size_t)t * c->m + l];
        float mx = -INFINITY, zt = 0;
        for (int32_t k = k0; k < k1; k++) {
            const float *e = E + (size_t)(1 + c->off[l] + c->child[l][k]) * C;
            float s = 0;
            for (int j = 0; j < C; j++) s += h[j] * e[j];
            z[k - k0] = s;
            mx = s > mx ? s : mx;
            if (c->child[l][k] == want) zt = s;
        }
        double sum = 0;
        for (int32_t k = k0; k < k1; k++) sum += exp((double)(z[k - k0] - mx));
        float lse = mx + (float)log(sum);
        nll += lse - zt;
        if (!dh) continue;
        for (int32_t k = k0; k < k1; k++) {
            float p = expf(z[k - k0] - lse), d = g * (p - (c->child[l][k] == want));
            float *e = (float *)E + (size_t)(1 + c->off[l] + c->child[l][k]) * C;
            float *de = dE + (size_t)(1 + c->off[l] + c->child[l][k]) * C;
            for (int j = 0; j < C; j++) { dh[j] += d * e[j]; de[j] += d * h[j]; }
        }
    }
    return nll;
}

struct sd_sasrec_sid_ws {
    sd_seqenc_ws *enc;
    int32_t *tok, *len, *row;   /* token rows, token lengths, output row of each item */
    int64_t *off;
    float *Ei, *dEi, *hsel, *dhsel, *z;
    sd_item_loss loss;
};

sd_sasrec_sid_ws *sd_sasrec_sid_ws_new(const sd_sasrec_sid *m, int max_seqs) {
    sd_sasrec_sid_ws *ws = sd_xcalloc(1, sizeof *ws);
    ws->enc = sd_seqenc_ws_new(&m->enc, max_seqs, true);
    int tpi = tokens_per_item(m), C = m->cfg.dim;
    size_t N = (size_t)max_seqs * m->cfg.maxlen;
    ws->tok = sd_xmalloc(sizeof(int32_t) * N * tpi);
    ws->row = sd_xmalloc(sizeof(int32_t) * N);
    ws->len = sd_xmalloc(sizeof(int32_t) * (size_t)max_seqs);
    ws->off = sd_xmalloc(sizeof(int64_t) * ((size_t)max_seqs + 1));
    ws->hsel = sd_afloats(N * C);
    ws->dhsel = sd_afloats(N * C);
    int32_t maxk = 1;
    for (int l = 0; l < m->codes.m; l++)
        for (int32_t n = 0; n < m->codes.n_nodes[l]; n++) {
            int32_t k = m->codes.child_off[l][n + 1] - m->codes.child_off[l][n];
            maxk = k > maxk ? k : maxk;
        }
    ws->z = sd_afloats((size_t)maxk);
    if (m->mode != SD_SID_TOKENS) {
        ws->Ei = sd_afloats((size_t)m->codes.n_items * C);
        ws->dEi = sd_afloats((size_t)m->codes.n_items * C);
        sd_item_loss_init(&ws->loss, N, C);
    }
    return ws;
}

void sd_sasrec_sid_ws_free(sd_sasrec_sid_ws *ws) {
    if (!ws) return;
    sd_seqenc_ws_free(ws->enc);
    free(ws->tok); free(ws->row); free(ws->len); free(ws->off);
    sd_afree(ws->hsel); sd_afree(ws->dhsel); sd_afree(ws->z); sd_afree(ws->Ei); sd_afree(ws->dEi);
    if (ws->loss.logits) sd_item_loss_free(&ws->loss);
    free(ws);
}

/* Fills the encoder input for a packed item batch; returns the token-level packing. row[n] is the
 * output row (last token) of item n. */
static sd_packed embed_batch(const sd_sasrec_sid *m, sd_seqenc_ws *enc, int32_t *tok, int32_t *len, int64_t *off,
                             int32_t *row, const float *Ei, int B, const int32_t *ilen, const int64_t *ioff,
                             const int32_t *items, int N, bool train) {
    const sd_sid_codes *c = &m->codes;
    const float *E = sd_params_ptr((sd_params *)&m->p, m->code_emb);
    int C = m->cfg.dim, tpi = tokens_per_item(m);
    float *in = sd_seqenc_input(&m->enc, enc, B, N * tpi, train), s = sqrtf((float)C);
    for (int b = 0; b <= B; b++) off[b] = ioff[b] * tpi;
    for (int b = 0; b < B; b++) len[b] = ilen[b] * tpi;
    for (int n = 0; n < N; n++) row[n] = n * tpi + tpi - 1;
    if (m->mode != SD_SID_TOKENS) {
        sd_embedding_forward(in, items, Ei, N, c->n_items, C);
    } else {
        for (int n = 0; n < N; n++)
            for (int l = 0; l < c->m; l++) tok[n * tpi + l] = code_row(c, items[n], l);
        sd_embedding_forward(in, tok, E, N * tpi, c->n_codes + 1, C);
    }
    for (size_t i = 0; i < (size_t)N * tpi * C; i++) in[i] *= s;
    return (sd_packed){B, N * tpi, len, off};
}

float sd_sasrec_sid_loss_forward(sd_sasrec_sid *m, sd_sasrec_sid_ws *ws, const sd_seqbatch *b, bool train,
                                 uint64_t step) {
    int N = b->N, C = m->cfg.dim;
    const float *E = sd_params_ptr(&m->p, m->code_emb);
    if (m->mode != SD_SID_TOKENS) item_matrix(m, ws->Ei, E);
    sd_packed pk = embed_batch(m, ws->enc, ws->tok, ws->len, ws->off, ws->row, ws->Ei, b->B, b->len, b->off, b->item, N, train);
    const float *out = sd_seqenc_forward(&m->enc, &m->p, ws->enc, &pk, train, m->seed, step);
    for (int n = 0; n < N; n++) memcpy(ws->hsel + (size_t)n * C, out + (size_t)ws->row[n] * C, sizeof(float) * C);
    if (m->mode != SD_SID_TOKENS)
        return sd_item_loss_forward(&ws->loss, m->cfg.loss, ws->hsel, ws->Ei, m->codes.n_items, b->target, b->neg, N, C);
    double total = 0;
    for (int n = 0; n < N; n++)
        total += tree_nll(&m->codes, E, ws->hsel + (size_t)n * C, b->target[n], C, ws->z, 0, NULL, NULL);
    return N ? (float)(total / N) : 0.0f;
}

void sd_sasrec_sid_loss_backward(sd_sasrec_sid *m, sd_sasrec_sid_ws *ws, const sd_seqbatch *b) {
    int N = b->N, C = m->cfg.dim, tpi = tokens_per_item(m);
    const float *E = sd_params_ptr(&m->p, m->code_emb);
    float *dE = sd_params_grad(&m->p, m->code_emb);
    memset(ws->dhsel, 0, sizeof(float) * (size_t)N * C);
    if (m->mode != SD_SID_TOKENS) {
        memset(ws->dEi, 0, sizeof(float) * (size_t)m->codes.n_items * C);
        sd_item_loss_backward(&ws->loss, m->cfg.loss, ws->dhsel, ws->dEi, ws->hsel, ws->Ei, m->codes.n_items, b->target,
                              b->neg, N, C, b->scale > 0 ? b->scale : 1.0f);
    } else {
        for (int n = 0; n < N; n++)
            tree_nll(&m->codes, E, ws->hsel + (size_t)n * C, b->target[n], C, ws->z, (b->scale > 0 ? b->scale : 1.0f) / N,
                     ws->dhsel + (size_t)n * C, dE);
    }
    size_t NT = (size_t)N * tpi;
    float *dout = sd_seqenc_dout(ws->enc);
    memset(dout, 0, sizeof(float) * NT * C);
    for (int n = 0; n < N; n++) memcpy(dout + (size_t)ws->row[n] * C, ws->dhsel + (size_t)n * C, sizeof(float) * C);
    sd_packed pk = {b->B, (int)NT, ws->len, ws->off};
    const float *din = sd_seqenc_backward(&m->enc, &m->p, ws->enc, &pk, dout);
    float s = sqrtf((float)C);
    if (m->mode != SD_SID_TOKENS) {
        /* one token per item, so NT == N: hsel [N, C], read for the last time above, holds the rows */
        float *rows = ws->hsel;
        for (size_t i = 0; i < NT * C; i++) rows[i] = din[i] * s;
        sd_embedding_backward(ws->dEi, rows, b->item, N, C, -1);
        item_matrix_backward(m, dE, ws->dEi);
    } else { /* tpi tokens per item: NT = N * tpi rows, more than hsel holds */
        float *scaled = sd_xmalloc(sizeof(float) * NT * C);
        for (size_t i = 0; i < NT * C; i++) scaled[i] = din[i] * s;
        sd_embedding_backward(dE, scaled, ws->tok, (int)NT, C, 0);
        free(scaled);
    }
}

/* ---- scoring ---- */

typedef struct sid_scorer {
    sd_sasrec_sid *m;
    bool own;
    sd_seqenc_ws *ws;
    int max_seqs;
    int32_t *ilen, *items, *tok, *len, *row;
    int64_t *ioff, *off;
    float *Ei, *Z, *lse;
} sid_scorer;

/* Hidden state after each user's context (last maxlen items); empty context: last LN bias. */
static void user_states(sid_scorer *s, int n, const int32_t *const *hist, const int32_t *hist_len, float *H) {
    sd_sasrec_sid *m = s->m;
    int C = m->cfg.dim, T = m->cfg.maxlen;
    const float *last_b = sd_params_ptr(&m->p, m->enc.last_b);
    for (int u0 = 0; u0 < n; u0 += s->max_seqs) {
        int nb = n - u0 < s->max_seqs ? n - u0 : s->max_seqs, B = 0, N = 0;
        int who[nb];
        s->ioff[0] = 0;
        for (int i = 0; i < nb; i++) {
            int hl = hist_len[u0 + i];
            if (hl <= 0) { memcpy(H + (size_t)(u0 + i) * C, last_b, sizeof(float) * C); continue; }
            int L = hl < T ? hl : T;
            memcpy(s->items + N, hist[u0 + i] + (hl - L), sizeof(int32_t) * L);
            N += L;
            s->ilen[B] = L;
            s->ioff[B + 1] = N;
            who[B++] = u0 + i;
        }
        if (!B) continue;
        sd_packed pk = embed_batch(m, s->ws, s->tok, s->len, s->off, s->row, s->Ei, B, s->ilen, s->ioff, s->items, N, false);
        const float *out = sd_seqenc_forward(&m->enc, &m->p, s->ws, &pk, false, 0, 0);
        for (int b = 0; b < B; b++)
            memcpy(H + (size_t)who[b] * C, out + (size_t)s->row[s->ioff[b + 1] - 1] * C, sizeof(float) * C);
    }
}

/* scores [n, n_items] of all items for hidden states H [n, C]. */
static void score_items(sid_scorer *s, int n, const float *H, float *scores) {
    sd_sasrec_sid *m = s->m;
    const sd_sid_codes *c = &m->codes;
    int C = m->cfg.dim;
    if (m->mode != SD_SID_TOKENS) {
        sd_sgemm(false, true, n, c->n_items, C, 1.0f, H, C, s->Ei, C, 0.0f, scores, c->n_items);
        return;
    }
    const float *E = sd_params_ptr(&m->p, m->code_emb);
    float *Z = sd_afloats((size_t)n * c->n_codes);
    sd_sgemm(false, true, n, c->n_codes, C, 1.0f, H, C, E + C, C, 0.0f, Z, c->n_codes);
    int32_t total_nodes = 0, noff[MAX_LEVELS];
    for (int l = 0; l < c->m; l++) { noff[l] = total_nodes; total_nodes += c->n_nodes[l]; }
#pragma omp parallel
    {
        float *lse = sd_afloats((size_t)total_nodes);
#pragma omp for schedule(dynamic, 4)
        for (int u = 0; u < n; u++) {
            const float *z = Z + (size_t)u * c->n_codes;
            for (int l = 0; l < c->m; l++)
                for (int32_t nd = 0; nd < c->n_nodes[l]; nd++) {
                    int32_t k0 = c->child_off[l][nd], k1 = c->child_off[l][nd + 1];
                    const float *zl = z + c->off[l];
                    float mx = -INFINITY;
                    for (int32_t k = k0; k < k1; k++) mx = zl[c->child[l][k]] > mx ? zl[c->child[l][k]] : mx;
                    float sum = 0;
                    for (int32_t k = k0; k < k1; k++) sum += expf(zl[c->child[l][k]] - mx);
                    lse[noff[l] + nd] = mx + logf(sum);
                }
            float *sc = scores + (size_t)u * c->n_items;
            for (int32_t i = 0; i < c->n_items; i++) {
                float lp = 0;
                for (int l = 0; l < c->m; l++)
                    lp += z[c->off[l] + c->codes[(size_t)i * c->m + l]] - lse[noff[l] + c->node[l][i]];
                sc[i] = lp;
            }
        }
        sd_afree(lse);
    }
    sd_afree(Z);
}

static int sid_score_batch(void *model, int n_users, const int32_t *users, const int32_t *const *hist,
                           const int32_t *hist_len, float *scores, sd_err *err) {
    (void)users; (void)err;
    sid_scorer *s = model;
    if (s->m->mode != SD_SID_TOKENS) item_matrix(s->m, s->Ei, sd_params_ptr(&s->m->p, s->m->code_emb));
    float *H = sd_afloats((size_t)n_users * s->m->cfg.dim);
    user_states(s, n_users, hist, hist_len, H);
    score_items(s, n_users, H, scores);
    sd_afree(H);
    return 0;
}

static void sid_scorer_free(void *model) {
    sid_scorer *s = model;
    sd_seqenc_ws_free(s->ws);
    free(s->ilen); free(s->items); free(s->tok); free(s->len); free(s->row); free(s->ioff); free(s->off);
    sd_afree(s->Ei);
    if (s->own) { sd_sasrec_sid_free(s->m); free(s->m); }
    free(s);
}

void sd_sasrec_sid_scorer(sd_sasrec_sid *m, bool own, sd_scorer *out) {
    sid_scorer *s = sd_xcalloc(1, sizeof *s);
    s->m = m;
    s->own = own;
    s->max_seqs = 128;
    s->ws = sd_seqenc_ws_new(&m->enc, s->max_seqs, false);
    size_t N = (size_t)s->max_seqs * m->cfg.maxlen;
    int tpi = tokens_per_item(m);
    s->ilen = sd_xmalloc(sizeof(int32_t) * s->max_seqs);
    s->len = sd_xmalloc(sizeof(int32_t) * s->max_seqs);
    s->ioff = sd_xmalloc(sizeof(int64_t) * (s->max_seqs + 1));
    s->off = sd_xmalloc(sizeof(int64_t) * (s->max_seqs + 1));
    s->items = sd_xmalloc(sizeof(int32_t) * N);
    s->row = sd_xmalloc(sizeof(int32_t) * N);
    s->tok = sd_xmalloc(sizeof(int32_t) * N * tpi);
    if (m->mode != SD_SID_TOKENS) s->Ei = sd_afloats((size_t)m->codes.n_items * m->cfg.dim);
    *out = (sd_scorer){.name = "sasrec_sid", .n_items = m->codes.n_items, .model = s, .score_batch = sid_score_batch,
                       .concurrent = false, .batch_hint = s->max_seqs, .free = sid_scorer_free};
}

sd_sasrec_sid *sd_sasrec_sid_of(const sd_scorer *sc) { return ((sid_scorer *)sc->model)->m; }

/* ---- training ---- */

static float fwd(void *m, void *ws, const sd_seqbatch *b, bool train, uint64_t step) {
    return sd_sasrec_sid_loss_forward(m, ws, b, train, step);
}
static void bwd(void *m, void *ws, const sd_seqbatch *b) { sd_sasrec_sid_loss_backward(m, ws, b); }
static void *clone_sid(const void *m, float *grad) {
    sd_sasrec_sid *c = sd_xmalloc(sizeof *c);
    *c = *(const sd_sasrec_sid *)m; /* shares weights, codes and trie; only the gradients differ */
    c->p.grad = grad;
    return c;
}
static void *ws_new_sid(const void *m, int max_seqs) { return sd_sasrec_sid_ws_new(m, max_seqs); }
static void ws_free_sid(void *ws) { sd_sasrec_sid_ws_free(ws); }

int sd_sasrec_sid_fit(sd_sasrec_sid *m, const sd_train_opts *o, const sd_sequences *seq, const sd_split *sp,
                      sd_fit_report *rep, sd_err *err) {
    return sd_sasrec_sid_fit_ckpt(m, o, seq, sp, NULL, rep, err);
}

/* FNV-1a of the codes table as 16 hex digits: ties a checkpoint and a saved model to the semantic
 * IDs they were trained on (a re-run of `semid ids` gives other codes, so another fingerprint). */
static void codes_fingerprint(const sd_sid_codes *c, char buf[17]) {
    uint64_t h = 0xcbf29ce484222325ull;
    const unsigned char *b = (const unsigned char *)c->codes;
    for (size_t i = 0; i < (size_t)c->n_items * c->m * sizeof(int32_t); i++) h = (h ^ b[i]) * 0x100000001b3ull;
    snprintf(buf, 17, "%016llx", (unsigned long long)h);
}

/* What a checkpoint must match: the options, the mode and the codes (their fingerprint). */
static cJSON *ckpt_config(const sd_sasrec_sid *m, const sd_train_opts *o) {
    cJSON *j = sd_sasrec_train_json(&m->cfg, o);
    cJSON_AddStringToObject(j, "model_type", "sasrec_sid");
    cJSON_AddStringToObject(j, "sid_mode", sd_sid_mode_name(m->mode));
    cJSON_AddNumberToObject(j, "n_items", m->codes.n_items);
    cJSON_AddNumberToObject(j, "codes_per_item", m->codes.m);
    cJSON_AddNumberToObject(j, "n_codes", m->codes.n_codes);
    char buf[17];
    codes_fingerprint(&m->codes, buf);
    cJSON_AddStringToObject(j, "codes_fingerprint", buf);
    return j;
}

/* Rows that no training item uses are reached only as negatives: they learn "not this item" and
 * nothing of what the item is like. Zeroed, an item never seen in training is scored by the rows
 * it shares with seen items (its prefixes) alone. Prefix and sum modes; returns the rows zeroed. */
static int64_t zero_unseen_rows(sd_sasrec_sid *m, const sd_sequences *seq, const sd_split *sp) {
    if (m->mode == SD_SID_TOKENS) return 0;
    const sd_sid_codes *c = &m->codes;
    int64_t rows = table_rows(m);
    unsigned char *seen = sd_xcalloc((size_t)c->n_items, 1), *used = sd_xcalloc((size_t)rows, 1);
    for (int32_t u = 0; u < seq->n_users; u++)
        for (int32_t k = 0; k < sp->train_len[u]; k++) {
            int32_t it = seq->items[seq->offsets[u] + k];
            if (it >= 0 && it < c->n_items) seen[it] = 1;
        }
    for (int32_t i = 0; i < c->n_items; i++)
        if (seen[i])
            for (int l = 0; l < c->m; l++) used[part_row(m, i, l)] = 1;
    float *E = sd_params_ptr(&m->p, m->code_emb);
    int64_t zeroed = 0;
    for (int64_t r = 1; r < rows; r++)
        if (!used[r]) { memset(E + r * m->cfg.dim, 0, sizeof(float) * (size_t)m->cfg.dim); zeroed++; }
    free(seen);
    free(used);
    return zeroed;
}

int sd_sasrec_sid_fit_ckpt(sd_sasrec_sid *m, const sd_train_opts *o, const sd_sequences *seq, const sd_split *sp,
                           const sd_rec_ckpt_opts *ck, sd_fit_report *rep, sd_err *err) {
    int rc = sd_sasrec_train_check(o, err);
    if (rc) return rc;
    sd_scorer sc;
    sd_sasrec_sid_scorer(m, false, &sc);
    sd_sasrec_sid_ws *ws = sd_sasrec_sid_ws_new(m, o->batch);
    sd_sasrec_cfg c = m->cfg;
    if (m->mode == SD_SID_TOKENS) c.loss = SD_LOSS_SOFTMAX; /* the tree loss needs no negatives */
    cJSON *config = ck ? ckpt_config(m, o) : NULL;
    sd_rec_trainer tr = {.cfg = &c, .opts = o, .p = &m->p, .model = m, .ws = ws, .forward = fwd, .backward = bwd,
                         .clone = clone_sid, .ws_new = ws_new_sid, .ws_free = ws_free_sid, .scorer = &sc, .ckpt = ck,
                         .ckpt_config = config};
    rc = sd_rec_fit(&tr, seq, sp, rep, err);
    if (!rc) {
        int64_t z = zero_unseen_rows(m, seq, sp);
        if (z) sd_info("sasrec_sid: %lld embedding rows no training item uses zeroed (unseen items score by "
                       "their shared prefixes)", (long long)z);
    }
    cJSON_Delete(config);
    sd_sasrec_sid_ws_free(ws);
    sd_scorer_free(&sc);
    return rc;
}

/* ---- files ---- */

int sd_sasrec_sid_save(const sd_sasrec_sid *m, const sd_train_opts *trained, const char *dir, const char *extra_json,
                       sd_err *err) {
    char *path = sd_path_join(dir, "model.safetensors");
    int rc = sd_rec_params_save(&m->p, path, err);
    free(path);
    if (rc) return rc;
    cJSON *j = extra_json ? cJSON_Parse(extra_json) : NULL;
    if (!j) j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model_type", "sasrec_sid");
    cJSON_AddStringToObject(j, "sid_mode", sd_sid_mode_name(m->mode));
    cJSON_AddNumberToObject(j, "n_items", m->codes.n_items);
    cJSON_AddNumberToObject(j, "codes_per_item", m->codes.m);
    char fp[17];
    codes_fingerprint(&m->codes, fp);
    cJSON_AddStringToObject(j, "codes_fingerprint", fp); /* checked by sd_sasrec_sid_load */
    /* the training options, as SASRec writes them; tokens mode trains through the code tree */
    cJSON *train = sd_sasrec_train_json(&m->cfg, trained);
    if (m->mode == SD_SID_TOKENS) cJSON_ReplaceItemInObjectCaseSensitive(train, "loss", cJSON_CreateString("tree"));
    for (cJSON *it = train->child; it; it = train->child) {
        cJSON_DetachItemViaPointer(train, it);
        cJSON_DeleteItemFromObjectCaseSensitive(j, it->string);
        cJSON_AddItemToObject(j, it->string, it);
    }
    cJSON_Delete(train);
    path = sd_path_join(dir, "config.json");
    rc = sd_rec_write_json(path, j, err);
    free(path);
    cJSON_Delete(j);
    return rc;
}

/* Same sizes but other codes (`semid ids` re-run since the training) would score the wrong items:
 * refused, naming both fingerprints. want: config.json's, "" when it has none (older models). */
static int check_fingerprint(const sd_sid_codes *c, const char *want, const char *dir, const char *sids_path,
                             sd_err *err) {
    char have[17];
    codes_fingerprint(c, have);
    char *config = sd_path_join(dir, "config.json");
    int rc = 0;
    if (!want[0])
        sd_warn("%s: no \"codes_fingerprint\" (a model of an older semid): cannot check it was trained on %s", config,
                sids_path);
    else if (strcmp(want, have))
        rc = sd_errf(err, SD_ESTATE, "%s: the model was trained on semantic IDs with codes_fingerprint %s, but %s has "
                     "codes_fingerprint %s (`semid ids` was re-run since); retrain it: semid sasrec WORK --sid",
                     config, want, sids_path, have);
    free(config);
    return rc;
}

int sd_sasrec_sid_load(sd_sasrec_sid *m, const char *dir, const char *sids_path, const sd_catalog *cat, sd_err *err) {
    int32_t n_items = cat->n_items;
    memset(m, 0, sizeof *m);
    char *path = sd_path_join(dir, "config.json");
    cJSON *j = NULL;
    int rc = sd_json_read_file(path, &j, err);
    if (!rc && !cJSON_IsObject(j)) rc = sd_errf(err, SD_EFORMAT, "%s: not a JSON object", path);
    sd_sasrec_cfg c = sd_sasrec_defaults();
    int ni = 0, cpi = 0;
    if (!rc) rc = sd_json_get_int(j, "n_items", &ni, path, err);
    if (!rc) rc = sd_json_get_int(j, "codes_per_item", &cpi, path, err);
    if (!rc) rc = sd_json_get_int(j, "dim", &c.dim, path, err);
    if (!rc) rc = sd_json_get_int(j, "blocks", &c.blocks, path, err);
    if (!rc) rc = sd_json_get_int(j, "heads", &c.heads, path, err);
    if (!rc) rc = sd_json_get_int(j, "maxlen", &c.maxlen, path, err);
    if (!rc) c.block = sd_seqenc_block_of_json(j);
    const cJSON *mode = rc ? NULL : cJSON_GetObjectItemCaseSensitive(j, "sid_mode");
    if (!rc && (!cJSON_IsString(mode) || sd_sid_mode_parse(mode->valuestring, &m->mode)))
        rc = sd_errf(err, SD_EFORMAT, "%s: \"sid_mode\" must be \"prefix\", \"sum\" or \"tokens\"", path);
    if (!rc && ni != n_items)
        rc = sd_errf(err, SD_ESTATE, "%s: model has %d items, the work directory %d (retrain: semid sasrec --sid)", path, ni, n_items);
    if (!rc && (rc = sd_sasrec_cfg_check(&c, err))) sd_err_prefix(err, "%s: ", path);
    /* the fingerprint of the codes the model was trained on (absent in models of an older semid) */
    char want_fp[17] = "";
    const cJSON *fpj = rc ? NULL : cJSON_GetObjectItemCaseSensitive(j, "codes_fingerprint");
    if (fpj && (!cJSON_IsString(fpj) || strlen(fpj->valuestring) != 16))
        rc = sd_errf(err, SD_EFORMAT, "%s: \"codes_fingerprint\" must be a string of 16 hex digits", path);
    else if (fpj)
        memcpy(want_fp, fpj->valuestring, sizeof want_fp);
    cJSON_Delete(j);
    free(path);
    if (rc) return rc;
    m->cfg = c;
    m->seed = sd_sasrec_train_defaults().seed; /* not stored; only training draws from it */
    if ((rc = sd_sid_codes_read(&m->codes, sids_path, cat, err))) return rc;
    if (m->codes.m != cpi) {
        rc = sd_errf(err, SD_ESTATE, "%s: %d codes per item, the model was trained on %d (retrain)", sids_path, m->codes.m, cpi);
        sd_sid_codes_free(&m->codes); /* after the message, which reads m->codes.m */
        return rc;
    }
    if ((rc = check_fingerprint(&m->codes, want_fp, dir, sids_path, err))) {
        sd_sid_codes_free(&m->codes);
        return rc;
    }
    declare(m);
    path = sd_path_join(dir, "model.safetensors");
    rc = sd_rec_params_load(&m->p, path, err);
    free(path);
    if (rc) sd_sasrec_sid_free(m);
    return rc;
}
