/* Every op of src/nn checked two ways: against PyTorch (tests/ref/nn_ops.py, float64 reference
 * from the same float32 inputs) and by central finite differences of L = sum(out * dy).
 *
 * Tolerances: torch parity |c - ref| <= 1e-5 + 1e-4 |ref| for elementwise ops and norms (float32
 * rounding of O(1) values), 2e-5 + 2e-4 |ref| for attention and losses (sums over rows).
 * Finite differences: step h = 1e-2 on float32 inputs with L accumulated in double; central
 * differences have truncation error O(h^2 f''') ~ 1e-4 and float32 output rounding
 * ~ 1e-7 * sqrt(n) / h, so we accept |fd - analytic| <= 2e-3 + 2e-2 |analytic|. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/rng.h"
#include "nn/ops.h"
#include "nn_ref.h"

#define PAR_ATOL 1e-5
#define PAR_RTOL 1e-4
#define FD_H 1e-2
#define FD_ATOL 2e-3
#define FD_RTOL 2e-2

typedef void (*fwd_fn)(void *ctx, float *out);

static double eval_L(fwd_fn f, void *ctx, float *out, const float *dy, size_t nout) {
    f(ctx, out);
    double L = 0;
    for (size_t i = 0; i < nout; i++) L += (double)out[i] * (dy ? dy[i] : 1.0);
    return L;
}

/* Central differences on up to 40 entries of x (all if fewer), compared with grad. */
static void fd_check(const char *what, fwd_fn f, void *ctx, size_t nout, const float *dy, float *x,
                     const float *grad, size_t n) {
    float *out = calloc(nout + 1, sizeof(float));
    size_t stride = n > 40 ? n / 40 : 1;
    for (size_t i = 0; i < n; i += stride) {
        float x0 = x[i];
        x[i] = x0 + (float)FD_H;
        double lp = eval_L(f, ctx, out, dy, nout);
        x[i] = x0 - (float)FD_H;
        double lm = eval_L(f, ctx, out, dy, nout);
        x[i] = x0;
        double h2 = (double)(x0 + (float)FD_H) - (double)(x0 - (float)FD_H);
        double fd = (lp - lm) / h2;
        cr_assert(fabs(fd - grad[i]) <= FD_ATOL + FD_RTOL * fabs(grad[i]),
                  "%s: finite difference at %zu: %.6g vs analytic %.6g", what, i, fd, (double)grad[i]);
    }
    free(out);
}

static float *zeros(size_t n) { return calloc(n + 1, sizeof(float)); }
static int dim(tref *r, const char *name, int d) { return (int)tref_get(r, name)->shape[d]; }

/* ---------------- linear ---------------- */
typedef struct { float *x, *W, *b; int N, in, out; } linear_ctx;
static void linear_fwd(void *p, float *y) {
    linear_ctx *c = p;
    sd_linear_forward(y, c->x, c->W, c->b, c->N, c->in, c->out);
}

static void linear_case(const char *file, int with_bias) {
    tref *r = tref_load(file);
    linear_ctx c = {fdup(tref_f(r, "x"), tref_get(r, "x")->n), fdup(tref_f(r, "W"), tref_get(r, "W")->n),
                    with_bias ? fdup(tref_f(r, "b"), tref_get(r, "b")->n) : NULL,
                    dim(r, "x", 0), dim(r, "x", 1), dim(r, "W", 0)};
    size_t ny = (size_t)c.N * c.out;
    float *y = zeros(ny), *dy = tref_f(r, "dy");
    linear_fwd(&c, y);
    check_close("linear y", y, tref_f(r, "out"), ny, PAR_ATOL, PAR_RTOL);
    float *dx = zeros((size_t)c.N * c.in), *dW = zeros((size_t)c.out * c.in), *db = zeros(c.out);
    sd_linear_backward(dx, dW, with_bias ? db : NULL, dy, c.x, c.W, c.N, c.in, c.out);
    check_close("linear dx", dx, tref_f(r, "d_x"), (size_t)c.N * c.in, PAR_ATOL, PAR_RTOL);
    check_close("linear dW", dW, tref_f(r, "d_W"), (size_t)c.out * c.in, PAR_ATOL, PAR_RTOL);
    if (with_bias) check_close("linear db", db, tref_f(r, "d_b"), c.out, PAR_ATOL, PAR_RTOL);
    fd_check("linear x", linear_fwd, &c, ny, dy, c.x, dx, (size_t)c.N * c.in);
    fd_check("linear W", linear_fwd, &c, ny, dy, c.W, dW, (size_t)c.out * c.in);
    if (with_bias) fd_check("linear b", linear_fwd, &c, ny, dy, c.b, db, c.out);
    /* A second backward accumulates: gradients double. */
    float *dW1 = fdup(dW, (size_t)c.out * c.in);
    sd_linear_backward(dx, dW, with_bias ? db : NULL, dy, c.x, c.W, c.N, c.in, c.out);
    for (size_t i = 0; i < (size_t)c.out * c.in; i++) cr_assert_float_eq(dW[i], 2 * dW1[i], 1e-5);
    free(c.x); free(c.W); free(c.b); free(y); free(dx); free(dW); free(db); free(dW1);
    tref_free(r);
}

