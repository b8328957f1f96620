#include "rec/sasrec.h"
#include "io/json_util.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/threads.h"
#include "base/progress.h"
#include "base/rng.h"
#include "nn/gemm.h"
#include "nn/ops.h"
#include "nn/optim.h"
#include "eval/evaluate.h"
#include "eval/ws_pool.h"
#include "rec/params_io.h"
#include "rec/seqbatch.h"
#include "nn/train.h"
#include "nn/train_ckpt.h"
#include "nn/dist.h"

const char *sd_rec_loss_name(sd_rec_loss l) { return l == SD_LOSS_SOFTMAX ? "softmax" : "bce"; }

int sd_rec_loss_parse(const char *s, sd_rec_loss *l) {
    if (!strcmp(s, "bce")) *l = SD_LOSS_BCE;
    else if (!strcmp(s, "softmax")) *l = SD_LOSS_SOFTMAX;
    else return SD_EUSAGE;
    return 0;
}

sd_sasrec_cfg sd_sasrec_defaults(void) {
    return (sd_sasrec_cfg){.dim = 50, .blocks = 2, .heads = 1, .maxlen = 50, .dropout = 0.5f, .loss = SD_LOSS_BCE};
}

int sd_sasrec_cfg_check(const sd_sasrec_cfg *c, sd_err *err) {
    if (c->dim <= 0) return sd_errf(err, SD_EUSAGE, "--dim must be > 0 (got %d)", c->dim);
    if (c->blocks <= 0 || c->blocks > SD_SEQENC_MAX_BLOCKS)
        return sd_errf(err, SD_EUSAGE, "--blocks must be in 1..%d (got %d)", SD_SEQENC_MAX_BLOCKS, c->blocks);
    if (c->heads <= 0 || c->dim % c->heads)
        return sd_errf(err, SD_EUSAGE, "--heads must be > 0 and divide --dim %d (got %d)", c->dim, c->heads);
    if (c->maxlen <= 0 || c->maxlen > 4096) return sd_errf(err, SD_EUSAGE, "--maxlen must be in 1..4096 (got %d)", c->maxlen);
    if (!(c->dropout >= 0 && c->dropout < 1)) return sd_errf(err, SD_EUSAGE, "--dropout must be in [0, 1) (got %g)", c->dropout);
    return 0;
}

sd_train_opts sd_sasrec_train_defaults(void) {
    sd_train_opts o = sd_train_defaults();
    o.adam = (sd_adamw){.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.98, .eps = 1e-8, .weight_decay = 0};
    o.schedule = SD_LR_CONSTANT;
    o.warmup = 0;
    o.lr_min = 0.0;
    o.clip = 0;
    o.batch = 128;
    o.epochs = 200;
    o.eval_every_epochs = 20;
    o.patience = 0;
    o.seed = 42;
    o.progress = "sasrec";
    o.name = "sasrec";
    return o;
}

int sd_sasrec_train_check(const sd_train_opts *o, sd_err *err) {
    const sd_adamw *a = &o->adam;
    if (!(a->lr > 0)) return sd_errf(err, SD_EUSAGE, "--lr must be > 0 (got %g)", a->lr);
    if (!(a->beta1 >= 0 && a->beta1 < 1)) return sd_errf(err, SD_EUSAGE, "--beta1 must be in [0, 1) (got %g)", a->beta1);
    if (!(a->beta2 >= 0 && a->beta2 < 1)) return sd_errf(err, SD_EUSAGE, "--beta2 must be in [0, 1) (got %g)", a->beta2);
    if (!(a->weight_decay >= 0)) return sd_errf(err, SD_EUSAGE, "--weight-decay must be >= 0 (got %g)", a->weight_decay);
    if (o->warmup < 0) return sd_errf(err, SD_EUSAGE, "--warmup must be >= 0 (got %lld)", (long long)o->warmup);
    if (!(o->clip >= 0)) return sd_errf(err, SD_EUSAGE, "--clip must be >= 0 (got %g)", o->clip);
    if (o->batch <= 0) return sd_errf(err, SD_EUSAGE, "--batch must be > 0 (got %d)", o->batch);
    if (o->epochs <= 0) return sd_errf(err, SD_EUSAGE, "--epochs must be > 0 (got %d)", o->epochs);
    if (o->eval_every_epochs <= 0) return sd_errf(err, SD_EUSAGE, "--eval-every must be > 0 (got %d)", o->eval_every_epochs);
    if (o->patience < 0) return sd_errf(err, SD_EUSAGE, "--patience must be >= 0 (got %d)", o->patience);
    return 0;
}

static sd_seqenc_cfg enc_cfg(const sd_sasrec_cfg *c) {
    return (sd_seqenc_cfg){.dim = c->dim, .blocks = c->blocks, .heads = c->heads, .maxlen = c->maxlen,
                           .dropout = c->dropout, .block = c->block};
}

