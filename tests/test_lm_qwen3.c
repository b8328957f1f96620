/* Qwen3 model against the PyTorch reference (tests/ref/qwen3_ref.py): three tiny Hugging Face
 * folders (A untied F32 GQA with head_dim != hidden/heads and spare vocab rows; B tied BF16;
 * C tied, sharded, without the "model." prefix) loaded from disk, then loss, every gradient,
 * last-position logits and final hidden states over a batch with a full, a left-padded and a
 * right-padded row. Also save/load round trips, vocabulary extension, trainable rows, hostile
 * inputs and `semid extend`.
 *
 * Tolerances (float32 on both sides, different summation orders): loss 1e-5 relative; hidden
 * states and logits 1e-5 + 1e-4 relative; gradients 1e-6 + 2e-3 relative (as tests/test_nn_models.c).
 * Loaded weights, BF16 widening and save/load round trips must be bit-exact. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/mem.h"
#include "io/json_util.h"
#include "io/safetensors.h"
#include "lm/qwen3.h"
#include "nn/checkpoint.h"
#include "nn/optim.h"
#include "nn_ref.h"
#include "test_util.h"

static void folder(char *out, size_t n, const char *name) { snprintf(out, n, "%s/qwen3/%s", sd_test_ref(), name); }

static void load_ok(sd_qwen3 *m, const char *dir) {
    sd_err err = {0};
    int rc = sd_qwen3_load(m, dir, &err);
    cr_assert_eq(rc, 0, "load %s: %s", dir, err.msg);
}

static void load_named(sd_qwen3 *m, const char *name) {
    char dir[512];
    folder(dir, sizeof dir, name);
    load_ok(m, dir);
}

typedef struct refbatch {
    sd_qwen3_batch b;
    uint8_t *kv;
} refbatch;

static refbatch ref_batch(tref *r) {
    tref_tensor *ids = tref_get(r, "ids");
    refbatch rb = {{.B = (int)ids->shape[0], .T = (int)ids->shape[1]}, NULL};
    size_t N = ids->n;
    rb.kv = malloc(N);
    for (size_t i = 0; i < N; i++) rb.kv[i] = (uint8_t)tref_i(r, "key_valid")[i];
    rb.b.ids = tref_i(r, "ids");
    rb.b.pos = tref_i(r, "pos");
    rb.b.targets = tref_i(r, "targets");
    rb.b.key_valid = rb.kv;
    return rb;
}

static bool same_params(sd_qwen3 *a, sd_qwen3 *b) {
    if (a->p.n_views != b->p.n_views) return false;
    for (int i = 0; i < a->p.n_views; i++) {
        if (strcmp(a->p.views[i].name, b->p.views[i].name) || a->p.views[i].numel != b->p.views[i].numel) return false;
        if (memcmp(sd_params_ptr(&a->p, i), sd_params_ptr(&b->p, i), a->p.views[i].numel * sizeof(float))) return false;
    }
    return true;
}

static void reference_case(const char *name, bool tied, bool no_prefix) {
    char file[64];
    snprintf(file, sizeof file, "qwen3_%s.bin", name);
    tref *r = tref_load(file);
    sd_qwen3 m;
    load_named(&m, name);
    cr_assert_eq(m.cfg.tie_word_embeddings, tied);
    cr_assert_eq(m.no_prefix, no_prefix);
    cr_assert_eq(m.lm_head == m.embed, tied);
    cr_assert(m.tok, "tokenizer.json loaded");
    cr_assert_eq(sd_tok_vocab_size(m.tok), 263);
    int n_ref = 0;
    for (int i = 0; i < r->n; i++) n_ref += !strncmp(r->t[i].name, "param.", 6);
    cr_assert_eq(m.p.n_views, n_ref, "%d parameters, reference has %d", m.p.n_views, n_ref);
    for (int i = 0; i < m.p.n_views; i++) {
        char key[300];
        snprintf(key, sizeof key, "param.%s", m.p.views[i].name);
        tref_tensor *t = tref_get(r, key);
        cr_assert_eq(t->n, m.p.views[i].numel, "%s", key);
        /* exact: F32 copied, BF16 widened exactly */
        cr_assert(!memcmp(t->data, sd_params_ptr(&m.p, i), t->n * sizeof(float)), "%s differs from the file", key);
    }

    refbatch rb = ref_batch(r);
    int B = rb.b.B, T = rb.b.T, C = m.cfg.hidden_size, V = m.cfg.vocab_size;
    sd_qwen3_alloc_train(&m);
    sd_qwen3_state s;
    sd_qwen3_state_init(&s, &m, B, T, true, false);
    sd_err err = {0};
    float loss;
    sd_params_zero_grad(&m.p);
    cr_assert_eq(sd_qwen3_forward(&m, &s, &rb.b, &loss, &err), 0, "%s", err.msg);
    check_close("loss", &loss, tref_f(r, "loss"), 1, 0, 1e-5);
    check_close("hidden", s.xf, tref_f(r, "hidden"), (size_t)B * T * C, 1e-5, 1e-4);
    cr_assert_eq(sd_qwen3_backward(&m, &s, &rb.b, 1.0f, &err), 0, "%s", err.msg);
    for (int i = 0; i < m.p.n_views; i++) {
        char key[300];
        snprintf(key, sizeof key, "grad.%s", m.p.views[i].name);
        check_close(key, sd_params_grad(&m.p, i), tref_f(r, key), m.p.views[i].numel, 1e-6, 2e-3);
    }
    float *g_full = fdup(m.p.grad, m.p.n);

    /* activation checkpointing recomputes the same activations: identical gradients */
    sd_qwen3_state s2;
    sd_qwen3_state_init(&s2, &m, B, T, true, true);
    sd_params_zero_grad(&m.p);
    float loss2;
    cr_assert_eq(sd_qwen3_forward(&m, &s2, &rb.b, &loss2, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_qwen3_backward(&m, &s2, &rb.b, 1.0f, &err), 0, "%s", err.msg);
    cr_assert_eq(loss, loss2);
    cr_assert(!memcmp(g_full, m.p.grad, m.p.n * sizeof(float)), "recompute changes the gradients");
    cr_assert(sd_qwen3_state_bytes(&m.cfg, B, T, true, true) < sd_qwen3_state_bytes(&m.cfg, B, T, true, false));
    sd_qwen3_state_free(&s2);
    free(g_full);

    /* inference helpers on an inference state */
    sd_qwen3_state si;
    sd_qwen3_state_init(&si, &m, B, T, false, false);
    float *logits = sd_afloats((size_t)B * V), *hid = sd_afloats((size_t)B * T * C);
    cr_assert_eq(sd_qwen3_last_logits(&m, &si, &rb.b, logits, &err), 0, "%s", err.msg);
    check_close("last_logits", logits, tref_f(r, "last_logits"), (size_t)B * V, 1e-5, 1e-4);
    cr_assert_eq(sd_qwen3_hidden(&m, &si, &rb.b, hid, &err), 0, "%s", err.msg);
    check_close("hidden (inference state)", hid, tref_f(r, "hidden"), (size_t)B * T * C, 1e-5, 1e-4);
    sd_afree(logits); sd_afree(hid);
    sd_qwen3_state_free(&si);
    sd_qwen3_state_free(&s);
    free(rb.kv);
    sd_qwen3_free(&m);
    tref_free(r);
}

