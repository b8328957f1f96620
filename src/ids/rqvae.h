/* RQ-VAE (residual-quantised autoencoder) for semantic IDs, as in semantic-ids-llm.
 *
 * Model: an MLP encoder D -> hidden[0] -> ... -> latent (Linear layers with bias, SiLU between
 * them, none after the last), `levels` codebooks of `codes` x latent vectors applied to
 * successive residuals, and the mirrored MLP decoder latent -> ... -> D.
 *   z = enc(x_std),  r_0 = z,  c_l = argmin_k |r_l - C_l[k]|^2 (ties to the lower k),
 *   q_l = C_l[c_l],  r_{l+1} = r_l - sg(q_l),  x_hat = dec(sum_l q~_l)
 * where x_std = (x - mean) / std (input standardisation; mean 0 / std 1 when off) and q~_l is
 * q_l in value with a chosen gradient into r_l (sg = stop-gradient):
 *   straight-through: dr_l = dq~_l;
 *   rotation trick (Fifty et al. 2024, arXiv 2410.06424): q~_l = lam R r_l with R the rotation
 *     taking r_l's direction u to q_l's direction q^ (R = I - 2 w w^T + 2 q^ u^T, w = (u + q^) /
 *     |u + q^|) and lam = |q_l| / |r_l|, both treated as constants, so dr_l = lam R^T dq~_l.
 * Neither passes a gradient from the decoder into the codebooks: they learn from the codebook
 * term only.
 *
 * Loss of a batch of B items:
 *   recon(x_hat, x_std) + sum_l [ e(sg(r_l), q_l) + beta e(r_l, sg(q_l)) ]
 * with e the squared error reduced by `reduction`: SD_REDUCE_SUM sums over each vector's
 * dimensions and averages over the B items (the default: averaging over D = 1024 dimensions
 * shrinks the reconstruction against the quantisation terms, a known cause of codebook collapse);
 * SD_REDUCE_MEAN averages over all elements (F.mse_loss, as the original).
 *
 * Parameter names follow the original PyTorch module (encoder.0.weight, encoder.2.weight, ...,
 * vq_layers.L.embedding.weight), plus the frozen input statistics input_mean and input_std. */
#ifndef SD_RQVAE_H
#define SD_RQVAE_H
#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"
#include "nn/params.h"
#include "nn/train.h"

#define SD_RQVAE_MAX_HIDDEN 8
#define SD_RQVAE_MAX_LEVELS 16

typedef enum { SD_RQVAE_ROTATION = 0, SD_RQVAE_STE = 1 } sd_rqvae_grad;

typedef struct sd_rqvae_cfg {
    int dim;                            /* D, input width */
    int n_hidden;                       /* hidden layers per side (3) */
    int hidden[SD_RQVAE_MAX_HIDDEN];    /* encoder widths (512, 256, 128); decoder reversed */
    int latent;                         /* codebook vector width (32) */
    int levels, codes;                  /* codebooks (3) and codes per codebook (256) */
    float beta;                         /* commitment weight (0.25) */
    sd_rqvae_grad grad;                 /* rotation trick (default) or straight-through */
    int reduction;                      /* SD_REDUCE_SUM (default) or SD_REDUCE_MEAN */
} sd_rqvae_cfg;

/* The semantic-ids-llm configuration for inputs of width dim. */
void sd_rqvae_cfg_default(sd_rqvae_cfg *c, int dim);
/* 0, or SD_EUSAGE naming the bad field. */
int sd_rqvae_cfg_check(const sd_rqvae_cfg *c, sd_err *err);

typedef struct sd_rqvae {
    sd_rqvae_cfg cfg;
    sd_params params;
    int n_layers;                                 /* Linear layers per side: n_hidden + 1 */
    int width[SD_RQVAE_MAX_HIDDEN + 2];           /* encoder widths: D, hidden..., latent */
    int enc_w[SD_RQVAE_MAX_HIDDEN + 1], enc_b[SD_RQVAE_MAX_HIDDEN + 1];
    int dec_w[SD_RQVAE_MAX_HIDDEN + 1], dec_b[SD_RQVAE_MAX_HIDDEN + 1];
    int book[SD_RQVAE_MAX_LEVELS];                /* [codes, latent] each */
    int in_mean, in_std;                          /* [D] each, frozen */
} sd_rqvae;

