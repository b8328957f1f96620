#include "nn/block.h"
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include "base/mem.h"

_Thread_local bool sd_block_profile = false;
_Thread_local double sd_block_times[2][SD_PROF_N];
const char *sd_block_prof_names[SD_PROF_N] = {"norms", "q/k/v proj", "attention", "o proj", "mlp matmuls",
                                              "activation", "residual/zero"};

#define PROF(dir, kind, stmt)                                                    \
    do {                                                                         \
        double t0_ = sd_block_profile ? omp_get_wtime() : 0;                     \
        stmt;                                                                    \
        if (sd_block_profile) sd_block_times[dir][kind] += omp_get_wtime() - t0_; \
    } while (0)

static int add(sd_params *p, const char *prefix, const char *name, int rows, int cols, bool decay) {
    char full[512];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    int64_t shape[2] = {rows, cols};
    return sd_params_add(p, full, cols ? 2 : 1, shape, decay);
}

void sd_block_declare(sd_block *b, sd_params *p, const char *pre, const sd_block_cfg *c) {
    memset(b, -1, sizeof *b);
    b->cfg = *c;
    int qd = c->H * c->hd, kd = c->KV * c->hd;
    b->ln1_w = add(p, pre, "input_layernorm.weight", c->C, 0, false);
    if (!c->rmsnorm) b->ln1_b = add(p, pre, "input_layernorm.bias", c->C, 0, false);
    b->q_w = add(p, pre, "self_attn.q_proj.weight", qd, c->C, true);
    if (c->bias) b->q_b = add(p, pre, "self_attn.q_proj.bias", qd, 0, false);
    b->k_w = add(p, pre, "self_attn.k_proj.weight", kd, c->C, true);
    if (c->bias) b->k_b = add(p, pre, "self_attn.k_proj.bias", kd, 0, false);
    b->v_w = add(p, pre, "self_attn.v_proj.weight", kd, c->C, true);
    if (c->bias) b->v_b = add(p, pre, "self_attn.v_proj.bias", kd, 0, false);
    b->o_w = add(p, pre, "self_attn.o_proj.weight", c->C, qd, true);
    if (c->bias) b->o_b = add(p, pre, "self_attn.o_proj.bias", c->C, 0, false);
    if (c->qk_norm) {
        b->qn_w = add(p, pre, "self_attn.q_norm.weight", c->hd, 0, false);
        b->kn_w = add(p, pre, "self_attn.k_norm.weight", c->hd, 0, false);
    }
    b->ln2_w = add(p, pre, "post_attention_layernorm.weight", c->C, 0, false);
    if (!c->rmsnorm) b->ln2_b = add(p, pre, "post_attention_layernorm.bias", c->C, 0, false);
    if (c->swiglu) b->gate_w = add(p, pre, "mlp.gate_proj.weight", c->F, c->C, true);
    b->up_w = add(p, pre, "mlp.up_proj.weight", c->F, c->C, true);
    if (c->bias) b->up_b = add(p, pre, "mlp.up_proj.bias", c->F, 0, false);
    b->down_w = add(p, pre, "mlp.down_proj.weight", c->C, c->F, true);
    if (c->bias) b->down_b = add(p, pre, "mlp.down_proj.bias", c->C, 0, false);
}

static sd_attn_cfg attn_cfg(const sd_block_cfg *c, int B, int T) {
    return (sd_attn_cfg){.B = B, .T = T, .H = c->H, .KV = c->KV, .hd = c->hd, .causal = c->causal,
                         .rope_theta = c->rope_theta, .qk_norm_eps = c->norm_eps};
}

