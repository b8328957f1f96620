/* semid eval WORK: every model found in WORK, each --model folder and the baselines, on the same
 * users (all with a target, or one seeded --eval-users sample), targets and candidates, as one
 * table (stdout, under a line saying which users) and WORK/eval.json + WORK/eval.csv. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd/cli.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "cmd/model_registry.h"
#include "data/workdir.h"
#include "eval/evaluate.h"
#include "eval/results.h"
#include "io/json_util.h"
#include "lm/llm_eval.h"

static int parse_protocols(const char *s, sd_protocol *out, int *n, sd_err *err) {
    *n = 0;
    if (!strcmp(s, "all")) {
        for (int p = 0; p < SD_PROTO_COUNT; p++) out[(*n)++] = (sd_protocol)p;
        return 0;
    }
    if (sd_protocol_parse(s, &out[0]))
        return sd_errf(err, SD_EUSAGE, "eval: unknown --protocol '%s' (choose full, sampled100, sampled1000 or all)", s);
    *n = 1;
    return 0;
}

static char *known_models(void) {
    size_t cap = 256, len = 0;
    char *s = sd_xmalloc(cap);
    s[0] = 0;
    for (int i = 0; i < sd_model_kind_count(); i++) {
        const char *name = sd_model_kind_at(i)->name;
        SD_GROW(s, cap, len + strlen(name) + 3);
        len += (size_t)sprintf(s + len, "%s%s", i ? ", " : "", name);
    }
    return s;
}

/* --models a,b -> kinds (in the order given); none -> every kind present in WORK. */
static int select_models(const sd_work *w, const char *list, const sd_model_kind ***out, int *n, sd_err *err) {
    int total = sd_model_kind_count();
    const sd_model_kind **sel = sd_xcalloc((size_t)total + 1, sizeof *sel);
    *n = 0;
    if (!list) {
        for (int i = 0; i < total; i++)
            if (sd_model_kind_at(i)->detect(w)) sel[(*n)++] = sd_model_kind_at(i);
        *out = sel;
        return 0;
    }
    char *copy = sd_xstrdup(list), *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        const sd_model_kind *k = sd_model_kind_find(tok);
        bool dup = false;
        for (int j = 0; j < *n; j++) dup |= sel[j] == k;
        if (!k) {
            char *known = known_models();
            rc = sd_errf(err, SD_EUSAGE, "eval: unknown model '%s' in --models (known: %s)", tok, known);
            free(known);
        } else if (!k->detect(w)) {
            rc = sd_errf(err, SD_ESTATE, "eval: model '%s' is not in %s (train it first)", tok, w->dir);
        } else if (!dup) {
            sel[(*n)++] = k;
        }
    }
    if (!rc && *n == 0) rc = sd_errf(err, SD_EUSAGE, "eval: --models lists no model");
    free(copy);
    if (rc) { free(sel); return rc; }
    *out = sel;
    return 0;
}

/* One model to evaluate: its kind, its folder (NULL: the kind's folder in WORK or a baseline) and
 * the name of its rows. */
typedef struct eval_entry {
    const sd_model_kind *kind;
    const char *dir;
    char name[64];
} eval_entry;

/* The LLM's own measures (lm/llm_eval.h) beside the table: valid-item rate, steering against the
 * other trained models and popularity for the same users, explanation truth; WORK/eval_llm.json. */
