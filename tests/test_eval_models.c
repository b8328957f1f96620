/* Which models `semid eval` ranks and with what: a SID-SASRec model is tied to the semantic IDs
 * it was trained on (codes_fingerprint) and to their prefix (--sids); model folders from anywhere
 * (--model DIR) get their kind from config.json and rows named after the folder; eval.csv is
 * RFC 4180, read back here by a parser of its own. Tiny stores and one epoch: seconds each. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "eval/results.h"
#include "ids_fixture.h"
#include "test_util.h"

#define semid(out, fmt, ...) sd_test_semid(out, fmt " --quiet", ##__VA_ARGS__)
#define TINY "--epochs 1 --dim 16 --maxlen 6 --no-ckpt"
#define IDS "--levels 2 --codes 8 --max-collision extend-level"

static char *slurp(const char *p) {
    char *d = NULL;
    size_t n;
    cr_assert_eq(sd_read_file(p, &d, &n, NULL), 0, "%s unreadable", p);
    return d;
}

static void put(const char *p, const char *text) {
    FILE *f = fopen(p, "w");
    cr_assert(f, "%s", p);
    fputs(text, f);
    fclose(f);
}

/* A work directory of 200 items with embeddings and semantic IDs (WORK/sids.tsv ...); d: its parent. */
static char *work_with_ids(char *d, size_t n) {
    sd_test_tmpdir(d, n);
    char *w = sd_path_join(d, "work"), *out = NULL;
    ids_make_work(w, 200, 3);
    cr_assert_eq(semid(&out, "embed %s --dim 16", w), 0, "%s", out);
    free(out);
    cr_assert_eq(semid(&out, "ids %s " IDS, w), 0, "%s", out);
    free(out);
    return w;
}

/* A string field of DIR/config.json (malloc'd). */
static char *config_str(const char *dir, const char *key) {
    char *p = sd_path_join(dir, "config.json"), *text = slurp(p);
    cJSON *j = cJSON_Parse(text);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    cr_assert(cJSON_IsString(v), "%s: no string \"%s\"", p, key);
    char *s = strdup(v->valuestring);
    cJSON_Delete(j);
    free(text); free(p);
    return s;
}

