/* RQ-VAE training (src/ids/rqvae_train.c), files (rqvae_io.c) and `semid ids --method rqvae`.
 * Data with known structure: 16 well-separated clusters in 16 dimensions, each with 4
 * sub-clusters, plus small noise; 2 levels x 16 codes. Sizes are small so the file runs in
 * seconds. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/file.h"
#include "base/mem.h"
#include "base/rng.h"
#include "ids/rqvae.h"
#include "ids_fixture.h"
#include "nn/checkpoint.h"
#include "nn/ops.h"
#include "nn_ref.h"
#include <omp.h>
#include "test_util.h"

enum { N = 1024, D = 16 };

static float *cluster_data(uint64_t seed) {
    sd_rng r;
    sd_rng_seed(&r, seed);
    float c[16][D], s[64][D];
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < D; j++) c[i][j] = (float)(3 * sd_rng_normal(&r));
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < D; j++) s[i][j] = (float)(0.8 * sd_rng_normal(&r));
    float *x = malloc(sizeof(float) * N * D);
    for (int i = 0; i < N; i++) {
        int k = (int)sd_rng_below(&r, 64);
        for (int j = 0; j < D; j++) x[i * D + j] = c[k / 4][j] + s[k][j] + (float)(0.1 * sd_rng_normal(&r));
    }
    return x;
}

static void small_cfg(sd_rqvae_cfg *c) {
    sd_rqvae_cfg_default(c, D);
    c->n_hidden = 2, c->hidden[0] = 32, c->hidden[1] = 16;
    c->latent = 8, c->levels = 2, c->codes = 16;
}

static void small_opts(sd_rqvae_train_opts *o) {
    sd_rqvae_train_defaults(o);
    o->common.epochs = 40, o->common.batch = 128, o->common.adam.lr = 5e-3, o->common.warmup = 10, o->common.seed = 5;
}

static double mean_loss(sd_rqvae *m, const float *x) {
    sd_rqvae_ws ws;
    sd_rqvae_ws_init(&ws, m, N);
    double l = sd_rqvae_forward(m, &ws, x, N, NULL);
    sd_rqvae_ws_free(&ws);
    return l;
}

/* Training must cut the loss of the initial model at least in half, use at least 14 of the 16
 * codes on each level (the data has 16 clusters and 64 sub-clusters, so a collapsed codebook
 * would show) and explain at least 65% of the data's spread by decoding the codes; with
 * standardisation on, and with straight-through as well. */
static void train_and_check(bool standardize, sd_rqvae_grad grad) {
    float *x = cluster_data(11);
    sd_rqvae_cfg c;
    small_cfg(&c);
    c.grad = grad;
    sd_rqvae m;
    sd_err err = {0};
    cr_assert_eq(sd_rqvae_init(&m, &c, 1, &err), 0, "%s", err.msg);
    double before = mean_loss(&m, x);
    sd_rqvae_train_opts o;
    small_opts(&o);
    o.standardize = standardize;
    sd_rqvae_train_stats st;
    cr_assert_eq(sd_rqvae_train(&m, x, N, &o, &st, &err), 0, "%s", err.msg);
    cr_assert_eq(st.n_val, N / 20);
    cr_assert_eq(st.steps, 40 * ((N - N / 20 + 127) / 128));
    double after = mean_loss(&m, x);
    /* with standardisation the loss is in other units than before training: the reconstruction
     * check below covers that case */
    if (!standardize) cr_assert_lt(after, 0.5 * before, "loss %g -> %g", before, after);
    cr_assert(isfinite(st.best_val) && st.best_step > 0);
    int32_t *codes = malloc(sizeof(int32_t) * N * 2);
    sd_rqvae_encode(&m, x, N, 100, codes);
    for (int l = 0; l < 2; l++) {
        int used[16] = {0}, n_used = 0;
        for (int i = 0; i < N; i++) used[codes[i * 2 + l]] = 1;
        for (int k = 0; k < 16; k++) n_used += used[k];
        cr_assert_geq(n_used, 14, "level %d uses %d of 16 codes", l, n_used);
    }
    /* decoding the codes must explain at least 65% of the data's spread */
    float *xh = malloc(sizeof(float) * N * D);
    sd_rqvae_decode(&m, codes, N, 100, xh);
    double se = 0, var = 0, mu[D] = {0};
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) mu[j] += x[i * D + j] / N;
    for (int i = 0; i < N * D; i++) se += (xh[i] - x[i]) * (xh[i] - x[i]), var += (x[i] - mu[i % D]) * (x[i] - mu[i % D]);
    cr_assert_lt(se, 0.35 * var, "reconstruction error %g vs spread %g", se, var);
    free(xh);
    free(codes);
    free(x);
    sd_rqvae_free(&m);
}

