/* Hostile inputs to the tokenizer.json, JSON, Qwen3-folder and embedding loaders (issue 10): a
 * UTF-8 decoder reading past its buffer, strings that are not UTF-8, duplicate keys, a file cut
 * inside a number, misleading bounds and raw bytes in messages, directories where files belong,
 * unknown dtypes, non-finite weights and empty embeddings. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "base/file.h"
#include "base/finite.h"
#include "base/mem.h"
#include "base/utf8.h"
#include "data/loaders.h"
#include "ids/embfile.h"
#include "ids/rqvae.h"
#include "ids/rqvae_method.h"
#include "ids/sid_method.h"
#include "io/json_util.h"
#include "io/safetensors.h"
#include "lm/qwen3.h"
#include "text/tok_internal.h"
#include "text/tokenizer.h"
#include "test_util.h"

/* ---- sd_utf8_next never reads past its buffer ---- */

/* Decodes bytes copied into a heap block of exactly n bytes (so ASan sees any over-read). */
static size_t next_in_exact_block(const char *bytes, size_t n, int32_t *cp) {
    unsigned char *s = sd_xmalloc(n);
    memcpy(s, bytes, n);
    size_t k = sd_utf8_next(s, n, 0, cp);
    free(s);
    return k;
}

Test(utf8_next, cut_and_bad_sequences_are_one_replacement_char) {
    struct { const char *s; size_t n, len; int32_t cp; } cases[] = {
        {"\xF0\x61", 2, 1, 0xFFFD},      /* the reported crash: 4-byte lead, 1 byte left */
        {"\xF0\x9F\x98", 3, 1, 0xFFFD},  /* 4-byte lead cut by the end */
        {"\xE2\x82", 2, 1, 0xFFFD},      /* 3-byte lead cut by the end */
        {"\xC3", 1, 1, 0xFFFD},          /* 2-byte lead alone */
        {"\x80", 1, 1, 0xFFFD},          /* stray continuation */
        {"\xE2\x41\x41", 3, 1, 0xFFFD},  /* bad continuation */
        {"\xF4\x90\x80\x80", 4, 1, 0xFFFD}, /* above U+10FFFF */
        {"\xF8\x88\x80\x80", 4, 1, 0xFFFD}, /* not a lead byte */
        {"\xF0\x9F\x98\x80", 4, 4, 0x1F600},
        {"\xE2\x82\xAC", 3, 3, 0x20AC},
        {"\xC3\xA9", 2, 2, 0xE9},
        {"a", 1, 1, 'a'},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int32_t cp = -1;
        size_t k = next_in_exact_block(cases[i].s, cases[i].n, &cp);
        cr_assert_eq(k, cases[i].len, "case %zu: length %zu, want %zu", i, k, cases[i].len);
        cr_assert_eq(cp, cases[i].cp, "case %zu: U+%X, want U+%X", i, (unsigned)cp, (unsigned)cases[i].cp);
    }
}

Test(utf8_next, quote_escapes_raw_and_control_bytes) {
    char q[SD_QUOTE_CAP];
    cr_assert_str_eq(sd_quote_bytes(q, sizeof q, "a\xF0" "a\x01\xC3\xA9\x1B[", 8), "a\\xF0a\\x01\xC3\xA9\\x1B[");
    cr_assert_str_eq(sd_quote_bytes(q, sizeof q, "\xC2\x9B", 2), "\\xC2\\x9B"); /* C1 control CSI */
    char longs[200];
    memset(longs, 'x', sizeof longs);
    sd_quote_bytes(q, sizeof q, longs, sizeof longs);
    cr_assert_eq(strlen(q), SD_QUOTE_MAX + 3);
    cr_assert(!strcmp(q + SD_QUOTE_MAX, "..."), "%s", q);
    cr_assert_eq(sd_utf8_invalid_at("ab\xF0" "a", 4), 2);
    cr_assert_eq(sd_utf8_invalid_at("ab\xC3\xA9", 4), 4);
    cr_assert_eq(sd_utf8_invalid_at("\xED\xA0\x80", 3), 0); /* surrogate */
    cr_assert_eq(sd_utf8_invalid_at("\xC0\xAF", 2), 0);     /* overlong */
}

/* ---- tokenizer.json ---- */

