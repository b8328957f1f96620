/* The models `semid eval WORK` knows: a table of kinds, each able to tell whether its trained
 * model is present in a work directory and to load it as a scorer (eval/scorer.h). The baselines
 * are always present. Adding a model = one table entry in model_registry.c.
 *
 * The table lives in the command, not in eval/ or rec/: it is the one place that includes every
 * model's header, so eval/ depends on data/ only and a model folder (rec/, lm/) never includes
 * another to be evaluated. */
#ifndef SD_MODEL_REGISTRY_H
#define SD_MODEL_REGISTRY_H
#include <stdbool.h>
#include <stdint.h>
#include "base/err.h"
#include "data/workdir.h"
#include "eval/scorer.h"

typedef struct sd_model_kind {
    const char *name;    /* as given to --models and printed in the table */
    const char *about;   /* one line for --help */
    /* true when WORK holds this model (e.g. WORK/sasrec/ exists); cheap, no loading */
    bool (*detect)(const sd_work *w);
    /* Loads the model for scoring; seed is --seed (for seeded models). The scorer may keep
     * pointers into w, which outlives it. */
    int (*load)(const sd_work *w, uint64_t seed, sd_scorer *out, sd_err *err);
} sd_model_kind;

int sd_model_kind_count(void);
const sd_model_kind *sd_model_kind_at(int i);          /* in table order = table row order */
const sd_model_kind *sd_model_kind_find(const char *name); /* NULL if unknown */

#endif
