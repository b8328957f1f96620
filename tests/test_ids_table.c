#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "ids/sid_table.h"
#include "ids/sid_trie.h"
#include "ids_fixture.h"
#include "test_util.h"

/* 5 items, 2 levels, K = 4: items 0, 1, 2 share (1, 2); 3 and 4 are alone. */
static const int32_t SEM[10] = {1, 2, 1, 2, 1, 2, 0, 3, 3, 3};

Test(ids_table, uniqueness_code_by_popularity) {
    int64_t pop[5] = {5, 9, 9, 0, 0};
    sd_sid_table t;
    sd_sid_collisions st;
    sd_err err = {0};
    cr_assert_eq(sd_sid_table_make(SEM, 5, 2, 4, pop, SD_COLLIDE_ERROR, &t, &st, &err), 0, "%s", err.msg);
    cr_assert_eq(t.n_codes, 3);
    /* most popular first; the tie between 1 and 2 goes to the lower id */
    cr_assert_eq(t.codes[1 * 3 + 2], 0);
    cr_assert_eq(t.codes[2 * 3 + 2], 1);
    cr_assert_eq(t.codes[0 * 3 + 2], 2);
    cr_assert_eq(t.codes[3 * 3 + 2], 0);
    cr_assert_eq(t.codes[4 * 3 + 2], 0);
    cr_assert_eq(st.n_prefixes, 3);
    cr_assert_eq(st.n_unique, 2);
    cr_assert_eq(st.n_groups, 1);
    cr_assert_eq(st.max_group, 3);
    char buf[256];
    sd_sid_tokens(&t, 0, buf, sizeof buf);
    cr_assert_str_eq(buf, "<|sid_start|><|sid_1|><|sid_6|><|sid_10|><|sid_end|>");
    sd_sid_table_free(&t);
}

Test(ids_table, collision_overflow) {
    sd_sid_table t;
    sd_sid_collisions st;
    sd_err err = {0};
    /* K = 2 cannot number a group of 3 with one code */
    int32_t sem[10] = {1, 1, 1, 1, 1, 1, 0, 1, 0, 0};
    cr_assert_lt(sd_sid_table_make(sem, 5, 2, 2, NULL, SD_COLLIDE_ERROR, &t, &st, &err), 0);
    cr_assert(strstr(err.msg, "3 items share the codes (1, 1)"), "%s", err.msg);
    cr_assert(strstr(err.msg, "--codes 2"), "%s", err.msg);
    cr_assert_null(t.codes);
    cr_assert_eq(sd_sid_table_make(sem, 5, 2, 2, NULL, SD_COLLIDE_EXTEND, &t, &st, &err), 0, "%s", err.msg);
    cr_assert_eq(t.n_codes, 4); /* ranks 0..2 need two base-2 digits */
    int want[3][2] = {{0, 0}, {0, 1}, {1, 0}};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(t.codes[i * 4 + 2], want[i][0]);
        cr_assert_eq(t.codes[i * 4 + 3], want[i][1]);
    }
    cr_assert_eq(sd_sid_table_validate(&t, "t", &err), 0, "%s", err.msg);
    sd_sid_table_free(&t);
    int32_t out_of_range[2] = {0, 5};
    cr_assert_lt(sd_sid_table_make(out_of_range, 1, 2, 4, NULL, SD_COLLIDE_ERROR, &t, &st, &err), 0);
}

