/* SASRec (Kang & McAuley 2018): next-item prediction with the sequence encoder of rec/seqenc.h.
 *
 * Items are tokens 1 .. n_items (internal item i = token i + 1; token 0 is padding, so the item
 * embedding E has n_items + 1 rows, row 0 unused and zero). Token embeddings are E[tok] * sqrt(d)
 * (the paper / pmixer); the score of item i after hidden state h is h . E[i + 1] (tied).
 *
 * Training uses every user's training prefix items[0 .. train_len) (data/split.h): the inputs are
 * its last maxlen items but the final one, the target at each position is the next item. Losses:
 *   bce      the paper: one sampled negative per position, drawn uniformly from the items NOT in
 *            the user's training items; loss = BCE(pos) + BCE(neg), each a mean over positions
 *            (as pmixer sums its two BCEWithLogits means).
 *   softmax  full softmax cross-entropy over all items at every position (engine's chunked op).
 * An epoch visits every training user once in a seeded random order; each evaluation on the
 * validation targets (eval/evaluate.h, full ranking) keeps the parameters with the best NDCG@10. */
#ifndef SD_SASREC_H
#define SD_SASREC_H
#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "base/err.h"
#include "data/sequences.h"
#include "data/split.h"
#include "nn/params.h"
#include "nn/train.h"
#include "eval/metrics.h"
#include "eval/scorer.h"
#include "rec/seqbatch.h"
#include "rec/seqenc.h"

typedef enum { SD_LOSS_BCE = 0, SD_LOSS_SOFTMAX = 1 } sd_rec_loss;
const char *sd_rec_loss_name(sd_rec_loss l);
int sd_rec_loss_parse(const char *s, sd_rec_loss *l); /* "bce", "softmax"; SD_EUSAGE otherwise */

/* What the model is; how it is trained is an sd_train_opts (nn/train.h), as for every model. */
typedef struct sd_sasrec_cfg {
    int dim, blocks, heads, maxlen;
    float dropout;
    sd_seqenc_block block; /* pmixer (default) or standard pre-LN, rec/seqenc.h */
    sd_rec_loss loss;
} sd_sasrec_cfg;

/* The paper's Amazon configuration: d 50, 2 blocks, 1 head, maxlen 50, dropout 0.5, BCE. */
sd_sasrec_cfg sd_sasrec_defaults(void);
/* Checks every field; errors name the option (--dim must be > 0, ...). */
int sd_sasrec_cfg_check(const sd_sasrec_cfg *c, sd_err *err);

/* The paper's training: Adam lr 1e-3 betas (0.9, 0.98) eps 1e-8, no weight decay, no warmup,
 * constant lr, no clipping, batch 128 users, 200 epochs, validation every 20 (eval_every_epochs),
 * no patience, seed 42, progress "sasrec" (NULL: no bar and no log line per validation). The
 * fields SASRec's command line sets: adam.lr/beta1/beta2/weight_decay, warmup, schedule (cosine
 * decays to lr_min 0), clip, batch, epochs, eval_every_epochs, patience, seed, progress. */
sd_train_opts sd_sasrec_train_defaults(void);
/* Checks the fields above; errors name the option (--lr must be > 0, ...). */
int sd_sasrec_train_check(const sd_train_opts *o, sd_err *err);

typedef struct sd_sasrec {
    sd_sasrec_cfg cfg;
    uint64_t seed;       /* of the initialisation and of the dropout masks in training */
    int32_t n_items;
    sd_params p;
    int item_emb;        /* view of E [n_items + 1, dim] */
    sd_seqenc enc;
} sd_sasrec;

/* Declares and allocates the parameters and initialises them as pmixer (Xavier normal, seeded by
 * seed, which also keys the dropout masks: pass the training options' seed). */
int sd_sasrec_init(sd_sasrec *m, const sd_sasrec_cfg *cfg, uint64_t seed, int32_t n_items, sd_err *err);
void sd_sasrec_free(sd_sasrec *m);

typedef sd_seqbatch sd_sasrec_batch;

typedef struct sd_sasrec_ws sd_sasrec_ws;
sd_sasrec_ws *sd_sasrec_ws_new(const sd_sasrec *m, int max_seqs);
void sd_sasrec_ws_free(sd_sasrec_ws *ws);
/* Loss of one batch (dropout on when train, masks keyed by (m->seed, step)); then the
 * gradients of that loss += into m->p.grad. */
float sd_sasrec_loss_forward(sd_sasrec *m, sd_sasrec_ws *ws, const sd_sasrec_batch *b, bool train, uint64_t step);
void sd_sasrec_loss_backward(sd_sasrec *m, sd_sasrec_ws *ws, const sd_sasrec_batch *b);

/* One validation of a training run: the epoch, its mean training loss and the validation figures
 * (kept in the report so `semid sasrec` can write the curve as WORK/sasrec/train_log.csv). */
typedef struct sd_fit_log_row { int epoch; float loss; double ndcg10, hit10; } sd_fit_log_row;
#define SD_FIT_LOG_MAX 1024 /* validations kept; later ones are dropped from the log only */

