/* semid report WORK: the work directory as one self-contained HTML page (serve/report.h), written
 * atomically to WORK/report.html or --out FILE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd/cli.h"
#include "base/file.h"
#include "base/log.h"
#include "serve/report.h"

/* An existing output is replaced only when semid wrote it (its generator mark in the first few
 * kilobytes), or with --force; never a directory, link or device (sd_out_file_check). */
static int check_out(const char *out, bool force, sd_err *err) {
    int rc = sd_out_file_check(out, err);
    if (rc || !sd_exists(out) || force) return rc;
    FILE *f = fopen(out, "rb");
    if (!f) return sd_errf(err, SD_EIO, "%s: cannot read the existing file to check it", out);
    char head[4097];
    size_t n = fread(head, 1, sizeof head - 1, f);
    fclose(f);
    head[n] = 0;
    if (memchr(head, 0, n) || !strstr(head, SD_REPORT_GENERATOR))
        return sd_errf(err, SD_EUSAGE, "%s: exists and is not a report semid wrote; not replacing it (--force "
                       "replaces it, or choose another --out)", out);
    return 0;
}

static int run(int argc, char **argv) {
    const char *out_opt = NULL;
    bool force = false, strict = false;
    sd_opt opts[] = {
        {.name = "out", .type = SD_OPT_STR, .ptr = &out_opt, .metavar = "FILE",
         .help = "write the page here (default WORK/report.html; - for stdout)"},
        {.name = "force", .type = SD_OPT_FLAG, .ptr = &force,
         .help = "replace FILE even if it is not a report semid wrote (a regular file only)"},
        {.name = "strict", .type = SD_OPT_FLAG, .ptr = &strict,
         .help = "fail (exit 1, nothing written) when a file in WORK is malformed, instead of a note in the page"},
        {0},
    };
    sd_usage u = {.usage = "semid report WORK [--out FILE] [options]",
                  .about = "Writes one self-contained HTML page (inline CSS and SVG charts, no script, nothing fetched)\n"
                           "about a work directory: dataset figures, semantic-ID quality (codebook usage per level,\n"
                           "collision groups), training curves of every model, the evaluation table beside the\n"
                           "popularity floor and the LLM's own measures. Sections appear for the files WORK holds; a\n"
                           "malformed file gets a note naming the file and field (and a warning here). An existing\n"
                           "FILE is replaced only if semid wrote it (or with --force).",
                  .min_pos = 1, .max_pos = 1};
    sd_err err = {0};
    char **pos = NULL;
    int rc = sd_parse(&u, opts, argc, argv, &pos, NULL, &err);
    if (rc) return rc == 1 ? 0 : sd_cmd_error(&err);
    const char *work = pos[0];
    bool to_stdout = out_opt && !strcmp(out_opt, "-");
    char *out = out_opt ? strdup(out_opt) : sd_path_join(work, "report.html");
    sd_lock lw = {.fd = -1}, lo = {.fd = -1};
    sd_report r = {0};
    /* nothing is created (not even a lock file's folder) before WORK is known to be one */
    if ((rc = sd_report_check_work(work, &err))) goto done;
    if (!to_stdout && (rc = check_out(out, force, &err))) goto done;
    /* WORK stays as it is while it is read (prep -o WORK waits its turn) */
    if ((rc = sd_lock_output_shared(&lw, work, &err))) goto done;
    if ((rc = sd_report_build(work, &r, &err))) goto done;
    for (int i = 0; i < r.n_problems; i++) sd_warn("report: %s", r.problems[i]);
    if (strict && r.n_problems) {
        rc = sd_errf(&err, SD_EFORMAT, "report: %d malformed file%s in %s (--strict): nothing written", r.n_problems,
                     r.n_problems == 1 ? "" : "s", work);
        goto done;
    }
    /* one writer of the page; its existing file checked again under the lock */
    if (!to_stdout && ((rc = sd_lock_output(&lo, out, &err)) || (rc = check_out(out, force, &err)))) goto done;
    if (to_stdout) {
        if (fwrite(r.html, 1, r.len, stdout) != r.len || fflush(stdout))
            rc = sd_errf(&err, SD_EIO, "report: writing to stdout failed");
    } else if (!(rc = sd_write_file_atomic(out, r.html, r.len, &err)) && !sd_quiet)
        sd_info("wrote %s (%d section%s, %zu bytes)", out, r.sections, r.sections == 1 ? "" : "s", r.len);
done:
    sd_unlock(&lo);
    sd_unlock(&lw);
    sd_report_free(&r);
    free(out);
    free(pos);
    return rc ? sd_cmd_error(&err) : 0;
}

SD_COMMAND(report, "report", "write a work directory's HTML report (WORK/report.html)", run)
