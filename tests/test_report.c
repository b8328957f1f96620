#define _GNU_SOURCE
/* semid report: the page's sections, its numbers against the files they come from, that it is
 * self-contained and escaped, how missing and malformed files show, and what it may overwrite. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/file.h"
#include "serve/html_buf.h"
#include "serve/report.h"
#include "serve/svg_chart.h"
#include "test_util.h"

static char *slurp(const char *path) {
    char *d = NULL;
    size_t n = 0;
    sd_err e = {0};
    return sd_read_file(path, &d, &n, &e) ? NULL : d;
}

static void spit(const char *dir, const char *name, const char *text) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert(f, "cannot write %s", p);
    fputs(text, f);
    fclose(f);
}

static cJSON *json_file(const char *dir, const char *name) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    char *t = slurp(p);
    cr_assert(t, "%s missing", p);
    cJSON *j = cJSON_Parse(t);
    free(t);
    cr_assert(j, "%s does not parse", p);
    return j;
}

/* Nothing in the page is fetched: no script, no external source, link or style import. */
static void assert_self_contained(const char *html) {
    const char *bad[] = {"<script", "src=", "<link", "@import", "url(", "href=\"http", "href='http", "href=\"//",
                         "href='//", "<iframe", "<img", "<object", "<embed"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert(!strcasestr(html, bad[i]), "the page holds %s", bad[i]);
    cr_assert(!strcasestr(html, "javascript:"), "the page holds a javascript: link");
    cr_assert(strstr(html, "<!DOCTYPE html>") == html, "a page starts with its doctype");
    cr_assert(strstr(html, "</html>\n"), "the page is complete");
}

/* The table row of the page beginning with these cells (up to its </tr>), malloc'd, or NULL. */
static char *row_of(const char *html, const char *cells) {
    const char *r = strstr(html, cells);
    if (!r) return NULL;
    const char *e = strstr(r, "</tr>");
    cr_assert(e);
    return strndup(r, (size_t)(e - r));
}

static void assert_cell(const char *row, const char *fmt, double v, const char *what) {
    char want[64];
    snprintf(want, sizeof want, ">");
    snprintf(want + 1, sizeof want - 1, fmt, v);
    strcat(want, "<");
    cr_assert(strstr(row, want), "%s: %s not in the row %s", what, want, row);
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    cr_assert(cJSON_IsNumber(v), "%s is not a number", key);
    return v->valuedouble;
}

/* ---- on the work directory of `semid demo --quick` (which writes the report as its last stage) ---- */

static void check_eval(const char *w, const char *html) {
    cJSON *rows = json_file(w, "eval.json"), *r;
    int n = 0;
    cJSON_ArrayForEach(r, rows) {
        char cells[512];
        const char *model = cJSON_GetObjectItem(r, "model")->valuestring;
        snprintf(cells, sizeof cells, ">%s</td><td>%s</td><td>%s</td><td>%s</td><td class=\"n\">%.0f</td>", model,
                 cJSON_GetObjectItem(r, "protocol")->valuestring, cJSON_GetObjectItem(r, "part")->valuestring,
                 cJSON_IsTrue(cJSON_GetObjectItem(r, "exclude_history")) ? "excluded" : "kept", num(r, "n_users"));
        char *row = row_of(html, cells);
        cr_assert(row, "no row %s in the evaluation table", cells);
        assert_cell(row, "%.4f", num(r, "ndcg@10"), model);
        assert_cell(row, "%.4f", num(r, "hit@10"), model);
        assert_cell(row, "%.4f", num(r, "ndcg@20"), model);
        assert_cell(row, "%.4f", num(r, "mrr"), model);
        assert_cell(row, "%.1f", num(r, "mean_rank"), model);
        free(row);
        n++;
    }
    cr_assert_gt(n, 2, "the demo evaluates several models");
    cr_assert(strstr(html, ">popularity</td>"), "the popularity floor is in the table");
    cJSON_Delete(rows);
}

static void check_ids(const char *w, const char *html, const char *prefix) {
    char name[128];
    snprintf(name, sizeof name, "%sids_report.json", prefix);
    cJSON *j = json_file(w, name), *l;
    char want[256];
    snprintf(want, sizeof want, "<th>distinct prefixes</th><td class=\"n\">%.0f</td>", num(j, "distinct_prefixes"));
    cr_assert(strstr(html, want), "%s: %s", name, want);
    snprintf(want, sizeof want, "<th>collision groups</th><td class=\"n\">%.0f</td>", num(j, "collision_groups"));
    cr_assert(strstr(html, want), "%s: %s", name, want);
    snprintf(want, sizeof want, "%.0f group%s of items that share", num(j, "collision_groups"),
             num(j, "collision_groups") == 1 ? "" : "s");
    cr_assert(strstr(html, want), "the groups counted from %ssids.tsv are the report's: %s", prefix, want);
    cJSON_ArrayForEach(l, cJSON_GetObjectItem(j, "per_level")) {
        snprintf(want, sizeof want, "<td class=\"n\">%.0f</td><td class=\"n\">%.1f</td><td class=\"n\">%.0f</td>",
                 num(l, "codes_used"), num(l, "perplexity"), num(l, "largest_cluster"));
        cr_assert(strstr(html, want), "%s level %.0f: %s", name, num(l, "level"), want);
        /* the chart's title counts the used codes from sids.tsv: the same number */
        snprintf(want, sizeof want, "level %.0f%s: %.0f of %.0f codes used", num(l, "level"),
                 cJSON_IsTrue(cJSON_GetObjectItem(l, "uniqueness_code")) ? " (uniqueness)" : "", num(l, "codes_used"),
                 num(j, "codes"));
        cr_assert(strstr(html, want), "%s: %s", name, want);
    }
    cJSON_Delete(j);
}

static void check_llm(const char *w, const char *html) {
    cJSON *j = json_file(w, "eval_llm.json"), *s;
    const cJSON *v = cJSON_GetObjectItem(j, "valid_items");
    char want[256];
    snprintf(want, sizeof want, "<th>constrained by the SID trie</th><td class=\"n\">%.1f%%</td>", 100 * num(v, "constrained"));
    cr_assert(strstr(html, want), "%s", want);
    snprintf(want, sizeof want, "<th>unconstrained</th><td class=\"n\">%.1f%%</td>", 100 * num(v, "unconstrained"));
    cr_assert(strstr(html, want), "%s", want);
    int n = 0;
    cJSON_ArrayForEach(s, cJSON_GetObjectItem(j, "steering")) {
        char cells[256];
        snprintf(cells, sizeof cells, "<td>%s</td><td>%s</td><td class=\"n\">%.0f</td>",
                 cJSON_GetObjectItem(s, "prompt")->valuestring, cJSON_GetObjectItem(s, "model")->valuestring,
                 num(s, "users"));
        char *row = row_of(html, cells);
        cr_assert(row, "no steering row %s", cells);
        const char *keys[] = {"platform", "genre", "both"};
        for (int k = 0; k < 3; k++) {
            const cJSON *x = cJSON_GetObjectItem(s, keys[k]);
            if (cJSON_IsNull(x)) cr_assert(strstr(row, "&ndash;"), "a share not asked shows as a dash: %s", row);
            else assert_cell(row, "%.3f", x->valuedouble, keys[k]);
        }
        free(row);
        n++;
    }
    cr_assert_gt(n, 0, "the demo's LLM is steered");
    cJSON_Delete(j);
}

/* every row of a CSV log: column col's values, formatted, appear in the page in order */
static void check_log(const char *path, const char *col, const char *fmt, const char *html) {
    char *t = slurp(path);
    cr_assert(t, "%s missing", path);
    char *save = NULL, *line = strtok_r(t, "\n", &save);
    int c = -1, i = 0;
    for (char *h = line, *f; (f = strsep(&h, ",")); i++)
        if (!strcmp(f, col)) c = i;
    cr_assert_geq(c, 0, "%s has no column %s", path, col);
    const char *at = html;
    int seen = 0;
    while ((line = strtok_r(NULL, "\n", &save))) {
        char *f = NULL, *h = line;
        for (int k = 0; k <= c; k++) f = strsep(&h, ",");
        if (!f || !*f) continue;
        char want[64];
        snprintf(want, sizeof want, ">");
        snprintf(want + 1, sizeof want - 1, fmt, strtod(f, NULL));
        strcat(want, "</td>");
        const char *p = strstr(at, want);
        cr_assert(p, "%s: %s %s not in the page (in order)", path, col, want);
        at = p + 1;
        seen++;
    }
    cr_assert_gt(seen, 0, "%s: no %s values", path, col);
    free(t);
}

Test(report, demo_work_directory, .timeout = 900) {
    char d[256], w[300], p[400];
    sd_test_tmpdir(d, sizeof d);
    snprintf(w, sizeof w, "%s/w", d);
    char *out = NULL;
    int rc = sd_test_semid(&out, "demo %s --quick --quiet --threads 2", w);
    cr_assert_eq(rc, 0, "demo failed:\n%s", out);
    cr_assert(strstr(out, "| HTML report | semid report | ok |"), "the demo's last stage writes the report:\n%s", out);
    free(out);
    snprintf(p, sizeof p, "%s/report.html", w);
    char *html = slurp(p);
    cr_assert(html, "the demo writes WORK/report.html");
    assert_self_contained(html);
    const char *ids[] = {"id=\"dataset\"", "id=\"ids\"", "id=\"models\"", "id=\"evaluation\"", "id=\"llm\""};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) cr_assert(strstr(html, ids[i]), "no section %s", ids[i]);
    cr_assert(!strstr(html, "class=\"warn\">Could not read"), "nothing in the demo's WORK is malformed");
    cr_assert(strstr(html, "<svg"), "the page has charts");

    cJSON *meta = json_file(w, "meta.json");
    char want[256];
    snprintf(want, sizeof want, "<th>items</th><td class=\"n\">%.0f</td>", num(meta, "items"));
    cr_assert(strstr(html, want), "%s", want);
    snprintf(want, sizeof want, "<th>users</th><td class=\"n\">%.0f</td>", num(meta, "users"));
    cr_assert(strstr(html, want), "%s", want);
    snprintf(want, sizeof want, "<th>interactions</th><td class=\"n\">%.0f</td>", num(meta, "interactions"));
    cr_assert(strstr(html, want), "%s", want);
    cJSON_Delete(meta);
    /* the figures of `semid stats --json`, from the same code, are the page's */
    rc = sd_test_semid(&out, "stats %s --json --quiet 2>/dev/null", w);
    cr_assert_eq(rc, 0, "%s", out);
    cJSON *st = cJSON_Parse(out);
    cr_assert(st, "%s", out);
    free(out);
    const cJSON *sl = cJSON_GetObjectItem(st, "seq_len"), *sp = cJSON_GetObjectItem(st, "split");
    snprintf(want, sizeof want, "<th>sequence length: mean</th><td class=\"n\">%.2f</td>", num(sl, "mean"));
    cr_assert(strstr(html, want), "%s", want);
    snprintf(want, sizeof want, "<th>sequence length: min / max</th><td class=\"n\">%.0f / %.0f</td>", num(sl, "min"),
             num(sl, "max"));
    cr_assert(strstr(html, want), "%s", want);
    snprintf(want, sizeof want, "<th>training interactions</th><td class=\"n\">%.0f</td>", num(sp, "train_interactions"));
    cr_assert(strstr(html, want), "%s", want);
    cJSON_Delete(st);

    check_eval(w, html);
    check_ids(w, html, "");
    check_ids(w, html, "rqvae_");
    check_llm(w, html);
    /* training curves: SASRec's validations and the LM's validation losses, as logged */
    cr_assert(strstr(html, "<h3>sasrec</h3>") && strstr(html, "<h3>sasrec_sid</h3>"), "both SASRec models");
    cr_assert(strstr(html, "sasrec: validation") && strstr(html, "lm: loss"), "their curves");
    snprintf(p, sizeof p, "%s/sasrec/train_log.csv", w);
    check_log(p, "valid_ndcg@10", "%.4f", strstr(html, "<h3>sasrec</h3>"));
    snprintf(p, sizeof p, "%s/sasrec_sid/train_log.csv", w);
    check_log(p, "valid_ndcg@10", "%.4f", strstr(html, "<h3>sasrec_sid</h3>"));
    snprintf(p, sizeof p, "%s/lm/train_log.csv", w);
    check_log(p, "valid_loss", "%.4f", strstr(html, "lm (language model)"));
    cJSON *sc = json_file(w, "sasrec/config.json");
    snprintf(want, sizeof want, "<th>validation NDCG@10 (best)</th><td class=\"n\">%.4f</td>", num(sc, "valid_ndcg@10"));
    cr_assert(strstr(strstr(html, "<h3>sasrec</h3>"), want), "%s", want);
    cJSON_Delete(sc);

    /* the same WORK gives the same bytes; re-running replaces semid's own page */
    rc = sd_test_semid(&out, "report %s --out - --quiet", w);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(out, html, "the page is a function of WORK's files");
    free(out);
    rc = sd_test_semid(&out, "report %s", w);
    cr_assert_eq(rc, 0, "a report semid wrote is replaced: %s", out);
    free(out);
    free(html);
}

