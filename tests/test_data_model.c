#include <criterion/criterion.h>
#include <string.h>
#include "base/file.h"
#include "data/workdir.h"
#include "test_util.h"

static sd_catalog *small_catalog(int n) {
    sd_catalog *c = sd_catalog_new();
    for (int i = 0; i < n; i++) {
        char id[16], title[32];
        snprintf(id, sizeof id, "I%03d", i);
        snprintf(title, sizeof title, "Item \"%d\"\n\xff", i);
        const char *feats[] = {"a", "b"};
        sd_kv attrs[] = {{"genre", "RPG"}, {"genre", "Action"}, {"platform", "PC"}};
        sd_item_in in = {id, title, "desc", feats, 2, NULL, 0, attrs, 3};
        cr_assert_eq(sd_catalog_add(c, &in, NULL), i);
    }
    return c;
}

Test(data_model, sort_dedupe_and_tiebreak) {
    sd_seqbuilder *b = sd_seqbuilder_new();
    sd_seqbuilder_add(b, "u1", 2, 3, 30);
    sd_seqbuilder_add(b, "u1", 2, 1, 10);
    sd_seqbuilder_add(b, "u1", 2, 3, 5);   /* earlier duplicate of item 3: kept, the later dropped */
    sd_seqbuilder_add(b, "u2", 2, 0, 7);
    sd_seqbuilder_add(b, "u2", 2, 1, 7);   /* tie */
    sd_seqbuilder_add(b, "u3", 2, 2, 1);   /* too short with min_len 2 */
    sd_seq_opts o = {.seed = 42, .min_len = 2, .max_len = 0};
    sd_sequences s;
    cr_assert_eq(sd_seqbuilder_finish(b, 4, &o, &s, NULL), 0);
    cr_assert_eq(s.n_users, 2);
    cr_assert_eq(sd_seq_len(&s, 0), 2);
    cr_assert_eq(s.items[0], 3); cr_assert_eq(s.items[1], 1);
    cr_assert_eq(s.times[0], 5);
    cr_assert_str_eq(s.user_ids[1], "u2");
    int first = s.items[s.offsets[1]];
    sd_sequences_free(&s);
    sd_seqbuilder_free(b);
    /* same seed, reversed input order: same tie-break */
    b = sd_seqbuilder_new();
    sd_seqbuilder_add(b, "u2", 2, 1, 7);
    sd_seqbuilder_add(b, "u2", 2, 0, 7);
    cr_assert_eq(sd_seqbuilder_finish(b, 4, &o, &s, NULL), 0);
    cr_assert_eq(s.items[0], first);
    sd_sequences_free(&s);
    sd_seqbuilder_free(b);
}

Test(data_model, workdir_round_trip_and_splits) {
    char dir[256]; sd_test_tmpdir(dir, sizeof dir);
    char *w = sd_path_join(dir, "work");
    sd_catalog *c = small_catalog(10);
    sd_seqbuilder *b = sd_seqbuilder_new();
    for (int u = 0; u < 20; u++) {
        char name[8]; snprintf(name, sizeof name, "user%d", u);
        for (int k = 0; k < 3 + u % 4; k++) sd_seqbuilder_add(b, name, strlen(name), (u + k * 3) % 10, 100 * k + u);
    }
    sd_seq_opts o = {.seed = 1, .min_len = 0, .max_len = 0};
    sd_sequences s;
    sd_err err = {0};
    cr_assert_eq(sd_seqbuilder_finish(b, 10, &o, &s, &err), 0, "%s", err.msg);
    for (int kind = 0; kind < 3; kind++) {
        cr_assert_eq(sd_work_create(w, c, &s, kind, 7, "test", "{\"note\":\"x\"}", &err), 0, "%s", err.msg);
        sd_work wk;
        cr_assert_eq(sd_work_load(&wk, w, &err), 0, "%s", err.msg);
        cr_assert_eq(wk.cat->n_items, 10);
        cr_assert_str_eq(wk.cat->items[3].ext_id, "I003");
        cr_assert_str_eq(wk.cat->items[3].title, "Item \"3\"\n\xEF\xBF\xBD");
        cr_assert_str_eq(sd_item_attr(wk.cat, 3, "platform"), "PC");
        cr_assert_eq(wk.cat->items[3].n_attrs, 3);
        cr_assert_eq(wk.seq.n_inter, s.n_inter);
        cr_assert_eq(memcmp(wk.seq.items, s.items, s.n_inter * 4), 0);
        cr_assert_eq(wk.split.kind, kind);
        if (kind == SD_SPLIT_LOO)
            for (int u = 0; u < s.n_users; u++) {
                cr_assert_eq(wk.split.test_pos[u], sd_seq_len(&s, u) - 1);
                cr_assert_eq(wk.split.valid_pos[u], sd_seq_len(&s, u) - 2);
            }
        if (kind == SD_SPLIT_USER) {
            int test_users = 0;
            for (int u = 0; u < s.n_users; u++) test_users += wk.split.test_pos[u] >= 0;
            cr_assert_eq(test_users, 2);
        }
        sd_work_free(&wk);
    }
    sd_sequences_free(&s);
    sd_seqbuilder_free(b);
    sd_catalog_free(c);
    free(w);
}

Test(data_model, corrupt_files_are_clear_errors) {
    char dir[256]; sd_test_tmpdir(dir, sizeof dir);
    char *p = sd_path_join(dir, "items.jsonl");
    const char *bad[] = {"{\"id\":0,\"ext_id\":\"a\"}\n{\"id\":1}\n", "{\"id\":0,\"ext_id\":\"a\"}\n{\"id\":1,\"ext_id\":\"a\"}\n",
                         "{\"id\":0,\"ext_id\":\"a\",\"features\":[1]}\n", "{\"id\":0,\"ext_id\":\"a\"\n", "{\"id\":5,\"ext_id\":\"a\"}\n"};
    const char *want[] = {":2: \"ext_id\" missing", ":2: duplicate item id", ":1: \"features\"", ":1: not a JSON", ":1: \"id\" must be 0"};
    for (int i = 0; i < 5; i++) {
        sd_write_file_atomic(p, bad[i], strlen(bad[i]), NULL);
        sd_catalog *c = NULL;
        sd_err err = {0};
        cr_assert_lt(sd_catalog_read_jsonl(&c, p, &err), 0);
        cr_assert(strstr(err.msg, want[i]), "case %d: %s", i, err.msg);
    }
    char *q = sd_path_join(dir, "sequences.bin");
    sd_write_file_atomic(q, "SDSEQ\0\0\1garbage", 16, NULL);
    sd_sequences s; sd_err err = {0};
    cr_assert_lt(sd_sequences_read(&s, q, &err), 0);
    cr_assert(strstr(err.msg, "sequences.bin"));
    free(p); free(q);
}
