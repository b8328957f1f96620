/* The cold-item split (data/split.h sd_split_cold_items, `synth/prep --cold-items F`): cold items
 * never reach training (no training prefix and no validation target holds one), the cold test set
 * is exactly the test users whose target is cold, split.bin keeps it (version 3) and refuses a
 * cut file, and `semid eval` adds rows of part "cold" beside "test". */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/rng.h"
#include "data/sequences.h"
#include "data/split.h"
#include "eval/evaluate.h"
#include "test_util.h"

/* 300 users of 3..12 items over 60 items */
static void random_seqs(sd_sequences *s, sd_split *sp) {
    int list[300 * 13 + 1], n = 0;
    sd_rng r;
    sd_rng_seed(&r, 9);
    for (int u = 0; u < 300; u++) {
        int len = 3 + (int)sd_rng_below(&r, 10);
        uint8_t used[60] = {0};
        for (int j = 0; j < len; j++) {
            int it;
            do it = (int)sd_rng_below(&r, 60); while (used[it]);
            used[it] = 1;
            list[n++] = it;
        }
        list[n++] = -1;
    }
    list[n - 1] = -2;
    sd_test_seqs_from_list(list, 60, s, sp);
}

Test(cold_split, cold_items_never_train) {
    sd_sequences s;
    sd_split base;
    random_seqs(&s, &base);
    sd_err err = {0};
    for (int kind = SD_SPLIT_LOO; kind <= SD_SPLIT_TIME; kind++) {
        sd_split sp;
        cr_assert_eq(sd_split_make(&sp, &s, (sd_split_kind)kind, 3, &err), 0, "%s", err.msg);
        sd_split_cold_items(&sp, &s, 0.2, 5);
        cr_assert_eq(sp.n_cold, 12, "round(0.2 x 60 items that occur)");
        int n_cold = 0, n_users = 0;
        for (int i = 0; i < 60; i++) n_cold += sp.cold_item[i];
        cr_assert_eq(n_cold, 12);
        for (int u = 0; u < s.n_users; u++) {
            const int32_t *it = sd_seq_items(&s, u);
            for (int j = 0; j < sp.train_len[u]; j++)
                cr_assert(!sp.cold_item[it[j]], "%s: user %d trains on cold item %d", sd_split_name(kind), u, it[j]);
            if (sp.valid_pos[u] >= 0) cr_assert(!sp.cold_item[it[sp.valid_pos[u]]], "cold validation target");
            bool cold_test = sp.test_pos[u] >= 0 && sp.cold_item[it[sp.test_pos[u]]];
            cr_assert_eq(sp.cold_target[u], cold_test, "user %d", u);
            n_users += cold_test;
        }
        cr_assert_gt(n_users, kind == SD_SPLIT_LOO ? 30 : 0, "%s: a cold test set of %d users", sd_split_name(kind), n_users);
        int32_t n;
        int32_t *users = sd_eval_users(&sp, SD_PART_COLD, &n);
        cr_assert_eq(n, n_users);
        for (int i = 0; i < n; i++) cr_assert(sp.cold_target[users[i]]);
        free(users);
        /* same seed, same items; another seed, others */
        sd_split again, other;
        sd_split_make(&again, &s, (sd_split_kind)kind, 3, &err);
        sd_split_make(&other, &s, (sd_split_kind)kind, 3, &err);
        sd_split_cold_items(&again, &s, 0.2, 5);
        sd_split_cold_items(&other, &s, 0.2, 6);
        cr_assert(!memcmp(again.cold_item, sp.cold_item, 60));
        cr_assert(memcmp(other.cold_item, sp.cold_item, 60));
        sd_split_free(&again);
        sd_split_free(&other);
        sd_split_free(&sp);
    }
    /* without cold items the cold part is empty */
    int32_t n;
    free(sd_eval_users(&base, SD_PART_COLD, &n));
    cr_assert_eq(n, 0);
    sd_split_free(&base);
    sd_sequences_free(&s);
}

