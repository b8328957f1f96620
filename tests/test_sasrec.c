/* SASRec: loss, every gradient and the scorer's item scores against the PyTorch module of
 * tests/ref/sasrec_ref.py (BCE with 2 heads, softmax with 1 head, left-padded batches with
 * lengths 1 .. T); training on a small work directory must beat popularity; `semid sasrec`
 * rejects bad input without writing anything and its model round-trips through `semid eval`.
 *
 * Tolerances (float32 on both sides, different summation orders): loss 1e-5 relative;
 * gradients 1e-6 + 2e-3 relative (as the engine's two-layer model test); scores 1e-5 + 1e-4
 * relative. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/mem.h"
#include "base/rng.h"
#include "base/threads.h"
#include "data/workdir.h"
#include "nn_ref.h"
#include "eval/baselines.h"
#include "eval/evaluate.h"
#include "rec/sasrec.h"
#include "rec/sasrec_sid.h"
#include "test_util.h"

static void parity_case(const char *file, sd_rec_loss loss, int heads) {
    tref *r = tref_load(file);
    tref_tensor *seqs = tref_get(r, "seqs");
    int B = (int)seqs->shape[0], T = (int)seqs->shape[1];
    int C = (int)tref_get(r, "param.item_emb.weight")->shape[1];
    int n_items = (int)tref_get(r, "param.item_emb.weight")->shape[0] - 1;
    int blocks = 0;
    while (1) {
        char key[64];
        snprintf(key, sizeof key, "param.layers.%d.input_layernorm.weight", blocks);
        if (!tref_has(r, key)) break;
        blocks++;
    }
    sd_sasrec_cfg cfg = sd_sasrec_defaults();
    cfg.dim = C; cfg.blocks = blocks; cfg.heads = heads; cfg.maxlen = T; cfg.dropout = 0; cfg.loss = loss;
    sd_sasrec m;
    sd_err err = {0};
    cr_assert_eq(sd_sasrec_init(&m, &cfg, 42, n_items, &err), 0, "%s", err.msg);
    int n_ref = 0;
    for (int i = 0; i < r->n; i++) n_ref += !strncmp(r->t[i].name, "param.", 6);
    cr_assert_eq(m.p.n_views, n_ref, "%d parameters, reference has %d", m.p.n_views, n_ref);
    for (int i = 0; i < m.p.n_views; i++) {
        char key[300];
        snprintf(key, sizeof key, "param.%s", m.p.views[i].name);
        tref_tensor *t = tref_get(r, key);
        cr_assert_eq(t->n, m.p.views[i].numel, "%s: %zu floats, want %zu", key, t->n, m.p.views[i].numel);
        memcpy(sd_params_ptr(&m.p, i), t->data, t->n * sizeof(float));
    }
    /* the padded batch, packed: left padding dropped, ids shifted to internal item ids */
    int32_t *s = tref_i(r, "seqs"), *pos = tref_i(r, "pos"), *neg = tref_i(r, "neg");
    int32_t len[B], item[B * T], target[B * T], negs[B * T];
    int64_t off[B + 1];
    const int32_t *hist[B];
    int32_t hist_len[B], users[B];
    int N = 0;
    off[0] = 0;
    for (int b = 0; b < B; b++) {
        len[b] = 0;
        hist[b] = item + N;
        for (int t = 0; t < T; t++) {
            if (!s[b * T + t]) continue;
            item[N] = s[b * T + t] - 1;
            target[N] = pos[b * T + t] - 1;
            negs[N] = neg[b * T + t] - 1;
            N++;
            len[b]++;
        }
        off[b + 1] = N;
        hist_len[b] = len[b];
        users[b] = b;
    }
    sd_sasrec_batch bt = {.B = B, .N = N, .len = len, .off = off, .item = item, .target = target,
                          .neg = loss == SD_LOSS_BCE ? negs : NULL};
    sd_params_alloc_train(&m.p);
    sd_params_zero_grad(&m.p);
    sd_sasrec_ws *ws = sd_sasrec_ws_new(&m, B);
    float l = sd_sasrec_loss_forward(&m, ws, &bt, true, 0);
    check_close("loss", &l, tref_f(r, "loss"), 1, 0, 1e-5);
    sd_sasrec_loss_backward(&m, ws, &bt);
    for (int i = 0; i < m.p.n_views; i++) {
        char key[300];
        snprintf(key, sizeof key, "grad.%s", m.p.views[i].name);
        check_close(key, sd_params_grad(&m.p, i), tref_f(r, key), m.p.views[i].numel, 1e-6, 2e-3);
    }
    /* the scorer: all items after each whole sequence */
    sd_scorer sc;
    sd_sasrec_scorer(&m, false, &sc);
    float *scores = malloc(sizeof(float) * (size_t)B * n_items);
    cr_assert_eq(sc.score_batch(sc.model, B, users, hist, hist_len, scores, &err), 0);
    check_close("scores", scores, tref_f(r, "scores"), (size_t)B * n_items, 1e-5, 1e-4);
    /* candidate scoring agrees with full scoring */
    int32_t cand[B * 3];
    float cs[B * 3];
    for (int b = 0; b < B; b++) for (int j = 0; j < 3; j++) cand[b * 3 + j] = (b * 7 + j * 5) % n_items;
    cr_assert_eq(sc.score_candidates(sc.model, B, users, hist, hist_len, 3, cand, cs, &err), 0);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < 3; j++)
            cr_assert_float_eq(cs[b * 3 + j], scores[b * n_items + cand[b * 3 + j]], 1e-5);
    sd_scorer_free(&sc);
    free(scores);
    sd_sasrec_ws_free(ws);
    sd_sasrec_free(&m);
    tref_free(r);
}

