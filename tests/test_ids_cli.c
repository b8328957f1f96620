#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "ids/embfile.h"
#include "ids/sid_table.h"
#include "ids/sid_trie.h"
#include "ids_fixture.h"
#include "test_util.h"

static int run(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(char **out, const char *fmt, ...) {
    char args[2048], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "OMP_WAIT_POLICY=passive %s %s --quiet", sd_test_bin(), args);
    return sd_test_run(cmd, out);
}

static char *file_of(const char *dir, const char *name) { return sd_path_join(dir, name); }

/* No temp or staged file may remain in the work directory after a command. */
static void assert_no_leftovers(const char *dir) {
    DIR *d = opendir(dir);
    cr_assert(d);
    struct dirent *e;
    while ((e = readdir(d)))
        cr_assert(!strstr(e->d_name, ".tmp.") && !strstr(e->d_name, ".new."), "leftover %s", e->d_name);
    closedir(d);
}

Test(ids_cli, embed_ids_end_to_end, .timeout = 120) {
    char dir[256]; sd_test_tmpdir(dir, sizeof dir);
    char *w = file_of(dir, "work"), *out;
    ids_make_work(w, 800, 3);
    cr_assert_eq(run(&out, "embed %s --dim 24", w), 0, "%s", out);
    free(out);
    char *emb = file_of(w, "emb.npy");
    float *x; int64_t n, d;
    sd_err err = {0};
    cr_assert_eq(sd_embfile_read_npy(emb, &x, &n, &d, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 800); cr_assert_eq(d, 24);
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < d; j++) s += x[i * d + j] * (double)x[i * d + j];
        cr_assert_float_eq(s, 1.0, 1e-4, "row %d is not unit length", i);
    }
    free(x);
    cr_assert_eq(run(&out, "ids %s --levels 3 --codes 16 --balanced", w), 0, "%s", out);
    cr_assert(!strstr(out, "unique prefixes"), "--quiet prints no report:\n%s", out);
    free(out);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s ids %s --levels 3 --codes 16 --balanced", sd_test_bin(), w);
    cr_assert_eq(sd_test_run(cmd, &out), 0, "%s", out);
    cr_assert(strstr(out, "unique prefixes"), "%s", out);
    free(out);
    sd_work wk;
    cr_assert_eq(sd_work_load(&wk, w, &err), 0, "%s", err.msg);
    char *tsv = file_of(w, "sids.tsv"), *bin = file_of(w, "sids.bin"), *rep = file_of(w, "ids_report.json");
    sd_sid_table a, b;
    cr_assert_eq(sd_sid_table_read_tsv(&a, tsv, wk.cat, 16, 3, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_sid_table_load(&b, bin, &err), 0, "%s", err.msg);
    cr_assert_eq(b.n_codes, a.n_codes);
    cr_assert_eq(memcmp(a.codes, b.codes, sizeof(int32_t) * a.n_items * a.n_codes), 0);
    sd_sid_trie tr;
    cr_assert_eq(sd_sid_trie_build(&tr, &b, &err), 0, "%s", err.msg);
    sd_sid_trie_free(&tr);
    /* report: keys present, first-level codes beat random assignment on platform */
    char *js; size_t len;
    cr_assert_eq(sd_read_file(rep, &js, &len, NULL), 0);
    cJSON *r = cJSON_Parse(js);
    cr_assert(r);
    const cJSON *pl = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "first_level_purity"), "platform");
    cr_assert(pl, "%s", js);
    cr_assert_gt(cJSON_GetObjectItem(pl, "purity")->valuedouble, cJSON_GetObjectItem(pl, "random_same_sizes")->valuedouble + 0.2);
    cr_assert(cJSON_GetObjectItem(r, "recon_mse"));
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r, "per_level")), a.n_codes);
    cJSON_Delete(r);
    free(js);
    /* same seed, same bytes */
    char *bin1; size_t len1;
    cr_assert_eq(sd_read_file(bin, &bin1, &len1, NULL), 0);
    cr_assert_eq(run(&out, "ids %s --levels 3 --codes 16 --balanced", w), 0, "%s", out);
    free(out);
    char *bin2; size_t len2;
    cr_assert_eq(sd_read_file(bin, &bin2, &len2, NULL), 0);
    cr_assert_eq(len1, len2);
    cr_assert_eq(memcmp(bin1, bin2, len1), 0);
    free(bin1); free(bin2);
    /* a failing run (collision overflow) leaves the previous outputs untouched */
    cr_assert_eq(sd_read_file(tsv, &bin1, &len1, NULL), 0);
    int rc = run(&out, "ids %s --levels 1 --codes 4", w);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "share the codes") && strstr(out, "--max-collision"), "%s", out);
    free(out);
    cr_assert_eq(sd_read_file(tsv, &bin2, &len2, NULL), 0);
    cr_assert_eq(len1, len2);
    cr_assert_eq(memcmp(bin1, bin2, len1), 0);
    free(bin1); free(bin2);
    assert_no_leftovers(w);
    /* extend-level resolves the same overflow */
    cr_assert_eq(run(&out, "ids %s --levels 1 --codes 4 --max-collision extend-level", w), 0, "%s", out);
    free(out);
    sd_sid_table_free(&b);
    cr_assert_eq(sd_sid_table_load(&b, bin, &err), 0, "%s", err.msg);
    cr_assert_eq(b.levels, 1);
    cr_assert_gt(b.n_codes, 2);
    sd_sid_table_free(&a); sd_sid_table_free(&b);
    sd_work_free(&wk);
    free(tsv); free(bin); free(rep); free(emb); free(w);
}