Test(nn_ops, linear_bias) { linear_case("nn_op_linear_bias.bin", 1); }
Test(nn_ops, linear_nobias) { linear_case("nn_op_linear_nobias.bin", 0); }

/* ---------------- embedding ---------------- */
typedef struct { float *table; int32_t *ids; int N, V, C; } emb_ctx;
static void emb_fwd(void *p, float *y) {
    emb_ctx *c = p;
    sd_embedding_forward(y, c->ids, c->table, c->N, c->V, c->C);
}

Test(nn_ops, embedding_padding) {
    tref *r = tref_load("nn_op_embedding.bin");
    emb_ctx c = {fdup(tref_f(r, "table"), tref_get(r, "table")->n), tref_i(r, "ids"), dim(r, "ids", 0),
                 dim(r, "table", 0), dim(r, "table", 1)};
    size_t ny = (size_t)c.N * c.C;
    float *y = zeros(ny), *dt = zeros((size_t)c.V * c.C);
    emb_fwd(&c, y);
    check_close("embedding y", y, tref_f(r, "out"), ny, 0, 0);
    sd_embedding_backward(dt, tref_f(r, "dy"), c.ids, c.N, c.C, 0);
    check_close("embedding dtable", dt, tref_f(r, "d_table"), (size_t)c.V * c.C, PAR_ATOL, PAR_RTOL);
    for (int j = 0; j < c.C; j++) cr_assert_eq(dt[j], 0.0f, "padding row got a gradient");
    /* Without a padding index row 0 does get gradient; finite differences agree. */
    memset(dt, 0, (size_t)c.V * c.C * sizeof(float));
    sd_embedding_backward(dt, tref_f(r, "dy"), c.ids, c.N, c.C, -1);
    fd_check("embedding table", emb_fwd, &c, ny, tref_f(r, "dy"), c.table, dt, (size_t)c.V * c.C);
    free(c.table); free(y); free(dt);
    tref_free(r);
}

/* ---------------- norms ---------------- */
typedef struct { float *x, *w, *b; int N, C; float eps; float *mean, *rstd; } norm_ctx;
static void ln_fwd(void *p, float *y) {
    norm_ctx *c = p;
    sd_layernorm_forward(y, c->mean, c->rstd, c->x, c->w, c->b, c->N, c->C, c->eps);
}
static void rms_fwd(void *p, float *y) {
    norm_ctx *c = p;
    sd_rmsnorm_forward(y, c->rstd, c->x, c->w, c->N, c->C, c->eps);
}

Test(nn_ops, layernorm) {
    tref *r = tref_load("nn_op_layernorm.bin");
    int N = dim(r, "x", 0), C = dim(r, "x", 1);
    norm_ctx c = {fdup(tref_f(r, "x"), (size_t)N * C), fdup(tref_f(r, "w"), C), fdup(tref_f(r, "b"), C), N, C, 1e-8f,
                  zeros(N), zeros(N)};
    float *y = zeros((size_t)N * C), *dx = zeros((size_t)N * C), *dw = zeros(C), *db = zeros(C), *dy = tref_f(r, "dy");
    ln_fwd(&c, y);
    check_close("layernorm y", y, tref_f(r, "out"), (size_t)N * C, PAR_ATOL, PAR_RTOL);
    sd_layernorm_backward(dx, dw, db, dy, c.x, c.w, c.mean, c.rstd, N, C);
    check_close("layernorm dx", dx, tref_f(r, "d_x"), (size_t)N * C, PAR_ATOL, PAR_RTOL);
    check_close("layernorm dw", dw, tref_f(r, "d_w"), C, PAR_ATOL, PAR_RTOL);
    check_close("layernorm db", db, tref_f(r, "d_b"), C, PAR_ATOL, PAR_RTOL);
    fd_check("layernorm x", ln_fwd, &c, (size_t)N * C, dy, c.x, dx, (size_t)N * C);
    fd_check("layernorm w", ln_fwd, &c, (size_t)N * C, dy, c.w, dw, C);
    fd_check("layernorm b", ln_fwd, &c, (size_t)N * C, dy, c.b, db, C);
    free(c.x); free(c.w); free(c.b); free(c.mean); free(c.rstd); free(y); free(dx); free(dw); free(db);
    tref_free(r);
}

