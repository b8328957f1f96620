/* Two-layer models composed from the nn ops, against PyTorch (tests/ref/nn_models.py):
 * a SASRec-shaped pre-LN transformer (LayerNorm eps 1e-8, biases, 2-head causal attention with
 * left key padding, ReLU MLP, learned positions, tied-embedding scoring with padding index 0)
 * and a Qwen3-shaped stack (RMSNorm, q/k/v/o without bias, q/k RMSNorm, RoPE at per-token
 * positions, GQA 4:2, SwiGLU, untied head). Checked: loss, every parameter gradient, and the
 * losses / gradient norms / final parameters of 10 AdamW steps with warmup + cosine + clipping.
 *
 * Tolerances (both sides float32, different summation orders): loss 1e-5 relative; gradients
 * 1e-6 + 2e-3 relative (small gradients of deep paths carry the largest relative error);
 * AdamW losses 1e-4 relative, final parameters 1e-4 + 1e-3 relative (10 steps of lr 1e-2 amplify
 * the first differences a little). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "nn/block.h"
#include "nn/optim.h"
#include "nn_ref.h"

typedef struct model {
    sd_block_cfg cfg;
    sd_params p;
    int embed, pos_embed, norm_w, norm_b, lm_head, pad;
    sd_block blk[2];
    sd_block_acts acts[2];
    sd_block_scratch scr;
    int B, T, V;
    float *x[3], *xf, *mean, *rstd, *lse, *dx[3], *dxf, *tmp;
    int32_t *ids, *targets, *pos, *tpos;
    uint8_t *key_valid;
} model;

static int add1(sd_params *p, const char *name, int64_t a, int64_t b, bool decay) {
    int64_t shape[2] = {a, b};
    return sd_params_add(p, name, b ? 2 : 1, shape, decay);
}

static void model_init(model *m, const sd_block_cfg *cfg, int V, int B, int T, bool pos_embed, bool tied, int pad) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg; m->V = V; m->B = B; m->T = T; m->pad = pad;
    sd_params_init(&m->p);
    m->embed = add1(&m->p, "embed.weight", V, cfg->C, true);
    m->pos_embed = pos_embed ? add1(&m->p, "pos_embed.weight", T, cfg->C, true) : -1;
    for (int l = 0; l < 2; l++) {
        char pre[32];
        snprintf(pre, sizeof pre, "layers.%d.", l);
        sd_block_declare(&m->blk[l], &m->p, pre, cfg);
    }
    m->norm_w = add1(&m->p, "norm.weight", cfg->C, 0, false);
    m->norm_b = cfg->rmsnorm ? -1 : add1(&m->p, "norm.bias", cfg->C, 0, false);
    m->lm_head = tied ? m->embed : add1(&m->p, "lm_head.weight", V, cfg->C, true);
    sd_params_alloc(&m->p);
    sd_params_alloc_train(&m->p);
    size_t N = (size_t)B * T, NC = N * cfg->C;
    for (int i = 0; i < 3; i++) { m->x[i] = sd_afloats(NC); m->dx[i] = sd_afloats(NC); }
    m->xf = sd_afloats(NC); m->dxf = sd_afloats(NC); m->tmp = sd_afloats(NC);
    m->mean = sd_afloats(N); m->rstd = sd_afloats(N); m->lse = sd_afloats(N);
    m->tpos = malloc(N * sizeof(int32_t));
    for (size_t i = 0; i < N; i++) m->tpos[i] = (int32_t)(i % T);
    for (int l = 0; l < 2; l++) sd_block_acts_init(&m->acts[l], cfg, B, T);
    sd_block_scratch_init(&m->scr, cfg, B, T);
}

static void model_free(model *m) {
    for (int i = 0; i < 3; i++) { sd_afree(m->x[i]); sd_afree(m->dx[i]); }
    sd_afree(m->xf); sd_afree(m->dxf); sd_afree(m->tmp); sd_afree(m->mean); sd_afree(m->rstd); sd_afree(m->lse);
    free(m->tpos); free(m->key_valid);
    for (int l = 0; l < 2; l++) sd_block_acts_free(&m->acts[l]);
    sd_block_scratch_free(&m->scr);
    sd_params_free(&m->p);
}

static float model_forward(model *m) {
    int N = m->B * m->T, C = m->cfg.C;
    sd_embedding_forward(m->x[0], m->ids, sd_params_ptr(&m->p, m->embed), N, m->V, C);
    if (m->pos_embed >= 0) {
        sd_embedding_forward(m->tmp, m->tpos, sd_params_ptr(&m->p, m->pos_embed), N, m->T, C);
        sd_add_forward(m->x[0], m->x[0], m->tmp, (size_t)N * C);
    }
    for (int l = 0; l < 2; l++)
        sd_block_forward(&m->blk[l], &m->p, &m->acts[l], m->x[l + 1], m->x[l], m->key_valid, m->pos);
    if (m->cfg.rmsnorm) sd_rmsnorm_forward(m->xf, m->rstd, m->x[2], sd_params_ptr(&m->p, m->norm_w), N, C, m->cfg.norm_eps);
    else sd_layernorm_forward(m->xf, m->mean, m->rstd, m->x[2], sd_params_ptr(&m->p, m->norm_w),
                              sd_params_ptr(&m->p, m->norm_b), N, C, m->cfg.norm_eps);
    return sd_xent_chunked_forward(m->lse, m->xf, sd_params_ptr(&m->p, m->lm_head), m->targets, N, C, m->V, -100, NULL);
}

static void model_backward(model *m) {
    int N = m->B * m->T, C = m->cfg.C;
    size_t NC = (size_t)N * C;
    memset(m->dxf, 0, NC * sizeof(float));
    for (int i = 0; i < 3; i++) memset(m->dx[i], 0, NC * sizeof(float));
    sd_xent_chunked_backward(m->dxf, sd_params_grad(&m->p, m->lm_head), m->xf, sd_params_ptr(&m->p, m->lm_head),
                             m->targets, m->lse, N, C, m->V, -100, 1.0f);
    if (m->cfg.rmsnorm) sd_rmsnorm_backward(m->dx[2], sd_params_grad(&m->p, m->norm_w), m->dxf, m->x[2],
                                            sd_params_ptr(&m->p, m->norm_w), m->rstd, N, C);
    else sd_layernorm_backward(m->dx[2], sd_params_grad(&m->p, m->norm_w), sd_params_grad(&m->p, m->norm_b), m->dxf,
                               m->x[2], sd_params_ptr(&m->p, m->norm_w), m->mean, m->rstd, N, C);
    for (int l = 1; l >= 0; l--)
        sd_block_backward(&m->blk[l], &m->p, &m->acts[l], &m->scr, m->dx[l], m->dx[l + 1], m->x[l]);
    sd_embedding_backward(sd_params_grad(&m->p, m->embed), m->dx[0], m->ids, N, C, m->pad);
    if (m->pos_embed >= 0) sd_embedding_backward(sd_params_grad(&m->p, m->pos_embed), m->dx[0], m->tpos, N, C, -1);
}

static void load_params(model *m, tref *r, const char *prefix) {
    for (int i = 0; i < m->p.n_views; i++) {
        char key[300];
        snprintf(key, sizeof key, "%s%s", prefix, m->p.views[i].name);
        tref_tensor *t = tref_get(r, key);
        cr_assert_eq(t->n, m->p.views[i].numel, "%s: %zu floats, want %zu", key, t->n, m->p.views[i].numel);
        memcpy(sd_params_ptr(&m->p, i), t->data, t->n * sizeof(float));
    }
}

static void model_case(const char *file, const sd_block_cfg *cfg, bool pos_embed, bool tied, int pad) {
    tref *r = tref_load(file);
    tref_tensor *ids = tref_get(r, "ids");
    int B = (int)ids->shape[0], T = (int)ids->shape[1];
    int V = (int)tref_get(r, "param.embed.weight")->shape[0];
    model m;
    model_init(&m, cfg, V, B, T, pos_embed, tied, pad);
    int n_ref = 0;
    for (int i = 0; i < r->n; i++) n_ref += !strncmp(r->t[i].name, "param.", 6);
    cr_assert_eq(m.p.n_views, n_ref, "%d parameters, reference has %d", m.p.n_views, n_ref);
    m.ids = tref_i(r, "ids"); m.targets = tref_i(r, "targets"); m.pos = tref_i(r, "pos");
    m.key_valid = malloc((size_t)B * T);
    for (int i = 0; i < B * T; i++) m.key_valid[i] = (uint8_t)tref_i(r, "key_valid")[i];
    load_params(&m, r, "param.");

    sd_params_zero_grad(&m.p);
    float loss = model_forward(&m);
    check_close("loss", &loss, tref_f(r, "loss"), 1, 0, 1e-5);
    model_backward(&m);
    for (int i = 0; i < m.p.n_views; i++) {
        char key[300];
        snprintf(key, sizeof key, "grad.%s", m.p.views[i].name);
        /* NN_DEBUG=1 lists each gradient's max difference instead of asserting (for diagnosis). */
        if (getenv("NN_DEBUG")) { double md = 0; float *g = sd_params_grad(&m.p, i), *w = tref_f(r, key); for (size_t j = 0; j < m.p.views[i].numel; j++) md = fmax(md, fabs(g[j] - w[j])); fprintf(stderr, "%-50s %g\n", key, md); continue; }
        check_close(key, sd_params_grad(&m.p, i), tref_f(r, key), m.p.views[i].numel, 1e-6, 2e-3);
    }

    /* 10 AdamW steps as the reference: decay 0.1 on matrices, warmup 3, cosine to 10, clip 0.5 */
    load_params(&m, r, "param.");
    memset(m.p.m, 0, m.p.n * sizeof(float));
    memset(m.p.v, 0, m.p.n * sizeof(float));
    sd_adamw opt = {.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.1};
    float *want_loss = tref_f(r, "adamw.losses"), *want_norm = tref_f(r, "adamw.grad_norms");
    for (int step = 0; step < 10; step++) {
        sd_params_zero_grad(&m.p);
        float l = model_forward(&m);
        model_backward(&m);
        float norm = sd_clip_grad_norm(&m.p, 0.5f);
        sd_adamw_step(&m.p, &opt, step + 1, sd_lr_cosine(step, 3, 10, 1e-2, 1e-3));
        check_close("adamw loss", &l, want_loss + step, 1, 0, 1e-4);
        check_close("adamw grad norm", &norm, want_norm + step, 1, 0, 1e-3);
    }
    cr_assert(want_loss[9] < want_loss[0] - 0.05, "reference should learn: %g -> %g", want_loss[0], want_loss[9]);
    for (int i = 0; i < m.p.n_views; i++) {
        char key[300];
        snprintf(key, sizeof key, "final.%s", m.p.views[i].name);
        /* The key bias shifts every score of a row equally, so softmax cancels it: its gradient
         * is rounding noise (~1e-9) that Adam normalises into steps of random sign on both sides. */
        if (strstr(key, "k_proj.bias")) continue;
        check_close(key, sd_params_ptr(&m.p, i), tref_f(r, key), m.p.views[i].numel, 1e-4, 1e-3);
    }
    model_free(&m);
    tref_free(r);
}

Test(nn_models, sasrec_two_layer) {
    sd_block_cfg cfg = {.C = 16, .H = 2, .KV = 2, .hd = 8, .F = 32, .rmsnorm = false, .norm_eps = 1e-8f,
                        .bias = true, .qk_norm = false, .rope_theta = 0, .swiglu = false, .causal = true};
    model_case("nn_model_sasrec.bin", &cfg, true, true, 0);
}

Test(nn_models, qwen3_two_layer) {
    sd_block_cfg cfg = {.C = 24, .H = 4, .KV = 2, .hd = 8, .F = 40, .rmsnorm = true, .norm_eps = 1e-6f,
                        .bias = false, .qk_norm = true, .rope_theta = 10000.0f, .swiglu = true, .causal = true};
    model_case("nn_model_qwen3.bin", &cfg, false, false, -1);
}