Test(qwen3, reference_untied_f32_gqa) { reference_case("A", false, false); }
Test(qwen3, reference_tied_bf16) { reference_case("B", true, false); }
Test(qwen3, reference_sharded_no_prefix) { reference_case("C", true, true); }

/* The same tokens unpadded, left-padded (positions from 0 at the first real token) and
 * right-padded give the same last-position logits (1e-5: different attention row lengths). */
Test(qwen3, padding_left_right_equivalent) {
    sd_qwen3 m;
    load_named(&m, "A");
    int32_t toks[5] = {116, 257, 32, 259, 99};
    int V = m.cfg.vocab_size;
    int32_t ids[3][8], pos[3][8];
    uint8_t kv[3][8];
    for (int t = 0; t < 8; t++) {
        ids[0][t] = t < 5 ? toks[t] : 260; pos[0][t] = t; kv[0][t] = t < 5;            /* right */
        ids[1][t] = t < 3 ? 260 : toks[t - 3]; pos[1][t] = t < 3 ? 0 : t - 3; kv[1][t] = t >= 3; /* left */
        ids[2][t] = t < 5 ? toks[t] : 7; pos[2][t] = t; kv[2][t] = t < 5;              /* right, other pad id */
    }
    sd_qwen3_state s;
    sd_qwen3_state_init(&s, &m, 3, 8, false, false);
    sd_qwen3_batch b = {.B = 3, .T = 8, .ids = &ids[0][0], .pos = &pos[0][0], .key_valid = &kv[0][0]};
    float *lg = sd_afloats((size_t)3 * V), *one = sd_afloats((size_t)V);
    sd_err err = {0};
    cr_assert_eq(sd_qwen3_last_logits(&m, &s, &b, lg, &err), 0, "%s", err.msg);
    sd_qwen3_state s1;
    sd_qwen3_state_init(&s1, &m, 1, 5, false, false);
    sd_qwen3_batch b1 = {.B = 1, .T = 5, .ids = toks};
    cr_assert_eq(sd_qwen3_last_logits(&m, &s1, &b1, one, &err), 0, "%s", err.msg);
    for (int i = 0; i < 3; i++) check_close("padded vs unpadded", lg + (size_t)i * V, one, (size_t)V, 1e-5, 1e-4);
    /* a batch of another shape than the state is refused */
    cr_assert_neq(sd_qwen3_last_logits(&m, &s1, &b, lg, &err), 0);
    cr_assert(strstr(err.msg, "state made for 1 x 5"), "%s", err.msg);
    sd_afree(lg); sd_afree(one);
    sd_qwen3_state_free(&s); sd_qwen3_state_free(&s1);
    sd_qwen3_free(&m);
}

