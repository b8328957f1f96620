/* The training loop shared by every model: epochs of micro-batches, AdamW with linear warmup and
 * constant or cosine learning rate, gradient clipping, gradient accumulation, periodic validation
 * keeping the best parameters, patience, and checkpoints that resume bit-identically.
 *
 * The model stays with the client, which hands the loop a few callbacks (sd_trainer): `next`
 * runs forward + backward of one micro-batch (gradients += into p->grad), `validate` measures the
 * parameters as they are, the optional hooks shuffle at epoch starts, act after an optimizer step
 * (RQ-VAE's code resets) and add their own fields to a checkpoint. Clients: SASRec and SID-SASRec
 * (sd_rec_fit, rec/sasrec.h), RQ-VAE (sd_rqvae_train, ids/rqvae.h); a language model fine-tune
 * fits the same shape (next: one padded batch through sd_qwen3_forward/backward, validate: the
 * held-out loss with lower_is_better).
 *
 * One optimizer step:
 *   zero gradients; next() up to `accum` times (fewer at the end of an epoch); if more than one
 *   micro-batch ran, gradients *= 1 / count (the mean of their means, as one bigger batch of
 *   equal-sized parts); clip; AdamW at step t = step + 1 with the scheduled lr; step++;
 *   after_step(); progress note; validation if eval_every_steps divides step (or it is the last).
 * After an epoch: the mean micro-batch loss must be finite; validation every eval_every_epochs
 * (and after the last); a checkpoint every ckpt_every epochs (and after the last, at a stop).
 * Same options, data and threads: same bytes, with or without a stop and resume in between. */
#ifndef SD_TRAIN_H
#define SD_TRAIN_H
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"
#include "nn/optim.h"
#include "nn/params.h"

typedef enum { SD_LR_CONSTANT = 0, SD_LR_COSINE = 1 } sd_lr_schedule;

/* How to train, apart from what to train (model configs stay with the models). Every client
 * takes its training options as this one struct (SASRec and SID-SASRec: sd_sasrec_train_defaults,
 * RQ-VAE: sd_rqvae_train_opts.train); the client fills the loop's own fields (batches_per_epoch,
 * name, checkpoint identity) on its copy. */
typedef struct sd_train_opts {
    int epochs;                /* passes over the data (>= 1) */
    int batch;                 /* read by the client: examples per micro-batch (the loop never looks) */
    uint64_t seed;             /* read by the client: its shuffles, dropout masks and sampling */
    int64_t batches_per_epoch; /* micro-batches the client yields per epoch (sets the schedule's length) */
    int accum;                 /* micro-batches per optimizer step (<= 1: one) */
    sd_adamw adam;             /* adam.lr is the peak learning rate */
    sd_lr_schedule schedule;   /* after warmup: constant, or cosine to lr_min at the last step */
    int64_t warmup;            /* optimizer steps of linear warmup from lr / warmup */
    double lr_min;
    float clip;                /* global gradient norm, 0 = off */
    int eval_every_epochs;     /* 0 = never by epochs (else also after the last epoch) */
    int64_t eval_every_steps;  /* 0 = never by steps (else also after the last step) */
    int patience;              /* stop after this many validations without a better one, 0 = never */
    bool lower_is_better;      /* the default comparison of validation metrics */
    double best_init;          /* best metric before any validation (e.g. -1 for NDCG, INFINITY for a loss) */
    const char *name;          /* in messages: "sasrec: loss is not finite at epoch 3" */
    const char *progress;      /* progress-bar label, NULL: none */
    bool progress_per_epoch;   /* one bar per epoch labelled "epoch e/E" (else one over all steps) */
    /* checkpoints (nn/train_ckpt.h); ckpt_path NULL: none */
    const char *ckpt_path;
    int ckpt_every;            /* epochs between checkpoints, <= 0: 1 */
    int stop_after;            /* > 0: stop after this epoch as if interrupted (checkpoint written) */
    int64_t ckpt_every_steps;  /* > 0: also a checkpoint every this many optimizer steps, inside epochs
                                  (for long epochs: the client must then resume its data position
                                  from s->batch in epoch_begin) */
    int64_t stop_after_steps;  /* > 0: stop after this optimizer step as if interrupted (checkpoint written) */
    bool resume;               /* continue from ckpt_path (an error when missing or not matching) */
    const cJSON *ckpt_config;  /* flat object that a resumed run must match key by key */
    const char *ckpt_kind;     /* "sasrec": "not a semid sasrec training checkpoint" */
    const char *metric_key;    /* state key of the best metric ("best_ndcg"); NULL: "best_metric" */
} sd_train_opts;

