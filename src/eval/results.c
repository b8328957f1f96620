#include "eval/results.h"
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "base/file.h"
#include "base/mem.h"

void sd_results_free(sd_results *r) {
    free(r->rows);
    memset(r, 0, sizeof *r);
}

static bool same_key(const sd_result_row *a, const sd_result_row *b) {
    return !strcmp(a->model, b->model) && !strcmp(a->protocol, b->protocol) && !strcmp(a->part, b->part) &&
           a->exclude_history == b->exclude_history;
}

void sd_results_put(sd_results *r, const sd_result_row *row) {
    for (int i = 0; i < r->n; i++)
        if (same_key(&r->rows[i], row)) { r->rows[i] = *row; return; }
    SD_GROW(r->rows, r->cap, r->n + 1);
    r->rows[r->n++] = *row;
}

/* ---- metric columns, in one table shared by every output ---- */

typedef struct metric_col { const char *key, *title; int decimals; } metric_col;
enum { N_METRIC_COLS = 2 * SD_METRIC_NK + 3 };
static const metric_col metric_cols[N_METRIC_COLS] = {
    {"hit@5", "Hit@5", 4},   {"hit@10", "Hit@10", 4},   {"hit@20", "Hit@20", 4},
    {"ndcg@5", "NDCG@5", 4}, {"ndcg@10", "NDCG@10", 4}, {"ndcg@20", "NDCG@20", 4},
    {"mrr", "MRR", 4},       {"mean_rank", "mean rank", 1}, {"median_rank", "median rank", 1},
};

static double *metric_ptr(sd_metrics *m, int c) {
    if (c < SD_METRIC_NK) return &m->hit[c];
    if (c < 2 * SD_METRIC_NK) return &m->ndcg[c - SD_METRIC_NK];
    return c == 6 ? &m->mrr : c == 7 ? &m->mean_rank : &m->median_rank;
}

/* A table cell: '|' escaped and line breaks made spaces, so a model folder of any name keeps the
 * table's columns. */
static void md_cell(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '|') fputc('\\', f);
        fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
    }
}

void sd_results_print_markdown(const sd_results *r, FILE *f) {
    fprintf(f, "| model | protocol | part | history | users |");
    for (int c = 0; c < N_METRIC_COLS; c++) fprintf(f, " %s |", metric_cols[c].title);
    fprintf(f, "\n|---|---|---|---|---:|");
    for (int c = 0; c < N_METRIC_COLS; c++) fprintf(f, "---:|");
    fprintf(f, "\n");
    for (int i = 0; i < r->n; i++) {
        sd_result_row row = r->rows[i];
        fputs("| ", f);
        md_cell(f, row.model);
        fprintf(f, " | %s | %s | %s | %" PRId64 " |", row.protocol, row.part, row.exclude_history ? "excluded" : "kept",
                row.m.n_users);
        for (int c = 0; c < N_METRIC_COLS; c++) fprintf(f, " %.*f |", metric_cols[c].decimals, *metric_ptr(&row.m, c));
        fprintf(f, "\n");
    }
}

void sd_results_split_line(const sd_result_row *row, char *buf, size_t n) {
    int k = snprintf(buf, n, "split %s, min eval length %d; %s users: ", row->split[0] ? row->split : "?",
                     (int)row->min_eval_len, row->part);
    if (k < 0 || (size_t)k >= n) return;
    if (row->eval_users > 0 && row->m.n_users < row->users_total)
        snprintf(buf + k, n - k, "%" PRId64 " sampled of %" PRId64 " (seed %" PRIu64 ")", row->m.n_users,
                 row->users_total, row->seed);
    else
        snprintf(buf + k, n - k, "all %" PRId64, row->m.n_users);
}

