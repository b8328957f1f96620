#include "cmd/model_registry.h"
#include <string.h>
#include <stdlib.h>
#include "base/file.h"
#include "base/mem.h"
#include "eval/baselines.h"
#include "rec/sasrec.h"
#include "rec/sasrec_sid.h"

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

static bool has_dir(const sd_work *w, const char *name) {
    char *p = sd_work_path(w, name);
    bool ok = sd_is_dir(p);
    free(p);
    return ok;
}

static bool detect_sasrec(const sd_work *w) { return has_dir(w, "sasrec"); }

static int load_sasrec(const sd_work *w, uint64_t seed, sd_scorer *out, sd_err *err) {
    (void)seed;
    sd_sasrec *m = sd_xcalloc(1, sizeof *m);
    char *dir = sd_work_path(w, "sasrec");
    int rc = sd_sasrec_load(m, dir, w->seq.n_items, err);
    free(dir);
    if (rc) { free(m); return rc; }
    sd_sasrec_scorer(m, true, out);
    return 0;
}

static bool detect_sasrec_sid(const sd_work *w) { return has_dir(w, "sasrec_sid"); }

static int load_sasrec_sid(const sd_work *w, uint64_t seed, sd_scorer *out, sd_err *err) {
    (void)seed;
    sd_sasrec_sid *m = sd_xcalloc(1, sizeof *m);
    char *dir = sd_work_path(w, "sasrec_sid"), *sids = sd_work_path(w, "sids.tsv");
    int rc = sd_sasrec_sid_load(m, dir, sids, w->cat, err);
    free(dir);
    free(sids);
    if (rc) { free(m); return rc; }
    sd_sasrec_sid_scorer(m, true, out);
    return 0;
}

static const sd_model_kind kinds[] = {
    /* Trained models go here, before the baselines, with name, about, detect and load:
     *   SASRec      "sasrec"      detect: WORK/sasrec/ exists      load: its checkpoint -> scorer
     *   SID-SASRec  "sasrec_sid"  detect: WORK/sasrec_sid/ exists  load: likewise
     *   later the fine-tuned LLM (WORK/lm/).
     * Whoever writes a model adds its entry here, with a real loader; none is stubbed. */
    {.name = "sasrec", .about = "SASRec (semid sasrec WORK -> WORK/sasrec/)",
     .detect = detect_sasrec, .load = load_sasrec},
    {.name = "sasrec_sid", .about = "SID-SASRec (semid sasrec WORK --sid -> WORK/sasrec_sid/)",
     .detect = detect_sasrec_sid, .load = load_sasrec_sid},
    {.name = "popularity", .about = "most popular items in the training interactions",
     .detect = always, .load = load_popularity},
    {.name = "popularity_unseen", .about = "most popular items the user has not seen yet",
     .detect = always, .load = load_popularity_unseen},
    {.name = "random", .about = "uniformly random scores (seeded by --seed)", .detect = always, .load = load_random},
};

int sd_model_kind_count(void) { return (int)(sizeof kinds / sizeof kinds[0]); }
const sd_model_kind *sd_model_kind_at(int i) { return i >= 0 && i < sd_model_kind_count() ? &kinds[i] : NULL; }

const sd_model_kind *sd_model_kind_find(const char *name) {
    for (int i = 0; i < sd_model_kind_count(); i++)
        if (!strcmp(kinds[i].name, name)) return &kinds[i];
    return NULL;
}