static char *tok_json(const char *added, const char *vocab, const char *merges) {
    char pat[512];
    size_t o = 0;
    for (const char *p = SD_QWEN2_PATTERN; *p; p++) { if (*p == '\\') pat[o++] = '\\'; pat[o++] = *p; }
    pat[o] = 0;
    size_t cap = 4096 + strlen(added) + strlen(vocab) + strlen(merges);
    char *s = sd_xmalloc(cap);
    snprintf(s, cap,
             "{\"version\":\"1.0\",\"added_tokens\":[%s],\"normalizer\":{\"type\":\"NFC\"},\n"
             "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"%s\"},"
             "\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"use_regex\":false}]},\n"
             "\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\"},\n\"model\":{\"type\":\"BPE\",\n"
             "\"vocab\":{%s},\n\"merges\":[%s]}}",
             added, pat, vocab, merges);
    return s;
}

#define V3 "\"a\":0,\"b\":1,\"ab\":2"

static void tok_err_len(const char *json, size_t len, const char *want) {
    /* an exact-size heap copy, so an over-read past the end is an ASan error */
    char *copy = sd_xmalloc(len ? len : 1);
    memcpy(copy, json, len);
    sd_tokenizer *t = NULL;
    sd_err err = {0};
    int rc = sd_tok_load_mem(&t, copy, len, "bad.json", &err);
    free(copy);
    if (rc == 0) sd_tok_free(t);
    cr_assert_lt(rc, 0, "loaded although it should fail with \"%s\"", want);
    cr_assert(strstr(err.msg, "bad.json:"), "message names the file: %s", err.msg);
    cr_assert(strstr(err.msg, want), "expected \"%s\" in: %s", want, err.msg);
    for (const unsigned char *p = (const unsigned char *)err.msg; *p; p++)
        cr_assert(*p >= 0x20 && *p < 0x7F, "raw byte 0x%02X in message: %s", *p, err.msg);
}
static void tok_err(const char *added, const char *vocab, const char *merges, const char *want) {
    char *s = tok_json(added, vocab, merges);
    tok_err_len(s, strlen(s), want);
    free(s);
}

static sd_tokenizer *tok_ok(const char *json, size_t len) {
    sd_tokenizer *t = NULL;
    sd_err err = {0};
    cr_assert_eq(sd_tok_load_mem(&t, json, len, "ok.json", &err), 0, "%s", err.msg);
    return t;
}

/* s with the first `old` replaced by `rep` (malloc'd). */
static char *replace_once(const char *s, const char *old, const char *rep) {
    const char *at = strstr(s, old);
    cr_assert(at, "test fixture lacks %s", old);
    char *d = sd_xmalloc(strlen(s) + strlen(rep) + 1);
    memcpy(d, s, (size_t)(at - s));
    strcpy(d + (at - s), rep);
    strcat(d, at + strlen(old));
    return d;
}

Test(tok_hostile, added_content_ending_in_f0_61) {
    /* used to read two bytes past the content in sd_utf8_next, via parse_added */
    tok_err("{\"id\":3,\"content\":\"<x>\xF0\x61\",\"special\":true}", V3, "",
            "added_tokens[0].content: invalid UTF-8 at byte 3 of \"<x>\\xF0a\"");
    tok_err("{\"id\":3,\"content\":\"\xF0\",\"special\":true}", V3, "", "added_tokens[0].content: invalid UTF-8 at byte 0");
    /* with an escape the string goes through the scratch copy: validated there too */
    tok_err("{\"id\":3,\"content\":\"\\n\xE2\x82\",\"special\":true}", V3, "", "added_tokens[0].content: invalid UTF-8 at byte 1");
}

