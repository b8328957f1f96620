#include "ids/rqvae.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/rng.h"
#include "nn/gemm.h"
#include "nn/ops.h"

void sd_rqvae_cfg_default(sd_rqvae_cfg *c, int dim) {
    memset(c, 0, sizeof *c);
    c->dim = dim;
    c->n_hidden = 3;
    c->hidden[0] = 512, c->hidden[1] = 256, c->hidden[2] = 128;
    c->latent = 32;
    c->levels = 3;
    c->codes = 256;
    c->beta = 0.25f;
    c->grad = SD_RQVAE_ROTATION;
    c->reduction = SD_REDUCE_SUM;
}

int sd_rqvae_cfg_check(const sd_rqvae_cfg *c, sd_err *err) {
    if (c->dim < 1) return sd_errf(err, SD_EUSAGE, "rqvae: input dim %d < 1", c->dim);
    if (c->n_hidden < 0 || c->n_hidden > SD_RQVAE_MAX_HIDDEN)
        return sd_errf(err, SD_EUSAGE, "rqvae: %d hidden layers (0..%d)", c->n_hidden, SD_RQVAE_MAX_HIDDEN);
    for (int i = 0; i < c->n_hidden; i++)
        if (c->hidden[i] < 1) return sd_errf(err, SD_EUSAGE, "rqvae: hidden layer %d has width %d", i, c->hidden[i]);
    if (c->latent < 1) return sd_errf(err, SD_EUSAGE, "rqvae: latent width %d < 1", c->latent);
    if (c->levels < 1 || c->levels > SD_RQVAE_MAX_LEVELS)
        return sd_errf(err, SD_EUSAGE, "rqvae: levels %d (1..%d)", c->levels, SD_RQVAE_MAX_LEVELS);
    if (c->codes < 2) return sd_errf(err, SD_EUSAGE, "rqvae: codes %d < 2", c->codes);
    if (!(c->beta >= 0) || !isfinite(c->beta)) return sd_errf(err, SD_EUSAGE, "rqvae: beta %g must be >= 0", c->beta);
    if (c->grad != SD_RQVAE_ROTATION && c->grad != SD_RQVAE_STE) return sd_errf(err, SD_EUSAGE, "rqvae: bad gradient estimator");
    if (c->reduction != SD_REDUCE_SUM && c->reduction != SD_REDUCE_MEAN)
        return sd_errf(err, SD_EUSAGE, "rqvae: bad reduction");
    return 0;
}

static void fill_uniform(float *p, size_t n, float bound, sd_rng *r) {
    for (size_t i = 0; i < n; i++) p[i] = (2.0f * sd_rng_float(r) - 1.0f) * bound;
}