static void acts_alloc(sd_block_acts *a, const sd_block_cfg *c, int B, int T) {
    memset(a, 0, sizeof *a);
    size_t N = (size_t)B * T;
    a->B = B; a->T = T; a->max_rows = B * T;
    a->ln1 = sd_afloats(N * c->C); a->ln1_mean = sd_afloats(N); a->ln1_rstd = sd_afloats(N);
    a->q = sd_afloats(N * c->H * c->hd); a->k = sd_afloats(N * c->KV * c->hd); a->v = sd_afloats(N * c->KV * c->hd);
    a->att = sd_afloats(N * c->H * c->hd);
    a->h = sd_afloats(N * c->C);
    a->ln2 = sd_afloats(N * c->C); a->ln2_mean = sd_afloats(N); a->ln2_rstd = sd_afloats(N);
    if (c->swiglu) a->gate = sd_afloats(N * c->F);
    a->up = sd_afloats(N * c->F); a->act = sd_afloats(N * c->F);
}

void sd_block_acts_init_hooked(sd_block_acts *a, const sd_block_cfg *c, int max_rows, const sd_block_attn_hook *hook) {
    acts_alloc(a, c, 1, max_rows);
    a->hook = *hook;
}

void sd_block_acts_rows(sd_block_acts *a, int N) { a->B = 1; a->T = N <= a->max_rows ? N : a->max_rows; }

void sd_block_acts_init(sd_block_acts *a, const sd_block_cfg *c, int B, int T) {
    acts_alloc(a, c, B, T);
    a->acfg = attn_cfg(c, B, T);
    /* The state sizes its q/k-norm buffers by whether norm weights are set; the real pointers
     * are filled in at each forward (they live in the params). */
    static const float marker;
    if (c->qk_norm) a->acfg.q_norm_w = a->acfg.k_norm_w = &marker;
    sd_attn_state_init(&a->attn, &a->acfg);
    a->acfg.q_norm_w = a->acfg.k_norm_w = NULL;
}

void sd_block_acts_free(sd_block_acts *a) {
    float *bufs[] = {a->ln1, a->ln1_mean, a->ln1_rstd, a->q, a->k, a->v, a->att, a->h, a->ln2, a->ln2_mean,
                     a->ln2_rstd, a->gate, a->up, a->act};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) sd_afree(bufs[i]);
    sd_attn_state_free(&a->attn);
    memset(a, 0, sizeof *a);
}

void sd_block_scratch_init(sd_block_scratch *s, const sd_block_cfg *c, int B, int T) {
    size_t N = (size_t)B * T;
    s->d_ln = sd_afloats(N * c->C);
    s->dq = sd_afloats(N * c->H * c->hd); s->dk = sd_afloats(N * c->KV * c->hd); s->dv = sd_afloats(N * c->KV * c->hd);
    s->d_att = sd_afloats(N * c->H * c->hd);
    s->dh = sd_afloats(N * c->C);
    s->d_gate = c->swiglu ? sd_afloats(N * c->F) : NULL;
    s->d_up = sd_afloats(N * c->F); s->d_act = sd_afloats(N * c->F);
    s->d_y = c->mlp_dropout > 0 ? sd_afloats(N * c->C) : NULL;
}

void sd_block_scratch_free(sd_block_scratch *s) {
    float *bufs[] = {s->d_ln, s->dq, s->dk, s->dv, s->d_att, s->dh, s->d_gate, s->d_up, s->d_act, s->d_y};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) sd_afree(bufs[i]);
    memset(s, 0, sizeof *s);
}

static float *W(sd_params *p, int v) { return v < 0 ? NULL : sd_params_ptr(p, v); }
/* Frozen views get no gradient: skipping their dW products also halves the backward of a model
 * that trains only its embeddings. */
static float *G(sd_params *p, int v) { return v < 0 || !p->views[v].requires_grad ? NULL : sd_params_grad(p, v); }
float *sd_block_grad(sd_params *p, int view) { return G(p, view); }

static void norm_fwd(const sd_block_cfg *c, sd_params *p, float *y, float *mean, float *rstd, const float *x,
                     int w, int b, int N) {
    if (c->rmsnorm) sd_rmsnorm_forward(y, rstd, x, W(p, w), N, c->C, c->norm_eps);
    else sd_layernorm_forward(y, mean, rstd, x, W(p, w), W(p, b), N, c->C, c->norm_eps);
}

