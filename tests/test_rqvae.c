/* RQ-VAE model (src/ids/rqvae.c) against PyTorch (tests/ref/rqvae_ref.py) and finite differences.
 *
 * Reference cases: rotation trick / straight-through x sum / mean reduction, with and without
 * input standardisation, 0-3 hidden layers, 2-4 levels. Checked: codes, every loss term, and the
 * gradient of every trainable tensor (encoder through the quantiser's estimator, decoder,
 * codebooks from the codebook term).
 * Tolerances: the reference runs in float64 from the same float32 inputs; the C side is float32
 * with different summation orders: losses 1e-5 relative, gradients 1e-6 + 1e-3 relative. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/rng.h"
#include "ids/rqvae.h"
#include "nn/ops.h"
#include "nn_ref.h"

/* Builds the model described by the reference file and copies its parameters in. */
static void load_case(tref *r, sd_rqvae *m) {
    int32_t *c = tref_i(r, "cfg");
    sd_rqvae_cfg cfg;
    sd_rqvae_cfg_default(&cfg, c[0]);
    cfg.n_hidden = c[1];
    for (int i = 0; i < cfg.n_hidden; i++) cfg.hidden[i] = c[2 + i];
    int k = 2 + cfg.n_hidden;
    cfg.latent = c[k], cfg.levels = c[k + 1], cfg.codes = c[k + 2];
    cfg.grad = c[k + 3] ? SD_RQVAE_ROTATION : SD_RQVAE_STE;
    cfg.reduction = c[k + 4] ? SD_REDUCE_SUM : SD_REDUCE_MEAN;
    cfg.beta = tref_scalar(r, "beta");
    sd_err err = {0};
    cr_assert_eq(sd_rqvae_init(m, &cfg, 7, &err), 0, "%s", err.msg);
    sd_params *p = &m->params;
    for (int v = 0; v < p->n_views; v++) {
        tref_tensor *t = tref_get(r, p->views[v].name);
        cr_assert_eq(t->n, p->views[v].numel, "%s: %zu vs %zu elements", p->views[v].name, t->n, p->views[v].numel);
        memcpy(sd_params_ptr(p, v), t->data, t->n * sizeof(float));
    }
    sd_params_alloc_train(p);
}

static void check_case(const char *name) {
    char file[64];
    snprintf(file, sizeof file, "rqvae_%s.bin", name);
    tref *r = tref_load(file);
    sd_rqvae m;
    load_case(r, &m);
    tref_tensor *xt = tref_get(r, "x");
    int B = (int)xt->shape[0], L = m.cfg.levels;
    sd_rqvae_ws ws;
    sd_rqvae_ws_init(&ws, &m, B);
    sd_rqvae_loss lo;
    double total = sd_rqvae_forward(&m, &ws, xt->data, B, &lo);
    int32_t *want_codes = tref_i(r, "codes");
    for (int i = 0; i < B * L; i++)
        cr_assert_eq(ws.codes[i], want_codes[i], "%s: item %d level %d: code %d, want %d", name, i / L, i % L, ws.codes[i],
                     want_codes[i]);
    float got[SD_RQVAE_MAX_LEVELS + 2];
    got[0] = (float)total, got[1] = (float)lo.recon;
    check_close("total", got, tref_f(r, "total"), 1, 0, 1e-5);
    check_close("recon", got + 1, tref_f(r, "recon"), 1, 0, 1e-5);
    for (int l = 0; l < L; l++) got[l] = (float)lo.quant[l];
    check_close("quant", got, tref_f(r, "quant"), (size_t)L, 1e-7, 1e-5);
    sd_params_zero_grad(&m.params);
    sd_rqvae_backward(&m, &ws);
    sd_params *p = &m.params;
    for (int v = 0; v < p->n_views; v++) {
        if (!p->views[v].requires_grad) continue;
        char gname[128], what[160];
        snprintf(gname, sizeof gname, "d_%s", p->views[v].name);
        snprintf(what, sizeof what, "%s %s", name, gname);
        check_close(what, sd_params_grad(p, v), tref_f(r, gname), p->views[v].numel, 1e-6, 1e-3);
    }
    sd_rqvae_ws_free(&ws);
    sd_rqvae_free(&m);
    tref_free(r);
}

Test(rqvae, ref_rotation_sum_standardized) { check_case("rot_sum"); }
Test(rqvae, ref_ste_mean) { check_case("ste_mean"); }
Test(rqvae, ref_rotation_mean_two_levels) { check_case("rot_mean_2l"); }
Test(rqvae, ref_ste_sum_no_hidden) { check_case("ste_sum_0h"); }