Test(sasrec, parity_bce_two_heads) { parity_case("sasrec_bce.bin", SD_LOSS_BCE, 2); }
Test(sasrec, parity_softmax) { parity_case("sasrec_softmax.bin", SD_LOSS_SOFTMAX, 1); }

/* A work directory where the next item follows from the last one: users walk along one of
 * several item "chains" (i -> (i + step) mod n) with a little noise; popularity is flat by design,
 * so only a sequential model can do well. */
static void make_work(char *work, size_t n) {
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(work, n, "%s/work", dir);
    sd_catalog *c = sd_catalog_new();
    int n_items = 120;
    for (int i = 0; i < n_items; i++) {
        char id[16], title[32];
        snprintf(id, sizeof id, "I%03d", i);
        snprintf(title, sizeof title, "Item %d", i);
        sd_item_in in = {id, title, "", NULL, 0, NULL, 0, NULL, 0};
        cr_assert_eq(sd_catalog_add(c, &in, NULL), i);
    }
    sd_seqbuilder *b = sd_seqbuilder_new();
    sd_rng r;
    sd_rng_seed(&r, 3);
    for (int u = 0; u < 300; u++) {
        char name[16];
        snprintf(name, sizeof name, "u%d", u);
        int len = 5 + (int)sd_rng_below(&r, 10), step = 1 + (int)sd_rng_below(&r, 3);
        int item = (int)sd_rng_below(&r, n_items);
        for (int k = 0; k < len; k++) {
            sd_seqbuilder_add(b, name, strlen(name), sd_rng_below(&r, 10) ? item : (int)sd_rng_below(&r, n_items), k);
            item = (item + step) % n_items;
        }
    }
    sd_seq_opts o = {.seed = 1, .min_len = 3, .max_len = 0};
    sd_sequences s;
    sd_err err = {0};
    cr_assert_eq(sd_seqbuilder_finish(b, n_items, &o, &s, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_work_create(work, c, &s, SD_SPLIT_LOO, 7, "test", NULL, &err), 0, "%s", err.msg);
    sd_sequences_free(&s);
    sd_seqbuilder_free(b);
    sd_catalog_free(c);
}

static double ndcg_of(const sd_scorer *sc, const sd_work *w) {
    sd_eval_opts eo = sd_eval_defaults();
    eo.progress = false;
    sd_metrics mt;
    sd_err err = {0};
    cr_assert_eq(sd_evaluate(sc, &w->seq, &w->split, &eo, &mt, NULL, &err), 0, "%s", err.msg);
    return mt.ndcg[1];
}

Test(sasrec, training_beats_popularity) {
    char work[512];
    make_work(work, sizeof work);
    sd_work w;
    sd_err err = {0};
    cr_assert_eq(sd_work_load(&w, work, &err), 0, "%s", err.msg);
    sd_rec_loss losses[2] = {SD_LOSS_BCE, SD_LOSS_SOFTMAX};
    sd_scorer pop;
    cr_assert_eq(sd_baseline_popularity(&w.seq, &w.split, false, &pop, &err), 0);
    double pop_ndcg = ndcg_of(&pop, &w);
    for (int i = 0; i < 2; i++) {
        sd_sasrec_cfg cfg = sd_sasrec_defaults();
        sd_train_opts to = sd_sasrec_train_defaults();
        cfg.dim = 32; cfg.maxlen = 16; cfg.dropout = 0.2f; to.batch = 64; to.epochs = 12; to.eval_every_epochs = 6;
        to.adam.lr = 5e-3; cfg.loss = losses[i]; to.progress = NULL;
        sd_sasrec m;
        cr_assert_eq(sd_sasrec_init(&m, &cfg, to.seed, w.seq.n_items, &err), 0, "%s", err.msg);
        sd_fit_report rep;
        cr_assert_eq(sd_sasrec_fit(&m, &to, &w.seq, &w.split, &rep, &err), 0, "%s", err.msg);
        cr_assert_gt(rep.best_epoch, 0);
        sd_scorer sc;
        sd_sasrec_scorer(&m, false, &sc);
        double nd = ndcg_of(&sc, &w);
        fprintf(stderr, "%s: test NDCG@10 %.4f, popularity %.4f\n", sd_rec_loss_name(losses[i]), nd, pop_ndcg);
        cr_assert_gt(nd, 3 * pop_ndcg + 0.1, "%s: SASRec NDCG@10 %.4f vs popularity %.4f", sd_rec_loss_name(losses[i]),
                     nd, pop_ndcg);
        sd_scorer_free(&sc);
        sd_sasrec_free(&m);
    }
    sd_scorer_free(&pop);
    sd_work_free(&w);
}

static int run_cmd(const char *args, char **out) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s sasrec %s --quiet", sd_test_bin(), args);
    return sd_test_run(cmd, out);
}

