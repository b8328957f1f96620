/* semid recommend: the fine-tuned model's top items for a history, a request in words, or both,
 * by beam search over the SID trie (every item named exists), optionally with the model's
 * explanation of its first pick. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd/cli.h"
#include "cmd/model_registry.h"
#include "base/file.h"
#include "base/log.h"
#include "base/mem.h"
#include "data/jsonw.h"
#include "data/workdir.h"
#include "lm/generate.h"
#include "lm/llm_rec.h"

/* Items of a comma-separated list of external ids (malloc'd into *out). */
static int parse_history(const sd_catalog *cat, const char *list, int32_t **out, int *n, sd_err *err) {
    *out = sd_xmalloc(sizeof(int32_t) * (strlen(list) + 1));
    *n = 0;
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        const char *e = p;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > p && t[-1] == ' ') t--;
        int32_t id = sd_catalog_findn(cat, p, (size_t)(t - p));
        if (id < 0) {
            free(*out);
            *out = NULL;
            return sd_errf(err, SD_EUSAGE, "recommend: --history: no item \"%.*s\" in the catalogue", (int)(t - p), p);
        }
        (*out)[(*n)++] = id;
        p = e;
    }
    return 0;
}

/* The model's reason for recommending item after the history's last item, as lmdata's explain
 * task teaches it ("I just finished {title}. Suggest another <|rec|> and explain why:" answered
 * "<SID> Title (Genre)\n<reason>"): the answer's first line is given, the reason generated (greedy,
 * constrained SIDs). malloc'd text, or NULL. */
static char *explain(sd_llm_rec *r, const sd_catalog *cat, int32_t last, int32_t item, sd_err *err) {
    sd_ids in = {0};
    if (sd_llm_rec_explain_prompt(r, cat, last, item, &in, err)) { sd_ids_free(&in); return NULL; }
    sd_gen_cfg g;
    sd_gen_cfg_default(&g);
    g.max_new_tokens = 96;
    int32_t stop[16];
    g.n_stop = sd_qwen3_stop_ids(&r->m, stop, 16);
    g.stop_ids = stop;
    sd_sid_mask mk;
    if (sd_sid_mask_init(&mk, &r->v, err)) { sd_ids_free(&in); return NULL; }
    g.sample.mask = sd_sid_mask_apply;
    g.sample.mask_ctx = &mk;
    const int32_t *prompts[1] = {in.v};
    int lens[1] = {(int)in.n};
    sd_gen_out o;
    char *out = NULL;
    if (!sd_generate(&r->m, prompts, lens, 1, &g, &o, err)) {
        out = sd_llm_rec_decode(r, cat, o.tokens[0], o.n[0], stop, g.n_stop); /* named items by title */
        sd_gen_out_free(&o);
    }
    sd_sid_mask_free(&mk);
    sd_ids_free(&in);
    return out;
}