/* Decoder weights get the true gradient of the loss (the quantiser sits before them), so central
 * differences must match there, as long as no code changes (checked). h = 1e-2 on float32 with
 * double accumulation of the loss: tolerance 2e-3 absolute + 2% relative. */
Test(rqvae, finite_differences_decoder) {
    tref *r = tref_load("rqvae_rot_sum.bin");
    sd_rqvae m;
    load_case(r, &m);
    tref_tensor *xt = tref_get(r, "x");
    int B = (int)xt->shape[0], L = m.cfg.levels;
    sd_rqvae_ws ws;
    sd_rqvae_ws_init(&ws, &m, B);
    sd_rqvae_forward(&m, &ws, xt->data, B, NULL);
    int32_t *codes0 = malloc(sizeof(int32_t) * B * L);
    memcpy(codes0, ws.codes, sizeof(int32_t) * B * L);
    sd_params_zero_grad(&m.params);
    sd_rqvae_backward(&m, &ws);
    const float h = 1e-2f;
    int checked = 0;
    for (int i = 0; i < m.n_layers; i++) {
        int views[2] = {m.dec_w[i], m.dec_b[i]};
        for (int k = 0; k < 2; k++) {
            float *w = sd_params_ptr(&m.params, views[k]);
            const float *g = sd_params_grad(&m.params, views[k]);
            size_t n = m.params.views[views[k]].numel;
            for (size_t e = 0; e < n; e += 7) {
                float w0 = w[e];
                w[e] = w0 + h;
                double lp = sd_rqvae_forward(&m, &ws, xt->data, B, NULL);
                cr_assert(!memcmp(codes0, ws.codes, sizeof(int32_t) * B * L));
                w[e] = w0 - h;
                double lm = sd_rqvae_forward(&m, &ws, xt->data, B, NULL);
                w[e] = w0;
                double fd = (lp - lm) / (2 * h);
                cr_assert(fabs(fd - g[e]) <= 2e-3 + 0.02 * fabs(fd), "%s[%zu]: fd %.6g analytic %.6g",
                          m.params.views[views[k]].name, e, fd, g[e]);
                checked++;
            }
        }
    }
    cr_assert_gt(checked, 50);
    free(codes0);
    sd_rqvae_ws_free(&ws);
    sd_rqvae_free(&m);
    tref_free(r);
}

/* The rotation trick's forward value lam R e at e = r is q exactly (in exact arithmetic), and its
 * gradient is lam R^T g with R, lam held constant: check both on random vectors, the gradient by
 * central differences of <g, lam R e> in e (linear in e, so only rounding remains; 1e-3
 * relative). Also degenerate inputs (r = 0, q = -r) give finite gradients. */
