/* The LLM recommender end to end on a small store: synth, embed, ids, lmdata, a few finetune steps,
 * then `semid recommend` (every item it returns exists, none from the history, --json fields, the
 * SID is the item's own) and `semid eval` with its llm row; bad input refused with clear messages. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "data/catalog.h"
#include "ids/sid_vocab.h"
#include "test_util.h"

static char g_work[300];

static void setup_work(void) {
    sd_test_lm_work(g_work, sizeof g_work, 200, 300, "--max-per-task 150", "--steps 12 --eval-every 0 --threads 2");
}

static sd_catalog *catalog(void) {
    char p[400];
    snprintf(p, sizeof p, "%s/items.jsonl", g_work);
    sd_catalog *c;
    sd_err err = {0};
    cr_assert_eq(sd_catalog_read_jsonl(&c, p, &err), 0, "%s", err.msg);
    return c;
}

Test(recommend_cli, items_exist_and_json, .timeout = 300) {
    setup_work();
    sd_catalog *c = catalog();
    char hist[256];
    snprintf(hist, sizeof hist, "%s,%s,%s", c->items[3].ext_id, c->items[10].ext_id, c->items[42].ext_id);
    char *out = NULL;
    cr_assert_eq(sd_test_semid(&out, "recommend %s --history %s -k 7 --json --quiet", g_work, hist), 0, "%s", out);
    cJSON *a = cJSON_Parse(out);
    cr_assert(cJSON_IsArray(a), "%s", out);
    cr_assert_eq(cJSON_GetArraySize(a), 7);
    sd_sid_vocab v;
    sd_err err = {0};
    char sp[400];
    snprintf(sp, sizeof sp, "%s/sids.tsv", g_work);
    cr_assert_eq(sd_sid_vocab_open(&v, sp, c, &err), 0, "%s", err.msg);
    double prev = 1e30;
    cJSON *o;
    cJSON_ArrayForEach(o, a) {
        const char *ext = cJSON_GetObjectItem(o, "ext_id")->valuestring;
        int32_t id = sd_catalog_find(c, ext);
        cr_assert(id >= 0, "returned item %s is not in the catalogue", ext);
        cr_assert(id != 3 && id != 10 && id != 42, "a history item came back: %s", ext);
        cr_assert_str_eq(cJSON_GetObjectItem(o, "title")->valuestring, c->items[id].title);
        char *want = sd_sid_vocab_item_string(&v, id);
        cr_assert_str_eq(cJSON_GetObjectItem(o, "sid")->valuestring, want);
        free(want);
        double s = cJSON_GetObjectItem(o, "score")->valuedouble;
        cr_assert(s <= prev && s < 0, "scores are log-probabilities, best first");
        prev = s;
    }
    cJSON_Delete(a);
    free(out);
    /* a request in words, with --explain, as a table */
    cr_assert_eq(sd_test_semid(&out, "recommend %s --history %s --prompt 'Similar, but for PC.' --explain", g_work,
                               hist), 0, "%s", out);
    cr_assert(strstr(out, "| rank | ext_id | title | score | sid |") && strstr(out, "why "), "%s", out);
    free(out);
    /* the llm row in the evaluation table */
    cr_assert_eq(sd_test_semid(&out, "eval %s --models llm,popularity --eval-users 40 --llm-users 24 --quiet", g_work), 0,
                 "%s", out);
    cr_assert(strstr(out, "| llm | full | test | excluded | 40 |"), "%s", out);
    cr_assert(strstr(out, "constrained 100.0%"), "constrained decoding names only real items:\n%s", out);
    free(out);
    /* eval_llm.json: the valid-item rates, steering rows for the llm and popularity, explanations */
    char p[400], *txt;
    size_t tn;
    snprintf(p, sizeof p, "%s/eval_llm.json", g_work);
    cr_assert_eq(sd_read_file(p, &txt, &tn, &err), 0, "%s", err.msg);
    cJSON *j = cJSON_Parse(txt);
    cJSON *vi = cJSON_GetObjectItem(j, "valid_items");
    cr_assert_eq(cJSON_GetObjectItem(vi, "users")->valueint, 24);
    cr_assert_float_eq(cJSON_GetObjectItem(vi, "constrained")->valuedouble, 1.0, 1e-12);
    double free_rate = cJSON_GetObjectItem(vi, "unconstrained")->valuedouble;
    cr_assert(free_rate >= 0 && free_rate <= 1);
    int rows = 0, llm_rows = 0;
    cJSON *row;
    cJSON_ArrayForEach(row, cJSON_GetObjectItem(j, "steering")) {
        rows++;
        const char *mname = cJSON_GetObjectItem(row, "model")->valuestring;
        llm_rows += !strcmp(mname, "llm");
        cJSON *pl = cJSON_GetObjectItem(row, "platform");
        if (cJSON_IsNumber(pl)) cr_assert(pl->valuedouble >= 0 && pl->valuedouble <= 1);
    }
    cr_assert_eq(llm_rows, 3, "request, steer_platform, steer_genre");
    cr_assert_eq(rows, 6, "the llm and popularity, 3 prompts each");
    cr_assert(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "explanations"), "explained")->valueint > 0);
    cJSON_Delete(j);
    free(txt);

    /* bad input */
    cr_assert_eq(sd_test_semid(&out, "recommend %s --history nope,%s", g_work, c->items[1].ext_id), 2, "%s", out);
    cr_assert(strstr(out, "\"nope\""), "%s", out);
    free(out);
    cr_assert_eq(sd_test_semid(&out, "recommend %s", g_work), 2, "%s", out);
    cr_assert(strstr(out, "history"), "%s", out);
    free(out);
    cr_assert_eq(sd_test_semid(&out, "recommend %s --prompt x -k 30 --width 20", g_work), 2, "%s", out);
    free(out);
    cr_assert_neq(sd_test_semid(&out, "recommend %s --prompt x --model %s/none", g_work, g_work), 0, "%s", out);
    cr_assert(strstr(out, "none"), "%s", out);
    free(out);
    cr_assert_eq(sd_test_semid(&out, "recommend %s --prompt x --sids ../x", g_work), 2, "%s", out);
    cr_assert(strstr(out, "--sids"), "%s", out);
    free(out);
    /* generate --work: constrained SIDs from the work directory; a bad --sids is a usage error */
    cr_assert_eq(sd_test_semid(&out, "generate --model %s/lm --work %s --chat --prompt 'x <|rec|>' --max-new-tokens 8 "
                               "--quiet", g_work, g_work), 0, "%s", out);
    free(out);
    cr_assert_eq(sd_test_semid(&out, "generate --model %s/lm --work %s --sids a/b --prompt x", g_work, g_work), 2, "%s",
                 out);
    cr_assert(strstr(out, "--sids"), "%s", out);
    free(out);
    sd_sid_vocab_free(&v);
    sd_catalog_free(c);
}