Test(nn_ops, rmsnorm) {
    tref *r = tref_load("nn_op_rmsnorm.bin");
    int N = dim(r, "x", 0), C = dim(r, "x", 1);
    norm_ctx c = {fdup(tref_f(r, "x"), (size_t)N * C), fdup(tref_f(r, "w"), C), NULL, N, C, 1e-6f, NULL, zeros(N)};
    float *y = zeros((size_t)N * C), *dx = zeros((size_t)N * C), *dw = zeros(C), *dy = tref_f(r, "dy");
    rms_fwd(&c, y);
    check_close("rmsnorm y", y, tref_f(r, "out"), (size_t)N * C, PAR_ATOL, PAR_RTOL);
    sd_rmsnorm_backward(dx, dw, dy, c.x, c.w, c.rstd, N, C);
    check_close("rmsnorm dx", dx, tref_f(r, "d_x"), (size_t)N * C, PAR_ATOL, PAR_RTOL);
    check_close("rmsnorm dw", dw, tref_f(r, "d_w"), C, PAR_ATOL, PAR_RTOL);
    fd_check("rmsnorm x", rms_fwd, &c, (size_t)N * C, dy, c.x, dx, (size_t)N * C);
    fd_check("rmsnorm w", rms_fwd, &c, (size_t)N * C, dy, c.w, dw, C);
    free(c.x); free(c.w); free(c.rstd); free(y); free(dx); free(dw);
    tref_free(r);
}

/* ---------------- activations ---------------- */
typedef struct { float *x, *up; size_t n; int kind; } act_ctx;
static void act_fwd(void *p, float *y) {
    act_ctx *c = p;
    if (c->kind == 0) sd_relu_forward(y, c->x, c->n);
    else if (c->kind == 1) sd_silu_forward(y, c->x, c->n);
    else sd_swiglu_forward(y, c->x, c->up, c->n);
}

static void act_case(const char *file, int kind) {
    tref *r = tref_load(file);
    const char *xn = kind == 2 ? "gate" : "x";
    size_t n = tref_get(r, xn)->n;
    act_ctx c = {fdup(tref_f(r, xn), n), kind == 2 ? fdup(tref_f(r, "up"), n) : NULL, n, kind};
    float *y = zeros(n), *dx = zeros(n), *dup = zeros(n), *dy = tref_f(r, "dy");
    act_fwd(&c, y);
    check_close(file, y, tref_f(r, "out"), n, PAR_ATOL, PAR_RTOL);
    if (kind == 0) sd_relu_backward(dx, dy, c.x, n);
    else if (kind == 1) sd_silu_backward(dx, dy, c.x, n);
    else sd_swiglu_backward(dx, dup, dy, c.x, c.up, n);
    check_close(file, dx, tref_f(r, kind == 2 ? "d_gate" : "d_x"), n, PAR_ATOL, PAR_RTOL);
    if (kind == 2) check_close("swiglu dup", dup, tref_f(r, "d_up"), n, PAR_ATOL, PAR_RTOL);
    /* relu's kink: move inputs within 2h of zero away so the difference quotient is defined */
    if (kind == 0) for (size_t i = 0; i < n; i++) if (fabsf(c.x[i]) < 0.03f) c.x[i] = 0.5f;
    if (kind == 0) { memset(dx, 0, n * sizeof(float)); sd_relu_backward(dx, dy, c.x, n); }
    fd_check(file, act_fwd, &c, n, dy, c.x, dx, n);
    if (kind == 2) fd_check("swiglu up", act_fwd, &c, n, dy, c.up, dup, n);
    free(c.x); free(c.up); free(y); free(dx); free(dup);
    tref_free(r);
}

Test(nn_ops, relu) { act_case("nn_op_relu.bin", 0); }
Test(nn_ops, silu) { act_case("nn_op_silu.bin", 1); }
Test(nn_ops, swiglu) { act_case("nn_op_swiglu.bin", 2); }