Test(rqvae, rotation_trick_value_and_gradient) {
    sd_rng rng;
    sd_rng_seed(&rng, 3);
    enum { N = 9 };
    for (int rep = 0; rep < 20; rep++) {
        double r[N], q[N], g[N];
        for (int j = 0; j < N; j++) r[j] = sd_rng_normal(&rng), q[j] = 2 * sd_rng_normal(&rng), g[j] = sd_rng_normal(&rng);
        double nr = 0, nq = 0, ns = 0;
        for (int j = 0; j < N; j++) nr += r[j] * r[j], nq += q[j] * q[j];
        nr = sqrt(nr), nq = sqrt(nq);
        double u[N], qh[N], w[N];
        for (int j = 0; j < N; j++) u[j] = r[j] / nr, qh[j] = q[j] / nq, w[j] = u[j] + qh[j], ns += w[j] * w[j];
        for (int j = 0; j < N; j++) w[j] /= sqrt(ns);
        double lam = nq / nr;
        /* value: lam (e - 2 w (w.e) + 2 qh (u.e)) at e = r */
        double we = 0, ue = 0;
        for (int j = 0; j < N; j++) we += w[j] * r[j], ue += u[j] * r[j];
        for (int j = 0; j < N; j++) {
            double val = lam * (r[j] - 2 * w[j] * we + 2 * qh[j] * ue);
            cr_assert(fabs(val - q[j]) < 1e-9 * (1 + fabs(q[j])), "rotation value %g vs q %g", val, q[j]);
        }
        float rf[N], qf[N], gf[N], dr[N] = {0};
        for (int j = 0; j < N; j++) rf[j] = (float)r[j], qf[j] = (float)q[j], gf[j] = (float)g[j];
        sd_rqvae_rotation_backward(dr, gf, rf, qf, N);
        for (int k = 0; k < N; k++) {
            double f[2];
            for (int s = 0; s < 2; s++) {
                double e[N];
                memcpy(e, r, sizeof e);
                e[k] += s ? -1e-4 : 1e-4;
                double a = 0, b = 0, sum = 0;
                for (int j = 0; j < N; j++) a += w[j] * e[j], b += u[j] * e[j];
                for (int j = 0; j < N; j++) sum += g[j] * lam * (e[j] - 2 * w[j] * a + 2 * qh[j] * b);
                f[s] = sum;
            }
            double fd = (f[0] - f[1]) / 2e-4;
            cr_assert(fabs(fd - dr[k]) <= 1e-4 + 1e-3 * fabs(fd), "rotation grad[%d]: fd %g analytic %g", k, fd, dr[k]);
        }
    }
    float z[N] = {0}, q[N], g[N], dr[N] = {0};
    for (int j = 0; j < N; j++) q[j] = (float)j - 4, g[j] = 1;
    sd_rqvae_rotation_backward(dr, g, z, q, N);       /* r = 0 */
    for (int j = 0; j < N; j++) cr_assert(isfinite(dr[j]));
    float mq[N];
    for (int j = 0; j < N; j++) mq[j] = -q[j];
    memset(dr, 0, sizeof dr);
    sd_rqvae_rotation_backward(dr, g, q, mq, N);      /* q = -r: u + q^ = 0 */
    for (int j = 0; j < N; j++) cr_assert(isfinite(dr[j]));
}

/* Straight-through and rotation agree where the code equals the residual's direction and norm
 * (R = I, lam = 1): a sanity link between the two estimators. */
Test(rqvae, rotation_identity_when_aligned) {
    float r[5] = {1, -2, 0.5f, 3, 0}, g[5] = {0.3f, -1, 2, 0.1f, 5}, dr[5] = {0};
    sd_rqvae_rotation_backward(dr, g, r, r, 5);
    for (int j = 0; j < 5; j++) cr_assert_float_eq(dr[j], g[j], 1e-5);
}

Test(rqvae, nearest_code_ties_to_lower_index) {
    float book[3 * 2] = {1, 0, 0, 1, 1, 0}, r[2 * 2] = {0.5f, 0.5f, 2, 0}, dots[6], dist[2];
    int32_t codes[2];
    sd_rqvae_nearest(r, 2, 2, book, 3, codes, 1, dist, dots);
    cr_assert_eq(codes[0], 0);   /* equidistant to codes 0 and 1; code 2 duplicates 0 */
    cr_assert_eq(codes[1], 0);
    cr_assert_float_eq(dist[0], 0.5f, 1e-6);
    cr_assert_float_eq(dist[1], 1.0f, 1e-6);
}

Test(rqvae, bad_config) {
    sd_rqvae_cfg c;
    sd_rqvae m;
    sd_err err = {0};
    sd_rqvae_cfg_default(&c, 0);
    cr_assert_eq(sd_rqvae_init(&m, &c, 1, &err), SD_EUSAGE);
    cr_assert(strstr(err.msg, "input dim"), "%s", err.msg);
    sd_rqvae_cfg_default(&c, 8);
    c.codes = 1;
    cr_assert_eq(sd_rqvae_init(&m, &c, 1, &err), SD_EUSAGE);
    cr_assert(strstr(err.msg, "codes"), "%s", err.msg);
    sd_rqvae_cfg_default(&c, 8);
    c.levels = 0;
    cr_assert_eq(sd_rqvae_init(&m, &c, 1, &err), SD_EUSAGE);
    cr_assert(strstr(err.msg, "levels"), "%s", err.msg);
    sd_rqvae_cfg_default(&c, 8);
    c.hidden[1] = 0;
    cr_assert_eq(sd_rqvae_init(&m, &c, 1, &err), SD_EUSAGE);
    cr_assert(strstr(err.msg, "hidden layer 1"), "%s", err.msg);
    sd_rqvae_cfg_default(&c, 8);
    c.beta = NAN;
    cr_assert_eq(sd_rqvae_init(&m, &c, 1, &err), SD_EUSAGE);
    cr_assert(strstr(err.msg, "beta"), "%s", err.msg);
}