/* Declares and allocates the parameters and initialises them as PyTorch does (Linear weights
 * and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)), codebooks U(-1/K, 1/K)) from `seed`; input
 * statistics mean 0, std 1. Weight decay applies to every trainable tensor (as the original's
 * AdamW over model.parameters()). */
int sd_rqvae_init(sd_rqvae *m, const sd_rqvae_cfg *cfg, uint64_t seed, sd_err *err);
void sd_rqvae_free(sd_rqvae *m);
float *sd_rqvae_codebook(sd_rqvae *m, int level);   /* [codes, latent] */

/* Per-batch activations and scratch for up to max_rows items. */
typedef struct sd_rqvae_ws {
    int max_rows, rows;
    float *enc_pre[SD_RQVAE_MAX_HIDDEN + 1];  /* [B, width[i+1]]; enc_pre[n_layers-1] is z */
    float *enc_act[SD_RQVAE_MAX_HIDDEN + 1];  /* [B, width[i]]; enc_act[0] is x_std */
    float *dec_pre[SD_RQVAE_MAX_HIDDEN + 1];  /* [B, width[n_layers-1-i]]; last is x_hat */
    float *dec_act[SD_RQVAE_MAX_HIDDEN + 1];  /* decoder layer inputs; dec_act[0] is sum_l q_l */
    float *resid;                             /* [levels, B, latent]: r_l */
    float *quant;                             /* [levels, B, latent]: q_l */
    int32_t *codes;                           /* [B, levels] */
    float *dots;                              /* [B, codes] distance scratch */
    float *g0, *g1;                           /* [B, max width] backward scratch */
    float *gq;                                /* [B, latent] */
} sd_rqvae_ws;

void sd_rqvae_ws_init(sd_rqvae_ws *ws, const sd_rqvae *m, int max_rows);
void sd_rqvae_ws_free(sd_rqvae_ws *ws);

typedef struct sd_rqvae_loss {
    double total, recon;
    double quant[SD_RQVAE_MAX_LEVELS];   /* e(r_l, q_l): the codebook term; commitment is beta x it */
} sd_rqvae_loss;

/* x [B, D] raw inputs (standardised here with input_mean / input_std). Fills ws (activations,
 * residuals, codes) and the loss; returns the total. A B above ws->max_rows regrows ws first. */
double sd_rqvae_forward(sd_rqvae *m, sd_rqvae_ws *ws, const float *x, int B, sd_rqvae_loss *loss);
/* Gradients of the last forward's total loss, ACCUMULATED into m->params.grad (needs
 * sd_params_alloc_train). */
void sd_rqvae_backward(sd_rqvae *m, sd_rqvae_ws *ws);

/* Nearest code per row: r [B, latent], book [K, latent] -> codes (stride `stride` ints apart),
 * dist [B] squared distances (may be NULL). dots [B, K] is scratch. One sgemm. */
void sd_rqvae_nearest(const float *r, int B, int latent, const float *book, int K, int32_t *codes, int stride,
                      float *dist, float *dots);

/* Rotation-trick gradient of one vector: dr += lam R^T g for the rotation taking r's direction to
 * q's (see top of file), all [latent]. Norms clamped at 1e-6 as the original. */
void sd_rqvae_rotation_backward(float *dr, const float *g, const float *r, const float *q, int latent);

/* Codes of n items x [n, D] -> codes [n, levels] (batches of `batch` rows; OpenMP inside). */
void sd_rqvae_encode(sd_rqvae *m, const float *x, int64_t n, int batch, int32_t *codes);
/* Decoder output for codes [n, levels] -> x_hat [n, D] in the input's units (standardisation
 * undone). */
void sd_rqvae_decode(sd_rqvae *m, const int32_t *codes, int64_t n, int batch, float *x_hat);