static char *read_text(const char *dir, const char *name) {
    char *path = sd_path_join(dir, name), *data = NULL;
    size_t len;
    sd_err err = {0};
    cr_assert_eq(sd_read_file(path, &data, &len, &err), 0, "%s", err.msg);
    free(path);
    return data;
}

Test(qwen3, save_load_round_trips) {
    char tmp[256], out[300];
    sd_test_tmpdir(tmp, sizeof tmp);
    sd_err err = {0};
    /* A: F32 one file */
    sd_qwen3 a, a2;
    load_named(&a, "A");
    snprintf(out, sizeof out, "%s/A", tmp);
    cr_assert_eq(sd_qwen3_save(&a, out, NULL, &err), 0, "%s", err.msg);
    load_ok(&a2, out);
    cr_assert(same_params(&a, &a2), "F32 round trip not bit-exact");
    cr_assert_eq(memcmp(&a.cfg, &a2.cfg, sizeof a.cfg), 0, "config changed");
    cr_assert_eq(sd_tok_vocab_size(a2.tok), 263);
    char *tc = read_text(out, "tokenizer_config.json");
    cr_assert(strstr(tc, "\"262\"") && strstr(tc, "<|im_end|>") && strstr(tc, "chat_template"), "%s", tc);
    free(tc);
    char *gc = read_text(out, "generation_config.json");
    cr_assert(strstr(gc, "\"eos_token_id\":\t262"), "%s", gc);
    free(gc);
    sd_qwen3_free(&a2);
    /* sharded: small shards + index, loads the same */
    snprintf(out, sizeof out, "%s/A_sharded", tmp);
    sd_qwen3_save_opts so = {.max_shard_bytes = 20000};
    cr_assert_eq(sd_qwen3_save(&a, out, &so, &err), 0, "%s", err.msg);
    char *idx = sd_path_join(out, "model.safetensors.index.json");
    cr_assert(sd_exists(idx), "no index for a sharded save");
    free(idx);
    load_ok(&a2, out);
    cr_assert(same_params(&a, &a2), "sharded round trip not bit-exact");
    sd_qwen3_free(&a2);
    sd_qwen3_free(&a);

    /* B: BF16 values stored as BF16 again come back exactly; config says bfloat16 */
    sd_qwen3 b, b2;
    load_named(&b, "B");
    snprintf(out, sizeof out, "%s/B", tmp);
    so = (sd_qwen3_save_opts){.store_as = SD_DT_BF16};
    cr_assert_eq(sd_qwen3_save(&b, out, &so, &err), 0, "%s", err.msg);
    load_ok(&b2, out);
    cr_assert(same_params(&b, &b2), "BF16 round trip not exact");
    cr_assert_str_eq(b2.cfg.torch_dtype, "bfloat16");
    sd_qwen3_free(&b2);
    sd_qwen3_free(&b);

    /* C: no "model." prefix kept on save */
    sd_qwen3 c, c2;
    load_named(&c, "C");
    snprintf(out, sizeof out, "%s/C", tmp);
    cr_assert_eq(sd_qwen3_save(&c, out, NULL, &err), 0, "%s", err.msg);
    sd_st *st;
    cr_assert_eq(sd_st_open(&st, out, &err), 0, "%s", err.msg);
    cr_assert(sd_st_find(st, "embed_tokens.weight") && !sd_st_find(st, "model.embed_tokens.weight"));
    cr_assert(!sd_st_find(st, "lm_head.weight"), "tied model wrote lm_head");
    sd_st_close(st);
    load_ok(&c2, out);
    cr_assert(c2.no_prefix);
    cr_assert(same_params(&c, &c2));
    sd_qwen3_free(&c2);
    sd_qwen3_free(&c);
}

/* mean over rows [0, n) of W [*, C] in double */
static double col_mean(const float *W, int n, int C, int j) {
    double s = 0;
    for (int r = 0; r < n; r++) s += W[(size_t)r * C + j];
    return s / n;
}