Test(tok_hostile, vocab_and_merges_must_be_utf8) {
    tok_err("", "\"a\":0,\"b\xC0\xAF\":1", "", "model.vocab: invalid UTF-8 at byte 1 of \"b\\xC0\\xAF\"");
    tok_err("", V3, "\"a b\", \"a \xFF\"", "model.merges[1]: invalid UTF-8 at byte 2");
    tok_err("", V3, "[\"a\", \"\xED\xA0\x80\"]", "model.merges[0]: invalid UTF-8 at byte 0");
    /* configuration objects (read through cJSON) too */
    char *base = tok_json("", V3, "");
    char *bad = replace_once(base, "{\"type\":\"NFC\"}", "{\"type\":\"NF\xC3\"}");
    tok_err_len(bad, strlen(bad), "normalizer: invalid UTF-8 (byte \\xC3)");
    free(bad);
    free(base);
    /* well-formed non-ASCII still loads */
    char *s = tok_json("{\"id\":3,\"content\":\"<\xC3\xA9>\"}", V3, "\"a b\"");
    sd_tokenizer *t = tok_ok(s, strlen(s));
    cr_assert_eq(sd_tok_token_to_id(t, "<\xC3\xA9>"), 3);
    sd_tok_free(t);
    free(s);
}

Test(tok_hostile, cut_inside_a_number) {
    /* cut after the "1" of 19: used to read as id 1 and report "duplicate id 1" */
    char *s = tok_json("", "\"a\":0,\"b\":1,\"c\":19", "");
    const char *at = strstr(s, "\"c\":19");
    tok_err_len(s, (size_t)(at - s) + 5, "unexpected end of file inside a number");
    free(s);
}

Test(tok_hostile, line_and_column_in_messages) {
    char *s = tok_json("", "\"a\":0,\"b\":1,\n  \"c\":1", "");
    tok_err_len(s, strlen(s), "bad.json:6:7: model.vocab: duplicate id 1");
    free(s);
}

Test(tok_hostile, id_bounds_quote_the_vocabulary_size) {
    /* the bound used to be the file's length ("[0, 4807)") for a 3-token vocabulary */
    tok_err("", "\"a\":0,\"b\":1,\"c\":16000000", "", "id 16000000 out of range: model.vocab has 3 tokens");
    tok_err("{\"id\":12000000,\"content\":\"<x>\"}", V3, "",
            "added_tokens[0]: id 12000000 out of range: model.vocab has 3 tokens, added_tokens 1");
    tok_err("", "\"a\":0,\"b\":4294967296", "", "id 4294967296 out of range: model.vocab has 2 tokens");
    tok_err("", "\"a\":-4294967296", "", "id -4294967296 out of range (ids are >= 0)");
    char *s = tok_json("", "\"a\":0,\"b\":16000000", "");
    cr_assert_null(strstr(s, "[0, "));
    free(s);
}

Test(tok_hostile, byte_order_mark_and_raw_bytes) {
    char *s = tok_json("", V3, "\"a b\"");
    size_t n = strlen(s);
    char *b = sd_xmalloc(n + 3);
    memcpy(b, "\xEF\xBB\xBF", 3);
    memcpy(b + 3, s, n);
    sd_tokenizer *t = tok_ok(b, n + 3);
    cr_assert_eq(sd_tok_token_to_id(t, "ab"), 2);
    sd_tok_free(t);
    /* a byte order mark anywhere else, and other raw bytes, are quoted escaped */
    b[0] = ' ';
    tok_err_len(b, n + 3, "expected '{', found '\\xBB'");
    tok_err_len("\x01{}", 3, "expected '{', found '\\x01'");
    tok_err_len("{\"x\":\x1B[31m}", 11, "unexpected character '\\x1B'");
    tok_err("", "\"a\\u001b[2J\":0,\"a\\u001b[2J\":1", "", "duplicate token \"a\\x1B[2J\"");
    free(b);
    free(s);
}

Test(tok_hostile, duplicate_keys) {
    char *s = tok_json("", V3, "");
    /* a second top-level "model" */
    size_t n = strlen(s);
    char *d = sd_xmalloc(n + 64);
    memcpy(d, s, n - 1);
    strcpy(d + n - 1, ",\"model\":{}}");
    tok_err_len(d, strlen(d), "tokenizer: duplicate key \"model\"");
    free(d);
    free(s);
    tok_err("{\"id\":3,\"content\":\"<x>\",\"content\":\"<y>\"}", V3, "", "added_tokens[0]: duplicate key \"content\"");
    tok_err("{\"id\":3,\"id\":4,\"content\":\"<x>\"}", V3, "", "added_tokens[0]: duplicate key \"id\"");
    /* "model" repeats "vocab": refused before the second table is read */
    s = tok_json("", V3, "");
    char *v = strstr(s, "\"vocab\"");
    size_t pre = (size_t)(v - s);
    d = sd_xmalloc(strlen(s) + 64);
    memcpy(d, s, pre);
    strcpy(d + pre, "\"vocab\":{\"x\":0},");
    strcat(d, v);
    tok_err_len(d, strlen(d), "model: duplicate key \"vocab\"");
    free(d);
    free(s);
    /* in a configuration object read through cJSON */
    s = tok_json("", V3, "");
    char *nf = strstr(s, "{\"type\":\"NFC\"}");
    d = sd_xmalloc(strlen(s) + 64);
    memcpy(d, s, (size_t)(nf - s));
    strcpy(d + (nf - s), "{\"type\":\"NFC\",\"type\":\"NFC\"}");
    strcat(d, nf + strlen("{\"type\":\"NFC\"}"));
    tok_err_len(d, strlen(d), "normalizer: duplicate key \"type\"");
    free(d);
    free(s);
}