Test(rqvae_train, clusters_rotation) { train_and_check(false, SD_RQVAE_ROTATION); }
Test(rqvae_train, clusters_ste_standardized) { train_and_check(true, SD_RQVAE_STE); }

static sd_rqvae train_small(uint64_t seed, int threads) {
    float *x = cluster_data(3);
    sd_rqvae_cfg c;
    small_cfg(&c);
    sd_rqvae m;
    sd_err err = {0};
    cr_assert_eq(sd_rqvae_init(&m, &c, seed, &err), 0);
    sd_rqvae_train_opts o;
    small_opts(&o);
    o.common.epochs = 4, o.common.seed = seed, o.reset_every = 3, o.standardize = true;
    int prev = omp_get_max_threads();
    omp_set_num_threads(threads);
    cr_assert_eq(sd_rqvae_train(&m, x, N, &o, NULL, &err), 0, "%s", err.msg);
    omp_set_num_threads(prev);
    free(x);
    return m;
}

/* Same seed and thread count: the same bytes; another seed: other parameters. */
Test(rqvae_train, deterministic_by_seed) {
    sd_rqvae a = train_small(9, 2), b = train_small(9, 2), c = train_small(10, 2);
    cr_assert_eq(a.params.n, b.params.n);
    cr_assert(!memcmp(a.params.data, b.params.data, sizeof(float) * a.params.n), "same seed, different parameters");
    cr_assert(memcmp(a.params.data, c.params.data, sizeof(float) * a.params.n), "seed has no effect");
    sd_rqvae_free(&a), sd_rqvae_free(&b), sd_rqvae_free(&c);
}

/* code_pull 1 sets every code the step's batch chose to the mean of the residuals that chose it.
 * One step over all items (no validation split) at a negligible learning rate, after a single
 * Lloyd iteration of initialisation (so the codes are not yet at their clusters' means): the
 * level-0 codes must then equal the means of the encoder outputs nearest to them under the
 * unpulled codebook (1e-4: Adam moves them ~1e-9, float sums of 1024 rows); the same run without
 * the pull must be off by more (the test can fail). */
Test(rqvae_train, code_pull_moves_codes_to_means) {
    float *x = cluster_data(7);
    sd_rqvae_cfg c;
    small_cfg(&c);
    sd_rqvae m[2];
    sd_err err = {0};
    for (int v = 0; v < 2; v++) {
        cr_assert_eq(sd_rqvae_init(&m[v], &c, 2, &err), 0);
        sd_rqvae_train_opts o;
        small_opts(&o);
        o.common.epochs = 1, o.common.batch = N, o.val_frac = 0, o.common.adam.lr = 1e-9, o.common.lr_min = 0,
        o.common.warmup = 0, o.reset_every = -1;
        o.kmeans_iters = 1, o.code_pull = v ? 1.0 : 0.0;
        cr_assert_eq(sd_rqvae_train(&m[v], x, N, &o, NULL, &err), 0, "%s", err.msg);
    }
    /* assignments and means under the unpulled model (its encoder equals the pulled one's to ~1e-9) */
    sd_rqvae_ws ws;
    sd_rqvae_ws_init(&ws, &m[0], N);
    sd_rqvae_forward(&m[0], &ws, x, N, NULL);
    int lat = c.latent;
    double sum[16][8] = {{0}};
    int cnt[16] = {0};
    for (int i = 0; i < N; i++) {
        int k = ws.codes[i * 2];
        cnt[k]++;
        for (int j = 0; j < lat; j++) sum[k][j] += ws.resid[i * lat + j];
    }
    double off[2] = {0, 0};
    for (int v = 0; v < 2; v++) {
        const float *book = sd_rqvae_codebook(&m[v], 0);
        for (int k = 0; k < 16; k++)
            for (int j = 0; cnt[k] && j < lat; j++) off[v] = fmax(off[v], fabs(book[k * lat + j] - sum[k][j] / cnt[k]));
    }
    cr_assert_lt(off[1], 1e-4, "pulled codes are %g from their means", off[1]);
    cr_assert_gt(off[0], 1e-3, "unpulled codes already at their means (%g): the test cannot tell", off[0]);
    sd_rqvae_ws_free(&ws);
    sd_rqvae_free(&m[0]), sd_rqvae_free(&m[1]);
    free(x);
}

static double distinct_of(sd_rqvae *m, const float *x) {
    int32_t *codes = malloc(sizeof(int32_t) * N * 2);
    sd_rqvae_encode(m, x, N, 256, codes);
    static char seen[16 * 16];
    memset(seen, 0, sizeof seen);
    int d = 0;
    for (int i = 0; i < N; i++) d += !seen[codes[i * 2] * 16 + codes[i * 2 + 1]]++;
    free(codes);
    return (double)d / N;
}