/* ---- hand-made work directories ---- */

static const char ITEMS[] =
    "{\"id\": \"a\", \"title\": \"Plain A\", \"genre\": \"rpg\"}\n"
    "{\"id\": \"b\", \"title\": \"Plain B\", \"genre\": \"rpg\"}\n"
    "{\"id\": \"c\", \"title\": \"Plain C\", \"genre\": \"racing\"}\n"
    "{\"id\": \"d\", \"title\": \"Plain D\"}\n"
    "{\"id\": \"e\", \"title\": \"Plain E\"}\n";

/* a small generic catalogue: 5 items, 6 users of 3-5 interactions; item a most popular */
static void small_work(const char *d, char *w, size_t n) {
    spit(d, "items.jsonl", ITEMS);
    spit(d, "inter.csv",
         "user,item,timestamp\n"
         "u1,a,1\nu1,b,2\nu1,c,3\nu1,d,4\n"
         "u2,a,1\nu2,c,2\nu2,e,3\n"
         "u3,b,1\nu3,a,2\nu3,d,3\nu3,e,4\nu3,c,5\n"
         "u4,a,1\nu4,e,2\nu4,b,3\n"
         "u5,c,1\nu5,a,2\nu5,b,3\n"
         "u6,d,1\nu6,a,2\nu6,c,3\nu6,e,4\n");
    snprintf(w, n, "%s/w", d);
    char *out = NULL;
    int rc = sd_test_semid(&out, "prep --format generic --items %s/items.jsonl --interactions %s/inter.csv -o %s --quiet",
                           d, d, w);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    /* prep strips markup from titles; a WORK written by hand (or another tool) need not: item a's
     * title in WORK/items.jsonl becomes one that tries to open a script */
    char p[400];
    snprintf(p, sizeof p, "%s/items.jsonl", w);
    char *t = slurp(p), *at = strstr(t, "\"Plain A\"");
    cr_assert(at, "%s", t);
    FILE *f = fopen(p, "w");
    fprintf(f, "%.*s\"<script>alert(\\\"x\\\")</script> & Co's game\"%s", (int)(at - t), t, at + strlen("\"Plain A\""));
    fclose(f);
    free(t);
}

