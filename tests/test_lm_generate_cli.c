/* semid generate end to end on a tiny random Qwen3 folder with the real Qwen3 tokenizer: the CLI's
 * ids equal in-process greedy generation, its streamed text equals the tokenizer's decode of those
 * ids, --chat uses the template, and bad input fails with a clear message. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "lm/generate.h"
#include "test_util.h"
#include "text/chat_template.h"

static void make_folder(char *dir, size_t n) {
    sd_test_tmpdir(dir, n);
    strncat(dir, "/model", n - strlen(dir) - 1);
    char tok_path[1024];
    snprintf(tok_path, sizeof tok_path, "%s/qwen3_tokenizer.json", sd_test_ref());
    sd_tokenizer *tok;
    sd_err err;
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

/* In-process greedy generation of `text` (rendered as a chat turn when chat): the new ids. */
static sd_gen_out expected(const char *dir, const char *text, bool chat, int max_new, sd_qwen3 *m) {
    sd_err err;
    cr_assert_eq(sd_qwen3_load(m, dir, &err), 0, "%s", err.msg);
    char *t = chat ? sd_chat_render(&(sd_chat_msg){"user", text}, 1, true, false) : sd_xstrdup(text);
    sd_ids in = {0};
    sd_tok_encode(m->tok, NULL, t, strlen(t), &in);
    free(t);
    static int32_t stop[16];
    sd_gen_cfg g;
    sd_gen_cfg_default(&g);
    g.max_new_tokens = max_new;
    g.n_stop = sd_qwen3_stop_ids(m, stop, 16);
    g.stop_ids = stop;
    cr_assert_geq(g.n_stop, 2, "<|im_end|> and <|endoftext|> stop generation");
    const int32_t *p[1] = {in.v};
    int len[1] = {(int)in.n};
    sd_gen_out o;
    cr_assert_eq(sd_generate(m, p, len, 1, &g, &o, &err), 0, "%s", err.msg);
    sd_ids_free(&in);
    return o;
}

static char *ids_text(const sd_gen_out *o) {
    char *s = sd_xcalloc(16, (size_t)o->n[0] + 1);
    for (int i = 0; i < o->n[0]; i++) sprintf(s + strlen(s), i ? " %d" : "%d", o->tokens[0][i]);
    strcat(s, "\n");
    return s;
}

Test(lm_generate_cli, ids_text_and_chat, .timeout = 120) {
    char dir[512], cmd[4096], *out;
    make_folder(dir, sizeof dir);
    const char *prompt = "Hello world, caf\xc3\xa9 \xe4\xb8\x96\xe7\x95\x8c";
    sd_qwen3 m;

    sd_gen_out o = expected(dir, prompt, false, 12, &m);
    char *want = ids_text(&o);
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt '%s' --max-new-tokens 12 --ids", sd_test_bin(), dir,
             prompt);
    cr_assert_eq(sd_test_run(cmd, &out), 0, "%s", out);
    cr_assert_str_eq(out, want);
    free(out);
    free(want);

    /* text mode streams the decode of the same ids (end tokens not printed) */
    int n = o.n[0];
    while (n > 0 && o.finish[0] == SD_GEN_STOP && n == o.n[0]) n--;
    char *text = sd_tok_decode(m.tok, o.tokens[0], (size_t)n, false, NULL);
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt '%s' --max-new-tokens 12", sd_test_bin(), dir, prompt);
    cr_assert_eq(sd_test_run(cmd, &out), 0, "%s", out);
    cr_assert_eq(strlen(out), strlen(text) + 1);
    cr_assert_eq(memcmp(out, text, strlen(text)), 0, "streamed \"%s\", decode gives \"%s\"", out, text);
    free(out);
    free(text);
    sd_gen_out_free(&o);
    sd_qwen3_free(&m);

    o = expected(dir, prompt, true, 6, &m);
    want = ids_text(&o);
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt '%s' --max-new-tokens 6 --ids --chat --no-think",
             sd_test_bin(), dir, prompt);
    cr_assert_eq(sd_test_run(cmd, &out), 0, "%s", out);
    cr_assert_str_eq(out, want, "--chat renders the template with an empty think block");
    free(out);
    free(want);
    sd_gen_out_free(&o);
    sd_qwen3_free(&m);

    /* seeded sampling repeats */
    char *a, *b;
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt hi --max-new-tokens 8 --ids --temperature 1.2 "
             "--top-p 0.9 --top-k 100 --min-p 0.01 --repetition-penalty 1.1 --seed 9", sd_test_bin(), dir);
    cr_assert_eq(sd_test_run(cmd, &a), 0, "%s", a);
    cr_assert_eq(sd_test_run(cmd, &b), 0, "%s", b);
    cr_assert_str_eq(a, b);
    free(a);
    free(b);
}

Test(lm_generate_cli, bad_input, .timeout = 120) {
    char dir[512], cmd[4096], *out;
    const char *bin = sd_test_bin();
    snprintf(cmd, sizeof cmd, "%s generate --model /nonexistent/model --prompt hi", bin);
    cr_assert_eq(sd_test_run(cmd, &out), 1, "%s", out);
    cr_assert(strstr(out, "/nonexistent/model"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s generate --prompt hi", bin);
    cr_assert_eq(sd_test_run(cmd, &out), 2, "%s", out);
    cr_assert(strstr(out, "--model"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s generate --model x --prompt hi --temperature -0.5", bin);
    cr_assert_eq(sd_test_run(cmd, &out), 2, "%s", out);
    cr_assert(strstr(out, "temperature"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s generate --model x --prompt hi --top-p 1.5", bin);
    cr_assert_eq(sd_test_run(cmd, &out), 2, "%s", out);
    cr_assert(strstr(out, "top-p"), "%s", out);
    free(out);

    make_folder(dir, sizeof dir);
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt hi --max-new-tokens 0", bin, dir);
    cr_assert_eq(sd_test_run(cmd, &out), 2, "%s", out);
    free(out);
    /* a model without its tokenizer */
    snprintf(cmd, sizeof cmd, "mv %s/tokenizer.json %s/tok.bak && %s generate --model %s --prompt hi", dir, dir, bin, dir);
    cr_assert_eq(sd_test_run(cmd, &out), 1, "%s", out);
    cr_assert(strstr(out, "tokenizer.json"), "%s", out);
    free(out);
    /* a broken config */
    snprintf(cmd, sizeof cmd, "mv %s/tok.bak %s/tokenizer.json && echo '{\"hidden_size\": -4}' > %s/config.json && "
             "%s generate --model %s --prompt hi", dir, dir, dir, bin, dir);
    cr_assert_eq(sd_test_run(cmd, &out), 1, "%s", out);
    cr_assert(strstr(out, "config.json"), "%s", out);
    free(out);
}
