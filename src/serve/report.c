/* The page frame, the dataset, evaluation and LLM sections, and the helpers the section files
 * share (serve/report_internal.h). */
#include "serve/report.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/mem.h"
#include "base/version.h"
#include "data/work_stats.h"
#include "serve/report_internal.h"
#include "eval/results.h"
#include "serve/svg_chart.h"
#include "io/json_util.h"

/* Readable at 1280 px: a 1232 px column, whose sections hold two 560 px or three 372 px charts a row. */
static const char STYLE[] =
    "body{margin:0;background:#f4f5f7;color:#1d1d1f;font:14px/1.45 -apple-system,'Segoe UI',Helvetica,Arial,"
    "sans-serif}\n"
    "main{max-width:1232px;margin:0 auto;padding:16px 24px 48px}\n"
    "h1{font-size:24px;margin:8px 0 4px}h2{font-size:19px;margin:0 0 10px;border-bottom:1px solid #ddd;"
    "padding-bottom:4px}h3{font-size:16px;margin:16px 0 6px}h4{font-size:14px;margin:12px 0 4px}\n"
    "section{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:14px 18px;margin:16px 0}\n"
    "nav a{margin-right:16px;color:#1f6fb4;text-decoration:none}.sub{color:#555}\n"
    "table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}th,td{padding:3px 9px;"
    "border-bottom:1px solid #eee;text-align:left;vertical-align:top}\n"
    "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}tr.floor td{color:#a04a10}"
    "tr.lm td{font-weight:bold}\n"
    ".charts{display:flex;flex-wrap:wrap;gap:10px 24px;align-items:flex-start}.charts svg{border:1px solid #eee;"
    "border-radius:4px}.charts table{margin-top:0}\n"
    ".note{background:#fff4e5;border-left:4px solid #e8a33d;padding:6px 10px;margin:8px 0}\n"
    ".warn{background:#fdecea;border-left:4px solid #d9534f;padding:6px 10px;margin:8px 0}\n"
    ".kv th{color:#555;font-weight:normal;width:230px}ul.titles{margin:2px 0;padding-left:18px}\n";

void rp_problem(rp_ctx *c, const char *msg) {
    sd_html_raw(c->h, "<p class=\"warn\">Could not read: ");
    sd_html_text(c->h, msg);
    sd_html_raw(c->h, "</p>\n");
    sd_report *o = c->out;
    o->problems = sd_xrealloc(o->problems, sizeof *o->problems * (size_t)(o->n_problems + 1));
    o->problems[o->n_problems++] = sd_xstrdup(msg);
}

void rp_missing(rp_ctx *c, const char *file, const char *hint) {
    sd_html_raw(&c->missing, "<li><code>");
    sd_html_text(&c->missing, file);
    sd_html_raw(&c->missing, "</code>: ");
    sd_html_text(&c->missing, hint);
    sd_html_raw(&c->missing, "</li>\n");
}

char *rp_path(const rp_ctx *c, const char *name) { return sd_path_join(c->work, name); }

void rp_heading(rp_ctx *c, const char *id, const char *title) {
    sd_html_printf(c->h, "<section id=\"%s\">\n<h2>", id);
    sd_html_text(c->h, title);
    sd_html_raw(c->h, "</h2>\n");
    sd_html_printf(&c->nav, "<a href=\"#%s\">", id);
    sd_html_text(&c->nav, title);
    sd_html_raw(&c->nav, "</a>");
    c->out->sections++;
}

void rp_kv_num(sd_html *h, const char *key, const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    sd_html_raw(h, "<tr><th>");
    sd_html_text(h, key);
    sd_html_raw(h, "</th><td class=\"n\">");
    sd_html_text(h, buf);
    sd_html_raw(h, "</td></tr>\n");
}

