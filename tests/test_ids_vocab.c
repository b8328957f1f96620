/* The semantic-ID vocabulary (ids/sid_vocab.h): its file, its lookups for fine-tuning and
 * constrained decoding, and its readers (`semid extend --work`, SID-SASRec). */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/file.h"
#include "ids/sid_set.h"
#include "ids/sid_table.h"
#include "ids/sid_vocab.h"
#include "ids_fixture.h"
#include "lm/qwen3.h"
#include "test_util.h"
#include "text/tokenizer.h"

/* semid with the given arguments, quietly (test_util.h). */
#define semid(out, fmt, ...) sd_test_semid(out, fmt " --quiet", ##__VA_ARGS__)

static void put(const char *p, const char *text) {
    FILE *f = fopen(p, "w");
    cr_assert(f, "%s", p);
    fputs(text, f);
    fclose(f);
}

static char *slurp(const char *p) {
    char *d = NULL;
    size_t n;
    cr_assert_eq(sd_read_file(p, &d, &n, NULL), 0, "%s unreadable", p);
    return d;
}

/* five items, two semantic levels of K = 4: (1,2) is shared by three items, so the uniqueness
 * level holds 0, 1, 2 there */
static const int32_t SEM[] = {1, 2, /**/ 0, 3, /**/ 1, 2, /**/ 3, 0, /**/ 1, 2};

static void make_table(sd_sid_table *t) {
    sd_err err = {0};
    cr_assert_eq(sd_sid_table_make(SEM, 5, 2, 4, NULL, SD_COLLIDE_ERROR, t, NULL, &err), 0, "%s", err.msg);
}

Test(sid_vocab, file_round_trip) {
    char d[256]; sd_test_tmpdir(d, sizeof d);
    char *path = sd_path_join(d, "sid_vocab.json");
    sd_sid_table t;
    make_table(&t);
    sd_sid_vocab v, r;
    sd_err err = {0};
    cr_assert_eq(sd_sid_vocab_from_table(&v, &t, &err), 0, "%s", err.msg);
    cr_assert_eq(v.levels, 2); cr_assert_eq(v.n_levels, 3); cr_assert_eq(v.n_items, 5);
    cr_assert_eq(v.offset[1], 4); cr_assert_eq(v.offset[2], 8); cr_assert_eq(v.offset[3], 12);
    cr_assert_eq(sd_sid_vocab_write(&v, path, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_sid_vocab_read(&r, path, &err), 0, "%s", err.msg);
    cr_assert_eq(r.levels, v.levels); cr_assert_eq(r.n_levels, v.n_levels); cr_assert_eq(r.n_items, v.n_items);
    for (int l = 0; l <= v.n_levels; l++) cr_assert_eq(r.offset[l], v.offset[l], "offset %d", l);
    for (int l = 0; l < v.n_levels; l++) cr_assert_eq(r.K[l], 4);
    cr_assert_eq(r.first_id, -1, "no tokenizer ids before binding");
    /* the file read back takes the table and answers as the one made from it */
    cr_assert_eq(sd_sid_vocab_attach(&r, &t, "table", path, &err), 0, "%s", err.msg);
    cr_assert_eq(r.trie.n_nodes, v.trie.n_nodes);
    cr_assert_eq(sd_sid_vocab_used(&r, 2), 3, "uniqueness codes 0..2 in use");
    /* writing the one read gives the same bytes */
    char *a = slurp(path), *p2 = sd_path_join(d, "again.json");
    cr_assert_eq(sd_sid_vocab_write(&r, p2, &err), 0, "%s", err.msg);
    char *b = slurp(p2);
    cr_assert_str_eq(a, b);
    /* a table of other sizes does not attach, naming the field */
    sd_sid_table t2;
    cr_assert_eq(sd_sid_table_make(SEM, 5, 2, 5, NULL, SD_COLLIDE_ERROR, &t2, NULL, &err), 0, "%s", err.msg);
    cr_assert_neq(sd_sid_vocab_attach(&r, &t2, "other", path, &err), 0);
    cr_assert(strstr(err.msg, "other") && strstr(err.msg, path) && strstr(err.msg, "\"codes\"[0]"), "%s", err.msg);
    sd_sid_table_free(&t2);
    free(a); free(b); free(p2);
    sd_sid_vocab_free(&r);
    sd_sid_vocab_free(&v);
    sd_sid_table_free(&t);
    free(path);
}

/* Every field is checked: each corruption is refused with the file and the field named. */
Test(sid_vocab, corrupt_file_names_file_and_field) {
    char d[256]; sd_test_tmpdir(d, sizeof d);
    char *path = sd_path_join(d, "sid_vocab.json");
    static const char *const good =
        "{\"format\": \"semid-sid-vocab\", \"version\": 1, \"items\": 5, \"levels\": 2, \"codes_per_item\": 3,\n"
        " \"codes\": [4, 4, 4], \"offsets\": [0, 4, 8], \"sid_tokens\": 12,\n"
        " \"start\": \"<|sid_start|>\", \"end\": \"<|sid_end|>\", \"rec\": \"<|rec|>\"}\n";
    struct { const char *from, *to, *want; } cases[] = {
        {"\"version\": 1", "\"version\": 2", "\"version\""},
        {"\"format\": \"semid-sid-vocab\"", "\"format\": \"other\"", "\"format\""},
        {"\"items\": 5, ", "", "\"items\""},
        {"\"levels\": 2", "\"levels\": 3", "\"levels\""},
        {"\"levels\": 2", "\"levels\": \"2\"", "\"levels\""},
        {"\"codes_per_item\": 3", "\"codes_per_item\": 1", "\"codes_per_item\""},
        {"[4, 4, 4]", "[4, 4]", "\"codes\""},
        {"[4, 4, 4]", "[4, 1, 4]", "\"codes\"[1]"},
        {"[4, 4, 4]", "[4, 4.5, 4]", "\"codes\"[1]"},
        {"[0, 4, 8]", "[0, 4, 9]", "\"offsets\"[2]"},
        {"\"sid_tokens\": 12", "\"sid_tokens\": 13", "\"sid_tokens\""},
        {"\"<|sid_end|>\"", "\"<|end|>\"", "\"end\""},
        {"\"rec\": \"<|rec|>\"}", "\"rec\": \"<|rec|>\",}", "invalid JSON"},
    };
    sd_sid_vocab v;
    sd_err err = {0};
    put(path, good);
    cr_assert_eq(sd_sid_vocab_read(&v, path, &err), 0, "%s", err.msg);
    sd_sid_vocab_free(&v);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[1024];
        const char *at = strstr(good, cases[i].from);
        cr_assert(at, "case %zu", i);
        snprintf(text, sizeof text, "%.*s%s%s", (int)(at - good), good, cases[i].to, at + strlen(cases[i].from));
        put(path, text);
        err.msg[0] = 0;
        cr_assert_neq(sd_sid_vocab_read(&v, path, &err), 0, "case %zu accepted: %s", i, text);
        cr_assert(strstr(err.msg, path) && strstr(err.msg, cases[i].want), "case %zu: %s", i, err.msg);
    }
    free(path);
}

