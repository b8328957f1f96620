/* Fine-tuning library: the chat JSONL reader (errors name file:line and field), labels on the
 * assistant's tokens only, the masked loss of a bucketed batch against a direct computation,
 * stage 1 leaving every old row and every non-embedding weight bit-identical, and a stop +
 * resume giving the bytes of an uninterrupted run. (The engine's masked cross-entropy itself is
 * checked against PyTorch in test_lm_qwen3.c with tests/ref/qwen3_ref.py, whose targets hold
 * -100 at padding and inside rows.) */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "ids/sid_vocab.h"
#include "lm/finetune.h"
#include "test_util.h"
#include "text/bpe_train.h"

static const char *const SPECIAL[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"};

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

static const char *TITLES[] = {"Red wool scarf", "Blue cotton shirt", "Green tea kettle", "Black running shoes",
                               "White desk lamp", "Yellow rain coat", "Silver watch", "Brown leather bag"};

/* A conversation file: items named by title and by SID, so the model has something to learn. */
static void write_convs(const char *path, int n, int offset) {
    FILE *f = fopen(path, "w");
    cr_assert(f);
    for (int i = 0; i < n; i++) {
        int it = (i * 5 + offset) % 8;
        if (i % 2)
            fprintf(f, "{\"task\": \"title2sid\", \"messages\": [{\"role\": \"system\", \"content\": \"You help shoppers.\"}, "
                       "{\"role\": \"user\", \"content\": \"Which item is %s?\"}, {\"role\": \"assistant\", \"content\": "
                       "\"<|sid_start|><|sid_%d|><|sid_%d|><|sid_end|>\"}]}\n", TITLES[it], it % 4, 4 + it / 4);
        else
            fprintf(f, "{\"messages\": [{\"role\": \"user\", \"content\": \"What is <|sid_start|><|sid_%d|><|sid_%d|>"
                       "<|sid_end|>?\"}, {\"role\": \"assistant\", \"content\": \"It is the %s.\"}, {\"role\": \"user\", "
                       "\"content\": \"Thanks <|rec|>\"}, {\"role\": \"assistant\", \"content\": \"You are welcome.\"}]}\n",
                    it % 4, 4 + it / 4, TITLES[it]);
    }
    fclose(f);
}

static sd_tokenizer *small_tokenizer(void) {
    const char *texts[8];
    size_t lens[8];
    for (int i = 0; i < 8; i++) texts[i] = TITLES[i], lens[i] = strlen(TITLES[i]);
    sd_word_counts *w = sd_word_counts_new();
    sd_word_counts_add_texts(w, texts, lens, 8, NULL, 0, 1);
    const char *more[] = {"Which item is? What is it? It is the. Thanks You are welcome. You help shoppers.\n"};
    size_t ml = strlen(more[0]);
    sd_word_counts_add_texts(w, more, &ml, 1, NULL, 0, 1);
    sd_bpe_train_opts o = {.vocab_size = 330, .special = SPECIAL, .n_special = 5, .threads = 1};
    sd_tokenizer *t;
    sd_err err;
    cr_assert_eq(sd_bpe_train_words(&t, w, &o, &err), 0, "%s", err.msg);
    sd_word_counts_free(w);
    return t;
}

/* A random 2-layer model over the small tokenizer with 2 x 4 SID tokens added. */
static void small_model(sd_qwen3 *m, sd_sid_vocab *v, sd_qwen3_vocab_ext *x) {
    sd_tokenizer *tok = small_tokenizer();
    sd_qwen3_config c = sd_qwen3_config_default();
    c.hidden_size = 16, c.num_hidden_layers = 2, c.num_attention_heads = 2, c.num_key_value_heads = 1;
    c.head_dim = 8, c.intermediate_size = 24, c.vocab_size = sd_tok_vocab_size(tok), c.tie_word_embeddings = false;
    sd_err err;
    cr_assert_eq(sd_qwen3_init(m, &c, &err), 0, "%s", err.msg);
    sd_qwen3_init_random(m, 3, 0.2f);
    m->tok = tok;
    int32_t K[2] = {4, 4};
    cr_assert_eq(sd_sid_vocab_init(v, 2, 2, K, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_qwen3_extend_sid_vocab(m, v, 5, 0.1f, x, &err), 0, "%s", err.msg);
}

static void read_ok(sd_chat_set *s, const char *path) {
    sd_err err;
    cr_assert_eq(sd_chat_read_jsonl(s, path, &err), 0, "%s", err.msg);
}

static void read_bad(const char *dir, const char *text, const char *want) {
    char path[600];
    snprintf(path, sizeof path, "%s/bad.jsonl", dir);
    write_file(path, text);
    sd_chat_set s;
    sd_err err = {0};
    cr_assert_neq(sd_chat_read_jsonl(&s, path, &err), 0, "accepted: %s", text);
    cr_assert(strstr(err.msg, want), "'%s' lacks '%s'", err.msg, want);
    cr_assert_eq(s.n, 0);
}

Test(finetune, reader_errors_name_line_and_field) {
    char dir[256], path[600];
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/ok.jsonl", dir);
    write_convs(path, 4, 0);
    sd_chat_set s;
    read_ok(&s, path);
    cr_assert_eq(s.n, 4);
    cr_assert_str_eq(s.convs[1].task, "title2sid");
    cr_assert_str_eq(s.convs[0].task, "");
    cr_assert_eq(s.convs[0].n_msgs, 4);
    cr_assert_str_eq(s.convs[1].msgs[0].role, "system");
    sd_chat_set_free(&s);
    sd_err err0 = {0};
    const char *good = "{\"messages\": [{\"role\": \"assistant\", \"content\": \"x\"}]}\n";
    char buf[1024];
    snprintf(buf, sizeof buf, "%s\n%s{\"messages\": [{\"role\": \"user\", \"content\": 3}]}\n", good, good);
    read_bad(dir, buf, "bad.jsonl:4: messages[0].content: expected a string");
    read_bad(dir, "{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}\n", "bad.jsonl:1: messages[0].role: \"robot\"");
    read_bad(dir, "{\"messages\": [{\"content\": \"x\"}]}\n", "bad.jsonl:1: messages[0].role: missing");
    read_bad(dir, "{\"task\": \"a\"}\n", "bad.jsonl:1: \"messages\" missing");
    read_bad(dir, "{\"messages\": []}\n", "bad.jsonl:1: messages: empty");
    read_bad(dir, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}\n", "bad.jsonl:1: messages: no assistant");
    snprintf(buf, sizeof buf, "%s{\"messages\": [\n", good);
    read_bad(dir, buf, "bad.jsonl:2");
    read_bad(dir, "[1, 2]\n", "bad.jsonl:1: expected a JSON object");
    /* SID tokens beyond the vocabulary */
    snprintf(path, sizeof path, "%s/ok.jsonl", dir);
    read_ok(&s, path);
    cr_assert_eq(sd_chat_check_sid_tokens(&s, path, 8, &err0), 0, "%s", err0.msg);
    cr_assert_neq(sd_chat_check_sid_tokens(&s, path, 5, &err0), 0);
    cr_assert(strstr(err0.msg, "ok.jsonl:2: messages[2].content: <|sid_5|> is not one of the 5"), "%s", err0.msg);
    sd_chat_set_free(&s);
    snprintf(path, sizeof path, "%s/none.jsonl", dir);
    sd_err err;
    cr_assert_neq(sd_chat_read_jsonl(&s, path, &err), 0);
    cr_assert(strstr(err.msg, "none.jsonl"), "%s", err.msg);
}

/* Labels: exactly the assistant's content and <|im_end|>; the ids are those of the template. */
Test(finetune, labels_on_assistant_tokens_only) {
    sd_tokenizer *tok = small_tokenizer();
    sd_chat_msg msgs[3] = {{"system", "You help shoppers."}, {"user", "Which item is Silver watch?"},
                           {"assistant", "It is the Silver watch."}};
    sd_ids ids = {0}, lab = {0};
    sd_err err;
    cr_assert_eq(sd_chat_encode(tok, NULL, msgs, 3, &ids, &lab, &err), 0, "%s", err.msg);
    cr_assert_eq(ids.n, lab.n);
    /* the whole text: the generation prompt (thinking off) + the answer */
    char *prompt = sd_chat_render(msgs, 2, true, false);
    size_t pl = strlen(prompt);
    char *full = sd_xmalloc(pl + 64);
    snprintf(full, pl + 64, "%s%s<|im_end|>\n", prompt, msgs[2].content);
    sd_ids want = {0}, pids = {0};
    sd_tok_encode(tok, NULL, full, strlen(full), &want);
    sd_tok_encode(tok, NULL, prompt, pl, &pids);
    cr_assert_eq(ids.n, want.n);
    cr_assert(!memcmp(ids.v, want.v, ids.n * sizeof(int32_t)), "piecewise encoding differs from the whole text");
    /* unlabelled: the prompt and the final "\n"; labelled: the rest */
    for (size_t i = 0; i < ids.n; i++) {
        bool labelled = i >= pids.n && i + 1 < ids.n;
        cr_assert_eq(lab.v[i], labelled ? ids.v[i] : SD_QWEN3_IGNORE, "token %zu", i);
    }
    char *ans = sd_tok_decode(tok, ids.v + pids.n, ids.n - pids.n - 1, false, NULL);
    cr_assert_str_eq(ans, "It is the Silver watch.<|im_end|>");
    free(ans);
    free(prompt);
    free(full);
    sd_ids_free(&ids); sd_ids_free(&lab); sd_ids_free(&want); sd_ids_free(&pids);
    sd_tok_free(tok);
}

/* List labels: in a user's list "<SID>, <SID>, <SID>" the 2nd and 3rd items' codes and
 * <|sid_end|> are labelled, not the first item, not <|sid_start|>, not an SID after other words. */
Test(finetune, list_labels_on_history_items_only) {
    sd_qwen3 m;
    sd_sid_vocab v;
    sd_qwen3_vocab_ext x;
    small_model(&m, &v, &x);
    const char *a = "<|sid_start|><|sid_0|><|sid_4|><|sid_end|>", *b = "<|sid_start|><|sid_1|><|sid_5|><|sid_end|>",
               *c = "<|sid_start|><|sid_2|><|sid_6|><|sid_end|>";
    char user[512];
    snprintf(user, sizeof user, "What is %s, %s, %s? It is %s <|rec|>", a, b, c, a);
    sd_chat_msg msgs[2] = {{"user", user}, {"assistant", "It is the Silver watch."}};
    sd_ids ids = {0}, lab = {0}, ids0 = {0}, lab0 = {0};
    sd_err err;
    cr_assert_eq(sd_chat_encode_lists(m.tok, NULL, msgs, 2, true, &ids, &lab, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_chat_encode(m.tok, NULL, msgs, 2, &ids0, &lab0, &err), 0, "%s", err.msg);
    cr_assert_eq(ids.n, ids0.n);
    cr_assert(!memcmp(ids.v, ids0.v, ids.n * sizeof(int32_t)));
    int32_t start = sd_tok_token_to_id(m.tok, "<|sid_start|>"), end = sd_tok_token_to_id(m.tok, "<|sid_end|>");
    int32_t asst = -1; /* where the assistant's content starts: the lists only touch the user's turn */
    for (size_t i = 0; i < ids.n; i++)
        if (lab0.v[i] != SD_QWEN3_IGNORE) { asst = (int32_t)i; break; }
    cr_assert_geq(asst, 0);
    int sid = -1, extra = 0; /* sid: index of the SID being read in the user's turn */
    bool in = false;
    for (int32_t i = 0; i < asst; i++) {
        if (ids.v[i] == start) { sid++; in = true; cr_assert_eq(lab.v[i], SD_QWEN3_IGNORE, "<|sid_start|> labelled"); continue; }
        bool want = in && (sid == 1 || sid == 2);
        cr_assert_eq(lab.v[i], want ? ids.v[i] : SD_QWEN3_IGNORE, "token %d of SID %d", i, sid);
        extra += want;
        if (ids.v[i] == end) in = false;
    }
    cr_assert_eq(extra, 6, "two SIDs of two codes and an end each");
    for (size_t i = (size_t)asst; i < ids.n; i++) cr_assert_eq(lab.v[i], lab0.v[i]);
    sd_ids_free(&ids); sd_ids_free(&lab); sd_ids_free(&ids0); sd_ids_free(&lab0);
    sd_qwen3_free(&m);
    sd_sid_vocab_free(&v);
}

/* The loss of a bucketed, padded batch is the mean cross-entropy over the assistant's tokens,
 * computed here from the hidden states at exactly those positions. */
Test(finetune, masked_loss_matches_direct) {
    char dir[256], path[600];
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/c.jsonl", dir);
    write_convs(path, 6, 1);
    sd_chat_set s;
    read_ok(&s, path);
    sd_qwen3 m;
    sd_sid_vocab v;
    sd_qwen3_vocab_ext x;
    small_model(&m, &v, &x);
    sd_ft_data d;
    sd_err err;
    cr_assert_eq(sd_ft_data_build(&d, &s, m.tok, 512, false, 6, &err), 0, "%s", err.msg);
    cr_assert_eq(d.n_batches, 1);
    int B = 6, T = d.max_len_seen, V = m.cfg.vocab_size, C = m.cfg.hidden_size;
    int32_t *ids = sd_xcalloc((size_t)B * T, 4), *tg = sd_xmalloc((size_t)B * T * 4);
    uint8_t *kv = sd_xcalloc((size_t)B * T, 1);
    for (int i = 0; i < B * T; i++) tg[i] = SD_QWEN3_IGNORE;
    for (int b = 0; b < B; b++) {
        const sd_ft_example *e = &d.ex[d.order[b]];
        memcpy(ids + (size_t)b * T, e->ids, (size_t)e->len * 4);
        memcpy(tg + (size_t)b * T, e->targets, (size_t)e->len * 4);
        memset(kv + (size_t)b * T, 1, (size_t)e->len);
    }
    sd_qwen3_batch bt = {.B = B, .T = T, .ids = ids, .key_valid = kv, .targets = tg};
    sd_qwen3_state st;
    sd_qwen3_state_init(&st, &m, B, T, false, false);
    float loss;
    cr_assert_eq(sd_qwen3_forward(&m, &st, &bt, &loss, &err), 0, "%s", err.msg);
    cr_assert_eq(st.n_valid, d.labelled);
    float *h = sd_xmalloc((size_t)B * T * C * 4), *lg = sd_xmalloc((size_t)V * 4);
    bt.targets = NULL;
    cr_assert_eq(sd_qwen3_hidden(&m, &st, &bt, h, &err), 0, "%s", err.msg);
    double sum = 0;
    int n = 0;
    for (int i = 0; i < B * T; i++) {
        if (tg[i] == SD_QWEN3_IGNORE) continue;
        sd_qwen3_logits(&m, h + (size_t)i * C, 1, lg);
        double mx = -INFINITY, z = 0;
        for (int k = 0; k < V; k++) mx = lg[k] > mx ? lg[k] : mx;
        for (int k = 0; k < V; k++) z += exp(lg[k] - mx);
        sum += mx + log(z) - lg[tg[i]];
        n++;
    }
    cr_assert_eq(n, d.labelled);
    cr_assert_float_eq(loss, sum / n, 1e-4, "%g vs %g", loss, sum / n);
    free(ids); free(tg); free(kv); free(h); free(lg);
    sd_qwen3_state_free(&st);
    sd_ft_data_free(&d);
    sd_chat_set_free(&s);
    sd_sid_vocab_free(&v);
    sd_qwen3_free(&m);
}

static sd_ft_opts quick_opts(int64_t steps, const char *ckpt) {
    sd_ft_opts o = {0};
    o.train = sd_train_defaults();
    o.train.batch = 3;
    o.train.seed = 9;
    o.train.adam.lr = 1e-2;
    o.train.adam.weight_decay = 0.1;
    o.train.schedule = SD_LR_COSINE;
    o.train.warmup = 2;
    o.train.clip = 1;
    o.train.eval_every_steps = 3;
    o.train.ckpt_path = ckpt;
    o.steps = steps;
    o.stage = "test";
    return o;
}

static void data_for(sd_ft_data *d, sd_ft_data *dv, const sd_qwen3 *m, const char *dir) {
    char path[600];
    snprintf(path, sizeof path, "%s/t.jsonl", dir);
    write_convs(path, 10, 0);
    sd_chat_set s;
    read_ok(&s, path);
    sd_err err;
    cr_assert_eq(sd_ft_data_build(d, &s, m->tok, 512, false, 3, &err), 0, "%s", err.msg);
    sd_chat_set_free(&s);
    snprintf(path, sizeof path, "%s/v.jsonl", dir);
    write_convs(path, 4, 3);
    read_ok(&s, path);
    cr_assert_eq(sd_ft_data_build(dv, &s, m->tok, 512, false, 3, &err), 0, "%s", err.msg);
    sd_chat_set_free(&s);
}

Test(finetune, stage1_keeps_old_rows_and_other_weights) {
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    sd_qwen3 m;
    sd_sid_vocab v;
    sd_qwen3_vocab_ext x;
    small_model(&m, &v, &x);
    sd_ft_data d, dv;
    data_for(&d, &dv, &m, dir);
    float *before = sd_xmalloc(m.p.n * 4);
    memcpy(before, m.p.data, m.p.n * 4);
    sd_ft_opts o = quick_opts(6, NULL);
    o.row_lo = x.old_tokens, o.row_hi = x.new_rows;
    sd_ft_report rep;
    sd_err err;
    cr_assert_eq(sd_ft_train(&m, &d, &dv, &o, NULL, &rep, &err), 0, "%s", err.msg);
    cr_assert_eq(rep.steps, 6);
    size_t C = (size_t)m.cfg.hidden_size;
    int changed_new = 0;
    for (int k = 0; k < m.p.n_views; k++) {
        const sd_view *w = &m.p.views[k];
        const float *a = m.p.data + w->offset, *b = before + w->offset;
        if (k == m.embed || k == m.lm_head) {
            cr_assert(!memcmp(a, b, (size_t)x.old_tokens * C * 4), "%s: an old row moved", w->name);
            changed_new += memcmp(a + (size_t)x.old_tokens * C, b + (size_t)x.old_tokens * C,
                                  (size_t)(x.new_rows - x.old_tokens) * C * 4) != 0;
        } else {
            cr_assert(!memcmp(a, b, w->numel * 4), "%s changed in stage 1", w->name);
        }
    }
    cr_assert_eq(changed_new, 2, "the new rows of embedding and lm_head train");
    free(before);
    sd_ft_data_free(&d);
    sd_ft_data_free(&dv);
    sd_sid_vocab_free(&v);
    sd_qwen3_free(&m);
}

Test(finetune, resume_is_bit_identical) {
    char dir[256], ck_a[600], ck_b[600];
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(ck_a, sizeof ck_a, "%s/a.ckpt.safetensors", dir);
    snprintf(ck_b, sizeof ck_b, "%s/b.ckpt.safetensors", dir);
    sd_qwen3 m1, m2;
    sd_sid_vocab v;
    sd_qwen3_vocab_ext x;
    small_model(&m1, &v, &x);
    sd_sid_vocab_free(&v);
    small_model(&m2, &v, &x);
    sd_ft_data d, dv;
    data_for(&d, &dv, &m1, dir);
    sd_ft_opts o = quick_opts(10, ck_a);
    o.train.accum = 2; /* 10 steps of 2 micro-batches over 4 batches: passes wrap inside steps */
    o.train.ckpt_every_steps = 4;
    sd_ft_report r1, r2;
    sd_ft_log l1 = {0}, l2 = {0};
    sd_err err;
    cr_assert_eq(sd_ft_train(&m1, &d, &dv, &o, &l1, &r1, &err), 0, "%s", err.msg);
    cr_assert(!r1.interrupted);
    cr_assert_eq(l1.n, 10);
    cr_assert(r1.last_loss < r1.first_loss, "loss %g -> %g", r1.first_loss, r1.last_loss);
    o.train.ckpt_path = ck_b;
    o.train.stop_after_steps = 5;
    cr_assert_eq(sd_ft_train(&m2, &d, &dv, &o, &l2, &r2, &err), 0, "%s", err.msg);
    cr_assert(r2.interrupted);
    /* a fresh process would start from the same initial model: the checkpoint brings the rest */
    sd_qwen3_free(&m2);
    small_model(&m2, &v, &x);
    o.train.stop_after_steps = 0;
    o.train.resume = true;
    cr_assert_eq(sd_ft_train(&m2, &d, &dv, &o, &l2, &r2, &err), 0, "%s", err.msg);
    cr_assert(!memcmp(m1.p.data, m2.p.data, m1.p.n * 4), "resumed parameters differ");
    cr_assert_eq(l2.n, 10);
    for (size_t i = 0; i < 10; i++) {
        cr_assert_eq(l1.rows[i].loss, l2.rows[i].loss, "row %zu", i);
        cr_assert(isnan(l1.rows[i].valid_loss) ? isnan(l2.rows[i].valid_loss)
                                               : l1.rows[i].valid_loss == l2.rows[i].valid_loss, "row %zu", i);
    }
    cr_assert_eq(r1.best_valid, r2.best_valid);
    /* a checkpoint that does not belong to this run is refused */
    o.train.batch = 2;
    cr_assert_neq(sd_ft_train(&m2, &d, &dv, &o, &l2, &r2, &err), 0);
    cr_assert(strstr(err.msg, "batch"), "%s", err.msg);
    /* and a damaged one */
    FILE *f = fopen(ck_b, "r+b");
    cr_assert(f);
    fseek(f, 0, SEEK_SET);
    fputs("garbage!", f);
    fclose(f);
    o.train.batch = 3;
    cr_assert_neq(sd_ft_train(&m2, &d, &dv, &o, &l2, &r2, &err), 0);
    cr_assert(strstr(err.msg, "b.ckpt.safetensors"), "%s", err.msg);
    sd_ft_log_free(&l1);
    sd_ft_log_free(&l2);
    sd_ft_data_free(&d);
    sd_ft_data_free(&dv);
    sd_sid_vocab_free(&v);
    sd_qwen3_free(&m1);
    sd_qwen3_free(&m2);
}

/* Truncation keeps the labels of the kept part; skipping counts what it left out. */
Test(finetune, max_len_truncates_or_skips) {
    char dir[256], path[600];
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/c.jsonl", dir);
    write_convs(path, 6, 0);
    sd_chat_set s;
    read_ok(&s, path);
    sd_tokenizer *tok = small_tokenizer();
    sd_ft_data d;
    sd_err err;
    cr_assert_eq(sd_ft_data_build(&d, &s, tok, 512, false, 4, &err), 0, "%s", err.msg);
    int32_t longest = d.max_len_seen, shortest = d.ex[d.order[0]].len;
    cr_assert_eq(d.n_batches, 2);
    cr_assert(sd_ft_data_padding(&d) >= 0 && sd_ft_data_padding(&d) < 0.5);
    sd_ft_data_free(&d);
    int cut = (longest + shortest) / 2;
    cr_assert_eq(sd_ft_data_build(&d, &s, tok, cut, false, 4, &err), 0, "%s", err.msg);
    cr_assert(d.skipped > 0 && d.n + d.skipped == 6);
    cr_assert(d.max_len_seen <= cut);
    sd_ft_data_free(&d);
    cr_assert_eq(sd_ft_data_build(&d, &s, tok, cut, true, 4, &err), 0, "%s", err.msg);
    cr_assert(d.truncated > 0 && d.n + d.no_labels == 6);
    cr_assert_eq(d.max_len_seen, cut);
    sd_ft_data_free(&d);
    sd_tok_free(tok);
    sd_chat_set_free(&s);
}

/* Activation checkpointing recomputes the same floats: the same parameters after training. */
Test(finetune, recompute_same_bits) {
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    sd_qwen3 m1, m2;
    sd_sid_vocab v;
    sd_qwen3_vocab_ext x;
    small_model(&m1, &v, &x);
    sd_sid_vocab_free(&v);
    small_model(&m2, &v, &x);
    sd_ft_data d, dv;
    data_for(&d, &dv, &m1, dir);
    sd_ft_opts o = quick_opts(4, NULL);
    sd_ft_report r;
    sd_err err;
    cr_assert_eq(sd_ft_train(&m1, &d, &dv, &o, NULL, &r, &err), 0, "%s", err.msg);
    o.recompute = true;
    cr_assert_eq(sd_ft_train(&m2, &d, &dv, &o, NULL, &r, &err), 0, "%s", err.msg);
    cr_assert(!memcmp(m1.p.data, m2.p.data, m1.p.n * 4), "--recompute changed the result");
    sd_ft_data_free(&d);
    sd_ft_data_free(&dv);
    sd_sid_vocab_free(&v);
    sd_qwen3_free(&m1);
    sd_qwen3_free(&m2);
}