/* keep = distinct restores the checkpoint with the most distinct code tuples; the training path is
 * the same as with keep = val, so its tuples are at least as many, and the reported share is the
 * one the kept model gives (exactly: same encoder, same items). */
Test(rqvae_train, keep_distinct) {
    float *x = cluster_data(5);
    sd_rqvae_cfg c;
    small_cfg(&c);
    double dist[2];
    for (int v = 0; v < 2; v++) {
        sd_rqvae m;
        sd_err err = {0};
        cr_assert_eq(sd_rqvae_init(&m, &c, 4, &err), 0);
        sd_rqvae_train_opts o;
        small_opts(&o);
        o.common.epochs = 10, o.keep = v ? SD_RQVAE_KEEP_DISTINCT : SD_RQVAE_KEEP_VAL;
        sd_rqvae_train_stats st;
        cr_assert_eq(sd_rqvae_train(&m, x, N, &o, &st, &err), 0, "%s", err.msg);
        dist[v] = distinct_of(&m, x);
        if (v) cr_assert_float_eq(st.best_distinct, dist[v], 1e-12, "reported %g, model gives %g", st.best_distinct, dist[v]);
        else cr_assert_eq(st.best_distinct, -1);
        sd_rqvae_free(&m);
    }
    cr_assert_geq(dist[1], dist[0]);
    free(x);
}

Test(rqvae_train, bad_inputs) {
    float *x = cluster_data(4);
    sd_rqvae_cfg c;
    small_cfg(&c);
    sd_rqvae m;
    sd_err err = {0};
    cr_assert_eq(sd_rqvae_init(&m, &c, 1, &err), 0);
    sd_rqvae_train_opts o;
    small_opts(&o);
    x[37 * D + 5] = NAN;
    cr_assert_eq(sd_rqvae_train(&m, x, N, &o, NULL, &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, "row 37, column 5"), "%s", err.msg);
    x[37 * D + 5] = 0;
    cr_assert_eq(sd_rqvae_train(&m, x, 15, &o, NULL, &err), SD_ERANGE);   /* 15 items, 16 codes */
    cr_assert(strstr(err.msg, "16 codes"), "%s", err.msg);
    o.common.epochs = 0;
    cr_assert_eq(sd_rqvae_train(&m, x, N, &o, NULL, &err), SD_EUSAGE);
    cr_assert(strstr(err.msg, "epochs"), "%s", err.msg);
    small_opts(&o);
    o.val_frac = 0.7;
    cr_assert_eq(sd_rqvae_train(&m, x, N, &o, NULL, &err), SD_EUSAGE);
    cr_assert(strstr(err.msg, "validation"), "%s", err.msg);
    small_opts(&o);
    o.code_pull = 1.5;
    cr_assert_eq(sd_rqvae_train(&m, x, N, &o, NULL, &err), SD_EUSAGE);
    cr_assert(strstr(err.msg, "code pull"), "%s", err.msg);
    small_opts(&o);
    o.common.adam.lr = 1e9;   /* diverges: AdamW moves every weight by ~lr within the warmup, the activations
                   * overflow, and the first non-finite batch loss stops training with SD_ERANGE */
    err.msg[0] = 0;
    cr_assert_eq(sd_rqvae_train(&m, x, N, &o, NULL, &err), SD_ERANGE, "%s", err.msg);
    cr_assert(strstr(err.msg, "loss is not finite at step"), "%s", err.msg);
    free(x);
    sd_rqvae_free(&m);
}

