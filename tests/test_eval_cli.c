/* `semid eval` on a small work directory built here with sd_work_create. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/rng.h"
#include "data/workdir.h"
#include "test_util.h"

static char work[512];
static int n_test_users; /* users with a test target, counted from the loaded work directory */

static void make_work(void) {
    char dir[256];
    sd_test_tmpdir(dir, sizeof dir);
    snprintf(work, sizeof work, "%s/work", dir);
    sd_catalog *c = sd_catalog_new();
    int n_items = 60;
    for (int i = 0; i < n_items; i++) {
        char id[16], title[32];
        snprintf(id, sizeof id, "I%03d", i);
        snprintf(title, sizeof title, "Item %d", i);
        sd_item_in in = {id, title, "", NULL, 0, NULL, 0, NULL, 0};
        cr_assert_eq(sd_catalog_add(c, &in, NULL), i);
    }
    sd_seqbuilder *b = sd_seqbuilder_new();
    sd_rng r;
    sd_rng_seed(&r, 11);
    for (int u = 0; u < 120; u++) {
        char name[16];
        snprintf(name, sizeof name, "user%d", u);
        int len = 3 + (int)sd_rng_below(&r, 6);
        /* skewed towards low ids, so popularity beats random */
        for (int k = 0; k < len; k++) {
            int item = (int)(sd_rng_below(&r, 60) * sd_rng_below(&r, 60) / 60);
            sd_seqbuilder_add(b, name, strlen(name), item, k);
        }
    }
    sd_seq_opts o = {.seed = 1, .min_len = 3, .max_len = 0};
    sd_sequences s;
    sd_err err = {0};
    cr_assert_eq(sd_seqbuilder_finish(b, n_items, &o, &s, &err), 0, "%s", err.msg);
    cr_assert_eq(sd_work_create(work, c, &s, SD_SPLIT_LOO, 7, "test", NULL, &err), 0, "%s", err.msg);
    sd_sequences_free(&s);
    sd_seqbuilder_free(b);
    sd_catalog_free(c);
    sd_work w;
    cr_assert_eq(sd_work_load(&w, work, &err), 0, "%s", err.msg);
    n_test_users = 0;
    for (int u = 0; u < w.split.n_users; u++) n_test_users += w.split.test_pos[u] >= 0;
    cr_assert_gt(n_test_users, 100);
    sd_work_free(&w);
}

static int eval(const char *args, char **out) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s eval %s --quiet %s", sd_test_bin(), work, args);
    return sd_test_run(cmd, out);
}

/* stdout only (stderr may carry warnings) */
static cJSON *eval_json(const char *args) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s eval %s --quiet --json %s 2>/dev/null", sd_test_bin(), work, args);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = 0;
    cr_assert_eq(pclose(p), 0, "%s", buf);
    cJSON *j = cJSON_Parse(buf);
    cr_assert(cJSON_IsArray(j), "not a JSON list: %s", buf);
    return j;
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    cr_assert(cJSON_IsNumber(v), "key %s", key);
    return v->valuedouble;
}