static int run(int argc, char **argv) {
    const char *model = NULL, *user = NULL, *history = NULL, *prompt = NULL, *sids = NULL;
    int k = 10, width = 20, user_index = -1;
    bool json = false, keep = false, want_explain = false;
    sd_opt opts[] = {
        {.name = "model", .type = SD_OPT_STR, .ptr = &model, .metavar = "DIR",
         .help = "the fine-tuned model folder (default WORK/lm)"},
        {.name = "user", .type = SD_OPT_STR, .ptr = &user, .metavar = "ID",
         .help = "a user of WORK: their whole sequence is the history"},
        {.name = "user-index", .type = SD_OPT_INT, .ptr = &user_index, .metavar = "N",
         .help = "the user in row N of WORK's sequences (0 = the first), as --user"},
        {.name = "history", .type = SD_OPT_STR, .ptr = &history, .metavar = "IDS",
         .help = "items as a comma-separated list of external ids, oldest first"},
        {.name = "prompt", .type = SD_OPT_STR, .ptr = &prompt, .metavar = "TEXT",
         .help = "a request in words (\"Similar, but for Xbox One.\"); with or without a history"},
        {.name = "k", .type = SD_OPT_INT, .ptr = &k, .metavar = "K", .help = "items to return (default 10)"},
        {.name = "width", .type = SD_OPT_INT, .ptr = &width, .metavar = "W",
         .help = "beam width (default 20; at least K)"},
        {.name = "keep-history", .type = SD_OPT_FLAG, .ptr = &keep,
         .help = "allow items of the history in the answer (default: left out)"},
        {.name = "explain", .type = SD_OPT_FLAG, .ptr = &want_explain,
         .help = "add the model's explanation of its first pick (needs a history)"},
        {.name = "sids", .type = SD_OPT_STR, .ptr = &sids, .metavar = "PREFIX",
         .help = "the semantic IDs of WORK/PREFIXsids.tsv (default WORK/sids.tsv)"},
        {.name = "json", .type = SD_OPT_FLAG, .ptr = &json,
         .help = "print a JSON list of {rank, ext_id, title, score, sid} (and the explanation)"},
        {0},
    };
    sd_usage u = {.usage = "semid recommend WORK [--user ID | --history IDS] [--prompt TEXT] [-k K] [options]",
                  .about = "Recommends with the fine-tuned model (semid finetune WORK): the prompt is the history as "
                           "semantic IDs in the format the model was trained on, then <|rec|>; beam search over the "
                           "trie of WORK's items returns the K most probable real items, each scored by the sum of "
                           "its code tokens' log-probabilities.",
                  .min_pos = 1, .max_pos = 1};
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "-k")) argv[i] = "--k";
    sd_err err = {0};
    char **pos = NULL;
    int npos = 0;
    int rc = sd_parse(&u, opts, argc, argv, &pos, &npos, &err);
    if (rc) { free(pos); return rc == 1 ? 0 : sd_cmd_error(&err); }
    const char *dir = pos[0];
    free(pos);
    if (k < 1 || width < k) rc = sd_errf(&err, SD_EUSAGE, "recommend: need 1 <= -k (%d) <= --width (%d)", k, width);
    else if ((user != NULL) + (history != NULL) + (user_index >= 0) > 1)
        rc = sd_errf(&err, SD_EUSAGE, "recommend: give one of --user, --user-index and --history");
    else if (!user && !history && user_index < 0 && !prompt)
        rc = sd_errf(&err, SD_EUSAGE, "recommend: give a history (--user ID or --history IDS), a --prompt, or both");
    if (rc) return sd_cmd_error(&err);

    sd_lock lk = {.fd = -1};
    sd_work w;
    if ((rc = sd_lock_output_shared(&lk, dir, &err))) return sd_cmd_error(&err);
    if ((rc = sd_work_load(&w, dir, &err))) { sd_unlock(&lk); return sd_cmd_error(&err); }
    int32_t *hist = NULL;
    int n_hist = 0;
    if (history) rc = parse_history(w.cat, history, &hist, &n_hist, &err);
    if (user) {
        int32_t row = -1;
        for (int32_t i = 0; i < w.seq.n_users && row < 0; i++)
            if (w.seq.user_ids && !strcmp(w.seq.user_ids[i], user)) row = i;
        if (row < 0) rc = sd_errf(&err, SD_EUSAGE, "recommend: --user: no user \"%s\" in %s", user, dir);
        else user_index = row;
    }
    if (!rc && user_index >= 0) {
        int32_t row = user_index;
        if (row >= w.seq.n_users)
            rc = sd_errf(&err, SD_EUSAGE, "recommend: --user-index %d: %s has %d users", row, dir, w.seq.n_users);
        else {
            n_hist = sd_seq_len(&w.seq, row);
            hist = sd_xmalloc(sizeof(int32_t) * (size_t)(n_hist + 1));
            memcpy(hist, sd_seq_items(&w.seq, row), sizeof(int32_t) * (size_t)n_hist);
        }
    }
    char *mdir = model ? sd_xstrdup(model) : sd_work_path(&w, "lm"), *sp = NULL;
    sd_llm_rec r = {0};
    bool open = false;
    if (!rc) rc = sd_sids_path(&w, sids ? sids : "", "recommend: --sids", SD_EUSAGE, &sp, &err);
    if (!rc) open = !(rc = sd_llm_rec_open(&r, mdir, sp, w.cat, &err));
    if (!rc && want_explain && n_hist == 0)
        rc = sd_errf(&err, SD_EUSAGE, "recommend: --explain needs a history (--user or --history)");
    int32_t *items = sd_xmalloc(sizeof(int32_t) * (size_t)k);
    float *scores = sd_xmalloc(sizeof(float) * (size_t)k);
    int32_t found = 0;
    if (!rc) {
        r.width = width;
        const int32_t *hp[1] = {hist};
        int32_t hl[1] = {n_hist};
        const char *req[1] = {prompt};
        rc = sd_llm_rec_topk(&r, 1, hp, hl, req, !keep, k, items, scores, &found, &err);
    }
    char *why = NULL;
    if (!rc && want_explain && found > 0) why = explain(&r, w.cat, hist[n_hist - 1], items[0], &err);
    if (!rc) {
        if (json) {
            cJSON *a = cJSON_CreateArray();
            for (int i = 0; i < found; i++) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddNumberToObject(o, "rank", i + 1);
                cJSON_AddStringToObject(o, "ext_id", w.cat->items[items[i]].ext_id);
                cJSON_AddStringToObject(o, "title", w.cat->items[items[i]].title);
                cJSON_AddNumberToObject(o, "score", scores[i]);
                cJSON_AddStringToObject(o, "sid", r.sid_str[items[i]]);
                cJSON_AddItemToArray(a, o);
            }
            cJSON *top = a;
            if (want_explain) {
                top = cJSON_CreateObject();
                cJSON_AddItemToObject(top, "items", a);
                cJSON_AddStringToObject(top, "explanation", why ? why : "");
            }
            char *s = cJSON_Print(top);
            puts(s);
            free(s);
            cJSON_Delete(top);
        } else {
            for (int i = 0; i < n_hist && !sd_quiet; i++)
                printf("%s %s%s\n", i ? "        " : "history:", w.cat->items[hist[i]].title, "");
            if (prompt && !sd_quiet) printf("request: %s\n", prompt);
            printf("| rank | ext_id | title | score | sid |\n|---:|---|---|---:|---|\n");
            for (int i = 0; i < found; i++)
                printf("| %d | %s | %s | %.3f | %s |\n", i + 1, w.cat->items[items[i]].ext_id,
                       w.cat->items[items[i]].title, scores[i], r.sid_str[items[i]]);
            if (want_explain) printf("\nwhy %s: %s\n", w.cat->items[items[0]].title, why ? why : "(no explanation)");
        }
        if (found < k) sd_warn("recommend: only %d items found (the trie or the history left fewer)", found);
    }
    free(why);
    free(items);
    free(scores);
    free(hist);
    free(mdir);
    free(sp);
    if (open) sd_llm_rec_free(&r);
    sd_work_free(&w);
    sd_unlock(&lk);
    return rc ? sd_cmd_error(&err) : 0;
}

SD_COMMAND(recommend, "recommend", "recommend items with the fine-tuned model (constrained to real items)", run)