Test(vocab_extend, ids_rows_mean_and_tokenizer) {
    sd_qwen3 m, orig;
    load_named(&m, "A");
    load_named(&orig, "A");
    sd_err err = {0};
    sd_qwen3_vocab_ext x;
    /* 2 x 4 codes fit in the spare rows: vocab stays 300, rows 263.. are re-initialised */
    cr_assert_eq(sd_qwen3_extend_vocab(&m, 2, 4, 1, 0.0f, &x, &err), 0, "%s", err.msg);
    cr_assert_eq(x.rec_id, 263); cr_assert_eq(x.sid_start_id, 264); cr_assert_eq(x.sid_end_id, 265);
    cr_assert_eq(x.sid_base, 266); cr_assert_eq(x.n_new, 11); cr_assert_eq(x.old_tokens, 263);
    cr_assert_eq(x.old_rows, 300); cr_assert_eq(x.new_rows, 300); cr_assert_eq(m.cfg.vocab_size, 300);
    int C = m.cfg.hidden_size;
    for (int v = 0; v < 2; v++) {
        int vi = v ? m.lm_head : m.embed;
        const float *W = sd_params_ptr(&m.p, vi), *W0 = sd_params_ptr(&orig.p, vi);
        cr_assert(!memcmp(W, W0, (size_t)263 * C * sizeof(float)), "old rows changed");
        for (int j = 0; j < C; j++) {
            float want = (float)col_mean(W0, 263, C, j);
            for (int r = 263; r < 300; r++)  /* noise 0: exactly the mean, spare rows included */
                cr_assert_float_eq(W[(size_t)r * C + j], want, 1e-7, "row %d col %d", r, j);
        }
    }
    sd_ids ids = {0};
    const char *text = "a<|sid_5|>b<|rec|>";
    cr_assert_eq(sd_tok_encode(m.tok, NULL, text, strlen(text), &ids), 0);
    cr_assert_eq(ids.n, 4);
    cr_assert_eq(ids.v[1], 271); cr_assert_eq(ids.v[3], 263);
    sd_ids_free(&ids);
    sd_qwen3_free(&m);

    /* 4 x 16 codes exceed the spare rows: vocab = token count 330; noise makes rows distinct */
    load_named(&m, "A");
    cr_assert_eq(sd_qwen3_extend_vocab(&m, 4, 16, 7, 0.01f, &x, &err), 0, "%s", err.msg);
    cr_assert_eq(x.new_rows, 330); cr_assert_eq(m.cfg.vocab_size, 330); cr_assert_eq(x.n_new, 67);
    cr_assert_eq(x.sid_base + 63, 329);
    const float *E = sd_params_ptr(&m.p, m.embed), *E0 = sd_params_ptr(&orig.p, orig.embed);
    cr_assert(!memcmp(E, E0, (size_t)263 * C * sizeof(float)));
    cr_assert(memcmp(E + (size_t)300 * C, E + (size_t)301 * C, (size_t)C * sizeof(float)), "new rows identical");
    for (int j = 0; j < C; j++) {
        double mu = col_mean(E0, 263, C, j);
        for (int r = 263; r < 330; r++) /* noise 0.01 x spread (~0.5): within 0.05 of the mean */
            cr_assert(fabs(E[(size_t)r * C + j] - mu) < 0.05, "row %d col %d: %g vs mean %g", r, j, E[(size_t)r * C + j], mu);
    }
    /* the extended folder saves and loads with its tokens */
    char tmp[256], out[300];
    sd_test_tmpdir(tmp, sizeof tmp);
    snprintf(out, sizeof out, "%s/ext", tmp);
    cr_assert_eq(sd_qwen3_save(&m, out, NULL, &err), 0, "%s", err.msg);
    sd_qwen3 m2;
    load_ok(&m2, out);
    cr_assert(same_params(&m, &m2));
    cr_assert_eq(sd_tok_vocab_size(m2.tok), 330);
    cr_assert_eq(sd_tok_token_to_id(m2.tok, "<|sid_5|>"), 271);
    cr_assert(sd_tok_is_special(m2.tok, 271));
    char *tc = read_text(out, "tokenizer_config.json");
    cr_assert(strstr(tc, "\"271\":\t{\n\t\t\t\"content\":\t\"<|sid_5|>\""), "added_tokens_decoder lacks <|sid_5|>");
    free(tc);
    /* extending again adds nothing and keeps the trained SID rows */
    cr_assert_eq(sd_qwen3_extend_vocab(&m2, 4, 16, 9, 0.01f, &x, &err), 0, "%s", err.msg);
    cr_assert_eq(x.n_new, 0); cr_assert_eq(x.new_rows, 330);
    cr_assert(same_params(&m, &m2), "a second extension changed rows");
    sd_qwen3_free(&m2);
    sd_qwen3_free(&m);
    sd_qwen3_free(&orig);
}