/* Not on a terminal (the test captures stderr), training logs a line every SEMID_LOG_EVERY
 * seconds with epoch, step, loss and the run's ETA; --quiet silences it. */
Test(sasrec_cli, progress_lines_off_terminal) {
    char work[512], cmd[2048], *out = NULL;
    make_work(work, sizeof work);
    snprintf(cmd, sizeof cmd, "SEMID_LOG_EVERY=0.001 %s sasrec %s --epochs 2 --eval-every 2 --dim 16 --maxlen 6 2>&1",
             sd_test_bin(), work);
    cr_assert_eq(sd_test_run(cmd, &out), 0, "%s", out);
    cr_assert(strstr(out, "epoch 1/2: ") && strstr(out, " steps (") && strstr(out, "loss ") && strstr(out, "run ETA"),
              "%s", out);
    cr_assert(!strchr(out, '\r'), "a bar was drawn off a terminal: %s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "SEMID_LOG_EVERY=0.001 %s sasrec %s --epochs 1 --dim 16 --maxlen 6 --force --quiet 2>&1",
             sd_test_bin(), work);
    cr_assert_eq(sd_test_run(cmd, &out), 0, "%s", out);
    cr_assert(!strstr(out, "steps ("), "--quiet: %s", out);
    free(out);
}

