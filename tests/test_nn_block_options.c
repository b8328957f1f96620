/* nn/block's SASRec options and its gradient rules:
 *  - with ffn_residual_normed and MLP dropout (pmixer's layout, training), sd_block_backward is
 *    the derivative of sd_block_forward: central differences of a random projection of y, in
 *    double, against the analytical dx and parameter gradients;
 *  - SASRec's encoder (rec/seqenc) gives frozen views (requires_grad false) no gradient, also the
 *    ones its attention hook adds to (the padding sink's k/v projections and norm1 bias). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/rng.h"
#include "nn/block.h"
#include "rec/seqenc.h"

static void fill_normal(float *x, size_t n, float sd, uint64_t stream) {
    sd_rng r;
    sd_rng_stream(&r, 42, stream);
    for (size_t i = 0; i < n; i++) x[i] = (float)(sd_rng_normal(&r) * sd);
}

static double project(const float *y, const float *r, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)y[i] * r[i];
    return s;
}

Test(nn_block_options, pmixer_dropout_backward_is_the_derivative) {
    const int B = 2, T = 5, C = 8;
    sd_block_cfg cfg = {.C = C, .H = 2, .KV = 2, .hd = 4, .F = C, .norm_eps = 1e-5f, .bias = true, .causal = true,
                        .ffn_residual_normed = true, .mlp_dropout = 0.3f};
    sd_block blk;
    sd_params p;
    sd_params_init(&p);
    sd_block_declare(&blk, &p, "", &cfg);
    sd_params_alloc(&p), sd_params_alloc_train(&p);
    fill_normal(p.data, p.n, 0.4f, 1);
    const size_t NC = (size_t)B * T * C;
    float *x = malloc(NC * sizeof(float)), *y = malloc(NC * sizeof(float)), *r = malloc(NC * sizeof(float));
    float *dx = calloc(NC, sizeof(float));
    fill_normal(x, NC, 1.0f, 2);
    fill_normal(r, NC, 1.0f, 3);
    sd_block_acts a;
    sd_block_acts_init(&a, &cfg, B, T);
    sd_block_scratch s;
    sd_block_scratch_init(&s, &cfg, B, T);
    a.train = true, a.drop_seed = 7, a.drop_stream[0] = 11, a.drop_stream[1] = 12;
    sd_block_forward(&blk, &p, &a, y, x, NULL, NULL);
    sd_block_backward(&blk, &p, &a, &s, dx, r, x); /* d project / dy = r */
    /* the dropout masks actually drop something */
    int zeros = 0;
    for (size_t i = 0; i < (size_t)B * T * C; i++) zeros += a.up[i] == 0.0f;
    cr_assert_gt(zeros, 5);
    const float h = 1e-2f;
    double worst = 0;
    /* inputs, then every parameter value (the block is small) */
    size_t n_all = NC + p.n;
    for (size_t i = 0; i < n_all; i += 3) {
        float *v = i < NC ? x + i : p.data + (i - NC);
        float g = i < NC ? dx[i] : p.grad[i - NC];
        float keep = *v;
        *v = keep + h;
        sd_block_forward(&blk, &p, &a, y, x, NULL, NULL);
        double up = project(y, r, NC);
        *v = keep - h;
        sd_block_forward(&blk, &p, &a, y, x, NULL, NULL);
        double down = project(y, r, NC);
        *v = keep;
        double fd = (up - down) / (2 * h), err = fabs(fd - g) / (1 + fabs(fd));
        if (err > worst) worst = err;
        cr_assert_lt(err, 3e-2, "element %zu (%s): analytical %g, finite difference %g", i, i < NC ? "x" : "param", g, fd);
    }
    cr_log_info("worst relative gradient error %g", worst);
    sd_block_acts_free(&a);
    sd_block_scratch_free(&s);
    sd_params_free(&p);
    free(x), free(y), free(r), free(dx);
}

Test(nn_block_options, seqenc_frozen_views_get_no_gradient) {
    sd_seqenc_cfg cfg = {.dim = 16, .blocks = 2, .heads = 2, .maxlen = 12, .dropout = 0.2f, .block = SD_BLOCK_PMIXER};
    sd_params p;
    sd_params_init(&p);
    sd_seqenc e;
    sd_seqenc_declare(&e, &p, &cfg);
    sd_params_alloc(&p);
    sd_params_alloc_train(&p);
    sd_seqenc_init_weights(&e, &p, 3);
    const char *frozen[] = {"layers.0.self_attn.k_proj.weight", "layers.0.self_attn.v_proj.bias",
                            "layers.1.input_layernorm.bias", "layers.1.mlp.up_proj.weight", "pos_emb.weight",
                            "last_layernorm.weight"};
    for (int i = 0; i < 6; i++) {
        int v = sd_params_index(&p, frozen[i]);
        cr_assert_geq(v, 0, "%s", frozen[i]);
        sd_params_set_requires_grad(&p, v, false);
    }
    int32_t len[5] = {3, 12, 1, 7, 5};
    int64_t off[6] = {0};
    for (int b = 0; b < 5; b++) off[b + 1] = off[b] + len[b];
    sd_packed pk = {.B = 5, .N = (int)off[5], .len = len, .off = off};
    sd_seqenc_ws *ws = sd_seqenc_ws_new(&e, 5, true);
    fill_normal(sd_seqenc_input(&e, ws, pk.B, pk.N, true), (size_t)pk.N * 16, 0.5f, 4);
    sd_seqenc_forward(&e, &p, ws, &pk, true, 9, 1);
    float *dout = sd_seqenc_dout(ws);
    fill_normal(dout, (size_t)pk.N * 16, 1.0f, 5);
    sd_seqenc_backward(&e, &p, ws, &pk, dout);
    for (int i = 0; i < p.n_views; i++) {
        const sd_view *v = &p.views[i];
        double sum = 0;
        for (size_t j = 0; j < v->numel; j++) sum += fabs(p.grad[v->offset + j]);
        if (v->requires_grad) cr_assert_gt(sum, 0, "%s: trainable but no gradient", v->name);
        else cr_assert_eq(sum, 0, "%s: frozen but got a gradient (sum |g| %g)", v->name, sum);
    }
    sd_seqenc_ws_free(ws);
    sd_params_free(&p);
}