typedef struct sd_fit_report {
    int epochs_run, best_epoch;
    sd_metrics best_valid;
    double train_seconds, eval_seconds;
    float last_loss;
    double phase_seconds[3]; /* training time in forward, backward, optimizer (with zeroing) */
    int resumed_from;        /* epochs already done in the checkpoint resumed from (0: fresh run) */
    bool interrupted;        /* stopped by sd_rec_ckpt_opts.stop_after: the parameters are the
                                last epoch's, not the best, and training is not finished */
    sd_fit_log_row valid_log[SD_FIT_LOG_MAX]; /* validations of this call, in order (a resumed run's
                                start at the resume) */
    int n_valid_log;
} sd_fit_report;

/* Checkpointing of the training loop (nn/train.h; files: nn/train_ckpt.h). With a path, a
 * checkpoint is written after every `every`-th epoch (after its validation), after the last epoch and when patience
 * stops the run. resume: continue from the checkpoint (an error if it is missing, unreadable or
 * was made with another configuration or data); the result is bit-identical to an uninterrupted
 * run with the same options and --threads. */
typedef struct sd_rec_ckpt_opts {
    const char *path;      /* NULL: no checkpoints */
    int every;             /* epochs between checkpoints; <= 0 means 1 */
    int stop_after;        /* > 0: stop after this epoch as if interrupted (checkpoint written) */
    bool resume;
} sd_rec_ckpt_opts;

/* SASRec and SID-SASRec on the shared loop (nn/train.h): AdamW over p, batches of opts->batch
 * users from rec/seqbatch.h (maxlen and negatives from cfg), validation with scorer (full
 * ranking, NDCG@10) every opts->eval_every_epochs epochs, best kept; forward/backward are the
 * model's loss on one batch (dropout masks keyed by seed and step). */
typedef struct sd_rec_trainer {
    const sd_sasrec_cfg *cfg;
    const sd_train_opts *opts;    /* sd_sasrec_train_defaults and the command's options */
    sd_params *p;
    void *model, *ws;
    float (*forward)(void *model, void *ws, const sd_seqbatch *b, bool train, uint64_t step);
    void (*backward)(void *model, void *ws, const sd_seqbatch *b);
    /* Optional, for data parallelism over --threads (see sd_rec_fit): a malloc'd shallow copy of
     * the model whose gradients go to grad (weights shared; freed with free), and a workspace for
     * it. NULL: one thread runs each batch, its ops parallel inside. */
    void *(*clone)(const void *model, float *grad);
    void *(*ws_new)(const void *model, int max_seqs);
    void (*ws_free)(void *ws);
    const sd_scorer *scorer;
    const sd_rec_ckpt_opts *ckpt; /* NULL: none */
    const cJSON *ckpt_config;     /* model identity for the checkpoint (data sizes are added) */
} sd_rec_trainer;
int sd_rec_fit(const sd_rec_trainer *tr, const sd_sequences *seq, const sd_split *sp, sd_fit_report *rep, sd_err *err);

/* Item losses over hidden states out [N, C] and an item embedding matrix E [n_items, C]
 * (row = internal item id): bce with negatives neg [N], or full softmax. Backward: dout +=,
 * dE += (dense [n_items, C] gradient). Shared by SASRec and SID-SASRec's sum mode. */
typedef struct sd_item_loss { float *logits, *labels, *dlogits, *rows, *lse; } sd_item_loss;
void sd_item_loss_init(sd_item_loss *s, size_t max_rows, int C);
void sd_item_loss_free(sd_item_loss *s);
float sd_item_loss_forward(sd_item_loss *s, sd_rec_loss loss, const float *out, const float *E, int32_t n_items,
                           const int32_t *target, const int32_t *neg, int N, int C);
/* dloss: the gradient of the loss (1 for the loss itself, a shard's scale). */
void sd_item_loss_backward(sd_item_loss *s, sd_rec_loss loss, float *dout, float *dE, const float *out,
                           const float *E, int32_t n_items, const int32_t *target, const int32_t *neg, int N, int C,
                           float dloss);

/* Trains with AdamW on the split's training prefixes, evaluating on valid; leaves the best
 * parameters in m. */
int sd_sasrec_fit(sd_sasrec *m, const sd_train_opts *o, const sd_sequences *seq, const sd_split *sp,
                  sd_fit_report *rep, sd_err *err);
/* The same with checkpoints (ck may be NULL). */
int sd_sasrec_fit_ckpt(sd_sasrec *m, const sd_train_opts *o, const sd_sequences *seq, const sd_split *sp,
                       const sd_rec_ckpt_opts *ck, sd_fit_report *rep, sd_err *err);
/* The model fields of c and the training options of o (NULL: none) as one flat JSON object, in
 * the layout checkpoints and config.json have always had (dim ... loss, lr ... patience, seed as
 * a decimal string; "cosine" a bool, "eval_every" in epochs). */
cJSON *sd_sasrec_train_json(const sd_sasrec_cfg *c, const sd_train_opts *o);

/* A scorer over m (not owned unless own: then sd_scorer_free frees the model too). */
void sd_sasrec_scorer(sd_sasrec *m, bool own, sd_scorer *out);
/* The model behind a scorer made by sd_sasrec_scorer. */
sd_sasrec *sd_sasrec_of(const sd_scorer *sc);

/* dir/model.safetensors + dir/config.json (the model's fields, the training options it was
 * trained with when trained is not NULL); load checks n_items against the work directory's. */
int sd_sasrec_save(const sd_sasrec *m, const sd_train_opts *trained, const char *dir, const char *extra_json,
                   sd_err *err);
int sd_sasrec_load(sd_sasrec *m, const char *dir, int32_t n_items, sd_err *err);

#endif