/* Constrained decoding: the allowed next tokens after a few prefixes, and item <-> token ids. */
Test(sid_vocab, trie_allowed_next_and_item_lookup) {
    sd_sid_table t;
    make_table(&t);
    sd_sid_vocab v;
    sd_err err = {0};
    cr_assert_eq(sd_sid_vocab_from_table(&v, &t, &err), 0, "%s", err.msg);
    int32_t next[8], ids[8];
    cr_assert_eq(sd_sid_vocab_next(&v, NULL, 0, next), -1, "no ids bound yet");
    const int32_t F = 1000, START = 997, END = 998, REC = 999;
    sd_sid_vocab_bind(&v, F, START, END, REC);
    /* after <|sid_start|>: the first codes in use, 0, 1, 3 -> <|sid_0|>, <|sid_1|>, <|sid_3|> */
    cr_assert_eq(sd_sid_vocab_next(&v, NULL, 0, next), 3);
    cr_assert_eq(next[0], F + 0); cr_assert_eq(next[1], F + 1); cr_assert_eq(next[2], F + 3);
    /* after (1): only 2, a level-1 token: <|sid_{4 + 2}|> */
    int32_t p1[] = {F + 1};
    cr_assert_eq(sd_sid_vocab_next(&v, p1, 1, next), 1);
    cr_assert_eq(next[0], F + 6);
    /* after (1, 2): the three uniqueness codes, level-2 tokens <|sid_8|> .. <|sid_10|> */
    int32_t p2[] = {F + 1, F + 6};
    cr_assert_eq(sd_sid_vocab_next(&v, p2, 2, next), 3);
    for (int i = 0; i < 3; i++) cr_assert_eq(next[i], F + 8 + i);
    /* a full sequence: only <|sid_end|> */
    int32_t p3[] = {F + 1, F + 6, F + 9};
    cr_assert_eq(sd_sid_vocab_next(&v, p3, 3, next), 1);
    cr_assert_eq(next[0], END);
    /* no item starts with (2); a level-1 token in the first place is no prefix either */
    int32_t bad1[] = {F + 2}, bad2[] = {F + 6};
    cr_assert_eq(sd_sid_vocab_next(&v, bad1, 1, next), -1);
    cr_assert_eq(sd_sid_vocab_next(&v, bad2, 1, next), -1);
    /* item -> token ids -> item, for every item, with and without the wrapping tokens */
    for (int32_t i = 0; i < 5; i++) {
        cr_assert_eq(sd_sid_vocab_item_tokens(&v, i, ids), 5);
        cr_assert_eq(ids[0], START); cr_assert_eq(ids[4], END);
        for (int l = 0; l < 3; l++) cr_assert_eq(ids[1 + l], F + v.offset[l] + t.codes[i * 3 + l]);
        cr_assert_eq(sd_sid_vocab_tokens_item(&v, ids, 5), i);
        cr_assert_eq(sd_sid_vocab_tokens_item(&v, ids + 1, 3), i);
        int lv; int32_t c;
        cr_assert_eq(sd_sid_vocab_code_of(&v, ids[3] - F, &lv, &c), 0);
        cr_assert_eq(lv, 2); cr_assert_eq(c, t.codes[i * 3 + 2]);
    }
    int32_t none[] = {F + 1, F + 6, F + 11};
    cr_assert_eq(sd_sid_vocab_tokens_item(&v, none, 3), -1, "(1, 2, 3) names no item");
    cr_assert_eq(sd_sid_vocab_item_tokens(&v, 5, ids), -1);
    sd_sid_vocab_free(&v);
    sd_sid_table_free(&t);
}

