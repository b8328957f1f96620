/* semid ids WORK: WORK/emb.npy -> semantic IDs (WORK/sids.tsv, sids.bin, ids_report.json). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cmd/cli.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "data/workdir.h"
#include "ids/embfile.h"
#include "ids/rqvae_method.h"
#include "ids/sid_method.h"
#include "ids/sid_set.h"
#include "ids/sid_metrics.h"
#include "ids/sid_table.h"
#include "ids/sid_vocab.h"
#include "nn/ops.h"

/* Thresholds below which `semid ids` warns (and ids_report.json marks a level weak). */
#define WEAK_PERPLEXITY 0.5 /* of K, per semantic level */
#define WEAK_UNIQUE 0.97    /* items whose semantic codes no other item shares */

static cJSON *report(const sd_work *w, const char *method, const sd_sid_params *p, const sd_sid_output *o,
                     const float *emb, int64_t d, const sd_sid_table *t, const sd_sid_collisions *col, double secs) {
    int64_t n = t->n_items;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "method", method);
    cJSON_AddNumberToObject(r, "items", (double)n);
    cJSON_AddNumberToObject(r, "dim", (double)d);
    cJSON_AddNumberToObject(r, "levels", p->levels);
    cJSON_AddNumberToObject(r, "codes", p->codes);
    cJSON_AddNumberToObject(r, "codes_per_item", t->n_codes);
    cJSON_AddBoolToObject(r, "balanced", p->balanced);
    cJSON_AddNumberToObject(r, "seed", (double)p->seed);
    cJSON_AddNumberToObject(r, "seconds", secs);
    if (o->recon) cJSON_AddNumberToObject(r, "recon_mse", sd_recon_mse(emb, o->recon, n, d));
    cJSON *det = o->details_json ? cJSON_Parse(o->details_json) : NULL;
    if (det) cJSON_AddItemToObject(r, "training", det);
    cJSON *warn = cJSON_CreateArray();
    cJSON *lv = cJSON_AddArrayToObject(r, "per_level");
    for (int l = 0; l < t->n_codes; l++) {
        sd_level_stats s;
        sd_level_stats_of(t->codes, n, t->n_codes, l, t->K, &s);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "level", l);
        cJSON_AddBoolToObject(e, "uniqueness_code", l >= t->levels);
        cJSON_AddNumberToObject(e, "codes_used", s.used);
        cJSON_AddNumberToObject(e, "perplexity", s.perplexity);
        cJSON_AddNumberToObject(e, "largest_cluster", (double)s.largest);
        /* a semantic level whose codes are used like fewer than half of K carries little */
        bool weak = l < t->levels && s.perplexity < WEAK_PERPLEXITY * t->K;
        cJSON_AddBoolToObject(e, "weak", weak);
        cJSON_AddItemToArray(lv, e);
        if (weak) {
            char msg[160];
            snprintf(msg, sizeof msg, "level %d: perplexity %.1f of %d codes (below %.0f%%): most items crowd few codes", l,
                     s.perplexity, (int)t->K, 100 * WEAK_PERPLEXITY);
            cJSON_AddItemToArray(warn, cJSON_CreateString(msg));
        }
    }
    cJSON_AddNumberToObject(r, "distinct_prefixes", (double)col->n_prefixes);
    cJSON_AddNumberToObject(r, "unique_prefix_items", (double)col->n_unique);
    cJSON_AddNumberToObject(r, "unique_prefix_share", (double)col->n_unique / (double)n);
    cJSON_AddNumberToObject(r, "collision_groups", (double)col->n_groups);
    cJSON_AddNumberToObject(r, "largest_collision_group", (double)col->max_group);
    if ((double)col->n_unique / (double)n < WEAK_UNIQUE) {
        char msg[200];
        snprintf(msg, sizeof msg, "only %.1f%% of items have a prefix of their own (below %.0f%%): items told apart "
                 "by the uniqueness code alone look the same to every model", 100.0 * (double)col->n_unique / (double)n,
                 100 * WEAK_UNIQUE);
        cJSON_AddItemToArray(warn, cJSON_CreateString(msg));
    }
    /* do similar items share prefixes? nearest neighbours in embedding space against chance */
    sd_neighbour_stats ns;
    sd_neighbour_share(emb, n, d, t->codes, t->n_codes, 2000, p->seed, &ns);
    cJSON *nb = cJSON_AddObjectToObject(r, "nearest_neighbour");
    cJSON_AddNumberToObject(nb, "queries", (double)ns.queries);
    cJSON_AddNumberToObject(nb, "same_first_code", ns.share1);
    cJSON_AddNumberToObject(nb, "chance_first_code", ns.chance1);
    cJSON_AddNumberToObject(nb, "same_first_two_codes", ns.share2);
    cJSON_AddNumberToObject(nb, "chance_first_two_codes", ns.chance2);
    /* purity of the first level against ground-truth attributes, where the catalogue has them
     * (synthetic store, MovieLens genres, Amazon's store / details) */
    cJSON *pur = cJSON_AddObjectToObject(r, "first_level_purity");
    const char *keys[] = {"platform", "genre", "brand", "store", "Brand", "Manufacturer"};
    int32_t *labels = sd_xmalloc(sizeof(int32_t) * (size_t)n), *c0 = sd_xmalloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) c0[i] = t->codes[i * t->n_codes];
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        int32_t nl;
        sd_attr_labels(w->cat, keys[k], labels, &nl);
        if (!nl) continue;
        double pu, rp;
        int64_t m = sd_purity(c0, n, t->K, labels, nl, p->seed, 10, &pu, &rp);
        cJSON *e = cJSON_AddObjectToObject(pur, keys[k]);
        cJSON_AddNumberToObject(e, "items", (double)m);
        cJSON_AddNumberToObject(e, "labels", nl);
        cJSON_AddNumberToObject(e, "purity", pu);
        cJSON_AddNumberToObject(e, "random_same_sizes", rp);
    }
    free(labels);
    free(c0);
    cJSON_AddItemToObject(r, "warnings", warn);
    return r;
}

