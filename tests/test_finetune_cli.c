/* semid finetune end to end on a tiny synthetic store with a hand-made lmdata fixture: the
 * from-scratch path (loss falls, the folder loads and generates, a stop + --resume gives the same
 * bytes), the --base path (SID tokens added, two stages), and bad input refused with clear
 * messages and nothing written. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "base/file.h"
#include "base/mem.h"
#include "data/catalog.h"
#include "lm/qwen3.h"
#include "test_util.h"
#include "text/bpe_train.h"

/* WORK with 120 items and their semantic IDs; lmdata/train.jsonl and valid.jsonl ask for an
 * item's SID by title and for a title by SID. */
static void make_work(char *work, size_t n) {
    char tmp[256];
    sd_test_tmpdir(tmp, sizeof tmp);
    snprintf(work, n, "%s/w", tmp);
    char *out = NULL;
    int rc = sd_test_semid(&out, "synth -o %s --items 120 --users 80 --quiet", work);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    cr_assert_eq(sd_test_semid(&out, "embed %s --quiet", work), 0, "%s", out);
    free(out);
    cr_assert_eq(sd_test_semid(&out, "ids %s --quiet", work), 0, "%s", out);
    free(out);
}

static void write_lmdata(const char *work) {
    char path[600];
    snprintf(path, sizeof path, "%s/items.jsonl", work);
    sd_catalog *cat;
    sd_err err;
    cr_assert_eq(sd_catalog_read_jsonl(&cat, path, &err), 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/sids.tsv", work);
    FILE *f = fopen(path, "r");
    cr_assert(f);
    char line[1024];
    char **sid = sd_xcalloc((size_t)cat->n_items, sizeof *sid);
    cr_assert(fgets(line, sizeof line, f)); /* header */
    while (fgets(line, sizeof line, f)) {
        int id = atoi(line);
        char *last = strrchr(line, '\t');
        cr_assert(last && id >= 0 && id < cat->n_items);
        last[strcspn(last, "\n")] = 0;
        sid[id] = sd_xstrdup(last + 1);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/lmdata", work);
    cr_assert_eq(sd_mkdir_p(path, &err), 0);
    for (int part = 0; part < 2; part++) {
        snprintf(path, sizeof path, "%s/lmdata/%s.jsonl", work, part ? "valid" : "train");
        f = fopen(path, "w");
        int n = part ? 20 : 160;
        for (int i = 0; i < n; i++) {
            int it = (i * 7 + part * 3) % cat->n_items;
            const char *title = cat->items[it].title;
            if (i % 2)
                fprintf(f, "{\"task\": \"title2sid\", \"messages\": [{\"role\": \"system\", \"content\": \"You are a shop "
                           "assistant.\"}, {\"role\": \"user\", \"content\": \"Which item is called %s?\"}, {\"role\": "
                           "\"assistant\", \"content\": \"%s\"}]}\n", title, sid[it]);
            else
                fprintf(f, "{\"task\": \"sid2title\", \"messages\": [{\"role\": \"user\", \"content\": \"What is %s?\"}, "
                           "{\"role\": \"assistant\", \"content\": \"%s\"}]}\n", sid[it], title);
        }
        fclose(f);
    }
    for (int i = 0; i < cat->n_items; i++) free(sid[i]);
    free(sid);
    sd_catalog_free(cat);
}

static char *slurp(const char *dir, const char *name) {
    char *p = sd_path_join(dir, name), *s;
    size_t n;
    sd_err err;
    cr_assert_eq(sd_read_file(p, &s, &n, &err), 0, "%s", err.msg);
    free(p);
    return s;
}

static bool same_file(const char *a, const char *b) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", a, b);
    return sd_test_run(cmd, NULL) == 0;
}

#define FT_OPTS "--steps 24 --vocab 600 --batch 8 --eval-every 8 --ckpt-every 8 --threads 2"

Test(finetune_cli, from_scratch_end_to_end, .timeout = 240) {
    char work[300], out_a[400], out_b[400];
    make_work(work, sizeof work);
    write_lmdata(work);
    char *out = NULL;
    int rc = sd_test_semid(&out, "finetune %s " FT_OPTS, work);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "parameters") && strstr(out, "padding") && strstr(out, "memory: weights") &&
              strstr(out, "valid loss"), "%s", out);
    free(out);
    snprintf(out_a, sizeof out_a, "%s/lm", work);
    sd_qwen3 m;
    sd_err err;
    cr_assert_eq(sd_qwen3_load(&m, out_a, &err), 0, "%s", err.msg);
    cr_assert(m.tok);
    int32_t im_end = sd_tok_token_to_id(m.tok, "<|im_end|>");
    cr_assert(im_end >= 0 && sd_tok_token_to_id(m.tok, "<|sid_0|>") >= 0 && sd_tok_token_to_id(m.tok, "<|rec|>") >= 0);
    cr_assert(sd_tok_is_special(m.tok, sd_tok_token_to_id(m.tok, "<|sid_start|>")));
    cr_assert_eq(m.cfg.eos_token_ids[0], im_end);
    sd_qwen3_free(&m);
    /* what transformers reads */
    char *s = slurp(out_a, "config.json");
    cr_assert(strstr(s, "\"model_type\":\t\"qwen3\"") && strstr(s, "Qwen3ForCausalLM"), "%s", s);
    free(s);
    s = slurp(out_a, "tokenizer_config.json");
    cr_assert(strstr(s, "chat_template") && strstr(s, "\"eos_token\":\t\"<|im_end|>\""), "%s", s);
    free(s);
    s = slurp(out_a, "generation_config.json");
    char want[32];
    snprintf(want, sizeof want, "[%d,", im_end);
    cr_assert(strstr(s, want), "%s", s);
    free(s);
    /* the log: a row per step, the loss falls */
    s = slurp(out_a, "train_log.csv");
    cr_assert(!strncmp(s, "step,lr,loss,valid_loss,tokens_per_s\n", 37), "%s", s);
    int rows = 0;
    double first = 0, last = 0;
    for (char *p = strchr(s, '\n') + 1; *p; p = strchr(p, '\n') + 1, rows++) {
        double loss = atof(strchr(strchr(p, ',') + 1, ',') + 1);
        if (!rows) first = loss;
        last = loss;
    }
    cr_assert_eq(rows, 24);
    cr_assert(last < first - 0.5, "loss %g -> %g", first, last);
    free(s);
    /* semid generate answers a chat prompt with it */
    rc = sd_test_semid(&out, "generate --model %s --chat --prompt 'Which item is called Logic?' --max-new-tokens 8",
                       out_a);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    /* stop after 10 steps, resume: the same bytes */
    snprintf(out_b, sizeof out_b, "%s/lm_b", work);
    rc = sd_test_semid(&out, "finetune %s " FT_OPTS " --out %s --stop-after 10", work, out_b);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "--resume"), "%s", out);
    free(out);
    cr_assert(!sd_exists(out_b), "an interrupted run writes no model");
    rc = sd_test_semid(&out, "finetune %s " FT_OPTS " --out %s --resume", work, out_b);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    char fa[500], fb[500];
    snprintf(fa, sizeof fa, "%s/model.safetensors", out_a);
    snprintf(fb, sizeof fb, "%s/model.safetensors", out_b);
    cr_assert(same_file(fa, fb), "resumed model differs");
    /* a damaged checkpoint is refused, and the folder stays as it was */
    snprintf(fb, sizeof fb, "%s.ckpt.safetensors", out_b);
    cr_assert(sd_exists(fb));
    FILE *f = fopen(fb, "r+b");
    fputs("not a checkpoint at all", f);
    fclose(f);
    rc = sd_test_semid(&out, "finetune %s " FT_OPTS " --out %s --resume", work, out_b);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "ckpt.safetensors"), "%s", out);
    free(out);
    snprintf(fb, sizeof fb, "%s/model.safetensors", out_b);
    cr_assert(same_file(fa, fb));
}