/* A tiny Qwen3 folder saved by semid, with the real Qwen3 tokenizer. */
static void tiny_model(const char *dir) {
    char tok_path[1024];
    snprintf(tok_path, sizeof tok_path, "%s/qwen3_tokenizer.json", sd_test_ref());
    sd_tokenizer *tok;
    sd_err err = {0};
    cr_assert_eq(sd_tok_load(&tok, tok_path, &err), 0, "%s", err.msg);
    sd_qwen3_config c = sd_qwen3_config_default();
    c.hidden_size = 16, c.num_hidden_layers = 1, c.num_attention_heads = 2, c.num_key_value_heads = 1;
    c.head_dim = 8, c.intermediate_size = 32, c.vocab_size = sd_tok_vocab_size(tok);
    sd_qwen3 m;
    cr_assert_eq(sd_qwen3_init(&m, &c, &err), 0, "%s", err.msg);
    sd_qwen3_init_random(&m, 1, 0.5f);
    m.tok = tok;
    cr_assert_eq(sd_qwen3_save(&m, dir, NULL, &err), 0, "%s", err.msg);
    sd_qwen3_free(&m);
}

/* `semid ids` writes the vocabulary into its set; `extend --work` adds exactly its tokens, the
 * uniqueness levels' included, so every token string of sids.tsv is one token of the model;
 * typed sizes that disagree are refused before anything is written. */
