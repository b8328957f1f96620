/* `semid prep` and `semid stats` as a user runs them: exit codes (0 ok, 1 data, 2 usage),
 * messages naming file:line, and the work directory never half-written. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "test_util.h"

static int semid(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int semid(char **out, const char *fmt, ...) {
    char args[4096], cmd[6000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s", sd_test_bin(), args);
    return sd_test_run(cmd, out);
}

static const char *F(void) { return sd_test_fixtures(); }

static char *tmp_path(const char *name) {
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    return sd_path_join(dir, name);
}

static char *slurp(const char *p) {
    char *d = NULL; size_t n;
    if (sd_read_file(p, &d, &n, NULL)) return NULL;
    return d;
}

Test(prep_cli, amazon_then_stats_json) {
    char *w = tmp_path("work"), *out = NULL;
    int rc = semid(&out, "prep --format amazon2023 --items %s/amazon/meta.jsonl --interactions %s/amazon/reviews.jsonl -o %s",
                   F(), F(), w);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "items          12 (3 removed by filters)"), "%s", out);
    cr_assert(strstr(out, "unknown items  1"), "%s", out);
    cr_assert(strstr(out, "MB/s"), "%s", out);
    free(out);
    rc = semid(&out, "stats %s --json --quiet", w);
    cr_assert_eq(rc, 0, "%s", out);
    cJSON *j = cJSON_Parse(out);
    cr_assert(j, "not JSON: %s", out);
    const char *keys[] = {"items", "users", "interactions", "seq_len", "density", "top_items", "attribute_coverage",
                          "cold_items", "split"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
        cr_assert(cJSON_GetObjectItem(j, keys[k]), "key %s missing", keys[k]);
    cr_assert_eq(cJSON_GetObjectItem(j, "items")->valueint, 12);
    cr_assert_eq(cJSON_GetObjectItem(j, "users")->valueint, 3);
    cr_assert_eq(cJSON_GetObjectItem(j, "interactions")->valueint, 9);
    cr_assert_eq(cJSON_GetObjectItem(j, "cold_items")->valueint, 3);
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "seq_len"), "median")->valuedouble, 3);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "top_items")), 10);
    cr_assert_float_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "attribute_coverage"), "store")->valuedouble, 1.0, 1e-12);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "split"), "kind")->valuestring, "user");
    cJSON_Delete(j);
    free(out);
    rc = semid(&out, "stats %s", w);
    cr_assert_eq(rc, 0);
    cr_assert(strstr(out, "top items") && strstr(out, "attribute coverage"), "%s", out);
    free(out);
    free(w);
}

Test(prep_cli, strict_failure_leaves_work_unchanged) {
    char *w = tmp_path("work"), *out = NULL;
    /* first a good run */
    int rc = semid(&out, "prep --format sasrec --interactions %s/sasrec/data.txt -o %s --quiet", F(), w);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    char *meta_path = sd_path_join(w, "meta.json");
    char *before = slurp(meta_path);
    cr_assert(before);
    rc = semid(&out, "prep --format amazon2023 --items %s/amazon/meta.jsonl --interactions %s/amazon/reviews.jsonl "
               "-o %s --strict", F(), F(), w);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "reviews.jsonl:7") && strstr(out, "B0UNKNOWN9"), "%s", out);
    free(out);
    char *after = slurp(meta_path);
    cr_assert_str_eq(after, before);
    free(before); free(after); free(meta_path);
    /* a fresh WORK is not created on failure */
    char *w2 = tmp_path("never");
    rc = semid(&out, "prep --format sasrec --interactions /nonexistent.txt -o %s", w2);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "/nonexistent.txt"), "%s", out);
    cr_assert(!sd_exists(w2));
    free(out); free(w); free(w2);
}

