#include "cmd/model_registry.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/mem.h"
#include "eval/baselines.h"
#include "io/json_util.h"
#include "rec/sasrec.h"
#include "lm/llm_rec.h"
#include "rec/sasrec_sid.h"

static bool always(const sd_work *w) { (void)w; return true; }

static int load_popularity(const sd_work *w, const sd_model_src *src, sd_scorer *out, sd_err *err) {
    (void)src;
    return sd_baseline_popularity(&w->seq, &w->split, false, out, err);
}

static int load_popularity_unseen(const sd_work *w, const sd_model_src *src, sd_scorer *out, sd_err *err) {
    (void)src;
    return sd_baseline_popularity(&w->seq, &w->split, true, out, err);
}

static int load_random(const sd_work *w, const sd_model_src *src, sd_scorer *out, sd_err *err) {
    return sd_baseline_random(w->seq.n_items, src->seed, out, err);
}

static bool has_dir(const sd_work *w, const char *name) {
    char *p = sd_work_path(w, name);
    bool ok = sd_is_dir(p);
    free(p);
    return ok;
}

static bool detect_sasrec(const sd_work *w) { return has_dir(w, "sasrec"); }

/* The model's folder: the one given, else the kind's folder in WORK (malloc'd). */
static char *model_dir(const sd_work *w, const sd_model_src *src, const char *folder) {
    return src->dir ? sd_xstrdup(src->dir) : sd_work_path(w, folder);
}

static int load_sasrec(const sd_work *w, const sd_model_src *src, sd_scorer *out, sd_err *err) {
    sd_sasrec *m = sd_xcalloc(1, sizeof *m);
    char *dir = model_dir(w, src, "sasrec");
    int rc = sd_sasrec_load(m, dir, w->seq.n_items, err);
    free(dir);
    if (rc) { free(m); return rc; }
    sd_sasrec_scorer(m, true, out);
    return 0;
}

static bool detect_sasrec_sid(const sd_work *w) { return has_dir(w, "sasrec_sid"); }

/* The prefix of the semantic IDs a SID model was trained on: config.json's "sids_prefix" (written
 * by `semid sasrec --sid --sids P`; absent: none). */
static int recorded_prefix(const char *dir, char **out, sd_err *err) {
    char *path = sd_path_join(dir, "config.json");
    cJSON *j = NULL;
    const char *p = "";
    int rc = sd_json_read_file(path, &j, err);
    if (!rc && !cJSON_IsObject(j)) rc = sd_errf(err, SD_EFORMAT, "%s: not a JSON object", path);
    if (!rc) rc = sd_json_opt_string(j, "sids_prefix", &p, "", path, err);
    if (!rc) *out = sd_xstrdup(p);
    cJSON_Delete(j);
    free(path);
    return rc;
}

static int load_sasrec_sid(const sd_work *w, const sd_model_src *src, sd_scorer *out, sd_err *err) {
    char *dir = model_dir(w, src, "sasrec_sid"), *prefix = NULL, *sids = NULL;
    int rc;
    if (src->sids_prefix) {
        prefix = sd_xstrdup(src->sids_prefix);
        rc = sd_sids_path(w, prefix, "eval: --sids", SD_EUSAGE, &sids, err);
    } else if (!(rc = recorded_prefix(dir, &prefix, err))) {
        char what[1100];
        snprintf(what, sizeof what, "%s/config.json: \"sids_prefix\"", dir);
        rc = sd_sids_path(w, prefix, what, SD_EFORMAT, &sids, err);
    }
    sd_sasrec_sid *m = sd_xcalloc(1, sizeof *m);
    if (!rc) rc = sd_sasrec_sid_load(m, dir, sids, w->cat, err);
    free(dir);
    free(sids);
    free(prefix);
    if (rc) { free(m); return rc; }
    sd_sasrec_sid_scorer(m, true, out);
    return 0;
}

static bool detect_llm(const sd_work *w) {
    char *p = sd_work_path(w, "lm/config.json");
    bool ok = sd_exists(p);
    free(p);
    return ok;
}