static char *report_of(const char *w, int want_rc, char **log) {
    char *out = NULL;
    int rc = sd_test_semid(&out, "report %s", w);
    cr_assert_eq(rc, want_rc, "report exit %d, wanted %d:\n%s", rc, want_rc, out);
    if (log) *log = out;
    else free(out);
    char p[600];
    snprintf(p, sizeof p, "%s/report.html", w);
    return slurp(p);
}

Test(report, small_work_escaped_and_missing_files_listed) {
    char d[256], w[300];
    sd_test_tmpdir(d, sizeof d);
    small_work(d, w, sizeof w);
    char *html = report_of(w, 0, NULL);
    cr_assert(html);
    assert_self_contained(html); /* the title's <script> included */
    cr_assert(strstr(html, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co&#39;s game"),
              "the title appears escaped");
    cr_assert(strstr(html, "<th>items</th><td class=\"n\">5</td>") && strstr(html, "<th>users</th><td class=\"n\">6</td>") &&
              strstr(html, "<th>interactions</th><td class=\"n\">22</td>"), "the hand-made sizes");
    cr_assert(strstr(html, "<tr><td class=\"n\">6</td><td>a</td>"), "item a, in all 6 histories, is the most popular");
    cr_assert(strstr(html, "<td>genre</td><td class=\"n\">3</td><td class=\"n\">60.0%</td>"), "genre on 3 of 5 items");
    cr_assert(strstr(html, "id=\"dataset\""));
    const char *absent[] = {"id=\"ids\"", "id=\"models\"", "id=\"evaluation\"", "id=\"llm\""};
    for (size_t i = 0; i < 4; i++) cr_assert(!strstr(html, absent[i]), "%s without its files", absent[i]);
    cr_assert(strstr(html, "<a href=\"#dataset\">") && !strstr(html, "<a href=\"#ids\">") &&
              strstr(html, "<a href=\"#missing\">"), "the links name the sections there are");
    cr_assert(strstr(html, "Not in this work directory"), "what is missing is said");
    const char *listed[] = {"<code>eval.json</code>", "<code>sids.tsv, ids_report.json</code>", "<code>lm/</code>",
                            "<code>eval_llm.json</code>"};
    for (size_t i = 0; i < 4; i++) cr_assert(strstr(html, listed[i]), "%s listed as missing", listed[i]);
    free(html);
}

/* eval.json rows as eval writes them, with a model name that tries to break out of the table */
static const char EVAL_ROW[] =
    "{\"model\": \"%s\", \"protocol\": \"full\", \"part\": \"test\", \"exclude_history\": true, \"seed\": \"42\", "
    "\"n_users\": 6, \"hit@5\": 0.5, \"hit@10\": %g, \"hit@20\": 1, \"ndcg@5\": 0.25, \"ndcg@10\": %g, \"ndcg@20\": 0.5, "
    "\"mrr\": 0.3, \"mean_rank\": 2.5, \"median_rank\": 2, \"split\": \"loo\", \"min_eval_len\": 0, \"eval_users\": 0, "
    "\"users_total\": 6}";

Test(report, eval_table_beside_the_popularity_floor) {
    char d[256], w[300], a[600], b[600], all[1400];
    sd_test_tmpdir(d, sizeof d);
    small_work(d, w, sizeof w);
    snprintf(a, sizeof a, EVAL_ROW, "popularity", 0.5, 0.2);
    snprintf(b, sizeof b, EVAL_ROW, "<b>mine</b> & \\\"co\\\"", 0.75, 0.3);
    snprintf(all, sizeof all, "[%s, %s]\n", a, b);
    spit(w, "eval.json", all);
    char *html = report_of(w, 0, NULL);
    cr_assert(html);
    assert_self_contained(html);
    cr_assert(strstr(html, "id=\"evaluation\""));
    char *row = row_of(html, ">&lt;b&gt;mine&lt;/b&gt; &amp; &quot;co&quot;</td><td>full</td>");
    cr_assert(row, "the model's name is escaped in its row");
    cr_assert(strstr(row, ">0.3000<") && strstr(row, ">0.7500<"), "its NDCG@10 and Hit@10: %s", row);
    cr_assert(strstr(row, ">1.50&times;<"), "NDCG@10 over the floor's 0.2: %s", row);
    free(row);
    cr_assert(!strstr(html, "<b>mine"), "no markup from the data");
    cr_assert(strstr(html, "class=\"floor\"><td>popularity</td>"), "the floor's row is marked");
    free(html);
}

Test(report, malformed_files_noted_rest_rendered) {
    char d[256], w[300], lm[400], p[400];
    sd_test_tmpdir(d, sizeof d);
    small_work(d, w, sizeof w);
    spit(w, "eval.json", "[{\"model\": \"x\", \"protocol\": \"full\"}]\n");
    spit(w, "ids_report.json", "{\"method\": \"rqkmeans\", \"items\": \"many\"}\n");
    snprintf(lm, sizeof lm, "%s/lm", w);
    cr_assert_eq(mkdir(lm, 0755), 0);
    spit(lm, "finetune.json", "{\"size\": \"tiny\"}\n");
    spit(lm, "train_log.csv", "step,lr,loss,valid_loss,tokens_per_s\n1,0.1,8.5,,100\n2,0.1,abc,,100\n");
    char *log = NULL;
    char *html = report_of(w, 0, &log);
    cr_assert(html);
    assert_self_contained(html);
    /* each problem in its section, naming the file and the field, and on stderr */
    const char *needs[] = {"eval.json", "ids_report.json: &quot;items&quot;", "train_log.csv:3: column &quot;loss&quot;"};
    for (size_t i = 0; i < 3; i++) {
        const char *at = strstr(html, needs[i]);
        cr_assert(at, "no note with %s", needs[i]);
    }
    cr_assert(strstr(log, "warning") || strstr(log, "report:"), "problems are reported: %s", log);
    cr_assert(strstr(log, "ids_report.json") && strstr(log, "train_log.csv:3"), "%s", log);
    int warns = 0;
    for (const char *s = html; (s = strstr(s, "class=\"warn\">Could not read")); s++) warns++;
    cr_assert_eq(warns, 3, "three malformed files, three notes (%d)", warns);
    /* what was readable is still there */
    cr_assert(strstr(html, "<th>items</th><td class=\"n\">5</td>") && strstr(html, "<th>size (from scratch)</th>"));
    free(html);
    free(log);
    /* --strict: an error, nothing written */
    snprintf(p, sizeof p, "%s/report.html", w);
    cr_assert_eq(unlink(p), 0);
    char *out = NULL;
    int rc = sd_test_semid(&out, "report %s --strict", w);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "3 malformed files"), "%s", out);
    cr_assert(!sd_exists(p), "--strict writes nothing");
    free(out);
}