Test(tok_hostile, directory_is_named_as_such) {
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    sd_tokenizer *t = NULL;
    sd_err err = {0};
    cr_assert_lt(sd_tok_load(&t, dir, &err), 0);
    cr_assert(strstr(err.msg, "is a directory"), "%s", err.msg);
}

/* ---- JSON files (config.json and friends) ---- */

static void json_err(const char *text, const char *want) {
    cJSON *j = NULL;
    sd_err err = {0};
    int rc = sd_json_parse(text, strlen(text), "config.json", &j, &err);
    cJSON_Delete(j);
    cr_assert_lt(rc, 0, "parsed: %s", text);
    cr_assert(strstr(err.msg, "config.json"), "%s", err.msg);
    cr_assert(strstr(err.msg, want), "expected \"%s\" in: %s", want, err.msg);
    for (const unsigned char *p = (const unsigned char *)err.msg; *p; p++)
        cr_assert(*p >= 0x20 && *p < 0x7F, "raw byte 0x%02X in message: %s", *p, err.msg);
}

Test(json_hostile, duplicate_keys_are_refused) {
    json_err("{\"hidden_size\": 32, \"vocab_size\": 9, \"hidden_size\": 64}",
             "key \"hidden_size\" appears twice in the top-level object");
    json_err("{\"a\": {\"b\": 1, \"b\": 2}}", "key \"b\" appears twice in \"a\"");
    json_err("{\"a\": [{\"x\": 1}, {\"y\": {\"x\": 1, \"x\": 1}}]}", "key \"x\" appears twice in \"a\"[1].\"y\"");
    json_err("{\"\\u001b\": 1, \"\\u001b\": 2}", "key \"\\x1B\" appears twice");
    /* many distinct keys, and equal keys in different objects, are fine */
    char *big = sd_xmalloc(1 << 16);
    size_t o = (size_t)sprintf(big, "{");
    for (int i = 0; i < 3000; i++) o += (size_t)sprintf(big + o, "%s\"k%d\": {\"x\": %d}", i ? "," : "", i, i);
    strcpy(big + o, "}");
    cJSON *j = NULL;
    sd_err err = {0};
    cr_assert_eq(sd_json_parse(big, strlen(big), "big.json", &j, &err), 0, "%s", err.msg);
    cJSON_Delete(j);
    free(big);
}

Test(json_hostile, utf8_and_raw_bytes) {
    json_err("{\"a\": 1,\n \"b\": \"x\xF0\x61\"}", "config.json:2:9: invalid JSON: not UTF-8 (byte \\xF0)");
    json_err("{\"a\": 1} \x1B[31m", "invalid JSON near '\\x1B[31m'");
}