/* The model names of `semid eval --json ARGS`, comma-joined, into buf; returns eval's exit code. */
static int eval_models(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int eval_models(char *buf, size_t n, const char *fmt, ...) {
    char args[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    char *out = NULL;
    int rc = semid(&out, "eval %s --json 2>/dev/null", args);
    buf[0] = 0;
    if (rc) { snprintf(buf, n, "%s", out); free(out); return rc; }
    cJSON *j = cJSON_Parse(out);
    cr_assert(cJSON_IsArray(j), "not a JSON list: %s", out);
    const cJSON *row;
    cJSON_ArrayForEach(row, j) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(row, "model");
        cr_assert(cJSON_IsString(m));
        size_t k = strlen(buf);
        snprintf(buf + k, n - k, "%s%s", k ? "," : "", m->valuestring);
    }
    cJSON_Delete(j);
    free(out);
    return 0;
}

/* `semid ids` re-run with another seed gives other codes of the same sizes: the model trained on
 * the old ones is refused, both fingerprints named, the way out said; eval.json is left as it was. */
Test(eval_models, sid_model_refuses_other_semantic_ids, .timeout = 120) {
    char d[256], *out = NULL;
    char *w = work_with_ids(d, sizeof d), *model = sd_path_join(w, "sasrec_sid");
    cr_assert_eq(semid(&out, "sasrec %s --sid " TINY, w), 0, "%s", out);
    free(out);
    char *trained = config_str(model, "codes_fingerprint");
    cr_assert_eq(strlen(trained), 16, "%s", trained);
    cr_assert_eq(semid(&out, "eval %s --models sasrec_sid", w), 0, "%s", out);
    free(out);
    char *ej = sd_path_join(w, "eval.json"), *before = slurp(ej);

    cr_assert_eq(semid(&out, "ids %s " IDS " --seed 5", w), 0, "%s", out);
    free(out);
    int rc = semid(&out, "eval %s --models sasrec_sid", w);
    cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
    char want[128];
    snprintf(want, sizeof want, "trained on semantic IDs with codes_fingerprint %s", trained);
    cr_assert(strstr(out, want), "%s", out);
    const char *now = strstr(out, "sids.tsv has codes_fingerprint ");
    cr_assert(now, "%s", out);
    now += strlen("sids.tsv has codes_fingerprint ");
    cr_assert(strncmp(now, trained, 16) && strspn(now, "0123456789abcdef") == 16, "%s", out);
    cr_assert(strstr(out, "semid sasrec WORK --sid"), "%s", out);
    free(out);
    char *after = slurp(ej);
    cr_assert_str_eq(after, before, "a refused eval rewrote eval.json");

    /* the check is on the codes: the same settings and seed again give the same codes, accepted */
    cr_assert_eq(semid(&out, "ids %s " IDS, w), 0, "%s", out);
    free(out);
    cr_assert_eq(semid(&out, "eval %s --models sasrec_sid", w), 0, "%s", out);
    free(out);
    free(before); free(after); free(ej); free(trained); free(model); free(w);
}

/* --sids P trains on WORK/Psids.tsv, config.json records P and eval reads that set again (the
 * default set differs, so reading WORK/sids.tsv would be refused); --sids on eval overrides it. */
Test(eval_models, sids_prefix_recorded_and_used, .timeout = 120) {
    char d[256], *out = NULL;
    char *w = work_with_ids(d, sizeof d), *model = sd_path_join(w, "sasrec_sid");
    cr_assert_eq(semid(&out, "ids %s " IDS " --seed 5 --out-prefix p_", w), 0, "%s", out);
    free(out);
    int rc = semid(&out, "sasrec %s --sids p_ " TINY, w);
    cr_assert_eq(rc, 2, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "--sids p_ needs --sid"), "%s", out);
    free(out);
    rc = semid(&out, "sasrec %s --sid --sids ../p_ " TINY, w);
    cr_assert_eq(rc, 2, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "--sids must be a plain file-name prefix") && strstr(out, "'../p_'"), "%s", out);
    free(out);
    cr_assert(!sd_exists(model), "a refused run wrote %s", model);

    cr_assert_eq(semid(&out, "sasrec %s --sid --sids p_ " TINY, w), 0, "%s", out);
    free(out);
    char *prefix = config_str(model, "sids_prefix");
    cr_assert_str_eq(prefix, "p_");
    char names[1024];
    rc = eval_models(names, sizeof names, "%s --models sasrec_sid", w);
    cr_assert_eq(rc, 0, "%s", names);
    cr_assert_str_eq(names, "sasrec_sid");
    /* --sids '' asks for WORK/sids.tsv: other codes, refused */
    rc = semid(&out, "eval %s --models sasrec_sid --sids ''", w);
    cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "codes_fingerprint") && strstr(out, "/sids.tsv has"), "%s", out);
    free(out);
    rc = semid(&out, "eval %s --models sasrec_sid --sids q_", w);
    cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "q_sids.tsv") && strstr(out, "semid ids"), "%s", out);
    free(out);
    rc = semid(&out, "eval %s --sids a/b", w);
    cr_assert_eq(rc, 2, "exit %d: %s", rc, out);
    free(out);

    /* a SID model in a folder of its own: kind and prefix from its config.json */
    char *sid_dir = sd_path_join(d, "sid_p");
    cr_assert_eq(semid(&out, "sasrec %s --sid --sids p_ --out %s " TINY, w, sid_dir), 0, "%s", out);
    free(out);
    rc = eval_models(names, sizeof names, "%s --models popularity --model %s", w, sid_dir);
    cr_assert_eq(rc, 0, "%s", names);
    cr_assert_str_eq(names, "sid_p,popularity");
    free(sid_dir); free(prefix); free(model); free(w);
}

/* The fields of one RFC 4180 record starting at *p (advanced past it); returns the field count. */
static int csv_record(const char **p, char fields[][128], int max) {
    int n = 0;
    const char *s = *p;
    for (;;) {
        char *f = fields[n < max ? n : max - 1];
        size_t k = 0;
        if (*s == '"') {
            for (s++;; s++) {
                cr_assert(*s, "unterminated quoted field");
                if (*s == '"' && s[1] == '"') { f[k++] = '"'; s++; continue; }
                if (*s == '"') { s++; break; }
                f[k++] = *s;
            }
            cr_assert(*s == ',' || *s == '\n', "text after a closing quote: '%c'", *s);
        } else {
            while (*s && *s != ',' && *s != '\n') {
                cr_assert(*s != '"', "a quote inside an unquoted field");
                f[k++] = *s++;
            }
        }
        f[k] = 0;
        n++;
        if (*s == ',') { s++; continue; }
        if (*s == '\n') s++;
        break;
    }
    *p = s;
    return n;
}

/* Every text field through one rule: names with commas, quotes and line breaks read back as
 * written, and every record has the header's field count. */
