#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "ids/embfile.h"
#include "ids_fixture.h"
#include "test_util.h"

static char *ref(const char *name) { return sd_path_join(sd_test_ref(), name); }

Test(ids_npy, reads_numpy_files) {
    const char *names[] = {"ids_f4.npy", "ids_f2.npy"};
    for (int f = 0; f < 2; f++) {
        char *p = ref(names[f]);
        float *x;
        int64_t n, d;
        sd_err err = {0};
        cr_assert_eq(sd_embfile_read_npy(p, &x, &n, &d, &err), 0, "%s", err.msg);
        cr_assert_eq(n, 3);
        cr_assert_eq(d, 4);
        /* (i - 5) / 4 is exact in float16 and float32 */
        for (int i = 0; i < 12; i++) cr_assert_float_eq(x[i], (i - 5) * 0.25f, 0, "%s[%d] = %g", names[f], i, x[i]);
        free(x);
        free(p);
    }
}

Test(ids_npy, write_read_round_trip) {
    char dir[256]; sd_test_tmpdir(dir, sizeof dir);
    char *p = sd_path_join(dir, "e.npy");
    float x[6] = {1, -2, 3.5f, 1e-30f, -0.0f, 7};
    sd_err err = {0};
    cr_assert_eq(sd_embfile_write_npy(p, x, 2, 3, &err), 0, "%s", err.msg);
    /* header is a multiple of 64 bytes and says what numpy expects */
    char *data; size_t len;
    cr_assert_eq(sd_read_file(p, &data, &len, NULL), 0);
    cr_assert_eq((len - 24) % 64, 0);
    cr_assert(strstr(data + 10, "'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
    cr_assert_eq(data[len - 24 - 1], '\n');
    free(data);
    float *y; int64_t n, d;
    cr_assert_eq(sd_embfile_read_npy(p, &y, &n, &d, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 2); cr_assert_eq(d, 3);
    cr_assert_eq(memcmp(x, y, sizeof x), 0);
    free(y);
    free(p);
}

static void expect_error(const char *path, const char *needle) {
    float *x = NULL; int64_t n, d;
    sd_err err = {0};
    cr_assert_lt(sd_embfile_read_npy(path, &x, &n, &d, &err), 0, "%s read without error", path);
    cr_assert_null(x);
    cr_assert(strstr(err.msg, needle), "message \"%s\" lacks \"%s\"", err.msg, needle);
    cr_assert(strstr(err.msg, path), "message \"%s\" does not name the file", err.msg);
}

Test(ids_npy, bad_files) {
    char *p;
    expect_error(p = ref("ids_f8.npy"), "'<f8'"); free(p);
    expect_error(p = ref("ids_fortran.npy"), "fortran_order"); free(p);
    expect_error(p = ref("ids_3d.npy"), "3 dimensions"); free(p);
    char dir[256]; sd_test_tmpdir(dir, sizeof dir);
    p = sd_path_join(dir, "bad.npy");
    cr_assert_eq(sd_write_file_atomic(p, "hello world, not numpy", 22, NULL), 0);
    expect_error(p, "bad magic");
    /* NaN in row 1, Inf in row 2 */
    float x[6] = {0, 1, NAN, 3, 4, 5};
    cr_assert_eq(sd_embfile_write_npy(p, x, 3, 2, NULL), 0);
    expect_error(p, "row 1 (column 0) is NaN");
    x[2] = 0; x[5] = INFINITY;
    cr_assert_eq(sd_embfile_write_npy(p, x, 3, 2, NULL), 0);
    expect_error(p, "row 2 (column 1) is Inf");
    /* truncated data */
    x[5] = 1;
    cr_assert_eq(sd_embfile_write_npy(p, x, 3, 2, NULL), 0);
    char *data; size_t len;
    cr_assert_eq(sd_read_file(p, &data, &len, NULL), 0);
    cr_assert_eq(sd_write_file_atomic(p, data, len - 3, NULL), 0);
    expect_error(p, "truncated");
    /* header cut short */
    cr_assert_eq(sd_write_file_atomic(p, data, 30, NULL), 0);
    expect_error(p, "truncated .npy header");
    free(data);
    expect_error("/nonexistent/e.npy", "cannot open");
    free(p);
}

Test(ids_npy, reorder_by_ids) {
    sd_catalog *c = ids_fixture_catalog(3, 1); /* ids B000000 .. B000002 */
    char dir[256]; sd_test_tmpdir(dir, sizeof dir);
    char *ids = sd_path_join(dir, "ids.txt");
    float *x = malloc(sizeof(float) * 6);
    float v[6] = {2, 2, 0, 0, 1, 1}; /* rows for items 2, 0, 1 */
    memcpy(x, v, sizeof v);
    const char *text = "B000002\nB000000\nB000001\n";
    cr_assert_eq(sd_write_file_atomic(ids, text, strlen(text), NULL), 0);
    sd_err err = {0};
    cr_assert_eq(sd_embfile_reorder_by_ids(&x, 3, 2, ids, c, &err), 0, "%s", err.msg);
    for (int i = 0; i < 3; i++) cr_assert_float_eq(x[i * 2], (float)i, 0);
    const char *bad[] = {"B000002\nB000000\n", "B000002\nB000000\nB000000\n", "B000002\nNOPE\nB000001\n",
                         "B000002\nB000000\nB000001\nB000001\n"};
    const char *needle[] = {"2 ids but the .npy has 3 rows", ":3: id \"B000000\" repeats", ":2: id \"NOPE\" is not in the catalogue",
                            ":4: more ids than the 3 rows"};
    for (int b = 0; b < 4; b++) {
        cr_assert_eq(sd_write_file_atomic(ids, bad[b], strlen(bad[b]), NULL), 0);
        cr_assert_lt(sd_embfile_reorder_by_ids(&x, 3, 2, ids, c, &err), 0);
        cr_assert(strstr(err.msg, needle[b]), "case %d: %s", b, err.msg);
    }
    free(x);
    free(ids);
    sd_catalog_free(c);
}
