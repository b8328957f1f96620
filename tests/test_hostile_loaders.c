/* Hostile inputs to the dataset loaders and the work-directory files (issue 10): one line that
 * names a huge item number, binary files cut short or padded, a line without end, NUL characters
 * and repeated keys in JSONL, repeated items in a history (counted, or kept on request), an
 * edited sids.tsv, a corrupt or stale meta.json, and numbers too large to be ids. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <zlib.h>
#include "base/file.h"
#include "data/loaders.h"
#include "data/workdir.h"
#include "io/json_util.h"
#include "rec/sasrec_sid.h"
#include "test_util.h"

#define semid sd_test_semid

static char *put(const char *dir, const char *name, const char *text, size_t n) {
    char *p = sd_path_join(dir, name);
    FILE *f = fopen(p, "wb");
    cr_assert(f, "%s", p);
    fwrite(text, 1, n, f);
    fclose(f);
    return p;
}
#define PUT(dir, name, lit) put(dir, name, lit, sizeof lit - 1)

static void assert_has(const char *out, const char *want) {
    cr_assert(out && strstr(out, want), "expected \"%s\" in:\n%s", want, out ? out : "(null)");
}

/* ---- item 5: what one line can make a loader allocate ---- */

Test(loader_bounds, one_sasrec_line_with_a_huge_item_number_stays_small, .timeout = 60) {
    /* before the fix this line made 2e9 placeholder items; 1 GB of address space is plenty now
     * (not under ASan, whose shadow memory needs far more address space: the timeout holds there) */
#ifndef __SANITIZE_ADDRESS__
    struct rlimit lim = {1u << 30, 1u << 30};
    cr_assert_eq(setrlimit(RLIMIT_AS, &lim), 0);
#endif
    char d[512];
    sd_test_tmpdir(d, sizeof d);
    char *txt = PUT(d, "data.txt", "1 5\n1 2000000000\n2 5\n");
    sd_prep_opts o = {.inter_path = txt, .min_user_items = 1};
    sd_prep_stats st = {0};
    sd_catalog *cat = NULL;
    sd_sequences seq;
    sd_err err = {0};
    cr_assert_eq(sd_load_sasrec(&o, &cat, &seq, &st, &err), 0, "%s", err.msg);
    cr_assert_eq(cat->n_items, 2, "catalogue of %d items", cat->n_items);
    cr_assert_str_eq(cat->items[0].ext_id, "5");
    cr_assert_str_eq(cat->items[1].ext_id, "2000000000");
    cr_assert_eq(seq.n_inter, 3);
    cr_assert_eq(seq.items[1], 1, "user 1's second item is the big number");
    sd_catalog_free(cat);
    sd_sequences_free(&seq);
    free(txt);
}

Test(loader_bounds, sasrec_numbers_with_a_few_gaps_keep_placeholders) {
    /* SASRec's own code ranks over 1..max: a few unused numbers stay items, as before */
    char d[512];
    sd_test_tmpdir(d, sizeof d);
    char *txt = PUT(d, "data.txt", "1 1\n1 3\n2 7\n");
    sd_prep_opts o = {.inter_path = txt, .min_user_items = 1};
    sd_prep_stats st = {0};
    sd_catalog *cat = NULL;
    sd_sequences seq;
    sd_err err = {0};
    cr_assert_eq(sd_load_sasrec(&o, &cat, &seq, &st, &err), 0, "%s", err.msg);
    cr_assert_eq(cat->n_items, 7);
    cr_assert_str_eq(cat->items[6].ext_id, "7");
    cr_assert_eq(seq.items[2], 6);
    sd_catalog_free(cat);
    sd_sequences_free(&seq);
    free(txt);
}

Test(loader_bounds, a_line_without_end_is_an_error_not_a_runaway_buffer, .timeout = 120) {
    /* a gzip bomb: 300 MB of one byte without a newline, 300 KB on disk */
    char d[512];
    sd_test_tmpdir(d, sizeof d);
    char *p = sd_path_join(d, "bomb.jsonl.gz");
    gzFile gz = gzopen(p, "wb1");
    cr_assert(gz);
    char *chunk = malloc(1 << 20);
    memset(chunk, 'x', 1 << 20);
    for (int i = 0; i < 300; i++) cr_assert_eq(gzwrite(gz, chunk, 1 << 20), 1 << 20);
    gzclose(gz);
    free(chunk);
    sd_lines *r;
    sd_err err = {0};
    cr_assert_eq(sd_lines_open(&r, p, &err), 0, "%s", err.msg);
    char *line;
    size_t len;
    int rc = sd_lines_next(r, &line, &len, &err);
    sd_lines_close(r);
    cr_assert_lt(rc, 0, "a 300 MB line was returned");
    assert_has(err.msg, "bomb.jsonl.gz:1: line longer than 256 MiB");
    free(p);
}

