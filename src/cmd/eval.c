/* semid eval WORK: every model found in WORK plus the baselines, on the same users, targets and
 * candidates, as one table (stdout) and WORK/eval.json + WORK/eval.csv. */
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

static int run(int argc, char **argv) {
    const char *protocol = "full", *part_s = "test", *models = NULL;
    bool no_excl = false, json = false;
    int batch = 0;
    sd_opt opts[] = {
        {.name = "protocol", .type = SD_OPT_STR, .ptr = &protocol, .metavar = "P",
         .help = "full (default), sampled100, sampled1000, or all"},
        {.name = "part", .type = SD_OPT_STR, .ptr = &part_s, .metavar = "PART",
         .help = "split part to evaluate on: test (default) or valid"},
        {.name = "no-exclude-history", .type = SD_OPT_FLAG, .ptr = &no_excl,
         .help = "keep items the user has already seen among the candidates (excluded by default for full and "
                 "sampled100)"},
        {.name = "models", .type = SD_OPT_STR, .ptr = &models, .metavar = "A,B",
         .help = "evaluate only these models (default: all found in WORK + baselines)"},
        {.name = "json", .type = SD_OPT_FLAG, .ptr = &json,
         .help = "print the rows as a JSON list instead of a markdown table"},
        {.name = "batch", .type = SD_OPT_INT, .ptr = &batch, .metavar = "N",
         .help = "users per model call (default: the model's preference)"},
        {0},
    };
    sd_usage u = {.usage = "semid eval WORK [options]",
                  .about = "Ranks each user's held-out item with every model found in WORK and the baselines "
                           "(popularity, popularity_unseen, random); prints Hit@K, NDCG@K (K = 5, 10, 20), MRR, mean "
                           "and median rank, and records the rows in WORK/eval.json and WORK/eval.csv. Ties count "
                           "against the model. --seed seeds the sampled negatives (same seed: same candidates for "
                           "every model) and the random baseline.",
                  .min_pos = 1, .max_pos = 1};
    sd_err err = {0};
    char **pos = NULL;
    int npos = 0;
    int rc = sd_parse(&u, opts, argc, argv, &pos, &npos, &err);
    if (rc) return rc == 1 ? 0 : sd_cmd_error(&err);
    const char *dir = pos[0];
    free(pos);

    sd_protocol protos[SD_PROTO_COUNT];
    int n_protos = 0;
    sd_part part;
    if ((rc = parse_protocols(protocol, protos, &n_protos, &err))) return sd_cmd_error(&err);
    if (sd_part_parse(part_s, &part)) {
        sd_errf(&err, SD_EUSAGE, "eval: unknown --part '%s' (choose test or valid)", part_s);
        return sd_cmd_error(&err);
    }
    if (batch < 0) {
        sd_errf(&err, SD_EUSAGE, "eval: --batch must be > 0");
        return sd_cmd_error(&err);
    }

    /* eval.json is read, merged and written back: one writer at a time, or rows are lost */
    sd_lock lk = {.fd = -1}, lk_out = {.fd = -1};
    char *out = sd_path_join(dir, "eval.json");
    sd_work w;
    rc = sd_lock_output_shared(&lk, dir, &err);
    if (!rc) rc = sd_work_load(&w, dir, &err);
    if (!rc && (rc = sd_lock_output(&lk_out, out, &err))) sd_work_free(&w);
    free(out);
    if (rc) { sd_unlock(&lk); return sd_cmd_error(&err); }
    const sd_model_kind **kinds = NULL;
    int n_kinds = 0;
    if ((rc = select_models(&w, models, &kinds, &n_kinds, &err))) {
        sd_work_free(&w);
        sd_unlock(&lk_out);
        sd_unlock(&lk);
        return sd_cmd_error(&err);
    }

    sd_results run_rows = {0};
    for (int k = 0; k < n_kinds && !rc; k++) {
        sd_scorer sc;
        if ((rc = kinds[k]->load(&w, sd_seed, &sc, &err))) {
            sd_err_prefix(&err, "eval: loading model '%s'", kinds[k]->name);
            break;
        }
        for (int p = 0; p < n_protos && !rc; p++) {
            sd_eval_opts o = sd_eval_defaults();
            o.protocol = protos[p];
            o.part = part;
            o.exclude_history = no_excl ? 0 : -1;
            o.seed = sd_seed;
            o.batch = batch;
            sd_result_row row = {0};
            double t0 = sd_now();
            if ((rc = sd_evaluate(&sc, &w.seq, &w.split, &o, &row.m, NULL, &err))) break;
            snprintf(row.model, sizeof row.model, "%s", kinds[k]->name);
            snprintf(row.protocol, sizeof row.protocol, "%s", sd_protocol_name(protos[p]));
            snprintf(row.part, sizeof row.part, "%s", sd_part_name(part));
            row.exclude_history = sd_eval_excludes_history(&o);
            row.seed = sd_seed;
            sd_results_put(&run_rows, &row);
            sd_info("%s / %s / %s: %lld users, NDCG@10 %.4f (%.2fs)", row.model, row.protocol, row.part,
                    (long long)row.m.n_users, row.m.ndcg[1], sd_now() - t0);
            if (row.m.n_users == 0) sd_warn("eval: no user has a %s target in %s", row.part, dir);
            if (row.m.n_short)
                sd_warn("eval: %s / %s: for %lld users the target was outside a top-K list of fewer than %d "
                        "candidates; their Hit@K / NDCG@K are lower bounds (eval/metrics.h)", row.model,
                        row.protocol, (long long)row.m.n_short, sd_metric_ks[SD_METRIC_NK - 1]);
        }
        sd_scorer_free(&sc);
    }
    free(kinds);

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
            sd_results_print_markdown(&run_rows, stdout);
        }
    }
    sd_results_free(&run_rows);
    sd_work_free(&w);
    sd_unlock(&lk_out);
    sd_unlock(&lk);
    return rc ? sd_cmd_error(&err) : 0;
}
SD_COMMAND(eval, "eval", "evaluate every model in WORK and the baselines on one table", run)
