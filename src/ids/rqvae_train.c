#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/progress.h"
#include "base/rng.h"
#include "ids/kmeans.h"
#include "ids/rqvae.h"
#include "nn/optim.h"
#include "nn/train.h"

/* rng streams of one training run, all keyed by the seed */
enum { STREAM_SPLIT = 1, STREAM_KMEANS = 2, STREAM_RESET = 3, STREAM_EPOCH = 1000 };

void sd_rqvae_train_defaults(sd_rqvae_train_opts *o) {
    memset(o, 0, sizeof *o);
    sd_train_opts *c = &o->common;
    *c = sd_train_defaults();
    c->epochs = 100;
    c->batch = 1024;
    c->adam.lr = 3e-4;
    c->adam.weight_decay = 0.01;
    c->schedule = SD_LR_COSINE;
    c->lr_min = 1e-6;
    c->clip = 1.0f;
    c->warmup = 200;
    c->eval_every_steps = 0;
    c->progress = NULL;
    c->name = "rqvae";
    o->reset_every = 0;
    o->val_frac = 0.05;
    o->kmeans_iters = 25;
}

int sd_rqvae_train_check(const sd_rqvae_train_opts *o, sd_err *err) {
    const sd_train_opts *c = &o->common;
    double lr = c->adam.lr;
    if (c->epochs < 1) return sd_errf(err, SD_EUSAGE, "rqvae: epochs %d < 1", c->epochs);
    if (c->batch < 1) return sd_errf(err, SD_EUSAGE, "rqvae: batch %d < 1", c->batch);
    if (!(lr > 0) || !isfinite(lr)) return sd_errf(err, SD_EUSAGE, "rqvae: learning rate %g must be > 0", lr);
    if (!(c->lr_min >= 0) || c->lr_min > lr)
        return sd_errf(err, SD_EUSAGE, "rqvae: final learning rate %g must be in [0, %g]", c->lr_min, lr);
    if (!(c->adam.weight_decay >= 0)) return sd_errf(err, SD_EUSAGE, "rqvae: weight decay %g < 0", c->adam.weight_decay);
    if (!(c->clip >= 0)) return sd_errf(err, SD_EUSAGE, "rqvae: clip %g < 0", c->clip);
    if (c->warmup < 0) return sd_errf(err, SD_EUSAGE, "rqvae: warmup %lld < 0", (long long)c->warmup);
    if (c->eval_every_steps < 0)
        return sd_errf(err, SD_EUSAGE, "rqvae: validation every %lld steps < 0", (long long)c->eval_every_steps);
    if (!(o->val_frac >= 0 && o->val_frac < 0.5))
        return sd_errf(err, SD_EUSAGE, "rqvae: validation share %g must be in [0, 0.5)", o->val_frac);
    if (!(o->code_pull >= 0 && o->code_pull <= 1))
        return sd_errf(err, SD_EUSAGE, "rqvae: code pull %g must be in [0, 1]", o->code_pull);
    if (o->init_rows < 0) return sd_errf(err, SD_EUSAGE, "rqvae: init rows %d < 0", o->init_rows);
    return 0;
}

static int check_finite(const float *x, int64_t n, int d, sd_err *err) {
    int64_t bad = -1;
#pragma omp parallel for schedule(static) reduction(max : bad)
    for (int64_t i = 0; i < n * d; i++)
        if (!isfinite(x[i]) && bad < 0) bad = i;
    /* the max over threads is some bad element; report the first one */
    if (bad < 0) return 0;
    for (int64_t i = 0; i < n * d; i++)
        if (!isfinite(x[i]))
            return sd_errf(err, SD_EFORMAT, "rqvae: input row %lld, column %lld: not a finite number", (long long)(i / d),
                           (long long)(i % d));
    return 0;
}

static void gather(float *dst, const float *x, const int64_t *rows, int b, int d) {
#pragma omp parallel for schedule(static) if ((long)b * d > 65536)
    for (int i = 0; i < b; i++) memcpy(dst + (size_t)i * d, x + rows[i] * d, sizeof(float) * (size_t)d);
}

/* Per-dimension mean and standard deviation (population; 1 where a column is constant) of the
 * training rows, accumulated in double in row order. */
