/* Inputs the fuzzers (tests/fuzz) found to crash a reader, written out by hand: each must now be
 * refused (or read) with a message, never a crash. The raw reproducers are replayed by
 * `make fuzz-smoke` from tests/fuzz/regress/. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/log.h"
#include "data/loaders.h"
#include "data/sequences.h"
#include "ids/sid_table.h"
#include "test_util.h"

static void quiet(void) { sd_quiet = true; }

static char *write_tmp(const char *name, const void *data, size_t n) {
    char dir[512];
    sd_test_tmpdir(dir, sizeof dir);
    char *p = sd_path_join(dir, name);
    cr_assert_eq(sd_write_file_atomic(p, data, n, NULL), 0);
    return p;
}

/* The out-of-range item id was read for the message after the file's mapping was closed. */
Test(fuzz_found, sequences_item_out_of_range_is_named, .init = quiet) {
    struct { char magic[8]; uint32_t version, reserved; int64_t users, items, inter, ids_bytes;
             int64_t offsets[2], times[1]; int32_t item; char ids[4]; } __attribute__((packed)) f = {
        .magic = "SDSEQ\0\0\1", .version = 1, .users = 1, .items = 1, .inter = 1, .ids_bytes = 4,
        .offsets = {0, 1}, .item = 7, .ids = "u1\0"};
    char *p = write_tmp("sequences.bin", &f, sizeof f);
    sd_sequences s;
    sd_err err = {0};
    cr_assert_lt(sd_sequences_read(&s, p, &err), 0);
    cr_assert(strstr(err.msg, "item id 7 out of range at position 0"), "%s", err.msg);
    free(p);
}

/* Same for the version of sids.bin. */
Test(fuzz_found, sids_bin_version_is_named, .init = quiet) {
    unsigned char h[40] = "SDSIDTB";
    h[8] = 9; /* version 9 */
    char *p = write_tmp("sids.bin", h, sizeof h);
    sd_sid_table t;
    sd_err err = {0};
    cr_assert_lt(sd_sid_table_load(&t, p, &err), 0);
    cr_assert(strstr(err.msg, "version 9 is not supported"), "%s", err.msg);
    free(p);
}

/* A tags file with no usable line left the tag list NULL and handed it to qsort (UBSan). */
Test(fuzz_found, movielens_tags_file_without_tags, .init = quiet) {
    char dir[512];
    sd_test_tmpdir(dir, sizeof dir);
    static const char *const files[][2] = {
        {"ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,3.0,964982704\n"},
        {"movies.csv", "movieId,title,genres\n1,Toy Story (1995),Animation\n2,Heat (1995),Action\n"},
        {"tags.csv", "userId,movieId,tag,timestamp\n"},
    };
    for (int i = 0; i < 3; i++) {
        char *p = sd_path_join(dir, files[i][0]);
        cr_assert_eq(sd_write_file_atomic(p, files[i][1], strlen(files[i][1]), NULL), 0);
        free(p);
    }
    sd_prep_opts o = {.dir = dir, .seed = 1};
    sd_catalog *cat;
    sd_sequences seq;
    sd_prep_stats st = {0};
    sd_err err = {0};
    cr_assert_eq(sd_load_movielens(&o, &cat, &seq, &st, &err), 0, "%s", err.msg);
    cr_assert_eq(cat->n_items, 2);
    sd_catalog_free(cat);
    sd_sequences_free(&seq);
}

/* An ml-100k u.item where no movie has a genre left the genre list NULL, and the loader added
 * an offset to it (UBSan: applying zero offset to null pointer). */
Test(fuzz_found, movielens_no_movie_has_a_genre, .init = quiet) {
    char dir[512];
    sd_test_tmpdir(dir, sizeof dir);
    static const char *const files[][2] = {
        {"u.data", "1\t1\t5\t881250949\n1\t2\t3\t881250950\n"},
        {"u.item", "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
                   "2|GoldenEye (1995)|01-Jan-1995||http://y|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"},
    };
    for (int i = 0; i < 2; i++) {
        char *p = sd_path_join(dir, files[i][0]);
        cr_assert_eq(sd_write_file_atomic(p, files[i][1], strlen(files[i][1]), NULL), 0);
        free(p);
    }
    sd_prep_opts o = {.dir = dir, .seed = 1};
    sd_catalog *cat;
    sd_sequences seq;
    sd_prep_stats st = {0};
    sd_err err = {0};
    cr_assert_eq(sd_load_movielens(&o, &cat, &seq, &st, &err), 0, "%s", err.msg);
    cr_assert_eq(cat->n_items, 2);
    cr_assert_eq(cat->items[0].n_attrs, 2); /* year and release date, no genre */
    sd_catalog_free(cat);
    sd_sequences_free(&seq);
}
