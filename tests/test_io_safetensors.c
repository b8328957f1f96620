/* safetensors: conversions against PyTorch, shards, round trips read back by Python, and
 * hostile input (truncation at every length, random header corruption, malformed headers). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/file.h"
#include "base/mem.h"
#include "base/rng.h"
#include "io/safetensors.h"
#include "test_util.h"

static char *ref_path(const char *name) { return sd_path_join(sd_test_ref(), name); }

/* Python reference/check script next to the fixtures folder (tests/ref). */
static void py_check(const char *mode, const char *file) {
    char cmd[4096], tests[2048];
    snprintf(tests, sizeof tests, "%s", sd_test_fixtures());
    char *slash = strrchr(tests, '/');
    if (slash) *slash = 0; else snprintf(tests, sizeof tests, "tests");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/ref/io_safetensors.py %s %s", tests, mode, file);
    char *out = NULL;
    int rc = sd_test_run(cmd, &out);
    cr_assert_eq(rc, 0, "python check failed: %s", out);
    cr_assert(strncmp(out, "OK", 2) == 0, "%s", out);
    free(out);
}

static uint32_t bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static const sd_st_tensor *must_find(const sd_st *st, const char *name) {
    const sd_st_tensor *t = sd_st_find(st, name);
    cr_assert(t, "tensor %s missing", name);
    return t;
}

static float *read_all(const sd_st_tensor *t) {
    float *x = sd_afloats(t->numel + 1);
    sd_err err = {0};
    cr_assert_eq(sd_st_read_f32(t, x, t->numel, &err), 0, "%s", err.msg);
    return x;
}

/* Narrowing F32 -> BF16/F16 and widening back must equal torch bit for bit; NaN only has to stay
 * NaN (torch's vectorised paths and the scalar path choose different NaN payloads). */
Test(safetensors, conversions_match_torch) {
    char *p = ref_path("io_st_conv.safetensors");
    sd_st *st;
    sd_err err = {0};
    cr_assert_eq(sd_st_open(&st, p, &err), 0, "%s", err.msg);
    const sd_st_tensor *src = must_find(st, "src"), *bf = must_find(st, "src_bf16"), *hf = must_find(st, "src_f16");
    cr_assert_eq(bf->dtype, SD_DT_BF16);
    cr_assert_eq(hf->dtype, SD_DT_F16);
    float *x = read_all(src);
    const uint16_t *tb = bf->data, *th = hf->data;
    int bad_bf = 0, bad_hf = 0;
    for (size_t i = 0; i < src->numel; i++) {
        uint16_t b = sd_f32_to_bf16(x[i]), h = sd_f32_to_f16(x[i]);
        if (isnan(x[i])) {
            bad_bf += !isnan(sd_bf16_to_f32(b)) || !isnan(sd_bf16_to_f32(tb[i]));
            bad_hf += !isnan(sd_f16_to_f32(h)) || !isnan(sd_f16_to_f32(th[i]));
        } else {
            if (b != tb[i] && bad_bf++ < 5) cr_log_error("bf16 %a: got %04x torch %04x", x[i], b, tb[i]);
            if (h != th[i] && bad_hf++ < 5) cr_log_error("f16 %a: got %04x torch %04x", x[i], h, th[i]);
        }
    }
    cr_assert_eq(bad_bf, 0, "%d BF16 mismatches of %zu", bad_bf, src->numel);
    cr_assert_eq(bad_hf, 0, "%d F16 mismatches of %zu", bad_hf, src->numel);
    const char *pairs[2][2] = {{"all_f16", "all_f16_as_f32"}, {"all_bf16", "all_bf16_as_f32"}};
    for (int k = 0; k < 2; k++) {
        const sd_st_tensor *a = must_find(st, pairs[k][0]), *b = must_find(st, pairs[k][1]);
        cr_assert_eq(a->numel, 65536);
        float *got = read_all(a), *want = read_all(b);
        int bad = 0;
        for (int i = 0; i < 65536; i++) {
            bool ok = isnan(want[i]) ? isnan(got[i]) : bits(got[i]) == bits(want[i]);
            if (!ok && bad++ < 5) cr_log_error("%s pattern %04x: %a vs %a", pairs[k][0], i, got[i], want[i]);
        }
        cr_assert_eq(bad, 0, "%s: %d of 65536 patterns differ", pairs[k][0], bad);
        sd_afree(got);
        sd_afree(want);
    }
    int64_t ids[3];
    cr_assert_eq(sd_st_read_i64(must_find(st, "ids"), ids, 3, &err), 0, "%s", err.msg);
    cr_assert(ids[0] == 3 && ids[1] == -1 && ids[2] == (1ll << 40));
    const sd_st_tensor *mask = must_find(st, "mask"), *sc = must_find(st, "scalar"), *em = must_find(st, "empty");
    cr_assert_eq(sd_st_read_i64(mask, ids, 3, &err), SD_EFORMAT, "element count is checked");
    cr_assert(strstr(err.msg, "\"mask\"") && strstr(err.msg, "io_st_conv"), "%s", err.msg);
    cr_assert_eq(sc->ndim, 0);
    cr_assert_eq(sc->numel, 1);
    float v;
    cr_assert_eq(sd_st_read_f32(sc, &v, 1, &err), 0);
    cr_assert_eq(v, 2.5f);
    cr_assert_eq(em->numel, 0);
    cr_assert_eq(em->ndim, 2);
    cr_assert_eq(sd_st_read_i64(src, ids, src->numel, &err), SD_EFORMAT, "floats are not integers");
    cr_assert_str_eq(sd_st_meta(st, "format"), "pt");
    cr_assert_str_eq(sd_st_meta(st, "note"), "reference");
    cr_assert_null(sd_st_meta(st, "nope"));
    cr_assert_eq(sd_st_count(st), 11);
    sd_afree(x);
    sd_st_close(st);
    free(p);
}