Test(json_hostile, directory_and_bom) {
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    char *sub = sd_path_join(dir, "config.json");
    cr_assert_eq(mkdir(sub, 0755), 0);
    cJSON *j = NULL;
    sd_err err = {0};
    cr_assert_lt(sd_json_read_file(sub, &j, &err), 0);
    cr_assert(strstr(err.msg, "config.json: is a directory"), "%s", err.msg);
    free(sub);
    char *p = sd_path_join(dir, "bom.json");
    cr_assert_eq(sd_write_file_atomic(p, "\xEF\xBB\xBF{\"a\": 1}", 11, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_json_read_file(p, &j, &err), 0, "%s", err.msg);
    cJSON_Delete(j);
    free(p);
}

/* ---- Qwen3 folders ---- */

#define QGOOD "\"hidden_size\": 32, \"num_hidden_layers\": 2, \"intermediate_size\": 40, \"vocab_size\": 300, " \
              "\"num_attention_heads\": 4"

static int config_rc(const char *json, sd_err *err) {
    cJSON *j = cJSON_Parse(json);
    cr_assert(j, "test JSON: %s", json);
    sd_qwen3_config c;
    int rc = sd_qwen3_config_parse(&c, j, "cfg.json", err);
    cJSON_Delete(j);
    return rc;
}

Test(qwen3_hostile, unknown_dtype_is_refused) {
    sd_err err = {0};
    cr_assert_lt(config_rc("{" QGOOD ", \"torch_dtype\": \"float128\"}", &err), 0, "float128 accepted");
    cr_assert(strstr(err.msg, "cfg.json: \"torch_dtype\" \"float128\" is not supported (expected float32, bfloat16 or float16)"),
              "%s", err.msg);
    cr_assert_lt(config_rc("{" QGOOD ", \"dtype\": \"int8\"}", &err), 0, "int8 accepted");
    cr_assert(strstr(err.msg, "\"dtype\" \"int8\""), "%s", err.msg);
    const char *ok[] = {"float32", "bfloat16", "float16"};
    for (int i = 0; i < 3; i++) {
        char js[512];
        snprintf(js, sizeof js, "{" QGOOD ", \"torch_dtype\": \"%s\"}", ok[i]);
        cr_assert_eq(config_rc(js, &err), 0, "%s: %s", ok[i], err.msg);
    }
    cr_assert_eq(config_rc("{" QGOOD "}", &err), 0, "%s", err.msg);
    cr_assert_eq(config_rc("{" QGOOD ", \"torch_dtype\": null}", &err), 0, "%s", err.msg);
}

/* A copy of reference folder A with weight `view`[flat index at] set to v. */
static void poisoned_copy(char *out, size_t n, int view, size_t at, float v) {
    char tmp[256], src[512], cmd[2048];
    sd_test_tmpdir(tmp, sizeof tmp);
    snprintf(src, sizeof src, "%s/qwen3/A", sd_test_ref());
    snprintf(out, n, "%s/A", tmp);
    snprintf(cmd, sizeof cmd, "cp -r %s %s", src, out);
    cr_assert_eq(sd_test_run(cmd, NULL), 0);
    sd_qwen3 m;
    sd_err err = {0};
    cr_assert_eq(sd_qwen3_load(&m, out, &err), 0, "%s", err.msg);
    sd_params_ptr(&m.p, view)[at] = v;
    sd_st_writer *w = sd_st_writer_new();
    for (int i = 0; i < m.p.n_views; i++) {
        const sd_view *vw = &m.p.views[i];
        cr_assert_eq(sd_st_writer_add_f32(w, vw->name, vw->ndim, vw->shape, sd_params_ptr(&m.p, i), SD_DT_F32, &err), 0,
                     "%s", err.msg);
    }
    char *path = sd_path_join(out, "model.safetensors");
    cr_assert_eq(sd_st_writer_write(w, path, &err), 0, "%s", err.msg);
    free(path);
    sd_st_writer_free(w);
    sd_qwen3_free(&m);
}

Test(qwen3_hostile, non_finite_weight_is_named) {
    char dir[512];
    sd_qwen3 m;
    sd_err err = {0};
    /* find a 2-D view to poison, and a 1-D one */
    char src[512];
    snprintf(src, sizeof src, "%s/qwen3/A", sd_test_ref());
    cr_assert_eq(sd_qwen3_load(&m, src, &err), 0, "%s", err.msg);
    int v2 = -1, v1 = -1;
    for (int i = 0; i < m.p.n_views; i++) {
        if (m.p.views[i].ndim == 2 && v2 < 0 && i > 0) v2 = i;
        if (m.p.views[i].ndim == 1 && v1 < 0) v1 = i;
    }
    cr_assert(v2 >= 0 && v1 >= 0);
    char name2[256], name1[256];
    snprintf(name2, sizeof name2, "\"%s\" holds NaN at [2, 5]", m.p.views[v2].name);
    snprintf(name1, sizeof name1, "\"%s\" holds -Inf at [3]", m.p.views[v1].name);
    size_t at2 = 2 * (size_t)m.p.views[v2].shape[1] + 5;
    sd_qwen3_free(&m);

    poisoned_copy(dir, sizeof dir, v2, at2, NAN);
    cr_assert_lt(sd_qwen3_load(&m, dir, &err), 0, "a NaN weight loaded");
    cr_assert(strstr(err.msg, "model.safetensors") && strstr(err.msg, name2), "%s (want %s)", err.msg, name2);
    /* the commands that load a model exit 1 and write nothing */
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s extend --model %s --levels 1 --codes 2 -o %s/ext", sd_test_bin(), dir, dir);
    cr_assert_eq(sd_test_run(cmd, &out), 1, "%s", out);
    cr_assert(strstr(out, "holds NaN"), "%s", out);
    free(out);
    char ext[600];
    snprintf(ext, sizeof ext, "%s/ext", dir);
    cr_assert(!sd_exists(ext), "extend wrote %s", ext);
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt hi --max-new-tokens 2", sd_test_bin(), dir);
    cr_assert_eq(sd_test_run(cmd, &out), 1, "%s", out);
    free(out);

    poisoned_copy(dir, sizeof dir, v1, 3, -INFINITY);
    cr_assert_lt(sd_qwen3_load(&m, dir, &err), 0, "an Inf weight loaded");
    cr_assert(strstr(err.msg, name1), "%s (want %s)", err.msg, name1);
}

Test(qwen3_hostile, config_json_directory) {
    char tmp[256], src[512], cmd[2048];
    sd_test_tmpdir(tmp, sizeof tmp);
    snprintf(src, sizeof src, "%s/qwen3/A", sd_test_ref());
    snprintf(cmd, sizeof cmd, "cp -r %s %s/A && rm %s/A/config.json && mkdir %s/A/config.json", src, tmp, tmp, tmp);
    cr_assert_eq(sd_test_run(cmd, NULL), 0);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/A", tmp);
    sd_qwen3 m;
    sd_err err = {0};
    cr_assert_lt(sd_qwen3_load(&m, dir, &err), 0);
    cr_assert(strstr(err.msg, "config.json: is a directory"), "%s", err.msg);
}

/* ---- embeddings ---- */

Test(emb_hostile, first_non_finite_in_parallel) {
    size_t n = 1000003;
    float *x = sd_xcalloc(n, sizeof *x);
    cr_assert_eq(sd_first_nonfinite(x, n), n);
    x[n - 1] = INFINITY;
    cr_assert_eq(sd_first_nonfinite(x, n), n - 1);
    x[777777] = NAN;
    x[500001] = -INFINITY;
    cr_assert_eq(sd_first_nonfinite(x, n), 500001);
    x[5] = NAN;
    cr_assert_eq(sd_first_nonfinite(x, n), 5);
    cr_assert_eq(sd_first_nonfinite(x, 0), 0);
    free(x);
}

Test(emb_hostile, empty_embeddings_are_refused_naming_the_file) {
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    char *p = sd_path_join(dir, "e0.npy");
    float dummy = 0;
    sd_err err = {0};
    cr_assert_eq(sd_embfile_write_npy(p, &dummy, 200, 0, &err), 0, "%s", err.msg);
    float *x = NULL;
    int64_t n, d;
    cr_assert_lt(sd_embfile_read_npy(p, &x, &n, &d, &err), 0, "an (N, 0) array was read");
    cr_assert_null(x);
    cr_assert(strstr(err.msg, "e0.npy: embeddings of shape (200, 0)"), "%s", err.msg);
    free(p);
    /* the first NaN in row order is the one named */
    p = sd_path_join(dir, "nan.npy");
    float *y = sd_xcalloc(3000 * 7, sizeof *y);
    y[2500 * 7 + 1] = NAN;
    y[1700 * 7 + 6] = INFINITY;
    cr_assert_eq(sd_embfile_write_npy(p, y, 3000, 7, &err), 0, "%s", err.msg);
    cr_assert_lt(sd_embfile_read_npy(p, &x, &n, &d, &err), 0);
    cr_assert(strstr(err.msg, "row 1700 (column 6) is Inf"), "%s", err.msg);
    free(y);
    free(p);
}

Test(emb_hostile, rqvae_width_zero_is_a_data_error) {
    sd_sid_params p = {.levels = 2, .codes = 4, .iters = 1, .seed = 1};
    sd_sid_output out;
    sd_err err = {0};
    float x = 0;
    int rc = sd_rqvae_method(&x, 8, 0, &p, &out, &err);
    cr_assert_eq(rc, SD_EFORMAT, "rc %d: %s", rc, err.msg);
    cr_assert_eq(sd_err_exit_code(&err), 1);
}

Test(emb_hostile, cli_embed_npy_and_ids_exit_1) {
    char dir[256], cmd[2048], *out = NULL;
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(cmd, sizeof cmd, "%s synth -o %s/W --items 120 --users 80 --quiet", sd_test_bin(), dir);
    cr_assert_eq(sd_test_run(cmd, &out), 0, "%s", out);
    free(out);
    char *p = sd_path_join(dir, "e0.npy");
    float dummy = 0;
    sd_err err = {0};
    cr_assert_eq(sd_embfile_write_npy(p, &dummy, 120, 0, &err), 0, "%s", err.msg);
    snprintf(cmd, sizeof cmd, "%s embed %s/W --npy %s --quiet", sd_test_bin(), dir, p);
    cr_assert_eq(sd_test_run(cmd, &out), 1, "%s", out);
    cr_assert(strstr(out, "e0.npy: embeddings of shape (120, 0)"), "%s", out);
    free(out);
    /* an emb.npy that is already (N, 0): ids names it and exits 1 for either method */
    char *emb = sd_path_join(dir, "W/emb.npy");
    cr_assert_eq(sd_embfile_write_npy(emb, &dummy, 120, 0, &err), 0, "%s", err.msg);
    const char *methods[] = {"rqkmeans", "rqvae"};
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "%s ids %s/W --method %s --codes 4 --levels 2 --quiet", sd_test_bin(), dir, methods[i]);
        cr_assert_eq(sd_test_run(cmd, &out), 1, "%s: %s", methods[i], out);
        cr_assert(strstr(out, "emb.npy"), "%s", out);
        free(out);
    }
    free(emb);
    free(p);
}

