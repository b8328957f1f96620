#include "test_util.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <criterion/criterion.h>
#include "data/sequences.h"
#include "data/split.h"

void sd_test_tmpdir(char *out, size_t n) {
    const char *base = getenv("TMPDIR");
    snprintf(out, n, "%s/semid-test-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(out)) { perror("mkdtemp"); abort(); }
}

static void stage_ok(const char *fmt, const char *work, const char *opts) {
    char *out = NULL;
    int rc = sd_test_semid(&out, fmt, work, opts ? opts : "");
    cr_assert_eq(rc, 0, "semid %s failed:\n%s", fmt, out);
    free(out);
}

void sd_test_lm_work(char *work, size_t n, int items, int users, const char *lmdata_opts, const char *finetune_opts) {
    char tmp[256], size[64];
    sd_test_tmpdir(tmp, sizeof tmp);
    snprintf(work, n, "%s/w", tmp);
    snprintf(size, sizeof size, "--items %d --users %d", items, users);
    stage_ok("synth -o %s %s --quiet", work, size);
    stage_ok("embed %s --quiet%s", work, "");
    stage_ok("ids %s --quiet%s", work, "");
    if (!lmdata_opts) return;
    stage_ok("lmdata %s %s --quiet", work, lmdata_opts);
    stage_ok("finetune %s %s --quiet", work, finetune_opts);
}

const char *sd_test_bin(void) { const char *s = getenv("SEMID_BIN"); return s ? s : "./semid"; }
const char *sd_test_fixtures(void) { const char *s = getenv("SEMID_FIXTURES"); return s ? s : "tests/fixtures"; }
const char *sd_test_ref(void) { const char *s = getenv("SEMID_REF"); return s ? s : "build/ref"; }

int sd_test_run(const char *cmd, char **out) {
    char full[8192];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t k;
    while ((k = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += k;
        if (cap - len < 2) buf = realloc(buf, cap *= 2);
    }
    buf[len] = 0;
    int st = pclose(p);
    if (out) *out = buf; else free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

int sd_test_semid(char **out, const char *fmt, ...) {
    char args[4096], cmd[6000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "OMP_WAIT_POLICY=passive %s %s", sd_test_bin(), args);
    char *o = NULL;
    int rc = sd_test_run(cmd, &o);
    if (out) *out = o; else free(o);
    return rc;
}

double sd_max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m || isnan(d)) m = isnan(d) ? INFINITY : d;
    }
    return m;
}

void sd_test_seqs_from_list(const int *flat, int n_items, sd_sequences *s, sd_split *sp) {
    sd_seqbuilder *b = sd_seqbuilder_new();
    int u = 0, t = 0;
    for (const int *p = flat; *p != -2; p++) {
        if (*p == -1) { u++; t = 0; continue; }
        char name[16];
        snprintf(name, sizeof name, "u%d", u);
        sd_seqbuilder_add(b, name, strlen(name), *p, t++);
    }
    sd_seq_opts o = {.seed = 1};
    sd_err err = {0};
    cr_assert_eq(sd_seqbuilder_finish(b, n_items, &o, s, &err), 0, "%s", err.msg);
    sd_seqbuilder_free(b);
    cr_assert_eq(sd_split_make(sp, s, SD_SPLIT_LOO, 1, &err), 0, "%s", err.msg);
}