Test(safetensors, sharded_folder_from_python) {
    char *dir = ref_path("io_st_sharded");
    sd_st *st;
    sd_err err = {0};
    cr_assert_eq(sd_st_open(&st, dir, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_st_count(st), 3);
    cr_assert_eq(sd_st_shard_count(st), 2);
    const sd_st_tensor *a = must_find(st, "layer.a"), *c = must_find(st, "head.c");
    cr_assert(strstr(c->file, "model-00002-of-00002.safetensors"));
    int64_t want_a[2] = {3, 4}, wrong[2] = {4, 3};
    cr_assert_eq(sd_st_check_shape(a, 2, want_a, &err), 0);
    cr_assert_eq(sd_st_check_shape(a, 2, wrong, &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, "shape [3, 4], expected [4, 3]") && strstr(err.msg, "layer.a"), "%s", err.msg);
    float *x = read_all(a);
    for (int i = 0; i < 12; i++) cr_assert_eq(x[i], (float)i);
    sd_afree(x);
    x = read_all(c);
    cr_assert(x[0] == 1.5f && x[1] == -2.0f);
    sd_afree(x);
    const cJSON *meta = sd_st_index_meta(st);
    cr_assert(meta && cJSON_GetObjectItem(meta, "total_size")->valuedouble == 76);
    cr_assert_null(sd_st_find(st, "missing"));
    sd_st_close(st);
    /* the index file itself opens the same set */
    char *idx = sd_path_join(dir, "model.safetensors.index.json");
    cr_assert_eq(sd_st_open(&st, idx, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_st_count(st), 3);
    sd_st_close(st);
    free(idx);
    free(dir);
}

static float test_value(sd_rng *r, int i) {
    static const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 65504.0f, 65520.0f, 1e-8f, 5.9604645e-8f,
                                    2.9802322e-8f, 3.4028235e38f, 1.0f + 0x1p-8f, 1.0f + 0x3p-9f};
    if (i < (int)(sizeof special / sizeof *special)) return special[i];
    if (i % 3 == 0) { uint32_t u = (uint32_t)sd_rng_u64(r); float f; memcpy(&f, &u, 4); return f; }
    return (float)(sd_rng_normal(r) * ldexp(1.0, (int)sd_rng_below(r, 50) - 30));
}

/* Writes a mixed file, reads it back in C (exact values) and has Python validate it. */
Test(safetensors, roundtrip_and_python_reads_it) {
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    char *path = sd_path_join(dir, "rt.safetensors");
    enum { N = 3000 };
    float *x = sd_afloats(N), ramp[20];
    sd_rng r;
    sd_rng_seed(&r, 11);
    for (int i = 0; i < N; i++) x[i] = test_value(&r, i);
    for (int i = 0; i < 20; i++) ramp[i] = i * 0.5f - 3;
    int64_t ids[3] = {7, -2, 1ll << 40};
    uint8_t flags[3] = {1, 0, 1};
    int64_t sx[1] = {N}, sr[2] = {4, 5}, s3[1] = {3};
    sd_st_writer *w = sd_st_writer_new();
    sd_err err = {0};
    cr_assert_eq(sd_st_writer_add_raw(w, "flags", SD_DT_U8, 1, s3, flags, &err), 0);
    cr_assert_eq(sd_st_writer_add_f32(w, "x.bf16", 1, sx, x, SD_DT_BF16, &err), 0);
    cr_assert_eq(sd_st_writer_add_f32(w, "x", 1, sx, x, SD_DT_F32, &err), 0);
    cr_assert_eq(sd_st_writer_add_f32(w, "x.f16", 1, sx, x, SD_DT_F16, &err), 0);
    cr_assert_eq(sd_st_writer_add_f32(w, "ramp", 2, sr, ramp, SD_DT_F32, &err), 0);
    cr_assert_eq(sd_st_writer_add_raw(w, "ids", SD_DT_I64, 1, s3, ids, &err), 0);
    cr_assert_eq(sd_st_writer_add_f32(w, "scalar", 0, NULL, ramp, SD_DT_F32, &err), 0);
    sd_st_writer_meta(w, "format", "pt");
    sd_st_writer_meta(w, "quote\"and\\slash\n", "value \"with\" escapes\t\x01");
    sd_st_writer_meta(w, "format", "pt");
    cr_assert_eq(sd_st_writer_add_f32(w, "x", 1, sx, x, SD_DT_F32, &err), SD_EUSAGE, "duplicate name");
    cr_assert(strstr(err.msg, "\"x\" added twice"), "%s", err.msg);
    cr_assert_eq(sd_st_writer_add_f32(w, "y", 1, sx, x, SD_DT_I32, &err), SD_EUSAGE);
    cr_assert_eq(sd_st_writer_add_f32(w, "__metadata__", 1, sx, x, SD_DT_F32, &err), SD_EUSAGE);
    cr_assert_eq(sd_st_writer_write(w, path, &err), 0, "%s", err.msg);
    sd_st_writer_free(w);

    sd_st *st;
    cr_assert_eq(sd_st_open(&st, path, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_st_count(st), 7);
    /* written in decreasing element size: every tensor aligned to its dtype */
    for (int i = 0; i < sd_st_count(st); i++) {
        const sd_st_tensor *t = sd_st_get(st, i);
        cr_assert_eq(t->offset % sd_dtype_size(t->dtype), 0, "%s misaligned", t->name);
    }
    float *y = read_all(must_find(st, "x")), *yb = read_all(must_find(st, "x.bf16")), *yh = read_all(must_find(st, "x.f16"));
    for (int i = 0; i < N; i++) {
        cr_assert(bits(y[i]) == bits(x[i]), "x[%d]", i);
        float eb = sd_bf16_to_f32(sd_f32_to_bf16(x[i])), eh = sd_f16_to_f32(sd_f32_to_f16(x[i]));
        cr_assert(isnan(x[i]) ? isnan(yb[i]) && isnan(yh[i]) : bits(yb[i]) == bits(eb) && bits(yh[i]) == bits(eh));
        /* |bf16 - x| <= 2^-8 |x| and |f16 - x| <= 2^-11 |x| in the F16 normal range (RNE half ulp) */
        if (isfinite(x[i]) && fabsf(x[i]) > 1e-30f && fabsf(x[i]) < 3e38f)
            cr_assert(fabsf(yb[i] - x[i]) <= ldexpf(fabsf(x[i]), -8), "%a vs %a", yb[i], x[i]);
        if (isfinite(x[i]) && fabsf(x[i]) > 6.2e-5f && fabsf(x[i]) < 65504.0f)
            cr_assert(fabsf(yh[i] - x[i]) <= ldexpf(fabsf(x[i]), -11), "%a vs %a", yh[i], x[i]);
    }
    int64_t got_ids[3];
    cr_assert_eq(sd_st_read_i64(must_find(st, "ids"), got_ids, 3, &err), 0);
    cr_assert(memcmp(got_ids, ids, sizeof ids) == 0);
    cr_assert_eq(sd_st_read_i64(must_find(st, "flags"), got_ids, 3, &err), 0);
    cr_assert(got_ids[0] == 1 && got_ids[1] == 0 && got_ids[2] == 1);
    cr_assert_str_eq(sd_st_meta(st, "quote\"and\\slash\n"), "value \"with\" escapes\t\x01");
    cr_assert_eq(sd_st_meta_count(st), 2);
    sd_afree(y); sd_afree(yb); sd_afree(yh);
    sd_st_close(st);
    py_check("--check", path);
    sd_afree(x);
    free(path);
}

Test(safetensors, sharded_writer) {
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    char *out = sd_path_join(dir, "model");
    enum { T = 7 };
    float *data[T];
    char names[T][32];
    sd_st_writer *w = sd_st_writer_new();
    sd_err err = {0};
    for (int t = 0; t < T; t++) {
        int64_t shape[2] = {t + 1, 10};
        data[t] = sd_afloats(10 * (t + 1));
        for (int i = 0; i < 10 * (t + 1); i++) data[t][i] = t * 100 + i + 0.25f;
        snprintf(names[t], sizeof names[t], "layers.%d.w", t);
        cr_assert_eq(sd_st_writer_add_f32(w, names[t], 2, shape, data[t], t % 2 ? SD_DT_BF16 : SD_DT_F32, &err), 0);
    }
    sd_st_writer_meta(w, "format", "pt");
    /* 160 bytes per shard; sizes 40,40 | 120 | 80 | 200 | 120 | 280: the big ones get their own */
    cr_assert_eq(sd_st_writer_write_sharded(w, out, "model", 160, &err), 0, "%s", err.msg);
    sd_st *st;
    cr_assert_eq(sd_st_open(&st, out, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_st_count(st), T);
    cr_assert_eq(sd_st_shard_count(st), 6);
    for (int t = 0; t < T; t++) {
        const sd_st_tensor *x = must_find(st, names[t]);
        float *y = read_all(x);
        for (int i = 0; i < 10 * (t + 1); i++)
            cr_assert_eq(y[i], t % 2 ? sd_bf16_to_f32(sd_f32_to_bf16(data[t][i])) : data[t][i]);
        sd_afree(y);
    }
    sd_st_close(st);
    char *idx = sd_path_join(out, "model.safetensors.index.json");
    py_check("--check-index", idx);
    /* rewriting as one file removes the index and the old shards */
    cr_assert_eq(sd_st_writer_write_sharded(w, out, "model", 1 << 20, &err), 0, "%s", err.msg);
    cr_assert(!sd_exists(idx));
    char *shard1 = sd_path_join(out, "model-00001-of-00006.safetensors");
    cr_assert(!sd_exists(shard1));
    cr_assert_eq(sd_st_open(&st, out, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_st_shard_count(st), 1);
    cr_assert_eq(sd_st_count(st), T);
    sd_st_close(st);
    for (int t = 0; t < T; t++) sd_afree(data[t]);
    sd_st_writer_free(w);
    free(shard1); free(idx); free(out);
}

/* A small valid file image in memory. */
static unsigned char *small_file(size_t *len) {
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    char *p = sd_path_join(dir, "small.safetensors");
    float a[6] = {1, 2, 3, 4, 5, 6};
    int64_t s[2] = {2, 3}, s1[1] = {2}, ids[2] = {5, 9};
    sd_st_writer *w = sd_st_writer_new();
    sd_st_writer_add_f32(w, "a", 2, s, a, SD_DT_F32, NULL);
    sd_st_writer_add_f32(w, "b", 2, s, a, SD_DT_BF16, NULL);
    sd_st_writer_add_raw(w, "ids", SD_DT_I64, 1, s1, ids, NULL);
    sd_st_writer_meta(w, "k", "v");
    sd_err err = {0};
    cr_assert_eq(sd_st_writer_write(w, p, &err), 0, "%s", err.msg);
    sd_st_writer_free(w);
    char *buf;
    cr_assert_eq(sd_read_file(p, &buf, len, &err), 0);
    free(p);
    return (unsigned char *)buf;
}

/* A parse either fails with a message or yields tensors that lie inside the buffer. */
static int parse_checked(const unsigned char *buf, size_t len) {
    sd_st *st;
    sd_err err = {0};
    int rc = sd_st_open_buffer(&st, buf, len, "fuzz.safetensors", &err);
    if (rc) {
        cr_assert(rc < 0 && err.msg[0], "error without a message");
        cr_assert(strstr(err.msg, "fuzz.safetensors"), "message does not name the file: %s", err.msg);
        return rc;
    }
    for (int i = 0; i < sd_st_count(st); i++) {
        const sd_st_tensor *t = sd_st_get(st, i);
        cr_assert(t->offset + t->nbytes <= len);
        cr_assert((const unsigned char *)t->data >= buf && (const unsigned char *)t->data + t->nbytes <= buf + len);
        float *x = sd_afloats(t->numel + 1);
        sd_st_read_f32(t, x, t->numel, &err);
        sd_afree(x);
    }
    sd_st_close(st);
    return 0;
}

Test(safetensors, truncated_at_every_length) {
    size_t len;
    unsigned char *buf = small_file(&len);
    cr_assert_eq(parse_checked(buf, len), 0);
    for (size_t n = 0; n < len; n++) {
        unsigned char *cut = sd_xmalloc(n + 1);
        memcpy(cut, buf, n);
        cr_assert_neq(parse_checked(cut, n), 0, "truncated to %zu of %zu bytes was accepted", n, len);
        free(cut);
    }
    free(buf);
}

Test(safetensors, random_header_corruption) {
    size_t len;
    unsigned char *buf = small_file(&len);
    uint64_t hlen;
    memcpy(&hlen, buf, 8);
    sd_rng r;
    sd_rng_seed(&r, 2024);
    unsigned char *copy = sd_xmalloc(len);
    int accepted = 0;
    for (int it = 0; it < 4000; it++) {
        memcpy(copy, buf, len);
        int flips = 1 + (int)sd_rng_below(&r, 3);
        for (int k = 0; k < flips; k++) {
            size_t pos = sd_rng_below(&r, 8 + hlen);
            /* half the time a random byte, else a structurally interesting one */
            static const char pick[] = "{}[]\":,0123456789-e. \\";
            copy[pos] = sd_rng_below(&r, 2) ? (unsigned char)sd_rng_below(&r, 256)
                                            : (unsigned char)pick[sd_rng_below(&r, sizeof pick - 1)];
        }
        accepted += parse_checked(copy, len) == 0;
    }
    cr_log_info("random header corruption: %d of 4000 still valid", accepted);
    free(copy);
    free(buf);
}

/* 8-byte length + header + data. */
static unsigned char *image(const char *header, size_t data_len, size_t *len) {
    size_t h = strlen(header);
    *len = 8 + h + data_len;
    unsigned char *b = sd_xcalloc(*len + 1, 1);
    uint64_t n = h;
    memcpy(b, &n, 8);
    memcpy(b + 8, header, h);
    return b;
}

static void expect_bad(const char *header, size_t data_len, const char *want) {
    size_t len;
    unsigned char *b = image(header, data_len, &len);
    sd_st *st;
    sd_err err = {0};
    int rc = sd_st_open_buffer(&st, b, len, "bad.safetensors", &err);
    cr_assert_neq(rc, 0, "accepted: %s", header);
    cr_assert(strstr(err.msg, "bad.safetensors"), "no file name: %s", err.msg);
    cr_assert(strstr(err.msg, want), "header %s\n  message: %s\n  expected: %s", header, err.msg, want);
    free(b);
}

Test(safetensors, hostile_headers) {
#define T1(extra) "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}" extra "}"
    expect_bad("[1,2]", 0, "header does not start with '{'");
    expect_bad(" {}", 0, "header does not start with '{'");
    expect_bad("{\"t\":", 0, "invalid JSON");
    expect_bad("{\"a\":1} x", 0, "invalid JSON near 'x'");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
               16, "\"t\" appears twice");
    expect_bad("{\"t\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor \"t\": \"dtype\" missing");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "tensor \"t\": \"shape\" missing");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "tensor \"t\": \"data_offsets\" missing");
    expect_bad("{\"t\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype \"F33\"");
    expect_bad("{\"t\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "\"dtype\" must be a string");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "shape[0] must be a non-negative integer");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, "shape[0] must be a non-negative integer");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[1,\"2\"],\"data_offsets\":[0,8]}}", 8, "shape[1] must be");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8, "\"shape\" must be an array");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,8]}}", 8,
               "shape product overflows");
    expect_bad("{\"t\":{\"dtype\":\"F64\",\"shape\":[4503599627370496,2048],\"data_offsets\":[0,8]}}", 8, "size overflows");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "9 dimensions");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "hold 8 bytes but F32 [3] needs 12");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", 8, "[begin, end]");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8, "[begin, end]");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "out of range");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "out of range");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"u\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
               12, "tensor \"u\": data_offsets overlap");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "gap of 4 bytes");
    expect_bad(T1(""), 12, "cover 8 of the 12 data bytes");
    expect_bad("{\"t\":[1,2]}", 0, "tensor \"t\": expected an object");
    expect_bad(T1(",\"__metadata__\":{\"a\":1}"), 8, "__metadata__ \"a\": value must be a string");
    expect_bad(T1(",\"__metadata__\":[]"), 8, "\"__metadata__\" must be an object");
    expect_bad("{\"t\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "not valid UTF-8");
    expect_bad("{\"t\xc0\xaf\":1}", 0, "not valid UTF-8"); /* overlong '/' */
    expect_bad("{\"\xed\xa0\x80\":1}", 0, "not valid UTF-8"); /* surrogate */

    /* lengths: absurd, past the end, too short for the length itself */
    size_t len;
    unsigned char *b = image("{}", 0, &len);
    uint64_t n = 200000000;
    memcpy(b, &n, 8);
    sd_st *st;
    sd_err err = {0};
    cr_assert_neq(sd_st_open_buffer(&st, b, len, "big.safetensors", &err), 0);
    cr_assert(strstr(err.msg, "exceeds the 100 MB limit"), "%s", err.msg);
    n = 3;
    memcpy(b, &n, 8);
    cr_assert_neq(sd_st_open_buffer(&st, b, len, "past.safetensors", &err), 0);
    cr_assert(strstr(err.msg, "runs past the end"), "%s", err.msg);
    cr_assert_neq(sd_st_open_buffer(&st, b, 5, "short.safetensors", &err), 0);
    cr_assert(strstr(err.msg, "too short"), "%s", err.msg);
    free(b);
    /* valid edge cases: empty header, zero-size tensors sharing an offset, scalars */
    b = image("{}", 0, &len);
    cr_assert_eq(sd_st_open_buffer(&st, b, len, "empty.safetensors", &err), 0, "%s", err.msg);
    cr_assert_eq(sd_st_count(st), 0);
    sd_st_close(st);
    free(b);
    b = image("{\"z\":{\"dtype\":\"BF16\",\"shape\":[0,3],\"data_offsets\":[4,4]},\"s\":{\"dtype\":\"F32\",\"shape\":[],"
              "\"data_offsets\":[0,4]},\"z2\":{\"dtype\":\"I8\",\"shape\":[0],\"data_offsets\":[4,4]}}   ", 4, &len);
    cr_assert_eq(sd_st_open_buffer(&st, b, len, "edge.safetensors", &err), 0, "%s", err.msg);
    cr_assert_eq(sd_st_count(st), 3);
    sd_st_close(st);
    free(b);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char *p = sd_path_join(dir, name);
    cr_assert_eq(sd_write_file_atomic(p, text, strlen(text), NULL), 0);
    free(p);
}

