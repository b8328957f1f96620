/* Byte-level BPE training with the same pre-tokenizer (Qwen2 regex) and normaliser (NFC) as the
 * tokenizer, producing a tokenizer that sd_tok_save writes as a standard tokenizer.json.
 *
 * Words are counted first (parallel over lines), then merges are learnt over the unique words
 * with pair counts updated incrementally around each merge (only the words holding the merged
 * pair are touched). The next merge is the pair with the highest count; ties go to the smaller
 * (left id, right id), so the result depends only on the corpus and the options, not on the
 * thread count.
 *
 * Ids: special tokens first (0..k-1, in the vocabulary and as added special tokens), then the 256 byte symbols in byte
 * order, then one id per new merged token in the order learnt. */
#ifndef SD_BPE_TRAIN_H
#define SD_BPE_TRAIN_H
#include <stddef.h>
#include <stdint.h>
#include "base/err.h"
#include "text/tokenizer.h"

typedef struct sd_bpe_train_opts {
    int32_t vocab_size;            /* total, specials and the 256 bytes included */
    const char *const *special;    /* special tokens (may be NULL) */
    size_t n_special;
    int64_t min_frequency;         /* stop when the best pair occurs fewer times (0 or 1: never) */
    int threads;                   /* 0 = all */
    bool progress;
} sd_bpe_train_opts;

/* Word-frequency table over texts; add texts in any order and from one thread at a time. */
typedef struct sd_word_counts sd_word_counts;
sd_word_counts *sd_word_counts_new(void);
void sd_word_counts_free(sd_word_counts *w);
/* Pre-tokenizes n documents (in parallel) into w; special tokens in `special` are cut out first. */
void sd_word_counts_add_texts(sd_word_counts *w, const char *const *texts, const size_t *lens, size_t n,
                              const char *const *special, size_t n_special, int threads);
size_t sd_word_counts_size(const sd_word_counts *w);

int sd_bpe_train_words(sd_tokenizer **out, const sd_word_counts *w, const sd_bpe_train_opts *o, sd_err *err);
/* Convenience: reads files (plain or gzip), one document per line (the newline kept), counts and trains. */
int sd_bpe_train_files(sd_tokenizer **out, const char *const *paths, size_t n_paths, const sd_bpe_train_opts *o,
                       sd_err *err);

#endif
