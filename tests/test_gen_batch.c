/* The continuous-batching generator (lm/gen_batch.h): requests that join and leave while others
 * run (prompts prefilled in chunks beside decoding slots) produce exactly the tokens sd_generate
 * gives each prompt alone, greedy and seeded sampling alike; a slot stopped early frees room for
 * the next request without changing the others; bad requests are refused. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "lm/gen_batch.h"
#include "lm/generate.h"

static sd_qwen3 *random_model(void) {
    sd_qwen3_config c = sd_qwen3_config_default();
    c.hidden_size = 32, c.num_hidden_layers = 2, c.num_attention_heads = 4, c.num_key_value_heads = 2;
    c.head_dim = 8, c.intermediate_size = 48, c.vocab_size = 50, c.max_position_embeddings = 96;
    sd_qwen3 *m = sd_xmalloc(sizeof *m);
    sd_err err;
    cr_assert_eq(sd_qwen3_init(m, &c, &err), 0, "%s", err.msg);
    sd_qwen3_init_random(m, 5, 0.5f);
    return m;
}

enum { NR = 7, MAXNEW = 12 };

typedef struct run {
    int32_t out[NR][MAXNEW + 1];
    int n[NR], finish[NR];
    int stop_after[NR];   /* the callback stops request r after this many tokens (0: never) */
    float lp[NR][MAXNEW + 1];
} run;

typedef struct tag { run *r; int req; } tag;

static bool on_tok(void *ctx, int slot, int32_t t, float lp, int finish) {
    sd_gen_batch *b = ctx;
    tag *g = b->s[slot].user;
    run *r = g->r;
    int q = g->req;
    if (t >= 0) { r->lp[q][r->n[q]] = lp; r->out[q][r->n[q]++] = t; }
    r->finish[q] = finish;
    return r->stop_after[q] && r->n[q] >= r->stop_after[q];
}

static void prompt_of(int q, int32_t *p, int *len) {
    *len = 1 + (q * 5) % 17; /* 1 .. 17 tokens: several longer than the chunk */
    for (int i = 0; i < *len; i++) p[i] = (int32_t)((q * 7 + i * 3) % 45 + 1);
}

/* Each request alone with sd_generate. */
static void reference(sd_qwen3 *m, const sd_sample_cfg *sc, const int *max_new, run *ref) {
    memset(ref, 0, sizeof *ref);
    for (int q = 0; q < NR; q++) {
        int32_t p[32];
        int len;
        prompt_of(q, p, &len);
        sd_gen_cfg g;
        sd_gen_cfg_default(&g);
        g.sample = *sc;
        g.sample.seed = sc->seed + (uint64_t)q;
        g.max_new_tokens = max_new[q];
        const int32_t *ps[1] = {p};
        int lens[1] = {len};
        sd_gen_out o;
        sd_err err;
        cr_assert_eq(sd_generate(m, ps, lens, 1, &g, &o, &err), 0, "%s", err.msg);
        ref->n[q] = o.n[0];
        memcpy(ref->out[q], o.tokens[0], sizeof(int32_t) * (size_t)o.n[0]);
        sd_gen_out_free(&o);
    }
}

/* All requests through 3 slots, each joining when a slot is free. */
static void batched(sd_qwen3 *m, const sd_sample_cfg *sc, const int *max_new, run *r) {
    sd_gen_batch b;
    sd_err err;
    cr_assert_eq(sd_gen_batch_init(&b, m, 3, 64, 4, NULL, 0, &err), 0, "%s", err.msg);
    tag tags[NR];
    int next = 0, steps = 0, most = 0;
    while ((next < NR || sd_gen_batch_live(&b) > 0) && steps < 10000) {
        while (next < NR && sd_gen_batch_free_slot(&b) >= 0) {
            int32_t p[32];
            int len;
            prompt_of(next, p, &len);
            sd_sample_cfg c = *sc;
            c.seed = sc->seed + (uint64_t)next;
            tags[next] = (tag){r, next};
            cr_assert(sd_gen_batch_add(&b, p, len, &c, max_new[next], &tags[next], &err) >= 0, "%s", err.msg);
            next++;
        }
        int live = sd_gen_batch_live(&b);
        most = live > most ? live : most;
        cr_assert_eq(sd_gen_batch_step(&b, on_tok, &b, &err), 0, "%s", err.msg);
        steps++;
    }
    cr_assert_eq(most, 3, "requests ran side by side");
    cr_assert_eq(sd_gen_batch_live(&b), 0);
    sd_gen_batch_free(&b);
}