Test(emb_hostile, saved_rqvae_with_bad_config_is_a_data_error) {
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    char *p = sd_path_join(dir, "rqvae.safetensors");
    sd_st_writer *w = sd_st_writer_new();
    sd_st_writer_meta(w, "semid", "rqvae-1");
    sd_st_writer_meta(w, "config", "{\"dim\":8,\"hidden\":[],\"latent\":4,\"levels\":2,\"codes\":1,\"beta\":0.25}");
    sd_err err = {0};
    cr_assert_eq(sd_st_writer_write(w, p, &err), 0, "%s", err.msg);
    sd_st_writer_free(w);
    sd_rqvae m;
    int rc = sd_rqvae_load(&m, p, &err);
    cr_assert_eq(rc, SD_EFORMAT, "rc %d: %s", rc, err.msg);
    cr_assert_eq(sd_err_exit_code(&err), 1, "%s", err.msg);
    cr_assert(strstr(err.msg, "rqvae.safetensors") && strstr(err.msg, "codes"), "%s", err.msg);
    free(p);
}

/* ---- raw bytes never reach the terminal ---- */

Test(msg_hostile, npy_header_strings_are_quoted) {
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    char *p = sd_path_join(dir, "k.npy");
    char buf[128] = "\x93NUMPY\x01\x00";
    const char *hdr = "{'\x1b[2J': 1, }";
    size_t hl = 64 - 10;
    buf[8] = (char)hl;
    buf[9] = 0;
    memset(buf + 10, ' ', hl);
    memcpy(buf + 10, hdr, strlen(hdr));
    buf[10 + hl - 1] = '\n';
    sd_err err = {0};
    cr_assert_eq(sd_write_file_atomic(p, buf, 64, &err), 0, "%s", err.msg);
    float *x = NULL;
    int64_t n, d;
    cr_assert_lt(sd_embfile_read_npy(p, &x, &n, &d, &err), 0);
    cr_assert(strstr(err.msg, "unexpected key '\\x1B[2J'"), "%s", err.msg);
    free(p);
}