static void print_report(const cJSON *r) {
    printf("method %s: %d items, %d levels x %d codes (+%d uniqueness), %.1f s\n",
           cJSON_GetObjectItem(r, "method")->valuestring, cJSON_GetObjectItem(r, "items")->valueint,
           cJSON_GetObjectItem(r, "levels")->valueint, cJSON_GetObjectItem(r, "codes")->valueint,
           cJSON_GetObjectItem(r, "codes_per_item")->valueint - cJSON_GetObjectItem(r, "levels")->valueint,
           cJSON_GetObjectItem(r, "seconds")->valuedouble);
    const cJSON *mse = cJSON_GetObjectItem(r, "recon_mse");
    if (mse) printf("reconstruction MSE %.6g\n", mse->valuedouble);
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r, "per_level"))
        printf("level %d%s: %d codes used, perplexity %.1f, largest cluster %d\n", cJSON_GetObjectItem(e, "level")->valueint,
               cJSON_IsTrue(cJSON_GetObjectItem(e, "uniqueness_code")) ? " (uniqueness)" : "",
               cJSON_GetObjectItem(e, "codes_used")->valueint, cJSON_GetObjectItem(e, "perplexity")->valuedouble,
               cJSON_GetObjectItem(e, "largest_cluster")->valueint);
    printf("unique prefixes: %.2f%% of items; %d collision groups, largest %d\n",
           100 * cJSON_GetObjectItem(r, "unique_prefix_share")->valuedouble,
           cJSON_GetObjectItem(r, "collision_groups")->valueint, cJSON_GetObjectItem(r, "largest_collision_group")->valueint);
    const cJSON *nb = cJSON_GetObjectItem(r, "nearest_neighbour");
    printf("nearest neighbour shares the first code: %.3f (chance %.3f), the first two: %.3f (chance %.4f)\n",
           cJSON_GetObjectItem(nb, "same_first_code")->valuedouble, cJSON_GetObjectItem(nb, "chance_first_code")->valuedouble,
           cJSON_GetObjectItem(nb, "same_first_two_codes")->valuedouble,
           cJSON_GetObjectItem(nb, "chance_first_two_codes")->valuedouble);
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r, "first_level_purity"))
        printf("first-level purity vs %s: %.3f (random, same sizes: %.3f)\n", e->string,
               cJSON_GetObjectItem(e, "purity")->valuedouble, cJSON_GetObjectItem(e, "random_same_sizes")->valuedouble);
}

