/* The shared training loop (nn/train.h) on linear regression with a known optimum: schedule
 * values, clipping, accumulation as a bigger batch, keep-best, patience, and a stop + resume that
 * ends bit-identical to an uninterrupted run. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "base/rng.h"
#include "nn/train.h"
#include "test_util.h"

#define N 64
#define D 3
static const float W_TRUE[D] = {1.5f, -2.0f, 0.5f};
static const float B_TRUE = 0.25f;

/* y = x . W_TRUE + B_TRUE exactly; mean squared error over a batch; the order of the rows is
 * reshuffled every epoch from (seed, epoch) alone, so nothing but the parameters need saving. */
typedef struct reg {
    sd_params p;
    int w, b;
    float x[N][D], y[N];
    int order[N], pos, batch;
    /* what the callbacks saw */
    int n_steps;
    double lr[4096], gnorm[4096];
    int n_val;
    double script[64];       /* metric returned at validation i (NAN: the real validation loss) */
    float at_val[64][D + 1]; /* parameters at validation i */
} reg;

static void reg_init(reg *r, int batch) {
    memset(r, 0, sizeof *r);
    sd_params_init(&r->p);
    int64_t sw[1] = {D}, sb[1] = {1};
    r->w = sd_params_add(&r->p, "w", 1, sw, false);
    r->b = sd_params_add(&r->p, "b", 1, sb, false);
    sd_params_alloc(&r->p);
    sd_rng g;
    sd_rng_stream(&g, 7, 0);
    for (int i = 0; i < N; i++) {
        r->y[i] = B_TRUE;
        for (int j = 0; j < D; j++) r->x[i][j] = (float)sd_rng_normal(&g), r->y[i] += r->x[i][j] * W_TRUE[j];
    }
    r->batch = batch;
    for (int i = 0; i < 64; i++) r->script[i] = NAN;
}

static double grad_norm(const sd_params *p) {
    double s = 0;
    for (size_t i = 0; i < p->n; i++) s += (double)p->grad[i] * p->grad[i];
    return sqrt(s);
}

static int epoch_begin(void *ctx, const sd_train_state *s, sd_err *err) {
    (void)err;
    reg *r = ctx;
    sd_rng g;
    sd_rng_stream(&g, 42, (uint64_t)s->epoch);
    for (int i = 0; i < N; i++) r->order[i] = i;
    for (int i = N - 1; i > 0; i--) {
        int j = (int)sd_rng_below(&g, (uint64_t)i + 1), t = r->order[i];
        r->order[i] = r->order[j], r->order[j] = t;
    }
    r->pos = (int)s->batch * r->batch; /* resuming inside the epoch: skip what was done */
    return 0;
}

static int next(void *ctx, const sd_train_state *s, float *loss, sd_err *err) {
    (void)s; (void)err;
    reg *r = ctx;
    if (r->pos >= N) return 0;
    int B = N - r->pos < r->batch ? N - r->pos : r->batch;
    float *w = sd_params_ptr(&r->p, r->w), *b = sd_params_ptr(&r->p, r->b);
    float *gw = sd_params_grad(&r->p, r->w), *gb = sd_params_grad(&r->p, r->b);
    double l = 0;
    for (int k = 0; k < B; k++) {
        int i = r->order[r->pos + k];
        float e = b[0] - r->y[i];
        for (int j = 0; j < D; j++) e += w[j] * r->x[i][j];
        l += (double)e * e;
        for (int j = 0; j < D; j++) gw[j] += 2.0f * e * r->x[i][j] / (float)B;
        gb[0] += 2.0f * e / (float)B;
    }
    r->pos += B;
    *loss = (float)(l / B);
    return 1;
}

static void after_step(void *ctx, const sd_train_state *s) {
    reg *r = ctx;
    r->lr[r->n_steps] = s->lr;
    r->gnorm[r->n_steps] = grad_norm(&r->p); /* the gradients the step used, after clipping */
    r->n_steps++;
}

