/* Shared by the report's section files (report.c, report_ids.c, report_models.c). */
#ifndef SD_REPORT_INTERNAL_H
#define SD_REPORT_INTERNAL_H
#include <stdbool.h>
#include "data/workdir.h"
#include "serve/html_buf.h"
#include "serve/report.h"

typedef struct rp_ctx {
    const char *work;
    sd_html *h;
    sd_report *out;
    sd_html missing;   /* <li> lines of files not there */
    sd_html nav;       /* links to the sections rendered */
    sd_work w;         /* the dataset, when it loaded */
    bool have_work;
} rp_ctx;

/* A malformed file: a note in the page at this point, and a line in out->problems. */
void rp_problem(rp_ctx *c, const char *msg);
/* A file not there: a line in the page's "not in this work directory" list (hint: what writes it). */
void rp_missing(rp_ctx *c, const char *file, const char *hint);
/* malloc'd WORK/name */
char *rp_path(const rp_ctx *c, const char *name);
/* <h2 id=...>title</h2> (title escaped) */
void rp_heading(rp_ctx *c, const char *id, const char *title);
/* <tr><th>key</th><td>value</td></tr> with value from fmt (a number: no escaping needed) */
void rp_kv_num(sd_html *h, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void rp_kv_text(sd_html *h, const char *key, const char *value);

/* A CSV training log: columns by name, numbers (an empty field is NaN). */
typedef struct rp_csv {
    int n_cols, n_rows;
    char **cols;
    double *v;            /* [n_rows, n_cols] */
    char **text;          /* [n_rows, n_cols] fields of columns that are not numbers (stage), or NULL */
} rp_csv;
/* text_col: the one column kept as text (NULL: none); any other field that is not a number is an
 * error naming file, line and column. */
int rp_csv_read(const char *path, const char *text_col, rp_csv *t, sd_err *err);
int rp_csv_col(const rp_csv *t, const char *name); /* -1 if absent */
void rp_csv_free(rp_csv *t);

void rp_section_ids(rp_ctx *c);
void rp_section_models(rp_ctx *c);

#endif