Test(nn_ops, add_and_long_activation) {
    /* Long arrays cross the OpenMP threshold and the vector/tail split; compare with scalar math. */
    size_t n = 100003;
    float *x = zeros(n), *y = zeros(n), *a = zeros(n), *s = zeros(n), *d = zeros(n);
    sd_rng rng;
    sd_rng_seed(&rng, 3);
    for (size_t i = 0; i < n; i++) { x[i] = (float)sd_rng_normal(&rng) * 6; a[i] = (float)sd_rng_normal(&rng); }
    sd_silu_forward(y, x, n);
    for (size_t i = 0; i < n; i++) {
        double want = x[i] / (1 + exp(-(double)x[i]));
        cr_assert(fabs(y[i] - want) <= 1e-6 + 1e-6 * fabs(want), "silu %zu: %g vs %g", i, y[i], want);
    }
    sd_add_forward(s, x, a, n);
    for (size_t i = 0; i < n; i++) cr_assert_eq(s[i], x[i] + a[i]);
    sd_add_backward(d, NULL, a, n);
    sd_add_backward(d, NULL, a, n);
    for (size_t i = 0; i < n; i++) cr_assert_eq(d[i], 2 * a[i]);
    free(x); free(y); free(a); free(s); free(d);
}

/* ---------------- dropout ---------------- */
Test(nn_ops, dropout_mask_regenerated) {
    size_t n = 200001;
    float p = 0.3f;
    float *x = zeros(n), *y = zeros(n), *y2 = zeros(n), *dx = zeros(n), *dy = zeros(n);
    uint8_t *mask = malloc(n);
    for (size_t i = 0; i < n; i++) { x[i] = 1.0f + (float)(i % 7); dy[i] = (float)(i % 5) - 2; }
    sd_dropout_forward(y, mask, x, n, p, 42, 7);
    sd_dropout_forward(y2, NULL, x, n, p, 42, 7);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(y[i], y2[i], "same key, different output at %zu", i);
        cr_assert_eq(y[i], mask[i] ? x[i] * (1.0f / (1 - p)) : 0.0f);
        kept += mask[i];
    }
    /* Binomial(n, 0.7): sd = 205; 5 sd bounds */
    cr_assert(fabs((double)kept - 0.7 * n) < 1100, "kept %zu of %zu", kept, n);
    sd_dropout_backward(dx, dy, n, p, 42, 7);
    for (size_t i = 0; i < n; i++) cr_assert_eq(dx[i], mask[i] ? dy[i] * (1.0f / (1 - p)) : 0.0f);
    sd_dropout_forward(y2, NULL, x, n, p, 42, 8);
    size_t same = 0;
    for (size_t i = 0; i < n; i++) same += y2[i] == y[i];
    cr_assert(same < n * 0.7, "another stream should give another mask");
    free(x); free(y); free(y2); free(dx); free(dy); free(mask);
}

/* ---------------- attention ---------------- */
typedef struct {
    float *q, *k, *v, *qn, *kn;
    sd_attn_cfg cfg;
    sd_attn_state st;
} attn_ctx;
static void attn_fwd(void *p, float *y) {
    attn_ctx *c = p;
    sd_attention_forward(y, &c->st, c->q, c->k, c->v, &c->cfg);
}

