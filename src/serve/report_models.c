/* The training section of the report: every model folder in WORK (WORK/sasrec, WORK/sasrec_sid,
 * folders of `semid sasrec --out WORK/NAME`, WORK/lm and other fine-tuned folders), with what
 * its config.json / finetune.json record and its train_log.csv as curves. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/mem.h"
#include "serve/report_internal.h"
#include "serve/svg_chart.h"
#include "io/json_util.h"

typedef enum { M_SASREC, M_LM } model_kind;
typedef struct model_dir { char *name; model_kind kind; } model_dir;

static int cmp_dir(const void *a, const void *b) { return strcmp(((const model_dir *)a)->name, ((const model_dir *)b)->name); }

/* a folder's kind from its files: config.json's model_type, or finetune.json for a fine-tune */
static int kind_of(const char *dir, const char *name, model_kind *k) {
    char *fj = sd_path_join(dir, "finetune.json"), *cj = sd_path_join(dir, "config.json");
    int found = 0;
    if (sd_exists(fj)) *k = M_LM, found = 1;
    else if (sd_exists(cj)) {
        cJSON *j = NULL;
        sd_err e = {0};
        if (!sd_json_read_file(cj, &j, &e) && cJSON_IsObject(j)) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "model_type");
            if (cJSON_IsString(t) && (!strcmp(t->valuestring, "sasrec") || !strcmp(t->valuestring, "sasrec_sid")))
                *k = M_SASREC, found = 1;
        } else if (strstr(name, "sasrec")) *k = M_SASREC, found = 1; /* malformed: shown with its error */
        cJSON_Delete(j);
    }
    free(fj), free(cj);
    return found;
}

static int find_models(const char *work, model_dir **out) {
    DIR *d = opendir(work);
    model_dir *m = NULL;
    int n = 0;
    if (!d) { *out = NULL; return 0; }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strstr(e->d_name, ".tmp.") || strstr(e->d_name, ".old.")) continue;
        char *p = sd_path_join(work, e->d_name);
        model_kind k;
        if (sd_is_dir(p) && kind_of(p, e->d_name, &k)) {
            m = sd_xrealloc(m, sizeof *m * (size_t)(n + 1));
            m[n++] = (model_dir){.name = sd_xstrdup(e->d_name), .kind = k};
        }
        free(p);
    }
    closedir(d);
    if (n) qsort(m, (size_t)n, sizeof *m, cmp_dir);
    *out = m;
    return n;
}

/* The figures under a chart, to read them exactly: every one up to TABLE_ROWS, else every k-th and the last. */
#define TABLE_ROWS 60
static int table_every(int n) { return n > TABLE_ROWS ? (n + TABLE_ROWS - 1) / TABLE_ROWS : 1; }
static void table_note(sd_html *h, int every) {
    if (every > 1) sd_html_printf(h, "<p class=\"sub\">Every %d%s row of the log, and the last.</p>\n", every,
                                  every % 10 == 1 && every % 100 != 11 ? "st" : every % 10 == 2 && every % 100 != 12 ? "nd"
                                  : every % 10 == 3 && every % 100 != 13 ? "rd" : "th");
}

/* ---- SASRec / SID-SASRec ---- */

static int sasrec_config(const cJSON *j, const char *path, sd_html *h, sd_err *e) {
    const char *type;
    int rc, best, run, dim = 0, blocks = 0, epochs = 0;
    double vn, vh;
    if ((rc = sd_json_get_string(j, "model_type", &type, path, e)) || (rc = sd_json_get_int(j, "best_epoch", &best, path, e)) ||
        (rc = sd_json_get_int(j, "epochs_run", &run, path, e)) || (rc = sd_json_get_double(j, "valid_ndcg@10", &vn, path, e)) ||
        (rc = sd_json_get_double(j, "valid_hit@10", &vh, path, e)) || (rc = sd_json_opt_int(j, "dim", &dim, 0, path, e)) ||
        (rc = sd_json_opt_int(j, "blocks", &blocks, 0, path, e)) || (rc = sd_json_opt_int(j, "epochs", &epochs, 0, path, e)))
        return rc;
    sd_html_raw(h, "<table class=\"kv\">\n");
    rp_kv_text(h, "model type", type);
    if (dim) rp_kv_num(h, "hidden size x blocks", "%d x %d", dim, blocks);
    rp_kv_num(h, "best epoch (kept) / epochs run", "%d / %d", best, run);
    rp_kv_num(h, "validation NDCG@10 (best)", "%.4f", vn);
    rp_kv_num(h, "validation HR@10 (best)", "%.4f", vh);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "test"), *p;
    cJSON_ArrayForEach(p, t) {
        char w[1100], key[160];
        snprintf(w, sizeof w, "%s: test.%s", path, p->string ? p->string : "?");
        double hit, nd, mrr;
        if ((rc = sd_json_get_double(p, "hit@10", &hit, w, e)) || (rc = sd_json_get_double(p, "ndcg@10", &nd, w, e)) ||
            (rc = sd_json_get_double(p, "mrr", &mrr, w, e)))
            return rc;
        snprintf(key, sizeof key, "test, %s: HR@10 / NDCG@10 / MRR", p->string ? p->string : "?");
        rp_kv_num(h, key, "%.4f / %.4f / %.4f", hit, nd, mrr);
    }
    sd_html_raw(h, "</table>\n");
    return 0;
}