Test(report, outputs_it_may_and_may_not_replace) {
    char d[256], w[300], p[400], q[400], lnk[400];
    sd_test_tmpdir(d, sizeof d);
    small_work(d, w, sizeof w);
    char *out = NULL;
    /* a file of the user's at the default path stays */
    snprintf(p, sizeof p, "%s/report.html", w);
    spit(w, "report.html", "my own notes\n");
    int rc = sd_test_semid(&out, "report %s", w);
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "report.html") && strstr(out, "not a report semid wrote"), "%s", out);
    free(out);
    char *t = slurp(p);
    cr_assert_str_eq(t, "my own notes\n");
    free(t);
    /* --force replaces that regular file */
    rc = sd_test_semid(&out, "report %s --force", w);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    t = slurp(p);
    cr_assert(strstr(t, SD_REPORT_GENERATOR));
    free(t);
    /* --out FILE: written there, and only there */
    cr_assert_eq(unlink(p), 0);
    snprintf(q, sizeof q, "%s/elsewhere.html", d);
    rc = sd_test_semid(&out, "report %s --out %s", w, q);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    cr_assert(sd_exists(q) && !sd_exists(p));
    /* never a directory or a link, even with --force */
    rc = sd_test_semid(&out, "report %s --out %s --force", w, d);
    cr_assert_eq(rc, 2, "a directory is refused: %s", out);
    free(out);
    spit(d, "target.txt", "keep\n");
    snprintf(lnk, sizeof lnk, "%s/link.html", d);
    snprintf(q, sizeof q, "%s/target.txt", d);
    cr_assert_eq(symlink(q, lnk), 0);
    rc = sd_test_semid(&out, "report %s --out %s --force", w, lnk);
    cr_assert_eq(rc, 2, "a link is refused: %s", out);
    free(out);
    t = slurp(q);
    cr_assert_str_eq(t, "keep\n", "the link's target is untouched");
    free(t);
}

