/* The results table of `semid eval`: one row per (model, protocol, split part, history
 * exclusion). Printed as markdown with the protocol beside every row's numbers, and kept in
 * WORK/eval.json and WORK/eval.csv (written atomically). Rows are keyed, so evaluating one more
 * model or protocol updates the files without dropping earlier rows.
 *
 * JSON: a list of objects with keys model, protocol, part, exclude_history, seed, n_users,
 * hit@5, hit@10, hit@20, ndcg@5, ndcg@10, ndcg@20, mrr, mean_rank, median_rank.
 * CSV: the same keys as a header line, one row per line. */
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
    uint64_t seed;         /* seed of the sampled negatives (recorded for every protocol) */
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
/* JSON list (malloc'd string). */
char *sd_results_json(const sd_results *r);
/* Parses a JSON list as written by sd_results_json; rows are put into r. Errors name path and row. */
int sd_results_parse_json(sd_results *r, const char *text, const char *path, sd_err *err);
/* Writes dir/eval.json and dir/eval.csv, each atomically. */
int sd_results_write(const sd_results *r, const char *dir, sd_err *err);
/* Reads dir/eval.json if it exists (0 rows otherwise). */
int sd_results_load(sd_results *r, const char *dir, sd_err *err);

#endif