int sd_rqvae_init(sd_rqvae *m, const sd_rqvae_cfg *cfg, uint64_t seed, sd_err *err) {
    memset(m, 0, sizeof *m);
    int rc = sd_rqvae_cfg_check(cfg, err);
    if (rc) return rc;
    m->cfg = *cfg;
    m->n_layers = cfg->n_hidden + 1;
    m->width[0] = cfg->dim;
    for (int i = 0; i < cfg->n_hidden; i++) m->width[i + 1] = cfg->hidden[i];
    m->width[m->n_layers] = cfg->latent;
    sd_params *p = &m->params;
    sd_params_init(p);
    char name[64];
    /* nn.Sequential numbering: Linear at even indices, SiLU between them */
    for (int i = 0; i < m->n_layers; i++) {
        int64_t ws[2] = {m->width[i + 1], m->width[i]}, bs[1] = {m->width[i + 1]};
        snprintf(name, sizeof name, "encoder.%d.weight", 2 * i);
        m->enc_w[i] = sd_params_add(p, name, 2, ws, true);
        snprintf(name, sizeof name, "encoder.%d.bias", 2 * i);
        m->enc_b[i] = sd_params_add(p, name, 1, bs, true);
    }
    for (int i = 0; i < m->n_layers; i++) {
        int in = m->width[m->n_layers - i], out = m->width[m->n_layers - i - 1];
        int64_t ws[2] = {out, in}, bs[1] = {out};
        snprintf(name, sizeof name, "decoder.%d.weight", 2 * i);
        m->dec_w[i] = sd_params_add(p, name, 2, ws, true);
        snprintf(name, sizeof name, "decoder.%d.bias", 2 * i);
        m->dec_b[i] = sd_params_add(p, name, 1, bs, true);
    }
    for (int l = 0; l < cfg->levels; l++) {
        int64_t s[2] = {cfg->codes, cfg->latent};
        snprintf(name, sizeof name, "vq_layers.%d.embedding.weight", l);
        m->book[l] = sd_params_add(p, name, 2, s, true);
    }
    int64_t ds[1] = {cfg->dim};
    m->in_mean = sd_params_add(p, "input_mean", 1, ds, false);
    m->in_std = sd_params_add(p, "input_std", 1, ds, false);
    sd_params_set_requires_grad(p, m->in_mean, false);
    sd_params_set_requires_grad(p, m->in_std, false);
    sd_params_alloc(p);

    sd_rng r;
    sd_rng_seed(&r, seed);
    for (int i = 0; i < m->n_layers; i++) {
        float be = 1.0f / sqrtf((float)m->width[i]);
        fill_uniform(sd_params_ptr(p, m->enc_w[i]), p->views[m->enc_w[i]].numel, be, &r);
        fill_uniform(sd_params_ptr(p, m->enc_b[i]), p->views[m->enc_b[i]].numel, be, &r);
        float bd = 1.0f / sqrtf((float)m->width[m->n_layers - i]);
        fill_uniform(sd_params_ptr(p, m->dec_w[i]), p->views[m->dec_w[i]].numel, bd, &r);
        fill_uniform(sd_params_ptr(p, m->dec_b[i]), p->views[m->dec_b[i]].numel, bd, &r);
    }
    for (int l = 0; l < cfg->levels; l++)
        fill_uniform(sd_params_ptr(p, m->book[l]), p->views[m->book[l]].numel, 1.0f / (float)cfg->codes, &r);
    float *sd = sd_params_ptr(p, m->in_std);
    for (int j = 0; j < cfg->dim; j++) sd[j] = 1.0f;
    return 0;
}

void sd_rqvae_free(sd_rqvae *m) {
    sd_params_free(&m->params);
    memset(m, 0, sizeof *m);
}

float *sd_rqvae_codebook(sd_rqvae *m, int level) { return sd_params_ptr(&m->params, m->book[level]); }

/* ---- workspace ---- */

static int max_width(const sd_rqvae *m) {
    int w = 0;
    for (int i = 0; i <= m->n_layers; i++) w = m->width[i] > w ? m->width[i] : w;
    return w;
}

void sd_rqvae_ws_init(sd_rqvae_ws *ws, const sd_rqvae *m, int max_rows) {
    memset(ws, 0, sizeof *ws);
    ws->max_rows = max_rows;
    size_t B = (size_t)max_rows;
    int nl = m->n_layers;
    for (int i = 0; i < nl; i++) {
        ws->enc_act[i] = sd_afloats(B * m->width[i]);
        ws->enc_pre[i] = sd_afloats(B * m->width[i + 1]);
        ws->dec_act[i] = sd_afloats(B * m->width[nl - i]);
        ws->dec_pre[i] = sd_afloats(B * m->width[nl - i - 1]);
    }
    size_t lat = (size_t)m->cfg.latent, L = (size_t)m->cfg.levels;
    ws->resid = sd_afloats(L * B * lat);
    ws->quant = sd_afloats(L * B * lat);
    ws->codes = sd_xcalloc(B * L, sizeof(int32_t));
    ws->dots = sd_afloats(B * (size_t)m->cfg.codes);
    ws->g0 = sd_afloats(B * (size_t)max_width(m));
    ws->g1 = sd_afloats(B * (size_t)max_width(m));
    ws->gq = sd_afloats(B * lat);
}

void sd_rqvae_ws_free(sd_rqvae_ws *ws) {
    for (int i = 0; i <= SD_RQVAE_MAX_HIDDEN; i++) {
        sd_afree(ws->enc_act[i]); sd_afree(ws->enc_pre[i]);
        sd_afree(ws->dec_act[i]); sd_afree(ws->dec_pre[i]);
    }
    sd_afree(ws->resid); sd_afree(ws->quant); free(ws->codes); sd_afree(ws->dots);
    sd_afree(ws->g0); sd_afree(ws->g1); sd_afree(ws->gq);
    memset(ws, 0, sizeof *ws);
}

/* ---- quantiser ---- */

