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

/* rng streams of one training run, all keyed by the seed */
enum { STREAM_SPLIT = 1, STREAM_KMEANS = 2, STREAM_RESET = 3, STREAM_EPOCH = 1000 };

void sd_rqvae_train_defaults(sd_rqvae_train_opts *o) {
    memset(o, 0, sizeof *o);
    o->epochs = 100;
    o->batch = 1024;
    o->lr = 3e-4;
    o->lr_min = 1e-6;
    o->weight_decay = 0.01;
    o->clip = 1.0;
    o->warmup = 200;
    o->reset_every = 0;
    o->val_frac = 0.05;
    o->eval_every = 0;
    o->kmeans_iters = 25;
}

int sd_rqvae_train_check(const sd_rqvae_train_opts *o, sd_err *err) {
    if (o->epochs < 1) return sd_errf(err, SD_EUSAGE, "rqvae: epochs %d < 1", o->epochs);
    if (o->batch < 1) return sd_errf(err, SD_EUSAGE, "rqvae: batch %d < 1", o->batch);
    if (!(o->lr > 0) || !isfinite(o->lr)) return sd_errf(err, SD_EUSAGE, "rqvae: learning rate %g must be > 0", o->lr);
    if (!(o->lr_min >= 0) || o->lr_min > o->lr)
        return sd_errf(err, SD_EUSAGE, "rqvae: final learning rate %g must be in [0, %g]", o->lr_min, o->lr);
    if (!(o->weight_decay >= 0)) return sd_errf(err, SD_EUSAGE, "rqvae: weight decay %g < 0", o->weight_decay);
    if (!(o->clip >= 0)) return sd_errf(err, SD_EUSAGE, "rqvae: clip %g < 0", o->clip);
    if (o->warmup < 0) return sd_errf(err, SD_EUSAGE, "rqvae: warmup %d < 0", o->warmup);
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
    sd_rng rng;
    int64_t *perm = sd_xmalloc(sizeof(int64_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    sd_rng_stream(&rng, o->seed, STREAM_SPLIT);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)sd_rng_below(&rng, (uint64_t)i + 1), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    const int64_t *val_rows = perm;
    int64_t *order = sd_xmalloc(sizeof(int64_t) * (size_t)n_train);
    memcpy(order, perm + n_val, sizeof(int64_t) * (size_t)n_train);

    sd_params *p = &m->params;
    float *mu = sd_params_ptr(p, m->in_mean), *sdv = sd_params_ptr(p, m->in_std);
    if (o->standardize) input_stats(m, x, order, n_train);
    else for (int j = 0; j < D; j++) mu[j] = 0, sdv[j] = 1;

    int B = (int)(o->batch < n_train ? o->batch : n_train);
    int64_t spe = (n_train + B - 1) / B, total = spe * o->epochs;
    int64_t warmup = o->warmup < total / 10 ? o->warmup : total / 10;
    int64_t reset_every = o->reset_every == 0 ? spe : o->reset_every;
    int64_t eval_every = o->eval_every > 0 ? o->eval_every : spe;
    sd_rqvae_ws ws;
    sd_rqvae_ws_init(&ws, m, B);
    float *xb = sd_xmalloc(sizeof(float) * (size_t)B * D);
    int64_t *usage = sd_xcalloc((size_t)L * K, sizeof(int64_t));
    float *best = sd_xmalloc(sizeof(float) * p->n);
    int32_t *all_codes = o->keep == SD_RQVAE_KEEP_DISTINCT ? sd_xmalloc(sizeof(int32_t) * (size_t)n * L) : NULL;
    uint64_t *keys = all_codes ? sd_xmalloc(sizeof(uint64_t) * (size_t)n) : NULL;
    double *pull_sum = o->code_pull > 0 ? sd_xmalloc(sizeof(double) * (size_t)K * m->cfg.latent) : NULL;
    int64_t *pull_cnt = o->code_pull > 0 ? sd_xmalloc(sizeof(int64_t) * (size_t)K) : NULL;
    sd_params_alloc_train(p);
    sd_adamw opt = sd_adamw_default();
    opt.lr = o->lr;
    opt.weight_decay = o->weight_decay;
    sd_rqvae_train_stats s = {.n_train = n_train, .n_val = n_val, .batch = B, .warmup = (int)warmup, .best_val = INFINITY,
                              .best_distinct = -1};

    /* epoch 0's order also picks the k-means rows */
    sd_rng_stream(&rng, o->seed, STREAM_EPOCH);
    for (int64_t i = n_train - 1; i > 0; i--) {
        int64_t j = (int64_t)sd_rng_below(&rng, (uint64_t)i + 1), t = order[i];
        order[i] = order[j], order[j] = t;
    }
    int64_t init_rows = o->init_rows ? o->init_rows : (B > 64 * K ? B : 64 * K);
    if (init_rows > n_train) init_rows = n_train;
    if (init_rows < K) init_rows = K;
    rc = kmeans_init(m, &ws, x, order, (int)init_rows, o->kmeans_iters > 0 ? o->kmeans_iters : 25,
                     sd_mix64(o->seed + STREAM_KMEANS), err);

    sd_progress pg;
    sd_progress_start(&pg, o->progress ? o->progress : "rq-vae", o->progress ? total : 0, "step");
    if (!o->progress) pg.active = false;
    sd_rng reset_rng;
    sd_rng_stream(&reset_rng, o->seed, STREAM_RESET);
    int64_t step = 0;
    for (int epoch = 0; epoch < o->epochs && !rc; epoch++) {
        if (epoch) {
            sd_rng_stream(&rng, o->seed, STREAM_EPOCH + (uint64_t)epoch);
            for (int64_t i = n_train - 1; i > 0; i--) {
                int64_t j = (int64_t)sd_rng_below(&rng, (uint64_t)i + 1), t = order[i];
                order[i] = order[j], order[j] = t;
            }
        }
        for (int64_t bi = 0; bi < spe; bi++) {
            /* spe batches of near-equal size, so no short last batch skews a step or a reset */
            int64_t i0 = bi * n_train / spe;
            int b = (int)((bi + 1) * n_train / spe - i0);
            gather(xb, x, order + i0, b, D);
            sd_params_zero_grad(p);
            sd_rqvae_loss lo;
            s.last_train = sd_rqvae_forward(m, &ws, xb, b, &lo);
            if (!isfinite(s.last_train)) {
                rc = sd_errf(err, SD_ERANGE, "rqvae: loss is not finite at step %lld (lower --lr?)", (long long)step);
                break;
            }
            sd_rqvae_backward(m, &ws);
            if (o->clip > 0) sd_clip_grad_norm(p, (float)o->clip);
            sd_adamw_step(p, &opt, step + 1, sd_lr_cosine(step, warmup, total, o->lr, o->lr_min));
            if (o->code_pull > 0) pull_codes(m, &ws, o->code_pull, pull_sum, pull_cnt);
            for (int i = 0; i < b; i++)
                for (int l = 0; l < L; l++) usage[(size_t)l * K + ws.codes[(size_t)i * L + l]]++;
            step++;
            if (o->progress) {
                char txt[64] = "";
                for (int l = 0; l < L && l < 4; l++)
                    snprintf(txt + strlen(txt), sizeof txt - strlen(txt), "%s%d", l ? "/" : "", levels_used(usage, K, l));
                sd_progress_note(&pg, "loss %.4g val %.4g used %s", s.last_train, s.best_val, txt);
                sd_progress_set(&pg, step);
            }
            /* codes chosen since the last check, before a reset clears the counts (for the log) */
            int used[3] = {0, 0, 0};
            for (int l = 0; l < L && l < 3; l++) used[l] = levels_used(usage, K, l);
            if (o->reset_every >= 0 && step % reset_every == 0 && step >= warmup)
                s.codes_reset += reset_unused(m, &ws, usage, &reset_rng);
            /* after the reset: validation reuses ws */
            if (step % eval_every == 0 || step == total) {
                double v = n_val ? validate(m, &ws, xb, x, val_rows, n_val) : s.last_train;
                double dist = all_codes ? distinct_share(m, x, n, all_codes, keys) : -1;
                sd_debug("rq-vae step %lld: train %.5g (recon %.5g, codebook %.4g/%.4g/%.4g) val %.5g, used %d/%d/%d, "
                         "distinct %.4f",
                         (long long)step, lo.total, lo.recon, lo.quant[0], L > 1 ? lo.quant[1] : 0, L > 2 ? lo.quant[2] : 0, v,
                         used[0], used[1], used[2], dist);
                bool better = o->keep == SD_RQVAE_KEEP_DISTINCT
                                  ? dist > s.best_distinct || (dist == s.best_distinct && v < s.best_val)
                                  : v < s.best_val;
                if (better) {
                    s.best_val = v;
                    s.best_distinct = dist;
                    s.best_step = step;
                    memcpy(best, p->data, sizeof(float) * p->n);
                }
            }
        }
    }
    sd_progress_finish(&pg);
    if (!rc && s.best_step) memcpy(p->data, best, sizeof(float) * p->n);
    s.steps = step;
    s.seconds = sd_now() - t0;
    if (st) *st = s;
    free(best);
    free(all_codes);
    free(pull_sum);
    free(pull_cnt);
    free(keys);
    free(usage);
    free(xb);
    sd_rqvae_ws_free(&ws);
    free(order);
    free(perm);
    return rc;
}
