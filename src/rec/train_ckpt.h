/* Training checkpoints of the sequential recommenders' loop (sd_rec_fit, rec/sasrec.h).
 *
 * One safetensors file written by nn/checkpoint.h (atomic: temp + rename), holding
 *   - every parameter and its AdamW moments (sd_ckpt_save's layout),
 *   - the best-so-far parameters as "__best__/NAME" (their moments are stored as zeros),
 *   - metadata "step" and "config": {"config": what must match to resume, "state": loop state}.
 * No RNG words are stored: every random draw of the loop is keyed by the seed and the epoch
 * (user order, BCE negatives: rec/seqbatch.h) or the step (dropout masks), so seed + epoch + step
 * are the whole RNG state, and a resumed run draws exactly what an uninterrupted one would.
 * Floating-point state (best NDCG, best metrics, last loss) is stored as the hex of its bits so
 * the resumed report is bit-identical. */
#ifndef SD_TRAIN_CKPT_H
#define SD_TRAIN_CKPT_H
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"
#include "nn/params.h"
#include "eval/metrics.h"

#define SD_BEST_PREFIX "__best__/"

typedef struct sd_rec_state {
    int epoch;            /* epochs completed */
    int64_t step;         /* optimizer steps taken */
    bool done;            /* the loop stopped for good (patience) */
    int best_epoch, since_best;
    double best_ndcg;     /* -1 before the first evaluation */
    sd_metrics best_valid;
    float last_loss;
} sd_rec_state;

/* P needs data, m, v; best [P->n] floats in P's layout. config: a flat JSON object. */
int sd_rec_ckpt_save(const char *path, const sd_params *P, const float *best, const sd_rec_state *s,
                     const cJSON *config, sd_err *err);
/* Loads a checkpoint into P (data, m, v, which must be allocated), best and s, after checking
 * that its stored config equals `config` key by key (the error names the first differing key and
 * both values). A missing file is an error saying there is nothing to resume. On error nothing
 * is changed. */
int sd_rec_ckpt_load(const char *path, sd_params *P, float *best, sd_rec_state *s, const cJSON *config,
                     sd_err *err);

#endif
