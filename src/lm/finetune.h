/* Fine-tuning a Qwen3 model on chat conversations through the shared training loop (nn/train.h).
 *
 * Data: conversations are tokenised once (lm/chatdata.h: labels on assistant tokens only), cut
 * to max_len, sorted by length and cut into batches of `batch` neighbours (length buckets), so a
 * batch is padded only to its own longest sequence; the order of the batches is shuffled at
 * every pass over the data from (seed, pass). A run is either `steps` optimizer steps (passes
 * repeat as needed) or `epochs` passes; both map onto the loop's epochs of micro-batches, and the
 * data position follows from the loop's own counters, so a resume continues bit-identically.
 *
 * One micro-batch = one padded [B, T] batch through sd_qwen3_forward / sd_qwen3_backward with
 * targets = labels shifted by one (SD_QWEN3_IGNORE elsewhere): the loss is the mean over the
 * assistant's tokens. Validation: the same loss over the held-out conversations (lower is
 * better; the best parameters are kept). */
#ifndef SD_FINETUNE_H
#define SD_FINETUNE_H
#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"
#include "lm/chatdata.h"
#include "lm/qwen3.h"
#include "nn/train.h"

typedef struct sd_ft_example {
    int32_t *ids;       /* [len] */
    int32_t *targets;   /* [len] next-token targets or SD_QWEN3_IGNORE */
    int32_t len, labelled;
} sd_ft_example;

typedef struct sd_ft_data {
    sd_ft_example *ex;
    int32_t n;
    int64_t tokens, labelled;       /* over the kept examples */
    int64_t truncated, skipped;     /* longer than max_len: cut, or left out */
    int64_t no_labels;              /* left out: no labelled token within max_len */
    int32_t max_len_seen;           /* longest kept example */
    /* length buckets: batch b holds examples order[start[b] .. start[b + 1]) */
    int32_t *order, *start, n_batches;
    int64_t padded_slots;           /* sum over batches of B * T */
} sd_ft_data;

/* Tokenises s with tok; longer conversations than max_len (> 1) are truncated when truncate,
 * else skipped. batch > 0 is the bucket size. */
int sd_ft_data_build(sd_ft_data *d, const sd_chat_set *s, const sd_tokenizer *tok, int max_len, bool truncate,
                     int batch, sd_err *err);
/* The same, and in the conversations whose task is one of list_tasks (NULL-terminated; NULL:
 * none) every SID continuing a list in a user's message is labelled too (lm/chatdata.h
 * sd_chat_encode_lists). */
int sd_ft_data_build_lists(sd_ft_data *d, const sd_chat_set *s, const sd_tokenizer *tok, int max_len, bool truncate,
                           int batch, const char *const *list_tasks, sd_err *err);
void sd_ft_data_free(sd_ft_data *d);
/* Share of padding tokens in the batches (0..1). */
double sd_ft_data_padding(const sd_ft_data *d);
/* FNV-1a over ids and targets: the data identity a resumed run must match (hex into buf[17]). */
void sd_ft_data_fingerprint(const sd_ft_data *d, char *buf);

/* One row of the training log (train_log.csv). valid_loss is NAN when no validation ran. */
typedef struct sd_ft_log_row { int64_t step; double lr, loss, valid_loss, tokens_per_s; } sd_ft_log_row;
typedef struct sd_ft_log { sd_ft_log_row *rows; size_t n, cap; } sd_ft_log;
void sd_ft_log_free(sd_ft_log *l);
/* "step,lr,loss,valid_loss,tokens_per_s" + a line per row; stage names a column when not NULL. */
char *sd_ft_log_csv(const sd_ft_log *const *logs, const char *const *stages, int n);

typedef struct sd_ft_opts {
    sd_train_opts train;   /* batch, seed, accum, adam, schedule, warmup, clip, eval_every_steps,
                              ckpt_path, ckpt_every_steps, stop_after_steps, resume, progress */
    int64_t steps;         /* > 0: this many optimizer steps; else train.epochs passes */
    bool recompute;
    int32_t row_lo, row_hi; /* row_hi > 0: only these embedding / lm_head rows and nothing else train */
    const char *stage;     /* "stage1", "train", ...: in the checkpoint identity and messages */
} sd_ft_opts;

typedef struct sd_ft_report {
    int64_t steps, tokens;       /* optimizer steps run in this call, tokens seen */
    double seconds, tokens_per_s; /* seconds: the whole call; tokens_per_s: over the training steps only */
    double first_loss, last_loss; /* mean micro-batch loss of the first and the last step */
    double best_valid;           /* INFINITY when none */
    int64_t best_step;
    bool interrupted;            /* stopped by stop_after_steps */
} sd_ft_report;

/* Trains m (sd_qwen3_alloc_train is called) on train, validating on valid (may be NULL or
 * empty: no validation). Rows are appended to log (may be NULL). */
int sd_ft_train(sd_qwen3 *m, const sd_ft_data *train, const sd_ft_data *valid, const sd_ft_opts *o, sd_ft_log *log,
                sd_ft_report *rep, sd_err *err);
/* Micro-batches per pass and the loop's epochs / batches_per_epoch for o (for sizing). */
int64_t sd_ft_total_steps(const sd_ft_data *train, const sd_ft_opts *o);

#endif