Test(sasrec_cli, bad_input_and_roundtrip) {
    char work[512], args[1024], *out = NULL;
    make_work(work, sizeof work);
    char *model = sd_path_join(work, "sasrec");
    struct { const char *args, *msg; } bad[] = {
        {"--dim 0", "--dim must be > 0"},
        {"--maxlen 0", "--maxlen must be"},
        {"--loss hinge", "unknown --loss 'hinge'"},
        {"--heads 3 --dim 32", "--heads must be > 0 and divide --dim"},
        {"--dropout 1", "--dropout must be in [0, 1)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(args, sizeof args, "%s %s", work, bad[i].args);
        int rc = run_cmd(args, &out);
        cr_assert_neq(rc, 0, "%s: exit 0", bad[i].args);
        cr_assert(strstr(out, bad[i].msg), "%s: message: %s", bad[i].args, out);
        free(out);
        cr_assert(!sd_exists(model), "%s: wrote %s", bad[i].args, model);
    }
    snprintf(args, sizeof args, "%s/missing", work);
    cr_assert_neq(run_cmd(args, &out), 0);
    cr_assert(strstr(out, "not a work directory"), "%s", out);
    free(out);
    /* a work directory without its split */
    char nosplit[2048];
    snprintf(nosplit, sizeof nosplit, "cp -r %s %s_nosplit && rm %s_nosplit/split.bin", work, work, work);
    cr_assert_eq(system(nosplit), 0);
    snprintf(args, sizeof args, "%s_nosplit", work);
    cr_assert_neq(run_cmd(args, &out), 0);
    cr_assert(strstr(out, "split.bin"), "%s", out);
    free(out);
    snprintf(nosplit, sizeof nosplit, "%s_nosplit/sasrec", work);
    cr_assert(!sd_exists(nosplit));

    /* train briefly; `semid eval` loads the model and reports the same test NDCG */
    snprintf(args, sizeof args, "%s --epochs 3 --eval-every 3 --dim 16 --maxlen 10", work);
    cr_assert_eq(run_cmd(args, &out), 0, "%s", out);
    char *line = strstr(out, "| sasrec | full |");
    cr_assert(line, "%s", out);
    double want = 0;
    cr_assert_eq(sscanf(line, "| sasrec | full | %*d | %*f | %lf", &want), 1, "%s", line);
    free(out);
    char *p = sd_path_join(model, "model.safetensors"), *q = sd_path_join(model, "config.json");
    cr_assert(sd_exists(p) && sd_exists(q));
    free(p); free(q);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s eval %s --quiet --models sasrec", sd_test_bin(), work);
    cr_assert_eq(sd_test_run(cmd, &out), 0, "%s", out);
    line = strstr(out, "| sasrec | full | test |");
    cr_assert(line, "%s", out);
    double got = -1;
    cr_assert_eq(sscanf(line, "| sasrec | full | test | %*s | %*d | %*f | %*f | %*f | %*f | %lf", &got), 1, "%s", line);
    cr_assert_float_eq(got, want, 1e-4, "eval NDCG@10 %.4f, training reported %.4f", got, want);
    free(out);
    free(model);
}

/* ---- SID-SASRec ---- */

/* sids.tsv for make_work's 120 items: c0 = i / 12, c1 = i / 3 % 4, c2 = i % 3, uniqueness 0. */
static void write_sids(const char *work) {
    char path[600];
    snprintf(path, sizeof path, "%s/sids.tsv", work);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fprintf(f, "id\text_id\tc0\tc1\tc2\tc3\tsid\n");
    for (int i = 0; i < 120; i++) /* K = 16 codes per level: token l * 16 + c */
        fprintf(f, "%d\tI%03d\t%d\t%d\t%d\t0\t<|sid_start|><|sid_%d|><|sid_%d|><|sid_%d|><|sid_%d|><|sid_end|>\n", i, i,
                i / 12, i / 3 % 4, i % 3, i / 12, 16 + i / 3 % 4, 32 + i % 3, 48);
    fclose(f);
}

Test(sasrec_sid, trie) {
    sd_sid_codes c = {0};
    int32_t codes[] = {0, 1, 0, /**/ 2, 0, 0, /**/ 0, 1, 1, /**/ 0, 0, 0, /**/ 2, 0, 1};
    c.n_items = 5; c.m = 3;
    c.codes = malloc(sizeof codes);
    memcpy(c.codes, codes, sizeof codes);
    sd_err err = {0};
    cr_assert_eq(sd_sid_codes_build(&c, &err), 0, "%s", err.msg);
    cr_assert_eq(c.V[0], 3); cr_assert_eq(c.V[1], 2); cr_assert_eq(c.V[2], 2);
    cr_assert_eq(c.off[1], 3); cr_assert_eq(c.n_codes, 7);
    /* level 0: the root with children {0, 2}; level 1: prefixes (0) and (2); level 2: (0,0), (0,1), (2,0) */
    cr_assert_eq(c.n_nodes[0], 1); cr_assert_eq(c.n_nodes[1], 2); cr_assert_eq(c.n_nodes[2], 3);
    cr_assert_eq(c.child_off[0][1], 2); cr_assert_eq(c.child[0][0], 0); cr_assert_eq(c.child[0][1], 2);
    cr_assert_eq(c.node[1][0], 0); cr_assert_eq(c.node[1][1], 1); cr_assert_eq(c.node[2][2], 1);
    cr_assert_eq(c.node[2][4], 2);
    int32_t k0 = c.child_off[2][2], k1 = c.child_off[2][3];
    cr_assert_eq(k1 - k0, 2, "prefix (2,0) has children 0 and 1");
    /* prefixes per depth: (0) (2); (0,0) (0,1) (2,0); every full code its own */
    cr_assert_eq(c.P[0], 2); cr_assert_eq(c.P[1], 3); cr_assert_eq(c.P[2], 5);
    cr_assert_eq(c.poff[1], 2); cr_assert_eq(c.poff[2], 5); cr_assert_eq(c.n_prefixes, 10);
    cr_assert_eq(c.prefix[0][1], 1); cr_assert_eq(c.prefix[1][0], 1); cr_assert_eq(c.prefix[1][3], 0);
    cr_assert_eq(c.prefix[1][4], 2);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < i; j++) cr_assert_neq(c.prefix[2][i], c.prefix[2][j]);
    /* duplicate IDs are an error */
    c.codes[3] = 0; c.codes[4] = 1; c.codes[5] = 0;
    sd_sid_codes tmp = c;
    for (int l = 0; l < 3; l++) { free(c.node[l]); free(c.child_off[l]); free(c.child[l]); tmp.node[l] = tmp.child_off[l] = tmp.child[l] = NULL; }
    cr_assert_neq(sd_sid_codes_build(&tmp, &err), 0);
    cr_assert(strstr(err.msg, "same semantic ID"), "%s", err.msg);
    sd_sid_codes_free(&tmp);
}