Test(cold_split, split_bin_v3_round_trip_and_cut_file) {
    sd_sequences s;
    sd_split sp, back;
    random_seqs(&s, &sp);
    sd_split_cold_items(&sp, &s, 0.1, 2);
    char d[256];
    sd_test_tmpdir(d, sizeof d);
    char *p = sd_path_join(d, "split.bin");
    sd_err err = {0};
    cr_assert_eq(sd_split_write(&sp, p, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_split_read(&back, p, s.n_users, &err), 0, "%s", err.msg);
    cr_assert_eq(back.n_cold, sp.n_cold);
    cr_assert_float_eq(back.cold_share, 0.1, 1e-12);
    cr_assert(!memcmp(back.cold_item, sp.cold_item, 60));
    cr_assert(!memcmp(back.cold_target, sp.cold_target, (size_t)s.n_users));
    cr_assert(!memcmp(back.train_len, sp.train_len, sizeof(int32_t) * s.n_users));
    sd_split_free(&back);
    /* one byte short: refused, naming the file */
    char *buf;
    size_t n;
    cr_assert_eq(sd_read_file(p, &buf, &n, &err), 0, "%s", err.msg);
    FILE *f = fopen(p, "wb");
    fwrite(buf, 1, n - 1, f);
    fclose(f);
    cr_assert_neq(sd_split_read(&back, p, s.n_users, &err), 0);
    cr_assert(strstr(err.msg, "split.bin") && strstr(err.msg, "truncated"), "%s", err.msg);
    free(buf);
    free(p);
    sd_split_free(&sp);
    sd_sequences_free(&s);
}

Test(cold_split, synth_and_eval_rows, .timeout = 120) {
    char d[256], *out = NULL;
    sd_test_tmpdir(d, sizeof d);
    cr_assert_eq(sd_test_semid(&out, "synth -o %s/w --items 300 --users 600 --cold-items 0.15 --quiet", d), 0, "%s", out);
    free(out);
    char meta[300];
    snprintf(meta, sizeof meta, "%s/w/meta.json", d);
    char *txt;
    size_t n;
    sd_err err = {0};
    cr_assert_eq(sd_read_file(meta, &txt, &n, &err), 0, "%s", err.msg);
    cJSON *m = cJSON_Parse(txt);
    cJSON *c = cJSON_GetObjectItem(m, "cold_items");
    cr_assert(c, "meta.json records the cold items");
    int users = cJSON_GetObjectItem(c, "test_users")->valueint;
    cr_assert_gt(users, 0);
    cJSON_Delete(m);
    free(txt);
    cr_assert_eq(sd_test_semid(&out, "eval %s/w --models popularity,random --quiet", d), 0, "%s", out);
    char want[64];
    snprintf(want, sizeof want, "| popularity | full | cold | excluded | %d |", users);
    cr_assert(strstr(out, want), "no cold row of %d users:\n%s", users, out);
    cr_assert(strstr(out, "| popularity | full | test |"), "%s", out);
    free(out);
    cr_assert_eq(sd_test_semid(&out, "eval %s/w --models random --part cold --quiet", d), 0, "%s", out);
    cr_assert(strstr(out, "| random | full | cold |") && !strstr(out, "| random | full | test |"), "%s", out);
    free(out);
    cr_assert_eq(sd_test_semid(&out, "synth -o %s/x --cold-items 1.5 --quiet", d), 2, "%s", out);
    cr_assert(strstr(out, "--cold-items"), "%s", out);
    free(out);
    cr_assert_eq(sd_test_semid(&out, "prep --format sasrec --interactions %s/sasrec/data.txt --cold-items -0.1 -o %s/p",
                               sd_test_fixtures(), d), 2, "%s", out);
    cr_assert(strstr(out, "--cold-items must be a share"), "%s", out);
    free(out);
    char px[400];
    snprintf(px, sizeof px, "%s/p", d);
    FILE *f = fopen(px, "r");
    cr_assert(!f, "nothing written on bad usage");
}
