/* semid lmdata WORK: the language-model training data (WORK/lmdata/train.jsonl, valid.jsonl,
 * reserved.jsonl, stats.json) from the catalogue, the users' training prefixes and the semantic
 * IDs (lm/lmdata_tasks.h, record format lm/lmdata.h). The folder is written atomically. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd/cli.h"
#include "cmd/model_registry.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "data/workdir.h"
#include "ids/sid_vocab.h"
#include "lm/lmdata_tasks.h"
#include "text/tokenizer.h"

static cJSON *stats_json(const sd_lmdata_stats *st, const sd_lmdata_opts *o, const char *sids, const char *tok_path) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", "semid-lmdata");
    cJSON_AddNumberToObject(j, "version", 1);
    cJSON_AddStringToObject(j, "sids", sids);
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    cJSON_AddNumberToObject(j, "max_per_task", (double)o->max_per_task);
    cJSON_AddNumberToObject(j, "max_per_user", o->max_per_user);
    cJSON_AddNumberToObject(j, "max_history", o->max_history);
    cJSON_AddNumberToObject(j, "recs", o->n_recs);
    cJSON_AddNumberToObject(j, "valid_items", o->valid_items);
    if (st->system_message) cJSON_AddStringToObject(j, "system_message", st->system_message);
    else cJSON_AddNullToObject(j, "system_message");
    cJSON_AddStringToObject(j, "tokens", tok_path ? "tokenizer" : "pretokenizer_pieces");
    if (tok_path) cJSON_AddStringToObject(j, "tokenizer", tok_path);
    cJSON *tasks = cJSON_AddObjectToObject(j, "tasks");
    static const char *const split_names[SD_LMS_COUNT] = {"train", "valid", "reserved"};
    int64_t tot[SD_LMS_COUNT][2] = {{0}};
    for (int t = 0; t < SD_LMT_COUNT; t++) {
        if (!((o->tasks >> t) & 1u)) continue;
        cJSON *e = cJSON_AddObjectToObject(tasks, sd_lm_task_name((sd_lm_task)t));
        for (int s = 0; s < SD_LMS_COUNT; s++) {
            char k[32];
            cJSON_AddNumberToObject(e, split_names[s], (double)st->n[s][t]);
            snprintf(k, sizeof k, "%s_tokens", split_names[s]);
            cJSON_AddNumberToObject(e, k, (double)st->tokens[s][t]);
            tot[s][0] += st->n[s][t], tot[s][1] += st->tokens[s][t];
        }
        if (st->note[t][0]) cJSON_AddStringToObject(e, "note", st->note[t]);
    }
    cJSON *all = cJSON_AddObjectToObject(j, "total");
    for (int s = 0; s < SD_LMS_COUNT; s++) {
        char k[32];
        cJSON_AddNumberToObject(all, split_names[s], (double)tot[s][0]);
        snprintf(k, sizeof k, "%s_tokens", split_names[s]);
        cJSON_AddNumberToObject(all, k, (double)tot[s][1]);
    }
    return j;
}

static void print_table(const sd_lmdata_stats *st, const sd_lmdata_opts *o, const char *tok_path) {
    printf("| task | train | valid | reserved | train tokens (%s) |\n|---|---:|---:|---:|---:|\n",
           tok_path ? "tokenizer ids, <|...|> one each" : "pre-tokenizer pieces, <|...|> one each");
    int64_t tot[4] = {0};
    for (int t = 0; t < SD_LMT_COUNT; t++) {
        if (!((o->tasks >> t) & 1u)) continue;
        printf("| %s | %lld | %lld | %lld | %lld |\n", sd_lm_task_name((sd_lm_task)t), (long long)st->n[0][t],
               (long long)st->n[1][t], (long long)st->n[2][t], (long long)st->tokens[0][t]);
        for (int s = 0; s < 3; s++) tot[s] += st->n[s][t];
        tot[3] += st->tokens[0][t];
    }
    printf("| total | %lld | %lld | %lld | %lld |\n", (long long)tot[0], (long long)tot[1], (long long)tot[2],
           (long long)tot[3]);
    for (int t = 0; t < SD_LMT_COUNT; t++)
        if (((o->tasks >> t) & 1u) && st->note[t][0]) printf("note: %s: %s\n", sd_lm_task_name((sd_lm_task)t), st->note[t]);
}

static int open_out(FILE **f, const char *dir, const char *name, sd_err *err) {
    char *p = sd_path_join(dir, name);
    *f = fopen(p, "wb");
    int rc = *f ? 0 : sd_errf(err, SD_EIO, "%s: cannot create", p);
    free(p);
    return rc;
}

static int close_out(FILE *f, const char *dir, const char *name, sd_err *err) {
    if (!f) return 0;
    bool bad = ferror(f) != 0;
    bad |= fclose(f) != 0;
    if (!bad) return 0;
    char *p = sd_path_join(dir, name);
    int rc = sd_errf(err, SD_EIO, "%s: write failed", p);
    free(p);
    return rc;
}

static int run(int argc, char **argv) {
    sd_lmdata_opts o;
    sd_lmdata_defaults(&o);
    const char *tasks = "all", *sids_prefix = "", *out_dir = NULL, *tok_path = NULL;
    bool no_system = false, force = false, json = false;
    int64_t max_per_task = 0;
    sd_opt opts[] = {
        {.name = "tasks", .type = SD_OPT_STR, .ptr = &tasks, .metavar = "LIST",
         .help = "comma-separated tasks (default all): title2sid, sid2title, sid2desc, sid2attrs, prefix2cat, "
                 "next_item, copurchase, request, request_history, steer, explain, bundle, multiturn"},
        {.name = "max-per-task", .type = SD_OPT_I64, .ptr = &max_per_task, .metavar = "N",
         .help = "at most N examples of each task in each file (default 0 = no cap)"},
        {.name = "max-per-user", .type = SD_OPT_INT, .ptr = &o.max_per_user, .metavar = "N",
         .help = "next_item targets per user, the latest of the training prefix (5; copurchase takes half)"},
        {.name = "max-history", .type = SD_OPT_INT, .ptr = &o.max_history, .metavar = "N",
         .help = "most recent items shown as a history (20)"},
        {.name = "recs", .type = SD_OPT_INT, .ptr = &o.n_recs, .metavar = "N",
         .help = "items in a recommendation answer of request, steer and multiturn (3)"},
        {.name = "valid-items", .type = SD_OPT_DOUBLE, .ptr = &o.valid_items, .metavar = "P",
         .help = "share of items whose item-task examples go to valid.jsonl instead of train.jsonl (0.05)"},
        {.name = "sids", .type = SD_OPT_STR, .ptr = &sids_prefix, .metavar = "PREFIX",
         .help = "read WORK/PREFIXsids.tsv (the set `semid ids --out-prefix PREFIX` wrote; default WORK/sids.tsv)"},
        {.name = "tokenizer", .type = SD_OPT_STR, .ptr = &tok_path, .metavar = "FILE",
         .help = "count tokens with this tokenizer.json (default: pre-tokenizer pieces); <|...|> tokens count one"},
        {.name = "no-system", .type = SD_OPT_FLAG, .ptr = &no_system, .help = "no system message in the records"},
        {.name = "out", .type = SD_OPT_STR, .ptr = &out_dir, .metavar = "DIR", .help = "output folder (default WORK/lmdata)"},
        {.name = "force", .type = SD_OPT_FLAG, .ptr = &force,
         .help = "replace the output folder even if it is a non-empty folder semid did not write"},
        {.name = "json", .type = SD_OPT_FLAG, .ptr = &json, .help = "print stats.json instead of the table"},
        {0},
    };
    sd_usage u = {.usage = "semid lmdata WORK [options]",
                  .about = "Writes the fine-tuning data of the language model: WORK/lmdata/train.jsonl, valid.jsonl,\n"
                           "reserved.jsonl and stats.json, one {\"task\", \"messages\": [{\"role\", \"content\"}]} chat\n"
                           "record per line (TRL, LLaMA-Factory, OpenAI), items written as SID token strings. Every\n"
                           "record starts with one fixed system message (--no-system: none). History tasks use only\n"
                           "each user's training prefix, so validation and test targets are never training targets;\n"
                           "popularity counts training prefixes only. valid.jsonl: next_item with each user's\n"
                           "validation target and a held-out share of the item tasks. reserved.jsonl: test users'\n"
                           "contexts in phrasings train.jsonl never uses, to measure steering on unseen wording.\n"
                           "Same input and --seed, same bytes; the build is single-threaded (about a second on the\n"
                           "demo store), so --threads changes nothing.",
                  .min_pos = 1, .max_pos = 1};
    sd_err err = {0};
    char **pos = NULL;
    int rc = sd_parse(&u, opts, argc, argv, &pos, NULL, &err);
    if (rc) return rc == 1 ? 0 : sd_cmd_error(&err);
    const char *work = pos[0];
    o.seed = sd_seed;
    o.system = !no_system;
    o.max_per_task = max_per_task;
    o.progress = !sd_quiet;
    if ((rc = sd_lm_tasks_parse(tasks, &o.tasks, &err))) ;
    else if (max_per_task < 0) rc = sd_errf(&err, SD_EUSAGE, "lmdata: --max-per-task must be >= 0 (got %lld)", (long long)max_per_task);
    else if (o.max_per_user < 1) rc = sd_errf(&err, SD_EUSAGE, "lmdata: --max-per-user must be >= 1 (got %d)", o.max_per_user);
    else if (o.max_history < 1) rc = sd_errf(&err, SD_EUSAGE, "lmdata: --max-history must be >= 1 (got %d)", o.max_history);
    else if (o.n_recs < 1 || o.n_recs > 8) rc = sd_errf(&err, SD_EUSAGE, "lmdata: --recs must be 1..8 (got %d)", o.n_recs);
    else if (!(o.valid_items >= 0 && o.valid_items < 1))
        rc = sd_errf(&err, SD_EUSAGE, "lmdata: --valid-items must be in [0, 1) (got %g)", o.valid_items);
    else if (out_dir && sd_path_within(work, out_dir))
        rc = sd_errf(&err, SD_EUSAGE, "lmdata: --out %s is the work directory %s or holds it; replacing it would "
                     "delete the work directory", out_dir, work);
    if (rc) { free(pos); return sd_cmd_error(&err); }

    sd_lock lk_work = {.fd = -1}, lk = {.fd = -1};
    sd_work w;
    if ((rc = sd_lock_output_shared(&lk_work, work, &err)) || (rc = sd_work_load(&w, work, &err))) {
        sd_unlock(&lk_work);
        free(pos);
        return sd_cmd_error(&err);
    }
    char *dir = out_dir ? sd_xstrdup(out_dir) : sd_work_path(&w, "lmdata"), *tmp = NULL, *sids = NULL;
    sd_sid_vocab v = {0};
    bool have_v = false;
    sd_tokenizer *tok = NULL;
    FILE *f[3] = {0};
    static const char *const names[3] = {"train.jsonl", "valid.jsonl", "reserved.jsonl"};
    sd_lmdata_stats st;
    unsigned flags = force ? SD_OUT_FORCE : 0;
    if ((rc = sd_sids_path(&w, sids_prefix, "lmdata: --sids", SD_EUSAGE, &sids, &err))) goto done;
    if (!sd_exists(sids)) {
        rc = sd_errf(&err, SD_ESTATE, "%s: missing; run `semid ids %s%s%s` first", sids, work,
                     sids_prefix[0] ? " --out-prefix " : "", sids_prefix);
        goto done;
    }
    if ((rc = sd_sid_vocab_open(&v, sids, w.cat, &err))) goto done;
    have_v = true;
    if (tok_path && (rc = sd_tok_load(&tok, tok_path, &err))) goto done;
    o.tok = tok;
    /* refused now, not after the work: an output that is not semid's is never replaced */
    if ((rc = sd_out_dir_check(dir, flags, &err)) || (rc = sd_lock_output(&lk, dir, &err))) goto done;
    if ((rc = sd_dir_begin_flags(dir, &tmp, flags, &err))) goto done;
    for (int i = 0; i < 3 && !rc; i++) rc = open_out(&f[i], tmp, names[i], &err);
    if (!rc) rc = sd_lmdata_build(&w, &v, &o, f[0], f[1], f[2], &st, &err);
    for (int i = 0; i < 3; i++) {
        int c = close_out(f[i], tmp, names[i], rc ? NULL : &err);
        if (!rc) rc = c;
        f[i] = NULL;
    }
    cJSON *sj = NULL;
    if (!rc) {
        sj = stats_json(&st, &o, sids, tok_path);
        char *s = cJSON_Print(sj), *p = sd_path_join(tmp, "stats.json");
        size_t n = strlen(s);
        s = sd_xrealloc(s, n + 2);
        s[n] = '\n';
        rc = sd_write_file_atomic(p, s, n + 1, &err);
        free(p);
        free(s);
    }
    if (!rc) rc = sd_dir_commit(tmp, dir, &err);
    else sd_dir_abort(tmp);
    if (!rc) {
        if (json) {
            char *s = cJSON_Print(sj);
            puts(s);
            free(s);
        } else {
            print_table(&st, &o, tok_path);
        }
        if (!sd_quiet) sd_info("wrote %s", dir);
    }
    cJSON_Delete(sj);
done:
    for (int i = 0; i < 3; i++) if (f[i]) fclose(f[i]);
    sd_unlock(&lk);
    sd_unlock(&lk_work);
    if (tok) sd_tok_free(tok);
    if (have_v) sd_sid_vocab_free(&v);
    free(sids);
    free(tmp);
    free(dir);
    sd_work_free(&w);
    free(pos);
    return rc ? sd_cmd_error(&err) : 0;
}

SD_COMMAND(lmdata, "lmdata", "LM fine-tuning data: tasks in chat format over SID tokens (WORK/lmdata/)", run)