Test(report, empty_or_missing_work_fails_writing_nothing) {
    char d[256], e[300], p[400], q[400];
    sd_test_tmpdir(d, sizeof d);
    char *out = NULL;
    snprintf(e, sizeof e, "%s/nope", d);
    int rc = sd_test_semid(&out, "report %s", e);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "nope") && strstr(out, "no such directory"), "%s", out);
    cr_assert(!sd_exists(e), "nothing is created for a missing WORK");
    free(out);
    snprintf(e, sizeof e, "%s/empty", d);
    cr_assert_eq(mkdir(e, 0755), 0);
    snprintf(q, sizeof q, "%s/out.html", d);
    rc = sd_test_semid(&out, "report %s --out %s", e, q);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "not a semid work directory"), "%s", out);
    free(out);
    snprintf(p, sizeof p, "%s/report.html", e);
    cr_assert(!sd_exists(p) && !sd_exists(q), "nothing written");
    rc = sd_test_semid(&out, "report %s", e);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(!sd_exists(p));
    free(out);
    rc = sd_test_semid(&out, "report");
    cr_assert_eq(rc, 2, "WORK is required: %s", out);
    free(out);
    rc = sd_test_semid(&out, "report --help");
    cr_assert_eq(rc, 0);
    cr_assert(strstr(out, "--out") && strstr(out, "--force") && strstr(out, "--strict"), "%s", out);
    free(out);
}