Test(msg_hostile, cli_escapes_control_bytes_in_any_message) {
    /* a tensor named with an escape sequence: the loader's message quotes the name as it is, and
     * the command prints it escaped */
    char tmp[256], src[512], cmd[2048];
    sd_test_tmpdir(tmp, sizeof tmp);
    snprintf(src, sizeof src, "%s/qwen3/A", sd_test_ref());
    snprintf(cmd, sizeof cmd, "cp -r %s %s/A", src, tmp);
    cr_assert_eq(sd_test_run(cmd, NULL), 0);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/A", tmp);
    sd_qwen3 m;
    sd_err err = {0};
    cr_assert_eq(sd_qwen3_load(&m, dir, &err), 0, "%s", err.msg);
    sd_st_writer *w = sd_st_writer_new();
    for (int i = 0; i < m.p.n_views; i++) {
        const sd_view *vw = &m.p.views[i];
        cr_assert_eq(sd_st_writer_add_f32(w, vw->name, vw->ndim, vw->shape, sd_params_ptr(&m.p, i), SD_DT_F32, &err), 0,
                     "%s", err.msg);
    }
    float one = 1;
    int64_t shape[1] = {1};
    cr_assert_eq(sd_st_writer_add_f32(w, "x\x1b[2J\xc2\x9b", 1, shape, &one, SD_DT_F32, &err), 0, "%s", err.msg);
    char *path = sd_path_join(dir, "model.safetensors");
    cr_assert_eq(sd_st_writer_write(w, path, &err), 0, "%s", err.msg);
    free(path);
    sd_st_writer_free(w);
    sd_qwen3_free(&m);
    char *out = NULL;
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt hi --max-new-tokens 1 2>&1", sd_test_bin(), dir);
    cr_assert_eq(sd_test_run(cmd, &out), 1, "%s", out);
    cr_assert(strstr(out, "\"x\\x1B[2J\\xC2\\x9B\" is not a parameter"), "%s", out);
    cr_assert_null(strchr(out, 0x1b), "raw ESC printed: %s", out);
    free(out);
}

