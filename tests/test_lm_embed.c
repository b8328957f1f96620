/* Qwen3-Embedding: last-token pooling after the final norm, MRL truncation and L2 normalisation
 * against a float64 torch reference (tests/ref/gen_ref.py); Qwen3-Embedding folders (tensor names
 * without "model."); query instruction and <|endoftext|> handling with the real tokenizer; the
 * item text.
 *
 * Tolerance against torch: 2e-5 absolute per component of a unit vector (float32 forward of a
 * 2-layer model; the reference is float64). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "io/safetensors.h"
#include "lm/embed_qwen3.h"
#include "nn_ref.h"
#include "test_util.h"

static void ref_model(sd_qwen3 *m, tref *r) {
    int32_t *ci = tref_i(r, "cfg_i");
    float *cf = tref_f(r, "cfg_f");
    sd_qwen3_config c = sd_qwen3_config_default();
    c.hidden_size = ci[0], c.num_hidden_layers = ci[1], c.num_attention_heads = ci[2];
    c.num_key_value_heads = ci[3], c.head_dim = ci[4], c.intermediate_size = ci[5], c.vocab_size = ci[6];
    c.tie_word_embeddings = ci[7] != 0;
    c.rms_norm_eps = cf[0], c.rope_theta = cf[1];
    sd_err err;
    cr_assert_eq(sd_qwen3_init(m, &c, &err), 0, "%s", err.msg);
    for (int i = 0; i < m->p.n_views; i++) {
        const sd_view *v = &m->p.views[i];
        tref_tensor *t = tref_get(r, v->name + 6); /* the reference names lack "model." */
        cr_assert_eq(t->n, v->numel);
        memcpy(m->p.data + v->offset, t->data, sizeof(float) * v->numel);
    }
}