static double full_loss(reg *r) {
    const float *w = sd_params_ptr(&r->p, r->w), *b = sd_params_ptr(&r->p, r->b);
    double l = 0;
    for (int i = 0; i < N; i++) {
        double e = b[0] - r->y[i];
        for (int j = 0; j < D; j++) e += w[j] * r->x[i][j];
        l += e * e;
    }
    return l / N;
}

static int validate(void *ctx, const sd_train_state *s, double *metric, int *better, sd_err *err) {
    (void)s; (void)better; (void)err;
    reg *r = ctx;
    memcpy(r->at_val[r->n_val], sd_params_ptr(&r->p, r->w), D * sizeof(float));
    r->at_val[r->n_val][D] = *sd_params_ptr(&r->p, r->b);
    *metric = isnan(r->script[r->n_val]) ? full_loss(r) : r->script[r->n_val];
    r->n_val++;
    return 0;
}

static sd_trainer trainer(reg *r) {
    return (sd_trainer){.p = &r->p, .ctx = r, .next = next, .epoch_begin = epoch_begin, .after_step = after_step,
                        .validate = validate};
}

static sd_train_opts opts(int epochs, int batch) {
    sd_train_opts o = sd_train_defaults();
    o.epochs = epochs;
    o.batches_per_epoch = (N + batch - 1) / batch;
    o.adam.lr = 0.05;
    o.adam.weight_decay = 0;
    o.lower_is_better = true;
    o.best_init = INFINITY;
    o.eval_every_epochs = 1;
    o.name = "reg";
    return o;
}

Test(nn_train, reaches_the_known_optimum) {
    reg r;
    reg_init(&r, 8);
    sd_train_opts o = opts(60, 8);
    o.schedule = SD_LR_COSINE;
    o.warmup = 10;
    sd_trainer t = trainer(&r);
    sd_train_state s;
    sd_err err = {0};
    cr_assert_eq(sd_train(&t, &o, &s, &err), 0, "%s", err.msg);
    cr_assert_eq(s.step, 60 * 8);
    cr_assert_eq(s.epoch, 60);
    const float *w = sd_params_ptr(&r.p, r.w);
    for (int j = 0; j < D; j++) cr_assert(fabsf(w[j] - W_TRUE[j]) < 1e-2f, "w[%d] = %g, want %g", j, w[j], W_TRUE[j]);
    cr_assert(fabsf(*sd_params_ptr(&r.p, r.b) - B_TRUE) < 1e-2f);
    cr_assert(s.best_metric < 1e-4, "best validation loss %g", s.best_metric);
    sd_params_free(&r.p);
}