static void norm_bwd(const sd_block_cfg *c, sd_params *p, float *dx, const float *dy, const float *x,
                     const float *mean, const float *rstd, int w, int b, int N) {
    if (c->rmsnorm) sd_rmsnorm_backward(dx, G(p, w), dy, x, W(p, w), rstd, N, c->C);
    else sd_layernorm_backward(dx, G(p, w), G(p, b), dy, x, W(p, w), mean, rstd, N, c->C);
}

static void zero(float *x, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i += 4096) memset(x + i, 0, (n - i < 4096 ? n - i : 4096) * sizeof(float));
}

void sd_block_forward(const sd_block *b, sd_params *p, sd_block_acts *a, float *y, const float *x,
                      const uint8_t *key_valid, const int32_t *pos) {
    const sd_block_cfg *c = &b->cfg;
    int N = a->B * a->T, C = c->C, qd = c->H * c->hd, kd = c->KV * c->hd, F = c->F;
    a->acfg.key_valid = key_valid;
    a->acfg.pos = pos;
    a->acfg.q_norm_w = W(p, b->qn_w);
    a->acfg.k_norm_w = W(p, b->kn_w);
    PROF(0, SD_PROF_NORM, norm_fwd(c, p, a->ln1, a->ln1_mean, a->ln1_rstd, x, b->ln1_w, b->ln1_b, N));
    PROF(0, SD_PROF_QKV, {
        sd_linear_forward(a->q, a->ln1, W(p, b->q_w), W(p, b->q_b), N, C, qd);
        sd_linear_forward(a->k, a->ln1, W(p, b->k_w), W(p, b->k_b), N, C, kd);
        sd_linear_forward(a->v, a->ln1, W(p, b->v_w), W(p, b->v_b), N, C, kd);
    });
    PROF(0, SD_PROF_ATTN, {
        if (a->hook.forward) a->hook.forward(a->hook.ctx, a->att, a->q, a->k, a->v, N);
        else sd_attention_forward(a->att, &a->attn, a->q, a->k, a->v, &a->acfg);
    });
    PROF(0, SD_PROF_OPROJ, sd_linear_forward(a->h, a->att, W(p, b->o_w), W(p, b->o_b), N, qd, C));
    PROF(0, SD_PROF_RESID, sd_add_forward(a->h, a->h, x, (size_t)N * C));
    PROF(0, SD_PROF_NORM, norm_fwd(c, p, a->ln2, a->ln2_mean, a->ln2_rstd, a->h, b->ln2_w, b->ln2_b, N));
    bool drop = a->train && c->mlp_dropout > 0;
    if (c->swiglu) PROF(0, SD_PROF_MLP_MM, sd_linear_forward(a->gate, a->ln2, W(p, b->gate_w), NULL, N, C, F));
    PROF(0, SD_PROF_MLP_MM, sd_linear_forward(a->up, a->ln2, W(p, b->up_w), W(p, b->up_b), N, C, F));
    if (drop) sd_dropout_forward(a->up, NULL, a->up, (size_t)N * F, c->mlp_dropout, a->drop_seed, a->drop_stream[0]);
    if (c->swiglu) PROF(0, SD_PROF_ACT, sd_swiglu_forward(a->act, a->gate, a->up, (size_t)N * F));
    else PROF(0, SD_PROF_ACT, sd_relu_forward(a->act, a->up, (size_t)N * F));
    PROF(0, SD_PROF_MLP_MM, sd_linear_forward(y, a->act, W(p, b->down_w), W(p, b->down_b), N, F, C));
    if (drop) sd_dropout_forward(y, NULL, y, (size_t)N * C, c->mlp_dropout, a->drop_seed, a->drop_stream[1]);
    PROF(0, SD_PROF_RESID, sd_add_forward(y, y, c->ffn_residual_normed ? a->ln2 : a->h, (size_t)N * C));
}

