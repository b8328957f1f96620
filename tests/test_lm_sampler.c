/* Sampler: hand-computed distributions, the Hugging Face processor order against a torch
 * transcription of transformers' processors (tests/ref/gen_sampler.py), seeded draws.
 *
 * Tolerance against torch: |p - ref| <= 1e-6 + 1e-4 |ref| — both are a softmax of the same
 * float32 logits (float64 there, float64 sums here); the kept set must match exactly, which the
 * reference script guarantees is not a rounding question (no token near a cut). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lm/sampler.h"
#include "nn_ref.h"

static void cfg_of(sd_sample_cfg *c, float t, int k, float p, float mp, float pen) {
    sd_sample_cfg_default(c);
    c->temperature = t;
    c->top_k = k;
    c->top_p = p;
    c->min_p = mp;
    c->repetition_penalty = pen;
}

static void probs_of(const sd_sample_cfg *c, const float *logits_in, int V, const int32_t *ctx, int n,
                     float *probs) {
    sd_sampler s;
    sd_err err;
    cr_assert_eq(sd_sampler_init(&s, c, V, 1, &err), 0, "%s", err.msg);
    float *l = fdup(logits_in, (size_t)V);
    sd_sampler_probs(&s, 0, l, ctx, n, 0, probs);
    free(l);
    sd_sampler_free(&s);
}

Test(lm_sampler, top_k_by_hand) {
    float logits[4] = {1, 3, 2, 0}, p[4];
    sd_sample_cfg c;
    cfg_of(&c, 1, 2, 1, 0, 1);
    probs_of(&c, logits, 4, NULL, 0, p);
    float want[4] = {0, 1 / (1 + expf(-1)), 1 / (1 + expf(1)), 0};
    check_close("top-k 2", p, want, 4, 1e-6, 1e-5);
}

Test(lm_sampler, top_k_keeps_ties) {
    float logits[5] = {1, 2, 2, 2, 0}, p[5];
    sd_sample_cfg c;
    cfg_of(&c, 1, 2, 1, 0, 1);
    probs_of(&c, logits, 5, NULL, 0, p);
    float want[5] = {0, 1.f / 3, 1.f / 3, 1.f / 3, 0};
    check_close("top-k ties", p, want, 5, 1e-6, 1e-5);
}

Test(lm_sampler, top_p_and_min_p_by_hand) {
    float base[4] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)}, p[4];
    sd_sample_cfg c;
    cfg_of(&c, 1, 0, 0.75f, 0, 1); /* 0.5 < 0.75 so token 1 stays; 0.8 >= 0.75 drops token 2 */
    probs_of(&c, base, 4, NULL, 0, p);
    float w1[4] = {0.625f, 0.375f, 0, 0};
    check_close("top-p 0.75", p, w1, 4, 1e-6, 1e-5);
    cfg_of(&c, 1, 0, 0.85f, 0, 1);
    probs_of(&c, base, 4, NULL, 0, p);
    float w2[4] = {0.5f / 0.95f, 0.3f / 0.95f, 0.15f / 0.95f, 0};
    check_close("top-p 0.85", p, w2, 4, 1e-6, 1e-5);
    cfg_of(&c, 1, 0, 1, 0.2f, 1); /* keep p >= 0.2 * 0.5 = 0.1 */
    probs_of(&c, base, 4, NULL, 0, p);
    check_close("min-p 0.2", p, w2, 4, 1e-6, 1e-5);
    cfg_of(&c, 0.5f, 0, 1, 0, 1); /* T = 0.5 squares the probabilities */
    probs_of(&c, base, 4, NULL, 0, p);
    float z = 0.25f + 0.09f + 0.0225f + 0.0025f;
    float w3[4] = {0.25f / z, 0.09f / z, 0.0225f / z, 0.0025f / z};
    check_close("temperature 0.5", p, w3, 4, 1e-6, 1e-5);
}