static void attn_case(const char *file) {
    tref *r = tref_load(file);
    int32_t *cf = tref_i(r, "cfg");
    attn_ctx c = {0};
    c.cfg = (sd_attn_cfg){.B = cf[0], .T = cf[1], .H = cf[2], .KV = cf[3], .hd = cf[4], .causal = cf[5]};
    int B = cf[0], T = cf[1], H = cf[2], KV = cf[3], hd = cf[4];
    size_t nq = (size_t)B * T * H * hd, nk = (size_t)B * T * KV * hd;
    c.q = fdup(tref_f(r, "q"), nq); c.k = fdup(tref_f(r, "k"), nk); c.v = fdup(tref_f(r, "v"), nk);
    uint8_t *kv = NULL;
    if (cf[6]) {
        kv = malloc((size_t)B * T);
        for (int i = 0; i < B * T; i++) kv[i] = (uint8_t)tref_i(r, "key_valid")[i];
        c.cfg.key_valid = kv;
    }
    c.cfg.pos = tref_i(r, "pos");
    c.cfg.rope_theta = tref_scalar(r, "theta");
    if (cf[7]) {
        c.qn = fdup(tref_f(r, "qn"), hd); c.kn = fdup(tref_f(r, "kn"), hd);
        c.cfg.q_norm_w = c.qn; c.cfg.k_norm_w = c.kn; c.cfg.qk_norm_eps = 1e-6f;
    }
    sd_attn_state_init(&c.st, &c.cfg);
    float *y = zeros(nq), *dq = zeros(nq), *dk = zeros(nk), *dv = zeros(nk), *dqn = zeros(hd), *dkn = zeros(hd);
    float *dy = tref_f(r, "dy");
    attn_fwd(&c, y);
    check_close("attention out", y, tref_f(r, "out"), nq, 2 * PAR_ATOL, 2 * PAR_RTOL);
    for (size_t i = 0; i < nq; i++) cr_assert(isfinite(y[i]));
    sd_attention_backward(dq, dk, dv, dqn, dkn, dy, &c.st, c.q, c.k, c.v, &c.cfg);
    check_close("attention dq", dq, tref_f(r, "d_q"), nq, 2 * PAR_ATOL, 2 * PAR_RTOL);
    check_close("attention dk", dk, tref_f(r, "d_k"), nk, 2 * PAR_ATOL, 2 * PAR_RTOL);
    check_close("attention dv", dv, tref_f(r, "d_v"), nk, 2 * PAR_ATOL, 2 * PAR_RTOL);
    if (cf[7]) {
        check_close("attention dq_norm", dqn, tref_f(r, "d_qn"), hd, 2 * PAR_ATOL, 2 * PAR_RTOL);
        check_close("attention dk_norm", dkn, tref_f(r, "d_kn"), hd, 2 * PAR_ATOL, 2 * PAR_RTOL);
    }
    fd_check("attention q", attn_fwd, &c, nq, dy, c.q, dq, nq);
    fd_check("attention k", attn_fwd, &c, nq, dy, c.k, dk, nk);
    fd_check("attention v", attn_fwd, &c, nq, dy, c.v, dv, nk);
    if (cf[7]) {
        fd_check("attention q_norm", attn_fwd, &c, nq, dy, c.qn, dqn, hd);
        fd_check("attention k_norm", attn_fwd, &c, nq, dy, c.kn, dkn, hd);
    }
    sd_attn_state_free(&c.st);
    free(c.q); free(c.k); free(c.v); free(c.qn); free(c.kn); free(kv);
    free(y); free(dq); free(dk); free(dv); free(dqn); free(dkn);
    tref_free(r);
}

Test(nn_ops, attention_causal) { attn_case("nn_op_attn_causal.bin"); }
Test(nn_ops, attention_gqa_rope_qknorm_leftpad) { attn_case("nn_op_attn_gqa_rope_qknorm.bin"); }
Test(nn_ops, attention_bidirectional_pad_mqa) { attn_case("nn_op_attn_bidir_pad_mqa.bin"); }
Test(nn_ops, attention_rope_only) { attn_case("nn_op_attn_rope_only.bin"); }
Test(nn_ops, attention_causal_row_blocks) { attn_case("nn_op_attn_long_blocks.bin"); }

/* Key bias and probability dropout (SASRec's padding sink and pmixer's attention dropout) have no
 * PyTorch reference file: the forward is checked against a float64 loop here, the backward by
 * finite differences. With dropout the mask is keyed by (seed, stream, element), so the forward
 * evaluations of a finite difference see the same mask and the function is smooth. */
static float *randn(size_t n, uint64_t seed, double sd) {
    float *x = zeros(n);
    sd_rng r;
    sd_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = (float)(sd_rng_normal(&r) * sd);
    return x;
}

/* Softmax probabilities P [B, H, T, T] in float64: scaled scores plus key bias, causal, padding
 * keys (key_valid 0) excluded; a row with no valid key is all zeros. */
static double *probs_ref(const attn_ctx *c) {
    const sd_attn_cfg *a = &c->cfg;
    int B = a->B, T = a->T, H = a->H, KV = a->KV, hd = a->hd, G = H / KV;
    double *P = calloc((size_t)B * H * T * T, sizeof(double));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) {
                double *p = P + (((size_t)b * H + h) * T + i) * T, m = -INFINITY, sum = 0;
                int jmax = a->causal ? i + 1 : T;
                for (int j = 0; j < jmax; j++) {
                    size_t n = (size_t)b * T + j;
                    if (a->key_valid && !a->key_valid[n]) { p[j] = -INFINITY; continue; }
                    double d = 0;
                    for (int e = 0; e < hd; e++)
                        d += (double)c->q[((size_t)b * T + i) * H * hd + h * hd + e] *
                             c->k[n * KV * hd + (h / G) * hd + e];
                    p[j] = d / sqrt((double)hd) + (a->key_bias ? a->key_bias[n] : 0.0);
                    m = p[j] > m ? p[j] : m;
                }
                for (int j = 0; j < jmax; j++) sum += p[j] == -INFINITY ? 0 : exp(p[j] - m);
                for (int j = 0; j < T; j++) p[j] = j < jmax && p[j] != -INFINITY ? exp(p[j] - m) / sum : 0.0;
            }
    return P;
}