/* Outputs are staged beside their final names ("NAME.new.PID") and renamed only when all are
 * complete, so a failure leaves the previous outputs (or none). The renames are one after
 * another; the record PREFIXids_set.json (ids/sid_set.h), renamed last, lets every reader
 * refuse the mixed set a kill between two renames would leave. model_staged: the rqvae model
 * already written to its staged path (NULL for other methods). */
enum { N_OUT = 6 };
static const char *const out_names[N_OUT] = {"sids.tsv", "sids.bin", "ids_report.json", "ids_codebooks.npy",
                                             "rqvae.safetensors", SD_SID_VOCAB_FILE};

static char *staged_path(const char *final) {
    size_t len = strlen(final) + 32;
    char *s = sd_xmalloc(len);
    snprintf(s, len, "%s.new.%d", final, (int)getpid());
    return s;
}

static int stage_all(const sd_work *w, const char *prefix, const sd_sid_table *t, const sd_sid_output *o, int64_t d,
                     const cJSON *rep, const char *model_staged, sd_err *err) {
    char *final[N_OUT], *tmp[N_OUT];
    bool have[N_OUT] = {true, true, true, o->codebooks != NULL, model_staged != NULL, true};
    int rc = 0;
    for (int i = 0; i < N_OUT; i++) {
        char name[512];
        snprintf(name, sizeof name, "%s%s", prefix, out_names[i]);
        final[i] = sd_work_path(w, name);
        tmp[i] = i == 4 && model_staged ? sd_xstrdup(model_staged) : staged_path(final[i]);
        sd_clean_stale_temps(final[i]);
    }
    rc = sd_sid_table_write_tsv(t, w->cat, tmp[0], err);
    if (!rc) rc = sd_sid_table_save(t, tmp[1], err);
    if (!rc) {
        char *js = cJSON_Print(rep);
        size_t len = strlen(js);
        js = sd_xrealloc(js, len + 2);
        js[len] = '\n';
        rc = sd_write_file_atomic(tmp[2], js, len + 1, err);
        free(js);
    }
    if (!rc) {
        /* the vocabulary every later reader takes levels, codes and tokens from */
        sd_sid_vocab v;
        rc = sd_sid_vocab_from_table(&v, t, err);
        if (!rc) rc = sd_sid_vocab_write(&v, tmp[5], err);
        sd_sid_vocab_free(&v);
    }
    if (!rc && o->codebooks)
        rc = sd_embfile_write_npy(tmp[3], o->codebooks, (int64_t)t->levels * t->K, d, err);
    for (int i = 0; i < N_OUT; i++) {
        if (rc) { if (have[i]) unlink(tmp[i]); continue; }
        if (i == 3 && !have[i]) unlink(final[i]); /* no stale codebooks of another run */
        else if (have[i] && rename(tmp[i], final[i]))
            rc = sd_errf(err, SD_EIO, "%s: rename failed: %s", final[i], strerror(errno));
    }
    /* the record goes in last: until then the previous one stays, and a reader refuses the mix */
    if (!rc) {
        sd_sid_set_file files[N_OUT];
        int nf = 0;
        for (int i = 0; i < N_OUT; i++)
            if (have[i]) files[nf++] = (sd_sid_set_file){.name = strrchr(final[i], '/') + 1, .staged = final[i]};
        rc = sd_sid_set_write(w->dir, prefix, files, nf, err);
    }
    for (int i = 0; i < N_OUT; i++) { free(final[i]); free(tmp[i]); }
    return rc;
}