Test(rqvae_train, save_load_roundtrip_and_bad_files) {
    char dir[256], path[300], cmd[700];
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    sd_rqvae_cfg c;
    small_cfg(&c);
    c.grad = SD_RQVAE_STE, c.reduction = SD_REDUCE_MEAN, c.beta = 0.5f;
    sd_rqvae a, b;
    sd_err err = {0};
    cr_assert_eq(sd_rqvae_init(&a, &c, 3, &err), 0);
    cr_assert_eq(sd_rqvae_save(&a, path, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_rqvae_load(&b, path, &err), 0, "%s", err.msg);
    cr_assert(a.cfg.dim == b.cfg.dim && a.cfg.n_hidden == b.cfg.n_hidden && a.cfg.hidden[0] == b.cfg.hidden[0] &&
              a.cfg.hidden[1] == b.cfg.hidden[1] && a.cfg.latent == b.cfg.latent && a.cfg.levels == b.cfg.levels &&
              a.cfg.codes == b.cfg.codes && a.cfg.beta == b.cfg.beta && a.cfg.grad == b.cfg.grad &&
              a.cfg.reduction == b.cfg.reduction);
    cr_assert_eq(a.params.n, b.params.n);
    cr_assert(!memcmp(a.params.data, b.params.data, sizeof(float) * a.params.n));
    sd_rqvae_free(&b);
    /* a file without the rqvae metadata */
    snprintf(cmd, sizeof cmd, "%s/plain.safetensors", dir);
    cr_assert_eq(sd_weights_save(cmd, &a.params, NULL, &err), 0);
    cr_assert_eq(sd_rqvae_load(&b, cmd, &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, "plain.safetensors") && strstr(err.msg, "semid"), "%s", err.msg);
    /* truncated */
    cr_assert_eq(truncate(path, 100), 0);
    cr_assert_neq(sd_rqvae_load(&b, path, &err), 0);
    cr_assert(strstr(err.msg, "m.safetensors"), "%s", err.msg);
    sd_rqvae_free(&a);
}

/* `semid ids --method rqvae` end to end: outputs under the prefix, the model file, the report's
 * training section; the default outputs of an earlier rqkmeans run stay untouched. */
Test(rqvae_train, cli_method_rqvae) {
    char dir[256], w[300], cmd[1024], *out;
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(w, sizeof w, "%s/work", dir);
    ids_make_work(w, 300, 3);
    snprintf(cmd, sizeof cmd, "%s embed %s --dim 32 --quiet", sd_test_bin(), w);
    int rc = sd_test_run(cmd, &out);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s ids %s --levels 2 --codes 8 --quiet --max-collision extend-level", sd_test_bin(), w);
    rc = sd_test_run(cmd, &out);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    char p1[400], p2[400];
    snprintf(p1, sizeof p1, "%s/sids.tsv", w);
    size_t n1, n2;
    char *before = NULL, *after = NULL;
    cr_assert_eq(sd_read_file(p1, &before, &n1, NULL), 0);
    snprintf(cmd, sizeof cmd,
             "%s ids %s --method rqvae --levels 2 --codes 8 --epochs 5 --batch 64 --lr 1e-3 --standardize --ste "
             "--recon mean --reset-every 4 --out-prefix rqvae_ --max-collision extend-level --quiet --json",
             sd_test_bin(), w);
    rc = sd_test_run(cmd, &out);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "\"rqvae\"") && strstr(out, "\"training\""), "%s", out);
    cr_assert(strstr(out, "\"straight-through\""), "%s", out);
    free(out);
    const char *files[] = {"rqvae_sids.tsv", "rqvae_sids.bin", "rqvae_ids_report.json", "rqvae_rqvae.safetensors"};
    for (int i = 0; i < 4; i++) {
        snprintf(p2, sizeof p2, "%s/%s", w, files[i]);
        cr_assert(sd_exists(p2), "%s missing", p2);
    }
    cr_assert_eq(sd_read_file(p1, &after, &n2, NULL), 0);
    cr_assert(n1 == n2 && !memcmp(before, after, n1), "sids.tsv changed by a prefixed run");
    free(before), free(after);
    snprintf(p2, sizeof p2, "%s/rqvae.safetensors", w);
    cr_assert(!sd_exists(p2), "a prefixed run wrote the unprefixed model %s", p2);
    snprintf(p2, sizeof p2, "%s/rqvae_rqvae.safetensors", w);
    sd_rqvae m;
    sd_err err = {0};
    cr_assert_eq(sd_rqvae_load(&m, p2, &err), 0, "%s", err.msg);
    cr_assert_eq(m.cfg.dim, 32);
    cr_assert_eq(m.cfg.levels, 2);
    cr_assert_eq(m.cfg.grad, SD_RQVAE_STE);
    sd_rqvae_free(&m);
}

Test(rqvae_train, cli_bad_options) {
    char dir[256], w[300], cmd[1024], *out;
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(w, sizeof w, "%s/work", dir);
    ids_make_work(w, 100, 3);
    const char *bad[][2] = {
        {"--recon median", "--recon"},
        {"--ste --rotation", "--ste"},
        {"--epochs 0", "epochs"},
        {"--batch -3", "batch"},
        {"--lr 0", "learning rate"},
        {"--beta -1", "beta"},
        {"--out-prefix a/b", "--out-prefix"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(cmd, sizeof cmd, "%s ids %s --method rqvae --levels 2 --codes 4 %s --quiet", sd_test_bin(), w, bad[i][0]);
        int rc = sd_test_run(cmd, &out);
        cr_assert_eq(rc, 2, "%s: rc %d: %s", bad[i][0], rc, out);
        cr_assert(strstr(out, bad[i][1]), "%s: %s", bad[i][0], out);
        free(out);
    }
}
