/* The HTML report of a work directory (`semid report WORK`, and the HTTP server's /report): one
 * self-contained page (inline CSS and SVG, no script, nothing fetched) with the dataset's figures,
 * the quality of each semantic-ID set (codebook usage per level, collision groups, warnings), the
 * training curves of every model found (SASRec / SID-SASRec validation, the LM's train and valid
 * loss), the evaluation table beside the popularity floor and the LLM's own measures.
 *
 * A section appears when its files are in WORK; a file that is missing leaves a line in the
 * page's "not in this work directory" list, and a malformed one a note in its section naming the
 * file and field (also returned in `problems`), so one bad file never hides the rest. Every text
 * taken from WORK (titles, model names, paths) is HTML-escaped. The page is a function of WORK's
 * files alone (no clock, no host name): the same WORK gives the same bytes. */
#ifndef SD_REPORT_H
#define SD_REPORT_H
#include <stddef.h>
#include "base/err.h"

/* Marks a page semid wrote (in its <head>): an existing file holding it may be replaced. */
#define SD_REPORT_GENERATOR "<meta name=\"generator\" content=\"semid-report\">"

typedef struct sd_report {
    char *html;         /* the page, NUL-terminated (malloc'd) */
    size_t len;
    char **problems;    /* [n_problems] malformed files, one message each ("WORK/eval.json: row 2: ...") */
    int n_problems;
    int sections;       /* sections rendered (dataset, each SID set, each model, evaluation, LLM) */
} sd_report;

/* Builds the page of work directory `work`. Fails (writing nothing into out) when work is not a
 * directory, or holds none of the files a semid work directory has (SD_ESTATE, naming the path). */
int sd_report_build(const char *work, sd_report *out, sd_err *err);
/* The check sd_report_build starts with, for a caller that must know before it creates anything. */
int sd_report_check_work(const char *work, sd_err *err);
void sd_report_free(sd_report *r);

#endif