Test(sid_vocab, extend_work_agrees_with_sids_tsv, .timeout = 120) {
    char d[256]; sd_test_tmpdir(d, sizeof d);
    char *w = sd_path_join(d, "work"), *model = sd_path_join(d, "model"), *ext = sd_path_join(d, "ext"), *out;
    ids_make_work(w, 200, 3);
    cr_assert_eq(semid(&out, "embed %s --dim 16", w), 0, "%s", out);
    free(out);
    /* 1 level x 4 codes cannot tell 200 items apart with one uniqueness code: more of them */
    cr_assert_eq(semid(&out, "ids %s --levels 1 --codes 4 --max-collision extend-level", w), 0, "%s", out);
    free(out);
    char *vp = sd_path_join(w, "sid_vocab.json"), *rec = sd_path_join(w, "ids_set.json"), *tsv = sd_path_join(w, "sids.tsv");
    char *rtext = slurp(rec);
    cr_assert(strstr(rtext, "\"sid_vocab.json\""), "the set record does not list the vocabulary: %s", rtext);
    free(rtext);
    sd_sid_vocab v;
    sd_err err = {0};
    cr_assert_eq(sd_sid_vocab_open(&v, tsv, NULL, &err), 0, "%s", err.msg);
    sd_sid_table t;
    cr_assert_eq(sd_sid_table_read_tsv(&t, tsv, NULL, 0, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(v.levels, 1);
    cr_assert_eq(v.n_levels, t.n_codes, "the vocabulary has every level of sids.tsv");
    cr_assert_geq(v.n_levels, 3, "1 semantic + at least 2 uniqueness levels");
    int32_t n_sid = v.offset[v.n_levels];
    cr_assert_eq(n_sid, 4 * t.n_codes);
    tiny_model(model);
    sd_tokenizer *tok0;
    char *tj = sd_path_join(model, "tokenizer.json");
    cr_assert_eq(sd_tok_load(&tok0, tj, &err), 0, "%s", err.msg);
    int32_t before = sd_tok_vocab_size(tok0);
    free(tj);
    /* --codes that disagree with WORK's, and --levels counting only the semantic level: refused */
    int rc = semid(&out, "extend --model %s --work %s --codes 8 -o %s", model, w, ext);
    cr_assert_eq(rc, 2, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "--codes 8") && strstr(out, "x 4 codes"), "%s", out);
    free(out);
    rc = semid(&out, "extend --model %s --work %s --levels 1 --codes 4 -o %s", model, w, ext);
    cr_assert_eq(rc, 2, "exit %d: %s", rc, out);
    char want[128];
    snprintf(want, sizeof want, "%d levels (1 semantic + %d uniqueness)", v.n_levels, v.n_levels - 1);
    cr_assert(strstr(out, want), "%s", out);
    free(out);
    cr_assert(!sd_exists(ext), "a refused extend wrote %s", ext);
    /* agreeing sizes are accepted; none at all takes WORK's */
    cr_assert_eq(semid(&out, "extend --model %s --work %s --levels %d --codes 4 -o %s", model, w, v.n_levels, ext), 0,
                 "%s", out);
    free(out);
    cr_assert_eq(semid(&out, "extend --model %s --work %s -o %s", model, w, ext), 0, "%s", out);
    free(out);
    tj = sd_path_join(ext, "tokenizer.json");
    sd_tokenizer *tok;
    cr_assert_eq(sd_tok_load(&tok, tj, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_tok_vocab_size(tok), before + 3 + n_sid);
    int32_t first = sd_tok_token_to_id(tok, "<|sid_0|>");
    cr_assert_geq(first, 0);
    char name[32];
    sd_sid_token_name(name, sizeof name, n_sid);
    cr_assert_lt(sd_tok_token_to_id(tok, name), 0, "%s added beyond the vocabulary", name);
    /* every code token in sids.tsv is one token of the extended model, first + N; the tokenizer
     * splits each item's string into start, one token per level, end */
    cr_assert_eq(sd_qwen3_bind_sid_vocab(tok, &v, ext, &err), 0, "%s", err.msg);
    cr_assert_eq(v.first_id, first);
    cr_assert_eq(v.start_id, sd_tok_token_to_id(tok, "<|sid_start|>"));
    cr_assert_eq(v.end_id, sd_tok_token_to_id(tok, "<|sid_end|>"));
    cr_assert_eq(v.rec_id, sd_tok_token_to_id(tok, "<|rec|>"));
    /* a vocabulary of more tokens than the folder has is refused, naming the folder */
    sd_sid_vocab big;
    int32_t K8[SD_SID_MAX_LEVELS];
    for (int l = 0; l < v.n_levels; l++) K8[l] = 8;
    cr_assert_eq(sd_sid_vocab_init(&big, v.levels, v.n_levels, K8, &err), 0, "%s", err.msg);
    cr_assert_neq(sd_qwen3_bind_sid_vocab(tok, &big, ext, &err), 0);
    cr_assert(strstr(err.msg, ext) && strstr(err.msg, "missing"), "%s", err.msg);
    sd_sid_vocab_free(&big);
    /* the folder before extension has none of the tokens */
    sd_sid_vocab plain = v;
    cr_assert_neq(sd_qwen3_bind_sid_vocab(tok0, &plain, model, &err), 0);
    cr_assert(strstr(err.msg, model) && strstr(err.msg, "<|sid_start|>"), "%s", err.msg);
    sd_tok_free(tok0);
    int32_t max_sid = 0;
    for (int32_t i = 0; i < t.n_items; i++) {
        char s[512];
        sd_sid_tokens(&t, i, s, sizeof s);
        sd_ids enc = {0};
        cr_assert_eq(sd_tok_encode(tok, NULL, s, strlen(s), &enc), 0);
        int32_t ids[SD_SID_MAX_LEVELS + 2];
        int m2 = sd_sid_vocab_item_tokens(&v, i, ids);
        cr_assert_eq(m2, v.n_levels + 2);
        cr_assert_eq(enc.n, (size_t)m2, "item %d: %s is %zu tokens", i, s, (size_t)enc.n);
        for (int k = 0; k < m2; k++) cr_assert_eq(enc.v[k], ids[k], "item %d token %d", i, k);
        cr_assert_eq(sd_sid_vocab_tokens_item(&v, enc.v, m2), i);
        for (int k = 1; k < m2 - 1; k++) max_sid = enc.v[k] - first > max_sid ? enc.v[k] - first : max_sid;
        sd_ids_free(&enc);
    }
    cr_assert_geq(max_sid, v.offset[v.n_levels - 1], "no item uses the last uniqueness level");
    sd_sid_table_free(&t);
    sd_tok_free(tok);
    free(tj);
    /* a folder without sids.tsv: the message says which stage to run */
    char *empty = sd_path_join(d, "empty");
    cr_assert_eq(mkdir(empty, 0755), 0);
    rc = semid(&out, "extend --model %s --work %s -o %s/x", model, empty, d);
    cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "semid ids"), "%s", out);
    free(out);
    free(empty);
    sd_sid_vocab_free(&v);
    free(vp); free(rec); free(tsv); free(w); free(model); free(ext);
}