Test(lm_sampler, repetition_penalty_by_hand) {
    /* context {0, 0, 3}: logit 2 -> 1 (divided once, not twice), -1 -> -2 */
    float logits[4] = {2, 1.5f, 0.5f, -1}, p[4];
    int32_t ctx[3] = {0, 0, 3};
    sd_sample_cfg c;
    cfg_of(&c, 0, 0, 1, 0, 2);
    sd_sampler s;
    sd_err err;
    cr_assert_eq(sd_sampler_init(&s, &c, 4, 1, &err), 0);
    float l[4];
    memcpy(l, logits, sizeof l);
    cr_assert_eq(sd_sampler_next(&s, 0, l, ctx, 3, 0), 1, "greedy after the penalty picks token 1");
    sd_sampler_free(&s);
    cfg_of(&c, 1, 0, 1, 0, 2);
    probs_of(&c, logits, 4, ctx, 3, p);
    double e[4] = {exp(1), exp(1.5), exp(0.5), exp(-2)}, z = e[0] + e[1] + e[2] + e[3];
    float want[4] = {(float)(e[0] / z), (float)(e[1] / z), (float)(e[2] / z), (float)(e[3] / z)};
    check_close("penalised softmax", p, want, 4, 1e-6, 1e-5);
}

static void mask_even(void *ctx, int seq, const int32_t *gen, int n, float *logits, int V) {
    int *calls = ctx;
    (*calls)++;
    cr_assert_eq(seq, 1);
    cr_assert_eq(n, 2, "generated tokens are the last n of the context");
    cr_assert_eq(gen[0], 7);
    for (int v = 0; v < V; v += 2) logits[v] = -INFINITY;
}

static void mask_all(void *ctx, int seq, const int32_t *gen, int n, float *logits, int V) {
    (void)ctx, (void)seq, (void)gen, (void)n;
    for (int v = 0; v < V; v++) logits[v] = -INFINITY;
}

Test(lm_sampler, mask_hook) {
    float logits[8] = {9, 1, 8, 2, 0, 0, 0, 0};
    int32_t ctx[4] = {5, 6, 7, 3};
    int calls = 0;
    sd_sample_cfg c;
    cfg_of(&c, 0, 0, 1, 0, 1);
    c.mask = mask_even;
    c.mask_ctx = &calls;
    sd_sampler s;
    sd_err err;
    cr_assert_eq(sd_sampler_init(&s, &c, 8, 2, &err), 0);
    cr_assert_eq(sd_sampler_next(&s, 1, logits, ctx, 4, 2), 3);
    cr_assert_eq(calls, 1);
    sd_sampler_free(&s);
    c.mask = mask_all;
    c.temperature = 1;
    cr_assert_eq(sd_sampler_init(&s, &c, 8, 1, &err), 0);
    float l2[8] = {0};
    cr_assert_eq(sd_sampler_next(&s, 0, l2, ctx, 4, 0), -1, "nothing allowed -> -1");
    sd_sampler_free(&s);
}

