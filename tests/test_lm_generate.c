/* KV-cache generation: cached logits == the model's own full forward at every step; greedy tokens ==
 * a float64 torch Qwen3 (tests/ref/gen_ref.py) recomputing the whole prefix per step, for batches
 * of prompts of different lengths with stop tokens and a repetition penalty.
 *
 * Tolerance for logits, cached vs full forward: |a - b| <= 1e-4 + 1e-4 |b| (float32, the same
 * math summed in a different order: attention per position instead of one sgemm). Tokens must
 * match exactly: the reference keeps every greedy step's top-2 gap >= 1e-3. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "lm/generate.h"
#include "lm/kv_cache.h"
#include "nn_ref.h"

/* A model with the reference's config and weights (prefix "model." added when the file's names
 * lack it, as for an embedding model). */
static void ref_model(sd_qwen3 *m, tref *r) {
    int32_t *ci = tref_i(r, "cfg_i");
    float *cf = tref_f(r, "cfg_f");
    sd_qwen3_config c = sd_qwen3_config_default();
    c.hidden_size = ci[0];
    c.num_hidden_layers = ci[1];
    c.num_attention_heads = ci[2];
    c.num_key_value_heads = ci[3];
    c.head_dim = ci[4];
    c.intermediate_size = ci[5];
    c.vocab_size = ci[6];
    c.tie_word_embeddings = ci[7] != 0;
    c.rms_norm_eps = cf[0];
    c.rope_theta = cf[1];
    sd_err err;
    cr_assert_eq(sd_qwen3_init(m, &c, &err), 0, "%s", err.msg);
    for (int i = 0; i < m->p.n_views; i++) {
        const sd_view *v = &m->p.views[i];
        const char *name = v->name;
        if (!tref_has(r, name) && !strncmp(name, "model.", 6)) name += 6;
        tref_tensor *t = tref_get(r, name);
        cr_assert_eq(t->n, v->numel, "%s: %zu values, want %zu", name, t->n, v->numel);
        memcpy(m->p.data + v->offset, t->data, sizeof(float) * v->numel);
    }
}

typedef struct prompts {
    int n;
    int32_t *p[8];
    int len[8];
} prompts;

static prompts ref_prompts(tref *r) {
    prompts P = {.n = tref_i(r, "n_prompts")[0]};
    char name[32];
    for (int b = 0; b < P.n; b++) {
        snprintf(name, sizeof name, "prompt%d", b);
        tref_tensor *t = tref_get(r, name);
        P.p[b] = t->data;
        P.len[b] = (int)t->n;
    }
    return P;
}

static void check_against_torch(const char *file, int prefill_chunk) {
    tref *r = tref_load(file);
    sd_qwen3 m;
    ref_model(&m, r);
    prompts P = ref_prompts(r);
    tref_tensor *stop = tref_get(r, "stop");
    sd_gen_cfg g;
    sd_gen_cfg_default(&g);
    g.max_new_tokens = tref_i(r, "max_new")[0];
    g.sample.repetition_penalty = tref_f(r, "penalty")[0];
    g.stop_ids = stop->data;
    g.n_stop = (int)stop->n;
    g.prefill_chunk = prefill_chunk;
    sd_gen_out o;
    sd_err err;
    cr_assert_eq(sd_generate(&m, (const int32_t *const *)P.p, P.len, P.n, &g, &o, &err), 0, "%s", err.msg);
    for (int b = 0; b < P.n; b++) {
        char name[32];
        snprintf(name, sizeof name, "gen%d", b);
        tref_tensor *want = tref_get(r, name);
        int32_t *w = want->data;
        cr_assert_eq(o.n[b], (int)want->n, "%s seq %d: %d tokens, torch %zu", file, b, o.n[b], want->n);
        for (int i = 0; i < o.n[b]; i++)
            cr_assert_eq(o.tokens[b][i], w[i], "%s seq %d token %d: %d, torch %d", file, b, i, o.tokens[b][i], w[i]);
        bool stopped = o.n[b] && o.tokens[b][o.n[b] - 1] == ((int32_t *)stop->data)[0];
        cr_assert_eq(o.finish[b], stopped ? SD_GEN_STOP : SD_GEN_LENGTH);
    }
    sd_gen_out_free(&o);
    sd_qwen3_free(&m);
    tref_free(r);
}