Test(eval_cli, table_json_and_files) {
    make_work();
    char *out = NULL;
    cr_assert_eq(eval("", &out), 0, "%s", out);
    cr_assert(strstr(out, "| model | protocol |"), "%s", out);
    char want[128];
    snprintf(want, sizeof want, "| popularity | full | test | excluded | %d |", n_test_users);
    cr_assert(strstr(out, want), "%s", out);
    cr_assert(strstr(out, "| random | full |"), "%s", out);
    free(out);
    cJSON *j = eval_json("--protocol all");
    cr_assert_eq(cJSON_GetArraySize(j), 9, "3 baselines x 3 protocols");
    const cJSON *row;
    double pop_ndcg = -1, rnd_ndcg = -1;
    cJSON_ArrayForEach(row, j) {
        const char *keys[] = {"model", "protocol", "part"};
        for (int k = 0; k < 3; k++) cr_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(row, keys[k])));
        double h = num(row, "hit@10"), n = num(row, "ndcg@10"), m = num(row, "mrr");
        cr_assert(h >= 0 && h <= 1 && n >= 0 && n <= h + 1e-12 && m > 0 && m <= 1);
        cr_assert_eq(num(row, "n_users"), n_test_users);
        const char *model = cJSON_GetObjectItemCaseSensitive(row, "model")->valuestring;
        const char *proto = cJSON_GetObjectItemCaseSensitive(row, "protocol")->valuestring;
        if (!strcmp(proto, "full") && !strcmp(model, "popularity")) pop_ndcg = num(row, "ndcg@20");
        if (!strcmp(proto, "full") && !strcmp(model, "random")) rnd_ndcg = num(row, "ndcg@20");
    }
    cr_assert_gt(pop_ndcg, rnd_ndcg, "skewed data: popularity %f must beat random %f", pop_ndcg, rnd_ndcg);
    cJSON_Delete(j);

    /* files: rows of both runs kept, keyed by model/protocol/part/exclusion */
    j = eval_json("--models random --part valid --no-exclude-history");
    cr_assert_eq(cJSON_GetArraySize(j), 1);
    cr_assert_eq(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(j, 0), "exclude_history")), 1);
    cJSON_Delete(j);
    char *path = sd_path_join(work, "eval.json"), *text = NULL;
    size_t len;
    cr_assert_eq(sd_read_file(path, &text, &len, NULL), 0);
    j = cJSON_Parse(text);
    cr_assert_eq(cJSON_GetArraySize(j), 10);
    cJSON_Delete(j);
    free(text); free(path);
    path = sd_path_join(work, "eval.csv");
    cr_assert_eq(sd_read_file(path, &text, &len, NULL), 0);
    int lines = 0;
    for (char *p = text; *p; p++) lines += *p == '\n';
    cr_assert_eq(lines, 11, "header + 10 rows");
    cr_assert(!strncmp(text, "model,protocol,part,exclude_history,seed,n_users,hit@5,", 55), "%s", text);
    free(text); free(path);

    /* same seed, same figures (sampled negatives and the random baseline) */
    cJSON *a = eval_json("--protocol sampled100 --models random --seed 3");
    cJSON *b = eval_json("--protocol sampled100 --models random --seed 3 --batch 1 --threads 1");
    cr_assert_float_eq(num(cJSON_GetArrayItem(a, 0), "mrr"), num(cJSON_GetArrayItem(b, 0), "mrr"), 0);
    cJSON_Delete(a); cJSON_Delete(b);
}

Test(eval_cli, bad_input) {
    make_work();
    char *out = NULL, cmd[1024];
    snprintf(cmd, sizeof cmd, "%s eval %s/missing", sd_test_bin(), work);
    cr_assert_eq(sd_test_run(cmd, &out), 1);
    cr_assert(strstr(out, "not a work directory"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s eval", sd_test_bin());
    cr_assert_eq(sd_test_run(cmd, &out), 2);
    cr_assert(strstr(out, "missing argument"), "%s", out);
    free(out);
    cr_assert_eq(eval("--protocol sampled50", &out), 2);
    cr_assert(strstr(out, "unknown --protocol 'sampled50'"), "%s", out);
    free(out);
    cr_assert_eq(eval("--part train", &out), 2);
    cr_assert(strstr(out, "unknown --part 'train'"), "%s", out);
    free(out);
    cr_assert_eq(eval("--models popularity,bert4rec", &out), 2);
    cr_assert(strstr(out, "unknown model 'bert4rec'") && strstr(out, "known: ") && strstr(out, "popularity_unseen"), "%s", out);
    free(out);
    cr_assert_eq(eval("--batch -3", &out), 2);
    free(out);
    /* a corrupt eval.json from an earlier run is replaced, with a warning */
    char *path = sd_path_join(work, "eval.json");
    cr_assert_eq(sd_write_file_atomic(path, "{oops", 5, NULL), 0);
    snprintf(cmd, sizeof cmd, "%s eval %s --models popularity", sd_test_bin(), work);
    cr_assert_eq(sd_test_run(cmd, &out), 0, "%s", out);
    cr_assert(strstr(out, "eval.json: not a JSON list"), "%s", out);
    free(out);
    free(path);
}