void rp_kv_text(sd_html *h, const char *key, const char *value) {
    sd_html_raw(h, "<tr><th>");
    sd_html_text(h, key);
    sd_html_raw(h, "</th><td>");
    sd_html_text(h, value);
    sd_html_raw(h, "</td></tr>\n");
}

/* ---- CSV logs ---- */

int rp_csv_col(const rp_csv *t, const char *name) {
    for (int i = 0; i < t->n_cols; i++)
        if (!strcmp(t->cols[i], name)) return i;
    return -1;
}

void rp_csv_free(rp_csv *t) {
    for (int i = 0; i < t->n_cols; i++) free(t->cols[i]);
    if (t->text)
        for (size_t i = 0; i < (size_t)t->n_rows * (size_t)t->n_cols; i++) free(t->text[i]);
    free(t->cols);
    free(t->v);
    free(t->text);
    memset(t, 0, sizeof *t);
}

/* next comma-separated field of *p (the logs semid writes never quote) */
static char *field(char **p) {
    char *s = *p, *e = strchr(s, ',');
    if (e) *e = 0, *p = e + 1;
    else *p = s + strlen(s);
    return s;
}

int rp_csv_read(const char *path, const char *text_col, rp_csv *t, sd_err *err) {
    memset(t, 0, sizeof *t);
    sd_lines *r;
    int rc = sd_lines_open(&r, path, err);
    if (rc) return rc;
    char *line;
    size_t len;
    int tc = -1, cap = 0;
    bool in_row = false; /* a row's text fields are set: a failure frees them */
    while ((rc = sd_lines_next(r, &line, &len, err)) == 1) {
        if (!len) continue;
        long ln = (long)sd_lines_lineno(r);
        char *p = line;
        if (!t->n_cols) { /* the header */
            while (*p || p == line) {
                t->cols = sd_xrealloc(t->cols, sizeof *t->cols * (size_t)(t->n_cols + 1));
                t->cols[t->n_cols++] = sd_xstrdup(field(&p));
                if (!*p) break;
            }
            tc = text_col ? rp_csv_col(t, text_col) : -1;
            continue;
        }
        if (t->n_rows == cap) {
            cap = cap ? cap * 2 : 64;
            t->v = sd_xrealloc(t->v, sizeof *t->v * (size_t)cap * (size_t)t->n_cols);
            if (tc >= 0) t->text = sd_xrealloc(t->text, sizeof *t->text * (size_t)cap * (size_t)t->n_cols);
        }
        double *row = t->v + (size_t)t->n_rows * (size_t)t->n_cols;
        if (tc >= 0)
            for (int k = 0; k < t->n_cols; k++) t->text[(size_t)t->n_rows * (size_t)t->n_cols + (size_t)k] = NULL;
        in_row = true;
        int k = 0;
        for (; k < t->n_cols; k++) {
            if (k && !*p && p[-1] != ',') break; /* fewer fields than the header */
            char *f = field(&p), *end;
            if (k == tc) t->text[(size_t)t->n_rows * (size_t)t->n_cols + (size_t)k] = sd_xstrdup(f);
            if (k == tc) { row[k] = NAN; continue; }
            if (!*f) { row[k] = NAN; continue; }
            errno = 0;
            row[k] = strtod(f, &end);
            if (*end || errno == ERANGE) {
                rc = sd_errf(err, SD_EFORMAT, "%s:%ld: column \"%s\": \"%.40s\" is not a number", path, ln, t->cols[k], f);
                goto fail;
            }
        }
        if (k < t->n_cols || *p) {
            rc = sd_errf(err, SD_EFORMAT, "%s:%ld: %s fields than the header's %d", path, ln,
                         k < t->n_cols ? "fewer" : "more", t->n_cols);
            goto fail;
        }
        t->n_rows++;
        in_row = false;
    }
    if (rc < 0) goto fail;
    sd_lines_close(r);
    if (!t->n_cols) { rp_csv_free(t); return sd_errf(err, SD_EFORMAT, "%s: empty (no header line)", path); }
    return 0;
fail:
    if (t->text && in_row) /* the row in progress owns what it has set so far */
        for (int k = 0; k < t->n_cols; k++) {
            free(t->text[(size_t)t->n_rows * (size_t)t->n_cols + (size_t)k]);
            t->text[(size_t)t->n_rows * (size_t)t->n_cols + (size_t)k] = NULL;
        }
    sd_lines_close(r);
    rp_csv_free(t);
    return rc;
}

