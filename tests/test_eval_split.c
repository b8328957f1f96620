/* Which users are evaluated: `prep --min-eval-len N` makes users with fewer than N items
 * training-only (data/split.h, kept in split.bin), and `eval --eval-users N` ranks one seeded
 * sample of the users with a target, the same for every model; the table and eval.json say which. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "data/sequences.h"
#include "data/split.h"
#include "eval/evaluate.h"
#include "test_util.h"

#define semid(out, fmt, ...) sd_test_semid(out, fmt " --quiet", ##__VA_ARGS__)

/* users of 1, 2, 3, 4 and 6 items over 8 items */
static const int SEQS[] = {0, -1, 1, 2, -1, 3, 4, 5, -1, 0, 2, 4, 6, -1, 1, 3, 5, 7, 0, 2, -2};
static const int LENS[] = {1, 2, 3, 4, 6};

Test(split, min_eval_len_makes_short_users_training_only) {
    sd_sequences s;
    sd_split base, sp;
    sd_test_seqs_from_list(SEQS, 8, &s, &base);
    sd_err err = {0};
    for (int kind = SD_SPLIT_LOO; kind <= SD_SPLIT_TIME; kind++) {
        sd_split_free(&base);
        cr_assert_eq(sd_split_make(&base, &s, (sd_split_kind)kind, 1, &err), 0, "%s", err.msg);
        cr_assert_eq(sd_split_make(&sp, &s, (sd_split_kind)kind, 1, &err), 0, "%s", err.msg);
        sd_split_min_eval_len(&sp, &s, 3);
        cr_assert_eq(sp.min_eval_len, 3);
        for (int u = 0; u < 5; u++) {
            if (LENS[u] >= 3) { /* long enough: as without the option */
                cr_assert_eq(sp.train_len[u], base.train_len[u], "%s user %d", sd_split_name(kind), u);
                cr_assert_eq(sp.valid_pos[u], base.valid_pos[u], "%s user %d", sd_split_name(kind), u);
                cr_assert_eq(sp.test_pos[u], base.test_pos[u], "%s user %d", sd_split_name(kind), u);
                continue;
            }
            cr_assert_eq(sp.valid_pos[u], -1, "%s user %d", sd_split_name(kind), u);
            cr_assert_eq(sp.test_pos[u], -1, "%s user %d", sd_split_name(kind), u);
            /* the time split never trains past its first cut */
            cr_assert_eq(sp.train_len[u], kind == SD_SPLIT_TIME ? base.train_len[u] : LENS[u], "%s user %d",
                         sd_split_name(kind), u);
        }
        sd_split_free(&sp);
    }
    /* LOO: user 1 (2 items) had a test target before */
    sd_split_free(&base);
    cr_assert_eq(sd_split_make(&base, &s, SD_SPLIT_LOO, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(base.test_pos[1], 1);

    /* split.bin keeps it (version 2); without it the file is version 1 as before, 72-byte header */
    char d[256];
    sd_test_tmpdir(d, sizeof d);
    char *p1 = sd_path_join(d, "v1.bin"), *p2 = sd_path_join(d, "v2.bin");
    cr_assert_eq(sd_split_write(&base, p1, &err), 0, "%s", err.msg);
    sd_split_min_eval_len(&base, &s, 3);
    cr_assert_eq(sd_split_write(&base, p2, &err), 0, "%s", err.msg);
    char *b1 = NULL, *b2 = NULL;
    size_t n1, n2;
    cr_assert_eq(sd_read_file(p1, &b1, &n1, NULL), 0);
    cr_assert_eq(sd_read_file(p2, &b2, &n2, NULL), 0);
    cr_assert_eq(n1, 72 + 5 * 12);
    cr_assert_eq(n2, 80 + 5 * 12);
    uint32_t v1, v2;
    memcpy(&v1, b1 + 8, 4);
    memcpy(&v2, b2 + 8, 4);
    cr_assert_eq(v1, 1);
    cr_assert_eq(v2, 2);
    sd_split r;
    cr_assert_eq(sd_split_read(&r, p1, 5, &err), 0, "%s", err.msg);
    cr_assert_eq(r.min_eval_len, 0);
    cr_assert_eq(r.test_pos[1], 1);
    sd_split_free(&r);
    cr_assert_eq(sd_split_read(&r, p2, 5, &err), 0, "%s", err.msg);
    cr_assert_eq(r.min_eval_len, 3);
    for (int u = 0; u < 5; u++) {
        cr_assert_eq(r.train_len[u], base.train_len[u]);
        cr_assert_eq(r.test_pos[u], base.test_pos[u]);
    }
    sd_split_free(&r);
    /* a version 2 file cut inside its header is refused, naming it */
    cr_assert_eq(sd_write_file_atomic(p2, b2, 76, &err), 0, "%s", err.msg);
    cr_assert_neq(sd_split_read(&r, p2, 5, &err), 0);
    cr_assert(strstr(err.msg, p2) && strstr(err.msg, "truncated"), "%s", err.msg);
    free(b1); free(b2); free(p1); free(p2);
    sd_split_free(&base);
    sd_sequences_free(&s);
}

Test(eval_users, seeded_sample) {
    /* 60 users of 3 items: every one has a test target */
    int flat[60 * 4 + 1], k = 0;
    for (int u = 0; u < 60; u++) {
        for (int i = 0; i < 3; i++) flat[k++] = (u + i) % 10;
        flat[k++] = -1;
    }
    flat[k] = -2;
    sd_sequences s;
    sd_split sp;
    sd_test_seqs_from_list(flat, 10, &s, &sp);
    int32_t n, total, n2;
    int32_t *a = sd_eval_users_sample(&sp, SD_PART_TEST, 10, 7, &n, &total);
    cr_assert_eq(n, 10);
    cr_assert_eq(total, 60);
    for (int i = 1; i < n; i++) cr_assert_lt(a[i - 1], a[i], "ascending, distinct");
    for (int i = 0; i < n; i++) cr_assert(a[i] >= 0 && a[i] < 60);
    int32_t *b = sd_eval_users_sample(&sp, SD_PART_TEST, 10, 7, &n2, NULL);
    cr_assert_eq(n2, 10);
    cr_assert_eq(memcmp(a, b, sizeof *a * 10), 0, "same seed, same users");
    free(b);
    b = sd_eval_users_sample(&sp, SD_PART_TEST, 10, 8, &n2, NULL);
    cr_assert_neq(memcmp(a, b, sizeof *a * 10), 0, "another seed, other users");
    free(b);
    /* not a prefix: the sample reaches past the first users */
    cr_assert_gt(a[9], 9);
    free(a);
    /* N at or above the users with a target, or 0: all of them */
    a = sd_eval_users_sample(&sp, SD_PART_TEST, 100, 7, &n, &total);
    cr_assert_eq(n, 60);
    free(a);
    a = sd_eval_users_sample(&sp, SD_PART_TEST, 0, 7, &n, &total);
    cr_assert_eq(n, 60);
    free(a);
    sd_split_free(&sp);
    sd_sequences_free(&s);
}

static cJSON *eval_json(const char *w, const char *args) {
    char *out = NULL;
    int rc = semid(&out, "eval %s --json %s 2>/dev/null", w, args);
    cr_assert_eq(rc, 0, "%s", out);
    cJSON *j = cJSON_Parse(out);
    cr_assert(cJSON_IsArray(j), "%s", out);
    free(out);
    return j;
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    cr_assert(cJSON_IsNumber(v), "key %s", key);
    return v->valuedouble;
}

/* prep --min-eval-len, then eval --eval-users: the rows and the table header say which users. */
Test(eval_users, prep_and_eval_cli, .timeout = 60) {
    char d[256], *out = NULL;
    sd_test_tmpdir(d, sizeof d);
    /* SASRec text format: 40 users of 4 items, 20 of 2 items */
    char *data = sd_path_join(d, "data.txt"), *w = sd_path_join(d, "work");
    FILE *f = fopen(data, "w");
    cr_assert(f);
    for (int u = 1; u <= 60; u++)
        for (int i = 0; i < (u <= 40 ? 4 : 2); i++) fprintf(f, "%d %d\n", u, 1 + (u * 3 + i * 7) % 30);
    fclose(f);
    int rc = semid(&out, "prep --format sasrec --interactions %s -o %s --min-eval-len -1", data, w);
    cr_assert_eq(rc, 2, "exit %d: %s", rc, out);
    cr_assert(!sd_exists(w));
    free(out);
    cr_assert_eq(semid(&out, "prep --format sasrec --interactions %s -o %s --min-eval-len 3", data, w), 0, "%s", out);
    free(out);
    char *mp = sd_path_join(w, "meta.json"), *meta = NULL;
    size_t len;
    cr_assert_eq(sd_read_file(mp, &meta, &len, NULL), 0);
    cJSON *m = cJSON_Parse(meta);
    cr_assert_eq(num(m, "min_eval_len"), 3, "%s", meta);
    cJSON_Delete(m);
    free(meta); free(mp);

    /* every user of 4 items is ranked, none of 2 */
    cJSON *j = eval_json(w, "--models popularity");
    const cJSON *row = cJSON_GetArrayItem(j, 0);
    cr_assert_eq(num(row, "n_users"), 40);
    cr_assert_eq(num(row, "users_total"), 40);
    cr_assert_eq(num(row, "min_eval_len"), 3);
    cr_assert_eq(num(row, "eval_users"), 0);
    cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(row, "split")->valuestring, "loo");
    cJSON_Delete(j);
    cr_assert_eq(semid(&out, "eval %s --models popularity", w), 0, "%s", out);
    cr_assert(strstr(out, "split loo, min eval length 3; test users: all 40\n"), "%s", out);
    free(out);

    /* a sample of 15: every model and protocol, and a second run, on the same users */
    cr_assert_eq(semid(&out, "eval %s --eval-users 15 --protocol all --seed 3", w), 0, "%s", out);
    cr_assert(strstr(out, "test users: 15 sampled of 40 (seed 3)\n"), "%s", out);
    free(out);
    j = eval_json(w, "--eval-users 15 --protocol all --seed 3");
    cr_assert_eq(cJSON_GetArraySize(j), 9);
    cJSON_ArrayForEach(row, j) {
        cr_assert_eq(num(row, "n_users"), 15);
        cr_assert_eq(num(row, "eval_users"), 15);
        cr_assert_eq(num(row, "users_total"), 40);
    }
    double pop = num(cJSON_GetArrayItem(j, 0), "mrr");
    cJSON_Delete(j);
    j = eval_json(w, "--eval-users 15 --models popularity --seed 3 --batch 1 --threads 1");
    cr_assert_float_eq(num(cJSON_GetArrayItem(j, 0), "mrr"), pop, 0, "same seed, same users");
    cJSON_Delete(j);
    /* more than there are: all of them, with a warning */
    rc = semid(&out, "eval %s --eval-users 1000 --models popularity", w);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "only 40 users have a test target") && strstr(out, "test users: all 40"), "%s", out);
    free(out);
    rc = semid(&out, "eval %s --eval-users -5", w);
    cr_assert_eq(rc, 2, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "--eval-users"), "%s", out);
    free(out);
    free(data); free(w);
}

