#include "rec/model_registry.h"
#include <string.h>
#include "rec/baselines.h"

static bool always(const sd_work *w) { (void)w; return true; }

static int load_popularity(const sd_work *w, uint64_t seed, sd_scorer *out, sd_err *err) {
    (void)seed;
    return sd_baseline_popularity(&w->seq, &w->split, false, out, err);
}

static int load_popularity_unseen(const sd_work *w, uint64_t seed, sd_scorer *out, sd_err *err) {
    (void)seed;
    return sd_baseline_popularity(&w->seq, &w->split, true, out, err);
}

static int load_random(const sd_work *w, uint64_t seed, sd_scorer *out, sd_err *err) {
    return sd_baseline_random(w->seq.n_items, seed, out, err);
}

static const sd_model_kind kinds[] = {
    /* Trained models go here, before the baselines, as {name, about, detect, load}:
     *   SASRec      "sasrec"      detect: WORK/sasrec/ exists      load: its checkpoint -> scorer
     *   SID-SASRec  "sasrec_sid"  detect: WORK/sasrec_sid/ exists  load: likewise
     *   later the fine-tuned LLM (WORK/lm/).
     * Whoever writes a model adds its entry here, with a real loader; none is stubbed. */
    {"popularity", "most popular items in the training interactions", always, load_popularity},
    {"popularity_unseen", "most popular items the user has not seen yet", always, load_popularity_unseen},
    {"random", "uniformly random scores (seeded by --seed)", always, load_random},
};

int sd_model_kind_count(void) { return (int)(sizeof kinds / sizeof kinds[0]); }
const sd_model_kind *sd_model_kind_at(int i) { return i >= 0 && i < sd_model_kind_count() ? &kinds[i] : NULL; }

const sd_model_kind *sd_model_kind_find(const char *name) {
    for (int i = 0; i < sd_model_kind_count(); i++)
        if (!strcmp(kinds[i].name, name)) return &kinds[i];
    return NULL;
}