Test(lm_sampler, seeded_draws_follow_the_distribution) {
    const float p0[4] = {0.5f, 0.3f, 0.15f, 0.05f};
    float base[4];
    for (int i = 0; i < 4; i++) base[i] = logf(p0[i]);
    sd_sample_cfg c;
    cfg_of(&c, 1, 0, 1, 0, 1);
    c.seed = 7;
    sd_sampler s, s2;
    sd_err err;
    cr_assert_eq(sd_sampler_init(&s, &c, 4, 2, &err), 0);
    cr_assert_eq(sd_sampler_init(&s2, &c, 4, 2, &err), 0);
    int count[4] = {0}, same = 0, same_seq = 0;
    const int n = 20000;
    for (int i = 0; i < n; i++) {
        float l[4], l2[4], l3[4];
        memcpy(l, base, sizeof l), memcpy(l2, base, sizeof l), memcpy(l3, base, sizeof l);
        int32_t a = sd_sampler_next(&s, 0, l, NULL, 0, 0);
        int32_t b = sd_sampler_next(&s2, 0, l2, NULL, 0, 0);
        int32_t d = sd_sampler_next(&s, 1, l3, NULL, 0, 0);
        count[a]++;
        same += a == b;
        same_seq += a == d;
    }
    cr_assert_eq(same, n, "same seed, same stream: same draws");
    cr_assert_lt(same_seq, n * 0.5, "another sequence draws from its own stream");
    for (int i = 0; i < 4; i++) {
        double sd = sqrt(n * p0[i] * (1 - p0[i]));
        cr_assert_lt(fabs(count[i] - n * p0[i]), 5 * sd, "token %d drawn %d times of %d", i, count[i], n);
    }
    sd_sampler_free(&s);
    sd_sampler_free(&s2);
}

Test(lm_sampler, bad_config) {
    sd_sample_cfg c;
    sd_err err;
    cfg_of(&c, -1, 0, 1, 0, 1);
    cr_assert_eq(sd_sample_cfg_check(&c, &err), SD_EUSAGE);
    cr_assert(strstr(err.msg, "temperature"), "%s", err.msg);
    cfg_of(&c, 1, 0, 0, 0, 1);
    cr_assert_eq(sd_sample_cfg_check(&c, &err), SD_EUSAGE);
    cr_assert(strstr(err.msg, "top-p"), "%s", err.msg);
    cfg_of(&c, 1, 0, 1, 1.5f, 1);
    cr_assert(sd_sample_cfg_check(&c, &err) && strstr(err.msg, "min-p"), "%s", err.msg);
    cfg_of(&c, 1, -3, 1, 0, 1);
    cr_assert(sd_sample_cfg_check(&c, &err) && strstr(err.msg, "top-k"));
    cfg_of(&c, 1, 0, 1, 0, 0);
    cr_assert(sd_sample_cfg_check(&c, &err) && strstr(err.msg, "repetition"));
    cfg_of(&c, NAN, 0, 1, 0, 1);
    cr_assert(sd_sample_cfg_check(&c, &err));
    sd_sampler s;
    cfg_of(&c, 1, 0, 1, 0, 1);
    cr_assert_eq(sd_sampler_init(&s, &c, 0, 1, &err), SD_ERANGE);
}

Test(lm_sampler, matches_hf_processors) {
    tref *r = tref_load("gen_sampler.bin");
    int n_cases = tref_i(r, "n_cases")[0];
    char name[64];
    for (int i = 0; i < n_cases; i++) {
        snprintf(name, sizeof name, "case%d.cfg", i);
        float *cf = tref_f(r, name);
        snprintf(name, sizeof name, "case%d.logits", i);
        tref_tensor *lt = tref_get(r, name);
        int V = (int)lt->n;
        snprintf(name, sizeof name, "case%d.context", i);
        tref_tensor *ct = tref_get(r, name);
        snprintf(name, sizeof name, "case%d.probs", i);
        float *want = tref_f(r, name);
        sd_sample_cfg c;
        cfg_of(&c, cf[0], (int)cf[1], cf[2], cf[3], cf[4]);
        float *p = malloc(sizeof(float) * (size_t)V);
        probs_of(&c, lt->data, V, ct->data, (int)ct->n, p);
        int kept = 0, kept_ref = 0;
        for (int v = 0; v < V; v++) kept += p[v] > 0, kept_ref += want[v] > 0;
        snprintf(name, sizeof name, "case %d (V=%d, %d kept)", i, V, kept_ref);
        cr_assert_eq(kept, kept_ref, "%s: %d tokens kept, torch keeps %d", name, kept, kept_ref);
        check_close(name, p, want, (size_t)V, 1e-6, 1e-4);
        free(p);
    }
    tref_free(r);
}
