/* A model's parameters in one contiguous float buffer with named views (name -> offset, shape).
 * Gradients and AdamW moments use the same layout, so the optimizer, gradient clipping,
 * zeroing and checkpointing are single loops over n floats, and safetensors save/load is a walk
 * over the views.
 *
 * Usage: declare every tensor with sd_params_add (layout is fixed in declaration order, each view
 * starting on a 16-float boundary so rows stay aligned), then sd_params_alloc, then get pointers
 * with sd_params_ptr / sd_params_grad. */
#ifndef SD_PARAMS_H
#define SD_PARAMS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SD_MAX_DIMS 4

typedef struct sd_view {
    char *name;              /* e.g. "model.layers.0.self_attn.q_proj.weight" */
    size_t offset;           /* in floats, into data/grad/m/v */
    size_t numel;
    int ndim;
    int64_t shape[SD_MAX_DIMS];
    bool requires_grad;      /* false: optimizer skips it, gradient stays zero */
    bool weight_decay;       /* AdamW decoupled decay on/off (off for norms, biases by convention) */
    /* The part of the view that trains, in floats [train_lo, train_hi) (both 0: all of it): zeroing,
     * clipping and AdamW touch only it; its gradient elsewhere must stay zero (the owner zeroes what
     * it writes there), so the rest stays exactly as it is. See sd_params_set_train_range. */
    size_t train_lo, train_hi;
} sd_view;

typedef struct sd_params {
    float *data, *grad, *m, *v; /* each n floats (padded), 64-byte aligned; grad/m/v may be NULL
                                   until sd_params_alloc_train */
    size_t n;                   /* total floats including alignment padding */
    sd_view *views;
    int n_views, cap_views;
} sd_params;

void sd_params_init(sd_params *p);
/* Declares a tensor; returns its view index, or -1 (nothing declared) after sd_params_alloc, for
 * ndim outside [0, SD_MAX_DIMS] or a negative dimension. Model constructors cannot hit those
 * (fixed ndim, shapes from a checked config); code that declares views from data checks for -1. */
int sd_params_add(sd_params *p, const char *name, int ndim, const int64_t *shape, bool weight_decay);
void sd_params_alloc(sd_params *p);        /* data, zeroed */
void sd_params_alloc_train(sd_params *p);  /* grad, m, v, zeroed */
void sd_params_free(sd_params *p);
int sd_params_index(const sd_params *p, const char *name);  /* -1 if absent */
float *sd_params_ptr(sd_params *p, int view);
float *sd_params_grad(sd_params *p, int view);
void sd_params_zero_grad(sd_params *p);
/* Frozen views keep a zero gradient (freezing clears it; sd_params_zero_grad then skips them) and
 * are skipped by the optimizer and by clipping. */
void sd_params_set_requires_grad(sd_params *p, int view, bool requires_grad);
/* Restricts a view's training to floats [lo, hi) (lo = hi = 0: all of it) and zeroes its gradient
 * outside them. */
void sd_params_set_train_range(sd_params *p, int view, size_t lo, size_t hi);
/* The trained part of a view: *lo, *hi floats of it. */
void sd_view_train_range(const sd_view *v, size_t *lo, size_t *hi);
/* Total number of real parameters (padding excluded). */
size_t sd_params_count(const sd_params *p);

#endif
