/* The models `semid eval WORK` knows: a table of kinds, each able to tell whether its trained
 * model is present in a work directory and to load it as a scorer (eval/scorer.h), from its
 * folder in WORK or from one given (`eval --model DIR`, the kind read from DIR/config.json). The
 * baselines are always present. Adding a model = one table entry in model_registry.c.
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

/* Where a model is loaded from. */
typedef struct sd_model_src {
    uint64_t seed;            /* --seed (for seeded models) */
    const char *dir;          /* the model's folder; NULL: the kind's folder in WORK (WORK/sasrec, ...) */
    const char *sids_prefix;  /* SID models: read WORK/PREFIXsids.tsv; NULL: the prefix the model's
                               * config.json records ("sids_prefix", none: "") */
} sd_model_src;

typedef struct sd_model_kind {
    const char *name;    /* as given to --models and printed in the table */
    const char *about;   /* one line for --help */
    /* trained models: their default folder in WORK and their config.json "model_type" (the same
     * name); NULL for the baselines, which are always present */
    const char *folder;
    const char *model_type; /* config.json "model_type" when it differs from name (the LLM: "qwen3") */
    /* true when WORK holds this model (e.g. WORK/sasrec/ exists); cheap, no loading */
    bool (*detect)(const sd_work *w);
    /* Loads the model for scoring. The scorer may keep pointers into w, which outlives it. */
    int (*load)(const sd_work *w, const sd_model_src *src, sd_scorer *out, sd_err *err);
} sd_model_kind;

int sd_model_kind_count(void);
const sd_model_kind *sd_model_kind_at(int i);          /* in table order = table row order */
const sd_model_kind *sd_model_kind_find(const char *name); /* NULL if unknown */
/* The kind of a model folder, from the "model_type" of its config.json; errors name the folder. */
int sd_model_kind_of_dir(const char *dir, const sd_model_kind **out, sd_err *err);

/* WORK/PREFIXsids.tsv (malloc'd into *out). prefix must be a plain file-name prefix (no '/', not
 * "." or ".."), as `semid ids --out-prefix` takes it; otherwise error `code` naming `what` (the
 * option or the file field it came from). */
int sd_sids_path(const sd_work *w, const char *prefix, const char *what, int code, char **out, sd_err *err);

#endif