static void same(const run *a, const run *b, const char *what) {
    for (int q = 0; q < NR; q++) {
        cr_assert_eq(a->n[q], b->n[q], "%s: request %d: %d vs %d tokens", what, q, a->n[q], b->n[q]);
        for (int i = 0; i < a->n[q]; i++)
            cr_assert_eq(a->out[q][i], b->out[q][i], "%s: request %d token %d", what, q, i);
    }
}

Test(gen_batch, joins_and_leaves_like_each_alone) {
    sd_qwen3 *m = random_model();
    int max_new[NR];
    for (int q = 0; q < NR; q++) max_new[q] = 3 + (q * 4) % 10;
    sd_sample_cfg sc;
    sd_sample_cfg_default(&sc);
    run ref, r;
    reference(m, &sc, max_new, &ref);
    memset(&r, 0, sizeof r);
    batched(m, &sc, max_new, &r);
    same(&ref, &r, "greedy");
    for (int q = 0; q < NR; q++) {
        cr_assert_eq(r.finish[q], SD_GB_LENGTH);
        for (int i = 0; i < r.n[q]; i++) cr_assert(r.lp[q][i] <= 0 && isfinite(r.lp[q][i]), "log-probabilities");
    }
    /* seeded sampling: each request's own RNG stream */
    sc.temperature = 1.0f;
    sc.top_k = 20;
    sc.seed = 77;
    reference(m, &sc, max_new, &ref);
    memset(&r, 0, sizeof r);
    batched(m, &sc, max_new, &r);
    same(&ref, &r, "sampled");
    sd_qwen3_free(m);
    free(m);
}

Test(gen_batch, a_stopped_slot_changes_nothing_else) {
    sd_qwen3 *m = random_model();
    int max_new[NR];
    for (int q = 0; q < NR; q++) max_new[q] = MAXNEW;
    sd_sample_cfg sc;
    sd_sample_cfg_default(&sc);
    run ref, r;
    reference(m, &sc, max_new, &ref);
    memset(&r, 0, sizeof r);
    r.stop_after[0] = 2;
    r.stop_after[3] = 1;
    batched(m, &sc, max_new, &r);
    cr_assert_eq(r.n[0], 2);
    cr_assert_eq(r.n[3], 1);
    for (int q = 0; q < NR; q++) {
        int n = r.n[q];
        for (int i = 0; i < n; i++) cr_assert_eq(r.out[q][i], ref.out[q][i], "request %d token %d", q, i);
        if (q != 0 && q != 3) cr_assert_eq(n, ref.n[q]);
    }
    sd_qwen3_free(m);
    free(m);
}

Test(gen_batch, refuses_bad_requests) {
    sd_qwen3 *m = random_model();
    sd_gen_batch b;
    sd_err err;
    int32_t stop[1] = {3};
    cr_assert_eq(sd_gen_batch_init(&b, m, 1, 16, 0, stop, 1, &err), 0, "%s", err.msg);
    sd_sample_cfg sc;
    sd_sample_cfg_default(&sc);
    int32_t p[20] = {1, 2, 3, 4};
    cr_assert_eq(sd_gen_batch_add(&b, p, 10, &sc, 7, NULL, &err), SD_ERANGE, "prompt + new tokens over the slot");
    p[1] = 50;
    cr_assert_eq(sd_gen_batch_add(&b, p, 4, &sc, 4, NULL, &err), SD_ERANGE, "a token outside the vocabulary");
    p[1] = 2;
    sc.top_p = 0;
    cr_assert_eq(sd_gen_batch_add(&b, p, 4, &sc, 4, NULL, &err), SD_EUSAGE, "bad sampling settings");
    sc.top_p = 1;
    cr_assert_eq(sd_gen_batch_add(&b, p, 4, &sc, 4, NULL, &err), 0);
    cr_assert_eq(sd_gen_batch_add(&b, p, 4, &sc, 4, NULL, &err), SD_ESTATE, "no free slot");
    sd_gen_batch_stop(&b, 0);
    cr_assert_eq(sd_gen_batch_free_slot(&b), 0);
    cr_assert_eq(sd_gen_batch_init(&(sd_gen_batch){0}, m, 0, 16, 0, NULL, 0, &err), SD_EUSAGE);
    sd_gen_batch_free(&b);
    sd_qwen3_free(m);
    free(m);
}
