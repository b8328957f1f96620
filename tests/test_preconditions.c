/* Library preconditions return errors (or are met by growing a workspace), never abort: a server
 * process must survive a bad request. Each case here aborted the process before. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include "base/mem.h"
#include "ids/rqvae.h"
#include "lm/qwen3.h"
#include "nn/ops.h"
#include "nn/params.h"
#include "rec/seqenc.h"

Test(preconditions, embedding_id_out_of_range) {
    float table[3 * 2] = {1, 2, 3, 4, 5, 6}, y[3 * 2];
    int32_t ok[3] = {2, 0, 1}, bad[3] = {1, 3, -1};
    cr_assert_eq(sd_embedding_forward(y, ok, table, 3, 3, 2), 0);
    cr_assert_eq(y[0], 5); cr_assert_eq(y[3], 2);
    cr_assert_eq(sd_embedding_forward(y, bad, table, 3, 3, 2), SD_ERANGE);
    cr_assert_eq(y[0], 3); cr_assert_eq(y[2], 0); cr_assert_eq(y[5], 0); /* bad rows are zero, not read */
}

Test(preconditions, cross_entropy_target_out_of_range) {
    float logits[2 * 3] = {0.1f, 0.2f, 0.3f, 1, 2, 3}, lse[2], d[6] = {0};
    int32_t tg[2] = {1, 7};
    int nv = -1;
    cr_assert(isnan(sd_xent_forward(lse, logits, tg, 2, 3, -100, &nv)));
    cr_assert_eq(nv, 0);
    cr_assert(isnan(lse[0]));
    sd_xent_backward(d, logits, tg, lse, 2, 3, -100, 1.0f);
    for (int i = 0; i < 6; i++) cr_assert_eq(d[i], 0);
    float h[2 * 2] = {1, 0, 0, 1}, W[3 * 2] = {1, 0, 0, 1, 1, 1}, dh[4] = {0}, dW[6] = {0};
    cr_assert(isnan(sd_xent_chunked_forward(NULL, h, W, tg, 2, 2, 3, -100, &nv)));
    sd_xent_chunked_backward(dh, dW, h, W, tg, NULL, 2, 2, 3, -100, 1.0f);
    for (int i = 0; i < 4; i++) cr_assert_eq(dh[i], 0);
    tg[1] = 2; /* the same call with targets in range is finite */
    cr_assert(isfinite(sd_xent_chunked_forward(NULL, h, W, tg, 2, 2, 3, -100, &nv)));
    cr_assert_eq(nv, 2);
}

Test(preconditions, params_add_misuse) {
    sd_params p;
    sd_params_init(&p);
    int64_t shape[2] = {2, 3}, neg[1] = {-4};
    cr_assert_eq(sd_params_add(&p, "w", 2, shape, true), 0);
    cr_assert_eq(sd_params_add(&p, "bad_ndim", SD_MAX_DIMS + 1, shape, true), -1);
    cr_assert_eq(sd_params_add(&p, "negative", 1, neg, true), -1);
    sd_params_alloc(&p);
    cr_assert_eq(sd_params_add(&p, "late", 2, shape, true), -1);
    cr_assert_eq(p.n_views, 1);
    sd_params_free(&p);
}