static void sasrec_curves(rp_ctx *c, const char *dir, const char *name) {
    char *path = sd_path_join(dir, "train_log.csv");
    if (!sd_exists(path)) {
        sd_html_raw(c->h, "<p class=\"note\">No validation curve: this folder has no train_log.csv (semid sasrec "
                          "writes one beside the model; this one was trained by an older semid).</p>\n");
        free(path);
        return;
    }
    rp_csv t;
    sd_err e = {0};
    int rc = rp_csv_read(path, NULL, &t, &e);
    int ce = -1, cl = -1, cn = -1, ch = -1;
    if (!rc) {
        ce = rp_csv_col(&t, "epoch"), cl = rp_csv_col(&t, "loss"), cn = rp_csv_col(&t, "valid_ndcg@10"),
        ch = rp_csv_col(&t, "valid_hit@10");
        if (ce < 0 || cn < 0)
            rc = sd_errf(&e, SD_EFORMAT, "%s: column \"%s\" missing", path, ce < 0 ? "epoch" : "valid_ndcg@10");
    }
    if (rc) { /* t is empty after a read error, and holds the columns after a missing one */
        rp_problem(c, e.msg);
        rp_csv_free(&t);
        free(path);
        return;
    }
    if (!t.n_rows) sd_html_raw(c->h, "<p class=\"note\">train_log.csv holds no validations.</p>\n");
    else {
        double *x = sd_xmalloc(sizeof *x * (size_t)t.n_rows), *yn = sd_xmalloc(sizeof *yn * (size_t)t.n_rows),
               *yh = sd_xmalloc(sizeof *yh * (size_t)t.n_rows), *yl = sd_xmalloc(sizeof *yl * (size_t)t.n_rows);
        for (int i = 0; i < t.n_rows; i++) {
            const double *r = t.v + (size_t)i * (size_t)t.n_cols;
            x[i] = r[ce], yn[i] = r[cn], yh[i] = ch >= 0 ? r[ch] : NAN, yl[i] = cl >= 0 ? r[cl] : NAN;
        }
        char t1[200], t2[200];
        snprintf(t1, sizeof t1, "%s: validation", name);
        snprintf(t2, sizeof t2, "%s: training loss", name);
        sd_svg_series s[2] = {{.name = "NDCG@10", .x = x, .y = yn, .n = t.n_rows},
                              {.name = "HR@10", .x = x, .y = yh, .n = ch >= 0 ? t.n_rows : 0, .dashed = true}};
        sd_svg_chart a = {.title = t1, .xlabel = "epoch", .ylabel = "validation metric", .width = 560, .y_from_zero = true,
                           .x_integer = true};
        sd_html_raw(c->h, "<div class=\"charts\">\n");
        sd_svg_line_chart(c->h, &a, s, 2);
        if (cl >= 0) {
            sd_svg_series sl = {.name = "mean training loss of the epoch", .x = x, .y = yl, .n = t.n_rows};
            sd_svg_chart b = {.title = t2, .xlabel = "epoch", .ylabel = "loss", .width = 560, .x_integer = true};
            sd_svg_line_chart(c->h, &b, &sl, 1);
        }
        sd_html_raw(c->h, "</div>\n");
        /* the figures plotted, so they can be read exactly */
        sd_html_raw(c->h, "<table><tr><th class=\"n\">epoch</th><th class=\"n\">loss</th><th class=\"n\">valid NDCG@10"
                          "</th><th class=\"n\">valid HR@10</th></tr>\n");
        int every = table_every(t.n_rows);
        for (int i = 0; i < t.n_rows; i++)
            if (i % every == 0 || i == t.n_rows - 1)
                sd_html_printf(c->h, "<tr><td class=\"n\">%.0f</td><td class=\"n\">%.4f</td><td class=\"n\">%.4f</td>"
                                     "<td class=\"n\">%.4f</td></tr>\n", x[i], yl[i], yn[i], yh[i]);
        sd_html_raw(c->h, "</table>\n");
        table_note(c->h, every);
        free(x), free(yn), free(yh), free(yl);
    }
    rp_csv_free(&t);
    free(path);
}