static void declare(sd_sasrec *m, const sd_sasrec_cfg *cfg, int32_t n_items) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->n_items = n_items;
    sd_params_init(&m->p);
    int64_t shape[2] = {(int64_t)n_items + 1, cfg->dim};
    m->item_emb = sd_params_add(&m->p, "item_emb.weight", 2, shape, true);
    sd_seqenc_cfg ec = enc_cfg(cfg);
    sd_seqenc_declare(&m->enc, &m->p, &ec);
    sd_params_alloc(&m->p);
}

int sd_sasrec_init(sd_sasrec *m, const sd_sasrec_cfg *cfg, uint64_t seed, int32_t n_items, sd_err *err) {
    int rc = sd_sasrec_cfg_check(cfg, err);
    if (rc) return rc;
    if (n_items <= 0) return sd_errf(err, SD_ERANGE, "sasrec: no items");
    declare(m, cfg, n_items);
    float *E = sd_params_ptr(&m->p, m->item_emb);
    m->seed = seed;
    sd_xavier_normal(E, (int64_t)n_items + 1, cfg->dim, seed, 1);
    memset(E, 0, (size_t)cfg->dim * sizeof(float));
    sd_seqenc_init_weights(&m->enc, &m->p, seed);
    return 0;
}

void sd_sasrec_free(sd_sasrec *m) { sd_params_free(&m->p); memset(m, 0, sizeof *m); }

/* ---- loss ---- */

void sd_item_loss_init(sd_item_loss *s, size_t max_rows, int C) {
    s->logits = sd_afloats(2 * max_rows); s->labels = sd_afloats(2 * max_rows); s->dlogits = sd_afloats(2 * max_rows);
    s->rows = sd_afloats(max_rows * C); s->lse = sd_afloats(max_rows);
}

void sd_item_loss_free(sd_item_loss *s) {
    sd_afree(s->logits); sd_afree(s->labels); sd_afree(s->dlogits); sd_afree(s->rows); sd_afree(s->lse);
}