/* A random Qwen3 folder with a BPE tokenizer (ChatML tokens, no SID tokens); with_sid adds only
 * <|sid_start|>, a vocabulary that conflicts with WORK's. */
static void make_base(const char *dir, bool with_sid) {
    static const char *const SPECIAL[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    const char *texts[] = {"Which item is called the game? What is it? You are a shop assistant.\n"};
    size_t len = strlen(texts[0]);
    sd_word_counts *w = sd_word_counts_new();
    sd_word_counts_add_texts(w, texts, &len, 1, NULL, 0, 1);
    sd_bpe_train_opts bo = {.vocab_size = 300, .special = SPECIAL, .n_special = 3, .threads = 1};
    sd_tokenizer *tok;
    sd_err err;
    cr_assert_eq(sd_bpe_train_words(&tok, w, &bo, &err), 0, "%s", err.msg);
    sd_word_counts_free(w);
    if (with_sid) {
        sd_added_token t = {.content = "<|sid_start|>", .special = true};
        cr_assert_eq(sd_tok_add_tokens(tok, &t, 1, NULL, &err), 1);
    }
    sd_qwen3_config c = sd_qwen3_config_default();
    c.hidden_size = 32, c.num_hidden_layers = 2, c.num_attention_heads = 2, c.num_key_value_heads = 1;
    c.head_dim = 16, c.intermediate_size = 48, c.vocab_size = sd_tok_vocab_size(tok) + 8;
    c.eos_token_ids[0] = 2, c.n_eos = 1;
    sd_qwen3 m;
    cr_assert_eq(sd_qwen3_init(&m, &c, &err), 0, "%s", err.msg);
    sd_qwen3_init_random(&m, 4, 0.1f);
    m.tok = tok;
    cr_assert_eq(sd_qwen3_save(&m, dir, NULL, &err), 0, "%s", err.msg);
    sd_qwen3_free(&m);
}

Test(finetune_cli, base_two_stages, .timeout = 240) {
    char work[300], base[400], bad[400], outd[400];
    make_work(work, sizeof work);
    write_lmdata(work);
    snprintf(base, sizeof base, "%s/base", work);
    make_base(base, false);
    snprintf(outd, sizeof outd, "%s/lm", work);
    char *out = NULL;
    int rc = sd_test_semid(&out, "finetune %s --base %s --stage1-steps 6 --stage2-steps 4 --eval-every 3 --batch 8 "
                                 "--threads 2", work, base);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "added") && strstr(out, "stage1: 6 steps") && strstr(out, "stage2: 4 steps"), "%s", out);
    free(out);
    sd_qwen3 b, m;
    sd_err err;
    cr_assert_eq(sd_qwen3_load(&b, base, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_qwen3_load(&m, outd, &err), 0, "%s", err.msg);
    int32_t sid0 = sd_tok_token_to_id(m.tok, "<|sid_0|>");
    cr_assert_eq(sd_tok_token_to_id(m.tok, "<|rec|>"), sd_tok_vocab_size(b.tok));
    cr_assert(sid0 > 0 && m.cfg.vocab_size > b.cfg.vocab_size);
    sd_qwen3_free(&b);
    sd_qwen3_free(&m);
    char *s = slurp(outd, "train_log.csv");
    cr_assert(strstr(s, "stage,step,") && strstr(s, "stage1,6,") && strstr(s, "stage2,4,"), "%s", s);
    free(s);
    /* stage 1 alone: what it writes holds the base's weights bit for bit, but for the new rows */
    rc = sd_test_semid(&out, "finetune %s --base %s --stage1-steps 4 --stage2-steps 0 --out %s/lm1 --quiet", work,
                       base, work);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    char s1[500];
    snprintf(s1, sizeof s1, "%s/lm1", work);
    cr_assert_eq(sd_qwen3_load(&b, base, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_qwen3_load(&m, s1, &err), 0, "%s", err.msg);
    cr_assert_eq(m.p.n_views, b.p.n_views);
    int32_t old = sd_tok_vocab_size(b.tok);
    size_t C = (size_t)b.cfg.hidden_size;
    for (int k = 0; k < b.p.n_views; k++) {
        const sd_view *vb = &b.p.views[k], *vm = &m.p.views[k];
        cr_assert_str_eq(vb->name, vm->name);
        size_t n = k == b.embed || k == b.lm_head ? (size_t)old * C : vb->numel;
        cr_assert(!memcmp(b.p.data + vb->offset, m.p.data + vm->offset, n * 4), "%s changed in stage 1", vb->name);
    }
    sd_qwen3_free(&b);
    sd_qwen3_free(&m);
    /* stage 2 only, from a folder that already has the tokens: bound, not added again */
    rc = sd_test_semid(&out, "finetune %s --base %s --stage1-steps 0 --stage2-steps 2 --out %s/lm2 --quiet", work,
                       outd, work);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(!strstr(out, "added"), "%s", out);
    free(out);
    /* a base whose vocabulary holds conflicting tokens */
    snprintf(bad, sizeof bad, "%s/badbase", work);
    make_base(bad, true);
    rc = sd_test_semid(&out, "finetune %s --base %s --stage1-steps 2 --stage2-steps 0 --out %s/lm3", work, bad, work);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "badbase"), "%s", out);
    free(out);
}