/* tokens mode: item probabilities from one hidden state sum to one over all items; gradients of
 * both modes against central differences (dropout 0; float32, step 1e-2: tolerance 2e-3
 * absolute + 3% relative). */
Test(sasrec_sid, probabilities_and_gradients) {
    char work[512];
    make_work(work, sizeof work);
    write_sids(work);
    sd_work w;
    sd_err err = {0};
    cr_assert_eq(sd_work_load(&w, work, &err), 0, "%s", err.msg);
    char *sids = sd_work_path(&w, "sids.tsv");
    for (int mode = 0; mode < 3; mode++) {
        sd_sasrec_cfg cfg = sd_sasrec_defaults();
        cfg.dim = 8; cfg.blocks = 1; cfg.heads = 2; cfg.maxlen = 5; cfg.dropout = 0; cfg.loss = SD_LOSS_SOFTMAX;
        sd_sasrec_sid m;
        cr_assert_eq(sd_sasrec_sid_init(&m, &cfg, 42, (sd_sid_mode)mode, sids, w.cat, &err), 0, "%s", err.msg);
        if (mode == SD_SID_TOKENS) {
            sd_scorer sc;
            sd_sasrec_sid_scorer(&m, false, &sc);
            int32_t users[2] = {0, 1}, hl[2] = {3, 0}, h0[3] = {5, 17, 99};
            const int32_t *hist[2] = {h0, h0};
            float *scores = malloc(sizeof(float) * 2 * 120);
            cr_assert_eq(sc.score_batch(sc.model, 2, users, hist, hl, scores, &err), 0);
            for (int u = 0; u < 2; u++) {
                double total = 0;
                for (int i = 0; i < 120; i++) total += exp(scores[u * 120 + i]);
                cr_assert_float_eq(total, 1.0, 1e-4, "user %d: probabilities sum to %g", u, total);
            }
            free(scores);
            sd_scorer_free(&sc);
        }
        int32_t len[2] = {3, 2}, item[5] = {4, 9, 30, 77, 78}, target[5] = {9, 30, 31, 78, 79};
        int64_t off[3] = {0, 3, 5};
        sd_seqbatch b = {.B = 2, .N = 5, .len = len, .off = off, .item = item, .target = target};
        sd_params_alloc_train(&m.p);
        sd_params_zero_grad(&m.p);
        sd_sasrec_sid_ws *ws = sd_sasrec_sid_ws_new(&m, 2);
        sd_sasrec_sid_loss_forward(&m, ws, &b, true, 0);
        sd_sasrec_sid_loss_backward(&m, ws, &b);
        const char *names[] = {"code_emb.weight", "layers.0.self_attn.q_proj.weight", "layers.0.mlp.down_proj.bias",
                               "pos_emb.weight", "last_layernorm.weight"};
        for (size_t v = 0; v < sizeof names / sizeof *names; v++) {
            int view = sd_params_index(&m.p, names[v]);
            cr_assert_geq(view, 0, "%s", names[v]);
            float *x = sd_params_ptr(&m.p, view), *g = sd_params_grad(&m.p, view);
            size_t n = m.p.views[view].numel;
            for (size_t k = 0; k < n; k += n / 7 + 1) {
                size_t j = k;
                if (v == 0) j = (size_t)(1 + 4) * 8 + k % 8; /* a code that the batch uses: level 0, code 0... */
                if (v == 3) j = (size_t)(m.enc.cfg.maxlen) * 8 + k % 8; /* the newest position */
                float x0 = x[j], eps = 1e-2f;
                x[j] = x0 + eps;
                double lp = sd_sasrec_sid_loss_forward(&m, ws, &b, true, 0);
                x[j] = x0 - eps;
                double lm = sd_sasrec_sid_loss_forward(&m, ws, &b, true, 0);
                x[j] = x0;
                double num = (lp - lm) / (2 * eps);
                cr_assert(fabs(num - g[j]) <= 2e-3 + 0.03 * fabs(num), "%s mode %s[%zu]: analytic %g numeric %g",
                          sd_sid_mode_name((sd_sid_mode)mode), names[v], j, g[j], num);
            }
        }
        sd_sasrec_sid_ws_free(ws);
        sd_sasrec_sid_free(&m);
    }
    free(sids);
    sd_work_free(&w);
}