static float dot(const float *a, const float *b, int n) {
    float s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

float sd_item_loss_forward(sd_item_loss *s, sd_rec_loss loss, const float *out, const float *E, int32_t n_items,
                           const int32_t *target, const int32_t *neg, int N, int C) {
    if (loss == SD_LOSS_SOFTMAX) return sd_xent_chunked_forward(s->lse, out, E, target, N, C, n_items, -1, NULL);
#pragma omp parallel for schedule(static) if (N > 2048)
    for (int n = 0; n < N; n++) {
        const float *h = out + (size_t)n * C;
        s->logits[n] = dot(h, E + (size_t)target[n] * C, C);
        s->logits[N + n] = dot(h, E + (size_t)neg[n] * C, C);
        s->labels[n] = 1.0f;
        s->labels[N + n] = 0.0f;
    }
    /* pmixer: BCE(pos, 1) + BCE(neg, 0), each a mean over positions = 2 x the mean over both */
    return 2.0f * sd_bce_logits_forward(s->logits, s->labels, 2 * (size_t)N);
}

void sd_item_loss_backward(sd_item_loss *s, sd_rec_loss loss, float *dout, float *dE, const float *out,
                           const float *E, int32_t n_items, const int32_t *target, const int32_t *neg, int N, int C,
                           float dloss) {
    if (loss == SD_LOSS_SOFTMAX) {
        sd_xent_chunked_backward(dout, dE, out, E, target, s->lse, N, C, n_items, -1, dloss);
        return;
    }
    memset(s->dlogits, 0, 2 * (size_t)N * sizeof(float));
    sd_bce_logits_backward(s->dlogits, s->logits, s->labels, 2 * (size_t)N, 2.0f * dloss);
    /* d out += dpos E[pos] + dneg E[neg]; dE rows get dlogit * out through the embedding
     * backward (deterministic scatter-add). */
    for (int which = 0; which < 2; which++) {
        const float *dl = s->dlogits + (size_t)which * N;
        const int32_t *ids = which ? neg : target;
#pragma omp parallel for schedule(static) if (N > 2048)
        for (int n = 0; n < N; n++) {
            const float *h = out + (size_t)n * C, *e = E + (size_t)ids[n] * C;
            float *d = dout + (size_t)n * C, *r = s->rows + (size_t)n * C;
            for (int c = 0; c < C; c++) { d[c] += dl[n] * e[c]; r[c] = dl[n] * h[c]; }
        }
        sd_embedding_backward(dE, s->rows, ids, N, C, -1);
    }
}

struct sd_sasrec_ws {
    sd_seqenc_ws *enc;
    int32_t *tok;   /* embedding rows (item + 1) of the inputs */
    sd_item_loss loss;
};

sd_sasrec_ws *sd_sasrec_ws_new(const sd_sasrec *m, int max_seqs) {
    sd_sasrec_ws *ws = sd_xcalloc(1, sizeof *ws);
    ws->enc = sd_seqenc_ws_new(&m->enc, max_seqs, true);
    size_t N = (size_t)max_seqs * m->cfg.maxlen;
    ws->tok = sd_xmalloc(N * sizeof(int32_t));
    sd_item_loss_init(&ws->loss, N, m->cfg.dim);
    return ws;
}

void sd_sasrec_ws_free(sd_sasrec_ws *ws) {
    if (!ws) return;
    sd_seqenc_ws_free(ws->enc);
    free(ws->tok);
    sd_item_loss_free(&ws->loss);
    free(ws);
}

/* in[n] = E[tok[n]] * sqrt(C) */
static void embed_items(float *in, const float *E, const int32_t *tok, int N, int V, int C) {
    sd_embedding_forward(in, tok, E, N, V, C);
    float s = sqrtf((float)C);
    for (size_t i = 0; i < (size_t)N * C; i++) in[i] *= s;
}

float sd_sasrec_loss_forward(sd_sasrec *m, sd_sasrec_ws *ws, const sd_sasrec_batch *b, bool train, uint64_t step) {
    int N = b->N, C = m->cfg.dim;
    const float *E = sd_params_ptr(&m->p, m->item_emb);
    for (int n = 0; n < N; n++) ws->tok[n] = b->item[n] + 1;
    embed_items(sd_seqenc_input(&m->enc, ws->enc, b->B, N, train), E, ws->tok, N, m->n_items + 1, C);
    sd_packed pk = {b->B, N, b->len, b->off};
    const float *out = sd_seqenc_forward(&m->enc, &m->p, ws->enc, &pk, train, m->seed, step);
    return sd_item_loss_forward(&ws->loss, m->cfg.loss, out, E + C, m->n_items, b->target, b->neg, N, C);
}

void sd_sasrec_loss_backward(sd_sasrec *m, sd_sasrec_ws *ws, const sd_sasrec_batch *b) {
    int N = b->N, C = m->cfg.dim;
    size_t NC = (size_t)N * C;
    float *E = sd_params_ptr(&m->p, m->item_emb), *dE = sd_params_grad(&m->p, m->item_emb);
    const float *out = sd_seqenc_forward_out(ws->enc);
    float *dout = sd_seqenc_dout(ws->enc);
    memset(dout, 0, NC * sizeof(float));
    sd_item_loss_backward(&ws->loss, m->cfg.loss, dout, dE + C, out, E + C, m->n_items, b->target, b->neg, N, C,
                          b->scale > 0 ? b->scale : 1.0f);
    const float *din = sd_seqenc_backward(&m->enc, &m->p, ws->enc, &(sd_packed){b->B, N, b->len, b->off}, dout);
    float s = sqrtf((float)C), *rows = ws->loss.rows;
    for (size_t i = 0; i < NC; i++) rows[i] = din[i] * s;
    sd_embedding_backward(dE, rows, ws->tok, N, C, 0);
}

/* ---- scoring ---- */

/* Concurrent: every call takes its own workspace from the pool (eval/ws_pool.h). */
typedef struct scorer_model {
    sd_sasrec *m;
    bool own;
    int max_seqs;
    sd_ws_pool pool;
} scorer_model;

typedef struct scorer_ws {
    sd_seqenc_ws *ws;
    int32_t *len, *tok;
    int64_t *off;
} scorer_ws;

static void *scorer_ws_new(void *ctx) {
    scorer_model *s = ctx;
    scorer_ws *w = sd_xcalloc(1, sizeof *w);
    w->ws = sd_seqenc_ws_new(&s->m->enc, s->max_seqs, false);
    w->len = sd_xmalloc(sizeof(int32_t) * (size_t)s->max_seqs);
    w->off = sd_xmalloc(sizeof(int64_t) * ((size_t)s->max_seqs + 1));
    w->tok = sd_xmalloc(sizeof(int32_t) * (size_t)s->max_seqs * s->m->cfg.maxlen);
    return w;
}

static void scorer_ws_free(void *p) {
    scorer_ws *w = p;
    sd_seqenc_ws_free(w->ws);
    free(w->len); free(w->tok); free(w->off);
    free(w);
}

/* Last hidden state of each user's context (its last maxlen items); an empty context gets the
 * final LayerNorm of a zero vector, i.e. its bias. H: [n, C]. */
static void user_states(scorer_model *sm, int n, const int32_t *const *hist, const int32_t *hist_len, float *H) {
    sd_sasrec *m = sm->m;
    scorer_ws *s = sd_ws_pool_get(&sm->pool);
    int max_seqs = sm->max_seqs;
    int C = m->cfg.dim, T = m->cfg.maxlen;
    const float *E = sd_params_ptr(&m->p, m->item_emb), *last_b = sd_params_ptr(&m->p, m->enc.last_b);
    for (int u0 = 0; u0 < n; u0 += max_seqs) {
        int nb = n - u0 < max_seqs ? n - u0 : max_seqs, B = 0, N = 0;
        int32_t who[nb];
        s->off[0] = 0;
        for (int i = 0; i < nb; i++) {
            int hl = hist_len[u0 + i];
            if (hl <= 0) { memcpy(H + (size_t)(u0 + i) * C, last_b, (size_t)C * sizeof(float)); continue; }
            int L = hl < T ? hl : T;
            const int32_t *items = hist[u0 + i] + (hl - L);
            for (int t = 0; t < L; t++) s->tok[N + t] = items[t] + 1;
            N += L;
            s->len[B] = L;
            s->off[B + 1] = N;
            who[B++] = u0 + i;
        }
        if (!B) continue;
        embed_items(sd_seqenc_input(&m->enc, s->ws, B, N, false), E, s->tok, N, m->n_items + 1, C);
        const float *out = sd_seqenc_forward(&m->enc, &m->p, s->ws, &(sd_packed){B, N, s->len, s->off}, false, 0, 0);
        for (int b = 0; b < B; b++)
            memcpy(H + (size_t)who[b] * C, out + (size_t)(s->off[b + 1] - 1) * C, (size_t)C * sizeof(float));
    }
    sd_ws_pool_put(&sm->pool, s);
}

static int score_batch(void *model, int n_users, const int32_t *users, const int32_t *const *hist,
                       const int32_t *hist_len, float *scores, sd_err *err) {
    (void)users; (void)err;
    scorer_model *s = model;
    sd_sasrec *m = s->m;
    int C = m->cfg.dim;
    float *H = sd_afloats((size_t)n_users * C);
    user_states(s, n_users, hist, hist_len, H);
    const float *E = sd_params_ptr(&m->p, m->item_emb);
    sd_sgemm(false, true, n_users, m->n_items, C, 1.0f, H, C, E + C, C, 0.0f, scores, m->n_items);
    sd_afree(H);
    return 0;
}

static int score_candidates(void *model, int n_users, const int32_t *users, const int32_t *const *hist,
                            const int32_t *hist_len, int n_cand, const int32_t *cand, float *scores, sd_err *err) {
    (void)users; (void)err;
    scorer_model *s = model;
    sd_sasrec *m = s->m;
    int C = m->cfg.dim;
    float *H = sd_afloats((size_t)n_users * C);
    user_states(s, n_users, hist, hist_len, H);
    const float *E = sd_params_ptr(&m->p, m->item_emb);
#pragma omp parallel for schedule(static)
    for (int b = 0; b < n_users; b++)
        for (int j = 0; j < n_cand; j++)
            scores[(size_t)b * n_cand + j] = dot(H + (size_t)b * C, E + ((size_t)cand[(size_t)b * n_cand + j] + 1) * C, C);
    sd_afree(H);
    return 0;
}

static void scorer_free(void *model) {
    scorer_model *s = model;
    sd_ws_pool_free(&s->pool);
    if (s->own) { sd_sasrec_free(s->m); free(s->m); }
    free(s);
}

void sd_sasrec_scorer(sd_sasrec *m, bool own, sd_scorer *out) {
    scorer_model *s = sd_xcalloc(1, sizeof *s);
    s->m = m;
    s->own = own;
    s->max_seqs = 256;
    sd_ws_pool_init(&s->pool, scorer_ws_new, scorer_ws_free, s);
    *out = (sd_scorer){.name = "sasrec", .n_items = m->n_items, .model = s, .score_batch = score_batch,
                       .score_candidates = score_candidates, .concurrent = true, .batch_hint = 256,
                       .free = scorer_free};
}

sd_sasrec *sd_sasrec_of(const sd_scorer *sc) { return ((scorer_model *)sc->model)->m; }

/* ---- training ---- */

/* FNV-1a over the training data the loop sees (sequences and split), so a resume on changed data
 * is refused. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static cJSON *data_config(const sd_rec_trainer *tr, const sd_sequences *seq, const sd_split *sp) {
    cJSON *j = tr->ckpt_config ? cJSON_Duplicate(tr->ckpt_config, true) : cJSON_CreateObject();
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv(h, seq->offsets, ((size_t)seq->n_users + 1) * sizeof(int64_t));
    h = fnv(h, seq->items, (size_t)seq->n_inter * sizeof(int32_t));
    h = fnv(h, sp->train_len, (size_t)sp->n_users * sizeof(int32_t));
    if (sp->valid_pos) h = fnv(h, sp->valid_pos, (size_t)sp->n_users * sizeof(int32_t));
    char buf[24];
    snprintf(buf, sizeof buf, "%016llx", (unsigned long long)h);
    cJSON_AddNumberToObject(j, "data_users", seq->n_users);
    cJSON_AddNumberToObject(j, "data_items", seq->n_items);
    cJSON_AddNumberToObject(j, "data_interactions", (double)seq->n_inter);
    cJSON_AddStringToObject(j, "data_fingerprint", buf);
    return j;
}

/* sd_rec_fit as a client of the shared loop (nn/train.h). */
enum { MAX_SHARDS = 64, SHARD_MIN_POSITIONS = 256 };
typedef struct rec_fit {
    const sd_rec_trainer *tr;
    const sd_sequences *seq;
    const sd_split *sp;
    sd_seqbatcher *bt;
    sd_eval_opts eo;
    sd_fit_report *rep;
    /* data parallelism: T threads, thread t > 0 with its own model copy, workspace, gradients */
    int T;
    void *models[MAX_SHARDS], *ws[MAX_SHARDS];
    float *grads[MAX_SHARDS];
    int64_t *shard_off;
    /* and over MPI (nn/dist.h): R ranks of T threads cut each batch into R * T shards, rank r
     * running shards r*T .. r*T + T - 1 (the same shards and dropout keys as one process with
     * R * T threads) */
    int R, rank;
    sd_seqbatch *shards;
} rec_fit;

/* Small models (SASRec: d 50, a few thousand positions per batch) spend a step in hundreds of
 * short ops; parallel inside each op, the threads wait more than they work (the second core
 * ~40% busy). So with T threads a batch is cut into T shards of whole sequences, each thread runs
 * forward and backward of its shard with its ops serial (nested regions are inactive), and the
 * gradients are summed: one parallel region per step instead of hundreds. Each shard's gradient is
 * scaled by its share of the positions, so the sum is the whole batch's; dropout streams are keyed
 * by (step, shard), so a run is reproducible for a given --threads. */
static void shards_alloc(rec_fit *f) {
    f->R = sd_dist_size();
    f->rank = sd_dist_rank();
    if (f->T < 2 && f->R < 2) return;
    size_t G = (size_t)f->R * (size_t)f->T;
    f->shard_off = sd_xmalloc(sizeof(int64_t) * ((size_t)f->tr->opts->batch + G));
    f->shards = sd_xmalloc(sizeof(sd_seqbatch) * G);
}

static void shards_init(rec_fit *f) {
    const sd_rec_trainer *tr = f->tr;
    f->T = 1;
    int T = sd_threads();
    if (T > MAX_SHARDS) T = MAX_SHARDS;
    if (T > tr->opts->batch) T = tr->opts->batch;
    if (!tr->clone || !tr->ws_new || T < 2) { shards_alloc(f); return; }
    f->T = T;
    for (int t = 1; t < T; t++) {
        f->grads[t] = sd_afloats(tr->p->n); /* zero, and left zero after every step */
        memset(f->grads[t], 0, sizeof(float) * tr->p->n);
        f->models[t] = tr->clone(tr->model, f->grads[t]);
        f->ws[t] = tr->ws_new(tr->model, tr->opts->batch);
    }
    shards_alloc(f);
}

static void shards_free(rec_fit *f) {
    for (int t = 1; t < f->T; t++) {
        f->tr->ws_free(f->ws[t]);
        free(f->models[t]);
        sd_afree(f->grads[t]);
    }
    free(f->shard_off);
    free(f->shards);
}

static float sharded_step(rec_fit *f, const sd_seqbatch *b, uint64_t step) {
    const sd_rec_trainer *tr = f->tr;
    float loss[MAX_SHARDS];
    double tf = 0, tb = 0;
    int G = f->R * f->T, first = f->rank * f->T;
    int ns = sd_seqbatch_shard(b, G, f->shards, f->shard_off) - first;
    if (ns > f->T) ns = f->T;
    if (ns <= 0) return 0; /* a small batch left this rank no shard */
    const sd_seqbatch *sh = f->shards + first;
    sd_params *P = tr->p;
#pragma omp parallel num_threads(ns)
    {
        int t = omp_get_thread_num();
        void *m = t ? f->models[t] : tr->model, *ws = t ? f->ws[t] : tr->ws;
        double t0 = sd_now();
        loss[t] = tr->forward(m, ws, &sh[t], true, step * (uint64_t)G + (uint64_t)(first + t));
        double t1 = sd_now();
        tr->backward(m, ws, &sh[t]);
        if (!t) tf = t1 - t0, tb = sd_now() - t1;
    }
    double t2 = sd_now();
    /* Thread 0 added into P->grad itself; the others' buffers join it and are left zero for the
     * next step. Most of the gradient is embedding rows the shard never touched: blocks that are
     * all zero are skipped, so only the rows a shard used cost writes. */
    enum { BLK = 16 };
    size_t nblk = (P->n + BLK - 1) / BLK;
#pragma omp parallel for schedule(static) num_threads(ns)
    for (size_t k = 0; k < nblk; k++) {
        size_t a = k * BLK, e = a + BLK < P->n ? a + BLK : P->n;
        for (int t = 1; t < ns; t++) {
            float *g = f->grads[t];
            uint32_t any = 0;
            for (size_t i = a; i < e; i++) { uint32_t u; memcpy(&u, g + i, 4); any |= u; }
            if (!any) continue;
            for (size_t i = a; i < e; i++) { P->grad[i] += g[i]; g[i] = 0; }
        }
    }
    f->rep->phase_seconds[0] += tf;
    f->rep->phase_seconds[1] += tb + (sd_now() - t2);
    float total = 0;
    for (int t = 0; t < ns; t++) total += loss[t] * sh[t].scale;
    return total;
}

static int rec_epoch_begin(void *ctx, const sd_train_state *s, sd_err *err) {
    (void)err;
    sd_seqbatcher_epoch(((rec_fit *)ctx)->bt, s->epoch);
    return 0;
}

static int rec_next(void *ctx, const sd_train_state *s, float *loss, sd_err *err) {
    (void)err;
    rec_fit *f = ctx;
    const sd_rec_trainer *tr = f->tr;
    sd_sasrec_batch b;
    if (!sd_seqbatcher_next(f->bt, &b)) return 0;
    if (f->R > 1 || (f->T > 1 && b.N >= SHARD_MIN_POSITIONS)) {
        *loss = sharded_step(f, &b, (uint64_t)s->step);
        return 1;
    }
    double ta = sd_now();
    *loss = tr->forward(tr->model, tr->ws, &b, true, (uint64_t)s->step * (uint64_t)f->T);
    double tb = sd_now();
    tr->backward(tr->model, tr->ws, &b);
    f->rep->phase_seconds[0] += tb - ta;
    f->rep->phase_seconds[1] += sd_now() - tb;
    return 1;
}

static int rec_validate(void *ctx, const sd_train_state *s, double *metric, int *better, sd_err *err) {
    rec_fit *f = ctx;
    double t1 = sd_now();
    sd_metrics mv;
    int rc = sd_evaluate(f->tr->scorer, f->seq, f->sp, &f->eo, &mv, NULL, err);
    if (rc) return rc;
    *metric = mv.ndcg[1];
    *better = mv.ndcg[1] > s->best_metric;
    if (f->tr->opts->progress)
        sd_info("epoch %d: loss %.4f  valid NDCG@10 %.4f  HR@10 %.4f%s  (train %.1f s, eval %.1f s)", s->epoch,
                s->last_loss, mv.ndcg[1], mv.hit[1], *better ? "  *" : "", s->epoch_seconds, sd_now() - t1);
    if (*better) f->rep->best_valid = mv;
    if (f->rep->n_valid_log < SD_FIT_LOG_MAX)
        f->rep->valid_log[f->rep->n_valid_log++] =
            (sd_fit_log_row){.epoch = s->epoch, .loss = s->last_loss, .ndcg10 = mv.ndcg[1], .hit10 = mv.hit[1]};
    return 0;
}

/* The best validation metrics beside the loop's state (keys as sd_rec_fit has always written). */
static void rec_state_write(void *ctx, cJSON *o) {
    const sd_metrics *m = &((rec_fit *)ctx)->rep->best_valid;
    cJSON_AddNumberToObject(o, "valid_users", (double)m->n_users);
    char key[32];
    for (int i = 0; i < SD_METRIC_NK; i++) {
        snprintf(key, sizeof key, "valid_hit%d", i);
        sd_ckpt_put_bits(o, key, m->hit[i]);
        snprintf(key, sizeof key, "valid_ndcg%d", i);
        sd_ckpt_put_bits(o, key, m->ndcg[i]);
    }
    sd_ckpt_put_bits(o, "valid_mrr", m->mrr);
    sd_ckpt_put_bits(o, "valid_mean_rank", m->mean_rank);
    sd_ckpt_put_bits(o, "valid_median_rank", m->median_rank);
}

static int rec_state_read(void *ctx, const cJSON *o) {
    sd_metrics m = {0};
    int64_t nu;
    if (sd_ckpt_get_int(o, "valid_users", &nu) || sd_ckpt_get_bits(o, "valid_mrr", &m.mrr) ||
        sd_ckpt_get_bits(o, "valid_mean_rank", &m.mean_rank) || sd_ckpt_get_bits(o, "valid_median_rank", &m.median_rank))
        return -1;
    char key[32];
    for (int i = 0; i < SD_METRIC_NK; i++) {
        snprintf(key, sizeof key, "valid_hit%d", i);
        if (sd_ckpt_get_bits(o, key, &m.hit[i])) return -1;
        snprintf(key, sizeof key, "valid_ndcg%d", i);
        if (sd_ckpt_get_bits(o, key, &m.ndcg[i])) return -1;
    }
    m.n_users = nu;
    ((rec_fit *)ctx)->rep->best_valid = m;
    return 0;
}

int sd_rec_fit(const sd_rec_trainer *tr, const sd_sequences *seq, const sd_split *sp, sd_fit_report *rep, sd_err *err) {
    const sd_sasrec_cfg *c = tr->cfg;
    const sd_rec_ckpt_opts *ck = tr->ckpt && tr->ckpt->path ? tr->ckpt : NULL;
    memset(rep, 0, sizeof *rep);
    int rc = sd_sasrec_train_check(tr->opts, err);
    if (rc) return rc;
    sd_seqbatcher *bt = sd_seqbatcher_new(seq, sp, c->maxlen, tr->opts->batch, c->loss == SD_LOSS_BCE, tr->opts->seed);
    int32_t n_train = sd_seqbatcher_users(bt);
    if (n_train == 0) {
        sd_seqbatcher_free(bt);
        return sd_errf(err, SD_ESTATE, "%s: no user has two training items to learn from", tr->scorer->name);
    }
    rec_fit f = {.tr = tr, .seq = seq, .sp = sp, .bt = bt, .eo = sd_eval_defaults(), .rep = rep};
    shards_init(&f);
    f.eo.part = SD_PART_VALID;
    f.eo.progress = false;
    f.eo.seed = tr->opts->seed;
    /* the caller's training options; what the loop needs of a SASRec-family run is set here */
    sd_train_opts o = *tr->opts;
    o.batches_per_epoch = (n_train + o.batch - 1) / o.batch;
    if (o.accum < 1) o.accum = 1;
    o.lower_is_better = false;
    o.best_init = -1;
    o.progress_per_epoch = true;
    o.ckpt_kind = "sasrec";
    o.metric_key = "best_ndcg";
    o.name = tr->scorer->name;
    o.ckpt_path = NULL;
    o.ckpt_config = NULL;
    cJSON *config = ck ? data_config(tr, seq, sp) : NULL;
    if (ck) {
        o.ckpt_path = ck->path;
        o.ckpt_every = ck->every;
        o.stop_after = ck->stop_after;
        o.resume = ck->resume;
        o.ckpt_config = config;
    }
    sd_trainer t = {.p = tr->p, .ctx = &f, .next = rec_next, .epoch_begin = rec_epoch_begin,
                    .validate = rec_validate, .state_write = rec_state_write, .state_read = rec_state_read};
    sd_train_state s;
    rc = sd_train(&t, &o, &s, err);
    rep->epochs_run = s.epoch;
    rep->best_epoch = s.best_epoch;
    rep->last_loss = s.last_loss;
    rep->train_seconds = s.train_seconds;
    rep->eval_seconds = s.eval_seconds;
    rep->phase_seconds[2] = s.opt_seconds;
    rep->resumed_from = s.resumed_from;
    rep->interrupted = s.interrupted;
    cJSON_Delete(config);
    shards_free(&f);
    sd_seqbatcher_free(bt);
    return rc;
}

static float fwd_sasrec(void *m, void *ws, const sd_seqbatch *b, bool train, uint64_t step) {
    return sd_sasrec_loss_forward(m, ws, b, train, step);
}
static void bwd_sasrec(void *m, void *ws, const sd_seqbatch *b) { sd_sasrec_loss_backward(m, ws, b); }
static void *clone_sasrec(const void *m, float *grad) {
    sd_sasrec *c = sd_xmalloc(sizeof *c);
    *c = *(const sd_sasrec *)m; /* shares weights, views and config; only the gradients differ */
    c->p.grad = grad;
    return c;
}
static void *ws_new_sasrec(const void *m, int max_seqs) { return sd_sasrec_ws_new(m, max_seqs); }
static void ws_free_sasrec(void *ws) { sd_sasrec_ws_free(ws); }

int sd_sasrec_fit_ckpt(sd_sasrec *m, const sd_train_opts *o, const sd_sequences *seq, const sd_split *sp,
                       const sd_rec_ckpt_opts *ck, sd_fit_report *rep, sd_err *err) {
    int rc = sd_sasrec_train_check(o, err);
    if (rc) return rc;
    sd_scorer sc;
    sd_sasrec_scorer(m, false, &sc);
    sd_sasrec_ws *ws = sd_sasrec_ws_new(m, o->batch);
    cJSON *config = NULL;
    if (ck) {
        config = sd_sasrec_train_json(&m->cfg, o);
        cJSON_AddStringToObject(config, "model_type", "sasrec");
        cJSON_AddNumberToObject(config, "n_items", m->n_items);
    }
    sd_rec_trainer tr = {.cfg = &m->cfg, .opts = o, .p = &m->p, .model = m, .ws = ws, .forward = fwd_sasrec,
                         .backward = bwd_sasrec, .clone = clone_sasrec, .ws_new = ws_new_sasrec,
                         .ws_free = ws_free_sasrec, .scorer = &sc, .ckpt = ck, .ckpt_config = config};
    rc = sd_rec_fit(&tr, seq, sp, rep, err);
    cJSON_Delete(config);
    sd_sasrec_ws_free(ws);
    sd_scorer_free(&sc);
    return rc;
}

int sd_sasrec_fit(sd_sasrec *m, const sd_train_opts *o, const sd_sequences *seq, const sd_split *sp,
                  sd_fit_report *rep, sd_err *err) {
    return sd_sasrec_fit_ckpt(m, o, seq, sp, NULL, rep, err);
}

/* ---- files ---- */

cJSON *sd_sasrec_train_json(const sd_sasrec_cfg *c, const sd_train_opts *o) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "dim", c->dim);
    cJSON_AddNumberToObject(j, "blocks", c->blocks);
    cJSON_AddNumberToObject(j, "heads", c->heads);
    cJSON_AddNumberToObject(j, "maxlen", c->maxlen);
    cJSON_AddNumberToObject(j, "dropout", c->dropout);
    cJSON_AddStringToObject(j, "block", sd_seqenc_block_name(c->block));
    cJSON_AddStringToObject(j, "loss", sd_rec_loss_name(c->loss));
    if (!o) return j;
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    cJSON_AddNumberToObject(j, "lr", o->adam.lr);
    cJSON_AddNumberToObject(j, "beta1", o->adam.beta1);
    cJSON_AddNumberToObject(j, "beta2", o->adam.beta2);
    cJSON_AddNumberToObject(j, "weight_decay", o->adam.weight_decay);
    cJSON_AddNumberToObject(j, "warmup", (double)o->warmup);
    cJSON_AddBoolToObject(j, "cosine", o->schedule == SD_LR_COSINE);
    cJSON_AddNumberToObject(j, "clip", o->clip);
    cJSON_AddNumberToObject(j, "batch", o->batch);
    cJSON_AddNumberToObject(j, "epochs", o->epochs);
    cJSON_AddNumberToObject(j, "eval_every", o->eval_every_epochs);
    cJSON_AddNumberToObject(j, "patience", o->patience);
    cJSON_AddStringToObject(j, "seed", seed);
    return j;
}