Test(lm_generate, greedy_matches_torch_tied) { check_against_torch("gen_ref_tied.bin", 0); }
Test(lm_generate, greedy_matches_torch_untied) { check_against_torch("gen_ref_untied.bin", 0); }
Test(lm_generate, greedy_matches_torch_penalty) { check_against_torch("gen_ref_penalty.bin", 0); }
/* prompts cut across prefill steps: a prompt's tokens spread over several steps */
Test(lm_generate, prefill_in_small_chunks) { check_against_torch("gen_ref_tied.bin", 3); }

/* Cached decoding against the model's own forward over the whole prefix, step by step. */
Test(lm_generate, cached_logits_match_full_forward) {
    tref *r = tref_load("gen_ref_untied.bin");
    sd_qwen3 m;
    ref_model(&m, r);
    prompts P = ref_prompts(r);
    const int V = m.cfg.vocab_size, steps = 8;
    sd_kv_cache kv;
    sd_err err;
    cr_assert_eq(sd_kv_cache_init(&kv, &m.cfg, P.n, 32, &err), 0);
    int32_t *seq_tokens[8];
    int seq_len[8];
    int total = 0;
    for (int b = 0; b < P.n; b++) total += P.len[b];
    int32_t *ids = malloc(sizeof(int32_t) * total), *seq = malloc(sizeof(int32_t) * total), rows[8];
    float *cached = malloc(sizeof(float) * P.n * V), *full = malloc(sizeof(float) * V);
    int n = 0, n_out = 0;
    for (int b = 0; b < P.n; b++) {
        seq_tokens[b] = malloc(sizeof(int32_t) * 64);
        memcpy(seq_tokens[b], P.p[b], sizeof(int32_t) * P.len[b]);
        seq_len[b] = P.len[b];
        for (int i = 0; i < P.len[b]; i++) { ids[n] = P.p[b][i]; seq[n++] = b; }
        rows[n_out++] = n - 1;
    }
    cr_assert_eq(sd_qwen3_step(&m, &kv, n, ids, seq, n_out, rows, cached, NULL, &err), 0, "%s", err.msg);
    for (int s = 0; s < steps; s++) {
        for (int b = 0; b < P.n; b++) {
            sd_qwen3_state st;
            sd_qwen3_state_init(&st, &m, 1, seq_len[b], false, false);
            sd_qwen3_batch bt = {.B = 1, .T = seq_len[b], .ids = seq_tokens[b]};
            cr_assert_eq(sd_qwen3_last_logits(&m, &st, &bt, full, &err), 0, "%s", err.msg);
            sd_qwen3_state_free(&st);
            char what[64];
            snprintf(what, sizeof what, "step %d seq %d (len %d)", s, b, seq_len[b]);
            check_close(what, cached + (size_t)b * V, full, V, 1e-4, 1e-4);
            int32_t t = sd_argmax(full, V);
            seq_tokens[b][seq_len[b]++] = t;
            ids[b] = t;
            seq[b] = b;
            rows[b] = b;
        }
        cr_assert_eq(sd_qwen3_step(&m, &kv, P.n, ids, seq, P.n, rows, cached, NULL, &err), 0, "%s", err.msg);
    }
    for (int b = 0; b < P.n; b++) {
        cr_assert_eq(kv.len[b], seq_len[b]);
        free(seq_tokens[b]);
    }
    free(ids), free(seq), free(cached), free(full);
    sd_kv_cache_free(&kv);
    sd_qwen3_free(&m);
    tref_free(r);
}