Test(vocab_extend, trainable_rows_only) {
    sd_qwen3 m;
    load_named(&m, "A");
    sd_err err = {0};
    sd_qwen3_vocab_ext x;
    cr_assert_eq(sd_qwen3_extend_vocab(&m, 4, 16, 3, 0.01f, &x, &err), 0, "%s", err.msg);
    sd_qwen3_alloc_train(&m);
    sd_qwen3_train_embeddings_only(&m);
    sd_qwen3_set_trainable_rows(&m, x.old_tokens, x.new_rows);
    float *before = fdup(m.p.data, m.p.n);
    int B = 2, T = 6;
    int32_t ids[12], tg[12];
    for (int i = 0; i < 12; i++) { ids[i] = i % 3 ? 100 + i : x.sid_base + i; tg[i] = x.sid_base + (i * 5) % 64; }
    sd_qwen3_batch b = {.B = B, .T = T, .ids = ids, .targets = tg};
    sd_qwen3_state s;
    sd_qwen3_state_init(&s, &m, B, T, true, false);
    sd_adamw opt = {.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.1};
    for (int step = 1; step <= 3; step++) {
        sd_params_zero_grad(&m.p);
        float loss;
        cr_assert_eq(sd_qwen3_forward(&m, &s, &b, &loss, &err), 0, "%s", err.msg);
        cr_assert_eq(sd_qwen3_backward(&m, &s, &b, 1.0f, &err), 0, "%s", err.msg);
        sd_adamw_step(&m.p, &opt, step, opt.lr);
    }
    int C = m.cfg.hidden_size;
    size_t lo = (size_t)x.old_tokens * C;
    for (int i = 0; i < m.p.n_views; i++) {
        const sd_view *v = &m.p.views[i];
        const float *w = m.p.data + v->offset, *w0 = before + v->offset;
        if (i == m.embed || i == m.lm_head) {
            cr_assert(!memcmp(w, w0, lo * sizeof(float)), "%s: frozen rows moved", v->name);
            cr_assert(memcmp(w + lo, w0 + lo, (v->numel - lo) * sizeof(float)), "%s: new rows did not train", v->name);
        } else {
            cr_assert(!memcmp(w, w0, v->numel * sizeof(float)), "%s: frozen view moved", v->name);
            const float *g = m.p.grad + v->offset;
            for (size_t j = 0; j < v->numel; j++) cr_assert_eq(g[j], 0.0f, "%s: gradient on a frozen view", v->name);
        }
    }
    /* all rows again: decay back on */
    sd_qwen3_set_trainable_rows(&m, 0, 0);
    cr_assert_eq(m.row_hi, 0);
    cr_assert(m.p.views[m.embed].weight_decay);
    free(before);
    sd_qwen3_state_free(&s);
    sd_qwen3_free(&m);
}

/* The head's training shortcuts give the plain computation's gradients: logits kept from the
 * forward (the state keeps them for small N V) against recomputed ones, and dW formed for a row
 * range only against the same rows of the full gradient. */
Test(qwen3, head_kept_logits_and_trained_rows) {
    sd_qwen3 m;
    load_named(&m, "A"); /* untied */
    sd_err err = {0};
    sd_qwen3_alloc_train(&m);
    int B = 2, T = 6, V = m.cfg.vocab_size, C = m.cfg.hidden_size, lo = 7, hi = 41;
    int32_t ids[12], tg[12];
    for (int i = 0; i < 12; i++) { ids[i] = (i * 37 + 5) % V; tg[i] = i % 3 == 1 ? SD_QWEN3_IGNORE : (i * 53 + 11) % V; }
    sd_qwen3_batch b = {.B = B, .T = T, .ids = ids, .targets = tg};
    sd_qwen3_state s;
    sd_qwen3_state_init(&s, &m, B, T, true, false);
    cr_assert(s.logits, "a small state keeps the head's logits");
    float *g[3];
    for (int run = 0; run < 3; run++) {
        if (run == 2) {
            sd_qwen3_train_embeddings_only(&m);
            sd_qwen3_set_trainable_rows(&m, lo, hi);
        }
        sd_params_zero_grad(&m.p);
        cr_assert_eq(sd_qwen3_forward(&m, &s, &b, NULL, &err), 0, "%s", err.msg);
        if (run == 1) s.logits_ok = false; /* as a state too large to keep them: recomputed */
        cr_assert_eq(sd_qwen3_backward(&m, &s, &b, 1.0f, &err), 0, "%s", err.msg);
        cr_assert(!s.logits_ok, "the kept logits are consumed by the backward");
        g[run] = fdup(m.p.grad, m.p.n);
    }
    for (size_t i = 0; i < m.p.n; i++)
        cr_assert(fabsf(g[0][i] - g[1][i]) <= 1e-6f * (1 + fabsf(g[1][i])), "kept vs recomputed logits at %zu: %g %g", i,
                  g[0][i], g[1][i]);
    int views[2] = {m.embed, m.lm_head};
    for (int k = 0; k < 2; k++) {
        const float *full = g[0] + m.p.views[views[k]].offset, *part = g[2] + m.p.views[views[k]].offset;
        for (size_t j = 0; j < (size_t)V * C; j++) {
            int row = (int)(j / C);
            float want = row >= lo && row < hi ? full[j] : 0.0f;
            cr_assert(fabsf(part[j] - want) <= 1e-6f * (1 + fabsf(want)), "%s [%d, %d]: %g, want %g",
                      m.p.views[views[k]].name, row, (int)(j % C), part[j], want);
        }
    }
    for (int run = 0; run < 3; run++) free(g[run]);
    sd_qwen3_state_free(&s);
    sd_qwen3_free(&m);
}