/* ---- binary files of the work directory: sizes checked against the header ---- */

static void synth(const char *w) {
    char *out = NULL;
    cr_assert_eq(semid(&out, "synth --items 100 --users 40 --quiet -o %s", w), 0, "%s", out);
    free(out);
}

Test(loader_bounds, cut_or_padded_work_binaries_say_so) {
    char d[512], w[600];
    sd_test_tmpdir(d, sizeof d);
    snprintf(w, sizeof w, "%s/w", d);
    synth(w);
    char *seq = sd_path_join(w, "sequences.bin"), *split = sd_path_join(w, "split.bin");
    int64_t n_seq = sd_file_size(seq), n_split = sd_file_size(split);
    char *out = NULL;
    cr_assert_eq(truncate(seq, n_seq - 100), 0);
    cr_assert_eq(semid(&out, "stats %s", w), 1, "%s", out);
    assert_has(out, "sequences.bin: truncated:");
    free(out);
    cr_assert_eq(truncate(seq, n_seq + 3), 0);
    cr_assert_eq(semid(&out, "stats %s", w), 1, "%s", out);
    assert_has(out, "sequences.bin: 3 trailing bytes");
    free(out);
    cr_assert_eq(truncate(seq, n_seq), 0);
    cr_assert_eq(truncate(split, n_split - 12), 0);
    cr_assert_eq(semid(&out, "stats %s", w), 1, "%s", out);
    assert_has(out, "split.bin: truncated:");
    free(out);
    free(seq);
    free(split);
}

/* ---- item 8 and 10: NUL characters and repeated keys in JSONL lines ---- */

static int prep_generic(char **out, const char *d, const char *items, const char *inter, const char *extra) {
    return semid(out, "prep --format generic --items %s/%s --interactions %s/%s -o %s/w %s", d, items, d, inter, d,
                 extra);
}

Test(loader_bounds, nul_in_a_jsonl_string_is_a_counted_bad_line) {
    char d[512];
    sd_test_tmpdir(d, sizeof d);
    /* line 2: \u0000 escape; line 3: a raw NUL byte; line 4: a literal backslash then u0000 (fine) */
    static const char items[] = "{\"id\": \"a\", \"title\": \"Alpha\"}\n"
                                "{\"id\": \"b\", \"title\": \"Be\\u0000ta\"}\n"
                                "{\"id\": \"c\", \"title\": \"Ga\0mma\"}\n"
                                "{\"id\": \"d\", \"title\": \"back\\\\u0000slash\"}\n";
    free(put(d, "items.jsonl", items, sizeof items - 1));
    free(PUT(d, "inter.jsonl", "{\"user\": \"u\", \"item\": \"a\", \"timestamp\": 1}\n"
                               "{\"user\": \"u\", \"item\": \"d\", \"timestamp\": 2}\n"));
    char *out = NULL;
    cr_assert_eq(prep_generic(&out, d, "items.jsonl", "inter.jsonl", ""), 0, "%s", out);
    assert_has(out, "items.jsonl:2: \\u0000 (a NUL character) in a string at column 25");
    assert_has(out, "items.jsonl:3: raw NUL byte at column 25");
    assert_has(out, "2 bad, skipped");
    free(out);
    char *p = sd_path_join(d, "w/items.jsonl"), *text = NULL;
    size_t n;
    cr_assert_eq(sd_read_file(p, &text, &n, NULL), 0);
    assert_has(text, "back\\\\u0000slash");
    cr_assert_null(strstr(text, "Be"), "the cut title was kept:\n%s", text);
    free(text);
    free(p);
    cr_assert_eq(prep_generic(&out, d, "items.jsonl", "inter.jsonl", "--strict"), 1, "%s", out);
    assert_has(out, "items.jsonl:2: \\u0000");
    free(out);
}