/* The generic format as `semid prep --help` documents it: the example given there is read. */
Test(prep_cli, help_documents_generic_format) {
    char *out = NULL, d[256];
    cr_assert_eq(semid(&out, "prep --help"), 0);
    const char *need[] = {"generic input", "\"id\" (required", "\"title\"", "\"text\"", "\"features\"",
                          "\"categories\"", "attribute", "user, item and timestamp", "INTER.jsonl",
                          "--min-eval-len N"};
    for (size_t i = 0; i < sizeof need / sizeof *need; i++) cr_assert(strstr(out, need[i]), "no '%s' in:\n%s", need[i], out);
    free(out);
    sd_test_tmpdir(d, sizeof d);
    char *items = sd_path_join(d, "items.jsonl"), *inter = sd_path_join(d, "inter.csv"), *w = sd_path_join(d, "w");
    FILE *f = fopen(items, "w");
    fputs("{\"id\": \"g1\", \"title\": \"Kart Racer\", \"text\": \"Fast karts.\", \"categories\": [\"Racing\"], "
          "\"platform\": \"PC\"}\n{\"id\": 2, \"title\": \"Dragon Quest\", \"features\": [\"open world\"]}\n", f);
    fclose(f);
    f = fopen(inter, "w");
    fputs("user,item,timestamp\nu1,g1,1700000000\nu1,2,1700000500\n", f);
    fclose(f);
    int rc = semid(&out, "prep --format generic --items %s --interactions %s -o %s --strict", items, inter, w);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    char *ij = sd_path_join(w, "items.jsonl"), *text = NULL;
    size_t len;
    cr_assert_eq(sd_read_file(ij, &text, &len, NULL), 0);
    cr_assert(strstr(text, "\"platform\"") && strstr(text, "open world") && strstr(text, "Racing"), "%s", text);
    free(text); free(ij); free(items); free(inter); free(w);
}