/* ---- hostile inputs ---- */

static void config_err(const char *json, const char *want) {
    cJSON *j = cJSON_Parse(json);
    cr_assert(j, "test JSON: %s", json);
    sd_qwen3_config c;
    sd_err err = {0};
    int rc = sd_qwen3_config_parse(&c, j, "cfg.json", &err);
    cJSON_Delete(j);
    cr_assert_neq(rc, 0, "accepted: %s", json);
    cr_assert(strstr(err.msg, "cfg.json") && strstr(err.msg, want), "message \"%s\" lacks \"%s\"", err.msg, want);
}

#define GOOD "\"hidden_size\": 32, \"num_hidden_layers\": 2, \"intermediate_size\": 40, \"vocab_size\": 300"

Test(qwen3_errors, config_values) {
    config_err("{\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"intermediate_size\": 40, \"vocab_size\": 300}",
               "\"hidden_size\" missing");
    config_err("{" GOOD ", \"num_attention_heads\": 0}", "num_attention_heads");
    config_err("{" GOOD ", \"num_attention_heads\": 4, \"num_key_value_heads\": 3}", "num_key_value_heads");
    config_err("{" GOOD ", \"num_attention_heads\": 4, \"head_dim\": -8}", "head_dim");
    config_err("{" GOOD ", \"num_attention_heads\": 4, \"head_dim\": 7}", "head_dim");
    config_err("{\"hidden_size\": 32, \"num_hidden_layers\": 2, \"intermediate_size\": 40, \"vocab_size\": 0, "
               "\"num_attention_heads\": 4}", "vocab_size");
    config_err("{" GOOD ", \"num_attention_heads\": 4, \"eos_token_id\": 300}", "eos_token_id");
    config_err("{" GOOD ", \"num_attention_heads\": 4, \"eos_token_id\": [1, -2]}", "eos_token_id[1]");
    config_err("{" GOOD ", \"num_attention_heads\": 4, \"bos_token_id\": 1000}", "bos_token_id");
    config_err("{" GOOD ", \"num_attention_heads\": 4, \"rms_norm_eps\": 0}", "rms_norm_eps");
    config_err("{" GOOD ", \"num_attention_heads\": 4, \"rope_theta\": -1}", "rope_theta");
    config_err("{\"hidden_size\": \"32\", \"num_hidden_layers\": 2, \"intermediate_size\": 40, \"vocab_size\": 300, "
               "\"num_attention_heads\": 4}", "\"hidden_size\"");
    config_err("{" GOOD ", \"num_attention_heads\": 4, \"attention_bias\": true}", "attention_bias");
    config_err("{" GOOD ", \"num_attention_heads\": 4, \"rope_scaling\": {\"type\": \"yarn\"}}", "rope_scaling");
    config_err("{" GOOD ", \"num_attention_heads\": 4, \"model_type\": \"llama\"}", "model_type");
    config_err("{" GOOD ", \"num_attention_heads\": 4, \"hidden_act\": \"gelu\"}", "hidden_act");
    config_err("{\"hidden_size\": 32, \"num_hidden_layers\": 2.5, \"intermediate_size\": 40, \"vocab_size\": 300, "
               "\"num_attention_heads\": 4}", "\"num_hidden_layers\"");
}

/* A copy of folder A in a temp dir with one file replaced (contents NULL: removed). */
static void broken_copy(char *out, size_t n, const char *file, const char *contents) {
    char tmp[256], src[512], cmd[2048];
    sd_test_tmpdir(tmp, sizeof tmp);
    folder(src, sizeof src, "A");
    snprintf(out, n, "%s/A", tmp);
    snprintf(cmd, sizeof cmd, "cp -r %s %s", src, out);
    cr_assert_eq(sd_test_run(cmd, NULL), 0);
    char *path = sd_path_join(out, file);
    sd_err err = {0};
    if (contents) cr_assert_eq(sd_write_file_atomic(path, contents, strlen(contents), &err), 0, "%s", err.msg);
    else remove(path);
    free(path);
}

static void load_err(const char *dir, const char *want1, const char *want2) {
    sd_qwen3 m;
    sd_err err = {0};
    int rc = sd_qwen3_load(&m, dir, &err);
    cr_assert_neq(rc, 0, "%s loaded", dir);
    cr_assert(strstr(err.msg, want1) && strstr(err.msg, want2), "message \"%s\" lacks \"%s\" / \"%s\"", err.msg, want1,
              want2);
}