Test(nn_train, warmup_and_cosine_values) {
    reg r;
    reg_init(&r, 16);
    sd_train_opts o = opts(5, 16); /* 4 steps an epoch, 20 in all */
    o.adam.lr = 0.1;
    o.warmup = 4;
    o.schedule = SD_LR_COSINE;
    o.lr_min = 0.01;
    sd_trainer t = trainer(&r);
    sd_err err = {0};
    cr_assert_eq(sd_train(&t, &o, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(r.n_steps, 20);
    for (int k = 0; k < 4; k++) cr_assert_float_eq(r.lr[k], 0.1 * (k + 1) / 4, 1e-15, "warmup step %d: %g", k, r.lr[k]);
    cr_assert_float_eq(r.lr[4], 0.1, 1e-15, "cosine starts at the peak");
    cr_assert_float_eq(r.lr[12], 0.01 + 0.09 * 0.5, 1e-12, "halfway: the middle (%g)", r.lr[12]);
    cr_assert(r.lr[19] > 0.01 && r.lr[19] < 0.012, "last step near lr_min: %g", r.lr[19]);
    for (int k = 5; k < 20; k++) cr_assert(r.lr[k] < r.lr[k - 1], "decreasing after warmup");
    /* constant: warmup then flat */
    reg q;
    reg_init(&q, 16);
    o.schedule = SD_LR_CONSTANT;
    t = trainer(&q);
    cr_assert_eq(sd_train(&t, &o, NULL, &err), 0, "%s", err.msg);
    cr_assert_float_eq(q.lr[1], 0.05, 1e-15);
    for (int k = 4; k < 20; k++) cr_assert_eq(q.lr[k], 0.1);
    sd_params_free(&r.p);
    sd_params_free(&q.p);
}

Test(nn_train, clipping_bounds_the_gradient) {
    reg r, q;
    reg_init(&r, 8);
    reg_init(&q, 8);
    sd_train_opts o = opts(2, 8);
    sd_trainer t = trainer(&r);
    sd_err err = {0};
    cr_assert_eq(sd_train(&t, &o, NULL, &err), 0, "%s", err.msg);
    cr_assert(r.gnorm[0] > 1, "unclipped first gradient is large (%g)", r.gnorm[0]);
    o.clip = 0.5f;
    t = trainer(&q);
    cr_assert_eq(sd_train(&t, &o, NULL, &err), 0, "%s", err.msg);
    for (int k = 0; k < q.n_steps; k++) cr_assert(q.gnorm[k] <= 0.5 * (1 + 1e-5), "step %d: norm %g", k, q.gnorm[k]);
    /* the first step's gradient is the unclipped one scaled down, same direction */
    cr_assert_float_eq(q.gnorm[0], 0.5 * r.gnorm[0] / (r.gnorm[0] + 1e-6), 1e-5);
    sd_params_free(&r.p);
    sd_params_free(&q.p);
}

Test(nn_train, accumulation_equals_a_bigger_batch) {
    reg big, acc;
    reg_init(&big, 16);
    reg_init(&acc, 4);
    sd_train_opts ob = opts(3, 16), oa = opts(3, 4);
    oa.accum = 4;
    sd_trainer tb = trainer(&big), ta = trainer(&acc);
    sd_train_state sb, sa;
    sd_err err = {0};
    cr_assert_eq(sd_train(&tb, &ob, &sb, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_train(&ta, &oa, &sa, &err), 0, "%s", err.msg);
    cr_assert_eq(sa.step, sb.step, "4 micro-batches of 4 make one step of 16 (%lld vs %lld)", (long long)sa.step,
                 (long long)sb.step);
    cr_assert_eq(sa.total_steps, 12);
    for (int k = 0; k < sa.step; k++) cr_assert_float_eq(acc.gnorm[k], big.gnorm[k], 1e-5 * big.gnorm[k] + 1e-7);
    double d = sd_max_abs_diff(big.p.data, acc.p.data, big.p.n);
    cr_assert(d < 1e-5, "parameters differ by %g", d);
    /* and differ from 4 separate steps of 4 */
    reg sep;
    reg_init(&sep, 4);
    sd_train_opts os = opts(3, 4);
    sd_trainer ts = trainer(&sep);
    cr_assert_eq(sd_train(&ts, &os, NULL, &err), 0, "%s", err.msg);
    cr_assert(sd_max_abs_diff(big.p.data, sep.p.data, big.p.n) > 1e-3);
    sd_params_free(&big.p);
    sd_params_free(&acc.p);
    sd_params_free(&sep.p);
}

Test(nn_train, keep_best_restores_the_best_and_patience_stops) {
    reg r;
    reg_init(&r, 8);
    /* higher is better: validation 2 (after epoch 3) wins */
    double script[6] = {0.1, 0.2, 0.5, 0.3, 0.4, 0.2};
    memcpy(r.script, script, sizeof script);
    sd_train_opts o = opts(6, 8);
    o.lower_is_better = false;
    o.best_init = -1;
    sd_trainer t = trainer(&r);
    sd_train_state s;
    sd_err err = {0};
    cr_assert_eq(sd_train(&t, &o, &s, &err), 0, "%s", err.msg);
    cr_assert_eq(r.n_val, 6);
    cr_assert_eq(s.best_epoch, 3);
    cr_assert_eq(s.best_step, 24);
    cr_assert_eq(s.best_metric, 0.5);
    cr_assert_eq(memcmp(sd_params_ptr(&r.p, r.w), r.at_val[2], D * sizeof(float)), 0, "best weights restored");
    cr_assert_eq(*sd_params_ptr(&r.p, r.b), r.at_val[2][D]);
    /* patience 2: two validations without a better one after the best stop the run */
    reg q;
    reg_init(&q, 8);
    memcpy(q.script, script, sizeof script);
    o.patience = 2;
    t = trainer(&q);
    cr_assert_eq(sd_train(&t, &o, &s, &err), 0, "%s", err.msg);
    cr_assert_eq(q.n_val, 5);
    cr_assert(s.done);
    cr_assert_eq(s.epoch, 5);
    cr_assert_eq(memcmp(sd_params_ptr(&q.p, q.w), q.at_val[2], D * sizeof(float)), 0);
    /* validation by steps, every 3 steps and at the last */
    reg v;
    reg_init(&v, 8);
    o = opts(2, 8);
    o.eval_every_epochs = 0;
    o.eval_every_steps = 3;
    t = trainer(&v);
    cr_assert_eq(sd_train(&t, &o, &s, &err), 0, "%s", err.msg);
    cr_assert_eq(v.n_val, 6, "steps 3, 6, 9, 12, 15 and 16 (got %d)", v.n_val);
    sd_params_free(&r.p);
    sd_params_free(&q.p);
    sd_params_free(&v.p);
}

Test(nn_train, resume_after_a_stop_is_bit_identical) {
    char dir[512], pa[600], pb[600];
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(pa, sizeof pa, "%s/a.ckpt", dir);
    snprintf(pb, sizeof pb, "%s/b.ckpt", dir);
    cJSON *cfg = cJSON_Parse("{\"model\": \"reg\"}");
    sd_err err = {0};
    /* a: uninterrupted, cosine with warmup and clipping so the step count matters */
    reg a;
    reg_init(&a, 8);
    sd_train_opts o = opts(6, 8);
    o.schedule = SD_LR_COSINE;
    o.warmup = 5;
    o.clip = 1.0f;
    o.eval_every_epochs = 2;
    o.ckpt_config = cfg;
    o.ckpt_kind = "reg";
    o.ckpt_path = pa;
    sd_trainer t = trainer(&a);
    sd_train_state sa, sb;
    cr_assert_eq(sd_train(&t, &o, &sa, &err), 0, "%s", err.msg);
    /* b: stopped after epoch 3 (best not restored), then resumed in a fresh model */
    reg b;
    reg_init(&b, 8);
    o.ckpt_path = pb;
    o.stop_after = 3;
    t = trainer(&b);
    cr_assert_eq(sd_train(&t, &o, &sb, &err), 0, "%s", err.msg);
    cr_assert(sb.interrupted);
    cr_assert_eq(sb.epoch, 3);
    reg b2;
    reg_init(&b2, 8);
    o.stop_after = 0;
    o.resume = true;
    t = trainer(&b2);
    cr_assert_eq(sd_train(&t, &o, &sb, &err), 0, "%s", err.msg);
    cr_assert_eq(sb.resumed_from, 3);
    cr_assert_eq(b2.n_steps, 3 * 8, "only the remaining epochs ran");
    cr_assert_eq(memcmp(a.p.data, b2.p.data, a.p.n * sizeof(float)), 0, "resumed parameters differ");
    cr_assert_eq(sa.best_epoch, sb.best_epoch);
    cr_assert_eq(memcmp(&sa.best_metric, &sb.best_metric, sizeof(double)), 0);
    cr_assert_eq(memcmp(&sa.last_loss, &sb.last_loss, sizeof(float)), 0);
    /* a different configuration is refused, naming the key */
    cJSON *other = cJSON_Parse("{\"model\": \"other\"}");
    o.ckpt_config = other;
    reg c;
    reg_init(&c, 8);
    t = trainer(&c);
    cr_assert_eq(sd_train(&t, &o, NULL, &err), SD_ESTATE);
    cr_assert(strstr(err.msg, "\"model\" is \"reg\" in the checkpoint"), "%s", err.msg);
    o.ckpt_path = "/nonexistent/x.ckpt";
    cr_assert_eq(sd_train(&t, &o, NULL, &err), SD_ESTATE);
    cr_assert(strstr(err.msg, "no checkpoint to resume from"), "%s", err.msg);
    cJSON_Delete(cfg);
    cJSON_Delete(other);
    sd_params_free(&a.p);
    sd_params_free(&b.p);
    sd_params_free(&b2.p);
    sd_params_free(&c.p);
}

/* A step checkpoint inside an epoch (long epochs, as a fine-tune's): stop after step 13 of 16
 * (epoch 2 of 2, 8 micro-batches of 4 an epoch, 2 per step), resume, same bytes. */
Test(nn_train, resume_inside_an_epoch_is_bit_identical) {
    char dir[512], pa[600], pb[600];
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(pa, sizeof pa, "%s/sa.ckpt", dir);
    snprintf(pb, sizeof pb, "%s/sb.ckpt", dir);
    cJSON *cfg = cJSON_Parse("{\"model\": \"reg\"}");
    sd_err err = {0};
    sd_train_opts o = opts(4, 4);
    o.accum = 2;
    o.schedule = SD_LR_COSINE;
    o.warmup = 3;
    o.eval_every_epochs = 0;
    o.eval_every_steps = 5;
    o.ckpt_every_steps = 4;
    o.ckpt_config = cfg;
    o.ckpt_kind = "reg";
    reg a, b, b2;
    reg_init(&a, 4);
    reg_init(&b, 4);
    reg_init(&b2, 4);
    o.ckpt_path = pa;
    sd_trainer t = trainer(&a);
    sd_train_state sa, sb;
    cr_assert_eq(sd_train(&t, &o, &sa, &err), 0, "%s", err.msg);
    cr_assert_eq(sa.step, 32);
    o.ckpt_path = pb;
    o.stop_after_steps = 13;
    t = trainer(&b);
    cr_assert_eq(sd_train(&t, &o, &sb, &err), 0, "%s", err.msg);
    cr_assert(sb.interrupted);
    cr_assert_eq(sb.step, 13);
    cr_assert_eq(b.n_steps, 13);
    o.stop_after_steps = 0;
    o.resume = true;
    t = trainer(&b2);
    cr_assert_eq(sd_train(&t, &o, &sb, &err), 0, "%s", err.msg);
    cr_assert_eq(b2.n_steps, 32 - 13, "resumed at step 13");
    cr_assert_eq(b.n_val + b2.n_val, a.n_val, "no validation repeated or skipped");
    cr_assert_eq(memcmp(a.p.data, b2.p.data, a.p.n * sizeof(float)), 0, "resumed parameters differ");
    cr_assert_eq(memcmp(&sa.last_loss, &sb.last_loss, sizeof(float)), 0);
    cr_assert_eq(sa.best_epoch, sb.best_epoch);
    cJSON_Delete(cfg);
    sd_params_free(&a.p);
    sd_params_free(&b.p);
    sd_params_free(&b2.p);
}

Test(nn_train, bad_options_and_errors) {
    reg r;
    reg_init(&r, 8);
    sd_trainer t = trainer(&r);
    sd_err err = {0};
    sd_train_opts o = opts(0, 8);
    cr_assert_eq(sd_train(&t, &o, NULL, &err), SD_EUSAGE);
    o = opts(1, 8);
    o.adam.lr = 0;
    cr_assert_eq(sd_train(&t, &o, NULL, &err), SD_EUSAGE);
    o = opts(1, 8);
    o.adam.lr = 1e30; /* diverges */
    o.epochs = 3;
    cr_assert_eq(sd_train(&t, &o, NULL, &err), SD_ERANGE);
    cr_assert(strstr(err.msg, "reg: loss is not finite at epoch"), "%s", err.msg);
    sd_params_free(&r.p);
}