/* sd_train_opts with one epoch, accum 1, PyTorch's AdamW defaults, constant lr, best_init -1. */
sd_train_opts sd_train_defaults(void);
int sd_train_opts_check(const sd_train_opts *o, sd_err *err);

/* What the loop knows, passed to every callback and returned at the end. */
typedef struct sd_train_state {
    int epoch;                 /* epochs completed (during an epoch: that epoch, from 1) */
    int64_t step;              /* optimizer steps taken */
    int64_t total_steps;       /* of the whole run */
    int64_t batch;             /* micro-batches run in this epoch */
    double lr;                 /* of the step being taken / last taken */
    bool done;                 /* stopped for good (patience) */
    int best_epoch;            /* epoch of the kept parameters, 0: none yet */
    int64_t best_step;
    int since_best;
    double best_metric;
    float last_loss;           /* mean micro-batch loss of the last epoch */
    double epoch_loss_sum;     /* of this epoch so far, and the micro-batches in it: */
    int64_t epoch_batches;
    double epoch_seconds;      /* training time of the last (current) epoch, without validation */
    double train_seconds, eval_seconds, opt_seconds; /* opt: zeroing, scaling, clipping, AdamW */
    int resumed_from;          /* epochs already done in the checkpoint resumed from */
    bool interrupted;          /* stopped by stop_after: last parameters, not the best */
    double step_loss;          /* mean micro-batch loss of the last optimizer step (of all ranks under MPI) */
} sd_train_state;

typedef struct sd_trainer {
    sd_params *p;              /* trained with AdamW (sd_params_alloc_train is called) */
    void *ctx;
    /* Forward + backward of the next micro-batch of the epoch in progress, gradients += into p.
     * Returns 1 (and *loss), 0 when the epoch has no more, or an error code (< 0). */
    int (*next)(void *ctx, const sd_train_state *s, float *loss, sd_err *err);
    /* optional: before the first batch of epoch s->epoch (1-based); s->batch > 0 when resuming
     * from a step checkpoint inside it: that many micro-batches of the epoch are done */
    int (*epoch_begin)(void *ctx, const sd_train_state *s, sd_err *err);
    /* optional: after each optimizer step (s->step already counts it), before the progress note */
    void (*after_step)(void *ctx, const sd_train_state *s);
    /* optional: measure the current parameters. *better is -1 on entry: leave it to let the loop
     * compare *metric with s->best_metric, or set 0 / 1 to decide. */
    int (*validate)(void *ctx, const sd_train_state *s, double *metric, int *better, sd_err *err);
    /* optional: progress-bar note (default "loss %.4f", the epoch's mean) */
    void (*note)(void *ctx, const sd_train_state *s, char *buf, size_t cap);
    /* optional: extra state of the client in checkpoints (added to / read from the state object;
     * read returns nonzero on a missing or malformed field). Without them nothing of the client
     * but p is saved: its randomness must then be keyed by seed, epoch and step. */
    void (*state_write)(void *ctx, cJSON *state);
    int (*state_read)(void *ctx, const cJSON *state);
    /* optional: keep / bring back the best parameters elsewhere (e.g. only adapters, or on
     * disk). Without them the loop keeps a copy of p->data, also stored in checkpoints. */
    int (*save_best)(void *ctx, const sd_train_state *s, sd_err *err);
    int (*restore_best)(void *ctx, sd_err *err);
} sd_trainer;

/* Trains; at the end (not after a stop_after) the best parameters, if any validation chose some,
 * are restored. out (may be NULL) gets the final state. */
int sd_train(const sd_trainer *t, const sd_train_opts *o, sd_train_state *out, sd_err *err);

/* lr of optimizer step `step` (from 0) under o with total steps `total`. */
double sd_train_lr(const sd_train_opts *o, int64_t step, int64_t total);

#endif