static void check_embeddings(sd_qwen3 *m, tref *r, int batch_tokens) {
    int n = tref_i(r, "n_prompts")[0], dim = tref_i(r, "dim")[0], C = m->cfg.hidden_size;
    const int32_t *ids[8];
    int lens[8];
    char name[32];
    for (int b = 0; b < n; b++) {
        snprintf(name, sizeof name, "prompt%d", b);
        tref_tensor *t = tref_get(r, name);
        ids[b] = t->data;
        lens[b] = (int)t->n;
    }
    float *full = malloc(sizeof(float) * n * C), *cut = malloc(sizeof(float) * n * dim);
    sd_err err;
    cr_assert_eq(sd_qwen3_embed_ids(m, ids, lens, n, 0, batch_tokens, false, full, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_qwen3_embed_ids(m, ids, lens, n, dim, batch_tokens, false, cut, &err), 0, "%s", err.msg);
    for (int b = 0; b < n; b++) {
        snprintf(name, sizeof name, "emb%d", b);
        check_close(name, full + (size_t)b * C, tref_f(r, name), C, 2e-5, 0);
        snprintf(name, sizeof name, "emb_dim%d", b);
        check_close(name, cut + (size_t)b * dim, tref_f(r, name), dim, 2e-5, 0);
        double s1 = 0, s2 = 0;
        for (int j = 0; j < C; j++) s1 += (double)full[b * C + j] * full[b * C + j];
        for (int j = 0; j < dim; j++) s2 += (double)cut[b * dim + j] * cut[b * dim + j];
        cr_assert_float_eq(s1, 1.0, 1e-5);
        cr_assert_float_eq(s2, 1.0, 1e-5);
    }
    free(full);
    free(cut);
}

Test(lm_embed, matches_torch) {
    tref *r = tref_load("gen_ref_embed.bin");
    sd_qwen3 m;
    ref_model(&m, r);
    check_embeddings(&m, r, 0);
    check_embeddings(&m, r, 5); /* one text per batch */
    sd_err err;
    float x[64];
    const int32_t one[1] = {3}, *ids[1] = {one};
    int len[1] = {1};
    cr_assert_eq(sd_qwen3_embed_ids(&m, ids, len, 1, 33, 0, false, x, &err), SD_EUSAGE);
    cr_assert(strstr(err.msg, "1..32"), "%s", err.msg);
    const int32_t bad[1] = {64}, *bids[1] = {bad};
    cr_assert_eq(sd_qwen3_embed_ids(&m, bids, len, 1, 0, 0, false, x, &err), SD_ERANGE);
    sd_qwen3_free(&m);
    tref_free(r);
}

/* A folder in Qwen3-Embedding's layout loads as one and embeds the same. */
Test(lm_embed, embedding_folder_without_prefix) {
    tref *r = tref_load("gen_ref_embed.bin");
    sd_qwen3 m, back;
    ref_model(&m, r);
    m.no_prefix = true;
    char dir[512], path[600];
    sd_test_tmpdir(dir, sizeof dir);
    strcat(dir, "/emb");
    sd_err err;
    cr_assert_eq(sd_qwen3_save(&m, dir, NULL, &err), 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    sd_st *st;
    cr_assert_eq(sd_st_open(&st, path, &err), 0, "%s", err.msg);
    cr_assert(sd_st_find(st, "embed_tokens.weight") && sd_st_find(st, "layers.1.mlp.up_proj.weight"));
    cr_assert_null(sd_st_find(st, "model.embed_tokens.weight"));
    cr_assert_null(sd_st_find(st, "lm_head.weight"));
    sd_st_close(st);
    cr_assert_eq(sd_qwen3_load(&back, dir, &err), 0, "%s", err.msg);
    cr_assert(back.no_prefix);
    check_embeddings(&back, r, 0);
    sd_qwen3_free(&back);
    sd_qwen3_free(&m);
    tref_free(r);
}

static void tok_model(sd_qwen3 *m) {
    char p[1024];
    snprintf(p, sizeof p, "%s/qwen3_tokenizer.json", sd_test_ref());
    sd_tokenizer *tok;
    sd_err err;
    cr_assert_eq(sd_tok_load(&tok, p, &err), 0, "%s", err.msg);
    sd_qwen3_config c = sd_qwen3_config_default();
    c.hidden_size = 16, c.num_hidden_layers = 1, c.num_attention_heads = 2, c.num_key_value_heads = 1;
    c.head_dim = 8, c.intermediate_size = 32, c.vocab_size = sd_tok_vocab_size(tok);
    cr_assert_eq(sd_qwen3_init(m, &c, &err), 0, "%s", err.msg);
    sd_qwen3_init_random(m, 2, 0.3f);
    m->tok = tok;
}

static void embed_one_ids(sd_qwen3 *m, const char *text, int max_tokens, float *out) {
    sd_ids e = {0};
    sd_tok_encode(m->tok, NULL, text, strlen(text), &e);
    int32_t eos = sd_qwen3_embed_eos(m);
    if ((int)e.n > max_tokens - 1) e.n = (size_t)max_tokens - 1;
    SD_GROW(e.v, e.cap, e.n + 1);
    e.v[e.n++] = eos;
    const int32_t *ids[1] = {e.v};
    int len[1] = {(int)e.n};
    sd_err err;
    cr_assert_eq(sd_qwen3_embed_ids(m, ids, len, 1, 8, 0, false, out, &err), 0, "%s", err.msg);
    sd_ids_free(&e);
}

Test(lm_embed, texts_queries_and_truncation, .timeout = 60) {
    sd_qwen3 m;
    tok_model(&m);
    cr_assert_eq(sd_qwen3_embed_eos(&m), 151643, "<|endoftext|>");
    char *q = sd_embed_query_text("Find the game", "space shooter");
    cr_assert_str_eq(q, "Instruct: Find the game\nQuery:space shooter");
    const char *texts[3] = {"space shooter", "A long description of a racing game with many many words in it", ""};
    sd_embed_opts o;
    sd_embed_opts_default(&o);
    o.dim = 8;
    float got[3 * 8], want[8];
    sd_err err;
    cr_assert_eq(sd_qwen3_embed_texts(&m, texts, 3, &o, got, &err), 0, "%s", err.msg);
    embed_one_ids(&m, texts[0], 512, want);
    check_close("document", got, want, 8, 1e-6, 0);
    embed_one_ids(&m, "", 512, want);
    check_close("empty text = <|endoftext|> alone", got + 16, want, 8, 1e-6, 0);
    o.task = "Find the game";
    cr_assert_eq(sd_qwen3_embed_texts(&m, texts, 1, &o, got, &err), 0, "%s", err.msg);
    embed_one_ids(&m, q, 512, want);
    check_close("query", got, want, 8, 1e-6, 0);
    o.task = NULL;
    o.max_tokens = 6;
    cr_assert_eq(sd_qwen3_embed_texts(&m, texts + 1, 1, &o, got, &err), 0, "%s", err.msg);
    embed_one_ids(&m, texts[1], 6, want);
    check_close("truncated to 5 tokens + <|endoftext|>", got, want, 8, 1e-6, 0);
    free(q);
    sd_qwen3_free(&m);
}

Test(lm_embed, item_text) {
    sd_catalog *c = sd_catalog_new();
    const char *cats[2] = {"Video Games", "PC"};
    sd_kv attrs[4] = {{"platform", "PC"}, {"genre", "Action"}, {"product_type", "Game"}, {"genre", "Shooter"}};
    sd_item_in in = {.ext_id = "B01", .title = "Doom", .description = "Demons.", .categories = cats,
                     .n_categories = 2, .attrs = attrs, .n_attrs = 4};
    sd_item_in bare = {.ext_id = "B02", .title = "Quake"};
    sd_err err;
    cr_assert_eq(sd_catalog_add(c, &in, &err), 0);
    cr_assert_eq(sd_catalog_add(c, &bare, &err), 1);
    char *t = sd_item_embed_text(c, 0);
    cr_assert_str_eq(t, "Product: Doom\nDescription: Demons.\nCategory: Video Games > PC\nPlatform: PC\n"
                        "Genre: Action, Shooter\nProduct Type: Game");
    free(t);
    t = sd_item_embed_text(c, 1);
    cr_assert_str_eq(t, "Product: Quake");
    free(t);
    sd_catalog_free(c);
}

/* semid embed WORK --model DIR on a synthetic store: rows are the item texts' embeddings. */
#include "data/workdir.h"
#include "ids/embfile.h"
Test(lm_embed, embed_command_with_model, .timeout = 120) {
    char tmp[512], work[600], model_dir[600], cmd[2048], *out;
    sd_test_tmpdir(tmp, sizeof tmp);
    snprintf(work, sizeof work, "%s/work", tmp);
    snprintf(model_dir, sizeof model_dir, "%s/emb", tmp);
    snprintf(cmd, sizeof cmd, "%s synth -o %s --items 100 --users 30 --quiet", sd_test_bin(), work);
    cr_assert_eq(sd_test_run(cmd, &out), 0, "%s", out);
    free(out);
    sd_qwen3 m;
    tok_model(&m);
    m.no_prefix = true; /* Qwen3-Embedding layout */
    sd_err err;
    cr_assert_eq(sd_qwen3_save(&m, model_dir, NULL, &err), 0, "%s", err.msg);
    snprintf(cmd, sizeof cmd, "%s embed %s --model %s --dim 8 --max-tokens 64 --quiet", sd_test_bin(), work, model_dir);
    cr_assert_eq(sd_test_run(cmd, &out), 0, "%s", out);
    free(out);

    sd_work w;
    cr_assert_eq(sd_work_load(&w, work, &err), 0, "%s", err.msg);
    char *path = sd_work_path(&w, "emb.npy");
    float *x;
    int64_t n, d;
    cr_assert_eq(sd_embfile_read_npy(path, &x, &n, &d, &err), 0, "%s", err.msg);
    cr_assert_eq(n, w.cat->n_items);
    cr_assert_eq(d, 8);
    int picks[3] = {0, (int)n / 2, (int)n - 1};
    for (int k = 0; k < 3; k++) {
        char *text = sd_item_embed_text(w.cat, picks[k]);
        cr_assert(!strncmp(text, "Product: ", 9), "%s", text);
        float want[8];
        sd_embed_opts o;
        sd_embed_opts_default(&o);
        o.dim = 8;
        o.max_tokens = 64;
        cr_assert_eq(sd_qwen3_embed_texts(&m, (const char *const *)&text, 1, &o, want, &err), 0, "%s", err.msg);
        check_close("item row", x + (size_t)picks[k] * 8, want, 8, 1e-5, 0);
        free(text);
    }
    free(x);
    free(path);
    /* bad settings */
    snprintf(cmd, sizeof cmd, "%s embed %s --model %s --dim 17 --quiet", sd_test_bin(), work, model_dir);
    cr_assert_eq(sd_test_run(cmd, &out), 2, "%s", out);
    cr_assert(strstr(out, "1..16"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s embed %s --model %s/nothing --quiet", sd_test_bin(), work, tmp);
    cr_assert_eq(sd_test_run(cmd, &out), 1, "%s", out);
    free(out);
    sd_work_free(&w);
    sd_qwen3_free(&m);
}
