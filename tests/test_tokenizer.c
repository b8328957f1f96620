#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include "base/file.h"
#include "base/mem.h"
#include "text/tokenizer.h"
#include "test_util.h"

/* ---- reference files written by tests/js/run_refs.sh ---- */
typedef struct { size_t n; char **doc; size_t *len; } corpus;
typedef struct { size_t n; sd_ids *ids; } id_lists;

static char *ref_path(const char *name) { return sd_path_join(sd_test_ref(), name); }

static uint32_t rd32(const char *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static corpus read_corpus(const char *path) {
    char *data; size_t len; sd_err err = {0};
    cr_assert_eq(sd_read_file(path, &data, &len, &err), 0, "%s (run tests/js/run_refs.sh)", err.msg);
    corpus c = {0};
    c.n = rd32(data);
    c.doc = sd_xcalloc(c.n, sizeof *c.doc);
    c.len = sd_xcalloc(c.n, sizeof *c.len);
    size_t o = 4;
    for (size_t i = 0; i < c.n; i++) {
        c.len[i] = rd32(data + o); o += 4;
        c.doc[i] = sd_xmalloc(c.len[i] + 1);
        memcpy(c.doc[i], data + o, c.len[i]);
        c.doc[i][c.len[i]] = 0;
        o += c.len[i];
    }
    free(data);
    return c;
}
static void free_corpus(corpus *c) { for (size_t i = 0; i < c->n; i++) free(c->doc[i]); free(c->doc); free(c->len); }

static id_lists read_ids(const char *path) {
    char *data; size_t len; sd_err err = {0};
    cr_assert_eq(sd_read_file(path, &data, &len, &err), 0, "%s", err.msg);
    id_lists l = {0};
    l.n = rd32(data);
    l.ids = sd_xcalloc(l.n, sizeof *l.ids);
    size_t o = 4;
    for (size_t i = 0; i < l.n; i++) {
        uint32_t n = rd32(data + o); o += 4;
        l.ids[i].v = sd_xmalloc((n + 1) * sizeof(int32_t));
        l.ids[i].n = l.ids[i].cap = n;
        for (uint32_t k = 0; k < n; k++, o += 4) l.ids[i].v[k] = (int32_t)rd32(data + o);
    }
    free(data);
    return l;
}
static void free_ids(id_lists *l) { for (size_t i = 0; i < l->n; i++) sd_ids_free(&l->ids[i]); free(l->ids); }

static sd_tokenizer *load_qwen3(void) {
    char *p = ref_path("qwen3_tokenizer.json");
    sd_tokenizer *t; sd_err err = {0};
    cr_assert_eq(sd_tok_load(&t, p, &err), 0, "%s", err.msg);
    free(p);
    return t;
}

/* First mismatch between got and want, described with the token strings around it. */
static bool same_ids(const sd_tokenizer *t, const sd_ids *got, const sd_ids *want, char *why, size_t n) {
    size_t k = 0;
    while (k < got->n && k < want->n && got->v[k] == want->v[k]) k++;
    if (k == got->n && k == want->n) return true;
    snprintf(why, n, "at token %zu of %zu/%zu: got %d \"%s\", want %d \"%s\"", k, got->n, want->n,
             k < got->n ? got->v[k] : -1, k < got->n ? sd_tok_id_to_token(t, got->v[k]) : "",
             k < want->n ? want->v[k] : -1, k < want->n ? sd_tok_id_to_token(t, want->v[k]) : "");
    return false;
}

Test(tokenizer, qwen3_shape) {
    sd_tokenizer *t = load_qwen3();
    cr_assert_eq(sd_tok_model_vocab_size(t), 151643);
    cr_assert_eq(sd_tok_merge_count(t), 151387);
    cr_assert_eq(sd_tok_added_count(t), 26);
    cr_assert_eq(sd_tok_vocab_size(t), 151669);
    cr_assert_eq(sd_tok_token_to_id(t, "<|im_start|>"), 151644);
    cr_assert_eq(sd_tok_token_to_id(t, "Ġworld"), 1879);
    cr_assert_str_eq(sd_tok_id_to_token(t, 1879), "Ġworld");
    cr_assert(sd_tok_is_special(t, 151645));
    cr_assert(!sd_tok_is_special(t, 151667)); /* <think> is an added, non-special token */
    cr_assert_null(sd_tok_id_to_token(t, 151669));
    cr_assert_eq(sd_tok_token_to_id(t, "no such token"), -1);
    size_t len;
    const char *b = sd_tok_token_bytes(t, 1879, &len);
    cr_assert(len == 6 && !memcmp(b, " world", 6));
    sd_tok_free(t);
}

/* Every corpus document must encode to exactly Hugging Face's ids, one at a time (with and
 * without a cache) and batched on two threads. */
Test(tokenizer, qwen3_parity_with_hf, .timeout = 120) {
    sd_tokenizer *t = load_qwen3();
    char *cp = ref_path("tok_corpus.bin"), *ep = ref_path("tok_expected_qwen3.bin");
    corpus c = read_corpus(cp);
    id_lists want = read_ids(ep);
    cr_assert_eq(c.n, want.n);
    cr_assert_gt(c.n, 1000);
    sd_tok_cache *cache = sd_tok_cache_new();
    int bad = 0;
    char why[512];
    for (size_t i = 0; i < c.n; i++) {
        sd_ids got = {0}, got2 = {0};
        sd_tok_encode(t, cache, c.doc[i], c.len[i], &got);
        sd_tok_encode(t, NULL, c.doc[i], c.len[i], &got2);
        if (!same_ids(t, &got, &want.ids[i], why, sizeof why) && bad++ < 10)
            cr_log_error("doc %zu (%zu bytes) \"%.60s\": %s", i, c.len[i], c.doc[i], why);
        cr_assert_eq(got.n, got2.n);
        cr_assert_arr_eq(got.v, got2.v, got.n * sizeof(int32_t), "cache changes doc %zu", i);
        sd_ids_free(&got); sd_ids_free(&got2);
    }
    cr_assert_eq(bad, 0, "%d of %zu documents differ from Hugging Face tokenizers", bad, c.n);
    sd_ids *outs = sd_xcalloc(c.n, sizeof *outs);
    sd_tok_encode_batch(t, (const char *const *)c.doc, c.len, c.n, outs, 2);
    for (size_t i = 0; i < c.n; i++) {
        cr_assert(same_ids(t, &outs[i], &want.ids[i], why, sizeof why), "batch doc %zu: %s", i, why);
        sd_ids_free(&outs[i]);
    }
    free(outs);
    sd_tok_cache_free(cache);
    free_corpus(&c); free_ids(&want); free(cp); free(ep);
    sd_tok_free(t);
}

/* decode(encode(x)) == NFC(x) where x is the UTF-8-repaired document. */
Test(tokenizer, decode_inverts_encode, .timeout = 60) {
    sd_tokenizer *t = load_qwen3();
    char *cp = ref_path("tok_corpus.bin");
    corpus c = read_corpus(cp);
    for (size_t i = 0; i < c.n; i++) {
        size_t rlen, dlen;
        char *fixed = sd_utf8_repair(c.doc[i], c.len[i], &rlen);
        const char *x = fixed ? fixed : c.doc[i];
        size_t xlen = fixed ? rlen : c.len[i];
        utf8proc_uint8_t *nfc = NULL;
        utf8proc_ssize_t nl = utf8proc_map((const utf8proc_uint8_t *)x, (utf8proc_ssize_t)xlen, &nfc,
                                           UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        cr_assert_geq(nl, 0);
        sd_ids ids = {0};
        sd_tok_encode(t, NULL, c.doc[i], c.len[i], &ids);
        char *back = sd_tok_decode(t, ids.v, ids.n, false, &dlen);
        /* Added tokens are split out before NFC, so a combining mark right after one (">" U+0338)
         * stays uncomposed: exact equality holds without added tokens, NFC equality always. */
        if (!memchr(x, '<', xlen))
            cr_assert(dlen == (size_t)nl && !memcmp(back, nfc, dlen), "doc %zu does not round-trip", i);
        utf8proc_uint8_t *nfc2 = NULL;
        utf8proc_ssize_t nl2 = utf8proc_map((const utf8proc_uint8_t *)back, (utf8proc_ssize_t)dlen, &nfc2,
                                            UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        cr_assert(nl2 == nl && !memcmp(nfc2, nfc, (size_t)nl), "doc %zu does not round-trip up to NFC", i);
        free(back); free(nfc); free(nfc2); free(fixed); sd_ids_free(&ids);
    }
    free_corpus(&c); free(cp);
    sd_tok_free(t);
}

/* Invalid UTF-8: each maximal invalid subsequence becomes one U+FFFD before encoding (the
 * reference sees the same text through the WHATWG decoder; see qwen3_parity_with_hf). */
Test(tokenizer, invalid_utf8_is_replacement_char) {
    sd_tokenizer *t = load_qwen3();
    const char bad[] = "a\xE2\x82" "b\xFF" "c\xED\xA0\x80" "d\xF0\x9F\x98";
    const char good[] = "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "d\xEF\xBF\xBD";
    sd_ids x = {0}, y = {0};
    sd_tok_encode(t, NULL, bad, sizeof bad - 1, &x);
    sd_tok_encode(t, NULL, good, sizeof good - 1, &y);
    cr_assert_eq(x.n, y.n);
    cr_assert_arr_eq(x.v, y.v, x.n * sizeof(int32_t));
    size_t len;
    char *s = sd_tok_decode(t, x.v, x.n, false, &len);
    cr_assert(len == sizeof good - 1 && !memcmp(s, good, len));
    free(s);
    /* a lone byte-level token that is half a character decodes to U+FFFD, as in HF */
    int32_t half = sd_tok_token_to_id(t, "\xC3\xA6"); /* "æ" = byte 0xE6 */
    cr_assert_geq(half, 0);
    s = sd_tok_decode(t, &half, 1, false, &len);
    cr_assert_str_eq(s, "\xEF\xBF\xBD");
    free(s);
    sd_ids_free(&x); sd_ids_free(&y);
    sd_tok_free(t);
}

Test(tokenizer, decode_skip_special) {
    sd_tokenizer *t = load_qwen3();
    const char *text = "<|im_start|>user\nhi<|im_end|><think>";
    sd_ids ids = {0};
    sd_tok_encode(t, NULL, text, strlen(text), &ids);
    char *all = sd_tok_decode(t, ids.v, ids.n, false, NULL), *plain = sd_tok_decode(t, ids.v, ids.n, true, NULL);
    cr_assert_str_eq(all, text);
    cr_assert_str_eq(plain, "user\nhi<think>");
    free(all); free(plain); sd_ids_free(&ids);
    sd_tok_free(t);
}

/* Thousands of run-time tokens: each is matched whole, glued to text or to each other, and a
 * prefix of one that is not a token falls back to BPE. */
Test(tokenizer, add_sid_tokens) {
    sd_tokenizer *t = load_qwen3();
    int n = 4000;
    sd_added_token *toks = sd_xcalloc((size_t)n + 3, sizeof *toks);
    char **names = sd_xcalloc((size_t)n + 3, sizeof *names);
    names[0] = sd_xstrdup("<|rec|>"); names[1] = sd_xstrdup("<|sid_start|>"); names[2] = sd_xstrdup("<|sid_end|>");
    for (int i = 0; i < n; i++) { names[i + 3] = sd_xmalloc(32); snprintf(names[i + 3], 32, "<|sid_%d|>", i); }
    for (int i = 0; i < n + 3; i++) toks[i] = (sd_added_token){.content = names[i], .special = true};
    int32_t *ids = sd_xcalloc((size_t)n + 3, sizeof *ids);
    sd_err err = {0};
    cr_assert_eq(sd_tok_add_tokens(t, toks, (size_t)n + 3, ids, &err), n + 3, "%s", err.msg);
    cr_assert_eq(ids[0], 151669);
    cr_assert_eq(ids[n + 2], 151669 + n + 2);
    cr_assert_eq(sd_tok_add_tokens(t, toks, 2, NULL, &err), 0); /* again: nothing new */
    const char *text = "<|rec|>x<|sid_start|><|sid_12|><|sid_1234|><|sid_3999|><|sid_end|> <|sid_4000|><|sid_1|";
    sd_ids got = {0};
    sd_tok_encode(t, NULL, text, strlen(text), &got);
    int32_t want_head[] = {ids[0], 87, ids[1], ids[3 + 12], ids[3 + 1234], ids[3 + 3999], ids[2]};
    cr_assert_geq(got.n, 9);
    cr_assert_arr_eq(got.v, want_head, sizeof want_head);
    for (size_t k = 7; k < got.n; k++) cr_assert_lt(got.v[k], 151643, "<|sid_4000|> is not a token");
    char *back = sd_tok_decode(t, got.v, got.n, false, NULL);
    cr_assert_str_eq(back, text);
    free(back);
    /* saved and loaded again, the added tokens keep their ids */
    char dir[256]; sd_test_tmpdir(dir, sizeof dir);
    char *path = sd_path_join(dir, "tok.json");
    cr_assert_eq(sd_tok_save(t, path, &err), 0, "%s", err.msg);
    sd_tokenizer *t2;
    cr_assert_eq(sd_tok_load(&t2, path, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_tok_vocab_size(t2), sd_tok_vocab_size(t));
    cr_assert_eq(sd_tok_merge_count(t2), 151387);
    sd_ids got2 = {0};
    sd_tok_encode(t2, NULL, text, strlen(text), &got2);
    cr_assert_eq(got2.n, got.n);
    cr_assert_arr_eq(got2.v, got.v, got.n * sizeof(int32_t));
    /* Hugging Face tokenizers loads the saved file and agrees, SID tokens included */
    const char *docs[] = {text, "<|im_start|>user\nI liked <|sid_start|><|sid_7|><|sid_300|><|sid_end|>.<|im_end|>",
                          "plain text, no SIDs: <|sid_x|> <|sid_99999|>"};
    char *cpath = sd_path_join(dir, "c.bin"), *ipath = sd_path_join(dir, "ids.bin");
    FILE *f = fopen(cpath, "wb");
    uint32_t nd = 3;
    fwrite(&nd, 4, 1, f);
    for (int i = 0; i < 3; i++) { uint32_t l = (uint32_t)strlen(docs[i]); fwrite(&l, 4, 1, f); fwrite(docs[i], 1, l, f); }
    fclose(f);
    char cmd[2048], *log = NULL;
    snprintf(cmd, sizeof cmd, "cd '%s/../js' && node encode.js '%s' '%s' '%s'", sd_test_fixtures(), path, cpath, ipath);
    cr_assert_eq(sd_test_run(cmd, &log), 0, "%s", log);
    free(log);
    id_lists hf = read_ids(ipath);
    char why[512];
    for (int i = 0; i < 3; i++) {
        sd_ids mine = {0};
        sd_tok_encode(t2, NULL, docs[i], strlen(docs[i]), &mine);
        cr_assert(same_ids(t2, &mine, &hf.ids[i], why, sizeof why), "doc %d: %s", i, why);
        sd_ids_free(&mine);
    }
    free_ids(&hf); free(cpath); free(ipath);
    sd_ids_free(&got); sd_ids_free(&got2);
    sd_tok_free(t2);
    for (int i = 0; i < n + 3; i++) free(names[i]);
    free(names); free(toks); free(ids); free(path);
    sd_tok_free(t);
}

/* lstrip / rstrip / normalized flags of added tokens. */
Test(tokenizer, added_token_flags) {
    sd_tokenizer *t = load_qwen3();
    sd_added_token a[] = {{.content = "[MASK]", .lstrip = true, .rstrip = true},
                          {.content = "caf\xC3\xA9!", .normalized = true}};
    int32_t ids[2]; sd_err err = {0};
    cr_assert_eq(sd_tok_add_tokens(t, a, 2, ids, &err), 2);
    sd_ids x = {0}, y = {0};
    sd_tok_encode(t, NULL, "a  [MASK]  b", 12, &x);
    sd_tok_encode(t, NULL, "ab", 2, &y);
    cr_assert_eq(x.n, 3, "got %zu ids", x.n);
    cr_assert_eq(x.v[1], ids[0]);
    x.n = 0;
    sd_tok_encode(t, NULL, "xcafe\xCC\x81!", 8, &x); /* NFD input matches the normalized token */
    cr_assert_eq(x.v[x.n - 1], ids[1]);
    sd_ids_free(&x); sd_ids_free(&y);
    sd_tok_free(t);
}

/* ---- training ---- */
#include "text/bpe_train.h"

static char *slurp(const char *path, size_t *len) {
    char *d; sd_err err = {0};
    cr_assert_eq(sd_read_file(path, &d, len, &err), 0, "%s", err.msg);
    return d;
}

static sd_tokenizer *train_on(const corpus *c, int32_t vocab, int threads) {
    static const char *const special[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    sd_word_counts *wc = sd_word_counts_new();
    sd_word_counts_add_texts(wc, (const char *const *)c->doc, c->len, c->n, special, 3, threads);
    sd_bpe_train_opts o = {.vocab_size = vocab, .special = special, .n_special = 3, .threads = threads};
    sd_tokenizer *t; sd_err err = {0};
    cr_assert_eq(sd_bpe_train_words(&t, wc, &o, &err), 0, "%s", err.msg);
    sd_word_counts_free(wc);
    return t;
}

/* Train -> save -> load -> encode gives the same ids as the trained tokenizer, the file is the
 * same for 1 and 2 threads, and Hugging Face tokenizers loads it and encodes identically. */
Test(tokenizer_train, round_trip_and_hf_interop, .timeout = 120) {
    char *cp = ref_path("tok_corpus.bin");
    corpus c = read_corpus(cp);
    sd_tokenizer *t1 = train_on(&c, 1500, 1), *t2 = train_on(&c, 1500, 2);
    cr_assert_eq(sd_tok_vocab_size(t1), 1500);
    cr_assert_eq(sd_tok_merge_count(t1), 1500 - 259, "no repeated merged strings on this corpus");
    cr_assert_eq(sd_tok_token_to_id(t1, "<|im_end|>"), 2);
    char dir[256]; sd_test_tmpdir(dir, sizeof dir);
    char *p1 = sd_path_join(dir, "t1.json"), *p2 = sd_path_join(dir, "t2.json");
    sd_err err = {0};
    cr_assert_eq(sd_tok_save(t1, p1, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_tok_save(t2, p2, &err), 0, "%s", err.msg);
    size_t l1, l2;
    char *f1 = slurp(p1, &l1), *f2 = slurp(p2, &l2);
    cr_assert(l1 == l2 && !memcmp(f1, f2, l1), "training differs between 1 and 2 threads");
    sd_tokenizer *back;
    cr_assert_eq(sd_tok_load(&back, p1, &err), 0, "%s", err.msg);
    char *ids_path = sd_path_join(dir, "hf_ids.bin");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s/../js' && node encode.js '%s' '%s' '%s'", sd_test_fixtures(), p1, cp, ids_path);
    char *log = NULL;
    cr_assert_eq(sd_test_run(cmd, &log), 0, "%s", log);
    free(log);
    id_lists hf = read_ids(ids_path);
    cr_assert_eq(hf.n, c.n);
    char why[512];
    size_t total = 0;
    for (size_t i = 0; i < c.n; i++) {
        sd_ids a = {0}, b = {0};
        sd_tok_encode(t1, NULL, c.doc[i], c.len[i], &a);
        sd_tok_encode(back, NULL, c.doc[i], c.len[i], &b);
        cr_assert(same_ids(t1, &b, &a, why, sizeof why), "reloaded, doc %zu: %s", i, why);
        cr_assert(same_ids(t1, &a, &hf.ids[i], why, sizeof why), "vs HF, doc %zu: %s", i, why);
        total += a.n;
        sd_ids_free(&a); sd_ids_free(&b);
    }
    cr_assert_lt(total, 600000, "trained merges compress the corpus (%zu tokens)", total);
    free_ids(&hf);
    free(f1); free(f2); free(p1); free(p2); free(ids_path); free(cp);
    free_corpus(&c);
    sd_tok_free(t1); sd_tok_free(t2); sd_tok_free(back);
}

/* Hand-checkable merges: "ab" x3, "abc" x2 -> first merge (a,b), then (ab,c). */
Test(tokenizer_train, merge_order_and_ties) {
    const char *docs[] = {"ab ab ab abc abc zz"};
    size_t lens[] = {strlen(docs[0])};
    sd_word_counts *wc = sd_word_counts_new();
    sd_word_counts_add_texts(wc, docs, lens, 1, NULL, 0, 1);
    sd_bpe_train_opts o = {.vocab_size = 256 + 4};
    sd_tokenizer *t; sd_err err = {0};
    cr_assert_eq(sd_bpe_train_words(&t, wc, &o, &err), 0, "%s", err.msg);
    cr_assert_str_eq(sd_tok_id_to_token(t, 256), "ab");   /* count 5 */
    cr_assert_str_eq(sd_tok_id_to_token(t, 257), "Ġab");  /* (Ġ,ab) 4 */
    cr_assert_str_eq(sd_tok_id_to_token(t, 258), "Ġabc"); /* (Ġab,c) 2 */
    cr_assert_str_eq(sd_tok_id_to_token(t, 259), "Ġz");   /* ties at 1: (Ġ,z) has the smaller left id */
    sd_tok_free(t);
    sd_word_counts_free(wc);
    o.vocab_size = 100;
    cr_assert_lt(sd_bpe_train_words(&t, wc = sd_word_counts_new(), &o, &err), 0);
    cr_assert(strstr(err.msg, "vocab size"), "%s", err.msg);
    sd_word_counts_free(wc);
}

/* ---- chat template ---- */
#include "text/chat_template.h"

Test(chat_template, qwen3_prompt) {
    sd_chat_msg m[] = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "<think>\nhmm\n</think>\n\nHello!"},
                       {"user", "Recommend <|rec|>"}};
    char *s = sd_chat_render(m, 4, true, false);
    cr_assert_str_eq(s, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                        "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nRecommend <|rec|><|im_end|>\n"
                        "<|im_start|>assistant\n<think>\n\n</think>\n\n");
    free(s);
    s = sd_chat_render(m, 2, true, true);
    cr_assert_str_eq(s, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    free(s);
    s = sd_chat_render(m, 3, false, false); /* the last assistant turn keeps its thinking */
    cr_assert(strstr(s, "<think>\nhmm\n</think>\n\nHello!<|im_end|>\n"), "%s", s);
    free(s);
    s = sd_chat_render(NULL, 0, false, false);
    cr_assert_str_eq(s, "");
    free(s);
}

/* ---- hostile and malformed tokenizer.json ---- */
static char *mini_json(const char *added, const char *model_extra, const char *vocab, const char *merges,
                       const char *pre) {
    char pat[512]; size_t o = 0;
    for (const char *p = SD_QWEN2_PATTERN; *p; p++) { if (*p == '\\') pat[o++] = '\\'; pat[o++] = *p; }
    pat[o] = 0;
    char pre_default[1024];
    snprintf(pre_default, sizeof pre_default,
             "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"%s\"},"
             "\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"use_regex\":false}]}", pat);
    size_t cap = 4096 + strlen(vocab) + strlen(merges) + strlen(added);
    char *s = sd_xmalloc(cap);
    snprintf(s, cap,
             "{\"version\":\"1.0\",\"added_tokens\":[%s],\"normalizer\":{\"type\":\"NFC\"},\n\"pre_tokenizer\":%s,\n"
             "\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\"},\n\"model\":{\"type\":\"BPE\"%s,\n"
             "\"vocab\":{%s},\n\"merges\":[%s]}}",
             added, pre ? pre : pre_default, model_extra, vocab, merges);
    return s;
}

static void expect_load_error(const char *json, size_t len, const char *needle) {
    sd_tokenizer *t = NULL; sd_err err = {0};
    int rc = sd_tok_load_mem(&t, json, len, "bad.json", &err);
    cr_assert_lt(rc, 0, "loaded although it should fail with \"%s\"", needle);
    cr_assert_null(t);
    cr_assert(strstr(err.msg, "bad.json"), "message names the file: %s", err.msg);
    cr_assert(strstr(err.msg, needle), "expected \"%s\" in: %s", needle, err.msg);
}
static void expect_mini_error(const char *added, const char *extra, const char *vocab, const char *merges,
                              const char *pre, const char *needle) {
    char *s = mini_json(added, extra, vocab, merges, pre);
    expect_load_error(s, strlen(s), needle);
    free(s);
}

Test(tokenizer_json, minimal_file_both_merge_forms) {
    const char *merges[] = {"\"a b\", \"ab c\"", "[\"a\",\"b\"], [\"ab\",\"c\"]"};
    for (int k = 0; k < 2; k++) {
        char *s = mini_json("{\"id\":5,\"content\":\"<x>\",\"special\":true}", ", \"dropout\": null",
                            "\"a\":0,\"b\":1,\"c\":2,\"ab\":3,\"abc\":4", merges[k], NULL);
        sd_tokenizer *t; sd_err err = {0};
        cr_assert_eq(sd_tok_load_mem(&t, s, strlen(s), "mini.json", &err), 0, "%s", err.msg);
        sd_ids ids = {0};
        sd_tok_encode(t, NULL, "abcab<x>zc", 10, &ids);
        int32_t want[] = {4, 3, 5, 2}; /* 'z' is not in the vocabulary: dropped, as in HF */
        cr_assert_eq(ids.n, 4);
        cr_assert_arr_eq(ids.v, want, sizeof want);
        sd_ids_free(&ids);
        sd_tok_free(t);
        free(s);
    }
}

/* Found by fuzzing: ids may leave gaps, and the bound on them followed the file size alone, so a
 * padded file with a far id loaded but the compact file sd_tok_save wrote from it did not. */
Test(tokenizer_json, sparse_ids_round_trip_through_a_smaller_file) {
    char *core = mini_json("{\"id\":5000,\"content\":\"<|x|>\",\"special\":true}", "",
                           "\"a\":0,\"b\":1,\"ab\":2", "\"a b\"", NULL);
    size_t n = strlen(core), padded = 6000;
    cr_assert_lt(n, padded);
    char *s = sd_xmalloc(padded + 1);
    memcpy(s, core, n);
    memset(s + n, ' ', padded - n); /* trailing whitespace: the file is now larger than id 5000 */
    s[padded] = 0;
    sd_tokenizer *t = NULL, *back = NULL; sd_err err = {0};
    cr_assert_eq(sd_tok_load_mem(&t, s, padded, "padded.json", &err), 0, "%s", err.msg);
    char dir[256]; sd_test_tmpdir(dir, sizeof dir);
    char *path = sd_path_join(dir, "saved.json");
    cr_assert_eq(sd_tok_save(t, path, &err), 0, "%s", err.msg);
    cr_assert_lt(sd_file_size(path), 5000, "the saved file must be smaller than the id it holds");
    cr_assert_eq(sd_tok_load(&back, path, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_tok_token_to_id(back, "<|x|>"), 5000);
    cr_assert_eq(sd_tok_vocab_size(back), 5001);
    sd_tok_free(back); sd_tok_free(t);
    free(path); free(s); free(core);
}

/* Found by fuzzing (UBSan, so `make asan` is where this can fail): the first word put in a fresh
 * cache encoded to no ids, and its ids were copied from a NULL array. */
Test(tokenizer_json, word_without_ids_into_a_fresh_cache) {
    char *s = mini_json("", "", "\"a\":0,\"b\":1,\"ab\":2", "\"a b\"", NULL);
    sd_tokenizer *t = NULL; sd_err err = {0};
    cr_assert_eq(sd_tok_load_mem(&t, s, strlen(s), "mini.json", &err), 0, "%s", err.msg);
    sd_tok_cache *cache = sd_tok_cache_new();
    sd_ids ids = {0};
    sd_tok_encode(t, cache, "zz", 2, &ids); /* 'z' is not in the vocabulary: no ids */
    cr_assert_eq(ids.n, 0);
    sd_tok_encode(t, cache, "zz ab", 5, &ids);
    cr_assert_eq(ids.n, 1);
    cr_assert_eq(ids.v[0], 2);
    sd_ids_free(&ids);
    sd_tok_cache_free(cache);
    sd_tok_free(t);
    free(s);
}

Test(tokenizer_json, hostile_files) {
    const char *V = "\"a\":0,\"b\":1,\"ab\":2";
    expect_load_error("", 0, "unexpected end of file");
    expect_load_error("[]", 2, "expected '{'");
    expect_load_error("{}", 2, "no \"model\"");
    expect_load_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{}}}", 35, "no \"merges\"");
    expect_mini_error("", "", V, "\"a q\"", NULL, "model.merges[0]: \"q\" is not in the vocabulary");
    expect_mini_error("", "", V, "\"a b\", \"b a\"", NULL, "model.merges[1]: \"ba\" (the merged token) is not in the vocabulary");
    expect_mini_error("", "", V, "\"ab\"", NULL, "not two tokens");
    expect_mini_error("", "", V, "[\"a\"]", NULL, "model.merges");
    expect_mini_error("", "", "\"a\":0,\"b\":0", "", NULL, "duplicate id 0");
    expect_mini_error("", "", "\"a\":0,\"a\":1", "", NULL, "duplicate token \"a\"");
    expect_mini_error("", "", "\"a\":-1", "", NULL, "out of range");
    expect_mini_error("", "", "\"a\":99999999999", "", NULL, "out of range");
    expect_mini_error("", "", "\"a\":16000000", "", NULL, "out of range"); /* far above the file size */
    expect_mini_error("{\"id\":12000000,\"content\":\"<x>\"}", "", V, "", NULL, "added_tokens[0]: id 12000000 out of range");
    expect_mini_error("", "", "\"a\":999999999999999999999999", "", NULL, "integer too large");
    expect_mini_error("", "", "\"a\":1.5", "", NULL, "expected an integer");
    expect_mini_error("", "", "\"a\":\"x\"", "", NULL, "expected an integer");
    expect_mini_error("", "", "\"\\ud800\":1", "", NULL, "unpaired surrogate");
    expect_mini_error("", "", "\"\\q\":1", "", NULL, "bad escape");
    /* found by fuzzing: a token holding NUL could not be found by its name (tokens are C strings) */
    expect_mini_error("", "", "\"a\":0,\"\\u0000bc\":1", "", NULL, "model.vocab: \\u0000 (a NUL character)");
    expect_mini_error("{\"id\":5,\"content\":\"<\\u0000>\"}", "", V, "", NULL, "\\u0000 (a NUL character)");
    expect_mini_error("", ",\"type\":\"WordPiece\"", V, "", NULL, "not supported");
    expect_mini_error("", ",\"dropout\":0.1", V, "", NULL, "dropout");
    expect_mini_error("", ",\"byte_fallback\":true", V, "", NULL, "byte_fallback");
    expect_mini_error("{\"id\":1,\"content\":\"<x>\"}", "", V, "", NULL, "added_tokens[0]: id 1 is already the token \"b\"");
    expect_mini_error("{\"content\":\"<x>\"}", "", V, "", NULL, "added_tokens[0]: missing \"id\"");
    expect_mini_error("{\"id\":7,\"content\":\"a\"}", "", V, "", NULL, "\"a\" already has id 0");
    expect_mini_error("", "", V, "", "{\"type\":\"ByteLevel\"}", "pre_tokenizer");
    expect_mini_error("", "", V, "",
                      "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+\"},"
                      "\"behavior\":\"Isolated\"},{\"type\":\"ByteLevel\"}]}", "not the Qwen2 regex");
    /* deep nesting is refused, not a stack overflow */
    size_t depth = 100000;
    char *deep = sd_xmalloc(depth * 2 + 64);
    size_t o = (size_t)sprintf(deep, "{\"x\":");
    for (size_t i = 0; i < depth; i++) deep[o++] = '[';
    for (size_t i = 0; i < depth; i++) deep[o++] = ']';
    o += (size_t)sprintf(deep + o, "}");
    expect_load_error(deep, o, "nested too deeply");
    free(deep);
    /* trailing data, and the real file truncated (error names the line) */
    char *s = mini_json("", "", V, "", NULL);
    size_t n = strlen(s);
    char *s2 = sd_xmalloc(n + 8);
    memcpy(s2, s, n); memcpy(s2 + n, " {}", 4);
    expect_load_error(s2, n + 3, "trailing data");
    free(s); free(s2);
    char *qp = ref_path("qwen3_tokenizer.json");
    size_t qlen;
    char *q = slurp(qp, &qlen);
    expect_load_error(q, qlen / 2, "bad.json:");
    expect_load_error(q, qlen - 3, "unexpected end of file");
    free(q); free(qp);
    sd_tokenizer *t; sd_err err = {0};
    cr_assert_lt(sd_tok_load(&t, "/nonexistent/tokenizer.json", &err), 0);
    cr_assert(strstr(err.msg, "/nonexistent/tokenizer.json"), "%s", err.msg);
}

/* ---- command line ---- */
Test(tokenizer_cli, tokenize_decode_tokens_train) {
    char *q = ref_path("qwen3_tokenizer.json");
    char cmd[4096], *out = NULL;
    snprintf(cmd, sizeof cmd, "printf 'Hello world'\"'\"'s <|im_start|>user' | %s tokenize --tokenizer %s", sd_test_bin(), q);
    cr_assert_eq(sd_test_run(cmd, &out), 0, "%s", out);
    cr_assert_str_eq(out, "9707 1879 594 220 151644 872\n");
    free(out);
    snprintf(cmd, sizeof cmd, "echo '9707 1879 594 220 151644 872' | %s tokenize --decode --tokenizer %s", sd_test_bin(), q);
    cr_assert_eq(sd_test_run(cmd, &out), 0, "%s", out);
    cr_assert_str_eq(out, "Hello world's <|im_start|>user");
    free(out);
    snprintf(cmd, sizeof cmd, "printf 'a b\\nc' | %s tokenize --lines --tokens --tokenizer %s", sd_test_bin(), q);
    cr_assert_eq(sd_test_run(cmd, &out), 0, "%s", out);
    cr_assert_str_eq(out, "a Ġb\nc\n");
    free(out);
    snprintf(cmd, sizeof cmd, "echo '9707 99999999' | %s tokenize --decode --tokenizer %s", sd_test_bin(), q);
    cr_assert_eq(sd_test_run(cmd, &out), 2, "%s", out);
    cr_assert(strstr(out, "99999999"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "echo x | %s tokenize --tokenizer /nonexistent.json", sd_test_bin());
    cr_assert_eq(sd_test_run(cmd, &out), 1, "%s", out);
    free(out);
    char dir[256]; sd_test_tmpdir(dir, sizeof dir);
    snprintf(cmd, sizeof cmd,
             "cd %s && printf 'the cat sat on the mat\\nthe dog sat\\n' > c.txt && %s tokenizer train --quiet --corpus c.txt "
             "--vocab-size 270 --special '<|endoftext|>' -o t.json && printf 'the cat<|endoftext|>' | %s tokenize --tokens --tokenizer t.json",
             dir, sd_test_bin(), sd_test_bin());
    cr_assert_eq(sd_test_run(cmd, &out), 0, "%s", out);
    cr_assert_str_eq(out, "the Ġcat <|endoftext|>\n");
    free(out);
    snprintf(cmd, sizeof cmd, "%s tokenizer train --corpus /nonexistent.txt --vocab-size 300 -o %s/x.json", sd_test_bin(), dir);
    cr_assert_eq(sd_test_run(cmd, &out), 1, "%s", out);
    cr_assert(strstr(out, "/nonexistent.txt"), "%s", out);
    free(out);
    free(q);
}