/* d = dropout backward of dy with the forward's mask (d overwritten). */
static void drop_bwd(const sd_block_cfg *c, const sd_block_acts *a, float *d, const float *dy, size_t n, int which) {
    zero(d, n);
    sd_dropout_backward(d, dy, n, c->mlp_dropout, a->drop_seed, a->drop_stream[which]);
}

void sd_block_backward(const sd_block *b, sd_params *p, sd_block_acts *a, sd_block_scratch *s, float *dx,
                       const float *dy, const float *x) {
    const sd_block_cfg *c = &b->cfg;
    int N = a->B * a->T, C = c->C, qd = c->H * c->hd, kd = c->KV * c->hd, F = c->F;
    size_t NC = (size_t)N * C, NF = (size_t)N * F;
    /* First contributions overwrite (set_dx variants) so only accumulated buffers need zeroing. */
    bool drop = a->train && c->mlp_dropout > 0;
    const float *dmlp = dy; /* d of the MLP's output */
    if (drop) { drop_bwd(c, a, s->d_y, dy, NC, 1); dmlp = s->d_y; }
    PROF(1, SD_PROF_RESID, {
        if (c->ffn_residual_normed) zero(s->dh, NC);             /* residual from norm2(h): its d joins d_ln */
        else memcpy(s->dh, dy, NC * sizeof(float));               /* residual: dh starts as dy */
    });
    PROF(1, SD_PROF_MLP_MM, sd_linear_backward_set_dx(s->d_act, G(p, b->down_w), G(p, b->down_b), dmlp, a->act,
                                                      W(p, b->down_w), N, F, C));
    float *dup = s->d_up; /* d of the MLP hidden before dropout */
    if (c->swiglu) {
        PROF(1, SD_PROF_ACT, sd_swiglu_backward_set(s->d_gate, s->d_up, s->d_act, a->gate, a->up, NF));
        if (drop) { drop_bwd(c, a, s->d_act, s->d_up, NF, 0); dup = s->d_act; }
    } else {
        PROF(1, SD_PROF_ACT, sd_relu_backward_inplace(s->d_act, a->up, NF));
        if (drop) drop_bwd(c, a, s->d_up, s->d_act, NF, 0);
        else dup = s->d_act;
    }
    /* the first product into d_ln overwrites it, unless the residual's d (dy) is there first */
    void (*first)(float *, float *, float *, const float *, const float *, const float *, int, int, int) =
        c->ffn_residual_normed ? sd_linear_backward : sd_linear_backward_set_dx;
    if (c->ffn_residual_normed) memcpy(s->d_ln, dy, NC * sizeof(float));
    PROF(1, SD_PROF_MLP_MM, {
        if (c->swiglu) {
            first(s->d_ln, G(p, b->gate_w), NULL, s->d_gate, a->ln2, W(p, b->gate_w), N, C, F);
            sd_linear_backward(s->d_ln, G(p, b->up_w), G(p, b->up_b), dup, a->ln2, W(p, b->up_w), N, C, F);
        } else {
            first(s->d_ln, G(p, b->up_w), G(p, b->up_b), dup, a->ln2, W(p, b->up_w), N, C, F);
        }
    });
    PROF(1, SD_PROF_NORM, norm_bwd(c, p, s->dh, s->d_ln, a->h, a->ln2_mean, a->ln2_rstd, b->ln2_w, b->ln2_b, N));
    PROF(1, SD_PROF_RESID, {
        zero(s->dq, (size_t)N * qd);
        zero(s->dk, (size_t)N * kd);
        zero(s->dv, (size_t)N * kd);
    });
    PROF(1, SD_PROF_OPROJ, sd_linear_backward_set_dx(s->d_att, G(p, b->o_w), G(p, b->o_b), s->dh, a->att, W(p, b->o_w),
                                              N, qd, C));
    PROF(1, SD_PROF_ATTN, {
        if (a->hook.backward) a->hook.backward(a->hook.ctx, s->dq, s->dk, s->dv, s->d_att, a->q, a->k, a->v, N);
        else sd_attention_backward(s->dq, s->dk, s->dv, G(p, b->qn_w), G(p, b->kn_w), s->d_att, &a->attn, a->q,
                                   a->k, a->v, &a->acfg);
    });
    PROF(1, SD_PROF_QKV, {
        sd_linear_backward_set_dx(s->d_ln, G(p, b->q_w), G(p, b->q_b), s->dq, a->ln1, W(p, b->q_w), N, C, qd);
        sd_linear_backward(s->d_ln, G(p, b->k_w), G(p, b->k_b), s->dk, a->ln1, W(p, b->k_w), N, C, kd);
        sd_linear_backward(s->d_ln, G(p, b->v_w), G(p, b->v_b), s->dv, a->ln1, W(p, b->v_w), N, C, kd);
    });
    /* the residual's d first, then norm1's on top: dx + dh + r * (...) with the norm's += fused
     * into one multiply-add, as SASRec's encoder always summed it */
    PROF(1, SD_PROF_RESID, sd_add_backward(dx, NULL, s->dh, NC));
    PROF(1, SD_PROF_NORM, norm_bwd(c, p, dx, s->d_ln, x, a->ln1_mean, a->ln1_rstd, b->ln1_w, b->ln1_b, N));
}