/* ---- dataset ---- */

static const char *const WORK_FILES[] = {"meta.json", "items.jsonl", "sequences.bin", "split.bin"};

static void section_dataset(rp_ctx *c) {
    bool any = false;
    for (size_t i = 0; i < sizeof WORK_FILES / sizeof *WORK_FILES; i++) {
        char *p = rp_path(c, WORK_FILES[i]);
        any |= sd_exists(p);
        free(p);
    }
    if (!any) { rp_missing(c, "items.jsonl, sequences.bin, split.bin", "written by semid synth or semid prep"); return; }
    rp_heading(c, "dataset", "Dataset");
    sd_err e = {0};
    if (sd_work_load(&c->w, c->work, &e)) {
        rp_problem(c, e.msg);
        sd_html_raw(c->h, "</section>\n");
        return;
    }
    c->have_work = true;
    sd_work_stats s;
    sd_work_stats_compute(&c->w, 10, &s);
    sd_html *h = c->h;
    sd_html_raw(h, "<div class=\"charts\"><div>\n<table class=\"kv\">\n");
    rp_kv_text(h, "source format", c->w.format ? c->w.format : "");
    rp_kv_num(h, "items", "%d", s.items);
    rp_kv_num(h, "items without interactions", "%lld", (long long)s.cold_items);
    rp_kv_num(h, "users", "%d", s.users);
    rp_kv_num(h, "interactions", "%lld", (long long)s.interactions);
    rp_kv_num(h, "density", "%.3g", s.density);
    rp_kv_num(h, "sequence length: mean", "%.2f", s.len_mean);
    rp_kv_num(h, "sequence length: median", "%.1f", s.len_median);
    rp_kv_num(h, "sequence length: min / max", "%d / %d", s.len_min, s.len_max);
    rp_kv_text(h, "split", sd_split_name(c->w.split.kind));
    rp_kv_num(h, "training interactions", "%lld", (long long)s.train_interactions);
    rp_kv_num(h, "users with a validation target", "%lld", (long long)s.users_with_valid);
    rp_kv_num(h, "users with a test target", "%lld", (long long)s.users_with_test);
    if (c->w.split.min_eval_len) rp_kv_num(h, "minimum length for evaluation", "%d", c->w.split.min_eval_len);
    if (c->w.split.n_cold) {
        rp_kv_num(h, "cold items (kept out of training)", "%d", c->w.split.n_cold);
        rp_kv_num(h, "cold test users", "%lld", (long long)s.cold_test_users);
    }
    sd_html_raw(h, "</table>\n</div><div>\n");
    /* sequence lengths: 20 equal-width bins from the shortest to the longest */
    if (s.users) {
        enum { BINS = 20 };
        int32_t lo = s.len_min, hi = s.len_max, width = (hi - lo) / BINS + 1;
        double counts[BINS] = {0};
        char labels[BINS][24];
        const char *lp[BINS];
        int nb = (hi - lo) / width + 1;
        for (int32_t i = 0; i < s.users; i++) counts[(s.lens_sorted[i] - lo) / width]++;
        for (int b = 0; b < nb; b++) {
            if (width == 1) snprintf(labels[b], sizeof labels[b], "%d", lo + b * width);
            else snprintf(labels[b], sizeof labels[b], "%d-%d", lo + b * width, lo + (b + 1) * width - 1);
            lp[b] = labels[b];
        }
        sd_svg_chart ch = {.title = "Users by sequence length", .xlabel = "interactions per user", .ylabel = "users",
                           .width = 560, .height = 300};
        sd_svg_bar_chart(h, &ch, counts, lp, nb, NULL);
    }
    sd_html_raw(h, "</div></div>\n<div class=\"charts\"><div>\n");
    if (s.n_top) {
        sd_html_raw(h, "<h3>Most popular items</h3>\n<table><tr><th class=\"n\">interactions</th><th>id</th>"
                       "<th>title</th></tr>\n");
        for (int i = 0; i < s.n_top; i++) {
            const sd_item *it = &c->w.cat->items[s.top[i].item];
            sd_html_printf(h, "<tr><td class=\"n\">%lld</td><td>", (long long)s.top[i].count);
            sd_html_text(h, it->ext_id);
            sd_html_raw(h, "</td><td>");
            sd_html_text(h, it->title);
            sd_html_raw(h, "</td></tr>\n");
        }
        sd_html_raw(h, "</table>\n");
    }
    sd_html_raw(h, "</div><div>\n");
    if (s.n_cover) {
        sd_html_raw(h, "<h3>Attribute coverage</h3>\n<table><tr><th>attribute</th><th class=\"n\">items</th>"
                       "<th class=\"n\">share</th></tr>\n");
        for (int i = 0; i < s.n_cover && i < 30; i++) {
            sd_html_raw(h, "<tr><td>");
            sd_html_text(h, s.cover[i].key);
            sd_html_printf(h, "</td><td class=\"n\">%lld</td><td class=\"n\">%.1f%%</td></tr>\n",
                           (long long)s.cover[i].items, s.items ? 100.0 * (double)s.cover[i].items / s.items : 0.0);
        }
        sd_html_raw(h, "</table>\n");
    }
    sd_work_stats_free(&s);
    sd_html_raw(h, "</div></div>\n</section>\n");
}