/* ---- training (ids/rqvae_train.c) ----
 * As semantic-ids-llm: a seeded validation split; input statistics from the training items (when
 * standardize); codebooks initialised level by level by k-means (k-means++ seeding) on the
 * residuals of the first init_rows training items in epoch-0 order (the original used its first
 * batch of 32,768); AdamW with linear warmup then cosine decay to lr_min, global gradient
 * clipping; every reset_every steps after warmup, the codes of each level that no training item
 * chose since the last check are re-seeded from distinct random residuals of the current batch
 * (at most one per batch row); optionally (code_pull > 0, not in the original) after every step
 * each code the batch chose moves code_pull of the way to the mean of the residuals that chose
 * it. An epoch is ceil(n_train / batch) batches of near-equal size.
 * The parameters kept (checked every eval_every steps and at the end) are those with the lowest
 * validation loss (keep = SD_RQVAE_KEEP_VAL), or those giving the most distinct code tuples over
 * all n items, ties to the lower validation loss (SD_RQVAE_KEEP_DISTINCT: at 1e3-1e4 steps, far
 * from the original's 8e4, the validation loss keeps falling while items crowd onto fewer
 * prefixes). Same seed and thread count:
 * same bytes. */
typedef enum { SD_RQVAE_KEEP_VAL = 0, SD_RQVAE_KEEP_DISTINCT = 1 } sd_rqvae_keep;
typedef struct sd_rqvae_train_opts {
    /* How every model is trained (nn/train.h): epochs (100), batch (items per step, 1024; capped
     * at the training items), adam.lr (3e-4 peak) and adam.weight_decay (0.01), lr_min (1e-6 at the
     * end of the cosine), clip (global gradient norm, 1.0; 0 = off), warmup (steps, 200; at most a
     * tenth of all steps), eval_every_steps (steps between validations; 0 = once per epoch), seed
     * and progress (bar label, NULL for none). The loop's own fields are set by sd_rqvae_train. */
    sd_train_opts common;
    /* what only RQ-VAE's training has: */
    int reset_every;       /* steps between dead-code checks; 0 = once per epoch; < 0 = never */
    double val_frac;       /* share of items held out for validation (0.05) */
    bool standardize;      /* per-dimension mean / std of the training items (off) */
    int init_rows;         /* items for the k-means initialisation; 0 = max(batch, 64 codes) */
    int kmeans_iters;      /* Lloyd iterations of that initialisation (25) */
    double code_pull;      /* after each step, chosen codes move this share towards the mean of
                              their batch residuals (0 = off: gradient only, as the original) */
    sd_rqvae_keep keep;    /* which checkpoint is left in the model (SD_RQVAE_KEEP_VAL) */
} sd_rqvae_train_opts;
void sd_rqvae_train_defaults(sd_rqvae_train_opts *o);
/* 0, or SD_EUSAGE naming the bad option. */
int sd_rqvae_train_check(const sd_rqvae_train_opts *o, sd_err *err);

typedef struct sd_rqvae_train_stats {
    int64_t n_train, n_val;
    int batch, warmup;
    int64_t steps, best_step;
    double best_val, last_train;      /* validation loss of the kept parameters; last step's loss */
    double best_distinct;             /* their distinct tuples per item (KEEP_DISTINCT; else -1) */
    int64_t codes_reset;              /* codes re-seeded over the run */
    double seconds;
} sd_rqvae_train_stats;

/* x [n, cfg.dim]: trains m (initialised with sd_rqvae_init) in place. Errors: non-finite inputs
 * (naming the row and column), fewer training items than codes, bad options. st may be NULL. */
int sd_rqvae_train(sd_rqvae *m, const float *x, int64_t n, const sd_rqvae_train_opts *o, sd_rqvae_train_stats *st,
                   sd_err *err);

/* ---- files (ids/rqvae_io.c) ----
 * One safetensors file: every parameter under its name (F32) and __metadata__ {"format": "pt",
 * "semid": "rqvae-1", "config": JSON of sd_rqvae_cfg}. Load rebuilds the model from the config
 * and checks every tensor's name and shape; errors name the file and field. */
int sd_rqvae_save(const sd_rqvae *m, const char *path, sd_err *err);
int sd_rqvae_load(sd_rqvae *m, const char *path, sd_err *err);

#endif