Test(sasrec_sid, training_beats_popularity) {
    char work[512];
    make_work(work, sizeof work);
    write_sids(work);
    sd_work w;
    sd_err err = {0};
    cr_assert_eq(sd_work_load(&w, work, &err), 0, "%s", err.msg);
    char *sids = sd_work_path(&w, "sids.tsv");
    sd_scorer pop;
    cr_assert_eq(sd_baseline_popularity(&w.seq, &w.split, false, &pop, &err), 0);
    double pop_ndcg = ndcg_of(&pop, &w);
    for (int mode = 0; mode < 3; mode++) {
        sd_sasrec_cfg cfg = sd_sasrec_defaults();
        sd_train_opts to = sd_sasrec_train_defaults();
        cfg.dim = 32; cfg.maxlen = 8; cfg.dropout = 0.2f; to.batch = 64; to.epochs = 10; to.eval_every_epochs = 5;
        to.adam.lr = 5e-3; cfg.loss = SD_LOSS_SOFTMAX; to.progress = NULL;
        sd_sasrec_sid m;
        cr_assert_eq(sd_sasrec_sid_init(&m, &cfg, to.seed, (sd_sid_mode)mode, sids, w.cat, &err), 0, "%s", err.msg);
        sd_fit_report rep;
        cr_assert_eq(sd_sasrec_sid_fit(&m, &to, &w.seq, &w.split, &rep, &err), 0, "%s", err.msg);
        sd_scorer sc;
        sd_sasrec_sid_scorer(&m, false, &sc);
        double nd = ndcg_of(&sc, &w);
        fprintf(stderr, "sid %s: test NDCG@10 %.4f, popularity %.4f\n", sd_sid_mode_name((sd_sid_mode)mode), nd, pop_ndcg);
        cr_assert_gt(nd, 3 * pop_ndcg + 0.1, "%s: NDCG@10 %.4f vs popularity %.4f", sd_sid_mode_name((sd_sid_mode)mode),
                     nd, pop_ndcg);
        sd_scorer_free(&sc);
        sd_sasrec_sid_free(&m);
    }
    sd_scorer_free(&pop);
    free(sids);
    sd_work_free(&w);
}

/* Data parallelism (rec/sasrec.c, sharded_step): with two threads every batch is cut into two
 * shards whose scaled gradients sum to the batch's, so without dropout a run on 2 threads ends
 * where the 1-thread run does, up to float summation order; with dropout both are reproducible. */
static void fit_params(int threads, int mode, float dropout, float **out, size_t *n) {
    char work[512];
    make_work(work, sizeof work);
    write_sids(work);
    sd_work w;
    sd_err err = {0};
    cr_assert_eq(sd_work_load(&w, work, &err), 0, "%s", err.msg);
    sd_sasrec_cfg cfg = sd_sasrec_defaults();
    sd_train_opts to = sd_sasrec_train_defaults();
    cfg.dim = 16; cfg.maxlen = 8; cfg.dropout = dropout; to.batch = 64; to.epochs = 2; to.eval_every_epochs = 2;
    to.progress = NULL;
    /* a large eps makes Adam's step linear in the gradient: a gradient near zero whose sign
     * depends on summation order would otherwise move by a whole learning rate either way */
    to.adam.eps = 1.0;
    to.adam.lr = 0.05;
    sd_set_threads(threads);
    sd_fit_report rep;
    sd_params *p;
    sd_sasrec m;
    sd_sasrec_sid ms;
    if (mode < 0) {
        cr_assert_eq(sd_sasrec_init(&m, &cfg, to.seed, w.seq.n_items, &err), 0, "%s", err.msg);
        cr_assert_eq(sd_sasrec_fit(&m, &to, &w.seq, &w.split, &rep, &err), 0, "%s", err.msg);
        p = &m.p;
    } else {
        char *sids = sd_work_path(&w, "sids.tsv");
        cr_assert_eq(sd_sasrec_sid_init(&ms, &cfg, to.seed, (sd_sid_mode)mode, sids, w.cat, &err), 0, "%s", err.msg);
        cr_assert_eq(sd_sasrec_sid_fit(&ms, &to, &w.seq, &w.split, &rep, &err), 0, "%s", err.msg);
        free(sids);
        p = &ms.p;
    }
    sd_set_threads(0);
    *n = p->n;
    *out = malloc(sizeof(float) * p->n);
    memcpy(*out, p->data, sizeof(float) * p->n);
    if (mode < 0) sd_sasrec_free(&m);
    else sd_sasrec_sid_free(&ms);
    sd_work_free(&w);
}