/* ---- the library pieces ---- */

Test(report, html_escaping) {
    sd_html h = {0};
    sd_html_text(&h, "<a href=\"x\">&'\x01</a>\ttab");
    char *s = sd_html_take(&h, NULL);
    cr_assert_str_eq(s, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;\ttab");
    free(s);
}

Test(report, svg_charts_escape_and_skip_nan) {
    double x[4] = {1, 2, 3, 4}, y[4] = {0.5, NAN, 0.25, 0.125};
    sd_svg_series s = {.name = "<loss>", .x = x, .y = y, .n = 4};
    sd_svg_chart c = {.title = "a & b", .xlabel = "step", .ylabel = "y"};
    sd_html h = {0};
    sd_svg_line_chart(&h, &c, &s, 1);
    double v[3] = {3, NAN, 1};
    const char *lab[3] = {"<x>", "y", "z"};
    sd_svg_bar_chart(&h, &c, v, lab, 3, NULL);
    sd_svg_hbar_chart(&h, &c, v, lab, 3, NULL, "%.2f");
    char *t = sd_html_take(&h, NULL);
    cr_assert(strstr(t, "a &amp; b") && strstr(t, "&lt;loss&gt;") && strstr(t, "&lt;x&gt;"));
    cr_assert(!strstr(t, "<loss>") && !strstr(t, "<x>") && !strstr(t, "nan"), "%s", t);
    int lines = 0;
    for (const char *p = t; (p = strstr(p, "<polyline fill=\"none\" stroke=\"#")); p++) lines++;
    cr_assert_eq(lines, 2, "the NaN breaks the line in two (%d)", lines);
    cr_assert(strstr(t, ">3.00<") && strstr(t, ">1.00<"), "the bars' values as asked");
    free(t);
    /* a long label is cut at a character (not inside one), the whole of it kept as the tooltip */
    const char *longl[1] = {"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9abcdefghijklmnopqrstuvwxyz"};
    double one = 1;
    sd_svg_hbar_chart(&h, &c, &one, longl, 1, NULL, "%.1f");
    t = sd_html_take(&h, NULL);
    char want[200];
    snprintf(want, sizeof want, "<title>%s</title>%.*s\u2026</text>", longl[0], 10 * 2 + 15, longl[0]);
    cr_assert(strstr(t, want), "%s", t);
    free(t);
    double step, first = sd_svg_ticks(0.013, 0.087, 5, &step);
    cr_assert_float_eq(step, 0.01, 1e-12);
    cr_assert_float_eq(first, 0.02, 1e-12);
    first = sd_svg_ticks(0.013, 0.087, 4, &step);
    cr_assert_float_eq(step, 0.02, 1e-12);
}

Test(report, library_builds_from_eval_json_alone) {
    char d[256], a[600], all[800];
    sd_test_tmpdir(d, sizeof d);
    snprintf(a, sizeof a, EVAL_ROW, "popularity", 0.5, 0.2);
    snprintf(all, sizeof all, "[%s]\n", a);
    spit(d, "eval.json", all);
    sd_report r;
    sd_err e = {0};
    cr_assert_eq(sd_report_build(d, &r, &e), 0, "%s", e.msg);
    cr_assert_eq(r.sections, 1);
    cr_assert_eq(r.n_problems, 0);
    cr_assert_eq(strlen(r.html), r.len);
    cr_assert(strstr(r.html, "id=\"evaluation\"") && !strstr(r.html, "id=\"dataset\""));
    sd_report_free(&r);
    char p[400];
    snprintf(p, sizeof p, "%s/report.html", d);
    cr_assert(!sd_exists(p), "the library writes nothing");
}