static int run(int argc, char **argv) {
    const char *method = "rqkmeans", *emb_path = NULL, *collide = "error", *prefix = "", *recon = "sum", *keep = "val";
    sd_sid_params p = {.levels = 3, .codes = -1, .iters = 20, .balanced = true, .spread = true};
    bool json = false, ste = false, rotation = false, unbalanced = false, no_spread = false, balanced_flag = false;
    sd_rqvae_method_opts rq;
    sd_rqvae_method_defaults(&rq);
    double beta = rq.model.beta;
    sd_opt opts[] = {
        {.name = "method", .type = SD_OPT_STR, .ptr = &method, .metavar = "NAME",
         .help = "rqkmeans (default): residual k-means on the embeddings; rqvae: trained RQ-VAE (semantic-ids-llm)"},
        {.name = "levels", .type = SD_OPT_INT, .ptr = &p.levels, .metavar = "L", .help = "semantic codes per item (3)"},
        {.name = "codes", .type = SD_OPT_INT, .ptr = &p.codes, .metavar = "K",
         .help = "codes per level (default: 256, fewer for catalogues under 1,024 items: the largest power of two "
                 "<= items / 4, at least 2)"},
        {.name = "iters", .type = SD_OPT_INT, .ptr = &p.iters, .metavar = "N",
         .help = "k-means iterations per level at most (20)"},
        {.name = "balanced", .type = SD_OPT_FLAG, .ptr = &balanced_flag,
         .help = "rqkmeans: cap every cluster at ceil(items / K) (default; OneRec's balanced RQ-KMeans)"},
        {.name = "unbalanced", .type = SD_OPT_FLAG, .ptr = &unbalanced,
         .help = "rqkmeans: plain k-means at every level (large clusters crowd the later levels)"},
        {.name = "no-spread", .type = SD_OPT_FLAG, .ptr = &no_spread,
         .help = "rqkmeans: keep items that share all codes where they are (default: each but the nearest moves to "
                 "the nearest last-level code still free under its prefix, as LC-Rec's uniform mapping)"},
        {.name = "max-collision", .type = SD_OPT_STR, .ptr = &collide, .metavar = "HOW",
         .help = "items sharing all L codes beyond K: error (default) or extend-level (more uniqueness codes for all)"},
        {.name = "emb", .type = SD_OPT_STR, .ptr = &emb_path, .metavar = "FILE",
         .help = "embeddings (default WORK/emb.npy)"},
        {.name = "out-prefix", .type = SD_OPT_STR, .ptr = &prefix, .metavar = "NAME",
         .help = "write WORK/NAMEsids.tsv, NAMEsids.bin, NAMEsid_vocab.json, NAMEids_report.json (and "
                 "NAMErqvae.safetensors) (default: no prefix; later stages read sids.tsv unless given --sids NAME)"},
        {.name = "json", .type = SD_OPT_FLAG, .ptr = &json, .help = "print the report as JSON"},
        {.name = "epochs", .type = SD_OPT_INT, .ptr = &rq.train.common.epochs, .metavar = "N",
         .help = "rqvae: passes over the items (100)"},
        {.name = "batch", .type = SD_OPT_INT, .ptr = &rq.train.common.batch, .metavar = "N",
         .help = "rqvae: items per step (1024)"},
        {.name = "lr", .type = SD_OPT_DOUBLE, .ptr = &rq.train.common.adam.lr, .metavar = "X",
         .help = "rqvae: peak AdamW learning rate (3e-4; warmup, then cosine to 1e-6)"},
        {.name = "beta", .type = SD_OPT_DOUBLE, .ptr = &beta, .metavar = "X",
         .help = "rqvae: commitment weight (0.25)"},
        {.name = "rotation", .type = SD_OPT_FLAG, .ptr = &rotation,
         .help = "rqvae: rotation-trick gradient through the quantiser (default)"},
        {.name = "ste", .type = SD_OPT_FLAG, .ptr = &ste, .help = "rqvae: straight-through gradient instead"},
        {.name = "standardize", .type = SD_OPT_FLAG, .ptr = &rq.train.standardize,
         .help = "rqvae: scale every input dimension to mean 0, std 1"},
        {.name = "recon", .type = SD_OPT_STR, .ptr = &recon, .metavar = "HOW",
         .help = "rqvae: squared errors summed over dimensions (sum, default) or averaged over elements (mean)"},
        {.name = "reset-every", .type = SD_OPT_INT, .ptr = &rq.train.reset_every, .metavar = "N",
         .help = "rqvae: steps between re-seeding unused codes (0 = once per epoch, default; -1 = never)"},
        {.name = "code-pull", .type = SD_OPT_DOUBLE, .ptr = &rq.train.code_pull, .metavar = "G",
         .help = "rqvae: after each step, chosen codes move this share to their batch residuals' mean (0 = off, "
                 "default)"},
        {.name = "keep", .type = SD_OPT_STR, .ptr = &keep, .metavar = "WHICH",
         .help = "rqvae: checkpoint kept: val (lowest validation loss, default) or distinct (most distinct code "
                 "tuples)"},
        {0},
    };
    sd_usage u = {.usage = "semid ids WORK [options]",
                  .about = "Turns item embeddings into semantic IDs: L codes from the method, plus a uniqueness code "
                           "ranking items that share them by popularity. RQ-KMeans (default) is balanced at every level "
                           "and spreads items that share all L codes over free last-level codes. Warns when the IDs "
                           "are weak (a level's perplexity under half of K, fewer than 97%% of items with a prefix of "
                           "their own; ids_report.json: per_level[].weak, warnings). Writes WORK/sids.tsv, WORK/sids.bin, "
                           "WORK/sid_vocab.json (levels, codes per level and SID tokens, read by `semid extend --work` "
                           "and SID-SASRec), WORK/ids_report.json (and WORK/ids_codebooks.npy for rqkmeans; the "
                           "trained model as WORK/rqvae.safetensors for rqvae), then WORK/ids_set.json, the record of "
                           "that set (sizes, CRC-32) its readers check, so a mixed set is refused. --out-prefix keeps "
                           "a second assignment beside the one later stages read.",
                  .min_pos = 1, .max_pos = 1};
    sd_err err = {0};
    char **pos = NULL;
    int rc = sd_parse(&u, opts, argc, argv, &pos, NULL, &err);
    if (rc) return rc == 1 ? 0 : sd_cmd_error(&err);
    const char *dir = pos[0];
    free(pos);
    p.seed = sd_seed;
    p.progress = !sd_quiet;
    p.work_dir = dir;
    sd_collision_policy pol;
    const sd_sid_method *m = sd_sid_method_find(method);
    if (!m) {
        char names[256] = "";
        for (int i = 0; i < sd_sid_method_count(); i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", sd_sid_method_at(i)->name);
        sd_errf(&err, SD_EUSAGE, "ids: unknown --method '%s' (available: %s)", method, names);
        return sd_cmd_error(&err);
    }
    if (p.levels < 1 || p.levels > 16) return sd_errf(&err, SD_EUSAGE, "ids: --levels must be 1..16, got %d", p.levels), sd_cmd_error(&err);
    bool auto_codes = p.codes == -1;
    if (!auto_codes && (p.codes < 2 || p.codes > 65536)) return sd_errf(&err, SD_EUSAGE, "ids: --codes must be 2..65536, got %d", p.codes), sd_cmd_error(&err);
    if (p.iters < 1) return sd_errf(&err, SD_EUSAGE, "ids: --iters must be >= 1"), sd_cmd_error(&err);
    if (unbalanced && balanced_flag)
        return sd_errf(&err, SD_EUSAGE, "ids: --balanced and --unbalanced exclude each other"), sd_cmd_error(&err);
    p.balanced = !unbalanced;
    p.spread = !no_spread;
    if (ste && rotation) return sd_errf(&err, SD_EUSAGE, "ids: --ste and --rotation exclude each other"), sd_cmd_error(&err);
    if (strcmp(recon, "sum") && strcmp(recon, "mean"))
        return sd_errf(&err, SD_EUSAGE, "ids: --recon must be sum or mean, got '%s'", recon), sd_cmd_error(&err);
    if (strchr(prefix, '/') || !strcmp(prefix, ".") || !strcmp(prefix, ".."))
        return sd_errf(&err, SD_EUSAGE, "ids: --out-prefix must be a plain file-name prefix, got '%s'", prefix),
               sd_cmd_error(&err);
    rq.model.grad = ste ? SD_RQVAE_STE : SD_RQVAE_ROTATION;
    rq.model.reduction = strcmp(recon, "mean") ? SD_REDUCE_SUM : SD_REDUCE_MEAN;
    rq.model.beta = (float)beta;
    if (strcmp(keep, "val") && strcmp(keep, "distinct"))
        return sd_errf(&err, SD_EUSAGE, "ids: --keep must be val or distinct, got '%s'", keep), sd_cmd_error(&err);
    rq.train.keep = strcmp(keep, "distinct") ? SD_RQVAE_KEEP_VAL : SD_RQVAE_KEEP_DISTINCT;
    if (!strcmp(method, "rqvae")) {
        sd_rqvae_cfg c = rq.model;
        c.dim = 1, c.levels = p.levels, c.codes = auto_codes ? 256 : p.codes;
        sd_rqvae_train_opts to = rq.train;
        if (sd_rqvae_cfg_check(&c, &err) || sd_rqvae_train_check(&to, &err)) return sd_cmd_error(&err);
    }
    p.method_opts = &rq;
    if (sd_collision_policy_parse(collide, &pol))
        return sd_errf(&err, SD_EUSAGE, "ids: --max-collision must be error or extend-level, got '%s'", collide), sd_cmd_error(&err);
    /* WORK stays as it is while this runs (shared lock), and one writer of this prefix's set */
    sd_lock lk = {.fd = -1}, lk_out = {.fd = -1};
    char set_name[512];
    snprintf(set_name, sizeof set_name, "%ssids.tsv", prefix);
    char *set_path = sd_path_join(dir, set_name);
    sd_work w;
    rc = sd_lock_output_shared(&lk, dir, &err);
    if (!rc) rc = sd_work_load(&w, dir, &err);
    if (!rc && (rc = sd_lock_output(&lk_out, set_path, &err))) sd_work_free(&w);
    free(set_path);
    if (rc) { sd_unlock(&lk); return sd_cmd_error(&err); }
    /* the trained rqvae model is staged with the other outputs and renamed into place with them */
    char model_name[512];
    snprintf(model_name, sizeof model_name, "%srqvae.safetensors", prefix);
    char *model_final = sd_work_path(&w, model_name), *model_staged = NULL;
    if (!strcmp(method, "rqvae")) {
        model_staged = staged_path(model_final);
        rq.model_path = model_staged;
        rq.model_name = model_final;
    }
    char *ep = emb_path ? sd_xstrdup(emb_path) : sd_work_path(&w, "emb.npy");
    float *x = NULL;
    int64_t n = 0, d = 0;
    sd_sid_output out = {0};
    sd_sid_table t = {0};
    cJSON *rep = NULL;
    int64_t *pop = NULL;
    if (!emb_path && !sd_exists(ep)) {
        rc = sd_errf(&err, SD_ESTATE, "%s: missing; run `semid embed %s` first", ep, dir);
        goto done;
    }
    if ((rc = sd_embfile_read_npy(ep, &x, &n, &d, &err))) goto done;
    if (n != w.cat->n_items) {
        rc = sd_errf(&err, SD_EFORMAT, "%s: %lld rows but the catalogue has %d items", ep, (long long)n, w.cat->n_items);
        goto done;
    }
    if (auto_codes) p.codes = sd_sid_default_codes(n);
    if (p.codes > n) {
        rc = sd_errf(&err, SD_EUSAGE, "ids: --codes %d exceeds the %lld items", p.codes, (long long)n);
        goto done;
    }
    double t0 = sd_now();
    if ((rc = m->run(x, n, d, &p, &out, &err))) goto done;
    pop = sd_xmalloc(sizeof(int64_t) * (size_t)n);
    sd_sid_popularity(&w, pop);
    sd_sid_collisions col;
    if ((rc = sd_sid_table_make(out.codes, (int32_t)n, p.levels, p.codes, pop, pol, &t, &col, &err))) goto done;
    if (t.n_codes > p.levels + 1)
        sd_warn("largest collision group has %lld items: every item gets %d uniqueness codes", (long long)col.max_group,
                t.n_codes - p.levels);
    rep = report(&w, method, &p, &out, x, d, &t, &col, sd_now() - t0);
    const cJSON *wv;
    cJSON_ArrayForEach(wv, cJSON_GetObjectItem(rep, "warnings")) sd_warn("weak semantic IDs: %s", wv->valuestring);
    if ((rc = stage_all(&w, prefix, &t, &out, d, rep, model_staged, &err))) goto done;
    if (json) {
        char *s = cJSON_Print(rep);
        puts(s);
        free(s);
    } else if (!sd_quiet) { /* the report stays in WORK/ids_report.json; warnings above still print */
        print_report(rep);
    }
done:
    if (model_staged) unlink(model_staged); /* left only when the run failed before staging */
    free(model_staged);
    free(model_final);
    sd_unlock(&lk_out);
    sd_unlock(&lk);
    cJSON_Delete(rep);
    free(pop);
    sd_sid_table_free(&t);
    sd_sid_output_free(&out);
    free(x);
    free(ep);
    sd_work_free(&w);
    return rc ? sd_cmd_error(&err) : 0;
}
SD_COMMAND(ids, "ids", "embeddings -> semantic IDs (WORK/sids.tsv, sids.bin, prefix trie input)", run)
