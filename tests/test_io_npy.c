/* .npy: files numpy wrote (dtypes, versions, byte order), byte-identical writes, files numpy reads
 * back, and hostile input (truncation at every length, random header bytes, malformed headers). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/mem.h"
#include "base/rng.h"
#include "io/npy.h"
#include "test_util.h"

static char *npy_ref(const char *name) {
    char buf[256];
    snprintf(buf, sizeof buf, "io_npy/%s.npy", name);
    return sd_path_join(sd_test_ref(), buf);
}

static void open_ok(sd_npy *a, const char *name) {
    char *p = npy_ref(name);
    sd_err err = {0};
    cr_assert_eq(sd_npy_open(a, p, &err), 0, "%s", err.msg);
    free(p);
}

static void open_bad(const char *name, const char *want) {
    char *p = npy_ref(name);
    sd_npy a;
    sd_err err = {0};
    cr_assert_neq(sd_npy_open(&a, p, &err), 0, "%s accepted", name);
    cr_assert(strstr(err.msg, want) && strstr(err.msg, name), "message: %s\nexpected: %s", err.msg, want);
    free(p);
}

static float ramp(int i) { return i * 0.25f - 1; }

Test(npy, numpy_files) {
    const char *f32s[] = {"f32", "be_f4", "v2", "v3"};
    for (int k = 0; k < 4; k++) {
        sd_npy a;
        open_ok(&a, f32s[k]);
        cr_assert_eq(a.ndim, 2);
        cr_assert(a.shape[0] == 3 && a.shape[1] == 4);
        cr_assert_eq(a.dtype, SD_DT_F32);
        cr_assert_eq(a.swap, k == 1);
        cr_assert_eq(a.major, k < 2 ? 1 : k);
        float x[12];
        sd_err err = {0};
        cr_assert_eq(sd_npy_read_f32(&a, x, 12, &err), 0, "%s", err.msg);
        for (int i = 0; i < 12; i++) cr_assert_eq(x[i], ramp(i), "%s[%d]", f32s[k], i);
        cr_assert_eq(sd_npy_read_f32(&a, x, 11, &err), SD_EFORMAT);
        cr_assert_eq(sd_npy_read_i64(&a, (int64_t *)x, 12, &err), SD_EFORMAT, "floats are not ids");
        if (k == 0) cr_assert_eq((uintptr_t)a.data % 64, 0, "numpy aligns data to 64 bytes");
        sd_npy_close(&a);
    }
    sd_npy a, b;
    float h[10], hw[10];
    sd_err err = {0};
    open_ok(&a, "f16");
    open_ok(&b, "f16_as_f32");
    cr_assert_eq(a.dtype, SD_DT_F16);
    cr_assert_eq(sd_npy_read_f32(&a, h, 10, &err), 0);
    cr_assert_eq(sd_npy_read_f32(&b, hw, 10, &err), 0);
    cr_assert(memcmp(h, hw, sizeof h) == 0, "F16 widening equals numpy's");
    sd_npy_close(&a);
    sd_npy_close(&b);
    open_ok(&a, "f64");
    float f[5];
    cr_assert_eq(sd_npy_read_f32(&a, f, 5, &err), 0);
    for (int i = 0; i < 5; i++) cr_assert_eq(f[i], (float)(i / 3.0));
    sd_npy_close(&a);
    struct { const char *name; int n; int64_t want[4]; } ints[] = {
        {"i32", 4, {1, -2, 3, 2147483647}}, {"i64", 3, {0, -1, 1ll << 40}}, {"u8", 3, {0, 255, 7}},
        {"bool", 3, {1, 0, 1}}, {"be_i8", 2, {5, -6}}};
    for (int k = 0; k < 5; k++) {
        int64_t got[4];
        open_ok(&a, ints[k].name);
        cr_assert_eq(a.numel, (size_t)ints[k].n);
        cr_assert_eq(sd_npy_read_i64(&a, got, ints[k].n, &err), 0, "%s", err.msg);
        for (int i = 0; i < ints[k].n; i++) cr_assert_eq(got[i], ints[k].want[i], "%s[%d]", ints[k].name, i);
        sd_npy_close(&a);
    }
    open_ok(&a, "scalar");
    cr_assert_eq(a.ndim, 0);
    cr_assert_eq(sd_npy_read_f32(&a, f, 1, &err), 0);
    cr_assert_eq(f[0], 3.5f);
    sd_npy_close(&a);
    open_ok(&a, "empty");
    cr_assert(a.ndim == 2 && a.shape[0] == 0 && a.shape[1] == 5 && a.numel == 0);
    sd_npy_close(&a);
    open_bad("fortran", "Fortran-order arrays are not supported");
    open_bad("structured", "structured dtypes are not supported");
    open_bad("complex", "unsupported dtype '<c8'");

    float *x;
    int nd;
    int64_t shape[SD_NPY_MAX_DIMS];
    char *p = npy_ref("f32");
    cr_assert_eq(sd_npy_load_f32(p, 2, &x, &nd, shape, &err), 0, "%s", err.msg);
    cr_assert(nd == 2 && shape[0] == 3 && x[11] == ramp(11));
    sd_afree(x);
    cr_assert_eq(sd_npy_load_f32(p, 1, &x, &nd, shape, &err), SD_EFORMAT);
    cr_assert(strstr(err.msg, "2 dimensions, expected 1"), "%s", err.msg);
    free(p);
}

static unsigned char *slurp(const char *path, size_t *len) {
    char *b;
    sd_err err = {0};
    cr_assert_eq(sd_read_file(path, &b, len, &err), 0, "%s", err.msg);
    return (unsigned char *)b;
}

static void same_bytes(const char *mine, const char *ref_name) {
    char *r = npy_ref(ref_name);
    size_t a, b;
    unsigned char *x = slurp(mine, &a), *y = slurp(r, &b);
    cr_assert(a == b && memcmp(x, y, a) == 0, "%s differs from numpy's %s (%zu vs %zu bytes)", mine, r, a, b);
    free(x); free(y); free(r);
}

Test(npy, writer_matches_numpy_bytes) {
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    float r[12], s = 3.5f;
    for (int i = 0; i < 12; i++) r[i] = ramp(i);
    int64_t ids[3] = {0, -1, 1ll << 40};
    uint16_t half[10];
    uint8_t u8[24];
    for (int i = 0; i < 24; i++) u8[i] = (uint8_t)i;
    char *hp = npy_ref("f16");
    sd_npy h;
    sd_err err = {0};
    cr_assert_eq(sd_npy_open(&h, hp, &err), 0);
    memcpy(half, h.data, sizeof half);
    sd_npy_close(&h);
    free(hp);
    struct { const char *name; sd_dtype t; const void *data; int nd; int64_t shape[3]; } cases[] = {
        {"w_2d", SD_DT_F32, r, 2, {3, 4}},     {"w_1d", SD_DT_F32, r, 1, {7}},
        {"w_0d", SD_DT_F32, &s, 0, {0}},       {"w_big", SD_DT_F32, NULL, 2, {123456789012ll, 0}},
        {"w_i64", SD_DT_I64, ids, 1, {3}},     {"w_f16", SD_DT_F16, half, 1, {10}},
        {"w_u8_3d", SD_DT_U8, u8, 3, {2, 3, 4}}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s.npy", cases[k].name);
        char *p = sd_path_join(dir, name);
        cr_assert_eq(sd_npy_write(p, cases[k].t, cases[k].data, cases[k].nd, cases[k].shape, &err), 0, "%s", err.msg);
        same_bytes(p, cases[k].name);
        free(p);
    }
    cr_assert_eq(sd_npy_write(dir, SD_DT_BF16, r, 1, cases[0].shape, &err), SD_EUSAGE, "numpy has no bfloat16");
    /* numpy reads what we wrote */
    char tests[2048], cmd[4096];
    snprintf(tests, sizeof tests, "%s", sd_test_fixtures());
    char *slash = strrchr(tests, '/');
    if (slash) *slash = 0; else snprintf(tests, sizeof tests, "tests");
    const char *names[] = {"ramp.npy", "ids.npy"};
    int64_t shape[2] = {3, 4}, n3 = 3;
    for (int k = 0; k < 2; k++) {
        char *p = sd_path_join(dir, names[k]);
        cr_assert_eq(k ? sd_npy_write(p, SD_DT_I64, ids, 1, &n3, &err) : sd_npy_write_f32(p, r, 2, shape, &err), 0);
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/ref/io_npy.py --check %s", tests, p);
        char *out;
        cr_assert_eq(sd_test_run(cmd, &out), 0, "%s", out);
        free(out);
        free(p);
    }
}