static void input_stats(sd_rqvae *m, const float *x, const int64_t *rows, int64_t n) {
    int d = m->cfg.dim;
    float *mu = sd_params_ptr(&m->params, m->in_mean), *sd = sd_params_ptr(&m->params, m->in_std);
#pragma omp parallel for schedule(static)
    for (int j = 0; j < d; j++) {
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < n; i++) s += x[rows[i] * d + j];
        double mean = s / (double)n;
        for (int64_t i = 0; i < n; i++) {
            double v = x[rows[i] * d + j] - mean;
            s2 += v * v;
        }
        double sdv = sqrt(s2 / (double)n);
        mu[j] = (float)mean;
        sd[j] = sdv > 1e-8 ? (float)sdv : 1.0f;
    }
}

/* Level-by-level k-means on the residuals of the first rows: codebook l from r_l, then
 * r_{l+1} = r_l - nearest code. */
static int kmeans_init(sd_rqvae *m, sd_rqvae_ws *ws, const float *x, const int64_t *rows, int nrows, int kmeans_iters,
                       uint64_t seed, sd_err *err) {
    int lat = m->cfg.latent, K = m->cfg.codes, L = m->cfg.levels, D = m->cfg.dim;
    float *resid = sd_xmalloc(sizeof(float) * (size_t)nrows * lat);
    float *xb = sd_xmalloc(sizeof(float) * (size_t)ws->max_rows * D);
    int32_t *assign = sd_xmalloc(sizeof(int32_t) * (size_t)nrows);
    for (int i0 = 0; i0 < nrows; i0 += ws->max_rows) {
        int b = nrows - i0 < ws->max_rows ? nrows - i0 : ws->max_rows;
        gather(xb, x, rows + i0, b, D);
        sd_rqvae_forward(m, ws, xb, b, NULL);
        memcpy(resid + (size_t)i0 * lat, ws->enc_pre[m->n_layers - 1], sizeof(float) * (size_t)b * lat);
    }
    int rc = 0;
    for (int l = 0; l < L && !rc; l++) {
        sd_kmeans_opts o;
        sd_kmeans_defaults(&o, K);
        o.max_iters = kmeans_iters;
        o.seed = sd_mix64(seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(l + 1)));
        float *book = sd_rqvae_codebook(m, l);
        rc = sd_kmeans(resid, nrows, lat, &o, book, assign, NULL, err);
        if (rc) {
            sd_err_prefix(err, "rqvae: codebook %d initialisation", l);
            break;
        }
        for (int i = 0; i < nrows; i++)
            for (int j = 0; j < lat; j++) resid[(size_t)i * lat + j] -= book[(size_t)assign[i] * lat + j];
    }
    free(resid);
    free(xb);
    free(assign);
    return rc;
}

/* Unused codes of each level take distinct random residuals r_l of the batch in ws (as many as
 * the batch has rows; any left over wait for the next check). */
static int64_t reset_unused(sd_rqvae *m, sd_rqvae_ws *ws, int64_t *usage, sd_rng *rng) {
    int K = m->cfg.codes, L = m->cfg.levels, lat = m->cfg.latent, B = ws->rows;
    int64_t total = 0;
    int32_t *pick = sd_xmalloc(sizeof(int32_t) * (size_t)B);
    for (int l = 0; l < L; l++) {
        int64_t *u = usage + (size_t)l * K;
        for (int i = 0; i < B; i++) pick[i] = i;
        float *book = sd_rqvae_codebook(m, l);
        const float *r = ws->resid + (size_t)l * B * lat;
        int next = 0;
        for (int k = 0; k < K && next < B; k++) {
            if (u[k]) continue;
            /* partial Fisher-Yates: pick[next] becomes a fresh random row */
            int j = next + (int)sd_rng_below(rng, (uint64_t)(B - next));
            int32_t t = pick[next]; pick[next] = pick[j]; pick[j] = t;
            memcpy(book + (size_t)k * lat, r + (size_t)pick[next] * lat, sizeof(float) * (size_t)lat);
            next++;
        }
        total += next;
        memset(u, 0, sizeof(int64_t) * (size_t)K);
    }
    free(pick);
    return total;
}

/* Every code chosen in the batch in ws moves the share g of the way to the mean of the residuals
 * that chose it (a Lloyd step damped by g). Gradient steps move a code at most ~lr per coordinate
 * while the encoder's latent spreads as it learns. Measured (bench_rqvae, 3 x 256): on 16k x 256
 * items g = 0.1 lifts distinct prefixes at 20 epochs from 54% to 95% with a lower loss, but on
 * 66k x 1024 it lowers them (6 epochs: 83% -> 64%) while the loss falls further: off by default. */