void sd_rqvae_nearest(const float *r, int B, int latent, const float *book, int K, int32_t *codes, int stride,
                      float *dist, float *dots) {
    /* |r - c|^2 = |r|^2 - 2 r.c + |c|^2; the |r|^2 term does not change the argmin. */
    sd_sgemm(false, true, B, K, latent, -2.0f, r, latent, book, latent, 0.0f, dots, K);
    float *cn = sd_xmalloc(sizeof(float) * (size_t)K);  /* |c|^2; K may be large for the stack */
    for (int k = 0; k < K; k++) {
        float s = 0;
        for (int j = 0; j < latent; j++) s += book[(size_t)k * latent + j] * book[(size_t)k * latent + j];
        cn[k] = s;
    }
#pragma omp parallel for schedule(static) if ((long)B * K > 65536)
    for (int i = 0; i < B; i++) {
        const float *di = dots + (size_t)i * K;
        int best = 0;
        float bv = di[0] + cn[0];
        for (int k = 1; k < K; k++) {
            float v = di[k] + cn[k];
            if (v < bv) bv = v, best = k;
        }
        codes[(size_t)i * stride] = best;
        if (dist) {
            /* exact distance to the chosen code, not the cancellation-prone expansion */
            const float *ri = r + (size_t)i * latent, *c = book + (size_t)best * latent;
            float s = 0;
            for (int j = 0; j < latent; j++) s += (ri[j] - c[j]) * (ri[j] - c[j]);
            dist[i] = s;
        }
    }
    free(cn);
}

void sd_rqvae_rotation_backward(float *dr, const float *g, const float *r, const float *q, int latent) {
    double nr = 0, nq = 0;
    for (int j = 0; j < latent; j++) nr += (double)r[j] * r[j], nq += (double)q[j] * q[j];
    nr = sqrt(nr), nq = sqrt(nq);
    double ir = 1.0 / fmax(nr, 1e-6), iq = 1.0 / fmax(nq, 1e-6), lam = nq * ir;
    float u[latent], w[latent];
    double ns = 0;
    for (int j = 0; j < latent; j++) {
        u[j] = (float)(r[j] * ir);
        w[j] = u[j] + (float)(q[j] * iq);
        ns += (double)w[j] * w[j];
    }
    double is = 1.0 / fmax(sqrt(ns), 1e-6), wg = 0, qg = 0;
    for (int j = 0; j < latent; j++) {
        w[j] = (float)(w[j] * is);
        wg += (double)w[j] * g[j];
        qg += q[j] * iq * g[j];
    }
    for (int j = 0; j < latent; j++) dr[j] += (float)(lam * (g[j] - 2.0 * w[j] * wg + 2.0 * u[j] * qg));
}

/* ---- forward / backward ---- */

/* Sum-reduction divides by the items, mean-reduction by all elements (done inside
 * sd_mse_forward / sd_mse_backward). */
static double item_scale(const sd_rqvae *m, int B) { return m->cfg.reduction == SD_REDUCE_SUM ? 1.0 / B : 1.0; }

static void standardize(const sd_rqvae *m, float *out, const float *x, int B) {
    const float *mu = m->params.data + m->params.views[m->in_mean].offset;
    const float *sd = m->params.data + m->params.views[m->in_std].offset;
    int D = m->cfg.dim;
#pragma omp parallel for schedule(static) if ((long)B * D > 65536)
    for (int i = 0; i < B; i++)
        for (int j = 0; j < D; j++) out[(size_t)i * D + j] = (x[(size_t)i * D + j] - mu[j]) / sd[j];
}

static void encoder_forward(sd_rqvae *m, sd_rqvae_ws *ws, int B) {
    sd_params *p = &m->params;
    for (int i = 0; i < m->n_layers; i++) {
        sd_linear_forward(ws->enc_pre[i], ws->enc_act[i], sd_params_ptr(p, m->enc_w[i]), sd_params_ptr(p, m->enc_b[i]),
                          B, m->width[i], m->width[i + 1]);
        if (i + 1 < m->n_layers) sd_silu_forward(ws->enc_act[i + 1], ws->enc_pre[i], (size_t)B * m->width[i + 1]);
    }
}