static int parse_checked(const unsigned char *b, size_t len) {
    sd_npy a;
    sd_err err = {0};
    int rc = sd_npy_parse(&a, b, len, "fuzz.npy", &err);
    if (rc) {
        cr_assert(strstr(err.msg, "fuzz.npy"), "message does not name the file: %s", err.msg);
        return rc;
    }
    cr_assert((const unsigned char *)a.data + a.nbytes <= b + len);
    if (sd_dtype_is_float(a.dtype) || sd_dtype_is_int(a.dtype)) {
        float *x = sd_afloats(a.numel + 1);
        cr_assert_eq(sd_npy_read_f32(&a, x, a.numel, &err), 0, "%s", err.msg);
        sd_afree(x);
    }
    sd_npy_close(&a);
    return 0;
}

Test(npy, truncation_and_random_headers) {
    const char *names[] = {"f32", "v2", "be_f4", "scalar"};
    sd_rng r;
    sd_rng_seed(&r, 99);
    int accepted = 0;
    for (int k = 0; k < 4; k++) {
        char *p = npy_ref(names[k]);
        size_t len;
        unsigned char *b = slurp(p, &len);
        cr_assert_eq(parse_checked(b, len), 0);
        for (size_t n = 0; n < len; n++) {
            unsigned char *cut = sd_xmalloc(n + 1);
            memcpy(cut, b, n);
            cr_assert_neq(parse_checked(cut, n), 0, "%s cut to %zu bytes accepted", names[k], n);
            free(cut);
        }
        /* random bytes in the header (data bytes are free-form) */
        unsigned char *copy = sd_xmalloc(len);
        size_t hdr = 64 < len ? 64 : len;
        for (int it = 0; it < 1000; it++) {
            memcpy(copy, b, len);
            for (int f = 0, nf = 1 + (int)sd_rng_below(&r, 3); f < nf; f++) {
                static const char pick[] = "{}()',:<>|=fiub0123456789 TrueFalse";
                copy[sd_rng_below(&r, hdr)] = sd_rng_below(&r, 2) ? (unsigned char)sd_rng_below(&r, 256)
                                                                   : (unsigned char)pick[sd_rng_below(&r, sizeof pick - 1)];
            }
            accepted += parse_checked(copy, len) == 0;
        }
        free(copy);
        free(b);
        free(p);
    }
    cr_log_info("npy random header corruption: %d of 4000 still valid", accepted);
}