void sd_block_step(const sd_block *b, sd_params *p, sd_block_step_ws *w, float *x, int n, const int32_t *seq,
                   const int32_t *pos, const float *cos_t, const float *sin_t, const sd_attn_cache *cache) {
    const sd_block_cfg *c = &b->cfg;
    const int C = c->C, H = c->H, KV = c->KV, hd = c->hd, F = c->F;
    const size_t nC = (size_t)n * C, nF = (size_t)n * F;
    norm_fwd(c, p, w->xn, NULL, NULL, x, b->ln1_w, b->ln1_b, n);
    sd_linear_out qkv[3] = {{w->q, W(p, b->q_w), W(p, b->q_b), H * hd},
                            {w->k, W(p, b->k_w), W(p, b->k_b), KV * hd},
                            {w->v, W(p, b->v_w), W(p, b->v_b), KV * hd}};
    sd_linear_forward_multi(qkv, 3, w->xn, n, C);
    /* the attention op's own order: q/k norm, then rope, on the new tokens only */
    if (b->qn_w >= 0) sd_rmsnorm_forward(w->q, NULL, w->q, W(p, b->qn_w), n * H, hd, c->norm_eps);
    if (b->kn_w >= 0) sd_rmsnorm_forward(w->k, NULL, w->k, W(p, b->kn_w), n * KV, hd, c->norm_eps);
    if (c->rope_theta > 0) {
        sd_rope_apply(w->q, cos_t, sin_t, n, H, hd, 1.0f);
        sd_rope_apply(w->k, cos_t, sin_t, n, KV, hd, 1.0f);
    }
    sd_attn_cache_append(cache, w->k, w->v, n, seq, pos, KV, hd);
    sd_attention_cached_forward(w->att, w->q, n, seq, pos, H, KV, hd, cache, w->scores);
    sd_linear_forward(w->tmp, w->att, W(p, b->o_w), W(p, b->o_b), n, H * hd, C);
    sd_add_forward(x, x, w->tmp, nC);
    norm_fwd(c, p, w->xn, NULL, NULL, x, b->ln2_w, b->ln2_b, n);
    float *act = w->up;
    if (c->swiglu) {
        sd_linear_out gate_up[2] = {{w->gate, W(p, b->gate_w), NULL, F}, {w->up, W(p, b->up_w), W(p, b->up_b), F}};
        sd_linear_forward_multi(gate_up, 2, w->xn, n, C);
        sd_swiglu_forward(w->gate, w->gate, w->up, nF);
        act = w->gate;
    } else {
        sd_linear_forward(w->up, w->xn, W(p, b->up_w), W(p, b->up_b), n, C, F);
        sd_relu_forward(w->up, w->up, nF);
    }
    sd_linear_forward(w->tmp, act, W(p, b->down_w), W(p, b->down_b), n, F, C);
    sd_add_forward(x, x, w->tmp, nC);
}