Test(loader_bounds, a_key_twice_in_a_jsonl_line_is_a_bad_line) {
    char d[512];
    sd_test_tmpdir(d, sizeof d);
    free(PUT(d, "items.jsonl", "{\"id\": \"a\", \"title\": \"Alpha\"}\n"
                               "{\"id\": \"b\", \"title\": \"Beta\", \"title\": \"Other\"}\n"));
    free(PUT(d, "inter.jsonl", "{\"user\": \"u\", \"item\": \"a\", \"timestamp\": 1, \"timestamp\": 5}\n"
                               "{\"user\": \"u\", \"item\": \"a\", \"timestamp\": 2}\n"));
    char *out = NULL;
    cr_assert_eq(prep_generic(&out, d, "items.jsonl", "inter.jsonl", "--strict"), 1, "%s", out);
    assert_has(out, "items.jsonl:2: key \"title\" appears twice");
    free(out);
    cr_assert_eq(prep_generic(&out, d, "items.jsonl", "inter.jsonl", ""), 0, "%s", out);
    assert_has(out, "inter.jsonl:1: key \"timestamp\" appears twice");
    free(out);
}

/* ---- item 11: repeats counted, or kept ---- */

/* meta.json's SECTION.KEY as a number (true 1, false 0). */
static double meta_number(const char *path, const char *section, const char *key) {
    cJSON *j = NULL;
    sd_err err = {0};
    cr_assert_eq(sd_json_read_file(path, &j, &err), 0, "%s", err.msg);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, section), key);
    cr_assert(cJSON_IsNumber(v) || cJSON_IsBool(v), "%s: no %s.%s", path, section, key);
    double x = cJSON_IsBool(v) ? cJSON_IsTrue(v) : v->valuedouble;
    cJSON_Delete(j);
    return x;
}

Test(loader_bounds, repeats_are_counted_and_kept_on_request) {
    char d[512];
    sd_test_tmpdir(d, sizeof d);
    free(PUT(d, "items.jsonl", "{\"id\": \"a\", \"title\": \"Alpha\"}\n{\"id\": \"b\", \"title\": \"Beta\"}\n"));
    free(PUT(d, "inter.csv", "user,item,timestamp\nu,a,1\nu,b,2\nu,a,3\nu,a,4\nv,b,1\nv,b,2\n"));
    char *out = NULL;
    cr_assert_eq(prep_generic(&out, d, "items.jsonl", "inter.csv", "--min-user-items 1"), 0, "%s", out);
    assert_has(out, "repeats        3 repeated items dropped");
    assert_has(out, "interactions   3\n");
    free(out);
    char *meta = sd_path_join(d, "w/meta.json");
    cr_assert_eq(meta_number(meta, "prep", "repeats_dropped"), 3);
    cr_assert_eq(meta_number(meta, "filters", "keep_repeats"), 0);
    cr_assert_eq(prep_generic(&out, d, "items.jsonl", "inter.csv", "--min-user-items 1 --keep-repeats"), 0, "%s", out);
    assert_has(out, "interactions   6\n");
    assert_has(out, "repeats        kept");
    free(out);
    cr_assert_eq(meta_number(meta, "filters", "keep_repeats"), 1);
    cr_assert_eq(meta_number(meta, "prep", "repeats_dropped"), 0);
    sd_work wk;
    sd_err err = {0};
    char *wd = sd_path_join(d, "w");
    cr_assert_eq(sd_work_load(&wk, wd, &err), 0, "%s", err.msg);
    /* user u in time order: a b a a */
    cr_assert_eq(sd_seq_len(&wk.seq, 0), 4);
    const int32_t *it = sd_seq_items(&wk.seq, 0);
    cr_assert(it[0] == 0 && it[1] == 1 && it[2] == 0 && it[3] == 0);
    sd_work_free(&wk);
    free(wd);
    free(meta);
}

/* ---- item 12: meta.json is checked ---- */