/* The cached schedule against the training forward LAYER BY LAYER: the residual stream of every
 * token after every layer of sd_qwen3_step (prefill of prompts of different lengths in one step,
 * then decode steps of one token per sequence) equals that of the full forward over the whole
 * prefix (sd_block_forward, the train state keeping every layer's input), at the token's position.
 * A wrong position, rotation, norm or cache slot shows up at the layer that does it. */
Test(lm_generate, cached_layers_match_full_forward) {
    tref *r = tref_load("gen_ref_untied.bin");
    sd_qwen3 m;
    ref_model(&m, r);
    prompts P = ref_prompts(r);
    const int C = m.cfg.hidden_size, L = m.cfg.num_hidden_layers, V = m.cfg.vocab_size, steps = 5;
    sd_kv_cache kv;
    sd_err err;
    cr_assert_eq(sd_kv_cache_init(&kv, &m.cfg, P.n, 32, &err), 0);
    int32_t tokens[8][64], len[8] = {0}, ids[256], seq[256], at[256];
    for (int s = 0; s <= steps; s++) {
        int n = 0;
        for (int b = 0; b < P.n; b++) { /* step 0: the prompts; then one made-up token each */
            int k = s == 0 ? P.len[b] : 1;
            for (int i = 0; i < k; i++) {
                int32_t t = s == 0 ? P.p[b][i] : (int32_t)((s * 7 + b * 3) % V);
                tokens[b][len[b]] = t;
                ids[n] = t, seq[n] = b, at[n++] = len[b]++;
            }
        }
        float *layers = malloc(sizeof(float) * (size_t)(L + 1) * n * C);
        cr_assert_eq(sd_qwen3_step_layers(&m, &kv, n, ids, seq, layers, &err), 0, "%s", err.msg);
        for (int b = 0; b < P.n; b++) {
            sd_qwen3_state st;
            sd_qwen3_state_init(&st, &m, 1, len[b], true, false);
            sd_qwen3_batch bt = {.B = 1, .T = len[b], .ids = tokens[b]};
            float *xf = malloc(sizeof(float) * (size_t)len[b] * C);
            cr_assert_eq(sd_qwen3_hidden(&m, &st, &bt, xf, &err), 0, "%s", err.msg);
            for (int i = 0; i < n; i++) {
                if (seq[i] != b) continue;
                for (int l = 0; l <= L; l++) {
                    char what[80];
                    snprintf(what, sizeof what, "step %d seq %d pos %d after layer %d", s, b, at[i], l - 1);
                    check_close(what, layers + ((size_t)l * n + i) * C, st.x[l] + (size_t)at[i] * C, C, 1e-5, 1e-4);
                }
            }
            free(xf);
            sd_qwen3_state_free(&st);
        }
        free(layers);
    }
    for (int b = 0; b < P.n; b++) cr_assert_eq(kv.len[b], len[b]);
    sd_kv_cache_free(&kv);
    sd_qwen3_free(&m);
    tref_free(r);
}

static sd_qwen3 *random_model(void) {
    sd_qwen3_config c = sd_qwen3_config_default();
    c.hidden_size = 16, c.num_hidden_layers = 1, c.num_attention_heads = 2, c.num_key_value_heads = 1;
    c.head_dim = 8, c.intermediate_size = 24, c.vocab_size = 40, c.max_position_embeddings = 64;
    sd_qwen3 *m = sd_xmalloc(sizeof *m);
    sd_err err;
    cr_assert_eq(sd_qwen3_init(m, &c, &err), 0, "%s", err.msg);
    sd_qwen3_init_random(m, 3, 0.5f);
    return m;
}

static void free_model(sd_qwen3 *m) { sd_qwen3_free(m); free(m); }

typedef struct stream_log { int n; int32_t tok[64]; int seq[64]; } stream_log;
static void on_token(void *ctx, int seq, int32_t t) {
    stream_log *l = ctx;
    if (l->n < 64) { l->tok[l->n] = t; l->seq[l->n++] = seq; }
}