static cJSON *row_json(const sd_result_row *row) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", row->model);
    cJSON_AddStringToObject(o, "protocol", row->protocol);
    cJSON_AddStringToObject(o, "part", row->part);
    cJSON_AddBoolToObject(o, "exclude_history", row->exclude_history);
    char seed[24];
    snprintf(seed, sizeof seed, "%" PRIu64, row->seed); /* a string: doubles cannot hold every u64 */
    cJSON_AddStringToObject(o, "seed", seed);
    cJSON_AddNumberToObject(o, "n_users", (double)row->m.n_users);
    sd_metrics m = row->m;
    for (int c = 0; c < N_METRIC_COLS; c++) cJSON_AddNumberToObject(o, metric_cols[c].key, *metric_ptr(&m, c));
    cJSON_AddStringToObject(o, "split", row->split);
    cJSON_AddNumberToObject(o, "min_eval_len", row->min_eval_len);
    cJSON_AddNumberToObject(o, "eval_users", row->eval_users);
    cJSON_AddNumberToObject(o, "users_total", (double)row->users_total);
    return o;
}

char *sd_results_json(const sd_results *r) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < r->n; i++) cJSON_AddItemToArray(a, row_json(&r->rows[i]));
    char *s = cJSON_Print(a);
    cJSON_Delete(a);
    char *out = sd_xstrdup(s); /* our allocator, so callers free() it like everything else */
    cJSON_free(s);
    return out;
}

static int get_str(const cJSON *o, const char *key, char *dst, size_t n, const char *path, int i, sd_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v)) return sd_errf(err, SD_EFORMAT, "%s: row %d: \"%s\" missing or not a string", path, i, key);
    if (strlen(v->valuestring) >= n) return sd_errf(err, SD_EFORMAT, "%s: row %d: \"%s\" too long", path, i, key);
    strcpy(dst, v->valuestring);
    return 0;
}

static int get_num(const cJSON *o, const char *key, double *dst, const char *path, int i, sd_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) return sd_errf(err, SD_EFORMAT, "%s: row %d: \"%s\" missing or not a number", path, i, key);
    *dst = v->valuedouble;
    return 0;
}

/* A count (a user number or length): an integer 0 .. 2^31 - 1, so it fits the row's fields. */
static int get_count(const cJSON *o, const char *key, double *dst, const char *path, int i, sd_err *err) {
    int rc = get_num(o, key, dst, path, i, err);
    if (!rc && !(*dst >= 0 && *dst <= 2147483647.0 && *dst == (double)(int64_t)*dst))
        rc = sd_errf(err, SD_EFORMAT, "%s: row %d: \"%s\" must be an integer from 0 to 2147483647", path, i, key);
    return rc;
}

int sd_results_parse_json(sd_results *r, const char *text, const char *path, sd_err *err) {
    cJSON *a = cJSON_Parse(text);
    if (!cJSON_IsArray(a)) {
        cJSON_Delete(a);
        return sd_errf(err, SD_EFORMAT, "%s: not a JSON list of result rows", path);
    }
    int rc = 0, i = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, a) {
        sd_result_row row = {0};
        char seed[24];
        double n_users = 0;
        if (!cJSON_IsObject(o)) { rc = sd_errf(err, SD_EFORMAT, "%s: row %d: not an object", path, i); break; }
        if ((rc = get_str(o, "model", row.model, sizeof row.model, path, i, err)) ||
            (rc = get_str(o, "protocol", row.protocol, sizeof row.protocol, path, i, err)) ||
            (rc = get_str(o, "part", row.part, sizeof row.part, path, i, err)) ||
            (rc = get_str(o, "seed", seed, sizeof seed, path, i, err)) ||
            (rc = get_num(o, "n_users", &n_users, path, i, err)))
            break;
        const cJSON *ex = cJSON_GetObjectItemCaseSensitive(o, "exclude_history");
        if (!cJSON_IsBool(ex)) { rc = sd_errf(err, SD_EFORMAT, "%s: row %d: \"exclude_history\" missing or not a boolean", path, i); break; }
        row.exclude_history = cJSON_IsTrue(ex);
        row.seed = strtoull(seed, NULL, 10);
        row.m.n_users = (int64_t)n_users;
        for (int c = 0; c < N_METRIC_COLS && !rc; c++) rc = get_num(o, metric_cols[c].key, metric_ptr(&row.m, c), path, i, err);
        /* which users: absent in the rows of an older semid (then: all of them, split unknown) */
        double mel = 0, eu = 0, ut = (double)row.m.n_users;
        if (!rc && cJSON_HasObjectItem(o, "split")) rc = get_str(o, "split", row.split, sizeof row.split, path, i, err);
        if (!rc && cJSON_HasObjectItem(o, "min_eval_len")) rc = get_count(o, "min_eval_len", &mel, path, i, err);
        if (!rc && cJSON_HasObjectItem(o, "eval_users")) rc = get_count(o, "eval_users", &eu, path, i, err);
        if (!rc && cJSON_HasObjectItem(o, "users_total")) rc = get_count(o, "users_total", &ut, path, i, err);
        if (rc) break;
        row.min_eval_len = (int32_t)mel;
        row.eval_users = (int32_t)eu;
        row.users_total = (int64_t)ut;
        sd_results_put(r, &row);
        i++;
    }
    cJSON_Delete(a);
    return rc;
}