/* ---- evaluation ---- */

static void eval_row(sd_html *h, const sd_result_row *r, double floor) {
    bool pop = !strcmp(r->model, "popularity");
    sd_html_printf(h, "<tr%s><td>", pop ? " class=\"floor\"" : !strcmp(r->model, "llm") ? " class=\"lm\"" : "");
    sd_html_text(h, r->model);
    sd_html_raw(h, "</td><td>");
    sd_html_text(h, r->protocol);
    sd_html_raw(h, "</td><td>");
    sd_html_text(h, r->part);
    sd_html_printf(h, "</td><td>%s</td><td class=\"n\">%lld</td>", r->exclude_history ? "excluded" : "kept",
                   (long long)r->m.n_users);
    for (int k = 0; k < SD_METRIC_NK; k++) sd_html_printf(h, "<td class=\"n\">%.4f</td>", r->m.hit[k]);
    for (int k = 0; k < SD_METRIC_NK; k++) sd_html_printf(h, "<td class=\"n\">%.4f</td>", r->m.ndcg[k]);
    sd_html_printf(h, "<td class=\"n\">%.4f</td><td class=\"n\">%.1f</td><td class=\"n\">%.1f</td>", r->m.mrr,
                   r->m.mean_rank, r->m.median_rank);
    if (floor > 0) sd_html_printf(h, "<td class=\"n\">%.2f&times;</td></tr>\n", r->m.ndcg[1] / floor);
    else sd_html_raw(h, "<td class=\"n\">&ndash;</td></tr>\n");
}

/* popularity's NDCG@10 under the same protocol, part and history rule (0: none) */
static double floor_of(const sd_results *rs, const sd_result_row *r) {
    for (int i = 0; i < rs->n; i++) {
        const sd_result_row *p = &rs->rows[i];
        if (!strcmp(p->model, "popularity") && !strcmp(p->protocol, r->protocol) && !strcmp(p->part, r->part) &&
            p->exclude_history == r->exclude_history)
            return p->m.ndcg[1];
    }
    return 0;
}

