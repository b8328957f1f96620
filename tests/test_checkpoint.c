/* Training checkpoints (bit-identical save/load, resume continues identically under AdamW,
 * mismatch errors) and model weight save/load with name maps, BF16 and shards. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/mem.h"
#include "base/rng.h"
#include "nn/checkpoint.h"
#include "nn/optim.h"
#include "test_util.h"

/* A small model: w [4, 3], b [3], e [2, 2, 5] (optionally with other shapes / an extra view). */
static void declare(sd_params *p, int64_t w_rows, bool extra) {
    sd_params_init(p);
    int64_t sw[2] = {w_rows, 3}, sb[1] = {3}, se[3] = {2, 2, 5}, sx[1] = {7};
    sd_params_add(p, "w", 2, sw, true);
    sd_params_add(p, "b", 1, sb, false);
    sd_params_add(p, "emb.e", 3, se, true);
    if (extra) sd_params_add(p, "extra", 1, sx, true);
}

static void fill_random(float *x, size_t n, sd_rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = (float)sd_rng_normal(r);
}

static char *tmpfile_in(const char *name) {
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    return sd_path_join(dir, name);
}

static void same_views(sd_params *a, sd_params *b, bool moments) {
    for (int k = 0; k < a->n_views; k++) {
        size_t off = a->views[k].offset, n = a->views[k].numel * sizeof(float);
        cr_assert(memcmp(a->data + off, b->data + off, n) == 0, "data of %s differs", a->views[k].name);
        if (moments) {
            cr_assert(memcmp(a->m + off, b->m + off, n) == 0, "m of %s differs", a->views[k].name);
            cr_assert(memcmp(a->v + off, b->v + off, n) == 0, "v of %s differs", a->views[k].name);
        }
    }
}