static int llm_extras(const sd_work *w, const char *llm_dir, const char *name, const char *sids, int users, bool json,
                      sd_err *err) {
    const char *names[] = {"sasrec", "sasrec_sid", "popularity"};
    sd_scorer others[3];
    const sd_scorer *op[3];
    int n_others = 0, rc = 0;
    for (int i = 0; i < 3 && !rc; i++) {
        const sd_model_kind *k = sd_model_kind_find(names[i]);
        if (!k || !k->detect(w)) continue;
        sd_model_src src = {.seed = sd_seed, .sids_prefix = sids};
        if (!(rc = k->load(w, &src, &others[n_others], err))) op[n_others] = &others[n_others], n_others++;
    }
    char *sp = NULL, *dir = llm_dir ? sd_xstrdup(llm_dir) : sd_work_path(w, "lm");
    sd_llm_rec r;
    bool open = false;
    if (!rc) rc = sd_sids_path(w, sids ? sids : "", "eval: --sids", SD_EUSAGE, &sp, err);
    if (!rc) open = !(rc = sd_llm_rec_open(&r, dir, sp, w->cat, err));
    sd_llm_eval_opts o = {.users = users, .seed = sd_seed, .top_k = 10, .name = name};
    sd_llm_eval e;
    if (!rc && !(rc = sd_llm_evaluate(&r, w, op, n_others, &o, &e, err))) {
        if (!json) sd_llm_eval_print(&e);
        cJSON *j = sd_llm_eval_json(&e, &o);
        char *path = sd_work_path(w, "eval_llm.json");
        rc = sd_json_write_file(path, j, true, err);
        free(path);
        cJSON_Delete(j);
        sd_llm_eval_free(&e);
    }
    if (open) sd_llm_rec_free(&r);
    for (int i = 0; i < n_others; i++) sd_scorer_free(&others[i]);
    free(sp);
    free(dir);
    return rc;
}

/* The last component of a folder path, trailing slashes ignored, into buf. */
static void folder_name(const char *dir, char *buf, size_t n) {
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') len--;
    size_t b = len;
    while (b > 0 && dir[b - 1] != '/') b--;
    snprintf(buf, n, "%.*s", (int)(len - b), dir + b);
}

/* true when a and b name the same existing directory */
static bool same_dir(const char *a, const char *b) {
    char ra[PATH_MAX], rb[PATH_MAX];
    return realpath(a, ra) && realpath(b, rb) && !strcmp(ra, rb);
}

/* Adds the --model folders after the kinds chosen: each folder's kind from its config.json, its
 * rows named after the folder (WORK/sasrec given again is the default model, named "sasrec"). */
static int add_folders(const sd_work *w, char **dirs, eval_entry *e, int *n, sd_err *err) {
    for (int d = 0; dirs && dirs[d]; d++) {
        const sd_model_kind *k;
        int rc = sd_model_kind_of_dir(dirs[d], &k, err);
        if (rc) {
            sd_err_prefix(err, "eval: --model");
            return rc;
        }
        char *def = sd_work_path(w, k->folder);
        bool is_default = same_dir(dirs[d], def);
        free(def);
        char name[1024];
        if (is_default) snprintf(name, sizeof name, "%s", k->name);
        else folder_name(dirs[d], name, sizeof name);
        if (!name[0] || strlen(name) >= sizeof e->name)
            return sd_errf(err, SD_EUSAGE, "eval: --model %s: its rows are named after the folder, which must be 1 "
                           "to %zu bytes long (got '%s')", dirs[d], sizeof e->name - 1, name);
        bool dup = false;
        for (int i = 0; i < *n && !dup; i++) {
            if (strcmp(e[i].name, name)) continue;
            /* the same model twice (WORK/sasrec and the default, or one folder given twice): once */
            const char *other = e[i].dir;
            char *od = other ? NULL : e[i].kind->folder ? sd_work_path(w, e[i].kind->folder) : NULL;
            dup = (other || od) && same_dir(other ? other : od, dirs[d]);
            free(od);
            if (!dup)
                return sd_errf(err, SD_EUSAGE, "eval: --model %s: two models would both be named '%s' in the table "
                               "(rows are named after the folder: rename one)", dirs[d], name);
        }
        if (dup) continue;
        e[*n].kind = k;
        e[*n].dir = is_default ? NULL : dirs[d];
        snprintf(e[*n].name, sizeof e[*n].name, "%s", name);
        (*n)++;
    }
    return 0;
}