/* Rewrites dir/model.safetensors from model m with one tensor changed (see mode). */
static void rewrite_weights(const char *dir, sd_qwen3 *m, int mode) {
    sd_st_writer *w = sd_st_writer_new();
    sd_err err = {0};
    float dummy[64] = {0};
    for (int i = 0; i < m->p.n_views; i++) {
        const sd_view *v = &m->p.views[i];
        if (mode == 0 && i == 3) continue; /* missing */
        int64_t shape[2] = {v->shape[0], v->ndim > 1 ? v->shape[1] : 0};
        if (mode == 1 && i == 3) shape[0] -= 1; /* wrong shape */
        size_t need = (size_t)shape[0] * (v->ndim > 1 ? (size_t)shape[1] : 1);
        (void)need;
        cr_assert_eq(sd_st_writer_add_f32(w, v->name, v->ndim, shape, sd_params_ptr(&m->p, i), SD_DT_F32, &err), 0, "%s", err.msg);
    }
    if (mode == 2) { /* extra */
        int64_t shape[1] = {64};
        cr_assert_eq(sd_st_writer_add_f32(w, "model.layers.7.mlp.up_proj.weight", 1, shape, dummy, SD_DT_F32, &err), 0);
    }
    char *path = sd_path_join(dir, "model.safetensors");
    cr_assert_eq(sd_st_writer_write(w, path, &err), 0, "%s", err.msg);
    free(path);
    sd_st_writer_free(w);
}

Test(qwen3_errors, folder_files) {
    char dir[512];
    broken_copy(dir, sizeof dir, "config.json", "{\"hidden_size\": 32,");
    load_err(dir, "config.json", "invalid JSON");
    broken_copy(dir, sizeof dir, "config.json", NULL);
    load_err(dir, "config.json", "");
    broken_copy(dir, sizeof dir, "config.json",
                "{\"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2,"
                " \"head_dim\": 12, \"intermediate_size\": 40, \"vocab_size\": 300, \"eos_token_id\": 999}");
    load_err(dir, "config.json", "\"eos_token_id\" 999");
    /* config disagreeing with the tensors: fewer kv heads than stored */
    broken_copy(dir, sizeof dir, "config.json",
                "{\"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 1,"
                " \"head_dim\": 12, \"intermediate_size\": 40, \"vocab_size\": 300, \"tie_word_embeddings\": false}");
    load_err(dir, "model.safetensors", "k_proj.weight\": shape");
    /* fewer layers in config than in the file: extra tensors */
    broken_copy(dir, sizeof dir, "config.json",
                "{\"hidden_size\": 32, \"num_hidden_layers\": 1, \"num_attention_heads\": 4, \"num_key_value_heads\": 2,"
                " \"head_dim\": 12, \"intermediate_size\": 40, \"vocab_size\": 300, \"tie_word_embeddings\": false}");
    load_err(dir, "model.safetensors", "model.layers.1.");
    /* tied config but the file has a separate head: tolerated only as a redundant copy when tied;
     * untied config without a head: missing */
    broken_copy(dir, sizeof dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 5000}, \"merges\": []}}");
    load_err(dir, "tokenizer.json", "");
    broken_copy(dir, sizeof dir, "model.safetensors", "not a safetensors file at all");
    load_err(dir, "model.safetensors", "");

    sd_qwen3 m;
    load_named(&m, "A");
    for (int mode = 0; mode < 3; mode++) {
        broken_copy(dir, sizeof dir, "config.json", NULL);
        char src[512], cmd[1200];
        folder(src, sizeof src, "A");
        snprintf(cmd, sizeof cmd, "cp %s/config.json %s/", src, dir);
        cr_assert_eq(sd_test_run(cmd, NULL), 0);
        rewrite_weights(dir, &m, mode);
        if (mode == 0) load_err(dir, "model.safetensors", "\"model.layers.0.self_attn.k_proj.weight\" missing");
        if (mode == 1) load_err(dir, "model.safetensors", "\"model.layers.0.self_attn.k_proj.weight\": shape");
        if (mode == 2) load_err(dir, "model.safetensors", "\"model.layers.7.mlp.up_proj.weight\" is not a parameter");
    }

    /* a tokenizer larger than the model's vocabulary */
    sd_qwen3_config c = m.cfg;
    c.vocab_size = 262;
    c.n_eos = 0;
    sd_qwen3 small;
    sd_err err = {0};
    cr_assert_eq(sd_qwen3_init(&small, &c, &err), 0, "%s", err.msg);
    small.tok = m.tok;
    char tmp[256], out[300];
    sd_test_tmpdir(tmp, sizeof tmp);
    snprintf(out, sizeof out, "%s/small", tmp);
    cr_assert_eq(sd_qwen3_save(&small, out, NULL, &err), 0, "%s", err.msg);
    small.tok = NULL;
    sd_qwen3_free(&small);
    load_err(out, "tokenizer.json", "263 tokens do not fit");

    /* batches with ids, targets or positions out of range */
    sd_qwen3_state s;
    sd_qwen3_state_init(&s, &m, 1, 3, false, false);
    int32_t ids[3] = {1, 300, 2}, tg[3] = {1, 2, 300}, ps[3] = {0, -1, 2};
    sd_qwen3_batch b = {.B = 1, .T = 3, .ids = ids};
    cr_assert_neq(sd_qwen3_forward(&m, &s, &b, NULL, &err), 0);
    cr_assert(strstr(err.msg, "input id 300 at [0, 1]"), "%s", err.msg);
    ids[1] = 5;
    b.targets = tg;
    cr_assert_neq(sd_qwen3_forward(&m, &s, &b, NULL, &err), 0);
    cr_assert(strstr(err.msg, "target 300 at [0, 2]"), "%s", err.msg);
    b.targets = NULL;
    b.pos = ps;
    cr_assert_neq(sd_qwen3_forward(&m, &s, &b, NULL, &err), 0);
    cr_assert(strstr(err.msg, "position -1"), "%s", err.msg);
    sd_qwen3_state_free(&s);
    sd_qwen3_free(&m);
}