/* The fine-tuned LLM: beam search over the SID trie for full ranking, teacher-forced scores for
 * the sampled protocols (lm/llm_rec.h). It speaks the IDs of WORK/sids.tsv, or of --sids P. */
static int load_llm(const sd_work *w, const sd_model_src *src, sd_scorer *out, sd_err *err) {
    char *dir = model_dir(w, src, "lm"), *sids = NULL;
    int rc = sd_sids_path(w, src->sids_prefix ? src->sids_prefix : "", "eval: --sids", SD_EUSAGE, &sids, err);
    sd_llm_rec *r = sd_xcalloc(1, sizeof *r);
    if (!rc) rc = sd_llm_rec_open(r, dir, sids, w->cat, err);
    free(dir);
    free(sids);
    if (rc) { free(r); return rc; }
    sd_llm_rec_scorer(r, true, out);
    return 0;
}

static const sd_model_kind kinds[] = {
    /* Trained models go here, before the baselines, with name, about, detect and load:
     *   SASRec      "sasrec"      detect: WORK/sasrec/ exists      load: its checkpoint -> scorer
     *   SID-SASRec  "sasrec_sid"  detect: WORK/sasrec_sid/ exists  load: likewise
     *   LLM         "llm"         detect: WORK/lm/config.json      load: the folder + WORK's SIDs
     * Whoever writes a model adds its entry here, with a real loader; none is stubbed. */
    {.name = "sasrec", .about = "SASRec (semid sasrec WORK -> WORK/sasrec/)", .folder = "sasrec",
     .detect = detect_sasrec, .load = load_sasrec},
    {.name = "sasrec_sid", .about = "SID-SASRec (semid sasrec WORK --sid -> WORK/sasrec_sid/)",
     .folder = "sasrec_sid", .detect = detect_sasrec_sid, .load = load_sasrec_sid},
    {.name = "llm", .about = "the fine-tuned Qwen3 recommender (semid finetune WORK -> WORK/lm/), beam search over "
                             "the SID trie", .folder = "lm", .model_type = "qwen3", .detect = detect_llm, .load = load_llm},
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

int sd_model_kind_of_dir(const char *dir, const sd_model_kind **out, sd_err *err) {
    *out = NULL;
    if (!sd_is_dir(dir)) return sd_errf(err, SD_EIO, "%s: not a model folder (no such directory)", dir);
    char *path = sd_path_join(dir, "config.json");
    if (!sd_exists(path)) {
        int rc = sd_errf(err, SD_EFORMAT, "%s: no config.json: not a model folder written by `semid sasrec`", dir);
        free(path);
        return rc;
    }
    cJSON *j = NULL;
    const char *type = NULL;
    int rc = sd_json_read_file(path, &j, err);
    if (!rc && !cJSON_IsObject(j)) rc = sd_errf(err, SD_EFORMAT, "%s: not a JSON object", path);
    if (!rc) rc = sd_json_get_string(j, "model_type", &type, path, err);
    for (int i = 0; !rc && i < sd_model_kind_count() && !*out; i++)
        if (kinds[i].folder && !strcmp(kinds[i].model_type ? kinds[i].model_type : kinds[i].name, type)) *out = &kinds[i];
    if (!rc && !*out) rc = sd_errf(err, SD_EFORMAT, "%s: \"model_type\" is \"%s\", not one semid evaluates "
                                   "(sasrec, sasrec_sid or qwen3)", path, type);
    cJSON_Delete(j);
    free(path);
    return rc;
}

int sd_sids_path(const sd_work *w, const char *prefix, const char *what, int code, char **out, sd_err *err) {
    *out = NULL;
    /* the same rule as `semid ids --out-prefix`: the prefix names files inside WORK, nothing else */
    if (strchr(prefix, '/') || !strcmp(prefix, ".") || !strcmp(prefix, ".."))
        return sd_errf(err, code, "%s must be a plain file-name prefix (as given to `semid ids --out-prefix`), got "
                       "'%s'", what, prefix);
    size_t n = strlen(prefix) + sizeof "sids.tsv";
    char *name = sd_xmalloc(n);
    snprintf(name, n, "%ssids.tsv", prefix);
    *out = sd_work_path(w, name);
    free(name);
    return 0;
}
