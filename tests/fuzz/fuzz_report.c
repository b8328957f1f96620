/* The HTML report (sd_report_build) over a work directory made of the input, cut at form feeds
 * into: ids_report.json, sids.tsv, eval.json, eval_llm.json, sasrec/config.json,
 * sasrec/train_log.csv, lm/finetune.json, lm/train_log.csv (an empty part: that file absent).
 * Every file is one the report parses; a malformed one must become a note, never a crash, and
 * the page must stay one document. */
#include <sys/stat.h>
#include "fuzz_common.h"
#include "serve/report.h"

static const char *const FILES[] = {"ids_report.json", "sids.tsv", "eval.json", "eval_llm.json",
                                    "sasrec/config.json", "sasrec/train_log.csv", "lm/finetune.json",
                                    "lm/train_log.csv"};
#define N_FILES (int)(sizeof FILES / sizeof *FILES)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    const uint8_t *part[N_FILES];
    size_t len[N_FILES];
    int k = fz_split(data, n, part, len, N_FILES);
    char path[512];
    const char *dir = fz_dir();
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, i ? "lm" : "sasrec");
        mkdir(path, 0700);
    }
    for (int i = 0; i < N_FILES; i++) {
        if (i < k && len[i]) fz_write(FILES[i], part[i], len[i], path, sizeof path);
        else fz_remove(FILES[i]);
    }
    sd_report r;
    sd_err err;
    if (!sd_report_build(dir, &r, &err)) {
        if (!strstr(r.html, "</html>\n") || strlen(r.html) != r.len) abort(); /* a whole page, no NUL inside */
        sd_report_free(&r);
    }
    for (int i = 0; i < N_FILES; i++) fz_remove(FILES[i]);
    for (int i = 0; i < 2; i++) { /* fz_cleanup removes files only */
        snprintf(path, sizeof path, "%s/%s", dir, i ? "lm" : "sasrec");
        rmdir(path);
    }
    return 0;
}