static void pull_codes(sd_rqvae *m, sd_rqvae_ws *ws, double g, double *sum, int64_t *cnt) {
    int K = m->cfg.codes, L = m->cfg.levels, lat = m->cfg.latent, B = ws->rows;
    for (int l = 0; l < L; l++) {
        memset(sum, 0, sizeof(double) * (size_t)K * lat);
        memset(cnt, 0, sizeof(int64_t) * (size_t)K);
        const float *r = ws->resid + (size_t)l * B * lat;
        for (int i = 0; i < B; i++) {
            int k = ws->codes[(size_t)i * L + l];
            cnt[k]++;
            for (int j = 0; j < lat; j++) sum[(size_t)k * lat + j] += r[(size_t)i * lat + j];
        }
        float *book = sd_rqvae_codebook(m, l);
        for (int k = 0; k < K; k++) {
            if (!cnt[k]) continue;
            for (int j = 0; j < lat; j++) {
                float *c = book + (size_t)k * lat + j;
                *c += (float)(g * (sum[(size_t)k * lat + j] / (double)cnt[k] - *c));
            }
        }
    }
}

/* Mean loss per item (sum reduction) or per element (mean reduction) over the validation rows. */
static double validate(sd_rqvae *m, sd_rqvae_ws *ws, float *xb, const float *x, const int64_t *rows, int64_t n) {
    double s = 0;
    for (int64_t i0 = 0; i0 < n; i0 += ws->max_rows) {
        int b = (int)(n - i0 < ws->max_rows ? n - i0 : ws->max_rows);
        gather(xb, x, rows + i0, b, m->cfg.dim);
        s += sd_rqvae_forward(m, ws, xb, b, NULL) * b;
    }
    return s / (double)n;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Distinct code tuples per item over n items (the "unique IDs" figure of semantic-ids-llm). Tuples compared by a 64-bit hash (a false merge has
 * odds ~n^2 / 2^65). codes [n, levels] and keys [n] are scratch. */
static double distinct_share(sd_rqvae *m, const float *x, int64_t n, int32_t *codes, uint64_t *keys) {
    int L = m->cfg.levels;
    sd_rqvae_encode(m, x, n, 4096, codes);
    for (int64_t i = 0; i < n; i++) {
        uint64_t h = 0x9e3779b97f4a7c15ull;
        for (int l = 0; l < L; l++) h = sd_mix64(h ^ (uint64_t)(uint32_t)codes[i * L + l]);
        keys[i] = h;
    }
    qsort(keys, (size_t)n, sizeof *keys, cmp_u64);
    int64_t d = n > 0;
    for (int64_t i = 1; i < n; i++) d += keys[i] != keys[i - 1];
    return n ? (double)d / (double)n : 0;
}

static int levels_used(const int64_t *usage, int K, int l) {
    int c = 0;
    for (int k = 0; k < K; k++) c += usage[(size_t)l * K + k] > 0;
    return c;
}

/* sd_rqvae_train as a client of the shared loop (nn/train.h). */
typedef struct rq_fit {
    sd_rqvae *m;
    sd_rqvae_ws ws;
    const sd_rqvae_train_opts *o;
    const float *x;
    int64_t n, n_train, n_val, spe, bi, reset_every;
    const int64_t *val_rows;
    int64_t *order, warmup;
    float *xb;
    int64_t *usage;
    int32_t *all_codes;
    uint64_t *keys;
    double *pull_sum;
    int64_t *pull_cnt;
    sd_rng reset_rng;
    sd_rqvae_loss lo;      /* parts of the last step's loss (for the log) */
    int used[3];           /* codes chosen since the last check, before a reset (for the log) */
    char note[128];
    sd_rqvae_train_stats s;
} rq_fit;

static void shuffle(int64_t *order, int64_t n, uint64_t seed, uint64_t stream) {
    sd_rng rng;
    sd_rng_stream(&rng, seed, stream);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)sd_rng_below(&rng, (uint64_t)i + 1), t = order[i];
        order[i] = order[j], order[j] = t;
    }
}

static int rq_epoch_begin(void *ctx, const sd_train_state *s, sd_err *err) {
    (void)err;
    rq_fit *f = ctx;
    /* epoch 0's order was drawn before the k-means initialisation (it picks its rows) */
    if (s->epoch > 1) shuffle(f->order, f->n_train, f->o->common.seed, STREAM_EPOCH + (uint64_t)(s->epoch - 1));
    f->bi = 0;
    return 0;
}