void sd_csv_write_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) { fputs(s, f); return; }
    fputc('"', f);
    for (const char *p = s; *p; p++) {
        if (*p == '"') fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

static int write_csv(const sd_results *r, const char *path, sd_err *err) {
    sd_atomic a;
    int rc = sd_atomic_open(&a, path, err);
    if (rc) return rc;
    fprintf(a.f, "model,protocol,part,exclude_history,seed,n_users");
    for (int c = 0; c < N_METRIC_COLS; c++) fprintf(a.f, ",%s", metric_cols[c].key);
    fprintf(a.f, ",split,min_eval_len,eval_users,users_total\n");
    for (int i = 0; i < r->n; i++) {
        const sd_result_row *row = &r->rows[i];
        /* every text field through one rule: a model named after its folder may hold anything */
        sd_csv_write_field(a.f, row->model);
        fputc(',', a.f);
        sd_csv_write_field(a.f, row->protocol);
        fputc(',', a.f);
        sd_csv_write_field(a.f, row->part);
        fprintf(a.f, ",%s,%" PRIu64 ",%" PRId64, row->exclude_history ? "true" : "false", row->seed, row->m.n_users);
        sd_metrics m = row->m;
        for (int c = 0; c < N_METRIC_COLS; c++) fprintf(a.f, ",%.6f", *metric_ptr(&m, c));
        fputc(',', a.f);
        sd_csv_write_field(a.f, row->split);
        fprintf(a.f, ",%d,%d,%" PRId64 "\n", (int)row->min_eval_len, (int)row->eval_users, row->users_total);
    }
    return sd_atomic_commit(&a, err);
}

int sd_results_write(const sd_results *r, const char *dir, sd_err *err) {
    char *json = sd_results_json(r);
    char *pj = sd_path_join(dir, "eval.json"), *pc = sd_path_join(dir, "eval.csv");
    size_t len = strlen(json);
    json = sd_xrealloc(json, len + 2);
    json[len] = '\n';
    json[len + 1] = 0;
    int rc = sd_write_file_atomic(pj, json, len + 1, err);
    if (!rc) rc = write_csv(r, pc, err);
    free(json); free(pj); free(pc);
    return rc;
}

int sd_results_load(sd_results *r, const char *dir, sd_err *err) {
    char *path = sd_path_join(dir, "eval.json");
    int rc = 0;
    if (sd_exists(path)) {
        char *text = NULL;
        size_t len = 0;
        rc = sd_read_file(path, &text, &len, err);
        if (!rc) rc = sd_results_parse_json(r, text, path, err);
        free(text);
    }
    free(path);
    return rc;
}