/* out [B, T, H*hd] = P V in float64. */
static void out_ref(const attn_ctx *c, const double *P, float *out) {
    const sd_attn_cfg *a = &c->cfg;
    int B = a->B, T = a->T, H = a->H, KV = a->KV, hd = a->hd, G = H / KV;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++)
                for (int e = 0; e < hd; e++) {
                    double acc = 0;
                    for (int j = 0; j < T; j++)
                        acc += P[(((size_t)b * H + h) * T + i) * T + j] *
                               c->v[((size_t)b * T + j) * KV * hd + (h / G) * hd + e];
                    out[((size_t)b * T + i) * H * hd + h * hd + e] = (float)acc;
                }
}

static void attn_grads_fd(attn_ctx *c, const float *dy) {
    int B = c->cfg.B, T = c->cfg.T;
    size_t nq = (size_t)B * T * c->cfg.H * c->cfg.hd, nk = (size_t)B * T * c->cfg.KV * c->cfg.hd;
    float *y = zeros(nq), *dq = zeros(nq), *dk = zeros(nk), *dv = zeros(nk);
    attn_fwd(c, y);
    sd_attention_backward(dq, dk, dv, NULL, NULL, dy, &c->st, c->q, c->k, c->v, &c->cfg);
    fd_check("attention q", attn_fwd, c, nq, dy, c->q, dq, nq);
    fd_check("attention k", attn_fwd, c, nq, dy, c->k, dk, nk);
    fd_check("attention v", attn_fwd, c, nq, dy, c->v, dv, nk);
    free(y); free(dq); free(dk); free(dv);
}

Test(nn_ops, attention_key_bias) {
    enum { B = 2, T = 6, H = 4, KV = 2, hd = 4 };
    size_t nq = (size_t)B * T * H * hd, nk = (size_t)B * T * KV * hd;
    attn_ctx c = {0};
    c.q = randn(nq, 21, 1.0); c.k = randn(nk, 22, 1.0); c.v = randn(nk, 23, 1.0);
    /* a sink-like first key with a large bias (log multiplicity), mixed-sign biases elsewhere,
     * and one padding key in batch 1 (the bias must not revive it) */
    float *kb = randn((size_t)B * T, 24, 1.0);
    kb[0] = logf(40.0f); kb[T] = logf(3.0f);
    uint8_t kv[B * T];
    for (int i = 0; i < B * T; i++) kv[i] = i != T + 2;
    c.cfg = (sd_attn_cfg){.B = B, .T = T, .H = H, .KV = KV, .hd = hd, .causal = true, .key_bias = kb, .key_valid = kv};
    sd_attn_state_init(&c.st, &c.cfg);
    float *y = zeros(nq), *want = zeros(nq), *y0 = zeros(nq), *dy = randn(nq, 25, 1.0);
    attn_fwd(&c, y);
    double *P = probs_ref(&c);
    out_ref(&c, P, want);
    check_close("attention with key bias", y, want, nq, 2 * PAR_ATOL, 2 * PAR_RTOL);
    /* the bias matters: without it the output is another one */
    c.cfg.key_bias = NULL;
    attn_fwd(&c, y0);
    double moved = 0;
    for (size_t i = 0; i < nq; i++) moved += fabs(y0[i] - y[i]);
    cr_assert_gt(moved, 0.1 * nq, "key bias changed the output by only %g in all", moved);
    c.cfg.key_bias = kb;
    attn_grads_fd(&c, dy);
    sd_attn_state_free(&c.st);
    free(P); free(c.q); free(c.k); free(c.v); free(kb); free(y); free(want); free(y0); free(dy);
}