Test(eval_csv, rfc4180_round_trip) {
    char d[256];
    sd_test_tmpdir(d, sizeof d);
    const char *names[] = {"plain", "a,b", "say \"hi\"", "two\nlines", "\"", ",\"\n", "a|b"};
    int n = (int)(sizeof names / sizeof *names);
    sd_results r = {0};
    for (int i = 0; i < n; i++) {
        sd_result_row row = {0};
        snprintf(row.model, sizeof row.model, "%s", names[i]);
        strcpy(row.protocol, "full");
        strcpy(row.part, "test");
        strcpy(row.split, "loo");
        row.m.n_users = 10 + i;
        row.users_total = 100;
        sd_results_put(&r, &row);
    }
    sd_err err = {0};
    cr_assert_eq(sd_results_write(&r, d, &err), 0, "%s", err.msg);
    char *path = sd_path_join(d, "eval.csv"), *text = slurp(path);
    const char *p = text;
    static char f[64][128];
    int nh = csv_record(&p, f, 64);
    cr_assert_str_eq(f[0], "model");
    int c_users = -1, c_split = -1;
    for (int i = 0; i < nh; i++) {
        if (!strcmp(f[i], "n_users")) c_users = i;
        if (!strcmp(f[i], "split")) c_split = i;
    }
    cr_assert(c_users > 0 && c_split > 0);
    for (int i = 0; i < n; i++) {
        cr_assert(*p, "row %d missing", i);
        cr_assert_eq(csv_record(&p, f, 64), nh, "row %d: field count", i);
        cr_assert_str_eq(f[0], names[i], "row %d", i);
        cr_assert_str_eq(f[1], "full");
        cr_assert_eq(atoi(f[c_users]), 10 + i);
        cr_assert_str_eq(f[c_split], "loo");
    }
    cr_assert_eq(*p, 0, "trailing text: %s", p);
    /* the markdown table keeps its columns: one line per row, '|' escaped */
    char *md = NULL;
    size_t mdn = 0;
    FILE *mf = open_memstream(&md, &mdn);
    cr_assert(mf);
    sd_results_print_markdown(&r, mf);
    fclose(mf);
    int lines = 0, bars = -1;
    for (char *line = md, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        cr_assert(nl);
        int k = 0;
        for (char *q = line; q < nl; q++) k += *q == '|' && (q == line || q[-1] != '\\');
        if (bars < 0) bars = k;
        cr_assert_eq(k, bars, "line %d: %.*s", lines, (int)(nl - line), line);
        lines++;
    }
    cr_assert_eq(lines, 2 + n, "%s", md);
    free(md);
    /* and eval.json keeps them too */
    sd_results back = {0};
    cr_assert_eq(sd_results_load(&back, d, &err), 0, "%s", err.msg);
    cr_assert_eq(back.n, n);
    for (int i = 0; i < n; i++) cr_assert_str_eq(back.rows[i].model, names[i]);
    sd_results_free(&back);
    sd_results_free(&r);
    free(text); free(path);
}

/* Folders from anywhere: kind from config.json, rows named after the folder (even one whose
 * name needs CSV quoting), the default folder given again counted once, and bad folders refused
 * with their names. */
Test(eval_models, model_folders, .timeout = 120) {
    char d[256], *out = NULL, cmd[2048];
    sd_test_tmpdir(d, sizeof d);
    char *w = sd_path_join(d, "work"), *small = sd_path_join(d, "runs/small"), *odd = sd_path_join(d, "run,\"1\"");
    ids_make_work(w, 120, 4);
    cr_assert_eq(semid(&out, "sasrec %s " TINY, w), 0, "%s", out);
    free(out);
    cr_assert_eq(semid(&out, "sasrec %s --out %s " TINY " --dim 8", w, small), 0, "%s", out);
    free(out);
    char names[1024];
    int rc = eval_models(names, sizeof names, "%s --model %s", w, small);
    cr_assert_eq(rc, 0, "%s", names);
    cr_assert_str_eq(names, "sasrec,small,popularity,popularity_unseen,random");
    /* WORK/sasrec given as a folder is the default model, once */
    rc = eval_models(names, sizeof names, "%s --models sasrec,random --model %s/sasrec/ --model %s/sasrec", w, w, w);
    cr_assert_eq(rc, 0, "%s", names);
    cr_assert_str_eq(names, "sasrec,random");

    /* a folder whose name needs quoting: the row reads back from eval.csv */
    snprintf(cmd, sizeof cmd, "cp -r %s '%s'", small, odd);
    cr_assert_eq(system(cmd), 0);
    rc = semid(&out, "eval %s --models random --model '%s'", w, odd);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
    free(out);
    char *csv_path = sd_path_join(w, "eval.csv"), *csv = slurp(csv_path);
    const char *p = csv;
    static char f[64][128];
    int nh = csv_record(&p, f, 64), found = 0;
    while (*p) {
        cr_assert_eq(csv_record(&p, f, 64), nh, "%s", csv);
        found += !strcmp(f[0], "run,\"1\"");
    }
    cr_assert_eq(found, 1, "%s", csv);
    free(csv); free(csv_path);

    /* two folders of one name */
    char *other = sd_path_join(d, "other/small");
    snprintf(cmd, sizeof cmd, "mkdir -p %s/other && cp -r %s %s", d, small, other);
    cr_assert_eq(system(cmd), 0);
    rc = semid(&out, "eval %s --model %s --model %s", w, small, other);
    cr_assert_eq(rc, 2, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "both be named 'small'") && strstr(out, other), "%s", out);
    free(out);
    /* not a model folder: no config.json; missing; a model_type eval does not know */
    rc = semid(&out, "eval %s --model %s/runs", w, d);
    cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "/runs: no config.json"), "%s", out);
    free(out);
    rc = semid(&out, "eval %s --model %s/nowhere", w, d);
    cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "/nowhere: not a model folder"), "%s", out);
    free(out);
    char *cfg = sd_path_join(other, "config.json");
    put(cfg, "{\"model_type\": \"bert4rec\"}");
    rc = semid(&out, "eval %s --model %s", w, other);
    cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
    cr_assert(strstr(out, cfg) && strstr(out, "\"model_type\" is \"bert4rec\""), "%s", out);
    free(out);
    cr_assert_eq(semid(&out, "eval --help"), 0);
    cr_assert(strstr(out, "--model DIR") && strstr(out, "--eval-users N") && strstr(out, "--sids PREFIX"), "%s", out);
    free(out);
    cr_assert_eq(semid(&out, "sasrec --help"), 0);
    cr_assert(strstr(out, "--sids PREFIX"), "%s", out);
    free(out);
    free(cfg); free(other); free(odd); free(small); free(w);
}