static void sasrec_block(rp_ctx *c, const char *name) {
    char *dir = rp_path(c, name), *cfg = sd_path_join(dir, "config.json");
    sd_html_raw(c->h, "<h3>");
    sd_html_text(c->h, name);
    sd_html_raw(c->h, "</h3>\n");
    sd_err e = {0};
    cJSON *j = NULL;
    sd_html body = {0};
    int rc = sd_json_read_file(cfg, &j, &e);
    if (!rc && !cJSON_IsObject(j)) rc = sd_errf(&e, SD_EFORMAT, "%s: not a JSON object", cfg);
    if (!rc) rc = sasrec_config(j, cfg, &body, &e);
    if (rc) rp_problem(c, e.msg);
    else sd_html_raw(c->h, body.p ? body.p : "");
    sd_html_free(&body);
    cJSON_Delete(j);
    sasrec_curves(c, dir, name);
    free(cfg), free(dir);
}

/* ---- a fine-tuned language model ---- */

static int lm_summary(const cJSON *j, const char *path, sd_html *h, sd_err *e) {
    const char *base = NULL, *size = NULL;
    double params = 0, conv = 0, tokens = 0;
    int rc;
    if ((rc = sd_json_opt_string(j, "base", &base, "", path, e)) || (rc = sd_json_opt_string(j, "size", &size, "", path, e)) ||
        (rc = sd_json_opt_double(j, "params", &params, 0, path, e)) ||
        (rc = sd_json_opt_double(j, "train_conversations", &conv, 0, path, e)) ||
        (rc = sd_json_opt_double(j, "train_tokens", &tokens, 0, path, e)))
        return rc;
    sd_html_raw(h, "<table class=\"kv\">\n");
    if (base && *base) rp_kv_text(h, "base model", base);
    if (size && *size) rp_kv_text(h, "size (from scratch)", size);
    if (params) rp_kv_num(h, "parameters", "%.0f", params);
    if (conv) rp_kv_num(h, "training conversations", "%.0f", conv);
    if (tokens) rp_kv_num(h, "training tokens", "%.0f", tokens);
    const cJSON *st;
    cJSON_ArrayForEach(st, j) { /* one object per stage: "train", or "stage1" / "stage2" with --base */
        if (!cJSON_IsObject(st) || !st->string) continue;
        char w[1100], key[200];
        snprintf(w, sizeof w, "%s: %s", path, st->string);
        double steps = 0, first = NAN, last = NAN, best = NAN;
        if ((rc = sd_json_opt_double(st, "steps", &steps, 0, w, e)) ||
            (rc = sd_json_opt_double(st, "first_loss", &first, NAN, w, e)) ||
            (rc = sd_json_opt_double(st, "last_loss", &last, NAN, w, e)) ||
            (rc = sd_json_opt_double(st, "best_valid_loss", &best, NAN, w, e)))
            return rc;
        snprintf(key, sizeof key, "%s: steps, first / last loss", st->string);
        rp_kv_num(h, key, "%.0f, %.4f / %.4f", steps, first, last);
        if (!isnan(best)) {
            snprintf(key, sizeof key, "%s: best validation loss", st->string);
            rp_kv_num(h, key, "%.4f", best);
        }
    }
    sd_html_raw(h, "</table>\n");
    return 0;
}

/* at most this many points per line: longer runs are thinned to every k-th step (validations kept) */
#define MAX_POINTS 1500