static void expect_bad_header(const char *dict, size_t data_len, const char *want) {
    size_t hl = strlen(dict);
    size_t len = 10 + hl + data_len;
    unsigned char *b = sd_xcalloc(len + 1, 1);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = hl & 0xff;
    b[9] = (unsigned char)(hl >> 8);
    memcpy(b + 10, dict, hl);
    sd_npy a;
    sd_err err = {0};
    cr_assert_neq(sd_npy_parse(&a, b, len, "bad.npy", &err), 0, "accepted %s", dict);
    cr_assert(strstr(err.msg, "bad.npy") && strstr(err.msg, want), "header %s\nmessage: %s\nexpected: %s", dict, err.msg, want);
    free(b);
}

Test(npy, hostile_headers) {
    expect_bad_header("{'descr': '<f4', 'fortran_order': False, }", 4, "key 'shape' missing");
    expect_bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", 4, "unexpected key 'x'");
    expect_bad_header("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 4, "repeated");
    expect_bad_header("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,)}", 4, "True or False");
    expect_bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", 4, "non-negative integers");
    expect_bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': [1]}", 4, "expected '('");
    expect_bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1 2)}", 4, "expected ',' or ')'");
    expect_bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", 4, "too large");
    expect_bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", 4, "overflows");
    expect_bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1)}", 4, "more than 8");
    expect_bad_header("{'descr': '<f3', 'fortran_order': False, 'shape': (1,)}", 4, "unsupported dtype '<f3'");
    expect_bad_header("{'descr': 'f4', 'fortran_order': False, 'shape': (1,)}", 4, "unsupported dtype 'f4'");
    expect_bad_header("{'descr': '<U4', 'fortran_order': False, 'shape': (1,)}", 16, "unsupported dtype");
    expect_bad_header("{'descr': 'O', 'fortran_order': False, 'shape': (1,)}", 8, "unsupported dtype 'O'");
    expect_bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 4, "truncated file");
    expect_bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 8, "trailing bytes");
    expect_bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} junk", 4, "unexpected text");
    expect_bad_header("{'descr: '<f4'}", 4, "expected ':'");
    expect_bad_header("", 0, "expected '{'");
    unsigned char b[16] = "\x93NUMPY\x09\x00";
    sd_npy a;
    sd_err err = {0};
    cr_assert_neq(sd_npy_parse(&a, b, 16, "v9.npy", &err), 0);
    cr_assert(strstr(err.msg, "version 9.0"), "%s", err.msg);
    cr_assert_neq(sd_npy_parse(&a, "PK\x03\x04zipfile!", 14, "x.npz", &err), 0);
    cr_assert(strstr(err.msg, "not a .npy file"), "%s", err.msg);
    unsigned char big[16] = "\x93NUMPY\x02\x00\xff\xff\xff\x00";
    cr_assert_neq(sd_npy_parse(&a, big, 16, "big.npy", &err), 0);
    cr_assert(strstr(err.msg, "over the 1 MB limit"), "%s", err.msg);
    unsigned char past[16] = "\x93NUMPY\x01\x00\xff\x00";
    cr_assert_neq(sd_npy_parse(&a, past, 16, "past.npy", &err), 0);
    cr_assert(strstr(err.msg, "runs past the end"), "%s", err.msg);
    cr_assert_neq(sd_npy_open(&a, "/nonexistent/x.npy", &err), 0);
    cr_assert(strstr(err.msg, "/nonexistent/x.npy: cannot open"), "%s", err.msg);
}