Test(sasrec, two_threads_shard_batches) {
    for (int mode = -1; mode < 3; mode++) {
        float *a, *b, *c;
        size_t na, nb, nc;
        fit_params(1, mode, 0.0f, &a, &na);
        fit_params(2, mode, 0.0f, &b, &nb);
        cr_assert_eq(na, nb);
        double worst = 0;
        for (size_t i = 0; i < na; i++) worst = fmax(worst, fabs((double)a[i] - b[i]));
        fprintf(stderr, "%s: 1 vs 2 threads, largest parameter difference %.3g\n",
                mode < 0 ? "sasrec" : sd_sid_mode_name((sd_sid_mode)mode), worst);
        cr_assert_lt(worst, 1e-5, "mode %d: 1 and 2 threads differ by %g", mode, worst);
        cr_assert_gt(worst, 0, "mode %d: bit-identical: were the batches sharded at all?", mode);
        free(b);
        /* with dropout, 2 threads twice: the same bits */
        fit_params(2, mode, 0.3f, &b, &nb);
        fit_params(2, mode, 0.3f, &c, &nc);
        cr_assert(nb == nc && !memcmp(b, c, sizeof(float) * nb), "mode %d: 2-thread runs differ", mode);
        free(a); free(b); free(c);
    }
}

/* Mean rank (as a share of the catalogue, 0 = top) of every cold test target: items whose
 * every occurrence was cut from training. */
static double cold_rank(const sd_scorer *sc, const sd_work *w, const sd_split *sp, const unsigned char *cold,
                        int *n_users) {
    int32_t n = w->seq.n_items;
    float *s = malloc(sizeof(float) * n);
    double acc = 0;
    *n_users = 0;
    for (int32_t u = 0; u < w->seq.n_users; u++) {
        int32_t tp = sp->test_pos[u];
        if (tp < 1) continue;
        const int32_t *it = w->seq.items + w->seq.offsets[u];
        if (!cold[it[tp]]) continue;
        sd_err err = {0};
        const int32_t *hist[1] = {it};
        cr_assert_eq(sc->score_batch(sc->model, 1, &u, hist, &tp, s, &err), 0);
        int64_t above = 0;
        for (int32_t i = 0; i < n; i++) above += s[i] > s[it[tp]];
        acc += (double)above / n;
        (*n_users)++;
    }
    free(s);
    return *n_users ? acc / *n_users : 1;
}

/* Cold start: items 7, 17, 27, ... leave training (each user's training part ends before the
 * first of them); the prefix model still ranks them far above chance for the users whose test
 * target they are, through the prefixes they share with seen items. */