Test(checkpoint, save_load_bit_identical) {
    sd_params p, q;
    declare(&p, 4, false);
    sd_params_alloc(&p);
    sd_params_alloc_train(&p);
    sd_rng r, saved;
    sd_rng_seed(&r, 5);
    fill_random(p.data, p.n, &r);
    fill_random(p.m, p.n, &r);
    for (size_t i = 0; i < p.n; i++) p.v[i] = (float)sd_rng_double(&r) * 1e-6f;
    p.data[1] = -0.0f;
    p.m[2] = 1e-40f; /* subnormal survives */
    for (int i = 0; i < 17; i++) sd_rng_u64(&r);
    saved = r;
    const char *config = "{\"lr\": 0.001, \"name\": \"t\\u00e9st\", \"layers\": [1, 2]}";
    char *path = tmpfile_in("ckpt.safetensors");
    sd_err err = {0};
    cr_assert_eq(sd_ckpt_save(path, &p, 1234567890123ll, &r, config, &err), 0, "%s", err.msg);
    declare(&q, 4, false);
    int64_t step = 0;
    sd_rng r2 = {{0}};
    char *cfg = NULL;
    cr_assert_eq(sd_ckpt_load(path, &q, &step, &r2, &cfg, &err), 0, "%s", err.msg);
    same_views(&p, &q, true);
    cr_assert_eq(step, 1234567890123ll);
    cr_assert(memcmp(&r2, &saved, sizeof r2) == 0, "rng state restored");
    cr_assert_eq(sd_rng_u64(&r2), sd_rng_u64(&r));
    cr_assert_str_eq(cfg, config);
    free(cfg);
    /* the file is a plain safetensors file: the moments are visible under their prefixes */
    sd_st *st;
    cr_assert_eq(sd_st_open(&st, path, &err), 0);
    cr_assert_eq(sd_st_count(st), 9);
    cr_assert_not_null(sd_st_find(st, "__adam_m__/emb.e"));
    cr_assert_not_null(sd_st_find(st, "__adam_v__/w"));
    cr_assert_str_eq(sd_st_meta(st, "format"), "pt");
    sd_st_close(st);
    sd_params_free(&q);
    /* rng and config are optional */
    cr_assert_eq(sd_ckpt_save(path, &p, 3, NULL, NULL, &err), 0, "%s", err.msg);
    declare(&q, 4, false);
    cr_assert_eq(sd_ckpt_load(path, &q, &step, NULL, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(step, 3);
    same_views(&p, &q, true);
    cr_assert_eq(sd_ckpt_load(path, &q, &step, &r2, NULL, &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, "no RNG state"), "%s", err.msg);
    cr_assert_eq(sd_ckpt_load(path, &q, &step, NULL, &cfg, &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, "no config"), "%s", err.msg);
    sd_params_free(&q);
    sd_params_free(&p);
    free(path);
}

Test(checkpoint, mismatch_errors) {
    sd_params p, q;
    declare(&p, 4, false);
    sd_params_alloc(&p);
    sd_err err = {0};
    char *path = tmpfile_in("ckpt.safetensors");
    cr_assert_eq(sd_ckpt_save(path, &p, 1, NULL, NULL, &err), SD_ESTATE, "moments needed");
    sd_params_alloc_train(&p);
    cr_assert_eq(sd_ckpt_save(path, &p, 1, NULL, "{\"a\": ", &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, "checkpoint config:1:7: invalid JSON") && strstr(err.msg, path), "%s", err.msg);
    sd_rng r;
    sd_rng_seed(&r, 1);
    fill_random(p.data, p.n, &r);
    cr_assert_eq(sd_ckpt_save(path, &p, 10, &r, "{}", &err), 0, "%s", err.msg);

    /* other shape: error, and the target keeps its values */
    declare(&q, 5, false);
    sd_params_alloc(&q);
    q.data[0] = 42;
    cr_assert_eq(sd_ckpt_load(path, &q, NULL, NULL, NULL, &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "tensor \"w\": shape [4, 3], expected [5, 3]"), "%s", err.msg);
    cr_assert_eq(q.data[0], 42.0f);
    cr_assert_null(q.m, "nothing allocated on error");
    sd_params_free(&q);
    /* a parameter the checkpoint lacks */
    declare(&q, 4, true);
    cr_assert_eq(sd_ckpt_load(path, &q, NULL, NULL, NULL, &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, "tensor \"extra\" missing"), "%s", err.msg);
    sd_params_free(&q);
    /* a checkpoint tensor the model lacks */
    sd_params_init(&q);
    int64_t sw[2] = {4, 3}, sb[1] = {3};
    sd_params_add(&q, "w", 2, sw, true);
    sd_params_add(&q, "b", 1, sb, false);
    cr_assert_eq(sd_ckpt_load(path, &q, NULL, NULL, NULL, &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, "\"emb.e\" is not a parameter of this model"), "%s", err.msg);
    sd_params_free(&q);
    /* a weights file is not a checkpoint */
    char *wpath = tmpfile_in("w.safetensors");
    cr_assert_eq(sd_weights_save(wpath, &p, NULL, &err), 0, "%s", err.msg);
    declare(&q, 4, false);
    cr_assert_eq(sd_ckpt_load(wpath, &q, NULL, NULL, NULL, &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, "not a semid training checkpoint"), "%s", err.msg);
    /* damaged metadata */
    const char *bad_meta[][2] = {{"step", "12x"}, {"step", "-1"}, {"rng", "00:11"}, {"rng", NULL}};
    for (int k = 0; k < 4; k++) {
        sd_st_writer *w = sd_st_writer_new();
        sd_st_writer_meta(w, "semid", "checkpoint-1");
        sd_st_writer_meta(w, "step", "5");
        sd_st_writer_meta(w, "rng", "0000000000000001:0000000000000002:0000000000000003:000000000000000g");
        if (bad_meta[k][1]) sd_st_writer_meta(w, bad_meta[k][0], bad_meta[k][1]);
        cr_assert_eq(sd_st_writer_write(w, wpath, &err), 0);
        sd_st_writer_free(w);
        sd_rng rr;
        cr_assert_eq(sd_ckpt_load(wpath, &q, NULL, &rr, NULL, &err), SD_EFORMAT);
        cr_assert(strstr(err.msg, k < 2 ? "\"step\"" : "\"rng\""), "%s", err.msg);
    }
    /* a BF16 copy of a moment is not exact */
    sd_st_writer *w = sd_st_writer_new();
    sd_st_writer_meta(w, "semid", "checkpoint-1");
    sd_st_writer_meta(w, "step", "5");
    for (int k = 0; k < p.n_views; k++) {
        const sd_view *v = &p.views[k];
        char mn[64], vn[64];
        snprintf(mn, sizeof mn, SD_CKPT_M_PREFIX "%s", v->name);
        snprintf(vn, sizeof vn, SD_CKPT_V_PREFIX "%s", v->name);
        sd_st_writer_add_f32(w, v->name, v->ndim, v->shape, p.data + v->offset, SD_DT_F32, NULL);
        sd_st_writer_add_f32(w, mn, v->ndim, v->shape, p.m + v->offset, k == 2 ? SD_DT_BF16 : SD_DT_F32, NULL);
        sd_st_writer_add_f32(w, vn, v->ndim, v->shape, p.v + v->offset, SD_DT_F32, NULL);
    }
    cr_assert_eq(sd_st_writer_write(w, wpath, &err), 0);
    sd_st_writer_free(w);
    cr_assert_eq(sd_ckpt_load(wpath, &q, NULL, NULL, NULL, &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, "\"__adam_m__/emb.e\": dtype BF16"), "%s", err.msg);
    cr_assert_eq(sd_ckpt_load("/nonexistent/ck.safetensors", &q, NULL, NULL, NULL, &err), SD_EIO);
    sd_params_free(&q);
    sd_params_free(&p);
    free(wpath);
    free(path);
}

/* Least squares y = x W + b on minibatches drawn with the RNG, trained with AdamW and a cosine
 * schedule: the RNG, step, weights and both moments all influence later steps. */
static void train(sd_params *p, sd_rng *r, long from, long to) {
    const int B = 8;
    float *W = sd_params_ptr(p, 0), *b = sd_params_ptr(p, 1), *E = sd_params_ptr(p, 2);
    float *gW = sd_params_grad(p, 0), *gb = sd_params_grad(p, 1), *gE = sd_params_grad(p, 2);
    sd_adamw opt = sd_adamw_default();
    for (long step = from; step < to; step++) {
        sd_params_zero_grad(p);
        for (int i = 0; i < B; i++) {
            float x[4], y[3], pred[3];
            for (int k = 0; k < 4; k++) x[k] = (float)sd_rng_normal(r);
            for (int j = 0; j < 3; j++) y[j] = x[0] - 2 * x[j + 1] + 0.5f;
            int e = (int)sd_rng_below(r, 20);
            for (int j = 0; j < 3; j++) {
                pred[j] = b[j] + E[e] * 0.1f;
                for (int k = 0; k < 4; k++) pred[j] += x[k] * W[k * 3 + j];
                float d = (pred[j] - y[j]) / B;
                gb[j] += d;
                gE[e] += d * 0.1f;
                for (int k = 0; k < 4; k++) gW[k * 3 + j] += d * x[k];
            }
        }
        sd_adamw_step(p, &opt, step + 1, sd_lr_cosine(step, 3, 40, 0.05, 0.001));
    }
}

Test(checkpoint, resume_continues_bit_identically) {
    sd_params a, b;
    declare(&a, 4, false);
    sd_params_alloc(&a);
    sd_params_alloc_train(&a);
    sd_rng init, ra;
    sd_rng_seed(&init, 77);
    fill_random(a.data, a.n, &init);
    sd_rng_seed(&ra, 1);
    char *path = tmpfile_in("resume.safetensors");
    sd_err err = {0};
    train(&a, &ra, 0, 15);
    cr_assert_eq(sd_ckpt_save(path, &a, 15, &ra, "{\"seed\": 1}", &err), 0, "%s", err.msg);
    train(&a, &ra, 15, 40);

    declare(&b, 4, false);
    int64_t step;
    sd_rng rb;
    cr_assert_eq(sd_ckpt_load(path, &b, &step, &rb, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(step, 15);
    /* the test can fail: continuing with a fresh RNG instead of the saved one diverges */
    sd_params c;
    declare(&c, 4, false);
    cr_assert_eq(sd_ckpt_load(path, &c, NULL, NULL, NULL, &err), 0, "%s", err.msg);
    sd_rng fresh;
    sd_rng_seed(&fresh, 1);
    train(&c, &fresh, step, 40);
    cr_assert(memcmp(c.data, a.data, a.n * sizeof(float)) != 0);
    train(&b, &rb, step, 40);
    same_views(&a, &b, true);
    cr_assert(memcmp(&ra, &rb, sizeof ra) == 0);
    sd_params_free(&a);
    sd_params_free(&b);
    sd_params_free(&c);
    free(path);
}

static const char *hf_names(const char *view, char *buf, size_t cap, void *ctx) {
    (void)ctx;
    if (strcmp(view, "skip.me") == 0) return NULL;
    if (strcmp(view, "head") == 0) return "model.emb.e"; /* tied to the embedding */
    snprintf(buf, cap, "model.%s", view);
    return buf;
}

Test(checkpoint, weights_map_bf16_shards_and_errors) {
    sd_params p, q;
    declare(&p, 4, false);
    sd_params_alloc(&p);
    sd_rng r;
    sd_rng_seed(&r, 3);
    fill_random(p.data, p.n, &r);
    char *path = tmpfile_in("w.safetensors");
    sd_err err = {0};
    sd_weights_opts o = {.map = hf_names, .store_as = SD_DT_BF16};
    cr_assert_eq(sd_weights_save(path, &p, &o, &err), 0, "%s", err.msg);
    sd_st *st;
    cr_assert_eq(sd_st_open(&st, path, &err), 0);
    cr_assert_eq(sd_st_find(st, "model.w")->dtype, SD_DT_BF16);
    cr_assert_null(sd_st_find(st, "w"));
    sd_st_close(st);
    /* load with a tied head and a view the file does not hold */
    sd_params_init(&q);
    int64_t sw[2] = {4, 3}, sb[1] = {3}, se[3] = {2, 2, 5}, s2[1] = {2};
    sd_params_add(&q, "w", 2, sw, true);
    sd_params_add(&q, "b", 1, sb, false);
    sd_params_add(&q, "emb.e", 3, se, true);
    sd_params_add(&q, "head", 3, se, true);
    sd_params_add(&q, "skip.me", 1, s2, true);
    sd_params_alloc(&q);
    sd_params_ptr(&q, 4)[0] = 9;
    sd_weights_opts lo = {.map = hf_names};
    cr_assert_eq(sd_weights_load(path, &q, &lo, &err), 0, "%s", err.msg);
    for (int k = 0; k < 3; k++) {
        const float *x = sd_params_ptr(&p, k), *y = sd_params_ptr(&q, k);
        for (size_t i = 0; i < p.views[k].numel; i++) cr_assert_eq(y[i], sd_bf16_to_f32(sd_f32_to_bf16(x[i])));
    }
    cr_assert(memcmp(sd_params_ptr(&q, 3), sd_params_ptr(&q, 2), 20 * sizeof(float)) == 0, "tied");
    cr_assert_eq(sd_params_ptr(&q, 4)[0], 9.0f, "skipped view untouched");
    /* identity names: the file's "model." names are unused and ours are missing */
    cr_assert_eq(sd_weights_load(path, &q, NULL, &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, "tensor \"w\" missing") && strstr(err.msg, path), "%s", err.msg);
    sd_weights_opts lenient = {.allow_missing = true};
    cr_assert_eq(sd_weights_load(path, &q, &lenient, &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, "\"model.w\" is not used by any parameter"), "%s", err.msg);
    lenient.allow_unused = true;
    cr_assert_eq(sd_weights_load(path, &q, &lenient, &err), 0, "%s", err.msg);
    sd_params_free(&q);

    /* a parameter under another name missing: message names both */
    declare(&q, 4, true);
    cr_assert_eq(sd_weights_load(path, &q, &lo, &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, "tensor \"model.extra\" (for parameter \"extra\") missing"), "%s", err.msg);
    sd_params_free(&q);
    declare(&q, 5, false);
    cr_assert_eq(sd_weights_load(path, &q, &lo, &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, "\"model.w\": shape [4, 3], expected [5, 3]"), "%s", err.msg);
    sd_params_free(&q);

    /* sharded F32 folder through the writer */
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    sd_st_writer *w = sd_st_writer_new();
    sd_st_writer_meta(w, "format", "pt");
    cr_assert_eq(sd_weights_add(w, &p, NULL, &err), 0);
    cr_assert_eq(sd_st_writer_write_sharded(w, dir, "model", 64, &err), 0, "%s", err.msg);
    sd_st_writer_free(w);
    declare(&q, 4, false);
    cr_assert_eq(sd_weights_load(dir, &q, NULL, &err), 0, "%s", err.msg);
    same_views(&p, &q, false);
    sd_params_free(&q);

    /* integer tensors are not weights */
    w = sd_st_writer_new();
    int64_t ids[12] = {0};
    cr_assert_eq(sd_st_writer_add_raw(w, "w", SD_DT_I64, 2, sw, ids, &err), 0);
    cr_assert_eq(sd_st_writer_write(w, path, &err), 0);
    sd_st_writer_free(w);
    declare(&q, 4, false);
    lenient.allow_missing = true;
    cr_assert_eq(sd_weights_load(path, &q, &lenient, &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, "tensor \"w\": dtype I64, expected a float type"), "%s", err.msg);
    sd_params_free(&q);
    sd_params_free(&p);
    free(path);
}