static void section_eval(rp_ctx *c) {
    char *path = rp_path(c, "eval.json");
    if (!sd_exists(path)) {
        free(path);
        rp_missing(c, "eval.json", "written by semid eval");
        return;
    }
    free(path);
    rp_heading(c, "evaluation", "Evaluation");
    sd_results rs = {0};
    sd_err e = {0};
    if (sd_results_load(&rs, c->work, &e)) {
        rp_problem(c, e.msg);
        sd_results_free(&rs);
        sd_html_raw(c->h, "</section>\n");
        return;
    }
    sd_html *h = c->h;
    if (!rs.n) sd_html_raw(h, "<p class=\"note\">eval.json holds no rows.</p>\n");
    else {
        char line[256];
        sd_results_split_line(&rs.rows[0], line, sizeof line);
        sd_html_raw(h, "<p class=\"sub\">");
        sd_html_text(h, line);
        sd_html_raw(h, ". The last column is NDCG@10 over the popularity floor's (same protocol and part).</p>\n");
        sd_html_raw(h, "<table><tr><th>model</th><th>protocol</th><th>part</th><th>history</th><th class=\"n\">users</th>");
        for (int k = 0; k < SD_METRIC_NK; k++) sd_html_printf(h, "<th class=\"n\">Hit@%d</th>", sd_metric_ks[k]);
        for (int k = 0; k < SD_METRIC_NK; k++) sd_html_printf(h, "<th class=\"n\">NDCG@%d</th>", sd_metric_ks[k]);
        sd_html_raw(h, "<th class=\"n\">MRR</th><th class=\"n\">mean rank</th><th class=\"n\">median rank</th>"
                       "<th class=\"n\">vs popularity</th></tr>\n");
        for (int i = 0; i < rs.n; i++) eval_row(h, &rs.rows[i], floor_of(&rs, &rs.rows[i]));
        sd_html_raw(h, "</table>\n");
        /* one chart per protocol of the first row's part: NDCG@10 of every model, the floor marked */
        sd_html_raw(h, "<div class=\"charts\">\n");
        const char *done[16];
        int n_done = 0;
        for (int i = 0; i < rs.n && n_done < 16; i++) {
            const sd_result_row *r0 = &rs.rows[i];
            bool seen = false;
            for (int k = 0; k < n_done; k++) seen |= !strcmp(done[k], r0->protocol);
            if (seen || strcmp(r0->part, rs.rows[0].part)) continue;
            done[n_done++] = r0->protocol;
            double *v = sd_xmalloc(sizeof *v * (size_t)rs.n);
            const char **lab = sd_xmalloc(sizeof *lab * (size_t)rs.n);
            bool *hl = sd_xmalloc(sizeof *hl * (size_t)rs.n);
            int n = 0;
            for (int j = 0; j < rs.n; j++) {
                const sd_result_row *r = &rs.rows[j];
                if (strcmp(r->protocol, r0->protocol) || strcmp(r->part, r0->part) ||
                    r->exclude_history != r0->exclude_history)
                    continue;
                v[n] = r->m.ndcg[1], lab[n] = r->model, hl[n] = !strcmp(r->model, "popularity");
                n++;
            }
            char title[96];
            snprintf(title, sizeof title, "NDCG@10, %s ranking, %s users", r0->protocol, r0->part);
            sd_svg_chart ch = {.title = title, .width = 560};
            sd_svg_hbar_chart(h, &ch, v, lab, n, hl, "%.4f");
            free(v), free(lab), free(hl);
        }
        sd_html_raw(h, "</div>\n<p class=\"sub\">Orange: the popularity floor.</p>\n");
    }
    sd_results_free(&rs);
    sd_html_raw(h, "</section>\n");
}

/* ---- the LLM's own measures ---- */

static const char *share_key(const char *prompt) {
    return !strcmp(prompt, "steer_platform") ? "platform" : !strcmp(prompt, "steer_genre") ? "genre" : "both";
}