Test(ids_table, tsv_exact_format_and_round_trip) {
    sd_catalog *c = ids_fixture_catalog(5, 1);
    sd_sid_table t;
    sd_err err = {0};
    cr_assert_eq(sd_sid_table_make(SEM, 5, 2, 4, NULL, SD_COLLIDE_ERROR, &t, NULL, &err), 0);
    char dir[256]; sd_test_tmpdir(dir, sizeof dir);
    char *p = sd_path_join(dir, "sids.tsv");
    cr_assert_eq(sd_sid_table_write_tsv(&t, c, p, &err), 0, "%s", err.msg);
    char *data; size_t len;
    cr_assert_eq(sd_read_file(p, &data, &len, NULL), 0);
    const char *want =
        "id\text_id\tc0\tc1\tc2\tsid\n"
        "0\tB000000\t1\t2\t0\t<|sid_start|><|sid_1|><|sid_6|><|sid_8|><|sid_end|>\n"
        "1\tB000001\t1\t2\t1\t<|sid_start|><|sid_1|><|sid_6|><|sid_9|><|sid_end|>\n"
        "2\tB000002\t1\t2\t2\t<|sid_start|><|sid_1|><|sid_6|><|sid_10|><|sid_end|>\n"
        "3\tB000003\t0\t3\t0\t<|sid_start|><|sid_0|><|sid_7|><|sid_8|><|sid_end|>\n"
        "4\tB000004\t3\t3\t0\t<|sid_start|><|sid_3|><|sid_7|><|sid_8|><|sid_end|>\n";
    cr_assert_str_eq(data, want);
    sd_sid_table r;
    cr_assert_eq(sd_sid_table_read_tsv(&r, p, c, 0, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(r.K, 4);
    cr_assert_eq(r.levels, 2);
    cr_assert_eq(r.n_codes, 3);
    cr_assert_eq(memcmp(r.codes, t.codes, sizeof(int32_t) * 15), 0);
    sd_sid_table_free(&r);
    /* broken files: each error names file:line */
    struct { const char *from, *to, *needle; } bad[] = {
        {"<|sid_9|>", "<|sid_8|>", ":3: sid"},                   /* token does not match codes */
        {"1\tB000001\t1\t2\t1\t", "1\tB000001\t1\t2\t", ":3: 5 fields, expected 6"},
        {"3\tB000003", "7\tB000003", ":5: id \"7\", expected 3"},
        {"\tB000004", "\tX", ":6: ext_id \"X\""},
        {"\tc2\t", "\tc9\t", ":1: column 5 is \"c9\""},
        {"0\t3\t0\t<|sid_start|><|sid_0|><|sid_7|><|sid_8|>", "1\t2\t0\t<|sid_start|><|sid_1|><|sid_6|><|sid_8|>", "share the code sequence"},
    };
    for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
        char *s = strstr(data, bad[b].from);
        cr_assert(s, "case %zu", b);
        char copy[2048];
        snprintf(copy, sizeof copy, "%.*s%s%s", (int)(s - data), data, bad[b].to, s + strlen(bad[b].from));
        cr_assert_eq(sd_write_file_atomic(p, copy, strlen(copy), NULL), 0);
        cr_assert_lt(sd_sid_table_read_tsv(&r, p, c, 0, 0, &err), 0, "case %zu read", b);
        cr_assert(strstr(err.msg, bad[b].needle), "case %zu: %s", b, err.msg);
        cr_assert(strstr(err.msg, p), "case %zu: %s", b, err.msg);
        cr_assert_null(r.codes);
    }
    free(data);
    free(p);
    sd_sid_table_free(&t);
    sd_catalog_free(c);
}

Test(ids_table, bin_round_trip_and_corruption) {
    sd_sid_table t, r;
    sd_err err = {0};
    cr_assert_eq(sd_sid_table_make(SEM, 5, 2, 4, NULL, SD_COLLIDE_ERROR, &t, NULL, &err), 0);
    char dir[256]; sd_test_tmpdir(dir, sizeof dir);
    char *p = sd_path_join(dir, "sids.bin");
    cr_assert_eq(sd_sid_table_save(&t, p, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_file_size(p), 40 + 5 * 3 * 2); /* int16 codes for K <= 32767 */
    cr_assert_eq(sd_sid_table_load(&r, p, &err), 0, "%s", err.msg);
    cr_assert_eq(r.n_items, 5); cr_assert_eq(r.levels, 2); cr_assert_eq(r.n_codes, 3); cr_assert_eq(r.K, 4);
    cr_assert_eq(memcmp(r.codes, t.codes, sizeof(int32_t) * 15), 0);
    sd_sid_table_free(&r);
    char *data; size_t len;
    cr_assert_eq(sd_read_file(p, &data, &len, NULL), 0);
    cr_assert_eq(sd_write_file_atomic(p, data, len - 1, NULL), 0);
    cr_assert_lt(sd_sid_table_load(&r, p, &err), 0);
    cr_assert(strstr(err.msg, "expected 70"), "%s", err.msg);
    data[40] = 9; /* item 0 code 0 = 9 >= K */
    cr_assert_eq(sd_write_file_atomic(p, data, len, NULL), 0);
    cr_assert_lt(sd_sid_table_load(&r, p, &err), 0);
    cr_assert(strstr(err.msg, "outside 0..3"), "%s", err.msg);
    data[0] = 'X';
    cr_assert_eq(sd_write_file_atomic(p, data, len, NULL), 0);
    cr_assert_lt(sd_sid_table_load(&r, p, &err), 0);
    cr_assert(strstr(err.msg, "bad magic"), "%s", err.msg);
    free(data);
    free(p);
    sd_sid_table_free(&t);
}

Test(ids_table, trie_queries) {
    sd_sid_table t;
    sd_err err = {0};
    cr_assert_eq(sd_sid_table_make(SEM, 5, 2, 4, NULL, SD_COLLIDE_ERROR, &t, NULL, &err), 0);
    sd_sid_trie tr;
    cr_assert_eq(sd_sid_trie_build(&tr, &t, &err), 0, "%s", err.msg);
    const int32_t *c;
    /* root: first codes 0, 1, 3 */
    cr_assert_eq(sd_sid_trie_next(&tr, NULL, 0, &c), 3);
    cr_assert_eq(c[0], 0); cr_assert_eq(c[1], 1); cr_assert_eq(c[2], 3);
    int32_t p1[] = {1, 2};
    cr_assert_eq(sd_sid_trie_next(&tr, p1, 2, &c), 3);
    cr_assert_eq(c[0], 0); cr_assert_eq(c[2], 2);
    int32_t tok[4];
    cr_assert_eq(sd_sid_trie_next_tokens(&tr, p1, 2, tok), 3);
    cr_assert_eq(tok[0], 8); cr_assert_eq(tok[2], 10);
    cr_assert_eq(sd_sid_trie_next_tokens(&tr, p1, 1, tok), 1);
    cr_assert_eq(tok[0], 6);
    int32_t nope[] = {2};
    cr_assert_eq(sd_sid_trie_next(&tr, nope, 1, &c), -1);
    cr_assert_eq(sd_sid_trie_count(&tr, sd_sid_trie_find(&tr, p1, 1)), 3);
    cr_assert_eq(sd_sid_trie_count(&tr, 0), 5);
    for (int32_t i = 0; i < 5; i++) {
        cr_assert_eq(sd_sid_trie_item(&tr, t.codes + i * 3), i);
        cr_assert_eq(sd_sid_trie_next(&tr, t.codes + i * 3, 3, &c), 0); /* complete: nothing may follow */
    }
    int32_t missing[] = {1, 2, 3};
    cr_assert_eq(sd_sid_trie_item(&tr, missing), -1);
    sd_sid_trie_free(&tr);
    /* duplicate sequences are refused */
    t.codes[3 * 3 + 0] = 3; t.codes[3 * 3 + 1] = 3;
    cr_assert_lt(sd_sid_trie_build(&tr, &t, &err), 0);
    cr_assert(strstr(err.msg, "items 3 and 4"), "%s", err.msg);
    sd_sid_table_free(&t);
}

/* Random tables: every item is found at its own sequence and every prefix lists exactly the
 * next codes present among items with that prefix (brute force). */
Test(ids_table, trie_matches_brute_force) {
    int n = 300, L = 3, K = 5;
    int32_t *sem = malloc(sizeof(int32_t) * n * L);
    unsigned s = 1;
    for (int i = 0; i < n * L; i++) { s = s * 1103515245u + 12345u; sem[i] = (int32_t)((s >> 16) % K); }
    sd_sid_table t;
    sd_err err = {0};
    cr_assert_eq(sd_sid_table_make(sem, n, L, K, NULL, SD_COLLIDE_EXTEND, &t, NULL, &err), 0, "%s", err.msg);
    sd_sid_trie tr;
    cr_assert_eq(sd_sid_trie_build(&tr, &t, &err), 0, "%s", err.msg);
    int m = t.n_codes;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(sd_sid_trie_item(&tr, t.codes + i * m), i);
        for (int len = 0; len < m; len++) {
            int present[64] = {0}, want = 0;
            for (int j = 0; j < n; j++)
                if (!memcmp(t.codes + j * m, t.codes + i * m, sizeof(int32_t) * len)) present[t.codes[j * m + len]] = 1;
            for (int k = 0; k < K; k++) want += present[k];
            const int32_t *c;
            int got = sd_sid_trie_next(&tr, t.codes + i * m, len, &c);
            cr_assert_eq(got, want, "item %d len %d", i, len);
            for (int q = 0; q < got; q++) cr_assert(present[c[q]]);
        }
    }
    sd_sid_trie_free(&tr);
    sd_sid_table_free(&t);
    free(sem);
}