static void decoder_forward(sd_rqvae *m, sd_rqvae_ws *ws, int B) {
    sd_params *p = &m->params;
    int nl = m->n_layers;
    for (int i = 0; i < nl; i++) {
        int in = m->width[nl - i], out = m->width[nl - i - 1];
        sd_linear_forward(ws->dec_pre[i], ws->dec_act[i], sd_params_ptr(p, m->dec_w[i]), sd_params_ptr(p, m->dec_b[i]),
                          B, in, out);
        if (i + 1 < nl) sd_silu_forward(ws->dec_act[i + 1], ws->dec_pre[i], (size_t)B * out);
    }
}

/* r_0 = z; codes, q_l, r_{l+1} = r_l - q_l; dec_act[0] = sum_l q_l. */
static void quantize(sd_rqvae *m, sd_rqvae_ws *ws, int B) {
    int L = m->cfg.levels, K = m->cfg.codes, lat = m->cfg.latent;
    size_t n = (size_t)B * lat;
    const float *z = ws->enc_pre[m->n_layers - 1];
    float *zq = ws->dec_act[0];
    memcpy(ws->resid, z, n * sizeof(float));
    memset(zq, 0, n * sizeof(float));
    for (int l = 0; l < L; l++) {
        float *r = ws->resid + (size_t)l * n, *q = ws->quant + (size_t)l * n;
        const float *book = sd_rqvae_codebook(m, l);
        sd_rqvae_nearest(r, B, lat, book, K, ws->codes + l, L, NULL, ws->dots);
        float *rn = l + 1 < L ? ws->resid + (size_t)(l + 1) * n : NULL;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int i = 0; i < B; i++) {
            const float *c = book + (size_t)ws->codes[(size_t)i * L + l] * lat;
            for (int j = 0; j < lat; j++) {
                size_t k = (size_t)i * lat + j;
                q[k] = c[j];
                zq[k] += c[j];
                if (rn) rn[k] = r[k] - c[j];
            }
        }
    }
}

double sd_rqvae_forward(sd_rqvae *m, sd_rqvae_ws *ws, const float *x, int B, sd_rqvae_loss *loss) {
    if (B > ws->max_rows) { /* the workspace holds only this batch's scratch: regrow it */
        sd_rqvae_ws_free(ws);
        sd_rqvae_ws_init(ws, m, B);
    }
    ws->rows = B;
    int red = m->cfg.reduction, D = m->cfg.dim, lat = m->cfg.latent;
    standardize(m, ws->enc_act[0], x, B);
    encoder_forward(m, ws, B);
    quantize(m, ws, B);
    decoder_forward(m, ws, B);
    double s = item_scale(m, B);
    sd_rqvae_loss lo = {0};
    lo.recon = sd_mse_forward(ws->dec_pre[m->n_layers - 1], ws->enc_act[0], (size_t)B * D, red) * s;
    lo.total = lo.recon;
    size_t n = (size_t)B * lat;
    for (int l = 0; l < m->cfg.levels; l++) {
        lo.quant[l] = sd_mse_forward(ws->resid + l * n, ws->quant + l * n, n, red) * s;
        lo.total += (1.0 + m->cfg.beta) * lo.quant[l];
    }
    if (loss) *loss = lo;
    return lo.total;
}