/* a share or NaN for null: *ok false on any other type */
static double share(const cJSON *o, const char *key, const char *where, sd_err *e, bool *ok) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (v && cJSON_IsNull(v)) return NAN;
    double x = 0;
    if (sd_json_get_double(o, key, &x, where, e)) *ok = false;
    return x;
}

static void share_cell(sd_html *h, double x) {
    if (isnan(x)) sd_html_raw(h, "<td class=\"n\">&ndash;</td>");
    else sd_html_printf(h, "<td class=\"n\">%.3f</td>", x);
}

static int llm_body(rp_ctx *c, const cJSON *j, const char *path, sd_html *h, sd_err *e) {
    const cJSON *vi, *st, *ex;
    int users, rc;
    double con, unc;
    if ((rc = sd_json_get_object(j, "valid_items", &vi, path, e))) return rc;
    char where[1200];
    snprintf(where, sizeof where, "%s: valid_items", path);
    if ((rc = sd_json_get_int(vi, "users", &users, where, e)) || (rc = sd_json_get_double(vi, "constrained", &con, where, e)) ||
        (rc = sd_json_get_double(vi, "unconstrained", &unc, where, e)))
        return rc;
    if ((rc = sd_json_get_array(j, "steering", &st, path, e))) return rc;
    const char *note = NULL;
    if ((rc = sd_json_opt_string(j, "note", &note, NULL, path, e))) return rc;
    sd_html_printf(h, "<h3>Answers naming a real item</h3>\n<table class=\"kv\">\n");
    rp_kv_num(h, "test users asked", "%d", users);
    rp_kv_num(h, "constrained by the SID trie", "%.1f%%", 100 * con);
    rp_kv_num(h, "unconstrained", "%.1f%%", 100 * unc);
    const char *samp = NULL;
    if (!sd_json_opt_string(vi, "sampling", &samp, NULL, where, e) && samp) rp_kv_text(h, "sampling", samp);
    sd_html_raw(h, "</table>\n");
    if (note) {
        sd_html_raw(h, "<p class=\"note\">");
        sd_html_text(h, note);
        sd_html_raw(h, "</p>\n");
    }
    int n = cJSON_GetArraySize(st);
    if (n) {
        sd_html_raw(h, "<h3>Steering</h3>\n<p class=\"sub\">Requests in phrasings the model never trained on; the share "
                       "of each model's top-k items that hold what was asked. The LLM is the model steered; the "
                       "other rows rank the same users' histories and cannot be steered: the floor.</p>\n"
                       "<table><tr><th>prompt</th><th>model</th><th class=\"n\">users</th><th class=\"n\">top-k</th>"
                       "<th class=\"n\">platform</th><th class=\"n\">genre</th><th class=\"n\">both</th></tr>\n");
        /* per prompt, the share asked for, for a chart */
        double *v = sd_xmalloc(sizeof *v * (size_t)n);
        const char **lab = sd_xmalloc(sizeof *lab * (size_t)n), **prompts = sd_xmalloc(sizeof *prompts * (size_t)n);
        bool *hl = sd_xmalloc(sizeof *hl * (size_t)n);
        for (int i = 0; i < n && !rc; i++) {
            const cJSON *r = cJSON_GetArrayItem(st, i);
            char w[1300];
            snprintf(w, sizeof w, "%s: steering[%d]", path, i);
            const char *model, *prompt;
            int u, k = 0;
            bool ok = true;
            if (!cJSON_IsObject(r)) { rc = sd_errf(e, SD_EFORMAT, "%s: not an object", w); break; }
            if ((rc = sd_json_get_string(r, "model", &model, w, e)) || (rc = sd_json_get_string(r, "prompt", &prompt, w, e)) ||
                (rc = sd_json_get_int(r, "users", &u, w, e)) || (rc = sd_json_opt_int(r, "top_k", &k, 0, w, e)))
                break;
            double pf = share(r, "platform", w, e, &ok), ge = share(r, "genre", w, e, &ok), bo = share(r, "both", w, e, &ok);
            if (!ok) { rc = e->code; break; }
            /* sd_llm_evaluate writes the LLM's row first in each prompt's group, the floor's after it */
            bool is_lm = true;
            for (int k = 0; k < i && is_lm; k++) is_lm = strcmp(prompts[k], prompt) != 0;
            sd_html_printf(h, "<tr%s><td>", is_lm ? " class=\"lm\"" : !strcmp(model, "popularity") ? " class=\"floor\"" : "");
            sd_html_text(h, prompt);
            sd_html_raw(h, "</td><td>");
            sd_html_text(h, model);
            sd_html_printf(h, "</td><td class=\"n\">%d</td><td class=\"n\">%d</td>", u, k);
            share_cell(h, pf), share_cell(h, ge), share_cell(h, bo);
            sd_html_raw(h, "</tr>\n");
            const char *key = share_key(prompt);
            v[i] = !strcmp(key, "platform") ? pf : !strcmp(key, "genre") ? ge : bo;
            lab[i] = model, prompts[i] = prompt, hl[i] = is_lm;
        }
        sd_html_raw(h, "</table>\n");
        if (!rc) { /* one chart per prompt, in the order they first appear */
            sd_html_raw(h, "<div class=\"charts\">\n");
            for (int i = 0; i < n; i++) {
                bool first = true;
                for (int k = 0; k < i; k++) first &= strcmp(prompts[k], prompts[i]) != 0;
                if (!first) continue;
                double pv[64];
                const char *pl[64];
                bool ph[64];
                int m = 0;
                for (int k = i; k < n && m < 64; k++)
                    if (!strcmp(prompts[k], prompts[i])) pv[m] = v[k], pl[m] = lab[k], ph[m] = hl[k], m++;
                char title[160];
                snprintf(title, sizeof title, "%s: share with the %s asked", prompts[i],
                         !strcmp(share_key(prompts[i]), "both") ? "platform and genre" : share_key(prompts[i]));
                sd_svg_chart ch = {.title = title, .width = 372};
                sd_svg_hbar_chart(h, &ch, pv, pl, m, ph, "%.3f");
            }
            sd_html_raw(h, "</div>\n<p class=\"sub\">Orange: the LLM, the one model the request can steer.</p>\n");
        }
        free(v), free(lab), free(prompts), free(hl);
        if (rc) return rc;
    }
    if (cJSON_GetObjectItemCaseSensitive(j, "explanations")) {
        if ((rc = sd_json_get_object(j, "explanations", &ex, path, e))) return rc;
        snprintf(where, sizeof where, "%s: explanations", path);
        int explained;
        int64_t claims, claims_true;
        if ((rc = sd_json_get_int(ex, "explained", &explained, where, e)) ||
            (rc = sd_json_get_i64(ex, "claims", &claims, where, e)) ||
            (rc = sd_json_get_i64(ex, "claims_true", &claims_true, where, e)))
            return rc;
        sd_html_raw(h, "<h3>Explanations</h3>\n<table class=\"kv\">\n");
        rp_kv_num(h, "explanations generated", "%d", explained);
        rp_kv_num(h, "attribute claims", "%lld", (long long)claims);
        if (claims) rp_kv_num(h, "claims true of both items", "%.1f%%", 100.0 * (double)claims_true / (double)claims);
        else rp_kv_text(h, "claims true of both items", "\u2013 (no claims made)");
        sd_html_raw(h, "</table>\n");
    }
    (void)c;
    return 0;
}