static int rq_next(void *ctx, const sd_train_state *s, float *loss, sd_err *err) {
    rq_fit *f = ctx;
    if (f->bi == f->spe) return 0;
    /* spe batches of near-equal size, so no short last batch skews a step or a reset */
    int64_t i0 = f->bi * f->n_train / f->spe;
    int b = (int)((f->bi + 1) * f->n_train / f->spe - i0);
    gather(f->xb, f->x, f->order + i0, b, f->m->cfg.dim);
    f->s.last_train = sd_rqvae_forward(f->m, &f->ws, f->xb, b, &f->lo);
    if (!isfinite(f->s.last_train))
        return sd_errf(err, SD_ERANGE, "rqvae: loss is not finite at step %lld (lower --lr?)", (long long)s->step);
    sd_rqvae_backward(f->m, &f->ws);
    f->bi++;
    *loss = (float)f->s.last_train;
    return 1;
}

static void rq_after_step(void *ctx, const sd_train_state *s) {
    rq_fit *f = ctx;
    sd_rqvae *m = f->m;
    int K = m->cfg.codes, L = m->cfg.levels, b = f->ws.rows;
    if (f->o->code_pull > 0) pull_codes(m, &f->ws, f->o->code_pull, f->pull_sum, f->pull_cnt);
    for (int i = 0; i < b; i++)
        for (int l = 0; l < L; l++) f->usage[(size_t)l * K + f->ws.codes[(size_t)i * L + l]]++;
    if (f->o->common.progress) {
        char txt[64] = "";
        for (int l = 0; l < L && l < 4; l++)
            snprintf(txt + strlen(txt), sizeof txt - strlen(txt), "%s%d", l ? "/" : "", levels_used(f->usage, K, l));
        snprintf(f->note, sizeof f->note, "loss %.4g val %.4g used %s", f->s.last_train, f->s.best_val, txt);
    }
    for (int l = 0; l < 3; l++) f->used[l] = l < L ? levels_used(f->usage, K, l) : 0;
    if (f->o->reset_every >= 0 && s->step % f->reset_every == 0 && s->step >= f->warmup)
        f->s.codes_reset += reset_unused(m, &f->ws, f->usage, &f->reset_rng);
}

static void rq_note(void *ctx, const sd_train_state *s, char *buf, size_t cap) {
    (void)s;
    snprintf(buf, cap, "%s", ((rq_fit *)ctx)->note);
}

/* after the reset: validation reuses ws */
static int rq_validate(void *ctx, const sd_train_state *s, double *metric, int *better, sd_err *err) {
    (void)err;
    rq_fit *f = ctx;
    sd_rqvae *m = f->m;
    int L = m->cfg.levels;
    double v = f->n_val ? validate(m, &f->ws, f->xb, f->x, f->val_rows, f->n_val) : f->s.last_train;
    double dist = f->all_codes ? distinct_share(m, f->x, f->n, f->all_codes, f->keys) : -1;
    sd_debug("rq-vae step %lld: train %.5g (recon %.5g, codebook %.4g/%.4g/%.4g) val %.5g, used %d/%d/%d, "
             "distinct %.4f",
             (long long)s->step, f->lo.total, f->lo.recon, f->lo.quant[0], L > 1 ? f->lo.quant[1] : 0,
             L > 2 ? f->lo.quant[2] : 0, v, f->used[0], f->used[1], f->used[2], dist);
    *better = f->o->keep == SD_RQVAE_KEEP_DISTINCT ? dist > f->s.best_distinct || (dist == f->s.best_distinct && v < f->s.best_val)
                                                   : v < f->s.best_val;
    if (*better) {
        f->s.best_val = v;
        f->s.best_distinct = dist;
        f->s.best_step = s->step;
    }
    *metric = v;
    return 0;
}

