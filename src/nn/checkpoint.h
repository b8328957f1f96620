/* Training checkpoints and model weights as safetensors files.
 *
 * A training checkpoint is one safetensors file (written atomically) holding every parameter
 * view by name, the AdamW moments as "__adam_m__/NAME" and "__adam_v__/NAME" (all F32, so a
 * resume is bit-identical), and __metadata__:
 *   "format": "pt", "semid": "checkpoint-1", "step": decimal,
 *   "rng": the 4 xoshiro words as 16 hex digits each joined by ':', "config": JSON text.
 * Loading checks every name, dtype and shape against the declared params before touching them;
 * a missing, extra or mis-shaped tensor is an error naming the file and tensor.
 *
 * Model weights (no moments, no training state) go to or come from a plain safetensors file or
 * Hugging Face folder, optionally under other names (map) and narrowed to BF16/F16 on save. */
#ifndef SD_CHECKPOINT_H
#define SD_CHECKPOINT_H
#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"
#include "base/rng.h"
#include "io/safetensors.h"
#include "nn/params.h"

#define SD_CKPT_M_PREFIX "__adam_m__/"
#define SD_CKPT_V_PREFIX "__adam_v__/"

/* p needs data, m and v (sd_params_alloc + sd_params_alloc_train). rng and config_json may be
 * NULL (not stored); config_json must be valid JSON. */
int sd_ckpt_save(const char *path, const sd_params *p, int64_t step, const sd_rng *rng, const char *config_json,
                 sd_err *err);
/* Restores data, m and v (allocating them if needed), step, rng and a malloc'd copy of the config
 * text; step, rng, config_json may be NULL when not wanted. Asking for rng or config from a
 * checkpoint without them is an error. On error p is unchanged. */
int sd_ckpt_load(const char *path, sd_params *p, int64_t *step, sd_rng *rng, char **config_json, sd_err *err);

typedef struct sd_weights_opts {
    /* Name in the file for a view; return NULL to skip the view. NULL map: the view's own name.
     * buf (cap bytes) is scratch space for building a name. */
    const char *(*map)(const char *view, char *buf, size_t cap, void *ctx);
    void *ctx;
    sd_dtype store_as;  /* save: SD_DT_F32 (also when 0), SD_DT_BF16 or SD_DT_F16 */
    bool allow_missing; /* load: views whose tensor is absent keep their values */
    bool allow_unused;  /* load: tensors in the file that no view reads are not an error */
} sd_weights_opts;

/* Adds the (mapped) views of p to a writer, which must not outlive p->data. opts may be NULL. */
int sd_weights_add(sd_st_writer *w, const sd_params *p, const sd_weights_opts *opts, sd_err *err);
/* One safetensors file with metadata {"format": "pt"}. */
int sd_weights_save(const char *path, const sd_params *p, const sd_weights_opts *opts, sd_err *err);
/* Reads every (mapped) view from an open set (any float dtype, converted to F32; shapes must match
 * exactly). Several views may read the same tensor (tied weights). On error p is unchanged. */
int sd_weights_load_st(const sd_st *st, sd_params *p, const sd_weights_opts *opts, sd_err *err);
/* Same from a file, index or folder (see sd_st_open). */
int sd_weights_load(const char *path, sd_params *p, const sd_weights_opts *opts, sd_err *err);

#endif