static void section_llm(rp_ctx *c) {
    char *path = rp_path(c, "eval_llm.json");
    if (!sd_exists(path)) {
        free(path);
        rp_missing(c, "eval_llm.json", "written by semid eval when WORK/lm holds a fine-tuned model");
        return;
    }
    rp_heading(c, "llm", "The LLM's own measures");
    sd_err e = {0};
    cJSON *j = NULL;
    sd_html body = {0};
    int rc = sd_json_read_file(path, &j, &e);
    if (!rc && !cJSON_IsObject(j)) rc = sd_errf(&e, SD_EFORMAT, "%s: not a JSON object", path);
    if (!rc) rc = llm_body(c, j, path, &body, &e);
    if (rc) rp_problem(c, e.msg);
    else sd_html_raw(c->h, body.p ? body.p : "");
    sd_html_free(&body);
    cJSON_Delete(j);
    free(path);
    sd_html_raw(c->h, "</section>\n");
}

/* ---- the page ---- */

static void header(rp_ctx *c, sd_html *h) {
    sd_html_raw(h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n" SD_REPORT_GENERATOR "\n"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>semid report: ");
    sd_html_text(h, c->work);
    sd_html_printf(h, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n<h1>semid report</h1>\n<p class=\"sub\">"
                      "Work directory <code>", STYLE);
    sd_html_text(h, c->work);
    sd_html_printf(h, "</code>, semid %s.</p>\n", SEMID_VERSION);
    if (c->missing.n) sd_html_raw(&c->nav, "<a href=\"#missing\">Not in this work directory</a>");
    sd_html_raw(h, "<nav>");
    sd_html_raw(h, c->nav.p ? c->nav.p : "");
    sd_html_raw(h, "</nav>\n");
}