/* The vocabulary is part of the set: one from another run is refused by its readers, naming it;
 * without the record, one that disagrees with sids.tsv is refused by SID-SASRec, naming the field. */
Test(sid_vocab, readers_refuse_a_vocabulary_of_another_table, .timeout = 120) {
    char d[256]; sd_test_tmpdir(d, sizeof d);
    char *w = sd_path_join(d, "work"), *out;
    ids_make_work(w, 200, 3);
    cr_assert_eq(semid(&out, "embed %s --dim 16", w), 0, "%s", out);
    free(out);
    cr_assert_eq(semid(&out, "ids %s --levels 2 --codes 8 --max-collision extend-level", w), 0, "%s", out);
    free(out);
    char *vp = sd_path_join(w, "sid_vocab.json"), *rec = sd_path_join(w, "ids_set.json"), *tsv = sd_path_join(w, "sids.tsv");
    char *old = slurp(vp);
    cr_assert_eq(semid(&out, "ids %s --levels 2 --codes 16 --max-collision extend-level", w), 0, "%s", out);
    free(out);
    put(vp, old);
    sd_sid_vocab v;
    sd_err err = {0};
    cr_assert_neq(sd_sid_vocab_read(&v, vp, &err), 0, "a vocabulary of another run was read");
    cr_assert(strstr(err.msg, "mixed") && strstr(err.msg, vp), "%s", err.msg);
    cr_assert_neq(sd_sid_vocab_open(&v, tsv, NULL, &err), 0);
    cr_assert(strstr(err.msg, "mixed"), "%s", err.msg);
    /* without the record, a vocabulary that disagrees with sids.tsv (twice its K) is named as such */
    cr_assert_eq(semid(&out, "ids %s --levels 2 --codes 8 --max-collision extend-level", w), 0, "%s", out);
    free(out);
    cr_assert_eq(unlink(rec), 0);
    cr_assert_eq(sd_sid_vocab_read(&v, vp, &err), 0, "%s", err.msg);
    for (int l = 0; l < v.n_levels; l++) v.K[l] *= 2;
    int32_t K2[SD_SID_MAX_LEVELS];
    memcpy(K2, v.K, sizeof K2);
    int levels = v.levels, m = v.n_levels, items = v.n_items;
    cr_assert_eq(sd_sid_vocab_init(&v, levels, m, K2, &err), 0, "%s", err.msg);
    v.n_items = items;
    cr_assert_eq(sd_sid_vocab_write(&v, vp, &err), 0, "%s", err.msg);
    sd_sid_vocab_free(&v);
    cr_assert_neq(sd_sid_vocab_open(&v, tsv, NULL, &err), 0);
    cr_assert(strstr(err.msg, tsv) && strstr(err.msg, vp) && strstr(err.msg, "\"codes\"[0]"), "%s", err.msg);
    int rc = semid(&out, "sasrec %s --sid --epochs 1 --no-ckpt", w);
    cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "sid_vocab.json") && strstr(out, "\"codes\"[0]"), "%s", out);
    free(out);
    /* without the vocabulary (files of an older semid) the table alone is read as before */
    cr_assert_eq(unlink(vp), 0);
    cr_assert_eq(sd_sid_vocab_open(&v, tsv, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(v.K[0], 8);
    sd_sid_vocab_free(&v);
    free(old); free(vp); free(rec); free(tsv); free(w);
}