static int run(int argc, char **argv) {
    const char *protocol = "full", *part_s = NULL, *models = NULL, *sids = NULL;
    char **model_dirs = NULL;
    bool no_excl = false, json = false;
    int batch = 0, eval_users = 0, llm_users = 200;
    sd_opt opts[] = {
        {.name = "protocol", .type = SD_OPT_STR, .ptr = &protocol, .metavar = "P",
         .help = "full (default), sampled100, sampled1000, or all"},
        {.name = "part", .type = SD_OPT_STR, .ptr = &part_s, .metavar = "PART",
         .help = "split part to evaluate on: test (default; with cold items also cold), valid or cold (test users "
                 "whose target is a cold item: prep/synth --cold-items)"},
        {.name = "no-exclude-history", .type = SD_OPT_FLAG, .ptr = &no_excl,
         .help = "keep items the user has already seen among the candidates (excluded by default for full and "
                 "sampled100)"},
        {.name = "models", .type = SD_OPT_STR, .ptr = &models, .metavar = "A,B",
         .help = "evaluate only these models (default: all found in WORK + baselines)"},
        {.name = "model", .type = SD_OPT_STRS, .ptr = &model_dirs, .metavar = "DIR",
         .help = "also evaluate the model in folder DIR (e.g. written by `semid sasrec WORK --out DIR`), its kind "
                 "(sasrec, sasrec_sid) read from DIR/config.json and its rows named after the folder; repeatable"},
        {.name = "sids", .type = SD_OPT_STR, .ptr = &sids, .metavar = "PREFIX",
         .help = "SID models read WORK/PREFIXsids.tsv (default: the prefix each model's config.json records, "
                 "the one it was trained on: `semid sasrec --sid --sids PREFIX`)"},
        {.name = "llm-users", .type = SD_OPT_INT, .ptr = &llm_users, .metavar = "N",
         .help = "with the llm among the models: its valid-item rate, steering and explanations on N sampled test "
                 "users (default 200; 0 = skip), in WORK/eval_llm.json"},
        {.name = "eval-users", .type = SD_OPT_INT, .ptr = &eval_users, .metavar = "N",
         .help = "rank a random sample of N of the users with a target (the paper: 10000), drawn from --seed: the "
                 "same users for every model and protocol (default 0 = all)"},
        {.name = "json", .type = SD_OPT_FLAG, .ptr = &json,
         .help = "print the rows as a JSON list instead of a markdown table"},
        {.name = "batch", .type = SD_OPT_INT, .ptr = &batch, .metavar = "N",
         .help = "users per model call (default: the model's preference)"},
        {0},
    };
    sd_usage u = {.usage = "semid eval WORK [options]",
                  .about = "Ranks each user's held-out item with every model found in WORK (WORK/sasrec, "
                           "WORK/sasrec_sid), each --model folder and the baselines (popularity, popularity_unseen, "
                           "random); prints which users were ranked (split, min eval length, all or sampled users) "
                           "above the table of Hit@K, NDCG@K (K = 5, 10, 20), MRR, mean and median rank, and records "
                           "the rows in WORK/eval.json and WORK/eval.csv. Ties count against the model. --seed seeds "
                           "the sampled negatives and users (same seed: same candidates for every model) and the "
                           "random baseline.",
                  .min_pos = 1, .max_pos = 1};
    sd_err err = {0};
    char **pos = NULL;
    int npos = 0;
    int rc = sd_parse(&u, opts, argc, argv, &pos, &npos, &err);
    if (rc) { free(model_dirs); return rc == 1 ? 0 : sd_cmd_error(&err); }
    const char *dir = pos[0];
    free(pos);

    sd_protocol protos[SD_PROTO_COUNT];
    int n_protos = 0;
    sd_part part;
    if ((rc = parse_protocols(protocol, protos, &n_protos, &err))) rc = SD_EUSAGE;
    else if (sd_part_parse(part_s ? part_s : "test", &part))
        rc = sd_errf(&err, SD_EUSAGE, "eval: unknown --part '%s' (choose test, valid or cold)", part_s);
    else if (batch < 0)
        rc = sd_errf(&err, SD_EUSAGE, "eval: --batch must be > 0");
    else if (eval_users < 0)
        rc = sd_errf(&err, SD_EUSAGE, "eval: --eval-users must be > 0 (or 0 for every user), got %d", eval_users);
    if (rc) { free(model_dirs); return sd_cmd_error(&err); }

    /* eval.json is read, merged and written back: one writer at a time, or rows are lost */
    sd_lock lk = {.fd = -1}, lk_out = {.fd = -1};
    char *out = sd_path_join(dir, "eval.json");
    sd_work w;
    rc = sd_lock_output_shared(&lk, dir, &err);
    if (!rc) rc = sd_work_load(&w, dir, &err);
    if (!rc && (rc = sd_lock_output(&lk_out, out, &err))) sd_work_free(&w);
    free(out);
    if (rc) { sd_unlock(&lk); free(model_dirs); return sd_cmd_error(&err); }
    char *sids_check = NULL; /* a bad --sids is a usage error before any model is loaded */
    if (sids && (rc = sd_sids_path(&w, sids, "eval: --sids", SD_EUSAGE, &sids_check, &err))) {
        sd_work_free(&w);
        sd_unlock(&lk_out);
        sd_unlock(&lk);
        free(model_dirs);
        return sd_cmd_error(&err);
    }
    free(sids_check);
    const sd_model_kind **kinds = NULL;
    int n_kinds = 0, n_dirs = 0, n_entries = 0;
    for (; model_dirs && model_dirs[n_dirs]; n_dirs++) {}
    eval_entry *entries = NULL;
    if (!(rc = select_models(&w, models, &kinds, &n_kinds, &err))) {
        /* the trained models first (WORK's, then the folders), the baselines after them */
        entries = sd_xcalloc((size_t)(n_kinds + n_dirs) + 1, sizeof *entries);
        for (int k = 0; k < n_kinds; k++)
            if (kinds[k]->folder) entries[n_entries++] = (eval_entry){.kind = kinds[k]};
        rc = add_folders(&w, model_dirs, entries, &n_entries, &err);
        for (int k = 0; k < n_kinds && !rc; k++)
            if (!kinds[k]->folder) entries[n_entries++] = (eval_entry){.kind = kinds[k]};
        for (int i = 0; i < n_entries; i++)
            if (!entries[i].name[0]) snprintf(entries[i].name, sizeof entries[i].name, "%s", entries[i].kind->name);
    }
    free(kinds);
    if (rc) {
        free(entries);
        free(model_dirs);
        sd_work_free(&w);
        sd_unlock(&lk_out);
        sd_unlock(&lk);
        return sd_cmd_error(&err);
    }

    /* the parts: the one asked for; by default test, and beside it the cold test set when the split
     * has cold items (the same models, protocols and users' negatives, restricted to cold targets) */
    sd_part parts[2] = {part, SD_PART_COLD};
    int n_parts = !part_s && part == SD_PART_TEST && w.split.cold_item ? 2 : 1;
    int32_t n_total_of[2] = {0, 0};
    for (int q = 0; q < n_parts; q++) {
        int32_t n_ranked = 0;
        free(sd_eval_users_sample(&w.split, parts[q], eval_users, sd_seed, &n_ranked, &n_total_of[q]));
        if (eval_users > n_total_of[q])
            sd_warn("eval: --eval-users %d, but only %d users have a %s target: ranking all of them", eval_users,
                    n_total_of[q], sd_part_name(parts[q]));
    }
    if (part == SD_PART_COLD && !w.split.cold_item)
        sd_warn("eval: the split of %s has no cold items (prep or synth --cold-items F): part cold is empty", dir);

    sd_results run_rows = {0};
    const char *llm_dir = NULL, *llm_name = NULL;
    bool have_llm = false;
    char topk_notes[1024] = "";
    for (int k = 0; k < n_entries; k++)
        if (!strcmp(entries[k].kind->name, "llm") && !have_llm)
            have_llm = true, llm_dir = entries[k].dir, llm_name = sd_xstrdup(entries[k].name);
    for (int k = 0; k < n_entries && !rc; k++) {
        sd_scorer sc;
        sd_model_src src = {.seed = sd_seed, .dir = entries[k].dir, .sids_prefix = sids};
        if ((rc = entries[k].kind->load(&w, &src, &sc, &err))) {
            sd_err_prefix(&err, "eval: loading model '%s'", entries[k].name);
            break;
        }
        for (int q = 0; q < n_parts && !rc; q++)
        for (int p = 0; p < n_protos && !rc; p++) {
            sd_eval_opts o = sd_eval_defaults();
            o.protocol = protos[p];
            o.part = parts[q];
            o.exclude_history = no_excl ? 0 : -1;
            o.seed = sd_seed;
            o.batch = batch;
            o.max_users = eval_users;
            sd_result_row row = {0};
            double t0 = sd_now();
            if ((rc = sd_evaluate(&sc, &w.seq, &w.split, &o, &row.m, NULL, &err))) break;
            snprintf(row.model, sizeof row.model, "%s", entries[k].name);
            snprintf(row.protocol, sizeof row.protocol, "%s", sd_protocol_name(protos[p]));
            snprintf(row.part, sizeof row.part, "%s", sd_part_name(parts[q]));
            row.exclude_history = sd_eval_excludes_history(&o);
            row.seed = sd_seed;
            snprintf(row.split, sizeof row.split, "%s", sd_split_name(w.split.kind));
            row.min_eval_len = w.split.min_eval_len;
            row.eval_users = eval_users;
            row.users_total = n_total_of[q];
            sd_results_put(&run_rows, &row);
            sd_info("%s / %s / %s: %lld users, NDCG@10 %.4f (%.2fs)", row.model, row.protocol, row.part,
                    (long long)row.m.n_users, row.m.ndcg[1], sd_now() - t0);
            if (row.m.n_users == 0) sd_warn("eval: no user has a %s target in %s", row.part, dir);
            if (sc.score_topk && !sc.score_batch && (protos[p] == SD_PROTO_FULL || !sc.score_candidates)) {
                size_t l = strlen(topk_notes);
                snprintf(topk_notes + l, sizeof topk_notes - l,
                         "%s / %s / %s: ranked from its top-%d list: Hit@K and NDCG@K exact for K <= %d; MRR, mean "
                         "and median rank place the %lld targets outside the list after every listed item (bounds)\n",
                         row.model, row.protocol, row.part, sd_metric_ks[SD_METRIC_NK - 1],
                         sd_metric_ks[SD_METRIC_NK - 1], (long long)row.m.n_unlisted);
            }
            if (row.m.n_short)
                sd_warn("eval: %s / %s: for %lld users the target was outside a top-K list of fewer than %d "
                        "candidates; their Hit@K / NDCG@K are lower bounds (eval/metrics.h)", row.model,
                        row.protocol, (long long)row.m.n_short, sd_metric_ks[SD_METRIC_NK - 1]);
        }
        sd_scorer_free(&sc);
    }
    free(entries);

    if (!rc) {
        /* keep rows of earlier runs (other protocols or parts) in the files */
        sd_results all = {0};
        sd_err lerr = {0};
        if (sd_results_load(&all, dir, &lerr)) {
            sd_warn("%s (replacing it)", lerr.msg);
            sd_results_free(&all);
        }
        for (int i = 0; i < run_rows.n; i++) sd_results_put(&all, &run_rows.rows[i]);
        rc = sd_results_write(&all, dir, &err);
        sd_results_free(&all);
    }
    if (!rc) {
        if (json) {
            char *s = sd_results_json(&run_rows);
            printf("%s\n", s);
            free(s);
        } else {
            /* which users the table is about, above it: every row of a run shares them */
            if (run_rows.n) {
                char line[256];
                sd_results_split_line(&run_rows.rows[0], line, sizeof line);
                printf("%s\n\n", line);
            }
            sd_results_print_markdown(&run_rows, stdout);
            if (topk_notes[0]) printf("\n%s", topk_notes);
        }
    }
    sd_results_free(&run_rows);
    if (!rc && have_llm && llm_users > 0 && part == SD_PART_TEST) rc = llm_extras(&w, llm_dir, llm_name, sids, llm_users, json, &err);
    free((char *)llm_name);
    free(model_dirs); /* llm_dir points into it */
    sd_work_free(&w);
    sd_unlock(&lk_out);
    sd_unlock(&lk);
    return rc ? sd_cmd_error(&err) : 0;
}
SD_COMMAND(eval, "eval", "evaluate every model in WORK and the baselines on one table", run)
