/* Chat fine-tuning JSONL (lm/chatdata.h) through sd_chat_read_jsonl; an accepted file must
 * tokenise with assistant-only labels into examples that keep their invariants: within max_len,
 * at least one labelled target, every conversation kept or counted as left out. */
#include "fuzz_common.h"
#include "lm/finetune.h"
#include "text/bpe_train.h"

static sd_tokenizer *tokenizer(void) {
    static sd_tokenizer *tok;
    if (tok) return tok;
    static const char *const special[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|sid_0|>", "<|rec|>"};
    const char *text[] = {"user assistant system Which item is it? You help shoppers.\n"};
    size_t len = strlen(text[0]);
    sd_word_counts *w = sd_word_counts_new();
    sd_word_counts_add_texts(w, text, &len, 1, NULL, 0, 1);
    sd_bpe_train_opts o = {.vocab_size = 300, .special = special, .n_special = 5, .threads = 1};
    sd_err err;
    if (sd_bpe_train_words(&tok, w, &o, &err)) abort();
    sd_word_counts_free(w);
    return tok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char path[512];
    fz_write("train.jsonl", data, n, path, sizeof path);
    sd_chat_set s;
    sd_err err;
    if (sd_chat_read_jsonl(&s, path, &err)) return 0;
    sd_chat_check_sid_tokens(&s, path, 1, &err);
    sd_ft_data d;
    if (sd_ft_data_build(&d, &s, tokenizer(), 64, n % 2, 3, &err)) abort();
    if ((size_t)(d.n + d.skipped + d.no_labels) != s.n) abort();
    for (int32_t i = 0; i < d.n; i++)
        if (d.ex[i].len > 64 || d.ex[i].labelled < 1) abort();
    for (int32_t b = 0; b < d.n_batches; b++)
        if (d.start[b + 1] <= d.start[b]) abort();
    sd_ft_data_free(&d);
    sd_chat_set_free(&s);
    return 0;
}