/* config.json: the training options (as in checkpoints) plus what a loader needs. */
static cJSON *cfg_json(const sd_sasrec *m, const sd_train_opts *trained) {
    cJSON *j = sd_sasrec_train_json(&m->cfg, trained);
    cJSON_AddStringToObject(j, "model_type", "sasrec");
    cJSON_AddNumberToObject(j, "n_items", m->n_items);
    return j;
}

int sd_sasrec_save(const sd_sasrec *m, const sd_train_opts *trained, const char *dir, const char *extra_json,
                   sd_err *err) {
    char *path = sd_path_join(dir, "model.safetensors");
    int rc = sd_rec_params_save(&m->p, path, err);
    free(path);
    if (rc) return rc;
    cJSON *j = cfg_json(m, trained);
    cJSON *extra = extra_json ? cJSON_Parse(extra_json) : NULL;
    if (extra) {
        cJSON *it = extra->child;
        while (it) {
            cJSON *next = it->next;
            cJSON_AddItemToObject(j, it->string, cJSON_DetachItemViaPointer(extra, it));
            it = next;
        }
        cJSON_Delete(extra);
    }
    path = sd_path_join(dir, "config.json");
    rc = sd_rec_write_json(path, j, err);
    free(path);
    cJSON_Delete(j);
    return rc;
}