Test(msg_hostile, sasrec_id_beyond_int32_is_out_of_range) {
    /* used to be called "not an integer" */
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    char *p = sd_path_join(dir, "data.txt");
    const char *text[] = {"1 1\n1 4294967296\n2 1\n", "1 1\n4294967296 1\n2 1\n"};
    const char *want[] = {"item: not an integer in range [1, 2147483647]", "user: not an integer in range [1, 2147483647]"};
    for (int k = 0; k < 2; k++) {
        sd_err err = {0};
        cr_assert_eq(sd_write_file_atomic(p, text[k], strlen(text[k]), &err), 0, "%s", err.msg);
        sd_prep_opts o = {.inter_path = p, .strict = true};
        sd_prep_stats st = {0};
        sd_catalog *c = NULL;
        sd_sequences s;
        cr_assert_eq(sd_load_sasrec(&o, &c, &s, &st, &err), SD_EFORMAT, "case %d accepted", k);
        cr_assert(strstr(err.msg, "data.txt:2") && strstr(err.msg, want[k]) && strstr(err.msg, "]: 4294967296 is out of range"),
                  "case %d: %s", k, err.msg);
    }
    free(p);
}

Test(qwen3_hostile, extend_never_writes_non_finite_rows) {
    /* finite rows near the float32 limit: their mean plus noise overflows */
    char src[512];
    snprintf(src, sizeof src, "%s/qwen3/A", sd_test_ref());
    sd_qwen3 m;
    sd_err err = {0};
    cr_assert_eq(sd_qwen3_load(&m, src, &err), 0, "%s", err.msg);
    const sd_view *ev = &m.p.views[m.embed];
    float *W = sd_params_ptr(&m.p, m.embed);
    for (size_t i = 0; i < ev->numel; i++) W[i] = (i / (size_t)ev->shape[1]) % 2 ? 3.4e38f : 3.0e38f;
    int32_t rows = m.cfg.vocab_size;
    int rc = sd_qwen3_resize_vocab(&m, rows + 8, rows - 4, 1, 10.0f, &err);
    cr_assert_neq(rc, 0, "non-finite rows were written");
    cr_assert(strstr(err.msg, "is not finite") && strstr(err.msg, "embed_tokens"), "%s", err.msg);
    sd_qwen3_free(&m);
}