/* Is dir a work directory at all? Some file semid writes into WORK must be there. */
int sd_report_check_work(const char *work, sd_err *err) {
    if (!sd_is_dir(work))
        return sd_errf(err, SD_ESTATE, "%s: %s", work, sd_exists(work) ? "not a directory" : "no such directory");
    static const char *const any[] = {"meta.json", "items.jsonl", "sequences.bin", "split.bin", "sids.tsv",
                                      "ids_report.json", "eval.json", "eval_llm.json", "sasrec", "sasrec_sid", "lm"};
    for (size_t i = 0; i < sizeof any / sizeof *any; i++) {
        char *p = sd_path_join(work, any[i]);
        bool there = sd_exists(p);
        free(p);
        if (there) return 0;
    }
    return sd_errf(err, SD_ESTATE, "%s: not a semid work directory (none of meta.json, items.jsonl, sequences.bin, "
                   "sids.tsv, eval.json, sasrec/, lm/ is there; make one with semid synth or semid prep)", work);
}

int sd_report_build(const char *work, sd_report *out, sd_err *err) {
    memset(out, 0, sizeof *out);
    int rc = sd_report_check_work(work, err);
    if (rc) return rc;
    sd_html h = {0}, body = {0};
    rp_ctx c = {.work = work, .h = &body, .out = out};
    section_dataset(&c);
    rp_section_ids(&c);
    rp_section_models(&c);
    section_eval(&c);
    section_llm(&c);
    /* the header's links name the sections there are, so it is written last, in front */
    header(&c, &h);
    sd_html_raw(&h, body.p ? body.p : "");
    sd_html_free(&body);
    if (c.missing.n) {
        sd_html_raw(&h, "<section id=\"missing\">\n<h2>Not in this work directory</h2>\n<ul>\n");
        sd_html_raw(&h, c.missing.p);
        sd_html_raw(&h, "</ul>\n</section>\n");
    }
    sd_html_raw(&h, "</main>\n</body>\n</html>\n");
    sd_html_free(&c.missing);
    sd_html_free(&c.nav);
    if (c.have_work) sd_work_free(&c.w);
    out->html = sd_html_take(&h, &out->len);
    return 0;
}

void sd_report_free(sd_report *r) {
    free(r->html);
    for (int i = 0; i < r->n_problems; i++) free(r->problems[i]);
    free(r->problems);
    memset(r, 0, sizeof *r);
}