Test(nn_ops, attention_probability_dropout) {
    enum { B = 2, T = 7, H = 2, KV = 1, hd = 8 };
    const float p = 0.4f;
    size_t nq = (size_t)B * T * H * hd, nk = (size_t)B * T * KV * hd;
    attn_ctx c = {0};
    c.q = randn(nq, 31, 1.0); c.k = randn(nk, 32, 1.0);
    /* V = one-hot rows (key j -> unit vector e_j), so out reads back the dropped probabilities */
    c.v = zeros(nk);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < T; j++) c.v[((size_t)b * T + j) * KV * hd + j] = 1.0f;
    c.cfg = (sd_attn_cfg){.B = B, .T = T, .H = H, .KV = KV, .hd = hd, .causal = true, .drop_p = p, .drop_seed = 9,
                          .drop_stream = 5};
    sd_attn_state_init(&c.st, &c.cfg);
    float *y = zeros(nq), *y2 = zeros(nq), *dy = randn(nq, 33, 1.0);
    attn_fwd(&c, y);
    attn_fwd(&c, y2);
    cr_assert_eq(memcmp(y, y2, sizeof(float) * nq), 0, "same seed and stream, another mask");
    double *P = probs_ref(&c);
    int kept = 0, dropped = 0, differ = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++)
                for (int j = 0; j <= i; j++) {
                    double pr = P[(((size_t)b * H + h) * T + i) * T + j];
                    float got = y[((size_t)b * T + i) * H * hd + h * hd + j];
                    bool keep = fabs(got - pr / (1 - p)) <= 1e-5 + 1e-4 * pr;
                    cr_assert(keep || got == 0.0f, "b %d h %d (%d, %d): %g is neither 0 nor p / (1 - p) = %g", b, h,
                              i, j, got, pr / (1 - p));
                    keep ? kept++ : dropped++;
                    /* the two query heads share the kv head but not the mask */
                    if (h == 1) differ += (got == 0.0f) != (y[((size_t)b * T + i) * H * hd + j] == 0.0f);
                }
    /* 112 probabilities at p = 0.4: mean 44.8 dropped, sd 5.2 */
    cr_assert(dropped >= 25 && dropped <= 65, "dropped %d of %d", dropped, kept + dropped);
    cr_assert_gt(differ, 0, "every head drew the same mask");
    c.cfg.drop_stream = 6;
    attn_fwd(&c, y2);
    cr_assert_neq(memcmp(y, y2, sizeof(float) * nq), 0, "another stream, the same mask");
    c.cfg.drop_stream = 5;
    free(c.v);
    c.v = randn(nk, 34, 1.0);
    attn_grads_fd(&c, dy);
    sd_attn_state_free(&c.st);
    free(P); free(c.q); free(c.k); free(c.v); free(y); free(y2); free(dy);
}

/* ---------------- losses ---------------- */
typedef struct { float *h, *W; int32_t *tg; int N, C, V, ignore; int chunked; } xent_ctx;
static void xent_fwd(void *p, float *y) {
    xent_ctx *c = p;
    if (c->chunked) y[0] = sd_xent_chunked_forward(NULL, c->h, c->W, c->tg, c->N, c->C, c->V, c->ignore, NULL);
    else y[0] = sd_xent_forward(NULL, c->h, c->tg, c->N, c->V, c->ignore, NULL);
}

static void xent_chunked_case(const char *file, int ignore) {
    tref *r = tref_load(file);
    xent_ctx c = {fdup(tref_f(r, "h"), tref_get(r, "h")->n), fdup(tref_f(r, "W"), tref_get(r, "W")->n),
                  tref_i(r, "targets"), dim(r, "h", 0), dim(r, "h", 1), dim(r, "W", 0), ignore, 1};
    float *lse = zeros(c.N), *dh = zeros((size_t)c.N * c.C), *dW = zeros((size_t)c.V * c.C);
    int nv = 0;
    float loss = sd_xent_chunked_forward(lse, c.h, c.W, c.tg, c.N, c.C, c.V, ignore, &nv);
    check_close("xent loss", &loss, tref_f(r, "out"), 1, 2 * PAR_ATOL, 2 * PAR_RTOL);
    for (int i = 0; i < c.N; i++) cr_assert_eq(isnan(lse[i]), c.tg[i] == ignore);
    sd_xent_chunked_backward(dh, dW, c.h, c.W, c.tg, lse, c.N, c.C, c.V, ignore, 1.0f);
    check_close("xent dh", dh, tref_f(r, "d_h"), (size_t)c.N * c.C, 2 * PAR_ATOL, 2 * PAR_RTOL);
    check_close("xent dW", dW, tref_f(r, "d_W"), (size_t)c.V * c.C, 2 * PAR_ATOL, 2 * PAR_RTOL);
    for (int i = 0; i < c.N; i++)
        if (c.tg[i] == ignore)
            for (int j = 0; j < c.C; j++) cr_assert_eq(dh[(size_t)i * c.C + j], 0.0f, "ignored row %d got gradient", i);
    fd_check("xent hidden", xent_fwd, &c, 1, NULL, c.h, dh, (size_t)c.N * c.C);
    fd_check("xent W", xent_fwd, &c, 1, NULL, c.W, dW, (size_t)c.V * c.C);
    free(c.h); free(c.W); free(lse); free(dh); free(dW);
    tref_free(r);
}