Test(qwen3_cli, extend_command) {
    char tmp[256], src[512], cmd[2048];
    char *out = NULL;
    sd_test_tmpdir(tmp, sizeof tmp);
    folder(src, sizeof src, "B");
    snprintf(cmd, sizeof cmd, "%s extend --model %s --levels 3 --codes 8 --seed 5 -o %s/ext", sd_test_bin(), src, tmp);
    int rc = sd_test_run(cmd, &out);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "<|rec|> = 263") && strstr(out, "<|sid_start|> = 264") && strstr(out, "<|sid_end|> = 265") &&
              strstr(out, "<|sid_0|> .. <|sid_23|> = 266 .. 289") && strstr(out, "vocab_size: 280 -> 290"), "%s", out);
    free(out);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/ext", tmp);
    sd_qwen3 m;
    load_ok(&m, dir);
    cr_assert_eq(m.cfg.vocab_size, 290);
    cr_assert_str_eq(m.cfg.torch_dtype, "bfloat16"); /* kept the source's dtype */
    cr_assert_eq(sd_tok_token_to_id(m.tok, "<|sid_23|>"), 289);
    sd_qwen3_free(&m);

    snprintf(cmd, sizeof cmd, "%s extend --model %s -o %s/x", sd_test_bin(), src, tmp);
    cr_assert_eq(sd_test_run(cmd, &out), 2, "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s extend --model %s/none --levels 1 --codes 2 -o %s/x", sd_test_bin(), tmp, tmp);
    cr_assert_eq(sd_test_run(cmd, &out), 1, "%s", out);
    cr_assert(strstr(out, "/none"), "%s", out);
    free(out);
}

/* With the real Qwen3 tokenizer (from tests/js) the ids and size match semantic-ids-llm:
 * <|rec|> 151669, <|sid_start|> 151670, <|sid_end|> 151671, <|sid_k|> 151672 + k, and 4 x 256
 * codes give vocab_size 152,696 (over the checkpoint's 151,936 rows). */
Test(vocab_extend, qwen3_tokenizer_ids) {
    char path[512];
    snprintf(path, sizeof path, "%s/qwen3_tokenizer.json", sd_test_ref());
    sd_qwen3_config c = sd_qwen3_config_default();
    c.hidden_size = 8; c.num_hidden_layers = 1; c.num_attention_heads = 2; c.num_key_value_heads = 1;
    c.head_dim = 4; c.intermediate_size = 8; c.vocab_size = 151936;
    sd_qwen3 m;
    sd_err err = {0};
    cr_assert_eq(sd_qwen3_init(&m, &c, &err), 0, "%s", err.msg);
    sd_qwen3_init_random(&m, 1, 0.02f);
    cr_assert_eq(sd_tok_load(&m.tok, path, &err), 0, "%s", err.msg);
    sd_qwen3_vocab_ext x;
    cr_assert_eq(sd_qwen3_extend_vocab(&m, 4, 256, 42, 0.01f, &x, &err), 0, "%s", err.msg);
    cr_assert_eq(x.old_tokens, 151669);
    cr_assert_eq(x.rec_id, 151669); cr_assert_eq(x.sid_start_id, 151670); cr_assert_eq(x.sid_end_id, 151671);
    cr_assert_eq(x.sid_base, 151672); cr_assert_eq(x.n_new, 1027);
    cr_assert_eq(x.new_rows, 152696); cr_assert_eq(m.cfg.vocab_size, 152696);
    sd_ids ids = {0};
    const char *text = "<|im_start|>user\n<|rec|><|sid_start|><|sid_5|><|sid_1023|><|sid_end|>";
    cr_assert_eq(sd_tok_encode(m.tok, NULL, text, strlen(text), &ids), 0);
    int32_t want[] = {151644, 872, 198, 151669, 151670, 151677, 152695, 151671};
    cr_assert_eq(ids.n, 8, "%zu ids", ids.n);
    for (int i = 0; i < 8; i++) cr_assert_eq(ids.v[i], want[i], "id %d: %d, want %d", i, ids.v[i], want[i]);
    sd_ids_free(&ids);
    sd_qwen3_free(&m);
}