Test(sasrec_sid, cold_items_rank_above_chance) {
    char work[512];
    make_work(work, sizeof work);
    write_sids(work);
    sd_work w;
    sd_err err = {0};
    cr_assert_eq(sd_work_load(&w, work, &err), 0, "%s", err.msg);
    unsigned char cold[120] = {0};
    for (int i = 7; i < 120; i += 10) cold[i] = 1;
    sd_split sp = w.split;
    sp.train_len = malloc(sizeof(int32_t) * w.seq.n_users);
    sp.mapped = NULL;
    for (int32_t u = 0; u < w.seq.n_users; u++) {
        const int32_t *it = w.seq.items + w.seq.offsets[u];
        int32_t k = 0;
        while (k < w.split.train_len[u] && !cold[it[k]]) k++;
        sp.train_len[u] = k;
    }
    char *sids = sd_work_path(&w, "sids.tsv");
    sd_sasrec_cfg cfg = sd_sasrec_defaults();
    sd_train_opts to = sd_sasrec_train_defaults();
    cfg.dim = 32; cfg.maxlen = 8; cfg.dropout = 0.2f; to.batch = 64; to.epochs = 10; to.eval_every_epochs = 5;
    to.adam.lr = 5e-3; cfg.loss = SD_LOSS_SOFTMAX; to.progress = NULL;
    sd_sasrec_sid m;
    cr_assert_eq(sd_sasrec_sid_init(&m, &cfg, to.seed, SD_SID_PREFIX, sids, w.cat, &err), 0, "%s", err.msg);
    sd_fit_report rep;
    cr_assert_eq(sd_sasrec_sid_fit(&m, &to, &w.seq, &sp, &rep, &err), 0, "%s", err.msg);
    /* the cold items' own rows are zero */
    const float *E = sd_params_ptr(&m.p, m.code_emb);
    int l = m.codes.m - 1;
    for (int i = 7; i < 120; i += 10) {
        const float *row = E + (size_t)(1 + m.codes.poff[l] + m.codes.prefix[l][i]) * cfg.dim;
        for (int k = 0; k < cfg.dim; k++) cr_assert_eq(row[k], 0.0f, "item %d: own row not zeroed", i);
    }
    sd_scorer sc;
    sd_sasrec_sid_scorer(&m, false, &sc);
    int users;
    double r = cold_rank(&sc, &w, &sp, cold, &users);
    fprintf(stderr, "cold items: %d test users, mean rank %.3f of the catalogue (chance 0.5)\n", users, r);
    cr_assert_geq(users, 10);
    cr_assert_lt(r, 0.2, "cold targets rank at %.3f of the catalogue", r);
    sd_scorer_free(&sc);
    sd_sasrec_sid_free(&m);
    free(sp.train_len);
    free(sids);
    sd_work_free(&w);
}

Test(sasrec_sid, cli_errors_and_roundtrip) {
    char work[512], args[1024], *out = NULL;
    make_work(work, sizeof work);
    char *model = sd_path_join(work, "sasrec_sid");
    snprintf(args, sizeof args, "%s --sid --epochs 1", work);
    cr_assert_neq(run_cmd(args, &out), 0);
    cr_assert(strstr(out, "run `semid ids WORK` first"), "%s", out);
    free(out);
    cr_assert(!sd_exists(model));
    write_sids(work);
    snprintf(args, sizeof args, "%s --sid --sid-mode bogus", work);
    cr_assert_neq(run_cmd(args, &out), 0);
    cr_assert(strstr(out, "unknown --sid-mode 'bogus'"), "%s", out);
    free(out);
    /* a truncated sids.tsv */
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "head -50 %s/sids.tsv > %s/s && mv %s/s %s/sids.tsv", work, work, work, work);
    cr_assert_eq(system(cmd), 0);
    snprintf(args, sizeof args, "%s --sid --epochs 1", work);
    cr_assert_neq(run_cmd(args, &out), 0);
    cr_assert(strstr(out, "49 rows, the catalogue has 120 items"), "%s", out);
    free(out);
    cr_assert(!sd_exists(model));
    write_sids(work);
    snprintf(args, sizeof args, "%s --sid --epochs 2 --eval-every 2 --dim 16 --maxlen 6", work);
    cr_assert_eq(run_cmd(args, &out), 0, "%s", out);
    char *line = strstr(out, "| sasrec_sid | full |");
    cr_assert(line, "%s", out);
    double want = 0;
    cr_assert_eq(sscanf(line, "| sasrec_sid | full | %*d | %*f | %lf", &want), 1, "%s", line);
    free(out);
    snprintf(cmd, sizeof cmd, "%s eval %s --quiet --models sasrec_sid", sd_test_bin(), work);
    cr_assert_eq(sd_test_run(cmd, &out), 0, "%s", out);
    line = strstr(out, "| sasrec_sid | full | test |");
    cr_assert(line, "%s", out);
    double got = -1;
    cr_assert_eq(sscanf(line, "| sasrec_sid | full | test | %*s | %*d | %*f | %*f | %*f | %*f | %lf", &got), 1, "%s", line);
    cr_assert_float_eq(got, want, 1e-4, "eval NDCG@10 %.4f, training reported %.4f", got, want);
    free(out);
    free(model);
}
