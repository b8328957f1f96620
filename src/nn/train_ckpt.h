/* Checkpoint files of the training loop (nn/train.h).
 *
 * One safetensors file written by nn/checkpoint.h (atomic: temp + rename), holding
 *   - every parameter and its AdamW moments (sd_ckpt_save's layout),
 *   - the best-so-far parameters as "__best__/NAME" when the loop keeps them in memory (their
 *     moments are stored as zeros),
 *   - metadata "step" and "config": {"config": what must match to resume, "state": loop state}.
 * The state holds the loop's counters (epoch, step, done, best_epoch, since_best, threads, the
 * best metric, last_loss) and whatever the client adds. Floating-point state is stored as the hex
 * of its bits so a resumed report is bit-identical. This is the layout SASRec's checkpoints have
 * had from the start, so their files still resume. */
#ifndef SD_TRAIN_CKPT_H
#define SD_TRAIN_CKPT_H
#include <cjson/cJSON.h>
#include <stdint.h>
#include "base/err.h"
#include "nn/params.h"

#define SD_BEST_PREFIX "__best__/"

/* P needs data, m, v; best [P->n] floats in P's layout or NULL (none stored). config: a flat JSON
 * object; state: a JSON object (both copied). */
int sd_train_ckpt_save(const char *path, const sd_params *P, const float *best, int64_t step, const cJSON *config,
                       const cJSON *state, sd_err *err);
/* First half of a resume: checks that the file exists and that its stored config equals `config`
 * key by key (the error names the first differing key and both values); *state gets a copy of
 * the stored state object (caller frees). kind names the trainer in "not a semid KIND training
 * checkpoint". */
int sd_train_ckpt_read_state(const char *path, const char *kind, const cJSON *config, cJSON **state, sd_err *err);
/* Second half: parameters, moments and (if best) the best parameters into P, after checking the
 * file's step equals `step` (from the state). On error nothing is changed. */
int sd_train_ckpt_load_params(const char *path, sd_params *P, float *best, int64_t step, sd_err *err);

/* State fields: doubles as the 16 hex digits of their bits, integers as exact JSON numbers.
 * The getters return nonzero when the key is missing or malformed. */
void sd_ckpt_put_bits(cJSON *o, const char *key, double x);
int sd_ckpt_get_bits(const cJSON *o, const char *key, double *x);
int sd_ckpt_get_int(const cJSON *o, const char *key, int64_t *x);

#endif