Test(finetune_cli, bad_input, .timeout = 240) {
    char work[300], path[600];
    make_work(work, sizeof work);
    char *out = NULL;
    /* no lmdata yet */
    int rc = sd_test_semid(&out, "finetune %s --steps 2", work);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "semid lmdata"), "%s", out);
    free(out);
    write_lmdata(work);
    /* a malformed line of the user's own file */
    snprintf(path, sizeof path, "%s/mine.jsonl", work);
    FILE *f = fopen(path, "w");
    fputs("{\"messages\": [{\"role\": \"assistant\", \"content\": \"hi\"}]}\n{\"messages\": [{\"role\": \"user\"}]}\n", f);
    fclose(f);
    rc = sd_test_semid(&out, "finetune %s --data %s --steps 2", work, path);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "mine.jsonl:2: messages[0].content: missing"), "%s", out);
    free(out);
    /* --list-loss names tasks; an unknown one is bad usage, named under this option */
    rc = sd_test_semid(&out, "finetune %s --steps 2 --list-loss next_item,nope", work);
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "--list-loss: unknown task 'nope'"), "%s", out);
    free(out);
    /* not enough memory for the batch: refused with what to change */
    rc = sd_test_semid(&out, "finetune %s --steps 2 --vocab 400 --mem-limit 1", work);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "--recompute") && strstr(out, "--batch"), "%s", out);
    free(out);
    /* an output folder semid did not write is never replaced */
    snprintf(path, sizeof path, "%s/mine", work);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/mine/keep.txt", work);
    f = fopen(path, "w");
    fputs("x", f);
    fclose(f);
    rc = sd_test_semid(&out, "finetune %s --steps 2 --vocab 400 --out %s/mine", work, work);
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "mine"), "%s", out);
    free(out);
    cr_assert(sd_exists(path));
    /* --resume with nothing to resume */
    rc = sd_test_semid(&out, "finetune %s --steps 2 --vocab 400 --resume --out %s/fresh", work, work);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "no training checkpoint"), "%s", out);
    free(out);
    /* no semantic IDs */
    snprintf(path, sizeof path, "rm %s/sids.tsv", work);
    cr_assert_eq(sd_test_run(path, NULL), 0);
    rc = sd_test_semid(&out, "finetune %s --steps 2", work);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "semid ids"), "%s", out);
    free(out);
}