Test(prep_cli, bad_lines_skipped_or_fatal) {
    char *meta = tmp_path("meta.jsonl");
    FILE *f = fopen(meta, "w");
    fputs("{\"parent_asin\": \"A1\", \"title\": \"t\"}\n{\"parent_asin\": 5}\n{\"parent_asin\": \"A2\"}\n"
          "{\"parent_asin\": \"A3\", \"description\": \"text\"}\n", f);
    fclose(f);
    char *csv = tmp_path("r.csv");
    f = fopen(csv, "w");
    fputs("u,A1,5,1\nu,A2,5,2\nu,A2,5,x\n", f);
    fclose(f);
    char *w = tmp_path("work"), *out = NULL;
    int rc = semid(&out, "prep --format amazon2023 --no-filters --min-user-items 1 --items %s --interactions %s -o %s",
                   meta, csv, w);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "meta.jsonl:2: \"parent_asin\" must be a non-empty string (line skipped)"), "%s", out);
    cr_assert(strstr(out, "meta.jsonl:4: \"description\" must be a list of strings"), "%s", out);
    cr_assert(strstr(out, "r.csv:3: \"timestamp\""), "%s", out);
    cr_assert(strstr(out, "(3 bad, skipped)"), "%s", out);
    free(out);
    rc = semid(&out, "prep --format amazon2023 --no-filters --items %s --interactions %s -o %s --strict", meta, csv, w);
    cr_assert_eq(rc, 1);
    cr_assert(strstr(out, "meta.jsonl:2") && strstr(out, "parent_asin"), "%s", out);
    free(out); free(meta); free(csv); free(w);
}

Test(prep_cli, usage_errors_exit_2) {
    char *out = NULL, *w = tmp_path("work");
    const char *cases[][2] = {
        {"prep --format nosuch -o W", "unknown format 'nosuch'"},
        {"prep --interactions x -o W", "--format is required"},
        {"prep --format sasrec --interactions x", "-o WORK is required"},
        {"prep --format sasrec --interactions x -o W --split random", "--split"},
        {"prep --format sasrec --interactions x -o W --bogus", "unknown option"},
        {"prep --format sasrec --interactions x -o W --min-title abc", "--min-title"},
        {"prep --format amazon2023 --interactions x -o W", "--items"},
        {"prep --format generic --interactions x -o W", "--items"},
        {"stats", "missing argument"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        int rc = semid(&out, "%s", cases[k][0]);
        cr_assert_eq(rc, 2, "%s -> %d: %s", cases[k][0], rc, out);
        cr_assert(strstr(out, cases[k][1]), "%s: %s", cases[k][0], out);
        free(out);
    }
    int rc = semid(&out, "prep --help");
    cr_assert_eq(rc, 0);
    const char *opts[] = {"--format", "--items", "--interactions", "--dir", "--out", "--split", "--strict", "--min-title",
                          "--min-desc", "--min-user-items", "--max-len", "--min-rating", "--no-filters", "amazon2023",
                          "sasrec", "generic", "--drop-cold-items"};
    for (size_t k = 0; k < sizeof opts / sizeof *opts; k++) cr_assert(strstr(out, opts[k]), "help lacks %s", opts[k]);
    free(out);
    rc = semid(&out, "stats %s", w); /* not a work directory: a data error */
    cr_assert_eq(rc, 1, "%s", out);
    free(out); free(w);
}

Test(prep_cli, generic_csv_drop_cold_and_split) {
    char *w = tmp_path("work"), *out = NULL;
    char *inter = tmp_path("i.csv");
    FILE *f = fopen(inter, "w");
    fputs("user,item,timestamp\na,sku-1,1\na,sku-2,2\na,3,3\nb,sku-1,1\nb,sku-2,5\nb,3,9\n", f);
    fclose(f);
    int rc = semid(&out, "prep --format generic --items %s/generic/items.jsonl --interactions %s -o %s --drop-cold-items "
                   "--split time --quiet", F(), inter, w);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    rc = semid(&out, "stats %s --json", w);
    cr_assert_eq(rc, 0, "%s", out);
    cJSON *j = cJSON_Parse(out);
    cr_assert(j, "%s", out);
    cr_assert_eq(cJSON_GetObjectItem(j, "items")->valueint, 3); /* sku-5 and 4 had no interactions */
    cr_assert_eq(cJSON_GetObjectItem(j, "cold_items")->valueint, 0);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "split"), "kind")->valuestring, "time");
    cJSON_Delete(j);
    free(out); free(w); free(inter);
}