static void lm_curves(rp_ctx *c, const char *dir, const char *name) {
    char *path = sd_path_join(dir, "train_log.csv");
    if (!sd_exists(path)) {
        sd_html_raw(c->h, "<p class=\"note\">No loss curve: this folder has no train_log.csv.</p>\n");
        free(path);
        return;
    }
    rp_csv t;
    sd_err e = {0};
    int rc = rp_csv_read(path, "stage", &t, &e);
    int cs = -1, cl = -1, cv = -1, cg = -1;
    if (!rc) {
        cs = rp_csv_col(&t, "step"), cl = rp_csv_col(&t, "loss"), cv = rp_csv_col(&t, "valid_loss"),
        cg = rp_csv_col(&t, "stage");
        if (cs < 0 || cl < 0) rc = sd_errf(&e, SD_EFORMAT, "%s: column \"%s\" missing", path, cs < 0 ? "step" : "loss");
    }
    if (rc) { /* t is empty after a read error, and holds the columns after a missing one */
        rp_problem(c, e.msg);
        rp_csv_free(&t);
        free(path);
        return;
    }
    int n = t.n_rows, every = n > MAX_POINTS ? (n + MAX_POINTS - 1) / MAX_POINTS : 1, m = 0, mv = 0;
    double *x = sd_xmalloc(sizeof *x * (size_t)(n + 1)), *y = sd_xmalloc(sizeof *y * (size_t)(n + 1)),
           *xv = sd_xmalloc(sizeof *xv * (size_t)(n + 1)), *yv = sd_xmalloc(sizeof *yv * (size_t)(n + 1));
    double offset = 0, last_step = 0; /* a second stage counts its steps from 1 again: plot them after the first */
    for (int i = 0; i < n; i++) {
        const double *r = t.v + (size_t)i * (size_t)t.n_cols;
        if (cg >= 0 && i && strcmp(t.text[(size_t)i * t.n_cols + cg], t.text[(size_t)(i - 1) * t.n_cols + cg]))
            offset = last_step;
        double s = r[cs] + offset;
        last_step = s;
        if (i % every == 0 || i == n - 1) x[m] = s, y[m] = r[cl], m++;
        if (cv >= 0 && !isnan(r[cv])) xv[mv] = s, yv[mv] = r[cv], mv++;
    }
    char title[200];
    snprintf(title, sizeof title, "%s: loss", name);
    sd_svg_series s[2] = {{.name = "training loss", .x = x, .y = y, .n = m},
                          {.name = "validation loss", .x = xv, .y = yv, .n = mv, .dashed = true}};
    sd_svg_chart ch = {.title = title, .xlabel = cg >= 0 ? "optimizer step (stages one after another)" : "optimizer step",
                       .ylabel = "cross-entropy", .width = 1140, .height = 340};
    sd_svg_line_chart(c->h, &ch, s, mv ? 2 : 1);
    if (mv) {
        sd_html_raw(c->h, "<table><tr><th class=\"n\">step</th><th class=\"n\">validation loss</th></tr>\n");
        int every = table_every(mv);
        for (int i = 0; i < mv; i++)
            if (i % every == 0 || i == mv - 1)
                sd_html_printf(c->h, "<tr><td class=\"n\">%.0f</td><td class=\"n\">%.4f</td></tr>\n", xv[i], yv[i]);
        sd_html_raw(c->h, "</table>\n");
        table_note(c->h, every);
    }
    free(x), free(y), free(xv), free(yv);
    rp_csv_free(&t);
    free(path);
}

static void lm_block(rp_ctx *c, const char *name) {
    char *dir = rp_path(c, name), *fj = sd_path_join(dir, "finetune.json");
    sd_html_raw(c->h, "<h3>");
    sd_html_text(c->h, name);
    sd_html_raw(c->h, " (language model)</h3>\n");
    sd_err e = {0};
    cJSON *j = NULL;
    sd_html body = {0};
    int rc = 0;
    if (sd_exists(fj)) {
        rc = sd_json_read_file(fj, &j, &e);
        if (!rc && !cJSON_IsObject(j)) rc = sd_errf(&e, SD_EFORMAT, "%s: not a JSON object", fj);
        if (!rc) rc = lm_summary(j, fj, &body, &e);
        if (rc) rp_problem(c, e.msg);
        else sd_html_raw(c->h, body.p ? body.p : "");
    }
    sd_html_free(&body);
    cJSON_Delete(j);
    lm_curves(c, dir, name);
    free(fj), free(dir);
}

void rp_section_models(rp_ctx *c) {
    model_dir *m;
    int n = find_models(c->work, &m);
    bool sas = false, lm = false;
    for (int i = 0; i < n; i++) sas |= m[i].kind == M_SASREC, lm |= m[i].kind == M_LM;
    if (!sas) rp_missing(c, "sasrec/, sasrec_sid/", "written by semid sasrec WORK [--sid]");
    if (!lm) rp_missing(c, "lm/", "written by semid finetune");
    if (n) {
        rp_heading(c, "models", "Training");
        for (int i = 0; i < n; i++)
            if (m[i].kind == M_SASREC) sasrec_block(c, m[i].name);
        for (int i = 0; i < n; i++)
            if (m[i].kind == M_LM) lm_block(c, m[i].name);
        sd_html_raw(c->h, "</section>\n");
    }
    for (int i = 0; i < n; i++) free(m[i].name);
    free(m);
}