int sd_rqvae_train(sd_rqvae *m, const float *x, int64_t n, const sd_rqvae_train_opts *o, sd_rqvae_train_stats *st,
                   sd_err *err) {
    double t0 = sd_now();
    int rc = sd_rqvae_train_check(o, err);
    if (rc) return rc;
    int D = m->cfg.dim, K = m->cfg.codes, L = m->cfg.levels;
    if (n < 1) return sd_errf(err, SD_ERANGE, "rqvae: no items to train on");
    if ((rc = check_finite(x, n, D, err))) return rc;
    int64_t n_val = (int64_t)floor((double)n * o->val_frac), n_train = n - n_val;
    if (n_train < K)
        return sd_errf(err, SD_ERANGE, "rqvae: %d codes per level need at least as many training items (have %lld)", K,
                       (long long)n_train);

    /* split: a seeded permutation, validation first */
    int64_t *perm = sd_xmalloc(sizeof(int64_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    shuffle(perm, n, o->common.seed, STREAM_SPLIT);
    rq_fit f = {.m = m, .o = o, .x = x, .n = n, .n_train = n_train, .n_val = n_val, .val_rows = perm};
    f.order = sd_xmalloc(sizeof(int64_t) * (size_t)n_train);
    memcpy(f.order, perm + n_val, sizeof(int64_t) * (size_t)n_train);

    sd_params *p = &m->params;
    float *mu = sd_params_ptr(p, m->in_mean), *sdv = sd_params_ptr(p, m->in_std);
    if (o->standardize) input_stats(m, x, f.order, n_train);
    else for (int j = 0; j < D; j++) mu[j] = 0, sdv[j] = 1;

    const sd_train_opts *c = &o->common;
    int B = (int)(c->batch < n_train ? c->batch : n_train);
    int64_t spe = (n_train + B - 1) / B, total = spe * c->epochs;
    f.spe = spe;
    f.warmup = c->warmup < total / 10 ? c->warmup : total / 10;
    f.reset_every = o->reset_every == 0 ? spe : o->reset_every;
    sd_rqvae_ws_init(&f.ws, m, B);
    f.xb = sd_xmalloc(sizeof(float) * (size_t)B * D);
    f.usage = sd_xcalloc((size_t)L * K, sizeof(int64_t));
    f.all_codes = o->keep == SD_RQVAE_KEEP_DISTINCT ? sd_xmalloc(sizeof(int32_t) * (size_t)n * L) : NULL;
    f.keys = f.all_codes ? sd_xmalloc(sizeof(uint64_t) * (size_t)n) : NULL;
    f.pull_sum = o->code_pull > 0 ? sd_xmalloc(sizeof(double) * (size_t)K * m->cfg.latent) : NULL;
    f.pull_cnt = o->code_pull > 0 ? sd_xmalloc(sizeof(int64_t) * (size_t)K) : NULL;
    f.s = (sd_rqvae_train_stats){.n_train = n_train, .n_val = n_val, .batch = B, .warmup = (int)f.warmup,
                                 .best_val = INFINITY, .best_distinct = -1};

    /* epoch 0's order also picks the k-means rows */
    shuffle(f.order, n_train, c->seed, STREAM_EPOCH);
    int64_t init_rows = o->init_rows ? o->init_rows : (B > 64 * K ? B : 64 * K);
    if (init_rows > n_train) init_rows = n_train;
    if (init_rows < K) init_rows = K;
    rc = kmeans_init(m, &f.ws, x, f.order, (int)init_rows, o->kmeans_iters > 0 ? o->kmeans_iters : 25,
                     sd_mix64(c->seed + STREAM_KMEANS), err);

    sd_rng_stream(&f.reset_rng, c->seed, STREAM_RESET);
    /* the caller's training options; what the loop needs of an RQ-VAE run is set here (one
     * batch per step: the dead-code checks count steps of one batch) */
    sd_train_opts to = *c;
    to.batches_per_epoch = spe;
    to.accum = 1;
    to.warmup = f.warmup;
    to.eval_every_steps = c->eval_every_steps > 0 ? c->eval_every_steps : spe;
    to.lower_is_better = true;
    to.best_init = INFINITY;
    to.name = "rqvae";
    to.ckpt_path = NULL;
    sd_trainer t = {.p = p, .ctx = &f, .next = rq_next, .epoch_begin = rq_epoch_begin, .after_step = rq_after_step,
                    .validate = rq_validate, .note = rq_note};
    sd_train_state ts = {0};
    if (!rc) rc = sd_train(&t, &to, &ts, err);
    f.s.steps = ts.step;
    f.s.seconds = sd_now() - t0;
    if (st) *st = f.s;
    free(f.all_codes);
    free(f.pull_sum);
    free(f.pull_cnt);
    free(f.keys);
    free(f.usage);
    free(f.xb);
    sd_rqvae_ws_free(&f.ws);
    free(f.order);
    free(perm);
    return rc;
}