int sd_sasrec_load(sd_sasrec *m, const char *dir, int32_t n_items, sd_err *err) {
    char *path = sd_path_join(dir, "config.json");
    cJSON *j = NULL;
    int rc = sd_json_read_file(path, &j, err);
    if (!rc && !cJSON_IsObject(j)) rc = sd_errf(err, SD_EFORMAT, "%s: not a JSON object", path);
    sd_sasrec_cfg c = sd_sasrec_defaults();
    uint64_t seed = sd_sasrec_train_defaults().seed;
    int ni = 0;
    if (!rc) rc = sd_json_get_int(j, "n_items", &ni, path, err);
    if (!rc) rc = sd_json_get_int(j, "dim", &c.dim, path, err);
    if (!rc) rc = sd_json_get_int(j, "blocks", &c.blocks, path, err);
    if (!rc) rc = sd_json_get_int(j, "heads", &c.heads, path, err);
    if (!rc) rc = sd_json_get_int(j, "maxlen", &c.maxlen, path, err);
    if (!rc) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "loss");
        if (cJSON_IsString(l)) sd_rec_loss_parse(l->valuestring, &c.loss);
        c.block = sd_seqenc_block_of_json(j);
        /* a string keeps all 64 bits; older files wrote a number */
        const cJSON *sv = cJSON_GetObjectItemCaseSensitive(j, "seed");
        if (cJSON_IsString(sv)) seed = strtoull(sv->valuestring, NULL, 10);
        else if (cJSON_IsNumber(sv)) seed = (uint64_t)sv->valuedouble;
    }
    if (!rc && ni != n_items)
        rc = sd_errf(err, SD_ESTATE, "%s: model has %d items, the work directory %d (retrain: semid sasrec)", path,
                     ni, (int)n_items);
    if (!rc && (rc = sd_sasrec_cfg_check(&c, err))) sd_err_prefix(err, "%s: ", path);
    cJSON_Delete(j);
    free(path);
    if (rc) return rc;
    declare(m, &c, n_items);
    m->seed = seed;
    path = sd_path_join(dir, "model.safetensors");
    rc = sd_rec_params_load(&m->p, path, err);
    free(path);
    if (rc) sd_sasrec_free(m);
    return rc;
}
