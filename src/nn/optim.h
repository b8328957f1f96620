/* AdamW, learning-rate schedule and gradient clipping over an sd_params buffer. */
#ifndef SD_OPTIM_H
#define SD_OPTIM_H
#include "nn/params.h"

/* Doubles, as PyTorch keeps hyperparameters in Python floats and rounds derived scalars
 * (1 - beta1, lr / bias correction) to float only when applying them. */
typedef struct sd_adamw {
    double lr, beta1, beta2, eps, weight_decay;
} sd_adamw;

/* PyTorch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0.01. */
sd_adamw sd_adamw_default(void);

/* One AdamW update with step number t (1 for the first step) and learning rate lr (overrides
 * opt->lr, for schedules), exactly as torch.optim.AdamW (amsgrad off):
 *   p *= 1 - lr * wd            (only views with weight_decay)
 *   m = b1 m + (1 - b1) g ; v = b2 v + (1 - b2) g^2
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * Views with requires_grad false are left untouched. Needs sd_params_alloc_train. */
void sd_adamw_step(sd_params *p, const sd_adamw *opt, long t, double lr);

/* Linear warmup from lr_max/warmup to lr_max over `warmup` steps, then cosine decay to lr_min at
 * step `total`, lr_min after. step counts from 0: lr(step) = lr_max * (step + 1) / warmup while
 * step < warmup; then lr_min + (lr_max - lr_min) * (1 + cos(pi * progress)) / 2 with
 * progress = (step - warmup) / (total - warmup). */
double sd_lr_cosine(long step, long warmup, long total, double lr_max, double lr_min);

/* Global L2 norm of the gradients of trainable views (in double); if max_norm > 0, scales them by
 * min(1, max_norm / (norm + 1e-6)) as torch.nn.utils.clip_grad_norm_. Returns the norm before
 * clipping. */
float sd_clip_grad_norm(sd_params *p, float max_norm);

#endif
