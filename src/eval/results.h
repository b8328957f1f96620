/* The results table of `semid eval`: one row per (model, protocol, split part, history
 * exclusion). Printed as markdown with the protocol beside every row's numbers, and kept in
 * WORK/eval.json and WORK/eval.csv (written atomically). Rows are keyed, so evaluating one more
 * model or protocol updates the files without dropping earlier rows.
 *
 * JSON: a list of objects with keys model, protocol, part, exclude_history, seed, n_users,
 * hit@5, hit@10, hit@20, ndcg@5, ndcg@10, ndcg@20, mrr, mean_rank, median_rank, split,
 * min_eval_len, eval_users, users_total (the last four optional when read: files of an older semid).
 * CSV (RFC 4180): the same keys as a header line, one row per line (CRLF-free: "\n" ends a line);
 * a text field holding a comma, a double quote, CR or LF is quoted, its quotes doubled. */
#ifndef SD_RESULTS_H
#define SD_RESULTS_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "base/err.h"
#include "eval/metrics.h"

typedef struct sd_result_row {
    char model[64];
    char protocol[24];     /* sd_protocol_name */
    char part[8];          /* "test" / "valid" */
    bool exclude_history;
    uint64_t seed;         /* seed of the sampled negatives and users (recorded for every protocol) */
    char split[8];         /* the work directory's split: "loo", "user", "time" ("" in older files) */
    int32_t min_eval_len;  /* the split's minimum sequence length for evaluation (0: none) */
    int32_t eval_users;    /* users asked for (--eval-users; 0: all) */
    int64_t users_total;   /* users with a target in this part; m.n_users of them were ranked */
    sd_metrics m;
} sd_result_row;

typedef struct sd_results {
    sd_result_row *rows;
    int n, cap;
} sd_results;

void sd_results_free(sd_results *r);
/* Adds a row, replacing an existing one with the same (model, protocol, part, exclude_history). */
void sd_results_put(sd_results *r, const sd_result_row *row);

void sd_results_print_markdown(const sd_results *r, FILE *f);
/* One line saying which users a row was ranked on: split, minimum length for evaluation, users
 * (all, or sampled N of M with the seed), e.g.
 * "split loo, min eval length 3; test users: 100 sampled of 118 (seed 42)". No newline. */
void sd_results_split_line(const sd_result_row *row, char *buf, size_t n);
/* A CSV field as RFC 4180 writes it: as it is, or quoted with its quotes doubled when it holds a
 * comma, a quote, CR or LF. */
void sd_csv_write_field(FILE *f, const char *s);
/* JSON list (malloc'd string). */
char *sd_results_json(const sd_results *r);
/* Parses a JSON list as written by sd_results_json; rows are put into r. Errors name path and row. */
int sd_results_parse_json(sd_results *r, const char *text, const char *path, sd_err *err);
/* Writes dir/eval.json and dir/eval.csv, each atomically. */
int sd_results_write(const sd_results *r, const char *dir, sd_err *err);
/* Reads dir/eval.json if it exists (0 rows otherwise). */
int sd_results_load(sd_results *r, const char *dir, sd_err *err);

#endif