static void expect_bad_set(const char *dir, const char *want) {
    sd_st *st;
    sd_err err = {0};
    cr_assert_neq(sd_st_open(&st, dir, &err), 0, "accepted %s", dir);
    cr_assert(strstr(err.msg, want), "message: %s\nexpected: %s", err.msg, want);
}

Test(safetensors, hostile_index) {
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    float a[2] = {1, 2};
    int64_t s[1] = {2};
    sd_st_writer *w = sd_st_writer_new();
    sd_st_writer_add_f32(w, "a", 1, s, a, SD_DT_F32, NULL);
    char *p = sd_path_join(dir, "s1.safetensors");
    cr_assert_eq(sd_st_writer_write(w, p, NULL), 0);
    free(p);
    p = sd_path_join(dir, "s2.safetensors");
    cr_assert_eq(sd_st_writer_write(w, p, NULL), 0);
    free(p);
    sd_st_writer_free(w);
    const char *I = "model.safetensors.index.json";
    write_text(dir, I, "{\"weight_map\": {\"a\": \"s1.safetensors\",\n \"b\": }}");
    expect_bad_set(dir, "model.safetensors.index.json:2:7: invalid JSON");
    write_text(dir, I, "[]");
    expect_bad_set(dir, "expected a JSON object");
    write_text(dir, I, "{\"metadata\": {}}");
    expect_bad_set(dir, "\"weight_map\" missing");
    write_text(dir, I, "{\"weight_map\": {\"a\": 3}}");
    expect_bad_set(dir, "weight_map \"a\": expected a file name");
    write_text(dir, I, "{\"weight_map\": {\"a\": \"../s1.safetensors\"}}");
    expect_bad_set(dir, "not a relative path inside the folder");
    write_text(dir, I, "{\"weight_map\": {\"a\": \"/etc/passwd\"}}");
    expect_bad_set(dir, "not a relative path inside the folder");
    write_text(dir, I, "{\"weight_map\": {\"a\": \"missing.safetensors\"}}");
    expect_bad_set(dir, "missing.safetensors: cannot open");
    write_text(dir, I, "{\"weight_map\": {\"b\": \"s1.safetensors\"}}");
    expect_bad_set(dir, "tensor \"b\" not found in");
    write_text(dir, I, "{\"weight_map\": {\"a\": \"s1.safetensors\", \"b\": \"s2.safetensors\"}}");
    expect_bad_set(dir, "tensor \"a\" is also in");
    write_text(dir, I, "{\"weight_map\": {\"a\": \"s2.safetensors\"}, \"metadata\": {\"total_size\": 8}}");
    sd_st *st;
    sd_err err = {0};
    cr_assert_eq(sd_st_open(&st, dir, &err), 0, "%s", err.msg);
    cr_assert(strstr(sd_st_find(st, "a")->file, "s2.safetensors"));
    sd_st_close(st);
    /* a folder without the standard names and with two candidates is ambiguous */
    char *ip = sd_path_join(dir, I);
    unlink(ip);
    free(ip);
    expect_bad_set(dir, "cannot tell which to load");
    char empty[256];
    sd_test_tmpdir(empty, sizeof empty);
    expect_bad_set(empty, "no model.safetensors");
    char *nope = sd_path_join(empty, "nope.safetensors");
    expect_bad_set(nope, "nope.safetensors: cannot open");
    free(nope);
}