Test(loader_bounds, a_corrupt_or_stale_meta_json_is_refused) {
    char d[512], w[600];
    sd_test_tmpdir(d, sizeof d);
    snprintf(w, sizeof w, "%s/w", d);
    synth(w);
    static const struct { const char *meta; int rc; const char *says; } cases[] = {
        {"{\"semid\": \"0.1.0\", \"format\": \"synth\", \"items\": 100,", 1, "meta.json:1:"},
        {"{\"semid\": \"0.1.0\", \"format\": \"synth\", \"items\": 101}", 1,
         "meta.json: \"items\" is 101 but the work directory holds 100"},
        {"[1, 2]", 1, "meta.json: expected a JSON object, found array"},
        {"{\"semid\": \"0.1.0\", \"format\": 7}", 1, "\"format\""},
        {"{\"semid\": \"0.1.0\", \"format\": \"synth\", \"items\": 100, \"users\": 40}", 0, "items"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *out = NULL;
        free(put(w, "meta.json", cases[i].meta, strlen(cases[i].meta)));
        int rc = semid(&out, "stats %s", w);
        cr_assert_eq(rc, cases[i].rc, "case %zu: exit %d: %s", i, rc, out);
        assert_has(out, cases[i].says);
        free(out);
    }
}

/* ---- item 7: sids.tsv rows are the catalogue's items ---- */

Test(loader_bounds, an_edited_ext_id_in_sids_tsv_is_refused) {
    char d[512], w[600];
    sd_test_tmpdir(d, sizeof d);
    snprintf(w, sizeof w, "%s/w", d);
    synth(w);
    char *out = NULL;
    cr_assert_eq(semid(&out, "embed %s --dim 8 --quiet", w), 0, "%s", out);
    free(out);
    cr_assert_eq(semid(&out, "ids %s --levels 2 --codes 8 --quiet", w), 0, "%s", out);
    free(out);
    sd_work wk;
    sd_err err = {0};
    cr_assert_eq(sd_work_load(&wk, w, &err), 0, "%s", err.msg);
    char *tsv = sd_path_join(w, "sids.tsv"), *text = NULL;
    size_t n;
    sd_sid_codes c;
    cr_assert_eq(sd_sid_codes_read(&c, tsv, wk.cat, &err), 0, "%s", err.msg);
    sd_sid_codes_free(&c);
    /* rename row 3's item (no set record, as if the table came from elsewhere) */
    char *rec = sd_path_join(w, "ids_set.json");
    remove(rec);
    cr_assert_eq(sd_read_file(tsv, &text, &n, NULL), 0);
    const char *id = wk.cat->items[2].ext_id;
    char needle[128];
    snprintf(needle, sizeof needle, "\n2\t%s\t", id);
    char *at = strstr(text, needle);
    cr_assert(at, "row 2 not found");
    at[3] = at[3] == 'Z' ? 'Y' : 'Z';
    FILE *f = fopen(tsv, "wb");
    fwrite(text, 1, n, f);
    fclose(f);
    free(text);
    cr_assert_neq(sd_sid_codes_read(&c, tsv, wk.cat, &err), 0, "an edited ext_id was accepted");
    assert_has(err.msg, "sids.tsv:4: ext_id");
    cr_assert_eq(semid(&out, "sasrec %s --sid --epochs 1 --quiet", w), 1, "%s", out);
    assert_has(out, "sids.tsv:4: ext_id");
    free(out);
    sd_work_free(&wk);
    free(tsv);
    free(rec);
}

/* ---- messages: an id too large is out of range, not "not an integer" ---- */

Test(loader_bounds, too_large_ids_are_out_of_range) {
    char d[512];
    sd_test_tmpdir(d, sizeof d);
    char *ml = sd_path_join(d, "ml");
    cr_assert_eq(sd_mkdir_p(ml, NULL), 0);
    free(PUT(ml, "movies.csv", "movieId,title,genres\n1,Heat (1995),Action\n99999999999999999999,Big (1988),Comedy\n"
                               "12x,Bad (1990),Drama\n"));
    free(PUT(ml, "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,100\n1,1,3.0,99999999999999999999\n"));
    char *out = NULL;
    cr_assert_eq(semid(&out, "prep --format movielens --dir %s -o %s/w", ml, d), 0, "%s", out);
    assert_has(out, "movies.csv:3: field 1 (movieId): \"99999999999999999999\" is out of range");
    assert_has(out, "movies.csv:4: field 1 (movieId): \"12x\" is not an integer");
    assert_has(out, "ratings.csv:3: field 4 (timestamp): \"99999999999999999999\" is out of range");
    free(out);
    free(PUT(d, "items.jsonl", "{\"id\": \"a\", \"title\": \"Alpha\"}\n"));
    free(PUT(d, "inter.csv", "user,item,timestamp\nu,a,1\nu,a,18446744073709551616\n"));
    cr_assert_eq(prep_generic(&out, d, "items.jsonl", "inter.csv", "--strict"), 1, "%s", out);
    assert_has(out, "inter.csv:3: \"timestamp\" is out of range");
    free(out);
    free(ml);
}