/* eval.json rows of an older semid (no split fields) still load; a bad count is refused, named. */
Test(eval_results, older_rows_and_bad_counts) {
    const char *old_row = "[{\"model\": \"m\", \"protocol\": \"full\", \"part\": \"test\", \"exclude_history\": true, "
                          "\"seed\": \"42\", \"n_users\": 7, \"hit@5\": 0, \"hit@10\": 0, \"hit@20\": 0, \"ndcg@5\": 0, "
                          "\"ndcg@10\": 0, \"ndcg@20\": 0, \"mrr\": 0.5, \"mean_rank\": 2, \"median_rank\": 2%s}]";
    char text[1024];
    sd_results r = {0};
    sd_err err = {0};
    snprintf(text, sizeof text, old_row, "");
    cr_assert_eq(sd_results_parse_json(&r, text, "eval.json", &err), 0, "%s", err.msg);
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.rows[0].users_total, 7, "an older row ranked all its users");
    cr_assert_eq(r.rows[0].eval_users, 0);
    cr_assert_str_eq(r.rows[0].split, "");
    sd_results_free(&r);
    const char *bad[] = {", \"eval_users\": -1", ", \"min_eval_len\": 2.5", ", \"users_total\": 1e300",
                         ", \"split\": 3"};
    const char *field[] = {"\"eval_users\"", "\"min_eval_len\"", "\"users_total\"", "\"split\""};
    for (int i = 0; i < 4; i++) {
        snprintf(text, sizeof text, old_row, bad[i]);
        cr_assert_neq(sd_results_parse_json(&r, text, "eval.json", &err), 0, "%s", bad[i]);
        cr_assert(strstr(err.msg, "eval.json: row 0") && strstr(err.msg, field[i]), "%s", err.msg);
        sd_results_free(&r);
    }
}

/* A run into --out DIR keeps its checkpoint beside DIR (DIR.ckpt.safetensors), not WORK's: two runs
 * into two folders never share one, and --resume with that --out continues it. */
Test(eval_models, out_folder_has_its_own_checkpoint, .timeout = 120) {
    char d[256], *out = NULL;
    sd_test_tmpdir(d, sizeof d);
    char *w = sd_path_join(d, "work"), *a = sd_path_join(d, "runs/a"), *ck = sd_path_join(d, "runs/a.ckpt.safetensors");
    char *wck = sd_path_join(w, "sasrec.ckpt.safetensors");
    ids_make_work(w, 120, 4);
    const char *opts = "--epochs 2 --eval-every 1 --dim 8 --maxlen 6";
    cr_assert_eq(semid(&out, "sasrec %s --out %s/ %s --stop-after 1", w, a, opts), 0, "%s", out);
    free(out);
    cr_assert(sd_exists(ck), "no %s", ck);
    cr_assert(!sd_exists(wck), "%s written by a run into %s", wck, a);
    cr_assert(!sd_exists(a), "an interrupted run wrote the model");
    cr_assert_eq(semid(&out, "sasrec %s --out %s %s --resume", w, a, opts), 0, "%s", out);
    free(out);
    cr_assert(sd_exists(a));
    char names[256];
    int rc = eval_models(names, sizeof names, "%s --models random --model %s", w, a);
    cr_assert_eq(rc, 0, "%s", names);
    cr_assert_str_eq(names, "a,random");
    free(wck); free(ck); free(a); free(w);
}