Test(lm_generate, sampling_is_seeded_and_streamed) {
    sd_qwen3 *m = random_model();
    int32_t p0[3] = {1, 2, 3}, p1[1] = {7};
    const int32_t *ps[2] = {p0, p1};
    int lens[2] = {3, 1};
    sd_gen_cfg g;
    sd_gen_cfg_default(&g);
    g.max_new_tokens = 10;
    g.sample.temperature = 1.0f;
    g.sample.top_k = 10;
    g.sample.seed = 5;
    stream_log log = {0};
    g.on_token = on_token;
    g.on_token_ctx = &log;
    sd_gen_out a, b;
    sd_err err;
    cr_assert_eq(sd_generate(m, ps, lens, 2, &g, &a, &err), 0, "%s", err.msg);
    cr_assert_eq(log.n, a.n[0] + a.n[1], "every token streamed once");
    int k[2] = {0, 0};
    for (int i = 0; i < log.n; i++) cr_assert_eq(log.tok[i], a.tokens[log.seq[i]][k[log.seq[i]]++]);
    g.on_token = NULL;
    cr_assert_eq(sd_generate(m, ps, lens, 2, &g, &b, &err), 0, "%s", err.msg);
    bool differ = false;
    for (int s = 0; s < 2; s++) {
        cr_assert_eq(a.n[s], 10);
        cr_assert_eq(memcmp(a.tokens[s], b.tokens[s], sizeof(int32_t) * 10), 0, "same seed, same tokens");
        for (int i = 0; i < 10; i++) differ |= a.tokens[s][i] != a.tokens[s][0];
    }
    cr_assert(differ, "temperature 1 over a random model does not repeat one token");
    sd_gen_out_free(&a);
    sd_gen_out_free(&b);
    free_model(m);
}

Test(lm_generate, bad_input) {
    sd_qwen3 *m = random_model();
    int32_t p0[3] = {1, 2, 3}, bad[2] = {1, 40};
    const int32_t *ps[1] = {p0}, *pb[1] = {bad};
    int lens[1] = {3}, blen[1] = {2}, zero[1] = {0};
    sd_gen_cfg g;
    sd_gen_cfg_default(&g);
    sd_gen_out o;
    sd_err err;
    cr_assert_eq(sd_generate(m, pb, blen, 1, &g, &o, &err), SD_ERANGE);
    cr_assert(strstr(err.msg, "id 40"), "%s", err.msg);
    cr_assert_eq(sd_generate(m, ps, zero, 1, &g, &o, &err), SD_ERANGE);
    g.sample.temperature = -1;
    cr_assert_eq(sd_generate(m, ps, lens, 1, &g, &o, &err), SD_EUSAGE);
    cr_assert(strstr(err.msg, "temperature"), "%s", err.msg);
    sd_gen_cfg_default(&g);
    g.max_new_tokens = 0;
    cr_assert_eq(sd_generate(m, ps, lens, 1, &g, &o, &err), SD_EUSAGE);
    g.max_new_tokens = 62; /* 3 + 62 > 64 positions */
    cr_assert_eq(sd_generate(m, ps, lens, 1, &g, &o, &err), SD_ERANGE);
    cr_assert(strstr(err.msg, "64 positions"), "%s", err.msg);
    /* the cache refuses to grow past its capacity */
    sd_kv_cache kv;
    cr_assert_eq(sd_kv_cache_init(&kv, &m->cfg, 1, 2, &err), 0);
    int32_t seq[3] = {0, 0, 0};
    cr_assert_eq(sd_qwen3_step(m, &kv, 3, p0, seq, 0, NULL, NULL, NULL, &err), SD_ERANGE);
    cr_assert(strstr(err.msg, "2 positions"), "%s", err.msg);
    seq[0] = 1;
    cr_assert_eq(sd_qwen3_step(m, &kv, 1, p0, seq, 0, NULL, NULL, NULL, &err), SD_ERANGE);
    sd_kv_cache_free(&kv);
    free_model(m);
}