Test(nn_ops, xent_chunked_vocab) { xent_chunked_case("nn_op_xent_chunked.bin", -100); }
Test(nn_ops, xent_chunked_row_blocks) { xent_chunked_case("nn_op_xent_chunked_rows.bin", -1); }

Test(nn_ops, xent_logits) {
    tref *r = tref_load("nn_op_xent_logits.bin");
    xent_ctx c = {fdup(tref_f(r, "logits"), tref_get(r, "logits")->n), NULL, tref_i(r, "targets"),
                  dim(r, "logits", 0), 0, dim(r, "logits", 1), -100, 0};
    float *lse = zeros(c.N), *dl = zeros((size_t)c.N * c.V);
    float loss = sd_xent_forward(lse, c.h, c.tg, c.N, c.V, -100, NULL);
    check_close("xent loss", &loss, tref_f(r, "out"), 1, 2 * PAR_ATOL, 2 * PAR_RTOL);
    sd_xent_backward(dl, c.h, c.tg, lse, c.N, c.V, -100, 1.0f);
    check_close("xent dlogits", dl, tref_f(r, "d_logits"), (size_t)c.N * c.V, 2 * PAR_ATOL, 2 * PAR_RTOL);
    fd_check("xent logits", xent_fwd, &c, 1, NULL, c.h, dl, (size_t)c.N * c.V);
    free(c.h); free(lse); free(dl);
    tref_free(r);
}

Test(nn_ops, xent_all_ignored_is_zero) {
    float h[6] = {1, 2, 3, 4, 5, 6}, W[9] = {1, 0, 0, 1, 1, 1, 0, 0, 0}, dh[6] = {0}, dW[9] = {0};
    int32_t tg[2] = {-100, -100};
    int nv = 5;
    cr_assert_eq(sd_xent_chunked_forward(NULL, h, W, tg, 2, 3, 3, -100, &nv), 0.0f);
    cr_assert_eq(nv, 0);
    sd_xent_chunked_backward(dh, dW, h, W, tg, NULL, 2, 3, 3, -100, 1.0f);
    for (int i = 0; i < 6; i++) cr_assert_eq(dh[i], 0.0f);
}

typedef struct { float *x, *y; size_t n; int kind; } pw_ctx;
static void pw_fwd(void *p, float *out) {
    pw_ctx *c = p;
    out[0] = c->kind == 0 ? sd_bce_logits_forward(c->x, c->y, c->n)
                          : sd_mse_forward(c->x, c->y, c->n, c->kind == 1 ? SD_REDUCE_MEAN : SD_REDUCE_SUM);
}

static void pointwise_case(const char *file, int kind) {
    tref *r = tref_load(file);
    const char *xn = kind == 0 ? "x" : "p", *yn = kind == 0 ? "y" : "t";
    size_t n = tref_get(r, xn)->n;
    pw_ctx c = {fdup(tref_f(r, xn), n), tref_f(r, yn), n, kind};
    float loss, *dx = zeros(n);
    pw_fwd(&c, &loss);
    check_close(file, &loss, tref_f(r, "out"), 1, 2 * PAR_ATOL, 2 * PAR_RTOL);
    if (kind == 0) sd_bce_logits_backward(dx, c.x, c.y, n, 1.0f);
    else sd_mse_backward(dx, c.x, c.y, n, kind == 1 ? SD_REDUCE_MEAN : SD_REDUCE_SUM, 1.0f);
    check_close(file, dx, tref_f(r, kind == 0 ? "d_x" : "d_p"), n, PAR_ATOL, PAR_RTOL);
    fd_check(file, pw_fwd, &c, 1, NULL, c.x, dx, n);
    free(c.x); free(dx);
    tref_free(r);
}

Test(nn_ops, bce_logits) { pointwise_case("nn_op_bce.bin", 0); }
Test(nn_ops, mse_mean) { pointwise_case("nn_op_mse_mean.bin", 1); }
Test(nn_ops, mse_sum) { pointwise_case("nn_op_mse_sum.bin", 2); }