void sd_rqvae_backward(sd_rqvae *m, sd_rqvae_ws *ws) {
    sd_params *p = &m->params;
    int B = ws->rows, nl = m->n_layers, L = m->cfg.levels, lat = m->cfg.latent, red = m->cfg.reduction;
    float s = (float)item_scale(m, B);
    size_t n = (size_t)B * lat;
    /* decoder: g holds the gradient of the current layer's output */
    float *g = ws->g0, *gin = ws->g1;
    memset(g, 0, sizeof(float) * (size_t)B * m->cfg.dim);
    sd_mse_backward(g, ws->dec_pre[nl - 1], ws->enc_act[0], (size_t)B * m->cfg.dim, red, s);
    for (int i = nl - 1; i >= 0; i--) {
        int in = m->width[nl - i], out = m->width[nl - i - 1];
        float *dx = i ? gin : ws->gq;
        memset(dx, 0, sizeof(float) * (size_t)B * in);
        sd_linear_backward(dx, sd_params_grad(p, m->dec_w[i]), sd_params_grad(p, m->dec_b[i]), g, ws->dec_act[i],
                           sd_params_ptr(p, m->dec_w[i]), B, in, out);
        if (i) {
            memset(g, 0, sizeof(float) * (size_t)B * in);
            sd_silu_backward(g, gin, ws->dec_pre[i - 1], (size_t)B * in);
        }
    }
    /* quantiser: every r_l is z minus constants, so its gradient goes to z unchanged */
    float *dz = g;
    memset(dz, 0, sizeof(float) * n);
    for (int l = 0; l < L; l++) {
        const float *r = ws->resid + l * n, *q = ws->quant + l * n;
        if (m->cfg.grad == SD_RQVAE_STE) {
            for (size_t k = 0; k < n; k++) dz[k] += ws->gq[k];
        } else {
#pragma omp parallel for schedule(static) if (B > 1024)
            for (int i = 0; i < B; i++)
                sd_rqvae_rotation_backward(dz + (size_t)i * lat, ws->gq + (size_t)i * lat, r + (size_t)i * lat,
                                           q + (size_t)i * lat, lat);
        }
        sd_mse_backward(dz, r, q, n, red, s * m->cfg.beta);  /* commitment: beta e(r_l, sg(q_l)) */
        /* codebook term e(sg(r_l), q_l): dq rows scatter-added into their codes, in row order */
        float *dbook = sd_params_grad(p, m->book[l]);
        memset(gin, 0, sizeof(float) * n);
        sd_mse_backward(gin, q, r, n, red, s);
        for (int i = 0; i < B; i++) {
            float *dc = dbook + (size_t)ws->codes[(size_t)i * L + l] * lat;
            for (int j = 0; j < lat; j++) dc[j] += gin[(size_t)i * lat + j];
        }
    }
    /* encoder */
    for (int i = nl - 1; i >= 0; i--) {
        int in = m->width[i], out = m->width[i + 1];
        float *dx = i ? gin : NULL;  /* no gradient for the inputs */
        if (dx) memset(dx, 0, sizeof(float) * (size_t)B * in);
        sd_linear_backward(dx, sd_params_grad(p, m->enc_w[i]), sd_params_grad(p, m->enc_b[i]), g, ws->enc_act[i],
                           sd_params_ptr(p, m->enc_w[i]), B, in, out);
        if (i) {
            memset(g, 0, sizeof(float) * (size_t)B * in);
            sd_silu_backward(g, gin, ws->enc_pre[i - 1], (size_t)B * in);
        }
    }
}

/* ---- inference ---- */

void sd_rqvae_encode(sd_rqvae *m, const float *x, int64_t n, int batch, int32_t *codes) {
    sd_rqvae_ws ws;
    int B = (int)(n < batch ? n : batch);
    if (B < 1) return;
    sd_rqvae_ws_init(&ws, m, B);
    int L = m->cfg.levels;
    for (int64_t i0 = 0; i0 < n; i0 += B) {
        int b = (int)(n - i0 < B ? n - i0 : B);
        ws.rows = b;
        standardize(m, ws.enc_act[0], x + i0 * m->cfg.dim, b);
        encoder_forward(m, &ws, b);
        quantize(m, &ws, b);
        memcpy(codes + i0 * L, ws.codes, sizeof(int32_t) * (size_t)b * L);
    }
    sd_rqvae_ws_free(&ws);
}

void sd_rqvae_decode(sd_rqvae *m, const int32_t *codes, int64_t n, int batch, float *x_hat) {
    sd_rqvae_ws ws;
    int B = (int)(n < batch ? n : batch);
    if (B < 1) return;
    sd_rqvae_ws_init(&ws, m, B);
    int L = m->cfg.levels, lat = m->cfg.latent, D = m->cfg.dim;
    const float *mu = sd_params_ptr(&m->params, m->in_mean), *sd = sd_params_ptr(&m->params, m->in_std);
    for (int64_t i0 = 0; i0 < n; i0 += B) {
        int b = (int)(n - i0 < B ? n - i0 : B);
        float *zq = ws.dec_act[0];
        memset(zq, 0, sizeof(float) * (size_t)b * lat);
        for (int i = 0; i < b; i++)
            for (int l = 0; l < L; l++) {
                const float *c = sd_rqvae_codebook(m, l) + (size_t)codes[(i0 + i) * L + l] * lat;
                for (int j = 0; j < lat; j++) zq[(size_t)i * lat + j] += c[j];
            }
        decoder_forward(m, &ws, b);
        const float *y = ws.dec_pre[m->n_layers - 1];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < D; j++) x_hat[(i0 + i) * D + j] = y[(size_t)i * D + j] * sd[j] + mu[j];
    }
    sd_rqvae_ws_free(&ws);
}