Test(ids_cli, npy_import, .timeout = 60) {
    char dir[256]; sd_test_tmpdir(dir, sizeof dir);
    char *w = file_of(dir, "work"), *out, *src = file_of(dir, "v.npy"), *ids = file_of(dir, "ids.txt");
    ids_make_work(w, 40, 5);
    float x[40 * 3];
    for (int i = 0; i < 40 * 3; i++) x[i] = (float)(i / 3) + 0.5f;
    cr_assert_eq(sd_embfile_write_npy(src, x, 40, 3, NULL), 0);
    cr_assert_eq(run(&out, "embed %s --npy %s", w, src), 0, "%s", out);
    free(out);
    char *emb = file_of(w, "emb.npy"), *e1, *e2;
    size_t l1, l2;
    cr_assert_eq(sd_read_file(emb, &e1, &l1, NULL), 0);
    /* wrong row count */
    cr_assert_eq(sd_embfile_write_npy(src, x, 39, 3, NULL), 0);
    cr_assert_eq(run(&out, "embed %s --npy %s", w, src), 1);
    cr_assert(strstr(out, "39 rows") && strstr(out, src), "%s", out);
    free(out);
    /* NaN row */
    x[3 * 7 + 1] = NAN;
    cr_assert_eq(sd_embfile_write_npy(src, x, 40, 3, NULL), 0);
    cr_assert_eq(run(&out, "embed %s --npy %s", w, src), 1);
    cr_assert(strstr(out, "row 7 (column 1) is NaN"), "%s", out);
    free(out);
    /* unreadable and non-npy files */
    cr_assert_eq(run(&out, "embed %s --npy %s/none.npy", w, dir), 1);
    cr_assert(strstr(out, "none.npy: cannot open"), "%s", out);
    free(out);
    cr_assert_eq(run(&out, "embed %s --npy %s/items.jsonl", w, w), 1);
    cr_assert(strstr(out, "magic"), "%s", out);
    free(out);
    /* emb.npy survived all failures unchanged */
    cr_assert_eq(sd_read_file(emb, &e2, &l2, NULL), 0);
    cr_assert_eq(l1, l2);
    cr_assert_eq(memcmp(e1, e2, l1), 0);
    free(e2);
    assert_no_leftovers(w);
    /* --ids: rows in reverse order */
    FILE *f = fopen(ids, "w");
    for (int i = 39; i >= 0; i--) fprintf(f, "B%06d\n", i);
    fclose(f);
    x[3 * 7 + 1] = 7.5f;
    float rev[40 * 3];
    for (int i = 0; i < 40; i++) memcpy(rev + i * 3, x + (39 - i) * 3, sizeof(float) * 3);
    cr_assert_eq(sd_embfile_write_npy(src, rev, 40, 3, NULL), 0);
    cr_assert_eq(run(&out, "embed %s --npy %s --ids %s", w, src, ids), 0, "%s", out);
    free(out);
    cr_assert_eq(sd_read_file(emb, &e2, &l2, NULL), 0);
    cr_assert_eq(memcmp(e1, e2, l1), 0);
    free(e1); free(e2);
    free(emb); free(w); free(src); free(ids);
}

Test(ids_cli, bad_input, .timeout = 60) {
    char dir[256]; sd_test_tmpdir(dir, sizeof dir);
    char *w = file_of(dir, "work"), *out;
    ids_make_work(w, 30, 6);
    struct { const char *args, *needle; int rc; } cases[] = {
        {"ids", "missing argument", 2},
        {"embed", "missing argument", 2},
        {"ids %s/nowhere", "not a work directory", 1},
        {"ids %s/work --levels 0", "--levels must be 1..16", 2},
        {"ids %s/work --codes 1", "--codes must be 2..65536", 2},
        {"ids %s/work --codes x", "expected an integer", 2},
        {"ids %s/work --method nope", "available: rqkmeans", 2},
        {"ids %s/work --max-collision wrap", "error or extend-level", 2},
        {"ids %s/work", "emb.npy: missing; run `semid embed", 1},
        {"ids %s/work --emb %s/none.npy", "none.npy: cannot open", 1},
        {"embed %s/work --dim 0", "--dim must be >= 1", 2},
        {"embed %s/work --method bert", "unknown --method", 2},
        {"embed %s/work --ids x.txt", "--ids needs --npy", 2},
        {"embed %s/work --min-df 1000", "no term occurs in at least 1000 items", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char args[1024];
        snprintf(args, sizeof args, cases[i].args, dir, dir);
        int rc = run(&out, "%s", args);
        cr_assert_eq(rc, cases[i].rc, "`%s`: rc %d: %s", args, rc, out);
        cr_assert(strstr(out, cases[i].needle), "`%s`: %s", args, out);
        free(out);
    }
    /* --codes beyond the item count */
    cr_assert_eq(run(&out, "embed %s --dim 8", w), 0, "%s", out);
    free(out);
    cr_assert_eq(run(&out, "ids %s --codes 64", w), 2);
    cr_assert(strstr(out, "--codes 64 exceeds the 30 items"), "%s", out);
    free(out);
    char *tsv = file_of(w, "sids.tsv");
    cr_assert(!sd_exists(tsv), "a failed run wrote sids.tsv");
    assert_no_leftovers(w);
    free(tsv);
    free(w);
}
