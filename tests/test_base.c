#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>
#include "cmd/cli.h"
#include "base/file.h"
#include "base/mem.h"
#include "base/rng.h"
#include "test_util.h"

Test(rng, deterministic_and_uniform) {
    sd_rng a, b;
    sd_rng_seed(&a, 7);
    sd_rng_seed(&b, 7);
    for (int i = 0; i < 100; i++) cr_assert_eq(sd_rng_u64(&a), sd_rng_u64(&b));
    int counts[10] = {0};
    for (int i = 0; i < 100000; i++) counts[sd_rng_below(&a, 10)]++;
    for (int i = 0; i < 10; i++) cr_assert(counts[i] > 9500 && counts[i] < 10500, "bucket %d: %d", i, counts[i]);
    double s = 0, s2 = 0;
    for (int i = 0; i < 100000; i++) { double x = sd_rng_normal(&a); s += x; s2 += x * x; }
    cr_assert(fabs(s / 100000) < 0.02 && fabs(s2 / 100000 - 1) < 0.02);
    sd_rng c, d;
    sd_rng_stream(&c, 7, 1);
    sd_rng_stream(&d, 7, 2);
    cr_assert_neq(sd_rng_u64(&c), sd_rng_u64(&d));
}

static void write_gz(const char *path, const char *data, size_t n) {
    gzFile g = gzopen(path, "wb");
    gzwrite(g, data, (unsigned)n);
    gzclose(g);
}

static int read_all_lines(const char *path, char out[][64], int max, sd_err *err) {
    sd_lines *r;
    int rc = sd_lines_open(&r, path, err);
    if (rc) return rc;
    char *line; size_t len; int n = 0;
    while ((rc = sd_lines_next(r, &line, &len, err)) == 1 && n < max) snprintf(out[n++], 64, "%s", line);
    sd_lines_close(r);
    return rc < 0 ? rc : n;
}

Test(file, lines_plain_gz_bom_crlf) {
    char dir[256]; sd_test_tmpdir(dir, sizeof dir);
    char *p = sd_path_join(dir, "a.txt"), *g = sd_path_join(dir, "a.txt.gz");
    const char *text = "\xEF\xBB\xBFone\r\ntwo\n\nlast";
    sd_write_file_atomic(p, text, strlen(text), NULL);
    write_gz(g, text, strlen(text));
    char lines[8][64];
    sd_err err = {0};
    for (int k = 0; k < 2; k++) {
        int n = read_all_lines(k ? g : p, lines, 8, &err);
        cr_assert_eq(n, 4, "%s", err.msg);
        cr_assert_str_eq(lines[0], "one");
        cr_assert_str_eq(lines[1], "two");
        cr_assert_str_eq(lines[2], "");
        cr_assert_str_eq(lines[3], "last");
    }
    free(p); free(g);
}

Test(file, truncated_gzip_is_an_error) {
    char dir[256]; sd_test_tmpdir(dir, sizeof dir);
    char *g = sd_path_join(dir, "t.gz");
    char big[20000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (i % 61 == 60) ? '\n' : 'a' + (i * 7919 % 26);
    write_gz(g, big, sizeof big);
    char *data; size_t len; sd_err err = {0};
    cr_assert_eq(sd_read_file(g, &data, &len, &err), 0);
    free(data);
    int64_t sz = sd_file_size(g);
    cr_assert(truncate(g, sz / 2) == 0);
    char lines[400][64];
    int n = read_all_lines(g, lines, 400, &err);
    cr_assert_lt(n, 0, "truncated gzip read as %d lines", n);
    cr_assert(strstr(err.msg, "t.gz"), "message names the file: %s", err.msg);
    free(g);
}

Test(file, atomic_dir_replaces_whole) {
    char dir[256]; sd_test_tmpdir(dir, sizeof dir);
    char *w = sd_path_join(dir, "work"), *tmp;
    sd_err err = {0};
    cr_assert_eq(sd_dir_begin(w, &tmp, &err), 0);
    char *f = sd_path_join(tmp, "x");
    sd_write_file_atomic(f, "1", 1, &err);
    cr_assert(!sd_exists(w));
    cr_assert_eq(sd_dir_commit(tmp, w, &err), 0);
    cr_assert(sd_is_dir(w) && !sd_exists(tmp));
    free(f); free(tmp); free(w);
}

Test(cli, parses_and_rejects) {
    int n = 0; const char *s = NULL; bool flag = false; float x = 0;
    sd_opt opts[] = {{"n", SD_OPT_INT, &n, "N", "count"}, {"name", SD_OPT_STR, &s, "S", "name"},
                     {"flag", SD_OPT_FLAG, &flag, NULL, "flag"}, {"x", SD_OPT_FLOAT, &x, NULL, "x"}, {0}};
    sd_usage u = {"t WORK", NULL, 1, 1};
    char *argv[] = {"t", "--n", "5", "--name=bob", "--flag", "W", "--x", "0.5", NULL};
    char **pos; int npos; sd_err err = {0};
    cr_assert_eq(sd_parse(&u, opts, 8, argv, &pos, &npos, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 5); cr_assert_str_eq(s, "bob"); cr_assert(flag); cr_assert_float_eq(x, 0.5f, 1e-6);
    cr_assert_eq(npos, 1); cr_assert_str_eq(pos[0], "W");
    free(pos);
    char *bad[] = {"t", "W", "--n", "five", NULL};
    cr_assert_eq(sd_parse(&u, opts, 4, bad, &pos, &npos, &err), SD_EUSAGE);
    cr_assert(strstr(err.msg, "--n"));
    char *unk[] = {"t", "W", "--nope", NULL};
    cr_assert_eq(sd_parse(&u, opts, 3, unk, &pos, &npos, &err), SD_EUSAGE);
    char *missing[] = {"t", NULL};
    cr_assert_eq(sd_parse(&u, opts, 1, missing, &pos, &npos, &err), SD_EUSAGE);
}