Test(preconditions, qwen3_backward_without_train_state) {
    sd_qwen3_config c = sd_qwen3_config_default();
    c.hidden_size = 8; c.num_hidden_layers = 1; c.num_attention_heads = 2; c.num_key_value_heads = 1;
    c.head_dim = 4; c.intermediate_size = 8; c.vocab_size = 16;
    sd_qwen3 m;
    sd_err err = {0};
    cr_assert_eq(sd_qwen3_init(&m, &c, &err), 0, "%s", err.msg);
    sd_qwen3_init_random(&m, 1, 0.02f);
    int32_t ids[4] = {1, 2, 3, 4}, tg[4] = {2, 3, 4, 5};
    sd_qwen3_batch b = {.B = 1, .T = 4, .ids = ids, .targets = tg};
    sd_qwen3_state s;
    sd_qwen3_state_init(&s, &m, 1, 4, false, false);
    float loss;
    cr_assert_eq(sd_qwen3_forward(&m, &s, &b, &loss, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_qwen3_backward(&m, &s, &b, 1.0f, &err), SD_EUSAGE);
    cr_assert(strstr(err.msg, "train state"), "%s", err.msg);
    tg[2] = 99; /* a target outside the vocabulary is named by forward */
    cr_assert_neq(sd_qwen3_forward(&m, &s, &b, &loss, &err), 0);
    cr_assert(strstr(err.msg, "99"), "%s", err.msg);
    sd_qwen3_state_free(&s);
    sd_qwen3_free(&m);
}

/* A workspace made for one inference sequence takes a training batch of five: it grows, and the
 * output equals that of a workspace made for five. */
Test(preconditions, seqenc_workspace_grows) {
    sd_seqenc_cfg cfg = {.dim = 8, .blocks = 1, .heads = 2, .maxlen = 6, .dropout = 0.1f, .block = SD_BLOCK_PMIXER};
    sd_params p;
    sd_params_init(&p);
    sd_seqenc e;
    sd_seqenc_declare(&e, &p, &cfg);
    sd_params_alloc(&p);
    sd_seqenc_init_weights(&e, &p, 3);
    int32_t len[5] = {3, 6, 1, 4, 2};
    int64_t off[6] = {0};
    for (int i = 0; i < 5; i++) off[i + 1] = off[i] + len[i];
    sd_packed pk = {.B = 5, .N = (int)off[5], .len = len, .off = off};
    size_t n = (size_t)pk.N * 8;
    float *want = sd_xmalloc(n * sizeof(float));
    sd_seqenc_ws *big = sd_seqenc_ws_new(&e, 5, true), *small = sd_seqenc_ws_new(&e, 1, false);
    for (int k = 0; k < 2; k++) {
        sd_seqenc_ws *ws = k ? small : big;
        float *in = sd_seqenc_input(&e, ws, pk.B, pk.N, true);
        for (size_t i = 0; i < n; i++) in[i] = (float)((i * 37) % 11) / 11.0f - 0.5f;
        const float *out = sd_seqenc_forward(&e, &p, ws, &pk, true, 5, 1);
        cr_assert_not_null(out);
        if (!k) memcpy(want, out, n * sizeof(float));
        else cr_assert(!memcmp(want, out, n * sizeof(float)), "grown workspace gives another result");
    }
    sd_packed more = {.B = 6, .N = pk.N + 1, .len = len, .off = off};
    cr_assert_null(sd_seqenc_forward(&e, &p, small, &more, false, 0, 0), "a batch never given to input is refused");
    sd_seqenc_ws_free(big);
    sd_seqenc_ws_free(small);
    free(want);
    sd_params_free(&p);
}

Test(preconditions, rqvae_workspace_grows) {
    sd_rqvae_cfg cfg;
    sd_rqvae_cfg_default(&cfg, 6);
    cfg.n_hidden = 1; cfg.hidden[0] = 5; cfg.latent = 3; cfg.levels = 2; cfg.codes = 4;
    sd_rqvae m;
    sd_err err = {0};
    cr_assert_eq(sd_rqvae_init(&m, &cfg, 7, &err), 0, "%s", err.msg);
    float x[10 * 6];
    for (int i = 0; i < 60; i++) x[i] = (float)((i * 13) % 7) - 3.0f;
    sd_rqvae_ws a, b;
    sd_rqvae_ws_init(&a, &m, 10);
    sd_rqvae_ws_init(&b, &m, 2);
    double la = sd_rqvae_forward(&m, &a, x, 10, NULL), lb = sd_rqvae_forward(&m, &b, x, 10, NULL);
    cr_assert_eq(la, lb);
    cr_assert_eq(b.max_rows, 10);
    cr_assert(!memcmp(a.codes, b.codes, sizeof(int32_t) * 10 * 2));
    sd_rqvae_ws_free(&a);
    sd_rqvae_ws_free(&b);
    sd_rqvae_free(&m);
}
